//! A workbench model for a notebook: `.safetensors` with PyTorch's names and layouts (linear
//! weights `[out, in]`, BatchNorm's `num_batches_tracked`) and a `model.py` beside it that
//! defines the matching `nn.Module` and loads the file, so PyTorch computes the same logits.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use safetensors::Dtype;
use safetensors::tensor::TensorView;

use crate::fsutil::atomic_write;
use crate::model::ModelSpec;
use crate::model::plain::{Architecture, PlainWeights};
use crate::textfmt::{python_file_name_expr, python_str_body, python_str_literal};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A file exists and overwriting was not asked for.
    #[error("{0} exists; choose another name or allow overwriting")]
    Exists(PathBuf),
    /// The file name is a symbolic link (perhaps one whose target does not exist) and
    /// overwriting was not asked for: a write would replace the link, not go through it.
    #[error(
        "{path} is a symbolic link (to {}); nothing was written. Choose another name, or allow \
         overwriting to replace the link itself with the file (its target is left alone)",
        target.as_deref().map_or_else(|| "somewhere unreadable".into(), |t| t.display().to_string())
    )]
    Symlink {
        path: PathBuf,
        /// Where it points, when that can be read.
        target: Option<PathBuf>,
    },
    /// The target name is not a `.safetensors` file.
    #[error("{0}: the export is a .safetensors file (and a model.py beside it)")]
    NotSafetensors(PathBuf),
    /// Writing a file failed (permissions, disk full).
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    /// The weights do not fit the architecture (a damaged run).
    #[error("the weights do not fit {0}")]
    Mismatch(String),
}

/// The files an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// The `.safetensors` file: PyTorch names and layouts.
    pub weights: PathBuf,
    /// The `nn.Module` definition and loader.
    pub module: PathBuf,
}

/// Our layer names in the exported file: `conv1`, `bn1`, …, then `fc` and `out` for a CNN;
/// `fc1`, …, `out` for an MLP (the names `model.py` gives its layers).
fn layer_names(arch: &Architecture) -> (Vec<String>, Vec<String>) {
    let convs = (1..=arch.convs.len()).map(|i| format!("conv{i}")).collect();
    let layers = arch.dense.len();
    let dense = (0..layers)
        .map(|i| match (i + 1 == layers, arch.convs.is_empty()) {
            (true, _) => "out".to_string(),
            (false, false) => "fc".to_string(),
            (false, true) => format!("fc{}", i + 1),
        })
        .collect();
    (convs, dense)
}

/// A tensor as exported: PyTorch name, shape and f32 values.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Named tensors with PyTorch's names and layouts; BatchNorm's `num_batches_tracked` (an int64
/// scalar) is added when the file is written.
pub fn pytorch_tensors(spec: &ModelSpec, weights: &PlainWeights) -> Result<Vec<NamedTensor>, ExportError> {
    let arch = Architecture::of(spec);
    if !arch.fits(weights) {
        return Err(ExportError::Mismatch(spec.describe()));
    }
    let (conv_names, dense_names) = layer_names(&arch);
    let mut params = weights.params.iter();
    let mut running = weights.running.iter();
    let mut next = || params.next().expect("checked by fits").clone();
    let mut out = Vec::new();
    for (i, &[inputs, outputs]) in arch.convs.iter().enumerate() {
        let k = arch.kernel;
        out.push((
            format!("{}.weight", conv_names[i]),
            vec![outputs, inputs, k, k],
            next(),
        ));
        if arch.batch_norm {
            let bn = format!("bn{}", i + 1);
            out.push((format!("{bn}.weight"), vec![outputs], next()));
            out.push((format!("{bn}.bias"), vec![outputs], next()));
            out.push((
                format!("{bn}.running_mean"),
                vec![outputs],
                running.next().expect("fits").clone(),
            ));
            out.push((
                format!("{bn}.running_var"),
                vec![outputs],
                running.next().expect("fits").clone(),
            ));
        } else {
            out.push((format!("{}.bias", conv_names[i]), vec![outputs], next()));
        }
    }
    for (i, &[inputs, outputs]) in arch.dense.iter().enumerate() {
        let ours = next(); // [in, out]
        let mut transposed = vec![0.0f32; ours.len()];
        for r in 0..inputs {
            for c in 0..outputs {
                transposed[c * inputs + r] = ours[r * outputs + c];
            }
        }
        out.push((
            format!("{}.weight", dense_names[i]),
            vec![outputs, inputs],
            transposed,
        ));
        out.push((format!("{}.bias", dense_names[i]), vec![outputs], next()));
    }
    Ok(out)
}

