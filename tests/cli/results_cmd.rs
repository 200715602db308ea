//! `report`, `experiment` and `probe`: figures and numbers written without a window, results never replaced without asking.

use super::*;

#[test]
fn report_writes_every_figure_with_its_numbers_without_a_window() {
    let runs = common::temp_dir("report");
    let run = train_tiny(&runs);
    let out = runs.join("figures");
    // No display: the report never opens a window.
    let (ok, stdout, err) = common::cli(
        &[
            "report",
            "--run",
            run.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
        &["DISPLAY", "WAYLAND_DISPLAY"],
    );
    assert!(ok, "{stdout}\n{err}");
    let expected = [
        ("01_training_history", "csv"),
        ("02_sample_data", "csv"),
        ("03_predictions", "csv"),
        ("05_conv_filters", "json"),
        ("06_feature_maps", "json"),
        ("07_confusion_matrix", "csv"),
        ("08_confidence_analysis", "json"),
        ("09_errors", "csv"),
        ("10_dataset", "json"),
    ];
    for (name, ext) in expected {
        let png = out.join(format!("{name}.png"));
        let img = image::open(&png).unwrap_or_else(|e| panic!("{name}.png: {e}"));
        assert!(
            img.width() >= 400 && img.height() >= 150,
            "{name}: {}x{}",
            img.width(),
            img.height()
        );
        // Not a blank page: many distinct grey levels.
        let rgb = img.to_rgb8();
        let dark = rgb.pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 500, "{name}.png is nearly blank");
        let data = std::fs::read_to_string(out.join(format!("{name}.{ext}"))).unwrap();
        assert!(data.len() > 30, "{name}.{ext} is nearly empty");
        assert!(stdout.contains(&format!("{name}.png")), "{stdout}");
    }
    // The numbers agree with `eval`: the confusion matrix CSV sums to the test set and its
    // diagonal share is the run's accuracy.
    let csv = std::fs::read_to_string(out.join("07_confusion_matrix.csv")).unwrap();
    let rows: Vec<Vec<u64>> = csv
        .lines()
        .skip(1)
        .take(10)
        .map(|l| l.split(',').skip(1).map(|v| v.parse().unwrap()).collect())
        .collect();
    let total: u64 = rows.iter().flatten().sum();
    let right: u64 = (0..10).map(|d| rows[d][d]).sum();
    let (ok, json, err) = common::cli(
        &[
            "eval",
            "--run",
            run.to_str().unwrap(),
            "--device",
            "flex",
            "--json",
        ],
        &[],
        &[],
    );
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let accuracy = report["accuracy"].as_f64().unwrap();
    assert!((right as f64 / total as f64 - accuracy).abs() < 1e-9);
    let errors = std::fs::read_to_string(out.join("09_errors.csv")).unwrap();
    assert_eq!(
        errors.lines().count() as u64 - 1,
        total - right,
        "one CSV row per mistake"
    );
    // A folder that is not a run gets a clear message and no figures.
    let (ok, _, err) = common::cli(
        &[
            "report",
            "--run",
            out.to_str().unwrap(),
            "--out",
            runs.join("nothing").to_str().unwrap(),
        ],
        &[],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("config.json"), "{err}");
    assert!(!runs.join("nothing").exists());
}

