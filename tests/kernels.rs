//! The fused block kernels against burn's standard composition of the same ops (conv2d,
//! batch_norm_train, relu, max_pool2d) on flex: outputs, batch statistics and every gradient
//! within 1e-4 of the composition's scale, on odd sizes, batch 1, non-contiguous inputs, and
//! the blocks of every preset and of parametric CNNs. Each comparison also proves that the
//! fused kernel computed its side (this thread's kernel counters, moved only after a kernel
//! completed: a silent fallback to burn's ops fails the test).

use burn::tensor::activation::relu;
use burn::tensor::module::{batch_norm, batch_norm_train, conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use mnist_workbench::kernels::cpu::isa::Isa;
use mnist_workbench::kernels::{self, Kernels, runs_during};
use mnist_workbench::rng::Rng;

/// `(batch, in, out, height, width, kernel)`.
type Shape = (usize, usize, usize, usize, usize, usize);

/// Every preset's blocks, parametric kernels 1 and 5, odd and unequal sides, batch 1.
const SHAPES: [Shape; 15] = [
    (4, 1, 32, 28, 28, 3),  // seed3-cnn, small-cnn block 1
    (4, 32, 64, 14, 14, 3), // seed3-cnn, small-cnn block 2
    (3, 64, 128, 7, 7, 3),  // small-cnn block 3 (odd side: the last row and column drop)
    (2, 1, 8, 28, 28, 3),   // tiny-cnn block 1
    (2, 8, 16, 14, 14, 3),  // tiny-cnn block 2
    (2, 1, 16, 28, 28, 5),  // cnn:16,32:k5
    (2, 16, 32, 14, 14, 5),
    (2, 1, 6, 28, 28, 1),  // k1
    (2, 3, 6, 14, 14, 1),  // k1 on several channels
    (2, 6, 12, 14, 14, 7), // k7 wider than half the map
    (1, 3, 5, 7, 9, 3),    // batch 1, odd unequal sides
    (1, 2, 3, 5, 5, 5),
    (5, 1, 4, 6, 7, 3),
    (3, 5, 17, 3, 3, 3), // 17 channels: not a multiple of any vector width
    (1, 1, 33, 2, 2, 3), // smallest map that pools
];

/// Runs `check` once on every instruction-set path this CPU has (the kernels pick one at run
/// time; each must agree with the composition), with our kernels on whatever
/// `MNIST_WORKBENCH_KERNELS` says.
fn on_every_path(check: impl Fn(Isa)) {
    kernels::with_kernels(Kernels::ALL, || {
        for isa in Isa::available() {
            isa.force(|| check(isa));
        }
    });
}

fn random(len: usize, rng: &mut Rng, scale: f32) -> Vec<f32> {
    (0..len).map(|_| (rng.next_f32() * 2.0 - 1.0) * scale).collect()
}

fn tensor<const D: usize>(values: Vec<f32>, dims: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, dims), device)
}

/// Every element of `got` within `1e-4 ·` the largest magnitude of `want`.
fn assert_close<const D: usize>(what: &str, got: Tensor<D>, want: Tensor<D>) {
    assert_eq!(got.dims(), want.dims(), "{what}: dims");
    let got: Vec<f32> = got.into_data().iter::<f32>().collect();
    let want: Vec<f32> = want.into_data().iter::<f32>().collect();
    let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * scale,
            "{what}[{i}]: {a} vs {b} (scale {scale})"
        );
    }
}

struct Case {
    x: Vec<f32>,
    weight: Vec<f32>,
    vector: [Vec<f32>; 2],
    upstream: Vec<f32>,
    dims: [usize; 4],
    weight_dims: [usize; 4],
    out_channels: usize,
}

fn case(shape: Shape, seed: u64) -> Case {
    let (n, ci, co, h, w, k) = shape;
    let mut rng = Rng::new(seed);
    let fan_in = (ci * k * k) as f32;
    Case {
        x: random(n * ci * h * w, &mut rng, 1.0),
        weight: random(co * ci * k * k, &mut rng, 1.0 / fan_in.sqrt()),
        vector: [random(co, &mut rng, 1.0), random(co, &mut rng, 0.5)],
        upstream: random(n * co * (h / 2) * (w / 2), &mut rng, 1.0),
        dims: [n, ci, h, w],
        weight_dims: [co, ci, k, k],
        out_channels: co,
    }
}

fn options(k: usize) -> ConvOptions<2> {
    ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1)
}

fn pool(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([2, 2]))
}

