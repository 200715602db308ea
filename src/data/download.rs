//! Downloading MNIST from the public mirrors: streamed with progress, verified by the SHA-256
//! of the decompressed payload, moved into place only when complete; the next mirror is tried
//! when one fails or serves a damaged file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::Digest;

use super::hex;
use super::sources::MNIST_FILES;
use crate::fsutil::temp_path_for;

/// The standard public mirrors, tried in order.
pub const DEFAULT_MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// SHA-256 of each decompressed MNIST file, in [`MNIST_FILES`] order.
pub const MNIST_SHA256: [&str; 4] = [
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
];

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The user cancelled.
    #[error("download cancelled")]
    Cancelled,
    /// Every mirror failed for a file; each attempt is listed.
    #[error("could not download {file}:\n  {}", attempts.join("\n  "))]
    AllMirrorsFailed {
        /// The file name, e.g. `train-images-idx3-ubyte.gz`.
        file: String,
        /// One line per mirror tried.
        attempts: Vec<String>,
    },
    /// The destination folder cannot be written.
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    /// The destination is not a folder.
    #[error("{0}: not a folder; --dest takes the folder the four files go into")]
    NotAFolder(PathBuf),
    /// A file of an MNIST file's name is there with other contents: it is never replaced.
    #[error(
        "{0} is already there and is not that MNIST file (its contents differ); nothing was \
         downloaded or replaced: move it away, or choose another --dest"
    )]
    WouldReplace(PathBuf),
}

/// Progress of a download, reported as bytes arrive.
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadProgress {
    /// Index of the file (0-3) being fetched.
    pub file_index: usize,
    /// Its file name, e.g. `t10k-labels-idx1-ubyte.gz`.
    pub file: String,
    /// Bytes received of this file.
    pub received: u64,
    /// Its size, when the server says.
    pub total: Option<u64>,
    /// The mirror in use.
    pub mirror: String,
    /// Whether the file has arrived and its digest is being checked (a damaged one is then
    /// refused and the next mirror tried).
    pub checking: bool,
}

/// What to download and where.
#[derive(Debug, Clone)]
pub struct DownloadPlan {
    /// Folder the four `.gz` files end up in.
    pub dest: PathBuf,
    /// Mirror base URLs (ending in `/`), tried in order.
    pub mirrors: Vec<String>,
    /// Expected digests of the decompressed files.
    pub sha256: [String; 4],
    /// Longest a mirror may send nothing (connecting, answering, or mid-body) before it
    /// counts as failed; a slow but steady mirror is never cut off.
    pub stall_timeout: Duration,
    /// Largest file accepted from a mirror (MNIST's largest is under 10 MB).
    pub max_bytes: u64,
}

/// The standard cap on one downloaded file.
pub const MAX_DOWNLOAD_BYTES: u64 = 64 << 20;

impl DownloadPlan {
    /// The standard plan into `dest`.
    pub fn standard(dest: PathBuf) -> Self {
        Self {
            dest,
            mirrors: DEFAULT_MIRRORS.iter().map(|s| s.to_string()).collect(),
            sha256: MNIST_SHA256.map(String::from),
            stall_timeout: Duration::from_secs(30),
            max_bytes: MAX_DOWNLOAD_BYTES,
        }
    }
}

/// Least a mirror must send in each stall-timeout window (about 2 KB/s over 30 s).
const MIN_WINDOW_BYTES: u64 = 64 << 10;

/// SHA-256 of the decompressed content of a gzip file; one inflating past any IDX file's size
/// ([`crate::data::idx::MAX_DECOMPRESSED`]) is an error, not hashed on.
pub fn gz_payload_sha256(path: &Path) -> std::io::Result<String> {
    let mut decoder =
        flate2::read::GzDecoder::new(std::io::BufReader::new(crate::fsutil::open_regular(path)?));
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut inflated = 0u64;
    loop {
        let n = decoder.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
        inflated += n as u64;
        if inflated > crate::data::idx::MAX_DECOMPRESSED {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} inflates past any MNIST file's size", path.display()),
            ));
        }
    }
}

