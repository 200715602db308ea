//! A bounds-checked front for the `gemm` crate (the GEMM flex itself uses): matrices are views
//! into slices with element strides, which is what lets the convolutions read overlapping rows
//! of one padded buffer instead of an im2col copy.

/// A `rows × cols` matrix inside a slice: element `(i, j)` sits at `offset + i·row + j·col`.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// Index of element `(0, 0)`.
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    /// Elements from one row to the next.
    pub row: usize,
    /// Elements from one column to the next (1 when rows are contiguous).
    pub col: usize,
}

impl View {
    /// A row-major view: rows `row` apart, columns adjacent.
    pub fn rows(offset: usize, rows: usize, cols: usize, row: usize) -> Self {
        Self {
            offset,
            rows,
            cols,
            row,
            col: 1,
        }
    }

    /// The same elements read as the transpose.
    pub fn t(self) -> Self {
        Self {
            offset: self.offset,
            rows: self.cols,
            cols: self.rows,
            row: self.col,
            col: self.row,
        }
    }

    /// One past the largest index the view touches.
    fn end(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return self.offset;
        }
        self.offset + (self.rows - 1) * self.row + (self.cols - 1) * self.col + 1
    }
}

/// `dst = lhs × rhs` (or `dst += lhs × rhs` with `accumulate`), single-threaded: callers
/// parallelise over images.
///
/// # Panics
/// When the shapes disagree or a view reaches past its slice.
pub fn matmul(dst: &mut [f32], d: View, accumulate: bool, lhs: &[f32], l: View, rhs: &[f32], r: View) {
    assert!(
        d.rows == l.rows && d.cols == r.cols && l.cols == r.rows,
        "gemm shapes"
    );
    assert!(
        d.end() <= dst.len() && l.end() <= lhs.len() && r.end() <= rhs.len(),
        "gemm bounds"
    );
    if d.rows == 0 || d.cols == 0 {
        return;
    }
    if l.cols == 0 {
        if !accumulate {
            for i in 0..d.rows {
                for j in 0..d.cols {
                    dst[d.offset + i * d.row + j * d.col] = 0.0;
                }
            }
        }
        return;
    }
    // SAFETY: every index the call touches lies inside its slice (checked above: strides are
    // non-negative and `end` is one past the largest); `dst` does not alias the inputs because
    // it is borrowed mutably while they are borrowed shared.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            d.rows,
            d.cols,
            l.cols,
            dst.as_mut_ptr().add(d.offset),
            d.col as isize,
            d.row as isize,
            accumulate,
            lhs.as_ptr().add(l.offset),
            l.col as isize,
            l.row as isize,
            rhs.as_ptr().add(r.offset),
            r.col as isize,
            r.row as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_and_overlapping_views_multiply_like_the_definition() {
        // lhs rows overlap: row i is data[i..i+3] (row stride 1), as the implicit GEMM reads.
        let data: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let l = View::rows(0, 4, 3, 1);
        let w = [1.0, 0.0, 2.0, -1.0, 0.5, 1.0]; // 3 × 2
        let r = View::rows(0, 3, 2, 2);
        let mut out = vec![9.0; 8];
        matmul(&mut out, View::rows(0, 4, 2, 2), false, &data, l, &w, r);
        for i in 0..4 {
            for j in 0..2 {
                let expect: f32 = (0..3).map(|k| data[i + k] * w[k * 2 + j]).sum();
                assert_eq!(out[i * 2 + j], expect);
            }
        }
        // Accumulate: out += before × I doubles every entry.
        let before = out.clone();
        let id = [1.0, 0.0, 0.0, 1.0];
        let square = View::rows(0, 2, 2, 2);
        matmul(
            &mut out,
            View::rows(0, 4, 2, 2),
            true,
            &before,
            View::rows(0, 4, 2, 2),
            &id,
            square,
        );
        for (a, b) in out.iter().zip(&before) {
            assert_eq!(*a, 2.0 * b);
        }
        // A transposed view reads columns as rows: before^T × before is 2 × 2.
        let mut gram = [0.0f32; 4];
        let b = View::rows(0, 4, 2, 2);
        matmul(&mut gram, square, false, &before, b.t(), &before, b);
        let expect01: f32 = (0..4).map(|i| before[i * 2] * before[i * 2 + 1]).sum();
        assert_eq!(gram[1], expect01);
    }

    #[test]
    #[should_panic(expected = "gemm bounds")]
    fn a_view_past_its_slice_is_refused() {
        let data = [0.0f32; 4];
        let mut out = [0.0f32; 4];
        matmul(
            &mut out,
            View::rows(0, 2, 2, 2),
            false,
            &data,
            View::rows(1, 2, 2, 2),
            &data,
            View::rows(0, 2, 2, 2),
        );
    }
}
