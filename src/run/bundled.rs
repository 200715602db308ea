//! The bundled model: small-cnn trained on real MNIST by the project's own `train` command
//! (`assets/bundled/provenance.json` says how, on which data and to what test accuracy),
//! compiled into the binary. When no run is open the app's pad answers from it, and the CLI
//! names it `--run bundled`.
//!
//! Everything that reads run folders works on it unchanged: [`bundled_run_dir`] writes it
//! out as an ordinary run folder (config, weights, checkpoint manifest, history) under the
//! user's cache folder, once per version of the weights, and checks the copy byte for byte
//! each time (a damaged copy is written again, never used).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What `--run` takes to mean the bundled model.
pub const BUNDLED_RUN: &str = "bundled";

/// The run folder's files, as compiled in.
const FILES: &[(&str, &[u8])] = &[
    ("config.json", include_bytes!("../../assets/bundled/config.json")),
    ("model.bpk", include_bytes!("../../assets/bundled/model.bpk")),
    ("checkpoint.json", include_bytes!("../../assets/bundled/checkpoint.json")),
    ("metrics.jsonl", include_bytes!("../../assets/bundled/metrics.jsonl")),
    ("summary.json", include_bytes!("../../assets/bundled/summary.json")),
    ("provenance.json", include_bytes!("../../assets/bundled/provenance.json")),
];

const PROVENANCE: &str = include_str!("../../assets/bundled/provenance.json");

/// How the bundled model was made (`assets/bundled/provenance.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The exact command that trained it.
    pub command: String,
    /// The architecture preset.
    pub preset: String,
    /// The training seed.
    pub seed: u64,
    /// Epochs trained.
    pub epochs: usize,
    /// SHA-256 of the MNIST training images and labels it saw.
    pub train_digest: String,
    /// SHA-256 of the MNIST test set it was measured on.
    pub test_digest: String,
    /// Its accuracy on the MNIST test set when it was trained.
    pub test_accuracy: f64,
    /// SHA-256 of `model.bpk`.
    pub model_sha256: String,
}

/// The bundled model's provenance.
pub fn provenance() -> Provenance {
    serde_json::from_str(PROVENANCE).expect("assets/bundled/provenance.json is checked by the tests")
}

/// How panels and the status bar name it: "bundled model (MNIST, 99.37 %)".
pub fn label() -> String {
    format!("bundled model (MNIST, {:.2} %)", 100.0 * provenance().test_accuracy)
}

/// Whether `run` (a `--run` value) names the bundled model.
pub fn is_bundled(run: &Path) -> bool {
    run.as_os_str() == BUNDLED_RUN
}

/// `run`, or the bundled run folder when `run` is [`BUNDLED_RUN`] (a folder of that name is
/// passed as `./bundled`).
pub fn resolve_run(run: &Path) -> std::io::Result<PathBuf> {
    if is_bundled(run) { bundled_run_dir() } else { Ok(run.to_path_buf()) }
}

/// The bundled run folder's name (`bundled-<digest>`).
fn folder_name() -> String {
    let tag = provenance().model_sha256;
    format!("bundled-{}", &tag[..tag.len().min(12)])
}

/// How a run folder is named on screen: its folder name, or "the bundled model".
pub fn display_name(dir: &Path) -> String {
    let name = dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    if name.ends_with(&folder_name()) { "the bundled model".into() } else { name }
}

/// The bundled model as a run folder, written under the user's cache folder (or the
/// temporary folder when there is none) the first time and checked byte for byte after.
pub fn bundled_run_dir() -> std::io::Result<PathBuf> {
    let name = folder_name();
    let root = dirs::cache_dir()
        .map(|d| d.join("mnist-workbench"))
        .unwrap_or_else(|| std::env::temp_dir().join("mnist-workbench"));
    match write_out(&root.join(&name)) {
        Ok(dir) => Ok(dir),
        // A cache folder that cannot be written (read-only home): the temporary folder.
        Err(_) => write_out(&std::env::temp_dir().join(format!("mnist-workbench-{name}"))),
    }
}

/// Whether `dir` holds exactly the compiled-in files.
fn is_intact(dir: &Path) -> bool {
    FILES
        .iter()
        .all(|(file, bytes)| std::fs::read(dir.join(file)).is_ok_and(|on_disk| on_disk == *bytes))
}

/// Makes `dir` hold the bundled run: kept when intact; a folder with a damaged or missing
/// file gets that file written again (atomically), keeping everything else in it (the
/// results of studies run on the bundled model); otherwise written beside it and renamed
/// into place.
fn write_out(dir: &Path) -> std::io::Result<PathBuf> {
    if is_intact(dir) {
        return Ok(dir.to_path_buf());
    }
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        for (file, bytes) in FILES {
            let path = dir.join(file);
            if std::fs::read(&path).ok().as_deref() != Some(*bytes) {
                crate::fsutil::atomic_write(&path, bytes)?;
            }
        }
        return if is_intact(dir) {
            Ok(dir.to_path_buf())
        } else {
            Err(std::io::Error::other(format!("{}: could not be repaired", dir.display())))
        };
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let staging = parent.join(format!(".bundled-{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    for (file, bytes) in FILES {
        std::fs::write(staging.join(file), bytes)?;
    }
    if dir.exists() {
        let aside = parent.join(format!(".bundled-{}.damaged", std::process::id()));
        std::fs::rename(dir, &aside)?;
        let _ = std::fs::remove_dir_all(&aside);
    }
    match std::fs::rename(&staging, dir) {
        Ok(()) => Ok(dir.to_path_buf()),
        // Another process wrote it at the same moment: theirs is as good as ours.
        Err(_) if is_intact(dir) => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(dir.to_path_buf())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}
