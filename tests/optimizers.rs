//! Optimisers as data: configs written before optimisers carried their own settings still load
//! (and an Adam run of that time resumes from its `optimizer.bpk`), RMSprop's first steps
//! match PyTorch's formula worked by hand, RMSprop trains a small MLP, and `train --optimizer
//! rmsprop` works from the command line with its settings saved and resumed.

use std::path::Path;

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use egui_kittest::kittest::Queryable;
use mnist_workbench::model::ModelSpec;
use mnist_workbench::train::optim::optimizer;
use mnist_workbench::train::{
    Control, Event, OPTIMIZERS, OptimizerSpec, Schedule, StopReason, Subset, TrainConfig,
};

mod common;

/// `config.json` exactly as the workbench wrote it before optimisers carried their own
/// settings (`train --synthetic --synthetic-size 200 --model mlp --hidden 2 --optimizer sgd
/// --momentum 0.5 --per-digit 5 --seed 3 --device flex`): the optimiser a bare name, SGD's
/// momentum a field of its own.
const OLD_SGD_CONFIG: &str = r#"{
  "version": "0.1.0",
  "created": "2026-12-03T12:10:19Z",
  "train": {
    "model": {
      "family": "mlp",
      "hidden": [
        2
      ],
      "dropout": 0.0
    },
    "optimizer": "sgd",
    "learning_rate": 0.001,
    "momentum": 0.5,
    "weight_decay": 0.0,
    "schedule": {
      "kind": "cosine"
    },
    "batch_size": 64,
    "epochs": 1,
    "target_train_accuracy": null,
    "time_budget_secs": null,
    "augment": false,
    "subset": {
      "kind": "per_digit",
      "k": 5
    },
    "seed": 3,
    "device": "flex",
    "evaluate_each_epoch": true
  },
  "data_source": {
    "kind": "synthetic",
    "reason": "chosen with --synthetic",
    "train_size": 200,
    "seed": 2024
  },
  "train_digest": "76914eab79ca12dc0eb0f45ebcba9132e688c109873f3e4aeb607c2bbd0012da",
  "test_digest": "1c02365e3fb2fd57f7fdec45919e42b93cc24ce64f0296ca0075dc1395586a68"
}"#;

/// The `train` part of a `config.json`'s text.
fn train_config(json: &str) -> TrainConfig {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    serde_json::from_value(value["train"].clone()).expect("the training config loads")
}

#[test]
fn a_config_written_before_optimiser_settings_loads_and_trains() {
    let config = train_config(OLD_SGD_CONFIG);
    let sgd = OptimizerSpec::Sgd {
        momentum: 0.5,
        nesterov: false,
    };
    assert_eq!(config.optimizer, sgd, "the old momentum field is SGD's momentum");
    // Adam and AdamW files: the same text with another name; the momentum field is not theirs.
    for (name, spec) in [("adam", OptimizerSpec::ADAM), ("adamw", OptimizerSpec::ADAMW)] {
        let text = OLD_SGD_CONFIG.replace("\"optimizer\": \"sgd\"", &format!("\"optimizer\": \"{name}\""));
        assert_eq!(train_config(&text).optimizer, spec, "{name}");
    }
    // Saved again, it is written the new way and reads back the same.
    let saved = serde_json::to_value(&config).unwrap();
    assert_eq!(saved["optimizer"]["kind"], "sgd", "{saved}");
    assert_eq!(saved["optimizer"]["momentum"], 0.5, "{saved}");
    assert!(saved.get("momentum").is_none(), "{saved}");
    assert_eq!(serde_json::from_value::<TrainConfig>(saved).unwrap(), config);

    let data = common::synthetic_dataset(200, 40, 4);
    let (events, model) = common::collect(common::flex_job(config, data), &Control::default());
    assert!(model.is_some());
    assert!(
        matches!(
            events.last(),
            Some(Event::Finished {
                reason: StopReason::EpochsDone,
                ..
            })
        ),
        "{:?}",
        events.last()
    );
}

