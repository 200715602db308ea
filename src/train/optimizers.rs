//! The optimisers a run can train with, as data. Each [`OptimizerSpec`] variant carries its
//! own hyperparameters; [`OPTIMIZERS`] lists every optimiser once (name, one-line description,
//! default settings), and the training panel's combo box, `train --optimizer`'s help and the
//! memory estimate all read that list. The learning rate, its schedule and the weight decay
//! belong to the run ([`TrainConfig`](super::TrainConfig)), not to the optimiser.
//!
//! Adding an optimiser: a variant here (its name in [`OptimizerSpec::name`], its
//! hyperparameters in [`OptimizerSpec::hyperparameters_mut`], its state tensors in
//! [`OptimizerSpec::state_tensors_per_parameter`], its entry in [`OPTIMIZERS`]) and its step in
//! [`optim::optimizer`](super::optim::optimizer). The panel, the command line and saved
//! configs need nothing more.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::config_error::ConfigError;

/// An optimiser and its hyperparameters, saved in `config.json` as
/// `{"kind": "rmsprop", "alpha": 0.99, …}`. Files written before optimisers carried their
/// settings hold a bare name (`"sgd"`); they load as [`StoredOptimizer`](super::config::StoredOptimizer) explains.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerSpec {
    /// Stochastic gradient descent (burn's `Sgd`): with momentum `v ← m·v + 0.9·g` (burn's
    /// dampening of 0.1, which every SGD run of the workbench has used), Nesterov steps along
    /// `g + m·v`.
    Sgd {
        /// Momentum factor in [0, 1); 0 turns momentum off.
        momentum: f64,
        /// Nesterov's look-ahead momentum (needs `momentum > 0`).
        nesterov: bool,
    },
    /// Adam with its weight decay added to the gradient (L2), as PyTorch's `Adam`; one pass per
    /// parameter through [`kernels::adam`](crate::kernels::adam).
    Adam {
        /// Decay of the gradients' running mean.
        beta_1: f64,
        /// Decay of the squared gradients' running mean.
        beta_2: f64,
        /// Added to the denominator's square root.
        eps: f64,
    },
    /// AdamW: Adam with decoupled weight decay (the weights shrink by `lr·λ` each step).
    AdamW {
        /// Decay of the gradients' running mean.
        beta_1: f64,
        /// Decay of the squared gradients' running mean.
        beta_2: f64,
        /// Added to the denominator's square root.
        eps: f64,
    },
    /// RMSprop as PyTorch's: `s ← α·s + (1−α)·g²`, step `lr·g / (√s + ε)` (`s − ḡ²` under the
    /// root when centred; through a momentum buffer when `momentum > 0`), burn's `RmsProp`.
    RmsProp {
        /// Decay of the squared gradients' running mean, in [0, 1).
        alpha: f64,
        /// Added to the denominator's square root.
        eps: f64,
        /// Momentum factor in [0, 1); 0 turns the buffer off.
        momentum: f64,
        /// Divide by the gradients' estimated variance instead of their mean square.
        centered: bool,
    },
}

/// One optimiser as the panel and the command line offer it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimizerInfo {
    /// The name: `--optimizer` value and `config.json`'s `kind`.
    pub name: &'static str,
    /// What the panel's combo box shows.
    pub label: &'static str,
    /// One line on what it does (help text and hover).
    pub about: &'static str,
    /// The settings a new run starts from (PyTorch's defaults, SGD's momentum 0.9).
    pub default: OptimizerSpec,
}

/// Every optimiser, in the order the panel and `--help` list them.
pub const OPTIMIZERS: [OptimizerInfo; 4] = [
    OptimizerInfo {
        name: "adam",
        label: "Adam",
        about: "adaptive moment estimates, weight decay added to the gradient as PyTorch's Adam",
        default: OptimizerSpec::ADAM,
    },
    OptimizerInfo {
        name: "adamw",
        label: "AdamW",
        about: "Adam with decoupled weight decay",
        default: OptimizerSpec::ADAMW,
    },
    OptimizerInfo {
        name: "sgd",
        label: "SGD",
        about: "stochastic gradient descent with (Nesterov) momentum",
        default: OptimizerSpec::SGD,
    },
    OptimizerInfo {
        name: "rmsprop",
        label: "RMSprop",
        about: "steps scaled by a running RMS of the gradients; optional momentum and centring",
        default: OptimizerSpec::RMSPROP,
    },
];

/// What one hyperparameter is; shared by the optimisers that have it.
#[derive(Debug, PartialEq)]
pub struct HyperInfo {
    /// Its key: the `config.json` field, the form field, `--opt KEY=VALUE`.
    pub key: &'static str,
    /// What the panel shows.
    pub label: &'static str,
    /// Hover text.
    pub help: &'static str,
    /// The values it may take.
    pub bounds: Bounds,
}

