//! Sweep outputs: `results.md`, `results.csv`, `results.json`, `plot.png`, `plot.svg`,
//! each written atomically (temporary file in the same directory, then rename), so a
//! reader never sees a half-written file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::EvalError;
use super::metrics::PairedDelta;
use super::plot::{plot_png, plot_svg};
use super::split::{SplitConfig, kfold};
use super::sweep::{ArmResult, SweepConfig, SweepResults};
use crate::data::Sample;
use crate::output::{temp_path, write_atomic};

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EvalError + '_ {
    move |source| EvalError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes all five outputs into `dir` (created if missing); returns their paths.
pub fn write_results(dir: &Path, results: &SweepResults) -> Result<Vec<PathBuf>, EvalError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        write_atomic(&path, bytes).map_err(io_err(&path))?;
        written.push(path);
        Ok::<(), EvalError>(())
    };
    put("results.md", markdown(results).as_bytes())?;
    put("results.csv", &csv(results)?)?;
    let json =
        serde_json::to_vec_pretty(results).map_err(|e| EvalError::Serialise(e.to_string()))?;
    put("results.json", &json)?;
    put("plot.svg", plot_svg(results)?.as_bytes())?;
    // The PNG encoder writes to a path itself: draw into a temporary `.png`, then rename.
    let png = dir.join("plot.png");
    let tmp = temp_path(&png, "png");
    let drawn =
        plot_png(results, &tmp).and_then(|()| std::fs::rename(&tmp, &png).map_err(io_err(&png)));
    if drawn.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    drawn?;
    written.push(png);
    Ok(written)
}

/// Header of `results.csv`. `d_*` columns are paired differences (`_lo`/`_hi`: the
/// corrected 95% interval, `_sig`: it excludes 0); `none` vs itself and missing
/// references are empty.
pub const CSV_HEADER: [&str; 30] = [
    "arm",
    "ratio",
    "synthetic_weight",
    "added_rows_mean",
    "requested_rows_mean",
    "d_macro_f1_vs_none",
    "d_macro_f1_vs_none_lo",
    "d_macro_f1_vs_none_hi",
    "d_macro_f1_vs_none_sig",
    "d_rare_macro_f1_vs_none",
    "d_rare_macro_f1_vs_none_lo",
    "d_rare_macro_f1_vs_none_hi",
    "d_rare_macro_f1_vs_none_sig",
    "d_macro_f1_vs_reference",
    "d_macro_f1_vs_reference_lo",
    "d_macro_f1_vs_reference_hi",
    "d_rare_macro_f1_vs_reference",
    "d_rare_macro_f1_vs_reference_lo",
    "d_rare_macro_f1_vs_reference_hi",
    "macro_f1_mean",
    "macro_f1_std",
    "macro_f1_union_mean",
    "rare_macro_f1_mean",
    "rare_macro_f1_std",
    "accuracy_mean",
    "leaked_exact",
    "leaked_containment",
    "leaked_cosine",
    "runs",
    "probe_seconds",
];

/// The arms' rows in table order: `none` first.
fn rows(results: &SweepResults) -> impl Iterator<Item = &ArmResult> {
    std::iter::once(&results.none).chain(&results.results)
}

fn delta_cells(d: Option<&PairedDelta>, with_sig: bool) -> Vec<String> {
    let f = |v: f64| format!("{v:.6}");
    let mut cells = match d {
        Some(d) => {
            let [lo, hi] = d.ci95_corrected.map_or([f64::NAN; 2], |ci| ci);
            vec![f(d.mean), f(lo), f(hi)]
        }
        None => vec![String::new(); 3],
    };
    if with_sig {
        cells.push(d.map_or(String::new(), |d| d.significant.to_string()));
    }
    cells
}

