//! Checkpoints in a run folder: `model.bpk` and `optimizer.bpk` (burnpack, each written
//! atomically after every epoch) and `checkpoint.json`, which records the digests of the pair
//! being saved and of the pair before it, so a crash between the two renames is detected
//! when resuming and damaged weights are refused when loading. Also loose model files
//! ([`save_model`], [`load_model`]) and a model saved as a new run ([`save_model_as_run`]).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::config::RunConfig;
use super::dir::RunDir;
use super::json::{read_json, write_json};
use super::{RunError, io};
use crate::fsutil::atomic_write;
use crate::model::{Model, ModelSpec};

impl RunDir {
    /// Saves model and optimiser state after an epoch (each atomically).
    pub fn save_checkpoint(&self, model: &Model, optim: &ModuleOptimizer) -> Result<(), RunError> {
        let model_bytes = model_bytes(model, &self.model_path())?;
        let optimizer_bytes = optim.clone().into_bytes().map_err(|e| RunError::Io {
            path: self.optimizer_path(),
            cause: std::io::Error::other(e.to_string()),
        })?;
        // The two files are renamed one after the other. `checkpoint.json`, written first,
        // records the pair being saved and the pair on disk before it, so whenever a crash
        // comes the files on disk are one of the two pairs (valid), or the new model with the
        // old optimiser state, which loads but is refused for resuming.
        let digest_of = |path: PathBuf| {
            crate::fsutil::read_capped(&path, crate::fsutil::limits::WEIGHTS_BYTES)
                .ok()
                .map(|b| crate::data::sha256_hex(&b))
        };
        let previous = match (digest_of(self.model_path()), digest_of(self.optimizer_path())) {
            (Some(model_sha256), Some(optimizer_sha256)) => Some(CheckpointPair {
                model_sha256,
                optimizer_sha256,
            }),
            _ => None,
        };
        let manifest = CheckpointManifest {
            current: CheckpointPair {
                model_sha256: crate::data::sha256_hex(&model_bytes),
                optimizer_sha256: crate::data::sha256_hex(&optimizer_bytes),
            },
            previous,
        };
        write_json(&self.checkpoint_manifest_path(), &manifest)?;
        atomic_write(&self.model_path(), &model_bytes).map_err(io(&self.model_path()))?;
        atomic_write(&self.optimizer_path(), &optimizer_bytes).map_err(io(&self.optimizer_path()))
    }

    /// `checkpoint.json`: the digests of the model and optimiser files saved together.
    pub fn checkpoint_manifest_path(&self) -> PathBuf {
        self.path.join("checkpoint.json")
    }

    /// The optimiser state to resume with: `None` when the run has none; refused when
    /// `checkpoint.json` says model.bpk and optimizer.bpk were not saved together.
    pub fn resume_optimizer_bytes(&self) -> Result<Option<Vec<u8>>, RunError> {
        let Some(optimizer) = self.optimizer_bytes()? else {
            return Ok(None);
        };
        let manifest_path = self.checkpoint_manifest_path();
        if !manifest_path.exists() {
            return Ok(Some(optimizer)); // run folders from before the manifest
        }
        let manifest: CheckpointManifest = read_json(&manifest_path)?;
        let model = crate::fsutil::read_capped(&self.model_path(), crate::fsutil::limits::WEIGHTS_BYTES)
            .map_err(io(&self.model_path()))?;
        let on_disk = CheckpointPair {
            model_sha256: crate::data::sha256_hex(&model),
            optimizer_sha256: crate::data::sha256_hex(&optimizer),
        };
        let pair_ok = on_disk == manifest.current || Some(&on_disk) == manifest.previous.as_ref();
        if !pair_ok {
            return Err(RunError::Invalid {
                path: manifest_path,
                field: "model.bpk / optimizer.bpk".into(),
                message: "the model and optimiser files were not saved together (a crash between \
                          their writes?); the model still opens, but resuming would mix two epochs"
                    .into(),
            });
        }
        Ok(Some(optimizer))
    }

