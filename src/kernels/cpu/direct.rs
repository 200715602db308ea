//! The direct convolution for single-channel input (every network's first block): with one
//! input channel a GEMM's inner dimension would be only `k`, so each output position instead
//! accumulates its `k²` taps into 16-wide channel blocks held in registers.
//!
//! The instruction set is chosen at run time ([`Isa::detected`]): the same loop is compiled
//! for AVX-512 and for AVX2 (both with fused multiply-adds) and for the baseline x86-64, and
//! the tests run every variant this CPU supports against the textbook loops.

use std::ops::Range;

use super::geometry::BlockGeometry;
pub use super::isa::Isa;

/// Channels per register block.
const LANES: usize = 16;

/// Rows `rows` of one image's convolution output (see [`conv::forward_rows`](super::conv::forward_rows)),
/// for `in_channels == 1`. `image` starts at the image's padded input; `packed` is
/// `[kh][kw][out]`.
pub fn forward_single_channel(
    image: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    g: &BlockGeometry,
    rows: Range<usize>,
    out: &mut [f32],
) {
    forward_with(Isa::detected(), image, packed, bias, g, rows, out);
}

/// [`forward_single_channel`] on a chosen path. `isa` must be one of [`Isa::available`].
pub fn forward_with(
    isa: Isa,
    image: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    g: &BlockGeometry,
    rows: Range<usize>,
    out: &mut [f32],
) {
    assert_eq!(g.in_channels, 1, "the direct kernel takes one input channel");
    let (k, co, pw) = (g.kernel, g.out_channels, g.padded_width());
    let blocks = co.div_ceil(LANES) * LANES;
    let taps: Vec<usize> = (0..k * k).map(|t| (t / k) * pw + t % k).collect();
    // Weights and bias widened to whole register blocks (the extra channels are zero).
    let mut weights = vec![0.0f32; k * k * blocks];
    for t in 0..k * k {
        weights[t * blocks..][..co].copy_from_slice(&packed[t * co..][..co]);
    }
    let mut start = vec![0.0f32; blocks];
    if let Some(bias) = bias {
        start[..co].copy_from_slice(bias);
    }
    // A tile reads 8 positions from its first; the spare after the last image covers the rest.
    let last = rows.end.saturating_sub(1) + POSITIONS - 1 + taps.last().copied().unwrap_or(0);
    assert!(rows.is_empty() || last < image.len(), "direct kernel bounds");
    assert_eq!(out.len(), rows.len() * co);
    let args = Args {
        image,
        weights: &weights,
        start: &start,
        taps: &taps,
        out_channels: co,
        padded_width: pw,
        width: g.width,
        rows,
    };
    match isa {
        Isa::Portable => accumulate::<false>(&args, out),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            assert!(Isa::available().contains(&Isa::Avx2), "AVX2 is not available");
            // SAFETY: AVX2 and FMA were detected on this CPU (asserted above).
            #[allow(unsafe_code)]
            unsafe {
                accumulate_avx2(&args, out)
            }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            assert!(
                Isa::available().contains(&Isa::Avx512),
                "AVX-512 is not available"
            );
            // SAFETY: every feature of `AVX512_FEATURES` was detected on this CPU (asserted above).
            #[allow(unsafe_code)]
            unsafe {
                accumulate_avx512(&args, out)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => accumulate::<false>(&args, out),
    }
}

struct Args<'a> {
    image: &'a [f32],
    weights: &'a [f32],
    start: &'a [f32],
    taps: &'a [usize],
    out_channels: usize,
    padded_width: usize,
    width: usize,
    rows: Range<usize>,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn accumulate_avx2(args: &Args, out: &mut [f32]) {
    accumulate::<true>(args, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn accumulate_avx512(args: &Args, out: &mut [f32]) {
    accumulate::<true>(args, out)
}

/// Positions per register tile.
const POSITIONS: usize = 8;

/// The loop every path compiles: runs of up to 8 valid positions of one image row, each tile
/// holding 8 positions × 32 channels in registers while the `k²` taps stream past. `FMA` uses
/// fused multiply-adds (only where the CPU has them: elsewhere `mul_add` would be a library
/// call).
#[inline(always)]
fn accumulate<const FMA: bool>(args: &Args, out: &mut [f32]) {
    let (pw, width, blocks) = (args.padded_width, args.width, args.start.len());
    let mut r = args.rows.start;
    while r < args.rows.end {
        let x = r % pw;
        if x >= width {
            r += pw - x; // junk columns: never read
            continue;
        }
        let run = POSITIONS.min(args.rows.end.min(r - x + width) - r);
        let mut group = 0;
        while group < blocks {
            if blocks - group >= 2 * LANES {
                tile::<FMA, 2>(args, r, run, group, out);
                group += 2 * LANES;
            } else {
                tile::<FMA, 1>(args, r, run, group, out);
                group += LANES;
            }
        }
        r += run;
    }
}

/// One tile: positions `r..r + run` (`run ≤ 8`; the tile reads 8, the spare after the image
/// covers the overhang) × channels `group..group + 16·B`.
#[inline(always)]
fn tile<const FMA: bool, const B: usize>(args: &Args, r: usize, run: usize, group: usize, out: &mut [f32]) {
    let blocks = args.start.len();
    let mut acc = [[[0.0f32; LANES]; B]; POSITIONS];
    for position in acc.iter_mut() {
        for (b, lanes) in position.iter_mut().enumerate() {
            lanes.copy_from_slice(&args.start[group + b * LANES..][..LANES]);
        }
    }
    for (t, &offset) in args.taps.iter().enumerate() {
        let src: &[f32; POSITIONS] = args.image[r + offset..][..POSITIONS].try_into().expect("tile");
        let mut w = [[0.0f32; LANES]; B];
        for (b, lanes) in w.iter_mut().enumerate() {
            lanes.copy_from_slice(&args.weights[t * blocks + group + b * LANES..][..LANES]);
        }
        for (position, v) in acc.iter_mut().zip(src) {
            for (lanes, w) in position.iter_mut().zip(&w) {
                for l in 0..LANES {
                    lanes[l] = if FMA {
                        v.mul_add(w[l], lanes[l])
                    } else {
                        lanes[l] + v * w[l]
                    };
                }
            }
        }
    }
    let co = args.out_channels;
    for (p, position) in acc.iter().enumerate().take(run) {
        let dst = &mut out[(r + p - args.rows.start) * co..][..co];
        for (b, lanes) in position.iter().enumerate() {
            let c = group + b * LANES;
            if c < co {
                let n = LANES.min(co - c);
                dst[c..c + n].copy_from_slice(&lanes[..n]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::geometry::Strided4;
    use super::super::pack::{pack_forward, pad_input};
    use super::super::reference;
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn every_available_path_equals_the_textbook_convolution() {
        let paths = Isa::available();
        // This machine's CPU decides which paths exist; the portable one always does.
        assert!(paths.contains(&Isa::Portable));
        let mut rng = Rng::new(11);
        for (co, k, side) in [(32, 3, 28), (5, 3, 7), (17, 5, 9), (40, 1, 4)] {
            let g = BlockGeometry {
                batch: 2,
                in_channels: 1,
                out_channels: co,
                height: side,
                width: side,
                kernel: k,
            };
            let x: Vec<f32> = (0..2 * side * side).map(|_| rng.next_f32() - 0.5).collect();
            let w: Vec<f32> = (0..g.weight_len()).map(|_| rng.next_f32() - 0.5).collect();
            let bias: Vec<f32> = (0..co).map(|_| rng.next_f32()).collect();
            let padded = pad_input(&x, Strided4::nchw([2, 1, side, side]), &g);
            let packed = pack_forward(&w, Strided4::nchw([co, 1, k, k]), &g);
            let expect = reference::conv(&x, &w, Some(&bias), &g);
            for &isa in &paths {
                for n in 0..2 {
                    let mut rows = vec![0.0; g.conv_len()];
                    let image = &padded[n * g.padded_len()..];
                    forward_with(isa, image, &packed, Some(&bias), &g, 0..g.conv_rows(), &mut rows);
                    for o in 0..co {
                        for y in 0..side {
                            for xx in 0..side {
                                let got = rows[(y * g.padded_width() + xx) * co + o];
                                let want = expect[((n * co + o) * side + y) * side + xx];
                                assert!(
                                    (got - want).abs() < 1e-5,
                                    "{isa:?} co {co} k {k}: {got} vs {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
