//! A PyTorch model imported through the app (the import window a dropped file opens) becomes
//! the model in use, listed in Runs, and the Confusion, Feature maps and Row sweep panels work
//! on it. The checkpoint is the committed fixture written by
//! `tests/fixtures/make_pytorch_fixtures.py`.

mod common;

use std::path::Path;

use common::gui::{harness, step_until, test_image};
use egui_kittest::kittest::Queryable;
use mnist_workbench::ui::import_dialog::ImportDialog;
use mnist_workbench::ui::workbench::Action;

#[test]
fn an_imported_pytorch_model_drives_the_panels() {
    let data = common::synthetic_dataset(600, 300, 41);
    let runs = common::temp_dir("gui-import");
    let mut h = harness(&data, &runs);
    h.run_steps(3);
    let checkpoint = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch/cnn.pt");
    h.state_mut().import = Some(ImportDialog::new(checkpoint.clone()));
    h.run_steps(2);
    // A refusal stays in the window, with its reason, and writes nothing.
    h.get_by_label("Architecture").focus();
    h.get_by_label("Architecture").type_text("-not-an-arch");
    h.run_steps(1);
    h.get_by_label("Import").click();
    h.run_steps(2);
    assert!(h.state().import.as_ref().unwrap().error.is_some());
    assert_eq!(std::fs::read_dir(&runs).map_or(0, |d| d.count()), 0);
    // A refusal from the import job itself (the CNN's tensors are not an MLP's) reaches the
    // window the same way, and writes nothing either.
    h.state_mut().import.as_mut().unwrap().arch = "mlp".into();
    h.state_mut().import.as_mut().unwrap().error = None;
    h.run_steps(1);
    h.get_by_label("Import").click();
    step_until(&mut h, "the refused import", |app| {
        !app.workbench.is_importing() && app.import.as_ref().is_some_and(|d| d.error.is_some())
    });
    assert_eq!(std::fs::read_dir(&runs).map_or(0, |d| d.count()), 0);
    h.state_mut().import.as_mut().unwrap().arch = "auto".into();
    h.run_steps(1);
    h.get_by_label("Import").click();
    // The import runs on its job; the window closes once it is written and opened (and
    // step_until fails if it never does).
    step_until(&mut h, "the window to close after the import", |app| {
        app.import.is_none()
    });
    let wb = &h.state().workbench;
    let model = wb.model.as_ref().expect("the imported model is in use");
    assert_eq!(model.spec.arch_string(), "cnn:8,16:k3:bn:dense16");
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 1, "one run folder");

    // Confusion: the test set is evaluated with the imported model.
    h.get_by_label("Confusion").click();
    step_until(&mut h, "the evaluation", |app| {
        app.workbench.inspect.evaluation.is_some()
    });
    assert_eq!(
        h.state()
            .workbench
            .inspect
            .evaluation
            .as_ref()
            .unwrap()
            .labels
            .len(),
        data.test.len()
    );
    // Feature maps of its 8 + 16 channels.
    h.get_by_label("Feature maps").click();
    h.run_steps(3);
    h.get_by_label_contains("conv1: 8 channels of 14×14");
    h.get_by_label_contains("conv2: 16 channels of 7×7");
    // Row sweep of the pad's image.
    let image = test_image(&data, 3);
    h.state_mut().workbench.act(Action::ShowInPad {
        pixels: image.clone(),
        caption: "test #3".into(),
    });
    h.run_steps(2);
    h.get_by_label("Probes").click();
    h.run_steps(2);
    h.get_by_label("Row sweep").click();
    step_until(&mut h, "the row sweep", |app| {
        app.workbench
            .studies
            .latest::<mnist_workbench::study::row_sweep::RowSweep>()
            .is_some_and(|s| s.results.image.pixels == image)
    });
    h.get_by_label("Row sweep 2,5");
}
