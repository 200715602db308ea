//! The experiment panels driven through the UI with egui_kittest (flex, synthetic digits, no
//! dialogs): an ensemble runs from its Run button and saves its folder; a saved ensemble
//! reopens and clicking a model shows exactly its 2-per-digit training images; a stability
//! test runs on the open model and the pad's dropout distribution appears.

mod common;

use common::gui::{harness, step_until};

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use egui_kittest::kittest::Queryable;
use mnist_workbench::data::Dataset;
use mnist_workbench::study::ensemble::{EnsembleConfig, EnsembleResults};
use mnist_workbench::study::ensemble::run_ensemble;
use mnist_workbench::jobs::{Progress, Reporter};
use mnist_workbench::model::ModelSpec;
use mnist_workbench::run::new_results_dir;
use mnist_workbench::run::{RunConfig, RunDir};
use mnist_workbench::study::ensemble::Ensemble;
use mnist_workbench::study::stability::Stability;
use mnist_workbench::train::{Control, TrainConfig, run_training};

fn tiny_ensemble(models: usize) -> EnsembleConfig {
    EnsembleConfig {
        model: ModelSpec::preset("tiny-cnn").unwrap(),
        models,
        max_steps: 40,
        ..EnsembleConfig::default()
    }
}

/// Opens the Ensemble panel with its settings set to `models` tiny-cnn models, as the panel
/// stores them.
fn open_ensemble_panel(h: &mut egui_kittest::Harness<'_, mnist_workbench::ui::WorkbenchApp>, models: usize) {
    h.run_steps(3);
    let settings = serde_json::json!({"config": tiny_ensemble(models), "preset": "tiny-cnn"}).to_string();
    h.state_mut()
        .panels
        .load_settings(&[("Ensemble".to_string(), settings)]);
    h.get_by_label("Experiments").click();
    h.run_steps(2);
    h.get_by_label("Ensemble").click();
    h.run_steps(2);
}

/// Synthetic data and a runs folder holding one saved ensemble and one small-cnn run.
fn fixture() -> &'static (Arc<Dataset>, PathBuf, PathBuf) {
    static FIXTURE: OnceLock<(Arc<Dataset>, PathBuf, PathBuf)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let data = common::synthetic_dataset(1200, 300, 31);
        let root = common::temp_dir("gui-experiments");
        let mut sink = |_: Progress| {};
        let never = || false;
        let results = run_ensemble(
            &tiny_ensemble(6),
            &data,
            &mnist_workbench::device::flex(),
            &mut Reporter::new(&mut sink, &never),
        )
        .unwrap();
        let dir = new_results_dir(&root, "ensemble-tiny-cnn-6x2");
        results.save(&dir).unwrap();
        let config = TrainConfig {
            model: ModelSpec::preset("small-cnn").unwrap(),
            epochs: 1,
            device: mnist_workbench::device::DeviceChoice::Flex,
            ..TrainConfig::default()
        };
        let run = RunDir::create(&root, &RunConfig::for_dataset(config.clone(), &data)).unwrap();
        let mut job = common::flex_job(config, data.clone());
        job.run_dir = Some(run);
        run_training(job, &Control::default(), &mut |_| {});
        (data, root, dir)
    })
}

#[test]
fn clicking_a_model_shows_exactly_its_training_images() {
    let (data, root, dir) = fixture();
    let mut h = harness(data, root);
    h.run_steps(3);
    h.get_by_label("Experiments").click();
    h.run_steps(2);
    h.get_by_label("Ensemble").click();
    h.run_steps(2);
    h.get_by_label("Open saved…").click();
    h.run_steps(2);
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    h.get_by_label(&name).click();
    h.run_steps(3);
    let saved = EnsembleResults::load(dir).unwrap();
    assert!(h.state().workbench.studies.latest::<Ensemble>().is_some());
    h.get_by_label_contains(&format!(
        "6 × tiny-cnn on 2 per digit: test accuracy {:.1} %",
        100.0 * saved.stats.summary.mean_accuracy
    ));
    // Click model 3 on the model-model heatmap's diagonal.
    h.get_by_label("model correlation 3,3").click();
    h.run_steps(3);
    let member = &saved.members[3];
    h.get_by_label_contains(&format!(
        "Model #3: {:.1} % on the test set after {} steps",
        100.0 * member.test_accuracy,
        member.steps
    ));
    assert_eq!(member.train_indices.len(), 20);
    for &i in &member.train_indices {
        h.get_by_label(&format!("training image #{i}"));
    }
    // Exactly these: no other model's images are listed as training images.
    let shown = h.query_all_by_label_contains("training image #").count();
    assert_eq!(shown, 20);
    // Two of every digit.
    let mut per_digit = [0; 10];
    for &i in &member.train_indices {
        per_digit[data.train.labels[i] as usize] += 1;
    }
    assert_eq!(per_digit, [2; 10]);
    // One of them loads into the pad.
    let first = member.train_indices[0];
    h.get_by_label(&format!("training image #{first}")).click();
    h.run_steps(3);
    let expected: Vec<f32> = data
        .train
        .image(first)
        .iter()
        .map(|&p| p as f32 / 255.0)
        .collect();
    assert_eq!(h.state().workbench.pad.pixels(), expected.as_slice());
}

