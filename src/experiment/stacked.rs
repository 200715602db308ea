//! Many networks of one architecture trained together as one stacked network (seed S0's
//! ensemble, vectorised). All parameters of the members are one `[members, Σ numel]` tensor
//! (AdamW updates it in one pass), each parameter a `[members, numel]` view of it;
//! convolutions run grouped (one group per member) and dense layers as batched matmuls, so one
//! burn op serves every member. Members never mix: each has its own weights, images, batch statistics,
//! dropout masks (from its own generator) and optimiser state. A member that reaches its
//! target leaves the stack with its weights copied out, so later steps only cost what is
//! still training. Training one member alone gives the same weights (see the tests).

use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::module::{batch_norm, batch_norm_train, conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
use crate::model::plain::{Architecture, PlainWeights};
use crate::rng::Rng;

/// AdamW as PyTorch defines it (decoupled decay applied to every parameter).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamW {
    /// Learning rate.
    pub learning_rate: f64,
    /// Weight decay.
    pub weight_decay: f64,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPSILON: f64 = 1e-8;
const BN_EPSILON: f64 = 1e-5;
const BN_MOMENTUM: f64 = 0.1;

/// One member's fixed training set, already normalised.
#[derive(Debug, Clone)]
pub struct MemberData {
    /// `[images × 784]` normalised inputs.
    pub inputs: Vec<f32>,
    /// One label per image.
    pub labels: Vec<u8>,
}

/// A member leaving the stack.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Its index among the trainer's members (the order they were given in).
    pub member: usize,
    /// Steps it took.
    pub steps: usize,
    /// Training accuracy of its last step.
    pub train_accuracy: f64,
    /// Its weights.
    pub weights: PlainWeights,
}

/// The members still training, stacked.
pub struct StackedTrainer {
    arch: Architecture,
    device: Device,
    optimizer: AdamW,
    /// Member index of each stacked row.
    rows: Vec<usize>,
    data: Vec<MemberData>,
    dropout_rngs: Vec<Rng>,
    /// Every parameter of a member side by side in one row, in the architecture's order:
    /// `[rows, Σ numel]`. The optimiser updates all of them in one pass of element-wise ops
    /// instead of one pass per parameter (the same values bit for bit), and the op count is
    /// what a remote device's op stream pays for.
    params: Tensor<2>,
    /// Element count of each parameter, in order: where each one sits in a row of `params`.
    numels: Vec<usize>,
    first_moment: Tensor<2>,
    second_moment: Tensor<2>,
    running: Vec<Tensor<2>>, // each [rows, channels]
    step: usize,
    images: Tensor<4>,  // [batch, rows, 28, 28]; an MLP reads it as [rows, batch, 784]
    one_hot: Tensor<3>, // [rows, batch, 10]
}

fn stack(rows: &[&Vec<f32>], device: &Device) -> Tensor<2> {
    let numel = rows[0].len();
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), numel]), device)
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

impl StackedTrainer {
    /// Stacks members with their initial weights, training data and dropout generators. Every
    /// member needs the same number of training images.
    pub fn new(
        arch: Architecture,
        init: Vec<PlainWeights>,
        data: Vec<MemberData>,
        dropout_rngs: Vec<Rng>,
        optimizer: AdamW,
        device: &Device,
    ) -> Self {
        assert!(!init.is_empty() && init.len() == data.len() && data.len() == dropout_rngs.len());
        let numels: Vec<usize> = init[0].params.iter().map(Vec::len).collect();
        let rows: Vec<Vec<f32>> = init.iter().map(|w| w.params.concat()).collect();
        let params = stack(&rows.iter().collect::<Vec<_>>(), device);
        let running = (0..init[0].running.len())
            .map(|i| stack(&init.iter().map(|w| &w.running[i]).collect::<Vec<_>>(), device))
            .collect();
        let zeros = params.zeros_like();
        let mut trainer = Self {
            arch,
            device: device.clone(),
            optimizer,
            rows: (0..init.len()).collect(),
            data,
            dropout_rngs,
            first_moment: zeros.clone(),
            second_moment: zeros,
            params,
            numels,
            running,
            step: 0,
            images: Tensor::zeros([1, 1, 1, 1], device),
            one_hot: Tensor::zeros([1, 1, 1], device),
        };
        trainer.upload_batch();
        trainer
    }

