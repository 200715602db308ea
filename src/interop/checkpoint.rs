//! Reading a PyTorch `state_dict` (`torch.save`, `.pt`/`.pth`) or a `.safetensors` file into
//! named f32 tensors, with every size the file declares checked before it costs memory.
//!
//! The container is told from the file's first bytes as well as its name, and a file whose
//! name and content disagree is refused with the rename that fixes it. A `.safetensors`
//! file is read into memory under [`MAX_CHECKPOINT_BYTES`] and parsed there (see
//! [`super::safetensors_file`]), so a file that shrinks while it is read is refused rather
//! than killing the process the way a memory map of it would. A `.pt` file goes through
//! burn-store's `pytorch_reader`, which interprets only the pickle opcodes that describe
//! data and executes nothing from the file; its ZIP directory and each tensor's shape are
//! checked first (see [`super::torch_file`]). Both paths refuse more than [`MAX_TENSORS`]
//! tensors, tensors that would hold more than [`MAX_IMPORT_VALUES`] values in all, and NaN
//! or infinite values, naming the file and the tensor.

use std::io::Read;
use std::path::{Path, PathBuf};

use burn::tensor::{bf16, f16};
use sha2::{Digest, Sha256};

use super::ImportError;
use crate::fsutil;

/// Largest checkpoint file accepted, and the most bytes its ZIP entries may expand to (the
/// largest network the workbench builds is far smaller).
pub const MAX_CHECKPOINT_BYTES: u64 = 512 << 20;

/// Most tensors a checkpoint may hold. The largest network the workbench builds has four
/// conv blocks with BatchNorm (five tensors each, with `num_batches_tracked`) and two linear
/// layers: a few dozen tensors; an MLP has two per layer. A notebook checkpoint that also
/// keeps Adam's state holds about three times that. 4096 leaves wide room and keeps a
/// hostile file of tens of thousands of tiny tensors from costing minutes.
pub const MAX_TENSORS: usize = 4096;

/// Most f32 values an import holds in all (the memory estimate every declared shape is
/// checked against before anything is read): 128 Mi values, 512 MiB, as much as the largest
/// file accepted holds in f32.
pub const MAX_IMPORT_VALUES: u64 = MAX_CHECKPOINT_BYTES / 4;

/// The prefix `nn.DataParallel` and `DistributedDataParallel` put in front of every name.
const DATA_PARALLEL_PREFIX: &str = "module.";

/// One float tensor of a checkpoint, converted to f32.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignTensor {
    /// Its key in the file, e.g. `features.0.weight` (without a wrapper key or `module.`).
    pub name: String,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// The file's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `torch.save` (ZIP, legacy pickle or TAR).
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
    /// Float tensors, sorted by name.
    pub tensors: Vec<ForeignTensor>,
    /// Tensors of other dtypes left out (BatchNorm's `num_batches_tracked`, and any other).
    pub skipped: Vec<String>,
    /// The key of the file's top-level dictionary the model's `state_dict` was found under
    /// (`state_dict`, `model_state_dict` or `model`, as notebooks save it next to the
    /// optimizer's state and the epoch); `None` when the file is the `state_dict` itself.
    pub taken_from: Option<String>,
    /// `module.` when every name carried `DataParallel`'s prefix, which was removed.
    pub removed_prefix: Option<String>,
}

