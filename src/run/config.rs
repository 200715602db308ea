//! A run folder's `config.json`: the training configuration with the data it saw (and, for
//! a model imported from PyTorch, where its weights came from). The field names are the
//! file's keys; every run folder ever written must keep reading.

use serde::{Deserialize, Serialize};

use crate::data::DataSource;
use crate::train::config::TrainConfig;

/// `config.json`: the training config plus the data it saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    /// Program version that wrote it.
    pub version: String,
    /// UTC creation time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    /// The training configuration.
    pub train: TrainConfig,
    /// Where the data came from.
    pub data_source: DataSource,
    /// SHA-256 of the training images and labels.
    pub train_digest: String,
    /// SHA-256 of the test images and labels.
    pub test_digest: String,
    /// For a model imported from a PyTorch checkpoint: the file, its digest and the mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<ImportedFrom>,
    /// For `train --resume RUN`: the run folder whose weights and optimiser state this run
    /// started from, as it was given. This run counts its epochs from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
}

impl RunConfig {
    /// The config of a new run of `train` on data from `data_source` with the given digests,
    /// stamped with the current time and this program's version.
    pub fn new(
        train: TrainConfig,
        data_source: DataSource,
        train_digest: String,
        test_digest: String,
    ) -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").into(),
            created: super::naming::utc_timestamp(),
            train,
            data_source,
            train_digest,
            test_digest,
            imported_from: None,
            resumed_from: None,
        }
    }

    /// [`RunConfig::new`] with the digests computed from `data`.
    pub fn for_dataset(train: TrainConfig, data: &crate::data::Dataset) -> Self {
        Self::new(
            train,
            data.source.clone(),
            data.train.digest(),
            data.test.digest(),
        )
    }
}

/// Where an imported run's weights came from (`config.json`'s `imported_from`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedFrom {
    /// The file's name.
    pub file: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Which of our layers took which of its modules.
    pub mapping: Vec<String>,
}
