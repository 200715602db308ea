//! `probe`: the probing panels without a window (row sweep, ablation, saliency, embeddings,
//! cross-dataset). Each loads a trained run, runs the probe with a progress bar and writes
//! its figure (PNG) and numbers (CSV or JSON) into `--out`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use mnist_workbench::data::{Dataset, load_dataset};
use mnist_workbench::device::select_device;
use mnist_workbench::model::Model;
use mnist_workbench::preprocess::{load_grey, mnist_style};
use mnist_workbench::probe::ablation::AblationConfig;
use mnist_workbench::probe::cross_dataset::{CrossDatasetConfig, corruption_examples};
use mnist_workbench::probe::embed::EmbedConfig;
use mnist_workbench::probe::row_sweep::{BatchSweep, BatchSweepConfig, MarginClasses};
use mnist_workbench::probe::saliency::SaliencyConfig;
use mnist_workbench::probe::tsne::TsneConfig;
use mnist_workbench::probe::worker::{ProbeRequest, ProbeResults, run_probe};
use mnist_workbench::probe::{McDropout, StudyError, Progress, Reporter, argmax, logits_of_intensities};
use mnist_workbench::report::Figure;
use mnist_workbench::report::probes;
use mnist_workbench::run::RunDir;

use super::RunOutArgs;
use super::progress::ProgressBar;

/// Which probe.
#[derive(Debug, Subcommand)]
pub enum ProbeAction {
    /// Seed S1: erase every row range of an image (and paint a bar at each row); --batch
    /// runs it over many test images.
    RowSweep(RowSweepArgs),
    /// Seed S1: zero the units that tell two classes apart, against random ablations.
    Ablation(AblationArgs),
    /// Gradient, gradient × input, integrated gradients and occlusion for one image.
    Saliency(SaliencyArgs),
    /// Seed S2: penultimate-layer embeddings of test images, PCA and t-SNE.
    Embed(EmbedArgs),
    /// Seed S3: EMNIST digits (optional) and the corruption suite.
    CrossDataset(CrossArgs),
}

/// Which image to probe.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Test-set index of the image.
    #[arg(long, value_name = "N", conflicts_with = "image")]
    index: Option<usize>,
    /// A picture of a digit instead (PNG, any size; made MNIST-style like the pad does).
    #[arg(long, value_name = "PNG")]
    image: Option<PathBuf>,
}

/// Flags of `probe row-sweep`.
#[derive(Debug, Args)]
pub struct RowSweepArgs {
    #[command(flatten)]
    common: RunOutArgs,
    #[command(flatten)]
    image: ImageArgs,
    /// Class whose logit counts positively (default image: the first test image of it).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u8).range(0..10))]
    target: u8,
    /// Class it is compared with.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..10))]
    rival: u8,
    /// Rows of the painted bar of the reverse sweep.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=28))]
    bar: u64,
    /// Average this many dropout passes (off by default).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    mc_passes: Option<u64>,
    /// Test-set index of the image the bar is painted on (default: the first test image of
    /// the rival class).
    #[arg(long, value_name = "N")]
    bar_index: Option<usize>,
    /// Also run batch mode over this many test images of each class.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=5000))]
    batch: Option<u64>,
}

