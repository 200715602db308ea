//! Confusion-matrix views: row-normalised shares, per-class precision / recall / F1, and the
//! images behind one cell.

use serde::{Deserialize, Serialize};

use crate::data::NUM_CLASSES;

/// A `[true][predicted]` count matrix.
pub type Confusion = [[u32; NUM_CLASSES]; NUM_CLASSES];

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// The digit, 0-9.
    pub digit: usize,
    /// Of the images predicted as this digit, the share that are it (0 when none predicted).
    pub precision: f64,
    /// Of the images of this digit, the share predicted as it (0 when none exist).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Images of this digit.
    pub support: u32,
}

/// Each row divided by its total (rows without images stay 0).
pub fn row_normalized(confusion: &Confusion) -> [[f64; NUM_CLASSES]; NUM_CLASSES] {
    let mut out = [[0.0; NUM_CLASSES]; NUM_CLASSES];
    for (t, row) in confusion.iter().enumerate() {
        let total: u32 = row.iter().sum();
        if total > 0 {
            for (p, &c) in row.iter().enumerate() {
                out[t][p] = c as f64 / total as f64;
            }
        }
    }
    out
}

/// Precision, recall and F1 for every digit.
pub fn class_scores(confusion: &Confusion) -> Vec<ClassScores> {
    (0..NUM_CLASSES)
        .map(|d| {
            let tp = confusion[d][d] as f64;
            let support: u32 = confusion[d].iter().sum();
            let predicted: u32 = confusion.iter().map(|row| row[d]).sum();
            let ratio = |a: f64, b: u32| if b == 0 { 0.0 } else { a / b as f64 };
            let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            ClassScores {
                digit: d,
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect()
}

/// Indices of the images with this true label and this prediction, in index order: exactly
/// the images counted in cell `[truth][predicted]`.
pub fn cell_members(labels: &[u8], predictions: &[u8], truth: u8, predicted: u8) -> Vec<usize> {
    labels
        .iter()
        .zip(predictions)
        .enumerate()
        .filter(|(_, (l, p))| **l == truth && **p == predicted)
        .map(|(i, _)| i)
        .collect()
}

/// The matrix and per-class scores as CSV: a header row of predicted digits, one row per
/// true digit, then a blank line and `digit,precision,recall,f1,support`.
pub fn to_csv(confusion: &Confusion) -> String {
    let mut csv = String::from("true\\predicted");
    for p in 0..NUM_CLASSES {
        csv.push_str(&format!(",{p}"));
    }
    csv.push('\n');
    for (t, row) in confusion.iter().enumerate() {
        csv.push_str(&t.to_string());
        for c in row {
            csv.push_str(&format!(",{c}"));
        }
        csv.push('\n');
    }
    csv.push_str("\ndigit,precision,recall,f1,support\n");
    for s in class_scores(confusion) {
        csv.push_str(&format!(
            "{},{:.4},{:.4},{:.4},{}\n",
            s.digit, s.precision, s.recall, s.f1, s.support
        ));
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::metrics::confusion_matrix;

    fn example() -> (Vec<u8>, Vec<u8>) {
        // Hand-made: three 1s (two right, one called 7), two 7s (one right, one called 1),
        // one 0 called 0.
        (vec![1, 1, 1, 7, 7, 0], vec![1, 7, 1, 7, 1, 0])
    }

    #[test]
    fn scores_match_a_hand_computed_case() {
        let (labels, preds) = example();
        let c = confusion_matrix(&labels, &preds);
        let s = class_scores(&c);
        // Digit 1: tp 2, predicted 3 (two 1s + one 7), support 3.
        assert!((s[1].precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((s[1].recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((s[1].f1 - 2.0 / 3.0).abs() < 1e-12);
        // Digit 7: tp 1, predicted 2, support 2.
        assert!((s[7].precision - 0.5).abs() < 1e-12);
        assert!((s[7].recall - 0.5).abs() < 1e-12);
        assert_eq!(s[0].f1, 1.0);
        // Digit 3 never occurs and is never predicted.
        assert_eq!(
            (s[3].precision, s[3].recall, s[3].f1, s[3].support),
            (0.0, 0.0, 0.0, 0)
        );
    }

    #[test]
    fn rows_normalise_to_shares() {
        let (labels, preds) = example();
        let r = row_normalized(&confusion_matrix(&labels, &preds));
        assert!((r[1][1] - 2.0 / 3.0).abs() < 1e-12);
        assert!((r[1][7] - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(r[5], [0.0; 10]);
    }

    #[test]
    fn cell_members_are_exactly_the_counted_images() {
        let (labels, preds) = example();
        let c = confusion_matrix(&labels, &preds);
        assert_eq!(cell_members(&labels, &preds, 1, 7), vec![1]);
        assert_eq!(cell_members(&labels, &preds, 1, 1), vec![0, 2]);
        for t in 0..10u8 {
            for p in 0..10u8 {
                let members = cell_members(&labels, &preds, t, p);
                assert_eq!(members.len() as u32, c[t as usize][p as usize]);
            }
        }
    }

    #[test]
    fn csv_has_matrix_and_scores() {
        let (labels, preds) = example();
        let csv = to_csv(&confusion_matrix(&labels, &preds));
        assert!(csv.starts_with("true\\predicted,0,1,2"));
        assert!(csv.contains("\n1,0,2,0,0,0,0,0,1,0,0\n"));
        assert!(csv.contains("7,0.5000,0.5000,0.5000,2"));
    }
}
