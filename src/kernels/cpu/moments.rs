//! BatchNorm's batch statistics of a block's convolution output: per-channel mean and biased
//! variance in f64, two cache-resident passes per image and a pairwise merge over images.

use super::geometry::BlockGeometry;

/// Per-channel count, mean and sum of squared deviations (`M2`) of convolution outputs, in f64.
/// Each image is summarised with two passes (its mean, then the deviations from it) and the
/// summaries merged with Chan et al.'s pairwise formula, so the variance keeps its precision
/// when `|mean| ≫ std` (the one-pass `E[y²] − E[y]²` in f32 sums loses every digit at a
/// mean of 1000 and a standard deviation of 1) and a NaN or an infinity anywhere in a channel
/// makes its variance NaN, as in burn's two-pass `batch_norm_train`.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    count: usize,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Moments {
    /// No values yet.
    pub fn new(channels: usize) -> Self {
        Self {
            count: 0,
            mean: vec![0.0; channels],
            m2: vec![0.0; channels],
        }
    }

    /// Adds the valid positions of one image's convolution rows (junk columns skipped).
    pub fn add_image(&mut self, conv: &[f32], g: &BlockGeometry) {
        let co = g.out_channels;
        let count = g.height * g.width;
        let n = count as f64;
        let mut sum = vec![0.0f64; co];
        add_sums(conv, g, &mut sum);
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        // Deviations from the f32-rounded mean `c`: Σ(y − m)² = Σ(y − c)² − (Σ(y − c))²/n.
        let center: Vec<f32> = mean.iter().map(|m| *m as f32).collect();
        let (mut deviation, mut squares) = (vec![0.0f64; co], vec![0.0f64; co]);
        add_deviations(conv, g, &center, &mut deviation, &mut squares);
        let m2 = squares
            .iter()
            .zip(&deviation)
            .map(|(q, d)| {
                let m2 = q - d * d / n;
                // Rounding may leave a hair below zero; a NaN stays NaN.
                if m2 < 0.0 { 0.0 } else { m2 }
            })
            .collect();
        self.merge(&Moments { count, mean, m2 });
    }

    /// Adds the values `other` summarises.
    pub fn merge(&mut self, other: &Moments) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        for c in 0..self.mean.len() {
            let delta = other.mean[c] - self.mean[c];
            self.mean[c] += delta * (nb / n);
            self.m2[c] += other.m2[c] + delta * delta * (na * nb / n);
        }
        self.count += other.count;
    }

    /// Mean and biased variance per channel.
    pub fn mean_variance(&self) -> (Vec<f32>, Vec<f32>) {
        let n = self.count.max(1) as f64;
        self.mean
            .iter()
            .zip(&self.m2)
            .map(|(m, q)| (*m as f32, (q / n) as f32))
            .unzip()
    }
}

crate::multiversion! {
    /// Adds one image's per-channel sum over its valid positions.
    fn add_sums(conv: &[f32], g: &BlockGeometry, sum: &mut [f64]) => add_sums_impl
}

#[inline(always)]
fn add_sums_impl(conv: &[f32], g: &BlockGeometry, sum: &mut [f64]) {
    let (co, pw) = (g.out_channels, g.padded_width());
    let mut row = vec![0.0f32; co];
    let sum = &mut sum[..co];
    for y in 0..g.height {
        // One image row in f32 (at most a few dozen terms), then into the f64 totals.
        row.fill(0.0);
        for x in 0..g.width {
            let v = &conv[(y * pw + x) * co..][..co];
            for (s, v) in row.iter_mut().zip(v) {
                *s += v;
            }
        }
        for (total, s) in sum.iter_mut().zip(&row) {
            *total += *s as f64;
        }
    }
}

crate::multiversion! {
    /// Adds one image's per-channel `Σ(y − center)` and `Σ(y − center)²` over its valid positions.
    fn add_deviations(conv: &[f32], g: &BlockGeometry, center: &[f32], deviation: &mut [f64], squares: &mut [f64]) => add_deviations_impl
}

