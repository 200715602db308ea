//! The study side of [`Workbench`], generic over the registry ([`crate::study::STUDIES`]):
//! one study at a time per [`Lane`] (an experiment on `mnist-study` beside a probe on
//! `mnist-probe`; progress, ETA, cancel), the latest
//! results of each study (run here or reloaded from its folder) stamped with what they came
//! from, and dropped as the study's [`Tie`] says when the model or the data change. Panels
//! read [`StudiesState::latest`] and ask for work with [`StudyRequest`]; nothing here names
//! a particular study.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Workbench;
use crate::jobs::{Outcome, Progress};
use crate::study::{
    AnyConfig, AnyResults, AnyStudy, Home, Lane, STUDIES, Study, StudyInputs, Tie, find, spawn_study,
};
use crate::ui::job_slot::{JobSlot, Stamp};

/// What a panel asks to run: study `id` with `config` (built by the panel from its typed
/// settings with [`StudyRequest::new`]); `resume` names a folder whose results it continues.
#[derive(Clone)]
pub struct StudyRequest {
    /// The study's id.
    pub id: &'static str,
    /// Its settings (the study's `Config`).
    pub config: AnyConfig,
    /// A results folder to continue (studies that resume), instead of a new one.
    pub resume: Option<PathBuf>,
    /// Started by the pad changing, not by a click: it fails quietly, waits while its lane
    /// is busy, and gives way to a study the user starts.
    pub automatic: bool,
}

impl std::fmt::Debug for StudyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StudyRequest")
            .field("id", &self.id)
            .field("resume", &self.resume)
            .field("automatic", &self.automatic)
            .finish_non_exhaustive()
    }
}

impl StudyRequest {
    /// A request to run `S` with `config` in a new folder (or the run's, as `S` says).
    pub fn new<S: Study>(config: S::Config) -> Self {
        Self {
            id: S::ID,
            config: Arc::new(config),
            resume: None,
            automatic: false,
        }
    }

    /// The same request, marked as following the pad ([`StudyRequest::automatic`]).
    pub fn following_pad(mut self) -> Self {
        self.automatic = true;
        self
    }

    /// The same request continuing the results in `dir`.
    pub fn resuming(mut self, dir: Option<PathBuf>) -> Self {
        self.resume = dir;
        self
    }
}

/// A study's latest results with their folder and what they were computed from.
#[derive(Debug)]
pub struct StudyView<T> {
    /// The results.
    pub results: Arc<T>,
    /// Their folder (None when not saved).
    pub dir: Option<PathBuf>,
    /// The model and data they came from (for results reloaded from a folder: those in use
    /// when they were opened).
    pub from: Stamp,
}

impl<T> Clone for StudyView<T> {
    fn clone(&self) -> Self {
        Self {
            results: self.results.clone(),
            dir: self.dir.clone(),
            from: self.from,
        }
    }
}

/// Type-erased [`StudyView`], as held per study.
#[derive(Clone)]
struct Held {
    results: AnyResults,
    dir: Option<PathBuf>,
    from: Stamp,
}

/// What the running study is (the key of its [`JobSlot`]).
#[derive(Debug, Clone)]
pub struct StudyRun {
    /// The study's id.
    pub id: &'static str,
    /// Its settings, to continue it with if it stops.
    pub config: AnyConfig,
    /// Where the results go.
    pub out: Option<PathBuf>,
    /// What it computes from.
    pub from: Stamp,
    /// Started by the pad ([`StudyRequest::automatic`]).
    pub automatic: bool,
}

/// The job slot of one lane.
pub type StudySlot = JobSlot<Progress, AnyResults, StudyRun>;

/// Study state shared by the panels.
#[derive(Default)]
pub struct StudiesState {
    /// The running study of each lane (indexed by [`lane_index`]).
    slots: [StudySlot; 2],
    latest: HashMap<&'static str, Held>,
    errors: HashMap<&'static str, String>,
    /// Studies stopped before they finished (cancelled, or no device left) whose folder keeps
    /// what they finished: their settings and folder, for Resume.
    interrupted: HashMap<&'static str, (AnyConfig, PathBuf)>,
    /// Model version whose run folder was last searched for saved results.
    looked_in_run_folder: u64,
}

fn lane_index(lane: Lane) -> usize {
    match lane {
        Lane::Experiment => 0,
        Lane::Probe => 1,
    }
}

