//! The panels: one file each, all behind [`Panel`], registered in [`registry`], one line a
//! panel (the tile layout, the View menu, saved settings and the tests all go through it).

mod training_form;

/// Declares every panel from one list: its module, its [`PanelKind`] variant (with the doc
/// comment the enum shows), its tab title and where the default layout puts it. The enum,
/// [`PanelKind::ALL`] (menu and registration order), [`PanelKind::title`],
/// [`PanelKind::place`] and [`registry`] all come from the list, so they cannot disagree.
macro_rules! register_panels {
    ($( $(#[$doc:meta])* $kind:ident => $module:ident::$panel:ident, $title:literal, $place:ident; )*) => {
        $( mod $module; pub use $module::$panel; )*

        /// The panels, as stored in the (persisted) layout.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum PanelKind {
            $( $(#[$doc])* $kind, )*
        }

        impl PanelKind {
            /// Every panel, in registration order (the View menu's and each tab group's).
            pub const ALL: &'static [PanelKind] = &[$( PanelKind::$kind ),*];

            /// Tab title.
            pub fn title(self) -> &'static str {
                match self { $( PanelKind::$kind => $title, )* }
            }

            /// Where the default layout puts it.
            pub fn place(self) -> Place {
                match self { $( PanelKind::$kind => Place::$place, )* }
            }
        }

        /// A fresh panel of every kind, in [`PanelKind::ALL`]'s order.
        pub fn registry() -> Vec<Box<dyn Panel>> {
            vec![ $( Box::new($panel::default()), )* ]
        }
    };
}

// A new panel: one file in this folder, and one line here.
register_panels! {
    /// Architecture and training settings, Start / Pause / Stop.
    Training => training::TrainingPanel, "Model & training", Left;
    /// Data source, download, label charts, sample grid.
    Data => data::DataPanel, "Data", Left;
    /// Run folders.
    Runs => runs::RunsPanel, "Runs", Left;
    /// Live curves.
    Dashboard => dashboard::DashboardPanel, "Dashboard", Middle;
    /// Test-set confusion matrix with click-through.
    Confusion => confusion::ConfusionPanel, "Confusion", Middle;
    /// Misclassified test images.
    Errors => errors::ErrorsPanel, "Errors", Middle;
    /// Reliability diagram and confidence histograms.
    Calibration => calibration::CalibrationPanel, "Calibration", Middle;
    /// Conv kernels / MLP unit weights.
    Filters => filters::FiltersPanel, "Filters", Middle;
    /// Activations of the pad image or a test image.
    Features => features::FeaturesPanel, "Feature maps", Middle;
    /// Dataset statistics.
    Dataset => dataset::DatasetPanel, "Dataset", Middle;
    /// Seed S1's row sweeps of the pad image, and batch mode.
    RowSweep => row_sweep::RowSweepPanel, "Row sweep", Probes;
    /// Gradient, gradient × input, integrated gradients and occlusion maps.
    Saliency => saliency::SaliencyPanel, "Saliency", Probes;
    /// Seed S1's neuron ablation against random ablations.
    Ablation => ablation::AblationPanel, "Ablation", Probes;
    /// Seed S2's embedding scatter (PCA, t-SNE) with the pad's neighbours.
    Embedding => embedding::EmbeddingPanel, "Embedding", Probes;
    /// Seed S3's cross-dataset test: EMNIST and the corruption suite.
    CrossDataset => cross_dataset::CrossDatasetPanel, "Cross-dataset", Probes;
    /// Seed S0's ensemble experiment and its linked dashboard.
    Ensemble => ensemble::EnsemblePanel, "Ensemble", Experiments;
    /// Seed S2's training-set-size curve.
    SubsetCurve => subset_curve::SubsetCurvePanel, "Size curve", Experiments;
    /// Seed S3's stability test (dropout passes).
    Stability => stability::StabilityPanel, "Stability", Experiments;
    /// Hyperparameter sweep: trials table, accuracy against each setting, parallel coordinates.
    Sweep => sweep::SweepPanel, "Sweep", Experiments;
    /// Per-class test accuracy over a run's epochs.
    ClassCurves => class_curves::ClassCurvesPanel, "Class curves", Experiments;
    /// Drawing pad with logits.
    Pad => pad::PadPanel, "Drawing pad", Right;
}

// Helpers of the panels above (not panels themselves).
mod feedback;

use std::sync::Arc;

use crate::analysis::worker::TestEvaluation;

use super::workbench::Workbench;

/// Where the default layout puts a panel, given with its registration above ([`super::layout`]
/// arranges the tiles from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Tabs on the left: settings, data, runs.
    Left,
    /// Tabs in the middle: the dashboard and the inspection panels.
    Middle,
    /// The "Probes" tab group in the middle.
    Probes,
    /// The "Experiments" tab group in the middle.
    Experiments,
    /// The right column (the pad).
    Right,
}

/// A panel: its own view state plus a `ui` that reads the shared [`Workbench`] (a shared
/// reference: the state is read-only here) and sends commands with [`Workbench::act`]
/// (queued, applied after the frame). Nothing reaches a panel by type: what others need
/// from one (the training form's configuration) it publishes with an action from
/// [`Panel::logic`].
pub trait Panel {
    /// Which panel this is.
    fn kind(&self) -> PanelKind;

    /// Takes what changed in the workbench since the last frame (every frame, drawn or not,
    /// before any panel draws).
    fn logic(&mut self, _wb: &Workbench) {}

    /// Draws the panel.
    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench);

    /// The study ([`crate::study::STUDIES`]) this panel runs and shows, if it is a study's.
    fn study(&self) -> Option<&'static str> {
        None
    }

    /// Every study this panel runs and shows (more than [`Panel::study`] when it hosts two,
    /// as the row sweep does its batch mode).
    fn studies(&self) -> Vec<&'static str> {
        self.study().into_iter().collect()
    }

    /// Settings worth keeping across restarts, as JSON.
    fn save_settings(&self) -> Option<String> {
        None
    }

    /// Restores what [`Panel::save_settings`] wrote (ignores anything unreadable).
    fn load_settings(&mut self, _json: &str) {}
}

