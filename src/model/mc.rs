//! Monte-Carlo dropout: predictions with dropout left on at inference (seed S3's stability
//! test, seed S1's dropout noise). BatchNorm stays in eval mode; the masks come from the
//! project's seeded generator, so a pass is reproducible. For a CNN the layers before its
//! only dropout run once per batch and each pass only redraws the mask and the output layer.

use burn::tensor::{Device, Tensor, TensorData};

use super::Model;
use crate::data::{IMAGE_PIXELS, batch::images_tensor};
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
