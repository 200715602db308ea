//! Run history in the app: a run trained, closed and reopened shows exactly the step series it
//! showed live; a `steps.csv` torn by a kill opens with every complete step; an older run folder
//! without a step file opens with its epochs; and the pad labels every logit and probability
//! bar with its digit, visible in the default window without scrolling.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::gui::{step_until, type_into};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use mnist_workbench::data::Dataset;
use mnist_workbench::data::worker::LoadedData;
use mnist_workbench::train::history::{RunPhase, StepPoint};
use mnist_workbench::ui::{AppOptions, WorkbenchApp};

/// The app at the default window size (1500 × 900), the newest run opened.
fn app(data: &Arc<Dataset>, runs: &Path) -> Harness<'static, WorkbenchApp> {
    let options = AppOptions {
        preloaded: Some(LoadedData::shared(data.clone())),
        runs_root: runs.to_path_buf(),
        device: Some(mnist_workbench::device::flex()),
        restore: false,
        open_latest_run: true,
        ..AppOptions::default()
    };
    let mut h = Harness::builder()
        .with_size([1500.0, 900.0])
        .with_max_steps(20)
        .build_eframe(move |cc| WorkbenchApp::new(cc, options));
    h.run_steps(3);
    h
}

/// Trains tiny-cnn for two epochs through the app; returns the live step series.
fn train_in_the_app(data: &Arc<Dataset>, runs: &Path) -> Vec<StepPoint> {
    let mut h = app(data, runs);
    h.get_by_label("Preset").click();
    h.run_steps(2);
    h.get_by_label("tiny-cnn").click();
    h.run_steps(2);
    type_into(&mut h, Role::TextInput, "Epochs", "2");
    type_into(&mut h, Role::TextInput, "Batch size", "50");
    h.get_by_label("Start").click();
    h.run_steps(2);
    step_until(&mut h, "the run", |app| {
        app.workbench
            .training
            .as_ref()
            .is_some_and(|s| s.history.phase.is_over())
    });
    let session = h.state().workbench.training.as_ref().unwrap();
    assert!(
        matches!(session.history.phase, RunPhase::Finished(_)),
        "{:?}",
        session.history.phase
    );
    session.history.steps.clone()
}

fn reopened_steps(data: &Arc<Dataset>, runs: &Path) -> (Vec<StepPoint>, usize) {
    let h = app(data, runs);
    let session = h
        .state()
        .workbench
        .training
        .as_ref()
        .expect("the newest run is shown");
    assert!(session.recorded);
    (session.history.steps.clone(), session.history.epochs.len())
}

fn only_run(runs: &Path) -> std::path::PathBuf {
    std::fs::read_dir(runs).unwrap().next().unwrap().unwrap().path()
}

#[test]
fn a_reopened_run_shows_the_step_series_it_showed_live() {
    let data = common::synthetic_dataset(500, 100, 12);
    let runs = common::temp_dir("history-reopen");
    let live = train_in_the_app(&data, &runs);
    assert_eq!(live.len(), 20, "10 steps per epoch × 2 epochs");
    let (reopened, epochs) = reopened_steps(&data, &runs);
    assert_eq!(epochs, 2);
    assert_eq!(reopened.len(), live.len());
    for (a, b) in live.iter().zip(&reopened) {
        assert_eq!(a, b, "step {} differs", a.step);
    }
    assert!(reopened.windows(2).all(|w| w[0].wall_secs <= w[1].wall_secs));

    // A kill mid-write: the last line torn. Every complete step still opens.
    let steps_csv = only_run(&runs).join("steps.csv");
    let text = std::fs::read_to_string(&steps_csv).unwrap();
    let cut = text.trim_end().rfind('\n').unwrap() + 6; // 5 bytes into the last line
    std::fs::write(&steps_csv, &text[..cut]).unwrap();
    let (torn, _) = reopened_steps(&data, &runs);
    assert_eq!(torn.len(), live.len() - 1);
    assert_eq!(torn[..], live[..live.len() - 1]);

    // A run folder from before steps were kept: its epochs, no steps, no error.
    std::fs::remove_file(&steps_csv).unwrap();
    let (old, epochs) = reopened_steps(&data, &runs);
    assert!(old.is_empty());
    assert_eq!(epochs, 2);
}

#[test]
fn the_pad_labels_every_bar_with_its_digit_and_shows_both_charts() {
    let data = common::synthetic_dataset(300, 60, 13);
    let runs = common::temp_dir("history-pad");
    common::gui::trained_run(&runs, &data, "tiny-cnn");
    let mut h = app(&data, &runs);
    h.run_steps(3);
    let logits = h.state().workbench.pad_logits().expect("a model answers");
    let predicted = (0..10).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).unwrap();
    for digit in 0..10 {
        let mark = if digit == predicted { " (predicted)" } else { "" };
        for what in ["logit", "probability"] {
            let prefix = format!("{what} {digit}: ");
            let node = h.get_by_label_contains(&prefix);
            // A label's text is its accessible value.
            let label = node.accesskit_node().value().unwrap_or_default();
            assert_eq!(label.ends_with(" (predicted)"), !mark.is_empty(), "{label}");
            // Inside the window: both charts are on screen, not below the fold.
            let bounds = node.rect();
            assert!(bounds.max.y <= 900.0, "{label} at {bounds:?}");
        }
    }

    // The confusion matrix has a colour scale with its values.
    h.get_by_label("Confusion").click();
    step_until(&mut h, "the evaluation", |app| {
        app.workbench.inspect.evaluation.is_some()
    });
    h.get_by_label_contains(
        "Colour scale: % of the true digit's images (square-root colour scale) from 0 to 100",
    );
}
