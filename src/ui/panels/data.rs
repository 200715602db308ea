//! Data: where the digits came from (with a visible note when they are the synthetic
//! fallback), Download MNIST with progress and cancel, Open folder, counts, the label
//! distribution of train and test, and a sample grid per digit (click one to draw on it).

use egui_plot::{Bar, BarChart, Legend};

use super::Panel;
use crate::data::sources::{DataRequest, DataSource};
use crate::data::{IMAGE_SIDE, NUM_CLASSES};
use crate::ui::layout::PanelKind;
use crate::ui::widgets::{CachedTexture, atlas, grey_image};
use crate::ui::workbench::{Action, Workbench};

/// Samples shown per digit.
pub const SAMPLES_PER_DIGIT: usize = 12;

/// The Data panel: the sample grid and label counts derived from the dataset in use.
#[derive(Default)]
pub struct DataPanel {
    grid: CachedTexture,
    /// Dataset indices shown in the grid, row per digit.
    shown: Vec<Option<usize>>,
    /// Label counts of train and test.
    counts: ([usize; NUM_CLASSES], [usize; NUM_CLASSES]),
    /// The data generation the fields above were derived from.
    derived_from: Option<u64>,
}

impl DataPanel {
    fn source_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        match wb.dataset().map(|d| d.source.clone()) {
            Some(DataSource::Synthetic { reason, .. }) => {
                ui.label(egui::RichText::new("Built-in synthetic digits").strong());
                egui::Frame::new()
                    .fill(ui.visuals().warn_fg_color.gamma_multiply(0.15))
                    .inner_margin(6.0)
                    .corner_radius(4.0)
                    .show(ui, |ui| {
                        ui.colored_label(
                            ui.visuals().warn_fg_color,
                            format!(
                                "These are not MNIST: {reason}. Models trained on them will not \
                                 reach MNIST accuracy. Download MNIST or open a folder with it."
                            ),
                        );
                    });
            }
            Some(source) => {
                ui.label(egui::RichText::new(source.to_string()).strong());
            }
            None => {
                ui.label("No data loaded yet.");
            }
        }
        if let Some(error) = &wb.data.error {
            ui.colored_label(ui.visuals().error_fg_color, error.to_string());
        }
        let busy = wb.data.task.is_running();
        if let Some(label) = wb.data.busy_label() {
            let label = label.to_string();
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(label);
            });
            if let Some(p) = wb.data.progress() {
                let frac = p.total.map_or(0.0, |t| p.received as f32 / t.max(1) as f32);
                let text = match p.total {
                    Some(t) => format!(
                        "file {}/4 {}: {:.1} / {:.1} MB",
                        p.file_index + 1,
                        p.file,
                        p.received as f64 / 1e6,
                        t as f64 / 1e6
                    ),
                    None => format!(
                        "file {}/4 {}: {:.1} MB",
                        p.file_index + 1,
                        p.file,
                        p.received as f64 / 1e6
                    ),
                };
                let text = if p.checking { format!("{text}, checking its digest") } else { text };
                ui.add(egui::ProgressBar::new(frac).text(text));
                ui.small(format!("from {}", p.mirror));
            }
            if ui
                .button("Cancel")
                .on_hover_text("Stop; the data in use stays")
                .clicked()
            {
                wb.act(Action::CancelData);
            }
        }
        ui.horizontal_wrapped(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("Download MNIST"))
                .on_hover_text("Fetch the four MNIST files into the cache, checking their SHA-256")
                .clicked()
            {
                wb.act(Action::DownloadMnist);
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Open folder…"))
                .on_hover_text(format!(
                    "A folder with the four MNIST IDX files (raw or .gz) ({})",
                    ui.ctx().format_shortcut(&crate::ui::app::OPEN_DATA)
                ))
                .clicked()
                && let Some(folder) = rfd::FileDialog::new().pick_folder()
            {
                wb.act(Action::LoadData(DataRequest {
                    folder: Some(folder),
                    ..wb.options.data.clone()
                }));
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Use synthetic digits"))
                .on_hover_text("The built-in generated digits (works offline)")
                .clicked()
            {
                wb.act(Action::LoadData(DataRequest {
                    force_synthetic: true,
                    ..wb.options.data.clone()
                }));
            }
        });
    }
}

