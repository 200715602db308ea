//! [`ConvBlockOps`] on flex (the kernels of [`cpu`](super::cpu) on flex's host buffers) and on
//! autodiff over flex (the same forward, keeping what the backward needs, and the backward
//! registered with burn's autodiff graph). Inputs the kernels do not take (another dtype, a
//! non-square or even kernel, maps smaller than 2×2) go to the standard composition, and so
//! do inputs or parameters holding a NaN or an infinity. Which gradients such a value reaches
//! depends on which `0 · NaN` products an implementation forms at the image borders, and the
//! implicit GEMMs form more than burn's convolutions (their junk columns pair zero gradients
//! with real pixels, their padded gradient buffer pairs zeros with every tap). A network gone
//! bad thus gives exactly burn's NaNs, for one vectorised read of each input per block. NaNs
//! that arise inside the kernels (an overflowing convolution) and NaN gradients flowing back
//! propagate as through burn's ops (`tests/kernels_nan.rs`).

use std::sync::{Arc, Mutex};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Flex};
use burn::tensor::{Bytes, DType, Shape, TensorData};
use burn_flex::{FlexTensor, Layout};

use super::cpu::block::{self, Norm, Saved};
use super::cpu::geometry::Input;
use super::cpu::geometry::{BlockGeometry, Strided4};
use super::cpu::pack::pack_forward;
use super::{ConvBlockOps, NormalizedBlock, RunningNorm, compose};

/// The block geometry when the kernels take these tensors; `vectors` must each hold one value
/// per output channel.
fn geometry(x: &FlexTensor, weight: &FlexTensor, vectors: &[&FlexTensor]) -> Option<BlockGeometry> {
    if !super::fused_enabled() {
        return None;
    }
    let all = [x, weight].into_iter().chain(vectors.iter().copied());
    if all.clone().any(|t| t.dtype() != DType::F32) {
        return None;
    }
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    if xs.num_dims() != 4 || ws.num_dims() != 4 {
        return None;
    }
    let (n, ci, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let (co, wi, k, k2) = (ws[0], ws[1], ws[2], ws[3]);
    let fits = n > 0 && ci > 0 && co > 0 && h >= 2 && w >= 2 && wi == ci && k == k2 && k % 2 == 1;
    let vectors_fit = vectors
        .iter()
        .all(|v| v.layout().shape().num_dims() == 1 && v.layout().shape()[0] == co);
    if !(fits && vectors_fit && all.into_iter().all(all_finite)) {
        return None;
    }
    Some(BlockGeometry {
        batch: n,
        in_channels: ci,
        out_channels: co,
        height: h,
        width: w,
        kernel: k,
    })
}

/// Whether every element of `t` (a 1-d or 4-d f32 tensor) is finite. A tensor that covers its
/// whole buffer (any dense layout) is checked in one vectorised pass over the buffer; other
/// views element by element.
fn all_finite(t: &FlexTensor) -> bool {
    let layout = t.layout();
    let data = t.storage::<f32>();
    let shape = layout.shape();
    if layout.start_offset() == 0 && data.len() == shape.num_elements() {
        return finite(data);
    }
    match shape.num_dims() {
        1 => values(t).iter().all(|v| v.is_finite()),
        _ => {
            let at = input(t).at;
            let [n, c, h, w] = [shape[0], shape[1], shape[2], shape[3]];
            (0..n).all(|i| {
                (0..c).all(|ch| (0..h).all(|y| (0..w).all(|x| data[at.index(i, ch, y, x)].is_finite())))
            })
        }
    }
}

/// Whether every value is finite: `v · 0` is 0 for a finite `v` and NaN otherwise, summed in
/// independent lanes so the loop vectorises.
fn finite(data: &[f32]) -> bool {
    const LANES: usize = 16;
    let mut lanes = [0.0f32; LANES];
    let chunks = data.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += v * 0.0;
        }
    }
    lanes.iter().chain(rest).all(|v| v.is_finite())
}

