//! Messages between the training worker and whoever drives it (CLI, app, tests).
//!
//! Event order for one run: `Started`, then `Step` for every batch, with an `Epoch` after the
//! last step of each epoch, then exactly one of `Finished` or `Failed`. Every event carries the
//! run id so late events of a cancelled run can be told apart.

use serde::{Deserialize, Serialize};

/// Commands from the driver to the worker, applied at the next batch boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Hold before the next batch until `Resume` or `Stop`.
    Pause,
    /// Continue after `Pause`.
    Resume,
    /// Stop after the current batch; the last finished epoch's checkpoint stays valid.
    Stop,
}

/// Metrics after one epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    /// Training accuracy over the epoch (as the model was while training).
    pub train_accuracy: f64,
    /// Test-set loss (when evaluated).
    pub test_loss: Option<f64>,
    /// Test-set accuracy (when evaluated).
    pub test_accuracy: Option<f64>,
    /// Test accuracy per digit.
    pub per_class_accuracy: Option<[f64; 10]>,
    /// Test confusion matrix, `[true][predicted]`.
    pub confusion: Option<[[u32; 10]; 10]>,
    /// Learning rate at the end of the epoch.
    pub learning_rate: f64,
    /// Seconds since the run started.
    pub elapsed_secs: f64,
}

impl EpochMetrics {
    /// Whether every figure is one training can produce: accuracies in [0, 1], losses,
    /// the learning rate and the time finite and not negative, an epoch number from 1. A line
    /// of `metrics.jsonl` that fails this is damaged, like one that does not parse.
    pub fn is_plausible(&self) -> bool {
        let share = |v: f64| (0.0..=1.0).contains(&v);
        let amount = |v: f64| v.is_finite() && v >= 0.0;
        self.epoch >= 1
            && self.epoch <= u32::MAX as usize
            && amount(self.train_loss)
            && share(self.train_accuracy)
            && self.test_loss.is_none_or(amount)
            && self.test_accuracy.is_none_or(share)
            && self.per_class_accuracy.is_none_or(|p| p.iter().all(|&v| share(v)))
            && amount(self.learning_rate)
            && amount(self.elapsed_secs)
    }
}

/// Why a run ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All epochs done.
    EpochsDone,
    /// Training accuracy reached the target.
    TargetReached,
    /// The time budget ran out.
    TimeBudget,
    /// The user stopped it.
    Cancelled,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::EpochsDone => "all epochs done",
            StopReason::TargetReached => "target accuracy reached",
            StopReason::TimeBudget => "time budget used",
            StopReason::Cancelled => "stopped",
        })
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailReason {
    /// Loss became NaN, infinite, or exploded past a thousand.
    Diverged {
        /// Step at which it happened.
        step: usize,
        /// The value seen.
        loss: String,
    },
    /// Configuration was refused.
    InvalidConfig {
        /// Why.
        message: String,
    },
    /// Anything else (device, disk, data).
    Error {
        /// What happened.
        message: String,
    },
}

impl std::fmt::Display for FailReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailReason::Diverged { step, loss } => write!(
                f,
                "diverged: loss reached {loss} at step {step}; lower the learning rate"
            ),
            FailReason::InvalidConfig { message } => write!(f, "invalid configuration: {message}"),
            FailReason::Error { message } => f.write_str(message),
        }
    }
}

/// Events from the worker, in the order documented above.
// `Epoch` carries the confusion matrix (400 bytes); events are sent a few hundred times a
// second at most, so boxing would only add an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run began.
    Started {
        /// Run id.
        run_id: u64,
        /// Device name.
        device: String,
        /// Training images used.
        train_size: usize,
        /// Test images.
        test_size: usize,
        /// Batches per epoch.
        steps_per_epoch: usize,
        /// Parameters in the model.
        parameters: usize,
    },
    /// One optimiser step finished.
    Step {
        /// Run id.
        run_id: u64,
        /// 1-based epoch.
        epoch: usize,
        /// 1-based global step.
        step: usize,
        /// Batch loss.
        loss: f64,
        /// Batch accuracy.
        accuracy: f64,
        /// Learning rate used.
        learning_rate: f64,
        /// Training throughput so far.
        samples_per_sec: f64,
        /// Seconds since the run started (0 in records from before it was kept).
        #[serde(default)]
        elapsed_secs: f64,
    },
    /// An epoch finished (and was evaluated).
    Epoch {
        /// Run id.
        run_id: u64,
        /// The metrics.
        metrics: EpochMetrics,
    },
    /// The run ended normally.
    Finished {
        /// Run id.
        run_id: u64,
        /// Why it stopped.
        reason: StopReason,
        /// Epochs completed.
        epochs: usize,
        /// Steps taken.
        steps: usize,
        /// Final test accuracy, when evaluated.
        test_accuracy: Option<f64>,
        /// Wall time.
        elapsed_secs: f64,
    },
    /// The run failed.
    Failed {
        /// Run id.
        run_id: u64,
        /// Why.
        reason: FailReason,
    },
}

impl Event {
    /// The run this event belongs to.
    pub fn run_id(&self) -> u64 {
        match self {
            Event::Started { run_id, .. }
            | Event::Step { run_id, .. }
            | Event::Epoch { run_id, .. }
            | Event::Finished { run_id, .. }
            | Event::Failed { run_id, .. } => *run_id,
        }
    }

    /// Whether this is the last event of a run.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Event::Finished { .. } | Event::Failed { .. })
    }
}
