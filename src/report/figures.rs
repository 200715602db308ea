//! One function per figure. Each takes plain data (no model, no window) and returns a
//! [`Figure`]: the picture and its numbers.

use serde_json::json;

use super::{Figure, title};
use crate::analysis::calibration::{confidence_histograms, reliability};
use crate::analysis::colormap::{diverging, sequential, symmetric_limit, text_on};
use crate::analysis::confusion::{Confusion, class_scores, row_normalized, to_csv};
use crate::analysis::dataset::{DatasetStats, SplitStats};
use crate::analysis::errors::misclassified;
use crate::analysis::pixels::{grid_shape, intensities_to_grey, shared_scale_grey};
use crate::analysis::worker::TestEvaluation;
use crate::data::{Dataset, Digits, NUM_CLASSES};
use crate::figure::plot::{Axes, BAD, GOOD, INK, MUTED, PAPER, SERIES, colorbar, digit_grid, legend};
use crate::figure::{Anchor, Canvas};
use crate::model::inspect::{FilterBank, Inspection};
use crate::train::events::EpochMetrics;

fn figure(name: &str, canvas: Canvas, data: String, data_ext: &'static str) -> Figure {
    Figure {
        name: name.to_string(),
        canvas,
        data,
        data_ext,
    }
}

fn range_of(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
}

/// Loss and accuracy per epoch, train and test (seed S3's `01_training_history`).
pub fn training_history(epochs: &[EpochMetrics]) -> Figure {
    let mut c = Canvas::new(1040, 440, PAPER);
    title(&mut c, "Training history");
    let last = epochs.len().max(1) as f64;
    let (x0, x1) = (if epochs.len() > 1 { 1.0 } else { 0.0 }, last);
    let series = |f: &dyn Fn(&EpochMetrics) -> Option<f64>| -> Vec<(f64, f64)> {
        epochs
            .iter()
            .filter_map(|e| f(e).map(|v| (e.epoch as f64, v)))
            .collect()
    };
    let train_loss = series(&|e| Some(e.train_loss));
    let test_loss = series(&|e| e.test_loss);
    let train_acc = series(&|e| Some(e.train_accuracy));
    let test_acc = series(&|e| e.test_accuracy);
    let (_, loss_hi) = range_of(train_loss.iter().chain(&test_loss).map(|p| p.1));
    let (acc_lo, _) = range_of(train_acc.iter().chain(&test_acc).map(|p| p.1));
    let loss = Axes {
        x: 90.0,
        y: 70.0,
        w: 380.0,
        h: 300.0,
        x_range: (x0, x1),
        y_range: (0.0, (loss_hi * 1.1).max(1e-3)),
    };
    let acc = Axes {
        x: 600.0,
        y_range: ((acc_lo - 0.02).clamp(0.0, 0.98), 1.0),
        ..loss
    };
    loss.draw(&mut c, "Loss", "epoch", "cross-entropy");
    acc.draw(&mut c, "Accuracy", "epoch", "accuracy");
    for (axes, train, test) in [(&loss, &train_loss, &test_loss), (&acc, &train_acc, &test_acc)] {
        axes.line(&mut c, train, SERIES[0], 2.0);
        axes.line(&mut c, test, SERIES[1], 2.0);
    }
    legend(&mut c, 860.0, 60.0, &[("train", SERIES[0]), ("test", SERIES[1])]);
    if epochs.is_empty() {
        c.text(
            520.0,
            220.0,
            16.0,
            MUTED,
            Anchor::Center,
            "no finished epoch recorded",
        );
    }
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut csv = String::from("epoch,train_loss,train_accuracy,test_loss,test_accuracy\n");
    for e in epochs {
        csv.push_str(&format!(
            "{},{},{},{},{}\n",
            e.epoch,
            e.train_loss,
            e.train_accuracy,
            opt(e.test_loss),
            opt(e.test_accuracy)
        ));
    }
    figure("01_training_history", c, csv, "csv")
}

/// Ten test images of each digit, one row per digit (seed S3's `02_sample_data`).
pub fn sample_data(test: &Digits) -> Figure {
    let rows = SplitStats::first_of_each(test, 10);
    let mut c = Canvas::new(760, 740, PAPER);
    title(&mut c, "Sample test images, one row per digit");
    let mut csv = String::from("digit,index\n");
    for (d, row) in rows.iter().enumerate() {
        let y = 50.0 + d as f32 * 68.0;
        c.text(30.0, y + 28.0, 16.0, INK, Anchor::Center, &d.to_string());
        for (k, &i) in row.iter().enumerate() {
            c.grey(60.0 + k as f32 * 68.0, y, 28, 28, 2.0, test.image(i));
            csv.push_str(&format!("{d},{i}\n"));
        }
    }
    figure("02_sample_data", c, csv, "csv")
}