    /// Members still training.
    pub fn active(&self) -> usize {
        self.rows.len()
    }

    /// Steps taken so far by the members still training.
    pub fn steps(&self) -> usize {
        self.step
    }

    fn batch(&self) -> usize {
        self.data[self.rows[0]].labels.len()
    }

    /// Images and one-hot labels of the current rows as tensors.
    fn upload_batch(&mut self) {
        let b = self.batch();
        let n = self.rows.len();
        // [batch, rows, 28, 28]: image i of every member next to each other.
        let mut images = Vec::with_capacity(b * n * IMAGE_PIXELS);
        for i in 0..b {
            for &r in &self.rows {
                images.extend_from_slice(&self.data[r].inputs[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]);
            }
        }
        self.images = Tensor::from_data(
            TensorData::new(images, [b, n, IMAGE_SIDE, IMAGE_SIDE]),
            &self.device,
        );
        let mut one_hot = vec![0.0f32; n * b * NUM_CLASSES];
        for (row, &r) in self.rows.iter().enumerate() {
            for (i, &l) in self.data[r].labels.iter().enumerate() {
                one_hot[(row * b + i) * NUM_CLASSES + l as usize] = 1.0;
            }
        }
        self.one_hot = Tensor::from_data(TensorData::new(one_hot, [n, b, NUM_CLASSES]), &self.device);
    }

    /// Dropout keep-masks (scaled) for each hidden dense layer: `[rows, batch, width]`, drawn
    /// from each member's own generator so stacking does not change them.
    fn dropout_masks(&mut self) -> Vec<Option<Tensor<3>>> {
        let p = self.arch.dropout;
        let b = self.batch();
        let hidden = &self.arch.dense[..self.arch.dense.len() - 1];
        hidden
            .iter()
            .map(|&[_, width]| {
                if p <= 0.0 {
                    return None;
                }
                let scale = (1.0 / (1.0 - p)) as f32;
                let mut mask = Vec::with_capacity(self.rows.len() * b * width);
                for &r in &self.rows {
                    let rng = &mut self.dropout_rngs[r];
                    mask.extend(
                        (0..b * width).map(|_| if (rng.next_f32() as f64) < p { 0.0 } else { scale }),
                    );
                }
                Some(Tensor::from_data(
                    TensorData::new(mask, [self.rows.len(), b, width]),
                    &self.device,
                ))
            })
            .collect()
    }

