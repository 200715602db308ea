//! The probe side of [`Workbench`]: one probe at a time on the `mnist-probe` worker (progress,
//! cancel), the latest result of each probe with the model version it belongs to, and the
//! digits the user drew and labelled (kept in `<runs>/drawn-digits` as an MNIST-style
//! folder, written after every label).

use std::path::PathBuf;
use std::sync::Arc;

use super::state::Workbench;
use crate::probe::Progress;
use crate::probe::ablation::AblationResults;
use crate::probe::cross_dataset::CrossDatasetResults;
use crate::probe::embed::Embedding;
use crate::probe::feedback::DrawnDigits;
use crate::probe::row_sweep::{BarSweep, BatchSweep, EraseSweep};
use crate::probe::saliency::SaliencyMaps;
use crate::probe::worker::{ProbeEvent, ProbeKind, ProbeRequest, ProbeResults, ProbeTask, spawn_probe};

/// A result and the model version it was computed with.
#[derive(Debug, Clone)]
pub struct Probed<T> {
    /// The result.
    pub value: T,
    /// Model version.
    pub model_version: u64,
}

/// The running probe.
pub struct RunningProbe {
    task: ProbeTask,
    /// Which probe.
    pub kind: ProbeKind,
    /// The latest progress.
    pub progress: Option<Progress>,
    model_version: u64,
    /// Started by the pad changing (not by a click): dropped quietly on error, and replaced
    /// (cancelled) when the user starts a probe.
    pub automatic: bool,
}

/// One image's row sweeps.
#[derive(Debug, Clone)]
pub struct RowSweepView {
    /// The image whose rows were erased (784 intensities).
    pub image: Vec<f32>,
    /// The image the bar was painted on.
    pub bar_image: Vec<f32>,
    /// Erased ranges.
    pub erase: Arc<EraseSweep>,
    /// Painted bar.
    pub bar: Arc<BarSweep>,
}

/// Probe state shared by the panels.
#[derive(Default)]
pub struct ProbeState {
    /// The running probe, if any.
    pub running: Option<RunningProbe>,
    /// The latest row sweep.
    pub row_sweep: Option<Probed<RowSweepView>>,
    /// The latest batch sweep.
    pub batch_sweep: Option<Probed<Arc<BatchSweep>>>,
    /// The latest ablation study.
    pub ablation: Option<Probed<Arc<AblationResults>>>,
    /// The latest saliency maps, with their image.
    pub saliency: Option<Probed<(Vec<f32>, Arc<SaliencyMaps>)>>,
    /// The latest embedding.
    pub embedding: Option<Probed<Arc<Embedding>>>,
    /// The latest cross-dataset run.
    pub cross: Option<Probed<Arc<CrossDatasetResults>>>,
    /// The last failure per probe.
    pub error: Option<(ProbeKind, String)>,
    /// Drawn and labelled digits.
    pub drawn: DrawnDigits,
    drawn_loaded: bool,
    /// Why the saved drawings could not be read: while set, nothing is written over them.
    pub drawn_unreadable: Option<String>,
}

impl ProbeState {
    /// Drops the results computed over a dataset no longer in use (batch sweep, ablation,
    /// embedding, cross-dataset) and cancels a running probe; results on the pad image stay.
    pub fn forget_data_results(&mut self) {
        self.running = None; // dropping the task cancels it
        self.batch_sweep = None;
        self.ablation = None;
        self.embedding = None;
        self.cross = None;
    }

    /// Whether a probe of `kind` runs.
    pub fn is_running(&self, kind: ProbeKind) -> bool {
        self.running.as_ref().is_some_and(|r| r.kind == kind)
    }

    /// The error of `kind`, if its last attempt failed.
    pub fn error_of(&self, kind: ProbeKind) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(k, _)| *k == kind)
            .map(|(_, e)| e.as_str())
    }
}

impl Workbench {
    /// Starts a probe of the current model; refused (with a notice) while another runs or
    /// without a model or data. `automatic` marks a row sweep that follows the pad.
    pub fn start_probe(&mut self, request: ProbeRequest, automatic: bool) {
        match &self.probes.running {
            // A probe the user asked for replaces one that only follows the pad.
            Some(r) if r.automatic && !automatic => self.probes.running = None,
            Some(_) => {
                if !automatic {
                    self.notify("another probe is running; cancel it first", true);
                }
                return;
            }
            None => {}
        }
        let Some(m) = &self.model else {
            self.notify("open or train a model first", true);
            return;
        };
        let Some(data) = self.dataset().cloned() else {
            self.notify("no data loaded yet", true);
            return;
        };
        let kind = request.kind();
        let (model, device, version) = (m.model.clone(), m.device.clone(), m.version);
        match spawn_probe(request, model, data, device, self.wake.clone()) {
            Ok(task) => {
                self.probes.error = None;
                self.probes.running = Some(RunningProbe {
                    task,
                    kind,
                    progress: None,
                    model_version: version,
                    automatic,
                });
            }
            Err(e) => self.notify(format!("cannot start the probe worker: {e}"), true),
        }
    }

