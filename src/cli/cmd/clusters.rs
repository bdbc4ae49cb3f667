//! `synthcti clusters`.

use std::io::Write;

use anyhow::{Context, Result};

use crate::catalog::Catalog;
use crate::cli::args::ClustersArgs;
use crate::cluster::{render_json, render_text};
use crate::embed::{EmbedService, open_embedder};
use crate::pipeline::{load_samples, prepare};

/// `synthcti clusters`: embed and cluster the selected techniques, print them.
pub(crate) async fn run(
    a: &ClustersArgs,
    catalog: &Catalog,
    stdout: &mut impl Write,
) -> Result<()> {
    let mut cfg = a.input.config()?;
    a.embed.apply(&mut cfg);
    let cfg = a.input.validate(cfg)?;
    let (ds, _) = load_samples(&a.input.input, &cfg, catalog)?;
    let embed =
        EmbedService::spawn(open_embedder(&cfg.embed).context("opening the embedding model")?)?;
    let prep = prepare(&ds.samples, &ds.path, &cfg, &a.techniques, &embed).await?;
    if a.json {
        let out = render_json(&prep.clusters, &ds.samples, catalog);
        writeln!(stdout, "{}", serde_json::to_string_pretty(&out)?)?;
    } else {
        write!(
            stdout,
            "{}",
            render_text(&prep.clusters, &ds.samples, catalog)
        )?;
    }
    Ok(())
}
