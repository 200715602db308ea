//! The experiment side of [`Workbench`]: one many-model experiment at a time on the
//! `mnist-experiment` worker (progress, ETA, cancel), the latest results of each kind (run
//! here or reloaded from a results folder), and the pad image's class distribution over
//! dropout passes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Workbench;
use crate::experiment::ensemble::{EnsembleConfig, EnsembleResults};
use crate::experiment::stability::{StabilityConfig, StabilityResults, class_distribution};
use crate::experiment::subset_curve::{SubsetCurveConfig, SubsetCurveResults};
use crate::experiment::worker::{ExperimentJob, ExperimentResults, spawn_experiment};
use crate::experiment::{Progress, new_results_dir};
use crate::jobs::{self, Outcome};
use crate::ui::job_slot::{JobSlot, Stamp, Stamped};

/// The three experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExperimentKind {
    /// Seed S0's ensemble.
    Ensemble,
    /// Seed S2's size curve.
    SubsetCurve,
    /// Seed S3's stability test.
    Stability,
}

/// What a panel asks to run.
#[derive(Debug, Clone)]
pub enum ExperimentRequest {
    /// A new ensemble (saved in a new folder under the runs folder).
    Ensemble(EnsembleConfig),
    /// A size curve, new or resumed in `resume`'s folder.
    SubsetCurve {
        /// Settings.
        config: SubsetCurveConfig,
        /// Folder of the curve to continue.
        resume: Option<PathBuf>,
    },
    /// A stability test of the current model (saved in its run folder).
    Stability(StabilityConfig),
}

/// Results with the folder they live in.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    /// The results.
    pub results: Arc<T>,
    /// Their folder (None when not saved).
    pub dir: Option<PathBuf>,
}

impl<T> Loaded<T> {
    /// Results read from (or saved in) `dir`.
    fn saved(results: T, dir: PathBuf) -> Self {
        Self {
            results: Arc::new(results),
            dir: Some(dir),
        }
    }
}

/// What the running experiment is (the key of its [`JobSlot`]).
#[derive(Debug, Clone)]
pub struct ExperimentRun {
    /// Which kind.
    pub kind: ExperimentKind,
    /// Where the results go.
    pub out: Option<PathBuf>,
    /// What it computes from.
    pub from: Stamp,
}

/// The pad image's predicted classes over 100 dropout passes.
#[derive(Debug, Clone, PartialEq)]
pub struct PadVotes {
    /// Pad revision.
    pub revision: u64,
    /// Model version.
    pub model_version: u64,
    /// Share of passes per digit (None: the model has no dropout).
    pub shares: Option<[f64; 10]>,
}

/// Passes behind the pad's class distribution.
pub const PAD_PASSES: usize = 100;

/// Experiment state shared by the panels.
#[derive(Default)]
pub struct ExperimentsState {
    /// The running experiment, if any.
    pub running: JobSlot<Progress, ExperimentResults, ExperimentRun>,
    /// The latest ensemble.
    pub ensemble: Option<Loaded<EnsembleResults>>,
    /// The latest size curve.
    pub curve: Option<Loaded<SubsetCurveResults>>,
    /// The latest stability test, with the model it belongs to.
    pub stability: Option<Stamped<Loaded<StabilityResults>>>,
    /// The last failure per kind.
    pub error: Option<(ExperimentKind, String)>,
    /// The pad's dropout votes.
    pub pad_votes: Option<PadVotes>,
    /// The dropout passes being computed on thread `mnist-pad-votes`.
    pad_votes_job: JobSlot<(), PadVotes, ()>,
    /// Model version whose run folder was last searched for saved stability results.
    looked_for_stability: u64,
}

impl ExperimentsState {
    /// Whether an experiment of `kind` runs.
    pub fn is_running(&self, kind: ExperimentKind) -> bool {
        self.running_kind() == Some(kind)
    }

    /// The kind of the running experiment.
    pub fn running_kind(&self) -> Option<ExperimentKind> {
        self.running.key().map(|r| r.kind)
    }

    /// The running experiment's progress, when it is of `kind` (`Some(None)` before the first).
    pub fn progress_of(&self, kind: ExperimentKind) -> Option<Option<&Progress>> {
        self.running.progress().filter(|_| self.is_running(kind))
    }

    /// The error of `kind`, if its last attempt failed.
    pub fn error_of(&self, kind: ExperimentKind) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(k, _)| *k == kind)
            .map(|(_, e)| e.as_str())
    }
}

