//! What follows the convolution in a block, on one image's NHWC convolution rows: BatchNorm's
//! batch statistics (one pass, f64 sums), the per-channel affine map, ReLU and 2×2 max pooling
//! fused into one pass that also records where each pooled value came from, and the backward
//! of all three as one affine map of the convolution output plus the pooled gradient routed
//! to its window position.

use super::geometry::BlockGeometry;

/// Code of a pooled value whose maximum was not positive: ReLU passed no gradient.
pub const INACTIVE: u32 = 4;

crate::multiversion! {
    /// Adds one image's per-channel sum and sum of squares over its valid positions.
    pub fn add_moments(conv: &[f32], g: &BlockGeometry, sum: &mut [f64], squares: &mut [f64]) => add_moments_impl
}

#[inline(always)]
fn add_moments_impl(conv: &[f32], g: &BlockGeometry, sum: &mut [f64], squares: &mut [f64]) {
    let (co, pw) = (g.out_channels, g.padded_width());
    let mut row_sum = vec![0.0f32; co];
    let mut row_squares = vec![0.0f32; co];
    let (sum, squares) = (&mut sum[..co], &mut squares[..co]);
    for y in 0..g.height {
        // One image row in f32 (at most a few dozen terms), then into the f64 totals.
        row_sum.fill(0.0);
        row_squares.fill(0.0);
        for x in 0..g.width {
            let v = &conv[(y * pw + x) * co..][..co];
            for ((s, q), v) in row_sum.iter_mut().zip(row_squares.iter_mut()).zip(v) {
                *s += v;
                *q += v * v;
            }
        }
        for c in 0..co {
            sum[c] += row_sum[c] as f64;
            squares[c] += row_squares[c] as f64;
        }
    }
}

/// Mean and biased variance per channel from the summed moments of `count` values.
pub fn mean_variance(sum: &[f64], squares: &[f64], count: usize) -> (Vec<f32>, Vec<f32>) {
    let n = count.max(1) as f64;
    sum.iter()
        .zip(squares)
        .map(|(s, q)| {
            let mean = s / n;
            (mean as f32, (q / n - mean * mean).max(0.0) as f32)
        })
        .unzip()
}

crate::multiversion! {
    /// `relu(conv · scale + shift)` pooled 2×2 into `out` (`pooled_len`), and with `codes` the
    /// window position (0..4, row-major) of each maximum or [`INACTIVE`].
    pub fn affine_relu_pool(
        conv: &[f32],
        g: &BlockGeometry,
        scale: &[f32],
        shift: &[f32],
        out: &mut [f32],
        codes: Option<&mut [u32]>,
    ) => affine_relu_pool_impl
}

#[inline(always)]
fn affine_relu_pool_impl(
    conv: &[f32],
    g: &BlockGeometry,
    scale: &[f32],
    shift: &[f32],
    out: &mut [f32],
    mut codes: Option<&mut [u32]>,
) {
    let (co, pw, ow) = (g.out_channels, g.padded_width(), g.pooled_width());
    // Exact-length slices, so the channel loops run without bounds checks and vectorise.
    let (scale, shift) = (&scale[..co], &shift[..co]);
    for py in 0..g.pooled_height() {
        for px in 0..ow {
            let r = 2 * py * pw + 2 * px;
            let window = [r, r + 1, r + pw, r + pw + 1].map(|r| &conv[r * co..][..co]);
            let at = (py * ow + px) * co;
            let dst = &mut out[at..at + co];
            let mut code = codes.as_deref_mut().map(|c| &mut c[at..at + co]);
            for c in 0..co {
                let v = window.map(|w| w[c] * scale[c] + shift[c]);
                // Pairwise, first maximum kept on ties: branch-free, so the channel loop vectorises.
                let (top, top_at) = if v[1] > v[0] { (v[1], 1) } else { (v[0], 0) };
                let (bottom, bottom_at) = if v[3] > v[2] { (v[3], 3) } else { (v[2], 2) };
                let (best, which) = if bottom > top {
                    (bottom, bottom_at)
                } else {
                    (top, top_at)
                };
                dst[c] = best.max(0.0);
                if let Some(code) = code.as_deref_mut() {
                    code[c] = if best > 0.0 { which } else { INACTIVE };
                }
            }
        }
    }
}

/// Conv-row index of window position `code` of pooled cell `(py, px)`.
#[inline]
fn source_row(g: &BlockGeometry, py: usize, px: usize, code: u32) -> usize {
    let pw = g.padded_width();
    (2 * py + (code as usize >> 1)) * pw + 2 * px + (code as usize & 1)
}

