//! The sweep's charts: validation accuracy against each swept parameter (a scatter each; lr
//! and weight decay on log10 axes, named values such as optimisers at their place in the
//! sweep's list) and a parallel-coordinates view (an axis per parameter, then validation
//! accuracy; every trial a line coloured by its accuracy). Hovering names a trial; a click
//! selects it.

use egui::{Color32, Pos2, Sense, Stroke, pos2, vec2};
use egui_plot::{MarkerShape, PlotPoint, PlotPoints, Points};

use super::trial_text;
use crate::study::sweep::{ParamSpec, ParamValues, SweepResults};
use crate::ui::palette::{GOOD, SERIES_BLUE, reference_color, selection_color};

/// Where one parameter's values sit on an axis.
pub(super) struct ParamAxis {
    name: String,
    /// Positions are log10 of the values.
    log: bool,
    /// A named parameter's values in axis order (empty for a numeric one).
    names: Vec<String>,
    /// Each trial's position (None when its value is missing).
    pos: Vec<Option<f64>>,
}

impl ParamAxis {
    /// The axis of parameter `p` over `r`'s trials: numbers (log10 for lr and weight decay
    /// when all are above 0), or names in the order the sweep lists them.
    pub(super) fn of(r: &SweepResults, p: &ParamSpec) -> Self {
        let texts: Vec<Option<&str>> = r
            .trials
            .iter()
            .map(|t| t.params.get(&p.name).map(String::as_str))
            .collect();
        let numbers: Option<Vec<Option<f64>>> = texts
            .iter()
            .map(|t| t.map_or(Some(None), |s| s.parse::<f64>().ok().map(Some)))
            .collect();
        if let Some(numbers) = numbers {
            let log = matches!(p.name.as_str(), "lr" | "weight-decay")
                && numbers.iter().flatten().all(|&v| v > 0.0);
            let pos = numbers
                .into_iter()
                .map(|v| v.map(|v| if log { v.log10() } else { v }))
                .collect();
            return Self {
                name: p.name.clone(),
                log,
                names: Vec::new(),
                pos,
            };
        }
        let mut names: Vec<String> = match &p.values {
            ParamValues::List { values } => values.clone(),
            ParamValues::Range { .. } => Vec::new(),
        };
        for t in texts.iter().flatten() {
            if !names.iter().any(|n| n == t) {
                names.push(t.to_string());
            }
        }
        let pos = texts
            .iter()
            .map(|t| {
                t.and_then(|t| names.iter().position(|n| n == t))
                    .map(|i| i as f64)
            })
            .collect();
        Self {
            name: p.name.clone(),
            log: false,
            names,
            pos,
        }
    }

    /// The axis title.
    fn title(&self) -> String {
        if self.log {
            format!("{} (log scale)", self.name)
        } else {
            self.name.clone()
        }
    }

    /// The value at position `x` as text ("" between named values).
    fn value_text(&self, x: f64) -> String {
        if !self.names.is_empty() {
            let k = x.round();
            return if (x - k).abs() < 1e-6 && k >= 0.0 {
                self.names.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            };
        }
        short(if self.log { 10f64.powf(x) } else { x })
    }

    /// Positions to label: every named value, every distinct number when there are few, else
    /// the two ends.
    fn ticks(&self) -> Vec<f64> {
        if !self.names.is_empty() {
            return (0..self.names.len()).map(|n| n as f64).collect();
        }
        let mut values: Vec<f64> = self.pos.iter().flatten().copied().collect();
        values.sort_by(f64::total_cmp);
        values.dedup();
        if values.len() <= 6 {
            values
        } else {
            let (lo, hi) = self.range();
            vec![lo, hi]
        }
    }

    /// Smallest and largest position (a named axis spans all its names).
    fn range(&self) -> (f64, f64) {
        if !self.names.is_empty() {
            return (0.0, (self.names.len() - 1) as f64);
        }
        let lo = self.pos.iter().flatten().copied().fold(f64::INFINITY, f64::min);
        let hi = self
            .pos
            .iter()
            .flatten()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
    }
}

/// A number in few characters: 0.0032, 128, 1e-4, 3.2e-5.
fn short(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&a) {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.1e}").replace(".0e", "e")
    }
}

