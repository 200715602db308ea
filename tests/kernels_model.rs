//! Whole networks on our kernels against the same networks on burn's standard ops
//! (`kernels::with_kernels(Kernels::BURN, …)`, the in-process form of
//! `MNIST_WORKBENCH_KERNELS=burn`): logits, every parameter's gradient and the weights after
//! two Adam steps within 1e-4 of each tensor's scale, for seed3-cnn, small-cnn, tiny-cnn (no
//! BatchNorm) and an odd custom CNN, every one of them two or more chained blocks; and two
//! chained blocks alone down to the gradient of their input. Each run proves which path it
//! took from this thread's kernel counters. (Adam's per-element `g/|g|` magnifies rounding
//! where a gradient is ~0: see [`assert_weights_close`] for the few weights that excuses;
//! seed3-cnn has 21 of its million dense weights there, with gradients of ~1e-8.)

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::relu;
use burn::tensor::module::{batch_norm_train, conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use mnist_workbench::data::batch;
use mnist_workbench::kernels::{self, KernelRuns, Kernels};
use mnist_workbench::model::{Model, ModelSpec};
use mnist_workbench::rng::Rng;
use mnist_workbench::train::optim::FusedAdam;

mod common;

/// Each element of `got` within `1e-4 ·` the largest magnitude of `want`.
fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * scale,
            "{what}[{i}]: {a} vs {b} (scale {scale})"
        );
    }
}

/// The weights after the steps within 1e-4 of each tensor's scale, but for Adam's blind spot:
/// its update is about `lr · g/|g|` per element, so where a gradient is near zero the two
/// paths' gradient roundings (within 1e-4 of the gradient's scale, checked above) can move the
/// weight by a visible fraction of `lr`. Such weights (gradient below 1% of its tensor's
/// gradient scale at some step) need only stay within the `2 · lr` per step Adam can move them,
/// and may be at most 1% of a tensor. Running statistics (no gradient) must match outright.
fn assert_weights_close(name: &str, fused: &Trace, burn: &Trace) {
    let mut grads = fused.grads[0].iter().zip(&fused.grads[1]);
    for (i, (a, b)) in fused.weights.iter().zip(&burn.weights).enumerate() {
        let what = format!("{name} tensor {i} after {STEPS} steps");
        let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        let steps_grads = if fused.trainable[i] { grads.next() } else { None };
        let mut excused = 0;
        for (j, (u, v)) in a.iter().zip(b).enumerate() {
            if (u - v).abs() <= 1e-4 * scale {
                continue;
            }
            let Some((g0, g1)) = steps_grads else {
                panic!("{what}[{j}]: {u} vs {v} (scale {scale})");
            };
            let small = |g: &[f32]| g[j].abs() < 1e-2 * g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(
                (small(g0) || small(g1)) && (u - v).abs() <= 2.0 * LR * STEPS as f32,
                "{what}[{j}]: {u} vs {v} (scale {scale}; gradients {} and {})",
                g0[j],
                g1[j]
            );
            excused += 1;
        }
        assert!(
            excused * 100 <= a.len(),
            "{what}: {excused} of {} weights off",
            a.len()
        );
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// Every float tensor's values (parameters and BatchNorm's running statistics), or with
/// `grads` every trainable parameter's gradient, in visiting order.
struct Collect<'a> {
    grads: Option<&'a Gradients>,
    out: Vec<Vec<f32>>,
    /// Whether each tensor visited is trainable (a running statistic is not).
    trainable: Vec<bool>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        self.trainable.push(tensor.is_require_grad());
        match self.grads {
            Some(grads) if tensor.is_require_grad() => {
                self.out.push(values(
                    tensor.grad(grads).expect("every parameter has a gradient"),
                ));
            }
            Some(_) => {} // a running statistic
            None => self.out.push(values(tensor)),
        }
    }
}

fn collect(model: &Model, grads: Option<&Gradients>) -> Vec<Vec<f32>> {
    collect_flagged(model, grads).0
}

