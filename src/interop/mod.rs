//! Models in and out of PyTorch: [`import_checkpoint`] reads a notebook's `state_dict`
//! (`torch.save`, `.pt`/`.pth`) or a `.safetensors` file, matches its tensors to one of our
//! architectures and [`write_imported_run`] makes it an ordinary run folder; [`export`] writes
//! a run's model with PyTorch's names and layouts plus a `model.py` that rebuilds it as an
//! `nn.Module`.

pub mod checkpoint;
pub mod export;
pub mod matching;
mod raw;
mod safetensors_file;
mod torch_file;
mod zip_scan;

use std::path::{Path, PathBuf};

pub use checkpoint::{Checkpoint, Format, read_checkpoint};
pub use export::{ExportError, Exported, export};
pub use matching::Mapped;

use crate::model::plain::PlainWeights;
use crate::model::{Model, ModelSpec};
use crate::run::naming::{stamped_name, utc_timestamp};
use crate::run::{ImportedFrom, RunConfig, RunDir, RunError, save_model};
use crate::train::TrainConfig;

/// Why a checkpoint cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read.
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    /// The file is damaged, too large or not a checkpoint.
    #[error("{path}: {reason}")]
    Damaged { path: PathBuf, reason: String },
    /// The tensors do not make the architecture asked for (or any the workbench builds).
    #[error("{0}")]
    Mismatch(String),
    /// Writing the run folder failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

impl ImportError {
    pub(crate) fn io(path: &Path, cause: std::io::Error) -> Self {
        ImportError::Io {
            path: path.to_path_buf(),
            cause,
        }
    }

    pub(crate) fn damaged(path: &Path, reason: impl Into<String>) -> Self {
        ImportError::Damaged {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// Which architecture to read the checkpoint as.
#[derive(Debug, Clone, PartialEq)]
pub enum ArchChoice {
    /// Exactly this architecture (`--arch seed3-cnn`, `--arch mlp:128,64`, …).
    Spec(ModelSpec),
    /// The one the checkpoint alone determines (refused when it does not).
    Auto,
}

impl std::str::FromStr for ArchChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            return Ok(ArchChoice::Auto);
        }
        ModelSpec::parse(s).map(ArchChoice::Spec)
    }
}

/// A checkpoint read as one of our architectures.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The architecture the weights fill: asked for, or inferred.
    pub spec: ModelSpec,
    /// Whether `--arch auto` inferred it.
    pub inferred: bool,
    /// The weights in our order.
    pub weights: PlainWeights,
    /// Which layer took which module.
    pub mapping: Vec<Mapped>,
    /// The file, its digest and its integer tensors left out.
    pub source: Checkpoint,
}

impl Imported {
    /// The mapping as printable lines: `ours ← theirs [shape] (note)`, after a line saying
    /// where in the file the state dict was found when it was not the file's top level
    /// (`(state dict taken from 'model_state_dict')`), and followed by a line per tensor left
    /// out for its dtype other than BatchNorm's `num_batches_tracked` counters.
    pub fn mapping_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .source
            .source_note()
            .map(|n| format!("({n})"))
            .into_iter()
            .collect();
        lines.extend(self.mapping.iter().map(|m| {
            let note = if m.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", m.note)
            };
            format!("{:<6} <- {} {:?}{note}", m.ours, m.theirs, m.shape)
        }));
        lines.extend(
            self.source
                .notable_skipped()
                .map(|name| format!("(skipped {name}: not a float tensor)")),
        );
        lines
    }

    /// The network on `device`.
    pub fn model(&self, device: &burn::tensor::Device) -> Model {
        Model::from_plain(&self.spec, &self.weights, device).expect("matched to this architecture")
    }
}

