//! Filters: every conv layer's kernels on a diverging colormap centred at 0 with a legend.
//! First layer: all kernels; deeper layers: pick an output channel to see its kernel on each
//! input channel. An MLP shows each first-layer unit's weights as a 28×28 image. Updated
//! while training (at most once a second); hover shows values, click enlarges.

use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{ColorImage, Rect, Sense, pos2, vec2};

use super::Panel;
use crate::analysis::colormap::{diverging, symmetric_limit, text_on};
use crate::analysis::pixels::{grid_shape, tile_at, tile_origin};
use crate::model::inspect::{FilterBank, filter_banks};
use crate::ui::layout::PanelKind;
use crate::ui::palette::rgb;
use crate::ui::widgets::CachedTexture;
use crate::ui::workbench::Workbench;

/// How often the kernels are re-read while the weights keep changing.
const REFRESH: Duration = Duration::from_secs(1);
const GAP: usize = 1;

/// The Filters panel: the layer and output channel shown, the kernels read last and their atlas.
#[derive(Default)]
pub struct FiltersPanel {
    layer: usize,
    output: usize,
    selected: Option<usize>,
    banks: Option<(u64, Arc<Vec<FilterBank>>)>,
    read_at: Option<Instant>,
    texture: CachedTexture,
}

/// The kernels shown for a bank: all outputs on input 0 (a first layer), or one output's
/// kernel on each input.
fn shown_kernels(bank: &FilterBank, output: usize) -> Vec<&[f32]> {
    if bank.inputs == 1 {
        (0..bank.outputs).map(|o| bank.kernel(o, 0)).collect()
    } else {
        (0..bank.inputs)
            .map(|i| bank.kernel(output.min(bank.outputs - 1), i))
            .collect()
    }
}

impl FiltersPanel {
    /// Re-reads the kernels when the model changed, at most once per [`REFRESH`].
    fn refresh(&mut self, wb: &Workbench) {
        let Some(model) = &wb.model else {
            self.banks = None;
            return;
        };
        let stale = self.banks.as_ref().is_none_or(|(v, _)| *v != model.version);
        let due = self.read_at.is_none_or(|t| t.elapsed() >= REFRESH) || !wb.is_training();
        if stale && due {
            self.banks = Some((model.version, Arc::new(filter_banks(&model.model))));
            self.read_at = Some(Instant::now());
        }
    }

    fn legend_ui(ui: &mut egui::Ui, limit: f32) {
        let legend = crate::ui::heatmap::ColorLegend {
            lo: -f64::from(limit),
            hi: f64::from(limit),
            caption: "kernel weight (blue negative, white 0, red positive; one scale for the shown kernels)",
        };
        let colour = |v: f64| rgb(diverging((v / f64::from(limit)) as f32));
        crate::ui::heatmap::color_legend(ui, 200.0, legend, &colour);
    }

    fn enlarged_ui(ui: &mut egui::Ui, kernel: &[f32], side: usize, limit: f32, title: &str) {
        ui.strong(title);
        let cell = (220.0 / side as f32).clamp(7.0, 44.0);
        let (rect, _) = ui.allocate_exact_size(vec2(cell * side as f32, cell * side as f32), Sense::hover());
        for (i, &v) in kernel.iter().enumerate() {
            let r = Rect::from_min_size(
                pos2(
                    rect.left() + (i % side) as f32 * cell,
                    rect.top() + (i / side) as f32 * cell,
                ),
                vec2(cell, cell),
            );
            let c = diverging(v / limit);
            ui.painter().rect_filled(r, 0.0, rgb(c));
            if side <= 7 {
                ui.painter().text(
                    r.center(),
                    egui::Align2::CENTER_CENTER,
                    format!("{v:.2}"),
                    egui::FontId::monospace(11.0),
                    rgb(text_on(c)),
                );
            }
        }
    }
}

impl Panel for FiltersPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Filters
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        self.refresh(wb);
        let Some((version, banks)) = self.banks.clone() else {
            ui.weak("No model yet: train one or open a run.");
            return;
        };
        if banks.is_empty() {
            ui.weak("This model has no layer to show.");
            return;
        }
        self.layer = self.layer.min(banks.len() - 1);
        let before = (self.layer, self.output);
        self.layer_picker_ui(ui, wb, &banks);
        if before != (self.layer, self.output) {
            self.selected = None;
        }
        let bank = &banks[self.layer];
        let kernels = shown_kernels(bank, self.output);
        let flat: Vec<f32> = kernels.iter().flat_map(|k| k.iter().copied()).collect();
        let limit = symmetric_limit(&flat);
        self.caption_ui(ui, bank);
        if wb.is_training() {
            ui.weak("Live: re-read about once a second while training.");
        }
        Self::legend_ui(ui, limit);
        self.atlas_ui(ui, version, bank, &kernels, limit);
    }
}

