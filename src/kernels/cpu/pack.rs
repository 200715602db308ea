//! Moving data between burn's layouts and the kernels' own: the padded NHWC input, plain NHWC
//! maps, and the kernel weights repacked for the implicit GEMMs.

use std::borrow::Cow;

use rayon::prelude::*;

use super::geometry::{BlockGeometry, Input, Strided4};

/// The padded NHWC copy of input `src` (see [`geometry`](super::geometry)), zero borders and
/// spare included.
pub fn pad_input(src: &[f32], at: Strided4, g: &BlockGeometry) -> Vec<f32> {
    let mut padded = vec![0.0f32; g.padded_total()];
    let (images, _spare) = padded.split_at_mut(g.batch * g.padded_len());
    images
        .par_chunks_mut(g.padded_len().max(1))
        .enumerate()
        .for_each(|(n, image)| pad_image(src, at, g, n, image));
    padded
}

/// Writes image `n` of `src` into `image` (one padded image, borders already zero).
pub fn pad_image(src: &[f32], at: Strided4, g: &BlockGeometry, n: usize, image: &mut [f32]) {
    let (p, pw, c) = (g.pad(), g.padded_width(), g.in_channels);
    // An image row is contiguous when pixels are `c` apart and channels adjacent (NHWC, or
    // any layout with one channel).
    let contiguous_rows = at.strides[3] == c as isize && (c == 1 || at.strides[1] == 1);
    for y in 0..g.height {
        let row = &mut image[((y + p) * pw + p) * c..][..g.width * c];
        if contiguous_rows {
            row.copy_from_slice(&src[at.index(n, 0, y, 0)..][..g.width * c]);
        } else {
            for (x, pixel) in row.chunks_exact_mut(c).enumerate() {
                for (ch, v) in pixel.iter_mut().enumerate() {
                    *v = src[at.index(n, ch, y, x)];
                }
            }
        }
    }
}

/// `src` (a `[n, c, h, w]` tensor laid out as `at`) as a contiguous NHWC slice: borrowed when
/// it already is one, copied otherwise.
pub fn as_nhwc(src: &[f32], at: Strided4, dims: [usize; 4]) -> Cow<'_, [f32]> {
    let len = dims.iter().product::<usize>();
    if at.strides == Strided4::nhwc(dims).strides {
        return Cow::Borrowed(&src[at.offset..at.offset + len]);
    }
    let [n, c, h, w] = dims;
    let mut out = vec![0.0f32; len];
    let plane = h * w;
    let nchw = at.strides == Strided4::nchw(dims).strides;
    out.par_chunks_mut((plane * c).max(1))
        .enumerate()
        .for_each(|(i, image)| {
            if nchw {
                // A transpose of each image's [c, h·w] planes, read row by row.
                let base = at.offset + i * c * plane;
                for ch in 0..c {
                    for (pixel, v) in src[base + ch * plane..][..plane].iter().enumerate() {
                        image[pixel * c + ch] = *v;
                    }
                }
                return;
            }
            for y in 0..h {
                for x in 0..w {
                    for ch in 0..c {
                        image[(y * w + x) * c + ch] = src[at.index(i, ch, y, x)];
                    }
                }
            }
        });
    debug_assert_eq!(out.len(), n * h * w * c);
    Cow::Owned(out)
}

/// Weights `[out, in, k, k]` (laid out as `at`) repacked `[kh][kw][in][out]`: for kernel row
/// `kh`, the `(k · in) × out` right-hand side of the forward GEMM.
pub fn pack_forward(weight: &[f32], at: Strided4, g: &BlockGeometry) -> Vec<f32> {
    let (k, ci, co) = (g.kernel, g.in_channels, g.out_channels);
    let mut packed = vec![0.0f32; g.weight_len()];
    if at.strides == Strided4::nchw([co, ci, k, k]).strides {
        // Contiguous: one read pass, `[out][in·k·k]` transposed to `[in·k·k reordered][out]`.
        let (taps, w) = (k * k, &weight[at.offset..at.offset + g.weight_len()]);
        for (o, kernels) in w.chunks_exact(ci * taps).enumerate() {
            for (i, kernel) in kernels.chunks_exact(taps).enumerate() {
                for (t, v) in kernel.iter().enumerate() {
                    packed[(t * ci + i) * co + o] = *v;
                }
            }
        }
        return packed;
    }
    for kh in 0..k {
        for kw in 0..k {
            for i in 0..ci {
                for o in 0..co {
                    packed[((kh * k + kw) * ci + i) * co + o] = weight[at.index(o, i, kh, kw)];
                }
            }
        }
    }
    packed
}

