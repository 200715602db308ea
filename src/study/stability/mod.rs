//! Seed [S3](crate#seed-studies)'s stability test as a study: N passes of one trained model
//! over the test set with dropout left on (BatchNorm in eval mode). Accuracy per pass, its
//! spread (S3 expects a standard deviation under 0.5 %), and per image the entropy of the
//! predicted classes over the passes, with the most unstable images. For one image (the
//! pad's), the distribution of predicted classes ([`class_distribution`]).
//!
//! Results: `stability.json` in the trained run's folder; figure `09_stability_test`. The
//! passes themselves, spread over a device list in batches of test images: `compute.rs`.

use std::path::Path;

use burn::tensor::Device;
use clap::builder::TypedValueParser as _;
use serde::{Deserialize, Serialize};

use super::DataInfo;
use super::shared::devices_summary;
use super::{Home, Needs, Study, StudyError, StudyInputs, Tie, read_json, write_json};
use crate::data::NUM_CLASSES;
use crate::experiment::pool::{DeviceTally, Placement, check_tallies};
use crate::figure::Canvas;
use crate::figure::plot::{Axes, INK, MUTED, PAPER, SERIES, legend};
use crate::jobs::Reporter;
use crate::model::Model;
use crate::model::mc::dropout_logits;
use crate::report::{Figure, title};
use crate::rng::Rng;
use crate::run::RunConfig;
use crate::train::metrics::argmax_rows;

mod compute;

pub use compute::{BATCH, run_stability};

/// Unstable images listed in the results.
pub const UNSTABLE_LISTED: usize = 24;

/// Settings of a stability test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StabilityConfig {
    /// Passes over the test set (S3 uses one per training epoch).
    pub passes: usize,
    /// Seed of the dropout masks.
    pub seed: u64,
}

impl StabilityConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), StudyError> {
        if !(2..=1000).contains(&self.passes) {
            return Err(StudyError::Config(format!(
                "passes must be 2 to 1000, got {}",
                self.passes
            )));
        }
        Ok(())
    }
}

/// A test image whose prediction changes between passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnstableImage {
    /// Index in the test set.
    pub index: usize,
    /// True label.
    pub label: u8,
    /// Entropy of the predicted classes over the passes, in bits.
    pub entropy: f64,
    /// How many passes predicted each digit.
    pub votes: [usize; NUM_CLASSES],
}

/// The outcome of a stability test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StabilityResults {
    /// Always `stability`.
    pub kind: String,
    /// Its settings.
    pub config: StabilityConfig,
    /// The data it ran on.
    pub data: DataInfo,
    /// Dropout probability of the model.
    pub dropout: f64,
    /// Accuracy with dropout off, for reference.
    pub eval_accuracy: f64,
    /// Accuracy of each pass.
    pub accuracies: Vec<f64>,
    /// Mean of the pass accuracies.
    pub mean_accuracy: f64,
    /// Population standard deviation of the pass accuracies.
    pub std_accuracy: f64,
    /// Entropy (bits) of each test image's predictions over the passes.
    pub entropy: Vec<f64>,
    /// Images whose prediction changed in some pass.
    pub changed_images: usize,
    /// The most unstable images, highest entropy first.
    pub unstable: Vec<UnstableImage>,
    /// Where and how long each batch of [`BATCH`] test images ran, in test-set order (empty
    /// in results written before stability tests spread over devices).
    #[serde(default)]
    pub batches: Vec<Placement>,
    /// Each device's share of the batches, when several ran them.
    #[serde(default)]
    pub devices: Vec<DeviceTally>,
}

/// File name of the results JSON.
pub const RESULTS_FILE: &str = "stability.json";

/// The `experiment stability` study.
pub struct Stability;

/// Flags of `experiment stability`.
#[derive(Debug, clap::Args)]
pub struct StabilityArgs {
    /// Passes over the test set (default: the run's epochs, at least 2, as seed S3 does).
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..=1000).map(|n| n as usize))]
    passes: Option<usize>,
    /// Seed of the dropout masks.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Seed S3 makes one pass per training epoch, at least 2.
fn default_passes(run: Option<&RunConfig>) -> usize {
    run.map_or(10, |r| r.train.epochs).max(2)
}

impl Study for Stability {
    const ID: &'static str = "stability";
    const TITLE: &'static str = "Stability";
    const ABOUT: &'static str = "Seed S3: test-set passes of a trained run with dropout left on";
    const RESULTS_FILE: &'static str = RESULTS_FILE;
    const NEEDS: Needs = Needs::MODEL_AND_DATA;
    const HOME: Home = Home::RunFolder;
    const TIE: Tie = Tie::Model;
    const DEFAULT_DEVICE: &'static str = "flex";
    const SPREADS: bool = true;

