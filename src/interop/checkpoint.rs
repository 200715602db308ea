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

use sha2::{Digest, Sha256};

use super::ImportError;
use super::raw::{Content, Raw};
pub use super::raw::{ForeignTensor, MAX_CHECKPOINT_BYTES, MAX_IMPORT_VALUES, MAX_TENSORS};
use crate::fsutil;

/// The prefix `nn.DataParallel` and `DistributedDataParallel` put in front of every name.
const DATA_PARALLEL_PREFIX: &str = "module.";

/// The file's container, read from its first bytes, never its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `torch.save` (ZIP, legacy pickle or TAR).
    Pytorch,
    /// SafeTensors.
    Safetensors,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Pytorch => "PyTorch",
            Format::Safetensors => "SafeTensors",
        })
    }
}

/// A checkpoint's tensors and where they came from.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub file: PathBuf,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
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