/// Weights repacked `[kh'][kw'][out][in]` with the kernel flipped (`kh' = k - 1 - kh`): the
/// right-hand side of the input-gradient GEMM, a "full" correlation of the output gradient.
pub fn pack_flipped(weight: &[f32], at: Strided4, g: &BlockGeometry) -> Vec<f32> {
    let (k, ci, co) = (g.kernel, g.in_channels, g.out_channels);
    let mut packed = vec![0.0f32; g.weight_len()];
    for kh in 0..k {
        for kw in 0..k {
            for o in 0..co {
                for i in 0..ci {
                    packed[((kh * k + kw) * co + o) * ci + i] =
                        weight[at.index(o, i, k - 1 - kh, k - 1 - kw)];
                }
            }
        }
    }
    packed
}

/// The weights `[out, in, k, k]` (laid out as `at`) as a contiguous copy.
pub fn contiguous_weight(weight: Input, g: &BlockGeometry) -> Vec<f32> {
    let k = g.kernel;
    let mut out = Vec::with_capacity(g.weight_len());
    for o in 0..g.out_channels {
        for i in 0..g.in_channels {
            for kh in 0..k {
                for kw in 0..k {
                    out.push(weight.data[weight.at.index(o, i, kh, kw)]);
                }
            }
        }
    }
    out
}

/// A weight gradient accumulated `[out][kh][kw][in]` turned into burn's `[out, in, k, k]`.
pub fn unpack_weight_grad(grad: &[f32], g: &BlockGeometry) -> Vec<f32> {
    let (k, ci, co) = (g.kernel, g.in_channels, g.out_channels);
    let mut out = vec![0.0f32; g.weight_len()];
    for o in 0..co {
        for kh in 0..k {
            for kw in 0..k {
                for i in 0..ci {
                    out[((o * ci + i) * k + kh) * k + kw] = grad[((o * k + kh) * k + kw) * ci + i];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> BlockGeometry {
        BlockGeometry {
            batch: 2,
            in_channels: 3,
            out_channels: 2,
            height: 4,
            width: 5,
            kernel: 3,
        }
    }

    #[test]
    fn padding_puts_every_element_at_its_place_from_nchw_and_nhwc() {
        let g = geometry();
        let dims = [2, 3, 4, 5];
        let nchw: Vec<f32> = (0..120).map(|i| i as f32 + 1.0).collect();
        let at = Strided4::nchw(dims);
        let padded = pad_input(&nchw, at, &g);
        assert_eq!(padded.len(), g.padded_total());
        let (pw, c) = (g.padded_width(), 3);
        for n in 0..2 {
            for ch in 0..3 {
                for y in 0..4 {
                    for x in 0..5 {
                        let p = n * g.padded_len() + ((y + 1) * pw + x + 1) * c + ch;
                        assert_eq!(padded[p], nchw[at.index(n, ch, y, x)]);
                    }
                }
            }
        }
        let nonzero = padded.iter().filter(|v| **v != 0.0).count();
        assert_eq!(nonzero, 120, "borders and spare stay zero");
        let nhwc = as_nhwc(&nchw, at, dims).into_owned();
        assert_eq!(pad_input(&nhwc, Strided4::nhwc(dims), &g), padded);
    }

    #[test]
    fn nhwc_view_is_borrowed_when_already_nhwc() {
        let dims = [1, 2, 2, 2];
        let data: Vec<f32> = (0..8).map(|i| i as f32).collect();
        assert!(matches!(
            as_nhwc(&data, Strided4::nhwc(dims), dims),
            Cow::Borrowed(_)
        ));
        let moved = as_nhwc(&data, Strided4::nchw(dims), dims);
        // NCHW [c0: 0 1 2 3, c1: 4 5 6 7] → NHWC pixels (0,4) (1,5) (2,6) (3,7).
        assert_eq!(&*moved, &[0.0, 4.0, 1.0, 5.0, 2.0, 6.0, 3.0, 7.0]);
    }

    #[test]
    fn weight_packings_round_trip() {
        let g = geometry();
        let w: Vec<f32> = (0..g.weight_len()).map(|i| i as f32).collect();
        let at = Strided4::nchw([2, 3, 3, 3]);
        let fwd = pack_forward(&w, at, &g);
        // [kh][kw][in][out] back to [out][kh][kw][in], then unpacked: the original.
        let mut okki = vec![0.0; w.len()];
        for kh in 0..3 {
            for kw in 0..3 {
                for i in 0..3 {
                    for o in 0..2 {
                        okki[((o * 3 + kh) * 3 + kw) * 3 + i] = fwd[((kh * 3 + kw) * 3 + i) * 2 + o];
                    }
                }
            }
        }
        assert_eq!(unpack_weight_grad(&okki, &g), w);
        let flipped = pack_flipped(&w, at, &g);
        // Flipped [0][0][o][i] is the original's [o][i][2][2].
        let (o, i) = (1, 2);
        assert_eq!(flipped[o * 3 + i], w[((o * 3 + i) * 3 + 2) * 3 + 2]);
    }
}
