//! Model & training: the architecture and every training setting as an editable form, with
//! the live parameter count, per-field validation and Start / Pause / Resume / Stop.

use super::Panel;
use super::training_form::{FieldError, ScheduleKind, SubsetKind, TrainingForm};
use crate::device::DeviceChoice;
use crate::model::{ModelSpec, PRESET_NAMES, thousands};
use crate::train::optimizers::Bounds;
use crate::train::{Command, OPTIMIZERS, OptimizerInfo, TrainConfig};
use crate::ui::layout::PanelKind;
use crate::ui::remote_device::RemoteDeviceUi;
use crate::ui::workbench::{Action, Workbench};

/// The Model & training panel.
#[derive(Default)]
pub struct TrainingPanel {
    form: TrainingForm,
    /// Address, token and Test connection of a remote device.
    remote: RemoteDeviceUi,
    /// The revision of [`Workbench::form_fill`] last adopted.
    filled: u64,
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
        let (f, remote) = (&mut self.form, &mut self.remote);
        egui::Grid::new("train-settings").num_columns(2).show(ui, |ui| {
            optimizer_rows_ui(ui, f, error);
            run_length_rows_ui(ui, f, error);
            training_images_rows_ui(ui, f, error);
            device_rows_ui(ui, f, remote);
        });
    }

    fn controls_ui(
        &mut self,
        ui: &mut egui::Ui,
        wb: &Workbench,
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

    fn logic(&mut self, wb: &Workbench) {
        // A configuration asked in from elsewhere (a sweep's trial) replaces the form, except
        // the device chosen here.
        if let Some((revision, config)) = &wb.form_fill
            && *revision > self.filled
        {
            self.filled = *revision;
            let device = self.form.device.clone();
            self.form = TrainingForm::from_config(config);
            self.form.device = device;
        }
        wb.act(crate::ui::workbench::Action::PublishForm(self.config().map_err(|e| e.message)));
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
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
        if let Some(form) = TrainingForm::from_saved(json) {
            self.form = form;
        }
    }
}

/// Optimizer (from [`OPTIMIZERS`]), learning rate, the optimiser's own settings, weight decay
/// and schedule: rows of the settings grid.
fn optimizer_rows_ui(ui: &mut egui::Ui, f: &mut TrainingForm, error: Option<&FieldError>) {
    let l = ui.label("Optimizer");
    let selected = OptimizerInfo::find(&f.optimizer);
    egui::ComboBox::from_id_salt("optimizer")
        .selected_text(selected.map_or(f.optimizer.clone(), |o| o.label.to_string()))
        .show_ui(ui, |ui| {
            for o in &OPTIMIZERS {
                let on = selected.is_some_and(|s| s.name == o.name);
                if ui.selectable_label(on, o.label).on_hover_text(o.about).clicked() {
                    f.optimizer = o.name.to_string();
                }
            }
        })
        .response
        .labelled_by(l.id)
        .on_hover_text(selected.map_or("unknown optimizer: choose one", |o| o.about));
    ui.end_row();
    field(
        ui,
        "Learning rate",
        &mut f.lr,
        "lr",
        error,
        "Base learning rate, e.g. 0.001",
    );
    for (info, text) in f.optimizer_settings_mut() {
        if info.bounds != Bounds::Switch {
            field(ui, info.label, text, info.key, error, info.help);
            continue;
        }
        let mut on = text.trim() == "true";
        ui.label("");
        if ui
            .checkbox(&mut on, info.label)
            .on_hover_text(info.help)
            .changed()
        {
            *text = on.to_string();
        }
        ui.end_row();
        if let Some(e) = error.filter(|e| e.field == info.key) {
            ui.label("");
            ui.colored_label(ui.visuals().error_fg_color, e.message.clone());
            ui.end_row();
        }
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
}

/// Batch size, epochs, the optional target accuracy and augmentation: rows of the settings grid.
fn run_length_rows_ui(ui: &mut egui::Ui, f: &mut TrainingForm, error: Option<&FieldError>) {
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
}

/// Which training images (all, k per digit, a fraction) and the seed: rows of the settings grid.
fn training_images_rows_ui(ui: &mut egui::Ui, f: &mut TrainingForm, error: Option<&FieldError>) {
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
}

/// The device, and the remote server's rows when it is remote: rows of the settings grid.
fn device_rows_ui(ui: &mut egui::Ui, f: &mut TrainingForm, remote: &mut RemoteDeviceUi) {
    let l = ui.label("Device");
    let remote_choice = remote.choice().ok();
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
        if remote.choice().ok().as_ref() != Some(&f.device) && !remote.is_testing() {
            remote.address = address.to_string(); // a saved choice shown in the field
        }
        remote.ui(ui, &mut f.device);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
