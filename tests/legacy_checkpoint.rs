//! Checkpoints saved before convolutions in front of BatchNorm lost their bias (and before the
//! CNN lost its stateless pooling module) still load, and the loaded network computes what the
//! old one did: the bias moves into BatchNorm's running mean.
//!
//! The old layout is rebuilt here from burn's own modules, field for field as `model::cnn` had
//! it, and its logits come from burn's standard ops; nothing of the workbench's model code runs
//! on the old side.

use burn::module::{Module, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};
use mnist_workbench::data::batch;
use mnist_workbench::model::ModelSpec;
use mnist_workbench::run::{load_model, save_model};

mod common;

#[derive(Module, Debug)]
struct ConvBlock {
    conv: Conv2d,
    norm: Option<BatchNorm>,
}

#[derive(Module, Debug)]
struct Cnn {
    blocks: Vec<ConvBlock>,
    pool: MaxPool2d,
    fc: Linear,
    dropout: Dropout,
    output: Linear,
}

/// The old `Model` enum, CNN variant only (the variant name is part of the saved paths).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
enum Model {
    Cnn(Cnn),
}

const CHANNELS: [usize; 2] = [6, 12];

fn legacy(device: &Device) -> Cnn {
    let mut blocks = Vec::new();
    let mut inputs = 1;
    for c in CHANNELS {
        let mut norm = BatchNormConfig::new(c).init(device);
        // Trained-looking statistics, so the fold has something to move.
        norm.running_mean = RunningState::new(Tensor::random([c], Distribution::Uniform(-0.5, 0.5), device));
        norm.running_var = RunningState::new(Tensor::random([c], Distribution::Uniform(0.5, 2.0), device));
        norm.gamma =
            burn::module::Param::from_tensor(Tensor::random([c], Distribution::Uniform(0.5, 1.5), device));
        blocks.push(ConvBlock {
            conv: Conv2dConfig::new([inputs, c], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device), // with a bias, as before
            norm: Some(norm),
        });
        inputs = c;
    }
    Cnn {
        blocks,
        pool: MaxPool2dConfig::new([2, 2]).init(),
        fc: LinearConfig::new(12 * 7 * 7, 20).init(device),
        dropout: DropoutConfig::new(0.25).init(),
        output: LinearConfig::new(20, 10).init(device),
    }
}

/// Logits of the old network with burn's modules, eval mode.
fn legacy_logits(net: &Cnn, x: Tensor<4>) -> Tensor<2> {
    let mut x = x;
    for block in &net.blocks {
        x = block.conv.forward(x);
        x = block.norm.as_ref().unwrap().forward(x);
        x = net.pool.forward(relu(x));
    }
    let [n, c, h, w] = x.dims();
    net.output
        .forward(relu(net.fc.forward(x.reshape([n, c * h * w]))))
}

#[test]
fn a_checkpoint_with_convolution_biases_before_batch_norm_loads_and_computes_the_same() {
    let device = Device::flex();
    device.seed(9);
    let old = legacy(&device);
    let biases: Vec<f32> = old.blocks[0]
        .conv
        .bias
        .as_ref()
        .unwrap()
        .val()
        .into_data()
        .iter::<f32>()
        .collect();
    assert!(
        biases.iter().any(|b| *b != 0.0),
        "the old checkpoint has real biases"
    );
    let data = common::synthetic_dataset(10, 16, 4);
    let indices: Vec<usize> = (0..16).collect();
    let (x, _) = batch::batch(&data.test, &indices, None, &device);
    let want = legacy_logits(&old, x.clone());

    let dir = common::temp_dir("legacy");
    let path = dir.join("model.bpk");
    let bytes = Model::Cnn(old).into_record().into_bytes().expect("saves");
    std::fs::write(&path, &*bytes).unwrap();
    let spec = ModelSpec::Cnn {
        channels: CHANNELS.to_vec(),
        kernel_size: 3,
        batch_norm: true,
        dropout: 0.25,
        dense: 20,
    };
    let loaded = load_model(&path, &spec, &device).expect("the old checkpoint loads");
    let got = loaded.forward(x.clone());
    let (got, want): (Vec<f32>, Vec<f32>) = (
        got.into_data().iter().collect(),
        want.into_data().iter().collect(),
    );
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-4 * scale, "{a} vs {b}");
    }

    // Saved again, it is a checkpoint of the new layout (no biases), which loads as well.
    let again = dir.join("again.bpk");
    save_model(&loaded, &again).unwrap();
    let reloaded = load_model(&again, &spec, &device).expect("the new checkpoint loads");
    let twice: Vec<f32> = reloaded.forward(x).into_data().iter().collect();
    assert_eq!(twice, got);
}
