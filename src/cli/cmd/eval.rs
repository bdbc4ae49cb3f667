//! `synthcti eval`: the arguments → a checked sweep and its arms → the sweep on a blocking
//! thread → `results.{md,csv,json}` and the plot.

use std::io::Write;

use anyhow::{Context, Result};

use crate::catalog::Catalog;
use crate::cli::args::{EvalArgs, ProbeKind};
use crate::config::Config;
use crate::embed::{EmbedService, open_embedder};
use crate::eval::arms::{ArmKind, EvalArms, arms_markdown};
use crate::eval::leak::LeakPolicy;
use crate::eval::report::{folds_csv, markdown, write_results};
use crate::eval::sweep::{Pair, Primary, SweepConfig};
use crate::learn::probe::{ProbeConfig, ProbeFeatures};
use crate::pipeline::load_samples;

/// An arm name as the sweep knows it: an `--arms` value (`both`) becomes its table name
/// (`synthcti-both`); any other name (an `--arm-config` arm) is kept.
fn arm_name(name: &str) -> String {
    <ArmKind as clap::ValueEnum>::from_str(name, false)
        .map_or_else(|_| name.to_string(), |k| k.name().to_string())
}

/// The comparisons and the primary of `synthcti eval`: every arm vs the reference arm,
/// the `--compare` pairs, and the primary (named, or `both:procedures` when both run).
fn comparisons(a: &EvalArgs) -> Result<(Vec<Pair>, Option<Primary>)> {
    let reference = match a.reference_arm {
        Some(kind) if !a.arms.contains(&kind) => {
            anyhow::bail!("--reference-arm {} is not among --arms", kind.name())
        }
        Some(kind) => Some(kind),
        None => a
            .arms
            .contains(&ArmKind::Oversample)
            .then_some(ArmKind::Oversample),
    };
    let named = |p: &Pair| Pair {
        arm: arm_name(&p.arm),
        base: arm_name(&p.base),
    };
    let mut pairs: Vec<Pair> = a.compare.iter().map(named).collect();
    if let Some(r) = reference {
        let others = a.arms.iter().filter(|&&k| k != r).map(|k| k.name());
        let configured = a.arm_configs.iter().map(|(name, _)| name.as_str());
        pairs.extend(others.chain(configured).map(|arm| Pair {
            arm: arm.into(),
            base: r.name().into(),
        }));
    }
    let pair =
        match a.primary.as_deref() {
            Some("none") => None,
            Some(s) => Some(named(&s.parse::<Pair>().map_err(anyhow::Error::msg)?)),
            None => (a.arms.contains(&ArmKind::Both) && a.arms.contains(&ArmKind::Procedures))
                .then(|| Pair {
                    arm: ArmKind::Both.name().into(),
                    base: ArmKind::Procedures.name().into(),
                }),
        };
    let primary = pair.map(|pair| Primary {
        pair,
        ratio: a.primary_ratio,
        metric: a.primary_metric,
    });
    // Unknown arm names are usage errors, found before any model loads.
    let known: Vec<String> = a
        .arms
        .iter()
        .map(|k| k.name().to_string())
        .chain(a.arm_configs.iter().map(|(n, _)| n.clone()))
        .collect();
    for p in pairs.iter().chain(primary.as_ref().map(|p| &p.pair)) {
        for name in [&p.arm, &p.base] {
            anyhow::ensure!(
                known.contains(name),
                "comparison {p}: `{name}` is not among the arms ({})",
                known.join(", ")
            );
        }
    }
    Ok((pairs, primary))
}

/// The sweep settings of `synthcti eval` (`cfg`: the checked run config).
fn sweep_config(a: &EvalArgs, cfg: &Config) -> Result<SweepConfig> {
    let (folds, seeds) = if a.quick {
        (3, vec![0])
    } else {
        (a.folds, a.seeds.clone())
    };
    let (comparisons, primary) = comparisons(a)?;
    let probe = match a.probe {
        ProbeKind::Tfidf => {
            let mut p = ProbeConfig::tfidf();
            if let ProbeFeatures::Tfidf(t) = &mut p.features {
                t.analyzer = a.features;
            }
            p
        }
        ProbeKind::Embedding => ProbeConfig::embedding(),
    };
    Ok(SweepConfig {
        seeds,
        folds,
        drop_test_duplicates: !a.keep_test_duplicates,
        ratios: a.ratios.clone(),
        synthetic_weights: a.synthetic_weights.clone(),
        target: a.target,
        rare_threshold: a.rare_threshold,
        probe,
        leak: LeakPolicy {
            containment: cfg.filter.max_avoid_containment,
            near_cosine: Some(cfg.filter.near_duplicate),
        },
        design: a.design,
        comparisons,
        primary,
        progress: !a.no_progress,
    })
}

/// `synthcti eval`.
pub(crate) async fn run(a: &EvalArgs, catalog: &Catalog, stdout: &mut impl Write) -> Result<()> {
    let mut cfg = a.input.config()?;
    a.embed.apply(&mut cfg);
    a.llm.apply(&mut cfg);
    cfg.embed.progress = false;
    let cfg = a.input.validate(cfg)?;
    let (ds, _) = load_samples(&a.input.input, &cfg, catalog)?;
    let sweep = sweep_config(a, &cfg)?;
    sweep.validate()?;
    if let Some(path) = &a.save_folds {
        let csv = folds_csv(&ds.samples, &sweep)?;
        crate::output::write_file(path, &csv)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    for (i, (name, _)) in a.arm_configs.iter().enumerate() {
        let taken = a.arms.iter().any(|k| k.name() == name)
            || a.arm_configs[..i].iter().any(|(n, _)| n == name);
        anyhow::ensure!(
            !taken,
            "--arm-config {name}: an arm of that name already runs"
        );
    }
    let mut named = Vec::with_capacity(a.arm_configs.len());
    for (name, path) in &a.arm_configs {
        let mut c = Config::from_file(path)?;
        a.embed.apply(&mut c);
        a.llm.apply(&mut c);
        c.seed = cfg.seed;
        let c = c
            .validate()
            .with_context(|| format!("--arm-config {name}={}", path.display()))?;
        named.push((name.clone(), c));
    }
    // One embedding model for the whole process: the arms' filters, the leak screen and the
    // embedding probe share it.
    let embed =
        EmbedService::spawn(open_embedder(&cfg.embed).context("opening the embedding model")?)?;
    let mut arms = EvalArms::new(&a.arms, named, &cfg, &a.output.join("journals"), &embed)?;
    // The sweep is sync code (the pipeline arms block on the runtime): a blocking thread.
    let samples = ds.samples;
    let (results, arms) = tokio::task::spawn_blocking(move || {
        let results = arms.sweep(&samples, &sweep, embed);
        (results, arms)
    })
    .await
    .context("the evaluation sweep panicked")?;
    let results = results?;
    write_results(&a.output, &results)?;
    let mut md = markdown(&results);
    if !arms.pipeline.is_empty() {
        md.push_str(&arms_markdown(&arms.pipeline, &a.arm_configs));
        crate::output::write_file(&a.output.join("results.md"), md.as_bytes())?;
    }
    write!(stdout, "{md}")?;
    writeln!(stdout, "\nwrote {}", a.output.display())?;
    Ok(())
}
