//! The highest cosine between a query and a growing set of L2-normalised vectors: the search
//! behind every embedding near-duplicate check (the generation filters, eval's leak screen).
//!
//! Up to [`AnnParams::exact_up_to`] rows (default [`EXACT_UP_TO`]) a query scans every row,
//! so small inputs such as TRAM get the exact answer. Above it the rows are also hashed into
//! random-hyperplane LSH tables (SimHash, Charikar 2002): `tables` tables of `bits`-bit
//! signatures of the rows minus their mean; a query scans only the rows in its own bucket and
//! in the `bits` buckets one bit away, in each table. Two vectors whose centred directions
//! are `θ` apart agree on one hyperplane with probability `1 − θ/π`, so with 16 bits and 12
//! tables a pair at cosine 0.92 (the default near-duplicate threshold) is found with
//! probability ≈ 0.99, and closer pairs more often; the reported maximum is then the
//! largest cosine among the rows scanned, a lower bound of the true one. A query costs a
//! few thousand dot products instead of one per row, which keeps dedup sub-quadratic.
//!
//! Hand-written rather than an HNSW crate: rows arrive one at a time while candidates are
//! judged (inserts must be cheap and order-independent), results must be deterministic for a
//! seed (journaled runs replay to the same rows), the recall for a fixed cosine threshold
//! follows from the formula above, and it needs no dependency.

use std::collections::HashMap;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Default [`AnnParams::exact_up_to`]: a full scan of 20,000 rows of 384 floats is ~1 ms.
pub const EXACT_UP_TO: usize = 20_000;

/// Knobs of a [`CosineIndex`]; the defaults are what synthcti uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnParams {
    /// Most rows searched exactly; above this the LSH tables are built and used.
    pub exact_up_to: usize,
    /// Number of hash tables.
    pub tables: usize,
    /// Signature bits per table (at most 32).
    pub bits: usize,
    /// Seed of the random hyperplanes.
    pub seed: u64,
}

impl Default for AnnParams {
    fn default() -> Self {
        Self {
            exact_up_to: EXACT_UP_TO,
            tables: 12,
            bits: 16,
            seed: 0x05ee_dc05,
        }
    }
}

/// Max-cosine search over L2-normalised rows, exact up to a size and LSH above it.
#[derive(Debug, Clone)]
pub struct CosineIndex {
    params: AnnParams,
    rows: Array2<f32>,
    lsh: Option<Lsh>,
}

impl CosineIndex {
    /// An empty index of `dim`-dimensional rows.
    pub fn new(dim: usize, params: AnnParams) -> Self {
        Self::from_rows(Array2::zeros((0, dim)), params)
    }

    /// Indexes the rows of `rows` (row `i` gets id `i`).
    pub fn from_rows(rows: Array2<f32>, params: AnnParams) -> Self {
        assert!(
            (1..=32).contains(&params.bits),
            "AnnParams::bits must be in 1..=32"
        );
        let mut index = Self {
            params,
            rows,
            lsh: None,
        };
        if index.len() > params.exact_up_to {
            index.lsh = Some(Lsh::build(index.rows.view(), &params));
        }
        index
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.nrows()
    }

    /// Whether the index has no row.
    pub fn is_empty(&self) -> bool {
        self.rows.nrows() == 0
    }

    /// Whether queries go through the LSH tables (more than `exact_up_to` rows).
    pub fn is_approximate(&self) -> bool {
        self.lsh.is_some()
    }

    /// Adds one row (id = the previous [`len`](Self::len)).
    pub fn add(&mut self, row: ArrayView1<f32>) {
        if self.is_empty() && self.rows.ncols() != row.len() {
            self.rows = Array2::zeros((0, row.len()));
        }
        self.rows
            .push_row(row)
            .expect("a row of the index's dimension");
        let id = self.len() - 1;
        let over = self.len() > self.params.exact_up_to;
        match &mut self.lsh {
            Some(lsh) => lsh.insert(id, row),
            None if over => self.lsh = Some(Lsh::build(self.rows.view(), &self.params)),
            None => {}
        }
    }

    /// The highest cosine between `query` and any row, with its row id; `None` when the
    /// index is empty (or, above `exact_up_to`, no row shares a probed bucket).
    pub fn nearest(&self, query: ArrayView1<f32>) -> Option<(usize, f32)> {
        let best = |acc: Option<(usize, f32)>, (i, c): (usize, f32)| match acc {
            Some((_, b)) if b >= c => acc,
            _ => Some((i, c)),
        };
        match &self.lsh {
            _ if self.is_empty() => None,
            None => self
                .rows
                .dot(&query)
                .iter()
                .copied()
                .enumerate()
                .fold(None, best),
            Some(lsh) => lsh
                .candidates(query)
                .into_iter()
                .map(|i| (i, self.rows.row(i).dot(&query)))
                .fold(None, best),
        }
    }

    /// The highest cosine between `query` and any row; −∞ when there is none to compare.
    pub fn max_cosine(&self, query: ArrayView1<f32>) -> f32 {
        self.nearest(query).map_or(f32::NEG_INFINITY, |(_, c)| c)
    }
}

/// Random-hyperplane tables over centred rows.
#[derive(Debug, Clone)]
struct Lsh {
    bits: usize,
    /// `tables × bits` hyperplanes, one per row.
    planes: Array2<f32>,
    /// Mean of the rows the tables were built from; signatures are of `row − mean`.
    mean: Array1<f32>,
    tables: Vec<HashMap<u32, Vec<u32>>>,
}

