//! Saliency: for the pad image (or any test image) and a class, the gradient, gradient ×
//! input, integrated gradients (blank baseline) and occlusion maps drawn over the digit, and
//! the logit drop of blanking each row. Follows the pad as you draw.

use egui::{Color32, ColorImage, Sense, vec2};
use egui_plot::{Bar, BarChart};

use super::{Panel, probe_blocked, stale_ui, study_controls_ui};
use crate::analysis::colormap::{overlay, symmetric_limit};
use crate::data::IMAGE_SIDE;
use crate::study::image::ImageChoice;
use crate::study::saliency::{Saliency, SaliencySettings as StudySettings};
use crate::study::{Lane, Study as _};
use crate::train::metrics::argmax;
use crate::ui::workbench::studies::StudyRequest;
use crate::ui::layout::PanelKind;
use crate::ui::widgets::CachedTexture;
use crate::ui::workbench::{Action, Workbench};

/// What the Saliency panel keeps across restarts (named fields, each with its default, so a
/// field added later keeps the rest of a user's settings).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct SaliencySettings {
    class: Option<u8>,
    follow_pad: bool,
    ig_steps: usize,
    patch: usize,
}

impl Default for SaliencySettings {
    fn default() -> Self {
        let panel = SaliencyPanel::default();
        Self {
            class: panel.class,
            follow_pad: panel.follow_pad,
            ig_steps: panel.ig_steps,
            patch: panel.patch,
        }
    }
}

/// The Saliency panel: its settings and the five maps' textures.
pub struct SaliencyPanel {
    /// None: the predicted class.
    class: Option<u8>,
    follow_pad: bool,
    test_index: usize,
    ig_steps: usize,
    patch: usize,
    textures: [CachedTexture; 5],
    /// What the last automatic run was computed from.
    done: Option<SaliencyKey>,
}

/// What an automatic saliency run was computed from: a new run starts when any of it changes.
#[derive(Clone, Copy, PartialEq, Eq)]
struct SaliencyKey {
    /// The pad image's revision (`PadState::revision`).
    pad_revision: u64,
    /// The model in use (`ActiveModel::version`).
    model_version: u64,
    /// The class explained; None: the predicted one.
    class: Option<u8>,
    /// Integrated-gradient steps.
    ig_steps: usize,
    /// Side of the occlusion patch in pixels.
    patch: usize,
}

impl Default for SaliencyPanel {
    fn default() -> Self {
        Self {
            class: None,
            follow_pad: true,
            test_index: 0,
            ig_steps: 32,
            patch: 4,
            textures: Default::default(),
            done: None,
        }
    }
}

impl SaliencyPanel {
    fn request(&self, pixels: &[f32], predicted: u8) -> StudyRequest {
        StudyRequest::new::<Saliency>(StudySettings {
            image: ImageChoice::pixels(pixels, "the pad image"),
            class: Some(self.class.unwrap_or(predicted)),
            ig_steps: self.ig_steps,
            patch: self.patch,
            ..StudySettings::default()
        })
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let (pixels, revision) = (wb.pad.pixels().to_vec(), wb.pad.revision());
        let predicted = wb.pad_logits().map_or(0, |l| argmax(&l));
        ui.horizontal_wrapped(|ui| {
            let blocked = probe_blocked(wb);
            if study_controls_ui(ui, wb, Saliency::ID, "Explain the pad image", blocked) {
                wb.act(Action::StartStudy(self.request(&pixels, predicted)));
            }
            let text = self.class.map_or("predicted".to_string(), |c| c.to_string());
            egui::ComboBox::from_label("class")
                .selected_text(text)
                .width(80.0)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.class, None, "predicted");
                    for d in 0..10u8 {
                        ui.selectable_value(&mut self.class, Some(d), d.to_string());
                    }
                })
                .response
                .on_hover_text("The class whose logit the maps explain");
            ui.label("IG steps");
            ui.add(egui::DragValue::new(&mut self.ig_steps).range(1..=256))
                .on_hover_text("Integrated-gradients steps from a blank image");
            ui.label("patch");
            ui.add(egui::DragValue::new(&mut self.patch).range(1..=14))
                .on_hover_text("Side of the occlusion patch (stride half of it)");
            ui.checkbox(&mut self.follow_pad, "follow the pad");
            ui.separator();
            let test_len = wb.dataset().map_or(0, |d| d.test.len());
            ui.add_enabled(
                test_len > 0,
                egui::DragValue::new(&mut self.test_index)
                    .range(0..=test_len.saturating_sub(1))
                    .prefix("test #"),
            );
            if ui
                .add_enabled(test_len > 0, egui::Button::new("Load test image"))
                .on_hover_text("Load this test image into the pad (the maps follow)")
                .clicked()
            {
                crate::ui::gallery::send_to_pad(wb, self.test_index, "the Saliency panel");
            }
            let result = wb.studies.latest::<Saliency>();
            crate::ui::export::export_ui(ui, wb, result.is_some(), move || {
                result.map(|r| crate::study::saliency::figure(&r.results.image.pixels, &r.results.maps))
            });
        });
        let version = wb.model.as_ref().map(|m| m.version);
        if self.follow_pad
            && let Some(v) = version
            && !wb.studies.lane_busy(Lane::Probe)
            && wb.dataset().is_some()
        {
            let key = SaliencyKey {
                pad_revision: revision,
                model_version: v,
                class: self.class,
                ig_steps: self.ig_steps,
                patch: self.patch,
            };
            if self.done != Some(key) {
                self.done = Some(key);
                wb.act(Action::StartStudy(self.request(&pixels, predicted).following_pad()));
            }
        }
    }
}

