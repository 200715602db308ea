//! Reading a PyTorch `state_dict` (`torch.save`, `.pt`/`.pth`) or a `.safetensors` file into
//! named float tensors, through burn-store's readers.
//!
//! A `.pt` file is a pickle. burn-store's reader (`pytorch_reader`) interprets only the pickle
//! opcodes that describe data and rebuilds tensors from their storages; it never imports a
//! module or calls a function named in the file, so loading executes nothing from it. It
//! checks every length the file declares against what the file holds and refuses tensors
//! beyond its size limit before allocating them.

use std::io::Read;
use std::path::{Path, PathBuf};

use burn::store::{ModuleStore, PytorchStore, SafetensorsStore};
use burn::tensor::{DType, bf16, f16};
use sha2::{Digest, Sha256};

use super::ImportError;

/// Largest checkpoint file accepted (the largest network the workbench builds is far smaller).
pub const MAX_CHECKPOINT_BYTES: u64 = 512 << 20;

/// One float tensor of a checkpoint, converted to f32.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignTensor {
    /// Its key in the file, e.g. `features.0.weight`.
    pub name: String,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// The file's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `torch.save` (ZIP or legacy pickle).
    Pytorch,
    /// SafeTensors.
    Safetensors,
}

/// A checkpoint's tensors and where they came from.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The file read.
    pub file: PathBuf,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Its container.
    pub format: Format,
    /// Float tensors, by name.
    pub tensors: Vec<ForeignTensor>,
    /// Integer tensors left out (BatchNorm's `num_batches_tracked`, and any other).
    pub skipped: Vec<String>,
}

impl Checkpoint {
    /// The tensor named `name`.
    pub fn get(&self, name: &str) -> Option<&ForeignTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// The container a file name says: `.safetensors`, or `torch.save`'s `.pt` / `.pth` / `.bin`.
pub fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "safetensors" => Some(Format::Safetensors),
        "pt" | "pth" | "bin" | "ckpt" => Some(Format::Pytorch),
        _ => None,
    }
}

fn sha256_of(path: &Path) -> Result<String, ImportError> {
    let mut file = std::fs::File::open(path).map_err(|e| ImportError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(|e| ImportError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Reads every float tensor of `path`. Damaged files, unknown containers, files over
/// [`MAX_CHECKPOINT_BYTES`] and files with no float tensor are refused with the reason.
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint, ImportError> {
    let metadata = std::fs::metadata(path).map_err(|e| ImportError::io(path, e))?;
    if !metadata.is_file() {
        return Err(ImportError::damaged(path, "not a file"));
    }
    if metadata.len() > MAX_CHECKPOINT_BYTES {
        return Err(ImportError::damaged(
            path,
            format!(
                "{} MB is over the {} MB limit for a checkpoint",
                metadata.len() >> 20,
                MAX_CHECKPOINT_BYTES >> 20
            ),
        ));
    }
    let format = format_of(path)
        .ok_or_else(|| ImportError::damaged(path, "unknown file type: expected .pt, .pth or .safetensors"))?;
    let sha256 = sha256_of(path)?;
    let (tensors, skipped) = match format {
        Format::Safetensors => float_tensors(path, &mut SafetensorsStore::from_file(path))?,
        Format::Pytorch => read_pytorch(path)?,
    };
    if tensors.is_empty() {
        return Err(ImportError::damaged(path, "holds no float tensors"));
    }
    Ok(Checkpoint {
        file: path.to_path_buf(),
        sha256,
        format,
        tensors,
        skipped,
    })
}

/// A `torch.save` file: the `state_dict` itself, or one nested under a usual key.
fn read_pytorch(path: &Path) -> Result<(Vec<ForeignTensor>, Vec<String>), ImportError> {
    let open = || PytorchStore::from_file(path).map_indices_contiguous(false);
    let first = float_tensors(path, &mut open());
    if matches!(&first, Ok((tensors, _)) if !tensors.is_empty()) {
        return first;
    }
    for key in ["state_dict", "model_state_dict", "model"] {
        if let Ok(found) = float_tensors(path, &mut open().with_top_level_key(key))
            && !found.0.is_empty()
        {
            return Ok(found);
        }
    }
    first
}

/// Float tensors converted to f32, and the names of the others.
fn float_tensors<S: ModuleStore>(
    path: &Path,
    store: &mut S,
) -> Result<(Vec<ForeignTensor>, Vec<String>), ImportError>
where
    S::Error: std::fmt::Display,
{
    // A damaged file may make a reader panic rather than fail; either way it is refused.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store
            .get_all_tensors()
            .map(|all| all.values().cloned().collect::<Vec<_>>())
    }));
    let all = match read {
        Ok(Ok(all)) => all,
        Ok(Err(e)) => return Err(ImportError::damaged(path, e.to_string())),
        Err(_) => return Err(ImportError::damaged(path, "the reader could not parse it")),
    };
    let mut tensors = Vec::new();
    let mut skipped = Vec::new();
    for tensor in all {
        let shape: Vec<usize> = tensor.shape.to_vec();
        let name = tensor.name.clone();
        let dtype = tensor.dtype;
        if !matches!(dtype, DType::F32 | DType::F64 | DType::F16 | DType::BF16) {
            skipped.push(name);
            continue;
        }
        let bytes = tensor
            .to_bytes()
            .map_err(|e| ImportError::damaged(path, format!("{name}: {e}")))?;
        let values = to_f32(&bytes, dtype);
        if values.len() != shape.iter().product::<usize>() {
            return Err(ImportError::damaged(
                path,
                format!("{name}: data does not match its shape {shape:?}"),
            ));
        }
        tensors.push(ForeignTensor { name, shape, values });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((tensors, skipped))
}

/// Little-endian bytes of a float dtype as f32.
fn to_f32(bytes: &[u8], dtype: DType) -> Vec<f32> {
    match dtype {
        DType::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        DType::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        DType::BF16 => bytes
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect(),
    }
}