/// The lane of study `id` (an unknown id is an experiment's).
fn lane_of(id: &str) -> Lane {
    find(id).map_or(Lane::Experiment, |s| s.lane())
}

impl StudiesState {
    /// The job slot of `lane`.
    pub fn slot(&self, lane: Lane) -> &StudySlot {
        &self.slots[lane_index(lane)]
    }

    fn slot_mut(&mut self, lane: Lane) -> &mut StudySlot {
        &mut self.slots[lane_index(lane)]
    }

    /// Whether anything runs in `lane`.
    pub fn lane_busy(&self, lane: Lane) -> bool {
        self.slot(lane).is_running()
    }

    /// Whether any study runs.
    pub fn any_running(&self) -> bool {
        Lane::ALL.iter().any(|&l| self.lane_busy(l))
    }

    /// Stops and forgets every running study.
    pub fn clear_running(&mut self) {
        for slot in &mut self.slots {
            slot.clear();
        }
    }

    /// The latest results of `S`.
    pub fn latest<S: Study>(&self) -> Option<StudyView<S::Results>> {
        let held = self.latest.get(S::ID)?;
        let results = held.results.clone().downcast::<S::Results>().ok()?;
        Some(StudyView {
            results,
            dir: held.dir.clone(),
            from: held.from,
        })
    }

    /// Whether study `id` has results.
    pub fn has_results(&self, id: &str) -> bool {
        self.latest.contains_key(id)
    }

    /// Records why study `id` failed (shown by its panel until it runs again).
    pub fn set_error(&mut self, id: &'static str, message: String) {
        self.errors.insert(id, message);
    }

    /// Holds `results` of study `id` as its latest.
    pub fn set(&mut self, id: &'static str, results: AnyResults, dir: Option<PathBuf>, from: Stamp) {
        self.latest.insert(id, Held { results, dir, from });
    }

    /// Whether study `id` runs.
    pub fn is_running(&self, id: &str) -> bool {
        self.running_id(lane_of(id)) == Some(id)
    }

    /// The id of the study running in `lane`.
    pub fn running_id(&self, lane: Lane) -> Option<&'static str> {
        self.slot(lane).key().map(|r| r.id)
    }

    /// The id of the study the user started in `lane` (not one following the pad).
    pub fn running_by_hand(&self, lane: Lane) -> Option<&'static str> {
        self.slot(lane).key().filter(|r| !r.automatic).map(|r| r.id)
    }

    /// The progress of study `id` when the user started it (`Some(None)` before the first
    /// report); one following the pad shows none.
    pub fn progress_of(&self, id: &str) -> Option<Option<&Progress>> {
        let lane = lane_of(id);
        self.slot(lane)
            .progress()
            .filter(|_| self.running_by_hand(lane) == Some(id))
    }

    /// The error of study `id`, if its last attempt failed.
    pub fn error_of(&self, id: &str) -> Option<&str> {
        self.errors.get(id).map(String::as_str)
    }

    /// The request that continues study `id` where it stopped, in its own folder with its
    /// own settings, when it was stopped before finishing.
    pub fn resume_request(&self, id: &str) -> Option<StudyRequest> {
        let (&id, (config, dir)) = self.interrupted.get_key_value(id)?;
        Some(StudyRequest {
            id,
            config: config.clone(),
            resume: Some(dir.clone()),
            automatic: false,
        })
    }

    /// Drops results tied to data other than `generation` and cancels a study running on it.
    pub fn forget_other_data(&mut self, generation: u64) {
        self.forget(Tie::Data, |from| from.data_generation != generation);
    }

    /// Drops results tied to a model other than `version` and cancels a study running on it.
    pub fn forget_other_model(&mut self, version: u64) {
        self.forget(Tie::Model, |from| from.model_version != version);
    }

    fn forget(&mut self, tie: Tie, stale: impl Fn(&Stamp) -> bool) {
        let tied = |id: &str| find(id).is_some_and(|s| s.tie() == tie);
        for slot in &mut self.slots {
            if slot.key().is_some_and(|r| tied(r.id) && stale(&r.from)) {
                slot.clear();
            }
        }
        self.latest.retain(|id, held| !(tied(id) && stale(&held.from)));
    }
}

