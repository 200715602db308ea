//! The server's side of [`remote`](super::remote): handlers for the block and Adam ops, which
//! run the flex kernels on the tensors the ops name. A tracked block keeps what its backward
//! needs (the kernels' saved buffers; for a block the kernels do not take, a non-finite input
//! say, burn's autodiff graph of the composition, exactly as locally) until the backward op
//! asks for the gradients or the client drops the block's key tensor.
//!
//! Every op is checked before anything is computed or allocated: tensor counts, dtypes,
//! shapes (and the sizes they imply, within [`MAX_SERVED_ELEMENTS`]), scalars, the declared
//! outputs, a key only through the very tensor it was given out as. An op that does not fit
//! stops with a message naming the op and what was wrong; burn-remote turns that into a log
//! line and closes that session only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use burn::backend::ir::{CustomOpIr, HandleContainer, HandleKind, ScalarIr};
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Flex, TensorMetadata};
use burn::tensor::{Bytes, DType, FloatDType, Shape, TensorData};
use burn_flex::{FlexDevice, FlexTensor};

use super::adam::{AdamOps, AdamTensors};
use super::cpu::block::Saved;
use super::flex::{backward_kept, forward_kept};
use super::remote::{
    ADAM_OP, BLOCK_BACKWARD_OP, BLOCK_OP, BlockKind, KEY_LEN, MAX_SERVED_ELEMENTS, TRACKED_BLOCK_OP,
    adam_step, pooled_shape, served_elements,
};
use super::{ConvBlockOps, RunningNorm};

type Handles = HandleContainer<HandleKind<Flex>>;
/// A handler as burn-remote's server takes it.
pub type Handler = fn(&mut Handles, &CustomOpIr, &FlexDevice);

/// Every op a flex server answers besides the describe op, with its handler.
pub const HANDLERS: [(&str, Handler); 4] = [
    (BLOCK_OP, block),
    (TRACKED_BLOCK_OP, tracked_block),
    (BLOCK_BACKWARD_OP, block_backward),
    (ADAM_OP, adam),
];

/// How many of these ops this process has served (for tests: the kernels ran on the server).
pub fn served_ops() -> u64 {
    SERVED.load(Ordering::Relaxed)
}

static SERVED: AtomicU64 = AtomicU64::new(0);

/// Stops the op with a message that names it (a log line on the server; the connection closes).
fn refuse(ir: &CustomOpIr, what: impl std::fmt::Display) -> ! {
    panic!("custom op {}: {what}", ir.id)
}

fn scalar_uint(ir: &CustomOpIr, i: usize) -> u64 {
    match ir.scalars.get(i) {
        Some(ScalarIr::UInt(v)) => *v,
        _ => refuse(ir, format_args!("scalar {i} is not an unsigned integer")),
    }
}

fn scalar_float(ir: &CustomOpIr, i: usize) -> f64 {
    match ir.scalars.get(i) {
        Some(ScalarIr::Float(v)) => *v,
        _ => refuse(ir, format_args!("scalar {i} is not a float")),
    }
}

fn inputs(handles: &mut Handles, ir: &CustomOpIr, count: usize) -> Vec<FlexTensor> {
    if ir.inputs.len() != count {
        refuse(ir, format_args!("{} inputs, expected {count}", ir.inputs.len()));
    }
    ir.inputs
        .iter()
        .map(|t| handles.get_float_tensor::<Flex>(t))
        .collect()
}

/// The dims of `shape`.
fn dims(shape: &Shape) -> Vec<usize> {
    (0..shape.num_dims()).map(|i| shape[i]).collect()
}

/// Refuses the op unless it declares exactly these f32 outputs (checked before computing).
fn expect_outputs(ir: &CustomOpIr, shapes: &[Shape]) {
    if ir.outputs.len() != shapes.len() {
        refuse(
            ir,
            format_args!(
                "{} outputs declared, the op makes {}",
                ir.outputs.len(),
                shapes.len()
            ),
        );
    }
    for (i, (declared, shape)) in ir.outputs.iter().zip(shapes).enumerate() {
        if declared.shape != *shape || declared.dtype != DType::F32 {
            refuse(
                ir,
                format_args!(
                    "output {i} declared {:?} {:?}, the op makes {shape:?} F32",
                    declared.shape, declared.dtype
                ),
            );
        }
    }
}

