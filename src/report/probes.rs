//! Figures of the probes (seeds S1, S2, S3), drawn on the CPU: the `probe` subcommand writes
//! them next to its JSON, and each probe panel's Export… writes the same files.

use serde_json::json;

pub use super::probes_rows::{batch_sweep, row_sweep};
use super::{Figure, title};
use crate::analysis::colormap::{DIGIT_COLORS, overlay, symmetric_limit};
use crate::analysis::pixels::intensities_to_grey;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::figure::plot::{Axes, BAD, INK, MUTED, PAPER, SERIES, legend};
use crate::figure::{Anchor, Canvas};
use crate::probe::ablation::AblationResults;
use crate::probe::cross_dataset::CrossDatasetResults;
use crate::probe::embed::Embedding;
use crate::probe::saliency::SaliencyMaps;

fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string())
}

/// Seed S1's ablation figure: random ablations as a histogram with the targeted one
/// marked, the threshold sweep, and the sorted class-mean differences.
pub fn ablation(r: &AblationResults) -> Figure {
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

/// The four saliency maps over the digit, with the image itself.
pub fn saliency(image: &[f32], maps: &SaliencyMaps) -> Figure {
    let mut c = Canvas::new(1060, 330, PAPER);
    title(
        &mut c,
        &format!(
            "Saliency for class {} (logit {:.2}; integrated gradients add up to {:.2}, logit − blank logit = {:.2})",
            maps.config.class,
            maps.logits[maps.config.class as usize],
            maps.integrated.iter().sum::<f32>(),
            maps.blank_gap
        ),
    );
    let scale = 6.5;
    let side = IMAGE_SIDE as f32 * scale;
    c.text(30.0 + side / 2.0, 62.0, 13.0, INK, Anchor::Center, "Image");
    c.grey(
        30.0,
        74.0,
        IMAGE_SIDE,
        IMAGE_SIDE,
        scale,
        &intensities_to_grey(image),
    );
    for (k, (name, values)) in maps.named().into_iter().enumerate() {
        let x = 30.0 + (k + 1) as f32 * (side + 20.0);
        let lim = symmetric_limit(values);
        c.text(x + side / 2.0, 62.0, 13.0, INK, Anchor::Center, name);
        c.image(x, 74.0, IMAGE_SIDE, IMAGE_SIDE, scale, |i| {
            overlay(values[i] / lim, image[i])
        });
        c.text(
            x + side / 2.0,
            74.0 + side + 16.0,
            11.0,
            MUTED,
            Anchor::Center,
            &format!("±{lim:.3}"),
        );
    }
    c.text(
        30.0,
        74.0 + side + 40.0,
        12.0,
        MUTED,
        Anchor::Left,
        "red raises the logit, blue lowers it; occlusion: drop when a 4×4 patch is blanked",
    );
    Figure {
        name: "saliency".into(),
        canvas: c,
        data: json_text(maps),
        data_ext: "json",
    }
}

/// Seed S2's scatter: t-SNE (or PCA) of the embeddings coloured by digit, mistakes ringed.
pub fn embedding(e: &Embedding) -> Figure {
    let (points, method) = match &e.tsne_points {
        Some(p) => (
            p.as_slice(),
            format!("t-SNE (perplexity {})", e.config.tsne_config.perplexity),
        ),
        None => (e.pca_points.as_slice(), "PCA".to_string()),
    };
    let mistakes = e.mistakes();
    let mut c = Canvas::new(900, 720, PAPER);
    title(
        &mut c,
        &format!(
            "{method} of the {} layer ({} dims) for {} test images; {mistakes} mistakes ringed",
            e.layer,
            e.dim,
            points.len()
        ),
    );
    // The bounds the panel's scatter uses.
    let frame = crate::analysis::scatter::Frame::around(points, 1);
    let axes = Axes {
        x: 70.0,
        y: 60.0,
        w: 680.0,
        h: 600.0,
        x_range: (frame.x.0 as f64, frame.x.1 as f64),
        y_range: (frame.y.0 as f64, frame.y.1 as f64),
    };
    axes.draw(&mut c, "", "", "");
    for (p, &l) in points.iter().zip(&e.labels) {
        let (x, y) = axes.map(p[0] as f64, p[1] as f64);
        c.dot(x, y, 1.8, DIGIT_COLORS[l as usize]);
    }
    for ((p, &l), &pr) in points.iter().zip(&e.labels).zip(&e.predictions) {
        if l != pr {
            let (x, y) = axes.map(p[0] as f64, p[1] as f64);
            c.stroke_rect(x - 3.0, y - 3.0, 6.0, 6.0, INK);
        }
    }
    let entries: Vec<(String, [u8; 3])> = (0..10).map(|d| (d.to_string(), DIGIT_COLORS[d])).collect();
    let refs: Vec<(&str, [u8; 3])> = entries.iter().map(|(s, c)| (s.as_str(), *c)).collect();
    legend(&mut c, 780.0, 70.0, &refs);
    let mut csv = String::from("test_index,label,prediction,pca_x,pca_y,tsne_x,tsne_y\n");
    for k in 0..e.indices.len() {
        let t = e.tsne_points.as_ref().map(|t| t[k]);
        csv.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            e.indices[k],
            e.labels[k],
            e.predictions[k],
            e.pca_points[k][0],
            e.pca_points[k][1],
            t.map_or(String::new(), |t| t[0].to_string()),
            t.map_or(String::new(), |t| t[1].to_string())
        ));
    }
    Figure {
        name: "embedding".into(),
        canvas: c,
        data: csv,
        data_ext: "csv",
    }
}

