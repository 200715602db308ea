//! Statistics of an ensemble's correctness matrix (seed S0): which models got which test image
//! right, and what follows from it: accuracy per model and per digit, digit-digit and
//! model-model correlations, how hard each image is, and a summary.

use serde::{Deserialize, Serialize};

use crate::analysis::stats::{mean_std, pearson};
use crate::data::NUM_CLASSES;

/// Which of `models` models classified each of `images` test images correctly, one bit each
/// (row-major by model, each row padded to whole bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correctness {
    models: usize,
    images: usize,
    bits: Vec<u8>,
}

impl Correctness {
    /// A matrix from one row of booleans per model. All rows need the same length.
    pub fn from_rows(rows: &[Vec<bool>]) -> Self {
        let images = rows.first().map_or(0, Vec::len);
        let row_bytes = images.div_ceil(8);
        let mut bits = vec![0u8; rows.len() * row_bytes];
        for (m, row) in rows.iter().enumerate() {
            assert_eq!(row.len(), images, "every model needs one entry per image");
            for (i, &right) in row.iter().enumerate() {
                if right {
                    bits[m * row_bytes + i / 8] |= 1 << (i % 8);
                }
            }
        }
        Self {
            models: rows.len(),
            images,
            bits,
        }
    }

    /// A matrix from its packed bits; `None` when the length does not fit the shape.
    pub fn from_bits(models: usize, images: usize, bits: Vec<u8>) -> Option<Self> {
        (bits.len() == models * images.div_ceil(8)).then_some(Self { models, images, bits })
    }

    /// Number of models (rows).
    pub fn models(&self) -> usize {
        self.models
    }

    /// Number of test images (columns).
    pub fn images(&self) -> usize {
        self.images
    }

    /// The packed bits (row-major, rows padded to bytes, least significant bit first).
    pub fn bits(&self) -> &[u8] {
        &self.bits
    }

    fn row(&self, model: usize) -> &[u8] {
        let row_bytes = self.images.div_ceil(8);
        &self.bits[model * row_bytes..(model + 1) * row_bytes]
    }

    /// Whether `model` got `image` right.
    pub fn get(&self, model: usize, image: usize) -> bool {
        self.row(model)[image / 8] & (1 << (image % 8)) != 0
    }

    /// How many images `model` got right.
    pub fn right_count(&self, model: usize) -> usize {
        self.row(model).iter().map(|b| b.count_ones() as usize).sum()
    }

    /// How many images both models got right.
    pub fn both_right(&self, a: usize, b: usize) -> usize {
        self.row(a)
            .iter()
            .zip(self.row(b))
            .map(|(x, y)| (x & y).count_ones() as usize)
            .sum()
    }

    /// How many models got `image` right.
    pub fn models_right(&self, image: usize) -> usize {
        (0..self.models).filter(|&m| self.get(m, image)).count()
    }
}

/// One-line figures of an ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleSummary {
    /// Models in the ensemble (rows of the correctness matrix).
    pub models: usize,
    /// Mean test accuracy over the models, 0 to 1.
    pub mean_accuracy: f64,
    /// Population standard deviation of test accuracy.
    pub std_accuracy: f64,
    /// Mean of the off-diagonal model-model correlations that are defined.
    pub mean_model_correlation: Option<f64>,
    /// Mean of the off-diagonal digit-digit correlations that are defined.
    pub mean_digit_correlation: Option<f64>,
    /// Mean steps to converge (or to the step limit).
    pub mean_steps: f64,
    /// Models that reached the training-accuracy target.
    pub converged: usize,
    /// Mean share of models right per test image.
    pub mean_difficulty: f64,
}

/// Everything the ensemble dashboard shows, derived from the correctness matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleStats {
    /// Test accuracy of each model.
    pub model_accuracy: Vec<f64>,
    /// `[model][digit]` accuracy on that digit's test images.
    pub digit_accuracy: Vec<[f64; NUM_CLASSES]>,
    /// `[digit][digit]` correlation, across models, of per-digit accuracies.
    pub digit_correlation: Vec<Vec<Option<f64>>>,
    /// `[model][model]` correlation of correctness over the test images (phi coefficient).
    pub model_correlation: Vec<Vec<Option<f64>>>,
    /// Share of models right, per test image ("difficulty": 0 = nobody, 1 = everyone).
    pub difficulty: Vec<f64>,
    /// Images by how many models got them right: entry k counts images right for exactly k
    /// models (length models + 1).
    pub difficulty_histogram: Vec<usize>,
    /// The same per digit.
    pub digit_difficulty_histograms: Vec<Vec<usize>>,
    /// The three hardest test images of each digit (fewest models right, lowest index first).
    pub hardest: Vec<Vec<usize>>,
    /// The easiest test image of each digit (most models right, lowest index first).
    pub easiest: Vec<Option<usize>>,
    /// The figures of the one-line summary the CLI prints and the panel heads with.
    pub summary: EnsembleSummary,
}

