//! Read an `augmented.jsonl` written by `synthcti augment` and its provenance: rows per
//! origin, and for each new row where it came from (cluster, the originals shown, filter
//! scores, the LLM request).
//!
//! `cargo run --example read_augmented -- out/tram/augmented.jsonl`

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::Deserialize;
use synthcti::output::Provenance;

/// One line of `augmented.jsonl`: originals have no provenance.
#[derive(Deserialize)]
struct Row {
    text: String,
    label: String,
    origin: String,
    provenance: Option<Provenance>,
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or("out/tram/augmented.jsonl".into());
    let file = std::fs::File::open(&path).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    let mut per_origin: BTreeMap<String, usize> = BTreeMap::new();
    let mut shown = 0;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let row: Row =
            serde_json::from_str(&line?).map_err(|e| anyhow::anyhow!("{path}:{}: {e}", n + 1))?;
        *per_origin.entry(row.origin.clone()).or_default() += 1;
        let Some(p) = row.provenance else { continue };
        if shown < 5 {
            shown += 1;
            println!("{} [{}] {}", row.label, row.origin, row.text);
            println!(
                "  cluster {}, shown originals {:?}, centroid cosine {:.3}, margin {:.3}",
                p.cluster, p.seed_ids, p.scores.centroid_cosine, p.scores.margin
            );
            if let Some(llm) = &p.llm {
                println!(
                    "  {} at {} (template {}, seed {}, request {})",
                    llm.model, llm.endpoint, llm.template, llm.seed, llm.request
                );
            }
        }
    }
    println!("\nrows per origin: {per_origin:?}");
    Ok(())
}