impl Workbench {
    /// Starts a study; refused (with a notice naming what is missing) while another runs in
    /// its lane or without the model, run folder or data it needs. A study following the pad
    /// is refused quietly, and gives way to one the user starts.
    pub fn start_study(&mut self, request: StudyRequest) {
        let Some(study) = find(request.id) else {
            self.notify(format!("no study called {}", request.id), true);
            return;
        };
        let lane = study.lane();
        let quiet = request.automatic;
        match self.studies.slot(lane).key() {
            Some(r) if r.automatic && !quiet => self.studies.slot_mut(lane).clear(),
            Some(_) if quiet => return,
            Some(r) => {
                let other = find(r.id).map_or(r.id, |s| s.title());
                return self.notify(format!("{other} is running; cancel it first"), true);
            }
            None => {}
        }
        let inputs = match self.study_inputs(study, &request.config, request.resume) {
            Ok(inputs) => inputs,
            Err(why) if quiet => return self.studies.set_error(study.id(), why),
            Err(why) => return self.notify(why, true),
        };
        if let Err(e) = study.validate(&request.config) {
            if quiet {
                return self.studies.set_error(study.id(), e.to_string());
            }
            return self.notify(format!("{}: {e}", study.title()), true);
        }
        let run = StudyRun {
            id: study.id(),
            config: request.config.clone(),
            out: inputs.out.clone(),
            from: self.stamp(),
            automatic: quiet,
        };
        match spawn_study(study, request.config, inputs, self.wake.clone()) {
            Ok(task) => {
                self.studies.errors.remove(study.id());
                self.studies.interrupted.remove(study.id());
                self.studies.slot_mut(lane).start(task, run);
            }
            Err(e) => self.notify(format!("cannot start the study worker: {e}"), true),
        }
    }

    /// What `study` runs on here, or why it cannot start.
    fn study_inputs(
        &self,
        study: &dyn AnyStudy,
        config: &AnyConfig,
        resume: Option<PathBuf>,
    ) -> Result<StudyInputs, String> {
        let needs = study.needs();
        let mut inputs = StudyInputs {
            device: needs.device.then(|| self.device.clone()),
            ..StudyInputs::default()
        };
        if needs.device && study.spreads() {
            inputs.more_device_choices = self.more_devices.clone();
        }
        if needs.data {
            inputs.data = Some(self.dataset().cloned().ok_or("no data loaded yet")?);
        }
        if needs.run() {
            let m = self.model.as_ref().ok_or("open or train a model first")?;
            inputs.model = needs.model.then(|| m.model.clone());
            inputs.run_dir = m.run_dir.clone();
            if needs.run_folder && inputs.run_dir.is_none() {
                return Err(format!("{} reads a run folder: open a saved run", study.title()));
            }
        }
        inputs.out = match (study.home(), resume) {
            (_, Some(dir)) => Some(dir),
            (Home::NewFolder, None) => {
                let label = study.folder_label(config);
                Some(crate::run::new_results_dir(&self.options.runs_root, &label))
            }
            (Home::RunFolder, None) => inputs.run_dir.clone(),
            (Home::SharedFolder, None) => None,
        };
        Ok(inputs)
    }

    /// Asks the running study `id` to stop.
    pub fn cancel_study(&mut self, id: &str) {
        if self.studies.is_running(id) {
            self.studies.slot(lane_of(id)).cancel();
        }
    }

    /// Opens a results folder of any study (the first whose results file is there).
    pub fn load_study_folder(&mut self, dir: &Path) {
        let Some(study) = STUDIES.iter().find(|s| dir.join(s.results_file()).is_file()) else {
            let files: Vec<&str> = STUDIES.iter().map(|s| s.results_file()).collect();
            return self.notify(
                format!(
                    "cannot open {}: none of {} in that folder",
                    dir.display(),
                    files.join(", ")
                ),
                true,
            );
        };
        match study.load(dir) {
            Ok(results) => {
                let from = self.stamp();
                self.studies
                    .set(study.id(), results, Some(dir.to_path_buf()), from);
                let name = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                self.notify(format!("opened {name}"), false);
            }
            Err(e) => self.notify(format!("cannot open {}: {e}", dir.display()), true),
        }
    }

