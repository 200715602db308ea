//! Running training jobs: [`run_training`] runs one on the calling thread (the loop itself is
//! [`super::session`]), turning a panic into a failure; [`spawn_training`] runs it on a named
//! worker thread and hands back a [`TrainerHandle`] with the event receiver. Control flags are
//! checked before every batch.

use std::sync::Arc;

use super::events::{Command, Event, FailReason};
use super::job::{Control, TrainJob};
use crate::jobs::{self, Job, JobEvent, Wake};
use crate::model::Model;

/// Runs a whole training job on this thread, sending every event to `emit`. Returns the
/// final model when at least the initialisation succeeded. A panic inside burn (a remote server
/// that went away, a backend failure) ends the run with a `Failed` event and `summary.json`
/// like any failure, instead of leaving it "running": checkpoints on disk stay those of the
/// last finished epoch.
pub fn run_training(job: TrainJob, control: &Control, emit: &mut dyn FnMut(Event)) -> Option<Model> {
    let run_id = job.run_id;
    let run_dir = job.run_dir.clone();
    let remote = matches!(job.config.device, crate::device::DeviceChoice::Remote(_))
        || job
            .device
            .as_ref()
            .is_some_and(|d| d.backend == crate::device::Backend::Remote);
    let mut ended = false;
    let mut watch = |event: Event| {
        ended |= event.is_terminal();
        emit(event);
    };
    let outcome = crate::panics::catch(|| super::session::run_job(job, control, &mut watch));
    match outcome {
        Ok(model) => model,
        Err(panic) => {
            let message = if remote {
                format!("connection lost: the remote server stopped answering ({})", panic.cause())
            } else {
                format!("internal error: {}", panic.with_location())
            };
            let failed = Event::Failed {
                run_id,
                reason: FailReason::Error { message },
            };
            if let Some(dir) = &run_dir
                && !ended
            {
                // The checkpoint on disk is the last finished epoch's; record how the run ended.
                dir.append_event(&failed).ok();
                dir.write_summary(&failed).ok();
            }
            if !ended {
                emit(failed);
            }
            None
        }
    }
}

/// A training job running on its worker thread (a [`crate::jobs`] job whose progress events
/// are the run's [`Event`]s, every one delivered).
pub struct TrainerHandle {
    job: Job<Event, ()>,
    run_id: u64,
    control: Arc<Control>,
}

impl TrainerHandle {
    /// Sends a command; it takes effect before the next batch.
    pub fn send(&self, command: Command) {
        self.control.apply(command);
    }

    /// Whether the worker thread has ended.
    pub fn is_finished(&self) -> bool {
        self.job.is_finished()
    }

    /// The events queued now, without waiting.
    pub fn try_events(&mut self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(move || {
            loop {
                let event = self.job.try_next()?;
                if let Some(event) = run_event(self.run_id, event) {
                    return Some(event);
                }
            }
        })
    }

    /// Every event of the run, waiting for each, up to the last.
    pub fn events(&mut self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(move || self.next_event())
    }

    /// The run's next event, waiting for it (None once the run has ended). Unlike
    /// [`Self::events`] it leaves the handle free between events, for [`Self::send`].
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            let event = self.job.wait_events().next()?;
            if let Some(event) = run_event(self.run_id, event) {
                return Some(event);
            }
        }
    }

    /// Waits for the worker to end.
    pub fn join(self) {
        self.job.join();
    }
}

/// The run's event inside a job event. The loop reports its own end (`Finished`, `Stopped`,
/// `Failed`), so the job's own end adds nothing, unless the worker vanished or panicked
/// outside the loop: that becomes the run's `Failed`.
fn run_event(run_id: u64, event: JobEvent<Event, ()>) -> Option<Event> {
    match event {
        JobEvent::Progress(event) => Some(event),
        JobEvent::Finished(()) | JobEvent::Cancelled => None,
        JobEvent::Failed(message) => Some(Event::Failed {
            run_id,
            reason: FailReason::Error { message },
        }),
    }
}

/// Starts `job` on a thread named `mnist-trainer`. `wake` is called after each event is
/// queued (the app passes its repaint request); a closed receiver stops the worker, and so
/// does dropping the handle (within one batch).
pub fn spawn_training(job: TrainJob, wake: Wake) -> std::io::Result<TrainerHandle> {
    let control = Arc::new(Control::default());
    let worker_control = control.clone();
    let run_id = job.run_id;
    let job = jobs::spawn_with_token("mnist-trainer", control.cancel.clone(), wake, move |ctx| {
        run_training(job, &worker_control, &mut |event| ctx.send(event));
        Ok(())
    })?;
    Ok(TrainerHandle { job, run_id, control })
}