fn confidence_captions(test: &Digits, eval: &TestEvaluation, indices: &[usize]) -> Vec<(String, [u8; 3])> {
    indices
        .iter()
        .map(|&i| {
            let (l, p) = (test.labels[i], eval.report.predictions[i]);
            let conf = eval.report.confidences[i] * 100.0;
            let text = if l == p {
                format!("{p}  {conf:.0}%")
            } else {
                format!("{l} → {p}  {conf:.0}%")
            };
            (text, if l == p { GOOD } else { BAD })
        })
        .collect()
}

/// `index,label,predicted,confidence` rows for the given test images.
fn prediction_rows(eval: &TestEvaluation, indices: &[usize]) -> String {
    let mut csv = String::from("index,label,predicted,confidence\n");
    for &i in indices {
        csv.push_str(&format!(
            "{i},{},{},{:.5}\n",
            eval.labels[i], eval.report.predictions[i], eval.report.confidences[i]
        ));
    }
    csv
}

/// Test images with prediction and confidence, a bar under each (seed S3's
/// `03_predictions`). The CSV lists every test image.
pub fn predictions(test: &Digits, eval: &TestEvaluation, indices: &[usize]) -> Figure {
    let cols = 8;
    let rows = indices.len().div_ceil(cols).max(1);
    let mut c = Canvas::new(cols * 104 + 40, rows * 130 + 70, PAPER);
    title(
        &mut c,
        "Predictions with confidence (green right, red wrong: true → predicted)",
    );
    let images: Vec<&[u8]> = indices.iter().map(|&i| test.image(i)).collect();
    for (k, &i) in indices.iter().enumerate() {
        let (x, y) = (20.0 + (k % cols) as f32 * 104.0, 50.0 + (k / cols) as f32 * 130.0);
        c.grey(x, y, 28, 28, 3.0, images[k]);
        let (text, color) = &confidence_captions(test, eval, &[i])[0];
        c.text(x + 42.0, y + 94.0, 12.0, *color, Anchor::Center, text);
        c.fill_rect(x, y + 106.0, 84.0, 6.0, [230, 230, 230]);
        c.fill_rect(x, y + 106.0, 84.0 * eval.report.confidences[i], 6.0, *color);
    }
    let all: Vec<usize> = (0..test.len()).collect();
    figure("03_predictions", c, prediction_rows(eval, &all), "csv")
}

/// A layer's kernels on a diverging map centred at 0 with a colour bar (seed S3's
/// `05_conv_filters`). `output: None` shows every output channel's kernel on input 0 (the
/// first layer's kernels); `Some(o)` shows output `o`'s kernel on every input channel.
pub fn filters(bank: &FilterBank, output: Option<usize>) -> Figure {
    let kernels: Vec<&[f32]> = match output {
        None => (0..bank.outputs).map(|o| bank.kernel(o, 0)).collect(),
        Some(o) => (0..bank.inputs)
            .map(|i| bank.kernel(o.min(bank.outputs - 1), i))
            .collect(),
    };
    let shown: Vec<f32> = kernels.iter().flat_map(|k| k.iter().copied()).collect();
    let limit = symmetric_limit(&shown);
    let (cols, rows) = grid_shape(kernels.len());
    let tile = if bank.side >= 20 {
        56.0
    } else {
        (48.0 / bank.side as f32).ceil() * bank.side as f32
    };
    let scale = tile / bank.side as f32;
    let gap = 6.0;
    let width = (cols as f32 * (tile + gap) + 160.0).max(520.0);
    let height = rows as f32 * (tile + gap) + 90.0;
    let mut c = Canvas::new(width as usize, height.max(260.0) as usize, PAPER);
    let heading = match output {
        None => format!(
            "{}: {} kernels of {}×{} (blue < 0 < red)",
            bank.name,
            kernels.len(),
            bank.side,
            bank.side
        ),
        Some(o) => format!(
            "{} output channel {o}: its kernel on each of {} inputs",
            bank.name, bank.inputs
        ),
    };
    title(&mut c, &heading);
    for (k, kernel) in kernels.iter().enumerate() {
        let (x, y) = (
            20.0 + (k % cols) as f32 * (tile + gap),
            50.0 + (k / cols) as f32 * (tile + gap),
        );
        c.image(x, y, bank.side, bank.side, scale, |i| {
            diverging(kernel[i] / limit)
        });
    }
    colorbar(&mut c, width - 110.0, 60.0, 160.0, (-limit, limit), |t| {
        diverging(t / limit)
    });
    let data = json!({
        "layer": bank.name, "outputs": bank.outputs, "inputs": bank.inputs, "side": bank.side,
        "shown_output": output, "symmetric_limit": limit,
        "kernels": kernels.iter().map(|k| k.to_vec()).collect::<Vec<_>>(),
    });
    figure("05_conv_filters", c, data.to_string(), "json")
}

