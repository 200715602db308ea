//! The inspection panels driven through the UI with egui_kittest: a confusion cell lists
//! exactly the images counted there and one of them loads into the pad; the feature maps
//! follow the pad. A tiny-cnn is trained once on synthetic digits (flex); no dialog opens.

mod common;

use common::gui::{harness, step_until, test_image};

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use egui_kittest::kittest::{NodeT, Queryable};
use mnist_workbench::data::Dataset;
use mnist_workbench::data::worker::LoadedData;
use mnist_workbench::model::ModelSpec;
use mnist_workbench::train::TrainConfig;
use mnist_workbench::ui::AppOptions;

/// Synthetic data and a run folder with a tiny-cnn trained one epoch on it: good enough to
/// make some mistakes, so off-diagonal confusion cells exist.
fn fixture() -> &'static (Arc<Dataset>, PathBuf) {
    static FIXTURE: OnceLock<(Arc<Dataset>, PathBuf)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let data = common::synthetic_dataset(1500, 400, 23);
        let root = common::temp_dir("gui-inspect");
        common::gui::trained_run(&root, &data, "tiny-cnn");
        (data, root)
    })
}

#[test]
fn a_confusion_cell_lists_exactly_its_images_and_one_loads_into_the_pad() {
    let (data, root) = fixture();
    let mut h = harness(data, root);
    h.run_steps(3);
    h.get_by_label("Confusion").click();
    step_until(&mut h, "the test-set evaluation", |app| {
        app.workbench.inspect.evaluation.is_some()
    });
    let eval = h.state().workbench.inspect.evaluation.clone().unwrap();
    assert_eq!(eval.labels.len(), data.test.len());
    // The most populated off-diagonal cell.
    let (t, p, count) = (0..10)
        .flat_map(|t| (0..10).map(move |p| (t, p)))
        .filter(|(t, p)| t != p)
        .map(|(t, p)| (t, p, eval.report.confusion[t][p]))
        .max_by_key(|c| c.2)
        .unwrap();
    assert!(count > 0, "the one-epoch tiny-cnn makes some mistakes");
    h.get_by_label(&format!("true {t} predicted {p}: {count} images"))
        .click();
    h.run_steps(3);
    let listed: Vec<usize> = h
        .query_all_by_label_contains("test image #")
        .map(|n| {
            let label = n.accesskit_node().label().unwrap_or_default();
            label.trim_start_matches("test image #").parse().unwrap()
        })
        .collect();
    assert_eq!(
        listed.len(),
        count as usize,
        "the gallery shows every image counted in the cell"
    );
    // Each listed image has that label, and the model (asked afresh, outside the worker's
    // evaluation) predicts that digit for it.
    let wb = &h.state().workbench;
    for &i in &listed {
        assert_eq!(data.test.labels[i] as usize, t);
        let logits = wb.predict(&test_image(data, i)).unwrap();
        let best = (0..10).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).unwrap();
        assert_eq!(best, p, "image #{i}");
    }
    // Clicking one loads it into the pad.
    let chosen = listed[listed.len() / 2];
    h.get_by_label(&format!("test image #{chosen}")).click();
    h.run_steps(3);
    assert_eq!(
        h.state().workbench.pad.pixels(),
        test_image(data, chosen).as_slice()
    );
    let margin_class = h.state().workbench.pad_logits().unwrap();
    let best = (0..10)
        .max_by(|&a, &b| margin_class[a].total_cmp(&margin_class[b]))
        .unwrap();
    assert_eq!(best, p, "the pad predicts what the cell says");
}

#[test]
fn feature_maps_follow_the_pad() {
    let (data, root) = fixture();
    let mut h = harness(data, root);
    h.run_steps(3);
    h.get_by_label("Feature maps").click();
    h.run_steps(3);
    h.get_by_label_contains("conv1: 8 channels of 14×14");
    let before = h.state().workbench.pad_inspection().cloned().unwrap();
    let before_maps = before.inspection.clone().unwrap();
    assert_eq!(
        h.state().workbench.pad.pixels(),
        test_image(data, 0).as_slice(),
        "the pad starts with test #0"
    );
    // An edit in the pad (Clear, an undoable edit) gives new activations at once.
    h.get_by_label("Clear").click();
    h.run_steps(3);
    let after = h.state().workbench.pad_inspection().cloned().unwrap();
    assert!(after.revision > before.revision);
    assert!(h.state().workbench.pad.pixels().iter().all(|&p| p == 0.0));
    assert_eq!(after.revision, h.state().workbench.pad.revision());
    let after_maps = after.inspection.clone().unwrap();
    assert_eq!(after_maps.layers.len(), before_maps.layers.len());
    assert_ne!(
        after_maps.layers[0].values, before_maps.layers[0].values,
        "conv1 maps changed"
    );
    assert_eq!(
        after_maps.logits,
        h.state().workbench.pad_logits().unwrap(),
        "one pass serves the pad too"
    );
    // Clicking a channel finds the test images that excite it most (on the worker).
    let tile = h.get_by_label_contains("conv1: 8 channels").rect();
    let atlas_top_left = tile.left_bottom() + egui::vec2(3.0, 8.0);
    h.hover_at(atlas_top_left);
    h.run_steps(1);
    h.drag_at(atlas_top_left);
    h.run_steps(1);
    h.drop_at(atlas_top_left);
    step_until(&mut h, "the top-activating search", |app| {
        app.workbench.inspect.peaks.is_some()
    });
    let shown = h.query_all_by_label_contains("test image #").count();
    assert_eq!(shown, 9, "nine top images");
}

