//! Feature maps: every layer's activations for the pad's current image (default) or a chosen
//! test image: conv channels as one texture atlas per layer on the layer's shared scale, dense
//! layers as strips. Follows each pad edit (the pad's one forward pass serves both). Click a
//! channel to see the nine test images that excite it most (searched on the worker).

use std::sync::Arc;

use egui::{Sense, Vec2};

use super::Panel;
use crate::analysis::pixels::{feature_map_atlas, shared_scale_grey, tile_at};
use crate::analysis::topk::top_images;
use crate::model::inspect::{Inspection, LayerActivations};
use crate::ui::gallery::{Caption, Gallery, key_of, send_to_pad};
use crate::ui::layout::PanelKind;
use crate::ui::widgets::{CachedTexture, grey_image};
use crate::ui::workbench::{Action, Workbench};

const GAP: usize = 1;

/// The image shown, its activations, a texture key that changes with both, and a caption.
struct Shown {
    pixels: Arc<Vec<f32>>,
    inspection: Option<Arc<Inspection>>,
    key: u64,
    label: String,
}

/// The Feature maps panel.
#[derive(Default)]
pub struct FeaturesPanel {
    use_test_image: bool,
    test_index: usize,
    /// The clicked channel: `(layer, channel)`.
    selected: Option<(usize, usize)>,
    /// The last search asked for automatically, `(layer, model version)`, so a failed
    /// search is not retried every frame.
    requested: Option<(usize, u64)>,
    textures: Vec<CachedTexture>,
    top: Gallery,
}

impl FeaturesPanel {
    /// The image to show and its inspection, with a texture key that changes with both.
    fn current(&mut self, wb: &Workbench) -> Option<Shown> {
        let version = wb.model.as_ref().map_or(0, |m| m.version);
        if self.use_test_image {
            let data = wb.dataset()?.clone();
            self.test_index = self.test_index.min(data.test.len().saturating_sub(1));
            let pixels = data.test.intensities(self.test_index);
            let Some(inspection) = wb.test_image_inspection(self.test_index) else {
                wb.act(crate::ui::workbench::Action::InspectTestImage(self.test_index));
                return None;
            };
            let inspection = Some(inspection);
            let label = format!(
                "test image #{} (label {})",
                self.test_index, data.test.labels[self.test_index]
            );
            Some(Shown {
                pixels: Arc::new(pixels),
                inspection,
                key: (1 << 62) ^ (self.test_index as u64) << 24 ^ version,
                label,
            })
        } else {
            let pad = wb.pad_inspection()?;
            let key = pad.revision << 24 ^ pad.model_version;
            Some(Shown {
                pixels: Arc::new(wb.pad.pixels().to_vec()),
                inspection: pad.inspection.clone(),
                key,
                label: "the pad's image".into(),
            })
        }
    }

    fn layer_ui(&mut self, ui: &mut egui::Ui, index: usize, layer: &LayerActivations, key: u64) {
        if self.textures.len() <= index {
            self.textures.resize_with(index + 1, CachedTexture::default);
        }
        let name = format!("feature-layer-{index}");
        if layer.is_conv() {
            ui.label(format!(
                "{}: {} channels of {}×{} (click one for the test images that excite it most)",
                layer.name, layer.channels, layer.side, layer.side
            ));
            let (cols, w, h, bytes) = feature_map_atlas(&layer.values, layer.channels, layer.side, GAP);
            let tex = self.textures[index].get(ui.ctx(), &name, key, || grey_image(w, h, &bytes));
            let size = tex.size_vec2();
            let scale = ((ui.available_width() - 8.0) / size.x)
                .clamp(1.0, 48.0 / layer.side as f32)
                .max(1.0);
            let response = ui.add(egui::Image::new((tex.id(), size * scale)).sense(Sense::click()));
            let hovered = response.hover_pos().and_then(|p| {
                let local = (p - response.rect.min) / scale;
                tile_at(
                    local.x.max(0.0) as usize,
                    local.y.max(0.0) as usize,
                    cols,
                    layer.side,
                    GAP,
                    layer.channels,
                )
            });
            let image_rect = response.rect;
            if let Some(c) = hovered {
                let map = &layer.values[c * layer.side * layer.side..(c + 1) * layer.side * layer.side];
                let peak = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let response = response.on_hover_text(format!("{} channel {c}: peak {peak:.3}", layer.name));
                if response.clicked() {
                    self.selected = Some((index, c));
                }
            }
            if let Some((l, c)) = self.selected
                && l == index
            {
                let (ox, oy) = crate::analysis::pixels::tile_origin(c, cols, layer.side, GAP);
                let rect = egui::Rect::from_min_size(
                    image_rect.min + Vec2::new(ox as f32, oy as f32) * scale,
                    Vec2::splat(layer.side as f32 * scale),
                );
                ui.painter().rect_stroke(
                    rect,
                    0.0,
                    (2.0, crate::ui::palette::SERIES_ORANGE),
                    egui::StrokeKind::Outside,
                );
            }
        } else {
            ui.label(format!(
                "{}: {} units (click one for its top test images)",
                layer.name, layer.channels
            ));
            let grey = shared_scale_grey(&layer.values);
            let tex = self.textures[index].get(ui.ctx(), &name, key, || grey_image(layer.channels, 1, &grey));
            let unit_w = ((ui.available_width() - 8.0) / layer.channels as f32).clamp(1.0, 16.0);
            let response = ui.add(
                egui::Image::new((tex.id(), Vec2::new(unit_w * layer.channels as f32, 22.0)))
                    .sense(Sense::click()),
            );
            if let Some(p) = response.hover_pos() {
                let u = (((p.x - response.rect.left()) / unit_w) as usize).min(layer.channels - 1);
                let response =
                    response.on_hover_text(format!("{} unit {u}: {:.3}", layer.name, layer.values[u]));
                if response.clicked() {
                    self.selected = Some((index, u));
                }
            }
        }
    }