/// A 4-d tensor's buffer and layout, as the kernels read it.
fn input(t: &FlexTensor) -> Input<'_> {
    let layout = t.layout();
    let s = layout.strides();
    Input {
        data: t.storage::<f32>(),
        at: Strided4 {
            offset: layout.start_offset(),
            strides: [s[0], s[1], s[2], s[3]],
        },
    }
}

/// A 1-d tensor's values.
fn values(t: &FlexTensor) -> Vec<f32> {
    let layout = t.layout();
    let (data, stride) = (t.storage::<f32>(), layout.strides()[0]);
    (0..layout.shape()[0])
        .map(|i| data[(layout.start_offset() as isize + i as isize * stride) as usize])
        .collect()
}

/// An NHWC buffer handed to burn as the `[n, c, h, w]` tensor it is (strided, no copy).
fn nhwc_tensor(data: Vec<f32>, dims: [usize; 4]) -> FlexTensor {
    let strides = Strided4::nhwc(dims).strides.to_vec();
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::new(Shape::new(dims), strides, 0),
        DType::F32,
    )
}

fn plain_tensor<const D: usize>(data: Vec<f32>, dims: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, dims))
}

fn pooled_dims(g: &BlockGeometry) -> [usize; 4] {
    [g.batch, g.out_channels, g.pooled_height(), g.pooled_width()]
}

/// Weights packed for the forward GEMM ([`pack_forward`]), cached by the identity of the
/// tensor's storage, its layout and its shape: a stored buffer never changes while shared
/// (flex copies on write), and the cache holds a reference, so the same key always means the
/// same values read the same way (two views of one buffer may differ in shape alone). Inference with
/// one model (the pad, an evaluation) packs each kernel once; training, whose weights change
/// every step, just cycles through the few entries.
fn packed_weights(weight: &FlexTensor, g: &BlockGeometry) -> Arc<Vec<f32>> {
    type Entry = (Arc<Bytes>, Strided4, [usize; 4], Arc<Vec<f32>>);
    static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
    const ENTRIES: usize = 16;
    const FLOATS: usize = 16 << 20;
    let storage = weight.data_arc();
    let at = input(weight).at;
    let dims = [g.out_channels, g.in_channels, g.kernel, g.kernel];
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = cache
        .iter()
        .position(|(s, a, d, _)| Arc::ptr_eq(s, &storage) && *a == at && *d == dims)
    {
        let entry = cache.remove(i);
        let packed = entry.3.clone();
        cache.push(entry); // most recently used last
        return packed;
    }
    let packed = Arc::new(pack_forward(weight.storage::<f32>(), at, g));
    cache.push((storage, at, dims, packed.clone()));
    // At most 16 kernels and 16 M floats (64 MB packed, as much again held alive).
    while cache.len() > ENTRIES || cache.iter().map(|e| e.3.len()).sum::<usize>() > FLOATS {
        cache.remove(0);
    }
    packed
}

