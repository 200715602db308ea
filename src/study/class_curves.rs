//! Per-class accuracy over epochs, from a run's history: which digits the model learns
//! first and which it keeps getting wrong (seed [S3](crate#seed-studies) prints the
//! per-class accuracy once, at the end; this is every epoch of it). Needs only the run
//! folder's `metrics.jsonl`, no model pass; results in the run's own folder.
//!
//! This study is the worked example of ARCHITECTURE.md's "Adding a study": this file, one
//! line in `register_studies!` (`study/mod.rs`) and its panel (`ui/panels/class_curves.rs`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Home, Needs, Study, StudyError, StudyInputs, Tie, check_figure, read_json, write_json};
use crate::analysis::colormap::DIGIT_COLORS;
use crate::data::NUM_CLASSES;
use crate::figure::plot::{Axes, MUTED, PAPER};
use crate::figure::{Anchor, Canvas};
use crate::jobs::Reporter;
use crate::report::Figure;
use crate::run::{RunConfig, RunDir};
use crate::train::events::Event;

/// The `experiment class-curves` study.
pub struct ClassCurves;

/// Settings (also the subcommand's flags: clap derives them from this type).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct ClassCurvesConfig {
    /// Digits drawn in the figure, comma-separated (default: all ten).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(0..10))]
    pub digits: Vec<u8>,
}

impl ClassCurvesConfig {
    /// The digits to draw (all ten when none were chosen).
    pub fn shown(&self) -> Vec<u8> {
        if self.digits.is_empty() { (0..NUM_CLASSES as u8).collect() } else { self.digits.clone() }
    }
}

/// One epoch's test accuracy, overall and per digit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochClasses {
    /// 1-based epoch.
    pub epoch: usize,
    /// Test accuracy over all digits.
    pub accuracy: f64,
    /// Test accuracy of each digit (share of its test images classified right).
    pub per_class: [f64; NUM_CLASSES],
}

/// Per-class accuracy of every evaluated epoch of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassCurvesResults {
    /// Settings.
    pub config: ClassCurvesConfig,
    /// The run folder's name.
    pub run: String,
    /// Epochs with a test evaluation, in order.
    pub epochs: Vec<EpochClasses>,
}

impl ClassCurvesResults {
    /// The digit with the lowest accuracy at the last epoch, and that accuracy.
    pub fn hardest(&self) -> Option<(u8, f64)> {
        let last = self.epochs.last()?;
        (0..NUM_CLASSES)
            .map(|d| (d as u8, last.per_class[d]))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The first epoch at which `digit` reached `share` (None: never).
    pub fn epoch_reaching(&self, digit: u8, share: f64) -> Option<usize> {
        self.epochs
            .iter()
            .find(|e| e.per_class[digit as usize] >= share)
            .map(|e| e.epoch)
    }
}

/// Results file in the run folder.
pub const RESULTS_FILE: &str = "class_curves.json";

/// The per-class rows of a run's events (epochs evaluated on the test set only).
pub fn class_curves(events: &[Event]) -> Vec<EpochClasses> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Epoch { metrics, .. } => Some(EpochClasses {
                epoch: metrics.epoch,
                accuracy: metrics.test_accuracy?,
                per_class: metrics.per_class_accuracy?,
            }),
            _ => None,
        })
        .collect()
}

impl Study for ClassCurves {
    const ID: &'static str = "class-curves";
    const TITLE: &'static str = "Class curves";
    const ABOUT: &'static str = "Per-class test accuracy over a run's epochs (from its history; no model pass)";
    const RESULTS_FILE: &'static str = RESULTS_FILE;
    const NEEDS: Needs = Needs {
        model: false,
        run_folder: true,
        data: false,
        device: false,
    };
    const HOME: Home = Home::RunFolder;
    const TIE: Tie = Tie::Model;

    type Config = ClassCurvesConfig;
    type Args = ClassCurvesConfig;
    type Results = ClassCurvesResults;

    fn config_from_args(args: ClassCurvesConfig, _run: Option<&RunConfig>) -> Result<ClassCurvesConfig, StudyError> {
        Ok(args)
    }

    fn quick_config(_run: Option<&RunConfig>) -> ClassCurvesConfig {
        ClassCurvesConfig::default()
    }

    fn validate(config: &ClassCurvesConfig) -> Result<(), StudyError> {
        match config.digits.iter().find(|&&d| d as usize >= NUM_CLASSES) {
            Some(d) => Err(StudyError::Config(format!("digits: {d} is not a digit (0 to 9)"))),
            None => Ok(()),
        }
    }

    fn folder_label(_config: &ClassCurvesConfig) -> String {
        "class-curves".into()
    }

