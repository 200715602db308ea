//! An RGB raster with the few primitives figures need.

use std::path::Path;
use std::sync::OnceLock;

use skrifa::instance::{LocationRef, Size};
use skrifa::outline::{DrawSettings, OutlinePen};
use skrifa::{FontRef, MetadataProvider};
use vello_cpu::kurbo::{self, Affine, BezPath, Shape as _};

/// An opaque sRGB colour, `[r, g, b]` (the same triple `analysis::colormap` returns).
pub type Rgb = [u8; 3];

/// Where a text's reference point sits relative to the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// Point is the left end of the baseline-centred text.
    Left,
    /// Point is the centre.
    Center,
    /// Point is the right end.
    Right,
}

/// An opaque RGB image being drawn.
#[derive(Debug, Clone)]
pub struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<Rgb>,
}

/// egui's bundled fonts: Ubuntu Light for text, Hack for the symbols it lacks (→, ×, …).
fn fonts() -> &'static [FontRef<'static>; 2] {
    static FONTS: OnceLock<[FontRef<'static>; 2]> = OnceLock::new();
    FONTS.get_or_init(|| {
        [
            FontRef::new(epaint_default_fonts::UBUNTU_LIGHT).expect("bundled font parses"),
            FontRef::new(epaint_default_fonts::HACK_REGULAR).expect("bundled font parses"),
        ]
    })
}

struct PathPen<'a> {
    path: &'a mut BezPath,
    x: f64,
}

impl OutlinePen for PathPen<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        self.path.move_to((x as f64 + self.x, -y as f64));
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.path.line_to((x as f64 + self.x, -y as f64));
    }
    fn quad_to(&mut self, cx: f32, cy: f32, x: f32, y: f32) {
        self.path
            .quad_to((cx as f64 + self.x, -cy as f64), (x as f64 + self.x, -y as f64));
    }
    fn curve_to(&mut self, c0x: f32, c0y: f32, c1x: f32, c1y: f32, x: f32, y: f32) {
        self.path.curve_to(
            (c0x as f64 + self.x, -c0y as f64),
            (c1x as f64 + self.x, -c1y as f64),
            (x as f64 + self.x, -y as f64),
        );
    }
    fn close(&mut self) {
        self.path.close_path();
    }
}

/// Outline of `text` at `size` px with its baseline at y = 0 starting at x = 0, and its
/// advance width.
fn text_path(text: &str, size: f32) -> (BezPath, f64) {
    let mut path = BezPath::new();
    let mut x = 0.0f64;
    for ch in text.chars() {
        let found = fonts()
            .iter()
            .find_map(|f| f.charmap().map(ch).map(|gid| (f, gid)))
            .or_else(|| fonts()[0].charmap().map('?').map(|gid| (&fonts()[0], gid)));
        let Some((font, gid)) = found else {
            continue;
        };
        let metrics = font.glyph_metrics(Size::new(size), LocationRef::default());
        if let Some(glyph) = font.outline_glyphs().get(gid) {
            let mut pen = PathPen { path: &mut path, x };
            let settings = DrawSettings::unhinted(Size::new(size), LocationRef::default());
            // A glyph that fails to draw is left out; the text stays readable.
            if glyph.draw(settings, &mut pen).is_err() {
                continue;
            }
        }
        x += metrics.advance_width(gid).unwrap_or(size * 0.5) as f64;
    }
    (path, x)
}

impl Canvas {
    /// A canvas filled with `background`.
    pub fn new(width: usize, height: usize, background: Rgb) -> Self {
        Self {
            width: width.max(1),
            height: height.max(1),
            pixels: vec![background; width.max(1) * height.max(1)],
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixel at `(x, y)`.
    pub fn pixel(&self, x: usize, y: usize) -> Rgb {
        self.pixels[y * self.width + x]
    }

    fn blend(&mut self, x: usize, y: usize, color: Rgb, alpha: f32) {
        let p = &mut self.pixels[y * self.width + x];
        for c in 0..3 {
            p[c] = (p[c] as f32 + (color[c] as f32 - p[c] as f32) * alpha).round() as u8;
        }
    }

    /// Fills a rectangle (clipped to the canvas; fractional edges round).
    pub fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb) {
        let x0 = x.round().clamp(0.0, self.width as f32) as usize;
        let y0 = y.round().clamp(0.0, self.height as f32) as usize;
        let x1 = (x + w).round().clamp(0.0, self.width as f32) as usize;
        let y1 = (y + h).round().clamp(0.0, self.height as f32) as usize;
        for yy in y0..y1 {
            self.pixels[yy * self.width + x0..yy * self.width + x1].fill(color);
        }
    }

    /// Outlines a rectangle with 1-pixel lines.
    pub fn stroke_rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb) {
        self.fill_rect(x, y, w, 1.0, color);
        self.fill_rect(x, y + h - 1.0, w, 1.0, color);
        self.fill_rect(x, y, 1.0, h, color);
        self.fill_rect(x + w - 1.0, y, 1.0, h, color);
    }

