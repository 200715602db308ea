//! Tour of seed S0, "Fifty models that saw twenty images each": a small ensemble trained here
//! (ten small-cnns on two images per digit each), its digit-digit and model-model
//! correlations, and the test images the fewest models got right.

use super::{Comparison, Step, Tour, pct, show, test_image_to_pad};
use crate::study::ensemble::{EnsembleConfig, EnsembleResults};
use crate::model::ModelSpec;
use crate::study::ensemble::Ensemble;
use crate::ui::layout::PanelKind;
use crate::ui::workbench::studies::StudyRequest;
use crate::ui::workbench::{Action, Workbench};

/// Where the hardest images come from in the pad's caption (the Ensemble panel's words).
const HARDEST: &str = "the ensemble's hardest and easiest images";

/// The tour.
pub static TOUR: Tour = Tour {
    id: "s0-twenty-images",
    seed: "S0",
    title: "Fifty models that saw twenty images each",
    intro: "Seed S0 trained 50 small CNNs, each on its own 2 images per digit, and asked whether models \
            that saw different images fail on the same digits and on the same test images. This tour \
            trains a small ensemble of its own (ten models, under a minute on MNIST) and reads it.",
    needs_model: false,
    steps: &[
        Step {
            title: "Train ten models on twenty images each",
            body: "Each model gets its own sample of 2 images of every digit and trains full-batch with \
                   AdamW until it gets all 20 right (a few steps), as in seed S0; then every model is \
                   tested on the whole test set, which gives a models × images table of right and \
                   wrong. Show me trains 10 small-cnns (at most 30 steps each) in the Ensemble panel; \
                   its progress bar says how far it is.",
            show_me: run_ensemble,
            done: has_ensemble,
            note: accuracy_note,
        },
        Step {
            title: "Read the digit-digit correlations",
            body: "The digit-digit heatmap correlates, across models, the accuracy on one digit with the \
                   accuracy on another: a warm cell says a model that is good at one is good at the \
                   other too, so the two digits are learnt from the same kind of evidence. Click a cell \
                   for the scatter of the models on those two digits.",
            show_me: |_| vec![show(PanelKind::Ensemble)],
            done: has_ensemble,
            note: digit_note,
        },
        Step {
            title: "Read the model-model correlations",
            body: "The model-model heatmap correlates two models' right and wrong answers over the test \
                   images. Above 0, they fail on the same images more often than chance would have \
                   it: whatever twenty images a model saw, some test images are hard for everyone. \
                   Click a cell to select a model and see the 20 images it trained on.",
            show_me: |_| vec![show(PanelKind::Ensemble)],
            done: has_ensemble,
            note: model_note,
        },
        Step {
            title: "Click the hardest images",
            body: "At the bottom of the Ensemble panel: the three test images of each digit that the \
                   fewest models got right, and the easiest one. Click one to load it into the pad and \
                   see what the open model makes of it; the panel shows which models got it right. Show \
                   me loads the hardest image of the hardest digit.",
            show_me: hardest_to_pad,
            done: |wb| wb.pad.caption().contains(HARDEST),
            note: super::no_note,
        },
        Step {
            title: "Your numbers beside seed S0's",
            body: "Ten models are few for correlations (each number rests on ten points), and your data or \
                   settings may differ from the seed's: read the comparison as a direction, not a match.",
            show_me: |_| vec![show(PanelKind::Ensemble)],
            done: has_ensemble,
            note: super::no_note,
        },
    ],
    published: "Digit-correlation notebook: 50 SmallCNNs (the small-cnn preset), each trained full-batch \
                with AdamW (learning rate 1e-3, weight decay 1e-4) on its own 2 images per digit until \
                99 % training accuracy, then tested on the 10,000 test images. It prints the test \
                accuracy, the mean model-model and inter-digit correlations, and draws the 3 hardest and \
                the easiest image of each digit; the printed values are not kept in the seed. Its code \
                rerun in PyTorch gives 45.8 % ± 7.2 test accuracy after 5.5 steps on average.",
    compare,
};

fn run_ensemble(_: &Workbench) -> Vec<Action> {
    let mut config = EnsembleConfig {
        models: 10,
        per_digit: 2,
        max_steps: 30,
        ..EnsembleConfig::default()
    };
    if let Some(small) = ModelSpec::preset("small-cnn") {
        config.model = small;
    }
    vec![
        show(PanelKind::Ensemble),
        Action::StartStudy(StudyRequest::new::<Ensemble>(config)),
    ]
}

fn ensemble(wb: &Workbench) -> Option<std::sync::Arc<EnsembleResults>> {
    wb.studies.latest::<Ensemble>().map(|e| e.results)
}

fn has_ensemble(wb: &Workbench) -> bool {
    ensemble(wb).is_some()
}

