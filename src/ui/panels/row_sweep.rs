//! Row sweep (seed S1's binary search, automated): every contiguous row range of the pad
//! image erased, as a triangular heatmap of the margin logit(target) − logit(rival) with the
//! ranges that change the prediction outlined; click a cell to load that edit into the pad.
//! The reverse sweep paints a bar at each row; batch mode asks how many rows many test
//! images need before they flip.

use egui_plot::{Bar as PlotBar, BarChart, HLine, Legend, Line, PlotPoints, Points};

use super::{Panel, digit_ui, probe_blocked, stale_ui, study_controls_ui};
use crate::analysis::colormap::{diverging, symmetric_limit};
use crate::analysis::rows::{MarginClasses, ROWS, erase_rows, paint_bar};
use crate::study::batch_sweep::{BatchSweep, BatchSweepSettings, BatchSweepStudy};
use crate::study::image::ImageChoice;
use crate::study::row_sweep::{RowSweep, RowSweepResults, RowSweepSettings as StudySettings};
use crate::study::{Lane, Study as _};
use crate::ui::layout::PanelKind;
use crate::ui::palette::rgb;
use crate::ui::workbench::studies::StudyRequest;
use crate::ui::workbench::{Action, Workbench};

/// What the Row sweep panel keeps across restarts (named fields, each with its default).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct RowSweepSettings {
    classes: MarginClasses,
    bar_thickness: usize,
    follow_pad: bool,
    use_mc: bool,
    mc_passes: usize,
    batch_per_class: usize,
}

impl Default for RowSweepSettings {
    fn default() -> Self {
        let panel = RowSweepPanel::default();
        Self {
            classes: panel.classes,
            bar_thickness: panel.bar_thickness,
            follow_pad: panel.follow_pad,
            use_mc: panel.use_mc,
            mc_passes: panel.mc_passes,
            batch_per_class: panel.batch_per_class,
        }
    }
}

/// What an automatic sweep was computed from: a new sweep starts when any of it changes.
#[derive(Clone, Copy, PartialEq)]
struct SweptInputs {
    /// The pad image's revision (`PadState::revision`).
    pad_revision: u64,
    /// The model in use (`ActiveModel::version`).
    model_version: u64,
    /// The margin's two classes.
    classes: MarginClasses,
    /// Rows of the bar the reverse sweep paints.
    bar_thickness: usize,
    /// Dropout passes averaged, or None with dropout off.
    mc_passes: Option<usize>,
}

/// The Row sweep panel.
pub struct RowSweepPanel {
    classes: MarginClasses,
    bar_thickness: usize,
    follow_pad: bool,
    use_mc: bool,
    mc_passes: usize,
    batch_per_class: usize,
    /// What the last automatic sweep was computed from.
    swept: Option<SweptInputs>,
    selected: Option<(usize, usize)>,
    bar_row: usize,
    /// Set when this panel loads an edit into the pad (the pad revision then): the next pad
    /// change is that edit, which is not swept, so the heatmap stays clickable.
    loaded_from_here: Option<u64>,
}

impl Default for RowSweepPanel {
    fn default() -> Self {
        Self {
            classes: MarginClasses::default(),
            bar_thickness: 2,
            follow_pad: true,
            use_mc: false,
            mc_passes: 20,
            batch_per_class: 100,
            swept: None,
            selected: None,
            bar_row: 3,
            loaded_from_here: None,
        }
    }
}

impl RowSweepPanel {
    /// Dropout passes averaged, or None with dropout off.
    fn mc_passes(&self) -> Option<usize> {
        self.use_mc.then_some(self.mc_passes)
    }

