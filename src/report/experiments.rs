//! Figures of the many-model experiments, drawn on the CPU like the run report: the ensemble
//! overview (seed S0), the size curve (seed S2's `subset_sizes`) and the stability test
//! (seed S3's `09_stability_test`). The `experiment` subcommand writes them next to the
//! results; the panels' Export… writes the same files.


use serde_json::json;

use super::{Figure, title};
use crate::analysis::colormap::diverging;
use crate::experiment::ensemble::EnsembleResults;
use crate::experiment::stability::{StabilityResults, five_numbers};
use crate::experiment::subset_curve::SubsetCurveResults;
use crate::figure::plot::{Axes, INK, MUTED, PAPER, SERIES, colorbar, legend, tick_label};
use crate::figure::{Anchor, Canvas};

/// Ensemble overview: accuracy per model (sorted), difficulty histogram, digit-digit
/// correlation heatmap; the numbers as JSON (the summary and the correlation matrix).
pub fn ensemble_overview(r: &EnsembleResults) -> Figure {
    let s = &r.stats;
    let mut c = Canvas::new(1400, 470, PAPER);
    let sum = &s.summary;
    title(
        &mut c,
        &format!(
            "Ensemble of {} {} models, {} per digit: test accuracy {:.3} ± {:.3}, mean steps {:.1}",
            sum.models,
            r.config.model.preset_name().unwrap_or("custom"),
            r.config.per_digit,
            sum.mean_accuracy,
            sum.std_accuracy,
            sum.mean_steps
        ),
    );
    model_accuracy_and_difficulty_panels(&mut c, r);
    digit_correlation_panel(&mut c, &s.digit_correlation);
    c.text(
        80.0,
        440.0,
        13.0,
        MUTED,
        Anchor::Left,
        &format!(
            "mean model-model correlation {}, mean digit-digit correlation {}; {:.1} s training, {:.1} s evaluating",
            sum.mean_model_correlation.map_or("undefined".into(), |v| format!("{v:.3}")),
            sum.mean_digit_correlation.map_or("undefined".into(), |v| format!("{v:.3}")),
            r.train_seconds,
            r.eval_seconds
        ),
    );
    let data = json!({
        "summary": sum,
        "model_accuracy": s.model_accuracy,
        "digit_correlation": s.digit_correlation,
        "difficulty_histogram": s.difficulty_histogram,
        "hardest": s.hardest,
        "easiest": s.easiest,
    });
    Figure {
        name: "ensemble_overview".into(),
        canvas: c,
        data: serde_json::to_string_pretty(&data).unwrap_or_default(),
        data_ext: "json",
    }
}

/// Accuracy per model (sorted) and the difficulty histogram, the left two panels.
fn model_accuracy_and_difficulty_panels(c: &mut Canvas, r: &EnsembleResults) {
    let s = &r.stats;
    let sum = &s.summary;
    let mut sorted = s.model_accuracy.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let acc = Axes {
        x: 80.0,
        y: 80.0,
        w: 340.0,
        h: 300.0,
        x_range: (0.0, sorted.len().max(1) as f64),
        y_range: (0.0, 1.0),
    };
    acc.draw(c, "Test accuracy per model (sorted)", "model rank", "accuracy");
    for (i, &a) in sorted.iter().enumerate() {
        acc.bar(c, i as f64 + 0.1, i as f64 + 0.9, a, SERIES[0]);
    }
    let hist = &s.difficulty_histogram;
    let peak = hist.iter().copied().max().unwrap_or(1).max(1) as f64;
    let models = sum.models.max(1) as f64;
    let diff = Axes {
        x: 520.0,
        x_range: (0.0, 1.0 + 1.0 / models),
        y_range: (0.0, peak * 1.08),
        ..acc
    };
    diff.draw(
        c,
        "Difficulty: share of models right",
        "share of models right",
        "test images",
    );
    for (k, &count) in hist.iter().enumerate() {
        let x = k as f64 / models;
        diff.bar(c, x, x + 0.9 / models, count as f64, SERIES[1]);
    }
}

