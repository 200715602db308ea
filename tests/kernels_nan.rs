//! NaN and precision in the fused blocks, against burn's composition of the same ops on flex:
//! NaN in, NaN out at exactly burn's positions, forward and backward (a NaN pixel, a NaN
//! weight, a NaN born inside an overflowing convolution, a NaN gradient from upstream); the
//! BatchNorm statistics of outputs whose mean dwarfs their spread; and a NaN planted in a
//! network's weights stopping training at the same step on our kernels and on burn's ops.

use burn::module::{Module, ModuleMapper, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::relu;
use burn::tensor::module::{batch_norm_train, conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{DType, Device, Gradients, Tensor, TensorData};
use mnist_workbench::data::batch;
use mnist_workbench::kernels::{self, Kernels, runs_during};
use mnist_workbench::model::{Model, ModelSpec};
use mnist_workbench::rng::Rng;
use mnist_workbench::train::optim::FusedAdam;

mod common;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// NaN exactly where `want` has NaN, infinities equal, finite values within `tolerance ·` the
/// largest finite magnitude of `want`.
fn assert_same_with(what: &str, got: &[f32], want: &[f32], tolerance: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want
        .iter()
        .filter(|v| v.is_finite())
        .fold(1e-3f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let same = if b.is_nan() || b.is_infinite() || a.is_nan() || a.is_infinite() {
            a.is_nan() && b.is_nan() || a == b
        } else {
            (a - b).abs() <= tolerance * scale
        };
        assert!(same, "{what}[{i}]: {a} vs burn's {b} (scale {scale})");
    }
}

fn assert_same(what: &str, got: &[f32], want: &[f32]) {
    assert_same_with(what, got, want, 1e-4);
}

fn tensor<const D: usize>(values: Vec<f32>, dims: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, dims), device)
}

fn random(len: usize, rng: &mut Rng, scale: f32) -> Vec<f32> {
    (0..len).map(|_| (rng.next_f32() * 2.0 - 1.0) * scale).collect()
}

/// One block's inputs: `x [n, ci, h, w]`, weight `[co, ci, k, k]`, the per-channel vectors
/// (bias, or gamma and beta) and the gradient arriving at the pooled output.
struct Block {
    x: Vec<f32>,
    weight: Vec<f32>,
    gamma: Vec<f32>,
    shift: Vec<f32>,
    upstream: Vec<f32>,
    dims: [usize; 4],
    kernel: usize,
    out_channels: usize,
}

impl Block {
    fn random(dims: [usize; 4], out_channels: usize, kernel: usize, seed: u64) -> Block {
        let [n, ci, h, w] = dims;
        let mut rng = Rng::new(seed);
        Block {
            x: random(n * ci * h * w, &mut rng, 1.0),
            weight: random(out_channels * ci * kernel * kernel, &mut rng, 0.5),
            gamma: random(out_channels, &mut rng, 1.0),
            shift: random(out_channels, &mut rng, 0.5),
            upstream: random(n * out_channels * (h / 2) * (w / 2), &mut rng, 0.5),
            dims,
            kernel,
            out_channels,
        }
    }

    fn pooled_dims(&self) -> [usize; 4] {
        let [n, _, h, w] = self.dims;
        [n, self.out_channels, h / 2, w / 2]
    }
}

/// Output and gradients of a block, in a fixed order (see [`NAMES`]).
type Results = Vec<Vec<f32>>;

/// What each entry of [`Results`] is, with BatchNorm; without it, the bias takes gamma's place
/// and the last two are absent.
const NAMES: [&str; 7] = [
    "output", "d input", "d weight", "d gamma", "d beta", "mean", "variance",
];

/// A tensor of `values`, stored in f64 when `f64` is set.
fn leaf<const D: usize>(values: &[f32], dims: [usize; D], device: &Device, f64: bool) -> Tensor<D> {
    if f64 {
        let data = TensorData::new(values.iter().map(|v| *v as f64).collect::<Vec<_>>(), dims);
        Tensor::from_data(data, (device, DType::F64))
    } else {
        tensor(values.to_vec(), dims, device)
    }
}

/// Where a block runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    /// Our kernels.
    Fused,
    /// burn's composition in f32.
    Burn,
    /// burn's composition in f64: the reference for sums that cancel.
    BurnF64,
}

