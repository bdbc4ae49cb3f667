//! `report.html` of an `augment` run.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::map::{self, stride};
use super::svg::{Scale, Svg, series_colour, short};
use super::value::{DASH, arr_at, f64_at, fixed, int, obj_at, or_dash, str_at, text, u64_at};
use super::{MAP_POINT_LIMIT, ROW_LIMIT, RowView, RunMap, render_page, safe};

/// Renders `report.html` of an `augment` run from its parsed `report.json`, the map points
/// and the rows (accepted rows of `augmented.jsonl` and rejected candidates of
/// `rejected.jsonl`, see [`RowView::from_row`] and [`RowView::from_rejected`]).
///
/// One self-contained page: the run's outcome, per-technique bars (rows before, procedure
/// rows, synthetic rows, target), the maps (one for all techniques, one per selected
/// technique with its nearest other techniques muted, hover for text and provenance), the
/// rows filterable by technique, origin and status and searchable, the rejections, LLM
/// usage and stage times, and the configuration. At most 5,000 map points and
/// 4,000 rows are drawn; beyond them the page draws a deterministic sample and
/// says so. Fields missing from `report` show as "—"; nothing here panics on odd JSON.
pub fn render_run(report: &Value, map: &RunMap, rows: &[RowView]) -> String {
    let sample = map::sample(map, MAP_POINT_LIMIT);
    let ctx = RunPage {
        summary: summary(report),
        outcome: outcome(report),
        bars: safe(technique_bars(report)),
        techniques: technique_rows(report),
        plan: plan_rows(report),
        clusters: clusters(report),
        map_note: sample.note(),
        map_projection: map.projection.clone(),
        map_points: sample.idx.len(),
        map_overview: safe(map::overview_svg(map, &sample)),
        map_legend: safe(map::legend_svg()),
        map_techniques: map::technique_maps(map, &sample)
            .into_iter()
            .map(|t| TechniqueMapView {
                technique: t.technique,
                neighbours: t.neighbours.join(", "),
                own: format!("{} of {}", t.own.0, t.own.1),
                svg: safe(t.svg),
            })
            .collect(),
        map_details: safe(map::details_json(map, &sample)),
        rows: row_table(rows),
        rejections: rejections(report),
        llm: llm_rows(report),
        endpoints: endpoint_rows(report),
        stages: safe(stage_bars(report)),
        redaction: redaction_rows(report),
        config: str_at(report, "/config").unwrap_or(DASH).to_string(),
    };
    render_page("run.html", ctx)
}

#[derive(Serialize)]
struct RunPage {
    summary: Vec<(String, String)>,
    outcome: Outcome,
    bars: minijinja::Value,
    techniques: Vec<Vec<String>>,
    plan: Vec<Vec<String>>,
    clusters: Vec<ClusterView>,
    map_note: String,
    map_projection: String,
    map_points: usize,
    map_overview: minijinja::Value,
    map_legend: minijinja::Value,
    map_techniques: Vec<TechniqueMapView>,
    map_details: minijinja::Value,
    rows: RowTable,
    rejections: Rejections,
    llm: Vec<(String, String)>,
    endpoints: Vec<Vec<String>>,
    stages: minijinja::Value,
    redaction: Vec<Vec<String>>,
    config: String,
}

#[derive(Serialize)]
struct TechniqueMapView {
    technique: String,
    neighbours: String,
    own: String,
    svg: minijinja::Value,
}

#[derive(Serialize)]
struct Outcome {
    /// `complete`, `incomplete`, `dry run` or "—".
    status: String,
    /// One sentence.
    text: String,
    /// Whether the page shows it as a warning.
    warn: bool,
}

