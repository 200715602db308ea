//! Model & training: the architecture and every training setting as an editable form, with
//! the live parameter count, per-field validation and Start / Pause / Resume / Stop.

use serde::{Deserialize, Serialize};

use super::Panel;
use crate::device::DeviceChoice;
use crate::model::{ModelSpec, PRESET_NAMES, thousands};
use crate::train::{Command, OptimizerKind, Schedule, Subset, TrainConfig};
use crate::ui::layout::PanelKind;
use crate::ui::state::{Action, Workbench};

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

/// The Model & training panel.
#[derive(Default)]
pub struct TrainingPanel {
    form: TrainingForm,
    /// Address, token and Test connection of a remote device.
    pub remote: crate::ui::remote_device::RemoteDeviceUi,
}

impl TrainingPanel {
    /// Chooses the device the next run trains on (what the Device field shows).
    pub fn set_device(&mut self, device: DeviceChoice) {
        if let DeviceChoice::Remote(address) = &device {
            self.remote.address = address.to_string();
        }
        self.form.device = device;
    }
}

/// A labelled one-line text field; marked red with its message when `error` names it.
fn field(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    name: &str,
    error: Option<&FieldError>,
    tip: &str,
) {
    let l = ui.label(label).on_hover_text(tip);
    let bad = error.is_some_and(|e| e.field == name);
    let mut edit = egui::TextEdit::singleline(value).desired_width(120.0);
    if bad {
        edit = edit.text_color(ui.visuals().error_fg_color);
    }
    let r = ui.add(edit).labelled_by(l.id).on_hover_text(tip);
    if bad {
        ui.painter().rect_stroke(
            r.rect.expand(1.0),
            2.0,
            egui::Stroke::new(1.5, ui.visuals().error_fg_color),
            egui::StrokeKind::Outside,
        );
    }
    ui.end_row();
    if let Some(e) = error.filter(|_| bad) {
        ui.label("");
        ui.colored_label(ui.visuals().error_fg_color, e.message.clone());
        ui.end_row();
    }
}

impl TrainingPanel {
    /// The configuration the form describes, or its first problem.
    pub fn config(&self) -> Result<TrainConfig, FieldError> {
        self.form.build()
    }

