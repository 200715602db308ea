//! Drawing pad: a 28×28 canvas shown large with an MNIST-like soft brush, eraser, row tools
//! (click the margin to fill or erase a row, drag along it for a range), shifts, undo/redo,
//! loading test images, PNG drop; beside it the exact model input, the logits and softmax
//! after every edit, the margin between two chosen classes and its history.
//!
//! The image is the workbench's ([`Workbench::pad`]): this panel keeps only its view (tool,
//! brush size, the classes of the margin) and sends every edit as an [`Action::Pad`]; the
//! forward pass and the logits after each edit are the workbench's results.

use egui::{Color32, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};
use egui_plot::{HLine, Line, PlotPoints};
use serde::{Deserialize, Serialize};

use super::Panel;
use crate::data::{IMAGE_SIDE, NUM_CLASSES};
use crate::pad::Brush;
use crate::rng::Rng;
use crate::train::eval::model_input;
use crate::train::metrics::softmax;
use crate::ui::digit_bars::digit_bars;
use crate::ui::layout::PanelKind;
use crate::ui::palette::{self, class_color};
use crate::ui::widgets::{CachedTexture, grey_image, intensities_to_grey, model_input_to_grey};
use crate::ui::workbench::{Action, PadEdit, Workbench};

/// Settings that survive a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PadSettings {
    /// Brush radius in pixels.
    pub brush_radius: f32,
    /// The class whose margin is shown (default 7)…
    pub class_a: usize,
    /// …against this one (default 1).
    pub class_b: usize,
    /// Row margin fills (true) or erases rows.
    pub rows_fill: bool,
}

impl Default for PadSettings {
    fn default() -> Self {
        Self {
            brush_radius: Brush::default().radius,
            class_a: 7,
            class_b: 1,
            rows_fill: false,
        }
    }
}

/// The Drawing pad panel: the view of [`Workbench::pad`] and its tools.
#[derive(Default)]
pub struct PadPanel {
    settings: PadSettings,
    erasing: bool,
    /// Where the stroke in progress last was (pixel coordinates).
    last_pos: Option<(f32, f32)>,
    row_drag: Option<(usize, usize)>,
    test_index: usize,
    random_digit: usize,
    random_draws: u64,
    canvas_tex: CachedTexture,
    input_tex: CachedTexture,
    error: Option<String>,
    feedback: super::feedback::FeedbackView,
}

impl PadPanel {
    /// logit(class A) − logit(class B) of `logits`.
    fn margin(&self, logits: &[f32; 10]) -> f64 {
        logits[self.settings.class_a] as f64 - logits[self.settings.class_b] as f64
    }

    /// Queues an edit of the pad image (applied after this frame; the next frame shows it).
    fn edit(ui: &egui::Ui, wb: &Workbench, edit: PadEdit) {
        wb.act(Action::Pad(edit));
        ui.ctx().request_repaint();
    }

