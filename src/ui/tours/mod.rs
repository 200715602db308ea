//! Guided tours of the seed studies: Help → Tours, and the "Start here" card of the dashboard
//! while nothing of the user's is shown there. A tour is a side panel of numbered steps; each
//! says what to look at and why, and has a "Show me" button that does the step (opens the
//! panel, loads the image, starts the study with small settings). A step counts as done when
//! its [`Step::done`] test holds on the workbench, whether Show me did it or the user did it
//! by hand; the panel then offers Next. The last step sets the user's numbers beside those the
//! seed published ([`Tour::compare`], [`Tour::published`]).
//!
//! Tours are data: one file per tour holding a `static TOUR: Tour`, and one line in
//! [`TOURS`]. Steps only read the [`Workbench`] and return [`Action`]s, so a tour can do
//! nothing a user could not do with the panels.

mod s0;
mod s1;
mod s2;

use crate::ui::layout::PanelKind;
use crate::ui::palette;
use crate::ui::workbench::{Action, Workbench};

// A new tour: one file in this folder, and one line here.
/// Every tour, in the order the Help menu and the Start-here card list them.
pub static TOURS: &[&Tour] = &[&s1::TOUR, &s0::TOUR, &s2::TOUR];

/// One guided tour of a seed study.
pub struct Tour {
    /// Stable id ([`Action::StartTour`]).
    pub id: &'static str,
    /// The seed it follows ("S1").
    pub seed: &'static str,
    /// The question it asks.
    pub title: &'static str,
    /// What the tour is about, shown above its steps.
    pub intro: &'static str,
    /// Whether it runs on the open model (Show me opens the bundled model when none is open);
    /// tours that train their own models do not.
    pub needs_model: bool,
    /// The steps, in order; the last one shows the comparison.
    pub steps: &'static [Step],
    /// What the seed found, in its own numbers.
    pub published: &'static str,
    /// The user's numbers beside the seed's, one row per figure.
    pub compare: fn(&Workbench) -> Vec<Comparison>,
}

/// One step of a tour.
pub struct Step {
    /// Short imperative title ("Load a 1 into the pad").
    pub title: &'static str,
    /// What to look at, and why.
    pub body: &'static str,
    /// What "Show me" does: the actions it sends.
    pub show_me: fn(&Workbench) -> Vec<Action>,
    /// Whether the step has been done, by Show me or by hand.
    pub done: fn(&Workbench) -> bool,
    /// The user's own numbers at this step, when there are some ("the margin is now −4.2").
    pub note: fn(&Workbench) -> Option<String>,
}

/// One figure of the comparison: the user's value beside the seed's.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// What is compared.
    pub what: String,
    /// The user's value ([`NOT_YET`] when its step has not run).
    pub yours: String,
    /// The seed's value, with where it comes from.
    pub seed: String,
}

impl Comparison {
    fn new(what: impl Into<String>, yours: Option<String>, seed: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            yours: yours.unwrap_or_else(|| NOT_YET.into()),
            seed: seed.into(),
        }
    }
}

/// The user's value in a comparison whose step has not run yet.
pub const NOT_YET: &str = "— (not run yet)";

/// The tour with this id.
pub fn find(id: &str) -> Option<&'static Tour> {
    TOURS.iter().copied().find(|t| t.id == id)
}

/// How the Help menu names a tour.
pub fn menu_label(tour: &Tour) -> String {
    format!("Tour {}: {}", tour.seed, tour.title)
}

/// How the Start-here card names a tour.
pub fn card_label(tour: &Tour) -> String {
    format!("{} · {}", tour.seed, tour.title)
}

/// The open tour: which one, the current step and the steps seen done.
pub struct TourState {
    /// The tour.
    pub tour: &'static Tour,
    /// Index of the current step.
    pub step: usize,
    done: Vec<bool>,
    /// The step the list was last scrolled to.
    scrolled_to: Option<usize>,
}

