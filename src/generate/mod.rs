//! Generation as stages over per-cluster jobs:
//!
//! * [`plan`] — the Planner: targets per cluster, request budgets, each round's requests
//!   (prompt, seed, journal key), the dry-run plan as a value;
//! * [`fetch`] — the Fetcher: journal, then endpoint (or the local server), `concurrency` in
//!   flight, the run guard ([`guard`]) before and after every request;
//! * [`accept`] — the Acceptor: one `consider()` for ATT&CK procedure examples and LLM
//!   sentences (filters, scores, provenance, a typed [`Rejection`]);
//! * [`procedures`] — ranks procedure examples per cluster for prompts and, by `source`, as
//!   rows.
//!
//! The LLM stage streams: requests stay in flight up to the concurrency limit while answers
//! are taken **in request order** through a reorder buffer, so the output does not depend on
//! which answer came first. A round ends only when the plan must re-ask (rejects left a
//! cluster short); with a deterministic endpoint the same seed gives the same rows, and a
//! resumed run (answers replayed from the journal) the same rows as an uninterrupted one.

pub mod accept;
pub mod contrast;
mod error;
pub mod fetch;
pub mod guard;
pub mod identity;
pub mod plan;
pub mod procedures;
mod progress;
pub mod select;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt;

pub use accept::{Acceptor, Candidate, RejectedRow};
pub use error::GenerateError;
pub use fetch::{Fetcher, Reorder};
pub use identity::{journal_header, request_key};
pub use plan::{DryRunPlan, PlannedRequest, Planner, request_seed, split_by_size};

use crate::catalog::Catalog;
use crate::cluster::{Cluster, TechniqueClusters};
use crate::config::ValidConfig;
use crate::data::{Origin, Sample};
use crate::desensitize::{IndicatorKind, Redaction, RedactionReport, Surrogates};
use crate::embed::EmbedService;
use crate::journal::{JOURNAL_FILE, Journal, RequestOutcome};
use crate::llm::parse_sentences;
use crate::output::{LlmProvenance, NewRow};

use crate::outcome::StopReason;
use crate::prompt::{ContrastContext, PromptTemplate, TechniqueContext};
use crate::report::LlmUsage;
use progress::Progress;

/// Generation state of one cluster.
pub struct ClusterJob<'a> {
    /// Index of its technique (into the reports and technique contexts).
    pub tech: usize,
    /// The cluster.
    pub cluster: &'a Cluster,
    /// Rows it should get.
    pub target: usize,
    /// Rows accepted so far, in acceptance order.
    pub rows: Vec<NewRow>,
    /// The embedding of each row (same order), for selection.
    pub embeddings: Vec<ndarray::Array1<f32>>,
    /// Requests planned so far.
    pub sent: usize,
    /// Most requests it may send.
    pub budget: usize,
    /// ATT&CK procedure examples shown in its prompts.
    pub procedures: Vec<String>,
    /// The nearest other technique and its sentence, shown as a contrast when
    /// `generate.contrast` is on.
    pub contrast: Option<ContrastContext>,
    /// With `source = "rewrite"`: the procedure examples to rewrite (nearest the cluster
    /// first) and their embeddings; request `slot` rewrites entry `slot % len`.
    pub rewrite_pool: Vec<(String, ndarray::Array1<f32>)>,
}

impl ClusterJob<'_> {
    /// Rows still missing.
    pub fn need(&self) -> usize {
        self.target.saturating_sub(self.rows.len())
    }
}

/// What the generation stages read besides the jobs.
pub struct StageInput<'a> {
    /// The validated run configuration.
    pub cfg: &'a ValidConfig,
    /// The original rows (ids are indexes).
    pub samples: &'a [Sample],
    /// Clusters of the selected techniques, in job `tech` order.
    pub clusters: &'a [TechniqueClusters],
    /// ATT&CK names and descriptions.
    pub catalog: &'a Catalog,
    /// The embedding service.
    pub embed: &'a EmbedService,
}