    type Config = StabilityConfig;
    type Args = StabilityArgs;
    type Results = StabilityResults;

    fn config_from_args(a: StabilityArgs, run: Option<&RunConfig>) -> Result<StabilityConfig, StudyError> {
        Ok(StabilityConfig {
            passes: a.passes.unwrap_or_else(|| default_passes(run)),
            seed: a.seed,
        })
    }

    fn quick_config(_run: Option<&RunConfig>) -> StabilityConfig {
        StabilityConfig { passes: 3, seed: 1 }
    }

    fn validate(config: &StabilityConfig) -> Result<(), StudyError> {
        config.validate()
    }

    fn folder_label(_config: &StabilityConfig) -> String {
        "stability".into()
    }

    fn run(
        config: &StabilityConfig,
        inputs: &StudyInputs,
        reporter: &mut Reporter,
    ) -> Result<StabilityResults, StudyError> {
        run_stability(
            config,
            inputs.model()?,
            inputs.data()?,
            &inputs.devices()?,
            reporter,
        )
    }

    fn save(results: &StabilityResults, dir: &Path) -> Result<(), StudyError> {
        results.save(dir)
    }

    fn load(dir: &Path) -> Result<StabilityResults, StudyError> {
        StabilityResults::load(dir)
    }

    fn figures(results: &StabilityResults) -> Vec<Figure> {
        vec![figure(results)]
    }

    fn summary(r: &StabilityResults) -> String {
        format!(
            "stability: {} passes with dropout {:.2}: accuracy {:.4} ± {:.4} (std {:.2} %, eval mode {:.4}); \
             {} test images changed prediction between passes",
            r.accuracies.len(),
            r.dropout,
            r.mean_accuracy,
            r.std_accuracy,
            100.0 * r.std_accuracy,
            r.eval_accuracy,
            r.changed_images
        ) + &devices_summary(&r.devices, None)
    }
}

