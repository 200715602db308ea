//! One experiment over several devices: its work items (sweep trials, size-curve fractions,
//! groups of ensemble members) wait in one queue, and every device pulls the next item when it
//! finishes one, so a fast device does more of them and a slow one never holds the rest up.
//!
//! A device that fails while running an item (a server killed, a lost connection, a backend
//! that panics) leaves the pool with a message, and its item goes back to the front of the
//! queue for another device. The experiment fails only when no device is left; what finished
//! has been handed to the caller by then (who saves it), so running it again continues.
//!
//! An item's result does not depend on where it ran: the caller fixes each item's seeds and
//! composition before the queue starts, and a device only computes it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::device::{Backend, SelectedDevice};
use crate::jobs::Reporter;
use crate::study::StudyError;

/// Why an item stopped before finishing.
#[derive(Debug)]
pub enum ItemFailure {
    /// The device failed (connection lost, backend error): the device leaves the pool and the
    /// item is run again elsewhere.
    Device(String),
    /// The item itself cannot work (refused settings, divergence, cancel): the experiment
    /// stops with this error, whichever device runs it.
    Study(StudyError),
}

impl From<StudyError> for ItemFailure {
    fn from(e: StudyError) -> Self {
        Self::Study(e)
    }
}

/// What the work of one item sees of the pool: whether to stop, and where to say how far it is.
pub struct ItemContext<'a> {
    cancel: &'a AtomicBool,
    slot: &'a DeviceSlot,
}

impl ItemContext<'_> {
    /// Whether the experiment is stopping (cancelled, or another item failed): stop soon.
    pub fn stopping(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// How much of the item is done, from 0 to 1.
    pub fn progress(&self, fraction: f64) {
        self.slot
            .fraction
            .store(fraction.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    /// Counts `n` more training (or evaluated) images, for the device's images per second.
    pub fn add_samples(&self, n: u64) {
        self.slot.samples.fetch_add(n, Ordering::Relaxed);
    }
}

/// What a device is doing, shared between its worker thread and the progress report.
#[derive(Default)]
struct DeviceSlot {
    fraction: AtomicU64,
    samples: AtomicU64,
}

/// Where and how long an item ran (recorded with its results).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// The device's name as the user sees it (a remote one with its address).
    pub device: String,
    /// Seconds the item took there.
    pub seconds: f64,
}

/// A device that left the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceLoss {
    /// The device.
    pub device: String,
    /// The item it was running, which went back to the queue.
    pub item: String,
    /// What went wrong.
    pub message: String,
}

/// One device's share of the work, for the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceTally {
    /// The device.
    pub device: String,
    /// Items it finished.
    pub items: usize,
    /// Seconds it spent on them (finished items only).
    pub seconds: f64,
    /// Training or evaluated images per second over its whole time in the pool.
    pub samples_per_second: f64,
    /// Why it left the pool, if it did.
    pub lost: Option<String>,
}

/// How the work went on each device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolReport {
    /// One entry per device, in the order given.
    pub devices: Vec<DeviceTally>,
    /// Devices that left, with the item each was running.
    pub losses: Vec<DeviceLoss>,
}

impl DeviceTally {
    /// Adds `other` (the same device's share of a later part of the work) to this one.
    pub fn absorb(&mut self, other: &DeviceTally) {
        let seconds = self.seconds + other.seconds;
        if seconds > 0.0 {
            self.samples_per_second =
                (self.samples_per_second * self.seconds + other.samples_per_second * other.seconds) / seconds;
        }
        self.items += other.items;
        self.seconds = seconds;
        self.lost = other.lost.clone().or(self.lost.take());
    }
}

/// Checks the per-device figures read from a results file (seconds and images per second
/// finite and not negative), naming the field.
pub(crate) fn check_tallies(path: &std::path::Path, devices: &[DeviceTally]) -> Result<(), StudyError> {
    for (i, d) in devices.iter().enumerate() {
        crate::study::check_figure(path, &format!("devices[{i}].seconds"), d.seconds, false)?;
        crate::study::check_figure(
            path,
            &format!("devices[{i}].samples_per_second"),
            d.samples_per_second,
            false,
        )?;
    }
    Ok(())
}

