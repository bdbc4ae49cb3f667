//! The run report of `augment`: counts per technique before/after, generated / accepted /
//! rejected by reason, requests, retries, tokens, cost, wall time per stage, and the full
//! configuration. Written as `report.json` and `report.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// One technique's numbers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TechniqueReport {
    /// Technique id.
    pub id: String,
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
    pub rejected: BTreeMap<String, usize>,
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
    /// Requests answered by the endpoint in this run.
    pub requests: u64,
    /// Requests answered from the journal (resume).
    pub replayed: usize,
    /// Retries after errors.
    pub retries: u64,
    /// Requests given up after all retries.
    pub failed: u64,
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
    /// Rows in the output.
    pub rows_after: usize,
    /// Candidates through the filters.
    pub candidates: usize,
    /// Accepted rows.
    pub accepted: usize,
    /// Rejected by reason, all techniques.
    pub rejected: BTreeMap<String, usize>,
    /// LLM usage.
    pub llm: Option<LlmUsage>,
    /// Wall seconds per stage.
    pub stage_seconds: BTreeMap<String, f64>,
    /// Wall seconds of the whole run.
    pub wall_seconds: f64,
    /// Dry run: requests of the first round per technique.
    pub planned_requests: BTreeMap<String, usize>,
    /// Dry run: most requests per technique (the attempt budget).
    pub request_budget: BTreeMap<String, usize>,
    /// Dry run: estimated prompt + completion tokens.
    pub estimated_tokens: u64,
    /// Dry run: estimated cost.
    pub estimated_cost: Option<f64>,
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
        if let Some((name, hash)) = &self.template {
            let _ = writeln!(o, "- template: `{name}` (sha256 {hash})");
        }
        let _ = writeln!(
            o,
            "- rows: {} → {} ({} accepted of {} candidates)\n- wall time: {:.1} s",
            self.rows_before, self.rows_after, self.accepted, self.candidates, self.wall_seconds
        );
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
        let _ = writeln!(o, "\n## Rejections\n");
        let total = self.candidates.max(1) as f64;
        let _ = writeln!(
            o,
            "| reason | count | share of candidates |\n|---|---:|---:|"
        );
        for (r, n) in &self.rejected {
            let _ = writeln!(o, "| {r} | {n} | {:.1}% |", 100.0 * *n as f64 / total);
        }
        if let Some(l) = &self.llm {
            let _ = writeln!(o, "\n## LLM\n");
            let _ = writeln!(
                o,
                "- model `{}` at `{}`\n- requests {} (+{} replayed from the journal), retries {}, failed {}, rate-limited {}, truncated {}\n- tokens: {} prompt + {} completion ({:.1} completion tokens/s)",
                l.model,
                l.endpoint,
                l.requests,
                l.replayed,
                l.retries,
                l.failed,
                l.rate_limited,
                l.truncated,
                l.prompt_tokens,
                l.completion_tokens,
                l.tokens_per_second
            );
            if let Some(c) = l.cost {
                let _ = writeln!(o, "- cost: {c:.4}");
            }
        }
        let _ = writeln!(
            o,
            "\n## Wall time per stage\n\n| stage | seconds |\n|---|---:|"
        );
        for (s, t) in &self.stage_seconds {
            let _ = writeln!(o, "| {s} | {t:.2} |");
        }
        o
    }
}
