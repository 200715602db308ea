//! Tour of seed S2, "How much data is enough?": one model trained on growing shares of the
//! training set, the curve read, and its rule of thumb (ten times the data, a third of the
//! test loss) checked on the user's curve.

use super::{Comparison, Step, Tour, pct, show};
use crate::model::ModelSpec;
use crate::study::subset_curve::{SubsetCurve, SubsetCurveConfig, SubsetCurveResults};
use crate::ui::layout::PanelKind;
use crate::ui::workbench::studies::StudyRequest;
use crate::ui::workbench::{Action, Workbench};

/// Seed S2's table: fraction of the 60,000 training images, test accuracy, test loss.
const SEED_CURVE: [(f64, &str, f64, f64); 5] = [
    (1.0 / 16.0, "1/16", 0.9815, 0.060229),
    (1.0 / 8.0, "1/8", 0.9879, 0.037765),
    (0.25, "1/4", 0.9898, 0.030815),
    (0.5, "1/2", 0.9925, 0.024652),
    (1.0, "all", 0.9932, 0.020920),
];

/// Seed S2's training-set size.
const SEED_TRAIN: f64 = 60_000.0;

/// The tour.
pub static TOUR: Tour = Tour {
    id: "s2-how-much-data",
    seed: "S2",
    title: "How much data is enough?",
    intro: "Seed S2 trained its ConvNet on 1/16, 1/8, 1/4, 1/2 and all of MNIST's training images and \
            plotted loss and accuracy against size. This tour trains a small curve of its own (an MLP, \
            one epoch per share: seconds on MNIST) and reads it the way the seed did.",
    needs_model: false,
    steps: &[
        Step {
            title: "Train one model on growing shares of the data",
            body: "The same model and settings are trained from scratch on each share of the training \
                   set and tested on the whole test set. Show me trains the mlp for one epoch on 1/16, \
                   1/4 and all of the training set in the Size curve panel; its progress bar shows each \
                   share in turn.",
            show_me: run_curve,
            done: has_curve,
            note: curve_note,
        },
        Step {
            title: "Read the curve",
            body: "Both axes are logarithmic, as in the seed. Test accuracy climbs and test loss falls as \
                   the share grows, fast at first and then slower: each doubling buys less than the one \
                   before. The gap between training and test loss says how much the small shares \
                   overfit.",
            show_me: |_| vec![show(PanelKind::SubsetCurve)],
            done: has_curve,
            note: curve_note,
        },
        Step {
            title: "Ten times the data, a third of the loss",
            body: "Seed S2 reads a rule of thumb off its curve: about ten times the data gives about a \
                   third of the test loss (0.060 at 1/16 to 0.021 with all). On a log-log plot that is a \
                   straight line; its slope gives the factor by which your test loss changes for ten \
                   times the data.",
            show_me: |_| vec![show(PanelKind::SubsetCurve)],
            done: has_curve,
            note: factor_note,
        },
        Step {
            title: "Your numbers beside seed S2's",
            body: "Seed S2's ConvNet trained for many epochs; the tour's MLP for one, so your accuracies are \
                   lower. Compare the shape: how fast the loss falls with more data.",
            show_me: |_| vec![show(PanelKind::SubsetCurve)],
            done: has_curve,
            note: super::no_note,
        },
    ],
    published: "Analysis notebook (a ConvNet): test accuracy 98.15 % with 1/16 of the training set, \
                98.79 % with 1/8, 98.98 % with 1/4, 99.25 % with 1/2 and 99.32 % with all of it; test \
                loss 0.060, 0.038, 0.031, 0.025, 0.021. \"From beginning to end, there's a roughly \
                ten-fold increase in amount of training data, with a roughly 3-fold decrease in test \
                loss\": ten times the data, a third of the test loss.",
    compare,
};

fn run_curve(_: &Workbench) -> Vec<Action> {
    let mut config = SubsetCurveConfig {
        fractions: vec![1.0 / 16.0, 0.25, 1.0],
        ..SubsetCurveConfig::default()
    };
    if let Some(mlp) = ModelSpec::preset("mlp") {
        config.train.model = mlp;
    }
    config.train.epochs = 1;
    config.train.augment = false;
    vec![
        show(PanelKind::SubsetCurve),
        Action::StartStudy(StudyRequest::new::<SubsetCurve>(config)),
    ]
}

fn curve(wb: &Workbench) -> Option<std::sync::Arc<SubsetCurveResults>> {
    wb.studies
        .latest::<SubsetCurve>()
        .map(|c| c.results)
        .filter(|c| c.points.len() >= 2)
}

