//! A clickable heatmap of a small matrix drawn with the painter: a tooltip with the value of
//! the hovered cell, the selected cell outlined, row and column labels every few cells.
//! Each cell is an AccessKit button (`<name> r,c`) so tests click it like a user would.

use egui::{Color32, Rect, Sense, Stroke, StrokeKind, pos2, vec2};

use crate::analysis::colormap::{diverging, text_on};
use crate::ui::palette::{self, rgb};

/// Above this many cells the heatmap is one widget (no per-cell accessibility nodes).
const MAX_ACCESSIBLE_CELLS: usize = 4096;

/// A clickable heatmap, built with [`Heatmap::new`] and the optional settings after it.
pub struct Heatmap<'a> {
    name: &'a str,
    shape: (usize, usize),
    value: &'a dyn Fn(usize, usize) -> Option<f64>,
    color: &'a dyn Fn(f64) -> Color32,
    hover: Option<&'a dyn Fn(usize, usize) -> String>,
    label: Option<&'a dyn Fn(usize) -> String>,
    label_every: usize,
    selected: Option<(usize, usize)>,
    marked: Option<&'a dyn Fn(usize, usize) -> bool>,
    hide_undefined: bool,
    legend: Option<ColorLegend<'a>>,
}

/// The colour scale under a heatmap: a gradient from `lo` to `hi` with their values and the
/// middle one, and what the values are.
#[derive(Debug, Clone, Copy)]
pub struct ColorLegend<'a> {
    /// Value at the left end.
    pub lo: f64,
    /// Value at the right end.
    pub hi: f64,
    /// What the colour shows ("correlation", "margin change").
    pub caption: &'a str,
}

impl<'a> Heatmap<'a> {
    /// A `shape.0 × shape.1` heatmap named `name` (tooltips, accessibility labels `name r,c`),
    /// cell values from `value` (None: undefined, drawn grey), coloured by `color`. Rows and
    /// columns are labelled with their index, tooltips give the value.
    pub fn new(
        name: &'a str,
        shape: (usize, usize),
        value: &'a dyn Fn(usize, usize) -> Option<f64>,
        color: &'a dyn Fn(f64) -> Color32,
    ) -> Self {
        Self {
            name,
            shape,
            value,
            color,
            hover: None,
            label: None,
            label_every: 1,
            selected: None,
            marked: None,
            hide_undefined: false,
            legend: None,
        }
    }

    /// The tooltip of a cell.
    pub fn hover(mut self, hover: &'a dyn Fn(usize, usize) -> String) -> Self {
        self.hover = Some(hover);
        self
    }

    /// Row and column labels, drawn every `every` cells.
    pub fn labels(mut self, label: &'a dyn Fn(usize) -> String, every: usize) -> Self {
        self.label = Some(label);
        self.label_every = every.max(1);
        self
    }

    /// Index labels every `every` cells.
    pub fn label_every(mut self, every: usize) -> Self {
        self.label_every = every.max(1);
        self
    }

    /// The cell to outline as selected, `(row, column)`; None outlines nothing.
    pub fn selected(mut self, cell: Option<(usize, usize)>) -> Self {
        self.selected = cell;
        self
    }

    /// Cells drawn with an inner outline (e.g. edits that change the prediction).
    pub fn marked(mut self, marked: &'a dyn Fn(usize, usize) -> bool) -> Self {
        self.marked = Some(marked);
        self
    }

    /// Leaves undefined cells empty instead of grey (a triangular matrix).
    pub fn hide_undefined(mut self) -> Self {
        self.hide_undefined = true;
        self
    }

    /// Draws a colour scale from `lo` to `hi` under the heatmap.
    pub fn legend(mut self, lo: f64, hi: f64, caption: &'a str) -> Self {
        self.legend = Some(ColorLegend { lo, hi, caption });
        self
    }

    fn label_of(&self, i: usize) -> String {
        self.label.map_or_else(|| i.to_string(), |l| l(i))
    }

    fn hover_of(&self, r: usize, c: usize) -> String {
        match self.hover {
            Some(h) => h(r, c),
            None => match (self.value)(r, c) {
                Some(v) => format!("{} {r},{c}: {v:.3}", self.name),
                None => format!("{} {r},{c}: undefined", self.name),
            },
        }
    }
}

