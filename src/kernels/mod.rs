//! Our own fused CPU kernels, added to burn through its backend extension.
//!
//! One CNN block, conv (same padding) → (BatchNorm) → ReLU → 2×2 max pool, is a single op of
//! [`ConvBlockOps`] instead of four burn ops. The trait's default bodies compose burn's standard
//! ops ([`compose`]), so wgpu (`Cube`) and a remote device run exactly what they ran before;
//! flex and autodiff-on-flex get the kernels of [`cpu`]: NHWC inside, convolutions as implicit
//! GEMMs over a padded input (no im2col buffer), a direct kernel for single-channel input,
//! BatchNorm statistics in one pass, ReLU and pooling fused into the normalisation, the weight
//! gradient as GEMMs against the same input rows, all parallel over the images of the batch.
//!
//! Model code calls the tensor-level functions below; they route through `Dispatch` to the
//! backend of the tensors' device.

pub mod adam;
pub mod compose;
pub mod cpu;
mod flex;

use burn::backend::Dispatch;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Cube, ExtensionType, Remote, backend_extension};
use burn::tensor::Tensor;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// Whether flex runs our block kernels (the default) or burn's standard composition.
/// `MNIST_WORKBENCH_KERNELS` chooses at start: `burn` (none of ours), or a comma list of
/// `conv` (the fused blocks) and `adam` (the one-pass optimiser step); unset means both. One
/// binary thus benchmarks each lever alone.
pub fn fused_enabled() -> bool {
    enabled(&FUSED, "conv")
}

/// Whether flex steps Adam and AdamW with the one-pass kernel (see [`fused_enabled`]).
pub fn fused_adam_enabled() -> bool {
    enabled(&FUSED_ADAM, "adam")
}

/// Chooses our block kernels (`true`) or burn's composition on flex from now on, for every
/// thread.
pub fn set_fused(enabled: bool) {
    FUSED.store(if enabled { ON } else { OFF }, Ordering::Relaxed);
}

fn enabled(flag: &AtomicU8, name: &str) -> bool {
    match flag.load(Ordering::Relaxed) {
        UNSET => {
            let on = std::env::var("MNIST_WORKBENCH_KERNELS")
                .map_or(true, |v| v.split(',').any(|part| part.trim() == name));
            flag.store(if on { ON } else { OFF }, Ordering::Relaxed);
            on
        }
        state => state == ON,
    }
}

/// How many block ops our kernels have run in this process (forward passes; a backward pass
/// counts with its forward), so tests and benchmarks can tell they were used.
pub fn fused_calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

pub(crate) fn count_call() {
    CALLS.fetch_add(1, Ordering::Relaxed);
}

static CALLS: AtomicU64 = AtomicU64::new(0);
const UNSET: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;
static FUSED: AtomicU8 = AtomicU8::new(UNSET);
static FUSED_ADAM: AtomicU8 = AtomicU8::new(UNSET);

/// The output of a block normalised with its batch's statistics.
#[derive(ExtensionType)]
pub struct NormalizedBlock<B: Backend> {
    /// Pooled maps `[n, c, h/2, w/2]`.
    pub output: FloatTensor<B>,
    /// Batch mean per channel (no gradient flows through it).
    pub mean: FloatTensor<B>,
    /// Batch variance per channel, biased as burn's `batch_norm_train` computes it.
    pub variance: FloatTensor<B>,
}

/// Fused CNN blocks. Every block is stride 1 with padding `k / 2` and pools 2×2 with stride 2
/// (an odd last row or column is dropped), as `model::cnn` builds them.
#[backend_extension(Flex, Cube, Remote, Autodiff)]
pub trait ConvBlockOps: Backend {
    /// `max_pool(relu(conv(x, weight) + bias))`: x `[n, in, h, w]`, weight `[out, in, k, k]`,
    /// bias `[out]`; output `[n, out, h/2, w/2]`.
    fn conv_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        compose::conv_relu_pool::<Self>(x, weight, bias)
    }

    /// `max_pool(relu(batch_norm(conv(x, weight))))` with the batch's statistics (training),
    /// plus those statistics for the running averages.
    fn conv_norm_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> NormalizedBlock<Self> {
        compose::conv_norm_relu_pool::<Self>(x, weight, gamma, beta, epsilon)
    }

    /// `max_pool(relu(batch_norm(conv(x, weight))))` with given statistics (inference): the
    /// normalisation folds into the convolution's weights and bias.
    fn conv_norm_eval(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        #[extension_type] norm: RunningNorm<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        compose::conv_norm_eval::<Self>(x, weight, norm, epsilon)
    }
}

/// BatchNorm's parameters and running statistics, per channel.
#[derive(ExtensionType)]
pub struct RunningNorm<B: Backend> {
    /// Scale.
    pub gamma: FloatTensor<B>,
    /// Shift.
    pub beta: FloatTensor<B>,
    /// Running mean.
    pub mean: FloatTensor<B>,
    /// Running variance.
    pub variance: FloatTensor<B>,
}

impl ConvBlockOps for Cube {}
impl ConvBlockOps for Remote {}
impl<C: CheckpointStrategy> ConvBlockOps for Autodiff<Cube, C> {}
impl<C: CheckpointStrategy> ConvBlockOps for Autodiff<Remote, C> {}

/// [`ConvBlockOps::conv_relu_pool`] on tensors.
pub fn conv_relu_pool(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ConvBlockOps>::conv_relu_pool(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// [`ConvBlockOps::conv_norm_eval`] on tensors (`norm`: gamma, beta, running mean and variance).
pub fn conv_norm_eval(x: Tensor<4>, weight: Tensor<4>, norm: [Tensor<1>; 4], epsilon: f64) -> Tensor<4> {
    let [gamma, beta, mean, variance] = norm;
    let norm = RunningNorm {
        gamma: gamma.into_dispatch(),
        beta: beta.into_dispatch(),
        mean: mean.into_dispatch(),
        variance: variance.into_dispatch(),
    };
    Tensor::from_dispatch(<Dispatch as ConvBlockOps>::conv_norm_eval(
        x.into_dispatch(),
        weight.into_dispatch(),
        norm,
        epsilon,
    ))
}

/// [`ConvBlockOps::conv_norm_relu_pool`] on tensors: `(output, batch mean, batch variance)`.
pub fn conv_norm_relu_pool(
    x: Tensor<4>,
    weight: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let out = <Dispatch as ConvBlockOps>::conv_norm_relu_pool(
        x.into_dispatch(),
        weight.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
    );
    (
        Tensor::from_dispatch(out.output),
        Tensor::from_dispatch(out.mean),
        Tensor::from_dispatch(out.variance),
    )
}