impl Workbench {
    /// Starts an experiment; refused (with a notice) while another runs or without data.
    pub fn start_experiment(&mut self, request: ExperimentRequest) {
        if self.experiments.running.is_running() {
            self.notify("another experiment is running; cancel it first", true);
            return;
        }
        let Some(data) = self.dataset().cloned() else {
            self.notify("no data loaded yet", true);
            return;
        };
        let device = self.device.clone();
        let root = self.options.runs_root.clone();
        let (kind, job, out) = match request {
            ExperimentRequest::Ensemble(config) => {
                let label = format!(
                    "ensemble-{}-{}x{}",
                    config.model.preset_name().unwrap_or("custom"),
                    config.models,
                    config.per_digit
                );
                let out = new_results_dir(&root, &label);
                let job = ExperimentJob::Ensemble {
                    config,
                    data,
                    device,
                    out: Some(out.clone()),
                };
                (ExperimentKind::Ensemble, job, Some(out))
            }
            ExperimentRequest::SubsetCurve { config, resume } => {
                let out = resume.unwrap_or_else(|| {
                    let model = config.train.model.preset_name().unwrap_or("custom");
                    new_results_dir(&root, &format!("subset-curve-{model}"))
                });
                let job = ExperimentJob::SubsetCurve {
                    config,
                    data,
                    device,
                    out: Some(out.clone()),
                };
                (ExperimentKind::SubsetCurve, job, Some(out))
            }
            ExperimentRequest::Stability(config) => {
                let Some(m) = &self.model else {
                    self.notify("open or train a model first", true);
                    return;
                };
                let out = m.run_dir.clone();
                let job = ExperimentJob::Stability {
                    config,
                    model: m.model.clone(),
                    data,
                    device,
                    out: out.clone(),
                };
                (ExperimentKind::Stability, job, out)
            }
        };
        let from = self.stamp();
        match spawn_experiment(job, self.wake.clone()) {
            Ok(task) => {
                self.experiments.error = None;
                self.experiments
                    .running
                    .start(task, ExperimentRun { kind, out, from });
            }
            Err(e) => self.notify(format!("cannot start the experiment worker: {e}"), true),
        }
    }

    /// Asks the running experiment to stop.
    pub fn cancel_experiment(&mut self) {
        self.experiments.running.cancel();
    }

    /// Opens a results folder (`ensemble.json` or `subset_curve.json`).
    pub fn load_experiment(&mut self, dir: &Path) {
        use crate::experiment::{ensemble, subset_curve};
        let outcome = if dir.join(ensemble::RESULTS_FILE).is_file() {
            EnsembleResults::load(dir).map(|r| {
                self.experiments.ensemble = Some(Loaded::saved(r, dir.to_path_buf()));
            })
        } else if dir.join(subset_curve::RESULTS_FILE).is_file() {
            SubsetCurveResults::load(dir).map(|r| {
                self.experiments.curve = Some(Loaded::saved(r, dir.to_path_buf()));
            })
        } else {
            Err(crate::experiment::ExperimentError::Config(
                "no ensemble.json or subset_curve.json in that folder".into(),
            ))
        };
        match outcome {
            Ok(()) => {
                let name = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                self.notify(format!("opened {name}"), false);
            }
            Err(e) => self.notify(format!("cannot open {}: {e}", dir.display()), true),
        }
    }

    /// Shows the newest saved ensemble and size curve under the runs folder, if any (a
    /// damaged one is skipped silently; opening it by hand says what is wrong).
    pub(super) fn open_latest_experiments(&mut self) {
        use crate::experiment::{ensemble, list_results, subset_curve};
        let root = self.options.runs_root.clone();
        if let Some(dir) = list_results(&root, ensemble::RESULTS_FILE).into_iter().next()
            && let Ok(r) = EnsembleResults::load(&dir)
        {
            self.experiments.ensemble = Some(Loaded::saved(r, dir));
        }
        if let Some(dir) = list_results(&root, subset_curve::RESULTS_FILE).into_iter().next()
            && let Ok(r) = SubsetCurveResults::load(&dir)
        {
            self.experiments.curve = Some(Loaded::saved(r, dir));
        }
    }

