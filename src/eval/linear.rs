//! Linear classifiers on sparse rows with per-row sample weights.
//!
//! Two solvers, both written here because `linfa-logistic` 0.8 takes only dense
//! matrices and has no sample weights (see the module docs of [`super::probe`]):
//! - [`LinearKind::Svm`]: one-vs-rest L2-regularised squared-hinge linear SVM solved by
//!   dual coordinate descent with shrinking (LIBLINEAR's `L2R_L2LOSS_SVC_DUAL`, what
//!   scikit-learn's `LinearSVC` runs). The bias is an extra constant-1 feature and is
//!   regularised, as in `LinearSVC(intercept_scaling=1)`. Row `i` gets cost `C · wᵢ`.
//! - [`LinearKind::Logistic`]: multinomial (softmax) logistic regression minimising
//!   `Σᵢ wᵢ · CEᵢ + ‖W‖² / (2C)` (bias not penalised, as in scikit-learn) with L-BFGS.
//!
//! A row of weight 0 contributes nothing to either objective: training with it equals
//! training without it.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::EvalError;
use super::sparse::CsrMatrix;

/// Which linear model to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearKind {
    /// One-vs-rest squared-hinge linear SVM (dual coordinate descent).
    Svm,
    /// Multinomial logistic regression (L-BFGS).
    Logistic,
}

/// Hyper-parameters of a [`LinearModel`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinearModelConfig {
    /// The model.
    pub kind: LinearKind,
    /// Inverse regularisation strength (`C` of scikit-learn), > 0.
    pub c: f64,
    /// Stopping tolerance: projected-gradient gap (SVM) or max-abs gradient (logistic).
    pub tol: f64,
    /// Maximum passes over the data (SVM) or L-BFGS iterations (logistic).
    pub max_iter: usize,
    /// Seed of the SVM's coordinate order.
    pub seed: u64,
}

impl LinearModelConfig {
    /// scikit-learn `LinearSVC()` defaults: `C = 1`, `tol = 1e-4`, `max_iter = 1000`.
    pub fn svm() -> Self {
        Self {
            kind: LinearKind::Svm,
            c: 1.0,
            tol: 1e-4,
            max_iter: 1000,
            seed: 0,
        }
    }

    /// Multinomial logistic regression, `C = 1`, `tol = 1e-4`, at most 300 L-BFGS steps.
    pub fn logistic() -> Self {
        Self {
            kind: LinearKind::Logistic,
            c: 1.0,
            tol: 1e-4,
            max_iter: 300,
            seed: 0,
        }
    }
}

/// A fitted linear classifier over `n_classes` classes.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    n_classes: usize,
    n_features: usize,
    /// Feature-major weights: `coef[j * n_classes + k]`; row `n_features` is the bias.
    coef: Vec<f64>,
}