#[test]
fn an_ensemble_runs_from_the_run_button_and_saves_its_folder() {
    let (data, root, _) = fixture();
    let mut h = harness(data, root);
    // Settings as the panel stores them: four tiny-cnn models.
    open_ensemble_panel(&mut h, 4);
    h.get_by_label("Run ensemble").click();
    h.run_steps(2);
    assert!(
        h.state().workbench.studies.any_running(),
        "the run started"
    );
    step_until(&mut h, "the ensemble", |app| {
        !app.workbench.studies.any_running()
            && app
                .workbench
                .studies
                .latest::<Ensemble>()
                .is_some_and(|l| l.results.members.len() == 4)
    });
    let loaded = h.state().workbench.studies.latest::<Ensemble>().unwrap();
    let dir = loaded.dir.clone().expect("saved");
    assert!(dir.starts_with(root));
    assert_eq!(EnsembleResults::load(&dir).unwrap(), *loaded.results);
    h.get_by_label_contains("4 × tiny-cnn on 2 per digit");
}

#[test]
fn a_stability_test_runs_on_the_open_model_and_the_pad_gets_its_distribution() {
    let (data, root, _) = fixture();
    let mut h = harness(data, root);
    step_until(&mut h, "the run to open", |app| app.workbench.model.is_some());
    h.get_by_label("Experiments").click();
    h.run_steps(2);
    h.get_by_label("Stability").click();
    h.run_steps(3);
    // The 100 passes run on a thread of their own; the window keeps drawing meanwhile.
    step_until(&mut h, "the pad's dropout votes", |app| {
        app.workbench.pad_votes.latest.is_some()
    });
    h.get_by_label_contains("Drawing pad image, 100 dropout passes");
    h.get_by_label("Run stability test").click();
    step_until(&mut h, "the stability test", |app| {
        !app.workbench.studies.any_running() && app.workbench.studies.latest::<Stability>().is_some()
    });
    let loaded = h.state().workbench.studies.latest::<Stability>().unwrap();
    // One pass per training epoch, at least two (the run trained for one).
    assert_eq!(loaded.results.accuracies.len(), 2);
    let run_dir = loaded.dir.clone().expect("saved in the run folder");
    assert!(run_dir.join("stability.json").is_file());
    h.get_by_label_contains(&format!(
        "2 passes with dropout 0.30: {:.2} %",
        100.0 * loaded.results.mean_accuracy
    ));
}

