//! A clickable grid of test images with a caption and an optional confidence bar under each,
//! drawn from one texture atlas (uploaded once per content, updated with `set`). Each tile is
//! an AccessKit button labelled `test image #<index>`, so tests click it like a user would.

use egui::{Color32, Rect, Sense, Vec2, pos2, vec2};

use super::widgets::{CachedTexture, grey_image};
use crate::analysis::pixels::atlas;
use crate::data::{Digits, IMAGE_SIDE};

/// What to write under one image.
pub struct Caption {
    /// The text, one line (e.g. `7 → 2`).
    pub text: String,
    /// Its colour (right or wrong, from [`palette`](super::palette)).
    pub color: Color32,
    /// A bar of this length (0-1) under the text, e.g. the confidence.
    pub bar: Option<f32>,
}

impl Caption {
    /// "true as predicted NN%" in green (right) or red (wrong), with a confidence bar.
    pub fn prediction(eval: &crate::analysis::worker::TestEvaluation, index: usize) -> Self {
        let (label, predicted) = (eval.labels[index], eval.report.predictions[index]);
        let confidence = eval.report.confidences[index];
        Caption {
            text: format!("{label} as {predicted} {:.0}%", confidence * 100.0),
            color: if label == predicted {
                crate::ui::palette::GOOD
            } else {
                crate::ui::palette::BAD
            },
            bar: Some(confidence),
        }
    }
}

/// A gallery of test images; keeps its texture between frames.
#[derive(Default)]
pub struct Gallery {
    texture: CachedTexture,
    /// What a tile is called (`test image` unless set with [`Gallery::of`]).
    noun: Option<&'static str>,
}

/// Columns of the atlas texture (tiles are laid out on screen independently).
const ATLAS_COLS: usize = 20;

impl Gallery {
    /// A gallery whose tiles are called `<noun> #<index>` (e.g. `training image`).
    pub fn of(noun: &'static str) -> Self {
        Self {
            noun: Some(noun),
            ..Self::default()
        }
    }

    /// Draws `indices` of `images` as tiles `tile` points wide, wrapping to the available
    /// width, and returns the index of the image clicked this frame. `key` must change
    /// whenever `indices` or the images change.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        key: u64,
        images: &Digits,
        indices: &[usize],
        tile: f32,
        caption: impl Fn(usize) -> Caption,
    ) -> Option<usize> {
        if indices.is_empty() {
            return None;
        }
        let tex = self.texture.get(ui.ctx(), "gallery", key, || {
            let tiles: Vec<&[u8]> = indices.iter().map(|&i| images.image(i)).collect();
            let (w, h, bytes) = atlas(&tiles, IMAGE_SIDE, ATLAS_COLS, 0);
            grey_image(w, h, &bytes)
        });
        let (tex_id, tex_size) = (tex.id(), tex.size_vec2());
        let cell = vec2(tile + 8.0, tile + 30.0);
        let cols = ((ui.available_width() / cell.x).floor() as usize).max(1);
        let mut clicked = None;
        for row in indices.chunks(cols).enumerate() {
            let (r, chunk) = row;
            ui.horizontal(|ui| {
                for (c, &index) in chunk.iter().enumerate() {
                    let n = r * cols + c;
                    let (rect, response) = ui.allocate_exact_size(cell, Sense::click());
                    let label = format!("{} #{index}", self.noun.unwrap_or("test image"));
                    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
                    let uv_min = vec2(
                        ((n % ATLAS_COLS) * IMAGE_SIDE) as f32 / tex_size.x,
                        ((n / ATLAS_COLS) * IMAGE_SIDE) as f32 / tex_size.y,
                    );
                    let uv_size = Vec2::splat(IMAGE_SIDE as f32) / tex_size;
                    let img_rect = Rect::from_min_size(rect.min + vec2(4.0, 2.0), Vec2::splat(tile));
                    let painter = ui.painter();
                    painter.image(
                        tex_id,
                        img_rect,
                        Rect::from_min_size(uv_min.to_pos2(), uv_size),
                        Color32::WHITE,
                    );
                    if response.hovered() {
                        painter.rect_stroke(
                            img_rect.expand(1.0),
                            2.0,
                            ui.visuals().selection.stroke,
                            egui::StrokeKind::Outside,
                        );
                    }
                    let cap = caption(index);
                    painter.text(
                        pos2(img_rect.center().x, img_rect.bottom() + 9.0),
                        egui::Align2::CENTER_CENTER,
                        &cap.text,
                        egui::FontId::proportional(11.0),
                        cap.color,
                    );
                    if let Some(bar) = cap.bar {
                        let y = img_rect.bottom() + 19.0;
                        let back = Rect::from_min_size(pos2(img_rect.left(), y), vec2(tile, 5.0));
                        painter.rect_filled(back, 1.0, ui.visuals().faint_bg_color);
                        let front = Rect::from_min_size(back.min, vec2(tile * bar.clamp(0.0, 1.0), 5.0));
                        painter.rect_filled(front, 1.0, cap.color);
                    }
                    let response = response
                        .on_hover_text(format!("{label}: {}. Click to load it into the pad.", cap.text));
                    if response.clicked() {
                        clicked = Some(index);
                    }
                }
            });
        }
        clicked
    }
}

/// Sends test image `index` to the pad with a caption.
pub fn send_to_pad(wb: &super::workbench::Workbench, index: usize, why: &str) {
    send_split_image_to_pad(wb, false, index, why);
}

/// Sends image `index` of the training (`train`) or test split to the pad with a caption.
pub fn send_split_image_to_pad(wb: &super::workbench::Workbench, train: bool, index: usize, why: &str) {
    let Some(data) = wb.dataset() else { return };
    let split = if train { &data.train } else { &data.test };
    if index >= split.len() {
        return;
    }
    let pixels = split.intensities(index);
    let name = if train { "training" } else { "test" };
    let caption = format!("{name} #{index} (label {}), from {why}", split.labels[index]);
    wb.act(super::workbench::Action::Notify(format!("Loaded {caption} into the pad"), false));
    wb.act(super::workbench::Action::ShowInPad { pixels, caption });
}

/// A hash of a list of indices plus a salt, for texture keys.
pub fn key_of(indices: &[usize], salt: u64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    indices.hash(&mut h);
    salt.hash(&mut h);
    h.finish()
}
