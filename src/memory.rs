//! Peak-memory estimates, checked before long work starts: a batch of 60,000 images or a
//! 50-model ensemble on 500 images per digit is refused with the estimate and the machine's
//! available memory, instead of running until the system kills the process.
//!
//! The estimates come from the architecture alone: every layer's output per image, counted
//! twice while training (what autodiff keeps for the backward pass and the gradients flowing
//! back), plus the parameters, their gradients and the optimiser's state tensors (Adam's two
//! moments, SGD's velocity, …: [`OptimizerSpec::state_tensors_per_parameter`]), plus the
//! images themselves. Calibrated on this machine's peak resident memory (`/usr/bin/time`):
//! small-cnn training on flex with burn's ops grew by 0.73 MB per image of batch between
//! batch 256 and 2,048 (1.52 GB at 2,048), 1.27 times its 143,000 activation floats per
//! image; the 50-model ensemble on 2 images per digit peaked at 1.17 GB.

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
use crate::model::ModelSpec;
use crate::train::OptimizerSpec;

/// Copies of every activation a training step holds at its peak (measured 1.27, see above).
const TRAINING_ACTIVATION_COPIES: u64 = 2;
/// Copies of every activation an evaluation holds (forward only, freed layer by layer).
const EVAL_ACTIVATION_COPIES: u64 = 1;
/// Copies of the parameters while training besides the optimiser's state: weights, gradients.
const PARAMETER_COPIES: u64 = 2;
/// Share of the available memory a run may plan to use (the rest is for the window, the
/// allocator's slack and everything else on the machine).
const USABLE_SHARE: f64 = 0.8;

/// Floats one image produces across the network's layers in a forward pass.
pub fn activation_floats_per_image(spec: &ModelSpec) -> u64 {
    match spec {
        ModelSpec::Mlp { hidden, .. } => {
            IMAGE_PIXELS as u64 + hidden.iter().map(|&w| 3 * w as u64).sum::<u64>() + NUM_CLASSES as u64
        }
        ModelSpec::Cnn { channels, dense, .. } => {
            let mut side = IMAGE_SIDE as u64;
            let mut floats = IMAGE_PIXELS as u64;
            for &c in channels {
                // Convolution, BatchNorm and ReLU outputs at full size, the pooled output at a quarter.
                floats += 3 * c as u64 * side * side + c as u64 * (side / 2) * (side / 2);
                side /= 2;
            }
            floats + 3 * *dense as u64 + NUM_CLASSES as u64
        }
    }
}

/// Copies of every parameter while training with `optimizer`: the weights, their gradients
/// and the optimiser's state tensors.
pub fn parameter_copies(optimizer: &OptimizerSpec) -> u64 {
    PARAMETER_COPIES + optimizer.state_tensors_per_parameter()
}

/// Bytes a training run of `spec` with `optimizer` at `batch` images per step needs at its
/// peak, on top of `data_bytes` of images held in memory.
pub fn training_peak_bytes(
    spec: &ModelSpec,
    optimizer: &OptimizerSpec,
    batch: usize,
    data_bytes: u64,
) -> u64 {
    let activations = activation_floats_per_image(spec) * batch as u64 * TRAINING_ACTIVATION_COPIES * 4;
    let parameters =
        (spec.param_count() + spec.batch_norm_statistics()) as u64 * parameter_copies(optimizer) * 4;
    activations + parameters + data_bytes
}

/// Bytes evaluating `spec` on batches of `batch` images needs.
pub fn eval_peak_bytes(spec: &ModelSpec, batch: usize, data_bytes: u64) -> u64 {
    activation_floats_per_image(spec) * batch as u64 * EVAL_ACTIVATION_COPIES * 4
        + (spec.param_count() + spec.batch_norm_statistics()) as u64 * 4
        + data_bytes
}

/// Memory the system says new work can use (`MemAvailable` of /proc/meminfo), when known.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

/// `MemAvailable` in bytes from the text of /proc/meminfo.
pub fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Work that would not fit in memory.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{what} needs about {} of memory at its peak, but this machine has {} available; {advice}",
    gib(*needed),
    gib(*available)
)]
pub struct TooBig {
    /// What was asked for.
    pub what: String,
    /// The estimate, in bytes.
    pub needed: u64,
    /// What the machine has, in bytes.
    pub available: u64,
    /// What to change.
    pub advice: String,
}