#[inline(always)]
fn add_deviations_impl(
    conv: &[f32],
    g: &BlockGeometry,
    center: &[f32],
    deviation: &mut [f64],
    squares: &mut [f64],
) {
    let (co, pw) = (g.out_channels, g.padded_width());
    let mut row_deviation = vec![0.0f32; co];
    let mut row_squares = vec![0.0f32; co];
    let (center, deviation, squares) = (&center[..co], &mut deviation[..co], &mut squares[..co]);
    for y in 0..g.height {
        row_deviation.fill(0.0);
        row_squares.fill(0.0);
        for x in 0..g.width {
            let v = &conv[(y * pw + x) * co..][..co];
            for c in 0..co {
                let d = v[c] - center[c];
                row_deviation[c] += d;
                row_squares[c] += d * d;
            }
        }
        for c in 0..co {
            deviation[c] += row_deviation[c] as f64;
            squares[c] += row_squares[c] as f64;
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers the statistics and pooling tests share.
    use super::BlockGeometry;

    /// A one-image geometry of `channels` output channels on a `side × side` map, kernel 3.
    pub fn geometry(channels: usize, side: usize) -> BlockGeometry {
        BlockGeometry {
            batch: 1,
            in_channels: 1,
            out_channels: channels,
            height: side,
            width: side,
            kernel: 3,
        }
    }

    /// One image of `values` (one channel) laid out as convolution rows with junk columns.
    pub fn rows_of(values: &[f32], g: &BlockGeometry) -> Vec<f32> {
        let mut conv = vec![f32::NAN; g.conv_len()]; // junk columns hold NaN: they must be skipped
        for y in 0..g.height {
            for x in 0..g.width {
                conv[y * g.padded_width() + x] = values[y * g.width + x];
            }
        }
        conv
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{geometry, rows_of};
    use super::*;

    #[test]
    fn moments_skip_junk_columns() {
        let g = geometry(1, 2); // rows of padded width 4: two valid, two junk
        let conv = [1.0, 2.0, 99.0, 99.0, 3.0, 4.0, 99.0, 99.0];
        let mut moments = Moments::new(1);
        moments.add_image(&conv, &g);
        let (mean, var) = moments.mean_variance();
        assert_eq!((mean[0], var[0]), (2.5, 1.25));
    }

    #[test]
    fn variance_is_exact_when_the_mean_dwarfs_the_spread() {
        // Mean 1000, standard deviation about 1, over three images merged: f64 two-pass truth.
        let g = geometry(1, 8);
        let mut rng = crate::rng::Rng::new(11);
        let images: Vec<Vec<f32>> = (0..3)
            .map(|_| {
                (0..64)
                    .map(|_| 1000.0 + (rng.next_f32() * 2.0 - 1.0) * 1.7)
                    .collect()
            })
            .collect();
        let mut moments = Moments::new(1);
        for image in &images {
            moments.add_image(&rows_of(image, &g), &g);
        }
        let all: Vec<f64> = images.iter().flatten().map(|v| *v as f64).collect();
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        let variance = all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / all.len() as f64;
        let (got_mean, got_variance) = moments.mean_variance();
        assert!(
            ((got_mean[0] as f64 - mean) / mean).abs() < 1e-7,
            "{} vs {mean}",
            got_mean[0]
        );
        assert!(
            ((got_variance[0] as f64 - variance) / variance).abs() < 1e-5,
            "{} vs {variance}",
            got_variance[0]
        );
    }

    #[test]
    fn a_nan_or_an_infinity_makes_the_statistics_nan() {
        let g = geometry(1, 2);
        for (bad, mean_nan) in [(f32::NAN, true), (f32::INFINITY, false)] {
            let mut moments = Moments::new(1);
            moments.add_image(&rows_of(&[1.0, 2.0, 3.0, 4.0], &g), &g);
            moments.add_image(&rows_of(&[1.0, bad, 3.0, 4.0], &g), &g);
            let (mean, variance) = moments.mean_variance();
            // burn: the mean of values with +∞ is +∞, their centred squares NaN.
            assert_eq!(mean[0].is_nan(), mean_nan, "{bad}: mean {}", mean[0]);
            assert!(variance[0].is_nan(), "{bad}: variance {}", variance[0]);
        }
    }
}