/// One line per device: items, seconds, images per second, and why it left.
pub fn tally_lines(devices: &[DeviceTally]) -> Vec<String> {
    devices
        .iter()
        .map(|d| {
            let lost = d
                .lost
                .as_ref()
                .map(|m| format!("; left the pool: {m}"))
                .unwrap_or_default();
            format!(
                "{}: {} items in {:.1} s, {:.0} images/s{lost}",
                d.device, d.items, d.seconds, d.samples_per_second
            )
        })
        .collect()
}

/// Work made of independent items, each run whole on one device.
pub trait ItemWork: Sync {
    /// One item (a trial, a fraction, a group of models): fixed before the queue starts.
    type Item: Sync;
    /// What running an item gives.
    type Output: Send;

    /// The item as the user reads it in progress and error messages.
    fn label(&self, item: &Self::Item) -> String;

    /// The item's share of the work, relative to the others (its images × epochs).
    fn weight(&self, _item: &Self::Item) -> f64 {
        1.0
    }

    /// Runs `item` on `device`.
    fn run(
        &self,
        item: &Self::Item,
        device: &SelectedDevice,
        ctx: &ItemContext,
    ) -> Result<Self::Output, ItemFailure>;
}

/// A finished item, handed to the caller on the calling thread.
pub struct Done<R> {
    /// Its index in the items given.
    pub index: usize,
    /// What it gave.
    pub output: R,
    /// Where and how long it ran.
    pub placement: Placement,
}

enum Message<R> {
    Started {
        device: usize,
        item: usize,
    },
    Done {
        device: usize,
        done: Done<R>,
    },
    Lost {
        device: usize,
        item: usize,
        message: String,
    },
    Failed {
        error: StudyError,
    },
}

/// How often the calling thread looks at the cancel flag and redraws the progress.
const TICK: Duration = Duration::from_millis(150);

