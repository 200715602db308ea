//! The computation of the ablation study (seed S1): the units of one layer whose mean
//! activation differs most between two classes are zeroed at inference, and the accuracy
//! that leaves is compared with random ablations of as many units.
//!
//! Units are a dense layer's neurons or a conv block's channels (a channel's activation is
//! its mean over positions). Every ablation is evaluated on the same test images: the layer's
//! output is computed once per batch, then each mask is applied and the rest of the network
//! run (`Model::forward_to` / `forward_from`).

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::analysis::stats::mean_std;
use crate::data::{Digits, NUM_CLASSES, batch};
use crate::jobs::Reporter;
use crate::model::Model;
use crate::model::mc::LOGITS_BATCH;
use crate::rng::Rng;
use crate::study::StudyError;
use crate::train::metrics::argmax;

/// Settings of an ablation study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationConfig {
    /// Index into `Model::probe_layers`.
    pub layer: usize,
    /// The two classes (1 and 7 in seed S1).
    pub classes: [u8; 2],
    /// Units with |mean(a) − mean(b)| above this are ablated.
    pub threshold: f32,
    /// Random ablations of the same number of units (seed S1's histogram).
    pub random_trials: usize,
    /// Thresholds of the sweep.
    pub sweep: Vec<f32>,
    /// Random ablations per sweep threshold.
    pub sweep_trials: usize,
    /// Test images used (the first ones; all when larger than the test set).
    pub max_images: usize,
    /// Seed of the random choices.
    pub seed: u64,
}

impl Default for AblationConfig {
    fn default() -> Self {
        Self {
            layer: 0,
            classes: [1, 7],
            threshold: 0.3,
            random_trials: 100,
            sweep: vec![0.1, 0.2, 0.3, 0.4, 0.5],
            sweep_trials: 20,
            max_images: 10_000,
            seed: 1,
        }
    }
}

/// Accuracy of one ablation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accuracies {
    /// On test images of the first class.
    pub class_a: f64,
    /// On test images of the second class.
    pub class_b: f64,
    /// On the images of both classes together.
    pub pair: f64,
    /// On every test image used.
    pub overall: f64,
}

/// One point of the threshold sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdPoint {
    /// The threshold.
    pub threshold: f32,
    /// Units above it.
    pub units: usize,
    /// Accuracy with them ablated.
    pub targeted: Accuracies,
    /// Mean and std of the pair accuracy over random ablations of as many units.
    pub random_pair: (f64, f64),
}

/// The outcome of an ablation study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationResults {
    /// Settings.
    pub config: AblationConfig,
    /// Name of the layer.
    pub layer_name: String,
    /// Mean activation per unit over test images of each class.
    pub class_means: [Vec<f32>; 2],
    /// `class_means[0] − class_means[1]` per unit.
    pub differences: Vec<f32>,
    /// Share of units with |difference| < 0.2 (seed S1 found about 60 %).
    pub small_difference_share: f64,
    /// Nothing ablated.
    pub baseline: Accuracies,
    /// Units ablated by the threshold.
    pub targeted_units: Vec<usize>,
    /// Accuracy with them ablated.
    pub targeted: Accuracies,
    /// Each random ablation of as many units.
    pub random: Vec<Accuracies>,
    /// Share of random ablations whose pair accuracy is at or below the targeted one.
    pub random_at_or_below: f64,
    /// The threshold sweep.
    pub sweep: Vec<ThresholdPoint>,
    /// Test images used.
    pub images: usize,
}

/// Units whose |difference| exceeds `threshold`.
pub fn units_above(differences: &[f32], threshold: f32) -> Vec<usize> {
    (0..differences.len())
        .filter(|&u| differences[u].abs() > threshold)
        .collect()
}

/// A mask with the given units zeroed.
pub fn ablation_mask(units: usize, ablated: &[usize]) -> Vec<f32> {
    let mut mask = vec![1.0; units];
    for &u in ablated {
        mask[u] = 0.0;
    }
    mask
}

