//! Helpers shared by the egui_kittest tests: the app on preloaded data (flex, no restored
//! layout, the newest run opened), stepping until a condition holds, a trained run folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use mnist_workbench::data::Dataset;
use mnist_workbench::data::worker::LoadedData;
use mnist_workbench::model::ModelSpec;
use mnist_workbench::run::{RunConfig, RunDir};
use mnist_workbench::train::{Control, TrainConfig, run_training};
use mnist_workbench::ui::{AppOptions, WorkbenchApp};

/// The app on `data` with runs in `runs_root`, 1500 × 950.
pub fn harness(data: &Arc<Dataset>, runs_root: &Path) -> Harness<'static, WorkbenchApp> {
    harness_with(data, runs_root, false)
}

/// [`harness`], opening the bundled model when no run opens if `bundled_model`.
#[allow(dead_code)] // not every test binary uses it
pub fn harness_with(data: &Arc<Dataset>, runs_root: &Path, bundled_model: bool) -> Harness<'static, WorkbenchApp> {
    let options = AppOptions {
        preloaded: Some(LoadedData::shared(data.clone())),
        runs_root: runs_root.to_path_buf(),
        device: Some(mnist_workbench::device::flex()),
        restore: false,
        open_latest_run: true,
        bundled_model,
        ..AppOptions::default()
    };
    Harness::builder()
        .with_size([1500.0, 950.0])
        .with_max_steps(20)
        .build_eframe(move |cc| WorkbenchApp::new(cc, options))
}

/// Steps the app until `done` holds (fails after 180 s).
pub fn step_until(
    h: &mut Harness<'_, WorkbenchApp>,
    what: &str,
    mut done: impl FnMut(&WorkbenchApp) -> bool,
) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "timed out waiting for {what}"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(2);
}

/// Replaces the text of the field with accessibility `role` and `label` as a user would:
/// focus, select all, type.
pub fn type_into(h: &mut Harness<'_, WorkbenchApp>, role: egui::accesskit::Role, label: &str, text: &str) {
    h.get_by_role_and_label(role, label).focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_role_and_label(role, label).type_text(text);
    h.run_steps(2);
}

/// Test image `index` as pad intensities.
pub fn test_image(data: &Dataset, index: usize) -> Vec<f32> {
    data.test.intensities(index)
}

/// A run folder under `root` with `preset` trained for one epoch on `data` (flex).
pub fn trained_run(root: &Path, data: &Arc<Dataset>, preset: &str) -> PathBuf {
    let config = TrainConfig {
        model: ModelSpec::preset(preset).unwrap(),
        epochs: 1,
        batch_size: 64,
        device: mnist_workbench::device::DeviceChoice::Flex,
        ..TrainConfig::default()
    };
    let dir = RunDir::create(root, &RunConfig::for_dataset(config.clone(), data)).unwrap();
    let path = dir.path.clone();
    let mut job = super::flex_job(config, data.clone());
    job.run_dir = Some(dir);
    let mut last = None;
    run_training(job, &Control::default(), &mut |e| last = Some(e));
    assert!(last.unwrap().is_terminal());
    path
}

/// The status bar's messages so far, oldest first.
pub fn notice_texts(h: &Harness<'_, WorkbenchApp>) -> Vec<String> {
    h.state()
        .workbench
        .notices
        .iter()
        .map(|n| n.text.clone())
        .collect()
}
