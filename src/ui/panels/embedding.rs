//! Embeddings (seed S2): the penultimate layer of N test images projected by PCA and t-SNE,
//! coloured by digit with mistakes ringed, drawn into a texture so 5000 points stay fluid.
//! Hover a point to see its image, click it to load it into the pad; the pad's own image is
//! placed in the same space (a yellow disc) with its 8 nearest test images by embedding distance.
//! Runs the `embed` study ([`crate::study::embed`]).

use std::sync::Arc;

use egui::{Color32, ColorImage, Sense, Stroke, pos2, vec2};

use super::{Panel, probe_blocked, stale_ui, study_controls_ui};
use crate::analysis::colormap::DIGIT_COLORS;
use crate::analysis::scatter::{Frame, nearest, raster};
use crate::study::Study as _;
use crate::study::embed::{Embed, EmbedConfig, Embedding, embed_intensities};
use crate::ui::gallery::{Caption, Gallery, key_of, send_to_pad};
use crate::ui::layout::PanelKind;
use crate::ui::palette;
use crate::ui::widgets::{CachedTexture, grey_image};
use crate::ui::workbench::studies::StudyRequest;
use crate::ui::workbench::{Action, Workbench};

/// Raster side of the scatter texture.
const RASTER: usize = 720;
/// Neighbours shown for the pad image.
const NEIGHBOURS: usize = 8;

/// Where the pad image falls.
#[derive(Clone)]
struct PadPlace {
    key: (u64, u64, usize, bool),
    neighbours: Vec<(usize, f32)>,
    point: Option<[f32; 2]>,
}

/// The Embedding panel: its settings, the scatter texture and where the pad image lands.
pub struct EmbeddingPanel {
    config: EmbedConfig,
    show_tsne: bool,
    scatter: CachedTexture,
    hover_tex: CachedTexture,
    pad: Option<PadPlace>,
    neighbours: Gallery,
}

impl Default for EmbeddingPanel {
    fn default() -> Self {
        Self {
            config: EmbedConfig::default(),
            show_tsne: true,
            scatter: CachedTexture::default(),
            hover_tex: CachedTexture::default(),
            pad: None,
            neighbours: Gallery::default(),
        }
    }
}

impl EmbeddingPanel {
    fn controls_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        ui.horizontal_wrapped(|ui| {
            if study_controls_ui(ui, wb, Embed::ID, "Embed test images", probe_blocked(wb)) {
                wb.act(Action::StartStudy(StudyRequest::new::<Embed>(
                    self.config.clone(),
                )));
            }
            ui.label("images");
            ui.add(
                egui::DragValue::new(&mut self.config.points)
                    .range(100..=10_000)
                    .speed(50),
            )
            .on_hover_text("The first N test images (seed S2 embeds the test set)");
            ui.checkbox(&mut self.config.tsne, "t-SNE");
            ui.add_enabled_ui(self.config.tsne, |ui| {
                ui.label("perplexity");
                ui.add(egui::DragValue::new(&mut self.config.tsne_config.perplexity).range(5.0..=50.0))
                    .on_hover_text("Seed S2 uses 30");
                ui.label("iterations");
                ui.add(
                    egui::DragValue::new(&mut self.config.tsne_config.iterations)
                        .range(250..=5000)
                        .speed(10),
                );
                ui.label("seed");
                ui.add(egui::DragValue::new(&mut self.config.tsne_config.seed));
            });
            let result = wb.studies.latest::<Embed>();
            crate::ui::export::export_ui(ui, wb, result.is_some(), move || {
                result.map(|r| crate::study::embed::figure(&r.results))
            });
        });
    }

    /// Places the pad image (once per pad revision, model and embedding).
    fn place_pad(&mut self, wb: &Workbench, e: &Arc<Embedding>, model_version: u64) {
        let (pad, Some(m)) = (&wb.pad, &wb.model) else {
            self.pad = None;
            return;
        };
        if m.version != model_version || e.vectors.is_empty() {
            self.pad = None;
            return;
        }
        let use_tsne = self.show_tsne && e.tsne_points.is_some();
        let key = (pad.revision(), m.version, Arc::as_ptr(e) as usize, use_tsne);
        if self.pad.as_ref().is_some_and(|p| p.key == key) {
            return;
        }
        let vector = embed_intensities(&m.model, pad.pixels(), &m.device);
        let neighbours = e.nearest(&vector, NEIGHBOURS);
        let point = if use_tsne {
            e.place_on_tsne(&neighbours)
        } else {
            Some(e.pca.project(&vector))
        };
        self.pad = Some(PadPlace {
            key,
            neighbours,
            point,
        });
    }

    fn scatter_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench, e: &Arc<Embedding>) {
        let use_tsne = self.show_tsne && e.tsne_points.is_some();
        let points: &[[f32; 2]] = match (&e.tsne_points, use_tsne) {
            (Some(t), true) => t,
            _ => &e.pca_points,
        };
        let frame = Frame::around(points, RASTER);
        let key = Arc::as_ptr(e) as u64 ^ u64::from(use_tsne);
        let tex = self.scatter.get(ui.ctx(), "embedding", key, || {
            let colors: Vec<[u8; 3]> = e.labels.iter().map(|&l| DIGIT_COLORS[l as usize]).collect();
            let ringed: Vec<bool> = e.labels.iter().zip(&e.predictions).map(|(l, p)| l != p).collect();
            ColorImage::from_rgba_unmultiplied([RASTER, RASTER], &raster(&frame, points, &colors, &ringed))
        });
        let side = ui
            .available_width()
            .min(ui.available_height() - 150.0)
            .clamp(260.0, 720.0);
        let (rect, response) = ui.allocate_exact_size(vec2(side, side), Sense::click());
        let painter = ui.painter_at(rect);
        painter.image(
            tex.id(),
            rect,
            egui::Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
            Color32::WHITE,
        );
        painter.rect_stroke(
            rect,
            0.0,
            Stroke::new(1.0, crate::ui::palette::reference_color(ui.visuals())),
            egui::StrokeKind::Inside,
        );
        let to_screen = |p: [f32; 2]| {
            let [u, v] = frame.to_unit(p);
            pos2(rect.left() + u * side, rect.top() + v * side)
        };
        if let Some(place) = &self.pad
            && let Some(p) = place.point
        {
            let centre = to_screen(p);
            for &(i, _) in &place.neighbours {
                painter.line_segment(
                    [centre, to_screen(points[i])],
                    Stroke::new(1.0, palette::MARK_ON_WHITE),
                );
            }
            painter.circle(
                centre,
                7.0,
                palette::PAD_MARK,
                Stroke::new(2.0, palette::MARK_ON_WHITE),
            );
        }
        let hovered = response.hover_pos().and_then(|pos| {
            let unit = [(pos.x - rect.left()) / side, (pos.y - rect.top()) / side];
            nearest(&frame, points, unit, 8.0 / side)
        });
        if let Some(k) = hovered {
            painter.circle_stroke(
                to_screen(points[k]),
                5.0,
                Stroke::new(2.0, palette::MARK_ON_WHITE),
            );
            let index = e.indices[k];
            // Results reloaded from a folder may index a larger test set than the one loaded.
            if let Some(data) = wb.dataset().cloned().filter(|d| index < d.test.len()) {
                let tex = self.hover_tex.get(ui.ctx(), "embedding_hover", index as u64, || {
                    grey_image(28, 28, data.test.image(index))
                });
                let (id, size) = (tex.id(), vec2(84.0, 84.0));
                response.clone().on_hover_ui_at_pointer(|ui| {
                    ui.image((id, size));
                    ui.label(format!(
                        "test #{index}: a {}, predicted {}. Click to load it into the pad.",
                        e.labels[k], e.predictions[k]
                    ));
                });
            }
            if response.clicked() {
                send_to_pad(wb, index, "the embedding");
            }
        }
    }
}

