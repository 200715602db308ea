//! The model on the digits the user drew on the pad and labelled (seed S3's web demo
//! feedback, [`crate::data::drawings`]) as a study: accuracy, per digit, the confusion of
//! true against predicted digit, and which drawings it reads wrong. The settings carry the
//! drawings themselves, so a results folder says exactly what was evaluated. A probe:
//! `probe feedback --drawn DIR` (the `<runs>/drawn-digits` folder the app keeps), the probe
//! lane in the app (Evaluate under the pad).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Home, Lane, Needs, Study, StudyError, StudyInputs, Tie, check_figure, read_json, write_json};
use crate::analysis::colormap::{sequential, text_on};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
use crate::figure::plot::{Axes, BAD, GOOD, INK, MUTED, PAPER, digit_grid};
use crate::figure::{Anchor, Canvas};
use crate::jobs::Reporter;
use crate::data::drawings::DrawnDigits;
use crate::report::Figure;
use crate::run::RunConfig;

/// The `probe feedback` study.
pub struct Feedback;

/// Settings: the labelled drawings evaluated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedbackConfig {
    /// The drawings and the digit the user says each is.
    pub digits: DrawnDigits,
}

/// Flags of `probe feedback`.
#[derive(Debug, clap::Args)]
pub struct FeedbackArgs {
    /// Folder of labelled drawings written by the app (`<runs>/drawn-digits`, MNIST-named IDX files).
    #[arg(long, value_name = "DIR")]
    drawn: PathBuf,
}

/// A drawing the model reads as another digit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrongDigit {
    /// Its place among the drawings (0-based, in the order they were labelled).
    pub index: usize,
    /// The digit the user says it is.
    pub label: u8,
    /// The digit the model reads.
    pub predicted: u8,
    /// 784 bytes, 0 = background (for the figure).
    pub pixels: Vec<u8>,
}

/// How the current model reads the drawings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackResults {
    /// Drawings evaluated.
    pub digits: usize,
    /// Share read right.
    pub accuracy: f64,
    /// (read right, drawn) per true digit.
    pub per_class: [(usize, usize); NUM_CLASSES],
    /// `[true][predicted]` counts.
    pub confusion: [[u32; NUM_CLASSES]; NUM_CLASSES],
    /// The drawings read wrong, in order.
    pub wrong: Vec<WrongDigit>,
}

impl FeedbackResults {
    /// Drawings read right.
    pub fn right(&self) -> usize {
        self.per_class.iter().map(|(r, _)| r).sum()
    }

    /// The drawn digit read right least often (share, then fewer drawings first), with its
    /// (right, total); None when every drawing is read right.
    pub fn hardest(&self) -> Option<(u8, usize, usize)> {
        (0..NUM_CLASSES)
            .filter(|&d| self.per_class[d].0 < self.per_class[d].1)
            .min_by(|&a, &b| {
                let share = |d: usize| self.per_class[d].0 as f64 / self.per_class[d].1 as f64;
                share(a).total_cmp(&share(b))
            })
            .map(|d| (d as u8, self.per_class[d].0, self.per_class[d].1))
    }
}

/// Results file (the figure's numbers are `drawn_digits.json`).
pub const RESULTS_FILE: &str = "feedback_results.json";

/// Wrong drawings shown in the figure.
const SHOWN_WRONG: usize = 20;

impl Study for Feedback {
    const ID: &'static str = "feedback";
    const TITLE: &'static str = "Drawn digits";
    const ABOUT: &'static str =
        "Accuracy of the model on digits drawn and labelled in the app (a drawn-digits folder).";
    const RESULTS_FILE: &'static str = RESULTS_FILE;
    const NEEDS: Needs = Needs {
        model: true,
        run_folder: false,
        data: false,
        device: true,
    };
    const HOME: Home = Home::SharedFolder;
    const TIE: Tie = Tie::Model;
    const LANE: Lane = Lane::Probe;
    const DEFAULT_DEVICE: &'static str = "flex";

    type Config = FeedbackConfig;
    type Args = FeedbackArgs;
    type Results = FeedbackResults;

    fn config_from_args(args: FeedbackArgs, _run: Option<&RunConfig>) -> Result<FeedbackConfig, StudyError> {
        let dir = &args.drawn;
        let digits = DrawnDigits::load(dir).map_err(|e| {
            StudyError::Config(format!(
                "--drawn {}: cannot read the drawn digits: {e}",
                dir.display()
            ))
        })?;
        if digits.digits.is_empty() {
            return Err(StudyError::Config(format!(
                "--drawn {}: holds no drawn digits",
                dir.display()
            )));
        }
        Ok(FeedbackConfig { digits })
    }

