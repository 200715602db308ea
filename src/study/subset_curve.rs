//! Seed [S2](crate#seed-studies)'s training-set-size curve as a study: the same model and
//! epochs trained on growing stratified fractions of the training set (1/16 … 1 by default),
//! each then measured on its own training images and on the test set.
//!
//! Results folder: `subset_curve.json`, rewritten (atomically) after every fraction, so a
//! cancelled curve keeps the fractions it finished and running it again into the same folder
//! with the same settings resumes at the next one; figure `subset_sizes`.

use std::path::Path;
use std::sync::Arc;

use clap::builder::TypedValueParser as _;
use serde::{Deserialize, Serialize};

use super::{DataInfo, preset};
use super::{Home, Needs, Study, StudyError, StudyInputs, Tie, read_json, write_json};
use crate::data::Dataset;
use crate::device::SelectedDevice;
use crate::experiment::pool::{ItemContext, ItemFailure, ItemWork, spread};
use crate::experiment::train_item::train_item;
use crate::figure::plot::{Axes, MUTED, PAPER, SERIES, legend, tick_label};
use crate::figure::{Anchor, Canvas};
use crate::jobs::Reporter;
use crate::model::ModelSpec;
use crate::report::{Figure, title};
use crate::run::RunConfig;
use crate::train::job::training_indices;
use crate::train::{Schedule, Subset, TrainConfig, TrainJob, evaluate};

/// Settings of a size curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubsetCurveConfig {
    /// Shares of the training set, each in (0, 1].
    pub fractions: Vec<f64>,
    /// The training run used for every fraction (its `subset` is replaced by each fraction).
    pub train: TrainConfig,
}

impl Default for SubsetCurveConfig {
    fn default() -> Self {
        Self {
            fractions: vec![1.0 / 16.0, 1.0 / 8.0, 0.25, 0.5, 1.0],
            train: TrainConfig {
                model: ModelSpec::preset("seed3-cnn").expect("preset"),
                epochs: 10,
                // Random rotation/shift/scale: without it 1/16 of the data (3,750 images)
                // overfits to 97.6 % test accuracy in 10 epochs; with it, 98.6 %.
                augment: true,
                schedule: Schedule::Cosine,
                evaluate_each_epoch: false,
                ..TrainConfig::default()
            },
        }
    }
}

impl SubsetCurveConfig {
    /// Checks the fractions and the training settings.
    pub fn validate(&self) -> Result<(), StudyError> {
        if self.fractions.is_empty() || self.fractions.len() > 20 {
            return Err(StudyError::Config("give 1 to 20 fractions".into()));
        }
        if let Some(f) = self.fractions.iter().find(|f| !(**f > 0.0 && **f <= 1.0)) {
            return Err(StudyError::Config(format!(
                "fractions must be in (0, 1], got {f}"
            )));
        }
        self.train
            .validate()
            .map_err(|e| StudyError::Config(e.to_string()))
    }

    /// The training settings of one fraction.
    pub fn config_for(&self, fraction: f64) -> TrainConfig {
        TrainConfig {
            subset: if fraction >= 1.0 {
                Subset::All
            } else {
                Subset::Fraction { fraction }
            },
            evaluate_each_epoch: false,
            ..self.train.clone()
        }
    }
}

/// One point of the curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FractionResult {
    /// Share of the training set.
    pub fraction: f64,
    /// Training images used.
    pub train_size: usize,
    /// Mean cross-entropy on those images (eval mode, after training).
    pub train_loss: f64,
    /// Accuracy on those images.
    pub train_accuracy: f64,
    /// Mean cross-entropy on the test set.
    pub test_loss: f64,
    /// Accuracy on the test set.
    pub test_accuracy: f64,
    /// Training steps taken.
    pub steps: usize,
    /// Seconds training and measuring took.
    pub seconds: f64,
    /// The device that trained it (empty in files of earlier versions).
    #[serde(default)]
    pub device: String,
}

/// A size curve, complete or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubsetCurveResults {
    /// Always `subset-curve`.
    pub kind: String,
    /// Its settings.
    pub config: SubsetCurveConfig,
    /// The data it ran on.
    pub data: DataInfo,
    /// Finished points, smallest fraction first.
    pub points: Vec<FractionResult>,
}

/// File name of the results JSON.
pub const RESULTS_FILE: &str = "subset_curve.json";

/// The `experiment subset-curve` study.
pub struct SubsetCurve;