    /// A sweep of the pad image: its rows erased, and the bar painted on it.
    fn request(&self, pixels: &[f32]) -> StudyRequest {
        let pad = ImageChoice::pixels(pixels, "the pad image");
        StudyRequest::new::<RowSweep>(StudySettings {
            image: pad.clone(),
            bar_image: pad,
            target: self.classes.target,
            rival: self.classes.rival,
            bar: self.bar_thickness,
            mc_passes: self.mc_passes(),
            batch: None,
        })
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let (pixels, revision) = (wb.pad.pixels().to_vec(), wb.pad.revision());
        ui.horizontal_wrapped(|ui| {
            let blocked = probe_blocked(wb);
            if study_controls_ui(ui, wb, RowSweep::ID, "Sweep the pad image", blocked) {
                wb.act(Action::StartStudy(self.request(&pixels)));
            }
            digit_ui(
                ui,
                "margin of",
                &mut self.classes.target,
                "The class whose logit counts positively (seed S1: 7)",
            );
            digit_ui(
                ui,
                "minus",
                &mut self.classes.rival,
                "The class it is compared with (seed S1: 1)",
            );
            ui.label("bar rows");
            ui.add(egui::DragValue::new(&mut self.bar_thickness).range(1..=10))
                .on_hover_text("Thickness of the bar the reverse sweep paints at each row");
            ui.checkbox(&mut self.follow_pad, "follow the pad")
                .on_hover_text("Sweep again whenever the pad image or the model changes");
            ui.checkbox(&mut self.use_mc, "dropout on").on_hover_text(
                "Average the logits of several passes with dropout on (seed S1's noisy runs); off by default",
            );
            if self.use_mc {
                ui.add(
                    egui::DragValue::new(&mut self.mc_passes)
                        .range(2..=200)
                        .suffix(" passes"),
                );
            }
            let sweep = wb.studies.latest::<RowSweep>();
            crate::ui::export::export_ui(ui, wb, sweep.is_some(), move || {
                sweep.map(|s| {
                    let v = &s.results;
                    crate::study::row_sweep::figure(&v.image.pixels, &v.bar_image.pixels, &v.erase, &v.bar)
                })
            });
        });
        // Follow the pad: one automatic sweep per pad edit, model or setting change.
        let version = wb.model.as_ref().map(|m| m.version);
        if self.follow_pad
            && let Some(v) = version
            && !wb.studies.lane_busy(Lane::Probe)
        {
            let key = SweptInputs {
                pad_revision: revision,
                model_version: v,
                classes: self.classes,
                bar_thickness: self.bar_thickness,
                mc_passes: self.mc_passes(),
            };
            if let Some(before) = self.loaded_from_here
                && before != revision
            {
                self.loaded_from_here = None;
                self.swept = Some(key);
            }
            if self.swept != Some(key) && self.loaded_from_here.is_none() && wb.dataset().is_some() {
                self.swept = Some(key);
                wb.act(Action::StartStudy(self.request(&pixels).following_pad()));
            }
        }
    }

