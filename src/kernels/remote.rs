//! [`ConvBlockOps`] and [`AdamOps`] on a remote device: each block (forward and backward) and
//! each Adam step travels to the server as one custom op, which the server runs with the flex
//! kernels ([`served`](super::served)), instead of the dozen standard ops the composition sends.
//! Autodiff stays on the client: a block's forward leaves its saved state on the server, and
//! the client's graph holds a small key tensor that names it; the backward op sends the key and
//! the output gradient, and gets the parameters' gradients back.
//!
//! A server of an older version has no handlers for these ops: `remote::connect` asks the
//! server what it serves and records it here ([`set_served`]); a device whose server
//! did not say so runs the standard ops, as before. So does a client whose kernels are turned
//! off (`MNIST_WORKBENCH_KERNELS=burn`), which is how `bench` measures both paths on one server.

use std::sync::{Arc, Mutex};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ir::{CustomOpIr, ScalarIr, TensorIr};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Remote, TensorMetadata};
use burn::tensor::remote::CustomOpClient;
use burn::tensor::{DType, Shape};
use burn_router::RouterClient;

use super::adam::{AdamOps, AdamStep, AdamTensors, Formula};
use super::{ConvBlockOps, NormalizedBlock, RunningNorm, compose};

/// What a server that runs our kernels answers, after its device name, to the describe op.
pub const SERVED_CAPABILITY: &str = "kernels:blocks,adam";
/// A block without autodiff state: scalars `[kind, epsilon]`.
pub const BLOCK_OP: &str = "mnist-workbench.block";
/// A block that keeps its state on the server: scalars `[kind, epsilon, tracked mask]`; the last
/// output is the key tensor.
pub const TRACKED_BLOCK_OP: &str = "mnist-workbench.block-tracked";
/// A block's backward: inputs `[key, output gradient]`, scalar `[wanted mask]`; one output per
/// bit of the mask, in input order.
pub const BLOCK_BACKWARD_OP: &str = "mnist-workbench.block-backward";
/// One Adam step: inputs `[param, moment 1, moment 2, grad]`, scalars as [`adam_scalars`].
pub const ADAM_OP: &str = "mnist-workbench.adam";

/// Which block a block op computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// conv + bias → ReLU → pool: inputs `[x, weight, bias]`, output `[pooled]`.
    Bias = 0,
    /// conv → BatchNorm with batch statistics → ReLU → pool: inputs `[x, weight, gamma, beta]`,
    /// outputs `[pooled, mean, variance]`.
    BatchNorm = 1,
    /// conv → BatchNorm with running statistics → ReLU → pool: inputs `[x, weight, gamma, beta,
    /// mean, variance]`, output `[pooled]` (never tracked on the server).
    RunningNorm = 2,
}

impl BlockKind {
    pub(crate) fn from_code(code: u64) -> Option<Self> {
        [Self::Bias, Self::BatchNorm, Self::RunningNorm]
            .into_iter()
            .find(|k| *k as u64 == code)
    }

    /// The shapes of the block's outputs for pooled maps of shape `pooled`: the maps, then
    /// (BatchNorm with batch statistics) mean and variance per channel.
    pub(crate) fn outputs(self, pooled: &Shape) -> Vec<Shape> {
        let co = pooled[1];
        match self {
            Self::BatchNorm => vec![pooled.clone(), Shape::new([co]), Shape::new([co])],
            _ => vec![pooled.clone()],
        }
    }

    /// Tensor inputs the op takes.
    pub(crate) fn inputs(self) -> usize {
        match self {
            Self::Bias => 3,
            Self::BatchNorm => 4,
            Self::RunningNorm => 6,
        }
    }
}

/// Shape of the key tensor a tracked block returns (two f32 holding a u64's bits).
pub(crate) const KEY_LEN: usize = 2;

/// Remote devices whose server said it runs our kernels, by burn's device id.
static SERVED: Mutex<Vec<(burn::tensor::DeviceId, bool)>> = Mutex::new(Vec::new());

