//! The workbench driven through its UI with egui_kittest (AccessKit labels, clicks, drags,
//! keys). Training runs on flex with small synthetic data. No file dialog is ever opened.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use mnist_workbench::data::Dataset;
use mnist_workbench::data::worker::LoadedData;
use mnist_workbench::model::ModelSpec;
use mnist_workbench::run::{RunConfig, RunDir};
use mnist_workbench::train::history::RunPhase;
use mnist_workbench::train::{Control, TrainConfig, run_training};
use mnist_workbench::ui::{AppOptions, WorkbenchApp};

fn loaded(data: &Arc<Dataset>) -> LoadedData {
    LoadedData::shared(data.clone())
}

fn options(data: &Arc<Dataset>, runs_root: &Path, open_latest_run: bool) -> AppOptions {
    AppOptions {
        preloaded: Some(loaded(data)),
        runs_root: runs_root.to_path_buf(),
        device: Some(mnist_workbench::device::flex()),
        restore: false,
        open_latest_run,
        ..AppOptions::default()
    }
}

fn harness(options: AppOptions) -> Harness<'static, WorkbenchApp> {
    Harness::builder()
        .with_size([1500.0, 950.0])
        .with_max_steps(20)
        .build_eframe(move |cc| WorkbenchApp::new(cc, options))
}

/// Replaces the text of the text field labelled `label` as a user would: focus, select all,
/// type.
fn replace_text(h: &mut Harness<'_, WorkbenchApp>, label: &str, text: &str) {
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, label)
        .focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, label)
        .type_text(text);
    h.run_steps(3);
}

/// Steps the UI (with real time passing for the worker) until `done` or the timeout.
fn step_until(
    h: &mut Harness<'_, WorkbenchApp>,
    timeout: Duration,
    mut done: impl FnMut(&WorkbenchApp) -> bool,
) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(start.elapsed() < timeout, "timed out waiting for the UI");
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(2);
}

/// Data shared by the pad tests and a run folder with a tiny-cnn trained on it (trained once
/// per test binary).
fn trained_fixture() -> &'static (Arc<Dataset>, PathBuf) {
    static FIXTURE: OnceLock<(Arc<Dataset>, PathBuf)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let data = common::synthetic_dataset(3000, 500, 11);
        let root = common::temp_dir("gui-trained");
        let config = TrainConfig {
            model: ModelSpec::preset("tiny-cnn").unwrap(),
            epochs: 3,
            batch_size: 32,
            learning_rate: 3e-3,
            device: mnist_workbench::device::DeviceChoice::Flex,
            ..TrainConfig::default()
        };
        let run_config = RunConfig::for_dataset(config.clone(), &data);
        let run_dir = RunDir::create(&root, &run_config).unwrap();
        let mut job = common::flex_job(config, data.clone());
        job.run_dir = Some(run_dir);
        let mut last = None;
        run_training(job, &Control::default(), &mut |e| last = Some(e));
        let last = last.unwrap();
        assert!(last.is_terminal(), "{last:?}");
        (data, root)
    })
}

#[test]
fn invalid_learning_rate_disables_start_with_its_reason() {
    let data = common::synthetic_dataset(200, 50, 1);
    let root = common::temp_dir("gui-lr");
    let mut h = harness(options(&data, &root, false));
    h.run_steps(3);
    assert!(
        !h.get_by_label("Start").accesskit_node().is_disabled(),
        "Start is enabled with the default settings"
    );
    replace_text(&mut h, "Learning rate", "-0.5");
    assert!(h.get_by_label("Start").accesskit_node().is_disabled());
    h.get_by_label_contains("Start is disabled: learning rate must be a positive number");
    // Fixing the value enables Start again.
    replace_text(&mut h, "Learning rate", "0.01");
    assert!(!h.get_by_label("Start").accesskit_node().is_disabled());
}

