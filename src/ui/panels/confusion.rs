//! Confusion matrix: 10×10 counts with row-normalised shares on the test set, refreshed after
//! every epoch (evaluated on the `mnist-analysis` worker); click a cell for a gallery of
//! exactly those images, click an image to load it into the pad. Per-class precision, recall
//! and F1 below.

use egui::{Sense, vec2};

use super::Panel;
use super::evaluation_status_ui;
use crate::analysis::colormap::{sequential, text_on};
use crate::analysis::confusion::{cell_members, class_scores, row_normalized};
use crate::analysis::worker::TestEvaluation;
use crate::ui::gallery::{Caption, Gallery, key_of, send_to_pad};
use crate::ui::layout::PanelKind;
use crate::ui::palette::rgb;
use crate::ui::workbench::Workbench;

/// What the panel keeps across restarts (a field added later takes its default).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct ConfusionSettings {
    /// Cells show row percentages instead of counts.
    show_percent: bool,
}

/// The Confusion matrix panel.
#[derive(Default)]
pub struct ConfusionPanel {
    /// The selected cell, `(true, predicted)`.
    selected: Option<(u8, u8)>,
    settings: ConfusionSettings,
    gallery: Gallery,
}

impl ConfusionPanel {
    fn matrix_ui(&mut self, ui: &mut egui::Ui, width: f32, confusion: &[[u32; 10]; 10]) {
        let shares = row_normalized(confusion);
        let (label_w, header_h) = (34.0, 20.0);
        let cell = ((width.min(600.0) - label_w - 12.0) / 10.0).clamp(24.0, 54.0);
        let (area, _) = ui.allocate_exact_size(
            vec2(label_w + 10.0 * cell, header_h + 10.0 * cell),
            Sense::hover(),
        );
        let origin = area.min + vec2(label_w, header_h);
        let font = egui::FontId::proportional(12.0);
        let text_color = ui.visuals().text_color();
        for d in 0..10 {
            let painter = ui.painter();
            let x = origin.x + (d as f32 + 0.5) * cell;
            painter.text(
                egui::pos2(x, area.top() + 8.0),
                egui::Align2::CENTER_CENTER,
                d.to_string(),
                font.clone(),
                text_color,
            );
            let y = origin.y + (d as f32 + 0.5) * cell;
            painter.text(
                egui::pos2(area.left() + 14.0, y),
                egui::Align2::CENTER_CENTER,
                d.to_string(),
                font.clone(),
                text_color,
            );
        }
        for t in 0..10u8 {
            for p in 0..10u8 {
                let count = confusion[t as usize][p as usize];
                let share = shares[t as usize][p as usize] as f32;
                let rect = egui::Rect::from_min_size(
                    origin + vec2(p as f32 * cell, t as f32 * cell),
                    vec2(cell, cell),
                );
                let response = ui.interact(
                    rect,
                    ui.make_persistent_id(("confusion-cell", t, p)),
                    Sense::click(),
                );
                let label = format!("true {t} predicted {p}: {count} images");
                response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
                let bg = sequential(share.sqrt());
                let painter = ui.painter();
                painter.rect_filled(rect.shrink(0.5), 0.0, rgb(bg));
                if count > 0 {
                    let text = if self.settings.show_percent {
                        format!("{:.1}", share * 100.0)
                    } else {
                        count.to_string()
                    };
                    painter.text(
                        rect.center(),
                        egui::Align2::CENTER_CENTER,
                        text,
                        egui::FontId::proportional((cell * 0.3).clamp(9.0, 13.0)),
                        rgb(text_on(bg)),
                    );
                }
                if self.selected == Some((t, p)) {
                    painter.rect_stroke(
                        rect,
                        0.0,
                        (2.0, crate::ui::palette::SERIES_ORANGE),
                        egui::StrokeKind::Inside,
                    );
                } else if response.hovered() {
                    painter.rect_stroke(rect, 0.0, ui.visuals().selection.stroke, egui::StrokeKind::Inside);
                }
                let response = response.on_hover_text(format!(
                    "{count} test images of {t} predicted as {p} ({:.1}% of the {t}s). Click to see them.",
                    share * 100.0
                ));
                if response.clicked() {
                    self.selected = Some((t, p));
                }
            }
        }
        ui.horizontal(|ui| {
            ui.add_space(label_w);
            let legend = crate::ui::heatmap::ColorLegend {
                lo: 0.0,
                hi: 100.0,
                caption: "% of the true digit's images (square-root colour scale)",
            };
            let colour = |percent: f64| rgb(sequential(((percent / 100.0) as f32).max(0.0).sqrt()));
            crate::ui::heatmap::color_legend(ui, 10.0 * cell, legend, &colour);
        });
        ui.weak("Rows: true digit · columns: predicted digit");
    }

    fn gallery_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench, eval: &TestEvaluation) {
        let Some((t, p)) = self.selected else {
            ui.weak("Click a cell to see its images.");
            return;
        };
        let members = cell_members(&eval.labels, &eval.report.predictions, t, p);
        ui.separator();
        ui.strong(format!(
            "{} test images of {t} predicted as {p} (click one to load it into the pad)",
            members.len()
        ));
        let Some(data) = wb.dataset().cloned() else { return };
        let shown = &members[..members.len().min(300)];
        if members.len() > shown.len() {
            ui.weak(format!("showing the first {} of {}", shown.len(), members.len()));
        }
        let key = key_of(shown, eval.model_version);
        let clicked = self
            .gallery
            .ui(ui, key, &data.test, shown, 42.0, |i| Caption::prediction(eval, i));
        if let Some(i) = clicked {
            send_to_pad(wb, i, &format!("confusion cell {t} as {p}"));
        }
    }
}

impl Panel for ConfusionPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Confusion
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let Some(eval) = evaluation_status_ui(ui, wb) else {
            return;
        };
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.settings.show_percent, "Row %")
                .on_hover_text("Show each cell as a share of its row instead of a count");
            let confusion = eval.report.confusion;
            crate::ui::export::export_ui(ui, wb, true, move || {
                Some(crate::report::figures::confusion(&confusion))
            });
        });
        let width = ui.available_width();
        egui::ScrollArea::vertical().auto_shrink(false).show(ui, |ui| {
            self.matrix_ui(ui, width, &eval.report.confusion);
            self.gallery_ui(ui, wb, &eval);
            ui.add_space(8.0);
            egui::CollapsingHeader::new("Precision, recall and F1 per digit")
                .default_open(true)
                .show(ui, |ui| {
                    egui::Grid::new("class-scores").striped(true).show(ui, |ui| {
                        for h in ["digit", "precision", "recall", "F1", "images"] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        for s in class_scores(&eval.report.confusion) {
                            ui.label(s.digit.to_string());
                            ui.monospace(format!("{:.4}", s.precision));
                            ui.monospace(format!("{:.4}", s.recall));
                            ui.monospace(format!("{:.4}", s.f1));
                            ui.monospace(s.support.to_string());
                            ui.end_row();
                        }
                    });
                });
        });
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&self.settings).ok()
    }

    fn load_settings(&mut self, json: &str) {
        // Before 2026-12-02 the panel saved the bare bool.
        let legacy = || (json == "true").then_some(ConfusionSettings { show_percent: true });
        if let Some(settings) = serde_json::from_str(json).ok().or_else(legacy) {
            self.settings = settings;
        }
    }
}
