//! Stability (seed S3, and S1's dropout noise): N passes of the current model over the test
//! set with dropout left on; accuracy per pass as a line and a box plot against S3's
//! "std < 0.5 %", the most unstable images, and for the pad's image the distribution of
//! predicted digits over 100 passes (updated as you draw).

use egui_plot::{Bar, BarChart, BoxElem, BoxPlot, BoxSpread, Line, PlotPoints};

use super::{Panel, study_controls_ui};
use crate::data::NUM_CLASSES;
use crate::ui::gallery::{Caption, Gallery, key_of, send_to_pad};
use crate::ui::layout::PanelKind;
use crate::study::Study as _;
use crate::study::stability::{Stability, StabilityConfig, StabilityResults, five_numbers};
use crate::ui::workbench::pad_votes::PAD_PASSES;
use crate::ui::workbench::studies::StudyRequest;
use crate::ui::workbench::{Action, Workbench};

use crate::ui::palette::SERIES_BLUE as BLUE;

/// The Stability panel: the next test's settings and the unstable images' gallery.
pub struct StabilityPanel {
    config: StabilityConfig,
    /// Model version whose run epochs set the default passes.
    defaults_for: u64,
    gallery: Gallery,
}

impl Default for StabilityPanel {
    fn default() -> Self {
        Self {
            config: StabilityConfig { passes: 10, seed: 1 },
            defaults_for: 0,
            gallery: Gallery::default(),
        }
    }
}

impl Panel for StabilityPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Stability
    }

    fn study(&self) -> Option<&'static str> {
        Some(Stability::ID)
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let version = wb.model.as_ref().map_or(0, |m| m.version);
        if version != self.defaults_for {
            // Seed S3 runs one pass per training epoch.
            self.defaults_for = version;
            if let Some(epochs) = wb.model.as_ref().and_then(|m| m.run_epochs) {
                self.config.passes = epochs.clamp(2, 1000);
            }
        }
        self.controls_ui(ui, wb);
        super::study_devices_ui(ui, wb, Stability::ID);
        // The batches of test images spread over these devices too.
        super::more_devices_ui(ui, wb);
        self.pad_ui(ui, wb);
        ui.separator();
        let Some(loaded) = wb.studies.latest::<Stability>() else {
            ui.label(
                "Runs the test set several times with dropout left on (BatchNorm stays in eval mode). \
                 A stable model's accuracy barely moves: seed S3 expects a standard deviation under 0.5 %.",
            );
            return;
        };
        if loaded.from.model_version != version {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                "These results belong to a model opened earlier.",
            );
        }
        let r = &loaded.results;
        summary_ui(ui, r, loaded.dir.as_deref());
        accuracy_charts_ui(ui, r);
        self.unstable_images_ui(ui, wb, r);
    }
}

impl StabilityPanel {
    /// Run, cancel and progress, the passes and seed, Export.
    fn controls_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        ui.horizontal(|ui| {
            let blocked = if wb.model.is_none() {
                Some("open or train a model first")
            } else if wb.dataset().is_none() {
                Some("no data loaded yet")
            } else {
                None
            };
            if study_controls_ui(ui, wb, Stability::ID, "Run stability test", blocked) {
                wb.act(Action::StartStudy(StudyRequest::new::<Stability>(self.config.clone())));
            }
            ui.label("passes");
            ui.add(egui::DragValue::new(&mut self.config.passes).range(2..=1000))
                .on_hover_text("Passes over the test set with dropout on (seed S3: one per training epoch)");
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.config.seed));
            let results = wb.studies.latest::<Stability>().map(|l| l.results);
            crate::ui::export::export_ui(ui, wb, results.is_some(), move || {
                results.map(|r| crate::study::stability::figure(&r))
            });
        });
    }

    /// The most unstable test images (when the results belong to the data loaded now); a
    /// click sends one to the pad.
    fn unstable_images_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench, r: &StabilityResults) {
        let Some(loaded_data) = &wb.data.loaded else {
            return;
        };
        let data = loaded_data.dataset.clone();
        // The digest computed when the data were loaded (not every frame).
        if r.data.test_digest != loaded_data.test_digest || r.entropy.len() != data.test.len() {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                "Computed on other data; load it to see the images.",
            );
            return;
        }
        ui.strong("Most unstable test images (entropy of the predicted digits over the passes; under each, the most frequent prediction as passes × digit)");
        let indices: Vec<usize> = r.unstable.iter().map(|u| u.index).collect();
        let by_index = |i: usize| r.unstable.iter().find(|u| u.index == i);
        let text_colour = ui.visuals().text_color();
        let caption = |i: usize| {
            let u = by_index(i);
            let top: Vec<String> = u
                .map(|u| {
                    let mut votes: Vec<(usize, usize)> =
                        u.votes.iter().copied().enumerate().filter(|v| v.1 > 0).collect();
                    votes.sort_by_key(|v| std::cmp::Reverse(v.1));
                    votes.iter().take(1).map(|(d, c)| format!("{c}×{d}")).collect()
                })
                .unwrap_or_default();
            Caption {
                text: top.join(" "),
                color: text_colour,
                bar: u.map(|u| (u.entropy / (NUM_CLASSES as f64).log2()) as f32),
            }
        };
        if let Some(i) = self
            .gallery
            .ui(ui, key_of(&indices, 21), &data.test, &indices, 40.0, caption)
        {
            send_to_pad(wb, i, "the stability test's unstable images");
        }
    }
}

