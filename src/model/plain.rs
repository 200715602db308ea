//! Host copies of a network's weights in one fixed order, so that networks trained outside a
//! burn `Module` (the stacked ensemble of `experiment::stacked`) become ordinary [`Model`]s
//! that the pad, the inspection panels and `evaluate` accept.
//!
//! Order of [`PlainWeights::params`]: for each conv block its kernel `[out, in, k, k]` and then
//! either its bias `[out]` or, with BatchNorm (whose beta makes a bias redundant), gamma `[out]`
//! and beta `[out]`; then for each dense layer
//! (hidden layers, then the output layer) its weight `[in, out]` and bias `[out]`.
//! [`PlainWeights::running`] holds each normalised block's running mean then variance.

use burn::module::{Param, RunningState};
use burn::tensor::{Device, Tensor, TensorData};

use super::{Model, ModelSpec};
use crate::data::{IMAGE_PIXELS, NUM_CLASSES};
use crate::rng::Rng;

/// The shapes a family's weights take, derived from a [`ModelSpec`].
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    /// `[in, out]` channels of each conv block (empty for an MLP).
    pub convs: Vec<[usize; 2]>,
    /// Square kernel size of the convolutions.
    pub kernel: usize,
    /// BatchNorm after each convolution.
    pub batch_norm: bool,
    /// Side of the maps after the last block (28 for an MLP: the image itself).
    pub final_side: usize,
    /// `[in, out]` of each dense layer, the output layer last.
    pub dense: Vec<[usize; 2]>,
    /// Dropout after each hidden dense layer.
    pub dropout: f64,
}

/// One network's weights as host vectors, in the order of the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct PlainWeights {
    /// Trainable tensors, each flattened row-major.
    pub params: Vec<Vec<f32>>,
    /// BatchNorm running statistics: mean then variance of each normalised block.
    pub running: Vec<Vec<f32>>,
}

impl Architecture {
    /// The architecture of `spec`.
    pub fn of(spec: &ModelSpec) -> Self {
        match spec {
            ModelSpec::Mlp { hidden, dropout } => {
                let mut dense = Vec::new();
                let mut inputs = IMAGE_PIXELS;
                for &w in hidden.iter().chain(std::iter::once(&NUM_CLASSES)) {
                    dense.push([inputs, w]);
                    inputs = w;
                }
                Self {
                    convs: Vec::new(),
                    kernel: 1,
                    batch_norm: false,
                    final_side: crate::data::IMAGE_SIDE,
                    dense,
                    dropout: *dropout,
                }
            }
            ModelSpec::Cnn {
                channels,
                kernel_size,
                batch_norm,
                dropout,
                dense,
            } => {
                let mut convs = Vec::new();
                let mut inputs = 1;
                for &c in channels {
                    convs.push([inputs, c]);
                    inputs = c;
                }
                let final_side = channels.iter().fold(crate::data::IMAGE_SIDE, |s, _| s / 2);
                let flat = inputs * final_side * final_side;
                Self {
                    convs,
                    kernel: *kernel_size,
                    batch_norm: *batch_norm,
                    final_side,
                    dense: vec![[flat, *dense], [*dense, NUM_CLASSES]],
                    dropout: *dropout,
                }
            }
        }
    }

    /// Shapes of the trainable tensors, in order.
    pub fn param_shapes(&self) -> Vec<Vec<usize>> {
        let k = self.kernel;
        let mut shapes = Vec::new();
        for &[i, o] in &self.convs {
            shapes.push(vec![o, i, k, k]);
            shapes.push(vec![o]); // bias, or gamma
            if self.batch_norm {
                shapes.push(vec![o]); // beta
            }
        }
        for &[i, o] in &self.dense {
            shapes.push(vec![i, o]);
            shapes.push(vec![o]);
        }
        shapes
    }

    /// Trainable values in all.
    pub fn param_count(&self) -> usize {
        self.param_shapes()
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum()
    }

