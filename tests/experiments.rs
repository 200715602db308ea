//! Many-model experiments: the stacked ensemble against one-model-at-a-time training, results
//! files, the size curve's resume, the stability test; on synthetic digits and real MNIST.

mod common;

use std::sync::Arc;

use mnist_workbench::data::{
    DataSource, Dataset, NUM_CLASSES, batch::normalized_inputs, load_split_from_folder,
};
use mnist_workbench::device::flex;
use mnist_workbench::study::ensemble::{EnsembleConfig, EnsembleResults, train_members};
use mnist_workbench::study::ensemble::{GROUPS_FOLDER, run_ensemble, run_ensemble_on};
use mnist_workbench::study::stability::{StabilityConfig, StabilityResults, class_distribution, run_stability};
use mnist_workbench::experiment::stacked::evaluate_stacked;
use mnist_workbench::study::subset_curve::{SubsetCurveConfig, SubsetCurveResults, run_subset_curve};
use mnist_workbench::study::{Progress, Reporter, StudyError};
use mnist_workbench::model::plain::Architecture;
use mnist_workbench::model::{Model, ModelSpec};
use mnist_workbench::train::TrainConfig;

fn quiet<T>(f: impl FnOnce(&mut Reporter) -> T) -> T {
    let mut sink = |_: Progress| {};
    let never = || false;
    f(&mut Reporter::new(&mut sink, &never))
}

fn small_config(models: usize) -> EnsembleConfig {
    EnsembleConfig {
        models,
        max_steps: 6,
        ..EnsembleConfig::default()
    }
}

#[test]
fn stacked_training_equals_one_model_at_a_time() {
    let data = common::synthetic_dataset(400, 100, 5);
    let device = flex().device;
    let config = small_config(3);
    let stacked = quiet(|r| train_members(&config, &data.train, 0..3, 3, &device, r)).unwrap();
    let alone = quiet(|r| train_members(&config, &data.train, 0..3, 1, &device, r)).unwrap();
    assert_eq!(stacked.len(), 3);
    for (a, b) in stacked.iter().zip(&alone) {
        assert_eq!(a.member, b.member);
        assert_eq!(a.steps, b.steps, "model {} stopped at a different step", a.member);
        assert_eq!(a.train_accuracy, b.train_accuracy);
        let mut worst = 0.0f32;
        for (x, y) in a
            .weights
            .params
            .iter()
            .flatten()
            .zip(b.weights.params.iter().flatten())
        {
            worst = worst.max((x - y).abs() / (1.0 + y.abs()));
        }
        for (x, y) in a
            .weights
            .running
            .iter()
            .flatten()
            .zip(b.weights.running.iter().flatten())
        {
            worst = worst.max((x - y).abs() / (1.0 + y.abs()));
        }
        assert!(worst < 1e-4, "model {} differs by {worst}", a.member);
    }
    // The models learned something different from each other and from their start.
    assert_ne!(stacked[0].weights, stacked[1].weights);
    let start = Architecture::of(&config.model)
        .init(&mut mnist_workbench::rng::Rng::derive(config.member_seed(0), 2));
    assert_ne!(stacked[0].weights.params, start.params);
}

#[test]
fn stacked_evaluation_equals_each_model_as_an_ordinary_network() {
    let data = common::synthetic_dataset(300, 60, 8);
    let device = flex().device;
    for preset in ["small-cnn", "mlp"] {
        let config = EnsembleConfig {
            model: ModelSpec::preset(preset).unwrap(),
            ..small_config(3)
        };
        let trained = quiet(|r| train_members(&config, &data.train, 0..3, 3, &device, r)).unwrap();
        let arch = Architecture::of(&config.model);
        let indices: Vec<usize> = (0..20).collect();
        let inputs = normalized_inputs(&data.test, &indices, None);
        let weights: Vec<_> = trained.iter().map(|f| &f.weights).collect();
        let stacked = evaluate_stacked(&arch, &weights, &inputs, &device); // [3, 20, 10]
        for (m, f) in trained.iter().enumerate() {
            let model = Model::from_plain(&config.model, &f.weights, &device).expect("weights fit");
            let logits: Vec<f32> = model
                .forward(mnist_workbench::data::batch::images_tensor(
                    inputs.clone(),
                    &device,
                ))
                .into_data()
                .iter::<f32>()
                .collect();
            let mine = &stacked[m * 200..(m + 1) * 200];
            for (a, b) in mine.iter().zip(&logits) {
                assert!(
                    (a - b).abs() < 1e-3 * (1.0 + b.abs()),
                    "{preset} model {m}: {a} vs {b}"
                );
            }
        }
        // Weights of another architecture are refused, not loaded.
        let other = ModelSpec::preset("tiny-cnn").unwrap();
        assert!(Model::from_plain(&other, &trained[0].weights, &device).is_none());
    }
}

