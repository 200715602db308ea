//! The bundled model (`assets/bundled`, issue #26): `predict` without `--run` reads a drawn 7
//! on a machine with nothing set up, a damaged copy in the cache is written again, the app
//! opens it when no run opens, and (on real MNIST) its provenance file says what `eval`
//! measures.

mod common;

use std::path::Path;

use mnist_workbench::run::RunConfig;
use mnist_workbench::run::bundled::{bundled_run_dir, label, provenance};

const SEVEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/handwritten-7.png");

/// `predict` with an empty HOME and no MNIST anywhere.
fn predict_in(home: &Path) -> (bool, String, String) {
    common::cli(
        &["predict", SEVEN, "--device", "flex"],
        &[("HOME", home)],
        &["XDG_CACHE_HOME", "MNIST_DIR", "DISPLAY", "WAYLAND_DISPLAY"],
    )
}

#[test]
fn predict_without_a_run_reads_a_seven_on_a_bare_machine_and_repairs_its_copy() {
    let home = common::temp_dir("bundled-home");
    let (ok, stdout, stderr) = predict_in(&home);
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("prediction: 7"), "{stdout}");
    // The copy lives in the (empty) HOME's cache; damaging it gets it written again, the
    // answer unchanged.
    let cache = home.join(".cache/mnist-workbench");
    let copy = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("bundled-"))
        .expect("the bundled run folder under the cache");
    let model = copy.join("model.bpk");
    let original = std::fs::read(&model).unwrap();
    // Results a study wrote into the copy (`experiment class-curves --run bundled`) outlive
    // the repair.
    let results = copy.join("class_curves.json");
    std::fs::write(&results, b"{\"user\": \"results\"}").unwrap();
    std::fs::write(&model, b"not a model").unwrap();
    std::fs::remove_file(copy.join("summary.json")).unwrap();
    let (ok, again, stderr) = predict_in(&home);
    assert!(ok, "{stderr}");
    assert_eq!(again, stdout);
    assert_eq!(std::fs::read(&model).unwrap(), original);
    assert!(copy.join("summary.json").is_file(), "the missing file is written again");
    assert_eq!(std::fs::read(&results).unwrap(), b"{\"user\": \"results\"}", "kept");
}

#[test]
fn saliency_of_a_picture_needs_no_mnist_but_of_a_test_image_says_it_does() {
    let home = common::temp_dir("bundled-saliency");
    let out = home.join("maps");
    let probe = |image: &[&str]| {
        let mut args = vec!["probe", "saliency", "--run", "bundled", "--out", out.to_str().unwrap()];
        args.extend_from_slice(image);
        common::cli(&args, &[("HOME", &home)], &["XDG_CACHE_HOME", "MNIST_DIR", "DISPLAY", "WAYLAND_DISPLAY"])
    };
    let (ok, stdout, stderr) = probe(&["--image", SEVEN]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("class 7"), "the bundled model explains its prediction, a 7: {stdout}");
    assert!(out.join("saliency.json").is_file() && out.join("saliency.png").is_file());
    assert!(!stderr.contains("data:"), "no data were loaded: {stderr}");
    // A test image does need the test set, and there is none here.
    let (ok, _, stderr) = probe(&["--index", "0"]);
    assert!(!ok);
    assert!(stderr.contains("no MNIST data found"), "{stderr}");
}

