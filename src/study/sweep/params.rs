//! The training settings a sweep can vary (`--param NAME=v1,v2,…` or `NAME=a:b`), each applied
//! to a [`TrainConfig`] by name: one list, [`PARAMS`], read by the parser, the CLI help and
//! the validation.

use serde::{Deserialize, Serialize};

use crate::model::ModelSpec;
use crate::rng::Rng;
use crate::study::StudyError;
use crate::train::{OptimizerSpec, Schedule, TrainConfig};

/// How a parameter's range `a:b` is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Log-uniformly (learning rate, weight decay): both ends above 0.
    Log,
    /// Uniformly.
    Linear,
    /// Uniformly over the integers a..=b.
    Integer,
    /// No range: listed values only (names, true/false).
    Listed,
}

/// A parameter a sweep may vary.
#[derive(Debug, Clone, Copy)]
pub struct ParamInfo {
    /// Its name, as the `train` flag without dashes (`lr`, `batch-size`).
    pub name: &'static str,
    /// How a range is sampled.
    pub scale: Scale,
    /// What it sets.
    pub help: &'static str,
}

/// Every parameter a sweep may vary.
pub const PARAMS: &[ParamInfo] = &[
    ParamInfo { name: "lr", scale: Scale::Log, help: "learning rate" },
    ParamInfo { name: "weight-decay", scale: Scale::Log, help: "weight decay" },
    ParamInfo { name: "batch-size", scale: Scale::Integer, help: "images per batch" },
    ParamInfo { name: "dropout", scale: Scale::Linear, help: "dropout probability of the model" },
    ParamInfo { name: "momentum", scale: Scale::Linear, help: "momentum (SGD, RMSprop)" },
    ParamInfo { name: "optimizer", scale: Scale::Listed, help: "adam, adamw, sgd or rmsprop" },
    ParamInfo { name: "schedule", scale: Scale::Listed, help: "constant, step or cosine" },
    ParamInfo { name: "augment", scale: Scale::Listed, help: "true or false" },
    ParamInfo { name: "model", scale: Scale::Listed, help: "an architecture preset (mlp, tiny-cnn, …)" },
];

/// The values a parameter takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ParamValues {
    /// These values, as written.
    List {
        /// The values.
        values: Vec<String>,
    },
    /// Sampled from `lo` to `hi` (random search only).
    Range {
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
}

/// One swept parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Its name (one of [`PARAMS`]).
    pub name: String,
    /// Its values.
    pub values: ParamValues,
}

fn info(name: &str) -> Result<&'static ParamInfo, StudyError> {
    PARAMS.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
        StudyError::Config(format!("--param {name}: not a sweepable setting; use one of {}", names.join(", ")))
    })
}

impl std::str::FromStr for ParamSpec {
    type Err = String;

    /// `NAME=v1,v2,…` or `NAME=a:b`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (name, values) = text
            .split_once('=')
            .ok_or_else(|| format!("--param {text}: expected NAME=v1,v2 or NAME=a:b, e.g. lr=1e-4,1e-3"))?;
        let name = name.trim().replace('_', "-");
        let values = match values.split_once(':') {
            Some((lo, hi)) => {
                let number = |s: &str| {
                    s.trim().parse::<f64>().map_err(|_| format!("--param {text}: '{s}' is not a number"))
                };
                ParamValues::Range { lo: number(lo)?, hi: number(hi)? }
            }
            None => ParamValues::List {
                values: values.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect(),
            },
        };
        let spec = ParamSpec { name, values };
        spec.validate().map_err(|e| e.to_string())?;
        Ok(spec)
    }
}