/// The digit-digit correlation heatmap with its colour bar (undefined cells grey).
fn digit_correlation_panel(c: &mut Canvas, correlation: &[Vec<Option<f64>>]) {
    let (hx, hy, cell) = (1010.0, 80.0, 28.0);
    c.text(
        hx + 5.0 * cell,
        hy - 14.0,
        15.0,
        INK,
        Anchor::Center,
        "Digit-digit correlation",
    );
    for (d, row) in correlation.iter().enumerate() {
        c.text(
            hx - 8.0,
            hy + (d as f32 + 0.5) * cell,
            12.0,
            INK,
            Anchor::Right,
            &d.to_string(),
        );
        c.text(
            hx + (d as f32 + 0.5) * cell,
            hy + 10.0 * cell + 10.0,
            12.0,
            INK,
            Anchor::Center,
            &d.to_string(),
        );
        for (e, v) in row.iter().enumerate() {
            let colour = v.map_or([200, 200, 200], |v| diverging(v as f32));
            c.fill_rect(
                hx + e as f32 * cell,
                hy + d as f32 * cell,
                cell - 1.0,
                cell - 1.0,
                colour,
            );
        }
    }
    colorbar(
        c,
        hx + 10.0 * cell + 12.0,
        hy,
        10.0 * cell,
        (-1.0, 1.0),
        diverging,
    );
}

/// Log-spaced tick positions (log10 values) with their labels, covering `[lo, hi]` (logs).
fn log_ticks(lo: f64, hi: f64, format: impl Fn(f64) -> String) -> Vec<(f64, String)> {
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

/// Seed S2's size curve: loss and accuracy against training-set size on log-log axes; the
/// table as CSV.
pub fn subset_curve(r: &SubsetCurveResults) -> Figure {
    let mut c = Canvas::new(1080, 470, PAPER);
    title(
        &mut c,
        &format!(
            "Training-set size: {} for {} epochs per fraction",
            r.config.train.model.preset_name().unwrap_or("custom model"),
            r.config.train.epochs
        ),
    );
    let pts = &r.points;
    let xs: Vec<f64> = pts.iter().map(|p| (p.train_size.max(1) as f64).log10()).collect();
    let (x_lo, x_hi) = match (xs.first(), xs.last()) {
        (Some(&a), Some(&b)) if b > a => (a - 0.05, b + 0.05),
        (Some(&a), _) => (a - 0.5, a + 0.5),
        _ => (3.0, 5.0),
    };
    let log = |v: f64| v.max(1e-6).log10();
    let losses: Vec<f64> = pts
        .iter()
        .flat_map(|p| [log(p.train_loss), log(p.test_loss)])
        .collect();
    let accs: Vec<f64> = pts
        .iter()
        .flat_map(|p| [log(p.train_accuracy), log(p.test_accuracy)])
        .collect();
    let span = |v: &[f64], pad: f64| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() {
            (lo - pad, hi + pad)
        } else {
            (-2.0, 0.0)
        }
    };
    let loss_axes = Axes {
        x: 90.0,
        y: 70.0,
        w: 380.0,
        h: 300.0,
        x_range: (x_lo, x_hi),
        y_range: span(&losses, 0.05),
    };
    let acc_axes = Axes {
        x: 620.0,
        y_range: span(&accs, 0.001),
        ..loss_axes
    };
    let size_label = |v: f64| {
        if v >= 1000.0 {
            format!("{}k", tick_label(v / 1000.0, 1.0))
        } else {
            tick_label(v, 1.0)
        }
    };
    let x_ticks = log_ticks(x_lo, x_hi, size_label);
    let loss_ticks = log_ticks(loss_axes.y_range.0, loss_axes.y_range.1, |v| format!("{v}"));
    let (a_lo, a_hi) = acc_axes.y_range;
    let acc_ticks: Vec<(f64, String)> = (0..5)
        .map(|i| {
            let l = a_lo + (a_hi - a_lo) * i as f64 / 4.0;
            (l, format!("{:.4}", 10f64.powf(l)))
        })
        .collect();
    loss_axes.draw_with_ticks(
        &mut c,
        "Loss (log-log)",
        "training images (log)",
        "cross-entropy (log)",
        &x_ticks,
        &loss_ticks,
    );
    acc_axes.draw_with_ticks(
        &mut c,
        "Accuracy (log-log)",
        "training images (log)",
        "accuracy (log)",
        &x_ticks,
        &acc_ticks,
    );
    let series = |f: &dyn Fn(&crate::experiment::subset_curve::FractionResult) -> f64| -> Vec<(f64, f64)> {
        pts.iter().zip(&xs).map(|(p, &x)| (x, log(f(p)))).collect()
    };
    loss_axes.line(&mut c, &series(&|p| p.train_loss), SERIES[0], 2.0);
    loss_axes.line(&mut c, &series(&|p| p.test_loss), SERIES[1], 2.0);
    acc_axes.line(&mut c, &series(&|p| p.train_accuracy), SERIES[0], 2.0);
    acc_axes.line(&mut c, &series(&|p| p.test_accuracy), SERIES[1], 2.0);
    legend(&mut c, 930.0, 60.0, &[("train", SERIES[0]), ("test", SERIES[1])]);
    if pts.is_empty() {
        c.text(
            540.0,
            230.0,
            16.0,
            MUTED,
            Anchor::Center,
            "no fraction finished yet",
        );
    }
    let mut csv =
        String::from("fraction,train_size,train_loss,train_accuracy,test_loss,test_accuracy,steps,seconds\n");
    for p in pts {
        csv.push_str(&format!(
            "{},{},{:.6},{:.6},{:.6},{:.6},{},{:.1}\n",
            p.fraction,
            p.train_size,
            p.train_loss,
            p.train_accuracy,
            p.test_loss,
            p.test_accuracy,
            p.steps,
            p.seconds
        ));
    }
    Figure {
        name: "subset_sizes".into(),
        canvas: c,
        data: csv,
        data_ext: "csv",
    }
}

