//! Reproducibility on flex. burn seeds a process-wide generator, so this test lives alone in
//! its own test binary: no other test may draw random numbers while it runs.

mod common;

use common::{collect, flex_job as job};

use mnist_workbench::model::ModelSpec;
use mnist_workbench::train::{Control, Event, TrainConfig};

fn quick_config() -> TrainConfig {
    TrainConfig {
        learning_rate: 2e-3,
        batch_size: 32,
        seed: 3,
        ..TrainConfig::default()
    }
}

#[test]
fn same_seed_gives_the_same_losses_on_flex() {
    let data = common::synthetic_dataset(256, 20, 2);
    let config = TrainConfig {
        model: ModelSpec::preset("small-cnn").unwrap(), // batch norm and dropout included
        epochs: 1,
        batch_size: 64,
        augment: true,
        evaluate_each_epoch: false,
        ..quick_config()
    };
    let losses = |config: TrainConfig| -> Vec<f64> {
        collect(job(config, data.clone()), &Control::default())
            .0
            .into_iter()
            .filter_map(|e| {
                if let Event::Step { loss, .. } = e {
                    Some(loss)
                } else {
                    None
                }
            })
            .collect()
    };
    let a = losses(config.clone());
    let b = losses(config.clone());
    assert_eq!(a.len(), 4);
    assert_eq!(a, b, "same seed, different losses");
    let c = losses(TrainConfig { seed: 99, ..config });
    assert_ne!(a, c);
}
