//! Cross-dataset (seed S3): the current model on EMNIST digits from a folder of IDX files
//! (other writers; images transposed back to MNIST's orientation) and, always available, on
//! the MNIST test set under eight corruptions at growing severity, as seed S3's comparison
//! chart. The pad image is shown under each corruption; click one to load it.

use std::path::PathBuf;

use egui::{Color32, ColorImage, Sense, vec2};
use egui_plot::{Bar, BarChart, Corner, Legend, Line, PlotPoint, PlotPoints, Points, Text};

use super::{Panel, probe_blocked, stale_ui, study_controls_ui};
use crate::analysis::pixels::intensities_to_grey;
use crate::data::corrupt::Corruption;
use crate::rng::Rng;
use crate::study::Study as _;
use crate::study::cross_dataset::{CrossDataset, CrossDatasetConfig, CrossDatasetSettings as StudySettings};
use crate::ui::layout::PanelKind;
use crate::ui::palette::class_color;
use crate::ui::widgets::CachedTexture;
use crate::ui::workbench::studies::StudyRequest;
use crate::ui::workbench::{Action, Workbench};

/// What the Cross-dataset panel keeps across restarts (named fields, each with its default).
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct CrossDatasetSettings {
    config: CrossDatasetConfig,
    emnist: Option<PathBuf>,
}

/// The Cross-dataset panel: its settings, the EMNIST folder chosen and the pad image's
/// corrupted previews.
#[derive(Default)]
pub struct CrossDatasetPanel {
    config: CrossDatasetConfig,
    emnist: Option<PathBuf>,
    previews: Vec<CachedTexture>,
}

impl CrossDatasetPanel {
    fn controls_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        ui.horizontal_wrapped(|ui| {
            let blocked = probe_blocked(wb);
            if study_controls_ui(ui, wb, CrossDataset::ID, "Run cross-dataset test", blocked) {
                let settings = StudySettings {
                    emnist: self.emnist.clone(),
                    images: self.config.images,
                    seed: self.config.seed,
                };
                wb.act(Action::StartStudy(StudyRequest::new::<CrossDataset>(settings)));
            }
            ui.label("corrupted test images");
            ui.add(
                egui::DragValue::new(&mut self.config.images)
                    .range(100..=10_000)
                    .speed(50),
            )
            .on_hover_text("The first N MNIST test images, each under every corruption and severity");
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.config.seed))
                .on_hover_text("Seed of the noise");
            ui.separator();
            let folder = self
                .emnist
                .as_ref()
                .map_or("no EMNIST folder".to_string(), |p| p.display().to_string());
            ui.label(folder);
            if ui
                .button("EMNIST folder…")
                .on_hover_text("A folder with emnist-digits-test-images-idx3-ubyte(.gz) and its labels file")
                .clicked()
                && let Some(dir) = rfd::FileDialog::new().pick_folder()
            {
                self.emnist = Some(dir);
            }
            if self.emnist.is_some() && ui.button("Clear").clicked() {
                self.emnist = None;
            }
            let result = wb.studies.latest::<CrossDataset>();
            crate::ui::export::export_ui(ui, wb, result.is_some(), move || {
                result.map(|r| {
                    crate::study::cross_dataset::figure(&r.results.results, &r.results.named_examples())
                })
            });
        });
    }

    /// The pad image under each corruption's middle severity; click one to load it.
    fn previews_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let (pixels, revision) = (wb.pad.pixels().to_vec(), wb.pad.revision());
        ui.label("The pad image under each corruption (middle severity); click one to load it:");
        self.previews
            .resize_with(Corruption::ALL.len(), CachedTexture::default);
        ui.horizontal_wrapped(|ui| {
            for (k, c) in Corruption::ALL.into_iter().enumerate() {
                let level = c.levels().len() / 2;
                let seed = self.config.seed;
                let corrupt = || c.apply(&pixels, level, &mut Rng::new(seed));
                // Drawn once per pad image and seed, not every frame.
                let key = revision ^ seed.rotate_left(32);
                let tex = self.previews[k].get(ui.ctx(), c.name(), key, || {
                    ColorImage::from_gray([28, 28], &intensities_to_grey(&corrupt()))
                });
                let id = tex.id();
                ui.vertical(|ui| {
                    let (rect, response) = ui.allocate_exact_size(vec2(64.0, 64.0), Sense::click());
                    let label = format!("{} {}", c.name(), c.levels()[level]);
                    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
                    ui.painter().image(
                        id,
                        rect,
                        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                        Color32::WHITE,
                    );
                    ui.small(&label);
                    if response.on_hover_text("Load into the pad").clicked() {
                        let caption = format!("pad image, {label}");
                        wb.act(Action::ShowInPad {
                            pixels: corrupt(),
                            caption,
                        });
                    }
                });
            }
        });
    }
}

