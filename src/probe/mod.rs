//! Probing a trained model (seeds [S1, S2, S3](crate#seed-studies)), each a configuration, a
//! pure or batched computation and a serialisable result. Each is wrapped as a registered
//! study in [`crate::study`] (its settings, `probe <id>` subcommand, results file and figure),
//! which runs it on the `mnist-probe` thread.
//!
//! - [`row_sweep`]: erase every contiguous row range of an image (or paint a bar at each row)
//!   and record a class margin; batch mode over many test images (seed
//!   [S1](crate#seed-studies)'s binary search).
//! - [`ablation`]: zero the units whose class-mean activations differ most and compare with
//!   random ablations of as many units (seed [S1](crate#seed-studies)).
//! - [`saliency`]: gradient, gradient × input, integrated gradients and occlusion maps.
//! - [`embed`] and [`tsne`]: penultimate-layer embeddings, PCA, t-SNE and nearest
//!   neighbours (seed [S2](crate#seed-studies)).
//! - [`corrupt`] and [`cross_dataset`]: EMNIST digits and a corruption suite (seed
//!   [S3](crate#seed-studies)).
//! - [`feedback`]: digits drawn and labelled by the user, saved as an IDX set.
//!
//! Images are 784 intensities in [0, 1] (0 = background), row-major, as the pad holds them.

pub mod ablation;
pub mod corrupt;
pub mod cross_dataset;
pub mod embed;
pub mod feedback;
pub mod row_sweep;
pub mod saliency;
pub mod tsne;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::data::{IMAGE_PIXELS, NUM_CLASSES, batch::images_tensor, normalize_intensity};
use crate::model::Model;
use crate::rng::Rng;

pub use crate::jobs::{Progress, Reporter};
pub use crate::study::StudyError;
pub use crate::train::metrics::argmax;

/// Images per forward pass in probes.
pub const PROBE_BATCH: usize = 512;

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
    for chunk in images.chunks(PROBE_BATCH * IMAGE_PIXELS) {
        let inputs: Vec<f32> = chunk.iter().map(|&v| normalize_intensity(v)).collect();
        let flat: Vec<f32> = match (mc, rng.as_mut()) {
            (Some(m), Some(rng)) if crate::model::mc::dropout_prob(&model) > 0.0 => {
                let passes = crate::model::mc::dropout_logits(&model, &inputs, m.passes.max(1), rng, &device);
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

/// A model with known answers for tests: a linear model (a one-layer MLP) whose logits are
/// `weights · intensity + bias` exactly, built from hand-set weights.
pub fn linear_model(
    weights: &[[f32; IMAGE_PIXELS]; NUM_CLASSES],
    bias: &[f32; NUM_CLASSES],
    device: &Device,
) -> Model {
    use crate::model::ModelSpec;
    use crate::model::plain::PlainWeights;
    // The model sees normalised inputs x = (v - mean) / std, so w_x = w * std and the bias
    // absorbs w · mean: w_x · x + b' = w · v - w · mean + b'.
    let std = crate::data::MNIST_STD;
    let mean = crate::data::MNIST_MEAN;
    let mut w = vec![0.0f32; IMAGE_PIXELS * NUM_CLASSES]; // [784, 10], row-major
    let mut b = bias.to_vec();
    for (class, row) in weights.iter().enumerate() {
        for (pixel, &value) in row.iter().enumerate() {
            w[pixel * NUM_CLASSES + class] = value * std;
            b[class] += value * mean;
        }
    }
    let spec = ModelSpec::Mlp {
        hidden: vec![],
        dropout: 0.0,
    };
    let plain = PlainWeights {
        params: vec![w, b],
        running: vec![],
    };
    Model::from_plain(&spec, &plain, device).expect("a 784→10 linear model fits its spec")
}
