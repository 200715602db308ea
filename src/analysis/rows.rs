//! Edits of an image's rows and the margins a model gives them (seed
//! [S1](crate#seed-studies)'s binary search over erased rows, done exhaustively).
//!
//! [`erase_sweep`] erases every contiguous row range `[a, b]` (0 ≤ a ≤ b ≤ 27) of one image
//! and records the margin `logit(target) − logit(rival)` and the prediction of each edit.
//! [`bar_sweep`] paints a horizontal bar of a chosen thickness at each row (seed S1 drew the
//! top stroke of a 7 onto a 1). [`erase_rows`] and [`paint_bar`] are the edits themselves.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::data::{IMAGE_SIDE, NUM_CLASSES};
use crate::model::Model;
use crate::model::mc::{McDropout, logits_of_intensities};
use crate::train::metrics::argmax;

/// Rows of an image.
pub const ROWS: usize = IMAGE_SIDE;

/// Which margin to record.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MarginClasses {
    /// The class whose logit counts positively (7 in seed S1).
    pub target: u8,
    /// The class it is compared with (1 in seed S1).
    pub rival: u8,
}

impl Default for MarginClasses {
    fn default() -> Self {
        Self { target: 7, rival: 1 }
    }
}

/// Margins of every erased row range of one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EraseSweep {
    /// The classes of the margin.
    pub classes: MarginClasses,
    /// Margin of the untouched image.
    pub original_margin: f32,
    /// Prediction for the untouched image.
    pub original_prediction: u8,
    /// Row-major 28 × 28: entry `a * 28 + b` is the margin with rows `a..=b` erased (NaN
    /// where `b < a`; `null` in JSON, which has no NaN).
    #[serde(with = "nan_as_null")]
    pub margins: Vec<f32>,
    /// Prediction of each edit, same layout (255 where `b < a`).
    pub predictions: Vec<u8>,
    /// Whether the logits were averaged over dropout passes.
    pub mc: Option<McDropout>,
}

/// Serde for numbers with NaN holes: JSON has no NaN (serde_json writes `null`, then refuses
/// to read it back as a number), so a number that is not finite is written as `null` and
/// `null` is read back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
        let holes: Vec<Option<f32>> = values.iter().map(|v| v.is_finite().then_some(*v)).collect();
        holes.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        let holes = Vec::<Option<f32>>::deserialize(d)?;
        Ok(holes.into_iter().map(|v| v.unwrap_or(f32::NAN)).collect())
    }
}

/// A row range `[first, last]`, inclusive.
pub type RowRange = (usize, usize);

impl EraseSweep {
    /// Margin with rows `a..=b` erased.
    pub fn margin(&self, a: usize, b: usize) -> Option<f32> {
        (a <= b && b < ROWS).then(|| self.margins[a * ROWS + b])
    }

    /// Prediction with rows `a..=b` erased.
    pub fn prediction(&self, a: usize, b: usize) -> Option<u8> {
        (a <= b && b < ROWS).then(|| self.predictions[a * ROWS + b])
    }

    /// Whether erasing rows `a..=b` changes the prediction.
    pub fn flips(&self, a: usize, b: usize) -> bool {
        self.prediction(a, b)
            .is_some_and(|p| p != self.original_prediction)
    }

    /// The fewest rows whose erasure changes the prediction; among ranges of that length,
    /// the one with the lowest margin.
    pub fn smallest_flip(&self) -> Option<RowRange> {
        ranges()
            .filter(|&(a, b)| self.flips(a, b))
            .min_by(|&(a0, b0), &(a1, b1)| {
                (b0 - a0)
                    .cmp(&(b1 - a1))
                    .then(self.margins[a0 * ROWS + b0].total_cmp(&self.margins[a1 * ROWS + b1]))
            })
    }

    /// The single row whose erasure lowers the margin most, and the margin then.
    pub fn most_crucial_row(&self) -> (usize, f32) {
        (0..ROWS)
            .map(|r| (r, self.margins[r * ROWS + r]))
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .expect("28 rows")
    }

