//! Corruptions of 28×28 intensity images for the robustness suite (seed S3's question of
//! other handwriting, asked without a second dataset): rotation, shift, scale, thicker and thinner
//! strokes, noise, blur and inversion, each at growing severities. Pure functions.

use serde::{Deserialize, Serialize};

use crate::data::IMAGE_SIDE;
use crate::data::augment::{AffineParams, warp};
use crate::rng::Rng;

/// A kind of corruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Corruption {
    /// Rotation by 10°, 20°, 30°, 45°, 60°.
    Rotation,
    /// Shift right and down by 2, 3, 4, 5, 6 pixels (diagonal).
    Shift,
    /// Shrink about the centre to 0.8, 0.7, 0.6, 0.5, 0.4.
    Scale,
    /// Grey dilation with a 3×3 square, 1 to 3 times.
    Thicker,
    /// Grey erosion with a 3×3 cross, blended with the image at 1/3, 2/3 and fully (MNIST
    /// strokes are two or three pixels wide: a second full erosion erases most digits).
    Thinner,
    /// Gaussian noise of σ 0.1 to 0.5 (clipped to [0, 1]).
    Noise,
    /// Gaussian blur of σ 0.5 to 2.5 pixels.
    Blur,
    /// White digit on black becomes black on white.
    Inversion,
}

impl Corruption {
    /// Every corruption, in chart order.
    pub const ALL: [Corruption; 8] = [
        Corruption::Rotation,
        Corruption::Shift,
        Corruption::Scale,
        Corruption::Thicker,
        Corruption::Thinner,
        Corruption::Noise,
        Corruption::Blur,
        Corruption::Inversion,
    ];

    /// Lower-case name for charts, CSV and JSON (`rotation`, `noise`, …).
    pub fn name(self) -> &'static str {
        match self {
            Corruption::Rotation => "rotation",
            Corruption::Shift => "shift",
            Corruption::Scale => "scale",
            Corruption::Thicker => "thicker",
            Corruption::Thinner => "thinner",
            Corruption::Noise => "noise",
            Corruption::Blur => "blur",
            Corruption::Inversion => "inversion",
        }
    }

    /// The parameter of each severity, with its unit, e.g. `["10°", …]`.
    pub fn levels(self) -> Vec<String> {
        match self {
            Corruption::Rotation => ROTATION.iter().map(|d| format!("{d}°")).collect(),
            Corruption::Shift => SHIFT.iter().map(|d| format!("{d} px")).collect(),
            Corruption::Scale => SCALE.iter().map(|s| format!("×{s}")).collect(),
            Corruption::Thicker => (1..=3).map(|k| format!("{k}×")).collect(),
            Corruption::Thinner => ["1/3", "2/3", "full"].map(String::from).to_vec(),
            Corruption::Noise => NOISE.iter().map(|s| format!("σ {s}")).collect(),
            Corruption::Blur => BLUR.iter().map(|s| format!("σ {s} px")).collect(),
            Corruption::Inversion => vec!["inverted".into()],
        }
    }

    /// Applies severity `level` (0-based, below `levels().len()`); `rng` drives noise.
    pub fn apply(self, image: &[f32], level: usize, rng: &mut Rng) -> Vec<f32> {
        match self {
            Corruption::Rotation => warp(
                image,
                AffineParams {
                    angle: (ROTATION[level] as f32).to_radians(),
                    ..AffineParams::IDENTITY
                },
            ),
            Corruption::Shift => {
                let d = SHIFT[level] as i32;
                crate::pad::shifted(image, d, d)
            }
            Corruption::Scale => warp(
                image,
                AffineParams {
                    scale: SCALE[level],
                    ..AffineParams::IDENTITY
                },
            ),
            Corruption::Thicker => repeat(image, level + 1, dilate),
            Corruption::Thinner => {
                let weight = (level + 1) as f32 / 3.0;
                image
                    .iter()
                    .zip(erode(image))
                    .map(|(&v, e)| (1.0 - weight) * v + weight * e)
                    .collect()
            }
            Corruption::Noise => image
                .iter()
                .map(|&v| (v + NOISE[level] * rng.normal()).clamp(0.0, 1.0))
                .collect(),
            Corruption::Blur => gaussian_blur(image, BLUR[level]),
            Corruption::Inversion => image.iter().map(|v| 1.0 - v).collect(),
        }
    }
}

const ROTATION: [u32; 5] = [10, 20, 30, 45, 60];
const SHIFT: [u32; 5] = [2, 3, 4, 5, 6];
const SCALE: [f32; 5] = [0.8, 0.7, 0.6, 0.5, 0.4];
const NOISE: [f32; 5] = [0.1, 0.2, 0.3, 0.4, 0.5];
const BLUR: [f32; 5] = [0.5, 1.0, 1.5, 2.0, 2.5];

fn repeat(image: &[f32], times: usize, f: fn(&[f32]) -> Vec<f32>) -> Vec<f32> {
    (0..times).fold(image.to_vec(), |img, _| f(&img))
}

fn at(image: &[f32], r: i32, c: i32) -> Option<f32> {
    let n = IMAGE_SIDE as i32;
    ((0..n).contains(&r) && (0..n).contains(&c)).then(|| image[(r * n + c) as usize])
}

/// Grey dilation: each pixel becomes the maximum of its 3×3 neighbourhood.
pub fn dilate(image: &[f32]) -> Vec<f32> {
    let n = IMAGE_SIDE as i32;
    (0..n * n)
        .map(|i| {
            let (r, c) = (i / n, i % n);
            (-1..=1)
                .flat_map(|dr| (-1..=1).map(move |dc| (dr, dc)))
                .filter_map(|(dr, dc)| at(image, r + dr, c + dc))
                .fold(0.0, f32::max)
        })
        .collect()
}

/// Grey erosion: each pixel becomes the minimum of itself and its 4 neighbours (outside
/// the image counts as background).
pub fn erode(image: &[f32]) -> Vec<f32> {
    let n = IMAGE_SIDE as i32;
    (0..n * n)
        .map(|i| {
            let (r, c) = (i / n, i % n);
            [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)]
                .iter()
                .map(|&(dr, dc)| at(image, r + dr, c + dc).unwrap_or(0.0))
                .fold(1.0, f32::min)
        })
        .collect()
}

/// Separable Gaussian blur of standard deviation `sigma` pixels (edges clamp).
pub fn gaussian_blur(image: &[f32], sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as i32;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|x| (-(x * x) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let n = IMAGE_SIDE as i32;
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        (0..n * n)
            .map(|i| {
                let (r, c) = (i / n, i % n);
                kernel
                    .iter()
                    .zip(-radius..=radius)
                    .map(|(k, d)| {
                        let (rr, cc) = if horizontal {
                            (r, (c + d).clamp(0, n - 1))
                        } else {
                            ((r + d).clamp(0, n - 1), c)
                        };
                        k * src[(rr * n + cc) as usize]
                    })
                    .sum()
            })
            .collect()
    };
    pass(&pass(image, true), false)
}
