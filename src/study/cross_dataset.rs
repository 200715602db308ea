//! Cross-dataset evaluation as a study (seed S3): the model on the whole MNIST test set, on
//! EMNIST digits from a folder of IDX files when one is given (other writers, read by
//! [`crate::data::emnist`]), and on the first test images under eight corruptions
//! ([`crate::data::corrupt`]) at growing severity. A probe: `probe cross-dataset`, the probe
//! lane in the app (the Cross-dataset panel), results in a shared `--out`.
//!
//! Here are the study's settings and [`Study`] impl, the evaluation itself
//! ([`run_cross_dataset`]) and its figure ([`figure()`]).

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Home, Lane, Needs, Study, StudyError, StudyInputs, Tie, check_figure, read_json, write_json};
use crate::analysis::colormap::DIGIT_COLORS;
use crate::data::corrupt::Corruption;
use crate::data::emnist::load_emnist;
use crate::data::{Digits, IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
use crate::figure::plot::{Axes, INK, MUTED, PAPER, SERIES, legend};
use crate::figure::{Anchor, Canvas};
use crate::jobs::Reporter;
use crate::model::Model;
use crate::model::mc::logits_of_intensities;
use crate::report::{Figure, json_text, title};
use crate::rng::Rng;
use crate::run::RunConfig;
use crate::train::metrics::argmax;

/// The `probe cross-dataset` study.
pub struct CrossDataset;

/// Most MNIST test images corrupted.
pub const MAX_IMAGES: usize = 10_000;

/// Settings: the EMNIST folder (optional), how many test images are corrupted and the seed
/// of the noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CrossDatasetSettings {
    /// Folder of EMNIST digits IDX files; None: the corruption suite only.
    pub emnist: Option<PathBuf>,
    /// The first N MNIST test images corrupted (1 to 10 000).
    pub images: usize,
    /// Seed of the noise.
    pub seed: u64,
}

impl Default for CrossDatasetSettings {
    fn default() -> Self {
        let probe = CrossDatasetConfig::default();
        Self {
            emnist: None,
            images: probe.images,
            seed: probe.seed,
        }
    }
}

impl CrossDatasetSettings {
    /// The settings of [`run_cross_dataset`] (all but the EMNIST folder).
    pub fn probe_config(&self) -> CrossDatasetConfig {
        CrossDatasetConfig {
            images: self.images,
            seed: self.seed,
        }
    }
}

/// Flags of `probe cross-dataset`.
#[derive(Debug, clap::Args)]
pub struct CrossDatasetArgs {
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

/// The first test image under one corruption's middle severity (the figure's examples).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorruptionExample {
    /// The corruption.
    pub corruption: Corruption,
    /// 784 bytes, 0 = background.
    pub pixels: Vec<u8>,
}

/// The accuracies and the example images the figure shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossDatasetFindings {
    /// Accuracy on MNIST, EMNIST (when given) and each corruption.
    pub results: CrossDatasetResults,
    /// The first test image under each corruption's middle severity.
    pub examples: Vec<CorruptionExample>,
}

impl CrossDatasetFindings {
    /// The examples as the figure takes them: (corruption name, bytes).
    pub fn named_examples(&self) -> Vec<(String, Vec<u8>)> {
        self.examples
            .iter()
            .map(|e| (e.corruption.name().to_string(), e.pixels.clone()))
            .collect()
    }
}

/// Results file (the figure's numbers are `04_cross_dataset_evaluation.json`).
pub const RESULTS_FILE: &str = "cross_dataset_results.json";

impl Study for CrossDataset {
    const ID: &'static str = "cross-dataset";
    const TITLE: &'static str = "Cross-dataset";
    const ABOUT: &'static str = "Seed S3: EMNIST digits (optional) and the corruption suite.";
    const RESULTS_FILE: &'static str = RESULTS_FILE;
    const NEEDS: Needs = Needs::MODEL_AND_DATA;
    const HOME: Home = Home::SharedFolder;
    const TIE: Tie = Tie::Data;
    const LANE: Lane = Lane::Probe;
    const DEFAULT_DEVICE: &'static str = "flex";

    type Config = CrossDatasetSettings;
    type Args = CrossDatasetArgs;
    type Results = CrossDatasetFindings;

    fn config_from_args(
        args: CrossDatasetArgs,
        _run: Option<&RunConfig>,
    ) -> Result<CrossDatasetSettings, StudyError> {
        Ok(CrossDatasetSettings {
            emnist: args.emnist,
            images: args.images as usize,
            seed: args.seed,
        })
    }