/// The block on `path`, forward and backward, and the kernel runs it took on this thread.
fn run_block(b: &Block, batch_norm: bool, path: Path) -> (Results, kernels::KernelRuns) {
    let device = Device::flex().autodiff();
    let co = b.out_channels;
    let f64 = path == Path::BurnF64;
    let x = leaf(&b.x, b.dims, &device, f64).require_grad();
    let w = leaf(&b.weight, [co, b.dims[1], b.kernel, b.kernel], &device, f64).require_grad();
    let gamma = leaf(&b.gamma, [co], &device, f64).require_grad();
    let shift = leaf(&b.shift, [co], &device, f64).require_grad();
    let upstream = leaf(&b.upstream, b.pooled_dims(), &device, f64);
    assert_eq!(x.dtype(), if f64 { DType::F64 } else { DType::F32 });
    let fused = path == Path::Fused;
    let options = ConvOptions::new([1, 1], [b.kernel / 2, b.kernel / 2], [1, 1], 1);
    let pool = |t: Tensor<4>| max_pool2d(t, MaxPoolOptions::new([2, 2]));
    let ((output, stats, grads), runs) = kernels::with_kernels(Kernels::ALL, || {
        runs_during(|| {
            let (output, stats) = match (batch_norm, fused) {
                (false, true) => (kernels::conv_relu_pool(x.clone(), w.clone(), gamma.clone()), None),
                (false, false) => {
                    let conv = conv2d(x.clone(), w.clone(), Some(gamma.clone()), options.clone());
                    (pool(relu(conv)), None)
                }
                (true, true) => {
                    let (out, mean, var) = kernels::conv_norm_relu_pool(
                        x.clone(),
                        w.clone(),
                        gamma.clone(),
                        shift.clone(),
                        1e-5,
                    );
                    (out, Some((mean, var)))
                }
                (true, false) => {
                    let conv = conv2d(x.clone(), w.clone(), None, options.clone());
                    let n = batch_norm_train(conv, gamma.clone(), shift.clone(), 1e-5);
                    (pool(relu(n.output)), Some((n.mean, n.variance)))
                }
            };
            let grads = (output.clone() * upstream.clone()).sum().backward();
            (output, stats, grads)
        })
    });
    let grad = |t: &Tensor<1>, grads: &Gradients| values(t.grad(grads).unwrap());
    let mut results = vec![
        values(output.inner()),
        values(x.grad(&grads).unwrap()),
        values(w.grad(&grads).unwrap()),
        grad(&gamma, &grads),
    ];
    if let Some((mean, variance)) = stats {
        results.push(grad(&shift, &grads));
        results.push(values(mean.inner()));
        results.push(values(variance.inner()));
    }
    (results, runs)
}

/// Compares the fused block with the composition on `b`; returns whether the fused kernels
/// computed it (forward and backward) rather than handing it to burn's ops.
fn compare(what: &str, b: &Block, batch_norm: bool) -> bool {
    let (want, burn_runs) = run_block(b, batch_norm, Path::Burn);
    assert_eq!(
        burn_runs,
        kernels::KernelRuns::default(),
        "{what}: the composition is burn's"
    );
    let (got, runs) = run_block(b, batch_norm, Path::Fused);
    for ((name, got), want) in NAMES.iter().zip(&got).zip(&want) {
        assert_same(&format!("{what} bn {batch_norm}: {name}"), got, want);
    }
    assert_eq!(
        runs.blocks, runs.block_backwards,
        "{what}: forward and backward on one path"
    );
    runs.blocks == 1
}

fn count_nan(results: &[f32]) -> usize {
    results.iter().filter(|v| v.is_nan()).count()
}

#[test]
fn nan_in_a_pixel_or_a_weight_gives_burns_nans() {
    // A NaN on the image's corner (where the zero padding meets it) and inside; a NaN in a
    // corner tap of one kernel. Such inputs go to burn's ops: the test proves the same NaNs
    // come out and that the kernels were indeed bypassed.
    for batch_norm in [false, true] {
        for (what, pixel) in [("corner pixel", 0), ("inner pixel", 2 * 9 + 4)] {
            let mut b = Block::random([2, 3, 8, 9], 4, 3, 31);
            b.x[9 * 8 + pixel] = f32::NAN; // image 0, channel 1
            assert!(!compare(what, &b, batch_norm), "{what}: handed to burn's ops");
        }
        let mut b = Block::random([2, 3, 8, 9], 4, 3, 37);
        b.weight[2 * 27 + 9] = f32::NAN; // output channel 2, input channel 1, tap (0, 0)
        assert!(!compare("weight", &b, batch_norm), "weight: handed to burn's ops");
        let (results, _) = run_block(&b, batch_norm, Path::Fused);
        assert!(count_nan(&results[0]) > 0, "the NaN reached the output");
    }
}