    fn top_images_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench, names: &[String]) {
        let Some((layer, channel)) = self.selected else {
            return;
        };
        let name = names.get(layer).cloned().unwrap_or_default();
        ui.horizontal(|ui| {
            if ui
                .small_button("Close")
                .on_hover_text("Close the top images")
                .clicked()
            {
                self.selected = None;
            }
        });
        if self.selected.is_none() {
            return;
        }
        ui.strong(format!("Test images that excite {name} channel {channel} most"));
        let version = wb.model.as_ref().map_or(0, |m| m.version);
        let peaks = wb.inspect.peaks.clone().filter(|p| p.layer == layer);
        let running = wb.inspect.peaks_progress();
        match (&peaks, running) {
            (_, Some((l, progress))) if l == layer => {
                let (done, total) = progress.unwrap_or((0, 1));
                ui.add(
                    egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                        .text(format!("searching {done} / {total} test images")),
                );
                return;
            }
            (None, _) => {
                if self.requested != Some((layer, version)) {
                    self.requested = Some((layer, version));
                    wb.act(Action::ComputePeaks(layer));
                    ui.weak("Searching the test set…");
                } else if ui.button("Search the test set").clicked() {
                    wb.act(Action::ComputePeaks(layer));
                }
                return;
            }
            _ => {}
        }
        let peaks = peaks.expect("matched above");
        if peaks.model_version != version {
            ui.horizontal(|ui| {
                ui.weak("Found with an earlier version of the model.");
                if ui.button("Search again").clicked() {
                    wb.act(Action::ComputePeaks(layer));
                }
            });
        }
        if channel >= peaks.channels {
            return;
        }
        let top = top_images(&peaks.peaks, peaks.channels, channel, 9);
        let Some(data) = wb.dataset().cloned() else { return };
        let key = key_of(&top, peaks.model_version ^ (layer as u64) << 32);
        let text_color = ui.visuals().text_color();
        let clicked = self.top.ui(ui, key, &data.test, &top, 48.0, |i| Caption {
            text: format!(
                "{}: {:.1}",
                data.test.labels[i],
                peaks.peaks[i * peaks.channels + channel]
            ),
            color: text_color,
            bar: None,
        });
        if let Some(i) = clicked {
            send_to_pad(wb, i, &format!("{name} channel {channel}'s top images"));
        }
        ui.separator();
    }
}

impl Panel for FeaturesPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Features
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.use_test_image, false, "Pad image")
                .on_hover_text("Follow the drawing pad: maps change with every edit");
            ui.selectable_value(&mut self.use_test_image, true, "Test image");
            if self.use_test_image {
                let max = wb.dataset().map_or(0, |d| d.test.len().saturating_sub(1));
                ui.add(
                    egui::DragValue::new(&mut self.test_index)
                        .range(0..=max)
                        .prefix("#"),
                );
            }
        });
        let Some(Shown {
            pixels,
            inspection,
            key,
            label,
        }) = self.current(wb)
        else {
            ui.weak("No image yet.");
            return;
        };
        let Some(inspection) = inspection else {
            ui.weak("No model yet: train one or open a run.");
            return;
        };
        ui.horizontal(|ui| {
            let (p, i, l) = (pixels.clone(), inspection.clone(), label.clone());
            crate::ui::export::export_ui(ui, wb, true, move || {
                Some(crate::report::figures::feature_maps(&p, &i, &l))
            });
            let best = crate::train::metrics::argmax_rows(&inspection.logits)[0];
            ui.label(format!("Activations of {label} · predicted {best}"));
        });
        let names: Vec<String> = inspection.layers.iter().map(|l| l.name.clone()).collect();
        egui::ScrollArea::vertical().auto_shrink(false).show(ui, |ui| {
            // The clicked channel's top images first, so they show without scrolling.
            self.top_images_ui(ui, wb, &names);
            for (index, layer) in inspection.layers.iter().enumerate() {
                self.layer_ui(ui, index, layer, key ^ (index as u64) << 56);
            }
        });
    }
}