    fn quick_config(_run: Option<&RunConfig>) -> CrossDatasetSettings {
        CrossDatasetSettings {
            images: 50,
            ..CrossDatasetSettings::default()
        }
    }

    fn validate(config: &CrossDatasetSettings) -> Result<(), StudyError> {
        if !(1..=MAX_IMAGES).contains(&config.images) {
            return Err(StudyError::Config(format!(
                "images: {} is not in 1..={MAX_IMAGES}",
                config.images
            )));
        }
        Ok(())
    }

    fn folder_label(_config: &CrossDatasetSettings) -> String {
        "cross-dataset".into()
    }

    fn run(
        config: &CrossDatasetSettings,
        inputs: &StudyInputs,
        reporter: &mut Reporter,
    ) -> Result<CrossDatasetFindings, StudyError> {
        let (model, device) = inputs.model_on_device()?;
        let data = inputs.data()?;
        // A folder that cannot be read is refused with its path (the system's message).
        let external = match &config.emnist {
            Some(folder) => {
                reporter.progress("reading EMNIST", 0.0);
                Some(load_emnist(folder)?)
            }
            None => None,
        };
        let ext = external.as_ref().map(|(d, name)| (d, name.as_str()));
        let results = run_cross_dataset(model, &data.test, ext, &config.probe_config(), &device, reporter)?;
        // run_cross_dataset refuses an empty test set, so image 0 exists.
        let examples = corruption_examples(data.test.image(0), config.seed)
            .into_iter()
            .map(|(corruption, pixels)| CorruptionExample { corruption, pixels })
            .collect();
        Ok(CrossDatasetFindings { results, examples })
    }

    fn save(results: &CrossDatasetFindings, dir: &Path) -> Result<(), StudyError> {
        write_json(&dir.join(RESULTS_FILE), results)
    }

    fn load(dir: &Path) -> Result<CrossDatasetFindings, StudyError> {
        let path = dir.join(RESULTS_FILE);
        let f: CrossDatasetFindings = read_json(&path)?;
        let r = &f.results;
        if !(1..=MAX_IMAGES).contains(&r.config.images) {
            let n = r.config.images;
            return Err(StudyError::format(
                &path,
                format!("field `results.config.images` is {n}; expected 1 to {MAX_IMAGES}"),
            ));
        }
        check_accuracy(&path, "results.mnist", &r.mnist)?;
        if let Some(e) = &r.external {
            check_accuracy(&path, "results.external", e)?;
        }
        check_figure(&path, "results.clean_subset", r.clean_subset, true)?;
        for (i, c) in r.corruptions.iter().enumerate() {
            if c.accuracies.is_empty() || c.accuracies.len() != c.levels.len() {
                return Err(StudyError::format(
                    &path,
                    format!(
                        "field `results.corruptions[{i}]` has {} accuracies for {} levels",
                        c.accuracies.len(),
                        c.levels.len()
                    ),
                ));
            }
            for (s, &a) in c.accuracies.iter().enumerate() {
                check_figure(
                    &path,
                    &format!("results.corruptions[{i}].accuracies[{s}]"),
                    a,
                    true,
                )?;
            }
        }
        for (i, e) in f.examples.iter().enumerate() {
            if e.pixels.len() != IMAGE_PIXELS {
                let n = e.pixels.len();
                return Err(StudyError::format(
                    &path,
                    format!("field `examples[{i}].pixels` has {n} values, not {IMAGE_PIXELS}"),
                ));
            }
        }
        Ok(f)
    }

    fn figures(results: &CrossDatasetFindings) -> Vec<Figure> {
        vec![figure(&results.results, &results.named_examples())]
    }

    fn summary(f: &CrossDatasetFindings) -> String {
        let r = &f.results;
        let mut lines = vec![format!("MNIST test: {:.4}", r.mnist.accuracy)];
        if let Some(e) = &r.external {
            lines.push(format!("{} ({} images): {:.4}", e.name, e.images, e.accuracy));
        }
        for c in &r.corruptions {
            let levels: Vec<String> = c
                .levels
                .iter()
                .zip(&c.accuracies)
                .map(|(l, acc)| format!("{l} {acc:.3}"))
                .collect();
            lines.push(format!("{:9}: {}", c.corruption.name(), levels.join(", ")));
        }
        lines.join("\n")
    }
}

/// Checks one dataset's accuracy and its per-digit shares, naming `field`.
fn check_accuracy(path: &Path, field: &str, a: &DatasetAccuracy) -> Result<(), StudyError> {
    check_figure(path, &format!("{field}.accuracy"), a.accuracy, true)?;
    for d in 0..NUM_CLASSES {
        check_figure(path, &format!("{field}.per_class[{d}]"), a.per_class[d], true)?;
    }
    Ok(())
}

