//! The command line: clap derive types and the thin `run` that calls the library.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

mod desensitize;

pub use desensitize::{IocsArgs, RedactArgs};
use desensitize::{run_iocs, run_redact};

use crate::catalog::Catalog;
use crate::config::{Config, Source, Target, ValidConfig};
use crate::data::{CtiLevel, Format, UnknownLabels};
use crate::embed::{EmbedService, Embedder, ModelSource, open_embedder};
use crate::eval::arms::PipelineArm;
use crate::eval::baselines::{Augmenter, ClassReweight, EdaAugmenter, RandomOversampler};
use crate::eval::leak::LeakPolicy;
use crate::eval::report::{folds_csv, markdown, write_results};
use crate::eval::sweep::{Design, Metric, Pair, Primary, SweepConfig, run_sweep};
use crate::export::{ExportConfig, ExportFormat, export_dataset};
use crate::learn::probe::{ProbeConfig, ProbeFeatures};
use crate::learn::tfidf::Analyzer;
use crate::llm::EndpointConfig;
use crate::outcome::IncompleteRun;
use crate::pipeline::{AugmentOptions, augment, load_samples, prepare, read_avoid};
use crate::stats::{UnderPolicy, render_table};

/// Balance CTI datasets with synthetic sentences for under-represented ATT&CK techniques.
#[derive(Debug, Parser)]
#[command(name = "synthcti", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log level filter (error, warn, info, debug, trace); `RUST_LOG` works too.
    #[arg(long, global = true, default_value = "info")]
    pub log: String,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Per-technique counts, shares, the under-represented set, duplicates and conflicts.
    Stats(StatsArgs),
    /// Clusters of the under-represented techniques (or of `--technique`) with their central
    /// and diverse sentences.
    Clusters(ClustersArgs),
    /// Generate, filter and write the augmented dataset with provenance and a report.
    Augment(Box<AugmentArgs>),
    /// Leak-free measurement of what augmentation buys: grouped k-fold × seeds × ratios,
    /// synthcti arms against oversampling, EDA and ATT&CK procedure examples.
    Eval(Box<EvalArgs>),
    /// Split an (augmented) dataset by group into train/validation/test for fine-tuning.
    Export(ExportArgs),
    /// The indicators (IPs, domains, URLs, e-mail addresses, hashes, paths, registry keys,
    /// wallet addresses) in each row's text, defanged forms refanged.
    Iocs(IocsArgs),
    /// A desensitized copy of a dataset in its own format, with a private mapping (0600)
    /// that reverses it.
    Redact(RedactArgs),
}

/// An augmentation arm of `synthcti eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArmKind {
    /// Random oversampling (duplicates of training rows).
    Oversample,
    /// EDA perturbations (synonym swap, insertion, swap, deletion).
    Eda,
    /// Real ATT&CK procedure examples through the synthcti filters.
    Procedures,
    /// LLM sentences only (synthcti).
    Llm,
    /// Procedure examples first, LLM sentences for the rest (synthcti default).
    Both,
    /// LLM rewrites of ATT&CK procedure examples (synthcti `source = "rewrite"`).
    Rewrite,
    /// Procedure examples first, then LLM rewrites of them (`source = "both-rewrite"`).
    BothRewrite,
    /// Class-balanced loss weights on the original rows (no rows added).
    Reweight,
}

impl ArmKind {
    /// The arm's name in tables and plots.
    pub fn name(self) -> &'static str {
        match self {
            Self::Oversample => "oversample",
            Self::Eda => "eda",
            Self::Procedures => "procedures",
            Self::Llm => "synthcti-llm",
            Self::Both => "synthcti-both",
            Self::Rewrite => "synthcti-rewrite",
            Self::BothRewrite => "synthcti-both-rewrite",
            Self::Reweight => "reweight",
        }
    }
}

/// `NAME=FILE` → an arm name and its configuration file.
fn parse_arm_config(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, file))
            if !name.trim().is_empty()
                && !file.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
        {
            Ok((name.to_string(), PathBuf::from(file)))
        }
        _ => Err(format!(
            "{s:?}: expected NAME=FILE with NAME of letters, digits, '-', '_' or '.'"
        )),
    }
}

