//! Studies: work that runs a model (or many) and leaves results to read, draw and reload —
//! the many-model experiments of seeds [S0, S2, S3](crate#seed-studies) and the history
//! studies of a run. A study is one type implementing [`Study`] and one line in
//! `register_studies!` below; from that line come, with no other edit:
//!
//! - the `experiment <id>` subcommand, its flags (the study's `clap::Args` type plus the
//!   shared `--run`, `--out`, `--overwrite`, `--device` and data flags its [`Needs`] ask
//!   for), its progress bar, summary line and figures;
//! - the results folder (a new `<UTC>-<label>` folder or the run's own, [`Home`]), saving,
//!   the `study.json` record of what the results came from, and reloading;
//! - in the app, the job slot with progress and cancel, the latest results of each study
//!   stamped with the model and data they came from and dropped when those change
//!   ([`Tie`]), and the panel (registered with the other panels, it reads
//!   `Workbench::studies`).
//!
//! ARCHITECTURE.md walks through adding one.

mod erased;
pub mod image;
#[macro_use]
mod registry;
mod shared;

// A new study: one file in this folder, and one line here (module::Type).
register_studies![
    ensemble::Ensemble,
    subset_curve::SubsetCurve,
    stability::Stability,
    class_curves::ClassCurves,
    sweep::Sweep,
    saliency::Saliency,
    row_sweep::RowSweep,
    batch_sweep::BatchSweepStudy,
    cross_dataset::CrossDataset,
    feedback::Feedback,
    ablation::Ablation,
    embed::Embed,
];

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use erased::{AnyConfig, AnyResults, AnyStudy, StudyRecord, run_study, spawn_study};
pub use image::{ImageArgs, ImageChoice, PickedImage};
pub use shared::DataInfo;
pub(crate) use shared::{devices_summary, preset};

use crate::data::Dataset;
pub use crate::jobs::{Cancelled, Progress, Reporter};
use crate::device::SelectedDevice;
use crate::model::Model;
use crate::report::Figure;
use crate::run::RunConfig;

/// Why a study stopped or its results could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// A setting cannot work.
    #[error("{0}")]
    Config(String),
    /// The user cancelled.
    #[error("cancelled")]
    Cancelled,
    /// Training diverged or produced no number.
    #[error("{0}")]
    Diverged(String),
    /// A results file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong, from the operating system.
        cause: String,
    },
    /// A results file is not what this version writes.
    #[error("{path}: {cause}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, naming the field where it can.
        cause: String,
    },
    /// Training a model failed.
    #[error("training failed: {0}")]
    Training(String),
}

impl StudyError {
    pub(crate) fn io(path: &Path, e: impl std::fmt::Display) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            cause: e.to_string(),
        }
    }

    pub(crate) fn format(path: &Path, e: impl std::fmt::Display) -> Self {
        Self::Format {
            path: path.to_path_buf(),
            cause: e.to_string(),
        }
    }
}

impl From<Cancelled> for StudyError {
    fn from(_: Cancelled) -> Self {
        Self::Cancelled
    }
}

impl From<StudyError> for crate::jobs::JobError {
    fn from(e: StudyError) -> Self {
        match e {
            StudyError::Cancelled => Self::Cancelled,
            other => Self::Failed(other.to_string()),
        }
    }
}

/// What a study needs before it can start (the CLI asks for the matching flags, the app
/// refuses to start without them and says which is missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// A trained run's model (`--run DIR`; in the app, the open model).
    pub model: bool,
    /// A trained run's folder, for its history (`--run DIR`; in the app, the open run).
    pub run_folder: bool,
    /// The dataset (the data flags; in the app, the loaded data).
    pub data: bool,
    /// A device to train or evaluate on (`--device`; in the app, the chosen device).
    pub device: bool,
}

impl Needs {
    /// A trained model, the data it is measured on or its images come from, and the device it
    /// computes on: what every probe and the stability test need.
    pub const MODEL_AND_DATA: Needs = Needs {
        model: true,
        run_folder: false,
        data: true,
        device: true,
    };

    /// Whether a trained run is needed at all.
    pub fn run(&self) -> bool {
        self.model || self.run_folder
    }
}

/// Where a study's results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    /// A new folder `<UTC timestamp>-<label>` under the runs folder (CLI: `--out`, required).
    NewFolder,
    /// The trained run's own folder (CLI: `--out`, default the `--run` folder).
    RunFolder,
    /// A folder several studies share (CLI: `--out`, required; files of the same name are
    /// replaced, as a figure is redrawn). The app keeps these results in memory only: a probe
    /// that follows the pad would otherwise leave a folder per stroke (Export… writes them).
    SharedFolder,
}

/// Which job slot a study runs in, and which CLI group lists it: a probe (seconds, one
/// model) can run while an experiment (minutes, many models) trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// `experiment <id>`; the app's experiment slot.
    Experiment,
    /// `probe <id>`; the app's probe slot.
    Probe,
}

