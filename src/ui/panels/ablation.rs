//! Neuron ablation (seed S1): pick a layer and two classes; the units whose class-mean
//! activations differ by more than a threshold are zeroed, and the accuracy that leaves is
//! set against K random ablations of as many units (a histogram with the targeted result
//! marked), with a threshold sweep and the sorted differences. Runs the `ablation` study
//! ([`crate::study::ablation`]).

use egui::Color32;
use egui_plot::{Bar, BarChart, FilledArea, Legend, Line, PlotPoints, VLine};

use super::{Panel, digit_ui, probe_blocked, stale_ui, study_controls_ui};
use crate::study::Study as _;
use crate::study::ablation::{Ablation, AblationResults, AblationSettings, Accuracies};
use crate::ui::layout::PanelKind;
use crate::ui::workbench::studies::StudyRequest;
use crate::ui::workbench::{Action, Workbench};

use crate::ui::palette::SERIES_BLUE as BLUE;
const RED: Color32 = crate::ui::palette::BAD;

/// What the Ablation panel keeps across restarts: the settings but the layer, which is
/// chosen per model. Named fields with defaults, so the older saved form (the probe's whole
/// `AblationConfig`, layer index included) still loads, its layer ignored.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct SavedSettings {
    classes: [u8; 2],
    threshold: f32,
    random_trials: usize,
    sweep: Vec<f32>,
    sweep_trials: usize,
    max_images: usize,
    seed: u64,
}

impl Default for SavedSettings {
    fn default() -> Self {
        Self::from(&AblationSettings::default())
    }
}

impl From<&AblationSettings> for SavedSettings {
    fn from(s: &AblationSettings) -> Self {
        Self {
            classes: s.classes,
            threshold: s.threshold,
            random_trials: s.random_trials,
            sweep: s.sweep.clone(),
            sweep_trials: s.sweep_trials,
            max_images: s.max_images,
            seed: s.seed,
        }
    }
}

/// The Ablation panel: its settings (layer by name, classes, threshold, trials); the results
/// are the study's latest in `wb.studies`.
pub struct AblationPanel {
    settings: AblationSettings,
    /// Model version the default layer was chosen for.
    layer_for: u64,
}

impl Default for AblationPanel {
    fn default() -> Self {
        Self {
            settings: AblationSettings::default(),
            layer_for: u64::MAX,
        }
    }
}

impl AblationPanel {
    fn controls_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let layers = wb
            .model
            .as_ref()
            .map(|m| m.model.probe_layers())
            .unwrap_or_default();
        let version = wb.model.as_ref().map_or(0, |m| m.version);
        if self.layer_for != version {
            // The last hidden layer: seed S1's MLP layer, a CNN's dense layer.
            self.layer_for = version;
            self.settings.layer = layers.last().map(|l| l.name.clone());
        }
        let s = &mut self.settings;
        ui.horizontal_wrapped(|ui| {
            if study_controls_ui(ui, wb, Ablation::ID, "Run ablation", probe_blocked(wb)) {
                if s.classes[0] == s.classes[1] {
                    wb.act(Action::Notify("choose two different digits".into(), true));
                } else {
                    wb.act(Action::StartStudy(StudyRequest::new::<Ablation>(s.clone())));
                }
            }
            let chosen = layers.iter().find(|l| s.layer.as_ref() == Some(&l.name));
            let name = chosen.map_or("—".to_string(), |l| {
                format!("{} ({} {})", l.name, l.units, if l.is_conv { "channels" } else { "units" })
            });
            let before = s.layer.clone();
            egui::ComboBox::from_label("layer")
                .selected_text(name)
                .show_ui(ui, |ui| {
                    for l in &layers {
                        ui.selectable_value(&mut s.layer, Some(l.name.clone()), format!("{} ({})", l.name, l.units));
                    }
                })
                .response
                .on_hover_text("Dense layers ablate neurons; conv layers ablate whole channels (slower: the later convolutions run once per ablation)");
            let now_conv = layers.iter().any(|l| l.is_conv && s.layer.as_ref() == Some(&l.name));
            if s.layer != before && now_conv {
                // Every ablation re-runs the later convolutions: keep the first try short.
                s.max_images = s.max_images.min(1000);
            }
            let [a, b] = &mut s.classes;
            digit_ui(ui, "classes", a, "First class (seed S1: 1)");
            digit_ui(ui, "and", b, "Second class (seed S1: 7)");
            ui.add(egui::Slider::new(&mut s.threshold, 0.0..=2.0).text("threshold"))
                .on_hover_text("Units with |mean activation on the first class − on the second| above this are zeroed");
            ui.label("random ablations");
            ui.add(egui::DragValue::new(&mut s.random_trials).range(1..=2000));
            ui.label("test images");
            ui.add(egui::DragValue::new(&mut s.max_images).range(100..=10_000).speed(50));
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut s.seed));
            let results = wb.studies.latest::<Ablation>();
            crate::ui::export::export_ui(ui, wb, results.is_some(), move || {
                results.map(|r| crate::study::ablation::figure(&r.results))
            });
        });
    }
}

