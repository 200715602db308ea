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

/// Events from a worker (experiments and probes), in the order documented above.
#[derive(Debug, Clone)]
pub enum WorkerEvent<T> {
    /// How far it has got.
    Progress(Progress),
    /// Done (and saved, when it had a folder).
    Finished(T),
    /// It failed; the message says why.
    Failed(String),
    /// Cancelled before finishing (a size curve keeps the fractions it finished).
    Cancelled,
}

/// Events from the experiment worker.
pub type ExperimentEvent = WorkerEvent<ExperimentResults>;

/// A running job on a worker thread.
pub struct Task<T> {
    /// Events in the documented order.
    pub events: Receiver<WorkerEvent<T>>,
    cancel: Arc<AtomicBool>,
}

/// A running experiment.
pub type ExperimentTask = Task<ExperimentResults>;

impl<T> Task<T> {
    /// Asks the worker to stop at its next step or batch.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

impl<T> Drop for Task<T> {
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
    spawn_worker("mnist-experiment", move |reporter| run_job(job, reporter), wake)
}

/// Runs `work` on a thread named `name` with a [`Reporter`] whose progress becomes
/// (at most ~20 a second) `Progress` events and whose cancel flag is [`Task::cancel`];
/// `wake` is called after each event. A panic inside `work` becomes `Failed`.
pub fn spawn_worker<T: Send + 'static>(
    name: &str,
    work: impl FnOnce(&mut Reporter) -> Result<T, ExperimentError> + Send + 'static,
    wake: Arc<dyn Fn() + Send + Sync>,
) -> std::io::Result<Task<T>> {
    let (tx, rx) = channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        let send = |event: WorkerEvent<T>| {
            if tx.send(event).is_err() {
                flag.store(true, Ordering::SeqCst); // the app is gone
            }
            wake();
        };
        let mut last_sent = std::time::Instant::now();
        let mut on_progress = |p: Progress| {
            if last_sent.elapsed().as_millis() >= 50 || p.fraction >= 1.0 {
                last_sent = std::time::Instant::now();
                send(WorkerEvent::Progress(p));
            }
        };
        let cancelled = || flag.load(Ordering::SeqCst);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut reporter = Reporter::new(&mut on_progress, &cancelled);
            work(&mut reporter)
        }));
        send(match outcome {
            Ok(Ok(results)) => WorkerEvent::Finished(results),
            Ok(Err(ExperimentError::Cancelled)) => WorkerEvent::Cancelled,
            Ok(Err(e)) => WorkerEvent::Failed(e.to_string()),
            Err(_) => WorkerEvent::Failed("the job crashed inside the model code (see the log)".into()),
        });
    })?;
    Ok(Task { events: rx, cancel })
}
