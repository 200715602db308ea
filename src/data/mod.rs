//! Digit data: IDX files, finding and downloading MNIST, the built-in synthetic digits,
//! seeded stratified subsets, augmentation and batching into tensors.

pub mod augment;
pub mod batch;
pub mod corrupt;
pub mod download;
pub mod drawings;
pub mod emnist;
pub mod idx;
pub mod sources;
pub mod subset;
pub mod synthetic;
pub mod worker;

pub use sources::{DataError, DataSource, Dataset, load_dataset, load_split_from_folder};

/// Side of an MNIST image in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels in one MNIST image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Number of classes: the digits 0-9.
pub const NUM_CLASSES: usize = 10;
/// MNIST training-set mean of pixel/255 (the one place it is defined).
pub const MNIST_MEAN: f32 = 0.1307;
/// MNIST training-set standard deviation of pixel/255.
pub const MNIST_STD: f32 = 0.3081;

/// The model input value of a pixel byte: `(pixel/255 - mean) / std`.
pub fn normalize_pixel(pixel: u8) -> f32 {
    (pixel as f32 / 255.0 - MNIST_MEAN) / MNIST_STD
}

/// Intensities in [0, 1] of stored pixel bytes (0 = background), as the pad holds images.
pub fn intensities(bytes: &[u8]) -> Vec<f32> {
    bytes.iter().map(|&b| b as f32 / 255.0).collect()
}

/// The model input value of an intensity in [0, 1].
pub fn normalize_intensity(value: f32) -> f32 {
    (value - MNIST_MEAN) / MNIST_STD
}

/// A set of labelled 28×28 grey images, pixels stored as bytes (0 = background).
#[derive(Debug, Clone, Default)]
pub struct Digits {
    /// `len() * 784` bytes, image after image, row-major.
    pub pixels: Vec<u8>,
    /// One label 0-9 per image.
    pub labels: Vec<u8>,
}

impl Digits {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        &self.pixels[index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS]
    }

    /// The intensities of image `index` (bytes / 255), as the pad holds images.
    pub fn intensities(&self, index: usize) -> Vec<f32> {
        intensities(self.image(index))
    }

    /// How many images of each digit.
    pub fn label_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0; NUM_CLASSES];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// A new set holding the given images, in that order.
    pub fn select(&self, indices: &[usize]) -> Digits {
        let mut pixels = Vec::with_capacity(indices.len() * IMAGE_PIXELS);
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        Digits {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// A SHA-256 digest of pixels and labels, recorded in run configs for reproducibility.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(&self.pixels);
        h.update(&self.labels);
        hex(&h.finalize())
    }
}

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
