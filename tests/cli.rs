//! The command line as a user runs it: bad inputs give a clear message, a non-zero exit and
//! no partial file; a short training run can be evaluated and used for predictions.

mod common;
#[path = "cli/data_cmd.rs"]
mod data_cmd;
#[path = "cli/results_cmd.rs"]
mod results_cmd;

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
        let (dir, config) = mnist_workbench::run::RunDir::open(&run).unwrap();
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
fn help_describes_every_subcommand_once() {
    let (ok, stdout, err) = common::cli(&["--help"], &[], &[]);
    assert!(ok, "{err}");
    for (name, about) in [
        ("probe", "Probe a trained model"),
        ("bench", "Run the benchmark tasks"),
        ("experiment", "Experiments over many models"),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{stdout}"));
        assert!(line.contains(about), "{line}");
        assert_eq!(stdout.matches(about).count(), 1, "{about}");
    }
}

/// `--token-file` is global, so it is accepted after any subcommand, but only the commands
/// that can reach a server list it.
#[test]
fn token_file_is_listed_only_where_a_server_is_reached() {
    let help = |args: &[&str]| {
        let (ok, out, err) = common::cli(args, &[], &[]);
        assert!(ok, "{args:?}: {err}");
        out
    };
    for listed in [&["--help"][..], &["train", "--help"], &["serve", "--help"], &["experiment", "ensemble", "--help"]] {
        assert!(help(listed).contains("--token-file"), "{listed:?} lists it");
    }
    for unlisted in [&["data", "--help"][..], &["data", "download", "--help"], &["import", "--help"]] {
        assert!(!help(unlisted).contains("--token-file"), "{unlisted:?} does not list it");
    }
    // Still accepted there: the command runs on to its own check (the destination is a file).
    let file = common::temp_dir("token-file-hidden").join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let (ok, _, err) =
        common::cli(&["data", "download", "--token-file", "/nonexistent", "--dest", file.to_str().unwrap()], &[], &[]);
    assert!(!ok && err.contains("not a folder"), "{err}");
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
        assert!(err.contains("resuming "), "says it resumes: {err}");
        let resumed = std::fs::read_dir(&into).unwrap().next().unwrap().unwrap().path();
        let text = std::fs::read_to_string(resumed.join("config.json")).unwrap();
        let config = serde_json::from_str::<serde_json::Value>(&text).unwrap();
        // The new run records the run it started from.
        assert_eq!(config["resumed_from"], run.to_str().unwrap(), "{config}");
        config["train"].clone()
    };
    let train = resume(&[]);
    assert_eq!(train["optimizer"]["kind"], "sgd", "{train}");
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
    assert_eq!(train["optimizer"]["kind"], "sgd", "{train}");
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

/// `bench` prints one JSON line per task, and the figures README's GPU table reads: the time
/// to the first step (epoch) and the first call alone (latency), each inside its task's total.
#[test]
fn bench_reports_the_first_step_and_the_first_call() {
    let (ok, out, err) = common::cli(
        &[
            "bench", "--task", "epoch", "--task", "latency", "--device", "flex", "--synthetic",
            "--synthetic-size", "200",
        ],
        &[],
        &[],
    );
    assert!(ok, "bench failed: {err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    let epoch = &lines[0];
    assert_eq!(epoch["task"], "epoch");
    let first = epoch["first_step_seconds"].as_f64().expect("first_step_seconds");
    let total = epoch["seconds"].as_f64().expect("seconds");
    assert!(first > 0.0 && first <= total, "first step {first} s, epoch {total} s");
    let latency = &lines[1];
    assert_eq!(latency["task"], "latency");
    let first_ms = latency["first_ms"].as_f64().expect("first_ms");
    assert!(first_ms > 0.0 && latency["median_ms"].as_f64().expect("median_ms") > 0.0);
}

/// `bench --help` names the tasks from the registry (each study registered with a benchmark
/// among them), and a task that does not exist is refused with that list.
#[test]
fn bench_names_its_tasks_from_the_registry() {
    let (ok, help, err) = common::cli(&["bench", "--help"], &[], &[]);
    assert!(ok, "{err}");
    let listed = help.lines().find(|l| l.contains("possible values")).unwrap_or_else(|| panic!("{help}"));
    for task in mnist_workbench::bench::tasks().into_iter().chain(["frame", "pad"]) {
        assert!(listed.contains(task), "{task} missing from: {listed}");
    }
    let (ok, _, err) = common::cli(&["bench", "--task", "no-such-task"], &[], &[]);
    assert!(!ok && err.contains("no-such-task") && err.contains("epoch"), "{err}");
}

/// A study's benchmark comes from its registration (`Study::BENCH`): `bench --task ensemble`
/// runs the ensemble study and reports its figures beside the shared ones, and only a study
/// that spreads takes a list of devices.
#[test]
fn bench_runs_a_registered_studys_task() {
    let (ok, out, err) = common::cli(
        &["bench", "--task", "ensemble", "--models", "3", "--device", "flex", "--synthetic", "--synthetic-size", "200"],
        &[],
        &[],
    );
    assert!(ok, "bench failed: {err}");
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    assert_eq!(line["task"], "ensemble", "{line}");
    assert_eq!(line["models"], 3, "{line}");
    assert!(line["kernels"].is_string() && line["threads"].as_u64() > Some(0), "the shared fields: {line}");
    let accuracy = line["mean_test_accuracy"].as_f64().expect("mean_test_accuracy");
    assert!((0.0..=1.0).contains(&accuracy), "{line}");
    let train = line["train_seconds"].as_f64().expect("train_seconds");
    assert!(train > 0.0 && train <= line["seconds"].as_f64().expect("seconds"), "{line}");
    assert_eq!(line["per_device"][0]["groups"], 1, "3 models make one group: {line}");
    let (ok, _, err) = common::cli(
        &["bench", "--task", "epoch", "--device", "flex,remote://127.0.0.1:9", "--synthetic"],
        &[],
        &[],
    );
    assert!(!ok && err.contains("only the ensemble task runs on a list of devices"), "{err}");
}

/// Found by a hostile-input review (a full disk): the results were saved, their figures
/// failed, and running the study again was refused because "results are already there".
#[test]
fn results_whose_figures_cannot_be_written_are_not_left_behind() {
    let runs = common::temp_dir("cli-figure-fails");
    let run = train_tiny(&runs);
    let out = common::temp_dir("cli-figure-fails-out");
    // A folder where the figure goes: its write fails, as on a full disk.
    let blocker = out.join("class_curves.png");
    std::fs::create_dir(&blocker).unwrap();
    let args = ["experiment", "class-curves", "--run", run.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let (ok, _, err) = common::cli(&args, &[], &[]);
    assert!(!ok, "the figure could not be written: {err}");
    assert!(err.contains("writing the figures") && err.contains("run again"), "{err}");
    assert!(!out.join("class_curves.json").exists(), "no results without their figure");
    assert!(!out.join("class-curves.study.json").exists(), "nor their stamp");
    std::fs::remove_dir(&blocker).unwrap();
    let (ok, stdout, err) = common::cli(&args, &[], &[]);
    assert!(ok, "the retry runs: {err}");
    assert!(stdout.contains("class_curves.png") && out.join("class_curves.json").is_file(), "{stdout}");
}
