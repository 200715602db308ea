//! The stability test's passes. Each batch of [`BATCH`] test images is one work item of the
//! device pool ([`crate::experiment::pool`]), so a device list spreads the batches. A batch
//! draws its dropout masks from its own stream (the test's seed and the batch's number), so
//! every figure equals that of one device, wherever each batch ran.

use super::{StabilityConfig, StabilityResults, UNSTABLE_LISTED, UnstableImage, vote_entropy};
use crate::analysis::stats::mean_std;
use crate::data::batch::normalized_inputs;
use crate::data::{Dataset, Digits, NUM_CLASSES};
use crate::device::SelectedDevice;
use crate::experiment::pool::{ItemContext, ItemFailure, ItemWork, Placement, spread};
use crate::jobs::Reporter;
use crate::model::Model;
use crate::model::mc::{dropout_logits, dropout_prob};
use crate::rng::Rng;
use crate::study::shared::ModelOnDevices;
use crate::study::{DataInfo, StudyError};
use crate::train::metrics::argmax_rows;

/// Test images per work item (one batch of the passes).
pub const BATCH: usize = 500;

/// What the passes over one batch found.
struct BatchCounts {
    /// Per image of the batch, how many passes predicted each digit.
    votes: Vec<[usize; NUM_CLASSES]>,
    /// Per pass, the images it predicted right.
    right: Vec<usize>,
    /// Images predicted right with dropout off.
    eval_right: usize,
}

/// The batches of a stability test as pool work: an item is the batch's number.
struct PassWork<'a> {
    config: &'a StabilityConfig,
    test: &'a Digits,
    on_devices: ModelOnDevices<'a>,
}

impl PassWork<'_> {
    fn indices(&self, batch: usize) -> std::ops::Range<usize> {
        let start = batch * BATCH;
        start..(start + BATCH).min(self.test.len())
    }
}

impl ItemWork for PassWork<'_> {
    type Item = usize;
    type Output = BatchCounts;

    fn label(&self, &batch: &usize) -> String {
        let r = self.indices(batch);
        format!("dropout passes over test images {}-{}", r.start, r.end - 1)
    }

    fn weight(&self, &batch: &usize) -> f64 {
        self.indices(batch).len() as f64
    }

    fn run(&self, &batch: &usize, device: &SelectedDevice, ctx: &ItemContext) -> Result<BatchCounts, ItemFailure> {
        if ctx.stopping() {
            return Err(ItemFailure::Study(StudyError::Cancelled));
        }
        let model = self.on_devices.on(device);
        let indices: Vec<usize> = self.indices(batch).collect();
        let inputs = normalized_inputs(self.test, &indices, None);
        let mut rng = Rng::derive(self.config.seed, batch as u64);
        let passes = dropout_logits(&model, &inputs, self.config.passes, &mut rng, &device.device);
        let mut counts = BatchCounts {
            votes: vec![[0; NUM_CLASSES]; indices.len()],
            right: vec![0; passes.len()],
            eval_right: 0,
        };
        for (pass, logits) in passes.iter().enumerate() {
            for ((votes, predicted), &i) in counts.votes.iter_mut().zip(argmax_rows(logits)).zip(&indices) {
                votes[predicted as usize] += 1;
                counts.right[pass] += usize::from(predicted == self.test.labels[i]);
            }
        }
        let eval = crate::train::eval::logits_of(&model, self.test, &indices, &device.device);
        counts.eval_right = argmax_rows(&eval)
            .into_iter()
            .zip(&indices)
            .filter(|&(predicted, &i)| predicted == self.test.labels[i])
            .count();
        ctx.add_samples(((self.config.passes + 1) * indices.len()) as u64);
        Ok(counts)
    }
}

/// Runs `config.passes` dropout passes of `model` over the test set, its batches spread over
/// `devices` (the figures equal those of one device).
pub fn run_stability(
    config: &StabilityConfig,
    model: &Model,
    data: &Dataset,
    devices: &[SelectedDevice],
    reporter: &mut Reporter,
) -> Result<StabilityResults, StudyError> {
    config.validate()?;
    let p = dropout_prob(model);
    if p <= 0.0 {
        return Err(StudyError::Config(
            "this model has no dropout, so every pass would give the same predictions; \
             train one with dropout (small-cnn and seed3-cnn have it)"
                .into(),
        ));
    }
    let test = &data.test;
    let n = test.len();
    let work = PassWork {
        config,
        test,
        on_devices: ModelOnDevices::new(model),
    };
    let batches: Vec<usize> = (0..n.div_ceil(BATCH)).collect();
    let mut votes = vec![[0usize; NUM_CLASSES]; n];
    let mut right = vec![0usize; config.passes];
    let mut eval_right = 0;
    let mut placements: Vec<Option<Placement>> = vec![None; batches.len()];
    let report = spread(&work, &batches, devices, reporter, &mut |done| {
        let counts = done.output;
        let start = done.index * BATCH;
        votes[start..start + counts.votes.len()].copy_from_slice(&counts.votes);
        for (total, r) in right.iter_mut().zip(&counts.right) {
            *total += r;
        }
        eval_right += counts.eval_right;
        placements[done.index] = Some(done.placement);
        Ok(())
    })?;
    let placements = placements
        .into_iter()
        .collect::<Option<Vec<Placement>>>()
        .ok_or_else(|| StudyError::Training("a batch of the stability test gave no answer".into()))?;
    let accuracies: Vec<f64> = right.iter().map(|&r| r as f64 / n.max(1) as f64).collect();
    let (mean_accuracy, std_accuracy) = mean_std(&accuracies);
    let entropy: Vec<f64> = votes.iter().map(|v| vote_entropy(v)).collect();
    let mut order: Vec<usize> = (0..n).filter(|&i| entropy[i] > 0.0).collect();
    let changed_images = order.len();
    order.sort_by(|&a, &b| entropy[b].total_cmp(&entropy[a]).then(a.cmp(&b)));
    let unstable = order
        .into_iter()
        .take(UNSTABLE_LISTED)
        .map(|i| UnstableImage {
            index: i,
            label: test.labels[i],
            entropy: entropy[i],
            votes: votes[i],
        })
        .collect();
    reporter.progress("done", 1.0);
    Ok(StabilityResults {
        kind: "stability".into(),
        config: config.clone(),
        data: DataInfo::of(data),
        dropout: p,
        eval_accuracy: eval_right as f64 / n.max(1) as f64,
        accuracies,
        mean_accuracy,
        std_accuracy,
        entropy,
        changed_images,
        unstable,
        batches: placements,
        devices: if devices.len() > 1 { report.devices } else { Vec::new() },
    })
}
