//! The run report of `augment`: counts per technique before/after, generated / accepted /
//! rejected by reason, requests, retries, tokens, cost, wall time per stage, and the full
//! configuration. Written as `report.json` and `report.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::data::Cleaning;
use crate::desensitize::RedactionReport;
use crate::llm::EndpointUsage;
use crate::outcome::Rejection;
use crate::outcome::{FailureKind, RunOutcome};
use crate::technique::TechniqueId;

/// A stage of `augment`, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Reading and validating the input.
    Read,
    /// Embedding the input.
    Embed,
    /// Clustering the selected techniques.
    Cluster,
    /// Embedding the `--avoid` rows and building the filter index.
    Avoid,
    /// Training the consistency classifier on the input rows.
    Classifier,
    /// Ranking and filtering ATT&CK procedure examples.
    Procedures,
    /// The LLM stage (plan, fetch, accept).
    Generate,
    /// Writing the outputs.
    Write,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::Read => "read",
            Self::Embed => "embed",
            Self::Cluster => "cluster",
            Self::Avoid => "avoid",
            Self::Classifier => "classifier",
            Self::Procedures => "procedures",
            Self::Generate => "generate",
            Self::Write => "write",
        };
        f.write_str(name)
    }
}

/// Wall seconds per stage.
pub type StageTimings = BTreeMap<Stage, f64>;

/// One technique's numbers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TechniqueReport {
    /// Technique id.
    pub id: TechniqueId,
    /// Catalog name.
    pub name: String,
    /// Rows in the input.
    pub before: usize,
    /// Rows the target asked to add.
    pub target_added: usize,
    /// Clusters found.
    pub clusters: usize,
    /// Each cluster's size and the sentences nearest its centroid.
    pub cluster_summaries: Vec<ClusterSummary>,
    /// ATT&CK procedure examples added.
    pub added_procedures: usize,
    /// LLM sentences added.
    pub added_synthetic: usize,
    /// Rows in the output.
    pub after: usize,
    /// LLM requests (answered from the endpoint or the journal).
    pub requests: usize,
    /// Candidate sentences (LLM sentences and procedure examples) that went through the filters.
    pub candidates: usize,
    /// Rejected candidates by reason.
    pub rejected: BTreeMap<Rejection, usize>,
}

/// A cluster as shown in the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterSummary {
    /// Members.
    pub size: usize,
    /// The sentences nearest the centroid.
    pub central: Vec<String>,
}

/// LLM usage totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LlmUsage {
    /// Model name.
    pub model: String,
    /// Endpoint host.
    pub endpoint: String,
    /// Requests sent to the endpoint in this run (`answered + failed`).
    pub requests: u64,
    /// Requests the endpoint answered with a usable completion.
    pub answered: u64,
    /// Requests planned but not sent because the run stopped.
    pub not_sent: u64,
    /// Requests answered from the journal (resume).
    pub replayed: usize,
    /// Retries after errors.
    pub retries: u64,
    /// Requests given up after all retries (or failed at once).
    pub failed: u64,
    /// Failed requests by the kind of their last error.
    pub failed_by: BTreeMap<FailureKind, u64>,
    /// HTTP attempts (first tries and retries).
    pub attempts: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Attempts answered 2xx with an unusable body.
    pub invalid_responses: u64,
    /// Attempts answered with a non-2xx status other than 429.
    pub http_errors: u64,
    /// Attempts that got no HTTP answer.
    pub transport_errors: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// Answers cut at max_tokens (`finish_reason: length`).
    pub truncated: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Completion tokens per second of generation wall time.
    pub tokens_per_second: f64,
    /// Cost from the configured prices, if any.
    pub cost: Option<f64>,
    /// Per endpoint of a pool (`[[llm.endpoints]]`): requests, failures, latency, tokens/s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<EndpointUsage>,
}

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// synthcti version.
    pub version: String,
    /// Input file.
    pub input: String,
    /// Output directory.
    pub output_dir: String,
    /// Whether this was a dry run (no LLM call, no dataset written).
    pub dry_run: bool,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// The configuration file given, if any.
    pub config_file: Option<String>,
    /// The resolved configuration (file + flags), as TOML.
    pub config: String,
    /// Template name and hash.
    pub template: Option<(String, String)>,
    /// Per technique, rarest first.
    pub techniques: Vec<TechniqueReport>,
    /// Rows in the input.
    pub rows_before: usize,
    /// Control and bidi characters removed from the input rows while reading.
    pub input_cleaning: Cleaning,
    /// Rows in the output.
    pub rows_after: usize,
    /// Candidates through the filters.
    pub candidates: usize,
    /// Accepted rows.
    pub accepted: usize,
    /// Rejected by reason, all techniques.
    pub rejected: BTreeMap<Rejection, usize>,
    /// LLM usage.
    pub llm: Option<LlmUsage>,
    /// What redaction did, when prompts were redacted (`redact.mode`).
    pub redaction: Option<RedactionReport>,
    /// How often the consistency classifier puts each accepted row's technique first.
    pub on_label: OnLabel,
    /// Wall seconds per stage.
    pub stage_seconds: StageTimings,
    /// Wall seconds of the whole run.
    pub wall_seconds: f64,
    /// Dry run: requests of the first round per technique.
    pub planned_requests: BTreeMap<TechniqueId, usize>,
    /// Dry run: most requests per technique (the attempt budget).
    pub request_budget: BTreeMap<TechniqueId, usize>,
    /// Dry run: estimated prompt + completion tokens.
    pub estimated_tokens: u64,
    /// Dry run: estimated cost.
    pub estimated_cost: Option<f64>,
}

