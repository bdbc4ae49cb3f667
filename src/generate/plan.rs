//! The Planner: request budgets per cluster, the requests of each round (over-asking to
//! cover rejects), their seeds and journal keys, and the dry-run plan as a value.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::ClusterJob;
use super::identity::request_key;
use crate::catalog::Catalog;
use crate::cluster::TechniqueClusters;
use crate::config::{OutputShape, ValidConfig};
use crate::data::Sample;
use crate::desensitize::{IndicatorKind, Numbering, Placeholder};
use crate::llm::ChatRequest;
use crate::prompt::{PromptContext, PromptError, PromptTemplate, TechniqueContext};
use crate::report::{ClusterSummary, TechniqueReport};
use crate::technique::TechniqueId;

/// One planned request.
#[derive(Debug, Clone)]
pub struct PlannedRequest {
    /// Index of its job (cluster).
    pub job: usize,
    /// Its place among the job's requests (0, 1, ... over every round).
    pub slot: usize,
    /// Sampling seed sent to the endpoint.
    pub seed: u64,
    /// Journal key: a hash of the body the client sends.
    pub key: String,
    /// The request.
    pub request: ChatRequest,
    /// The original rows shown as examples.
    pub example_ids: Vec<usize>,
    /// The entry of the job's rewrite pool this request rewrites.
    pub rewrite_of: Option<usize>,
    /// With redaction: each placeholder of the prompt and the value it hides (kept locally,
    /// for the style of surrogates).
    pub placeholders: BTreeMap<Placeholder, String>,
    /// With redaction: indicators replaced in the prompt, by kind.
    pub redacted: BTreeMap<IndicatorKind, usize>,
}

/// What a dry run reports: the first round's requests and the budgets, tokens and cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DryRunPlan {
    /// First-round requests per technique.
    pub planned_requests: BTreeMap<TechniqueId, usize>,
    /// Most requests per technique over every round.
    pub request_budget: BTreeMap<TechniqueId, usize>,
    /// Prompt tokens of the first round (characters / 4).
    pub prompt_tokens: u64,
    /// Completion tokens of the first round at `max_tokens` each.
    pub completion_tokens: u64,
    /// Their cost, when prices are configured.
    pub cost: Option<f64>,
}

/// What planning reads.
pub struct Planner<'a> {
    cfg: &'a ValidConfig,
    template: &'a PromptTemplate,
    samples: &'a [Sample],
    techniques: &'a [TechniqueContext],
    redact: bool,
}

/// One job per cluster, with its share of the technique's rows to add (`to_add`), and one
/// report per technique (`counts`: rows per label in the input).
pub fn cluster_jobs<'a>(
    clusters: &'a [TechniqueClusters],
    samples: &[Sample],
    to_add: &BTreeMap<TechniqueId, usize>,
    counts: &BTreeMap<TechniqueId, usize>,
    catalog: &Catalog,
) -> (Vec<ClusterJob<'a>>, Vec<TechniqueReport>) {
    let mut reports: Vec<TechniqueReport> = Vec::new();
    let mut jobs: Vec<ClusterJob> = Vec::new();
    for (ti, tc) in clusters.iter().enumerate() {
        let sizes: Vec<usize> = tc.clusters.iter().map(|c| c.members.len()).collect();
        let add = to_add.get(&tc.technique).copied().unwrap_or(0);
        for (c, target) in tc.clusters.iter().zip(split_by_size(add, &sizes)) {
            jobs.push(ClusterJob {
                tech: ti,
                cluster: c,
                target,
                rows: Vec::new(),
                embeddings: Vec::new(),
                sent: 0,
                budget: 0,
                procedures: Vec::new(),
                contrast: None,
                rewrite_pool: Vec::new(),
            });
        }
        let summary = |c: &crate::cluster::Cluster| ClusterSummary {
            size: c.members.len(),
            central: c.central.iter().map(|&i| samples[i].text.clone()).collect(),
        };
        reports.push(TechniqueReport {
            id: tc.technique.clone(),
            name: catalog.name_of(&tc.technique).to_string(),
            before: counts.get(&tc.technique).copied().unwrap_or(0),
            target_added: add,
            clusters: tc.clusters.len(),
            cluster_summaries: tc.clusters.iter().map(summary).collect(),
            ..Default::default()
        });
    }
    (jobs, reports)
}

