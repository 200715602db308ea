//! What the many-model studies ([`crate::study`]: the ensemble, the size curve, the sweep)
//! share to run many trainings:
//!
//! - [`pool`]: work items fixed before the start, spread over one device or several
//!   (`--device flex,remote://…`); a device that fails leaves and its item runs elsewhere.
//! - [`train_item`]: one ordinary training run as such a work item.
//! - [`stacked`]: many small models of one architecture trained and evaluated together as one
//!   stacked network (seed [S0](crate#seed-studies)'s fifty models).

pub mod pool;
pub mod stacked;
pub mod train_item;
