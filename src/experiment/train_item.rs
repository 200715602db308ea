//! One training run as a work item of [`super::pool`]: progress and images per second go to
//! the item's context, a stop of the experiment stops the run, and the run's failure is sorted
//! into the device's fault (a lost server, a backend error: the item runs again elsewhere) or
//! the item's own (divergence, refused settings: the experiment stops).

use super::pool::{ItemContext, ItemFailure};
use crate::model::Model;
use crate::study::StudyError;
use crate::train::job::training_indices;
use crate::train::{Command, Control, Event, FailReason, StopReason, TrainJob, run_training};

/// A finished training run.
pub struct Trained {
    /// The trained model, on the item's device.
    pub model: Model,
    /// Optimiser steps taken.
    pub steps: usize,
    /// The accuracy on the job's test split after the last epoch, when the loop measured it.
    pub last_test_accuracy: Option<f64>,
}

/// Trains `job` (whose `device` is the item's) to its end; `label` names the item in errors.
pub fn train_item(job: TrainJob, ctx: &ItemContext, label: &str) -> Result<Trained, ItemFailure> {
    let batch = job.config.batch_size.max(1);
    let images = training_indices(&job.config, &job.data).len();
    let total_steps = (job.config.epochs * images.div_ceil(batch)).max(1);
    let control = Control::default();
    let mut failure = None;
    let mut steps = 0;
    let mut last_test_accuracy = None;
    let mut stopped_early = false;
    let model = run_training(job, &control, &mut |event| match event {
        Event::Step { step, .. } => {
            steps = step;
            ctx.add_samples(batch as u64);
            ctx.progress(step as f64 / total_steps as f64);
            if ctx.stopping() {
                control.apply(Command::Stop);
            }
        }
        Event::Epoch { metrics, .. } => last_test_accuracy = metrics.test_accuracy,
        Event::Finished { reason, .. } => stopped_early = reason == StopReason::Cancelled,
        Event::Failed { reason, .. } => failure = Some(reason),
        _ => {}
    });
    if stopped_early || (ctx.stopping() && failure.is_some()) {
        return Err(ItemFailure::Study(StudyError::Cancelled));
    }
    match failure {
        // A panic in the backend (run_training's wording): the device's fault. Other errors
        // (memory refused, a checkpoint that cannot be written) are the item's.
        Some(FailReason::Error { message })
            if message.starts_with("connection lost") || message.starts_with("internal error") =>
        {
            Err(ItemFailure::Device(message))
        }
        Some(FailReason::Error { message }) => Err(ItemFailure::Study(StudyError::Training(format!("{label}: {message}")))),
        Some(other) => Err(ItemFailure::Study(StudyError::Training(format!("{label}: {other}")))),
        None => {
            let model = model.ok_or_else(|| ItemFailure::Device(format!("{label}: the run gave no model")))?;
            Ok(Trained {
                model,
                steps,
                last_test_accuracy,
            })
        }
    }
}
