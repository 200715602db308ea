//! Built-in synthetic digits: a deterministic, seeded generator of 28×28 digits 0-9 drawn from
//! stroke templates with random affine transforms, stroke widths and noise, fitted into a
//! 20×20 box and centred by mass in 28×28 as MNIST is.

use super::{Digits, IMAGE_PIXELS, IMAGE_SIDE};
use crate::rng::Rng;

type Stroke = Vec<(f32, f32)>;

fn ellipse(cx: f32, cy: f32, rx: f32, ry: f32, start: f32, sweep: f32, steps: usize) -> Stroke {
    (0..=steps)
        .map(|i| {
            let t = start + sweep * i as f32 / steps as f32;
            (cx + rx * t.cos(), cy + ry * t.sin())
        })
        .collect()
}

/// The stroke templates of a digit, in a unit box with y pointing down.
fn template(digit: u8, rng: &mut Rng) -> Vec<Stroke> {
    use std::f32::consts::PI;
    let v = rng.below(2); // two writing styles for some digits
    match digit {
        0 => vec![ellipse(0.5, 0.5, 0.3, 0.45, 0.0, 2.0 * PI, 20)],
        1 => {
            if v == 0 {
                vec![vec![(0.5, 0.05), (0.5, 0.95)]]
            } else {
                vec![vec![(0.32, 0.22), (0.52, 0.05), (0.52, 0.95)]]
            }
        }
        2 => vec![vec![
            (0.2, 0.28),
            (0.3, 0.1),
            (0.5, 0.04),
            (0.72, 0.12),
            (0.78, 0.32),
            (0.62, 0.55),
            (0.38, 0.75),
            (0.18, 0.95),
            (0.85, 0.95),
        ]],
        3 => vec![vec![
            (0.2, 0.12),
            (0.45, 0.04),
            (0.72, 0.12),
            (0.74, 0.32),
            (0.45, 0.48),
            (0.76, 0.6),
            (0.78, 0.82),
            (0.5, 0.96),
            (0.2, 0.88),
        ]],
        4 => {
            if v == 0 {
                vec![vec![(0.62, 0.95), (0.62, 0.05), (0.12, 0.66), (0.88, 0.66)]]
            } else {
                vec![
                    vec![(0.25, 0.05), (0.2, 0.55), (0.85, 0.55)],
                    vec![(0.68, 0.25), (0.68, 0.95)],
                ]
            }
        }
        5 => vec![vec![
            (0.8, 0.05),
            (0.3, 0.05),
            (0.24, 0.45),
            (0.55, 0.38),
            (0.8, 0.52),
            (0.8, 0.8),
            (0.55, 0.96),
            (0.2, 0.88),
        ]],
        6 => vec![vec![
            (0.7, 0.04),
            (0.42, 0.2),
            (0.24, 0.5),
            (0.25, 0.8),
            (0.48, 0.96),
            (0.74, 0.84),
            (0.76, 0.62),
            (0.52, 0.5),
            (0.26, 0.62),
        ]],
        7 => {
            if v == 0 {
                vec![vec![(0.15, 0.06), (0.85, 0.06), (0.42, 0.95)]]
            } else {
                vec![
                    vec![(0.15, 0.06), (0.85, 0.06), (0.42, 0.95)],
                    vec![(0.4, 0.5), (0.75, 0.5)],
                ]
            }
        }
        8 => vec![
            ellipse(0.5, 0.27, 0.22, 0.22, 0.0, 2.0 * PI, 16),
            ellipse(0.5, 0.73, 0.27, 0.23, 0.0, 2.0 * PI, 16),
        ],
        _ => vec![
            ellipse(0.5, 0.3, 0.24, 0.25, 0.0, 2.0 * PI, 16),
            vec![(0.74, 0.3), (0.7, 0.65), (0.62, 0.96)],
        ],
    }
}

fn dist_to_segment(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (cx, cy) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt()
}

/// Renders strokes (pixel coordinates) with a soft round pen of the given width into [0, 1].
fn render(strokes: &[Stroke], width: f32) -> Vec<f32> {
    let mut out = vec![0f32; IMAGE_PIXELS];
    for y in 0..IMAGE_SIDE {
        for x in 0..IMAGE_SIDE {
            let p = (x as f32 + 0.5, y as f32 + 0.5);
            let mut d = f32::MAX;
            for s in strokes {
                for w in s.windows(2) {
                    d = d.min(dist_to_segment(p, w[0], w[1]));
                }
            }
            out[y * IMAGE_SIDE + x] = (width / 2.0 - d + 0.5).clamp(0.0, 1.0);
        }
    }
    out
}

