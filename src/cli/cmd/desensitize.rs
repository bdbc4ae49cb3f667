//! `synthcti iocs` and `synthcti redact`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::catalog::Catalog;
use crate::cli::args::InputArgs;
use crate::config::ValidConfig;
use crate::data::{Dataset, UnknownLabels};
use crate::desensitize::dataset::{Fill, counts, redact_raw, row_indicators};
use crate::output::{native_bytes, write_file, write_private};
use crate::pipeline::load;

/// `synthcti iocs`.
#[derive(Debug, Args)]
pub struct IocsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// One JSON object per row with indicators (JSON Lines) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `synthcti redact`.
#[derive(Debug, Args)]
pub struct RedactArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The desensitized copy (same format as the input).
    #[arg(long, short)]
    pub output: PathBuf,
    /// What replaces an indicator: `surrogates` (valid-looking values from reserved ranges)
    /// or `placeholders` (`<IP_1>`).
    #[arg(long, value_enum, default_value = "surrogates")]
    pub fill: Fill,
    /// The mapping that reverses the copy, written with mode 0600 (default: the output path
    /// with `.mapping.json` appended).
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Replace existing output and mapping files.
    #[arg(long)]
    pub overwrite: bool,
}

/// Reads the dataset of a desensitizing command: any labels are kept (with a warning) unless
/// `--unknown-labels` says otherwise.
fn read(input: &InputArgs, catalog: &Catalog) -> Result<(Dataset, ValidConfig)> {
    let mut cfg = input.config()?;
    if input.unknown_labels.is_none() {
        cfg.input.unknown_labels = UnknownLabels::Warn;
    }
    let cfg = input.validate(cfg)?;
    let (ds, _) = load(&input.input, &cfg, catalog)?;
    Ok((ds, cfg))
}

/// `synthcti iocs`: the indicators of each row, refanged, and a count by kind.
pub fn run_iocs(a: &IocsArgs, catalog: &Catalog, stdout: &mut impl Write) -> Result<()> {
    let (ds, _) = read(&a.input, catalog)?;
    let rows = row_indicators(&ds);
    if a.json {
        for r in &rows {
            writeln!(stdout, "{}", serde_json::to_string(r)?)?;
        }
        return Ok(());
    }
    writeln!(stdout, "line\tkind\tas written\tvalue")?;
    for r in &rows {
        for i in &r.indicators {
            writeln!(
                stdout,
                "{}\t{}\t{}\t{}",
                r.line,
                i.kind.name(),
                i.raw,
                i.value
            )?;
        }
    }
    let by_kind = counts(&rows);
    let total: usize = by_kind.values().sum();
    writeln!(
        stdout,
        "\n{total} indicator(s) in {} of {} row(s)",
        rows.len(),
        ds.samples.len()
    )?;
    for (k, n) in by_kind {
        writeln!(stdout, "  {:<13} {n}", k.name())?;
    }
    Ok(())
}

/// `synthcti redact`: the copy, then its mapping (0600), then a summary.
pub fn run_redact(a: &RedactArgs, catalog: &Catalog, stdout: &mut impl Write) -> Result<()> {
    let mapping_path = a.mapping.clone().unwrap_or_else(|| {
        let mut p = a.output.clone().into_os_string();
        p.push(".mapping.json");
        PathBuf::from(p)
    });
    for p in [&a.output, &mapping_path] {
        anyhow::ensure!(
            a.overwrite || !p.exists(),
            "{} exists (use --overwrite to replace it)",
            p.display()
        );
        anyhow::ensure!(
            !same_file(p, &a.input.input),
            "{} is the input: write the copy elsewhere",
            p.display()
        );
    }
    let (mut ds, cfg) = read(&a.input, catalog)?;
    let Some(raw) = &mut ds.raw else {
        anyhow::bail!("{}: read without its raw records", ds.path.display());
    };
    let mapping = redact_raw(raw, a.fill, cfg.seed);
    let bytes = native_bytes(&ds, &[], catalog)?;
    write_private(&mapping_path, &serde_json::to_vec_pretty(&mapping)?)
        .with_context(|| mapping_path.display().to_string())?;
    write_file(&a.output, &bytes)?;
    let occurrences: usize = mapping.entries.iter().map(|e| e.occurrences).sum();
    writeln!(
        stdout,
        "{} distinct indicator(s), {occurrences} occurrence(s) replaced by {} → {}; mapping (0600): {}",
        mapping.entries.len(),
        match a.fill {
            Fill::Surrogates => "surrogates",
            Fill::Placeholders => "placeholders",
        },
        a.output.display(),
        mapping_path.display()
    )?;
    Ok(())
}

/// Whether two paths name the same existing file.
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
