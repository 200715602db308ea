//! The study registry walked as a whole: every registered study has a CLI subcommand, a
//! panel, a figure, results that survive a save and reload unchanged, a `study.json`
//! record, and results the app drops when what they are tied to changes. A study added
//! with one line is covered here without another edit.

mod common;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use mnist_workbench::data::Dataset;
use mnist_workbench::jobs::{Progress, Reporter};
use mnist_workbench::study::StudyRecord;
use mnist_workbench::study::{AnyResults, AnyStudy, STUDIES, StudyInputs, Tie, run_study};
use mnist_workbench::model::ModelSpec;
use mnist_workbench::run::{RunConfig, RunDir};
use mnist_workbench::train::{Control, TrainConfig, run_training};
use mnist_workbench::ui::job_slot::Stamp;
use mnist_workbench::ui::workbench::studies::StudiesState;

/// Synthetic data and a one-epoch MLP run with its history.
fn fixture() -> &'static (Arc<Dataset>, std::path::PathBuf) {
    static FIXTURE: OnceLock<(Arc<Dataset>, std::path::PathBuf)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let data = common::synthetic_dataset(1000, 200, 5);
        let root = common::temp_dir("studies");
        // An MLP with dropout, so the stability test has something to measure.
        let config = TrainConfig {
            model: ModelSpec::parse("mlp:64:drop0.3").unwrap(),
            epochs: 1,
            batch_size: 64,
            device: mnist_workbench::device::DeviceChoice::Flex,
            ..TrainConfig::default()
        };
        let dir = RunDir::create(&root, &RunConfig::for_dataset(config.clone(), &data)).unwrap();
        let run = dir.path.clone();
        let mut job = common::flex_job(config, data.clone());
        job.run_dir = Some(dir);
        let mut last = None;
        run_training(job, &Control::default(), &mut |e| last = Some(e));
        assert!(last.unwrap().is_terminal());
        (data, run)
    })
}

/// Everything `study` may need, with `out` as its results folder.
fn inputs_for(study: &dyn AnyStudy, out: &Path) -> StudyInputs {
    let (data, run) = fixture();
    let needs = study.needs();
    let (dir, config) = RunDir::open(run).unwrap();
    let device = mnist_workbench::device::flex();
    StudyInputs {
        model: needs
            .model
            .then(|| dir.load_model(&config.train.model, &device.device).unwrap()),
        run_dir: needs.run().then(|| run.clone()),
        run_config: needs.run().then_some(config),
        data: needs.data.then(|| data.clone()),
        device: needs.device.then_some(device),
        more_devices: Vec::new(),
        more_device_choices: Vec::new(),
        out: Some(out.to_path_buf()),
    }
}

fn run_quick(study: &dyn AnyStudy, out: &Path) -> AnyResults {
    let inputs = inputs_for(study, out);
    let config = study.quick_config(inputs.run_config.as_ref());
    let mut sink = |_: Progress| {};
    let never = || false;
    run_study(study, &config, &inputs, &mut Reporter::new(&mut sink, &never))
        .unwrap_or_else(|e| panic!("{} failed: {e}", study.id()))
}

#[test]
fn the_registry_has_unique_ids_and_results_files() {
    let mut ids: Vec<&str> = STUDIES.iter().map(|s| s.id()).collect();
    let mut files: Vec<&str> = STUDIES.iter().map(|s| s.results_file()).collect();
    ids.sort_unstable();
    ids.dedup();
    files.sort_unstable();
    files.dedup();
    assert_eq!(ids.len(), STUDIES.len(), "two studies share an id");
    assert_eq!(files.len(), STUDIES.len(), "two studies share a results file");
    assert!(STUDIES.len() >= 4);
}

#[test]
fn every_study_has_a_cli_subcommand_with_the_flags_its_needs_ask_for() {
    for study in STUDIES {
        let group = study.lane().command();
        let (ok, stdout, stderr) = common::cli(&[group, study.id(), "--help"], &[], &[]);
        assert!(ok, "{group} {} --help failed: {stderr}", study.id());
        assert!(stdout.contains(study.about()), "{}: {stdout}", study.id());
        assert!(stdout.contains("--out"), "{}", study.id());
        let needs = study.needs();
        assert_eq!(stdout.contains("--run <DIR>"), needs.run(), "{}: --run", study.id());
        assert_eq!(stdout.contains("--device <"), needs.device, "{}: --device", study.id());
        assert_eq!(stdout.contains("--synthetic"), needs.data, "{}: data flags", study.id());
    }
}

#[test]
fn every_study_has_a_panel() {
    let panels: Vec<&str> = mnist_workbench::ui::panels::registry()
        .iter()
        .flat_map(|p| p.studies())
        .collect();
    for study in STUDIES {
        assert!(panels.contains(&study.id()), "no panel shows {}", study.id());
    }
}

