//! Heavy model passes for the inspection panels on a named thread (`mnist-analysis`):
//! evaluating the test set (confusion, errors, calibration) and finding each channel's peak
//! activation per test image (top-activating search). The window keeps drawing meanwhile.
//!
//! Event order for one task: any number of `Progress`, then exactly one of `Evaluated`,
//! `Peaks`, `Failed` or `Cancelled`. A dropped [`AnalysisTask`] cancels at the next batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};

use burn::tensor::Device;

use crate::data::{Dataset, Digits};
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
        /// Its device.
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
        /// Its device.
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
    /// The model version.
    pub model_version: u64,
    /// The layer index.
    pub layer: usize,
    /// Channels of that layer.
    pub channels: usize,
    /// `[images × channels]`, row-major.
    pub peaks: Vec<f32>,
}

/// Events from the analysis worker, in the order documented above.
#[derive(Debug, Clone)]
pub enum AnalysisEvent {
    /// Images done so far of `total`.
    Progress {
        /// Done.
        done: usize,
        /// All.
        total: usize,
    },
    /// The test set is evaluated.
    Evaluated(Arc<TestEvaluation>),
    /// Channel peaks are ready.
    Peaks(Arc<ChannelPeaks>),
    /// It failed; the message says why.
    Failed(String),
    /// Cancelled before finishing.
    Cancelled,
}

/// A running analysis job.
pub struct AnalysisTask {
    /// Events in the documented order.
    pub events: Receiver<AnalysisEvent>,
    cancel: Arc<AtomicBool>,
}

impl AnalysisTask {
    /// Asks the worker to stop before its next batch.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

impl Drop for AnalysisTask {
    fn drop(&mut self) {
        self.cancel();
    }
}

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
pub fn spawn_analysis(job: AnalysisJob, wake: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<AnalysisTask> {
    let (tx, rx) = channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    std::thread::Builder::new()
        .name("mnist-analysis".into())
        .spawn(move || {
            let send = |event: AnalysisEvent| {
                if tx.send(event).is_err() {
                    flag.store(true, Ordering::SeqCst); // the app is gone
                }
                wake();
            };
            let progress = |done, total| send(AnalysisEvent::Progress { done, total });
            // A panic inside burn must not take the app down: report it instead.
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match job {
                    AnalysisJob::Evaluate {
                        model,
                        device,
                        data,
                        model_version,
                    } => evaluate_with_progress(&model, &data.test, &device, model_version, &flag, progress)
                        .map(|e| AnalysisEvent::Evaluated(Arc::new(e))),
                    AnalysisJob::ChannelPeaks {
                        model,
                        device,
                        data,
                        model_version,
                        layer,
                    } => channel_peaks(&model, &data.test, layer, &device, &flag, progress).map(|found| {
                        match found {
                            Ok((channels, peaks)) => AnalysisEvent::Peaks(Arc::new(ChannelPeaks {
                                model_version,
                                layer,
                                channels,
                                peaks,
                            })),
                            Err(message) => AnalysisEvent::Failed(message),
                        }
                    }),
                }));
            send(match outcome {
                Ok(Some(event)) => event,
                Ok(None) => AnalysisEvent::Cancelled,
                Err(_) => AnalysisEvent::Failed("the model pass failed (see the log)".into()),
            });
        })?;
    Ok(AnalysisTask { events: rx, cancel })
}
