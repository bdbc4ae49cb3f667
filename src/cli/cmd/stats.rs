//! `synthcti stats`.

use std::io::Write;

use anyhow::Result;

use crate::catalog::Catalog;
use crate::cli::args::StatsArgs;
use crate::pipeline::load_samples;
use crate::stats::render_table;

/// `synthcti stats`: the table, or its JSON.
pub(crate) fn run(a: &StatsArgs, catalog: &Catalog, stdout: &mut impl Write) -> Result<()> {
    let cfg = a.input.validate(a.input.config()?)?;
    let (_, st) = load_samples(&a.input.input, &cfg, catalog)?;
    if a.json {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&st)?)?;
    } else {
        write!(stdout, "{}", render_table(&st))?;
    }
    Ok(())
}
