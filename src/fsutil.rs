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
    // `symlink_metadata`: a link in `dir`'s place, even a dangling one, is something there.
    if std::fs::symlink_metadata(dir).is_ok() && !replace {
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
    let had_old = std::fs::symlink_metadata(dir).is_ok();
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

/// Writes files that belong together (a report's figures) beside whatever else their folders
/// hold, all or nothing as far as the disk allows: every file is first written and synced
/// under its temporary name, and only when all of them are there are they renamed into place.
/// A full disk or another write error therefore leaves none of them, old or new, changed and
/// no temporary file behind. A target that is a folder is refused before anything is written.
/// Errors name the file.
pub fn write_files_together(files: &[(PathBuf, Vec<u8>)]) -> std::io::Result<()> {
    let named = |path: &Path, e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    for (path, _) in files {
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{}: a folder is in the file's place; nothing was written", path.display()),
            ));
        }
    }
    let mut staged: Vec<(PathBuf, &Path)> = Vec::with_capacity(files.len());
    let remove_staged = |staged: &[(PathBuf, &Path)]| {
        for (tmp, _) in staged {
            let _ignored = std::fs::remove_file(tmp);
        }
    };
    for (path, bytes) in files {
        let tmp = temp_path_for(path);
        let written = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()
        })();
        staged.push((tmp, path));
        if let Err(e) = written {
            remove_staged(&staged);
            return Err(named(path, e));
        }
    }
    for (i, (tmp, path)) in staged.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            remove_staged(&staged[i..]);
            return Err(named(path, e));
        }
    }
    Ok(())
}

/// Opens `path` for reading only if it is a regular file. Special files (a FIFO, a device such
/// as `/dev/zero`, a socket, a folder) are refused with a message naming the path, without
/// blocking: on Unix the file is opened non-blocking (so opening a FIFO with no writer returns
/// at once) and the opened handle's own metadata is checked, so a file swapped for a FIFO
/// between a check and the open is refused too.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is not a regular file ({})",
                path.display(),
                kind_of(&metadata)
            ),
        ));
    }
    Ok(file)
}

/// What kind of special file `metadata` describes, in words.
fn kind_of(metadata: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = metadata.file_type();
        if kind.is_fifo() {
            return "a named pipe";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if metadata.is_dir() {
        "a folder"
    } else {
        "not a plain file"
    }
}

/// Reads a whole regular file of at most `max_bytes` bytes (see [`open_regular`]). A larger
/// file, or one that grows past the cap while it is read, is refused with the path and the
/// limit before more than `max_bytes + 1` bytes are held; a file that shrinks while it is read
/// simply yields the bytes that were there (the caller's parser then finds them short).
pub fn read_capped(path: &Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open_regular(path)?;
    let declared = file.metadata()?.len();
    if declared > max_bytes {
        return Err(too_large(path, max_bytes));
    }
    let mut bytes = Vec::with_capacity(declared as usize);
    file.take(max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(path, max_bytes));
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_text_capped(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    String::from_utf8(read_capped(path, max_bytes)?).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not UTF-8 text", path.display()),
        )
    })
}

fn too_large(path: &Path, max_bytes: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "{} is larger than the {} limit for this kind of file",
            path.display(),
            human_bytes(max_bytes)
        ),
    )
}

/// `1.5 MiB`-style size for messages.
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// Caps for the small files the workbench reads whole.
pub mod limits {
    /// A JSON settings or results file (`config.json`, `summary.json`, `ensemble.json`, …).
    pub const JSON_BYTES: u64 = 64 << 20;
    /// A log that grows with a run (`metrics.jsonl`).
    pub const LOG_BYTES: u64 = 256 << 20;
    /// A token file (`--token-file`): a token is a line, never near 64 KiB.
    pub const TOKEN_BYTES: u64 = 64 << 10;
    /// A PNG the pad or `predict` reads.
    pub const IMAGE_BYTES: u64 = 32 << 20;
    /// A model's weights or optimiser state (`optimizer.bpk`, `correctness.bin`): above the
    /// largest network the workbench builds (`model::MAX_PARAMETERS`, 200 MB as f32) with
    /// Adam's two moments.
    pub const WEIGHTS_BYTES: u64 = 512 << 20;
}

