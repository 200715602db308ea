//! Principal-component analysis: the top axes of a cloud of points (power iteration with
//! deflation on the covariance matrix) and a point's coordinates on the first two of them.

use serde::{Deserialize, Serialize};

/// A principal-component projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pca {
    /// Mean of the data.
    pub mean: Vec<f32>,
    /// Unit axes, largest variance first, each `dim` long.
    pub axes: Vec<Vec<f32>>,
    /// Variance along each axis.
    pub variances: Vec<f32>,
}

impl Pca {
    /// The top `components` principal axes of `points` (`n × dim`), by power iteration
    /// with deflation on the covariance matrix.
    pub fn fit(points: &[f32], dim: usize, components: usize) -> Pca {
        let n = (points.len() / dim.max(1)).max(1);
        let mut mean = vec![0.0f64; dim];
        for row in points.chunks(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64 / n as f64;
            }
        }
        let mut cov = vec![0.0f64; dim * dim];
        for row in points.chunks(dim) {
            let c: Vec<f64> = row.iter().zip(&mean).map(|(&v, m)| v as f64 - m).collect();
            for i in 0..dim {
                if c[i] == 0.0 {
                    continue;
                }
                for j in 0..dim {
                    cov[i * dim + j] += c[i] * c[j] / n as f64;
                }
            }
        }
        let mut axes = Vec::new();
        let mut variances = Vec::new();
        for k in 0..components.min(dim) {
            let mut v: Vec<f64> = (0..dim)
                .map(|i| 1.0 + ((i * 7 + k * 13) % 11) as f64 / 10.0)
                .collect();
            let mut lambda = 0.0;
            for _ in 0..500 {
                let mut w = vec![0.0f64; dim];
                for i in 0..dim {
                    w[i] = (0..dim).map(|j| cov[i * dim + j] * v[j]).sum();
                }
                let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
                if norm < 1e-30 {
                    break;
                }
                let next: Vec<f64> = w.iter().map(|x| x / norm).collect();
                let delta: f64 = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
                v = next;
                lambda = norm;
                if delta < 1e-10 {
                    break;
                }
            }
            for i in 0..dim {
                for j in 0..dim {
                    cov[i * dim + j] -= lambda * v[i] * v[j];
                }
            }
            axes.push(v.iter().map(|&x| x as f32).collect());
            variances.push(lambda as f32);
        }
        Pca {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            axes,
            variances,
        }
    }

    /// Coordinates of one point on the first two axes.
    pub fn project(&self, point: &[f32]) -> [f32; 2] {
        let on = |k: usize| -> f32 {
            self.axes.get(k).map_or(0.0, |a| {
                a.iter()
                    .zip(point)
                    .zip(&self.mean)
                    .map(|((w, x), m)| w * (x - m))
                    .sum()
            })
        };
        [on(0), on(1)]
    }
}
