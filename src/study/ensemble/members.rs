//! Seed S0's ensemble experiment: N models of one architecture, each trained full-batch with
//! AdamW on its own stratified sample of k images per digit until its training accuracy
//! reaches a target (or a step limit), then every model on the whole test set. The models
//! train together as one stacked network ([`crate::experiment::stacked`]) and are evaluated as
//! [`eval_plan`] says is fastest on the device.
//!
//! Results folder: `ensemble.json` (settings, each model's seed, training images by index,
//! steps and accuracies, test labels, and the statistics of [`super::stats`]) and
//! `correctness.bin`, the models × test-images correctness matrix, one bit per entry:
//! magic `MWCM`, format 1, models and images as little-endian u32, then the packed rows.
//! While it runs, each finished group of models is kept in `ensemble-groups/`
//! ([`super::run`]), so a run stopped by losing its devices continues.

use std::path::Path;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::experiment::pool::DeviceTally;
use crate::experiment::stacked::{AdamW, Finished, MemberData, StackedTrainer, evaluate_stacked};
use crate::study::{DataInfo, Reporter, StudyError, read_json, write_json};
use super::stats::{Correctness, EnsembleStats};
use crate::data::subset::k_per_digit;
use crate::data::{Digits, IMAGE_PIXELS, NUM_CLASSES, batch::normalized_inputs};
use crate::device::{Backend, SelectedDevice};
use crate::model::plain::{Architecture, PlainWeights};
use crate::model::{Model, ModelSpec};
use crate::rng::Rng;
use crate::train::metrics::argmax_rows;

/// Settings of an ensemble experiment (defaults: seed S0's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleConfig {
    /// Architecture of every model.
    pub model: ModelSpec,
    /// Number of models.
    pub models: usize,
    /// Training images per digit for each model.
    pub per_digit: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// A model stops once a step's training accuracy reaches this.
    pub target_train_accuracy: f64,
    /// ... or after this many steps.
    pub max_steps: usize,
    /// Model i uses seed `seed + i` for its sample, initial weights and dropout.
    pub seed: u64,
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        Self {
            model: ModelSpec::preset("small-cnn").expect("preset"),
            models: 50,
            per_digit: 2,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            target_train_accuracy: 0.99,
            max_steps: 200,
            seed: 42,
        }
    }
}

impl EnsembleConfig {
    /// Checks every setting; the message names the setting and what is allowed.
    pub fn validate(&self) -> Result<(), StudyError> {
        let bad = |m: String| Err(StudyError::Config(m));
        if let Err(m) = self.model.validate() {
            return bad(format!("model: {m}"));
        }
        if !(1..=1000).contains(&self.models) {
            return bad(format!("models must be 1 to 1000, got {}", self.models));
        }
        if !(1..=500).contains(&self.per_digit) {
            return bad(format!(
                "images per digit must be 1 to 500, got {}",
                self.per_digit
            ));
        }
        if !self.learning_rate.is_finite() || self.learning_rate <= 0.0 || self.learning_rate > 10.0 {
            return bad(format!(
                "learning rate must be in (0, 10], got {}",
                self.learning_rate
            ));
        }
        if !(0.0..=1.0).contains(&self.weight_decay) {
            return bad(format!(
                "weight decay must be in [0, 1], got {}",
                self.weight_decay
            ));
        }
        if !(self.target_train_accuracy > 0.0 && self.target_train_accuracy <= 1.0) {
            return bad(format!(
                "target accuracy must be in (0, 1], got {}",
                self.target_train_accuracy
            ));
        }
        if !(1..=100_000).contains(&self.max_steps) {
            return bad(format!("step limit must be 1 to 100000, got {}", self.max_steps));
        }
        Ok(())
    }

    /// Seed of model `i`.
    pub fn member_seed(&self, i: usize) -> u64 {
        self.seed.wrapping_add(i as u64)
    }

