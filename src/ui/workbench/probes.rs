//! The probe side of [`Workbench`]: one probe at a time on the `mnist-probe` worker (progress,
//! cancel), the latest result of each probe with what it was computed from, and the
//! digits the user drew and labelled (kept in `<runs>/drawn-digits` as an MNIST-style
//! folder, written after every label).

use std::path::PathBuf;
use std::sync::Arc;

use super::Workbench;
use crate::jobs::Outcome;
use crate::probe::Progress;
use crate::probe::ablation::AblationResults;
use crate::probe::cross_dataset::CrossDatasetResults;
use crate::probe::embed::Embedding;
use crate::probe::feedback::DrawnDigits;
use crate::probe::row_sweep::{BarSweep, BatchSweep, EraseSweep};
use crate::probe::saliency::SaliencyMaps;
use crate::probe::worker::{ProbeKind, ProbeRequest, ProbeResults, spawn_probe};
use crate::ui::job_slot::{JobSlot, Stamp, Stamped, retain_data};

/// What the running probe is (the key of its [`JobSlot`]).
#[derive(Debug, Clone, Copy)]
pub struct ProbeRun {
    /// Which probe.
    pub kind: ProbeKind,
    /// What it computes from.
    pub from: Stamp,
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
    pub running: JobSlot<Progress, ProbeResults, ProbeRun>,
    /// The latest row sweep.
    pub row_sweep: Option<Stamped<RowSweepView>>,
    /// The latest batch sweep.
    pub batch_sweep: Option<Stamped<Arc<BatchSweep>>>,
    /// The latest ablation study.
    pub ablation: Option<Stamped<Arc<AblationResults>>>,
    /// The latest saliency maps, with their image.
    pub saliency: Option<Stamped<(Vec<f32>, Arc<SaliencyMaps>)>>,
    /// The latest embedding.
    pub embedding: Option<Stamped<Arc<Embedding>>>,
    /// The latest cross-dataset run.
    pub cross: Option<Stamped<Arc<CrossDatasetResults>>>,
    /// The last failure per probe.
    pub error: Option<(ProbeKind, String)>,
    /// Drawn and labelled digits.
    pub drawn: DrawnDigits,
    drawn_loaded: bool,
    /// Why the saved drawings could not be read: while set, nothing is written over them.
    pub drawn_unreadable: Option<String>,
    /// The model's accuracy on the drawn digits `(digits, accuracy)`, when last asked for.
    pub drawn_evaluation: Option<Stamped<(usize, f64)>>,
}

impl ProbeState {
    /// Drops the results computed over a dataset other than the one of `generation` (batch
    /// sweep, ablation, embedding, cross-dataset) and cancels a probe started on it; results
    /// on one image (row sweep, saliency) index no dataset and stay.
    pub fn forget_other_data(&mut self, generation: u64) {
        if self
            .running
            .key()
            .is_some_and(|r| r.from.data_generation != generation)
        {
            self.running.clear();
        }
        retain_data(&mut self.batch_sweep, generation);
        retain_data(&mut self.ablation, generation);
        retain_data(&mut self.embedding, generation);
        retain_data(&mut self.cross, generation);
    }

    /// Whether a probe of `kind` runs.
    pub fn is_running(&self, kind: ProbeKind) -> bool {
        self.running.key().is_some_and(|r| r.kind == kind)
    }

    /// The running probe, unless it only follows the pad.
    pub fn running_by_hand(&self) -> Option<ProbeKind> {
        self.running.key().filter(|r| !r.automatic).map(|r| r.kind)
    }

