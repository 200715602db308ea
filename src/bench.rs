//! The benchmark tasks of `shared/bench/SPEC.md`, each returning one JSON object of figures.
//!
//! - `epoch`: one epoch of seed3-cnn over the training set (batch 64, Adam 1e-3), then test
//!   accuracy: samples/s, seconds, seconds to the first step, accuracy.
//! - `ensemble`: N small-cnn models (default 50), each full-batch on its own 2-per-digit sample
//!   with AdamW 1e-3 / 1e-4 until training accuracy ≥ 0.99 or 200 steps, then each on the test
//!   set: total seconds, mean steps, mean ± std accuracy. Runs `study::ensemble` (the
//!   models train stacked and are evaluated stacked).
//! - `latency`: one 28×28 image through small-cnn in eval mode: median ms over 200 calls
//!   after 20 warm-up calls, and the first call alone (on a GPU, compiling its kernels).

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::data::{Dataset, IMAGE_PIXELS, batch};
use crate::device::SelectedDevice;
use crate::jobs::Reporter;
use crate::study::ensemble::EnsembleConfig;
use crate::study::ensemble::run_ensemble_on;
use crate::model::ModelSpec;
use crate::train::{Control, Event, Schedule, TrainConfig, TrainJob, evaluate, run_training};

/// Names of the benchmark tasks.
pub const TASKS: [&str; 3] = ["epoch", "ensemble", "latency"];

/// Trains without printing; returns the events other than steps, the model, and the seconds
/// from the call to the first step's report (on a GPU, mostly compiling its kernels).
fn train_quietly(
    config: TrainConfig,
    data: &Arc<Dataset>,
    device: &SelectedDevice,
) -> (Vec<Event>, Option<crate::model::Model>, Option<f64>) {
    let start = Instant::now();
    let mut first_step = None;
    let mut events = Vec::new();
    let job = TrainJob {
        run_id: 0,
        config,
        data: data.clone(),
        run_dir: None,
        resume: None,
        device: Some(device.clone()),
        model_slot: None,
    };
    let model = run_training(job, &Control::default(), &mut |e| {
        if matches!(e, Event::Step { .. }) {
            first_step.get_or_insert_with(|| start.elapsed().as_secs_f64());
        } else {
            events.push(e)
        }
    });
    (events, model, first_step)
}

/// Which of the workbench's own kernels flex runs (`MNIST_WORKBENCH_KERNELS`): locally, or on
/// a remote device whose server runs them (`server:` before the list).
fn kernels_in_use(device: &SelectedDevice) -> &'static str {
    use crate::device::Backend;
    use crate::kernels::{fused_adam_enabled, fused_enabled};
    let on_server = match device.backend {
        Backend::Flex => false,
        Backend::Remote if crate::kernels::remote::served(&device.device) => true,
        _ => return "burn", // wgpu and older servers run the default bodies: burn's own ops
    };
    match (fused_enabled(), fused_adam_enabled(), on_server) {
        (true, true, false) => "conv,adam",
        (true, false, false) => "conv",
        (false, true, false) => "adam",
        (true, true, true) => "server:conv,adam",
        (true, false, true) => "server:conv",
        (false, true, true) => "server:adam",
        (false, false, _) => "burn",
    }
}

/// The `epoch` task.
pub fn epoch(data: &Arc<Dataset>, device: &SelectedDevice) -> Value {
    let config = TrainConfig {
        model: ModelSpec::preset("seed3-cnn").expect("preset"),
        schedule: Schedule::Constant,
        batch_size: 64,
        epochs: 1,
        evaluate_each_epoch: false,
        ..TrainConfig::default()
    };
    let start = Instant::now();
    let (_, model, first_step) = train_quietly(config, data, device);
    let seconds = start.elapsed().as_secs_f64();
    let accuracy = model.map(|m| evaluate(&m, &data.test, &device.device).accuracy);
    json!({
        "task": "epoch", "model": "seed3-cnn", "device": device.name, "kernels": kernels_in_use(device),
        "threads": rayon::current_num_threads(),
        "samples_per_sec": data.train.len() as f64 / seconds, "seconds": seconds,
        "first_step_seconds": first_step, "test_accuracy": accuracy,
    })
}

/// The `ensemble` task with `models` models: the ensemble experiment itself (stacked
/// training, stacked evaluation), timed from sampling to the last test prediction, its groups
/// of models spread over `devices`.
pub fn ensemble(data: &Arc<Dataset>, devices: &[SelectedDevice], models: usize) -> Value {
    let config = EnsembleConfig {
        models,
        ..EnsembleConfig::default()
    };
    let start = Instant::now();
    let mut sink = |_: crate::jobs::Progress| {};
    let never = || false;
    let outcome = run_ensemble_on(&config, data, devices, None, &mut Reporter::new(&mut sink, &never));
    let seconds = start.elapsed().as_secs_f64();
    let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
    match outcome {
        Ok(r) => json!({
            "task": "ensemble", "model": "small-cnn", "device": names.join(", "), "models": models,
            "kernels": devices.first().map_or("", kernels_in_use), "threads": rayon::current_num_threads(),
            "seconds": seconds, "train_seconds": r.train_seconds, "eval_seconds": r.eval_seconds,
            "mean_epochs": r.stats.summary.mean_steps,
            "mean_test_accuracy": r.stats.summary.mean_accuracy,
            "std_test_accuracy": r.stats.summary.std_accuracy,
            "vectorised": true,
            "per_device": r.devices.iter().map(|d| json!({
                "device": d.device, "groups": d.items, "seconds": d.seconds, "lost": d.lost,
            })).collect::<Vec<_>>(),
        }),
        Err(e) => json!({"task": "ensemble", "error": e.to_string()}),
    }
}

/// The `latency` task: one image through small-cnn, as the pad does, timed many times.
pub fn latency(data: &Arc<Dataset>, device: &SelectedDevice) -> Value {
    let dev = device.device.clone();
    dev.seed(1);
    let model = ModelSpec::preset("small-cnn").expect("preset").init(&dev);
    let image = batch::normalized_inputs(&data.test, &[0], None);
    debug_assert_eq!(image.len(), IMAGE_PIXELS);
    let mut times = Vec::with_capacity(200);
    let mut first_ms = 0.0;
    for i in 0..220 {
        let t = Instant::now();
        let logits: Vec<f32> = model
            .forward(batch::images_tensor(image.clone(), &dev))
            .into_data()
            .iter::<f32>()
            .collect();
        assert_eq!(logits.len(), 10);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if i == 0 {
            first_ms = ms;
        } else if i >= 20 {
            times.push(ms);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    json!({
        "task": "latency", "model": "small-cnn", "device": device.name, "kernels": kernels_in_use(device),
        "median_ms": times[times.len() / 2], "p95_ms": times[times.len() * 95 / 100],
        "first_ms": first_ms,
    })
}