    /// Training-set indices of model `i`: `per_digit` of every digit, 0's first (seeded).
    pub fn member_sample(&self, train_labels: &[u8], i: usize) -> Vec<usize> {
        k_per_digit(
            train_labels,
            self.per_digit,
            &mut Rng::derive(self.member_seed(i), 1),
        )
    }
}

/// One model's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberResult {
    /// Its seed.
    pub seed: u64,
    /// Its training images (indices into the training set).
    pub train_indices: Vec<usize>,
    /// Steps taken.
    pub steps: usize,
    /// Training accuracy of the last step.
    pub train_accuracy: f64,
    /// Whether it reached the target before the step limit.
    pub reached_target: bool,
    /// Accuracy on the test set.
    pub test_accuracy: f64,
}

/// Everything an ensemble experiment produced.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleResults {
    /// Its settings.
    pub config: EnsembleConfig,
    /// The data it ran on.
    pub data: DataInfo,
    /// Seconds spent training (summed over devices).
    pub train_seconds: f64,
    /// Seconds spent evaluating (summed over devices).
    pub eval_seconds: f64,
    /// Wall-clock seconds of the whole experiment (0 in files of earlier versions).
    pub seconds: f64,
    /// Where each group of models ran.
    pub placements: Vec<GroupPlacement>,
    /// How the work went on each device.
    pub devices: Vec<DeviceTally>,
    /// The kept groups (`ensemble-groups/`) that could not be used and were trained again,
    /// each with why (damaged, other settings or data).
    pub retrained: Vec<String>,
    /// Each model's outcome.
    pub members: Vec<MemberResult>,
    /// The test labels the matrix's columns belong to.
    pub test_labels: Vec<u8>,
    /// Which model got which test image right.
    pub correctness: Correctness,
    /// Statistics derived from the matrix.
    pub stats: EnsembleStats,
}

/// `ensemble.json`.
#[derive(Serialize, Deserialize)]
struct EnsembleFile {
    kind: String,
    format: u32,
    config: EnsembleConfig,
    data: DataInfo,
    train_seconds: f64,
    eval_seconds: f64,
    #[serde(default)]
    seconds: f64,
    #[serde(default)]
    placements: Vec<GroupPlacement>,
    #[serde(default)]
    devices: Vec<DeviceTally>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    retrained: Vec<String>,
    members: Vec<MemberResult>,
    test_labels: Vec<u8>,
    correctness_file: String,
    stats: EnsembleStats,
}

/// File name of the results JSON.
pub const RESULTS_FILE: &str = "ensemble.json";
/// File name of the packed correctness matrix.
pub const MATRIX_FILE: &str = "correctness.bin";
const MAGIC: &[u8; 4] = b"MWCM";

/// The correctness matrix as the bytes of `correctness.bin`.
pub fn matrix_bytes(m: &Correctness) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + m.bits().len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(m.models() as u32).to_le_bytes());
    out.extend_from_slice(&(m.images() as u32).to_le_bytes());
    out.extend_from_slice(m.bits());
    out
}

/// Parses `correctness.bin`; the message says what is wrong.
pub fn parse_matrix(bytes: &[u8]) -> Result<Correctness, String> {
    if bytes.len() < 16 || &bytes[..4] != MAGIC {
        return Err("not a correctness matrix (no MWCM header)".into());
    }
    let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes")) as usize;
    if word(4) != 1 {
        return Err(format!("format {} is newer than this program reads", word(4)));
    }
    let (models, images) = (word(8), word(12));
    Correctness::from_bits(models, images, bytes[16..].to_vec()).ok_or_else(|| {
        format!(
            "truncated or padded: {models} × {images} needs {} bytes of bits, found {}",
            models * images.div_ceil(8),
            bytes.len() - 16
        )
    })
}