/// `results.csv`: `none`, then one row per arm × ratio × weight (columns: [`CSV_HEADER`]).
pub fn csv(results: &SweepResults) -> Result<Vec<u8>, EvalError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let ser = |e: csv::Error| EvalError::Serialise(e.to_string());
    w.write_record(CSV_HEADER).map_err(ser)?;
    for r in rows(results) {
        let mut rec = vec![
            r.arm.clone(),
            r.ratio.to_string(),
            r.synthetic_weight.to_string(),
            format!("{:.2}", r.added_rows.mean),
            format!("{:.2}", r.requested_rows.mean),
        ];
        rec.extend(delta_cells(r.vs_none.as_ref().map(|d| &d.macro_f1), true));
        rec.extend(delta_cells(
            r.vs_none.as_ref().map(|d| &d.rare_macro_f1),
            true,
        ));
        rec.extend(delta_cells(
            r.vs_reference.as_ref().map(|d| &d.macro_f1),
            false,
        ));
        rec.extend(delta_cells(
            r.vs_reference.as_ref().map(|d| &d.rare_macro_f1),
            false,
        ));
        rec.extend([
            format!("{:.6}", r.macro_f1.mean),
            format!("{:.6}", r.macro_f1.std),
            format!("{:.6}", r.macro_f1_union.mean),
            format!("{:.6}", r.rare_macro_f1.mean),
            format!("{:.6}", r.rare_macro_f1.std),
            format!("{:.6}", r.accuracy.mean),
            r.leaked.exact.to_string(),
            r.leaked.containment.to_string(),
            r.leaked.cosine.to_string(),
            r.runs.len().to_string(),
            format!("{:.3}", r.probe_seconds),
        ]);
        w.write_record(&rec).map_err(ser)?;
    }
    w.into_inner()
        .map_err(|e| EvalError::Serialise(e.to_string()))
}