crate::multiversion! {
    /// Adds one image's Σ dOut (the bias / β gradient) and, when `normalised` is given as
    /// `(mean, inv_std)`, Σ dOut · x̂ (the γ gradient) over the positions that passed gradient.
    pub fn add_pooled_grad_sums(
        grad: &[f32],
        codes: &[u32],
        conv: &[f32],
        g: &BlockGeometry,
        normalised: Option<(&[f32], &[f32])>,
        beta_sum: &mut [f64],
        gamma_sum: &mut [f64],
    ) => add_pooled_grad_sums_impl
}

#[inline(always)]
fn add_pooled_grad_sums_impl(
    grad: &[f32],
    codes: &[u32],
    conv: &[f32],
    g: &BlockGeometry,
    normalised: Option<(&[f32], &[f32])>,
    beta_sum: &mut [f64],
    gamma_sum: &mut [f64],
) {
    let (co, ow) = (g.out_channels, g.pooled_width());
    // One image in f32 (a few hundred terms per channel), then into the f64 totals.
    let mut beta = vec![0.0f32; co];
    let mut gamma = vec![0.0f32; co];
    let (beta_row, gamma_row) = (&mut beta[..co], &mut gamma[..co]);
    let normalised = normalised.map(|(mean, inv_std)| (&mean[..co], &inv_std[..co]));
    for py in 0..g.pooled_height() {
        for px in 0..ow {
            let at = (py * ow + px) * co;
            let (d, code) = (&grad[at..at + co], &codes[at..at + co]);
            for c in 0..co {
                beta_row[c] += if code[c] == INACTIVE { 0.0 } else { d[c] };
            }
            if let Some((mean, inv_std)) = normalised {
                // Each window position in turn, selecting the channels whose maximum it holds.
                for q in 0..4u32 {
                    let y = &conv[source_row(g, py, px, q) * co..][..co];
                    for c in 0..co {
                        let routed = if code[c] == q { d[c] } else { 0.0 };
                        gamma_row[c] += routed * ((y[c] - mean[c]) * inv_std[c]);
                    }
                }
            }
        }
    }
    for c in 0..co {
        beta_sum[c] += beta[c] as f64;
        gamma_sum[c] += gamma[c] as f64;
    }
}

/// The gradient of the convolution output as an affine map of it plus the routed pooled
/// gradient: `dy = slope·y + offset + gain·dOut` (`gain` only at each recorded maximum).
/// Without BatchNorm `slope = offset = 0` and `gain = 1`.
#[derive(Debug, Clone)]
pub struct ConvGrad {
    /// Per-channel factor on the pooled gradient.
    pub gain: Vec<f32>,
    /// Per-channel factor on the convolution output.
    pub slope: Vec<f32>,
    /// Per-channel constant.
    pub offset: Vec<f32>,
}

impl ConvGrad {
    /// Plain ReLU + pooling (no BatchNorm).
    pub fn routed(channels: usize) -> Self {
        Self {
            gain: vec![1.0; channels],
            slope: vec![0.0; channels],
            offset: vec![0.0; channels],
        }
    }

    /// BatchNorm with batch statistics: `dy = γσ⁻¹ (dẑ − Σdẑ/M − x̂ Σdẑx̂/M)` rearranged, where
    /// `beta_sum = Σdẑ`, `gamma_sum = Σdẑx̂` over `count = M` positions.
    pub fn batch_norm(
        gamma: &[f32],
        mean: &[f32],
        inv_std: &[f32],
        beta_sum: &[f64],
        gamma_sum: &[f64],
        count: usize,
    ) -> Self {
        let m = count.max(1) as f64;
        let mut grad = Self::routed(gamma.len());
        for c in 0..gamma.len() {
            let a = gamma[c] as f64 * inv_std[c] as f64;
            let slope = -a * (gamma_sum[c] / m) * inv_std[c] as f64;
            grad.gain[c] = a as f32;
            grad.slope[c] = slope as f32;
            grad.offset[c] = (-a * beta_sum[c] / m - slope * mean[c] as f64) as f32;
        }
        grad
    }

    /// One image's convolution-output gradient written into `padded` (a padded map of the
    /// output channels, [`BlockGeometry::padded_out_len`]); borders and spare are zeroed.
    /// One pass: each pooling window's four positions get the affine term plus, where the
    /// window's maximum sat, the routed pooled gradient.
    pub fn write_padded(
        &self,
        grad: &[f32],
        codes: &[u32],
        conv: &[f32],
        g: &BlockGeometry,
        padded: &mut [f32],
    ) {
        write_padded(self, grad, codes, conv, g, padded)
    }
}

crate::multiversion! {
    fn write_padded(this: &ConvGrad, grad: &[f32], codes: &[u32], conv: &[f32], g: &BlockGeometry, padded: &mut [f32]) => write_padded_impl
}

