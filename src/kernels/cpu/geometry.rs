//! The shape of one fused block and the NHWC buffer layouts its kernels share.
//!
//! A block's convolution is stride 1 with "same" padding `p = k / 2`, so its output has the
//! input's side. Kernels work on a *padded NHWC* copy of the input: each sample is
//! `(h + 2p) × (w + 2p) × c_in` with zero borders, samples back to back, and `(k - 1) · c_in`
//! spare zeros after the last one. On that layout the `k × c_in` inputs of kernel row `kh` at
//! output position `r = y · (w + 2p) + x` start at `(r + kh · (w + 2p)) · c_in` and are
//! contiguous, and consecutive positions are `c_in` apart: the convolution becomes `k` plain
//! GEMMs over overlapping rows, with no im2col buffer ("implicit GEMM"). Its output has
//! `h × (w + 2p)` rows per sample; the last `2p` of each image row are junk the later stages
//! skip.

/// Geometry of one conv → (BatchNorm) → ReLU → 2×2 max-pool block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockGeometry {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels (kernels).
    pub out_channels: usize,
    /// Input (and convolution output) height.
    pub height: usize,
    /// Input (and convolution output) width.
    pub width: usize,
    /// Square, odd kernel side.
    pub kernel: usize,
}

impl BlockGeometry {
    /// Padding on each side.
    pub fn pad(&self) -> usize {
        self.kernel / 2
    }

    /// Width of a padded image (also the row pitch of the convolution output).
    pub fn padded_width(&self) -> usize {
        self.width + 2 * self.pad()
    }

    /// Height of a padded image.
    pub fn padded_height(&self) -> usize {
        self.height + 2 * self.pad()
    }

    /// Floats of one padded input image.
    pub fn padded_len(&self) -> usize {
        self.padded_height() * self.padded_width() * self.in_channels
    }

    /// Floats of the whole padded input: every image plus the trailing spare zeros.
    pub fn padded_total(&self) -> usize {
        self.batch * self.padded_len() + self.spare()
    }

    /// Spare zeros after the last padded image, read only by junk output rows (and by the
    /// overhang of the direct kernel's 8-position tiles).
    pub fn spare(&self) -> usize {
        (self.kernel - 1) * self.in_channels.max(self.out_channels) + 8
    }

    /// Convolution output rows of one image (`height × padded_width`, junk columns included).
    pub fn conv_rows(&self) -> usize {
        self.height * self.padded_width()
    }

    /// Floats of one image's convolution output.
    pub fn conv_len(&self) -> usize {
        self.conv_rows() * self.out_channels
    }

    /// Valid convolution outputs per channel over the batch (what BatchNorm averages over).
    pub fn positions(&self) -> usize {
        self.batch * self.height * self.width
    }

    /// Pooled height (2×2 pooling, stride 2, the last odd row dropped).
    pub fn pooled_height(&self) -> usize {
        self.height / 2
    }

    /// Pooled width.
    pub fn pooled_width(&self) -> usize {
        self.width / 2
    }

    /// Floats of one image's pooled output.
    pub fn pooled_len(&self) -> usize {
        self.pooled_height() * self.pooled_width() * self.out_channels
    }

    /// Floats of a padded map of the *output* channels (the gradient buffer of the backward pass,
    /// padded like the input so the input gradient is again an implicit GEMM), spare included.
    pub fn padded_out_len(&self) -> usize {
        self.padded_height() * self.padded_width() * self.out_channels + self.kernel * self.out_channels
    }

    /// Weights in burn's layout `[out, in, k, k]`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.in_channels * self.kernel * self.kernel
    }
}

/// Where the elements of a 4-d `[n, c, h, w]` tensor sit in its buffer (element strides and
/// offset), so kernels can read burn's NCHW tensors and their own NHWC ones alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strided4 {
    /// Offset of element `[0, 0, 0, 0]`.
    pub offset: usize,
    /// Strides of `n`, `c`, `h`, `w`.
    pub strides: [isize; 4],
}

impl Strided4 {
    /// A contiguous NCHW tensor of dims `[n, c, h, w]`.
    pub fn nchw(dims: [usize; 4]) -> Self {
        let [_, c, h, w] = dims;
        Self {
            offset: 0,
            strides: [(c * h * w) as isize, (h * w) as isize, w as isize, 1],
        }
    }

    /// A contiguous NHWC buffer seen as `[n, c, h, w]` (what the kernels hand back to burn).
    pub fn nhwc(dims: [usize; 4]) -> Self {
        let [_, c, h, w] = dims;
        Self {
            offset: 0,
            strides: [(h * w * c) as isize, 1, (w * c) as isize, c as isize],
        }
    }

    /// Index of element `[n, c, y, x]`.
    #[inline]
    pub fn index(&self, n: usize, c: usize, y: usize, x: usize) -> usize {
        let [sn, sc, sy, sx] = self.strides;
        (self.offset as isize + n as isize * sn + c as isize * sc + y as isize * sy + x as isize * sx)
            as usize
    }
}

/// A tensor's buffer and where its `[n, c, h, w]` elements sit in it.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The whole buffer (a view may start past its beginning).
    pub data: &'a [f32],
    /// Offset and strides of the `[n, c, h, w]` elements in `data`.
    pub at: Strided4,
}
