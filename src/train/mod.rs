//! Training: configuration, the hand-written loop on a named worker thread, its messages,
//! metrics and evaluation. Run folders and checkpoints are [`crate::run`]'s.

pub mod config;
pub mod config_error;
pub mod eval;
pub mod events;
pub mod history;
pub mod job;
pub mod metrics;
pub mod optim;
pub mod optimizers;
pub mod session;
pub mod worker;

pub use config::{Schedule, Subset, TrainConfig};
pub use config_error::ConfigError;
pub use eval::{EvalReport, evaluate};
pub use events::{Command, EpochMetrics, Event, FailReason, StopReason};
pub use job::{Control, TrainJob};
pub use optimizers::{OPTIMIZERS, OptimizerInfo, OptimizerSpec};
pub use worker::{TrainerHandle, run_training, spawn_training};