/// `count` distinct units out of `units`, drawn by `rng`.
pub fn random_units(units: usize, count: usize, rng: &mut Rng) -> Vec<usize> {
    let mut all: Vec<usize> = (0..units).collect();
    rng.shuffle(&mut all);
    all.truncate(count.min(units));
    all.sort_unstable();
    all
}

/// Correct counts per class for one mask.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    correct: [usize; NUM_CLASSES],
    total: [usize; NUM_CLASSES],
}

impl Tally {
    fn accuracies(&self, [a, b]: [u8; 2]) -> Accuracies {
        let ratio = |c: usize, t: usize| if t == 0 { 0.0 } else { c as f64 / t as f64 };
        let (a, b) = (a as usize, b as usize);
        Accuracies {
            class_a: ratio(self.correct[a], self.total[a]),
            class_b: ratio(self.correct[b], self.total[b]),
            pair: ratio(self.correct[a] + self.correct[b], self.total[a] + self.total[b]),
            overall: ratio(self.correct.iter().sum(), self.total.iter().sum()),
        }
    }
}

/// Mean activation per unit of `layer` over the test images of each class.
pub fn class_means(
    model: &Model,
    test: &Digits,
    indices: &[usize],
    layer: usize,
    classes: [u8; 2],
    device: &Device,
) -> [Vec<f32>; 2] {
    let model = model.valid();
    let units = model.probe_layers()[layer].units;
    let mut sums = [vec![0.0f64; units], vec![0.0f64; units]];
    let mut counts = [0usize; 2];
    let chosen: Vec<usize> = indices
        .iter()
        .copied()
        .filter(|&i| classes.contains(&test.labels[i]))
        .collect();
    for chunk in chosen.chunks(LOGITS_BATCH) {
        let (x, _) = batch::batch(test, chunk, None, device);
        let means = model.forward_to(x, layer).unit_means();
        for (&i, row) in chunk.iter().zip(&means) {
            let k = usize::from(test.labels[i] != classes[0]);
            counts[k] += 1;
            for (s, &v) in sums[k].iter_mut().zip(row) {
                *s += v as f64;
            }
        }
    }
    let mean = |k: usize| -> Vec<f32> {
        sums[k]
            .iter()
            .map(|&s| (s / counts[k].max(1) as f64) as f32)
            .collect()
    };
    [mean(0), mean(1)]
}

