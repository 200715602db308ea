//! The data side of [`Workbench`]: the dataset in use, its generation, and loading or
//! downloading another on the `mnist-data` worker (progress, cancel). A new dataset drops
//! every result computed from the old one ([`Workbench::data_changed`]).

use crate::data::download::{DownloadPlan, DownloadProgress};
use crate::data::sources::cache_dir;
use crate::data::worker::{DataJob, LoadedData, spawn_data_job};
use crate::jobs::Outcome;
use crate::ui::job_slot::JobSlot;

use super::Workbench;

/// The data side: what is loaded and what is being loaded.
#[derive(Default)]
pub struct DataState {
    /// The data in use.
    pub loaded: Option<LoadedData>,
    /// A running load or download (its key: a label for the status bar).
    pub task: JobSlot<DownloadProgress, LoadedData, String>,
    /// The last failure, shown in the Data panel.
    pub error: Option<String>,
    /// Counts the datasets loaded so far, so views know when to rebuild what they derived.
    pub generation: u64,
}

impl DataState {
    /// The label of the running load or download.
    pub fn busy_label(&self) -> Option<&str> {
        self.task.key().map(String::as_str)
    }

    /// The latest download progress.
    pub fn progress(&self) -> Option<&DownloadProgress> {
        self.task.progress().flatten()
    }
}

impl Workbench {
    pub(super) fn start_data_job(&mut self, job: DataJob, label: &str) {
        match spawn_data_job(job, self.wake.clone()) {
            Ok(task) => {
                self.data.task.start(task, label.to_string());
                self.data.error = None;
            }
            Err(e) => self.notify(format!("cannot start the data worker: {e}"), true),
        }
    }

    /// Downloads MNIST (where the start options say, else into the cache), then loads it.
    pub(super) fn download_mnist(&mut self) {
        let plan = self
            .options
            .download
            .clone()
            .or_else(|| cache_dir().map(DownloadPlan::standard));
        match plan {
            Some(plan) => self.start_data_job(DataJob::Download(plan), "Downloading MNIST…"),
            None => self.notify("no cache folder on this system; use Open data folder…", true),
        }
    }

    pub(super) fn drain_data_events(&mut self) {
        let Some((_, outcome)) = self.data.task.poll() else {
            return;
        };
        match outcome {
            Outcome::Finished(data) => {
                let text = format!(
                    "Loaded {} training and {} test images",
                    data.dataset.train.len(),
                    data.dataset.test.len()
                );
                self.data.loaded = Some(data);
                self.data_changed();
                self.notify(text, false);
            }
            Outcome::Failed(message) => {
                self.notify(message.clone(), true);
                self.data.error = Some(message);
            }
            Outcome::Cancelled => self.notify("Cancelled; the data in use is unchanged.", false),
        }
    }

    /// A new dataset is in use: everything computed from the old one (evaluations, top
    /// images, embeddings, sweeps over test images) is dropped and its running jobs cancelled,
    /// so no result of one dataset is ever used to index another. Experiment results are
    /// kept: they record their data's digests, and their panels compare them first.
    pub(super) fn data_changed(&mut self) {
        self.data.generation += 1;
        let generation = self.data.generation;
        self.inspect.forget_other_data(generation);
        self.studies.forget_other_data(generation);
    }
}
