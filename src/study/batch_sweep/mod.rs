//! Seed S1's row sweep in batch mode as a study ([`batch_sweep`]):
//! for many correctly predicted test images of two classes, the fewest erased rows that
//! change a target image's prediction and the thinnest bar that changes a rival image's.
//! A probe: `probe batch-sweep`, the Row sweep panel's Run batch button (and `probe
//! row-sweep --batch N`, which shares the checks and summary lines here), results in a
//! shared `--out`.

use std::path::Path;

use serde::{Deserialize, Serialize};

mod compute;

pub use compute::batch_sweep;

use super::shared::devices_summary;
use super::{Home, Lane, Needs, Study, StudyError, StudyInputs, Tie, read_json, write_json};
use crate::analysis::rows::{MarginClasses, ROWS, RowRange};
use crate::experiment::pool::DeviceTally;
use crate::data::NUM_CLASSES;
use crate::figure::Canvas;
use crate::figure::plot::{Axes, PAPER, SERIES};
use crate::jobs::Reporter;
use crate::model::mc::McDropout;
use crate::report::{Figure, title};
use crate::run::RunConfig;

/// The `probe batch-sweep` study.
pub struct BatchSweepStudy;

/// Most test images of each class a batch sweep takes.
pub const MAX_PER_CLASS: usize = 5000;

/// Most dropout passes averaged.
pub const MAX_MC_PASSES: usize = 1000;

/// Settings: how many images of which two classes, the thickest bar, dropout passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchSweepSettings {
    /// Correctly predicted test images of each class, in test-set order (1 to 5000).
    pub per_class: usize,
    /// Images of this class get rows erased (seed S1: 7).
    pub target: u8,
    /// Images of this class get a bar painted (seed S1: 1).
    pub rival: u8,
    /// Thickest bar tried (1 to 28).
    pub max_bar: usize,
    /// Dropout passes whose logits are averaged (1 to 1000); None: dropout off.
    pub mc_passes: Option<usize>,
}

impl Default for BatchSweepSettings {
    fn default() -> Self {
        let engine = BatchSweepConfig::default();
        Self {
            per_class: engine.per_class,
            target: engine.classes.target,
            rival: engine.classes.rival,
            max_bar: engine.max_bar,
            mc_passes: engine.mc.map(|m| m.passes),
        }
    }
}

impl BatchSweepSettings {
    /// The engine's settings.
    pub fn engine_config(&self) -> BatchSweepConfig {
        BatchSweepConfig {
            per_class: self.per_class,
            classes: MarginClasses {
                target: self.target,
                rival: self.rival,
            },
            max_bar: self.max_bar,
            mc: mc_dropout(self.mc_passes),
        }
    }
}

/// Flags of `probe batch-sweep`.
#[derive(Debug, clap::Args)]
pub struct BatchSweepArgs {
    /// Correctly predicted test images of each class.
    #[arg(long, value_name = "N", default_value_t = BatchSweepConfig::default().per_class as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_PER_CLASS as u64))]
    per_class: u64,
    /// Class whose images get rows erased.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u8).range(0..10))]
    target: u8,
    /// Class whose images get a bar painted.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..10))]
    rival: u8,
    /// Thickest bar tried.
    #[arg(long, default_value_t = BatchSweepConfig::default().max_bar as u64,
          value_parser = clap::value_parser!(u64).range(1..=ROWS as u64))]
    max_bar: u64,
    /// Average this many dropout passes (off by default).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_MC_PASSES as u64))]
    mc_passes: Option<u64>,
}

/// Results file (the figure's numbers are `row_sweep_batch.csv`).
pub const RESULTS_FILE: &str = "batch_sweep_results.json";

/// Dropout passes as the row-sweep probes average them (seed 1, as `probe row-sweep`
/// always did).
pub fn mc_dropout(passes: Option<usize>) -> Option<McDropout> {
    passes.map(|passes| McDropout { passes, seed: 1 })
}

