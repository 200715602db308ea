//! What the container readers ([`super::safetensors_file`], [`super::torch_file`]) hand to
//! [`super::checkpoint`], which picks the reader: the file's container as its first bytes
//! say ([`Content`]), its float tensors as f32 ([`Raw`], converted by [`to_f32`]), and the
//! limits every reader enforces before a tensor costs memory ([`check_count`], [`budget`]).

use std::path::Path;

use burn::tensor::{bf16, f16};

use super::ImportError;

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

/// One float tensor of a checkpoint, converted to f32.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignTensor {
    /// Its key in the file, e.g. `features.0.weight` (without a wrapper key or `module.`).
    pub name: String,
    /// Shape in PyTorch's order, outermost first (`[out, in, kh, kw]` for a conv weight).
    pub shape: Vec<usize>,
    /// Values, row-major, `shape`'s product of them.
    pub values: Vec<f32>,
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
    /// None of these: refused.
    Unknown,
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
/// infinite, which [`super::checkpoint::read_checkpoint`] then refuses with the tensor's name).
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
