//! The JSON files of run and results folders (`config.json`, `summary.json`,
//! `checkpoint.json`, a study's results): read whole under the JSON size cap, written pretty
//! and atomically. Each error names the file; [`super::RunError`] and the studies' errors are
//! made from it.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a JSON file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Reading or writing the file failed (missing, a special file, over
    /// [`crate::fsutil::limits::JSON_BYTES`], not UTF-8, a full disk…).
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The text is not JSON of the expected shape, or the value does not serialise.
    #[error("{path}: {cause}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's (or serialiser's) message, with line and column when reading.
        cause: serde_json::Error,
    },
}

/// Reads the JSON file at `path` as a `T`. A file over the JSON size cap, or a FIFO or device
/// in its place, is refused before it is read.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, JsonError> {
    let text = crate::fsutil::read_text_capped(path, crate::fsutil::limits::JSON_BYTES).map_err(|cause| {
        JsonError::Io {
            path: path.to_path_buf(),
            cause,
        }
    })?;
    serde_json::from_str(&text).map_err(|cause| JsonError::Syntax {
        path: path.to_path_buf(),
        cause,
    })
}

/// Writes `value` as pretty JSON to `path` atomically (a temporary file renamed into place).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), JsonError> {
    let text = serde_json::to_string_pretty(value).map_err(|cause| JsonError::Syntax {
        path: path.to_path_buf(),
        cause,
    })?;
    crate::fsutil::atomic_write(path, text.as_bytes()).map_err(|cause| JsonError::Io {
        path: path.to_path_buf(),
        cause,
    })
}
