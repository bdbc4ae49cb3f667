//! Linear classifiers on sparse rows with per-row sample weights.
//!
//! Two solvers, both written here because `linfa-logistic` 0.8 takes only dense
//! matrices and has no sample weights (see the module docs of [`super::probe`]):
//! - [`LinearKind::Svm`]: one-vs-rest L2-regularised squared-hinge linear SVM solved by
//!   dual coordinate descent with shrinking (LIBLINEAR's `L2R_L2LOSS_SVC_DUAL`, what
//!   scikit-learn's `LinearSVC` runs; same updates, shrinking and stopping rule). The bias is an extra constant-1 feature and is
//!   regularised, as in `LinearSVC(intercept_scaling=1)`. Row `i` gets cost `C · wᵢ`.
//! - [`LinearKind::Logistic`]: multinomial (softmax) logistic regression minimising
//!   `Σᵢ wᵢ · CEᵢ + ‖W‖² / (2C)` (bias not penalised, as in scikit-learn) with L-BFGS.
//!
//! A row of weight 0 contributes nothing to either objective: training with it equals
//! training without it.
//!
//! Speed of the SVM (the probe's hot spot; `cargo bench --bench probe_speed` times it against
//! scikit-learn on the same data): the solver is bound by streaming the rows, not by
//! arithmetic, so (1) columns are renumbered by falling frequency, which puts the weights of
//! frequent n-grams on shared cache lines, (2) four classes are solved in lockstep over one
//! shared random row order with interleaved weights, so each row is read once for four
//! classes (each class keeps its own α, shrinking and stopping test), and (3) the batches
//! run on every core (`SYNTHCTI_PROBE_THREADS` caps the threads). Batches are fixed groups
//! of classes seeded by their first class, so the model does not depend on the number of
//! threads. Prediction scores rows in parallel, class by class.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::LearnError;
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
    /// Training column → weight column (`u32::MAX`: a column no training row uses, weight 0).
    columns: Vec<u32>,
    /// Number of weight columns.
    width: usize,
    /// Class-major weights: `coef[k * (width + 1) + j]`; entry `width` is class `k`'s bias.
    coef: Vec<f64>,
}

impl LinearModel {
    /// Fits a model on the rows of `x` with class indices `y` (each `< n_classes`) and
    /// per-row weights `weights` (≥ 0, finite). The SVM's classes are solved on every core;
    /// the model does not depend on the number of cores.
    pub fn fit(
        x: &CsrMatrix,
        y: &[usize],
        n_classes: usize,
        weights: &[f32],
        config: &LinearModelConfig,
    ) -> Result<Self, LearnError> {
        Self::fit_with_threads(x, y, n_classes, weights, config, default_threads())
    }