fn summary(r: &Value) -> Vec<(String, String)> {
    let pair = |k: &str, v: String| (k.to_string(), v);
    let mut out = vec![
        pair("input", or_dash(str_at(r, "/input"))),
        pair("output", or_dash(str_at(r, "/output_dir"))),
        pair("synthcti", or_dash(str_at(r, "/version"))),
        pair(
            "rows",
            format!(
                "{} → {} ({} accepted of {} candidates)",
                int(u64_at(r, "/rows_before")),
                int(u64_at(r, "/rows_after")),
                int(u64_at(r, "/accepted")),
                int(u64_at(r, "/candidates"))
            ),
        ),
        pair(
            "wall time",
            format!("{} s", fixed(f64_at(r, "/wall_seconds"), 1)),
        ),
    ];
    if let [name, hash] = arr_at(r, "/template") {
        out.push(pair(
            "template",
            format!("{} (sha256 {})", text(name), text(hash)),
        ));
    }
    if let Some(f) = str_at(r, "/config_file") {
        out.push(pair("configuration file", f.to_string()));
    }
    let rate = |on: &str, all: &str| match (u64_at(r, on), u64_at(r, all)) {
        (Some(a), Some(b)) if b > 0 => format!("{:.2} ({a}/{b})", a as f64 / b as f64),
        _ => DASH.into(),
    };
    out.push(pair(
        "on-label rate (classifier's top-1 is the row's technique)",
        format!(
            "LLM rows {}, procedure rows {}",
            rate("/on_label/synthetic_on_label", "/on_label/synthetic"),
            rate("/on_label/procedures_on_label", "/on_label/procedures")
        ),
    ));
    out
}

fn outcome(r: &Value) -> Outcome {
    let missing = int(u64_at(r, "/outcome/missing_rows"));
    if r["dry_run"].as_bool() == Some(true) {
        return Outcome {
            status: "dry run".into(),
            text: "Nothing was generated: the plan below is what a run would ask for.".into(),
            warn: false,
        };
    }
    match str_at(r, "/outcome/status") {
        Some("complete") => Outcome {
            status: "complete".into(),
            text: if missing == "0" {
                "Every row the target asked for is there.".into()
            } else {
                format!(
                    "{missing} row(s) short of the target: the filters turned down more than the attempt budget replaced."
                )
            },
            warn: missing != "0",
        },
        Some("incomplete") => {
            let reason: Vec<String> = obj_at(r, "/outcome/reason")
                .into_iter()
                .map(|(k, v)| format!("{k}: {}", text(v)))
                .collect();
            Outcome {
                status: "incomplete".into(),
                text: format!(
                    "{missing} row(s) missing ({}); rerun with --resume to continue.",
                    reason.join(", ")
                ),
                warn: true,
            }
        }
        _ => Outcome {
            status: DASH.into(),
            text: "The report does not say how the run ended.".into(),
            warn: false,
        },
    }
}

fn technique_rows(r: &Value) -> Vec<Vec<String>> {
    arr_at(r, "/techniques")
        .iter()
        .map(|t| {
            let rejected: u64 = obj_at(t, "/rejected")
                .iter()
                .filter_map(|(_, v)| v.as_u64())
                .sum();
            let mut row = vec![or_dash(str_at(t, "/id")), or_dash(str_at(t, "/name"))];
            for k in [
                "before",
                "target_added",
                "clusters",
                "added_procedures",
                "added_synthetic",
                "after",
                "requests",
                "candidates",
            ] {
                row.push(int(u64_at(t, &format!("/{k}"))));
            }
            row.push(rejected.to_string());
            row
        })
        .collect()
}

fn plan_rows(r: &Value) -> Vec<Vec<String>> {
    obj_at(r, "/planned_requests")
        .into_iter()
        .map(|(t, n)| {
            vec![
                t.to_string(),
                int(n.as_u64()),
                int(r["request_budget"].get(t).and_then(Value::as_u64)),
            ]
        })
        .collect()
}

#[derive(Serialize)]
struct ClusterView {
    technique: String,
    clusters: Vec<(String, Vec<String>)>,
}