#[test]
fn ensemble_results_save_reload_and_refuse_damage() {
    let data = common::synthetic_dataset(300, 80, 2);
    let config = EnsembleConfig {
        model: ModelSpec::preset("tiny-cnn").unwrap(),
        models: 4,
        max_steps: 30,
        ..EnsembleConfig::default()
    };
    let results = quiet(|r| run_ensemble(&config, &data, &flex(), r)).unwrap();
    assert_eq!(results.correctness.models(), 4);
    assert_eq!(results.correctness.images(), 80);
    for (m, member) in results.members.iter().enumerate() {
        assert_eq!(member.train_indices.len(), 20);
        let mut per_digit = [0; NUM_CLASSES];
        for &i in &member.train_indices {
            per_digit[data.train.labels[i] as usize] += 1;
        }
        assert_eq!(per_digit, [2; NUM_CLASSES], "model {m} trains on 2 of each digit");
        assert!(member.steps >= 1 && member.steps <= 30);
        assert_eq!(member.test_accuracy, results.stats.model_accuracy[m]);
    }
    assert_ne!(results.members[0].train_indices, results.members[1].train_indices);
    let dir = common::temp_dir("ensemble");
    results.save(&dir).unwrap();
    let back = EnsembleResults::load(&dir).unwrap();
    assert_eq!(back, results);
    // A truncated matrix is refused with a message naming the file.
    let bin = dir.join("correctness.bin");
    let bytes = std::fs::read(&bin).unwrap();
    std::fs::write(&bin, &bytes[..bytes.len() - 3]).unwrap();
    let err = EnsembleResults::load(&dir).unwrap_err().to_string();
    assert!(
        err.contains("correctness.bin") && err.contains("truncated"),
        "{err}"
    );
    // So is a results file of another kind of experiment.
    std::fs::write(dir.join("ensemble.json"), "{\"kind\": \"stability\"}").unwrap();
    assert!(EnsembleResults::load(&dir).is_err());
}

/// Groups kept in `ensemble-groups/` are reused when they fit and trained again, with the
/// file named in the results and summary, when damaged or from other settings.
#[test]
fn kept_ensemble_groups_are_reused_or_trained_again_and_named() {
    let data = common::synthetic_dataset(300, 60, 9);
    let config = small_config(12); // groups of 10: models 0-9 and 10-11
    let dir = common::temp_dir("ensemble-kept");
    let first = quiet(|r| run_ensemble_on(&config, &data, &[flex()], Some(&dir), r)).unwrap();
    let groups = dir.join(GROUPS_FOLDER);
    assert!(groups.join("models-0.json").is_file() && groups.join("models-10.json").is_file());
    assert!(first.retrained.is_empty());
    // Both groups fit: nothing is trained, the figures are the same.
    let again = quiet(|r| run_ensemble_on(&config, &data, &[flex()], Some(&dir), r)).unwrap();
    assert_eq!((again.members.clone(), again.correctness.clone()), (first.members.clone(), first.correctness.clone()));
    let items = |r: &EnsembleResults| r.devices.iter().map(|d| d.items).sum::<usize>();
    assert_eq!(items(&first), 2);
    assert!(again.retrained.is_empty());
    assert_eq!(items(&again), 0, "no group trained again: {:?}", again.devices);
    assert_eq!(again.placements, first.placements, "the kept groups' placements are kept");
    // A truncated group file is trained again, named, and the models come out the same.
    let damaged = groups.join("models-10.json");
    let bytes = std::fs::read(&damaged).unwrap();
    std::fs::write(&damaged, &bytes[..bytes.len() / 2]).unwrap();
    let redone = quiet(|r| run_ensemble_on(&config, &data, &[flex()], Some(&dir), r)).unwrap();
    assert_eq!(redone.retrained.len(), 1, "{:?}", redone.retrained);
    assert!(redone.retrained[0].contains("ensemble-groups/models-10.json"), "{:?}", redone.retrained);
    assert_eq!(items(&redone), 1, "only the damaged group ran: {:?}", redone.devices);
    assert_eq!((redone.members.clone(), redone.correctness.clone()), (first.members.clone(), first.correctness.clone()));
    let summary = <mnist_workbench::study::ensemble::Ensemble as mnist_workbench::study::Study>::summary(&redone);
    assert!(summary.contains("1 kept group(s) trained again") && summary.contains("models-10.json"), "{summary}");
    // The record of what was trained again survives saving and reloading.
    redone.save(&dir).unwrap();
    assert_eq!(EnsembleResults::load(&dir).unwrap().retrained, redone.retrained);
}

#[test]
fn ensemble_cancels_between_steps() {
    let data = common::synthetic_dataset(200, 40, 3);
    let mut sink = |_: Progress| {};
    let stop = || true;
    let mut reporter = Reporter::new(&mut sink, &stop);
    let result = run_ensemble(&small_config(2), &data, &flex(), &mut reporter);
    assert!(matches!(result, Err(StudyError::Cancelled)));
}

