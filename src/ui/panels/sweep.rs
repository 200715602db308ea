//! Sweep: a hyperparameter search ([`crate::study::sweep`]), grid or random, optionally with
//! successive halving, every trial an ordinary run folder. The form takes the swept parameters
//! one a line (`lr=1e-4,1e-3`, as `--param` does), each checked as typed. The results show the
//! trials as a table (sorted by a clicked header, filtered by text over the parameters, the
//! best starred; a click opens the trial's run), validation accuracy against each parameter
//! and a parallel-coordinates view; "Train with these" puts a trial's settings into the Model &
//! training form. While a sweep runs, its `sweep.json` is re-read once a second, so rows
//! appear as trials finish.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Panel, saved_results_ui, study_controls_ui};
use crate::model::PRESET_NAMES;
use crate::study::sweep::{RESULTS_FILE, Sweep, SweepResults, Trial};
use crate::study::{Lane, Study as _};
use crate::ui::layout::PanelKind;
use crate::ui::workbench::studies::StudyRequest;
use crate::ui::workbench::{Action, Workbench};

mod form;
mod plots;
mod table;

use form::{SweepSettings, planned_trials};

/// How often the running sweep's results file is re-read.
const LIVE_EVERY: Duration = Duration::from_secs(1);

/// "lr=0.001 batch-size=64", in the sweep's parameter order.
pub(super) fn params_text(r: &SweepResults, t: &Trial) -> String {
    r.config
        .params
        .iter()
        .filter_map(|p| t.params.get(&p.name).map(|v| format!("{}={v}", p.name)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A trial in one line: its settings, seed, rung and accuracies.
pub(super) fn trial_text(r: &SweepResults, t: &Trial) -> String {
    let rung = if r.config.halving {
        format!(" · rung {} ({} epochs)", t.rung, t.epochs)
    } else {
        String::new()
    };
    format!(
        "{} · seed {}{rung} · validation {:.2} % · test {:.2} %",
        params_text(r, t),
        t.seed,
        100.0 * t.val_accuracy,
        100.0 * t.test_accuracy
    )
}

/// The running sweep's results as last read from its folder.
struct Live {
    dir: PathBuf,
    read_at: Instant,
    results: Option<Arc<SweepResults>>,
}

/// The Sweep panel: the next sweep's settings, the table's sort and filter, the selected trial
/// and the running sweep's latest rows.
#[derive(Default)]
pub struct SweepPanel {
    settings: SweepSettings,
    table: table::TrialTable,
    /// The selected trial's run folder (relative to the sweep's folder: unique per trial).
    selected: Option<String>,
    live: Option<Live>,
}

impl Panel for SweepPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Sweep
    }

    fn study(&self) -> Option<&'static str> {
        Some(Sweep::ID)
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let live_dir = self.refresh_live(wb, ui.ctx());
        let latest = wb.studies.latest::<Sweep>();
        let (results, dir) = match &live_dir {
            Some(d) => (
                self.live.as_ref().and_then(|l| l.results.clone()),
                Some(d.clone()),
            ),
            None => (
                latest.as_ref().map(|l| l.results.clone()),
                latest.as_ref().and_then(|l| l.dir.clone()),
            ),
        };
        let built = self.settings.config();
        ui.horizontal(|ui| {
            let blocked = if wb.dataset().is_none() {
                Some("no data loaded yet".to_string())
            } else {
                built.as_ref().err().map(|e| format!("fix the settings: {e}"))
            };
            if study_controls_ui(ui, wb, Sweep::ID, "Run sweep", blocked.as_deref())
                && let Ok(config) = &built
            {
                wb.act(Action::StartStudy(StudyRequest::new::<Sweep>(config.clone())));
            }
            if live_dir.is_none()
                && let Some(l) = &latest
                && let Some(dir) = &l.dir
                && l.results.trials.len() < planned_trials(&l.results.config)
                && !wb.studies.lane_busy(Lane::Experiment)
                && ui
                    .button("Resume")
                    .on_hover_text("Train the trials this sweep is missing, into the same folder (its settings, not the form's)")
                    .clicked()
            {
                let request = StudyRequest::new::<Sweep>(l.results.config.clone());
                wb.act(Action::StartStudy(request.resuming(Some(dir.clone()))));
            }
            saved_results_ui(ui, wb, RESULTS_FILE);
            let shown = results.clone();
            crate::ui::export::export_ui(ui, wb, shown.is_some(), move || {
                shown.map(|r| crate::study::sweep::figure(&r))
            });
        });
        super::study_devices_ui(ui, wb, Sweep::ID);
        egui::CollapsingHeader::new("Settings")
            .default_open(results.is_none())
            .show(ui, |ui| {
                self.settings.ui(ui, &built);
                super::more_devices_ui(ui, wb);
            });
        let Some(r) = results else {
            ui.add_space(8.0);
            if live_dir.is_some() {
                ui.weak("The first trial is training; its row appears here when it finishes.");
            } else {
                ui.label(
                    "Trains one run per setting of the swept parameters (every combination of the \
                     listed values, or random samples), chooses by accuracy on a validation split \
                     held out of the training set, and records each trial's test accuracy without \
                     using it. Successive halving trains every setting briefly and only the best \
                     third further. Every trial is a run folder you can open. Run it, or open a \
                     saved one.",
                );
            }
            return;
        };
        self.results_ui(ui, wb, &r, dir.as_deref(), live_dir.is_some());
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&self.settings).ok()
    }

    fn load_settings(&mut self, json: &str) {
        if let Ok(settings) = serde_json::from_str::<SweepSettings>(json)
            && PRESET_NAMES.contains(&settings.preset.as_str())
        {
            self.settings = settings;
        }
    }
}

