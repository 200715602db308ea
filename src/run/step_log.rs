//! `steps.csv`: every optimiser step's scalars, kept in the run folder so a reopened run shows
//! the curves it showed while training, and a notebook reads them with one call
//! (`pandas.read_csv("runs/<run>/steps.csv")`).
//!
//! Columns: `step,epoch,loss,accuracy,learning_rate,samples_per_sec,wall_secs`. Values are
//! written with f32 precision (what the model computes in; the trainer's `Step` events carry
//! the same precision, so the file holds exactly what the dashboard showed), about 50 bytes a step: 100 epochs
//! of MNIST at batch 64 is under 5 MB. Rows are appended in whole lines, flushed at least
//! every [`FLUSH_EVERY_ROWS`] rows or [`FLUSH_EVERY`] and at every epoch's end, so a killed run
//! keeps every step up to its last flush. A torn last line (the process died mid-write) is
//! ignored when read and cut off before the file is appended to again (`train --resume`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::train::events::Event;

/// The header line.
pub const HEADER: &str = "step,epoch,loss,accuracy,learning_rate,samples_per_sec,wall_secs";
/// Rows buffered before they are written.
pub const FLUSH_EVERY_ROWS: usize = 64;
/// Longest time rows stay buffered.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// One step as recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRow {
    /// 1-based global step.
    pub step: usize,
    /// 1-based epoch.
    pub epoch: usize,
    /// Batch loss.
    pub loss: f64,
    /// Batch accuracy.
    pub accuracy: f64,
    /// Learning rate used.
    pub learning_rate: f64,
    /// Throughput so far.
    pub samples_per_sec: f64,
    /// Seconds since the run started (a resumed run continues from its last recorded step).
    pub wall_secs: f64,
}

impl StepRow {
    /// The row of a `Step` event, `None` for other events.
    pub fn of_event(event: &Event) -> Option<Self> {
        match *event {
            Event::Step {
                epoch,
                step,
                loss,
                accuracy,
                learning_rate,
                samples_per_sec,
                elapsed_secs,
                ..
            } => Some(Self {
                step,
                epoch,
                loss,
                accuracy,
                learning_rate,
                samples_per_sec,
                wall_secs: elapsed_secs,
            }),
            _ => None,
        }
    }

    /// The `Step` event of run `run_id` this row records.
    pub fn to_event(self, run_id: u64) -> Event {
        Event::Step {
            run_id,
            epoch: self.epoch,
            step: self.step,
            loss: self.loss,
            accuracy: self.accuracy,
            learning_rate: self.learning_rate,
            samples_per_sec: self.samples_per_sec,
            elapsed_secs: self.wall_secs,
        }
    }

    /// The CSV line (no newline).
    pub fn to_line(self) -> String {
        format!(
            "{},{},{},{},{},{},{}",
            self.step,
            self.epoch,
            self.loss as f32,
            self.accuracy as f32,
            self.learning_rate as f32,
            self.samples_per_sec as f32,
            self.wall_secs as f32
        )
    }

    /// Parses a CSV line; `None` for the header, a torn line or anything else malformed.
    pub fn parse(line: &str) -> Option<Self> {
        let mut fields = line.trim_end_matches('\r').split(',');
        let mut next = || fields.next().map(str::trim);
        let step = next()?.parse().ok()?;
        let epoch = next()?.parse().ok()?;
        let mut float = || next()?.parse::<f32>().ok().map(f64::from);
        let row = Self {
            step,
            epoch,
            loss: float()?,
            accuracy: float()?,
            learning_rate: float()?,
            samples_per_sec: float()?,
            wall_secs: float()?,
        };
        fields.next().is_none().then_some(row)
    }
}

