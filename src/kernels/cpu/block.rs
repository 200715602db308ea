//! One conv → (BatchNorm) → ReLU → 2×2 max-pool block, forward and backward, on host slices,
//! parallel over the images of the batch (and over the rows of an image when the batch is
//! smaller than the thread pool, as for the pad's single image).
//!
//! Outputs are NHWC (`[n, h/2, w/2, c]`); inputs and gradients may come in any 4-d layout.

use rayon::prelude::*;

use super::conv;
use super::geometry::{BlockGeometry, Input, Strided4};
use super::moments::Moments;
use super::norm_pool::{ConvGrad, add_pooled_grad_sums, affine_relu_pool};
use super::pack::{
    as_nhwc, contiguous_weight, pack_flipped, pack_forward, pad_image, pad_input, unpack_weight_grad,
};

/// What follows the convolution.
#[derive(Debug, Clone, Copy)]
pub enum Norm<'a> {
    /// A bias per channel (no BatchNorm, or BatchNorm folded in for inference).
    Bias(&'a [f32]),
    /// BatchNorm with the batch's own statistics (training).
    Batch {
        /// BatchNorm's γ, one scale per output channel.
        gamma: &'a [f32],
        /// BatchNorm's β, one shift per output channel.
        beta: &'a [f32],
        /// Added to the variance.
        epsilon: f64,
    },
}

/// What the backward pass needs from the forward pass.
#[derive(Debug, Clone)]
pub struct Saved {
    geometry: BlockGeometry,
    padded: Vec<f32>,
    conv: Vec<f32>,
    codes: Vec<u32>,
    weight: Vec<f32>,
    /// `(gamma, mean, inv_std)` when BatchNorm used batch statistics.
    batch_norm: Option<(Vec<f32>, Vec<f32>, Vec<f32>)>,
}

impl Saved {
    /// The block's shape.
    pub fn geometry(&self) -> &BlockGeometry {
        &self.geometry
    }
}

/// A training forward pass.
#[derive(Debug)]
pub struct TrainOutput {
    /// Pooled maps, NHWC: `[batch, height / 2, width / 2, out_channels]`.
    pub output: Vec<f32>,
    /// Batch mean per channel (BatchNorm only; empty otherwise).
    pub mean: Vec<f32>,
    /// Batch (biased) variance per channel (BatchNorm only; empty otherwise).
    pub variance: Vec<f32>,
    /// State for [`backward`].
    pub saved: Saved,
}

/// Gradients of a block.
#[derive(Debug)]
pub struct Grads {
    /// Of the input, NHWC (when asked for).
    pub input: Option<Vec<f32>>,
    /// Of the weights, `[out, in, k, k]`.
    pub weight: Vec<f32>,
    /// Of the bias, or of BatchNorm's beta.
    pub shift: Vec<f32>,
    /// Of BatchNorm's gamma (None without BatchNorm).
    pub gamma: Option<Vec<f32>>,
}

/// Row parts each image's convolution is split into so that small batches still use every
/// thread.
fn row_parts(g: &BlockGeometry) -> usize {
    let threads = rayon::current_num_threads();
    if g.batch >= threads {
        1
    } else {
        threads.div_ceil(g.batch.max(1))
    }
}

/// Convolution of every image (rows `conv_rows` each) from the whole padded input.
fn convolve_all(padded: &[f32], packed: &[f32], bias: Option<&[f32]>, g: &BlockGeometry) -> Vec<f32> {
    let mut conv = vec![0.0f32; g.batch * g.conv_len()];
    let part_rows = g.conv_rows().div_ceil(row_parts(g)).max(1);
    conv.par_chunks_mut(g.conv_len().max(1))
        .enumerate()
        .for_each(|(n, image)| {
            image
                .par_chunks_mut(part_rows * g.out_channels)
                .enumerate()
                .for_each(|(j, part)| {
                    let start = j * part_rows;
                    let rows = start..start + part.len() / g.out_channels;
                    conv::forward_rows(padded, n, packed, bias, g, rows, part);
                });
        });
    conv
}

