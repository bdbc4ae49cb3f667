//! Embed and cluster the sentences of one technique, as `augment` does before prompting:
//! KMeans with k chosen by silhouette, central and diverse members per cluster.
//!
//! `cargo run --release --example embed_cluster [-- data/tram2_single_label.json T1055]`
//! (needs the embedding model of `scripts/setup.sh`).

use synthcti::catalog::Catalog;
use synthcti::cluster::cluster_technique;
use synthcti::config::Config;
use synthcti::embed::{Embedder, open_embedder};
use synthcti::pipeline::load;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or("data/tram2_single_label.json".into());
    let technique = args.next().unwrap_or("T1055".into());
    let cfg = Config::default().validate()?;
    let (ds, _) = load(input.as_ref(), &cfg, Catalog::bundled())?;

    // The rows of one technique, embedded (L2-normalised, cached under $SYNTHCTI_HOME).
    let ids: Vec<usize> = (0..ds.samples.len())
        .filter(|&i| ds.samples[i].label == technique)
        .collect();
    anyhow::ensure!(!ids.is_empty(), "{technique} has no rows in {input}");
    let texts: Vec<&str> = ids.iter().map(|&i| ds.samples[i].text.as_str()).collect();
    let mut embedder = open_embedder(&cfg.embed)?;
    let x = embedder.embed(&texts)?;
    println!(
        "{technique}: {} sentences, {} dimensions",
        x.nrows(),
        x.ncols()
    );

    let clusters = cluster_technique(&technique, &ids, x.view(), &cfg.cluster, cfg.seed)?;
    if let Some(s) = clusters.silhouette {
        println!("k = {} by silhouette {s:.3}", clusters.clusters.len());
    }
    for c in &clusters.clusters {
        println!("\ncluster {} — {} sentences", c.index, c.members.len());
        for (&id, cos) in c.central.iter().zip(&c.member_cosines) {
            println!("  central {cos:.2}  {}", ds.samples[id].text);
        }
        for &id in &c.diverse {
            println!("  diverse       {}", ds.samples[id].text);
        }
    }
    Ok(())
}
