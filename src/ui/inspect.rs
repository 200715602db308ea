//! The inspection side of [`Workbench`]: the test-set evaluation behind the Confusion,
//! Errors and Calibration panels (re-run on the `mnist-analysis` worker after every epoch and
//! whenever another model is opened), channel peaks for the top-activating search, and the
//! pad image's activations (one forward pass serves the pad's logits and the Feature maps
//! panel).

use std::sync::Arc;

use super::state::Workbench;
use crate::analysis::worker::{
    AnalysisEvent, AnalysisJob, AnalysisTask, ChannelPeaks, TestEvaluation, spawn_analysis,
};
use crate::model::inspect::{Inspection, inspect_intensities};

/// The pad image and what the model makes of it.
#[derive(Debug, Clone)]
pub struct PadInspection {
    /// The pad's revision this belongs to.
    pub revision: u64,
    /// The model version (0 = no model).
    pub model_version: u64,
    /// The pad's intensities.
    pub pixels: Arc<Vec<f32>>,
    /// Logits and activations (None without a model).
    pub inspection: Option<Arc<Inspection>>,
}

/// A running analysis job and what it is for.
struct Running {
    task: AnalysisTask,
    /// `(model version, data generation)` for an evaluation; the layer for peaks.
    key: (u64, u64),
    progress: Option<(usize, usize)>,
}

/// Inspection state shared by the panels.
#[derive(Default)]
pub struct InspectState {
    /// The latest test-set evaluation.
    pub evaluation: Option<Arc<TestEvaluation>>,
    /// `(model version, data generation)` of [`InspectState::evaluation`].
    evaluated: Option<(u64, u64)>,
    /// Epochs finished when the last evaluation was started (during training).
    evaluated_epochs: usize,
    evaluating: Option<Running>,
    /// Channel peaks of one layer over the test set.
    pub peaks: Option<Arc<ChannelPeaks>>,
    peaking: Option<Running>,
    /// The pad image's activations.
    pub pad: Option<PadInspection>,
    /// The last failure, shown by the panels.
    pub error: Option<String>,
}

impl InspectState {
    /// Progress `(done, total)` of a running evaluation (Some(None) before the first batch).
    pub fn evaluation_progress(&self) -> Option<Option<(usize, usize)>> {
        self.evaluating.as_ref().map(|r| r.progress)
    }

    /// Progress of a running channel-peaks search, with its layer.
    pub fn peaks_progress(&self) -> Option<(usize, Option<(usize, usize)>)> {
        self.peaking.as_ref().map(|r| (r.key.0 as usize, r.progress))
    }

    /// Drops the evaluation and top images (of a dataset no longer in use) and cancels their
    /// jobs.
    pub fn forget_data_results(&mut self) {
        self.evaluation = None;
        self.evaluated = None;
        self.evaluating = None; // dropping the task cancels it
        self.peaks = None;
        self.peaking = None;
    }

    /// Whether the shown evaluation belongs to the model in use now.
    pub fn evaluation_is_current(&self, model_version: u64) -> bool {
        self.evaluated.is_some_and(|(v, _)| v == model_version)
    }
}

impl Workbench {
    /// Starts, drains and finishes analysis jobs; called from [`Workbench::logic`].
    pub(super) fn inspect_logic(&mut self) {
        self.drain_analysis();
        self.maybe_evaluate();
    }

