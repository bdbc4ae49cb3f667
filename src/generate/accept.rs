//! The Acceptor: one path from candidate to row for ATT&CK procedure examples and LLM
//! sentences alike — cheap checks, embedded checks, scores, provenance, or a [`Rejection`]
//! counted in the technique's report and kept for `rejected.jsonl`.

use ndarray::ArrayView1;
use serde::Serialize;

use super::ClusterJob;
use crate::data::{Origin, Sample};
use crate::filter::{FilterIndex, RejectReason, Scores};
use crate::llm::ParseReject;
use crate::outcome::Rejection;
use crate::output::{LlmProvenance, NewRow, Provenance};
use crate::report::TechniqueReport;
use crate::technique::TechniqueId;

/// A candidate the filters turned down, kept for inspection (`rejected.jsonl`).
#[derive(Debug, Clone, Serialize)]
pub struct RejectedRow {
    /// Technique it was written for.
    pub label: TechniqueId,
    /// `synthetic` or `attack-procedure`.
    pub origin: Origin,
    /// The candidate text (as parsed, before normalisation).
    pub text: String,
    /// Why it was rejected.
    pub reason: Rejection,
    /// Filter scores, when it got as far as the embedding checks.
    pub scores: Option<Scores>,
}

/// A candidate that passed the cheap checks, with what its row will record.
pub struct Candidate {
    /// Normalised text.
    pub text: String,
    /// Where it comes from.
    pub origin: Origin,
    /// The original rows shown to whoever wrote it.
    pub seed_ids: Vec<usize>,
    /// The embedding of the procedure example it rewrites (`source = "rewrite"`).
    pub source: Option<ndarray::Array1<f32>>,
    /// The request that produced it (LLM sentences only).
    pub llm: Option<LlmProvenance>,
}

/// The filter index, the per-technique reports and the rejected candidates of a run.
pub struct Acceptor {
    filter: FilterIndex,
    reports: Vec<TechniqueReport>,
    rejected: Vec<RejectedRow>,
}

impl Acceptor {
    /// An acceptor over `filter`, with one report per technique (indexed like the jobs'
    /// `tech`).
    pub fn new(filter: FilterIndex, reports: Vec<TechniqueReport>) -> Self {
        Self {
            filter,
            reports,
            rejected: Vec::new(),
        }
    }

    /// Whether `text` may be shown to the LLM (not an avoided sentence, exact or contained).
    pub fn may_show(&self, text: &str) -> bool {
        self.filter.check_avoid(text).is_ok()
    }

    /// The report of technique `tech`.
    pub fn report_mut(&mut self, tech: usize) -> &mut TechniqueReport {
        &mut self.reports[tech]
    }

    /// Rejected candidates so far.
    pub fn rejected_count(&self) -> usize {
        self.rejected.len()
    }

    /// Counts and keeps a rejection.
    pub fn reject(
        &mut self,
        tech: usize,
        origin: Origin,
        text: &str,
        reason: Rejection,
        scores: Option<Scores>,
    ) {
        let report = &mut self.reports[tech];
        *report.rejected.entry(reason).or_default() += 1;
        self.rejected.push(RejectedRow {
            label: report.id.clone(),
            origin,
            text: text.to_string(),
            reason,
            scores,
        });
    }

    /// The checks that need no embedding (length, other technique ids, exact duplicates);
    /// counts the candidate. `Some(normalised text)` when it goes on to be embedded.
    pub fn screen(&mut self, tech: usize, origin: Origin, raw: &str) -> Option<String> {
        let report = &mut self.reports[tech];
        report.candidates += 1;
        match self.filter.pre_check(raw, &report.id) {
            Ok(text) => Some(text),
            Err(reason) => {
                self.reject(tech, origin, raw, Rejection::Filter(reason), None);
                None
            }
        }
    }

