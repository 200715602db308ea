//! [`Workbench`]: the state all panels read (data, the training session, the model used for
//! predictions, runs, messages), and the [`Action`]s panels and menus ask for. Actions are
//! applied between frames by [`Workbench::apply_actions`]; worker events are drained by
//! [`Workbench::logic`], which folds training events with the engine's pure reducer
//! ([`RunHistory::apply`]). No method here waits on a worker.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::tensor::Device;

use super::AppOptions;
use crate::data::download::{DownloadPlan, DownloadProgress};
use crate::data::sources::{DataRequest, cache_dir};
use crate::data::worker::{DataEvent, DataJob, DataTask, LoadedData, spawn_data_job};
use crate::device::{DeviceChoice, SelectedDevice};
use crate::model::{Model, ModelSpec};
use crate::train::history::{RunHistory, RunPhase};
use crate::train::runs::{RunConfig, RunDir, RunListing};
use crate::train::worker::ModelSlot;
use crate::train::{Command, TrainConfig, TrainJob, TrainerHandle, spawn_training};

/// Something a panel or menu asks the workbench to do (applied after the frame).
#[derive(Debug, Clone)]
pub enum Action {
    /// Start training with this configuration.
    StartTraining(TrainConfig),
    /// Pause, resume or stop the running training.
    Training(Command),
    /// Load data as the request says (on the data worker).
    LoadData(DataRequest),
    /// Download MNIST into the cache, then load it.
    DownloadMnist,
    /// Cancel the running data task.
    CancelData,
    /// Make a run's checkpoint the model used for predictions.
    OpenRun(PathBuf),
    /// Delete a run folder (the panel has asked for confirmation).
    DeleteRun(PathBuf),
    /// Write the current model as a run folder at this path.
    SaveModelTo(PathBuf),
    /// Show or hide a run's curves on the dashboard.
    Overlay(PathBuf, bool),
    /// Re-read the runs folder.
    RefreshRuns,
    /// Write the current run's curves as CSV.
    ExportCurves(PathBuf),
    /// Find each test image's peak activation per channel of this layer.
    ComputePeaks(usize),
    /// Start a many-model experiment on the experiment worker.
    StartExperiment(super::experiments::ExperimentRequest),
    /// Cancel the running experiment.
    CancelExperiment,
    /// Open an experiment's results folder.
    LoadExperiment(PathBuf),
    /// Start a probe of the current model on the probe worker; `true` marks one started by
    /// the pad changing (skipped quietly while another probe runs).
    StartProbe(crate::probe::worker::ProbeRequest, bool),
    /// Cancel the running probe.
    CancelProbe,
}

/// A message in the status bar.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Whether it reports a problem.
    pub is_error: bool,
    /// When it was posted.
    pub at: Instant,
}

/// The data side: what is loaded and what is being loaded.
#[derive(Default)]
pub struct DataState {
    /// The data in use.
    pub loaded: Option<LoadedData>,
    /// A running load or download, with a label for it.
    pub task: Option<(DataTask, String)>,
    /// Latest download progress.
    pub progress: Option<DownloadProgress>,
    /// The last failure, shown in the Data panel.
    pub error: Option<String>,
    /// Counts the datasets loaded so far, so views know when to rebuild what they derived.
    pub generation: u64,
}

/// The current (or last) training run.
pub struct TrainingSession {
    /// Its history, folded from events.
    pub history: RunHistory,
    /// Its configuration.
    pub config: TrainConfig,
    /// Its run folder.
    pub run_dir: Option<PathBuf>,
    /// Whether a pause was asked for.
    pub paused: bool,
    /// A recorded run shown from its folder (no worker).
    pub recorded: bool,
    handle: Option<TrainerHandle>,
    slot: ModelSlot,
    device: Device,
}

impl TrainingSession {
    /// A session with no worker showing a recorded history (an opened run, or a test).
    pub fn recorded(history: RunHistory, config: TrainConfig, run_dir: Option<PathBuf>) -> Self {
        Self {
            history,
            config,
            run_dir,
            paused: false,
            recorded: true,
            handle: None,
            slot: Arc::new(Mutex::new(None)),
            device: Device::flex(),
        }
    }

    /// Whether the worker is still going. A recorded session (a reopened run) has no worker,
    /// even when its history never reached an end (an imported model, a run that was killed).
    pub fn is_active(&self) -> bool {
        !self.recorded && !self.history.phase.is_over()
    }
}

