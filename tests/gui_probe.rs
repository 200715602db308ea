//! The probe panels driven through the UI with egui_kittest: a row-sweep heatmap cell loads
//! that edit into the pad (and the heatmap stays), saliency follows the pad, the embedding's
//! neighbours load into the pad, ablation runs from its button, and drawn digits are labelled
//! and kept. A tiny-cnn is trained once on synthetic digits (flex); no dialog opens.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use common::gui::{harness, step_until, test_image};
use egui_kittest::kittest::{NodeT, Queryable};
use mnist_workbench::data::Dataset;
use mnist_workbench::analysis::rows::{MarginClasses, erase_rows, erase_sweep};
use mnist_workbench::study::ablation::Ablation;
use mnist_workbench::study::embed::Embed;
use mnist_workbench::study::row_sweep::RowSweep;
use mnist_workbench::study::saliency::Saliency;
use mnist_workbench::ui::workbench::Action;

fn fixture() -> &'static (Arc<Dataset>, PathBuf) {
    static FIXTURE: OnceLock<(Arc<Dataset>, PathBuf)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let data = common::synthetic_dataset(1500, 400, 31);
        let root = common::temp_dir("gui-probe");
        common::gui::trained_run(&root, &data, "tiny-cnn");
        (data, root)
    })
}

fn first_of(data: &Dataset, digit: u8) -> usize {
    (0..data.test.len())
        .find(|&i| data.test.labels[i] == digit)
        .unwrap()
}

#[test]
fn a_row_sweep_cell_loads_that_edit_into_the_pad() {
    let (data, root) = fixture();
    let mut h = harness(data, root);
    h.run_steps(3);
    let seven = first_of(data, 7);
    let image = test_image(data, seven);
    h.state_mut().workbench.act(Action::ShowInPad {
        pixels: image.clone(),
        caption: "a 7".into(),
    });
    h.run_steps(2);
    h.get_by_label("Probes").click();
    h.run_steps(2);
    h.get_by_label("Row sweep").click();
    // The panel follows the pad: the sweep of the 7 arrives without a click.
    step_until(&mut h, "the row sweep", |app| {
        app.workbench
            .studies
            .latest::<RowSweep>()
            .is_some_and(|s| s.results.image.pixels == image)
    });
    let shown = h.state().workbench.studies.latest::<RowSweep>().unwrap().results;
    // The panel shows what the engine computes for the same model and image.
    let wb = &h.state().workbench;
    let m = wb.model.as_ref().unwrap();
    let direct = erase_sweep(&m.model, &image, MarginClasses::default(), None, &m.device);
    for (a, b) in [(0, 0), (2, 5), (10, 27)] {
        let (x, y) = (shown.erase.margin(a, b).unwrap(), direct.margin(a, b).unwrap());
        assert!((x - y).abs() < 1e-4, "({a},{b}): {x} vs {y}");
    }
    h.get_by_label("Row sweep 2,5").click();
    h.run_steps(4);
    assert_eq!(
        h.state().workbench.pad.pixels(),
        erase_rows(&image, (2, 5)).as_slice()
    );
    // The heatmap stays the 7's: loading an edit from it does not sweep the edit.
    for _ in 0..10 {
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        h.state().workbench.studies.latest::<RowSweep>().unwrap().results.image.pixels,
        image
    );
    // Another cell replaces the pad image with that edit of the original.
    h.get_by_label("Row sweep 0,9").click();
    h.run_steps(4);
    assert_eq!(
        h.state().workbench.pad.pixels(),
        erase_rows(&image, (0, 9)).as_slice()
    );
}

#[test]
fn saliency_follows_the_pad_and_the_embedding_neighbours_load_into_it() {
    let (data, root) = fixture();
    let mut h = harness(data, root);
    h.run_steps(3);
    let three = test_image(data, first_of(data, 3));
    h.state_mut().workbench.act(Action::ShowInPad {
        pixels: three.clone(),
        caption: "a 3".into(),
    });
    h.run_steps(2);
    h.get_by_label("Probes").click();
    h.run_steps(2);
    h.get_by_label("Saliency").click();
    step_until(&mut h, "saliency maps", |app| {
        app.workbench
            .studies
            .latest::<Saliency>()
            .is_some_and(|s| s.results.image.pixels == three)
    });
    let maps = h.state().workbench.studies.latest::<Saliency>().unwrap().results.maps.clone();
    let total: f32 = maps.integrated.iter().sum();
    assert!(
        (total - maps.blank_gap).abs() < 0.15 * maps.blank_gap.abs().max(0.5),
        "{total} vs {}",
        maps.blank_gap
    );
    h.get_by_label("Embedding").click();
    h.run_steps(2);
    h.get_by_label("Embed test images").click();
    step_until(&mut h, "the embedding", |app| {
        app.workbench.studies.latest::<Embed>().is_some()
    });
    h.run_steps(3);
    let e = h.state().workbench.studies.latest::<Embed>().unwrap().results;
    assert_eq!(e.indices.len(), data.test.len().min(5000));
    assert!(e.tsne_points.is_some());
    let neighbours: Vec<usize> = h
        .query_all_by_label_contains("test image #")
        .map(|n| {
            let label = n.accesskit_node().label().unwrap_or_default();
            label.trim_start_matches("test image #").parse().unwrap()
        })
        .collect();
    assert_eq!(neighbours.len(), 8, "the pad's 8 nearest test images");
    // The pad image is test image `first_of(3)`, so it is its own nearest neighbour.
    assert_eq!(neighbours[0], first_of(data, 3));
    let pick = neighbours[3];
    h.get_by_label(&format!("test image #{pick}")).click();
    h.run_steps(3);
    assert_eq!(
        h.state().workbench.pad.pixels(),
        test_image(data, pick).as_slice()
    );
}