#[test]
fn every_study_runs_saves_reloads_and_draws_the_same_figures() {
    let root = common::temp_dir("studies-out");
    for study in STUDIES {
        let out = root.join(study.id());
        let results = run_quick(*study, &out);
        assert!(out.join(study.results_file()).is_file(), "{}", study.id());
        let record = StudyRecord::load(*study, &out).unwrap().expect("study record written");
        assert_eq!(record.study, study.id());
        assert_eq!(record.data.is_some(), study.needs().data, "{}", study.id());
        let figures = study.figures(&results);
        assert!(!figures.is_empty(), "{} has no figure", study.id());
        let reloaded = study.load(&out).unwrap_or_else(|e| panic!("{}: {e}", study.id()));
        let again = study.figures(&reloaded);
        assert_eq!(figures.len(), again.len());
        for (a, b) in figures.iter().zip(&again) {
            assert_eq!(a.name, b.name);
            assert_eq!(a.data, b.data, "{}: {} differs after reloading", study.id(), a.name);
            assert!(a.canvas.width() > 100 && a.canvas.height() > 100);
        }
        assert_eq!(study.summary(&results), study.summary(&reloaded), "{}", study.id());
        // Another study's folder is not read as this one's.
        for other in STUDIES.iter().filter(|o| o.id() != study.id()) {
            let err = other.load(&out).err();
            assert!(err.is_some(), "{} read {}'s folder", other.id(), study.id());
        }
    }
}

#[test]
fn results_tied_to_the_model_or_data_are_dropped_when_those_change() {
    let root = common::temp_dir("studies-tie");
    for study in STUDIES {
        let results = run_quick(*study, &root.join(study.id()));
        let from = Stamp {
            model_version: 1,
            data_generation: 1,
        };
        let mut state = StudiesState::default();
        state.set(study.id(), results.clone(), None, from);
        state.forget_other_data(2);
        assert_eq!(state.has_results(study.id()), study.tie() != Tie::Data, "{} after new data", study.id());
        let mut state = StudiesState::default();
        state.set(study.id(), results, None, from);
        state.forget_other_model(2);
        assert_eq!(state.has_results(study.id()), study.tie() != Tie::Model, "{} after another model", study.id());
        // Unchanged model and data keep everything.
        state.forget_other_data(1);
        state.forget_other_model(1);
    }
}

#[test]
fn class_curves_match_the_runs_history() {
    use mnist_workbench::study::class_curves::{ClassCurves, ClassCurvesConfig, class_curves};
    use mnist_workbench::study::Study;
    let (_, run) = fixture();
    let (dir, _) = RunDir::open(run).unwrap();
    let events = dir.read_events().unwrap();
    let rows = class_curves(&events);
    assert_eq!(rows.len(), 1, "one epoch, evaluated");
    let mut sink = |_: Progress| {};
    let never = || false;
    let inputs = StudyInputs {
        run_dir: Some(run.clone()),
        ..StudyInputs::default()
    };
    let r = ClassCurves::run(&ClassCurvesConfig::default(), &inputs, &mut Reporter::new(&mut sink, &never)).unwrap();
    assert_eq!(r.epochs, rows);
    // The per-class shares average (weighted by class size) to the overall accuracy.
    let (data, _) = fixture();
    let mut counts = [0usize; 10];
    for &l in &data.test.labels {
        counts[l as usize] += 1;
    }
    let weighted: f64 = (0..10).map(|d| r.epochs[0].per_class[d] * counts[d] as f64).sum::<f64>()
        / data.test.labels.len() as f64;
    assert!((weighted - r.epochs[0].accuracy).abs() < 1e-6, "{weighted} vs {}", r.epochs[0].accuracy);
}

/// `tests/fixtures/results_v0/<name>` (written by the workbench before studies were registered).
fn fixture_folder(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results_v0").join(name)
}

#[test]
fn results_folders_written_before_the_registry_still_open() {
    for (id, folder) in [("ensemble", "ensemble"), ("subset-curve", "curve"), ("stability", "stability")] {
        let study = mnist_workbench::study::find(id).unwrap();
        let dir = fixture_folder(folder);
        let results = study.load(&dir).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(!study.figures(&results).is_empty());
        // The app finds the study from the folder's results file alone.
        let owner: Vec<&str> = STUDIES
            .iter()
            .filter(|s| dir.join(s.results_file()).is_file())
            .map(|s| s.id())
            .collect();
        assert_eq!(owner, [id]);
        // No `study.json` then: opening must not need one.
        assert!(StudyRecord::load(study, &dir).unwrap().is_none());
    }
}

