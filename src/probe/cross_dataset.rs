//! Cross-dataset evaluation (seed S3): a model trained on MNIST tested on EMNIST digits (other
//! writers), and, always available, on corrupted copies of the MNIST test set.
//!
//! EMNIST's IDX files store each image transposed relative to MNIST (column-major), so
//! [`load_emnist`] transposes them back.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::corrupt::Corruption;
use super::{StudyError, Reporter, argmax, logits_of_intensities};
use crate::data::{Digits, IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES, idx};
use crate::model::Model;
use crate::rng::Rng;

/// `image` (28×28 bytes) transposed.
pub fn transpose(image: &[u8]) -> Vec<u8> {
    let n = IMAGE_SIDE;
    (0..IMAGE_PIXELS).map(|i| image[(i % n) * n + i / n]).collect()
}

fn pick_file(folder: &Path, kind: &str, rank: &str) -> Result<PathBuf, StudyError> {
    let entries = std::fs::read_dir(folder).map_err(|e| StudyError::io(folder, e))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            p.is_file() && name.contains(kind) && name.contains(rank)
        })
        .collect();
    // Prefer the digits test split when a folder holds several EMNIST sets.
    found.sort_by_key(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        (!name.contains("digits"), !name.contains("test"), name)
    });
    found.into_iter().next().ok_or_else(|| {
        StudyError::Config(format!(
            "no IDX {kind} file ({rank}) in {}; EMNIST digits ships emnist-digits-test-{kind}-{rank}-ubyte(.gz)",
            folder.display()
        ))
    })
}

/// Loads EMNIST digits from a folder of IDX files (raw or gzip), transposing each image.
pub fn load_emnist(folder: &Path) -> Result<(Digits, String), StudyError> {
    let images_path = pick_file(folder, "images", "idx3")?;
    let labels_path = pick_file(folder, "labels", "idx1")?;
    // IdxError names the file already.
    let images = idx::read_images(&images_path).map_err(|e| StudyError::Config(e.to_string()))?;
    let labels = idx::read_labels(&labels_path).map_err(|e| match e {
        idx::IdxError::BadLabel { .. } => StudyError::Config(format!(
            "{e}: only digits can be compared with MNIST (EMNIST's letters and balanced splits hold letters; use emnist-digits)"
        )),
        e => StudyError::Config(e.to_string()),
    })?;
    if images.count != labels.len() {
        return Err(StudyError::format(
            &labels_path,
            format!("{} labels for {} images", labels.len(), images.count),
        ));
    }
    let mut pixels = Vec::with_capacity(images.pixels.len());
    for image in images.pixels.chunks(IMAGE_PIXELS) {
        pixels.extend(transpose(image));
    }
    let name = images_path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    Ok((Digits { pixels, labels }, name))
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
