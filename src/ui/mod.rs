//! The desktop workbench (egui). This is the only module that imports egui; it talks to the
//! engine through its public API: [`crate::train`] workers and events, [`crate::data::worker`],
//! [`crate::pad`], [`crate::train::eval`].
//!
//! - [`app`]: the eframe `App` (menu, status bar, shortcuts, tile layout, persistence).
//! - [`workbench`]: [`workbench::Workbench`], the state every panel reads, and the
//!   [`workbench::Action`]s panels ask for; `logic` drains worker events into it with the
//!   engine's pure reducers. One file per concern: data, training, runs, inspection,
//!   experiments, probes.
//! - [`job_slot`]: [`job_slot::JobSlot`], the one way the UI holds a background job, and
//!   [`job_slot::Stamp`], what a result was computed from.
//! - [`layout`]: the panel kinds and the egui_tiles layout.
//! - [`panels`]: one file per panel behind the [`panels::Panel`] trait, registered in one place.
//! - [`frame_bench`]: the `frame` and `pad` benchmark tasks, the app driven headless.
//! - [`widgets`]: pure pixel helpers (greyscale images, atlases) and small drawing helpers
//!   shared by panels.
//! - [`palette`]: every colour the UI draws with, by name, and the one `rgb` conversion from
//!   the engine's colour triples.
//! - [`tours`]: the guided tours of the seed studies (Help menu, the dashboard's "Start
//!   here" card), one file per tour.

pub mod app;
pub mod digit_bars;
pub mod export;
pub mod frame_bench;
pub mod gallery;
pub mod heatmap;
pub mod import_dialog;
pub mod job_slot;
pub mod layout;
pub mod palette;
pub mod panels;
pub mod remote_device;
pub mod tours;
pub mod widgets;
pub mod workbench;

use std::path::PathBuf;
use std::sync::Arc;

use crate::data::sources::DataRequest;
use crate::data::worker::LoadedData;
use crate::device::SelectedDevice;

pub use app::WorkbenchApp;

/// How the app starts.
#[derive(Clone)]
pub struct AppOptions {
    /// Where to look for data at start (the app falls back to synthetic digits and says so).
    pub data: DataRequest,
    /// Data already in memory (tests, benchmarks); skips the loading worker.
    pub preloaded: Option<LoadedData>,
    /// Folder holding run folders.
    pub runs_root: PathBuf,
    /// The device `auto` resolves to (chosen before the window opens); `None` = CPU (flex).
    pub device: Option<SelectedDevice>,
    /// Restore layout and settings from eframe storage.
    pub restore: bool,
    /// Open the newest run with a checkpoint at start, so the pad has a model.
    pub open_latest_run: bool,
    /// When no run opens at start, open the bundled model (small-cnn trained on MNIST,
    /// compiled in), so the pad answers at first launch, offline. The `app` subcommand sets
    /// it; tests that need "no model yet" leave it off.
    pub bundled_model: bool,
    /// Where Download MNIST fetches from and to; `None`: the standard mirrors into the cache.
    pub download: Option<crate::data::download::DownloadPlan>,
    /// A PyTorch checkpoint to offer for import at start (`app --import FILE`).
    pub import: Option<PathBuf>,
    /// The experiments' "Also on" devices at start (`app --device flex,remote://…`).
    pub more_devices: Vec<crate::device::DeviceChoice>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            data: DataRequest {
                allow_synthetic_fallback: true,
                synthetic_train_size: 12_000,
                synthetic_seed: 2024,
                ..DataRequest::default()
            },
            preloaded: None,
            runs_root: PathBuf::from("runs"),
            device: None,
            restore: true,
            open_latest_run: true,
            bundled_model: false,
            import: None,
            download: None,
            more_devices: Vec::new(),
        }
    }
}

/// The window's app id: `StartupWMClass` in assets/mnist-workbench.desktop, and the name of
/// eframe's folder for the saved layout.
const APP_ID: &str = "mnist-workbench";

/// Opens the workbench window and runs until it closes. Where burn runs on a hardware GPU
/// through wgpu, the window renders on the same wgpu device.
pub fn run_native(mut options: AppOptions) -> anyhow::Result<()> {
    use eframe::egui_wgpu::{WgpuConfiguration, WgpuSetup, WgpuSetupExisting};
    if options.device.is_none() {
        options.device = crate::device::select_device(crate::device::DeviceChoice::Auto).ok();
    }
    let mut wgpu_options = WgpuConfiguration::default();
    if let Some(shared) = crate::device::shared_wgpu() {
        eprintln!(
            "window renders on burn's wgpu device ({})",
            shared.adapter.get_info().name
        );
        wgpu_options.wgpu_setup = WgpuSetup::Existing(WgpuSetupExisting {
            instance: shared.instance,
            adapter: shared.adapter,
            device: shared.device,
            queue: shared.queue,
        });
    }
    // The app id is the Wayland app id and X11 WM_CLASS (assets/mnist-workbench.desktop's
    // StartupWMClass) and names eframe's settings folder (its default, the app name, kept).
    let mut viewport = egui::ViewportBuilder::default()
        .with_app_id(APP_ID)
        .with_title("MNIST Workbench");
    match eframe::icon_data::from_png_bytes(include_bytes!("../../assets/mnist-workbench.png")) {
        Ok(icon) => viewport = viewport.with_icon(icon),
        Err(e) => eprintln!("the window icon does not decode ({e}); the window has none"),
    }
    let native = eframe::NativeOptions {
        viewport: viewport
            .with_inner_size([1500.0, 900.0])
            .with_min_inner_size([900.0, 600.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options,
        persist_window: true,
        ..Default::default()
    };
    let options = Arc::new(options);
    eframe::run_native(
        APP_ID,
        native,
        Box::new(move |cc| Ok(Box::new(WorkbenchApp::new(cc, (*options).clone())))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
