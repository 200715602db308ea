//! Ensemble (seed S0): run N small models on k images per digit each, then explore the
//! correctness matrix. Everything is linked: click a model (accuracy bars or the model-model
//! heatmap) for its training images and per-digit accuracy; click a digit pair for the scatter
//! of per-model accuracies; pick a difficulty range for its images; click a test image for
//! the models that got it right and what they trained on; any image goes to the pad.

use std::sync::Arc;

use egui::Color32;
use egui_plot::{Bar, BarChart};

use super::{ModelAndConfig, Panel, saved_results_ui, study_controls_ui};
use crate::data::NUM_CLASSES;
use crate::study::ensemble::{EnsembleConfig, EnsembleResults, EnsembleStats, RESULTS_FILE};
use crate::model::{ModelSpec, PRESET_NAMES};
use crate::ui::gallery::Gallery;
use crate::ui::heatmap::{Heatmap, correlation_color};
use crate::ui::layout::PanelKind;
use crate::study::Study as _;
use crate::study::ensemble::Ensemble;
use crate::ui::workbench::studies::StudyRequest;
use crate::ui::workbench::{Action, Workbench};

mod details;

pub(super) const RIGHT: Color32 = crate::ui::palette::GOOD;
pub(super) const WRONG: Color32 = crate::ui::palette::BAD;
use crate::ui::palette::SERIES_BLUE as BLUE;
/// Most images shown for a difficulty range.
const RANGE_LIMIT: usize = 120;

/// The test images in a difficulty range: the results and range they were found for.
type Picked = (Arc<EnsembleResults>, (f64, f64), Arc<Vec<usize>>);

/// The Ensemble panel: the next experiment's settings and what is selected in the results
/// (model, image, digit pair, difficulty range).
pub struct EnsemblePanel {
    config: EnsembleConfig,
    preset: String,
    model: Option<usize>,
    image: Option<usize>,
    pair: (usize, usize),
    range: (f64, f64),
    model_gallery: Gallery,
    range_gallery: Gallery,
    /// The images in the difficulty range, found once per results and range, not every frame.
    picked: Option<Picked>,
    extremes_gallery: Gallery,
    right_gallery: Gallery,
    wrong_gallery: Gallery,
}

impl Default for EnsemblePanel {
    fn default() -> Self {
        Self {
            config: EnsembleConfig::default(),
            preset: "small-cnn".into(),
            model: None,
            image: None,
            pair: (4, 9),
            range: (0.0, 0.1),
            model_gallery: Gallery::of("training image"),
            range_gallery: Gallery::default(),
            extremes_gallery: Gallery::default(),
            picked: None,
            right_gallery: Gallery::of("training image"),
            wrong_gallery: Gallery::of("training image"),
        }
    }
}

impl Panel for EnsemblePanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Ensemble
    }

    fn study(&self) -> Option<&'static str> {
        Some(Ensemble::ID)
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        ui.horizontal(|ui| {
            let blocked = wb.dataset().is_none().then_some("no data loaded yet");
            if study_controls_ui(ui, wb, Ensemble::ID, "Run ensemble", blocked) {
                self.config.model = ModelSpec::preset(&self.preset).expect("preset list");
                wb.act(Action::StartStudy(StudyRequest::new::<Ensemble>(self.config.clone())));
            }
            saved_results_ui(ui, wb, RESULTS_FILE);
            let results = wb.studies.latest::<Ensemble>().map(|l| l.results);
            crate::ui::export::export_ui(ui, wb, results.is_some(), move || {
                results.map(|r| crate::study::ensemble::figure(&r))
            });
        });
        super::study_devices_ui(ui, wb, Ensemble::ID);
        let has_results = wb.studies.latest::<Ensemble>().is_some();
        egui::CollapsingHeader::new("Settings")
            .default_open(!has_results)
            .show(ui, |ui| {
                self.settings_ui(ui);
                super::more_devices_ui(ui, wb);
            });
        let Some(loaded) = wb.studies.latest::<Ensemble>() else {
            ui.add_space(8.0);
            ui.label(
                "Trains N models, each full-batch with AdamW on its own stratified sample of k images \
                 per digit until it fits them (or hits the step limit), then tests every model on the \
                 whole test set. Seed S0 found such models reach about 46 % and agree on which digits \
                 are hard. Run it, or open a saved one.",
            );
            return;
        };
        let r = loaded.results;
        if let Some(dir) = &loaded.dir {
            ui.weak(format!("results: {}", dir.display()));
        }
        let Some(loaded_data) = &wb.data.loaded else {
            return;
        };
        let data = loaded_data.dataset.clone();
        // The digest computed when the data were loaded (not every frame).
        let matches = r.data.test_digest == loaded_data.test_digest
            && r.test_labels == data.test.labels
            && r.members
                .iter()
                .all(|m| m.train_indices.iter().all(|&i| i < data.train.len()));
        if !matches {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "These results were computed on other data ({}); load that data to see the images.",
                    r.data.source
                ),
            );
        }
        self.summary_ui(ui, &r);
        ui.separator();
        self.overview_ui(ui, &r);
        ui.separator();
        if matches {
            self.details_ui(ui, wb, &r, &data);
        }
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&ModelAndConfig {
            config: self.config.clone(),
            preset: self.preset.clone(),
        })
        .ok()
    }

    fn load_settings(&mut self, json: &str) {
        if let Ok(ModelAndConfig { config, preset }) =
            serde_json::from_str::<ModelAndConfig<EnsembleConfig>>(json)
            && PRESET_NAMES.contains(&preset.as_str())
            && config.validate().is_ok()
        {
            self.config = config;
            self.preset = preset;
        }
    }
}