/// Runs every item of `items` on `devices`, each device pulling from one queue, and hands each
/// finished item to `on_done` (on this thread, in the order they finish; an error from it stops
/// the experiment). Progress goes to `reporter`: with several devices its stage is a line of
/// items done, then one line per device (its item, items done, images per second, or why it
/// left). A cancel stops every device after its current step.
pub fn spread<W: ItemWork>(
    work: &W,
    items: &[W::Item],
    devices: &[SelectedDevice],
    reporter: &mut Reporter,
    on_done: &mut dyn FnMut(Done<W::Output>) -> Result<(), StudyError>,
) -> Result<PoolReport, StudyError> {
    if devices.is_empty() {
        return Err(StudyError::Config("no device to run on".into()));
    }
    let queue = Mutex::new((0..items.len()).collect::<VecDeque<usize>>());
    let lost = Mutex::new(vec![false; items.len()]);
    let pending = AtomicUsize::new(items.len());
    let cancel = AtomicBool::new(false);
    let slots: Vec<DeviceSlot> = devices.iter().map(|_| DeviceSlot::default()).collect();
    let weights: Vec<f64> = items.iter().map(|i| work.weight(i).max(0.0)).collect();
    let mut board = Board::new(devices, items.len(), weights);
    let (tx, rx) = mpsc::channel::<Message<W::Output>>();
    let mut first_error: Option<StudyError> = None;
    std::thread::scope(|scope| {
        for (d, device) in devices.iter().enumerate() {
            let tx = tx.clone();
            let shared = Shared {
                queue: &queue,
                lost: &lost,
                pending: &pending,
                cancel: &cancel,
            };
            let slot = &slots[d];
            let spawned = std::thread::Builder::new()
                .name(format!("mnist-device-{d}"))
                .spawn_scoped(scope, move || {
                    device_loop(work, items, d, device, slot, shared, &tx)
                });
            if let Err(e) = spawned {
                board.lose(d, "-", &format!("cannot start its thread: {e}"));
            }
        }
        drop(tx);
        loop {
            match rx.recv_timeout(TICK) {
                Ok(Message::Started { device, item }) => board.start(device, item),
                Ok(Message::Done { device, done }) => {
                    board.finish(device, &done);
                    if first_error.is_none()
                        && let Err(e) = on_done(done)
                    {
                        first_error = Some(e);
                        cancel.store(true, Ordering::Relaxed);
                    }
                }
                Ok(Message::Lost {
                    device,
                    item,
                    message,
                }) => {
                    board.lose(device, &work.label(&items[item]), &message);
                }
                Ok(Message::Failed { error }) => {
                    first_error.get_or_insert(error);
                    cancel.store(true, Ordering::Relaxed);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if reporter.check().is_err() {
                cancel.store(true, Ordering::Relaxed);
            }
            let (stage, fraction) = board.progress(&slots, |i| work.label(&items[i]));
            reporter.progress(stage, fraction);
        }
    });
    let report = board.report(&slots);
    if let Some(e) = first_error {
        return Err(e);
    }
    reporter.check()?;
    let left = pending.load(Ordering::Relaxed);
    if left > 0 {
        let why: Vec<String> = report
            .losses
            .iter()
            .map(|l| format!("{} ({}): {}", l.device, l.item, l.message))
            .collect();
        return Err(StudyError::Training(format!(
            "no device left: {} of {} items finished and saved, {left} not run; run the same \
             command again to continue. Lost: {}",
            items.len() - left,
            items.len(),
            why.join("; ")
        )));
    }
    Ok(report)
}

/// What the device threads share.
#[derive(Clone, Copy)]
struct Shared<'a> {
    queue: &'a Mutex<VecDeque<usize>>,
    /// Per item: whether it was running on a device that failed.
    lost: &'a Mutex<Vec<bool>>,
    pending: &'a AtomicUsize,
    cancel: &'a AtomicBool,
}

impl Shared<'_> {
    fn next(&self) -> Option<usize> {
        loop {
            if self.cancel.load(Ordering::Relaxed) || self.pending.load(Ordering::Relaxed) == 0 {
                return None;
            }
            if let Some(i) = self.queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() {
                return Some(i);
            }
            // Items are running elsewhere; one may come back if its device fails.
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Whether `item` has already cost a device; marks that it has.
    fn lost_before(&self, item: usize) -> bool {
        let mut lost = self.lost.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut lost[item], true)
    }

    fn give_back(&self, item: usize) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_front(item);
    }
}

/// One device's thread: takes items until none is left, its device fails or the experiment
/// stops.
fn device_loop<W: ItemWork>(
    work: &W,
    items: &[W::Item],
    d: usize,
    device: &SelectedDevice,
    slot: &DeviceSlot,
    shared: Shared,
    tx: &mpsc::Sender<Message<W::Output>>,
) {
    while let Some(item) = shared.next() {
        slot.fraction.store(0f64.to_bits(), Ordering::Relaxed);
        let _ = tx.send(Message::Started { device: d, item });
        let ctx = ItemContext {
            cancel: shared.cancel,
            slot,
        };
        let started = Instant::now();
        let outcome = crate::panics::catch(|| work.run(&items[item], device, &ctx));
        let failure = match outcome {
            Ok(Ok(output)) => {
                shared.pending.fetch_sub(1, Ordering::Relaxed);
                let done = Done {
                    index: item,
                    output,
                    placement: Placement {
                        device: device.name.clone(),
                        seconds: started.elapsed().as_secs_f64(),
                    },
                };
                let _ = tx.send(Message::Done { device: d, done });
                continue;
            }
            Ok(Err(failure)) => failure,
            Err(panic) => {
                ItemFailure::Device(match device.backend {
                    Backend::Remote => format!("connection lost ({})", panic.cause()),
                    _ => format!("the backend failed ({})", panic.cause()),
                })
            }
        };
        match failure {
            ItemFailure::Device(message) => {
                let message = one_line(&message);
                if shared.lost_before(item) {
                    // The same item took down a second device: it is the item, not the devices.
                    shared.cancel.store(true, Ordering::Relaxed);
                    let error = StudyError::Training(format!(
                        "{} failed on two devices; the last said: {message}",
                        work.label(&items[item])
                    ));
                    let _ = tx.send(Message::Failed { error });
                } else {
                    shared.give_back(item);
                    let _ = tx.send(Message::Lost {
                        device: d,
                        item,
                        message,
                    });
                }
            }
            ItemFailure::Study(error) => {
                shared.cancel.store(true, Ordering::Relaxed);
                let _ = tx.send(Message::Failed { error });
            }
        }
        return;
    }
}

