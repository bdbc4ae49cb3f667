//! The LSH side of `synthcti::ann::CosineIndex` on real sentence embeddings (all-MiniLM-L6-v2
//! from `$SYNTHCTI_HOME`): TRAM sentences against their EDA rewrites, the near duplicates a
//! grown dataset is full of. Forced into LSH mode (`exact_up_to = 0`), the index must agree
//! with the full scan on nearly every near-duplicate verdict. (How much faster it is:
//! `cargo bench --bench dedup_index`.)

use std::collections::BTreeMap;
use std::path::Path;

use synthcti::ann::{AnnParams, CosineIndex};
use synthcti::catalog::Catalog;
use synthcti::config::Config;
use synthcti::embed::{EmbedConfig, Embedder, FastEmbedder};
use synthcti::eval::{Augmenter, EdaAugmenter};
use synthcti::pipeline::load;
use synthcti::technique::TechniqueId;

#[test]
fn lsh_finds_the_near_duplicates_a_full_scan_finds_on_real_embeddings() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/tram2_single_label.json");
    let cfg = Config::default().validate().unwrap();
    let (ds, _) = load(&input, &cfg, Catalog::bundled()).unwrap();
    let rows: Vec<_> = ds.samples.iter().step_by(2).cloned().collect(); // 2,545 rows
    let mut counts: BTreeMap<TechniqueId, usize> = BTreeMap::new();
    for s in rows.iter().step_by(4) {
        *counts.entry(s.label.clone()).or_default() += 1;
    }
    let queries = EdaAugmenter::default()
        .augment(&rows, &[], &counts, 11)
        .unwrap(); // ~640 rewrites of random rows of the same technique
    let mut embedder = FastEmbedder::new(&EmbedConfig {
        progress: false,
        cache: false,
        ..EmbedConfig::default()
    })
    .unwrap();
    let texts: Vec<&str> = rows.iter().map(|s| s.text.as_str()).collect();
    let q_texts: Vec<&str> = queries.iter().map(|s| s.text.as_str()).collect();
    let (emb, q_emb) = (
        embedder.embed(&texts).unwrap(),
        embedder.embed(&q_texts).unwrap(),
    );

    let exact = CosineIndex::from_rows(emb.clone(), AnnParams::default());
    let lsh = CosineIndex::from_rows(
        emb,
        AnnParams {
            exact_up_to: 0,
            ..AnnParams::default()
        },
    );
    assert!(!exact.is_approximate() && lsh.is_approximate());
    let threshold = 0.92;
    let (mut positives, mut found) = (0, 0);
    for q in q_emb.outer_iter() {
        let truth = exact.max_cosine(q);
        let got = lsh.max_cosine(q);
        assert!(got <= truth + 1e-6, "LSH reports only cosines that exist");
        if truth >= threshold {
            positives += 1;
            found += usize::from(got >= threshold);
        }
    }
    assert!(
        positives >= 200,
        "{positives} near duplicates among the rewrites"
    );
    let recall = found as f64 / positives as f64;
    eprintln!(
        "{} rewrites, {positives} near duplicates (cos ≥ {threshold}), LSH found {found}",
        queries.len()
    );
    assert!(recall >= 0.97, "recall {recall} ({found}/{positives})");
}
