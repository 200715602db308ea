//! [`Workbench`]: the state all panels read (data, the training session, the model used for
//! predictions, runs, messages), and the [`Action`]s panels and menus ask for. Actions are
//! applied between frames by [`Workbench::apply_actions`]; worker events are drained by
//! [`Workbench::logic`], which folds training events with the engine's pure reducer
//! (`RunHistory::apply`). No method here waits on a worker.
//!
//! One file per concern, each an `impl Workbench` block with the state it owns:
//! - [`data`]: the dataset in use, loading and downloading (`mnist-data`);
//! - [`training`]: the training session (`mnist-trainer`) and the model in use;
//! - [`runs`]: run folders: open, compare, save, delete, import, export;
//! - [`pad`]: the pad image (edited only through [`Action::Pad`] and [`Action::ShowInPad`]),
//!   its logits after each edit;
//! - [`inspection`]: the test-set evaluation and channel peaks (`mnist-analysis`), the pad's
//!   activations;
//! - [`studies`]: the registered studies, experiments (`mnist-study`) and probes
//!   (`mnist-probe`) side by side, and their latest results;
//! - [`pad_votes`]: the pad image's dropout votes (`mnist-pad-votes`);
//! - [`drawings`]: the digits drawn and labelled under the pad.
//!
//! Every background job is held in a [`super::job_slot::JobSlot`]; every result computed on
//! the data is [`super::job_slot::Stamped`] with what it came from.

mod data;
pub mod inspection;
pub mod pad;
pub mod pad_votes;
pub mod drawings;
mod runs;
pub mod studies;
pub mod writes;
mod training;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use data::DataState;
pub use pad::{PadEdit, PadState};
pub use training::{ActiveModel, TrainingSession};