/// Records whether the server of `device` runs our kernels (called once per connection).
pub fn set_served(device: &burn::backend::RemoteDevice, served: bool) {
    let id = burn::backend::Device::to_id(device);
    let mut list = SERVED.lock().unwrap_or_else(|e| e.into_inner());
    list.retain(|(known, _)| *known != id);
    list.push((id, served));
}

/// Whether `device` is a remote device whose server runs our kernels.
pub fn served(device: &burn::tensor::Device) -> bool {
    match device.clone().inner().as_dispatch() {
        burn::backend::DispatchDevice::Remote(remote) => device_served(remote),
        _ => false,
    }
}

/// The client for a custom op on the device of `tensor`, when its server runs our kernels and
/// this thread has them turned on (`adam` chooses which switch).
fn served_client(tensor: &FloatTensor<Remote>, adam: bool) -> Option<CustomOpClient> {
    let enabled = if adam {
        super::fused_adam_enabled()
    } else {
        super::fused_enabled()
    };
    if !enabled {
        return None;
    }
    let device = &tensor.client.device();
    device_served(device).then(|| CustomOpClient::new(device))
}

fn device_served(device: &burn::backend::RemoteDevice) -> bool {
    let id = burn::backend::Device::to_id(device);
    SERVED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|(known, yes)| *known == id && *yes)
}

/// Most elements of any buffer a served op reads or makes (2^28 floats, 1 GiB): a larger block
/// or parameter runs as standard ops, and a server refuses such an op (sizes are checked, never
/// multiplied unchecked, before anything is allocated).
pub const MAX_SERVED_ELEMENTS: usize = 1 << 28;
/// Widest kernel a served block takes.
pub const MAX_SERVED_KERNEL: usize = 31;

/// The product of `dims` when it is at most [`MAX_SERVED_ELEMENTS`].
pub(crate) fn served_elements(dims: &[usize]) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |n, d| n.checked_mul(*d))
        .filter(|n| *n <= MAX_SERVED_ELEMENTS)
}

/// The pooled output shape when the server's kernels can take these inputs (a 4-d input and an
/// odd square kernel of at most [`MAX_SERVED_KERNEL`], maps of at least 2×2, one value per
/// output channel in each vector, every buffer within [`MAX_SERVED_ELEMENTS`]); `None` sends
/// the block as standard ops. The server checks the same.
pub fn pooled_shape(x: &Shape, weight: &Shape, vectors: &[Shape]) -> Option<Shape> {
    if x.num_dims() != 4 || weight.num_dims() != 4 {
        return None;
    }
    let (n, ci, h, w) = (x[0], x[1], x[2], x[3]);
    let (co, wi, k, k2) = (weight[0], weight[1], weight[2], weight[3]);
    let fits = n > 0 && ci > 0 && co > 0 && h >= 2 && w >= 2 && wi == ci && k == k2 && k % 2 == 1;
    let vectors_fit = vectors.iter().all(|v| v.num_dims() == 1 && v[0] == co);
    if !(fits && vectors_fit && k <= MAX_SERVED_KERNEL) {
        return None;
    }
    // The input, the weights, the padded input and the convolution's output.
    let pad = k / 2;
    let buffers = [
        served_elements(&[n, ci, h, w]),
        served_elements(&[co, ci, k, k]),
        served_elements(&[n, ci, h + 2 * pad, w + 2 * pad]),
        served_elements(&[n, co, h, w]),
    ];
    buffers
        .iter()
        .all(Option::is_some)
        .then(|| Shape::new([n, co, h / 2, w / 2]))
}

/// The pooled shape for these tensors, also checking their dtype.
fn block_shape(tensors: &[&FloatTensor<Remote>]) -> Option<Shape> {
    if tensors.iter().any(|t| t.dtype() != DType::F32) {
        return None;
    }
    let vectors: Vec<Shape> = tensors[2..].iter().map(|t| t.shape()).collect();
    pooled_shape(&tensors[0].shape(), &tensors[1].shape(), &vectors)
}

