//! Seed S1's row sweep of one image as a study ([`crate::analysis::rows`]): every
//! contiguous row range of one image erased, and a bar painted at every row of a second
//! image; with `batch`, also the batch mode over many test images ([`super::batch_sweep`]).
//! A probe: `probe row-sweep`, the probe lane in the app (the Row sweep panel follows the
//! pad), results in a shared `--out`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::batch_sweep::{BatchSweep, BatchSweepConfig, batch_sweep};
use super::batch_sweep::{
    check_batch, check_batch_settings, check_digit, check_mc_passes, flip_lines, mc_dropout,
};
use super::image::{ImageArgs, ImageChoice, PickedImage};
use super::{Home, Lane, Needs, Study, StudyError, StudyInputs, Tie, read_json, write_json};
use crate::analysis::colormap::{diverging, symmetric_limit};
use crate::analysis::pixels::intensities_to_grey;
use crate::analysis::rows::{
    Bar, BarSweep, EraseSweep, MarginClasses, ROWS, bar_sweep, check_bar, check_erase, erase_sweep,
};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::figure::plot::{Axes, BAD, INK, MUTED, PAPER, SERIES, colorbar, legend};
use crate::figure::{Anchor, Canvas};
use crate::jobs::Reporter;
use crate::report::{Figure, title};
use crate::run::RunConfig;

/// The `probe row-sweep` study.
pub struct RowSweep;

/// Settings: the two images, the margin's classes, the bar, dropout and batch mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RowSweepSettings {
    /// The image whose rows are erased (seed S1: a 7).
    pub image: ImageChoice,
    /// The image the bar is painted on (seed S1: a 1).
    pub bar_image: ImageChoice,
    /// The class whose logit counts positively.
    pub target: u8,
    /// The class it is compared with.
    pub rival: u8,
    /// Rows of the painted bar (1 to 28).
    pub bar: usize,
    /// Dropout passes whose logits are averaged (1 to 1000, seed 1); None: dropout off.
    pub mc_passes: Option<usize>,
    /// Also run batch mode over this many test images of each class (1 to 5000).
    pub batch: Option<usize>,
}

impl Default for RowSweepSettings {
    fn default() -> Self {
        let classes = MarginClasses::default();
        Self {
            image: ImageChoice::FirstOf {
                digit: classes.target,
            },
            bar_image: ImageChoice::FirstOf { digit: classes.rival },
            target: classes.target,
            rival: classes.rival,
            bar: 2,
            mc_passes: None,
            batch: None,
        }
    }
}

impl RowSweepSettings {
    fn classes(&self) -> MarginClasses {
        MarginClasses {
            target: self.target,
            rival: self.rival,
        }
    }
}

/// Flags of `probe row-sweep`.
#[derive(Debug, clap::Args)]
pub struct RowSweepArgs {
    #[command(flatten)]
    image: ImageArgs,
    /// Class whose logit counts positively (default image: the first test image of it).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u8).range(0..10))]
    target: u8,
    /// Class it is compared with.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..10))]
    rival: u8,
    /// Rows of the painted bar of the reverse sweep.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=28))]
    bar: u64,
    /// Average this many dropout passes (off by default).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    mc_passes: Option<u64>,
    /// Test-set index of the image the bar is painted on (default: the first test image of
    /// the rival class).
    #[arg(long, value_name = "N")]
    bar_index: Option<usize>,
    /// Also run batch mode over this many test images of each class.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=5000))]
    batch: Option<u64>,
}

/// Both sweeps, their images, and batch mode when it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowSweepResults {
    /// The image whose rows were erased.
    pub image: PickedImage,
    /// The image the bar was painted on.
    pub bar_image: PickedImage,
    /// Every erased row range.
    pub erase: EraseSweep,
    /// The bar at every row.
    pub bar: BarSweep,
    /// Batch mode, when asked for.
    pub batch: Option<BatchSweep>,
}

