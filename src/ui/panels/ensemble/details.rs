//! The Ensemble panel's linked details: the selected model, the digit pair's scatter, the
//! images in a difficulty range, and one test image with the models that got it right.

use std::sync::Arc;

use egui_plot::{Bar, BarChart, PlotPoints, Points};

use super::{BLUE, EnsemblePanel, RANGE_LIMIT, RIGHT, WRONG};
use crate::analysis::stats::pearson;
use crate::data::{Dataset, NUM_CLASSES};
use crate::study::ensemble::{EnsembleResults, EnsembleStats};
use crate::ui::gallery::{Caption, key_of, send_split_image_to_pad, send_to_pad};
use crate::ui::heatmap::Heatmap;
use crate::ui::workbench::Workbench;

impl EnsemblePanel {
    pub(super) fn details_ui(
        &mut self,
        ui: &mut egui::Ui,
        wb: &Workbench,
        r: &Arc<EnsembleResults>,
        data: &Arc<Dataset>,
    ) {
        ui.columns(2, |cols| {
            self.selected_model_ui(&mut cols[0], wb, r, data);
            self.digit_pair_ui(&mut cols[1], &r.stats);
        });
        ui.separator();
        self.difficulty_images_ui(ui, wb, r, data);
    }

    /// The selected model: its accuracy per digit and its training images (a click draws on one).
    fn selected_model_ui(
        &mut self,
        ui: &mut egui::Ui,
        wb: &Workbench,
        r: &EnsembleResults,
        data: &Dataset,
    ) {
        let text_colour = ui.visuals().text_color();
        let st = &r.stats;
        let n = st.model_accuracy.len();
        match self.model.filter(|&m| m < n) {
            None => {
                ui.weak("Click a model (a bar or a heatmap cell) to see what it trained on.");
            }
            Some(m) => {
                let member = &r.members[m];
                ui.strong(format!(
                    "Model #{m}: {:.1} % on the test set after {} steps (train accuracy {:.0} %, seed {})",
                    100.0 * member.test_accuracy,
                    member.steps,
                    100.0 * member.train_accuracy,
                    member.seed
                ));
                let bars: Vec<Bar> = (0..NUM_CLASSES)
                    .map(|d| {
                        Bar::new(d as f64, st.digit_accuracy[m][d])
                            .width(0.7)
                            .name(format!("digit {d}"))
                    })
                    .collect();
                crate::ui::widgets::panel_plot("ensemble-model-digits", 110.0)
                    .include_y(0.0)
                    .include_y(1.0)
                    .x_axis_label("digit")
                    .allow_drag(false)
                    .show(ui, |plot| {
                        plot.bar_chart(BarChart::new("accuracy per digit", bars).color(BLUE))
                    });
                ui.label(format!(
                    "Its {} training images (click one to draw on it):",
                    member.train_indices.len()
                ));
                let labels = &data.train.labels;
                let clicked = self.model_gallery.ui(
                    ui,
                    key_of(&member.train_indices, 11),
                    &data.train,
                    &member.train_indices,
                    36.0,
                    |i| Caption {
                        text: labels[i].to_string(),
                        color: text_colour,
                        bar: None,
                    },
                );
                if let Some(i) = clicked {
                    send_split_image_to_pad(wb, true, i, &format!("ensemble model #{m}'s training set"));
                }
            }
        }
    }

    /// Accuracy on one digit of the pair against the other, a point per model (a click selects
    /// the nearest model).
    fn digit_pair_ui(&mut self, ui: &mut egui::Ui, st: &EnsembleStats) {
        let n = st.model_accuracy.len();
        let (d, e) = self.pair;
        let xs: Vec<f64> = st.digit_accuracy.iter().map(|a| a[d]).collect();
        let ys: Vec<f64> = st.digit_accuracy.iter().map(|a| a[e]).collect();
        ui.strong(format!(
            "Accuracy on {d} against accuracy on {e}, one point per model (correlation {})",
            pearson(&xs, &ys).map_or("undefined".into(), |v| format!("{v:.3}"))
        ));
        let points: Vec<[f64; 2]> = xs.iter().zip(&ys).map(|(&x, &y)| [x, y]).collect();
        let selected: Vec<[f64; 2]> = self
            .model
            .filter(|&m| m < n)
            .map(|m| vec![points[m]])
            .unwrap_or_default();
        let selected_colour = crate::ui::palette::selection_color(ui.visuals());
        let response = crate::ui::widgets::panel_plot("ensemble-pair", 220.0)
            .data_aspect(1.0)
            .include_x(0.0)
            .include_x(1.0)
            .include_y(0.0)
            .include_y(1.0)
            .x_axis_label(format!("accuracy on {d}"))
            .y_axis_label(format!("accuracy on {e}"))
            .show(ui, |plot| {
                plot.points(
                    Points::new("models", PlotPoints::from(points.clone()))
                        .radius(3.5)
                        .color(BLUE),
                );
                plot.points(
                    Points::new("selected model", PlotPoints::from(selected))
                        .radius(6.0)
                        .color(selected_colour),
                );
                plot.pointer_coordinate()
            });
        if response.response.clicked()
            && let Some(p) = response.inner
        {
            // The nearest model becomes the selected one.
            self.model = points
                .iter()
                .enumerate()
                .min_by(|(_, a), (_, b)| {
                    let da = (a[0] - p.x).powi(2) + (a[1] - p.y).powi(2);
                    let db = (b[0] - p.x).powi(2) + (b[1] - p.y).powi(2);
                    da.total_cmp(&db)
                })
                .map(|(m, _)| m);
        }
    }