/// Splits `total` over clusters in proportion to their sizes (largest remainder).
pub fn split_by_size(total: usize, sizes: &[usize]) -> Vec<usize> {
    let sum: usize = sizes.iter().sum();
    if sum == 0 {
        return vec![0; sizes.len()];
    }
    let exact: Vec<f64> = sizes
        .iter()
        .map(|&s| total as f64 * s as f64 / sum as f64)
        .collect();
    let mut out: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let short = total - out.iter().sum::<usize>();
    for &i in order.iter().take(short) {
        out[i] += 1;
    }
    out
}

/// A seed for one request, derived from the run seed and the request's place.
pub fn request_seed(seed: u64, technique: &str, cluster: usize, slot: usize) -> u64 {
    let h = Sha256::digest(format!("{seed}/{technique}/{cluster}/{slot}").as_bytes());
    u64::from_le_bytes(h[..8].try_into().unwrap_or([0; 8])) & 0x7fff_ffff
}

impl<'a> Planner<'a> {
    /// A planner over the original `samples`, with one context per technique (indexed like
    /// the jobs' `tech`).
    pub fn new(
        cfg: &'a ValidConfig,
        template: &'a PromptTemplate,
        samples: &'a [Sample],
        techniques: &'a [TechniqueContext],
    ) -> Self {
        Self {
            cfg,
            template,
            samples,
            techniques,
            redact: cfg.redacts(),
        }
    }

    fn per_request(&self) -> usize {
        self.cfg.generate.sentences_per_request.unwrap_or(1).max(1)
    }

