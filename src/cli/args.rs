//! The clap types of every command (the "low" arguments) and their one conversion into a
//! checked configuration: [`InputArgs::config`] → the flags applied → [`InputArgs::validate`].

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::config::{Config, Source, Target, ValidConfig};
use crate::data::{CtiLevel, Format, UnknownLabels};
use crate::embed::ModelSource;
use crate::eval::arms::ArmKind;
use crate::eval::sweep::{Design, Metric, Pair};
use crate::export::ExportFormat;
use crate::learn::tfidf::Analyzer;
use crate::llm::EndpointConfig;
use crate::stats::UnderPolicy;

/// `NAME=FILE` → an arm name and its configuration file.
pub(crate) fn parse_arm_config(s: &str) -> Result<(String, PathBuf), String> {
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
pub(crate) fn parse_features(s: &str) -> Result<Analyzer, String> {
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

/// `synthcti export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output directory.
    #[arg(long, short)]
    pub output: PathBuf,
    /// `chat-jsonl` (train/validation/test.jsonl with system/user/assistant messages),
    /// `jsonl`, `csv` or `parquet` (one file with a `split` column).
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
    /// The dataset (TRAM JSON, CTI-to-MITRE CSV, generic CSV, JSONL or Parquet).
    #[arg(long, short)]
    pub input: PathBuf,
    /// TOML configuration; flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Input format (detected from the file when omitted).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Text column of generic CSV/JSONL/Parquet (default `text`).
    #[arg(long)]
    pub text_col: Option<String>,
    /// Label column of generic CSV/JSONL/Parquet (default `label`).
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

pub(crate) fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

impl InputArgs {
    /// The configuration file (or defaults) with these flags applied.
    pub(crate) fn config(&self) -> Result<Config> {
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
    pub(crate) fn validate(&self, cfg: Config) -> Result<ValidConfig> {
        cfg.validate().with_context(|| match &self.config {
            Some(p) => p.display().to_string(),
            None => "command-line flags".into(),
        })
    }
}

impl EmbedArgs {
    pub(crate) fn apply(&self, cfg: &mut Config) {
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
    pub(crate) fn apply(&self, cfg: &mut Config) {
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
    pub(crate) fn config(&self) -> Result<ValidConfig> {
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

/// The eval target: any [`Target`], or a bare number of rows (= `to-count:N`).
pub(crate) fn eval_target(s: &str) -> Result<Target, String> {
    match s.trim().parse::<usize>() {
        Ok(n) => format!("to-count:{n}").parse(),
        Err(_) => s.parse(),
    }
}

/// `rare` or `macro`.
pub(crate) fn parse_metric(s: &str) -> Result<Metric, String> {
    match s {
        "rare" => Ok(Metric::RareMacroF1),
        "macro" => Ok(Metric::MacroF1),
        _ => Err(format!("`{s}`: expected rare or macro")),
    }
}
