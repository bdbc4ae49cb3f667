//! Wiring only: data → embed → cluster → (procedures) → plan → fetch → accept → output.
//!
//! Each stage is its own module with typed hand-offs (`embed`, `cluster`, `generate::{plan,
//! fetch, accept, procedures}`, `output`, `report`); this file reads the input, calls them in
//! order, and writes what they return.

mod pages;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array1, Array2, Axis};

use crate::catalog::{Catalog, Procedures, Resolution};
use crate::cluster::{ClusterError, TechniqueClusters, cluster_technique, normalized_mean};
use crate::config::{ConfigError, ValidConfig};
use crate::data::{
    DataError, Dataset, ReadOptions, Sample, UnknownLabels, read_dataset, read_samples,
};
use crate::embed::{EmbedError, EmbedService};
use crate::filter::FilterIndex;
use crate::generate::GenerateError;
pub use crate::generate::LlmRun;
use crate::generate::contrast::add_contrasts;
use crate::generate::plan::cluster_jobs;
use crate::generate::procedures::add_procedures;
use crate::generate::{Acceptor, ClusterJob, RejectedRow, StageInput, llm_stage};
use crate::journal::{JOURNAL_FILE, JournalError, RunDir, sync_dir};
use crate::learn::probe::TextClassifier;
use crate::outcome::RunOutcome;
use crate::output::{NewRow, OutputError, jsonl_bytes, jsonl_of, native_bytes, write_file};
use crate::report::{RunReport, Stage, StageTimings};
use crate::stats::{DatasetStats, dataset_stats, label_counts, under_represented};
use crate::technique::TechniqueId;

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
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Writing outputs failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The generation stage failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A technique asked for is not in the data.
    #[error("{path}: technique {technique} has no rows (techniques in the file: {known})")]
    NoSuchTechnique {
        /// The input file.
        path: PathBuf,
        /// The id asked for.
        technique: TechniqueId,
        /// A few ids that exist.
        known: String,
    },
    /// `filter.classifier_top_k` is set but the data cannot train the classifier.
    #[error("cannot train the consistency classifier (filter.classifier_top_k > 0)")]
    Classifier(#[source] crate::learn::LearnError),
    /// Could not create the output directory.
    #[error("cannot create the output directory {path}")]
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
            PipelineError::Journal(e) => e.is_run_failure(),
            PipelineError::Generate(e) => e.is_run_failure(),
            PipelineError::Output(_) | PipelineError::OutputDir { .. } => true,
            _ => false,
        }
    }
}

/// The embeddings, centroids and clusters of a dataset's selected techniques.
pub struct Prepared {
    /// One L2-normalised embedding row per sample.
    pub embeddings: Array2<f32>,
    /// Centroid of every technique in the data.
    pub centroids: Vec<(TechniqueId, Array1<f32>)>,
    /// Clusters of the selected techniques, rarest first.
    pub clusters: Vec<TechniqueClusters>,
    /// Wall seconds per stage.
    pub stage_seconds: StageTimings,
}

/// Reads a dataset (with its raw records, to write it back in its own format) and computes
/// its stats.
pub fn load(
    input: &Path,
    cfg: &ValidConfig,
    catalog: &Catalog,
) -> Result<(Dataset, DatasetStats), PipelineError> {
    with_stats(read_dataset(input, &cfg.input, catalog)?, cfg, catalog)
}

/// [`load`] without the raw records (`stats`, `clusters`, `eval`, `export`: nothing is
/// written in the input's format), so the rows are held once.
pub fn load_samples(
    input: &Path,
    cfg: &ValidConfig,
    catalog: &Catalog,
) -> Result<(Dataset, DatasetStats), PipelineError> {
    with_stats(read_samples(input, &cfg.input, catalog)?, cfg, catalog)
}

