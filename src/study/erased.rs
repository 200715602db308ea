//! The registry's view of a study: [`AnyStudy`], object-safe, implemented for every
//! [`Study`] by [`Registered`]. Configurations and results travel as `Any` between the
//! generic code (CLI runner, the app's study slot, `report`) and the typed study, which is
//! the only code that looks inside them.

use std::any::Any;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{BenchTask, Home, Lane, Needs, Study, StudyError, StudyInputs, Tie, read_json, write_json};
use crate::jobs::{Job, Progress, Reporter, Wake, spawn_reporting};
use crate::report::Figure;
use crate::run::RunConfig;

/// A study's settings, type-erased (the study's `Config`).
pub type AnyConfig = Arc<dyn Any + Send + Sync>;
/// A study's results, type-erased (an `Arc` of the study's `Results`), cheap to clone.
pub type AnyResults = Arc<dyn Any + Send + Sync>;

/// File written beside the results of a study with a folder of its own: which study, with
/// which settings, from what. In a folder several studies share (the run's, a probe's
/// `--out`) it is `<id>.study.json` ([`AnyStudy::record_file`]).
pub const RECORD_FILE: &str = "study.json";

/// What saved results came from (`study.json` in the results folder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StudyRecord {
    /// The study's id.
    pub study: String,
    /// Its settings.
    pub config: serde_json::Value,
    /// The data it ran on (the data source's description), if it used data.
    pub data: Option<String>,
    /// The run folder whose model or history it used.
    pub run: Option<String>,
    /// The device it ran on (the devices, comma-separated, for work spread over several).
    pub device: Option<String>,
    /// When it finished (UTC, ISO 8601).
    pub finished: String,
    /// The workbench version that wrote it.
    pub version: String,
}

impl Default for StudyRecord {
    fn default() -> Self {
        Self {
            study: String::new(),
            config: serde_json::Value::Null,
            data: None,
            run: None,
            device: None,
            finished: String::new(),
            version: String::new(),
        }
    }
}

impl StudyRecord {
    /// Reads the record of `study` from `dir` (None when the folder predates it).
    pub fn load(study: &dyn AnyStudy, dir: &Path) -> Result<Option<Self>, StudyError> {
        let path = dir.join(study.record_file());
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }
}

/// Everything the generic code does with a study, without knowing its types.
pub trait AnyStudy: Sync {
    /// [`Study::ID`].
    fn id(&self) -> &'static str;
    /// [`Study::TITLE`].
    fn title(&self) -> &'static str;
    /// [`Study::ABOUT`].
    fn about(&self) -> &'static str;
    /// [`Study::RESULTS_FILE`].
    fn results_file(&self) -> &'static str;
    /// [`Study::NEEDS`].
    fn needs(&self) -> Needs;
    /// [`Study::HOME`].
    fn home(&self) -> Home;
    /// [`Study::TIE`].
    fn tie(&self) -> Tie;
    /// [`Study::RESUMES`].
    fn resumes(&self) -> bool;
    /// [`Study::LANE`].
    fn lane(&self) -> Lane;
    /// The name of its [`StudyRecord`] file: `study.json` in a folder of its own,
    /// `<id>.study.json` in one it shares with other studies.
    fn record_file(&self) -> String {
        match self.home() {
            Home::NewFolder => RECORD_FILE.to_string(),
            Home::RunFolder | Home::SharedFolder => format!("{}.{RECORD_FILE}", self.id()),
        }
    }
    /// [`Study::DEFAULT_DEVICE`].
    fn default_device(&self) -> &'static str;
    /// [`Study::SPREADS`].
    fn spreads(&self) -> bool;
    /// The subcommand with the study's own flags (the runner adds the shared ones).
    fn command(&self) -> clap::Command;
    /// Settings from parsed flags of [`AnyStudy::command`].
    fn config_from_matches(
        &self,
        matches: &clap::ArgMatches,
        run: Option<&RunConfig>,
    ) -> Result<AnyConfig, StudyError>;
    /// [`Study::quick_config`].
    fn quick_config(&self, run: Option<&RunConfig>) -> AnyConfig;
    /// [`Study::validate`].
    fn validate(&self, config: &AnyConfig) -> Result<(), StudyError>;
    /// [`Study::reads_data`].
    fn reads_data(&self, config: &AnyConfig) -> bool;
    /// [`Study::folder_label`].
    fn folder_label(&self, config: &AnyConfig) -> String;
    /// The settings as JSON (for `study.json`).
    fn config_json(&self, config: &AnyConfig) -> serde_json::Value;
    /// [`Study::run`].
    fn run(&self, config: &AnyConfig, inputs: &StudyInputs, reporter: &mut Reporter)
    -> Result<AnyResults, StudyError>;
    /// [`Study::save`].
    fn save(&self, results: &AnyResults, dir: &Path) -> Result<(), StudyError>;
    /// [`Study::load`].
    fn load(&self, dir: &Path) -> Result<AnyResults, StudyError>;
    /// [`Study::figures`].
    fn figures(&self, results: &AnyResults) -> Vec<Figure>;
    /// [`Study::summary`].
    fn summary(&self, results: &AnyResults) -> String;
    /// [`Study::BENCH`].
    fn bench_task(&self) -> Option<BenchTask>;
}

