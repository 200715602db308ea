//! Parametric convolutional network: blocks of Conv (same padding) → optional BatchNorm →
//! ReLU → MaxPool 2, then Linear → ReLU → Dropout → Linear. `small-cnn` (seed S0), `seed3-cnn`
//! (seed S3) and `tiny-cnn` are presets of it.

use burn::config::Config;
use burn::module::Module;
use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::{Hidden, LayerOutput};
use crate::data::{IMAGE_SIDE, NUM_CLASSES};
use crate::kernels;

/// Configuration of a [`Cnn`].
#[derive(Config, Debug, PartialEq)]
pub struct CnnConfig {
    /// Output channels of each conv block (1 to 4 blocks).
    pub channels: Vec<usize>,
    /// Square kernel size (odd).
    #[config(default = 3)]
    pub kernel_size: usize,
    /// Batch normalisation after each convolution.
    #[config(default = true)]
    pub batch_norm: bool,
    /// Dropout before the output layer.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Width of the dense layer.
    #[config(default = 128)]
    pub dense: usize,
}

/// One Conv → (BatchNorm) → ReLU → MaxPool 2×2 block. A convolution followed by BatchNorm has
/// no bias (BatchNorm's beta does its job); checkpoints saved with one load through
/// [`Cnn::fold_conv_bias`].
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: Option<BatchNorm>,
}

impl ConvBlock {
    /// `[batch, in, s, s]` → `[batch, out, s/2, s/2]` as one fused op (see [`kernels`]):
    /// BatchNorm with the batch's statistics while training (updating the running averages as
    /// burn's `BatchNorm` does), with its running statistics folded into the convolution
    /// otherwise.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let weight = self.conv.weight.val(); // [out, in, k, k]
        let out_channels = weight.dims()[0];
        let bias = self.conv.bias.as_ref().map(|b| b.val()); // [out]
        let Some(norm) = &self.norm else {
            let bias = bias.unwrap_or_else(|| Tensor::zeros([out_channels], &weight.device()));
            return kernels::conv_relu_pool(x, weight, bias);
        };
        if x.device().is_autodiff() && norm.training.is_enabled() {
            let (out, mut mean, variance) =
                kernels::conv_norm_relu_pool(x, weight, norm.gamma.val(), norm.beta.val(), norm.epsilon);
            if let Some(bias) = bias {
                mean = mean + bias.detach(); // normalisation removes it; the statistics keep it
            }
            update_running(norm, mean, variance);
            return out;
        }
        let device = weight.device();
        let mut running_mean = norm.running_mean.value().to_device(&device);
        if let Some(bias) = bias {
            running_mean = running_mean - bias; // γ(y + b − μ)/σ + β: the bias shifts the mean
        }
        let running_var = norm.running_var.value().to_device(&device);
        let stats = [norm.gamma.val(), norm.beta.val(), running_mean, running_var];
        kernels::conv_norm_eval(x, weight, stats, norm.epsilon)
    }
}

/// Running averages updated exactly as burn's `BatchNorm::forward_train` updates them.
fn update_running(norm: &BatchNorm, mean: Tensor<1>, variance: Tensor<1>) {
    let momentum = norm.momentum;
    let device = mean.device();
    let running_mean = norm.running_mean.value_sync().to_device(&device);
    let running_var = norm.running_var.value_sync().to_device(&device);
    let running_mean = running_mean
        .mul_scalar(1.0 - momentum)
        .add(mean.detach().mul_scalar(momentum));
    let running_var = running_var
        .mul_scalar(1.0 - momentum)
        .add(variance.detach().mul_scalar(momentum));
    norm.running_mean.update(running_mean.detach());
    norm.running_var.update(running_var.detach());
}

/// A convolutional digit classifier.
#[derive(Module, Debug)]
pub struct Cnn {
    blocks: Vec<ConvBlock>,
    fc: Linear,
    dropout: Dropout,
    output: Linear,
}

impl CnnConfig {
    /// Side of the feature maps after all blocks (each pool halves, rounding down).
    pub fn final_side(&self) -> usize {
        self.channels.iter().fold(IMAGE_SIDE, |side, _| side / 2)
    }

    /// Inputs of the dense layer: last channels × final side².
    pub fn flat_features(&self) -> usize {
        self.channels.last().copied().unwrap_or(1) * self.final_side().pow(2)
    }

