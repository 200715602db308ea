//! Figures of seed S1's row probes: the erase sweep with its bar sweep, and the batch sweep
//! over many test images (re-exported from `report::probes`).

use super::{Figure, title};
use crate::analysis::colormap::{diverging, symmetric_limit};
use crate::analysis::pixels::intensities_to_grey;
use crate::data::IMAGE_SIDE;
use crate::figure::plot::{Axes, BAD, INK, MUTED, PAPER, SERIES, colorbar, legend};
use crate::figure::{Anchor, Canvas};
use crate::probe::row_sweep::{BarSweep, BatchSweep, EraseSweep, ROWS};

/// The row sweep of one image: the image, the triangular heatmap of margins (flipping
/// ranges outlined), and the bar sweep's margin per row.
pub fn row_sweep(image: &[f32], bar_image: &[f32], erase: &EraseSweep, bar: &BarSweep) -> Figure {
    let mut c = Canvas::new(1180, 560, PAPER);
    let (t, r) = (erase.classes.target, erase.classes.rival);
    title(
        &mut c,
        &format!(
            "Row sweep: margin logit({t}) − logit({r}) with rows a..b erased (original {:.2})",
            erase.original_margin
        ),
    );
    erased_image_panel(&mut c, image, erase);
    erase_heatmap(&mut c, erase);
    bar_sweep_chart(&mut c, bar_image, bar);
    let csv = row_sweep_csv(erase, bar);
    Figure {
        name: "row_sweep".into(),
        canvas: c,
        data: csv,
        data_ext: "csv",
    }
}

/// The image and what the erase sweep found, down the left of the row-sweep figure.
fn erased_image_panel(c: &mut Canvas, image: &[f32], erase: &EraseSweep) {
    c.text(40.0, 60.0, 13.0, INK, Anchor::Left, "Image");
    c.grey(
        40.0,
        72.0,
        IMAGE_SIDE,
        IMAGE_SIDE,
        6.0,
        &intensities_to_grey(image),
    );
    let mut y = 260.0;
    let mut line = |c: &mut Canvas, text: String| {
        c.text(40.0, y, 12.0, INK, Anchor::Left, &text);
        y += 18.0;
    };
    line(c, format!("predicted {}", erase.original_prediction));
    match erase.smallest_flip() {
        Some((a, b)) => line(
            c,
            format!(
                "smallest flip: rows {a}-{b} → {}",
                erase.prediction(a, b).unwrap_or(0)
            ),
        ),
        None => line(c, "no erased range changes it".into()),
    }
    let (row, m) = erase.most_crucial_row();
    line(c, format!("most crucial row: {row} (margin {m:.2})"));
    line(
        c,
        format!("6 top rows vs 6 bottom rows: {:+.2}", erase.top_minus_bottom(6)),
    );
    if erase.mc.is_some() {
        line(c, "dropout on (averaged passes)".into());
    }
}

/// The triangular heatmap of margins with `a` rows down and `b` across (flipping ranges
/// outlined), with its colour bar.
fn erase_heatmap(c: &mut Canvas, erase: &EraseSweep) {
    // Heatmap: a down, b across.
    let (hx, hy, cell) = (270.0, 72.0, 15.0);
    let lim = symmetric_limit(&erase.margins);
    for a in 0..ROWS {
        for b in a..ROWS {
            let m = erase.margins[a * ROWS + b];
            let (x, y) = (hx + b as f32 * cell, hy + a as f32 * cell);
            c.fill_rect(x, y, cell, cell, diverging(m / lim));
            if erase.flips(a, b) {
                c.stroke_rect(x + 1.0, y + 1.0, cell - 2.0, cell - 2.0, INK);
            }
        }
    }
    c.stroke_rect(hx, hy, cell * ROWS as f32, cell * ROWS as f32, MUTED);
    for k in (0..ROWS).step_by(5) {
        c.text(
            hx + (k as f32 + 0.5) * cell,
            hy - 8.0,
            11.0,
            MUTED,
            Anchor::Center,
            &k.to_string(),
        );
        c.text(
            hx - 6.0,
            hy + (k as f32 + 0.5) * cell,
            11.0,
            MUTED,
            Anchor::Right,
            &k.to_string(),
        );
    }
    c.text(
        hx + 210.0,
        hy + 440.0,
        13.0,
        INK,
        Anchor::Center,
        "last erased row b (outlined: prediction changes)",
    );
    c.text_vertical(hx - 30.0, hy + 210.0, 13.0, INK, "first erased row a");
    colorbar(c, hx + 430.0, hy, 300.0, (-lim, lim), |v| diverging(v / lim));
}

