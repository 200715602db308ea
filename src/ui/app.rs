//! The eframe app: menu bar, status bar, keyboard shortcuts, the tile layout of panels, and
//! persistence of layout and panel settings. `logic` drains worker events into the
//! [`Workbench`]; `ui` only draws and queues actions.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use egui::{Key, KeyboardShortcut, Modifiers};

use super::AppOptions;
use super::layout::{PanelKind, TileBehavior, contains, default_tree, reopen};
use super::panels::Panels;
use super::tours::{TOURS, TourState};
use super::workbench::{Action, PadEdit, Workbench};
use crate::train::Command;
use crate::train::history::RunPhase;

/// Versioned: a layout saved before the probe and experiment groups existed is not restored.
const LAYOUT_KEY: &str = "layout-v2";
const SETTINGS_KEY: &str = "panel-settings";

/// Open run… (Ctrl+O).
pub const OPEN_RUN: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
/// Open data folder… (Ctrl+Shift+O).
pub const OPEN_DATA: KeyboardShortcut =
    KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::O);
/// Save model as… (Ctrl+S).
pub const SAVE_MODEL: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
/// Pad undo (Ctrl+Z).
pub const UNDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
/// Pad redo (Ctrl+Shift+Z).
pub const REDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::Z);
/// Start training with the form's settings (Ctrl+Enter).
pub const START: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Enter);
/// Pause or resume training (Ctrl+P).
pub const PAUSE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::P);
/// Stop training (Ctrl+.).
pub const STOP: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Period);

/// The workbench window: menu, status bar and the tiles of panels over one [`Workbench`].
pub struct WorkbenchApp {
    /// Shared state (public so tests and benchmarks can look inside).
    pub workbench: Workbench,
    /// Every registered panel, shown or not (a closed panel keeps its state).
    pub panels: Panels,
    tree: egui_tiles::Tree<PanelKind>,
    show_shortcuts: bool,
    /// The "Import PyTorch model" window, while open.
    pub import: Option<super::import_dialog::ImportDialog>,
    /// The guided tour shown in the right side panel, while open.
    pub tour: Option<TourState>,
}

impl WorkbenchApp {
    /// Creates the app from eframe's creation context, restoring layout and settings.
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Self {
        let restore = options.restore;
        let mut app = Self::with_context(&cc.egui_ctx, options);
        if restore && let Some(storage) = cc.storage {
            if let Some(tree) = eframe::get_value::<egui_tiles::Tree<PanelKind>>(storage, LAYOUT_KEY) {
                app.tree = tree;
            }
            if let Some(settings) = eframe::get_value::<Vec<(String, String)>>(storage, SETTINGS_KEY) {
                app.panels.load_settings(&settings);
            }
        }
        app
    }

    /// Creates the app on a bare egui context (tests, benchmarks).
    pub fn with_context(ctx: &egui::Context, options: AppOptions) -> Self {
        let repaint = ctx.clone();
        let import = options
            .import
            .clone()
            .map(super::import_dialog::ImportDialog::new);
        // Workers call this after each event; egui coalesces the requests.
        let wake: Arc<dyn Fn() + Send + Sync> =
            Arc::new(move || repaint.request_repaint_after(Duration::from_millis(30)));
        Self {
            workbench: Workbench::new(options, wake),
            panels: Panels::new(),
            tree: default_tree(),
            show_shortcuts: false,
            import,
            tour: None,
        }
    }

    /// Drains worker events (once per frame, before [`Self::draw`]).
    pub fn logic_step(&mut self) {
        self.workbench.logic();
        self.panels.logic(&self.workbench);
    }