    /// The progress of the probe of `kind` the user started (`Some(None)` before the first).
    pub fn progress_of(&self, kind: ProbeKind) -> Option<Option<&Progress>> {
        self.running
            .progress()
            .filter(|_| self.running_by_hand() == Some(kind))
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
        match self.probes.running.key() {
            // A probe the user asked for replaces one that only follows the pad.
            Some(r) if r.automatic && !automatic => self.probes.running.clear(),
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
        let (model, device) = (m.model.clone(), m.device.clone());
        let from = self.stamp();
        match spawn_probe(request, model, data, device, self.wake.clone()) {
            Ok(task) => {
                self.probes.error = None;
                self.probes.running.start(
                    task,
                    ProbeRun {
                        kind,
                        from,
                        automatic,
                    },
                );
            }
            Err(e) => self.notify(format!("cannot start the probe worker: {e}"), true),
        }
    }

    /// Asks the running probe to stop.
    pub fn cancel_probe(&mut self) {
        self.probes.running.cancel();
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
        let Some((run, outcome)) = self.probes.running.poll() else {
            return;
        };
        match outcome {
            // A result of other data is never shown (its job is normally cancelled first).
            Outcome::Finished(results) if run.from.data_generation == self.data.generation => {
                self.take_probe(results, run.from)
            }
            Outcome::Finished(_) => {}
            Outcome::Cancelled => self.notify("probe cancelled", false),
            Outcome::Failed(message) => {
                if !run.automatic {
                    self.notify(format!("probe failed: {message}"), true);
                }
                self.probes.error = Some((run.kind, message));
            }
        }
    }

    fn take_probe(&mut self, results: ProbeResults, from: Stamp) {
        let p = &mut self.probes;
        match results {
            ProbeResults::RowSweep {
                image,
                bar_image,
                erase,
                bar,
            } => {
                p.row_sweep = Some(Stamped {
                    value: RowSweepView {
                        image,
                        bar_image,
                        erase,
                        bar,
                    },
                    from,
                })
            }
            ProbeResults::BatchSweep(value) => p.batch_sweep = Some(Stamped { value, from }),
            ProbeResults::Ablation(value) => p.ablation = Some(Stamped { value, from }),
            ProbeResults::Saliency { image, maps } => {
                p.saliency = Some(Stamped {
                    value: (image, maps),
                    from,
                })
            }
            ProbeResults::Embed(value) => p.embedding = Some(Stamped { value, from }),
            ProbeResults::CrossDataset(value) => p.cross = Some(Stamped { value, from }),
        }
    }

    /// Where drawn and labelled digits are kept.
    pub fn drawn_dir(&self) -> PathBuf {
        self.options.runs_root.join("drawn-digits")
    }

    /// Records a labelled drawing and writes the set (a failure is reported, the drawing kept).
    pub(super) fn label_drawing(&mut self, pixels: &[f32], label: u8, predicted: u8) {
        self.probes.drawn.add(pixels, label, predicted);
        self.save_drawn();
    }

    /// Removes the last labelled drawing.
    pub(super) fn undo_drawing(&mut self) {
        if self.probes.drawn.undo().is_some() {
            if self.probes.drawn_unreadable.is_some() {
                return; // the unreadable folder stays as it is
            }
            self.save_drawn();
        }
    }

    /// The current model's accuracy on every drawn digit (a few dozen images: one pass).
    pub(super) fn evaluate_drawings(&mut self) {
        let from = self.stamp();
        let Some(m) = &self.model else { return };
        let set = self.probes.drawn.to_digits();
        if set.is_empty() {
            return;
        }
        let report = crate::train::eval::evaluate(&m.model, &set, &m.device);
        self.probes.drawn_evaluation = Some(Stamped {
            value: (set.len(), report.accuracy),
            from,
        });
    }

    /// Writes the drawn digits into a folder the user chose (never over MNIST-named files), on
    /// the export job.
    pub(super) fn save_drawings_into(&mut self, dir: &std::path::Path) {
        let drawn = self.probes.drawn.clone();
        let target = dir.to_path_buf();
        let kind = super::writes::WriteKind::Drawings;
        self.start_write(dir.to_path_buf(), kind, move || {
            drawn
                .save_into(&target)
                .map(|()| vec![target.clone()])
                .map_err(|e| format!("cannot save into {}: {e}", target.display()))
        });
    }

    fn save_drawn(&mut self) {
        let dir = self.drawn_dir();
        if let Some(reason) = &self.probes.drawn_unreadable {
            self.notify(format!("Not saved: {reason}"), true);
            return;
        }
        if let Err(e) = self.probes.drawn.sync_to(&dir) {
            self.notify(
                format!("cannot save the drawn digits in {}: {e}", dir.display()),
                true,
            );
        }
    }
}