/// Seed S3's cross-dataset comparison: accuracy on MNIST, EMNIST (when given) and each
/// corruption (mean over severities) as bars, and accuracy per severity as lines.
pub fn cross_dataset(r: &CrossDatasetResults, examples: &[(String, Vec<u8>)]) -> Figure {
    let mut c = Canvas::new(1240, 560, PAPER);
    title(
        &mut c,
        &format!(
            "Cross-dataset: MNIST test {:.2} %{}; corruptions of {} test images",
            100.0 * r.mnist.accuracy,
            r.external.as_ref().map_or(String::new(), |e| format!(
                ", {} {:.2} %",
                e.name,
                100.0 * e.accuracy
            )),
            r.config.images
        ),
    );
    let mut bars: Vec<(String, f64, [u8; 3])> = vec![("MNIST".into(), r.mnist.accuracy, SERIES[0])];
    if let Some(e) = &r.external {
        bars.push(("EMNIST".into(), e.accuracy, SERIES[1]));
    }
    for k in &r.corruptions {
        bars.push((k.corruption.name().into(), k.mean(), SERIES[2]));
    }
    let axes = Axes {
        x: 80.0,
        y: 80.0,
        w: 520.0,
        h: 300.0,
        x_range: (0.0, bars.len() as f64),
        y_range: (0.0, 100.0),
    };
    axes.draw_with_ticks(
        &mut c,
        "Accuracy (corruptions: mean over severities)",
        "",
        "accuracy (%)",
        &[],
        &[0.0, 25.0, 50.0, 75.0, 100.0].map(|v| (v, format!("{v:.0}"))),
    );
    for (k, (name, acc, color)) in bars.iter().enumerate() {
        axes.bar(&mut c, k as f64 + 0.15, k as f64 + 0.85, 100.0 * acc, *color);
        let (x, y) = axes.map(k as f64 + 0.5, 100.0 * acc);
        c.text(
            x,
            y - 8.0,
            10.0,
            INK,
            Anchor::Center,
            &format!("{:.1}", 100.0 * acc),
        );
        c.text(x, axes.y + axes.h + 14.0, 11.0, INK, Anchor::Center, name);
    }
    let lines = Axes {
        x: 700.0,
        w: 360.0,
        x_range: (1.0, 5.0),
        ..axes
    };
    lines.draw(&mut c, "Accuracy per severity", "severity", "accuracy (%)");
    // One colour per corruption (eight of them): Tableau 10's first eight, as matplotlib colours lines.
    let palette = &DIGIT_COLORS[..8];
    let mut entries = Vec::new();
    for (k, corr) in r.corruptions.iter().enumerate() {
        let pts: Vec<(f64, f64)> = corr
            .accuracies
            .iter()
            .enumerate()
            .map(|(s, a)| (s as f64 + 1.0, 100.0 * a))
            .collect();
        let color = palette[k % palette.len()];
        if pts.len() == 1 {
            let (x, y) = lines.map(1.0, pts[0].1);
            c.dot(x, y, 4.0, color);
        } else {
            lines.line(&mut c, &pts, color, 1.8);
        }
        entries.push((corr.corruption.name(), color));
    }
    legend(&mut c, 1080.0, 90.0, &entries);
    let scale = 2.6;
    for (k, (name, pixels)) in examples.iter().enumerate() {
        let x = 80.0 + k as f32 * (28.0 * scale + 26.0);
        c.grey(x, 440.0, IMAGE_SIDE, IMAGE_SIDE, scale, pixels);
        c.text(
            x + 14.0 * scale,
            440.0 + 28.0 * scale + 12.0,
            11.0,
            MUTED,
            Anchor::Center,
            name,
        );
    }
    debug_assert!(examples.iter().all(|(_, p)| p.len() == IMAGE_PIXELS));
    Figure {
        name: "04_cross_dataset_evaluation".into(),
        canvas: c,
        data: json_text(&json!({ "results": r })),
        data_ext: "json",
    }
}
