//! Penultimate-layer embeddings of test images (seed [S2](crate#seed-studies)): a PCA
//! projection, a t-SNE map, and where any other image (the pad's) falls among them with its
//! nearest test images. A probe: `probe embed`, the probe lane in the app (the Embedding
//! panel), results in a shared `--out`.
//!
//! t-SNE has no projection for new points, so a new image is placed at the mean of its
//! nearest neighbours' t-SNE positions, weighted by inverse embedding distance.
//!
//! The saved results hold the maps, not the embeddings themselves
//! ([`Embedding::vectors`] is not written): reloaded results draw the same figure, and the
//! panel places the pad image only among embeddings computed in this session.

use std::collections::HashSet;
use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::{Home, Lane, Needs, Study, StudyError, StudyInputs, Tie, check_figure, read_json, write_json};
use crate::analysis::colormap::DIGIT_COLORS;
use crate::analysis::pca::Pca;
use crate::analysis::tsne::{TsneConfig, tsne};
use crate::data::{Digits, NUM_CLASSES, batch, batch::images_tensor, normalize_intensity};
use crate::figure::Canvas;
use crate::figure::plot::{Axes, INK, PAPER, legend};
use crate::jobs::Reporter;
use crate::model::Model;
use crate::model::mc::LOGITS_BATCH;
use crate::report::{Figure, title};
use crate::run::RunConfig;
use crate::train::metrics::argmax;

/// The `probe embed` study.
pub struct Embed;

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

/// Flags of `probe embed`.
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// Test images embedded.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    points: u64,
    /// t-SNE perplexity.
    #[arg(long, default_value_t = 30.0)]
    perplexity: f32,
    /// t-SNE iterations.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    iterations: u64,
    /// Seed of t-SNE.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// PCA only.
    #[arg(long)]
    no_tsne: bool,
}

/// Results file (the figure's numbers are `embedding.csv`).
pub const RESULTS_FILE: &str = "embedding_results.json";

impl Study for Embed {
    const ID: &'static str = "embed";
    const TITLE: &'static str = "Embedding";
    const ABOUT: &'static str = "Seed S2: penultimate-layer embeddings of test images, PCA and t-SNE.";
    const RESULTS_FILE: &'static str = RESULTS_FILE;
    const NEEDS: Needs = Needs::MODEL_AND_DATA;
    const HOME: Home = Home::SharedFolder;
    const TIE: Tie = Tie::Data;
    const LANE: Lane = Lane::Probe;
    const DEFAULT_DEVICE: &'static str = "flex";

    type Config = EmbedConfig;
    type Args = EmbedArgs;
    type Results = Embedding;

    fn config_from_args(a: EmbedArgs, _run: Option<&RunConfig>) -> Result<EmbedConfig, StudyError> {
        Ok(EmbedConfig {
            points: a.points as usize,
            tsne: !a.no_tsne,
            tsne_config: TsneConfig {
                perplexity: a.perplexity,
                iterations: a.iterations as usize,
                seed: a.seed,
                ..TsneConfig::default()
            },
        })
    }

    fn quick_config(_run: Option<&RunConfig>) -> EmbedConfig {
        EmbedConfig {
            points: 100,
            tsne: true,
            tsne_config: TsneConfig {
                perplexity: 10.0,
                iterations: 300,
                ..TsneConfig::default()
            },
        }
    }

    fn validate(c: &EmbedConfig) -> Result<(), StudyError> {
        if !(10..=10_000).contains(&c.points) {
            return Err(StudyError::Config(format!(
                "points: {} is not in 10..=10000",
                c.points
            )));
        }
        if !c.tsne {
            return Ok(());
        }
        let t = &c.tsne_config;
        // The same rule t-SNE applies to the points it gets (at most `points` of them).
        if !(2.0..=100.0).contains(&t.perplexity) || t.perplexity * 3.0 >= c.points as f32 {
            return Err(StudyError::Config(format!(
                "perplexity must be between 2 and 100 and below a third of the points ({})",
                c.points
            )));
        }
        if !(1..=10_000).contains(&t.iterations) {
            return Err(StudyError::Config(format!(
                "iterations: {} is not in 1..=10000",
                t.iterations
            )));
        }
        if !(0.0..=1.0).contains(&t.theta) {
            return Err(StudyError::Config(format!(
                "theta: {} is not between 0 and 1",
                t.theta
            )));
        }
        Ok(())
    }

    fn folder_label(_config: &EmbedConfig) -> String {
        "embed".into()
    }

    fn run(
        config: &EmbedConfig,
        inputs: &StudyInputs,
        reporter: &mut Reporter,
    ) -> Result<Embedding, StudyError> {
        let (model, device) = inputs.model_on_device()?;
        run_embedding(model, &inputs.data()?.test, config, &device, reporter)
    }

    fn save(results: &Embedding, dir: &Path) -> Result<(), StudyError> {
        write_json(&dir.join(RESULTS_FILE), results)
    }

    fn load(dir: &Path) -> Result<Embedding, StudyError> {
        let path = dir.join(RESULTS_FILE);
        let e: Embedding = read_json(&path)?;
        check_embedding(&path, &e)?;
        Ok(e)
    }

    fn figures(results: &Embedding) -> Vec<Figure> {
        vec![figure(results)]
    }

