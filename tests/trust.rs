//! Nothing a user made is lost and nothing crashes the app: damaged run folders at start,
//! results of one dataset never used on another, drawings and saved sets never overwritten
//! unasked, size curves kept across data folders, foreign folders never deleted, saved
//! settings checked, reports on tiny test sets, absurd values in the training form.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::gui::{harness, notice_texts, step_until, trained_run, type_into};
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT, Queryable};
use mnist_workbench::data::sources::{DataRequest, MNIST_FILES};
use mnist_workbench::data::{DataSource, Dataset};
use mnist_workbench::study::subset_curve::{SubsetCurveConfig, SubsetCurveResults, run_subset_curve};
use mnist_workbench::study::{Progress, Reporter, StudyError};
use mnist_workbench::model::ModelSpec;
use mnist_workbench::data::drawings::DrawnDigits;
use mnist_workbench::train::TrainConfig;
use mnist_workbench::ui::workbench::Action;

fn edit_config(run: &Path, from: &str, to: &str) {
    let p = run.join("config.json");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{text}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn the_app_starts_when_the_newest_run_is_damaged() {
    let data = common::synthetic_dataset(300, 60, 21);
    let runs = common::temp_dir("trust-start");
    let run = trained_run(&runs, &data, "small-cnn");
    edit_config(&run, "\"dropout\": 0.3", "\"dropout\": 1.0");
    let mut h = harness(&data, &runs);
    h.run_steps(5);
    assert!(
        h.state().workbench.model.is_none(),
        "the damaged run is not opened"
    );
    let notices = notice_texts(&h);
    assert!(
        notices
            .iter()
            .any(|n| n.contains("config.json") && n.contains("dropout")),
        "{notices:?}"
    );
    // The Runs panel lists it with the reason instead of failing.
    h.get_by_label("Runs").click();
    h.run_steps(3);
    assert_eq!(h.state().workbench.runs.len(), 1);
    let listed = h.state().workbench.runs[0].config.as_ref().unwrap_err();
    assert!(listed.contains("dropout"), "{listed}");
}

/// Four raw IDX files with `train` and `test` synthetic images in a fresh folder.
fn idx_folder(tag: &str, train: usize, test: usize) -> std::path::PathBuf {
    use mnist_workbench::data::idx::{encode_images, encode_labels};
    let dir = common::temp_dir(tag);
    let digits = mnist_workbench::data::synthetic::generate(train, 9);
    let raw = [
        encode_images(&digits.pixels),
        encode_labels(&digits.labels),
        encode_images(&digits.pixels[..784 * test]),
        encode_labels(&digits.labels[..test]),
    ];
    for (name, bytes) in MNIST_FILES.iter().zip(raw) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

#[test]
fn results_of_one_dataset_are_never_used_on_another() {
    let data = common::synthetic_dataset(600, 300, 22);
    let runs = common::temp_dir("trust-switch");
    trained_run(&runs, &data, "tiny-cnn");
    let mut h = harness(&data, &runs);
    h.run_steps(3);
    h.get_by_label("Confusion").click();
    step_until(&mut h, "the evaluation", |app| {
        app.workbench.inspect.evaluation.is_some()
    });
    assert_eq!(
        h.state()
            .workbench
            .inspect
            .evaluation
            .as_ref()
            .unwrap()
            .labels
            .len(),
        300
    );
    // A much smaller test set (12 images), as "Use as data" on a few drawings gives.
    let small = idx_folder("trust-small", 30, 12);
    h.state_mut().workbench.act(Action::LoadData(DataRequest {
        folder: Some(small),
        allow_synthetic_fallback: false,
        ..DataRequest::default()
    }));
    step_until(&mut h, "the small data", |app| {
        app.workbench.dataset().is_some_and(|d| d.test.len() == 12)
    });
    assert!(
        h.state()
            .workbench
            .inspect
            .evaluation
            .as_ref()
            .is_none_or(|e| e.labels.len() == 12),
        "the old evaluation is gone"
    );
    // Every inspection panel draws on the new data, none indexes it with the old results.
    for panel in [
        "Confusion",
        "Errors",
        "Calibration",
        "Feature maps",
        "Dataset",
        "Probes",
    ] {
        h.get_by_label(panel).click();
        h.run_steps(4);
    }
    step_until(&mut h, "the new evaluation", |app| {
        app.workbench
            .inspect
            .evaluation
            .as_ref()
            .is_some_and(|e| e.labels.len() == 12)
    });
}

#[test]
fn unreadable_drawings_are_kept_and_saved_sets_never_overwritten() {
    let data = common::synthetic_dataset(300, 60, 23);
    let runs = common::temp_dir("trust-drawn");
    trained_run(&runs, &data, "tiny-cnn");
    let drawn = runs.join("drawn-digits");
    std::fs::create_dir_all(&drawn).unwrap();
    for name in MNIST_FILES {
        std::fs::write(drawn.join(name), b"damaged").unwrap();
    }
    let mut h = harness(&data, &runs);
    h.run_steps(4);
    assert!(h.state().workbench.drawings.drawn_unreadable.is_some());
    // Label the pad's drawing: kept in memory, the folder on disk untouched.
    let predicted = {
        let l = h.state().workbench.pad_logits().expect("a model answers");
        (0..10).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap()
    };
    h.get_by_label(&format!("Yes, a {predicted}")).click();
    h.run_steps(2);
    for name in MNIST_FILES {
        assert_eq!(
            std::fs::read(drawn.join(name)).unwrap(),
            b"damaged",
            "{name} kept"
        );
    }
    let notices = notice_texts(&h);
    assert!(
        notices
            .iter()
            .any(|n| n.starts_with("Not saved") && n.contains("drawn-digits")),
        "{notices:?}"
    );

    // Save as IDX into a folder holding MNIST-named files: refused, nothing replaced.
    let mut set = DrawnDigits::default();
    set.add(&vec![0.5; 784], 3, 3);
    let target = common::temp_dir("trust-save-into");
    std::fs::write(target.join(MNIST_FILES[0]), b"someone's MNIST").unwrap();
    let err = set.save_into(&target).unwrap_err();
    assert!(err.to_string().contains(MNIST_FILES[0]), "{err}");
    assert_eq!(
        std::fs::read(target.join(MNIST_FILES[0])).unwrap(),
        b"someone's MNIST"
    );
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        1,
        "nothing else written"
    );
    // An empty folder takes the four files.
    let empty = common::temp_dir("trust-save-empty");
    set.save_into(&empty).unwrap();
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 4);
}