impl LinearModel {
    /// Fits a model on the rows of `x` with class indices `y` (each `< n_classes`) and
    /// per-row weights `weights` (≥ 0, finite).
    pub fn fit(
        x: &CsrMatrix,
        y: &[usize],
        n_classes: usize,
        weights: &[f32],
        config: &LinearModelConfig,
    ) -> Result<Self, EvalError> {
        let n = x.n_rows();
        if y.len() != n || weights.len() != n {
            return Err(EvalError::Config(format!(
                "{n} rows but {} labels and {} weights",
                y.len(),
                weights.len()
            )));
        }
        if n_classes < 2 || y.iter().any(|&k| k >= n_classes) {
            return Err(EvalError::Data(format!(
                "need at least 2 classes and labels below {n_classes}"
            )));
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(EvalError::Config(
                "sample weights must be finite and ≥ 0".into(),
            ));
        }
        let positive = |v: f64| v > 0.0 && v.is_finite();
        if !(positive(config.c) && positive(config.tol)) {
            return Err(EvalError::Config(format!(
                "C and tol must be positive, got C = {}, tol = {}",
                config.c, config.tol
            )));
        }
        let coef = match config.kind {
            LinearKind::Svm => fit_svm(x, y, n_classes, weights, config),
            LinearKind::Logistic => fit_logistic(x, y, n_classes, weights, config),
        };
        Ok(Self {
            n_classes,
            n_features: x.n_cols,
            coef,
        })
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Decision values (one per class) of row `i` of `x`; columns beyond the training
    /// width are ignored.
    pub fn decision(&self, x: &CsrMatrix, i: usize) -> Vec<f64> {
        let k = self.n_classes;
        let mut z = self.coef[self.n_features * k..].to_vec();
        let (cols, vals) = x.row(i);
        for (&c, &v) in cols.iter().zip(vals) {
            let c = c as usize;
            if c < self.n_features {
                let w = &self.coef[c * k..(c + 1) * k];
                z.iter_mut()
                    .zip(w)
                    .for_each(|(z, w)| *z += f64::from(v) * w);
            }
        }
        z
    }

    /// The class index with the highest decision value, for every row of `x`.
    pub fn predict(&self, x: &CsrMatrix) -> Vec<usize> {
        (0..x.n_rows())
            .map(|i| {
                let z = self.decision(x, i);
                let mut best = 0;
                for (k, v) in z.iter().enumerate() {
                    if *v > z[best] {
                        best = k;
                    }
                }
                best
            })
            .collect()
    }
}

/// Runs `job(k)` for every class on all cores, results in class order.
fn per_class<T: Send>(n_classes: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(n_classes)
        .max(1);
    let mut slots: Vec<Option<T>> = (0..n_classes).map(|_| None).collect();
    std::thread::scope(|scope| {
        let chunk = n_classes.div_ceil(threads);
        for (t, slot) in slots.chunks_mut(chunk).enumerate() {
            let job = &job;
            scope.spawn(move || {
                for (j, s) in slot.iter_mut().enumerate() {
                    *s = Some(job(t * chunk + j));
                }
            });
        }
    });
    slots.into_iter().flatten().collect()
}

fn fit_svm(
    x: &CsrMatrix,
    y: &[usize],
    n_classes: usize,
    weights: &[f32],
    config: &LinearModelConfig,
) -> Vec<f64> {
    let d = x.n_cols;
    let norms: Vec<f64> = (0..x.n_rows()).map(|i| x.row_norm_sq(i) + 1.0).collect();
    let rows: Vec<usize> = (0..x.n_rows()).filter(|&i| weights[i] > 0.0).collect();
    let diag: Vec<f64> = weights
        .iter()
        .map(|&w| {
            if w > 0.0 {
                0.5 / (config.c * f64::from(w))
            } else {
                0.0
            }
        })
        .collect();
    let per_class_w = per_class(n_classes, |k| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
            config.seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut w = vec![0.0f64; d + 1];
        let mut alpha = vec![0.0f64; x.n_rows()];
        let mut active = rows.clone();
        let mut active_size = active.len();
        // α has no upper bound with the squared hinge, so only the lower-bound shrinking
        // threshold of LIBLINEAR is needed.
        let mut pg_max_old = f64::INFINITY;
        let mut iter = 0;
        while iter < config.max_iter {
            let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
            active[..active_size].shuffle(&mut rng);
            let mut s = 0;
            while s < active_size {
                let i = active[s];
                let yi = if y[i] == k { 1.0 } else { -1.0 };
                let g = yi * (x.dot_row(i, &w[..d]) + w[d]) - 1.0 + diag[i] * alpha[i];
                let mut pg = 0.0;
                if alpha[i] == 0.0 {
                    if g > pg_max_old {
                        active_size -= 1;
                        active.swap(s, active_size);
                        continue;
                    } else if g < 0.0 {
                        pg = g;
                    }
                } else {
                    pg = g;
                }
                pg_max = pg_max.max(pg);
                pg_min = pg_min.min(pg);
                if pg.abs() > 1e-12 {
                    let old = alpha[i];
                    alpha[i] = (old - g / (norms[i] + diag[i])).max(0.0);
                    let step = (alpha[i] - old) * yi;
                    x.axpy_row(i, step, &mut w[..d]);
                    w[d] += step;
                }
                s += 1;
            }
            iter += 1;
            if pg_max - pg_min <= config.tol {
                if active_size == active.len() {
                    break;
                }
                active_size = active.len();
                pg_max_old = f64::INFINITY;
                continue;
            }
            pg_max_old = if pg_max <= 0.0 { f64::INFINITY } else { pg_max };
        }
        w
    });
    let mut coef = vec![0.0; (d + 1) * n_classes];
    for (k, w) in per_class_w.iter().enumerate() {
        for (j, v) in w.iter().enumerate() {
            coef[j * n_classes + k] = *v;
        }
    }
    coef
}

