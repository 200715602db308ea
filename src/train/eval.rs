//! Evaluating a model on a set of images: predictions, loss, accuracy, confusion.

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::metrics;
use crate::data::{Digits, batch};
use crate::model::Model;

/// Images per evaluation batch.
pub const EVAL_BATCH: usize = 1000;

/// The result of evaluating a model on a set of images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Share correct.
    pub accuracy: f64,
    /// Accuracy per true digit.
    pub per_class_accuracy: [f64; 10],
    /// `[true][predicted]` counts.
    pub confusion: [[u32; 10]; 10],
    /// Predicted digit of each image.
    pub predictions: Vec<u8>,
    /// Softmax probability of the predicted digit of each image.
    pub confidences: Vec<f32>,
}

/// Logits `[n × 10]` (row-major) of the given images, in eval mode, batched.
pub fn logits_of(model: &Model, data: &Digits, indices: &[usize], device: &Device) -> Vec<f32> {
    let model = model.valid();
    let device = device.clone().without_autodiff();
    let mut out = Vec::with_capacity(indices.len() * 10);
    for chunk in indices.chunks(EVAL_BATCH) {
        let (x, _) = batch::batch(data, chunk, None, &device);
        out.extend(model.forward(x).into_data().iter::<f32>());
    }
    out
}

/// Evaluates `model` on every image of `data`.
pub fn evaluate(model: &Model, data: &Digits, device: &Device) -> EvalReport {
    let indices: Vec<usize> = (0..data.len()).collect();
    let logits = logits_of(model, data, &indices, device);
    report_from_logits(&logits, &data.labels)
}

/// Evaluates `model` on every image of `data`, calling `stop` with the number of images done
/// before each batch of [`EVAL_BATCH`] images (and once at the end; a progress bar can follow
/// it); `None` when it said stop.
pub fn evaluate_unless(
    model: &Model,
    data: &Digits,
    device: &Device,
    stop: &mut dyn FnMut(usize) -> bool,
) -> Option<EvalReport> {
    let valid = model.valid();
    let plain = device.clone().without_autodiff();
    let mut logits = Vec::with_capacity(data.len() * 10);
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        if stop(logits.len() / 10) {
            return None;
        }
        let (x, _) = batch::batch(data, chunk, None, &plain);
        logits.extend(valid.forward(x).into_data().iter::<f32>());
    }
    if stop(data.len()) {
        return None;
    }
    Some(report_from_logits(&logits, &data.labels))
}

/// Builds a report from logits and labels (pure).
pub fn report_from_logits(logits: &[f32], labels: &[u8]) -> EvalReport {
    let predictions = metrics::argmax_rows(logits);
    let confidences = logits
        .chunks(10)
        .zip(&predictions)
        .map(|(row, &p)| metrics::softmax(row)[p as usize])
        .collect();
    let confusion = metrics::confusion_matrix(labels, &predictions);
    EvalReport {
        loss: metrics::cross_entropy(logits, labels),
        accuracy: metrics::accuracy(labels, &predictions),
        per_class_accuracy: metrics::per_class_accuracy(&confusion),
        confusion,
        predictions,
        confidences,
    }
}

/// Logits of one pad image: 784 intensities in `[0, 1]` (0 = background), row-major.
/// Normalised exactly as training images are. Returns `None` for a wrong length.
pub fn logits_for_intensities(model: &Model, intensities: &[f32], device: &Device) -> Option<[f32; 10]> {
    if intensities.len() != crate::data::IMAGE_PIXELS {
        return None;
    }
    let inputs = model_input(intensities);
    let x = batch::images_tensor(inputs, &device.clone().without_autodiff()); // [1, 1, 28, 28]
    let logits: Vec<f32> = model.forward(x).into_data().iter::<f32>().collect(); // [1, 10]
    logits.try_into().ok()
}

/// What the model sees for a pad image: each intensity normalised with MNIST's mean and
/// standard deviation.
pub fn model_input(intensities: &[f32]) -> Vec<f32> {
    intensities
        .iter()
        .map(|&v| crate::data::normalize_intensity(v.clamp(0.0, 1.0)))
        .collect()
}
