//! The optimisers a run trains with, as one burn `ModuleOptimizer`. Adam and AdamW step each
//! parameter with the one-pass kernel of [`kernels::adam`](crate::kernels::adam) and keep burn's
//! own state types, so saved `optimizer.bpk` files load either way; SGD is burn's.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdamState, AdamWState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer, SgdConfig,
};
use burn::tensor::{Device, Tensor};

use super::config::{OptimizerKind, TrainConfig};
use crate::kernels::adam::{AdamStep, Formula, adam_update};

/// β₁, β₂ and ε as burn's and PyTorch's defaults (ε as the workbench has always set it).
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-8;

/// Adam with its weight decay added to the gradient (L2), one pass per parameter.
#[derive(Debug, Clone)]
pub struct FusedAdam {
    /// L2 penalty (0: none).
    pub weight_decay: f32,
}

/// AdamW (decoupled weight decay), one pass per parameter.
#[derive(Debug, Clone)]
pub struct FusedAdamW {
    /// Decoupled decay rate.
    pub weight_decay: f32,
}

/// One step of either formula on one parameter, from its (possibly absent) moments.
fn step<const D: usize>(
    formula: Formula,
    weight_decay: f32,
    lr: LearningRate,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    momentum: Option<AdaptiveMomentumState<D>>,
) -> (Tensor<D>, AdaptiveMomentumState<D>) {
    let (moment_1, moment_2, time) = match momentum {
        Some(state) => (state.moment_1, state.moment_2, state.time + 1),
        None => (grad.zeros_like(), grad.zeros_like(), 1),
    };
    let settings = AdamStep {
        formula,
        learning_rate: lr,
        beta_1: BETA_1,
        beta_2: BETA_2,
        epsilon: EPSILON,
        time: time as i32,
        weight_decay,
    };
    let (tensor, moment_1, moment_2) = adam_update(tensor, moment_1, moment_2, grad, settings);
    (tensor, AdaptiveMomentumState::new(time, moment_1, moment_2))
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let (tensor, momentum) = step(
            Formula::Adam,
            self.weight_decay,
            lr,
            tensor,
            grad,
            state.map(|s| s.momentum),
        );
        (tensor, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamState::new(state.momentum.to_device(device))
    }
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let (tensor, momentum) = step(
            Formula::AdamW,
            self.weight_decay,
            lr,
            tensor,
            grad,
            state.map(|s| s.momentum),
        );
        (tensor, Some(AdamWState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamWState::new(state.momentum.to_device(device))
    }
}

/// The optimiser `config` asks for.
pub fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    let weight_decay = config.weight_decay as f32;
    match config.optimizer {
        OptimizerKind::Adam => FusedAdam { weight_decay }.into(),
        OptimizerKind::AdamW => FusedAdamW { weight_decay }.into(),
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum(
                (config.momentum > 0.0).then(|| MomentumConfig::new().with_momentum(config.momentum)),
            )
            .with_weight_decay((weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay)))
            .init(),
    }
}
