//! Run folders: `config.json` (everything needed to reproduce the run), `metrics.jsonl`
//! (every event but per-step ones), `steps.csv` (every step), `model.bpk` and `optimizer.bpk` (burnpack, written after
//! each epoch), `summary.json`. Every file but the append-only metrics is written to a
//! temporary name and renamed.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::events::{EpochMetrics, Event};
use crate::data::DataSource;
use crate::fsutil::{append_line, atomic_write};
use crate::model::{Model, ModelSpec};

pub use super::run_list::{RUN_FILES, RunListing, RunState, delete_run_folder, deletion_refusal, list_runs};

/// Problems with run folders and checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Reading or writing failed.
    // The cause is part of the message (not a `source`), so error chains print it once.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A JSON file is damaged.
    #[error("{path}: not valid run JSON: {detail}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Parser message.
        detail: String,
    },
    /// The checkpoint is damaged or of another architecture.
    #[error("{path}: checkpoint does not load as {expected}: {detail}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// The architecture expected (from config.json).
        expected: String,
        /// What was found instead.
        detail: String,
    },
    /// A readable JSON file holds values the workbench refuses.
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field (as named on the command line).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// There is no checkpoint yet.
    #[error("{0}: no model.bpk in this run folder (did its first epoch finish?)")]
    NoCheckpoint(PathBuf),
}

/// `config.json`: the training config plus the data it saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    /// Program version that wrote it.
    pub version: String,
    /// UTC creation time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    /// The training configuration.
    pub train: TrainConfig,
    /// Where the data came from.
    pub data_source: DataSource,
    /// SHA-256 of the training images and labels.
    pub train_digest: String,
    /// SHA-256 of the test images and labels.
    pub test_digest: String,
    /// For a model imported from a PyTorch checkpoint: the file, its digest and the mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<crate::interop::ImportedFrom>,
}

impl RunConfig {
    /// The config of a new run of `train` on data from `data_source` with the given digests,
    /// stamped with the current time and this program's version.
    pub fn new(
        train: TrainConfig,
        data_source: DataSource,
        train_digest: String,
        test_digest: String,
    ) -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").into(),
            created: utc_timestamp(),
            train,
            data_source,
            train_digest,
            test_digest,
            imported_from: None,
        }
    }

    /// [`RunConfig::new`] with the digests computed from `data`.
    pub fn for_dataset(train: TrainConfig, data: &crate::data::Dataset) -> Self {
        Self::new(
            train,
            data.source.clone(),
            data.train.digest(),
            data.test.digest(),
        )
    }
}

/// `summary.json`: how the run ended and its best figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    /// The final event (`finished` or `failed`).
    pub outcome: Event,
    /// Epoch metrics of the last finished epoch.
    pub last_epoch: Option<EpochMetrics>,
    /// Best test accuracy over the epochs.
    pub best_test_accuracy: Option<f64>,
}

/// A run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The folder.
    pub path: PathBuf,
}

/// Current UTC time as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, no time zone database).
pub fn utc_timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |cause| RunError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