#[test]
fn experiment_ensemble_writes_the_results_the_app_opens() {
    let root = common::temp_dir("cli-ensemble");
    let out = root.join("ens");
    let (ok, stdout, err) = common::cli(
        &[
            "experiment",
            "ensemble",
            "--synthetic",
            "--synthetic-size",
            "600",
            "--device",
            "flex",
            "--model",
            "tiny-cnn",
            "--models",
            "3",
            "--max-steps",
            "20",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
        &["DISPLAY", "WAYLAND_DISPLAY"],
    );
    assert!(ok, "{stdout}\n{err}");
    assert!(stdout.contains("ensemble: 3 models"), "{stdout}");
    let results = mnist_workbench::study::ensemble::EnsembleResults::load(&out)
        .expect("the app's loader reads it");
    assert_eq!(results.members.len(), 3);
    assert_eq!(results.config.model.preset_name(), Some("tiny-cnn"));
    assert!(out.join("ensemble_overview.png").is_file());
    // Bad settings are refused before any work, naming the setting.
    let (ok, _, err) = common::cli(
        &[
            "experiment",
            "ensemble",
            "--synthetic",
            "--lr=0",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
        &[],
    );
    assert!(!ok && err.contains("learning rate"), "{err}");
    // Running again into the same folder is refused before any work; the results stay.
    let before = std::fs::read(out.join("ensemble.json")).unwrap();
    let (ok, _, err) = common::cli(
        &[
            "experiment",
            "ensemble",
            "--synthetic",
            "--models",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
        &[],
    );
    assert!(
        !ok && err.contains("already holds results") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(std::fs::read(out.join("ensemble.json")).unwrap(), before);
}

#[test]
fn experiment_stability_writes_into_the_run_folder() {
    let runs = common::temp_dir("cli-stability");
    let (ok, stdout, err) = common::cli(
        &[
            "train",
            "--synthetic",
            "--synthetic-size",
            "600",
            "--model",
            "small-cnn",
            "--epochs",
            "1",
            "--device",
            "flex",
            "--runs",
            runs.to_str().unwrap(),
        ],
        &[],
        &[],
    );
    assert!(ok, "{stdout}\n{err}");
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let (ok, stdout, err) = common::cli(
        &[
            "experiment",
            "stability",
            "--run",
            run.to_str().unwrap(),
            "--passes",
            "3",
        ],
        &[],
        &["DISPLAY", "WAYLAND_DISPLAY"],
    );
    assert!(ok, "{stdout}\n{err}");
    assert!(
        stdout.contains("stability: 3 passes with dropout 0.30"),
        "{stdout}"
    );
    let r = mnist_workbench::study::stability::StabilityResults::load(&run).unwrap();
    assert_eq!(r.accuracies.len(), 3);
    assert!(run.join("09_stability_test.png").is_file());
}

#[test]
fn probe_subcommands_write_figures_and_numbers_and_refuse_bad_input() {
    let runs = common::temp_dir("cli-probe");
    let run = train_tiny(&runs);
    let out = runs.join("probes");
    let run_s = run.to_str().unwrap();
    let out_s = out.to_str().unwrap();
    let probe = |args: &[&str]| {
        let mut all = vec!["probe"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--run", run_s, "--out", out_s]);
        common::cli(&all, &[], &["DISPLAY", "WAYLAND_DISPLAY"])
    };
    let (ok, stdout, err) = probe(&["row-sweep", "--batch", "3"]);
    assert!(ok, "{stdout}\n{err}");
    assert!(stdout.contains("most crucial single row"), "{stdout}");
    // One line per class: "<digit>s: <flipped>/<images> flip; mean <what> to flip <n or —>",
    // with at most 3 images each, a mean exactly when something flipped.
    for what in ["rows erased", "bar rows"] {
        let line = stdout
            .lines()
            .find(|l| l.contains(&format!("mean {what} to flip")))
            .unwrap_or_else(|| panic!("no {what} line: {stdout}"));
        let counts = line.split(": ").nth(1).unwrap().split(' ').next().unwrap();
        let (flipped, images) = counts.split_once('/').unwrap();
        let (flipped, images): (usize, usize) = (flipped.parse().unwrap(), images.parse().unwrap());
        assert!((1..=3).contains(&images) && flipped <= images, "{line}");
        let mean = line.rsplit(' ').next().unwrap();
        assert_eq!(mean == "—", flipped == 0, "{line}");
    }
    let (ok, stdout, err) = probe(&["ablation", "--trials", "10", "--classes", "1,7"]);
    assert!(ok, "{stdout}\n{err}");
    assert!(stdout.contains("accuracy on 1/7: baseline"), "{stdout}");
    let (ok, stdout, err) = probe(&["saliency", "--index", "3", "--steps", "8"]);
    assert!(ok, "{stdout}\n{err}");
    assert!(stdout.contains("integrated gradients sum"), "{stdout}");
    // A picture instead of a test image (preprocessed as the pad does).
    let seven = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/handwritten-7.png");
    let (ok, stdout, err) = probe(&["row-sweep", "--image", seven, "--mc-passes", "4"]);
    assert!(ok, "{stdout}\n{err}");
    assert!(stdout.contains("handwritten-7.png: predicted"), "{stdout}");
    let (ok, stdout, err) = probe(&["embed", "--points", "200", "--iterations", "300"]);
    assert!(ok, "{stdout}\n{err}");
    let (ok, stdout, err) = probe(&["cross-dataset", "--images", "50"]);
    assert!(ok, "{stdout}\n{err}");
    assert!(stdout.contains("inversion"), "{stdout}");
    for f in [
        "row_sweep.png",
        "row_sweep.csv",
        "row_sweep_batch.png",
        "row_sweep_batch.csv",
        "ablation.png",
        "ablation.json",
        "saliency.png",
        "saliency.json",
        "embedding.png",
        "embedding.csv",
        "04_cross_dataset_evaluation.png",
        "04_cross_dataset_evaluation.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // 28·29/2 erased ranges plus 27 bar rows, after the header.
    let csv = std::fs::read_to_string(out.join("row_sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 406 + 27);
    let embedded = std::fs::read_to_string(out.join("embedding.csv")).unwrap();
    assert_eq!(embedded.lines().count(), 201);
    // Bad input: a message, a failing exit status.
    for (args, message) in [
        (vec!["ablation", "--layer", "conv9"], "no layer 'conv9'"),
        (vec!["ablation", "--classes", "3,3"], "two different digits"),
        (vec!["saliency", "--index", "999999"], "past the test set"),
        (
            vec!["embed", "--perplexity", "90", "--points", "100"],
            "perplexity",
        ),
        (
            vec!["cross-dataset", "--emnist", "/nonexistent-emnist"],
            "/nonexistent-emnist",
        ),
    ] {
        let (ok, stdout, err) = probe(&args);
        assert!(!ok, "{args:?} should fail: {stdout}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    let file = runs.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let (ok, _, err) = common::cli(
        &[
            "probe",
            "saliency",
            "--run",
            run_s,
            "--out",
            file.to_str().unwrap(),
        ],
        &[],
        &[],
    );
    assert!(!ok && err.contains("is a file"), "{err}");
}

#[test]
fn stability_results_are_not_replaced_without_overwrite() {
    let runs = common::temp_dir("stability-keep");
    let (ok, out, err) = common::cli(
        &[
            "train",
            "--synthetic",
            "--synthetic-size",
            "300",
            "--model",
            "small-cnn",
            "--device",
            "flex",
            "--runs",
            runs.to_str().unwrap(),
        ],
        &[],
        &[],
    );
    assert!(ok, "{out}\n{err}");
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let stability = |extra: &[&str]| {
        let mut args = vec![
            "experiment",
            "stability",
            "--run",
            run.to_str().unwrap(),
            "--synthetic",
            "--synthetic-size",
            "300",
            "--passes",
            "2",
        ];
        args.extend_from_slice(extra);
        common::cli(&args, &[], &["DISPLAY", "WAYLAND_DISPLAY"])
    };
    let (ok, out, err) = stability(&[]);
    assert!(ok, "{out}\n{err}");
    let before = std::fs::read(run.join("stability.json")).unwrap();
    let (ok, _, err) = stability(&["--seed", "2"]);
    assert!(
        !ok && err.contains("stability.json") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(std::fs::read(run.join("stability.json")).unwrap(), before);
    let (ok, out, err) = stability(&["--seed", "2", "--overwrite"]);
    assert!(ok, "{out}\n{err}");
    assert_ne!(std::fs::read(run.join("stability.json")).unwrap(), before);
}

/// Found by a hostile-input review (a full disk): `report` wrote its figures one by one, so
/// a write failing at the last figure left the first eight, which looked like a whole report.
#[test]
fn a_report_that_cannot_write_every_figure_writes_none() {
    let runs = common::temp_dir("report-all-or-none");
    let run = train_tiny(&runs);
    let out = runs.join("figures");
    // A folder where the last figure goes: its write fails, as on a full disk.
    let blocker = out.join("10_dataset.png");
    std::fs::create_dir_all(&blocker).unwrap();
    let args = ["report", "--run", run.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let (ok, _, err) = common::cli(&args, &[], &[]);
    assert!(!ok, "the last figure could not be written: {err}");
    assert!(err.contains("10_dataset.png"), "the message names the file: {err}");
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["10_dataset.png"], "only the blocker is there, no figure and no temporary file");
    std::fs::remove_dir(&blocker).unwrap();
    let (ok, stdout, err) = common::cli(&args, &[], &[]);
    assert!(ok, "the retry writes the report: {err}");
    assert!(stdout.contains("01_training_history.png") && out.join("10_dataset.json").is_file(), "{stdout}");
}
