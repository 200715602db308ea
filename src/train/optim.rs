//! Each optimiser's step, as one burn `ModuleOptimizer` built from the run's
//! [`OptimizerSpec`] ([`optimizer`]). Adam and AdamW step each parameter with the one-pass
//! kernel of [`kernels::adam`](crate::kernels::adam) and keep burn's own state types, so saved
//! `optimizer.bpk` files load either way; SGD and RMSprop are burn's, op by op on every backend.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdamState, AdamWState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer, RmsPropConfig,
    SgdConfig,
};
use burn::tensor::{Device, Tensor};

use super::config::TrainConfig;
use super::optimizers::OptimizerSpec;
use crate::kernels::adam::{AdamStep, Formula, adam_update};

/// Adam with its weight decay added to the gradient (L2), one pass per parameter. The default
/// is PyTorch's (β₁ 0.9, β₂ 0.999, ε 1e-8) without weight decay.
#[derive(Debug, Clone)]
pub struct FusedAdam {
    /// L2 penalty (0: none).
    pub weight_decay: f32,
    /// Decay of the gradients' running mean.
    pub beta_1: f32,
    /// Decay of the squared gradients' running mean.
    pub beta_2: f32,
    /// Added to the denominator.
    pub epsilon: f32,
}

/// AdamW (decoupled weight decay), one pass per parameter. The default is PyTorch's β₁, β₂
/// and ε (0.9, 0.999, 1e-8) without weight decay.
#[derive(Debug, Clone)]
pub struct FusedAdamW {
    /// Decoupled decay rate.
    pub weight_decay: f32,
    /// Decay of the gradients' running mean.
    pub beta_1: f32,
    /// Decay of the squared gradients' running mean.
    pub beta_2: f32,
    /// Added to the denominator.
    pub epsilon: f32,
}

impl Default for FusedAdam {
    fn default() -> Self {
        Self {
            weight_decay: 0.0,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
        }
    }
}

impl Default for FusedAdamW {
    fn default() -> Self {
        let FusedAdam {
            weight_decay,
            beta_1,
            beta_2,
            epsilon,
        } = FusedAdam::default();
        Self {
            weight_decay,
            beta_1,
            beta_2,
            epsilon,
        }
    }
}

/// One step of either formula on one parameter, from its (possibly absent) moments; `hyper`
/// is (weight decay, β₁, β₂, ε).
fn step<const D: usize>(
    formula: Formula,
    (weight_decay, beta_1, beta_2, epsilon): (f32, f32, f32, f32),
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
        beta_1,
        beta_2,
        epsilon,
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
            (self.weight_decay, self.beta_1, self.beta_2, self.epsilon),
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
            (self.weight_decay, self.beta_1, self.beta_2, self.epsilon),
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

/// The optimiser `config` asks for: its [`OptimizerSpec`] with the run's weight decay.
pub fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    let weight_decay = config.weight_decay as f32;
    let decay = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay));
    match config.optimizer {
        OptimizerSpec::Adam { beta_1, beta_2, eps } => FusedAdam {
            weight_decay,
            beta_1: beta_1 as f32,
            beta_2: beta_2 as f32,
            epsilon: eps as f32,
        }
        .into(),
        OptimizerSpec::AdamW { beta_1, beta_2, eps } => FusedAdamW {
            weight_decay,
            beta_1: beta_1 as f32,
            beta_2: beta_2 as f32,
            epsilon: eps as f32,
        }
        .into(),
        // burn's momentum keeps its default dampening of 0.1, as every SGD run before.
        OptimizerSpec::Sgd { momentum, nesterov } => SgdConfig::new()
            .with_momentum((momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(momentum)
                    .with_nesterov(nesterov)
            }))
            .with_weight_decay(decay)
            .init(),
        // PyTorch's RMSprop, step for step (burn's formula: ε after the square root).
        OptimizerSpec::RmsProp {
            alpha,
            eps,
            momentum,
            centered,
        } => RmsPropConfig::new()
            .with_alpha(alpha as f32)
            .with_epsilon(eps as f32)
            .with_momentum(momentum as f32)
            .with_centered(centered)
            .with_weight_decay(decay)
            .init(),
    }
}
