//! Our own fused CPU kernels, added to burn through its backend extension.
//!
//! One CNN block, conv (same padding) → (BatchNorm) → ReLU → 2×2 max pool, is a single op of
//! [`ConvBlockOps`] instead of four burn ops. The trait's default bodies compose burn's standard
//! ops ([`compose`]), so wgpu (`Cube`) runs exactly what it ran before; a remote device sends
//! each block as one op to a flex server that runs these kernels ([`remote`], [`served`]), or
//! the standard ops to one that does not; flex and autodiff-on-flex get the kernels of
//! [`cpu`]: NHWC inside, convolutions as implicit GEMMs over a padded input (no im2col
//! buffer), a direct kernel for single-channel input, BatchNorm statistics in two
//! cache-resident passes per image, ReLU and pooling fused into the normalisation, the weight
//! gradient as GEMMs against the same input rows, all parallel over the images of the batch. NaN propagates as through burn's ops.
//!
//! Which path ran is observable: [`with_kernels`] chooses ours or burn's for one thread (the
//! in-process `MNIST_WORKBENCH_KERNELS`), and [`runs_on_this_thread`] / [`runs_during`] count
//! the kernels that completed on the calling thread.
//!
//! Model code calls the tensor-level functions below; they route through `Dispatch` to the
//! backend of the tensors' device.

pub mod adam;
pub mod compose;
pub mod cpu;
pub(crate) mod flex;
pub mod remote;
pub mod served;

use burn::backend::Dispatch;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Cube, ExtensionType, backend_extension};
use burn::tensor::Tensor;
use std::cell::Cell;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// Which of our kernels flex runs instead of burn's standard ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernels {
    /// The fused conv → (BatchNorm) → ReLU → pool blocks.
    pub conv: bool,
    /// The one-pass Adam / AdamW step.
    pub adam: bool,
}

impl Kernels {
    /// All of ours (the default).
    pub const ALL: Kernels = Kernels {
        conv: true,
        adam: true,
    };
    /// None of ours: burn's standard ops only (`MNIST_WORKBENCH_KERNELS=burn`).
    pub const BURN: Kernels = Kernels {
        conv: false,
        adam: false,
    };

    /// The choice a value of `MNIST_WORKBENCH_KERNELS` makes: `None` (unset) is [`Kernels::ALL`];
    /// otherwise a comma list of `conv` and `adam` (anything else, `burn` included, turns
    /// both off).
    pub fn from_env_value(value: Option<&str>) -> Kernels {
        let Some(value) = value else {
            return Kernels::ALL;
        };
        let has = |name: &str| value.split(',').any(|part| part.trim() == name);
        Kernels {
            conv: has("conv"),
            adam: has("adam"),
        }
    }
}

/// Whether flex runs our block kernels on this thread: the innermost [`with_kernels`] scope,
/// else the process-wide choice ([`set_kernels`], first read from `MNIST_WORKBENCH_KERNELS`).
/// One binary thus benchmarks each lever alone, and a test compares both paths in-process.
pub fn fused_enabled() -> bool {
    current().conv
}

/// Whether flex steps Adam and AdamW with the one-pass kernel (see [`fused_enabled`]).
pub fn fused_adam_enabled() -> bool {
    current().adam
}

/// Chooses our block kernels (`true`) or burn's composition on flex from now on, for every
/// thread (outside [`with_kernels`] scopes); the one-pass Adam keeps its setting.
pub fn set_fused(enabled: bool) {
    set_kernels(Kernels {
        conv: enabled,
        ..process_kernels()
    });
}

/// Chooses which of our kernels flex runs from now on, for every thread (outside
/// [`with_kernels`] scopes). This is what `MNIST_WORKBENCH_KERNELS` sets at first use.
pub fn set_kernels(kernels: Kernels) {
    PROCESS.store(encode(kernels), Ordering::Relaxed);
}

