//! `train`: builds a config from flags, trains on the worker thread with a progress bar,
//! writes the run folder.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use mnist_workbench::data::load_dataset;
use mnist_workbench::device::{DeviceChoice, select_device};
use mnist_workbench::model::{ModelSpec, PRESET_NAMES};
use mnist_workbench::run::{RunConfig, RunDir};
use mnist_workbench::train::optimizers::{optimizer_help, settings_help};
use mnist_workbench::train::{Event, OptimizerSpec, Schedule, Subset, TrainConfig, TrainJob, spawn_training};

use super::DataArgs;
use super::progress::ProgressBar;

/// Flags of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Model preset: mlp, tiny-cnn, small-cnn, seed3-cnn.
    #[arg(long, default_value = "small-cnn")]
    model: String,
    /// MLP hidden widths, comma-separated (overrides the preset's), e.g. 256,128.
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// CNN channels per block, comma-separated, e.g. 16,32.
    #[arg(long, value_delimiter = ',')]
    channels: Option<Vec<usize>>,
    /// CNN kernel size (odd).
    #[arg(long)]
    kernel: Option<usize>,
    /// CNN batch norm on (true) or off (false).
    #[arg(long)]
    batch_norm: Option<bool>,
    /// Dropout probability.
    #[arg(long)]
    dropout: Option<f64>,
    /// CNN dense layer width.
    #[arg(long)]
    dense: Option<usize>,
    // The training settings below are options: without a flag a new run takes the default
    // shown, and `--resume` the resumed run's own setting.
    // Help from the one list of optimisers (`train::optimizers::OPTIMIZERS`).
    #[arg(long, help = optimizer_help())]
    optimizer: Option<OptimizerSpec>,
    /// Learning rate [default: 0.001].
    #[arg(long)]
    lr: Option<f64>,
    /// Momentum of SGD [default: 0.9] and RMSprop [default: 0]; other optimisers have none
    /// (the same as --opt momentum=M).
    #[arg(long)]
    momentum: Option<f64>,
    #[arg(long = "opt", value_name = "KEY=VALUE", help = settings_help())]
    settings: Vec<String>,
    /// Weight decay [default: 0].
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Learning-rate schedule: constant, step, cosine (decay to zero over the run) [default: cosine].
    #[arg(long)]
    schedule: Option<String>,
    /// Step schedule: epochs between decays [default: 1].
    #[arg(long)]
    step_every: Option<usize>,
    /// Step schedule: decay factor [default: 0.7].
    #[arg(long)]
    gamma: Option<f64>,
    /// Images per batch [default: 64].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Epochs.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Stop when an epoch's training accuracy reaches this (e.g. 0.99).
    #[arg(long)]
    target_accuracy: Option<f64>,
    /// Stop after this many seconds.
    #[arg(long)]
    time_budget: Option<f64>,
    /// Random rotation ±15°, shift ±2 px, scale 0.9-1.1.
    #[arg(long)]
    augment: bool,
    /// Train on K images per digit.
    #[arg(long, value_name = "K", conflicts_with = "fraction")]
    per_digit: Option<usize>,
    /// Train on this fraction of every digit.
    #[arg(long)]
    fraction: Option<f64>,
    /// Seed [default: 1].
    #[arg(long)]
    seed: Option<u64>,
    /// Device: auto, wgpu, flex, or remote://HOST:PORT (a `mnist-workbench serve` elsewhere).
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Folder the run folder is created in.
    #[arg(long, default_value = "runs", value_name = "DIR")]
    runs: PathBuf,
    /// Continue training a run folder (its weights and optimiser state) for --epochs more,
    /// with its own optimiser, schedule, batch size, subset and seed unless flags say otherwise.
    #[arg(long, value_name = "RUN")]
    resume: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

fn model_spec(a: &TrainArgs) -> anyhow::Result<ModelSpec> {
    let mut spec = ModelSpec::preset(&a.model).with_context(|| {
        format!(
            "unknown model '{}': choose one of {}",
            a.model,
            PRESET_NAMES.join(", ")
        )
    })?;
    match &mut spec {
        ModelSpec::Mlp { hidden, dropout } => {
            if let Some(h) = &a.hidden {
                *hidden = h.clone();
            }
            if let Some(d) = a.dropout {
                *dropout = d;
            }
            if a.channels.is_some() || a.kernel.is_some() || a.dense.is_some() || a.batch_norm.is_some() {
                bail!("--channels, --kernel, --dense and --batch-norm apply to CNN models, not mlp");
            }
        }
        ModelSpec::Cnn {
            channels,
            kernel_size,
            batch_norm,
            dropout,
            dense,
        } => {
            if a.hidden.is_some() {
                bail!("--hidden applies to the mlp model");
            }
            if let Some(c) = &a.channels {
                *channels = c.clone();
            }
            if let Some(k) = a.kernel {
                *kernel_size = k;
            }
            if let Some(b) = a.batch_norm {
                *batch_norm = b;
            }
            if let Some(d) = a.dropout {
                *dropout = d;
            }
            if let Some(d) = a.dense {
                *dense = d;
            }
        }
    }
    Ok(spec)
}

