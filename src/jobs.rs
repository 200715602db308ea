//! Background jobs, once. Every long piece of work (loading data, training, evaluating,
//! experiments, probes, the pad's dropout votes, a remote connection test) runs through
//! [`spawn`]: on a named thread, with progress (rate-limited by [`JobContext::progress`]),
//! a [`CancelToken`] checked by the work, a panic turned into [`JobEvent::Failed`], and a
//! closed channel treated as failure on both sides (the worker stops when nobody listens;
//! [`Job::try_next`] reports a worker that vanished without a result as `Failed`).
//!
//! Event order for one job: any number of `Progress`, then exactly one of `Finished`,
//! `Failed` or `Cancelled`. `wake` is called after every event, so a window can repaint.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Asks the UI for a new frame; called from worker threads (the engine stays free of egui).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// [`JobContext::progress`] sends at most one event per this interval.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(50);

/// What a job's owner says when the worker thread vanished without reporting an outcome.
pub const VANISHED: &str = "the worker stopped without a result (see the log)";

/// A shared stop flag: the owner sets it, the work checks it (every batch or chunk).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token nobody has cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the work to stop at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The flag itself, for code that takes a plain `&AtomicBool`.
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }
}

/// How a job's work ends when it does not return a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The token was cancelled; nothing was changed beyond what the job documents.
    #[error("cancelled")]
    Cancelled,
    /// It failed; the message says why and, where it can, what to do.
    #[error("{0}")]
    Failed(String),
}

/// How far a long piece of work (an experiment, a probe, a study) has got.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// What it is doing, e.g. `training 12/50 models`.
    pub stage: String,
    /// Share of the whole work done, 0 to 1.
    pub fraction: f64,
    /// Seconds since it started.
    pub elapsed_secs: f64,
}

impl Progress {
    /// Estimated seconds left, from the pace so far (none before 1 % is done).
    pub fn eta_secs(&self) -> Option<f64> {
        (self.fraction > 0.01 && self.fraction < 1.0)
            .then(|| self.elapsed_secs * (1.0 - self.fraction) / self.fraction)
    }
}

/// The user asked the work to stop ([`Reporter::check`]); studies turn it into their own
/// `Cancelled` error with `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// What running work needs from its caller: where to report progress and whether to stop
/// (asked every step or batch). The window's jobs and the command line's progress bar both
/// make one.
pub struct Reporter<'a> {
    started: Instant,
    on_progress: &'a mut dyn FnMut(Progress),
    cancelled: &'a dyn Fn() -> bool,
}

impl<'a> Reporter<'a> {
    /// A reporter calling `on_progress` and polling `cancelled`.
    pub fn new(on_progress: &'a mut dyn FnMut(Progress), cancelled: &'a dyn Fn() -> bool) -> Self {
        Self {
            started: Instant::now(),
            on_progress,
            cancelled,
        }
    }

    /// Reports progress; `fraction` is clamped to [0, 1].
    pub fn progress(&mut self, stage: impl Into<String>, fraction: f64) {
        (self.on_progress)(Progress {
            stage: stage.into(),
            fraction: fraction.clamp(0.0, 1.0),
            elapsed_secs: self.started.elapsed().as_secs_f64(),
        });
    }

    /// `Err(Cancelled)` once the user asked to stop.
    pub fn check(&self) -> Result<(), Cancelled> {
        if (self.cancelled)() { Err(Cancelled) } else { Ok(()) }
    }

    /// Runs `f` with a reporter for one part of this work: its progress from 0 to 1 fills
    /// `[start, start + width]` of this one, its stages prefixed with `prefix`; cancel is shared.
    pub fn part<T>(&mut self, prefix: &str, start: f64, width: f64, f: impl FnOnce(&mut Reporter) -> T) -> T {
        let on_progress = &mut *self.on_progress;
        let mut mapped = |p: Progress| {
            on_progress(Progress {
                stage: format!("{prefix}{}", p.stage),
                fraction: (start + width * p.fraction).clamp(0.0, 1.0),
                elapsed_secs: p.elapsed_secs,
            })
        };
        let mut part = Reporter {
            started: self.started,
            on_progress: &mut mapped,
            cancelled: self.cancelled,
        };
        f(&mut part)
    }