#[test]
fn infinities_and_nan_born_inside_the_kernels_propagate_like_burns() {
    // Output channel 0 weighs input channel 0 by 3e38 at the centre tap alone; input channel 0
    // is tiny except for a +2 in image 0 and a −2 in image 1, whose products overflow to +∞ and
    // −∞ (whatever the order of the sums: one product per position is huge). The inputs are
    // finite, so the fused kernels run: the plain block passes +∞ through ReLU and pooling, and
    // BatchNorm's statistics of the channel, `+∞ + −∞`, are NaN, as is its whole output.
    let [n, ci, h, w] = [2, 3, 8, 10];
    for batch_norm in [false, true] {
        let mut b = Block::random([n, ci, h, w], 4, 3, 41);
        for (i, v) in b.x.iter_mut().enumerate() {
            if (i / (h * w)) % ci == 0 {
                *v *= 1e-30;
            }
        }
        b.x[3 * w + 4] = 2.0; // image 0, channel 0, (3, 4)
        b.x[ci * h * w + 7 * w + 9] = -2.0; // image 1, channel 0, (7, 9)
        for i in 0..2 {
            for tap in 0..9 {
                b.weight[i * 9 + tap] = if i == 0 && tap == 4 { 3e38 } else { 0.0 };
            }
        }
        assert!(compare("overflow", &b, batch_norm), "the fused kernels ran");
        let (results, _) = run_block(&b, batch_norm, Path::Fused);
        let pooled_per_channel = (h / 2) * (w / 2);
        if batch_norm {
            assert_eq!(
                count_nan(&results[0]),
                n * pooled_per_channel,
                "channel 0 entirely NaN"
            );
            assert!(
                results[5][0].is_nan() && results[6][0].is_nan(),
                "its statistics NaN"
            );
            assert!(
                results[6][1..].iter().all(|v| v.is_finite()),
                "the others' finite"
            );
        } else {
            let infinite: Vec<usize> = (0..results[0].len())
                .filter(|&i| results[0][i].is_infinite())
                .collect();
            // Image 0, channel 0, row 1, column 2 of the 4 × 5 pooled map.
            assert_eq!(infinite, vec![5 + 2], "+∞ in the window of (3, 4) only");
            assert!(
                results[1..].iter().flatten().all(|v| v.is_finite()),
                "finite gradients"
            );
        }
    }
}

#[test]
fn nan_gradient_from_upstream_flows_back_like_burns() {
    for batch_norm in [false, true] {
        let b = Block::random([2, 3, 8, 10], 4, 3, 43);
        // Where the pooled output is largest: an active window, whose gradient passes ReLU.
        let (results, _) = run_block(&b, batch_norm, Path::Fused);
        let at = (0..results[0].len())
            .max_by(|&i, &j| results[0][i].total_cmp(&results[0][j]))
            .unwrap();
        let mut b = b;
        b.upstream[at] = f32::NAN;
        assert!(compare("upstream", &b, batch_norm), "the fused kernels ran");
        let (results, _) = run_block(&b, batch_norm, Path::Fused);
        assert!(count_nan(&results[2]) > 0, "the weight gradient went NaN");
    }
}

#[test]
fn batch_statistics_keep_their_precision_when_the_mean_dwarfs_the_spread() {
    // Inputs 1000 ± 1.7 through centre taps of 1 (other taps ±1e-3): each output channel has a
    // mean near 1000 and a standard deviation near 1. Burn computes the variance in two passes.
    let mut b = Block::random([4, 2, 10, 10], 4, 3, 47);
    let mut rng = Rng::new(53);
    b.x = (0..b.x.len())
        .map(|_| 1000.0 + (rng.next_f32() * 2.0 - 1.0) * 1.7)
        .collect();
    for o in 0..4 {
        for i in 0..2 {
            for tap in 0..9 {
                b.weight[(o * 2 + i) * 9 + tap] = match (tap, o % 2 == i) {
                    (4, true) => 1.0,
                    _ => (rng.next_f32() * 2.0 - 1.0) * 1e-3,
                };
            }
        }
    }
    let (burn, _) = run_block(&b, true, Path::Burn);
    let variance = &burn[6];
    assert!(
        burn[5].iter().all(|m| (m - 1000.0).abs() < 20.0) && variance.iter().all(|v| (0.2..20.0).contains(v)),
        "the case is as described: means {:?}, variances {variance:?}",
        burn[5]
    );
    let (got, runs) = run_block(&b, true, Path::Fused);
    assert_eq!(
        (runs.blocks, runs.block_backwards),
        (1, 1),
        "the fused kernels ran"
    );
    for c in 0..4 {
        let relative = ((got[6][c] - variance[c]) / variance[c]).abs();
        assert!(
            relative <= 1e-4,
            "variance {c}: {} vs {} ({relative:e})",
            got[6][c],
            variance[c]
        );
    }
    // Everything else against burn's composition in f64. (The weight gradient sums x·dy with
    // x ≈ 1000 and a centred dy: burn's own f32 result is off by ~1e-4 of its scale there.)
    let (truth, _) = run_block(&b, true, Path::BurnF64);
    for ((name, got), want) in NAMES.iter().zip(&got).zip(&truth) {
        assert_same(&format!("mean 1000, std 1: {name} against f64"), got, want);
    }
}