fn centre_of_mass(img: &[f32]) -> Option<(f32, f32)> {
    let (mut m, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (i, &v) in img.iter().enumerate() {
        m += v;
        sx += v * ((i % IMAGE_SIDE) as f32 + 0.5);
        sy += v * ((i / IMAGE_SIDE) as f32 + 0.5);
    }
    (m > 0.0).then(|| (sx / m, sy / m))
}

/// Draws one digit as bytes, fully determined by `rng`'s state.
pub fn draw_digit(digit: u8, rng: &mut Rng) -> Vec<u8> {
    let mut strokes = template(digit, rng);
    // Jitter control points, then a random affine map (rotation, shear, aspect).
    let angle = rng.uniform(-0.22, 0.22);
    let shear = rng.uniform(-0.25, 0.25);
    let aspect = rng.uniform(0.75, 1.2);
    let (sin, cos) = angle.sin_cos();
    for s in &mut strokes {
        for p in s.iter_mut() {
            let (x, y) = (
                p.0 + rng.uniform(-0.035, 0.035) - 0.5,
                p.1 + rng.uniform(-0.035, 0.035) - 0.5,
            );
            let x = (x + shear * y) * aspect;
            *p = (cos * x - sin * y, sin * x + cos * y);
        }
    }
    // Fit the bounding box into 20×20 keeping the aspect ratio, as MNIST did.
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in strokes.iter().flatten() {
        (x0, y0, x1, y1) = (x0.min(p.0), y0.min(p.1), x1.max(p.0), y1.max(p.1));
    }
    let width = rng.uniform(1.4, 3.2);
    let box_side = 20.0 - width;
    let scale = box_side / (x1 - x0).max(y1 - y0).max(1e-3);
    for p in strokes.iter_mut().flatten() {
        *p = (
            14.0 + (p.0 - (x0 + x1) / 2.0) * scale,
            14.0 + (p.1 - (y0 + y1) / 2.0) * scale,
        );
    }
    // Centre by mass: render, measure, shift, render again.
    if let Some((cx, cy)) = centre_of_mass(&render(&strokes, width)) {
        for p in strokes.iter_mut().flatten() {
            *p = (p.0 + 14.0 - cx, p.1 + 14.0 - cy);
        }
    }
    let noise = rng.uniform(0.0, 0.08);
    render(&strokes, width)
        .into_iter()
        .map(|v| {
            let n = if v > 0.0 { rng.normal() * noise } else { 0.0 };
            ((v + n).clamp(0.0, 1.0) * 255.0).round() as u8
        })
        .collect()
}

/// Generates `count` digits with balanced labels (0,1,…,9,0,1,…), deterministically from `seed`.
pub fn generate(count: usize, seed: u64) -> Digits {
    let mut pixels = Vec::with_capacity(count * IMAGE_PIXELS);
    let mut labels = Vec::with_capacity(count);
    for i in 0..count {
        let digit = (i % 10) as u8;
        let mut rng = Rng::derive(seed, i as u64);
        pixels.extend(draw_digit(digit, &mut rng));
        labels.push(digit);
    }
    Digits { pixels, labels }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_seed_dependent() {
        let a = generate(20, 5);
        assert_eq!(a.pixels, generate(20, 5).pixels);
        assert_ne!(a.pixels, generate(20, 6).pixels);
        assert_eq!(a.label_counts(), [2; 10]);
    }

    #[test]
    fn digits_are_centred_by_mass_and_inside_the_frame() {
        let d = generate(50, 1);
        for i in 0..d.len() {
            let img: Vec<f32> = d.image(i).iter().map(|&p| p as f32 / 255.0).collect();
            let (cx, cy) = centre_of_mass(&img).expect("ink");
            assert!(
                (cx - 14.0).abs() < 1.5 && (cy - 14.0).abs() < 1.5,
                "digit {i} at {cx},{cy}"
            );
            // The outer two-pixel frame stays nearly empty, as in MNIST.
            let border: u32 = (0..IMAGE_PIXELS)
                .filter(|p| {
                    let (x, y) = (p % 28, p / 28);
                    !(2..26).contains(&x) || !(2..26).contains(&y)
                })
                .map(|p| img[p] as u32)
                .sum();
            assert!(border < 3, "digit {i} touches the frame");
        }
    }
}