#[test]
fn inference_block_equals_the_composition() {
    on_every_path(|isa| {
        let device = Device::flex();
        for (i, shape) in SHAPES.into_iter().enumerate() {
            let c = case(shape, i as u64);
            let x = tensor(c.x, c.dims, &device);
            let w = tensor(c.weight, c.weight_dims, &device);
            let b = tensor(c.vector[0].clone(), [c.out_channels], &device);
            let want = pool(relu(conv2d(
                x.clone(),
                w.clone(),
                Some(b.clone()),
                options(shape.5),
            )));
            let (got, runs) = runs_during(|| kernels::conv_relu_pool(x.clone(), w.clone(), b.clone()));
            assert_eq!(runs.blocks, 1, "{shape:?}: the fused kernel ran");
            assert_close(&format!("{isa:?} {shape:?} output"), got.clone(), want.clone());
            // The same input as a non-contiguous view (NHWC memory seen as NCHW), and the fused
            // output (NHWC inside) fed on as the next block's input.
            let [n, ci, h, wd] = c.dims;
            let nhwc = x.clone().permute([0, 2, 3, 1]).into_data();
            let view = Tensor::<4>::from_data(nhwc, &device).permute([0, 3, 1, 2]);
            assert_eq!(view.dims(), [n, ci, h, wd]);
            let (got, runs) = runs_during(|| kernels::conv_relu_pool(view, w.clone(), b.clone()));
            assert_eq!(runs.blocks, 1, "{shape:?}: the fused kernel ran on the view");
            assert_close(&format!("{isa:?} {shape:?} strided input"), got, want);
        }
    });
}

#[test]
fn plain_block_gradients_equal_the_composition() {
    on_every_path(|isa| {
        let device = Device::flex().autodiff();
        for (i, shape) in SHAPES.into_iter().enumerate() {
            let c = case(shape, 100 + i as u64);
            let make = || {
                (
                    tensor(c.x.clone(), c.dims, &device).require_grad(),
                    tensor(c.weight.clone(), c.weight_dims, &device).require_grad(),
                    tensor(c.vector[0].clone(), [c.out_channels], &device).require_grad(),
                )
            };
            let upstream = tensor(
                c.upstream.clone(),
                [c.dims[0], c.out_channels, c.dims[2] / 2, c.dims[3] / 2],
                &device,
            );
            let (x1, w1, b1) = make();
            let (fused, runs) = runs_during(|| kernels::conv_relu_pool(x1.clone(), w1.clone(), b1.clone()));
            assert_eq!(runs.blocks, 1, "{shape:?}: the fused kernel ran");
            let (fused_grads, runs) = runs_during(|| (fused.clone() * upstream.clone()).sum().backward());
            assert_eq!(runs.block_backwards, 1, "{shape:?}: the fused backward ran");
            let (x2, w2, b2) = make();
            let composed = pool(relu(conv2d(
                x2.clone(),
                w2.clone(),
                Some(b2.clone()),
                options(shape.5),
            )));
            let composed_grads = (composed.clone() * upstream).sum().backward();
            let what = |t: &str| format!("{isa:?} {shape:?} {t}");
            assert_close(&what("output"), fused.inner(), composed.inner());
            assert_close(
                &what("d input"),
                x1.grad(&fused_grads).unwrap(),
                x2.grad(&composed_grads).unwrap(),
            );
            assert_close(
                &what("d weight"),
                w1.grad(&fused_grads).unwrap(),
                w2.grad(&composed_grads).unwrap(),
            );
            assert_close(
                &what("d bias"),
                b1.grad(&fused_grads).unwrap(),
                b2.grad(&composed_grads).unwrap(),
            );
        }
    });
}

#[test]
fn batch_norm_block_and_its_gradients_equal_the_composition() {
    on_every_path(|isa| {
        let device = Device::flex().autodiff();
        for (i, shape) in SHAPES.into_iter().enumerate() {
            let c = case(shape, 200 + i as u64);
            let co = c.out_channels;
            let make = || {
                (
                    tensor(c.x.clone(), c.dims, &device).require_grad(),
                    tensor(c.weight.clone(), c.weight_dims, &device).require_grad(),
                    tensor(c.vector[0].clone(), [co], &device).require_grad(),
                    tensor(c.vector[1].clone(), [co], &device).require_grad(),
                )
            };
            let upstream = tensor(
                c.upstream.clone(),
                [c.dims[0], co, c.dims[2] / 2, c.dims[3] / 2],
                &device,
            );
            let (x1, w1, g1, b1) = make();
            let ((fused, mean, variance), runs) = runs_during(|| {
                kernels::conv_norm_relu_pool(x1.clone(), w1.clone(), g1.clone(), b1.clone(), 1e-5)
            });
            assert_eq!(runs.blocks, 1, "{shape:?}: the fused kernel ran");
            let (fused_grads, runs) = runs_during(|| (fused.clone() * upstream.clone()).sum().backward());
            assert_eq!(runs.block_backwards, 1, "{shape:?}: the fused backward ran");
            let (x2, w2, g2, b2) = make();
            let normalised = batch_norm_train(
                conv2d(x2.clone(), w2.clone(), None, options(shape.5)),
                g2.clone(),
                b2.clone(),
                1e-5,
            );
            let composed = pool(relu(normalised.output));
            let composed_grads = (composed.clone() * upstream).sum().backward();
            let what = |t: &str| format!("{isa:?} {shape:?} {t}");
            assert_close(&what("output"), fused.inner(), composed.inner());
            assert_close(&what("mean"), mean.inner(), normalised.mean.inner());
            assert_close(&what("variance"), variance.inner(), normalised.variance.inner());
            assert_close(
                &what("d input"),
                x1.grad(&fused_grads).unwrap(),
                x2.grad(&composed_grads).unwrap(),
            );
            let (dw1, dw2) = (w1.grad(&fused_grads).unwrap(), w2.grad(&composed_grads).unwrap());
            let dgamma = g2.grad(&composed_grads).unwrap();
            if shape.1 == 1 && shape.5 == 1 {
                // A 1×1 convolution of one channel only scales it, and BatchNorm undoes any scale:
                // the exact weight gradient is zero (up to epsilon's share of the variance), so
                // both sides hold the residue of cancelling terms. Both must be tiny next to gamma's.
                let largest = |t: Tensor<4>| t.abs().max().into_scalar::<f32>();
                let bound = 1e-2 * dgamma.clone().abs().max().into_scalar::<f32>();
                assert!(
                    largest(dw1) <= bound && largest(dw2) <= bound,
                    "{}",
                    what("d weight of a 1×1 single-channel conv")
                );
            } else {
                assert_close(&what("d weight"), dw1, dw2);
            }
            assert_close(&what("d gamma"), g1.grad(&fused_grads).unwrap(), dgamma);
            assert_close(
                &what("d beta"),
                b1.grad(&fused_grads).unwrap(),
                b2.grad(&composed_grads).unwrap(),
            );
        }
    });
}

