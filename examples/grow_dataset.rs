//! Grows a dataset `FACTOR` times by resampling it with light perturbation, for measuring
//! how synthcti scales with input size (`scripts/growth.sh`): copy 0 is the input, each
//! further copy is every row once more, rewritten by three EDA operations
//! (`synthcti::eval::EdaAugmenter`, α = 0.1: synonyms, insertions, swaps or deletions),
//! seeded by the copy number, in a document of its own (`<doc_title> #k`) so grouped folds
//! stay grouped. Writes TRAM JSON (`text`, `label`, `doc_title`).
//!
//! `cargo run --release --example grow_dataset -- data/tram2_single_label.json 10 /tmp/tram-x10.json`

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use synthcti::catalog::Catalog;
use synthcti::config::Config;
use synthcti::data::Sample;
use synthcti::eval::{Augmenter, EdaAugmenter};
use synthcti::pipeline::load;
use synthcti::technique::TechniqueId;

/// EDA operations applied to each row of a copy.
const PASSES: u64 = 3;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, factor, output] = &args[..] else {
        anyhow::bail!("usage: grow_dataset INPUT FACTOR OUTPUT");
    };
    let factor: u64 = factor
        .parse()
        .context("FACTOR must be a positive integer")?;
    anyhow::ensure!(factor >= 1, "FACTOR must be at least 1");
    let (ds, _) = load(
        &PathBuf::from(input),
        &Config::default().validate()?,
        Catalog::bundled(),
    )?;
    let mut counts: BTreeMap<TechniqueId, usize> = BTreeMap::new();
    for s in &ds.samples {
        *counts.entry(s.label.clone()).or_default() += 1;
    }
    let file = std::fs::File::create(output).with_context(|| format!("creating {output}"))?;
    let mut out = std::io::BufWriter::new(file);
    let mut eda = EdaAugmenter::default();
    for copy in 0..factor {
        let mut rows = ds.samples.clone();
        // Three EDA passes, so most copies differ from each other and from the input
        // (one pass often repeats itself on short sentences).
        for pass in 0..if copy == 0 { 0 } else { PASSES } {
            rows = eda.augment(&rows, &[], &counts, copy * PASSES + pass)?;
        }
        for (i, s) in rows.iter().enumerate() {
            out.write_all(if copy == 0 && i == 0 { b"[\n" } else { b",\n" })?;
            serde_json::to_writer(&mut out, &row(s, copy))?;
        }
    }
    out.write_all(b"\n]\n")?;
    out.flush()?;
    eprintln!(
        "{output}: {} rows ({} × {factor})",
        ds.samples.len() as u64 * factor,
        ds.samples.len()
    );
    Ok(())
}

/// One TRAM record; copy `k > 0` lives in document `<doc_title> #k`.
fn row(s: &Sample, copy: u64) -> serde_json::Value {
    let group = s.group.as_deref().unwrap_or("no-group");
    let doc = match copy {
        0 => group.to_owned(),
        k => format!("{group} #{k}"),
    };
    serde_json::json!({"text": s.text, "label": s.label, "doc_title": doc})
}