    /// Drains the experiment worker's events; called once per frame.
    pub(super) fn experiments_logic(&mut self) {
        if let Some((run, outcome)) = self.experiments.running.poll() {
            let ExperimentRun { kind, out, from } = run;
            match outcome {
                Outcome::Finished(results) => self.take_results(results, out, from),
                Outcome::Cancelled => {
                    let kept = if kind == ExperimentKind::SubsetCurve {
                        " (finished fractions are kept; Resume continues)"
                    } else {
                        ""
                    };
                    self.notify(format!("experiment cancelled{kept}"), false);
                    if kind == ExperimentKind::SubsetCurve
                        && let Some(dir) = out
                        && let Ok(r) = SubsetCurveResults::load(&dir)
                    {
                        self.experiments.curve = Some(Loaded::saved(r, dir));
                    }
                }
                Outcome::Failed(message) => {
                    self.notify(format!("experiment failed: {message}"), true);
                    self.experiments.error = Some((kind, message));
                }
            }
        }
        self.find_saved_stability();
    }

    fn take_results(&mut self, results: ExperimentResults, dir: Option<PathBuf>, from: Stamp) {
        let saved = dir
            .as_ref()
            .map(|d| format!(", saved in {}", d.display()))
            .unwrap_or_default();
        match results {
            ExperimentResults::Ensemble(r) => {
                self.notify(
                    format!(
                        "ensemble done: {} models, accuracy {:.3} ± {:.3}{saved}",
                        r.members.len(),
                        r.stats.summary.mean_accuracy,
                        r.stats.summary.std_accuracy
                    ),
                    false,
                );
                self.experiments.ensemble = Some(Loaded { results: r, dir });
            }
            ExperimentResults::SubsetCurve(r) => {
                self.notify(format!("size curve done{saved}"), false);
                self.experiments.curve = Some(Loaded { results: r, dir });
            }
            ExperimentResults::Stability(r) => {
                self.notify(
                    format!(
                        "stability: std {:.3} % over {} passes{saved}",
                        100.0 * r.std_accuracy,
                        r.accuracies.len()
                    ),
                    false,
                );
                self.experiments.stability = Some(Stamped {
                    value: Loaded { results: r, dir },
                    from,
                });
            }
        }
    }

    /// When another model is opened, shows its saved stability test (if it has one).
    fn find_saved_stability(&mut self) {
        let Some(m) = &self.model else { return };
        if self.experiments.looked_for_stability == m.version {
            return;
        }
        self.experiments.looked_for_stability = m.version;
        let from = self.stamp();
        let saved = m
            .run_dir
            .as_ref()
            .filter(|d| d.join(crate::experiment::stability::RESULTS_FILE).is_file())
            .and_then(|d| StabilityResults::load(d).ok().map(|r| (r, d.clone())));
        if let Some((r, dir)) = saved {
            self.experiments.stability = Some(Stamped {
                value: Loaded::saved(r, dir),
                from,
            });
        }
    }

    /// The pad image's class shares over [`PAD_PASSES`] dropout passes, computed on a thread
    /// of their own (the window never waits for 100 forward passes) and cached per pad
    /// revision and model. While new votes are computed the latest ones are returned; the
    /// caller repaints while [`Self::pad_votes_pending`] says so.
    pub fn pad_votes(&mut self, revision: u64, pixels: &[f32]) -> Option<PadVotes> {
        let m = self.model.as_ref()?;
        match self.experiments.pad_votes_job.poll() {
            Some((_, Outcome::Finished(votes))) => self.experiments.pad_votes = Some(votes),
            // A failure in burn leaves the votes as they were (the panel shows the last ones).
            Some((_, Outcome::Failed(_) | Outcome::Cancelled)) => {}
            None if self.experiments.pad_votes_job.is_running() => return self.experiments.pad_votes.clone(),
            None => {}
        }
        let current = self.experiments.pad_votes.as_ref();
        if current.is_some_and(|v| v.revision == revision && v.model_version == m.version) {
            return current.cloned();
        }
        let (model, device, version) = (m.model.clone(), m.device.clone(), m.version);
        let input: Vec<f32> = pixels
            .iter()
            .map(|&v| crate::data::normalize_intensity(v))
            .collect();
        let spawned = jobs::spawn("mnist-pad-votes", self.wake.clone(), move |_| {
            let shares = (crate::model::mc::dropout_prob(&model) > 0.0)
                .then(|| class_distribution(&model, &input, PAD_PASSES, revision, &device));
            Ok(PadVotes {
                revision,
                model_version: version,
                shares,
            })
        });
        if let Ok(job) = spawned {
            self.experiments.pad_votes_job.start(job, ());
        }
        self.experiments.pad_votes.clone()
    }

    /// Whether dropout votes for the pad are being computed.
    pub fn pad_votes_pending(&self) -> bool {
        self.experiments.pad_votes_job.is_running()
    }
}
