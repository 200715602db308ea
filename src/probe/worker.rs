//! Probes on a named thread (`mnist-probe`), one at a time, with progress and cancel: each is
//! a [`crate::jobs`] job started like an experiment ([`spawn_worker`]): any number of
//! `Progress`, then one of `Finished`, `Failed` or `Cancelled`.

use std::path::PathBuf;
use std::sync::Arc;

use burn::tensor::Device;

use super::ablation::{AblationConfig, AblationResults, run_ablation};
use super::cross_dataset::{CrossDatasetConfig, CrossDatasetResults, load_emnist, run_cross_dataset};
use super::embed::{EmbedConfig, Embedding, run_embedding};
use super::row_sweep::{
    Bar, BarSweep, BatchSweep, BatchSweepConfig, EraseSweep, MarginClasses, bar_sweep, batch_sweep,
    erase_sweep,
};
use super::saliency::{SaliencyConfig, SaliencyMaps, saliency};
use super::{McDropout, StudyError, Progress, Reporter};
use crate::data::Dataset;
use crate::jobs::{Job, JobEvent, Wake};
use crate::model::Model;

/// What to probe.
#[derive(Debug, Clone)]
pub enum ProbeRequest {
    /// Erase every row range of `image` and paint a bar at every row of `bar_image`.
    RowSweep {
        /// 784 intensities (a 7 in seed S1).
        image: Vec<f32>,
        /// 784 intensities the bar is painted on (a 1 in seed S1).
        bar_image: Vec<f32>,
        /// Margin classes.
        classes: MarginClasses,
        /// Bar thickness of the reverse sweep.
        bar_thickness: usize,
        /// Dropout passes to average.
        mc: Option<McDropout>,
    },
    /// Batch mode of the row sweep over test images.
    BatchSweep(BatchSweepConfig),
    /// Neuron ablation.
    Ablation(AblationConfig),
    /// Saliency maps of one image.
    Saliency {
        /// 784 intensities.
        image: Vec<f32>,
        /// Settings.
        config: SaliencyConfig,
    },
    /// Embeddings, PCA and t-SNE.
    Embed(EmbedConfig),
    /// EMNIST (from a folder, optional) and the corruption suite.
    CrossDataset {
        /// Folder of EMNIST IDX files.
        emnist: Option<PathBuf>,
        /// Settings.
        config: CrossDatasetConfig,
    },
}

impl ProbeRequest {
    /// Which probe this is.
    pub fn kind(&self) -> ProbeKind {
        match self {
            ProbeRequest::RowSweep { .. } | ProbeRequest::BatchSweep(_) => ProbeKind::RowSweep,
            ProbeRequest::Ablation(_) => ProbeKind::Ablation,
            ProbeRequest::Saliency { .. } => ProbeKind::Saliency,
            ProbeRequest::Embed(_) => ProbeKind::Embed,
            ProbeRequest::CrossDataset { .. } => ProbeKind::CrossDataset,
        }
    }
}

/// The probe families (one panel each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// Row sweeps.
    RowSweep,
    /// Neuron ablation.
    Ablation,
    /// Saliency maps.
    Saliency,
    /// Embeddings.
    Embed,
    /// Cross-dataset and corruptions.
    CrossDataset,
}

/// What a probe found.
#[derive(Debug, Clone)]
pub enum ProbeResults {
    /// Both sweeps, and their images.
    RowSweep {
        /// 784 intensities whose rows were erased.
        image: Vec<f32>,
        /// 784 intensities the bar was painted on.
        bar_image: Vec<f32>,
        /// Erased ranges.
        erase: Arc<EraseSweep>,
        /// Painted bar.
        bar: Arc<BarSweep>,
    },
    /// Batch mode.
    BatchSweep(Arc<BatchSweep>),
    /// Ablation study.
    Ablation(Arc<AblationResults>),
    /// Saliency maps, and the image.
    Saliency {
        /// 784 intensities.
        image: Vec<f32>,
        /// The maps.
        maps: Arc<SaliencyMaps>,
    },
    /// Embeddings.
    Embed(Arc<Embedding>),
    /// Cross-dataset results.
    CrossDataset(Arc<CrossDatasetResults>),
}

/// Runs `request` on this thread (the worker and the command line both use it).
pub fn run_probe(
    request: ProbeRequest,
    model: &Model,
    data: &Dataset,
    device: &Device,
    reporter: &mut Reporter,
) -> Result<ProbeResults, StudyError> {
    let device = device.clone().without_autodiff();
    Ok(match request {
        ProbeRequest::RowSweep {
            image,
            bar_image,
            classes,
            bar_thickness,
            mc,
        } => {
            if image.len() != crate::data::IMAGE_PIXELS || bar_image.len() != crate::data::IMAGE_PIXELS {
                return Err(StudyError::Config("an image must have 784 pixels".into()));
            }
            reporter.progress("erasing row ranges", 0.0);
            let erase = erase_sweep(model, &image, classes, mc, &device);
            reporter.check()?;
            let bar = Bar::for_image(&bar_image, bar_thickness);
            let bar_classes = MarginClasses {
                target: classes.rival,
                rival: classes.target,
            };
            let bar = bar_sweep(model, &bar_image, bar_classes, bar, mc, &device);
            ProbeResults::RowSweep {
                image,
                bar_image,
                erase: Arc::new(erase),
                bar: Arc::new(bar),
            }
        }
        ProbeRequest::BatchSweep(config) => ProbeResults::BatchSweep(Arc::new(batch_sweep(
            model, &data.test, &config, &device, reporter,
        )?)),
        ProbeRequest::Ablation(config) => ProbeResults::Ablation(Arc::new(run_ablation(
            model, &data.test, &config, &device, reporter,
        )?)),
        ProbeRequest::Saliency { image, config } => {
            reporter.progress("saliency", 0.0);
            let maps = saliency(model, &image, &config, &device)?;
            ProbeResults::Saliency {
                image,
                maps: Arc::new(maps),
            }
        }
        ProbeRequest::Embed(config) => ProbeResults::Embed(Arc::new(run_embedding(
            model, &data.test, &config, &device, reporter,
        )?)),
        ProbeRequest::CrossDataset { emnist, config } => {
            let external = match &emnist {
                Some(folder) => Some(load_emnist(folder)?),
                None => None,
            };
            let ext = external.as_ref().map(|(d, name)| (d, name.as_str()));
            ProbeResults::CrossDataset(Arc::new(run_cross_dataset(
                model, &data.test, ext, &config, &device, reporter,
            )?))
        }
    })
}

/// A running probe.
pub type ProbeTask = Job<Progress, ProbeResults>;

/// Events of a probe.
pub type ProbeEvent = JobEvent<Progress, ProbeResults>;

/// Starts `request` on a thread named `mnist-probe`; `wake` is called after each event.
pub fn spawn_probe(
    request: ProbeRequest,
    model: Model,
    data: Arc<Dataset>,
    device: Device,
    wake: Wake,
) -> std::io::Result<ProbeTask> {
    crate::jobs::spawn_reporting("mnist-probe", wake, move |reporter| {
        run_probe(request, &model, &data, &device, reporter)
    })
}
