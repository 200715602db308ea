//! The drawing pad's image: a 28×28 grid of intensities in `[0, 1]` (0 = background), edited
//! with an MNIST-like soft brush, row fills and shifts, with undo and redo. Pure: no UI, no
//! tensors, so every edit is unit-tested.

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};

/// Most undo steps kept.
pub const HISTORY_LIMIT: usize = 200;

/// How a brush changes pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Brush {
    /// Radius of the fully inked core, in pixels.
    pub radius: f32,
    /// Width of the soft edge beyond the core, in pixels.
    pub softness: f32,
    /// Erase instead of paint.
    pub erase: bool,
}

impl Default for Brush {
    /// A pen that draws strokes about as thick as MNIST's (2–3 pixels with grey edges).
    fn default() -> Self {
        Self {
            radius: 0.9,
            softness: 1.1,
            erase: false,
        }
    }
}

impl Brush {
    /// Ink (0..1) the brush leaves at distance `d` from its centre line.
    pub fn coverage(&self, d: f32) -> f32 {
        if d <= self.radius {
            1.0
        } else if self.softness <= 0.0 {
            0.0
        } else {
            (1.0 - (d - self.radius) / self.softness).clamp(0.0, 1.0)
        }
    }
}

/// Distance from point `p` to the segment `a`–`b`.
pub fn distance_to_segment(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    };
    let (cx, cy) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt()
}

/// The pad image with its edit history.
#[derive(Debug, Clone)]
pub struct PadImage {
    pixels: Vec<f32>,
    undo: Vec<Vec<f32>>,
    redo: Vec<Vec<f32>>,
    revision: u64,
}

impl Default for PadImage {
    fn default() -> Self {
        Self {
            pixels: vec![0.0; IMAGE_PIXELS],
            undo: Vec::new(),
            redo: Vec::new(),
            revision: 0,
        }
    }
}

impl PadImage {
    /// The 784 intensities, row-major, row 0 at the top.
    pub fn pixels(&self) -> &[f32] {
        &self.pixels
    }

    /// Counts every change, so views know when to refresh.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Whether there is anything to undo / redo.
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// Whether there is anything to redo.
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Remembers the current image as one undo step (call once before a stroke or an edit).
    pub fn checkpoint(&mut self) {
        self.undo.push(self.pixels.clone());
        if self.undo.len() > HISTORY_LIMIT {
            self.undo.remove(0);
        }
        self.redo.clear();
    }

    fn changed(&mut self) {
        self.revision += 1;
    }

    /// Undoes the last edit. Returns whether anything changed.
    pub fn undo(&mut self) -> bool {
        match self.undo.pop() {
            Some(previous) => {
                self.redo.push(std::mem::replace(&mut self.pixels, previous));
                self.changed();
                true
            }
            None => false,
        }
    }

    /// Redoes the last undone edit. Returns whether anything changed.
    pub fn redo(&mut self) -> bool {
        match self.redo.pop() {
            Some(next) => {
                self.undo.push(std::mem::replace(&mut self.pixels, next));
                self.changed();
                true
            }
            None => false,
        }
    }

    /// Replaces the image (an undoable edit). Values are clamped to `[0, 1]`; a wrong length
    /// is refused.
    pub fn set(&mut self, pixels: &[f32]) -> bool {
        if pixels.len() != IMAGE_PIXELS {
            return false;
        }
        self.checkpoint();
        self.pixels = pixels.iter().map(|v| v.clamp(0.0, 1.0)).collect();
        self.changed();
        true
    }

    /// Replaces the image with a dataset image (bytes 0–255).
    pub fn set_bytes(&mut self, bytes: &[u8]) -> bool {
        let values: Vec<f32> = bytes.iter().map(|&b| b as f32 / 255.0).collect();
        self.set(&values)
    }

    /// Blanks the image (undoable).
    pub fn clear(&mut self) {
        self.set(&[0.0; IMAGE_PIXELS]);
    }

    /// Applies a brush along the segment `from`–`to` (pixel coordinates, x right, y down,
    /// pixel centres at `i + 0.5`). Not an undo step by itself: call [`Self::checkpoint`] at
    /// the start of the stroke.
    pub fn stroke(&mut self, from: (f32, f32), to: (f32, f32), brush: &Brush) {
        let reach = brush.radius + brush.softness + 1.0;
        let x0 = (from.0.min(to.0) - reach).floor().max(0.0) as usize;
        let y0 = (from.1.min(to.1) - reach).floor().max(0.0) as usize;
        let x1 = ((from.0.max(to.0) + reach).ceil().max(0.0) as usize).min(IMAGE_SIDE);
        let y1 = ((from.1.max(to.1) + reach).ceil().max(0.0) as usize).min(IMAGE_SIDE);
        for y in y0..y1 {
            for x in x0..x1 {
                let d = distance_to_segment((x as f32 + 0.5, y as f32 + 0.5), from, to);
                let c = brush.coverage(d);
                if c <= 0.0 {
                    continue;
                }
                let p = &mut self.pixels[y * IMAGE_SIDE + x];
                *p = if brush.erase {
                    (*p).min(1.0 - c)
                } else {
                    (*p).max(c)
                };
            }
        }
        self.changed();
    }