    fn summary(e: &Embedding) -> String {
        format!(
            "{} test images, {} layer ({} dims); PCA variance {:.3}, {:.3}",
            e.indices.len(),
            e.layer,
            e.dim,
            e.pca.variances.first().copied().unwrap_or(0.0),
            e.pca.variances.get(1).copied().unwrap_or(0.0)
        )
    }
}

/// Checks an embedding read from `path`: one label, prediction and coordinate per point,
/// digits below 10, distinct indices, finite numbers, a PCA as wide as the embedding.
fn check_embedding(path: &Path, e: &Embedding) -> Result<(), StudyError> {
    let bad = |cause: String| Err(StudyError::format(path, cause));
    let n = e.indices.len();
    if n == 0 {
        return bad("field `indices` is empty".into());
    }
    let lengths = [
        ("labels", e.labels.len()),
        ("predictions", e.predictions.len()),
        ("pca_points", e.pca_points.len()),
        ("tsne_points", e.tsne_points.as_ref().map_or(n, Vec::len)),
    ];
    for (field, len) in lengths {
        if len != n {
            return bad(format!("field `{field}` has {len} entries, `indices` {n}"));
        }
    }
    for (field, digits) in [("labels", &e.labels), ("predictions", &e.predictions)] {
        if let Some(d) = digits.iter().find(|&&d| d as usize >= NUM_CLASSES) {
            return bad(format!("field `{field}` holds {d}; expected a digit 0-9"));
        }
    }
    let mut seen = HashSet::with_capacity(n);
    if let Some(i) = e.indices.iter().find(|&&i| !seen.insert(i)) {
        return bad(format!("field `indices` holds test image {i} twice"));
    }
    let maps = [
        ("pca_points", Some(&e.pca_points)),
        ("tsne_points", e.tsne_points.as_ref()),
    ];
    for (field, points) in maps {
        if let Some(p) = points.into_iter().flatten().flatten().find(|v| !v.is_finite()) {
            return bad(format!("field `{field}` holds the coordinate {p}"));
        }
    }
    let pca = &e.pca;
    if pca.mean.len() != e.dim || pca.axes.iter().any(|a| a.len() != e.dim) {
        return bad(format!("field `pca` is not {} wide, as `dim` says", e.dim));
    }
    if pca.variances.len() != pca.axes.len() {
        return bad("field `pca.variances` does not hold one variance per axis".into());
    }
    if let Some(v) = pca
        .mean
        .iter()
        .chain(pca.axes.iter().flatten())
        .find(|v| !v.is_finite())
    {
        return bad(format!("field `pca` holds {v}"));
    }
    for (i, &v) in pca.variances.iter().enumerate() {
        check_figure(path, &format!("pca.variances[{i}]"), v as f64, false)?;
    }
    Ok(())
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
    let chunks: Vec<&[usize]> = indices.chunks(LOGITS_BATCH).collect();
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

/// Seed S2's scatter: t-SNE (or PCA) of the embeddings coloured by digit, mistakes ringed.
pub fn figure(e: &Embedding) -> Figure {
    let (points, method) = match &e.tsne_points {
        Some(p) => (
            p.as_slice(),
            format!("t-SNE (perplexity {})", e.config.tsne_config.perplexity),
        ),
        None => (e.pca_points.as_slice(), "PCA".to_string()),
    };
    let mistakes = e.mistakes();
    let mut c = Canvas::new(900, 720, PAPER);
    title(
        &mut c,
        &format!(
            "{method} of the {} layer ({} dims) for {} test images; {mistakes} mistakes ringed",
            e.layer,
            e.dim,
            points.len()
        ),
    );
    // The bounds the panel's scatter uses.
    let frame = crate::analysis::scatter::Frame::around(points, 1);
    let axes = Axes {
        x: 70.0,
        y: 60.0,
        w: 680.0,
        h: 600.0,
        x_range: (frame.x.0 as f64, frame.x.1 as f64),
        y_range: (frame.y.0 as f64, frame.y.1 as f64),
    };
    axes.draw(&mut c, "", "", "");
    for (p, &l) in points.iter().zip(&e.labels) {
        let (x, y) = axes.map(p[0] as f64, p[1] as f64);
        c.dot(x, y, 1.8, DIGIT_COLORS[l as usize]);
    }
    for ((p, &l), &pr) in points.iter().zip(&e.labels).zip(&e.predictions) {
        if l != pr {
            let (x, y) = axes.map(p[0] as f64, p[1] as f64);
            c.stroke_rect(x - 3.0, y - 3.0, 6.0, 6.0, INK);
        }
    }
    let entries: Vec<(String, [u8; 3])> = (0..10).map(|d| (d.to_string(), DIGIT_COLORS[d])).collect();
    let refs: Vec<(&str, [u8; 3])> = entries.iter().map(|(s, c)| (s.as_str(), *c)).collect();
    legend(&mut c, 780.0, 70.0, &refs);
    let mut csv = String::from("test_index,label,prediction,pca_x,pca_y,tsne_x,tsne_y\n");
    for k in 0..e.indices.len() {
        let t = e.tsne_points.as_ref().map(|t| t[k]);
        csv.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            e.indices[k],
            e.labels[k],
            e.predictions[k],
            e.pca_points[k][0],
            e.pca_points[k][1],
            t.map_or(String::new(), |t| t[0].to_string()),
            t.map_or(String::new(), |t| t[1].to_string())
        ));
    }
    Figure {
        name: "embedding".into(),
        canvas: c,
        data: csv,
        data_ext: "csv",
    }
}
