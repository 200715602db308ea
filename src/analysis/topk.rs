//! Top-activating search: which images excite a channel most.

/// Indices of the `k` largest scores, largest first (ties by lower index; NaN never wins).
pub fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).filter(|&i| !scores[i].is_nan()).collect();
    let key = |i: usize| scores[i];
    if k < idx.len() {
        idx.select_nth_unstable_by(k, |&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
        idx.truncate(k);
    }
    idx.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
    idx
}

/// Column `channel` of a row-major `[n × channels]` matrix.
pub fn column(matrix: &[f32], channels: usize, channel: usize) -> Vec<f32> {
    matrix.chunks(channels.max(1)).map(|row| row[channel]).collect()
}

/// The `k` images that excite `channel` most, from a `[n × channels]` matrix of per-image
/// channel peaks.
pub fn top_images(peaks: &[f32], channels: usize, channel: usize, k: usize) -> Vec<usize> {
    top_k(&column(peaks, channels, channel), k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_and_breaks_ties_by_index() {
        let s = [0.1, 0.9, 0.5, 0.9, f32::NAN, 0.3];
        assert_eq!(top_k(&s, 3), vec![1, 3, 2]);
        assert_eq!(top_k(&s, 10), vec![1, 3, 2, 5, 0]);
        assert!(top_k(&s, 0).is_empty());
    }

    #[test]
    fn top_images_read_one_channel() {
        // 4 images × 2 channels.
        let peaks = [1.0, 0.0, 3.0, 5.0, 2.0, 4.0, 0.5, 6.0];
        assert_eq!(top_images(&peaks, 2, 0, 2), vec![1, 2]);
        assert_eq!(top_images(&peaks, 2, 1, 3), vec![3, 1, 2]);
    }
}
