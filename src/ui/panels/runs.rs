//! Runs: the run folders with date, model, best accuracy and state; open one (its model then
//! answers the pad), compare (overlay its curves on the dashboard), delete with confirmation,
//! and Save model as….

use std::path::PathBuf;

use super::Panel;
use crate::run::RunListing;
use crate::ui::layout::PanelKind;
use crate::ui::workbench::{Action, Workbench};

/// The Runs panel; the list itself is the workbench's (`wb.runs`).
#[derive(Default)]
pub struct RunsPanel {
    confirm_delete: Option<PathBuf>,
}

/// "2026-11-26T09:15:02Z" → "11-26 09:15".
pub fn short_date(created: &str) -> String {
    let s = created.replace('T', " ");
    s.get(5..16).unwrap_or(&s).to_string()
}

impl Panel for RunsPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Runs
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        toolbar_ui(ui, wb);
        if let Some(m) = &wb.model {
            ui.label(format!("Pad model: {} · {}", m.source, m.spec.describe()));
        }
        ui.separator();
        if wb.runs.is_empty() {
            ui.label("No runs yet. Train a model and it appears here.");
            return;
        }
        let open_dir = wb.model.as_ref().and_then(|m| m.run_dir.clone());
        let overlaid: Vec<PathBuf> = wb.overlays.iter().map(|o| o.path.clone()).collect();
        let mut actions = Vec::new();
        egui::Grid::new("runs-grid")
            .striped(true)
            .num_columns(5)
            .show(ui, |ui| {
                for h in ["Date", "Model", "Best acc.", "State", ""] {
                    ui.strong(h);
                }
                ui.end_row();
                for run in &wb.runs {
                    self.run_row_ui(ui, run, open_dir.as_ref(), &overlaid, &mut actions);
                    ui.end_row();
                }
            });
        for a in actions {
            wb.act(a);
        }
        self.confirm_delete_ui(ui, wb);
    }
}

impl RunsPanel {
    /// One run's cells: date, model, best accuracy, state, and Open / Compare / Delete (whose
    /// actions are collected in `actions`).
    fn run_row_ui(
        &mut self,
        ui: &mut egui::Ui,
        run: &RunListing,
        open_dir: Option<&PathBuf>,
        overlaid: &[PathBuf],
        actions: &mut Vec<Action>,
    ) {
        let name = run_description_ui(ui, run);
        match run.best_test_accuracy {
            Some(a) => crate::ui::widgets::percent_label(ui, "", a, 2),
            None => ui.label("–"),
        };
        ui.label(run.state.to_string());
        ui.horizontal(|ui| {
            let is_open = open_dir == Some(&run.path);
            let open = ui
                .add_enabled(
                    run.has_checkpoint && !is_open,
                    egui::Button::new(if is_open { "open" } else { "Open" }),
                )
                .on_hover_text("Use this run's model in the drawing pad");
            if open.clicked() {
                actions.push(Action::OpenRun(run.path.clone()));
            }
            let mut compare = overlaid.contains(&run.path);
            if ui
                .checkbox(&mut compare, "Compare")
                .on_hover_text("Overlay this run's curves on the dashboard")
                .changed()
            {
                actions.push(Action::Overlay(run.path.clone(), compare));
            }
            if ui
                .button("Delete")
                .on_hover_text(format!("Delete {name}"))
                .clicked()
            {
                self.confirm_delete = Some(run.path.clone());
            }
        });
    }

    /// Asks before deleting the run the user picked.
    fn confirm_delete_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        if let Some(path) = self.confirm_delete.clone() {
            let modal = egui::Modal::new(egui::Id::unique("confirm-delete-run")).show(ui.ctx(), |ui| {
                ui.heading("Delete run?");
                ui.label(format!(
                    "{}\nwill be removed with its checkpoint and metrics.",
                    path.display()
                ));
                ui.horizontal(|ui| {
                    if ui.button("Delete").clicked() {
                        wb.act(Action::DeleteRun(path.clone()));
                        self.confirm_delete = None;
                    }
                    if ui.button("Keep").clicked() {
                        self.confirm_delete = None;
                    }
                });
            });
            if modal.should_close() {
                self.confirm_delete = None;
            }
        }
    }
}

/// The runs folder, Refresh, and Save model as….
fn toolbar_ui(ui: &mut egui::Ui, wb: &Workbench) {
    ui.horizontal(|ui| {
        ui.label(format!("Folder: {}", wb.options.runs_root.display()));
        if ui
            .button("Refresh")
            .on_hover_text("Read the runs folder again")
            .clicked()
        {
            wb.act(Action::RefreshRuns);
        }
        if ui
            .add_enabled(wb.model.is_some(), egui::Button::new("Save model as…"))
            .on_hover_text(format!(
                "Write the current model as a run folder you can open later ({})",
                ui.ctx().format_shortcut(&crate::ui::app::SAVE_MODEL)
            ))
            .clicked()
            && let Some(path) = rfd::FileDialog::new().set_file_name("my-model").save_file()
        {
            wb.act(Action::SaveModelTo(path));
        }
    });
}

/// A run's date and model cells (or its name and why its config cannot be read); returns its
/// folder name.
fn run_description_ui(ui: &mut egui::Ui, run: &RunListing) -> String {
    let name = run
        .path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    match &run.config {
        Ok(c) => {
            ui.label(short_date(&c.created))
                .on_hover_text(format!("{name}\ncreated {}", c.created));
            let model = c
                .train
                .model
                .preset_name()
                .map_or_else(|| c.train.model.describe(), str::to_string);
            ui.label(model).on_hover_text(format!(
                "{}\n{} epochs, lr {}, batch {}, seed {}\ndata: {}",
                c.train.model.describe(),
                c.train.epochs,
                c.train.learning_rate,
                c.train.batch_size,
                c.train.seed,
                c.data_source
            ));
        }
        Err(e) => {
            ui.label(&name);
            ui.colored_label(ui.visuals().error_fg_color, "damaged config")
                .on_hover_text(e);
        }
    }
    name
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_shortened() {
        assert_eq!(super::short_date("2026-11-26T09:15:02Z"), "11-26 09:15");
        assert_eq!(super::short_date("odd"), "odd");
    }
}