/// The schedule from the flags; `base` supplies what they leave out.
fn schedule(a: &TrainArgs, base: Schedule) -> anyhow::Result<Schedule> {
    let (base_every, base_gamma) = match base {
        Schedule::Step { every_epochs, gamma } => (every_epochs, gamma),
        _ => (1, 0.7),
    };
    let name = match (&a.schedule, base) {
        (Some(name), _) => name.as_str(),
        (None, Schedule::Constant) => "constant",
        (None, Schedule::Step { .. }) => "step",
        (None, Schedule::Cosine) => "cosine",
    };
    Ok(match name {
        "constant" => Schedule::Constant,
        "step" => Schedule::Step {
            every_epochs: a.step_every.unwrap_or(base_every),
            gamma: a.gamma.unwrap_or(base_gamma),
        },
        "cosine" => Schedule::Cosine,
        other => bail!("unknown schedule '{other}': use constant, step or cosine"),
    })
}

/// The optimiser from the flags: `--optimizer` names it (the defaults of that optimiser, or
/// `base`'s settings when it names `base`'s), `--momentum` and `--opt KEY=VALUE` change its
/// settings.
fn optimizer(a: &TrainArgs, base: OptimizerSpec) -> anyhow::Result<OptimizerSpec> {
    let mut spec = match a.optimizer {
        Some(chosen) if chosen.name() != base.name() => chosen,
        _ => base,
    };
    if let Some(m) = a.momentum {
        let name = spec.name();
        match spec.momentum_mut() {
            // Out of range: refused with the others' settings by `TrainConfig::validate`.
            Some(momentum) => *momentum = m,
            None if !(0.0..1.0).contains(&m) => bail!("--momentum: momentum must be in [0, 1), got {m}"),
            // Accepted and unused, as before optimisers had their own settings (Adam, AdamW).
            None => eprintln!("note: {name} has no momentum; --momentum {m} is not used"),
        }
    }
    for setting in &a.settings {
        let Some((key, value)) = setting.split_once('=') else {
            bail!("--opt {setting}: expected KEY=VALUE, e.g. --opt alpha=0.9");
        };
        let key = key.trim().replace('-', "_");
        let known = spec
            .set_text(&key, value)
            .map_err(|e| anyhow::anyhow!("--opt {setting}: {e}"))?;
        if !known {
            let keys: Vec<&str> = spec
                .hyperparameter_texts()
                .iter()
                .map(|(info, _)| info.key)
                .collect();
            bail!(
                "--opt {setting}: {} has no setting '{key}'; its settings are {}",
                spec.name(),
                keys.join(", ")
            );
        }
    }
    Ok(spec)
}

/// The config of this run: the flags over `base` (the defaults for a new run, the resumed
/// run's own config with `--resume`).
fn config_from(a: &TrainArgs, base: TrainConfig, model: ModelSpec) -> anyhow::Result<TrainConfig> {
    Ok(TrainConfig {
        model,
        optimizer: optimizer(a, base.optimizer)?,
        learning_rate: a.lr.unwrap_or(base.learning_rate),
        weight_decay: a.weight_decay.unwrap_or(base.weight_decay),
        schedule: schedule(a, base.schedule)?,
        batch_size: a.batch_size.unwrap_or(base.batch_size),
        epochs: a.epochs,
        target_train_accuracy: a.target_accuracy,
        time_budget_secs: a.time_budget,
        augment: a.augment || base.augment,
        subset: match (a.per_digit, a.fraction) {
            (Some(k), _) => Subset::PerDigit { k },
            (_, Some(fraction)) => Subset::Fraction { fraction },
            _ => base.subset,
        },
        seed: a.seed.unwrap_or(base.seed),
        device: a.device.clone(),
        evaluate_each_epoch: true,
    })
}