/// The bar sweep's margin per row (changed predictions dotted) and the image it was painted on.
fn bar_sweep_chart(c: &mut Canvas, bar_image: &[f32], bar: &BarSweep) {
    // Bar sweep.
    let axes = Axes {
        x: 820.0,
        y: 90.0,
        w: 320.0,
        h: 300.0,
        x_range: (0.0, (ROWS - 1) as f64),
        y_range: {
            let lo = bar.margins.iter().copied().fold(bar.original_margin, f32::min) as f64;
            let hi = bar.margins.iter().copied().fold(bar.original_margin, f32::max) as f64;
            let pad = ((hi - lo) * 0.1).max(0.5);
            (lo - pad, hi + pad)
        },
    };
    axes.draw(
        c,
        &format!(
            "Bar of {} rows painted (cols {}-{})",
            bar.bar.thickness, bar.bar.left, bar.bar.right
        ),
        "top row of the bar",
        &format!("logit({}) − logit({})", bar.classes.target, bar.classes.rival),
    );
    let points: Vec<(f64, f64)> = bar
        .margins
        .iter()
        .enumerate()
        .map(|(r, &m)| (r as f64, m as f64))
        .collect();
    axes.line(c, &[(0.0, 0.0), ((ROWS - 1) as f64, 0.0)], MUTED, 1.0);
    axes.line(c, &points, SERIES[0], 2.0);
    for (r, &p) in bar.predictions.iter().enumerate() {
        if p != bar.original_prediction {
            let (x, y) = axes.map(r as f64, bar.margins[r] as f64);
            c.dot(x, y, 4.0, BAD);
        }
    }
    legend(
        c,
        830.0,
        460.0,
        &[("margin", SERIES[0]), ("prediction changed", BAD)],
    );
    c.grey(
        1060.0,
        440.0,
        IMAGE_SIDE,
        IMAGE_SIDE,
        2.5,
        &intensities_to_grey(bar_image),
    );
    c.text(1095.0, 520.0, 11.0, MUTED, Anchor::Center, "bar painted on");
}

/// Both sweeps as CSV rows: `sweep,first_row,last_row,margin,prediction,flips`.
fn row_sweep_csv(erase: &EraseSweep, bar: &BarSweep) -> String {
    let mut csv = String::from("sweep,first_row,last_row,margin,prediction,flips\n");
    for a in 0..ROWS {
        for b in a..ROWS {
            csv.push_str(&format!(
                "erase,{a},{b},{:.5},{},{}\n",
                erase.margins[a * ROWS + b],
                erase.predictions[a * ROWS + b],
                erase.flips(a, b)
            ));
        }
    }
    for (r, (&m, &p)) in bar.margins.iter().zip(&bar.predictions).enumerate() {
        csv.push_str(&format!(
            "bar,{r},{},{m:.5},{p},{}\n",
            r + bar.bar.thickness - 1,
            p != bar.original_prediction
        ));
    }
    csv
}

fn histogram_panel(c: &mut Canvas, axes: Axes, counts: &[usize], title: &str, x_label: &str, color: [u8; 3]) {
    axes.draw(c, title, x_label, "images");
    for (k, &n) in counts.iter().enumerate() {
        axes.bar(c, k as f64 + 0.6, k as f64 + 1.4, n as f64, color);
    }
}

/// Batch mode: how many rows must be erased (target class) or painted (rival class)
/// before the prediction changes.
pub fn batch_sweep(b: &BatchSweep) -> Figure {
    let mut c = Canvas::new(1000, 460, PAPER);
    let (t, r) = (b.config.classes.target, b.config.classes.rival);
    let (mean_e, n_e) = BatchSweep::mean_rows(&b.erased);
    let (mean_p, n_p) = BatchSweep::mean_rows(&b.painted);
    let fmt = |m: Option<f64>| m.map_or("—".into(), |m| format!("{m:.2}"));
    title(
        &mut c,
        &format!(
            "Rows to flip: {t}s need {} erased rows on average ({n_e}/{} flip); {r}s need a {}-row bar ({n_p}/{} flip)",
            fmt(mean_e),
            b.erased.len(),
            fmt(mean_p),
            b.painted.len()
        ),
    );
    let he = BatchSweep::histogram(&b.erased, ROWS);
    let hp = BatchSweep::histogram(&b.painted, b.config.max_bar.max(1));
    let top = |h: &[usize]| h.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    let left = Axes {
        x: 80.0,
        y: 80.0,
        w: 380.0,
        h: 280.0,
        x_range: (0.0, ROWS as f64 + 1.0),
        y_range: (0.0, top(&he)),
    };
    histogram_panel(
        &mut c,
        left,
        &he,
        &format!("{t}s: fewest erased rows that flip"),
        "rows erased",
        SERIES[0],
    );
    let right = Axes {
        x: 580.0,
        x_range: (0.0, b.config.max_bar as f64 + 1.0),
        y_range: (0.0, top(&hp)),
        ..left
    };
    histogram_panel(
        &mut c,
        right,
        &hp,
        &format!("{r}s: thinnest bar that flips"),
        "bar rows",
        SERIES[1],
    );
    let mut csv = String::from("group,test_index,rows,first_row,last_row,became\n");
    for (group, flips) in [("erased", &b.erased), ("painted", &b.painted)] {
        for f in flips {
            let opt = |v: Option<usize>| v.map_or(String::new(), |v| v.to_string());
            csv.push_str(&format!(
                "{group},{},{},{},{},{}\n",
                f.index,
                opt(f.rows),
                opt(f.at.map(|a| a.0)),
                opt(f.at.map(|a| a.1)),
                opt(f.became.map(usize::from))
            ));
        }
    }
    Figure {
        name: "row_sweep_batch".into(),
        canvas: c,
        data: csv,
        data_ext: "csv",
    }
}
