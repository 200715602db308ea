//! One training run from its configuration to its last event, in three parts:
//! [`Session::setup`] (device, model, optimiser, data order), [`Session::step`] (one batch:
//! forward, metrics kept on the device, backward, update) and [`Session::end_epoch`]
//! (evaluation, checkpoint, the `Epoch` event). [`EventLog`] writes each event where it
//! belongs in the run folder before passing it on. [`run_job`] strings them together;
//! `worker::run_training` wraps it to turn a panic into a failure.

use std::time::{Duration, Instant};

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Device;

use super::eval::evaluate_unless;
use super::events::{EpochMetrics, Event, FailReason, StopReason};
use super::job::{Control, DIVERGED_LOSS, TrainJob, training_indices};
use super::optim::optimizer;
use crate::data::batch;
use crate::device::{Backend, SelectedDevice, select_device};
use crate::model::Model;
use crate::rng::Rng;
use crate::run::RunDir;
use crate::run::step_log::StepLog;

/// Steps between two publications of the weights for live predictions.
const PUBLISH_EVERY: usize = 25;

/// Passes every event on after writing it where it belongs: steps to `steps.csv`, everything
/// else to `metrics.jsonl`, and the run's end to `summary.json`. A write that fails is
/// reported on stderr and the run goes on (the events still reach the caller).
pub struct EventLog<'a> {
    run_dir: Option<RunDir>,
    steps: Option<StepLog>,
    emit: &'a mut dyn FnMut(Event),
}

impl<'a> EventLog<'a> {
    /// A log into `run_dir` (none: events are only passed on).
    pub fn new(run_dir: Option<RunDir>, emit: &'a mut dyn FnMut(Event)) -> Self {
        let steps = run_dir
            .as_ref()
            .and_then(|dir| match StepLog::open(&dir.steps_path()) {
                Ok(log) => Some(log),
                Err(e) => {
                    eprintln!("warning: cannot write {}: {e}", dir.steps_path().display());
                    None
                }
            });
        Self { run_dir, steps, emit }
    }

    /// Records `event` and passes it on.
    pub fn send(&mut self, event: Event) {
        if let Some(log) = &mut self.steps
            && let Err(e) = log.record(&event)
        {
            eprintln!("warning: cannot append to {}: {e}", log.path().display());
            self.steps = None;
        }
        if let Some(dir) = &self.run_dir
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
        (self.emit)(event);
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

/// One epoch's running sums.
#[derive(Debug, Default)]
struct EpochTotals {
    loss_sum: f64,
    correct: usize,
    seen: usize,
    batches: usize,
}

/// How many steps' metrics to read back at once: every step on this machine, every 25 on a
/// remote device (each read is a network round trip).
fn readback_every(device: &SelectedDevice) -> usize {
    if device.backend == Backend::Remote { 25 } else { 1 }
}

/// Why an epoch ended early.
enum Interrupt {
    /// Stop, or the time budget: the epoch still ends normally.
    Stopped(StopReason),
    /// A diverged loss: the run fails at once.
    Diverged(FailReason),
}

/// A run between its steps: the model, its optimiser and everything the loop carries.
pub struct Session<'j> {
    job: &'j TrainJob,
    selected: SelectedDevice,
    ad_device: Device,
    /// The model being trained; out of its place only while the optimiser updates it.
    model: Option<Model>,
    optim: ModuleOptimizer,
    loss_fn: CrossEntropyLoss,
    order: Vec<usize>,
    batch_size: usize,
    total_steps: usize,
    shuffle_rng: Rng,
    augment_rng: Rng,
    start: Instant,
    step: usize,
    samples: usize,
    pending: Vec<PendingStep>,
    totals: EpochTotals,
    learning_rate: f64,
}

impl<'j> Session<'j> {
    /// Checks the job, chooses the device, builds (or resumes) the model and optimiser, orders
    /// the training images and sends `Started`. The reason it cannot start otherwise.
    pub fn setup(job: &'j TrainJob, log: &mut EventLog<'_>) -> Result<Self, FailReason> {
        let error = |message: String| FailReason::Error { message };
        let config = &job.config;
        config.validate().map_err(|e| FailReason::InvalidConfig {
            message: e.to_string(),
        })?;
        crate::memory::check_training(config, &job.data).map_err(|e| error(e.to_string()))?;
        let selected = match job.device.clone() {
            Some(d) => d,
            None => select_device(config.device.clone()).map_err(|e| error(e.to_string()))?,
        };
        let ad_device = selected.device.clone().autodiff();
        ad_device.seed(config.seed);
        let (model, optimizer_bytes) = match &job.resume {
            Some((m, bytes)) => (m.clone().fork(&ad_device).train(), bytes.clone()),
            None => (config.model.init(&ad_device), None),
        };
        let mut optim = optimizer(config);
        if let Some(bytes) = optimizer_bytes {
            optim = optim
                .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
                .map_err(|e| error(format!("optimizer state does not fit this model: {e}")))?;
        }
        let order = training_indices(config, &job.data);
        let batch_size = config.batch_size.min(order.len()).max(1);
        let steps_per_epoch = order.len().div_ceil(batch_size);
        log.send(Event::Started {
            run_id: job.run_id,
            device: selected.name.clone(),
            train_size: order.len(),
            test_size: job.data.test.len(),
            steps_per_epoch,
            parameters: config.model.param_count(),
        });
        Ok(Self {
            loss_fn: CrossEntropyLossConfig::new().init(&ad_device),
            job,
            selected,
            ad_device,
            model: Some(model),
            optim,
            total_steps: steps_per_epoch * config.epochs,
            order,
            batch_size,
            shuffle_rng: Rng::derive(config.seed, 0x5EED),
            augment_rng: Rng::derive(config.seed, 0xA06),
            start: Instant::now(),
            step: 0,
            samples: 0,
            pending: Vec::new(),
            totals: EpochTotals::default(),
            learning_rate: config.learning_rate,
        })
    }