/// `char:2-5`, `word:1-2` or `word:1` → a TF-IDF analyzer.
fn parse_features(s: &str) -> Result<Analyzer, String> {
    let bad = || format!("{s:?}: expected char:MIN-MAX, word:MIN-MAX or word:N (e.g. char:2-5)");
    let (kind, range) = s.split_once(':').ok_or_else(bad)?;
    let (lo, hi) = range.split_once('-').unwrap_or((range, range));
    let (min_n, max_n): (usize, usize) = (
        lo.trim().parse().map_err(|_| bad())?,
        hi.trim().parse().map_err(|_| bad())?,
    );
    if min_n == 0 || max_n < min_n || max_n > 10 {
        return Err(format!(
            "{s:?}: the n-gram range must satisfy 1 ≤ min ≤ max ≤ 10"
        ));
    }
    match kind.trim() {
        "char" => Ok(Analyzer::Char { min_n, max_n }),
        "word" => Ok(Analyzer::Word { min_n, max_n }),
        _ => Err(bad()),
    }
}

/// The probe classifier of `synthcti eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeKind {
    /// TF-IDF (`--features`, default character 2–5-grams) + linear SVM.
    Tfidf,
    /// Sentence embeddings + logistic regression.
    Embedding,
}

/// `synthcti eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub embed: EmbedArgs,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Output directory: results.md, results.csv, results.json, plot.png, plot.svg.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Multiples of each label's deficit to the target to add (comma-separated; 0 is
    /// `none`, the no-augmentation run every arm is paired with, which always runs).
    #[arg(long, value_delimiter = ',', default_value = "0,0.5,1,2")]
    pub ratios: Vec<f64>,
    /// Folds per seed.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Split seeds (comma-separated); each gives different folds.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    pub seeds: Vec<u64>,
    /// Smoke run: 3 folds × seed 0 (overrides --folds and --seeds).
    #[arg(long)]
    pub quick: bool,
    /// Hide the progress bar over folds (a log line per fold instead).
    #[arg(long)]
    pub no_progress: bool,
    /// The arm every other arm is also compared with, paired per fold × seed
    /// (default: oversample, when it runs).
    #[arg(long, value_enum)]
    pub reference_arm: Option<ArmKind>,
    /// How comparisons between arms are built: `fill` (each arm adds what it can toward
    /// the target) or `equal` (each compared pair capped per label at the fewer rows of
    /// the two, for that pair only).
    #[arg(long, default_value = "fill")]
    pub design: Design,
    /// More comparisons `ARM:BASE` (comma-separated; arm names as in --arms, e.g.
    /// `both:oversample`).
    #[arg(long, value_delimiter = ',')]
    pub compare: Vec<Pair>,
    /// The primary comparison `ARM:BASE`, tested alone; every other interval is
    /// Holm-adjusted (default: `both:procedures` when both run; `none`: no primary).
    #[arg(long)]
    pub primary: Option<String>,
    /// The ratio of the primary comparison.
    #[arg(long, default_value_t = 1.0)]
    pub primary_ratio: f64,
    /// The score of the primary comparison: `rare` (rare-class macro-F1) or `macro`.
    #[arg(long, default_value = "rare", value_parser = parse_metric)]
    pub primary_metric: Metric,
    /// TF-IDF features of the probe: `char:2-5`, `word:1-2`, `word:1`, … (`kind:min-max`).
    #[arg(long, default_value = "char:2-5", value_parser = parse_features)]
    pub features: Analyzer,
    /// Also write the folds (seed, row, fold, dropped, label, text, group) as CSV, so the
    /// same folds can be rerun elsewhere (`scripts/sklearn_folds.py`).
    #[arg(long, value_name = "FILE")]
    pub save_folds: Option<PathBuf>,
    /// Arms to compare (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "oversample,eda,procedures,llm"
    )]
    pub arms: Vec<ArmKind>,
    /// A synthcti arm with its own configuration file (repeatable), `NAME=FILE`: e.g.
    /// `contrast=contrast.toml`; the file's `generate.source` is the arm's source, and this
    /// command's embedding and LLM flags apply on top. Compares configurations on the same
    /// folds.
    #[arg(long = "arm-config", value_name = "NAME=FILE", value_parser = parse_arm_config)]
    pub arm_configs: Vec<(String, PathBuf)>,
    /// Loss weights of added rows to cross with the ratios (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub synthetic_weights: Vec<f32>,
    /// Probe classifier.
    #[arg(long, value_enum, default_value = "tfidf")]
    pub probe: ProbeKind,
    /// Classes with at most this many training rows count as rare.
    #[arg(long, default_value_t = 30)]
    pub rare_threshold: usize,
    /// Per-label target the deficit is measured to: `median`, `max`, a number of rows, or any
    /// augment target (`to-count:N`, `ratio:R`, `absolute:N`).
    #[arg(long, default_value = "median", value_parser = eval_target)]
    pub target: Target,
    /// Keep test rows that copy a training row (exact, contained or embedding near copies).
    #[arg(long)]
    pub keep_test_duplicates: bool,
}

