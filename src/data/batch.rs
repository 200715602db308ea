//! Turning images into normalised input tensors, with optional augmentation.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::augment::{AffineParams, warp};
use super::{Digits, IMAGE_PIXELS, IMAGE_SIDE, normalize_intensity, normalize_pixel};
use crate::rng::Rng;

/// Normalised model inputs for the given images, flattened `[n * 784]`. With `augment`, each
/// image gets its own random affine warp drawn from the generator.
pub fn normalized_inputs(data: &Digits, indices: &[usize], augment: Option<&mut Rng>) -> Vec<f32> {
    let mut out = Vec::with_capacity(indices.len() * IMAGE_PIXELS);
    match augment {
        None => {
            for &i in indices {
                out.extend(data.image(i).iter().map(|&p| normalize_pixel(p)));
            }
        }
        Some(rng) => {
            for &i in indices {
                let img = data.intensities(i);
                let warped = warp(&img, AffineParams::random(rng));
                out.extend(warped.into_iter().map(normalize_intensity));
            }
        }
    }
    out
}

/// An input batch `[n, 1, 28, 28]` on `device`.
pub fn images_tensor(inputs: Vec<f32>, device: &Device) -> Tensor<4> {
    let n = inputs.len() / IMAGE_PIXELS;
    Tensor::from_data(TensorData::new(inputs, [n, 1, IMAGE_SIDE, IMAGE_SIDE]), device)
}

/// A label batch `[n]` on `device`.
pub fn labels_tensor(data: &Digits, indices: &[usize], device: &Device) -> Tensor<1, Int> {
    let labels: Vec<i64> = indices.iter().map(|&i| data.labels[i] as i64).collect();
    let n = labels.len();
    Tensor::from_data(TensorData::new(labels, [n]), device)
}

/// Images and labels of `indices` as tensors on `device`.
pub fn batch(
    data: &Digits,
    indices: &[usize],
    augment: Option<&mut Rng>,
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    (
        images_tensor(normalized_inputs(data, indices, augment), device),
        labels_tensor(data, indices, device),
    )
}
