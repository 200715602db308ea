//! The Errors view: misclassified images, most confident mistakes first.

/// Indices of misclassified images, optionally only those of one true digit and/or one
/// predicted digit, sorted by confidence (highest first; ties by index).
pub fn misclassified(
    labels: &[u8],
    predictions: &[u8],
    confidences: &[f32],
    truth: Option<u8>,
    predicted: Option<u8>,
) -> Vec<usize> {
    let mut out: Vec<usize> = (0..labels.len().min(predictions.len()))
        .filter(|&i| labels[i] != predictions[i])
        .filter(|&i| truth.is_none_or(|t| labels[i] == t))
        .filter(|&i| predicted.is_none_or(|p| predictions[i] == p))
        .collect();
    let conf = |i: usize| confidences.get(i).copied().unwrap_or(0.0);
    out.sort_by(|&a, &b| conf(b).total_cmp(&conf(a)).then(a.cmp(&b)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistakes_are_sorted_by_confidence_and_filtered() {
        let labels = [1, 7, 7, 3, 1, 9];
        let preds = [1, 1, 1, 8, 7, 9];
        let conf = [0.99, 0.6, 0.9, 0.7, 0.9, 0.5];
        // Wrong: 1 (0.6), 2 (0.9), 3 (0.7), 4 (0.9). Ties 2 and 4 by index.
        assert_eq!(
            misclassified(&labels, &preds, &conf, None, None),
            vec![2, 4, 3, 1]
        );
        assert_eq!(misclassified(&labels, &preds, &conf, Some(7), None), vec![2, 1]);
        assert_eq!(misclassified(&labels, &preds, &conf, None, Some(7)), vec![4]);
        assert_eq!(
            misclassified(&labels, &preds, &conf, Some(7), Some(1)),
            vec![2, 1]
        );
        assert!(misclassified(&labels, &preds, &conf, Some(9), None).is_empty());
    }
}
