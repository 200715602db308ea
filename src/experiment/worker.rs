//! Experiments on a named thread (`mnist-experiment`) so the window keeps drawing.
//!
//! Event order for one job: any number of `Progress`, then exactly one of `Finished`,
//! `Failed` or `Cancelled`. Results are saved to the job's folder (when it has one) before
//! `Finished` is sent. A dropped [`ExperimentTask`] cancels at the next step or batch.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};

use super::ensemble::{EnsembleConfig, EnsembleResults, run_ensemble};
use super::stability::{StabilityConfig, StabilityResults, run_stability};
use super::subset_curve::{SubsetCurveConfig, SubsetCurveResults, run_subset_curve};
use super::{ExperimentError, Progress, Reporter};
use crate::data::Dataset;
use crate::device::SelectedDevice;
use crate::model::Model;

/// What to run.
// Built once per experiment: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum ExperimentJob {
    /// Seed S0's ensemble; saved to `out` when given.
    Ensemble {
        /// Settings.
        config: EnsembleConfig,
        /// Data (shared).
        data: Arc<Dataset>,
        /// Device.
        device: SelectedDevice,
        /// Results folder.
        out: Option<PathBuf>,
    },
    /// Seed S2's size curve; resumes from and saves to `out` when given.
    SubsetCurve {
        /// Settings.
        config: SubsetCurveConfig,
        /// Data (shared).
        data: Arc<Dataset>,
        /// Device.
        device: SelectedDevice,
        /// Results folder.
        out: Option<PathBuf>,
    },
    /// Seed S3's stability test of one trained model; saved to `out` when given.
    Stability {
        /// Settings.
        config: StabilityConfig,
        /// The trained model.
        model: Model,
        /// Data (shared).
        data: Arc<Dataset>,
        /// Device.
        device: SelectedDevice,
        /// Results folder (the model's run folder).
        out: Option<PathBuf>,
    },
}

/// Results of a finished experiment.
#[derive(Debug, Clone)]
pub enum ExperimentResults {
    /// An ensemble.
    Ensemble(Arc<EnsembleResults>),
    /// A size curve.
    SubsetCurve(Arc<SubsetCurveResults>),
    /// A stability test.
    Stability(Arc<StabilityResults>),
}

/// Events from the experiment worker, in the order documented above.
#[derive(Debug, Clone)]
pub enum ExperimentEvent {
    /// How far it has got.
    Progress(Progress),
    /// Done (and saved, when it had a folder).
    Finished(ExperimentResults),
    /// It failed; the message says why.
    Failed(String),
    /// Cancelled before finishing (a size curve keeps the fractions it finished).
    Cancelled,
}

/// A running experiment.
pub struct ExperimentTask {
    /// Events in the documented order.
    pub events: Receiver<ExperimentEvent>,
    cancel: Arc<AtomicBool>,
}

impl ExperimentTask {
    /// Asks the worker to stop at its next step or batch.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

impl Drop for ExperimentTask {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Runs `job` on this thread (the worker and the command line both use it).
pub fn run_job(job: ExperimentJob, reporter: &mut Reporter) -> Result<ExperimentResults, ExperimentError> {
    Ok(match job {
        ExperimentJob::Ensemble {
            config,
            data,
            device,
            out,
        } => {
            let results = run_ensemble(&config, &data, &device, reporter)?;
            if let Some(dir) = out {
                results.save(&dir)?;
            }
            ExperimentResults::Ensemble(Arc::new(results))
        }
        ExperimentJob::SubsetCurve {
            config,
            data,
            device,
            out,
        } => ExperimentResults::SubsetCurve(Arc::new(run_subset_curve(
            &config,
            &data,
            &device,
            out.as_deref(),
            reporter,
        )?)),
        ExperimentJob::Stability {
            config,
            model,
            data,
            device,
            out,
        } => {
            let results = run_stability(&config, &model, &data, &device.device, reporter)?;
            if let Some(dir) = out {
                results.save(&dir)?;
            }
            ExperimentResults::Stability(Arc::new(results))
        }
    })
}

/// Starts `job` on a thread named `mnist-experiment`; `wake` is called after each event.
pub fn spawn_experiment(
    job: ExperimentJob,
    wake: Arc<dyn Fn() + Send + Sync>,
) -> std::io::Result<ExperimentTask> {
    let (tx, rx) = channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    std::thread::Builder::new()
        .name("mnist-experiment".into())
        .spawn(move || {
            let send = |event: ExperimentEvent| {
                if tx.send(event).is_err() {
                    flag.store(true, Ordering::SeqCst); // the app is gone
                }
                wake();
            };
            let mut last_sent = std::time::Instant::now();
            let mut on_progress = |p: Progress| {
                // At most ~20 progress events a second reach the window.
                if last_sent.elapsed().as_millis() >= 50 || p.fraction >= 1.0 {
                    last_sent = std::time::Instant::now();
                    send(ExperimentEvent::Progress(p));
                }
            };
            let cancelled = || flag.load(Ordering::SeqCst);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut reporter = Reporter::new(&mut on_progress, &cancelled);
                run_job(job, &mut reporter)
            }));
            send(match outcome {
                Ok(Ok(results)) => ExperimentEvent::Finished(results),
                Ok(Err(ExperimentError::Cancelled)) => ExperimentEvent::Cancelled,
                Ok(Err(e)) => ExperimentEvent::Failed(e.to_string()),
                Err(_) => ExperimentEvent::Failed(
                    "the experiment crashed inside the model code (see the log)".into(),
                ),
            });
        })?;
    Ok(ExperimentTask { events: rx, cancel })
}
