//! Many-model experiments (seeds [S0, S2, S3](crate#seed-studies)), each with its results
//! folder:
//!
//! - [`ensemble`]: N small models, each trained full-batch on its own k-per-digit sample and
//!   evaluated on the test set, trained together as one [`stacked`] network; the correctness
//!   matrix and its statistics (`analysis::ensemble`).
//! - [`subset_curve`]: the same model trained on growing fractions of the training set.
//! - [`stability`]: repeated test passes of one trained model with dropout left on.
//!
//! - [`sweep`]: a hyperparameter search, every trial a run folder.
//!
//! The ensemble, the size curve and the sweep spread their work items over several devices
//! through [`pool`] (`--device flex,remote://…`).
//!
//! Each is registered as a [`crate::study`] (the `experiment` subcommand, the app's study
//! slot, saving and reloading come from there).

pub mod ensemble;
pub mod ensemble_run;
pub mod pool;
pub mod stability;
pub mod stacked;
pub mod subset_curve;
pub mod sweep;
mod sweep_params;
pub mod train_item;