fn clusters(r: &Value) -> Vec<ClusterView> {
    arr_at(r, "/techniques")
        .iter()
        .map(|t| ClusterView {
            technique: format!(
                "{} {}",
                or_dash(str_at(t, "/id")),
                str_at(t, "/name").unwrap_or("")
            ),
            clusters: arr_at(t, "/cluster_summaries")
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    (
                        format!("cluster {i} ({} sentences)", int(u64_at(c, "/size"))),
                        arr_at(c, "/central").iter().map(text).collect(),
                    )
                })
                .collect(),
        })
        .collect()
}

/// Horizontal stacked bars per technique: rows before, procedure rows, synthetic rows, and
/// a tick at the target (before + rows the target asked to add).
fn technique_bars(r: &Value) -> String {
    let ts = arr_at(r, "/techniques");
    let get = |t: &Value, k: &str| u64_at(t, k).unwrap_or(0) as f64;
    let max = ts
        .iter()
        .map(|t| {
            let after =
                get(t, "/before") + get(t, "/added_procedures") + get(t, "/added_synthetic");
            after.max(get(t, "/before") + get(t, "/target_added"))
        })
        .fold(1.0, f64::max);
    let (left, right, row) = (110.0, 900.0, 22.0);
    let height = 40.0 + row * ts.len() as f64;
    let scale = Scale::new(0.0, max, left, right);
    let mut svg = Svg::new(1000.0, height, "bars", "rows per technique", None);
    svg.x_axis(&scale, height - 18.0, 4.0, &short);
    let parts = [
        ("/before", "#56B4E9", "before"),
        ("/added_procedures", "#009E73", "procedure rows"),
        ("/added_synthetic", "#D55E00", "synthetic rows"),
    ];
    for (i, t) in ts.iter().enumerate() {
        let y = 6.0 + row * i as f64;
        let id = or_dash(str_at(t, "/id"));
        svg.text((left - 6.0, y + 13.0), "end", "label", &id);
        let mut x0 = 0.0;
        for (key, colour, what) in parts {
            let v = get(t, key);
            let title = format!("{id}: {v} {what}");
            svg.rect(
                (scale.at(x0), y, scale.at(x0 + v) - scale.at(x0), row - 6.0),
                colour,
                Some(&title),
            );
            x0 += v;
        }
        let target = get(t, "/before") + get(t, "/target_added");
        let tx = scale.at(target);
        svg.line((tx, y - 2.0), (tx, y + row - 4.0), "target");
        svg.text(
            (scale.at(x0.max(target)) + 6.0, y + 13.0),
            "start",
            "tick",
            &format!("{} / {}", short(x0), short(target)),
        );
    }
    svg.finish()
}

/// The rows table: accepted new rows, rejected candidates, then original rows; beyond
/// [`ROW_LIMIT`] evenly spaced, new and rejected rows kept first.
#[derive(Serialize)]
struct RowTable {
    rows: Vec<RowLine>,
    total: usize,
    note: String,
    techniques: Vec<String>,
    origins: Vec<String>,
    statuses: Vec<String>,
}

#[derive(Serialize)]
struct RowLine {
    technique: String,
    origin: String,
    status: String,
    text: String,
    provenance: String,
    scores: String,
}

