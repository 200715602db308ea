//! Every file the app writes on the user's request goes through one job, `mnist-export`
//! ([`Workbench::start_write`]), so the window keeps drawing and the status bar says what was
//! written or why not: a panel's figure (Export…), the model saved as a run folder, the curves
//! as CSV, the pad image as PNG and the labelled drawings. One write at a time; another is
//! refused until it ends.

use std::path::PathBuf;

use super::Workbench;
use crate::jobs::{self, JobError, Outcome};
use crate::model::Model;
use crate::run::RunConfig;

/// What a write is for: decides the status line when it ends (and, for a model, that the
/// Runs list is read again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// A panel's figure and its numbers (Export…).
    Figure,
    /// The current model as a run folder (Save model as…).
    Model,
    /// The training curves as CSV.
    Curves,
    /// The pad image as PNG.
    PadImage,
    /// The labelled drawings as an MNIST-style folder.
    Drawings,
}

/// The write in progress: the key of `Workbench::exports`.
#[derive(Debug, Clone)]
pub struct Writing {
    /// The folder or file written.
    pub target: PathBuf,
    /// What it is.
    pub kind: WriteKind,
}

impl Workbench {
    /// Runs `work` (which writes files and returns those written, or says why it could not)
    /// on the `mnist-export` job; refused with a notice while another write runs.
    /// Starts `work` queued by a panel ([`super::Action::Write`]).
    pub(super) fn start_queued_write(&mut self, target: PathBuf, kind: WriteKind, work: WriteWork) {
        match work.take() {
            Some(work) => self.start_write(target, kind, work),
            None => self.notify("that write was already started", true),
        }
    }

    pub fn start_write(
        &mut self,
        target: PathBuf,
        kind: WriteKind,
        work: impl FnOnce() -> Result<Vec<PathBuf>, String> + Send + 'static,
    ) {
        if let Some(busy) = self.exports.key() {
            let busy = busy.target.display().to_string();
            self.notify(format!("Still writing {busy}; try again when it is done."), true);
            return;
        }
        let job = jobs::spawn("mnist-export", self.wake.clone(), move |_| {
            work().map_err(JobError::Failed)
        });
        match job {
            Ok(job) => self.exports.start(job, Writing { target, kind }),
            Err(e) => self.notify(format!("cannot start writing: {e}"), true),
        }
    }

    /// Writes `model` as a run folder at `path` (never over an existing one) on the write job.
    pub fn write_model(&mut self, model: Model, config: RunConfig, path: PathBuf, summary: Option<PathBuf>) {
        let target = path.clone();
        self.start_write(path, WriteKind::Model, move || {
            crate::run::save_model_as_run(&model, &config, &target, summary.as_deref())
                .map(|()| vec![target.clone()])
                .map_err(|e| format!("Cannot save the model: {e}"))
        });
    }

    /// Writes the bytes `make` returns to `path` atomically on the write job.
    pub fn write_file(
        &mut self,
        path: PathBuf,
        kind: WriteKind,
        make: impl FnOnce() -> Result<Vec<u8>, String> + Send + 'static,
    ) {
        let target = path.clone();
        self.start_write(path, kind, move || {
            let bytes = make()?;
            crate::fsutil::atomic_write(&target, &bytes)
                .map(|()| vec![target.clone()])
                .map_err(|e| format!("Cannot write {}: {e}", target.display()))
        });
    }

    /// Says what the last export wrote, or why it could not.
    pub(super) fn exports_logic(&mut self) {
        let Some((writing, outcome)) = self.exports.poll() else {
            return;
        };
        match outcome {
            Outcome::Finished(written) => {
                let target = writing.target.display();
                let text = match writing.kind {
                    WriteKind::Figure => {
                        let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
                        format!("Wrote {}", names.join(" and "))
                    }
                    WriteKind::Model => format!("Model saved to {target}"),
                    WriteKind::Curves => format!("Curves written to {target}"),
                    WriteKind::PadImage => format!("Pad image written to {target}"),
                    WriteKind::Drawings => format!("Saved the drawn digits in {target}"),
                };
                self.notify(text, false);
            }
            Outcome::Failed(message) => self.notify(message, true),
            Outcome::Cancelled => {}
        }
        if writing.kind == WriteKind::Model {
            self.refresh_runs();
        }
    }
}

/// Work a panel hands to the write job through [`super::Action::Write`]: taken once.
#[derive(Clone)]
pub struct WriteWork(std::sync::Arc<std::sync::Mutex<Option<BoxedWrite>>>);

type BoxedWrite = Box<dyn FnOnce() -> Result<Vec<PathBuf>, String> + Send>;

impl WriteWork {
    /// Wraps `work` (it returns the files written, or why not).
    pub fn new(work: impl FnOnce() -> Result<Vec<PathBuf>, String> + Send + 'static) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(Some(Box::new(work)))))
    }

    /// The work, the first time only.
    fn take(&self) -> Option<BoxedWrite> {
        self.0.lock().ok()?.take()
    }
}

impl std::fmt::Debug for WriteWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteWork")
    }
}
