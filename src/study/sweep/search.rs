//! Hyperparameter sweeps: grid or random search over training settings, optionally with
//! successive halving, every trial an ordinary run folder. Choices are made on a validation
//! split held out from the training set (never the test set); the test accuracy of every
//! trial is measured after training and recorded, not used.
//!
//! Successive halving (η = 3): every trial trains for the first rung's epochs, the best third
//! by validation accuracy go on to the next rung, and so on up to the full epochs. Each rung
//! trains its survivors from scratch (so every run's schedule spans its own epochs); the
//! epochs spent are counted and compared with the full grid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, subset};
use crate::device::SelectedDevice;
use crate::experiment::pool::{DeviceTally, ItemContext, ItemFailure, ItemWork, spread};
use crate::experiment::train_item::train_item;
use crate::jobs::Reporter;
use crate::rng::Rng;
use crate::run::{RunConfig, RunDir};
use crate::study::DataInfo;
use crate::study::{StudyError, check_figure, read_json, write_json};
use crate::train::{TrainConfig, TrainJob, evaluate};

use super::params::{ParamSpec, ParamValues, apply_param};

/// Results file in the sweep's folder.
pub const RESULTS_FILE: &str = "sweep.json";
/// One row per trial, for pandas.
pub const CSV_FILE: &str = "sweep.csv";
/// The trials' run folders, inside the sweep's folder.
pub const RUNS_FOLDER: &str = "runs";

/// Halving keeps this share of trials per rung (the best third).
pub const HALVING_ETA: usize = 3;

/// Settings of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepConfig {
    /// What every trial trains (the swept params are applied on top; epochs from `epochs`).
    pub base: TrainConfig,
    /// The swept parameters, in the order given.
    pub params: Vec<ParamSpec>,
    /// Random search: this many sampled settings (None: the full grid).
    pub random_trials: Option<usize>,
    /// Successive halving over the epochs.
    pub halving: bool,
    /// Full epochs of a trial.
    pub epochs: usize,
    /// Seeds per setting (each its own trial: seed, seed + 1, …).
    pub seeds: usize,
    /// Share of each digit's training images held out for validation.
    pub val_fraction: f64,
    /// Seed of the random search and of the validation split.
    pub seed: u64,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            base: TrainConfig::default(),
            params: Vec::new(),
            random_trials: None,
            halving: false,
            epochs: 1,
            seeds: 1,
            val_fraction: 0.1,
            seed: 1,
        }
    }
}

/// Most trials one sweep may train.
pub const MAX_TRIALS: usize = 10_000;