#[test]
fn every_inspection_panel_shows_its_content() {
    let (data, root) = fixture();
    let mut h = harness(data, root);
    h.run_steps(3);
    step_until(&mut h, "the test-set evaluation", |app| {
        app.workbench.inspect.evaluation.is_some()
    });
    let errors = {
        let e = h.state().workbench.inspect.evaluation.clone().unwrap();
        e.labels
            .iter()
            .zip(&e.report.predictions)
            .filter(|(l, p)| l != p)
            .count()
    };
    for (tab, expected) in [
        (
            "Errors",
            format!("{errors} misclassified of {} test images", data.test.len()),
        ),
        ("Calibration", "Expected calibration error".to_string()),
        ("Filters", "conv1: all 8 kernels of 3×3".to_string()),
        ("Dataset", "Mean image per digit".to_string()),
        ("Confusion", "Precision, recall and F1 per digit".to_string()),
    ] {
        h.get_by_label(tab).click();
        h.run_steps(3);
        h.get_by_label_contains(&expected);
    }
    // Errors: filtering by a true digit keeps only that digit's mistakes.
    h.get_by_label("Errors").click();
    h.run_steps(2);
    h.get_by_label("True digit").click();
    h.run_steps(2);
    h.query_all_by_label("7")
        .last()
        .expect("the digit list is open")
        .click();
    h.run_steps(3);
    let sevens_wrong = {
        let e = h.state().workbench.inspect.evaluation.clone().unwrap();
        (0..e.labels.len())
            .filter(|&i| e.labels[i] == 7 && e.report.predictions[i] != 7)
            .count()
    };
    assert_eq!(
        h.query_all_by_label_contains("test image #").count(),
        sevens_wrong.min(120)
    );
    h.get_by_label_contains(&format!("{sevens_wrong} misclassified of"));
    for node in h.query_all_by_label_contains("test image #") {
        let label = node.accesskit_node().label().unwrap_or_default();
        let i: usize = label.trim_start_matches("test image #").parse().unwrap();
        assert_eq!(data.test.labels[i], 7, "{label}");
    }
}

#[test]
fn the_test_set_is_evaluated_after_each_epoch_while_training() {
    let data = common::synthetic_dataset(600, 200, 31);
    let root = common::temp_dir("gui-inspect-live");
    let options = AppOptions {
        preloaded: Some(LoadedData::shared(data.clone())),
        runs_root: root,
        device: Some(mnist_workbench::device::flex()),
        restore: false,
        open_latest_run: false,
        ..AppOptions::default()
    };
    let mut wb = mnist_workbench::ui::workbench::Workbench::new(options, Arc::new(|| {}));
    let config = TrainConfig {
        model: ModelSpec::preset("tiny-cnn").unwrap(),
        epochs: 3,
        batch_size: 50,
        device: mnist_workbench::device::DeviceChoice::Flex,
        ..TrainConfig::default()
    };
    wb.act(mnist_workbench::ui::workbench::Action::StartTraining(config));
    let start = Instant::now();
    let mut evaluated_at_epochs = Vec::new();
    let mut last = None;
    while wb.is_training() || wb.training.is_none() || wb.inspect.evaluation_progress().is_some() {
        assert!(start.elapsed() < Duration::from_secs(120), "timed out");
        wb.logic();
        if let Some(e) = &wb.inspect.evaluation
            && last != Some(e.model_version)
        {
            last = Some(e.model_version);
            evaluated_at_epochs.push(wb.training.as_ref().unwrap().history.epochs.len());
            // The evaluation is of the whole test set.
            assert_eq!(e.labels.len(), data.test.len());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        evaluated_at_epochs.first().is_some_and(|&n| n >= 1),
        "nothing is evaluated before the first epoch ends: {evaluated_at_epochs:?}"
    );
    assert!(
        evaluated_at_epochs.len() >= 2,
        "refreshed again later: {evaluated_at_epochs:?}"
    );
}
