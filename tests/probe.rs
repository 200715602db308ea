//! Probes on models and images whose answers are known: a hand-set linear model whose
//! margin depends on one row, a hand-set MLP for ablation, clusters for t-SNE, and a model
//! trained on real MNIST for seed S1's finding.

mod common;
#[path = "probe/embedding.rs"]
mod embedding;

use std::sync::Arc;

use burn::tensor::Device;
use mnist_workbench::data::{Digits, IMAGE_PIXELS, IMAGE_SIDE};
use mnist_workbench::model::plain::PlainWeights;
use mnist_workbench::model::{Model, ModelSpec};
use mnist_workbench::study::ablation::{AblationConfig, run_ablation};
use mnist_workbench::data::corrupt::{Corruption, dilate, erode, gaussian_blur};
use mnist_workbench::data::emnist::{load_emnist, transpose};
use mnist_workbench::study::cross_dataset::{CrossDatasetConfig, run_cross_dataset};
use mnist_workbench::analysis::pca::Pca;
use mnist_workbench::study::embed::{EmbedConfig, run_embedding};
use mnist_workbench::data::drawings::DrawnDigits;
use mnist_workbench::analysis::rows::{Bar, MarginClasses, bar_sweep, erase_sweep};
use mnist_workbench::study::batch_sweep::{BatchSweepConfig, batch_sweep};
use mnist_workbench::study::saliency::{SaliencyConfig, saliency};
use mnist_workbench::analysis::tsne::{TsneConfig, gradient, joint_probabilities, kl_divergence, tsne};
use mnist_workbench::jobs::Reporter;
use mnist_workbench::model::mlp::linear_model;
use mnist_workbench::rng::Rng;

fn quiet<T>(f: impl FnOnce(&mut Reporter) -> T) -> T {
    let mut sink = |_| {};
    let never = || false;
    f(&mut Reporter::new(&mut sink, &never))
}

/// Logit 7 = Σ intensities of row 5, logit 1 = 5 (bias): the margin 7 − 1 is row 5's ink
/// minus 5, so erasing any range that holds row 5 turns a 7 into a 1.
fn row5_model(device: &Device) -> Model {
    let mut w = [[0.0f32; IMAGE_PIXELS]; 10];
    for c in 0..IMAGE_SIDE {
        w[7][5 * IMAGE_SIDE + c] = 1.0;
    }
    let mut b = [-100.0f32; 10];
    b[7] = 0.0;
    b[1] = 5.0;
    linear_model(&w, &b, device)
}

fn image_with_rows(rows: std::ops::Range<usize>, value: f32) -> Vec<f32> {
    let mut img = vec![0.0; IMAGE_PIXELS];
    for r in rows {
        img[r * IMAGE_SIDE..(r + 1) * IMAGE_SIDE].fill(value);
    }
    img
}

#[test]
fn erase_sweep_of_a_one_row_model_finds_that_row() {
    let device = Device::flex();
    let model = row5_model(&device);
    let image = image_with_rows(3..9, 0.5); // row 5 holds 28 × 0.5 = 14 of ink
    let sweep = erase_sweep(&model, &image, MarginClasses::default(), None, &device);
    assert!(
        (sweep.original_margin - 9.0).abs() < 1e-3,
        "{}",
        sweep.original_margin
    );
    assert_eq!(sweep.original_prediction, 7);
    for a in 0..28 {
        for b in a..28 {
            let holds_row5 = a <= 5 && 5 <= b;
            let want = if holds_row5 { -5.0 } else { 9.0 };
            let got = sweep.margin(a, b).unwrap();
            assert!((got - want).abs() < 1e-3, "({a},{b}): {got} vs {want}");
            assert_eq!(sweep.flips(a, b), holds_row5, "({a},{b})");
            assert_eq!(sweep.prediction(a, b), Some(if holds_row5 { 1 } else { 7 }));
        }
    }
    assert!(sweep.margin(5, 4).is_none());
    assert_eq!(sweep.smallest_flip(), Some((5, 5)));
    assert_eq!(sweep.most_crucial_row().0, 5);
    // Ranges starting in the top half hold row 5 for short lengths: the top matters more.
    assert!(sweep.top_minus_bottom(3) < 0.0);
}

