//! Run folders, below training, interop and the studies (which all use it): one folder per
//! trained or imported model, named by time ([`naming`]), holding
//!
//! - `config.json` ([`RunConfig`]: everything needed to reproduce the run, with the data's
//!   digests and, for an imported model, where it came from),
//! - `metrics.jsonl` (every event but per-step ones, appended) and `steps.csv` (every step,
//!   [`step_log`]), merged back by [`RunDir::read_history`],
//! - `model.bpk` and `optimizer.bpk` (burnpack, written after each epoch) with
//!   `checkpoint.json` pairing them ([`checkpoint`]),
//! - `summary.json` ([`RunSummary`]: how the run ended, its best figures).
//!
//! Every file but the append-only logs is written to a temporary name and renamed.
//! [`list`] reads a folder of runs for the Runs list and decides which may be deleted;
//! [`json`] is the one reader and writer of the folders' JSON files (results folders too).
//! The module stores the training config and events (`train::config`, `train::events`) but
//! uses nothing else of `train/`; `tests/no_import_cycles.rs` checks it.

pub mod bundled;
pub mod checkpoint;
pub mod config;
pub mod dir;
pub mod json;
pub mod list;
pub mod naming;
pub mod step_log;

use std::path::{Path, PathBuf};

pub use checkpoint::{load_model, save_model, save_model_as_run};
pub use config::{ImportedFrom, RunConfig};
pub use dir::{RunDir, RunSummary};
pub use json::{JsonError, read_json, write_json};
pub use list::{RUN_FILES, RunListing, RunState, delete_run_folder, deletion_refusal, list_runs};
pub use naming::{list_results, new_results_dir, utc_timestamp};

/// Problems with run folders and checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Reading or writing failed.
    // The cause is part of the message (not a `source`), so error chains print it once.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A JSON file is damaged.
    #[error("{path}: not valid run JSON: {detail}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Parser message.
        detail: String,
    },
    /// The checkpoint is damaged or of another architecture.
    #[error("{path}: checkpoint does not load as {expected}: {detail}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// The architecture expected (from config.json).
        expected: String,
        /// What was found instead.
        detail: String,
    },
    /// A readable JSON file holds values the workbench refuses.
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field (as named on the command line).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// There is no checkpoint yet.
    #[error("{0}: no model.bpk in this run folder (did its first epoch finish?)")]
    NoCheckpoint(PathBuf),
}

impl From<JsonError> for RunError {
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::Io { path, cause } => RunError::Io { path, cause },
            JsonError::Syntax { path, cause } => RunError::Json {
                path,
                detail: cause.to_string(),
            },
        }
    }
}

/// Turns an I/O error about `path` into [`RunError::Io`].
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |cause| RunError::Io {
        path: path.to_path_buf(),
        cause,
    }
}