    fn brush(&self) -> Brush {
        Brush {
            radius: self.settings.brush_radius,
            erase: self.erasing,
            ..Brush::default()
        }
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        ui.horizontal_wrapped(|ui| {
            ui.selectable_value(&mut self.erasing, false, "Brush")
                .on_hover_text("Paint with a soft pen (B)");
            ui.selectable_value(&mut self.erasing, true, "Eraser")
                .on_hover_text("Erase with the same soft pen (E)");
            let l = ui.label("Size");
            ui.add(egui::Slider::new(&mut self.settings.brush_radius, 0.4..=2.5).fixed_decimals(1))
                .labelled_by(l.id)
                .on_hover_text("Radius of the pen's solid core, in pixels");
            if ui
                .button("Clear")
                .on_hover_text("Blank the pad (undoable)")
                .clicked()
            {
                Self::edit(ui, wb, PadEdit::Clear);
            }
            if ui
                .add_enabled(wb.pad.image().can_undo(), egui::Button::new("Undo"))
                .on_hover_text(ui.ctx().format_shortcut(&crate::ui::app::UNDO))
                .clicked()
            {
                Self::edit(ui, wb, PadEdit::Undo);
            }
            if ui
                .add_enabled(wb.pad.image().can_redo(), egui::Button::new("Redo"))
                .on_hover_text(ui.ctx().format_shortcut(&crate::ui::app::REDO))
                .clicked()
            {
                Self::edit(ui, wb, PadEdit::Redo);
            }
        });
        ui.horizontal_wrapped(|ui| {
            ui.label("Shift:");
            for (label, dx, dy, tip) in [
                ("Left", -1, 0, "Shift left one pixel"),
                ("Right", 1, 0, "Shift right one pixel"),
                ("Up", 0, -1, "Shift up one pixel"),
                ("Down", 0, 1, "Shift down one pixel"),
            ] {
                if ui.button(label).on_hover_text(tip).clicked() {
                    Self::edit(ui, wb, PadEdit::Shift { dx, dy });
                }
            }
            ui.separator();
            ui.label("Row margin:");
            ui.selectable_value(&mut self.settings.rows_fill, false, "erases")
                .on_hover_text("Clicking or dragging the margin left of the canvas erases rows");
            ui.selectable_value(&mut self.settings.rows_fill, true, "fills")
                .on_hover_text("Clicking or dragging the margin left of the canvas fills rows");
        });
        let Some(data) = wb.dataset().cloned() else {
            return;
        };
        ui.horizontal_wrapped(|ui| {
            let l = ui.label("Test #");
            let max = data.test.len().saturating_sub(1);
            ui.add(egui::DragValue::new(&mut self.test_index).range(0..=max))
                .labelled_by(l.id);
            if ui
                .button("Load")
                .on_hover_text("Load this test image into the pad")
                .clicked()
            {
                load_test(ui, wb, &data.test, self.test_index);
            }
            ui.separator();
            let l = ui.label("Random");
            egui::ComboBox::from_id_salt("random-digit")
                .width(40.0)
                .selected_text(self.random_digit.to_string())
                .show_ui(ui, |ui| {
                    for d in 0..NUM_CLASSES {
                        ui.selectable_value(&mut self.random_digit, d, d.to_string());
                    }
                })
                .response
                .labelled_by(l.id);
            if ui
                .button("Load random")
                .on_hover_text("A random test image of the chosen digit")
                .clicked()
            {
                let candidates: Vec<usize> = (0..data.test.len())
                    .filter(|&i| data.test.labels[i] as usize == self.random_digit)
                    .collect();
                if !candidates.is_empty() {
                    self.random_draws += 1;
                    let mut rng = Rng::derive(self.random_draws, 0x9AD);
                    let pick = candidates[rng.below(candidates.len())];
                    self.test_index = pick;
                    load_test(ui, wb, &data.test, pick);
                }
            }
        });
    }

