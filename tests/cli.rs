//! The command line as a user runs it: bad inputs give a clear message, a non-zero exit and
//! no partial file; a short training run can be evaluated and used for predictions.

mod common;

use std::path::{Path, PathBuf};

use mnist_workbench::data::idx::{encode_images, encode_labels};
use mnist_workbench::data::sources::MNIST_FILES;

/// Writes a folder with the four files built from (train, test) synthetic digits, then lets
/// `damage` change the raw bytes of one file before gzip.
fn mnist_like_folder(tag: &str, damage: impl Fn(usize, &mut Vec<u8>)) -> PathBuf {
    let dir = common::temp_dir(tag);
    let train = mnist_workbench::data::synthetic::generate(40, 1);
    let test = mnist_workbench::data::synthetic::generate(20, 2);
    let raws = [
        encode_images(&train.pixels),
        encode_labels(&train.labels),
        encode_images(&test.pixels),
        encode_labels(&test.labels),
    ];
    for (i, (name, mut raw)) in MNIST_FILES.iter().zip(raws).enumerate() {
        damage(i, &mut raw);
        std::fs::write(dir.join(format!("{name}.gz")), common::gzip(&raw)).unwrap();
    }
    dir
}

fn data_info(dir: &Path) -> (bool, String) {
    let (ok, _, err) = common::cli(&["data", "info", "--data", dir.to_str().unwrap()], &[], &[]);
    (ok, err)
}

#[test]
fn intact_folder_is_accepted() {
    let dir = mnist_like_folder("ok", |_, _| {});
    let (ok, out, err) = common::cli(&["data", "info", "--data", dir.to_str().unwrap()], &[], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("train: 40 images"), "{out}");
}

#[test]
fn truncated_gz_is_reported() {
    let dir = mnist_like_folder("trunc-gz", |_, _| {});
    let path = dir.join("t10k-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (ok, err) = data_info(&dir);
    assert!(!ok);
    assert!(
        err.contains("t10k-images-idx3-ubyte.gz") && (err.contains("gzip") || err.contains("truncated")),
        "{err}"
    );
}

#[test]
fn wrong_magic_is_reported() {
    let dir = mnist_like_folder("magic", |i, raw| {
        if i == 0 {
            raw[3] = 0x01
        }
    });
    let (ok, err) = data_info(&dir);
    assert!(!ok);
    assert!(
        err.contains("train-images-idx3-ubyte.gz") && err.contains("wrong magic number 0x00000801"),
        "{err}"
    );
}

#[test]
fn image_label_count_mismatch_is_reported() {
    let dir = mnist_like_folder("count", |i, raw| {
        if i == 1 {
            raw.truncate(raw.len() - 5);
            raw[4..8].copy_from_slice(&35u32.to_be_bytes());
        }
    });
    let (ok, err) = data_info(&dir);
    assert!(!ok);
    assert!(
        err.contains("40 images but") && err.contains("35 labels"),
        "{err}"
    );
}

#[test]
fn zero_and_huge_dimensions_are_reported() {
    for (tag, side) in [("dims0", 0u32), ("dims-huge", 100_000u32)] {
        let dir = mnist_like_folder(tag, |i, raw| {
            if i == 2 {
                raw[8..12].copy_from_slice(&side.to_be_bytes());
                raw[12..16].copy_from_slice(&side.to_be_bytes());
            }
        });
        let (ok, err) = data_info(&dir);
        assert!(!ok);
        assert!(
            err.contains(&format!("{side}×{side}")) && err.contains("expected 28×28"),
            "{err}"
        );
    }
}

#[test]
fn label_eleven_is_reported() {
    let dir = mnist_like_folder("label11", |i, raw| {
        if i == 3 {
            raw[8 + 4] = 11
        }
    });
    let (ok, err) = data_info(&dir);
    assert!(!ok);
    assert!(err.contains("label 11 at item 4"), "{err}");
}

#[test]
fn missing_data_offline_says_what_to_do() {
    let home = common::temp_dir("empty-home");
    let (ok, _, err) = common::cli(
        &[
            "train",
            "--model",
            "tiny-cnn",
            "--runs",
            home.join("runs").to_str().unwrap(),
        ],
        &[("HOME", &home), ("XDG_CACHE_HOME", &home.join("cache"))],
        &["MNIST_DIR"],
    );
    assert!(!ok);
    assert!(
        err.contains("no MNIST data found") && err.contains("data download"),
        "{err}"
    );
    assert!(
        !home.join("runs").exists(),
        "a run folder was created for a run that never started"
    );
}

#[test]
fn batch_size_zero_is_refused_before_anything_is_written() {
    let runs = common::temp_dir("bs0");
    let (ok, _, err) = common::cli(
        &[
            "train",
            "--synthetic",
            "--batch-size",
            "0",
            "--runs",
            runs.to_str().unwrap(),
        ],
        &[],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("batch size must be at least 1"), "{err}");
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 0);
}