    fn run(config: &ClassCurvesConfig, inputs: &StudyInputs, reporter: &mut Reporter) -> Result<ClassCurvesResults, StudyError> {
        let path = inputs.run_dir()?;
        reporter.progress("reading the run's history", 0.0);
        let (dir, _) = RunDir::open(path).map_err(|e| StudyError::io(path, e))?;
        let events = dir.read_events().map_err(|e| StudyError::io(path, e))?;
        let epochs = class_curves(&events);
        if epochs.is_empty() {
            return Err(StudyError::Config(format!(
                "{}: no epoch of this run was evaluated on the test set yet",
                path.display()
            )));
        }
        reporter.progress("done", 1.0);
        let run = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(ClassCurvesResults {
            config: config.clone(),
            run,
            epochs,
        })
    }

    fn save(results: &ClassCurvesResults, dir: &Path) -> Result<(), StudyError> {
        write_json(&dir.join(RESULTS_FILE), results)
    }

    fn load(dir: &Path) -> Result<ClassCurvesResults, StudyError> {
        let path = dir.join(RESULTS_FILE);
        let results: ClassCurvesResults = read_json(&path)?;
        Self::validate(&results.config).map_err(|e| StudyError::format(&path, format!("config.{e}")))?;
        for (i, e) in results.epochs.iter().enumerate() {
            check_figure(&path, &format!("epochs[{i}].accuracy"), e.accuracy, true)?;
            for (d, &v) in e.per_class.iter().enumerate() {
                check_figure(&path, &format!("epochs[{i}].per_class[{d}]"), v, true)?;
            }
        }
        Ok(results)
    }

    fn figures(results: &ClassCurvesResults) -> Vec<Figure> {
        vec![figure(results)]
    }

    fn summary(r: &ClassCurvesResults) -> String {
        let last = r.epochs.last();
        let hardest = r
            .hardest()
            .map(|(d, a)| format!("; hardest digit {d} at {:.2} %", 100.0 * a))
            .unwrap_or_default();
        format!(
            "class curves of {}: {} evaluated epochs, final accuracy {}{hardest}",
            r.run,
            r.epochs.len(),
            last.map_or("–".into(), |e| format!("{:.2} %", 100.0 * e.accuracy)),
        )
    }
}

/// Accuracy of each shown digit against the epoch (one coloured line per digit, the overall
/// accuracy in black); the table as CSV (`epoch,accuracy,digit_0..digit_9`).
pub fn figure(r: &ClassCurvesResults) -> Figure {
    let mut c = Canvas::new(900, 480, PAPER);
    crate::report::title(&mut c, &format!("Per-class test accuracy over epochs: {}", r.run));
    let shown = r.config.shown();
    let last_epoch = r.epochs.last().map_or(1, |e| e.epoch).max(2) as f64;
    let lowest = r
        .epochs
        .iter()
        .flat_map(|e| shown.iter().map(|&d| e.per_class[d as usize]).chain([e.accuracy]))
        .fold(1.0f64, f64::min);
    let axes = Axes {
        x: 80.0,
        y: 60.0,
        w: 640.0,
        h: 360.0,
        x_range: (1.0, last_epoch),
        y_range: ((lowest - 0.02).max(0.0), 1.0),
    };
    axes.draw(&mut c, "", "epoch", "test accuracy");
    for &d in &shown {
        let points: Vec<(f64, f64)> = r.epochs.iter().map(|e| (e.epoch as f64, e.per_class[d as usize])).collect();
        axes.line(&mut c, &points, DIGIT_COLORS[d as usize], 1.5);
    }
    let overall: Vec<(f64, f64)> = r.epochs.iter().map(|e| (e.epoch as f64, e.accuracy)).collect();
    axes.line(&mut c, &overall, crate::figure::plot::INK, 3.0);
    for (i, &d) in shown.iter().enumerate() {
        let y = 70.0 + 22.0 * i as f32;
        c.fill_rect(745.0, y - 6.0, 18.0, 4.0, DIGIT_COLORS[d as usize]);
        c.text(770.0, y, 14.0, MUTED, Anchor::Left, &format!("digit {d}"));
    }
    let y = 70.0 + 22.0 * shown.len() as f32;
    c.fill_rect(745.0, y - 7.0, 18.0, 6.0, crate::figure::plot::INK);
    c.text(770.0, y, 14.0, MUTED, Anchor::Left, "all digits");
    let mut csv = String::from("epoch,accuracy");
    for d in 0..NUM_CLASSES {
        csv.push_str(&format!(",digit_{d}"));
    }
    csv.push('\n');
    for e in &r.epochs {
        csv.push_str(&format!("{},{:.6}", e.epoch, e.accuracy));
        for v in e.per_class {
            csv.push_str(&format!(",{v:.6}"));
        }
        csv.push('\n');
    }
    Figure {
        name: "class_curves".into(),
        canvas: c,
        data: csv,
        data_ext: "csv",
    }
}
