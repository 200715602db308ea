//! The Model & training form as typed: strings and choices, so invalid input stays visible
//! until fixed, turned into a checked [`TrainConfig`] (each refusal naming its field) and
//! back. No drawing here; the panel in `training.rs` draws it.

use serde::{Deserialize, Serialize};

use crate::device::DeviceChoice;
use crate::model::ModelSpec;
use crate::train::{OptimizerKind, Schedule, Subset, TrainConfig};

/// Which learning-rate schedule the form selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduleKind {
    /// Constant.
    Constant,
    /// Step decay.
    Step,
    /// Cosine decay.
    Cosine,
}

/// Which subset the form selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubsetKind {
    /// All images.
    All,
    /// k per digit.
    PerDigit,
    /// A fraction of each digit.
    Fraction,
}

/// The form as typed (strings, so invalid input stays visible until fixed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingForm {
    /// CNN (true) or MLP.
    pub cnn: bool,
    /// MLP hidden sizes, comma separated.
    pub hidden: String,
    /// CNN channels per block, comma separated.
    pub channels: String,
    /// CNN kernel size.
    pub kernel: String,
    /// CNN BatchNorm.
    pub batch_norm: bool,
    /// CNN dense width.
    pub dense: String,
    /// Dropout.
    pub dropout: String,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: String,
    /// SGD momentum.
    pub momentum: String,
    /// Weight decay.
    pub weight_decay: String,
    /// Schedule.
    pub schedule: ScheduleKind,
    /// Step schedule: epochs between decays.
    pub step_every: String,
    /// Step schedule: factor.
    pub step_gamma: String,
    /// Batch size.
    pub batch_size: String,
    /// Epochs.
    pub epochs: String,
    /// Stop at a training accuracy.
    pub use_target: bool,
    /// That accuracy (0-1).
    pub target: String,
    /// Augmentation.
    pub augment: bool,
    /// Subset kind.
    pub subset: SubsetKind,
    /// Images per digit.
    pub per_digit: String,
    /// Fraction of each digit.
    pub fraction: String,
    /// Seed.
    pub seed: String,
    /// Device.
    pub device: DeviceChoice,
}

impl Default for TrainingForm {
    fn default() -> Self {
        let mut form = Self::from_config(&TrainConfig::default());
        form.epochs = "1".into();
        form
    }
}

/// A field the form could not accept, with the message shown beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Form field (the `TrainConfig` / command-line name).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

fn list(s: &str) -> Result<Vec<usize>, String> {
    s.split([',', ' ', '-'])
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .map_err(|_| format!("'{}' is not a whole number", p.trim()))
        })
        .collect()
}

impl TrainingForm {
    /// The form showing `config`.
    pub fn from_config(c: &TrainConfig) -> Self {
        let mut form = Self {
            cnn: true,
            hidden: "128, 64".into(),
            channels: "32, 64, 128".into(),
            kernel: "3".into(),
            batch_norm: true,
            dense: "256".into(),
            dropout: "0.3".into(),
            optimizer: c.optimizer,
            lr: c.learning_rate.to_string(),
            momentum: c.momentum.to_string(),
            weight_decay: c.weight_decay.to_string(),
            schedule: match c.schedule {
                Schedule::Constant => ScheduleKind::Constant,
                Schedule::Step { .. } => ScheduleKind::Step,
                Schedule::Cosine => ScheduleKind::Cosine,
            },
            step_every: "1".into(),
            step_gamma: "0.7".into(),
            batch_size: c.batch_size.to_string(),
            epochs: c.epochs.to_string(),
            use_target: c.target_train_accuracy.is_some(),
            target: c.target_train_accuracy.unwrap_or(0.99).to_string(),
            augment: c.augment,
            subset: SubsetKind::All,
            per_digit: "2".into(),
            fraction: "0.25".into(),
            seed: c.seed.to_string(),
            device: c.device.clone(),
        };
        if let Schedule::Step { every_epochs, gamma } = c.schedule {
            form.step_every = every_epochs.to_string();
            form.step_gamma = gamma.to_string();
        }
        match c.subset {
            Subset::All => {}
            Subset::PerDigit { k } => {
                form.subset = SubsetKind::PerDigit;
                form.per_digit = k.to_string();
            }
            Subset::Fraction { fraction } => {
                form.subset = SubsetKind::Fraction;
                form.fraction = fraction.to_string();
            }
        }
        form.set_model(&c.model);
        form
    }

    /// Shows `spec` in the architecture fields.
    pub fn set_model(&mut self, spec: &ModelSpec) {
        let join = |v: &[usize]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ");
        match spec {
            ModelSpec::Mlp { hidden, dropout } => {
                self.cnn = false;
                self.hidden = join(hidden);
                self.dropout = dropout.to_string();
            }
            ModelSpec::Cnn {
                channels,
                kernel_size,
                batch_norm,
                dropout,
                dense,
            } => {
                self.cnn = true;
                self.channels = join(channels);
                self.kernel = kernel_size.to_string();
                self.batch_norm = *batch_norm;
                self.dense = dense.to_string();
                self.dropout = dropout.to_string();
            }
        }
    }

