//! Analysis: pure functions over evaluation results, activations and datasets (colormaps,
//! image atlases, confusion scores, calibration, error lists, top-activating search, dataset
//! statistics, means and correlations of repeated measurements), plus [`worker`], which
//! runs the heavy model passes (test-set evaluation, activation peaks) on a named thread so
//! the window never waits for them.

pub mod calibration;
pub mod colormap;
pub mod confusion;
pub mod dataset;
pub mod errors;
pub mod pca;
pub mod pixels;
pub mod rows;
pub mod scatter;
pub mod stats;
pub mod topk;
pub mod tsne;
pub mod worker;
