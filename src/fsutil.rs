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

/// Whether a file name is one of [`temp_path_for`]'s (a write that never finished).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
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

/// Writes a set of files that belong together into the folder `dir`, all or nothing: they
/// are built in a temporary sibling folder, which then takes `dir`'s place in one rename
/// (a `dir` that exists is first moved aside and removed once the new one is in place).
/// With `replace` false an existing `dir` is refused and left untouched.
pub fn write_folder_atomically(dir: &Path, files: &[(&str, &[u8])], replace: bool) -> std::io::Result<()> {
    if dir.exists() && !replace {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} already exists; nothing was written", dir.display()),
        ));
    }
    let staged = temp_path_for(dir);
    let _ignored = std::fs::remove_dir_all(&staged); // a leftover of a crashed write
    let built = (|| {
        std::fs::create_dir_all(&staged)?;
        for (name, bytes) in files {
            let mut file = std::fs::File::create(staged.join(name))?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        Ok(())
    })();
    if let Err(e) = built {
        let _ignored = std::fs::remove_dir_all(&staged);
        return Err(e);
    }
    let old = dir.with_file_name(format!(
        ".{}.old-{}",
        dir.file_name()
            .map_or_else(|| "folder".into(), |n| n.to_string_lossy().into_owned()),
        std::process::id()
    ));
    let had_old = dir.exists();
    if had_old && let Err(e) = std::fs::rename(dir, &old) {
        let _ignored = std::fs::remove_dir_all(&staged);
        return Err(e);
    }
    if let Err(e) = std::fs::rename(&staged, dir) {
        if had_old {
            let _ignored = std::fs::rename(&old, dir); // put the old set back
        }
        let _ignored = std::fs::remove_dir_all(&staged);
        return Err(e);
    }
    if had_old {
        let _ignored = std::fs::remove_dir_all(&old);
    }
    Ok(())
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

    #[test]
    fn folders_are_written_whole_and_never_replaced_unasked() {
        let root = std::env::temp_dir().join(format!("mw-fsutil-folder-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let dir = root.join("set");
        write_folder_atomically(&dir, &[("a", b"1"), ("b", b"2")], false).unwrap();
        assert_eq!(std::fs::read(dir.join("b")).unwrap(), b"2");
        let refused = write_folder_atomically(&dir, &[("a", b"3")], false).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"1", "untouched");
        write_folder_atomically(&dir, &[("a", b"3")], true).unwrap();
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"3");
        assert!(!dir.join("b").exists(), "the old set is gone as a whole");
        let leftovers: Vec<_> = std::fs::read_dir(&root).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary folders left");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
