//! The CPU kernels of the fused blocks, on plain slices (no burn types): testable alone and
//! called by the flex implementation of [`ConvBlockOps`](super::ConvBlockOps).
//!
//! - [`geometry`]: block shapes and the padded NHWC layout every kernel shares.
//! - [`pack`]: burn layouts in, kernel layouts out (padded inputs, repacked weights).
//! - [`gemm`]: bounds-checked strided GEMM (the `gemm` crate flex uses).
//! - [`conv`]: the convolution and its two gradients as implicit GEMMs.
//! - [`isa`]: instruction sets chosen at run time for the hot loops (`multiversion!`).
//! - [`direct`]: the single-channel convolution.
//! - [`moments`]: BatchNorm's batch statistics (two passes per image, merged in f64).
//! - [`norm_pool`]: affine + ReLU + pooling, and their backward.
//! - [`block`]: the whole block forward (training, inference) and backward, parallel over images.

pub mod block;
pub mod conv;
pub mod direct;
pub mod gemm;
pub mod geometry;
pub mod isa;
pub mod moments;
pub mod norm_pool;
pub mod pack;
#[cfg(test)]
mod reference;
