//! The tile layout: which panels exist ([`PanelKind`]), the default arrangement, and the
//! egui_tiles behaviour that draws each tile with its panel.

use serde::{Deserialize, Serialize};

use super::panels::Panels;
use super::workbench::Workbench;

/// The panels, as stored in the (persisted) layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PanelKind {
    /// Data source, download, label charts, sample grid.
    Data,
    /// Architecture and training settings, Start / Pause / Stop.
    Training,
    /// Live curves.
    Dashboard,
    /// Drawing pad with logits.
    Pad,
    /// Run folders.
    Runs,
    /// Conv kernels / MLP unit weights.
    Filters,
    /// Activations of the pad image or a test image.
    Features,
    /// Test-set confusion matrix with click-through.
    Confusion,
    /// Misclassified test images.
    Errors,
    /// Reliability diagram and confidence histograms.
    Calibration,
    /// Dataset statistics.
    Dataset,
    /// Seed S0's ensemble experiment and its linked dashboard.
    Ensemble,
    /// Seed S2's training-set-size curve.
    SubsetCurve,
    /// Seed S3's stability test (dropout passes).
    Stability,
    /// Seed S1's row sweeps of the pad image, and batch mode.
    RowSweep,
    /// Seed S1's neuron ablation against random ablations.
    Ablation,
    /// Gradient, gradient × input, integrated gradients and occlusion maps.
    Saliency,
    /// Seed S2's embedding scatter (PCA, t-SNE) with the pad's neighbours.
    Embedding,
    /// Seed S3's cross-dataset test: EMNIST and the corruption suite.
    CrossDataset,
}

impl PanelKind {
    /// Every panel, in menu order.
    pub const ALL: [PanelKind; 19] = [
        PanelKind::Data,
        PanelKind::Training,
        PanelKind::Dashboard,
        PanelKind::Pad,
        PanelKind::Runs,
        PanelKind::Filters,
        PanelKind::Features,
        PanelKind::Confusion,
        PanelKind::Errors,
        PanelKind::Calibration,
        PanelKind::Dataset,
        PanelKind::Ensemble,
        PanelKind::SubsetCurve,
        PanelKind::Stability,
        PanelKind::RowSweep,
        PanelKind::Ablation,
        PanelKind::Saliency,
        PanelKind::Embedding,
        PanelKind::CrossDataset,
    ];

    /// Tab title.
    pub fn title(self) -> &'static str {
        match self {
            PanelKind::Data => "Data",
            PanelKind::Training => "Model & training",
            PanelKind::Dashboard => "Dashboard",
            PanelKind::Pad => "Drawing pad",
            PanelKind::Runs => "Runs",
            PanelKind::Filters => "Filters",
            PanelKind::Features => "Feature maps",
            PanelKind::Confusion => "Confusion",
            PanelKind::Errors => "Errors",
            PanelKind::Calibration => "Calibration",
            PanelKind::Dataset => "Dataset",
            PanelKind::Ensemble => "Ensemble",
            PanelKind::SubsetCurve => "Size curve",
            PanelKind::Stability => "Stability",
            PanelKind::RowSweep => "Row sweep",
            PanelKind::Ablation => "Ablation",
            PanelKind::Saliency => "Saliency",
            PanelKind::Embedding => "Embedding",
            PanelKind::CrossDataset => "Cross-dataset",
        }
    }
}

/// The probe panels, grouped under one "Probes" tab by default.
pub const PROBE_PANELS: [PanelKind; 5] = [
    PanelKind::RowSweep,
    PanelKind::Saliency,
    PanelKind::Ablation,
    PanelKind::Embedding,
    PanelKind::CrossDataset,
];

/// The many-model experiments, grouped under one "Experiments" tab by default.
pub const EXPERIMENT_PANELS: [PanelKind; 3] =
    [PanelKind::Ensemble, PanelKind::SubsetCurve, PanelKind::Stability];

/// The title of a group of tabs: "Probes" or "Experiments" when it holds those panels.
pub fn group_title(tiles: &egui_tiles::Tiles<PanelKind>, tile_id: egui_tiles::TileId) -> String {
    let mut kinds = Vec::new();
    if let Some(egui_tiles::Tile::Container(c)) = tiles.get(tile_id) {
        for child in c.children() {
            if let Some(egui_tiles::Tile::Pane(kind)) = tiles.get(*child) {
                kinds.push(*kind);
            }
        }
    }
    if !kinds.is_empty() && kinds.iter().all(|k| PROBE_PANELS.contains(k)) {
        "Probes".into()
    } else if !kinds.is_empty() && kinds.iter().all(|k| EXPERIMENT_PANELS.contains(k)) {
        "Experiments".into()
    } else {
        "Panels".into()
    }
}

