//! `synthcti augment`.

use std::io::Write;

use anyhow::{Context, Result};

use crate::catalog::Catalog;
use crate::cli::args::AugmentArgs;
use crate::embed::{EmbedService, open_embedder};
use crate::generate::LlmRun;
use crate::journal::JOURNAL_FILE;
use crate::outcome::IncompleteRun;
use crate::pipeline::{AugmentOptions, augment, read_avoid};

/// `synthcti augment`: the run, its summary, and an error when it ended incomplete (exit 3
/// or 4) — Ctrl-C stops it with the journal kept for `--resume`.
pub(crate) async fn run(a: &AugmentArgs, catalog: &Catalog, stdout: &mut impl Write) -> Result<()> {
    let cfg = a.config()?;
    let embed =
        EmbedService::spawn(open_embedder(&cfg.embed).context("opening the embedding model")?)?;
    let opts = AugmentOptions {
        run: LlmRun {
            dir: a.output.clone(),
            resume: a.resume,
            overwrite: a.overwrite,
            dry_run: a.dry_run,
            progress: !a.no_progress,
            batch_export: a.batch_export.clone(),
            batch_import: a.batch_import.clone(),
        },
        avoid: match &a.avoid {
            Some(p) => read_avoid(p, &cfg.input, catalog)?,
            None => Vec::new(),
        },
        targets: None,
        config_file: a.input.config.clone(),
    };
    let journal = a.output.join(JOURNAL_FILE);
    let report = tokio::select! {
        r = augment(&a.input.input, &cfg, &opts, &embed) => r?,
        _ = tokio::signal::ctrl_c() => anyhow::bail!(
            "interrupted: finished requests are in {}; rerun with --resume to continue",
            journal.display()
        ),
    };
    write!(stdout, "{}", report.summary_markdown())?;
    if let Some(incomplete) = IncompleteRun::of(&report.outcome, &journal) {
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
    Ok(())
}
