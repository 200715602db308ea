//! Training: configuration, the hand-written loop on a named worker thread, its messages,
//! metrics, evaluation, and run folders with checkpoints.

pub mod config;
pub mod eval;
pub mod events;
pub mod history;
pub mod metrics;
pub mod optim;
pub mod run_list;
pub mod runs;
pub mod session;
pub mod step_log;
pub mod worker;

pub use config::{ConfigError, OptimizerKind, Schedule, Subset, TrainConfig};
pub use eval::{EvalReport, evaluate};
pub use events::{Command, EpochMetrics, Event, FailReason, StopReason};
pub use runs::{RunDir, RunError, RunSummary};
pub use worker::{Control, TrainJob, TrainerHandle, run_training, spawn_training};
