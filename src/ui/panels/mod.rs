//! The panels: one file each, all behind [`Panel`], registered in [`Panels::new`] (the tile
//! layout, the View menu and the tests all go through it).

mod calibration;
mod confusion;
mod dashboard;
mod data;
mod dataset;
mod ensemble;
mod errors;
mod features;
mod filters;
mod pad;
mod runs;
mod stability;
mod subset_curve;
mod training;

pub use calibration::CalibrationPanel;
pub use confusion::ConfusionPanel;
pub use dashboard::DashboardPanel;
pub use data::DataPanel;
pub use dataset::DatasetPanel;
pub use ensemble::EnsemblePanel;
pub use errors::ErrorsPanel;
pub use features::FeaturesPanel;
pub use filters::FiltersPanel;
pub use pad::PadPanel;
pub use runs::RunsPanel;
pub use stability::StabilityPanel;
pub use subset_curve::SubsetCurvePanel;
pub use training::TrainingPanel;

use std::sync::Arc;

use crate::analysis::worker::TestEvaluation;

use super::layout::PanelKind;
use super::state::Workbench;

/// A panel: its own view state plus a `ui` that reads the shared [`Workbench`] and queues
/// actions on it.
pub trait Panel {
    /// Which panel this is.
    fn kind(&self) -> PanelKind;

    /// Draws the panel.
    fn ui(&mut self, ui: &mut egui::Ui, wb: &mut Workbench);

    /// Settings worth keeping across restarts, as JSON.
    fn save_settings(&self) -> Option<String> {
        None
    }

    /// Restores what [`Panel::save_settings`] wrote (ignores anything unreadable).
    fn load_settings(&mut self, _json: &str) {}
}

/// All panels, one of each kind: the registry.
#[derive(Default)]
pub struct Panels {
    data: DataPanel,
    /// The training form (the app reads it for the Ctrl+Enter shortcut).
    pub training: TrainingPanel,
    dashboard: DashboardPanel,
    /// The pad (the app routes undo/redo shortcuts to it).
    pub pad: PadPanel,
    runs: RunsPanel,
    filters: FiltersPanel,
    features: FeaturesPanel,
    confusion: ConfusionPanel,
    errors: ErrorsPanel,
    calibration: CalibrationPanel,
    dataset: DatasetPanel,
    ensemble: EnsemblePanel,
    subset_curve: SubsetCurvePanel,
    stability: StabilityPanel,
}

impl Panels {
    /// A fresh set of panels.
    pub fn new() -> Self {
        Self::default()
    }

    /// The panel of a kind.
    pub fn get_mut(&mut self, kind: PanelKind) -> &mut dyn Panel {
        match kind {
            PanelKind::Data => &mut self.data,
            PanelKind::Training => &mut self.training,
            PanelKind::Dashboard => &mut self.dashboard,
            PanelKind::Pad => &mut self.pad,
            PanelKind::Runs => &mut self.runs,
            PanelKind::Filters => &mut self.filters,
            PanelKind::Features => &mut self.features,
            PanelKind::Confusion => &mut self.confusion,
            PanelKind::Errors => &mut self.errors,
            PanelKind::Calibration => &mut self.calibration,
            PanelKind::Dataset => &mut self.dataset,
            PanelKind::Ensemble => &mut self.ensemble,
            PanelKind::SubsetCurve => &mut self.subset_curve,
            PanelKind::Stability => &mut self.stability,
        }
    }

    fn all(&self) -> [&dyn Panel; PanelKind::ALL.len()] {
        [
            &self.data,
            &self.training,
            &self.dashboard,
            &self.pad,
            &self.runs,
            &self.filters,
            &self.features,
            &self.confusion,
            &self.errors,
            &self.calibration,
            &self.dataset,
            &self.ensemble,
            &self.subset_curve,
            &self.stability,
        ]
    }

    /// Every panel's settings, by title.
    pub fn save_settings(&self) -> Vec<(String, String)> {
        self.all()
            .iter()
            .filter_map(|p| p.save_settings().map(|s| (p.kind().title().to_string(), s)))
            .collect()
    }

    /// Restores settings saved by [`Panels::save_settings`].
    pub fn load_settings(&mut self, saved: &[(String, String)]) {
        for (title, json) in saved {
            if let Some(kind) = PanelKind::ALL.into_iter().find(|k| k.title() == title) {
                self.get_mut(kind).load_settings(json);
            }
        }
    }
}