/// Draws `legend` as a gradient `width` wide coloured by `color`, with the values at both
/// ends and the middle, and its caption underneath.
pub fn color_legend(ui: &mut egui::Ui, width: f32, legend: ColorLegend<'_>, color: &dyn Fn(f64) -> Color32) {
    ui.vertical(|ui| {
        let (rect, _) = ui.allocate_exact_size(vec2(width, 24.0), Sense::hover());
        let painter = ui.painter_at(rect);
        let bar = Rect::from_min_size(rect.min, vec2(width, 10.0));
        let steps = 64;
        for i in 0..steps {
            let t = (i as f64 + 0.5) / steps as f64;
            let x0 = bar.left() + bar.width() * i as f32 / steps as f32;
            let x1 = bar.left() + bar.width() * (i + 1) as f32 / steps as f32;
            painter.rect_filled(
                Rect::from_min_max(pos2(x0, bar.top()), pos2(x1 + 0.5, bar.bottom())),
                0.0,
                color(legend.lo + t * (legend.hi - legend.lo)),
            );
        }
        painter.rect_stroke(
            bar,
            0.0,
            Stroke::new(1.0, ui.visuals().weak_text_color()),
            StrokeKind::Outside,
        );
        let font = egui::FontId::proportional(10.0);
        let ink = ui.visuals().text_color();
        let span = legend.hi - legend.lo;
        let mid = (legend.lo + legend.hi) / 2.0;
        for (value, x, align) in [
            (legend.lo, bar.left(), egui::Align2::LEFT_TOP),
            (mid, bar.center().x, egui::Align2::CENTER_TOP),
            (legend.hi, bar.right(), egui::Align2::RIGHT_TOP),
        ] {
            painter.text(
                pos2(x, bar.bottom() + 2.0),
                align,
                format_value(value, span),
                font.clone(),
                ink,
            );
        }
        let text = format!(
            "Colour scale: {} from {} to {}",
            legend.caption,
            format_value(legend.lo, span),
            format_value(legend.hi, span)
        );
        let response = ui.interact(
            rect,
            ui.scope_id().with(("colour-legend", legend.caption)),
            Sense::hover(),
        );
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, &text));
        response.on_hover_text(text);
        ui.add(egui::Label::new(egui::RichText::new(legend.caption).weak().small()).wrap());
    });
}

/// A legend value with as many decimals as a scale spanning `span` needs.
pub fn format_value(v: f64, span: f64) -> String {
    let span = span.abs();
    if span >= 50.0 {
        format!("{v:.0}")
    } else if span >= 5.0 {
        format!("{v:.1}")
    } else if span >= 0.05 {
        format!("{v:.2}")
    } else {
        format!("{v:.2e}")
    }
}

