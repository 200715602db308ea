//! Small snapshot images of the drawing pad and the dashboard, rendered with wgpu (lavapipe on
//! machines without a GPU) and kept in `tests/snapshots/`. One test on its own in this binary,
//! because burn's RNG is process-wide and the pad's model must train identically every time.
//! Regenerate with `UPDATE_SNAPSHOTS=1 cargo test --release --test gui_snapshots`.

mod common;

use std::sync::Arc;

use egui_kittest::{Harness, SnapshotOptions};
use mnist_workbench::data::worker::LoadedData;
use mnist_workbench::model::ModelSpec;
use mnist_workbench::run::{RunConfig, RunDir};
use mnist_workbench::train::history::RunHistory;
use mnist_workbench::train::{Control, EpochMetrics, Event, StopReason, TrainConfig, run_training};
use mnist_workbench::ui::AppOptions;
use mnist_workbench::ui::panels::{DashboardPanel, PadPanel, Panel};
use mnist_workbench::ui::workbench::{TrainingSession, Workbench};

/// One place for the comparison settings: lavapipe renders the same pixels run to run; a
/// few may differ across Mesa versions at glyph edges.
fn snapshot_options() -> SnapshotOptions {
    SnapshotOptions::new().threshold(0.6).max_failed_pixels(40)
}

fn workbench(data: &Arc<mnist_workbench::data::Dataset>, runs_root: &std::path::Path) -> Workbench {
    let options = AppOptions {
        preloaded: Some(LoadedData::new((**data).clone())),
        runs_root: runs_root.to_path_buf(),
        device: Some(mnist_workbench::device::flex()),
        restore: false,
        open_latest_run: true,
        ..AppOptions::default()
    };
    Workbench::new(options, Arc::new(|| {}))
}

/// A hand-made history: 3 epochs of 50 steps with a decaying loss.
fn recorded_history() -> RunHistory {
    let mut events = vec![Event::Started {
        run_id: 1,
        device: "CPU (flex)".into(),
        train_size: 3200,
        test_size: 500,
        steps_per_epoch: 50,
        parameters: 26_698,
    }];
    for step in 1..=150usize {
        let t = step as f64;
        events.push(Event::Step {
            run_id: 1,
            epoch: (step - 1) / 50 + 1,
            step,
            loss: 2.3 * (-t / 25.0).exp() + 0.1 + 0.05 * ((t * 1.7).sin()),
            accuracy: 1.0 - 0.9 * (-t / 25.0).exp(),
            learning_rate: 1e-3 * 0.5 * (1.0 + (std::f64::consts::PI * t / 150.0).cos()),
            samples_per_sec: 800.0,
            elapsed_secs: t * 0.08,
        });
        if step % 50 == 0 {
            let e = step / 50;
            events.push(Event::Epoch {
                run_id: 1,
                metrics: EpochMetrics {
                    epoch: e,
                    train_loss: 0.9 / e as f64,
                    train_accuracy: 0.80 + 0.05 * e as f64,
                    test_loss: Some(0.5 / e as f64),
                    test_accuracy: Some(0.85 + 0.04 * e as f64),
                    per_class_accuracy: None,
                    confusion: None,
                    learning_rate: 1e-3,
                    elapsed_secs: 4.0 * e as f64,
                },
            });
        }
    }
    events.push(Event::Finished {
        run_id: 1,
        reason: StopReason::EpochsDone,
        epochs: 3,
        steps: 150,
        test_accuracy: Some(0.97),
        elapsed_secs: 12.0,
    });
    RunHistory::from_events(&events, 3)
}

#[test]
#[ignore = "needs a wgpu adapter (a GPU, or Mesa's lavapipe: apt-get install mesa-vulkan-drivers); run with -- --include-ignored"]
fn pad_and_dashboard_snapshots() {
    assert!(
        !mnist_workbench::device::list_adapters().is_empty(),
        "no wgpu adapter: install mesa-vulkan-drivers (lavapipe) or run on a GPU"
    );
    let data = common::synthetic_dataset(2000, 200, 5);
    let root = common::temp_dir("snapshots");
    let config = TrainConfig {
        model: ModelSpec::preset("tiny-cnn").unwrap(),
        epochs: 2,
        batch_size: 32,
        learning_rate: 3e-3,
        seed: 3,
        device: mnist_workbench::device::DeviceChoice::Flex,
        ..TrainConfig::default()
    };
    let run_config = RunConfig::for_dataset(config.clone(), &data);
    let mut job = common::flex_job(config.clone(), data.clone());
    job.run_dir = Some(RunDir::create(&root, &run_config).unwrap());
    run_training(job, &Control::default(), &mut |_| {});
    // A fixed folder name: the pad shows it, and the created one carries the time.
    let created = std::fs::read_dir(&root).unwrap().next().unwrap().unwrap().path();
    std::fs::rename(&created, root.join("tiny-cnn-run")).unwrap();

    // Pad: test #0 of the synthetic set with the trained model's logits.
    let wb = workbench(&data, &root);
    assert!(wb.model.is_some());
    let mut pad = Harness::builder()
        .with_size([760.0, 520.0])
        .with_options(snapshot_options())
        .wgpu()
        .build_ui_state(
            |ui, (panel, wb): &mut (PadPanel, Workbench)| {
                // A pad drawn without the app's loop: its first image and forward pass.
                wb.pad_logic();
                panel.ui(ui, wb)
            },
            (PadPanel::default(), wb),
        );
    pad.run_steps(4);
    pad.snapshot("pad");

    // Dashboard: a recorded three-epoch run.
    let mut wb = workbench(&data, &root);
    wb.training = Some(TrainingSession::recorded(recorded_history(), config, None));
    let mut dash = Harness::builder()
        .with_size([640.0, 640.0])
        .with_options(snapshot_options())
        .wgpu()
        .build_ui_state(
            |ui, (panel, wb): &mut (DashboardPanel, Workbench)| panel.ui(ui, wb),
            (DashboardPanel::default(), wb),
        );
    dash.run_steps(4);
    dash.snapshot("dashboard");
    let mut results = pad.take_snapshot_results();
    results.extend(dash.take_snapshot_results());
    results.unwrap();
}