fn output(client: &CustomOpClient, shape: Shape) -> TensorIr {
    TensorIr::uninit(client.create_empty_handle(), shape, DType::F32)
}

/// Sends one block op and returns its outputs.
fn send(
    client: &CustomOpClient,
    id: &'static str,
    inputs: Vec<FloatTensor<Remote>>,
    outputs: Vec<Shape>,
    scalars: Vec<ScalarIr>,
) -> Vec<FloatTensor<Remote>> {
    let inputs: Vec<TensorIr> = inputs.into_iter().map(|t| t.into_ir()).collect();
    let outputs: Vec<TensorIr> = outputs.into_iter().map(|s| output(client, s)).collect();
    client.register(CustomOpIr::with_scalars(id, &inputs, &outputs, scalars))
}

/// The outputs of a block without autodiff state: `[pooled]`, or `[pooled, mean, variance]`.
fn untracked_block(
    client: &CustomOpClient,
    kind: BlockKind,
    inputs: Vec<FloatTensor<Remote>>,
    pooled: Shape,
    epsilon: f64,
) -> Vec<FloatTensor<Remote>> {
    let outputs = kind.outputs(&pooled);
    let scalars = vec![ScalarIr::UInt(kind as u64), ScalarIr::Float(epsilon)];
    super::record(|runs| runs.remote_blocks += 1);
    send(client, BLOCK_OP, inputs, outputs, scalars)
}

impl ConvBlockOps for Remote {
    fn conv_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let served = served_client(&x, false).zip(block_shape(&[&x, &weight, &bias]));
        let Some((client, pooled)) = served else {
            return compose::conv_relu_pool::<Self>(x, weight, bias);
        };
        let mut out = untracked_block(&client, BlockKind::Bias, vec![x, weight, bias], pooled, 0.0);
        out.remove(0)
    }

    fn conv_norm_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> NormalizedBlock<Self> {
        let served = served_client(&x, false).zip(block_shape(&[&x, &weight, &gamma, &beta]));
        let Some((client, pooled)) = served else {
            return compose::conv_norm_relu_pool::<Self>(x, weight, gamma, beta, epsilon);
        };
        let inputs = vec![x, weight, gamma, beta];
        let [output, mean, variance] = three(untracked_block(
            &client,
            BlockKind::BatchNorm,
            inputs,
            pooled,
            epsilon,
        ));
        NormalizedBlock {
            output,
            mean,
            variance,
        }
    }

    fn conv_norm_eval(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        norm: RunningNorm<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let tensors = [&x, &weight, &norm.gamma, &norm.beta, &norm.mean, &norm.variance];
        let served = served_client(&x, false).zip(block_shape(&tensors));
        let Some((client, pooled)) = served else {
            return compose::conv_norm_eval::<Self>(x, weight, norm, epsilon);
        };
        let inputs = vec![x, weight, norm.gamma, norm.beta, norm.mean, norm.variance];
        let mut out = untracked_block(&client, BlockKind::RunningNorm, inputs, pooled, epsilon);
        out.remove(0)
    }
}

fn three<T>(outputs: Vec<T>) -> [T; 3] {
    outputs
        .try_into()
        .unwrap_or_else(|_| unreachable!("a batch-norm block op declares three outputs"))
}

/// What a tracked block leaves in the client's graph: the key of its state on the server and
/// the shapes of its inputs (the gradients' shapes).
#[derive(Debug)]
struct ServerState {
    key: FloatTensor<Remote>,
    input_shapes: Vec<Shape>,
}

