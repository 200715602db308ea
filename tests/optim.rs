//! The one-pass Adam and AdamW steps against burn's own optimisers: same weights after several
//! steps of a real network (within float rounding), and optimiser state saved by either loads
//! into the other (so `optimizer.bpk` files of older runs still resume). The fused side proves
//! that the one-pass kernel stepped every parameter (this thread's kernel counters): its
//! fallback composes the very same formula, so equal weights alone would not tell.

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use mnist_workbench::data::batch;
use mnist_workbench::kernels::cpu::isa::Isa;
use mnist_workbench::kernels::{self, Kernels};
use mnist_workbench::model::{Model, ModelSpec};
use mnist_workbench::train::optim::{FusedAdam, FusedAdamW};

mod common;

/// Every float parameter's values, in visiting order.
struct Collect(Vec<Vec<f32>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().into_data().iter::<f32>().collect());
    }
}

fn params(model: &Model) -> Vec<Vec<f32>> {
    let mut collect = Collect(Vec::new());
    model.visit(&mut collect);
    collect.0
}

/// A CNN with BatchNorm and no dropout (so no random draws while training), with fixed initial
/// weights, on the autodiff flex device. burn's generator is process-wide: the checks below
/// run in one test, one after the other.
fn fresh() -> Model {
    let device = Device::flex().autodiff();
    device.seed(3);
    let spec = ModelSpec::Cnn {
        channels: vec![8, 16],
        kernel_size: 3,
        batch_norm: true,
        dropout: 0.0,
        dense: 32,
    };
    spec.init(&device)
}

/// Steps `steps` (batches of 16 synthetic digits, the batch chosen by the step number) with `optim`.
fn run(
    mut model: Model,
    mut optim: ModuleOptimizer,
    steps: std::ops::Range<usize>,
) -> (Model, ModuleOptimizer) {
    let device = Device::flex().autodiff();
    let data = common::synthetic_dataset(128, 8, 5);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    for step in steps {
        let indices: Vec<usize> = (step * 16..step * 16 + 16).collect();
        let (x, y) = batch::batch(&data.train, &indices, None, &device);
        let loss = loss_fn.forward(model.forward(x), y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    (model, optim)
}

fn train(optim: ModuleOptimizer, steps: usize) -> (Model, ModuleOptimizer) {
    run(fresh(), optim, 0..steps)
}

/// Counts the trainable tensors (running statistics are visited too, but need no gradient).
struct Trainable(u64);

impl ModuleVisitor for Trainable {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0 += param.val().is_require_grad() as u64;
    }
}

/// Trainable tensors of [`fresh`]'s network (conv weights, gammas, betas, dense weights and
/// biases), each stepped once per step.
fn parameter_tensors() -> u64 {
    let mut count = Trainable(0);
    fresh().visit(&mut count);
    assert_eq!(count.0, 10, "2 × (kernel, gamma, beta) + 2 × (weight, bias)");
    count.0
}

/// [`train`] with the fused optimiser `optim`, asserting that its one-pass kernel stepped
/// every parameter at every step on this thread (no silent fallback).
fn train_fused(optim: ModuleOptimizer, steps: usize, what: &str) -> (Model, ModuleOptimizer) {
    let ((model, optim), runs) =
        kernels::with_kernels(Kernels::ALL, || kernels::runs_during(|| train(optim, steps)));
    assert_eq!(
        runs.adam_steps,
        parameter_tensors() * steps as u64,
        "{what}: the one-pass kernel stepped every parameter"
    );
    (model, optim)
}

fn assert_same_weights(a: &Model, b: &Model, what: &str) {
    for (i, (x, y)) in params(a).iter().zip(params(b)).enumerate() {
        let scale = y.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (u, v) in x.iter().zip(&y) {
            assert!((u - v).abs() <= 1e-5 * scale, "{what}: parameter {i}: {u} vs {v}");
        }
    }
}

#[test]
fn fused_adam_steps_like_burns_optimisers_and_shares_their_state_files() {
    // The update loop picks its instruction set at run time: every path this CPU has.
    for isa in Isa::available() {
        isa.force(same_steps_as_burns_optimisers);
    }
    state_files_load_across_burn_and_fused_adam();
}

fn same_steps_as_burns_optimisers() {
    let cases: [(&str, ModuleOptimizer, ModuleOptimizer); 3] = [
        (
            "adam",
            AdamConfig::new().with_epsilon(1e-8).init(),
            FusedAdam::default().into(),
        ),
        (
            "adam + L2",
            AdamConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(Some(WeightDecayConfig::new(1e-2)))
                .init(),
            FusedAdam {
                weight_decay: 1e-2,
                ..FusedAdam::default()
            }
            .into(),
        ),
        (
            "adamw",
            AdamWConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(0.05)
                .init(),
            FusedAdamW {
                weight_decay: 0.05,
                ..FusedAdamW::default()
            }
            .into(),
        ),
    ];
    for (what, burns, ours) in cases {
        let ((reference, _), burn_runs) = kernels::runs_during(|| train(burns, 4));
        assert_eq!(burn_runs.adam_steps, 0, "{what}: burn's optimiser is burn's");
        let (fused, _) = train_fused(ours, 4, what);
        assert_same_weights(&fused, &reference, what);
        // The weights moved: the comparison is not of two untouched initialisations.
        let (start, _) = train(AdamConfig::new().init(), 0);
        assert_ne!(params(&start), params(&fused), "{what}");
    }
}

fn state_files_load_across_burn_and_fused_adam() {
    // Two steps with burn's Adam, its state saved as a run saves it, then two more steps with
    // the fused Adam from that state: the same weights as four steps of burn's Adam.
    let (model, burns) = train(AdamConfig::new().with_epsilon(1e-8).init(), 2);
    let bytes = burns.into_bytes().expect("state saves");
    let fused: ModuleOptimizer = FusedAdam::default().into();
    let fused = fused
        .from_bytes(bytes)
        .expect("burn's Adam state loads into the fused Adam");
    let ((resumed, fused), runs) =
        kernels::with_kernels(Kernels::ALL, || kernels::runs_during(|| run(model, fused, 2..4)));
    assert_eq!(
        runs.adam_steps,
        parameter_tensors() * 2,
        "the one-pass kernel resumed"
    );
    let (reference, _) = train(AdamConfig::new().with_epsilon(1e-8).init(), 4);
    assert_same_weights(&resumed, &reference, "resumed from burn's state");
    // And the other way: the fused Adam's state loads into burn's Adam.
    let fused_bytes = fused.into_bytes().expect("and saves again");
    let back: ModuleOptimizer = AdamConfig::new().with_epsilon(1e-8).init();
    back.from_bytes(fused_bytes)
        .expect("the fused Adam's state loads into burn's Adam");
}
