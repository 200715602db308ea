//! Seeded stratified subsets of a training set: k images per digit (seed S0's balanced
//! samples) or a fraction of every digit (seed S2's training-set-size curve).

use super::NUM_CLASSES;
use crate::rng::Rng;

/// Indices of each digit, in dataset order.
pub fn indices_by_digit(labels: &[u8]) -> [Vec<usize>; NUM_CLASSES] {
    let mut by: [Vec<usize>; NUM_CLASSES] = Default::default();
    for (i, &l) in labels.iter().enumerate() {
        by[l as usize].push(i);
    }
    by
}

/// `k` distinct images of every digit chosen with `rng`, digit by digit (0's first).
/// A digit with fewer than `k` images contributes all it has.
pub fn k_per_digit(labels: &[u8], k: usize, rng: &mut Rng) -> Vec<usize> {
    // `k` may be far more than there are images: reserve only what can be taken.
    let mut out = Vec::with_capacity(k.min(labels.len()).saturating_mul(NUM_CLASSES).min(labels.len()));
    for mut pool in indices_by_digit(labels) {
        // Partial Fisher-Yates: the first k of a seeded shuffle.
        let take = k.min(pool.len());
        for i in 0..take {
            let j = i + rng.below(pool.len() - i);
            pool.swap(i, j);
        }
        out.extend_from_slice(&pool[..take]);
    }
    out
}

/// The same share of every digit (rounded, at least one per present digit), seeded.
pub fn fraction_per_digit(labels: &[u8], fraction: f64, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for mut pool in indices_by_digit(labels) {
        if pool.is_empty() {
            continue;
        }
        let take = ((pool.len() as f64 * fraction).round() as usize).clamp(1, pool.len());
        rng.shuffle(&mut pool);
        pool.truncate(take);
        pool.sort_unstable();
        out.extend(pool);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<u8> {
        (0..1000).map(|i| ((i * 7) % 10) as u8).collect()
    }

    #[test]
    fn k_per_digit_is_balanced_distinct_and_seeded() {
        let l = labels();
        let a = k_per_digit(&l, 2, &mut Rng::new(42));
        assert_eq!(a.len(), 20);
        for d in 0..10u8 {
            assert_eq!(a.iter().filter(|&&i| l[i] == d).count(), 2);
        }
        let mut dedup = a.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), 20);
        assert_eq!(a, k_per_digit(&l, 2, &mut Rng::new(42)));
        assert_ne!(a, k_per_digit(&l, 2, &mut Rng::new(43)));
    }

    #[test]
    fn fraction_keeps_class_balance() {
        let l = labels();
        let s = fraction_per_digit(&l, 0.25, 9);
        assert_eq!(s.len(), 250);
        for d in 0..10u8 {
            assert_eq!(s.iter().filter(|&&i| l[i] == d).count(), 25);
        }
        assert_eq!(s, fraction_per_digit(&l, 0.25, 9));
    }
}