#[test]
fn training_through_the_ui_draws_curves_finishes_and_lists_the_run() {
    let data = common::synthetic_dataset(600, 100, 2);
    let root = common::temp_dir("gui-train");
    let mut h = harness(options(&data, &root, false));
    h.run_steps(3);
    // A quick model: tiny-cnn, 2 epochs, on the CPU.
    h.get_by_label("Preset").click();
    h.run_steps(2);
    h.get_by_label("tiny-cnn").click();
    h.run_steps(2);
    for (label, value) in [("Epochs", "2"), ("Batch size", "100")] {
        replace_text(&mut h, label, value);
    }
    // The live parameter count follows the preset (PyTorch's convention).
    let n = ModelSpec::preset("tiny-cnn").unwrap().param_count().to_string();
    let grouped = format!("{},{}", &n[..n.len() - 3], &n[n.len() - 3..]);
    h.get_by_label(&format!("Parameters: {grouped}"));
    // Ctrl+Enter starts the run (the same as the Start button).
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Enter);
    h.run_steps(2);
    step_until(&mut h, Duration::from_secs(180), |app| {
        app.workbench
            .training
            .as_ref()
            .is_some_and(|s| s.history.phase.is_over())
    });
    let session = h.state().workbench.training.as_ref().unwrap();
    let run_name = session
        .run_dir
        .as_ref()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        session.history.phase,
        RunPhase::Finished(mnist_workbench::train::StopReason::EpochsDone)
    );
    assert_eq!(session.history.steps.len(), 12, "6 steps per epoch × 2 epochs");
    assert_eq!(session.history.epochs.len(), 2);
    assert_eq!(session.config.model, ModelSpec::preset("tiny-cnn").unwrap());
    // The dashboard says so, the status bar too.
    h.get_by_label("· finished (all epochs done)");
    h.get_by_label("Training: finished (all epochs done)");
    // The Runs panel lists the run with its model.
    h.get_by_label("Runs").click();
    h.run_steps(3);
    assert!(run_name.contains("tiny-cnn"), "{run_name}");
    h.get_by_label("tiny-cnn");
    h.get_by_label("finished");
    assert_eq!(h.state().workbench.runs.len(), 1);
}

/// The pad's 7-vs-1 margin (the panel's default classes): logit(7) − logit(1).
fn margin_of(h: &Harness<'_, WorkbenchApp>) -> f64 {
    seven_vs_one(&h.state().workbench.pad_logits().expect("a model answers"))
}

fn seven_vs_one(logits: &[f32; 10]) -> f64 {
    logits[7] as f64 - logits[1] as f64
}

#[test]
fn a_stroke_on_the_pad_changes_the_input_and_the_logits() {
    let (data, root) = trained_fixture();
    let mut h = harness(options(data, root, true));
    h.run_steps(4);
    assert!(h.state().workbench.model.is_some(), "the trained run was opened");
    h.get_by_label("Clear").click();
    h.run_steps(2);
    let blank_logits = h.state().workbench.pad_logits().unwrap();
    assert!(h.state().workbench.pad.pixels().iter().all(|&p| p == 0.0));
    let canvas = h.get_by_label("Drawing canvas").rect();
    let (a, b) = (
        canvas.lerp_inside(egui::vec2(0.2, 0.5)),
        canvas.lerp_inside(egui::vec2(0.8, 0.5)),
    );
    h.hover_at(a);
    h.run_steps(1);
    h.drag_at(a);
    h.run_steps(1);
    for t in 1..=10 {
        h.hover_at(a + (b - a) * (t as f32 / 10.0));
        h.run_steps(1);
    }
    h.drop_at(b);
    h.run_steps(2);
    let pixels = h.state().workbench.pad.pixels().to_vec();
    let inked: Vec<usize> = (0..28).filter(|r| pixels[r * 28 + 14] > 0.5).collect();
    assert!(
        inked.contains(&14),
        "row 14 inked at the centre column, got rows {inked:?}"
    );
    assert!(pixels[3 * 28 + 14] == 0.0, "rows far from the stroke stay blank");
    let logits = h.state().workbench.pad_logits().unwrap();
    assert_ne!(logits, blank_logits, "the logits follow the edit");
    // Undo with Ctrl+Z brings back the blank pad and its logits.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(2);
    assert!(h.state().workbench.pad.pixels().iter().all(|&p| p == 0.0));
    assert_eq!(h.state().workbench.pad_logits().unwrap(), blank_logits);
}

#[test]
fn erasing_the_top_rows_of_a_seven_moves_it_toward_one_and_undo_restores() {
    let (data, root) = trained_fixture();
    let mut h = harness(options(data, root, true));
    h.run_steps(4);
    // Load a random test 7.
    h.get_by_label("Random").click();
    h.run_steps(2);
    // The popup's "7" is drawn last (the margin combo also shows a 7).
    h.query_all_by_label("7")
        .last()
        .expect("digit 7 in the popup")
        .click();
    h.run_steps(2);
    assert_eq!(h.get_by_label("Random").value().as_deref(), Some("7"));
    h.get_by_label("Load random").click();
    h.run_steps(3);
    let before = margin_of(&h);
    assert!(
        before > 0.0,
        "the model reads the 7 as more 7 than 1 (margin {before})"
    );
    let original = h.state().workbench.pad.pixels().to_vec();
    // Drag along the row margin from row 0 to row 14: erases rows 0-14.
    let margin = h.get_by_label("Row margin").rect();
    let row_y = |r: f32| margin.top() + (r + 0.5) * margin.height() / 28.0;
    let x = margin.center().x;
    h.hover_at(egui::pos2(x, row_y(0.0)));
    h.run_steps(1);
    h.drag_at(egui::pos2(x, row_y(0.0)));
    h.run_steps(1);
    for r in 1..=14 {
        h.hover_at(egui::pos2(x, row_y(r as f32)));
        h.run_steps(1);
    }
    h.drop_at(egui::pos2(x, row_y(14.0)));
    h.run_steps(3);
    let pixels = h.state().workbench.pad.pixels().to_vec();
    assert!(pixels[..15 * 28].iter().all(|&p| p == 0.0), "rows 0-14 erased");
    assert_eq!(&pixels[15 * 28..], &original[15 * 28..], "rows 15-27 untouched");
    let after = margin_of(&h);
    assert!(after < before, "7-vs-1 margin shrinks: {before} → {after}");
    let history = h.state().workbench.pad.logit_history();
    assert_eq!(
        history.back().map(seven_vs_one),
        Some(after),
        "the margin history follows"
    );
    // Undo restores the image and the margin.
    h.get_by_label("Undo").click();
    h.run_steps(2);
    assert_eq!(h.state().workbench.pad.pixels(), &original[..]);
    assert!((margin_of(&h) - before).abs() < 1e-6);
}