    /// Shows the newest saved results of every study that makes its own folder (a damaged
    /// one is skipped silently; opening it by hand says what is wrong).
    pub(super) fn open_latest_studies(&mut self) {
        let root = self.options.runs_root.clone();
        let from = self.stamp();
        for study in STUDIES.iter().filter(|s| s.home() == Home::NewFolder) {
            if let Some(dir) = crate::run::list_results(&root, study.results_file())
                .into_iter()
                .next()
                && let Ok(results) = study.load(&dir)
            {
                self.studies.set(study.id(), results, Some(dir), from);
            }
        }
    }

    /// Drains the study workers' events; called once per frame.
    pub(super) fn studies_logic(&mut self) {
        for lane in Lane::ALL {
            if let Some((run, outcome)) = self.studies.slot_mut(lane).poll() {
                self.take_study_outcome(run, outcome);
            }
        }
        self.find_saved_in_run_folder();
    }

    fn take_study_outcome(&mut self, run: StudyRun, outcome: Outcome<AnyResults>) {
        let Some(study) = find(run.id) else { return };
        if run.automatic {
            match outcome {
                Outcome::Finished(results) => self.studies.set(run.id, results, run.out, run.from),
                Outcome::Failed(message) => self.studies.set_error(run.id, message),
                Outcome::Cancelled => {}
            }
            return;
        }
        {
            match outcome {
                Outcome::Finished(results) => {
                    let saved = run
                        .out
                        .as_ref()
                        .map(|d| format!(", saved in {}", d.display()))
                        .unwrap_or_default();
                    let summary = study.summary(&results);
                    let first_line = summary.lines().next().unwrap_or("").to_string();
                    self.notify(format!("{} done: {first_line}{saved}", study.title()), false);
                    self.studies.set(run.id, results, run.out, run.from);
                }
                Outcome::Cancelled => {
                    let resumable = self.keep_interrupted(study, &run);
                    let kept = if study.resumes() || resumable {
                        " (finished parts are kept; Resume continues)"
                    } else {
                        ""
                    };
                    self.notify(format!("{} cancelled{kept}", study.title()), false);
                    if study.resumes()
                        && let Some(dir) = run.out
                        && let Ok(results) = study.load(&dir)
                    {
                        self.studies.set(run.id, results, Some(dir), run.from);
                    }
                }
                Outcome::Failed(message) => {
                    let resumable = self.keep_interrupted(study, &run);
                    let resume = if resumable {
                        format!(" (what finished is kept in {}; Resume continues)", run.out.as_deref().unwrap_or(Path::new("")).display())
                    } else {
                        String::new()
                    };
                    self.notify(format!("{} failed: {message}{resume}", study.title()), true);
                    self.studies.set_error(run.id, message);
                }
            }
        }
    }

    /// Remembers a stopped study whose own new folder keeps finished work (the ensemble's
    /// kept groups) so Resume can continue it there; studies that resume from their saved
    /// results (the size curve, the sweep) have their own Resume. Whether it was kept.
    fn keep_interrupted(&mut self, study: &dyn AnyStudy, run: &StudyRun) -> bool {
        let Some(dir) = run.out.as_ref().filter(|d| holds_files(d)) else {
            return false;
        };
        if study.resumes() || study.home() != Home::NewFolder {
            return false;
        }
        self.studies.interrupted.insert(run.id, (run.config.clone(), dir.clone()));
        true
    }

    /// When another model is opened, drops results tied to the old one and shows the
    /// results its run folder holds.
    fn find_saved_in_run_folder(&mut self) {
        let Some(m) = &self.model else { return };
        if self.studies.looked_in_run_folder == m.version {
            return;
        }
        self.studies.looked_in_run_folder = m.version;
        let version = m.version;
        let run_dir = m.run_dir.clone();
        self.studies.forget_other_model(version);
        let from = self.stamp();
        let Some(dir) = run_dir else { return };
        for study in STUDIES.iter().filter(|s| s.home() == Home::RunFolder) {
            if dir.join(study.results_file()).is_file()
                && let Ok(results) = study.load(&dir)
            {
                self.studies.set(study.id(), results, Some(dir.clone()), from);
            }
        }
    }
}

/// Whether `dir` or a folder directly in it holds a file: a stopped study's folder with
/// finished work in it, not the empty folders it made on starting.
fn holds_files(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let path = e.path();
        path.is_file() || (path.is_dir() && std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_some()))
    })
}