#[test]
fn ablation_runs_from_its_panel_and_drawn_digits_are_kept() {
    let (data, root) = fixture();
    let runs = common::temp_dir("gui-probe-runs");
    // A copy of the runs folder, so the drawn digits land in a folder of this test's own.
    for entry in std::fs::read_dir(root).unwrap() {
        let from = entry.unwrap().path();
        let to = runs.join(from.file_name().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(&from).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    let mut h = harness(data, &runs);
    h.run_steps(3);
    h.get_by_label("Probes").click();
    h.run_steps(2);
    h.get_by_label("Ablation").click();
    h.run_steps(2);
    h.get_by_label("Run ablation").click();
    step_until(&mut h, "the ablation", |app| {
        app.workbench.studies.latest::<Ablation>().is_some()
    });
    let r = h.state().workbench.studies.latest::<Ablation>().unwrap().results;
    assert_eq!(r.layer_name, "fc", "a CNN's dense layer is the default");
    assert_eq!(r.random.len(), 100);
    assert!(
        h.query_by_label_contains("of random ablations do as badly")
            .is_some()
    );
    // Label the pad's drawing as the prediction: it is kept on disk, Undo removes it.
    let one = test_image(data, first_of(data, 1));
    h.state_mut().workbench.act(Action::ShowInPad {
        pixels: one,
        caption: "a 1".into(),
    });
    h.run_steps(3);
    let predicted = {
        let l = h.state().workbench.pad_logits().unwrap();
        (0..10).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap()
    };
    h.get_by_label(&format!("Yes, a {predicted}")).click();
    h.run_steps(2);
    assert_eq!(h.state().workbench.drawings.drawn.digits.len(), 1);
    assert_eq!(h.state().workbench.drawings.drawn.accuracy(), Some(1.0));
    let (train, _) = mnist_workbench::data::load_split_from_folder(&runs.join("drawn-digits")).unwrap();
    assert_eq!(train.labels, vec![predicted as u8]);
    // A wrong prediction: "it is a 4" labels it 4 and the accuracy drops to a half.
    let wrong = if predicted == 4 { 5 } else { 4 };
    h.get_by_label(&format!("it is a {wrong}")).click();
    h.run_steps(2);
    assert_eq!(h.state().workbench.drawings.drawn.accuracy(), Some(0.5));
    assert!(
        h.query_by_label_contains("the model was right on 1 (50 %)")
            .is_some()
    );
    // Evaluate measures the current model on both drawings (one image labelled two ways:
    // right once, wrong once).
    h.get_by_label("Evaluate").click();
    // The evaluation is the `feedback` study, on the probe lane.
    step_until(&mut h, "the drawn digits' evaluation", |app| {
        app.workbench
            .studies
            .latest::<mnist_workbench::study::feedback::Feedback>()
            .is_some()
    });
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("model: 50.0 % of 2").is_some(),
        "the drawn digits' evaluation is shown"
    );
    h.get_by_label("Forget last").click();
    h.run_steps(2);
    h.get_by_label("Forget last").click();
    h.run_steps(2);
    assert!(h.state().workbench.drawings.drawn.digits.is_empty());
    assert!(!runs.join("drawn-digits").join("train-labels-idx1-ubyte").exists());
}

#[test]
fn probe_panel_settings_survive_a_restart() {
    use mnist_workbench::ui::panels::Panels;
    let custom = vec![
        (
            "Row sweep".to_string(),
            r#"{"classes":{"target":3,"rival":8},"bar_thickness":3,"follow_pad":false,"use_mc":true,"mc_passes":10,"batch_per_class":50}"#.to_string(),
        ),
        (
            "Saliency".to_string(),
            r#"{"class":4,"follow_pad":false,"ig_steps":16,"patch":6}"#.to_string(),
        ),
    ];
    let mut panels = Panels::new();
    panels.load_settings(&custom);
    let saved = panels.save_settings();
    for (title, json) in &custom {
        let got = saved.iter().find(|(t, _)| t == title).map(|(_, j)| j);
        assert_eq!(got, Some(json), "{title}");
    }
    for title in ["Ablation", "Embedding", "Cross-dataset"] {
        assert!(
            saved.iter().any(|(t, _)| t == title),
            "{title} keeps its settings"
        );
    }
    let saliency = |panels: &Panels| -> serde_json::Value {
        let json = panels
            .save_settings()
            .into_iter()
            .find(|(t, _)| t == "Saliency")
            .unwrap()
            .1;
        serde_json::from_str(&json).unwrap()
    };
    // Nonsense is ignored, not half-applied.
    let mut fresh = Panels::new();
    fresh.load_settings(&[("Saliency".to_string(), "[99, true".to_string())]);
    assert_eq!(saliency(&fresh), saliency(&Panels::new()));
    // A settings file that lacks a field (written before it existed) keeps the rest.
    let mut older = Panels::new();
    older.load_settings(&[("Saliency".to_string(), r#"{"ig_steps":8}"#.to_string())]);
    let s = saliency(&older);
    assert_eq!(s["ig_steps"], 8);
    assert_eq!(s["patch"], saliency(&Panels::new())["patch"]);
}
