//! `experiment`: the many-model experiments (ensemble, size curve, stability) without a
//! window, writing the same results files the app's panels write and read.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::builder::TypedValueParser as _;
use clap::{Args, Subcommand};
use mnist_workbench::data::load_dataset;
use mnist_workbench::device::{DeviceChoice, select_device};
use mnist_workbench::experiment::ensemble::EnsembleConfig;
use mnist_workbench::experiment::stability::StabilityConfig;
use mnist_workbench::experiment::subset_curve::SubsetCurveConfig;
use mnist_workbench::experiment::worker::{ExperimentJob, ExperimentResults, run_job};
use mnist_workbench::experiment::{ExperimentError, Progress, Reporter};
use mnist_workbench::model::ModelSpec;
use mnist_workbench::report::experiments::write_experiment_figures;
use mnist_workbench::train::RunDir;

use super::DataArgs;
use super::progress::ProgressBar;

/// Which experiment.
#[derive(Debug, Subcommand)]
pub enum ExperimentAction {
    /// Seed S0: N models, each on its own k-per-digit sample, then the correctness matrix.
    Ensemble(EnsembleArgs),
    /// Seed S2: one model trained on growing fractions of the training set.
    SubsetCurve(CurveArgs),
    /// Seed S3: test-set passes of a trained run with dropout left on.
    Stability(StabilityArgs),
}

fn preset(name: &str) -> anyhow::Result<ModelSpec> {
    ModelSpec::preset(name).with_context(|| {
        format!(
            "unknown model '{name}': use one of {}",
            mnist_workbench::model::PRESET_NAMES.join(", ")
        )
    })
}

/// Flags of `experiment ensemble`.
#[derive(Debug, Args)]
pub struct EnsembleArgs {
    /// Replace an ensemble's results already in --out (refused otherwise).
    #[arg(long)]
    overwrite: bool,
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
    #[command(flatten)]
    common: CommonArgs,
}

/// Flags of `experiment subset-curve`.
#[derive(Debug, Args)]
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
    #[command(flatten)]
    common: CommonArgs,
}

/// Flags of `experiment stability`.
#[derive(Debug, Args)]
pub struct StabilityArgs {
    /// The trained run folder.
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// Passes over the test set (default: the run's epochs, at least 2, as seed S3 does).
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..=1000).map(|n| n as usize))]
    passes: Option<usize>,
    /// Seed of the dropout masks.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Results folder (default: the run folder).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replace stability results already in the results folder (refused otherwise).
    #[arg(long)]
    overwrite: bool,
    /// Device: auto, wgpu, flex, or remote://HOST:PORT (a `mnist-workbench serve` elsewhere).
    #[arg(long, default_value = "flex")]
    device: DeviceChoice,
    #[command(flatten)]
    data: DataArgs,
}

/// Flags every experiment that creates its own folder shares.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Results folder (created if missing; a size curve resumes from the one there).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Device: auto, wgpu, flex, or remote://HOST:PORT (a `mnist-workbench serve` elsewhere).
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    #[command(flatten)]
    data: DataArgs,
}

fn check_out(out: &std::path::Path) -> anyhow::Result<()> {
    if out.exists() && !out.is_dir() {
        anyhow::bail!("--out {} is a file; give a folder for the results", out.display());
    }
    Ok(())
}

/// Refuses, before any work, to replace earlier results of the same kind in `out`. Anything
/// at that name counts, a symbolic link too, even one whose target is missing
/// (`symlink_metadata` does not follow links): the write would replace the link.
fn keep_earlier(out: &std::path::Path, file: &str, overwrite: bool) -> anyhow::Result<()> {
    let existing = out.join(file);
    match std::fs::symlink_metadata(&existing) {
        Ok(m) if !overwrite => {
            let what = if m.file_type().is_symlink() {
                "is a symbolic link, which the results would replace"
            } else {
                "already holds results"
            };
            anyhow::bail!(
                "{} {what}; choose another --out or pass --overwrite to replace it",
                existing.display()
            )
        }
        _ => Ok(()),
    }
}