fn corr(v: Option<f64>) -> String {
    v.map_or_else(|| "undefined".into(), |v| format!("{v:+.3}"))
}

fn accuracy_note(wb: &Workbench) -> Option<String> {
    let s = &ensemble(wb)?.stats.summary;
    Some(format!(
        "Your ensemble: {} models, test accuracy {} ± {}, {:.1} steps on average",
        s.models,
        pct(s.mean_accuracy),
        pct(s.std_accuracy),
        s.mean_steps
    ))
}

/// The most correlated pair of different digits: (a, b, r).
fn top_digit_pair(r: &EnsembleResults) -> Option<(usize, usize, f64)> {
    let c = &r.stats.digit_correlation;
    let mut best: Option<(usize, usize, f64)> = None;
    for (a, row) in c.iter().enumerate() {
        for (b, v) in row.iter().enumerate().skip(a + 1) {
            if let Some(v) = *v
                && best.is_none_or(|(_, _, m)| v > m)
            {
                best = Some((a, b, v));
            }
        }
    }
    best
}

fn digit_note(wb: &Workbench) -> Option<String> {
    let r = ensemble(wb)?;
    let pair = top_digit_pair(&r).map_or_else(String::new, |(a, b, v)| {
        format!("; the pair that rises and falls together most: {a} and {b} ({v:+.2})")
    });
    Some(format!(
        "Your mean digit-digit correlation: {}{pair}",
        corr(r.stats.summary.mean_digit_correlation)
    ))
}

fn model_note(wb: &Workbench) -> Option<String> {
    let r = ensemble(wb)?;
    let acc = &r.stats.model_accuracy;
    let (lo, hi) = acc
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &a| {
            (lo.min(a), hi.max(a))
        });
    Some(format!(
        "Your mean model-model correlation: {}; the models range from {} to {} test accuracy",
        corr(r.stats.summary.mean_model_correlation),
        pct(lo),
        pct(hi)
    ))
}

/// The digit whose test images the fewest models get right on average.
fn hardest_digit(r: &EnsembleResults) -> Option<usize> {
    let mut sums = [(0.0, 0usize); 10];
    for (&label, &d) in r.test_labels.iter().zip(&r.stats.difficulty) {
        if let Some(s) = sums.get_mut(label as usize) {
            s.0 += d;
            s.1 += 1;
        }
    }
    (0..10)
        .filter(|&d| sums[d].1 > 0)
        .min_by(|&a, &b| (sums[a].0 / sums[a].1 as f64).total_cmp(&(sums[b].0 / sums[b].1 as f64)))
}

fn hardest_to_pad(wb: &Workbench) -> Vec<Action> {
    let mut actions = vec![show(PanelKind::Ensemble)];
    let image = ensemble(wb).and_then(|r| {
        let digit = hardest_digit(&r)?;
        r.stats.hardest.get(digit)?.first().copied()
    });
    match image.and_then(|i| test_image_to_pad(wb, i, HARDEST)) {
        Some(load) => actions.push(load),
        None => actions.push(Action::Notify("Run the ensemble first (step 1).".into(), true)),
    }
    actions
}

fn compare(wb: &Workbench) -> Vec<Comparison> {
    let r = ensemble(wb);
    let s = r.as_ref().map(|r| &r.stats.summary);
    vec![
        Comparison::new(
            "Models × training images per digit",
            r.as_ref().map(|r| {
                format!(
                    "{} × {} ({})",
                    r.config.models,
                    r.config.per_digit,
                    r.config.model.preset_name().unwrap_or("custom model")
                )
            }),
            "50 × 2 (SmallCNN)",
        ),
        Comparison::new(
            "Mean test accuracy",
            s.map(|s| format!("{} ± {}", pct(s.mean_accuracy), pct(s.std_accuracy))),
            "45.8 % ± 7.2 (its code rerun in PyTorch)",
        ),
        Comparison::new(
            "Steps to fit the 20 images",
            s.map(|s| {
                format!(
                    "{:.1} on average, {} of {} fitted",
                    s.mean_steps, s.converged, s.models
                )
            }),
            "5.5 on average (same rerun)",
        ),
        Comparison::new(
            "Mean model-model correlation",
            s.map(|s| corr(s.mean_model_correlation)),
            "printed by the notebook; the value is not kept",
        ),
        Comparison::new(
            "Mean digit-digit correlation",
            s.map(|s| corr(s.mean_digit_correlation)),
            "printed by the notebook; the value is not kept",
        ),
        Comparison::new(
            "Hardest digit (fewest models right)",
            r.as_ref().and_then(|r| hardest_digit(r)).map(|d| d.to_string()),
            "drawn per digit as histograms; not kept",
        ),
    ]
}
