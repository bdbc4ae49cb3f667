//! Wiring only: data → embed → cluster → (procedures) → prompt → llm → filter → output.
//!
//! Generation runs in rounds. In a round every cluster that still needs rows sends its
//! requests (concurrently, bounded by the client), then the answers are filtered **in request
//! order**, so the result does not depend on which answer came first: with a deterministic
//! LLM the same seed gives the same file, and a resumed run (answers replayed from the
//! journal) gives the same rows as an uninterrupted one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array1, Array2, Axis};
use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, Procedures, Resolution, normalize_technique_id};
use crate::cluster::{
    Cluster, ClusterError, TechniqueClusters, cluster_technique, normalized_mean,
};
use crate::config::{Config, ConfigError, GenerateConfig, OutputShape, Target};
use crate::data::{DataError, Dataset, Origin, ReadOptions, Sample, UnknownLabels, read_dataset};
use crate::embed::{EmbedError, Embedder};
use crate::error_chain;
use crate::filter::{FilterIndex, RejectReason, Scores};
use crate::journal::{DirLock, Journal, JournalError, JournalHeader, RequestOutcome, sync_dir};
use crate::llm::{ChatRequest, LlmClient, LlmConfig, LlmError, LocalServer, parse_sentences};
use crate::output::{
    LlmProvenance, NewRow, OutputError, Provenance, jsonl_bytes, jsonl_of, native_bytes, write_file,
};
use crate::prompt::{PromptContext, PromptError, PromptTemplate, TechniqueContext};
use crate::report::{ClusterSummary, LlmUsage, RunOutcome, RunReport, StopReason, TechniqueReport};
use crate::stats::{DatasetStats, dataset_stats, label_counts, median};

mod guard;
use guard::{GuardSummary, RunGuard};

/// Any stage's error.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Bad input data.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Embedding failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// Clustering failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A template failed.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// The LLM endpoint or local server failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Writing outputs failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A technique asked for is not in the data.
    #[error("{path}: technique {technique} has no rows (techniques in the file: {known})")]
    NoSuchTechnique {
        /// The input file.
        path: PathBuf,
        /// The id asked for.
        technique: String,
        /// A few ids that exist.
        known: String,
    },
    /// Could not create the output directory.
    #[error("{path}: {source}")]
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl PipelineError {
    /// Whether this is a failure of the run itself (I/O, the journal, the output directory,
    /// the LLM endpoint or server) rather than bad input or usage: exit code 1, else 2.
    pub fn is_run_failure(&self) -> bool {
        match self {
            PipelineError::Journal(e) => {
                matches!(e, JournalError::Io { .. } | JournalError::Locked { .. })
            }
            PipelineError::Output(_) | PipelineError::OutputDir { .. } => true,
            PipelineError::Llm(e) => !matches!(
                e,
                LlmError::InvalidParam { .. } | LlmError::MissingAsset { .. }
            ),
            _ => false,
        }
    }
}

/// The data, its embeddings and the clusters of the selected techniques.
pub struct Prepared {
    /// The input dataset.
    pub dataset: Dataset,
    /// Its stats.
    pub stats: DatasetStats,
    /// One L2-normalised embedding row per sample.
    pub embeddings: Array2<f32>,
    /// Centroid of every technique in the data.
    pub centroids: Vec<(String, Array1<f32>)>,
    /// Clusters of the selected techniques, rarest first.
    pub clusters: Vec<TechniqueClusters>,
    /// Wall seconds per stage.
    pub stage_seconds: BTreeMap<String, f64>,
}

/// Reads a dataset and computes its stats.
pub fn load(
    input: &Path,
    cfg: &Config,
    catalog: &Catalog,
) -> Result<(Dataset, DatasetStats), PipelineError> {
    let ds = read_dataset(input, &cfg.input, catalog)?;
    let st = dataset_stats(&ds, catalog, cfg.policy);
    Ok((ds, st))
}

/// Embeds texts in one call (the embedder batches, sorts and caches).
fn embed_texts(embedder: &mut dyn Embedder, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
    if texts.is_empty() {
        return Ok(Array2::zeros((0, embedder.dim())));
    }
    embedder.embed(texts)
}

/// The sentences of an `--avoid` file (any format the readers know; any labels).
pub fn read_avoid(
    path: &Path,
    input: &ReadOptions,
    catalog: &Catalog,
) -> Result<Vec<String>, PipelineError> {
    let opts = ReadOptions {
        unknown_labels: UnknownLabels::Warn,
        format: None,
        ..input.clone()
    };
    Ok(read_dataset(path, &opts, catalog)?
        .samples
        .into_iter()
        .map(|s| s.text)
        .collect())
}

/// Reads, embeds and clusters. `only` restricts clustering to these techniques (any
/// technique of the file); empty means every under-represented one.
pub fn prepare(
    input: &Path,
    cfg: &Config,
    only: &[String],
    catalog: &Catalog,
    embedder: &mut dyn Embedder,
) -> Result<Prepared, PipelineError> {
    let t = Instant::now();
    let (dataset, stats) = load(input, cfg, catalog)?;
    let read = t.elapsed().as_secs_f64();
    let mut prep = prepare_dataset(dataset, stats, cfg, only, embedder)?;
    prep.stage_seconds.insert("read".into(), read);
    Ok(prep)
}

