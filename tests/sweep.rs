//! Sweeps (issue #25 point 3) on the MLP over synthetic digits, on flex: a grid trains every
//! combination into its own run folder and writes `sweep.json` / `sweep.csv`; random search
//! samples ranges inside their bounds and repeats with its seed; halving keeps the best third
//! by validation accuracy; running again into the same folder trains only what is missing;
//! the validation split comes out of the training set; bad `--param`s are refused by name.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use mnist_workbench::data::Dataset;
use mnist_workbench::study::sweep::{
    ParamSpec, SweepConfig, SweepPlace, SweepResults, halving_survivors, planned_epochs, run_sweep, validation_split,
};
use mnist_workbench::jobs::{Progress, Reporter};
use mnist_workbench::model::ModelSpec;
use mnist_workbench::run::RunDir;

fn data() -> Arc<Dataset> {
    common::synthetic_dataset(900, 150, 17)
}

fn config(params: &[&str]) -> SweepConfig {
    let mut c = SweepConfig {
        params: params.iter().map(|p| p.parse::<ParamSpec>().unwrap()).collect(),
        ..SweepConfig::default()
    };
    c.base.model = ModelSpec::parse("mlp:32").unwrap();
    c.base.augment = false;
    c
}

fn sweep(config: &SweepConfig, data: &Arc<Dataset>, dir: &Path) -> SweepResults {
    let device = mnist_workbench::device::flex();
    let place = SweepPlace { data, devices: std::slice::from_ref(&device), dir };
    let mut sink = |_: Progress| {};
    let never = || false;
    run_sweep(config, &place, &mut Reporter::new(&mut sink, &never)).unwrap()
}

fn run_folders(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("runs")).map_or(0, |d| d.count())
}

