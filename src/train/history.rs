//! A run's history folded from its events: the state the dashboard draws. [`RunHistory::apply`]
//! is a pure reducer, so the app's logic and the tests share it, and a finished run's
//! `metrics.jsonl` rebuilds the same history for overlays.

use super::events::{EpochMetrics, Event, StopReason};

/// Where a run stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RunPhase {
    /// Asked to start; no event yet.
    Starting,
    /// Training.
    Running,
    /// Ended normally.
    Finished(StopReason),
    /// Ended with an error.
    Failed(String),
}

impl RunPhase {
    /// Whether the run has ended.
    pub fn is_over(&self) -> bool {
        matches!(self, RunPhase::Finished(_) | RunPhase::Failed(_))
    }
}

/// One optimiser step as plotted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepPoint {
    /// 1-based global step.
    pub step: usize,
    /// 1-based epoch.
    pub epoch: usize,
    /// Seconds since the run started.
    pub wall_secs: f64,
    /// Batch loss.
    pub loss: f64,
    /// Batch accuracy.
    pub accuracy: f64,
    /// Learning rate.
    pub learning_rate: f64,
}

/// Everything known about one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunHistory {
    /// The run id its events carry.
    pub run_id: u64,
    /// Where it stands.
    pub phase: RunPhase,
    /// Device name from `Started`.
    pub device: String,
    /// Training images.
    pub train_size: usize,
    /// Batches per epoch.
    pub steps_per_epoch: usize,
    /// Planned epochs (from the config; 0 when unknown).
    pub planned_epochs: usize,
    /// Parameter count.
    pub parameters: usize,
    /// Every step.
    pub steps: Vec<StepPoint>,
    /// Every finished epoch.
    pub epochs: Vec<EpochMetrics>,
    /// Latest training throughput.
    pub samples_per_sec: f64,
    /// Steps taken (from step events, or the final event of a recorded run).
    pub steps_taken: usize,
    /// Seconds the run took or has taken so far (from the latest event that says).
    pub elapsed_secs: f64,
}

impl RunHistory {
    /// An empty history waiting for run `run_id`'s events.
    pub fn new(run_id: u64, planned_epochs: usize) -> Self {
        Self {
            run_id,
            phase: RunPhase::Starting,
            device: String::new(),
            train_size: 0,
            steps_per_epoch: 0,
            planned_epochs,
            parameters: 0,
            steps: Vec::new(),
            epochs: Vec::new(),
            samples_per_sec: 0.0,
            steps_taken: 0,
            elapsed_secs: 0.0,
        }
    }

    /// Rebuilds a history from recorded events (a run folder's `metrics.jsonl`).
    pub fn from_events(events: &[Event], planned_epochs: usize) -> Self {
        let mut h = Self::new(events.first().map_or(0, Event::run_id), planned_epochs);
        for e in events {
            h.apply(e);
        }
        h
    }

    /// Folds one event in. Events of another run are ignored (returns false).
    pub fn apply(&mut self, event: &Event) -> bool {
        if event.run_id() != self.run_id {
            return false;
        }
        match event {
            Event::Started {
                device,
                train_size,
                steps_per_epoch,
                parameters,
                ..
            } => {
                self.phase = RunPhase::Running;
                self.device = device.clone();
                self.train_size = *train_size;
                self.steps_per_epoch = *steps_per_epoch;
                self.parameters = *parameters;
            }
            Event::Step {
                epoch,
                step,
                loss,
                accuracy,
                learning_rate,
                samples_per_sec,
                elapsed_secs,
                ..
            } => {
                self.steps.push(StepPoint {
                    step: *step,
                    epoch: *epoch,
                    wall_secs: *elapsed_secs,
                    loss: *loss,
                    accuracy: *accuracy,
                    learning_rate: *learning_rate,
                });
                self.samples_per_sec = *samples_per_sec;
                self.steps_taken = *step;
            }
            Event::Epoch { metrics, .. } => {
                self.elapsed_secs = metrics.elapsed_secs;
                self.epochs.push(metrics.clone());
            }
            Event::Finished {
                reason,
                elapsed_secs,
                steps,
                ..
            } => {
                self.steps_taken = self.steps_taken.max(*steps);
                self.phase = RunPhase::Finished(*reason);
                self.elapsed_secs = *elapsed_secs;
            }
            Event::Failed { reason, .. } => self.phase = RunPhase::Failed(reason.to_string()),
        }
        true
    }