    fn sweep_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        let Some(sweep) = wb.studies.latest::<RowSweep>() else {
            ui.label(
                "Draw or load a digit in the pad (a 7, say): every range of rows a..b is erased in turn and \
                 the margin between two classes recorded. Seed S1 did this by hand with a binary search.",
            );
            return;
        };
        stale_ui(ui, wb, sweep.from.model_version);
        let v = &*sweep.results;
        let e = &v.erase;
        let (t, r) = (e.classes.target, e.classes.rival);
        ui.horizontal_wrapped(|ui| {
            ui.strong(format!(
                "Predicted {} · margin logit({t}) − logit({r}) = {:.2}",
                e.original_prediction, e.original_margin
            ));
            match e.smallest_flip() {
                Some((a, b)) => {
                    ui.label(format!(
                        "· smallest flip: rows {a}–{b} ({} rows) becomes {}",
                        b - a + 1,
                        e.prediction(a, b).unwrap_or(0)
                    ));
                    if ui.small_button("Load").on_hover_text("Load this edit into the pad").clicked() {
                        self.loaded_from_here = Some(wb.pad.revision());
                        load_edit(wb, &v.image.pixels, (a, b), "the smallest flipping range");
                        self.selected = Some((a, b));
                    }
                }
                None => {
                    ui.label("· no erased range changes the prediction");
                }
            }
            let (row, m) = e.most_crucial_row();
            ui.label(format!("· most crucial row: {row} (margin {m:.2})"));
            ui.label(format!("· 6 top rows vs 6 bottom rows: {:+.2}", e.top_minus_bottom(6)))
                .on_hover_text("Mean margin change of erasing 6 rows starting in the top half, minus the bottom half: negative means the top matters more for the first class");
        });
        let lim = symmetric_limit(&e.margins) as f64;
        let side = (ui.available_width() * 0.5).clamp(240.0, 460.0);
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                ui.label("rows a (down) to b (across) erased · outlined: the prediction changes");
                let value = |a: usize, b: usize| e.margin(a, b).map(f64::from);
                let color = |m: f64| rgb(diverging((m / lim) as f32));
                let hover = |a: usize, b: usize| match e.margin(a, b) {
                    Some(m) => format!(
                        "rows {a}–{b} erased: margin {m:.2}, predicted {}. Click to load it into the pad.",
                        e.prediction(a, b).unwrap_or(0)
                    ),
                    None => String::new(),
                };
                let marked = |a: usize, b: usize| e.flips(a, b);
                let heat = crate::ui::heatmap::Heatmap::new("Row sweep", (ROWS, ROWS), &value, &color)
                    .hover(&hover)
                    .label_every(5)
                    .selected(self.selected)
                    .marked(&marked)
                    .hide_undefined()
                    .legend(-lim, lim, "change of the margin when the rows are erased");
                if let Some((a, b)) = heat.show(ui, side)
                    && a <= b
                {
                    self.selected = Some((a, b));
                    self.loaded_from_here = Some(wb.pad.revision());
                    load_edit(wb, &v.image.pixels, (a, b), "the row sweep");
                }
            });
            ui.vertical(|ui| self.bar_ui(ui, wb, v));
        });
    }

    fn bar_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench, v: &RowSweepResults) {
        let b = &v.bar;
        ui.label(format!(
            "Reverse sweep: a {}-row bar painted on the pad image (columns {}–{}); load a {} to try seed S1's experiment",
            b.bar.thickness, b.bar.left, b.bar.right, b.classes.target
        ));
        let points: Vec<[f64; 2]> = b
            .margins
            .iter()
            .enumerate()
            .map(|(r, &m)| [r as f64, m as f64])
            .collect();
        let flipped: Vec<[f64; 2]> = points
            .iter()
            .zip(&b.predictions)
            .filter(|(_, p)| **p != b.original_prediction)
            .map(|(p, _)| *p)
            .collect();
        let reference = crate::ui::palette::reference_color(ui.visuals());
        crate::ui::widgets::panel_plot("bar_sweep", 220.0)
            .width(ui.available_width().clamp(220.0, 420.0))
            .legend(Legend::default())
            .x_axis_label("top row of the bar")
            .y_axis_label(format!(
                "logit({}) − logit({})",
                b.classes.target, b.classes.rival
            ))
            .show(ui, |plot| {
                plot.hline(HLine::new("", 0.0).color(reference));
                plot.line(
                    Line::new("margin", PlotPoints::from(points)).color(crate::ui::palette::SERIES_BLUE),
                );
                plot.points(
                    Points::new("prediction changed", PlotPoints::from(flipped))
                        .radius(4.0)
                        .color(crate::ui::palette::BAD),
                );
            });
        let max = ROWS - b.bar.thickness;
        ui.add(egui::Slider::new(&mut self.bar_row, 0..=max).text("bar at row"));
        self.bar_row = self.bar_row.min(max);
        ui.horizontal(|ui| {
            let m = b.margins.get(self.bar_row).copied().unwrap_or(0.0);
            let p = b.predictions.get(self.bar_row).copied().unwrap_or(0);
            ui.label(format!("margin {m:.2}, predicted {p}"));
            if ui.button("Load into pad").clicked() {
                let edited = paint_bar(&v.bar_image.pixels, self.bar_row, b.bar);
                let caption = format!(
                    "bar of {} rows painted at row {}, from the row sweep",
                    b.bar.thickness, self.bar_row
                );
                self.loaded_from_here = Some(wb.pad.revision());
                wb.act(Action::ShowInPad {
                    pixels: edited,
                    caption,
                });
            }
        });
    }

    fn batch_ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        ui.heading("Batch mode");
        // The batch study's latest results, or else those of a row sweep run with `--batch`
        // (reloaded from its folder), with the model version they came from.
        let batch_study = wb.studies.latest::<BatchSweepStudy>();
        let sweep = wb.studies.latest::<RowSweep>();
        let found: Option<(&BatchSweep, u64)> = batch_study
            .as_ref()
            .map(|b| (&*b.results, b.from.model_version))
            .or_else(|| {
                let s = sweep.as_ref()?;
                Some((s.results.batch.as_ref()?, s.from.model_version))
            });
        ui.horizontal(|ui| {
            ui.label("test images per class");
            ui.add(egui::DragValue::new(&mut self.batch_per_class).range(1..=2000))
                .on_hover_text(format!(
                    "Correctly predicted test images of each class, in test-set order. For each {t}: the fewest \
                     erased rows that change its prediction; for each {r}: the thinnest bar that does",
                    t = self.classes.target,
                    r = self.classes.rival
                ));
            let blocked = probe_blocked(wb);
            if study_controls_ui(ui, wb, BatchSweepStudy::ID, "Run batch", blocked) {
                let config = BatchSweepSettings {
                    per_class: self.batch_per_class,
                    target: self.classes.target,
                    rival: self.classes.rival,
                    mc_passes: self.mc_passes(),
                    ..BatchSweepSettings::default()
                };
                wb.act(Action::StartStudy(StudyRequest::new::<BatchSweepStudy>(config)));
            }
            ui.add_enabled_ui(found.is_some(), |ui| {
                if ui.button("Export batch…").on_hover_text("Write the batch histograms as PNG plus CSV").clicked()
                    && let Some((b, _)) = found
                    && let Some(folder) = rfd::FileDialog::new().pick_folder()
                {
                    let batch = b.clone();
                    crate::ui::export::export_figure(wb, folder, move || {
                        Some(crate::study::batch_sweep::figure(&batch))
                    });
                }
            });
        });
        // The batch's images spread over these devices too, as the experiments' items do.
        super::more_devices_ui(ui, wb);
        let Some((b, model_version)) = found else {
            return;
        };
        stale_ui(ui, wb, model_version);
        let (t, r) = (b.config.classes.target, b.config.classes.rival);
        ui.horizontal_top(|ui| {
            for (k, (flips, what, class, max)) in [
                (&b.erased, "rows erased", t, ROWS),
                (&b.painted, "bar rows", r, b.config.max_bar),
            ]
            .into_iter()
            .enumerate()
            {
                ui.vertical(|ui| {
                    let (mean, n) = BatchSweep::mean_rows(flips);
                    ui.label(format!(
                        "{class}s: {n}/{} flip · mean {what} {}",
                        flips.len(),
                        mean.map_or("—".into(), |m| format!("{m:.2}"))
                    ));
                    let bars: Vec<PlotBar> = BatchSweep::histogram(flips, max)
                        .iter()
                        .enumerate()
                        .map(|(i, &c)| PlotBar::new(i as f64 + 1.0, c as f64).width(0.8))
                        .collect();
                    let color = if k == 0 {
                        crate::ui::palette::SERIES_BLUE
                    } else {
                        crate::ui::palette::SERIES_ORANGE
                    };
                    crate::ui::widgets::panel_plot(("batch_hist", k), 160.0)
                        .width(300.0)
                        .x_axis_label(what)
                        .y_axis_label("images")
                        .show(ui, |plot| plot.bar_chart(BarChart::new(what, bars).color(color)));
                });
            }
        });
    }
}