/// Settings of [`run_cross_dataset`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossDatasetConfig {
    /// MNIST test images corrupted (the first ones).
    pub images: usize,
    /// Seed of the noise.
    pub seed: u64,
}

impl Default for CrossDatasetConfig {
    fn default() -> Self {
        Self {
            images: 2000,
            seed: 1,
        }
    }
}

/// Accuracy of the model on another dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetAccuracy {
    /// What it was (file name).
    pub name: String,
    /// Images evaluated.
    pub images: usize,
    /// Share correct.
    pub accuracy: f64,
    /// Accuracy per digit.
    pub per_class: [f64; NUM_CLASSES],
}

/// Accuracy per severity of one corruption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorruptionAccuracy {
    /// The corruption.
    pub corruption: Corruption,
    /// Severity labels.
    pub levels: Vec<String>,
    /// Accuracy at each severity.
    pub accuracies: Vec<f64>,
}

impl CorruptionAccuracy {
    /// Mean accuracy over the severities.
    pub fn mean(&self) -> f64 {
        self.accuracies.iter().sum::<f64>() / self.accuracies.len().max(1) as f64
    }
}

/// The outcome of a cross-dataset run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossDatasetResults {
    /// Settings.
    pub config: CrossDatasetConfig,
    /// Accuracy on the whole clean MNIST test set.
    pub mnist: DatasetAccuracy,
    /// Accuracy on the clean images the corruptions start from.
    pub clean_subset: f64,
    /// EMNIST (or another IDX set), when given.
    pub external: Option<DatasetAccuracy>,
    /// The corruption suite.
    pub corruptions: Vec<CorruptionAccuracy>,
}

/// Accuracy of `model` on `data`, per digit too.
pub fn dataset_accuracy(model: &Model, data: &Digits, name: &str, device: &Device) -> DatasetAccuracy {
    let indices: Vec<usize> = (0..data.len()).collect();
    let logits = crate::train::eval::logits_of(model, data, &indices, device);
    let report = crate::train::eval::report_from_logits(&logits, &data.labels);
    DatasetAccuracy {
        name: name.to_string(),
        images: data.len(),
        accuracy: report.accuracy,
        per_class: report.per_class_accuracy,
    }
}

fn accuracy_on(model: &Model, images: &[f32], labels: &[u8], device: &Device) -> f64 {
    let logits = logits_of_intensities(model, images, None, device);
    let correct = logits
        .iter()
        .zip(labels)
        .filter(|(l, y)| argmax(&l[..]) == **y)
        .count();
    correct as f64 / labels.len().max(1) as f64
}

/// Evaluates on the MNIST test set, on `external` when given, and on every corruption of
/// the first `config.images` test images.
pub fn run_cross_dataset(
    model: &Model,
    test: &Digits,
    external: Option<(&Digits, &str)>,
    config: &CrossDatasetConfig,
    device: &Device,
    reporter: &mut Reporter,
) -> Result<CrossDatasetResults, StudyError> {
    let n = config.images.min(test.len());
    if n == 0 {
        return Err(StudyError::Config("the test set is empty".into()));
    }
    reporter.progress("MNIST test set", 0.0);
    let mnist = dataset_accuracy(model, test, "MNIST test", device);
    reporter.check()?;
    let external = external.map(|(data, name)| {
        reporter.progress(name.to_string(), 0.1);
        dataset_accuracy(model, data, name, device)
    });
    let clean: Vec<Vec<f32>> = (0..n).map(|i| test.intensities(i)).collect();
    let labels = &test.labels[..n];
    let flat: Vec<f32> = clean.concat();
    let clean_subset = accuracy_on(model, &flat, labels, device);
    let total: usize = Corruption::ALL.iter().map(|c| c.levels().len()).sum();
    let mut done = 0;
    let mut corruptions = Vec::new();
    for corruption in Corruption::ALL {
        let levels = corruption.levels();
        let mut accuracies = Vec::new();
        for (level, level_name) in levels.iter().enumerate() {
            reporter.check()?;
            reporter.progress(
                format!("{} {level_name}", corruption.name()),
                0.2 + 0.8 * done as f64 / total as f64,
            );
            let mut rng = Rng::derive(config.seed, level as u64);
            let images: Vec<f32> = clean
                .iter()
                .flat_map(|img| corruption.apply(img, level, &mut rng))
                .collect();
            accuracies.push(accuracy_on(model, &images, labels, device));
            done += 1;
        }
        corruptions.push(CorruptionAccuracy {
            corruption,
            levels,
            accuracies,
        });
    }
    reporter.progress("done", 1.0);
    Ok(CrossDatasetResults {
        config: config.clone(),
        mnist,
        clean_subset,
        external,
        corruptions,
    })
}