/// The values a numeric hyperparameter may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounds {
    /// A decay or momentum factor: [0, 1).
    Factor,
    /// A finite number above zero.
    Positive,
    /// A switch: true or false.
    Switch,
}

static MOMENTUM: HyperInfo = HyperInfo {
    key: "momentum",
    label: "Momentum",
    help: "Momentum factor in [0, 1); 0 = none",
    bounds: Bounds::Factor,
};
static NESTEROV: HyperInfo = HyperInfo {
    key: "nesterov",
    label: "Nesterov momentum",
    help: "Step along the look-ahead gradient (needs momentum > 0)",
    bounds: Bounds::Switch,
};
static BETA_1: HyperInfo = HyperInfo {
    key: "beta_1",
    label: "β₁",
    help: "Decay of the gradients' running mean, in [0, 1) (0.9)",
    bounds: Bounds::Factor,
};
static BETA_2: HyperInfo = HyperInfo {
    key: "beta_2",
    label: "β₂",
    help: "Decay of the squared gradients' running mean, in [0, 1) (0.999)",
    bounds: Bounds::Factor,
};
static EPS: HyperInfo = HyperInfo {
    key: "eps",
    label: "ε",
    help: "Added to the denominator for stability, > 0 (1e-8)",
    bounds: Bounds::Positive,
};
static ALPHA: HyperInfo = HyperInfo {
    key: "alpha",
    label: "α (smoothing)",
    help: "Decay of the squared gradients' running mean, in [0, 1) (0.99)",
    bounds: Bounds::Factor,
};
static CENTERED: HyperInfo = HyperInfo {
    key: "centered",
    label: "Centered",
    help: "Divide by the gradients' estimated variance instead of their mean square",
    bounds: Bounds::Switch,
};

/// One hyperparameter of an optimiser, borrowed for reading or editing.
#[derive(Debug)]
pub enum Hyper<'a> {
    /// A number.
    Number(&'static HyperInfo, &'a mut f64),
    /// A switch.
    Flag(&'static HyperInfo, &'a mut bool),
}

impl Hyper<'_> {
    /// What it is.
    pub fn info(&self) -> &'static HyperInfo {
        match self {
            Hyper::Number(info, _) | Hyper::Flag(info, _) => info,
        }
    }

    /// Its value as text: a number as Rust prints it (tiny ones as `1e-8`), a switch as
    /// `true` / `false`. [`Hyper::set_text`] reads it back exactly.
    pub fn text(&self) -> String {
        match self {
            Hyper::Number(_, v) if **v != 0.0 && v.abs() < 1e-4 => format!("{:e}", **v),
            Hyper::Number(_, v) => v.to_string(),
            Hyper::Flag(_, b) => b.to_string(),
        }
    }

    /// Sets it from text; the message when the text is not a number (or `true` / `false`).
    pub fn set_text(&mut self, text: &str) -> Result<(), String> {
        let text = text.trim();
        match self {
            Hyper::Number(info, v) => {
                **v = text
                    .parse()
                    .map_err(|_| format!("{} must be a number, got '{text}'", info.key))?;
            }
            Hyper::Flag(info, b) => {
                **b = match text.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" | "1" => true,
                    "false" | "no" | "off" | "0" => false,
                    _ => return Err(format!("{} must be true or false, got '{text}'", info.key)),
                };
            }
        }
        Ok(())
    }
}

impl OptimizerSpec {
    /// Adam with PyTorch's defaults (β₁ 0.9, β₂ 0.999, ε 1e-8).
    pub const ADAM: Self = Self::Adam {
        beta_1: 0.9,
        beta_2: 0.999,
        eps: 1e-8,
    };
    /// AdamW with PyTorch's defaults (β₁ 0.9, β₂ 0.999, ε 1e-8).
    pub const ADAMW: Self = Self::AdamW {
        beta_1: 0.9,
        beta_2: 0.999,
        eps: 1e-8,
    };
    /// SGD with momentum 0.9, the workbench's default since its first version.
    pub const SGD: Self = Self::Sgd {
        momentum: 0.9,
        nesterov: false,
    };
    /// RMSprop with PyTorch's defaults (α 0.99, ε 1e-8, no momentum, not centred).
    pub const RMSPROP: Self = Self::RmsProp {
        alpha: 0.99,
        eps: 1e-8,
        momentum: 0.0,
        centered: false,
    };

