//! Model families. Each has a burn `Config` with `init(&device)` and a
//! `forward_with_activations` that returns every layer's output for inspection.
//!
//! [`ModelSpec`] is the serialisable description saved in run folders; [`Model`] is the
//! network itself, one enum over the families so the training loop and the app handle any.

pub mod cnn;
pub mod inspect;
pub mod mc;
pub mod mlp;
pub mod plain;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use cnn::{Cnn, CnnConfig};
pub use mlp::{Mlp, MlpConfig};

/// The output of one layer, as returned by `forward_with_activations`.
#[derive(Debug, Clone)]
pub enum LayerOutput {
    /// Feature maps of a conv block, `[batch, channels, side, side]`.
    Conv {
        /// Layer name (`conv1`, …).
        name: String,
        maps: Tensor<4>,
    },
    /// Activations of a dense layer, `[batch, units]`.
    Dense {
        /// Layer name (`fc1`, …).
        name: String,
        values: Tensor<2>,
    },
}

impl LayerOutput {
    /// The layer's name: `conv1`, `conv2`, … or `fc1`, `fc2`, ….
    pub fn name(&self) -> &str {
        match self {
            LayerOutput::Conv { name, .. } | LayerOutput::Dense { name, .. } => name,
        }
    }
}

/// A hidden layer's output, cut out of the forward pass for probing (see
/// [`Model::forward_to`] and [`Model::forward_from`]).
#[derive(Debug, Clone)]
pub enum Hidden {
    /// Conv block output after pooling, `[batch, channels, side, side]`.
    Maps(Tensor<4>),
    /// Dense layer output after ReLU, `[batch, units]`.
    Units(Tensor<2>),
}

impl Hidden {
    /// Multiplies each unit (or channel) by `mask[unit]`: 0 silences it.
    pub fn masked(self, mask: &[f32]) -> Hidden {
        use burn::tensor::TensorData;
        match self {
            Hidden::Maps(maps) => {
                let device = maps.device();
                let m =
                    Tensor::<4>::from_data(TensorData::new(mask.to_vec(), [1, mask.len(), 1, 1]), &device);
                Hidden::Maps(maps * m)
            }
            Hidden::Units(units) => {
                let device = units.device();
                let m = Tensor::<2>::from_data(TensorData::new(mask.to_vec(), [1, mask.len()]), &device);
                Hidden::Units(units * m)
            }
        }
    }

    /// Mean activation per unit (channels: over positions too) for each image, `[batch][units]`.
    pub fn unit_means(&self) -> Vec<Vec<f32>> {
        let (values, batch) = match self {
            Hidden::Maps(maps) => {
                let [batch, c, _, _] = maps.dims();
                (maps.clone().mean_dim(3).mean_dim(2).reshape([batch, c]), batch) // [batch, c]
            }
            Hidden::Units(units) => (units.clone(), units.dims()[0]),
        };
        let flat: Vec<f32> = values.into_data().iter::<f32>().collect();
        let width = flat.len() / batch.max(1);
        flat.chunks(width.max(1)).map(|c| c.to_vec()).collect()
    }
}

/// A layer that probes can cut the network at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeLayer {
    /// Its name (`conv1`, `fc`, `fc1`…), as in `forward_with_activations`.
    pub name: String,
    /// Units (dense) or channels (conv).
    pub units: usize,
    /// Whether it is a conv block (its units are channels).
    pub is_conv: bool,
}

impl ProbeLayer {
    /// `prefix1`, `prefix2`, … with the given widths.
    fn numbered(prefix: &str, widths: &[usize], is_conv: bool) -> Vec<ProbeLayer> {
        widths
            .iter()
            .enumerate()
            .map(|(i, &units)| ProbeLayer {
                name: format!("{prefix}{}", i + 1),
                units,
                is_conv,
            })
            .collect()
    }
}

/// Names of the built-in presets accepted by [`ModelSpec::preset`].
pub const PRESET_NAMES: [&str; 4] = ["mlp", "tiny-cnn", "small-cnn", "seed3-cnn"];

