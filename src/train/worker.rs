//! The training loop. [`run_training`] runs it on the calling thread; [`spawn_training`] runs it
//! on a named worker thread and hands back a [`TrainerHandle`] with the event receiver.
//! Control flags are checked before every batch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;

use super::config::{Subset, TrainConfig};
use super::eval::evaluate_unless;
use super::events::{Command, EpochMetrics, Event, FailReason, StopReason};
use super::optim::optimizer;
use super::runs::RunDir;
use super::step_log::StepLog;
use crate::data::{Dataset, batch, subset};
use crate::device::{SelectedDevice, select_device};
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
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_job(job, control, &mut watch)));
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

/// Metrics of a step still on the device, read back with others in one round trip.
struct PendingStep {
    epoch: usize,
    step: usize,
    learning_rate: f64,
    images: usize,
    loss: burn::tensor::Tensor<1>,
    correct: burn::tensor::Tensor<1, burn::tensor::Int>,
}

/// How many steps' metrics to read back at once: every step on this machine, every 25 on a
/// remote device (each read is a network round trip).
fn readback_every(device: &crate::device::SelectedDevice) -> usize {
    if device.backend == crate::device::Backend::Remote {
        25
    } else {
        1
    }
}

/// One epoch's running sums.
#[derive(Debug, Default)]
struct EpochTotals {
    loss_sum: f64,
    correct: usize,
    seen: usize,
    batches: usize,
}

/// Reads every pending step's loss and correct count in one round trip, adds them to `totals`
/// and emits their `Step` events. The step and loss of the first diverged step, if any.
fn flush_steps(
    pending: &mut Vec<PendingStep>,
    totals: &mut EpochTotals,
    run_id: u64,
    start: Instant,
    samples: &mut usize,
    emit: &mut dyn FnMut(Event),
) -> Result<(), (usize, f64)> {
    if pending.is_empty() {
        return Ok(());
    }
    let steps = std::mem::take(pending);
    let losses: Vec<burn::tensor::Tensor<1>> = steps.iter().map(|p| p.loss.clone()).collect();
    let corrects: Vec<_> = steps.iter().map(|p| p.correct.clone()).collect();
    let losses: Vec<f32> = burn::tensor::Tensor::cat(losses, 0)
        .into_data()
        .iter::<f32>()
        .collect();
    let corrects: Vec<i64> = burn::tensor::Tensor::cat(corrects, 0)
        .into_data()
        .iter::<i64>()
        .collect();
    for ((p, loss), correct) in steps.iter().zip(losses).zip(corrects) {
        let loss = loss as f64;
        if !loss.is_finite() || loss > DIVERGED_LOSS {
            return Err((p.step, loss));
        }
        totals.loss_sum += loss;
        totals.correct += correct as usize;
        totals.seen += p.images;
        totals.batches += 1;
        *samples += p.images;
        // Values at f32 precision, as `steps.csv` keeps them: a reopened run shows exactly the
        // curves it showed live.
        let f32_precision = |v: f64| f64::from(v as f32);
        let elapsed = start.elapsed().as_secs_f64();
        emit(Event::Step {
            run_id,
            epoch: p.epoch,
            step: p.step,
            loss,
            accuracy: f32_precision(correct as f64 / p.images as f64),
            learning_rate: f32_precision(p.learning_rate),
            samples_per_sec: f32_precision(*samples as f64 / elapsed.max(1e-9)),
            elapsed_secs: f32_precision(elapsed),
        });
    }
    Ok(())
}

