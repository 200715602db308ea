//! Monte-Carlo dropout: predictions with dropout left on at inference (seed S3's repeated
//! test passes, seed S1's dropout noise). BatchNorm stays in eval mode; the masks come from the
//! project's seeded generator, so a pass is reproducible. For a CNN the layers before its
//! only dropout run once per batch and each pass only redraws the mask and the output layer.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::Model;
use crate::data::{IMAGE_PIXELS, NUM_CLASSES, batch::images_tensor, normalize_intensity};
use crate::rng::Rng;

/// Dropout probability of `model` (0 when it has none).
pub fn dropout_prob(model: &Model) -> f64 {
    match model {
        Model::Cnn(m) => m.dropout_prob(),
        Model::Mlp(m) => m.dropout_prob(),
    }
}

fn mask(dims: [usize; 2], p: f64, rng: &mut Rng, device: &Device) -> Tensor<2> {
    let scale = (1.0 / (1.0 - p)) as f32;
    let values: Vec<f32> = (0..dims[0] * dims[1])
        .map(|_| if (rng.next_f32() as f64) < p { 0.0 } else { scale })
        .collect();
    Tensor::from_data(TensorData::new(values, dims), device)
}

/// Logits `[images × 10]` of each of `passes` dropout passes over the normalised `inputs`
/// (`[images × 784]`). With no dropout in the model every pass is the eval-mode prediction.
pub fn dropout_logits(
    model: &Model,
    inputs: &[f32],
    passes: usize,
    rng: &mut Rng,
    device: &Device,
) -> Vec<Vec<f32>> {
    debug_assert_eq!(inputs.len() % IMAGE_PIXELS, 0);
    let p = dropout_prob(model);
    let images = images_tensor(inputs.to_vec(), device);
    let to_vec = |t: Tensor<2>| t.into_data().iter::<f32>().collect::<Vec<f32>>();
    match model {
        Model::Cnn(cnn) => {
            let features = cnn.features(images); // [batch, dense]
            let dims = features.dims();
            (0..passes)
                .map(|_| {
                    let m = (p > 0.0).then(|| mask(dims, p, rng, device));
                    to_vec(cnn.head(features.clone(), m))
                })
                .collect()
        }
        Model::Mlp(mlp) => (0..passes)
            .map(|_| {
                let mut masks = |dims: [usize; 2]| {
                    if p > 0.0 {
                        mask(dims, p, rng, device)
                    } else {
                        Tensor::ones(dims, device)
                    }
                };
                to_vec(mlp.forward_masked(images.clone(), &mut masks))
            })
            .collect(),
    }
}

/// Images per forward pass of [`logits_of_intensities`].
pub const LOGITS_BATCH: usize = 512;

/// Monte-Carlo dropout: average the logits of several passes with dropout on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McDropout {
    /// Dropout passes whose logits are averaged.
    pub passes: usize,
    /// Seed of the dropout masks.
    pub seed: u64,
}

/// Logits of images given as intensities (784 per image), in eval mode or averaged over
/// `mc` dropout passes; one row of 10 per image.
pub fn logits_of_intensities(
    model: &Model,
    images: &[f32],
    mc: Option<McDropout>,
    device: &Device,
) -> Vec<[f32; NUM_CLASSES]> {
    let model = model.valid();
    let device = device.clone().without_autodiff();
    let mut rng = mc.map(|m| Rng::new(m.seed));
    let mut out = Vec::with_capacity(images.len() / IMAGE_PIXELS);
    for chunk in images.chunks(LOGITS_BATCH * IMAGE_PIXELS) {
        let inputs: Vec<f32> = chunk.iter().map(|&v| normalize_intensity(v)).collect();
        let flat: Vec<f32> = match (mc, rng.as_mut()) {
            (Some(m), Some(rng)) if dropout_prob(&model) > 0.0 => {
                let passes = dropout_logits(&model, &inputs, m.passes.max(1), rng, &device);
                let mut mean = vec![0.0f32; passes[0].len()];
                for pass in &passes {
                    for (m, v) in mean.iter_mut().zip(pass) {
                        *m += v / passes.len() as f32;
                    }
                }
                mean
            }
            _ => model
                .forward(images_tensor(inputs, &device)) // [chunk, 10]
                .into_data()
                .iter::<f32>()
                .collect(),
        };
        out.extend(flat.chunks(NUM_CLASSES).map(|row| {
            let mut r = [0.0; NUM_CLASSES];
            r.copy_from_slice(row);
            r
        }));
    }
    out
}