fn row_table(rows: &[RowView]) -> RowTable {
    let (new, original): (Vec<usize>, Vec<usize>) =
        (0..rows.len()).partition(|&i| rows[i].origin != "original");
    let mut idx = stride(&new, ROW_LIMIT);
    idx.extend(stride(&original, ROW_LIMIT - idx.len()));
    // Accepted new rows, then rejected candidates, then original rows; given order within.
    idx.sort_by_key(|&i| {
        let group = match (&rows[i].rejected, rows[i].origin == "original") {
            (None, false) => 0,
            (Some(_), _) => 1,
            (None, true) => 2,
        };
        (group, i)
    });
    let status = |r: &RowView| r.rejected.clone().unwrap_or_else(|| "accepted".into());
    let set = |f: &dyn Fn(&RowView) -> String| -> Vec<String> {
        rows.iter()
            .map(f)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let note = if idx.len() == rows.len() {
        format!("All {} rows are listed.", rows.len())
    } else {
        format!(
            "Sampled: {} of {} rows are listed (at most {ROW_LIMIT}): new and rejected rows first ({} of {}), evenly spaced, then original rows.",
            idx.len(),
            rows.len(),
            idx.len().min(new.len()),
            new.len()
        )
    };
    RowTable {
        rows: idx
            .iter()
            .map(|&i| {
                let r = &rows[i];
                RowLine {
                    technique: r.technique.clone(),
                    origin: r.origin.clone(),
                    status: status(r),
                    text: r.text.clone(),
                    provenance: r.provenance.clone(),
                    scores: r.scores.clone(),
                }
            })
            .collect(),
        total: rows.len(),
        note,
        techniques: set(&|r| r.technique.clone()),
        origins: set(&|r| r.origin.clone()),
        statuses: set(&status),
    }
}

#[derive(Serialize)]
struct Rejections {
    /// (reason, count, share of candidates).
    total: Vec<(String, String, String)>,
    /// Reasons, the columns of `by_technique`.
    reasons: Vec<String>,
    /// Technique, then its count per reason.
    by_technique: Vec<Vec<String>>,
}

fn rejections(r: &Value) -> Rejections {
    let candidates = u64_at(r, "/candidates").unwrap_or(0).max(1) as f64;
    let total = obj_at(r, "/rejected")
        .into_iter()
        .map(|(k, v)| {
            let share = v.as_f64().map(|n| 100.0 * n / candidates);
            (
                k.to_string(),
                int(v.as_u64()),
                format!("{}%", fixed(share, 1)),
            )
        })
        .collect();
    let ts = arr_at(r, "/techniques");
    let reasons: Vec<String> = ts
        .iter()
        .flat_map(|t| {
            obj_at(t, "/rejected")
                .into_iter()
                .map(|(k, _)| k.to_string())
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let by_technique = ts
        .iter()
        .map(|t| {
            let mut row = vec![or_dash(str_at(t, "/id"))];
            row.extend(reasons.iter().map(|k| {
                t["rejected"]
                    .get(k)
                    .and_then(Value::as_u64)
                    .map_or("0".into(), |n| n.to_string())
            }));
            row
        })
        .collect();
    Rejections {
        total,
        reasons,
        by_technique,
    }
}

fn llm_rows(r: &Value) -> Vec<(String, String)> {
    let l = &r["llm"];
    if !l.is_object() {
        return Vec::new();
    }
    let mut out = vec![
        ("model".to_string(), or_dash(str_at(l, "/model"))),
        ("endpoint".to_string(), or_dash(str_at(l, "/endpoint"))),
    ];
    for (label, key) in [
        ("requests sent", "requests"),
        ("answered", "answered"),
        ("replayed from the journal", "replayed"),
        ("failed", "failed"),
        ("not sent", "not_sent"),
        ("retries", "retries"),
        ("attempts", "attempts"),
        ("timeouts", "timeouts"),
        ("rate-limited (429)", "rate_limited"),
        ("truncated at max_tokens", "truncated"),
        ("prompt tokens", "prompt_tokens"),
        ("completion tokens", "completion_tokens"),
    ] {
        out.push((label.into(), int(u64_at(l, &format!("/{key}")))));
    }
    let failed_by: Vec<String> = obj_at(l, "/failed_by")
        .into_iter()
        .map(|(k, v)| format!("{k} {}", text(v)))
        .collect();
    if !failed_by.is_empty() {
        out.push(("failed by".into(), failed_by.join(", ")));
    }
    out.push((
        "completion tokens/s".into(),
        fixed(f64_at(l, "/tokens_per_second"), 1),
    ));
    out.push(("cost".into(), fixed(f64_at(l, "/cost"), 4)));
    out
}

fn endpoint_rows(r: &Value) -> Vec<Vec<String>> {
    arr_at(r, "/llm/endpoints")
        .iter()
        .map(|e| {
            vec![
                or_dash(str_at(e, "/host")),
                or_dash(str_at(e, "/model")),
                int(u64_at(e, "/requests")),
                int(u64_at(e, "/failures")),
                int(u64_at(e, "/drained")),
                fixed(f64_at(e, "/p50_secs"), 2),
                fixed(f64_at(e, "/p95_secs"), 2),
                fixed(f64_at(e, "/tokens_per_second"), 1),
            ]
        })
        .collect()
}

/// Horizontal bars of the wall seconds per stage.
fn stage_bars(r: &Value) -> String {
    const ORDER: [&str; 8] = [
        "read",
        "embed",
        "cluster",
        "avoid",
        "classifier",
        "procedures",
        "generate",
        "write",
    ];
    let mut stages: Vec<(&str, f64)> = obj_at(r, "/stage_seconds")
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                v.as_f64().filter(|x| x.is_finite()).unwrap_or(0.0).max(0.0),
            )
        })
        .collect();
    // Pipeline order, then any other stage by name.
    stages.sort_by_key(|(k, _)| (ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()), *k));
    let max = stages.iter().map(|(_, s)| *s).fold(1e-9, f64::max);
    let (left, row) = (110.0, 20.0);
    let height = 36.0 + row * stages.len() as f64;
    let scale = Scale::new(0.0, max, left, 880.0);
    let mut svg = Svg::new(1000.0, height, "bars", "wall seconds per stage", None);
    svg.x_axis(&scale, height - 18.0, 2.0, &|v| format!("{} s", short(v)));
    for (i, (stage, secs)) in stages.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        svg.text((left - 6.0, y + 12.0), "end", "label", stage);
        let w = scale.at(*secs) - left;
        svg.rect(
            (left, y, w, row - 6.0),
            series_colour(0),
            Some(&format!("{stage}: {secs:.2} s")),
        );
        svg.text(
            (left + w + 6.0, y + 12.0),
            "start",
            "tick",
            &format!("{secs:.2} s"),
        );
    }
    svg.finish()
}