/// Accepted rows whose technique the consistency classifier (TF-IDF + linear SVM trained
/// on the input rows) ranks first, of the rows it scored, per origin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct OnLabel {
    /// ATT&CK procedure examples ranked first.
    pub procedures_on_label: usize,
    /// ATT&CK procedure examples scored.
    pub procedures: usize,
    /// LLM sentences ranked first.
    pub synthetic_on_label: usize,
    /// LLM sentences scored.
    pub synthetic: usize,
}

impl OnLabel {
    /// Counts one accepted row of `origin` with the classifier's `rank` of its technique.
    pub fn count(&mut self, origin: crate::data::Origin, rank: Option<usize>) {
        let Some(rank) = rank else { return };
        let (on, n) = match origin {
            crate::data::Origin::AttackProcedure => {
                (&mut self.procedures_on_label, &mut self.procedures)
            }
            _ => (&mut self.synthetic_on_label, &mut self.synthetic),
        };
        *n += 1;
        *on += usize::from(rank == 1);
    }

    /// Adds another run's counts.
    pub fn add(&mut self, other: &OnLabel) {
        self.procedures_on_label += other.procedures_on_label;
        self.procedures += other.procedures;
        self.synthetic_on_label += other.synthetic_on_label;
        self.synthetic += other.synthetic;
    }

    /// `0.64 (96/150)`, or `–` when no row was scored.
    pub fn rate(on: usize, n: usize) -> String {
        if n == 0 {
            "–".into()
        } else {
            format!("{:.2} ({on}/{n})", on as f64 / n as f64)
        }
    }

    fn line(&self) -> Option<String> {
        let rate = |on: usize, n: usize| (n > 0).then(|| Self::rate(on, n));
        let parts: Vec<String> = [
            rate(self.synthetic_on_label, self.synthetic).map(|r| format!("LLM rows {r}")),
            rate(self.procedures_on_label, self.procedures).map(|r| format!("procedure rows {r}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| {
            format!(
                "- on-label rate (the consistency classifier's top-1 is the row's technique): {}",
                parts.join(", ")
            )
        })
    }
}

impl RunReport {
    /// Renders the report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut o = self.summary_markdown();
        let _ = writeln!(o, "\n## Configuration\n\n```toml\n{}```", self.config);
        o
    }