#[test]
fn opening_a_damaged_checkpoint_changes_nothing_and_says_why() {
    let (data, root) = trained_fixture();
    // A copy of the trained run with its checkpoint cut short.
    let broken_root = common::temp_dir("gui-broken");
    let run = std::fs::read_dir(root).unwrap().next().unwrap().unwrap().path();
    let broken = broken_root.join("broken-run");
    std::fs::create_dir_all(&broken).unwrap();
    for f in ["config.json", "model.bpk"] {
        std::fs::copy(run.join(f), broken.join(f)).unwrap();
    }
    let bytes = std::fs::read(broken.join("model.bpk")).unwrap();
    std::fs::write(broken.join("model.bpk"), &bytes[..bytes.len() / 3]).unwrap();
    let mut h = harness(options(data, root, true));
    h.run_steps(3);
    let version = h.state().workbench.model.as_ref().unwrap().version;
    h.state_mut()
        .workbench
        .act(mnist_workbench::ui::workbench::Action::OpenRun(broken.clone()));
    h.run_steps(3);
    assert_eq!(
        h.state().workbench.model.as_ref().unwrap().version,
        version,
        "model unchanged"
    );
    let notice = h.state().workbench.notices.last().unwrap();
    assert!(
        notice.is_error && notice.text.contains("Cannot open run"),
        "{}",
        notice.text
    );
    h.get_by_label_contains("Cannot open run");
}

#[test]
fn closing_during_training_stops_within_a_batch_and_keeps_the_last_checkpoint() {
    let data = common::synthetic_dataset(2000, 100, 4);
    let root = common::temp_dir("gui-close");
    let mut wb =
        mnist_workbench::ui::workbench::Workbench::new(options(&data, &root, false), Arc::new(|| {}));
    let config = TrainConfig {
        model: ModelSpec::preset("tiny-cnn").unwrap(),
        epochs: 500,
        batch_size: 50,
        device: mnist_workbench::device::DeviceChoice::Flex,
        ..TrainConfig::default()
    };
    wb.act(mnist_workbench::ui::workbench::Action::StartTraining(config));
    wb.logic();
    // Let it finish at least one epoch (40 steps) and then some.
    let start = Instant::now();
    while wb.training.as_ref().unwrap().history.epochs.is_empty()
        || wb.training.as_ref().unwrap().history.steps.len() < 45
    {
        assert!(start.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(10));
        wb.logic();
    }
    let steps_seen = wb.training.as_ref().unwrap().history.current_step();
    // What the window's on_exit does.
    wb.shutdown(Duration::from_secs(30));
    let session = wb.training.as_ref().unwrap();
    assert_eq!(
        session.history.phase,
        RunPhase::Finished(mnist_workbench::train::StopReason::Cancelled)
    );
    assert!(
        session.history.current_step() <= steps_seen + 3,
        "stopped within a batch or so: {} steps after {steps_seen}",
        session.history.current_step()
    );
    let run = session.run_dir.clone().unwrap();
    let (dir, config) = RunDir::open(&run).unwrap();
    dir.load_model(&config.train.model, &burn::tensor::Device::flex())
        .expect("the last finished epoch's checkpoint loads");
    let summary = dir.read_summary().unwrap().expect("summary.json written");
    assert!(matches!(
        summary.outcome,
        mnist_workbench::train::Event::Finished {
            reason: mnist_workbench::train::StopReason::Cancelled,
            ..
        }
    ));
}