/// The model that answers predictions (pad, inspection).
pub struct ActiveModel {
    /// The network (eval mode).
    pub model: Model,
    /// Its device.
    pub device: Device,
    /// Its architecture.
    pub spec: ModelSpec,
    /// Where it came from, for the user.
    pub source: String,
    /// Bumped whenever the weights change, so views know to re-predict.
    pub version: u64,
    /// The run folder it belongs to.
    pub run_dir: Option<PathBuf>,
}

/// A run shown for comparison on the dashboard.
pub struct Overlay {
    /// Its folder.
    pub path: PathBuf,
    /// Its label.
    pub label: String,
    /// Its recorded history.
    pub history: RunHistory,
}

/// Everything the panels share.
pub struct Workbench {
    /// Start options.
    pub options: AppOptions,
    /// The device `auto` means here.
    pub device: SelectedDevice,
    /// Data.
    pub data: DataState,
    /// The current or last training run.
    pub training: Option<TrainingSession>,
    /// The model predictions use.
    pub model: Option<ActiveModel>,
    /// The runs folder's content.
    pub runs: Vec<RunListing>,
    /// Runs overlaid on the dashboard.
    pub overlays: Vec<Overlay>,
    /// Status-bar messages, newest last.
    pub notices: Vec<Notice>,
    /// An image (784 intensities) a panel wants shown in the pad, with a caption.
    pub pad_request: Option<(Vec<f32>, String)>,
    /// Test-set evaluation, channel peaks and the pad's activations.
    pub inspect: super::inspect::InspectState,
    /// Many-model experiments: the running one and the latest results.
    pub experiments: super::experiments::ExperimentsState,
    /// Probes: the running one, the latest results and the labelled drawings.
    pub probes: super::probes::ProbeState,
    actions: Vec<Action>,
    pub(super) wake: Arc<dyn Fn() + Send + Sync>,
    next_run_id: u64,
    pub(super) model_versions: u64,
}

impl Workbench {
    /// A workbench; `wake` asks the UI for a new frame (called from worker threads).
    pub fn new(options: AppOptions, wake: Arc<dyn Fn() + Send + Sync>) -> Self {
        let device = options.device.clone().unwrap_or_else(crate::device::flex);
        let mut wb = Self {
            device,
            data: DataState::default(),
            training: None,
            model: None,
            runs: Vec::new(),
            overlays: Vec::new(),
            notices: Vec::new(),
            pad_request: None,
            inspect: Default::default(),
            experiments: Default::default(),
            probes: Default::default(),
            actions: Vec::new(),
            wake,
            next_run_id: 1,
            model_versions: 0,
            options,
        };
        match wb.options.preloaded.clone() {
            Some(data) => {
                wb.data.loaded = Some(data);
                wb.data.generation += 1;
            }
            None => wb.start_data_job(DataJob::Load(wb.options.data.clone()), "Loading data…"),
        }
        wb.refresh_runs();
        wb.open_latest_experiments();
        if wb.options.open_latest_run
            && let Some(Err(reason)) = wb.runs.first().map(|r| r.config.clone())
        {
            // The newest run cannot be opened: say why, and open the newest that can.
            wb.notify(format!("The newest run was not opened: {reason}"), true);
        }
        if wb.options.open_latest_run
            && let Some(run) = wb.runs.iter().find(|r| r.has_checkpoint && r.config.is_ok())
        {
            let path = run.path.clone();
            wb.open_run(&path, true);
        }
        wb
    }

    /// Queues an action for after this frame.
    pub fn act(&mut self, action: Action) {
        self.actions.push(action);
    }

    /// Posts a status message.
    pub fn notify(&mut self, text: impl Into<String>, is_error: bool) {
        self.notices.push(Notice {
            text: text.into(),
            is_error,
            at: Instant::now(),
        });
        if self.notices.len() > 50 {
            self.notices.remove(0);
        }
    }

    /// Whether a training run is going.
    pub fn is_training(&self) -> bool {
        self.training.as_ref().is_some_and(TrainingSession::is_active)
    }