fn with_stats(
    ds: Dataset,
    cfg: &ValidConfig,
    catalog: &Catalog,
) -> Result<(Dataset, DatasetStats), PipelineError> {
    let st = dataset_stats(&ds, catalog, cfg.policy);
    Ok((ds, st))
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
    Ok(read_samples(path, &opts, catalog)?
        .samples
        .into_iter()
        .map(|s| s.text)
        .collect())
}

/// The techniques to augment, rarest first: `only` (spelled as the data spells labels:
/// upper-cased, revoked ids remapped, no repeats), else the under-represented ones.
fn select_techniques(
    samples: &[Sample],
    cfg: &ValidConfig,
    only: &[String],
    input: &Path,
    catalog: &Catalog,
) -> Result<Vec<TechniqueId>, PipelineError> {
    let counts = label_counts(samples);
    if only.is_empty() {
        let (mut under, _) = under_represented(&counts, cfg.policy);
        under.sort_by(|a, b| counts[a].cmp(&counts[b]).then(a.cmp(b)));
        return Ok(under);
    }
    let mut wanted: Vec<TechniqueId> = Vec::new();
    for raw in only {
        let id = TechniqueId::parse(raw).unwrap_or_else(|| raw.trim().into());
        let id = match catalog.resolve(&id) {
            Resolution::Remapped(to) => to,
            _ => id,
        };
        if !counts.contains_key(&id) {
            let known = counts.keys().take(8).cloned().collect::<Vec<_>>();
            return Err(PipelineError::NoSuchTechnique {
                path: input.to_path_buf(),
                technique: id,
                known: known.join(", "),
            });
        }
        if !wanted.contains(&id) {
            wanted.push(id);
        }
    }
    Ok(wanted)
}

/// Embeds and clusters `samples` (read from `input`, named in errors). `only` restricts
/// clustering to these techniques (any technique of the data); empty means every
/// under-represented one.
pub async fn prepare(
    samples: &[Sample],
    input: &Path,
    cfg: &ValidConfig,
    only: &[String],
    embed: &EmbedService,
) -> Result<Prepared, PipelineError> {
    let catalog = Catalog::bundled();
    let selected = select_techniques(samples, cfg, only, input, catalog)?;
    let mut stage_seconds = StageTimings::new();
    let t = Instant::now();
    let texts = samples.iter().map(|s| s.text.clone()).collect();
    let embeddings = embed.embed(texts).await?;
    stage_seconds.insert(Stage::Embed, t.elapsed().as_secs_f64());

    let t = Instant::now();
    let mut rows_of: BTreeMap<&TechniqueId, Vec<usize>> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        rows_of.entry(&s.label).or_default().push(i);
    }
    let centroids = rows_of
        .iter()
        .map(|(id, rows)| {
            let mean = normalized_mean(embeddings.select(Axis(0), rows).view());
            ((*id).clone(), mean)
        })
        .collect();
    let clusters = selected
        .iter()
        .map(|id| {
            let rows = &rows_of[id];
            let x = embeddings.select(Axis(0), rows);
            cluster_technique(id, rows, x.view(), &cfg.cluster, cfg.seed)
        })
        .collect::<Result<Vec<_>, _>>()?;
    stage_seconds.insert(Stage::Cluster, t.elapsed().as_secs_f64());
    Ok(Prepared {
        embeddings,
        centroids,
        clusters,
        stage_seconds,
    })
}

/// What `augment` is asked to do besides the configuration.
#[derive(Debug, Clone, Default)]
pub struct AugmentOptions {
    /// Where and how the run goes: output directory (the journal's too), resume or
    /// overwrite, dry run, progress, offline batch files.
    pub run: LlmRun,
    /// Sentences that new rows must not duplicate, exactly or nearly (e.g. a test split).
    pub avoid: Vec<String>,
    /// Rows to add per technique, overriding the configured target and selection.
    pub targets: Option<BTreeMap<TechniqueId, usize>>,
    /// The configuration file given, recorded in the report.
    pub config_file: Option<PathBuf>,
}