/// The input and every layer's activations for one image (seed S3's `06_feature_maps`):
/// conv layers as atlases of per-channel-normalised maps, dense layers as strips.
pub fn feature_maps(intensities: &[f32], inspection: &Inspection, caption: &str) -> Figure {
    let cols_of = |channels: usize| {
        if channels > 64 {
            16
        } else {
            grid_shape(channels).0.max(8)
        }
    };
    let tile_of = |channels: usize| if channels > 64 { 36.0 } else { 44.0 };
    let mut y = 60.0;
    let mut blocks = Vec::new();
    for layer in &inspection.layers {
        let h = if layer.is_conv() {
            let rows = layer.channels.div_ceil(cols_of(layer.channels));
            rows as f32 * (tile_of(layer.channels) + 3.0) + 34.0
        } else {
            60.0
        };
        blocks.push((y, h));
        y += h;
    }
    let mut c = Canvas::new(1100, (y + 20.0).max(200.0) as usize, PAPER);
    title(&mut c, &format!("Feature maps of {caption}"));
    c.grey(20.0, 60.0, 28, 28, 4.0, &intensities_to_grey(intensities));
    c.text(76.0, 188.0, 12.0, MUTED, Anchor::Center, "input");
    let x0 = 160.0;
    for (layer, &(top, _)) in inspection.layers.iter().zip(&blocks) {
        if layer.is_conv() {
            let (cols, tile) = (cols_of(layer.channels), tile_of(layer.channels));
            let scale = tile / layer.side as f32;
            let grey = shared_scale_grey(&layer.values);
            c.text(
                x0,
                top + 8.0,
                13.0,
                INK,
                Anchor::Left,
                &format!(
                    "{}: {} channels of {}×{}",
                    layer.name, layer.channels, layer.side, layer.side
                ),
            );
            for (k, map) in grey.chunks(layer.side * layer.side).enumerate() {
                let (x, yy) = (
                    x0 + (k % cols) as f32 * (tile + 3.0),
                    top + 22.0 + (k / cols) as f32 * (tile + 3.0),
                );
                c.grey(x, yy, layer.side, layer.side, scale, map);
            }
        } else {
            c.text(
                x0,
                top + 8.0,
                13.0,
                INK,
                Anchor::Left,
                &format!("{}: {} units", layer.name, layer.channels),
            );
            let grey = shared_scale_grey(&layer.values);
            let w = (900.0 / layer.channels.max(1) as f32).clamp(1.0, 24.0);
            for (i, &g) in grey.iter().enumerate() {
                c.fill_rect(x0 + i as f32 * w, top + 22.0, w, 26.0, [g; 3]);
            }
        }
    }
    let data = json!({
        "caption": caption,
        "logits": inspection.logits,
        "layers": inspection.layers,
    });
    figure("06_feature_maps", c, data.to_string(), "json")
}