    /// Right / wrong buttons for the prediction and the drawn-digits tally.
    fn feedback_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let predicted = wb.pad_logits().map(|l| crate::train::metrics::argmax(&l));
        let pixels = wb.pad.pixels().to_vec();
        self.feedback.ui(ui, wb, &pixels, predicted);
        ui.separator();
    }

    /// The margin strip and the canvas; strokes and row fills go to the workbench.
    fn canvas_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench, side: f32) {
        let margin_w = 22.0;
        let (rect, _) = ui.allocate_exact_size(Vec2::new(side + margin_w + 4.0, side), Sense::hover());
        let margin = Rect::from_min_size(rect.min, Vec2::new(margin_w, side));
        let canvas = Rect::from_min_size(rect.min + Vec2::new(margin_w + 4.0, 0.0), Vec2::splat(side));
        let cell = side / IMAGE_SIDE as f32;
        let to_pixel = |p: Pos2| ((p.x - canvas.min.x) / cell, (p.y - canvas.min.y) / cell);
        let row_of = |p: Pos2| (((p.y - margin.min.y) / cell).floor().max(0.0) as usize).min(IMAGE_SIDE - 1);

        // Canvas: strokes.
        let response = ui
            .interact(canvas, ui.scope_id().with("pad-canvas"), Sense::click_and_drag())
            .on_hover_text("Draw with the mouse; the model answers after every edit");
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Canvas, true, "Drawing canvas"));
        let starts = response.drag_started() || response.clicked();
        if starts {
            self.last_pos = response.interact_pointer_pos().map(to_pixel);
        }
        if (response.dragged() || response.clicked())
            && let Some(pos) = response.interact_pointer_pos().map(to_pixel)
        {
            let from = self.last_pos.unwrap_or(pos);
            let brush = self.brush();
            Self::edit(
                ui,
                wb,
                PadEdit::Stroke {
                    from,
                    to: pos,
                    brush,
                    starts,
                },
            );
            self.last_pos = Some(pos);
        }
        if response.drag_stopped() {
            self.last_pos = None;
        }

        // Margin: rows.
        let margin_resp = ui
            .interact(margin, ui.scope_id().with("pad-rows"), Sense::click_and_drag())
            .on_hover_text("Click a row to erase or fill it; drag to select a range of rows");
        margin_resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Canvas, true, "Row margin"));
        if margin_resp.drag_started()
            && let Some(p) = margin_resp.interact_pointer_pos()
        {
            let r = row_of(p);
            self.row_drag = Some((r, r));
        }
        if margin_resp.dragged()
            && let (Some(p), Some((start, _))) = (margin_resp.interact_pointer_pos(), self.row_drag)
        {
            self.row_drag = Some((start, row_of(p)));
        }
        let value = if self.settings.rows_fill { 1.0 } else { 0.0 };
        if margin_resp.drag_stopped()
            && let Some((first, last)) = self.row_drag.take()
        {
            Self::edit(ui, wb, PadEdit::FillRows { first, last, value });
        } else if margin_resp.clicked()
            && let Some(p) = margin_resp.interact_pointer_pos()
        {
            let r = row_of(p);
            Self::edit(
                ui,
                wb,
                PadEdit::FillRows {
                    first: r,
                    last: r,
                    value,
                },
            );
        }

        // Paint.
        let painter = ui.painter_at(rect);
        let image = wb.pad.image();
        let tex = self.canvas_tex.get(ui.ctx(), "pad-canvas", image.revision(), || {
            grey_image(IMAGE_SIDE, IMAGE_SIDE, &intensities_to_grey(image.pixels()))
        });
        painter.image(
            tex.id(),
            canvas,
            Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
            Color32::WHITE,
        );
        let grid = Stroke::new(0.5, palette::PAD_GRID);
        for i in 1..IMAGE_SIDE {
            let y = canvas.min.y + i as f32 * cell;
            painter.hline(canvas.x_range(), y, grid);
        }
        painter.rect_stroke(
            canvas,
            0.0,
            Stroke::new(1.0, crate::ui::palette::reference_color(ui.visuals())),
            StrokeKind::Outside,
        );
        painter.rect_filled(margin, 2.0, ui.visuals().extreme_bg_color);
        let hover_row = margin_resp.hover_pos().map(row_of);
        for r in 0..IMAGE_SIDE {
            let y0 = margin.min.y + r as f32 * cell;
            let row_rect = Rect::from_min_size(Pos2::new(margin.min.x, y0), Vec2::new(margin_w, cell));
            let selected = self
                .row_drag
                .is_some_and(|(a, b)| (a.min(b)..=a.max(b)).contains(&r));
            if selected || hover_row == Some(r) {
                let c = if self.settings.rows_fill {
                    palette::ROWS_FILL
                } else {
                    palette::ROWS_ERASE
                };
                painter.rect_filled(row_rect, 0.0, c.gamma_multiply(if selected { 0.9 } else { 0.5 }));
            }
            if r % 4 == 0 && cell >= 8.0 {
                painter.text(
                    row_rect.left_center() + Vec2::new(2.0, 0.0),
                    egui::Align2::LEFT_CENTER,
                    r.to_string(),
                    egui::FontId::monospace((cell * 0.8).min(11.0)),
                    ui.visuals().weak_text_color(),
                );
            }
        }
    }

    fn drop_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let hovering = ui.ctx().input(|i| !i.raw.hovered_files.is_empty());
        if hovering {
            ui.colored_label(ui.visuals().hyperlink_color, "Drop a PNG to load it into the pad");
        }
        let dropped: Vec<egui::DroppedFileHandle> = ui.ctx().input(|i| i.raw.dropped_files.clone());
        for file in dropped {
            let path = file.path().to_path_buf();
            if crate::ui::import_dialog::is_checkpoint(&path) {
                continue; // a model to import: the app's import window takes it
            }
            let loaded = crate::preprocess::load_grey(&path)
                .and_then(|(grey, w, h)| crate::preprocess::mnist_style(&grey, w, h));
            match loaded {
                Ok(pixels) => {
                    let caption = format!("dropped {}", path.display());
                    wb.act(Action::ShowInPad { pixels, caption });
                    self.error = None;
                }
                Err(e) => self.error = Some(e.to_string()),
            }
        }
    }

    fn predictions_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let image = wb.pad.image();
        let logits = wb.pad_logits();
        let tex = self
            .input_tex
            .get(ui.ctx(), "pad-model-input", image.revision(), || {
                grey_image(
                    IMAGE_SIDE,
                    IMAGE_SIDE,
                    &model_input_to_grey(&model_input(image.pixels())),
                )
            });
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.small("Model input (28×28, normalised)");
                ui.add(egui::Image::new((tex.id(), Vec2::splat(84.0))))
                    .on_hover_text("Exactly what the network receives: (intensity − 0.1307) / 0.3081");
            });
            ui.vertical(|ui| match (logits, &wb.model) {
                (Some(logits), Some(m)) => {
                    let probs = softmax(&logits);
                    let (best, p) = probs
                        .iter()
                        .enumerate()
                        .fold((0, 0.0f32), |b, (i, &p)| if p > b.1 { (i, p) } else { b });
                    ui.label(
                        egui::RichText::new(format!("Prediction: {best}"))
                            .size(18.0)
                            .strong(),
                    );
                    ui.label(format!("confidence {:.1} %", p * 100.0));
                    ui.small(format!("model: {}", m.source));
                }
                _ => {
                    ui.label("No model yet.");
                    ui.small("Train one (Model & training) or open a run (Runs).");
                }
            });
        });
        let Some(logits) = logits else {
            return;
        };
        let probs = softmax(&logits);
        let predicted = usize::from(crate::train::metrics::argmax(&probs));
        let width = ui.available_width();
        let side_by_side = width >= 330.0;
        let chart = Vec2::new(if side_by_side { width / 2.0 - 6.0 } else { width }, 96.0);
        let logits_ui = |ui: &mut egui::Ui| {
            ui.vertical(|ui| {
                ui.label(egui::RichText::new("Logits").strong());
                digit_bars(ui, &logits, "logit", false, predicted, chart);
            });
        };
        let probabilities_ui = |ui: &mut egui::Ui| {
            ui.vertical(|ui| {
                ui.label(egui::RichText::new("Softmax probabilities").strong());
                digit_bars(ui, &probs, "probability", true, predicted, chart);
            });
        };
        if side_by_side {
            ui.horizontal_top(|ui| {
                logits_ui(ui);
                probabilities_ui(ui);
            });
        } else {
            logits_ui(ui);
            probabilities_ui(ui);
        }

        ui.horizontal(|ui| {
            let l = ui.label("Margin");
            for (id, value) in [
                ("class-a", &mut self.settings.class_a),
                ("class-b", &mut self.settings.class_b),
            ] {
                egui::ComboBox::from_id_salt(id)
                    .width(36.0)
                    .selected_text(value.to_string())
                    .show_ui(ui, |ui| {
                        for d in 0..NUM_CLASSES {
                            ui.selectable_value(value, d, d.to_string());
                        }
                    })
                    .response
                    .labelled_by(l.id);
            }
        });
        let m = self.margin(&logits);
        let (a, b) = (self.settings.class_a, self.settings.class_b);
        let winner = if m >= 0.0 { a } else { b };
        ui.label(
            egui::RichText::new(format!("logit({a}) − logit({b}) = {m:+.2}  ({winner} ahead)"))
                .strong()
                .color(class_color(winner)),
        );
        let history = wb.pad.logit_history().iter();
        let points: Vec<[f64; 2]> = history
            .enumerate()
            .map(|(i, l)| [i as f64, self.margin(l)])
            .collect();
        let reference = crate::ui::palette::reference_color(ui.visuals());
        crate::ui::widgets::panel_plot("pad-margin-history", 70.0)
            .allow_drag(false)
            .allow_zoom(false)
            .show_x(false)
            .show(ui, |p| {
                p.hline(HLine::new("zero", 0.0).color(reference));
                p.line(Line::new("margin per edit", PlotPoints::from(points.clone())).width(1.5));
                p.points(egui_plot::Points::new("margin", PlotPoints::from(points)).radius(2.0));
            });
    }
}