impl SweepConfig {
    /// Refuses settings that cannot work, naming the setting.
    pub fn validate(&self) -> Result<(), StudyError> {
        let bad = |m: String| Err(StudyError::Config(m));
        if self.params.is_empty() {
            return bad("--param: give at least one, e.g. --param lr=1e-4,1e-3".into());
        }
        for p in &self.params {
            p.validate()?;
        }
        let mut names: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return bad("--param: a parameter is named twice".into());
        }
        if !(1..=1000).contains(&self.epochs) {
            return bad(format!("--epochs {}: use 1 to 1000", self.epochs));
        }
        if !(1..=100).contains(&self.seeds) {
            return bad(format!("--seeds {}: use 1 to 100", self.seeds));
        }
        if !(self.val_fraction > 0.0 && self.val_fraction < 0.5) {
            return bad(format!("--val-fraction {}: use a share above 0 and below 0.5", self.val_fraction));
        }
        match self.random_trials {
            Some(0) => return bad("--trials 0: sample at least one setting".into()),
            None if self.params.iter().any(|p| matches!(p.values, ParamValues::Range { .. })) => {
                return bad("a range (a:b) needs --random --trials N: a grid takes listed values".into());
            }
            _ => {}
        }
        let settings = self.random_trials.unwrap_or_else(|| self.grid_size());
        if settings.saturating_mul(self.seeds) > MAX_TRIALS {
            return bad(format!("{settings} settings × {} seeds is over {MAX_TRIALS} trials", self.seeds));
        }
        let mut probe = self.base.clone();
        for p in &self.params {
            for value in p.sample_values() {
                apply_param(&mut probe, &p.name, &value)?;
                probe.validate().map_err(|e| StudyError::Config(format!("--param {}={value}: {}", p.name, e.message)))?;
            }
        }
        Ok(())
    }

    fn grid_size(&self) -> usize {
        self.params.iter().map(|p| p.grid_len()).fold(1usize, usize::saturating_mul)
    }

    /// Every setting to try: the grid's combinations, or `random_trials` samples.
    pub fn settings(&self) -> Vec<BTreeMap<String, String>> {
        match self.random_trials {
            Some(n) => {
                let mut rng = Rng::derive(self.seed, 0x5EE9);
                (0..n)
                    .map(|_| self.params.iter().map(|p| (p.name.clone(), p.sample(&mut rng))).collect())
                    .collect()
            }
            None => {
                let mut out = vec![BTreeMap::new()];
                for p in &self.params {
                    let values = p.sample_values();
                    out = out
                        .into_iter()
                        .flat_map(|s| {
                            values.iter().map(move |v| {
                                let mut s = s.clone();
                                s.insert(p.name.clone(), v.clone());
                                s
                            })
                        })
                        .collect();
                }
                out
            }
        }
    }

    /// The epochs of each rung: the full epochs alone, or with halving E/9, E/3, E (at least
    /// 1, without repeats).
    pub fn rungs(&self) -> Vec<usize> {
        if !self.halving {
            return vec![self.epochs];
        }
        let mut rungs: Vec<usize> = [9, 3, 1].iter().map(|d| self.epochs.div_ceil(*d).max(1)).collect();
        rungs.dedup();
        rungs
    }

    /// The training config of a trial: the base with `params` applied, `epochs` and `seed`.
    pub fn trial_config(&self, params: &BTreeMap<String, String>, epochs: usize, seed: u64) -> Result<TrainConfig, StudyError> {
        let mut config = self.base.clone();
        // The architecture first: a preset replaces the dropout the other params may set.
        let model_first = params.iter().filter(|(n, _)| *n == "model").chain(params.iter().filter(|(n, _)| *n != "model"));
        for (name, value) in model_first {
            apply_param(&mut config, name, value)?;
        }
        config.epochs = epochs;
        config.seed = seed;
        config.evaluate_each_epoch = true;
        Ok(config)
    }
}

/// One trained trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Index of its setting in [`SweepConfig::settings`].
    pub setting: usize,
    /// The swept params' values, as given on the command line.
    pub params: BTreeMap<String, String>,
    /// Training seed.
    pub seed: u64,
    /// Rung (0 without halving).
    pub rung: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Accuracy on the validation split (held out of the training set).
    pub val_accuracy: f64,
    /// Accuracy on the test set, measured after training (never used to choose).
    pub test_accuracy: f64,
    /// Wall-clock seconds of training and measuring.
    pub seconds: f64,
    /// The device it ran on.
    pub device: String,
    /// Its run folder, relative to the sweep's folder.
    pub run: String,
}

/// A sweep's results (`sweep.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResults {
    /// Settings.
    pub config: SweepConfig,
    /// The data it ran on.
    pub data: DataInfo,
    /// Every trained trial, by rung, setting and seed.
    pub trials: Vec<Trial>,
    /// How the last run of the sweep went on each device (empty in files of earlier versions).
    #[serde(default)]
    pub devices: Vec<DeviceTally>,
}

impl SweepResults {
    /// The trial with the best validation accuracy at the last rung reached.
    pub fn best(&self) -> Option<&Trial> {
        let top = self.trials.iter().map(|t| t.rung).max()?;
        self.trials
            .iter()
            .filter(|t| t.rung == top)
            .max_by(|a, b| a.val_accuracy.total_cmp(&b.val_accuracy))
    }

    /// Epochs trained in all, and what the full grid (every trial for the full epochs) costs.
    pub fn epochs_spent(&self) -> (usize, usize) {
        let spent = self.trials.iter().fold(0usize, |sum, t| sum.saturating_add(t.epochs));
        let settings = self.trials.iter().map(|t| (t.setting, t.seed)).collect::<std::collections::BTreeSet<_>>();
        (spent, settings.len().saturating_mul(self.config.epochs))
    }

