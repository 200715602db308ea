//! Plot helpers on a [`Canvas`]: axes with ticks, lines, bars, legends, heatmaps with a
//! colour bar, and labelled digit grids.

use super::canvas::{Anchor, Canvas, Rgb};
use crate::analysis::colormap::DIGIT_COLORS;

/// Text, axes and outlines: a near-black.
pub const INK: Rgb = [30, 30, 30];
/// Grid lines behind the data.
pub const GRID: Rgb = [225, 225, 225];
/// Secondary text (tick labels, notes, captions).
pub const MUTED: Rgb = [110, 110, 110];
/// The figure's background.
pub const PAPER: Rgb = [255, 255, 255];
/// Series colours: matplotlib's first four (Tableau 10, the same table as the digit colours
/// [`DIGIT_COLORS`] and the app's charts).
pub const SERIES: [Rgb; 4] = [DIGIT_COLORS[0], DIGIT_COLORS[1], DIGIT_COLORS[2], DIGIT_COLORS[3]];
/// Right predictions, a passed check (Tableau 10's green).
pub const GOOD: Rgb = DIGIT_COLORS[2];
/// Wrong predictions, what was switched off (Tableau 10's red).
pub const BAD: Rgb = DIGIT_COLORS[3];

/// "Nice" tick values covering `[min, max]` with about `target` ticks (steps of 1, 2 or 5
/// times a power of ten).
pub fn nice_ticks(min: f64, max: f64, target: usize) -> Vec<f64> {
    if !(min.is_finite() && max.is_finite()) || max <= min {
        return vec![min];
    }
    let raw = (max - min) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (min / step).ceil() * step;
    let mut ticks = Vec::new();
    let mut t = first;
    while t <= max + step * 1e-9 {
        // Snap tiny float noise to zero so labels read "0", not "-0.0000001".
        ticks.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    ticks
}

/// A tick label with as many decimals as the step needs.
pub fn tick_label(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{value:.decimals$}")
}

/// A plot area in pixels and the data range it shows.
#[derive(Debug, Clone, Copy)]
pub struct Axes {
    /// Left edge of the plot area, pixels from the canvas's left.
    pub x: f32,
    /// Top edge of the plot area, pixels from the canvas's top.
    pub y: f32,
    /// Width in pixels.
    pub w: f32,
    /// Height in pixels.
    pub h: f32,
    /// Data range along x.
    pub x_range: (f64, f64),
    /// Data range along y.
    pub y_range: (f64, f64),
}

impl Axes {
    /// Pixel position of a data point.
    pub fn map(&self, x: f64, y: f64) -> (f32, f32) {
        let (x0, x1) = self.x_range;
        let (y0, y1) = self.y_range;
        let fx = if x1 > x0 { (x - x0) / (x1 - x0) } else { 0.5 };
        let fy = if y1 > y0 { (y - y0) / (y1 - y0) } else { 0.5 };
        (self.x + fx as f32 * self.w, self.y + self.h - fy as f32 * self.h)
    }

    /// Frame, grid, ticks and titles.
    pub fn draw(&self, canvas: &mut Canvas, title: &str, x_label: &str, y_label: &str) {
        let ticks_x = nice_ticks(self.x_range.0, self.x_range.1, 6);
        let ticks_y = nice_ticks(self.y_range.0, self.y_range.1, 5);
        let step = |t: &[f64]| if t.len() > 1 { t[1] - t[0] } else { 1.0 };
        let (sx, sy) = (step(&ticks_x), step(&ticks_y));
        let labelled = |t: &[f64], s: f64| t.iter().map(|&v| (v, tick_label(v, s))).collect::<Vec<_>>();
        self.draw_with_ticks(
            canvas,
            title,
            x_label,
            y_label,
            &labelled(&ticks_x, sx),
            &labelled(&ticks_y, sy),
        );
    }

    /// Like [`draw`](Self::draw) with the ticks given (value in axis units, label), e.g. for
    /// axes that plot logarithms but label the original values.
    pub fn draw_with_ticks(
        &self,
        canvas: &mut Canvas,
        title: &str,
        x_label: &str,
        y_label: &str,
        ticks_x: &[(f64, String)],
        ticks_y: &[(f64, String)],
    ) {
        for (t, label) in ticks_y {
            let (_, py) = self.map(self.x_range.0, *t);
            canvas.fill_rect(self.x, py, self.w, 1.0, GRID);
            canvas.text(self.x - 6.0, py, 12.0, MUTED, Anchor::Right, label);
        }
        for (t, label) in ticks_x {
            let (px, _) = self.map(*t, self.y_range.0);
            canvas.fill_rect(px, self.y, 1.0, self.h, GRID);
            canvas.text(px, self.y + self.h + 12.0, 12.0, MUTED, Anchor::Center, label);
        }
        canvas.stroke_rect(self.x, self.y, self.w + 1.0, self.h + 1.0, INK);
        canvas.text(
            self.x + self.w / 2.0,
            self.y - 14.0,
            15.0,
            INK,
            Anchor::Center,
            title,
        );
        canvas.text(
            self.x + self.w / 2.0,
            self.y + self.h + 32.0,
            13.0,
            INK,
            Anchor::Center,
            x_label,
        );
        canvas.text_vertical(self.x - 50.0, self.y + self.h / 2.0, 13.0, INK, y_label);
    }

    /// A line through data points.
    pub fn line(&self, canvas: &mut Canvas, points: &[(f64, f64)], color: Rgb, width: f32) {
        let px: Vec<(f32, f32)> = points.iter().map(|&(x, y)| self.map(x, y)).collect();
        canvas.polyline(&px, color, width);
        if points.len() <= 40 {
            for &(x, y) in &px {
                canvas.dot(x, y, width + 1.5, color);
            }
        }
    }

    /// A bar from `y = baseline` to `value` spanning `[x0, x1]` in data units.
    pub fn bar(&self, canvas: &mut Canvas, x0: f64, x1: f64, value: f64, color: Rgb) {
        let (px0, py0) = self.map(x0, self.y_range.0.max(0.0).min(self.y_range.1));
        let (px1, py1) = self.map(x1, value.clamp(self.y_range.0, self.y_range.1));
        canvas.fill_rect(px0, py1.min(py0), (px1 - px0).max(1.0), (py0 - py1).abs(), color);
    }
}

/// A legend box: one coloured swatch and label per entry, top-left at `(x, y)`.
pub fn legend(canvas: &mut Canvas, x: f32, y: f32, entries: &[(&str, Rgb)]) {
    for (i, (label, color)) in entries.iter().enumerate() {
        let yy = y + i as f32 * 18.0;
        canvas.fill_rect(x, yy + 4.0, 14.0, 10.0, *color);
        canvas.text(x + 20.0, yy + 9.0, 12.0, INK, Anchor::Left, label);
    }
}

/// A vertical colour bar for `map` over `[min, max]` with labels at both ends and the middle.
pub fn colorbar(
    canvas: &mut Canvas,
    x: f32,
    y: f32,
    h: f32,
    (min, max): (f32, f32),
    map: impl Fn(f32) -> Rgb,
) {
    let steps = h.max(1.0) as usize;
    for i in 0..steps {
        let t = max - (max - min) * i as f32 / (steps - 1).max(1) as f32;
        canvas.fill_rect(x, y + i as f32, 14.0, 1.0, map(t));
    }
    canvas.stroke_rect(x, y, 14.0, h, INK);
    for (t, yy) in [(max, y), ((min + max) / 2.0, y + h / 2.0), (min, y + h)] {
        canvas.text(x + 20.0, yy, 11.0, INK, Anchor::Left, &format!("{t:.3}"));
    }
}

/// A labelled grid of 28×28 digits: `images` are grey byte images, `captions` one short
/// line under each (coloured), laid out `cols` wide at `scale` px per pixel. Returns the
/// height used.
pub fn digit_grid(
    canvas: &mut Canvas,
    x: f32,
    y: f32,
    cols: usize,
    scale: f32,
    images: &[&[u8]],
    captions: &[(String, Rgb)],
) -> f32 {
    let side = 28.0 * scale;
    let caption_h = if captions.is_empty() { 0.0 } else { 16.0 };
    let (cell_w, cell_h) = (side + 10.0, side + caption_h + 10.0);
    for (i, img) in images.iter().enumerate() {
        let (cx, cy) = (x + (i % cols) as f32 * cell_w, y + (i / cols) as f32 * cell_h);
        canvas.grey(cx, cy, 28, 28, scale, img);
        if let Some((text, color)) = captions.get(i) {
            canvas.text(
                cx + side / 2.0,
                cy + side + 9.0,
                11.0,
                *color,
                Anchor::Center,
                text,
            );
        }
    }
    images.len().div_ceil(cols.max(1)) as f32 * cell_h
}

/// Log-spaced tick positions (log10 values) with their labels, covering `[lo, hi]` (logs).
pub fn log_ticks(lo: f64, hi: f64, format: impl Fn(f64) -> String) -> Vec<(f64, String)> {
    let mut ticks = Vec::new();
    let mut decade = lo.floor() as i32;
    while (decade as f64) <= hi + 1e-9 {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(decade);
            let l = v.log10();
            if l >= lo - 1e-9 && l <= hi + 1e-9 {
                ticks.push((l, format(v)));
            }
        }
        decade += 1;
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(
            nice_ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(nice_ticks(1.0, 10.0, 5), vec![2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(3.0, 3.0, 5), vec![3.0]);
    }

    #[test]
    fn tick_labels_use_the_decimals_the_step_needs() {
        assert_eq!(tick_label(0.6000000000000001, 0.2), "0.6");
        assert_eq!(tick_label(4.0, 2.0), "4");
        assert_eq!(tick_label(0.05, 0.05), "0.05");
    }

    #[test]
    fn axes_map_data_to_pixels_with_y_up() {
        let a = Axes {
            x: 10.0,
            y: 20.0,
            w: 100.0,
            h: 50.0,
            x_range: (0.0, 10.0),
            y_range: (0.0, 1.0),
        };
        assert_eq!(a.map(0.0, 0.0), (10.0, 70.0));
        assert_eq!(a.map(10.0, 1.0), (110.0, 20.0));
        assert_eq!(a.map(5.0, 0.5), (60.0, 45.0));
    }

    #[test]
    fn log_ticks_cover_the_range_in_1_2_5_steps() {
        let t = log_ticks(3.0f64.log10(), 2500f64.log10(), |v| format!("{v}"));
        let labels: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            labels,
            ["5", "10", "20", "50", "100", "200", "500", "1000", "2000"]
        );
    }
}