#[test]
fn only_run_folders_the_workbench_wrote_are_deleted() {
    use mnist_workbench::run::deletion_refusal;
    let data = common::synthetic_dataset(200, 40, 24);
    let runs = common::temp_dir("trust-delete");
    let run = trained_run(&runs, &data, "mlp");
    assert_eq!(deletion_refusal(&run), None, "a run folder may be deleted");
    std::fs::write(run.join("thesis.tex"), b"months of work").unwrap();
    let refusal = deletion_refusal(&run).expect("a folder with the user's files is kept");
    assert!(refusal.contains("thesis.tex"), "{refusal}");
    let other = common::temp_dir("trust-delete-other");
    std::fs::write(other.join("config.json"), b"{\"editor\": \"vim\"}").unwrap();
    let refusal = deletion_refusal(&other).expect("another program's config.json");
    assert!(refusal.contains("config.json"), "{refusal}");
    // Through the app: the folder stays.
    let mut h = harness(&data, &runs);
    h.run_steps(3);
    h.state_mut().workbench.act(Action::DeleteRun(run.clone()));
    h.run_steps(2);
    assert!(run.join("thesis.tex").exists());
}

#[test]
fn saved_settings_out_of_range_fall_back_to_defaults() {
    use mnist_workbench::ui::panels::Panels;
    let mut panels = Panels::new();
    panels.load_settings(&[(
        "Drawing pad".to_string(),
        r#"{"brush_radius": 1e30, "class_a": 99, "class_b": 3, "rows_fill": true}"#.to_string(),
    )]);
    let saved = panels.save_settings();
    let pad = &saved.iter().find(|(t, _)| t == "Drawing pad").unwrap().1;
    let pad: serde_json::Value = serde_json::from_str(pad).unwrap();
    assert_eq!(pad["class_a"], 7, "{pad}");
    assert_eq!(pad["class_b"], 3, "{pad}");
    assert_eq!(pad["rows_fill"], true, "{pad}");
    assert!(pad["brush_radius"].as_f64().unwrap() < 3.0, "{pad}");
}