    /// Writes `sweep.json` and `sweep.csv` (each atomically).
    pub fn save(&self, dir: &Path) -> Result<(), StudyError> {
        write_json(&dir.join(RESULTS_FILE), self)?;
        let csv = self.csv();
        crate::fsutil::atomic_write(&dir.join(CSV_FILE), csv.as_bytes()).map_err(|e| StudyError::io(&dir.join(CSV_FILE), e))
    }

    /// One row per trial: its params, then the figures (every field escaped by the CSV writer).
    pub fn csv(&self) -> String {
        use crate::textfmt::csv_field;
        let names: Vec<&str> = self.config.params.iter().map(|p| p.name.as_str()).collect();
        let mut out = String::new();
        let header: Vec<String> = names
            .iter()
            .map(|n| csv_field(n).into_owned())
            .chain(["seed", "rung", "epochs", "val_accuracy", "test_accuracy", "seconds", "device", "run"].map(String::from))
            .collect();
        out.push_str(&header.join(","));
        out.push('\n');
        for t in &self.trials {
            let mut row: Vec<String> =
                names.iter().map(|n| csv_field(t.params.get(*n).map_or("", String::as_str)).into_owned()).collect();
            row.extend([
                t.seed.to_string(),
                t.rung.to_string(),
                t.epochs.to_string(),
                format!("{:.6}", t.val_accuracy),
                format!("{:.6}", t.test_accuracy),
                format!("{:.3}", t.seconds),
                csv_field(&t.device).into_owned(),
                csv_field(&t.run).into_owned(),
            ]);
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out
    }

    /// Reads `sweep.json`, checking every figure.
    pub fn load(dir: &Path) -> Result<Self, StudyError> {
        let path = dir.join(RESULTS_FILE);
        let r: SweepResults = read_json(&path)?;
        let settings = r.config.settings();
        let seeds = r.config.base.seed..r.config.base.seed.saturating_add(r.config.seeds as u64);
        let bad = |i: usize, field: &str, what: String| StudyError::format(&path, format!("field `trials[{i}].{field}` {what}"));
        for (i, t) in r.trials.iter().enumerate() {
            // What a trial is must be what the sweep's own settings say: a continued sweep
            // skips the trials it finds, and the summary names the best one's params.
            let Some(setting) = settings.get(t.setting) else {
                return Err(bad(i, "setting", format!("is {}; the sweep has {} settings", t.setting, settings.len())));
            };
            if &t.params != setting {
                return Err(bad(i, "params", format!("are not those of setting {}", t.setting)));
            }
            if !seeds.contains(&t.seed) {
                return Err(bad(i, "seed", format!("is {}; the sweep's seeds are {seeds:?}", t.seed)));
            }
            if t.epochs == 0 || t.epochs > r.config.epochs {
                return Err(bad(i, "epochs", format!("is {}; a trial trains 1 to {}", t.epochs, r.config.epochs)));
            }
            if t.rung >= r.config.epochs.max(1) {
                return Err(bad(i, "rung", format!("is {}; the sweep has fewer rungs than its {} epochs", t.rung, r.config.epochs)));
            }
            check_figure(&path, &format!("trials[{i}].val_accuracy"), t.val_accuracy, true)?;
            check_figure(&path, &format!("trials[{i}].test_accuracy"), t.test_accuracy, true)?;
            check_figure(&path, &format!("trials[{i}].seconds"), t.seconds, false)?;
            if t.params.keys().any(|k| !r.config.params.iter().any(|p| &p.name == k)) {
                return Err(StudyError::format(&path, format!("field `trials[{i}].params` names a parameter the sweep does not")));
            }
            if t.device.chars().any(char::is_control) {
                return Err(StudyError::format(&path, format!("field `trials[{i}].device` holds a control character")));
            }
            if Path::new(&t.run).is_absolute() || t.run.split(['/', '\\']).any(|c| c == "..") {
                return Err(StudyError::format(&path, format!("field `trials[{i}].run` leaves the sweep's folder")));
            }
        }
        crate::experiment::pool::check_tallies(&path, &r.devices)?;
        Ok(r)
    }
}

/// The trials of `scored` (setting, seed, validation accuracy) that go on to the next rung:
/// the best `ceil(n / η)` by validation accuracy (ties kept in order).
pub fn halving_survivors(scored: &[((usize, u64), f64)]) -> Vec<(usize, u64)> {
    let keep = scored.len().div_ceil(HALVING_ETA).max(1);
    let mut order: Vec<usize> = (0..scored.len()).collect();
    order.sort_by(|&a, &b| scored[b].1.total_cmp(&scored[a].1).then(a.cmp(&b)));
    let mut kept: Vec<usize> = order.into_iter().take(keep).collect();
    kept.sort_unstable();
    kept.into_iter().map(|i| scored[i].0).collect()
}

/// Training and validation split of `data`: the validation images are `val_fraction` of each
/// digit's training images, chosen with `seed`; the test set is kept apart for measuring.
pub fn validation_split(data: &Dataset, val_fraction: f64, seed: u64) -> (Arc<Dataset>, crate::data::Digits) {
    let val_idx = subset::fraction_per_digit(&data.train.labels, val_fraction, Rng::derive(seed, 0x7A1).next_u64());
    let mut is_val = vec![false; data.train.len()];
    for &i in &val_idx {
        is_val[i] = true;
    }
    let train_idx: Vec<usize> = (0..data.train.len()).filter(|&i| !is_val[i]).collect();
    let val = data.train.select(&val_idx);
    let train = Arc::new(Dataset {
        train: data.train.select(&train_idx),
        // The loop evaluates on its dataset's test split after each epoch: the validation set.
        test: val.clone(),
        source: data.source.clone(),
    });
    (train, val)
}

/// Where a sweep runs and writes.
pub struct SweepPlace<'a> {
    /// The dataset (its training set is split; its test set only measured).
    pub data: &'a Arc<Dataset>,
    /// The devices; trials are spread over them ([`crate::experiment::pool`]).
    pub devices: &'a [SelectedDevice],
    /// The sweep's folder (results and the trials' run folders).
    pub dir: &'a Path,
}