    fn architecture_ui(&mut self, ui: &mut egui::Ui, error: Option<&FieldError>) {
        let f = &mut self.form;
        ui.horizontal(|ui| {
            let l = ui.label("Preset");
            let current = f.model().ok().and_then(|m| m.preset_name()).unwrap_or("custom");
            egui::ComboBox::from_id_salt("preset")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    for name in PRESET_NAMES {
                        if ui.selectable_label(current == name, name).clicked()
                            && let Some(spec) = ModelSpec::preset(name)
                        {
                            f.set_model(&spec);
                        }
                    }
                })
                .response
                .labelled_by(l.id)
                .on_hover_text("Fill the architecture fields with a named model");
        });
        ui.horizontal(|ui| {
            ui.selectable_value(&mut f.cnn, true, "CNN")
                .on_hover_text("Convolutional network");
            ui.selectable_value(&mut f.cnn, false, "MLP")
                .on_hover_text("Fully connected network");
        });
        egui::Grid::new("arch").num_columns(2).show(ui, |ui| {
            if f.cnn {
                field(
                    ui,
                    "Channels",
                    &mut f.channels,
                    "channels",
                    error,
                    "Channels of each conv block, e.g. 32, 64",
                );
                field(
                    ui,
                    "Kernel size",
                    &mut f.kernel,
                    "kernel",
                    error,
                    "Odd kernel size (3, 5, 7)",
                );
                ui.label("");
                ui.checkbox(&mut f.batch_norm, "Batch norm")
                    .on_hover_text("BatchNorm after every convolution");
                ui.end_row();
                field(
                    ui,
                    "Dense width",
                    &mut f.dense,
                    "dense",
                    error,
                    "Units of the hidden dense layer",
                );
            } else {
                field(
                    ui,
                    "Hidden sizes",
                    &mut f.hidden,
                    "hidden",
                    error,
                    "Widths of the hidden layers, e.g. 128, 64",
                );
            }
            field(
                ui,
                "Dropout",
                &mut f.dropout,
                "dropout",
                error,
                "Dropout probability in [0, 1)",
            );
            if error.is_some_and(|e| e.field == "model") {
                ui.label("");
                ui.colored_label(ui.visuals().error_fg_color, error.unwrap().message.clone());
                ui.end_row();
            }
        });
        match f.model() {
            Ok(spec) => ui
                .label(format!("Parameters: {}", thousands(spec.param_count())))
                .on_hover_text(spec.parameters_text()),
            Err(_) => ui.weak("Parameters: fix the architecture first"),
        };
    }

    fn settings_ui(&mut self, ui: &mut egui::Ui, error: Option<&FieldError>) {
        let f = &mut self.form;
        egui::Grid::new("train-settings").num_columns(2).show(ui, |ui| {
            let l = ui.label("Optimizer");
            egui::ComboBox::from_id_salt("optimizer")
                .selected_text(format!("{:?}", f.optimizer))
                .show_ui(ui, |ui| {
                    for o in [OptimizerKind::Adam, OptimizerKind::AdamW, OptimizerKind::Sgd] {
                        ui.selectable_value(&mut f.optimizer, o, format!("{o:?}"));
                    }
                })
                .response
                .labelled_by(l.id);
            ui.end_row();
            field(
                ui,
                "Learning rate",
                &mut f.lr,
                "lr",
                error,
                "Base learning rate, e.g. 0.001",
            );
            if f.optimizer == OptimizerKind::Sgd {
                field(
                    ui,
                    "Momentum",
                    &mut f.momentum,
                    "momentum",
                    error,
                    "SGD momentum in [0, 1)",
                );
            }
            field(
                ui,
                "Weight decay",
                &mut f.weight_decay,
                "weight-decay",
                error,
                "0 = none",
            );
            let l = ui.label("Schedule");
            egui::ComboBox::from_id_salt("schedule")
                .selected_text(format!("{:?}", f.schedule))
                .show_ui(ui, |ui| {
                    for s in [ScheduleKind::Cosine, ScheduleKind::Constant, ScheduleKind::Step] {
                        ui.selectable_value(&mut f.schedule, s, format!("{s:?}"));
                    }
                })
                .response
                .labelled_by(l.id)
                .on_hover_text("How the learning rate changes over the run");
            ui.end_row();
            if f.schedule == ScheduleKind::Step {
                field(
                    ui,
                    "Decay every (epochs)",
                    &mut f.step_every,
                    "schedule",
                    error,
                    "Epochs between decays",
                );
                field(
                    ui,
                    "Decay factor",
                    &mut f.step_gamma,
                    "schedule",
                    error,
                    "Multiply the rate by this",
                );
            }
            field(
                ui,
                "Batch size",
                &mut f.batch_size,
                "batch-size",
                error,
                "Images per step; ≥ training images = full batch",
            );
            field(
                ui,
                "Epochs",
                &mut f.epochs,
                "epochs",
                error,
                "Passes over the training images",
            );
            ui.label("");
            ui.checkbox(&mut f.use_target, "Stop at training accuracy")
                .on_hover_text("End the run once an epoch's training accuracy reaches the target");
            ui.end_row();
            if f.use_target {
                field(
                    ui,
                    "Target accuracy",
                    &mut f.target,
                    "target-accuracy",
                    error,
                    "In (0, 1], e.g. 0.99",
                );
            }
            ui.label("");
            ui.checkbox(&mut f.augment, "Augment (rotate, shift, scale)")
                .on_hover_text("Random small affine warps of every training image");
            ui.end_row();
            let l = ui.label("Training images");
            egui::ComboBox::from_id_salt("subset")
                .selected_text(match f.subset {
                    SubsetKind::All => "all",
                    SubsetKind::PerDigit => "k per digit",
                    SubsetKind::Fraction => "fraction",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut f.subset, SubsetKind::All, "all");
                    ui.selectable_value(&mut f.subset, SubsetKind::PerDigit, "k per digit");
                    ui.selectable_value(&mut f.subset, SubsetKind::Fraction, "fraction");
                })
                .response
                .labelled_by(l.id);
            ui.end_row();
            match f.subset {
                SubsetKind::All => {}
                SubsetKind::PerDigit => field(
                    ui,
                    "Per digit",
                    &mut f.per_digit,
                    "per-digit",
                    error,
                    "Images of each digit (seeded)",
                ),
                SubsetKind::Fraction => field(
                    ui,
                    "Fraction",
                    &mut f.fraction,
                    "fraction",
                    error,
                    "Share of each digit, in (0, 1]",
                ),
            }
            field(
                ui,
                "Seed",
                &mut f.seed,
                "seed",
                error,
                "Seeds initialisation, shuffling, subsets, dropout",
            );
            let l = ui.label("Device");
            let remote_choice = self.remote.choice().ok();
            egui::ComboBox::from_id_salt("device")
                .selected_text(match &f.device {
                    DeviceChoice::Remote(_) => "remote".to_string(),
                    d => d.to_string(),
                })
                .show_ui(ui, |ui| {
                    for d in [DeviceChoice::Auto, DeviceChoice::Flex, DeviceChoice::Wgpu] {
                        ui.selectable_value(&mut f.device, d.clone(), d.to_string());
                    }
                    let remote = matches!(f.device, DeviceChoice::Remote(_));
                    if ui.selectable_label(remote, "remote").clicked()
                        && let Some(choice) = remote_choice
                    {
                        f.device = choice;
                    }
                })
                .response
                .labelled_by(l.id)
                .on_hover_text(
                    "auto: wgpu on a hardware GPU, else the CPU (flex); remote: a machine running \
                     mnist-workbench serve",
                );
            ui.end_row();
            if let DeviceChoice::Remote(address) = &f.device {
                if self.remote.choice().ok().as_ref() != Some(&f.device) && !self.remote.is_testing() {
                    self.remote.address = address.to_string(); // a saved choice shown in the field
                }
                self.remote.ui(ui, &mut f.device);
            }
        });
    }

    fn controls_ui(
        &mut self,
        ui: &mut egui::Ui,
        wb: &mut Workbench,
        built: &Result<TrainConfig, FieldError>,
    ) {
        let training = wb.is_training();
        let paused = wb.training.as_ref().is_some_and(|s| s.paused);
        let no_data = wb.dataset().is_none();
        let reason = match built {
            _ if training => Some("a run is training".to_string()),
            _ if no_data => Some("no data loaded yet".to_string()),
            Err(e) => Some(e.message.clone()),
            Ok(_) => None,
        };
        ui.horizontal(|ui| {
            let start = ui
                .add_enabled(reason.is_none(), egui::Button::new("Start"))
                .on_hover_text("Start training (Ctrl+Enter)");
            if start.clicked()
                && let Ok(config) = built
            {
                wb.act(Action::StartTraining(config.clone()));
            }
            if paused {
                if ui
                    .add_enabled(training, egui::Button::new("Resume"))
                    .on_hover_text("Continue training")
                    .clicked()
                {
                    wb.act(Action::Training(Command::Resume));
                }
            } else if ui
                .add_enabled(training, egui::Button::new("Pause"))
                .on_hover_text("Hold before the next batch")
                .clicked()
            {
                wb.act(Action::Training(Command::Pause));
            }
            if ui
                .add_enabled(training, egui::Button::new("Stop"))
                .on_hover_text("Stop after the current batch; the last epoch's checkpoint stays")
                .clicked()
            {
                wb.act(Action::Training(Command::Stop));
            }
        });
        if let Some(reason) = reason {
            let color = if built.is_err() {
                ui.visuals().error_fg_color
            } else {
                ui.visuals().weak_text_color()
            };
            ui.colored_label(color, format!("Start is disabled: {reason}"));
        }
    }
}

impl Panel for TrainingPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Training
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &mut Workbench) {
        let built = self.form.build();
        let error = built.as_ref().err().cloned();
        ui.heading("Model");
        self.architecture_ui(ui, error.as_ref());
        ui.separator();
        ui.heading("Training");
        self.settings_ui(ui, error.as_ref());
        ui.separator();
        // Re-validate after this frame's edits so the buttons reflect what is shown.
        let built = self.form.build();
        self.controls_ui(ui, wb, &built);
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&self.form).ok()
    }

    fn load_settings(&mut self, json: &str) {
        if let Ok(form) = serde_json::from_str(json) {
            self.form = form;
        }
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

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