    /// Lengths of the running-statistics vectors, in order.
    pub fn running_sizes(&self) -> Vec<usize> {
        if !self.batch_norm {
            return Vec::new();
        }
        self.convs.iter().flat_map(|&[_, o]| [o, o]).collect()
    }

    /// Fresh weights drawn as burn and PyTorch draw them: kernels, dense weights and biases
    /// uniform in ±1/√fan_in, gamma 1, beta 0, running mean 0, running variance 1.
    pub fn init(&self, rng: &mut Rng) -> PlainWeights {
        let mut params = Vec::new();
        let uniform = |n: usize, fan_in: usize, rng: &mut Rng| -> Vec<f32> {
            let bound = 1.0 / (fan_in as f32).sqrt();
            (0..n).map(|_| rng.uniform(-bound, bound)).collect()
        };
        let k2 = self.kernel * self.kernel;
        for &[i, o] in &self.convs {
            params.push(uniform(o * i * k2, i * k2, rng));
            if self.batch_norm {
                params.push(vec![1.0; o]);
                params.push(vec![0.0; o]);
            } else {
                params.push(uniform(o, i * k2, rng));
            }
        }
        for &[i, o] in &self.dense {
            params.push(uniform(i * o, i, rng));
            params.push(uniform(o, i, rng));
        }
        let running = self
            .running_sizes()
            .chunks(2)
            .flat_map(|c| [vec![0.0; c[0]], vec![1.0; c[1]]])
            .collect();
        PlainWeights { params, running }
    }

    /// Whether `weights` have exactly this architecture's tensor sizes.
    pub fn fits(&self, weights: &PlainWeights) -> bool {
        let shapes = self.param_shapes();
        shapes.len() == weights.params.len()
            && shapes
                .iter()
                .zip(&weights.params)
                .all(|(s, p)| s.iter().product::<usize>() == p.len())
            && self.running_sizes() == weights.running.iter().map(Vec::len).collect::<Vec<_>>()
    }
}

/// A parameter tensor from a host vector.
pub(crate) fn param<const D: usize>(values: &[f32], shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(values.to_vec(), shape), device))
}

/// A running-statistics tensor from a host vector.
pub(crate) fn running(values: &[f32], device: &Device) -> RunningState<Tensor<1>> {
    RunningState::new(Tensor::from_data(
        TensorData::new(values.to_vec(), [values.len()]),
        device,
    ))
}

/// What [`check_outputs`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputCheck {
    /// The logits of both test inputs are finite.
    Finite,
    /// The logits of this input ("a blank image", "a random image") are not.
    NonFiniteOn(&'static str),
    /// The weights do not make the architecture.
    DoesNotFit,
}

/// Whether `weights` answer two test inputs, a blank image and a fixed pseudo-random one,
/// with finite logits (values near f32's limit overflow on the way through), computed on
/// flex. Weights that do not would be evaluated into a meaningless "loss NaN", every image
/// read as digit 0.
pub fn check_outputs(spec: &ModelSpec, weights: &PlainWeights) -> OutputCheck {
    use crate::data::{IMAGE_SIDE, normalize_pixel};
    use burn::module::Module;
    let device = crate::device::flex().device;
    let Some(model) = Model::from_plain(spec, weights, &device) else {
        return OutputCheck::DoesNotFit;
    };
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut pixels: Vec<f32> = vec![normalize_pixel(0); IMAGE_PIXELS];
    pixels.extend((0..IMAGE_PIXELS).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        normalize_pixel((state >> 56) as u8)
    }));
    let images = Tensor::<4>::from_data(TensorData::new(pixels, [2, 1, IMAGE_SIDE, IMAGE_SIDE]), &device);
    let logits: Vec<f32> = model.valid().forward(images).into_data().iter().collect(); // [2, 10]
    match logits.iter().position(|v| !v.is_finite()) {
        None => OutputCheck::Finite,
        Some(i) if i < logits.len() / 2 => OutputCheck::NonFiniteOn("a blank image"),
        Some(_) => OutputCheck::NonFiniteOn("a random image"),
    }
}

