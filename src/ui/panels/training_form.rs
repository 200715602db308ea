//! The Model & training form as typed: strings and choices, so invalid input stays visible
//! until fixed, turned into a checked [`TrainConfig`] (each refusal naming its field) and
//! back. No drawing here; the panel in `training.rs` draws it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::device::DeviceChoice;
use crate::model::ModelSpec;
use crate::train::optimizers::HyperInfo;
use crate::train::{OptimizerSpec, Schedule, Subset, TrainConfig};

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
    /// Optimiser: its name, as `OPTIMIZERS` lists it.
    pub optimizer: String,
    /// Every optimiser's settings as typed, by optimiser name and then setting key (numbers as
    /// text, switches as `true` / `false`): switching optimisers keeps what each was given. A
    /// setting not typed yet is the optimiser's default.
    pub optimizer_settings: BTreeMap<String, BTreeMap<String, String>>,
    /// Learning rate.
    pub lr: String,
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
            optimizer: c.optimizer.name().to_string(),
            optimizer_settings: BTreeMap::from([(
                c.optimizer.name().to_string(),
                c.optimizer
                    .hyperparameter_texts()
                    .into_iter()
                    .map(|(info, text)| (info.key.to_string(), text))
                    .collect(),
            )]),
            lr: c.learning_rate.to_string(),
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

    /// The form as the panel saved it (`json`), or `None` when it is not one. Forms saved
    /// before optimisers carried their own settings held SGD's momentum in a field `momentum`:
    /// it becomes SGD's setting.
    pub fn from_saved(json: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct Before {
            momentum: Option<String>,
        }
        let mut form: Self = serde_json::from_str(json).ok()?;
        if let Ok(Before { momentum: Some(m) }) = serde_json::from_str(json) {
            form.optimizer_settings
                .entry(OptimizerSpec::SGD.name().to_string())
                .or_default()
                .entry("momentum".to_string())
                .or_insert(m);
        }
        Some(form)
    }

    /// The selected optimiser's settings, what each is and its text as typed (the default
    /// until edited); none when the name is unknown.
    pub fn optimizer_settings_mut(&mut self) -> Vec<(&'static HyperInfo, &mut String)> {
        let Ok(defaults) = OptimizerSpec::from_name(&self.optimizer) else {
            return Vec::new();
        };
        let texts = self
            .optimizer_settings
            .entry(defaults.name().to_string())
            .or_default();
        let infos = defaults.hyperparameter_texts();
        for (info, text) in &infos {
            texts.entry(info.key.to_string()).or_insert_with(|| text.clone());
        }
        let mut by_key: BTreeMap<&str, &mut String> =
            texts.iter_mut().map(|(k, v)| (k.as_str(), v)).collect();
        infos
            .iter()
            .filter_map(|(info, _)| by_key.remove(info.key).map(|text| (*info, text)))
            .collect()
    }

    /// The selected optimiser with its settings as typed, or the first that does not parse.
    pub fn optimizer(&self) -> Result<OptimizerSpec, FieldError> {
        let mut spec = OptimizerSpec::from_name(&self.optimizer).map_err(|message| FieldError {
            field: "optimizer",
            message,
        })?;
        if let Some(texts) = self.optimizer_settings.get(spec.name()) {
            for mut h in spec.hyperparameters_mut() {
                if let Some(text) = texts.get(h.info().key) {
                    h.set_text(text).map_err(|message| FieldError {
                        field: h.info().key,
                        message,
                    })?;
                }
            }
        }
        Ok(spec)
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
            learning_rate: float("lr", &self.lr, "learning rate")?,
            optimizer: self.optimizer()?,
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

    /// The form's saved settings as the panel wrote them before optimisers carried their own
    /// settings (every field of that form, SGD chosen with momentum 0.5).
    const SAVED_BEFORE: &str = r#"{"cnn":false,"hidden":"128, 64","channels":"32, 64, 128","kernel":"3",
        "batch_norm":true,"dense":"256","dropout":"0","optimizer":"sgd","lr":"0.01","momentum":"0.5",
        "weight_decay":"0","schedule":"Cosine","step_every":"1","step_gamma":"0.7","batch_size":"64",
        "epochs":"1","use_target":false,"target":"0.99","augment":false,"subset":"All","per_digit":"2",
        "fraction":"0.25","seed":"1","device":"flex"}"#;

    #[test]
    fn settings_saved_before_optimiser_settings_load_with_their_momentum() {
        let form = TrainingForm::from_saved(SAVED_BEFORE).expect("the old form loads");
        let config = form.build().unwrap();
        assert_eq!(
            config.optimizer,
            OptimizerSpec::Sgd {
                momentum: 0.5,
                nesterov: false
            }
        );
        assert_eq!(config.learning_rate, 0.01);
        assert_eq!(config.model, ModelSpec::preset("mlp").unwrap());
        // Saved again and reloaded: the same form.
        let json = serde_json::to_string(&form).unwrap();
        assert_eq!(TrainingForm::from_saved(&json), Some(form));
        assert_eq!(TrainingForm::from_saved("not json"), None);
    }

    #[test]
    fn each_optimiser_keeps_its_own_settings_and_bad_ones_are_named() {
        let mut f = TrainingForm {
            optimizer: "rmsprop".into(),
            ..TrainingForm::default()
        };
        let keys: Vec<&str> = f.optimizer_settings_mut().iter().map(|(i, _)| i.key).collect();
        assert_eq!(keys, ["alpha", "eps", "momentum", "centered"]);
        assert_eq!(f.build().unwrap().optimizer, OptimizerSpec::RMSPROP);
        for (info, text) in f.optimizer_settings_mut() {
            match info.key {
                "momentum" => *text = "0.3".into(),
                "centered" => *text = "true".into(),
                _ => {}
            }
        }
        f.optimizer = "sgd".into();
        assert_eq!(
            f.build().unwrap().optimizer,
            OptimizerSpec::SGD,
            "SGD's own momentum"
        );
        f.optimizer = "rmsprop".into();
        let OptimizerSpec::RmsProp {
            momentum, centered, ..
        } = f.build().unwrap().optimizer
        else {
            panic!("RMSprop")
        };
        assert_eq!((momentum, centered), (0.3, true));
        f.optimizer_settings_mut()[0].1.replace_range(.., "x");
        assert_eq!(f.build().unwrap_err().field, "alpha");
        f.optimizer_settings_mut()[0].1.replace_range(.., "1.5");
        assert_eq!(f.build().unwrap_err().field, "alpha");
        f.optimizer = "adagrad".into();
        assert_eq!(f.build().unwrap_err().field, "optimizer");
        assert!(f.optimizer_settings_mut().is_empty());
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
        for o in crate::train::OPTIMIZERS {
            let config = TrainConfig {
                optimizer: o.default,
                ..config.clone()
            };
            assert_eq!(
                TrainingForm::from_config(&config).build().unwrap(),
                config,
                "{}",
                o.name
            );
        }
        let config = TrainConfig {
            optimizer: OptimizerSpec::RmsProp {
                alpha: 0.95,
                eps: 3e-7,
                momentum: 0.25,
                centered: true,
            },
            ..config
        };
        assert_eq!(TrainingForm::from_config(&config).build().unwrap(), config);
    }
}