impl Panel for AblationPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Ablation
    }

    fn study(&self) -> Option<&'static str> {
        Some(Ablation::ID)
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&SavedSettings::from(&self.settings)).ok()
    }

    fn load_settings(&mut self, json: &str) {
        if let Ok(saved) = serde_json::from_str::<SavedSettings>(json) {
            let s = &mut self.settings;
            let valid = |c: u8| c.min(9);
            s.classes = saved.classes.map(valid);
            s.threshold = if saved.threshold.is_finite() {
                saved.threshold.clamp(0.0, 2.0)
            } else {
                s.threshold
            };
            s.random_trials = saved.random_trials.clamp(1, 2000);
            if saved.sweep.iter().all(|t| (0.0..=1000.0).contains(t)) {
                s.sweep = saved.sweep;
            }
            s.sweep_trials = saved.sweep_trials.min(10_000);
            s.max_images = saved.max_images.clamp(100, 10_000);
            s.seed = saved.seed;
            // The layer is chosen per model.
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        self.controls_ui(ui, wb);
        ui.separator();
        let Some(probed) = wb.studies.latest::<Ablation>() else {
            ui.label(
                "Finds the units whose mean activation differs most between two classes (seed S1: 1 and 7), \
                 zeroes them at inference and compares the accuracy with random ablations of as many units.",
            );
            return;
        };
        stale_ui(ui, wb, probed.from.model_version);
        let r = &probed.results;
        summary_ui(ui, r);
        accuracy_table_ui(ui, r);
        let width = ((ui.available_width() - 30.0) / 3.0).max(220.0);
        ui.horizontal_top(|ui| {
            random_ablations_chart_ui(ui, r, width);
            threshold_sweep_chart_ui(ui, r, width);
            differences_chart_ui(ui, r, width);
        });
    }
}

/// The headline: units found, accuracy before and after, how random ablations compare.
fn summary_ui(ui: &mut egui::Ui, r: &AblationResults) {
    let [a, b] = r.config.classes;
    let mean_random = r.random.iter().map(|x| x.pair).sum::<f64>() / r.random.len().max(1) as f64;
    ui.horizontal_wrapped(|ui| {
        ui.strong(format!(
            "{}: {} of {} units differ by more than {} · accuracy on {a} and {b}: {:.3} to {:.3} targeted, {:.3} random",
            r.layer_name,
            r.targeted_units.len(),
            r.differences.len(),
            r.config.threshold,
            r.baseline.pair,
            r.targeted.pair,
            mean_random
        ));
        ui.label(format!(
            "· {:.0} % of random ablations do as badly · {:.0} % of units differ by less than 0.2 (seed S1: about 60 %)",
            100.0 * r.random_at_or_below,
            100.0 * r.small_difference_share
        ));
    });
}

/// Accuracy on each class, the pair and overall: nothing ablated, targeted, random (mean).
fn accuracy_table_ui(ui: &mut egui::Ui, r: &AblationResults) {
    let [a, b] = r.config.classes;
    egui::Grid::new("ablation_table").striped(true).show(ui, |ui| {
        for h in ["", &format!("on {a}"), &format!("on {b}"), "on both", "overall"] {
            ui.strong(h);
        }
        ui.end_row();
        let rows = [("nothing ablated", r.baseline), ("targeted", r.targeted)];
        for (name, acc) in rows {
            ui.label(name);
            for v in [acc.class_a, acc.class_b, acc.pair, acc.overall] {
                ui.label(format!("{:.2} %", 100.0 * v));
            }
            ui.end_row();
        }
        let mean =
            |f: fn(&Accuracies) -> f64| r.random.iter().map(f).sum::<f64>() / r.random.len().max(1) as f64;
        ui.label(format!("random (mean of {})", r.random.len()));
        for v in [
            mean(|x| x.class_a),
            mean(|x| x.class_b),
            mean(|x| x.pair),
            mean(|x| x.overall),
        ] {
            ui.label(format!("{:.2} %", 100.0 * v));
        }
        ui.end_row();
    });
}

