//! `results.html` of an `eval` run.

use serde::Serialize;
use serde_json::Value;

use super::eval_plots::{self, METRICS};
use super::value::{
    DASH, arr_at, at, f64_at, fixed, int, interval_at, obj_at, or_dash, signed, str_at, text,
    u64_at,
};
use super::{render_page, safe};

/// Renders `results.html` of an `eval` run from its parsed `results.json`.
///
/// One self-contained page: the primary comparison first and apart (its 95% interval,
/// tested alone), a forest plot of every paired difference of the Holm family
/// (`claims.family`, at the level Holm gives each), ratio curves per arm (scores ± std, and
/// the difference vs `none` with its adjusted interval), per-class F1 of the rare classes
/// as a heat map, the scores, and the run's design (folds, seeds, design, target, probe,
/// leak screen and what it removed). Fields missing from `results` show as "—"; nothing
/// here panics on odd JSON.
pub fn render_eval(results: &Value) -> String {
    let series = eval_plots::series(results);
    let forest = eval_plots::forest_rows(results);
    let (classes, rare_note) = eval_plots::rare_classes(results);
    let columns = heat_columns(results);
    let ctx = EvalPage {
        primary: primary(results),
        family_size: arr_at(results, "/claims/family").len(),
        alpha: fixed(f64_at(results, "/claims/alpha"), 2),
        forest: safe(if forest.is_empty() {
            String::new()
        } else {
            eval_plots::forest_svg(&forest)
        }),
        curves: eval_plots::curves(results, &series)
            .into_iter()
            .map(safe)
            .collect(),
        curve_legend: safe(eval_plots::curve_legend(&series)),
        heatmap: safe(if classes.is_empty() {
            String::new()
        } else {
            let cols: Vec<(String, &Value)> =
                columns.iter().map(|(n, v)| (n.clone(), *v)).collect();
            eval_plots::heatmap_svg(&classes, &cols)
        }),
        rare_note,
        scores: score_rows(results),
        comparisons: comparison_rows(results),
        design: design(results),
        folds: fold_rows(results),
        leaks: leak_rows(results),
        test_leaks: test_leak_line(results),
    };
    render_page("eval.html", ctx)
}

#[derive(Serialize)]
struct EvalPage {
    primary: Option<Primary>,
    family_size: usize,
    alpha: String,
    forest: minijinja::Value,
    curves: Vec<minijinja::Value>,
    curve_legend: minijinja::Value,
    heatmap: minijinja::Value,
    rare_note: String,
    scores: Vec<Vec<String>>,
    comparisons: Vec<Vec<String>>,
    design: Vec<(String, String)>,
    folds: Vec<Vec<String>>,
    leaks: Vec<Vec<String>>,
    test_leaks: String,
}

#[derive(Serialize)]
struct Primary {
    what: String,
    delta: String,
    verdict: String,
    detail: String,
    significant: bool,
}

fn primary(r: &Value) -> Option<Primary> {
    let p = at(r, "/claims/primary");
    if !p.is_object() {
        return None;
    }
    let ci = interval_at(p, "/delta/ci95_corrected").map_or(
        "no interval (fewer than 2 paired runs)".into(),
        |[lo, hi]| format!("[{lo:+.3}, {hi:+.3}]"),
    );
    let significant = p["delta"]["significant"].as_bool() == Some(true);
    let added = arr_at(p, "/added");
    let added_of = |i: usize| fixed(added.get(i).and_then(|a| f64_at(a, "/mean")), 0);
    Some(Primary {
        what: format!(
            "{} vs {} at ratio {}, Δ {}",
            or_dash(str_at(p, "/primary/pair/arm")),
            or_dash(str_at(p, "/primary/pair/base")),
            f64_at(p, "/primary/ratio").map_or(DASH.into(), |x| x.to_string()),
            eval_plots::metric_label(str_at(p, "/primary/metric").unwrap_or(DASH))
        ),
        delta: format!("{} {ci}", signed(f64_at(p, "/delta/mean"), 3)),
        verdict: if significant {
            "the interval excludes 0".into()
        } else {
            "the interval contains 0: no difference shown".into()
        },
        detail: format!(
            "95%, tested alone; design {}; {} paired runs; p = {}. Rows added per run: {} {}, {} {}, of {} requested.",
            or_dash(str_at(r, "/config/design")),
            int(u64_at(p, "/delta/n")),
            fixed(f64_at(p, "/delta/p"), 3),
            or_dash(str_at(p, "/primary/pair/arm")),
            added_of(0),
            or_dash(str_at(p, "/primary/pair/base")),
            added_of(1),
            fixed(f64_at(p, "/requested/mean"), 0)
        ),
        significant,
    })
}