/// A message on one line of at most 300 characters, for progress rows and the summary.
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

/// What the calling thread knows about each device, for progress and the report.
struct Board {
    names: Vec<String>,
    running: Vec<Option<usize>>,
    items_done: Vec<usize>,
    busy_seconds: Vec<f64>,
    lost: Vec<Option<String>>,
    left_at: Vec<Option<Instant>>,
    losses: Vec<DeviceLoss>,
    weights: Vec<f64>,
    done_weight: f64,
    done: usize,
    total: usize,
    started: Instant,
}

impl Board {
    fn new(devices: &[SelectedDevice], total: usize, weights: Vec<f64>) -> Self {
        let n = devices.len();
        Self {
            names: devices.iter().map(|d| d.name.clone()).collect(),
            running: vec![None; n],
            items_done: vec![0; n],
            busy_seconds: vec![0.0; n],
            lost: vec![None; n],
            left_at: vec![None; n],
            losses: Vec::new(),
            weights,
            done_weight: 0.0,
            done: 0,
            total,
            started: Instant::now(),
        }
    }

    fn start(&mut self, device: usize, item: usize) {
        self.running[device] = Some(item);
    }

    fn finish<R>(&mut self, device: usize, done: &Done<R>) {
        self.running[device] = None;
        self.items_done[device] += 1;
        self.busy_seconds[device] += done.placement.seconds;
        self.done_weight += self.weights[done.index];
        self.done += 1;
    }

    fn lose(&mut self, device: usize, item: &str, message: &str) {
        self.running[device] = None;
        self.left_at[device] = Some(Instant::now());
        self.lost[device] = Some(message.to_string());
        self.losses.push(DeviceLoss {
            device: self.names[device].clone(),
            item: item.to_string(),
            message: message.to_string(),
        });
    }

    /// Images per second over the device's time in the pool (until it left).
    fn rate(&self, slots: &[DeviceSlot], device: usize) -> f64 {
        let until = self.left_at[device].unwrap_or_else(Instant::now);
        let seconds = until.duration_since(self.started).as_secs_f64().max(1e-3);
        slots[device].samples.load(Ordering::Relaxed) as f64 / seconds
    }

    /// The stage (with several devices, a first line of items done, then a line per device)
    /// and the share of the work done.
    fn progress(&self, slots: &[DeviceSlot], label: impl Fn(usize) -> String) -> (String, f64) {
        let total_weight: f64 = self.weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        let mut weight = self.done_weight;
        let mut lines = vec![format!("{} of {} done", self.done, self.total)];
        for (d, name) in self.names.iter().enumerate() {
            let state = match (&self.lost[d], self.running[d]) {
                (Some(why), _) => format!("left the pool: {why}"),
                (None, Some(item)) => {
                    let f = f64::from_bits(slots[d].fraction.load(Ordering::Relaxed));
                    weight += self.weights[item] * f;
                    format!("{} {:.0} %", label(item), f * 100.0)
                }
                (None, None) => "idle".to_string(),
            };
            if self.names.len() == 1 {
                lines[0] = format!("{} · {state}", lines[0]);
            } else {
                lines.push(format!(
                    "{name}: {state}; {} done, {:.0} images/s",
                    self.items_done[d],
                    self.rate(slots, d)
                ));
            }
        }
        (lines.join("\n"), weight / total_weight)
    }

    fn report(&self, slots: &[DeviceSlot]) -> PoolReport {
        PoolReport {
            devices: (0..self.names.len())
                .map(|d| DeviceTally {
                    device: self.names[d].clone(),
                    items: self.items_done[d],
                    seconds: self.busy_seconds[d],
                    samples_per_second: self.rate(slots, d),
                    lost: self.lost[d].clone(),
                })
                .collect(),
            losses: self.losses.clone(),
        }
    }
}