/// Mean and spread of the accuracy, seed S3's verdict, what changed with dropout off.
fn summary_ui(ui: &mut egui::Ui, r: &StabilityResults, dir: Option<&std::path::Path>) {
    let passed = r.std_accuracy < 0.005;
    ui.horizontal_wrapped(|ui| {
        ui.strong(format!(
            "{} passes with dropout {:.2}: {} ± {}",
            r.accuracies.len(),
            r.dropout,
            crate::ui::widgets::percent(r.mean_accuracy, 2),
            crate::ui::widgets::percent(r.std_accuracy, 3)
        ));
        let (colour, verdict) = if passed {
            (
                crate::ui::palette::GOOD,
                "std under 0.5 %: stable (seed S3's test passes)",
            )
        } else {
            (
                ui.visuals().error_fg_color,
                "std of 0.5 % or more: unstable by seed S3's test",
            )
        };
        ui.colored_label(colour, verdict);
        ui.label(format!(
            "· dropout off: {} · {} test images changed prediction between passes",
            crate::ui::widgets::percent(r.eval_accuracy, 2),
            r.changed_images
        ));
    });
    for line in crate::experiment::pool::tally_lines(&r.devices) {
        ui.weak(line);
    }
    if let Some(dir) = dir {
        ui.weak(format!("saved in {}", dir.display()));
    }
}

/// Accuracy per pass (against dropout off) and its box plot, side by side.
fn accuracy_charts_ui(ui: &mut egui::Ui, r: &StabilityResults) {
    let pct: Vec<f64> = r.accuracies.iter().map(|a| 100.0 * a).collect();
    ui.columns(2, |cols| {
        let line: Vec<[f64; 2]> = pct
            .iter()
            .enumerate()
            .map(|(i, &a)| [i as f64 + 1.0, a])
            .collect();
        let eval = 100.0 * r.eval_accuracy;
        let n = pct.len() as f64;
        let reference = crate::ui::palette::reference_color(cols[0].visuals());
        crate::ui::widgets::panel_plot("stability-line", 200.0)
            .x_axis_label("pass")
            .y_axis_label("test accuracy (%)")
            .legend(egui_plot::Legend::default())
            .show(&mut cols[0], |plot| {
                plot.line(
                    Line::new("dropout on", PlotPoints::from(line))
                        .width(2.0)
                        .color(BLUE),
                );
                plot.line(
                    Line::new("dropout off", PlotPoints::from(vec![[1.0, eval], [n, eval]]))
                        .color(reference),
                );
            });
        if let Some([min, q1, med, q3, max]) = five_numbers(&pct) {
            let spread = BoxElem::new(0.0, BoxSpread::new(min, q1, med, q3, max)).box_width(0.5);
            crate::ui::widgets::panel_plot("stability-box", 200.0)
                .y_axis_label("test accuracy (%)")
                .show_x(false)
                .show(&mut cols[1], |plot| {
                    plot.box_plot(BoxPlot::new("accuracy over passes", vec![spread]).color(BLUE));
                });
        }
    });
}

impl StabilityPanel {
    /// The pad image's predicted digits over 100 dropout passes.
    fn pad_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        wb.act(crate::ui::workbench::Action::WantPadVotes);
        let Some(votes) = wb.pad_votes() else {
            if wb.pad_votes_pending() {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.weak("100 dropout passes of the pad image…");
                });
            }
            return;
        };
        let Some(shares) = votes.shares else {
            ui.weak("The current model has no dropout, so every pass predicts the same digit.");
            return;
        };
        let best = (0..NUM_CLASSES)
            .max_by(|&a, &b| shares[a].total_cmp(&shares[b]))
            .unwrap_or(0);
        ui.label(format!(
            "Drawing pad image, {PAD_PASSES} dropout passes: {best} in {:.0} % of them",
            100.0 * shares[best]
        ));
        let bars: Vec<Bar> = (0..NUM_CLASSES)
            .map(|d| {
                Bar::new(d as f64, shares[d])
                    .width(0.7)
                    .name(format!("{d}: {:.0} %", 100.0 * shares[d]))
            })
            .collect();
        crate::ui::widgets::panel_plot("stability-pad", 110.0)
            .include_y(0.0)
            .include_y(1.0)
            .include_x(-0.5)
            .include_x(9.5)
            .x_axis_label("predicted digit")
            .y_axis_label("share of passes")
            .allow_drag(false)
            .show(ui, |plot| {
                plot.bar_chart(BarChart::new("share of passes", bars).color(BLUE))
            });
    }
}