/// The kind, inputs, epsilon and pooled shape of a block op, checked the way the client checks
/// them.
fn block_inputs(handles: &mut Handles, ir: &CustomOpIr) -> (BlockKind, Vec<FlexTensor>, f64, Shape) {
    let kind = BlockKind::from_code(scalar_uint(ir, 0)).unwrap_or_else(|| refuse(ir, "unknown block kind"));
    let epsilon = scalar_float(ir, 1);
    let tensors = inputs(handles, ir, kind.inputs());
    let vectors: Vec<Shape> = tensors[2..].iter().map(|t| t.shape()).collect();
    let pooled = pooled_shape(&tensors[0].shape(), &tensors[1].shape(), &vectors)
        .filter(|_| tensors.iter().all(|t| t.dtype() == DType::F32))
        .unwrap_or_else(|| {
            refuse(
                ir,
                "inputs of shapes, sizes or dtypes the block kernels do not take",
            )
        });
    (kind, tensors, epsilon, pooled)
}

/// Registers `outputs` under the ids the op declared (checked by [`expect_outputs`] before the
/// computation; checked again here against what was computed).
fn publish(handles: &mut Handles, ir: &CustomOpIr, outputs: Vec<FlexTensor>) {
    let made: Vec<Shape> = outputs.iter().map(|t| t.shape()).collect();
    expect_outputs(ir, &made);
    for (declared, tensor) in ir.outputs.iter().zip(outputs) {
        handles.register_float_tensor::<Flex>(&declared.id, tensor);
    }
    SERVED.fetch_add(1, Ordering::Relaxed);
}

fn block(handles: &mut Handles, ir: &CustomOpIr, _: &FlexDevice) {
    let (kind, tensors, epsilon, pooled) = block_inputs(handles, ir);
    expect_outputs(ir, &kind.outputs(&pooled));
    let mut t = tensors.into_iter();
    let mut next = || {
        t.next()
            .unwrap_or_else(|| unreachable!("counted by block_inputs"))
    };
    let outputs = match kind {
        BlockKind::Bias => vec![Flex::conv_relu_pool(next(), next(), next())],
        BlockKind::BatchNorm => {
            let (x, weight, gamma, beta) = (next(), next(), next(), next());
            let out = Flex::conv_norm_relu_pool(x, weight, gamma, beta, epsilon);
            vec![out.output, out.mean, out.variance]
        }
        BlockKind::RunningNorm => {
            let (x, weight) = (next(), next());
            let norm = RunningNorm {
                gamma: next(),
                beta: next(),
                mean: next(),
                variance: next(),
            };
            vec![Flex::conv_norm_eval(x, weight, norm, epsilon)]
        }
    };
    publish(handles, ir, outputs);
}

type Ad = Autodiff<Flex>;

/// What a tracked block's backward needs.
enum Kept {
    /// The kernels' saved buffers.
    Kernels(Arc<Saved>),
    /// burn's autodiff graph of the composition: the inputs as leaves (those the client tracks
    /// require gradients) and the pooled output.
    Graph {
        leaves: Vec<FloatTensor<Ad>>,
        output: FloatTensor<Ad>,
    },
}

/// A tracked block on the server, until its backward takes it or its key is dropped.
struct State {
    kept: Kept,
    input_shapes: Vec<Shape>,
    output_shape: Shape,
    /// The key tensor's buffer: the state is only found through that very tensor, and is
    /// dropped once the client has dropped it.
    key: Weak<Bytes>,
}

