//! Training dashboard: live loss (raw and smoothed), accuracy, test loss and learning rate,
//! with hover values, steps, epochs or seconds on x, overlays of other runs' whole step
//! curves, throughput and ETA.
//! Long series are decimated to a few thousand points so software rendering stays fast.

use egui_plot::{Legend, Line, PlotPoints, Points};
use serde::{Deserialize, Serialize};

use super::Panel;
use crate::train::EpochMetrics;
use crate::train::history::{RunHistory, RunPhase, StepPoint, decimate, smoothed};
use crate::ui::layout::PanelKind;
use crate::ui::palette::{
    BATCH_ACCURACY, COMPARED_RUNS, LEARNING_RATE, RAW_LOSS, TEST_SERIES, TRAIN_EPOCH, TRAIN_SERIES,
};
use crate::ui::widgets::format_duration;
use crate::ui::workbench::Workbench;

/// Most points drawn per line.
pub const MAX_LINE_POINTS: usize = 1_500;

/// What the x axis of the dashboard's plots counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum XAxis {
    /// Optimiser steps.
    #[default]
    Steps,
    /// Epochs (fractional within an epoch).
    Epochs,
    /// Seconds since the run started.
    WallTime,
}

impl XAxis {
    fn label(self) -> &'static str {
        match self {
            XAxis::Steps => "step",
            XAxis::Epochs => "epoch",
            XAxis::WallTime => "seconds",
        }
    }
}

/// The dashboard's view settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DashboardSettings {
    /// Smoothing weight of the loss curve (0 = raw).
    pub smoothing: f64,
    /// What the x axis counts: epochs or optimiser steps.
    pub x_axis: XAxis,
    /// Show the raw loss under the smoothed one.
    pub show_raw: bool,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        Self {
            smoothing: 0.9,
            x_axis: XAxis::Steps,
            show_raw: true,
        }
    }
}

/// The dashboard: its settings and the series drawn from them, rebuilt only when a history
/// grows or a setting changes (not every frame while training).
#[derive(Default)]
pub struct DashboardPanel {
    /// What the charts show (smoothing, x axis, raw loss), saved on exit.
    pub settings: DashboardSettings,
    cache: Option<(SeriesKey, Vec<RunSeries>)>,
}

/// What a cached set of series was computed from.
#[derive(Debug, Clone, PartialEq)]
struct SeriesKey {
    runs: Vec<(String, u64, usize, usize)>,
    x_axis: XAxis,
    smoothing_bits: u64,
}

/// One run's plotted series, x already mapped and long lines decimated.
#[derive(Debug, Clone, Default)]
struct RunSeries {
    raw_loss: Vec<[f64; 2]>,
    smooth_loss: Vec<[f64; 2]>,
    train_loss: Vec<[f64; 2]>,
    test_loss: Vec<[f64; 2]>,
    batch_accuracy: Vec<[f64; 2]>,
    train_accuracy: Vec<[f64; 2]>,
    test_accuracy: Vec<[f64; 2]>,
    learning_rate: Vec<[f64; 2]>,
}

/// A per-step series (already decimated).
fn step_line(
    p: &mut egui_plot::PlotUi<'_>,
    name: &str,
    points: &[[f64; 2]],
    color: egui::Color32,
    width: f32,
) {
    p.line(
        Line::new(name, PlotPoints::from(points.to_vec()))
            .color(color)
            .width(width),
    );
}