impl TourState {
    /// `tour` at its first step.
    pub fn new(tour: &'static Tour) -> Self {
        Self {
            tour,
            step: 0,
            done: vec![false; tour.steps.len()],
            scrolled_to: None,
        }
    }

    /// Whether step `i` has been seen done (it stays done once seen).
    pub fn is_done(&self, i: usize) -> bool {
        self.done.get(i).copied().unwrap_or(false)
    }

    /// Marks the current step done when its test holds now (called every frame). Only the
    /// current step is tested: a later one is not ticked by results that happen to exist.
    pub fn update(&mut self, wb: &Workbench) {
        let i = self.step;
        if let Some(step) = self.tour.steps.get(i)
            && !self.done[i]
            && (step.done)(wb)
        {
            self.done[i] = true;
        }
    }

    fn is_last(&self) -> bool {
        self.step + 1 >= self.tour.steps.len()
    }
}

/// Draws the open tour (the app's right side panel): its question, Back / Next, and the
/// numbered steps with the current one open. Returns false once the user closes it. `wb` is
/// mutable only to open the bundled model for a tour that needs one.
pub fn tour_ui(ui: &mut egui::Ui, state: &mut TourState, wb: &mut Workbench) -> bool {
    let tour = state.tour;
    let mut open = true;
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.heading(format!("Tour {}", tour.seed));
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui
                .button("Close tour")
                .on_hover_text("The Help menu opens it again")
                .clicked()
            {
                open = false;
            }
        });
    });
    ui.strong(tour.title);
    ui.label(tour.intro);
    ui.add_space(4.0);
    if !nav_ui(ui, state) {
        open = false;
    }
    ui.separator();
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (i, step) in tour.steps.iter().enumerate() {
                // The default fonts have no check mark: a done step is green and says so.
                let done = if state.is_done(i) { " · done" } else { "" };
                let current = i == state.step;
                let mut text = egui::RichText::new(format!("{}. {}{done}", i + 1, step.title));
                if current {
                    text = text.strong();
                }
                if state.is_done(i) && !current {
                    text = text.color(palette::GOOD);
                }
                let response = ui.selectable_label(current, text);
                if response.clicked() {
                    state.step = i;
                }
                if current {
                    if state.scrolled_to != Some(i) {
                        state.scrolled_to = Some(i);
                        response.scroll_to_me(Some(egui::Align::TOP));
                    }
                    ui.indent("tour-step", |ui| step_ui(ui, state, wb));
                }
            }
        });
    open
}

/// Where the tour stands, Back, and Next step (Skip while the step is not done, Finish at the
/// last one). Returns false when the user finishes the tour.
fn nav_ui(ui: &mut egui::Ui, state: &mut TourState) -> bool {
    let (i, n) = (state.step, state.tour.steps.len());
    let mut open = true;
    ui.horizontal(|ui| {
        ui.label(format!("Step {} of {n}", i + 1));
        if ui.add_enabled(i > 0, egui::Button::new("Back")).clicked() {
            state.step = i - 1;
        }
        if state.is_last() {
            if ui.button("Finish").on_hover_text("Close the tour").clicked() {
                open = false;
            }
        } else if state.is_done(i) {
            if ui.button("Next step").clicked() {
                state.step = i + 1;
            }
        } else if ui
            .small_button("Skip")
            .on_hover_text("Go on without doing this step")
            .clicked()
        {
            state.step = i + 1;
        }
    });
    open
}