#[test]
fn subset_curve_resumes_after_a_cancel() {
    let data = common::synthetic_dataset(400, 100, 4);
    let config = SubsetCurveConfig {
        fractions: vec![0.25, 0.5],
        train: TrainConfig {
            model: ModelSpec::preset("tiny-cnn").unwrap(),
            epochs: 1,
            evaluate_each_epoch: false,
            ..TrainConfig::default()
        },
    };
    let dir = common::temp_dir("curve");
    let device = flex();
    // Cancel once the first fraction has been saved.
    let mut sink = |_: Progress| {};
    let saved = || dir.join("subset_curve.json").exists();
    let mut reporter = Reporter::new(&mut sink, &saved);
    let first = run_subset_curve(&config, &data, std::slice::from_ref(&device), Some(&dir), &mut reporter);
    assert!(matches!(first, Err(StudyError::Cancelled)));
    let partial = SubsetCurveResults::load(&dir).unwrap();
    assert_eq!(partial.points.len(), 1);
    assert_eq!(partial.points[0].fraction, 0.25);
    assert_eq!(partial.points[0].train_size, 100);
    // Running again finishes only the missing fraction and keeps the first as it was.
    let mut fractions_trained = Vec::new();
    let mut watch = |p: Progress| {
        if p.stage.starts_with("fraction") {
            fractions_trained.push(p.stage.split(' ').nth(1).unwrap_or("").to_string());
        }
    };
    let never = || false;
    let full = run_subset_curve(
        &config,
        &data,
        std::slice::from_ref(&device),
        Some(&dir),
        &mut Reporter::new(&mut watch, &never),
    )
    .unwrap();
    assert!(full.is_complete());
    assert_eq!(full.points[0], partial.points[0]);
    assert_eq!(full.points[1].train_size, 200);
    assert!(
        fractions_trained.iter().all(|f| f.starts_with("0.5")),
        "{fractions_trained:?}"
    );
    assert_eq!(SubsetCurveResults::load(&dir).unwrap(), full);
}

#[test]
fn stability_passes_vary_with_dropout_and_repeat_with_the_seed() {
    let data = common::synthetic_dataset(300, 200, 6);
    let config = TrainConfig {
        model: ModelSpec::preset("small-cnn").unwrap(),
        epochs: 1,
        evaluate_each_epoch: false,
        ..TrainConfig::default()
    };
    let (_, model) = common::collect(common::flex_job(config, data.clone()), &Default::default());
    let model = model.unwrap();
    let devices = [flex()];
    let device = flex().device;
    let settings = StabilityConfig { passes: 6, seed: 1 };
    let a = quiet(|r| run_stability(&settings, &model, &data, &devices, r)).unwrap();
    let b = quiet(|r| run_stability(&settings, &model, &data, &devices, r)).unwrap();
    // Every figure repeats; only the seconds each batch took may differ.
    let figures = |r: &StabilityResults| StabilityResults { batches: Vec::new(), ..r.clone() };
    assert_eq!(figures(&a), figures(&b), "same seed, same passes");
    assert_eq!(a.batches.len(), 1, "200 test images are one batch");
    assert_eq!(a.batches[0].device, flex().name);
    assert_eq!(a.accuracies.len(), 6);
    assert!(a.changed_images > 0, "dropout 0.3 changes some prediction");
    assert_eq!(a.entropy.iter().filter(|&&e| e > 0.0).count(), a.changed_images);
    let first = &a.unstable[0];
    assert_eq!(first.votes.iter().sum::<usize>(), 6);
    assert!(a.unstable.windows(2).all(|w| w[0].entropy >= w[1].entropy));
    let input = normalized_inputs(&data.test, &[first.index], None);
    let shares = class_distribution(&model, &input, 100, 3, &device);
    assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    // A model without dropout is refused with a reason.
    let (_, mlp) = common::collect(
        common::flex_job(
            TrainConfig {
                model: ModelSpec::preset("mlp").unwrap(),
                evaluate_each_epoch: false,
                ..TrainConfig::default()
            },
            data.clone(),
        ),
        &Default::default(),
    );
    let err = quiet(|r| run_stability(&settings, &mlp.unwrap(), &data, &devices, r)).unwrap_err();
    assert!(err.to_string().contains("no dropout"), "{err}");
}

/// Real MNIST, 6 models of S0's ensemble: accuracy where PyTorch's models land.
#[test]
#[ignore = "needs real MNIST: mnist-workbench data download, then MNIST_DIR=<folder> cargo test --release -- --include-ignored"]
fn ensemble_on_real_mnist_lands_in_seed_s0_range() {
    let dir = common::mnist_dir();
    let (train, test) = load_split_from_folder(&dir).unwrap();
    let data = Arc::new(Dataset {
        train,
        test,
        source: DataSource::EnvVar { path: dir },
    });
    let config = EnsembleConfig {
        models: 6,
        ..EnsembleConfig::default()
    };
    let results = quiet(|r| run_ensemble(&config, &data, &flex(), r)).unwrap();
    let s = &results.stats.summary;
    // PyTorch reference: 0.458 ± 0.072 after 5.5 steps on average.
    assert!(
        s.mean_accuracy > 0.3 && s.mean_accuracy < 0.65,
        "mean accuracy {}",
        s.mean_accuracy
    );
    assert!(
        s.mean_steps >= 2.0 && s.mean_steps <= 30.0,
        "mean steps {}",
        s.mean_steps
    );
    assert_eq!(s.converged, 6);
    assert!(
        s.mean_model_correlation.unwrap() > 0.0,
        "models agree more than chance"
    );
}