    /// Loads the checkpoint into a model built from `spec` on `device`.
    pub fn load_model(&self, spec: &ModelSpec, device: &Device) -> Result<Model, RunError> {
        if !self.model_path().exists() {
            return Err(RunError::NoCheckpoint(self.path.clone()));
        }
        self.check_model_digest(spec)?;
        load_model(&self.model_path(), spec, device)
    }

    /// Where `checkpoint.json` records the digest of the model saved with it, `model.bpk`
    /// must still have it: weights damaged on disk are refused, not silently used.
    fn check_model_digest(&self, spec: &ModelSpec) -> Result<(), RunError> {
        let manifest_path = self.checkpoint_manifest_path();
        if !manifest_path.exists() {
            return Ok(()); // imported and saved models, and runs from before the manifest
        }
        // A manifest that is there but unreadable is no licence to skip the check: the
        // weights it vouches for may be as damaged as it is.
        let manifest = read_json::<CheckpointManifest>(&manifest_path).map_err(|e| RunError::Checkpoint {
            path: self.model_path(),
            expected: "the weights recorded in checkpoint.json".into(),
            detail: format!(
                "checkpoint.json, which records their SHA-256, cannot be read ({}); remove it to \
                 load model.bpk unchecked",
                RunError::from(e)
            ),
        })?;
        let bytes = read_model_file(&self.model_path(), spec)?;
        let digest = crate::data::sha256_hex(&bytes);
        let known = digest == manifest.current.model_sha256
            || manifest
                .previous
                .as_ref()
                .is_some_and(|p| p.model_sha256 == digest);
        if !known {
            return Err(RunError::Checkpoint {
                path: self.model_path(),
                expected: "the weights recorded in checkpoint.json".into(),
                detail: format!(
                    "its SHA-256 is {digest}, checkpoint.json recorded {}: the file changed or was damaged after it was saved",
                    manifest.current.model_sha256
                ),
            });
        }
        Ok(())
    }

    /// The saved optimiser state: `None` when the run has none; an `optimizer.bpk` that is
    /// there but cannot be read (a FIFO, a device, over the size cap) is an error naming it,
    /// never a silent fresh start.
    pub fn optimizer_bytes(&self) -> Result<Option<Vec<u8>>, RunError> {
        let path = self.optimizer_path();
        match crate::fsutil::read_capped(&path, crate::fsutil::limits::WEIGHTS_BYTES) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }
}

/// `checkpoint.json`: the model and optimiser files being saved together, and the pair that
/// was on disk before them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CheckpointManifest {
    current: CheckpointPair,
    previous: Option<CheckpointPair>,
}

/// The digests of a model file and the optimiser file saved with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CheckpointPair {
    model_sha256: String,
    optimizer_sha256: String,
}

/// A model's weights as burnpack bytes (`path` names the file in errors).
fn model_bytes(model: &Model, path: &Path) -> Result<Vec<u8>, RunError> {
    model
        .clone()
        .into_record()
        .into_bytes()
        .map(|bytes| bytes.to_vec())
        .map_err(|e| RunError::Io {
            path: path.to_path_buf(),
            cause: std::io::Error::other(e.to_string()),
        })
}

/// Saves a model's weights as burnpack, atomically.
pub fn save_model(model: &Model, path: &Path) -> Result<(), RunError> {
    let bytes = model_bytes(model, path)?;
    atomic_write(path, &bytes).map_err(io(path))
}

/// Reads a `model.bpk` that should hold `spec`'s weights: a file larger than twice their f32
/// size plus 1 MiB (burnpack's names and headers) cannot be that network and is refused
/// before it is read, naming the file, however large it is or grows while being read.
fn read_model_file(path: &Path, spec: &ModelSpec) -> Result<Vec<u8>, RunError> {
    let values = (spec.param_count() + spec.batch_norm_statistics()) as u64;
    let cap = values.saturating_mul(8).saturating_add(1 << 20);
    crate::fsutil::read_capped(path, cap).map_err(io(path))
}

