//! The run-folder side of [`Workbench`]: opening a run (its model and curves), comparing
//! runs, saving the model as a run, deleting, importing from and exporting to PyTorch, and
//! exporting curves. The file work itself is the engine's (`run`, `interop`); these
//! methods apply it to the workbench and report what happened.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use super::{ActiveModel, Overlay, TrainingSession, Workbench};
use crate::jobs::{self, JobError, Outcome};
use crate::run::{RunDir, list_runs, utc_timestamp};
use crate::train::history::RunHistory;

/// What an import job wrote.
pub struct ImportedRun {
    /// The new run folder.
    pub dir: std::path::PathBuf,
    /// The architecture it holds, for the user.
    pub description: String,
    /// The checkpoint it came from.
    pub source: std::path::PathBuf,
}

/// Run folders tried at start before giving up on opening one.
const STARTUP_TRIES: usize = 20;

impl Workbench {
    /// Makes a run's checkpoint the prediction model. A damaged checkpoint or one of another
    /// architecture leaves everything as it was and says why.
    pub fn open_run(&mut self, path: &Path, quiet: bool) {
        if let Err(e) = self.try_open_run(path, quiet)
            && !quiet
        {
            self.notify(format!("Cannot open run: {e}"), true);
        }
    }

    /// At start: opens the newest run that loads. When newer runs cannot be opened (a
    /// damaged `config.json`, a `model.bpk` of another architecture), the status bar says why
    /// for the newest of them and which run was opened instead. At most [`STARTUP_TRIES`]
    /// run folders are tried, so a runs folder full of damaged runs cannot stall the start.
    pub(super) fn open_newest_loadable_run(&mut self) {
        let name = |path: &Path| {
            path.file_name()
                .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
        };
        let mut newest_failure: Option<String> = None;
        let candidates: Vec<(PathBuf, Result<(), String>)> = self
            .runs
            .iter()
            .filter(|r| r.has_checkpoint || r.config.is_err())
            .take(STARTUP_TRIES)
            .map(|r| (r.path.clone(), r.config.as_ref().map(|_| ()).map_err(Clone::clone)))
            .collect();
        for (path, config) in candidates {
            let opened = match config {
                Err(reason) => Err(reason),
                Ok(()) => self.try_open_run(&path, true).map_err(|e| e.to_string()),
            };
            match opened {
                Ok(()) => {
                    if let Some(reason) = newest_failure {
                        self.notify(
                            format!("Opened {}: the newest run was not opened ({reason})", name(&path)),
                            true,
                        );
                    }
                    return;
                }
                Err(reason) if newest_failure.is_none() => newest_failure = Some(reason),
                Err(_) => {}
            }
        }
        if let Some(reason) = newest_failure {
            self.notify(format!("No run could be opened: the newest failed with: {reason}"), true);
        }
        if self.options.bundled_model {
            self.open_bundled_model();
        }
    }

    /// Opens the bundled model ([`crate::run::bundled`]): what the pad answers with when no
    /// run of the user's opens.
    pub fn open_bundled_model(&mut self) {
        let opened = crate::run::bundled::bundled_run_dir()
            .map_err(|e| e.to_string())
            .and_then(|dir| self.try_open_run(&dir, true).map_err(|e| e.to_string()));
        match opened {
            Ok(()) => {
                if let Some(m) = &mut self.model {
                    m.source = crate::run::bundled::label();
                }
            }
            Err(e) => self.notify(format!("The bundled model did not open: {e}"), true),
        }
    }

