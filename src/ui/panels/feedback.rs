//! Feedback on drawn digits (seed S3's web demo), shown under the pad: after a prediction
//! the user marks it right or gives the true digit; the workbench keeps a live accuracy on
//! drawn digits and keeps them as an MNIST-style IDX folder (`<runs>/drawn-digits`) that can
//! be evaluated (the [`Feedback`] study, on the probe lane), loaded as the data to fine-tune
//! on, or saved elsewhere.

use super::Workbench;
use crate::data::sources::DataRequest;
use crate::study::feedback::{Feedback, FeedbackConfig};
use crate::study::{Lane, Study as _};
use crate::ui::workbench::Action;
use crate::ui::workbench::studies::StudyRequest;

/// The feedback strip (its state is the workbench's: the drawn digits, and the latest
/// [`Feedback`] results).
#[derive(Default)]
pub struct FeedbackView;

impl FeedbackView {
    /// Draws the strip for the pad image `pixels` and the model's `predicted` digit.
    pub fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench, pixels: &[f32], predicted: Option<u8>) {
        let blank = pixels.iter().all(|&v| v < 0.05);
        // Without a model there is no prediction to judge: only the tally shows.
        if predicted.is_some() {
            ui.horizontal_wrapped(|ui| {
                ui.label("Was it right?");
                let enabled = predicted.is_some() && !blank;
                let why = if blank {
                    "Draw a digit first"
                } else {
                    "Open or train a model first"
                };
                if let Some(p) = predicted
                    && ui
                        .add_enabled(enabled, egui::Button::new(format!("Yes, a {p}")))
                        .on_hover_text("Keep this drawing labelled as the prediction")
                        .on_disabled_hover_text(why)
                        .clicked()
                {
                    wb.act(Action::LabelDrawing {
                        pixels: pixels.to_vec(),
                        label: p,
                        predicted: p,
                    });
                }
                ui.label("no, it is");
                for d in 0..10u8 {
                    let on = enabled && predicted != Some(d);
                    let button = ui.add_enabled(on, egui::Button::new(d.to_string()).small());
                    // Read out (and found by tests) as "it is a 7", not a bare "7".
                    button.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::Role::Button, on, format!("it is a {d}"))
                    });
                    if button
                        .on_hover_text(format!("Keep this drawing labelled {d}"))
                        .on_disabled_hover_text(why)
                        .clicked()
                        && let Some(p) = predicted
                    {
                        wb.act(Action::LabelDrawing {
                            pixels: pixels.to_vec(),
                            label: d,
                            predicted: p,
                        });
                    }
                }
            });
        }
        let n = wb.drawings.drawn.digits.len();
        let accuracy = wb.drawings.drawn.accuracy();
        let right = wb
            .drawings
            .drawn
            .digits
            .iter()
            .filter(|d| d.label == d.predicted)
            .count();
        let per_class = per_class_text(&wb.drawings.drawn);
        ui.horizontal_wrapped(|ui| {
            match accuracy {
                Some(a) => {
                    ui.label(format!("Drawn digits: {n} · the model was right on {right} ({:.0} %)", 100.0 * a))
                        .on_hover_text(per_class);
                }
                None => {
                    ui.weak("No drawn digits labelled yet");
                }
            }
            if ui.add_enabled(n > 0, egui::Button::new("Forget last")).on_hover_text("Forget the last labelled drawing (undo)").clicked() {
                wb.act(Action::UndoDrawing);
            }
            let running = wb.studies.is_running(Feedback::ID);
            let busy = wb.studies.running_by_hand(Lane::Probe).is_some_and(|id| id != Feedback::ID);
            let can_eval = n > 0 && wb.model.is_some() && !running && !busy;
            let why = if n == 0 {
                "Label a drawing first"
            } else if wb.model.is_none() {
                "Open or train a model first"
            } else {
                "Another probe is running"
            };
            if ui
                .add_enabled(can_eval, egui::Button::new("Evaluate"))
                .on_hover_text("Accuracy of the current model on every drawn digit")
                .on_disabled_hover_text(why)
                .clicked()
            {
                let config = FeedbackConfig {
                    digits: wb.drawings.drawn.clone(),
                };
                wb.act(Action::StartStudy(StudyRequest::new::<Feedback>(config)));
            }
            if running {
                ui.spinner();
            } else if let Some(view) = wb.studies.latest::<Feedback>() {
                let r = &view.results;
                let current = wb.model.as_ref().is_some_and(|m| m.version == view.from.model_version);
                let hardest = r
                    .hardest()
                    .map_or("every digit read right".to_string(), |(d, right, total)| {
                        format!("hardest: {d} ({right} of {total} right)")
                    });
                ui.label(format!(
                    "{}model: {:.1} % of {}",
                    if current { "" } else { "earlier " },
                    100.0 * r.accuracy,
                    r.digits
                ))
                .on_hover_text(hardest);
            } else if let Some(e) = wb.studies.error_of(Feedback::ID) {
                ui.colored_label(ui.visuals().error_fg_color, e.to_string());
            }
            if ui
                .add_enabled(n > 0, egui::Button::new("Use as data"))
                .on_hover_text(
                    "Load the drawn digits as the dataset (train and test) to evaluate or train on. \
                     To fine-tune a saved run on them: mnist-workbench train --resume RUN --data <runs>/drawn-digits",
                )
                .clicked()
            {
                let request = DataRequest {
                    folder: Some(wb.drawn_dir()),
                    allow_synthetic_fallback: false,
                    ..wb.options.data.clone()
                };
                wb.act(Action::LoadData(request));
            }
            if ui
                .add_enabled(n > 0, egui::Button::new("Save as IDX…"))
                .on_hover_text("Write the four MNIST-named IDX files into a folder")
                .clicked()
                && let Some(dir) = rfd::FileDialog::new().pick_folder()
            {
                wb.act(Action::SaveDrawingsInto(dir));
            }
        });
    }
}

fn per_class_text(drawn: &crate::data::drawings::DrawnDigits) -> String {
    drawn
        .per_class()
        .iter()
        .enumerate()
        .filter(|(_, (_, total))| *total > 0)
        .map(|(d, (right, total))| format!("{d}: {right}/{total} right"))
        .collect::<Vec<_>>()
        .join("\n")
}