    /// The model being trained.
    fn model(&self) -> &Model {
        self.model
            .as_ref()
            .expect("the model is out of its place only during an update")
    }

    /// Publishes the weights (in eval mode) for live predictions; a remote model is copied to
    /// this machine, so the pad predicts without the network.
    fn publish(&self) {
        if let Some(slot) = &self.job.model_slot
            && let Ok(mut guard) = slot.lock()
        {
            *guard = Some(if self.selected.backend == Backend::Remote {
                self.model().valid().fork(&Device::flex())
            } else {
                self.model().valid()
            });
        }
    }

    /// Trains epoch `epoch` (0-based) batch by batch, honouring Pause and Stop before each
    /// and the time budget after each.
    fn train_epoch(
        &mut self,
        epoch: usize,
        control: &Control,
        log: &mut EventLog<'_>,
    ) -> Result<(), Interrupt> {
        if self.batch_size < self.order.len() {
            self.shuffle_rng.shuffle(&mut self.order);
        }
        self.totals = EpochTotals::default();
        let order = std::mem::take(&mut self.order);
        let result = (|| {
            for chunk in order.chunks(self.batch_size) {
                while control.is_paused() && !control.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if control.is_cancelled() {
                    return Err(Interrupt::Stopped(StopReason::Cancelled));
                }
                self.step(epoch, chunk, log)?;
                if let Some(budget) = self.job.config.time_budget_secs
                    && self.start.elapsed().as_secs_f64() >= budget
                {
                    return Err(Interrupt::Stopped(StopReason::TimeBudget));
                }
            }
            Ok(())
        })();
        self.order = order;
        // Whatever ended the epoch, the steps taken are reported.
        self.flush(log).map_err(Interrupt::Diverged)?;
        result
    }

    /// One batch: forward, the loss and correct count kept on the device (read back every
    /// few steps), backward and the optimiser's update.
    fn step(&mut self, epoch: usize, chunk: &[usize], log: &mut EventLog<'_>) -> Result<(), Interrupt> {
        let config = &self.job.config;
        self.learning_rate = config
            .schedule
            .rate(config.learning_rate, epoch, self.step, self.total_steps);
        let augment = config.augment.then_some(&mut self.augment_rng);
        let (x, y) = batch::batch(&self.job.data.train, chunk, augment, &self.ad_device);
        let logits = self.model().forward(x); // [batch, 10]
        let loss = self.loss_fn.forward(logits.clone(), y.clone()); // [1]
        self.step += 1;
        let correct = logits.argmax(1).reshape([chunk.len()]).equal(y).int().sum(); // [1]
        self.pending.push(PendingStep {
            epoch: epoch + 1,
            step: self.step,
            learning_rate: self.learning_rate,
            images: chunk.len(),
            loss: loss.clone().inner(),
            correct: correct.inner(),
        });
        if self.pending.len() >= readback_every(&self.selected) {
            // Before the update, so a diverged step never changes the weights.
            self.flush(log).map_err(Interrupt::Diverged)?;
        }
        let model = self
            .model
            .take()
            .expect("the model is in its place between updates");
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optim.step(self.learning_rate, model, grads));
        if self.step.is_multiple_of(PUBLISH_EVERY) {
            self.publish();
        }
        Ok(())
    }