/// Runs `f` with `kernels` chosen for the calls made on this thread only (other threads keep
/// theirs), restoring the previous choice afterwards, also when `f` panics. Whether a block
/// runs fused is decided when its forward pass runs, so its backward follows that choice.
pub fn with_kernels<T>(kernels: Kernels, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Kernels>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SCOPED.with(|s| s.replace(Some(kernels))));
    f()
}

fn current() -> Kernels {
    SCOPED.with(Cell::get).unwrap_or_else(process_kernels)
}

fn process_kernels() -> Kernels {
    match PROCESS.load(Ordering::Relaxed) {
        UNSET => {
            let kernels = Kernels::from_env_value(std::env::var("MNIST_WORKBENCH_KERNELS").ok().as_deref());
            // A choice made in the meantime by `set_kernels` wins over the environment.
            let _ = PROCESS.compare_exchange(UNSET, encode(kernels), Ordering::Relaxed, Ordering::Relaxed);
            decode(PROCESS.load(Ordering::Relaxed))
        }
        code => decode(code),
    }
}

fn encode(k: Kernels) -> u8 {
    SET | (k.conv as u8) << 1 | (k.adam as u8) << 2
}

fn decode(code: u8) -> Kernels {
    Kernels {
        conv: code & 2 != 0,
        adam: code & 4 != 0,
    }
}

/// How often our kernels completed on one thread, so a test can tell which path its own calls
/// took (tests run in parallel threads of one process; a process-wide count would mix them).
/// A counter moves only after its kernel returned its result, never on a fallback to burn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelRuns {
    /// Block forward passes (training or inference) our kernels computed.
    pub blocks: u64,
    /// Block backward passes our kernels computed.
    pub block_backwards: u64,
    /// Parameter tensors the one-pass Adam / AdamW kernel stepped.
    pub adam_steps: u64,
    /// Block forward passes sent to a remote server as one op each ([`remote`]).
    pub remote_blocks: u64,
    /// Block backward passes sent to a remote server as one op each.
    pub remote_block_backwards: u64,
    /// Adam steps sent to a remote server as one op each.
    pub remote_adam_steps: u64,
}

/// The [`KernelRuns`] of the calling thread so far.
pub fn runs_on_this_thread() -> KernelRuns {
    RUNS.with(Cell::get)
}

/// Runs `f` and returns its result with the kernel runs it completed on this thread (what a
/// test asserts to prove its own call took the fused path).
pub fn runs_during<T>(f: impl FnOnce() -> T) -> (T, KernelRuns) {
    let before = runs_on_this_thread();
    let out = f();
    let after = runs_on_this_thread();
    let runs = KernelRuns {
        blocks: after.blocks - before.blocks,
        block_backwards: after.block_backwards - before.block_backwards,
        adam_steps: after.adam_steps - before.adam_steps,
        remote_blocks: after.remote_blocks - before.remote_blocks,
        remote_block_backwards: after.remote_block_backwards - before.remote_block_backwards,
        remote_adam_steps: after.remote_adam_steps - before.remote_adam_steps,
    };
    (out, runs)
}

/// Records on the calling thread (and in [`fused_calls`] for a forward block) that one of our
/// kernels completed; call only after it returned its result.
pub(crate) fn record(update: impl FnOnce(&mut KernelRuns)) {
    RUNS.with(|runs| {
        let mut now = runs.get();
        let blocks = now.blocks;
        update(&mut now);
        CALLS.fetch_add(now.blocks - blocks, Ordering::Relaxed);
        runs.set(now);
    });
}

/// How many block forward passes our kernels have completed in this process, on any thread
/// (for benchmarks; a test should read [`runs_on_this_thread`]).
pub fn fused_calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

thread_local! {
    static SCOPED: Cell<Option<Kernels>> = const { Cell::new(None) };
    static RUNS: Cell<KernelRuns> = const {
        Cell::new(KernelRuns {
            blocks: 0,
            block_backwards: 0,
            adam_steps: 0,
            remote_blocks: 0,
            remote_block_backwards: 0,
            remote_adam_steps: 0,
        })
    };
}