#[test]
fn untracked_inputs_ask_for_no_input_gradient() {
    // The first block's images need no gradient: only the parameters get one.
    let device = Device::flex().autodiff();
    let c = case(SHAPES[0], 7);
    let x = tensor(c.x.clone(), c.dims, &device);
    let w = tensor(c.weight.clone(), c.weight_dims, &device).require_grad();
    let g = tensor(c.vector[0].clone(), [32], &device).require_grad();
    let b = tensor(c.vector[1].clone(), [32], &device).require_grad();
    let ((out, _, _), runs) = kernels::with_kernels(Kernels::ALL, || {
        runs_during(|| kernels::conv_norm_relu_pool(x.clone(), w.clone(), g, b, 1e-5))
    });
    assert_eq!(runs.blocks, 1, "the fused kernel ran");
    let (grads, runs) = runs_during(|| out.sum().backward());
    assert_eq!(runs.block_backwards, 1, "the fused backward ran");
    assert!(x.grad(&grads).is_none());
    let dw: Vec<f32> = w.grad(&grads).unwrap().into_data().iter::<f32>().collect();
    assert!(dw.iter().any(|v| *v != 0.0) && dw.iter().all(|v| v.is_finite()));
}

#[test]
fn eval_block_folds_batch_norm_like_the_composition() {
    on_every_path(|isa| {
        // Inference with running statistics, untracked (the pad, evaluation) and with the input
        // tracked (saliency of an eval-mode network).
        for (i, shape) in SHAPES.into_iter().enumerate() {
            let c = case(shape, 300 + i as u64);
            let co = c.out_channels;
            let mut rng = Rng::new(400 + i as u64);
            let mean = random(co, &mut rng, 0.3);
            let variance: Vec<f32> = random(co, &mut rng, 0.5).iter().map(|v| v.abs() + 0.1).collect();
            for device in [Device::flex(), Device::flex().autodiff()] {
                let tracked = device.is_autodiff();
                let x = tensor(c.x.clone(), c.dims, &device);
                let x = if tracked { x.require_grad() } else { x };
                let w = tensor(c.weight.clone(), c.weight_dims, &device);
                let stats = [
                    c.vector[0].clone(),
                    c.vector[1].clone(),
                    mean.clone(),
                    variance.clone(),
                ]
                .map(|v| tensor(v, [co], &device));
                let (fused, runs) =
                    runs_during(|| kernels::conv_norm_eval(x.clone(), w.clone(), stats.clone(), 1e-5));
                assert_eq!(runs.blocks, 1, "{shape:?}: the fused kernel ran");
                let [gamma, beta, m, v] = stats;
                let normalised = batch_norm(
                    conv2d(x.clone(), w, None, options(shape.5)),
                    gamma,
                    beta,
                    m,
                    v,
                    1e-5,
                );
                let composed = pool(relu(normalised));
                let what = format!("{isa:?} {shape:?} tracked {tracked}");
                assert_close(&format!("{what} output"), fused.clone(), composed.clone());
                if tracked {
                    let upstream = tensor(c.upstream.clone(), fused.dims(), &device);
                    let (grads, runs) = runs_during(|| (fused * upstream.clone()).sum().backward());
                    assert_eq!(runs.block_backwards, 1, "{shape:?}: the fused backward ran");
                    let dx_fused = x.grad(&grads).unwrap();
                    let dx_composed = x.grad(&(composed * upstream).sum().backward()).unwrap();
                    assert_close(&format!("{what} d input"), dx_fused, dx_composed);
                }
            }
        }
    });
}
