//! Embeddings (PCA, t-SNE) and the cross-dataset inputs (corruptions, EMNIST folders).

use super::*;

#[test]
fn pca_finds_the_direction_of_a_line() {
    let mut points = Vec::new();
    let mut rng = Rng::new(1);
    for _ in 0..200 {
        let t = rng.normal() * 3.0;
        points.extend([t * 0.6, t * 0.8, 0.01 * rng.normal()]);
    }
    let pca = Pca::fit(&points, 3, 2);
    let a = &pca.axes[0];
    assert!(
        (a[0].abs() - 0.6).abs() < 1e-3 && (a[1].abs() - 0.8).abs() < 1e-3,
        "{a:?}"
    );
    assert!(pca.variances[0] > 1000.0 * pca.variances[1]);
}

fn clusters(n_per: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for k in 0..3 {
        for _ in 0..n_per {
            for d in 0..10 {
                let centre = if d == k { 10.0 } else { 0.0 };
                points.push(centre + rng.normal());
            }
            labels.push(k);
        }
    }
    (points, labels)
}

#[test]
fn tsne_separates_clusters_and_barnes_hut_matches_the_exact_gradient() {
    let (points, labels) = clusters(60, 2);
    let pca = Pca::fit(&points, 10, 2);
    let start: Vec<[f32; 2]> = points.chunks(10).map(|p| pca.project(p)).collect();
    let config = TsneConfig {
        perplexity: 10.0,
        iterations: 400,
        theta: 0.5,
        seed: 4,
    };
    let p = joint_probabilities(&points, 10, 10.0);
    let total: f64 = p.iter().flatten().map(|x| x.1 as f64).sum();
    assert!((total - 1.0).abs() < 1e-3, "P sums to {total}");
    let y = quiet(|rep| tsne(&points, 10, &start, &config, rep)).unwrap();
    // Every point's nearest map neighbour is in its own cluster.
    let n = y.len();
    let mut agree = 0;
    for i in 0..n {
        let j = (0..n)
            .filter(|&j| j != i)
            .min_by(|&a, &b| {
                let d = |j: usize| (y[i][0] - y[j][0]).powi(2) + (y[i][1] - y[j][1]).powi(2);
                d(a).total_cmp(&d(b))
            })
            .unwrap();
        agree += usize::from(labels[i] == labels[j]);
    }
    assert_eq!(agree, n);
    let scaled: Vec<[f32; 2]> = start.iter().map(|s| [s[0] * 1e-3, s[1] * 1e-3]).collect();
    assert!(kl_divergence(&p, &y) < 0.5 * kl_divergence(&p, &scaled));
    // θ = 0 visits every leaf: the exact gradient. θ = 0.5 stays within a few per cent.
    let mut rng = Rng::new(9);
    let layout: Vec<[f32; 2]> = (0..n).map(|_| [rng.normal() * 5.0, rng.normal() * 5.0]).collect();
    let exact = gradient(&p, &layout, 0.0, 1.0);
    let approx = gradient(&p, &layout, 0.5, 1.0);
    let norm = |g: &[[f32; 2]]| g.iter().map(|v| v[0] * v[0] + v[1] * v[1]).sum::<f32>().sqrt();
    let diff: Vec<[f32; 2]> = exact
        .iter()
        .zip(&approx)
        .map(|(a, b)| [a[0] - b[0], a[1] - b[1]])
        .collect();
    assert!(
        norm(&diff) < 0.05 * norm(&exact),
        "{} vs {}",
        norm(&diff),
        norm(&exact)
    );
    // Seeded: the same seed gives the same map.
    let again = quiet(|rep| tsne(&points, 10, &start, &config, rep)).unwrap();
    assert_eq!(y, again);
}