/// Runs `train`.
pub fn run(a: TrainArgs) -> anyhow::Result<()> {
    let resume_from = a.resume.as_ref().map(|p| RunDir::open(p)).transpose()?;
    let config = match &resume_from {
        Some((_, rc)) => {
            if a.hidden.is_some()
                || a.channels.is_some()
                || a.kernel.is_some()
                || a.batch_norm.is_some()
                || a.dropout.is_some()
                || a.dense.is_some()
            {
                bail!("--resume continues the run's own architecture; drop the architecture flags");
            }
            config_from(&a, rc.train.clone(), rc.train.model.clone())?
        }
        None => config_from(&a, TrainConfig::default(), model_spec(&a)?)?,
    };
    config.validate().map_err(|e| {
        // An optimiser's own setting is given as `--opt KEY=VALUE` (momentum also as --momentum).
        let own_setting = e.field != "momentum"
            && config.optimizer.hyperparameter_texts().iter().any(|(info, _)| info.key == e.field);
        let flag = if own_setting { format!("--opt {}", e.field) } else { format!("--{}", e.field) };
        anyhow::anyhow!("{flag}: {}", e.message)
    })?;
    let device = select_device(config.device.clone())?;
    eprintln!("device: {} ({})", device.name, device.reason);
    let data = Arc::new(load_dataset(&a.data.request())?);
    eprintln!(
        "data: {} — {} training, {} test images",
        data.source,
        data.train.len(),
        data.test.len()
    );
    let resume = match &resume_from {
        Some((dir, _)) => Some((
            dir.load_model(&config.model, &device.device)?,
            dir.resume_optimizer_bytes()?,
        )),
        None => None,
    };
    mnist_workbench::memory::check_training(&config, &data)?;
    let mut run_config = RunConfig::for_dataset(config.clone(), &data);
    run_config.resumed_from = resume_from.as_ref().map(|(dir, _)| dir.path.display().to_string());
    let run_dir = RunDir::create(&a.runs, &run_config)?;
    if let Some(from) = &run_config.resumed_from {
        eprintln!("resuming {from}: its weights and optimiser state, in a new run folder whose epochs count from 1");
    }
    eprintln!("run folder: {}", run_dir.path.display());
    eprintln!(
        "model: {} — {}",
        config.model.describe(),
        config.model.parameters_text()
    );
    let job = TrainJob {
        run_id: 1,
        config: config.clone(),
        data,
        run_dir: Some(run_dir.clone()),
        resume,
        device: Some(device),
        model_slot: None,
    };
    let mut handle = spawn_training(job, Arc::new(|| {}))?;
    let mut bar = ProgressBar::new("training");
    let mut steps_per_epoch = 1;
    let mut outcome = Ok(());
    for event in handle.events() {
        match &event {
            Event::Started {
                steps_per_epoch: s,
                train_size,
                ..
            } => {
                steps_per_epoch = *s;
                eprintln!("{train_size} images, {s} steps per epoch");
            }
            Event::Step {
                epoch,
                step,
                loss,
                samples_per_sec,
                ..
            } => {
                let in_epoch = (step - 1) % steps_per_epoch + 1;
                bar.update(
                    in_epoch as u64,
                    steps_per_epoch as u64,
                    &format!(
                        "epoch {epoch}/{} loss {loss:.4} {samples_per_sec:.0} img/s",
                        config.epochs
                    ),
                );
            }
            Event::Epoch { metrics, .. } => {
                bar.finish();
                println!(
                    "epoch {:>3}: train loss {:.4} acc {:.4} | test loss {:.4} acc {:.4} | {:.1}s",
                    metrics.epoch,
                    metrics.train_loss,
                    metrics.train_accuracy,
                    metrics.test_loss.unwrap_or(f64::NAN),
                    metrics.test_accuracy.unwrap_or(f64::NAN),
                    metrics.elapsed_secs
                );
                bar = ProgressBar::new("training");
            }
            Event::Finished {
                reason,
                test_accuracy,
                elapsed_secs,
                ..
            } => {
                println!(
                    "finished ({reason}) in {elapsed_secs:.1}s, test accuracy {}",
                    test_accuracy.map_or("n/a".into(), |a| format!("{a:.4}"))
                );
            }
            Event::Failed { reason, .. } => {
                bar.finish();
                outcome = Err(anyhow::anyhow!("training failed: {reason}"));
            }
        }
    }
    handle.join();
    println!("run: {}", run_dir.path.display());
    outcome
}