    fn quick_config(_run: Option<&RunConfig>) -> FeedbackConfig {
        FeedbackConfig {
            digits: sample_drawings(),
        }
    }

    fn validate(config: &FeedbackConfig) -> Result<(), StudyError> {
        if config.digits.digits.is_empty() {
            return Err(StudyError::Config(
                "digits: no drawn digits to evaluate; label some under the pad".into(),
            ));
        }
        for (i, d) in config.digits.digits.iter().enumerate() {
            if d.pixels.len() != IMAGE_PIXELS {
                let n = d.pixels.len();
                return Err(StudyError::Config(format!(
                    "digits[{i}].pixels: {n} values, not {IMAGE_PIXELS}"
                )));
            }
            if d.label as usize >= NUM_CLASSES {
                return Err(StudyError::Config(format!(
                    "digits[{i}].label: {} is not a digit (0 to 9)",
                    d.label
                )));
            }
        }
        Ok(())
    }

    fn folder_label(_config: &FeedbackConfig) -> String {
        "drawn-digits-evaluation".into()
    }

    fn run(
        config: &FeedbackConfig,
        inputs: &StudyInputs,
        reporter: &mut Reporter,
    ) -> Result<FeedbackResults, StudyError> {
        let (model, device) = inputs.model_on_device()?;
        Self::validate(config)?;
        reporter.progress("reading the drawn digits", 0.0);
        let set = config.digits.to_digits();
        let report = crate::train::eval::evaluate(model, &set, &device);
        let mut per_class = [(0usize, 0usize); NUM_CLASSES];
        for (d, row) in report.confusion.iter().enumerate() {
            per_class[d] = (row[d] as usize, row.iter().sum::<u32>() as usize);
        }
        let wrong = config
            .digits
            .digits
            .iter()
            .zip(&report.predictions)
            .enumerate()
            .filter(|(_, (d, p))| d.label != **p)
            .map(|(index, (d, &predicted))| WrongDigit {
                index,
                label: d.label,
                predicted,
                pixels: d.pixels.clone(),
            })
            .collect();
        reporter.progress("done", 1.0);
        Ok(FeedbackResults {
            digits: set.len(),
            accuracy: report.accuracy,
            per_class,
            confusion: report.confusion,
            wrong,
        })
    }

    fn save(results: &FeedbackResults, dir: &Path) -> Result<(), StudyError> {
        write_json(&dir.join(RESULTS_FILE), results)
    }

    fn load(dir: &Path) -> Result<FeedbackResults, StudyError> {
        let path = dir.join(RESULTS_FILE);
        let r: FeedbackResults = read_json(&path)?;
        let bad = |cause: String| StudyError::format(&path, cause);
        if r.digits == 0 {
            return Err(bad("field `digits` is 0; expected at least one drawing".into()));
        }
        check_figure(&path, "accuracy", r.accuracy, true)?;
        let mut total = 0;
        for (d, row) in r.confusion.iter().enumerate() {
            let drawn = row.iter().sum::<u32>() as usize;
            if r.per_class[d] != (row[d] as usize, drawn) {
                let (right, n) = r.per_class[d];
                return Err(bad(format!(
                    "field `per_class[{d}]` is ({right}, {n}) but `confusion[{d}]` holds {} right of {drawn}",
                    row[d]
                )));
            }
            total += drawn;
        }
        if total != r.digits {
            return Err(bad(format!(
                "field `confusion` counts {total} drawings, `digits` {}",
                r.digits
            )));
        }
        let right = r.right();
        if (r.accuracy - right as f64 / r.digits as f64).abs() > 1e-9 {
            return Err(bad(format!(
                "field `accuracy` is {} but {right} of {} are right",
                r.accuracy, r.digits
            )));
        }
        if r.wrong.len() != r.digits - right {
            return Err(bad(format!(
                "field `wrong` lists {} drawings; {} are wrong",
                r.wrong.len(),
                r.digits - right
            )));
        }
        for (i, w) in r.wrong.iter().enumerate() {
            if w.index >= r.digits {
                return Err(bad(format!(
                    "field `wrong[{i}].index` is {}; there are {} drawings",
                    w.index, r.digits
                )));
            }
            for (name, v) in [("label", w.label), ("predicted", w.predicted)] {
                if v as usize >= NUM_CLASSES {
                    return Err(bad(format!(
                        "field `wrong[{i}].{name}` is {v}; expected a digit (0 to 9)"
                    )));
                }
            }
            if w.label == w.predicted {
                return Err(bad(format!("field `wrong[{i}]` is read right ({})", w.label)));
            }
            if w.pixels.len() != IMAGE_PIXELS {
                let n = w.pixels.len();
                return Err(bad(format!(
                    "field `wrong[{i}].pixels` has {n} values, not {IMAGE_PIXELS}"
                )));
            }
        }
        Ok(r)
    }

