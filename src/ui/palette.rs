//! Every colour the UI draws with, named for what it marks, and [`rgb`], the one conversion
//! from the engine's sRGB triples (`analysis::colormap`, the figures) to egui's [`Color32`].
//!
//! Data colours are fixed (Tableau 10, as matplotlib and the exported figures draw them) so a
//! panel and its figure agree on any theme. Marks drawn over data read the theme
//! ([`selection_color`], [`reference_color`]), except over a raster whose background is fixed
//! (the embedding scatter is always white), where they are fixed too.

use egui::Color32;

use crate::analysis::colormap::DIGIT_COLORS;

/// An engine sRGB triple (`[r, g, b]`, as `analysis::colormap` returns) as an opaque egui
/// colour.
pub const fn rgb(c: [u8; 3]) -> Color32 {
    Color32::from_rgb(c[0], c[1], c[2])
}

/// A distinct colour per digit (Tableau 10, the table every chart and figure colours classes
/// by: [`DIGIT_COLORS`]); digits past 9 wrap.
pub fn class_color(digit: usize) -> Color32 {
    rgb(DIGIT_COLORS[digit % 10])
}

// Charts.

/// The blue of single-series charts (bars, box plots, lines of one quantity): Tableau 10's
/// first colour, as matplotlib draws a lone series.
pub const SERIES_BLUE: Color32 = rgb(DIGIT_COLORS[0]);
/// The second series (the test split next to the training split, a highlight in a chart).
pub const SERIES_ORANGE: Color32 = rgb(DIGIT_COLORS[1]);
/// Right answers, a passed check, perfect calibration.
pub const GOOD: Color32 = rgb(DIGIT_COLORS[2]);
/// Wrong answers, a changed prediction, what was switched off.
pub const BAD: Color32 = rgb(DIGIT_COLORS[3]);

// The dashboard's training curves and the Data panel's split counts.

/// The training split or training curves (the smoothed loss, training accuracy).
pub const TRAIN_SERIES: Color32 = Color32::from_rgb(60, 130, 240);
/// The training loss averaged per epoch: a lighter [`TRAIN_SERIES`] beside the per-step line.
pub const TRAIN_EPOCH: Color32 = Color32::from_rgb(120, 190, 250);
/// Every step's raw loss: a translucent dark blue under its smoothed line.
pub const RAW_LOSS: Color32 = Color32::from_rgba_premultiplied(35, 53, 81, 90);
/// The smoothed per-batch accuracy: a translucent blue under the per-epoch accuracies.
pub const BATCH_ACCURACY: Color32 = Color32::from_rgba_premultiplied(55, 82, 126, 140);
/// The test split or test curves.
pub const TEST_SERIES: Color32 = Color32::from_rgb(230, 120, 40);
/// The learning-rate curve.
pub const LEARNING_RATE: Color32 = Color32::from_rgb(120, 180, 90);
/// Runs overlaid for comparison, in the order they were added (muted, so the current run
/// stays in front); the fifth reuses the first.
pub const COMPARED_RUNS: [Color32; 4] = [
    Color32::from_rgb(150, 150, 150),
    Color32::from_rgb(190, 140, 90),
    Color32::from_rgb(120, 170, 120),
    Color32::from_rgb(170, 120, 170),
];

// The pad.

/// The pad's pixel grid lines (over the black canvas).
pub const PAD_GRID: Color32 = Color32::from_gray(40);
/// Rows selected or hovered in the pad's row margin when the row tool fills them with ink.
pub const ROWS_FILL: Color32 = Color32::from_rgb(90, 160, 90);
/// Rows selected or hovered in the pad's row margin when the row tool erases them.
pub const ROWS_ERASE: Color32 = Color32::from_rgb(190, 80, 80);

// Marks over images and rasters.

/// Where the pad image lands in the embedding scatter (the yellow disc).
pub const PAD_MARK: Color32 = Color32::from_rgb(255, 215, 0);
/// Outlines and lines over the embedding's always-white raster: the pad disc's rim, the
/// lines to its neighbours, the hovered point's ring.
pub const MARK_ON_WHITE: Color32 = Color32::BLACK;
/// A heatmap cell without a value (an undefined correlation, say).
pub const NO_VALUE: Color32 = Color32::from_gray(190);
/// The gaps between kernels in the Filters panel's atlas.
pub const ATLAS_GAP: Color32 = Color32::from_gray(60);

/// A selected mark drawn over data (bar, point, cell outline, neighbour line): the theme's
/// strongest text colour, black on the light theme and white on the dark one.
pub fn selection_color(visuals: &egui::Visuals) -> Color32 {
    visuals.strong_text_color()
}

/// Reference lines and frames (zero, a baseline, dropout off): the theme's weak text colour.
pub fn reference_color(visuals: &egui::Visuals) -> Color32 {
    visuals.weak_text_color()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_colours_are_the_figures_tableau_colours() {
        use crate::figure::plot;
        assert_eq!(SERIES_BLUE, rgb(plot::SERIES[0]));
        assert_eq!(SERIES_ORANGE, rgb(plot::SERIES[1]));
        assert_eq!(GOOD, rgb(plot::GOOD));
        assert_eq!(BAD, rgb(plot::BAD));
        assert_eq!(class_color(13), class_color(3));
    }
}
