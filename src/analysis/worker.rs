//! Heavy model passes for the inspection panels on a named thread (`mnist-analysis`):
//! evaluating the test set (confusion, errors, calibration) and finding each channel's peak
//! activation per test image (top-activating search). The window keeps drawing meanwhile.
//!
//! Each is a [`crate::jobs`] job: any number of `Progress`, then exactly one of `Finished`
//! (an [`AnalysisOutput`]), `Failed` or `Cancelled`. A dropped [`AnalysisTask`] cancels at
//! the next batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;

use crate::data::{Dataset, Digits};
use crate::jobs::{self, Job, JobError, Wake};
use crate::model::Model;
use crate::model::inspect::channel_peaks;
use crate::train::eval::{EvalReport, logits_of, report_from_logits};

/// Images per batch on this worker: small, so the burn ops it hands to the shared CPU thread
/// pool stay short and the window's own small passes (the pad) never wait long behind them.
pub const ANALYSIS_BATCH: usize = 128;

/// What the analysis worker should compute.
#[derive(Debug)]
pub enum AnalysisJob {
    /// Logits and the report for every test image.
    Evaluate {
        /// The model (eval mode).
        model: Model,
        /// The device `model`'s tensors live on.
        device: Device,
        /// The data; its test split is used (shared, not copied).
        data: Arc<Dataset>,
        /// The model version the result belongs to.
        model_version: u64,
    },
    /// Each test image's peak activation per channel of one layer.
    ChannelPeaks {
        /// The model (eval mode).
        model: Model,
        /// The device `model`'s tensors live on.
        device: Device,
        /// The data; its test split is used (shared, not copied).
        data: Arc<Dataset>,
        /// The model version the result belongs to.
        model_version: u64,
        /// Index of the layer in `forward_with_activations` order.
        layer: usize,
    },
}

/// A model's predictions on the test set.
#[derive(Debug, Clone, PartialEq)]
pub struct TestEvaluation {
    /// The model version evaluated.
    pub model_version: u64,
    /// True labels, one per test image.
    pub labels: Vec<u8>,
    /// Logits `[n × 10]`, row-major.
    pub logits: Vec<f32>,
    /// Loss, accuracy, confusion, predictions and confidences.
    pub report: EvalReport,
}

impl TestEvaluation {
    /// Whether each prediction was right.
    pub fn correct(&self) -> Vec<bool> {
        self.labels
            .iter()
            .zip(&self.report.predictions)
            .map(|(l, p)| l == p)
            .collect()
    }
}

/// Per-image channel peaks of one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelPeaks {
    /// The model version it was computed for (`ActiveModel::version` in the app).
    pub model_version: u64,
    /// Index of the layer in `forward_with_activations` order.
    pub layer: usize,
    /// Channels of that layer.
    pub channels: usize,
    /// `[images × channels]`, row-major.
    pub peaks: Vec<f32>,
}

/// What an analysis job computed.
#[derive(Debug, Clone)]
pub enum AnalysisOutput {
    /// The test set is evaluated.
    Evaluated(Arc<TestEvaluation>),
    /// Channel peaks are ready.
    Peaks(Arc<ChannelPeaks>),
}

/// Progress of an analysis job: test images done so far, of all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImagesDone {
    pub done: usize,
    pub total: usize,
}

/// A running analysis job (a [`crate::jobs`] job). Dropping it cancels at the next batch.
pub type AnalysisTask = Job<ImagesDone, AnalysisOutput>;

/// Evaluates `model` on `test` in batches, checking `cancel` before each (`None` when
/// cancelled) and reporting `(done, total)` after each.
pub fn evaluate_with_progress(
    model: &Model,
    test: &Digits,
    device: &Device,
    model_version: u64,
    cancel: &AtomicBool,
    mut progress: impl FnMut(usize, usize),
) -> Option<TestEvaluation> {
    let indices: Vec<usize> = (0..test.len()).collect();
    let mut logits = Vec::with_capacity(test.len() * 10);
    for chunk in indices.chunks(ANALYSIS_BATCH) {
        if cancel.load(Ordering::Relaxed) {
            return None;
        }
        logits.extend(logits_of(model, test, chunk, device));
        progress(logits.len() / 10, test.len());
    }
    let report = report_from_logits(&logits, &test.labels);
    Some(TestEvaluation {
        model_version,
        labels: test.labels.clone(),
        logits,
        report,
    })
}

/// Starts `job` on a thread named `mnist-analysis`; `wake` is called after each event.
pub fn spawn_analysis(job: AnalysisJob, wake: Wake) -> std::io::Result<AnalysisTask> {
    jobs::spawn("mnist-analysis", wake, move |ctx| {
        let progress = |done, total| ctx.progress(ImagesDone { done, total });
        let cancel = ctx.cancel_token().flag();
        let output = match job {
            AnalysisJob::Evaluate {
                model,
                device,
                data,
                model_version,
            } => evaluate_with_progress(&model, &data.test, &device, model_version, cancel, progress)
                .map(|e| AnalysisOutput::Evaluated(Arc::new(e))),
            AnalysisJob::ChannelPeaks {
                model,
                device,
                data,
                model_version,
                layer,
            } => match channel_peaks(
                &model,
                &data.test,
                layer,
                ANALYSIS_BATCH,
                &device,
                cancel,
                progress,
            ) {
                Some(Ok((channels, peaks))) => Some(AnalysisOutput::Peaks(Arc::new(ChannelPeaks {
                    model_version,
                    layer,
                    channels,
                    peaks,
                }))),
                Some(Err(message)) => return Err(JobError::Failed(message)),
                None => None,
            },
        };
        output.ok_or(JobError::Cancelled)
    })
}
