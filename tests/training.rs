//! The training loop on flex with synthetic digits: accuracy, reproducibility, event order,
//! cancel, divergence, checkpoints and resume.

mod common;

use common::{collect, flex_job as job};

use std::sync::Arc;

use mnist_workbench::device;
use mnist_workbench::model::ModelSpec;
use mnist_workbench::run::{RunConfig, RunDir, load_model, save_model};
use mnist_workbench::train::eval::logits_of;
use mnist_workbench::train::{
    Command, Control, Event, FailReason, StopReason, TrainConfig, TrainJob, evaluate, spawn_training,
};

fn quick_config() -> TrainConfig {
    TrainConfig {
        model: ModelSpec::preset("tiny-cnn").unwrap(),
        learning_rate: 2e-3,
        batch_size: 32,
        epochs: 3,
        seed: 3,
        ..TrainConfig::default()
    }
}

#[test]
fn tiny_cnn_learns_synthetic_digits_to_95_percent_on_held_out_images() {
    let data = common::synthetic_dataset(3000, 600, 11);
    let (events, model) = collect(job(quick_config(), data.clone()), &Control::default());
    let Some(Event::Finished {
        reason,
        test_accuracy,
        ..
    }) = events.last()
    else {
        panic!("no finish: {:?}", events.last())
    };
    assert_eq!(*reason, StopReason::EpochsDone);
    let acc = test_accuracy.unwrap();
    assert!(acc >= 0.95, "held-out synthetic accuracy {acc}");
    // The returned model gives the same figure when evaluated again.
    let again = evaluate(&model.unwrap(), &data.test, &device::flex().device).accuracy;
    assert!((again - acc).abs() < 1e-9);
}

#[test]
fn events_come_in_the_documented_order() {
    let data = common::synthetic_dataset(200, 50, 1);
    let config = TrainConfig {
        epochs: 2,
        batch_size: 50,
        ..quick_config()
    };
    let (events, _) = collect(job(config, data), &Control::default());
    assert!(matches!(
        events[0],
        Event::Started {
            steps_per_epoch: 4,
            train_size: 200,
            ..
        }
    ));
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            Event::Started { .. } => "S",
            Event::Step { .. } => "s",
            Event::Epoch { .. } => "E",
            Event::Finished { .. } => "F",
            Event::Failed { .. } => "X",
        })
        .collect();
    assert_eq!(kinds.concat(), "SssssEssssEF");
    assert!(events.iter().all(|e| e.run_id() == 7));
    let Event::Epoch { metrics, .. } = &events[5] else {
        unreachable!()
    };
    let confusion_total: u32 = metrics.confusion.unwrap().iter().flatten().sum();
    assert_eq!(confusion_total, 50);
}

#[test]
fn nan_loss_stops_with_a_diverged_event() {
    let data = common::synthetic_dataset(640, 20, 4);
    let config = TrainConfig {
        learning_rate: 1e6,
        epochs: 3,
        model: ModelSpec::preset("mlp").unwrap(),
        ..quick_config()
    };
    let (events, _) = collect(job(config, data), &Control::default());
    let Some(Event::Failed {
        reason: FailReason::Diverged { step, .. },
        ..
    }) = events.last()
    else {
        panic!("expected divergence, got {:?}", events.last())
    };
    assert!(*step >= 1);
    assert!(events.last().unwrap().to_string_lossy().contains("diverged"));
}

trait Lossy {
    fn to_string_lossy(&self) -> String;
}
impl Lossy for Event {
    fn to_string_lossy(&self) -> String {
        match self {
            Event::Failed { reason, .. } => reason.to_string(),
            other => format!("{other:?}"),
        }
    }
}

#[test]
fn invalid_config_fails_before_any_step() {
    let data = common::synthetic_dataset(20, 10, 5);
    let (events, model) = collect(
        job(
            TrainConfig {
                batch_size: 0,
                ..quick_config()
            },
            data,
        ),
        &Control::default(),
    );
    assert!(model.is_none());
    assert_eq!(events.len(), 1);
    assert!(
        events[0]
            .to_string_lossy()
            .contains("batch size must be at least 1")
    );
}