impl Panel for EmbeddingPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Embedding
    }

    fn study(&self) -> Option<&'static str> {
        Some(Embed::ID)
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&self.config).ok()
    }

    fn load_settings(&mut self, json: &str) {
        if let Ok(config) = serde_json::from_str(json) {
            self.config = config;
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        self.controls_ui(ui, wb);
        ui.separator();
        let Some(probed) = wb.studies.latest::<Embed>() else {
            ui.label(
                "Embeds test images with the model's penultimate layer and maps them to 2-D with PCA and t-SNE \
                 (seed S2: perplexity 30). 5000 images take about ten seconds on two CPU cores.",
            );
            return;
        };
        stale_ui(ui, wb, probed.from.model_version);
        let e = probed.results.clone();
        let mistakes = e.mistakes();
        ui.horizontal_wrapped(|ui| {
            ui.add_enabled_ui(e.tsne_points.is_some(), |ui| {
                ui.selectable_value(&mut self.show_tsne, true, "t-SNE");
            });
            ui.selectable_value(&mut self.show_tsne, false, "PCA");
            ui.label(format!(
                "{} test images · {} layer ({} dims) · {mistakes} mistakes ringed · yellow disc: the pad image",
                e.indices.len(),
                e.layer,
                e.dim
            ));
            for d in 0..10 {
                ui.label(
                    egui::RichText::new(d.to_string())
                        .strong()
                        .color(palette::class_color(d)),
                );
            }
        });
        let before = self.pad.as_ref().map(|p| p.point);
        self.place_pad(wb, &e, probed.from.model_version);
        if self.pad.as_ref().map(|p| p.point) != before {
            ui.ctx().request_repaint();
        }
        self.scatter_ui(ui, wb, &e);
        if let (Some(place), Some(data)) = (self.pad.clone(), wb.dataset().cloned()) {
            ui.label("The pad image's nearest test images (embedding distance):");
            let indices: Vec<usize> = place
                .neighbours
                .iter()
                .map(|&(k, _)| e.indices[k])
                .filter(|&i| i < data.test.len())
                .collect();
            let distance = |index: usize| {
                place
                    .neighbours
                    .iter()
                    .find(|(k, _)| e.indices[*k] == index)
                    .map_or(0.0, |n| n.1)
            };
            let text_color = ui.visuals().text_color();
            let caption = |index: usize| Caption {
                text: format!("{} · d {:.1}", data.test.labels[index], distance(index)),
                color: text_color,
                bar: None,
            };
            if let Some(index) =
                self.neighbours
                    .ui(ui, key_of(&indices, 0xE1), &data.test, &indices, 56.0, caption)
            {
                send_to_pad(wb, index, "the pad's neighbours");
            }
        }
    }
}