    /// Seconds since the work started.
    pub fn elapsed_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// Runs `work` as a job on a thread named `name`, with a [`Reporter`] whose progress becomes
/// `Progress` events (rate-limited; 100 % always goes out) and whose cancel flag is the
/// job's. Studies (experiments, probes) start this way; their error says whether it was a
/// cancel ([`JobError::Cancelled`]) or a failure.
pub fn spawn_reporting<T, E>(
    name: &str,
    wake: Wake,
    work: impl FnOnce(&mut Reporter) -> Result<T, E> + Send + 'static,
) -> std::io::Result<Job<Progress, T>>
where
    T: Send + 'static,
    E: Into<JobError>,
{
    spawn(name, wake, move |ctx| {
        let mut on_progress = |p: Progress| {
            if p.fraction >= 1.0 {
                ctx.send(p);
            } else {
                ctx.progress(p);
            }
        };
        let cancelled = || ctx.is_cancelled();
        let mut reporter = Reporter::new(&mut on_progress, &cancelled);
        work(&mut reporter).map_err(Into::into)
    })
}

/// Events from a job, in the order documented at the top of this module.
#[derive(Debug, Clone)]
pub enum JobEvent<P, T> {
    /// How far it has got (or, for training, one step or epoch of the run).
    Progress(P),
    /// Done.
    Finished(T),
    /// It failed (or panicked); the message says why.
    Failed(String),
    /// Cancelled before finishing.
    Cancelled,
}

/// How a job ended: its last event without the progress.
#[derive(Debug, Clone)]
pub enum Outcome<T> {
    /// Done, with its value.
    Finished(T),
    /// It failed; the message says why.
    Failed(String),
    /// Cancelled.
    Cancelled,
}

impl<P, T> JobEvent<P, T> {
    /// The outcome, for the terminal events; the progress back otherwise.
    pub fn into_outcome(self) -> Result<Outcome<T>, P> {
        match self {
            JobEvent::Progress(p) => Err(p),
            JobEvent::Finished(value) => Ok(Outcome::Finished(value)),
            JobEvent::Failed(message) => Ok(Outcome::Failed(message)),
            JobEvent::Cancelled => Ok(Outcome::Cancelled),
        }
    }
}

/// What the work sees of its job: the cancel token and the way to report progress.
pub struct JobContext<P, T> {
    tx: Sender<JobEvent<P, T>>,
    cancel: CancelToken,
    wake: Wake,
    last_progress: Cell<Option<Instant>>,
}

impl<P, T> JobContext<P, T> {
    /// Whether the owner asked to stop (or went away).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The job's cancel token.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// Sends `progress` unless one was sent less than [`PROGRESS_INTERVAL`] ago.
    pub fn progress(&self, progress: P) {
        let due = self
            .last_progress
            .get()
            .is_none_or(|last| last.elapsed() >= PROGRESS_INTERVAL);
        if due {
            self.last_progress.set(Some(Instant::now()));
            self.emit(JobEvent::Progress(progress));
        }
    }

    /// Sends `progress` now, whatever the rate (training steps, a final 100 %).
    pub fn send(&self, progress: P) {
        self.emit(JobEvent::Progress(progress));
    }

    fn emit(&self, event: JobEvent<P, T>) {
        if self.tx.send(event).is_err() {
            // Nobody listens any more: stop at the work's next check.
            self.cancel.cancel();
        }
        (self.wake)();
    }
}

/// A job running on its thread. Dropping it cancels the work.
pub struct Job<P, T> {
    events: Receiver<JobEvent<P, T>>,
    cancel: CancelToken,
    thread: Option<JoinHandle<()>>,
    ended: bool,
}

impl<P, T> Job<P, T> {
    /// Asks the work to stop at its next check; it answers with `Cancelled`.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The job's cancel token.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// Whether the worker thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// The next queued event, without waiting (None: nothing queued, or the job has ended).
    /// A worker that vanished before its terminal event yields one `Failed`.
    pub fn try_next(&mut self) -> Option<JobEvent<P, T>> {
        if self.ended {
            return None;
        }
        let received = match self.events.try_recv() {
            Ok(event) => Some(event),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(JobEvent::Failed(VANISHED.into())),
        };
        self.note(received)
    }

    /// The next event, waiting up to `timeout` (None: nothing came, or the job has ended).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<JobEvent<P, T>> {
        if self.ended {
            return None;
        }
        let received = match self.events.recv_timeout(timeout) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(JobEvent::Failed(VANISHED.into())),
        };
        self.note(received)
    }

    /// Every remaining event, waiting for each, up to and including the terminal one.
    pub fn wait_events(&mut self) -> impl Iterator<Item = JobEvent<P, T>> + '_ {
        std::iter::from_fn(move || {
            if self.ended {
                return None;
            }
            let received = self.events.recv().unwrap_or(JobEvent::Failed(VANISHED.into()));
            self.note(Some(received))
        })
    }

    /// Remembers whether `event` ended the job (nothing is read after the terminal event).
    fn note(&mut self, event: Option<JobEvent<P, T>>) -> Option<JobEvent<P, T>> {
        if let Some(event) = &event {
            self.ended = !matches!(event, JobEvent::Progress(_));
        }
        event
    }

    /// Waits for the worker thread to end.
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take() {
            thread.join().ok(); // a panic was already reported as Failed
        }
    }
}

