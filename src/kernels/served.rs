//! The server's side of [`remote`](super::remote): handlers for the block and Adam ops, which
//! run the flex kernels on the tensors the ops name. A tracked block runs under autodiff on the
//! server (`Autodiff<Flex>`, so a non-finite input takes the composition exactly as it does
//! locally) and keeps its graph until the backward op asks for the gradients or the client
//! drops the block's key tensor.
//!
//! An op that does not fit (wrong counts, shapes, dtypes or scalars, a key this server never
//! gave out) stops with a message naming what was wrong; the server turns that into a log
//! line and closes that connection only.

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
use super::remote::{ADAM_OP, BLOCK_BACKWARD_OP, BLOCK_OP, BlockKind, KEY_LEN, TRACKED_BLOCK_OP, adam_step, pooled_shape};
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

/// The kind, inputs and epsilon of a block op, checked the way the client checks them.
fn block_inputs(handles: &mut Handles, ir: &CustomOpIr) -> (BlockKind, Vec<FlexTensor>, f64) {
    let kind = BlockKind::from_code(scalar_uint(ir, 0))
        .unwrap_or_else(|| refuse(ir, "unknown block kind"));
    let epsilon = scalar_float(ir, 1);
    let tensors = inputs(handles, ir, kind.inputs());
    let vectors: Vec<Shape> = tensors[2..].iter().map(|t| t.shape()).collect();
    let f32s = tensors.iter().all(|t| t.dtype() == DType::F32);
    if !f32s || pooled_shape(&tensors[0].shape(), &tensors[1].shape(), &vectors).is_none() {
        refuse(ir, "inputs of shapes or dtypes the block kernels do not take");
    }
    (kind, tensors, epsilon)
}

/// Registers `outputs` under the ids the op declared, checking that they are what the client
/// was told to expect.
fn publish(handles: &mut Handles, ir: &CustomOpIr, outputs: Vec<FlexTensor>) {
    if ir.outputs.len() != outputs.len() {
        refuse(ir, format_args!("{} outputs declared, {} computed", ir.outputs.len(), outputs.len()));
    }
    for (declared, tensor) in ir.outputs.iter().zip(outputs) {
        if declared.shape != tensor.shape() || declared.dtype != tensor.dtype() {
            refuse(
                ir,
                format_args!(
                    "an output declared {:?} {:?} is {:?} {:?}",
                    declared.shape,
                    declared.dtype,
                    tensor.shape(),
                    tensor.dtype()
                ),
            );
        }
        handles.register_float_tensor::<Flex>(&declared.id, tensor);
    }
    SERVED.fetch_add(1, Ordering::Relaxed);
}