/// The losses of a run folder's `steps.csv`, in step order.
fn step_losses(run: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(run.join("steps.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect()
}

/// The one run folder in `runs`.
fn only_run(runs: &Path) -> std::path::PathBuf {
    let mut folders: Vec<_> = std::fs::read_dir(runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    folders.pop().unwrap()
}

#[test]
fn an_adam_run_of_before_resumes_from_its_optimizer_state() {
    // tests/fixtures/old_adam_run: `config.json`, `checkpoint.json`, `model.bpk` and
    // `optimizer.bpk` as the workbench wrote them before this change (`train --synthetic
    // --synthetic-size 200 --model mlp --hidden 2 --optimizer adam --per-digit 5 --seed 3
    // --device flex`).
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/old_adam_run");
    let run = common::temp_dir("old-adam-run");
    for file in ["config.json", "checkpoint.json", "model.bpk", "optimizer.bpk"] {
        std::fs::copy(fixture.join(file), run.join(file)).unwrap();
    }
    let resume = |run: &Path| {
        let runs = common::temp_dir("old-adam-resumed");
        let (ok, out, err) = common::cli(
            &[
                "train",
                "--resume",
                run.to_str().unwrap(),
                "--synthetic",
                "--synthetic-size",
                "200",
                "--epochs",
                "2",
                "--device",
                "flex",
                "--runs",
                runs.to_str().unwrap(),
            ],
            &[],
            &[],
        );
        assert!(ok, "{out}\n{err}");
        only_run(&runs)
    };
    let resumed = resume(&run);
    let text = std::fs::read_to_string(resumed.join("config.json")).unwrap();
    let train = &serde_json::from_str::<serde_json::Value>(&text).unwrap()["train"];
    assert_eq!(
        train["optimizer"],
        serde_json::to_value(OptimizerSpec::ADAM).unwrap(),
        "{train}"
    );
    // The same losses as the workbench of before resuming the same folder (its steps.csv:
    // 2.3288703, then 2.2934427): the second comes after a step from the loaded moments.
    let losses = step_losses(&resumed);
    assert_eq!(losses.len(), 2, "{losses:?}");
    for (loss, before) in losses.iter().zip([2.3288703, 2.2934427]) {
        assert!((loss - before).abs() < 1e-5, "{losses:?}");
    }
}

/// One tensor of parameters, so a step can be followed by hand.
#[derive(Module, Debug)]
struct Weights {
    w: Param<Tensor<1>>,
}

/// `w` after one step per gradient in `grads` of the optimiser `spec` with weight decay
/// `weight_decay` at learning rate 0.01, from `w = start`. The loss `Σ w·g` has gradient `g`.
fn steps(spec: OptimizerSpec, weight_decay: f64, start: [f32; 3], grads: &[[f32; 3]]) -> Vec<f32> {
    let device = Device::flex().autodiff();
    let config = TrainConfig {
        optimizer: spec,
        weight_decay,
        ..TrainConfig::default()
    };
    let mut optim = optimizer(&config);
    let mut module = Weights {
        w: Param::from_tensor(Tensor::from_floats(start, &device).require_grad()),
    };
    for g in grads {
        let loss = (module.w.val() * Tensor::from_floats(*g, &device)).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &module);
        module = optim.step(0.01, module, grads);
    }
    module.w.val().into_data().iter::<f32>().collect()
}

fn assert_close(got: &[f32], want: &[f64], what: &str) {
    for (g, w) in got.iter().zip(want) {
        assert!((*g as f64 - w).abs() < 1e-6, "{what}: {got:?} against {want:?}");
    }
}

#[test]
fn rmsprops_steps_match_pytorchs_formula_by_hand() {
    // PyTorch's RMSprop (torch.optim.RMSprop, the algorithm in its documentation), with
    // s₀ = 0, b₀ = 0, ḡ₀ = 0 and lr 0.01:
    //   g ← g + λ·w;  s ← α·s + (1−α)·g²;  (centred: ḡ ← α·ḡ + (1−α)·g, s̃ = s − ḡ², else s̃ = s)
    //   momentum m > 0: b ← m·b + g/(√s̃ + ε), w ← w − lr·b;  else w ← w − lr·g/(√s̃ + ε).
    let start = [1.0f32, -2.0, 0.5];
    let g1 = [0.1f32, -0.4, 2.0];
    let g2 = [0.3f32, 0.2, -1.0];
    // Defaults (α 0.99, ε 1e-8): the first step is lr·g/(√0.01·|g|) = 0.1·sign(g) (ε shifts
    // it by under 1e-6), whatever the gradient's size.
    let first = steps(OptimizerSpec::RMSPROP, 0.0, start, &[g1]);
    assert_close(&first, &[0.9, -1.9, 0.4], "first step, defaults");
    // Second step: s = 0.99·0.01·g1² + 0.01·g2², w ← w − 0.01·g2/(√s + ε).
    let by_hand = |i: usize| {
        let (w1, a, b) = (first[i] as f64, g1[i] as f64, g2[i] as f64);
        let s = 0.99 * 0.01 * a * a + 0.01 * b * b;
        w1 - 0.01 * b / (s.sqrt() + 1e-8)
    };
    let second = steps(OptimizerSpec::RMSPROP, 0.0, start, &[g1, g2]);
    assert_close(
        &second,
        &[by_hand(0), by_hand(1), by_hand(2)],
        "second step, defaults",
    );
    // Centred with momentum 0.9: s̃ = 0.01·g² − (0.01·g)² = 0.0099·g², so the first step is
    // 0.01·sign(g)/√0.0099 = 0.100504 (the buffer starts at that step: nothing to carry).
    let centred = OptimizerSpec::RmsProp {
        alpha: 0.99,
        eps: 1e-8,
        momentum: 0.9,
        centered: true,
    };
    let step = 0.01 / 0.0099f64.sqrt();
    let first = steps(centred, 0.0, start, &[g1]);
    assert_close(
        &first,
        &[1.0 - step, -2.0 + step, 0.5 - step],
        "first step, centred",
    );
    // Weight decay λ = 0.5 is added to the gradient: from w = [1, 2, 0.5] the gradient
    // [0.1, -0.4, 2] becomes [0.6, 0.6, 2.25], so the second weight falls by 0.1 where it would
    // rise by 0.1 without decay.
    let decayed = steps(OptimizerSpec::RMSPROP, 0.5, [1.0, 2.0, 0.5], &[g1]);
    assert_close(&decayed, &[0.9, 1.9, 0.4], "first step, weight decay");
}

#[test]
fn rmsprop_trains_a_small_mlp_on_synthetic_digits() {
    let data = common::synthetic_dataset(300, 50, 8);
    let config = TrainConfig {
        model: ModelSpec::Mlp {
            hidden: vec![32],
            dropout: 0.0,
        },
        optimizer: OptimizerSpec::RMSPROP,
        learning_rate: 1e-3,
        schedule: Schedule::Constant,
        subset: Subset::PerDigit { k: 10 },
        batch_size: 60_000,
        epochs: 15,
        evaluate_each_epoch: false,
        seed: 5,
        ..TrainConfig::default()
    };
    let (events, _) = common::collect(common::flex_job(config, data), &Control::default());
    let losses: Vec<f64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Step { loss, .. } => Some(*loss),
            _ => None,
        })
        .collect();
    assert_eq!(losses.len(), 15, "one full batch per epoch");
    let (first, last) = (losses[0], losses[14]);
    assert!(last < 0.5 * first, "the loss falls: {losses:?}");
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
}