/// The heat map's columns: `none`, then every arm at every ratio (the first weight only).
fn heat_columns(r: &Value) -> Vec<(String, &Value)> {
    let mut cols = vec![("none".to_string(), &r["none"])];
    let first_weight = arr_at(r, "/results")
        .first()
        .and_then(|x| f64_at(x, "/synthetic_weight"));
    for x in arr_at(r, "/results") {
        if f64_at(x, "/synthetic_weight") == first_weight {
            cols.push((
                format!(
                    "{} ×{}",
                    or_dash(str_at(x, "/arm")),
                    f64_at(x, "/ratio").map_or(DASH.into(), |v| v.to_string())
                ),
                x,
            ));
        }
    }
    cols
}

fn mean_std(v: &Value, field: &str) -> String {
    match f64_at(v, &format!("/{field}/mean")) {
        Some(m) => format!("{m:.3} ± {}", fixed(f64_at(v, &format!("/{field}/std")), 3)),
        None => DASH.into(),
    }
}

fn score_rows(r: &Value) -> Vec<Vec<String>> {
    std::iter::once(&r["none"])
        .chain(arr_at(r, "/results"))
        .filter(|x| x.is_object())
        .map(|x| {
            vec![
                or_dash(str_at(x, "/arm")),
                f64_at(x, "/ratio").map_or(DASH.into(), |v| v.to_string()),
                f64_at(x, "/synthetic_weight").map_or(DASH.into(), |v| v.to_string()),
                fixed(f64_at(x, "/added_rows/mean"), 0),
                mean_std(x, "macro_f1"),
                mean_std(x, "rare_macro_f1"),
                mean_std(x, "unseen_macro_f1"),
                mean_std(x, "accuracy"),
                arr_at(x, "/runs").len().to_string(),
            ]
        })
        .collect()
}

fn comparison_rows(r: &Value) -> Vec<Vec<String>> {
    arr_at(r, "/comparisons")
        .iter()
        .map(|c| {
            let (arm, base) = (
                str_at(c, "/pair/arm").unwrap_or("?"),
                str_at(c, "/pair/base").unwrap_or("?"),
            );
            let ratio = f64_at(c, "/ratio");
            let mut row = vec![
                format!("{arm} vs {base}"),
                ratio.map_or(DASH.into(), |v| v.to_string()),
                format!(
                    "{} / {} ({})",
                    fixed(f64_at(c, "/arm_added/mean"), 0),
                    fixed(f64_at(c, "/base_added/mean"), 0),
                    fixed(f64_at(c, "/requested/mean"), 0)
                ),
            ];
            for m in METRICS {
                let member = ratio.and_then(|x| {
                    eval_plots::family_member(
                        r,
                        (arm, base),
                        x,
                        f64_at(c, "/synthetic_weight"),
                        m.claim,
                    )
                });
                row.push(match member {
                    Some(f) => format!(
                        "{} {}{}",
                        signed(f64_at(f, "/mean"), 3),
                        interval_at(f, "/holm/ci")
                            .map_or(DASH.into(), |[l, h]| format!("[{l:+.3}, {h:+.3}]")),
                        if f["holm"]["significant"].as_bool() == Some(true) {
                            "*"
                        } else {
                            ""
                        }
                    ),
                    None if is_primary(r, (arm, base), ratio, m.claim) => "primary (above)".into(),
                    None => DASH.into(),
                });
            }
            row
        })
        .collect()
}

/// Whether `claims.primary` is this comparison on this metric.
fn is_primary(r: &Value, (arm, base): (&str, &str), ratio: Option<f64>, metric: &str) -> bool {
    let p = at(r, "/claims/primary/primary");
    str_at(p, "/pair/arm") == Some(arm)
        && str_at(p, "/pair/base") == Some(base)
        && ratio.is_some()
        && f64_at(p, "/ratio") == ratio
        && str_at(p, "/metric") == Some(metric)
}

