//! MNIST Workbench: an engine for training and inspecting small digit classifiers, and the
//! desktop app that drives it.
//!
//! What lives where:
//! - [`data`]: IDX files, finding and downloading MNIST, the built-in synthetic digits,
//!   stratified subsets, augmentation and batching into tensors.
//! - [`model`]: the model families (MLP, parametric CNN and its named presets), each a burn
//!   `Config` with `init(&device)` and a `forward_with_activations` for inspection.
//! - [`train`]: the training loop on a named worker thread, its `Command` / `Event` messages,
//!   metrics and evaluation.
//! - [`run`]: run folders (config, event and step logs, checkpoints, summary), the Runs list,
//!   time-stamped folder names and the JSON files of run and results folders.
//! - [`analysis`]: pure functions behind the inspection panels (colormaps, atlases,
//!   confusion scores, calibration, errors, top-activating search, dataset statistics) and
//!   the `mnist-analysis` worker thread for the heavy model passes.
//! - [`study`]: every probe and experiment the workbench runs on a model or many (seeds
//!   [S0-S3](#seed-studies)), one file (or one folder) each, registered in one list from
//!   which the CLI subcommands, the app's study slots and the results folders come.
//! - [`experiment`]: what the many-model studies share: the device pool, a training run as
//!   a work item, the stacked training of many small models.
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
//!
//! ## Seed studies
//!
//! The workbench grew out of five earlier MNIST studies, its *seeds*, named S0-S4 throughout
//! the code and docs. Each is one notebook or project README; the workbench reproduces its
//! questions without writing code, and a comment that says "seed S1: 7" gives the value that
//! study used.
//!
//! - **S0**, digit-correlation notebook: 50 small CNNs, each trained full-batch with AdamW on
//!   its own 2-per-digit sample until 99 % training accuracy, then tested; model-model and
//!   digit-digit correlations, per-image difficulty, hardest and easiest images. Here: the
//!   Ensemble panel and `experiment ensemble` ([`study::ensemble`], its statistics in
//!   [`study::ensemble::EnsembleStats`]); the `small-cnn` preset is its `SmallCNN`.
//! - **S1**, "MNIST 1 vs 7" lab notes: an MLP with dropout; rows of a 7 erased by hand (a
//!   binary search for the rows that make it a 1), a bar added to a 1, then the units whose
//!   1-vs-7 mean activations differ most zeroed against random ablations. Here: the Row sweep
//!   and Ablation panels, `probe row-sweep` and `probe ablation` ([`study::row_sweep`],
//!   [`study::ablation`]), and the dropout-on option ([`model::mc`]).
//! - **S2**, an analysis notebook of a trained ConvNet: test loss and accuracy against
//!   training-set size (1/16 … all), its mistakes, kernels and confusion matrix, and a t-SNE
//!   (perplexity 30) of the penultimate layer with nearest neighbours. Here: the Size curve
//!   panel and `experiment subset-curve` ([`study::subset_curve`]), the Embedding panel
//!   and `probe embed` ([`study::embed`], [`analysis::tsne`]).
//! - **S3**, a CNN project README: a ~1M-parameter CNN (BatchNorm, dropout 0.4) trained with
//!   augmentation on MNIST and tested on EMNIST digits, a stability test (test passes with
//!   dropout on, std < 0.5 %), nine figures and a drawing web demo with feedback. Here: the
//!   `seed3-cnn` preset and `--augment`, `report` (the nine figures, [`report`]), the
//!   Cross-dataset and Stability panels, `probe cross-dataset` and `experiment stability`
//!   ([`study::cross_dataset`], [`study::stability`]), and feedback under the pad
//!   ([`study::feedback`]).
//! - **S4**, an MNIST study-platform README: data inspection (sample grid, label
//!   distribution), a 784-128-64-10 fully connected net and a conv net, TensorBoard curves,
//!   confusion matrices and a draw-and-predict window. Here: the `mlp` preset, the Dataset
//!   panel ([`analysis::dataset`]), the dashboard and the pad.

pub mod analysis;
pub mod bench;
pub mod burn_settings;
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
pub mod panics;
pub mod preprocess;
pub mod remote;
pub mod report;
pub mod rng;
pub mod run;
pub mod study;
pub mod textfmt;
pub mod train;
pub mod ui;