#[test]
fn train_with_rmsprop_from_the_command_line_saves_and_resumes_its_settings() {
    let runs = common::temp_dir("rmsprop-cli");
    let base = [
        "train",
        "--synthetic",
        "--synthetic-size",
        "300",
        "--device",
        "flex",
    ];
    let with = |extra: &[&str], runs: &Path| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--runs", runs.to_str().unwrap()]);
        common::cli(&args, &[], &[])
    };
    let (ok, out, err) = with(
        &[
            "--model",
            "mlp",
            "--hidden",
            "16",
            "--optimizer",
            "rmsprop",
            "--momentum",
            "0.5",
            "--opt",
            "centered=true",
            "--opt",
            "alpha=0.9",
        ],
        &runs,
    );
    assert!(ok, "{out}\n{err}");
    let run = only_run(&runs);
    let want = OptimizerSpec::RmsProp {
        alpha: 0.9,
        eps: 1e-8,
        momentum: 0.5,
        centered: true,
    };
    let saved = |run: &Path| {
        let text = std::fs::read_to_string(run.join("config.json")).unwrap();
        train_config(&text).optimizer
    };
    assert_eq!(saved(&run), want);
    // Resumed: its own settings and its saved state; `--opt` changes one of them.
    let resumed_runs = common::temp_dir("rmsprop-cli-resumed");
    let (ok, out, err) = with(
        &["--resume", run.to_str().unwrap(), "--opt", "eps=1e-6"],
        &resumed_runs,
    );
    assert!(ok, "{out}\n{err}");
    let OptimizerSpec::RmsProp { eps, .. } = saved(&only_run(&resumed_runs)) else {
        panic!("still RMSprop")
    };
    assert_eq!(eps, 1e-6);
    // Settings the optimiser does not have, or values out of range, are refused by name.
    let (ok, _, err) = with(&["--optimizer", "rmsprop", "--opt", "beta_1=0.5"], &runs);
    assert!(!ok && err.contains("rmsprop has no setting 'beta_1'"), "{err}");
    let (ok, _, err) = with(&["--optimizer", "rmsprop", "--opt", "alpha=1"], &runs);
    assert!(!ok && err.contains("alpha must be in [0, 1)"), "{err}");
    // The help lists every optimiser from the one list.
    let (ok, help, err) = common::cli(&["train", "--help"], &[], &[]);
    assert!(ok, "{err}");
    for o in OPTIMIZERS {
        assert!(
            help.contains(o.name) && help.contains(o.about),
            "{}:\n{help}",
            o.name
        );
    }
}

#[test]
fn the_training_panel_offers_every_optimiser_with_its_own_settings() {
    let data = common::synthetic_dataset(200, 50, 1);
    let mut h = common::gui::harness(&data, &common::temp_dir("gui-optimizers"));
    h.run_steps(3);
    h.get_by_label("Optimizer").click();
    h.run_steps(2);
    for o in OPTIMIZERS {
        assert!(
            h.query_all_by_label(o.label).next().is_some(),
            "{} listed",
            o.label
        );
    }
    h.get_by_label("RMSprop").click();
    h.run_steps(2);
    h.get_by_label("Centered").click();
    h.run_steps(2);
    let config = h.state().workbench.form_config.clone().unwrap();
    assert_eq!(
        config.optimizer,
        OptimizerSpec::RmsProp {
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            centered: true
        }
    );
    // A value out of range names its field, and Start says why it is disabled.
    common::gui::type_into(&mut h, egui::accesskit::Role::TextInput, "α (smoothing)", "1.5");
    h.get_by_label_contains("Start is disabled: alpha must be in [0, 1)");
}
