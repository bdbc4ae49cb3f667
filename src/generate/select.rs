//! Over-generate, then select (`[select]`): with `method = "mmr"` each cluster's LLM stage
//! fills a pool of `pool ×` the rows it lacks, then keeps the rows it wanted by maximal
//! marginal relevance — relevance is fidelity (mean cosine to the cluster's and the
//! technique's centroids), redundancy the highest cosine to a row already kept (procedure
//! rows are always kept and count as kept). Rows not kept are rejected as `not-selected`.

use ndarray::{Array1, ArrayView1};

use super::{Acceptor, ClusterJob};
use crate::config::{SelectConfig, SelectMethod};
use crate::data::Origin;
use crate::outcome::Rejection;

/// Widens each job's target to its pool (with `mmr`); returns the rows each job keeps.
pub fn widen(jobs: &mut [ClusterJob<'_>], cfg: &SelectConfig) -> Vec<usize> {
    jobs.iter_mut()
        .map(|job| {
            let keep = job.target;
            if cfg.method == SelectMethod::Mmr {
                // saturating: a huge float casts to usize::MAX
                let pool = (job.need() as f64 * cfg.pool).ceil() as usize;
                job.target = job.rows.len().saturating_add(pool);
            }
            keep
        })
        .collect()
}

/// Restores each job's target to `keep` and, with `mmr`, keeps that many rows: procedure
/// rows, then LLM rows by maximal marginal relevance, in their acceptance order. The rest
/// go to the Acceptor as `not-selected`.
pub fn choose(
    jobs: &mut [ClusterJob<'_>],
    keep: &[usize],
    acceptor: &mut Acceptor,
    cfg: &SelectConfig,
) {
    for (job, &keep) in jobs.iter_mut().zip(keep) {
        job.target = keep;
        if cfg.method == SelectMethod::First || job.rows.len() <= keep {
            continue;
        }
        let fixed: Vec<usize> = (0..job.rows.len())
            .filter(|&i| job.rows[i].sample.origin == Origin::AttackProcedure)
            .collect();
        let free: Vec<usize> = (0..job.rows.len()).filter(|i| !fixed.contains(i)).collect();
        let want = keep.saturating_sub(fixed.len());
        let relevance: Vec<f32> = free
            .iter()
            .map(|&i| {
                let own = job.rows[i].provenance.scores.centroid_cosine;
                0.5 * (job.embeddings[i].dot(&job.cluster.centroid) + own)
            })
            .collect();
        let free_emb: Vec<ArrayView1<'_, f32>> =
            free.iter().map(|&i| job.embeddings[i].view()).collect();
        let kept_emb: Vec<&Array1<f32>> = fixed.iter().map(|&i| &job.embeddings[i]).collect();
        let picks = mmr(&relevance, &free_emb, &kept_emb, want, cfg.lambda);
        let mut chosen = vec![false; job.rows.len()];
        for &i in &fixed {
            chosen[i] = true;
        }
        for (k, score) in picks {
            chosen[free[k]] = true;
            job.rows[free[k]].provenance.selection_score = Some(score);
        }
        let rows = std::mem::take(&mut job.rows);
        let embeddings = std::mem::take(&mut job.embeddings);
        for ((row, emb), keep) in rows.into_iter().zip(embeddings).zip(chosen) {
            if keep {
                job.rows.push(row);
                job.embeddings.push(emb);
            } else {
                acceptor.unaccept(job.tech, row, Rejection::NotSelected);
            }
        }
    }
}

/// Greedy MMR: `want` indexes into `relevance`/`emb` with the score each was picked at,
/// `λ·relevance − (1 − λ)·max cosine to anything kept` (0 redundancy when nothing is).
/// Ties go to the lower index, so the choice is deterministic.
fn mmr(
    relevance: &[f32],
    emb: &[ArrayView1<'_, f32>],
    kept: &[&Array1<f32>],
    want: usize,
    lambda: f32,
) -> Vec<(usize, f32)> {
    let mut redundancy: Vec<f32> = emb
        .iter()
        .map(|e| {
            kept.iter()
                .map(|k| e.dot(*k))
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .collect();
    let mut taken = vec![false; relevance.len()];
    let mut out = Vec::with_capacity(want);
    while out.len() < want {
        let score = |i: usize| {
            let r = if redundancy[i].is_finite() {
                redundancy[i]
            } else {
                0.0
            };
            lambda * relevance[i] - (1.0 - lambda) * r
        };
        let Some(best) =
            (0..relevance.len())
                .filter(|&i| !taken[i])
                .fold(None, |b: Option<usize>, i| match b {
                    Some(b) if score(b) >= score(i) => Some(b),
                    _ => Some(i),
                })
        else {
            break;
        };
        out.push((best, score(best)));
        taken[best] = true;
        for i in 0..relevance.len() {
            redundancy[i] = redundancy[i].max(emb[i].dot(&emb[best]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Two near-identical strong candidates and one different, weaker one: first-come keeps
    /// the pair, MMR keeps one of the pair and the different one.
    #[test]
    fn mmr_trades_relevance_for_diversity() {
        let a = array![1.0f32, 0.0, 0.0];
        let b = array![0.999f32, 0.0447, 0.0];
        let c = array![0.0f32, 0.0, 1.0];
        let emb = [a.view(), b.view(), c.view()];
        let picks = mmr(&[0.9, 0.89, 0.5], &emb, &[], 2, 0.5);
        let idx: Vec<usize> = picks.iter().map(|p| p.0).collect();
        assert_eq!(idx, vec![0, 2]);
        assert!(
            (picks[0].1 - 0.45).abs() < 1e-6,
            "nothing kept yet: λ·relevance"
        );
        // Relevance only: the two strong ones.
        let idx: Vec<usize> = mmr(&[0.9, 0.89, 0.5], &emb, &[], 2, 1.0)
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(idx, vec![0, 1]);
        // A kept row like `a` makes both a and b redundant.
        let idx: Vec<usize> = mmr(&[0.9, 0.89, 0.5], &emb, &[&a], 1, 0.5)
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(idx, vec![2]);
        assert!(mmr(&[], &[], &[], 3, 0.5).is_empty());
    }

    #[test]
    fn settings_are_checked() {
        assert!(SelectConfig::default().check().is_ok());
        for (pool, lambda) in [
            (0.5, 0.7),
            (f64::NAN, 0.7),
            (11.0, 0.7),
            (2.0, 1.5),
            (2.0, f32::NAN),
        ] {
            let c = SelectConfig {
                pool,
                lambda,
                ..SelectConfig::default()
            };
            assert!(c.check().is_err(), "{pool} {lambda}");
        }
    }
}