fn design(r: &Value) -> Vec<(String, String)> {
    let c = &r["config"];
    let list = |p: &str| {
        let v: Vec<String> = arr_at(c, p).iter().map(text).collect();
        if v.is_empty() {
            DASH.to_string()
        } else {
            v.join(", ")
        }
    };
    let pairs: Vec<String> = arr_at(c, "/comparisons")
        .iter()
        .map(|p| format!("{} vs {}", text(&p["arm"]), text(&p["base"])))
        .collect();
    let json = |p: &str| {
        let v = at(c, p);
        if v.is_null() {
            DASH.to_string()
        } else {
            v.to_string()
        }
    };
    let aug: Vec<String> = obj_at(r, "/augment_seconds")
        .into_iter()
        .map(|(k, v)| format!("{k} {} s", fixed(v.as_f64(), 1)))
        .collect();
    vec![
        (
            "arms".into(),
            arr_at(r, "/arms")
                .iter()
                .map(text)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("folds".into(), int(u64_at(c, "/folds"))),
        ("seeds".into(), list("/seeds")),
        (
            "paired runs per arm".into(),
            arr_at(r, "/folds").len().to_string(),
        ),
        ("design".into(), or_dash(str_at(c, "/design"))),
        ("ratios".into(), list("/ratios")),
        ("synthetic weights".into(), list("/synthetic_weights")),
        ("per-label target".into(), or_dash(str_at(c, "/target"))),
        (
            "rare threshold (training rows)".into(),
            int(u64_at(c, "/rare_threshold")),
        ),
        (
            "drop test duplicates".into(),
            text(&c["drop_test_duplicates"]),
        ),
        (
            "comparisons".into(),
            if pairs.is_empty() {
                DASH.into()
            } else {
                pairs.join(", ")
            },
        ),
        ("probe".into(), json("/probe")),
        ("leak policy".into(), json("/leak")),
        (
            "wall time".into(),
            format!("{} s", fixed(f64_at(r, "/wall_seconds"), 1)),
        ),
        (
            "augmentation time".into(),
            if aug.is_empty() {
                DASH.into()
            } else {
                aug.join(", ")
            },
        ),
    ]
}

fn fold_rows(r: &Value) -> Vec<Vec<String>> {
    arr_at(r, "/folds")
        .iter()
        .map(|f| {
            let copies: u64 = obj_at(f, "/dropped_test_copies")
                .iter()
                .filter_map(|(_, v)| v.as_u64())
                .sum();
            vec![
                int(u64_at(f, "/seed")),
                int(u64_at(f, "/fold")),
                int(u64_at(f, "/train_rows")),
                int(u64_at(f, "/test_rows")),
                int(u64_at(f, "/dropped_test_duplicates")),
                copies.to_string(),
                int(u64_at(f, "/rare_labels")),
                int(u64_at(f, "/test_labels")),
            ]
        })
        .collect()
}

/// Sum of the three leak counts (exact, containment, cosine) at `pointer`.
fn leak_total(v: &Value, pointer: &str) -> Option<u64> {
    let o = at(v, pointer);
    o.is_object().then(|| {
        ["exact", "containment", "cosine"]
            .iter()
            .filter_map(|k| o[*k].as_u64())
            .sum()
    })
}

fn leak_rows(r: &Value) -> Vec<Vec<String>> {
    arr_at(r, "/results")
        .iter()
        .map(|x| {
            vec![
                or_dash(str_at(x, "/arm")),
                f64_at(x, "/ratio").map_or(DASH.into(), |v| v.to_string()),
                format!(
                    "{}/{}/{}",
                    int(u64_at(x, "/leaked/exact")),
                    int(u64_at(x, "/leaked/containment")),
                    int(u64_at(x, "/leaked/cosine"))
                ),
                int(leak_total(x, "/leak_sensitivity/looser")),
                int(leak_total(x, "/leaked")),
                int(leak_total(x, "/leak_sensitivity/tighter")),
            ]
        })
        .collect()
}

fn test_leak_line(r: &Value) -> String {
    let folds = arr_at(r, "/folds");
    if folds.is_empty() {
        return DASH.into();
    }
    let sum = |f: &dyn Fn(&Value) -> Option<u64>| folds.iter().filter_map(f).sum::<u64>();
    let kept = sum(&|f| u64_at(f, "/test_rows"));
    let exact = sum(&|f| u64_at(f, "/dropped_test_duplicates"));
    let copies = sum(&|f| leak_total(f, "/dropped_test_copies"));
    let looser = sum(&|f| leak_total(f, "/dropped_test_sensitivity/looser"));
    let tighter = sum(&|f| leak_total(f, "/dropped_test_sensitivity/tighter"));
    let all = kept + exact + copies;
    format!(
        "Test rows removed as copies of the fold's training part, for every arm alike: {exact} exact (split) + {copies} by the policy, of {all} ({:.1}%); a ×2 looser / tighter policy would remove {looser} / {tighter} (besides the {exact}).",
        100.0 * (exact + copies) as f64 / all.max(1) as f64
    )
}
