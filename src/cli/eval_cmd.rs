//! `eval` and `predict`: load a run's checkpoint and use it.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use mnist_workbench::data::{load_dataset, normalize_intensity};
use mnist_workbench::device::{DeviceChoice, select_device};
use mnist_workbench::preprocess::{load_grey, mnist_style};
use mnist_workbench::run::RunDir;
use mnist_workbench::train::eval::evaluate_unless;
use mnist_workbench::train::metrics::softmax;

use super::DataArgs;
use super::progress::ProgressBar;

/// Flags of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The run folder (`bundled`: the model built into the program).
    #[arg(long, value_name = "DIR", value_parser = super::run_folder)]
    run: PathBuf,
    /// Device: auto, wgpu, flex, or remote://HOST:PORT (a `mnist-workbench serve` elsewhere).
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `eval`.
pub fn eval(a: EvalArgs) -> anyhow::Result<()> {
    let (dir, run_config) = RunDir::open(&a.run)?;
    let device = select_device(a.device)?;
    let model = dir.load_model(&run_config.train.model, &device.device)?;
    let data = load_dataset(&a.data.request_for_run(&run_config))?;
    if !run_config.test_digest.is_empty() && data.test.digest() != run_config.test_digest {
        eprintln!(
            "note: this test set differs from the one the run was trained with ({})",
            run_config.data_source
        );
    }
    // A GPU's first batch compiles kernels, and a remote one waits on the network: show it.
    let mut bar = ProgressBar::terminal_only("evaluating");
    let total = data.test.len() as u64;
    let report = evaluate_unless(&model, &data.test, &device.device, &mut |done| {
        bar.update(done as u64, total, &format!("{done} of {total} test images"));
        false
    });
    bar.finish();
    let Some(report) = report else {
        anyhow::bail!("the evaluation stopped before its end");
    };
    if a.json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(obj) = value.as_object_mut() {
            obj.remove("predictions");
            obj.remove("confidences");
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("model: {}", run_config.train.model.describe());
    println!("data: {} ({} test images)", data.source, data.test.len());
    println!("test loss {:.4}, accuracy {:.4}", report.loss, report.accuracy);
    println!("per-class accuracy:");
    for (d, acc) in report.per_class_accuracy.iter().enumerate() {
        println!("  {d}: {acc:.4}");
    }
    println!("confusion matrix (rows: true, columns: predicted):");
    println!("      {}", (0..10).map(|c| format!("{c:>5}")).collect::<String>());
    for (t, row) in report.confusion.iter().enumerate() {
        println!(
            "  {t:>2}: {}",
            row.iter().map(|c| format!("{c:>5}")).collect::<String>()
        );
    }
    Ok(())
}

/// Flags of `predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The run folder (default `bundled`: the small-cnn trained on MNIST built into the program).
    #[arg(long, value_name = "DIR", value_parser = super::run_folder)]
    run: Option<PathBuf>,
    /// A picture of one digit (PNG, any size, dark on light or light on dark).
    image: PathBuf,
    /// Device: auto, wgpu, flex, or remote://HOST:PORT (a `mnist-workbench serve` elsewhere).
    #[arg(long, default_value = "flex")]
    device: DeviceChoice,
}

/// Runs `predict`.
pub fn predict(a: PredictArgs) -> anyhow::Result<()> {
    let run = match a.run {
        Some(run) => run,
        None => mnist_workbench::run::bundled::bundled_run_dir()
            .context("cannot write out the bundled model")?,
    };
    let (dir, run_config) = RunDir::open(&run)?;
    let device = select_device(a.device)?;
    let model = dir.load_model(&run_config.train.model, &device.device)?;
    let (grey, w, h) = load_grey(&a.image)?;
    let input: Vec<f32> = mnist_style(&grey, w, h)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.image.display()))?
        .into_iter()
        .map(normalize_intensity)
        .collect();
    let logits: Vec<f32> = model
        .forward(mnist_workbench::data::batch::images_tensor(input, &device.device))
        .into_data()
        .iter::<f32>()
        .collect();
    let probs = softmax(&logits);
    let best = mnist_workbench::train::metrics::argmax_rows(&logits)[0];
    println!("prediction: {best} ({:.1}%)", probs[best as usize] * 100.0);
    println!("digit   logit   probability");
    for d in 0..10 {
        println!("{d:>5} {:>7.3} {:>12.4}", logits[d], probs[d]);
    }
    Ok(())
}
