//! Digits drawn on the pad and labelled by the user (seed S3's web demo): what a model
//! makes of them is a study, and they save as an IDX set to evaluate or train on.
//!
//! [`DrawnDigits::save`] writes the set in MNIST's file names (the same images as both
//! training and test split), so the Data panel and `--data` open the folder like MNIST.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::sources::MNIST_FILES;
use crate::data::{Digits, IMAGE_PIXELS, NUM_CLASSES, idx};

/// One labelled drawing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrawnDigit {
    /// 784 bytes, 0 = background.
    pub pixels: Vec<u8>,
    /// The digit the user says it is.
    pub label: u8,
    /// What the model predicted when it was labelled.
    pub predicted: u8,
}

/// The drawings labelled so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DrawnDigits {
    /// In the order they were labelled.
    pub digits: Vec<DrawnDigit>,
}

impl DrawnDigits {
    /// Adds a drawing (784 intensities) with its true label and the model's prediction.
    pub fn add(&mut self, intensities: &[f32], label: u8, predicted: u8) {
        debug_assert_eq!(intensities.len(), IMAGE_PIXELS);
        self.digits.push(DrawnDigit {
            pixels: crate::analysis::pixels::intensities_to_grey(intensities),
            label: label.min(9),
            predicted,
        });
    }

    /// Removes the last drawing (undo).
    pub fn undo(&mut self) -> Option<DrawnDigit> {
        self.digits.pop()
    }

    /// Share predicted right, when there is any.
    pub fn accuracy(&self) -> Option<f64> {
        (!self.digits.is_empty()).then(|| {
            self.digits.iter().filter(|d| d.label == d.predicted).count() as f64 / self.digits.len() as f64
        })
    }

    /// (right, total) per true digit.
    pub fn per_class(&self) -> [(usize, usize); NUM_CLASSES] {
        let mut out = [(0, 0); NUM_CLASSES];
        for d in &self.digits {
            out[d.label as usize].1 += 1;
            out[d.label as usize].0 += usize::from(d.label == d.predicted);
        }
        out
    }

    /// The drawings as a digit set.
    pub fn to_digits(&self) -> Digits {
        Digits {
            pixels: self
                .digits
                .iter()
                .flat_map(|d| d.pixels.iter().copied())
                .collect(),
            labels: self.digits.iter().map(|d| d.label).collect(),
        }
    }

    /// Writes the four MNIST-named IDX files as the folder `dir`, all or nothing (built in a
    /// temporary folder, then renamed). `replace` lets it take the place of an existing `dir`
    /// (the workbench's own `drawn-digits`); otherwise an existing folder is refused.
    pub fn save(&self, dir: &Path, replace: bool) -> std::io::Result<()> {
        if self.digits.is_empty() {
            return Err(std::io::Error::other("no labelled drawings yet"));
        }
        let set = self.to_digits();
        let images = idx::encode_images(&set.pixels);
        let labels = idx::encode_labels(&set.labels);
        let files: Vec<(&str, &[u8])> = MNIST_FILES
            .iter()
            .zip([&images, &labels, &images, &labels])
            .map(|(name, bytes)| (*name, bytes.as_slice()))
            .collect();
        crate::fsutil::write_folder_atomically(dir, &files, replace)
    }

    /// Writes the set to `dir` as [`Self::save`] does, or, once the set is empty, removes its
    /// files there (so an empty set is not reopened). Other files in `dir` are left alone.
    pub fn sync_to(&self, dir: &Path) -> std::io::Result<()> {
        if !self.digits.is_empty() {
            return self.save(dir, true);
        }
        for name in MNIST_FILES {
            match std::fs::remove_file(dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("cannot remove {}: {e}", dir.join(name).display()),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes the set into a folder the user chose, which must not hold MNIST-named files
    /// already (MNIST itself, or another set): they are never replaced.
    pub fn save_into(&self, folder: &Path) -> std::io::Result<()> {
        let taken: Vec<String> = MNIST_FILES
            .iter()
            .flat_map(|name| [name.to_string(), format!("{name}.gz")])
            .filter(|name| folder.join(name).exists())
            .collect();
        if !taken.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} already holds {}; choose an empty folder (nothing was written)",
                    folder.display(),
                    taken.join(", ")
                ),
            ));
        }
        if self.digits.is_empty() {
            return Err(std::io::Error::other("no labelled drawings yet"));
        }
        std::fs::create_dir_all(folder)?;
        let set = self.to_digits();
        let images = idx::encode_images(&set.pixels);
        let labels = idx::encode_labels(&set.labels);
        // Every file is written in full under a temporary name before any is renamed; a
        // failure removes what this call wrote.
        let files: Vec<_> = MNIST_FILES
            .iter()
            .zip([&images, &labels, &images, &labels])
            .collect();
        let mut staged = Vec::new();
        let mut placed = Vec::new();
        let result = (|| {
            for (name, bytes) in &files {
                let tmp = crate::fsutil::temp_path_for(&folder.join(name));
                std::fs::write(&tmp, bytes)?;
                staged.push((tmp, folder.join(name)));
            }
            for (tmp, path) in &staged {
                std::fs::rename(tmp, path)?;
                placed.push(path.clone());
            }
            Ok(())
        })();
        if result.is_err() {
            for path in placed.iter().chain(staged.iter().map(|(tmp, _)| tmp)) {
                let _ignored = std::fs::remove_file(path);
            }
        }
        result
    }

    /// Reads a set written by [`save`](Self::save) (predictions unknown: set to the label).
    pub fn load(dir: &Path) -> Result<Self, crate::data::DataError> {
        let (_, test) = crate::data::load_split_from_folder(dir)?;
        Ok(Self {
            digits: (0..test.len())
                .map(|i| DrawnDigit {
                    pixels: test.image(i).to_vec(),
                    label: test.labels[i],
                    predicted: test.labels[i],
                })
                .collect(),
        })
    }
}