    /// The test images in the picked difficulty range, the one clicked, and each digit's
    /// hardest and easiest images.
    fn difficulty_images_ui(
        &mut self,
        ui: &mut egui::Ui,
        wb: &Workbench,
        r: &Arc<EnsembleResults>,
        data: &Arc<Dataset>,
    ) {
        let text_colour = ui.visuals().text_color();
        let st = &r.stats;
        // Images in the difficulty range.
        let current = self
            .picked
            .as_ref()
            .filter(|(results, range, _)| Arc::ptr_eq(results, r) && *range == self.range);
        let picked = match current {
            Some((_, _, picked)) => picked.clone(),
            None => {
                let picked = Arc::new(st.images_in_difficulty(self.range.0, self.range.1));
                self.picked = Some((r.clone(), self.range, picked.clone()));
                picked
            }
        };
        ui.strong(format!(
            "{} test images right for {:.0}-{:.0} % of the models{}; click one for who got it right",
            picked.len(),
            100.0 * self.range.0,
            100.0 * self.range.1,
            if picked.len() > RANGE_LIMIT {
                format!(" (hardest {RANGE_LIMIT} shown)")
            } else {
                String::new()
            }
        ));
        let shown = &picked[..picked.len().min(RANGE_LIMIT)];
        let caption = |i: usize| Caption {
            text: format!("{} · {:.0}%", r.test_labels[i], 100.0 * st.difficulty[i]),
            color: text_colour,
            bar: Some(st.difficulty[i] as f32),
        };
        let key = key_of(shown, 12);
        if let Some(i) = self.range_gallery.ui(ui, key, &data.test, shown, 36.0, caption) {
            self.image = Some(i);
            send_to_pad(wb, i, "the ensemble's difficulty range");
        }
        if let Some(i) = self.image.filter(|&i| i < r.test_labels.len()) {
            ui.separator();
            self.image_ui(ui, wb, r, data, i);
        }
        ui.separator();
        ui.strong("The three hardest and the easiest test image of each digit");
        let mut extremes = Vec::new();
        for d in 0..NUM_CLASSES {
            extremes.extend(st.hardest[d].iter().copied());
            extremes.extend(st.easiest[d]);
        }
        let key = key_of(&extremes, 13);
        if let Some(i) = self
            .extremes_gallery
            .ui(ui, key, &data.test, &extremes, 36.0, caption)
        {
            self.image = Some(i);
            send_to_pad(wb, i, "the ensemble's hardest and easiest images");
        }
    }

    /// Which models got test image `i` right, and the training images of its digit that the
    /// right and the wrong models had seen.
    fn image_ui(
        &mut self,
        ui: &mut egui::Ui,
        wb: &Workbench,
        r: &EnsembleResults,
        data: &Dataset,
        i: usize,
    ) {
        let text_colour = ui.visuals().text_color();
        let n = r.members.len();
        let label = r.test_labels[i];
        let right: Vec<usize> = (0..n).filter(|&m| r.correctness.get(m, i)).collect();
        ui.strong(format!(
            "Test image #{i} (a {label}): right for {} of {n} models. Click a square to select that model.",
            right.len()
        ));
        let value = |_: usize, m: usize| Some(if r.correctness.get(m, i) { 1.0 } else { 0.0 });
        let color = |v: f64| if v > 0.5 { RIGHT } else { WRONG };
        let hover = |_: usize, m: usize| {
            format!(
                "model #{m}: {}",
                if r.correctness.get(m, i) { "right" } else { "wrong" }
            )
        };
        let strip = Heatmap::new("image models", (1, n), &value, &color)
            .hover(&hover)
            .label_every((n / 10).max(1))
            .selected(self.model.map(|m| (0, m)));
        let width = (ui.available_width() - 30.0).min(14.0 * n as f32);
        if let Some((_, m)) = strip.show(ui, width) {
            self.model = Some(m);
        }
        // The training images of this digit seen by the models that were right / wrong.
        let of_digit = |models: &mut dyn Iterator<Item = usize>| -> Vec<usize> {
            let mut v: Vec<usize> = models
                .flat_map(|m| r.members[m].train_indices.clone())
                .filter(|&t| data.train.labels.get(t) == Some(&label))
                .collect();
            v.dedup();
            v.truncate(60);
            v
        };
        let seen_right = of_digit(&mut right.iter().copied());
        let seen_wrong = of_digit(&mut (0..n).filter(|m| !right.contains(m)));
        let labels = &data.train.labels;
        let caption = |t: usize| Caption {
            text: labels[t].to_string(),
            color: text_colour,
            bar: None,
        };
        ui.columns(2, |cols| {
            cols[0].colored_label(RIGHT, format!("{label}s the right models trained on"));
            if let Some(t) = self.right_gallery.ui(
                &mut cols[0],
                key_of(&seen_right, 14),
                &data.train,
                &seen_right,
                30.0,
                caption,
            ) {
                send_split_image_to_pad(wb, true, t, "an ensemble model's training set");
            }
            cols[1].colored_label(WRONG, format!("{label}s the wrong models trained on"));
            if let Some(t) = self.wrong_gallery.ui(
                &mut cols[1],
                key_of(&seen_wrong, 15),
                &data.train,
                &seen_wrong,
                30.0,
                caption,
            ) {
                send_split_image_to_pad(wb, true, t, "an ensemble model's training set");
            }
        });
    }
}