    /// Asks the running probe to stop.
    pub fn cancel_probe(&mut self) {
        if let Some(r) = &self.probes.running {
            r.task.cancel();
        }
    }

    /// Drains the probe worker's events; called once per frame.
    pub(super) fn probes_logic(&mut self) {
        if !self.probes.drawn_loaded {
            self.probes.drawn_loaded = true;
            let dir = self.drawn_dir();
            if dir.is_dir() {
                match DrawnDigits::load(&dir) {
                    Ok(d) => self.probes.drawn = d,
                    Err(e) => {
                        let reason = format!(
                            "The drawn digits in {} cannot be read ({e}); they are kept as they are and \
                             new labels are not saved until you move that folder away.",
                            dir.display()
                        );
                        self.notify(reason.clone(), true);
                        self.probes.drawn_unreadable = Some(reason);
                    }
                }
            }
        }
        let mut finished = None;
        if let Some(running) = &mut self.probes.running {
            while let Ok(event) = running.task.events.try_recv() {
                match event {
                    ProbeEvent::Progress(p) => running.progress = Some(p),
                    other => finished = Some((other, running.kind, running.model_version, running.automatic)),
                }
            }
        }
        let Some((event, kind, version, automatic)) = finished else {
            return;
        };
        self.probes.running = None;
        match event {
            ProbeEvent::Finished(results) => self.take_probe(results, version),
            ProbeEvent::Cancelled => self.notify("probe cancelled", false),
            ProbeEvent::Failed(message) => {
                if !automatic {
                    self.notify(format!("probe failed: {message}"), true);
                }
                self.probes.error = Some((kind, message));
            }
            ProbeEvent::Progress(_) => {}
        }
    }

    fn take_probe(&mut self, results: ProbeResults, model_version: u64) {
        let p = &mut self.probes;
        match results {
            ProbeResults::RowSweep {
                image,
                bar_image,
                erase,
                bar,
            } => {
                p.row_sweep = Some(Probed {
                    value: RowSweepView {
                        image,
                        bar_image,
                        erase,
                        bar,
                    },
                    model_version,
                })
            }
            ProbeResults::BatchSweep(value) => p.batch_sweep = Some(Probed { value, model_version }),
            ProbeResults::Ablation(value) => p.ablation = Some(Probed { value, model_version }),
            ProbeResults::Saliency { image, maps } => {
                p.saliency = Some(Probed {
                    value: (image, maps),
                    model_version,
                })
            }
            ProbeResults::Embed(value) => p.embedding = Some(Probed { value, model_version }),
            ProbeResults::CrossDataset(value) => p.cross = Some(Probed { value, model_version }),
        }
    }

    /// Where drawn and labelled digits are kept.
    pub fn drawn_dir(&self) -> PathBuf {
        self.options.runs_root.join("drawn-digits")
    }

    /// Records a labelled drawing and writes the set (a failure is reported, the drawing kept).
    pub fn label_drawing(&mut self, pixels: &[f32], label: u8, predicted: u8) {
        self.probes.drawn.add(pixels, label, predicted);
        self.save_drawn();
    }

    /// Removes the last labelled drawing.
    pub fn undo_drawing(&mut self) {
        if self.probes.drawn.undo().is_some() {
            if self.probes.drawn_unreadable.is_some() {
                return; // the unreadable folder stays as it is
            }
            if self.probes.drawn.digits.is_empty() {
                let dir = self.drawn_dir();
                for name in crate::data::sources::MNIST_FILES {
                    // The set is empty: remove its files so it is not reopened.
                    if let Err(e) = std::fs::remove_file(dir.join(name))
                        && e.kind() != std::io::ErrorKind::NotFound
                    {
                        self.notify(format!("cannot remove {}: {e}", dir.join(name).display()), true);
                    }
                }
            } else {
                self.save_drawn();
            }
        }
    }

    fn save_drawn(&mut self) {
        let dir = self.drawn_dir();
        if let Some(reason) = &self.probes.drawn_unreadable {
            self.notify(format!("Not saved: {reason}"), true);
            return;
        }
        if let Err(e) = self.probes.drawn.save(&dir, true) {
            self.notify(
                format!("cannot save the drawn digits in {}: {e}", dir.display()),
                true,
            );
        }
    }
}
