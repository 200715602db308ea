//! Many-model experiments (seeds S0, S2, S3), each with its results folder:
//!
//! - [`ensemble`]: N small models, each trained full-batch on its own k-per-digit sample and
//!   evaluated on the test set, trained together as one [`stacked`] network; the correctness
//!   matrix and its statistics (`analysis::ensemble`).
//! - [`subset_curve`]: the same model trained on growing fractions of the training set.
//! - [`stability`]: repeated test passes of one trained model with dropout left on.
//!
//! [`worker`] runs any of them on the `mnist-experiment` thread with progress and cancel; the
//! `experiment` subcommand runs them from the command line.

pub mod ensemble;
pub mod stability;
pub mod stacked;
pub mod subset_curve;
pub mod worker;

use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why an experiment stopped or its results could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
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
        /// What went wrong.
        cause: String,
    },
    /// A results file is not what this version writes.
    #[error("{path}: {cause}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        cause: String,
    },
    /// Training a model failed.
    #[error("training failed: {0}")]
    Training(String),
}

impl ExperimentError {
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

/// How far an experiment has got.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// What it is doing, e.g. `training 12/50 models`.
    pub stage: String,
    /// Share of the whole experiment done, 0 to 1.
    pub fraction: f64,
    /// Seconds since it started.
    pub elapsed_secs: f64,
}

impl Progress {
    /// Estimated seconds left, from the pace so far (none before 1 % is done).
    pub fn eta_secs(&self) -> Option<f64> {
        (self.fraction > 0.01 && self.fraction < 1.0)
            .then(|| self.elapsed_secs * (1.0 - self.fraction) / self.fraction)
    }
}

/// What the running experiment needs from its caller: where to report progress and whether
/// to stop (asked every step or batch).
pub struct Reporter<'a> {
    started: Instant,
    on_progress: &'a mut dyn FnMut(Progress),
    cancelled: &'a dyn Fn() -> bool,
}

impl<'a> Reporter<'a> {
    /// A reporter calling `on_progress` and polling `cancelled`.
    pub fn new(on_progress: &'a mut dyn FnMut(Progress), cancelled: &'a dyn Fn() -> bool) -> Self {
        Self {
            started: Instant::now(),
            on_progress,
            cancelled,
        }
    }

    /// Reports progress.
    pub fn progress(&mut self, stage: impl Into<String>, fraction: f64) {
        (self.on_progress)(Progress {
            stage: stage.into(),
            fraction: fraction.clamp(0.0, 1.0),
            elapsed_secs: self.started.elapsed().as_secs_f64(),
        });
    }

    /// `Err(Cancelled)` once the user asked to stop.
    pub fn check(&self) -> Result<(), ExperimentError> {
        if (self.cancelled)() {
            Err(ExperimentError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Seconds since the experiment started.
    pub fn elapsed_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// Writes `value` as pretty JSON to `path` atomically (temporary file, then rename).
pub(crate) fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ExperimentError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ExperimentError::format(path, e))?;
    crate::fsutil::atomic_write(path, text.as_bytes()).map_err(|e| ExperimentError::io(path, e))
}

/// Checks a figure read from a results file: a share (accuracy) must be in [0, 1], a loss or
/// a duration finite and not negative. `field` names it in the error (e.g. `points[0].test_loss`).
pub(crate) fn check_figure(path: &Path, field: &str, value: f64, is_share: bool) -> Result<(), ExperimentError> {
    let ok = if is_share {
        (0.0..=1.0).contains(&value)
    } else {
        value.is_finite() && value >= 0.0
    };
    if ok {
        return Ok(());
    }
    let expected = if is_share { "a share between 0 and 1" } else { "a finite number of at least 0" };
    Err(ExperimentError::format(path, format!("field `{field}` is {value}; expected {expected}")))
}

/// Reads JSON from `path`, naming the file in any error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ExperimentError> {
    let text = crate::fsutil::read_text_capped(path, crate::fsutil::limits::JSON_BYTES)
        .map_err(|e| ExperimentError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ExperimentError::format(path, e))
}

/// Folders directly under `root` holding a results file named `file`, newest first (folder
/// names start with a UTC timestamp).
pub fn list_results(root: &Path, file: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join(file).is_file())
        .collect();
    found.sort_by(|a, b| b.file_name().cmp(&a.file_name()));
    found
}

/// A fresh results folder path under `root`: `<UTC timestamp>-<label>` (not yet created).
pub fn new_results_dir(root: &Path, label: &str) -> PathBuf {
    let digits: String = crate::train::runs::utc_timestamp()
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    let stamp = format!("{}-{}", &digits[..8], &digits[8..14]); // as run folders: 20261126-091542
    let mut path = root.join(format!("{stamp}-{label}"));
    let mut n = 2;
    while path.exists() {
        path = root.join(format!("{stamp}-{label}-{n}"));
        n += 1;
    }
    path
}