impl Panel for CrossDatasetPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::CrossDataset
    }

    fn study(&self) -> Option<&'static str> {
        Some(CrossDataset::ID)
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&CrossDatasetSettings {
            config: self.config.clone(),
            emnist: self.emnist.clone(),
        })
        .ok()
    }

    fn load_settings(&mut self, json: &str) {
        if let Ok(s) = serde_json::from_str::<CrossDatasetSettings>(json) {
            self.config = s.config;
            self.emnist = s.emnist.filter(|p| p.is_dir());
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        self.controls_ui(ui, wb);
        ui.separator();
        if let Some(probed) = wb.studies.latest::<CrossDataset>() {
            stale_ui(ui, wb, probed.from.model_version);
            let r = &probed.results.results;
            ui.horizontal_wrapped(|ui| {
                ui.strong(format!("MNIST test: {:.2} %", 100.0 * r.mnist.accuracy));
                ui.label("· bars: corruptions averaged over their severities");
                if let Some(e) = &r.external {
                    ui.strong(format!(
                        "· {} ({} images): {:.2} %",
                        e.name,
                        e.images,
                        100.0 * e.accuracy
                    ));
                    ui.label("(seed S3 expects 96 %+ for its CNN)");
                }
                ui.label(format!(
                    "· corruptions of {} test images ({:.2} % clean)",
                    r.config.images,
                    100.0 * r.clean_subset
                ));
            });
            let width = ((ui.available_width() - 20.0) / 2.0).max(280.0);
            ui.horizontal_top(|ui| {
                let mut bars = vec![(
                    "MNIST".to_string(),
                    r.mnist.accuracy,
                    crate::ui::palette::SERIES_BLUE,
                )];
                if let Some(e) = &r.external {
                    bars.push(("EMNIST".into(), e.accuracy, crate::ui::palette::SERIES_ORANGE));
                }
                for c in &r.corruptions {
                    bars.push((c.corruption.name().into(), c.mean(), crate::ui::palette::GOOD));
                }
                let chart: Vec<Bar> = bars
                    .iter()
                    .enumerate()
                    .map(|(k, (name, acc, color))| {
                        Bar::new(k as f64, 100.0 * acc).width(0.7).fill(*color).name(name)
                    })
                    .collect();
                crate::ui::widgets::panel_plot("cross_bars", 260.0)
                    .width(width)
                    .include_y(-12.0)
                    .include_y(105.0)
                    .y_axis_label("accuracy (%)")
                    .show_axes([false, true])
                    .show(ui, |plot| {
                        plot.bar_chart(BarChart::new("accuracy", chart));
                        for (k, (name, acc, _)) in bars.iter().enumerate() {
                            plot.text(Text::new("", PlotPoint::new(k as f64, -6.0), name.as_str()));
                            plot.text(Text::new(
                                "",
                                PlotPoint::new(k as f64, 100.0 * acc + 4.0),
                                format!("{:.1}", 100.0 * acc),
                            ));
                        }
                    });
                crate::ui::widgets::panel_plot("cross_lines", 260.0)
                    .width(width)
                    .legend(Legend::default().position(Corner::LeftBottom))
                    .include_y(0.0)
                    .include_y(100.0)
                    .x_axis_label("severity")
                    .y_axis_label("accuracy (%)")
                    .show(ui, |plot| {
                        // Inversion has a single severity: it is in the bars only.
                        for (k, c) in r
                            .corruptions
                            .iter()
                            .enumerate()
                            .filter(|(_, c)| c.accuracies.len() > 1)
                        {
                            let pts: Vec<[f64; 2]> = c
                                .accuracies
                                .iter()
                                .enumerate()
                                .map(|(s, a)| [s as f64 + 1.0, 100.0 * a])
                                .collect();
                            let color = class_color(k);
                            let name = c.corruption.name();
                            plot.points(
                                Points::new(name, PlotPoints::from(pts.clone()))
                                    .radius(3.0)
                                    .color(color),
                            );
                            plot.line(Line::new(name, PlotPoints::from(pts)).color(color));
                        }
                    });
            });
            if let Some(e) = &r.external {
                ui.horizontal_wrapped(|ui| {
                    ui.label(format!("{} per digit:", e.name));
                    for (d, a) in e.per_class.iter().enumerate() {
                        ui.label(format!("{d}: {:.1} %", 100.0 * a));
                    }
                });
            }
        } else {
            ui.label(
                "Tests the model on data it was not trained on: EMNIST digits (choose the folder with its IDX files) \
                 and the MNIST test set rotated, shifted, scaled, thickened, thinned, noised, blurred and inverted.",
            );
        }
        ui.separator();
        self.previews_ui(ui, wb);
    }
}
