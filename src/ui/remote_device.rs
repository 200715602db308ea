//! The remote part of the Device choice (Model & training): the server's address, its token
//! (kept in memory only, never saved) and Test connection, which connects on a thread of its
//! own and shows the remote device's name and the round-trip time, or why it failed. The window
//! never waits for the network.

use std::sync::Arc;

use crate::device::DeviceChoice;
use crate::jobs::{self, JobError, Outcome};
use crate::remote::{DEFAULT_PORT, RemoteAddress, connect, set_token};
use crate::ui::job_slot::JobSlot;

/// State of the remote device fields.
pub struct RemoteDeviceUi {
    /// The address as typed.
    pub address: String,
    /// The token as typed.
    pub token: String,
    testing: JobSlot<(), String, ()>,
    /// The last test's outcome: the device and round trip, or the reason.
    pub result: Option<Result<String, String>>,
}

impl Default for RemoteDeviceUi {
    fn default() -> Self {
        Self {
            address: format!("remote://127.0.0.1:{DEFAULT_PORT}"),
            token: String::new(),
            testing: JobSlot::default(),
            result: None,
        }
    }
}

impl RemoteDeviceUi {
    /// The choice this address makes, when it parses.
    pub fn choice(&self) -> Result<DeviceChoice, String> {
        self.address.parse::<RemoteAddress>().map(DeviceChoice::Remote)
    }

    /// Whether a test is running.
    pub fn is_testing(&self) -> bool {
        self.testing.is_running()
    }

    /// Starts a connection test on its own thread.
    pub fn start_test(&mut self) {
        let address = match self.address.parse::<RemoteAddress>() {
            Ok(a) => a,
            Err(e) => {
                self.result = Some(Err(e));
                return;
            }
        };
        let token = (!self.token.trim().is_empty()).then(|| self.token.trim().to_string());
        // The panel repaints while a test runs, so the job needs no wake of its own.
        let spawned = jobs::spawn("mnist-remote-test", Arc::new(|| {}), move |_| {
            connect(&address, token.as_deref())
                .map(|c| {
                    format!(
                        "Connected: {}\nround trip {:.1} ms",
                        c.server_device,
                        c.round_trip.as_secs_f64() * 1000.0
                    )
                })
                .map_err(|e| JobError::Failed(e.to_string()))
        });
        match spawned {
            Ok(job) => {
                self.testing.start(job, ());
                self.result = None;
            }
            Err(e) => self.result = Some(Err(format!("cannot start the test: {e}"))),
        }
    }

    /// Takes a finished test's outcome.
    pub fn poll(&mut self) {
        if let Some(((), outcome)) = self.testing.poll() {
            self.result = Some(match outcome {
                Outcome::Finished(text) => Ok(text),
                Outcome::Failed(reason) => Err(reason),
                Outcome::Cancelled => Err("the test was cancelled".into()),
            });
        }
    }

    /// The address and token rows and Test connection; updates `device` when the address
    /// parses. Rows of the caller's grid.
    pub fn ui(&mut self, ui: &mut egui::Ui, device: &mut DeviceChoice) {
        self.poll();
        let label = ui.label("Server");
        let edited = ui
            .add(egui::TextEdit::singleline(&mut self.address).desired_width(180.0))
            .labelled_by(label.id)
            .on_hover_text("remote://HOST:PORT of a machine running mnist-workbench serve");
        if edited.changed()
            && let Ok(choice) = self.choice()
        {
            *device = choice;
        }
        ui.end_row();
        let label = ui.label("Token");
        let typed = ui
            .add(
                egui::TextEdit::singleline(&mut self.token)
                    .password(true)
                    .desired_width(180.0),
            )
            .labelled_by(label.id)
            .on_hover_text("The server's token (kept in memory only, never saved)");
        if typed.changed() {
            set_token(Some(self.token.trim().to_string()));
        }
        ui.end_row();
        ui.label("");
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!self.is_testing(), egui::Button::new("Test connection"))
                .clicked()
            {
                set_token(Some(self.token.trim().to_string()));
                self.start_test();
            }
            if self.is_testing() {
                ui.spinner();
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_millis(100));
            }
        });
        ui.end_row();
        if let Err(e) = self.choice() {
            ui.label("");
            ui.colored_label(ui.visuals().error_fg_color, e);
            ui.end_row();
        }
        match &self.result {
            Some(Ok(text)) => {
                ui.label("");
                ui.label(text);
                ui.end_row();
            }
            Some(Err(text)) => {
                ui.label("");
                let colour = ui.visuals().error_fg_color;
                ui.scope(|ui| {
                    ui.set_max_width(170.0);
                    ui.add(egui::Label::new(egui::RichText::new(text).color(colour)).wrap());
                });
                ui.end_row();
            }
            None => {}
        }
    }
}
