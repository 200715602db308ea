//! Figures without a window: a small RGB [`Canvas`] (rectangles, digit images, antialiased
//! lines and text rasterised on the CPU with vello_cpu and skrifa, using egui's bundled
//! Ubuntu font) and [`plot`] helpers (axes, lines, bars, heatmaps, image grids). `report` and
//! every panel's PNG export draw with these, so exported pictures match across both.

pub mod canvas;
pub mod plot;

pub use canvas::{Anchor, Canvas, Rgb};
