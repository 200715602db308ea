//! Training dashboard: live loss (raw and smoothed), accuracy, test loss and learning rate,
//! with hover values, steps or epochs on x, overlays of earlier runs, throughput and ETA.
//! Long series are decimated to a few thousand points so software rendering stays fast.

use egui_plot::{Legend, Line, Plot, PlotPoints, Points};
use serde::{Deserialize, Serialize};

use super::Panel;
use crate::train::history::{RunHistory, RunPhase, StepPoint, decimate, smoothed};
use crate::ui::layout::PanelKind;
use crate::ui::state::Workbench;
use crate::ui::widgets::format_duration;

/// Most points drawn per line.
pub const MAX_LINE_POINTS: usize = 1_500;

/// The dashboard's view settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DashboardPanel {
    /// Smoothing weight of the loss curve (0 = raw).
    pub smoothing: f64,
    /// Epochs (true) or steps on the x axis.
    pub x_in_epochs: bool,
    /// Show the raw loss under the smoothed one.
    pub show_raw: bool,
}

impl Default for DashboardPanel {
    fn default() -> Self {
        Self {
            smoothing: 0.9,
            x_in_epochs: false,
            show_raw: true,
        }
    }
}

const BLUE: egui::Color32 = egui::Color32::from_rgb(60, 130, 240);
const LIGHT_BLUE: egui::Color32 = egui::Color32::from_rgb(120, 190, 250);
const RAW: egui::Color32 = egui::Color32::from_rgba_premultiplied(35, 53, 81, 90);
const FAINT_BLUE: egui::Color32 = egui::Color32::from_rgba_premultiplied(55, 82, 126, 140);
const ORANGE: egui::Color32 = egui::Color32::from_rgb(230, 120, 40);
const GREEN: egui::Color32 = egui::Color32::from_rgb(120, 180, 90);

/// A per-step series, decimated to [`MAX_LINE_POINTS`].
fn step_line(
    p: &mut egui_plot::PlotUi<'_>,
    name: &str,
    points: &[[f64; 2]],
    color: egui::Color32,
    width: f32,
) {
    p.line(
        Line::new(name, PlotPoints::from(decimate(points, MAX_LINE_POINTS)))
            .color(color)
            .width(width),
    );
}

/// A per-epoch series: a line with a marker on each epoch (one legend entry).
fn epoch_line(p: &mut egui_plot::PlotUi<'_>, name: &str, points: Vec<[f64; 2]>, color: egui::Color32) {
    p.line(Line::new(name, PlotPoints::from(points.clone())).color(color));
    p.points(
        Points::new(name, PlotPoints::from(points))
            .radius(3.0)
            .color(color),
    );
}

/// `points` with their y values smoothed (x unchanged).
fn smoothed_points(points: &[[f64; 2]], weight: f64) -> Vec<[f64; 2]> {
    let ys: Vec<f64> = points.iter().map(|p| p[1]).collect();
    points
        .iter()
        .zip(smoothed(&ys, weight))
        .map(|(p, y)| [p[0], y])
        .collect()
}

const OVERLAY_COLORS: [egui::Color32; 4] = [
    egui::Color32::from_rgb(150, 150, 150),
    egui::Color32::from_rgb(190, 140, 90),
    egui::Color32::from_rgb(120, 170, 120),
    egui::Color32::from_rgb(170, 120, 170),
];

impl DashboardPanel {
    fn x_of_step(&self, h: &RunHistory, step: usize) -> f64 {
        if self.x_in_epochs && h.steps_per_epoch > 0 {
            step as f64 / h.steps_per_epoch as f64
        } else {
            step as f64
        }
    }

    fn x_of_epoch(&self, h: &RunHistory, epoch: usize) -> f64 {
        if self.x_in_epochs || h.steps_per_epoch == 0 {
            epoch as f64
        } else {
            (epoch * h.steps_per_epoch) as f64
        }
    }

    fn step_series(&self, h: &RunHistory, value: impl Fn(&StepPoint) -> f64) -> Vec<[f64; 2]> {
        h.steps
            .iter()
            .map(|s| [self.x_of_step(h, s.step), value(s)])
            .collect()
    }

    fn epoch_series(
        &self,
        h: &RunHistory,
        value: impl Fn(&crate::train::EpochMetrics) -> Option<f64>,
    ) -> Vec<[f64; 2]> {
        h.epochs
            .iter()
            .filter_map(|m| value(m).map(|v| [self.x_of_epoch(h, m.epoch), v]))
            .collect()
    }