fn run_job(job: TrainJob, control: &Control, emit: &mut dyn FnMut(Event)) -> Option<Model> {
    let run_id = job.run_id;
    let mut step_log = job
        .run_dir
        .as_ref()
        .and_then(|dir| match StepLog::open(&dir.steps_path()) {
            Ok(log) => Some(log),
            Err(e) => {
                eprintln!("warning: cannot write {}: {e}", dir.steps_path().display());
                None
            }
        });
    let mut emit_logged = |event: Event, run_dir: &Option<RunDir>| {
        if let Some(log) = &mut step_log
            && let Err(e) = log.record(&event)
        {
            eprintln!("warning: cannot append to {}: {e}", log.path().display());
            step_log = None;
        }
        if let Some(dir) = run_dir
            && !matches!(event, Event::Step { .. })
        {
            if let Err(e) = dir.append_event(&event) {
                eprintln!("warning: cannot append to metrics.jsonl: {e}");
            }
            // Every run that ends, finished or failed, gets its summary.json.
            if event.is_terminal()
                && let Err(e) = dir.write_summary(&event)
            {
                eprintln!("warning: cannot write summary.json: {e}");
            }
        }
        emit(event);
    };
    let fail = |message: FailReason| Event::Failed {
        run_id,
        reason: message,
    };
    if let Err(e) = job.config.validate() {
        emit_logged(
            fail(FailReason::InvalidConfig {
                message: e.to_string(),
            }),
            &job.run_dir,
        );
        return None;
    }
    if let Err(e) = crate::memory::check_training(&job.config, &job.data) {
        emit_logged(
            fail(FailReason::Error {
                message: e.to_string(),
            }),
            &job.run_dir,
        );
        return None;
    }
    let selected = match job
        .device
        .clone()
        .map(Ok)
        .unwrap_or_else(|| select_device(job.config.device.clone()))
    {
        Ok(d) => d,
        Err(e) => {
            emit_logged(
                fail(FailReason::Error {
                    message: e.to_string(),
                }),
                &job.run_dir,
            );
            return None;
        }
    };
    let config = &job.config;
    let data = &job.data;
    let device = selected.device.clone();
    let ad_device = device.clone().autodiff();
    ad_device.seed(config.seed);
    let (mut model, optimizer_bytes) = match job.resume {
        Some((m, bytes)) => (m.fork(&ad_device).train(), bytes),
        None => (config.model.init(&ad_device), None),
    };
    let mut optim = optimizer(config);
    if let Some(bytes) = optimizer_bytes {
        match optim.from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes)) {
            Ok(o) => optim = o,
            Err(e) => {
                emit_logged(
                    fail(FailReason::Error {
                        message: format!("optimizer state does not fit this model: {e}"),
                    }),
                    &job.run_dir,
                );
                return None;
            }
        }
    }
    let loss_fn = CrossEntropyLossConfig::new().init(&ad_device);
    let mut order = training_indices(config, data);
    let batch_size = config.batch_size.min(order.len()).max(1);
    let steps_per_epoch = order.len().div_ceil(batch_size);
    let total_steps = steps_per_epoch * config.epochs;
    emit_logged(
        Event::Started {
            run_id,
            device: selected.name.clone(),
            train_size: order.len(),
            test_size: data.test.len(),
            steps_per_epoch,
            parameters: config.model.param_count(),
        },
        &job.run_dir,
    );
    let full_batch = batch_size >= order.len();
    let mut shuffle_rng = Rng::derive(config.seed, 0x5EED);
    let mut augment_rng = Rng::derive(config.seed, 0xA06);
    let start = Instant::now();
    let mut step = 0usize;
    let mut samples = 0usize;
    let mut epochs_done = 0usize;
    let mut last_test_accuracy = None;
    let remote = selected.backend == crate::device::Backend::Remote;
    let publish = |model: &Model| {
        if let Some(slot) = &job.model_slot
            && let Ok(mut guard) = slot.lock()
        {
            // A remote model is copied to this machine: the pad predicts without the network.
            *guard = Some(if remote {
                model.valid().fork(&burn::tensor::Device::flex())
            } else {
                model.valid()
            });
        }
    };
    let mut stop = StopReason::EpochsDone;
    let every = readback_every(&selected);
    'epochs: for epoch in 0..config.epochs {
        if !full_batch {
            shuffle_rng.shuffle(&mut order);
        }
        let mut totals = EpochTotals::default();
        let mut pending: Vec<PendingStep> = Vec::new();
        let mut lr = config.learning_rate;
        // Reads the pending steps' metrics back (one round trip) and reports them; a diverged
        // loss ends the run.
        macro_rules! flush {
            () => {
                if let Err((at, loss)) = flush_steps(
                    &mut pending,
                    &mut totals,
                    run_id,
                    start,
                    &mut samples,
                    &mut |e| emit_logged(e, &job.run_dir),
                ) {
                    emit_logged(
                        fail(FailReason::Diverged {
                            step: at,
                            loss: format!("{loss}"),
                        }),
                        &job.run_dir,
                    );
                    return Some(model.valid());
                }
            };
        }
        for chunk in order.chunks(batch_size) {
            while control.is_paused() && !control.is_cancelled() {
                std::thread::sleep(Duration::from_millis(20));
            }
            if control.is_cancelled() {
                flush!();
                stop = StopReason::Cancelled;
                break 'epochs;
            }
            lr = config
                .schedule
                .rate(config.learning_rate, epoch, step, total_steps);
            let augment = config.augment.then_some(&mut augment_rng);
            let (x, y) = batch::batch(&data.train, chunk, augment, &ad_device);
            let logits = model.forward(x); // [batch, 10]
            let loss = loss_fn.forward(logits.clone(), y.clone()); // [1]
            step += 1;
            let correct = logits.argmax(1).reshape([chunk.len()]).equal(y).int().sum(); // [1]
            pending.push(PendingStep {
                epoch: epoch + 1,
                step,
                learning_rate: lr,
                images: chunk.len(),
                loss: loss.clone().inner(),
                correct: correct.inner(),
            });
            if pending.len() >= every {
                flush!(); // before the update, so a diverged step never changes the weights
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            if step.is_multiple_of(25) {
                publish(&model);
            }
            if let Some(budget) = config.time_budget_secs
                && start.elapsed().as_secs_f64() >= budget
            {
                stop = StopReason::TimeBudget;
                break;
            }
        }
        flush!();
        let EpochTotals {
            loss_sum,
            correct,
            seen,
            batches,
        } = totals;
        let train_accuracy = correct as f64 / seen.max(1) as f64;
        // Stop is honoured between evaluation batches too; a stopped evaluation leaves the
        // epoch without test figures.
        let report = config
            .evaluate_each_epoch
            .then(|| evaluate_unless(&model, &data.test, &device, &|| control.is_cancelled()))
            .flatten();
        if report.is_none() && config.evaluate_each_epoch {
            stop = StopReason::Cancelled;
        }
        last_test_accuracy = report.as_ref().map(|r| r.accuracy);
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            train_loss: loss_sum / batches.max(1) as f64,
            train_accuracy,
            test_loss: report.as_ref().map(|r| r.loss),
            test_accuracy: last_test_accuracy,
            per_class_accuracy: report.as_ref().map(|r| r.per_class_accuracy),
            confusion: report.as_ref().map(|r| r.confusion),
            learning_rate: lr,
            elapsed_secs: start.elapsed().as_secs_f64(),
        };
        epochs_done = epoch + 1;
        publish(&model);
        if let Some(dir) = &job.run_dir
            && let Err(e) = dir.save_checkpoint(&model, &optim)
        {
            emit_logged(
                fail(FailReason::Error {
                    message: e.to_string(),
                }),
                &job.run_dir,
            );
            return Some(model.valid());
        }
        emit_logged(Event::Epoch { run_id, metrics }, &job.run_dir);
        if matches!(stop, StopReason::TimeBudget | StopReason::Cancelled) {
            break;
        }
        if config.target_train_accuracy.is_some_and(|t| train_accuracy >= t) {
            stop = StopReason::TargetReached;
            break;
        }
    }
    let finished = Event::Finished {
        run_id,
        reason: stop,
        epochs: epochs_done,
        steps: step,
        test_accuracy: last_test_accuracy,
        elapsed_secs: start.elapsed().as_secs_f64(),
    };
    emit_logged(finished, &job.run_dir);
    Some(model.valid())
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