    /// Margin change of erasing rows `a..=b`, averaged over ranges of `len` rows that
    /// start in the top half minus those that start in the bottom half (negative: the top
    /// matters more for the target class).
    pub fn top_minus_bottom(&self, len: usize) -> f32 {
        let mean = |starts: std::ops::Range<usize>| {
            let v: Vec<f32> = starts
                .filter(|&a| a + len - 1 < ROWS)
                .map(|a| self.margins[a * ROWS + a + len - 1] - self.original_margin)
                .collect();
            v.iter().sum::<f32>() / v.len().max(1) as f32
        };
        mean(0..ROWS / 2) - mean(ROWS / 2..ROWS)
    }
}

/// Every range `(a, b)` with `a ≤ b`, in row-major order.
pub fn ranges() -> impl Iterator<Item = RowRange> {
    (0..ROWS).flat_map(|a| (a..ROWS).map(move |b| (a, b)))
}

/// `image` with rows `a..=b` set to background.
pub fn erase_rows(image: &[f32], (a, b): RowRange) -> Vec<f32> {
    let mut out = image.to_vec();
    out[a * IMAGE_SIDE..(b + 1) * IMAGE_SIDE].fill(0.0);
    out
}

/// `logit(target) − logit(rival)`.
pub fn margin(logits: &[f32; 10], c: MarginClasses) -> f32 {
    logits[c.target as usize] - logits[c.rival as usize]
}

/// Erases every row range of `image` (784 intensities) and records margins and predictions.
pub fn erase_sweep(
    model: &Model,
    image: &[f32],
    classes: MarginClasses,
    mc: Option<McDropout>,
    device: &Device,
) -> EraseSweep {
    let mut batch = image.to_vec();
    for range in ranges() {
        batch.extend(erase_rows(image, range));
    }
    let logits = logits_of_intensities(model, &batch, mc, device);
    let mut margins = vec![f32::NAN; ROWS * ROWS];
    let mut predictions = vec![255u8; ROWS * ROWS];
    for ((a, b), l) in ranges().zip(&logits[1..]) {
        margins[a * ROWS + b] = margin(l, classes);
        predictions[a * ROWS + b] = argmax(l);
    }
    EraseSweep {
        classes,
        original_margin: margin(&logits[0], classes),
        original_prediction: argmax(&logits[0]),
        margins,
        predictions,
        mc,
    }
}

/// Where a painted bar goes across the image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Rows of the bar.
    pub thickness: usize,
    /// First column.
    pub left: usize,
    /// Last column (inclusive).
    pub right: usize,
}

impl Bar {
    /// A bar of `thickness` rows over where a 7's top stroke goes on this image: from 8
    /// columns left of the ink to one column right of it (seed S1 found that a bar with a
    /// long right tail does not look like a 7 to the model).
    pub fn for_image(image: &[f32], thickness: usize) -> Bar {
        let ink: Vec<usize> = (0..IMAGE_SIDE)
            .filter(|&c| (0..IMAGE_SIDE).any(|r| image[r * IMAGE_SIDE + c] > 0.3))
            .collect();
        let (lo, hi) = match (ink.first(), ink.last()) {
            (Some(&lo), Some(&hi)) => (lo, hi),
            _ => (10, 17),
        };
        Bar {
            thickness: thickness.clamp(1, ROWS),
            left: lo.saturating_sub(8),
            right: (hi + 1).min(IMAGE_SIDE - 1),
        }
    }
}

/// `image` with the bar painted (intensity 1) from row `row` down.
pub fn paint_bar(image: &[f32], row: usize, bar: Bar) -> Vec<f32> {
    let mut out = image.to_vec();
    for r in row..(row + bar.thickness).min(ROWS) {
        out[r * IMAGE_SIDE + bar.left..=r * IMAGE_SIDE + bar.right].fill(1.0);
    }
    out
}

/// Margins with the bar painted at each row (top row of the bar).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarSweep {
    /// The classes of the margin (the target is the image's class: 1 in seed S1).
    pub classes: MarginClasses,
    /// The bar.
    pub bar: Bar,
    /// Margin of the untouched image.
    pub original_margin: f32,
    /// Prediction for the untouched image.
    pub original_prediction: u8,
    /// Margin with the bar at each row (rows where it does not fit are left out: the list
    /// has `28 - thickness + 1` entries).
    pub margins: Vec<f32>,
    /// Prediction with the bar at each row.
    pub predictions: Vec<u8>,
}