/// The synthcti arms' on-label rates, filter rejections and configurations.
fn pipeline_arms_markdown(arms: &[PipelineArm], files: &[(String, PathBuf)]) -> String {
    use crate::report::OnLabel;
    let mut md = String::from("\n## synthcti arms: on-label rate over all folds and ratios\n\n");
    md.push_str("Rows whose technique a TF-IDF (char 2–5) + linear SVM trained on the fold's training part ranks first.\n\n| arm | LLM requests | LLM rows | procedure rows |\n|---|---:|---:|---:|\n");
    for arm in arms {
        let o = arm.on_label();
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            arm.name(),
            arm.llm_requests(),
            OnLabel::rate(o.synthetic_on_label, o.synthetic),
            OnLabel::rate(o.procedures_on_label, o.procedures),
        ));
    }
    md.push_str("\n## synthcti arms: filter rejections over all folds and ratios\n\n");
    md.push_str("The avoid set of every fold is its test part: `*-avoid` rows are test sentences (exact, contained or near copies) that the filter kept out of training before the leak screen.\n\n| arm | reason | rows |\n|---|---|---:|\n");
    for arm in arms {
        for (reason, n) in arm.rejected() {
            md.push_str(&format!("| {} | {reason} | {n} |\n", arm.name()));
        }
    }
    md.push_str("\n## synthcti arms: configurations\n");
    for arm in arms {
        let file = files.iter().find(|(n, _)| n == arm.name());
        let from = file.map_or("--config and flags".to_string(), |(_, p)| {
            p.display().to_string()
        });
        md.push_str(&format!(
            "\n### {} ({from})\n\n```toml\n{}```\n",
            arm.name(),
            arm.config().to_toml()
        ));
    }
    md
}

/// `synthcti export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output directory.
    #[arg(long, short)]
    pub output: PathBuf,
    /// `chat-jsonl` (train/validation/test.jsonl with system/user/assistant messages),
    /// `jsonl` or `csv` (one file with a `split` column).
    /// `instruct`: train/validation/test.jsonl of classify, explain, generate and extract
    /// chats (see `--tasks`).
    #[arg(long = "to", value_enum, default_value = "chat-jsonl")]
    pub to: ExportFormat,
    /// The tasks of `--to instruct`.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "classify,explain,generate,extract"
    )]
    pub tasks: Vec<crate::export::Task>,
    /// Fractions of the original rows (by group) for train, validation, test.
    #[arg(long, value_delimiter = ',', default_value = "0.8,0.1,0.1")]
    pub fractions: Vec<f64>,
}

/// Options shared by every command that reads a dataset.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The dataset (TRAM JSON, CTI-to-MITRE CSV, generic CSV or JSONL).
    #[arg(long, short)]
    pub input: PathBuf,
    /// TOML configuration; flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Input format (detected from the file when omitted).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Text column of generic CSV/JSONL (default `text`).
    #[arg(long)]
    pub text_col: Option<String>,
    /// Label column of generic CSV/JSONL (default `label`).
    #[arg(long)]
    pub label_col: Option<String>,
    /// Group (report) column, used for leak-free splits (default `doc_title`, else `group`, if present).
    #[arg(long)]
    pub group_col: Option<String>,
    /// CTI-to-MITRE label level.
    #[arg(long, value_enum)]
    pub cti_level: Option<CtiLevel>,
    /// What to do with labels that are not active ATT&CK techniques.
    #[arg(long, value_enum)]
    pub unknown_labels: Option<UnknownLabels>,
    /// Under-represented policy: `median` (below the median count), `below:N`, `quantile:Q`.
    #[arg(long)]
    pub policy: Option<UnderPolicy>,
    /// Seed of every random choice.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Embedding model options.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Local sentence-transformers ONNX model directory (default: the one `scripts/setup.sh`
    /// installs under `$SYNTHCTI_HOME`).
    #[arg(long)]
    pub embed_model_dir: Option<PathBuf>,
    /// A fastembed model name instead (needs internet once, e.g. `BAAI/bge-small-en-v1.5`).
    #[arg(long, conflicts_with = "embed_model_dir")]
    pub embed_model: Option<String>,
    /// Embedding cache directory.
    #[arg(long)]
    pub embed_cache: Option<PathBuf>,
}