#[test]
fn a_size_curve_survives_the_same_data_from_another_folder() {
    let digits = common::synthetic_dataset(400, 100, 25);
    let elsewhere = |path: &str| {
        Arc::new(Dataset {
            train: digits.train.clone(),
            test: digits.test.clone(),
            source: DataSource::Folder { path: path.into() },
        })
    };
    let config = SubsetCurveConfig {
        fractions: vec![0.25],
        train: TrainConfig {
            model: ModelSpec::preset("tiny-cnn").unwrap(),
            epochs: 1,
            evaluate_each_epoch: false,
            ..TrainConfig::default()
        },
    };
    let dir = common::temp_dir("trust-curve");
    let device = mnist_workbench::device::flex();
    let mut sink = |_: Progress| {};
    let never = || false;
    let first = run_subset_curve(
        &config,
        &elsewhere("/data/a"),
        std::slice::from_ref(&device),
        Some(&dir),
        &mut Reporter::new(&mut sink, &never),
    )
    .unwrap();
    // The same images from another folder: the finished fraction is reused, not retrained.
    let mut stages = Vec::new();
    let mut watch = |p: Progress| stages.push(p.stage);
    let again = run_subset_curve(
        &config,
        &elsewhere("/data/b"),
        std::slice::from_ref(&device),
        Some(&dir),
        &mut Reporter::new(&mut watch, &never),
    )
    .unwrap();
    assert_eq!(again.points, first.points);
    assert!(!stages.iter().any(|s| s.starts_with("fraction")), "{stages:?}");
    // Other data into the same folder: refused, the file kept as it was.
    let before = std::fs::read(dir.join("subset_curve.json")).unwrap();
    let other = common::synthetic_dataset(400, 100, 26);
    let refused = run_subset_curve(
        &config,
        &other,
        std::slice::from_ref(&device),
        Some(&dir),
        &mut Reporter::new(&mut sink, &never),
    )
    .unwrap_err();
    assert!(matches!(refused, StudyError::Format { .. }), "{refused}");
    assert!(refused.to_string().contains("subset_curve.json"), "{refused}");
    assert_eq!(std::fs::read(dir.join("subset_curve.json")).unwrap(), before);
    assert_eq!(SubsetCurveResults::load(&dir).unwrap(), first);
}

