//! The token a client presents and a server checks: set by the app, read from `--token-file`
//! (only when a remote device is actually used, and then once), or taken from
//! `$MNIST_WORKBENCH_TOKEN`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{RemoteError, TOKEN_ENV};
use crate::fsutil;

static TOKEN: Mutex<Option<String>> = Mutex::new(None);
static TOKEN_FILE: Mutex<Option<TokenFile>> = Mutex::new(None);

/// A `--token-file` not read yet, or read once with its token kept.
struct TokenFile {
    path: PathBuf,
    note: fn(&str),
    token: Option<String>,
}

/// Sets the token clients present from now on (the app's field); it takes precedence over the
/// token file and the environment.
pub fn set_token(token: Option<String>) {
    *TOKEN.lock().unwrap_or_else(|e| e.into_inner()) = token.filter(|t| !t.is_empty());
}

/// Names the file the token is read from (`--token-file`), without reading it: it is read the
/// first time a token is needed, so a command that never uses a remote device never touches
/// it. `note` receives a warning when the file's permissions let other users read it.
pub fn set_token_file(path: Option<PathBuf>, note: fn(&str)) {
    *TOKEN_FILE.lock().unwrap_or_else(|e| e.into_inner()) = path.map(|path| TokenFile {
        path,
        note,
        token: None,
    });
}

/// The token to present: the one set with [`set_token`], else the token file's, else
/// `$MNIST_WORKBENCH_TOKEN`; `None` when there is none or the token file cannot be used (see
/// [`token_checked`] for why).
pub fn token() -> Option<String> {
    token_checked().ok().flatten()
}

/// [`token`], with an error when a token file was named but cannot be used.
pub fn token_checked() -> Result<Option<String>, RemoteError> {
    if let Some(set) = TOKEN.lock().unwrap_or_else(|e| e.into_inner()).clone() {
        return Ok(Some(set));
    }
    let mut file = TOKEN_FILE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(file) = file.as_mut() {
        if file.token.is_none() {
            let token = read_token_file(&file.path)?;
            if let Some(warning) = token_file_warning(&file.path) {
                (file.note)(&warning);
            }
            file.token = Some(token);
        }
        return Ok(file.token.clone());
    }
    Ok(std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().to_string()))
}

/// A token from a file (its first line, trimmed), read through
/// [`fsutil::read_text_capped`]: a FIFO or device is refused without blocking, a file over
/// [`fsutil::limits::TOKEN_BYTES`] is refused, and an empty one is an error.
pub fn read_token_file(path: &Path) -> Result<String, RemoteError> {
    let err = |reason: String| RemoteError::TokenFile {
        path: path.display().to_string(),
        reason,
    };
    let text = fsutil::read_text_capped(path, fsutil::limits::TOKEN_BYTES).map_err(|e| err(e.to_string()))?;
    let token = text.lines().next().unwrap_or_default().trim().to_string();
    if token.is_empty() {
        return Err(err("it is empty".into()));
    }
    Ok(token)
}

/// A warning when the token file's permissions let its group or other users read it.
pub fn token_file_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o044 != 0).then(|| {
            format!(
                "token file {} can be read by other users (mode {mode:03o}); `chmod 600` it",
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// A fresh random token (32 hex digits) for a server started without one.
pub fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState draws its keys from the operating system's random source.
    (0..2)
        .map(|i| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(i);
            format!("{:016x}", h.finish())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_is_read_capped_and_its_permissions_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  secret \nsecond line\n").unwrap();
        assert_eq!(read_token_file(&path).unwrap(), "secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let warning = token_file_warning(&path).unwrap();
            assert!(
                warning.contains("mode 644") && warning.contains("chmod 600"),
                "{warning}"
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert_eq!(token_file_warning(&path), None);
        }
        std::fs::write(&path, "\n").unwrap();
        assert!(read_token_file(&path).unwrap_err().to_string().contains("empty"));
        std::fs::write(&path, vec![b'x'; fsutil::limits::TOKEN_BYTES as usize + 1]).unwrap();
        let big = read_token_file(&path).unwrap_err().to_string();
        assert!(big.contains("larger than"), "{big}");
        assert!(read_token_file(dir.path()).is_err(), "a folder is refused");
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 32);
    }
}
