//! The image a one-image probe looks at, as a setting: a test image by index, the first
//! test image of a digit, a picture file (made MNIST-style as the pad does) or pixels given
//! outright (the pad's). Kept unresolved in the config, so the CLI can name it before the
//! data are loaded and `study.json` records what was asked for; [`ImageChoice::pick`]
//! resolves it when the study runs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::StudyError;
use crate::data::{Dataset, IMAGE_PIXELS};

/// Which image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ImageChoice {
    /// Test image number `index`.
    TestIndex {
        /// Index into the test set.
        index: usize,
    },
    /// The first test image labelled `digit`.
    FirstOf {
        /// 0-9.
        digit: u8,
    },
    /// A picture file, preprocessed as the pad does (any size; centred, 28×28).
    Png {
        /// The file.
        path: PathBuf,
    },
    /// Pixels given outright (784 intensities in [0, 1]), e.g. the pad's.
    Pixels {
        /// 784 intensities, row-major.
        pixels: Vec<f32>,
        /// What they are, for summaries ("the pad image").
        label: String,
    },
}

impl Default for ImageChoice {
    fn default() -> Self {
        ImageChoice::FirstOf { digit: 7 }
    }
}

/// A resolved image and what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PickedImage {
    /// 784 intensities in [0, 1], row-major.
    pub pixels: Vec<f32>,
    /// What it is: "test image 3 (a 7)", a file name, "the pad image".
    pub label: String,
}

impl ImageChoice {
    /// Whether picking it reads the test set (a picture file or given pixels do not).
    pub fn reads_data(&self) -> bool {
        matches!(self, ImageChoice::TestIndex { .. } | ImageChoice::FirstOf { .. })
    }

    /// The pad's (or any) pixels, labelled.
    pub fn pixels(pixels: &[f32], label: &str) -> Self {
        ImageChoice::Pixels {
            pixels: pixels.to_vec(),
            label: label.to_string(),
        }
    }

    /// Refuses a choice that cannot be resolved whatever the data (wrong pixel count,
    /// digit past 9, pixels outside [0, 1]), naming `field`.
    pub fn validate(&self, field: &str) -> Result<(), StudyError> {
        match self {
            ImageChoice::FirstOf { digit } if *digit > 9 => Err(StudyError::Config(format!(
                "{field}: {digit} is not a digit (0 to 9)"
            ))),
            ImageChoice::Pixels { pixels, .. } if pixels.len() != IMAGE_PIXELS => {
                Err(StudyError::Config(format!(
                    "{field}: an image has {IMAGE_PIXELS} pixels, not {}",
                    pixels.len()
                )))
            }
            ImageChoice::Pixels { pixels, .. } if pixels.iter().any(|v| !(0.0..=1.0).contains(v)) => Err(
                StudyError::Config(format!("{field}: pixel intensities must lie in [0, 1]")),
            ),
            _ => Ok(()),
        }
    }

    /// The image, from the test set of `data` where the choice indexes it; the error names
    /// the index or the file.
    pub fn pick(&self, data: Option<&Dataset>) -> Result<PickedImage, StudyError> {
        let need_data = || {
            data.ok_or_else(|| StudyError::Config("a test image was chosen but no data are loaded".into()))
        };
        match self {
            ImageChoice::TestIndex { index } => {
                let test = &need_data()?.test;
                if *index >= test.len() {
                    return Err(StudyError::Config(format!(
                        "image {index} is past the test set ({} images)",
                        test.len()
                    )));
                }
                Ok(PickedImage {
                    pixels: test.intensities(*index),
                    label: format!("test image {index} (a {})", test.labels[*index]),
                })
            }
            ImageChoice::FirstOf { digit } => {
                let test = &need_data()?.test;
                let index = (0..test.len())
                    .find(|&i| test.labels[i] == *digit)
                    .ok_or_else(|| StudyError::Config(format!("the test set has no {digit}")))?;
                ImageChoice::TestIndex { index }.pick(data)
            }
            ImageChoice::Png { path } => {
                let (grey, w, h) =
                    crate::preprocess::load_grey(path).map_err(|e| StudyError::Config(e.to_string()))?;
                let pixels = crate::preprocess::mnist_style(&grey, w, h)
                    .map_err(|e| StudyError::Config(format!("{}: {e}", path.display())))?;
                Ok(PickedImage {
                    pixels,
                    label: path.display().to_string(),
                })
            }
            ImageChoice::Pixels { pixels, label } => {
                self.validate("image")?;
                Ok(PickedImage {
                    pixels: pixels.clone(),
                    label: label.clone(),
                })
            }
        }
    }
}

/// The `--index N` / `--image PNG` flags of a one-image probe.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ImageArgs {
    /// Test-set index of the image.
    #[arg(long, value_name = "N", conflicts_with = "image")]
    pub index: Option<usize>,
    /// A picture of a digit instead (PNG, any size; made MNIST-style like the pad does).
    #[arg(long, value_name = "PNG")]
    pub image: Option<PathBuf>,
}

impl ImageArgs {
    /// The choice these flags make; without either, the first test image of `default_digit`.
    pub fn choice(&self, default_digit: u8) -> ImageChoice {
        match (&self.image, self.index) {
            (Some(path), _) => ImageChoice::Png { path: path.clone() },
            (None, Some(index)) => ImageChoice::TestIndex { index },
            (None, None) => ImageChoice::FirstOf { digit: default_digit },
        }
    }
}