    fn fit_with_threads(
        x: &CsrMatrix,
        y: &[usize],
        n_classes: usize,
        weights: &[f32],
        config: &LinearModelConfig,
        threads: usize,
    ) -> Result<Self, LearnError> {
        let n = x.n_rows();
        if y.len() != n || weights.len() != n {
            return Err(LearnError::Config(format!(
                "{n} rows but {} labels and {} weights",
                y.len(),
                weights.len()
            )));
        }
        if n_classes < 2 || y.iter().any(|&k| k >= n_classes) {
            return Err(LearnError::Data(format!(
                "need at least 2 classes and labels below {n_classes}"
            )));
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(LearnError::Config(
                "sample weights must be finite and ≥ 0".into(),
            ));
        }
        let positive = |v: f64| v > 0.0 && v.is_finite();
        if !(positive(config.c) && positive(config.tol)) {
            return Err(LearnError::Config(format!(
                "C and tol must be positive, got C = {}, tol = {}",
                config.c, config.tol
            )));
        }
        Ok(match config.kind {
            LinearKind::Svm => fit_svm(x, y, n_classes, weights, config, threads),
            LinearKind::Logistic => {
                let d = x.n_cols;
                let feature_major = fit_logistic(x, y, n_classes, weights, config);
                let mut coef = vec![0.0; (d + 1) * n_classes];
                for (j, w) in feature_major.chunks_exact(n_classes).enumerate() {
                    for (k, v) in w.iter().enumerate() {
                        coef[k * (d + 1) + j] = *v;
                    }
                }
                Self {
                    n_classes,
                    columns: (0..d as u32).collect(),
                    width: d,
                    coef,
                }
            }
        })
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// The weights and bias of class `k`, indexed by weight column.
    fn class_coef(&self, k: usize) -> &[f64] {
        &self.coef[k * (self.width + 1)..(k + 1) * (self.width + 1)]
    }

    /// Decision values (one per class) of row `i` of `x`; columns beyond the training
    /// width are ignored.
    pub fn decision(&self, x: &CsrMatrix, i: usize) -> Vec<f64> {
        let (cols, vals) = self.map_row(x, i);
        (0..self.n_classes)
            .map(|k| {
                let w = self.class_coef(k);
                w[self.width] + sparse_dot(&cols, &vals, w)
            })
            .collect()
    }

    /// Row `i` of `x` in weight columns (columns without a weight dropped).
    fn map_row(&self, x: &CsrMatrix, i: usize) -> (Vec<u32>, Vec<f32>) {
        let (cols, vals) = x.row(i);
        cols.iter()
            .zip(vals)
            .filter_map(|(&c, &v)| {
                let mapped = *self.columns.get(c as usize)?;
                (mapped != u32::MAX).then_some((mapped, v))
            })
            .unzip()
    }

    /// The class index with the highest decision value (the first on ties), for every row
    /// of `x`. Rows are scored in parallel, class by class (each class's weights stay in
    /// cache across rows).
    pub fn predict(&self, x: &CsrMatrix) -> Vec<usize> {
        let rows: Vec<(Vec<u32>, Vec<f32>)> = (0..x.n_rows()).map(|i| self.map_row(x, i)).collect();
        let threads = default_threads();
        let chunk = rows.len().div_ceil(threads).max(1);
        let chunks: Vec<&[(Vec<u32>, Vec<f32>)]> = rows.chunks(chunk).collect();
        per_task(chunks.len(), threads, |t| {
            let part = chunks[t];
            let mut best = vec![(0usize, f64::NEG_INFINITY); part.len()];
            for k in 0..self.n_classes {
                let w = self.class_coef(k);
                for ((cols, vals), best) in part.iter().zip(best.iter_mut()) {
                    let z = w[self.width] + sparse_dot(cols, vals, w);
                    if k == 0 || z > best.1 {
                        *best = (k, z);
                    }
                }
            }
            best.into_iter().map(|(k, _)| k).collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Worker threads for the per-class solves and prediction: `SYNTHCTI_PROBE_THREADS` when it
/// is a positive number, else every core.
fn default_threads() -> usize {
    std::env::var("SYNTHCTI_PROBE_THREADS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Runs `job(t)` for `t in 0..n_tasks` on up to `threads` threads, each taking the next
/// task when it is free; results in task order, so they do not depend on `threads`.
fn per_task<T: Send>(n_tasks: usize, threads: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, n_tasks.max(1));
    if threads == 1 {
        return (0..n_tasks).map(job).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let t = next.fetch_add(1, Ordering::Relaxed);
                        if t >= n_tasks {
                            break out;
                        }
                        out.push((t, job(t)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("probe worker panicked"))
            .collect()
    });
    done.sort_unstable_by_key(|(t, _)| *t);
    done.into_iter().map(|(_, v)| v).collect()
}

/// `Σ w[cols[j]] · vals[j]`, with four partial sums (the loads are independent; one
/// running sum would serialise them on the add latency).
fn sparse_dot(cols: &[u32], vals: &[f32], w: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (c4, v4) = (cols.chunks_exact(4), vals.chunks_exact(4));
    let (c_rest, v_rest) = (c4.remainder(), v4.remainder());
    for (c, v) in c4.zip(v4) {
        for ((a, &c), &v) in acc.iter_mut().zip(c).zip(v) {
            *a += w[c as usize] * f64::from(v);
        }
    }
    let mut tail = 0.0;
    for (&c, &v) in c_rest.iter().zip(v_rest) {
        tail += w[c as usize] * f64::from(v);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// The rows of an SVM fit: rows of positive weight only, columns renumbered by falling
/// frequency (the weights of frequent n-grams share cache lines; each row sorted by the
/// new numbering, so a row walks the weight vector forwards).
struct SvmProblem {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
    /// Class of each problem row.
    labels: Vec<u32>,
    /// `Dᵢᵢ = 1 / (2 C wᵢ)`: the squared hinge's diagonal term.
    diag: Vec<f64>,
    /// `Qᵢᵢ = ‖xᵢ‖² + 1 + Dᵢᵢ` (the 1 is the bias feature).
    qd: Vec<f64>,
    /// Training column → problem column (`u32::MAX`: used by no weighted row).
    columns: Vec<u32>,
    /// Number of problem columns.
    width: usize,
}

impl SvmProblem {
    fn new(x: &CsrMatrix, y: &[usize], weights: &[f32], c: f64) -> Self {
        let rows: Vec<usize> = (0..x.n_rows()).filter(|&i| weights[i] > 0.0).collect();
        let mut count = vec![0u32; x.n_cols];
        for &i in &rows {
            for &col in x.row(i).0 {
                count[col as usize] += 1;
            }
        }
        let mut order: Vec<u32> = (0..x.n_cols as u32)
            .filter(|&col| count[col as usize] > 0)
            .collect();
        order.sort_unstable_by_key(|&col| (std::cmp::Reverse(count[col as usize]), col));
        let mut columns = vec![u32::MAX; x.n_cols];
        for (new, &old) in order.iter().enumerate() {
            columns[old as usize] = new as u32;
        }
        let mut problem = Self {
            indptr: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
            labels: Vec::with_capacity(rows.len()),
            diag: Vec::with_capacity(rows.len()),
            qd: Vec::with_capacity(rows.len()),
            columns,
            width: order.len(),
        };
        let mut entries: Vec<(u32, f32)> = Vec::new();
        for &i in &rows {
            let (cols, vals) = x.row(i);
            entries.clear();
            entries.extend(
                cols.iter()
                    .zip(vals)
                    .map(|(&col, &v)| (problem.columns[col as usize], v)),
            );
            entries.sort_unstable_by_key(|e| e.0);
            problem.indices.extend(entries.iter().map(|e| e.0));
            problem.values.extend(entries.iter().map(|e| e.1));
            problem.indptr.push(problem.indices.len());
            problem.labels.push(y[i] as u32);
            let diag = 0.5 / (c * f64::from(weights[i]));
            problem.diag.push(diag);
            problem.qd.push(x.row_norm_sq(i) + 1.0 + diag);
        }
        problem
    }

    fn n_rows(&self) -> usize {
        self.labels.len()
    }

    fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let range = self.indptr[i]..self.indptr[i + 1];
        (&self.indices[range.clone()], &self.values[range])
    }

    /// Dual coordinate descent for classes `first..first + BATCH` (those below
    /// `n_classes`), each against the rest: LIBLINEAR's `solve_l2r_l1l2_svc` for the
    /// squared hinge, with its shrinking, run for the classes of a batch in lockstep. They
    /// share one random row order per pass, so a row's values are read once for all of
    /// them (the solver is bound by streaming the rows, not by arithmetic); each class
    /// keeps its own α, shrinking and stopping test. Returns each class's weights in
    /// problem columns, bias last.
    fn solve_batch(
        &self,
        first: usize,
        n_classes: usize,
        config: &LinearModelConfig,
    ) -> Vec<Vec<f64>> {
        let nb = BATCH.min(n_classes - first);
        let (d, n) = (self.width, self.n_rows());
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
            config.seed ^ (first as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        // Lane b of weight column j is w[j * BATCH + b]; column d is the bias.
        let mut w = vec![0.0f64; (d + 1) * BATCH];
        let mut alpha = vec![0.0f64; n * BATCH];
        let all: u8 = (1u8 << nb) - 1;
        // Per row, the classes for which it is not shrunk; per class, how many such rows.
        let mut active = vec![all; n];
        let mut n_active = [n; BATCH];
        let mut running = all;
        // α has no upper bound with the squared hinge, so only the lower-bound shrinking
        // threshold of LIBLINEAR is needed.
        let mut pg_max_old = [f64::INFINITY; BATCH];
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut iter = 0;
        while running != 0 && iter < config.max_iter {
            let mut pg_max = [f64::NEG_INFINITY; BATCH];
            let mut pg_min = [f64::INFINITY; BATCH];
            order.shuffle(&mut rng);
            for &i in &order {
                let i = i as usize;
                let todo = active[i] & running;
                if todo == 0 {
                    continue;
                }
                let (cols, vals) = self.row(i);
                let dots = batch_dot(cols, vals, &w);
                let mut step = [0.0f64; BATCH];
                for b in (0..nb).filter(|b| todo & (1 << b) != 0) {
                    let yi = if self.labels[i] as usize == first + b {
                        1.0
                    } else {
                        -1.0
                    };
                    let a = &mut alpha[i * BATCH + b];
                    let g = yi * (dots[b] + w[d * BATCH + b]) - 1.0 + self.diag[i] * *a;
                    let mut pg = 0.0;
                    if *a == 0.0 {
                        if g > pg_max_old[b] {
                            active[i] &= !(1 << b);
                            n_active[b] -= 1;
                            continue;
                        } else if g < 0.0 {
                            pg = g;
                        }
                    } else {
                        pg = g;
                    }
                    pg_max[b] = pg_max[b].max(pg);
                    pg_min[b] = pg_min[b].min(pg);
                    if pg.abs() > 1e-12 {
                        let old = *a;
                        *a = (old - g / self.qd[i]).max(0.0);
                        step[b] = (*a - old) * yi;
                    }
                }
                if step.iter().any(|&s| s != 0.0) {
                    batch_axpy(cols, vals, &step, &mut w);
                    for (bias, s) in w[d * BATCH..].iter_mut().zip(step) {
                        *bias += s;
                    }
                }
            }
            iter += 1;
            let was_running = running;
            for b in (0..nb).filter(|b| was_running & (1 << b) != 0) {
                if pg_max[b] - pg_min[b] <= config.tol {
                    if n_active[b] == n {
                        running &= !(1 << b);
                    } else {
                        active.iter_mut().for_each(|m| *m |= 1 << b);
                        n_active[b] = n;
                        pg_max_old[b] = f64::INFINITY;
                    }
                    continue;
                }
                pg_max_old[b] = if pg_max[b] <= 0.0 {
                    f64::INFINITY
                } else {
                    pg_max[b]
                };
            }
        }
        (0..nb)
            .map(|b| w.chunks_exact(BATCH).map(|lanes| lanes[b]).collect())
            .collect()
    }
}

/// Classes solved together by [`SvmProblem::solve_batch`] (≤ 8: one bit each in a `u8`).
const BATCH: usize = 4;

/// `Σⱼ vals[j] · w[cols[j] · BATCH + b]` for every lane `b`, with two partial sums per lane.
fn batch_dot(cols: &[u32], vals: &[f32], w: &[f64]) -> [f64; BATCH] {
    let lanes = |c: u32| -> &[f64; BATCH] {
        let at = c as usize * BATCH;
        w[at..at + BATCH].try_into().expect("BATCH lanes")
    };
    let (mut even, mut odd) = ([0.0f64; BATCH], [0.0f64; BATCH]);
    let (c2, v2) = (cols.chunks_exact(2), vals.chunks_exact(2));
    let (c_rest, v_rest) = (c2.remainder(), v2.remainder());
    for (c, v) in c2.zip(v2) {
        let (w0, w1) = (lanes(c[0]), lanes(c[1]));
        let (v0, v1) = (f64::from(v[0]), f64::from(v[1]));
        for ((e, o), (a, b)) in even.iter_mut().zip(&mut odd).zip(w0.iter().zip(w1)) {
            *e += a * v0;
            *o += b * v1;
        }
    }
    for (&c, &v) in c_rest.iter().zip(v_rest) {
        let w0 = lanes(c);
        for (e, a) in even.iter_mut().zip(w0) {
            *e += a * f64::from(v);
        }
    }
    std::array::from_fn(|b| even[b] + odd[b])
}

/// `w[cols[j] · BATCH + b] += step[b] · vals[j]` for every stored value and lane.
fn batch_axpy(cols: &[u32], vals: &[f32], step: &[f64; BATCH], w: &mut [f64]) {
    for (&c, &v) in cols.iter().zip(vals) {
        let at = c as usize * BATCH;
        let lanes: &mut [f64; BATCH] = (&mut w[at..at + BATCH]).try_into().expect("BATCH lanes");
        let v = f64::from(v);
        for (l, s) in lanes.iter_mut().zip(step) {
            *l += s * v;
        }
    }
}

fn fit_svm(
    x: &CsrMatrix,
    y: &[usize],
    n_classes: usize,
    weights: &[f32],
    config: &LinearModelConfig,
    threads: usize,
) -> LinearModel {
    let problem = SvmProblem::new(x, y, weights, config.c);
    let batches = per_task(n_classes.div_ceil(BATCH), threads, |t| {
        problem.solve_batch(t * BATCH, n_classes, config)
    });
    LinearModel {
        n_classes,
        width: problem.width,
        columns: problem.columns,
        coef: batches.into_iter().flatten().flatten().collect(),
    }
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

    /// A seeded random sparse problem: `n` rows over 40 columns, 4 classes, each class with
    /// its own columns so that it is learnable.
    fn toy(n: usize) -> (CsrMatrix, Vec<usize>) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let mut x = CsrMatrix::new(40);
        let mut y = Vec::new();
        for i in 0..n {
            let k = i % 4;
            let mut cols: Vec<u32> = (0..6)
                .map(|_| rand::Rng::gen_range(&mut rng, 0..40))
                .collect();
            let own = k as u32 * 10 + rand::Rng::gen_range(&mut rng, 0..10);
            cols.retain(|&c| c != own);
            cols.push(own);
            cols.sort_unstable();
            cols.dedup();
            x.push_row(
                cols.into_iter()
                    .map(|c| (c, if c == own { 2.0 } else { 0.5 })),
            );
            y.push(k);
        }
        (x, y)
    }

    #[test]
    fn svm_model_does_not_depend_on_thread_count() {
        let (x, y) = toy(80);
        let weights: Vec<f32> = (0..80)
            .map(|i| if i % 7 == 0 { 0.5 } else { 1.0 })
            .collect();
        let config = LinearModelConfig::svm();
        let one = LinearModel::fit_with_threads(&x, &y, 4, &weights, &config, 1).unwrap();
        let three = LinearModel::fit_with_threads(&x, &y, 4, &weights, &config, 3).unwrap();
        assert_eq!(one, three);
        let predicted = one.predict(&x);
        let accuracy = predicted.iter().zip(&y).filter(|(p, t)| p == t).count();
        assert!(accuracy >= 76, "training accuracy {accuracy}/80");
        for (i, &p) in predicted.iter().enumerate() {
            let z = one.decision(&x, i);
            let best = (0..4).fold(0, |b, k| if z[k] > z[b] { k } else { b });
            assert_eq!(p, best, "row {i}");
        }
    }

    /// A row of weight 0 changes nothing, even when it holds the only use of a column.
    #[test]
    fn zero_weight_rows_are_ignored() {
        let (x, y) = toy(40);
        let mut with = x.clone();
        with.push_row([(39, 1.0)]);
        let mut y_with = y.clone();
        y_with.push(1);
        let mut weights = vec![1.0; 41];
        weights[40] = 0.0;
        let config = LinearModelConfig::svm();
        let without = LinearModel::fit(&x, &y, 4, &[1.0; 40], &config).unwrap();
        let with = LinearModel::fit(&with, &y_with, 4, &weights, &config).unwrap();
        for i in 0..x.n_rows() {
            assert_eq!(without.decision(&x, i), with.decision(&x, i), "row {i}");
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
