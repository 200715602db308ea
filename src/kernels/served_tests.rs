//! The handlers on their own, with a handle container as burn-remote's server passes them:
//! malformed ops are refused before anything is computed or allocated, naming the op.

use burn::backend::ir::{TensorId, TensorIr, TensorStatus};
use burn::backend::ops::FloatTensorOps;

use super::*;

/// A malformed op: what it is, its id and handler, inputs, declared outputs, scalars, and
/// what the refusal must say.
type Case = (
    &'static str,
    (&'static str, Handler),
    Vec<FlexTensor>,
    Vec<TensorIr>,
    Vec<ScalarIr>,
    &'static str,
);

/// A container holding `tensors` under ids 1, 2, …, and their IRs.
fn handles_with(tensors: Vec<FlexTensor>) -> (Handles, Vec<TensorIr>) {
    let mut handles = Handles::new();
    let irs = tensors
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let id = TensorId::new(i as u64 + 1);
            let ir = TensorIr {
                id,
                shape: t.shape(),
                status: TensorStatus::ReadOnly,
                dtype: t.dtype(),
            };
            handles.register_float_tensor::<Flex>(&id, t);
            ir
        })
        .collect();
    (handles, irs)
}

fn tensor(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.to_vec()))
}

fn out(id: u64, shape: &[usize]) -> TensorIr {
    TensorIr::uninit(TensorId::new(id), Shape::from(shape.to_vec()), DType::F32)
}