/// Runs the ablation study on the first `config.max_images` test images.
pub fn run_ablation(
    model: &Model,
    test: &Digits,
    config: &AblationConfig,
    device: &Device,
    reporter: &mut Reporter,
) -> Result<AblationResults, StudyError> {
    let layers = model.probe_layers();
    let Some(layer) = layers.get(config.layer) else {
        return Err(StudyError::Config(format!(
            "layer {} does not exist; this model has {} probe layers",
            config.layer,
            layers.len()
        )));
    };
    let [a, b] = config.classes;
    if a == b || a as usize >= NUM_CLASSES || b as usize >= NUM_CLASSES {
        return Err(StudyError::Config("choose two different digits".into()));
    }
    if !(0.0..=1000.0).contains(&config.threshold) || config.random_trials > 10_000 {
        return Err(StudyError::Config(
            "the threshold must be between 0 and 1000 and at most 10000 random trials".into(),
        ));
    }
    let n = config.max_images.min(test.len());
    let indices: Vec<usize> = (0..n).collect();
    if !indices.iter().any(|&i| test.labels[i] == a) || !indices.iter().any(|&i| test.labels[i] == b) {
        return Err(StudyError::Config(format!(
            "the test images used hold no {a} or no {b}"
        )));
    }
    reporter.progress("class means", 0.0);
    let device = device.clone().without_autodiff();
    let class_means = class_means(model, test, &indices, config.layer, config.classes, &device);
    let differences: Vec<f32> = class_means[0]
        .iter()
        .zip(&class_means[1])
        .map(|(x, y)| x - y)
        .collect();
    let units = layer.units;
    let small = differences.iter().filter(|d| d.abs() < 0.2).count();

    // Every mask, evaluated together: baseline, targeted, random, then per sweep threshold
    // its targeted mask and its random ones.
    let mut rng = Rng::derive(config.seed, 7);
    let targeted_units = units_above(&differences, config.threshold);
    let mut masks = vec![ablation_mask(units, &[]), ablation_mask(units, &targeted_units)];
    for _ in 0..config.random_trials {
        masks.push(ablation_mask(
            units,
            &random_units(units, targeted_units.len(), &mut rng),
        ));
    }
    let mut sweep_units = Vec::new();
    for &t in &config.sweep {
        let chosen = units_above(&differences, t);
        masks.push(ablation_mask(units, &chosen));
        for _ in 0..config.sweep_trials {
            masks.push(ablation_mask(units, &random_units(units, chosen.len(), &mut rng)));
        }
        sweep_units.push(chosen.len());
    }
    let tallies = evaluate_masks(model, test, &indices, config.layer, &masks, &device, reporter)?;
    let acc: Vec<Accuracies> = tallies.iter().map(|t| t.accuracies(config.classes)).collect();
    let random = acc[2..2 + config.random_trials].to_vec();
    let targeted = acc[1];
    let at_or_below = random.iter().filter(|r| r.pair <= targeted.pair).count();
    let mut sweep = Vec::new();
    let mut k = 2 + config.random_trials;
    for (&threshold, &count) in config.sweep.iter().zip(&sweep_units) {
        let pairs: Vec<f64> = acc[k + 1..k + 1 + config.sweep_trials]
            .iter()
            .map(|a| a.pair)
            .collect();
        sweep.push(ThresholdPoint {
            threshold,
            units: count,
            targeted: acc[k],
            random_pair: mean_std(&pairs),
        });
        k += 1 + config.sweep_trials;
    }
    reporter.progress("done", 1.0);
    Ok(AblationResults {
        config: config.clone(),
        layer_name: layer.name.clone(),
        class_means,
        differences,
        small_difference_share: small as f64 / units.max(1) as f64,
        baseline: acc[0],
        targeted_units,
        targeted,
        random_at_or_below: at_or_below as f64 / random.len().max(1) as f64,
        random,
        sweep,
        images: n,
    })
}

fn evaluate_masks(
    model: &Model,
    test: &Digits,
    indices: &[usize],
    layer: usize,
    masks: &[Vec<f32>],
    device: &Device,
    reporter: &mut Reporter,
) -> Result<Vec<Tally>, StudyError> {
    let model = model.valid();
    let mut tallies = vec![Tally::default(); masks.len()];
    let chunks: Vec<&[usize]> = indices.chunks(LOGITS_BATCH).collect();
    for (c, chunk) in chunks.iter().enumerate() {
        let (x, _) = batch::batch(test, chunk, None, device);
        let hidden = model.forward_to(x, layer);
        for (m, mask) in masks.iter().enumerate() {
            reporter.check()?;
            let logits: Vec<f32> = model
                .forward_from(layer, hidden.clone().masked(mask))
                .into_data()
                .iter::<f32>()
                .collect(); // [chunk, 10]
            for (&i, row) in chunk.iter().zip(logits.chunks(NUM_CLASSES)) {
                let label = test.labels[i] as usize;
                let predicted = argmax(row);
                tallies[m].total[label] += 1;
                tallies[m].correct[label] += usize::from(predicted as usize == label);
            }
            if m % 16 == 0 {
                reporter.progress(
                    format!("ablations: batch {}/{}", c + 1, chunks.len()),
                    (c as f64 + m as f64 / masks.len() as f64) / chunks.len() as f64,
                );
            }
        }
    }
    Ok(tallies)
}