/// Seed S3's stability figure: accuracy per dropout pass as a line, and as a box plot.
pub fn stability(r: &StabilityResults) -> Figure {
    let mut c = Canvas::new(1040, 440, PAPER);
    title(
        &mut c,
        &format!(
            "Stability: {} passes with dropout {:.2}: {:.2} % ± {:.3} % (std {} 0.5 %)",
            r.accuracies.len(),
            r.dropout,
            100.0 * r.mean_accuracy,
            100.0 * r.std_accuracy,
            if r.std_accuracy < 0.005 { "<" } else { "≥" }
        ),
    );
    let pct: Vec<f64> = r.accuracies.iter().map(|a| 100.0 * a).collect();
    let lo = pct
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .min(100.0 * r.eval_accuracy);
    let hi = pct
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
        .max(100.0 * r.eval_accuracy);
    let pad = ((hi - lo) * 0.2).max(0.05);
    let line = Axes {
        x: 90.0,
        y: 70.0,
        w: 520.0,
        h: 300.0,
        x_range: (1.0, pct.len().max(2) as f64),
        y_range: (lo - pad, hi + pad),
    };
    line.draw(&mut c, "Accuracy per pass", "pass", "test accuracy (%)");
    let points: Vec<(f64, f64)> = pct
        .iter()
        .enumerate()
        .map(|(i, &a)| (i as f64 + 1.0, a))
        .collect();
    line.line(&mut c, &points, SERIES[0], 2.0);
    line.line(
        &mut c,
        &[
            (1.0, 100.0 * r.eval_accuracy),
            (pct.len().max(2) as f64, 100.0 * r.eval_accuracy),
        ],
        MUTED,
        1.0,
    );
    legend(
        &mut c,
        100.0,
        76.0,
        &[("dropout on", SERIES[0]), ("dropout off", MUTED)],
    );
    let boxes = Axes {
        x: 740.0,
        w: 200.0,
        x_range: (0.0, 1.0),
        ..line
    };
    boxes.draw(&mut c, "Distribution", "", "test accuracy (%)");
    if let Some([min, q1, med, q3, max]) = five_numbers(&pct) {
        let (x0, _) = boxes.map(0.3, 0.0);
        let (x1, _) = boxes.map(0.7, 0.0);
        let (xm, _) = boxes.map(0.5, 0.0);
        let y = |v: f64| boxes.map(0.0, v).1;
        c.fill_rect(x0, y(q3), x1 - x0, (y(q1) - y(q3)).max(1.0), [198, 219, 239]);
        c.stroke_rect(x0, y(q3), x1 - x0, (y(q1) - y(q3)).max(1.0), INK);
        c.fill_rect(x0, y(med), x1 - x0, 2.0, SERIES[1]);
        c.fill_rect(xm, y(max), 1.0, y(q3) - y(max), INK);
        c.fill_rect(xm, y(q1), 1.0, y(min) - y(q1), INK);
        for v in [min, max] {
            c.fill_rect(xm - 15.0, y(v), 30.0, 1.0, INK);
        }
    }
    let mut csv = String::from("pass,accuracy\n");
    for (i, a) in r.accuracies.iter().enumerate() {
        csv.push_str(&format!("{},{a:.6}\n", i + 1));
    }
    Figure {
        name: "09_stability_test".into(),
        canvas: c,
        data: csv,
        data_ext: "csv",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