/// The current step: its text, the user's numbers, Show me and whether it is done; the last
/// step adds the comparison.
fn step_ui(ui: &mut egui::Ui, state: &TourState, wb: &mut Workbench) {
    let (tour, i) = (state.tour, state.step);
    let step = &tour.steps[i];
    ui.label(step.body);
    if let Some(note) = (step.note)(wb) {
        ui.label(egui::RichText::new(note).color(palette::SERIES_BLUE));
    }
    let no_model = tour.needs_model && wb.model.is_none();
    if no_model {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "No model is open: Show me opens the bundled one (small-cnn trained on MNIST).",
        );
    }
    ui.horizontal_wrapped(|ui| {
        if ui
            .button("Show me")
            .on_hover_text("Do this step for me (small settings: seconds to a minute)")
            .clicked()
        {
            if no_model {
                wb.open_bundled_model();
            }
            for action in (step.show_me)(wb) {
                wb.act(action);
            }
        }
        if state.is_done(i) {
            let next = if state.is_last() {
                ""
            } else {
                ": on to the next step"
            };
            ui.colored_label(palette::GOOD, format!("done{next}"));
        } else if wb.studies.any_running() {
            ui.spinner();
            ui.weak("running… (its panel shows the progress)");
        } else {
            ui.weak("press Show me, or do it yourself");
        }
    });
    if state.is_last() {
        ui.add_space(6.0);
        comparison_ui(ui, tour, wb);
    }
    ui.add_space(8.0);
}

/// The user's numbers beside the seed's, then the seed's finding in its words.
fn comparison_ui(ui: &mut egui::Ui, tour: &Tour, wb: &Workbench) {
    ui.strong(format!("Your numbers beside seed {}'s", tour.seed));
    for row in (tour.compare)(wb) {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(egui::RichText::new(&row.what).strong());
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(palette::SERIES_BLUE, "You:");
                ui.label(&row.yours);
            });
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(palette::SERIES_ORANGE, format!("Seed {}:", tour.seed));
                ui.label(&row.seed);
            });
        });
    }
    ui.add_space(4.0);
    ui.label(egui::RichText::new(format!("What seed {} published", tour.seed)).strong());
    ui.label(tour.published);
}

/// Whether the dashboard offers the Start-here card: nothing trains, and nothing of the
/// user's is shown there (no run, or the bundled model's own training).
pub fn offers_start_here(wb: &Workbench) -> bool {
    let bundled = wb
        .model
        .as_ref()
        .is_some_and(|m| m.source == crate::run::bundled::label());
    !wb.is_training() && (wb.training.is_none() || bundled)
}

/// The "Start here" card: every tour, one button each.
pub fn start_here_ui(ui: &mut egui::Ui, wb: &Workbench) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.strong("Start here: guided tours of the seed studies");
        ui.label(
            "Each tour walks through one of the studies this workbench grew from, step by step, on the \
             open model or a short training it starts itself, and ends with your numbers beside the \
             published ones.",
        );
        ui.horizontal_wrapped(|ui| {
            for tour in TOURS {
                if ui.button(card_label(tour)).on_hover_text(tour.intro).clicked() {
                    wb.act(Action::StartTour(tour.id));
                }
            }
        });
    });
}

// Helpers of the tour files.

/// Opens `kind`'s tab.
fn show(kind: PanelKind) -> Action {
    Action::ShowPanel(kind.title())
}

/// The version of the model in use.
fn model_version(wb: &Workbench) -> Option<u64> {
    wb.model.as_ref().map(|m| m.version)
}

/// The index of the first test image labelled `digit`.
fn first_test_of(wb: &Workbench, digit: u8) -> Option<usize> {
    let data = wb.dataset()?;
    data.test.labels.iter().position(|&l| l == digit)
}

/// Loads test image `index` into the pad, captioned as the other panels do.
fn test_image_to_pad(wb: &Workbench, index: usize, why: &str) -> Option<Action> {
    let data = wb.dataset()?;
    let label = *data.test.labels.get(index)?;
    Some(Action::ShowInPad {
        pixels: data.test.intensities(index),
        caption: format!("test #{index} (label {label}), from {why}"),
    })
}

/// A share as a percentage with one decimal.
fn pct(share: f64) -> String {
    format!("{:.1} %", 100.0 * share)
}

/// A step with nothing of the user's to show.
fn no_note(_: &Workbench) -> Option<String> {
    None
}