#[inline(always)]
fn write_padded_impl(
    this: &ConvGrad,
    grad: &[f32],
    codes: &[u32],
    conv: &[f32],
    g: &BlockGeometry,
    padded: &mut [f32],
) {
    let (co, pw, p, ow) = (g.out_channels, g.padded_width(), g.pad(), g.pooled_width());
    padded.fill(0.0);
    let (ph, pooled_w) = (g.pooled_height(), ow);
    // Exact-length slices, so the channel loops run without bounds checks and vectorise.
    let (slope, offset, gain) = (&this.slope[..co], &this.offset[..co], &this.gain[..co]);
    let affine = |dst: &mut [f32], src: &[f32]| {
        for c in 0..co {
            dst[c] = slope[c] * src[c] + offset[c];
        }
    };
    // The odd last row and column no window covers: the affine term only.
    for y in 0..g.height {
        for x in 0..g.width {
            if y < 2 * ph && x < 2 * pooled_w {
                continue;
            }
            affine(
                &mut padded[((y + p) * pw + x + p) * co..][..co],
                &conv[(y * pw + x) * co..][..co],
            );
        }
    }
    for py in 0..ph {
        for px in 0..ow {
            let at = (py * ow + px) * co;
            let (d, code) = (&grad[at..at + co], &codes[at..at + co]);
            for q in 0..4u32 {
                let row = source_row(g, py, px, q);
                let (y, x) = (row / pw, row % pw);
                let src = &conv[row * co..][..co];
                let dst = &mut padded[((y + p) * pw + x + p) * co..][..co];
                for c in 0..co {
                    let routed = if code[c] == q { gain[c] * d[c] } else { 0.0 };
                    dst[c] = slope[c] * src[c] + offset[c] + routed;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(channels: usize, side: usize) -> BlockGeometry {
        BlockGeometry {
            batch: 1,
            in_channels: 1,
            out_channels: channels,
            height: side,
            width: side,
            kernel: 3,
        }
    }

    #[test]
    fn moments_skip_junk_columns() {
        let g = geometry(1, 2); // rows of padded width 4: two valid, two junk
        let conv = [1.0, 2.0, 99.0, 99.0, 3.0, 4.0, 99.0, 99.0];
        let (mut s, mut q) = (vec![0.0], vec![0.0]);
        add_moments(&conv, &g, &mut s, &mut q);
        assert_eq!((s[0], q[0]), (10.0, 30.0));
        let (mean, var) = mean_variance(&s, &q, 4);
        assert_eq!((mean[0], var[0]), (2.5, 1.25));
    }

    #[test]
    fn pooling_takes_the_window_maximum_after_the_affine_map_and_relu() {
        let g = geometry(2, 3); // pooled 1×1, the odd last row and column dropped
        let pw = g.padded_width();
        let mut conv = vec![0.0f32; g.conv_len()];
        let put = |conv: &mut Vec<f32>, y: usize, x: usize, c: usize, v: f32| conv[(y * pw + x) * 2 + c] = v;
        for (i, (y, x)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
            put(&mut conv, y, x, 0, i as f32); // channel 0: 0 1 2 3
            put(&mut conv, y, x, 1, -(i as f32)); // channel 1: 0 -1 -2 -3
        }
        put(&mut conv, 2, 2, 0, 100.0); // outside every window
        let mut out = vec![0.0; 2];
        let mut codes = vec![0u32; 2];
        // Channel 1 scaled by -1 turns its minimum into the maximum.
        affine_relu_pool(&conv, &g, &[1.0, -1.0], &[-1.0, -4.0], &mut out, Some(&mut codes));
        assert_eq!(out, vec![2.0, 0.0]); // 3-1; max(-0-4 … 3-4) = -1 → ReLU 0
        assert_eq!(codes, vec![3, INACTIVE]);
    }

    #[test]
    fn routed_gradient_lands_on_the_maximum_only() {
        let g = geometry(1, 2);
        let mut conv = vec![0.0f32; g.conv_len()];
        conv[g.padded_width()] = 5.0; // window position 2
        let mut out = vec![0.0];
        let mut codes = vec![0u32];
        affine_relu_pool(&conv, &g, &[1.0], &[0.0], &mut out, Some(&mut codes));
        let mut padded = vec![7.0; g.padded_out_len()];
        ConvGrad::routed(1).write_padded(&[2.0], &codes, &conv, &g, &mut padded);
        let p = g.pad();
        let at = (1 + p) * g.padded_width() + p;
        assert_eq!(padded[at], 2.0);
        assert_eq!(padded.iter().sum::<f32>(), 2.0, "everything else zeroed");
    }
}
