//! How the UI holds background work: one [`JobSlot`] per kind of job (the data load, the
//! evaluation, the channel-peaks search, the experiment, the probe, the pad's dropout votes,
//! a connection test). A slot holds at most one [`crate::jobs::Job`] with a key saying what
//! it was started for; [`JobSlot::poll`] keeps the latest progress and yields the outcome
//! once. Starting a job in a busy slot, or clearing it, drops (and so cancels) the old one.
//!
//! [`Stamp`] is what a result was computed from: the model version and the data generation.
//! Results held by the workbench are [`Stamped`], so one computed on another dataset is
//! dropped, never used to index the new one.

use crate::jobs::{Job, Outcome};

/// What a result was computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Stamp {
    /// The model version (0: no model), bumped whenever the weights in use change.
    pub model_version: u64,
    /// The dataset generation, bumped whenever another dataset is loaded.
    pub data_generation: u64,
}

/// A result and what it was computed from.
#[derive(Debug, Clone)]
pub struct Stamped<T> {
    /// The result.
    pub value: T,
    /// What it was computed from.
    pub from: Stamp,
}

impl<T> Stamped<T> {
    /// Whether it was computed on the dataset of `generation`.
    pub fn is_from_data(&self, generation: u64) -> bool {
        self.from.data_generation == generation
    }

    /// The model version it was computed with.
    pub fn model_version(&self) -> u64 {
        self.from.model_version
    }
}

/// Keeps only a result computed on the dataset of `generation` (drops one of another dataset).
pub fn retain_data<T>(slot: &mut Option<Stamped<T>>, generation: u64) {
    if slot.as_ref().is_some_and(|s| !s.is_from_data(generation)) {
        *slot = None;
    }
}

struct Running<P, T, K> {
    job: Job<P, T>,
    key: K,
    progress: Option<P>,
}

/// At most one running job with progress `P`, value `T` and a key `K` (what it is for).
pub struct JobSlot<P, T, K> {
    running: Option<Running<P, T, K>>,
}

impl<P, T, K> Default for JobSlot<P, T, K> {
    fn default() -> Self {
        Self { running: None }
    }
}

impl<P, T, K> JobSlot<P, T, K> {
    /// Holds `job`, started for `key`; a job already held is dropped (cancelled).
    pub fn start(&mut self, job: Job<P, T>, key: K) {
        self.running = Some(Running {
            job,
            key,
            progress: None,
        });
    }

    /// Whether a job is held (it has not reported its outcome yet).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// What the held job was started for.
    pub fn key(&self) -> Option<&K> {
        self.running.as_ref().map(|r| &r.key)
    }

    /// The held job's latest progress, `Some(None)` before its first.
    pub fn progress(&self) -> Option<Option<&P>> {
        self.running.as_ref().map(|r| r.progress.as_ref())
    }

    /// Asks the held job to stop; it reports `Cancelled` through [`Self::poll`].
    pub fn cancel(&self) {
        if let Some(r) = &self.running {
            r.job.cancel();
        }
    }

    /// Drops the held job (cancelling it); its outcome is never reported.
    pub fn clear(&mut self) {
        self.running = None;
    }

    /// Takes the queued events: keeps the latest progress and, once the job has ended,
    /// returns its key and outcome (and empties the slot).
    pub fn poll(&mut self) -> Option<(K, Outcome<T>)> {
        let running = self.running.as_mut()?;
        while let Some(event) = running.job.try_next() {
            match event.into_outcome() {
                Err(progress) => running.progress = Some(progress),
                Ok(outcome) => return self.running.take().map(|r| (r.key, outcome)),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{JobContext, JobError, spawn};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn poll_until_done<P, T, K>(slot: &mut JobSlot<P, T, K>) -> (K, Outcome<T>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(done) = slot.poll() {
                return done;
            }
            assert!(Instant::now() < deadline, "the job never ended");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn poll_yields_the_outcome_once_with_its_key() {
        let mut slot = JobSlot::default();
        let job = spawn("mnist-test-slot", Arc::new(|| {}), |ctx: &JobContext<u8, u32>| {
            ctx.send(7);
            Ok(42)
        })
        .unwrap();
        slot.start(job, "answer");
        let (key, outcome) = poll_until_done(&mut slot);
        assert_eq!(key, "answer");
        assert!(matches!(outcome, Outcome::Finished(42)));
        assert!(!slot.is_running());
        assert!(slot.poll().is_none(), "the outcome is reported once");
    }

    #[test]
    fn cancel_is_reported_as_cancelled() {
        let mut slot = JobSlot::default();
        let job = spawn("mnist-test-slot", Arc::new(|| {}), |ctx: &JobContext<(), ()>| {
            while !ctx.is_cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(JobError::Cancelled)
        })
        .unwrap();
        slot.start(job, ());
        slot.cancel();
        assert!(matches!(poll_until_done(&mut slot).1, Outcome::Cancelled));
    }

    #[test]
    fn retain_data_drops_a_result_of_another_dataset_only() {
        let stamp = |data_generation| Stamp {
            model_version: 3,
            data_generation,
        };
        let mut kept = Some(Stamped {
            value: 1,
            from: stamp(2),
        });
        retain_data(&mut kept, 2);
        assert!(kept.is_some());
        let mut dropped = Some(Stamped {
            value: 1,
            from: stamp(1),
        });
        retain_data(&mut dropped, 2);
        assert!(dropped.is_none());
    }
}
