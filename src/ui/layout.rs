//! The tile layout: which panels exist ([`PanelKind`]), the default arrangement, and the
//! egui_tiles behaviour that draws each tile with its panel.

use super::panels::{Panels, Place};
use super::workbench::Workbench;

pub use super::panels::PanelKind;

/// The panels of `place`, in registration order.
pub fn panels_at(place: Place) -> Vec<PanelKind> {
    PanelKind::ALL
        .iter()
        .copied()
        .filter(|k| k.place() == place)
        .collect()
}

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
    if !kinds.is_empty() && kinds.iter().all(|k| k.place() == Place::Probes) {
        "Probes".into()
    } else if !kinds.is_empty() && kinds.iter().all(|k| k.place() == Place::Experiments) {
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
    let mut tabs_of = |place: Place| -> Vec<egui_tiles::TileId> {
        panels_at(place)
            .into_iter()
            .map(|k| tiles.insert_pane(k))
            .collect()
    };
    let (left, mut middle, probes, experiments, right) = (
        tabs_of(Place::Left),
        tabs_of(Place::Middle),
        tabs_of(Place::Probes),
        tabs_of(Place::Experiments),
        tabs_of(Place::Right),
    );
    let left = tiles.insert_tab_tile(left);
    middle.push(tiles.insert_tab_tile(probes));
    middle.push(tiles.insert_tab_tile(experiments));
    let middle = tiles.insert_tab_tile(middle);
    let right = match right[..] {
        [pad] => pad,
        _ => tiles.insert_tab_tile(right),
    };
    let root = tiles.insert_horizontal_tile(vec![left, middle, right]);
    if let Some(egui_tiles::Tile::Container(egui_tiles::Container::Linear(linear))) = tiles.get_mut(root) {
        linear.shares.set_share(left, 1.0);
        linear.shares.set_share(middle, 2.6);
        linear.shares.set_share(right, 1.3);
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

/// Makes `kind` visible: reopens it when closed, then makes its tab, and the tabs of every
/// group around it, the active ones.
pub fn show(tree: &mut egui_tiles::Tree<PanelKind>, kind: PanelKind) {
    reopen(tree, kind);
    tree.make_active(|_, tile| matches!(tile, egui_tiles::Tile::Pane(k) if *k == kind));
}

/// Draws tiles with the registered panels.
pub struct TileBehavior<'a> {
    pub panels: &'a mut Panels,
    /// The state panels read and the actions they queue.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_layout_shows_every_registered_panel_once_in_its_place() {
        let tree = default_tree();
        for &kind in PanelKind::ALL {
            let panes: Vec<egui_tiles::TileId> = tree
                .tiles
                .iter()
                .filter(|(_, tile)| matches!(tile, egui_tiles::Tile::Pane(k) if *k == kind))
                .map(|(id, _)| *id)
                .collect();
            assert_eq!(panes.len(), 1, "{kind:?}");
            let group = tree
                .tiles
                .parent_of(panes[0])
                .expect("every pane sits in a group");
            let title = group_title(&tree.tiles, group);
            let expected = match kind.place() {
                Place::Probes => "Probes",
                Place::Experiments => "Experiments",
                _ => "Panels",
            };
            assert_eq!(title, expected, "{kind:?}");
        }
        assert_eq!(
            panels_at(Place::Left)[0],
            PanelKind::Training,
            "the app opens on the settings"
        );
    }
}