impl EnsembleStats {
    /// Derives every statistic. `labels` has one label per test image; `steps` and
    /// `converged` one entry per model.
    pub fn compute(matrix: &Correctness, labels: &[u8], steps: &[usize], converged: &[bool]) -> Self {
        let (models, images) = (matrix.models(), matrix.images());
        assert_eq!(labels.len(), images, "one label per image");
        let mut digit_total = [0usize; NUM_CLASSES];
        for &l in labels {
            digit_total[l as usize] += 1;
        }
        let model_accuracy: Vec<f64> = (0..models)
            .map(|m| matrix.right_count(m) as f64 / images.max(1) as f64)
            .collect();
        let digit_accuracy: Vec<[f64; NUM_CLASSES]> = (0..models)
            .map(|m| {
                let mut right = [0usize; NUM_CLASSES];
                for (i, &l) in labels.iter().enumerate() {
                    if matrix.get(m, i) {
                        right[l as usize] += 1;
                    }
                }
                std::array::from_fn(|d| right[d] as f64 / digit_total[d].max(1) as f64)
            })
            .collect();
        let column = |d: usize| digit_accuracy.iter().map(|a| a[d]).collect::<Vec<f64>>();
        let digit_correlation: Vec<Vec<Option<f64>>> = (0..NUM_CLASSES)
            .map(|d| {
                (0..NUM_CLASSES)
                    .map(|e| pearson(&column(d), &column(e)))
                    .collect()
            })
            .collect();
        let n = images as f64;
        let right: Vec<f64> = (0..models).map(|m| matrix.right_count(m) as f64).collect();
        let model_correlation: Vec<Vec<Option<f64>>> = (0..models)
            .map(|a| {
                (0..models)
                    .map(|b| {
                        // phi = (n·n11 − na·nb) / √(na(n−na)·nb(n−nb)), Pearson on 0/1 data.
                        let (na, nb) = (right[a], right[b]);
                        let denom = (na * (n - na) * nb * (n - nb)).sqrt();
                        (denom > 0.0).then(|| (n * matrix.both_right(a, b) as f64 - na * nb) / denom)
                    })
                    .collect()
            })
            .collect();
        let counts: Vec<usize> = (0..images).map(|i| matrix.models_right(i)).collect();
        let difficulty: Vec<f64> = counts.iter().map(|&c| c as f64 / models.max(1) as f64).collect();
        let mut difficulty_histogram = vec![0; models + 1];
        let mut digit_difficulty_histograms = vec![vec![0; models + 1]; NUM_CLASSES];
        for (i, &c) in counts.iter().enumerate() {
            difficulty_histogram[c] += 1;
            digit_difficulty_histograms[labels[i] as usize][c] += 1;
        }
        let mut hardest = Vec::new();
        let mut easiest = Vec::new();
        for d in 0..NUM_CLASSES {
            let mut of_digit: Vec<usize> = (0..images).filter(|&i| labels[i] as usize == d).collect();
            of_digit.sort_by_key(|&i| (counts[i], i));
            hardest.push(of_digit.iter().take(3).copied().collect());
            easiest.push(
                of_digit
                    .iter()
                    .copied()
                    .max_by_key(|&i| (counts[i], std::cmp::Reverse(i))),
            );
        }
        let off_diagonal_mean = |m: &[Vec<Option<f64>>]| {
            let values: Vec<f64> = m
                .iter()
                .enumerate()
                .flat_map(|(a, row)| {
                    row.iter()
                        .enumerate()
                        .filter(move |(b, _)| *b != a)
                        .filter_map(|(_, v)| *v)
                })
                .collect();
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        let (mean_accuracy, std_accuracy) = mean_std(&model_accuracy);
        let summary = EnsembleSummary {
            models,
            mean_accuracy,
            std_accuracy,
            mean_model_correlation: off_diagonal_mean(&model_correlation),
            mean_digit_correlation: off_diagonal_mean(&digit_correlation),
            mean_steps: steps.iter().sum::<usize>() as f64 / steps.len().max(1) as f64,
            converged: converged.iter().filter(|&&c| c).count(),
            mean_difficulty: difficulty.iter().sum::<f64>() / images.max(1) as f64,
        };
        Self {
            model_accuracy,
            digit_accuracy,
            digit_correlation,
            model_correlation,
            difficulty,
            difficulty_histogram,
            digit_difficulty_histograms,
            hardest,
            easiest,
            summary,
        }
    }

    /// Test images whose difficulty lies in `[low, high]`, hardest first.
    pub fn images_in_difficulty(&self, low: f64, high: f64) -> Vec<usize> {
        let mut picked: Vec<usize> = (0..self.difficulty.len())
            .filter(|&i| self.difficulty[i] >= low - 1e-9 && self.difficulty[i] <= high + 1e-9)
            .collect();
        picked.sort_by(|&a, &b| self.difficulty[a].total_cmp(&self.difficulty[b]).then(a.cmp(&b)));
        picked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three models, six images with labels 0 0 1 1 2 2.
    ///   model 0: 1 1 1 0 0 0
    ///   model 1: 1 0 1 1 0 0
    ///   model 2: 1 1 0 0 1 0
    fn tiny() -> (Correctness, Vec<u8>) {
        let rows = [[1, 1, 1, 0, 0, 0], [1, 0, 1, 1, 0, 0], [1, 1, 0, 0, 1, 0]];
        let rows: Vec<Vec<bool>> = rows.iter().map(|r| r.iter().map(|&v| v == 1).collect()).collect();
        (Correctness::from_rows(&rows), vec![0, 0, 1, 1, 2, 2])
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn bits_round_trip_and_count() {
        let (m, _) = tiny();
        assert_eq!(m.bits().len(), 3); // one byte per row
        assert!(m.get(1, 3) && !m.get(0, 3));
        assert_eq!(m.right_count(0), 3);
        assert_eq!(m.both_right(0, 1), 2);
        assert_eq!(m.models_right(0), 3);
        assert_eq!(Correctness::from_bits(3, 6, m.bits().to_vec()), Some(m.clone()));
        assert_eq!(Correctness::from_bits(3, 7, vec![0; 2]), None);
    }

    #[test]
    fn accuracies_difficulty_and_rankings_match_hand_counts() {
        let (m, labels) = tiny();
        let s = EnsembleStats::compute(&m, &labels, &[4, 6, 5], &[true, true, false]);
        assert_eq!(s.model_accuracy, vec![0.5, 0.5, 0.5]);
        assert_eq!(s.digit_accuracy[0][..3], [1.0, 0.5, 0.0]);
        assert_eq!(s.digit_accuracy[1][..3], [0.5, 1.0, 0.0]);
        assert_eq!(s.digit_accuracy[2][..3], [1.0, 0.0, 0.5]);
        // models right per image: 3 2 2 1 1 0
        let third = 1.0 / 3.0;
        assert_eq!(
            s.difficulty,
            vec![1.0, 2.0 * third, 2.0 * third, third, third, 0.0]
        );
        assert_eq!(s.difficulty_histogram, vec![1, 2, 2, 1]);
        assert_eq!(s.digit_difficulty_histograms[2], vec![1, 1, 0, 0]);
        assert_eq!(s.hardest[0], vec![1, 0]);
        assert_eq!(s.hardest[2], vec![5, 4]);
        assert_eq!(s.easiest[1], Some(2));
        assert_eq!(s.easiest[5], None);
        assert_eq!(s.images_in_difficulty(0.3, 0.7), vec![3, 4, 1, 2]);
        assert!(close(s.summary.mean_steps, 5.0));
        assert_eq!(s.summary.converged, 2);
        assert!(close(s.summary.mean_accuracy, 0.5) && close(s.summary.std_accuracy, 0.0));
        assert!(close(s.summary.mean_difficulty, 0.5));
    }

    #[test]
    fn correlations_match_hand_computation() {
        let (m, labels) = tiny();
        let s = EnsembleStats::compute(&m, &labels, &[1, 1, 1], &[true; 3]);
        // Models 0 and 1: n=6, na=nb=3, n11=2 → phi = (6·2 − 9)/√(3·3·3·3) = 3/9.
        assert!(close(s.model_correlation[0][1].unwrap(), 1.0 / 3.0));
        // Models 0 and 2: n11=2 as well; 1 and 2: n11=1 → (6 − 9)/9.
        assert!(close(s.model_correlation[0][2].unwrap(), 1.0 / 3.0));
        assert!(close(s.model_correlation[1][2].unwrap(), -1.0 / 3.0));
        assert!(close(s.model_correlation[2][2].unwrap(), 1.0));
        // Digit 0 accuracies over models: 1, .5, 1; digit 1: .5, 1, 0 → Pearson by hand.
        // d0 centred: 1/6, −1/3, 1/6; d1 centred: 0, 1/2, −1/2.
        // cov = −1/6 − 1/12 = −1/4; |d0|² = 1/6; |d1|² = 1/2 → r = −(1/4)/√(1/12) = −√3/2.
        assert!(close(s.digit_correlation[0][1].unwrap(), -(3f64.sqrt()) / 2.0));
        assert!(close(s.digit_correlation[1][0].unwrap(), -(3f64.sqrt()) / 2.0));
        // Digits 3..9 have no images: constant zero accuracy → undefined.
        assert_eq!(s.digit_correlation[0][3], None);
        // Off-diagonal means: models (1/3 + 1/3 − 1/3)·2/6 = 1/9.
        assert!(close(s.summary.mean_model_correlation.unwrap(), 1.0 / 9.0));
    }
}
