//! The error of every training-setting check (`TrainConfig::validate`, each optimiser's
//! settings), in a file of its own so the configuration and the optimiser list both use it
//! without importing each other.

/// A configuration value that cannot work, with the field it concerns.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// The offending field (as named on the command line).
    pub field: &'static str,
    /// What is wrong and what is allowed.
    pub message: String,
}
