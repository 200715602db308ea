//! Seed [S2](crate#seed-studies)'s size curve as a study: one model trained on growing
//! fractions of the training set ([`crate::experiment::subset_curve`]); a run in a folder
//! that holds an unfinished curve continues it.

use std::path::Path;

use clap::builder::TypedValueParser as _;

use super::ensemble::preset;
use super::{Home, Needs, Study, StudyError, StudyInputs, Tie};
use crate::experiment::subset_curve::{RESULTS_FILE, SubsetCurveConfig, SubsetCurveResults, run_subset_curve};
use crate::jobs::Reporter;
use crate::report::Figure;
use crate::run::RunConfig;

/// The `experiment subset-curve` study.
pub struct SubsetCurve;

/// Flags of `experiment subset-curve`.
#[derive(Debug, clap::Args)]
pub struct CurveArgs {
    /// Architecture (a preset name).
    #[arg(long, default_value = "seed3-cnn")]
    model: String,
    /// Fractions of the training set, comma-separated, each in (0, 1].
    #[arg(long, value_delimiter = ',', default_value = "0.0625,0.125,0.25,0.5,1")]
    fractions: Vec<f64>,
    /// Epochs for every fraction.
    #[arg(long, default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=1000).map(|n| n as usize))]
    epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=60_000).map(|n| n as usize))]
    batch_size: usize,
    /// Adam learning rate (cosine decay over each run).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Train without the random rotation/shift/scale (on by default: it is what keeps the
    /// smallest fractions from overfitting).
    #[arg(long)]
    no_augment: bool,
    /// Seed of initialisation, subsets, shuffling and augmentation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl Study for SubsetCurve {
    const ID: &'static str = "subset-curve";
    const TITLE: &'static str = "Size curve";
    const ABOUT: &'static str = "Seed S2: one model trained on growing fractions of the training set";
    const RESULTS_FILE: &'static str = RESULTS_FILE;
    const NEEDS: Needs = Needs {
        model: false,
        run_folder: false,
        data: true,
        device: true,
    };
    const HOME: Home = Home::NewFolder;
    const TIE: Tie = Tie::Nothing;
    const RESUMES: bool = true;
    const SPREADS: bool = true;

    type Config = SubsetCurveConfig;
    type Args = CurveArgs;
    type Results = SubsetCurveResults;

    fn config_from_args(a: CurveArgs, _run: Option<&RunConfig>) -> Result<SubsetCurveConfig, StudyError> {
        let mut config = SubsetCurveConfig {
            fractions: a.fractions,
            ..SubsetCurveConfig::default()
        };
        config.train.model = preset(&a.model)?;
        config.train.epochs = a.epochs;
        config.train.batch_size = a.batch_size;
        config.train.learning_rate = a.lr;
        config.train.augment = !a.no_augment;
        config.train.seed = a.seed;
        Ok(config)
    }

    fn quick_config(_run: Option<&RunConfig>) -> SubsetCurveConfig {
        let mut config = SubsetCurveConfig {
            fractions: vec![0.25, 1.0],
            ..SubsetCurveConfig::default()
        };
        if let Some(mlp) = crate::model::ModelSpec::preset("mlp") {
            config.train.model = mlp;
        }
        config.train.epochs = 1;
        config.train.augment = false;
        config
    }

    fn validate(config: &SubsetCurveConfig) -> Result<(), StudyError> {
        config.validate()
    }

    fn folder_label(config: &SubsetCurveConfig) -> String {
        format!("subset-curve-{}", config.train.model.preset_name().unwrap_or("custom"))
    }

    fn run(
        config: &SubsetCurveConfig,
        inputs: &StudyInputs,
        reporter: &mut Reporter,
    ) -> Result<SubsetCurveResults, StudyError> {
        run_subset_curve(config, inputs.shared_data()?, &inputs.devices()?, inputs.out.as_deref(), reporter)
    }

    fn save(results: &SubsetCurveResults, dir: &Path) -> Result<(), StudyError> {
        results.save(dir)
    }

    fn load(dir: &Path) -> Result<SubsetCurveResults, StudyError> {
        SubsetCurveResults::load(dir)
    }

    fn figures(results: &SubsetCurveResults) -> Vec<Figure> {
        vec![crate::report::experiments::subset_curve(results)]
    }

    fn summary(r: &SubsetCurveResults) -> String {
        let several_devices = r.points.iter().any(|p| p.device != r.points[0].device);
        let mut text = String::from("fraction  images  train_loss  train_acc  test_loss  test_acc  seconds");
        if several_devices {
            text.push_str("  device");
        }
        for p in &r.points {
            text.push_str(&format!(
                "\n{:8.4}  {:6}  {:10.4}  {:9.4}  {:9.4}  {:8.4}  {:7.1}",
                p.fraction, p.train_size, p.train_loss, p.train_accuracy, p.test_loss, p.test_accuracy, p.seconds
            ));
            if several_devices {
                text.push_str(&format!("  {}", p.device));
            }
        }
        text
    }
}