impl EnsembleResults {
    /// Writes `ensemble.json` and `correctness.bin` into `dir` (created if missing), each
    /// through a temporary file.
    pub fn save(&self, dir: &Path) -> Result<(), StudyError> {
        std::fs::create_dir_all(dir).map_err(|e| StudyError::io(dir, e))?;
        let matrix_path = dir.join(MATRIX_FILE);
        crate::fsutil::atomic_write(&matrix_path, &matrix_bytes(&self.correctness))
            .map_err(|e| StudyError::io(&matrix_path, e))?;
        let file = EnsembleFile {
            kind: "ensemble".into(),
            format: 1,
            config: self.config.clone(),
            data: self.data.clone(),
            train_seconds: self.train_seconds,
            eval_seconds: self.eval_seconds,
            seconds: self.seconds,
            placements: self.placements.clone(),
            devices: self.devices.clone(),
            retrained: self.retrained.clone(),
            members: self.members.clone(),
            test_labels: self.test_labels.clone(),
            correctness_file: MATRIX_FILE.into(),
            stats: self.stats.clone(),
        };
        write_json(&dir.join(RESULTS_FILE), &file)?;
        // The groups kept while it ran are in the results now.
        let groups = dir.join(GROUPS_FOLDER);
        if groups.is_dir() {
            std::fs::remove_dir_all(&groups).map_err(|e| StudyError::io(&groups, e))?;
        }
        Ok(())
    }

    /// Reads a results folder written by [`save`](Self::save); statistics are recomputed from
    /// the matrix.
    pub fn load(dir: &Path) -> Result<Self, StudyError> {
        let json_path = dir.join(RESULTS_FILE);
        let file: EnsembleFile = read_json(&json_path)?;
        if file.kind != "ensemble" {
            return Err(StudyError::format(
                &json_path,
                format!("holds a {} experiment", file.kind),
            ));
        }
        let matrix_path = dir.join(MATRIX_FILE);
        let bytes = crate::fsutil::read_capped(&matrix_path, crate::fsutil::limits::WEIGHTS_BYTES)
            .map_err(|e| StudyError::io(&matrix_path, e))?;
        let correctness = parse_matrix(&bytes).map_err(|e| StudyError::format(&matrix_path, e))?;
        if correctness.models() != file.members.len() || correctness.images() != file.test_labels.len() {
            return Err(StudyError::format(
                &matrix_path,
                format!(
                    "is {} × {} but ensemble.json lists {} models and {} test labels",
                    correctness.models(),
                    correctness.images(),
                    file.members.len(),
                    file.test_labels.len()
                ),
            ));
        }
        if file.test_labels.iter().any(|&l| l as usize >= NUM_CLASSES) {
            return Err(StudyError::format(&json_path, "a test label is not a digit"));
        }
        for (i, m) in file.members.iter().enumerate() {
            crate::study::check_figure(&json_path, &format!("members[{i}].train_accuracy"), m.train_accuracy, true)?;
            crate::study::check_figure(&json_path, &format!("members[{i}].test_accuracy"), m.test_accuracy, true)?;
        }
        for (name, value) in [
            ("train_seconds", file.train_seconds),
            ("eval_seconds", file.eval_seconds),
            ("seconds", file.seconds),
        ] {
            crate::study::check_figure(&json_path, name, value, false)?;
        }
        for (i, p) in file.placements.iter().enumerate() {
            crate::study::check_figure(&json_path, &format!("placements[{i}].seconds"), p.seconds, false)?;
        }
        crate::experiment::pool::check_tallies(&json_path, &file.devices)?;
        let stats = stats_of(&file.members, &correctness, &file.test_labels);
        Ok(Self {
            config: file.config,
            data: file.data,
            train_seconds: file.train_seconds,
            eval_seconds: file.eval_seconds,
            seconds: file.seconds,
            placements: file.placements,
            devices: file.devices,
            retrained: file.retrained,
            members: file.members,
            test_labels: file.test_labels,
            correctness,
            stats,
        })
    }
}

pub(crate) fn stats_of(members: &[MemberResult], matrix: &Correctness, labels: &[u8]) -> EnsembleStats {
    let steps: Vec<usize> = members.iter().map(|m| m.steps).collect();
    let reached: Vec<bool> = members.iter().map(|m| m.reached_target).collect();
    EnsembleStats::compute(matrix, labels, &steps, &reached)
}