/// Runs the sweep, continuing the results already in `place.dir` (trials of the same settings
/// and data are not trained again), saving after each trial. The trials of a rung are spread
/// over the devices; a trial's figures do not depend on which device trained it.
pub fn run_sweep(config: &SweepConfig, place: &SweepPlace, reporter: &mut Reporter) -> Result<SweepResults, StudyError> {
    config.validate()?;
    let info = DataInfo::of(place.data);
    let mut results = SweepResults {
        config: config.clone(),
        data: info.clone(),
        trials: Vec::new(),
        devices: Vec::new(),
    };
    if place.dir.join(RESULTS_FILE).exists() {
        let earlier = SweepResults::load(place.dir)?;
        if earlier.config != *config || !earlier.data.same_data(&info) {
            return Err(StudyError::format(
                &place.dir.join(RESULTS_FILE),
                "holds a sweep of other settings or other data; choose another results folder (its trials are kept)",
            ));
        }
        results.trials = earlier.trials;
    }
    let (train, val) = validation_split(place.data, config.val_fraction, config.seed);
    let settings = config.settings();
    let mut alive: Vec<(usize, u64)> = (0..settings.len())
        .flat_map(|s| (0..config.seeds as u64).map(move |k| (s, k)))
        .collect();
    let rungs = config.rungs();
    let total: usize = planned_epochs(alive.len(), &rungs).max(1);
    let mut done_epochs = 0usize;
    let work = TrialWork {
        config,
        settings: &settings,
        train: &train,
        val: &val,
        place,
    };
    for (rung, &epochs) in rungs.iter().enumerate() {
        let todo: Vec<TrialItem> = alive
            .iter()
            .map(|&(setting, k)| TrialItem {
                setting,
                seed: config.base.seed + k,
                rung,
                epochs,
            })
            .filter(|i| !results.trials.iter().any(|t| t.setting == i.setting && t.seed == i.seed && t.rung == rung))
            .collect();
        let at = (done_epochs + (alive.len() - todo.len()) * epochs) as f64 / total as f64;
        let width = (todo.len() * epochs) as f64 / total as f64;
        let prefix = if rungs.len() > 1 { format!("rung {} of {}: ", rung + 1, rungs.len()) } else { String::new() };
        let report = reporter.part(&prefix, at, width, |part| {
            spread(&work, &todo, place.devices, part, &mut |done| {
                let mut trial = done.output;
                trial.seconds = done.placement.seconds;
                trial.device = done.placement.device;
                results.trials.push(trial);
                results.save(place.dir)
            })
        })?;
        // Every rung's share, device by device.
        for tally in report.devices {
            match results.devices.iter_mut().find(|d| d.device == tally.device) {
                Some(d) => d.absorb(&tally),
                None => results.devices.push(tally),
            }
        }
        done_epochs += alive.len() * epochs;
        let scored: Vec<((usize, u64), f64)> = alive
            .iter()
            .map(|&(setting, k)| {
                let seed = config.base.seed + k;
                let trial = results.trials.iter().find(|t| t.setting == setting && t.seed == seed && t.rung == rung);
                ((setting, k), trial.map_or(0.0, |t| t.val_accuracy))
            })
            .collect();
        if rung + 1 < rungs.len() {
            alive = halving_survivors(&scored);
        }
    }
    results.trials.sort_by_key(|t| (t.rung, t.setting, t.seed));
    results.save(place.dir)?;
    reporter.progress("done", 1.0);
    Ok(results)
}