/// Tracked blocks' states by key, shared by every session of the server.
static STATES: Mutex<Option<HashMap<u64, State>>> = Mutex::new(None);
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// Runs `f` on the states after dropping those whose key the client dropped without a
/// backward (or whose session ended); lets burn's autodiff free the graphs among them.
fn with_states<T>(device: &FlexDevice, f: impl FnOnce(&mut HashMap<u64, State>) -> T) -> T {
    let (out, graphs_dropped) = {
        let mut states = STATES.lock().unwrap_or_else(|e| e.into_inner());
        let states = states.get_or_insert_with(HashMap::new);
        let before = states
            .values()
            .filter(|s| matches!(s.kept, Kept::Graph { .. }))
            .count();
        states.retain(|_, s| s.key.strong_count() > 0);
        let after = states
            .values()
            .filter(|s| matches!(s.kept, Kept::Graph { .. }))
            .count();
        (f(states), after < before)
    };
    if graphs_dropped {
        // burn's autodiff frees the graphs of dropped tensors during a backward pass only.
        let leaf = Flex::float_zeros(Shape::new([1]), device, FloatDType::F32);
        let leaf = Ad::float_set_require_grad(Ad::from_inner(leaf), true);
        drop(Ad::backward(Ad::float_sum(leaf)));
    }
    out
}

/// The block composed from burn's ops under autodiff (a block the kernels do not take).
fn graph_forward(
    kind: BlockKind,
    tensors: Vec<FlexTensor>,
    epsilon: f64,
    tracked: u64,
) -> (Vec<FlexTensor>, Kept) {
    let leaves: Vec<FloatTensor<Ad>> = tensors
        .into_iter()
        .enumerate()
        .map(|(i, t)| Ad::float_set_require_grad(Ad::from_inner(t), tracked & (1 << i) != 0))
        .collect();
    let l = |i: usize| leaves[i].clone();
    let (output, mut rest) = match kind {
        BlockKind::Bias => (Ad::conv_relu_pool(l(0), l(1), l(2)), vec![]),
        _ => {
            let out = Ad::conv_norm_relu_pool(l(0), l(1), l(2), l(3), epsilon);
            (out.output, vec![Ad::inner(out.mean), Ad::inner(out.variance)])
        }
    };
    let mut outputs = vec![Ad::inner(output.clone())];
    outputs.append(&mut rest);
    (outputs, Kept::Graph { leaves, output })
}

fn tracked_block(handles: &mut Handles, ir: &CustomOpIr, device: &FlexDevice) {
    let (kind, tensors, epsilon, pooled) = block_inputs(handles, ir);
    if kind == BlockKind::RunningNorm {
        refuse(ir, "a block with running statistics is not tracked");
    }
    let tracked = scalar_uint(ir, 2);
    if tracked >> kind.inputs() != 0 {
        refuse(ir, "tracked inputs the block does not have");
    }
    let mut shapes = kind.outputs(&pooled);
    shapes.push(Shape::new([KEY_LEN]));
    expect_outputs(ir, &shapes);
    let input_shapes: Vec<Shape> = tensors.iter().map(|t| t.shape()).collect();
    let refs: Vec<&FlexTensor> = tensors.iter().collect();
    let (mut outputs, kept) = match forward_kept(refs[0], refs[1], &refs[2..], epsilon) {
        Some((outputs, saved)) => (outputs, Kept::Kernels(saved)),
        None => graph_forward(kind, tensors, epsilon, tracked),
    };
    let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed) ^ salt();
    let key_tensor = FlexTensor::from_data(TensorData::new(
        vec![f32::from_bits(key as u32), f32::from_bits((key >> 32) as u32)],
        [KEY_LEN],
    ));
    let state = State {
        kept,
        input_shapes,
        output_shape: pooled,
        key: Arc::downgrade(&key_tensor.data_arc()),
    };
    with_states(device, |states| states.insert(key, state));
    outputs.push(key_tensor);
    publish(handles, ir, outputs);
}

/// A per-process random value mixed into the keys, so a client cannot guess another's.
fn salt() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SALT.get_or_init(|| RandomState::new().hash_one(std::process::id()))
}

