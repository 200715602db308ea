//! Ten bars, one per digit, with the digit written under each bar, the predicted digit
//! outlined and its label bold, and each bar an accessible element ("logit 7: +3.20") with a
//! hover tooltip. Used by the pad for its logits and softmax probabilities.

use egui::{Align2, FontId, Rect, Sense, Stroke, Vec2, pos2};

use crate::ui::palette::class_color;

/// The value range a chart of `values` spans: always including 0, and `[0, 1]` at least for
/// probabilities.
pub fn value_range(values: &[f32], probabilities: bool) -> (f32, f32) {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if probabilities {
        (0.0, hi.max(1.0))
    } else if hi - lo < 1e-6 {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    }
}

/// The bars of `values` (one per digit) in a chart `size` large; `what` names the values
/// ("logit", "probability") in tooltips and accessibility labels; `predicted` is outlined.
pub fn digit_bars(
    ui: &mut egui::Ui,
    values: &[f32],
    what: &str,
    probabilities: bool,
    predicted: usize,
    size: Vec2,
) {
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals();
    let text = visuals.text_color();
    let weak = visuals.weak_text_color();
    let label_height = 14.0;
    let scale_width = 30.0;
    let chart = Rect::from_min_max(
        pos2(rect.left() + scale_width, rect.top() + 6.0),
        pos2(rect.right(), rect.bottom() - label_height),
    );
    let (lo, hi) = value_range(values, probabilities);
    let y_of = |v: f32| chart.bottom() - (v - lo) / (hi - lo) * chart.height();
    let zero = y_of(0.0);
    // The scale: top, zero and (for logits below zero) bottom values.
    let small = FontId::proportional(10.0);
    let format = |v: f32| {
        if probabilities {
            format!("{v:.1}")
        } else {
            format!("{v:+.1}")
        }
    };
    let mut marks = vec![(hi, y_of(hi)), (0.0, zero)];
    if lo < 0.0 {
        marks.push((lo, y_of(lo)));
    }
    for (v, y) in marks {
        painter.text(
            pos2(chart.left() - 4.0, y),
            Align2::RIGHT_CENTER,
            format(v),
            small.clone(),
            weak,
        );
    }
    painter.hline(chart.x_range(), zero, Stroke::new(1.0, weak));
    let slot = chart.width() / values.len().max(1) as f32;
    for (digit, &value) in values.iter().enumerate() {
        let x0 = chart.left() + slot * digit as f32;
        let column = Rect::from_min_max(pos2(x0, rect.top()), pos2(x0 + slot, rect.bottom()));
        let v = if value.is_finite() { value } else { 0.0 };
        let (top, bottom) = if v >= 0.0 {
            (y_of(v), zero)
        } else {
            (zero, y_of(v))
        };
        let bar = Rect::from_min_max(
            pos2(x0 + slot * 0.15, top),
            pos2(x0 + slot * 0.85, bottom.max(top + 1.0)),
        );
        painter.rect_filled(bar, 1.0, class_color(digit));
        let is_predicted = digit == predicted;
        if is_predicted {
            painter.rect_stroke(
                bar.expand(1.5),
                2.0,
                Stroke::new(2.0, text),
                egui::StrokeKind::Outside,
            );
        }
        let font = if is_predicted {
            FontId::monospace(12.0)
        } else {
            FontId::proportional(11.0)
        };
        painter.text(
            pos2(column.center().x, rect.bottom() - label_height / 2.0),
            Align2::CENTER_CENTER,
            if is_predicted {
                format!("[{digit}]")
            } else {
                digit.to_string()
            },
            font,
            if is_predicted { text } else { weak },
        );
        let label = format!(
            "{what} {digit}: {}{}",
            if probabilities {
                format!("{value:.3}")
            } else {
                format!("{value:+.2}")
            },
            if is_predicted { " (predicted)" } else { "" }
        );
        let response = ui.interact(column, ui.scope_id().with((what, digit)), Sense::hover());
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, &label));
        response.on_hover_text(label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_include_zero_and_the_unit_interval_for_probabilities() {
        assert_eq!(value_range(&[1.0, 3.0], false), (0.0, 3.0));
        assert_eq!(value_range(&[-2.0, 3.0], false), (-2.0, 3.0));
        assert_eq!(value_range(&[-2.0, -1.0], false), (-2.0, 0.0));
        assert_eq!(value_range(&[0.2, 0.5], true), (0.0, 1.0));
        assert_eq!(value_range(&[0.0, 0.0], false), (-1.0, 1.0));
        assert_eq!(value_range(&[f32::NAN, 2.0], false), (0.0, 2.0));
    }
}