#[test]
fn stop_command_ends_the_worker_within_one_batch_and_keeps_the_last_checkpoint_valid() {
    let data = common::synthetic_dataset(2000, 50, 6);
    let root = common::temp_dir("cancel");
    let rc = RunConfig::for_dataset(
        TrainConfig {
            epochs: 50,
            batch_size: 16,
            ..quick_config()
        },
        &data,
    );
    let dir = RunDir::create(&root, &rc).unwrap();
    let job = TrainJob {
        run_dir: Some(dir.clone()),
        ..job(rc.train.clone(), data.clone())
    };
    let mut handle = spawn_training(job, Arc::new(|| {})).unwrap();
    let mut steps_after_stop = 0;
    let mut stopped = false;
    let mut last = None;
    while let Some(event) = handle.next_event() {
        match &event {
            Event::Epoch { metrics, .. } if metrics.epoch == 1 => {
                handle.send(Command::Stop);
                stopped = true;
            }
            Event::Step { .. } if stopped => steps_after_stop += 1,
            _ => {}
        }
        last = Some(event);
    }
    assert!(
        matches!(
            last,
            Some(Event::Finished {
                reason: StopReason::Cancelled,
                epochs: 1,
                ..
            })
        ),
        "{last:?}"
    );
    assert!(steps_after_stop <= 1, "{steps_after_stop} steps after stop");
    let model = dir.load_model(&rc.train.model, &device::flex().device).unwrap();
    assert!(evaluate(&model, &data.test, &device::flex().device).accuracy > 0.2);
    let summary = dir.read_summary().unwrap().unwrap();
    assert!(summary.best_test_accuracy.is_some());
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir.path)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn pause_holds_the_loop_until_resume() {
    let data = common::synthetic_dataset(640, 20, 8);
    let mut handle = spawn_training(
        job(
            TrainConfig {
                epochs: 1,
                batch_size: 16,
                ..quick_config()
            },
            data,
        ),
        Arc::new(|| {}),
    )
    .unwrap();
    handle.send(Command::Pause);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before: Vec<Event> = handle.try_events().collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let during: usize = handle
        .try_events()
        .filter(|e| matches!(e, Event::Step { .. }))
        .count();
    assert_eq!(during, 0, "steps ran while paused (before: {})", before.len());
    handle.send(Command::Resume);
    let rest: Vec<Event> = handle.events().collect();
    assert!(matches!(
        rest.last(),
        Some(Event::Finished {
            reason: StopReason::EpochsDone,
            ..
        })
    ));
}

#[test]
fn target_accuracy_stops_full_batch_training_early() {
    let data = common::synthetic_dataset(500, 20, 9);
    let config = TrainConfig {
        model: ModelSpec::preset("small-cnn").unwrap(),
        optimizer: mnist_workbench::train::OptimizerSpec::ADAMW,
        weight_decay: 1e-4,
        schedule: mnist_workbench::train::Schedule::Constant,
        subset: mnist_workbench::train::Subset::PerDigit { k: 2 },
        batch_size: 60_000,
        epochs: 200,
        target_train_accuracy: Some(0.99),
        evaluate_each_epoch: false,
        ..quick_config()
    };
    let (events, _) = collect(job(config, data), &Control::default());
    let Some(Event::Finished { reason, steps, .. }) = events.last() else {
        panic!()
    };
    assert_eq!(*reason, StopReason::TargetReached);
    assert!(*steps < 200, "took {steps} steps");
    assert!(matches!(
        events[0],
        Event::Started {
            train_size: 20,
            steps_per_epoch: 1,
            ..
        }
    ));
}

#[test]
fn checkpoint_round_trip_gives_identical_logits_and_other_architectures_are_refused() {
    let data = common::synthetic_dataset(200, 30, 10);
    let config = TrainConfig {
        epochs: 1,
        ..quick_config()
    };
    let (_, model) = collect(job(config.clone(), data.clone()), &Control::default());
    let model = model.unwrap();
    let dir = common::temp_dir("ckpt");
    let path = dir.join("model.bpk");
    save_model(&model, &path).unwrap();
    let flex = device::flex().device;
    let loaded = load_model(&path, &config.model, &flex).unwrap();
    let idx: Vec<usize> = (0..30).collect();
    assert_eq!(
        logits_of(&model, &data.test, &idx, &flex),
        logits_of(&loaded, &data.test, &idx, &flex)
    );
    // Another architecture: clear error naming what was expected.
    let err = load_model(&path, &ModelSpec::preset("small-cnn").unwrap(), &flex)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("small-cnn") && err.contains("does not load"),
        "{err}"
    );
    // A truncated file: clear error too.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_model(&path, &config.model, &flex).unwrap_err().to_string();
    assert!(err.contains("tiny-cnn") && err.contains("does not load"), "{err}");
}