/// Reads `path` and matches its tensors to `arch`; `maps` (`ours`, `theirs`) settle layers by
/// hand. Nothing is written.
pub fn import_checkpoint(
    path: &Path,
    arch: &ArchChoice,
    maps: &[(String, String)],
) -> Result<Imported, ImportError> {
    let checkpoint = read_checkpoint(path)?;
    // What does not fit is said of this file.
    let of_this_file = |e: ImportError| match e {
        ImportError::Mismatch(reason) => ImportError::Mismatch(format!("{}: {reason}", path.display())),
        other => other,
    };
    let (spec, weights, mapping, inferred) = (|| {
        let modules = matching::modules(&checkpoint)?;
        let (spec, inferred) = match arch {
            ArchChoice::Spec(spec) => {
                spec.validate().map_err(ImportError::Mismatch)?;
                (spec.clone(), false)
            }
            ArchChoice::Auto => (matching::infer_spec(&modules)?, true),
        };
        let slots = matching::slots(&spec);
        let assigned = matching::assign(&slots, &modules, maps)?;
        matching::check_statistics(&assigned).map_err(|reason| ImportError::damaged(path, reason))?;
        let (weights, mapping) = matching::plain_weights(&spec, &slots, &assigned);
        Ok((spec, weights, mapping, inferred))
    })()
    .map_err(of_this_file)?;
    let finite = |v: &Vec<f32>| v.iter().all(|x| x.is_finite());
    if !weights.params.iter().chain(&weights.running).all(finite) {
        return Err(ImportError::damaged(
            path,
            "its weights hold NaN or infinite values once a convolution's bias is folded into BatchNorm's running mean",
        ));
    }
    outputs_are_finite(path, &spec, &weights, &checkpoint)?;
    Ok(Imported {
        spec,
        inferred,
        weights,
        mapping,
        source: checkpoint,
    })
}

/// Refuses weights that make the network's logits non-finite
/// ([`crate::model::plain::check_outputs`]) before they can be evaluated into a
/// meaningless "loss 2.3026, accuracy 0.10". The message names the tensor with the largest
/// magnitude, the likely culprit.
fn outputs_are_finite(
    path: &Path,
    spec: &ModelSpec,
    weights: &PlainWeights,
    checkpoint: &Checkpoint,
) -> Result<(), ImportError> {
    use crate::model::plain::{OutputCheck, check_outputs};
    let input = match check_outputs(spec, weights) {
        OutputCheck::Finite => return Ok(()),
        OutputCheck::DoesNotFit => {
            return Err(ImportError::Mismatch(format!("the weights do not make a {}", spec.describe())));
        }
        OutputCheck::NonFiniteOn(input) => input,
    };
    let largest = checkpoint
        .tensors
        .iter()
        .filter(|t| !t.values.is_empty())
        .map(|t| (t.values.iter().fold(0.0f32, |m, v| m.max(v.abs())), &t.name))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let culprit = largest.map_or_else(String::new, |(peak, name)| {
        format!("; the largest magnitude is {peak:e}, in tensor {name}")
    });
    Err(ImportError::damaged(
        path,
        format!("its weights make the network's outputs non-finite on {input}{culprit}"),
    ))
}

/// Writes `imported` as a run folder under `root` (built under a temporary name and renamed,
/// so a failure leaves nothing half-written): `config.json` with the architecture and
/// `imported_from`, and `model.bpk`. `eval`, `report`, `probe`, the experiments and the app then
/// use it like any trained run.
pub fn write_imported_run(imported: &Imported, root: &Path) -> Result<RunDir, ImportError> {
    let device = crate::device::flex().device;
    let model = imported.model(&device);
    let train = TrainConfig {
        model: imported.spec.clone(),
        ..TrainConfig::default()
    };
    let file_name = imported
        .source
        .file
        .file_name()
        .map_or_else(|| "checkpoint".into(), |n| n.to_string_lossy().into_owned());
    let source = crate::data::DataSource::Elsewhere {
        note: format!("imported from {file_name}"),
    };
    let mut config = RunConfig::new(train, source, String::new(), String::new());
    config.imported_from = Some(ImportedFrom {
        file: file_name.clone(),
        sha256: imported.source.sha256.clone(),
        mapping: imported.mapping_lines(),
    });
    let stem: String = Path::new(&file_name)
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let name = stamped_name(&utc_timestamp(), &format!("imported-{stem}"));
    Ok(RunDir::create_with_model(root, &name, &config, |dir| {
        save_model(&model, &dir.model_path())
    })?)
}