/// A serialisable model architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "kebab-case")]
pub enum ModelSpec {
    /// Fully connected network: 784 → `hidden`… → 10, ReLU after each hidden layer.
    Mlp {
        /// Hidden layer widths, input side first (at most [`MAX_HIDDEN_LAYERS`], each 1-8192).
        hidden: Vec<usize>,
        /// Dropout after hidden layers.
        dropout: f64,
    },
    /// Convolutional network: conv blocks (conv, optional BatchNorm, ReLU, 2×2 max pool), a
    /// dense layer, the output.
    Cnn {
        /// Channels per conv block.
        channels: Vec<usize>,
        /// Side of every conv kernel: odd, 1-9 (same padding keeps the map size).
        kernel_size: usize,
        /// BatchNorm after each conv.
        batch_norm: bool,
        /// Dropout before the output layer.
        dropout: f64,
        /// Width of the dense layer between the last conv block and the output (1-8192).
        dense: usize,
    },
}

impl ModelSpec {
    /// A named preset (`mlp`, `tiny-cnn`, `small-cnn`, `seed3-cnn`).
    pub fn preset(name: &str) -> Option<Self> {
        let cnn = |channels: &[usize], batch_norm, dropout, dense| ModelSpec::Cnn {
            channels: channels.to_vec(),
            kernel_size: 3,
            batch_norm,
            dropout,
            dense,
        };
        Some(match name {
            // seed S4's StandardFCNet and the benchmark spec's `mlp`.
            "mlp" => ModelSpec::Mlp {
                hidden: vec![128, 64],
                dropout: 0.0,
            },
            "tiny-cnn" => cnn(&[8, 16], false, 0.0, 32),
            // seed S0's SmallCNN (benchmark spec `small-cnn`).
            "small-cnn" => cnn(&[32, 64, 128], true, 0.3, 256),
            // seed S3's CNN (benchmark spec `seed3-cnn`).
            "seed3-cnn" => cnn(&[32, 64], true, 0.4, 320),
            _ => return None,
        })
    }