/// `synthcti stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `synthcti clusters`.
#[derive(Debug, Args)]
pub struct ClustersArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub embed: EmbedArgs,
    /// Only these techniques (repeatable); any technique of the file.
    #[arg(long = "technique")]
    pub techniques: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// LLM endpoint and prompt options (`augment`, `eval`).
#[derive(Debug, Args)]
pub struct LlmArgs {
    /// OpenAI-compatible base URL (e.g. https://api.openai.com/v1); default: the local server.
    /// Repeat it for an endpoint pool (requests balanced over the replicas).
    #[arg(long)]
    pub base_url: Vec<String>,
    /// Model name sent to the endpoint.
    #[arg(long)]
    pub model: Option<String>,
    /// Name of the environment variable that holds the API key.
    #[arg(long)]
    pub api_key_env: Option<String>,
    /// Sampling temperature.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Nucleus sampling top_p.
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Max tokens per answer.
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Requests in flight at once.
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Per-request timeout in seconds.
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Retries per request before giving up.
    #[arg(long)]
    pub max_retries: Option<u32>,
    /// Prompt template: a bundled name (local-one, remote-json) or a file path.
    #[arg(long)]
    pub prompt_template: Option<String>,
    /// Sentences asked per request.
    #[arg(long)]
    pub sentences_per_request: Option<usize>,
    /// Show each prompt the nearest other technique and one of its sentences, not to be
    /// described (`generate.contrast`).
    #[arg(long)]
    pub contrast: bool,
    /// Keep a candidate only when a TF-IDF + linear SVM trained on the input ranks its
    /// technique within the top K (`filter.classifier_top_k`; 0 = off).
    #[arg(long, value_name = "K")]
    pub classifier_top_k: Option<usize>,
    /// How rows are chosen from what the filters accepted: `first`, or `mmr` over a pool of
    /// `select.pool ×` the rows wanted.
    #[arg(long, value_enum)]
    pub select: Option<crate::config::SelectMethod>,
    /// Replace indicators (IPs, domains, hashes, …) in prompts by placeholders and refuse
    /// answers that repeat one (`redact.mode`; `auto`: on unless the endpoint is local).
    #[arg(long, value_enum)]
    pub redact: Option<crate::desensitize::RedactMode>,
}

/// `synthcti augment`.
#[derive(Debug, Args)]
pub struct AugmentArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub embed: EmbedArgs,
    /// Output directory: augmented.<ext>, augmented.jsonl, report.md, report.json, journal.jsonl.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Where new rows come from.
    #[arg(long, value_enum)]
    pub source: Option<Source>,
    /// How many rows to add: to-median, to-max, ratio:R (R × count), absolute:N (N per technique).
    #[arg(long)]
    pub target: Option<Target>,
    /// Only these techniques (repeatable).
    #[arg(long = "technique")]
    pub techniques: Vec<String>,
    /// Sentences that new rows must not duplicate, exactly or nearly (e.g. a test split).
    #[arg(long)]
    pub avoid: Option<PathBuf>,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Print the plan (rows, clusters, requests, tokens, cost) without calling any LLM.
    #[arg(long)]
    pub dry_run: bool,
    /// Continue the run journaled in the output directory.
    #[arg(long)]
    pub resume: bool,
    /// Discard a previous run in the output directory.
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    /// Hide progress bars.
    #[arg(long)]
    pub no_progress: bool,
    /// Stop after this many requests in a row failed for good (default 20).
    #[arg(long)]
    pub max_consecutive_failures: Option<usize>,
    /// Stop after this many requests to the endpoint in this run (resumable).
    #[arg(long)]
    pub max_requests: Option<u64>,
    /// Stop sending once this run used this many prompt + completion tokens (resumable).
    #[arg(long)]
    pub max_tokens_total: Option<u64>,
    /// Stop sending once this run cost this much, from llm.price_per_1k_* (resumable).
    #[arg(long)]
    pub max_cost: Option<f64>,
    /// Send each round as one OpenAI Batch API batch (`llm.batch`; needs `--base-url`).
    #[arg(long)]
    pub batch: bool,
    /// Write the requests without an answer as batch JSONL to FILE for an offline engine
    /// (e.g. `vllm run-batch -i FILE -o OUT`) and stop with exit code 5.
    #[arg(long, value_name = "FILE")]
    pub batch_export: Option<PathBuf>,
    /// Journal the answers of an offline engine's batch output first (with `--resume`).
    #[arg(long, value_name = "FILE")]
    pub batch_import: Option<PathBuf>,
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