#[test]
fn resume_continues_from_saved_weights_and_optimizer_state() {
    let data = common::synthetic_dataset(600, 100, 12);
    let root = common::temp_dir("resume");
    let config = TrainConfig {
        epochs: 1,
        ..quick_config()
    };
    let rc = RunConfig::for_dataset(config.clone(), &data);
    let dir = RunDir::create(&root, &rc).unwrap();
    let (events, _) = collect(
        TrainJob {
            run_dir: Some(dir.clone()),
            ..job(config.clone(), data.clone())
        },
        &Control::default(),
    );
    let fresh_events = events.clone();
    let Some(Event::Finished {
        test_accuracy: Some(first),
        ..
    }) = events.last()
    else {
        panic!()
    };
    let flex = device::flex().device;
    let resume = Some((
        dir.load_model(&config.model, &flex).unwrap(),
        dir.optimizer_bytes().unwrap(),
    ));
    assert!(resume.as_ref().unwrap().1.is_some());
    let (events, _) = collect(
        TrainJob {
            resume,
            ..job(
                TrainConfig {
                    epochs: 2,
                    seed: 4,
                    ..config
                },
                data,
            )
        },
        &Control::default(),
    );
    let Some(Event::Finished {
        test_accuracy: Some(after),
        ..
    }) = events.last()
    else {
        panic!("{:?}", events.last())
    };
    // Starting from trained weights, the first resumed step's loss sits well below a fresh
    // start's (about ln 10 = 2.3).
    let first_loss = first_step_loss(&events);
    let fresh = first_step_loss(&fresh_events);
    assert!(
        first_loss < fresh - 0.4,
        "first resumed loss {first_loss}, fresh {fresh}"
    );
    assert!(*after >= first - 0.05, "resumed accuracy {after} vs {first}");
}

#[test]
fn param_counts_match_the_built_networks() {
    let flex = device::flex().device;
    for name in mnist_workbench::model::PRESET_NAMES {
        let spec = ModelSpec::preset(name).unwrap();
        let model = spec.init(&flex);
        use burn::module::Module;
        // burn counts BatchNorm's running mean and variance too; param_count is the trainable
        // count (PyTorch's convention).
        assert_eq!(
            spec.param_count() + spec.batch_norm_statistics(),
            model.num_params(),
            "{name}"
        );
    }
    // seed S3 reports ~1,024,000 parameters for its CNN; PyTorch's count of the same layers
    // (conv 320 + bn 64 + conv 18,496 + bn 128 + fc 1,003,840 + fc 3,210) is 1,026,058, of
    // which the 32 + 64 convolution biases are redundant in front of BatchNorm and left out
    // here: 1,025,962.
    assert_eq!(
        ModelSpec::preset("seed3-cnn").unwrap().param_count(),
        1_026_058 - 32 - 64
    );
}

#[test]
fn forward_with_activations_returns_every_layer() {
    let flex = device::flex().device;
    let data = common::synthetic_dataset(4, 4, 1);
    let x = mnist_workbench::data::batch::batch(&data.train, &[0, 1], None, &flex).0;
    let (logits, acts) = ModelSpec::preset("small-cnn")
        .unwrap()
        .init(&flex)
        .forward_with_activations(x.clone());
    assert_eq!(logits.dims(), [2, 10]);
    let shapes: Vec<(String, Vec<usize>)> = acts
        .iter()
        .map(|a| match a {
            mnist_workbench::model::LayerOutput::Conv { name, maps } => (name.clone(), maps.dims().to_vec()),
            mnist_workbench::model::LayerOutput::Dense { name, values } => {
                (name.clone(), values.dims().to_vec())
            }
        })
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("conv1".into(), vec![2, 32, 14, 14]),
            ("conv2".into(), vec![2, 64, 7, 7]),
            ("conv3".into(), vec![2, 128, 3, 3]),
            ("fc".into(), vec![2, 256]),
        ]
    );
    let (_, mlp_acts) = ModelSpec::preset("mlp")
        .unwrap()
        .init(&flex)
        .forward_with_activations(x);
    assert_eq!(
        mlp_acts.iter().map(|a| a.name().to_string()).collect::<Vec<_>>(),
        vec!["fc1", "fc2"]
    );
}

fn first_step_loss(events: &[Event]) -> f64 {
    events
        .iter()
        .find_map(|e| {
            if let Event::Step { loss, .. } = e {
                Some(*loss)
            } else {
                None
            }
        })
        .expect("a step")
}

#[test]
fn stop_during_the_end_of_epoch_evaluation_ends_the_run_there() {
    let data = common::synthetic_dataset(200, 3000, 51);
    let config = TrainConfig {
        model: ModelSpec::preset("tiny-cnn").unwrap(),
        epochs: 3,
        batch_size: 50,
        ..TrainConfig::default()
    };
    let control = Control::default();
    let mut events = Vec::new();
    // Stop arrives with the epoch's last step, that is while the test set is evaluated.
    mnist_workbench::train::run_training(job(config, data), &control, &mut |e| {
        if let Event::Step { step: 4, .. } = e {
            control.apply(Command::Stop);
        }
        events.push(e);
    });
    let epochs: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Epoch { metrics, .. } => Some(metrics.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(epochs.len(), 1, "the run ends after the first epoch");
    assert_eq!(epochs[0].test_accuracy, None, "the evaluation was cut short");
    assert!(matches!(
        events.last(),
        Some(Event::Finished {
            reason: StopReason::Cancelled,
            epochs: 1,
            ..
        })
    ));
}