fn load_edit(wb: &Workbench, image: &[f32], range: (usize, usize), why: &str) {
    let caption = format!("rows {}–{} erased, from {why}", range.0, range.1);
    let pixels = erase_rows(image, range);
    wb.act(Action::ShowInPad { pixels, caption });
}

impl Panel for RowSweepPanel {
    fn kind(&self) -> PanelKind {
        PanelKind::RowSweep
    }

    fn study(&self) -> Option<&'static str> {
        Some(RowSweep::ID)
    }

    fn studies(&self) -> Vec<&'static str> {
        vec![RowSweep::ID, BatchSweepStudy::ID]
    }

    fn save_settings(&self) -> Option<String> {
        serde_json::to_string(&RowSweepSettings {
            classes: self.classes,
            bar_thickness: self.bar_thickness,
            follow_pad: self.follow_pad,
            use_mc: self.use_mc,
            mc_passes: self.mc_passes,
            batch_per_class: self.batch_per_class,
        })
        .ok()
    }

    fn load_settings(&mut self, json: &str) {
        if let Ok(s) = serde_json::from_str::<RowSweepSettings>(json) {
            if s.classes.target < 10 && s.classes.rival < 10 && s.classes.target != s.classes.rival {
                self.classes = s.classes;
            }
            self.bar_thickness = s.bar_thickness.clamp(1, 10);
            self.follow_pad = s.follow_pad;
            self.use_mc = s.use_mc;
            self.mc_passes = s.mc_passes.clamp(2, 200);
            self.batch_per_class = s.batch_per_class.clamp(1, 2000);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, wb: &Workbench) {
        self.controls_ui(ui, wb);
        ui.separator();
        self.sweep_ui(ui, wb);
        ui.separator();
        self.batch_ui(ui, wb);
    }
}
