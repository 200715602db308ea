//! Saliency maps for one image and one class: which pixels move the class's logit.
//!
//! All maps are in intensity units (the pad's 0-1 pixels), so they read the same for every
//! model: the gradient is ∂logit/∂intensity; gradient × input multiplies it by the
//! intensity; integrated gradients average the gradient along the straight path from a blank
//! image (`steps` midpoints) and multiply by the intensity, so they add up to
//! `logit(image) − logit(blank)`; occlusion is the logit's drop when a patch (or a row) is
//! blanked, averaged over the patches covering each pixel.

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::row_sweep::erase_rows;
use super::{StudyError, logits_of_intensities};
use crate::data::{
    IMAGE_PIXELS, IMAGE_SIDE, MNIST_STD, NUM_CLASSES, batch::images_tensor, normalize_intensity,
};
use crate::model::Model;

/// Settings of [`saliency`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SaliencyConfig {
    /// The class whose logit is explained.
    pub class: u8,
    /// Steps of integrated gradients.
    pub ig_steps: usize,
    /// Side of the occlusion patch.
    pub patch: usize,
    /// Step between occlusion patches.
    pub stride: usize,
}

impl Default for SaliencyConfig {
    fn default() -> Self {
        Self {
            class: 0,
            ig_steps: 32,
            patch: 4,
            stride: 2,
        }
    }
}

/// The four maps (784 values each, row-major) and what they explain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaliencyMaps {
    /// Settings.
    pub config: SaliencyConfig,
    /// Logits of the image.
    pub logits: [f32; NUM_CLASSES],
    /// ∂logit/∂intensity.
    pub gradient: Vec<f32>,
    /// Gradient × intensity.
    pub gradient_x_input: Vec<f32>,
    /// Integrated gradients from a blank image.
    pub integrated: Vec<f32>,
    /// Logit drop when a patch covering the pixel is blanked (mean over patches).
    pub occlusion: Vec<f32>,
    /// Logit drop when each single row is blanked (28 values).
    pub row_occlusion: Vec<f32>,
    /// `logit(image) − logit(blank)`, which integrated gradients should sum to.
    pub blank_gap: f32,
}

impl SaliencyMaps {
    /// The named maps, in display order.
    pub fn named(&self) -> [(&'static str, &[f32]); 4] {
        [
            ("Gradient", &self.gradient),
            ("Gradient × input", &self.gradient_x_input),
            ("Integrated gradients", &self.integrated),
            ("Occlusion", &self.occlusion),
        ]
    }
}

/// ∂logit(class)/∂intensity for each image (784 intensities per image), and the logits.
pub fn input_gradients(model: &Model, images: &[f32], class: u8, device: &Device) -> Vec<f32> {
    let n = images.len() / IMAGE_PIXELS;
    let model = model.valid();
    let ad = device.clone().without_autodiff().autodiff();
    let inputs: Vec<f32> = images.iter().map(|&v| normalize_intensity(v)).collect();
    let x = images_tensor(inputs, &ad).require_grad(); // [n, 1, 28, 28]
    let logits = model.forward(x.clone()); // [n, 10]
    let c = class as usize;
    let grads = logits.slice([0..n, c..c + 1]).sum().backward();
    let g = x.grad(&grads).expect("the input takes part in the logits"); // [n, 1, 28, 28]
    // x = (v − mean) / std, so ∂/∂v = ∂/∂x / std.
    g.into_data().iter::<f32>().map(|v| v / MNIST_STD).collect()
}

/// Occlusion map and per-row drops of `class`'s logit.
pub fn occlusion(
    model: &Model,
    image: &[f32],
    config: &SaliencyConfig,
    device: &Device,
) -> (Vec<f32>, Vec<f32>) {
    let side = IMAGE_SIDE;
    let p = config.patch.clamp(1, side);
    let s = config.stride.clamp(1, side);
    let mut starts: Vec<usize> = (0..=side - p).step_by(s).collect();
    if starts.last() != Some(&(side - p)) {
        starts.push(side - p);
    }
    let mut batch = image.to_vec();
    let mut patches = Vec::new();
    for &y in &starts {
        for &x in &starts {
            let mut img = image.to_vec();
            for r in y..y + p {
                img[r * side + x..r * side + x + p].fill(0.0);
            }
            batch.extend(img);
            patches.push((y, x));
        }
    }
    for r in 0..side {
        batch.extend(erase_rows(image, (r, r)));
    }
    let logits = logits_of_intensities(model, &batch, None, device);
    let c = config.class as usize;
    let base = logits[0][c];
    let mut sum = vec![0.0f32; IMAGE_PIXELS];
    let mut count = vec![0u32; IMAGE_PIXELS];
    for (&(y, x), l) in patches.iter().zip(&logits[1..]) {
        let drop = base - l[c];
        for r in y..y + p {
            for col in x..x + p {
                sum[r * side + col] += drop;
                count[r * side + col] += 1;
            }
        }
    }
    let map = sum
        .iter()
        .zip(&count)
        .map(|(s, &n)| s / n.max(1) as f32)
        .collect();
    let rows = logits[1 + patches.len()..].iter().map(|l| base - l[c]).collect();
    (map, rows)
}

/// All four maps of `image` (784 intensities) for `config.class`.
pub fn saliency(
    model: &Model,
    image: &[f32],
    config: &SaliencyConfig,
    device: &Device,
) -> Result<SaliencyMaps, StudyError> {
    if image.len() != IMAGE_PIXELS {
        return Err(StudyError::Config(format!(
            "an image has {IMAGE_PIXELS} pixels, got {}",
            image.len()
        )));
    }
    if config.class as usize >= NUM_CLASSES || !(1..=512).contains(&config.ig_steps) {
        return Err(StudyError::Config(
            "the class must be 0-9 and integrated gradients need 1 to 512 steps".into(),
        ));
    }
    let device = device.clone().without_autodiff();
    let gradient = input_gradients(model, image, config.class, &device);
    let gradient_x_input = gradient.iter().zip(image).map(|(g, v)| g * v).collect();
    // Midpoints α = (k + ½) / steps of the path from blank (0) to the image.
    let steps = config.ig_steps;
    let mut path = Vec::with_capacity(steps * IMAGE_PIXELS);
    for k in 0..steps {
        let alpha = (k as f32 + 0.5) / steps as f32;
        path.extend(image.iter().map(|v| v * alpha));
    }
    let path_grads = input_gradients(model, &path, config.class, &device);
    let mut integrated = vec![0.0f32; IMAGE_PIXELS];
    for chunk in path_grads.chunks(IMAGE_PIXELS) {
        for (acc, g) in integrated.iter_mut().zip(chunk) {
            *acc += g / steps as f32;
        }
    }
    for (acc, v) in integrated.iter_mut().zip(image) {
        *acc *= v;
    }
    let (occlusion, row_occlusion) = occlusion(model, image, config, &device);
    let mut pair = image.to_vec();
    pair.extend(vec![0.0; IMAGE_PIXELS]);
    let ends = logits_of_intensities(model, &pair, None, &device);
    let c = config.class as usize;
    Ok(SaliencyMaps {
        config: *config,
        logits: ends[0],
        gradient,
        gradient_x_input,
        integrated,
        occlusion,
        row_occlusion,
        blank_gap: ends[0][c] - ends[1][c],
    })
}