/// Flags of `experiment subset-curve`.
#[derive(Debug, clap::Args)]
pub struct CurveArgs {
    /// Architecture (a preset name).
    #[arg(long, default_value = "seed3-cnn")]
    model: String,
    /// Fractions of the training set, comma-separated, each in (0, 1].
    #[arg(long, value_delimiter = ',', default_value = "0.0625,0.125,0.25,0.5,1")]
    fractions: Vec<f64>,
    /// Epochs for every fraction.
    #[arg(long, default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=1000).map(|n| n as usize))]
    epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=60_000).map(|n| n as usize))]
    batch_size: usize,
    /// Adam learning rate (cosine decay over each run).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Train without the random rotation/shift/scale (on by default: it is what keeps the
    /// smallest fractions from overfitting).
    #[arg(long)]
    no_augment: bool,
    /// Seed of initialisation, subsets, shuffling and augmentation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl Study for SubsetCurve {
    const ID: &'static str = "subset-curve";
    const TITLE: &'static str = "Size curve";
    const ABOUT: &'static str = "Seed S2: one model trained on growing fractions of the training set";
    const RESULTS_FILE: &'static str = RESULTS_FILE;
    const NEEDS: Needs = Needs {
        model: false,
        run_folder: false,
        data: true,
        device: true,
    };
    const HOME: Home = Home::NewFolder;
    const TIE: Tie = Tie::Nothing;
    const RESUMES: bool = true;
    const SPREADS: bool = true;

    type Config = SubsetCurveConfig;
    type Args = CurveArgs;
    type Results = SubsetCurveResults;

    fn config_from_args(a: CurveArgs, _run: Option<&RunConfig>) -> Result<SubsetCurveConfig, StudyError> {
        let mut config = SubsetCurveConfig {
            fractions: a.fractions,
            ..SubsetCurveConfig::default()
        };
        config.train.model = preset(&a.model)?;
        config.train.epochs = a.epochs;
        config.train.batch_size = a.batch_size;
        config.train.learning_rate = a.lr;
        config.train.augment = !a.no_augment;
        config.train.seed = a.seed;
        Ok(config)
    }

    fn quick_config(_run: Option<&RunConfig>) -> SubsetCurveConfig {
        let mut config = SubsetCurveConfig {
            fractions: vec![0.25, 1.0],
            ..SubsetCurveConfig::default()
        };
        if let Some(mlp) = crate::model::ModelSpec::preset("mlp") {
            config.train.model = mlp;
        }
        config.train.epochs = 1;
        config.train.augment = false;
        config
    }

    fn validate(config: &SubsetCurveConfig) -> Result<(), StudyError> {
        config.validate()
    }

    fn folder_label(config: &SubsetCurveConfig) -> String {
        format!(
            "subset-curve-{}",
            config.train.model.preset_name().unwrap_or("custom")
        )
    }

    fn run(
        config: &SubsetCurveConfig,
        inputs: &StudyInputs,
        reporter: &mut Reporter,
    ) -> Result<SubsetCurveResults, StudyError> {
        run_subset_curve(
            config,
            inputs.shared_data()?,
            &inputs.devices()?,
            inputs.out.as_deref(),
            reporter,
        )
    }

    fn save(results: &SubsetCurveResults, dir: &Path) -> Result<(), StudyError> {
        results.save(dir)
    }

    fn load(dir: &Path) -> Result<SubsetCurveResults, StudyError> {
        SubsetCurveResults::load(dir)
    }

    fn figures(results: &SubsetCurveResults) -> Vec<Figure> {
        vec![figure(results)]
    }

    fn summary(r: &SubsetCurveResults) -> String {
        let several_devices = r.points.iter().any(|p| p.device != r.points[0].device);
        let mut text = String::from("fraction  images  train_loss  train_acc  test_loss  test_acc  seconds");
        if several_devices {
            text.push_str("  device");
        }
        for p in &r.points {
            text.push_str(&format!(
                "\n{:8.4}  {:6}  {:10.4}  {:9.4}  {:9.4}  {:8.4}  {:7.1}",
                p.fraction,
                p.train_size,
                p.train_loss,
                p.train_accuracy,
                p.test_loss,
                p.test_accuracy,
                p.seconds
            ));
            if several_devices {
                text.push_str(&format!("  {}", p.device));
            }
        }
        text
    }
}

impl SubsetCurveResults {
    /// Whether every fraction is done.
    pub fn is_complete(&self) -> bool {
        self.config
            .fractions
            .iter()
            .all(|f| self.points.iter().any(|p| p.fraction == *f))
    }

    /// Writes `subset_curve.json` into `dir` (created if missing) atomically.
    pub fn save(&self, dir: &Path) -> Result<(), StudyError> {
        std::fs::create_dir_all(dir).map_err(|e| StudyError::io(dir, e))?;
        write_json(&dir.join(RESULTS_FILE), self)
    }

    /// Reads `subset_curve.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, StudyError> {
        let path = dir.join(RESULTS_FILE);
        let r: Self = read_json(&path)?;
        if r.kind != "subset-curve" {
            return Err(StudyError::format(
                &path,
                format!("holds a {} experiment", r.kind),
            ));
        }
        for (i, p) in r.points.iter().enumerate() {
            let field = |name: &str| format!("points[{i}].{name}");
            for (name, value, is_share) in [
                ("fraction", p.fraction, true),
                ("train_accuracy", p.train_accuracy, true),
                ("test_accuracy", p.test_accuracy, true),
                ("train_loss", p.train_loss, false),
                ("test_loss", p.test_loss, false),
                ("seconds", p.seconds, false),
            ] {
                crate::study::check_figure(&path, &field(name), value, is_share)?;
            }
            if p.train_size == 0 || p.train_size > crate::data::sources::MAX_SYNTHETIC_TRAIN {
                return Err(StudyError::format(
                    &path,
                    format!(
                        "field `{}` is {}; no training set has that many images",
                        field("train_size"),
                        p.train_size
                    ),
                ));
            }
        }
        Ok(r)
    }
}

