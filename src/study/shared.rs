//! What several studies' results share: the data they ran on ([`DataInfo`]), the
//! architecture a `--model` name stands for, and the per-device lines of a spread study's
//! summary.

use serde::{Deserialize, Serialize};

use super::StudyError;
use crate::data::Dataset;
use crate::model::ModelSpec;

/// What the data were, so a reloaded result can tell whether the loaded test set is the one
/// it was computed on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// Where the data came from.
    pub source: String,
    /// Digest of the test set (`Digits::digest`).
    pub test_digest: String,
    /// Digest of the training set (empty in results written before it was kept).
    #[serde(default)]
    pub train_digest: String,
}

impl DataInfo {
    /// The description of `data`.
    pub fn of(data: &Dataset) -> Self {
        Self {
            source: data.source.to_string(),
            test_digest: data.test.digest(),
            train_digest: data.train.digest(),
        }
    }

    /// Whether both describe the same images, wherever they were loaded from (the same MNIST
    /// in another folder is the same data).
    pub fn same_data(&self, other: &DataInfo) -> bool {
        self.test_digest == other.test_digest
            && (self.train_digest.is_empty()
                || other.train_digest.is_empty()
                || self.train_digest == other.train_digest)
    }
}

/// The architecture called `name`, or an error listing the presets.
pub(crate) fn preset(name: &str) -> Result<ModelSpec, StudyError> {
    ModelSpec::preset(name).ok_or_else(|| {
        StudyError::Config(format!(
            "unknown model '{name}': use one of {}",
            crate::model::PRESET_NAMES.join(", ")
        ))
    })
}

/// With several devices, the wall-clock time and one line per device (items, images per
/// second, and why a device left); nothing for one device.
pub(crate) fn devices_summary(devices: &[crate::experiment::pool::DeviceTally], seconds: Option<f64>) -> String {
    if devices.len() < 2 {
        return String::new();
    }
    let took = seconds.map(|s| format!("{s:.1} s ")).unwrap_or_default();
    let lines = crate::experiment::pool::tally_lines(devices);
    format!("\n{took}on {} devices:\n  {}", devices.len(), lines.join("\n  "))
}


/// One model moved to each device of a pool once, by device name: the items a device runs
/// share its copy.
pub(crate) struct ModelOnDevices<'a> {
    model: &'a crate::model::Model,
    moved: std::sync::Mutex<Vec<(String, crate::model::Model)>>,
}

impl<'a> ModelOnDevices<'a> {
    pub(crate) fn new(model: &'a crate::model::Model) -> Self {
        Self {
            model,
            moved: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The model on `device`, moved there on first use.
    pub(crate) fn on(&self, device: &crate::device::SelectedDevice) -> crate::model::Model {
        use burn::module::Module as _;
        let mut moved = self.moved.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, model)) = moved.iter().find(|(name, _)| *name == device.name) {
            return model.clone();
        }
        let model = self.model.clone().to_device(&device.device);
        moved.push((device.name.clone(), model.clone()));
        model
    }
}