impl Lane {
    /// Both lanes, in the order the app shows them.
    pub const ALL: [Lane; 2] = [Lane::Experiment, Lane::Probe];

    /// The CLI group (`experiment` or `probe`).
    pub fn command(self) -> &'static str {
        match self {
            Lane::Experiment => "experiment",
            Lane::Probe => "probe",
        }
    }
}

/// What results belong to, so the app drops them when that changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tie {
    /// Nothing: the results carry what they need (e.g. the ensemble its own data record).
    Nothing,
    /// The model they were computed with: dropped when another model is opened.
    Model,
    /// The dataset they index: dropped when other data are loaded.
    Data,
}

/// Everything a study may run on; which fields are set follows its [`Needs`] (an absent
/// one it needs is refused by [`StudyInputs::model`] and friends with a clear message).
#[derive(Clone, Default)]
pub struct StudyInputs {
    /// The trained model.
    pub model: Option<Model>,
    /// The trained run's folder.
    pub run_dir: Option<PathBuf>,
    /// The trained run's configuration.
    pub run_config: Option<RunConfig>,
    /// The dataset.
    pub data: Option<Arc<Dataset>>,
    /// The device (the first of the list, for a study that spreads its work).
    pub device: Option<SelectedDevice>,
    /// The other devices of the list (`--device flex,remote://…`), for a study whose
    /// [`Study::SPREADS`] is set; empty otherwise.
    pub more_devices: Vec<SelectedDevice>,
    /// Further devices not opened yet (the app's list): [`StudyInputs::devices`] opens them on
    /// the study's thread, where waiting for a server does not hold the window.
    pub more_device_choices: Vec<crate::device::DeviceChoice>,
    /// The results folder; a study that resumes reads what is already there.
    pub out: Option<PathBuf>,
}

impl StudyInputs {
    /// The model, or an error saying one is needed.
    pub fn model(&self) -> Result<&Model, StudyError> {
        self.model
            .as_ref()
            .ok_or_else(|| StudyError::Config("this study needs a trained model: open or train one".into()))
    }

    /// The run folder, or an error saying one is needed.
    pub fn run_dir(&self) -> Result<&Path, StudyError> {
        self.run_dir.as_deref().ok_or_else(|| {
            StudyError::Config("this study reads a run folder: open a saved run (this model has none)".into())
        })
    }

    /// The dataset, or an error saying it is needed.
    pub fn data(&self) -> Result<&Dataset, StudyError> {
        self.data
            .as_deref()
            .ok_or_else(|| StudyError::Config("this study needs data: load MNIST or the synthetic digits".into()))
    }

    /// The dataset as shared (for work that hands it to threads), or an error saying it is needed.
    pub fn shared_data(&self) -> Result<&Arc<Dataset>, StudyError> {
        self.data
            .as_ref()
            .ok_or_else(|| StudyError::Config("this study needs data: load MNIST or the synthetic digits".into()))
    }

    /// The model and the device its weights live on, without autodiff: where a probe
    /// computes (in the app the open model's device, which may not be the chosen one).
    pub fn model_on_device(&self) -> Result<(&Model, burn::tensor::Device), StudyError> {
        use burn::module::Module as _;
        let model = self.model()?;
        let device = model
            .devices()
            .into_iter()
            .next()
            .or_else(|| self.device.as_ref().map(|d| d.device.clone()))
            .ok_or_else(|| StudyError::Config("the model has no device".into()))?;
        Ok((model, device.without_autodiff()))
    }

    /// The device, or an error saying one is needed.
    pub fn device(&self) -> Result<&SelectedDevice, StudyError> {
        self.device
            .as_ref()
            .ok_or_else(|| StudyError::Config("this study needs a device".into()))
    }

    /// Every device to spread work over: the device, then the others of the list, opening
    /// those not opened yet (one that cannot be opened is refused, named).
    pub fn devices(&self) -> Result<Vec<SelectedDevice>, StudyError> {
        let first = self.device()?.clone();
        let mut all: Vec<SelectedDevice> = std::iter::once(first).chain(self.more_devices.iter().cloned()).collect();
        for choice in &self.more_device_choices {
            let device = crate::device::select_device(choice.clone())
                .map_err(|e| StudyError::Config(format!("device {choice}: {e}")))?;
            all.push(device);
        }
        crate::device::distinct(&all).map_err(StudyError::Config)?;
        Ok(all)
    }

    /// The devices' names (those not opened yet as given), comma-separated, for the record.
    pub fn device_names(&self) -> Option<String> {
        let first = self.device.as_ref()?;
        let names: Vec<String> = std::iter::once(first.name.clone())
            .chain(self.more_devices.iter().map(|d| d.name.clone()))
            .chain(self.more_device_choices.iter().map(ToString::to_string))
            .collect();
        Some(names.join(", "))
    }
}