#[test]
fn class_curves_run_from_the_cli_on_an_older_run_folder() {
    let run = common::temp_dir("studies-old-run");
    for file in ["config.json", "metrics.jsonl", "steps.csv", "summary.json"] {
        std::fs::copy(fixture_folder("run").join(file), run.join(file)).unwrap();
    }
    let out = common::temp_dir("studies-old-run-out");
    let (ok, stdout, stderr) = common::cli(
        &["experiment", "class-curves", "--run", run.to_str().unwrap(), "--out", out.to_str().unwrap()],
        &[],
        &[],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("1 evaluated epochs"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("class_curves.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    // The run folder itself is left alone when --out points elsewhere.
    assert!(!run.join("class_curves.json").exists());
    // A second run into the same folder is refused without --overwrite.
    let (ok, _, stderr) = common::cli(
        &["experiment", "class-curves", "--run", run.to_str().unwrap(), "--out", out.to_str().unwrap()],
        &[],
        &[],
    );
    assert!(!ok && stderr.contains("already holds results"), "{stderr}");
}

#[test]
fn damaged_class_curves_results_are_refused_naming_the_field() {
    use mnist_workbench::study::Study;
    use mnist_workbench::study::class_curves::ClassCurves;
    let good = serde_json::json!({
        "config": {"digits": [1, 7]},
        "run": "r",
        "epochs": [{"epoch": 1, "accuracy": 0.9, "per_class": vec![0.9; 10]}]
    });
    let dir = common::temp_dir("studies-bad-curves");
    let write = |value: &serde_json::Value| std::fs::write(dir.join("class_curves.json"), value.to_string()).unwrap();
    write(&good);
    assert!(ClassCurves::load(&dir).is_ok());
    type Damage = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: [(&str, Damage); 4] = [
        ("config.digits", Box::new(|v| v["config"]["digits"] = serde_json::json!([1, 12]))),
        ("epochs[0].accuracy", Box::new(|v| v["epochs"][0]["accuracy"] = serde_json::json!(1.5))),
        ("epochs[0].per_class[3]", Box::new(|v| v["epochs"][0]["per_class"][3] = serde_json::json!(-0.1))),
        ("invalid length 2", Box::new(|v| v["epochs"][0]["per_class"] = serde_json::json!([0.5, 0.5]))),
    ];
    for (field, damage) in cases {
        let mut bad = good.clone();
        damage(&mut bad);
        write(&bad);
        let err = ClassCurves::load(&dir).expect_err(field).to_string();
        assert!(err.contains("class_curves.json"), "{field}: {err}");
        assert!(err.contains(field), "{field}: {err}");
    }
}

#[test]
fn every_studys_damaged_results_are_refused_naming_the_file() {
    // Each study's own results, then its results file cut in half, emptied, and given a
    // figure far out of range: loading fails with the file named, and the file is kept.
    let root = common::temp_dir("studies-damaged");
    for study in STUDIES {
        let out = root.join(study.id());
        run_quick(*study, &out);
        let path = out.join(study.results_file());
        let good = std::fs::read(&path).unwrap();
        let name = study.results_file();
        for (what, bytes) in [
            ("cut in half", good[..good.len() / 2].to_vec()),
            ("empty", Vec::new()),
            ("not JSON", b"\x00\xffnot json".to_vec()),
        ] {
            std::fs::write(&path, &bytes).unwrap();
            let err = study.load(&out).err().unwrap_or_else(|| panic!("{}: {what} was read", study.id()));
            assert!(err.to_string().contains(name), "{}: {what}: {err}", study.id());
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{}: the file is left as it was", study.id());
        }
        std::fs::write(&path, &good).unwrap();
        assert!(study.load(&out).is_ok(), "{}: the intact file reads again", study.id());
    }
}

#[test]
fn a_sweep_whose_trial_points_outside_its_folder_is_refused() {
    let dir = common::temp_dir("studies-sweep-escape");
    let sweep = mnist_workbench::study::find("sweep").unwrap();
    run_quick(sweep, &dir);
    let path = dir.join("sweep.json");
    let mut value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for bad in ["../../etc", "/etc"] {
        value["trials"][0]["run"] = serde_json::json!(bad);
        std::fs::write(&path, value.to_string()).unwrap();
        let err = sweep.load(&dir).expect_err("refused");
        assert!(err.to_string().contains("trials[0].run"), "{bad}: {err}");
    }
    value["trials"][0]["run"] = serde_json::json!("runs/x");
    value["trials"][0]["val_accuracy"] = serde_json::json!(7.5);
    std::fs::write(&path, value.to_string()).unwrap();
    let err = sweep.load(&dir).expect_err("refused");
    assert!(err.to_string().contains("trials[0].val_accuracy"), "{err}");
}