    /// One full-batch step of every member still training. Members whose training accuracy on
    /// this step's forward pass reaches `target`, or that have taken `max_steps`, leave the
    /// stack and are returned.
    pub fn step(&mut self, target: f64, max_steps: usize) -> Vec<Finished> {
        let n = self.rows.len();
        let b = self.batch();
        let masks = self.dropout_masks();
        let params: Vec<Tensor<2>> = self
            .split(&self.params)
            .into_iter()
            .map(|p| p.autodiff().require_grad())
            .collect();
        let (logits, batch_stats) = forward(
            &self.arch,
            &params,
            Forward::Train { masks: &masks },
            self.images.clone(),
            n,
        );
        // [rows, batch, 10]
        let log_probs = log_softmax(logits.clone(), 2);
        let per_member = log_probs.mul(self.one_hot.clone()).sum_dim(2).mean_dim(1).neg(); // [rows, 1, 1]: each member's mean cross-entropy
        // Summed, not averaged: each member's gradient is that of its own loss.
        let grads = per_member.sum().backward();
        self.step += 1;
        let t = self.step as i32;
        let AdamW {
            learning_rate: lr,
            weight_decay: wd,
        } = self.optimizer;
        let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
        // [rows, Σ numel], in the order of `params`.
        let g = Tensor::cat(
            params
                .iter()
                .map(|p| p.grad(&grads).expect("every parameter takes part in the loss"))
                .collect(),
            1,
        );
        let m = self
            .first_moment
            .clone()
            .mul_scalar(BETA1)
            .add(g.clone().mul_scalar(1.0 - BETA1));
        let v = self
            .second_moment
            .clone()
            .mul_scalar(BETA2)
            .add(g.powf_scalar(2.0).mul_scalar(1.0 - BETA2));
        let update = m
            .clone()
            .div_scalar(c1)
            .div(v.clone().div_scalar(c2).sqrt().add_scalar(EPSILON));
        self.params = self
            .params
            .clone()
            .mul_scalar(1.0 - lr * wd)
            .sub(update.mul_scalar(lr));
        self.first_moment = m;
        self.second_moment = v;
        // PyTorch's running statistics: unbiased variance, momentum 0.1.
        for (i, (mean, var, count)) in batch_stats.into_iter().enumerate() {
            let unbiased = count as f64 / (count as f64 - 1.0).max(1.0);
            let channels = self.arch.convs[i][1];
            self.running[2 * i] = self.running[2 * i]
                .clone()
                .mul_scalar(1.0 - BN_MOMENTUM)
                .add(mean.reshape([n, channels]).mul_scalar(BN_MOMENTUM));
            self.running[2 * i + 1] = self.running[2 * i + 1]
                .clone()
                .mul_scalar(1.0 - BN_MOMENTUM)
                .add(var.reshape([n, channels]).mul_scalar(BN_MOMENTUM * unbiased));
        }
        // Accuracy of this step's forward pass, per member.
        let logits: Vec<f32> = logits.inner().into_data().iter::<f32>().collect();
        let predictions = crate::train::metrics::argmax_rows(&logits);
        let mut leaving = Vec::new();
        for (row, &r) in self.rows.iter().enumerate() {
            let labels = &self.data[r].labels;
            let right = (0..b).filter(|&i| predictions[row * b + i] == labels[i]).count();
            let accuracy = right as f64 / b as f64;
            if accuracy >= target || self.step >= max_steps {
                leaving.push((row, accuracy));
            }
        }
        if leaving.is_empty() {
            return Vec::new();
        }
        let finished = leaving
            .iter()
            .map(|&(row, accuracy)| Finished {
                member: self.rows[row],
                steps: self.step,
                train_accuracy: accuracy,
                weights: self.weights_of(row),
            })
            .collect();
        let keep: Vec<usize> = (0..n)
            .filter(|row| !leaving.iter().any(|(r, _)| r == row))
            .collect();
        self.keep_rows(&keep);
        finished
    }

    /// Each parameter's columns of `flat` (`[rows, Σ numel]`): `[rows, numel]` each.
    fn split(&self, flat: &Tensor<2>) -> Vec<Tensor<2>> {
        let mut start = 0;
        self.numels
            .iter()
            .map(|&n| {
                start += n;
                flat.clone().narrow(1, start - n, n)
            })
            .collect()
    }

    /// Host copy of one stacked row's weights.
    fn weights_of(&self, row: usize) -> PlainWeights {
        let pick = |t: &Tensor<2>| host(t.clone().narrow(0, row, 1));
        let all = pick(&self.params);
        let mut rest = all.as_slice();
        let params = self
            .numels
            .iter()
            .map(|&n| {
                let (param, tail) = rest.split_at(n);
                rest = tail;
                param.to_vec()
            })
            .collect();
        PlainWeights {
            params,
            running: self.running.iter().map(pick).collect(),
        }
    }

    fn keep_rows(&mut self, keep: &[usize]) {
        self.rows = keep.iter().map(|&row| self.rows[row]).collect();
        if keep.is_empty() {
            return;
        }
        let index: Vec<i64> = keep.iter().map(|&r| r as i64).collect();
        let index: Tensor<1, Int> = Tensor::from_data(TensorData::new(index, [keep.len()]), &self.device);
        let select = |t: &Tensor<2>| t.clone().select(0, index.clone());
        self.params = select(&self.params);
        self.first_moment = select(&self.first_moment);
        self.second_moment = select(&self.second_moment);
        self.running = self.running.iter().map(select).collect();
        self.upload_batch();
    }
}

