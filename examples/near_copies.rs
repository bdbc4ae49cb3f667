//! How many dataset sentences hide inside a longer ATT&CK procedure example of the same
//! technique? Those are test rows an evaluation could leak into training through the
//! procedures arm, and what the containment screen (`synthcti::nearcopy`) removes.
//!
//! `cargo run --release --example near_copies [-- data/tram2_single_label.json [0.8]]`

use std::path::PathBuf;

use synthcti::catalog::{Catalog, Procedures};
use synthcti::config::Config;
use synthcti::data::normalize_text;
use synthcti::nearcopy::{ContainmentIndex, SHINGLE};
use synthcti::pipeline::load;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let input = PathBuf::from(args.next().unwrap_or("data/tram2_single_label.json".into()));
    let threshold: f32 = args.next().map_or(Ok(0.8), |t| t.parse())?;
    let catalog = Catalog::bundled();
    let (ds, _) = load(&input, &Config::default().validate()?, catalog)?;
    let procedures = Procedures::bundled();

    let (mut contained, mut long, mut exact) = (0, 0, 0);
    let mut examples = Vec::new();
    // Per technique: index its procedure examples, query every sentence of that label.
    let mut labels: Vec<&str> = ds.samples.iter().map(|s| s.label.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    for label in labels {
        let procs = procedures.of(label);
        let index = ContainmentIndex::new(procs, threshold);
        let exact_texts: std::collections::HashSet<String> =
            procs.iter().map(|p| normalize_text(p)).collect();
        for s in ds.samples.iter().filter(|s| s.label == label) {
            if s.text.split_whitespace().count() < SHINGLE {
                continue;
            }
            if exact_texts.contains(&normalize_text(&s.text)) {
                exact += 1;
            } else if let Some(hit) = index.find(&s.text) {
                contained += 1;
                if s.text.split_whitespace().count() >= 8 {
                    long += 1;
                }
                if examples.len() < 3 {
                    examples.push((label, s.text.clone(), procs[hit.index].clone()));
                }
            }
        }
    }
    println!(
        "{}: {} sentences; of those with ≥ {SHINGLE} words, {exact} equal a same-technique \
         ATT&CK procedure example and {contained} are near copies of one by word \
         {SHINGLE}-gram containment ≥ {threshold} ({long} of ≥ 8 words)",
        input.display(),
        ds.samples.len()
    );
    for (label, text, procedure) in examples {
        println!("  {label}: {text:?}\n    in {procedure:?}");
    }
    Ok(())
}