    /// Draws the whole window into `ui`.
    pub fn draw(&mut self, ui: &mut egui::Ui) {
        self.shortcuts(ui.ctx());
        self.app_requests();
        egui::Panel::top("menu").show(ui, |ui| self.menu_ui(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_ui(ui));
        self.tour_ui(ui);
        egui::CentralPanel::default().show(ui, |ui| {
            let active_tabs = super::layout::active_tabs(&self.tree);
            let mut behavior = TileBehavior {
                panels: &mut self.panels,
                workbench: &mut self.workbench,
                active_tabs,
            };
            self.tree.ui(&mut behavior, ui);
        });
        if self.show_shortcuts {
            egui::Window::new("Keyboard shortcuts")
                .open(&mut self.show_shortcuts)
                .resizable(false)
                .show(ui.ctx(), |ui| {
                    egui::Grid::new("shortcuts").show(ui, |ui| {
                        let fmt = |s: &KeyboardShortcut| ui.ctx().format_shortcut(s);
                        for (keys, what) in [
                            (fmt(&START), "Start training"),
                            (fmt(&PAUSE), "Pause / resume training"),
                            (fmt(&STOP), "Stop training"),
                            (fmt(&UNDO), "Undo the last pad edit"),
                            (fmt(&REDO), "Redo"),
                            ("B / E".to_string(), "Pad brush / eraser"),
                            (fmt(&OPEN_RUN), "Open run…"),
                            (fmt(&OPEN_DATA), "Open data folder…"),
                            (fmt(&SAVE_MODEL), "Save model as…"),
                        ] {
                            ui.monospace(keys);
                            ui.label(what);
                            ui.end_row();
                        }
                    });
                });
        }
        self.import_ui(ui.ctx());
        // Apply what this frame asked for right away, so the next frame shows it.
        self.workbench.apply_actions();
    }

    /// Carries out what panels asked of the app ([`Action::ShowPanel`], [`Action::StartTour`]).
    fn app_requests(&mut self) {
        for request in std::mem::take(&mut self.workbench.app_requests) {
            match request {
                Action::ShowPanel(title) => match PanelKind::ALL.iter().find(|k| k.title() == title) {
                    Some(&kind) => super::layout::show(&mut self.tree, kind),
                    None => self.workbench.notify(format!("no panel called {title}"), true),
                },
                Action::StartTour(id) => match super::tours::find(id) {
                    Some(tour) => self.tour = Some(TourState::new(tour)),
                    None => self.workbench.notify(format!("no tour called {id}"), true),
                },
                _ => {}
            }
        }
    }

    /// The open tour, in a side panel on the right.
    fn tour_ui(&mut self, ui: &mut egui::Ui) {
        let Some(state) = &mut self.tour else { return };
        state.update(&self.workbench);
        let workbench = &mut self.workbench;
        let open = egui::Panel::right("tour")
            .resizable(true)
            .default_size(360.0)
            .min_size(260.0)
            .show(ui, |ui| super::tours::tour_ui(ui, state, workbench))
            .inner;
        if !open {
            self.tour = None;
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        let typing = ctx.egui_wants_keyboard_input();
        let pressed = |s: &KeyboardShortcut| ctx.input_mut(|i| i.consume_shortcut(s));
        // Longer combinations first: Ctrl+Shift+Z must not be read as Ctrl+Z.
        if pressed(&OPEN_DATA) {
            self.open_data_folder();
        }
        if pressed(&OPEN_RUN) {
            self.open_run_dialog();
        }
        if pressed(&SAVE_MODEL) {
            self.save_model_dialog();
        }
        if !typing {
            if pressed(&REDO) {
                self.workbench.act(Action::Pad(PadEdit::Redo));
            }
            if pressed(&UNDO) {
                self.workbench.act(Action::Pad(PadEdit::Undo));
            }
        }
        if pressed(&START) {
            match self.workbench.form_config.clone() {
                Ok(config) => self.workbench.act(Action::StartTraining(config)),
                Err(message) => self.workbench.notify(format!("Cannot start: {message}"), true),
            }
        }
        if pressed(&PAUSE) {
            let paused = self.workbench.training.as_ref().is_some_and(|s| s.paused);
            self.workbench.act(Action::Training(if paused {
                Command::Resume
            } else {
                Command::Pause
            }));
        }
        if pressed(&STOP) {
            self.workbench.act(Action::Training(Command::Stop));
        }
        if ctx.input(|i| i.key_pressed(Key::F1)) {
            self.show_shortcuts = !self.show_shortcuts;
        }
    }

    fn open_data_folder(&mut self) {
        if let Some(folder) = rfd::FileDialog::new().pick_folder() {
            let request = crate::data::sources::DataRequest {
                folder: Some(folder),
                ..self.workbench.options.data.clone()
            };
            self.workbench.act(Action::LoadData(request));
        }
    }

    fn open_run_dialog(&mut self) {
        let start = std::fs::canonicalize(&self.workbench.options.runs_root).ok();
        let mut dialog = rfd::FileDialog::new();
        if let Some(dir) = start {
            dialog = dialog.set_directory(dir);
        }
        if let Some(folder) = dialog.pick_folder() {
            self.workbench.act(Action::OpenRun(folder));
        }
    }

    /// A checkpoint dropped on the window opens the import window (pictures go to the pad).
    fn import_ui(&mut self, ctx: &egui::Context) {
        let dropped: Vec<std::path::PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| super::import_dialog::is_checkpoint(p))
                .collect()
        });
        if let Some(path) = dropped.into_iter().next() {
            self.import = Some(super::import_dialog::ImportDialog::new(path));
        }
        let Some(dialog) = &mut self.import else {
            // The window was closed while importing: a failure goes to the status bar.
            if let Some(Err(reason)) = self.workbench.take_import_outcome() {
                self.workbench.notify(format!("Import failed: {reason}"), true);
            }
            return;
        };
        let (request, open) = dialog.ui(ctx, self.workbench.is_importing());
        if let Some(request) = request {
            dialog.error = None;
            self.workbench.start_import(request);
        }
        match self.workbench.take_import_outcome() {
            Some(Ok(())) => self.import = None,
            Some(Err(e)) => dialog.error = Some(e),
            None if !open => self.import = None,
            None => {}
        }
    }

    fn import_model_dialog(&mut self) {
        if let Some(path) = rfd::FileDialog::new()
            .add_filter("PyTorch checkpoint", &["pt", "pth", "safetensors"])
            .pick_file()
        {
            self.import = Some(super::import_dialog::ImportDialog::new(path));
        }
    }

    fn export_model_dialog(&mut self) {
        if self.workbench.model.is_none() {
            self.workbench
                .notify("No model to export yet: train one or open a run.", true);
            return;
        }
        // The file dialog asks before replacing the .safetensors file itself.
        if let Some(path) = rfd::FileDialog::new()
            .set_file_name("model.safetensors")
            .save_file()
        {
            self.workbench.export_model(&path);
        }
    }

    fn save_model_dialog(&mut self) {
        if self.workbench.model.is_none() {
            self.workbench
                .notify("No model to save yet: train one or open a run.", true);
            return;
        }
        if let Some(path) = rfd::FileDialog::new().set_file_name("my-model").save_file() {
            self.workbench.act(Action::SaveModelTo(path));
        }
    }

    /// Writes the pad image as a 28×28 grey PNG on the export job.
    fn export_pad_png(&mut self, path: &Path) {
        let bytes = super::widgets::intensities_to_grey(self.workbench.pad.pixels());
        let kind = super::workbench::writes::WriteKind::PadImage;
        self.workbench.write_file(path.to_path_buf(), kind, move || {
            let img = image::GrayImage::from_raw(28, 28, bytes).ok_or("the pad image has the wrong size")?;
            let mut png = Vec::new();
            img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .map_err(|e| e.to_string())?;
            Ok(png)
        });
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                let item = |ui: &egui::Ui, text: &str, shortcut: &KeyboardShortcut| {
                    egui::Button::new(text).shortcut_text(ui.ctx().format_shortcut(shortcut))
                };
                if ui.add(item(ui, "Open data folder…", &OPEN_DATA)).clicked() {
                    self.open_data_folder();
                }
                if ui.add(item(ui, "Open run…", &OPEN_RUN)).clicked() {
                    self.open_run_dialog();
                }
                if ui.add(item(ui, "Save model as…", &SAVE_MODEL)).clicked() {
                    self.save_model_dialog();
                }
                ui.separator();
                if ui.button("Import PyTorch model…").clicked() {
                    self.import_model_dialog();
                }
                if ui.button("Export model for PyTorch…").clicked() {
                    self.export_model_dialog();
                }
                ui.separator();
                ui.menu_button("Export…", |ui| {
                    if ui.button("Training curves (CSV)…").clicked()
                        && let Some(path) = rfd::FileDialog::new()
                            .set_file_name("training-curves.csv")
                            .save_file()
                    {
                        self.workbench.act(Action::ExportCurves(path));
                    }
                    if ui.button("Pad image (PNG)…").clicked()
                        && let Some(path) = rfd::FileDialog::new().set_file_name("pad.png").save_file()
                    {
                        self.export_pad_png(&path);
                    }
                });
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("View", |ui| {
                for &kind in PanelKind::ALL {
                    let shown = contains(&self.tree, kind);
                    if ui.add_enabled(!shown, egui::Button::new(kind.title())).clicked() {
                        reopen(&mut self.tree, kind);
                    }
                }
                ui.separator();
                if ui.button("Reset layout").clicked() {
                    self.tree = default_tree();
                }
            });
            ui.menu_button("Help", |ui| {
                if ui
                    .add(egui::Button::new("Keyboard shortcuts").shortcut_text("F1"))
                    .clicked()
                {
                    self.show_shortcuts = true;
                }
                ui.separator();
                ui.weak("Tours");
                for &tour in TOURS {
                    if ui
                        .button(super::tours::menu_label(tour))
                        .on_hover_text(tour.intro)
                        .clicked()
                    {
                        self.tour = Some(TourState::new(tour));
                    }
                }
            });
        });
    }

    fn status_ui(&mut self, ui: &mut egui::Ui) {
        let wb = &self.workbench;
        ui.horizontal(|ui| {
            ui.label(format!("Device: {}", wb.device.name))
                .on_hover_text(&wb.device.reason);
            ui.separator();
            match (wb.dataset(), wb.data.busy_label()) {
                (_, Some(label)) => {
                    ui.spinner();
                    ui.label(label);
                }
                (Some(d), None) if d.source.is_real() => {
                    ui.label(format!("Data: {}", d.source));
                }
                (Some(d), None) => {
                    ui.colored_label(ui.visuals().warn_fg_color, "Data: synthetic digits (not MNIST)")
                        .on_hover_text(d.source.to_string());
                }
                (None, None) => {
                    ui.label("Data: none");
                }
            }
            ui.separator();
            let state = match &wb.training {
                None => "Training: idle".to_string(),
                Some(s) if s.recorded => format!(
                    "Training: idle · showing {}",
                    s.run_dir.as_deref().map_or_else(String::new, crate::run::bundled::display_name)
                ),
                Some(s) => match &s.history.phase {
                    RunPhase::Starting => "Training: starting".into(),
                    RunPhase::Running if s.paused => {
                        format!("Training: paused at step {}", s.history.current_step())
                    }
                    RunPhase::Running => format!(
                        "Training: step {}/{} · {:.0} samples/s",
                        s.history.current_step(),
                        s.history.total_steps(),
                        s.history.samples_per_sec
                    ),
                    RunPhase::Finished(r) => format!("Training: finished ({r})"),
                    RunPhase::Failed(_) => "Training: failed".into(),
                },
            };
            ui.label(state);
            // An error of the last 30 s stays in view over later routine messages (e.g. why
            // the newest run was not opened, over "Loaded … images" a moment later).
            let recent_error = wb
                .notices
                .iter()
                .rev()
                .find(|n| n.is_error && n.at.elapsed() < Duration::from_secs(30));
            let latest = wb
                .notices
                .last()
                .filter(|n| n.is_error || n.at.elapsed() < Duration::from_secs(15));
            if let Some(n) = recent_error.or(latest) {
                ui.separator();
                let color = if n.is_error {
                    ui.visuals().error_fg_color
                } else {
                    ui.visuals().text_color()
                };
                ui.colored_label(color, &n.text).on_hover_text(&n.text);
            }
        });
    }
}

impl eframe::App for WorkbenchApp {
    fn logic(&mut self, _ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.logic_step();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, LAYOUT_KEY, &self.tree);
        eframe::set_value(storage, SETTINGS_KEY, &self.panels.save_settings());
    }

    fn on_exit(&mut self) {
        // Stop training within one batch; checkpoints on disk stay those of finished epochs.
        self.workbench.shutdown(Duration::from_secs(5));
    }
}
