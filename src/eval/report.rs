//! Sweep outputs: `results.md`, `results.csv`, `results.json`, `plot.png`, `plot.svg`,
//! each written atomically (temporary file in the same directory, then rename), so a
//! reader never sees a half-written file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::EvalError;
use super::plot::{plot_png, plot_svg};
use super::sweep::{ArmResult, SweepResults};
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

/// Header of `results.csv`.
pub const CSV_HEADER: [&str; 14] = [
    "arm",
    "ratio",
    "synthetic_weight",
    "macro_f1_mean",
    "macro_f1_std",
    "rare_macro_f1_mean",
    "rare_macro_f1_std",
    "accuracy_mean",
    "accuracy_std",
    "added_rows_mean",
    "requested_rows_mean",
    "leaked_rows_dropped",
    "runs",
    "probe_seconds",
];

/// `results.csv`: one row per arm × ratio × weight (columns: [`CSV_HEADER`]).
pub fn csv(results: &SweepResults) -> Result<Vec<u8>, EvalError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let ser = |e: csv::Error| EvalError::Serialise(e.to_string());
    w.write_record(CSV_HEADER).map_err(ser)?;
    for r in &results.results {
        w.write_record([
            r.arm.clone(),
            r.ratio.to_string(),
            r.synthetic_weight.to_string(),
            format!("{:.6}", r.macro_f1.mean),
            format!("{:.6}", r.macro_f1.std),
            format!("{:.6}", r.rare_macro_f1.mean),
            format!("{:.6}", r.rare_macro_f1.std),
            format!("{:.6}", r.accuracy.mean),
            format!("{:.6}", r.accuracy.std),
            format!("{:.2}", r.added_rows.mean),
            format!("{:.2}", r.requested_rows.mean),
            r.leaked_rows_dropped.to_string(),
            r.runs.len().to_string(),
            format!("{:.3}", r.probe_seconds),
        ])
        .map_err(ser)?;
    }
    w.into_inner()
        .map_err(|e| EvalError::Serialise(e.to_string()))
}

/// `results.md`: the setup, the main table, and per-class F1 of the baseline and of each
/// arm at its largest ratio.
pub fn markdown(results: &SweepResults) -> String {
    let c = &results.config;
    let mut md = String::new();
    let test_rows: usize = results.folds.iter().map(|f| f.test_rows).sum();
    let dropped: usize = results
        .folds
        .iter()
        .map(|f| f.dropped_test_duplicates)
        .sum();
    let _ = writeln!(md, "# Augmentation sweep\n");
    let _ = writeln!(
        md,
        "- probe: `{}`\n- {} folds × seeds {:?}; per-label target: {:?}; rare = ≤ {} training rows\n\
         - test rows dropped as exact copies of training rows: {dropped} of {} ({:.1}%)\n\
         - wall time: {:.1} s (augmentation: {})\n",
        serde_json::to_string(&c.probe).unwrap_or_default(),
        c.folds,
        c.seeds,
        c.target,
        c.rare_threshold,
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
    let _ = writeln!(
        md,
        "| arm | ratio | weight | added rows | macro-F1 | rare macro-F1 | accuracy | probe s |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &results.results {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {:.1} |",
            r.arm,
            r.ratio,
            r.synthetic_weight,
            r.added_rows.mean,
            r.macro_f1,
            r.rare_macro_f1,
            r.accuracy,
            r.probe_seconds
        );
    }
    // Per-class F1: the baseline plus every arm at its largest ratio (first weight).
    let mut columns: Vec<(String, &ArmResult)> = Vec::new();
    let first_weight = c.synthetic_weights.first().copied();
    if let Some(base) = results.results.iter().find(|r| r.ratio == 0.0) {
        columns.push(("none".into(), base));
    }
    for arm in &results.arms {
        let best = results
            .results
            .iter()
            .filter(|r| &r.arm == arm && Some(r.synthetic_weight) == first_weight && r.ratio > 0.0)
            .max_by(|a, b| a.ratio.total_cmp(&b.ratio));
        if let Some(r) = best {
            columns.push((format!("{arm} ×{}", r.ratio), r));
        }
    }
    if !columns.is_empty() {
        let mut classes: Vec<&String> = columns
            .iter()
            .flat_map(|(_, r)| r.per_class_f1.keys())
            .collect();
        classes.sort();
        classes.dedup();
        let _ = writeln!(md, "\n## Per-class F1 (mean over folds × seeds)\n");
        let _ = writeln!(
            md,
            "| class | {} |\n|---|{}",
            columns
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(" | "),
            "---:|".repeat(columns.len())
        );
        for class in classes {
            let cells: Vec<String> = columns
                .iter()
                .map(|(_, r)| {
                    r.per_class_f1
                        .get(class)
                        .map_or_else(|| "–".into(), |m| format!("{:.3}", m.mean))
                })
                .collect();
            let _ = writeln!(md, "| {class} | {} |", cells.join(" | "));
        }
    }
    md
}