impl ConvBlockOps for Flex {
    fn conv_relu_pool(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &[&bias]) else {
            return compose::conv_relu_pool::<Flex>(x, weight, bias);
        };
        let ones = vec![1.0; g.out_channels];
        let out = block::forward_infer(input(&x), &packed_weights(&weight, &g), &ones, &values(&bias), &g);
        super::record(|runs| runs.blocks += 1);
        nhwc_tensor(out, pooled_dims(&g))
    }

    fn conv_norm_eval(
        x: FlexTensor,
        weight: FlexTensor,
        norm: RunningNorm<Flex>,
        epsilon: f64,
    ) -> FlexTensor {
        let vectors = [&norm.gamma, &norm.beta, &norm.mean, &norm.variance];
        let Some(g) = geometry(&x, &weight, &vectors) else {
            return compose::conv_norm_eval::<Flex>(x, weight, norm, epsilon);
        };
        // BatchNorm as the per-channel affine map after the convolution.
        let [gamma, beta, mean, variance] = vectors.map(values);
        let scale: Vec<f32> = (0..g.out_channels)
            .map(|c| (gamma[c] as f64 / (variance[c] as f64 + epsilon).sqrt()) as f32)
            .collect();
        let shift: Vec<f32> = (0..g.out_channels)
            .map(|c| beta[c] - mean[c] * scale[c])
            .collect();
        let out = block::forward_infer(input(&x), &packed_weights(&weight, &g), &scale, &shift, &g);
        super::record(|runs| runs.blocks += 1);
        nhwc_tensor(out, pooled_dims(&g))
    }

    fn conv_norm_relu_pool(
        x: FlexTensor,
        weight: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> NormalizedBlock<Flex> {
        let Some(g) = geometry(&x, &weight, &[&gamma, &beta]) else {
            return compose::conv_norm_relu_pool::<Flex>(x, weight, gamma, beta, epsilon);
        };
        let (gamma, beta) = (values(&gamma), values(&beta));
        let norm = Norm::Batch {
            gamma: &gamma,
            beta: &beta,
            epsilon,
        };
        let out = block::forward_train(input(&x), input(&weight), norm, &g);
        super::record(|runs| runs.blocks += 1);
        let co = g.out_channels;
        NormalizedBlock {
            output: nhwc_tensor(out.output, pooled_dims(&g)),
            mean: plain_tensor(out.mean, [co]),
            variance: plain_tensor(out.variance, [co]),
        }
    }
}

/// A training block the kernels' way on plain flex tensors, for a server that keeps the state
/// itself ([`served`](super::served)): the outputs (pooled, then mean and variance when
/// `vectors` are BatchNorm's gamma and beta rather than a bias) and what [`backward_kept`]
/// needs; `None` where the kernels do not take these inputs (the caller composes burn's ops).
pub(crate) fn forward_kept(
    x: &FlexTensor,
    weight: &FlexTensor,
    vectors: &[&FlexTensor],
    epsilon: f64,
) -> Option<(Vec<FlexTensor>, Arc<Saved>)> {
    let g = geometry(x, weight, vectors)?;
    let vectors: Vec<Vec<f32>> = vectors.iter().map(|v| values(v)).collect();
    let norm = match vectors.as_slice() {
        [bias] => Norm::Bias(bias),
        [gamma, beta] => Norm::Batch {
            gamma,
            beta,
            epsilon,
        },
        _ => return None,
    };
    let out = block::forward_train(input(x), input(weight), norm, &g);
    super::record(|runs| runs.blocks += 1);
    let co = g.out_channels;
    let mut outputs = vec![nhwc_tensor(out.output, pooled_dims(&g))];
    if vectors.len() == 2 {
        outputs.extend([plain_tensor(out.mean, [co]), plain_tensor(out.variance, [co])]);
    }
    Some((outputs, Arc::new(out.saved)))
}

/// The gradients of a block kept by [`forward_kept`] for the output gradient `grad` (the pooled
/// shape, f32), for the inputs `wanted` names (bits in input order: x, weight, then the
/// vectors), in that order.
pub(crate) fn backward_kept(saved: &Saved, grad: &FlexTensor, wanted: u64) -> Vec<FlexTensor> {
    let g = *saved.geometry();
    let out = block::backward(saved, input(grad), wanted & 1 != 0);
    super::record(|runs| runs.block_backwards += 1);
    let mut grads = vec![];
    if let Some(dx) = out.input.filter(|_| wanted & 1 != 0) {
        grads.push(nhwc_tensor(dx, [g.batch, g.in_channels, g.height, g.width]));
    }
    if wanted & 2 != 0 {
        let dims = [g.out_channels, g.in_channels, g.kernel, g.kernel];
        grads.push(plain_tensor(out.weight, dims));
    }
    let vectors = match out.gamma {
        Some(gamma) => vec![gamma, out.shift],
        None => vec![out.shift],
    };
    for (i, grad) in vectors.into_iter().enumerate() {
        if wanted & (4 << i) != 0 {
            grads.push(plain_tensor(grad, [g.out_channels]));
        }
    }
    grads
}