/// A per-epoch series: a line with a marker on each epoch (one legend entry).
fn epoch_line(p: &mut egui_plot::PlotUi<'_>, name: &str, points: &[[f64; 2]], color: egui::Color32) {
    p.line(Line::new(name, PlotPoints::from(points.to_vec())).color(color));
    p.points(
        Points::new(name, PlotPoints::from(points.to_vec()))
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

impl DashboardSettings {
    fn x_of_step(&self, h: &RunHistory, s: &StepPoint) -> f64 {
        match self.x_axis {
            XAxis::Epochs if h.steps_per_epoch > 0 => s.step as f64 / h.steps_per_epoch as f64,
            XAxis::WallTime => s.wall_secs,
            _ => s.step as f64,
        }
    }

    fn x_of_epoch(&self, h: &RunHistory, m: &EpochMetrics) -> f64 {
        match self.x_axis {
            XAxis::Epochs => m.epoch as f64,
            XAxis::WallTime => m.elapsed_secs,
            XAxis::Steps if h.steps_per_epoch == 0 => m.epoch as f64,
            XAxis::Steps => (m.epoch * h.steps_per_epoch) as f64,
        }
    }

    fn step_series(&self, h: &RunHistory, value: impl Fn(&StepPoint) -> f64) -> Vec<[f64; 2]> {
        h.steps.iter().map(|s| [self.x_of_step(h, s), value(s)]).collect()
    }

    fn epoch_series(&self, h: &RunHistory, value: impl Fn(&EpochMetrics) -> Option<f64>) -> Vec<[f64; 2]> {
        h.epochs
            .iter()
            .filter_map(|m| value(m).map(|v| [self.x_of_epoch(h, m), v]))
            .collect()
    }

    /// Every series of one run.
    fn series(&self, h: &RunHistory) -> RunSeries {
        let raw = self.step_series(h, |s| s.loss);
        let smooth_loss = decimate(&smoothed_points(&raw, self.smoothing), MAX_LINE_POINTS);
        let batch_accuracy = smoothed_points(&self.step_series(h, |s| s.accuracy), self.smoothing);
        let mut learning_rate = self.step_series(h, |s| s.learning_rate);
        if learning_rate.is_empty() {
            // A run recorded before steps were kept has the rate at each epoch's end only.
            learning_rate = self.epoch_series(h, |m| Some(m.learning_rate));
        }
        RunSeries {
            raw_loss: decimate(&raw, MAX_LINE_POINTS),
            smooth_loss,
            train_loss: self.epoch_series(h, |m| Some(m.train_loss)),
            test_loss: self.epoch_series(h, |m| m.test_loss),
            batch_accuracy: decimate(&batch_accuracy, MAX_LINE_POINTS),
            train_accuracy: self.epoch_series(h, |m| Some(m.train_accuracy)),
            test_accuracy: self.epoch_series(h, |m| m.test_accuracy),
            learning_rate: decimate(&learning_rate, MAX_LINE_POINTS),
        }
    }
}

/// The key of a history as cached: its name, run id and how many steps and epochs it holds.
fn history_key(name: &str, h: &RunHistory) -> (String, u64, usize, usize) {
    (name.to_string(), h.run_id, h.steps.len(), h.epochs.len())
}

impl DashboardPanel {
    /// The series of the current run (first) and each overlay, from the cache when nothing
    /// they depend on changed.
    fn series(
        &mut self,
        current: (&str, &RunHistory),
        overlays: &[crate::ui::workbench::Overlay],
    ) -> &[RunSeries] {
        let mut runs = vec![history_key(current.0, current.1)];
        runs.extend(overlays.iter().map(|o| history_key(&o.label, &o.history)));
        let key = SeriesKey {
            runs,
            x_axis: self.settings.x_axis,
            smoothing_bits: self.settings.smoothing.to_bits(),
        };
        if self.cache.as_ref().is_none_or(|(k, _)| *k != key) {
            let mut all = vec![self.settings.series(current.1)];
            all.extend(overlays.iter().map(|o| self.settings.series(&o.history)));
            self.cache = Some((key, all));
        }
        &self.cache.as_ref().expect("just filled").1
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
            RunPhase::Finished(r) => format!("finished ({r})"),
            RunPhase::Failed(m) => format!("failed: {m}"),
        };
        ui.horizontal_wrapped(|ui| {
            match (&s.run_dir, s.recorded) {
                (Some(dir), true) => {
                    ui.strong(format!("Recorded run {}", crate::run::bundled::display_name(dir)))
                }
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
                crate::ui::widgets::percent_label(ui, "· test accuracy ", acc, 2);
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
        x_axis: XAxis,
        id: &str,
        title: &str,
        height: f32,
        ui: &mut egui::Ui,
        build: impl FnOnce(&mut egui_plot::PlotUi<'_>),
    ) {
        ui.label(egui::RichText::new(title).strong());
        crate::ui::widgets::panel_plot(id, height)
            .legend(Legend::default())
            .x_axis_label(x_axis.label())
            .link_axis(egui::Id::unique("dashboard-x"), [true, false])
            .link_cursor(egui::Id::unique("dashboard-x"), [true, false])
            .show(ui, build);
    }
}

impl Panel for DashboardPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Dashboard
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        if wb.training.is_none() && wb.overlays.is_empty() {
            first_run_ui(ui, wb);
            return;
        }
        if crate::ui::tours::offers_start_here(wb) {
            crate::ui::tours::start_here_ui(ui, wb);
            ui.add_space(4.0);
        }
        self.status_ui(ui, wb);
        let settings = &mut self.settings;
        ui.horizontal(|ui| {
            ui.label("x axis:");
            ui.selectable_value(&mut settings.x_axis, XAxis::Steps, "steps");
            ui.selectable_value(&mut settings.x_axis, XAxis::Epochs, "epochs");
            ui.selectable_value(&mut settings.x_axis, XAxis::WallTime, "time")
                .on_hover_text("Seconds since the run started");
            ui.separator();
            let l = ui.label("Smoothing");
            ui.add(egui::Slider::new(&mut settings.smoothing, 0.0..=0.99))
                .labelled_by(l.id)
                .on_hover_text("Exponential moving average of the step loss and batch accuracy (0 = raw)");
            ui.checkbox(&mut settings.show_raw, "raw");
        });
        let height = ((ui.available_height() - 90.0) / 3.0).clamp(110.0, 260.0);
        let (x_axis, show_raw) = (self.settings.x_axis, self.settings.show_raw);
        let empty = RunHistory::new(0, 0);
        let (name, h) = wb.training.as_ref().map_or((String::new(), &empty), |s| {
            let name = s
                .run_dir
                .as_ref()
                .map_or_else(String::new, |d| d.display().to_string());
            (name, &s.history)
        });
        let overlays = &wb.overlays;
        let all = self.series((&name, h), overlays);
        let (run, others) = all.split_first().expect("the current run's series");
        let overlay = |i: usize| (overlays[i].label.as_str(), COMPARED_RUNS[i % COMPARED_RUNS.len()]);

        Self::plot(x_axis, "loss", "Training loss", height, ui, |p| {
            if show_raw {
                step_line(p, "loss (raw)", &run.raw_loss, RAW_LOSS, 1.5);
            }
            step_line(p, "loss (smoothed)", &run.smooth_loss, TRAIN_SERIES, 2.0);
            epoch_line(p, "train loss (epoch mean)", &run.train_loss, TRAIN_EPOCH);
            epoch_line(p, "test loss", &run.test_loss, TEST_SERIES);
            for (i, o) in others.iter().enumerate() {
                let (label, colour) = overlay(i);
                // Whole step curves where the run kept them, else its epoch means.
                let (points, what) = if o.smooth_loss.is_empty() {
                    (&o.train_loss, "train loss")
                } else {
                    (&o.smooth_loss, "loss, smoothed")
                };
                step_line(p, &format!("{label} ({what})"), points, colour, 1.5);
            }
        });

        Self::plot(x_axis, "accuracy", "Accuracy", height, ui, |p| {
            step_line(
                p,
                "batch accuracy (smoothed)",
                &run.batch_accuracy,
                BATCH_ACCURACY,
                1.5,
            );
            epoch_line(p, "train accuracy", &run.train_accuracy, TRAIN_SERIES);
            epoch_line(p, "test accuracy", &run.test_accuracy, TEST_SERIES);
            for (i, o) in others.iter().enumerate() {
                let (label, colour) = overlay(i);
                if !o.batch_accuracy.is_empty() {
                    step_line(
                        p,
                        &format!("{label} (batch accuracy)"),
                        &o.batch_accuracy,
                        colour,
                        1.0,
                    );
                }
                epoch_line(p, &format!("{label} (test)"), &o.test_accuracy, colour);
            }
        });

        Self::plot(x_axis, "lr", "Learning rate", height * 0.7, ui, |p| {
            step_line(p, "learning rate", &run.learning_rate, LEARNING_RATE, 1.5);
            for (i, o) in others.iter().enumerate() {
                let (label, colour) = overlay(i);
                step_line(p, label, &o.learning_rate, colour, 1.0);
            }
        });
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&self.settings).ok()
    }

    fn load_settings(&mut self, json: &str) {
        if let Ok(s) = serde_json::from_str(json) {
            self.settings = s;
        }
    }
}

/// What the dashboard shows before any run: what it will show and how to get there, instead
/// of three empty charts, and the guided tours.
fn first_run_ui(ui: &mut egui::Ui, wb: &Workbench) {
    ui.add_space(24.0);
    ui.vertical_centered(|ui| {
        ui.heading("No training run yet");
        ui.add_space(8.0);
        let keys = |s: &egui::KeyboardShortcut| ui.ctx().format_shortcut(s);
        let (start, open_run) = (keys(&crate::ui::app::START), keys(&crate::ui::app::OPEN_RUN));
        ui.label(format!(
            "Press Start in Model & training ({start}) to train the model set up there."
        ));
        ui.label("Its loss, accuracy and learning rate appear here at every step.");
        ui.add_space(6.0);
        ui.weak(format!(
            "Or open a finished run in Runs ({open_run}), or import a PyTorch model from the File menu."
        ));
        if wb.dataset().is_some_and(|d| !d.source.is_real()) {
            ui.add_space(10.0);
            ui.colored_label(
                ui.visuals().warn_fg_color,
                "The data are synthetic digits, not MNIST: open or download MNIST in Data first.",
            );
        }
        ui.add_space(16.0);
        crate::ui::tours::start_here_ui(ui, wb);
    });
}