#[test]
fn bar_sweep_flips_only_where_the_bar_covers_the_counted_row() {
    let device = Device::flex();
    let model = row5_model(&device);
    // A "1": a vertical stroke in column 14, rows 4-23; row 5 holds 1 of ink: margin −4.
    let mut one = vec![0.0; IMAGE_PIXELS];
    for r in 4..24 {
        one[r * IMAGE_SIDE + 14] = 1.0;
    }
    let bar = Bar::for_image(&one, 2);
    assert_eq!((bar.left, bar.right, bar.thickness), (6, 15, 2));
    let classes = MarginClasses { target: 1, rival: 7 };
    let sweep = bar_sweep(&model, &one, classes, bar, None, &device);
    assert_eq!(sweep.original_prediction, 1);
    assert_eq!(sweep.margins.len(), 27);
    for (row, (&m, &p)) in sweep.margins.iter().zip(&sweep.predictions).enumerate() {
        let covers = row == 4 || row == 5; // the bar is rows row..row+1
        // Painted, row 5 holds 10 columns of ink: logit 7 = 10, margin 1 − 7 = 5 − 10.
        let want = if covers { -5.0 } else { 4.0 };
        assert!((m - want).abs() < 1e-3, "row {row}: {m}");
        assert_eq!(p, if covers { 7 } else { 1 });
    }
}

#[test]
fn saliency_of_a_linear_model_is_its_weights() {
    let device = Device::flex();
    let mut w = [[0.0f32; IMAGE_PIXELS]; 10];
    let mut rng = Rng::new(3);
    for row in w.iter_mut() {
        for v in row.iter_mut() {
            *v = rng.uniform(-1.0, 1.0);
        }
    }
    let model = linear_model(&w, &[0.5; 10], &device);
    let image: Vec<f32> = (0..IMAGE_PIXELS).map(|_| rng.next_f32()).collect();
    let config = SaliencyConfig {
        class: 3,
        ..Default::default()
    };
    let maps = saliency(&model, &image, &config, &device).unwrap();
    for p in 0..IMAGE_PIXELS {
        assert!((maps.gradient[p] - w[3][p]).abs() < 1e-3, "gradient at {p}");
        assert!((maps.gradient_x_input[p] - w[3][p] * image[p]).abs() < 1e-3);
        // Linear: the gradient is the same all along the path, so IG = w · v.
        assert!((maps.integrated[p] - w[3][p] * image[p]).abs() < 1e-3);
    }
    let total: f32 = maps.integrated.iter().sum();
    assert!(
        (total - maps.blank_gap).abs() < 1e-2,
        "completeness: {total} vs {}",
        maps.blank_gap
    );
    for r in 0..IMAGE_SIDE {
        let want: f32 = (0..IMAGE_SIDE)
            .map(|c| w[3][r * IMAGE_SIDE + c] * image[r * IMAGE_SIDE + c])
            .sum();
        assert!((maps.row_occlusion[r] - want).abs() < 1e-3, "row {r}");
    }
    // A pixel in the top-left corner is covered by one 4×4 patch only (stride 2): its value
    // is that patch's drop, the sum of w · v over rows 0-3, columns 0-3.
    let corner: f32 = (0..4)
        .flat_map(|r| (0..4).map(move |c| r * IMAGE_SIDE + c))
        .map(|p| w[3][p] * image[p])
        .sum();
    assert!((maps.occlusion[0] - corner).abs() < 1e-3);
    // A trained CNN goes through the same code (BatchNorm in eval mode, autodiff input).
    let cnn = ModelSpec::preset("tiny-cnn").unwrap().init(&device);
    let maps = saliency(&cnn, &image, &config, &device).unwrap();
    assert!(maps.gradient.iter().all(|g| g.is_finite()));
    assert!(maps.gradient.iter().any(|g| *g != 0.0));
    let total: f32 = maps.integrated.iter().sum();
    assert!(
        (total - maps.blank_gap).abs() < 0.1 * maps.blank_gap.abs().max(0.1),
        "{total} vs {}",
        maps.blank_gap
    );
}

