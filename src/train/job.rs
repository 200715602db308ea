//! What a training session runs and what it checks: a [`TrainJob`] (config, data, run folder,
//! weights to resume from, device, where to publish weights) and the [`Control`] flags
//! (Stop through the job's cancel token, Pause) the loop reads before every batch. Shared by
//! [`super::session`] (the loop) and [`super::worker`] (which starts it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::config::{Subset, TrainConfig};
use super::events::Command;
use crate::data::{Dataset, subset};
use crate::device::SelectedDevice;
use crate::jobs::CancelToken;
use crate::model::Model;
use crate::rng::Rng;
use crate::run::RunDir;

/// A batch loss above this counts as divergence (chance level is ln 10 ≈ 2.3).
pub const DIVERGED_LOSS: f64 = 1e3;

/// Flags the loop checks before every batch: the job's cancel token and a pause flag.
#[derive(Debug, Default)]
pub struct Control {
    pub(super) cancel: CancelToken,
    paused: AtomicBool,
}

impl Control {
    /// Applies a command.
    pub fn apply(&self, command: Command) {
        match command {
            Command::Pause => self.paused.store(true, Ordering::SeqCst),
            Command::Resume => self.paused.store(false, Ordering::SeqCst),
            Command::Stop => self.cancel.cancel(),
        }
    }

    /// Whether a stop was requested.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
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