    /// Opens the run at `path`: its model answers the pad and its curves show.
    fn try_open_run(&mut self, path: &Path, quiet: bool) -> Result<(), crate::run::RunError> {
        let loaded = RunDir::open(path).and_then(|(dir, config)| {
            let device = Device::flex();
            let model = dir.load_model(&config.train.model, &device)?;
            // Its curves, when readable (a run without metrics still opens).
            let events = dir.read_history().ok();
            Ok((model, device, config, events))
        });
        match loaded {
            Ok((model, device, config, events)) => {
                self.model_versions += 1;
                // Show the run's curves unless a run is training right now.
                if !self.is_training()
                    && let Some(events) = events
                {
                    let history = RunHistory::from_events(&events, config.train.epochs);
                    self.training = Some(TrainingSession::recorded(
                        history,
                        config.train.clone(),
                        Some(path.to_path_buf()),
                    ));
                }
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                if !quiet {
                    self.notify(format!("Opened run {name}"), false);
                }
                self.model = Some(ActiveModel {
                    model,
                    device,
                    spec: config.train.model.clone(),
                    source: format!("run {name}"),
                    version: self.model_versions,
                    run_dir: Some(path.to_path_buf()),
                    run_epochs: Some(config.train.epochs),
                });
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    pub(super) fn delete_run(&mut self, path: &Path) {
        let active = self
            .training
            .as_ref()
            .is_some_and(|s| s.is_active() && s.run_dir.as_deref() == Some(path));
        if active {
            self.notify("That run is training; stop it before deleting.", true);
            return;
        }
        match crate::run::delete_run_folder(path) {
            Ok(()) => {
                self.overlays.retain(|o| o.path != path);
                self.notify(format!("Deleted {}", path.display()), false);
            }
            Err(reason) => self.notify(format!("Not deleted: {reason}"), true),
        }
        self.refresh_runs();
    }

    /// Imports a PyTorch checkpoint as a run folder under the runs folder on the
    /// `mnist-import` job (reading and converting a large file never pauses the window); once
    /// written, the run is opened. [`Workbench::take_import_outcome`] says how it went.
    pub fn start_import(&mut self, request: crate::ui::import_dialog::ImportRequest) {
        let root = self.options.runs_root.clone();
        let job = jobs::spawn("mnist-import", self.wake.clone(), move |_| {
            let failed = |e: &dyn std::fmt::Display| JobError::Failed(e.to_string());
            let imported = crate::interop::import_checkpoint(&request.path, &request.arch, &request.maps)
                .map_err(|e| failed(&e))?;
            let dir = crate::interop::write_imported_run(&imported, &root).map_err(|e| failed(&e))?;
            Ok(ImportedRun {
                dir: dir.path,
                description: imported.spec.describe(),
                source: request.path,
            })
        });
        match job {
            Ok(job) => {
                self.import_outcome = None;
                self.imports.start(job, ());
            }
            Err(e) => self.import_outcome = Some(Err(format!("cannot start the import: {e}"))),
        }
    }

    /// Whether an import is being read and written.
    pub fn is_importing(&self) -> bool {
        self.imports.is_running()
    }

    /// How the last import ended (taken once): `Err` holds the reason for the import window.
    pub fn take_import_outcome(&mut self) -> Option<Result<(), String>> {
        self.import_outcome.take()
    }

    /// Opens a finished import's run and says so; keeps a failure for the import window.
    pub(super) fn imports_logic(&mut self) {
        let Some(((), outcome)) = self.imports.poll() else {
            return;
        };
        self.import_outcome = Some(match outcome {
            Outcome::Finished(run) => {
                self.refresh_runs();
                self.open_run(&run.dir, true);
                let name = run
                    .dir
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                self.notify(
                    format!(
                        "Imported {} as {} (run {name})",
                        run.source.display(),
                        run.description
                    ),
                    false,
                );
                Ok(())
            }
            Outcome::Failed(reason) => Err(reason),
            Outcome::Cancelled => Err("the import was cancelled".into()),
        });
    }

    /// Writes the model in use as `.safetensors` with PyTorch's names plus `model.py` beside
    /// it. The file dialog has confirmed replacing the weights file; an existing `model.py` is
    /// never replaced.
    pub fn export_model(&mut self, path: &Path) {
        let Some(m) = &self.model else {
            self.notify("No model to export yet: train one or open a run.", true);
            return;
        };
        let module = path.with_file_name("model.py");
        // A link (even a dangling one) counts as there: it is never replaced unasked.
        if std::fs::symlink_metadata(&module).is_ok() {
            self.notify(
                format!(
                    "{} exists; export into another folder (nothing was written)",
                    module.display()
                ),
                true,
            );
            return;
        }
        match crate::interop::export(&m.spec, &m.model.to_plain(), path, true) {
            Ok(w) => self.notify(
                format!(
                    "Exported {} and {} (in Python: from model import load)",
                    w.weights.display(),
                    w.module.display()
                ),
                false,
            ),
            Err(e) => self.notify(format!("Cannot export: {e}"), true),
        }
    }

    /// Writes the current model as a run folder (config.json + model.bpk) at `path`, which
    /// Open run… can load again; an existing folder is never overwritten.
    pub(super) fn save_model_to(&mut self, path: &Path) {
        let Some(m) = &self.model else {
            self.notify("No model to save yet: train one or open a run.", true);
            return;
        };
        let config = m
            .run_dir
            .as_ref()
            .and_then(|d| RunDir::open(d).ok())
            .map(|(_, c)| c);
        let Some(mut config) = config else {
            self.notify("The model has no run configuration to save with.", true);
            return;
        };
        config.created = utc_timestamp();
        let summary = m.run_dir.as_ref().map(|d| d.join("summary.json"));
        let model = m.model.clone();
        self.write_model(model, config, path.to_path_buf(), summary);
    }

    pub(super) fn set_overlay(&mut self, path: &Path, on: bool) {
        self.overlays.retain(|o| o.path != path);
        if !on {
            return;
        }
        let loaded = RunDir::open(path).and_then(|(dir, config)| {
            dir.read_history()
                .map(|events| RunHistory::from_events(&events, config.train.epochs))
        });
        match loaded {
            Ok(history) => self.overlays.push(Overlay {
                label: path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                path: path.to_path_buf(),
                history,
            }),
            Err(e) => self.notify(format!("Cannot read the run's metrics: {e}"), true),
        }
    }

    /// Re-reads the runs folder.
    pub fn refresh_runs(&mut self) {
        self.runs = list_runs(&self.options.runs_root);
    }

    pub(super) fn export_curves(&mut self, path: &Path) {
        let Some(session) = &self.training else {
            self.notify("No training run to export yet.", true);
            return;
        };
        let current = session.run_dir.as_ref().and_then(|d| d.file_name()).map_or_else(
            || format!("run {}", session.history.run_id),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut runs = vec![(current, &session.history)];
        runs.extend(self.overlays.iter().map(|o| (o.label.clone(), &o.history)));
        let csv = crate::train::history::curves_csv(&runs);
        let kind = super::writes::WriteKind::Curves;
        self.write_file(path.to_path_buf(), kind, move || Ok(csv.into_bytes()));
    }
}