#[test]
fn a_reader_that_left_the_pipe_ends_predict_quietly() {
    // `mnist-workbench predict … | head -0`: the reading end is closed before anything is
    // printed, so every write to stdout fails with a broken pipe.
    let home = common::temp_dir("bundled-pipe");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-workbench"))
        .args(["predict", SEVEN, "--device", "flex"])
        .env("HOME", &home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("MNIST_DIR")
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("error"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "128 + SIGPIPE, as Unix tools end: {stderr}");
}

#[test]
fn the_provenance_matches_the_bundled_run_folder() {
    let p = provenance();
    let dir = bundled_run_dir().unwrap();
    let (_, config): (_, RunConfig) = mnist_workbench::run::RunDir::open(&dir).unwrap();
    assert_eq!(config.train_digest, p.train_digest);
    assert_eq!(config.test_digest, p.test_digest);
    assert_eq!(config.train.seed, p.seed);
    assert_eq!(config.train.epochs, p.epochs);
    assert_eq!(ModelName::of(&config), p.preset);
    let bytes = std::fs::read(dir.join("model.bpk")).unwrap();
    assert_eq!(mnist_workbench::data::sha256_hex(&bytes), p.model_sha256);
    assert!(bytes.len() <= 2 * 1024 * 1024, "the weights stay under 2 MB");
    assert!(p.test_accuracy >= 0.99, "issue #26's target");
    assert!(label().contains(&format!("{:.2} %", 100.0 * p.test_accuracy)));
}

/// The preset whose architecture a run has.
struct ModelName;

impl ModelName {
    fn of(config: &RunConfig) -> String {
        mnist_workbench::model::PRESET_NAMES
            .iter()
            .find(|n| mnist_workbench::model::ModelSpec::preset(n).as_ref() == Some(&config.train.model))
            .map_or_else(|| "custom".into(), |n| n.to_string())
    }
}

#[test]
fn the_app_opens_the_bundled_model_when_no_run_opens() {
    use mnist_workbench::data::worker::LoadedData;
    use mnist_workbench::ui::{AppOptions, WorkbenchApp};
    let data = common::synthetic_dataset(300, 60, 3);
    let runs = common::temp_dir("bundled-app-runs");
    let options = AppOptions {
        preloaded: Some(LoadedData::shared(data.clone())),
        runs_root: runs,
        device: Some(mnist_workbench::device::flex()),
        restore: false,
        open_latest_run: true,
        bundled_model: true,
        ..AppOptions::default()
    };
    let mut h = egui_kittest::Harness::builder()
        .with_size([1500.0, 950.0])
        .with_max_steps(20)
        .build_eframe(move |cc| WorkbenchApp::new(cc, options));
    h.run_steps(3);
    let m = h.state().workbench.model.as_ref().expect("the bundled model is open");
    assert_eq!(m.source, label());
    // The pad answers with it: a 7 loaded into the pad is read as a 7.
    let (grey, w, hh) = mnist_workbench::preprocess::load_grey(Path::new(SEVEN)).unwrap();
    let pixels = mnist_workbench::preprocess::mnist_style(&grey, w, hh).unwrap();
    h.state_mut().workbench.act(mnist_workbench::ui::workbench::Action::ShowInPad {
        pixels,
        caption: "a 7".into(),
    });
    h.run_steps(3);
    let logits = h.state().workbench.pad_logits().expect("the pad has logits");
    let best = (0..10).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).unwrap();
    assert_eq!(best, 7, "{logits:?}");
}

#[test]
#[ignore = "needs real MNIST: mnist-workbench data download, then MNIST_DIR=<folder> cargo test --release -- --include-ignored"]
fn eval_of_the_bundled_model_on_mnist_measures_its_provenance() {
    let mnist = common::mnist_dir();
    let (ok, stdout, stderr) = common::cli(
        &["eval", "--run", "bundled", "--device", "flex", "--data", mnist.to_str().unwrap()],
        &[],
        &["DISPLAY", "WAYLAND_DISPLAY"],
    );
    assert!(ok, "{stderr}");
    let p = provenance();
    // `eval` prints "test loss L, accuracy A" with four decimals; provenance.json holds the
    // accuracy the training run measured on the same test set (same digest, checked below).
    assert!(
        stdout.contains(&format!("accuracy {:.4}", p.test_accuracy)),
        "{stdout} vs provenance {}",
        p.test_accuracy
    );
    let (train, test) = mnist_workbench::data::load_split_from_folder(&mnist).unwrap();
    assert_eq!(train.digest(), p.train_digest);
    assert_eq!(test.digest(), p.test_digest);
}