/// `bytes` as GiB with one decimal ("3.2 GiB").
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Refuses `needed` bytes when more than the usable share of `available` (when known).
pub fn check_fits(what: &str, needed: u64, available: Option<u64>, advice: &str) -> Result<(), TooBig> {
    match available {
        Some(available) if needed as f64 > available as f64 * USABLE_SHARE => Err(TooBig {
            what: what.to_string(),
            needed,
            available,
            advice: advice.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Images held in memory for `data` (both splits), in bytes.
fn data_bytes(data: &crate::data::Dataset) -> u64 {
    (data.train.pixels.len() + data.test.pixels.len() + data.train.len() + data.test.len()) as u64
}

/// Refuses a training run that cannot fit: its batches (the size of the training set it uses
/// at most: `--per-digit 2` trains on 20 images whatever the batch size) and the end-of-epoch
/// evaluation, with the model and `data`.
pub fn check_training(config: &crate::train::TrainConfig, data: &crate::data::Dataset) -> Result<(), TooBig> {
    let batch = largest_batch(config, data);
    let needed = training_peak_bytes(&config.model, &config.optimizer, batch, data_bytes(data)).max(
        eval_peak_bytes(&config.model, crate::train::eval::EVAL_BATCH, data_bytes(data)),
    );
    check_fits(
        &format!(
            "Training {} with batches of {batch} images",
            config.model.describe()
        ),
        needed,
        available_bytes(),
        "lower the batch size (64 or 128 is the usual) or use a smaller model",
    )
}

/// The largest batch a training run makes: its batch size, or the size of the training set it
/// uses when that is smaller.
fn largest_batch(config: &crate::train::TrainConfig, data: &crate::data::Dataset) -> usize {
    let training_images = crate::train::job::training_indices(config, data).len();
    config.batch_size.min(training_images.max(1))
}

/// Refuses an ensemble that cannot fit: up to `stack` models train at once (with AdamW, as
/// seed S0), each on `per_digit` × 10 images in one full batch.
pub fn check_ensemble(
    model: &ModelSpec,
    models: usize,
    per_digit: usize,
    stack: usize,
    data: &crate::data::Dataset,
) -> Result<(), TooBig> {
    let together = models.min(stack).max(1);
    let images = together * per_digit * NUM_CLASSES;
    let optimizer = OptimizerSpec::ADAMW;
    let needed = training_peak_bytes(model, &optimizer, images, data_bytes(data))
        + (together as u64 - 1) * (model.param_count() as u64) * parameter_copies(&optimizer) * 4;
    check_fits(
        &format!(
            "{together} models of {} trained together on {per_digit} images per digit each",
            model.describe()
        ),
        needed,
        available_bytes(),
        "use fewer images per digit or fewer models",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_larger_than_the_subset_counts_as_the_subset() {
        // Seed S0's command line: full-batch training on 2 images per digit.
        let data = crate::data::Dataset {
            train: crate::data::synthetic::generate(600, 1),
            test: crate::data::synthetic::generate(20, 2),
            source: crate::data::DataSource::Synthetic {
                reason: "test".into(),
                train_size: 600,
                seed: 1,
            },
        };
        let mut config = crate::train::TrainConfig {
            batch_size: 60_000,
            subset: crate::train::Subset::PerDigit { k: 2 },
            ..Default::default()
        };
        assert_eq!(largest_batch(&config, &data), 20);
        config.subset = crate::train::Subset::All;
        assert_eq!(largest_batch(&config, &data), 600);
        config.batch_size = 64;
        assert_eq!(largest_batch(&config, &data), 64);
    }

    #[test]
    fn mem_available_is_read_in_bytes() {
        let text = "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(parse_mem_available(text), Some(8_000_000 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn a_full_batch_of_mnist_on_a_cnn_is_refused_and_batch_64_is_not() {
        let spec = ModelSpec::preset("small-cnn").unwrap();
        let data = 70_000 * IMAGE_PIXELS as u64;
        let sixteen_gib = 16u64 << 30;
        let huge = training_peak_bytes(&spec, &OptimizerSpec::ADAM, 60_000, data);
        let err = check_fits("training", huge, Some(sixteen_gib), "lower the batch size").unwrap_err();
        assert!(err.to_string().contains("16.0 GiB available"), "{err}");
        assert!(err.to_string().contains("lower the batch size"), "{err}");
        let normal = training_peak_bytes(&spec, &OptimizerSpec::ADAM, 64, data);
        assert!(normal < 1u64 << 30, "batch 64 fits in 1 GiB: {}", gib(normal));
        assert!(check_fits("training", normal, Some(sixteen_gib), "").is_ok());
        assert!(
            check_fits("training", huge, None, "").is_ok(),
            "unknown memory: no refusal"
        );
    }

    #[test]
    fn the_optimisers_state_counts_per_parameter() {
        let spec = ModelSpec::preset("small-cnn").unwrap();
        let floats = (spec.param_count() + spec.batch_norm_statistics()) as u64;
        let peak = |o: OptimizerSpec| training_peak_bytes(&spec, &o, 64, 0);
        let plain_sgd = OptimizerSpec::Sgd {
            momentum: 0.0,
            nesterov: false,
        };
        // Adam keeps two moments, plain SGD none: two parameter copies of 4 bytes apart.
        assert_eq!(peak(OptimizerSpec::ADAM) - peak(plain_sgd), 2 * floats * 4);
        assert_eq!(peak(OptimizerSpec::RMSPROP) - peak(plain_sgd), floats * 4);
        assert_eq!(
            parameter_copies(&OptimizerSpec::ADAMW),
            4,
            "weights, gradients, 2 moments"
        );
    }

    #[test]
    fn activations_grow_with_channels() {
        let small = activation_floats_per_image(&ModelSpec::preset("tiny-cnn").unwrap());
        let big = activation_floats_per_image(&ModelSpec::preset("small-cnn").unwrap());
        assert!(big > small);
        assert!(activation_floats_per_image(&ModelSpec::preset("mlp").unwrap()) < small);
    }
}