    /// Reads an architecture: a preset name, `mlp:128,64[:drop0.2]` or
    /// `cnn:32,64[:k3][:bn][:dense320][:drop0.4]` (a CNN defaults to kernel 3, no BatchNorm,
    /// dense 128, no dropout). The result is validated.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(spec) = Self::preset(text) {
            return Ok(spec);
        }
        let mut parts = text.split(':');
        let family = parts.next().unwrap_or_default();
        let widths = |s: Option<&str>| -> Result<Vec<usize>, String> {
            s.unwrap_or_default()
                .split(',')
                .filter(|w| !w.is_empty())
                .map(|w| {
                    w.trim()
                        .parse::<usize>()
                        .map_err(|_| format!("{w:?} is not a layer width"))
                })
                .collect()
        };
        let number = |option: &str, prefix: &str| -> Result<f64, String> {
            option[prefix.len()..]
                .parse::<f64>()
                .map_err(|_| format!("{option:?}: expected a number after {prefix}"))
        };
        let spec = match family {
            "mlp" => {
                let hidden = widths(parts.next())?;
                let mut dropout = 0.0;
                for option in parts {
                    match option {
                        o if o.starts_with("drop") => dropout = number(o, "drop")?,
                        o => return Err(format!("unknown MLP option {o:?} (use dropN)")),
                    }
                }
                ModelSpec::Mlp { hidden, dropout }
            }
            "cnn" => {
                let channels = widths(parts.next())?;
                let (mut kernel_size, mut batch_norm, mut dense, mut dropout) = (3, false, 128, 0.0);
                for option in parts {
                    match option {
                        "bn" => batch_norm = true,
                        "nobn" => batch_norm = false,
                        o if o.starts_with("dense") => dense = number(o, "dense")? as usize,
                        o if o.starts_with("drop") => dropout = number(o, "drop")?,
                        o if o.starts_with('k') => kernel_size = number(o, "k")? as usize,
                        o => return Err(format!("unknown CNN option {o:?} (use kN, bn, denseN, dropN)")),
                    }
                }
                ModelSpec::Cnn {
                    channels,
                    kernel_size,
                    batch_norm,
                    dropout,
                    dense,
                }
            }
            _ => {
                return Err(format!(
                    "unknown architecture {text:?}: a preset ({}), mlp:W,W… or cnn:C,C…[:kN][:bn][:denseN][:dropP]",
                    PRESET_NAMES.join(", ")
                ));
            }
        };
        spec.validate()?;
        Ok(spec)
    }

    /// This spec in the form [`parse`](Self::parse) reads, e.g. `cnn:32,64:k3:bn:dense320:drop0.4`.
    pub fn arch_string(&self) -> String {
        let join = |v: &[usize]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
        let drop = |p: f64| {
            if p > 0.0 {
                format!(":drop{p}")
            } else {
                String::new()
            }
        };
        match self {
            ModelSpec::Mlp { hidden, dropout } => format!("mlp:{}{}", join(hidden), drop(*dropout)),
            ModelSpec::Cnn {
                channels,
                kernel_size,
                batch_norm,
                dropout,
                dense,
            } => format!(
                "cnn:{}:k{kernel_size}{}:dense{dense}{}",
                join(channels),
                if *batch_norm { ":bn" } else { "" },
                drop(*dropout)
            ),
        }
    }

    /// The preset this spec equals, if any.
    pub fn preset_name(&self) -> Option<&'static str> {
        PRESET_NAMES
            .into_iter()
            .find(|n| Self::preset(n).as_ref() == Some(self))
    }

    /// A one-line description, e.g. `cnn 32-64 k3 bn dense 320 dropout 0.4`.
    pub fn describe(&self) -> String {
        let join = |v: &[usize]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("-");
        let body = match self {
            ModelSpec::Mlp { hidden, dropout } => format!("mlp 784-{}-10 dropout {dropout}", join(hidden)),
            ModelSpec::Cnn {
                channels,
                kernel_size,
                batch_norm,
                dropout,
                dense,
            } => format!(
                "cnn {} k{kernel_size}{} dense {dense} dropout {dropout}",
                join(channels),
                if *batch_norm { " bn" } else { "" }
            ),
        };
        match self.preset_name() {
            Some(name) => format!("{name} ({body})"),
            None => body,
        }
    }

    /// Checks the numbers make a buildable network; the message says what to change.
    pub fn validate(&self) -> Result<(), String> {
        let dropout_ok = |p: f64| (0.0..1.0).contains(&p);
        match self {
            ModelSpec::Mlp { hidden, dropout } => {
                if hidden.len() > MAX_HIDDEN_LAYERS {
                    return Err(format!(
                        "an MLP has at most {MAX_HIDDEN_LAYERS} hidden layers, got {}",
                        hidden.len()
                    ));
                }
                if hidden.iter().any(|&w| w == 0 || w > 8192) {
                    return Err("hidden widths must be between 1 and 8192".into());
                }
                if !dropout_ok(*dropout) {
                    return Err(format!("dropout must be in [0, 1), got {dropout}"));
                }
            }
            ModelSpec::Cnn {
                channels,
                kernel_size,
                dropout,
                dense,
                ..
            } => {
                if channels.is_empty() || channels.len() > 4 {
                    return Err(format!("a CNN needs 1 to 4 conv blocks, got {}", channels.len()));
                }
                if channels.iter().any(|&c| c == 0 || c > 1024) {
                    return Err("channels must be between 1 and 1024".into());
                }
                if kernel_size % 2 == 0 || !(1..=9).contains(kernel_size) {
                    return Err(format!("kernel size must be odd and 1-9, got {kernel_size}"));
                }
                if *dense == 0 || *dense > 8192 {
                    return Err(format!("dense width must be 1-8192, got {dense}"));
                }
                if !dropout_ok(*dropout) {
                    return Err(format!("dropout must be in [0, 1), got {dropout}"));
                }
            }
        }
        let parameters = self.param_count();
        if parameters > MAX_PARAMETERS {
            return Err(format!(
                "the network would have {parameters} parameters; the workbench builds at most {MAX_PARAMETERS}"
            ));
        }
        Ok(())
    }

    /// Builds the network on `device`. Call [`validate`](Self::validate) first for a message
    /// instead of a panic on impossible numbers.
    pub fn init(&self, device: &Device) -> Model {
        match self {
            ModelSpec::Mlp { hidden, dropout } => {
                Model::Mlp(MlpConfig::new(hidden.clone()).with_dropout(*dropout).init(device))
            }
            ModelSpec::Cnn {
                channels,
                kernel_size,
                batch_norm,
                dropout,
                dense,
            } => Model::Cnn(
                CnnConfig::new(channels.clone())
                    .with_kernel_size(*kernel_size)
                    .with_batch_norm(*batch_norm)
                    .with_dropout(*dropout)
                    .with_dense(*dense)
                    .init(device),
            ),
        }
    }

    /// "390,634 trainable parameters (+448 BatchNorm running statistics)": the one count
    /// shown everywhere (PyTorch's), with the buffers named apart.
    pub fn parameters_text(&self) -> String {
        let mut text = format!("{} trainable parameters", thousands(self.param_count()));
        let buffers = self.batch_norm_statistics();
        if buffers > 0 {
            text.push_str(&format!(
                " (+{} BatchNorm running statistics)",
                thousands(buffers)
            ));
        }
        text
    }

    /// BatchNorm's running means and variances: buffers, not trainable parameters (burn's
    /// `num_params` counts them too, PyTorch's `parameters()` does not).
    pub fn batch_norm_statistics(&self) -> usize {
        self.architecture().running_sizes().iter().sum()
    }

    /// Trainable parameter count (PyTorch's convention: BatchNorm running statistics are not
    /// counted), computed from the architecture without building the network, for live
    /// display while editing.
    pub fn param_count(&self) -> usize {
        self.architecture().param_count()
    }

    /// The one description of this network's tensors that the layers, the stacked ensemble
    /// and the parameter count all derive from.
    pub fn architecture(&self) -> plain::Architecture {
        plain::Architecture::of(self)
    }
}