#[test]
fn corruptions_do_what_they_say() {
    let mut img = vec![0.0f32; IMAGE_PIXELS];
    img[14 * 28 + 14] = 1.0;
    let thick = dilate(&img);
    assert_eq!(thick.iter().filter(|&&v| v == 1.0).count(), 9);
    assert_eq!(erode(&thick).iter().filter(|&&v| v == 1.0).count(), 1); // the cross fits only at the centre
    let blurred = gaussian_blur(&img, 1.0);
    assert!((blurred.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    assert!(blurred[14 * 28 + 14] < 0.2 && blurred[14 * 28 + 15] > 0.05);
    let mut rng = Rng::new(1);
    let inverted = Corruption::Inversion.apply(&img, 0, &mut rng);
    assert_eq!(inverted[0], 1.0);
    assert_eq!(inverted[14 * 28 + 14], 0.0);
    let shifted = Corruption::Shift.apply(&img, 0, &mut rng);
    assert_eq!(shifted[16 * 28 + 16], 1.0);
    let noisy = Corruption::Noise.apply(&img, 4, &mut rng);
    assert!(noisy.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(noisy.iter().filter(|&&v| v > 0.0).count() > 100);
    for c in Corruption::ALL {
        for level in 0..c.levels().len() {
            assert_eq!(
                c.apply(&img, level, &mut rng).len(),
                IMAGE_PIXELS,
                "{c:?} {level}"
            );
        }
    }
    let bytes: Vec<u8> = (0..IMAGE_PIXELS).map(|i| (i % 251) as u8).collect();
    assert_eq!(transpose(&transpose(&bytes)), bytes);
    assert_eq!(transpose(&bytes)[1], bytes[28]);
}

#[test]
fn emnist_folders_load_transposed_and_bad_ones_are_refused() {
    use mnist_workbench::data::idx::{encode_images, encode_labels};
    let data = mnist_workbench::data::synthetic::generate(30, 5);
    let dir = common::temp_dir("emnist");
    let stored: Vec<u8> = data.pixels.chunks(IMAGE_PIXELS).flat_map(transpose).collect();
    std::fs::write(
        dir.join("emnist-digits-test-images-idx3-ubyte.gz"),
        common::gzip(&encode_images(&stored)),
    )
    .unwrap();
    std::fs::write(
        dir.join("emnist-digits-test-labels-idx1-ubyte"),
        encode_labels(&data.labels),
    )
    .unwrap();
    let (loaded, name) = load_emnist(&dir).unwrap();
    assert_eq!(name, "emnist-digits-test-images-idx3-ubyte.gz");
    assert_eq!(loaded.pixels, data.pixels);
    assert_eq!(loaded.labels, data.labels);
    // Too few labels: a message naming the file.
    std::fs::write(
        dir.join("emnist-digits-test-labels-idx1-ubyte"),
        encode_labels(&data.labels[..10]),
    )
    .unwrap();
    let err = load_emnist(&dir).unwrap_err().to_string();
    assert!(err.contains("10 labels for 30 images"), "{err}");
    // Letters are not digits: refused with what to use instead.
    let letters = common::temp_dir("emnist-letters");
    std::fs::write(
        letters.join("emnist-letters-test-images-idx3-ubyte"),
        encode_images(&stored),
    )
    .unwrap();
    let mut labels = encode_labels(&data.labels);
    labels[8] = 12; // first label: the letter l
    std::fs::write(letters.join("emnist-letters-test-labels-idx1-ubyte"), labels).unwrap();
    let err = load_emnist(&letters).unwrap_err().to_string();
    assert!(
        err.contains("label 12") && err.contains("use emnist-digits"),
        "{err}"
    );
    let empty = common::temp_dir("emnist-empty");
    assert!(
        load_emnist(&empty)
            .unwrap_err()
            .to_string()
            .contains("no IDX images file")
    );
    // The cross-dataset run includes it next to MNIST and the corruption suite.
    std::fs::write(
        dir.join("emnist-digits-test-labels-idx1-ubyte"),
        encode_labels(&data.labels),
    )
    .unwrap();
    let device = Device::flex();
    let model = ModelSpec::preset("tiny-cnn").unwrap().init(&device);
    let config = CrossDatasetConfig { images: 20, seed: 1 };
    let r = quiet(|rep| run_cross_dataset(&model, &data, Some((&loaded, "emnist")), &config, &device, rep))
        .unwrap();
    assert_eq!(r.external.as_ref().unwrap().images, 30);
    assert_eq!(r.corruptions.len(), Corruption::ALL.len());
    assert!(r.corruptions.iter().all(|c| c.accuracies.len() == c.levels.len()));
}