/// Refuses a margin class past 9, naming the setting.
pub(crate) fn check_digit(field: &str, digit: u8) -> Result<(), StudyError> {
    if digit as usize >= NUM_CLASSES {
        return Err(StudyError::Config(format!(
            "{field}: {digit} is not a digit (0 to 9)"
        )));
    }
    Ok(())
}

/// Refuses dropout passes outside 1..=1000, naming the setting.
pub(crate) fn check_mc_passes(passes: Option<usize>) -> Result<(), StudyError> {
    match passes {
        Some(n) if !(1..=MAX_MC_PASSES).contains(&n) => Err(StudyError::Config(format!(
            "mc_passes: {n} is not in 1..={MAX_MC_PASSES}"
        ))),
        _ => Ok(()),
    }
}

/// Refuses batch settings that cannot work: `per_class` (named `field`) outside 1..=5000,
/// classes past 9 or the same class twice.
pub(crate) fn check_batch_settings(
    field: &str,
    per_class: usize,
    target: u8,
    rival: u8,
) -> Result<(), StudyError> {
    if !(1..=MAX_PER_CLASS).contains(&per_class) {
        return Err(StudyError::Config(format!(
            "{field}: {per_class} is not in 1..={MAX_PER_CLASS}"
        )));
    }
    check_digit("target", target)?;
    check_digit("rival", rival)?;
    if target == rival {
        return Err(StudyError::Config(format!(
            "target and rival are both {target}: batch mode needs two different classes"
        )));
    }
    Ok(())
}

/// Checks a batch sweep read from `path` (`field` prefixes the names in errors): classes are
/// digits, the bar fits the image, every flip's rows, range and new class make sense.
pub(crate) fn check_batch(path: &Path, field: &str, b: &BatchSweep) -> Result<(), StudyError> {
    let bad = |what: String| Err(StudyError::format(path, what));
    let c = &b.config;
    for (name, digit) in [("target", c.classes.target), ("rival", c.classes.rival)] {
        if digit as usize >= NUM_CLASSES {
            return bad(format!(
                "field `{field}config.classes.{name}` is {digit}, not a digit"
            ));
        }
    }
    if !(1..=ROWS).contains(&c.max_bar) {
        return bad(format!(
            "field `{field}config.max_bar` is {}, not in 1..={ROWS}",
            c.max_bar
        ));
    }
    if c.mc.is_some_and(|m| m.passes == 0) {
        return bad(format!("field `{field}config.mc.passes` is 0"));
    }
    for (group, flips) in [("erased", &b.erased), ("painted", &b.painted)] {
        if flips.len() > c.per_class {
            return bad(format!(
                "field `{field}{group}` holds {} images, more than per_class ({})",
                flips.len(),
                c.per_class
            ));
        }
        for (i, f) in flips.iter().enumerate() {
            check_flip(f)
                .map_err(|what| StudyError::format(path, format!("field `{field}{group}[{i}]` {what}")))?;
        }
    }
    Ok(())
}

/// What is wrong with one image's flip, if anything.
fn check_flip(f: &ImageFlip) -> Result<(), String> {
    if let Some(r) = f.rows.filter(|r| !(1..=ROWS).contains(r)) {
        return Err(format!("has rows {r}, not in 1..={ROWS}"));
    }
    if let Some((a, b)) = f.at.filter(|&(a, b)| a > b || b >= ROWS) {
        return Err(format!("has rows {a}-{b}, not a range of the 28 rows"));
    }
    if let Some(d) = f.became.filter(|&d| d as usize >= NUM_CLASSES) {
        return Err(format!("became {d}, not a digit"));
    }
    Ok(())
}

/// The two lines `probe row-sweep --batch` has always printed: per class, how many images
/// flip and the mean rows (erased, or of the bar) it took.
pub fn flip_lines(b: &BatchSweep) -> String {
    let classes = b.config.classes;
    [
        (classes.target, &b.erased, "rows erased"),
        (classes.rival, &b.painted, "bar rows"),
    ]
    .into_iter()
    .map(|(digit, flips, what)| {
        let (mean, flipped) = BatchSweep::mean_rows(flips);
        format!(
            "{digit}s: {flipped}/{} flip; mean {what} to flip {}",
            flips.len(),
            mean.map_or("—".into(), |m| format!("{m:.2}"))
        )
    })
    .collect::<Vec<_>>()
    .join("\n")
}