/// How the test set is pushed through the trained models: `(models stacked, images per
/// batch)`. On the CPU (flex) each model runs alone as an ordinary network through the fused
/// block kernels (`kernels`), which fold BatchNorm into the convolution and stream the images
/// through per-thread buffers; so does a flex server that runs those kernels, where a model's
/// batch is then a handful of ops instead of the stacked network's dozens. A GPU wants big
/// stacked batches.
pub fn eval_plan(device: &SelectedDevice) -> (usize, usize) {
    match device.backend {
        Backend::Flex => (1, 500),
        Backend::Remote if crate::kernels::remote::served(&device.device) => (1, 500),
        _ => (10, 200),
    }
}

/// Trains models `range` of `config`, `stack` at a time (1 = one model at a time), and
/// returns each model's weights and outcome in model order.
pub fn train_members(
    config: &EnsembleConfig,
    train: &Digits,
    range: std::ops::Range<usize>,
    stack: usize,
    device: &Device,
    reporter: &mut Reporter,
) -> Result<Vec<Finished>, StudyError> {
    let arch = Architecture::of(&config.model);
    let total = range.len();
    let mut done: Vec<Finished> = Vec::with_capacity(total);
    let start = range.start;
    let members: Vec<usize> = range.collect();
    for chunk in members.chunks(stack.max(1)) {
        let init: Vec<PlainWeights> = chunk
            .iter()
            .map(|&i| arch.init(&mut Rng::derive(config.member_seed(i), 2)))
            .collect();
        let data: Vec<MemberData> = chunk
            .iter()
            .map(|&i| {
                let indices = config.member_sample(&train.labels, i);
                MemberData {
                    inputs: normalized_inputs(train, &indices, None),
                    labels: indices.iter().map(|&j| train.labels[j]).collect(),
                }
            })
            .collect();
        if data
            .iter()
            .any(|d| d.labels.len() != config.per_digit * NUM_CLASSES)
        {
            return Err(StudyError::Config(format!(
                "the training set has fewer than {} images of some digit",
                config.per_digit
            )));
        }
        let rngs = chunk
            .iter()
            .map(|&i| Rng::derive(config.member_seed(i), 3))
            .collect();
        let optimizer = AdamW {
            learning_rate: config.learning_rate,
            weight_decay: config.weight_decay,
        };
        let mut trainer = StackedTrainer::new(arch.clone(), init, data, rngs, optimizer, device);
        let mut finished: Vec<Finished> = Vec::new();
        while trainer.active() > 0 {
            reporter.check()?;
            let mut left = trainer.step(config.target_train_accuracy, config.max_steps);
            for f in &mut left {
                f.member = chunk[f.member]; // the trainer numbers its own members from 0
            }
            if let Some(bad) = left
                .iter()
                .find(|f| f.weights.params.iter().flatten().any(|v| !v.is_finite()))
            {
                return Err(StudyError::Diverged(format!(
                    "model {} produced non-finite weights after {} steps; lower the learning rate",
                    bad.member, bad.steps
                )));
            }
            finished.extend(left);
            let fraction_of_chunk = finished.len() as f64 / chunk.len() as f64;
            let models_done = done.len() as f64 + fraction_of_chunk * chunk.len() as f64;
            reporter.progress(
                format!(
                    "training: {} of {total} models done, step {}",
                    done.len() + finished.len(),
                    trainer.steps()
                ),
                TRAIN_SHARE * models_done / total as f64,
            );
        }
        finished.sort_by_key(|f| f.member);
        done.extend(finished);
    }
    debug_assert!(done.iter().enumerate().all(|(k, f)| f.member == start + k));
    Ok(done)
}

/// Share of the progress bar given to training (evaluation takes the rest).
const TRAIN_SHARE: f64 = 0.15;

