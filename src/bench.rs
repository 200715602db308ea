//! The benchmark tasks of `shared/bench/SPEC.md`, each returning one JSON object of figures.
//!
//! - `epoch`: one epoch of seed3-cnn over the training set (batch 64, Adam 1e-3), then test
//!   accuracy: samples/s, seconds, seconds to the first step, accuracy.
//! - every registered study that declares a benchmark ([`Study::BENCH`](crate::study::Study::BENCH)),
//!   under its id: the ensemble's N small-cnn models (default 50), each full-batch on its own
//!   2-per-digit sample with AdamW 1e-3 / 1e-4 until training accuracy ≥ 0.99 or 200 steps,
//!   then each on the test set: total seconds, mean steps, mean ± std accuracy. The study
//!   itself runs (the models train stacked and are evaluated stacked).
//! - `latency`: one 28×28 image through small-cnn in eval mode: median ms over 200 calls
//!   after 20 warm-up calls, and the first call alone (on a GPU, compiling its kernels).

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::data::{Dataset, IMAGE_PIXELS, batch};
use crate::device::SelectedDevice;
use crate::model::ModelSpec;
use crate::study::{AnyStudy, STUDIES};
use crate::train::{Control, Event, Schedule, TrainConfig, TrainJob, evaluate, run_training};

/// Names of the benchmark tasks: `epoch`, the studies that have one, `latency`.
pub fn tasks() -> Vec<&'static str> {
    let studies = STUDIES.iter().filter(|s| s.bench_task().is_some()).map(|s| s.id());
    std::iter::once("epoch").chain(studies).chain(std::iter::once("latency")).collect()
}

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

/// The benchmark of `study` at `size` (its models), timed from start to finish, its work
/// spread over `devices` where the study spreads.
pub fn study_task(study: &dyn AnyStudy, data: &Dataset, devices: &[SelectedDevice], size: usize) -> Value {
    let start = Instant::now();
    let outcome = match study.bench_task() {
        Some(task) => task(data, devices, size),
        None => Err(crate::study::StudyError::Config(format!("{} has no benchmark task", study.id()))),
    };
    let seconds = start.elapsed().as_secs_f64();
    let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
    match outcome {
        Ok(figures) => {
            let mut line = json!({
                "task": study.id(), "device": names.join(", "),
                "kernels": devices.first().map_or("", kernels_in_use), "threads": rayon::current_num_threads(),
                "seconds": seconds,
            });
            if let Value::Object(fields) = &mut line {
                fields.extend(figures);
            }
            line
        }
        Err(e) => json!({"task": study.id(), "error": e.to_string()}),
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
