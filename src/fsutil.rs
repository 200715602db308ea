//! File helpers: every file the workbench writes goes to a temporary name first and is renamed
//! into place, so a crash or a full disk never leaves a half-written file behind.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary sibling a file is written to before it is renamed into place.
pub fn temp_path_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename. On any error the temp file
/// is removed and `path` is left as it was.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path_for(path);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ignored = std::fs::remove_file(&tmp);
    }
    result
}

/// Appends one line to a file (used for `metrics.jsonl`, which grows event by event; a torn
/// last line is skipped by readers).
pub fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(line.as_bytes())?;
    file.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("mw-fsutil-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.json");
        atomic_write(&path, b"one").unwrap();
        atomic_write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(!temp_path_for(&path).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn atomic_write_into_missing_folder_fails_cleanly() {
        let path = std::env::temp_dir().join("mw-no-such-dir-xyz/a.json");
        assert!(atomic_write(&path, b"x").is_err());
        assert!(!path.exists());
    }
}
