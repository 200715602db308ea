//! Pixel helpers shared by panels: the engine's grey conversions and atlases
//! (`analysis::pixels`, re-exported), model-input greys (unit-tested), and [`CachedTexture`],
//! which uploads a texture once and updates it with `TextureHandle::set` only when its content
//! changes. Colours are in [`palette`](super::palette).

use egui::{ColorImage, TextureHandle, TextureOptions};

pub use crate::analysis::pixels::{atlas, intensities_to_grey};
use crate::data::{MNIST_MEAN, MNIST_STD};

/// Normalised model inputs to grey bytes over the full range the normalisation can produce
/// (background maps to black, full ink to white), so the model-input view shows exactly the
/// numbers the network receives.
pub fn model_input_to_grey(values: &[f32]) -> Vec<u8> {
    let lo = -MNIST_MEAN / MNIST_STD;
    let hi = (1.0 - MNIST_MEAN) / MNIST_STD;
    values
        .iter()
        .map(|&v| (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

/// A chart inside a panel: `height` points tall, and the mouse wheel scrolls the panel rather
/// than zooming the chart (drag and box zoom still work unless the caller turns them off).
pub fn panel_plot<'a>(id: impl egui::AsIdSalt, height: f32) -> egui_plot::Plot<'a> {
    egui_plot::Plot::new(id).height(height).allow_scroll(false)
}

/// A texture that is uploaded once and then updated in place when its content key changes.
#[derive(Default)]
pub struct CachedTexture {
    handle: Option<TextureHandle>,
    key: Option<u64>,
}

impl CachedTexture {
    /// The texture for content `key`; `make` is called only when the key changed.
    pub fn get(
        &mut self,
        ctx: &egui::Context,
        name: &str,
        key: u64,
        make: impl FnOnce() -> ColorImage,
    ) -> &TextureHandle {
        if self.key != Some(key) || self.handle.is_none() {
            let image = make();
            match &mut self.handle {
                Some(handle) => handle.set(image, TextureOptions::NEAREST),
                None => self.handle = Some(ctx.load_texture(name, image, TextureOptions::NEAREST)),
            }
            self.key = Some(key);
        }
        self.handle.as_ref().expect("texture just set")
    }
}

/// A grey `ColorImage` from bytes.
pub fn grey_image(width: usize, height: usize, bytes: &[u8]) -> ColorImage {
    ColorImage::from_gray([width, height], bytes)
}

/// A share in [0, 1] as a percentage with `decimals` places (`"99.12 %"`), or `"–"` when it
/// is not one: NaN, infinite or out of range (a diverged run, a damaged or hand-edited results
/// file). Figures are never shown as "inf %" or "NaN %".
pub fn percent(share: f64, decimals: usize) -> String {
    if share_is_valid(share) {
        format!("{:.*} %", decimals, 100.0 * share)
    } else {
        "–".into()
    }
}

fn share_is_valid(share: f64) -> bool {
    share.is_finite() && (0.0..=1.0).contains(&share)
}

/// A label `"{prefix}{percent}"` (see [`percent`]); where the share is not a number in
/// [0, 1] it reads `"{prefix}–"` and its hover text says what the file held.
pub fn percent_label(ui: &mut egui::Ui, prefix: &str, share: f64, decimals: usize) -> egui::Response {
    let response = ui.label(format!("{prefix}{}", percent(share, decimals)));
    if share_is_valid(share) {
        response
    } else {
        response.on_hover_text(format!(
            "not a share between 0 and 1 (the value recorded is {share}): the run diverged or its file is damaged"
        ))
    }
}

/// Formats seconds as `1h 02m`, `3m 05s` or `12s`.
pub fn format_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_input_range_maps_to_black_and_white() {
        let lo = crate::data::normalize_intensity(0.0);
        let hi = crate::data::normalize_intensity(1.0);
        assert_eq!(model_input_to_grey(&[lo, hi]), vec![0, 255]);
    }

    #[test]
    fn non_finite_shares_never_show_as_numbers() {
        assert_eq!(percent(0.99123, 2), "99.12 %");
        assert_eq!(percent(f64::INFINITY, 2), "–");
        assert_eq!(percent(f64::NAN, 1), "–");
        assert_eq!(percent(1.5, 1), "–");
        assert_eq!(percent(-0.1, 1), "–");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(12.4), "12s");
        assert_eq!(format_duration(185.0), "3m 05s");
        assert_eq!(format_duration(3720.0), "1h 02m");
    }
}
