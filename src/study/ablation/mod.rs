//! Seed [S1](crate#seed-studies)'s neuron ablation as a study: the units of one layer whose
//! class means differ most are zeroed and the accuracy that leaves is set against random
//! ablations of as many units. A probe: `probe ablation`, the probe lane in the app (the
//! Ablation panel), results in a shared `--out`.
//!
//! This file holds the settings, flags and the [`Study`] impl; `compute.rs` the probe's own
//! settings, results and [`run_ablation`] with its unit helpers ([`units_above`],
//! [`ablation_mask`], [`random_units`], [`class_means`]); `figure.rs` the figure
//! ([`figure()`]).
//!
//! The layer is kept by name in the settings (`fc1`, `conv2`, `fc`), so `study.json` says
//! which layer was ablated whatever the model; [`Study::run`] resolves it against the model's
//! [`probe_layers`](crate::model::Model::probe_layers).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Home, Lane, Needs, Study, StudyError, StudyInputs, Tie, check_figure, read_json, write_json};
use crate::data::NUM_CLASSES;
use crate::jobs::Reporter;
use crate::model::Model;
use crate::report::Figure;
use crate::run::RunConfig;

mod compute;
mod figure;

pub use compute::{
    AblationConfig, AblationResults, Accuracies, ThresholdPoint, ablation_mask, class_means, random_units,
    run_ablation, units_above,
};
pub use figure::figure;

/// The `probe ablation` study.
pub struct Ablation;

/// Settings: [`AblationConfig`] with the layer by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AblationSettings {
    /// Layer name (`fc1`, `conv2`, `fc`…); None: the last hidden layer.
    pub layer: Option<String>,
    /// The two classes (1 and 7 in seed S1).
    pub classes: [u8; 2],
    /// Units with |mean(a) − mean(b)| above this are ablated (0 to 1000).
    pub threshold: f32,
    /// Random ablations of as many units (1 to 10000).
    pub random_trials: usize,
    /// Thresholds of the sweep.
    pub sweep: Vec<f32>,
    /// Random ablations per sweep threshold (0 to 10000).
    pub sweep_trials: usize,
    /// Test images used (the first ones; all when larger than the test set).
    pub max_images: usize,
    /// Seed of the random choices.
    pub seed: u64,
}

impl Default for AblationSettings {
    fn default() -> Self {
        let c = AblationConfig::default();
        Self {
            layer: None,
            classes: c.classes,
            threshold: c.threshold,
            random_trials: c.random_trials,
            sweep: c.sweep,
            sweep_trials: c.sweep_trials,
            max_images: c.max_images,
            seed: c.seed,
        }
    }
}

impl AblationSettings {
    /// The index of the layer these settings name in `model`, with the CLI's messages.
    pub fn layer_index(&self, model: &Model) -> Result<usize, StudyError> {
        let layers = model.probe_layers();
        match &self.layer {
            Some(name) => layers.iter().position(|l| &l.name == name).ok_or_else(|| {
                let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
                StudyError::Config(format!(
                    "no layer '{name}' in this model; it has {}",
                    names.join(", ")
                ))
            }),
            None => layers
                .len()
                .checked_sub(1)
                .ok_or_else(|| StudyError::Config("this model has no hidden layer to ablate".into())),
        }
    }

    /// The probe's settings, with the layer resolved against `model`.
    pub fn resolve(&self, model: &Model) -> Result<AblationConfig, StudyError> {
        Ok(AblationConfig {
            layer: self.layer_index(model)?,
            classes: self.classes,
            threshold: self.threshold,
            random_trials: self.random_trials,
            sweep: self.sweep.clone(),
            sweep_trials: self.sweep_trials,
            max_images: self.max_images,
            seed: self.seed,
        })
    }
}