#[test]
fn a_report_on_a_test_set_of_twelve_images_is_written() {
    let data = common::synthetic_dataset(300, 60, 27);
    let runs = common::temp_dir("trust-report");
    let run = trained_run(&runs, &data, "mlp");
    let small = idx_folder("trust-report-data", 30, 12);
    let out = common::temp_dir("trust-report-out");
    let (ok, stdout, err) = common::cli(
        &[
            "report",
            "--run",
            run.to_str().unwrap(),
            "--data",
            small.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
        &["DISPLAY", "WAYLAND_DISPLAY"],
    );
    assert!(ok, "{stdout}\n{err}");
    assert!(out.join("03_predictions.png").is_file(), "{stdout}");
}

#[test]
fn absurd_values_in_the_training_form_disable_start_naming_the_field() {
    let data = common::synthetic_dataset(200, 40, 28);
    let runs = common::temp_dir("trust-form");
    let mut h = harness(&data, &runs);
    h.run_steps(3);
    let cases = [
        ("Learning rate", "nan", "learning rate"),
        ("Learning rate", "1e400", "learning rate"),
        ("Weight decay", "7", "weight decay"),
        ("Batch size", "0", "batch size"),
        ("Batch size", "99999999", "batch size"),
        ("Epochs", "0", "epochs"),
        ("Epochs", "-3", "epochs"),
        ("Seed", "-1", "seed"),
        ("Dropout", "1", "dropout"),
        ("Channels", "0", "channels"),
        ("Kernel size", "4", "kernel"),
        ("Dense width", "0", "dense"),
    ];
    for (field, value, named) in cases {
        let original = h
            .get_by_role_and_label(Role::TextInput, field)
            .accesskit_node()
            .value()
            .unwrap_or_default()
            .to_string();
        type_into(&mut h, Role::TextInput, field, value);
        h.run_steps(1);
        assert!(
            h.get_by_label("Start").accesskit_node().is_disabled(),
            "{field} = {value} is accepted"
        );
        let why = format!("Start is disabled: {named}");
        assert!(
            h.query_by_label_contains(&why).is_some(),
            "{field} = {value}: no '{why}'"
        );
        // Put the value back for the next case.
        type_into(&mut h, Role::TextInput, field, &original);
        h.run_steps(1);
        assert!(
            !h.get_by_label("Start").accesskit_node().is_disabled(),
            "{field} restored to {original}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&runs).unwrap().count(),
        0,
        "nothing was started"
    );
}

#[test]
fn an_export_is_written_on_its_job_and_a_folder_that_cannot_be_written_is_named() {
    let data = common::synthetic_dataset(200, 50, 23);
    let runs = common::temp_dir("trust-export");
    let mut h = harness(&data, &runs);
    h.run_steps(2);
    let folder = common::temp_dir("trust-export-out");
    let loaded = h.state().workbench.data.loaded.clone().unwrap();
    mnist_workbench::ui::export::export_figure(&h.state().workbench, folder.clone(), move || {
        Some(mnist_workbench::report::figures::dataset(
            &loaded.stats,
            &loaded.dataset,
        ))
    });
    // The panel's request is an action: applied after the frame, then written on the job.
    h.run_steps(1);
    assert!(h.state().workbench.exports.is_running() || h.state().workbench.notices.last().is_some());
    step_until(&mut h, "the export", |app| !app.workbench.exports.is_running());
    let notice = h.state().workbench.notices.last().unwrap().clone();
    assert!(!notice.is_error, "{}", notice.text);
    assert!(notice.text.contains("Wrote"), "{}", notice.text);
    let written: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(written.iter().any(|n| n.ends_with(".png")), "{written:?}");
    // A file where the folder should be: refused, naming it, and nothing else happens.
    let blocked = folder.join("not-a-folder");
    std::fs::write(&blocked, b"mine").unwrap();
    let loaded = h.state().workbench.data.loaded.clone().unwrap();
    mnist_workbench::ui::export::export_figure(&h.state().workbench, blocked.clone(), move || {
        Some(mnist_workbench::report::figures::dataset(
            &loaded.stats,
            &loaded.dataset,
        ))
    });
    h.run_steps(1);
    step_until(&mut h, "the refused export", |app| {
        !app.workbench.exports.is_running()
    });
    let notice = h.state().workbench.notices.last().unwrap().clone();
    assert!(notice.is_error, "{}", notice.text);
    assert!(notice.text.contains("not-a-folder"), "{}", notice.text);
    assert_eq!(std::fs::read(&blocked).unwrap(), b"mine");
}

/// Runs the program with `args` two folders below a `burn.toml` and a `cubecl.toml` that send
/// burn's autodiff log and cubecl's compilation log into a file of the user's, and checks that
/// the program worked and the file is as it was.
fn settings_files_above_are_not_read(args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let working = dir.path().join("a").join("b");
    std::fs::create_dir_all(&working).unwrap();
    let victim = dir.path().join("notes.txt");
    std::fs::write(&victim, "the user's notes\n").unwrap();
    let logger = format!("level = \"full\"\nfile = {:?}\nappend = false\n", victim.to_str().unwrap());
    std::fs::write(dir.path().join("burn.toml"), format!("[autodiff.logger]\n{logger}")).unwrap();
    std::fs::write(dir.path().join("a").join("cubecl.toml"), format!("[compilation.logger]\n{logger}")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-workbench"))
        .args(args)
        .current_dir(&working)
        .env("HOME", dir.path())
        .env_remove("MNIST_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "the user's notes\n");
}

/// burn reads `burn.toml` from the working folder and every folder above it; one two folders
/// up that sends burn's autodiff log into a file made `train` replace that file. The program
/// fixes burn's and cubecl's settings at start-up (`burn_settings.rs`), so the file stays as
/// it was and training runs as usual.
#[test]
fn a_burn_toml_above_the_working_folder_is_not_read() {
    let runs = tempfile::tempdir().unwrap();
    settings_files_above_are_not_read(&[
        "train", "--synthetic", "--synthetic-size", "200", "--epochs", "1", "--model", "mlp", "--device", "flex",
        "--runs", runs.path().to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_dir(runs.path()).unwrap().count(), 1);
}

/// The same for cubecl, which compiles the wgpu path's kernels: a `cubecl.toml` above the
/// working folder made `predict --device wgpu` replace the file its compilation log named.
#[test]
#[ignore = "needs a wgpu adapter (a GPU, or Mesa's lavapipe: apt-get install mesa-vulkan-drivers); run with -- --include-ignored"]
fn a_cubecl_toml_above_the_working_folder_is_not_read() {
    let picture = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/handwritten-7.png");
    settings_files_above_are_not_read(&["predict", picture, "--device", "wgpu"]);
}