/// A hand-set MLP 784 → 3 → 10: unit 0 sums the top half, unit 1 the bottom half, unit 2
/// is constant; logit 7 reads unit 0, logit 1 reads unit 1.
fn halves_model(device: &Device) -> Model {
    let std = mnist_workbench::data::MNIST_STD;
    let mean = mnist_workbench::data::MNIST_MEAN;
    let mut w1 = vec![0.0f32; IMAGE_PIXELS * 3];
    let mut b1 = vec![0.0f32; 3];
    for p in 0..IMAGE_PIXELS {
        let unit = if p < IMAGE_PIXELS / 2 { 0 } else { 1 };
        w1[p * 3 + unit] = 0.1 * std; // units read intensities: 0.1 per pixel of ink
        b1[unit] += 0.1 * mean;
    }
    b1[2] = 1.0;
    let mut w2 = vec![0.0f32; 3 * 10];
    w2[7] = 1.0; // unit 0 → logit 7
    w2[10 + 1] = 1.0; // unit 1 → logit 1
    let spec = ModelSpec::Mlp {
        hidden: vec![3],
        dropout: 0.0,
    };
    let plain = PlainWeights {
        params: vec![w1, b1, w2, vec![0.0; 10]],
        running: vec![],
    };
    Model::from_plain(&spec, &plain, device).unwrap()
}

fn halves_data() -> Digits {
    let mut d = Digits::default();
    for k in 0..40 {
        let (label, rows) = if k % 2 == 0 { (7, 2..8) } else { (1, 18..26) };
        d.pixels.extend(
            image_with_rows(rows, 0.5)
                .iter()
                .map(|v| (v * 255.0).round() as u8),
        );
        d.labels.push(label);
    }
    d
}

