//! A clickable heatmap of a small matrix drawn with the painter: a tooltip with the value of
//! the hovered cell, the selected cell outlined, row and column labels every few cells.
//! Each cell is an AccessKit button (`<name> r,c`) so tests click it like a user would.

use egui::{Color32, Rect, Sense, Stroke, StrokeKind, pos2, vec2};

/// Above this many cells the heatmap is one widget (no per-cell accessibility nodes).
const MAX_ACCESSIBLE_CELLS: usize = 4096;

/// What to draw.
pub struct Heatmap<'a> {
    /// Name used in tooltips and accessibility labels.
    pub name: &'a str,
    /// Rows × columns.
    pub shape: (usize, usize),
    /// Value of a cell (None = undefined, drawn grey).
    pub value: &'a dyn Fn(usize, usize) -> Option<f64>,
    /// Colour of a defined value.
    pub color: &'a dyn Fn(f64) -> Color32,
    /// Tooltip text of a cell.
    pub hover: &'a dyn Fn(usize, usize) -> String,
    /// Label of row/column i (drawn every `label_every` cells).
    pub label: &'a dyn Fn(usize) -> String,
    /// Draw a label every this many cells.
    pub label_every: usize,
    /// The outlined cell.
    pub selected: Option<(usize, usize)>,
    /// Whether to register one accessibility node per cell (fine up to a few thousand).
    pub accessible: bool,
    /// Cells drawn with an inner outline (e.g. edits that change the prediction).
    pub marked: Option<&'a dyn Fn(usize, usize) -> bool>,
    /// Leave undefined cells empty instead of grey (a triangular matrix).
    pub hide_undefined: bool,
}

impl Heatmap<'_> {
    /// Draws the heatmap in a square of side `size` (plus label margins); returns the cell
    /// clicked this frame.
    pub fn show(&self, ui: &mut egui::Ui, size: f32) -> Option<(usize, usize)> {
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
                let fill = value.map_or(Color32::from_gray(190), |v| (self.color)(v));
                painter.rect_filled(rect.shrink(if cell > 6.0 { 0.5 } else { 0.0 }), 0.0, fill);
                if self.marked.is_some_and(|m| m(r, c)) {
                    let ink =
                        crate::analysis::colormap::text_on(fill.to_array()[..3].try_into().expect("rgb"));
                    painter.rect_stroke(
                        rect.shrink(cell * 0.2),
                        0.0,
                        Stroke::new(1.0, Color32::from_rgb(ink[0], ink[1], ink[2])),
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
                    (self.label)(i),
                    font.clone(),
                    text,
                );
            }
            if i < cols {
                painter.text(
                    pos2(origin.x + centre, origin.y - 3.0),
                    egui::Align2::CENTER_BOTTOM,
                    (self.label)(i),
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
                Stroke::new(2.0, Color32::BLACK),
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
        if self.accessible && rows * cols <= MAX_ACCESSIBLE_CELLS {
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
                        cell_response.on_hover_text_at_pointer((self.hover)(r, c));
                    }
                }
            }
        } else {
            if response.clicked() {
                clicked = response.interact_pointer_pos().and_then(cell_at);
            }
            if let Some((r, c)) = hovered {
                response.on_hover_text_at_pointer((self.hover)(r, c));
            }
        }
        clicked
    }
}

/// A diverging colour for a correlation in [-1, 1] (red positive, blue negative, white 0).
pub fn correlation_color(v: f64) -> Color32 {
    let [r, g, b] = crate::analysis::colormap::diverging(v as f32);
    Color32::from_rgb(r, g, b)
}
