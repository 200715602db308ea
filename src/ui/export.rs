//! The Export button every inspection panel carries: picks a folder, then writes the panel's
//! figure (PNG, drawn by [`crate::report::figures`] exactly as `report` draws it) and its
//! numbers (CSV or JSON) there.

use super::workbench::Workbench;
use crate::report::Figure;

/// Draws the Export button; on click asks for a folder and writes what `make` builds.
pub fn export_ui(
    ui: &mut egui::Ui,
    wb: &mut Workbench,
    enabled: bool,
    make: impl FnOnce(&Workbench) -> Option<Figure>,
) {
    let clicked = ui
        .add_enabled(enabled, egui::Button::new("Export…"))
        .on_hover_text("Write this view as PNG plus its numbers (CSV or JSON) into a folder")
        .on_disabled_hover_text("Nothing to export yet")
        .clicked();
    if clicked && let Some(folder) = rfd::FileDialog::new().pick_folder() {
        save_figure(wb, make(wb), &folder);
    }
}

/// Writes `figure` into `folder` and says what happened in the status bar.
pub fn save_figure(wb: &mut Workbench, figure: Option<Figure>, folder: &std::path::Path) {
    let Some(figure) = figure else {
        wb.notify("Nothing to export yet.", true);
        return;
    };
    match figure.save(folder) {
        Ok([png, data]) => wb.notify(format!("Wrote {} and {}", png.display(), data.display()), false),
        Err(e) => wb.notify(format!("Cannot write into {}: {e}", folder.display()), true),
    }
}