/// Lowest and highest validation accuracy.
fn accuracy_range(r: &SweepResults) -> (f64, f64) {
    let lo = r.trials.iter().map(|t| t.val_accuracy).fold(1.0f64, f64::min);
    let hi = r.trials.iter().map(|t| t.val_accuracy).fold(0.0f64, f64::max);
    (lo.min(hi), hi)
}

/// The index of the best trial by validation at the last rung.
fn best_index(r: &SweepResults) -> Option<usize> {
    let best = r.best()?;
    r.trials.iter().position(|t| std::ptr::eq(t, best))
}

/// A scatter of validation accuracy against each parameter, side by side: the last rung's
/// trials blue, earlier rungs grey, the best ringed green, the selected ringed. Returns the
/// trial clicked.
pub(super) fn scatter_ui(
    ui: &mut egui::Ui,
    r: &SweepResults,
    axes: &[ParamAxis],
    selected: Option<usize>,
) -> Option<usize> {
    let top = r.trials.iter().map(|t| t.rung).max().unwrap_or(0);
    let best = best_index(r);
    let n = axes.len().max(1) as f32;
    let gap = ui.spacing().item_spacing.x;
    // A few points spare per chart, so rounding never wraps the last one or clips its edge.
    let width = ((visible_width(ui) - gap * (n - 1.0)) / n - 4.0).clamp(220.0, 420.0);
    let mut groups: Vec<(&str, Color32, f32, bool, Vec<usize>)> = vec![
        (
            "earlier rungs",
            reference_color(ui.visuals()),
            3.0,
            true,
            Vec::new(),
        ),
        ("trials", SERIES_BLUE, 4.0, true, Vec::new()),
    ];
    for (i, t) in r.trials.iter().enumerate() {
        groups[usize::from(t.rung == top)].4.push(i);
    }
    groups.push(("best", GOOD, 7.0, false, best.into_iter().collect()));
    groups.push((
        "selected",
        selection_color(ui.visuals()),
        9.0,
        false,
        selected.into_iter().collect(),
    ));
    let (lo, hi) = accuracy_range(r);
    let pad = ((hi - lo) * 0.1).max(0.002);
    let mut clicked = None;
    ui.horizontal_wrapped(|ui| {
        for (k, axis) in axes.iter().enumerate() {
            ui.vertical(|ui| {
                ui.set_width(width);
                let points = |ids: &[usize]| -> Vec<[f64; 2]> {
                    ids.iter()
                        .filter_map(|&i| axis.pos[i].map(|x| [x, r.trials[i].val_accuracy]))
                        .collect()
                };
                let mut plot = crate::ui::widgets::panel_plot(("sweep-scatter", k), 190.0)
                    .width(width)
                    .allow_drag(false)
                    .allow_zoom(false)
                    .allow_boxed_zoom(false)
                    .include_y(lo - pad)
                    .include_y(hi + pad)
                    .x_axis_label(axis.title())
                    .x_axis_formatter(|mark, _| axis.value_text(mark.value))
                    .y_axis_formatter(|mark, _| format!("{:.1} %", 100.0 * mark.value))
                    .label_formatter(|hover| match hover {
                        egui_plot::HoverPosition::NearDataPoint { plot_name, index, .. } => {
                            let ids = &groups.iter().find(|g| g.0 == *plot_name)?.4;
                            let i = ids.iter().filter(|&&i| axis.pos[i].is_some()).nth(*index)?;
                            Some(trial_text(r, &r.trials[*i]))
                        }
                        egui_plot::HoverPosition::Elsewhere { .. } => None,
                    });
                if k == 0 {
                    plot = plot.y_axis_label("validation accuracy");
                }
                // Room beside the outermost values, so their points (and rings) are not cut.
                let (a, b) = axis.range();
                let margin = if axis.names.is_empty() {
                    ((b - a) * 0.08).max(1e-9)
                } else {
                    0.5
                };
                plot = plot.include_x(a - margin).include_x(b + margin);
                let shown = plot.show(ui, |plot| {
                    for (name, color, radius, filled, ids) in &groups {
                        plot.points(
                            Points::new(*name, PlotPoints::from(points(ids)))
                                .color(*color)
                                .radius(*radius)
                                .filled(*filled)
                                .shape(MarkerShape::Circle),
                        );
                    }
                });
                if shown.response.clicked()
                    && let Some(at) = shown.response.interact_pointer_pos()
                {
                    let screen = |i: usize| {
                        axis.pos[i].map(|x| {
                            shown
                                .transform
                                .position_from_point(&PlotPoint::new(x, r.trials[i].val_accuracy))
                        })
                    };
                    clicked = nearest(
                        (0..r.trials.len()).filter_map(|i| screen(i).map(|p| (i, p.distance(at)))),
                        10.0,
                    );
                }
            });
        }
    });
    clicked
}

