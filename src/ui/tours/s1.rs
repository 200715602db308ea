//! Tour of seed S1, "What separates a 1 from a 7?": a 1 in the pad, a bar painted on it row by
//! row while the margin logit(7) − logit(1) is watched, the row sweep and its reverse on that
//! image, then the units that tell 1 from 7 zeroed against random units. On the open model.

use super::{Comparison, Step, Tour, first_test_of, model_version, pct, show, test_image_to_pad};
use crate::data::IMAGE_SIDE;
use crate::study::ablation::{Ablation, AblationResults, AblationSettings};
use crate::study::image::ImageChoice;
use crate::study::row_sweep::{RowSweep, RowSweepResults, RowSweepSettings};
use crate::ui::layout::PanelKind;
use crate::ui::workbench::studies::StudyRequest;
use crate::ui::workbench::{Action, PadEdit, Workbench};

/// The classes of the margin: logit(7) − logit(1), as the pad and the row sweep show it.
const TARGET: usize = 7;
const RIVAL: usize = 1;

/// The tour.
pub static TOUR: Tour = Tour {
    id: "s1-one-or-seven",
    seed: "S1",
    title: "What separates a 1 from a 7?",
    intro: "Seed S1's lab notes ask what makes a network call a digit 7 rather than 1: a bar painted \
            on a 1, rows erased from a 7, then the hidden units that tell the two apart switched off. \
            This tour does the same on the model open now (the bundled small-cnn if you have none).",
    needs_model: true,
    steps: &[
        Step {
            title: "Load a 1 into the pad",
            body: "Seed S1 starts from the first 1 of the test set. The pad shows the model's logits for \
                   it and, under them, the margin logit(7) − logit(1) with its history, one point per \
                   edit: far below 0 means a confident 1. Show me loads that image; any 1 you load or \
                   draw yourself counts too.",
            show_me: load_a_one,
            done: pad_is_a_one,
            note: pad_note,
        },
        Step {
            title: "Paint a bar on it, row by row",
            body: "The first idea of the notes: a 7 is a 1 with a bar on top. Set the pad's Row margin to \
                   \"fills\", click the narrow strip left of the canvas to fill one row, then the next, \
                   and watch the margin move after each edit (a brush stroke works too). In the seed \
                   the model still said 1, even with three rows. Show me fills rows 4 and 5, one edit \
                   each.",
            show_me: paint_a_bar,
            done: pad_has_a_bar,
            note: pad_note,
        },
        Step {
            title: "Sweep the bar over every row, and erase every row range",
            body: "The Row sweep panel automates both hand experiments on the pad image. On the right, a \
                   bar (over the ink only: seed S1 found a long right tail looks less like a 7) is \
                   painted at each row in turn and the margin plotted: where does a bar pull hardest \
                   toward 7? The heatmap erases every range of rows a–b and outlines the ranges that \
                   change the prediction, the binary search the notes did by hand on a 7. Show me \
                   opens the panel and sweeps the pad.",
            show_me: sweep_the_pad,
            done: pad_swept,
            note: sweep_note,
        },
        Step {
            title: "Switch off the units that tell 1 from 7",
            body: "Then the notes look inside: the units of a hidden layer whose mean activation differs \
                   most between 1s and 7s (by more than 0.3) are zeroed, and the 1-vs-7 accuracy that \
                   leaves is set against zeroing as many units chosen at random. If those units carry \
                   the bar, zeroing them hurts more than chance. Show me ablates the last hidden layer \
                   on the first 2,000 test images, against 20 random draws.",
            show_me: ablate,
            done: ablated,
            note: ablation_note,
        },
        Step {
            title: "Your numbers beside seed S1's",
            body: "Seed S1's model was an MLP with dropout; yours is the model open now, so the numbers \
                   differ while the questions stay the same. Show me opens the Ablation panel, where the \
                   threshold sweep shows how the damage grows as more units are switched off.",
            show_me: |_| vec![show(PanelKind::Ablation)],
            done: ablated,
            note: super::no_note,
        },
    ],
    published: "Lab notes \"MNIST 1 vs 7\" (an MLP with dropout): a 1 with a bar added, one to three \
                rows, stayed a 1 (logits 9.06 for 1 against 1.31 for 7 with a full-width line, 10.41 \
                against 1.72 with three rows). A 7 with rows 0–14 erased became a tie (4.89 against \
                4.82); with rows 6–12 erased it stayed a 7, with 6–13 it wavered: row 13 looked crucial. \
                About 60 % of the units differ by less than 0.2 between 1s and 7s; zeroing the units \
                above 0.3 hurt more than zeroing those above 0.4, and those above 0.2 more still, which \
                the notes read as \"the number of units firing matters more than the most different \
                ones\". The notes end: STUCK.",
    compare,
};

