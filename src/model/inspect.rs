//! Inspection: kernels and activations copied out of a [`Model`] into plain vectors the
//! analysis code, the app and reports draw (nothing here keeps tensors).

use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::{LayerOutput, Model};
use crate::data::{Digits, IMAGE_PIXELS, IMAGE_SIDE, batch};

/// One layer's kernels: `outputs × inputs` square kernels of `side × side`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterBank {
    /// Layer name (`conv1`, …, or `fc1` for an MLP's first layer).
    pub name: String,
    /// Output channels (units for an MLP).
    pub outputs: usize,
    /// Input channels (1 for the first layer).
    pub inputs: usize,
    /// Kernel side (28 for an MLP unit, shown as an image).
    pub side: usize,
    /// `[outputs, inputs, side, side]`, row-major.
    pub weights: Vec<f32>,
}

impl FilterBank {
    /// The kernel from input channel `input` to output channel `output`.
    pub fn kernel(&self, output: usize, input: usize) -> &[f32] {
        let n = self.side * self.side;
        let start = (output * self.inputs + input) * n;
        &self.weights[start..start + n]
    }

    /// All kernels of one output channel, input after input.
    pub fn output_kernels(&self, output: usize) -> &[f32] {
        let n = self.inputs * self.side * self.side;
        &self.weights[output * n..(output + 1) * n]
    }
}

/// Every conv layer's kernels (a CNN), or each first-layer unit's weights as a 28×28 image
/// (an MLP).
pub fn filter_banks(model: &Model) -> Vec<FilterBank> {
    match model {
        Model::Cnn(cnn) => cnn
            .conv_weights()
            .into_iter()
            .enumerate()
            .map(|(i, w)| {
                let [outputs, inputs, side, _] = w.dims(); // [out, in, k, k]
                FilterBank {
                    name: format!("conv{}", i + 1),
                    outputs,
                    inputs,
                    side,
                    weights: w.into_data().iter::<f32>().collect(),
                }
            })
            .collect(),
        Model::Mlp(mlp) => {
            let w = mlp.first_layer_weights(); // [784, units]
            let [_, units] = w.dims();
            let w = w.transpose(); // [units, 784]
            vec![FilterBank {
                name: "fc1".into(),
                outputs: units,
                inputs: 1,
                side: IMAGE_SIDE,
                weights: w.into_data().iter::<f32>().collect(),
            }]
        }
    }
}

/// One layer's activations for one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerActivations {
    /// Layer name (`conv1`, …, `fc1`, …), as [`LayerOutput::name`](super::LayerOutput::name).
    pub name: String,
    /// Channels (conv) or units (dense).
    pub channels: usize,
    /// Side of each feature map; 0 for a dense layer.
    pub side: usize,
    /// `[channels, side, side]` or `[units]`.
    pub values: Vec<f32>,
}

impl LayerActivations {
    /// Whether this is a conv layer's maps.
    pub fn is_conv(&self) -> bool {
        self.side > 0
    }
}

/// Logits and every layer's activations for one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    /// The ten logits, before softmax.
    pub logits: [f32; 10],
    /// Layers from input to output.
    pub layers: Vec<LayerActivations>,
}

/// Runs one pad image (784 intensities in `[0, 1]`) through the model in eval mode,
/// keeping every layer's output: one forward pass serves both the logits and the feature
/// maps. `None` for a wrong length.
pub fn inspect_intensities(model: &Model, intensities: &[f32], device: &Device) -> Option<Inspection> {
    if intensities.len() != IMAGE_PIXELS {
        return None;
    }
    let inputs = crate::train::eval::model_input(intensities);
    let x = batch::images_tensor(inputs, &device.clone().without_autodiff()); // [1, 1, 28, 28]
    let (logits, outputs) = model.forward_with_activations(x);
    let logits: Vec<f32> = logits.into_data().iter::<f32>().collect(); // [1, 10]
    let layers = outputs.into_iter().map(first_image_activations).collect();
    Some(Inspection {
        logits: logits.try_into().ok()?,
        layers,
    })
}

fn first_image_activations(output: LayerOutput) -> LayerActivations {
    match output {
        LayerOutput::Conv { name, maps } => {
            let [_, channels, side, _] = maps.dims(); // [1, c, s, s]
            LayerActivations {
                name,
                channels,
                side,
                values: maps.into_data().iter::<f32>().collect(),
            }
        }
        LayerOutput::Dense { name, values } => {
            let [_, units] = values.dims(); // [1, units]
            LayerActivations {
                name,
                channels: units,
                side: 0,
                values: values.into_data().iter::<f32>().collect(),
            }
        }
    }
}

/// The names of the layers `forward_with_activations` reports, with their channel counts.
pub fn layer_names(model: &Model, device: &Device) -> Vec<(String, usize)> {
    inspect_intensities(model, &[0.0; IMAGE_PIXELS], device)
        .map(|i| i.layers.into_iter().map(|l| (l.name, l.channels)).collect())
        .unwrap_or_default()
}

/// Each image's peak activation per channel of layer `layer` (the maximum over a conv
/// channel's map, a dense unit's value): row-major `[images × channels]`, `batch_size` images
/// a pass. Checks `cancel` before every batch (`None` when cancelled; an error naming the
/// layer when it does not exist) and reports `(done, total)` after each.
pub fn channel_peaks(
    model: &Model,
    data: &Digits,
    layer: usize,
    batch_size: usize,
    device: &Device,
    cancel: &AtomicBool,
    mut progress: impl FnMut(usize, usize),
) -> Option<Result<(usize, Vec<f32>), String>> {
    let device = device.clone().without_autodiff();
    let indices: Vec<usize> = (0..data.len()).collect();
    let mut peaks = Vec::new();
    let mut channels = 0;
    for chunk in indices.chunks(batch_size.max(1)) {
        if cancel.load(Ordering::Relaxed) {
            return None;
        }
        let (x, _) = batch::batch(data, chunk, None, &device); // [b, 1, 28, 28]
        let (_, mut outputs) = model.forward_with_activations(x);
        if layer >= outputs.len() {
            return Some(Err(format!(
                "layer {layer} does not exist: this model has {} layers (0 to {})",
                outputs.len(),
                outputs.len().saturating_sub(1)
            )));
        }
        let values = match outputs.swap_remove(layer) {
            LayerOutput::Conv { maps, .. } => {
                let [b, c, s, _] = maps.dims();
                channels = c;
                maps.reshape([b, c, s * s])
                    .max_dim(2) // [b, c, 1]
                    .into_data()
                    .iter::<f32>()
                    .collect::<Vec<_>>()
            }
            LayerOutput::Dense { values, .. } => {
                channels = values.dims()[1]; // [b, units]
                values.into_data().iter::<f32>().collect()
            }
        };
        peaks.extend(values);
        progress(peaks.len() / channels.max(1), data.len());
    }
    Some(Ok((channels, peaks)))
}
