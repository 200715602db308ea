//! Tensor-to-pixel helpers: intensities and activations to grey bytes, and atlases that tile
//! many small images into one (one texture per layer in the app, one picture in reports).

/// Intensities in `[0, 1]` to grey bytes (clamped).
pub fn intensities_to_grey(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

/// Min–max normalises values to grey bytes (all equal → all black), the usual way to show
/// one feature map.
pub fn normalized_grey(values: &[f32]) -> Vec<u8> {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let lo = finite.clone().fold(f32::INFINITY, f32::min);
    let hi = finite.fold(f32::NEG_INFINITY, f32::max);
    if hi <= lo {
        return vec![0; values.len()];
    }
    values
        .iter()
        .map(|&v| {
            let t = if v.is_finite() { (v - lo) / (hi - lo) } else { 0.0 };
            (t.clamp(0.0, 1.0) * 255.0).round() as u8
        })
        .collect()
}

/// Columns and rows of a near-square grid for `n` tiles: `cols = ceil(sqrt(n))`.
pub fn grid_shape(n: usize) -> (usize, usize) {
    if n == 0 {
        return (1, 1);
    }
    let cols = (n as f64).sqrt().ceil() as usize;
    (cols, n.div_ceil(cols))
}

/// Top-left pixel of tile `index` in a grid `cols` wide of `side`-pixel tiles with `gap`.
pub fn tile_origin(index: usize, cols: usize, side: usize, gap: usize) -> (usize, usize) {
    let cols = cols.max(1);
    ((index % cols) * (side + gap), (index / cols) * (side + gap))
}

/// The tile under pixel `(x, y)` of such a grid, if the pixel is on a tile (not a gap).
pub fn tile_at(x: usize, y: usize, cols: usize, side: usize, gap: usize, count: usize) -> Option<usize> {
    let step = side + gap;
    let (col, row) = (x / step, y / step);
    if col >= cols.max(1) || x % step >= side || y % step >= side {
        return None;
    }
    let index = row * cols.max(1) + col;
    (index < count).then_some(index)
}

/// Lays equally sized square grey images into a grid `cols` wide with `gap` black pixels
/// between them. Returns `(width, height, bytes)`.
pub fn atlas(images: &[&[u8]], side: usize, cols: usize, gap: usize) -> (usize, usize, Vec<u8>) {
    let cols = cols.max(1);
    let rows = images.len().div_ceil(cols).max(1);
    let (w, h) = (cols * side + (cols - 1) * gap, rows * side + (rows - 1) * gap);
    let mut out = vec![0u8; w * h];
    for (n, img) in images.iter().enumerate() {
        let (ox, oy) = tile_origin(n, cols, side, gap);
        for y in 0..side {
            let src = &img[y * side..(y + 1) * side];
            out[(oy + y) * w + ox..(oy + y) * w + ox + side].copy_from_slice(src);
        }
    }
    (w, h, out)
}

/// Scales values to grey bytes on a shared range: 0 (or the minimum, when negative) is black,
/// the maximum white. One scale for a whole layer keeps weak channels dark next to strong
/// ones, which per-channel stretching would hide.
pub fn shared_scale_grey(values: &[f32]) -> Vec<u8> {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let lo = finite.clone().fold(0.0f32, f32::min);
    let hi = finite.fold(f32::NEG_INFINITY, f32::max);
    if hi <= lo {
        return vec![0; values.len()];
    }
    values
        .iter()
        .map(|&v| {
            if v.is_finite() {
                (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0).round() as u8
            } else {
                0
            }
        })
        .collect()
}

/// An atlas of one layer's feature maps (`channels` maps of `side × side`, channel after
/// channel) on the layer's shared scale ([`shared_scale_grey`]), `cols` wide (0 = near
/// square). Returns `(cols, width, height, bytes)`.
pub fn feature_map_atlas(
    values: &[f32],
    channels: usize,
    side: usize,
    gap: usize,
) -> (usize, usize, usize, Vec<u8>) {
    let grey = shared_scale_grey(&values[..(channels * side * side).min(values.len())]);
    let maps: Vec<&[u8]> = grey.chunks(side * side).collect();
    let (cols, _) = grid_shape(channels);
    let (w, h, bytes) = atlas(&maps, side, cols, gap);
    (cols, w, h, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intensities_map_to_bytes() {
        assert_eq!(
            intensities_to_grey(&[0.0, 0.5, 1.0, 2.0, -1.0]),
            vec![0, 128, 255, 255, 0]
        );
    }

    #[test]
    fn normalisation_stretches_to_the_full_range() {
        assert_eq!(normalized_grey(&[1.0, 2.0, 3.0]), vec![0, 128, 255]);
        assert_eq!(normalized_grey(&[4.0, 4.0]), vec![0, 0]);
        assert_eq!(normalized_grey(&[0.0, f32::NAN, 2.0]), vec![0, 0, 255]);
    }

    #[test]
    fn grids_are_near_square() {
        assert_eq!(grid_shape(32), (6, 6));
        assert_eq!(grid_shape(64), (8, 8));
        assert_eq!(grid_shape(10), (4, 3));
        assert_eq!(grid_shape(1), (1, 1));
        assert_eq!(grid_shape(0), (1, 1));
    }

    #[test]
    fn tiles_are_found_under_the_pointer() {
        // 3 columns of 2-pixel tiles with a 1-pixel gap, 5 tiles.
        assert_eq!(tile_origin(4, 3, 2, 1), (3, 3));
        assert_eq!(tile_at(3, 3, 3, 2, 1, 5), Some(4));
        assert_eq!(tile_at(4, 4, 3, 2, 1, 5), Some(4));
        assert_eq!(tile_at(2, 0, 3, 2, 1, 5), None, "gap column");
        assert_eq!(tile_at(6, 3, 3, 2, 1, 5), None, "tile 5 does not exist");
        assert_eq!(tile_at(9, 0, 3, 2, 1, 5), None, "right of the grid");
    }

    #[test]
    fn atlas_places_images_in_a_grid() {
        let a = [1u8; 4];
        let b = [2u8; 4];
        let c = [3u8; 4];
        let (w, h, px) = atlas(&[&a, &b, &c], 2, 2, 1);
        assert_eq!((w, h), (5, 5));
        #[rustfmt::skip]
        let expected = vec![
            1, 1, 0, 2, 2,
            1, 1, 0, 2, 2,
            0, 0, 0, 0, 0,
            3, 3, 0, 0, 0,
            3, 3, 0, 0, 0,
        ];
        assert_eq!(px, expected);
    }

    #[test]
    fn feature_maps_share_one_scale_per_layer() {
        // Two 2×2 maps; the second is the first times ten, so the first stays dark.
        let values = [0.0, 1.0, 2.0, 4.0, 0.0, 10.0, 20.0, 40.0];
        let (cols, w, h, px) = feature_map_atlas(&values, 2, 2, 0);
        assert_eq!((cols, w, h), (2, 4, 2));
        // Row 0: map 0 (0, 1) then map 1 (0, 10); row 1: map 0 (2, 4) then map 1 (20, 40).
        assert_eq!(px, vec![0, 6, 0, 64, 13, 26, 128, 255]);
    }

    #[test]
    fn shared_scale_keeps_zero_black_and_handles_negatives() {
        assert_eq!(shared_scale_grey(&[0.0, 2.0, 4.0]), vec![0, 128, 255]);
        assert_eq!(shared_scale_grey(&[-1.0, 0.0, 1.0]), vec![0, 128, 255]);
        assert_eq!(shared_scale_grey(&[0.0, 0.0]), vec![0, 0]);
    }
}