/// The forward pass for training: keeps what [`backward`] needs.
pub fn forward_train(x: Input, weight: Input, norm: Norm, g: &BlockGeometry) -> TrainOutput {
    let padded = pad_input(x.data, x.at, g);
    let packed = pack_forward(weight.data, weight.at, g);
    let bias = match norm {
        Norm::Bias(b) => Some(b),
        Norm::Batch { .. } => None,
    };
    let conv = convolve_all(&padded, &packed, bias, g);
    let co = g.out_channels;
    // `relu((y − center) · scale + shift)`: BatchNorm centres on the batch mean before scaling,
    // which keeps the normalised values exact when the mean dwarfs the spread.
    let (center, scale, shift, mean, variance, batch_norm) = match norm {
        Norm::Bias(_) => (
            vec![0.0; co],
            vec![1.0; co],
            vec![0.0; co],
            Vec::new(),
            Vec::new(),
            None,
        ),
        Norm::Batch { gamma, beta, epsilon } => {
            let parts = per_part(g.batch, |images| {
                let mut moments = Moments::new(co);
                for n in images {
                    moments.add_image(&conv[n * g.conv_len()..][..g.conv_len()], g);
                }
                moments
            });
            let mut moments = Moments::new(co);
            parts.iter().for_each(|part| moments.merge(part)); // in order: reproducible
            let (mean, variance) = moments.mean_variance();
            let inv_std: Vec<f32> = variance
                .iter()
                .map(|v| 1.0 / (*v as f64 + epsilon).sqrt() as f32)
                .collect();
            let scale: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
            let saved = (gamma.to_vec(), mean.clone(), inv_std);
            (mean.clone(), scale, beta.to_vec(), mean, variance, Some(saved))
        }
    };
    let mut output = vec![0.0f32; g.batch * g.pooled_len()];
    let mut codes = vec![0u32; output.len()];
    let chunk = g.pooled_len().max(1);
    output
        .par_chunks_mut(chunk)
        .zip(codes.par_chunks_mut(chunk))
        .enumerate()
        .for_each(|(n, (out, code))| {
            let image = &conv[n * g.conv_len()..][..g.conv_len()];
            affine_relu_pool(image, g, &center, &scale, &shift, out, Some(code));
        });
    let weight = contiguous_weight(weight, g);
    TrainOutput {
        output,
        mean,
        variance,
        saved: Saved {
            geometry: *g,
            padded,
            conv,
            codes,
            weight,
            batch_norm,
        },
    }
}

/// Images per partial sum. Fixed, so every sum adds the same numbers in the same order
/// whatever the number of threads or how they share the work: training is reproducible.
const IMAGES_PER_PART: usize = 4;

/// `f` over consecutive parts of `IMAGES_PER_PART` images, in parallel, results in part order.
fn per_part<T: Send>(batch: usize, f: impl Fn(std::ops::Range<usize>) -> T + Sync) -> Vec<T> {
    (0..batch.div_ceil(IMAGES_PER_PART))
        .into_par_iter()
        .map(|p| f(p * IMAGES_PER_PART..((p + 1) * IMAGES_PER_PART).min(batch)))
        .collect()
}

/// Per-channel pairs of partial sums added in order.
fn in_order(parts: Vec<(Vec<f64>, Vec<f64>)>) -> (Vec<f64>, Vec<f64>) {
    let mut parts = parts.into_iter();
    let first = parts.next().unwrap_or_default();
    parts.fold(first, |(mut a, mut b), (x, y)| {
        a.iter_mut().zip(&x).for_each(|(s, v)| *s += v);
        b.iter_mut().zip(&y).for_each(|(s, v)| *s += v);
        (a, b)
    })
}

/// The forward pass for inference: `relu(conv · scale + shift)` pooled, with the weights
/// already packed ([`pack_forward`], which callers may cache) and a bias or a folded
/// BatchNorm as the per-channel `scale` and `shift`. One image at a time through per-thread
/// buffers that stay in cache; nothing is kept.
pub fn forward_infer(x: Input, packed: &[f32], scale: &[f32], shift: &[f32], g: &BlockGeometry) -> Vec<f32> {
    let mut output = vec![0.0f32; g.batch * g.pooled_len()];
    let center = vec![0.0f32; g.out_channels];
    if row_parts(g) > 1 {
        // Few images: split each image's rows between threads instead.
        let padded = pad_input(x.data, x.at, g);
        let conv = convolve_all(&padded, packed, None, g);
        for (n, out) in output.chunks_mut(g.pooled_len().max(1)).enumerate() {
            affine_relu_pool(&conv[n * g.conv_len()..], g, &center, scale, shift, out, None);
        }
        return output;
    }
    let one = BlockGeometry { batch: 1, ..*g };
    output
        .par_chunks_mut(g.pooled_len().max(1))
        .enumerate()
        .for_each_init(
            || (vec![0.0f32; one.padded_total()], vec![0.0f32; g.conv_len()]),
            |(padded, conv), (n, out)| {
                pad_image(x.data, x.at, g, n, padded);
                conv::forward_rows(padded, 0, packed, None, &one, 0..g.conv_rows(), conv);
                affine_relu_pool(conv, g, &center, scale, shift, out, None);
            },
        );
    output
}

