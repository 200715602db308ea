//! Dataset statistics for the Dataset panel (seed S4's data inspection): label counts, mean
//! image per digit, pixel statistics.

use serde::{Deserialize, Serialize};

use crate::data::{Digits, IMAGE_PIXELS, NUM_CLASSES};

/// Statistics of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitStats {
    /// Images in the split.
    pub images: usize,
    /// Images per digit, indexed by digit.
    pub label_counts: [usize; NUM_CLASSES],
    /// Mean intensity image (784 values in `[0, 1]`) per digit (zeros for absent digits).
    pub mean_images: Vec<Vec<f32>>,
    /// Mean of all pixel intensities.
    pub pixel_mean: f64,
    /// Standard deviation of all pixel intensities.
    pub pixel_std: f64,
    /// Mean share of "ink" pixels (intensity > 0.5) per digit.
    pub ink_share: [f64; NUM_CLASSES],
    /// Histogram of pixel bytes in 16 bins of 16 values each.
    pub intensity_histogram: [u64; 16],
}

impl SplitStats {
    /// Computes the statistics (one pass over the pixels).
    pub fn compute(digits: &Digits) -> Self {
        let mut sums = vec![vec![0u64; IMAGE_PIXELS]; NUM_CLASSES];
        let label_counts = digits.label_counts();
        let mut ink = [0u64; NUM_CLASSES];
        let mut histogram = [0u64; 16];
        let (mut total, mut total_sq) = (0u64, 0u64);
        for (i, &label) in digits.labels.iter().enumerate() {
            let sum = &mut sums[label as usize % NUM_CLASSES];
            for (acc, &p) in sum.iter_mut().zip(digits.image(i)) {
                *acc += p as u64;
                total += p as u64;
                total_sq += (p as u64) * (p as u64);
                histogram[(p / 16) as usize] += 1;
                ink[label as usize % NUM_CLASSES] += (p > 127) as u64;
            }
        }
        let pixels = (digits.len() * IMAGE_PIXELS).max(1) as f64;
        let mean = total as f64 / pixels / 255.0;
        let var = (total_sq as f64 / pixels / (255.0 * 255.0) - mean * mean).max(0.0);
        let mean_images = sums
            .iter()
            .zip(label_counts)
            .map(|(sum, n)| sum.iter().map(|&s| s as f32 / 255.0 / n.max(1) as f32).collect())
            .collect();
        let mut ink_share = [0.0; NUM_CLASSES];
        for d in 0..NUM_CLASSES {
            ink_share[d] = ink[d] as f64 / (label_counts[d].max(1) * IMAGE_PIXELS) as f64;
        }
        SplitStats {
            images: digits.len(),
            label_counts,
            mean_images,
            pixel_mean: mean,
            pixel_std: var.sqrt(),
            ink_share,
            intensity_histogram: histogram,
        }
    }

    /// First `n` indices of each digit, in index order: the sample grid's rows.
    pub fn first_of_each(digits: &Digits, n: usize) -> Vec<Vec<usize>> {
        let mut rows = vec![Vec::new(); NUM_CLASSES];
        for (i, &l) in digits.labels.iter().enumerate() {
            let row = &mut rows[l as usize % NUM_CLASSES];
            if row.len() < n {
                row.push(i);
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_match_a_hand_computed_case() {
        // Two images of digit 3: one all 255, one all 0; one image of digit 5 with the first
        // pixel 255.
        let mut pixels = vec![255u8; IMAGE_PIXELS];
        pixels.extend(vec![0u8; IMAGE_PIXELS]);
        let mut five = vec![0u8; IMAGE_PIXELS];
        five[0] = 255;
        pixels.extend(five);
        let digits = Digits {
            pixels,
            labels: vec![3, 3, 5],
        };
        let s = SplitStats::compute(&digits);
        assert_eq!(s.label_counts[3], 2);
        assert_eq!(s.label_counts[5], 1);
        assert!(s.mean_images[3].iter().all(|&v| (v - 0.5).abs() < 1e-6));
        assert_eq!(s.mean_images[5][0], 1.0);
        assert_eq!(s.mean_images[5][1], 0.0);
        // 785 of 2352 pixels are 1, the rest 0.
        let p = 785.0 / 2352.0;
        assert!((s.pixel_mean - p).abs() < 1e-9);
        assert!((s.pixel_std - (p * (1.0 - p)).sqrt()).abs() < 1e-9);
        assert!((s.ink_share[3] - 0.5).abs() < 1e-12);
        assert_eq!(s.intensity_histogram[15], 785);
        assert_eq!(s.intensity_histogram[0], 2352 - 785);
    }

    #[test]
    fn sample_rows_take_the_first_of_each_digit() {
        let digits = Digits {
            pixels: vec![0; 5 * IMAGE_PIXELS],
            labels: vec![2, 0, 2, 2, 0],
        };
        let rows = SplitStats::first_of_each(&digits, 2);
        assert_eq!(rows[2], vec![0, 2]);
        assert_eq!(rows[0], vec![1, 4]);
        assert!(rows[1].is_empty());
    }
}

/// Statistics of both splits, computed once per loaded dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetStats {
    pub train: SplitStats,
    pub test: SplitStats,
}

impl DatasetStats {
    /// Computes both splits' statistics.
    pub fn compute(dataset: &crate::data::Dataset) -> Self {
        Self {
            train: SplitStats::compute(&dataset.train),
            test: SplitStats::compute(&dataset.test),
        }
    }
}