/// The saved settings of the experiment panels: the experiment's config and the preset name
/// of its model (named fields with defaults, so a field added later keeps the rest).
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub(crate) struct ModelAndConfig<C> {
    config: C,
    preset: String,
}

/// All panels, one of each kind.
pub struct Panels {
    panels: Vec<Box<dyn Panel>>,
}

impl Default for Panels {
    fn default() -> Self {
        Self::new()
    }
}

impl Panels {
    /// A fresh set of panels.
    pub fn new() -> Self {
        Self { panels: registry() }
    }

    /// The panel of a kind.
    pub fn get_mut(&mut self, kind: PanelKind) -> &mut dyn Panel {
        self.panels
            .iter_mut()
            .find(|p| p.kind() == kind)
            .expect("every kind is registered (checked by a test)")
            .as_mut()
    }

    /// Every panel's [`Panel::logic`], once a frame.
    pub fn logic(&mut self, wb: &Workbench) {
        for panel in &mut self.panels {
            panel.logic(wb);
        }
    }

    /// Every panel's settings, by title.
    pub fn save_settings(&self) -> Vec<(String, String)> {
        self.panels
            .iter()
            .filter_map(|p| p.save_settings().map(|s| (p.kind().title().to_string(), s)))
            .collect()
    }

    /// Restores settings saved by [`Panels::save_settings`].
    pub fn load_settings(&mut self, saved: &[(String, String)]) {
        for (title, json) in saved {
            if let Some(&kind) = PanelKind::ALL.iter().find(|k| k.title() == title) {
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

/// What the user did with [`run_controls_ui`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunControl {
    /// Nothing.
    None,
    /// Clicked Run.
    Run,
    /// Clicked Cancel or pressed Esc.
    Cancel,
}

/// Run / Cancel and a progress bar with stage and ETA, for a job on a worker: `progress` is
/// `Some` while this job runs (`Some(None)` before its first report); `blocked` says why Run
/// is disabled, if it is; `error` is its last failure.
pub(crate) fn run_controls_ui(
    ui: &mut egui::Ui,
    progress: Option<Option<&crate::jobs::Progress>>,
    run_label: &str,
    blocked: Option<&str>,
    error: Option<&str>,
) -> RunControl {
    let mut action = RunControl::None;
    ui.horizontal(|ui| match progress {
        Some(p) => {
            if ui
                .button("Cancel")
                .on_hover_text("Stop at the next step or batch (Esc)")
                .clicked()
                || ui.input(|i| i.key_pressed(egui::Key::Escape))
            {
                action = RunControl::Cancel;
            }
            let (fraction, text) = match p {
                Some(p) => {
                    let eta = p
                        .eta_secs()
                        .map(|s| format!(" · about {} left", crate::ui::widgets::format_duration(s)))
                        .unwrap_or_default();
                    let first = p.stage.lines().next().unwrap_or_default();
                    (p.fraction as f32, format!("{first}{eta}"))
                }
                None => (0.0, "starting…".to_string()),
            };
            // Half the row at most, so the buttons after it (Open saved…, Export…) stay in view.
            let width = (ui.available_width() * 0.5).clamp(160.0, 420.0);
            ui.add(
                egui::ProgressBar::new(fraction)
                    .desired_width(width)
                    .show_percentage()
                    .text(text)
                    .animate(true),
            );
        }
        None => {
            let button = ui.add_enabled(blocked.is_none(), egui::Button::new(run_label));
            let button = match blocked {
                Some(w) => button.on_disabled_hover_text(w),
                None => button.on_hover_text("Runs on a worker thread; the window stays live"),
            };
            if button.clicked() {
                action = RunControl::Run;
            }
            if let Some(w) = blocked {
                ui.weak(w);
            }
        }
    });
    if let Some(e) = error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    action
}

/// [`run_controls_ui`] for study `id` (one of [`crate::study::STUDIES`]). Returns whether
/// Run was clicked.
pub(crate) fn study_controls_ui(
    ui: &mut egui::Ui,
    wb: &Workbench,
    id: &str,
    run_label: &str,
    blocked: Option<&str>,
) -> bool {
    let lane = crate::study::find(id).map_or(crate::study::Lane::Experiment, |s| s.lane());
    let other = wb.studies.running_by_hand(lane).filter(|&k| k != id);
    let other_title = other.map(|k| crate::study::find(k).map_or(k, |s| s.title()));
    let other_why = other_title.map(|t| format!("{t} is running"));
    let why = blocked.or(other_why.as_deref());
    let progress = wb.studies.progress_of(id);
    let error = wb.studies.error_of(id).map(str::to_string);
    let resume = (progress.is_none() && why.is_none())
        .then(|| wb.studies.resume_request(id))
        .flatten();
    let run = match run_controls_ui(ui, progress, run_label, why, error.as_deref()) {
        RunControl::Run => true,
        RunControl::Cancel => {
            wb.act(crate::ui::workbench::Action::CancelStudy(
                crate::study::find(id).map_or("", |s| s.id()),
            ));
            false
        }
        RunControl::None => false,
    };
    if let Some(request) = resume.filter(|_| !run) {
        let folder = request.resume.as_deref().map(|d| d.display().to_string()).unwrap_or_default();
        if ui
            .button("Resume")
            .on_hover_text(format!(
                "Continue the stopped run in {folder} with its own settings: what it finished is kept"
            ))
            .clicked()
        {
            wb.act(crate::ui::workbench::Action::StartStudy(request));
        }
    }
    run
}

/// Under a study's controls while it runs over several devices: one line per device (its
/// item, items done, images per second, or why it left), the lines after the first of the
/// progress stage ([`crate::experiment::pool`]).
pub(crate) fn study_devices_ui(ui: &mut egui::Ui, wb: &Workbench, id: &str) {
    let Some(Some(p)) = wb.studies.progress_of(id) else {
        return;
    };
    for line in p.stage.lines().skip(1) {
        if line.contains("left the pool") {
            ui.colored_label(ui.visuals().warn_fg_color, line);
        } else {
            ui.weak(line);
        }
    }
}

/// The devices a study that spreads its work (ensemble, size curve, sweep, stability test,
/// batch sweep) runs on besides the app's own:
/// a comma-separated list (`remote://gpu1:3950, remote://gpu2:3950`), kept by the workbench
/// ([`Action::SetMoreDevices`](crate::ui::workbench::Action::SetMoreDevices)); a list that
/// does not parse is shown with its error and not used.
pub(crate) fn more_devices_ui(ui: &mut egui::Ui, wb: &Workbench) {
    // One buffer for the four panels that show the field: they edit the same list.
    let id = egui::Id::unique("more-devices-text");
    let current = || {
        wb.more_devices
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text: String = ui.data_mut(|d| d.get_temp(id)).unwrap_or_else(current);
    let mut error = None;
    ui.horizontal(|ui| {
        let label = ui.label("Also on").on_hover_text(
            "Spread the models, fractions, trials, test batches or batch images over these devices too, each pulling the next \
             item when it finishes one: remote://HOST:PORT of machines running `mnist-workbench \
             serve`, comma-separated. A device that fails mid-item leaves; its item runs elsewhere.",
        );
        ui.add(
            egui::TextEdit::singleline(&mut text)
                .hint_text("remote://gpu1:3950, remote://gpu2:3950")
                .desired_width(320.0),
        )
        .labelled_by(label.id);
        let parsed = if text.trim().is_empty() {
            Ok(Vec::new())
        } else {
            text.parse::<crate::device::DeviceList>().map(|l| l.0)
        };
        match parsed {
            Ok(list) if list.contains(&crate::device::DeviceChoice::Auto) => {
                error = Some("auto is the app's own device already".to_string());
            }
            Ok(list) => {
                if list != wb.more_devices {
                    wb.act(crate::ui::workbench::Action::SetMoreDevices(list));
                }
            }
            Err(e) => error = Some(e),
        }
        if error.is_some() && !wb.more_devices.is_empty() {
            // What is shown is what runs: a list being fixed spreads over nothing else.
            wb.act(crate::ui::workbench::Action::SetMoreDevices(Vec::new()));
        }
        ui.weak(format!("with {}", wb.device.name));
    });
    if let Some(e) = error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    ui.data_mut(|d| d.insert_temp(id, text));
}

/// Why a probe cannot start here (no model or no data), for [`study_controls_ui`].
pub(crate) fn probe_blocked(wb: &Workbench) -> Option<&'static str> {
    if wb.model.is_none() {
        Some("open or train a model first")
    } else if wb.dataset().is_none() {
        Some("no data loaded yet")
    } else {
        None
    }
}

/// A warning when a probe's result belongs to an earlier model.
pub(crate) fn stale_ui(ui: &mut egui::Ui, wb: &Workbench, model_version: u64) {
    if wb.model.as_ref().is_some_and(|m| m.version != model_version) {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "These results belong to a model opened earlier; run again for the current one.",
        );
    }
}

/// A 0-9 digit picker.
pub(crate) fn digit_ui(ui: &mut egui::Ui, label: &str, value: &mut u8, hover: &str) {
    ui.label(label);
    ui.add(egui::DragValue::new(value).range(0..=9))
        .on_hover_text(hover);
}

/// A combo box listing saved results folders (newest first) under the runs folder that hold
/// `file`; choosing one opens it.
pub(crate) fn saved_results_ui(ui: &mut egui::Ui, wb: &Workbench, file: &str) {
    let root = wb.options.runs_root.clone();
    ui.menu_button("Open saved…", |ui| {
        let found = crate::run::list_results(&root, file);
        if found.is_empty() {
            ui.weak(format!("none in {}", root.display()));
        }
        for dir in found {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if ui.button(name).clicked() {
                wb.act(crate::ui::workbench::Action::LoadStudyFolder(dir));
                ui.close();
            }
        }
    })
    .response
    .on_hover_text(format!("Results saved under {}", root.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_panel_says_the_kind_it_is_registered_as_and_titles_are_unique() {
        let kinds: Vec<PanelKind> = registry().iter().map(|p| p.kind()).collect();
        assert_eq!(kinds, PanelKind::ALL.to_vec());
        let mut titles: Vec<&str> = PanelKind::ALL.iter().map(|k| k.title()).collect();
        titles.sort_unstable();
        titles.dedup();
        assert_eq!(titles.len(), PanelKind::ALL.len(), "two panels share a title");
    }

    #[test]
    fn every_panels_saved_settings_are_a_json_object_that_loads_back() {
        for (panel, mut fresh) in registry().into_iter().zip(registry()) {
            let Some(json) = panel.save_settings() else {
                continue;
            };
            let value: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert!(
                value.is_object(),
                "{:?} saves {json}, not named fields",
                panel.kind()
            );
            fresh.load_settings(&json);
            assert_eq!(fresh.save_settings(), Some(json), "{:?}", panel.kind());
        }
    }

    #[test]
    fn a_bare_bool_saved_by_older_versions_still_loads_and_a_missing_field_keeps_its_default() {
        for kind in [PanelKind::Confusion, PanelKind::Calibration, PanelKind::Dataset] {
            let mut panel = registry().into_iter().find(|p| p.kind() == kind).unwrap();
            let default = panel.save_settings().unwrap();
            panel.load_settings("true");
            let after = panel.save_settings().unwrap();
            assert_ne!(after, default, "{kind:?}: the old format was ignored");
            assert!(after.contains("true"), "{kind:?}: {after}");
            panel.load_settings("{}");
            assert_eq!(panel.save_settings().unwrap(), default, "{kind:?}");
        }
    }
}