impl Model {
    /// Every weight as host vectors, in [`PlainWeights`]' order (the inverse of
    /// [`Model::from_plain`]).
    pub fn to_plain(&self) -> PlainWeights {
        match self {
            Model::Cnn(cnn) => cnn.to_plain(),
            Model::Mlp(mlp) => mlp.to_plain(),
        }
    }

    /// The network `spec` with the given weights, in eval-ready form on `device`.
    /// `None` when the weights do not fit the architecture.
    pub fn from_plain(spec: &ModelSpec, weights: &PlainWeights, device: &Device) -> Option<Model> {
        if !Architecture::of(spec).fits(weights) {
            return None;
        }
        let mut model = spec.init(device);
        match &mut model {
            Model::Cnn(cnn) => cnn.load_plain(weights, device),
            Model::Mlp(mlp) => mlp.load_plain(weights, device),
        }
        Some(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;

    #[test]
    fn small_cnn_counts_its_layers_by_hand() {
        // small-cnn (32-64-128, k3, BatchNorm, dense 256), counted by hand from its layers:
        // kernels 288 + 18,432 + 73,728, BatchNorm gamma and beta 2 · 224, dense 294,912 + 256,
        // output 2,560 + 10 = 390,634. (bench/torch_ref.py's SmallCNN keeps the convolution
        // biases BatchNorm makes redundant: PyTorch counts 224 more there.)
        let spec = ModelSpec::preset("small-cnn").unwrap();
        let arch = spec.architecture();
        assert_eq!(arch.dense[0], [1152, 256]);
        assert_eq!(
            spec.param_count(),
            288 + 18_432 + 73_728 + 2 * 224 + 294_912 + 256 + 2_560 + 10
        );
        assert_eq!(spec.batch_norm_statistics(), 2 * 224);
    }

    #[test]
    fn every_consumer_of_the_architecture_agrees_with_it() {
        // The layers burn builds, burn's own count, the plain weights the stacked ensemble
        // trains and the parameter count shown in the app all come from `Architecture`: a layer
        // added in one place only fails here.
        let device = Device::flex();
        let mut specs: Vec<ModelSpec> = ["mlp", "tiny-cnn", "small-cnn", "seed3-cnn"]
            .iter()
            .map(|name| ModelSpec::preset(name).unwrap())
            .collect();
        specs.push(ModelSpec::Cnn {
            channels: vec![5, 7, 3],
            kernel_size: 5,
            batch_norm: false,
            dropout: 0.0,
            dense: 17,
        });
        specs.push(ModelSpec::Mlp {
            hidden: vec![33, 12, 9],
            dropout: 0.1,
        });
        for spec in specs {
            let arch = spec.architecture();
            let model = spec.init(&device);
            let plain = model.to_plain();
            assert!(
                arch.fits(&plain),
                "{spec:?}: the built layers differ from the architecture"
            );
            assert_eq!(
                model.num_params(),
                arch.param_count() + spec.batch_norm_statistics(),
                "{spec:?}: burn counts another network"
            );
            let stacked_init = arch.init(&mut Rng::new(1));
            assert!(arch.fits(&stacked_init), "{spec:?}");
            assert!(
                Model::from_plain(&spec, &stacked_init, &device).is_some(),
                "{spec:?}: the stacked ensemble's weights do not load into the layers"
            );
        }
    }

    #[test]
    fn init_is_seeded_and_fits() {
        let arch = Architecture::of(&ModelSpec::preset("tiny-cnn").unwrap());
        let a = arch.init(&mut Rng::new(3));
        assert!(arch.fits(&a));
        assert_eq!(a, arch.init(&mut Rng::new(3)));
        assert_ne!(a, arch.init(&mut Rng::new(4)));
        let bound = 1.0 / 3.0; // first conv: fan_in 1·3·3
        assert!(a.params[0].iter().all(|w| w.abs() <= bound));
    }
}