impl EnsemblePanel {
    fn settings_ui(&mut self, ui: &mut egui::Ui) {
        let c = &mut self.config;
        egui::Grid::new("ensemble-settings")
            .num_columns(4)
            .show(ui, |ui| {
                ui.label("Model");
                egui::ComboBox::from_id_salt("ensemble-model")
                    .selected_text(&self.preset)
                    .show_ui(ui, |ui| {
                        for name in PRESET_NAMES {
                            ui.selectable_value(&mut self.preset, name.to_string(), name);
                        }
                    });
                ui.label("Models");
                ui.add(egui::DragValue::new(&mut c.models).range(1..=1000))
                    .on_hover_text("How many models (seed S0: 50)");
                ui.end_row();
                ui.label("Images per digit");
                ui.add(egui::DragValue::new(&mut c.per_digit).range(1..=500))
                    .on_hover_text("Each model's stratified sample: this many of every digit (seed S0: 2)");
                ui.label("Step limit");
                ui.add(egui::DragValue::new(&mut c.max_steps).range(1..=100_000));
                ui.end_row();
                ui.label("Target train accuracy");
                ui.add(
                    egui::DragValue::new(&mut c.target_train_accuracy)
                        .range(0.01..=1.0)
                        .speed(0.01),
                );
                ui.label("Seed");
                ui.add(egui::DragValue::new(&mut c.seed))
                    .on_hover_text("Model i uses seed + i for its sample, weights and dropout");
                ui.end_row();
                ui.label("Learning rate");
                ui.add(
                    egui::DragValue::new(&mut c.learning_rate)
                        .range(1e-6..=1.0)
                        .speed(1e-4)
                        .max_decimals(6),
                );
                ui.label("Weight decay");
                ui.add(
                    egui::DragValue::new(&mut c.weight_decay)
                        .range(0.0..=1.0)
                        .speed(1e-5)
                        .max_decimals(6),
                );
                ui.end_row();
            });
    }

    fn summary_ui(&self, ui: &mut egui::Ui, r: &EnsembleResults) {
        let s = &r.stats.summary;
        let corr = |v: Option<f64>| v.map_or("undefined".to_string(), |v| format!("{v:.3}"));
        ui.horizontal_wrapped(|ui| {
            ui.strong(format!(
                "{} × {} on {} per digit: test accuracy {} ± {}",
                s.models,
                r.config.model.preset_name().unwrap_or("custom"),
                r.config.per_digit,
                crate::ui::widgets::percent(s.mean_accuracy, 1),
                crate::ui::widgets::percent(s.std_accuracy, 1)
            ));
            ui.label(format!(
                "· mean steps {:.1} ({} of {} reached {:.0} % train accuracy) · model-model correlation {} · digit-digit correlation {} · {:.0} s training + {:.0} s testing",
                s.mean_steps,
                s.converged,
                s.models,
                100.0 * r.config.target_train_accuracy,
                corr(s.mean_model_correlation),
                corr(s.mean_digit_correlation),
                r.train_seconds,
                r.eval_seconds
            ));
        });
    }

