//! EMNIST digits (seed S3's second dataset: other writers) read from a folder of IDX files,
//! raw or gzip, each image transposed into MNIST's orientation.
//!
//! EMNIST's IDX files store each image transposed relative to MNIST (column-major), so
//! [`load_emnist`] transposes them back.

use std::path::{Path, PathBuf};

use crate::data::{Digits, IMAGE_PIXELS, IMAGE_SIDE, idx};
use crate::study::StudyError;

/// `image` (28×28 bytes) transposed.
pub fn transpose(image: &[u8]) -> Vec<u8> {
    let n = IMAGE_SIDE;
    (0..IMAGE_PIXELS).map(|i| image[(i % n) * n + i / n]).collect()
}

fn pick_file(folder: &Path, kind: &str, rank: &str) -> Result<PathBuf, StudyError> {
    let entries = std::fs::read_dir(folder).map_err(|e| StudyError::io(folder, e))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            p.is_file() && name.contains(kind) && name.contains(rank)
        })
        .collect();
    // Prefer the digits test split when a folder holds several EMNIST sets.
    found.sort_by_key(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        (!name.contains("digits"), !name.contains("test"), name)
    });
    found.into_iter().next().ok_or_else(|| {
        StudyError::Config(format!(
            "no IDX {kind} file ({rank}) in {}; EMNIST digits ships emnist-digits-test-{kind}-{rank}-ubyte(.gz)",
            folder.display()
        ))
    })
}

/// Loads EMNIST digits from a folder of IDX files (raw or gzip), transposing each image.
pub fn load_emnist(folder: &Path) -> Result<(Digits, String), StudyError> {
    let images_path = pick_file(folder, "images", "idx3")?;
    let labels_path = pick_file(folder, "labels", "idx1")?;
    // IdxError names the file already.
    let images = idx::read_images(&images_path).map_err(|e| StudyError::Config(e.to_string()))?;
    let labels = idx::read_labels(&labels_path).map_err(|e| match e {
        idx::IdxError::BadLabel { .. } => StudyError::Config(format!(
            "{e}: only digits can be compared with MNIST (EMNIST's letters and balanced splits hold letters; use emnist-digits)"
        )),
        e => StudyError::Config(e.to_string()),
    })?;
    if images.count != labels.len() {
        return Err(StudyError::format(
            &labels_path,
            format!("{} labels for {} images", labels.len(), images.count),
        ));
    }
    let mut pixels = Vec::with_capacity(images.pixels.len());
    for image in images.pixels.chunks(IMAGE_PIXELS) {
        pixels.extend(transpose(image));
    }
    let name = images_path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    Ok((Digits { pixels, labels }, name))
}