impl Checkpoint {
    /// The tensor named `name` (a binary search: the tensors are sorted by name).
    pub fn get(&self, name: &str) -> Option<&ForeignTensor> {
        self.tensors
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.tensors[i])
    }

    /// Where the weights were found in the file, in words, when that was not its top level:
    /// e.g. `state dict taken from 'model_state_dict'; 'module.' prefix removed`.
    pub fn source_note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(key) = &self.taken_from {
            parts.push(format!("state dict taken from '{key}'"));
        }
        if let Some(prefix) = &self.removed_prefix {
            parts.push(format!("'{prefix}' prefix removed"));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Skipped tensors worth telling about: all but BatchNorm's `num_batches_tracked`
    /// counters, which are left out of every import.
    pub fn notable_skipped(&self) -> impl Iterator<Item = &str> {
        self.skipped
            .iter()
            .map(String::as_str)
            .filter(|name| !name.ends_with("num_batches_tracked"))
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

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Content {
    /// An 8-byte little-endian header length, then `{`.
    Safetensors,
    /// `PK\x03\x04` (or an empty archive's `PK\x05\x06`): `torch.save` since PyTorch 1.6.
    Zip,
    /// A pickle (`0x80` is its `PROTO` opcode): `torch.save`'s legacy format.
    Pickle,
    /// `ustar` at byte 257: `torch.save` before PyTorch 0.1.10.
    Tar,
    /// None of these.
    Unknown,
}

/// Reads what a file's first bytes say (see [`Content`]). The SafeTensors test comes first:
/// a 128-byte JSON header starts with `0x80`, which is also a pickle's first byte.
pub(super) fn sniff(head: &[u8]) -> Content {
    let header_len = head.first_chunk::<8>().map(|b| u64::from_le_bytes(*b));
    if header_len.is_some_and(|n| n <= 100_000_000) && head.get(8) == Some(&b'{') {
        Content::Safetensors
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Content::Zip
    } else if head.get(257..262) == Some(b"ustar") {
        Content::Tar
    } else if head.first() == Some(&0x80) {
        Content::Pickle
    } else {
        Content::Unknown
    }
}

/// Float tensors and the names of the others, as a container reader hands them over.
#[derive(Debug, Default)]
pub(super) struct Raw {
    /// Float tensors converted to f32, with the names the file gives them.
    pub tensors: Vec<ForeignTensor>,
    /// Names of tensors of other dtypes.
    pub skipped: Vec<String>,
    /// The wrapper key the tensors were taken from, if any.
    pub taken_from: Option<String>,
}

/// Reads every float tensor of `path`. Special files, damaged files, unknown containers,
/// a name that contradicts the content, files over [`MAX_CHECKPOINT_BYTES`], more than
/// [`MAX_TENSORS`] tensors, declared shapes over [`MAX_IMPORT_VALUES`], NaN or infinite
/// values and files with no float tensor are refused with the reason, naming the file and,
/// where one is to blame, the tensor or ZIP entry.
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint, ImportError> {
    let file = fsutil::open_regular(path).map_err(|e| ImportError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| ImportError::io(path, e))?.len();
    if file_len > MAX_CHECKPOINT_BYTES {
        return Err(ImportError::damaged(
            path,
            format!(
                "{} MB is over the {} MB limit for a checkpoint",
                file_len >> 20,
                MAX_CHECKPOINT_BYTES >> 20
            ),
        ));
    }
    let format = format_of(path)
        .ok_or_else(|| ImportError::damaged(path, "unknown file type: expected .pt, .pth or .safetensors"))?;
    let mut head = Vec::with_capacity(262);
    (&file)
        .take(262)
        .read_to_end(&mut head)
        .map_err(|e| ImportError::io(path, e))?;
    let content = sniff(&head);
    match (format, content) {
        (Format::Safetensors, Content::Zip | Content::Pickle | Content::Tar) => {
            return Err(ImportError::damaged(
                path,
                "this is a PyTorch torch.save file, not SafeTensors; rename it .pt",
            ));
        }
        (Format::Pytorch, Content::Safetensors) => {
            return Err(ImportError::damaged(
                path,
                "this is a SafeTensors file, not a torch.save one; rename it .safetensors",
            ));
        }
        _ => {}
    }
    let (sha256, raw) = match format {
        Format::Safetensors => {
            drop(file);
            let bytes =
                fsutil::read_capped(path, MAX_CHECKPOINT_BYTES).map_err(|e| ImportError::io(path, e))?;
            let sha256 = hex(&Sha256::digest(&bytes));
            (sha256, super::safetensors_file::read(path, &bytes)?)
        }
        Format::Pytorch => {
            let sha256 = sha256_of(path, file)?;
            (sha256, super::torch_file::read(path, content, file_len)?)
        }
    };
    finish(path, format, sha256, raw)
}

/// Removes `module.`, checks every value is finite and sorts: the steps both containers share.
fn finish(path: &Path, format: Format, sha256: String, raw: Raw) -> Result<Checkpoint, ImportError> {
    let Raw {
        mut tensors,
        mut skipped,
        taken_from,
    } = raw;
    if tensors.is_empty() {
        return Err(ImportError::damaged(path, "holds no float tensors"));
    }
    let removed_prefix = tensors
        .iter()
        .all(|t| t.name.starts_with(DATA_PARALLEL_PREFIX))
        .then(|| DATA_PARALLEL_PREFIX.to_string());
    if removed_prefix.is_some() {
        let strip = |name: &mut String| {
            if let Some(rest) = name.strip_prefix(DATA_PARALLEL_PREFIX) {
                *name = rest.to_string();
            }
        };
        tensors.iter_mut().for_each(|t| strip(&mut t.name));
        skipped.iter_mut().for_each(strip);
    }
    for t in &tensors {
        if let Some(i) = t.values.iter().position(|v| !v.is_finite()) {
            return Err(ImportError::damaged(
                path,
                format!(
                    "tensor {} holds NaN or infinite values (or values beyond f32's range), first at index {i}",
                    t.name
                ),
            ));
        }
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    skipped.sort();
    Ok(Checkpoint {
        file: path.to_path_buf(),
        sha256,
        format,
        tensors,
        skipped,
        taken_from,
        removed_prefix,
    })
}

/// Refuses `count` tensors when it is over [`MAX_TENSORS`].
pub(super) fn check_count(path: &Path, count: usize) -> Result<(), ImportError> {
    if count > MAX_TENSORS {
        return Err(ImportError::damaged(
            path,
            format!(
                "holds {count} tensors, over the limit of {MAX_TENSORS} (the workbench's networks have a few dozen)"
            ),
        ));
    }
    Ok(())
}

/// Adds `elements` of tensor `name` to `total` and refuses the tensor when the import would
/// then hold more than [`MAX_IMPORT_VALUES`] values.
pub(super) fn budget(
    path: &Path,
    name: &str,
    shape: &[usize],
    elements: u64,
    total: &mut u64,
) -> Result<(), ImportError> {
    *total = total.saturating_add(elements);
    if *total > MAX_IMPORT_VALUES {
        return Err(ImportError::damaged(
            path,
            format!(
                "tensor {name} (shape {shape:?}, {elements} values) takes the import over its limit of {MAX_IMPORT_VALUES} values ({} MB as f32)",
                (MAX_IMPORT_VALUES * 4) >> 20
            ),
        ));
    }
    Ok(())
}

/// SHA-256 of the already opened file, streamed from its start.
fn sha256_of(path: &Path, mut file: std::fs::File) -> Result<String, ImportError> {
    use std::io::Seek;
    file.rewind().map_err(|e| ImportError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(|e| ImportError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The float element types a checkpoint's tensors are converted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FloatKind {
    /// 8-byte IEEE double.
    F64,
    /// 4-byte IEEE single.
    F32,
    /// 2-byte IEEE half.
    F16,
    /// 2-byte bfloat16.
    BF16,
}

/// Little-endian bytes of a float element type as f32 (f64 beyond f32's range becomes
/// infinite, which [`read_checkpoint`] then refuses with the tensor's name).
pub(super) fn to_f32(bytes: &[u8], kind: FloatKind) -> Vec<f32> {
    match kind {
        FloatKind::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        FloatKind::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        FloatKind::BF16 => bytes
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        FloatKind::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect(),
    }
}