fn load_a_one(wb: &Workbench) -> Vec<Action> {
    let mut actions = vec![show(PanelKind::Pad)];
    match first_test_of(wb, RIVAL as u8).and_then(|i| test_image_to_pad(wb, i, "the 1-or-7 tour")) {
        Some(load) => actions.push(load),
        None => actions.push(Action::Notify(
            "No test image labelled 1: load data first.".into(),
            true,
        )),
    }
    actions
}

/// A loaded test 1, or an image the model calls 1.
fn pad_is_a_one(wb: &Workbench) -> bool {
    wb.pad.caption().contains("(label 1)") || wb.pad_logits().is_some_and(|l| argmax(&l) == RIVAL)
}

fn paint_a_bar(_: &Workbench) -> Vec<Action> {
    let fill = |row| {
        Action::Pad(PadEdit::FillRows {
            first: row,
            last: row,
            value: 1.0,
        })
    };
    vec![show(PanelKind::Pad), fill(4), fill(5)]
}

/// A bar: a row of the top half with ink across at least half the width (no digit has one but
/// a 7, whose loaded test images are not counted).
fn pad_has_a_bar(wb: &Workbench) -> bool {
    let pixels = wb.pad.pixels();
    let bar = (0..IMAGE_SIDE / 2).any(|r| {
        let row = &pixels[r * IMAGE_SIDE..(r + 1) * IMAGE_SIDE];
        row.iter().filter(|&&p| p > 0.5).count() >= IMAGE_SIDE / 2
    });
    bar && !wb.pad.caption().contains("(label 7)")
}

fn pad_note(wb: &Workbench) -> Option<String> {
    let l = wb.pad_logits()?;
    Some(format!(
        "Now: predicted {}, margin logit(7) − logit(1) = {:+.2}",
        argmax(&l),
        l[TARGET] - l[RIVAL]
    ))
}

fn sweep_the_pad(wb: &Workbench) -> Vec<Action> {
    let pad = ImageChoice::pixels(wb.pad.pixels(), "the pad image");
    let settings = RowSweepSettings {
        image: pad.clone(),
        bar_image: pad,
        ..RowSweepSettings::default()
    };
    vec![
        show(PanelKind::RowSweep),
        Action::StartStudy(StudyRequest::new::<RowSweep>(settings)),
    ]
}

/// The latest row sweep, when it is of the current model.
fn current_sweep(wb: &Workbench) -> Option<std::sync::Arc<RowSweepResults>> {
    let sweep = wb.studies.latest::<RowSweep>()?;
    (Some(sweep.from.model_version) == model_version(wb)).then_some(sweep.results)
}

/// A sweep of the pad image as it is, by the model in use.
fn pad_swept(wb: &Workbench) -> bool {
    current_sweep(wb).is_some_and(|s| s.image.pixels == wb.pad.pixels())
}

/// The row where the bar pulls hardest toward the other class (the bar sweep's margin is
/// logit(image's class) − logit(other), 1 against 7: its lowest point), as text.
fn strongest_bar(s: &RowSweepResults) -> Option<String> {
    let b = &s.bar;
    let (row, &m) = b.margins.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1))?;
    let p = b.predictions.get(row).copied().unwrap_or(0);
    let (t, r) = (b.classes.target, b.classes.rival);
    Some(format!(
        "the bar pulls hardest toward {r} at row {row}: logit({t}) − logit({r}) = {m:+.2}, predicted {p}"
    ))
}

