//! The pad image as workbench state: the 28×28 drawing with its undo history and caption,
//! changed only by [`PadEdit`]s (the Drawing pad panel's tools, the app's Ctrl+Z / Ctrl+Shift+Z)
//! and by images other panels send ([`super::Action::ShowInPad`]), both applied between
//! frames. Every panel reads the same image; the forward pass of each revision and the logits
//! after each edit are the workbench's results ([`Workbench::pad_logic`]).

use std::collections::VecDeque;

use super::Workbench;
use crate::pad::{Brush, PadImage};

/// Logits kept for the pad's margin history (one per edit).
pub const LOGIT_HISTORY: usize = 200;

/// One change to the pad image.
#[derive(Debug, Clone, PartialEq)]
pub enum PadEdit {
    /// The brush (or eraser) along a segment, in pixel coordinates (x right, y down);
    /// `starts` marks the first segment of a stroke, which makes the undo step.
    Stroke {
        /// Where the segment starts.
        from: (f32, f32),
        /// Where it ends.
        to: (f32, f32),
        /// Pen size and whether it erases.
        brush: Brush,
        /// First segment of a stroke.
        starts: bool,
    },
    /// Every pixel of rows `first..=last` set to `value`.
    FillRows {
        /// First row (either order).
        first: usize,
        /// Last row.
        last: usize,
        /// 0 erases, 1 fills.
        value: f32,
    },
    /// The image moved by whole pixels (right, down).
    Shift {
        /// Pixels right.
        dx: i32,
        /// Pixels down.
        dy: i32,
    },
    /// A blank pad.
    Clear,
    /// Back one edit.
    Undo,
    /// Forward one undone edit.
    Redo,
    /// Replace the image (784 intensities in `[0, 1]`) and say where it came from.
    Load {
        /// The intensities, row-major.
        pixels: Vec<f32>,
        /// Shown under the canvas, e.g. "test #3 (label 5)".
        caption: String,
    },
}

/// The pad image, its caption and the logits after each edit.
#[derive(Default)]
pub struct PadState {
    image: PadImage,
    caption: String,
    /// Logits after each edit with a model, oldest first, with the revision of the newest.
    logits: VecDeque<[f32; 10]>,
    logged_revision: Option<u64>,
}

impl PadState {
    /// The image with its undo history.
    pub fn image(&self) -> &PadImage {
        &self.image
    }

    /// The 784 intensities, row-major.
    pub fn pixels(&self) -> &[f32] {
        self.image.pixels()
    }

    /// Counts every change (the key of everything computed from the image).
    pub fn revision(&self) -> u64 {
        self.image.revision()
    }

    /// Where the image came from ("drawn", "test #3 (label 5)", …; empty at first).
    pub fn caption(&self) -> &str {
        &self.caption
    }

    /// The logits after each edit, oldest first (at most [`LOGIT_HISTORY`]); a new model
    /// alone does not add one, except to an empty history.
    pub fn logit_history(&self) -> &VecDeque<[f32; 10]> {
        &self.logits
    }

    /// Applies one edit.
    pub fn edit(&mut self, edit: PadEdit) {
        match edit {
            PadEdit::Stroke {
                from,
                to,
                brush,
                starts,
            } => {
                if starts {
                    self.image.checkpoint();
                    self.caption = "drawn".into();
                }
                self.image.stroke(from, to, &brush);
            }
            PadEdit::FillRows { first, last, value } => self.image.fill_rows(first, last, value),
            PadEdit::Shift { dx, dy } => self.image.shift(dx, dy),
            PadEdit::Clear => {
                self.image.clear();
                self.caption = "drawn".into();
            }
            PadEdit::Undo => {
                self.image.undo();
            }
            PadEdit::Redo => {
                self.image.redo();
            }
            PadEdit::Load { pixels, caption } => {
                // A wrong length is refused and leaves the caption too.
                if self.image.set(&pixels) {
                    self.caption = caption;
                }
            }
        }
    }

    /// Records the logits of the current revision: a new entry per edit, or the first one.
    fn log_logits(&mut self, logits: [f32; 10]) {
        let revision = self.image.revision();
        if self.logged_revision == Some(revision) && !self.logits.is_empty() {
            return;
        }
        self.logged_revision = Some(revision);
        self.logits.push_back(logits);
        if self.logits.len() > LOGIT_HISTORY {
            self.logits.pop_front();
        }
    }
}

impl Workbench {
    /// Brings the pad's results up to date: a fresh pad starts with test image #0 once data
    /// is loaded, then the forward pass of the current revision and model (cached, see
    /// [`Workbench::pad_inspection`]) and the logits history. Called by
    /// [`Workbench::logic`] every frame, so the pad's results stay current while the pad is
    /// hidden; cheap when nothing changed.
    pub fn pad_logic(&mut self) {
        if self.pad.revision() == 0
            && let Some(data) = self.dataset()
            && !data.test.is_empty()
        {
            let pixels = data.test.intensities(0);
            let caption = format!("test #0 (label {})", data.test.labels[0]);
            self.pad.edit(PadEdit::Load { pixels, caption });
        }
        if self.inspect_pad()
            && let Some(logits) = self.pad_logits()
        {
            self.pad.log_logits(logits);
        }
    }

    /// The logits of the pad image under the model in use (None without a model; one
    /// frame behind an edit until [`Workbench::pad_logic`] runs).
    pub fn pad_logits(&self) -> Option<[f32; 10]> {
        self.pad_inspection()
            .and_then(|p| p.inspection.as_ref())
            .map(|i| i.logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stroke_is_one_undo_step_and_a_wrong_length_image_is_refused() {
        let mut pad = PadState::default();
        let brush = Brush::default();
        for (from, to, starts) in [((4.0, 4.0), (10.0, 4.0), true), ((10.0, 4.0), (20.0, 4.0), false)] {
            pad.edit(PadEdit::Stroke {
                from,
                to,
                brush,
                starts,
            });
        }
        assert_eq!(pad.caption(), "drawn");
        assert!(pad.pixels().iter().any(|&p| p > 0.5));
        pad.edit(PadEdit::Undo);
        assert!(
            pad.pixels().iter().all(|&p| p == 0.0),
            "both segments undone at once"
        );
        pad.edit(PadEdit::Redo);
        assert!(pad.pixels().iter().any(|&p| p > 0.5));

        let revision = pad.revision();
        pad.edit(PadEdit::Load {
            pixels: vec![1.0; 10],
            caption: "too short".into(),
        });
        assert_eq!((pad.revision(), pad.caption()), (revision, "drawn"));
        pad.edit(PadEdit::Load {
            pixels: vec![1.0; 784],
            caption: "all ink".into(),
        });
        assert_eq!(pad.caption(), "all ink");
        assert!(pad.revision() > revision);
    }

    #[test]
    fn the_logits_history_keeps_one_entry_per_revision_and_the_newest_ones() {
        let mut pad = PadState::default();
        pad.log_logits([1.0; 10]);
        pad.log_logits([2.0; 10]); // a new model, same image: not a new entry
        assert_eq!(pad.logit_history().len(), 1);
        for i in 0..LOGIT_HISTORY + 5 {
            pad.edit(PadEdit::Shift { dx: 1, dy: 0 });
            pad.log_logits([i as f32; 10]);
        }
        assert_eq!(pad.logit_history().len(), LOGIT_HISTORY);
        assert_eq!(
            pad.logit_history().back(),
            Some(&[(LOGIT_HISTORY + 4) as f32; 10])
        );
    }
}
