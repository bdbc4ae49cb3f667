//! The command line: clap derive types and the thin `run` that calls the library.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::catalog::Catalog;
use crate::config::{Config, Source, Target};
use crate::data::{CtiLevel, Format, UnknownLabels};
use crate::embed::{ModelSource, open_embedder};
use crate::pipeline::{AugmentOptions, augment, load, prepare};
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
    /// Group (report) column, used for leak-free splits (default `doc_title` if present).
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
    /// OpenAI-compatible base URL (e.g. https://api.openai.com/v1); default: the local server.
    #[arg(long)]
    pub base_url: Option<String>,
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

impl AugmentArgs {
    fn config(&self) -> Result<Config> {
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
        if self.prompt_template.is_some() {
            g.template.clone_from(&self.prompt_template);
        }
        if self.sentences_per_request.is_some() {
            g.sentences_per_request = self.sentences_per_request;
        }
        let l = &mut cfg.llm;
        if self.base_url.is_some() {
            l.base_url.clone_from(&self.base_url);
        }
        set(&mut l.model, self.model.clone());
        set(&mut l.api_key_env, self.api_key_env.clone());
        set(&mut l.temperature, self.temperature);
        set(&mut l.top_p, self.top_p);
        set(&mut l.max_tokens, self.max_tokens);
        set(&mut l.concurrency, self.concurrency);
        set(&mut l.timeout_secs, self.timeout);
        set(&mut l.max_retries, self.max_retries);
        cfg.check()?;
        Ok(cfg)
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let catalog = Catalog::bundled();
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Stats(a) => {
            let cfg = a.input.config()?;
            let (_, st) = load(&a.input.input, &cfg, &catalog)?;
            if a.json {
                writeln!(stdout, "{}", serde_json::to_string_pretty(&st)?)?;
            } else {
                write!(stdout, "{}", render_table(&st))?;
            }
        }
        Command::Clusters(a) => {
            let mut cfg = a.input.config()?;
            a.embed.apply(&mut cfg);
            let mut embedder = open_embedder(&cfg.embed).context("opening the embedding model")?;
            let prep = prepare(
                &a.input.input,
                &cfg,
                &a.techniques,
                &catalog,
                embedder.as_mut(),
            )?;
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
                                "central": c.central.iter().map(|&i| &prep.dataset.samples[i].text).collect::<Vec<_>>(),
                                "central_ids": c.central,
                                "diverse": c.diverse.iter().map(|&i| &prep.dataset.samples[i].text).collect::<Vec<_>>(),
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
                                one_line(&prep.dataset.samples[id].text)
                            )?;
                        }
                        for &id in &c.diverse {
                            writeln!(
                                stdout,
                                "    diverse       {}",
                                one_line(&prep.dataset.samples[id].text)
                            )?;
                        }
                    }
                }
            }
        }
        Command::Augment(a) => {
            let cfg = a.config()?;
            let mut embedder = open_embedder(&cfg.embed).context("opening the embedding model")?;
            let opts = AugmentOptions {
                output_dir: a.output.clone(),
                resume: a.resume,
                overwrite: a.overwrite,
                dry_run: a.dry_run,
                avoid: a.avoid.clone(),
                config_file: a.input.config.clone(),
                progress: !a.no_progress,
            };
            if !a.dry_run {
                std::fs::create_dir_all(&a.output)
                    .with_context(|| format!("creating {}", a.output.display()))?;
            }
            let report = tokio::select! {
                r = augment(&a.input.input, &cfg, &opts, embedder.as_mut()) => r?,
                _ = tokio::signal::ctrl_c() => anyhow::bail!(
                    "interrupted: finished requests are in {}; rerun with --resume to continue",
                    a.output.join("journal.jsonl").display()
                ),
            };
            write!(stdout, "{}", report.summary_markdown())?;
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