/// Example images for the chart: the first test image under each corruption's middle
/// severity, as bytes.
pub fn corruption_examples(image: &[u8], seed: u64) -> Vec<(Corruption, Vec<u8>)> {
    let img = crate::data::intensities(image);
    Corruption::ALL
        .iter()
        .map(|&c| {
            let level = c.levels().len() / 2;
            let out = c.apply(&img, level, &mut Rng::new(seed));
            (c, crate::analysis::pixels::intensities_to_grey(&out))
        })
        .collect()
}

/// Seed S3's cross-dataset comparison: accuracy on MNIST, EMNIST (when given) and each
/// corruption (mean over severities) as bars, and accuracy per severity as lines.
pub fn figure(r: &CrossDatasetResults, examples: &[(String, Vec<u8>)]) -> Figure {
    let mut c = Canvas::new(1240, 560, PAPER);
    title(
        &mut c,
        &format!(
            "Cross-dataset: MNIST test {:.2} %{}; corruptions of {} test images",
            100.0 * r.mnist.accuracy,
            r.external.as_ref().map_or(String::new(), |e| format!(
                ", {} {:.2} %",
                e.name,
                100.0 * e.accuracy
            )),
            r.config.images
        ),
    );
    let mut bars: Vec<(String, f64, [u8; 3])> = vec![("MNIST".into(), r.mnist.accuracy, SERIES[0])];
    if let Some(e) = &r.external {
        bars.push(("EMNIST".into(), e.accuracy, SERIES[1]));
    }
    for k in &r.corruptions {
        bars.push((k.corruption.name().into(), k.mean(), SERIES[2]));
    }
    let axes = Axes {
        x: 80.0,
        y: 80.0,
        w: 520.0,
        h: 300.0,
        x_range: (0.0, bars.len() as f64),
        y_range: (0.0, 100.0),
    };
    axes.draw_with_ticks(
        &mut c,
        "Accuracy (corruptions: mean over severities)",
        "",
        "accuracy (%)",
        &[],
        &[0.0, 25.0, 50.0, 75.0, 100.0].map(|v| (v, format!("{v:.0}"))),
    );
    for (k, (name, acc, color)) in bars.iter().enumerate() {
        axes.bar(&mut c, k as f64 + 0.15, k as f64 + 0.85, 100.0 * acc, *color);
        let (x, y) = axes.map(k as f64 + 0.5, 100.0 * acc);
        c.text(
            x,
            y - 8.0,
            10.0,
            INK,
            Anchor::Center,
            &format!("{:.1}", 100.0 * acc),
        );
        c.text(x, axes.y + axes.h + 14.0, 11.0, INK, Anchor::Center, name);
    }
    let lines = Axes {
        x: 700.0,
        w: 360.0,
        x_range: (1.0, 5.0),
        ..axes
    };
    lines.draw(&mut c, "Accuracy per severity", "severity", "accuracy (%)");
    // One colour per corruption (eight of them): Tableau 10's first eight, as matplotlib colours lines.
    let palette = &DIGIT_COLORS[..8];
    let mut entries = Vec::new();
    for (k, corr) in r.corruptions.iter().enumerate() {
        let pts: Vec<(f64, f64)> = corr
            .accuracies
            .iter()
            .enumerate()
            .map(|(s, a)| (s as f64 + 1.0, 100.0 * a))
            .collect();
        let color = palette[k % palette.len()];
        if pts.len() == 1 {
            let (x, y) = lines.map(1.0, pts[0].1);
            c.dot(x, y, 4.0, color);
        } else {
            lines.line(&mut c, &pts, color, 1.8);
        }
        entries.push((corr.corruption.name(), color));
    }
    legend(&mut c, 1080.0, 90.0, &entries);
    let scale = 2.6;
    for (k, (name, pixels)) in examples.iter().enumerate() {
        let x = 80.0 + k as f32 * (28.0 * scale + 26.0);
        c.grey(x, 440.0, IMAGE_SIDE, IMAGE_SIDE, scale, pixels);
        c.text(
            x + 14.0 * scale,
            440.0 + 28.0 * scale + 12.0,
            11.0,
            MUTED,
            Anchor::Center,
            name,
        );
    }
    debug_assert!(examples.iter().all(|(_, p)| p.len() == IMAGE_PIXELS));
    Figure {
        name: "04_cross_dataset_evaluation".into(),
        canvas: c,
        data: json_text(&json!({ "results": r })),
        data_ext: "json",
    }
}