/// Downloads the four files. Files already present with the right digest are kept. Calls
/// `progress` as bytes arrive and checks `cancel` between chunks.
pub fn download_mnist(
    plan: &DownloadPlan,
    progress: &dyn Fn(&DownloadProgress),
    cancel: &AtomicBool,
) -> Result<(), DownloadError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| DownloadError::Io { path, cause }
    };
    if plan.dest.exists() && !plan.dest.is_dir() {
        return Err(DownloadError::NotAFolder(plan.dest.clone()));
    }
    std::fs::create_dir_all(&plan.dest).map_err(io(&plan.dest))?;
    // Before a byte is fetched: a file of one of the names that is not the expected one (the
    // user's own data, or a damaged copy) stays as it is, and so does everything else. Those
    // that are the expected ones are kept and not fetched.
    let mut present = [false; 4];
    for ((name, expected), present) in MNIST_FILES.iter().zip(&plan.sha256).zip(&mut present) {
        let path = plan.dest.join(format!("{name}.gz"));
        *present = std::fs::symlink_metadata(&path).is_ok();
        if *present && !(path.is_file() && gz_payload_sha256(&path).ok().as_ref() == Some(expected)) {
            return Err(DownloadError::WouldReplace(path));
        }
    }
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(plan.stall_timeout))
            .timeout_per_read(Some(plan.stall_timeout))
            .max_redirects(0) // followed by `get_following_redirects`, http and https only
            .build(),
    );
    for (file_index, name) in MNIST_FILES.iter().enumerate() {
        let file = format!("{name}.gz");
        let final_path = plan.dest.join(&file);
        let expected = &plan.sha256[file_index];
        if present[file_index] {
            continue; // checked above
        }
        let mut attempts = Vec::new();
        let mut done = false;
        for mirror in &plan.mirrors {
            let url = format!("{mirror}{file}");
            let part = temp_path_for(&final_path);
            let report_as = |received, total, checking| {
                progress(&DownloadProgress {
                    file_index,
                    file: file.clone(),
                    received,
                    total,
                    mirror: mirror.clone(),
                    checking,
                })
            };
            let report = |received, total| report_as(received, total, false);
            let result = fetch_to(
                &agent,
                &url,
                &part,
                (plan.max_bytes, plan.stall_timeout),
                &report,
                cancel,
            )
            .and_then(|received| {
                report_as(received, Some(received), true);
                let got = gz_payload_sha256(&part).map_err(|e| format!("not a valid gzip file: {e}"))?;
                if &got != expected {
                    return Err(format!("checksum mismatch: expected {expected}, got {got}"));
                }
                std::fs::rename(&part, &final_path).map_err(|e| format!("cannot move into place: {e}"))
            });
            if result.is_err() {
                let _ignored = std::fs::remove_file(&part);
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(DownloadError::Cancelled);
            }
            match result {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(reason) => attempts.push(format!("{url}: {reason}")),
            }
        }
        if !done {
            return Err(DownloadError::AllMirrorsFailed { file, attempts });
        }
    }
    Ok(())
}

/// Streams `url` into `dest`, reporting progress, within the plan's size cap and stall rule;
/// the number of bytes received when the whole body arrived.
fn fetch_to(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    (max_bytes, stall_timeout): (u64, Duration),
    report: &dyn Fn(u64, Option<u64>),
    cancel: &AtomicBool,
) -> Result<u64, String> {
    let body = get_following_redirects(agent, url, cancel)?.into_body();
    let total = body.content_length();
    let too_big = |n: u64| {
        format!(
            "the mirror sends {n} bytes or more; no MNIST file is larger than {max_bytes}, so it was not read on"
        )
    };
    if let Some(t) = total
        && t > max_bytes
    {
        return Err(too_big(t));
    }
    let mut reader = body.into_reader();
    let mut out = std::fs::File::create(dest).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut received = 0u64;
    // A mirror that trickles a byte at a time never trips the per-read timeout: each
    // `stall_timeout` window must bring at least MIN_WINDOW_BYTES.
    let mut window = (std::time::Instant::now(), 0u64);
    report(0, total);
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err("cancelled".into());
        }
        let n = reader
            .read(&mut buf)
            .map_err(|e| format!("connection broke: {e}"))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
        received += n as u64;
        if received > max_bytes {
            return Err(too_big(received));
        }
        window.1 += n as u64;
        if window.0.elapsed() >= stall_timeout {
            if window.1 < MIN_WINDOW_BYTES && total.is_none_or(|t| received < t) {
                return Err(format!(
                    "the mirror sent only {} bytes in {} s; giving up",
                    window.1,
                    stall_timeout.as_secs()
                ));
            }
            window = (std::time::Instant::now(), 0);
        }
        report(received, total);
    }
    out.sync_all()
        .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    match total {
        Some(t) if t != received => Err(format!("incomplete: {received} of {t} bytes")),
        _ => Ok(received),
    }
}