    /// Accuracy per model, model-model and digit-digit heatmaps, the difficulty histogram.
    fn overview_ui(&mut self, ui: &mut egui::Ui, r: &EnsembleResults) {
        let side = ((ui.available_width() - 60.0) / 4.0).clamp(150.0, 300.0);
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| self.accuracy_bars_ui(ui, &r.stats, side));
            ui.vertical(|ui| self.model_correlation_ui(ui, &r.stats, side));
            ui.vertical(|ui| self.digit_correlation_ui(ui, &r.stats, side));
            ui.vertical(|ui| self.difficulty_ui(ui, &r.stats, side));
        });
    }

    /// Test accuracy per model as bars; a click selects the model.
    fn accuracy_bars_ui(&mut self, ui: &mut egui::Ui, st: &EnsembleStats, side: f32) {
        let n = st.model_accuracy.len();
        ui.strong("Test accuracy per model")
            .on_hover_text("Click a bar to select that model");
        let selected_colour = crate::ui::palette::selection_color(ui.visuals());
        let bars: Vec<Bar> = st
            .model_accuracy
            .iter()
            .enumerate()
            .map(|(m, &a)| {
                let colour = if Some(m) == self.model {
                    selected_colour
                } else {
                    BLUE
                };
                Bar::new(m as f64, a)
                    .width(0.8)
                    .fill(colour)
                    .name(format!("model #{m}"))
            })
            .collect();
        let response = crate::ui::widgets::panel_plot("ensemble-accuracy", side)
            .width(side)
            .include_y(0.0)
            .include_y(1.0)
            .x_axis_label("model")
            .allow_drag(false)
            .show(ui, |plot| {
                plot.bar_chart(BarChart::new("accuracy", bars));
                plot.pointer_coordinate()
            });
        if response.response.clicked()
            && let Some(p) = response.inner
        {
            let m = p.x.round();
            if m >= 0.0 && (m as usize) < n {
                self.model = Some(m as usize);
            }
        }
    }

    /// Model-model correlation heatmap; a click selects its row's model.
    fn model_correlation_ui(&mut self, ui: &mut egui::Ui, st: &EnsembleStats, side: f32) {
        let n = st.model_accuracy.len();
        ui.strong("Model-model correlation").on_hover_text(
            "Correlation (phi) of two models' right/wrong over the test images. Click a cell to select its row's model.",
        );
        let value = |a: usize, b: usize| st.model_correlation[a][b];
        let hover = |a: usize, b: usize| {
            format!(
                "models #{a} and #{b}: correlation {}",
                st.model_correlation[a][b].map_or("undefined".into(), |v| format!("{v:.3}"))
            )
        };
        let heat = Heatmap::new("model correlation", (n, n), &value, &correlation_color)
            .hover(&hover)
            .label_every((n / 5).max(1))
            .selected(self.model.map(|m| (m, m)))
            .legend(-1.0, 1.0, "correlation");
        if let Some((a, _)) = heat.show(ui, side - 22.0) {
            self.model = Some(a);
        }
    }

    /// Digit-digit correlation heatmap; a click picks the digit pair.
    fn digit_correlation_ui(&mut self, ui: &mut egui::Ui, st: &EnsembleStats, side: f32) {
        ui.strong("Digit-digit correlation").on_hover_text(
            "Correlation across models of their accuracy on two digits. Click a cell for the scatter.",
        );
        let value = |d: usize, e: usize| st.digit_correlation[d][e];
        let hover = |d: usize, e: usize| {
            format!(
                "digits {d} and {e}: correlation {}",
                st.digit_correlation[d][e].map_or("undefined".into(), |v| format!("{v:.3}"))
            )
        };
        let heat = Heatmap::new(
            "digit correlation",
            (NUM_CLASSES, NUM_CLASSES),
            &value,
            &correlation_color,
        )
        .hover(&hover)
        .selected(Some(self.pair))
        .legend(-1.0, 1.0, "correlation");
        if let Some(pair) = heat.show(ui, side - 22.0) {
            self.pair = pair;
        }
    }

    /// Test images by the share of models right; a click or the range fields pick the images listed below.
    fn difficulty_ui(&mut self, ui: &mut egui::Ui, st: &EnsembleStats, side: f32) {
        let n = st.model_accuracy.len();
        ui.strong("Difficulty").on_hover_text(
            "Test images by the share of models that got them right. Click a bar to list those images.",
        );
        let models = n.max(1) as f64;
        let bars: Vec<Bar> = st
            .difficulty_histogram
            .iter()
            .enumerate()
            .map(|(k, &count)| {
                let x = k as f64 / models;
                let inside = x >= self.range.0 - 1e-9 && x <= self.range.1 + 1e-9;
                Bar::new(x, count as f64)
                    .width(0.8 / models)
                    .fill(if inside {
                        crate::ui::palette::SERIES_ORANGE
                    } else {
                        BLUE
                    })
                    .name(format!("{k} of {n} models right"))
            })
            .collect();
        let response = crate::ui::widgets::panel_plot("ensemble-difficulty", side - 40.0)
            .width(side)
            .include_x(0.0)
            .include_x(1.0)
            .include_y(0.0)
            .x_axis_label("share of models right")
            .allow_drag(false)
            .show(ui, |plot| {
                plot.bar_chart(BarChart::new("images", bars));
                plot.pointer_coordinate()
            });
        if response.response.clicked()
            && let Some(p) = response.inner
        {
            let k = (p.x * models).round().clamp(0.0, models);
            self.range = (k / models, k / models);
        }
        ui.horizontal(|ui| {
            ui.label("range");
            ui.add(
                egui::DragValue::new(&mut self.range.0)
                    .range(0.0..=1.0)
                    .speed(0.01)
                    .max_decimals(2),
            );
            ui.label("to");
            ui.add(
                egui::DragValue::new(&mut self.range.1)
                    .range(0.0..=1.0)
                    .speed(0.01)
                    .max_decimals(2),
            );
        });
        if self.range.1 < self.range.0 {
            self.range.1 = self.range.0;
        }
    }
}