/// The width from here to the right edge of what is visible: in a panel that scrolls
/// sideways the available width grows with anything wide drawn before (a progress bar in a
/// row of buttons), and charts sized by it would keep it wide.
fn visible_width(ui: &egui::Ui) -> f32 {
    (ui.clip_rect().right() - ui.cursor().left())
        .min(ui.available_width())
        .max(0.0)
}

/// The item with the smallest distance, if within `limit`.
fn nearest(items: impl Iterator<Item = (usize, f32)>, limit: f32) -> Option<usize> {
    items
        .filter(|(_, d)| *d <= limit)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// Viridis at `t` in [0, 1] (five stops, linearly mixed).
fn viridis(t: f32) -> Color32 {
    const STOPS: [[f32; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    let x = t.clamp(0.0, 1.0) * 4.0;
    let k = (x.floor() as usize).min(3);
    let f = x - k as f32;
    let c = |j: usize| (STOPS[k][j] + (STOPS[k + 1][j] - STOPS[k][j]) * f).round() as u8;
    Color32::from_rgb(c(0), c(1), c(2))
}

/// The colour of accuracy share `t` (0 the lowest, 1 the highest) on this theme: viridis,
/// leaving out its end that would vanish into the background.
fn accuracy_color(visuals: &egui::Visuals, t: f32) -> Color32 {
    if visuals.dark_mode {
        viridis(0.2 + 0.8 * t)
    } else {
        viridis(0.8 * t)
    }
}

/// Parallel coordinates: an axis per parameter and one for validation accuracy (drawn as the
/// colour scale); each trial a line through its values, coloured by its accuracy, the best
/// on top and wider, the selected in the selection colour. Returns the trial clicked.
pub(super) fn parallel_ui(
    ui: &mut egui::Ui,
    r: &SweepResults,
    axes: &[ParamAxis],
    selected: Option<usize>,
) -> Option<usize> {
    ui.strong("Parallel coordinates").on_hover_text(
        "One axis per swept parameter, then validation accuracy; each trial is a line through its \
         values, coloured by its accuracy (brighter is better). Click a line to select its trial.",
    );
    let width = visible_width(ui).clamp(320.0, 1400.0);
    let (rect, response) = ui.allocate_exact_size(vec2(width, 230.0), Sense::click());
    let area = egui::Rect::from_min_max(rect.min + vec2(60.0, 24.0), rect.max - vec2(60.0, 10.0));
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals().clone();
    let columns = axes.len() + 1;
    let x_of = |k: usize| area.left() + area.width() * k as f32 / (columns - 1).max(1) as f32;
    let y_of = |(lo, hi): (f64, f64), v: f64| {
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
        area.bottom() - area.height() * t as f32
    };
    let acc = accuracy_range(r);
    let share = |i: usize| {
        let v = r.trials[i].val_accuracy;
        if acc.1 > acc.0 {
            ((v - acc.0) / (acc.1 - acc.0)) as f32
        } else {
            1.0
        }
    };
    let ranges: Vec<(f64, f64)> = axes.iter().map(ParamAxis::range).collect();
    let line = |i: usize| -> Vec<Option<Pos2>> {
        let mut points: Vec<Option<Pos2>> = axes
            .iter()
            .enumerate()
            .map(|(k, a)| a.pos[i].map(|v| pos2(x_of(k), y_of(ranges[k], v))))
            .collect();
        points.push(Some(pos2(x_of(axes.len()), y_of(acc, r.trials[i].val_accuracy))));
        points
    };
    let hovered = response
        .hover_pos()
        .and_then(|at| nearest((0..r.trials.len()).map(|i| (i, distance_to(&line(i), at))), 6.0));
    // The axes, then every trial (worst first, so the best lie on top), then the best, the
    // selected and the hovered trial drawn again, wider, then the labels over it all.
    for k in 0..axes.len() {
        let x = x_of(k);
        let stroke = Stroke::new(1.0, reference_color(&visuals));
        painter.line_segment([pos2(x, area.top()), pos2(x, area.bottom())], stroke);
    }
    let x = x_of(axes.len());
    for s in 0..40 {
        let (a, b) = (s as f32 / 40.0, (s + 1) as f32 / 40.0);
        let (ya, yb) = (
            area.bottom() - area.height() * a,
            area.bottom() - area.height() * b,
        );
        painter.line_segment(
            [pos2(x, ya), pos2(x, yb)],
            Stroke::new(5.0, accuracy_color(&visuals, a)),
        );
    }
    let mut order: Vec<usize> = (0..r.trials.len()).collect();
    order.sort_by(|&a, &b| r.trials[a].val_accuracy.total_cmp(&r.trials[b].val_accuracy));
    for &i in &order {
        draw_line(
            &painter,
            &line(i),
            Stroke::new(1.5, accuracy_color(&visuals, share(i))),
        );
    }
    let special = [
        (best_index(r), 3.0, None),
        (selected, 3.0, Some(selection_color(&visuals))),
        (hovered, 2.5, None),
    ];
    for (which, width, color) in special {
        if let Some(i) = which {
            let color = color.unwrap_or_else(|| accuracy_color(&visuals, share(i)));
            draw_line(
                &painter,
                &line(i),
                Stroke::new(width + 2.0, visuals.extreme_bg_color),
            );
            draw_line(&painter, &line(i), Stroke::new(width, color));
        }
    }
    let label = |at: Pos2, align: egui::Align2, text: String| {
        let galley = painter.layout_no_wrap(text, egui::FontId::proportional(12.0), visuals.text_color());
        let placed = align.anchor_size(at, galley.size());
        painter.rect_filled(placed.expand(1.0), 2.0, visuals.panel_fill.gamma_multiply(0.85));
        painter.galley(placed.min, galley, visuals.text_color());
    };
    for (k, axis) in axes.iter().enumerate() {
        let x = x_of(k);
        label(pos2(x, rect.top() + 2.0), egui::Align2::CENTER_TOP, axis.title());
        for v in axis.ticks() {
            label(
                pos2(x - 5.0, y_of(ranges[k], v)),
                egui::Align2::RIGHT_CENTER,
                axis.value_text(v),
            );
        }
    }
    label(
        pos2(x, rect.top() + 2.0),
        egui::Align2::CENTER_TOP,
        "validation accuracy".into(),
    );
    for v in [acc.0, acc.1] {
        label(
            pos2(x + 6.0, y_of(acc, v)),
            egui::Align2::LEFT_CENTER,
            format!("{:.2} %", 100.0 * v),
        );
    }
    if let Some(i) = hovered {
        response
            .clone()
            .on_hover_text_at_pointer(trial_text(r, &r.trials[i]));
    }
    if response.clicked() { hovered } else { None }
}

/// Draws the segments between consecutive present points.
fn draw_line(painter: &egui::Painter, points: &[Option<Pos2>], stroke: Stroke) {
    for w in points.windows(2) {
        if let [Some(a), Some(b)] = w {
            painter.line_segment([*a, *b], stroke);
        }
    }
}

/// The shortest distance from `p` to the segments between consecutive present points.
fn distance_to(points: &[Option<Pos2>], p: Pos2) -> f32 {
    points
        .windows(2)
        .filter_map(|w| match w {
            [Some(a), Some(b)] => {
                let ab = *b - *a;
                let t = ((p - *a).dot(ab) / ab.length_sq().max(1e-6)).clamp(0.0, 1.0);
                Some(p.distance(*a + ab * t))
            }
            _ => None,
        })
        .fold(f32::INFINITY, f32::min)
}
