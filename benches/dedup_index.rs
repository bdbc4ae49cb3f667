//! Near-duplicate search at 1×, 10× and 100× TRAM: `synthcti::ann::CosineIndex` (what the
//! filters and eval's leak screen use: exact up to 20,000 rows, LSH above) against the full
//! scan it replaces (one GEMV over every row per query; the baseline).
//!
//! Rows: the real MiniLM embeddings of TRAM's 5,089 sentences, plus for ×k, k − 1 noisy
//! copies of each (cosine 0.90–0.99 to their source, like a grown dataset's paraphrases).
//! Queries: 300 near duplicates of random rows (cosine 0.92–0.99: a filter must reject them)
//! and 300 looser variants (cosine 0.70–0.90). For each size it prints the time per query
//! of both searches, their ratio, and how often the index agrees with the full scan: on the
//! verdict at the default threshold 0.92, and on the nearest row itself.
//!
//! `cargo bench --bench dedup_index` (needs `scripts/setup.sh`; `SYNTHCTI_BENCH_FACTORS=1,10`
//! for a shorter run).

use std::time::Instant;

use ndarray::{Array1, ArrayView1};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Deserialize;
use synthcti::ann::{AnnParams, CosineIndex};
use synthcti::embed::{EmbedConfig, Embedder, FastEmbedder};

const THRESHOLD: f32 = 0.92;

#[derive(Deserialize)]
struct Row {
    text: String,
}

type BoxError = Box<dyn std::error::Error>;

fn gaussian(rng: &mut Xoshiro256PlusPlus) -> f32 {
    let (u1, u2): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.r#gen());
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// A unit vector at cosine `cos` to the unit vector `v`, in a random direction.
fn at_cosine(v: ArrayView1<f32>, cos: f32, rng: &mut Xoshiro256PlusPlus) -> Array1<f32> {
    let noise = Array1::from_shape_simple_fn(v.len(), || gaussian(rng));
    let orth = &noise - &(v.to_owned() * noise.dot(&v));
    let orth = &orth / orth.dot(&orth).sqrt();
    &v.to_owned() * cos + orth * (1.0 - cos * cos).sqrt()
}

fn main() -> Result<(), BoxError> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tram2_single_label.json");
    let texts: Vec<String> = serde_json::from_slice::<Vec<Row>>(&std::fs::read(path)?)?
        .into_iter()
        .map(|r| r.text)
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut embedder = FastEmbedder::new(&EmbedConfig {
        progress: false,
        cache: false,
        ..EmbedConfig::default()
    })?;
    let base = embedder.embed(&refs)?;
    let factors: Vec<usize> = std::env::var("SYNTHCTI_BENCH_FACTORS")
        .unwrap_or_else(|_| "1,10,100".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    println!(
        "TRAM: {} sentences × {} dims; baseline: full scan (one GEMV per query)",
        base.nrows(),
        base.ncols()
    );
    println!(
        "| rows | index | build s | full scan ms/query | index ms/query | speed-up | verdict recall (cos ≥ {THRESHOLD}) | verdict false alarms | same nearest row |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for factor in factors {
        let mut rows = base.clone();
        for _ in 1..factor {
            for r in base.outer_iter() {
                let c = rng.gen_range(0.90..0.99);
                rows.push_row(at_cosine(r, c, &mut rng).view())?;
            }
        }
        let queries: Vec<Array1<f32>> = (0..600)
            .map(|i| {
                let src = rows.row(rng.gen_range(0..rows.nrows()));
                let c = if i % 2 == 0 {
                    rng.gen_range(0.92..0.99)
                } else {
                    rng.gen_range(0.70..0.90)
                };
                at_cosine(src, c, &mut rng)
            })
            .collect();
        let t = Instant::now();
        let index = CosineIndex::from_rows(rows.clone(), AnnParams::default());
        let build = t.elapsed().as_secs_f64();
        // The baseline: the same index forced to scan every row.
        let scan = CosineIndex::from_rows(
            rows.clone(),
            AnnParams {
                exact_up_to: usize::MAX,
                ..AnnParams::default()
            },
        );
        let t = Instant::now();
        let truth: Vec<_> = queries.iter().map(|q| scan.nearest(q.view())).collect();
        let scan_ms = t.elapsed().as_secs_f64() * 1e3 / queries.len() as f64;
        let t = Instant::now();
        let got: Vec<_> = queries.iter().map(|q| index.nearest(q.view())).collect();
        let index_ms = t.elapsed().as_secs_f64() * 1e3 / queries.len() as f64;
        let dup = |r: &Option<(usize, f32)>| r.is_some_and(|(_, c)| c >= THRESHOLD);
        let positives = truth.iter().filter(|t| dup(t)).count();
        let found = truth
            .iter()
            .zip(&got)
            .filter(|(t, g)| dup(t) && dup(g))
            .count();
        let false_alarms = truth
            .iter()
            .zip(&got)
            .filter(|(t, g)| !dup(t) && dup(g))
            .count();
        let same = truth
            .iter()
            .zip(&got)
            .filter(|(t, g)| t.map(|x| x.0) == g.map(|x| x.0))
            .count();
        println!(
            "| {} | {} | {build:.2} | {scan_ms:.3} | {index_ms:.3} | {:.1}× | {found}/{positives} = {:.3} | {false_alarms} | {:.3} |",
            rows.nrows(),
            if index.is_approximate() {
                "LSH"
            } else {
                "exact"
            },
            scan_ms / index_ms,
            found as f64 / positives.max(1) as f64,
            same as f64 / queries.len() as f64,
        );
    }
    Ok(())
}