fn block(handles: &mut Handles, ir: &CustomOpIr, _: &FlexDevice) {
    let (kind, tensors, epsilon) = block_inputs(handles, ir);
    let mut t = tensors.into_iter();
    let mut next = || t.next().unwrap_or_else(|| unreachable!("counted by block_inputs"));
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

/// A tracked block's graph on the server, until its backward runs.
struct State {
    /// The inputs as autodiff leaves (those the client tracks require gradients).
    leaves: Vec<FloatTensor<Ad>>,
    /// The block's pooled output.
    output: FloatTensor<Ad>,
    /// The key tensor's buffer: the state is only found through that very tensor, and is
    /// dropped once the client has dropped it.
    key: Weak<Bytes>,
}

/// Tracked blocks' states by key, shared by every session of the server.
static STATES: Mutex<Option<HashMap<u64, State>>> = Mutex::new(None);
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

fn tracked_block(handles: &mut Handles, ir: &CustomOpIr, _: &FlexDevice) {
    let (kind, tensors, epsilon) = block_inputs(handles, ir);
    if kind == BlockKind::RunningNorm {
        refuse(ir, "a block with running statistics is not tracked");
    }
    let tracked = scalar_uint(ir, 2);
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
    let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed) ^ salt();
    let key_tensor = FlexTensor::from_data(TensorData::new(
        vec![f32::from_bits(key as u32), f32::from_bits((key >> 32) as u32)],
        [KEY_LEN],
    ));
    let state = State {
        leaves,
        output: output.clone(),
        key: Arc::downgrade(&key_tensor.data_arc()),
    };
    {
        let mut states = STATES.lock().unwrap_or_else(|e| e.into_inner());
        let states = states.get_or_insert_with(HashMap::new);
        // States whose key the client has dropped (a forward without a backward) go now.
        states.retain(|_, s| s.key.strong_count() > 0);
        states.insert(key, state);
    }
    let mut outputs = vec![Ad::inner(output)];
    outputs.append(&mut rest);
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
fn take_state(ir: &CustomOpIr, t: &FlexTensor) -> State {
    let key = match (t.dtype(), t.shape().dims::<1>()) {
        (DType::F32, [KEY_LEN]) if t.is_contiguous() => {
            let bits: Vec<u32> = t.storage::<f32>()[..KEY_LEN].iter().map(|v| v.to_bits()).collect();
            bits[0] as u64 | (bits[1] as u64) << 32
        }
        _ => refuse(ir, "the first input is not a block's key"),
    };
    let mut states = STATES.lock().unwrap_or_else(|e| e.into_inner());
    let states = states.get_or_insert_with(HashMap::new);
    let owned = states
        .get(&key)
        .and_then(|s| s.key.upgrade())
        .is_some_and(|bytes| Arc::ptr_eq(&bytes, &t.data_arc()));
    if !owned {
        refuse(ir, "no block state for this key (already used, or never given out)");
    }
    states.remove(&key).unwrap_or_else(|| unreachable!("found above"))
}

fn block_backward(handles: &mut Handles, ir: &CustomOpIr, device: &FlexDevice) {
    let [key, grad] = <[FlexTensor; 2]>::try_from(inputs(handles, ir, 2))
        .unwrap_or_else(|_| unreachable!("counted by inputs"));
    let state = take_state(ir, &key);
    drop(key);
    let wanted = scalar_uint(ir, 0);
    if grad.shape() != state.output.shape() || grad.dtype() != DType::F32 {
        refuse(ir, "the output gradient does not have the block output's shape");
    }
    if wanted >> state.leaves.len() != 0 {
        refuse(ir, "gradients asked for inputs the block does not have");
    }
    // d/d(inputs) of Σ output · grad is the block's backward applied to grad.
    let seeded = Ad::float_sum(Ad::float_mul(state.output, Ad::from_inner(grad)));
    let grads = Ad::backward(seeded);
    let outputs = state
        .leaves
        .iter()
        .enumerate()
        .filter(|(i, _)| wanted & (1 << i) != 0)
        .map(|(_, leaf)| {
            Ad::grad(leaf, &grads).unwrap_or_else(|| Flex::float_zeros(leaf.shape(), device, FloatDType::F32))
        })
        .collect();
    publish(handles, ir, outputs);
}

fn adam(handles: &mut Handles, ir: &CustomOpIr, _: &FlexDevice) {
    let step = adam_step(&ir.scalars).unwrap_or_else(|| refuse(ir, "the step's scalars are not an Adam step"));
    let [param, moment_1, moment_2, grad] = <[FlexTensor; 4]>::try_from(inputs(handles, ir, 4))
        .unwrap_or_else(|_| unreachable!("counted by inputs"));
    let shape = param.shape();
    if [&moment_1, &moment_2, &grad].iter().any(|t| t.shape() != shape) {
        refuse(ir, "the moments and the gradient do not have the parameter's shape");
    }
    let state = AdamTensors {
        param,
        moment_1,
        moment_2,
    };
    let out = Flex::adam_update(state, grad, step);
    publish(handles, ir, vec![out.param, out.moment_1, out.moment_2]);
}