/// Counts coloured by row share, with row % under each count, and the per-class precision,
/// recall and F1 table (seed S3's `07_confusion_matrix`).
pub fn confusion(confusion: &Confusion) -> Figure {
    let mut c = Canvas::new(1000, 680, PAPER);
    let total: u32 = confusion.iter().flatten().sum();
    let right: u32 = (0..NUM_CLASSES).map(|d| confusion[d][d]).sum();
    title(
        &mut c,
        &format!(
            "Confusion matrix: {} test images, accuracy {:.2}%",
            total,
            100.0 * right as f64 / total.max(1) as f64
        ),
    );
    let shares = row_normalized(confusion);
    let (x0, y0, cell) = (90.0, 80.0, 52.0);
    for t in 0..NUM_CLASSES {
        c.text(
            x0 - 14.0,
            y0 + t as f32 * cell + cell / 2.0,
            14.0,
            INK,
            Anchor::Center,
            &t.to_string(),
        );
        c.text(
            x0 + t as f32 * cell + cell / 2.0,
            y0 - 12.0,
            14.0,
            INK,
            Anchor::Center,
            &t.to_string(),
        );
        for p in 0..NUM_CLASSES {
            let share = shares[t][p] as f32;
            // A square root keeps small off-diagonal shares visible next to the diagonal.
            let bg = sequential(share.sqrt());
            let (x, y) = (x0 + p as f32 * cell, y0 + t as f32 * cell);
            c.fill_rect(x, y, cell - 1.0, cell - 1.0, bg);
            if confusion[t][p] > 0 {
                let fg = text_on(bg);
                c.text(
                    x + cell / 2.0,
                    y + cell / 2.0 - 7.0,
                    13.0,
                    fg,
                    Anchor::Center,
                    &confusion[t][p].to_string(),
                );
                c.text(
                    x + cell / 2.0,
                    y + cell / 2.0 + 10.0,
                    10.0,
                    fg,
                    Anchor::Center,
                    &format!("{:.1}%", share * 100.0),
                );
            }
        }
    }
    c.text(
        x0 + 5.0 * cell,
        y0 + 10.0 * cell + 24.0,
        14.0,
        INK,
        Anchor::Center,
        "predicted digit",
    );
    c.text_vertical(x0 - 44.0, y0 + 5.0 * cell, 14.0, INK, "true digit");
    let tx = 680.0;
    c.text(
        tx,
        68.0,
        14.0,
        INK,
        Anchor::Left,
        "digit   precision   recall      F1",
    );
    for s in class_scores(confusion) {
        let y = 96.0 + s.digit as f32 * 26.0;
        c.text(tx + 14.0, y, 13.0, INK, Anchor::Center, &s.digit.to_string());
        for (k, v) in [s.precision, s.recall, s.f1].into_iter().enumerate() {
            c.text(
                tx + 110.0 + k as f32 * 80.0,
                y,
                13.0,
                INK,
                Anchor::Right,
                &format!("{:.4}", v),
            );
        }
    }
    figure("07_confusion_matrix", c, to_csv(confusion), "csv")
}

/// Confidence histograms of right and wrong predictions and the reliability diagram with
/// its expected calibration error (seed S3's `08_confidence_analysis`).
pub fn calibration(eval: &TestEvaluation) -> Figure {
    let correct = eval.correct();
    let conf = &eval.report.confidences;
    let (right, wrong) = confidence_histograms(conf, &correct, 20);
    let rel = reliability(conf, &correct, 10);
    let mut c = Canvas::new(1300, 440, PAPER);
    title(
        &mut c,
        &format!(
            "Confidence analysis: {} right, {} wrong, expected calibration error {:.4}",
            right.iter().sum::<usize>(),
            wrong.iter().sum::<usize>(),
            rel.ece
        ),
    );
    let mut hist_axes = Axes {
        x: 90.0,
        y: 80.0,
        w: 300.0,
        h: 280.0,
        x_range: (0.0, 1.0),
        y_range: (0.0, 1.0),
    };
    for (k, (counts, color, name)) in [
        (&right, GOOD, "right predictions"),
        (&wrong, BAD, "wrong predictions"),
    ]
    .into_iter()
    .enumerate()
    {
        hist_axes.x = 90.0 + k as f32 * 410.0;
        hist_axes.y_range = (0.0, (*counts.iter().max().unwrap_or(&1)).max(1) as f64 * 1.1);
        hist_axes.draw(&mut c, name, "confidence of the predicted digit", "images");
        for (b, &n) in counts.iter().enumerate() {
            hist_axes.bar(
                &mut c,
                b as f64 / 20.0 + 0.004,
                (b + 1) as f64 / 20.0 - 0.004,
                n as f64,
                color,
            );
        }
    }
    let rel_axes = Axes {
        x: 920.0,
        y_range: (0.0, 1.0),
        ..hist_axes
    };
    rel_axes.draw(
        &mut c,
        &format!("Reliability (ECE {:.4})", rel.ece),
        "confidence",
        "accuracy",
    );
    rel_axes.line(&mut c, &[(0.0, 0.0), (1.0, 1.0)], [170, 170, 170], 1.0);
    for b in rel.bins.iter().filter(|b| b.count > 0) {
        rel_axes.bar(&mut c, b.lower + 0.01, b.upper - 0.01, b.accuracy, SERIES[0]);
    }
    let data = json!({
        "ece": rel.ece,
        "reliability": rel.bins,
        "histogram_bins": 20,
        "right": right,
        "wrong": wrong,
    });
    figure("08_confidence_analysis", c, data.to_string(), "json")
}

