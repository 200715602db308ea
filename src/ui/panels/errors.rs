//! Errors: every misclassified test image, most confident mistakes first, filterable by true
//! and predicted digit, as a predictions grid with confidence bars (seed S3's predictions
//! figure); click one to load it into the pad.

use super::{Panel, digit_filter_ui, evaluation_status_ui};
use crate::analysis::errors::misclassified;
use crate::ui::gallery::{Caption, Gallery, key_of, send_to_pad};
use crate::ui::layout::PanelKind;
use crate::ui::workbench::Workbench;

/// Misclassified images per page of the gallery.
const PAGE: usize = 120;

/// The misclassified test images of one evaluation under the (true, predicted) filters.
type Listed = (
    std::sync::Arc<crate::analysis::worker::TestEvaluation>,
    Option<u8>,
    Option<u8>,
    Vec<usize>,
);

/// The Errors panel: the true and predicted digit filters, the page, and the filtered list.
#[derive(Default)]
pub struct ErrorsPanel {
    truth: Option<u8>,
    predicted: Option<u8>,
    page: usize,
    gallery: Gallery,
    /// The misclassified images of the shown evaluation under the filters, found once per
    /// evaluation and filter rather than every frame.
    listed: Option<Listed>,
}

impl Panel for ErrorsPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::Errors
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let Some(eval) = evaluation_status_ui(ui, wb) else {
            return;
        };
        let Some(data) = wb.dataset().cloned() else { return };
        let before = (self.truth, self.predicted);
        ui.horizontal(|ui| {
            digit_filter_ui(ui, "True digit", &mut self.truth);
            digit_filter_ui(ui, "Predicted digit", &mut self.predicted);
            let (t, p) = (self.truth, self.predicted);
            let (data, eval) = (data.clone(), eval.clone());
            crate::ui::export::export_ui(ui, wb, true, move || {
                Some(crate::report::figures::errors(&data.test, &eval, t, p, 60))
            });
        });
        if before != (self.truth, self.predicted) {
            self.page = 0;
        }
        let current = self.listed.as_ref().is_some_and(|(e, t, p, _)| {
            std::sync::Arc::ptr_eq(e, &eval) && (*t, *p) == (self.truth, self.predicted)
        });
        if !current {
            let list = misclassified(
                &eval.labels,
                &eval.report.predictions,
                &eval.report.confidences,
                self.truth,
                self.predicted,
            );
            self.listed = Some((eval.clone(), self.truth, self.predicted, list));
        }
        let list = self
            .listed
            .as_ref()
            .map(|(_, _, _, l)| l.clone())
            .unwrap_or_default();
        let pages = list.len().div_ceil(PAGE).max(1);
        self.page = self.page.min(pages - 1);
        ui.horizontal(|ui| {
            ui.strong(format!(
                "{} misclassified of {} test images, most confident first",
                list.len(),
                eval.labels.len()
            ));
            if pages > 1 {
                if ui
                    .add_enabled(self.page > 0, egui::Button::new("Previous"))
                    .clicked()
                {
                    self.page -= 1;
                }
                ui.label(format!("page {} of {pages}", self.page + 1));
                if ui
                    .add_enabled(self.page + 1 < pages, egui::Button::new("Next"))
                    .clicked()
                {
                    self.page += 1;
                }
            }
        });
        if list.is_empty() {
            ui.weak("No mistakes with this filter.");
            return;
        }
        let shown = &list[self.page * PAGE..((self.page + 1) * PAGE).min(list.len())];
        let key = key_of(shown, eval.model_version);
        egui::ScrollArea::vertical().auto_shrink(false).show(ui, |ui| {
            let clicked = self.gallery.ui(ui, key, &data.test, shown, 48.0, |i| {
                Caption::prediction(&eval, i)
            });
            if let Some(i) = clicked {
                send_to_pad(wb, i, "the Errors panel");
            }
        });
    }
}