impl Study for BatchSweepStudy {
    const ID: &'static str = "batch-sweep";
    const TITLE: &'static str = "Batch row sweep";
    const ABOUT: &'static str = "Seed S1 over many test images: the fewest erased rows (or the thinnest bar) that change each prediction.";
    const RESULTS_FILE: &'static str = RESULTS_FILE;
    const NEEDS: Needs = Needs::MODEL_AND_DATA;
    const HOME: Home = Home::SharedFolder;
    const TIE: Tie = Tie::Data;
    const LANE: Lane = Lane::Probe;
    const DEFAULT_DEVICE: &'static str = "flex";
    const SPREADS: bool = true;

    type Config = BatchSweepSettings;
    type Args = BatchSweepArgs;
    type Results = BatchSweep;

    fn config_from_args(
        args: BatchSweepArgs,
        _run: Option<&RunConfig>,
    ) -> Result<BatchSweepSettings, StudyError> {
        Ok(BatchSweepSettings {
            per_class: args.per_class as usize,
            target: args.target,
            rival: args.rival,
            max_bar: args.max_bar as usize,
            mc_passes: args.mc_passes.map(|n| n as usize),
        })
    }

    fn quick_config(_run: Option<&RunConfig>) -> BatchSweepSettings {
        BatchSweepSettings {
            per_class: 2,
            max_bar: 3,
            ..BatchSweepSettings::default()
        }
    }

    fn validate(config: &BatchSweepSettings) -> Result<(), StudyError> {
        check_batch_settings("per_class", config.per_class, config.target, config.rival)?;
        if !(1..=ROWS).contains(&config.max_bar) {
            return Err(StudyError::Config(format!(
                "max_bar: {} is not in 1..={ROWS}",
                config.max_bar
            )));
        }
        check_mc_passes(config.mc_passes)
    }

    fn folder_label(_config: &BatchSweepSettings) -> String {
        "batch-sweep".into()
    }

    fn run(
        config: &BatchSweepSettings,
        inputs: &StudyInputs,
        reporter: &mut Reporter,
    ) -> Result<BatchSweep, StudyError> {
        Self::validate(config)?;
        let model = inputs.model()?;
        let data = inputs.data()?;
        batch_sweep(model, &data.test, &config.engine_config(), &inputs.devices()?, reporter)
    }

    fn save(results: &BatchSweep, dir: &Path) -> Result<(), StudyError> {
        write_json(&dir.join(RESULTS_FILE), results)
    }

    fn load(dir: &Path) -> Result<BatchSweep, StudyError> {
        let path = dir.join(RESULTS_FILE);
        let results: BatchSweep = read_json(&path)?;
        check_batch(&path, "", &results)?;
        Ok(results)
    }

    fn figures(results: &BatchSweep) -> Vec<Figure> {
        vec![figure(results)]
    }

    fn summary(results: &BatchSweep) -> String {
        flip_lines(results) + &devices_summary(&results.devices, None)
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
    /// The device that ran this image (empty in results written before batch sweeps spread).
    #[serde(default)]
    pub device: String,
    /// Seconds it took there.
    #[serde(default)]
    pub seconds: f64,
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
    /// Each device's share of the images (empty before batch sweeps spread).
    #[serde(default)]
    pub devices: Vec<DeviceTally>,
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

fn histogram_panel(c: &mut Canvas, axes: Axes, counts: &[usize], title: &str, x_label: &str, color: [u8; 3]) {
    axes.draw(c, title, x_label, "images");
    for (k, &n) in counts.iter().enumerate() {
        axes.bar(c, k as f64 + 0.6, k as f64 + 1.4, n as f64, color);
    }
}

/// Batch mode: how many rows must be erased (target class) or painted (rival class)
/// before the prediction changes.
pub fn figure(b: &BatchSweep) -> Figure {
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