    /// Sets each job's request budget: `max_requests_factor` × the requests its need takes.
    pub fn set_budgets(&self, jobs: &mut [ClusterJob<'_>]) {
        let per_request = self.per_request() as f64;
        let factor = self.cfg.generate.max_requests_factor;
        for job in jobs.iter_mut() {
            let need = job.need();
            job.budget = match need {
                0 => 0,
                // saturating: `as` casts of a huge float clamp to usize::MAX
                _ => ((need as f64 / per_request).ceil() * factor).ceil() as usize,
            };
        }
    }

    /// The slots of the next round per job: up to the budget, over-asking to cover rejects.
    fn round_slots(&self, job: &ClusterJob<'_>) -> std::ops::Range<usize> {
        let need = job.need();
        if need == 0 || job.sent >= job.budget {
            return job.sent..job.sent;
        }
        let k = (need as f64 * self.cfg.generate.overask / self.per_request() as f64).ceil();
        let k = (k as usize).clamp(1, job.budget - job.sent);
        job.sent..job.sent + k
    }

    /// The request of one slot of job `ji`.
    fn request(
        &self,
        ji: usize,
        job: &ClusterJob<'_>,
        slot: usize,
    ) -> Result<PlannedRequest, PromptError> {
        let g = &self.cfg.generate;
        let pool: Vec<usize> = job
            .cluster
            .central
            .iter()
            .chain(&job.cluster.diverse)
            .copied()
            .collect();
        let e = g.examples_per_prompt.min(pool.len());
        let example_ids: Vec<usize> = (0..e).map(|i| pool[(slot * e + i) % pool.len()]).collect();
        let text = |id: &usize| self.samples[*id].text.clone();
        let technique = &self.techniques[job.tech];
        let rewrite_of = (!job.rewrite_pool.is_empty()).then(|| slot % job.rewrite_pool.len());
        let ctx = PromptContext {
            technique: technique.clone(),
            central: job.cluster.central.iter().map(text).collect(),
            diverse: job.cluster.diverse.iter().map(text).collect(),
            procedures: job.procedures.clone(),
            accepted: job
                .rows
                .iter()
                .rev()
                .take(g.accepted_per_prompt)
                .map(|r| r.sample.text.clone())
                .collect(),
            examples: example_ids.iter().map(text).collect(),
            contrast: job.contrast.clone().filter(|_| g.contrast),
            rewrite: rewrite_of.map(|k| job.rewrite_pool[k].0.clone()),
            n: self.per_request(),
            output: match g.output {
                OutputShape::Json => "json".into(),
                OutputShape::Lines => "lines".into(),
            },
        };
        let mut numbering = Numbering::default();
        let ctx = if self.redact {
            ctx.redacted(&mut numbering)
        } else {
            ctx
        };
        let messages = self.template.render(&ctx)?;
        let seed = request_seed(self.cfg.seed, &technique.id, job.cluster.index, slot);
        let n = self.per_request();
        let json_schema = (g.json_schema && g.output == OutputShape::Json).then(|| {
            serde_json::json!({
                "type": "array",
                "items": {"type": "string", "minLength": 20, "maxLength": 400},
                "minItems": n,
                "maxItems": n,
            })
        });
        let request = ChatRequest {
            messages,
            seed,
            json_schema,
        };
        Ok(PlannedRequest {
            job: ji,
            slot,
            seed,
            key: request_key(&self.cfg.llm, &request),
            request,
            example_ids,
            rewrite_of,
            placeholders: numbering.originals,
            redacted: numbering.replaced,
        })
    }

    /// Plans the next round and counts its requests as sent; empty when every job is done
    /// or out of budget.
    pub fn next_round(
        &self,
        jobs: &mut [ClusterJob<'_>],
    ) -> Result<Vec<PlannedRequest>, PromptError> {
        let mut out = Vec::new();
        for (ji, job) in jobs.iter_mut().enumerate() {
            let slots = self.round_slots(job);
            for slot in slots.clone() {
                out.push(self.request(ji, job, slot)?);
            }
            job.sent = slots.end;
        }
        Ok(out)
    }

    /// The dry-run plan: counts the first round's requests per job and estimates their
    /// tokens from up to [`DRY_RUN_RENDERS`] rendered prompts per job (the rest of a job's
    /// prompts differ only in which examples they rotate through), so memory and time stay
    /// bounded whatever the plan's size. No prompt is kept.
    pub fn dry_run(&self, jobs: &[ClusterJob<'_>]) -> Result<DryRunPlan, PromptError> {
        let llm = &self.cfg.llm;
        let mut plan = DryRunPlan::default();
        for (ji, job) in jobs.iter().enumerate() {
            let id = &self.techniques[job.tech].id;
            *plan.request_budget.entry(id.clone()).or_default() += job.budget;
            let slots = self.round_slots(job);
            let n = slots.len() as u64;
            if n == 0 {
                continue;
            }
            let rendered = slots.clone().take(DRY_RUN_RENDERS);
            let mut chars = 0u64;
            let mut seen = 0u64;
            for slot in rendered {
                let p = self.request(ji, job, slot)?;
                chars += p
                    .request
                    .messages
                    .iter()
                    .map(|m| m.content.len() as u64)
                    .sum::<u64>();
                seen += 1;
            }
            let prompt_tokens = (chars / 4).saturating_mul(n) / seen.max(1);
            plan.prompt_tokens = plan.prompt_tokens.saturating_add(prompt_tokens);
            plan.completion_tokens = plan
                .completion_tokens
                .saturating_add(u64::from(llm.max_tokens).saturating_mul(n));
            *plan.planned_requests.entry(id.clone()).or_default() += slots.len();
        }
        plan.cost = llm.cost(plan.prompt_tokens, plan.completion_tokens);
        Ok(plan)
    }
}

/// Prompts a dry run renders per job to estimate its tokens.
pub const DRY_RUN_RENDERS: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_proportional_and_exact() {
        assert_eq!(split_by_size(10, &[5, 3, 2]), vec![5, 3, 2]);
        assert_eq!(split_by_size(7, &[10, 10, 10]).iter().sum::<usize>(), 7);
        assert_eq!(split_by_size(1, &[1, 9]), vec![0, 1]);
        assert_eq!(split_by_size(3, &[]), Vec::<usize>::new());
    }

    #[test]
    fn request_seeds_are_stable_and_distinct() {
        assert_eq!(request_seed(1, "T1", 0, 0), request_seed(1, "T1", 0, 0));
        assert_ne!(request_seed(1, "T1", 0, 0), request_seed(1, "T1", 0, 1));
        assert_ne!(request_seed(1, "T1", 0, 0), request_seed(2, "T1", 0, 0));
    }
}