    fn figures(results: &FeedbackResults) -> Vec<Figure> {
        vec![figure(results)]
    }

    fn summary(r: &FeedbackResults) -> String {
        let hardest = match r.hardest() {
            Some((d, right, total)) => format!("; hardest digit {d}: {right} of {total} right"),
            None => "; none wrong".into(),
        };
        format!(
            "{} drawn digits: the model reads {} right ({:.1} %){hardest}",
            r.digits,
            r.right(),
            100.0 * r.accuracy
        )
    }
}

/// Per-digit accuracy as bars (drawn count under each), the confusion of true against
/// predicted digit, and the first drawings read wrong; the numbers as JSON (without pixels).
pub fn figure(r: &FeedbackResults) -> Figure {
    let mut c = Canvas::new(1100, 620, PAPER);
    crate::report::title(
        &mut c,
        &format!(
            "Drawn digits: {} labelled, the model reads {} right ({:.1} %)",
            r.digits,
            r.right(),
            100.0 * r.accuracy
        ),
    );
    let axes = Axes {
        x: 80.0,
        y: 80.0,
        w: 460.0,
        h: 260.0,
        x_range: (0.0, NUM_CLASSES as f64),
        y_range: (0.0, 100.0),
    };
    axes.draw_with_ticks(
        &mut c,
        "Read right, per drawn digit",
        "",
        "accuracy (%)",
        &[],
        &[0.0, 25.0, 50.0, 75.0, 100.0].map(|v| (v, format!("{v:.0}"))),
    );
    for (d, &(right, total)) in r.per_class.iter().enumerate() {
        let (x, _) = axes.map(d as f64 + 0.5, 0.0);
        c.text(
            x,
            axes.y + axes.h + 14.0,
            12.0,
            INK,
            Anchor::Center,
            &d.to_string(),
        );
        if total == 0 {
            c.text(x, axes.y + axes.h + 30.0, 10.0, MUTED, Anchor::Center, "none");
            continue;
        }
        let share = 100.0 * right as f64 / total as f64;
        let color = if right == total { GOOD } else { BAD };
        axes.bar(&mut c, d as f64 + 0.15, d as f64 + 0.85, share, color);
        let (_, y) = axes.map(d as f64 + 0.5, share);
        c.text(x, y - 8.0, 10.0, INK, Anchor::Center, &format!("{share:.0}"));
        c.text(
            x,
            axes.y + axes.h + 30.0,
            10.0,
            MUTED,
            Anchor::Center,
            &format!("{right}/{total}"),
        );
    }
    confusion_grid(&mut c, r, 700.0, 80.0, 26.0);
    let shown: Vec<&[u8]> = r
        .wrong
        .iter()
        .take(SHOWN_WRONG)
        .map(|w| w.pixels.as_slice())
        .collect();
    let captions: Vec<(String, [u8; 3])> = r
        .wrong
        .iter()
        .take(SHOWN_WRONG)
        .map(|w| (format!("#{} {}→{}", w.index, w.label, w.predicted), BAD))
        .collect();
    let heading = match r.wrong.len() {
        0 => "Every drawing is read right".to_string(),
        n if n > SHOWN_WRONG => format!("Read wrong (first {SHOWN_WRONG} of {n}; drawn → read)"),
        n => format!("Read wrong ({n}; drawn → read)"),
    };
    c.text(80.0, 408.0, 14.0, INK, Anchor::Left, &heading);
    digit_grid(&mut c, 80.0, 420.0, 10, 2.0, &shown, &captions);
    let wrong: Vec<_> = r
        .wrong
        .iter()
        .map(|w| json!({ "index": w.index, "label": w.label, "predicted": w.predicted }))
        .collect();
    let data = json!({
        "digits": r.digits,
        "accuracy": r.accuracy,
        "per_class": r.per_class.iter().map(|(right, total)| json!({ "right": right, "total": total })).collect::<Vec<_>>(),
        "confusion": r.confusion,
        "wrong": wrong,
    });
    Figure {
        name: "drawn_digits".into(),
        canvas: c,
        data: serde_json::to_string_pretty(&data).unwrap_or_default(),
        data_ext: "json",
    }
}

