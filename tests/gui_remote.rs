//! The remote device in the app: Test connection reports the server's device and the round
//! trip, or why it failed, without freezing the window; a run started on the remote device
//! trains there and its model drives the panels as a copy on this machine.

mod common;

use std::time::{Duration, Instant};

use common::gui::{harness, step_until, type_into};
use common::{ServeFlex, TOKEN};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use mnist_workbench::device::DeviceChoice;
use mnist_workbench::ui::WorkbenchApp;

/// The outcome the panel shows under Test connection, if any: `Ok` for "Connected: …", `Err`
/// for a failure.
fn outcome_shown(h: &Harness<'_, WorkbenchApp>) -> Option<Result<String, String>> {
    let shown = |needle: &str| {
        h.query_all_by_label_contains(needle)
            .map(|n| {
                let node = n.accesskit_node();
                node.label().or_else(|| node.value()).unwrap_or_default()
            })
            .next()
    };
    if let Some(text) = shown("Connected: ") {
        return Some(Ok(text));
    }
    ["refused", "cannot reach", "cancelled", "cannot start"]
        .iter()
        .find_map(|needle| shown(needle))
        .map(Err)
}

/// Clicks Test connection and steps until a new outcome is shown (the old one is cleared when
/// the test starts); returns it.
fn test_connection(h: &mut Harness<'_, WorkbenchApp>) -> Result<String, String> {
    h.get_by_label("Test connection").click();
    let started = Instant::now();
    h.run_steps(1);
    // The window keeps drawing while the test runs on its own thread.
    loop {
        if let Some(outcome) = outcome_shown(h) {
            return outcome;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the test never ended"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn test_connection_reports_the_remote_device_or_why_not() {
    let server = ServeFlex::start();
    let data = common::synthetic_dataset(1200, 200, 3);
    let runs = common::temp_dir("gui-remote");
    let mut h = harness(&data, &runs);
    h.run_steps(3);
    let address = server.address();
    // The device as a saved form would hold it (the form shows the address in the Server field).
    let mut form: serde_json::Value = serde_json::from_str(
        &h.state()
            .panels
            .save_settings()
            .into_iter()
            .find(|(title, _)| title == "Model & training")
            .unwrap()
            .1,
    )
    .unwrap();
    form["device"] = serde_json::to_value(DeviceChoice::Remote(address.parse().unwrap())).unwrap();
    h.state_mut()
        .panels
        .load_settings(&[("Model & training".to_string(), form.to_string())]);
    h.run_steps(2);

    // Without the token: refused, said plainly.
    let refused = test_connection(&mut h).unwrap_err();
    assert!(refused.contains("refused the token"), "{refused}");
    h.get_by_label_contains("refused the token");

    // With it: the server's device and the round trip.
    type_into(&mut h, Role::PasswordInput, "Token", TOKEN);
    let connected = test_connection(&mut h).unwrap();
    assert!(connected.starts_with("Connected: CPU (flex)"), "{connected}");
    assert!(connected.contains("round trip"), "{connected}");
    h.get_by_label_contains("Connected: CPU (flex)");

    // A run on the remote device finishes, and its model is in use here.
    type_into(&mut h, Role::TextInput, "Epochs", "1");
    h.get_by_label("Start").click();
    h.run_steps(2);
    step_until(&mut h, "the remote run", |app| {
        app.workbench
            .training
            .as_ref()
            .is_some_and(|s| s.history.phase.is_over())
    });
    let session = h.state().workbench.training.as_ref().unwrap();
    assert_eq!(
        session.history.phase,
        mnist_workbench::train::history::RunPhase::Finished(mnist_workbench::train::StopReason::EpochsDone),
        "{:?}",
        session.history.phase
    );
    assert!(h.state().workbench.model.is_some(), "the trained model is in use");

    // A server that is gone: the address is named, within seconds.
    drop(server);
    let started = Instant::now();
    let unreachable = test_connection(&mut h).unwrap_err();
    assert!(
        unreachable.contains("cannot reach the server at"),
        "{unreachable}"
    );
    assert!(unreachable.contains(&address), "{unreachable}");

    assert!(started.elapsed() < Duration::from_secs(10));
}
