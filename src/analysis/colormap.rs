//! Colormaps as pure functions from a value to an sRGB triple.

/// Diverging blue–white–red map for values in `[-1, 1]`: negative blue, zero white, positive
/// red. Values outside are clamped; NaN maps to white.
pub fn diverging(t: f32) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(-1.0, 1.0) };
    // End colours of ColorBrewer's RdBu.
    const BLUE: [f32; 3] = [33.0, 102.0, 172.0];
    const RED: [f32; 3] = [178.0, 24.0, 43.0];
    let end = if t < 0.0 { BLUE } else { RED };
    let a = t.abs();
    let mix = |c: f32| (255.0 + (c - 255.0) * a).round() as u8;
    [mix(end[0]), mix(end[1]), mix(end[2])]
}

/// Sequential white-to-dark-blue map for values in `[0, 1]` (clamped; NaN is white).
pub fn sequential(t: f32) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    const DARK: [f32; 3] = [8.0, 48.0, 107.0];
    let mix = |c: f32| (255.0 + (c - 255.0) * t).round() as u8;
    [mix(DARK[0]), mix(DARK[1]), mix(DARK[2])]
}

/// The largest absolute finite value (at least a tiny positive number), the symmetric limit
/// a diverging map centred at zero is scaled by.
pub fn symmetric_limit(values: &[f32]) -> f32 {
    values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(1e-12)
}

/// Ten distinct colours, one per digit (matplotlib's `tab10`, as seed S2's scatter uses).
pub const DIGIT_COLORS: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// A diverging colour for `t` in `[-1, 1]` over a digit: the digit's ink (intensity 0-1)
/// darkens the colour by up to half, so the strokes stay visible under the map.
pub fn overlay(t: f32, intensity: f32) -> [u8; 3] {
    let shade = 1.0 - 0.5 * intensity.clamp(0.0, 1.0);
    diverging(t).map(|c| (c as f32 * shade).round() as u8)
}

/// Black or white, whichever reads better on `background`.
pub fn text_on(background: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = background.map(f32::from);
    if 0.299 * r + 0.587 * g + 0.114 * b > 150.0 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_darkens_ink_and_keeps_the_background_colour() {
        assert_eq!(overlay(0.0, 0.0), [255, 255, 255]);
        assert_eq!(overlay(0.0, 1.0), [128, 128, 128]);
        assert_eq!(overlay(1.0, 0.0), diverging(1.0));
        assert_eq!(overlay(-1.0, 1.0), [17, 51, 86]);
    }

    #[test]
    fn diverging_is_white_at_zero_and_saturated_at_the_ends() {
        assert_eq!(diverging(0.0), [255, 255, 255]);
        assert_eq!(diverging(-1.0), [33, 102, 172]);
        assert_eq!(diverging(1.0), [178, 24, 43]);
        assert_eq!(diverging(5.0), diverging(1.0));
        assert_eq!(diverging(f32::NAN), [255, 255, 255]);
        // Halfway to red: 255 + (178 - 255) / 2 = 216.5 → 217 (round half away from zero).
        assert_eq!(diverging(0.5), [217, 140, 149]);
    }

    #[test]
    fn sequential_runs_from_white_to_dark_blue() {
        assert_eq!(sequential(0.0), [255, 255, 255]);
        assert_eq!(sequential(1.0), [8, 48, 107]);
        assert_eq!(sequential(-3.0), [255, 255, 255]);
    }

    #[test]
    fn symmetric_limit_takes_the_largest_magnitude() {
        assert_eq!(symmetric_limit(&[0.2, -0.7, 0.5, f32::NAN]), 0.7);
        assert!(symmetric_limit(&[]) > 0.0);
    }

    #[test]
    fn text_colour_contrasts_with_its_background() {
        assert_eq!(text_on([255, 255, 255]), [0, 0, 0]);
        assert_eq!(text_on([8, 48, 107]), [255, 255, 255]);
    }
}
