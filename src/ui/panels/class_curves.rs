//! Class curves: the open run's test accuracy per digit at every epoch, from its history
//! (the [`ClassCurves`] study). Shows which digits the model learns late and which stay
//! hard; the overall accuracy is the thick line. Digits can be hidden with the chips.

use egui_plot::{Legend, Line, PlotPoints};

use super::{Panel, study_controls_ui};
use crate::data::NUM_CLASSES;
use crate::study::Study as _;
use crate::study::class_curves::{ClassCurves, ClassCurvesConfig, ClassCurvesResults};
use crate::ui::layout::PanelKind;
use crate::ui::palette::class_color;
use crate::ui::workbench::studies::StudyRequest;
use crate::ui::workbench::{Action, Workbench};

/// The Class curves panel; its settings are the study's config (the digits shown).
#[derive(Default)]
pub struct ClassCurvesPanel {
    config: ClassCurvesConfig,
}

impl Panel for ClassCurvesPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::ClassCurves
    }

    fn study(&self) -> Option<&'static str> {
        Some(ClassCurves::ID)
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let latest = wb.studies.latest::<ClassCurves>();
        ui.horizontal(|ui| {
            let blocked = match &wb.model {
                None => Some("open a run first"),
                Some(m) if m.run_dir.is_none() => Some("this model has no run folder (save it first)"),
                Some(_) => None,
            };
            if study_controls_ui(ui, wb, ClassCurves::ID, "Compute", blocked) {
                wb.act(Action::StartStudy(StudyRequest::new::<ClassCurves>(self.config.clone())));
            }
            let results = latest.as_ref().map(|l| l.results.clone());
            let config = self.config.clone();
            crate::ui::export::export_ui(ui, wb, results.is_some(), move || {
                results.map(|r| {
                    let shown = ClassCurvesResults {
                        config,
                        ..(*r).clone()
                    };
                    crate::study::class_curves::figure(&shown)
                })
            });
        });
        self.digit_chips_ui(ui);
        let Some(latest) = latest else {
            ui.add_space(8.0);
            ui.label(
                "Reads the open run's history and draws each digit's test accuracy at every epoch: \
                 which digits the model learns first, and which it keeps getting wrong. Compute reads \
                 the run folder only (no model pass); a run trained in the app has its curves after \
                 the first epoch.",
            );
            return;
        };
        let r = &latest.results;
        ui.label(ClassCurves::summary(r));
        curves_ui(ui, r, &self.config.shown());
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&self.config).ok()
    }

    fn load_settings(&mut self, json: &str) {
        if let Ok(config) = serde_json::from_str::<ClassCurvesConfig>(json)
            && ClassCurves::validate(&config).is_ok()
        {
            self.config = config;
        }
    }
}

impl ClassCurvesPanel {
    /// One check box per digit, labelled in the digit's colour; all ten is stored as none.
    fn digit_chips_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("digits");
            let shown = self.config.shown();
            for d in 0..NUM_CLASSES as u8 {
                let mut on = shown.contains(&d);
                let text = egui::RichText::new(d.to_string()).strong().color(class_color(d as usize));
                if ui
                    .checkbox(&mut on, text)
                    .on_hover_text(format!("Show or hide digit {d}'s curve"))
                    .changed()
                {
                    let mut next: Vec<u8> = shown.iter().copied().filter(|&x| x != d).collect();
                    if on {
                        next.push(d);
                        next.sort_unstable();
                    }
                    // All ten is the default, stored as none; the last shown digit stays.
                    if !next.is_empty() {
                        self.config.digits = if next.len() == NUM_CLASSES { Vec::new() } else { next };
                    }
                }
            }
            if !self.config.digits.is_empty() && ui.small_button("all").clicked() {
                self.config.digits.clear();
            }
        });
    }
}

/// Accuracy per digit against the epoch, with the overall accuracy thick.
fn curves_ui(ui: &mut egui::Ui, r: &ClassCurvesResults, shown: &[u8]) {
    // The theme's text colour: the overall line reads as "the whole", in light and dark.
    let ink = ui.visuals().strong_text_color();
    egui_plot::Plot::new("class-curves")
        .legend(Legend::default())
        .x_axis_label("epoch")
        .y_axis_label("test accuracy")
        .allow_scroll(false)
        .show(ui, |plot| {
            for &d in shown {
                let points: PlotPoints = r
                    .epochs
                    .iter()
                    .map(|e| [e.epoch as f64, e.per_class[d as usize]])
                    .collect();
                plot.line(Line::new(format!("digit {d}"), points).color(class_color(d as usize)));
            }
            let overall: PlotPoints = r.epochs.iter().map(|e| [e.epoch as f64, e.accuracy]).collect();
            plot.line(Line::new("all digits", overall).color(ink).width(3.0));
        });
}