/// The outcome of [`augment_samples`].
pub struct Augmented {
    /// Accepted rows: technique order (rarest first), cluster order, acceptance order.
    pub rows: Vec<NewRow>,
    /// Rejected candidates with their reason.
    pub rejected: Vec<RejectedRow>,
    /// The run report.
    pub report: RunReport,
    /// The embeddings, centroids and clusters the run worked from.
    pub prepared: Prepared,
}

/// Refuses to write over a finished run (any source) unless resuming or overwriting.
fn check_previous_run(cfg: &ValidConfig, opts: &AugmentOptions) -> Result<(), PipelineError> {
    if opts.run.resume || opts.run.overwrite {
        return Ok(());
    }
    let dir = &opts.run.dir;
    let journal = dir.join(JOURNAL_FILE);
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

/// The run's output directory, created and locked (none on a dry run, which writes
/// nothing); the stages below write into it while it is held.
fn lock_output(opts: &AugmentOptions) -> Result<Option<RunDir>, PipelineError> {
    match opts.run.dry_run {
        true => Ok(None),
        false => Ok(Some(RunDir::create(&opts.run.dir)?)),
    }
}

/// Reads `input`, augments it and writes the output directory, holding the directory's lock
/// throughout. Returns the report; an incomplete run (see [`RunReport::outcome`]) still
/// writes its rows and report.
pub async fn augment(
    input: &Path,
    cfg: &ValidConfig,
    opts: &AugmentOptions,
    embed: &EmbedService,
) -> Result<RunReport, PipelineError> {
    let _lock = lock_output(opts)?;
    if !opts.run.dry_run {
        check_previous_run(cfg, opts)?;
    }
    let started = Instant::now();
    let catalog = Catalog::bundled();
    let t = Instant::now();
    let (dataset, _) = load(input, cfg, catalog)?;
    let read = t.elapsed().as_secs_f64();
    let Augmented {
        rows,
        rejected,
        mut report,
        prepared,
    } = augment_unlocked(&dataset.samples, &dataset.path, cfg, opts, embed).await?;
    report.stage_seconds.insert(Stage::Read, read);
    report.input_cleaning = dataset.cleaning;
    if !opts.run.dry_run {
        let t = Instant::now();
        write_outputs(&dataset, &rows, &rejected, &opts.run.dir, catalog)?;
        report
            .stage_seconds
            .insert(Stage::Write, t.elapsed().as_secs_f64());
        report.wall_seconds = started.elapsed().as_secs_f64();
        write_report(&report, &opts.run.dir)?;
        let view = pages::RunView {
            report: &report,
            samples: &dataset.samples,
            prepared: &prepared,
            rows: &rows,
            rejected: &rejected,
        };
        // The page is a view of what is already written: it never fails the run.
        if let Err(e) = pages::write_run_page(&view, embed, &cfg.embed.model, &opts.run.dir).await {
            tracing::warn!("report.html not written: {}", crate::error_chain(&e));
        }
    }
    Ok(report)
}

/// `augmented.<ext>` (the input's own format), `augmented.jsonl` and `rejected.jsonl`.
fn write_outputs(
    dataset: &Dataset,
    rows: &[NewRow],
    rejected: &[RejectedRow],
    dir: &Path,
    catalog: &Catalog,
) -> Result<(), PipelineError> {
    let native = dir.join(format!("augmented.{}", dataset.format.extension()));
    // augmented.jsonl is always written; a JSONL input's own format is that same name, so
    // its native copy goes to augmented.native.jsonl.
    let native = match native.extension().is_some_and(|e| e == "jsonl") {
        true => dir.join("augmented.native.jsonl"),
        false => native,
    };
    write_file(&native, &native_bytes(dataset, rows, catalog)?)?;
    write_file(
        &dir.join("augmented.jsonl"),
        &jsonl_bytes(&dataset.samples, rows),
    )?;
    write_file(&dir.join("rejected.jsonl"), &jsonl_of(rejected)?)?;
    Ok(())
}

/// `report.json` and `report.md`, then the directory synced.
fn write_report(report: &RunReport, dir: &Path) -> Result<(), PipelineError> {
    let json = serde_json::to_vec_pretty(report).unwrap_or_default();
    write_file(&dir.join("report.json"), &json)?;
    write_file(&dir.join("report.md"), report.to_markdown().as_bytes())?;
    sync_dir(dir).map_err(|source| PipelineError::OutputDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Augments rows in memory (`input` names them in errors and the report): embeds, clusters,
/// adds procedure examples and LLM rows through the filters. Returns the new rows
/// (technique, cluster, acceptance order) and the report; writes only the journal (none on a
/// dry run), holding the output directory's lock.
pub async fn augment_samples(
    samples: &[Sample],
    input: &Path,
    cfg: &ValidConfig,
    opts: &AugmentOptions,
    embed: &EmbedService,
) -> Result<Augmented, PipelineError> {
    let _lock = lock_output(opts)?;
    augment_unlocked(samples, input, cfg, opts, embed).await
}

/// The report's header: version, paths, the configuration (endpoint redacted).
fn report_header(
    input: &Path,
    cfg: &ValidConfig,
    opts: &AugmentOptions,
    rows_before: usize,
) -> RunReport {
    let mut recorded = (**cfg).clone();
    recorded.llm = cfg.llm.redacted();
    RunReport {
        version: env!("CARGO_PKG_VERSION").into(),
        input: input.display().to_string(),
        output_dir: opts.run.dir.display().to_string(),
        dry_run: opts.run.dry_run,
        config_file: opts.config_file.as_ref().map(|p| p.display().to_string()),
        config: recorded.to_toml(),
        rows_before,
        ..Default::default()
    }
}

/// [`augment_samples`] for a caller that holds the lock.
async fn augment_unlocked(
    samples: &[Sample],
    input: &Path,
    cfg: &ValidConfig,
    opts: &AugmentOptions,
    embed: &EmbedService,
) -> Result<Augmented, PipelineError> {
    let started = Instant::now();
    let catalog = Catalog::bundled();
    let only: Vec<String> = match &opts.targets {
        Some(t) => t
            .iter()
            .filter(|&(_, &n)| n > 0)
            .map(|(id, _)| id.to_string())
            .collect(),
        None => cfg.generate.techniques.clone(),
    };
    let prep = prepare(samples, input, cfg, &only, embed).await?;
    let mut stage_seconds = prep.stage_seconds.clone();
    let counts = label_counts(samples);
    let selected: Vec<TechniqueId> = prep.clusters.iter().map(|c| c.technique.clone()).collect();
    let to_add = match &opts.targets {
        Some(t) => t.clone(),
        None => cfg.generate.target.rows_to_add(&counts, &selected),
    };
    let filter = filter_index(samples, cfg, opts, &prep, embed, &mut stage_seconds).await?;
    let (mut jobs, reports) = cluster_jobs(&prep.clusters, samples, &to_add, &counts, catalog);
    let mut acceptor = Acceptor::new(filter, reports);
    if cfg.generate.contrast {
        let (emb, centroids) = (&prep.embeddings, &prep.centroids);
        add_contrasts(
            &mut jobs, &selected, samples, emb, centroids, catalog, &acceptor,
        );
    }
    let stage = StageInput {
        cfg,
        samples,
        clusters: &prep.clusters,
        catalog,
        embed,
    };
    let t = Instant::now();
    add_procedures(&stage, Procedures::bundled(), &mut jobs, &mut acceptor).await?;
    stage_seconds.insert(Stage::Procedures, t.elapsed().as_secs_f64());

    let mut report = report_header(input, cfg, opts, samples.len());
    let mut stop = None;
    if cfg.generate.source.uses_llm() && jobs.iter().any(|j| j.need() > 0) {
        let run = &opts.run;
        let llm = llm_stage(&stage, run, &mut jobs, &mut acceptor).await?;
        report.template = Some(llm.template);
        if let Some(plan) = llm.plan {
            report.planned_requests = plan.planned_requests;
            report.request_budget = plan.request_budget;
            report.estimated_tokens = plan.prompt_tokens.saturating_add(plan.completion_tokens);
            report.estimated_cost = plan.cost;
        }
        if llm.usage.is_some() {
            stage_seconds.insert(Stage::Generate, llm.seconds);
        }
        report.llm = llm.usage;
        report.redaction = llm.redaction;
        stop = llm.stop;
    }
    let (reports, rejected) = acceptor.finish();
    let rows = finish_report(&mut report, reports, &jobs, samples.len(), stop);
    report.stage_seconds = stage_seconds;
    report.wall_seconds = started.elapsed().as_secs_f64();
    Ok(Augmented {
        rows,
        rejected,
        report,
        prepared: prep,
    })
}

/// Collects the rows (technique order, rarest first; cluster order; acceptance order),
/// numbers them after the `rows_before` originals, and fills in the report's totals and
/// outcome.
/// The filter index over the original rows, the `--avoid` rows (e.g. a test split) and the
/// technique centroids, with the consistency classifier.
async fn filter_index(
    samples: &[Sample],
    cfg: &ValidConfig,
    opts: &AugmentOptions,
    prep: &Prepared,
    embed: &EmbedService,
    stage_seconds: &mut StageTimings,
) -> Result<FilterIndex, PipelineError> {
    let t = Instant::now();
    let avoid_emb = embed.embed(opts.avoid.clone()).await?;
    let avoid_texts: Vec<&str> = opts.avoid.iter().map(String::as_str).collect();
    let orig_texts: Vec<&str> = samples.iter().map(|s| s.text.as_str()).collect();
    let filter = FilterIndex::new(
        cfg.filter.clone(),
        (&orig_texts, prep.embeddings.clone()),
        (&avoid_texts, avoid_emb),
        prep.centroids.clone(),
    );
    stage_seconds.insert(Stage::Avoid, t.elapsed().as_secs_f64());
    if opts.run.dry_run && cfg.filter.classifier_top_k == 0 {
        // Only provenance would use it: a dry run writes no rows.
        return Ok(filter);
    }
    let t = Instant::now();
    let filter = with_classifier(filter, samples, cfg)?;
    stage_seconds.insert(Stage::Classifier, t.elapsed().as_secs_f64());
    Ok(filter)
}

/// The filter index with the consistency classifier trained on `samples`; without it when
/// the data cannot train one (one technique) and the filter is off.
fn with_classifier(
    filter: FilterIndex,
    samples: &[Sample],
    cfg: &ValidConfig,
) -> Result<FilterIndex, PipelineError> {
    match TextClassifier::fit(samples) {
        Ok(c) => Ok(filter.with_classifier(c)),
        Err(e) if cfg.filter.classifier_top_k == 0 => {
            tracing::debug!("no consistency classifier: {e}");
            Ok(filter)
        }
        Err(source) => Err(PipelineError::Classifier(source)),
    }
}

fn finish_report(
    report: &mut RunReport,
    mut reports: Vec<crate::report::TechniqueReport>,
    jobs: &[ClusterJob<'_>],
    rows_before: usize,
    stop: Option<crate::outcome::StopReason>,
) -> Vec<NewRow> {
    let mut rows: Vec<NewRow> = Vec::new();
    for (ti, r) in reports.iter_mut().enumerate() {
        for job in jobs.iter().filter(|j| j.tech == ti) {
            rows.extend(job.rows.iter().cloned());
        }
        r.after = r.before + r.added_procedures + r.added_synthetic;
    }
    for (i, row) in rows.iter_mut().enumerate() {
        row.sample.id = rows_before + i;
    }
    for row in &rows {
        let rank = row.provenance.scores.classifier_rank;
        report.on_label.count(row.sample.origin, rank);
    }
    report.rows_after = rows_before + rows.len();
    report.accepted = rows.len();
    report.candidates = reports.iter().map(|r| r.candidates).sum();
    for r in &reports {
        for (&reason, n) in &r.rejected {
            *report.rejected.entry(reason).or_default() += n;
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
    rows
}
