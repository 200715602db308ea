//! CPU-side augmentation (seed S3): random rotation ±15°, shift ±2 px and scale 0.9-1.1,
//! applied by inverse-mapped nearest-pixel sampling, as torchvision's `RandomAffine` does by
//! default. (Bilinear sampling blurs every training image a little, which test images are
//! not; with it seed3-cnn lost about 0.2 points of test accuracy.)

use super::IMAGE_SIDE;
use crate::rng::Rng;

/// One affine augmentation: scale and rotation about the image centre, then a shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AffineParams {
    /// Rotation in radians (counter-clockwise on screen).
    pub angle: f32,
    /// Shift in pixels, x (right) and y (down).
    pub shift: (f32, f32),
    /// Scale factor about the centre.
    pub scale: f32,
}

impl AffineParams {
    /// The identity transform.
    pub const IDENTITY: Self = Self {
        angle: 0.0,
        shift: (0.0, 0.0),
        scale: 1.0,
    };

    /// A random transform within seed S3's ranges.
    pub fn random(rng: &mut Rng) -> Self {
        Self {
            angle: rng.uniform(-15.0, 15.0).to_radians(),
            shift: (rng.uniform(-2.0, 2.0), rng.uniform(-2.0, 2.0)),
            scale: rng.uniform(0.9, 1.1),
        }
    }
}

/// Warps a 28×28 image of intensities by `p` (output pixel → source by the inverse map).
pub fn warp(src: &[f32], p: AffineParams) -> Vec<f32> {
    let n = IMAGE_SIDE as f32;
    let c = n / 2.0;
    let (sin, cos) = p.angle.sin_cos();
    let mut out = vec![0f32; IMAGE_SIDE * IMAGE_SIDE];
    for y in 0..IMAGE_SIDE {
        for x in 0..IMAGE_SIDE {
            let (dx, dy) = (x as f32 + 0.5 - c - p.shift.0, y as f32 + 0.5 - c - p.shift.1);
            let sx = (cos * dx + sin * dy) / p.scale + c - 0.5;
            let sy = (-sin * dx + cos * dy) / p.scale + c - 0.5;
            out[y * IMAGE_SIDE + x] = nearest(src, sx, sy);
        }
    }
    out
}

/// Nearest-pixel sample with zero outside the image.
pub fn nearest(src: &[f32], x: f32, y: f32) -> f32 {
    let (xi, yi) = (x.round(), y.round());
    if xi < 0.0 || yi < 0.0 || xi >= IMAGE_SIDE as f32 || yi >= IMAGE_SIDE as f32 {
        0.0
    } else {
        src[yi as usize * IMAGE_SIDE + xi as usize]
    }
}

/// Bilinear sample with zero outside the image.
pub fn bilinear(src: &[f32], x: f32, y: f32) -> f32 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let at = |xi: f32, yi: f32| -> f32 {
        if xi < 0.0 || yi < 0.0 || xi >= IMAGE_SIDE as f32 || yi >= IMAGE_SIDE as f32 {
            0.0
        } else {
            src[yi as usize * IMAGE_SIDE + xi as usize]
        }
    };
    at(x0, y0) * (1.0 - fx) * (1.0 - fy)
        + at(x0 + 1.0, y0) * fx * (1.0 - fy)
        + at(x0, y0 + 1.0) * (1.0 - fx) * fy
        + at(x0 + 1.0, y0 + 1.0) * fx * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot_at(x: usize, y: usize) -> Vec<f32> {
        let mut img = vec![0.0; 784];
        img[y * 28 + x] = 1.0;
        img
    }

    #[test]
    fn identity_leaves_the_image_unchanged() {
        let img: Vec<f32> = (0..784).map(|i| (i % 13) as f32 / 13.0).collect();
        let out = warp(&img, AffineParams::IDENTITY);
        for (a, b) in img.iter().zip(&out) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn shift_moves_a_dot_by_whole_pixels() {
        let out = warp(
            &dot_at(10, 10),
            AffineParams {
                shift: (2.0, -1.0),
                ..AffineParams::IDENTITY
            },
        );
        assert!((out[9 * 28 + 12] - 1.0).abs() < 1e-5);
    }

    #[test]
    fn quarter_turn_maps_pixel_centres_onto_pixel_centres() {
        // Centre (20.5, 14.5) is (6.5, 0.5) from the image centre (14, 14); a quarter turn
        // takes it to (13.5, 20.5) or (14.5, 7.5) depending on direction: pixel (13, 20) or (14, 7).
        let out = warp(
            &dot_at(20, 14),
            AffineParams {
                angle: std::f32::consts::FRAC_PI_2,
                ..AffineParams::IDENTITY
            },
        );
        let (idx, peak) = out
            .iter()
            .enumerate()
            .fold((0, 0.0), |m, (i, &v)| if v > m.1 { (i, v) } else { m });
        assert!((peak - 1.0).abs() < 1e-4, "peak {peak}");
        assert!(
            [(13, 20), (14, 7)].contains(&(idx % 28, idx / 28)),
            "dot landed at {idx}"
        );
    }
}
