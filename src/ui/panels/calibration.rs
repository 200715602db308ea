//! Calibration: the reliability diagram (10 bins) with its expected calibration error, and
//! confidence histograms of right and wrong predictions (seed S3's confidence analysis).

use egui::Color32;
use egui_plot::{Bar, BarChart, Legend, Line, PlotPoints};

use super::{Panel, evaluation_status_ui};
use crate::analysis::calibration::{confidence_histograms, reliability};
use crate::ui::layout::PanelKind;
use crate::ui::workbench::Workbench;

const GOOD: Color32 = crate::ui::palette::GOOD;
const BAD: Color32 = crate::ui::palette::BAD;

/// The reliability diagram and histograms of one evaluation (kept while it is the one shown).
type Computed = (
    std::sync::Arc<crate::analysis::worker::TestEvaluation>,
    crate::analysis::calibration::Reliability,
    (Vec<usize>, Vec<usize>),
);

/// What the panel keeps across restarts (a field added later takes its default).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct CalibrationSettings {
    /// Histogram bars on a log scale.
    log_counts: bool,
}

/// The Calibration panel: its settings and the bins computed from the current evaluation.
#[derive(Default)]
pub struct CalibrationPanel {
    settings: CalibrationSettings,
    /// Computed once per evaluation, not every frame.
    computed: Option<Computed>,
}

impl Panel for CalibrationPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Calibration
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let Some(eval) = evaluation_status_ui(ui, wb) else {
            return;
        };
        if !self
            .computed
            .as_ref()
            .is_some_and(|(e, _, _)| std::sync::Arc::ptr_eq(e, &eval))
        {
            let correct = eval.correct();
            let conf = &eval.report.confidences;
            let rel = reliability(conf, &correct, 10);
            let histograms = confidence_histograms(conf, &correct, 20);
            self.computed = Some((eval.clone(), rel, histograms));
        }
        let (_, rel, (right, wrong)) = self.computed.clone().expect("just computed");
        ui.horizontal(|ui| {
            ui.strong(format!("Expected calibration error: {:.4}", rel.ece)).on_hover_text(
                "Σ over the 10 bins of (share of images in the bin) × |accuracy − mean confidence|. 0 = confidence means what it says.",
            );
            ui.label(format!(
                "· {} right, {} wrong",
                right.iter().sum::<usize>(),
                wrong.iter().sum::<usize>()
            ));
            ui.checkbox(&mut self.settings.log_counts, "log counts")
                .on_hover_text("Histogram heights as log10(1 + count), so the few mistakes stay visible");
            let e = eval.clone();
            crate::ui::export::export_ui(ui, wb, true, move || Some(crate::report::figures::calibration(&e)));
        });
        let height = (ui.available_height() / 2.0 - 10.0).max(140.0);
        ui.columns(2, |cols| {
            let bars: Vec<Bar> = rel
                .bins
                .iter()
                .map(|b| {
                    Bar::new((b.lower + b.upper) / 2.0, b.accuracy)
                        .width(0.09)
                        .name(format!(
                            "{} images, mean confidence {:.3}",
                            b.count, b.mean_confidence
                        ))
                })
                .collect();
            let reference = crate::ui::palette::reference_color(cols[0].visuals());
            crate::ui::widgets::panel_plot("reliability", height)
                .include_x(0.0)
                .include_x(1.0)
                .include_y(0.0)
                .include_y(1.0)
                .x_axis_label("confidence of the predicted digit")
                .y_axis_label("accuracy")
                .legend(Legend::default())
                .show(&mut cols[0], |plot| {
                    plot.bar_chart(
                        BarChart::new("accuracy per bin", bars).color(crate::ui::palette::SERIES_BLUE),
                    );
                    plot.line(
                        Line::new(
                            "perfect calibration",
                            PlotPoints::from(vec![[0.0, 0.0], [1.0, 1.0]]),
                        )
                        .color(reference),
                    );
                });
            let scale = |n: usize| {
                if self.settings.log_counts {
                    (1.0 + n as f64).log10()
                } else {
                    n as f64
                }
            };
            let hist = |counts: &[usize]| -> Vec<Bar> {
                counts
                    .iter()
                    .enumerate()
                    .map(|(b, &n)| {
                        Bar::new((b as f64 + 0.5) / 20.0, scale(n))
                            .width(0.045)
                            .name(format!("{n} images"))
                    })
                    .collect()
            };
            crate::ui::widgets::panel_plot("confidence-histograms", height)
                .include_x(0.0)
                .include_x(1.0)
                .include_y(0.0)
                .x_axis_label("confidence of the predicted digit")
                .y_axis_label(if self.settings.log_counts {
                    "log10(1 + images)"
                } else {
                    "images"
                })
                .legend(Legend::default())
                .show(&mut cols[1], |plot| {
                    plot.bar_chart(BarChart::new("right", hist(&right)).color(GOOD));
                    plot.bar_chart(BarChart::new("wrong", hist(&wrong)).color(BAD));
                });
        });
        egui::CollapsingHeader::new("Bins").show(ui, |ui| {
            egui::Grid::new("reliability-bins").striped(true).show(ui, |ui| {
                for h in ["confidence", "images", "mean confidence", "accuracy", "gap"] {
                    ui.strong(h);
                }
                ui.end_row();
                for b in &rel.bins {
                    ui.label(format!("{:.1}–{:.1}", b.lower, b.upper));
                    ui.monospace(b.count.to_string());
                    ui.monospace(format!("{:.3}", b.mean_confidence));
                    ui.monospace(format!("{:.3}", b.accuracy));
                    ui.monospace(format!("{:+.3}", b.accuracy - b.mean_confidence));
                    ui.end_row();
                }
            });
        });
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&self.settings).ok()
    }

    fn load_settings(&mut self, json: &str) {
        // Before 2026-12-02 the panel saved the bare bool.
        let legacy = || (json == "true").then_some(CalibrationSettings { log_counts: true });
        if let Some(settings) = serde_json::from_str(json).ok().or_else(legacy) {
            self.settings = settings;
        }
    }
}
