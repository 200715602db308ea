//! The convolution of one image as `k` GEMMs over the padded NHWC input (forward), and its two
//! gradients: the weight gradient as `k` GEMMs of the output gradient against the same
//! overlapping input rows, the input gradient as `k` GEMMs of the padded output gradient
//! against the flipped kernel. Single-channel inputs take the direct kernel of
//! [`direct`](super::direct) instead of a GEMM with a 3-wide inner dimension.

use std::ops::Range;

use super::direct;
use super::gemm::{View, matmul};
use super::geometry::BlockGeometry;

/// Convolution output rows `rows` (of `conv_rows`, junk columns included) of image `image`,
/// written to `out` (those rows only, `out_channels` floats each). `padded` is the whole padded
/// input; `packed` the weights from [`pack_forward`](super::pack::pack_forward); `bias`
/// (length `out_channels`) is added when given.
pub fn forward_rows(
    padded: &[f32],
    image: usize,
    packed: &[f32],
    bias: Option<&[f32]>,
    g: &BlockGeometry,
    rows: Range<usize>,
    out: &mut [f32],
) {
    let (k, ci, co, pw) = (g.kernel, g.in_channels, g.out_channels, g.padded_width());
    let n_rows = rows.len();
    debug_assert_eq!(out.len(), n_rows * co);
    let base = image * g.padded_len();
    if ci == 1 {
        direct::forward_single_channel(&padded[base..], packed, bias, g, rows, out);
        return;
    }
    if let Some(bias) = bias {
        for row in out.chunks_exact_mut(co) {
            row.copy_from_slice(bias);
        }
    }
    let dst = View::rows(0, n_rows, co, co);
    for kh in 0..k {
        let lhs = View::rows(base + (rows.start + kh * pw) * ci, n_rows, k * ci, ci);
        let rhs = View::rows(kh * k * ci * co, k * ci, co, co);
        matmul(out, dst, kh > 0 || bias.is_some(), padded, lhs, packed, rhs);
    }
}

/// Adds image `image`'s weight gradient to `acc` (`[out][kh][kw][in]`). `grad_padded` is the
/// image's output gradient in a padded `padded_height × padded_width × out` buffer with zero
/// borders (see [`BlockGeometry::padded_out_len`]).
pub fn add_weight_grad(
    padded: &[f32],
    image: usize,
    grad_padded: &[f32],
    g: &BlockGeometry,
    acc: &mut [f32],
) {
    let (k, ci, co, pw, p) = (g.kernel, g.in_channels, g.out_channels, g.padded_width(), g.pad());
    let rows = g.conv_rows();
    // Output position r sits at padded position r + p·pw + p; the junk rows land on borders.
    let grad_t = View::rows((p * pw + p) * co, rows, co, co).t(); // [out × rows]
    for kh in 0..k {
        let dst = View::rows(kh * k * ci, co, k * ci, k * k * ci);
        let input = View::rows(image * g.padded_len() + kh * pw * ci, rows, k * ci, ci);
        matmul(acc, dst, true, grad_padded, grad_t, padded, input);
    }
}

/// The input gradient of one image, `conv_rows × in` rows (junk columns included), from its
/// padded output gradient and the kernel packed by [`pack_flipped`](super::pack::pack_flipped).
pub fn input_grad(grad_padded: &[f32], flipped: &[f32], g: &BlockGeometry, out: &mut [f32]) {
    let (k, ci, co, pw) = (g.kernel, g.in_channels, g.out_channels, g.padded_width());
    let rows = g.conv_rows();
    let dst = View::rows(0, rows, ci, ci);
    for kh in 0..k {
        let lhs = View::rows(kh * pw * co, rows, k * co, co);
        let rhs = View::rows(kh * k * co * ci, k * co, ci, ci);
        matmul(out, dst, kh > 0, grad_padded, lhs, flipped, rhs);
    }
}

#[cfg(test)]
mod tests {
    use super::super::geometry::Strided4;
    use super::super::pack::{pack_flipped, pack_forward, pad_input, unpack_weight_grad};
    use super::super::reference;
    use super::*;
    use crate::rng::Rng;

