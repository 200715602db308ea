//! The Export button every inspection panel carries: picks a folder, then draws the panel's
//! figure (PNG, drawn by [`crate::report::figures`] exactly as `report` draws it) and writes it
//! with its numbers (CSV or JSON) there, through the workbench's one write job
//! ([`Workbench::start_write`]) so the window keeps drawing.

use std::path::PathBuf;

use super::workbench::Workbench;
use super::workbench::writes::WriteKind;
use crate::report::Figure;

/// Draws the Export button; on click asks for a folder and exports what `make` builds there.
/// `make` runs on the export job, so it should own what it draws (clone the `Arc`s in).
pub fn export_ui(
    ui: &mut egui::Ui,
    wb: &Workbench,
    enabled: bool,
    make: impl FnOnce() -> Option<Figure> + Send + 'static,
) {
    let busy = wb.exports.is_running();
    let clicked = ui
        .add_enabled(enabled && !busy, egui::Button::new("Export…"))
        .on_hover_text("Write this view as PNG plus its numbers (CSV or JSON) into a folder")
        .on_disabled_hover_text(if busy {
            "Writing the last export…"
        } else {
            "Nothing to export yet"
        })
        .clicked();
    if clicked && let Some(folder) = rfd::FileDialog::new().pick_folder() {
        export_figure(wb, folder, make);
    }
}

/// Draws `make`'s figure and writes it into `folder` on the `mnist-export` job; the status bar
/// says what was written, or why not ([`Workbench::logic`] reports the outcome).
pub fn export_figure(
    wb: &Workbench,
    folder: PathBuf,
    make: impl FnOnce() -> Option<Figure> + Send + 'static,
) {
    let target = folder.clone();
    let work = crate::ui::workbench::writes::WriteWork::new(move || {
        let figure = make().ok_or_else(|| "Nothing to export yet.".to_string())?;
        let written = figure
            .save(&target)
            .map_err(|e| format!("Cannot write into {}: {e}", target.display()))?;
        Ok(written.to_vec())
    });
    wb.act(crate::ui::workbench::Action::Write(folder, WriteKind::Figure, work));
}