    /// Draws an image of `cols × rows` colours, each source pixel a `scale × scale` block
    /// (nearest neighbour, as digits and kernels should look).
    pub fn image(
        &mut self,
        x: f32,
        y: f32,
        cols: usize,
        rows: usize,
        scale: f32,
        color_of: impl Fn(usize) -> Rgb,
    ) {
        for r in 0..rows {
            for c in 0..cols {
                let px = x + c as f32 * scale;
                let py = y + r as f32 * scale;
                let x1 = x + (c + 1) as f32 * scale;
                let y1 = y + (r + 1) as f32 * scale;
                self.fill_rect(px, py, x1 - px, y1 - py, color_of(r * cols + c));
            }
        }
    }

    /// Draws grey bytes (0 = black) as an image, like [`Canvas::image`].
    pub fn grey(&mut self, x: f32, y: f32, cols: usize, rows: usize, scale: f32, bytes: &[u8]) {
        self.image(x, y, cols, rows, scale, |i| {
            let v = bytes.get(i).copied().unwrap_or(0);
            [v, v, v]
        });
    }

    /// Fills a vector path (antialiased), blended in with `color`.
    fn fill_path(&mut self, path: &BezPath, color: Rgb, stroke_width: Option<f64>) {
        let bounds = match stroke_width {
            Some(w) => path.bounding_box().inflate(w, w),
            None => path.bounding_box(),
        };
        let x0 = bounds.x0.floor().max(0.0);
        let y0 = bounds.y0.floor().max(0.0);
        let x1 = bounds.x1.ceil().min(self.width as f64);
        let y1 = bounds.y1.ceil().min(self.height as f64);
        if x1 <= x0 || y1 <= y0 {
            return;
        }
        let (w, h) = ((x1 - x0) as u16, (y1 - y0) as u16);
        let mut ctx = vello_cpu::RenderContext::new(w, h);
        ctx.set_transform(Affine::translate((-x0, -y0)));
        ctx.set_paint(vello_cpu::color::OpaqueColor::<vello_cpu::color::Srgb>::WHITE);
        match stroke_width {
            Some(width) => {
                ctx.set_stroke(kurbo::Stroke::new(width).with_join(kurbo::Join::Round));
                ctx.stroke_path(path);
            }
            None => ctx.fill_path(path),
        }
        let mut mask = vello_cpu::Pixmap::new(w, h);
        let mut resources = vello_cpu::Resources::new();
        ctx.render(&mut mask, &mut resources);
        let data = mask.data_as_u8_slice();
        for yy in 0..h as usize {
            for xx in 0..w as usize {
                let a = data[4 * (yy * w as usize + xx) + 3];
                if a > 0 {
                    self.blend(x0 as usize + xx, y0 as usize + yy, color, a as f32 / 255.0);
                }
            }
        }
    }

    /// A polyline through `points` (pixels), antialiased, `width` pixels wide.
    pub fn polyline(&mut self, points: &[(f32, f32)], color: Rgb, width: f32) {
        let mut path = BezPath::new();
        for (i, &(x, y)) in points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .enumerate()
        {
            if i == 0 {
                path.move_to((x as f64, y as f64));
            } else {
                path.line_to((x as f64, y as f64));
            }
        }
        if points.len() >= 2 {
            self.fill_path(&path, color, Some(width as f64));
        }
    }

    /// A filled, antialiased circle centred at `(x, y)`, all in pixels.
    pub fn dot(&mut self, x: f32, y: f32, radius: f32, color: Rgb) {
        let path = kurbo::Circle::new((x as f64, y as f64), radius as f64).to_path(0.1);
        self.fill_path(&path, color, None);
    }

