//! The panels: one file each, all behind [`Panel`], registered in [`Panels::new`] (the tile
//! layout, the View menu and the tests all go through it).

mod dashboard;
mod data;
mod pad;
mod runs;
mod training;

pub use dashboard::DashboardPanel;
pub use data::DataPanel;
pub use pad::PadPanel;
pub use runs::RunsPanel;
pub use training::TrainingPanel;

use super::layout::PanelKind;
use super::state::Workbench;

/// A panel: its own view state plus a `ui` that reads the shared [`Workbench`] and queues
/// actions on it.
pub trait Panel {
    /// Which panel this is.
    fn kind(&self) -> PanelKind;

    /// Draws the panel.
    fn ui(&mut self, ui: &mut egui::Ui, wb: &mut Workbench);

    /// Settings worth keeping across restarts, as JSON.
    fn save_settings(&self) -> Option<String> {
        None
    }

    /// Restores what [`Panel::save_settings`] wrote (ignores anything unreadable).
    fn load_settings(&mut self, _json: &str) {}
}

/// All panels, one of each kind: the registry.
#[derive(Default)]
pub struct Panels {
    data: DataPanel,
    /// The training form (the app reads it for the Ctrl+Enter shortcut).
    pub training: TrainingPanel,
    dashboard: DashboardPanel,
    /// The pad (the app routes undo/redo shortcuts to it).
    pub pad: PadPanel,
    runs: RunsPanel,
}

impl Panels {
    /// A fresh set of panels.
    pub fn new() -> Self {
        Self::default()
    }

    /// The panel of a kind.
    pub fn get_mut(&mut self, kind: PanelKind) -> &mut dyn Panel {
        match kind {
            PanelKind::Data => &mut self.data,
            PanelKind::Training => &mut self.training,
            PanelKind::Dashboard => &mut self.dashboard,
            PanelKind::Pad => &mut self.pad,
            PanelKind::Runs => &mut self.runs,
        }
    }

    fn all(&self) -> [&dyn Panel; 5] {
        [&self.data, &self.training, &self.dashboard, &self.pad, &self.runs]
    }

    /// Every panel's settings, by title.
    pub fn save_settings(&self) -> Vec<(String, String)> {
        self.all()
            .iter()
            .filter_map(|p| p.save_settings().map(|s| (p.kind().title().to_string(), s)))
            .collect()
    }

    /// Restores settings saved by [`Panels::save_settings`].
    pub fn load_settings(&mut self, saved: &[(String, String)]) {
        for (title, json) in saved {
            if let Some(kind) = PanelKind::ALL.into_iter().find(|k| k.title() == title) {
                self.get_mut(kind).load_settings(json);
            }
        }
    }
}
