//! A hyperparameter sweep as a study: grid or random search, optionally successive halving,
//! every trial an ordinary run folder under the sweep's `runs/`; `sweep.json` and `sweep.csv`
//! in a new results folder; `--resume` (running again into the same `--out`) trains only the
//! trials that are missing.
//!
//! Its parts: `params` (the settings a sweep can vary, `--param` parsing and sampling),
//! `search` (the trials, rungs and halving, [`run_sweep`]), and here the `Study` impl and the
//! figure ([`figure`]). What is used outside is re-exported here.

use std::path::Path;

use clap::builder::TypedValueParser as _;

mod params;
mod search;

pub use params::{PARAMS, ParamInfo, ParamSpec, ParamValues, Scale, apply_param};
pub use search::{
    CSV_FILE, HALVING_ETA, MAX_TRIALS, RESULTS_FILE, RUNS_FOLDER, SweepConfig, SweepPlace, SweepResults,
    Trial, halving_survivors, planned_epochs, run_sweep, validation_split,
};

use super::preset;
use super::{Home, Needs, Study, StudyError, StudyInputs, Tie};
use crate::figure::plot::{Axes, GOOD, MUTED, PAPER, SERIES};
use crate::figure::{Anchor, Canvas};
use crate::jobs::Reporter;
use crate::report::Figure;
use crate::run::RunConfig;

/// The `experiment sweep` study.
pub struct Sweep;

/// Flags of `experiment sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// Architecture every trial starts from (a preset name; `--param model=…` varies it).
    #[arg(long, default_value = "mlp")]
    model: String,
    /// A swept setting, repeatable: NAME=v1,v2,… (a grid axis) or NAME=a:b (a range, sampled
    /// log-uniformly for lr and weight-decay, uniformly otherwise; needs --random). NAME is
    /// one of: lr, weight-decay, batch-size, dropout, momentum, optimizer, schedule, augment, model.
    #[arg(long = "param", value_name = "NAME=VALUES", required = true)]
    params: Vec<ParamSpec>,
    /// Random search: sample this many settings (default: every combination of the grid).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000).map(|n| n as usize))]
    trials: Option<usize>,
    /// Random search (with --trials; 20 settings when --trials is not given).
    #[arg(long)]
    random: bool,
    /// Successive halving: every trial trains for a ninth of the epochs, the best third by
    /// validation accuracy go on to a third, the best third of those to all the epochs.
    #[arg(long)]
    halving: bool,
    /// Epochs of a full trial.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000).map(|n| n as usize))]
    epochs: usize,
    /// Training seeds per setting (each its own trial).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100).map(|n| n as usize))]
    seeds: usize,
    /// Share of each digit's training images held out to choose by (never the test set).
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f64,
    /// Seed of the random search and the validation split; trials train with 1, 2, ….
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl Study for Sweep {
    const ID: &'static str = "sweep";
    const TITLE: &'static str = "Sweep";
    const ABOUT: &'static str =
        "Hyperparameter search: grid or random, optionally successive halving; every trial a run folder";
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

    type Config = SweepConfig;
    type Args = SweepArgs;
    type Results = SweepResults;

    fn config_from_args(a: SweepArgs, _run: Option<&RunConfig>) -> Result<SweepConfig, StudyError> {
        let mut config = SweepConfig {
            params: a.params,
            random_trials: match (a.random, a.trials) {
                (true, n) => Some(n.unwrap_or(20)),
                (false, Some(_)) => {
                    return Err(StudyError::Config("--trials samples settings: add --random".into()));
                }
                (false, None) => None,
            },
            halving: a.halving,
            epochs: a.epochs,
            seeds: a.seeds,
            val_fraction: a.val_fraction,
            seed: a.seed,
            ..SweepConfig::default()
        };
        config.base.model = preset(&a.model)?;
        config.base.augment = false;
        Ok(config)
    }

    fn quick_config(_run: Option<&RunConfig>) -> SweepConfig {
        let mut config = SweepConfig {
            params: vec![
                ParamSpec {
                    name: "lr".into(),
                    values: ParamValues::List {
                        values: vec!["0.001".into(), "0.01".into()],
                    },
                },
                ParamSpec {
                    name: "batch-size".into(),
                    values: ParamValues::List {
                        values: vec!["64".into()],
                    },
                },
            ],
            ..SweepConfig::default()
        };
        if let Some(mlp) = crate::model::ModelSpec::preset("mlp") {
            config.base.model = mlp;
        }
        config
    }

    fn validate(config: &SweepConfig) -> Result<(), StudyError> {
        config.validate()
    }

    fn folder_label(config: &SweepConfig) -> String {
        format!("sweep-{}", config.base.model.preset_name().unwrap_or("custom"))
    }

    fn run(config: &SweepConfig, inputs: &StudyInputs, reporter: &mut Reporter) -> Result<SweepResults, StudyError> {
        let dir = inputs
            .out
            .as_deref()
            .ok_or_else(|| StudyError::Config("a sweep needs a results folder for its trials' runs".into()))?;
        std::fs::create_dir_all(dir).map_err(|e| StudyError::io(dir, e))?;
        let devices = inputs.devices()?;
        let place = SweepPlace {
            data: inputs.shared_data()?,
            devices: &devices,
            dir,
        };
        run_sweep(config, &place, reporter)
    }

    fn save(results: &SweepResults, dir: &Path) -> Result<(), StudyError> {
        results.save(dir)
    }

    fn load(dir: &Path) -> Result<SweepResults, StudyError> {
        SweepResults::load(dir)
    }

    fn figures(results: &SweepResults) -> Vec<Figure> {
        vec![figure(results)]
    }

    fn summary(r: &SweepResults) -> String {
        let (spent, grid) = r.epochs_spent();
        let best = match r.best() {
            Some(t) => {
                let params: Vec<String> = t.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "best by validation: {} (seed {}): validation {:.2} %, test {:.2} %, {} epochs, \
                     run folder {} in the results folder",
                    params.join(" "),
                    t.seed,
                    100.0 * t.val_accuracy,
                    100.0 * t.test_accuracy,
                    t.epochs,
                    t.run
                )
            }
            None => "no trial finished".into(),
        };
        format!(
            "sweep: {} trials trained, {spent} epochs (every setting for the full epochs: {grid})\n{best}{}",
            r.trials.len(),
            super::devices_summary(&r.devices, None)
        )
    }
}

