//! The deterministic 2-D projection of the maps.

use ndarray::{Array1, Array2, ArrayView2, Axis};

/// Projects `points` (one row per point, e.g. sentence embeddings) onto their first two
/// principal components: an `n × 2` array, the first column the direction of most variance.
///
/// A small PCA of its own rather than `linfa-reduction`'s: that crate builds here without
/// BLAS (its truncated SVD is LOBPCG from `linfa-linalg`), but on some low-rank inputs its
/// LOBPCG panics ("NaN values in array" in `linfa-linalg`'s eigen sort), and a report must
/// not fail on the data it shows; it also starts from a random block. Here: the covariance
/// (`d × d`, or the `n × n` Gram matrix when there are fewer points than dimensions) and
/// power iteration with deflation for its top two eigenvectors, started from the column of
/// largest variance, so there is no randomness at all; the same input gives the same
/// components. An eigenvector is fixed only up to its sign, so each component's largest
/// loading (the first on a tie) is made positive: the same input gives the same picture,
/// not a mirrored one. Cost: one `n·d·min(n, d)` product, then `min(n, d)²` per iteration
/// (at most 500 per component).
///
/// Never panics: non-finite inputs count as 0; no spread at all gives zeros; a 1-column
/// input gets a zero second column, a component with no variance left a zero column.
pub fn project_2d(points: ArrayView2<f32>) -> Array2<f32> {
    let (n, d) = points.dim();
    let mut out = Array2::<f32>::zeros((n, 2));
    if n == 0 || d == 0 {
        return out;
    }
    let x = points.mapv(|v| if v.is_finite() { f64::from(v) } else { 0.0 });
    let mean = x.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(d));
    let centred = &x - &mean;
    let components = top_components(&centred, 2.min(d));
    for (j, c) in components.iter().enumerate() {
        let col = centred.dot(c);
        out.column_mut(j)
            .assign(&col.mapv(|v| if v.is_finite() { v as f32 } else { 0.0 }));
    }
    out
}

/// The top `k` principal directions (unit, sign-fixed) of centred rows; fewer when the
/// data has less variance than that.
fn top_components(centred: &Array2<f64>, k: usize) -> Vec<Array1<f64>> {
    let (n, d) = centred.dim();
    // Eigenvectors of XᵀX directly, or of XXᵀ mapped back through Xᵀ (same nonzero spectrum).
    let gram = n < d;
    let mut m = if gram {
        centred.dot(&centred.t())
    } else {
        centred.t().dot(centred)
    };
    let scale = m.diag().iter().copied().fold(0.0f64, f64::max);
    let mut found: Vec<Array1<f64>> = Vec::new();
    for _ in 0..k {
        if scale <= 1e-12 {
            break;
        }
        let Some((lambda, v)) = power_iteration(&m, &found) else {
            break;
        };
        if lambda <= scale * 1e-10 {
            break;
        }
        // Deflate: the next power iteration finds the next direction.
        let outer = v
            .view()
            .insert_axis(Axis(1))
            .dot(&v.view().insert_axis(Axis(0)));
        m = &m - &(outer * lambda);
        found.push(v);
    }
    found
        .into_iter()
        .filter_map(|v| {
            let mut c = if gram { centred.t().dot(&v) } else { v };
            let norm = c.dot(&c).sqrt();
            if !(norm.is_finite() && norm > 0.0) {
                return None;
            }
            c /= norm;
            fix_sign(&mut c);
            Some(c)
        })
        .collect()
}

/// The top eigenpair of a symmetric positive semi-definite `m`, orthogonal to `found`,
/// by power iteration from the basis vector of its largest diagonal entry.
fn power_iteration(m: &Array2<f64>, found: &[Array1<f64>]) -> Option<(f64, Array1<f64>)> {
    let dim = m.nrows();
    let start = (0..dim).max_by(|&a, &b| m[[a, a]].total_cmp(&m[[b, b]]).then(b.cmp(&a)))?;
    let mut v = m.column(start).to_owned();
    let mut lambda = 0.0;
    for _ in 0..500 {
        for f in found {
            let p = v.dot(f);
            v.scaled_add(-p, f);
        }
        let norm = v.dot(&v).sqrt();
        if !(norm.is_finite() && norm > 0.0) {
            return None;
        }
        v /= norm;
        let next = m.dot(&v);
        let next_lambda = v.dot(&next);
        let converged = (next_lambda - lambda).abs() <= 1e-12 * next_lambda.abs().max(1e-300);
        lambda = next_lambda;
        v = next;
        if converged {
            break;
        }
    }
    for f in found {
        let p = v.dot(f);
        v.scaled_add(-p, f);
    }
    let norm = v.dot(&v).sqrt();
    (norm.is_finite() && norm > 0.0).then(|| (lambda, v / norm))
}

