//! Dataset: sample grids per digit, the mean image of each digit, pixel statistics and the
//! label distribution of train and test (seed S4's data inspection). Statistics are computed
//! once per loaded dataset on the data worker.

use egui::Color32;
use egui_plot::{Bar, BarChart, Legend};

use super::Panel;
use crate::analysis::dataset::SplitStats;
use crate::analysis::pixels::{atlas, intensities_to_grey};
use crate::data::{IMAGE_SIDE, NUM_CLASSES};
use crate::ui::layout::PanelKind;
use crate::ui::widgets::{CachedTexture, grey_image};
use crate::ui::workbench::Workbench;

/// Samples per digit in the grid.
const SAMPLES: usize = 12;

/// First indices of each digit, with the `(generation, train split?)` they were taken for.
type SampleRows = ((u64, bool), Vec<Vec<usize>>);

/// What the panel keeps across restarts (a field added later takes its default).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct DatasetSettings {
    /// Show the training split instead of the test split.
    show_train: bool,
}

/// The Dataset panel: which split it shows and the textures of its mean and sample images.
#[derive(Default)]
pub struct DatasetPanel {
    settings: DatasetSettings,
    means: CachedTexture,
    samples: CachedTexture,
    /// First indices per digit, for `(generation, train split?)`.
    rows: Option<SampleRows>,
}

impl Panel for DatasetPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Dataset
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let Some(loaded) = wb.data.loaded.clone() else {
            ui.weak("No data loaded yet.");
            return;
        };
        let stats = loaded.stats.clone();
        let data = loaded.dataset.clone();
        let generation = wb.data.generation;
        ui.horizontal(|ui| {
            ui.label(format!("{}", data.source));
            ui.selectable_value(&mut self.settings.show_train, false, "Test split");
            ui.selectable_value(&mut self.settings.show_train, true, "Training split");
            let (s, d) = (stats.clone(), data.clone());
            crate::ui::export::export_ui(ui, wb, true, move || {
                Some(crate::report::figures::dataset(&s, &d))
            });
        });
        let (split, digits) = if self.settings.show_train {
            (&stats.train, &data.train)
        } else {
            (&stats.test, &data.test)
        };
        egui::ScrollArea::vertical().auto_shrink(false).show(ui, |ui| {
            ui.strong("Mean image per digit");
            let tex = self.means.get(
                ui.ctx(),
                "dataset-means",
                generation * 2 + self.settings.show_train as u64,
                || {
                    let greys: Vec<Vec<u8>> =
                        split.mean_images.iter().map(|m| intensities_to_grey(m)).collect();
                    let refs: Vec<&[u8]> = greys.iter().map(Vec::as_slice).collect();
                    let (w, h, px) = atlas(&refs, IMAGE_SIDE, NUM_CLASSES, 2);
                    grey_image(w, h, &px)
                },
            );
            let scale = ((ui.available_width() - 10.0) / tex.size()[0] as f32).clamp(1.0, 2.5);
            ui.add(egui::Image::new((tex.id(), tex.size_vec2() * scale)))
                .on_hover_text("Average intensity of every image of each digit, 0 to 9 left to right");
            stats_table_ui(ui, split);
            ui.strong("Label distribution (images per digit)");
            let bars = |s: &SplitStats, offset: f64, name: &str, color| {
                let total = s.images.max(1) as f64;
                let b = (0..NUM_CLASSES)
                    .map(|d| {
                        Bar::new(d as f64 + offset, 100.0 * s.label_counts[d] as f64 / total)
                            .width(0.38)
                            .name(format!("{name} {d}: {} images", s.label_counts[d]))
                    })
                    .collect();
                BarChart::new(name, b).color(color)
            };
            crate::ui::widgets::panel_plot("dataset-labels", 140.0)
                .legend(Legend::default())
                .allow_drag(false)
                .allow_zoom(false)
                .x_axis_label("digit")
                .y_axis_label("% of split")
                .show(ui, |p| {
                    p.bar_chart(bars(&stats.train, -0.2, "train", crate::ui::palette::SERIES_BLUE));
                    p.bar_chart(bars(&stats.test, 0.2, "test", crate::ui::palette::SERIES_ORANGE));
                });
            ui.strong(format!(
                "First {SAMPLES} images of each digit ({} split)",
                if self.settings.show_train {
                    "training"
                } else {
                    "test"
                }
            ));
            let key = (generation, self.settings.show_train);
            if self.rows.as_ref().is_none_or(|(k, _)| *k != key) {
                self.rows = Some((key, SplitStats::first_of_each(digits, SAMPLES)));
            }
            let rows = &self.rows.as_ref().expect("just set").1;
            let tex = self.samples.get(
                ui.ctx(),
                "dataset-samples",
                generation * 2 + self.settings.show_train as u64,
                || {
                    let blank = [0u8; crate::data::IMAGE_PIXELS];
                    let images: Vec<&[u8]> = rows
                        .iter()
                        .flat_map(|row| (0..SAMPLES).map(move |k| row.get(k)))
                        .map(|i| i.map_or(&blank[..], |&i| digits.image(i)))
                        .collect();
                    let (w, h, px) = atlas(&images, IMAGE_SIDE, SAMPLES, 2);
                    grey_image(w, h, &px)
                },
            );
            let scale = ((ui.available_width() - 10.0) / tex.size()[0] as f32).clamp(1.0, 2.0);
            ui.add(egui::Image::new((tex.id(), tex.size_vec2() * scale)))
                .on_hover_text("One row per digit, 0 at the top");
        });
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&self.settings).ok()
    }

    fn load_settings(&mut self, json: &str) {
        // Before 2026-12-02 the panel saved the bare bool.
        let legacy = || (json == "true").then_some(DatasetSettings { show_train: true });
        if let Some(settings) = serde_json::from_str(json).ok().or_else(legacy) {
            self.settings = settings;
        }
    }
}