/// The registry's entry for study `S`.
pub struct Registered<S>(pub PhantomData<fn() -> S>);

fn config_of<S: Study>(config: &AnyConfig) -> &S::Config {
    config
        .downcast_ref::<S::Config>()
        .unwrap_or_else(|| panic!("a configuration of another study was given to {}", S::ID))
}

fn results_of<S: Study>(results: &AnyResults) -> &S::Results {
    results
        .downcast_ref::<S::Results>()
        .unwrap_or_else(|| panic!("results of another study were given to {}", S::ID))
}

impl<S: Study> AnyStudy for Registered<S> {
    fn id(&self) -> &'static str {
        S::ID
    }
    fn title(&self) -> &'static str {
        S::TITLE
    }
    fn about(&self) -> &'static str {
        S::ABOUT
    }
    fn results_file(&self) -> &'static str {
        S::RESULTS_FILE
    }
    fn needs(&self) -> Needs {
        S::NEEDS
    }
    fn home(&self) -> Home {
        S::HOME
    }
    fn tie(&self) -> Tie {
        S::TIE
    }
    fn resumes(&self) -> bool {
        S::RESUMES
    }
    fn lane(&self) -> Lane {
        S::LANE
    }
    fn default_device(&self) -> &'static str {
        S::DEFAULT_DEVICE
    }
    fn spreads(&self) -> bool {
        S::SPREADS
    }
    fn command(&self) -> clap::Command {
        <S::Args as clap::Args>::augment_args(clap::Command::new(S::ID).about(S::ABOUT))
    }
    fn config_from_matches(
        &self,
        matches: &clap::ArgMatches,
        run: Option<&RunConfig>,
    ) -> Result<AnyConfig, StudyError> {
        let args = <S::Args as clap::FromArgMatches>::from_arg_matches(matches)
            .map_err(|e| StudyError::Config(e.to_string()))?;
        Ok(Arc::new(S::config_from_args(args, run)?))
    }
    fn quick_config(&self, run: Option<&RunConfig>) -> AnyConfig {
        Arc::new(S::quick_config(run))
    }
    fn validate(&self, config: &AnyConfig) -> Result<(), StudyError> {
        S::validate(config_of::<S>(config))
    }
    fn reads_data(&self, config: &AnyConfig) -> bool {
        S::reads_data(config_of::<S>(config))
    }
    fn folder_label(&self, config: &AnyConfig) -> String {
        S::folder_label(config_of::<S>(config))
    }
    fn config_json(&self, config: &AnyConfig) -> serde_json::Value {
        serde_json::to_value(config_of::<S>(config)).unwrap_or(serde_json::Value::Null)
    }
    fn run(
        &self,
        config: &AnyConfig,
        inputs: &StudyInputs,
        reporter: &mut Reporter,
    ) -> Result<AnyResults, StudyError> {
        Ok(Arc::new(S::run(config_of::<S>(config), inputs, reporter)?))
    }
    fn save(&self, results: &AnyResults, dir: &Path) -> Result<(), StudyError> {
        S::save(results_of::<S>(results), dir)
    }
    fn load(&self, dir: &Path) -> Result<AnyResults, StudyError> {
        Ok(Arc::new(S::load(dir)?))
    }
    fn figures(&self, results: &AnyResults) -> Vec<Figure> {
        S::figures(results_of::<S>(results))
    }
    fn summary(&self, results: &AnyResults) -> String {
        S::summary(results_of::<S>(results))
    }
    fn bench_task(&self) -> Option<BenchTask> {
        S::BENCH
    }
}

/// Validates, runs and (when `inputs.out` is set) saves a study with its `study.json`
/// record, on this thread: the CLI and the app's worker both call it.
pub fn run_study(
    study: &dyn AnyStudy,
    config: &AnyConfig,
    inputs: &StudyInputs,
    reporter: &mut Reporter,
) -> Result<AnyResults, StudyError> {
    study.validate(config)?;
    let results = study.run(config, inputs, reporter)?;
    if let Some(dir) = &inputs.out {
        std::fs::create_dir_all(dir).map_err(|e| StudyError::io(dir, e))?;
        study.save(&results, dir)?;
        let record = StudyRecord {
            study: study.id().to_string(),
            config: study.config_json(config),
            data: inputs.data.as_ref().map(|d| d.source.to_string()),
            run: inputs.run_dir.as_ref().map(|d| d.display().to_string()),
            device: inputs.device_names(),
            finished: crate::run::utc_timestamp(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        write_json(&dir.join(study.record_file()), &record)?;
    }
    Ok(results)
}

/// Starts [`run_study`] on a thread named `mnist-study` (`mnist-probe` for a probe); `wake`
/// is called after each event.
pub fn spawn_study(
    study: &'static dyn AnyStudy,
    config: AnyConfig,
    inputs: StudyInputs,
    wake: Wake,
) -> std::io::Result<Job<Progress, AnyResults>> {
    let thread = match study.lane() {
        Lane::Experiment => "mnist-study",
        Lane::Probe => "mnist-probe",
    };
    spawn_reporting(thread, wake, move |reporter| {
        run_study(study, &config, &inputs, reporter)
    })
}
