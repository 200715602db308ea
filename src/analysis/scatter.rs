//! A large scatter (thousands of points) drawn once into pixels, so a panel showing one stays
//! fluid on software rendering: [`raster`] draws the dots, [`Frame`] maps between data and
//! raster coordinates (the exported figure uses the same bounds).

/// The data bounds shown and the raster size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Data x range `(min, max)` (drawn left to right).
    pub x: (f32, f32),
    /// Data y range (up is positive: drawn top = `y.1`).
    pub y: (f32, f32),
    /// Raster side in pixels.
    pub size: usize,
}

impl Frame {
    /// Bounds around `points` with a 4 % margin.
    pub fn around(points: &[[f32; 2]], size: usize) -> Frame {
        let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
        for p in points {
            for d in 0..2 {
                lo[d] = lo[d].min(p[d]);
                hi[d] = hi[d].max(p[d]);
            }
        }
        if points.is_empty() {
            (lo, hi) = ([0.0; 2], [1.0; 2]);
        }
        let pad = |d: usize| ((hi[d] - lo[d]) * 0.04).max(1e-6);
        Frame {
            x: (lo[0] - pad(0), hi[0] + pad(0)),
            y: (lo[1] - pad(1), hi[1] + pad(1)),
            size,
        }
    }

    /// Where a data point falls, as a fraction of the raster (0-1 across, 0-1 down).
    pub fn to_unit(&self, p: [f32; 2]) -> [f32; 2] {
        [
            (p[0] - self.x.0) / (self.x.1 - self.x.0),
            (self.y.1 - p[1]) / (self.y.1 - self.y.0),
        ]
    }
}

/// RGBA pixels (`size²`, white background) with a dot per point in its colour; `ringed`
/// points get a dark outline (mistakes).
pub fn raster(frame: &Frame, points: &[[f32; 2]], colors: &[[u8; 3]], ringed: &[bool]) -> Vec<u8> {
    let n = frame.size;
    let mut px = vec![255u8; n * n * 4];
    let mut put = |x: i64, y: i64, c: [u8; 3]| {
        if x >= 0 && y >= 0 && (x as usize) < n && (y as usize) < n {
            let i = (y as usize * n + x as usize) * 4;
            px[i..i + 3].copy_from_slice(&c);
        }
    };
    for (k, (p, c)) in points.iter().zip(colors).enumerate() {
        let [u, v] = frame.to_unit(*p);
        let (x, y) = ((u * n as f32) as i64, (v * n as f32) as i64);
        if ringed.get(k).copied().unwrap_or(false) {
            for d in -3..=3i64 {
                for (dx, dy) in [(d, -3), (d, 3), (-3, d), (3, d)] {
                    put(x + dx, y + dy, [20, 20, 20]);
                }
            }
        }
        for dy in -1..=1 {
            for dx in -1..=1 {
                put(x + dx, y + dy, *c);
            }
        }
    }
    px
}

/// The point nearest to `unit` (raster fractions) within `radius` (also a fraction).
pub fn nearest(frame: &Frame, points: &[[f32; 2]], unit: [f32; 2], radius: f32) -> Option<usize> {
    points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let [u, v] = frame.to_unit(*p);
            (i, (u - unit[0]).powi(2) + (v - unit[1]).powi(2))
        })
        .filter(|(_, d)| *d <= radius * radius)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_maps_corners_and_raster_colours_the_points() {
        let pts = [[0.0, 0.0], [10.0, 10.0]];
        let f = Frame::around(&pts, 100);
        let a = f.to_unit([0.0, 0.0]);
        let b = f.to_unit([10.0, 10.0]);
        assert!(a[0] < 0.05 && a[1] > 0.95, "{a:?}"); // bottom-left
        assert!(b[0] > 0.95 && b[1] < 0.05, "{b:?}"); // top-right
        let px = raster(&f, &pts, &[[255, 0, 0], [0, 0, 255]], &[false, true]);
        let at = |u: [f32; 2]| {
            let (x, y) = ((u[0] * 100.0) as usize, (u[1] * 100.0) as usize);
            px[(y * 100 + x) * 4..(y * 100 + x) * 4 + 3].to_vec()
        };
        assert_eq!(at(a), vec![255, 0, 0]);
        assert_eq!(at(b), vec![0, 0, 255]);
        assert_eq!(px[0..4], [255, 255, 255, 255]);
        assert_eq!(nearest(&f, &pts, [b[0] + 0.01, b[1]], 0.05), Some(1));
        assert_eq!(nearest(&f, &pts, [0.5, 0.5], 0.05), None);
    }
}