impl InputArgs {
    /// The configuration file (or defaults) with these flags applied.
    fn config(&self) -> Result<Config> {
        let mut cfg = match &self.config {
            Some(p) => Config::from_file(p)?,
            None => Config::default(),
        };
        let i = &mut cfg.input;
        if self.format.is_some() {
            i.format = self.format;
        }
        if self.text_col.is_some() {
            i.text_col.clone_from(&self.text_col);
        }
        if self.label_col.is_some() {
            i.label_col.clone_from(&self.label_col);
        }
        if self.group_col.is_some() {
            i.group_col.clone_from(&self.group_col);
        }
        set(&mut i.cti_level, self.cti_level);
        set(&mut i.unknown_labels, self.unknown_labels);
        set(&mut cfg.policy, self.policy);
        set(&mut cfg.seed, self.seed);
        Ok(cfg)
    }

    /// Validates the configuration every command runs with; the error names the file.
    fn validate(&self, cfg: Config) -> Result<ValidConfig> {
        cfg.validate().with_context(|| match &self.config {
            Some(p) => p.display().to_string(),
            None => "command-line flags".into(),
        })
    }
}

impl EmbedArgs {
    fn apply(&self, cfg: &mut Config) {
        if let Some(d) = &self.embed_model_dir {
            cfg.embed.model = ModelSource::LocalDir(d.clone());
        }
        if let Some(n) = &self.embed_model {
            cfg.embed.model = ModelSource::Named(n.clone());
        }
        if self.embed_cache.is_some() {
            cfg.embed.cache_dir.clone_from(&self.embed_cache);
        }
    }
}

impl LlmArgs {
    fn apply(&self, cfg: &mut Config) {
        let g = &mut cfg.generate;
        if self.prompt_template.is_some() {
            g.template.clone_from(&self.prompt_template);
        }
        if self.sentences_per_request.is_some() {
            g.sentences_per_request = self.sentences_per_request;
        }
        g.contrast |= self.contrast;
        set(&mut cfg.filter.classifier_top_k, self.classifier_top_k);
        set(&mut cfg.select.method, self.select);
        set(&mut cfg.redact.mode, self.redact);
        let l = &mut cfg.llm;
        match self.base_url.as_slice() {
            [] => {}
            [one] => {
                l.base_url = Some(one.clone());
                l.endpoints.clear();
            }
            many => {
                l.base_url = None;
                l.endpoints = many.iter().map(|u| EndpointConfig::new(u)).collect();
            }
        }
        set(&mut l.model, self.model.clone());
        set(&mut l.api_key_env, self.api_key_env.clone());
        set(&mut l.temperature, self.temperature);
        set(&mut l.top_p, self.top_p);
        set(&mut l.max_tokens, self.max_tokens);
        set(&mut l.concurrency, self.concurrency);
        set(&mut l.timeout_secs, self.timeout);
        set(&mut l.max_retries, self.max_retries);
    }
}

impl AugmentArgs {
    fn config(&self) -> Result<ValidConfig> {
        let mut cfg = self.input.config()?;
        self.embed.apply(&mut cfg);
        if self.no_progress {
            cfg.embed.progress = false;
        }
        let g = &mut cfg.generate;
        set(&mut g.source, self.source);
        set(&mut g.target, self.target);
        if !self.techniques.is_empty() {
            g.techniques.clone_from(&self.techniques);
        }
        set(
            &mut g.max_consecutive_failures,
            self.max_consecutive_failures,
        );
        set(&mut g.max_requests, self.max_requests.map(Some));
        set(&mut g.max_tokens_total, self.max_tokens_total.map(Some));
        set(&mut g.max_cost, self.max_cost.map(Some));
        self.llm.apply(&mut cfg);
        cfg.llm.batch |= self.batch;
        self.input.validate(cfg)
    }
}

/// A sentence from the data as one printable line (no ESC sequences, bidi or line breaks).
fn one_line(text: &str) -> String {
    crate::text::sanitize(text)
}

/// The eval target: any [`Target`], or a bare number of rows (= `to-count:N`).
fn eval_target(s: &str) -> Result<Target, String> {
    match s.trim().parse::<usize>() {
        Ok(n) => format!("to-count:{n}").parse(),
        Err(_) => s.parse(),
    }
}

/// `rare` or `macro`.
fn parse_metric(s: &str) -> Result<Metric, String> {
    match s {
        "rare" => Ok(Metric::RareMacroF1),
        "macro" => Ok(Metric::MacroF1),
        _ => Err(format!("`{s}`: expected rare or macro")),
    }
}

