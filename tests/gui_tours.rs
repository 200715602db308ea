//! The guided tours driven through the UI with egui_kittest: every tour in `TOURS` is opened
//! (the first from the dashboard's Start-here card, the others from the Help menu), each step's
//! "Show me" is clicked until the step's own test holds and the panel ticks it, and the last
//! step shows the user's numbers beside the seed's. The app runs on the bundled model with an
//! empty runs folder and synthetic digits (flex); the tours' studies use small settings.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::gui::step_until;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use mnist_workbench::data::Dataset;
use mnist_workbench::ui::tours::{NOT_YET, TOURS, card_label, find, menu_label};
use mnist_workbench::ui::WorkbenchApp;

/// The app on `data` with an empty runs folder: it opens the bundled model.
fn harness(data: &Arc<Dataset>, runs_root: &Path) -> Harness<'static, WorkbenchApp> {
    common::gui::harness_with(data, runs_root, true)
}

#[test]
fn every_tour_has_three_steps_or_more_a_published_text_and_its_own_id() {
    assert!(TOURS.len() >= 3);
    for tour in TOURS {
        assert!(tour.steps.len() >= 3, "{}: {} steps", tour.id, tour.steps.len());
        assert!(!tour.published.trim().is_empty(), "{}", tour.id);
        assert!(!tour.intro.trim().is_empty(), "{}", tour.id);
        for step in tour.steps {
            assert!(!step.title.is_empty() && !step.body.is_empty(), "{}", tour.id);
        }
        assert!(
            std::ptr::eq(find(tour.id).unwrap(), *tour),
            "{} is not unique",
            tour.id
        );
    }
}

#[test]
fn every_tour_runs_to_its_end_through_show_me_and_compares_with_the_seed() {
    let data = common::synthetic_dataset(1000, 300, 41);
    let root = common::temp_dir("gui-tours");
    let mut h = harness(&data, &root);
    h.run_steps(3);
    assert!(h.state().workbench.model.is_some(), "the bundled model opened");
    // Before any study runs, the comparison says so for every tour.
    for tour in TOURS {
        let rows = (tour.compare)(&h.state().workbench);
        assert!(
            !rows.is_empty() && rows.iter().all(|r| r.yours == NOT_YET),
            "{}",
            tour.id
        );
    }
    for (k, tour) in TOURS.iter().enumerate() {
        if k == 0 {
            // Only the bundled model is shown: the dashboard offers the tours.
            h.get_by_label(&card_label(tour)).click();
        } else {
            h.get_by_label("Help").click();
            h.run_steps(2);
            h.get_by_label(&menu_label(tour)).click();
        }
        h.run_steps(2);
        let open = h.state().tour.as_ref().map(|t| t.tour.id);
        assert_eq!(open, Some(tour.id));
        for (i, step) in tour.steps.iter().enumerate() {
            let what = format!("{} step {} ({})", tour.id, i + 1, step.title);
            h.get_by_label("Show me").click();
            step_until(&mut h, &what, |app| (step.done)(&app.workbench));
            let ticked = h
                .state()
                .tour
                .as_ref()
                .is_some_and(|t| t.step == i && t.is_done(i));
            assert!(ticked, "{what}: the panel does not tick it");
            if i + 1 < tour.steps.len() {
                h.get_by_label("Next step").click();
                h.run_steps(2);
            }
        }
        // The last step: the user's numbers beside the seed's.
        h.get_by_label(&format!("Your numbers beside seed {}'s", tour.seed));
        h.get_by_label(&format!("What seed {} published", tour.seed));
        let rows = (tour.compare)(&h.state().workbench);
        assert!(rows.iter().all(|r| r.yours != NOT_YET), "{}: {rows:?}", tour.id);
        for text in rows.iter().flat_map(|r| [&r.yours, &r.seed]) {
            assert!(
                h.query_all_by_label(text).next().is_some(),
                "{}: {text} not shown",
                tour.id
            );
        }
        h.get_by_label("Finish").click();
        h.run_steps(2);
        assert!(h.state().tour.is_none(), "{}: Finish closes the tour", tour.id);
    }
    let errors: Vec<String> = h
        .state()
        .workbench
        .notices
        .iter()
        .filter(|n| n.is_error)
        .map(|n| n.text.clone())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}
