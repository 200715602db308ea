//! The training side of [`Workbench`]: the current (or last) run on the `mnist-trainer`
//! worker, folded from its events by the engine's reducer ([`RunHistory::apply`]), and the
//! model that answers predictions ([`ActiveModel`]), refreshed from the trainer's latest
//! weights.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::tensor::Device;

use super::Workbench;
use crate::device::DeviceChoice;
use crate::model::{Model, ModelSpec};
use crate::run::{RunConfig, RunDir};
use crate::train::history::{RunHistory, RunPhase};
use crate::train::job::ModelSlot;
use crate::train::{Command, TrainConfig, TrainJob, TrainerHandle, spawn_training};

/// The current (or last) training run.
pub struct TrainingSession {
    /// Its history, folded from events.
    pub history: RunHistory,
    /// Its configuration.
    pub config: TrainConfig,
    /// Its run folder.
    pub run_dir: Option<PathBuf>,
    /// Whether a pause was asked for.
    pub paused: bool,
    /// A recorded run shown from its folder (no worker).
    pub recorded: bool,
    handle: Option<TrainerHandle>,
    slot: ModelSlot,
    device: Device,
}

impl TrainingSession {
    /// A session with no worker showing a recorded history (an opened run, or a test).
    pub fn recorded(history: RunHistory, config: TrainConfig, run_dir: Option<PathBuf>) -> Self {
        Self {
            history,
            config,
            run_dir,
            paused: false,
            recorded: true,
            handle: None,
            slot: Arc::new(Mutex::new(None)),
            device: Device::flex(),
        }
    }

    /// Whether the worker is still going. A recorded session (a reopened run) has no worker,
    /// even when its history never reached an end (an imported model, a run that was killed).
    pub fn is_active(&self) -> bool {
        !self.recorded && !self.history.phase.is_over()
    }
}

/// The model that answers predictions (pad, inspection).
pub struct ActiveModel {
    /// The network (eval mode).
    pub model: Model,
    /// Its device.
    pub device: Device,
    /// Its architecture.
    pub spec: ModelSpec,
    /// Where it came from, for the user.
    pub source: String,
    /// Bumped whenever the weights change, so views know to re-predict.
    pub version: u64,
    /// The run folder it belongs to.
    pub run_dir: Option<PathBuf>,
    /// Epochs its run was configured for (None: not from a run), e.g. seed S3's passes.
    pub run_epochs: Option<usize>,
}

impl Workbench {
    pub(super) fn start_training(&mut self, config: TrainConfig) {
        if self.is_training() {
            self.notify("A run is already training; stop it first.", true);
            return;
        }
        if let Err(e) = config.validate() {
            self.notify(format!("Cannot start: {e}"), true);
            return;
        }
        let Some(data) = self.data.loaded.clone() else {
            self.notify("Cannot start: no data loaded yet.", true);
            return;
        };
        if let Err(e) = crate::memory::check_training(&config, &data.dataset) {
            self.notify(format!("Cannot start: {e}"), true);
            return;
        }
        let run_config = RunConfig::new(
            config.clone(),
            data.dataset.source.clone(),
            data.train_digest.clone(),
            data.test_digest.clone(),
        );
        let run_dir = match RunDir::create(&self.options.runs_root, &run_config) {
            Ok(d) => d,
            Err(e) => {
                self.notify(format!("Cannot create the run folder: {e}"), true);
                return;
            }
        };
        let run_id = self.next_run_id;
        self.next_run_id += 1;
        let slot: ModelSlot = Arc::new(Mutex::new(None));
        let job = TrainJob {
            run_id,
            config: config.clone(),
            data: data.dataset.clone(),
            run_dir: Some(run_dir.clone()),
            resume: None,
            device: (config.device == DeviceChoice::Auto).then(|| self.device.clone()),
            model_slot: Some(slot.clone()),
        };
        let training_device = self.device_for(&config.device);
        match spawn_training(job, self.wake.clone()) {
            Ok(handle) => {
                self.notify(format!("Training started: {}", run_dir.path.display()), false);
                self.training = Some(TrainingSession {
                    history: RunHistory::new(run_id, config.epochs),
                    config,
                    run_dir: Some(run_dir.path),
                    paused: false,
                    recorded: false,
                    handle: Some(handle),
                    slot,
                    device: training_device,
                });
                self.refresh_runs();
            }
            Err(e) => self.notify(format!("Cannot start the training thread: {e}"), true),
        }
    }

    pub(super) fn drain_training_events(&mut self) {
        let Some(session) = &mut self.training else {
            return;
        };
        let mut ended = None;
        if let Some(handle) = &mut session.handle {
            for event in handle.try_events() {
                session.history.apply(&event);
                if event.is_terminal() {
                    ended = Some(session.history.phase.clone());
                }
            }
        }
        // Fresh weights for live predictions (latest wins).
        let fresh = session.slot.lock().ok().and_then(|mut g| g.take());
        if let Some(model) = fresh {
            self.model_versions += 1;
            let epochs = session.history.epochs.len();
            self.model = Some(ActiveModel {
                device: session.device.clone(),
                spec: session.config.model.clone(),
                source: format!(
                    "training run, step {}, {epochs} of {} epochs done",
                    session.history.current_step(),
                    session.config.epochs
                ),
                version: self.model_versions,
                run_dir: session.run_dir.clone(),
                run_epochs: Some(session.config.epochs),
                model,
            });
        }
        if let Some(phase) = ended {
            if let Some(session) = &mut self.training {
                session.handle = None;
            }
            match phase {
                RunPhase::Failed(message) => self.notify(format!("Training failed: {message}"), true),
                RunPhase::Finished(reason) => self.notify(format!("Training ended: {reason}"), false),
                _ => {}
            }
            self.refresh_runs();
        }
    }

    fn device_for(&self, choice: &DeviceChoice) -> Device {
        match choice {
            DeviceChoice::Auto => self.device.device.clone(),
            DeviceChoice::Flex => Device::flex(),
            DeviceChoice::Wgpu => crate::device::select_device(DeviceChoice::Wgpu)
                .map(|d| d.device)
                .unwrap_or_else(|_| Device::flex()),
            // The trainer connects on its own thread and publishes its weights as a copy on
            // this machine, so the pad never waits for the network.
            DeviceChoice::Remote(_) => Device::flex(),
        }
    }

    /// Pauses, resumes or stops the running training.
    pub(super) fn training_command(&mut self, command: Command) {
        if let Some(s) = &mut self.training
            && let Some(h) = &s.handle
        {
            h.send(command);
            s.paused = command == Command::Pause;
        }
    }

    /// Stops a running training and waits up to `timeout` for its worker to finish the current
    /// batch (the last finished epoch's checkpoint stays valid). Used when the window closes.
    pub(super) fn stop_training_and_wait(&mut self, timeout: Duration) {
        if let Some(session) = &mut self.training
            && let Some(mut handle) = session.handle.take()
        {
            handle.send(Command::Stop);
            let deadline = Instant::now() + timeout;
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if handle.is_finished() {
                // Collect the final events so the session says how it ended.
                for event in handle.try_events() {
                    session.history.apply(&event);
                }
                handle.join();
            }
        }
    }
}