/// The single row whose erasure lowers the erase sweep's margin most, as text.
fn crucial_row(s: &RowSweepResults) -> String {
    let (row, m) = s.erase.most_crucial_row();
    let (t, r) = (s.erase.classes.target, s.erase.classes.rival);
    format!("row {row} (logit({t}) − logit({r}) = {m:+.2} without it)")
}

fn sweep_note(wb: &Workbench) -> Option<String> {
    let s = current_sweep(wb)?;
    let mut text = String::from("Your sweep: ");
    if let Some(bar) = strongest_bar(&s) {
        text.push_str(&format!("{bar}; "));
    }
    text.push_str(&format!("the most crucial row to erase is {}", crucial_row(&s)));
    match s.erase.smallest_flip() {
        Some((a, b)) => text.push_str(&format!(
            "; erasing rows {a}–{b} makes it a {}",
            s.erase.prediction(a, b).unwrap_or(0)
        )),
        None => text.push_str("; no erased range changes the prediction"),
    }
    Some(text)
}

fn ablate(_: &Workbench) -> Vec<Action> {
    let settings = AblationSettings {
        random_trials: 20,
        sweep: vec![0.1, 0.2, 0.3, 0.4],
        sweep_trials: 5,
        max_images: 2_000,
        ..AblationSettings::default()
    };
    vec![
        show(PanelKind::Ablation),
        Action::StartStudy(StudyRequest::new::<Ablation>(settings)),
    ]
}

/// The latest ablation, when it is of the current model.
fn current_ablation(wb: &Workbench) -> Option<std::sync::Arc<AblationResults>> {
    let ablation = wb.studies.latest::<Ablation>()?;
    (Some(ablation.from.model_version) == model_version(wb)).then_some(ablation.results)
}

fn ablated(wb: &Workbench) -> bool {
    current_ablation(wb).is_some()
}

/// Mean pair accuracy of the random ablations.
fn random_mean(r: &AblationResults) -> Option<f64> {
    (!r.random.is_empty()).then(|| r.random.iter().map(|a| a.pair).sum::<f64>() / r.random.len() as f64)
}

fn ablation_note(wb: &Workbench) -> Option<String> {
    let r = current_ablation(wb)?;
    let random = random_mean(&r).map_or_else(|| "—".into(), pct);
    Some(format!(
        "Your ablation of {}: {} units above {} zeroed, 1-vs-7 accuracy from {} to {}; as many random \
         units: {} on average",
        r.layer_name,
        r.targeted_units.len(),
        r.config.threshold,
        pct(r.baseline.pair),
        pct(r.targeted.pair),
        random
    ))
}

fn compare(wb: &Workbench) -> Vec<Comparison> {
    let sweep = current_sweep(wb);
    let ablation = current_ablation(wb);
    vec![
        Comparison::new(
            "A bar painted on a 1",
            sweep.as_deref().and_then(strongest_bar),
            "still a 1: logit(1) − logit(7) = +7.75 with a full-width line, +8.69 with three rows",
        ),
        Comparison::new(
            "The most crucial row to erase",
            sweep
                .as_deref()
                .map(|s| format!("{} of {}", crucial_row(s), s.image.label)),
            "row 13 of a 7 (rows 6–12 erased: still a 7; 6–13: a toss-up)",
        ),
        Comparison::new(
            "Units differing by less than 0.2 between 1s and 7s",
            ablation.as_deref().map(|r| {
                format!(
                    "{} of the {} units of {}",
                    pct(r.small_difference_share),
                    r.differences.len(),
                    r.layer_name
                )
            }),
            "about 60 %",
        ),
        Comparison::new(
            "1-vs-7 accuracy with the units above 0.3 zeroed",
            ablation.as_deref().map(|r| {
                format!(
                    "from {} to {} ({} units); random units: {}, {} of the random draws did as badly",
                    pct(r.baseline.pair),
                    pct(r.targeted.pair),
                    r.targeted_units.len(),
                    random_mean(r).map_or_else(|| "—".into(), pct),
                    pct(r.random_at_or_below)
                )
            }),
            "hurt more than the units above 0.4, less than those above 0.2 (a histogram against random \
             units; no numbers in the notes)",
        ),
    ]
}

fn argmax(logits: &[f32; 10]) -> usize {
    (0..10)
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
        .unwrap_or(0)
}
