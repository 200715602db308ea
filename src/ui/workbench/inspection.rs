//! The inspection side of [`Workbench`]: the test-set evaluation behind the Confusion,
//! Errors and Calibration panels (re-run on the `mnist-analysis` worker after every epoch and
//! whenever another model is opened), channel peaks for the top-activating search, and the
//! activations of the workbench's pad image (one forward pass per pad revision and model
//! serves the pad's logits, the Feature maps panel and the probes that follow the pad).

use std::sync::Arc;

use super::Workbench;
use crate::analysis::worker::{
    AnalysisJob, AnalysisOutput, ChannelPeaks, ImagesDone, TestEvaluation, spawn_analysis,
};
use crate::jobs::Outcome;
use crate::model::inspect::{Inspection, inspect_intensities};
use crate::ui::job_slot::{JobSlot, Stamp, Stamped};

/// What the model makes of one revision of the pad image ([`Workbench::pad`]).
#[derive(Debug, Clone)]
pub struct PadInspection {
    /// The pad's revision this belongs to.
    pub revision: u64,
    /// The model version (0 = no model).
    pub model_version: u64,
    /// Logits and activations (None without a model).
    pub inspection: Option<Arc<Inspection>>,
}

/// Inspection state shared by the panels.
#[derive(Default)]
pub struct InspectState {
    /// The latest test-set evaluation.
    pub evaluation: Option<Arc<TestEvaluation>>,
    /// What [`InspectState::evaluation`] was computed from.
    evaluated: Option<Stamp>,
    /// Epochs finished when the last evaluation was started (during training).
    evaluated_epochs: usize,
    evaluating: JobSlot<ImagesDone, AnalysisOutput, Stamp>,
    /// Channel peaks of one layer over the test set.
    pub peaks: Option<Arc<ChannelPeaks>>,
    /// What [`InspectState::peaks`] was computed from.
    peaks_from: Option<Stamp>,
    /// The search running, with what it is computed from and its layer.
    peaking: JobSlot<ImagesDone, AnalysisOutput, (Stamp, usize)>,
    /// The pad image's activations (read through [`Workbench::pad_inspection`]).
    pad: Option<PadInspection>,
    /// One test image's activations (Feature maps on a test image), with its index.
    test_image: Option<Stamped<(usize, Arc<Inspection>)>>,
    /// The last failure, shown by the panels.
    pub error: Option<String>,
}

impl InspectState {
    /// Progress `(done, total)` of a running evaluation (Some(None) before the first batch).
    pub fn evaluation_progress(&self) -> Option<Option<(usize, usize)>> {
        self.evaluating.progress().map(|p| p.map(|p| (p.done, p.total)))
    }

    /// Progress of a running channel-peaks search, with its layer.
    pub fn peaks_progress(&self) -> Option<(usize, Option<(usize, usize)>)> {
        let (_, layer) = self.peaking.key()?;
        let progress = self.peaking.progress().flatten().map(|p| (p.done, p.total));
        Some((*layer, progress))
    }

    /// Drops the evaluation and top images unless computed on the data of `generation`, and
    /// cancels jobs started on other data.
    pub fn forget_other_data(&mut self, generation: u64) {
        if self.evaluated.is_some_and(|s| s.data_generation != generation) {
            self.evaluation = None;
            self.evaluated = None;
        }
        if self.peaks_from.is_some_and(|s| s.data_generation != generation) {
            self.peaks = None;
            self.peaks_from = None;
        }
        if self
            .evaluating
            .key()
            .is_some_and(|s| s.data_generation != generation)
        {
            self.evaluating.clear();
        }
        if self
            .peaking
            .key()
            .is_some_and(|(s, _)| s.data_generation != generation)
        {
            self.peaking.clear();
        }
    }

    /// Cancels the running evaluation and search (the window is closing).
    pub fn cancel_jobs(&mut self) {
        self.evaluating.clear();
        self.peaking.clear();
    }

    /// Whether the shown evaluation belongs to the model in use now.
    pub fn evaluation_is_current(&self, model_version: u64) -> bool {
        self.evaluated.is_some_and(|s| s.model_version == model_version)
    }
}

impl Workbench {
    /// Starts, drains and finishes analysis jobs; called from [`Workbench::logic`].
    pub(super) fn inspect_logic(&mut self) {
        self.drain_analysis();
        self.maybe_evaluate();
    }