    /// Builds the network with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Cnn {
        let mut in_channels = 1;
        let mut blocks = Vec::new();
        for &out in &self.channels {
            let pad = self.kernel_size / 2;
            blocks.push(ConvBlock {
                conv: Conv2dConfig::new([in_channels, out], [self.kernel_size, self.kernel_size])
                    .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                    .with_bias(!self.batch_norm)
                    .init(device),
                norm: self.batch_norm.then(|| BatchNormConfig::new(out).init(device)),
            });
            in_channels = out;
        }
        Cnn {
            blocks,
            fc: LinearConfig::new(self.flat_features(), self.dense).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(self.dense, NUM_CLASSES).init(device),
        }
    }
}

impl Cnn {
    /// Logits for a batch of images `[batch, 1, 28, 28]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_impl(images, None)
    }

    /// Output channels of each conv block.
    pub fn channels(&self) -> Vec<usize> {
        self.blocks.iter().map(|b| b.conv.weight.dims()[0]).collect()
    }

    /// Width of the dense layer.
    pub fn dense_width(&self) -> usize {
        self.fc.weight.dims()[1]
    }

    /// Each conv block's kernels, `[out, in, k, k]`, first block first.
    pub fn conv_weights(&self) -> Vec<Tensor<4>> {
        self.blocks.iter().map(|b| b.conv.weight.val()).collect()
    }

    /// The dense layer's output `[batch, dense]` after ReLU: everything before the dropout.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images; // [batch, 1, 28, 28]
        for block in &self.blocks {
            x = block.forward(x); // [batch, c_i, s/2, s/2]
        }
        self.dense(x)
    }

    /// The dense layer after ReLU from the last block's maps `[batch, c, s, s]`.
    fn dense(&self, maps: Tensor<4>) -> Tensor<2> {
        let [batch, c, h, w] = maps.dims();
        relu(self.fc.forward(maps.reshape([batch, c * h * w]))) // [batch, dense]
    }

    /// Logits from [`features`](Self::features) times an (already scaled) dropout mask.
    pub fn head(&self, features: Tensor<2>, mask: Option<Tensor<2>>) -> Tensor<2> {
        match mask {
            Some(mask) => self.output.forward(features * mask),
            None => self.output.forward(features),
        }
    }

    /// The output of probe layer `layer` (conv blocks, then the dense layer), eval mode.
    pub fn forward_to(&self, images: Tensor<4>, layer: usize) -> Hidden {
        let mut x = images; // [batch, 1, 28, 28]
        for block in self.blocks.iter().take(layer + 1) {
            x = block.forward(x); // [batch, c_i, s/2, s/2]
        }
        if layer < self.blocks.len() {
            return Hidden::Maps(x);
        }
        Hidden::Units(self.dense(x)) // [batch, dense]
    }

    /// Logits from the output of probe layer `layer` (as [`forward_to`](Self::forward_to)
    /// returns it, possibly edited), eval mode.
    pub fn forward_from(&self, layer: usize, hidden: Hidden) -> Tensor<2> {
        let x = match hidden {
            Hidden::Units(units) => units, // [batch, dense]
            Hidden::Maps(maps) => {
                let mut x = maps; // [batch, c_layer, s, s]
                for block in self.blocks.iter().skip(layer + 1) {
                    x = block.forward(x);
                }
                self.dense(x) // [batch, dense]
            }
        };
        self.output.forward(x) // [batch, 10]
    }

    /// Dropout probability before the output layer.
    pub fn dropout_prob(&self) -> f64 {
        self.dropout.prob
    }

    /// Replaces every weight with `plain` (already checked to fit; see `model::plain`).
    pub(crate) fn load_plain(&mut self, plain: &super::plain::PlainWeights, device: &Device) {
        use super::plain::{param, running};
        let mut params = plain.params.iter();
        let mut stats = plain.running.iter();
        let mut next = || params.next().expect("checked by Architecture::fits");
        for block in &mut self.blocks {
            let [o, i, k, _] = block.conv.weight.dims();
            block.conv.weight = param(next(), [o, i, k, k], device);
            match &mut block.norm {
                Some(norm) => {
                    norm.gamma = param(next(), [o], device);
                    norm.beta = param(next(), [o], device);
                    norm.running_mean = running(stats.next().expect("checked"), device);
                    norm.running_var = running(stats.next().expect("checked"), device);
                }
                None => block.conv.bias = Some(param(next(), [o], device)),
            }
        }
        for layer in [&mut self.fc, &mut self.output] {
            let [i, o] = layer.weight.dims();
            layer.weight = param(next(), [i, o], device);
            layer.bias = Some(param(next(), [o], device));
        }
    }

    /// Every weight as host vectors in [`PlainWeights`](super::plain::PlainWeights)' order
    /// (a convolution in front of BatchNorm that still has a bias gives it to the running mean).
    pub(crate) fn to_plain(&self) -> super::plain::PlainWeights {
        let host = |t: Tensor<1>| -> Vec<f32> { t.into_data().iter::<f32>().collect() };
        let flat =
            |t: &burn::module::Param<Tensor<4>>| -> Vec<f32> { t.val().into_data().iter::<f32>().collect() };
        let mut params = Vec::new();
        let mut running = Vec::new();
        for block in &self.blocks {
            params.push(flat(&block.conv.weight));
            let bias = block.conv.bias.as_ref().map(|b| host(b.val()));
            match &block.norm {
                Some(norm) => {
                    params.push(host(norm.gamma.val()));
                    params.push(host(norm.beta.val()));
                    let mut mean = host(norm.running_mean.value());
                    if let Some(bias) = bias {
                        mean.iter_mut().zip(bias).for_each(|(m, b)| *m -= b);
                    }
                    running.push(mean);
                    running.push(host(norm.running_var.value()));
                }
                None => {
                    let outputs = block.conv.weight.dims()[0];
                    params.push(bias.unwrap_or_else(|| vec![0.0; outputs]));
                }
            }
        }
        for layer in [&self.fc, &self.output] {
            params.push(layer.weight.val().into_data().iter::<f32>().collect());
            let outputs = layer.weight.dims()[1];
            params.push(
                layer
                    .bias
                    .as_ref()
                    .map_or_else(|| vec![0.0; outputs], |b| host(b.val())),
            );
        }
        super::plain::PlainWeights { params, running }
    }

    /// Gives every convolution followed by BatchNorm a zero bias, so that a checkpoint saved
    /// when those convolutions had biases loads into it (then call
    /// [`fold_conv_bias`](Self::fold_conv_bias)).
    pub(crate) fn with_conv_bias_slots(mut self) -> Self {
        for block in &mut self.blocks {
            if block.norm.is_some() && block.conv.bias.is_none() {
                let o = block.conv.weight.dims()[0];
                let device = block.conv.weight.device();
                block.conv.bias = Some(Param::from_tensor(Tensor::zeros([o], &device)));
            }
        }
        self
    }

    /// Removes the bias of every convolution followed by BatchNorm, moving it into the running
    /// mean (`γ(y + b − μ)/σ + β = γ(y − (μ − b))/σ + β`; with batch statistics the bias
    /// cancels exactly): the network computes the same function without it.
    pub(crate) fn fold_conv_bias(mut self) -> Self {
        for block in &mut self.blocks {
            let Some(norm) = &mut block.norm else {
                continue; // a convolution without BatchNorm keeps its bias
            };
            let Some(bias) = block.conv.bias.take() else {
                continue;
            };
            let mean = norm.running_mean.value_sync();
            let bias = bias.val().detach().to_device(&mean.device());
            norm.running_mean = burn::module::RunningState::new(mean - bias);
        }
        self
    }

    /// Logits and every block's pooled feature maps and the dense layer's output.
    pub fn forward_with_activations(&self, images: Tensor<4>) -> (Tensor<2>, Vec<LayerOutput>) {
        let mut acts = Vec::new();
        let logits = self.forward_impl(images, Some(&mut acts));
        (logits, acts)
    }

    fn forward_impl(&self, images: Tensor<4>, mut acts: Option<&mut Vec<LayerOutput>>) -> Tensor<2> {
        let mut x = images; // [batch, 1, 28, 28]
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x); // [batch, c_i, s/2, s/2]
            if let Some(acts) = acts.as_deref_mut() {
                acts.push(LayerOutput::Conv {
                    name: format!("conv{}", i + 1),
                    maps: x.clone(),
                });
            }
        }
        let x = self.dense(x); // [batch, dense]
        if let Some(acts) = acts {
            acts.push(LayerOutput::Dense {
                name: "fc".into(),
                values: x.clone(),
            });
        }
        self.output.forward(self.dropout.forward(x)) // [batch, 10]
    }
}