use super::AppOptions;
use super::job_slot::{JobSlot, Stamp};
use crate::data::sources::DataRequest;
use crate::data::worker::DataJob;
use crate::device::SelectedDevice;
use crate::jobs::Wake;
use crate::run::RunListing;
use crate::train::history::RunHistory;
use crate::train::{Command, TrainConfig};

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
    /// Start a study (an experiment or a probe) in its lane.
    StartStudy(studies::StudyRequest),
    /// Cancel study `id` if it runs.
    CancelStudy(&'static str),
    /// Open a study's results folder.
    LoadStudyFolder(PathBuf),
    /// Record a drawing the user labelled (and save the set).
    LabelDrawing {
        /// The pad's 784 intensities.
        pixels: Vec<f32>,
        /// What the user says it is.
        label: u8,
        /// What the model predicted.
        predicted: u8,
    },
    /// Show a message in the status bar (`true`: an error).
    Notify(String, bool),
    /// The training form's settings as of this frame (what Ctrl+Enter starts), or why they
    /// cannot train.
    PublishForm(Result<crate::train::TrainConfig, String>),
    /// Show this configuration in the Model & training form (a sweep's "Train with these");
    /// kept in [`Workbench::form_fill`] until the form adopts it.
    FillTrainingForm(TrainConfig),
    /// Spread the work of the next ensemble, size curve or sweep over these devices too
    /// (beside [`Workbench::device`]).
    SetMoreDevices(Vec<crate::device::DeviceChoice>),
    /// A panel shows the pad's dropout votes: keep them current.
    WantPadVotes,
    /// Compute the logits and activations of this test image.
    InspectTestImage(usize),
    /// Write files on the write job (Export… of a panel): target, kind, the work.
    Write(PathBuf, writes::WriteKind, writes::WriteWork),
    /// Change the pad image (a tool of the Drawing pad, or the app's undo / redo).
    Pad(PadEdit),
    /// Show this image (784 intensities) in the pad, an undoable edit, with where it came
    /// from as its caption.
    ShowInPad {
        /// The intensities, row-major.
        pixels: Vec<f32>,
        /// E.g. "test #3 (label 5), from the Errors panel".
        caption: String,
    },
    /// Forget the last labelled drawing.
    UndoDrawing,
    /// Write the drawn digits as an MNIST-style folder here.
    SaveDrawingsInto(PathBuf),
    /// Make a panel's tab visible and active, named by its tab title (`PanelKind::title`: a
    /// title, because the panel kinds sit above the workbench). The tiles are the app's: it
    /// takes the request from [`Workbench::app_requests`].
    ShowPanel(&'static str),
    /// Open the guided tour with this id (`crate::ui::tours::TOURS`) in its side panel (taken
    /// by the app from [`Workbench::app_requests`]).
    StartTour(&'static str),
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
    /// What Start would train with, as the Model & training form reads this frame, or the
    /// message of its first invalid field; the form publishes it every frame, so the Ctrl+Enter
    /// shortcut (and a test) reads it without reaching into the panel.
    pub form_config: Result<TrainConfig, String>,
    /// The last configuration asked into the training form ([`Action::FillTrainingForm`]),
    /// with its revision (counting from 1): the form adopts a revision newer than its last.
    pub form_fill: Option<(u64, TrainConfig)>,
    /// The device `auto` means here.
    pub device: SelectedDevice,
    /// Devices the studies that spread their work (ensemble, size curve, sweep, stability,
    /// batch sweep) run on besides [`Workbench::device`] (opened when such a study starts).
    pub more_devices: Vec<crate::device::DeviceChoice>,
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
    /// The pad image, changed only by [`Action::Pad`] and [`Action::ShowInPad`].
    pub pad: PadState,
    /// Test-set evaluation, channel peaks and the pad's activations.
    pub inspect: inspection::InspectState,
    /// Studies: the running one and the latest results of each.
    pub studies: studies::StudiesState,
    /// The pad image's dropout votes.
    pub pad_votes: pad_votes::PadVotesState,
    /// Probes: the running one, the latest results and the labelled drawings.
    pub drawings: drawings::Drawings,
    /// [`Action::ShowPanel`] and [`Action::StartTour`] as asked, oldest first: the app takes
    /// them every frame (the tiles and the tour panel are the app's).
    pub app_requests: Vec<Action>,
    /// A figure being drawn and written (Export…), with its folder.
    pub exports: JobSlot<(), Vec<PathBuf>, writes::Writing>,
    /// A PyTorch checkpoint being imported.
    imports: JobSlot<(), runs::ImportedRun, ()>,
    /// How the last import ended, until the import window takes it.
    import_outcome: Option<Result<(), String>>,
    actions: std::cell::RefCell<Vec<Action>>,
    pub(super) wake: Wake,
    next_run_id: u64,
    pub(super) model_versions: u64,
}

impl Workbench {
    /// A workbench; `wake` asks the UI for a new frame (called from worker threads).
    pub fn new(options: AppOptions, wake: Wake) -> Self {
        let device = options.device.clone().unwrap_or_else(crate::device::flex);
        let mut wb = Self {
            device,
            data: DataState::default(),
            training: None,
            form_config: Err("the training form has not been read yet".into()),
            form_fill: None,
            more_devices: options.more_devices.clone(),
            model: None,
            runs: Vec::new(),
            overlays: Vec::new(),
            notices: Vec::new(),
            pad: PadState::default(),
            inspect: Default::default(),
            studies: Default::default(),
            pad_votes: Default::default(),
            drawings: Default::default(),
            app_requests: Vec::new(),
            exports: JobSlot::default(),
            imports: JobSlot::default(),
            import_outcome: None,
            actions: Default::default(),
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
        wb.open_latest_studies();
        if wb.options.open_latest_run {
            wb.open_newest_loadable_run();
        }
        wb
    }

    /// Queues an action for after this frame.
    pub fn act(&self, action: Action) {
        self.actions.borrow_mut().push(action);
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

    /// What a result computed now would be computed from: the model in use and the data.
    pub fn stamp(&self) -> Stamp {
        Stamp {
            model_version: self.model.as_ref().map_or(0, |m| m.version),
            data_generation: self.data.generation,
        }
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
        self.pad_logic();
        self.pad_votes_logic();
        self.studies_logic();
        self.drawings_logic();
        self.exports_logic();
        self.imports_logic();
    }


    /// Applies queued actions.
    pub fn apply_actions(&mut self) {
        for action in self.actions.take() {
            self.apply(action);
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::StartTraining(config) => self.start_training(config),
            Action::Training(command) => self.training_command(command),
            Action::LoadData(request) => self.start_data_job(DataJob::Load(request), "Loading data…"),
            Action::DownloadMnist => self.download_mnist(),
            Action::CancelData => self.data.task.cancel(),
            Action::OpenRun(path) => self.open_run(&path, false),
            Action::DeleteRun(path) => self.delete_run(&path),
            Action::SaveModelTo(path) => self.save_model_to(&path),
            Action::Overlay(path, on) => self.set_overlay(&path, on),
            Action::RefreshRuns => self.refresh_runs(),
            Action::ExportCurves(path) => self.export_curves(&path),
            Action::ComputePeaks(layer) => self.compute_peaks(layer),
            Action::StartStudy(request) => self.start_study(request),
            Action::CancelStudy(id) => self.cancel_study(id),
            Action::LoadStudyFolder(dir) => self.load_study_folder(&dir),
            Action::LabelDrawing {
                pixels,
                label,
                predicted,
            } => self.label_drawing(&pixels, label, predicted),
            Action::Notify(text, is_error) => self.notify(text, is_error),
            Action::PublishForm(config) => self.form_config = config,
            Action::FillTrainingForm(config) => {
                let revision = self.form_fill.as_ref().map_or(0, |f| f.0) + 1;
                self.form_fill = Some((revision, config));
            }
            Action::SetMoreDevices(list) => self.more_devices = list,
            Action::WantPadVotes => self.pad_votes.wanted = true,
            Action::InspectTestImage(index) => {
                self.inspect_test_image(index);
            }
            Action::Write(target, kind, work) => self.start_queued_write(target, kind, work),
            Action::Pad(edit) => self.pad.edit(edit),
            Action::ShowInPad { pixels, caption } => self.pad.edit(PadEdit::Load { pixels, caption }),
            Action::UndoDrawing => self.undo_drawing(),
            Action::SaveDrawingsInto(dir) => self.save_drawings_into(&dir),
            request @ (Action::ShowPanel(_) | Action::StartTour(_)) => self.app_requests.push(request),
        }
    }

    /// Stops a running training and waits up to `timeout` for its worker to finish the current
    /// batch (the last finished epoch's checkpoint stays valid), and cancels every other job.
    /// Used when the window closes.
    pub fn shutdown(&mut self, timeout: Duration) {
        self.stop_training_and_wait(timeout);
        self.data.task.clear();
        self.inspect.cancel_jobs();
        self.studies.clear_running();
        self.exports.clear();
        self.imports.clear();
    }
}
