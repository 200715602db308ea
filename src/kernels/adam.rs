//! One Adam / AdamW step for one parameter tensor as a single op. burn's optimisers spend about
//! a dozen tensor passes (and as many allocations) per parameter and step; on flex this op reads
//! the parameter, its gradient and both moments once and writes them back in place. Other
//! backends compose the same formula from standard ops, as burn's optimisers do.

use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Backend, Cube, Dispatch, ExtensionType, Flex, TensorMetadata, backend_extension,
};
use burn::tensor::{DType, Tensor};
use rayon::prelude::*;

/// A parameter and its two moment estimates.
#[derive(ExtensionType)]
pub struct AdamTensors<B: Backend> {
    /// The parameter's values, updated by the step.
    pub param: FloatTensor<B>,
    /// First moment (mean of gradients).
    pub moment_1: FloatTensor<B>,
    /// Second moment (mean of squared gradients).
    pub moment_2: FloatTensor<B>,
}

/// Which of burn's two formulas the step follows (they differ in rounding only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formula {
    /// `Adam`: `m₁ · (√(1−β₂ᵗ)/(1−β₁ᵗ)) / (√m₂ + ε√(1−β₂ᵗ))`, L2 decay added to the gradient.
    Adam,
    /// `AdamW`: `(m₁/(1−β₁ᵗ)) / (√(m₂/(1−β₂ᵗ)) + ε)`, decay applied to the weights.
    AdamW,
}

/// The scalars of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    pub formula: Formula,
    /// Learning rate of this step.
    pub learning_rate: f64,
    /// β₁, the decay of the first moment (0.9 by default).
    pub beta_1: f32,
    /// β₂, the decay of the second moment (0.999 by default).
    pub beta_2: f32,
    /// ε, added to the denominator so it is never zero.
    pub epsilon: f32,
    /// Step number, from 1.
    pub time: i32,
    /// Weight decay: added to the gradient (Adam) or decoupled (AdamW).
    pub weight_decay: f32,
}

impl AdamStep {
    /// AdamW's decoupled decay factor `1 − lr·λ` (computed in f64 as burn does; 1 for Adam).
    fn keep(&self) -> f32 {
        match self.formula {
            Formula::AdamW if self.weight_decay != 0.0 => {
                (1.0 - self.learning_rate * self.weight_decay as f64) as f32
            }
            _ => 1.0,
        }
    }

    /// Per-step constants in the precision burn computes them: `(c₁, c₂)` are
    /// `(√(1−β₂ᵗ)/(1−β₁ᵗ), ε√(1−β₂ᵗ))` for Adam and `(1−β₁ᵗ, 1−β₂ᵗ)` for AdamW.
    fn corrections(&self) -> (f32, f32) {
        match self.formula {
            Formula::Adam => {
                let bc2_sqrt = (1.0 - self.beta_2.powi(self.time)).sqrt();
                (
                    bc2_sqrt / (1.0 - self.beta_1.powi(self.time)),
                    self.epsilon * bc2_sqrt,
                )
            }
            Formula::AdamW => (
                1.0 - self.beta_1.powi(self.time),
                1.0 - self.beta_2.powi(self.time),
            ),
        }
    }
}

/// One optimiser step of one parameter.
#[backend_extension(Flex, Cube, Remote)]
pub trait AdamOps: Backend {
    /// The parameter and moments after one step with gradient `grad`.
    fn adam_update(
        #[extension_type] state: AdamTensors<Self>,
        grad: FloatTensor<Self>,
        step: AdamStep,
    ) -> AdamTensors<Self> {
        compose::<Self>(state, grad, step)
    }
}

impl AdamOps for Cube {}

/// The step as burn's optimisers write it, op by op.
pub(crate) fn compose<B: Backend>(state: AdamTensors<B>, grad: FloatTensor<B>, step: AdamStep) -> AdamTensors<B> {
    let scalar = |t, v: f32| B::float_mul_scalar(t, v.into());
    let AdamTensors {
        param,
        moment_1,
        moment_2,
    } = state;
    let grad = match step.formula {
        Formula::Adam if step.weight_decay != 0.0 => {
            B::float_add(scalar(param.clone(), step.weight_decay), grad)
        }
        _ => grad,
    };
    let moment_1 = B::float_add(
        scalar(moment_1, step.beta_1),
        scalar(grad.clone(), 1.0 - step.beta_1),
    );
    let squared = B::float_mul(grad.clone(), grad);
    let moment_2 = B::float_add(scalar(moment_2, step.beta_2), scalar(squared, 1.0 - step.beta_2));
    let (c1, c2) = step.corrections();
    let lr = step.learning_rate as f32;
    let (update, kept) = match step.formula {
        Formula::Adam => {
            let denominator = B::float_add_scalar(B::float_sqrt(moment_2.clone()), c2.into());
            (B::float_div(scalar(moment_1.clone(), c1), denominator), param)
        }
        Formula::AdamW => {
            let corrected = B::float_div_scalar(moment_1.clone(), c1.into());
            let denominator = B::float_add_scalar(
                B::float_sqrt(B::float_div_scalar(moment_2.clone(), c2.into())),
                step.epsilon.into(),
            );
            let kept = match step.keep() {
                1.0 => param,
                keep => scalar(param, keep),
            };
            (B::float_div(corrected, denominator), kept)
        }
    };
    AdamTensors {
        param: B::float_sub(kept, scalar(update, lr)),
        moment_1,
        moment_2,
    }
}

