//! The digits the user drew and labelled under the pad (kept in `<runs>/drawn-digits` as an
//! MNIST-style folder, written after every label). The probes themselves are studies
//! ([`super::studies`]).

use std::path::PathBuf;

use super::Workbench;
use crate::data::drawings::DrawnDigits;

/// The digits the user drew and labelled, shared by the pad's feedback strip (their
/// evaluation by a model is the `feedback` study).
#[derive(Default)]
pub struct Drawings {
    /// Drawn and labelled digits.
    pub drawn: DrawnDigits,
    drawn_loaded: bool,
    /// Why the saved drawings could not be read: while set, nothing is written over them.
    pub drawn_unreadable: Option<String>,
}

impl Workbench {
    /// Loads the saved drawings once; called once per frame.
    pub(super) fn drawings_logic(&mut self) {
        if !self.drawings.drawn_loaded {
            self.drawings.drawn_loaded = true;
            let dir = self.drawn_dir();
            if dir.is_dir() {
                match DrawnDigits::load(&dir) {
                    Ok(d) => self.drawings.drawn = d,
                    Err(e) => {
                        let reason = format!(
                            "The drawn digits in {} cannot be read ({e}); they are kept as they are and \
                             new labels are not saved until you move that folder away.",
                            dir.display()
                        );
                        self.notify(reason.clone(), true);
                        self.drawings.drawn_unreadable = Some(reason);
                    }
                }
            }
        }
    }

    /// Where drawn and labelled digits are kept.
    pub fn drawn_dir(&self) -> PathBuf {
        self.options.runs_root.join("drawn-digits")
    }

    /// Records a labelled drawing and writes the set (a failure is reported, the drawing kept).
    pub(super) fn label_drawing(&mut self, pixels: &[f32], label: u8, predicted: u8) {
        self.drawings.drawn.add(pixels, label, predicted);
        self.save_drawn();
    }

    /// Removes the last labelled drawing.
    pub(super) fn undo_drawing(&mut self) {
        if self.drawings.drawn.undo().is_some() {
            if self.drawings.drawn_unreadable.is_some() {
                return; // the unreadable folder stays as it is
            }
            self.save_drawn();
        }
    }

    /// Writes the drawn digits into a folder the user chose (never over MNIST-named files), on
    /// the export job.
    pub(super) fn save_drawings_into(&mut self, dir: &std::path::Path) {
        let drawn = self.drawings.drawn.clone();
        let target = dir.to_path_buf();
        let kind = super::writes::WriteKind::Drawings;
        self.start_write(dir.to_path_buf(), kind, move || {
            drawn
                .save_into(&target)
                .map(|()| vec![target.clone()])
                .map_err(|e| format!("cannot save into {}: {e}", target.display()))
        });
    }

    fn save_drawn(&mut self) {
        let dir = self.drawn_dir();
        if let Some(reason) = &self.drawings.drawn_unreadable {
            self.notify(format!("Not saved: {reason}"), true);
            return;
        }
        if let Err(e) = self.drawings.drawn.sync_to(&dir) {
            self.notify(
                format!("cannot save the drawn digits in {}: {e}", dir.display()),
                true,
            );
        }
    }
}
