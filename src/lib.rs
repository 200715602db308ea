//! MNIST Workbench: an engine for training and inspecting small digit classifiers, and the
//! desktop app that drives it.
//!
//! What lives where:
//! - [`data`]: IDX files, finding and downloading MNIST, the built-in synthetic digits,
//!   stratified subsets, augmentation and batching into tensors.
//! - [`model`]: the model families (MLP, parametric CNN and its named presets), each a burn
//!   `Config` with `init(&device)` and a `forward_with_activations` for inspection.
//! - [`train`]: the training loop on a named worker thread, its `Command` / `Event` messages,
//!   metrics, run folders and checkpoints.
//! - [`analysis`]: pure functions behind the inspection panels (colormaps, atlases,
//!   confusion scores, calibration, errors, top-activating search, dataset statistics) and
//!   the `mnist-analysis` worker thread for the heavy model passes.
//! - [`experiment`]: many-model experiments (seeds S0, S2, S3) on the `mnist-experiment` thread.
//! - [`probe`]: probes of one model (row sweeps, ablation, saliency, embeddings,
//!   cross-dataset, labelled drawings) on the `mnist-probe` thread.
//! - [`interop`]: PyTorch checkpoints in (`import`) and out (`export`, with a `model.py`).
//! - [`figure`], [`report`]: figures drawn on the CPU without a window (`report`, exports).
//! - [`kernels`]: our own fused CPU kernels (conv → BatchNorm → ReLU → pool) added to burn
//!   through its backend extension; other backends compose burn's standard ops.
//! - [`device`]: choosing between wgpu (hardware GPU) and flex (CPU); [`remote`]: another
//!   machine's device through burn-remote (`serve`, `--device remote://HOST:PORT`).
//! - [`preprocess`]: turning any digit picture into an MNIST-style 28×28 input.
//! - [`bench`]: the benchmark tasks of the project's benchmark spec.
//!
//! The engine never imports egui: the desktop app talks to it only through this API.

pub mod analysis;
pub mod bench;
pub mod data;
pub mod device;
pub mod experiment;
pub mod figure;
pub mod fsutil;
pub mod interop;
pub mod jobs;
pub mod kernels;
pub mod memory;
pub mod model;
pub mod pad;
pub mod preprocess;
pub mod probe;
pub mod remote;
pub mod report;
pub mod rng;
pub mod textfmt;
pub mod train;
pub mod ui;
