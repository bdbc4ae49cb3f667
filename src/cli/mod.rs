//! The command line, ripgrep-style: clap types ([`args`]) → one conversion into a checked
//! configuration → one small function per command (`cmd/`). Rendering and arm assembly live
//! with their modules (`cluster::render_*`, `stats::render_table`, `eval::arms`).

use anyhow::Result;
use clap::{Parser, Subcommand};

mod args;
mod cmd;

pub use args::{
    AugmentArgs, ClustersArgs, EmbedArgs, EvalArgs, ExportArgs, InputArgs, LlmArgs, ProbeKind,
    StatsArgs,
};
pub use cmd::desensitize::{IocsArgs, RedactArgs};

use crate::catalog::Catalog;

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

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let catalog = Catalog::bundled();
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Stats(a) => cmd::stats::run(&a, catalog, &mut stdout)?,
        Command::Clusters(a) => cmd::clusters::run(&a, catalog, &mut stdout).await?,
        Command::Augment(a) => cmd::augment::run(&a, catalog, &mut stdout).await?,
        Command::Eval(a) => cmd::eval::run(&a, catalog, &mut stdout).await?,
        Command::Export(a) => cmd::export::run(&a, catalog, &mut stdout)?,
        Command::Iocs(a) => cmd::desensitize::run_iocs(&a, catalog, &mut stdout)?,
        Command::Redact(a) => cmd::desensitize::run_redact(&a, catalog, &mut stdout)?,
    }
    Ok(())
}