static CALLS: AtomicU64 = AtomicU64::new(0);
/// [`PROCESS`] before the environment was read.
const UNSET: u8 = 0;
/// Bit set in every recorded choice.
const SET: u8 = 1;
static PROCESS: AtomicU8 = AtomicU8::new(UNSET);

/// The output of a block normalised with its batch's statistics.
#[derive(ExtensionType)]
pub struct NormalizedBlock<B: Backend> {
    /// Pooled maps `[n, c, h/2, w/2]`.
    pub output: FloatTensor<B>,
    /// Batch mean per channel (no gradient flows through it).
    pub mean: FloatTensor<B>,
    /// Batch variance per channel, biased as burn's `batch_norm_train` computes it.
    pub variance: FloatTensor<B>,
}

/// Fused CNN blocks. Every block is stride 1 with padding `k / 2` and pools 2×2 with stride 2
/// (an odd last row or column is dropped), as `model::cnn` builds them.
#[backend_extension(Flex, Cube, Remote, Autodiff)]
pub trait ConvBlockOps: Backend {
    /// `max_pool(relu(conv(x, weight) + bias))`: x `[n, in, h, w]`, weight `[out, in, k, k]`,
    /// bias `[out]`; output `[n, out, h/2, w/2]`.
    fn conv_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        compose::conv_relu_pool::<Self>(x, weight, bias)
    }

    /// `max_pool(relu(batch_norm(conv(x, weight))))` with the batch's statistics (training),
    /// plus those statistics for the running averages.
    fn conv_norm_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> NormalizedBlock<Self> {
        compose::conv_norm_relu_pool::<Self>(x, weight, gamma, beta, epsilon)
    }

    /// `max_pool(relu(batch_norm(conv(x, weight))))` with given statistics (inference): the
    /// normalisation folds into the convolution's weights and bias.
    fn conv_norm_eval(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        #[extension_type] norm: RunningNorm<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        compose::conv_norm_eval::<Self>(x, weight, norm, epsilon)
    }
}

/// BatchNorm's parameters and running statistics, per channel.
#[derive(ExtensionType)]
pub struct RunningNorm<B: Backend> {
    /// γ, the learned scale.
    pub gamma: FloatTensor<B>,
    /// β, the learned shift.
    pub beta: FloatTensor<B>,
    /// Running mean, what inference normalises by.
    pub mean: FloatTensor<B>,
    /// Running variance, what inference normalises by.
    pub variance: FloatTensor<B>,
}

impl ConvBlockOps for Cube {}
impl<C: CheckpointStrategy> ConvBlockOps for Autodiff<Cube, C> {}

/// [`ConvBlockOps::conv_relu_pool`] on tensors.
pub fn conv_relu_pool(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ConvBlockOps>::conv_relu_pool(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// [`ConvBlockOps::conv_norm_eval`] on tensors (`norm`: gamma, beta, running mean and variance).
pub fn conv_norm_eval(x: Tensor<4>, weight: Tensor<4>, norm: [Tensor<1>; 4], epsilon: f64) -> Tensor<4> {
    let [gamma, beta, mean, variance] = norm;
    let norm = RunningNorm {
        gamma: gamma.into_dispatch(),
        beta: beta.into_dispatch(),
        mean: mean.into_dispatch(),
        variance: variance.into_dispatch(),
    };
    Tensor::from_dispatch(<Dispatch as ConvBlockOps>::conv_norm_eval(
        x.into_dispatch(),
        weight.into_dispatch(),
        norm,
        epsilon,
    ))
}

/// [`ConvBlockOps::conv_norm_relu_pool`] on tensors: `(output, batch mean, batch variance)`.
pub fn conv_norm_relu_pool(
    x: Tensor<4>,
    weight: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let out = <Dispatch as ConvBlockOps>::conv_norm_relu_pool(
        x.into_dispatch(),
        weight.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
    );
    (
        Tensor::from_dispatch(out.output),
        Tensor::from_dispatch(out.mean),
        Tensor::from_dispatch(out.variance),
    )
}