/// How [`forward`] runs.
enum Forward<'a> {
    /// Batch statistics and dropout masks; every member sees its own images.
    Train { masks: &'a [Option<Tensor<3>>] },
    /// Running statistics, no dropout; every member sees the same images.
    Eval { running: &'a [Tensor<2>] },
}

/// Batch statistics of one normalised block: mean, biased variance (`[rows·channels]`) and
/// the number of values each was taken over.
type BatchStats = (Tensor<1>, Tensor<1>, usize);

/// Logits `[rows, batch, 10]` of the stacked members. Training input is `[batch, rows, 28, 28]`
/// (member r's images in channel r); evaluation input is `[batch, 1, 28, 28]`, shared.
fn forward(
    arch: &Architecture,
    params: &[Tensor<2>],
    mode: Forward,
    images: Tensor<4>,
    rows: usize,
) -> (Tensor<3>, Vec<BatchStats>) {
    let [batch, _, _, _] = images.dims();
    let k = arch.kernel;
    let pad = k / 2;
    let mut stats = Vec::new();
    let mut p = params.iter().cloned();
    let mut next = || p.next().expect("parameter count fits the architecture");
    let mut x = images;
    let mut side = IMAGE_SIDE;
    for (block, &[i, o]) in arch.convs.iter().enumerate() {
        let weight = next().reshape([rows * o, i, k, k]);
        // BatchNorm's beta stands in for the convolution's bias.
        let bias = (!arch.batch_norm).then(|| next().reshape([rows * o]));
        // The first block of an evaluation reads one shared image: all members' kernels at once.
        let groups = if block == 0 && matches!(mode, Forward::Eval { .. }) {
            1
        } else {
            rows
        };
        x = conv2d(
            x,
            weight,
            bias,
            ConvOptions::new([1, 1], [pad, pad], [1, 1], groups),
        );
        // [batch, rows·o, side, side]
        if arch.batch_norm {
            let gamma = next().reshape([rows * o]);
            let beta = next().reshape([rows * o]);
            x = match &mode {
                Forward::Train { .. } => {
                    let out = batch_norm_train(x, gamma, beta, BN_EPSILON);
                    stats.push((out.mean.inner(), out.variance.inner(), batch * side * side));
                    out.output
                }
                Forward::Eval { running } => {
                    let mean = running[2 * block].clone().reshape([rows * o]);
                    let var = running[2 * block + 1].clone().reshape([rows * o]);
                    batch_norm(x, gamma, beta, mean, var, BN_EPSILON)
                }
            };
        }
        x = max_pool2d(relu(x), MaxPoolOptions::new([2, 2])); // [batch, rows·o, side/2, side/2]
        side /= 2;
    }
    let flat = arch.dense[0][0];
    let mut h: Tensor<3> = if arch.convs.is_empty() {
        match mode {
            // [batch, rows, 28, 28] → [rows, batch, 784]
            Forward::Train { .. } => x.reshape([batch, rows, flat]).swap_dims(0, 1),
            // shared images: [batch, 1, 28, 28] → [rows, batch, 784]
            Forward::Eval { .. } => x.reshape([1, batch, flat]).expand([rows, batch, flat]),
        }
    } else {
        // [batch, rows·c, s, s] → [rows, batch, c·s·s]
        x.reshape([batch, rows, flat]).swap_dims(0, 1)
    };
    let layers = arch.dense.len();
    for (l, &[i, o]) in arch.dense.iter().enumerate() {
        let weight = next().reshape([rows, i, o]);
        let bias = next().reshape([rows, 1, o]);
        h = h.matmul(weight).add(bias); // [rows, batch, o]
        if l + 1 < layers {
            h = relu(h);
            if let Forward::Train { masks } = &mode
                && let Some(mask) = &masks[l]
            {
                // A constant: tensors without autodiff join an autodiff graph as constants.
                h = h.mul(mask.clone());
            }
        }
    }
    (h, stats)
}

/// Logits `[members, images, 10]` (row-major) of stacked members in eval mode on the same
/// normalised images `[images × 784]`.
pub fn evaluate_stacked(
    arch: &Architecture,
    members: &[&PlainWeights],
    inputs: &[f32],
    device: &Device,
) -> Vec<f32> {
    let rows = members.len();
    let params: Vec<Tensor<2>> = (0..members[0].params.len())
        .map(|i| stack(&members.iter().map(|w| &w.params[i]).collect::<Vec<_>>(), device))
        .collect();
    let running: Vec<Tensor<2>> = (0..members[0].running.len())
        .map(|i| stack(&members.iter().map(|w| &w.running[i]).collect::<Vec<_>>(), device))
        .collect();
    let batch = inputs.len() / IMAGE_PIXELS;
    let images = Tensor::from_data(
        TensorData::new(inputs.to_vec(), [batch, 1, IMAGE_SIDE, IMAGE_SIDE]),
        device,
    );
    let (logits, _) = forward(arch, &params, Forward::Eval { running: &running }, images, rows);
    logits.into_data().iter::<f32>().collect()
}