#[test]
fn download_button_fetches_from_a_local_mirror_and_switches_the_data() {
    let (files, digests) = common::fake_mnist_files(40, 20, 9);
    let server = common::LocalServer::start(files);
    let dest = common::temp_dir("gui-download").join("mnist");
    let data = common::synthetic_dataset(200, 50, 6);
    let mut opts = options(&data, &common::temp_dir("gui-download-runs"), false);
    opts.download = Some(mnist_workbench::data::download::DownloadPlan {
        dest: dest.clone(),
        mirrors: vec![server.base_url.clone()],
        sha256: digests,
        stall_timeout: Duration::from_secs(20),
        max_bytes: mnist_workbench::data::download::MAX_DOWNLOAD_BYTES,
    });
    let mut h = harness(opts);
    h.run_steps(2);
    h.get_by_label("Data").click();
    h.run_steps(2);
    h.get_by_label_contains("These are not MNIST");
    h.get_by_label("Download MNIST").click();
    h.run_steps(1);
    step_until(&mut h, Duration::from_secs(60), |app| {
        !app.workbench.data.task.is_running() && app.workbench.dataset().is_some_and(|d| d.source.is_real())
    });
    let d = h.state().workbench.dataset().unwrap().clone();
    assert_eq!((d.train.len(), d.test.len()), (40, 20));
    assert!(mnist_workbench::data::sources::has_mnist(&dest));
    h.get_by_label_contains("40 training images · 20 test images");
    assert!(h.query_by_label_contains("These are not MNIST").is_none());
}

/// Applies the queued actions and waits for the write they start on the export job (the
/// status bar then says how it ended).
fn until_written(wb: &mut mnist_workbench::ui::workbench::Workbench) {
    let started = std::time::Instant::now();
    wb.logic();
    while wb.exports.is_running() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the write never ended");
        std::thread::sleep(std::time::Duration::from_millis(10));
        wb.logic();
    }
}

#[test]
fn save_model_as_writes_a_reopenable_run_and_never_overwrites() {
    let (data, root) = trained_fixture();
    let mut wb = mnist_workbench::ui::workbench::Workbench::new(options(data, root, true), Arc::new(|| {}));
    let first_test: Vec<f32> = data.test.image(0).iter().map(|&b| b as f32 / 255.0).collect();
    let logits = wb.predict(&first_test);
    assert!(logits.is_some(), "the trained run was opened");
    let out = common::temp_dir("gui-save").join("my-model");
    wb.act(mnist_workbench::ui::workbench::Action::SaveModelTo(out.clone()));
    until_written(&mut wb);
    assert!(
        !wb.notices.last().unwrap().is_error,
        "{}",
        wb.notices.last().unwrap().text
    );
    let listed = mnist_workbench::run::RunListing::read(&out);
    assert!(
        listed.has_checkpoint && listed.best_test_accuracy.is_some(),
        "{listed:?}"
    );
    // The saved folder opens again and answers the same.
    wb.act(mnist_workbench::ui::workbench::Action::OpenRun(out.clone()));
    wb.logic();
    assert_eq!(wb.model.as_ref().unwrap().run_dir.as_deref(), Some(out.as_path()));
    let again = wb.predict(&first_test);
    assert_eq!(again, logits);
    // Saving onto an existing folder is refused and leaves it as it was.
    let before = std::fs::read(out.join("model.bpk")).unwrap();
    std::fs::write(out.join("note.txt"), "mine").unwrap();
    wb.act(mnist_workbench::ui::workbench::Action::SaveModelTo(out.clone()));
    until_written(&mut wb);
    let notice = wb.notices.last().unwrap();
    assert!(
        notice.is_error && notice.text.contains("already exists"),
        "{}",
        notice.text
    );
    assert_eq!(std::fs::read(out.join("model.bpk")).unwrap(), before);
    assert_eq!(std::fs::read_to_string(out.join("note.txt")).unwrap(), "mine");
    // Nothing half-made is left next to it.
    let siblings: Vec<_> = std::fs::read_dir(out.parent().unwrap()).unwrap().collect();
    assert_eq!(siblings.len(), 1);
}

#[test]
fn the_first_dashboard_says_how_to_start_and_gives_way_to_a_run() {
    let data = common::synthetic_dataset(300, 60, 31);
    let runs = common::temp_dir("gui-first-run");
    let mut h = common::gui::harness(&data, &runs);
    h.run_steps(3);
    assert!(h.query_by_label("No training run yet").is_some());
    assert!(
        h.query_by_label_contains("synthetic digits, not MNIST").is_some(),
        "synthetic data is called out"
    );
    drop(h);
    // With a run in the folder the app opens it, and the dashboard shows its curves instead.
    common::gui::trained_run(&runs, &data, "tiny-cnn");
    let mut h = common::gui::harness(&data, &runs);
    h.run_steps(3);
    assert!(h.query_by_label("No training run yet").is_none());
    assert!(h.query_by_label_contains("Recorded run").is_some());
}
