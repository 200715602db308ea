//! Seed [S3](crate#seed-studies)'s stability test as a study: repeated test-set passes of
//! one trained model with dropout left on ([`crate::experiment::stability`]); results in the
//! run's own folder.

use std::path::Path;

use clap::builder::TypedValueParser as _;

use super::{Home, Needs, Study, StudyError, StudyInputs, Tie};
use crate::experiment::stability::{RESULTS_FILE, StabilityConfig, StabilityResults, run_stability};
use crate::jobs::Reporter;
use crate::report::Figure;
use crate::run::RunConfig;

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

    fn run(config: &StabilityConfig, inputs: &StudyInputs, reporter: &mut Reporter) -> Result<StabilityResults, StudyError> {
        run_stability(config, inputs.model()?, inputs.data()?, &inputs.device()?.device, reporter)
    }

    fn save(results: &StabilityResults, dir: &Path) -> Result<(), StudyError> {
        results.save(dir)
    }

    fn load(dir: &Path) -> Result<StabilityResults, StudyError> {
        StabilityResults::load(dir)
    }

    fn figures(results: &StabilityResults) -> Vec<Figure> {
        vec![crate::report::experiments::stability(results)]
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
        )
    }
}