impl AdamOps for Flex {
    fn adam_update(state: AdamTensors<Flex>, grad: FloatTensor<Flex>, step: AdamStep) -> AdamTensors<Flex> {
        let tensors = [&state.param, &state.moment_1, &state.moment_2, &grad];
        let shape = state.param.shape();
        let plain = tensors.iter().all(|t| {
            t.dtype() == DType::F32
                && t.is_contiguous()
                && t.layout().start_offset() == 0
                && t.shape() == shape
        });
        if !plain || !super::fused_adam_enabled() {
            return compose::<Flex>(state, grad, step);
        }
        let AdamTensors {
            mut param,
            mut moment_1,
            mut moment_2,
        } = state;
        let len = shape.num_elements();
        let grad = &grad.storage::<f32>()[..len];
        let (p, m1, m2) = (
            &mut param.storage_mut::<f32>()[..len],
            &mut moment_1.storage_mut::<f32>()[..len],
            &mut moment_2.storage_mut::<f32>()[..len],
        );
        update_in_place(p, m1, m2, grad, &step);
        super::record(|runs| runs.adam_steps += 1);
        AdamTensors {
            param,
            moment_1,
            moment_2,
        }
    }
}

/// The step over host slices, in chunks across threads: the same f32 operations in the same
/// order as [`compose`], one pass.
pub fn update_in_place(
    param: &mut [f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    grad: &[f32],
    step: &AdamStep,
) {
    const CHUNK: usize = 16 * 1024;
    param
        .par_chunks_mut(CHUNK)
        .zip(moment_1.par_chunks_mut(CHUNK))
        .zip(moment_2.par_chunks_mut(CHUNK))
        .zip(grad.par_chunks(CHUNK))
        .for_each(|(((p, m1), m2), g)| update_chunk(p, m1, m2, g, step));
}

crate::multiversion! {
    fn update_chunk(param: &mut [f32], moment_1: &mut [f32], moment_2: &mut [f32], grad: &[f32], step: &AdamStep) => update_chunk_impl
}

/// One chunk: scalars in locals, zipped iterators (no bounds checks) and one loop per formula,
/// so each loop vectorises.
#[inline(always)]
fn update_chunk_impl(
    param: &mut [f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    grad: &[f32],
    step: &AdamStep,
) {
    let (c1, c2) = step.corrections();
    let (b1, b2, eps, lr) = (step.beta_1, step.beta_2, step.epsilon, step.learning_rate as f32);
    let (f1, f2) = (1.0 - b1, 1.0 - b2);
    let (l2, keep) = (step.weight_decay, step.keep());
    let elements = param
        .iter_mut()
        .zip(moment_1.iter_mut())
        .zip(moment_2.iter_mut())
        .zip(grad);
    match step.formula {
        Formula::Adam => {
            for (((p, m1), m2), g) in elements {
                let g = *p * l2 + g; // l2 = 0 adds exactly zero
                *m1 = *m1 * b1 + g * f1;
                *m2 = *m2 * b2 + (g * g) * f2;
                *p -= ((*m1 * c1) / (m2.sqrt() + c2)) * lr;
            }
        }
        Formula::AdamW => {
            for (((p, m1), m2), g) in elements {
                *m1 = *m1 * b1 + g * f1;
                *m2 = *m2 * b2 + (g * g) * f2;
                let update = (*m1 / c1) / ((*m2 / c2).sqrt() + eps);
                *p = *p * keep - update * lr;
            }
        }
    }
}

/// [`AdamOps::adam_update`] on tensors: `(param, moment_1, moment_2)` after the step.
pub fn adam_update<const D: usize>(
    param: Tensor<D>,
    moment_1: Tensor<D>,
    moment_2: Tensor<D>,
    grad: Tensor<D>,
    step: AdamStep,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let state = AdamTensors {
        param: param.into_dispatch(),
        moment_1: moment_1.into_dispatch(),
        moment_2: moment_2.into_dispatch(),
    };
    let out = <Dispatch as AdamOps>::adam_update(state, grad.into_dispatch(), step);
    (
        Tensor::from_dispatch(out.param),
        Tensor::from_dispatch(out.moment_1),
        Tensor::from_dispatch(out.moment_2),
    )
}