    fn drain_analysis(&mut self) {
        let mut finished_eval = None;
        if let Some(running) = &mut self.inspect.evaluating {
            for event in running.task.events.try_iter() {
                match event {
                    AnalysisEvent::Progress { done, total } => running.progress = Some((done, total)),
                    AnalysisEvent::Evaluated(e) => finished_eval = Some(Ok((e, running.key))),
                    AnalysisEvent::Failed(m) => finished_eval = Some(Err(m)),
                    AnalysisEvent::Cancelled | AnalysisEvent::Peaks(_) => {
                        finished_eval = Some(Err(String::new()))
                    }
                }
            }
        }
        if let Some(outcome) = finished_eval {
            self.inspect.evaluating = None;
            match outcome {
                Ok((evaluation, key)) => {
                    self.inspect.evaluation = Some(evaluation);
                    self.inspect.evaluated = Some(key);
                }
                Err(m) if !m.is_empty() => {
                    self.notify(format!("Evaluation failed: {m}"), true);
                    self.inspect.error = Some(m);
                }
                Err(_) => {}
            }
        }
        let mut finished_peaks = None;
        if let Some(running) = &mut self.inspect.peaking {
            for event in running.task.events.try_iter() {
                match event {
                    AnalysisEvent::Progress { done, total } => running.progress = Some((done, total)),
                    AnalysisEvent::Peaks(p) => finished_peaks = Some(Ok(p)),
                    AnalysisEvent::Failed(m) => finished_peaks = Some(Err(m)),
                    AnalysisEvent::Cancelled | AnalysisEvent::Evaluated(_) => {
                        finished_peaks = Some(Err(String::new()))
                    }
                }
            }
        }
        if let Some(outcome) = finished_peaks {
            self.inspect.peaking = None;
            match outcome {
                Ok(peaks) => self.inspect.peaks = Some(peaks),
                Err(m) if !m.is_empty() => self.notify(format!("Top-activating search failed: {m}"), true),
                Err(_) => {}
            }
        }
    }

    /// Evaluates the model in use on the test set when it changed: at once for an opened
    /// run, after each finished epoch while training.
    fn maybe_evaluate(&mut self) {
        let (Some(model), Some(data)) = (&self.model, self.data.loaded.as_ref()) else {
            return;
        };
        let key = (model.version, self.data.generation);
        if self.inspect.evaluated == Some(key)
            || self.inspect.evaluating.as_ref().is_some_and(|r| r.key == key)
        {
            return;
        }
        let epochs = self.training.as_ref().map_or(0, |s| s.history.epochs.len());
        if self.is_training() {
            // Weights arrive every few steps; refresh once per finished epoch.
            if epochs == 0 || epochs == self.inspect.evaluated_epochs || self.inspect.evaluating.is_some() {
                return;
            }
        }
        let job = AnalysisJob::Evaluate {
            model: model.model.clone(),
            device: model.device.clone(),
            data: data.dataset.clone(),
            model_version: model.version,
        };
        match spawn_analysis(job, self.wake.clone()) {
            Ok(task) => {
                // Replacing a running evaluation drops (and so cancels) it.
                self.inspect.evaluating = Some(Running {
                    task,
                    key,
                    progress: None,
                });
                self.inspect.evaluated_epochs = epochs;
            }
            Err(e) => self.notify(format!("cannot start the analysis worker: {e}"), true),
        }
    }

    /// Starts the search for each test image's peak activation per channel of `layer`.
    pub fn compute_peaks(&mut self, layer: usize) {
        let (Some(model), Some(data)) = (&self.model, self.data.loaded.as_ref()) else {
            self.notify("Needs a model and data.", true);
            return;
        };
        let job = AnalysisJob::ChannelPeaks {
            model: model.model.clone(),
            device: model.device.clone(),
            data: data.dataset.clone(),
            model_version: model.version,
            layer,
        };
        match spawn_analysis(job, self.wake.clone()) {
            Ok(task) => {
                self.inspect.peaking = Some(Running {
                    task,
                    key: (layer as u64, 0),
                    progress: None,
                })
            }
            Err(e) => self.notify(format!("cannot start the analysis worker: {e}"), true),
        }
    }

    /// Logits and activations of the pad image, computed once per pad revision and model
    /// version (one forward pass; under 2 ms for small-cnn on flex, see the `pad` bench).
    pub fn inspect_pad(&mut self, pixels: &[f32], revision: u64) -> Option<[f32; 10]> {
        let version = self.model.as_ref().map_or(0, |m| m.version);
        let fresh = self
            .inspect
            .pad
            .as_ref()
            .is_some_and(|p| p.revision == revision && p.model_version == version);
        if !fresh {
            let inspection = self
                .model
                .as_ref()
                .and_then(|m| inspect_intensities(&m.model, pixels, &m.device))
                .map(Arc::new);
            self.inspect.pad = Some(PadInspection {
                revision,
                model_version: version,
                pixels: Arc::new(pixels.to_vec()),
                inspection,
            });
        }
        self.inspect
            .pad
            .as_ref()
            .and_then(|p| p.inspection.as_ref())
            .map(|i| i.logits)
    }
}