/// The confusion counts, each cell shaded by its share of the true digit's drawings.
fn confusion_grid(c: &mut Canvas, r: &FeedbackResults, x0: f32, y0: f32, cell: f32) {
    c.text(
        x0 + 5.0 * cell,
        y0 - 28.0,
        15.0,
        INK,
        Anchor::Center,
        "True digit × read as",
    );
    for t in 0..NUM_CLASSES {
        let (tf, label) = (t as f32, t.to_string());
        c.text(
            x0 - 12.0,
            y0 + tf * cell + cell / 2.0,
            12.0,
            INK,
            Anchor::Center,
            &label,
        );
        c.text(
            x0 + tf * cell + cell / 2.0,
            y0 - 10.0,
            12.0,
            INK,
            Anchor::Center,
            &label,
        );
        let total: u32 = r.confusion[t].iter().sum();
        for p in 0..NUM_CLASSES {
            let n = r.confusion[t][p];
            let share = if total == 0 { 0.0 } else { n as f32 / total as f32 };
            let bg = sequential(share.sqrt());
            let (x, y) = (x0 + p as f32 * cell, y0 + tf * cell);
            c.fill_rect(x, y, cell - 1.0, cell - 1.0, bg);
            if n > 0 {
                c.text(
                    x + cell / 2.0,
                    y + cell / 2.0,
                    11.0,
                    text_on(bg),
                    Anchor::Center,
                    &n.to_string(),
                );
            }
        }
    }
    let side = NUM_CLASSES as f32 * cell;
    c.text(
        x0 + side / 2.0,
        y0 + side + 18.0,
        13.0,
        INK,
        Anchor::Center,
        "read as",
    );
    c.text_vertical(x0 - 34.0, y0 + side / 2.0, 13.0, INK, "drawn digit");
}

/// A few drawings made in code (strokes through points on the 28×28 grid), for
/// [`Study::quick_config`]: two 1s, two 7s, a 0, a 4 and a bar labelled 7 (read wrong by most
/// models).
pub fn sample_drawings() -> DrawnDigits {
    let one = [(14.0, 5.0), (14.0, 22.0)];
    let slanted_one = [(16.0, 5.0), (12.0, 22.0)];
    let seven = [(8.0, 6.0), (20.0, 6.0), (12.0, 22.0)];
    let open_seven = [(7.0, 7.0), (21.0, 7.0), (15.0, 22.0)];
    let zero = [
        (14.0, 5.0),
        (20.0, 9.0),
        (20.0, 18.0),
        (14.0, 22.0),
        (8.0, 18.0),
        (8.0, 9.0),
        (14.0, 5.0),
    ];
    let four = [(17.0, 22.0), (17.0, 5.0), (7.0, 16.0), (21.0, 16.0)];
    let bar = [(6.0, 14.0), (22.0, 14.0)];
    let mut set = DrawnDigits::default();
    let strokes: [(&[(f32, f32)], u8); 7] = [
        (&one, 1),
        (&slanted_one, 1),
        (&seven, 7),
        (&open_seven, 7),
        (&zero, 0),
        (&four, 4),
        (&bar, 7),
    ];
    for (points, label) in strokes {
        set.add(&stroke(points), label, label);
    }
    set
}

/// 784 intensities of a pen stroke (about 2.5 pixels wide) through `points` (x, y).
fn stroke(points: &[(f32, f32)]) -> Vec<f32> {
    let mut image = vec![0.0f32; IMAGE_PIXELS];
    for pair in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        let steps = ((x1 - x0).abs().max((y1 - y0).abs()) * 4.0).ceil().max(1.0) as usize;
        for s in 0..=steps {
            let t = s as f32 / steps as f32;
            let (cx, cy) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            for py in 0..IMAGE_SIDE {
                for px in 0..IMAGE_SIDE {
                    let d = ((px as f32 - cx).powi(2) + (py as f32 - cy).powi(2)).sqrt();
                    let v = (1.8 - d).clamp(0.0, 1.0);
                    let i = py * IMAGE_SIDE + px;
                    image[i] = image[i].max(v);
                }
            }
        }
    }
    image
}