/// The numeric position of a trial's value of parameter `p` (its index among the values
/// seen, for names), and whether the axis is logarithmic.
fn positions(r: &SweepResults, p: &ParamSpec) -> (Vec<Option<f64>>, bool, Vec<String>) {
    let texts: Vec<&str> = r.trials.iter().map(|t| t.params.get(&p.name).map_or("", String::as_str)).collect();
    let numbers: Option<Vec<f64>> = texts.iter().map(|t| t.parse::<f64>().ok()).collect();
    match numbers {
        Some(n) => {
            let log = matches!(p.name.as_str(), "lr" | "weight-decay") && n.iter().all(|&v| v > 0.0);
            (n.into_iter().map(|v| Some(if log { v.log10() } else { v })).collect(), log, Vec::new())
        }
        None => {
            let mut names: Vec<String> = texts.iter().map(|s| s.to_string()).collect();
            names.sort();
            names.dedup();
            let pos = texts.iter().map(|t| names.iter().position(|n| n == t).map(|i| i as f64)).collect();
            (pos, false, names)
        }
    }
}

/// Validation accuracy against each swept parameter (one panel each; the last rung's trials
/// in colour, earlier rungs grey, the best ringed), and every trial as CSV.
pub fn figure(r: &SweepResults) -> Figure {
    let n = r.config.params.len().max(1);
    let panel_w = 320.0;
    let mut c = Canvas::new((60.0 + panel_w * n as f32) as usize + 20, 440, PAPER);
    crate::report::title(&mut c, "Sweep: validation accuracy against each setting");
    let legend = if r.config.halving {
        "blue: trials of the last rung · grey: earlier rungs · ringed green: best by validation"
    } else {
        "one dot per trial · ringed green: best by validation"
    };
    c.text(70.0, 44.0, 12.0, MUTED, Anchor::Left, legend);
    let top_rung = r.trials.iter().map(|t| t.rung).max().unwrap_or(0);
    let accs: Vec<f64> = r.trials.iter().map(|t| t.val_accuracy).collect();
    let lo = accs.iter().copied().fold(1.0f64, f64::min);
    let hi = accs.iter().copied().fold(0.0f64, f64::max);
    let y_range = ((lo - 0.02).max(0.0), (hi + 0.02).min(1.0).max(lo + 0.01));
    let best = r.best();
    for (i, p) in r.config.params.iter().enumerate() {
        let (pos, log, names) = positions(r, p);
        let xs: Vec<f64> = pos.iter().flatten().copied().collect();
        let (mut x0, mut x1) = (xs.iter().copied().fold(f64::MAX, f64::min), xs.iter().copied().fold(f64::MIN, f64::max));
        if x0.partial_cmp(&x1) != Some(std::cmp::Ordering::Less) {
            (x0, x1) = (x0.min(0.0) - 0.5, x0.max(0.0) + 0.5);
        }
        let pad = 0.08 * (x1 - x0);
        let axes = Axes {
            x: 70.0 + panel_w * i as f32,
            y: 60.0,
            w: panel_w - 70.0,
            h: 320.0,
            x_range: (x0 - pad, x1 + pad),
            y_range,
        };
        let label = if log { format!("log10 {}", p.name) } else { p.name.clone() };
        axes.draw(&mut c, "", &label, if i == 0 { "validation accuracy" } else { "" });
        for (t, x) in r.trials.iter().zip(&pos) {
            let Some(x) = x else { continue };
            let (px, py) = axes.map(*x, t.val_accuracy);
            let color = if t.rung == top_rung { SERIES[0] } else { MUTED };
            c.dot(px, py, 4.0, color);
            if best.is_some_and(|b| std::ptr::eq(b, t)) {
                c.dot(px, py, 7.0, GOOD);
                c.dot(px, py, 4.0, color);
            }
        }
        for (k, name) in names.iter().enumerate() {
            let (px, _) = axes.map(k as f64, y_range.0);
            c.text(px, 400.0, 12.0, MUTED, Anchor::Center, name);
        }
    }
    Figure {
        name: "sweep".into(),
        canvas: c,
        data: r.csv(),
        data_ext: "csv",
    }
}
