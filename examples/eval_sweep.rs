//! An evaluation sweep from code: oversampling vs EDA on TRAM, 3 folds × 1 seed, paired
//! differences vs `none` with corrected 95% intervals, and EDA vs oversampling as the
//! primary comparison (every other interval Holm-adjusted).
//!
//! `cargo run --release --example eval_sweep`

use std::path::Path;

use synthcti::catalog::Catalog;
use synthcti::config::Config;
use synthcti::eval::baselines::{Augmenter, EdaAugmenter, RandomOversampler};
use synthcti::eval::sweep::{Metric, Primary, SweepConfig, run_sweep};
use synthcti::pipeline::load;

fn main() -> anyhow::Result<()> {
    let (ds, _) = load(
        Path::new("data/tram2_single_label.json"),
        &Config::default().validate()?,
        Catalog::bundled(),
    )?;
    let config = SweepConfig {
        seeds: vec![0],
        folds: 3,
        ratios: vec![1.0],
        primary: Some(Primary {
            pair: "eda:oversample".parse().map_err(anyhow::Error::msg)?,
            ratio: 1.0,
            metric: Metric::RareMacroF1,
        }),
        ..SweepConfig::default()
    };
    let (mut oversample, mut eda) = (RandomOversampler, EdaAugmenter::default());
    let mut arms: Vec<&mut dyn Augmenter> = vec![&mut oversample, &mut eda];
    // No embedder: the leak screen runs its exact and containment checks only.
    let results = run_sweep(&ds.samples, &mut arms, &config, None)?;
    println!(
        "none: macro-F1 {}, rare {}",
        results.none.macro_f1, results.none.rare_macro_f1
    );
    for r in &results.results {
        let d = r.vs_none.expect("every arm is paired with none");
        println!(
            "{} ×{}: {:.0} rows; Δ macro-F1 {}; Δ rare {} (unadjusted)",
            r.arm, r.ratio, r.added_rows.mean, d.macro_f1, d.rare_macro_f1
        );
    }
    if let Some(p) = &results.claims.primary {
        println!(
            "primary: {} {}: {}",
            p.primary.pair, p.primary.metric, p.delta
        );
    }
    Ok(())
}