    /// The name (`--optimizer`, `config.json`'s `kind`, [`OptimizerInfo::name`]).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sgd { .. } => "sgd",
            Self::Adam { .. } => "adam",
            Self::AdamW { .. } => "adamw",
            Self::RmsProp { .. } => "rmsprop",
        }
    }

    /// What the panel shows for it ("RMSprop").
    pub fn label(&self) -> &'static str {
        OptimizerInfo::find(self.name()).map_or(self.name(), |info| info.label)
    }

    /// The default settings of the optimiser called `name` (any case); the message lists the
    /// names there are.
    pub fn from_name(name: &str) -> Result<Self, String> {
        OptimizerInfo::find(name).map(|info| info.default).ok_or_else(|| {
            format!(
                "unknown optimizer '{}': use {}",
                name.trim(),
                OPTIMIZERS.map(|o| o.name).join(", ")
            )
        })
    }

    /// Every hyperparameter, editable in place, in the order the panel shows them.
    pub fn hyperparameters_mut(&mut self) -> Vec<Hyper<'_>> {
        use Hyper::{Flag, Number};
        match self {
            Self::Sgd { momentum, nesterov } => vec![Number(&MOMENTUM, momentum), Flag(&NESTEROV, nesterov)],
            Self::Adam { beta_1, beta_2, eps } | Self::AdamW { beta_1, beta_2, eps } => {
                vec![
                    Number(&BETA_1, beta_1),
                    Number(&BETA_2, beta_2),
                    Number(&EPS, eps),
                ]
            }
            Self::RmsProp {
                alpha,
                eps,
                momentum,
                centered,
            } => vec![
                Number(&ALPHA, alpha),
                Number(&EPS, eps),
                Number(&MOMENTUM, momentum),
                Flag(&CENTERED, centered),
            ],
        }
    }

    /// Every hyperparameter and its value as text ([`Hyper::text`]).
    pub fn hyperparameter_texts(&self) -> Vec<(&'static HyperInfo, String)> {
        let mut copy = *self;
        copy.hyperparameters_mut()
            .iter()
            .map(|h| (h.info(), h.text()))
            .collect()
    }

    /// Sets hyperparameter `key` from text. `Ok(false)`: this optimiser has no such setting.
    pub fn set_text(&mut self, key: &str, text: &str) -> Result<bool, String> {
        match self
            .hyperparameters_mut()
            .into_iter()
            .find(|h| h.info().key == key)
        {
            Some(mut h) => h.set_text(text).map(|()| true),
            None => Ok(false),
        }
    }

    /// The momentum factor, for the optimisers that have one.
    pub fn momentum_mut(&mut self) -> Option<&mut f64> {
        self.hyperparameters_mut().into_iter().find_map(|h| match h {
            Hyper::Number(info, v) if info.key == MOMENTUM.key => Some(v),
            _ => None,
        })
    }

    /// Tensors of optimiser state kept per parameter tensor, each the parameter's size: SGD 1
    /// with momentum (its velocity) or 0; Adam and AdamW 2 (both moments); RMSprop 1 (the
    /// squared-gradient average), +1 with momentum (its buffer), +2 centred (the gradient
    /// average, and the centred denominator burn's `RmsProp` keeps in its state as well).
    pub fn state_tensors_per_parameter(&self) -> u64 {
        match *self {
            Self::Sgd { momentum, .. } => u64::from(momentum > 0.0),
            Self::Adam { .. } | Self::AdamW { .. } => 2,
            Self::RmsProp {
                momentum, centered, ..
            } => 1 + u64::from(momentum > 0.0) + 2 * u64::from(centered),
        }
    }

    /// Checks every hyperparameter against its [`Bounds`] (and Nesterov against a zero
    /// momentum); the first problem, named by the hyperparameter's key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut copy = *self;
        for h in copy.hyperparameters_mut() {
            let Hyper::Number(info, v) = h else { continue };
            let (ok, allowed) = match info.bounds {
                Bounds::Factor => ((0.0..1.0).contains(v), "be in [0, 1)"),
                Bounds::Positive => (v.is_finite() && *v > 0.0, "be a positive number"),
                Bounds::Switch => (true, ""),
            };
            if !ok {
                return Err(ConfigError {
                    field: info.key,
                    message: format!("{} must {allowed}, got {v}", info.key),
                });
            }
        }
        if let Self::Sgd {
            momentum,
            nesterov: true,
        } = *self
            && momentum == 0.0
        {
            return Err(ConfigError {
                field: NESTEROV.key,
                message: "Nesterov momentum needs a momentum above 0".into(),
            });
        }
        Ok(())
    }
}

impl Default for OptimizerSpec {
    /// Adam, the workbench's default optimiser.
    fn default() -> Self {
        Self::ADAM
    }
}

impl std::str::FromStr for OptimizerSpec {
    type Err = String;
    /// The default settings of the named optimiser ([`OptimizerSpec::from_name`]).
    fn from_str(s: &str) -> Result<Self, String> {
        Self::from_name(s)
    }
}

impl fmt::Display for OptimizerSpec {
    /// The name and every hyperparameter: `rmsprop (alpha 0.99, eps 1e-8, …)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings: Vec<String> = self
            .hyperparameter_texts()
            .into_iter()
            .map(|(info, text)| format!("{} {text}", info.key))
            .collect();
        write!(f, "{} ({})", self.name(), settings.join(", "))
    }
}