#[test]
fn ablation_of_a_hand_set_mlp_finds_the_units_that_tell_the_classes_apart() {
    let device = Device::flex();
    let model = halves_model(&device);
    let data = halves_data();
    let config = AblationConfig {
        layer: 0,
        classes: [1, 7],
        threshold: 0.3,
        random_trials: 30,
        sweep: vec![0.1, 5.0],
        sweep_trials: 5,
        ..Default::default()
    };
    let r = quiet(|rep| run_ablation(&model, &data, &config, &device, rep)).unwrap();
    assert_eq!(r.layer_name, "fc1");
    // A 1 has 8 rows × 28 × 0.5 (+ rounding) of ink in the bottom half: unit 1 ≈ 11.2.
    let ink = 8.0 * 28.0 * (128.0 / 255.0) * 0.1;
    let ink7 = 6.0 * 28.0 * (128.0 / 255.0) * 0.1;
    assert!((r.class_means[0][1] - ink).abs() < 1e-3, "{:?}", r.class_means);
    assert!((r.class_means[1][0] - ink7).abs() < 1e-3);
    assert!((r.class_means[0][2] - 1.0).abs() < 1e-4 && r.differences[2].abs() < 1e-4);
    assert_eq!(r.targeted_units, vec![0, 1]);
    assert!((r.small_difference_share - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(r.baseline.pair, 1.0);
    assert_eq!(r.baseline.overall, 1.0);
    // Both logits are zero then: argmax picks class 0, neither 1 nor 7.
    assert_eq!(r.targeted.pair, 0.0);
    assert_eq!(r.random.len(), 30);
    // The share is what its definition says: random ablations doing at most as well.
    let at_or_below = r.random.iter().filter(|a| a.pair <= r.targeted.pair).count();
    assert_eq!(r.random_at_or_below, at_or_below as f64 / r.random.len() as f64);
    assert_eq!(r.sweep.len(), 2);
    assert_eq!(r.sweep[1].units, 2); // 11.2 and 8.4 exceed 5
    assert_eq!(r.sweep[0].units, 2);
    // Out of range settings get a message.
    let bad = AblationConfig {
        layer: 3,
        ..config.clone()
    };
    assert!(
        quiet(|rep| run_ablation(&model, &data, &bad, &device, rep))
            .unwrap_err()
            .to_string()
            .contains("layer 3")
    );
    let same = AblationConfig {
        classes: [4, 4],
        ..config
    };
    assert!(quiet(|rep| run_ablation(&model, &data, &same, &device, rep)).is_err());
}

#[test]
fn drawn_digits_keep_an_accuracy_and_save_as_an_mnist_folder() {
    let mut drawn = DrawnDigits::default();
    assert_eq!(drawn.accuracy(), None);
    drawn.add(&image_with_rows(3..6, 1.0), 7, 7);
    drawn.add(&image_with_rows(10..20, 0.5), 1, 7);
    drawn.add(&image_with_rows(4..5, 1.0), 7, 7);
    assert!((drawn.accuracy().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(drawn.per_class()[7], (2, 2));
    assert_eq!(drawn.per_class()[1], (0, 1));
    let dir = common::temp_dir("drawn");
    drawn.save(&dir, true).unwrap();
    let (train, test) = mnist_workbench::data::load_split_from_folder(&dir).unwrap();
    assert_eq!(train.labels, vec![7, 1, 7]);
    assert_eq!(test.pixels, drawn.to_digits().pixels);
    assert_eq!(DrawnDigits::load(&dir).unwrap().digits.len(), 3);
    drawn.undo();
    assert_eq!(drawn.digits.len(), 2);
    assert!(DrawnDigits::default().save(&dir, true).is_err());
    // Syncing a set that is not empty writes it; an emptied set removes its four files and
    // leaves the user's other files alone.
    drawn.sync_to(&dir).unwrap();
    assert_eq!(DrawnDigits::load(&dir).unwrap().digits.len(), 2);
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    DrawnDigits::default().sync_to(&dir).unwrap();
    for name in mnist_workbench::data::sources::MNIST_FILES {
        assert!(!dir.join(name).exists(), "{name} left behind");
    }
    assert!(dir.join("notes.txt").exists());
}

#[test]
fn synthetic_probes_run_end_to_end() {
    let data = common::synthetic_dataset(1200, 200, 3);
    let device = Device::flex();
    // A trained model (seeded), so the batch sweep finds correctly predicted 7s and 1s.
    let config = mnist_workbench::train::TrainConfig {
        model: ModelSpec::preset("tiny-cnn").unwrap(),
        epochs: 2,
        evaluate_each_epoch: false,
        ..Default::default()
    };
    let (_, model) = common::collect(common::flex_job(config, data.clone()), &Default::default());
    let model = model.expect("trained");
    let config = EmbedConfig {
        points: 120,
        tsne: true,
        tsne_config: TsneConfig {
            perplexity: 10.0,
            iterations: 100,
            ..Default::default()
        },
    };
    let e = quiet(|rep| run_embedding(&model, &data.test, &config, &device, rep)).unwrap();
    assert_eq!((e.dim, e.indices.len(), e.pca_points.len()), (32, 120, 120));
    let tsne = e.tsne_points.as_ref().unwrap();
    assert!(tsne.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
    let first = &e.vectors[..e.dim];
    let near = e.nearest(first, 8);
    assert_eq!(near.len(), 8);
    assert_eq!(near[0], (0, 0.0));
    assert!(near.windows(2).all(|w| w[0].1 <= w[1].1));
    assert!(e.place_on_tsne(&near).is_some());
    let batch = BatchSweepConfig {
        per_class: 3,
        ..Default::default()
    };
    let flex = [mnist_workbench::device::flex()];
    let b = quiet(|rep| batch_sweep(&model, &data.test, &batch, &flex, rep)).unwrap();
    // Up to 3 correctly predicted images of each class, rows erased or a bar painted.
    assert!(!b.erased.is_empty() && !b.painted.is_empty(), "{b:?}");
    assert!(b.erased.len() <= 3 && b.painted.len() <= 3);
    // Cancel stops a long probe with Cancelled.
    let mut sink = |_| {};
    let always = || true;
    let err = batch_sweep(
        &model,
        &data.test,
        &batch,
        &flex,
        &mut Reporter::new(&mut sink, &always),
    );
    assert!(
        matches!(err, Err(mnist_workbench::study::StudyError::Cancelled)),
        "{:?}",
        err.map(|_| "finished")
    );
}

#[test]
#[ignore = "needs real MNIST: mnist-workbench data download, then MNIST_DIR=<folder> cargo test --release -- --include-ignored"]
fn on_real_mnist_erasing_the_top_of_a_7_moves_it_toward_1() {
    use mnist_workbench::analysis::rows::EraseSweep;
    use mnist_workbench::train::TrainConfig;
    let dir = common::mnist_dir();
    let (train, test) = mnist_workbench::data::load_split_from_folder(&dir).unwrap();
    let data = Arc::new(mnist_workbench::data::Dataset {
        train,
        test,
        source: mnist_workbench::data::DataSource::Folder { path: dir },
    });
    let config = TrainConfig {
        model: ModelSpec::preset("mlp").unwrap(),
        epochs: 1,
        ..TrainConfig::default()
    };
    let (_, model) = common::collect(common::flex_job(config, data.clone()), &Default::default());
    let model = model.expect("trained");
    let device = Device::flex();
    // Seed S1: removing the upper rows of a 7 moves it toward 1. Over 30 test 7s, erasing
    // 6-row ranges in the top half lowers the 7−1 margin more than in the bottom half.
    let sevens: Vec<usize> = (0..data.test.len())
        .filter(|&i| data.test.labels[i] == 7)
        .take(30)
        .collect();
    let mut top_minus_bottom = 0.0;
    let mut toward_one = 0;
    for &i in &sevens {
        let img = data.test.intensities(i);
        let s: EraseSweep = erase_sweep(&model, &img, MarginClasses::default(), None, &device);
        top_minus_bottom += s.top_minus_bottom(6) / sevens.len() as f32;
        toward_one += usize::from(s.margin(0, 9).unwrap() < s.original_margin);
    }
    eprintln!("mlp, 30 test 7s: top − bottom {top_minus_bottom:.3}, {toward_one}/30 toward 1");
    assert!(top_minus_bottom < 0.0, "top − bottom = {top_minus_bottom}");
    assert!(
        toward_one >= 25,
        "{toward_one}/30 sevens moved toward 1 with rows 0-9 erased"
    );
    // Ablating the units that tell 1 from 7 hurts those classes more than random units do.
    let config = AblationConfig {
        layer: 0,
        random_trials: 40,
        sweep_trials: 5,
        ..Default::default()
    };
    let r = quiet(|rep| run_ablation(&model, &data.test, &config, &device, rep)).unwrap();
    let mean_random = r.random.iter().map(|a| a.pair).sum::<f64>() / r.random.len() as f64;
    eprintln!(
        "ablation fc1 1 vs 7: {} units, pair accuracy {:.3} targeted vs {mean_random:.3} random (baseline {:.3})",
        r.targeted_units.len(),
        r.targeted.pair,
        r.baseline.pair
    );
    assert!(!r.targeted_units.is_empty());
    assert!(
        r.targeted.pair < mean_random,
        "targeted {} vs random {mean_random}",
        r.targeted.pair
    );
}

#[test]
fn dropout_passes_are_seeded_and_change_nothing_without_dropout() {
    use mnist_workbench::model::mc::McDropout;
    let device = Device::flex();
    let image = image_with_rows(4..10, 0.8);
    let mc = Some(McDropout { passes: 8, seed: 3 });
    // No dropout in the model: the averaged passes are the eval-mode logits.
    let linear = row5_model(&device);
    let plain = erase_sweep(&linear, &image, MarginClasses::default(), None, &device);
    let passes = erase_sweep(&linear, &image, MarginClasses::default(), mc, &device);
    for (a, b) in plain
        .margins
        .iter()
        .zip(&passes.margins)
        .filter(|(a, _)| a.is_finite())
    {
        assert!((a - b).abs() < 1e-4);
    }
    // With dropout (small-cnn, p = 0.3): the same seed gives the same margins, another seed
    // other margins, and both stay near the eval-mode ones.
    let cnn = ModelSpec::preset("small-cnn").unwrap().init(&device);
    let eval = erase_sweep(&cnn, &image, MarginClasses::default(), None, &device);
    let once = erase_sweep(&cnn, &image, MarginClasses::default(), mc, &device);
    let again = erase_sweep(&cnn, &image, MarginClasses::default(), mc, &device);
    let other = erase_sweep(
        &cnn,
        &image,
        MarginClasses::default(),
        Some(McDropout { passes: 8, seed: 4 }),
        &device,
    );
    let defined = |s: &mnist_workbench::analysis::rows::EraseSweep| -> Vec<f32> {
        s.margins.iter().copied().filter(|m| m.is_finite()).collect()
    };
    assert_eq!(defined(&once).len(), 406);
    assert_eq!(defined(&once), defined(&again));
    assert_ne!(defined(&once), defined(&other));
    assert_ne!(defined(&once), defined(&eval));
}