/// [`collect`] and the trainable flag of every tensor visited.
fn collect_flagged(model: &Model, grads: Option<&Gradients>) -> (Vec<Vec<f32>>, Vec<bool>) {
    let mut visitor = Collect {
        grads,
        out: Vec::new(),
        trainable: Vec::new(),
    };
    model.visit(&mut visitor);
    (visitor.out, visitor.trainable)
}

/// What one run of two training steps produced.
struct Trace {
    logits: Vec<Vec<f32>>,
    grads: Vec<Vec<Vec<f32>>>,
    weights: Vec<Vec<f32>>,
    /// Whether each of `weights` is trainable.
    trainable: Vec<bool>,
    runs: KernelRuns,
}

const STEPS: usize = 2;
const BATCH: usize = 16;
const LR: f32 = 1e-3;

/// Two Adam steps of `spec` from seeded weights (dropout masks seeded per step, so both paths
/// draw the same), with `choice` of kernels on this thread.
fn two_steps(spec: &ModelSpec, choice: Kernels) -> Trace {
    kernels::with_kernels(choice, || {
        let device = Device::flex().autodiff();
        device.seed(17);
        let mut model = spec.init(&device);
        let data = common::synthetic_dataset(STEPS * BATCH, 4, 9);
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let mut optim: ModuleOptimizer = FusedAdam::default().into();
        let (mut logits, mut grads) = (Vec::new(), Vec::new());
        let ((), runs) = kernels::runs_during(|| {
            for step in 0..STEPS {
                let indices: Vec<usize> = (step * BATCH..(step + 1) * BATCH).collect();
                let (x, y) = batch::batch(&data.train, &indices, None, &device);
                device.seed(100 + step as u64);
                let out = model.forward(x);
                logits.push(values(out.clone().inner()));
                let gradients = loss_fn.forward(out, y).backward();
                grads.push(collect(&model, Some(&gradients)));
                let gradients = GradientsParams::from_grads(gradients, &model);
                model = optim.step(LR as f64, model.clone(), gradients);
            }
        });
        let (weights, trainable) = collect_flagged(&model, None);
        Trace {
            logits,
            grads,
            weights,
            trainable,
            runs,
        }
    })
}

#[test]
fn whole_networks_train_alike_on_our_kernels_and_on_burns_ops() {
    let custom = ModelSpec::Cnn {
        channels: vec![5, 7, 9], // 28 → 14 → 7 → 3: the odd last row and column drop
        kernel_size: 5,
        batch_norm: true,
        dropout: 0.1,
        dense: 17,
    };
    let specs = [
        ("seed3-cnn", ModelSpec::preset("seed3-cnn").unwrap()),
        ("small-cnn", ModelSpec::preset("small-cnn").unwrap()),
        ("tiny-cnn", ModelSpec::preset("tiny-cnn").unwrap()),
        ("cnn:5,7,9:k5:bn:dense17:drop0.1", custom),
    ];
    for (name, spec) in specs {
        let ModelSpec::Cnn { channels, .. } = &spec else {
            unreachable!("CNN specs only")
        };
        let blocks = (channels.len() * STEPS) as u64;
        let burn = two_steps(&spec, Kernels::BURN);
        assert_eq!(burn.runs, KernelRuns::default(), "{name}: burn's ops only");
        let fused = two_steps(&spec, Kernels::ALL);
        let parameters = fused.grads[0].len() as u64;
        assert_eq!(
            fused.runs,
            KernelRuns {
                blocks,
                block_backwards: blocks,
                adam_steps: parameters * STEPS as u64,
                ..KernelRuns::default()
            },
            "{name}: every block forward and backward and every Adam step ran fused"
        );
        for step in 0..STEPS {
            let what = |t: &str| format!("{name} step {step} {t}");
            assert_close(&what("logits"), &fused.logits[step], &burn.logits[step]);
            for (i, (a, b)) in fused.grads[step].iter().zip(&burn.grads[step]).enumerate() {
                assert_close(&what(&format!("gradient of parameter {i}")), a, b);
            }
        }
        assert_weights_close(name, &fused, &burn);
        // The steps moved the weights: not two untouched initialisations compared.
        let device = Device::flex().autodiff();
        device.seed(17);
        let start = collect(&spec.init(&device), None);
        assert_ne!(start, fused.weights, "{name}");
    }
    two_chained_blocks_down_to_their_input();
}