#[test]
fn huge_learning_rate_diverges_with_a_clear_message() {
    let runs = common::temp_dir("lr");
    let (ok, _, err) = common::cli(
        &[
            "train",
            "--synthetic",
            "--synthetic-size",
            "640",
            "--model",
            "mlp",
            "--lr",
            "1e6",
            "--device",
            "flex",
            "--runs",
            runs.to_str().unwrap(),
        ],
        &[],
        &[],
    );
    assert!(!ok);
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let summary = std::fs::read_to_string(run.join("summary.json")).expect("failed runs get a summary");
    assert!(summary.contains("\"diverged\""), "{summary}");
    assert!(
        err.contains("diverged") && err.contains("lower the learning rate"),
        "{err}"
    );
}

fn train_tiny(runs: &Path) -> PathBuf {
    let (ok, out, err) = common::cli(
        &[
            "train",
            "--synthetic",
            "--synthetic-size",
            "1200",
            "--model",
            "tiny-cnn",
            "--epochs",
            "2",
            "--lr",
            "0.002",
            "--batch-size",
            "32",
            "--device",
            "flex",
            "--runs",
            runs.to_str().unwrap(),
        ],
        &[],
        &[],
    );
    assert!(ok, "{out}\n{err}");
    let run = std::fs::read_dir(runs).unwrap().next().unwrap().unwrap().path();
    for f in [
        "config.json",
        "metrics.jsonl",
        "model.bpk",
        "optimizer.bpk",
        "summary.json",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    run
}

#[test]
fn train_eval_predict_round_trip_and_damaged_checkpoints() {
    let runs = common::temp_dir("roundtrip");
    let run = train_tiny(&runs);
    let run_s = run.to_str().unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let trained = summary["outcome"]["test_accuracy"].as_f64().unwrap();

    let (ok, out, err) = common::cli(&["eval", "--run", run_s, "--device", "flex", "--json"], &[], &[]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        (report["accuracy"].as_f64().unwrap() - trained).abs() < 1e-9,
        "eval differs from training's figure"
    );

    // predict on a PNG: a dark "1" on a white 60×90 canvas.
    let png = runs.join("one.png");
    let mut img = image::GrayImage::from_pixel(60, 90, image::Luma([255]));
    for y in 10..80 {
        for x in 27..34 {
            img.put_pixel(x, y, image::Luma([0]));
        }
    }
    img.save(&png).unwrap();
    let (ok, out, err) = common::cli(&["predict", "--run", run_s, png.to_str().unwrap()], &[], &[]);
    assert!(ok, "{err}");
    assert!(out.lines().count() >= 12, "the 10 logits are printed: {out}");
    // The digit printed is the model's own answer for the preprocessed picture.
    let expected = {
        use mnist_workbench::preprocess::{load_grey, mnist_style};
        let (dir, config) = mnist_workbench::train::RunDir::open(&run).unwrap();
        let flex = mnist_workbench::device::flex().device;
        let model = dir.load_model(&config.train.model, &flex).unwrap();
        let (grey, w, h) = load_grey(&png).unwrap();
        let pixels = mnist_style(&grey, w, h).unwrap();
        let logits = mnist_workbench::train::eval::logits_for_intensities(&model, &pixels, &flex).unwrap();
        mnist_workbench::train::metrics::argmax(&logits)
    };
    assert!(
        out.contains(&format!("prediction: {expected} (")),
        "expected {expected}: {out}"
    );

    // A checkpoint of another architecture.
    let config_path = run.join("config.json");
    let original = std::fs::read_to_string(&config_path).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&original).unwrap();
    config["train"]["model"] =
        serde_json::to_value(mnist_workbench::model::ModelSpec::preset("small-cnn").unwrap()).unwrap();
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    let (ok, _, err) = common::cli(&["eval", "--run", run_s, "--device", "flex"], &[], &[]);
    assert!(!ok);
    assert!(err.contains("does not load as small-cnn"), "{err}");
    std::fs::write(&config_path, original).unwrap();

    // Not a picture.
    let (ok, _, err) = common::cli(
        &["predict", "--run", run_s, config_path.to_str().unwrap()],
        &[],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("cannot read image"), "{err}");

    // A truncated checkpoint.
    let model = run.join("model.bpk");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() - 100]).unwrap();
    let (ok, _, err) = common::cli(&["eval", "--run", run_s, "--device", "flex"], &[], &[]);
    assert!(!ok);
    // checkpoint.json recorded the saved file's digest: the damage is named as such.
    assert!(
        err.contains("model.bpk") && err.contains("changed or was damaged after it was saved"),
        "{err}"
    );
    // Without the record (a model saved elsewhere), the loader itself refuses it.
    std::fs::remove_file(run.join("checkpoint.json")).unwrap();
    let (ok, _, err) = common::cli(&["eval", "--run", run_s, "--device", "flex"], &[], &[]);
    assert!(!ok);
    assert!(
        err.contains("model.bpk") && err.contains("does not load as tiny-cnn"),
        "{err}"
    );
}

