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
    let last = rows.end.saturating_sub(1) + taps.last().copied().unwrap_or(0);
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
            unsafe { accumulate_avx2(&args, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            assert!(Isa::available().contains(&Isa::Avx512), "AVX-512 is not available");
            // SAFETY: AVX-512F was detected on this CPU (asserted above).
            unsafe { accumulate_avx512(&args, out) }
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
#[target_feature(enable = "avx512f")]
fn accumulate_avx512(args: &Args, out: &mut [f32]) {
    accumulate::<true>(args, out)
}

/// The loop every path compiles: for each valid position, each 16-channel block sums its taps.
/// `FMA` uses fused multiply-adds (only where the CPU has them: elsewhere `mul_add` would be a
/// library call).
#[inline(always)]
fn accumulate<const FMA: bool>(args: &Args, out: &mut [f32]) {
    let co = args.out_channels;
    let blocks = args.start.len();
    for r in args.rows.clone() {
        if r % args.padded_width >= args.width {
            continue; // junk column: never read
        }
        let dst = &mut out[(r - args.rows.start) * co..][..co];
        for b in (0..blocks).step_by(LANES) {
            let mut acc = [0.0f32; LANES];
            acc.copy_from_slice(&args.start[b..b + LANES]);
            for (t, &offset) in args.taps.iter().enumerate() {
                let v = args.image[r + offset];
                let w: &[f32; LANES] = args.weights[t * blocks + b..][..LANES].try_into().expect("block");
                for l in 0..LANES {
                    acc[l] = if FMA { v.mul_add(w[l], acc[l]) } else { acc[l] + v * w[l] };
                }
            }
            let n = LANES.min(co - b);
            dst[b..b + n].copy_from_slice(&acc[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv::reference;
    use super::super::geometry::Strided4;
    use super::super::pack::{pack_forward, pad_input};
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
                                assert!((got - want).abs() < 1e-5, "{isa:?} co {co} k {k}: {got} vs {want}");
                            }
                        }
                    }
                }
            }
        }
    }
}