/// Per-thread state of the backward pass.
struct Partial {
    weight: Vec<f32>,
    grad_padded: Vec<f32>,
    rows: Vec<f32>,
}

/// Gradients of the block given the gradient of its pooled output (`[n, c, h/2, w/2]` in any
/// layout). The input gradient is computed only when `input_grad` is set.
pub fn backward(saved: &Saved, grad: Input, input_grad: bool) -> Grads {
    let g = &saved.geometry;
    let (co, ci) = (g.out_channels, g.in_channels);
    let dims = [g.batch, co, g.pooled_height(), g.pooled_width()];
    let grad = as_nhwc(grad.data, grad.at, dims);
    let pooled = g.pooled_len();
    let normalised = saved
        .batch_norm
        .as_ref()
        .map(|(_, mean, inv_std)| (&mean[..], &inv_std[..]));
    let (beta_sum, gamma_sum) = in_order(per_part(g.batch, |images| {
        let (mut b, mut s) = (vec![0.0f64; co], vec![0.0f64; co]);
        for n in images {
            let conv = &saved.conv[n * g.conv_len()..][..g.conv_len()];
            let at = n * pooled;
            add_pooled_grad_sums(
                &grad[at..at + pooled],
                &saved.codes[at..at + pooled],
                conv,
                g,
                normalised,
                &mut b,
                &mut s,
            );
        }
        (b, s)
    }));
    let coefficients = match &saved.batch_norm {
        Some((gamma, mean, inv_std)) => {
            ConvGrad::batch_norm(gamma, mean, inv_std, &beta_sum, &gamma_sum, g.positions())
        }
        None => ConvGrad::routed(co),
    };
    let weight_at = Strided4::nchw([co, ci, g.kernel, g.kernel]);
    let flipped = if input_grad {
        pack_flipped(&saved.weight, weight_at, g)
    } else {
        Vec::new()
    };
    let image_len = g.height * g.width * ci;
    let mut dx = if input_grad {
        vec![0.0f32; g.batch * image_len]
    } else {
        Vec::new()
    };
    let mut targets: Vec<Option<&mut [f32]>> = if input_grad {
        dx.chunks_mut(image_len.max(1)).map(Some).collect()
    } else {
        (0..g.batch).map(|_| None).collect()
    };
    let partials: Vec<Vec<f32>> = targets
        .par_chunks_mut(IMAGES_PER_PART)
        .enumerate()
        .map(|(part_index, part_targets)| {
            let mut part = Partial {
                weight: vec![0.0; g.weight_len()],
                grad_padded: vec![0.0; g.padded_out_len()],
                rows: if input_grad {
                    vec![0.0; g.conv_rows() * ci]
                } else {
                    Vec::new()
                },
            };
            for (j, target) in part_targets.iter_mut().enumerate() {
                let n = part_index * IMAGES_PER_PART + j;
                let conv = &saved.conv[n * g.conv_len()..][..g.conv_len()];
                let at = n * pooled;
                coefficients.write_padded(
                    &grad[at..at + pooled],
                    &saved.codes[at..at + pooled],
                    conv,
                    g,
                    &mut part.grad_padded,
                );
                conv::add_weight_grad(&saved.padded, n, &part.grad_padded, g, &mut part.weight);
                if let Some(target) = target {
                    conv::input_grad(&part.grad_padded, &flipped, g, &mut part.rows);
                    let pw = g.padded_width();
                    for y in 0..g.height {
                        target[y * g.width * ci..][..g.width * ci]
                            .copy_from_slice(&part.rows[y * pw * ci..][..g.width * ci]);
                    }
                }
            }
            part.weight
        })
        .collect();
    let mut weight_grad = vec![0.0f32; g.weight_len()];
    for part in partials {
        weight_grad.iter_mut().zip(&part).for_each(|(x, y)| *x += y);
    }
    drop(targets);
    Grads {
        input: input_grad.then_some(dx),
        weight: unpack_weight_grad(&weight_grad, g),
        shift: beta_sum.iter().map(|v| *v as f32).collect(),
        gamma: saved
            .batch_norm
            .as_ref()
            .map(|_| gamma_sum.iter().map(|v| *v as f32).collect()),
    }
}