/// Most hidden layers an MLP may have.
pub const MAX_HIDDEN_LAYERS: usize = 16;
/// Most trainable parameters a network may have (200 MB as f32; seed3-cnn has about a
/// million). Every width and count is bounded on its own, but their product could still ask
/// for gigabytes.
pub const MAX_PARAMETERS: usize = 50_000_000;

/// A network of any family.
// The variants hold tensor handles only; boxing them would not fit burn's Module derive.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Model {
    Mlp(Mlp),
    Cnn(Cnn),
}

impl Model {
    /// Logits `[batch, 10]` for images `[batch, 1, 28, 28]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Model::Mlp(m) => m.forward(images),
            Model::Cnn(m) => m.forward(images),
        }
    }

    /// The layers probes can cut at, in order: each conv block, then each dense layer.
    pub fn probe_layers(&self) -> Vec<ProbeLayer> {
        match self {
            Model::Mlp(m) => ProbeLayer::numbered("fc", &m.hidden_widths(), false),
            Model::Cnn(m) => {
                let mut layers = ProbeLayer::numbered("conv", &m.channels(), true);
                layers.push(ProbeLayer {
                    name: "fc".into(),
                    units: m.dense_width(),
                    is_conv: false,
                });
                layers
            }
        }
    }

    /// The output of probe layer `layer` (an index into [`probe_layers`](Self::probe_layers)).
    pub fn forward_to(&self, images: Tensor<4>, layer: usize) -> Hidden {
        match self {
            Model::Mlp(m) => m.forward_to(images, layer),
            Model::Cnn(m) => m.forward_to(images, layer),
        }
    }

    /// Logits from probe layer `layer`'s (possibly edited) output.
    pub fn forward_from(&self, layer: usize, hidden: Hidden) -> Tensor<2> {
        match self {
            Model::Mlp(m) => m.forward_from(layer, hidden),
            Model::Cnn(m) => m.forward_from(layer, hidden),
        }
    }

    /// The penultimate layer (input of the output layer) for images `[batch, 1, 28, 28]`:
    /// the embedding probes project and search, `[batch, width]`.
    pub fn embedding(&self, images: Tensor<4>) -> Tensor<2> {
        let last = self.probe_layers().len().saturating_sub(1);
        match self.forward_to(images, last) {
            Hidden::Units(units) => units,
            Hidden::Maps(maps) => {
                let [batch, c, h, w] = maps.dims();
                maps.reshape([batch, c * h * w])
            }
        }
    }

    /// Logits from an [`embedding`](Self::embedding).
    pub fn output_of_embedding(&self, embedding: Tensor<2>) -> Tensor<2> {
        let last = self.probe_layers().len().saturating_sub(1);
        self.forward_from(last, Hidden::Units(embedding))
    }

    /// See [`Cnn::with_conv_bias_slots`] (an MLP is returned unchanged).
    pub(crate) fn with_conv_bias_slots(self) -> Self {
        match self {
            Model::Cnn(m) => Model::Cnn(m.with_conv_bias_slots()),
            mlp => mlp,
        }
    }

    /// See [`Cnn::fold_conv_bias`] (an MLP is returned unchanged).
    pub(crate) fn fold_conv_bias(self) -> Self {
        match self {
            Model::Cnn(m) => Model::Cnn(m.fold_conv_bias()),
            mlp => mlp,
        }
    }

    /// Logits and each layer's output, in order from input to output.
    pub fn forward_with_activations(&self, images: Tensor<4>) -> (Tensor<2>, Vec<LayerOutput>) {
        match self {
            Model::Mlp(m) => m.forward_with_activations(images),
            Model::Cnn(m) => m.forward_with_activations(images),
        }
    }
}

/// Groups digits in threes: 1234567 → "1,234,567".
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
