//! Benchmarks of the app itself, driven headless on a bare egui context: `frame` (frame times
//! while a small-cnn trains, with a pad edit every few frames) and `pad` (pad edit → new logits
//! and all feature maps).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::AppOptions;
use super::app::WorkbenchApp;
use crate::data::worker::LoadedData;
use crate::model::ModelSpec;
use crate::train::TrainConfig;
use crate::ui::workbench::Action;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn frame_input(t: f64) -> egui::RawInput {
    egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1500.0, 900.0),
        )),
        time: Some(t),
        ..Default::default()
    }
}

/// Frame times (build + tessellate, the CPU side of a frame) of the full window while a
/// small-cnn trains on `data`, at most `seconds` long. Every fifth frame loads a test image
/// into the pad, so frames include pad predictions with the latest weights.
pub fn frame(data: LoadedData, seconds: f64, runs_root: std::path::PathBuf) -> Value {
    let ctx = egui::Context::default();
    let options = AppOptions {
        preloaded: Some(data.clone()),
        runs_root,
        restore: false,
        open_latest_run: false,
        ..AppOptions::default()
    };
    let mut app = WorkbenchApp::with_context(&ctx, options);
    let config = TrainConfig {
        model: ModelSpec::preset("small-cnn").expect("preset"),
        // Two epochs, so a run of more than one epoch's length (about 65 s on 2 cores)
        // includes the test-set evaluation the inspection panels start after epoch 1.
        epochs: 2,
        device: crate::device::DeviceChoice::Flex,
        ..TrainConfig::default()
    };
    app.workbench.act(Action::StartTraining(config));
    let start = Instant::now();
    let mut times = Vec::new();
    let mut n = 0usize;
    while start.elapsed().as_secs_f64() < seconds {
        let t0 = Instant::now();
        if n.is_multiple_of(5) {
            let i = (n * 37) % data.dataset.test.len();
            let px = data.dataset.test.intensities(i);
            app.workbench.act(Action::ShowInPad {
                pixels: px,
                caption: format!("test #{i}"),
            });
        }
        let out = ctx.run_ui(frame_input(start.elapsed().as_secs_f64()), |ui| {
            app.logic_step();
            app.draw(ui);
        });
        let _primitives = ctx.tessellate(out.shapes, out.pixels_per_point);
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        n += 1;
        if !app.workbench.is_training() && app.workbench.training.is_some() {
            break;
        }
        // A display refreshes at 60 Hz: wait out the rest of the frame.
        let left = Duration::from_micros(16_667).saturating_sub(t0.elapsed());
        std::thread::sleep(left);
    }
    let steps = app
        .workbench
        .training
        .as_ref()
        .map_or(0, |s| s.history.current_step());
    app.workbench.shutdown(Duration::from_secs(30));
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    json!({
        "task": "frame",
        "frames": times.len(),
        "p50_ms": percentile(&sorted, 0.5),
        "p95_ms": percentile(&sorted, 0.95),
        "max_ms": sorted.last().copied().unwrap_or(f64::NAN),
        "goal_p95_ms": 16.0,
        "training_steps_meanwhile": steps,
        "seconds": start.elapsed().as_secs_f64(),
    })
}

/// Pad edit → new logits and every layer's feature maps turned into the atlas pixels the
/// Feature maps panel shows, with a model on flex: the median and p95 over `edits` edits (a
/// short stroke each), after warm-up. The model is `spec` freshly initialised (the time does
/// not depend on the weights).
pub fn pad(spec: &ModelSpec, edits: usize) -> Value {
    use crate::pad::{Brush, PadImage};
    let device = burn::tensor::Device::flex();
    let model = spec.init(&device);
    let mut pad = PadImage::default();
    let mut times = Vec::with_capacity(edits);
    for i in 0..edits + 20 {
        let t0 = Instant::now();
        let y = 4.0 + (i % 20) as f32;
        pad.checkpoint();
        pad.stroke((6.0, y), (22.0, y + 1.0), &Brush::default());
        let inspection = crate::model::inspect::inspect_intensities(&model, pad.pixels(), &device)
            .expect("a pad image has 784 pixels");
        let atlas_bytes: usize = inspection
            .layers
            .iter()
            .filter(|l| l.is_conv())
            .map(|l| {
                crate::analysis::pixels::feature_map_atlas(&l.values, l.channels, l.side, 1)
                    .3
                    .len()
            })
            .sum();
        assert!(atlas_bytes > 0 && inspection.logits.iter().all(|v| v.is_finite()));
        if i >= 20 {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    json!({
        "task": "pad",
        "measures": "logits + all feature-map atlases per edit",
        "model": spec.describe(),
        "edits": edits,
        "median_ms": percentile(&times, 0.5),
        "p95_ms": percentile(&times, 0.95),
        "goal_ms": 2.0,
    })
}