impl Heatmap<'_> {
    /// Draws the heatmap in a square of side `size` (plus label margins, and its colour scale
    /// below when it has one); returns the cell clicked this frame.
    pub fn show(&self, ui: &mut egui::Ui, size: f32) -> Option<(usize, usize)> {
        let clicked = self.cells(ui, size);
        if let Some(legend) = self.legend {
            let (rows, cols) = self.shape;
            let cell = (size / rows.max(cols).max(1) as f32).max(2.0);
            ui.horizontal(|ui| {
                ui.add_space(22.0);
                color_legend(ui, (cell * cols as f32).max(120.0), legend, self.color);
            });
        }
        clicked
    }

    fn cells(&self, ui: &mut egui::Ui, size: f32) -> Option<(usize, usize)> {
        let (rows, cols) = self.shape;
        if rows == 0 || cols == 0 {
            return None;
        }
        let margin = 22.0;
        let cell = (size / rows.max(cols) as f32).max(2.0);
        let (outer, response) = ui.allocate_exact_size(
            vec2(margin + cell * cols as f32, margin + cell * rows as f32),
            Sense::click(),
        );
        let origin = outer.min + vec2(margin, margin);
        let painter = ui.painter_at(outer);
        let text = ui.visuals().text_color();
        for r in 0..rows {
            for c in 0..cols {
                let rect =
                    Rect::from_min_size(origin + vec2(c as f32 * cell, r as f32 * cell), vec2(cell, cell));
                let value = (self.value)(r, c);
                if value.is_none() && self.hide_undefined {
                    continue;
                }
                let fill = value.map_or(palette::NO_VALUE, |v| (self.color)(v));
                painter.rect_filled(rect.shrink(if cell > 6.0 { 0.5 } else { 0.0 }), 0.0, fill);
                if self.marked.is_some_and(|m| m(r, c)) {
                    let ink = rgb(text_on(fill.to_array()[..3].try_into().expect("rgb")));
                    painter.rect_stroke(
                        rect.shrink(cell * 0.2),
                        0.0,
                        Stroke::new(1.0, ink),
                        StrokeKind::Inside,
                    );
                }
            }
        }
        let font = egui::FontId::proportional(10.0);
        for i in (0..rows.max(cols)).step_by(self.label_every.max(1)) {
            let centre = (i as f32 + 0.5) * cell;
            if i < rows {
                painter.text(
                    pos2(origin.x - 3.0, origin.y + centre),
                    egui::Align2::RIGHT_CENTER,
                    self.label_of(i),
                    font.clone(),
                    text,
                );
            }
            if i < cols {
                painter.text(
                    pos2(origin.x + centre, origin.y - 3.0),
                    egui::Align2::CENTER_BOTTOM,
                    self.label_of(i),
                    font.clone(),
                    text,
                );
            }
        }
        let cell_at = |pos: egui::Pos2| {
            let p = pos - origin;
            (p.x >= 0.0 && p.y >= 0.0)
                .then(|| ((p.y / cell) as usize, (p.x / cell) as usize))
                .filter(|&(r, c)| r < rows && c < cols)
        };
        if let Some((r, c)) = self.selected.filter(|&(r, c)| r < rows && c < cols) {
            let rect = Rect::from_min_size(origin + vec2(c as f32 * cell, r as f32 * cell), vec2(cell, cell));
            painter.rect_stroke(
                rect.expand(1.0),
                0.0,
                // The theme's strongest ink: visible on the dark theme and the light one.
                Stroke::new(2.0, ui.visuals().strong_text_color()),
                StrokeKind::Outside,
            );
        }
        let cell_rect = |r: usize, c: usize| {
            Rect::from_min_size(origin + vec2(c as f32 * cell, r as f32 * cell), vec2(cell, cell))
        };
        let hovered = ui
            .input(|i| i.pointer.hover_pos())
            .filter(|p| outer.contains(*p) && ui.rect_contains_pointer(outer))
            .and_then(cell_at);
        if let Some((r, c)) = hovered {
            painter.rect_stroke(
                cell_rect(r, c),
                0.0,
                Stroke::new(1.0, Color32::WHITE),
                StrokeKind::Inside,
            );
        }
        let mut clicked = None;
        if rows * cols <= MAX_ACCESSIBLE_CELLS {
            // One button per cell, so a screen reader (and the tests) can pick one.
            for r in 0..rows {
                for c in 0..cols {
                    let cell_response =
                        ui.interact(cell_rect(r, c), response.id.with((r, c)), Sense::click());
                    let label = format!("{} {r},{c}", self.name);
                    cell_response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
                    if cell_response.clicked() {
                        clicked = Some((r, c));
                    }
                    if cell_response.hovered() {
                        cell_response.on_hover_text_at_pointer(self.hover_of(r, c));
                    }
                }
            }
        } else {
            if response.clicked() {
                clicked = response.interact_pointer_pos().and_then(cell_at);
            }
            if let Some((r, c)) = hovered {
                response.on_hover_text_at_pointer(self.hover_of(r, c));
            }
        }
        clicked
    }
}

/// A diverging colour for a correlation in [-1, 1] (red positive, blue negative, white 0).
pub fn correlation_color(v: f64) -> Color32 {
    rgb(diverging(v as f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_values_get_the_decimals_their_scale_needs() {
        assert_eq!(format_value(50.0, 100.0), "50");
        assert_eq!(format_value(-1.0, 2.0), "-1.00");
        assert_eq!(format_value(2.5, 10.0), "2.5");
        assert_eq!(format_value(0.001, 0.002), "1.00e-3");
    }
}