/// Loads burnpack weights into a fresh model of `spec`. Damaged files and checkpoints of
/// another architecture give [`RunError::Checkpoint`] naming the expected architecture and
/// what did not fit.
pub fn load_model(path: &Path, spec: &ModelSpec, device: &Device) -> Result<Model, RunError> {
    let bytes = read_model_file(path, spec)?;
    let expected = spec.describe();
    let checkpoint_err = |detail: String| RunError::Checkpoint {
        path: path.to_path_buf(),
        expected: expected.clone(),
        detail,
    };
    let record = crate::panics::catch(|| {
        burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
    })
    .map_err(|_| checkpoint_err("the file is damaged (reader panicked)".into()))?
    .map_err(|e| checkpoint_err(format!("the file is damaged or not burnpack ({e})")))?;
    let load = |model: Model, record| {
        crate::panics::catch(|| model.try_load_record(record))
            .map_err(|_| checkpoint_err("the weights do not fit (loader panicked)".into()))?
            .map_err(|e| checkpoint_err(format!("found weights of another shape: {e}")))
    };
    // Checkpoints saved before convolutions in front of BatchNorm lost their bias still hold
    // one: they load into zero bias slots, which are then folded into the running mean (a
    // checkpoint without them leaves the slots at zero, and folding zero changes nothing).
    let model = match load(spec.init(device).with_conv_bias_slots(), record.clone()) {
        Ok(model) => model.fold_conv_bias(),
        Err(_) => load(spec.init(device), record)?,
    };
    // NaN or infinite weights would answer every image with NaN logits (read as digit 0):
    // refused here, whether or not a checkpoint.json guards the file.
    let plain = model.to_plain();
    let bad = |tensors: &[Vec<f32>]| tensors.iter().position(|t| t.iter().any(|v| !v.is_finite()));
    if let Some(i) = bad(&plain.params) {
        return Err(checkpoint_err(format!(
            "trainable tensor #{i} holds NaN or infinite values"
        )));
    }
    if let Some(i) = bad(&plain.running) {
        return Err(checkpoint_err(format!(
            "BatchNorm statistics #{i} hold NaN or infinite values"
        )));
    }
    // Finite weights can still overflow on the way through (values near f32's limit).
    use crate::model::plain::{OutputCheck, check_outputs};
    match check_outputs(spec, &plain) {
        OutputCheck::Finite => Ok(model),
        OutputCheck::NonFiniteOn(input) => Err(checkpoint_err(format!(
            "its weights make the network's outputs non-finite on {input} (values near f32's limit?)"
        ))),
        OutputCheck::DoesNotFit => Err(checkpoint_err("the weights do not fit the architecture".into())),
    }
}

/// Writes `model` with `config` as a new run folder at `path` (config.json, model.bpk, and
/// the source run's `summary.json` when given, so the Runs list shows its figures), all or
/// nothing; an existing `path` is refused and left untouched.
pub fn save_model_as_run(
    model: &Model,
    config: &RunConfig,
    path: &Path,
    summary_from: Option<&Path>,
) -> Result<(), RunError> {
    let text = serde_json::to_string_pretty(config).map_err(|e| RunError::Json {
        path: path.join("config.json"),
        detail: e.to_string(),
    })?;
    let weights = model_bytes(model, &path.join("model.bpk"))?;
    let summary = match summary_from.filter(|p| p.is_file()) {
        Some(p) => Some(crate::fsutil::read_capped(p, crate::fsutil::limits::JSON_BYTES).map_err(io(p))?),
        None => None,
    };
    let mut files: Vec<(&str, &[u8])> = vec![("config.json", text.as_bytes()), ("model.bpk", &weights)];
    if let Some(summary) = &summary {
        files.push(("summary.json", summary));
    }
    crate::fsutil::write_folder_atomically(path, &files, false).map_err(|cause| RunError::Io {
        path: path.to_path_buf(),
        cause: if cause.kind() == std::io::ErrorKind::AlreadyExists {
            std::io::Error::new(
                cause.kind(),
                "already exists; choose a new folder name (nothing was overwritten)",
            )
        } else {
            cause
        },
    })
}
