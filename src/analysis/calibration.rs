//! Calibration: the reliability diagram, expected calibration error, and confidence
//! histograms of right and wrong predictions (seed S3's confidence analysis).

use serde::{Deserialize, Serialize};

/// One confidence bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge (inclusive, except the first bin also takes 0).
    pub lower: f64,
    /// Upper edge (inclusive); the last bin's is 1.
    pub upper: f64,
    /// Predictions whose confidence falls in the bin.
    pub count: usize,
    /// Their mean confidence (0 when empty).
    pub mean_confidence: f64,
    /// Their share correct (0 when empty).
    pub accuracy: f64,
}

/// A reliability diagram with its expected calibration error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reliability {
    /// Equal-width bins over `[0, 1]`.
    pub bins: Vec<ReliabilityBin>,
    /// Σ (count / total) · |accuracy − mean confidence| over the bins.
    pub ece: f64,
}

/// The bin of a confidence among `bins` equal-width bins over `[0, 1]`, upper edges
/// inclusive: `(k/bins, (k+1)/bins]` is bin `k`, and 0 goes to bin 0.
pub fn bin_of(confidence: f64, bins: usize) -> usize {
    let c = confidence.clamp(0.0, 1.0);
    ((c * bins as f64).ceil() as usize)
        .saturating_sub(1)
        .min(bins - 1)
}

/// Reliability diagram over `bins` bins (10 in the app) of the predicted class's
/// confidence against whether the prediction was right.
pub fn reliability(confidences: &[f32], correct: &[bool], bins: usize) -> Reliability {
    let bins = bins.max(1);
    let mut count = vec![0usize; bins];
    let mut conf_sum = vec![0.0f64; bins];
    let mut right = vec![0usize; bins];
    for (&c, &ok) in confidences.iter().zip(correct) {
        let b = bin_of(c as f64, bins);
        count[b] += 1;
        conf_sum[b] += c as f64;
        right[b] += ok as usize;
    }
    let total = confidences.len().min(correct.len()).max(1) as f64;
    let mut ece = 0.0;
    let bins: Vec<ReliabilityBin> = (0..bins)
        .map(|b| {
            let n = count[b];
            let (mean_confidence, accuracy) = if n == 0 {
                (0.0, 0.0)
            } else {
                (conf_sum[b] / n as f64, right[b] as f64 / n as f64)
            };
            ece += n as f64 / total * (accuracy - mean_confidence).abs();
            ReliabilityBin {
                lower: b as f64 / bins as f64,
                upper: (b + 1) as f64 / bins as f64,
                count: n,
                mean_confidence,
                accuracy,
            }
        })
        .collect();
    Reliability { bins, ece }
}

/// Counts of confidences per bin, separately for right and wrong predictions:
/// `(right, wrong)`, each `bins` long.
pub fn confidence_histograms(confidences: &[f32], correct: &[bool], bins: usize) -> (Vec<usize>, Vec<usize>) {
    let bins = bins.max(1);
    let (mut right, mut wrong) = (vec![0; bins], vec![0; bins]);
    for (&c, &ok) in confidences.iter().zip(correct) {
        let b = bin_of(c as f64, bins);
        if ok {
            right[b] += 1;
        } else {
            wrong[b] += 1;
        }
    }
    (right, wrong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_take_their_upper_edge() {
        assert_eq!(bin_of(0.0, 10), 0);
        assert_eq!(bin_of(0.1, 10), 0);
        assert_eq!(bin_of(0.1000001, 10), 1);
        assert_eq!(bin_of(0.95, 10), 9);
        assert_eq!(bin_of(1.0, 10), 9);
        assert_eq!(bin_of(7.0, 10), 9);
    }

    #[test]
    fn ece_matches_a_hand_computed_case() {
        // Bin 9 (0.9, 1]: confidences 0.95, 0.95, 1.0, 0.9 → 0.9 is bin 8.
        // Bin 9: 3 predictions, mean confidence 0.9667, 2 right → accuracy 0.6667.
        // Bin 5 (0.5, 0.6]: one prediction at 0.6, wrong → accuracy 0, gap 0.6.
        // Bin 8: one at 0.9, right → gap 0.1.
        let conf = [0.95, 0.95, 1.0, 0.9, 0.6];
        let ok = [true, true, false, true, false];
        let r = reliability(&conf, &ok, 10);
        let b9 = r.bins[9];
        assert_eq!(b9.count, 3);
        assert!((b9.mean_confidence - (0.95 + 0.95 + 1.0) / 3.0).abs() < 1e-6);
        assert!((b9.accuracy - 2.0 / 3.0).abs() < 1e-12);
        let expected =
            3.0 / 5.0 * ((0.95 + 0.95 + 1.0) / 3.0 - 2.0 / 3.0) + 1.0 / 5.0 * 0.1 + 1.0 / 5.0 * 0.6;
        assert!((r.ece - expected).abs() < 1e-6, "{} vs {expected}", r.ece);
        assert_eq!(r.bins[0].count, 0);
        assert_eq!(r.bins.iter().map(|b| b.count).sum::<usize>(), 5);
    }

    #[test]
    fn a_perfectly_calibrated_set_has_zero_ece() {
        // Confidence 0.75 in bin 7, three of four right.
        let r = reliability(&[0.75; 4], &[true, true, true, false], 10);
        assert!(r.ece.abs() < 1e-9);
    }

    #[test]
    fn histograms_split_right_and_wrong() {
        let (right, wrong) = confidence_histograms(&[0.95, 0.35, 0.99, 0.5], &[true, false, true, true], 10);
        assert_eq!(right[9], 2);
        assert_eq!(right[4], 1);
        assert_eq!(wrong[3], 1);
        assert_eq!(right.iter().sum::<usize>() + wrong.iter().sum::<usize>(), 4);
    }
}
