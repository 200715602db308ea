//! The sweep's trials as a table: sorted by a clicked header (again: the other way), filtered
//! by words that must all appear in the trial's parameters, the best trial starred and in
//! green. A click opens the trial's run; the right-click menu selects it or trains with it.

use std::cmp::Ordering;

use egui::{RichText, Sense};
use egui_extras::{Column, TableBuilder};

use super::params_text;
use crate::study::sweep::{SweepResults, Trial};
use crate::ui::palette::GOOD;

/// What a column sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    /// Training order.
    Order,
    /// The sweep's parameter at this index (numbers by value, names alphabetically).
    Param(usize),
    Seed,
    Rung,
    Val,
    Test,
    Seconds,
}

/// What the user asked for on a row.
pub(super) enum RowAction {
    /// Clicked: select it and open its run.
    Open(usize),
    /// Select it only.
    Select(usize),
    /// Put its settings into the training form.
    Train(usize),
}

/// The table's sort and filter.
pub(super) struct TrialTable {
    sort: SortKey,
    descending: bool,
    filter: String,
}

impl Default for TrialTable {
    fn default() -> Self {
        Self {
            sort: SortKey::Val,
            descending: true,
            filter: String::new(),
        }
    }
}

/// Two values of a parameter: as numbers when both are, else as text.
fn compare_values(a: Option<&String>, b: Option<&String>) -> Ordering {
    let number = |v: Option<&String>| v.and_then(|s| s.parse::<f64>().ok());
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.cmp(&b),
    }
}

impl TrialTable {
    fn compare(&self, r: &SweepResults, a: usize, b: usize) -> Ordering {
        let (x, y) = (&r.trials[a], &r.trials[b]);
        match self.sort {
            SortKey::Order => a.cmp(&b),
            SortKey::Param(k) => {
                let name = &r.config.params[k].name;
                compare_values(x.params.get(name), y.params.get(name))
            }
            SortKey::Seed => x.seed.cmp(&y.seed),
            SortKey::Rung => x.rung.cmp(&y.rung),
            SortKey::Val => x.val_accuracy.total_cmp(&y.val_accuracy),
            SortKey::Test => x.test_accuracy.total_cmp(&y.test_accuracy),
            SortKey::Seconds => x.seconds.total_cmp(&y.seconds),
        }
    }

    /// The trials shown, in order: those matching every word of the filter, sorted (ties in
    /// training order).
    fn rows(&self, r: &SweepResults) -> Vec<usize> {
        let words: Vec<String> = self.filter.split_whitespace().map(str::to_lowercase).collect();
        let mut rows: Vec<usize> = (0..r.trials.len())
            .filter(|&i| {
                let text = params_text(r, &r.trials[i]).to_lowercase();
                words.iter().all(|w| text.contains(w.as_str()))
            })
            .collect();
        rows.sort_by(|&a, &b| {
            let o = self.compare(r, a, b);
            if self.descending { o.reverse() } else { o }
        });
        rows
    }

    /// A header that sorts by `key` when clicked (the same key again flips the order), with a
    /// small triangle for the column sorted by.
    fn header(&mut self, ui: &mut egui::Ui, label: &str, key: SortKey, tip: &str) {
        let on = self.sort == key;
        let text = if on {
            RichText::new(label).strong()
        } else {
            RichText::new(label)
        };
        let response = ui
            .add(egui::Label::new(text).sense(Sense::click()))
            .on_hover_text(format!("{tip}\nClick to sort by it; again for the other order"));
        if on {
            let r = response.rect;
            let (x, y, s) = (r.right() + 7.0, r.center().y, 3.5);
            let points = if self.descending {
                vec![
                    egui::pos2(x - s, y - s * 0.6),
                    egui::pos2(x + s, y - s * 0.6),
                    egui::pos2(x, y + s * 0.8),
                ]
            } else {
                vec![
                    egui::pos2(x - s, y + s * 0.6),
                    egui::pos2(x + s, y + s * 0.6),
                    egui::pos2(x, y - s * 0.8),
                ]
            };
            let color = ui.visuals().strong_text_color();
            ui.painter()
                .add(egui::Shape::convex_polygon(points, color, egui::Stroke::NONE));
        }
        if response.clicked() {
            if on {
                self.descending = !self.descending;
            } else {
                self.sort = key;
                // Accuracy best first; the rest smallest first.
                self.descending = matches!(key, SortKey::Val | SortKey::Test);
            }
        }
    }