/// One study: its settings, what it needs, how it runs, what it finds, how that is saved,
/// reloaded and drawn. Register it with one line in [`registry`].
pub trait Study: Sized + 'static {
    /// The subcommand (`experiment <ID>`) and the key of its results in the app.
    const ID: &'static str;
    /// A short title for panels and figures, e.g. `Size curve`.
    const TITLE: &'static str;
    /// The subcommand's help line.
    const ABOUT: &'static str;
    /// The results file in the results folder; its presence marks a folder as this study's.
    const RESULTS_FILE: &'static str;
    /// What it needs to start.
    const NEEDS: Needs;
    /// Where its results go.
    const HOME: Home;
    /// What its results belong to.
    const TIE: Tie;
    /// The job slot and CLI group.
    const LANE: Lane = Lane::Experiment;
    /// Whether a run in a folder that already holds results continues them (a size curve)
    /// instead of being refused without `--overwrite`.
    const RESUMES: bool = false;
    /// The CLI's `--device` default.
    const DEFAULT_DEVICE: &'static str = "auto";
    /// Whether its work items can be spread over a list of devices ([`StudyInputs::devices`]);
    /// otherwise a list of more than one device is refused.
    const SPREADS: bool = false;
    /// Its `bench --task <ID>`, if it has one: runs the study's benchmark workload of `size`
    /// (`bench --models`) on `devices`, without a results folder, and returns its figures;
    /// `bench` adds the task, devices, kernels, threads and wall seconds.
    const BENCH: Option<BenchTask> = None;

    /// Settings; serialised into `study.json`.
    type Config: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// The subcommand's own flags (the config type itself when it derives `clap::Args`).
    type Args: clap::Args + clap::FromArgMatches;
    /// What it finds.
    type Results: Debug + Send + Sync + 'static;

    /// Settings from the subcommand's flags; `run` is the `--run` folder's configuration
    /// when the study needs a run (defaults may follow it).
    fn config_from_args(args: Self::Args, run: Option<&RunConfig>) -> Result<Self::Config, StudyError>;

    /// Small settings that finish in seconds on the synthetic digits (tests, tours).
    fn quick_config(run: Option<&RunConfig>) -> Self::Config;

    /// Refuses settings that cannot work, naming the setting.
    fn validate(config: &Self::Config) -> Result<(), StudyError>;

    /// Whether these settings read the dataset: a probe of a picture file does not, so the
    /// CLI runs it without MNIST. What [`Study::NEEDS`] says unless a study knows better.
    fn reads_data(_config: &Self::Config) -> bool {
        Self::NEEDS.data
    }

    /// The label of a new results folder (`<UTC>-<label>`), from the settings.
    fn folder_label(config: &Self::Config) -> String;

    /// Runs the study, reporting progress and stopping when asked (through `reporter`).
    fn run(config: &Self::Config, inputs: &StudyInputs, reporter: &mut Reporter)
    -> Result<Self::Results, StudyError>;

    /// Writes the results into `dir` (atomically, file by file).
    fn save(results: &Self::Results, dir: &Path) -> Result<(), StudyError>;

    /// Reads results written by [`Study::save`] (by this version or an earlier one), checking
    /// every figure read.
    fn load(dir: &Path) -> Result<Self::Results, StudyError>;

    /// The figures `experiment` and Export… write (a picture plus its numbers each).
    fn figures(results: &Self::Results) -> Vec<Figure>;

    /// One line (or a small table) saying what was found, for the terminal and the status bar.
    fn summary(results: &Self::Results) -> String;
}

/// A study's benchmark ([`Study::BENCH`]): data, devices, size → its figures.
pub type BenchTask = fn(&Dataset, &[SelectedDevice], usize) -> Result<BenchFigures, StudyError>;

/// The JSON fields a study's benchmark reports ([`Study::BENCH`]).
pub type BenchFigures = serde_json::Map<String, serde_json::Value>;

/// Writes `value` as pretty JSON to `path` atomically (temporary file, then rename).
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StudyError> {
    crate::run::write_json(path, value).map_err(json_error)
}

/// Reads JSON from `path`, naming the file in any error.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, StudyError> {
    crate::run::read_json(path).map_err(json_error)
}

/// A results file's read or write error as the study's: the system's message, or what is
/// wrong with the JSON.
fn json_error(e: crate::run::JsonError) -> StudyError {
    match e {
        crate::run::JsonError::Io { path, cause } => StudyError::io(&path, cause),
        crate::run::JsonError::Syntax { path, cause } => StudyError::format(&path, cause),
    }
}

/// Checks a figure read from a results file: a share (accuracy) must be in [0, 1], a loss or
/// a duration finite and not negative. `field` names it in the error (e.g. `points[0].test_loss`).
pub(crate) fn check_figure(path: &Path, field: &str, value: f64, is_share: bool) -> Result<(), StudyError> {
    let ok = if is_share {
        (0.0..=1.0).contains(&value)
    } else {
        value.is_finite() && value >= 0.0
    };
    if ok {
        return Ok(());
    }
    let expected = if is_share { "a share between 0 and 1" } else { "a finite number of at least 0" };
    Err(StudyError::format(path, format!("field `{field}` is {value}; expected {expected}")))
}
