//! Engine tests on real MNIST (`MNIST_DIR`): ignored by default, run with
//! `-- --include-ignored` (as `.ci/run` does), and failing when MNIST_DIR is missing.

mod common;

use std::sync::Arc;

use mnist_workbench::data::{DataSource, Dataset, load_split_from_folder};
use mnist_workbench::model::ModelSpec;
use mnist_workbench::train::{Control, Event, TrainConfig, run_training};

fn real() -> Arc<Dataset> {
    let dir = common::mnist_dir();
    let (train, test) = load_split_from_folder(&dir).expect("MNIST_DIR holds intact MNIST");
    Arc::new(Dataset {
        train,
        test,
        source: DataSource::EnvVar { path: dir },
    })
}

#[test]
#[ignore = "needs real MNIST: mnist-workbench data download, then MNIST_DIR=<folder> cargo test --release -- --include-ignored"]
fn real_mnist_loads_with_the_documented_counts() {
    let data = real();
    // Counts from shared/data/mnist/README.md.
    assert_eq!(
        data.train.label_counts(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        data.test.label_counts(),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
}

#[test]
#[ignore = "needs real MNIST: mnist-workbench data download, then MNIST_DIR=<folder> cargo test --release -- --include-ignored"]
fn mlp_reaches_96_percent_after_one_epoch() {
    let data = real();
    let config = TrainConfig {
        model: ModelSpec::preset("mlp").unwrap(),
        batch_size: 32,
        epochs: 1,
        seed: 1,
        ..TrainConfig::default()
    };
    let job = common::flex_job(config, data);
    let mut last = None;
    run_training(job, &Control::default(), &mut |e| last = Some(e));
    let Some(Event::Finished {
        test_accuracy: Some(acc),
        ..
    }) = last
    else {
        panic!("{last:?}")
    };
    assert!(acc >= 0.96, "MLP after one epoch: {acc}");
}