/// Paints `bar` at every row of `image` and records margins and predictions.
pub fn bar_sweep(
    model: &Model,
    image: &[f32],
    classes: MarginClasses,
    bar: Bar,
    mc: Option<McDropout>,
    device: &Device,
) -> BarSweep {
    let rows = ROWS + 1 - bar.thickness;
    let mut batch = image.to_vec();
    for row in 0..rows {
        batch.extend(paint_bar(image, row, bar));
    }
    let logits = logits_of_intensities(model, &batch, mc, device);
    BarSweep {
        classes,
        bar,
        original_margin: margin(&logits[0], classes),
        original_prediction: argmax(&logits[0]),
        margins: logits[1..].iter().map(|l| margin(l, classes)).collect(),
        predictions: logits[1..].iter().map(|l| argmax(l)).collect(),
    }
}

/// Refuses a margin that is not finite or a prediction that is not a digit, naming `field`.
pub fn check_margin(field: &str, margin: f32, prediction: u8) -> Result<(), String> {
    if !margin.is_finite() {
        return Err(format!("field `{field}` margin is {margin}"));
    }
    if prediction as usize >= NUM_CLASSES {
        return Err(format!("field `{field}` prediction is {prediction}, not a digit"));
    }
    Ok(())
}

/// Refuses margin classes that are not digits, naming `field`.
pub fn check_classes(field: &str, c: MarginClasses) -> Result<(), String> {
    for (name, digit) in [("target", c.target), ("rival", c.rival)] {
        if digit as usize >= NUM_CLASSES {
            return Err(format!("field `{field}.classes.{name}` is {digit}, not a digit"));
        }
    }
    Ok(())
}

/// Checks an erase sweep read from a file (fields named under `erase`): 28 × 28 entries, a finite margin and a digit for every range.
pub fn check_erase(e: &EraseSweep) -> Result<(), String> {
    check_classes("erase", e.classes)?;
    check_margin("erase.original", e.original_margin, e.original_prediction)?;
    for (name, n) in [("margins", e.margins.len()), ("predictions", e.predictions.len())] {
        if n != ROWS * ROWS {
            return Err(format!(
                "field `erase.{name}` has {n} values, not {}",
                ROWS * ROWS
            ));
        }
    }
    for a in 0..ROWS {
        for b in a..ROWS {
            let i = a * ROWS + b;
            check_margin(
                &format!("erase[{i}] (rows {a}-{b})"),
                e.margins[i],
                e.predictions[i],
            )?;
        }
    }
    if e.mc.is_some_and(|m| m.passes == 0) {
        return Err("field `erase.mc.passes` is 0".into());
    }
    Ok(())
}

/// Checks a bar sweep read from a file (fields named under `bar`): a bar inside the image, one finite margin and digit per row it fits.
pub fn check_bar(s: &BarSweep) -> Result<(), String> {
    check_classes("bar", s.classes)?;
    check_margin("bar.original", s.original_margin, s.original_prediction)?;
    let b = s.bar;
    if !(1..=ROWS).contains(&b.thickness) {
        return Err(format!(
            "field `bar.bar.thickness` is {}, not in 1..={ROWS}",
            b.thickness
        ));
    }
    if b.left > b.right || b.right >= ROWS {
        return Err(format!(
            "field `bar.bar` spans columns {}-{}, not inside the image",
            b.left, b.right
        ));
    }
    let rows = ROWS + 1 - b.thickness;
    for (name, n) in [("margins", s.margins.len()), ("predictions", s.predictions.len())] {
        if n != rows {
            return Err(format!("field `bar.{name}` has {n} values, not {rows}"));
        }
    }
    for (r, (&m, &p)) in s.margins.iter().zip(&s.predictions).enumerate() {
        check_margin(&format!("bar[{r}]"), m, p)?;
    }
    Ok(())
}