    /// Steps the whole run will take (0 when not known yet).
    pub fn total_steps(&self) -> usize {
        self.steps_per_epoch * self.planned_epochs
    }

    /// Latest step number.
    pub fn current_step(&self) -> usize {
        self.steps.last().map_or(self.steps_taken, |s| s.step)
    }

    /// Seconds left at the current throughput, while running.
    pub fn eta_secs(&self) -> Option<f64> {
        if self.phase != RunPhase::Running || self.samples_per_sec <= 0.0 || self.steps_per_epoch == 0 {
            return None;
        }
        let remaining_steps = self.total_steps().saturating_sub(self.current_step());
        let batch = self.train_size as f64 / self.steps_per_epoch as f64;
        Some(remaining_steps as f64 * batch / self.samples_per_sec)
    }

    /// Best test accuracy over the epochs.
    pub fn best_test_accuracy(&self) -> Option<f64> {
        self.epochs
            .iter()
            .filter_map(|m| m.test_accuracy)
            .fold(None, |b: Option<f64>, a| Some(b.map_or(a, |b| b.max(a))))
    }
}

/// Exponential moving average with bias correction (TensorBoard's smoothing): `weight` 0 is
/// the raw series, values near 1 smooth more.
pub fn smoothed(values: &[f64], weight: f64) -> Vec<f64> {
    let w = weight.clamp(0.0, 0.999);
    let mut last = 0.0;
    let mut out = Vec::with_capacity(values.len());
    for (i, &v) in values.iter().enumerate() {
        last = last * w + (1.0 - w) * v;
        let debias = 1.0 - w.powi(i as i32 + 1);
        out.push(if debias > 0.0 { last / debias } else { v });
    }
    out
}

/// At most `max_points` points that keep the shape of `points` (x ascending): each bucket of
/// consecutive points becomes its mean x with its min and max y, so spikes stay visible.
pub fn decimate(points: &[[f64; 2]], max_points: usize) -> Vec<[f64; 2]> {
    if points.len() <= max_points || max_points < 2 {
        return points.to_vec();
    }
    let buckets = max_points / 2;
    let size = points.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(buckets * 2);
    for chunk in points.chunks(size) {
        let x = chunk.iter().map(|p| p[0]).sum::<f64>() / chunk.len() as f64;
        let lo = chunk.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min);
        let hi = chunk.iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max);
        // Keep the order the extremes came in so the line does not zig-zag backwards.
        let lo_first = chunk.iter().position(|p| p[1] == lo) <= chunk.iter().position(|p| p[1] == hi);
        let (a, b) = if lo_first { (lo, hi) } else { (hi, lo) };
        out.push([x, a]);
        out.push([x, b]);
    }
    out
}

