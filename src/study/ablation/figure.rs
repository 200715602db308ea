//! Seed S1's ablation figure (`ablation.png` with `ablation.json`), drawn on the CPU: the
//! study writes it next to its results and the Ablation panel's Export… writes the same files.

use super::AblationResults;
use crate::analysis::colormap::symmetric_limit;
use crate::figure::plot::{Axes, BAD, MUTED, PAPER, SERIES, legend};
use crate::figure::{Anchor, Canvas};
use crate::report::{Figure, json_text, title};

/// Seed S1's ablation figure: random ablations as a histogram with the targeted one
/// marked, the threshold sweep, and the sorted class-mean differences.
pub fn figure(r: &AblationResults) -> Figure {
    let [a, b] = r.config.classes;
    let mut c = Canvas::new(1320, 470, PAPER);
    title(
        &mut c,
        &format!(
            "Ablation of {}: {} units with |mean({a}) − mean({b})| > {}: accuracy on {a}/{b} {:.3} (baseline {:.3}); {:.0} % of random ablations do as badly",
            r.layer_name,
            r.targeted_units.len(),
            r.config.threshold,
            r.targeted.pair,
            r.baseline.pair,
            100.0 * r.random_at_or_below
        ),
    );
    let hist = random_ablations_panel(&mut c, r);
    threshold_sweep_panel(&mut c, r, hist);
    differences_panel(&mut c, r, hist);
    Figure {
        name: "ablation".into(),
        canvas: c,
        data: json_text(r),
        data_ext: "json",
    }
}

/// The random ablations' accuracies as a histogram, the targeted one and the baseline marked.
/// Returns its axes, whose size the other two panels share.
fn random_ablations_panel(c: &mut Canvas, r: &AblationResults) -> Axes {
    let [a, b] = r.config.classes;
    let bins = 20;
    let mut counts = vec![0usize; bins];
    for x in &r.random {
        counts[((x.pair * bins as f64) as usize).min(bins - 1)] += 1;
    }
    let hist = Axes {
        x: 80.0,
        y: 80.0,
        w: 340.0,
        h: 290.0,
        x_range: (0.0, 1.0),
        y_range: (
            0.0,
            counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.15,
        ),
    };
    hist.draw(
        c,
        &format!(
            "{} random ablations of {} units",
            r.random.len(),
            r.targeted_units.len()
        ),
        &format!("accuracy on {a} and {b}"),
        "ablations",
    );
    for (k, &n) in counts.iter().enumerate() {
        hist.bar(
            c,
            k as f64 / bins as f64 + 0.003,
            (k + 1) as f64 / bins as f64 - 0.003,
            n as f64,
            SERIES[0],
        );
    }
    for (value, color) in [(r.targeted.pair, BAD), (r.baseline.pair, MUTED)] {
        let (x, y0) = hist.map(value, 0.0);
        c.fill_rect(x - 1.0, hist.y, 2.5, y0 - hist.y, color);
    }
    legend(c, 100.0, 90.0, &[("targeted", BAD), ("nothing ablated", MUTED)]);
    hist
}

/// Accuracy against the threshold: targeted ablations against random ones (mean ± std).
fn threshold_sweep_panel(c: &mut Canvas, r: &AblationResults, frame: Axes) {
    let [a, b] = r.config.classes;
    let sweep = Axes {
        x: 510.0,
        x_range: (
            r.sweep.first().map_or(0.0, |p| p.threshold as f64) - 0.05,
            r.sweep.last().map_or(1.0, |p| p.threshold as f64) + 0.05,
        ),
        y_range: (0.0, 1.0),
        ..frame
    };
    sweep.draw(
        c,
        "Threshold sweep",
        "threshold on |difference|",
        &format!("accuracy on {a} and {b}"),
    );
    let targeted: Vec<(f64, f64)> = r
        .sweep
        .iter()
        .map(|p| (p.threshold as f64, p.targeted.pair))
        .collect();
    let random: Vec<(f64, f64)> = r
        .sweep
        .iter()
        .map(|p| (p.threshold as f64, p.random_pair.0))
        .collect();
    for p in &r.sweep {
        let (x, y0) = sweep.map(p.threshold as f64, p.random_pair.0 - p.random_pair.1);
        let (_, y1) = sweep.map(p.threshold as f64, p.random_pair.0 + p.random_pair.1);
        c.fill_rect(x - 0.5, y1, 1.5, (y0 - y1).max(1.0), SERIES[0]);
        let (x, y) = sweep.map(p.threshold as f64, p.targeted.pair);
        c.text(
            x + 6.0,
            y - 8.0,
            11.0,
            MUTED,
            Anchor::Left,
            &format!("{} units", p.units),
        );
    }
    sweep.line(c, &targeted, BAD, 2.0);
    sweep.line(c, &random, SERIES[0], 2.0);
    legend(
        c,
        520.0,
        220.0,
        &[("targeted", BAD), ("random (mean ± std)", SERIES[0])],
    );
}

/// Every unit's class-mean difference, sorted by size; those over the threshold marked.
fn differences_panel(c: &mut Canvas, r: &AblationResults, frame: Axes) {
    let [a, b] = r.config.classes;
    let mut sorted = r.differences.clone();
    sorted.sort_by(|x, y| y.abs().total_cmp(&x.abs()));
    let lim = symmetric_limit(&sorted) as f64;
    let diffs = Axes {
        x: 940.0,
        x_range: (0.0, sorted.len().max(1) as f64),
        y_range: (-lim * 1.05, lim * 1.05),
        ..frame
    };
    diffs.draw(
        c,
        &format!(
            "Differences ({:.0} % under 0.2)",
            100.0 * r.small_difference_share
        ),
        "unit (sorted by |difference|)",
        &format!("mean({a}) − mean({b})"),
    );
    let w = 1.0 / sorted.len().max(1) as f64;
    for (k, &d) in sorted.iter().enumerate() {
        let color = if d.abs() > r.config.threshold {
            BAD
        } else {
            SERIES[0]
        };
        let (x0, y0) = diffs.map(k as f64, 0.0);
        let (x1, y1) = diffs.map(k as f64 + w * sorted.len() as f64, d as f64);
        c.fill_rect(
            x0,
            y0.min(y1),
            (x1 - x0).max(1.0),
            (y1 - y0).abs().max(1.0),
            color,
        );
    }
}