pub(super) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, RunError> {
    let text = crate::fsutil::read_text_capped(path, crate::fsutil::limits::JSON_BYTES).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| RunError::Json {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RunError> {
    let text = serde_json::to_string_pretty(value).expect("run files serialise");
    atomic_write(path, text.as_bytes()).map_err(io(path))
}

impl RunDir {
    /// Creates a new run folder under `root`, named by time, model and seed, and writes
    /// `config.json`.
    pub fn create(root: &Path, config: &RunConfig) -> Result<Self, RunError> {
        let model = config
            .train
            .model
            .preset_name()
            .unwrap_or(match config.train.model {
                ModelSpec::Mlp { .. } => "mlp-custom",
                ModelSpec::Cnn { .. } => "cnn-custom",
            });
        let stamp: String = config.created.chars().filter(|c| c.is_ascii_digit()).collect();
        let base = format!(
            "{}-{}-{model}-seed{}",
            &stamp[..8],
            &stamp[8..14],
            config.train.seed
        );
        std::fs::create_dir_all(root).map_err(io(root))?;
        let mut path = root.join(&base);
        let mut n = 1;
        while path.exists() {
            n += 1;
            path = root.join(format!("{base}-{n}"));
        }
        std::fs::create_dir(&path).map_err(io(&path))?;
        let dir = Self { path };
        write_json(&dir.config_path(), config)?;
        Ok(dir)
    }

    /// Creates run folder `root/name` (or `name-2`, … when taken) all at once: `config.json`
    /// and whatever `write` puts in it are written into a temporary folder that is renamed
    /// into place only when everything succeeded, so a failure leaves no half-written run.
    pub fn create_with_model(
        root: &Path,
        name: &str,
        config: &RunConfig,
        write: impl FnOnce(&RunDir) -> Result<(), RunError>,
    ) -> Result<Self, RunError> {
        std::fs::create_dir_all(root).map_err(io(root))?;
        let partial = root.join(format!(".{name}.partial-{}", std::process::id()));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
        }
        std::fs::create_dir(&partial).map_err(io(&partial))?;
        let staged = Self {
            path: partial.clone(),
        };
        let filled = write_json(&staged.config_path(), config).and_then(|()| write(&staged));
        if let Err(e) = filled {
            let _ = std::fs::remove_dir_all(&partial); // best effort: the error says what failed
            return Err(e);
        }
        let mut path = root.join(name);
        let mut n = 1;
        while path.exists() {
            n += 1;
            path = root.join(format!("{name}-{n}"));
        }
        std::fs::rename(&partial, &path).map_err(io(&path))?;
        Ok(Self { path })
    }

    /// Opens an existing run folder (checks `config.json` is there and readable).
    pub fn open(path: &Path) -> Result<(Self, RunConfig), RunError> {
        let dir = Self {
            path: path.to_path_buf(),
        };
        let config: RunConfig = read_json(&dir.config_path())?;
        // A hand-edited or damaged config must not reach burn (which panics on, e.g., a
        // dropout of 1): the same checks as a new run's.
        config.train.validate().map_err(|e| RunError::Invalid {
            path: dir.config_path(),
            field: e.field.to_string(),
            message: e.message,
        })?;
        config.data_source.validate().map_err(|(field, message)| RunError::Invalid {
            path: dir.config_path(),
            field,
            message,
        })?;
        Ok((dir, config))
    }

    /// `config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }
    /// `model.bpk`.
    pub fn model_path(&self) -> PathBuf {
        self.path.join("model.bpk")
    }
    /// `optimizer.bpk`.
    pub fn optimizer_path(&self) -> PathBuf {
        self.path.join("optimizer.bpk")
    }
    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }
    /// `steps.csv` (every step's scalars; see [`super::step_log`]).
    pub fn steps_path(&self) -> PathBuf {
        self.path.join("steps.csv")
    }
    /// `summary.json`.
    pub fn summary_path(&self) -> PathBuf {
        self.path.join("summary.json")
    }

    /// Appends an event to `metrics.jsonl`.
    pub fn append_event(&self, event: &Event) -> Result<(), RunError> {
        let line = serde_json::to_string(event).expect("events serialise");
        append_line(&self.metrics_path(), &line).map_err(io(&self.metrics_path()))
    }

    /// All events recorded so far (a torn last line is skipped).
    pub fn read_events(&self) -> Result<Vec<Event>, RunError> {
        let path = self.metrics_path();
        if !path.exists() {
            return Ok(Vec::new());
        }
        // Damaged bytes cost only the lines they fall in.
        let bytes = crate::fsutil::read_capped(&path, crate::fsutil::limits::LOG_BYTES).map_err(io(&path))?;
        let text = String::from_utf8_lossy(&bytes);
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Every event of the run in order, steps included: `metrics.jsonl` merged with
    /// `steps.csv` (older run folders have no step file and give their epoch events only).
    pub fn read_history(&self) -> Result<Vec<Event>, RunError> {
        let events = self.read_events()?;
        let steps = super::step_log::read_steps(&self.steps_path()).map_err(io(&self.steps_path()))?;
        Ok(super::step_log::merge_steps(events, &steps))
    }

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
        let digest_of = |path: PathBuf| crate::fsutil::read_capped(&path, crate::fsutil::limits::WEIGHTS_BYTES).ok().map(|b| crate::data::sha256_hex(&b));
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
        let model = crate::fsutil::read_capped(&self.model_path(), crate::fsutil::limits::WEIGHTS_BYTES).map_err(io(&self.model_path()))?;
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

    /// Writes `summary.json` from the final event and the recorded epochs.
    pub fn write_summary(&self, outcome: &Event) -> Result<(), RunError> {
        let epochs: Vec<EpochMetrics> = self
            .read_events()?
            .into_iter()
            .filter_map(|e| match e {
                Event::Epoch { metrics, .. } => Some(metrics),
                _ => None,
            })
            .collect();
        let best = epochs
            .iter()
            .filter_map(|m| m.test_accuracy)
            .fold(None, |b: Option<f64>, a| Some(b.map_or(a, |b| b.max(a))));
        let summary = RunSummary {
            outcome: outcome.clone(),
            last_epoch: epochs.last().cloned(),
            best_test_accuracy: best,
        };
        write_json(&self.summary_path(), &summary)
    }

    /// Reads `summary.json`, if the run has ended.
    pub fn read_summary(&self) -> Result<Option<RunSummary>, RunError> {
        if !self.summary_path().exists() {
            return Ok(None);
        }
        read_json(&self.summary_path()).map(Some)
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
        let Ok(manifest) = read_json::<CheckpointManifest>(&manifest_path) else {
            return Ok(()); // a damaged manifest only costs the check
        };
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
    let record = std::panic::catch_unwind(|| {
        burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
    })
    .map_err(|_| checkpoint_err("the file is damaged (reader panicked)".into()))?
    .map_err(|e| checkpoint_err(format!("the file is damaged or not burnpack ({e})")))?;
    let load = |model: Model, record| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.try_load_record(record)))
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
        return Err(checkpoint_err(format!("trainable tensor #{i} holds NaN or infinite values")));
    }
    if let Some(i) = bad(&plain.running) {
        return Err(checkpoint_err(format!("BatchNorm statistics #{i} hold NaN or infinite values")));
    }
    Ok(model)
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
