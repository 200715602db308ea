//! Seed [S2](crate#seed-studies)'s embeddings as a study ([`crate::probe::embed`]): the
//! penultimate layer of the first test images, projected by PCA and (optionally) t-SNE. A
//! probe: `probe embed`, the probe lane in the app (the Embedding panel), results in a shared
//! `--out`.
//!
//! The saved results hold the maps, not the embeddings themselves
//! ([`Embedding::vectors`] is not written): reloaded results draw the same figure, and the
//! panel places the pad image only among embeddings computed in this session.

use std::collections::HashSet;
use std::path::Path;

use super::{Home, Lane, Needs, Study, StudyError, StudyInputs, Tie, check_figure, read_json, write_json};
use crate::data::NUM_CLASSES;
use crate::jobs::Reporter;
use crate::probe::embed::{EmbedConfig, Embedding, run_embedding};
use crate::probe::tsne::TsneConfig;
use crate::report::Figure;
use crate::run::RunConfig;

/// The `probe embed` study.
pub struct Embed;

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
        vec![crate::report::probes::embedding(results)]
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
