//! Penultimate-layer embeddings of test images (seed S2): a PCA projection, a t-SNE map,
//! and where any other image (the pad's) falls among them with its nearest test images.
//!
//! t-SNE has no projection for new points, so a new image is placed at the mean of its
//! nearest neighbours' t-SNE positions, weighted by inverse embedding distance.

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::tsne::{TsneConfig, tsne};
use super::{PROBE_BATCH, StudyError, Reporter, argmax};
use crate::data::{Digits, batch, batch::images_tensor, normalize_intensity};
use crate::model::Model;

/// Settings of [`run_embedding`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedConfig {
    /// Test images embedded (the first ones).
    pub points: usize,
    /// Compute t-SNE as well as PCA.
    pub tsne: bool,
    /// t-SNE settings.
    pub tsne_config: TsneConfig,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            points: 5000,
            tsne: true,
            tsne_config: TsneConfig::default(),
        }
    }
}

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

/// Embeddings of test images and their 2-D maps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// Settings.
    pub config: EmbedConfig,
    /// Name of the embedded layer.
    pub layer: String,
    /// Width of the embedding.
    pub dim: usize,
    /// Test-set index of each point.
    pub indices: Vec<usize>,
    /// True digit of each point.
    pub labels: Vec<u8>,
    /// Predicted digit of each point.
    pub predictions: Vec<u8>,
    /// The embeddings, `n × dim` (not saved: recomputed from the model when needed).
    #[serde(skip)]
    pub vectors: Vec<f32>,
    /// The PCA.
    pub pca: Pca,
    /// PCA coordinates of each point.
    pub pca_points: Vec<[f32; 2]>,
    /// t-SNE coordinates of each point, when computed.
    pub tsne_points: Option<Vec<[f32; 2]>>,
}

impl Embedding {
    /// How many points the model gets wrong.
    pub fn mistakes(&self) -> usize {
        self.labels
            .iter()
            .zip(&self.predictions)
            .filter(|(l, p)| l != p)
            .count()
    }

    /// The `k` points nearest to `vector` in embedding space: (point, distance).
    pub fn nearest(&self, vector: &[f32], k: usize) -> Vec<(usize, f32)> {
        let mut d: Vec<(usize, f32)> = self
            .vectors
            .chunks(self.dim.max(1))
            .enumerate()
            .map(|(i, row)| {
                let s: f32 = row.iter().zip(vector).map(|(a, b)| (a - b) * (a - b)).sum();
                (i, s.sqrt())
            })
            .collect();
        d.sort_by(|a, b| a.1.total_cmp(&b.1));
        d.truncate(k);
        d
    }

    /// Where `vector` falls on the t-SNE map, from its `neighbours` (see the module docs).
    pub fn place_on_tsne(&self, neighbours: &[(usize, f32)]) -> Option<[f32; 2]> {
        let map = self.tsne_points.as_ref()?;
        let mut sum = [0.0f32; 2];
        let mut weight = 0.0;
        for &(i, d) in neighbours {
            let w = 1.0 / (d + 1e-3);
            sum[0] += w * map[i][0];
            sum[1] += w * map[i][1];
            weight += w;
        }
        (weight > 0.0).then(|| [sum[0] / weight, sum[1] / weight])
    }
}

/// Embeddings (`n × dim`) and predictions of the given test images.
pub fn embed_images(
    model: &Model,
    test: &Digits,
    indices: &[usize],
    device: &Device,
    reporter: &mut Reporter,
) -> Result<(Vec<f32>, usize, Vec<u8>), StudyError> {
    let model = model.valid();
    let device = device.clone().without_autodiff();
    let mut vectors = Vec::new();
    let mut predictions = Vec::new();
    let mut dim = 0;
    let chunks: Vec<&[usize]> = indices.chunks(PROBE_BATCH).collect();
    for (c, chunk) in chunks.iter().enumerate() {
        reporter.check()?;
        reporter.progress(format!("embedding: batch {}/{}", c + 1, chunks.len()), 0.0);
        let (x, _) = batch::batch(test, chunk, None, &device);
        let e = model.embedding(x); // [chunk, dim]
        dim = e.dims()[1];
        let logits: Vec<f32> = model
            .output_of_embedding(e.clone())
            .into_data()
            .iter::<f32>()
            .collect();
        predictions.extend(logits.chunks(10).map(argmax));
        vectors.extend(e.into_data().iter::<f32>());
    }
    Ok((vectors, dim, predictions))
}

/// The embedding of one image (784 intensities).
pub fn embed_intensities(model: &Model, image: &[f32], device: &Device) -> Vec<f32> {
    let device = device.clone().without_autodiff();
    let inputs: Vec<f32> = image.iter().map(|&v| normalize_intensity(v)).collect();
    model
        .valid()
        .embedding(images_tensor(inputs, &device))
        .into_data()
        .iter::<f32>()
        .collect()
}

/// Embeds the first `config.points` test images, projects them with PCA and (optionally)
/// t-SNE.
pub fn run_embedding(
    model: &Model,
    test: &Digits,
    config: &EmbedConfig,
    device: &Device,
    reporter: &mut Reporter,
) -> Result<Embedding, StudyError> {
    let n = config.points.min(test.len());
    if n < 10 {
        return Err(StudyError::Config("embed at least 10 test images".into()));
    }
    let indices: Vec<usize> = (0..n).collect();
    let (vectors, dim, predictions) = embed_images(model, test, &indices, device, reporter)?;
    reporter.progress("PCA", 0.02);
    let pca = Pca::fit(&vectors, dim, 2);
    let pca_points: Vec<[f32; 2]> = vectors.chunks(dim).map(|v| pca.project(v)).collect();
    let tsne_points = if config.tsne {
        Some(tsne(&vectors, dim, &pca_points, &config.tsne_config, reporter)?)
    } else {
        None
    };
    reporter.progress("done", 1.0);
    let layer = model
        .probe_layers()
        .last()
        .map_or("input".into(), |l| l.name.clone());
    Ok(Embedding {
        config: config.clone(),
        layer,
        dim,
        labels: indices.iter().map(|&i| test.labels[i]).collect(),
        indices,
        predictions,
        vectors,
        pca,
        pca_points,
        tsne_points,
    })
}
