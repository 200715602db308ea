//! The "Import PyTorch model" window (File menu, or a .pt / .safetensors file dropped on the
//! window): the file, its architecture (`auto` or a preset / family string) and optional layer
//! maps. Import writes a run folder through the engine (`interop`) and opens it; a refusal is
//! shown in the window with its reason, and nothing is written.

use std::path::PathBuf;

use crate::interop::ArchChoice;

/// What the user asked to import.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRequest {
    /// The `.pt` or `.safetensors` file.
    pub path: PathBuf,
    /// The architecture to read it as (`auto` infers it from the tensors).
    pub arch: ArchChoice,
    /// Layer maps `(ours, theirs)`.
    pub maps: Vec<(String, String)>,
}

/// The Import PyTorch model window's fields as the user edits them (text until Import parses them).
#[derive(Debug, Clone)]
pub struct ImportDialog {
    /// The `.pt` or `.safetensors` file chosen (or dropped on the window).
    pub path: PathBuf,
    /// Architecture text (`auto`, `seed3-cnn`, `cnn:32,64:k3:bn:dense320` …).
    pub arch: String,
    /// Layer maps, `ours=theirs` separated by spaces or commas.
    pub maps: String,
    /// Why the last attempt was refused.
    pub error: Option<String>,
}

impl ImportDialog {
    /// A dialog for `path`, architecture `auto`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            arch: "auto".into(),
            maps: String::new(),
            error: None,
        }
    }

    /// The request the fields describe, or why they do not make one.
    pub fn request(&self) -> Result<ImportRequest, String> {
        let arch: ArchChoice = self.arch.parse()?;
        let maps = self
            .maps
            .split([' ', ','])
            .filter(|m| !m.trim().is_empty())
            .map(|m| match m.split_once('=') {
                Some((a, b)) if !a.is_empty() && !b.is_empty() => {
                    Ok((a.trim().to_string(), b.trim().to_string()))
                }
                _ => Err(format!(
                    "layer map {m:?}: write ours=theirs, e.g. conv1=features.0"
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(ImportRequest {
            path: self.path.clone(),
            arch,
            maps,
        })
    }

    /// Draws the window (Import disabled while `importing`). Returns the request when Import
    /// is clicked, and `false` in the second place when the window was closed.
    pub fn ui(&mut self, ctx: &egui::Context, importing: bool) -> (Option<ImportRequest>, bool) {
        let mut open = true;
        let mut submitted = None;
        egui::Window::new("Import PyTorch model")
            .open(&mut open)
            .resizable(false)
            .collapsible(false)
            .show(ctx, |ui| {
                ui.label(format!("File: {}", self.path.display()));
                egui::Grid::new("import-fields").num_columns(2).show(ui, |ui| {
                    let label = ui.label("Architecture");
                    ui.add(egui::TextEdit::singleline(&mut self.arch).desired_width(260.0))
                        .labelled_by(label.id)
                        .on_hover_text(
                            "auto reads it from the tensors; or a preset (mlp, tiny-cnn, small-cnn, seed3-cnn), \
                             mlp:128,64, cnn:32,64:k3:bn:dense320:drop0.4",
                        );
                    ui.end_row();
                    let label = ui.label("Layer maps");
                    ui.add(egui::TextEdit::singleline(&mut self.maps).desired_width(260.0).hint_text("conv1=features.0"))
                        .labelled_by(label.id)
                        .on_hover_text("Only when the layers cannot be told apart by shape: ours=theirs, separated by spaces");
                    ui.end_row();
                });
                if let Some(e) = &self.error {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
                ui.horizontal(|ui| {
                    if importing {
                        ui.spinner();
                        ui.label("Importing…");
                    } else if ui.button("Import").clicked() {
                        match self.request() {
                            Ok(r) => submitted = Some(r),
                            Err(e) => self.error = Some(e),
                        }
                    }
                    ui.weak("The model becomes a run folder; nothing is written next to the file.");
                });
            });
        (submitted, open)
    }
}

/// Whether a dropped file is a checkpoint to import (rather than a picture for the pad).
pub fn is_checkpoint(path: &std::path::Path) -> bool {
    crate::interop::checkpoint::format_of(path).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_make_a_request_or_say_why_not() {
        let mut d = ImportDialog::new("m.pt".into());
        assert_eq!(d.request().unwrap().arch, ArchChoice::Auto);
        d.arch = "seed3-cnn".into();
        d.maps = "conv1=c1, bn1=b1".into();
        let r = d.request().unwrap();
        assert_eq!(
            r.maps,
            vec![("conv1".into(), "c1".into()), ("bn1".into(), "b1".into())]
        );
        d.maps = "conv1".into();
        assert!(d.request().unwrap_err().contains("ours=theirs"));
        d.arch = "cnn:8:k4".into();
        assert!(d.request().unwrap_err().contains("kernel size"));
        assert!(is_checkpoint(std::path::Path::new("a/b.safetensors")));
        assert!(!is_checkpoint(std::path::Path::new("digit.png")));
    }
}