fn has_curve(wb: &Workbench) -> bool {
    curve(wb).is_some()
}

fn curve_note(wb: &Workbench) -> Option<String> {
    let c = curve(wb)?;
    let (first, last) = (c.points.first()?, c.points.last()?);
    Some(format!(
        "Your curve: from {} to {} training images, test accuracy goes from {} to {}, test loss from \
         {:.3} to {:.3}",
        first.train_size,
        last.train_size,
        pct(first.test_accuracy),
        pct(last.test_accuracy),
        first.test_loss,
        last.test_loss
    ))
}

/// The factor by which test loss changes for ten times the data: 10 to the slope of the
/// least-squares line through (log10 size, log10 loss). None with fewer than two usable points.
pub fn loss_factor_per_tenfold(points: &[(f64, f64)]) -> Option<f64> {
    let logs: Vec<(f64, f64)> = points
        .iter()
        .filter(|(size, loss)| *size > 0.0 && *loss > 0.0 && loss.is_finite())
        .map(|(size, loss)| (size.log10(), loss.log10()))
        .collect();
    let n = logs.len() as f64;
    let mean_x = logs.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = logs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = logs.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if logs.len() < 2 || sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = logs.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    Some(10f64.powf(sxy / sxx))
}

fn yours_factor(c: &SubsetCurveResults) -> Option<f64> {
    let points: Vec<(f64, f64)> = c
        .points
        .iter()
        .map(|p| (p.train_size as f64, p.test_loss))
        .collect();
    loss_factor_per_tenfold(&points)
}

fn seed_factor() -> Option<f64> {
    let points: Vec<(f64, f64)> = SEED_CURVE
        .iter()
        .map(|&(f, _, _, loss)| (f * SEED_TRAIN, loss))
        .collect();
    loss_factor_per_tenfold(&points)
}

fn factor_note(wb: &Workbench) -> Option<String> {
    let f = yours_factor(&*curve(wb)?)?;
    Some(format!(
        "Your curve: ten times the data multiplies the test loss by {f:.2} (seed S2: {:.2})",
        seed_factor().unwrap_or(f64::NAN)
    ))
}

fn compare(wb: &Workbench) -> Vec<Comparison> {
    let c = curve(wb);
    let mut rows = vec![Comparison::new(
        "Model and training",
        c.as_ref().map(|c| {
            format!(
                "{}, {} epoch(s) per share",
                c.config.train.model.preset_name().unwrap_or("custom model"),
                c.config.train.epochs
            )
        }),
        "a ConvNet (two conv layers, batch norm); its epochs are not given",
    )];
    for (fraction, name, accuracy, loss) in SEED_CURVE {
        let point = c.as_ref().and_then(|c| {
            c.points
                .iter()
                .find(|p| (p.fraction - fraction).abs() < 1e-9)
                .cloned()
        });
        let yours = match (&c, point) {
            (_, Some(p)) => Some(format!(
                "accuracy {}, loss {:.3} ({} images)",
                pct(p.test_accuracy),
                p.test_loss,
                p.train_size
            )),
            (Some(_), None) => Some("not in your curve".into()),
            (None, None) => None,
        };
        rows.push(Comparison::new(
            format!("Test accuracy and loss with {name} of the data"),
            yours,
            format!("accuracy {}, loss {loss:.3}", pct(accuracy)),
        ));
    }
    rows.push(Comparison::new(
        "Test loss for ten times the data",
        c.as_deref().and_then(yours_factor).map(|f| format!("× {f:.2}")),
        format!("× {:.2} (read as \"a third\")", seed_factor().unwrap_or(f64::NAN)),
    ));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_times_the_data_factor_is_that_of_a_power_law_and_the_seeds_is_near_a_third() {
        let points: Vec<(f64, f64)> = [100.0, 1000.0, 10_000.0]
            .iter()
            .map(|&n: &f64| (n, 2.0 * n.powf(-0.5)))
            .collect();
        let f = loss_factor_per_tenfold(&points).unwrap();
        assert!((f - 10f64.powf(-0.5)).abs() < 1e-9, "{f}");
        assert_eq!(loss_factor_per_tenfold(&[(100.0, 0.1)]), None);
        assert_eq!(loss_factor_per_tenfold(&[(100.0, 0.1), (100.0, 0.2)]), None);
        let seed = seed_factor().unwrap();
        assert!((0.3..0.5).contains(&seed), "{seed}");
    }
}
