//! Textbook loops the kernels are tested against (test builds only), shared by the tests of
//! [`super::conv`] and [`super::direct`].

use super::geometry::BlockGeometry;

/// Same-padded, stride-1 convolution of NCHW `x` with `[out, in, k, k]` weights: NCHW out.
pub fn conv(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &BlockGeometry) -> Vec<f32> {
    let (n, ci, co, h, wd, k) = (
        g.batch,
        g.in_channels,
        g.out_channels,
        g.height,
        g.width,
        g.kernel,
    );
    let p = k as isize / 2;
    let mut out = vec![0.0f32; n * co * h * wd];
    for b in 0..n {
        for o in 0..co {
            for y in 0..h {
                for xx in 0..wd {
                    let mut s = bias.map_or(0.0, |b| b[o]) as f64;
                    for i in 0..ci {
                        for kh in 0..k {
                            for kw in 0..k {
                                let (yy, xi) = (y as isize + kh as isize - p, xx as isize + kw as isize - p);
                                if yy < 0 || xi < 0 || yy >= h as isize || xi >= wd as isize {
                                    continue;
                                }
                                let xv = x[((b * ci + i) * h + yy as usize) * wd + xi as usize];
                                s += (xv * w[((o * ci + i) * k + kh) * k + kw]) as f64;
                            }
                        }
                    }
                    out[((b * co + o) * h + y) * wd + xx] = s as f32;
                }
            }
        }
    }
    out
}
