//! A `.safetensors` file, parsed from bytes already in memory.
//!
//! burn-store's `SafetensorsStore` maps the file, so a file truncated while it is imported
//! raises SIGBUS and kills the process, and each tensor it yields parses the whole header
//! again, so a file of tens of thousands of tiny tensors costs time that grows with the
//! square of their number. Here the file is read once under the size cap (the caller's
//! `fsutil::read_capped`), its header is scanned once for the tensor count and for keys that
//! appear twice (the `safetensors` crate keeps the last of a duplicate without a word), and
//! the `safetensors` crate then checks every offset against the bytes in hand.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::ImportError;
use super::raw::{FloatKind, ForeignTensor, MAX_TENSORS, Raw, budget, check_count, to_f32};

/// The header key that holds free-form metadata rather than a tensor.
const METADATA_KEY: &str = "__metadata__";

/// What the header scan found wrong, kept apart from serde's message (which appends a
/// position) so the refusal reads plainly.
#[derive(Debug)]
enum HeaderProblem {
    /// This key appears twice.
    Duplicate(String),
    /// More than [`MAX_TENSORS`] tensors (counting stopped there).
    TooMany,
}

/// Walks the header's top-level object key by key without building it, stopping at the
/// first duplicate key or once there are more than [`MAX_TENSORS`] tensors.
struct KeyScan<'a> {
    problem: &'a mut Option<HeaderProblem>,
}

impl<'de> DeserializeSeed<'de> for KeyScan<'_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KeyScan<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of tensors")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        use serde::de::Error;
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            if key == METADATA_KEY {
                continue;
            }
            if seen.contains(&key) {
                *self.problem = Some(HeaderProblem::Duplicate(key));
                return Err(A::Error::custom("duplicate key"));
            }
            seen.insert(key);
            if seen.len() > MAX_TENSORS {
                *self.problem = Some(HeaderProblem::TooMany);
                return Err(A::Error::custom("too many tensors"));
            }
        }
        Ok(seen.len())
    }
}

/// Checks the header of `bytes` (a whole `.safetensors` file): its declared length against
/// the bytes there are, then its keys (see [`KeyScan`]). Returns the tensor count.
fn scan_header(path: &Path, bytes: &[u8]) -> Result<usize, ImportError> {
    let damaged = |reason: String| ImportError::damaged(path, reason);
    let declared = bytes
        .first_chunk::<8>()
        .map(|b| u64::from_le_bytes(*b))
        .ok_or_else(|| {
            damaged(format!(
                "{} bytes is too short for a SafeTensors header",
                bytes.len()
            ))
        })?;
    let available = bytes.len() as u64 - 8;
    if declared > available {
        return Err(damaged(format!(
            "the SafeTensors header declares {declared} bytes but the file holds {available} after its length field"
        )));
    }
    let header = std::str::from_utf8(&bytes[8..8 + declared as usize])
        .map_err(|e| damaged(format!("the SafeTensors header is not UTF-8 text: {e}")))?;
    let mut problem = None;
    let mut json = serde_json::Deserializer::from_str(header);
    let scanned = KeyScan {
        problem: &mut problem,
    }
    .deserialize(&mut json);
    match (scanned, problem) {
        (_, Some(HeaderProblem::Duplicate(key))) => Err(damaged(format!(
            "the SafeTensors header lists tensor {key:?} twice; refusing to guess which one is meant"
        ))),
        (_, Some(HeaderProblem::TooMany)) => Err(damaged(format!(
            "holds more than {MAX_TENSORS} tensors, the limit (the workbench's networks have a few dozen)"
        ))),
        (Err(e), None) => Err(damaged(format!("the SafeTensors header is not valid JSON: {e}"))),
        (Ok(count), None) => Ok(count),
    }
}

/// The float element type of a SafeTensors dtype, or `None` for integers, booleans and
/// the 8-bit float formats, which are left out.
fn float_kind(dtype: Dtype) -> Option<FloatKind> {
    match dtype {
        Dtype::F64 => Some(FloatKind::F64),
        Dtype::F32 => Some(FloatKind::F32),
        Dtype::F16 => Some(FloatKind::F16),
        Dtype::BF16 => Some(FloatKind::BF16),
        _ => None,
    }
}

/// The tensors of `bytes`, the whole `.safetensors` file `path`. Work is linear in the
/// number of tensors, which is refused above [`MAX_TENSORS`] before the header is built;
/// float tensors are refused above the import's value budget before they are converted.
pub(super) fn read(path: &Path, bytes: &[u8]) -> Result<Raw, ImportError> {
    let count = scan_header(path, bytes)?;
    check_count(path, count)?;
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| ImportError::damaged(path, format!("not a valid SafeTensors file: {e}")))?;
    let mut views: Vec<_> = file.iter().collect();
    views.sort_by(|a, b| a.0.cmp(b.0));
    let mut raw = Raw::default();
    let mut total = 0u64;
    for (name, view) in &views {
        if float_kind(view.dtype()).is_some() {
            let elements = view.shape().iter().map(|&d| d as u64).product::<u64>();
            budget(path, name, view.shape(), elements, &mut total)?;
        }
    }
    for (name, view) in views {
        let Some(kind) = float_kind(view.dtype()) else {
            raw.skipped.push(name.to_string());
            continue;
        };
        raw.tensors.push(ForeignTensor {
            name: name.to_string(),
            shape: view.shape().to_vec(),
            values: to_f32(view.data(), kind),
        });
    }
    Ok(raw)
}