/// The default arrangement: settings, data and runs as tabs on the left, the dashboard, the
/// inspection panels, the probes and the experiments (the last two as tab groups of their
/// own) as tabs in the middle, the pad on the right, so curves (or any
/// inspection view) and the pad are visible together while training.
pub fn default_tree() -> egui_tiles::Tree<PanelKind> {
    let mut tiles = egui_tiles::Tiles::default();
    let training = tiles.insert_pane(PanelKind::Training);
    let data = tiles.insert_pane(PanelKind::Data);
    let runs = tiles.insert_pane(PanelKind::Runs);
    let left = tiles.insert_tab_tile(vec![training, data, runs]);
    let panes = |tiles: &mut egui_tiles::Tiles<PanelKind>, kinds: &[PanelKind]| -> Vec<egui_tiles::TileId> {
        kinds.iter().map(|&k| tiles.insert_pane(k)).collect()
    };
    let probes = panes(&mut tiles, &PROBE_PANELS);
    let probes = tiles.insert_tab_tile(probes);
    let experiments = panes(&mut tiles, &EXPERIMENT_PANELS);
    let experiments = tiles.insert_tab_tile(experiments);
    let mut middle_panes = panes(
        &mut tiles,
        &[
            PanelKind::Dashboard,
            PanelKind::Confusion,
            PanelKind::Errors,
            PanelKind::Calibration,
            PanelKind::Filters,
            PanelKind::Features,
            PanelKind::Dataset,
        ],
    );
    middle_panes.extend([probes, experiments]);
    let dashboard = tiles.insert_tab_tile(middle_panes);
    let pad = tiles.insert_pane(PanelKind::Pad);
    let root = tiles.insert_horizontal_tile(vec![left, dashboard, pad]);
    if let Some(egui_tiles::Tile::Container(egui_tiles::Container::Linear(linear))) = tiles.get_mut(root) {
        linear.shares.set_share(left, 1.0);
        linear.shares.set_share(dashboard, 2.6);
        linear.shares.set_share(pad, 1.3);
    }
    egui_tiles::Tree::new(egui::Id::unique("workbench_tiles"), root, tiles)
}

/// Whether the layout shows `kind` somewhere.
pub fn contains(tree: &egui_tiles::Tree<PanelKind>, kind: PanelKind) -> bool {
    tree.tiles.find_pane(&kind).is_some()
}

/// Adds a closed panel back, as a tab next to the first tab group (or beside the root).
pub fn reopen(tree: &mut egui_tiles::Tree<PanelKind>, kind: PanelKind) {
    if contains(tree, kind) {
        return;
    }
    let pane = tree.tiles.insert_pane(kind);
    let tabs = tree.tiles.iter().find_map(|(id, tile)| match tile {
        egui_tiles::Tile::Container(egui_tiles::Container::Tabs(_)) => Some(*id),
        _ => None,
    });
    match (tabs, tree.root) {
        (Some(tabs), _) => {
            if let Some(egui_tiles::Tile::Container(c)) = tree.tiles.get_mut(tabs) {
                c.add_child(pane);
            }
        }
        (None, Some(root)) => {
            let new_root = tree.tiles.insert_tab_tile(vec![root, pane]);
            tree.root = Some(new_root);
        }
        (None, None) => tree.root = Some(pane),
    }
}

/// Draws tiles with the registered panels.
pub struct TileBehavior<'a> {
    /// The panels.
    pub panels: &'a mut Panels,
    /// Shared state.
    pub workbench: &'a mut Workbench,
    /// The active tab of every tab group (from [`active_tabs`]): only these get a close button.
    pub active_tabs: Vec<egui_tiles::TileId>,
}

/// The active child of every tab group.
pub fn active_tabs(tree: &egui_tiles::Tree<PanelKind>) -> Vec<egui_tiles::TileId> {
    tree.tiles
        .iter()
        .filter_map(|(_, tile)| match tile {
            egui_tiles::Tile::Container(egui_tiles::Container::Tabs(tabs)) => tabs.active,
            _ => None,
        })
        .collect()
}

impl egui_tiles::Behavior<PanelKind> for TileBehavior<'_> {
    fn pane_ui(
        &mut self,
        ui: &mut egui::Ui,
        _tile_id: egui_tiles::TileId,
        kind: &mut PanelKind,
    ) -> egui_tiles::UiResponse {
        egui::Frame::new().inner_margin(6.0).show(ui, |ui| {
            egui::ScrollArea::both()
                .id_salt(kind.title())
                .auto_shrink([false, false])
                .show(ui, |ui| self.panels.get_mut(*kind).ui(ui, self.workbench));
        });
        egui_tiles::UiResponse::None
    }

    fn tab_title_for_pane(&mut self, kind: &PanelKind) -> egui::WidgetText {
        kind.title().into()
    }

    fn tab_title_for_tile(
        &mut self,
        tiles: &egui_tiles::Tiles<PanelKind>,
        tile_id: egui_tiles::TileId,
    ) -> egui::WidgetText {
        match tiles.get(tile_id) {
            Some(egui_tiles::Tile::Pane(kind)) => kind.title().into(),
            Some(egui_tiles::Tile::Container(_)) => group_title(tiles, tile_id).into(),
            None => "?".into(),
        }
    }

    /// Only the active tab shows its close button, so a row of many tabs stays readable
    /// (View reopens a closed panel).
    fn is_tab_closable(&self, tiles: &egui_tiles::Tiles<PanelKind>, tile_id: egui_tiles::TileId) -> bool {
        // A group's tab closes its panels one at a time, from inside.
        self.active_tabs.contains(&tile_id) && matches!(tiles.get(tile_id), Some(egui_tiles::Tile::Pane(_)))
    }

    fn tab_title_spacing(&self, _visuals: &egui::Visuals) -> f32 {
        6.0
    }

    fn simplification_options(&self) -> egui_tiles::SimplificationOptions {
        egui_tiles::SimplificationOptions {
            all_panes_must_have_tabs: true,
            ..Default::default()
        }
    }
}
