//! Size curve (seed S2): one model trained on growing fractions of the training set, with
//! train and test loss and accuracy against the number of images on log-log axes, and the
//! table with seed S2's numbers beside. A cancelled curve keeps its finished fractions and
//! Resume trains the rest.

use egui_plot::{Legend, Line, PlotPoints};

use super::{ModelAndConfig, Panel, study_controls_ui, saved_results_ui};
use crate::model::{ModelSpec, PRESET_NAMES};
use crate::ui::layout::PanelKind;
use crate::study::Study as _;
use crate::study::subset_curve::{
    FractionResult, RESULTS_FILE, SubsetCurve, SubsetCurveConfig, SubsetCurveResults,
};
use crate::ui::workbench::studies::StudyRequest;
use crate::ui::workbench::{Action, Workbench};

/// Seed S2's test accuracy at 1/16, 1/8, 1/4, 1/2 and all of the training set.
pub const SEED_S2_TEST_ACCURACY: [(f64, f64); 5] = [
    (0.0625, 0.9815),
    (0.125, 0.9879),
    (0.25, 0.9898),
    (0.5, 0.9925),
    (1.0, 0.9932),
];

/// The Size curve panel.
pub struct SubsetCurvePanel {
    config: SubsetCurveConfig,
    preset: String,
    fractions_text: String,
    fractions_error: Option<String>,
}

impl Default for SubsetCurvePanel {
    fn default() -> Self {
        let config = SubsetCurveConfig::default();
        Self {
            fractions_text: fractions_to_text(&config.fractions),
            config,
            preset: "seed3-cnn".into(),
            fractions_error: None,
        }
    }
}