/// Flags of `probe ablation`.
#[derive(Debug, Args)]
pub struct AblationArgs {
    #[command(flatten)]
    common: RunOutArgs,
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

/// Flags of `probe saliency`.
#[derive(Debug, Args)]
pub struct SaliencyArgs {
    #[command(flatten)]
    common: RunOutArgs,
    #[command(flatten)]
    image: ImageArgs,
    /// Class to explain (default: the prediction).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..10))]
    class: Option<u8>,
    /// Integrated-gradients steps.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=512))]
    steps: u64,
    /// Occlusion patch side.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=28))]
    patch: u64,
}

/// Flags of `probe embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    common: RunOutArgs,
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

/// Flags of `probe cross-dataset`.
#[derive(Debug, Args)]
pub struct CrossArgs {
    #[command(flatten)]
    common: RunOutArgs,
    /// Folder with EMNIST digits IDX files (emnist-digits-test-images-idx3-ubyte…).
    #[arg(long, value_name = "DIR")]
    emnist: Option<PathBuf>,
    /// MNIST test images corrupted.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    images: u64,
    /// Seed of the noise.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// A run's model on the chosen device with the dataset it was trained on: what every probe
/// subcommand starts from.
struct LoadedRun {
    model: Model,
    data: Arc<Dataset>,
    device: burn::tensor::Device,
}

fn load(c: &RunOutArgs) -> anyhow::Result<LoadedRun> {
    if c.out.exists() && !c.out.is_dir() {
        anyhow::bail!(
            "--out {} is a file; give a folder for the results",
            c.out.display()
        );
    }
    let (dir, run_config) = RunDir::open(&c.run)?;
    let device = select_device(c.device.clone())?;
    let data = Arc::new(load_dataset(&c.data.request_for_run(&run_config))?);
    eprintln!("device: {}\ndata: {}", device.name, data.source);
    let model = dir.load_model(&run_config.train.model, &device.device)?;
    Ok(LoadedRun {
        model,
        data,
        device: device.device,
    })
}

fn pick_image(a: &ImageArgs, data: &Dataset, default_class: u8) -> anyhow::Result<(Vec<f32>, String)> {
    if let Some(path) = &a.image {
        let (grey, w, h) = load_grey(path)?;
        let image = mnist_style(&grey, w, h).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok((image, path.display().to_string()));
    }
    let index = match a.index {
        Some(i) if i < data.test.len() => i,
        Some(i) => anyhow::bail!("--index {i} is past the test set ({} images)", data.test.len()),
        None => (0..data.test.len())
            .find(|&i| data.test.labels[i] == default_class)
            .with_context(|| format!("the test set has no {default_class}"))?,
    };
    Ok((
        data.test.intensities(index),
        format!("test image {index} (a {})", data.test.labels[index]),
    ))
}

fn run_with_bar(label: &str, loaded: &LoadedRun, request: ProbeRequest) -> anyhow::Result<ProbeResults> {
    let mut bar = ProgressBar::new(label);
    let mut on_progress = |p: Progress| bar.update((p.fraction * 1000.0) as u64, 1000, &p.stage);
    let never = || false;
    let outcome = run_probe(
        request,
        &loaded.model,
        &loaded.data,
        &loaded.device,
        &mut Reporter::new(&mut on_progress, &never),
    );
    bar.finish();
    match outcome {
        Ok(r) => Ok(r),
        Err(StudyError::Cancelled) => anyhow::bail!("cancelled"),
        Err(e) => Err(e.into()),
    }
}

fn save(figure: &Figure, out: &Path) -> anyhow::Result<()> {
    let paths = figure
        .save(out)
        .with_context(|| format!("writing into {}", out.display()))?;
    for p in paths {
        println!("{}", p.display());
    }
    Ok(())
}

fn parse_classes(text: &str) -> anyhow::Result<[u8; 2]> {
    let parts: Vec<u8> = text
        .split(',')
        .map(|s| s.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--classes {text}: give two digits like 1,7"))?;
    match parts[..] {
        [a, b] if a < 10 && b < 10 && a != b => Ok([a, b]),
        _ => anyhow::bail!("--classes {text}: give two different digits 0-9 like 1,7"),
    }
}

/// Runs `probe`.
pub fn run(action: ProbeAction) -> anyhow::Result<()> {
    match action {
        ProbeAction::RowSweep(a) => row_sweep(a),
        ProbeAction::Ablation(a) => ablation(a),
        ProbeAction::Saliency(a) => saliency(a),
        ProbeAction::Embed(a) => embed(a),
        ProbeAction::CrossDataset(a) => cross_dataset(a),
    }
}

/// Row sweep (and batch mode): prints the flips and writes the figures.
fn row_sweep(a: RowSweepArgs) -> anyhow::Result<()> {
    let loaded = load(&a.common)?;
    let (image, what) = pick_image(&a.image, &loaded.data, a.target)?;
    let bar_args = ImageArgs {
        index: a.bar_index,
        image: None,
    };
    let (bar_image, bar_what) = pick_image(&bar_args, &loaded.data, a.rival)?;
    let mc = a.mc_passes.map(|p| McDropout {
        passes: p as usize,
        seed: 1,
    });
    let classes = MarginClasses {
        target: a.target,
        rival: a.rival,
    };
    let request = ProbeRequest::RowSweep {
        image,
        bar_image,
        classes,
        bar_thickness: a.bar as usize,
        mc,
    };
    if let ProbeResults::RowSweep {
        image,
        bar_image,
        erase,
        bar,
    } = run_with_bar("row sweep", &loaded, request)?
    {
        println!(
            "{what}: predicted {}, margin {:.3}",
            erase.original_prediction, erase.original_margin
        );
        match erase.smallest_flip() {
            Some((s, e)) => println!(
                "smallest flipping range: rows {s}-{e} ({} rows) → {}",
                e - s + 1,
                erase.prediction(s, e).unwrap_or(0)
            ),
            None => println!("no erased row range changes the prediction"),
        }
        let (row, m) = erase.most_crucial_row();
        println!("most crucial single row: {row} (margin {m:.3})");
        println!(
            "erasing 6 rows from the top half vs the bottom half moves the margin by {:+.3} more",
            erase.top_minus_bottom(6)
        );
        let flips = bar
            .predictions
            .iter()
            .filter(|&&p| p != bar.original_prediction)
            .count();
        println!(
            "bar of {} rows on {bar_what}: changes the prediction at {flips} of {} rows",
            bar.bar.thickness,
            bar.margins.len()
        );
        save(
            &probes::row_sweep(&image, &bar_image, &erase, &bar),
            &a.common.out,
        )?;
    }
    if let Some(n) = a.batch {
        let config = BatchSweepConfig {
            per_class: n as usize,
            classes,
            mc,
            ..Default::default()
        };
        if let ProbeResults::BatchSweep(b) =
            run_with_bar("batch sweep", &loaded, ProbeRequest::BatchSweep(config))?
        {
            for (name, flips, what) in [
                (a.target, &b.erased, "rows erased"),
                (a.rival, &b.painted, "bar rows"),
            ] {
                let (mean, flipped) = BatchSweep::mean_rows(flips);
                println!(
                    "{name}s: {flipped}/{} flip; mean {what} to flip {}",
                    flips.len(),
                    mean.map_or("—".into(), |m| format!("{m:.2}"))
                );
            }
            save(&probes::batch_sweep(&b), &a.common.out)?;
        }
    }
    Ok(())
}

/// Ablation: targeted against random unit masks.
fn ablation(a: AblationArgs) -> anyhow::Result<()> {
    let loaded = load(&a.common)?;
    let layers = loaded.model.probe_layers();
    let layer = match &a.layer {
        Some(name) => layers.iter().position(|l| &l.name == name).with_context(|| {
            let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
            format!("no layer '{name}' in this model; it has {}", names.join(", "))
        })?,
        None => layers
            .len()
            .checked_sub(1)
            .context("this model has no hidden layer to ablate")?,
    };
    let config = AblationConfig {
        layer,
        classes: parse_classes(&a.classes)?,
        threshold: a.threshold,
        random_trials: a.trials as usize,
        max_images: a.images,
        seed: a.seed,
        ..Default::default()
    };
    if let ProbeResults::Ablation(r) = run_with_bar("ablation", &loaded, ProbeRequest::Ablation(config))? {
        let mean_random = r.random.iter().map(|x| x.pair).sum::<f64>() / r.random.len().max(1) as f64;
        println!(
            "{}: {} of {} units above {}; {:.0} % of units differ by less than 0.2",
            r.layer_name,
            r.targeted_units.len(),
            r.differences.len(),
            r.config.threshold,
            100.0 * r.small_difference_share
        );
        println!(
            "accuracy on {}/{}: baseline {:.4}, targeted {:.4}, random mean {mean_random:.4} ({:.0} % of random ablations at or below targeted); overall {:.4} → {:.4}",
            r.config.classes[0],
            r.config.classes[1],
            r.baseline.pair,
            r.targeted.pair,
            100.0 * r.random_at_or_below,
            r.baseline.overall,
            r.targeted.overall
        );
        println!("threshold  units  targeted  random");
        for p in &r.sweep {
            println!(
                "{:9.2}  {:5}  {:8.4}  {:.4} ± {:.4}",
                p.threshold, p.units, p.targeted.pair, p.random_pair.0, p.random_pair.1
            );
        }
        save(&probes::ablation(&r), &a.common.out)?;
    }
    Ok(())
}

/// Saliency maps of one image.
fn saliency(a: SaliencyArgs) -> anyhow::Result<()> {
    let loaded = load(&a.common)?;
    let (image, what) = pick_image(&a.image, &loaded.data, 7)?;
    let class = match a.class {
        Some(c) => c,
        None => argmax(&logits_of_intensities(&loaded.model, &image, None, &loaded.device)[0]),
    };
    let config = SaliencyConfig {
        class,
        ig_steps: a.steps as usize,
        patch: a.patch as usize,
        ..Default::default()
    };
    if let ProbeResults::Saliency { image, maps } =
        run_with_bar("saliency", &loaded, ProbeRequest::Saliency { image, config })?
    {
        println!(
            "{what}, class {class}: integrated gradients sum {:.3}, logit − blank logit {:.3}",
            maps.integrated.iter().sum::<f32>(),
            maps.blank_gap
        );
        save(&probes::saliency(&image, &maps), &a.common.out)?;
    }
    Ok(())
}

/// Embeddings, PCA and t-SNE of test images.
fn embed(a: EmbedArgs) -> anyhow::Result<()> {
    let loaded = load(&a.common)?;
    let config = EmbedConfig {
        points: a.points as usize,
        tsne: !a.no_tsne,
        tsne_config: TsneConfig {
            perplexity: a.perplexity,
            iterations: a.iterations as usize,
            seed: a.seed,
            ..Default::default()
        },
    };
    if let ProbeResults::Embed(e) = run_with_bar("embedding", &loaded, ProbeRequest::Embed(config))? {
        println!(
            "{} test images, {} layer ({} dims); PCA variance {:.3}, {:.3}",
            e.indices.len(),
            e.layer,
            e.dim,
            e.pca.variances.first().copied().unwrap_or(0.0),
            e.pca.variances.get(1).copied().unwrap_or(0.0)
        );
        save(&probes::embedding(&e), &a.common.out)?;
    }
    Ok(())
}

/// EMNIST (optional) and the corruption suite.
fn cross_dataset(a: CrossArgs) -> anyhow::Result<()> {
    let loaded = load(&a.common)?;
    let config = CrossDatasetConfig {
        images: a.images as usize,
        seed: a.seed,
    };
    let request = ProbeRequest::CrossDataset {
        emnist: a.emnist.clone(),
        config,
    };
    if let ProbeResults::CrossDataset(r) = run_with_bar("cross-dataset", &loaded, request)? {
        println!("MNIST test: {:.4}", r.mnist.accuracy);
        if let Some(e) = &r.external {
            println!("{} ({} images): {:.4}", e.name, e.images, e.accuracy);
        }
        for c in &r.corruptions {
            let levels: Vec<String> = c
                .levels
                .iter()
                .zip(&c.accuracies)
                .map(|(l, acc)| format!("{l} {:.3}", acc))
                .collect();
            println!("{:9}: {}", c.corruption.name(), levels.join(", "));
        }
        let examples: Vec<(String, Vec<u8>)> = corruption_examples(loaded.data.test.image(0), a.seed)
            .into_iter()
            .map(|(c, p)| (c.name().to_string(), p))
            .collect();
        save(&probes::cross_dataset(&r, &examples), &a.common.out)?;
    }
    Ok(())
}