/// Predicted digit of every model for every image of `test`: `[models][images]`.
pub fn predict_members(
    spec: &ModelSpec,
    weights: &[&PlainWeights],
    test: &Digits,
    (stack, batch): (usize, usize),
    device: &Device,
    reporter: &mut Reporter,
) -> Result<Vec<Vec<u8>>, StudyError> {
    let n = test.len();
    let mut predictions = vec![Vec::with_capacity(n); weights.len()];
    let total_work = (weights.len() * n) as f64;
    let mut work = 0.0;
    let arch = Architecture::of(spec);
    // The test set is normalised once, and goes to the device once for the models that run
    // alone: each batch is then a view of it there (a remote device receives it once, not
    // once per model and batch).
    let all: Vec<usize> = (0..n).collect();
    let inputs = normalized_inputs(test, &all, None);
    let mut on_device: Option<Tensor<4>> = None; // [n, 1, 28, 28]
    for (chunk_index, chunk) in weights.chunks(stack.max(1)).enumerate() {
        // One model alone runs as an ordinary network (the fused kernels on flex).
        let alone = match chunk {
            [one] => Some(Model::from_plain(spec, one, device).ok_or_else(|| {
                StudyError::Config("the trained weights do not fit the architecture".into())
            })?),
            _ => None,
        };
        let mut start = 0;
        while start < n {
            reporter.check()?;
            let end = (start + batch.max(1)).min(n);
            let logits = match &alone {
                Some(model) => model
                    .forward(
                        on_device
                            .get_or_insert_with(|| crate::data::batch::images_tensor(inputs.clone(), device))
                            .clone()
                            .narrow(0, start, end - start),
                    )
                    .into_data()
                    .iter::<f32>()
                    .collect(), // [images, 10]
                // [rows, images, 10]
                None => evaluate_stacked(&arch, chunk, &inputs[start * IMAGE_PIXELS..end * IMAGE_PIXELS], device),
            };
            let per_model = (end - start) * NUM_CLASSES;
            for (r, rows) in logits.chunks(per_model).enumerate() {
                predictions[chunk_index * stack.max(1) + r].extend(argmax_rows(rows));
            }
            work += (chunk.len() * (end - start)) as f64;
            reporter.progress(
                format!(
                    "evaluating: models {}-{} of {}, {end} of {n} test images",
                    chunk_index * stack.max(1) + 1,
                    chunk_index * stack.max(1) + chunk.len(),
                    weights.len()
                ),
                TRAIN_SHARE + (1.0 - TRAIN_SHARE) * work / total_work,
            );
            start = end;
        }
    }
    debug_assert!(predictions.iter().all(|p| p.len() == n));
    debug_assert_eq!(IMAGE_PIXELS, 784);
    Ok(predictions)
}

/// The folder, inside the results folder, holding the groups finished so far
/// ([`super::run`]).
pub const GROUPS_FOLDER: &str = "ensemble-groups";

/// Where a group of models trained and was evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupPlacement {
    /// The group's first model.
    pub models: usize,
    /// Models in the group.
    pub count: usize,
    /// The device.
    pub device: String,
    /// Seconds training and evaluating the group took there.
    pub seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_file_round_trips_and_rejects_damage() {
        let m = Correctness::from_rows(&[vec![true, false, true], vec![false, false, true]]);
        let bytes = matrix_bytes(&m);
        assert_eq!(parse_matrix(&bytes), Ok(m));
        assert!(
            parse_matrix(&bytes[..bytes.len() - 1])
                .unwrap_err()
                .contains("truncated")
        );
        assert!(parse_matrix(b"PNG....").unwrap_err().contains("MWCM"));
    }

    #[test]
    fn settings_are_checked() {
        let ok = EnsembleConfig::default();
        assert!(ok.validate().is_ok());
        for bad in [
            EnsembleConfig {
                models: 0,
                ..ok.clone()
            },
            EnsembleConfig {
                learning_rate: f64::NAN,
                ..ok.clone()
            },
            EnsembleConfig {
                target_train_accuracy: 1.5,
                ..ok.clone()
            },
            EnsembleConfig {
                max_steps: 0,
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err());
        }
    }
}
