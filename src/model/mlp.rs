//! Fully connected network: 784 → hidden… → 10 with ReLU (seed S4's StandardFCNet is
//! `hidden = [128, 64]`).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::{Hidden, LayerOutput};
use crate::data::{IMAGE_PIXELS, NUM_CLASSES};

/// Configuration of an [`Mlp`].
#[derive(Config, Debug, PartialEq)]
pub struct MlpConfig {
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Dropout after each hidden layer (0 = none).
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// A multilayer perceptron over flattened 28×28 images.
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    dropout: Dropout,
    output: Linear,
}

impl MlpConfig {
    /// Builds the network with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Mlp {
        let mut inputs = IMAGE_PIXELS;
        let mut hidden = Vec::new();
        for &width in &self.hidden {
            hidden.push(LinearConfig::new(inputs, width).init(device));
            inputs = width;
        }
        Mlp {
            hidden,
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(inputs, NUM_CLASSES).init(device),
        }
    }
}

impl Mlp {
    /// Logits for a batch of images.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_impl(images, None)
    }

    /// Widths of the hidden layers.
    pub fn hidden_widths(&self) -> Vec<usize> {
        self.hidden.iter().map(|l| l.weight.dims()[1]).collect()
    }

    /// The first layer's weights, `[784, units]` (the output layer when there is no hidden one).
    pub fn first_layer_weights(&self) -> Tensor<2> {
        self.hidden.first().unwrap_or(&self.output).weight.val()
    }

    /// Logits with the given (already scaled) dropout mask after each hidden layer; `mask`
    /// is asked for a `[batch, width]` mask per hidden layer, in order.
    pub fn forward_masked(
        &self,
        images: Tensor<4>,
        mask: &mut dyn FnMut([usize; 2]) -> Tensor<2>,
    ) -> Tensor<2> {
        let [batch, _, _, _] = images.dims();
        let mut x = images.reshape([batch, IMAGE_PIXELS]); // [batch, 784]
        for layer in &self.hidden {
            x = relu(layer.forward(x)); // [batch, width]
            let dims = x.dims();
            x = x * mask(dims);
        }
        self.output.forward(x) // [batch, 10]
    }

    /// The output of hidden layer `layer` after ReLU, eval mode.
    pub fn forward_to(&self, images: Tensor<4>, layer: usize) -> Hidden {
        let [batch, _, _, _] = images.dims();
        let mut x = images.reshape([batch, IMAGE_PIXELS]); // [batch, 784]
        for hidden in self.hidden.iter().take(layer + 1) {
            x = relu(hidden.forward(x)); // [batch, width]
        }
        Hidden::Units(x)
    }

    /// Logits from the (possibly edited) output of hidden layer `layer`, eval mode.
    pub fn forward_from(&self, layer: usize, hidden: Hidden) -> Tensor<2> {
        let mut x = match hidden {
            Hidden::Units(units) => units, // [batch, width]
            Hidden::Maps(maps) => {
                let [batch, c, h, w] = maps.dims();
                maps.reshape([batch, c * h * w])
            }
        };
        for hidden in self.hidden.iter().skip(layer + 1) {
            x = relu(hidden.forward(x));
        }
        self.output.forward(x) // [batch, 10]
    }

    /// Dropout probability after each hidden layer.
    pub fn dropout_prob(&self) -> f64 {
        self.dropout.prob
    }

    /// Replaces every weight with `plain` (already checked to fit; see `model::plain`).
    pub(crate) fn load_plain(&mut self, plain: &super::plain::PlainWeights, device: &Device) {
        use super::plain::param;
        let mut params = plain.params.iter();
        for layer in self.hidden.iter_mut().chain(std::iter::once(&mut self.output)) {
            let [i, o] = layer.weight.dims();
            layer.weight = param(params.next().expect("checked"), [i, o], device);
            layer.bias = Some(param(params.next().expect("checked"), [o], device));
        }
    }

    /// Every weight as host vectors in [`PlainWeights`](super::plain::PlainWeights)' order.
    pub(crate) fn to_plain(&self) -> super::plain::PlainWeights {
        let mut params = Vec::new();
        for layer in self.hidden.iter().chain(std::iter::once(&self.output)) {
            params.push(layer.weight.val().into_data().iter::<f32>().collect());
            let outputs = layer.weight.dims()[1];
            params.push(layer.bias.as_ref().map_or_else(
                || vec![0.0; outputs],
                |b| b.val().into_data().iter::<f32>().collect(),
            ));
        }
        super::plain::PlainWeights {
            params,
            running: Vec::new(),
        }
    }

    /// Logits and the output of every hidden layer (after ReLU).
    pub fn forward_with_activations(&self, images: Tensor<4>) -> (Tensor<2>, Vec<LayerOutput>) {
        let mut acts = Vec::new();
        let logits = self.forward_impl(images, Some(&mut acts));
        (logits, acts)
    }

    fn forward_impl(&self, images: Tensor<4>, mut acts: Option<&mut Vec<LayerOutput>>) -> Tensor<2> {
        let [batch, _, _, _] = images.dims();
        let mut x = images.reshape([batch, IMAGE_PIXELS]); // [batch, 784]
        for (i, layer) in self.hidden.iter().enumerate() {
            x = relu(layer.forward(x)); // [batch, hidden[i]]
            if let Some(acts) = acts.as_deref_mut() {
                acts.push(LayerOutput::Dense {
                    name: format!("fc{}", i + 1),
                    values: x.clone(),
                });
            }
            x = self.dropout.forward(x);
        }
        self.output.forward(x) // [batch, 10]
    }
}

/// A model with known answers for tests: a linear model (a one-layer MLP) whose logits are
/// `weights · intensity + bias` exactly, built from hand-set weights.
pub fn linear_model(
    weights: &[[f32; IMAGE_PIXELS]; NUM_CLASSES],
    bias: &[f32; NUM_CLASSES],
    device: &Device,
) -> crate::model::Model {
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
    crate::model::Model::from_plain(&spec, &plain, device).expect("a 784→10 linear model fits its spec")
}