impl<P, T> Drop for Job<P, T> {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Runs `work` on a thread named `name` with a fresh cancel token.
pub fn spawn<P, T>(
    name: &str,
    wake: Wake,
    work: impl FnOnce(&JobContext<P, T>) -> Result<T, JobError> + Send + 'static,
) -> std::io::Result<Job<P, T>>
where
    P: Send + 'static,
    T: Send + 'static,
{
    spawn_with_token(name, CancelToken::new(), wake, work)
}

/// Runs `work` on a thread named `name`, cancelled through `cancel` (which the caller may
/// share with other controls, as training does with pause). Its result becomes `Finished`,
/// `JobError::Cancelled` becomes `Cancelled`, an error or a panic becomes `Failed`.
pub fn spawn_with_token<P, T>(
    name: &str,
    cancel: CancelToken,
    wake: Wake,
    work: impl FnOnce(&JobContext<P, T>) -> Result<T, JobError> + Send + 'static,
) -> std::io::Result<Job<P, T>>
where
    P: Send + 'static,
    T: Send + 'static,
{
    let (tx, events) = channel();
    let context = JobContext {
        tx,
        cancel: cancel.clone(),
        wake,
        last_progress: Cell::new(None),
    };
    let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
        let outcome = crate::panics::catch(|| work(&context));
        context.emit(match outcome {
            Ok(Ok(value)) => JobEvent::Finished(value),
            Ok(Err(JobError::Cancelled)) => JobEvent::Cancelled,
            Ok(Err(JobError::Failed(message))) => JobEvent::Failed(message),
            Err(panic) => JobEvent::Failed(format!("internal error: {}", panic.with_location())),
        });
    })?;
    Ok(Job {
        events,
        cancel,
        thread: Some(thread),
        ended: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_wake() -> Wake {
        Arc::new(|| {})
    }

    fn drain<P, T>(job: &mut Job<P, T>) -> Vec<JobEvent<P, T>> {
        job.wait_events().collect()
    }

    #[test]
    fn a_value_arrives_after_its_progress_and_the_thread_has_its_name() {
        let mut job = spawn("mnist-test-job", no_wake(), |ctx: &JobContext<u32, String>| {
            ctx.send(1);
            ctx.send(2);
            Ok(std::thread::current().name().unwrap_or("").to_string())
        })
        .unwrap();
        let events = drain(&mut job);
        assert_eq!(events.len(), 3);
        assert!(matches!(events[0], JobEvent::Progress(1)));
        assert!(matches!(events[1], JobEvent::Progress(2)));
        assert!(matches!(&events[2], JobEvent::Finished(name) if name == "mnist-test-job"));
        assert!(job.try_next().is_none(), "nothing after the terminal event");
    }

    #[test]
    fn a_panic_becomes_failed_with_its_message() {
        let mut job = spawn(
            "mnist-test-job",
            no_wake(),
            |_: &JobContext<(), ()>| -> Result<(), JobError> { panic!("kernel exploded") },
        )
        .unwrap();
        let events = drain(&mut job);
        assert!(
            matches!(&events[..], [JobEvent::Failed(m)] if m.contains("kernel exploded")),
            "{events:?}"
        );
    }

    #[test]
    fn cancel_reaches_the_work_and_ends_as_cancelled() {
        let mut job = spawn("mnist-test-job", no_wake(), |ctx: &JobContext<(), ()>| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if ctx.is_cancelled() {
                    return Err(JobError::Cancelled);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        })
        .unwrap();
        job.cancel();
        let events = drain(&mut job);
        assert!(matches!(&events[..], [JobEvent::Cancelled]), "{events:?}");
    }

    #[test]
    fn progress_is_rate_limited_but_send_is_not() {
        let mut job = spawn("mnist-test-job", no_wake(), |ctx: &JobContext<u32, ()>| {
            for i in 0..1000 {
                ctx.progress(i); // within microseconds: only the first goes out
            }
            ctx.send(5000);
            Ok(())
        })
        .unwrap();
        let progress: Vec<u32> = drain(&mut job)
            .into_iter()
            .filter_map(|e| e.into_outcome().err())
            .collect();
        assert_eq!(progress.first(), Some(&0));
        assert_eq!(progress.last(), Some(&5000));
        assert!(
            progress.len() < 10,
            "{} progress events for 1000 calls",
            progress.len()
        );
    }

    #[test]
    fn a_dropped_owner_cancels_the_work() {
        let (seen_tx, seen_rx) = channel();
        let job = spawn("mnist-test-job", no_wake(), move |ctx: &JobContext<u32, ()>| {
            for i in 0.. {
                ctx.send(i);
                if ctx.is_cancelled() {
                    seen_tx.send(i).ok();
                    return Err(JobError::Cancelled);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        })
        .unwrap();
        drop(job);
        let stopped_at = seen_rx.recv_timeout(Duration::from_secs(10));
        assert!(
            stopped_at.is_ok(),
            "the worker kept going after its owner was dropped"
        );
    }

    #[test]
    fn a_worker_that_vanishes_reads_as_failed() {
        // A job whose channel closes without a terminal event (its sender dropped).
        let (tx, events) = channel::<JobEvent<(), ()>>();
        drop(tx);
        let mut job = Job {
            events,
            cancel: CancelToken::new(),
            thread: None,
            ended: false,
        };
        assert!(matches!(job.try_next(), Some(JobEvent::Failed(m)) if m == VANISHED));
        assert!(job.try_next().is_none());
    }
}