/// The header of the panels that read the test-set evaluation: what was evaluated, a progress
/// bar while the worker evaluates, or what to do when there is nothing yet. Returns the
/// evaluation to show.
pub(crate) fn evaluation_status_ui(ui: &mut egui::Ui, wb: &Workbench) -> Option<Arc<TestEvaluation>> {
    let version = wb.model.as_ref().map(|m| m.version);
    let progress = wb.inspect.evaluation_progress();
    let eval = wb.inspect.evaluation.clone();
    ui.horizontal(|ui| {
        match (&eval, version) {
            (Some(e), Some(v)) => {
                let source = wb.model.as_ref().map_or(String::new(), |m| m.source.clone());
                ui.label(format!(
                    "{} test images · accuracy {:.2}% · {}",
                    e.labels.len(),
                    100.0 * e.report.accuracy,
                    if wb.inspect.evaluation_is_current(v) {
                        source
                    } else {
                        "an earlier version of the model".into()
                    }
                ));
            }
            (None, None) => {
                ui.weak(
                    "No model yet: train one (the test set is evaluated after every epoch) or open a run.",
                );
            }
            (None, Some(_)) if progress.is_none() => {
                ui.weak("The test set is evaluated after the first epoch.");
            }
            _ => {}
        }
        if let Some(p) = progress {
            let (done, total) = p.unwrap_or((0, 1));
            ui.add(
                egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                    .desired_width(160.0)
                    .text(format!("evaluating {done}/{total}")),
            );
        }
    });
    if let Some(e) = &wb.inspect.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    eval
}

/// A combo box choosing one digit or any.
pub(crate) fn digit_filter_ui(ui: &mut egui::Ui, label: &str, value: &mut Option<u8>) {
    let text = value.map_or("any".to_string(), |d| d.to_string());
    egui::ComboBox::from_label(label)
        .selected_text(text)
        .width(56.0)
        .show_ui(ui, |ui| {
            ui.selectable_value(value, None, "any");
            for d in 0..10u8 {
                ui.selectable_value(value, Some(d), d.to_string());
            }
        });
}

/// Run / Cancel, the progress bar with its stage and ETA, and the last error of one kind of
/// experiment. Returns whether Run was clicked. `blocked` says why Run is disabled, if it is.
pub(crate) fn experiment_controls_ui(
    ui: &mut egui::Ui,
    wb: &mut Workbench,
    kind: crate::ui::experiments::ExperimentKind,
    run_label: &str,
    blocked: Option<&str>,
) -> bool {
    let mut run = false;
    let other_running = wb.experiments.running.as_ref().is_some_and(|r| r.kind != kind);
    ui.horizontal(|ui| {
        if wb.experiments.is_running(kind) {
            if ui
                .button("Cancel")
                .on_hover_text("Stop at the next step or batch (Esc)")
                .clicked()
                || ui.input(|i| i.key_pressed(egui::Key::Escape))
            {
                wb.act(crate::ui::state::Action::CancelExperiment);
            }
            let p = wb.experiments.running.as_ref().and_then(|r| r.progress.clone());
            let (fraction, text) = match &p {
                Some(p) => {
                    let eta = p
                        .eta_secs()
                        .map(|s| format!(" · about {} left", crate::ui::widgets::format_duration(s)))
                        .unwrap_or_default();
                    (p.fraction as f32, format!("{}{eta}", p.stage))
                }
                None => (0.0, "starting…".to_string()),
            };
            ui.add(
                egui::ProgressBar::new(fraction)
                    .show_percentage()
                    .text(text)
                    .animate(true),
            );
        } else {
            let why = blocked.or(other_running.then_some("another experiment is running"));
            let button = ui.add_enabled(why.is_none(), egui::Button::new(run_label));
            let button = match why {
                Some(w) => button.on_disabled_hover_text(w),
                None => button.on_hover_text("Runs on the experiment worker; the window stays live"),
            };
            run = button.clicked();
            if let Some(w) = why {
                ui.weak(w);
            }
        }
    });
    if let Some(e) = wb.experiments.error_of(kind) {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    run
}

/// A combo box listing saved results folders (newest first) under the runs folder that hold
/// `file`; choosing one opens it.
pub(crate) fn saved_results_ui(ui: &mut egui::Ui, wb: &mut Workbench, file: &str, salt: &str) {
    let root = wb.options.runs_root.clone();
    let _ = salt;
    ui.menu_button("Open saved…", |ui| {
        let found = crate::experiment::list_results(&root, file);
        if found.is_empty() {
            ui.weak(format!("none in {}", root.display()));
        }
        for dir in found {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if ui.button(name).clicked() {
                wb.act(crate::ui::state::Action::LoadExperiment(dir));
                ui.close();
            }
        }
    })
    .response
    .on_hover_text(format!("Results saved under {}", root.display()));
}