#[test]
#[ignore = "needs real MNIST: mnist-workbench data download, then MNIST_DIR=<folder> cargo test --release -- --include-ignored"]
fn data_check_verifies_real_mnist_digests() {
    let dir = common::mnist_dir();
    let (ok, out, err) = common::cli(&["data", "check", "--data", dir.to_str().unwrap()], &[], &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("all four files are intact MNIST"));
}

#[test]
fn data_check_flags_a_damaged_folder() {
    let dir = mnist_like_folder("check-bad", |_, _| {});
    let (ok, out, err) = common::cli(&["data", "check", "--data", dir.to_str().unwrap()], &[], &[]);
    assert!(!ok);
    assert!(
        out.contains("BAD") && err.contains("4 of 4 files missing or damaged"),
        "{out}{err}"
    );
}

#[test]
fn download_subcommand_uses_given_mirrors_and_fails_cleanly() {
    let server = common::LocalServer::start(Vec::new());
    let dest = common::temp_dir("cli-dl");
    let (ok, _, err) = common::cli(
        &[
            "data",
            "download",
            "--dest",
            dest.to_str().unwrap(),
            "--mirror",
            &server.base_url,
        ],
        &[],
        &[],
    );
    assert!(!ok);
    assert!(
        err.contains("could not download train-images-idx3-ubyte.gz") && err.contains("404"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
}

#[test]
#[ignore = "needs real MNIST: mnist-workbench data download, then MNIST_DIR=<folder> cargo test --release -- --include-ignored"]
fn corrupted_download_exits_non_zero_and_leaves_nothing() {
    let dir = common::mnist_dir();
    // The real files with a few bytes flipped in the middle: gzip or the digest must refuse them.
    let files = MNIST_FILES
        .iter()
        .map(|n| {
            let mut bytes = std::fs::read(dir.join(format!("{n}.gz"))).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xFF;
            bytes[mid + 7] ^= 0x55;
            (format!("{n}.gz"), bytes)
        })
        .collect();
    let server = common::LocalServer::start(files);
    let dest = common::temp_dir("cli-dl-corrupt");
    let (ok, _, err) = common::cli(
        &[
            "data",
            "download",
            "--dest",
            dest.to_str().unwrap(),
            "--mirror",
            &server.base_url,
        ],
        &[],
        &[],
    );
    assert!(!ok);
    assert!(
        err.contains("could not download train-images-idx3-ubyte.gz")
            && (err.contains("checksum mismatch") || err.contains("not a valid gzip")),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&dest).unwrap().count(),
        0,
        "a partial file was left behind"
    );
}

#[test]
fn absurd_synthetic_size_is_refused() {
    let (ok, _, err) = common::cli(
        &["data", "info", "--synthetic", "--synthetic-size", "10000000000"],
        &[],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("--synthetic-size"), "{err}");
}

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
    let results = mnist_workbench::experiment::ensemble::EnsembleResults::load(&out)
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
    let r = mnist_workbench::experiment::stability::StabilityResults::load(&run).unwrap();
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
fn help_describes_every_subcommand_once() {
    let (ok, stdout, err) = common::cli(&["--help"], &[], &[]);
    assert!(ok, "{err}");
    for (name, about) in [
        ("probe", "Probe a trained run"),
        ("bench", "Run the benchmark tasks"),
        ("experiment", "Many-model experiments"),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{stdout}"));
        assert!(line.contains(about), "{line}");
        assert_eq!(stdout.matches(about).count(), 1, "{about}");
    }
}

#[test]
fn resume_keeps_the_runs_own_optimiser_schedule_and_batch() {
    let runs = common::temp_dir("resume-config");
    let r = runs.to_str().unwrap();
    let first = [
        "train",
        "--synthetic",
        "--synthetic-size",
        "300",
        "--model",
        "mlp",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--schedule",
        "step",
        "--gamma",
        "0.5",
        "--batch-size",
        "32",
        "--seed",
        "9",
        "--device",
        "flex",
        "--runs",
        r,
    ];
    let (ok, out, err) = common::cli(&first, &[], &[]);
    assert!(ok, "{out}\n{err}");
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    // Resumes the run with `extra` flags into a fresh runs folder; the new run's train config.
    let resume = |extra: &[&str]| -> serde_json::Value {
        let into = common::temp_dir("resume-config-new");
        let mut args = vec![
            "train",
            "--resume",
            run.to_str().unwrap(),
            "--synthetic",
            "--synthetic-size",
            "300",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--device", "flex", "--runs", into.to_str().unwrap()]);
        let (ok, out, err) = common::cli(&args, &[], &[]);
        assert!(ok, "{out}\n{err}");
        let resumed = std::fs::read_dir(&into).unwrap().next().unwrap().unwrap().path();
        let text = std::fs::read_to_string(resumed.join("config.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["train"].clone()
    };
    let train = resume(&[]);
    assert_eq!(train["optimizer"], "sgd", "{train}");
    assert_eq!(train["learning_rate"], 0.05, "{train}");
    assert_eq!(train["batch_size"], 32, "{train}");
    assert_eq!(train["seed"], 9, "{train}");
    let schedule = (
        train["schedule"]["kind"].as_str(),
        train["schedule"]["gamma"].as_f64(),
    );
    assert_eq!(schedule, (Some("step"), Some(0.5)), "{train}");
    // A flag given with --resume still wins.
    let train = resume(&["--lr", "0.01"]);
    assert_eq!(train["learning_rate"], 0.01, "{train}");
    assert_eq!(train["optimizer"], "sgd", "{train}");
}

#[test]
fn headless_commands_do_not_complain_about_xdg_runtime_dir() {
    let runs = common::temp_dir("xdg");
    let (ok, out, err) = common::cli(
        &[
            "train",
            "--synthetic",
            "--synthetic-size",
            "100",
            "--model",
            "mlp",
            "--runs",
            runs.to_str().unwrap(),
        ],
        &[],
        &["XDG_RUNTIME_DIR"],
    );
    assert!(ok, "{out}\n{err}");
    assert!(!err.contains("XDG_RUNTIME_DIR"), "{err}");
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
