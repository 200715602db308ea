//! Files that lie about their size, never end or are not files at all (issue 23, points 1,
//! 2, 8 and 9): a FIFO or `/dev/zero` where the workbench expects `config.json`, `model.bpk`,
//! a PNG or a token file is refused at once, naming the file; sizes declared in
//! `config.json` or given as flags are checked before anything is allocated; `report` never
//! reads `steps.csv`; the app opens the newest run that loads and says why a newer one did
//! not; no run leaves a runtime folder of its own behind.
//!
//! Every CLI call here runs under [`cli_bounded`], which kills the process after a deadline,
//! so a regression that blocks on a FIFO fails the test instead of hanging it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::gui::{harness, notice_texts, trained_run};

/// How long a refusal may take: far more than any of them needs (they answer in well under a
/// second), far less than a blocked read would wait.
const DEADLINE: Duration = Duration::from_secs(60);

/// [`common::cli_bounded`] with this file's deadline.
fn cli_bounded(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    common::cli_bounded(args, env, DEADLINE)
}

fn refused(case: &str, args: &[&str], needles: &[&str]) {
    let (ok, err) = cli_bounded(args, &[]);
    assert!(!ok, "{case}: accepted\n{err}");
    assert!(!err.contains("panicked"), "{case}: panicked\n{err}");
    for needle in needles {
        assert!(err.contains(needle), "{case}: the message does not name `{needle}`:\n{err}");
    }
}

