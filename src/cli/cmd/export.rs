//! `synthcti export`.

use std::io::Write;

use anyhow::Result;

use crate::catalog::Catalog;
use crate::cli::args::ExportArgs;
use crate::export::{ExportConfig, export_dataset};
use crate::pipeline::load_samples;

/// `synthcti export`.
pub(crate) fn run(a: &ExportArgs, catalog: &Catalog, stdout: &mut impl Write) -> Result<()> {
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
    let summary = export_dataset(&ds.samples, &names, &config, &a.output)?;
    writeln!(stdout, "{}", serde_json::to_string_pretty(&summary)?)?;
    Ok(())
}
