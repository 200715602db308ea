//! Seed S0's ensemble overview figure, drawn on the CPU like the run report: accuracy per
//! model, how hard the test images are, and the digit-digit correlations.

use serde_json::json;

use super::members::EnsembleResults;
use crate::analysis::colormap::diverging;
use crate::figure::plot::{Axes, INK, MUTED, PAPER, SERIES, colorbar};
use crate::figure::{Anchor, Canvas};
use crate::report::{Figure, title};

/// Ensemble overview: accuracy per model (sorted), difficulty histogram, digit-digit
/// correlation heatmap; the numbers as JSON (the summary and the correlation matrix).
pub fn figure(r: &EnsembleResults) -> Figure {
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