/// Results file (the figures' numbers are `row_sweep.csv` and `row_sweep_batch.csv`).
pub const RESULTS_FILE: &str = "row_sweep_results.json";

impl Study for RowSweep {
    const ID: &'static str = "row-sweep";
    const TITLE: &'static str = "Row sweep";
    const ABOUT: &'static str = "Seed S1: erase every row range of an image (and paint a bar at each row); --batch runs it over many test images.";
    const RESULTS_FILE: &'static str = RESULTS_FILE;
    const NEEDS: Needs = Needs::MODEL_AND_DATA;
    const HOME: Home = Home::SharedFolder;
    const TIE: Tie = Tie::Model;
    const LANE: Lane = Lane::Probe;
    const DEFAULT_DEVICE: &'static str = "flex";

    type Config = RowSweepSettings;
    type Args = RowSweepArgs;
    type Results = RowSweepResults;

    fn config_from_args(
        args: RowSweepArgs,
        _run: Option<&RunConfig>,
    ) -> Result<RowSweepSettings, StudyError> {
        let bar_image = match args.bar_index {
            Some(index) => ImageChoice::TestIndex { index },
            None => ImageChoice::FirstOf { digit: args.rival },
        };
        Ok(RowSweepSettings {
            image: args.image.choice(args.target),
            bar_image,
            target: args.target,
            rival: args.rival,
            bar: args.bar as usize,
            mc_passes: args.mc_passes.map(|n| n as usize),
            batch: args.batch.map(|n| n as usize),
        })
    }

    fn quick_config(_run: Option<&RunConfig>) -> RowSweepSettings {
        RowSweepSettings {
            image: ImageChoice::TestIndex { index: 0 },
            bar_image: ImageChoice::TestIndex { index: 1 },
            batch: Some(2),
            ..RowSweepSettings::default()
        }
    }

    fn validate(config: &RowSweepSettings) -> Result<(), StudyError> {
        config.image.validate("image")?;
        config.bar_image.validate("bar_image")?;
        check_digit("target", config.target)?;
        check_digit("rival", config.rival)?;
        if !(1..=ROWS).contains(&config.bar) {
            return Err(StudyError::Config(format!(
                "bar: {} is not in 1..={ROWS}",
                config.bar
            )));
        }
        check_mc_passes(config.mc_passes)?;
        match config.batch {
            Some(n) => check_batch_settings("batch", n, config.target, config.rival),
            None => Ok(()),
        }
    }

    fn reads_data(config: &RowSweepSettings) -> bool {
        config.batch.is_some() || config.image.reads_data() || config.bar_image.reads_data()
    }

    fn folder_label(_config: &RowSweepSettings) -> String {
        "row-sweep".into()
    }

    fn run(
        config: &RowSweepSettings,
        inputs: &StudyInputs,
        reporter: &mut Reporter,
    ) -> Result<RowSweepResults, StudyError> {
        Self::validate(config)?;
        let (model, device) = inputs.model_on_device()?;
        let image = config.image.pick(inputs.data.as_deref())?;
        let bar_image = config.bar_image.pick(inputs.data.as_deref())?;
        let (classes, mc) = (config.classes(), mc_dropout(config.mc_passes));
        // With batch mode the two sweeps are a moment before it; its progress is the run's.
        let bar_share = if config.batch.is_some() { 0.0 } else { 0.5 };
        reporter.progress("erasing row ranges", 0.0);
        let erase = erase_sweep(model, &image.pixels, classes, mc, &device);
        reporter.check()?;
        reporter.progress("painting a bar at each row", bar_share);
        let bar_classes = MarginClasses {
            target: classes.rival,
            rival: classes.target,
        };
        let painted = Bar::for_image(&bar_image.pixels, config.bar);
        let bar = bar_sweep(model, &bar_image.pixels, bar_classes, painted, mc, &device);
        reporter.check()?;
        let batch = match config.batch {
            Some(per_class) => {
                let batch_config = BatchSweepConfig {
                    per_class,
                    classes,
                    mc,
                    ..BatchSweepConfig::default()
                };
                Some(batch_sweep(
                    model,
                    &inputs.data()?.test,
                    &batch_config,
                    &inputs.devices()?,
                    reporter,
                )?)
            }
            None => None,
        };
        reporter.progress("done", 1.0);
        Ok(RowSweepResults {
            image,
            bar_image,
            erase,
            bar,
            batch,
        })
    }