    fn drain_analysis(&mut self) {
        let generation = self.data.generation;
        if let Some((from, outcome)) = self.inspect.evaluating.poll() {
            match outcome {
                // An evaluation of other data is never shown (its job is normally cancelled).
                Outcome::Finished(AnalysisOutput::Evaluated(evaluation))
                    if from.data_generation == generation =>
                {
                    self.inspect.evaluation = Some(evaluation);
                    self.inspect.evaluated = Some(from);
                }
                Outcome::Failed(m) => {
                    self.notify(format!("Evaluation failed: {m}"), true);
                    self.inspect.error = Some(m);
                }
                Outcome::Finished(_) | Outcome::Cancelled => {}
            }
        }
        if let Some(((from, _), outcome)) = self.inspect.peaking.poll() {
            match outcome {
                Outcome::Finished(AnalysisOutput::Peaks(peaks)) if from.data_generation == generation => {
                    self.inspect.peaks = Some(peaks);
                    self.inspect.peaks_from = Some(from);
                }
                Outcome::Failed(m) => self.notify(format!("Top-activating search failed: {m}"), true),
                Outcome::Finished(_) | Outcome::Cancelled => {}
            }
        }
    }

    /// Evaluates the model in use on the test set when it changed: at once for an opened
    /// run, after each finished epoch while training.
    fn maybe_evaluate(&mut self) {
        let stamp = self.stamp();
        let (Some(model), Some(data)) = (&self.model, self.data.loaded.as_ref()) else {
            return;
        };
        if self.inspect.evaluated == Some(stamp) || self.inspect.evaluating.key() == Some(&stamp) {
            return;
        }
        let epochs = self.training.as_ref().map_or(0, |s| s.history.epochs.len());
        if self.is_training() {
            // Weights arrive every few steps; refresh once per finished epoch.
            if epochs == 0 || epochs == self.inspect.evaluated_epochs || self.inspect.evaluating.is_running()
            {
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
                self.inspect.evaluating.start(task, stamp);
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
        let stamp = self.stamp();
        match spawn_analysis(job, self.wake.clone()) {
            Ok(task) => self.inspect.peaking.start(task, (stamp, layer)),
            Err(e) => self.notify(format!("cannot start the analysis worker: {e}"), true),
        }
    }

    /// Logits and activations of test image `index` when computed for the current model and
    /// data; otherwise None (ask with [`super::Action::InspectTestImage`]).
    pub fn test_image_inspection(&self, index: usize) -> Option<Arc<Inspection>> {
        let from = self.stamp();
        let cached = self.inspect.test_image.as_ref();
        cached.filter(|c| c.from == from && c.value.0 == index).map(|c| c.value.1.clone())
    }

    /// Computes the logits and activations of test image `index`, once per image, model and
    /// dataset (one forward pass, like the pad's).
    pub(super) fn inspect_test_image(&mut self, index: usize) -> Option<Arc<Inspection>> {
        let from = self.stamp();
        if let Some(done) = self.test_image_inspection(index) {
            return Some(done);
        }
        let (m, data) = (self.model.as_ref()?, self.dataset()?);
        if index >= data.test.len() {
            return None;
        }
        let pixels = data.test.intensities(index);
        let inspection = Arc::new(inspect_intensities(&m.model, &pixels, &m.device)?);
        self.inspect.test_image = Some(Stamped {
            value: (index, inspection.clone()),
            from,
        });
        Some(inspection)
    }

    /// The activations of the pad image as of the last [`Workbench::pad_logic`] (a frame
    /// behind an edit at most); None before the first.
    pub fn pad_inspection(&self) -> Option<&PadInspection> {
        self.inspect.pad.as_ref()
    }

    /// Runs the pad image's forward pass unless the cached one belongs to the current pad
    /// revision and model version (under 2 ms for small-cnn on flex, see the `pad` bench).
    /// Returns whether it ran.
    pub(super) fn inspect_pad(&mut self) -> bool {
        let (revision, version) = (self.pad.revision(), self.stamp().model_version);
        let fresh = self
            .inspect
            .pad
            .as_ref()
            .is_some_and(|p| p.revision == revision && p.model_version == version);
        if fresh {
            return false;
        }
        let inspection = self
            .model
            .as_ref()
            .and_then(|m| inspect_intensities(&m.model, self.pad.pixels(), &m.device))
            .map(Arc::new);
        self.inspect.pad = Some(PadInspection {
            revision,
            model_version: version,
            inspection,
        });
        true
    }
}
