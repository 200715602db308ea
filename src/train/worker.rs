//! Running training jobs: [`run_training`] runs one on the calling thread (the loop itself is
//! [`super::session`]), turning a panic into a failure; [`spawn_training`] runs it on a named
//! worker thread and hands back a [`TrainerHandle`] with the event receiver. Control flags are
//! checked before every batch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use super::config::{Subset, TrainConfig};
use super::events::{Command, Event, FailReason};
use super::runs::RunDir;
use crate::data::{Dataset, subset};
use crate::device::SelectedDevice;
use crate::model::Model;
use crate::rng::Rng;

/// A batch loss above this counts as divergence (chance level is ln 10 ≈ 2.3).
pub const DIVERGED_LOSS: f64 = 1e3;

/// Flags the loop checks before every batch.
#[derive(Debug, Default)]
pub struct Control {
    cancel: AtomicBool,
    paused: AtomicBool,
}

impl Control {
    /// Applies a command.
    pub fn apply(&self, command: Command) {
        match command {
            Command::Pause => self.paused.store(true, Ordering::SeqCst),
            Command::Resume => self.paused.store(false, Ordering::SeqCst),
            Command::Stop => self.cancel.store(true, Ordering::SeqCst),
        }
    }

    /// Whether a stop was requested.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Whether the run is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
}

/// The latest weights, published for live predictions (latest wins).
pub type ModelSlot = Arc<Mutex<Option<Model>>>;

/// A training job.
pub struct TrainJob {
    /// Id carried by every event.
    pub run_id: u64,
    /// What to train.
    pub config: TrainConfig,
    /// The data.
    pub data: Arc<Dataset>,
    /// Where to save checkpoints, metrics and the summary (none: nothing is written).
    pub run_dir: Option<RunDir>,
    /// Weights (and optimiser state bytes) to continue from.
    pub resume: Option<(Model, Option<Vec<u8>>)>,
    /// A device chosen beforehand; otherwise `config.device` is resolved.
    pub device: Option<SelectedDevice>,
    /// Receives a copy of the weights in eval mode every few steps and each epoch.
    pub model_slot: Option<ModelSlot>,
}

/// Training image indices for a config's subset.
pub fn training_indices(config: &TrainConfig, data: &Dataset) -> Vec<usize> {
    match config.subset {
        Subset::All => (0..data.train.len()).collect(),
        Subset::PerDigit { k } => {
            subset::k_per_digit(&data.train.labels, k, &mut Rng::derive(config.seed, 0x5B5E7))
        }
        Subset::Fraction { fraction } => {
            subset::fraction_per_digit(&data.train.labels, fraction, config.seed)
        }
    }
}

/// Runs a whole training job on this thread, sending every event to `emit`. Returns the
/// final model when at least the initialisation succeeded. A panic inside burn (a remote server
/// that went away, a backend failure) ends the run with a `Failed` event and `summary.json`
/// like any failure, instead of leaving it "running": checkpoints on disk stay those of the
/// last finished epoch.
pub fn run_training(job: TrainJob, control: &Control, emit: &mut dyn FnMut(Event)) -> Option<Model> {
    let run_id = job.run_id;
    let run_dir = job.run_dir.clone();
    let remote = matches!(job.config.device, crate::device::DeviceChoice::Remote(_))
        || job
            .device
            .as_ref()
            .is_some_and(|d| d.backend == crate::device::Backend::Remote);
    let mut ended = false;
    let mut watch = |event: Event| {
        ended |= event.is_terminal();
        emit(event);
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        super::session::run_job(job, control, &mut watch)
    }));
    match outcome {
        Ok(model) => model,
        Err(panic) => {
            let detail = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no details");
            let message = if remote {
                format!("connection lost: the remote server stopped answering ({detail})")
            } else {
                format!("internal error: {detail}")
            };
            let failed = Event::Failed {
                run_id,
                reason: FailReason::Error { message },
            };
            if let Some(dir) = &run_dir
                && !ended
            {
                // The checkpoint on disk is the last finished epoch's; record how the run ended.
                dir.append_event(&failed).ok();
                dir.write_summary(&failed).ok();
            }
            if !ended {
                emit(failed);
            }
            None
        }
    }
}

/// A training job running on its worker thread.
pub struct TrainerHandle {
    /// Events, in the documented order.
    pub events: Receiver<Event>,
    control: Arc<Control>,
    thread: Option<std::thread::JoinHandle<Option<Model>>>,
}

impl TrainerHandle {
    /// Sends a command; it takes effect before the next batch.
    pub fn send(&self, command: Command) {
        self.control.apply(command);
    }

    /// Whether the worker thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for the worker to end and returns the final model.
    pub fn join(mut self) -> Option<Model> {
        self.thread.take().and_then(|t| t.join().ok().flatten())
    }
}

impl Drop for TrainerHandle {
    fn drop(&mut self) {
        // Dropping the handle stops the worker within one batch.
        self.control.apply(Command::Stop);
    }
}

/// Starts `job` on a thread named `mnist-trainer`. `wake` is called after each event is
/// queued (the app passes its repaint request); a closed receiver stops the worker.
pub fn spawn_training(job: TrainJob, wake: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<TrainerHandle> {
    let control = Arc::new(Control::default());
    let (tx, rx): (Sender<Event>, Receiver<Event>) = channel();
    let worker_control = control.clone();
    let thread = std::thread::Builder::new()
        .name("mnist-trainer".into())
        .spawn(move || {
            let mut emit = |event: Event| {
                if tx.send(event).is_err() {
                    worker_control.apply(Command::Stop);
                }
                wake();
            };
            run_training(job, &worker_control, &mut emit)
        })?;
    Ok(TrainerHandle {
        events: rx,
        control,
        thread: Some(thread),
    })
}
