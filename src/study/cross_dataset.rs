//! Cross-dataset evaluation as a study ([`crate::probe::cross_dataset`], seed S3): the model
//! on the whole MNIST test set, on EMNIST digits from a folder of IDX files when one is given
//! (other writers), and on the first test images under eight corruptions at growing
//! severity. A probe: `probe cross-dataset`, the probe lane in the app (the Cross-dataset
//! panel), results in a shared `--out`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Home, Lane, Needs, Study, StudyError, StudyInputs, Tie, check_figure, read_json, write_json};
use crate::data::{IMAGE_PIXELS, NUM_CLASSES};
use crate::jobs::Reporter;
use crate::probe::corrupt::Corruption;
use crate::probe::cross_dataset::{
    CrossDatasetConfig, CrossDatasetResults, DatasetAccuracy, corruption_examples, load_emnist,
    run_cross_dataset,
};
use crate::report::Figure;
use crate::run::RunConfig;

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
    /// The probe's own settings (all but the EMNIST folder).
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
        vec![crate::report::probes::cross_dataset(
            &results.results,
            &results.named_examples(),
        )]
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
