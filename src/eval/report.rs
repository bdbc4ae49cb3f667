//! Sweep outputs: `results.md`, `results.csv`, `results.json`, `results.html`, `plot.png`,
//! `plot.svg`,
//! each written atomically (temporary file in the same directory, then rename), so a
//! reader never sees a half-written file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::EvalError;
use super::metrics::PairedDelta;
use super::plot::{plot_png, plot_svg};
use super::sweep::{
    ArmResult, Design, FamilyMember, FoldInfo, Metric, Pair, SweepConfig, SweepResults,
};
use crate::data::Sample;
use crate::learn::split::{SplitConfig, kfold};
use crate::output::{temp_path, write_atomic};

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EvalError + '_ {
    move |source| EvalError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes all six outputs into `dir` (created if missing); returns their paths.
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
    let value: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| EvalError::Serialise(e.to_string()))?;
    put("results.html", crate::html::render_eval(&value).as_bytes())?;
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

/// Header of `results.csv`. `d_*` columns are paired differences vs `none` (`_lo`/`_hi`:
/// the corrected 95% interval, `_sig`: it excludes 0 — both unadjusted; `_p`: unadjusted
/// p-value, `_p_holm`/`_sig_holm`: Holm-adjusted over the sweep's family); `none` vs
/// itself is empty. Comparisons between arms are in `results.json` (`comparisons`,
/// `claims`).
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
    "d_macro_f1_vs_none_p",
    "d_macro_f1_vs_none_p_holm",
    "d_macro_f1_vs_none_sig_holm",
    "d_rare_macro_f1_vs_none_p",
    "d_rare_macro_f1_vs_none_p_holm",
    "d_rare_macro_f1_vs_none_sig_holm",
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
        for metric in Metric::ALL {
            let member = results.claims.find(
                &Pair {
                    arm: r.arm.clone(),
                    base: "none".into(),
                },
                r.ratio,
                r.synthetic_weight,
                metric,
            );
            rec.extend(match member {
                Some(m) => vec![
                    format!("{:.6}", m.holm.p),
                    format!("{:.6}", m.holm.p_holm),
                    m.holm.significant.to_string(),
                ],
                None => vec![String::new(); 3],
            });
        }
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
    let labels = results.folds.iter().map(|f| f.test_labels).sum::<usize>() as f64
        / results.folds.len().max(1) as f64;
    let _ = writeln!(
        md,
        "\n## Setup\n\n\
         - probe: `{}`\n\
         - {} folds × seeds {:?} = {} paired runs per arm; per-label target: {}; rare = 1 to {} training rows (labels with none are reported apart, as *unseen*)\n\
         - each ratio is generated at its own target; an arm's results depend on that arm alone\n\
         - every arm of a fold is scored on the labels of that fold's test truth (mean {labels:.1} labels)\n\
         - wall time: {:.1} s (augmentation: {})\n",
        serde_json::to_string(&c.probe).unwrap_or_default(),
        c.folds,
        c.seeds,
        results.folds.len(),
        c.target,
        c.rare_threshold,
        results.wall_seconds,
        results
            .augment_seconds
            .iter()
            .map(|(a, s)| format!("{a} {s:.1} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// `+0.012 [−0.004, +0.028]*` at the member's Holm level.
fn adjusted(m: Option<&FamilyMember>) -> String {
    m.map_or("–".into(), |m| {
        let [lo, hi] = m.holm.ci;
        format!(
            "{:+.3} [{lo:+.3}, {hi:+.3}]{}",
            m.mean,
            if m.holm.significant { "*" } else { "" }
        )
    })
}

fn primary_section(md: &mut String, results: &SweepResults) {
    let _ = writeln!(md, "# Augmentation sweep\n\n## Primary comparison\n");
    let Some(p) = &results.claims.primary else {
        let _ = writeln!(
            md,
            "None named (`--primary ARM:BASE`); every interval below is in the Holm family.\n"
        );
        return;
    };
    let d = &p.delta;
    let ci = d.ci95_corrected.map_or(
        "no interval (fewer than 2 paired runs with this score)".into(),
        |[lo, hi]| format!("[{lo:+.3}, {hi:+.3}]"),
    );
    let verdict = if d.significant {
        "the interval excludes 0"
    } else {
        "the interval contains 0: no difference shown"
    };
    let _ = writeln!(
        md,
        "**{} at ratio {}, Δ {} = {:+.3} {ci}** (95%, tested alone, design `{}`, {} paired runs, p = {:.3}; {verdict}). \
         Rows added per run: {} {:.0}, {} {:.0}, of {:.0} requested.\n",
        p.primary.pair,
        p.primary.ratio,
        p.primary.metric,
        d.mean,
        results.config.design,
        d.n,
        d.p,
        p.primary.pair.arm,
        p.added[0].mean,
        p.primary.pair.base,
        p.added[1].mean,
        p.requested.mean
    );
}

fn family_note(md: &mut String, results: &SweepResults) {
    let m = results.claims.family.len();
    let _ = writeln!(
        md,
        "Every interval below is **Holm-adjusted** within one family: the {m} intervals of this \
         table and the next (every arm vs `none` and every comparison, on both metrics, at every \
         ratio and weight; the primary comparison is not in it). Each is the mean of the \
         per-run differences (same seed and fold) with a corrected resampled t interval \
         (Nadeau & Bengio) at the level Holm's step gives it; `*` = Holm rejects at \
         family-wise α = {}. Unadjusted intervals and p-values are in results.json.\n",
        results.claims.alpha
    );
}

fn comparison_table(md: &mut String, results: &SweepResults) {
    let design = results.config.design;
    let _ = writeln!(
        md,
        "## Comparisons between arms (design `{design}`: {})\n",
        match design {
            Design::Fill => "each arm added what it could toward the target",
            Design::Equal =>
                "both sides of a pair capped, per label, at the fewer clean rows of the two",
        }
    );
    family_note(md, results);
    if results.comparisons.is_empty() {
        let _ = writeln!(
            md,
            "No comparison between arms was asked for (`--compare`).\n"
        );
        return;
    }
    let _ = writeln!(
        md,
        "| comparison | ratio | weight | rows added: arm / base (requested) | Δ macro-F1 | Δ rare macro-F1 |\n\
         |---|---:|---:|---:|---:|---:|"
    );
    let claims = &results.claims;
    for c in &results.comparisons {
        let cell = |metric| {
            let primary = claims.primary.as_ref().is_some_and(|p| {
                p.primary.pair == c.pair
                    && p.primary.ratio == c.ratio
                    && p.primary.metric == metric
                    && p.synthetic_weight == c.synthetic_weight
            });
            if primary {
                "primary (above)".to_string()
            } else {
                adjusted(claims.find(&c.pair, c.ratio, c.synthetic_weight, metric))
            }
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} / {:.0} ({:.0}) | {} | {} |",
            c.pair,
            c.ratio,
            c.synthetic_weight,
            c.arm_added.mean,
            c.base_added.mean,
            c.requested.mean,
            cell(Metric::MacroF1),
            cell(Metric::RareMacroF1)
        );
    }
    md.push('\n');
}

fn vs_none_table(md: &mut String, results: &SweepResults) {
    let _ = writeln!(
        md,
        "## Each arm vs no augmentation (same family)\n\n\
         | arm | ratio | weight | rows requested | rows added | Δ macro-F1 vs none | Δ rare macro-F1 vs none | leaked (exact/contained/cosine) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &results.results {
        let pair = Pair {
            arm: r.arm.clone(),
            base: "none".into(),
        };
        let cell = |metric| {
            adjusted(
                results
                    .claims
                    .find(&pair, r.ratio, r.synthetic_weight, metric),
            )
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {:.0} | {} | {} | {}/{}/{} |",
            r.arm,
            r.ratio,
            r.synthetic_weight,
            r.requested_rows.mean,
            r.added_rows.mean,
            cell(Metric::MacroF1),
            cell(Metric::RareMacroF1),
            r.leaked.exact,
            r.leaked.containment,
            r.leaked.cosine
        );
    }
}

fn leak_section(md: &mut String, results: &SweepResults) {
    let c = &results.config;
    let sum = |f: &dyn Fn(&FoldInfo) -> usize| results.folds.iter().map(f).sum::<usize>();
    let kept = sum(&|f| f.test_rows);
    let exact = sum(&|f| f.dropped_test_duplicates);
    let copies = sum(&|f| f.dropped_test_copies.total());
    let (looser, tighter) = (
        sum(&|f| f.dropped_test_sensitivity.looser.total()),
        sum(&|f| f.dropped_test_sensitivity.tighter.total()),
    );
    let cosine = c
        .leak
        .near_cosine
        .map_or("off".to_string(), |t| format!("≥ {t}"));
    let all = kept + exact + copies;
    let _ = writeln!(
        md,
        "\n## Leak screen\n\n\
         One policy, two directions: a copy is the same words (case, whitespace and punctuation \
         folded), word 5-gram containment ≥ {} (for a 2–4-word test text: the whole text inside \
         a text of the same label), or embedding cosine {cosine}.\n\n\
         - test rows removed as copies of the fold's training part, for every arm alike: \
         {exact} exact (split) + {copies} by the policy, of {all} ({:.1}%); a ×2 looser / \
         tighter policy would remove {looser} / {tighter} (besides the {exact})\n\
         - added rows dropped as copies of a test row, per arm (summed over runs):\n\n\
         | arm | ratio | weight | dropped: ×2 looser | dropped: policy | dropped: ×2 tighter |\n\
         |---|---:|---:|---:|---:|---:|",
        c.leak.containment,
        100.0 * (exact + copies) as f64 / all.max(1) as f64,
    );
    for r in &results.results {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            r.arm,
            r.ratio,
            r.synthetic_weight,
            r.leak_sensitivity.looser.total(),
            r.leaked.total(),
            r.leak_sensitivity.tighter.total()
        );
    }
}

fn score_table(md: &mut String, results: &SweepResults) {
    let _ = writeln!(
        md,
        "\n## Scores (mean ± sample std over runs)\n\n\
         | arm | ratio | weight | rows added | macro-F1 | rare macro-F1 | unseen macro-F1 | accuracy | macro-F1, union of labels | probe s |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows(results) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.1} |",
            r.arm,
            r.ratio,
            r.synthetic_weight,
            r.added_rows.mean,
            r.macro_f1,
            r.rare_macro_f1,
            r.unseen_macro_f1,
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

/// `results.md`: the primary comparison first, then the Holm-adjusted comparisons and
/// arm-vs-none differences with rows requested and added, the leak screen, the setup, the
/// scores, and per-class F1 of `none` and of each arm at its largest ratio.
pub fn markdown(results: &SweepResults) -> String {
    let mut md = String::new();
    primary_section(&mut md, results);
    comparison_table(&mut md, results);
    vs_none_table(&mut md, results);
    leak_section(&mut md, results);
    setup(&mut md, results);
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
