//! Row sweeps: seed S1's binary search over erased rows, done exhaustively.
//!
//! [`erase_sweep`] erases every contiguous row range `[a, b]` (0 ≤ a ≤ b ≤ 27) of one image
//! and records the margin `logit(target) − logit(rival)` and the prediction of each edit.
//! [`bar_sweep`] paints a horizontal bar of a chosen thickness at each row (seed S1 drew the
//! top stroke of a 7 onto a 1). [`batch_sweep`] asks, for many test images, how many rows
//! must go (or how thick a bar must be) before the prediction changes.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::{McDropout, StudyError, Reporter, argmax, logits_of_intensities};
use crate::data::{Digits, IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::Model;

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

fn margin(logits: &[f32; 10], c: MarginClasses) -> f32 {
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

/// Settings of [`batch_sweep`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSweepConfig {
    /// Test images of each of the two classes (correctly predicted ones, in test-set order).
    pub per_class: usize,
    /// The two classes: images of `target` get rows erased, images of `rival` get a bar.
    pub classes: MarginClasses,
    /// Thickest bar tried.
    pub max_bar: usize,
    /// Dropout passes to average, if any.
    pub mc: Option<McDropout>,
}

impl Default for BatchSweepConfig {
    fn default() -> Self {
        Self {
            per_class: 100,
            classes: MarginClasses::default(),
            max_bar: 8,
            mc: None,
        }
    }
}

/// One image's answer in a batch sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageFlip {
    /// Test-set index.
    pub index: usize,
    /// Rows erased (or bar thickness) at the first flip, with where: `None` if none flips.
    pub rows: Option<usize>,
    /// The range erased or the bar's top row.
    pub at: Option<RowRange>,
    /// What the image became.
    pub became: Option<u8>,
}

/// How many rows it takes, over many images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSweep {
    /// Settings.
    pub config: BatchSweepConfig,
    /// Images of the target class, rows erased.
    pub erased: Vec<ImageFlip>,
    /// Images of the rival class, bar painted.
    pub painted: Vec<ImageFlip>,
}

impl BatchSweep {
    /// Mean rows needed over the images that flip, and how many flipped.
    pub fn mean_rows(flips: &[ImageFlip]) -> (Option<f64>, usize) {
        let rows: Vec<usize> = flips.iter().filter_map(|f| f.rows).collect();
        let mean = (!rows.is_empty()).then(|| rows.iter().sum::<usize>() as f64 / rows.len() as f64);
        (mean, rows.len())
    }

    /// Count of images per rows-needed, index 0 = 1 row, up to `max`; images that never
    /// flip are not counted.
    pub fn histogram(flips: &[ImageFlip], max: usize) -> Vec<usize> {
        let mut h = vec![0; max];
        for r in flips.iter().filter_map(|f| f.rows) {
            if (1..=max).contains(&r) {
                h[r - 1] += 1;
            }
        }
        h
    }
}

/// The first (fewest rows) flipping erasure of one image, trying short ranges first.
fn first_erase_flip(
    model: &Model,
    image: &[f32],
    original: u8,
    mc: Option<McDropout>,
    device: &Device,
) -> (Option<usize>, Option<RowRange>, Option<u8>) {
    // Widths are tried in growing groups, so an image that flips early costs few passes.
    for widths in [1..=3, 4..=8, 9..=16, 17..=ROWS] {
        let mut tried = Vec::new();
        let mut batch = Vec::new();
        for w in widths {
            for a in 0..=ROWS - w {
                tried.push((a, a + w - 1));
                batch.extend(erase_rows(image, (a, a + w - 1)));
            }
        }
        let logits = logits_of_intensities(model, &batch, mc, device);
        if let Some((range, l)) = tried
            .iter()
            .zip(&logits)
            .find(|(_, l)| argmax(&l[..]) != original)
        {
            return (Some(range.1 - range.0 + 1), Some(*range), Some(argmax(l)));
        }
    }
    (None, None, None)
}

fn first_bar_flip(
    model: &Model,
    image: &[f32],
    original: u8,
    max_bar: usize,
    mc: Option<McDropout>,
    device: &Device,
) -> (Option<usize>, Option<RowRange>, Option<u8>) {
    let mut tried = Vec::new();
    let mut batch = Vec::new();
    for thickness in 1..=max_bar.clamp(1, ROWS) {
        let bar = Bar::for_image(image, thickness);
        for row in 0..=ROWS - thickness {
            tried.push((thickness, row));
            batch.extend(paint_bar(image, row, bar));
        }
    }
    let logits = logits_of_intensities(model, &batch, mc, device);
    tried
        .iter()
        .zip(&logits)
        .find(|(_, l)| argmax(&l[..]) != original)
        .map_or((None, None, None), |(&(t, row), l)| {
            (Some(t), Some((row, row + t - 1)), Some(argmax(l)))
        })
}

/// For up to `per_class` correctly predicted test images of each class: the fewest erased
/// rows that change a target image's prediction, and the thinnest bar that changes a rival
/// image's.
pub fn batch_sweep(
    model: &Model,
    test: &Digits,
    config: &BatchSweepConfig,
    device: &Device,
    reporter: &mut Reporter,
) -> Result<BatchSweep, StudyError> {
    if config.per_class == 0 || config.classes.target == config.classes.rival {
        return Err(StudyError::Config(
            "choose two different classes and at least one image".into(),
        ));
    }
    let pick = |class: u8| -> Vec<usize> {
        (0..test.len())
            .filter(|&i| test.labels[i] == class)
            .take(config.per_class * 2)
            .collect()
    };
    let mut out = BatchSweep {
        config: config.clone(),
        erased: Vec::new(),
        painted: Vec::new(),
    };
    let groups = [(config.classes.target, true), (config.classes.rival, false)];
    for (g, (class, erase)) in groups.into_iter().enumerate() {
        let candidates = pick(class);
        let mut images = Vec::with_capacity(candidates.len() * IMAGE_PIXELS);
        for &i in &candidates {
            images.extend(test.intensities(i));
        }
        let first = logits_of_intensities(model, &images, config.mc, device);
        let correct: Vec<usize> = (0..candidates.len())
            .filter(|&k| argmax(&first[k]) == class)
            .take(config.per_class)
            .collect();
        for (done, &k) in correct.iter().enumerate() {
            reporter.check()?;
            reporter.progress(
                format!(
                    "{} {class}s: image {}/{}",
                    if erase {
                        "erasing rows of"
                    } else {
                        "painting a bar on"
                    },
                    done + 1,
                    correct.len()
                ),
                (g as f64 + done as f64 / correct.len() as f64) / 2.0,
            );
            let image = &images[k * IMAGE_PIXELS..(k + 1) * IMAGE_PIXELS];
            let (rows, at, became) = if erase {
                first_erase_flip(model, image, class, config.mc, device)
            } else {
                first_bar_flip(model, image, class, config.max_bar, config.mc, device)
            };
            let flip = ImageFlip {
                index: candidates[k],
                rows,
                at,
                became,
            };
            if erase {
                out.erased.push(flip);
            } else {
                out.painted.push(flip);
            }
        }
    }
    reporter.progress("done", 1.0);
    Ok(out)
}