fn tensor<const D: usize>(values: Vec<f32>, dims: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, dims), device)
}

fn random(len: usize, rng: &mut Rng, scale: f32) -> Vec<f32> {
    (0..len).map(|_| (rng.next_f32() * 2.0 - 1.0) * scale).collect()
}

/// A BatchNorm block (3 → 6 channels, k3) feeding a plain block (6 → 5, k5) on an odd 13×11
/// map: output and the gradients of the input and of every parameter, both blocks fused
/// against burn's composition.
fn two_chained_blocks_down_to_their_input() {
    let device = Device::flex().autodiff();
    let mut rng = Rng::new(23);
    let x = random(2 * 3 * 13 * 11, &mut rng, 1.0);
    let w1 = random(6 * 3 * 9, &mut rng, 0.3);
    let (gamma, beta) = (random(6, &mut rng, 1.0), random(6, &mut rng, 0.5));
    let w2 = random(5 * 6 * 25, &mut rng, 0.1);
    let bias = random(5, &mut rng, 0.2);
    let upstream = tensor(random(2 * 5 * 3 * 2, &mut rng, 1.0), [2, 5, 3, 2], &device);
    let leaves = || {
        [
            tensor(x.clone(), [2, 3, 13, 11], &device).require_grad(),
            tensor(w1.clone(), [6, 3, 3, 3], &device).require_grad(),
            tensor(w2.clone(), [5, 6, 5, 5], &device).require_grad(),
        ]
    };
    let vectors = || {
        [gamma.clone(), beta.clone(), bias.clone()].map(|v| {
            let len = v.len();
            tensor(v, [len], &device).require_grad()
        })
    };
    let (fused_leaves, fused_vectors) = (leaves(), vectors());
    let [x1, w11, w21] = fused_leaves.clone();
    let [g1, b1, c1] = fused_vectors.clone();
    let (fused, runs) = kernels::with_kernels(Kernels::ALL, || {
        kernels::runs_during(|| {
            let (hidden, _, _) = kernels::conv_norm_relu_pool(x1, w11, g1, b1, 1e-5);
            kernels::conv_relu_pool(hidden, w21, c1)
        })
    });
    assert_eq!(runs.blocks, 2, "both blocks ran fused");
    let (fused_grads, runs) = kernels::runs_during(|| (fused.clone() * upstream.clone()).sum().backward());
    assert_eq!(runs.block_backwards, 2, "both backward passes ran fused");

    let (burn_leaves, burn_vectors) = (leaves(), vectors());
    let [x2, w12, w22] = burn_leaves.clone();
    let [g2, b2, c2] = burn_vectors.clone();
    let options = |k: usize| ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1);
    let pool = |t: Tensor<4>| max_pool2d(t, MaxPoolOptions::new([2, 2]));
    let hidden = pool(relu(
        batch_norm_train(conv2d(x2, w12, None, options(3)), g2, b2, 1e-5).output,
    ));
    let composed = pool(relu(conv2d(hidden, w22, Some(c2), options(5))));
    let burn_grads = (composed.clone() * upstream).sum().backward();

    assert_close(
        "chained output",
        &values(fused.inner()),
        &values(composed.inner()),
    );
    let names = ["d input", "d weight 1", "d weight 2"];
    for ((name, a), b) in names.iter().zip(&fused_leaves).zip(&burn_leaves) {
        let (a, b) = (a.grad(&fused_grads).unwrap(), b.grad(&burn_grads).unwrap());
        assert_close(&format!("chained {name}"), &values(a), &values(b));
    }
    let names = ["d gamma", "d beta", "d bias 2"];
    for ((name, a), b) in names.iter().zip(&fused_vectors).zip(&burn_vectors) {
        let (a, b) = (a.grad(&fused_grads).unwrap(), b.grad(&burn_grads).unwrap());
        assert_close(&format!("chained {name}"), &values(a), &values(b));
    }
}