/// Redirects followed for one file.
const MAX_REDIRECTS: usize = 5;

/// GET `url`, following up to [`MAX_REDIRECTS`] redirects to http or https addresses; a
/// redirect anywhere else (`file:`, `ftp:`, …) is refused, naming where it pointed.
fn get_following_redirects(
    agent: &ureq::Agent,
    url: &str,
    cancel: &AtomicBool,
) -> Result<ureq::http::Response<ureq::Body>, String> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        if cancel.load(Ordering::Relaxed) {
            return Err("cancelled".into());
        }
        let response = agent.get(&url).call().map_err(|e| e.to_string())?;
        if !response.status().is_redirection() {
            return Ok(response);
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("the mirror answers {} without a usable Location", response.status()))?;
        url = redirect_target(&url, location)?;
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

/// The scheme a URL or reference starts with (`http` of `http://…`, `file` of `file:/…`).
fn scheme_of(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some(scheme)
}

/// Where a redirect from `from` to `location` leads, resolved as a browser would (absolute,
/// `//host/…`, `/path`, `?query`, or relative to `from`'s folder, with `.` and `..` segments
/// removed); only http and https are followed.
fn redirect_target(from: &str, location: &str) -> Result<String, String> {
    let location = location.trim();
    if let Some(scheme) = scheme_of(location) {
        if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
            return Ok(location.to_string());
        }
        let shown: String = location.chars().take(200).collect();
        return Err(format!(
            "the mirror redirects to {shown}, which is not an http or https address; not followed"
        ));
    }
    let (scheme, rest) = from.split_once("://").ok_or_else(|| format!("{from} is not a URL"))?;
    if let Some(network_path) = location.strip_prefix("//") {
        return Ok(format!("{scheme}://{network_path}"));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..authority_end]);
    let from_path = rest[authority_end..].split(['?', '#']).next().unwrap_or("");
    let location = location.split('#').next().unwrap_or("");
    let (path, query) = location.split_once('?').map_or((location, None), |(p, q)| (p, Some(q)));
    let merged = if path.is_empty() {
        from_path.to_string()
    } else if path.starts_with('/') {
        path.to_string()
    } else {
        let folder = from_path.rfind('/').map_or("/", |i| &from_path[..=i]);
        format!("{folder}{path}")
    };
    let query = query.map_or(String::new(), |q| format!("?{q}"));
    Ok(format!("{origin}{}{query}", without_dot_segments(&merged)))
}

/// `path` with its `.` and `..` segments applied (RFC 3986, 5.2.4); never above the root.
fn without_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." | ".." => {
                if *segment == ".." {
                    out.pop();
                }
                if last {
                    out.push(""); // `a/..` and `a/.` name a folder: keep the trailing slash
                }
            }
            other => out.push(other),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::redirect_target;

    #[test]
    fn redirects_resolve_like_a_browser_and_leave_http_only_for_http() {
        let from = "http://mirror.test/mnist/train.gz?x=1";
        let to = |l| redirect_target(from, l);
        assert_eq!(to("https://cdn.test/a.gz").unwrap(), "https://cdn.test/a.gz");
        assert_eq!(to("//cdn.test/a.gz").unwrap(), "http://cdn.test/a.gz");
        assert_eq!(to("/other/a.gz").unwrap(), "http://mirror.test/other/a.gz");
        assert_eq!(to("a.gz").unwrap(), "http://mirror.test/mnist/a.gz");
        assert_eq!(redirect_target("http://mirror.test", "a.gz").unwrap(), "http://mirror.test/a.gz");
        assert_eq!(to("?sig=2").unwrap(), "http://mirror.test/mnist/train.gz?sig=2");
        assert_eq!(to("#part").unwrap(), "http://mirror.test/mnist/train.gz");
        assert_eq!(to("../other/./a.gz?x=/y").unwrap(), "http://mirror.test/other/a.gz?x=/y");
        assert_eq!(to("../../../a.gz").unwrap(), "http://mirror.test/a.gz");
        assert_eq!(redirect_target("http://mirror.test?next=/a", "b.gz").unwrap(), "http://mirror.test/b.gz");
        for hostile in ["file:///etc/passwd", "file:/etc/passwd", "FTP://x/y", "javascript:alert(1)"] {
            let err = to(hostile).unwrap_err();
            assert!(err.contains(hostile) && err.contains("not followed"), "{err}");
        }
    }
}
