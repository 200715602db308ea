//! Digits drawn on the pad and labelled by the user (seed S3's web demo feedback): a live
//! accuracy of the model on them, and an IDX set to evaluate or train on.
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

    /// Writes the four MNIST-named IDX files into `dir` (each atomically).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        if self.digits.is_empty() {
            return Err(std::io::Error::other("no labelled drawings yet"));
        }
        std::fs::create_dir_all(dir)?;
        let set = self.to_digits();
        let images = idx::encode_images(&set.pixels);
        let labels = idx::encode_labels(&set.labels);
        for (name, bytes) in MNIST_FILES.iter().zip([&images, &labels, &images, &labels]) {
            crate::fsutil::atomic_write(&dir.join(name), bytes)?;
        }
        Ok(())
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
