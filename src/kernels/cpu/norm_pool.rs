//! What follows the convolution in a block, on one image's NHWC convolution rows (BatchNorm's
//! batch statistics are [`moments`](super::moments)'s): the per-channel affine map, ReLU and
//! 2×2 max pooling fused into one pass that also records where each pooled value came from,
//! and the backward of all three as one affine map of the convolution output plus the pooled
//! gradient routed to its window position.
//!
//! NaN behaves as in burn's ops: pooling keeps the last NaN of a window (flex's `max_pool2d`
//! lets a NaN win every comparison), and ReLU passes NaN and its gradient.

use super::geometry::BlockGeometry;

/// Code of a pooled value whose maximum was not positive: ReLU passed no gradient.
pub const INACTIVE: u32 = 4;

crate::multiversion! {
    /// `relu((conv − center) · scale + shift)` pooled 2×2 into `out` (`pooled_len`), and with
    /// `codes` the window position (0..4, row-major) of each maximum or [`INACTIVE`].
    pub fn affine_relu_pool(
        conv: &[f32],
        g: &BlockGeometry,
        center: &[f32],
        scale: &[f32],
        shift: &[f32],
        out: &mut [f32],
        codes: Option<&mut [u32]>,
    ) => affine_relu_pool_impl
}

/// Whether a pooling window's later value `b` replaces the maximum `a` so far: when greater or
/// NaN, as in flex's `max_pool2d` (the first maximum on ties, the last NaN of a window).
#[inline(always)]
fn replaces(a: f32, b: f32) -> bool {
    b > a || b.is_nan()
}

