//! A run folder ([`RunDir`]): creating one (named by time, model and seed) or opening one
//! (its `config.json` checked like a new run's), the paths of its files, the event log
//! (`metrics.jsonl`, merged with `steps.csv` by [`RunDir::read_history`]) and
//! `summary.json`. Checkpoints are [`super::checkpoint`]'s.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::RunConfig;
use super::json::{read_json, write_json};
use super::naming::{free_path, stamped_name};
use super::{RunError, io};
use crate::fsutil::append_line;
use crate::model::ModelSpec;
use crate::train::events::{EpochMetrics, Event};

/// `summary.json`: how the run ended and its best figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    /// The final event (`finished` or `failed`).
    pub outcome: Event,
    /// Epoch metrics of the last finished epoch.
    pub last_epoch: Option<EpochMetrics>,
    /// Best test accuracy over the epochs.
    pub best_test_accuracy: Option<f64>,
}

/// A run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The folder.
    pub path: PathBuf,
}

impl RunDir {
    /// Creates a new run folder under `root`, named by time, model and seed, and writes
    /// `config.json`.
    pub fn create(root: &Path, config: &RunConfig) -> Result<Self, RunError> {
        let model = config
            .train
            .model
            .preset_name()
            .unwrap_or(match config.train.model {
                ModelSpec::Mlp { .. } => "mlp-custom",
                ModelSpec::Cnn { .. } => "cnn-custom",
            });
        let name = stamped_name(&config.created, &format!("{model}-seed{}", config.train.seed));
        create_root(root)?;
        // Another thread (a sweep's trials on several devices) may take the same name between
        // the check and the creation: take the next free one then.
        let mut attempts = 0;
        let path = loop {
            let path = free_path(root, &name);
            match std::fs::create_dir(&path) {
                Ok(()) => break path,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 100 => attempts += 1,
                Err(e) => return Err(io(&path)(e)),
            }
        };
        let dir = Self { path };
        write_json(&dir.config_path(), config)?;
        Ok(dir)
    }

    /// Creates run folder `root/name` (or `name-2`, … when taken) all at once: `config.json`
    /// and whatever `write` puts in it are written into a temporary folder that is renamed
    /// into place only when everything succeeded, so a failure leaves no half-written run.
    pub fn create_with_model(
        root: &Path,
        name: &str,
        config: &RunConfig,
        write: impl FnOnce(&RunDir) -> Result<(), RunError>,
    ) -> Result<Self, RunError> {
        create_root(root)?;
        let partial = root.join(format!(".{name}.partial-{}", std::process::id()));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
        }
        std::fs::create_dir(&partial).map_err(io(&partial))?;
        let staged = Self {
            path: partial.clone(),
        };
        let filled = write_json(&staged.config_path(), config)
            .map_err(RunError::from)
            .and_then(|()| write(&staged));
        if let Err(e) = filled {
            let _ = std::fs::remove_dir_all(&partial); // best effort: the error says what failed
            return Err(e);
        }
        let path = free_path(root, name);
        std::fs::rename(&partial, &path).map_err(io(&path))?;
        Ok(Self { path })
    }

    /// Opens an existing run folder (checks `config.json` is there and readable).
    pub fn open(path: &Path) -> Result<(Self, RunConfig), RunError> {
        let dir = Self {
            path: path.to_path_buf(),
        };
        let config: RunConfig = read_json(&dir.config_path())?;
        // A hand-edited or damaged config must not reach burn (which panics on, e.g., a
        // dropout of 1): the same checks as a new run's.
        config.train.validate().map_err(|e| RunError::Invalid {
            path: dir.config_path(),
            field: e.field.to_string(),
            message: e.message,
        })?;
        config
            .data_source
            .validate()
            .map_err(|(field, message)| RunError::Invalid {
                path: dir.config_path(),
                field,
                message,
            })?;
        Ok((dir, config))
    }

    /// `config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }
    /// `model.bpk`.
    pub fn model_path(&self) -> PathBuf {
        self.path.join("model.bpk")
    }
    /// `optimizer.bpk`.
    pub fn optimizer_path(&self) -> PathBuf {
        self.path.join("optimizer.bpk")
    }
    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }
    /// `steps.csv` (every step's scalars; see [`super::step_log`]).
    pub fn steps_path(&self) -> PathBuf {
        self.path.join("steps.csv")
    }
    /// `summary.json`.
    pub fn summary_path(&self) -> PathBuf {
        self.path.join("summary.json")
    }

    /// Appends an event to `metrics.jsonl`.
    pub fn append_event(&self, event: &Event) -> Result<(), RunError> {
        let line = serde_json::to_string(event).expect("events serialise");
        append_line(&self.metrics_path(), &line).map_err(io(&self.metrics_path()))
    }

    /// All events recorded so far (a torn last line is skipped).
    pub fn read_events(&self) -> Result<Vec<Event>, RunError> {
        let path = self.metrics_path();
        if !path.exists() {
            return Ok(Vec::new());
        }
        // Damaged bytes cost only the lines they fall in, and so do figures no training
        // produces (an accuracy of 1e300 would be drawn and summarised as found).
        let bytes = crate::fsutil::read_capped(&path, crate::fsutil::limits::LOG_BYTES).map_err(io(&path))?;
        let text = String::from_utf8_lossy(&bytes);
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|e| !matches!(e, Event::Epoch { metrics, .. } if !metrics.is_plausible()))
            .collect())
    }

    /// Every event of the run in order, steps included: `metrics.jsonl` merged with
    /// `steps.csv` (older run folders have no step file and give their epoch events only).
    pub fn read_history(&self) -> Result<Vec<Event>, RunError> {
        let events = self.read_events()?;
        let steps = super::step_log::read_steps(&self.steps_path()).map_err(io(&self.steps_path()))?;
        Ok(super::step_log::merge_steps(events, &steps))
    }

    /// Writes `summary.json` from the final event and the recorded epochs.
    pub fn write_summary(&self, outcome: &Event) -> Result<(), RunError> {
        let epochs: Vec<EpochMetrics> = self
            .read_events()?
            .into_iter()
            .filter_map(|e| match e {
                Event::Epoch { metrics, .. } => Some(metrics),
                _ => None,
            })
            .collect();
        let best = epochs
            .iter()
            .filter_map(|m| m.test_accuracy)
            .fold(None, |b: Option<f64>, a| Some(b.map_or(a, |b| b.max(a))));
        let summary = RunSummary {
            outcome: outcome.clone(),
            last_epoch: epochs.last().cloned(),
            best_test_accuracy: best,
        };
        Ok(write_json(&self.summary_path(), &summary)?)
    }

    /// Reads `summary.json`, if the run has ended.
    pub fn read_summary(&self) -> Result<Option<RunSummary>, RunError> {
        if !self.summary_path().exists() {
            return Ok(None);
        }
        Ok(Some(read_json(&self.summary_path())?))
    }
}

/// Creates the runs folder `root` where missing; a file in its place is named as such (the
/// system only says "File exists").
fn create_root(root: &Path) -> Result<(), RunError> {
    if root.exists() && !root.is_dir() {
        return Err(io(root)(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a folder; --runs takes the folder run folders are made in",
        )));
    }
    std::fs::create_dir_all(root).map_err(io(root))
}