    fn status_ui(&self, ui: &mut egui::Ui, wb: &Workbench) {
        let Some(s) = &wb.training else {
            ui.label("No run yet. Set up a model in Model & training and press Start.");
            return;
        };
        let h = &s.history;
        if s.recorded && h.current_step() == 0 && h.epochs.is_empty() {
            let name = s
                .run_dir
                .as_ref()
                .and_then(|d| d.file_name())
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            ui.strong(format!("Run {name}"));
            ui.label(
                "No training curves: this model was not trained here (an imported checkpoint), or its run \
                 stopped before its first step.",
            );
            return;
        }
        let state = match &h.phase {
            RunPhase::Starting if s.recorded => "no record of how it ended".to_string(),
            RunPhase::Starting => "starting…".to_string(),
            RunPhase::Running if s.paused => "paused".to_string(),
            RunPhase::Running => "training".to_string(),
            RunPhase::Finished(r) => format!("finished ({r:?})"),
            RunPhase::Failed(m) => format!("failed: {m}"),
        };
        ui.horizontal_wrapped(|ui| {
            match (&s.run_dir, s.recorded) {
                (Some(dir), true) => ui.strong(format!(
                    "Recorded run {}",
                    dir.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                )),
                _ => ui.strong(format!("Run {}", h.run_id)),
            };
            ui.label(format!("· {state}"));
            let epoch_now = h
                .current_step()
                .saturating_sub(1)
                .checked_div(h.steps_per_epoch)
                .map_or(0, |e| (e + 1).min(h.planned_epochs.max(1)));
            ui.label(format!("· epoch {epoch_now}/{}", h.planned_epochs));
            ui.label(format!("· step {}/{}", h.current_step(), h.total_steps()));
            if h.samples_per_sec > 0.0 {
                ui.label(format!("· {:.0} samples/s", h.samples_per_sec));
            }
            if let Some(eta) = h.eta_secs() {
                ui.label(format!("· ETA {}", format_duration(eta)));
            }
            if let Some(acc) = h.epochs.last().and_then(|m| m.test_accuracy) {
                ui.label(format!("· test accuracy {:.2} %", acc * 100.0));
            }
        });
        if h.total_steps() > 0 && !h.phase.is_over() {
            let frac = h.current_step() as f32 / h.total_steps() as f32;
            ui.add(egui::ProgressBar::new(frac).show_percentage());
        }
        if let RunPhase::Failed(m) = &h.phase {
            ui.colored_label(ui.visuals().error_fg_color, m);
        }
    }

    fn plot(
        &self,
        id: &str,
        title: &str,
        height: f32,
        ui: &mut egui::Ui,
        build: impl FnOnce(&mut egui_plot::PlotUi<'_>),
    ) {
        ui.label(egui::RichText::new(title).strong());
        Plot::new(id)
            .height(height)
            .legend(Legend::default())
            .x_axis_label(if self.x_in_epochs { "epoch" } else { "step" })
            .link_axis(egui::Id::unique("dashboard-x"), [true, false])
            .link_cursor(egui::Id::unique("dashboard-x"), [true, false])
            .allow_scroll(false)
            .show(ui, build);
    }
}

impl Panel for DashboardPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Dashboard
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &mut Workbench) {
        self.status_ui(ui, wb);
        ui.horizontal(|ui| {
            ui.label("x axis:");
            ui.selectable_value(&mut self.x_in_epochs, false, "steps");
            ui.selectable_value(&mut self.x_in_epochs, true, "epochs");
            ui.separator();
            let l = ui.label("Smoothing");
            ui.add(egui::Slider::new(&mut self.smoothing, 0.0..=0.99))
                .labelled_by(l.id)
                .on_hover_text("Exponential moving average of the step loss (0 = raw)");
            ui.checkbox(&mut self.show_raw, "raw");
        });
        let height = ((ui.available_height() - 90.0) / 3.0).clamp(110.0, 260.0);
        let empty = RunHistory::new(0, 0);
        let h = wb.training.as_ref().map_or(&empty, |s| &s.history);
        let overlays = &wb.overlays;

        // Loss per step, raw and smoothed; overlays contribute their per-epoch training loss.
        let raw = self.step_series(h, |s| s.loss);
        let smooth = smoothed_points(&raw, self.smoothing);
        self.plot("loss", "Training loss", height, ui, |p| {
            if self.show_raw {
                step_line(p, "loss (raw)", &raw, RAW, 1.5);
            }
            step_line(p, "loss (smoothed)", &smooth, BLUE, 2.0);
            epoch_line(
                p,
                "train loss (epoch mean)",
                self.epoch_series(h, |m| Some(m.train_loss)),
                LIGHT_BLUE,
            );
            epoch_line(p, "test loss", self.epoch_series(h, |m| m.test_loss), ORANGE);
            for (i, o) in overlays.iter().enumerate() {
                let pts = self.epoch_series(&o.history, |m| Some(m.train_loss));
                p.line(
                    Line::new(format!("{} (train loss)", o.label), PlotPoints::from(pts))
                        .color(OVERLAY_COLORS[i % 4]),
                );
            }
        });

        let batch_acc = smoothed_points(&self.step_series(h, |s| s.accuracy), self.smoothing);
        self.plot("accuracy", "Accuracy", height, ui, |p| {
            step_line(p, "batch accuracy (smoothed)", &batch_acc, FAINT_BLUE, 1.5);
            epoch_line(
                p,
                "train accuracy",
                self.epoch_series(h, |m| Some(m.train_accuracy)),
                BLUE,
            );
            epoch_line(
                p,
                "test accuracy",
                self.epoch_series(h, |m| m.test_accuracy),
                ORANGE,
            );
            for (i, o) in overlays.iter().enumerate() {
                let pts = self.epoch_series(&o.history, |m| m.test_accuracy);
                p.line(
                    Line::new(format!("{} (test)", o.label), PlotPoints::from(pts))
                        .color(OVERLAY_COLORS[i % 4]),
                );
            }
        });

        self.plot("lr", "Learning rate", height * 0.7, ui, |p| {
            let mut lr = self.step_series(h, |s| s.learning_rate);
            if lr.is_empty() {
                // A recorded run has the rate at the end of each epoch only.
                lr = self.epoch_series(h, |m| Some(m.learning_rate));
            }
            step_line(p, "learning rate", &lr, GREEN, 1.5);
        });
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(self).ok()
    }

    fn load_settings(&mut self, json: &str) {
        if let Ok(s) = serde_json::from_str(json) {
            *self = s;
        }
    }
}