impl FiltersPanel {
    /// The layer (and, for a layer with several inputs, the output channel) and Export.
    fn layer_picker_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench, banks: &[FilterBank]) {
        let bank = &banks[self.layer];
        ui.horizontal(|ui| {
            egui::ComboBox::from_label("Layer")
                .selected_text(&bank.name)
                .show_ui(ui, |ui| {
                    for (i, b) in banks.iter().enumerate() {
                        ui.selectable_value(
                            &mut self.layer,
                            i,
                            format!(
                                "{} ({}×{} kernels, {} in, {} out)",
                                b.name, b.side, b.side, b.inputs, b.outputs
                            ),
                        );
                    }
                });
            if bank.inputs > 1 {
                ui.add(
                    egui::DragValue::new(&mut self.output)
                        .range(0..=bank.outputs - 1)
                        .prefix("output channel "),
                )
                .on_hover_text("Whose kernels to show: one per input channel");
            }
            let (b, o) = (bank.clone(), (bank.inputs > 1).then_some(self.output));
            crate::ui::export::export_ui(ui, wb, true, move || Some(crate::report::figures::filters(&b, o)));
        });
    }

    /// What the atlas shows.
    fn caption_ui(&self, ui: &mut egui::Ui, bank: &FilterBank) {
        ui.label(if bank.inputs == 1 {
            format!(
                "{}: all {} {} of {}×{}",
                bank.name,
                bank.outputs,
                if bank.side == 28 {
                    "units' input weights"
                } else {
                    "kernels"
                },
                bank.side,
                bank.side
            )
        } else {
            format!(
                "{} output channel {}: its kernel on each of the {} input channels",
                bank.name, self.output, bank.inputs
            )
        });
    }

    /// The kernels as one atlas (hover for values, click to enlarge) and the enlarged kernel.
    fn atlas_ui(
        &mut self,
        ui: &mut egui::Ui,
        version: u64,
        bank: &FilterBank,
        kernels: &[&[f32]],
        limit: f32,
    ) {
        let side = bank.side;
        let (cols, rows) = grid_shape(kernels.len());
        let key =
            version.wrapping_mul(1_000_003) ^ ((self.layer as u64) << 40) ^ ((self.output as u64) << 20);
        let tex = self.texture.get(ui.ctx(), "filters-atlas", key, || {
            let (w, h) = (cols * (side + GAP) - GAP, rows * (side + GAP) - GAP);
            let mut img = ColorImage::filled([w, h], crate::ui::palette::ATLAS_GAP);
            for (k, kernel) in kernels.iter().enumerate() {
                let (ox, oy) = tile_origin(k, cols, side, GAP);
                for (i, &v) in kernel.iter().enumerate() {
                    img[(ox + i % side, oy + i / side)] = rgb(diverging(v / limit));
                }
            }
            img
        });
        let (tex_id, tex_size) = (tex.id(), tex.size_vec2());
        ui.horizontal_top(|ui| {
            let scale = ((ui.available_width() * 0.62) / tex_size.x)
                .clamp(1.0, 40.0 / side as f32 * 2.0)
                .floor()
                .max(1.0);
            let response = ui.add(egui::Image::new((tex_id, tex_size * scale)).sense(Sense::click()));
            let hovered = response.hover_pos().and_then(|p| {
                let local = (p - response.rect.min) / scale;
                let (x, y) = (local.x.max(0.0) as usize, local.y.max(0.0) as usize);
                tile_at(x, y, cols, side, GAP, kernels.len()).map(|k| {
                    let (ox, oy) = tile_origin(k, cols, side, GAP);
                    (k, (y - oy).min(side - 1), (x - ox).min(side - 1))
                })
            });
            if let Some((k, r, c)) = hovered {
                let what = if bank.inputs == 1 {
                    "kernel"
                } else {
                    "input channel"
                };
                response.clone().on_hover_text(format!(
                    "{what} {k}, row {r}, column {c}: {:+.4}\nclick to enlarge",
                    kernels[k][r * side + c]
                ));
                if response.clicked() {
                    self.selected = Some(k);
                }
            }
            ui.vertical(|ui| match self.selected {
                Some(k) if k < kernels.len() => {
                    let title = if bank.inputs == 1 {
                        format!("{} kernel {k}", bank.name)
                    } else {
                        format!("{} output {} from input {k}", bank.name, self.output)
                    };
                    Self::enlarged_ui(ui, kernels[k], side, limit, &title);
                    let (lo, hi) = kernels[k]
                        .iter()
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                            (a.min(v), b.max(v))
                        });
                    ui.monospace(format!("min {lo:+.4}  max {hi:+.4}"));
                }
                _ => {
                    ui.weak("Hover a kernel for its values; click to enlarge.");
                }
            });
        });
    }
}