    /// A new dataset is in use: everything computed from the old one (evaluations, top
    /// images, embeddings, sweeps over test images) is dropped and its running jobs cancelled,
    /// so no result of one dataset is ever used to index another.
    fn data_changed(&mut self) {
        self.data.generation += 1;
        self.inspect.forget_data_results();
        self.probes.forget_data_results();
    }

    /// The dataset, once loaded.
    pub fn dataset(&self) -> Option<&Arc<crate::data::Dataset>> {
        self.data.loaded.as_ref().map(|d| &d.dataset)
    }

    /// Logits of a pad image under the current model.
    pub fn predict(&self, intensities: &[f32]) -> Option<[f32; 10]> {
        let m = self.model.as_ref()?;
        crate::train::eval::logits_for_intensities(&m.model, intensities, &m.device)
    }

    /// Drains worker events and takes fresh weights; call once per frame before drawing.
    pub fn logic(&mut self) {
        self.drain_data_events();
        self.drain_training_events();
        self.apply_actions();
        self.inspect_logic();
        self.experiments_logic();
        self.probes_logic();
    }

    fn start_data_job(&mut self, job: DataJob, label: &str) {
        match spawn_data_job(job, self.wake.clone()) {
            Ok(task) => {
                self.data.task = Some((task, label.to_string()));
                self.data.progress = None;
                self.data.error = None;
            }
            Err(e) => self.notify(format!("cannot start the data worker: {e}"), true),
        }
    }

    fn drain_data_events(&mut self) {
        let mut ended = false;
        if let Some((task, _)) = &self.data.task {
            let events: Vec<DataEvent> = task.events.try_iter().collect();
            for event in events {
                match event {
                    DataEvent::Progress(p) => self.data.progress = Some(p),
                    DataEvent::Loaded(data) => {
                        let text = format!(
                            "Loaded {} training and {} test images",
                            data.dataset.train.len(),
                            data.dataset.test.len()
                        );
                        self.data.loaded = Some(data);
                        self.data_changed();
                        self.notify(text, false);
                        ended = true;
                    }
                    DataEvent::Failed(message) => {
                        self.notify(message.clone(), true);
                        self.data.error = Some(message);
                        ended = true;
                    }
                    DataEvent::Cancelled => {
                        self.notify("Cancelled; the data in use is unchanged.", false);
                        ended = true;
                    }
                }
            }
        }
        if ended {
            self.data.task = None;
            self.data.progress = None;
        }
    }

    fn drain_training_events(&mut self) {
        let Some(session) = &mut self.training else {
            return;
        };
        let mut ended = None;
        if let Some(handle) = &session.handle {
            for event in handle.events.try_iter() {
                session.history.apply(&event);
                if event.is_terminal() {
                    ended = Some(session.history.phase.clone());
                }
            }
        }
        // Fresh weights for live predictions (latest wins).
        let fresh = session.slot.lock().ok().and_then(|mut g| g.take());
        if let Some(model) = fresh {
            self.model_versions += 1;
            let epochs = session.history.epochs.len();
            self.model = Some(ActiveModel {
                device: session.device.clone(),
                spec: session.config.model.clone(),
                source: format!(
                    "training run, step {}, {epochs} of {} epochs done",
                    session.history.current_step(),
                    session.config.epochs
                ),
                version: self.model_versions,
                run_dir: session.run_dir.clone(),
                model,
            });
        }
        if let Some(phase) = ended {
            if let Some(session) = &mut self.training {
                session.handle = None;
            }
            match phase {
                RunPhase::Failed(message) => self.notify(format!("Training failed: {message}"), true),
                RunPhase::Finished(reason) => self.notify(format!("Training ended: {reason:?}"), false),
                _ => {}
            }
            self.refresh_runs();
        }
    }

    fn device_for(&self, choice: &DeviceChoice) -> Device {
        match choice {
            DeviceChoice::Auto => self.device.device.clone(),
            DeviceChoice::Flex => Device::flex(),
            DeviceChoice::Wgpu => crate::device::select_device(DeviceChoice::Wgpu)
                .map(|d| d.device)
                .unwrap_or_else(|_| Device::flex()),
            // The trainer connects on its own thread and publishes its weights as a copy on
            // this machine, so the pad never waits for the network.
            DeviceChoice::Remote(_) => Device::flex(),
        }
    }