fn fractions_to_text(fractions: &[f64]) -> String {
    fractions
        .iter()
        .map(|f| format!("{f}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses "0.0625, 1/8, 0.25" (decimals or n/d), each in (0, 1].
pub fn parse_fractions(text: &str) -> Result<Vec<f64>, String> {
    let mut out = Vec::new();
    for part in text.split([',', ' ']).filter(|p| !p.trim().is_empty()) {
        let p = part.trim();
        let value = match p.split_once('/') {
            Some((a, b)) => {
                let (a, b): (f64, f64) = (
                    a.trim().parse().map_err(|_| format!("'{p}' is not a number"))?,
                    b.trim().parse().map_err(|_| format!("'{p}' is not a number"))?,
                );
                a / b
            }
            None => p.parse().map_err(|_| format!("'{p}' is not a number"))?,
        };
        if !(value > 0.0 && value <= 1.0) {
            return Err(format!("{p} is not in (0, 1]"));
        }
        out.push(value);
    }
    if out.is_empty() {
        return Err("give at least one fraction".into());
    }
    out.sort_by(|a, b| a.total_cmp(b));
    out.dedup();
    Ok(out)
}

impl Panel for SubsetCurvePanel {
    fn kind(&self) -> PanelKind {
        PanelKind::SubsetCurve
    }

    fn study(&self) -> Option<&'static str> {
        Some(SubsetCurve::ID)
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let loaded = wb.studies.latest::<SubsetCurve>();
        ui.horizontal(|ui| {
            let blocked = if wb.dataset().is_none() {
                Some("no data loaded yet")
            } else if self.fractions_error.is_some() {
                Some("fix the fractions first")
            } else {
                None
            };
            if study_controls_ui(ui, wb, SubsetCurve::ID, "Run size curve", blocked) {
                self.config.train.model = ModelSpec::preset(&self.preset).expect("preset list");
                wb.act(Action::StartStudy(StudyRequest::new::<SubsetCurve>(self.config.clone())));
            }
            if let Some(l) = &loaded
                && !l.results.is_complete()
                && !wb.studies.lane_busy(crate::study::Lane::Experiment)
                && let Some(dir) = &l.dir
                && ui
                    .button("Resume")
                    .on_hover_text("Train the fractions this curve is missing, into the same folder")
                    .clicked()
            {
                let request = StudyRequest::new::<SubsetCurve>(l.results.config.clone());
                wb.act(Action::StartStudy(request.resuming(Some(dir.clone()))));
            }
            saved_results_ui(ui, wb, RESULTS_FILE);
            let results = loaded.as_ref().map(|l| l.results.clone());
            crate::ui::export::export_ui(ui, wb, results.is_some(), move || {
                results.map(|r| crate::study::subset_curve::figure(&r))
            });
        });
        super::study_devices_ui(ui, wb, SubsetCurve::ID);
        egui::CollapsingHeader::new("Settings")
            .default_open(loaded.is_none())
            .show(ui, |ui| {
                self.settings_ui(ui);
                super::more_devices_ui(ui, wb);
            });
        let Some(loaded) = loaded else {
            ui.add_space(8.0);
            ui.label(
                "Trains the same model for the same epochs on 1/16, 1/8, 1/4, 1/2 and all of the training \
                 set (stratified, seeded) and plots loss and accuracy against size on log-log axes. Seed S2: \
                 ten times the data gives about a third of the test loss. Each fraction is saved as it \
                 finishes; a cancelled curve can be resumed.",
            );
            return;
        };
        let r = &loaded.results;
        if let Some(dir) = &loaded.dir {
            ui.weak(format!(
                "results: {} · {} of {} fractions done",
                dir.display(),
                r.points.len(),
                r.config.fractions.len()
            ));
        }
        curve_plots(ui, r);
        table_ui(ui, r);
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
            serde_json::from_str::<ModelAndConfig<SubsetCurveConfig>>(json)
            && PRESET_NAMES.contains(&preset.as_str())
            && config.validate().is_ok()
        {
            self.fractions_text = fractions_to_text(&config.fractions);
            self.config = config;
            self.preset = preset;
        }
    }
}

impl SubsetCurvePanel {
    fn settings_ui(&mut self, ui: &mut egui::Ui) {
        let t = &mut self.config.train;
        egui::Grid::new("curve-settings").num_columns(4).show(ui, |ui| {
            ui.label("Model");
            egui::ComboBox::from_id_salt("curve-model")
                .selected_text(&self.preset)
                .show_ui(ui, |ui| {
                    for name in PRESET_NAMES {
                        ui.selectable_value(&mut self.preset, name.to_string(), name);
                    }
                });
            ui.label("Epochs");
            ui.add(egui::DragValue::new(&mut t.epochs).range(1..=1000))
                .on_hover_text("The same for every fraction");
            ui.end_row();
            ui.label("Fractions");
            let edit = ui
                .add(egui::TextEdit::singleline(&mut self.fractions_text).desired_width(180.0))
                .on_hover_text("Shares of the training set, e.g. 1/16, 1/8, 0.25, 0.5, 1");
            if edit.changed() {
                match parse_fractions(&self.fractions_text) {
                    Ok(f) => {
                        self.config.fractions = f;
                        self.fractions_error = None;
                    }
                    Err(e) => self.fractions_error = Some(e),
                }
            }
            ui.label("Batch size");
            ui.add(egui::DragValue::new(&mut t.batch_size).range(1..=60_000));
            ui.end_row();
            ui.label("Augment");
            ui.checkbox(&mut t.augment, "rotation, shift, scale")
                .on_hover_text("Keeps the small fractions from overfitting");
            ui.label("Seed");
            ui.add(egui::DragValue::new(&mut t.seed));
            ui.end_row();
        });
        if let Some(e) = &self.fractions_error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
    }
}

fn log_formatter(mark: egui_plot::GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    let v = 10f64.powf(mark.value);
    if v >= 1000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn curve_plots(ui: &mut egui::Ui, r: &SubsetCurveResults) {
    let x = |p: &FractionResult| (p.train_size.max(1) as f64).log10();
    let log = |v: f64| v.max(1e-6).log10();
    let series = |f: &dyn Fn(&FractionResult) -> f64| -> Vec<[f64; 2]> {
        r.points.iter().map(|p| [x(p), log(f(p))]).collect()
    };
    let height = (ui.available_height() * 0.55).clamp(180.0, 360.0);
    ui.columns(2, |cols| {
        for (col, (title, train, test)) in cols.iter_mut().zip([
            ("loss", series(&|p| p.train_loss), series(&|p| p.test_loss)),
            (
                "accuracy",
                series(&|p| p.train_accuracy),
                series(&|p| p.test_accuracy),
            ),
        ]) {
            col.strong(format!("{title} against training-set size (log-log)"));
            crate::ui::widgets::panel_plot(("curve", title), height)
                .legend(Legend::default())
                .x_axis_label("training images")
                .y_axis_label(title)
                .x_axis_formatter(log_formatter)
                .y_axis_formatter(log_formatter)
                .label_formatter(|hover| match hover {
                    egui_plot::HoverPosition::NearDataPoint {
                        plot_name, position, ..
                    } => Some(format!(
                        "{plot_name}\n{:.0} images\n{:.4}",
                        10f64.powf(position.x),
                        10f64.powf(position.y)
                    )),
                    egui_plot::HoverPosition::Elsewhere { .. } => None,
                })
                .show(col, |plot| {
                    plot.line(Line::new("train", PlotPoints::from(train.clone())).width(2.0));
                    plot.line(Line::new("test", PlotPoints::from(test.clone())).width(2.0));
                    plot.points(egui_plot::Points::new("train points", PlotPoints::from(train)).radius(3.0));
                    plot.points(egui_plot::Points::new("test points", PlotPoints::from(test)).radius(3.0));
                });
        }
    });
}

fn table_ui(ui: &mut egui::Ui, r: &SubsetCurveResults) {
    egui::Grid::new("curve-table")
        .striped(true)
        .num_columns(9)
        .show(ui, |ui| {
            for h in [
                "fraction",
                "images",
                "train loss",
                "train acc",
                "test loss",
                "test acc",
                "seed S2 test acc",
                "difference",
                "time",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for f in &r.config.fractions {
                let reference = SEED_S2_TEST_ACCURACY
                    .iter()
                    .find(|(rf, _)| (rf - f).abs() < 1e-9)
                    .map(|r| r.1);
                ui.label(format!("{f:.4}"));
                match r.points.iter().find(|p| p.fraction == *f) {
                    Some(p) => {
                        ui.label(p.train_size.to_string());
                        ui.label(format!("{:.4}", p.train_loss));
                        ui.label(format!("{:.4}", p.train_accuracy));
                        ui.label(format!("{:.4}", p.test_loss));
                        ui.strong(format!("{:.4}", p.test_accuracy));
                        ui.label(reference.map_or("-".into(), |v| format!("{v:.4}")));
                        match reference {
                            Some(v) => {
                                let d = 100.0 * (p.test_accuracy - v);
                                let colour = if d >= -0.5 {
                                    crate::ui::palette::GOOD
                                } else {
                                    ui.visuals().error_fg_color
                                };
                                ui.colored_label(colour, format!("{d:+.2} pp")).on_hover_text(
                                    "Within ±0.5 percentage points of seed S2, or better, is green",
                                );
                            }
                            None => {
                                ui.label("-");
                            }
                        }
                        ui.label(crate::ui::widgets::format_duration(p.seconds));
                    }
                    None => {
                        for _ in 0..8 {
                            ui.weak("…");
                        }
                    }
                }
                ui.end_row();
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_parse_decimals_and_ratios() {
        assert_eq!(
            parse_fractions("1/16, 0.125 1/4,0.5, 1"),
            Ok(vec![0.0625, 0.125, 0.25, 0.5, 1.0])
        );
        assert!(parse_fractions("0").is_err());
        assert!(parse_fractions("1.5").is_err());
        assert!(parse_fractions("half").is_err());
        assert!(parse_fractions(" ").is_err());
    }
}