/// Appends one line to a file (used for `metrics.jsonl`, which grows event by event; a torn
/// last line is skipped by readers).
pub fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(line.as_bytes())?;
    file.write_all(b"\n")
}

/// Scratch folders for the library's unit tests, removed when dropped (also when the test
/// fails and unwinds), so `cargo test` leaves nothing in the temporary folder.
#[cfg(test)]
pub(crate) mod scratch {
    use std::path::{Path, PathBuf};

    /// A fresh folder `mw-<tag>-<pid>` under the system's temporary folder.
    pub(crate) struct ScratchDir(PathBuf);

    impl ScratchDir {
        pub(crate) fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("mw-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("a scratch folder in the temporary folder");
            Self(dir)
        }

        /// A file `name` in the folder holding `bytes`; the folder goes with the returned guard.
        pub(crate) fn file(tag: &str, name: &str, bytes: &[u8]) -> ScratchFile {
            let dir = Self::new(tag);
            let path = dir.0.join(name);
            std::fs::write(&path, bytes).expect("a scratch file");
            ScratchFile { path, _dir: dir }
        }
    }

    impl std::ops::Deref for ScratchDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// One file in a folder of its own, both removed when dropped.
    pub(crate) struct ScratchFile {
        path: PathBuf,
        _dir: ScratchDir,
    }

    impl std::ops::Deref for ScratchFile {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.path
        }
    }
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

    /// A write that fails part-way (here the second file's temporary name is taken by a
    /// folder, as a full disk would fail it) changes neither file and leaves no temporary one.
    #[test]
    fn files_written_together_are_all_or_none() {
        let dir = scratch::ScratchDir::new("fsutil-together");
        let (a, b) = (dir.join("a.png"), dir.join("b.csv"));
        std::fs::write(&a, b"old a").unwrap();
        std::fs::write(&b, b"old b").unwrap();
        let files = [(a.clone(), b"new a".to_vec()), (b.clone(), b"new b".to_vec())];
        std::fs::create_dir(temp_path_for(&b)).unwrap();
        let err = write_files_together(&files).unwrap_err();
        assert!(err.to_string().contains("b.csv"), "the error names the file: {err}");
        assert_eq!(std::fs::read(&a).unwrap(), b"old a");
        assert_eq!(std::fs::read(&b).unwrap(), b"old b");
        assert!(!temp_path_for(&a).exists(), "the first file's temporary copy is removed");
        std::fs::remove_dir(temp_path_for(&b)).unwrap();

        // A folder in a target's place is refused before anything is written.
        let c = dir.join("c.png");
        std::fs::create_dir(&c).unwrap();
        let err = write_files_together(&[(a.clone(), b"new a".to_vec()), (c, b"c".to_vec())]).unwrap_err();
        assert!(err.to_string().contains("c.png") && err.to_string().contains("folder"), "{err}");
        assert_eq!(std::fs::read(&a).unwrap(), b"old a");

        write_files_together(&files).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new a");
        assert_eq!(std::fs::read(&b).unwrap(), b"new b");
        let left: Vec<_> = std::fs::read_dir(&*dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.iter().all(|n| !is_temp_name(&n.to_string_lossy())), "{left:?}");
    }

    #[cfg(unix)]
    #[test]
    fn special_files_are_refused_at_once() {
        let dir = std::env::temp_dir().join(format!("mw-fsutil-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("config.json");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let err = read_capped(&fifo, 1024).unwrap_err();
        assert!(err.to_string().contains("named pipe"), "{err}");
        let err = read_capped(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(err.to_string().contains("device"), "{err}");
        let err = read_capped(&dir, 1024).unwrap_err();
        assert!(err.to_string().contains("folder"), "{err}");
        let big = dir.join("big");
        std::fs::write(&big, vec![0u8; 2048]).unwrap();
        let err = read_capped(&big, 1024).unwrap_err();
        assert!(err.to_string().contains("1.0 KiB limit"), "{err}");
        assert_eq!(read_capped(&big, 2048).unwrap().len(), 2048);
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