    /// Sets every pixel of rows `first..=last` to `value` (an undoable edit).
    pub fn fill_rows(&mut self, first: usize, last: usize, value: f32) {
        let (a, b) = (first.min(last), first.max(last).min(IMAGE_SIDE - 1));
        self.checkpoint();
        for p in &mut self.pixels[a * IMAGE_SIDE..(b + 1) * IMAGE_SIDE] {
            *p = value.clamp(0.0, 1.0);
        }
        self.changed();
    }

    /// Moves the image by `dx`, `dy` pixels (right, down); what leaves the grid is lost and
    /// the space behind is blank (an undoable edit).
    pub fn shift(&mut self, dx: i32, dy: i32) {
        self.checkpoint();
        self.pixels = shifted(&self.pixels, dx, dy);
        self.changed();
    }
}

/// `pixels` (28×28) moved by `dx`, `dy`, blank where nothing moved in.
pub fn shifted(pixels: &[f32], dx: i32, dy: i32) -> Vec<f32> {
    let side = IMAGE_SIDE as i32;
    let mut out = vec![0.0; IMAGE_PIXELS];
    for y in 0..side {
        for x in 0..side {
            let (sx, sy) = (x - dx, y - dy);
            if (0..side).contains(&sx) && (0..side).contains(&sy) {
                out[(y * side + x) as usize] = pixels[(sy * side + sx) as usize];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_distance() {
        assert!((distance_to_segment((0.0, 1.0), (0.0, 0.0), (2.0, 0.0)) - 1.0).abs() < 1e-6);
        assert!((distance_to_segment((3.0, 0.0), (0.0, 0.0), (2.0, 0.0)) - 1.0).abs() < 1e-6);
        assert!((distance_to_segment((1.0, 1.0), (1.0, 1.0), (1.0, 1.0))).abs() < 1e-6);
    }

    #[test]
    fn brush_is_solid_in_the_core_and_soft_at_the_edge() {
        let b = Brush {
            radius: 1.0,
            softness: 2.0,
            erase: false,
        };
        assert_eq!(b.coverage(0.5), 1.0);
        assert!((b.coverage(2.0) - 0.5).abs() < 1e-6);
        assert_eq!(b.coverage(3.5), 0.0);
    }

    #[test]
    fn stroke_paints_and_erases_then_undo_restores() {
        let mut pad = PadImage::default();
        pad.checkpoint();
        pad.stroke((4.0, 14.5), (24.0, 14.5), &Brush::default());
        assert_eq!(pad.pixels()[14 * 28 + 14], 1.0, "centre row inked");
        assert_eq!(pad.pixels()[2 * 28 + 14], 0.0, "far rows untouched");
        let edge = pad.pixels()[13 * 28 + 14];
        assert!(edge > 0.0 && edge < 1.0, "soft edge, got {edge}");
        pad.checkpoint();
        pad.stroke(
            (0.0, 14.5),
            (28.0, 14.5),
            &Brush {
                erase: true,
                ..Brush::default()
            },
        );
        assert_eq!(pad.pixels()[14 * 28 + 14], 0.0);
        assert!(pad.undo());
        assert_eq!(pad.pixels()[14 * 28 + 14], 1.0);
        assert!(pad.undo());
        assert!(pad.pixels().iter().all(|&p| p == 0.0));
        assert!(!pad.undo());
        assert!(pad.redo());
        assert_eq!(pad.pixels()[14 * 28 + 14], 1.0);
    }

    #[test]
    fn rows_fill_and_shift() {
        let mut pad = PadImage::default();
        pad.fill_rows(5, 3, 1.0);
        let ink: Vec<usize> = (0..28).filter(|r| pad.pixels()[r * 28 + 7] == 1.0).collect();
        assert_eq!(ink, vec![3, 4, 5]);
        pad.shift(0, 2);
        let ink: Vec<usize> = (0..28).filter(|r| pad.pixels()[r * 28 + 7] == 1.0).collect();
        assert_eq!(ink, vec![5, 6, 7]);
        pad.shift(0, -30);
        assert!(pad.pixels().iter().all(|&p| p == 0.0), "shifted off the grid");
        assert!(pad.undo());
        assert_eq!(pad.pixels()[5 * 28], 1.0);
        // A new edit clears the redo stack.
        pad.clear();
        assert!(!pad.can_redo());
    }

    #[test]
    fn shift_moves_a_single_pixel_right() {
        let mut px = vec![0.0; IMAGE_PIXELS];
        px[3 * 28 + 3] = 1.0;
        let out = shifted(&px, 1, 0);
        assert_eq!(out[3 * 28 + 4], 1.0);
        assert_eq!(out.iter().sum::<f32>(), 1.0);
    }

    #[test]
    fn set_refuses_wrong_length() {
        let mut pad = PadImage::default();
        assert!(!pad.set(&[0.5; 10]));
        assert!(!pad.can_undo());
        assert!(pad.set_bytes(&[255; IMAGE_PIXELS]));
        assert_eq!(pad.pixels()[0], 1.0);
    }
}