impl Panel for SaliencyPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Saliency
    }

    fn study(&self) -> Option<&'static str> {
        Some(Saliency::ID)
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&SaliencySettings {
            class: self.class,
            follow_pad: self.follow_pad,
            ig_steps: self.ig_steps,
            patch: self.patch,
        })
        .ok()
    }

    fn load_settings(&mut self, json: &str) {
        if let Ok(s) = serde_json::from_str::<SaliencySettings>(json) {
            self.class = s.class.filter(|c| *c < 10);
            self.follow_pad = s.follow_pad;
            self.ig_steps = s.ig_steps.clamp(1, 256);
            self.patch = s.patch.clamp(1, 14);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        self.controls_ui(ui, wb);
        ui.separator();
        let Some(probed) = wb.studies.latest::<Saliency>() else {
            ui.label("Draw a digit or load one into the pad: the maps show which pixels raise (red) or lower (blue) a class's logit.");
            return;
        };
        stale_ui(ui, wb, probed.from.model_version);
        let (image, maps) = (&probed.results.image.pixels, &probed.results.maps);
        let c = maps.config.class as usize;
        ui.label(format!(
            "Class {c}: logit {:.2} · integrated gradients add up to {:.2} (logit − blank logit {:.2}) · red raises the logit, blue lowers it",
            maps.logits[c],
            maps.integrated.iter().sum::<f32>(),
            maps.blank_gap
        ));
        let key = std::sync::Arc::as_ptr(&probed.results) as u64;
        let side = ((ui.available_width() - 60.0) / 5.0).clamp(90.0, 200.0);
        let mut views: Vec<(&str, Option<&[f32]>)> = vec![("Image", None)];
        views.extend(maps.named().into_iter().map(|(n, v)| (n, Some(v))));
        ui.horizontal_top(|ui| {
            for (k, (name, values)) in views.into_iter().enumerate() {
                ui.vertical(|ui| {
                    ui.label(name);
                    let lim = values.map_or(1.0, symmetric_limit);
                    let tex = self.textures[k].get(ui.ctx(), name, key, || {
                        let rgb: Vec<u8> = (0..image.len())
                            .flat_map(|i| match values {
                                Some(v) => overlay(v[i] / lim, image[i]),
                                None => [(image[i].clamp(0.0, 1.0) * 255.0) as u8; 3],
                            })
                            .collect();
                        ColorImage::from_rgb([IMAGE_SIDE, IMAGE_SIDE], &rgb)
                    });
                    let (rect, response) = ui.allocate_exact_size(vec2(side, side), Sense::hover());
                    ui.painter().image(
                        tex.id(),
                        rect,
                        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                        Color32::WHITE,
                    );
                    if let (Some(v), Some(pos)) = (values, response.hover_pos()) {
                        let px = (((pos.x - rect.left()) / side) * IMAGE_SIDE as f32) as usize;
                        let py = (((pos.y - rect.top()) / side) * IMAGE_SIDE as f32) as usize;
                        let i = py.min(27) * IMAGE_SIDE + px.min(27);
                        response.on_hover_text_at_pointer(format!("row {py}, column {px}: {:.4}", v[i]));
                    }
                    if values.is_some() {
                        ui.small(format!("±{lim:.3}"));
                    }
                });
            }
        });
        ui.label("Logit drop when each single row is blanked:");
        let bars: Vec<Bar> = maps
            .row_occlusion
            .iter()
            .enumerate()
            .map(|(r, &d)| Bar::new(r as f64, d as f64).width(0.8))
            .collect();
        crate::ui::widgets::panel_plot("row_occlusion", 150.0)
            .x_axis_label("row")
            .y_axis_label("logit drop")
            .show(ui, |plot| {
                plot.bar_chart(BarChart::new("row", bars).color(crate::ui::palette::BAD))
            });
    }
}