fn setup(md: &mut String, results: &SweepResults) {
    let c = &results.config;
    let test_rows: usize = results.folds.iter().map(|f| f.test_rows).sum();
    let dropped: usize = results
        .folds
        .iter()
        .map(|f| f.dropped_test_duplicates)
        .sum();
    let labels = results.folds.iter().map(|f| f.test_labels).sum::<usize>() as f64
        / results.folds.len().max(1) as f64;
    let cosine = c
        .leak
        .near_cosine
        .map_or("off".to_string(), |t| format!("≥ {t}"));
    let _ = writeln!(md, "# Augmentation sweep\n");
    let _ = writeln!(
        md,
        "- probe: `{}`\n\
         - {} folds × seeds {:?} = {} paired runs per arm; per-label target: {}; rare = ≤ {} training rows\n\
         - every arm of a fold is scored on the labels of that fold's test truth (mean {labels:.1} labels)\n\
         - leak screen, the same for every arm: exact copy, word 5-gram containment ≥ {}, embedding cosine {cosine}\n\
         - matched counts: {} (every arm adds the same rows per label at a ratio)\n\
         - test rows dropped as exact copies of training rows: {dropped} of {} ({:.1}%)\n\
         - wall time: {:.1} s (augmentation: {})\n",
        serde_json::to_string(&c.probe).unwrap_or_default(),
        c.folds,
        c.seeds,
        results.folds.len(),
        c.target,
        c.rare_threshold,
        c.leak.containment,
        if c.match_counts { "on" } else { "off" },
        test_rows + dropped,
        100.0 * dropped as f64 / (test_rows + dropped).max(1) as f64,
        results.wall_seconds,
        results
            .augment_seconds
            .iter()
            .map(|(a, s)| format!("{a} {s:.1} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn delta_table(md: &mut String, results: &SweepResults) {
    let reference = results.config.reference_arm.as_deref();
    let _ = writeln!(
        md,
        "## Paired differences\n\n\
         Mean of the per-run differences (same seed and fold) and its 95% interval: \
         corrected resampled t (Nadeau & Bengio), which allows for the training rows the \
         runs of repeated k-fold share; `*` = the interval excludes 0.\n"
    );
    let ref_cols = reference.map_or(String::new(), |r| {
        format!(" Δ macro-F1 vs {r} | Δ rare vs {r} |")
    });
    let _ = writeln!(
        md,
        "| arm | ratio | weight | rows added | Δ macro-F1 vs none | Δ rare macro-F1 vs none |{ref_cols} leaked (exact/contained/cosine) |\n\
         |---|---:|---:|---:|---:|---:|{}---:|",
        if reference.is_some() {
            "---:|---:|"
        } else {
            ""
        }
    );
    let show = |d: Option<&PairedDelta>| d.map_or("–".to_string(), |d| d.to_string());
    for r in &results.results {
        let refs = reference.map_or(String::new(), |_| {
            format!(
                " {} | {} |",
                show(r.vs_reference.as_ref().map(|d| &d.macro_f1)),
                show(r.vs_reference.as_ref().map(|d| &d.rare_macro_f1))
            )
        });
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {} | {} |{refs} {}/{}/{} |",
            r.arm,
            r.ratio,
            r.synthetic_weight,
            r.added_rows.mean,
            show(r.vs_none.as_ref().map(|d| &d.macro_f1)),
            show(r.vs_none.as_ref().map(|d| &d.rare_macro_f1)),
            r.leaked.exact,
            r.leaked.containment,
            r.leaked.cosine
        );
    }
}

fn score_table(md: &mut String, results: &SweepResults) {
    let _ = writeln!(
        md,
        "\n## Scores (mean ± sample std over runs)\n\n\
         | arm | ratio | weight | rows added | macro-F1 | rare macro-F1 | accuracy | macro-F1, union of labels | probe s |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows(results) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {:.1} |",
            r.arm,
            r.ratio,
            r.synthetic_weight,
            r.added_rows.mean,
            r.macro_f1,
            r.rare_macro_f1,
            r.accuracy,
            r.macro_f1_union,
            r.probe_seconds
        );
    }
}

fn per_class_table(md: &mut String, results: &SweepResults) {
    // `none` plus every arm at its largest ratio (first weight).
    let mut columns: Vec<(String, &ArmResult)> = vec![("none".into(), &results.none)];
    let first_weight = results.config.synthetic_weights.first().copied();
    for arm in &results.arms {
        let best = results
            .results
            .iter()
            .filter(|r| &r.arm == arm && Some(r.synthetic_weight) == first_weight)
            .max_by(|a, b| a.ratio.total_cmp(&b.ratio));
        if let Some(r) = best {
            columns.push((format!("{arm} ×{}", r.ratio), r));
        }
    }
    let _ = writeln!(
        md,
        "\n## Per-class F1 (mean over the runs where the class is in the test truth)\n\n\
         | class | test rows | runs | {} |\n|---|---:|---:|{}",
        columns
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        "---:|".repeat(columns.len())
    );
    for (class, base) in &results.none.per_class {
        let cells: Vec<String> = columns
            .iter()
            .map(|(_, r)| {
                r.per_class
                    .get(class)
                    .map_or_else(|| "–".into(), |m| format!("{:.3}", m.f1.mean))
            })
            .collect();
        let _ = writeln!(
            md,
            "| {class} | {} | {} | {} |",
            base.test_rows,
            base.f1.n,
            cells.join(" | ")
        );
    }
}

/// `results.md`: the setup, the paired differences, the scores, and per-class F1 of
/// `none` and of each arm at its largest ratio.
pub fn markdown(results: &SweepResults) -> String {
    let mut md = String::new();
    setup(&mut md, results);
    delta_table(&mut md, results);
    score_table(&mut md, results);
    per_class_table(&mut md, results);
    md
}

/// The folds a sweep with `config` uses, as CSV: one line per seed × row with the fold
/// whose test part the row is in (training = every other fold) and whether it was dropped
/// from that test part as an exact copy of a training row. Enough to rerun the same
/// folds elsewhere (`scripts/sklearn_folds.py`).
pub fn folds_csv(samples: &[Sample], config: &SweepConfig) -> Result<Vec<u8>, EvalError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let ser = |e: csv::Error| EvalError::Serialise(e.to_string());
    w.write_record(["seed", "row", "fold", "dropped", "label", "text", "group"])
        .map_err(ser)?;
    for &seed in &config.seeds {
        let split = SplitConfig {
            folds: config.folds,
            seed,
            drop_test_duplicates: config.drop_test_duplicates,
        };
        let mut fold_of = vec![(0usize, true); samples.len()];
        for fold in kfold(samples, &split)? {
            // The rows outside the training part are this fold's: kept test rows, or
            // dropped ones (copies of a training row).
            let mut outside = vec![true; samples.len()];
            for &i in &fold.train {
                outside[i] = false;
            }
            for (i, _) in outside.iter().enumerate().filter(|(_, o)| **o) {
                fold_of[i] = (fold.index, true);
            }
            for &i in &fold.test {
                fold_of[i].1 = false;
            }
        }
        for (s, (fold, dropped)) in samples.iter().zip(fold_of) {
            w.write_record([
                seed.to_string(),
                s.id.to_string(),
                fold.to_string(),
                dropped.to_string(),
                s.label.to_string(),
                s.text.clone(),
                s.group.clone().unwrap_or_default(),
            ])
            .map_err(ser)?;
        }
    }
    w.into_inner()
        .map_err(|e| EvalError::Serialise(e.to_string()))
}