/// The most confident mistakes as a gallery (optionally of one true and/or predicted
/// digit); the CSV lists every such mistake.
pub fn errors(
    test: &Digits,
    eval: &TestEvaluation,
    truth: Option<u8>,
    predicted: Option<u8>,
    max: usize,
) -> Figure {
    let list = misclassified(
        &test.labels,
        &eval.report.predictions,
        &eval.report.confidences,
        truth,
        predicted,
    );
    let shown = &list[..list.len().min(max)];
    let cols = 10;
    let rows = shown.len().div_ceil(cols).max(1);
    let mut c = Canvas::new(cols * 94 + 40, rows * 110 + 80, PAPER);
    let filter = match (truth, predicted) {
        (None, None) => String::new(),
        (t, p) => format!(
            " (true {}, predicted {})",
            t.map_or("any".into(), |d| d.to_string()),
            p.map_or("any".into(), |d| d.to_string())
        ),
    };
    title(
        &mut c,
        &format!(
            "{} misclassified test images{filter}, most confident first",
            list.len()
        ),
    );
    let images: Vec<&[u8]> = shown.iter().map(|&i| test.image(i)).collect();
    let captions = confidence_captions(test, eval, shown);
    digit_grid(&mut c, 20.0, 50.0, cols, 3.0, &images, &captions);
    if list.is_empty() {
        c.text(20.0, 70.0, 14.0, MUTED, Anchor::Left, "no mistakes");
    }
    figure("09_errors", c, prediction_rows(eval, &list), "csv")
}

/// Mean image per digit, label distribution of both splits and pixel statistics (seed
/// S4's data inspection).
pub fn dataset(stats: &DatasetStats, data: &Dataset) -> Figure {
    let mut c = Canvas::new(1100, 560, PAPER);
    title(&mut c, &format!("Dataset: {}", data.source));
    c.text(
        20.0,
        56.0,
        14.0,
        INK,
        Anchor::Left,
        "Mean training image per digit",
    );
    for d in 0..NUM_CLASSES {
        let x = 20.0 + d as f32 * 104.0;
        c.grey(
            x,
            70.0,
            28,
            28,
            3.0,
            &intensities_to_grey(&stats.train.mean_images[d]),
        );
        c.text(x + 42.0, 166.0, 13.0, INK, Anchor::Center, &d.to_string());
    }
    let max_share = (0..NUM_CLASSES)
        .map(|d| {
            let share = |s: &SplitStats| s.label_counts[d] as f64 / s.images.max(1) as f64;
            share(&stats.train).max(share(&stats.test))
        })
        .fold(0.0, f64::max);
    let axes = Axes {
        x: 90.0,
        y: 230.0,
        w: 520.0,
        h: 260.0,
        x_range: (-0.5, 9.5),
        y_range: (0.0, (max_share * 1.15).max(0.01)),
    };
    axes.draw(&mut c, "Label distribution (share of split)", "digit", "share");
    for d in 0..NUM_CLASSES {
        for (k, s) in [&stats.train, &stats.test].into_iter().enumerate() {
            let share = s.label_counts[d] as f64 / s.images.max(1) as f64;
            let x = d as f64 - 0.4 + k as f64 * 0.4;
            axes.bar(&mut c, x, x + 0.38, share, SERIES[k]);
        }
    }
    legend(&mut c, 630.0, 230.0, &[("train", SERIES[0]), ("test", SERIES[1])]);
    let lines = [
        format!(
            "train: {} images, test: {}",
            stats.train.images, stats.test.images
        ),
        format!(
            "pixel mean {:.4}, std {:.4} (train)",
            stats.train.pixel_mean, stats.train.pixel_std
        ),
        format!(
            "pixel mean {:.4}, std {:.4} (test)",
            stats.test.pixel_mean, stats.test.pixel_std
        ),
        format!(
            "ink (> 0.5) per image: {:.1}% (train)",
            100.0 * stats.train.ink_share.iter().sum::<f64>() / NUM_CLASSES as f64
        ),
    ];
    for (k, line) in lines.iter().enumerate() {
        c.text(630.0, 300.0 + k as f32 * 22.0, 13.0, INK, Anchor::Left, line);
    }
    let data = serde_json::to_string(stats).unwrap_or_default();
    figure("10_dataset", c, data, "json")
}
