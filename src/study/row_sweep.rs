//! Seed S1's row sweep of one image as a study ([`crate::probe::row_sweep`]): every
//! contiguous row range of one image erased, and a bar painted at every row of a second
//! image; with `batch`, also the batch mode over many test images ([`super::batch_sweep`]).
//! A probe: `probe row-sweep`, the probe lane in the app (the Row sweep panel follows the
//! pad), results in a shared `--out`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::batch_sweep::{
    check_batch, check_batch_settings, check_digit, check_mc_passes, flip_lines, mc_dropout,
};
use super::image::{ImageArgs, ImageChoice, PickedImage};
use super::{Home, Lane, Needs, Study, StudyError, StudyInputs, Tie, read_json, write_json};
use crate::data::{IMAGE_PIXELS, NUM_CLASSES};
use crate::jobs::Reporter;
use crate::probe::row_sweep::{
    Bar, BarSweep, BatchSweep, BatchSweepConfig, EraseSweep, MarginClasses, ROWS, bar_sweep, batch_sweep,
    erase_sweep,
};
use crate::report::Figure;
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
                    &device,
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
        check_erase(&path, &r.erase)?;
        check_bar(&path, &r.bar)?;
        if let Some(b) = &r.batch {
            check_batch(&path, "batch.", b)?;
        }
        Ok(r)
    }

    fn figures(results: &RowSweepResults) -> Vec<Figure> {
        let r = results;
        let mut figures = vec![crate::report::probes::row_sweep(
            &r.image.pixels,
            &r.bar_image.pixels,
            &r.erase,
            &r.bar,
        )];
        figures.extend(r.batch.as_ref().map(crate::report::probes::batch_sweep));
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

/// Refuses a margin that is not finite or a prediction that is not a digit, naming `field`.
fn check_margin(path: &Path, field: &str, margin: f32, prediction: u8) -> Result<(), StudyError> {
    if !margin.is_finite() {
        return Err(StudyError::format(
            path,
            format!("field `{field}` margin is {margin}"),
        ));
    }
    if prediction as usize >= NUM_CLASSES {
        return Err(StudyError::format(
            path,
            format!("field `{field}` prediction is {prediction}, not a digit"),
        ));
    }
    Ok(())
}

fn check_classes(path: &Path, field: &str, c: MarginClasses) -> Result<(), StudyError> {
    for (name, digit) in [("target", c.target), ("rival", c.rival)] {
        if digit as usize >= NUM_CLASSES {
            return Err(StudyError::format(
                path,
                format!("field `{field}.classes.{name}` is {digit}, not a digit"),
            ));
        }
    }
    Ok(())
}

/// Checks the erase sweep: 28 × 28 entries, a finite margin and a digit for every range.
fn check_erase(path: &Path, e: &EraseSweep) -> Result<(), StudyError> {
    check_classes(path, "erase", e.classes)?;
    check_margin(path, "erase.original", e.original_margin, e.original_prediction)?;
    for (name, n) in [("margins", e.margins.len()), ("predictions", e.predictions.len())] {
        if n != ROWS * ROWS {
            return Err(StudyError::format(
                path,
                format!("field `erase.{name}` has {n} values, not {}", ROWS * ROWS),
            ));
        }
    }
    for a in 0..ROWS {
        for b in a..ROWS {
            let i = a * ROWS + b;
            check_margin(
                path,
                &format!("erase[{i}] (rows {a}-{b})"),
                e.margins[i],
                e.predictions[i],
            )?;
        }
    }
    if e.mc.is_some_and(|m| m.passes == 0) {
        return Err(StudyError::format(path, "field `erase.mc.passes` is 0"));
    }
    Ok(())
}

/// Checks the bar sweep: a bar inside the image, one finite margin and digit per row it fits.
fn check_bar(path: &Path, s: &BarSweep) -> Result<(), StudyError> {
    check_classes(path, "bar", s.classes)?;
    check_margin(path, "bar.original", s.original_margin, s.original_prediction)?;
    let b = s.bar;
    if !(1..=ROWS).contains(&b.thickness) {
        return Err(StudyError::format(
            path,
            format!("field `bar.bar.thickness` is {}, not in 1..={ROWS}", b.thickness),
        ));
    }
    if b.left > b.right || b.right >= ROWS {
        return Err(StudyError::format(
            path,
            format!(
                "field `bar.bar` spans columns {}-{}, not inside the image",
                b.left, b.right
            ),
        ));
    }
    let rows = ROWS + 1 - b.thickness;
    for (name, n) in [("margins", s.margins.len()), ("predictions", s.predictions.len())] {
        if n != rows {
            return Err(StudyError::format(
                path,
                format!("field `bar.{name}` has {n} values, not {rows}"),
            ));
        }
    }
    for (r, (&m, &p)) in s.margins.iter().zip(&s.predictions).enumerate() {
        check_margin(path, &format!("bar[{r}]"), m, p)?;
    }
    Ok(())
}