/// Histogram of the random ablations' accuracy on the pair, the targeted one marked.
fn random_ablations_chart_ui(ui: &mut egui::Ui, r: &AblationResults, width: f32) {
    let [a, b] = r.config.classes;
    let bins = 40;
    let mut counts = vec![0usize; bins];
    for x in &r.random {
        counts[((x.pair * bins as f64) as usize).min(bins - 1)] += 1;
    }
    let bars: Vec<Bar> = counts
        .iter()
        .enumerate()
        .map(|(k, &c)| Bar::new((k as f64 + 0.5) / bins as f64, c as f64).width(0.9 / bins as f64))
        .collect();
    let reference = crate::ui::palette::reference_color(ui.visuals());
    crate::ui::widgets::panel_plot("ablation_hist", 280.0)
        .width(width)
        .legend(Legend::default())
        .x_axis_label(format!("accuracy on {a} and {b}"))
        .y_axis_label("random ablations")
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("random", bars).color(BLUE));
            plot.vline(VLine::new("targeted", r.targeted.pair).color(RED).width(2.0));
            plot.vline(VLine::new("nothing ablated", r.baseline.pair).color(reference));
        });
}

/// Accuracy against the threshold: targeted, and random ablations of as many units (± std).
fn threshold_sweep_chart_ui(ui: &mut egui::Ui, r: &AblationResults, width: f32) {
    let targeted: Vec<[f64; 2]> = r
        .sweep
        .iter()
        .map(|p| [p.threshold as f64, p.targeted.pair])
        .collect();
    let random: Vec<[f64; 2]> = r
        .sweep
        .iter()
        .map(|p| [p.threshold as f64, p.random_pair.0])
        .collect();
    let xs: Vec<f64> = r.sweep.iter().map(|p| p.threshold as f64).collect();
    let lo: Vec<f64> = r
        .sweep
        .iter()
        .map(|p| p.random_pair.0 - p.random_pair.1)
        .collect();
    let hi: Vec<f64> = r
        .sweep
        .iter()
        .map(|p| p.random_pair.0 + p.random_pair.1)
        .collect();
    crate::ui::widgets::panel_plot("ablation_sweep", 280.0)
        .width(width)
        .legend(Legend::default())
        .x_axis_label("threshold")
        .x_axis_formatter(|mark, _| format!("{:.2}", mark.value))
        .y_axis_label("accuracy")
        .include_y(0.0)
        .include_y(1.0)
        .show(ui, |plot| {
            plot.line(Line::new("targeted", PlotPoints::from(targeted)).color(RED));
            plot.add(FilledArea::new("random ± std", &xs, &lo, &hi).fill_color(BLUE.gamma_multiply(0.25)));
            plot.line(Line::new("random", PlotPoints::from(random)).color(BLUE));
        });
}

/// Every unit's class-mean difference, sorted by size; those over the threshold in red.
fn differences_chart_ui(ui: &mut egui::Ui, r: &AblationResults, width: f32) {
    let [a, b] = r.config.classes;
    let mut sorted = r.differences.clone();
    sorted.sort_by(|x, y| y.abs().total_cmp(&x.abs()));
    let bars: Vec<Bar> = sorted
        .iter()
        .enumerate()
        .map(|(k, &d)| {
            let c = if d.abs() > r.config.threshold { RED } else { BLUE };
            Bar::new(k as f64, d as f64).width(0.9).fill(c)
        })
        .collect();
    crate::ui::widgets::panel_plot("ablation_diffs", 280.0)
        .width(width)
        .x_axis_label("unit (sorted by |difference|)")
        .y_axis_label(format!("mean({a}) − mean({b})"))
        .show(ui, |plot| plot.bar_chart(BarChart::new("difference", bars)));
}