/// [`prepare`] for a dataset already in memory.
pub fn prepare_dataset(
    dataset: Dataset,
    stats: DatasetStats,
    cfg: &Config,
    only: &[String],
    embedder: &mut dyn Embedder,
) -> Result<Prepared, PipelineError> {
    let input = dataset.path.clone();
    let mut stage_seconds = BTreeMap::new();

    let selected: Vec<String> = if only.is_empty() {
        stats
            .under_represented()
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        let counts = label_counts(&dataset.samples);
        // Same spelling rules as the data: upper-cased, revoked ids remapped, no repeats.
        let catalog = Catalog::bundled();
        let mut wanted: Vec<String> = Vec::new();
        for raw in only {
            let id = normalize_technique_id(raw).unwrap_or_else(|| raw.trim().to_string());
            let id = match catalog.resolve(&id) {
                Resolution::Remapped(to) => to,
                _ => id,
            };
            if !wanted.contains(&id) {
                wanted.push(id);
            }
        }
        for id in &wanted {
            if !counts.contains_key(id) {
                return Err(PipelineError::NoSuchTechnique {
                    path: input.clone(),
                    technique: id.clone(),
                    known: counts
                        .keys()
                        .take(8)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        wanted
    };

    let t = Instant::now();
    let texts: Vec<&str> = dataset.samples.iter().map(|s| s.text.as_str()).collect();
    let embeddings = embed_texts(embedder, &texts)?;
    stage_seconds.insert("embed".into(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let mut rows_of: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for s in &dataset.samples {
        rows_of.entry(s.label.as_str()).or_default().push(s.id);
    }
    let centroids = rows_of
        .iter()
        .map(|(id, rows)| {
            (
                id.to_string(),
                normalized_mean(embeddings.select(Axis(0), rows).view()),
            )
        })
        .collect();
    let clusters = selected
        .iter()
        .map(|id| {
            let rows = &rows_of[id.as_str()];
            let x = embeddings.select(Axis(0), rows);
            cluster_technique(id, rows, x.view(), &cfg.cluster, cfg.seed)
        })
        .collect::<Result<Vec<_>, _>>()?;
    stage_seconds.insert("cluster".into(), t.elapsed().as_secs_f64());
    Ok(Prepared {
        dataset,
        stats,
        embeddings,
        centroids,
        clusters,
        stage_seconds,
    })
}

/// Rows to add per technique under a target.
pub fn rows_to_add(
    counts: &BTreeMap<String, usize>,
    selected: &[String],
    target: Target,
) -> BTreeMap<String, usize> {
    let values: Vec<usize> = counts.values().copied().collect();
    let max = values.iter().copied().max().unwrap_or(0);
    let med = median(&values).ceil() as usize;
    selected
        .iter()
        .map(|id| {
            let n = counts.get(id).copied().unwrap_or(0);
            let add = match target {
                Target::ToMedian => med.saturating_sub(n),
                Target::ToMax => max.saturating_sub(n),
                Target::Ratio(r) => (r * n as f64).round() as usize,
                Target::Absolute(a) => a,
            };
            (id.clone(), add)
        })
        .collect()
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
fn request_seed(seed: u64, technique: &str, cluster: usize, slot: usize) -> u64 {
    let h = Sha256::digest(format!("{seed}/{technique}/{cluster}/{slot}").as_bytes());
    u64::from_le_bytes(h[..8].try_into().unwrap_or([0; 8])) & 0x7fff_ffff
}

/// What `augment` is asked to do besides the configuration.
#[derive(Debug, Clone, Default)]
pub struct AugmentOptions {
    /// Output directory.
    pub output_dir: PathBuf,
    /// Continue the run recorded in the directory's journal.
    pub resume: bool,
    /// Discard a previous run in the directory.
    pub overwrite: bool,
    /// Print the plan; call no LLM, write no dataset.
    pub dry_run: bool,
    /// Sentences that new rows must not duplicate, exactly or nearly (e.g. a test split).
    pub avoid: Vec<String>,
    /// Rows to add per technique, overriding the configured target and selection.
    pub targets: Option<BTreeMap<String, usize>>,
    /// The configuration file given, recorded in the report.
    pub config_file: Option<PathBuf>,
    /// Show progress bars.
    pub progress: bool,
}

/// A candidate the filters turned down, kept for inspection (`rejected.jsonl`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RejectedRow {
    /// Technique it was written for.
    pub label: String,
    /// `synthetic` or `attack-procedure`.
    pub origin: Origin,
    /// The candidate text (as parsed, before normalisation).
    pub text: String,
    /// Why it was rejected (`RejectReason` name, or `over-target`).
    pub reason: String,
    /// Filter scores, when it got as far as the embedding checks.
    pub scores: Option<Scores>,
}

/// The outcome of [`augment_dataset`].
pub struct Augmented {
    /// Accepted rows: technique order (rarest first), cluster order, acceptance order.
    pub rows: Vec<NewRow>,
    /// Rejected candidates with their reason.
    pub rejected: Vec<RejectedRow>,
    /// The run report.
    pub report: RunReport,
}

/// Counts a rejection in the technique's report and keeps the row.
fn reject(
    report: &mut TechniqueReport,
    log: &mut Vec<RejectedRow>,
    origin: Origin,
    text: &str,
    reason: &str,
    scores: Option<Scores>,
) {
    *report.rejected.entry(reason.to_string()).or_default() += 1;
    log.push(RejectedRow {
        label: report.id.clone(),
        origin,
        text: text.to_string(),
        reason: reason.to_string(),
        scores,
    });
}

/// Generation state of one cluster.
struct ClusterJob<'a> {
    tech: usize,
    cluster: &'a Cluster,
    target: usize,
    rows: Vec<NewRow>,
    sent: usize,
    budget: usize,
    procedures: Vec<String>,
}

impl ClusterJob<'_> {
    fn need(&self) -> usize {
        self.target.saturating_sub(self.rows.len())
    }
}

/// One planned request.
struct Planned {
    job: usize,
    slot: usize,
    seed: u64,
    key: String,
    request: ChatRequest,
    example_ids: Vec<usize>,
}

fn progress_bar(show: bool, len: u64, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_string());
    pb
}

/// Refuses to write over a finished run (any source) unless resuming or overwriting.
fn check_previous_run(cfg: &Config, opts: &AugmentOptions) -> Result<(), PipelineError> {
    if opts.resume || opts.overwrite {
        return Ok(());
    }
    let dir = &opts.output_dir;
    let journal = dir.join("journal.jsonl");
    let journal_used =
        !cfg.generate.source.uses_llm() && journal.metadata().is_ok_and(|m| m.len() > 0);
    for (path, there) in [
        (dir.join("report.json"), dir.join("report.json").exists()),
        (journal, journal_used),
    ] {
        if there {
            return Err(JournalError::Exists { path }.into());
        }
    }
    Ok(())
}

/// Reads `input`, augments it and writes the output directory, holding the directory's lock
/// throughout. Returns the report; an incomplete run (see [`RunReport::outcome`]) still
/// writes its rows and report.
pub async fn augment(
    input: &Path,
    cfg: &Config,
    opts: &AugmentOptions,
    embedder: &mut dyn Embedder,
) -> Result<RunReport, PipelineError> {
    cfg.check()?;
    let _lock = match opts.dry_run {
        true => None,
        false => Some(DirLock::acquire(&opts.output_dir)?),
    };
    if !opts.dry_run {
        check_previous_run(cfg, opts)?;
    }
    let started = Instant::now();
    let catalog = Catalog::bundled();
    let t = Instant::now();
    let (dataset, stats) = load(input, cfg, &catalog)?;
    let read = t.elapsed().as_secs_f64();
    let Augmented {
        rows: new_rows,
        rejected,
        mut report,
    } = augment_unlocked(dataset.clone(), stats, cfg, opts, embedder).await?;
    report.stage_seconds.insert("read".into(), read);
    if !opts.dry_run {
        let t = Instant::now();
        let dir = &opts.output_dir;
        let native = dir.join(format!("augmented.{}", dataset.format.extension()));
        // augmented.jsonl is always written; a JSONL input's own format is that same name,
        // so its native copy goes to augmented.native.jsonl.
        let native = if native.extension().is_some_and(|e| e == "jsonl") {
            dir.join("augmented.native.jsonl")
        } else {
            native
        };
        write_file(&native, &native_bytes(&dataset, &new_rows, &catalog))?;
        write_file(
            &dir.join("augmented.jsonl"),
            &jsonl_bytes(&dataset.samples, &new_rows),
        )?;
        write_file(&dir.join("rejected.jsonl"), &jsonl_of(&rejected))?;
        report
            .stage_seconds
            .insert("write".into(), t.elapsed().as_secs_f64());
        report.wall_seconds = started.elapsed().as_secs_f64();
        let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
        write_file(&dir.join("report.json"), &json)?;
        write_file(&dir.join("report.md"), report.to_markdown().as_bytes())?;
        sync_dir(dir).map_err(|source| PipelineError::OutputDir {
            path: dir.clone(),
            source,
        })?;
    }
    Ok(report)
}

/// Augments a dataset in memory: embeds, clusters, adds procedure examples and LLM rows
/// through the filters. Returns the new rows (technique, cluster, acceptance order) and the
/// report; writes only the journal (none on a dry run), holding the output directory's lock.
pub async fn augment_dataset(
    dataset: Dataset,
    stats: DatasetStats,
    cfg: &Config,
    opts: &AugmentOptions,
    embedder: &mut dyn Embedder,
) -> Result<Augmented, PipelineError> {
    let _lock = match opts.dry_run {
        true => None,
        false => Some(DirLock::acquire(&opts.output_dir)?),
    };
    augment_unlocked(dataset, stats, cfg, opts, embedder).await
}

/// One job per cluster, with its share of the technique's target, and one report per
/// technique.
fn plan_jobs<'a>(
    prep: &'a Prepared,
    to_add: &BTreeMap<String, usize>,
    counts: &BTreeMap<String, usize>,
    catalog: &Catalog,
) -> (Vec<ClusterJob<'a>>, Vec<TechniqueReport>) {
    let ds = &prep.dataset;
    let mut reports: Vec<TechniqueReport> = Vec::new();
    let mut jobs: Vec<ClusterJob> = Vec::new();
    for (ti, tc) in prep.clusters.iter().enumerate() {
        let sizes: Vec<usize> = tc.clusters.iter().map(|c| c.members.len()).collect();
        let add = to_add[&tc.technique];
        for (c, target) in tc.clusters.iter().zip(split_by_size(add, &sizes)) {
            jobs.push(ClusterJob {
                tech: ti,
                cluster: c,
                target,
                rows: Vec::new(),
                sent: 0,
                budget: 0,
                procedures: Vec::new(),
            });
        }
        reports.push(TechniqueReport {
            id: tc.technique.clone(),
            name: catalog.name_of(&tc.technique).to_string(),
            before: counts[&tc.technique],
            target_added: add,
            clusters: tc.clusters.len(),
            cluster_summaries: tc
                .clusters
                .iter()
                .map(|c| ClusterSummary {
                    size: c.members.len(),
                    central: c
                        .central
                        .iter()
                        .map(|&i| ds.samples[i].text.clone())
                        .collect(),
                })
                .collect(),
            ..Default::default()
        });
    }
    (jobs, reports)
}

/// ATT&CK procedure examples, ranked per cluster by cosine to its centroid: the prompt
/// grounding of every job and, with `source = procedures|both`, rows through the filters.
fn add_procedures(
    prep: &Prepared,
    gen_cfg: &GenerateConfig,
    jobs: &mut [ClusterJob<'_>],
    reports: &mut [TechniqueReport],
    filter: &mut FilterIndex,
    rejected: &mut Vec<RejectedRow>,
    embedder: &mut dyn Embedder,
) -> Result<(), PipelineError> {
    let procedures = Procedures::bundled();
    for (ti, tc) in prep.clusters.iter().enumerate() {
        let texts: Vec<&str> = procedures
            .of(&tc.technique)
            .iter()
            .map(String::as_str)
            .collect();
        if texts.is_empty() {
            continue;
        }
        let emb = tokio::task::block_in_place(|| embed_texts(embedder, &texts))?;
        let mut used = vec![false; texts.len()];
        for job in jobs.iter_mut().filter(|j| j.tech == ti) {
            let cos = emb.dot(&job.cluster.centroid);
            let mut order: Vec<usize> = (0..texts.len()).collect();
            order.sort_by(|&a, &b| cos[b].total_cmp(&cos[a]).then(a.cmp(&b)));
            // Prompts never show the LLM an avoided sentence (e.g. a test row inside a
            // longer procedure example).
            job.procedures = order
                .iter()
                .filter(|&&i| filter.check_avoid(texts[i]).is_ok())
                .take(gen_cfg.procedures_per_prompt)
                .map(|&i| texts[i].to_string())
                .collect();
            if !gen_cfg.source.uses_procedures() {
                continue;
            }
            for &i in &order {
                if job.need() == 0 {
                    break;
                }
                if used[i] {
                    continue;
                }
                used[i] = true;
                let r = &mut reports[ti];
                r.candidates += 1;
                let origin = Origin::AttackProcedure;
                let text = match filter.pre_check(texts[i], &tc.technique) {
                    Ok(t) => t,
                    Err(reason) => {
                        reject(r, rejected, origin, texts[i], reason.as_str(), None);
                        continue;
                    }
                };
                let (verdict, scores) = filter.check_embedded(emb.row(i), &tc.technique);
                if let Err(reason) = verdict {
                    reject(r, rejected, origin, &text, reason.as_str(), Some(scores));
                    continue;
                }
                filter.accept(&text, emb.row(i).to_owned());
                r.added_procedures += 1;
                job.rows.push(NewRow {
                    sample: Sample {
                        id: 0,
                        text,
                        label: tc.technique.clone(),
                        group: None,
                        origin: Origin::AttackProcedure,
                    },
                    provenance: Provenance {
                        cluster: job.cluster.index,
                        seed_ids: job.cluster.central.clone(),
                        scores,
                        llm: None,
                    },
                });
            }
        }
    }
    Ok(())
}

/// [`augment_dataset`] for a caller that holds the lock.
async fn augment_unlocked(
    dataset: Dataset,
    stats: DatasetStats,
    cfg: &Config,
    opts: &AugmentOptions,
    embedder: &mut dyn Embedder,
) -> Result<Augmented, PipelineError> {
    cfg.check()?;
    let cfg = &cfg.clone().resolved();
    let started = Instant::now();
    let catalog = Catalog::bundled();
    let gen_cfg = &cfg.generate;
    let only: Vec<String> = match &opts.targets {
        Some(t) => t
            .iter()
            .filter(|&(_, &n)| n > 0)
            .map(|(id, _)| id.clone())
            .collect(),
        None => gen_cfg.techniques.clone(),
    };
    let input = dataset.path.clone();
    let prep =
        tokio::task::block_in_place(|| prepare_dataset(dataset, stats, cfg, &only, embedder))?;
    let mut stage_seconds = prep.stage_seconds.clone();
    let ds = &prep.dataset;
    let counts = label_counts(&ds.samples);
    let selected: Vec<String> = prep.clusters.iter().map(|c| c.technique.clone()).collect();
    let to_add = match &opts.targets {
        Some(t) => t.clone(),
        None => rows_to_add(&counts, &selected, gen_cfg.target),
    };

    // Avoid list (e.g. a test split).
    let t = Instant::now();
    let avoid_texts: Vec<&str> = opts.avoid.iter().map(String::as_str).collect();
    let avoid_emb = tokio::task::block_in_place(|| embed_texts(embedder, &avoid_texts))?;
    let orig_texts: Vec<&str> = ds.samples.iter().map(|s| s.text.as_str()).collect();
    let mut filter = FilterIndex::new(
        cfg.filter.clone(),
        (&orig_texts, prep.embeddings.clone()),
        (&avoid_texts, avoid_emb),
        prep.centroids.clone(),
    );
    stage_seconds.insert("avoid".into(), t.elapsed().as_secs_f64());

    let (mut jobs, mut reports) = plan_jobs(&prep, &to_add, &counts, &catalog);
    let mut rejected: Vec<RejectedRow> = Vec::new();
    let t = Instant::now();
    add_procedures(
        &prep,
        gen_cfg,
        &mut jobs,
        &mut reports,
        &mut filter,
        &mut rejected,
        embedder,
    )?;
    stage_seconds.insert("procedures".into(), t.elapsed().as_secs_f64());

    let mut report = RunReport {
        version: env!("CARGO_PKG_VERSION").into(),
        input: input.display().to_string(),
        output_dir: opts.output_dir.display().to_string(),
        dry_run: opts.dry_run,
        config_file: opts.config_file.as_ref().map(|p| p.display().to_string()),
        config: Config {
            llm: cfg.llm.redacted(),
            ..cfg.clone()
        }
        .to_toml(),
        rows_before: ds.samples.len(),
        ..Default::default()
    };

    let mut stop = None;
    if gen_cfg.source.uses_llm() && jobs.iter().any(|j| j.need() > 0) {
        stop = generate(
            cfg,
            opts,
            &catalog,
            &prep,
            &mut jobs,
            &mut reports,
            &mut filter,
            &mut rejected,
            embedder,
            &mut report,
        )
        .await?;
        stage_seconds.insert(
            "generate".into(),
            report.stage_seconds.remove("generate").unwrap_or(0.0),
        );
    }

    // Collect rows: technique order (rarest first), cluster order, acceptance order.
    let mut new_rows: Vec<NewRow> = Vec::new();
    for (ti, r) in reports.iter_mut().enumerate() {
        for job in jobs.iter().filter(|j| j.tech == ti) {
            new_rows.extend(job.rows.iter().cloned());
        }
        r.after = r.before + r.added_procedures + r.added_synthetic;
    }
    for (i, row) in new_rows.iter_mut().enumerate() {
        row.sample.id = ds.samples.len() + i;
    }
    report.rows_after = ds.samples.len() + new_rows.len();
    report.accepted = new_rows.len();
    report.candidates = reports.iter().map(|r| r.candidates).sum();
    for r in &reports {
        for (reason, n) in &r.rejected {
            *report.rejected.entry(reason.clone()).or_default() += n;
        }
    }
    let missing_rows: usize = jobs.iter().map(ClusterJob::need).sum();
    report.outcome = match stop {
        Some(reason) if missing_rows > 0 => RunOutcome::Incomplete {
            reason,
            missing_rows,
        },
        _ => RunOutcome::Complete { missing_rows },
    };
    report.techniques = reports;
    report.stage_seconds = stage_seconds;
    report.wall_seconds = started.elapsed().as_secs_f64();
    Ok(Augmented {
        rows: new_rows,
        rejected,
        report,
    })
}

/// What planning a round reads.
struct Planner<'a> {
    cfg: &'a Config,
    template: &'a PromptTemplate,
    per_request: usize,
    samples: &'a [Sample],
    technique_ctx: &'a [TechniqueContext],
}

impl Planner<'_> {
    /// Plans the next round: up to the attempt budget, over-asking to cover rejects.
    fn plan_round(&self, jobs: &mut [ClusterJob<'_>]) -> Result<Vec<Planned>, PipelineError> {
        let gen_cfg = &self.cfg.generate;
        let per_request = self.per_request;
        let mut out = Vec::new();
        for (ji, job) in jobs.iter_mut().enumerate() {
            let need = job.need();
            if need == 0 || job.sent >= job.budget {
                continue;
            }
            let k = ((need as f64 * gen_cfg.overask) / per_request as f64).ceil() as usize;
            let k = k.clamp(1, job.budget - job.sent);
            let pool: Vec<usize> = job
                .cluster
                .central
                .iter()
                .chain(&job.cluster.diverse)
                .copied()
                .collect();
            for slot in job.sent..job.sent + k {
                let e = gen_cfg.examples_per_prompt.min(pool.len());
                let example_ids: Vec<usize> =
                    (0..e).map(|i| pool[(slot * e + i) % pool.len()]).collect();
                let text = |id: &usize| self.samples[*id].text.clone();
                let ctx = PromptContext {
                    technique: self.technique_ctx[job.tech].clone(),
                    central: job.cluster.central.iter().map(text).collect(),
                    diverse: job.cluster.diverse.iter().map(text).collect(),
                    procedures: job.procedures.clone(),
                    accepted: job
                        .rows
                        .iter()
                        .rev()
                        .take(gen_cfg.accepted_per_prompt)
                        .map(|r| r.sample.text.clone())
                        .collect(),
                    examples: example_ids.iter().map(text).collect(),
                    n: per_request,
                    output: match gen_cfg.output {
                        OutputShape::Json => "json".into(),
                        OutputShape::Lines => "lines".into(),
                    },
                };
                let messages = self.template.render(&ctx)?;
                let seed = request_seed(
                    self.cfg.seed,
                    &self.technique_ctx[job.tech].id,
                    job.cluster.index,
                    slot,
                );
                let json_schema = (gen_cfg.json_schema && gen_cfg.output == OutputShape::Json)
                    .then(|| {
                        serde_json::json!({
                            "type": "array",
                            "items": {"type": "string", "minLength": 20, "maxLength": 400},
                            "minItems": per_request,
                            "maxItems": per_request,
                        })
                    });
                let request = ChatRequest {
                    messages,
                    seed,
                    json_schema,
                };
                let key = request_key(&self.cfg.llm, &request);
                out.push(Planned {
                    job: ji,
                    slot,
                    seed,
                    key,
                    request,
                    example_ids,
                });
            }
            job.sent += k;
        }
        Ok(out)
    }
}

/// The dry run: the first round's requests, the budgets, tokens and cost, in the report.
fn plan_only(
    planner: &Planner<'_>,
    jobs: &mut [ClusterJob<'_>],
    report: &mut RunReport,
) -> Result<(), PipelineError> {
    let llm_cfg = &planner.cfg.llm;
    let tech_id = |job: &ClusterJob<'_>| planner.technique_ctx[job.tech].id.clone();
    // The first round (over-asked); later rounds only replace rejects, up to the budget.
    let planned = planner.plan_round(jobs)?;
    let (mut prompt_tokens, mut completion_tokens) = (0u64, 0u64);
    for p in &planned {
        let chars: usize = p.request.messages.iter().map(|m| m.content.len()).sum();
        prompt_tokens += (chars / 4) as u64;
        completion_tokens += u64::from(llm_cfg.max_tokens);
        *report
            .planned_requests
            .entry(tech_id(&jobs[p.job]))
            .or_default() += 1;
    }
    for job in jobs.iter() {
        *report.request_budget.entry(tech_id(job)).or_default() += job.budget;
    }
    report.estimated_tokens = prompt_tokens + completion_tokens;
    report.estimated_cost = match (llm_cfg.price_per_1k_prompt, llm_cfg.price_per_1k_completion) {
        (None, None) => None,
        (p, c) => Some(
            p.unwrap_or(0.0) * prompt_tokens as f64 / 1000.0
                + c.unwrap_or(0.0) * completion_tokens as f64 / 1000.0,
        ),
    };
    Ok(())
}

/// The journal, whatever a panic elsewhere left in its lock (its state stays consistent:
/// every event is one appended line).
fn journal_lock(journal: &Mutex<Journal>) -> MutexGuard<'_, Journal> {
    journal.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Asks the journal, then the endpoint, for every planned request, `concurrency` at a time,
/// recording each finished request as it comes. `None`: not sent because the run is stopping.
/// A journal write failure returns at once (requests in flight are dropped; every answer
/// received before is on disk).
async fn ask_round(
    planned: &[Planned],
    client: &LlmClient,
    journal: &Mutex<Journal>,
    guard: &RunGuard<'_>,
) -> Result<Vec<Option<RequestOutcome>>, PipelineError> {
    use futures::StreamExt;
    let asks = planned.iter().enumerate().map(|(i, p)| async move {
        if let Some(o) = journal_lock(journal).lookup(&p.key) {
            return Ok::<_, PipelineError>((i, Some(o)));
        }
        if !guard.admit(client) {
            return Ok((i, None));
        }
        let result = client.complete(&p.request).await;
        guard.record(&result);
        let outcome = match result {
            Ok(c) => RequestOutcome::Answered {
                text: c.text,
                finish_reason: c.finish_reason,
                prompt_tokens: c.prompt_tokens,
                completion_tokens: c.completion_tokens,
                attempts: c.attempts,
            },
            Err(e) => RequestOutcome::Failed {
                error: error_chain(&e),
            },
        };
        journal_lock(journal).record_request(&p.key, &outcome)?;
        Ok((i, Some(outcome)))
    });
    // Unordered, so that one slow request does not hold back the others' slots; the
    // outcomes are put back in request order.
    let mut stream = futures::stream::iter(asks).buffer_unordered(client.config().concurrency);
    let mut out = vec![None; planned.len()];
    while let Some(done) = stream.next().await {
        let (i, outcome) = done?;
        out[i] = outcome;
    }
    Ok(out)
}

/// Where filtered answers go.
struct Sink<'a, 'b> {
    jobs: &'a mut [ClusterJob<'b>],
    reports: &'a mut [TechniqueReport],
    filter: &'a mut FilterIndex,
    rejected: &'a mut Vec<RejectedRow>,
    journal: &'a Mutex<Journal>,
}

/// Parses and filters a round's answers in request order; accepted rows go to their job.
fn take_answers(
    planner: &Planner<'_>,
    planned: &[Planned],
    outcomes: &[Option<RequestOutcome>],
    sink: &mut Sink<'_, '_>,
    embedder: &mut dyn Embedder,
    endpoint: &str,
    pb: &ProgressBar,
) -> Result<(), PipelineError> {
    let Sink {
        jobs,
        reports,
        filter,
        rejected,
        journal,
    } = sink;
    let technique_ctx = planner.technique_ctx;
    // Parse and cheap-check in request order, then embed the survivors in one batch.
    struct Candidate {
        plan: usize,
        text: String,
    }
    let mut candidates = Vec::new();
    for (pi, (p, outcome)) in planned.iter().zip(outcomes).enumerate() {
        let r = &mut reports[jobs[p.job].tech];
        let Some(outcome) = outcome else {
            continue;
        };
        r.requests += 1;
        let RequestOutcome::Answered { text, .. } = outcome else {
            continue;
        };
        let parsed = parse_sentences(text);
        let origin = Origin::Synthetic;
        for bad in &parsed.rejects {
            r.candidates += 1;
            let reason = RejectReason::Unparseable.as_str();
            reject(r, rejected, origin, &bad.text, reason, None);
        }
        for s in parsed.sentences {
            r.candidates += 1;
            match filter.pre_check(&s, &technique_ctx[jobs[p.job].tech].id) {
                Ok(text) => candidates.push(Candidate { plan: pi, text }),
                Err(reason) => reject(r, rejected, origin, &s, reason.as_str(), None),
            }
        }
    }
    let texts: Vec<&str> = candidates.iter().map(|c| c.text.as_str()).collect();
    let emb = tokio::task::block_in_place(|| embed_texts(embedder, &texts))?;
    for (ci, c) in candidates.into_iter().enumerate() {
        let p = &planned[c.plan];
        let job = &mut jobs[p.job];
        let technique = &technique_ctx[job.tech].id;
        let r = &mut reports[job.tech];
        let origin = Origin::Synthetic;
        if job.need() == 0 {
            reject(r, rejected, origin, &c.text, "over-target", None);
            continue;
        }
        // Accepted earlier in this same round by a near copy? check_embedded sees it.
        let (verdict, scores) = filter.check_embedded(emb.row(ci), technique);
        if let Err(reason) = verdict {
            reject(r, rejected, origin, &c.text, reason.as_str(), Some(scores));
            continue;
        }
        filter.accept(&c.text, emb.row(ci).to_owned());
        let Some(RequestOutcome::Answered {
            prompt_tokens,
            completion_tokens,
            ..
        }) = &outcomes[c.plan]
        else {
            continue;
        };
        r.added_synthetic += 1;
        let row_key = format!("{}#{}", p.key, job.rows.len());
        journal_lock(journal).record_accepted(&row_key, technique, &c.text)?;
        let cfg = planner.cfg;
        job.rows.push(NewRow {
            sample: Sample {
                id: 0,
                text: c.text,
                label: technique.clone(),
                group: None,
                origin: Origin::Synthetic,
            },
            provenance: Provenance {
                cluster: job.cluster.index,
                seed_ids: p.example_ids.clone(),
                scores,
                llm: Some(LlmProvenance {
                    template: planner.template.name().to_string(),
                    template_hash: planner.template.hash().to_string(),
                    model: cfg.llm.model.clone(),
                    endpoint: endpoint.to_string(),
                    temperature: cfg.llm.temperature,
                    seed: p.seed,
                    prompt_tokens: *prompt_tokens,
                    completion_tokens: *completion_tokens,
                    attempt: p.slot,
                    request: p.key.clone(),
                }),
            },
        });
        pb.inc(1);
    }
    journal_lock(journal).sync()?;
    Ok(())
}

/// What the journal header of a run says: the input rows and the settings that shape what is
/// asked and kept (not limits, pacing, targets, budgets, prices or the key's variable, so a
/// resume may change those).
pub fn journal_header(cfg: &Config, samples: &[Sample]) -> JournalHeader {
    let mut h = Sha256::new();
    for s in samples {
        for part in [&*s.text, &*s.label, s.group.as_deref().unwrap_or("")] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update([1]);
    }
    let input = hex::encode(h.finalize())[..16].to_string();
    let d = Config::default();
    let mut c = cfg.clone();
    c.generate = GenerateConfig {
        target: d.generate.target,
        techniques: Vec::new(),
        overask: d.generate.overask,
        max_requests_factor: d.generate.max_requests_factor,
        max_consecutive_failures: d.generate.max_consecutive_failures,
        max_requests: None,
        max_tokens_total: None,
        max_cost: None,
        ..c.generate
    };
    c.llm = LlmConfig {
        api_key_env: d.llm.api_key_env,
        concurrency: d.llm.concurrency,
        timeout_secs: d.llm.timeout_secs,
        max_retries: d.llm.max_retries,
        backoff_initial_ms: d.llm.backoff_initial_ms,
        backoff_max_ms: d.llm.backoff_max_ms,
        price_per_1k_prompt: None,
        price_per_1k_completion: None,
        ..c.llm
    };
    c.embed.progress = d.embed.progress;
    c.embed.cache = d.embed.cache;
    c.embed.cache_dir = None;
    c.local.threads = None;
    c.local.start_timeout_secs = d.local.start_timeout_secs;
    c.local.log_dir = None;
    let config = hex::encode(Sha256::digest(c.to_toml().as_bytes()))[..16].to_string();
    JournalHeader {
        synthcti: env!("CARGO_PKG_VERSION").to_string(),
        input,
        config,
    }
}

/// The LLM stage: plans requests per cluster in rounds, asks the journal then the endpoint,
/// filters answers in request order. Returns why it stopped early, if it did.
#[allow(clippy::too_many_arguments)]
async fn generate(
    cfg: &Config,
    opts: &AugmentOptions,
    catalog: &Catalog,
    prep: &Prepared,
    jobs: &mut [ClusterJob<'_>],
    reports: &mut [TechniqueReport],
    filter: &mut FilterIndex,
    rejected: &mut Vec<RejectedRow>,
    embedder: &mut dyn Embedder,
    report: &mut RunReport,
) -> Result<Option<StopReason>, PipelineError> {
    let gen_cfg = &cfg.generate;
    // `resolved()` has filled these in.
    let template = PromptTemplate::load(gen_cfg.template.as_deref().unwrap_or("local-one"))?;
    let per_request = gen_cfg.sentences_per_request.unwrap_or(1);
    report.template = Some((template.name().to_string(), template.hash().to_string()));
    for job in jobs.iter_mut() {
        let need = job.need();
        job.budget = if need == 0 {
            0
        } else {
            // factor × the requests the need takes (at least one)
            ((need as f64 / per_request as f64).ceil() * gen_cfg.max_requests_factor).ceil()
                as usize
        };
    }
    let technique_ctx: Vec<TechniqueContext> = prep
        .clusters
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
        .collect();
    let planner = Planner {
        cfg,
        template: &template,
        per_request,
        samples: &prep.dataset.samples,
        technique_ctx: &technique_ctx,
    };
    if opts.dry_run {
        plan_only(&planner, jobs, report)?;
        return Ok(None);
    }

    std::fs::create_dir_all(&opts.output_dir).map_err(|source| PipelineError::OutputDir {
        path: opts.output_dir.clone(),
        source,
    })?;
    let journal = Mutex::new(Journal::open(
        &opts.output_dir.join("journal.jsonl"),
        &journal_header(cfg, &prep.dataset.samples),
        opts.resume,
        opts.overwrite,
    )?);

    // Endpoint: the configured one, or the local server started (and stopped) here.
    let server = match &cfg.llm.base_url {
        Some(_) => None,
        None => Some(LocalServer::start(&cfg.local).await?),
    };
    let base_url = match (&server, &cfg.llm.base_url) {
        (Some(s), _) => s.base_url().to_string(),
        (None, url) => url.clone().unwrap_or_default(),
    };
    let client = LlmClient::new(&cfg.llm, &base_url)?;
    let endpoint = client.endpoint_host();
    let guard = RunGuard::new(gen_cfg, endpoint.clone(), server.as_ref());

    let t = Instant::now();
    let total_need: usize = jobs.iter().map(ClusterJob::need).sum();
    let pb = progress_bar(opts.progress, total_need as u64, "generate");
    let mut sink = Sink {
        jobs,
        reports,
        filter,
        rejected,
        journal: &journal,
    };
    loop {
        let planned = planner.plan_round(sink.jobs)?;
        if planned.is_empty() {
            break;
        }
        let outcomes = ask_round(&planned, &client, &journal, &guard).await?;
        take_answers(
            &planner, &planned, &outcomes, &mut sink, embedder, &endpoint, &pb,
        )?;
        if guard.stopped() {
            break;
        }
    }
    pb.finish_and_clear();
    let elapsed = t.elapsed().as_secs_f64();
    report.stage_seconds.insert("generate".into(), elapsed);
    let replayed = journal_lock(&journal).replayed();
    let summary = guard.finish();
    report.llm = Some(llm_usage(cfg, &client, &summary, replayed, elapsed));
    let missing = sink.jobs.iter().any(|j| j.need() > 0);
    Ok(summary.stop.or_else(|| {
        (missing && summary.failed > 0).then_some(StopReason::RequestsFailed {
            failed: summary.failed,
        })
    }))
}

/// The LLM totals of a run.
fn llm_usage(
    cfg: &Config,
    client: &LlmClient,
    summary: &GuardSummary,
    replayed: usize,
    elapsed: f64,
) -> LlmUsage {
    let stats = client.stats();
    LlmUsage {
        model: cfg.llm.model.clone(),
        endpoint: client.endpoint_host(),
        requests: stats.calls,
        answered: stats.successes,
        not_sent: summary.not_sent,
        replayed,
        retries: stats.retries,
        failed: stats.failures,
        failed_by: summary.failed_by.clone(),
        attempts: stats.requests,
        timeouts: stats.timeouts,
        invalid_responses: stats.invalid_responses,
        http_errors: stats.http_errors,
        transport_errors: stats.transport_errors,
        rate_limited: stats.rate_limited,
        truncated: stats.truncated,
        prompt_tokens: stats.prompt_tokens,
        completion_tokens: stats.completion_tokens,
        tokens_per_second: stats.completion_tokens as f64 / elapsed.max(1e-9),
        cost: stats.cost_usd,
    }
}

/// The journal key of a request: a hash of everything that shapes its answer.
fn request_key(llm: &LlmConfig, req: &ChatRequest) -> String {
    let body = serde_json::json!({
        "model": llm.model,
        "base_url": llm.base_url,
        "temperature": llm.temperature,
        "top_p": llm.top_p,
        "max_tokens": llm.max_tokens,
        "extra": llm.extra_body,
        "seed": req.seed,
        "messages": req.messages.iter().map(|m| (format!("{:?}", m.role), &m.content)).collect::<Vec<_>>(),
        "schema": req.json_schema,
    });
    hex::encode(Sha256::digest(body.to_string().as_bytes()))[..24].to_string()
}

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
    fn targets() {
        let counts: BTreeMap<String, usize> = [("a", 4), ("b", 10), ("c", 30), ("d", 100)]
            .into_iter()
            .map(|(k, v)| (k.into(), v))
            .collect();
        let sel = vec!["a".to_string(), "b".to_string()];
        assert_eq!(rows_to_add(&counts, &sel, Target::ToMedian)["a"], 16);
        assert_eq!(rows_to_add(&counts, &sel, Target::ToMax)["b"], 90);
        assert_eq!(rows_to_add(&counts, &sel, Target::Ratio(0.5))["b"], 5);
        assert_eq!(rows_to_add(&counts, &sel, Target::Absolute(7))["a"], 7);
    }

    #[test]
    fn request_seeds_are_stable_and_distinct() {
        assert_eq!(request_seed(1, "T1", 0, 0), request_seed(1, "T1", 0, 0));
        assert_ne!(request_seed(1, "T1", 0, 0), request_seed(1, "T1", 0, 1));
        assert_ne!(request_seed(1, "T1", 0, 0), request_seed(2, "T1", 0, 0));
    }
}
