//! A `torch.save` file, read through burn-store's `pytorch_reader` with every size checked
//! before it is paid for.
//!
//! Opening the reader parses the pickle only: each tensor comes back with its name, dtype and
//! shape, and its bytes are read when asked. The reader checks a view's extent against its
//! storage, but it allows any tensor up to 10 GiB, and a one-element storage viewed with a
//! huge shape and zero strides is within that: reading it allocates the whole expansion and
//! the process aborts. So before any tensor is read, each shape is checked here: a tensor
//! may not materialize more bytes than the whole file holds (`torch.save` writes every
//! storage in full and uncompressed, so a real state dict's tensors always fit; a larger one
//! is a broadcast view or an inflated entry), and all of them together may not exceed the
//! import's value budget. A ZIP file's directory is checked first (see
//! [`super::zip_scan`]), so no entry inflates beyond the cap either.
//!
//! Notebooks save `{'model_state_dict': …, 'optimizer_state_dict': …, 'epoch': …}` rather
//! than the state dict itself; the model's part is found under the usual wrapper keys.

use std::path::Path;

use burn::store::pytorch_reader::{DType, PytorchError, PytorchReader, Tensor};

use super::ImportError;
use super::raw::{
    Content, FloatKind, ForeignTensor, MAX_CHECKPOINT_BYTES, MAX_TENSORS, Raw, budget, check_count, to_f32,
};

/// Top-level keys a training script keeps the model's `state_dict` under, in the order they
/// are tried.
pub const WRAPPER_KEYS: [&str; 3] = ["state_dict", "model_state_dict", "model"];

/// A ZIP checkpoint holds a few entries besides one storage per tensor.
const MAX_ZIP_ENTRIES: usize = MAX_TENSORS + 64;

/// Opens the reader at the file's top level or at `key`. A panic inside it (a damaged file
/// may make a parser panic rather than fail) is a refusal; the reader's own error is handed
/// back for the caller to judge.
fn try_open(path: &Path, key: Option<&str>) -> Result<Result<PytorchReader, PytorchError>, ImportError> {
    crate::panics::catch(|| match key {
        None => PytorchReader::new(path),
        Some(key) => PytorchReader::with_top_level_key(path, key),
    })
    .map_err(|_| ImportError::damaged(path, "the PyTorch reader could not parse it"))
}

fn describe(e: &PytorchError) -> String {
    match e {
        PytorchError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            format!("it ends early or changed while it was read: {io}")
        }
        other => other.to_string(),
    }
}

fn float_kind(dtype: DType) -> Option<FloatKind> {
    match dtype {
        DType::F64 => Some(FloatKind::F64),
        DType::F32 => Some(FloatKind::F32),
        DType::F16 => Some(FloatKind::F16),
        DType::BF16 => Some(FloatKind::BF16),
        _ => None,
    }
}

/// The wrapper key the model's tensors sit under, if any: a key of [`WRAPPER_KEYS`] that
/// some name starts with and that the file's top-level dictionary really has (a flat state
/// dict may name a module `model`, as in `model.0.weight`, without any wrapper). Returns the
/// key and the reader opened at it.
fn find_wrapper(path: &Path, whole: &PytorchReader) -> Result<Option<(String, PytorchReader)>, ImportError> {
    for key in WRAPPER_KEYS {
        let prefix = format!("{key}.");
        if !whole.tensors().keys().any(|name| name.starts_with(&prefix)) {
            continue;
        }
        match try_open(path, Some(key))? {
            Ok(inner) if !inner.is_empty() => return Ok(Some((key.to_string(), inner))),
            // Not a key of the top level (the names only look like it), or not a dictionary.
            Err(PytorchError::KeyNotFound(_) | PytorchError::InvalidFormat(_)) | Ok(_) => {}
            Err(e) => return Err(ImportError::damaged(path, describe(&e))),
        }
    }
    Ok(None)
}

/// Refuses a tensor whose materialized bytes are more than the whole file holds (see the
/// module documentation) and adds it to the value budget.
fn check_size(path: &Path, tensor: &Tensor, file_len: u64, total: &mut u64) -> Result<(), ImportError> {
    let elements = tensor.shape().iter().map(|&d| d as u64).product::<u64>();
    let bytes = elements.saturating_mul(tensor.dtype().size() as u64);
    if bytes > file_len {
        return Err(ImportError::damaged(
            path,
            format!(
                "tensor {} (shape {:?}, {:?}) would take {bytes} bytes, more than the whole {file_len}-byte file holds: a broadcast view or a compressed storage, which torch.save does not write",
                tensor.name,
                tensor.shape(),
                tensor.dtype()
            ),
        ));
    }
    budget(path, &tensor.name, tensor.shape(), elements, total)
}

/// The float tensors of the `torch.save` file `path` (`file_len` bytes, `content` its
/// sniffed container), from its top level or from the first wrapper key that holds them.
pub(super) fn read(path: &Path, content: Content, file_len: u64) -> Result<Raw, ImportError> {
    if content == Content::Zip {
        super::zip_scan::check(path, file_len, MAX_CHECKPOINT_BYTES, MAX_ZIP_ENTRIES)?;
    }
    let whole = try_open(path, None)?.map_err(|e| ImportError::damaged(path, describe(&e)))?;
    check_count(path, whole.len())?;
    let (taken_from, reader) = match find_wrapper(path, &whole)? {
        Some((key, inner)) => (Some(key), inner),
        None => (None, whole),
    };
    let mut tensors: Vec<(String, Tensor)> = reader.into_tensors().into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    // Every shape is checked before the first byte is read.
    let mut total = 0u64;
    for (_, tensor) in &tensors {
        if float_kind(tensor.dtype()).is_some() {
            check_size(path, tensor, file_len, &mut total)?;
        }
    }
    let mut raw = Raw {
        taken_from,
        ..Raw::default()
    };
    for (name, tensor) in tensors {
        let Some(kind) = float_kind(tensor.dtype()) else {
            raw.skipped.push(name);
            continue;
        };
        let read = crate::panics::catch(|| tensor.read());
        let bytes = match read {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => return Err(ImportError::damaged(path, e.to_string())),
            Err(_) => {
                return Err(ImportError::damaged(
                    path,
                    format!("tensor {name}: the reader could not read it"),
                ));
            }
        };
        let values = to_f32(&bytes, kind);
        if values.len() != tensor.num_elements() {
            return Err(ImportError::damaged(
                path,
                format!(
                    "tensor {name}: its data does not match its shape {:?}",
                    tensor.shape()
                ),
            ));
        }
        raw.tensors.push(ForeignTensor {
            name,
            shape: tensor.shape().to_vec(),
            values,
        });
    }
    Ok(raw)
}