impl Lsh {
    fn build(rows: ArrayView2<f32>, params: &AnnParams) -> Self {
        let dim = rows.ncols();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed);
        let planes =
            Array2::from_shape_simple_fn((params.tables * params.bits, dim), || gaussian(&mut rng));
        let mean = rows
            .mean_axis(Axis(0))
            .unwrap_or_else(|| Array1::zeros(dim));
        let mut lsh = Self {
            bits: params.bits,
            planes,
            mean,
            tables: vec![HashMap::new(); params.tables],
        };
        // Project in blocks: one GEMM per block instead of a GEMV per row.
        const BLOCK: usize = 4096;
        for start in (0..rows.nrows()).step_by(BLOCK) {
            let end = (start + BLOCK).min(rows.nrows());
            let block = &rows.slice(ndarray::s![start..end, ..]) - &lsh.mean;
            let proj = block.dot(&lsh.planes.t());
            for (k, p) in proj.outer_iter().enumerate() {
                let codes = lsh.codes_of(p);
                for (table, code) in lsh.tables.iter_mut().zip(codes) {
                    table.entry(code).or_default().push((start + k) as u32);
                }
            }
        }
        lsh
    }

    /// One signature per table from the projections of a centred vector.
    fn codes_of(&self, proj: ArrayView1<f32>) -> Vec<u32> {
        proj.as_slice()
            .expect("projections are contiguous")
            .chunks(self.bits)
            .map(|chunk| {
                chunk
                    .iter()
                    .enumerate()
                    .fold(0u32, |code, (b, &v)| code | (u32::from(v > 0.0) << b))
            })
            .collect()
    }

    fn codes(&self, v: ArrayView1<f32>) -> Vec<u32> {
        let proj = self.planes.dot(&(&v - &self.mean));
        self.codes_of(proj.view())
    }

    fn insert(&mut self, id: usize, v: ArrayView1<f32>) {
        let codes = self.codes(v);
        for (table, code) in self.tables.iter_mut().zip(codes) {
            table.entry(code).or_default().push(id as u32);
        }
    }

    /// Sorted, distinct ids of the rows in the query's buckets and those one bit away.
    fn candidates(&self, query: ArrayView1<f32>) -> Vec<usize> {
        let mut out = Vec::new();
        for (table, code) in self.tables.iter().zip(self.codes(query)) {
            let probes = std::iter::once(code).chain((0..self.bits).map(|b| code ^ (1 << b)));
            for probe in probes {
                if let Some(ids) = table.get(&probe) {
                    out.extend(ids.iter().map(|&i| i as usize));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut impl Rng) -> f32 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit_rows(n: usize, dim: usize, seed: u64) -> Array2<f32> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut x = Array2::from_shape_simple_fn((n, dim), || gaussian(&mut rng));
        for mut r in x.outer_iter_mut() {
            let norm = r.dot(&r).sqrt();
            r /= norm;
        }
        x
    }

    /// A unit vector at cosine ≈ `cos` to `v`.
    fn near(v: ArrayView1<f32>, cos: f32, rng: &mut Xoshiro256PlusPlus) -> Array1<f32> {
        let noise = Array1::from_shape_simple_fn(v.len(), || gaussian(rng));
        let noise = &noise - &(v.to_owned() * noise.dot(&v));
        let noise = &noise / noise.dot(&noise).sqrt();
        let sin = (1.0 - cos * cos).sqrt();
        &v.to_owned() * cos + noise * sin
    }

    #[test]
    fn exact_below_the_limit_and_grows_into_lsh() {
        let x = unit_rows(300, 32, 1);
        let params = AnnParams {
            exact_up_to: 200,
            ..Default::default()
        };
        let mut index = CosineIndex::new(32, params);
        assert_eq!(index.nearest(x.row(0)), None);
        assert_eq!(index.max_cosine(x.row(0)), f32::NEG_INFINITY);
        for r in x.outer_iter().take(200) {
            index.add(r);
        }
        assert!(!index.is_approximate());
        let q = x.row(7);
        let (id, cos) = index.nearest(q).unwrap();
        assert_eq!(id, 7);
        assert!((cos - 1.0).abs() < 1e-5);
        for r in x.outer_iter().skip(200) {
            index.add(r);
        }
        assert!(index.is_approximate());
        // Every row finds itself (its own bucket is always probed), built or inserted.
        for i in [0, 150, 250, 299] {
            assert_eq!(index.nearest(x.row(i)).unwrap().0, i, "row {i}");
        }
        let built = CosineIndex::from_rows(x.clone(), params);
        assert!(built.is_approximate());
        assert_eq!(built.nearest(x.row(250)).unwrap().0, 250);
    }

    /// Planted near duplicates at cosine 0.92–0.99 among 5,000 random rows: LSH finds
    /// (nearly) all of them while scanning a small share of the rows.
    #[test]
    fn lsh_recall_on_planted_near_duplicates() {
        let (n, dim) = (5_000, 64);
        let x = unit_rows(n, dim, 2);
        let lsh = CosineIndex::from_rows(
            x.clone(),
            AnnParams {
                exact_up_to: 0,
                ..Default::default()
            },
        );
        let exact = CosineIndex::from_rows(x.clone(), AnnParams::default());
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let (mut found, mut total) = (0, 0);
        for i in (0..n).step_by(10) {
            let cos = 0.92 + 0.07 * (i % 8) as f32 / 7.0;
            let q = near(x.row(i), cos, &mut rng);
            let truth = exact.nearest(q.view()).unwrap();
            assert_eq!(truth.0, i);
            total += 1;
            if lsh.nearest(q.view()) == Some(truth) {
                found += 1;
            }
        }
        let recall = found as f64 / total as f64;
        assert!(recall >= 0.97, "recall {recall} ({found}/{total})");
        let scanned = lsh.lsh.as_ref().unwrap().candidates(x.row(0)).len();
        assert!(scanned < n / 4, "scanned {scanned} of {n}");
    }
}
