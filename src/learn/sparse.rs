//! A minimal compressed-sparse-row matrix: the feature matrix of the probe classifiers.

use ndarray::ArrayView2;

/// A row-major sparse matrix of `f32` (CSR): row `i` holds the pairs
/// `indices[indptr[i]..indptr[i + 1]]` / `values[...]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CsrMatrix {
    /// Number of columns.
    pub n_cols: usize,
    /// Row start offsets into `indices`/`values`; `n_rows + 1` entries, starting at 0.
    pub indptr: Vec<usize>,
    /// Column index of each stored value (each `< n_cols`).
    pub indices: Vec<u32>,
    /// The stored values.
    pub values: Vec<f32>,
}

impl CsrMatrix {
    /// An empty matrix with `n_cols` columns and no rows.
    pub fn new(n_cols: usize) -> Self {
        Self {
            n_cols,
            indptr: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Appends a row given as `(column, value)` pairs (columns must be `< n_cols`).
    pub fn push_row(&mut self, entries: impl IntoIterator<Item = (u32, f32)>) {
        for (col, value) in entries {
            debug_assert!((col as usize) < self.n_cols);
            self.indices.push(col);
            self.values.push(value);
        }
        self.indptr.push(self.indices.len());
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of stored values.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// The `(columns, values)` of row `i`.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let range = self.indptr[i]..self.indptr[i + 1];
        (&self.indices[range.clone()], &self.values[range])
    }

    /// Dot product of row `i` with a dense vector of length `n_cols`.
    pub fn dot_row(&self, i: usize, w: &[f64]) -> f64 {
        let (cols, vals) = self.row(i);
        cols.iter()
            .zip(vals)
            .map(|(&c, &v)| w[c as usize] * f64::from(v))
            .sum()
    }

    /// `w += a * row_i` for a dense `w` of length `n_cols`.
    pub fn axpy_row(&self, i: usize, a: f64, w: &mut [f64]) {
        let (cols, vals) = self.row(i);
        for (&c, &v) in cols.iter().zip(vals) {
            w[c as usize] += a * f64::from(v);
        }
    }

    /// Squared Euclidean norm of row `i`.
    pub fn row_norm_sq(&self, i: usize) -> f64 {
        self.row(i).1.iter().map(|&v| f64::from(v).powi(2)).sum()
    }

    /// A dense matrix as CSR (every entry stored, zeros included).
    pub fn from_dense(dense: ArrayView2<'_, f32>) -> Self {
        let mut out = Self::new(dense.ncols());
        for row in dense.rows() {
            out.push_row(row.iter().enumerate().map(|(c, &v)| (c as u32, v)));
        }
        out
    }

    /// The rows `rows` of this matrix, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> Self {
        let mut out = Self::new(self.n_cols);
        for &i in rows {
            let (cols, vals) = self.row(i);
            out.push_row(cols.iter().copied().zip(vals.iter().copied()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn csr_round_trip() {
        let dense = array![[1.0f32, 0.0, 2.0], [0.0, 3.0, 0.0]];
        let m = CsrMatrix::from_dense(dense.view());
        assert_eq!(m.n_rows(), 2);
        assert_eq!(m.nnz(), 6);
        assert_eq!(m.dot_row(0, &[1.0, 1.0, 1.0]), 3.0);
        assert_eq!(m.row_norm_sq(1), 9.0);
        let mut w = vec![0.0; 3];
        m.axpy_row(0, 2.0, &mut w);
        assert_eq!(w, vec![2.0, 0.0, 4.0]);
        let picked = m.select_rows(&[1]);
        assert_eq!(picked.n_rows(), 1);
        assert_eq!(picked.dot_row(0, &[0.0, 1.0, 0.0]), 3.0);
    }
}