fn stats_table_ui(ui: &mut egui::Ui, s: &SplitStats) {
    ui.horizontal_wrapped(|ui| {
        ui.label(format!(
            "{} images · pixel mean {:.4} · std {:.4}",
            s.images, s.pixel_mean, s.pixel_std
        ))
        .on_hover_text("Of intensities in [0, 1]; MNIST's training split gives 0.1307 and 0.3081, the normalisation constants");
    });
    egui::Grid::new("ink-share").striped(true).show(ui, |ui| {
        ui.strong("digit");
        for d in 0..NUM_CLASSES {
            ui.strong(d.to_string());
        }
        ui.end_row();
        ui.label("images")
            .on_hover_text("Images of each digit in this split");
        for d in 0..NUM_CLASSES {
            ui.monospace(s.label_counts[d].to_string());
        }
        ui.end_row();
        ui.label("ink %")
            .on_hover_text("Mean share of pixels brighter than 0.5: how much ink each digit takes");
        for d in 0..NUM_CLASSES {
            ui.monospace(format!("{:.1}", 100.0 * s.ink_share[d]));
        }
        ui.end_row();
    });
    let total: u64 = s.intensity_histogram.iter().sum::<u64>().max(1);
    ui.label("Pixel intensities (16 bins, log scale): most pixels are background")
        .on_hover_text(format!(
            "{:.1}% of pixels are in the darkest bin, {:.1}% in the brightest",
            100.0 * s.intensity_histogram[0] as f64 / total as f64,
            100.0 * s.intensity_histogram[15] as f64 / total as f64
        ));
    let bars: Vec<Bar> = s
        .intensity_histogram
        .iter()
        .enumerate()
        .map(|(b, &n)| {
            Bar::new(b as f64 * 16.0 + 8.0, (1.0 + n as f64).log10())
                .width(14.0)
                .name(format!("{n} pixels"))
        })
        .collect();
    crate::ui::widgets::panel_plot("dataset-intensities", 100.0)
        .allow_drag(false)
        .allow_zoom(false)
        .x_axis_label("pixel value (0-255)")
        .y_axis_label("log10 count")
        .show(ui, |p| {
            p.bar_chart(BarChart::new("pixels", bars).color(Color32::GRAY))
        });
}