/// An arm name as the sweep knows it: an `--arms` value (`both`) becomes its table name
/// (`synthcti-both`); any other name (an `--arm-config` arm) is kept.
fn arm_name(name: &str) -> String {
    <ArmKind as clap::ValueEnum>::from_str(name, false)
        .map_or_else(|_| name.to_string(), |k| k.name().to_string())
}

/// The comparisons and the primary of `synthcti eval`: every arm vs the reference arm,
/// the `--compare` pairs, and the primary (named, or `both:procedures` when both run).
fn comparisons(a: &EvalArgs) -> Result<(Vec<Pair>, Option<Primary>)> {
    let reference = match a.reference_arm {
        Some(kind) if !a.arms.contains(&kind) => {
            anyhow::bail!("--reference-arm {} is not among --arms", kind.name())
        }
        Some(kind) => Some(kind),
        None => a
            .arms
            .contains(&ArmKind::Oversample)
            .then_some(ArmKind::Oversample),
    };
    let named = |p: &Pair| Pair {
        arm: arm_name(&p.arm),
        base: arm_name(&p.base),
    };
    let mut pairs: Vec<Pair> = a.compare.iter().map(named).collect();
    if let Some(r) = reference {
        let others = a.arms.iter().filter(|&&k| k != r).map(|k| k.name());
        let configured = a.arm_configs.iter().map(|(name, _)| name.as_str());
        pairs.extend(others.chain(configured).map(|arm| Pair {
            arm: arm.into(),
            base: r.name().into(),
        }));
    }
    let pair =
        match a.primary.as_deref() {
            Some("none") => None,
            Some(s) => Some(named(&s.parse::<Pair>().map_err(anyhow::Error::msg)?)),
            None => (a.arms.contains(&ArmKind::Both) && a.arms.contains(&ArmKind::Procedures))
                .then(|| Pair {
                    arm: ArmKind::Both.name().into(),
                    base: ArmKind::Procedures.name().into(),
                }),
        };
    let primary = pair.map(|pair| Primary {
        pair,
        ratio: a.primary_ratio,
        metric: a.primary_metric,
    });
    // Unknown arm names are usage errors, found before any model loads.
    let known: Vec<String> = a
        .arms
        .iter()
        .map(|k| k.name().to_string())
        .chain(a.arm_configs.iter().map(|(n, _)| n.clone()))
        .collect();
    for p in pairs.iter().chain(primary.as_ref().map(|p| &p.pair)) {
        for name in [&p.arm, &p.base] {
            anyhow::ensure!(
                known.contains(name),
                "comparison {p}: `{name}` is not among the arms ({})",
                known.join(", ")
            );
        }
    }
    Ok((pairs, primary))
}

/// The sweep settings of `synthcti eval` (`cfg`: the checked run config).
fn sweep_config(a: &EvalArgs, cfg: &Config) -> Result<SweepConfig> {
    let (folds, seeds) = if a.quick {
        (3, vec![0])
    } else {
        (a.folds, a.seeds.clone())
    };
    let (comparisons, primary) = comparisons(a)?;
    let probe = match a.probe {
        ProbeKind::Tfidf => {
            let mut p = ProbeConfig::tfidf();
            if let ProbeFeatures::Tfidf(t) = &mut p.features {
                t.analyzer = a.features;
            }
            p
        }
        ProbeKind::Embedding => ProbeConfig::embedding(),
    };
    Ok(SweepConfig {
        seeds,
        folds,
        drop_test_duplicates: !a.keep_test_duplicates,
        ratios: a.ratios.clone(),
        synthetic_weights: a.synthetic_weights.clone(),
        target: a.target,
        rare_threshold: a.rare_threshold,
        probe,
        leak: LeakPolicy {
            containment: cfg.filter.max_avoid_containment,
            near_cosine: Some(cfg.filter.near_duplicate),
        },
        design: a.design,
        comparisons,
        primary,
        progress: !a.no_progress,
    })
}