#[inline(always)]
fn affine_relu_pool_impl(
    conv: &[f32],
    g: &BlockGeometry,
    center: &[f32],
    scale: &[f32],
    shift: &[f32],
    out: &mut [f32],
    mut codes: Option<&mut [u32]>,
) {
    let (co, pw, ow) = (g.out_channels, g.padded_width(), g.pooled_width());
    // Exact-length slices, so the channel loops run without bounds checks and vectorise.
    let (center, scale, shift) = (&center[..co], &scale[..co], &shift[..co]);
    for py in 0..g.pooled_height() {
        for px in 0..ow {
            let r = 2 * py * pw + 2 * px;
            let window = [r, r + 1, r + pw, r + pw + 1].map(|r| &conv[r * co..][..co]);
            let at = (py * ow + px) * co;
            let dst = &mut out[at..at + co];
            let mut code = codes.as_deref_mut().map(|c| &mut c[at..at + co]);
            for c in 0..co {
                let v = window.map(|w| (w[c] - center[c]) * scale[c] + shift[c]);
                // Pairwise, branch-free (so the channel loop vectorises), and the same choice
                // as flex's sequential scan: the first maximum, or the last NaN.
                let (top, top_at) = if replaces(v[0], v[1]) {
                    (v[1], 1)
                } else {
                    (v[0], 0)
                };
                let (bottom, bottom_at) = if replaces(v[2], v[3]) {
                    (v[3], 3)
                } else {
                    (v[2], 2)
                };
                let (best, which) = if replaces(top, bottom) {
                    (bottom, bottom_at)
                } else {
                    (top, top_at)
                };
                // ReLU as flex's: NaN passes (and so does its gradient).
                let active = best > 0.0 || best.is_nan();
                dst[c] = if active { best } else { 0.0 };
                if let Some(code) = code.as_deref_mut() {
                    code[c] = if active { which } else { INACTIVE };
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

/// The gradient of the convolution output: the pooled gradient routed to each recorded maximum
/// (times `gain`), plus BatchNorm's affine term when the block normalises with batch statistics.
#[derive(Debug, Clone)]
pub struct ConvGrad {
    /// Per-channel factor on the pooled gradient.
    pub gain: Vec<f32>,
    /// BatchNorm's term, on every valid position; `None` for a plain block, whose gradient is
    /// the routed term alone (nothing multiplies the convolution output, so a NaN there, which
    /// ReLU and pooling pass forward, sends no NaN back: burn's ReLU backward selects).
    pub normalised: Option<NormGrad>,
}

/// BatchNorm's share of the convolution-output gradient: `slope · (y − center) + offset`.
#[derive(Debug, Clone)]
pub struct NormGrad {
    /// Per-channel factor on the centred convolution output.
    pub slope: Vec<f32>,
    /// Per-channel constant term, added whatever the output.
    pub offset: Vec<f32>,
    /// The batch mean the output is centred on (precision when `|mean| ≫ std`).
    pub center: Vec<f32>,
}

impl ConvGrad {
    /// Plain ReLU + pooling (no BatchNorm).
    pub fn routed(channels: usize) -> Self {
        Self {
            gain: vec![1.0; channels],
            normalised: None,
        }
    }

    /// BatchNorm with batch statistics: `dy = γσ⁻¹ (dẑ − Σdẑ/M − x̂ Σdẑx̂/M)` with
    /// `x̂ = (y − μ)σ⁻¹`, where `beta_sum = Σdẑ`, `gamma_sum = Σdẑx̂` over `count = M` positions.
    pub fn batch_norm(
        gamma: &[f32],
        mean: &[f32],
        inv_std: &[f32],
        beta_sum: &[f64],
        gamma_sum: &[f64],
        count: usize,
    ) -> Self {
        let m = count.max(1) as f64;
        let channels = gamma.len();
        let mut gain = vec![0.0; channels];
        let mut slope = vec![0.0; channels];
        let mut offset = vec![0.0; channels];
        for c in 0..channels {
            let a = gamma[c] as f64 * inv_std[c] as f64;
            gain[c] = a as f32;
            slope[c] = (-a * (gamma_sum[c] / m) * inv_std[c] as f64) as f32;
            offset[c] = (-a * beta_sum[c] / m) as f32;
        }
        Self {
            gain,
            normalised: Some(NormGrad {
                slope,
                offset,
                center: mean.to_vec(),
            }),
        }
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
    let gain = &this.gain[..co];
    let norm = this
        .normalised
        .as_ref()
        .map(|n| (&n.slope[..co], &n.offset[..co], &n.center[..co]));
    if let Some((slope, offset, center)) = norm {
        // The odd last row and column no window covers: the affine term only.
        for y in 0..g.height {
            for x in 0..g.width {
                if y < 2 * ph && x < 2 * pooled_w {
                    continue;
                }
                let src = &conv[(y * pw + x) * co..][..co];
                let dst = &mut padded[((y + p) * pw + x + p) * co..][..co];
                for c in 0..co {
                    dst[c] = slope[c] * (src[c] - center[c]) + offset[c];
                }
            }
        }
    }
    for py in 0..ph {
        for px in 0..ow {
            let at = (py * ow + px) * co;
            let (d, code) = (&grad[at..at + co], &codes[at..at + co]);
            for q in 0..4u32 {
                let row = source_row(g, py, px, q);
                let (y, x) = (row / pw, row % pw);
                let dst = &mut padded[((y + p) * pw + x + p) * co..][..co];
                match norm {
                    Some((slope, offset, center)) => {
                        let src = &conv[row * co..][..co];
                        for c in 0..co {
                            let routed = if code[c] == q { gain[c] * d[c] } else { 0.0 };
                            dst[c] = slope[c] * (src[c] - center[c]) + offset[c] + routed;
                        }
                    }
                    None => {
                        for c in 0..co {
                            dst[c] = if code[c] == q { gain[c] * d[c] } else { 0.0 };
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::moments::testing::{geometry, rows_of};
    use super::*;

    #[test]
    fn pooling_keeps_nan_like_flex_scanning_the_window_in_order() {
        // Every window of values from {NaN, −1, 0, 2, 2}: the pairwise choice must equal the
        // sequential scan of flex's max_pool2d (first maximum, last NaN) followed by ReLU.
        let g = geometry(1, 2);
        let palette = [f32::NAN, -1.0, 0.0, 2.0, 2.0];
        for i in 0..palette.len().pow(4) {
            let window: Vec<f32> = (0..4)
                .map(|k| palette[i / palette.len().pow(k) % palette.len()])
                .collect();
            let (mut best, mut which) = (window[0], 0u32);
            for (k, v) in window.iter().enumerate().skip(1) {
                if *v > best || v.is_nan() {
                    (best, which) = (*v, k as u32);
                }
            }
            let active = best.is_nan() || best > 0.0;
            let conv = rows_of(&window, &g);
            let (mut out, mut codes) = (vec![0.0], vec![0u32]);
            affine_relu_pool(&conv, &g, &[0.0], &[1.0], &[0.0], &mut out, Some(&mut codes));
            let want = if active { best } else { 0.0 };
            assert!(
                out[0] == want || (out[0].is_nan() && want.is_nan()),
                "{window:?}: {} vs {want}",
                out[0]
            );
            assert_eq!(codes[0], if active { which } else { INACTIVE }, "{window:?}");
        }
    }

    #[test]
    fn a_plain_block_sends_no_nan_back_from_a_nan_output() {
        // The NaN maximum gets the pooled gradient; the other positions get exactly zero.
        let g = geometry(1, 2);
        let conv = rows_of(&[f32::NAN, 1.0, f32::NAN, 3.0], &g);
        let (mut out, mut codes) = (vec![0.0], vec![0u32]);
        affine_relu_pool(&conv, &g, &[0.0], &[1.0], &[0.0], &mut out, Some(&mut codes));
        assert!(out[0].is_nan());
        assert_eq!(codes[0], 2, "the last NaN");
        let mut padded = vec![7.0; g.padded_out_len()];
        ConvGrad::routed(1).write_padded(&[0.5], &codes, &conv, &g, &mut padded);
        assert!(padded.iter().all(|v| v.is_finite()));
        assert_eq!(padded.iter().sum::<f32>(), 0.5);
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
        affine_relu_pool(
            &conv,
            &g,
            &[0.0, 0.0],
            &[1.0, -1.0],
            &[-1.0, -4.0],
            &mut out,
            Some(&mut codes),
        );
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
        affine_relu_pool(&conv, &g, &[0.0], &[1.0], &[0.0], &mut out, Some(&mut codes));
        let mut padded = vec![7.0; g.padded_out_len()];
        ConvGrad::routed(1).write_padded(&[2.0], &codes, &conv, &g, &mut padded);
        let p = g.pad();
        let at = (1 + p) * g.padded_width() + p;
        assert_eq!(padded[at], 2.0);
        assert_eq!(padded.iter().sum::<f32>(), 2.0, "everything else zeroed");
    }
}