/// Sends test image `index` to the pad (nothing for an index past the end).
fn load_test(ui: &egui::Ui, wb: &Workbench, test: &crate::data::Digits, index: usize) {
    if index < test.len() {
        let pixels = test.intensities(index);
        let caption = format!("test #{index} (label {})", test.labels[index]);
        wb.act(Action::ShowInPad { pixels, caption });
        ui.ctx().request_repaint();
    }
}

/// Height the rest of a narrow pad takes under the canvas: the model input and the
/// prediction, the two charts side by side, the margin row and its history, and the labelled
/// drawings' rows.
const PREDICTIONS_HEIGHT: f32 = 460.0;

impl Panel for PadPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Pad
    }

    fn study(&self) -> Option<&'static str> {
        Some(<crate::study::feedback::Feedback as crate::study::Study>::ID)
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        if !ui.ctx().egui_wants_keyboard_input() {
            if ui.input(|i| i.key_pressed(egui::Key::B) && i.modifiers.is_none()) {
                self.erasing = false;
            }
            if ui.input(|i| i.key_pressed(egui::Key::E) && i.modifiers.is_none()) {
                self.erasing = true;
            }
        }
        self.toolbar_ui(ui, wb);
        self.drop_ui(ui, wb);
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e.to_string());
        }
        let wide = ui.available_width() > 500.0;
        let side = if wide {
            (ui.available_width() * 0.45)
                .min(ui.available_height() - 40.0)
                .clamp(196.0, 392.0)
        } else {
            // Leave room below for the model input, both charts and the margin, so the whole
            // answer is visible without scrolling.
            (ui.available_width() - 30.0)
                .min(ui.available_height() - PREDICTIONS_HEIGHT)
                .clamp(150.0, 392.0)
        };
        let draw = |this: &mut Self, ui: &mut egui::Ui, wb: &Workbench| {
            ui.vertical(|ui| {
                this.canvas_ui(ui, wb, side);
                if !wb.pad.caption().is_empty() {
                    ui.small(wb.pad.caption());
                }
            });
        };
        if wide {
            ui.horizontal_top(|ui| {
                draw(self, ui, wb);
                ui.vertical(|ui| self.predictions_ui(ui, wb));
            });
            self.feedback_ui(ui, wb);
        } else {
            draw(self, ui, wb);
            self.predictions_ui(ui, wb);
            self.feedback_ui(ui, wb);
        }
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&self.settings).ok()
    }

    fn load_settings(&mut self, json: &str) {
        if let Ok(s) = serde_json::from_str::<PadSettings>(json) {
            // Saved settings are user-editable files: a class outside 0-9 keeps the default.
            let defaults = PadSettings::default();
            self.settings = PadSettings {
                class_a: if s.class_a < NUM_CLASSES {
                    s.class_a
                } else {
                    defaults.class_a
                },
                class_b: if s.class_b < NUM_CLASSES {
                    s.class_b
                } else {
                    defaults.class_b
                },
                brush_radius: if (0.4..=2.5).contains(&s.brush_radius) {
                    s.brush_radius
                } else {
                    defaults.brush_radius
                },
                ..s
            };
        }
    }
}