    /// Reads every pending step's loss and correct count back in one round trip, adds them to
    /// the epoch's sums and sends their `Step` events; a diverged loss is the reason to fail.
    fn flush(&mut self, log: &mut EventLog<'_>) -> Result<(), FailReason> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let steps = std::mem::take(&mut self.pending);
        let losses: Vec<f32> = burn::tensor::Tensor::cat(steps.iter().map(|p| p.loss.clone()).collect(), 0)
            .into_data()
            .iter::<f32>()
            .collect();
        let corrects: Vec<i64> =
            burn::tensor::Tensor::cat(steps.iter().map(|p| p.correct.clone()).collect(), 0)
                .into_data()
                .iter::<i64>()
                .collect();
        // Values at f32 precision, as `steps.csv` keeps them: a reopened run shows exactly the
        // curves it showed live.
        let f32_precision = |v: f64| f64::from(v as f32);
        for ((p, loss), correct) in steps.iter().zip(losses).zip(corrects) {
            let loss = f64::from(loss);
            if !loss.is_finite() || loss > DIVERGED_LOSS {
                return Err(FailReason::Diverged {
                    step: p.step,
                    loss: format!("{loss}"),
                });
            }
            self.totals.loss_sum += loss;
            self.totals.correct += correct as usize;
            self.totals.seen += p.images;
            self.totals.batches += 1;
            self.samples += p.images;
            let elapsed = self.start.elapsed().as_secs_f64();
            log.send(Event::Step {
                run_id: self.job.run_id,
                epoch: p.epoch,
                step: p.step,
                loss,
                accuracy: f32_precision(correct as f64 / p.images as f64),
                learning_rate: f32_precision(p.learning_rate),
                samples_per_sec: f32_precision(self.samples as f64 / elapsed.max(1e-9)),
                elapsed_secs: f32_precision(elapsed),
            });
        }
        Ok(())
    }

    /// Ends epoch `epoch`: evaluates the test set (Stop is honoured between its batches; a
    /// stopped evaluation leaves the epoch without test figures), saves the checkpoint,
    /// publishes the weights and sends `Epoch`. The metrics, or the reason the run fails.
    fn end_epoch(
        &mut self,
        epoch: usize,
        control: &Control,
        log: &mut EventLog<'_>,
    ) -> Result<EpochMetrics, FailReason> {
        let config = &self.job.config;
        let totals = std::mem::take(&mut self.totals);
        let report = config
            .evaluate_each_epoch
            .then(|| {
                evaluate_unless(self.model(), &self.job.data.test, &self.selected.device, &mut |_| {
                    control.is_cancelled()
                })
            })
            .flatten();
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            train_loss: totals.loss_sum / totals.batches.max(1) as f64,
            train_accuracy: totals.correct as f64 / totals.seen.max(1) as f64,
            test_loss: report.as_ref().map(|r| r.loss),
            test_accuracy: report.as_ref().map(|r| r.accuracy),
            per_class_accuracy: report.as_ref().map(|r| r.per_class_accuracy),
            confusion: report.as_ref().map(|r| r.confusion),
            learning_rate: self.learning_rate,
            elapsed_secs: self.start.elapsed().as_secs_f64(),
        };
        self.publish();
        if let Some(dir) = &self.job.run_dir {
            dir.save_checkpoint(self.model(), &self.optim)
                .map_err(|e| FailReason::Error {
                    message: e.to_string(),
                })?;
        }
        log.send(Event::Epoch {
            run_id: self.job.run_id,
            metrics: metrics.clone(),
        });
        Ok(metrics)
    }
}

/// Runs `job` to its end on this thread: every event goes through an [`EventLog`] to `emit`.
/// Returns the final model (eval mode) once the run started.
pub fn run_job(job: TrainJob, control: &Control, emit: &mut dyn FnMut(Event)) -> Option<Model> {
    let mut log = EventLog::new(job.run_dir.clone(), emit);
    let run_id = job.run_id;
    let fail = |reason: FailReason| Event::Failed { run_id, reason };
    let mut session = match Session::setup(&job, &mut log) {
        Ok(s) => s,
        Err(reason) => {
            log.send(fail(reason));
            return None;
        }
    };
    let mut stop = StopReason::EpochsDone;
    let mut epochs_done = 0;
    let mut last_test_accuracy = None;
    for epoch in 0..job.config.epochs {
        match session.train_epoch(epoch, control, &mut log) {
            Ok(()) => {}
            Err(Interrupt::Stopped(StopReason::Cancelled)) => {
                stop = StopReason::Cancelled;
                break; // a stopped epoch is not evaluated nor saved
            }
            Err(Interrupt::Stopped(reason)) => stop = reason,
            Err(Interrupt::Diverged(reason)) => {
                log.send(fail(reason));
                return Some(session.model().valid());
            }
        }
        let metrics = match session.end_epoch(epoch, control, &mut log) {
            Ok(m) => m,
            Err(reason) => {
                log.send(fail(reason));
                return Some(session.model().valid());
            }
        };
        epochs_done = epoch + 1;
        last_test_accuracy = metrics.test_accuracy;
        if job.config.evaluate_each_epoch && metrics.test_accuracy.is_none() {
            stop = StopReason::Cancelled; // Stop arrived during the evaluation
        }
        if stop != StopReason::EpochsDone {
            break;
        }
        if job
            .config
            .target_train_accuracy
            .is_some_and(|t| metrics.train_accuracy >= t)
        {
            stop = StopReason::TargetReached;
            break;
        }
    }
    log.send(Event::Finished {
        run_id,
        reason: stop,
        epochs: epochs_done,
        steps: session.step,
        test_accuracy: last_test_accuracy,
        elapsed_secs: session.start.elapsed().as_secs_f64(),
    });
    Some(session.model().valid())
}