    /// Applies queued actions.
    pub fn apply_actions(&mut self) {
        for action in std::mem::take(&mut self.actions) {
            self.apply(action);
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::StartTraining(config) => self.start_training(config),
            Action::Training(command) => {
                if let Some(s) = &mut self.training
                    && let Some(h) = &s.handle
                {
                    h.send(command);
                    s.paused = command == Command::Pause;
                }
            }
            Action::LoadData(request) => self.start_data_job(DataJob::Load(request), "Loading data…"),
            Action::DownloadMnist => {
                let plan = self
                    .options
                    .download
                    .clone()
                    .or_else(|| cache_dir().map(DownloadPlan::standard));
                match plan {
                    Some(plan) => self.start_data_job(DataJob::Download(plan), "Downloading MNIST…"),
                    None => self.notify("no cache folder on this system; use Open data folder…", true),
                }
            }
            Action::CancelData => {
                if let Some((task, _)) = &self.data.task {
                    task.cancel();
                }
            }
            Action::OpenRun(path) => self.open_run(&path, false),
            Action::DeleteRun(path) => self.delete_run(&path),
            Action::SaveModelTo(path) => self.save_model_to(&path),
            Action::Overlay(path, on) => self.set_overlay(&path, on),
            Action::RefreshRuns => self.refresh_runs(),
            Action::ExportCurves(path) => self.export_curves(&path),
            Action::ComputePeaks(layer) => self.compute_peaks(layer),
            Action::StartExperiment(request) => self.start_experiment(request),
            Action::CancelExperiment => self.cancel_experiment(),
            Action::LoadExperiment(dir) => self.load_experiment(&dir),
            Action::StartProbe(request, automatic) => self.start_probe(request, automatic),
            Action::CancelProbe => self.cancel_probe(),
        }
    }

    fn start_training(&mut self, config: TrainConfig) {
        if self.is_training() {
            self.notify("A run is already training; stop it first.", true);
            return;
        }
        if let Err(e) = config.validate() {
            self.notify(format!("Cannot start: {e}"), true);
            return;
        }
        let Some(data) = self.data.loaded.clone() else {
            self.notify("Cannot start: no data loaded yet.", true);
            return;
        };
        if let Err(e) = crate::memory::check_training(&config, &data.dataset) {
            self.notify(format!("Cannot start: {e}"), true);
            return;
        }
        let run_config = RunConfig::new(
            config.clone(),
            data.dataset.source.clone(),
            data.train_digest.clone(),
            data.test_digest.clone(),
        );
        let run_dir = match RunDir::create(&self.options.runs_root, &run_config) {
            Ok(d) => d,
            Err(e) => {
                self.notify(format!("Cannot create the run folder: {e}"), true);
                return;
            }
        };
        let run_id = self.next_run_id;
        self.next_run_id += 1;
        let slot: ModelSlot = Arc::new(Mutex::new(None));
        let job = TrainJob {
            run_id,
            config: config.clone(),
            data: data.dataset.clone(),
            run_dir: Some(run_dir.clone()),
            resume: None,
            device: (config.device == DeviceChoice::Auto).then(|| self.device.clone()),
            model_slot: Some(slot.clone()),
        };
        let training_device = self.device_for(&config.device);
        match spawn_training(job, self.wake.clone()) {
            Ok(handle) => {
                self.notify(format!("Training started: {}", run_dir.path.display()), false);
                self.training = Some(TrainingSession {
                    history: RunHistory::new(run_id, config.epochs),
                    config,
                    run_dir: Some(run_dir.path),
                    paused: false,
                    recorded: false,
                    handle: Some(handle),
                    slot,
                    device: training_device,
                });
                self.refresh_runs();
            }
            Err(e) => self.notify(format!("Cannot start the training thread: {e}"), true),
        }
    }

    /// Stops a running training and waits up to `timeout` for its worker to finish the current
    /// batch (the last finished epoch's checkpoint stays valid). Used when the window closes.
    pub fn shutdown(&mut self, timeout: Duration) {
        if let Some(session) = &mut self.training
            && let Some(handle) = session.handle.take()
        {
            handle.send(Command::Stop);
            let deadline = Instant::now() + timeout;
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if handle.is_finished() {
                // Collect the final events so the session says how it ended.
                for event in handle.events.try_iter() {
                    session.history.apply(&event);
                }
                handle.join();
            }
        }
        if let Some((task, _)) = &self.data.task {
            task.cancel();
        }
    }
}