/// A trained MLP run folder (300 synthetic images, one epoch) made through the CLI.
fn cli_run(tag: &str) -> PathBuf {
    let runs = common::temp_dir(tag);
    let (ok, err) = cli_bounded(
        &[
            "train", "--synthetic", "--synthetic-size", "300", "--model", "mlp", "--device", "flex", "--runs",
            runs.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{err}");
    std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path()
}

fn copy_run(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let made = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
}

fn eval_args(run: &Path) -> Vec<String> {
    ["eval", "--run", run.to_str().unwrap(), "--synthetic", "--synthetic-size", "300", "--device", "flex"]
        .map(String::from)
        .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn special_files_in_a_run_folder_are_refused_at_once() {
    let good = cli_run("special-src");
    let root = common::temp_dir("special");
    // A FIFO as config.json: opening it for reading would wait for a writer forever.
    let run = root.join("fifo-config");
    copy_run(&good, &run);
    mkfifo(&run.join("config.json"));
    refused("FIFO as config.json", &strs(&eval_args(&run)), &["config.json", "not a regular file"]);
    // A FIFO as model.bpk.
    let run = root.join("fifo-model");
    copy_run(&good, &run);
    mkfifo(&run.join("model.bpk"));
    refused("FIFO as model.bpk", &strs(&eval_args(&run)), &["model.bpk", "not a regular file"]);
    // /dev/zero as model.bpk: an endless file, read until memory ran out before.
    let run = root.join("zero-model");
    copy_run(&good, &run);
    std::fs::remove_file(run.join("model.bpk")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", run.join("model.bpk")).unwrap();
    refused("/dev/zero as model.bpk", &strs(&eval_args(&run)), &["model.bpk", "device"]);
    // A FIFO and /dev/zero as the picture `predict` reads.
    let fifo = root.join("digit.png");
    mkfifo(&fifo);
    refused(
        "FIFO as a PNG",
        &["predict", "--run", good.to_str().unwrap(), fifo.to_str().unwrap()],
        &["digit.png", "not a regular file"],
    );
    refused(
        "/dev/zero as a PNG",
        &["predict", "--run", good.to_str().unwrap(), "/dev/zero"],
        &["/dev/zero", "device"],
    );
}

#[test]
fn sizes_in_config_json_and_flags_are_checked_before_allocating() {
    let good = cli_run("sizes-src");
    let root = common::temp_dir("sizes");
    // data_source.train_size of a synthetic run: regenerating 10^15 images would abort.
    let run = root.join("huge-train-size");
    copy_run(&good, &run);
    let config = run.join("config.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    json["data_source"]["train_size"] = serde_json::json!(1_000_000_000_000_000u64);
    std::fs::write(&config, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    refused(
        "data_source.train_size of 10^15",
        &strs(&eval_args(&run)),
        &["config.json", "data_source.train_size"],
    );
    // --per-digit of 10^18 on the command line: "capacity overflow" on the trainer before.
    let runs = root.join("runs");
    refused(
        "train --per-digit 10^18",
        &[
            "train", "--synthetic", "--synthetic-size", "300", "--model", "mlp", "--device", "flex", "--per-digit",
            "1000000000000000000", "--runs", runs.to_str().unwrap(),
        ],
        &["per-digit"],
    );
    // The same through a run's config.json on --resume.
    let run = root.join("huge-per-digit");
    copy_run(&good, &run);
    let config = run.join("config.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    json["train"]["subset"] = serde_json::json!({"kind": "per_digit", "k": 1_000_000_000_000_000_000u64});
    std::fs::write(&config, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    refused(
        "subset.k of 10^18 in config.json on --resume",
        &[
            "train", "--resume", run.to_str().unwrap(), "--synthetic", "--synthetic-size", "300", "--device", "flex",
            "--runs", runs.to_str().unwrap(),
        ],
        &["config.json", "per-digit"],
    );
}

#[test]
fn report_does_not_read_the_step_log() {
    let good = cli_run("report-steps-src");
    let root = common::temp_dir("report-steps");
    let run = root.join("run");
    copy_run(&good, &run);
    // A FIFO in place of steps.csv: a report that read it would block until the deadline.
    mkfifo(&run.join("steps.csv"));
    let out = root.join("report");
    let (ok, err) = cli_bounded(
        &[
            "report", "--run", run.to_str().unwrap(), "--synthetic", "--synthetic-size", "300", "--device", "flex", "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert!(out.join("01_training_history.png").is_file(), "the history figure is drawn from metrics.jsonl");
    // And the step log itself, where it is read (the dashboard), refuses a FIFO at once.
    let err = mnist_workbench::run::step_log::read_steps(&run.join("steps.csv")).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[test]
fn a_long_step_log_is_read_a_line_at_a_time_with_torn_and_damaged_lines_skipped() {
    use mnist_workbench::run::step_log::{HEADER, read_steps};
    let dir = common::temp_dir("steps-stream");
    let path = dir.join("steps.csv");
    let mut text = format!("{HEADER}\n");
    for step in 1..=1000 {
        text.push_str(&format!("{step},1,0.5,0.25,0.001,100,{}\n", step as f32 * 0.1));
    }
    // A 100 KiB line of garbage (longer than any row), a valid row, then a torn last line.
    text.push_str(&"x".repeat(100 << 10));
    text.push('\n');
    text.push_str("1001,1,0.5,0.25,0.001,100,100.1\n1002,1,0.5");
    std::fs::write(&path, text).unwrap();
    let rows = read_steps(&path).unwrap();
    assert_eq!(rows.len(), 1001, "1000 rows, the garbage line skipped, row 1001 kept, the torn line not");
    assert_eq!(rows.last().unwrap().step, 1001);
}

#[test]
fn no_runtime_folder_of_its_own_is_left_behind() {
    let tmp = common::temp_dir("runtime-dir");
    let tmp_s = tmp.to_str().unwrap().to_string();
    for _ in 0..2 {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mnist-workbench"));
        let status = cmd
            .args(["data", "--help"])
            .env_remove("XDG_RUNTIME_DIR")
            .env("TMPDIR", &tmp_s)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let left: Vec<String> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter().all(|n| !n.contains("pid")),
        "a per-process runtime folder was left: {left:?}"
    );
    assert!(left.len() <= 1, "at most the one per-user folder, reused: {left:?}");
}

#[test]
fn the_app_opens_the_newest_run_that_loads_and_says_why_a_newer_one_did_not() {
    let data = common::synthetic_dataset(300, 60, 23);
    let runs = common::temp_dir("newest-other-arch");
    let tiny = trained_run(&runs, &data, "tiny-cnn");
    let small = trained_run(&runs, &data, "small-cnn");
    // Make the small-cnn run the newest by name, then give it the tiny-cnn's weights: a
    // model.bpk of another architecture (and no checkpoint.json to catch it first).
    let older = runs.join("20000101-000000-tiny-cnn-seed0");
    let newest = runs.join("29990101-000000-small-cnn-seed0");
    std::fs::rename(&tiny, &older).unwrap();
    std::fs::rename(&small, &newest).unwrap();
    std::fs::copy(older.join("model.bpk"), newest.join("model.bpk")).unwrap();
    let _ = std::fs::remove_file(newest.join("checkpoint.json"));
    let mut h = harness(&data, &runs);
    h.run_steps(5);
    let model = h.state().workbench.model.as_ref().expect("a model is open");
    assert_eq!(model.run_dir.as_deref(), Some(older.as_path()), "the older run that loads is open");
    let notices = notice_texts(&h);
    assert!(
        notices.iter().any(|n| n.starts_with("Opened 20000101-000000-tiny-cnn-seed0")
            && n.contains("newest run was not opened")
            && n.contains("model.bpk")),
        "{notices:?}"
    );
}

/// Cases the wider hostile corpus (issue 23's last point) found on this branch before they
/// were fixed; each used to be accepted, to exhaust memory or to name nothing.
#[test]
fn what_the_wider_corpus_found_is_refused_naming_the_field() {
    let good = cli_run("corpus-src");
    let root = common::temp_dir("corpus-found");
    // An MLP of 100 hidden layers in config.json: every width was checked, not their number
    // (2.5 GB before `eval` gave up).
    let run = root.join("many-layers");
    copy_run(&good, &run);
    let config = run.join("config.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    json["train"]["model"]["hidden"] = serde_json::json!(vec![4096; 100]);
    std::fs::write(&config, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    refused("100 hidden layers", &strs(&eval_args(&run)), &["config.json", "hidden layers"]);
    // A model.bpk far larger than its architecture's weights: refused before it is read.
    let run = root.join("big-model");
    copy_run(&good, &run);
    std::fs::write(run.join("model.bpk"), vec![0u8; 16 << 20]).unwrap();
    refused("16 MB model.bpk for a small MLP", &strs(&eval_args(&run)), &["model.bpk", "limit"]);
    // A value that is not UTF-8: clap named no flag.
    {
        use std::os::unix::ffi::OsStrExt;
        let out = Command::new(env!("CARGO_BIN_EXE_mnist-workbench"))
            .args(["train", "--synthetic", "--lr"])
            .arg(std::ffi::OsStr::from_bytes(b"\xff\xfe"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("--lr") && err.contains("UTF-8"), "{err}");
    }
    // A blank picture for a probe: the message named no file.
    let png = root.join("blank.png");
    image::GrayImage::from_pixel(28, 28, image::Luma([255])).save(&png).unwrap();
    refused(
        "blank picture for saliency",
        &[
            "probe", "saliency", "--run", good.to_str().unwrap(), "--synthetic", "--synthetic-size", "300",
            "--device", "flex", "--image", png.to_str().unwrap(), "--out", root.join("sal").to_str().unwrap(),
        ],
        &["blank.png", "blank"],
    );
}

#[test]
fn figures_out_of_range_in_saved_size_curves_are_refused_on_resume() {
    let root = common::temp_dir("curve-figures");
    let out = root.join("curve");
    let args = [
        "experiment", "subset-curve", "--model", "mlp", "--fractions", "0.5,1", "--epochs", "1", "--synthetic",
        "--synthetic-size", "300", "--device", "flex", "--out", out.to_str().unwrap(),
    ];
    let (ok, err) = cli_bounded(&args, &[]);
    assert!(ok, "{err}");
    let path = out.join("subset_curve.json");
    let saved = std::fs::read_to_string(&path).unwrap();
    for (field, value) in [("test_accuracy", -1.0), ("train_loss", -0.5), ("seconds", -5.0)] {
        let mut json: serde_json::Value = serde_json::from_str(&saved).unwrap();
        json["points"][0][field] = serde_json::json!(value);
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
        refused(&format!("points[0].{field} = {value}"), &args, &["subset_curve.json", "points[0]"]);
    }
}

/// A copy of a trained run without `checkpoint.json` (as imported runs are), its first
/// weight tensor changed by `poison` and saved: what `eval` says of it.
fn eval_poisoned(tag: &str, poison: impl Fn(&mut Vec<f32>), case: &str, needles: &[&str]) {
    use mnist_workbench::model::Model;
    let good = cli_run(&format!("{tag}-src"));
    let run = common::temp_dir(tag).join("run");
    copy_run(&good, &run);
    let _ = std::fs::remove_file(run.join("checkpoint.json"));
    let (dir, config) = mnist_workbench::run::RunDir::open(&run).unwrap();
    let flex = mnist_workbench::device::flex().device;
    let spec = config.train.model.clone();
    let mut plain = dir.load_model(&spec, &flex).unwrap().to_plain();
    poison(&mut plain.params[0]);
    let poisoned = Model::from_plain(&spec, &plain, &flex).unwrap();
    mnist_workbench::run::save_model(&poisoned, &run.join("model.bpk")).unwrap();
    refused(case, &strs(&eval_args(&run)), needles);
}

#[test]
fn nan_weights_in_model_bpk_are_refused_even_without_checkpoint_json() {
    // Imported runs have no checkpoint.json, so nothing caught weights saved as NaN: `predict`
    // printed "prediction: 0 (NaN%)" and `eval` called every image 0.
    eval_poisoned("nan-weights", |w| w[3] = f32::NAN, "NaN in model.bpk", &["model.bpk", "NaN"]);
}

#[test]
fn finite_weights_that_overflow_are_refused_like_nan_ones() {
    // Every weight of the first layer near f32's limit: each value is finite, but the logits
    // overflow to NaN, and `eval` printed "test loss NaN" and exited 0.
    let huge = |w: &mut Vec<f32>| w.iter_mut().for_each(|v| *v = 3.0e38);
    eval_poisoned("huge-weights", huge, "huge weights in model.bpk", &["model.bpk", "non-finite"]);
}

#[test]
fn a_damaged_checkpoint_json_does_not_switch_the_weight_check_off() {
    let good = cli_run("damaged-manifest-src");
    let root = common::temp_dir("damaged-manifest");
    let run = root.join("run");
    copy_run(&good, &run);
    // model.bpk damaged, and checkpoint.json, which records its digest, cut short: the
    // weights used to load unchecked ("a damaged manifest only costs the check").
    let model = run.join("model.bpk");
    let mut bytes = std::fs::read(&model).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].fill(0x7f);
    std::fs::write(&model, &bytes).unwrap();
    std::fs::write(run.join("checkpoint.json"), "{\"current\":").unwrap();
    refused("a cut-short checkpoint.json", &strs(&eval_args(&run)), &["model.bpk", "checkpoint.json", "remove it"]);
    // A folder in its place is no better.
    std::fs::remove_file(run.join("checkpoint.json")).unwrap();
    std::fs::create_dir(run.join("checkpoint.json")).unwrap();
    refused("a folder as checkpoint.json", &strs(&eval_args(&run)), &["checkpoint.json"]);
    assert_eq!(std::fs::read(&model).unwrap(), bytes, "nothing was changed");
}

#[test]
fn figures_no_training_produces_cost_their_line_of_metrics_jsonl() {
    // Found by a hostile-input review: `experiment class-curves` drew and summarised a
    // per-class accuracy of 1e300 and -5 ("hardest digit 1 at -500.00 %").
    let good = cli_run("absurd-metrics-src");
    let root = common::temp_dir("absurd-metrics");
    let curves = |run: &Path, out: &str| {
        let out = root.join(out);
        let args = ["experiment", "class-curves", "--run", run.to_str().unwrap(), "--out", out.to_str().unwrap()];
        let (ok, stdout, stderr) = common::cli(&args, &[], &[]);
        (ok, stdout, stderr, out)
    };
    let (ok, before, err, _) = curves(&good, "before");
    assert!(ok, "{err}");
    let run = root.join("run");
    copy_run(&good, &run);
    let metrics = run.join("metrics.jsonl");
    let mut damaged_one = false;
    let lines: Vec<String> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|line| {
            let mut event: serde_json::Value = serde_json::from_str(line).unwrap();
            let per_class = event.pointer_mut("/metrics/per_class_accuracy").filter(|v| v.is_array());
            match per_class {
                Some(v) if !damaged_one => {
                    v[0] = serde_json::json!(1e300);
                    v[1] = serde_json::json!(-5.0);
                    damaged_one = true;
                    event.to_string()
                }
                _ => line.to_string(),
            }
        })
        .collect();
    assert!(damaged_one, "an epoch line with per-class accuracies");
    std::fs::write(&metrics, lines.join("\n") + "\n").unwrap();
    // The run's one epoch was that line: without it there is nothing to draw, and it says so.
    assert!(before.contains("1 evaluated epoch"), "{before}");
    let (ok, after, err, out) = curves(&run, "after");
    assert!(!ok && !after.contains("-500"), "{after}");
    assert!(err.contains("no epoch of this run was evaluated"), "{err}");
    assert!(!out.join("class_curves.csv").exists());
}