    /// The filter box and the table; `selected` is highlighted. Returns what was asked on a row.
    pub(super) fn ui(
        &mut self,
        ui: &mut egui::Ui,
        r: &SweepResults,
        selected: Option<usize>,
    ) -> Option<RowAction> {
        let rows = self.rows(r);
        ui.horizontal(|ui| {
            ui.label("Filter");
            ui.add(
                egui::TextEdit::singleline(&mut self.filter)
                    .desired_width(200.0)
                    .hint_text("e.g. lr=0.01 sgd"),
            )
            .on_hover_text("Shows the trials whose parameters contain every word typed (e.g. batch-size=64)");
            if !self.filter.is_empty() && ui.small_button("Clear").clicked() {
                self.filter.clear();
            }
            ui.weak(format!(
                "{} of {} trials · click a row to open its run, right-click for more",
                rows.len(),
                r.trials.len()
            ));
        });
        let best = r.best().map(|b| b.run.clone());
        let halving = r.config.halving;
        let params = r.config.params.len();
        let columns = 1 + params + 1 + usize::from(halving) + 3;
        // Room for about a dozen rows; more scroll inside, so the charts below stay in reach.
        let height = 300.0;
        let mut action = None;
        let row_height = ui.spacing().interact_size.y;
        // Cells widen their column rather than wrap (a row read later may be wider).
        ui.scope(|ui| {
            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
            TableBuilder::new(ui)
                .id_salt("sweep-trials")
                .striped(true)
                .sense(Sense::click())
                .max_scroll_height(height)
                .columns(Column::auto().at_least(36.0), columns)
                .header(row_height, |mut header| {
                    header.col(|ui| self.header(ui, "#", SortKey::Order, "Training order"));
                    for (k, p) in r.config.params.iter().enumerate() {
                        header.col(|ui| self.header(ui, &p.name, SortKey::Param(k), "A swept parameter"));
                    }
                    header.col(|ui| self.header(ui, "seed", SortKey::Seed, "Training seed"));
                    if halving {
                        header.col(|ui| {
                            self.header(ui, "rung", SortKey::Rung, "Successive-halving rung (its epochs)")
                        });
                    }
                    header.col(|ui| {
                        self.header(
                            ui,
                            "val acc",
                            SortKey::Val,
                            "Accuracy on the validation split (chosen by)",
                        )
                    });
                    header.col(|ui| {
                        self.header(
                            ui,
                            "test acc",
                            SortKey::Test,
                            "Accuracy on the test set (recorded, never chosen by)",
                        )
                    });
                    header.col(|ui| self.header(ui, "time", SortKey::Seconds, "Training and measuring"));
                })
                .body(|body| {
                    body.rows(row_height, rows.len(), |mut row| {
                        let i = rows[row.index()];
                        let t = &r.trials[i];
                        let is_best = best.as_deref() == Some(t.run.as_str());
                        row.set_selected(selected == Some(i));
                        let text = |s: String| {
                            if is_best {
                                RichText::new(s).color(GOOD)
                            } else {
                                RichText::new(s)
                            }
                        };
                        row.col(|ui| {
                            ui.label(text(format!("{}{}", i + 1, if is_best { " *" } else { "" })));
                        });
                        for p in &r.config.params {
                            row.col(|ui| {
                                ui.label(text(t.params.get(&p.name).cloned().unwrap_or_default()));
                            });
                        }
                        row.col(|ui| {
                            ui.label(text(t.seed.to_string()));
                        });
                        if halving {
                            row.col(|ui| {
                                ui.label(text(format!("{} ({} ep)", t.rung, t.epochs)));
                            });
                        }
                        row.col(|ui| {
                            ui.label(text(format!("{:.2} %", 100.0 * t.val_accuracy)).strong());
                        });
                        row.col(|ui| {
                            ui.label(text(format!("{:.2} %", 100.0 * t.test_accuracy)));
                        });
                        row.col(|ui| {
                            ui.label(text(seconds_text(t.seconds)));
                        });
                        let response = row.response();
                        if response.clicked() {
                            action = Some(RowAction::Open(i));
                        }
                        row_menu(&response, t, i, is_best, &mut action);
                    });
                });
        });
        action
    }
}

/// Seconds with a decimal below a minute ("0.4 s"), else as the other panels write durations.
fn seconds_text(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        crate::ui::widgets::format_duration(secs)
    }
}

/// The right-click menu of a row, and its hover text.
fn row_menu(response: &egui::Response, t: &Trial, i: usize, is_best: bool, action: &mut Option<RowAction>) {
    let best = if is_best { " (the best by validation)" } else { "" };
    let response = response.clone().on_hover_text(format!(
        "{}{best}\nClick: open it as the model in use · right-click: more",
        t.run
    ));
    response.context_menu(|ui| {
        if ui.button("Open run").clicked() {
            *action = Some(RowAction::Open(i));
            ui.close();
        }
        if ui.button("Select").clicked() {
            *action = Some(RowAction::Select(i));
            ui.close();
        }
        if ui.button("Train with these").clicked() {
            *action = Some(RowAction::Train(i));
            ui.close();
        }
    });
}