/// Makes a vector's largest absolute entry (the first on a tie) positive.
fn fix_sign(v: &mut Array1<f64>) {
    let mut best = 0.0f64;
    let mut sign = 1.0;
    for &x in v.iter() {
        if x.abs() > best {
            best = x.abs();
            sign = x.signum();
        }
    }
    if sign < 0.0 {
        v.mapv_inplace(|x| -x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// 40 points in 6 dimensions, spread mostly along the first two axes.
    fn cloud() -> Array2<f32> {
        Array2::from_shape_fn((40, 6), |(i, j)| {
            let t = i as f32;
            match j {
                0 => 10.0 * (t * 0.37).sin(),
                1 => 4.0 * (t * 0.91).cos(),
                _ => 0.1 * ((t + j as f32) * 1.3).sin(),
            }
        })
    }

    #[test]
    fn same_input_gives_the_same_picture() {
        let a = project_2d(cloud().view());
        let b = project_2d(cloud().view());
        assert_eq!(a, b);
        assert_eq!(a.dim(), (40, 2));
    }

    #[test]
    fn first_component_is_the_widest_direction_with_a_fixed_sign() {
        let x = cloud();
        let p = project_2d(x.view());
        // The first axis carries most variance: the projection's first column follows it
        // (same sign, since the largest loading is made positive).
        let (a, b) = (x.column(0), p.column(0));
        let (ma, mb) = (a.mean().unwrap(), b.mean().unwrap());
        let cov: f32 = a.iter().zip(b).map(|(u, v)| (u - ma) * (v - mb)).sum();
        let norm = |c: ndarray::ArrayView1<f32>, m: f32| c.mapv(|v| (v - m) * (v - m)).sum().sqrt();
        let corr = cov / (norm(a, ma) * norm(b, mb));
        assert!(corr > 0.99, "correlation {corr}");
        let var = |c: usize| p.column(c).mapv(|v| v * v).sum();
        assert!(var(0) > var(1));
        // Negating the input mirrors nothing: the sign follows the loadings, which flip too,
        // so the picture of -x is the picture of x turned by 180° — fixed, not random.
        let q = project_2d((-&x).view());
        assert_eq!(project_2d((-&x).view()), q);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        assert_eq!(
            project_2d(Array2::<f32>::zeros((0, 5)).view()).dim(),
            (0, 2)
        );
        assert_eq!(
            project_2d(Array2::<f32>::zeros((3, 0)).view()).dim(),
            (3, 2)
        );
        assert_eq!(
            project_2d(array![[1.0f32, 2.0, 3.0]].view()),
            array![[0.0f32, 0.0]]
        );
        let same = Array2::from_elem((5, 4), 0.5f32);
        assert!(project_2d(same.view()).iter().all(|&v| v == 0.0));
        let line = array![[1.0f32], [2.0], [3.0]];
        assert_eq!(
            project_2d(line.view()),
            array![[-1.0f32, 0.0], [0.0, 0.0], [1.0, 0.0]]
        );
        let odd = array![[f32::NAN, 1.0], [f32::INFINITY, 2.0], [0.0, 3.0]];
        assert!(project_2d(odd.view()).iter().all(|v| v.is_finite()));
        let two = array![[0.0f32, 0.0, 1.0], [1.0, 1.0, 0.0]];
        let p = project_2d(two.view());
        assert!(p.iter().all(|v| v.is_finite()));
        assert!((p[[0, 0]] + p[[1, 0]]).abs() < 1e-6 && p[[0, 0]].abs() > 0.5);
    }

    /// A structured, nearly low-rank input on which linfa-reduction's LOBPCG panics ("NaN
    /// values in array"): projected here, finite and deterministic.
    #[test]
    fn low_rank_structured_input_projects() {
        let x = Array2::from_shape_fn((3_000, 96), |(i, j)| {
            (((i * 31 + j * 17) % 97) as f32 / 97.0 - 0.5)
                * (1.0 + (i % 25) as f32 * 0.1 * ((j % 7) as f32))
        });
        let p = project_2d(x.view());
        assert!(p.iter().all(|v| v.is_finite()));
        assert!(p.column(0).iter().any(|v| v.abs() > 0.01));
        assert_eq!(p, project_2d(x.view()));
    }

    /// Against a known answer: points on a tilted ellipse in 3-D.
    #[test]
    fn recovers_the_axes_of_an_ellipse() {
        let (a, b) = (5.0f32, 2.0f32);
        let x = Array2::from_shape_fn((64, 3), |(i, j)| {
            let t = i as f32 / 64.0 * std::f32::consts::TAU;
            let (u, w) = (a * t.cos(), b * t.sin());
            // u along (1, 1, 0)/√2, w along (0, 0, 1)
            [u / 2f32.sqrt(), u / 2f32.sqrt(), w][j]
        });
        let p = project_2d(x.view());
        let var = |c: usize| p.column(c).mapv(|v| v * v).mean().unwrap();
        assert!((var(0) - a * a / 2.0).abs() < 1e-3, "{}", var(0));
        assert!((var(1) - b * b / 2.0).abs() < 1e-3, "{}", var(1));
    }
}