#[test]
fn an_ensemble_spreads_over_the_devices_typed_into_also_on() {
    let (data, root, _) = fixture();
    let server = common::ServeFlex::start();
    // The app's token field, as a user fills it; the study's thread presents it to the server.
    mnist_workbench::remote::set_token(Some(common::TOKEN.to_string()));
    let mut h = harness(data, root);
    // Twelve tiny-cnn models: two groups of ten and two, one for each device.
    open_ensemble_panel(&mut h, 12);
    // The settings are folded when saved results are open.
    if h.query_by_label("Also on").is_none() {
        h.get_by_label("Settings").click();
        h.run_steps(2);
    }
    // A list that does not parse is shown with its error and not used.
    common::gui::type_into(&mut h, egui::accesskit::Role::TextInput, "Also on", "remote://nowhere");
    h.get_by_label_contains("expected remote://HOST:PORT");
    assert!(h.state().workbench.more_devices.is_empty());
    common::gui::type_into(&mut h, egui::accesskit::Role::TextInput, "Also on", &server.address());
    assert_eq!(
        h.state().workbench.more_devices,
        vec![server.address().parse().unwrap()],
        "the field sets the workbench's list"
    );
    h.get_by_label("Run ensemble").click();
    h.run_steps(2);
    step_until(&mut h, "the spread ensemble", |app| {
        !app.workbench.studies.any_running()
            && app
                .workbench
                .studies
                .latest::<Ensemble>()
                .is_some_and(|l| l.results.members.len() == 12)
    });
    let loaded = h.state().workbench.studies.latest::<Ensemble>().unwrap();
    let devices: Vec<&str> = loaded.results.devices.iter().map(|d| d.device.as_str()).collect();
    assert_eq!(devices.len(), 2, "{devices:?}");
    assert_eq!(devices[0], "CPU (flex)");
    assert!(devices[1].contains(&server.port.to_string()), "{devices:?}");
    let groups: usize = loaded.results.devices.iter().map(|d| d.items).sum();
    assert_eq!(groups, 2, "two groups of models, each run once");
    assert_eq!(loaded.results.placements.len(), 2);
    // The models are those of a run on one device: same steps, same test accuracy.
    let mut sink = |_: Progress| {};
    let never = || false;
    let alone = run_ensemble(&tiny_ensemble(12), data, &mnist_workbench::device::flex(), &mut Reporter::new(&mut sink, &never)).unwrap();
    let remote = loaded.results.placements.iter().find(|p| p.device != "CPU (flex)").unwrap();
    let on_server = remote.models..remote.models + remote.count;
    for (i, (a, b)) in alone.members.iter().zip(&loaded.results.members).enumerate() {
        assert_eq!(a.seed, b.seed);
        if on_server.contains(&i) {
            // Trained on the server (burn's standard ops there, the fused kernels here).
            assert!((a.test_accuracy - b.test_accuracy).abs() <= 0.05, "model {i}: {a:?} {b:?}");
        } else {
            assert_eq!((a.steps, a.test_accuracy), (b.steps, b.test_accuracy), "model {i} trained here: the very same");
        }
    }
    mnist_workbench::remote::set_token(None);
}

/// A cancelled ensemble keeps its finished groups in its folder; the panel's Resume trains
/// only the missing ones there, and the models equal an uninterrupted run's.
#[test]
fn a_cancelled_ensemble_resumes_from_the_panel_with_what_it_finished() {
    let (data, root, _) = fixture();
    let mut h = harness(data, root);
    // Thirty tiny-cnn models: three groups of ten, trained one after the other on flex.
    open_ensemble_panel(&mut h, 30);
    h.get_by_label("Run ensemble").click();
    h.run_steps(2);
    let lane = mnist_workbench::study::Lane::Experiment;
    let out = h.state().workbench.studies.slot(lane).key().and_then(|r| r.out.clone()).expect("a results folder");
    let first_group = out.join("ensemble-groups").join("models-0.json");
    step_until(&mut h, "the first group to be kept", |_| first_group.is_file());
    h.get_by_label("Cancel").click();
    step_until(&mut h, "the cancel", |app| !app.workbench.studies.any_running());
    assert!(h.state().workbench.studies.latest::<Ensemble>().is_none_or(|l| l.dir.as_ref() != Some(&out)));
    let request = h.state().workbench.studies.resume_request("ensemble").expect("a Resume for the stopped run");
    assert_eq!(request.resume.as_ref(), Some(&out));
    h.get_by_label("Resume").click();
    h.run_steps(2);
    step_until(&mut h, "the resumed ensemble", |app| {
        !app.workbench.studies.any_running()
            && app.workbench.studies.latest::<Ensemble>().is_some_and(|l| l.results.members.len() == 30)
    });
    let resumed = h.state().workbench.studies.latest::<Ensemble>().unwrap();
    assert_eq!(resumed.dir.as_ref(), Some(&out), "continued in the same folder");
    let trained: usize = resumed.results.devices.iter().map(|d| d.items).sum();
    assert!((1..3).contains(&trained), "only the missing groups trained again: {trained} of 3");
    assert!(h.state().workbench.studies.resume_request("ensemble").is_none());
    let mut sink = |_: Progress| {};
    let never = || false;
    let whole = run_ensemble(&tiny_ensemble(30), data, &mnist_workbench::device::flex(), &mut Reporter::new(&mut sink, &never))
        .unwrap();
    assert_eq!(resumed.results.members, whole.members);
    assert_eq!(resumed.results.correctness, whole.correctness);
}
