//! Loading and downloading data on a named worker thread (`mnist-data`), so the app never
//! waits on disk or network.
//!
//! A [`crate::jobs`] job: any number of `Progress` (downloads only), then exactly one of
//! `Finished` (the loaded data), `Failed` or `Cancelled`.

use std::sync::Arc;

use super::download::{DownloadPlan, DownloadProgress, download_mnist};
use super::sources::{DataRequest, Dataset, load_dataset};
use crate::jobs::{self, Job, JobError, Wake};

/// What the data worker should do.
#[derive(Debug, Clone)]
pub enum DataJob {
    /// Find and load data as `request` says (folder, `MNIST_DIR`, cache, synthetic).
    Load(DataRequest),
    /// Download MNIST as `plan` says, then load it from `plan.dest`.
    Download(DownloadPlan),
}

/// A loaded dataset with the digests run folders record.
#[derive(Debug, Clone)]
pub struct LoadedData {
    /// The training and test splits with where they came from.
    pub dataset: Arc<Dataset>,
    /// SHA-256 of the training images and labels.
    pub train_digest: String,
    /// SHA-256 of the test images and labels.
    pub test_digest: String,
    /// Label counts, mean images and pixel statistics of both splits (the Dataset panel).
    pub stats: Arc<crate::analysis::dataset::DatasetStats>,
}

impl LoadedData {
    /// Wraps a dataset, computing its digests.
    pub fn new(dataset: Dataset) -> Self {
        Self::shared(Arc::new(dataset))
    }

    /// Wraps a shared dataset, computing its digests and statistics (a few hundred
    /// milliseconds for MNIST: call it off the UI thread).
    pub fn shared(dataset: Arc<Dataset>) -> Self {
        Self {
            train_digest: dataset.train.digest(),
            test_digest: dataset.test.digest(),
            stats: Arc::new(crate::analysis::dataset::DatasetStats::compute(&dataset)),
            dataset,
        }
    }
}

/// A data job running on its thread: progress is download progress, the value the loaded
/// data. Cancelled (or dropped) jobs stop at the next chunk and change nothing.
pub type DataTask = Job<DownloadProgress, LoadedData>;

/// Starts `job` on a thread named `mnist-data`; `wake` is called after each event.
pub fn spawn_data_job(job: DataJob, wake: Wake) -> std::io::Result<DataTask> {
    jobs::spawn("mnist-data", wake, move |ctx| {
        let dataset = match job {
            DataJob::Load(request) => load_dataset(&request).map_err(|e| JobError::Failed(e.to_string()))?,
            DataJob::Download(plan) => {
                let progress = |p: &DownloadProgress| ctx.send(p.clone());
                match download_mnist(&plan, &progress, ctx.cancel_token().flag()) {
                    Ok(()) => {}
                    Err(_) if ctx.is_cancelled() => return Err(JobError::Cancelled),
                    Err(e) => return Err(JobError::Failed(format!("download failed: {e}"))),
                }
                let request = DataRequest {
                    folder: Some(plan.dest.clone()),
                    ..DataRequest::default()
                };
                load_dataset(&request).map_err(|e| JobError::Failed(e.to_string()))?
            }
        };
        if ctx.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        Ok(LoadedData::new(dataset))
    })
}