    /// The report without the configuration section (what the CLI prints).
    pub fn summary_markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# synthcti augment report\n");
        let _ = writeln!(
            o,
            "- input: `{}`\n- output: `{}`\n- synthcti {}{}",
            self.input,
            self.output_dir,
            self.version,
            if self.dry_run {
                " (dry run: nothing generated)"
            } else {
                ""
            }
        );
        match &self.outcome {
            _ if self.dry_run => {}
            RunOutcome::Complete { missing_rows: 0 } => {
                let _ = writeln!(o, "- outcome: complete");
            }
            RunOutcome::Complete { missing_rows } => {
                let _ = writeln!(
                    o,
                    "- outcome: complete; {missing_rows} row(s) short of the target (filters turned down more than the attempt budget replaced)"
                );
            }
            RunOutcome::Incomplete {
                reason,
                missing_rows,
            } => {
                let _ = writeln!(
                    o,
                    "- outcome: **incomplete**, {missing_rows} row(s) missing: {reason}; rerun with --resume to continue"
                );
            }
        }
        if let Some((name, hash)) = &self.template {
            let _ = writeln!(o, "- template: `{name}` (sha256 {hash})");
        }
        let _ = writeln!(
            o,
            "- rows: {} → {} ({} accepted of {} candidates)\n- wall time: {:.1} s",
            self.rows_before, self.rows_after, self.accepted, self.candidates, self.wall_seconds
        );
        if let Some(summary) = self.input_cleaning.summary() {
            let _ = writeln!(o, "- input cleaning: {summary}");
        }
        if let Some(line) = self.on_label.line() {
            let _ = writeln!(o, "{line}");
        }
        self.techniques_markdown(&mut o);
        self.plan_markdown(&mut o);
        self.clusters_markdown(&mut o);
        self.rejections_markdown(&mut o);
        self.llm_markdown(&mut o);
        self.redaction_markdown(&mut o);
        let _ = writeln!(
            o,
            "\n## Wall time per stage\n\n| stage | seconds |\n|---|---:|"
        );
        for (s, t) in &self.stage_seconds {
            let _ = writeln!(o, "| {s} | {t:.2} |");
        }
        o
    }

    fn techniques_markdown(&self, o: &mut String) {
        let _ = writeln!(o, "\n## Per technique\n");
        let _ = writeln!(
            o,
            "| technique | name | before | target | clusters | procedures | synthetic | after | requests | candidates | rejected |"
        );
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for t in &self.techniques {
            let rejected: usize = t.rejected.values().sum();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                t.id,
                t.name,
                t.before,
                t.target_added,
                t.clusters,
                t.added_procedures,
                t.added_synthetic,
                t.after,
                t.requests,
                t.candidates,
                rejected
            );
        }
    }

    fn redaction_markdown(&self, o: &mut String) {
        let Some(r) = &self.redaction else { return };
        let _ = writeln!(
            o,
            "\n## Redaction\n\nIndicators in prompts were replaced by placeholders; {} sentence(s) refused as `leaked-indicator`; accepted rows {}.\n",
            r.leaked,
            if r.keep_placeholders {
                "keep their placeholders"
            } else {
                "have surrogates in place of placeholders"
            }
        );
        let _ = writeln!(
            o,
            "| kind | in the input (distinct) | replaced in prompts | surrogates in rows |\n|---|---:|---:|---:|"
        );
        let kinds: std::collections::BTreeSet<_> = r
            .in_input
            .keys()
            .chain(r.in_prompts.keys())
            .chain(r.surrogates.keys())
            .collect();
        let n = |m: &BTreeMap<_, usize>, k| m.get(k).copied().unwrap_or(0);
        for k in kinds {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                k.name(),
                n(&r.in_input, k),
                n(&r.in_prompts, k),
                n(&r.surrogates, k)
            );
        }
    }

    fn plan_markdown(&self, o: &mut String) {
        if !self.planned_requests.is_empty() {
            let _ = writeln!(o, "\n## Plan (no LLM called)\n");
            let _ = writeln!(
                o,
                "| technique | first-round requests | at most |\n|---|---:|---:|"
            );
            for (t, n) in &self.planned_requests {
                let budget = self.request_budget.get(t).copied().unwrap_or(0);
                let _ = writeln!(o, "| {t} | {n} | {budget} |");
            }
            let _ = writeln!(
                o,
                "\nestimated tokens of the first round (prompt + max completion): {}",
                self.estimated_tokens
            );
            if let Some(c) = self.estimated_cost {
                let _ = writeln!(o, "estimated cost of the first round: {c:.4}");
            }
        }
    }

    fn clusters_markdown(&self, o: &mut String) {
        let _ = writeln!(o, "\n## Clusters (sentences nearest each centroid)\n");
        for t in &self.techniques {
            let _ = writeln!(o, "- **{}** {}", t.id, t.name);
            for (i, c) in t.cluster_summaries.iter().enumerate() {
                let central: Vec<String> = c
                    .central
                    .iter()
                    .map(|s| format!("“{}”", s.split_whitespace().collect::<Vec<_>>().join(" ")))
                    .collect();
                let _ = writeln!(
                    o,
                    "  - cluster {i} ({} sentences): {}",
                    c.size,
                    central.join(" · ")
                );
            }
        }
    }

    fn rejections_markdown(&self, o: &mut String) {
        let _ = writeln!(o, "\n## Rejections\n");
        let total = self.candidates.max(1) as f64;
        let _ = writeln!(
            o,
            "| reason | count | share of candidates |\n|---|---:|---:|"
        );
        for (r, n) in &self.rejected {
            let _ = writeln!(o, "| {r} | {n} | {:.1}% |", 100.0 * *n as f64 / total);
        }
    }

    fn llm_markdown(&self, o: &mut String) {
        if let Some(l) = &self.llm {
            let _ = writeln!(o, "\n## LLM\n");
            let failed_by: Vec<String> = l
                .failed_by
                .iter()
                .map(|(k, n)| format!("{} {n}", k.as_str()))
                .collect();
            let _ = writeln!(
                o,
                "- model `{}` at `{}`\n- requests {} (+{} replayed from the journal): {} answered, {} failed ({}), {} not sent; retries {}, rate-limited {}, truncated {}\n- tokens: {} prompt + {} completion ({:.1} completion tokens/s)",
                l.model,
                l.endpoint,
                l.requests,
                l.replayed,
                l.answered,
                l.failed,
                failed_by.join(", "),
                l.not_sent,
                l.retries,
                l.rate_limited,
                l.truncated,
                l.prompt_tokens,
                l.completion_tokens,
                l.tokens_per_second
            );
            if let Some(c) = l.cost {
                let _ = writeln!(o, "- cost: {c:.4}");
            }
            if !l.endpoints.is_empty() {
                let _ = writeln!(
                    o,
                    "\n| endpoint | model | attempts | failed | drained | p50 s | p95 s | completion tokens/s |\n|---|---|---:|---:|---:|---:|---:|---:|"
                );
                for e in &l.endpoints {
                    let _ = writeln!(
                        o,
                        "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.1} |",
                        e.host,
                        e.model,
                        e.requests,
                        e.failures,
                        e.drained,
                        e.p50_secs,
                        e.p95_secs,
                        e.tokens_per_second
                    );
                }
            }
        }
    }
}