/// Trains and measures every fraction not yet in `dir`'s results (all of them without a
/// folder), saving after each. Earlier results with other settings or data are not reused.
/// The fractions are spread over `devices` ([`crate::experiment::pool`]); a point's figures
/// do not depend on which device trained it.
pub fn run_subset_curve(
    config: &SubsetCurveConfig,
    data: &Arc<Dataset>,
    devices: &[SelectedDevice],
    dir: Option<&Path>,
    reporter: &mut Reporter,
) -> Result<SubsetCurveResults, StudyError> {
    config.validate()?;
    let info = DataInfo::of(data);
    let mut results = SubsetCurveResults {
        kind: "subset-curve".into(),
        config: config.clone(),
        data: info.clone(),
        points: Vec::new(),
    };
    if let Some(dir) = dir
        && dir.join(RESULTS_FILE).exists()
    {
        let earlier = SubsetCurveResults::load(dir)?;
        if earlier.config.train != config.train || !earlier.data.same_data(&info) {
            // Never overwrite finished fractions of another curve.
            return Err(StudyError::format(
                &dir.join(RESULTS_FILE),
                "holds a curve of other training settings or other data; choose another results \
                 folder (the finished fractions are kept)",
            ));
        }
        results.points = earlier
            .points
            .into_iter()
            .filter(|p| config.fractions.contains(&p.fraction))
            .collect();
    }
    let mut todo: Vec<f64> = config
        .fractions
        .iter()
        .copied()
        .filter(|f| !results.points.iter().any(|p| p.fraction == *f))
        .collect();
    // One device draws the curve from the left; several start the long fractions first, so
    // that no device is left with the largest one at the end.
    if devices.len() > 1 {
        todo.sort_by(|a, b| b.total_cmp(a));
    } else {
        todo.sort_by(|a, b| a.total_cmp(b));
    }
    let work = FractionWork { config, data };
    spread(&work, &todo, devices, reporter, &mut |done| {
        let mut point = done.output;
        point.seconds = done.placement.seconds;
        point.device = done.placement.device;
        results.points.push(point);
        results.points.sort_by(|a, b| a.fraction.total_cmp(&b.fraction));
        match dir {
            Some(dir) => results.save(dir),
            None => Ok(()),
        }
    })?;
    reporter.progress("done", 1.0);
    Ok(results)
}

/// Training the fractions of a size curve, as pool work.
struct FractionWork<'a> {
    config: &'a SubsetCurveConfig,
    data: &'a Arc<Dataset>,
}

impl ItemWork for FractionWork<'_> {
    type Item = f64;
    type Output = FractionResult;

    fn label(&self, fraction: &f64) -> String {
        format!("fraction {fraction:.4}")
    }

    /// Progress is measured in training images × epochs, which is what the time goes into.
    fn weight(&self, fraction: &f64) -> f64 {
        fraction * self.data.train.len() as f64
    }

    fn run(
        &self,
        &fraction: &f64,
        device: &SelectedDevice,
        ctx: &ItemContext,
    ) -> Result<FractionResult, ItemFailure> {
        let train_config = self.config.config_for(fraction);
        let indices = training_indices(&train_config, self.data);
        let job = TrainJob {
            run_id: 0,
            config: train_config,
            data: self.data.clone(),
            run_dir: None,
            resume: None,
            device: Some(device.clone()),
            model_slot: None,
        };
        let label = format!("fraction {fraction:.4} ({} images)", indices.len());
        let trained = train_item(job, ctx, &label)?;
        let subset = self.data.train.select(&indices);
        let on_train = evaluate(&trained.model, &subset, &device.device);
        let on_test = evaluate(&trained.model, &self.data.test, &device.device);
        Ok(FractionResult {
            fraction,
            train_size: indices.len(),
            train_loss: on_train.loss,
            train_accuracy: on_train.accuracy,
            test_loss: on_test.loss,
            test_accuracy: on_test.accuracy,
            steps: trained.steps,
            seconds: 0.0, // the pool's measure, set when the point is handed back
            device: device.name.clone(),
        })
    }
}

/// Seed S2's size curve: loss and accuracy against training-set size on log-log axes; the
/// table as CSV.
pub fn figure(r: &SubsetCurveResults) -> Figure {
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
    let x_ticks = crate::figure::plot::log_ticks(x_lo, x_hi, size_label);
    let loss_ticks = crate::figure::plot::log_ticks(loss_axes.y_range.0, loss_axes.y_range.1, |v| format!("{v}"));
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
    let series = |f: &dyn Fn(&FractionResult) -> f64| -> Vec<(f64, f64)> {
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