/// Reads `steps.csv`: every complete row, in file order. A missing file is an empty history
/// (run folders from before this file existed); malformed lines and a torn last line are
/// skipped. The file is read a line at a time (memory grows with the rows kept, never with
/// the file's text), and a special file in its place (a FIFO, a device) is refused at once.
pub fn read_steps(path: &Path) -> std::io::Result<Vec<StepRow>> {
    use std::io::{BufRead, Read};
    let file = match crate::fsutil::open_regular(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut rows = Vec::new();
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        // A line longer than any row (64 KiB) is damage: skip to its end without holding it.
        let n = reader.by_ref().take(1 << 16).read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            if n < 1 << 16 {
                break; // a torn last line: only newline-terminated lines are complete
            }
            skip_rest_of_line(&mut reader)?;
            continue;
        }
        if let Some(row) = std::str::from_utf8(&line).ok().and_then(StepRow::parse) {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Reads past the end of the current line.
fn skip_rest_of_line(reader: &mut impl std::io::BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = buf.iter().position(|b| *b == b'\n') {
            reader.consume(i + 1);
            return Ok(());
        }
        let n = buf.len();
        reader.consume(n);
    }
}

/// Appends steps to a run's `steps.csv`.
pub struct StepLog {
    path: PathBuf,
    file: std::fs::File,
    buffered: String,
    rows: usize,
    last_flush: Instant,
    /// Added to each step's wall time: the last recorded step's, when resuming.
    wall_offset: f64,
}

impl StepLog {
    /// Opens (or creates, with its header) the log at `path`. A torn last line left by a
    /// killed run is cut off first, so appended rows start on a line of their own.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let existing = match crate::fsutil::read_capped(path, crate::fsutil::limits::LOG_BYTES * 8) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let complete = existing.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let wall_offset = String::from_utf8_lossy(&existing[..complete])
            .lines()
            .rev()
            .find_map(StepRow::parse)
            .map_or(0.0, |r| r.wall_secs);
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        if complete < existing.len() {
            file.set_len(complete as u64)?;
        }
        if complete == 0 {
            file.set_len(0)?;
            file.write_all(format!("{HEADER}\n").as_bytes())?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            buffered: String::new(),
            rows: 0,
            last_flush: Instant::now(),
            wall_offset,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records an event: a step is buffered (and written when enough are, or enough time has
    /// passed); an epoch's end or the run's end writes everything buffered.
    pub fn record(&mut self, event: &Event) -> std::io::Result<()> {
        if let Some(mut row) = StepRow::of_event(event) {
            row.wall_secs += self.wall_offset;
            self.buffered.push_str(&row.to_line());
            self.buffered.push('\n');
            self.rows += 1;
            if self.rows >= FLUSH_EVERY_ROWS || self.last_flush.elapsed() >= FLUSH_EVERY {
                self.flush()?;
            }
        } else {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered rows in one write.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if !self.buffered.is_empty() {
            self.file.write_all(self.buffered.as_bytes())?;
            self.buffered.clear();
        }
        self.rows = 0;
        self.last_flush = Instant::now();
        Ok(())
    }
}

impl Drop for StepLog {
    fn drop(&mut self) {
        self.flush().ok(); // a run unwinding still keeps its steps; nothing to report to
    }
}

/// A run's events in the order they happened: `metrics.jsonl`'s events (everything but steps)
/// with the steps of `steps.csv` put back before the end of their epoch.
pub fn merge_steps(events: Vec<Event>, steps: &[StepRow]) -> Vec<Event> {
    let run_id = events.first().map_or(0, Event::run_id);
    let mut merged = Vec::with_capacity(events.len() + steps.len());
    let mut next = steps.iter().peekable();
    for event in events {
        let before = match &event {
            Event::Started { .. } => None,
            Event::Epoch { metrics, .. } => Some(metrics.epoch),
            _ => Some(usize::MAX), // the run's end comes after every step
        };
        if let Some(epoch) = before {
            while let Some(row) = next.next_if(|r| r.epoch <= epoch) {
                merged.push(row.to_event(run_id));
            }
        }
        merged.push(event);
    }
    merged.extend(next.map(|r| r.to_event(run_id))); // a killed run: steps after its last event
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: usize, epoch: usize) -> StepRow {
        StepRow {
            step,
            epoch,
            loss: 2.0 / step as f64,
            accuracy: 0.5,
            learning_rate: 1e-3,
            samples_per_sec: 1234.5,
            wall_secs: step as f64 * 0.01,
        }
    }


    #[test]
    fn rows_round_trip_at_f32_precision() {
        let r = row(17, 2);
        let back = StepRow::parse(&r.to_line()).unwrap();
        assert_eq!((back.step, back.epoch), (17, 2));
        assert_eq!(back.loss, (r.loss as f32) as f64);
        assert_eq!(back.learning_rate, (1e-3f32) as f64);
        assert!(StepRow::parse(HEADER).is_none());
        assert!(StepRow::parse("3,1,0.5,0.5").is_none(), "short line");
        assert!(StepRow::parse("3,1,0.5,0.5,0.1,100,2,9").is_none(), "long line");
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_cut_before_appending() {
        let dir = crate::fsutil::scratch::ScratchDir::new("steplog-torn");
        let path = dir.join("steps.csv");
        let mut log = StepLog::open(&path).unwrap();
        for s in 1..=3 {
            log.record(&row(s, 1).to_event(1)).unwrap();
        }
        drop(log);
        // A write cut short by a kill.
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"4,1,0.49").unwrap();
        drop(f);
        assert_eq!(read_steps(&path).unwrap().len(), 3);
        // Resuming appends on a fresh line, wall times continuing from the last step.
        let mut log = StepLog::open(&path).unwrap();
        log.record(&row(4, 2).to_event(1)).unwrap();
        drop(log);
        let rows = read_steps(&path).unwrap();
        assert_eq!(rows.iter().map(|r| r.step).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert!((rows[3].wall_secs - 0.07).abs() < 1e-6, "{}", rows[3].wall_secs);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next(), Some(HEADER));
        assert_eq!(text.matches(HEADER).count(), 1);
    }

    #[test]
    fn steps_go_back_before_the_end_of_their_epoch() {
        use crate::train::events::EpochMetrics;
        let epoch = |e: usize| Event::Epoch {
            run_id: 1,
            metrics: EpochMetrics {
                epoch: e,
                ..EpochMetrics::default()
            },
        };
        let events = vec![
            Event::Started {
                run_id: 1,
                device: "cpu".into(),
                train_size: 4,
                test_size: 1,
                steps_per_epoch: 2,
                parameters: 1,
            },
            epoch(1),
            epoch(2),
        ];
        let steps = [row(1, 1), row(2, 1), row(3, 2), row(4, 2), row(5, 3)];
        let merged = merge_steps(events, &steps);
        let kinds: Vec<String> = merged
            .iter()
            .map(|e| match e {
                Event::Started { .. } => "S".to_string(),
                Event::Step { step, .. } => step.to_string(),
                Event::Epoch { metrics, .. } => format!("E{}", metrics.epoch),
                _ => "?".into(),
            })
            .collect();
        assert_eq!(kinds, ["S", "1", "2", "E1", "3", "4", "E2", "5"]);
    }
}