/// The gradients of a block registered for the parents that asked for them: input, weight,
/// then the per-channel vectors (bias; or gamma and beta).
fn register_grads<const N: usize>(ops: Ops<Arc<Saved>, N>, grads: &mut Gradients) {
    let grad = grads.consume::<Flex>(&ops.node);
    let saved = ops.state;
    let g = *saved.geometry();
    let mut parents = ops.parents.into_iter();
    let (node_x, node_weight) = (parents.next().flatten(), parents.next().flatten());
    let rest: Vec<_> = parents.collect();
    let out = block::backward(&saved, input(&grad), node_x.is_some());
    super::record(|runs| runs.block_backwards += 1);
    if let (Some(node), Some(dx)) = (node_x, out.input) {
        grads.register::<Flex>(
            node.id,
            nhwc_tensor(dx, [g.batch, g.in_channels, g.height, g.width]),
        );
    }
    if let Some(node) = node_weight {
        let dims = [g.out_channels, g.in_channels, g.kernel, g.kernel];
        grads.register::<Flex>(node.id, plain_tensor(out.weight, dims));
    }
    // Bias alone, or gamma then beta.
    let vectors = match out.gamma {
        Some(gamma) => vec![gamma, out.shift],
        None => vec![out.shift],
    };
    for (node, grad) in rest.into_iter().zip(vectors) {
        if let Some(node) = node {
            grads.register::<Flex>(node.id, plain_tensor(grad, [g.out_channels]));
        }
    }
}

#[derive(Debug)]
struct ConvReluPoolBackward;

impl Backward<Flex, 3> for ConvReluPoolBackward {
    type State = Arc<Saved>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        register_grads(ops, grads);
    }
}

#[derive(Debug)]
struct ConvNormReluPoolBackward;

impl Backward<Flex, 4> for ConvNormReluPoolBackward {
    type State = Arc<Saved>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        register_grads(ops, grads);
    }
}

impl<C: CheckpointStrategy> ConvBlockOps for Autodiff<Flex, C> {
    fn conv_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let Some(g) = geometry(x.primitive(), weight.primitive(), &[bias.primitive()]) else {
            return compose::conv_relu_pool::<Self>(x, weight, bias);
        };
        let prep = ConvReluPoolBackward.prepare::<C>([x.node(), weight.node(), bias.node()]);
        match prep.compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let bias = values(bias.primitive());
                let out = block::forward_train(
                    input(x.primitive()),
                    input(weight.primitive()),
                    Norm::Bias(&bias),
                    &g,
                );
                super::record(|runs| runs.blocks += 1);
                prep.finish(Arc::new(out.saved), nhwc_tensor(out.output, pooled_dims(&g)))
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::conv_relu_pool(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )),
        }
    }

    fn conv_norm_eval(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        norm: RunningNorm<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        compose::conv_norm_eval_autodiff::<Flex, C>(x, weight, norm, epsilon, Self::conv_relu_pool)
    }

    fn conv_norm_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> NormalizedBlock<Self> {
        let Some(g) = geometry(
            x.primitive(),
            weight.primitive(),
            &[gamma.primitive(), beta.primitive()],
        ) else {
            return compose::conv_norm_relu_pool::<Self>(x, weight, gamma, beta, epsilon);
        };
        let prep =
            ConvNormReluPoolBackward.prepare::<C>([x.node(), weight.node(), gamma.node(), beta.node()]);
        let (gamma_v, beta_v) = (values(gamma.primitive()), values(beta.primitive()));
        let norm = Norm::Batch {
            gamma: &gamma_v,
            beta: &beta_v,
            epsilon,
        };
        let out = block::forward_train(input(x.primitive()), input(weight.primitive()), norm, &g);
        super::record(|runs| runs.blocks += 1);
        let co = g.out_channels;
        let (mean, variance) = (plain_tensor(out.mean, [co]), plain_tensor(out.variance, [co]));
        let output = nhwc_tensor(out.output, pooled_dims(&g));
        let output = match prep.compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(Arc::new(out.saved), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        };
        NormalizedBlock {
            output,
            mean: Self::from_inner(mean),
            variance: Self::from_inner(variance),
        }
    }
}