impl SweepPanel {
    /// While this panel's sweep runs with a folder, re-reads its results at most once a
    /// second (a failed read keeps the last rows) and returns the folder.
    fn refresh_live(&mut self, wb: &Workbench, ctx: &egui::Context) -> Option<PathBuf> {
        let running = wb
            .studies
            .slot(Lane::Experiment)
            .key()
            .filter(|r| r.id == Sweep::ID);
        let Some(dir) = running.and_then(|r| r.out.clone()) else {
            self.live = None;
            return None;
        };
        let same = self.live.as_ref().filter(|l| l.dir == dir);
        if same.is_none_or(|l| l.read_at.elapsed() >= LIVE_EVERY) {
            let earlier = same.and_then(|l| l.results.clone());
            let results = if dir.join(RESULTS_FILE).is_file() {
                SweepResults::load(&dir).ok().map(Arc::new).or(earlier)
            } else {
                earlier
            };
            self.live = Some(Live {
                dir: dir.clone(),
                read_at: Instant::now(),
                results,
            });
        }
        ctx.request_repaint_after(LIVE_EVERY);
        Some(dir)
    }

    fn results_ui(
        &mut self,
        ui: &mut egui::Ui,
        wb: &Workbench,
        r: &Arc<SweepResults>,
        dir: Option<&Path>,
        live: bool,
    ) {
        let (spent, grid) = r.epochs_spent();
        let planned = planned_trials(&r.config);
        ui.horizontal_wrapped(|ui| {
            if let Some(dir) = dir {
                ui.weak(format!("results: {}", dir.display()));
            }
            let state = if live {
                "running"
            } else if r.trials.len() < planned {
                "unfinished (Resume trains the rest)"
            } else {
                "done"
            };
            ui.weak(format!(
                "· {} of {planned} trials, {state} · {spent} epochs trained (every setting for all epochs: {grid}) · {}",
                r.trials.len(),
                r.data.source
            ));
        });
        let best = r.best();
        let selected = self
            .selected
            .as_ref()
            .and_then(|s| r.trials.iter().position(|t| &t.run == s));
        let selected_trial = selected
            .map(|i| &r.trials[i])
            .filter(|t| best.is_none_or(|b| b.run != t.run));
        if let Some(b) = best {
            ui.horizontal_wrapped(|ui| {
                ui.label("Best by validation:");
                ui.colored_label(crate::ui::palette::GOOD, trial_text(r, b));
                if selected_trial.is_none() {
                    trial_buttons_ui(ui, wb, r, b, dir);
                }
            });
        }
        if let Some(t) = selected_trial {
            ui.horizontal_wrapped(|ui| {
                ui.label("Selected:");
                ui.strong(trial_text(r, t));
                trial_buttons_ui(ui, wb, r, t, dir);
            });
        }
        ui.separator();
        match self.table.ui(ui, r, selected) {
            Some(table::RowAction::Open(i)) => {
                self.selected = Some(r.trials[i].run.clone());
                if let Some(dir) = dir {
                    open_trial(wb, dir, &r.trials[i]);
                }
            }
            Some(table::RowAction::Select(i)) => self.selected = Some(r.trials[i].run.clone()),
            Some(table::RowAction::Train(i)) => fill_form(wb, r, &r.trials[i]),
            None => {}
        }
        ui.separator();
        let axes: Vec<plots::ParamAxis> = r
            .config
            .params
            .iter()
            .map(|p| plots::ParamAxis::of(r, p))
            .collect();
        let clicked = plots::scatter_ui(ui, r, &axes, selected);
        let clicked = plots::parallel_ui(ui, r, &axes, selected).or(clicked);
        if let Some(i) = clicked {
            self.selected = Some(r.trials[i].run.clone());
        }
    }
}

/// Open run and Train with these, for trial `t`.
fn trial_buttons_ui(ui: &mut egui::Ui, wb: &Workbench, r: &SweepResults, t: &Trial, dir: Option<&Path>) {
    if let Some(dir) = dir
        && ui
            .button("Open run")
            .on_hover_text("Make this trial's model the one the pad and the inspection panels use")
            .clicked()
    {
        open_trial(wb, dir, t);
    }
    if ui
        .button("Train with these")
        .on_hover_text(
            "Put this trial's settings (all the sweep's epochs, its seed) into the Model & training form",
        )
        .clicked()
    {
        fill_form(wb, r, t);
    }
}

/// Opens the trial's run folder as the model in use.
fn open_trial(wb: &Workbench, dir: &Path, t: &Trial) {
    wb.act(Action::OpenRun(dir.join(&t.run)));
}

/// Puts the trial's training settings (the sweep's full epochs, its seed) into the Model &
/// training form.
fn fill_form(wb: &Workbench, r: &SweepResults, t: &Trial) {
    match r.config.trial_config(&t.params, r.config.epochs, t.seed) {
        Ok(config) => {
            wb.act(Action::FillTrainingForm(config));
            wb.act(Action::Notify(
                format!(
                    "Model & training now holds {} (seed {}, {} epochs): Start trains it",
                    params_text(r, t),
                    t.seed,
                    r.config.epochs
                ),
                false,
            ));
        }
        Err(e) => wb.act(Action::Notify(
            format!("Cannot train with these settings: {e}"),
            true,
        )),
    }
}