    fn save(results: &RowSweepResults, dir: &Path) -> Result<(), StudyError> {
        write_json(&dir.join(RESULTS_FILE), results)
    }

    fn load(dir: &Path) -> Result<RowSweepResults, StudyError> {
        let path = dir.join(RESULTS_FILE);
        let r: RowSweepResults = read_json(&path)?;
        check_image(&path, "image", &r.image)?;
        check_image(&path, "bar_image", &r.bar_image)?;
        check_erase(&r.erase).map_err(|m| StudyError::format(&path, m))?;
        check_bar(&r.bar).map_err(|m| StudyError::format(&path, m))?;
        if let Some(b) = &r.batch {
            check_batch(&path, "batch.", b)?;
        }
        Ok(r)
    }

    fn figures(results: &RowSweepResults) -> Vec<Figure> {
        let r = results;
        let mut figures = vec![figure(&r.image.pixels, &r.bar_image.pixels, &r.erase, &r.bar)];
        figures.extend(r.batch.as_ref().map(super::batch_sweep::figure));
        figures
    }

    fn summary(results: &RowSweepResults) -> String {
        let (erase, bar) = (&results.erase, &results.bar);
        let mut lines = vec![format!(
            "{}: predicted {}, margin {:.3}",
            results.image.label, erase.original_prediction, erase.original_margin
        )];
        lines.push(match erase.smallest_flip() {
            Some((s, e)) => format!(
                "smallest flipping range: rows {s}-{e} ({} rows) → {}",
                e - s + 1,
                erase.prediction(s, e).unwrap_or(0)
            ),
            None => "no erased row range changes the prediction".into(),
        });
        let (row, m) = erase.most_crucial_row();
        lines.push(format!("most crucial single row: {row} (margin {m:.3})"));
        lines.push(format!(
            "erasing 6 rows from the top half vs the bottom half moves the margin by {:+.3} more",
            erase.top_minus_bottom(6)
        ));
        let flips = bar
            .predictions
            .iter()
            .filter(|&&p| p != bar.original_prediction)
            .count();
        lines.push(format!(
            "bar of {} rows on {}: changes the prediction at {flips} of {} rows",
            bar.bar.thickness,
            results.bar_image.label,
            bar.margins.len()
        ));
        if let Some(b) = &results.batch {
            lines.push(flip_lines(b));
        }
        lines.join("\n")
    }
}

/// Refuses an image that is not 784 intensities in [0, 1], naming `field`.
fn check_image(path: &Path, field: &str, image: &PickedImage) -> Result<(), StudyError> {
    if image.pixels.len() != IMAGE_PIXELS {
        let n = image.pixels.len();
        return Err(StudyError::format(
            path,
            format!("field `{field}.pixels` has {n} values, not {IMAGE_PIXELS}"),
        ));
    }
    if image.pixels.iter().any(|v| !(0.0..=1.0).contains(v)) {
        return Err(StudyError::format(
            path,
            format!("field `{field}.pixels` holds an intensity outside [0, 1]"),
        ));
    }
    Ok(())
}

/// The row sweep of one image: the image, the triangular heatmap of margins (flipping
/// ranges outlined), and the bar sweep's margin per row.
pub fn figure(image: &[f32], bar_image: &[f32], erase: &EraseSweep, bar: &BarSweep) -> Figure {
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