/// Flags of `probe ablation`.
#[derive(Debug, clap::Args)]
pub struct AblationArgs {
    /// Layer name (`fc1`, `conv2`, `fc`…; default: the last hidden layer).
    #[arg(long)]
    layer: Option<String>,
    /// The two classes, e.g. `1,7`.
    #[arg(long, default_value = "1,7")]
    classes: String,
    /// Units whose |class-mean difference| exceeds this are zeroed.
    #[arg(long, default_value_t = 0.3)]
    threshold: f32,
    /// Random ablations of as many units.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    trials: u64,
    /// Test images used (the first ones).
    #[arg(long, default_value_t = 10_000)]
    images: usize,
    /// Seed of the random ablations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// `--classes` as two different digits, e.g. `1,7`.
pub fn parse_classes(text: &str) -> Result<[u8; 2], StudyError> {
    let parts: Vec<u8> = text
        .split(',')
        .map(|s| s.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .map_err(|_| StudyError::Config(format!("--classes {text}: give two digits like 1,7")))?;
    match parts[..] {
        [a, b] if a < 10 && b < 10 && a != b => Ok([a, b]),
        _ => Err(StudyError::Config(format!(
            "--classes {text}: give two different digits 0-9 like 1,7"
        ))),
    }
}

/// Results file (the figure's numbers are `ablation.json`).
pub const RESULTS_FILE: &str = "ablation_results.json";

impl Study for Ablation {
    const ID: &'static str = "ablation";
    const TITLE: &'static str = "Ablation";
    const ABOUT: &'static str =
        "Seed S1: zero the units that tell two classes apart, against random ablations.";
    const RESULTS_FILE: &'static str = RESULTS_FILE;
    const NEEDS: Needs = Needs::MODEL_AND_DATA;
    const HOME: Home = Home::SharedFolder;
    const TIE: Tie = Tie::Data;
    const LANE: Lane = Lane::Probe;
    const DEFAULT_DEVICE: &'static str = "flex";

    type Config = AblationSettings;
    type Args = AblationArgs;
    type Results = AblationResults;

    fn config_from_args(a: AblationArgs, _run: Option<&RunConfig>) -> Result<AblationSettings, StudyError> {
        Ok(AblationSettings {
            layer: a.layer,
            classes: parse_classes(&a.classes)?,
            threshold: a.threshold,
            random_trials: a.trials as usize,
            max_images: a.images,
            seed: a.seed,
            ..AblationSettings::default()
        })
    }

    fn quick_config(_run: Option<&RunConfig>) -> AblationSettings {
        AblationSettings {
            random_trials: 10,
            sweep: vec![0.1, 0.3],
            sweep_trials: 3,
            max_images: 200,
            ..AblationSettings::default()
        }
    }

    fn validate(c: &AblationSettings) -> Result<(), StudyError> {
        let [a, b] = c.classes;
        if a == b || a as usize >= NUM_CLASSES || b as usize >= NUM_CLASSES {
            return Err(StudyError::Config(format!(
                "classes: {a},{b}: choose two different digits 0-9"
            )));
        }
        if !(0.0..=1000.0).contains(&c.threshold) {
            return Err(StudyError::Config(format!(
                "threshold: {} is not between 0 and 1000",
                c.threshold
            )));
        }
        if let Some(t) = c.sweep.iter().find(|t| !(0.0..=1000.0).contains(*t)) {
            return Err(StudyError::Config(format!(
                "sweep: threshold {t} is not between 0 and 1000"
            )));
        }
        if !(1..=10_000).contains(&c.random_trials) {
            return Err(StudyError::Config(format!(
                "random_trials: {} is not in 1..=10000",
                c.random_trials
            )));
        }
        if c.sweep_trials > 10_000 {
            return Err(StudyError::Config(format!(
                "sweep_trials: {} is more than 10000",
                c.sweep_trials
            )));
        }
        if c.max_images == 0 {
            return Err(StudyError::Config("images: use at least 1 test image".into()));
        }
        if c.layer.as_deref().is_some_and(|l| l.trim().is_empty()) {
            return Err(StudyError::Config(
                "layer: give a layer name, or none for the last hidden layer".into(),
            ));
        }
        Ok(())
    }

    fn folder_label(_config: &AblationSettings) -> String {
        "ablation".into()
    }

    fn run(
        config: &AblationSettings,
        inputs: &StudyInputs,
        reporter: &mut Reporter,
    ) -> Result<AblationResults, StudyError> {
        let (model, device) = inputs.model_on_device()?;
        let resolved = config.resolve(model)?;
        let data = inputs.data()?;
        run_ablation(model, &data.test, &resolved, &device, reporter)
    }

    fn save(results: &AblationResults, dir: &Path) -> Result<(), StudyError> {
        write_json(&dir.join(RESULTS_FILE), results)
    }

    fn load(dir: &Path) -> Result<AblationResults, StudyError> {
        let path = dir.join(RESULTS_FILE);
        let r: AblationResults = read_json(&path)?;
        check_results(&path, &r)?;
        Ok(r)
    }

    fn figures(results: &AblationResults) -> Vec<Figure> {
        vec![figure(results)]
    }

    fn summary(r: &AblationResults) -> String {
        let mean_random = r.random.iter().map(|x| x.pair).sum::<f64>() / r.random.len().max(1) as f64;
        let mut lines = vec![
            format!(
                "{}: {} of {} units above {}; {:.0} % of units differ by less than 0.2",
                r.layer_name,
                r.targeted_units.len(),
                r.differences.len(),
                r.config.threshold,
                100.0 * r.small_difference_share
            ),
            format!(
                "accuracy on {}/{}: baseline {:.4}, targeted {:.4}, random mean {mean_random:.4} ({:.0} % of random ablations at or below targeted); overall {:.4} → {:.4}",
                r.config.classes[0],
                r.config.classes[1],
                r.baseline.pair,
                r.targeted.pair,
                100.0 * r.random_at_or_below,
                r.baseline.overall,
                r.targeted.overall
            ),
            "threshold  units  targeted  random".to_string(),
        ];
        for p in &r.sweep {
            lines.push(format!(
                "{:9.2}  {:5}  {:8.4}  {:.4} ± {:.4}",
                p.threshold, p.units, p.targeted.pair, p.random_pair.0, p.random_pair.1
            ));
        }
        lines.join("\n")
    }
}

/// Checks every figure of results read from `path`: classes, shares, lengths, finiteness.
fn check_results(path: &Path, r: &AblationResults) -> Result<(), StudyError> {
    let bad = |cause: String| Err(StudyError::format(path, cause));
    let [a, b] = r.config.classes;
    if a == b || a as usize >= NUM_CLASSES || b as usize >= NUM_CLASSES {
        return bad(format!(
            "field `config.classes` is [{a}, {b}]; expected two different digits 0-9"
        ));
    }
    let units = r.differences.len();
    for (k, means) in r.class_means.iter().enumerate() {
        if means.len() != units {
            return bad(format!(
                "field `class_means[{k}]` has {} values, `differences` {units}",
                means.len()
            ));
        }
    }
    let values = r.class_means.iter().flatten().chain(&r.differences);
    if let Some(v) = values.chain([&r.config.threshold]).find(|v| !v.is_finite()) {
        return bad(format!(
            "field `class_means`, `differences` or `config.threshold` holds {v}"
        ));
    }
    if let Some(u) = r.targeted_units.iter().find(|&&u| u >= units) {
        return bad(format!(
            "field `targeted_units` holds unit {u}; the layer has {units}"
        ));
    }
    if r.random.len() != r.config.random_trials {
        return bad(format!(
            "field `random` has {} ablations, `config.random_trials` says {}",
            r.random.len(),
            r.config.random_trials
        ));
    }
    if r.sweep.len() != r.config.sweep.len() {
        return bad(format!(
            "field `sweep` has {} points, `config.sweep` {} thresholds",
            r.sweep.len(),
            r.config.sweep.len()
        ));
    }
    check_figure(path, "small_difference_share", r.small_difference_share, true)?;
    check_figure(path, "random_at_or_below", r.random_at_or_below, true)?;
    check_accuracies(path, "baseline", &r.baseline)?;
    check_accuracies(path, "targeted", &r.targeted)?;
    for (i, x) in r.random.iter().enumerate() {
        check_accuracies(path, &format!("random[{i}]"), x)?;
    }
    for (i, p) in r.sweep.iter().enumerate() {
        if !p.threshold.is_finite() || p.units > units {
            return bad(format!(
                "field `sweep[{i}]` has threshold {} and {} units",
                p.threshold, p.units
            ));
        }
        check_accuracies(path, &format!("sweep[{i}].targeted"), &p.targeted)?;
        check_figure(path, &format!("sweep[{i}].random_pair.0"), p.random_pair.0, true)?;
        check_figure(path, &format!("sweep[{i}].random_pair.1"), p.random_pair.1, false)?;
    }
    Ok(())
}

/// Checks the four shares of one ablation's accuracy.
fn check_accuracies(path: &Path, field: &str, a: &Accuracies) -> Result<(), StudyError> {
    for (name, v) in [
        ("class_a", a.class_a),
        ("class_b", a.class_b),
        ("pair", a.pair),
        ("overall", a.overall),
    ] {
        check_figure(path, &format!("{field}.{name}"), v, true)?;
    }
    Ok(())
}