/// Epochs a sweep of `trials` trials plans over `rungs` (halving keeps a third per rung).
pub fn planned_epochs(trials: usize, rungs: &[usize]) -> usize {
    let mut alive = trials;
    let mut sum = 0;
    for &e in rungs {
        sum += alive * e;
        alive = alive.div_ceil(HALVING_ETA).max(1);
    }
    sum
}

/// One trial to train: a setting and seed for a rung's epochs.
struct TrialItem {
    setting: usize,
    seed: u64,
    rung: usize,
    epochs: usize,
}

/// Training the trials of a sweep, as pool work.
struct TrialWork<'a> {
    config: &'a SweepConfig,
    settings: &'a [BTreeMap<String, String>],
    train: &'a Arc<Dataset>,
    val: &'a crate::data::Digits,
    place: &'a SweepPlace<'a>,
}

impl ItemWork for TrialWork<'_> {
    type Item = TrialItem;
    type Output = Trial;

    fn label(&self, item: &TrialItem) -> String {
        let seed = if self.config.seeds > 1 { format!(" (seed {})", item.seed) } else { String::new() };
        format!("trial {} of {}{seed}", item.setting + 1, self.settings.len())
    }

    fn weight(&self, item: &TrialItem) -> f64 {
        item.epochs as f64
    }

    fn run(&self, item: &TrialItem, device: &SelectedDevice, ctx: &ItemContext) -> Result<Trial, ItemFailure> {
        let params = &self.settings[item.setting];
        let train_config = self.config.trial_config(params, item.epochs, item.seed)?;
        let runs = self.place.dir.join(RUNS_FOLDER);
        let run_dir = RunDir::create(&runs, &RunConfig::for_dataset(train_config.clone(), self.train))
            .map_err(|e| StudyError::io(&runs, e))?;
        let job = TrainJob {
            run_id: item.setting as u64 + 1,
            config: train_config,
            data: self.train.clone(),
            run_dir: Some(run_dir.clone()),
            resume: None,
            device: Some(device.clone()),
            model_slot: None,
        };
        let describe: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let trained = train_item(job, ctx, &describe.join(" "))?;
        let val_accuracy = match trained.last_test_accuracy {
            Some(a) => a,
            None => evaluate(&trained.model, self.val, &device.device).accuracy,
        };
        let test_accuracy = evaluate(&trained.model, &self.place.data.test, &device.device).accuracy;
        let run = run_dir
            .path
            .strip_prefix(self.place.dir)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| PathBuf::from(RUNS_FOLDER).join(run_dir.path.file_name().unwrap_or_default()));
        Ok(Trial {
            setting: item.setting,
            params: params.clone(),
            seed: item.seed,
            rung: item.rung,
            epochs: item.epochs,
            val_accuracy,
            test_accuracy,
            seconds: 0.0, // the pool's measure, set when the trial is handed back
            device: device.name.clone(),
            run: run.to_string_lossy().replace('\\', "/"),
        })
    }
}