/// Replaces element `index` of the `param`-th float tensor in visiting order (parameters and
/// running statistics), which must have dims `dims`, by `value`.
struct Plant {
    param: usize,
    dims: Vec<usize>,
    index: usize,
    value: f32,
    seen: usize,
}

impl ModuleMapper for Plant {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let hit = self.seen == self.param;
        self.seen += 1;
        if !hit {
            return param;
        }
        let (index, value, expected) = (self.index, self.value, self.dims.clone());
        param.map(|t| {
            let (dims, device) = (t.dims(), t.device());
            assert_eq!(dims.to_vec(), expected, "the planted tensor is the one meant");
            let mut data = values(t.inner());
            data[index] = value;
            tensor(data, dims, &device).require_grad()
        })
    }
}

/// The first step whose loss is not finite (the session's stop) within `steps` steps of
/// seed3-cnn (no dropout), `plant` applied before step `at`; and the kernel runs.
fn diverges_at(
    choice: Kernels,
    plant: &Plant,
    at: usize,
    steps: usize,
) -> (Option<usize>, kernels::KernelRuns) {
    kernels::with_kernels(choice, || {
        runs_during(|| {
            let device = Device::flex().autodiff();
            device.seed(5);
            let spec = ModelSpec::Cnn {
                channels: vec![32, 64],
                kernel_size: 3,
                batch_norm: true,
                dropout: 0.0,
                dense: 64,
            };
            let mut model: Model = spec.init(&device);
            let data = common::synthetic_dataset(16 * steps, 4, 3);
            let loss_fn = CrossEntropyLossConfig::new().init(&device);
            let mut optim: ModuleOptimizer = FusedAdam::default().into();
            for step in 0..steps {
                if step == at {
                    model = model.map(&mut Plant {
                        dims: plant.dims.clone(),
                        ..*plant
                    });
                }
                let indices: Vec<usize> = (step * 16..step * 16 + 16).collect();
                let (x, y) = batch::batch(&data.train, &indices, None, &device);
                let loss = loss_fn.forward(model.forward(x), y);
                if !loss.clone().into_scalar::<f32>().is_finite() {
                    return Some(step);
                }
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(1e-3, model, grads);
            }
            None
        })
    })
}

#[test]
fn a_nan_planted_in_a_weight_stops_training_at_the_same_step_on_either_path() {
    // Float tensors in visiting order: per block the conv weight, gamma, beta and the two
    // running statistics; then the dense layers' weights and biases.
    let plant = |param, dims: &[usize], index, value| Plant {
        param,
        dims: dims.to_vec(),
        index,
        value,
        seen: 0,
    };
    let cases = [
        ("NaN in block 2's kernel", plant(5, &[64, 32, 3, 3], 5, f32::NAN)),
        ("NaN in block 1's gamma", plant(1, &[32], 0, f32::NAN)),
        (
            "NaN in the dense layer",
            plant(10, &[64 * 7 * 7, 64], 0, f32::NAN),
        ),
        // Finite, so the fused kernels take it: the convolution overflows and NaN is born inside.
        (
            "f32::MAX in block 2's kernel",
            plant(5, &[64, 32, 3, 3], 5, f32::MAX),
        ),
    ];
    for (what, plant) in &cases {
        let (burn, burn_runs) = diverges_at(Kernels::BURN, plant, 2, 4);
        let (fused, runs) = diverges_at(Kernels::ALL, plant, 2, 4);
        assert_eq!(burn, Some(2), "{what}: burn's ops stop at once");
        assert_eq!(fused, burn, "{what}: the fused kernels stop at the same step");
        assert_eq!(burn_runs, kernels::KernelRuns::default(), "{what}");
        assert!(
            runs.blocks >= 4 && runs.adam_steps > 0,
            "{what}: our kernels trained the first steps"
        );
    }
}