impl OptimizerInfo {
    /// The optimiser called `name` (any case, surrounding blanks ignored).
    pub fn find(name: &str) -> Option<&'static OptimizerInfo> {
        OPTIMIZERS
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(name.trim()))
    }
}

/// The text of `train --optimizer`'s help, from [`OPTIMIZERS`].
pub fn optimizer_help() -> String {
    let names: Vec<String> = OPTIMIZERS
        .iter()
        .map(|o| format!("{}: {}", o.name, o.about))
        .collect();
    format!("Optimiser [default: adam]. {}", names.join("; "))
}

/// The text of `train --opt`'s help: every optimiser's keys, from [`OPTIMIZERS`].
pub fn settings_help() -> String {
    let per_optimizer: Vec<String> = OPTIMIZERS
        .iter()
        .map(|o| {
            let keys: Vec<String> = o
                .default
                .hyperparameter_texts()
                .into_iter()
                .map(|(info, text)| format!("{}={text}", info.key))
                .collect();
            format!("{}: {}", o.name, keys.join(", "))
        })
        .collect();
    format!(
        "An optimiser setting, KEY=VALUE, repeatable; the keys and their defaults: {}",
        per_optimizer.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_optimizer_is_named_as_its_variant_and_serialised_kind() {
        for info in OPTIMIZERS {
            assert_eq!(info.default.name(), info.name);
            let json = serde_json::to_value(info.default).unwrap();
            assert_eq!(json["kind"], info.name, "{json}");
            let back: OptimizerSpec = serde_json::from_value(json).unwrap();
            assert_eq!(back, info.default);
            assert_eq!(info.default.validate(), Ok(()), "{}", info.name);
            assert_eq!(info.name.parse::<OptimizerSpec>(), Ok(info.default));
        }
        assert_eq!("RMSprop".parse::<OptimizerSpec>(), Ok(OptimizerSpec::RMSPROP));
        let err = "lbfgs".parse::<OptimizerSpec>().unwrap_err();
        assert!(err.contains("adam, adamw, sgd, rmsprop"), "{err}");
    }

    #[test]
    fn hyperparameters_read_and_write_as_text() {
        let mut spec = OptimizerSpec::RMSPROP;
        assert_eq!(spec.set_text("alpha", "0.9"), Ok(true));
        assert_eq!(spec.set_text("centered", "true"), Ok(true));
        assert_eq!(spec.set_text("beta_1", "0.5"), Ok(false), "RMSprop has no β₁");
        assert!(
            spec.set_text("eps", "tiny")
                .unwrap_err()
                .contains("eps must be a number")
        );
        let texts: Vec<(&str, String)> = spec
            .hyperparameter_texts()
            .into_iter()
            .map(|(i, t)| (i.key, t))
            .collect();
        assert_eq!(
            texts,
            [
                ("alpha", "0.9".to_string()),
                ("eps", "1e-8".into()),
                ("momentum", "0".into()),
                ("centered", "true".into())
            ]
        );
        assert_eq!(
            spec.to_string(),
            "rmsprop (alpha 0.9, eps 1e-8, momentum 0, centered true)"
        );
    }

    #[test]
    fn out_of_range_settings_are_named() {
        let mut sgd = OptimizerSpec::SGD;
        *sgd.momentum_mut().unwrap() = 1.0;
        assert_eq!(sgd.validate().unwrap_err().field, "momentum");
        let nesterov_without_momentum = OptimizerSpec::Sgd {
            momentum: 0.0,
            nesterov: true,
        };
        assert_eq!(
            nesterov_without_momentum.validate().unwrap_err().field,
            "nesterov"
        );
        let adam = OptimizerSpec::Adam {
            beta_1: 0.9,
            beta_2: 0.999,
            eps: 0.0,
        };
        assert_eq!(adam.validate().unwrap_err().field, "eps");
        let mut adam = OptimizerSpec::ADAM;
        assert!(adam.momentum_mut().is_none());
    }

    #[test]
    fn state_tensors_follow_the_settings() {
        let rms = |momentum, centered| OptimizerSpec::RmsProp {
            alpha: 0.99,
            eps: 1e-8,
            momentum,
            centered,
        };
        let sgd = |momentum| OptimizerSpec::Sgd {
            momentum,
            nesterov: false,
        };
        let counts = [
            sgd(0.0),
            sgd(0.9),
            OptimizerSpec::ADAM,
            OptimizerSpec::ADAMW,
            rms(0.0, false),
            rms(0.9, false),
            rms(0.9, true),
        ]
        .map(|s| s.state_tensors_per_parameter());
        assert_eq!(counts, [0, 1, 2, 2, 1, 2, 4]);
    }
}