    /// The architecture, or the first field that does not parse or build.
    pub fn model(&self) -> Result<ModelSpec, FieldError> {
        let e = |field, message| FieldError { field, message };
        let dropout: f64 = self
            .dropout
            .trim()
            .parse()
            .map_err(|_| e("dropout", "dropout must be a number in [0, 1)".into()))?;
        let spec = if self.cnn {
            ModelSpec::Cnn {
                channels: list(&self.channels).map_err(|m| e("channels", m))?,
                kernel_size: self
                    .kernel
                    .trim()
                    .parse()
                    .map_err(|_| e("kernel", "kernel size must be a whole number".into()))?,
                batch_norm: self.batch_norm,
                dropout,
                dense: self
                    .dense
                    .trim()
                    .parse()
                    .map_err(|_| e("dense", "dense width must be a whole number".into()))?,
            }
        } else {
            ModelSpec::Mlp {
                hidden: list(&self.hidden).map_err(|m| e("hidden", m))?,
                dropout,
            }
        };
        spec.validate().map_err(|m| e("model", m))?;
        Ok(spec)
    }

    /// The training configuration, or the first problem (field and message). Uses the same
    /// validation as the command line.
    pub fn build(&self) -> Result<TrainConfig, FieldError> {
        let e = |field, message: String| FieldError { field, message };
        let float = |field: &'static str, s: &str, what: &str| {
            s.trim()
                .parse::<f64>()
                .map_err(|_| e(field, format!("{what} must be a number, got '{}'", s.trim())))
        };
        let whole = |field: &'static str, s: &str, what: &str| {
            s.trim().parse::<usize>().map_err(|_| {
                e(
                    field,
                    format!("{what} must be a whole number, got '{}'", s.trim()),
                )
            })
        };
        let config = TrainConfig {
            model: self.model()?,
            optimizer: self.optimizer,
            learning_rate: float("lr", &self.lr, "learning rate")?,
            momentum: float("momentum", &self.momentum, "momentum")?,
            weight_decay: float("weight-decay", &self.weight_decay, "weight decay")?,
            schedule: match self.schedule {
                ScheduleKind::Constant => Schedule::Constant,
                ScheduleKind::Cosine => Schedule::Cosine,
                ScheduleKind::Step => Schedule::Step {
                    every_epochs: whole("schedule", &self.step_every, "step interval")?,
                    gamma: float("schedule", &self.step_gamma, "gamma")?,
                },
            },
            batch_size: whole("batch-size", &self.batch_size, "batch size")?,
            epochs: whole("epochs", &self.epochs, "epochs")?,
            target_train_accuracy: if self.use_target {
                Some(float("target-accuracy", &self.target, "target accuracy")?)
            } else {
                None
            },
            time_budget_secs: None,
            augment: self.augment,
            subset: match self.subset {
                SubsetKind::All => Subset::All,
                SubsetKind::PerDigit => Subset::PerDigit {
                    k: whole("per-digit", &self.per_digit, "images per digit")?,
                },
                SubsetKind::Fraction => Subset::Fraction {
                    fraction: float("fraction", &self.fraction, "fraction")?,
                },
            },
            seed: self
                .seed
                .trim()
                .parse()
                .map_err(|_| e("seed", "seed must be a whole number ≥ 0".into()))?,
            device: self.device.clone(),
            evaluate_each_epoch: true,
        };
        config.validate().map_err(|c| e(c.field, c.message))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_form_builds_the_default_config_with_one_epoch() {
        let config = TrainingForm::default().build().unwrap();
        assert_eq!(config.model, ModelSpec::preset("small-cnn").unwrap());
        assert_eq!(config.epochs, 1);
        assert_eq!(config.learning_rate, 1e-3);
    }

    #[test]
    fn bad_fields_are_named() {
        let mut f = TrainingForm {
            lr: "fast".into(),
            ..TrainingForm::default()
        };
        assert_eq!(f.build().unwrap_err().field, "lr");
        f.lr = "-1".into();
        let err = f.build().unwrap_err();
        assert_eq!(err.field, "lr");
        assert!(err.message.contains("positive"), "{}", err.message);
        f.lr = "0.01".into();
        f.channels = "32, x".into();
        assert_eq!(f.build().unwrap_err().field, "channels");
        f.channels = "32".into();
        f.kernel = "4".into();
        assert_eq!(f.build().unwrap_err().field, "model");
    }

    #[test]
    fn form_round_trips_a_config() {
        let config = TrainConfig {
            model: ModelSpec::preset("mlp").unwrap(),
            schedule: Schedule::Step {
                every_epochs: 2,
                gamma: 0.5,
            },
            subset: Subset::PerDigit { k: 5 },
            target_train_accuracy: Some(0.9),
            ..TrainConfig::default()
        };
        assert_eq!(TrainingForm::from_config(&config).build().unwrap(), config);
    }
}
