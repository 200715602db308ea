//! Damaged experiment and probe results files: refused naming the file, nothing replaced.

use super::*;

/// A results folder of each kind, written by the experiments themselves on synthetic digits.
fn results_folders() -> (PathBuf, PathBuf, PathBuf) {
    use mnist_workbench::jobs::Reporter;
    use mnist_workbench::study::ensemble::EnsembleConfig;
    use mnist_workbench::study::ensemble::run_ensemble;
    use mnist_workbench::study::stability::{StabilityConfig, run_stability};
    use mnist_workbench::study::subset_curve::{SubsetCurveConfig, run_subset_curve};
    use mnist_workbench::model::ModelSpec;
    let data = common::synthetic_dataset(200, 40, 31);
    let device = mnist_workbench::device::flex();
    let mut sink = |_| {};
    let never = || false;
    let ensemble = common::temp_dir("bad-results-ensemble");
    let config = EnsembleConfig {
        model: ModelSpec::preset("tiny-cnn").unwrap(),
        models: 2,
        max_steps: 3,
        ..EnsembleConfig::default()
    };
    run_ensemble(&config, &data, &device, &mut Reporter::new(&mut sink, &never))
        .unwrap()
        .save(&ensemble)
        .unwrap();
    let curve = common::temp_dir("bad-results-curve");
    let mut curve_config = SubsetCurveConfig {
        fractions: vec![0.5],
        ..SubsetCurveConfig::default()
    };
    curve_config.train.model = ModelSpec::preset("tiny-cnn").unwrap();
    curve_config.train.evaluate_each_epoch = false;
    run_subset_curve(
        &curve_config,
        &data,
        std::slice::from_ref(&device),
        Some(&curve),
        &mut Reporter::new(&mut sink, &never),
    )
    .unwrap();
    let stability = common::temp_dir("bad-results-stability");
    let (_, model) = common::collect(
        common::flex_job(
            mnist_workbench::train::TrainConfig {
                model: ModelSpec::preset("small-cnn").unwrap(),
                evaluate_each_epoch: false,
                ..Default::default()
            },
            data.clone(),
        ),
        &Default::default(),
    );
    run_stability(
        &StabilityConfig { passes: 2, seed: 1 },
        &model.unwrap(),
        &data,
        std::slice::from_ref(&device),
        &mut Reporter::new(&mut sink, &never),
    )
    .unwrap()
    .save(&stability)
    .unwrap();
    (ensemble, curve, stability)
}

#[test]
fn damaged_results_files_are_refused_naming_the_file() {
    use mnist_workbench::study::ensemble::EnsembleResults;
    use mnist_workbench::study::stability::StabilityResults;
    use mnist_workbench::study::subset_curve::SubsetCurveResults;
    let (ensemble, curve, stability) = results_folders();
    EnsembleResults::load(&ensemble).expect("the intact folder loads");
    type Load = fn(&Path) -> Result<(), String>;
    let load_ensemble: Load = |d| EnsembleResults::load(d).map(|_| ()).map_err(|e| e.to_string());
    let load_curve: Load = |d| SubsetCurveResults::load(d).map(|_| ()).map_err(|e| e.to_string());
    let load_stability: Load = |d| StabilityResults::load(d).map(|_| ()).map_err(|e| e.to_string());
    type Damage = Box<dyn Fn(&[u8]) -> Vec<u8>>;
    let replace = |from: &'static str, to: &'static str| -> Damage {
        Box::new(move |b: &[u8]| {
            let text = String::from_utf8(b.to_vec()).unwrap();
            assert!(text.contains(from), "{from}");
            text.replacen(from, to, 1).into_bytes()
        })
    };
    let cases: Vec<(&str, &Path, &str, Damage, Load, &str)> = vec![
        (
            "ensemble.json not JSON",
            &ensemble,
            "ensemble.json",
            Box::new(|_| b"{{".to_vec()),
            load_ensemble,
            "ensemble.json",
        ),
        (
            "ensemble.json of another kind",
            &ensemble,
            "ensemble.json",
            replace("\"kind\": \"ensemble\"", "\"kind\": \"stability\""),
            load_ensemble,
            "ensemble.json",
        ),
        (
            "ensemble.json a label 12",
            &ensemble,
            "ensemble.json",
            replace("\"test_labels\": [\n", "\"test_labels\": [\n 12,"),
            load_ensemble,
            "correctness.bin",
        ),
        (
            "ensemble.json a group that ran for negative seconds",
            &ensemble,
            "ensemble.json",
            replace("\"device\": \"CPU (flex)\",\n      \"seconds\": ", "\"device\": \"CPU (flex)\",\n      \"seconds\": -"),
            load_ensemble,
            "placements[0].seconds",
        ),
        (
            "correctness.bin truncated",
            &ensemble,
            "correctness.bin",
            Box::new(|b| b[..b.len() - 3].to_vec()),
            load_ensemble,
            "correctness.bin",
        ),
        (
            "correctness.bin wrong magic",
            &ensemble,
            "correctness.bin",
            Box::new(|b| {
                let mut v = b.to_vec();
                v[0] = b'X';
                v
            }),
            load_ensemble,
            "correctness.bin",
        ),
        (
            "correctness.bin from a newer format",
            &ensemble,
            "correctness.bin",
            Box::new(|b| {
                let mut v = b.to_vec();
                v[4] = 9;
                v
            }),
            load_ensemble,
            "correctness.bin",
        ),
        (
            "correctness.bin empty",
            &ensemble,
            "correctness.bin",
            Box::new(|_| Vec::new()),
            load_ensemble,
            "correctness.bin",
        ),
        (
            "subset_curve.json not JSON",
            &curve,
            "subset_curve.json",
            Box::new(|b| b[..b.len() / 2].to_vec()),
            load_curve,
            "subset_curve.json",
        ),
        (
            "subset_curve.json of another kind",
            &curve,
            "subset_curve.json",
            replace("\"kind\": \"subset-curve\"", "\"kind\": \"ensemble\""),
            load_curve,
            "subset_curve.json",
        ),
        (
            "stability.json not JSON",
            &stability,
            "stability.json",
            Box::new(|_| b"[]".to_vec()),
            load_stability,
            "stability.json",
        ),
        (
            "stability.json image index outside the test set",
            &stability,
            "stability.json",
            replace("\"index\": ", "\"index\": 99999"),
            load_stability,
            "stability.json",
        ),
        (
            "stability.json a batch that ran for negative seconds",
            &stability,
            "stability.json",
            replace("\"seconds\": ", "\"seconds\": -"),
            load_stability,
            "batches[0].seconds",
        ),
    ];
    for (name, folder, file, damage, load, needle) in cases {
        let copy = common::temp_dir("bad-results-copy");
        copy_dir(folder, &copy);
        let path = copy.join(file);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, damage(&bytes)).unwrap();
        let before = snapshot(&copy);
        let err = load(&copy).expect_err(name);
        assert!(err.contains(needle), "{name}: {err}");
        assert_eq!(snapshot(&copy), before, "{name}: the folder changed");
    }
}