/// Runs `experiment`.
pub fn run(action: ExperimentAction) -> anyhow::Result<()> {
    let (job, out, label) = match action {
        ExperimentAction::Ensemble(a) => {
            check_out(&a.common.out)?;
            let config = EnsembleConfig {
                model: preset(&a.model)?,
                models: a.models,
                per_digit: a.per_digit,
                learning_rate: a.lr,
                weight_decay: a.weight_decay,
                target_train_accuracy: a.target_accuracy,
                max_steps: a.max_steps,
                seed: a.seed,
            };
            config.validate()?;
            keep_earlier(
                &a.common.out,
                mnist_workbench::experiment::ensemble::RESULTS_FILE,
                a.overwrite,
            )?;
            let device = select_device(a.common.device)?;
            let data = Arc::new(load_dataset(&a.common.data.request())?);
            eprintln!("device: {}\ndata: {}", device.name, data.source);
            let out = a.common.out.clone();
            let job = ExperimentJob::Ensemble {
                config,
                data,
                device,
                out: Some(out.clone()),
            };
            (job, out, "ensemble")
        }
        ExperimentAction::SubsetCurve(a) => {
            check_out(&a.common.out)?;
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
            config.validate()?;
            let device = select_device(a.common.device)?;
            let data = Arc::new(load_dataset(&a.common.data.request())?);
            eprintln!("device: {}\ndata: {}", device.name, data.source);
            let out = a.common.out.clone();
            let job = ExperimentJob::SubsetCurve {
                config,
                data,
                device,
                out: Some(out.clone()),
            };
            (job, out, "size curve")
        }
        ExperimentAction::Stability(a) => {
            let (dir, run_config) = RunDir::open(&a.run)?;
            let out = a.out.clone().unwrap_or_else(|| a.run.clone());
            check_out(&out)?;
            keep_earlier(
                &out,
                mnist_workbench::experiment::stability::RESULTS_FILE,
                a.overwrite,
            )?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let device = select_device(a.device)?;
            let data = Arc::new(load_dataset(&a.data.request_for_run(&run_config))?);
            eprintln!("device: {}\ndata: {}", device.name, data.source);
            let model = dir.load_model(&run_config.train.model, &device.device)?;
            let config = StabilityConfig {
                passes: a.passes.unwrap_or(run_config.train.epochs.max(2)),
                seed: a.seed,
            };
            let job = ExperimentJob::Stability {
                config,
                model,
                data,
                device,
                out: Some(out.clone()),
            };
            (job, out, "stability")
        }
    };
    let mut bar = ProgressBar::new(label);
    let mut on_progress = |p: Progress| {
        let eta = p
            .eta_secs()
            .map(|s| {
                format!(
                    ", about {} left",
                    mnist_workbench::ui::widgets::format_duration(s)
                )
            })
            .unwrap_or_default();
        bar.update((p.fraction * 1000.0) as u64, 1000, &format!("{}{eta}", p.stage));
    };
    let never = || false;
    let outcome = run_job(job, &mut Reporter::new(&mut on_progress, &never));
    bar.finish();
    let results = match outcome {
        Ok(r) => r,
        Err(ExperimentError::Cancelled) => anyhow::bail!("cancelled"),
        Err(e) => return Err(e.into()),
    };
    print_summary(&results);
    let figures = write_experiment_figures(&results, &out).context("writing the figures")?;
    for path in figures {
        println!("{}", path.display());
    }
    println!("results: {}", out.display());
    Ok(())
}

fn print_summary(results: &ExperimentResults) {
    match results {
        ExperimentResults::Ensemble(r) => {
            let s = &r.stats.summary;
            println!(
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
            );
        }
        ExperimentResults::SubsetCurve(r) => {
            println!("fraction  images  train_loss  train_acc  test_loss  test_acc  seconds");
            for p in &r.points {
                println!(
                    "{:8.4}  {:6}  {:10.4}  {:9.4}  {:9.4}  {:8.4}  {:7.1}",
                    p.fraction,
                    p.train_size,
                    p.train_loss,
                    p.train_accuracy,
                    p.test_loss,
                    p.test_accuracy,
                    p.seconds
                );
            }
        }
        ExperimentResults::Stability(r) => {
            println!(
                "stability: {} passes with dropout {:.2}: accuracy {:.4} ± {:.4} (std {:.2} %, eval mode {:.4}); \
                 {} test images changed prediction between passes",
                r.accuracies.len(),
                r.dropout,
                r.mean_accuracy,
                r.std_accuracy,
                100.0 * r.std_accuracy,
                r.eval_accuracy,
                r.changed_images
            );
        }
    }
}

fn fmt_corr(v: Option<f64>) -> String {
    v.map_or("undefined".into(), |v| format!("{v:.3}"))
}
