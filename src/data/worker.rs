//! Loading and downloading data on a named worker thread (`mnist-data`), so the app never
//! waits on disk or network.
//!
//! Event order for one task: any number of `Progress` (downloads only), then exactly one of
//! `Loaded`, `Failed` or `Cancelled`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};

use super::download::{DownloadPlan, DownloadProgress, download_mnist};
use super::sources::{DataRequest, Dataset, load_dataset};

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
    /// The data.
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

/// Events from the data worker, in the order documented above.
#[derive(Debug, Clone)]
pub enum DataEvent {
    /// Bytes arrived during a download.
    Progress(DownloadProgress),
    /// The data is ready.
    Loaded(LoadedData),
    /// It did not work; the message says why and what to do.
    Failed(String),
    /// The user cancelled; nothing was changed.
    Cancelled,
}

/// A data job running on its thread.
pub struct DataTask {
    /// Events in the documented order.
    pub events: Receiver<DataEvent>,
    cancel: Arc<AtomicBool>,
}

impl DataTask {
    /// Asks the worker to stop at the next chunk; it answers with `Cancelled`.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

impl Drop for DataTask {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Starts `job` on a thread named `mnist-data`; `wake` is called after each event.
pub fn spawn_data_job(job: DataJob, wake: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<DataTask> {
    let (tx, rx) = channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let worker_cancel = cancel.clone();
    std::thread::Builder::new()
        .name("mnist-data".into())
        .spawn(move || {
            let send = |event: DataEvent| {
                if tx.send(event).is_err() {
                    // The app is gone: stop at the next check.
                    worker_cancel.store(true, Ordering::SeqCst);
                }
                wake();
            };
            let outcome = match job {
                DataJob::Load(request) => load_dataset(&request).map_err(|e| e.to_string()),
                DataJob::Download(plan) => {
                    let progress = |p: &DownloadProgress| send(DataEvent::Progress(p.clone()));
                    match download_mnist(&plan, &progress, &worker_cancel) {
                        Ok(()) => {
                            let request = DataRequest {
                                folder: Some(plan.dest.clone()),
                                ..DataRequest::default()
                            };
                            load_dataset(&request).map_err(|e| e.to_string())
                        }
                        Err(_) if worker_cancel.load(Ordering::SeqCst) => {
                            send(DataEvent::Cancelled);
                            return;
                        }
                        Err(e) => Err(format!("download failed: {e}")),
                    }
                }
            };
            if worker_cancel.load(Ordering::SeqCst) {
                send(DataEvent::Cancelled);
                return;
            }
            send(match outcome {
                Ok(dataset) => DataEvent::Loaded(LoadedData::new(dataset)),
                Err(message) => DataEvent::Failed(message),
            });
        })?;
    Ok(DataTask { events: rx, cancel })
}