impl Panel for DataPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Data
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        self.source_ui(ui, wb);
        let Some(data) = wb.dataset().cloned() else {
            return;
        };
        ui.separator();
        ui.label(format!(
            "{} training images · {} test images · 28×28 grey",
            data.train.len(),
            data.test.len()
        ));
        if self.derived_from != Some(wb.data.generation) {
            self.shown = crate::analysis::dataset::SplitStats::first_of_each(&data.test, SAMPLES_PER_DIGIT)
                .iter()
                .flat_map(|row| (0..SAMPLES_PER_DIGIT).map(move |k| row.get(k).copied()))
                .collect();
            self.counts = (data.train.label_counts(), data.test.label_counts());
            self.derived_from = Some(wb.data.generation);
        }
        let (train, test) = self.counts;
        let share = |counts: &[usize; 10], total: usize, offset: f64, name: &str, color| {
            let bars = (0..NUM_CLASSES)
                .map(|d| {
                    Bar::new(d as f64 + offset, 100.0 * counts[d] as f64 / total.max(1) as f64)
                        .width(0.38)
                        .name(format!("{name} {d}: {} images", counts[d]))
                })
                .collect();
            BarChart::new(name, bars).color(color)
        };
        ui.label(egui::RichText::new("Label distribution (% of each split)").strong());
        crate::ui::widgets::panel_plot("label-distribution", 150.0)
            .legend(Legend::default())
            .allow_drag(false)
            .allow_zoom(false)
            .x_axis_label("digit")
            .show(ui, |p| {
                p.bar_chart(share(
                    &train,
                    data.train.len(),
                    -0.2,
                    "train",
                    crate::ui::palette::TRAIN_SERIES,
                ));
                p.bar_chart(share(
                    &test,
                    data.test.len(),
                    0.2,
                    "test",
                    crate::ui::palette::TEST_SERIES,
                ));
            });

        ui.label(egui::RichText::new("Test samples per digit (click one to load it into the pad)").strong());
        let gap = 2;
        let shown = &self.shown;
        let tex = self.grid.get(ui.ctx(), "data-samples", wb.data.generation, || {
            let blank = [0u8; crate::data::IMAGE_PIXELS];
            let images: Vec<&[u8]> = shown
                .iter()
                .map(|i| i.map_or(&blank[..], |i| data.test.image(i)))
                .collect();
            let (w, h, px) = atlas(&images, IMAGE_SIDE, SAMPLES_PER_DIGIT, gap);
            grey_image(w, h, &px)
        });
        let scale = ((ui.available_width() - 10.0) / tex.size()[0] as f32).clamp(1.0, 3.0);
        let size = egui::vec2(tex.size()[0] as f32, tex.size()[1] as f32) * scale;
        let response = ui
            .add(egui::Image::new((tex.id(), size)).sense(egui::Sense::click()))
            .on_hover_text("Test images, one row per digit; click to load into the drawing pad");
        if response.clicked()
            && let Some(pos) = response.interact_pointer_pos()
        {
            let cell = (IMAGE_SIDE + gap) as f32 * scale;
            let (col, row) = (
                ((pos.x - response.rect.min.x) / cell) as usize,
                ((pos.y - response.rect.min.y) / cell) as usize,
            );
            if col < SAMPLES_PER_DIGIT
                && let Some(&Some(index)) = self.shown.get(row * SAMPLES_PER_DIGIT + col)
            {
                let img = data.test.intensities(index);
                let caption = format!("test #{index} (label {})", data.test.labels[index]);
                wb.act(Action::ShowInPad { pixels: img, caption });
            }
        }
    }
}
