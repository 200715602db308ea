//! The fused blocks written as burn's standard ops: the default bodies of
//! [`ConvBlockOps`](super::ConvBlockOps) (what wgpu and remote devices run), the fallback of the
//! flex kernels for inputs they do not take, and what the kernels are tested against.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, TensorMetadata};
use burn::tensor::ops::ConvOptions;

use super::{NormalizedBlock, RunningNorm};

/// Same padding, stride 1.
fn same<B: Backend>(weight: &FloatTensor<B>) -> ConvOptions<2> {
    let k = weight.shape()[2];
    ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1)
}

/// 2×2 max pooling, stride 2, no padding, floor.
fn pool<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], false)
}

/// `max_pool(relu(conv(x, weight) + bias))`.
pub fn conv_relu_pool<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
) -> FloatTensor<B> {
    let options = same::<B>(&weight);
    pool::<B>(B::relu(B::conv2d(x, weight, Some(bias), options)))
}

/// `max_pool(relu(batch_norm_train(conv(x, weight))))` and the batch statistics.
pub fn conv_norm_relu_pool<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
) -> NormalizedBlock<B> {
    let options = same::<B>(&weight);
    let normalised = B::batch_norm_train(B::conv2d(x, weight, None, options), gamma, beta, epsilon);
    NormalizedBlock {
        output: pool::<B>(B::relu(normalised.output)),
        mean: normalised.mean,
        variance: normalised.variance,
    }
}

/// Weights and bias of the convolution that equals `batch_norm(conv(·, weight))` with fixed
/// statistics: `w·s` and `β − μ·s` with `s = γ / √(σ² + ε)` per output channel.
pub fn fold_norm<B: Backend>(
    weight: FloatTensor<B>,
    norm: RunningNorm<B>,
    epsilon: f64,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let out_channels = weight.shape()[0];
    let scale = B::float_div(
        norm.gamma,
        B::float_sqrt(B::float_add_scalar(norm.variance, epsilon.into())),
    ); // [out]
    let bias = B::float_sub(norm.beta, B::float_mul(norm.mean, scale.clone()));
    let scale = B::float_reshape(scale, burn::tensor::Shape::new([out_channels, 1, 1, 1]));
    (B::float_mul(weight, scale), bias)
}

/// `max_pool(relu(batch_norm(conv(x, weight))))` with fixed statistics, as the fold of
/// [`fold_norm`] followed by [`conv_relu_pool`].
pub fn conv_norm_eval<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    norm: RunningNorm<B>,
    epsilon: f64,
) -> FloatTensor<B> {
    let (weight, bias) = fold_norm::<B>(weight, norm, epsilon);
    conv_relu_pool::<B>(x, weight, bias)
}

/// A block of `B`'s tensors under autodiff: `(x, weight, bias) → pooled output`.
pub type AutodiffBlock<B, C> = fn(
    FloatTensor<Autodiff<B, C>>,
    FloatTensor<Autodiff<B, C>>,
    FloatTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>>;

/// [`ConvBlockOps::conv_norm_eval`](super::ConvBlockOps::conv_norm_eval) under autodiff over a
/// backend `B` whose own op is the fast one: with any input tracked (input gradients of an
/// eval-mode network) the fold and `tracked_block` (the autodiff backend's `conv_relu_pool`);
/// otherwise `B`'s op on the inner tensors.
pub fn conv_norm_eval_autodiff<B: super::ConvBlockOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    norm: RunningNorm<Autodiff<B, C>>,
    epsilon: f64,
    tracked_block: AutodiffBlock<B, C>,
) -> FloatTensor<Autodiff<B, C>> {
    let tracked = [&x, &weight, &norm.gamma, &norm.beta, &norm.mean, &norm.variance]
        .iter()
        .any(|t| t.is_tracked());
    if tracked {
        let (weight, bias) = fold_norm::<Autodiff<B, C>>(weight, norm, epsilon);
        return tracked_block(x, weight, bias);
    }
    let inner = RunningNorm {
        gamma: norm.gamma.into_primitive(),
        beta: norm.beta.into_primitive(),
        mean: norm.mean.into_primitive(),
        variance: norm.variance.into_primitive(),
    };
    Autodiff::<B, C>::from_inner(B::conv_norm_eval(x.into_primitive(), weight.into_primitive(), inner, epsilon))
}
