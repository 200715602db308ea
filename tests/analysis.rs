//! The analysis worker and inspection API on a small model and synthetic digits (flex):
//! the worker's evaluation equals `evaluate`, channel peaks equal the maxima of the maps
//! `inspect_intensities` returns, and filter banks have the model's shapes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use mnist_workbench::analysis::topk::top_images;
use mnist_workbench::analysis::worker::{AnalysisJob, AnalysisOutput, spawn_analysis};
use mnist_workbench::jobs::Outcome;
use mnist_workbench::model::ModelSpec;
use mnist_workbench::model::inspect::{filter_banks, inspect_intensities};
use mnist_workbench::train::evaluate;

fn finish(job: AnalysisJob) -> Outcome<AnalysisOutput> {
    let mut task = spawn_analysis(job, Arc::new(|| {})).unwrap();
    loop {
        match task
            .next_timeout(Duration::from_secs(120))
            .expect("the worker answers")
            .into_outcome()
        {
            Err(p) => assert!(p.done <= p.total),
            Ok(outcome) => return outcome,
        }
    }
}

#[test]
fn worker_evaluation_equals_evaluate_and_peaks_match_the_maps() {
    let data = common::synthetic_dataset(100, 1200, 5);
    let device = burn::tensor::Device::flex();
    let model = ModelSpec::preset("tiny-cnn").unwrap().init(&device);

    let Outcome::Finished(AnalysisOutput::Evaluated(eval)) = finish(AnalysisJob::Evaluate {
        model: model.clone(),
        device: device.clone(),
        data: data.clone(),
        model_version: 4,
    }) else {
        panic!("expected an evaluation")
    };
    let direct = evaluate(&model, &data.test, &device);
    assert_eq!(eval.model_version, 4);
    assert_eq!(eval.report.predictions, direct.predictions);
    assert_eq!(eval.report.confusion, direct.confusion);
    assert_eq!(eval.labels, data.test.labels);
    assert_eq!(eval.logits.len(), 10 * data.test.len());

    let Outcome::Finished(AnalysisOutput::Peaks(peaks)) = finish(AnalysisJob::ChannelPeaks {
        model: model.clone(),
        device: device.clone(),
        data: data.clone(),
        model_version: 4,
        layer: 0,
    }) else {
        panic!("expected peaks")
    };
    assert_eq!(peaks.channels, 8, "tiny-cnn's conv1 has 8 channels");
    assert_eq!(peaks.peaks.len(), 8 * data.test.len());
    for i in [0, 17, 1199] {
        let pixels: Vec<f32> = data.test.image(i).iter().map(|&p| p as f32 / 255.0).collect();
        let maps = &inspect_intensities(&model, &pixels, &device).unwrap().layers[0];
        for c in 0..8 {
            let map = &maps.values[c * 196..(c + 1) * 196];
            let max = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert!(
                (peaks.peaks[i * 8 + c] - max).abs() < 1e-4,
                "image {i} channel {c}"
            );
        }
    }
    // The top image of a channel has the largest peak of all.
    let top = top_images(&peaks.peaks, 8, 3, 9);
    assert_eq!(top.len(), 9);
    let best = peaks.peaks[top[0] * 8 + 3];
    assert!((0..data.test.len()).all(|i| peaks.peaks[i * 8 + 3] <= best));

    // A layer that does not exist fails with a message naming it (not a caught panic).
    let outcome = finish(AnalysisJob::ChannelPeaks {
        model,
        device,
        data: data.clone(),
        model_version: 4,
        layer: 99,
    });
    match outcome {
        Outcome::Failed(message) => {
            assert!(message.starts_with("layer 99 does not exist"), "{message}")
        }
        other => panic!("expected a failure naming the layer, got {other:?}"),
    }
}

#[test]
fn filter_banks_have_the_model_shapes() {
    let device = burn::tensor::Device::flex();
    let cnn = ModelSpec::preset("small-cnn").unwrap().init(&device);
    let banks = filter_banks(&cnn);
    let shapes: Vec<_> = banks
        .iter()
        .map(|b| (b.name.as_str(), b.outputs, b.inputs, b.side))
        .collect();
    assert_eq!(
        shapes,
        [("conv1", 32, 1, 3), ("conv2", 64, 32, 3), ("conv3", 128, 64, 3)]
    );
    assert_eq!(banks[1].weights.len(), 64 * 32 * 9);
    assert_eq!(
        banks[1].kernel(5, 7),
        &banks[1].weights[(5 * 32 + 7) * 9..(5 * 32 + 8) * 9]
    );
    let mlp = ModelSpec::preset("mlp").unwrap().init(&device);
    let banks = filter_banks(&mlp);
    assert_eq!(banks.len(), 1);
    assert_eq!((banks[0].outputs, banks[0].inputs, banks[0].side), (128, 1, 28));
}