/// `synthcti eval`: the sweep, its files, and the avoid-filter counts of the synthcti arms.
async fn run_eval(a: &EvalArgs, catalog: &Catalog, stdout: &mut impl Write) -> Result<()> {
    let mut cfg = a.input.config()?;
    a.embed.apply(&mut cfg);
    a.llm.apply(&mut cfg);
    cfg.embed.progress = false;
    let cfg = a.input.validate(cfg)?;
    let (ds, _) = load_samples(&a.input.input, &cfg, catalog)?;
    let sweep = sweep_config(a, &cfg)?;
    sweep.validate()?;
    if let Some(path) = &a.save_folds {
        let csv = folds_csv(&ds.samples, &sweep)?;
        crate::output::write_file(path, &csv)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // One embedding model for the whole process: the arms' filters, the leak screen and the
    // embedding probe share it.
    let embed =
        EmbedService::spawn(open_embedder(&cfg.embed).context("opening the embedding model")?)?;
    let mut baselines: Vec<Box<dyn Augmenter>> = Vec::new();
    let mut pipeline_arms: Vec<PipelineArm> = Vec::new();
    let journals = a.output.join("journals");
    for &arm in &a.arms {
        let source = match arm {
            ArmKind::Oversample => {
                baselines.push(Box::new(RandomOversampler));
                continue;
            }
            ArmKind::Eda => {
                baselines.push(Box::new(EdaAugmenter::default()));
                continue;
            }
            ArmKind::Reweight => {
                baselines.push(Box::new(ClassReweight));
                continue;
            }
            ArmKind::Procedures => Source::Procedures,
            ArmKind::Llm => Source::Llm,
            ArmKind::Both => Source::Both,
            ArmKind::Rewrite => Source::Rewrite,
            ArmKind::BothRewrite => Source::BothRewrite,
        };
        let arm = PipelineArm::new(arm.name(), source, &cfg, journals.clone(), embed.clone())?;
        pipeline_arms.push(arm);
    }
    for (name, path) in &a.arm_configs {
        let taken = a.arms.iter().any(|k| k.name() == name)
            || pipeline_arms.iter().any(|p| p.name() == name);
        anyhow::ensure!(
            !taken,
            "--arm-config {name}: an arm of that name already runs"
        );
        let mut c = Config::from_file(path)?;
        a.embed.apply(&mut c);
        a.llm.apply(&mut c);
        c.seed = cfg.seed;
        let c = c
            .validate()
            .with_context(|| format!("--arm-config {name}={}", path.display()))?;
        let source = c.generate.source;
        pipeline_arms.push(PipelineArm::new(
            name,
            source,
            &c,
            journals.clone(),
            embed.clone(),
        )?);
    }
    // The sweep is sync code (the pipeline arms block on the runtime): a blocking thread.
    let samples = ds.samples;
    let mut sweep_embedder = embed;
    let (results, pipeline_arms) = tokio::task::spawn_blocking(move || {
        let mut arms: Vec<&mut dyn Augmenter> = baselines
            .iter_mut()
            .map(|b| b.as_mut() as &mut dyn Augmenter)
            .collect();
        arms.extend(pipeline_arms.iter_mut().map(|p| p as &mut dyn Augmenter));
        let embedder: &mut dyn Embedder = &mut sweep_embedder;
        let results = run_sweep(&samples, &mut arms, &sweep, Some(embedder));
        drop(arms);
        (results, pipeline_arms)
    })
    .await
    .context("the evaluation sweep panicked")?;
    let results = results?;
    write_results(&a.output, &results)?;
    let mut md = markdown(&results);
    if !pipeline_arms.is_empty() {
        md.push_str(&pipeline_arms_markdown(&pipeline_arms, &a.arm_configs));
        crate::output::write_file(&a.output.join("results.md"), md.as_bytes())?;
    }
    write!(stdout, "{md}")?;
    writeln!(stdout, "\nwrote {}", a.output.display())?;
    Ok(())
}

/// `synthcti export`.
fn run_export(a: &ExportArgs, catalog: &Catalog, stdout: &mut impl Write) -> Result<()> {
    let cfg = a.input.validate(a.input.config()?)?;
    let (ds, _) = load_samples(&a.input.input, &cfg, catalog)?;
    let fractions: [f64; 3] =
        a.fractions.clone().try_into().map_err(|_| {
            anyhow::anyhow!("--fractions takes three numbers: train,validation,test")
        })?;
    let format = a.to;
    let names = ds
        .samples
        .iter()
        .map(|s| (s.label.clone(), catalog.name_of(&s.label).to_string()))
        .collect();
    let config = ExportConfig {
        format,
        fractions,
        seed: cfg.seed,
        tasks: a.tasks.clone(),
        ..Default::default()
    };
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let summary = export_dataset(&ds.samples, &names, &config, &a.output)?;
    writeln!(stdout, "{}", serde_json::to_string_pretty(&summary)?)?;
    Ok(())
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let catalog = Catalog::bundled();
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Stats(a) => {
            let cfg = a.input.validate(a.input.config()?)?;
            let (_, st) = load_samples(&a.input.input, &cfg, catalog)?;
            if a.json {
                writeln!(stdout, "{}", serde_json::to_string_pretty(&st)?)?;
            } else {
                write!(stdout, "{}", render_table(&st))?;
            }
        }
        Command::Clusters(a) => {
            let mut cfg = a.input.config()?;
            a.embed.apply(&mut cfg);
            let cfg = a.input.validate(cfg)?;
            let (ds, _) = load_samples(&a.input.input, &cfg, catalog)?;
            let embed = EmbedService::spawn(
                open_embedder(&cfg.embed).context("opening the embedding model")?,
            )?;
            let prep = prepare(&ds.samples, &ds.path, &cfg, &a.techniques, &embed).await?;
            if a.json {
                let out: Vec<_> = prep
                    .clusters
                    .iter()
                    .map(|tc| {
                        serde_json::json!({
                            "technique": tc.technique,
                            "name": catalog.name_of(&tc.technique),
                            "size": tc.size,
                            "silhouette": tc.silhouette,
                            "clusters": tc.clusters.iter().map(|c| serde_json::json!({
                                "index": c.index,
                                "size": c.members.len(),
                                "members": c.members,
                                "central": c.central.iter().map(|&i| &ds.samples[i].text).collect::<Vec<_>>(),
                                "central_ids": c.central,
                                "diverse": c.diverse.iter().map(|&i| &ds.samples[i].text).collect::<Vec<_>>(),
                                "diverse_ids": c.diverse,
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                writeln!(stdout, "{}", serde_json::to_string_pretty(&out)?)?;
            } else {
                for tc in &prep.clusters {
                    writeln!(
                        stdout,
                        "\n{} {} — {} sentences, {} cluster(s){}",
                        tc.technique,
                        catalog.name_of(&tc.technique),
                        tc.size,
                        tc.clusters.len(),
                        tc.silhouette
                            .map(|s| format!(", silhouette {s:.3}"))
                            .unwrap_or_default()
                    )?;
                    for c in &tc.clusters {
                        writeln!(
                            stdout,
                            "  cluster {} ({} sentences)",
                            c.index,
                            c.members.len()
                        )?;
                        for (&id, cos) in c.central.iter().zip(&c.member_cosines) {
                            writeln!(
                                stdout,
                                "    central {cos:.2}  {}",
                                one_line(&ds.samples[id].text)
                            )?;
                        }
                        for &id in &c.diverse {
                            writeln!(
                                stdout,
                                "    diverse       {}",
                                one_line(&ds.samples[id].text)
                            )?;
                        }
                    }
                }
            }
        }
        Command::Eval(a) => run_eval(&a, catalog, &mut stdout).await?,
        Command::Export(a) => run_export(&a, catalog, &mut stdout)?,
        Command::Iocs(a) => run_iocs(&a, catalog, &mut stdout)?,
        Command::Redact(a) => run_redact(&a, catalog, &mut stdout)?,
        Command::Augment(a) => {
            let cfg = a.config()?;
            let embed = EmbedService::spawn(
                open_embedder(&cfg.embed).context("opening the embedding model")?,
            )?;
            let opts = AugmentOptions {
                output_dir: a.output.clone(),
                resume: a.resume,
                overwrite: a.overwrite,
                dry_run: a.dry_run,
                avoid: match &a.avoid {
                    Some(p) => read_avoid(p, &cfg.input, catalog)?,
                    None => Vec::new(),
                },
                targets: None,
                config_file: a.input.config.clone(),
                progress: !a.no_progress,
                batch_export: a.batch_export.clone(),
                batch_import: a.batch_import.clone(),
            };
            if !a.dry_run {
                std::fs::create_dir_all(&a.output)
                    .with_context(|| format!("creating {}", a.output.display()))?;
            }
            let report = tokio::select! {
                r = augment(&a.input.input, &cfg, &opts, &embed) => r?,
                _ = tokio::signal::ctrl_c() => anyhow::bail!(
                    "interrupted: finished requests are in {}; rerun with --resume to continue",
                    a.output.join("journal.jsonl").display()
                ),
            };
            write!(stdout, "{}", report.summary_markdown())?;
            if let Some(incomplete) =
                IncompleteRun::of(&report.outcome, &a.output.join("journal.jsonl"))
            {
                return Err(incomplete.into());
            }
            if !a.dry_run {
                writeln!(
                    stdout,
                    "{} rows → {} rows ({} added) in {:.1} s; report: {}",
                    report.rows_before,
                    report.rows_after,
                    report.accepted,
                    report.wall_seconds,
                    a.output.join("report.md").display()
                )?;
            }
        }
    }
    Ok(())
}