/// Where and how the LLM stage runs.
#[derive(Debug, Clone, Default)]
pub struct LlmRun {
    /// Directory of the journal.
    pub dir: PathBuf,
    /// Replay the journal of an earlier run.
    pub resume: bool,
    /// Discard an earlier journal.
    pub overwrite: bool,
    /// Plan only.
    pub dry_run: bool,
    /// Show a progress bar.
    pub progress: bool,
    /// `--batch-export`: write unanswered requests to this file and stop.
    pub batch_export: Option<PathBuf>,
    /// `--batch-import`: journal this batch output first.
    pub batch_import: Option<PathBuf>,
}

/// What the LLM stage did.
#[derive(Debug, Default)]
pub struct LlmOutcome {
    /// Template name and content hash.
    pub template: (String, String),
    /// The plan, on a dry run.
    pub plan: Option<DryRunPlan>,
    /// LLM totals, when it ran.
    pub usage: Option<LlmUsage>,
    /// Why it stopped early, if it did.
    pub stop: Option<StopReason>,
    /// What redaction did, when prompts were redacted.
    pub redaction: Option<RedactionReport>,
    /// Wall seconds.
    pub seconds: f64,
}

/// The LLM stage: plans rounds, streams each through the Fetcher, takes answers in request
/// order through the Acceptor.
pub async fn llm_stage(
    input: &StageInput<'_>,
    run: &LlmRun,
    jobs: &mut [ClusterJob<'_>],
    acceptor: &mut Acceptor,
) -> Result<LlmOutcome, GenerateError> {
    let cfg = input.cfg;
    // ValidConfig has filled the template in.
    let template = PromptTemplate::load(cfg.generate.template.as_deref().unwrap_or("local-one"))?;
    let techniques = technique_contexts(input.clusters, input.catalog);
    let planner = Planner::new(cfg, &template, input.samples, &techniques);
    let keep = select::widen(jobs, &cfg.select);
    planner.set_budgets(jobs);
    let mut outcome = LlmOutcome {
        template: (template.name().to_string(), template.hash().to_string()),
        ..Default::default()
    };
    if run.dry_run {
        outcome.plan = Some(planner.dry_run(jobs)?);
        select::choose(jobs, &keep, acceptor, &cfg.select);
        return Ok(outcome);
    }
    // The pipeline's `RunDir` created the directory and holds its lock.
    let journal = Journal::open(
        &run.dir.join(JOURNAL_FILE),
        &journal_header(cfg, input.samples),
        run.resume,
        run.overwrite,
    )?;
    let fetcher = match &run.batch_export {
        Some(path) => Fetcher::offline(cfg, journal, path.clone())?,
        None => Fetcher::open(cfg, journal).await?,
    };
    if let Some(path) = &run.batch_import {
        fetcher.import_batch(path)?;
    }
    let t = Instant::now();
    let mut taker = Taker {
        llm: LlmProvenance {
            template: outcome.template.0.clone(),
            template_hash: outcome.template.1.clone(),
            model: cfg.llm.model.clone(),
            endpoint: fetcher.endpoint(),
            temperature: cfg.llm.temperature,
            ..Default::default()
        },
        fetcher: &fetcher,
        embed: input.embed,
        redaction: cfg.redacts().then(|| Redacting {
            input: Redaction::new(input.samples.iter().map(|s| s.text.as_str())),
            surrogates: (!cfg.redact.keep_placeholders).then(|| Surrogates::new(cfg.seed)),
            report: RedactionReport {
                keep_placeholders: cfg.redact.keep_placeholders,
                ..Default::default()
            },
        }),
        progress: Progress::new(
            run.progress,
            jobs.iter().map(ClusterJob::need).sum(),
            acceptor.rejected_count(),
        ),
    };
    let mut accepted = 0;
    loop {
        let planned = planner.next_round(jobs)?;
        if planned.is_empty() {
            break;
        }
        taker.progress.planned(planned.len());
        if let Some(r) = &mut taker.redaction {
            for p in &planned {
                RedactionReport::add(&mut r.report.in_prompts, &p.redacted);
            }
        }
        accepted = taker.round(&planned, jobs, acceptor, accepted).await?;
        fetcher.sync()?;
        if fetcher.stopped() {
            break;
        }
    }
    taker.progress.finish();
    outcome.redaction = taker.redaction.map(|r| RedactionReport {
        in_input: r.input.in_input,
        ..r.report
    });
    select::choose(jobs, &keep, acceptor, &cfg.select);
    outcome.seconds = t.elapsed().as_secs_f64();
    let (usage, summary) = fetcher.finish(&cfg.llm.model, outcome.seconds);
    outcome.usage = Some(usage);
    let missing = jobs.iter().any(|j| j.need() > 0);
    outcome.stop = summary.stop.or_else(|| {
        (missing && summary.failed > 0).then_some(StopReason::RequestsFailed {
            failed: summary.failed,
        })
    });
    Ok(outcome)
}

impl Redacting {
    /// `sentence` with its placeholders filled (counted into `filled`), or `None` when it
    /// repeats an indicator of the input.
    fn desensitize(
        &mut self,
        sentence: &str,
        request: &PlannedRequest,
        filled: &mut BTreeMap<IndicatorKind, usize>,
    ) -> Option<String> {
        if self.input.leak(sentence).is_some() {
            self.report.leaked += 1;
            return None;
        }
        Some(match &self.surrogates {
            Some(s) => s.fill(sentence, &request.key, &request.placeholders, filled),
            None => sentence.to_string(),
        })
    }
}

/// The ATT&CK name, tactics and description of each selected technique.
fn technique_contexts(clusters: &[TechniqueClusters], catalog: &Catalog) -> Vec<TechniqueContext> {
    clusters
        .iter()
        .map(|tc| {
            let t = catalog.get(&tc.technique);
            TechniqueContext {
                id: tc.technique.clone(),
                name: catalog.name_of(&tc.technique).to_string(),
                tactics: t.map(|t| t.tactics.clone()).unwrap_or_default(),
                description: t.map(|t| t.description.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

/// Takes the answers of a round, in request order, as they arrive.
struct Taker<'a> {
    /// The provenance every LLM row shares; per request fields are filled in.
    llm: LlmProvenance,
    fetcher: &'a Fetcher,
    embed: &'a EmbedService,
    /// Present when prompts are redacted.
    redaction: Option<Redacting>,
    progress: Progress,
}

/// The leak check and surrogates of a redacted run.
struct Redacting {
    /// The input's indicators.
    input: Redaction,
    /// Fills placeholders (absent with `keep_placeholders`).
    surrogates: Option<Surrogates>,
    report: RedactionReport,
}

/// An answer's sentence that passed the text checks.
struct Screened {
    /// Index of its request in the round.
    request: usize,
    text: String,
    prompt_tokens: u32,
    completion_tokens: u32,
    /// Surrogates filled in, by kind.
    surrogates: BTreeMap<IndicatorKind, usize>,
}

impl Taker<'_> {
    /// Streams one round: the Fetcher's answers (completion order) go through a reorder
    /// buffer to [`Self::take`] while the other requests stay in flight. Returns the rows
    /// accepted so far in the run.
    async fn round(
        &mut self,
        planned: &[PlannedRequest],
        jobs: &mut [ClusterJob<'_>],
        acceptor: &mut Acceptor,
        mut accepted: usize,
    ) -> Result<usize, GenerateError> {
        let (tx, mut rx) = futures::channel::mpsc::unbounded();
        let fetcher = self.fetcher;
        let produce = async move {
            let mut answers = std::pin::pin!(fetcher.stream(planned));
            while let Some(answer) = answers.next().await {
                // The receiver only goes away when taking failed; that error wins.
                let _ = tx.unbounded_send(answer?);
            }
            Ok::<_, GenerateError>(())
        };
        let consume = async {
            let mut reorder = Reorder::default();
            while let Some((i, outcome)) = rx.next().await {
                let ready = reorder.push(i, outcome);
                if !ready.is_empty() {
                    accepted += self.take(planned, &ready, jobs, acceptor).await?;
                    for _ in &ready {
                        self.progress.answered(accepted, acceptor.rejected_count());
                    }
                }
            }
            Ok::<_, GenerateError>(())
        };
        futures::try_join!(produce, consume)?;
        Ok(accepted)
    }

    /// Parses and screens consecutive answers, embeds the survivors in one batch, then
    /// considers them in order. Returns how many rows were accepted.
    async fn take(
        &mut self,
        planned: &[PlannedRequest],
        ready: &[(usize, Option<RequestOutcome>)],
        jobs: &mut [ClusterJob<'_>],
        acceptor: &mut Acceptor,
    ) -> Result<usize, GenerateError> {
        let mut candidates: Vec<Screened> = Vec::new();
        for (pi, outcome) in ready {
            let tech = jobs[planned[*pi].job].tech;
            let Some(outcome) = outcome else { continue };
            acceptor.report_mut(tech).requests += 1;
            let RequestOutcome::Answered {
                text,
                prompt_tokens,
                completion_tokens,
                ..
            } = outcome
            else {
                continue;
            };
            let parsed = parse_sentences(text);
            for bad in &parsed.rejects {
                acceptor.unparsed(tech, &bad.text, bad.reason);
            }
            for s in parsed.sentences {
                let mut surrogates = BTreeMap::new();
                let s = match &mut self.redaction {
                    Some(r) => match r.desensitize(&s, &planned[*pi], &mut surrogates) {
                        Some(s) => s,
                        None => {
                            acceptor.leaked(tech, &s);
                            continue;
                        }
                    },
                    None => s,
                };
                if let Some(text) = acceptor.screen(tech, Origin::Synthetic, &s) {
                    candidates.push(Screened {
                        request: *pi,
                        text,
                        prompt_tokens: *prompt_tokens,
                        completion_tokens: *completion_tokens,
                        surrogates,
                    });
                }
            }
        }
        if candidates.is_empty() {
            return Ok(0);
        }
        let texts = candidates.iter().map(|c| c.text.clone()).collect();
        let emb = self.embed.embed(texts).await?;
        let mut accepted = 0;
        for (ci, c) in candidates.into_iter().enumerate() {
            let p = &planned[c.request];
            let job = &mut jobs[p.job];
            let row_key = format!("{}#{}", p.key, job.rows.len());
            let source = p.rewrite_of.map(|k| &job.rewrite_pool[k]);
            let cand = Candidate {
                text: c.text,
                origin: Origin::Synthetic,
                seed_ids: p.example_ids.clone(),
                source: source.map(|s| s.1.clone()),
                llm: Some(LlmProvenance {
                    rewrite_of: source.map(|s| s.0.clone()),
                    seed: p.seed,
                    prompt_tokens: c.prompt_tokens,
                    completion_tokens: c.completion_tokens,
                    attempt: p.slot,
                    request: p.key.clone(),
                    ..self.llm.clone()
                }),
            };
            if acceptor.consider(job, cand, emb.row(ci)).is_ok() {
                accepted += 1;
                if let Some(r) = &mut self.redaction {
                    RedactionReport::add(&mut r.report.surrogates, &c.surrogates);
                }
                let row = job.rows.last().map(|r| &r.sample);
                if let Some(row) = row {
                    self.fetcher
                        .record_accepted(&row_key, &row.label, &row.text)?;
                }
            }
        }
        Ok(accepted)
    }
}
