//! Pure metrics over predictions: accuracy, confusion matrix, per-class accuracy.

use crate::data::NUM_CLASSES;

/// Confusion counts `[true][predicted]`.
pub fn confusion_matrix(labels: &[u8], predictions: &[u8]) -> [[u32; NUM_CLASSES]; NUM_CLASSES] {
    let mut m = [[0u32; NUM_CLASSES]; NUM_CLASSES];
    for (&t, &p) in labels.iter().zip(predictions) {
        m[t as usize][p as usize] += 1;
    }
    m
}

/// Accuracy of each true class (NaN-free: a class without images gets 0).
pub fn per_class_accuracy(confusion: &[[u32; NUM_CLASSES]; NUM_CLASSES]) -> [f64; NUM_CLASSES] {
    let mut out = [0.0; NUM_CLASSES];
    for (c, row) in confusion.iter().enumerate() {
        let total: u32 = row.iter().sum();
        out[c] = if total == 0 {
            0.0
        } else {
            row[c] as f64 / total as f64
        };
    }
    out
}

/// Share of predictions equal to the labels.
pub fn accuracy(labels: &[u8], predictions: &[u8]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    labels.iter().zip(predictions).filter(|(a, b)| a == b).count() as f64 / labels.len() as f64
}

/// Index of the largest value of one row of logits (the first on ties, 0 when all are NaN).
pub fn argmax(row: &[f32]) -> u8 {
    row.iter()
        .enumerate()
        .fold((0usize, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0 as u8
}

/// Index of the largest value of each row of `logits` (`rows × 10`, row-major).
pub fn argmax_rows(logits: &[f32]) -> Vec<u8> {
    logits.chunks(NUM_CLASSES).map(argmax).collect()
}

/// Softmax of one row of logits.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Mean cross-entropy of rows of logits against labels.
pub fn cross_entropy(logits: &[f32], labels: &[u8]) -> f64 {
    let mut total = 0.0;
    for (row, &l) in logits.chunks(NUM_CLASSES).zip(labels) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = max as f64 + row.iter().map(|&v| ((v - max) as f64).exp()).sum::<f64>().ln();
        total += lse - row[l as usize] as f64;
    }
    total / labels.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_and_per_class_by_hand() {
        let labels = [0, 0, 1, 1, 1, 2];
        let preds = [0, 1, 1, 1, 2, 2];
        let m = confusion_matrix(&labels, &preds);
        assert_eq!(m[0][0], 1);
        assert_eq!(m[0][1], 1);
        assert_eq!(m[1][1], 2);
        assert_eq!(m[1][2], 1);
        assert_eq!(m[2][2], 1);
        let pc = per_class_accuracy(&m);
        assert!((pc[0] - 0.5).abs() < 1e-12 && (pc[1] - 2.0 / 3.0).abs() < 1e-12 && pc[2] == 1.0);
        assert_eq!(pc[3], 0.0);
        assert!((accuracy(&labels, &preds) - 4.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn argmax_softmax_and_cross_entropy() {
        let mut logits = vec![0.0f32; 20];
        logits[3] = 2.0;
        logits[10 + 7] = 1.0;
        assert_eq!(argmax_rows(&logits), vec![3, 7]);
        let p = softmax(&logits[..10]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        // Uniform logits: cross-entropy is ln 10.
        assert!((cross_entropy(&[0.0; 10], &[4]) - 10f64.ln()).abs() < 1e-9);
    }
}