/// The curves of `runs` (name, history) as one CSV table, a row per step and per epoch:
/// `run,kind,step,epoch,wall_secs,loss,accuracy,learning_rate,test_loss,test_accuracy`
/// (`kind` is `step` or `epoch`; an epoch row's loss and accuracy are the epoch's training
/// figures). Names are written by [`crate::textfmt::csv_field`] (quoted when they hold a comma,
/// a quote or a line break), so any run name reads back as itself.
pub fn curves_csv(runs: &[(String, &RunHistory)]) -> String {
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut csv =
        String::from("run,kind,step,epoch,wall_secs,loss,accuracy,learning_rate,test_loss,test_accuracy\n");
    for (name, h) in runs {
        let name = crate::textfmt::csv_field(name);
        for s in &h.steps {
            csv.push_str(&format!(
                "{name},step,{},{},{},{},{},{},,\n",
                s.step, s.epoch, s.wall_secs, s.loss, s.accuracy, s.learning_rate
            ));
        }
        for e in &h.epochs {
            csv.push_str(&format!(
                "{name},epoch,{},{},{},{},{},{},{},{}\n",
                e.epoch * h.steps_per_epoch,
                e.epoch,
                e.elapsed_secs,
                e.train_loss,
                e.train_accuracy,
                e.learning_rate,
                opt(e.test_loss),
                opt(e.test_accuracy)
            ));
        }
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(run_id: u64, step: usize, loss: f64) -> Event {
        Event::Step {
            run_id,
            epoch: 1,
            step,
            loss,
            accuracy: 0.5,
            learning_rate: 0.1,
            samples_per_sec: 100.0,
            elapsed_secs: step as f64,
        }
    }

    #[test]
    fn reducer_follows_a_run_and_ignores_others() {
        let mut h = RunHistory::new(7, 2);
        assert!(h.apply(&Event::Started {
            run_id: 7,
            device: "CPU (flex)".into(),
            train_size: 1000,
            test_size: 100,
            steps_per_epoch: 10,
            parameters: 42,
        }));
        assert_eq!(h.phase, RunPhase::Running);
        h.apply(&step(7, 1, 2.3));
        assert!(!h.apply(&step(8, 2, 9.9)), "another run's event");
        assert_eq!(h.steps.len(), 1);
        assert_eq!(h.total_steps(), 20);
        // 19 steps left × 100 images per step at 100 images/s.
        assert!((h.eta_secs().unwrap() - 19.0).abs() < 1e-9);
        h.apply(&Event::Finished {
            run_id: 7,
            reason: StopReason::Cancelled,
            epochs: 0,
            steps: 1,
            test_accuracy: None,
            elapsed_secs: 3.0,
        });
        assert_eq!(h.phase, RunPhase::Finished(StopReason::Cancelled));
        assert!(h.eta_secs().is_none());
    }

    #[test]
    fn smoothing_matches_hand_computed_values() {
        // weight 0.5: step 1: 0.5·1 = 0.5, debiased by 0.5 → 1; step 2: 0.5·0.5 + 0.5·3 = 1.75,
        // debiased by 1 − 0.25 → 2.333…
        let s = smoothed(&[1.0, 3.0], 0.5);
        assert!((s[0] - 1.0).abs() < 1e-12);
        assert!((s[1] - 1.75 / 0.75).abs() < 1e-12);
        assert_eq!(smoothed(&[4.0, 5.0], 0.0), vec![4.0, 5.0]);
    }

    #[test]
    fn decimation_keeps_extremes_and_bounds_size() {
        let points: Vec<[f64; 2]> = (0..10_000)
            .map(|i| [i as f64, if i == 5_000 { 100.0 } else { 1.0 }])
            .collect();
        let d = decimate(&points, 2_000);
        assert!(d.len() <= 2_000);
        assert!(d.iter().any(|p| p[1] == 100.0), "the spike survives");
        assert!(d.windows(2).all(|w| w[0][0] <= w[1][0]), "x stays ascending");
        assert_eq!(decimate(&points[..10], 2_000).len(), 10);
    }

    #[test]
    fn curves_export_every_step_and_epoch_of_every_run() {
        let mut a = RunHistory::new(7, 1);
        a.apply(&Event::Started {
            run_id: 7,
            device: "cpu".into(),
            train_size: 20,
            test_size: 5,
            steps_per_epoch: 2,
            parameters: 1,
        });
        a.apply(&step(7, 1, 2.0));
        a.apply(&step(7, 2, 1.5));
        a.apply(&Event::Epoch {
            run_id: 7,
            metrics: EpochMetrics {
                epoch: 1,
                train_loss: 1.75,
                train_accuracy: 0.5,
                test_accuracy: Some(0.6),
                ..EpochMetrics::default()
            },
        });
        let b = RunHistory::new(8, 1);
        let csv = curves_csv(&[("run, one".to_string(), &a), ("two".to_string(), &b)]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4, "{csv}");
        assert_eq!(lines[1], "\"run, one\",step,1,1,1,2,0.5,0.1,,");
        assert_eq!(lines[3], "\"run, one\",epoch,2,1,0,1.75,0.5,0,,0.6");
    }
}
