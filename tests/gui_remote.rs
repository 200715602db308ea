//! The remote device in the app: Test connection reports the server's device and the round
//! trip, or why it failed, without freezing the window; a run started on the remote device
//! trains there and its model drives the panels as a copy on this machine.

mod common;

use std::time::{Duration, Instant};

use common::gui::{harness, step_until, type_into};
use common::{ServeFlex, TOKEN};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use mnist_workbench::device::DeviceChoice;
use mnist_workbench::ui::WorkbenchApp;

/// Clicks Test connection and steps until its outcome is shown; returns the outcome.
fn test_connection(h: &mut Harness<'_, WorkbenchApp>) -> Result<String, String> {
    h.get_by_label("Test connection").click();
    let started = Instant::now();
    h.run_steps(1);
    // The window keeps drawing while the test runs on its own thread.
    while h.state().panels.training().remote.is_testing() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the test never ended"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(2);
    h.state()
        .panels
        .training()
        .remote
        .result
        .clone()
        .expect("an outcome")
}

#[test]
fn test_connection_reports_the_remote_device_or_why_not() {
    let server = ServeFlex::start();
    let data = common::synthetic_dataset(1200, 200, 3);
    let runs = common::temp_dir("gui-remote");
    let mut h = harness(&data, &runs);
    h.run_steps(3);
    let address = server.address();
    h.state_mut()
        .panels
        .training_mut()
        .set_device(DeviceChoice::Remote(address.parse().unwrap()));
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
