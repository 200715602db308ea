//! Experiments on a named thread (`mnist-experiment`) so the window keeps drawing.
//!
//! Each experiment is a [`crate::jobs`] job: any number of `Progress`, then exactly one of
//! `Finished`, `Failed` or `Cancelled`. Results are saved to the job's folder (when it has
//! one) before `Finished` is sent. A dropped [`ExperimentTask`] cancels at the next step or
//! batch.

use std::path::PathBuf;
use std::sync::Arc;

use super::ensemble::{EnsembleConfig, EnsembleResults, run_ensemble};
use super::stability::{StabilityConfig, StabilityResults, run_stability};
use super::subset_curve::{SubsetCurveConfig, SubsetCurveResults, run_subset_curve};
use super::{ExperimentError, Progress, Reporter};
use crate::data::Dataset;
use crate::device::SelectedDevice;
use crate::jobs::{self, Job, JobError, JobEvent, Wake};
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

/// Events from the experiment worker.
pub type ExperimentEvent = JobEvent<Progress, ExperimentResults>;

/// A running experiment (a [`crate::jobs`] job); dropping it cancels at the next step.
pub type ExperimentTask = Job<Progress, ExperimentResults>;

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
pub fn spawn_experiment(job: ExperimentJob, wake: Wake) -> std::io::Result<ExperimentTask> {
    spawn_worker("mnist-experiment", move |reporter| run_job(job, reporter), wake)
}

/// Runs `work` as a [`crate::jobs`] job on a thread named `name`, with a [`Reporter`] whose
/// progress becomes `Progress` events (rate-limited; 100 % always goes out) and whose
/// cancel flag is the job's. Experiments and probes both start this way.
pub fn spawn_worker<T: Send + 'static>(
    name: &str,
    work: impl FnOnce(&mut Reporter) -> Result<T, ExperimentError> + Send + 'static,
    wake: Wake,
) -> std::io::Result<Job<Progress, T>> {
    jobs::spawn(name, wake, move |ctx| {
        let mut on_progress = |p: Progress| {
            if p.fraction >= 1.0 {
                ctx.send(p);
            } else {
                ctx.progress(p);
            }
        };
        let cancelled = || ctx.is_cancelled();
        let mut reporter = Reporter::new(&mut on_progress, &cancelled);
        work(&mut reporter).map_err(|e| match e {
            ExperimentError::Cancelled => JobError::Cancelled,
            other => JobError::Failed(other.to_string()),
        })
    })
}