/// The gradients of a block computed on the server, registered for the parents that want them.
fn register_server_grads<const N: usize>(ops: Ops<Arc<ServerState>, N>, grads: &mut Gradients) {
    let grad = grads.consume::<Remote>(&ops.node);
    let state = ops.state;
    let wanted: Vec<_> = ops
        .parents
        .into_iter()
        .enumerate()
        .filter_map(|(i, node)| node.map(|node| (i, node)))
        .collect();
    let mask = wanted.iter().fold(0u64, |mask, (i, _)| mask | 1 << i);
    let client = CustomOpClient::new(&state.key.client.device());
    let shapes = wanted
        .iter()
        .map(|(i, _)| state.input_shapes[*i].clone())
        .collect();
    let inputs = vec![state.key.clone(), grad];
    let computed = send(
        &client,
        BLOCK_BACKWARD_OP,
        inputs,
        shapes,
        vec![ScalarIr::UInt(mask)],
    );
    super::record(|runs| runs.remote_block_backwards += 1);
    for ((_, node), grad) in wanted.into_iter().zip(computed) {
        grads.register::<Remote>(node.id, grad);
    }
}

/// The backward of a block with `N` inputs computed on the server.
#[derive(Debug)]
struct ServedBackward<const N: usize>;

impl<const N: usize> Backward<Remote, N> for ServedBackward<N> {
    type State = Arc<ServerState>;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        register_server_grads(ops, grads);
    }
}

/// Sends a tracked block: the outputs of [`untracked_block`] and the state its backward needs.
fn tracked_block(
    client: &CustomOpClient,
    kind: BlockKind,
    inputs: Vec<FloatTensor<Remote>>,
    tracked: u64,
    pooled: Shape,
    epsilon: f64,
) -> (Vec<FloatTensor<Remote>>, Arc<ServerState>) {
    let input_shapes = inputs.iter().map(|t| t.shape()).collect();
    let mut outputs = kind.outputs(&pooled);
    outputs.push(Shape::new([KEY_LEN]));
    let scalars = vec![
        ScalarIr::UInt(kind as u64),
        ScalarIr::Float(epsilon),
        ScalarIr::UInt(tracked),
    ];
    let mut out = send(client, TRACKED_BLOCK_OP, inputs, outputs, scalars);
    super::record(|runs| runs.remote_blocks += 1);
    let key = out
        .pop()
        .unwrap_or_else(|| unreachable!("a tracked block op declares its key"));
    (out, Arc::new(ServerState { key, input_shapes }))
}

/// Which of `tensors` are tracked, as bits in input order.
fn tracked_mask<C: CheckpointStrategy>(tensors: &[&FloatTensor<Autodiff<Remote, C>>]) -> u64 {
    tensors.iter().enumerate().fold(
        0,
        |mask, (i, t)| if t.is_tracked() { mask | 1 << i } else { mask },
    )
}

impl<C: CheckpointStrategy> ConvBlockOps for Autodiff<Remote, C> {
    fn conv_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let inner = [x.primitive(), weight.primitive(), bias.primitive()];
        let served = served_client(inner[0], false).zip(block_shape(&inner));
        let Some((client, pooled)) = served else {
            return compose::conv_relu_pool::<Self>(x, weight, bias);
        };
        let tracked = tracked_mask::<C>(&[&x, &weight, &bias]);
        let prep = ServedBackward::<3>.prepare::<C>([x.node(), weight.node(), bias.node()]);
        let inputs = vec![x.into_primitive(), weight.into_primitive(), bias.into_primitive()];
        match prep.compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (mut out, state) = tracked_block(&client, BlockKind::Bias, inputs, tracked, pooled, 0.0);
                prep.finish(state, out.remove(0))
            }
            OpsKind::UnTracked(prep) => {
                let mut out = untracked_block(&client, BlockKind::Bias, inputs, pooled, 0.0);
                prep.finish(out.remove(0))
            }
        }
    }

    fn conv_norm_eval(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        norm: RunningNorm<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        compose::conv_norm_eval_autodiff::<Remote, C>(x, weight, norm, epsilon, Self::conv_relu_pool)
    }

    fn conv_norm_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> NormalizedBlock<Self> {
        let inner = [
            x.primitive(),
            weight.primitive(),
            gamma.primitive(),
            beta.primitive(),
        ];
        let served = served_client(inner[0], false).zip(block_shape(&inner));
        let Some((client, pooled)) = served else {
            return compose::conv_norm_relu_pool::<Self>(x, weight, gamma, beta, epsilon);
        };
        let tracked = tracked_mask::<C>(&[&x, &weight, &gamma, &beta]);
        let prep = ServedBackward::<4>.prepare::<C>([x.node(), weight.node(), gamma.node(), beta.node()]);
        let inputs = vec![
            x.into_primitive(),
            weight.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        ];
        let (output, mean, variance) = match prep.compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, state) =
                    tracked_block(&client, BlockKind::BatchNorm, inputs, tracked, pooled, epsilon);
                let [output, mean, variance] = three(out);
                (prep.finish(state, output), mean, variance)
            }
            OpsKind::UnTracked(prep) => {
                let out = untracked_block(&client, BlockKind::BatchNorm, inputs, pooled, epsilon);
                let [output, mean, variance] = three(out);
                (prep.finish(output), mean, variance)
            }
        };
        NormalizedBlock {
            output,
            mean: Self::from_inner(mean),
            variance: Self::from_inner(variance),
        }
    }
}