impl ParamSpec {
    /// Refuses an unknown name, an empty list, or a range this parameter cannot take.
    pub fn validate(&self) -> Result<(), StudyError> {
        let info = info(&self.name)?;
        let bad = |m: String| Err(StudyError::Config(format!("--param {}: {m}", self.name)));
        match &self.values {
            ParamValues::List { values } if values.is_empty() => bad("give at least one value".into()),
            ParamValues::List { values } if values.len() > 1000 => bad("more than 1000 values".into()),
            ParamValues::List { .. } => Ok(()),
            ParamValues::Range { lo, hi } => {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return bad(format!("range {lo}:{hi}: give two finite numbers, the smaller first"));
                }
                match info.scale {
                    Scale::Listed => bad("takes listed values only, e.g. adam,sgd".into()),
                    Scale::Log if *lo <= 0.0 => bad(format!("range {lo}:{hi} is sampled log-uniformly: both ends above 0")),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Values in a grid (the list), or the two ends of a range (what validation tries).
    pub fn sample_values(&self) -> Vec<String> {
        match &self.values {
            ParamValues::List { values } => values.clone(),
            ParamValues::Range { lo, hi } => vec![number_text(*lo), number_text(*hi)],
        }
    }

    /// Settings a grid has along this parameter.
    pub fn grid_len(&self) -> usize {
        match &self.values {
            ParamValues::List { values } => values.len(),
            ParamValues::Range { .. } => 1,
        }
    }

    /// One random value: a listed one, or a draw from the range (log-uniform for `lr` and
    /// `weight-decay`, whole numbers for `batch-size`, uniform otherwise).
    pub fn sample(&self, rng: &mut Rng) -> String {
        match &self.values {
            ParamValues::List { values } => values[rng.below(values.len())].clone(),
            ParamValues::Range { lo, hi } => {
                let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                let scale = info(&self.name).map_or(Scale::Linear, |i| i.scale);
                match scale {
                    Scale::Log => number_text((lo.ln() + u * (hi.ln() - lo.ln())).exp()),
                    Scale::Integer => {
                        let (lo, hi) = (lo.ceil() as i64, hi.floor() as i64);
                        (lo + (u * (hi - lo + 1) as f64).floor().min((hi - lo) as f64) as i64).to_string()
                    }
                    _ => number_text(lo + u * (hi - lo)),
                }
            }
        }
    }
}

/// A sampled number as short text (4 significant digits).
fn number_text(v: f64) -> String {
    let text = format!("{v:.4e}");
    text.parse::<f64>().map_or(text, |x| format!("{x}"))
}

/// Sets parameter `name` to `value` in `config`, or says why it cannot.
pub fn apply_param(config: &mut TrainConfig, name: &str, value: &str) -> Result<(), StudyError> {
    info(name)?;
    let bad = |why: String| StudyError::Config(format!("--param {name}={value}: {why}"));
    let number = || value.parse::<f64>().map_err(|_| bad("not a number".into()));
    match name {
        "lr" => config.learning_rate = number()?,
        "weight-decay" => config.weight_decay = number()?,
        "batch-size" => config.batch_size = value.parse().map_err(|_| bad("not a whole number".into()))?,
        "dropout" => {
            let p = number()?;
            match &mut config.model {
                ModelSpec::Mlp { dropout, .. } | ModelSpec::Cnn { dropout, .. } => *dropout = p,
            }
        }
        "momentum" => {
            let m = number()?;
            let optimizer = config.optimizer.name();
            *config
                .optimizer
                .momentum_mut()
                .ok_or_else(|| bad(format!("{optimizer} has no momentum (sweep it with sgd or rmsprop)")))? = m;
        }
        "optimizer" => config.optimizer = value.parse::<OptimizerSpec>().map_err(bad)?,
        "schedule" => {
            config.schedule = match value {
                "constant" => Schedule::Constant,
                "step" => Schedule::Step { every_epochs: 1, gamma: 0.7 },
                "cosine" => Schedule::Cosine,
                _ => return Err(bad("use constant, step or cosine".into())),
            }
        }
        "augment" => config.augment = value.parse().map_err(|_| bad("use true or false".into()))?,
        "model" => {
            config.model = ModelSpec::preset(value).ok_or_else(|| {
                bad(format!("not a preset; use one of {}", crate::model::PRESET_NAMES.join(", ")))
            })?
        }
        _ => return Err(bad("not a sweepable setting".into())),
    }
    Ok(())
}
