//! The runs folder seen from outside: each run folder's listing (config, how it ended, best
//! figures) for the Runs panel, and which folders may be deleted as runs.

use std::path::{Path, PathBuf};

use super::config::RunConfig;
use super::dir::RunDir;
use super::json::read_json;
use crate::train::events::{Event, StopReason};

/// How a run folder looks from the outside, for the Runs list.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// No summary yet: still training, or the program stopped without one.
    Unfinished,
    /// Ended normally.
    Finished(StopReason),
    /// Ended with an error.
    Failed(String),
    /// Weights imported from a PyTorch checkpoint, not trained here.
    Imported,
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use StopReason as S;
        match self {
            RunState::Unfinished => f.write_str("unfinished"),
            RunState::Finished(S::EpochsDone) => f.write_str("finished"),
            RunState::Finished(S::TargetReached) => f.write_str("target reached"),
            RunState::Finished(S::TimeBudget) => f.write_str("time budget"),
            RunState::Finished(S::Cancelled) => f.write_str("stopped"),
            RunState::Failed(m) => write!(f, "failed: {m}"),
            RunState::Imported => f.write_str("imported"),
        }
    }
}

/// One entry of [`list_runs`].
#[derive(Debug, Clone)]
pub struct RunListing {
    /// The folder.
    pub path: PathBuf,
    /// Its config, when readable.
    pub config: Result<RunConfig, String>,
    /// How it ended.
    pub state: RunState,
    /// Best test accuracy.
    pub best_test_accuracy: Option<f64>,
    /// Whether `model.bpk` exists.
    pub has_checkpoint: bool,
}

impl RunListing {
    /// Reads a run folder's config and summary; damaged files are reported, not fatal.
    pub fn read(path: &Path) -> RunListing {
        let dir = RunDir {
            path: path.to_path_buf(),
        };
        let config = RunDir::open(path).map(|(_, c)| c).map_err(|e| e.to_string());
        let summary = dir.read_summary();
        let (state, best) = match summary {
            Ok(Some(s)) => (
                match s.outcome {
                    Event::Finished { reason, .. } => RunState::Finished(reason),
                    Event::Failed { reason, .. } => RunState::Failed(reason.to_string()),
                    _ => RunState::Unfinished,
                },
                s.best_test_accuracy,
            ),
            Ok(None) if matches!(&config, Ok(c) if c.imported_from.is_some()) => (RunState::Imported, None),
            Ok(None) => (RunState::Unfinished, None),
            Err(e) => (RunState::Failed(e.to_string()), None),
        };
        RunListing {
            has_checkpoint: dir.model_path().is_file(),
            path: path.to_path_buf(),
            config,
            state,
            best_test_accuracy: best,
        }
    }
}

/// The files a run folder may hold: what the workbench writes, and its temporary files.
pub const RUN_FILES: [&str; 7] = [
    "config.json",
    "metrics.jsonl",
    "steps.csv",
    "summary.json",
    "model.bpk",
    "optimizer.bpk",
    "checkpoint.json",
];

/// Why `path` is not safe to delete as a run folder, if it is not: it must hold a
/// `config.json` that reads as a run's and nothing but the files a run folder holds (so a
/// folder of the user's that happens to hold a config.json is never removed).
pub fn deletion_refusal(path: &Path) -> Option<String> {
    let config = path.join("config.json");
    if !config.is_file() {
        return Some(format!("{} is not a run folder (no config.json)", path.display()));
    }
    if let Err(e) = read_json::<RunConfig>(&config) {
        let e = super::RunError::from(e); // the message a damaged config.json always gave
        return Some(format!(
            "{e}; not a run folder the workbench wrote, so it is kept"
        ));
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    let foreign: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !RUN_FILES.contains(&name.as_str()) && !crate::fsutil::is_temp_name(name))
        .collect();
    (!foreign.is_empty()).then(|| {
        format!(
            "{} holds files a run folder does not ({}); delete it by hand if you mean to",
            path.display(),
            foreign.join(", ")
        )
    })
}

/// Deletes the run folder `path` when [`deletion_refusal`] allows it; otherwise says why and
/// leaves it as it is.
pub fn delete_run_folder(path: &Path) -> Result<(), String> {
    if let Some(reason) = deletion_refusal(path) {
        return Err(reason);
    }
    std::fs::remove_dir_all(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every run folder (a folder with `config.json`) directly under `root`, newest first.
pub fn list_runs(root: &Path) -> Vec<RunListing> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut runs: Vec<RunListing> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("config.json").is_file())
        .map(|p| RunListing::read(&p))
        .collect();
    runs.sort_by(|a, b| b.path.file_name().cmp(&a.path.file_name()));
    runs
}