/// Takes the state the key tensor `t` names, when it is that very tensor.
fn take_state(ir: &CustomOpIr, t: &FlexTensor, device: &FlexDevice) -> State {
    let key = match (t.dtype(), dims(&t.shape()).as_slice()) {
        (DType::F32, [KEY_LEN]) if t.is_contiguous() => {
            let bits: Vec<u32> = t.storage::<f32>()[..KEY_LEN]
                .iter()
                .map(|v| v.to_bits())
                .collect();
            bits[0] as u64 | (bits[1] as u64) << 32
        }
        _ => refuse(ir, "the first input is not a block's key"),
    };
    let taken = with_states(device, |states| {
        let owned = states
            .get(&key)
            .and_then(|s| s.key.upgrade())
            .is_some_and(|bytes| Arc::ptr_eq(&bytes, &t.data_arc()));
        owned.then(|| states.remove(&key)).flatten()
    });
    // Refused after the lock is released: other sessions' states are untouched.
    taken.unwrap_or_else(|| {
        refuse(
            ir,
            "no block state for this key (already used, or never given out)",
        )
    })
}

fn block_backward(handles: &mut Handles, ir: &CustomOpIr, device: &FlexDevice) {
    let [key, grad] = <[FlexTensor; 2]>::try_from(inputs(handles, ir, 2))
        .unwrap_or_else(|_| unreachable!("counted by inputs"));
    let wanted = scalar_uint(ir, 0);
    let state = take_state(ir, &key, device);
    drop(key);
    if grad.shape() != state.output_shape || grad.dtype() != DType::F32 {
        refuse(ir, "the output gradient does not have the block output's shape");
    }
    if wanted >> state.input_shapes.len() != 0 {
        refuse(ir, "gradients asked for inputs the block does not have");
    }
    let asked = |i: &usize| wanted & (1 << i) != 0;
    let shapes: Vec<Shape> = (0..state.input_shapes.len())
        .filter(asked)
        .map(|i| state.input_shapes[i].clone())
        .collect();
    expect_outputs(ir, &shapes);
    let outputs = match state.kept {
        Kept::Kernels(saved) => backward_kept(&saved, &grad, wanted),
        Kept::Graph { leaves, output } => {
            // d/d(inputs) of Σ output · grad is the block's backward applied to grad.
            let grads = Ad::backward(Ad::float_sum(Ad::float_mul(output, Ad::from_inner(grad))));
            (0..leaves.len())
                .filter(asked)
                .map(|i| {
                    Ad::grad(&leaves[i], &grads).unwrap_or_else(|| {
                        refuse(ir, format_args!("input {i} was not tracked in the forward"))
                    })
                })
                .collect()
        }
    };
    publish(handles, ir, outputs);
}

fn adam(handles: &mut Handles, ir: &CustomOpIr, _: &FlexDevice) {
    let step =
        adam_step(&ir.scalars).unwrap_or_else(|| refuse(ir, "the step's scalars are not an Adam step"));
    let [param, moment_1, moment_2, grad] = <[FlexTensor; 4]>::try_from(inputs(handles, ir, 4))
        .unwrap_or_else(|_| unreachable!("counted by inputs"));
    let shape = param.shape();
    let fits = [&param, &moment_1, &moment_2, &grad]
        .iter()
        .all(|t| t.shape() == shape && t.dtype() == DType::F32);
    if !fits || served_elements(&dims(&shape)).is_none() {
        refuse(
            ir,
            format_args!(
                "the parameter, moments and gradient must be f32 of one shape of at most \
                 {MAX_SERVED_ELEMENTS} elements"
            ),
        );
    }
    expect_outputs(ir, &[shape.clone(), shape.clone(), shape]);
    let state = AdamTensors {
        param,
        moment_1,
        moment_2,
    };
    let out = Flex::adam_update(state, grad, step);
    publish(handles, ir, vec![out.param, out.moment_1, out.moment_2]);
}

#[cfg(test)]
#[path = "served_tests.rs"]
mod tests;
