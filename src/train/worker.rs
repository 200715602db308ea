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
use super::eval::evaluate;
use super::events::{Command, EpochMetrics, Event, FailReason, StopReason};
use super::optim::optimizer;
use super::runs::RunDir;
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
/// final model when at least the initialisation succeeded.
pub fn run_training(job: TrainJob, control: &Control, emit: &mut dyn FnMut(Event)) -> Option<Model> {
    let run_id = job.run_id;
    let mut emit_logged = |event: Event, run_dir: &Option<RunDir>| {
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
    let selected = match job
        .device
        .clone()
        .map(Ok)
        .unwrap_or_else(|| select_device(job.config.device))
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
            parameters: model.num_params(),
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
    let publish = |model: &Model| {
        if let Some(slot) = &job.model_slot
            && let Ok(mut guard) = slot.lock()
        {
            *guard = Some(model.valid());
        }
    };
    let mut stop = StopReason::EpochsDone;
    'epochs: for epoch in 0..config.epochs {
        if !full_batch {
            shuffle_rng.shuffle(&mut order);
        }
        let (mut loss_sum, mut correct, mut seen, mut batches) = (0.0f64, 0usize, 0usize, 0usize);
        let mut lr = config.learning_rate;
        for chunk in order.chunks(batch_size) {
            while control.is_paused() && !control.is_cancelled() {
                std::thread::sleep(Duration::from_millis(20));
            }
            if control.is_cancelled() {
                stop = StopReason::Cancelled;
                break 'epochs;
            }
            lr = config
                .schedule
                .rate(config.learning_rate, epoch, step, total_steps);
            let augment = config.augment.then_some(&mut augment_rng);
            let (x, y) = batch::batch(&data.train, chunk, augment, &ad_device);
            let logits = model.forward(x); // [batch, 10]
            let loss = loss_fn.forward(logits.clone(), y.clone());
            let loss_value: f64 = loss.clone().into_scalar::<f32>() as f64;
            step += 1;
            if !loss_value.is_finite() || loss_value > DIVERGED_LOSS {
                emit_logged(
                    fail(FailReason::Diverged {
                        step,
                        loss: format!("{loss_value}"),
                    }),
                    &job.run_dir,
                );
                return Some(model.valid());
            }
            let batch_correct = logits
                .argmax(1)
                .reshape([chunk.len()])
                .equal(y)
                .int()
                .sum()
                .into_scalar::<i64>();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            loss_sum += loss_value;
            correct += batch_correct as usize;
            seen += chunk.len();
            batches += 1;
            samples += chunk.len();
            emit_logged(
                Event::Step {
                    run_id,
                    epoch: epoch + 1,
                    step,
                    loss: loss_value,
                    accuracy: batch_correct as f64 / chunk.len() as f64,
                    learning_rate: lr,
                    samples_per_sec: samples as f64 / start.elapsed().as_secs_f64().max(1e-9),
                },
                &job.run_dir,
            );
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
        let train_accuracy = correct as f64 / seen.max(1) as f64;
        let report = config
            .evaluate_each_epoch
            .then(|| evaluate(&model, &data.test, &device));
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
        if stop == StopReason::TimeBudget {
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