/// Entropy in bits of a vote count.
pub fn vote_entropy(votes: &[usize]) -> f64 {
    let total: usize = votes.iter().sum();
    if total == 0 {
        return 0.0;
    }
    votes
        .iter()
        .filter(|&&v| v > 0)
        .map(|&v| {
            let p = v as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// Five-number summary (min, lower quartile, median, upper quartile, max) for a box plot,
/// quartiles by linear interpolation as NumPy does.
pub fn five_numbers(values: &[f64]) -> Option<[f64; 5]> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| {
        let pos = p * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    Some([v[0], q(0.25), q(0.5), q(0.75), v[v.len() - 1]])
}

impl StabilityResults {
    /// Writes `stability.json` into `dir` atomically.
    pub fn save(&self, dir: &Path) -> Result<(), StudyError> {
        write_json(&dir.join(RESULTS_FILE), self)
    }

    /// Reads `stability.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, StudyError> {
        let path = dir.join(RESULTS_FILE);
        let r: Self = read_json(&path)?;
        if r.kind != "stability" {
            return Err(StudyError::format(
                &path,
                format!("holds a {} experiment", r.kind),
            ));
        }
        for (name, value) in [
            ("eval_accuracy", r.eval_accuracy),
            ("mean_accuracy", r.mean_accuracy),
            ("std_accuracy", r.std_accuracy),
        ] {
            crate::study::check_figure(&path, name, value, true)?;
        }
        for (i, &a) in r.accuracies.iter().enumerate() {
            crate::study::check_figure(&path, &format!("accuracies[{i}]"), a, true)?;
        }
        for (i, b) in r.batches.iter().enumerate() {
            crate::study::check_figure(&path, &format!("batches[{i}].seconds"), b.seconds, false)?;
        }
        check_tallies(&path, &r.devices)?;
        // Indices into the test set must stay inside the images it describes.
        if let Some(u) = r
            .unstable
            .iter()
            .find(|u| u.index >= r.entropy.len() || u.label as usize >= NUM_CLASSES)
        {
            return Err(StudyError::format(
                &path,
                format!(
                    "field `unstable`: image {} (label {}) is outside the {} test images it describes",
                    u.index,
                    u.label,
                    r.entropy.len()
                ),
            ));
        }
        Ok(r)
    }
}

/// Share of `passes` dropout passes predicting each digit for one normalised image.
pub fn class_distribution(
    model: &Model,
    input: &[f32],
    passes: usize,
    seed: u64,
    device: &Device,
) -> [f64; NUM_CLASSES] {
    let mut shares = [0.0; NUM_CLASSES];
    let logits = dropout_logits(model, input, passes, &mut Rng::new(seed), device);
    for l in &logits {
        shares[argmax_rows(l)[0] as usize] += 1.0 / passes.max(1) as f64;
    }
    shares
}

/// Seed S3's stability figure: accuracy per dropout pass as a line, and as a box plot.
pub fn figure(r: &StabilityResults) -> Figure {
    let mut c = Canvas::new(1040, 440, PAPER);
    title(
        &mut c,
        &format!(
            "Stability: {} passes with dropout {:.2}: {:.2} % ± {:.3} % (std {} 0.5 %)",
            r.accuracies.len(),
            r.dropout,
            100.0 * r.mean_accuracy,
            100.0 * r.std_accuracy,
            if r.std_accuracy < 0.005 { "<" } else { "≥" }
        ),
    );
    let pct: Vec<f64> = r.accuracies.iter().map(|a| 100.0 * a).collect();
    let lo = pct
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .min(100.0 * r.eval_accuracy);
    let hi = pct
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
        .max(100.0 * r.eval_accuracy);
    let pad = ((hi - lo) * 0.2).max(0.05);
    let line = Axes {
        x: 90.0,
        y: 70.0,
        w: 520.0,
        h: 300.0,
        x_range: (1.0, pct.len().max(2) as f64),
        y_range: (lo - pad, hi + pad),
    };
    line.draw(&mut c, "Accuracy per pass", "pass", "test accuracy (%)");
    let points: Vec<(f64, f64)> = pct
        .iter()
        .enumerate()
        .map(|(i, &a)| (i as f64 + 1.0, a))
        .collect();
    line.line(&mut c, &points, SERIES[0], 2.0);
    line.line(
        &mut c,
        &[
            (1.0, 100.0 * r.eval_accuracy),
            (pct.len().max(2) as f64, 100.0 * r.eval_accuracy),
        ],
        MUTED,
        1.0,
    );
    legend(
        &mut c,
        100.0,
        76.0,
        &[("dropout on", SERIES[0]), ("dropout off", MUTED)],
    );
    let boxes = Axes {
        x: 740.0,
        w: 200.0,
        x_range: (0.0, 1.0),
        ..line
    };
    boxes.draw(&mut c, "Distribution", "", "test accuracy (%)");
    if let Some([min, q1, med, q3, max]) = five_numbers(&pct) {
        let (x0, _) = boxes.map(0.3, 0.0);
        let (x1, _) = boxes.map(0.7, 0.0);
        let (xm, _) = boxes.map(0.5, 0.0);
        let y = |v: f64| boxes.map(0.0, v).1;
        c.fill_rect(x0, y(q3), x1 - x0, (y(q1) - y(q3)).max(1.0), [198, 219, 239]);
        c.stroke_rect(x0, y(q3), x1 - x0, (y(q1) - y(q3)).max(1.0), INK);
        c.fill_rect(x0, y(med), x1 - x0, 2.0, SERIES[1]);
        c.fill_rect(xm, y(max), 1.0, y(q3) - y(max), INK);
        c.fill_rect(xm, y(q1), 1.0, y(min) - y(q1), INK);
        for v in [min, max] {
            c.fill_rect(xm - 15.0, y(v), 30.0, 1.0, INK);
        }
    }
    let mut csv = String::from("pass,accuracy\n");
    for (i, a) in r.accuracies.iter().enumerate() {
        csv.push_str(&format!("{},{a:.6}\n", i + 1));
    }
    Figure {
        name: "09_stability_test".into(),
        canvas: c,
        data: csv,
        data_ext: "csv",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_votes() {
        assert_eq!(vote_entropy(&[10, 0, 0]), 0.0);
        assert!((vote_entropy(&[5, 5]) - 1.0).abs() < 1e-12);
        assert!((vote_entropy(&[1, 1, 1, 1]) - 2.0).abs() < 1e-12);
        assert_eq!(vote_entropy(&[]), 0.0);
    }

    #[test]
    fn five_numbers_interpolate_like_numpy() {
        // np.percentile([1, 2, 3, 4], [0, 25, 50, 75, 100]) = 1, 1.75, 2.5, 3.25, 4
        assert_eq!(
            five_numbers(&[4.0, 1.0, 3.0, 2.0]),
            Some([1.0, 1.75, 2.5, 3.25, 4.0])
        );
        assert_eq!(five_numbers(&[]), None);
    }
}