/// The message `handler` stops with on `op`, or `None` when it accepted the op.
fn refusal(handler: Handler, handles: &mut Handles, op: &CustomOpIr) -> Option<String> {
    let device = FlexDevice;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(handles, op, &device)));
    result.err().map(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn a_block_whose_sizes_would_overflow_or_exhaust_memory_is_refused_before_allocating() {
    // One float expanded (no copy) to 2^20 images of 64×64, and a 1×1 kernel with 2^12 outputs:
    // the convolution alone would be 2^44 floats.
    let one = tensor(vec![1.0], &[1, 1, 1, 1]);
    let x = Flex::float_expand(one, Shape::new([1 << 20, 1, 64, 64]));
    let weight = Flex::float_expand(tensor(vec![0.5], &[1, 1, 1, 1]), Shape::new([1 << 12, 1, 1, 1]));
    let bias = Flex::float_expand(tensor(vec![0.0], &[1]), Shape::new([1 << 12]));
    let (mut handles, inputs) = handles_with(vec![x, weight, bias]);
    let op = CustomOpIr::with_scalars(
        BLOCK_OP,
        &inputs,
        &[out(9, &[1 << 20, 1 << 12, 32, 32])],
        vec![ScalarIr::UInt(BlockKind::Bias as u64), ScalarIr::Float(0.0)],
    );
    let said = refusal(block, &mut handles, &op).expect("refused");
    assert!(
        said.contains("mnist-workbench.block:") && said.contains("sizes"),
        "{said}"
    );
}

#[test]
fn malformed_block_and_adam_ops_are_refused_naming_the_op() {
    let x = || tensor(vec![0.1; 2 * 3 * 4 * 4], &[2, 3, 4, 4]);
    let w = || tensor(vec![0.2; 5 * 3 * 3 * 3], &[5, 3, 3, 3]);
    let v = || tensor(vec![0.3; 5], &[5]);
    let scalars = |kind: BlockKind| vec![ScalarIr::UInt(kind as u64), ScalarIr::Float(1e-5)];
    let pooled = [2, 5, 2, 2];
    let cases: Vec<Case> = vec![
        (
            "missing input",
            (BLOCK_OP, block),
            vec![x(), w()],
            vec![out(9, &pooled)],
            scalars(BlockKind::Bias),
            "2 inputs",
        ),
        (
            "unknown kind",
            (BLOCK_OP, block),
            vec![x(), w(), v()],
            vec![out(9, &pooled)],
            vec![ScalarIr::UInt(7), ScalarIr::Float(0.0)],
            "unknown block kind",
        ),
        (
            "scalar of another kind",
            (BLOCK_OP, block),
            vec![x(), w(), v()],
            vec![out(9, &pooled)],
            vec![ScalarIr::Float(0.0), ScalarIr::Float(0.0)],
            "scalar 0",
        ),
        (
            "wrong channel count",
            (BLOCK_OP, block),
            vec![x(), w(), tensor(vec![0.0; 4], &[4])],
            vec![out(9, &pooled)],
            scalars(BlockKind::Bias),
            "do not take",
        ),
        (
            "output declared too large",
            (BLOCK_OP, block),
            vec![x(), w(), v()],
            vec![out(9, &[2, 5, 200, 200])],
            scalars(BlockKind::Bias),
            "output 0 declared",
        ),
        (
            "outputs missing",
            (BLOCK_OP, block),
            vec![x(), w(), v(), v()],
            vec![out(9, &pooled)],
            scalars(BlockKind::BatchNorm),
            "1 outputs declared",
        ),
        (
            "running norm tracked",
            (TRACKED_BLOCK_OP, tracked_block),
            vec![x(), w(), v(), v(), v(), v()],
            vec![out(9, &pooled), out(10, &[2])],
            vec![ScalarIr::UInt(2), ScalarIr::Float(1e-5), ScalarIr::UInt(1)],
            "not tracked",
        ),
        (
            "forged key",
            (BLOCK_BACKWARD_OP, block_backward),
            vec![tensor(vec![1.0, 2.0], &[2]), tensor(vec![0.0; 40], &pooled)],
            vec![out(9, &[5, 3, 3, 3])],
            vec![ScalarIr::UInt(2)],
            "no block state",
        ),
        (
            "adam shapes differ",
            (ADAM_OP, adam),
            vec![v(), v(), v(), tensor(vec![0.0; 4], &[4])],
            vec![out(9, &[5]), out(10, &[5]), out(11, &[5])],
            adam_scalars(),
            "one shape",
        ),
        (
            "adam bad scalars",
            (ADAM_OP, adam),
            vec![v(), v(), v(), v()],
            vec![out(9, &[5]), out(10, &[5]), out(11, &[5])],
            vec![ScalarIr::UInt(0)],
            "not an Adam step",
        ),
        (
            "adam outputs wrong",
            (ADAM_OP, adam),
            vec![v(), v(), v(), v()],
            vec![out(9, &[5]), out(10, &[6]), out(11, &[5])],
            adam_scalars(),
            "output 1 declared",
        ),
    ];
    for (what, (id, handler), tensors, outputs, scalars, expected) in cases {
        let (mut handles, inputs) = handles_with(tensors);
        let op = CustomOpIr::with_scalars(id, &inputs, &outputs, scalars);
        let said = refusal(handler, &mut handles, &op).unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(
            said.starts_with(&format!("custom op {id}: ")) && said.contains(expected),
            "{what}: {said}"
        );
        for output in &outputs {
            assert!(!handles.has_handle(&output.id), "{what}: nothing registered");
        }
    }
}

fn adam_scalars() -> Vec<ScalarIr> {
    vec![
        ScalarIr::UInt(0),
        ScalarIr::Float(1e-3),
        ScalarIr::Float(0.9),
        ScalarIr::Float(0.999),
        ScalarIr::Float(1e-8),
        ScalarIr::Int(1),
        ScalarIr::Float(0.0),
    ]
}

#[test]
fn a_forward_without_a_backward_leaves_nothing_once_its_key_is_dropped() {
    let (n, ci, co) = (2, 1, 4);
    let x = tensor(
        (0..n * ci * 36).map(|i| (i as f32 * 0.37).sin()).collect(),
        &[n, ci, 6, 6],
    );
    let w = tensor(
        (0..co * ci * 9).map(|i| (i as f32 * 0.11).cos()).collect(),
        &[co, ci, 3, 3],
    );
    let v = || tensor(vec![0.5; co], &[co]);
    let count = || STATES.lock().unwrap().as_ref().map_or(0, |s| s.len());
    let (mut handles, inputs) = handles_with(vec![x, w, v(), v()]);
    let key = TensorId::new(20);
    let outputs = [
        out(17, &[n, co, 3, 3]),
        out(18, &[co]),
        out(19, &[co]),
        out(20, &[KEY_LEN]),
    ];
    let scalars = vec![
        ScalarIr::UInt(BlockKind::BatchNorm as u64),
        ScalarIr::Float(1e-5),
        ScalarIr::UInt(0b1110),
    ];
    let op = CustomOpIr::with_scalars(TRACKED_BLOCK_OP, &inputs, &outputs, scalars.clone());
    let kernels = super::super::Kernels::ALL;
    let served = served_ops();
    assert_eq!(
        super::super::with_kernels(kernels, || refusal(tracked_block, &mut handles, &op)),
        None
    );
    assert!(served_ops() > served, "the op counts as served");
    assert!(handles.has_handle(&key), "the key was handed out");
    let held = count();
    assert!(held >= 1, "the state is kept while the key lives");
    // The client drops the key; the next tracked block sweeps the state away.
    handles.remove_handle(key);
    let (mut handles, inputs) = handles_with(vec![
        tensor(vec![0.25; n * ci * 36], &[n, ci, 6, 6]),
        tensor(vec![0.5; co * ci * 9], &[co, ci, 3, 3]),
        v(),
        v(),
    ]);
    let op = CustomOpIr::with_scalars(TRACKED_BLOCK_OP, &inputs, &outputs, scalars);
    assert_eq!(
        super::super::with_kernels(kernels, || refusal(tracked_block, &mut handles, &op)),
        None
    );
    let kernels_state = STATES
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .values()
        .any(|s| matches!(s.kept, Kept::Kernels(_)));
    assert!(
        kernels_state,
        "a finite block keeps the kernels' buffers, not a graph"
    );
    assert!(
        count() <= held,
        "the dropped key's state is gone ({} now, {held} before)",
        count()
    );
}
