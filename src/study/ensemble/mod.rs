//! Seed [S0](crate#seed-studies)'s ensemble as a study: N small models, each trained on its
//! own k-per-digit sample ([`members`]), the correctness matrix and its
//! correlations; results in a new folder (`ensemble.json`, `correctness.bin`).

use std::path::Path;

use clap::builder::TypedValueParser as _;
use serde_json::json;

mod figure;
mod members;
mod run;
mod stats;

pub use figure::figure;
pub use members::*;
pub use run::{GROUP_MODELS, run_ensemble, run_ensemble_on};
pub use stats::{Correctness, EnsembleStats, EnsembleSummary};

use super::{BenchFigures, BenchTask, Home, Needs, Study, StudyError, StudyInputs, Tie, devices_summary, preset};
use crate::data::Dataset;
use crate::device::SelectedDevice;
use crate::jobs::Reporter;
use crate::model::ModelSpec;
use crate::report::Figure;
use crate::run::RunConfig;

/// The `experiment ensemble` study.
pub struct Ensemble;

/// Flags of `experiment ensemble`.
#[derive(Debug, clap::Args)]
pub struct EnsembleArgs {
    /// Architecture of every model (a preset name).
    #[arg(long, default_value = "small-cnn")]
    model: String,
    /// Number of models (1 to 1000).
    #[arg(long, default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=1000).map(|n| n as usize))]
    models: usize,
    /// Training images per digit for each model.
    #[arg(long, default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=500).map(|n| n as usize))]
    per_digit: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f64,
    /// Stop a model once a step's training accuracy reaches this.
    #[arg(long, default_value_t = 0.99)]
    target_accuracy: f64,
    /// ... or after this many steps.
    #[arg(long, default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(1..=100_000).map(|n| n as usize))]
    max_steps: usize,
    /// Model i uses seed SEED + i.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn fmt_corr(v: Option<f64>) -> String {
    v.map_or("undefined".into(), |v| format!("{v:.3}"))
}

impl Study for Ensemble {
    const ID: &'static str = "ensemble";
    const TITLE: &'static str = "Ensemble";
    const ABOUT: &'static str =
        "Seed S0: N models, each on its own k-per-digit sample, then the correctness matrix";
    const RESULTS_FILE: &'static str = RESULTS_FILE;
    const NEEDS: Needs = Needs {
        model: false,
        run_folder: false,
        data: true,
        device: true,
    };
    const HOME: Home = Home::NewFolder;
    const TIE: Tie = Tie::Nothing;
    const SPREADS: bool = true;
    const BENCH: Option<BenchTask> = Some(bench);

    type Config = EnsembleConfig;
    type Args = EnsembleArgs;
    type Results = EnsembleResults;

    fn config_from_args(a: EnsembleArgs, _run: Option<&RunConfig>) -> Result<EnsembleConfig, StudyError> {
        Ok(EnsembleConfig {
            model: preset(&a.model)?,
            models: a.models,
            per_digit: a.per_digit,
            learning_rate: a.lr,
            weight_decay: a.weight_decay,
            target_train_accuracy: a.target_accuracy,
            max_steps: a.max_steps,
            seed: a.seed,
        })
    }

    fn quick_config(_run: Option<&RunConfig>) -> EnsembleConfig {
        EnsembleConfig {
            model: ModelSpec::preset("mlp").unwrap_or_else(|| EnsembleConfig::default().model),
            models: 4,
            per_digit: 2,
            max_steps: 20,
            ..EnsembleConfig::default()
        }
    }

    fn validate(config: &EnsembleConfig) -> Result<(), StudyError> {
        config.validate()
    }

    fn folder_label(config: &EnsembleConfig) -> String {
        format!(
            "ensemble-{}-{}x{}",
            config.model.preset_name().unwrap_or("custom"),
            config.models,
            config.per_digit
        )
    }

    fn run(config: &EnsembleConfig, inputs: &StudyInputs, reporter: &mut Reporter) -> Result<EnsembleResults, StudyError> {
        run_ensemble_on(config, inputs.data()?, &inputs.devices()?, inputs.out.as_deref(), reporter)
    }

    fn save(results: &EnsembleResults, dir: &Path) -> Result<(), StudyError> {
        results.save(dir)
    }

    fn load(dir: &Path) -> Result<EnsembleResults, StudyError> {
        EnsembleResults::load(dir)
    }

    fn figures(results: &EnsembleResults) -> Vec<Figure> {
        vec![figure(results)]
    }

    fn summary(r: &EnsembleResults) -> String {
        let s = &r.stats.summary;
        format!(
            "ensemble: {} models, test accuracy {:.4} ± {:.4}, mean steps {:.1} ({} reached the target), \
             mean model-model correlation {}, mean digit-digit correlation {}; \
             {:.1} s training + {:.1} s evaluating",
            s.models,
            s.mean_accuracy,
            s.std_accuracy,
            s.mean_steps,
            s.converged,
            fmt_corr(s.mean_model_correlation),
            fmt_corr(s.mean_digit_correlation),
            r.train_seconds,
            r.eval_seconds
        ) + &devices_summary(&r.devices, Some(r.seconds))
            + &retrained_summary(&r.retrained)
    }
}

/// `bench/SPEC.md`'s ensemble task: `size` small-cnn models with the default
/// settings (2 per digit, AdamW 1e-3 / 1e-4, to 99 % training accuracy or 200 steps),
/// trained stacked and evaluated stacked, their groups spread over `devices`.
fn bench(data: &Dataset, devices: &[SelectedDevice], size: usize) -> Result<BenchFigures, StudyError> {
    let config = EnsembleConfig {
        models: size,
        ..EnsembleConfig::default()
    };
    let mut sink = |_: crate::jobs::Progress| {};
    let never = || false;
    let r = run_ensemble_on(&config, data, devices, None, &mut Reporter::new(&mut sink, &never))?;
    let per_device: Vec<serde_json::Value> = r
        .devices
        .iter()
        .map(|d| json!({"device": d.device, "groups": d.items, "seconds": d.seconds, "lost": d.lost}))
        .collect();
    let s = &r.stats.summary;
    let figures = [
        ("model", json!(config.model.preset_name().unwrap_or("custom"))),
        ("models", json!(size)),
        ("train_seconds", json!(r.train_seconds)),
        ("eval_seconds", json!(r.eval_seconds)),
        ("mean_epochs", json!(s.mean_steps)),
        ("mean_test_accuracy", json!(s.mean_accuracy)),
        ("std_test_accuracy", json!(s.std_accuracy)),
        ("vectorised", json!(true)),
        ("per_device", json!(per_device)),
    ];
    Ok(figures.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// The kept groups trained again, as a summary's last sentence (empty when none).
fn retrained_summary(retrained: &[String]) -> String {
    if retrained.is_empty() {
        return String::new();
    }
    format!("\n{} kept group(s) trained again: {}", retrained.len(), retrained.join("; "))
}