    /// Width in pixels of `text` at `size`.
    pub fn text_width(text: &str, size: f32) -> f32 {
        text_path(text, size).1 as f32
    }

    /// Draws `text` at `size` px; `(x, y)` is the anchor point on the text's vertical centre.
    pub fn text(&mut self, x: f32, y: f32, size: f32, color: Rgb, anchor: Anchor, text: &str) {
        let (path, width) = text_path(text, size);
        let dx = match anchor {
            Anchor::Left => 0.0,
            Anchor::Center => -width / 2.0,
            Anchor::Right => -width,
        };
        // Baseline ≈ vertical centre + 0.35 em.
        let placed = Affine::translate((x as f64 + dx, y as f64 + 0.35 * size as f64)) * path;
        self.fill_path(&placed, color, None);
    }

    /// Draws `text` turned 90° counter-clockwise, centred on `(x, y)` (y-axis titles).
    pub fn text_vertical(&mut self, x: f32, y: f32, size: f32, color: Rgb, text: &str) {
        let (path, width) = text_path(text, size);
        let placed = Affine::translate((x as f64 + 0.35 * size as f64, y as f64 + width / 2.0))
            * Affine::rotate(-std::f64::consts::FRAC_PI_2)
            * path;
        self.fill_path(&placed, color, None);
    }

    /// Encodes the canvas as PNG bytes.
    pub fn to_png(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity(self.pixels.len() * 3);
        for p in &self.pixels {
            raw.extend_from_slice(p);
        }
        let mut out = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new(&mut out);
        use image::ImageEncoder as _;
        encoder
            .write_image(
                &raw,
                self.width as u32,
                self.height as u32,
                image::ExtendedColorType::Rgb8,
            )
            .expect("encoding PNG into memory cannot fail for a valid canvas");
        out
    }

    /// Writes the canvas as a PNG file (temporary name, then rename).
    pub fn save_png(&self, path: &Path) -> std::io::Result<()> {
        crate::fsutil::atomic_write(path, &self.to_png())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangles_fill_exactly_their_pixels() {
        let mut c = Canvas::new(4, 3, [255, 255, 255]);
        c.fill_rect(1.0, 1.0, 2.0, 1.0, [0, 0, 0]);
        assert_eq!(c.pixel(1, 1), [0, 0, 0]);
        assert_eq!(c.pixel(2, 1), [0, 0, 0]);
        assert_eq!(c.pixel(0, 1), [255, 255, 255]);
        assert_eq!(c.pixel(1, 0), [255, 255, 255]);
        // Clipped, never out of bounds.
        c.fill_rect(-5.0, -5.0, 100.0, 100.0, [1, 2, 3]);
        assert_eq!(c.pixel(3, 2), [1, 2, 3]);
    }

    #[test]
    fn images_scale_by_nearest_neighbour() {
        let mut c = Canvas::new(4, 2, [0, 0, 0]);
        c.grey(0.0, 0.0, 2, 1, 2.0, &[10, 200]);
        assert_eq!(c.pixel(1, 1), [10, 10, 10]);
        assert_eq!(c.pixel(2, 0), [200, 200, 200]);
    }

    #[test]
    fn text_leaves_ink_where_it_is_drawn() {
        let mut c = Canvas::new(80, 30, [255, 255, 255]);
        c.text(40.0, 15.0, 16.0, [0, 0, 0], Anchor::Center, "0.98");
        let dark = (0..30)
            .flat_map(|y| (0..80).map(move |x| (x, y)))
            .filter(|&(x, y)| c.pixel(x, y)[0] < 128)
            .count();
        assert!(dark > 20, "only {dark} dark pixels");
        assert!(Canvas::text_width("0.98", 16.0) > Canvas::text_width("0", 16.0));
        // Nothing at the far left: the text is centred.
        assert!((0..30).all(|y| c.pixel(2, y) == [255, 255, 255]));
    }

    #[test]
    fn png_round_trips() {
        let mut c = Canvas::new(5, 4, [9, 9, 9]);
        c.polyline(&[(0.0, 0.0), (4.0, 3.0)], [255, 0, 0], 1.5);
        let img = image::load_from_memory(&c.to_png()).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (5, 4));
        assert_eq!(img.get_pixel(4, 0).0, [9, 9, 9]);
        assert!(img.get_pixel(2, 1).0[0] > 9 || img.get_pixel(2, 2).0[0] > 9);
    }
}