/// Weighted softmax cross-entropy plus `‖W‖²/(2C)` (bias excluded) and its gradient.
fn logistic_objective(
    x: &CsrMatrix,
    y: &[usize],
    k: usize,
    weights: &[f32],
    c: f64,
    coef: &[f64],
    grad: &mut [f64],
) -> f64 {
    let d = x.n_cols;
    grad.fill(0.0);
    let mut loss = 0.0;
    let mut z = vec![0.0; k];
    for i in 0..x.n_rows() {
        let wi = f64::from(weights[i]);
        if wi == 0.0 {
            continue;
        }
        z.copy_from_slice(&coef[d * k..]);
        let (cols, vals) = x.row(i);
        for (&col, &v) in cols.iter().zip(vals) {
            let w = &coef[col as usize * k..(col as usize + 1) * k];
            z.iter_mut()
                .zip(w)
                .for_each(|(z, w)| *z += f64::from(v) * w);
        }
        let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
        let log_norm = max + sum.ln();
        loss += wi * (log_norm - z[y[i]]);
        // z becomes the gradient wrt the scores: wᵢ (pₖ − [k = yᵢ]).
        for (kk, zk) in z.iter_mut().enumerate() {
            let p = (*zk - log_norm).exp();
            *zk = wi * (p - if kk == y[i] { 1.0 } else { 0.0 });
        }
        for (&col, &v) in cols.iter().zip(vals) {
            let g = &mut grad[col as usize * k..(col as usize + 1) * k];
            g.iter_mut()
                .zip(&z)
                .for_each(|(g, z)| *g += f64::from(v) * z);
        }
        grad[d * k..].iter_mut().zip(&z).for_each(|(g, z)| *g += z);
    }
    let penalised = d * k;
    let reg: f64 = coef[..penalised].iter().map(|w| w * w).sum::<f64>() / (2.0 * c);
    grad[..penalised]
        .iter_mut()
        .zip(&coef[..penalised])
        .for_each(|(g, w)| *g += w / c);
    loss + reg
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn fit_logistic(
    x: &CsrMatrix,
    y: &[usize],
    k: usize,
    weights: &[f32],
    config: &LinearModelConfig,
) -> Vec<f64> {
    const MEMORY: usize = 10;
    let dim = (x.n_cols + 1) * k;
    let objective = |w: &[f64], g: &mut [f64]| logistic_objective(x, y, k, weights, config.c, w, g);
    let mut w = vec![0.0; dim];
    let mut g = vec![0.0; dim];
    let mut f = objective(&w, &mut g);
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> =
        std::collections::VecDeque::new();
    let mut w_new = vec![0.0; dim];
    let mut g_new = vec![0.0; dim];
    for _ in 0..config.max_iter {
        if g.iter().fold(0.0f64, |m, v| m.max(v.abs())) <= config.tol {
            break;
        }
        // Two-loop recursion: direction = -H g.
        let mut dir: Vec<f64> = g.iter().map(|v| -v).collect();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, yv, rho) in history.iter().rev() {
            let a = rho * dot(s, &dir);
            dir.iter_mut().zip(yv).for_each(|(d, y)| *d -= a * y);
            alphas.push(a);
        }
        if let Some((s, yv, _)) = history.back() {
            let gamma = dot(s, yv) / dot(yv, yv);
            dir.iter_mut().for_each(|d| *d *= gamma);
        }
        for ((s, yv, rho), a) in history.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(yv, &dir);
            dir.iter_mut().zip(s).for_each(|(d, s)| *d += (a - b) * s);
        }
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            history.clear();
            dir = g.iter().map(|v| -v).collect();
            slope = dot(&g, &dir);
        }
        let mut step = if history.is_empty() {
            1.0 / g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1.0)
        } else {
            1.0
        };
        let mut accepted = false;
        for _ in 0..40 {
            w_new
                .iter_mut()
                .zip(&w)
                .zip(&dir)
                .for_each(|((n, w), d)| *n = w + step * d);
            let f_new = objective(&w_new, &mut g_new);
            if f_new <= f + 1e-4 * step * slope {
                let s: Vec<f64> = w_new.iter().zip(&w).map(|(a, b)| a - b).collect();
                let yv: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
                let sy = dot(&s, &yv);
                if sy > 1e-12 {
                    if history.len() == MEMORY {
                        history.pop_front();
                    }
                    history.push_back((s, yv, 1.0 / sy));
                }
                let decrease = (f - f_new) / f.abs().max(f_new.abs()).max(1.0);
                std::mem::swap(&mut w, &mut w_new);
                std::mem::swap(&mut g, &mut g_new);
                f = f_new;
                accepted = decrease > 1e-12;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gradient of the logistic objective against central finite differences.
    #[test]
    fn logistic_gradient_matches_finite_differences() {
        let mut x = CsrMatrix::new(3);
        x.push_row([(0, 1.0), (2, -0.5)]);
        x.push_row([(1, 2.0)]);
        x.push_row([(0, -1.0), (1, 0.5), (2, 1.5)]);
        let y = [0, 2, 1];
        let weights = [1.0, 0.5, 2.0];
        let coef: Vec<f64> = (0..12).map(|i| (i as f64 * 0.37).sin()).collect();
        let mut grad = vec![0.0; 12];
        logistic_objective(&x, &y, 3, &weights, 0.7, &coef, &mut grad);
        let mut scratch = vec![0.0; 12];
        for j in 0..12 {
            let (mut plus, mut minus) = (coef.clone(), coef.clone());
            plus[j] += 1e-6;
            minus[j] -= 1e-6;
            let numeric = (logistic_objective(&x, &y, 3, &weights, 0.7, &plus, &mut scratch)
                - logistic_objective(&x, &y, 3, &weights, 0.7, &minus, &mut scratch))
                / 2e-6;
            assert!((numeric - grad[j]).abs() < 1e-5, "coordinate {j}");
        }
    }

    #[test]
    fn rejects_bad_inputs() {
        let mut x = CsrMatrix::new(1);
        x.push_row([(0, 1.0)]);
        let config = LinearModelConfig::svm();
        assert!(LinearModel::fit(&x, &[0], 1, &[1.0], &config).is_err());
        assert!(LinearModel::fit(&x, &[3], 2, &[1.0], &config).is_err());
        assert!(LinearModel::fit(&x, &[0], 2, &[-1.0], &config).is_err());
        assert!(LinearModel::fit(&x, &[0, 1], 2, &[1.0], &config).is_err());
    }
}
