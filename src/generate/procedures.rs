//! ATT&CK procedure examples, ranked per cluster by cosine to its centroid: the grounding shown
//! in every job's prompts, with `source = procedures|both|both-rewrite` rows through the
//! Acceptor, and with `rewrite|both-rewrite` each job's rewrite pool.

use super::{Acceptor, Candidate, ClusterJob, StageInput};
use crate::catalog::Procedures;
use crate::data::Origin;

/// Most procedure examples a cluster rewrites (the nearest to its centroid).
pub const MAX_REWRITE_POOL: usize = 64;
use super::GenerateError;

/// Fills each job's prompt examples and, when the source uses them, adds procedure examples
/// as rows until the job's target is met.
pub async fn add_procedures(
    input: &StageInput<'_>,
    procedures: &Procedures,
    jobs: &mut [ClusterJob<'_>],
    acceptor: &mut Acceptor,
) -> Result<(), GenerateError> {
    let g = &input.cfg.generate;
    for (ti, tc) in input.clusters.iter().enumerate() {
        let texts = procedures.of(&tc.technique);
        if texts.is_empty() {
            continue;
        }
        let emb = input.embed.embed(texts.to_vec()).await?;
        let mut used = vec![false; texts.len()];
        for job in jobs.iter_mut().filter(|j| j.tech == ti) {
            let cos = emb.dot(&job.cluster.centroid);
            let mut order: Vec<usize> = (0..texts.len()).collect();
            order.sort_by(|&a, &b| cos[b].total_cmp(&cos[a]).then(a.cmp(&b)));
            // Prompts never show the LLM an avoided sentence (e.g. a test row inside a
            // longer procedure example).
            let shown: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| acceptor.may_show(&texts[i]))
                .collect();
            job.procedures = shown
                .iter()
                .take(g.procedures_per_prompt)
                .map(|&i| texts[i].clone())
                .collect();
            if g.source.rewrites() {
                job.rewrite_pool = shown
                    .iter()
                    .take(MAX_REWRITE_POOL)
                    .map(|&i| (texts[i].clone(), emb.row(i).to_owned()))
                    .collect();
            }
            if !g.source.uses_procedures() {
                continue;
            }
            for &i in &order {
                if job.need() == 0 {
                    break;
                }
                if std::mem::replace(&mut used[i], true) {
                    continue;
                }
                let origin = Origin::AttackProcedure;
                let Some(text) = acceptor.screen(ti, origin, &texts[i]) else {
                    continue;
                };
                let cand = Candidate {
                    text,
                    origin,
                    seed_ids: job.cluster.central.clone(),
                    source: None,
                    llm: None,
                };
                // A rejection is counted and kept by the Acceptor.
                let _ = acceptor.consider(job, cand, emb.row(i));
            }
        }
    }
    Ok(())
}