/// Writes `to` (a `.safetensors` file) and `model.py` beside it. Unless `overwrite`, nothing
/// is written when either name is taken, by a file, a folder or a symbolic link (dangling or
/// not: the check does not follow links); with it, a link is replaced by the file, never written
/// through. Each file is written to a temporary name and renamed; a missing folder is made
/// first.
pub fn export(
    spec: &ModelSpec,
    weights: &PlainWeights,
    to: &Path,
    overwrite: bool,
) -> Result<Exported, ExportError> {
    if to.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(ExportError::NotSafetensors(to.to_path_buf()));
    }
    let module = to.with_file_name("model.py");
    for path in [to, module.as_path()] {
        refuse_to_replace(path, overwrite)?;
    }
    let tensors = pytorch_tensors(spec, weights)?;
    let bytes: Vec<(String, Vec<usize>, Vec<u8>, Dtype)> = tensors
        .into_iter()
        .map(|(name, shape, values)| {
            let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, shape, raw, Dtype::F32)
        })
        .chain(
            (1..=Architecture::of(spec).convs.len())
                .filter(|_| Architecture::of(spec).batch_norm)
                .map(|i| {
                    (
                        format!("bn{i}.num_batches_tracked"),
                        Vec::new(),
                        0i64.to_le_bytes().to_vec(),
                        Dtype::I64,
                    )
                }),
        )
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(name, shape, raw, dtype)| {
            let view = TensorView::new(*dtype, shape.clone(), raw).expect("shape and bytes agree");
            (name.clone(), view)
        })
        .collect();
    let metadata = std::collections::HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("mnist_workbench_architecture".to_string(), spec.arch_string()),
    ]);
    let serialized = safetensors::serialize(views, Some(metadata)).map_err(|e| ExportError::Io {
        path: to.to_path_buf(),
        cause: std::io::Error::other(e.to_string()),
    })?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| ExportError::Io { path, cause }
    };
    // `--to exported/model.safetensors` makes `exported/`, as `--out` does elsewhere; only
    // now, so a refusal above makes nothing.
    if let Some(folder) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(io(folder))?;
    }
    atomic_write(to, &serialized).map_err(io(to))?;
    let file_name = to.file_name().unwrap_or_default();
    atomic_write(&module, module_source(spec, file_name).as_bytes()).map_err(io(&module))?;
    Ok(Exported {
        weights: to.to_path_buf(),
        module,
    })
}

/// Refuses, unless `overwrite`, to replace whatever is at `path`. The check does not follow
/// symbolic links (`symlink_metadata`), so a link counts as something there even when its
/// target does not exist: writing would replace the link, which is never done unasked.
/// A path that cannot be examined (say, a folder without permission) is refused too, with the
/// reason.
fn refuse_to_replace(path: &Path, overwrite: bool) -> Result<(), ExportError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(cause) => Err(ExportError::Io {
            path: path.to_path_buf(),
            cause,
        }),
        Ok(_) if overwrite => Ok(()),
        Ok(m) if m.file_type().is_symlink() => Err(ExportError::Symlink {
            path: path.to_path_buf(),
            target: std::fs::read_link(path).ok(),
        }),
        Ok(_) => Err(ExportError::Exists(path.to_path_buf())),
    }
}

/// The text of `model.py` for `spec`, loading the weights from `weights_file`, a file name
/// (no folder) beside `model.py`. Every value written into the Python source goes through
/// [`crate::textfmt`]'s writers: the weights file's name is a Python expression that gives back
/// exactly that name ([`python_file_name_expr`]; quotes, backslashes, line breaks and bytes
/// that are not UTF-8 included), so no name can break the module or run code on `import`.
pub fn module_source(spec: &ModelSpec, weights_file: impl AsRef<OsStr>) -> String {
    let arch = Architecture::of(spec);
    let (conv_names, dense_names) = layer_names(&arch);
    let mut layers = Vec::new();
    let mut forward = Vec::new();
    let k = arch.kernel;
    for (i, &[inputs, outputs]) in arch.convs.iter().enumerate() {
        let conv = &conv_names[i];
        let bias = if arch.batch_norm { ", bias=False" } else { "" };
        layers.push(format!(
            "self.{conv} = nn.Conv2d({inputs}, {outputs}, {k}, padding={}{bias})",
            k / 2
        ));
        let normalised = if arch.batch_norm {
            layers.push(format!("self.bn{} = nn.BatchNorm2d({outputs})", i + 1));
            format!("self.bn{}(self.{conv}(x))", i + 1)
        } else {
            format!("self.{conv}(x)")
        };
        forward.push(format!("x = F.max_pool2d(F.relu({normalised}), 2)"));
    }
    forward.push("x = x.flatten(1)".to_string());
    let last = arch.dense.len() - 1;
    for (i, &[inputs, outputs]) in arch.dense.iter().enumerate() {
        layers.push(format!(
            "self.{} = nn.Linear({inputs}, {outputs})",
            dense_names[i]
        ));
        if i < last {
            forward.push(format!("x = self.dropout(F.relu(self.{}(x)))", dense_names[i]));
        } else {
            forward.push(format!("return self.{}(x)", dense_names[i]));
        }
    }
    layers.push(format!("self.dropout = nn.Dropout({})", arch.dropout));
    let indent = |lines: &[String]| lines.iter().map(|l| format!("        {l}\n")).collect::<String>();
    format!(
        r#""""{describe}, exported by MNIST Workbench as a PyTorch module.

    from model import load
    net = load()              # eval mode, weights from WEIGHTS_FILE beside this file
    logits = net(x)           # x: [batch, 1, 28, 28], normalised as (pixel / 255 - 0.1307) / 0.3081

Needs torch and safetensors (pip install torch safetensors).
"""
import os

import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

ARCHITECTURE = {arch}
WEIGHTS_FILE = {weights}


class WorkbenchNet(nn.Module):
    def __init__(self):
        super().__init__()
{layers}
    def forward(self, x):
{forward}

def load(path=os.path.join(os.path.dirname(os.path.abspath(__file__)), WEIGHTS_FILE)):
    """The network with the exported weights, in eval mode."""
    net = WorkbenchNet()
    net.load_state_dict(load_file(path))
    return net.eval()
"#,
        describe = python_str_body(&spec.describe()),
        arch = python_str_literal(&spec.arch_string()),
        weights = python_file_name_expr(weights_file.as_ref()),
        layers = indent(&layers),
        forward = indent(&forward),
    )
}