#[test]
fn a_grid_trains_every_combination_into_its_own_run_folder() {
    let data = data();
    let dir = common::temp_dir("sweep-grid");
    let c = config(&["lr=0.001,0.01", "batch-size=32,64"]);
    let r = sweep(&c, &data, &dir);
    assert_eq!(r.trials.len(), 4);
    let combos: std::collections::BTreeSet<(String, String)> =
        r.trials.iter().map(|t| (t.params["lr"].clone(), t.params["batch-size"].clone())).collect();
    assert_eq!(combos.len(), 4, "every combination once");
    for t in &r.trials {
        let (run, config) = RunDir::open(&dir.join(&t.run)).unwrap();
        assert_eq!(config.train.batch_size.to_string(), t.params["batch-size"]);
        assert_eq!(config.train.learning_rate.to_string(), t.params["lr"]);
        assert!(run.path.join("model.bpk").is_file(), "an ordinary run folder");
        assert!((0.0..=1.0).contains(&t.val_accuracy) && (0.0..=1.0).contains(&t.test_accuracy));
    }
    assert_eq!(run_folders(&dir), 4);
    // sweep.csv: a header and one row per trial, the params first.
    let csv = std::fs::read_to_string(dir.join("sweep.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "lr,batch-size,seed,rung,epochs,val_accuracy,test_accuracy,seconds,device,run");
    assert_eq!(lines.len(), 5);
    assert_eq!(SweepResults::load(&dir).unwrap(), r);
    let best = r.best().unwrap();
    assert!(r.trials.iter().all(|t| t.val_accuracy <= best.val_accuracy));
    // Running again into the same folder trains nothing more.
    let again = sweep(&c, &data, &dir);
    assert_eq!(again.trials, r.trials);
    assert_eq!(run_folders(&dir), 4);
}

#[test]
fn random_search_samples_inside_the_ranges_and_repeats_with_its_seed() {
    let mut c = config(&["lr=1e-4:1e-2", "dropout=0.1:0.4", "optimizer=adam,sgd"]);
    c.random_trials = Some(40);
    c.validate().unwrap();
    let settings = c.settings();
    assert_eq!(settings.len(), 40);
    assert_eq!(settings, c.settings(), "the same seed, the same settings");
    let lrs: Vec<f64> = settings.iter().map(|s| s["lr"].parse().unwrap()).collect();
    assert!(lrs.iter().all(|&v| (1e-4..=1e-2).contains(&v)), "{lrs:?}");
    // Log-uniform: about half of the draws below the geometric middle (1e-3), not ~9 %.
    let below = lrs.iter().filter(|&&v| v < 1e-3).count();
    assert!((10..=30).contains(&below), "{below} of 40 below 1e-3");
    for s in &settings {
        let d: f64 = s["dropout"].parse().unwrap();
        assert!((0.1..=0.4).contains(&d));
        assert!(["adam", "sgd"].contains(&s["optimizer"].as_str()));
    }
    let mut other = c.clone();
    other.seed = 2;
    assert_ne!(other.settings(), settings);
    // A quick real random sweep: two trials with sampled dropout.
    let data = data();
    let dir = common::temp_dir("sweep-random");
    let mut quick = config(&["dropout=0.1:0.4"]);
    quick.random_trials = Some(2);
    let r = sweep(&quick, &data, &dir);
    assert_eq!(r.trials.len(), 2);
    for t in &r.trials {
        let (_, run) = RunDir::open(&dir.join(&t.run)).unwrap();
        let ModelSpec::Mlp { dropout, .. } = run.train.model else { panic!("an MLP") };
        assert_eq!(dropout.to_string(), t.params["dropout"]);
    }
}

#[test]
fn halving_keeps_the_best_third_by_validation_accuracy() {
    // A synthetic objective: setting i scores i / 10 (ties broken by order).
    let scored: Vec<((usize, u64), f64)> = (0..9).map(|i| ((i, 0), [3, 8, 1, 7, 0, 5, 2, 6, 4][i] as f64 / 10.0)).collect();
    assert_eq!(halving_survivors(&scored), vec![(1, 0), (3, 0), (7, 0)]);
    assert_eq!(halving_survivors(&scored[..4]), vec![(1, 0), (3, 0)], "ceil(4 / 3) kept");
    assert_eq!(halving_survivors(&scored[..1]), vec![(0, 0)]);
    let mut c = config(&["lr=0.001"]);
    c.halving = true;
    c.epochs = 9;
    assert_eq!(c.rungs(), vec![1, 3, 9]);
    assert_eq!(planned_epochs(27, &c.rungs()), 27 + 9 * 3 + 3 * 9, "81 epochs against 243 for the grid");
    // A real halving sweep: 5 settings, rungs of 1 and 2 epochs; the second rung trains
    // exactly the best ceil(5 / 3) = 2 of the first by validation accuracy.
    let data = data();
    let dir = common::temp_dir("sweep-halving");
    let mut h = config(&["lr=0.0003,0.001,0.003,0.01,0.03"]);
    h.halving = true;
    h.epochs = 2;
    assert_eq!(h.rungs(), vec![1, 2]);
    let r = sweep(&h, &data, &dir);
    let first: Vec<((usize, u64), f64)> =
        r.trials.iter().filter(|t| t.rung == 0).map(|t| ((t.setting, t.seed - 1), t.val_accuracy)).collect();
    let second: Vec<(usize, u64)> = r.trials.iter().filter(|t| t.rung == 1).map(|t| (t.setting, t.seed - 1)).collect();
    assert_eq!(first.len(), 5);
    assert_eq!(second, halving_survivors(&first));
    assert!(r.trials.iter().filter(|t| t.rung == 1).all(|t| t.epochs == 2));
    assert_eq!(r.epochs_spent(), (5 + 2 * 2, 5 * 2));
    assert_eq!(r.best().unwrap().rung, 1);
}

#[test]
fn a_sweep_run_again_trains_only_the_missing_trials() {
    let data = data();
    let dir = common::temp_dir("sweep-resume");
    let c = config(&["lr=0.001,0.003,0.01"]);
    let full = sweep(&c, &data, &dir);
    assert_eq!(full.trials.len(), 3);
    // As if stopped after the first trial: the results hold one trial.
    let mut cut = full.clone();
    cut.trials.truncate(1);
    cut.save(&dir).unwrap();
    let resumed = sweep(&c, &data, &dir);
    assert_eq!(resumed.trials.len(), 3);
    assert_eq!(resumed.trials[0], full.trials[0], "the finished trial is kept as it was");
    assert_eq!(run_folders(&dir), 3 + 2, "two more runs trained, not three");
    // Other settings into the same folder are refused, the trials kept.
    let other = config(&["lr=0.1"]);
    let device = mnist_workbench::device::flex();
    let place = SweepPlace { data: &data, devices: std::slice::from_ref(&device), dir: &dir };
    let mut sink = |_: Progress| {};
    let never = || false;
    let err = run_sweep(&other, &place, &mut Reporter::new(&mut sink, &never)).unwrap_err();
    assert!(err.to_string().contains("other settings"), "{err}");
    assert_eq!(SweepResults::load(&dir).unwrap().trials.len(), 3);
}

#[test]
fn the_validation_split_comes_out_of_the_training_set() {
    let data = data();
    let (train, val) = validation_split(&data, 0.1, 1);
    assert_eq!(train.train.len() + val.len(), data.train.len());
    assert_eq!(train.test.labels, val.labels, "the loop evaluates on the validation split");
    assert_ne!(val.digest(), data.test.digest());
    // Every validation image is a training image, none of them trained on.
    let key = |d: &mnist_workbench::data::Digits, i: usize| (d.image(i).to_vec(), d.labels[i]);
    let mut pool: BTreeMap<(Vec<u8>, u8), usize> = BTreeMap::new();
    for i in 0..data.train.len() {
        *pool.entry(key(&data.train, i)).or_default() += 1;
    }
    for i in 0..val.len() {
        assert!(pool.contains_key(&key(&val, i)));
    }
    assert!((val.len() as f64 - 0.1 * data.train.len() as f64).abs() <= 10.0);
}

#[test]
fn the_cli_runs_a_sweep_and_refuses_bad_params_by_name() {
    let out = common::temp_dir("sweep-cli").join("s");
    let o = out.to_str().unwrap();
    let base = ["experiment", "sweep", "--model", "mlp", "--epochs", "1", "--synthetic", "--synthetic-size", "600", "--device", "flex"];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        common::cli(&args, &[], &["DISPLAY", "WAYLAND_DISPLAY"])
    };
    let (ok, stdout, stderr) = run(&["--param", "lr=1e-3:1e-2", "--random", "--trials", "2", "--out", o]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("best by validation"), "{stdout}");
    for f in ["sweep.json", "sweep.csv", "sweep.png", "study.json"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    for (args, message) in [
        (vec!["--param", "colour=1,2"], "colour"),
        (vec!["--param", "lr=0:1", "--random"], "log-uniformly"),
        (vec!["--param", "dropout=0.1:0.4"], "--random"),
        (vec!["--param", "lr=abc"], "not a number"),
        (vec!["--param", "lr=1e-3", "--trials", "3"], "--random"),
    ] {
        let mut a = args.clone();
        a.extend_from_slice(&["--out", o]);
        let (ok, _, stderr) = run(&a);
        assert!(!ok && stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn trials_the_sweep_could_not_have_run_are_refused_by_field() {
    // Found by a hostile-input review: a continued sweep took `epochs` 2^64 - 1 (its total
    // overflowed to "0 epochs"), params not in the sweep ("best: lr=nan") and any setting index.
    let data = data();
    let dir = common::temp_dir("sweep-tampered");
    let c = config(&["lr=0.001,0.01"]);
    let full = sweep(&c, &data, &dir);
    assert!(SweepResults::load(&dir).is_ok());
    let tamper = |field: &str, change: &dyn Fn(&mut mnist_workbench::study::sweep::Trial)| {
        let mut r = full.clone();
        change(&mut r.trials[1]);
        r.save(&dir).unwrap();
        let err = SweepResults::load(&dir).unwrap_err().to_string();
        assert!(err.contains("sweep.json") && err.contains(&format!("trials[1].{field}")), "{field}: {err}");
    };
    tamper("epochs", &|t| t.epochs = usize::MAX);
    tamper("params", &|t| {
        t.params.insert("lr".into(), "nan".into());
    });
    tamper("setting", &|t| t.setting = usize::MAX);
    tamper("seed", &|t| t.seed = u64::MAX);
    tamper("rung", &|t| t.rung = usize::MAX);
    full.save(&dir).unwrap();
    assert_eq!(SweepResults::load(&dir).unwrap(), full, "the untouched file still loads");
}