/// The scalars of an Adam op: `[formula (0 Adam, 1 AdamW), learning rate, β₁, β₂, ε, step,
/// weight decay]`.
fn adam_scalars(step: &AdamStep) -> Vec<ScalarIr> {
    vec![
        ScalarIr::UInt(matches!(step.formula, Formula::AdamW) as u64),
        ScalarIr::Float(step.learning_rate),
        ScalarIr::Float(step.beta_1 as f64),
        ScalarIr::Float(step.beta_2 as f64),
        ScalarIr::Float(step.epsilon as f64),
        ScalarIr::Int(step.time as i64),
        ScalarIr::Float(step.weight_decay as f64),
    ]
}

/// The step an Adam op's scalars describe (`None` when they are not seven of the right kinds).
pub(crate) fn adam_step(scalars: &[ScalarIr]) -> Option<AdamStep> {
    let float = |i: usize| match scalars.get(i) {
        Some(ScalarIr::Float(v)) => Some(*v),
        _ => None,
    };
    let formula = match scalars.first() {
        Some(ScalarIr::UInt(0)) => Formula::Adam,
        Some(ScalarIr::UInt(1)) => Formula::AdamW,
        _ => return None,
    };
    let time = match scalars.get(5) {
        Some(ScalarIr::Int(t)) => i32::try_from(*t).ok()?,
        _ => return None,
    };
    (scalars.len() == 7).then_some(())?;
    Some(AdamStep {
        formula,
        learning_rate: float(1)?,
        beta_1: float(2)? as f32,
        beta_2: float(3)? as f32,
        epsilon: float(4)? as f32,
        time,
        weight_decay: float(6)? as f32,
    })
}

impl AdamOps for Remote {
    fn adam_update(state: AdamTensors<Self>, grad: FloatTensor<Self>, step: AdamStep) -> AdamTensors<Self> {
        let shape = state.param.shape();
        let plain = [&state.param, &state.moment_1, &state.moment_2, &grad]
            .iter()
            .all(|t| t.dtype() == DType::F32 && t.shape() == shape)
            && served_elements(&shape).is_some();
        let client = served_client(&state.param, true).filter(|_| plain);
        let Some(client) = client else {
            return super::adam::compose::<Self>(state, grad, step);
        };
        let inputs = vec![state.param, state.moment_1, state.moment_2, grad];
        let outputs = vec![shape.clone(), shape.clone(), shape];
        let [param, moment_1, moment_2] = three(send(&client, ADAM_OP, inputs, outputs, adam_scalars(&step)));
        super::record(|runs| runs.remote_adam_steps += 1);
        AdamTensors {
            param,
            moment_1,
            moment_2,
        }
    }
}