    fn random(len: usize, rng: &mut Rng) -> Vec<f32> {
        (0..len).map(|_| rng.next_f32() * 2.0 - 1.0).collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "element {i}: {x} vs {y}");
        }
    }

    /// Valid NCHW outputs of the kernel's row layout.
    fn valid_nchw(rows: &[f32], g: &BlockGeometry, channels: usize, image: usize, out: &mut [f32]) {
        let pw = g.padded_width();
        for c in 0..channels {
            for y in 0..g.height {
                for x in 0..g.width {
                    out[((image * channels + c) * g.height + y) * g.width + x] =
                        rows[(y * pw + x) * channels + c];
                }
            }
        }
    }

    fn geometries() -> Vec<BlockGeometry> {
        let g = |batch, in_channels, out_channels, height, width, kernel| BlockGeometry {
            batch,
            in_channels,
            out_channels,
            height,
            width,
            kernel,
        };
        vec![
            g(2, 3, 5, 7, 6, 3),
            g(1, 1, 4, 5, 5, 3),
            g(3, 2, 3, 4, 4, 5),
            g(1, 4, 2, 3, 3, 1),
            g(2, 1, 3, 6, 5, 5),
        ]
    }

    #[test]
    fn forward_equals_the_textbook_convolution() {
        let mut rng = Rng::new(3);
        for g in geometries() {
            let x = random(g.batch * g.in_channels * g.height * g.width, &mut rng);
            let w = random(g.weight_len(), &mut rng);
            let bias = random(g.out_channels, &mut rng);
            let dims = [g.batch, g.in_channels, g.height, g.width];
            let padded = pad_input(&x, Strided4::nchw(dims), &g);
            let packed = pack_forward(
                &w,
                Strided4::nchw([g.out_channels, g.in_channels, g.kernel, g.kernel]),
                &g,
            );
            let mut got = vec![0.0; g.batch * g.out_channels * g.height * g.width];
            for n in 0..g.batch {
                let mut rows = vec![0.0; g.conv_len()];
                // In two row ranges, as the single-image inference path splits it.
                let half = g.conv_rows() / 2;
                let (a, b) = rows.split_at_mut(half * g.out_channels);
                forward_rows(&padded, n, &packed, Some(&bias), &g, 0..half, a);
                forward_rows(&padded, n, &packed, Some(&bias), &g, half..g.conv_rows(), b);
                valid_nchw(&rows, &g, g.out_channels, n, &mut got);
            }
            close(&got, &reference::conv(&x, &w, Some(&bias), &g), 1e-5);
        }
    }

    #[test]
    fn gradients_equal_finite_sums_of_the_definition() {
        // For L = Σ conv(x, w) · dy: dL/dw and dL/dx computed by the textbook convolution.
        let mut rng = Rng::new(5);
        for g in geometries() {
            let (ci, co, h, wd, k) = (g.in_channels, g.out_channels, g.height, g.width, g.kernel);
            let x = random(g.batch * ci * h * wd, &mut rng);
            let w = random(g.weight_len(), &mut rng);
            let dy = random(g.batch * co * h * wd, &mut rng);
            let dims = [g.batch, ci, h, wd];
            let padded = pad_input(&x, Strided4::nchw(dims), &g);
            let w_at = Strided4::nchw([co, ci, k, k]);
            let flipped = pack_flipped(&w, w_at, &g);
            let mut acc = vec![0.0; g.weight_len()];
            let mut dx = vec![0.0; x.len()];
            let (pw, p) = (g.padded_width(), g.pad());
            for n in 0..g.batch {
                let mut grad_padded = vec![0.0; g.padded_out_len()];
                for o in 0..co {
                    for y in 0..h {
                        for xx in 0..wd {
                            grad_padded[((y + p) * pw + xx + p) * co + o] =
                                dy[((n * co + o) * h + y) * wd + xx];
                        }
                    }
                }
                add_weight_grad(&padded, n, &grad_padded, &g, &mut acc);
                let mut rows = vec![0.0; g.conv_rows() * ci];
                input_grad(&grad_padded, &flipped, &g, &mut rows);
                valid_nchw(&rows, &g, ci, n, &mut dx);
            }
            let dw = unpack_weight_grad(&acc, &g);
            // dL/dw[o,i,kh,kw] = Σ x-shifted · dy: the convolution of x with a one-hot kernel.
            let loss = |x: &[f32], w: &[f32]| -> f64 {
                reference::conv(x, w, None, &g)
                    .iter()
                    .zip(&dy)
                    .map(|(a, b)| (*a as f64) * (*b as f64))
                    .sum()
            };
            for idx in [0, dw.len() / 2, dw.len() - 1] {
                let mut e = vec![0.0; w.len()];
                e[idx] = 1.0;
                let expect = loss(&x, &e) as f32; // linear in w
                assert!(
                    (dw[idx] - expect).abs() < 1e-4 * (1.0 + expect.abs()),
                    "dw[{idx}] {} vs {expect}",
                    dw[idx]
                );
            }
            for idx in [0, dx.len() / 3, dx.len() - 1] {
                let mut e = vec![0.0; x.len()];
                e[idx] = 1.0;
                let expect = loss(&e, &w) as f32; // linear in x
                assert!(
                    (dx[idx] - expect).abs() < 1e-4 * (1.0 + expect.abs()),
                    "dx[{idx}] {} vs {expect}",
                    dx[idx]
                );
            }
        }
    }
}