fn redaction_rows(r: &Value) -> Vec<Vec<String>> {
    let red = &r["redaction"];
    let kinds: BTreeSet<&str> = ["in_input", "in_prompts", "surrogates"]
        .iter()
        .flat_map(|k| obj_at(red, &format!("/{k}")).into_iter().map(|(k, _)| k))
        .collect();
    kinds
        .into_iter()
        .map(|k| {
            let mut row = vec![k.to_string()];
            for part in ["in_input", "in_prompts", "surrogates"] {
                row.push(
                    red[part]
                        .get(k)
                        .and_then(Value::as_u64)
                        .map_or("0".into(), |n| n.to_string()),
                );
            }
            row
        })
        .collect()
}

/// One line of a row's provenance: cluster, seed rows, LLM call, selection score.
pub(crate) fn provenance_line(p: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(c) = u64_at(p, "/cluster") {
        parts.push(format!("cluster {c}"));
    }
    let seeds: Vec<String> = arr_at(p, "/seed_ids").iter().map(text).collect();
    if !seeds.is_empty() {
        parts.push(format!("seed rows {}", seeds.join(", ")));
    }
    let l = &p["llm"];
    if l.is_object() {
        parts.push(format!(
            "{} at {} (template {}, seed {}, attempt {}, temperature {})",
            or_dash(str_at(l, "/model")),
            or_dash(str_at(l, "/endpoint")),
            or_dash(str_at(l, "/template")),
            int(u64_at(l, "/seed")),
            int(u64_at(l, "/attempt")),
            fixed(f64_at(l, "/temperature"), 2)
        ));
    }
    if let Some(s) = f64_at(p, "/selection_score") {
        parts.push(format!("selection score {s:.3}"));
    }
    parts.join(" · ")
}

/// One line of filter scores: every field, numbers to 3 decimals.
pub(crate) fn scores_line(s: &Value) -> String {
    obj_at(s, "")
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v.as_f64() {
            Some(x) if !v.is_u64() => format!("{} {x:.3}", k.replace('_', " ")),
            _ => format!("{} {}", k.replace('_', " "), text(v)),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}