    /// A piece of an answer that did not parse as a sentence: a counted candidate, rejected.
    pub fn unparsed(&mut self, tech: usize, text: &str, reason: ParseReject) {
        self.reports[tech].candidates += 1;
        self.reject(
            tech,
            Origin::Synthetic,
            text,
            Rejection::Parse(reason),
            None,
        );
    }

    /// A sentence that repeats an indicator of the input (prompts were redacted): a counted
    /// candidate, rejected.
    pub fn leaked(&mut self, tech: usize, text: &str) {
        self.reports[tech].candidates += 1;
        let reason = Rejection::Filter(RejectReason::LeakedIndicator);
        self.reject(tech, Origin::Synthetic, text, reason, None);
    }

    /// The one acceptance decision: over target, then the embedded checks (near duplicates,
    /// centroid fidelity and margin); an accepted candidate becomes a row of `job` with its
    /// scores and provenance.
    pub fn consider(
        &mut self,
        job: &mut ClusterJob<'_>,
        cand: Candidate,
        embedding: ArrayView1<'_, f32>,
    ) -> Result<(), Rejection> {
        let tech = job.tech;
        if job.need() == 0 {
            self.reject(tech, cand.origin, &cand.text, Rejection::OverTarget, None);
            return Err(Rejection::OverTarget);
        }
        let technique = self.reports[tech].id.clone();
        if let Err(reason) = self.filter.check_accepted(&cand.text) {
            let reason = Rejection::Filter(reason);
            self.reject(tech, cand.origin, &cand.text, reason, None);
            return Err(reason);
        }
        // A near copy accepted earlier in this run is in the index: check_embedded sees it.
        let (mut verdict, scores) = self
            .filter
            .check_embedded(&cand.text, embedding, &technique);
        if let Some(source) = &cand.source
            && verdict.is_ok()
            && source.dot(&embedding) >= self.filter.near_duplicate()
        {
            verdict = Err(RejectReason::NearDuplicateSource);
        }
        if let Err(reason) = verdict {
            let reason = Rejection::Filter(reason);
            self.reject(tech, cand.origin, &cand.text, reason, Some(scores));
            return Err(reason);
        }
        self.filter.accept(&cand.text, embedding.to_owned());
        job.embeddings.push(embedding.to_owned());
        let report = &mut self.reports[tech];
        match cand.origin {
            Origin::AttackProcedure => report.added_procedures += 1,
            _ => report.added_synthetic += 1,
        }
        job.rows.push(NewRow {
            sample: Sample {
                id: 0,
                text: cand.text,
                label: technique,
                group: None,
                origin: cand.origin,
            },
            provenance: Provenance {
                cluster: job.cluster.index,
                seed_ids: cand.seed_ids,
                scores,
                llm: cand.llm,
                selection_score: None,
            },
        });
        Ok(())
    }

    /// Takes back an accepted row of technique `tech` (its text stays in the duplicate
    /// index): uncounted from the report, kept as rejected for `reason`.
    pub fn unaccept(&mut self, tech: usize, row: NewRow, reason: Rejection) {
        let report = &mut self.reports[tech];
        match row.sample.origin {
            Origin::AttackProcedure => report.added_procedures -= 1,
            _ => report.added_synthetic -= 1,
        }
        let scores = Some(row.provenance.scores);
        self.reject(tech, row.sample.origin, &row.sample.text, reason, scores);
    }

    /// The reports and the rejected candidates.
    pub fn finish(self) -> (Vec<TechniqueReport>, Vec<RejectedRow>) {
        (self.reports, self.rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_names_are_kebab_case_and_unique() {
        let all = [
            Rejection::OverTarget,
            Rejection::Filter(RejectReason::ContainmentAvoid),
            Rejection::Parse(ParseReject::NoLetters),
            Rejection::Parse(ParseReject::TruncatedJson),
        ];
        for r in all {
            assert!(!r.as_str().contains('_'), "{r}");
        }
        let json = serde_json::to_string(&all[2]).unwrap();
        assert_eq!(json, "\"unparseable-no-letters\"");
        let mut names: Vec<&str> = all.iter().map(|r| r.as_str()).collect();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
