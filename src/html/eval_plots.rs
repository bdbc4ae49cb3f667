//! The figures of `results.html`: ratio curves, the forest plot of the paired differences
//! and the per-class F1 heat map.

use serde_json::Value;

use super::svg::{Scale, Svg, n, series_colour};
use super::value::{f64_at, interval_at, obj_at, signed, str_at, u64_at};

/// A score of `results.json` in its three spellings: label, field of an arm result, and
/// name in `claims`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MetricKey {
    pub label: &'static str,
    pub field: &'static str,
    pub claim: &'static str,
}

/// Rare-class macro-F1 first (the primary score of the committed sweeps), then macro-F1.
pub(crate) const METRICS: [MetricKey; 2] = [
    MetricKey {
        label: "rare macro-F1",
        field: "rare_macro_f1",
        claim: "rare-macro-f1",
    },
    MetricKey {
        label: "macro-F1",
        field: "macro_f1",
        claim: "macro-f1",
    },
];

/// One arm (and weight) across ratios, starting at `none`.
pub(crate) struct Series {
    pub name: String,
    /// (ratio, the arm's result at it); ratio 0 is `none`.
    pub points: Vec<(f64, Value)>,
    pub arm: String,
    pub weight: Option<f64>,
}

/// The lines of the curves: one per arm × synthetic weight in the order results list them,
/// each starting at `none` (ratio 0).
pub(crate) fn series(results: &Value) -> Vec<Series> {
    let none = results["none"].clone();
    let mut out: Vec<Series> = Vec::new();
    let all = results["results"].as_array().map_or(&[][..], Vec::as_slice);
    let weights: std::collections::BTreeSet<String> = all
        .iter()
        .map(|r| r["synthetic_weight"].to_string())
        .collect();
    for r in all {
        let arm = str_at(r, "/arm").unwrap_or("?").to_string();
        let weight = f64_at(r, "/synthetic_weight");
        let Some(ratio) = f64_at(r, "/ratio") else {
            continue;
        };
        let at = out
            .iter()
            .position(|s| s.arm == arm && s.weight == weight)
            .unwrap_or_else(|| {
                let name = match weight {
                    Some(w) if weights.len() > 1 => format!("{arm} (w={w})"),
                    _ => arm.clone(),
                };
                out.push(Series {
                    name,
                    points: vec![(0.0, none.clone())],
                    arm: arm.clone(),
                    weight,
                });
                out.len() - 1
            });
        out[at].points.push((ratio, r.clone()));
    }
    for s in &mut out {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// The Holm-adjusted member of `claims.family` for `arm` vs `base` at `ratio`, `weight` and
/// `metric`.
pub(crate) fn family_member<'a>(
    results: &'a Value,
    (arm, base): (&str, &str),
    ratio: f64,
    weight: Option<f64>,
    metric: &str,
) -> Option<&'a Value> {
    results["claims"]["family"].as_array()?.iter().find(|m| {
        str_at(m, "/pair/arm") == Some(arm)
            && str_at(m, "/pair/base") == Some(base)
            && f64_at(m, "/ratio") == Some(ratio)
            && (weight.is_none() || f64_at(m, "/synthetic_weight") == weight)
            && str_at(m, "/metric") == Some(metric)
    })
}

/// (value, low, high, filled) of one point of a curve.
type Mark = (f64, f64, f64, bool);
/// A curve's point at a ratio, `None` where the result lacks the score.
type Point = Option<Mark>;

/// A panel of curves against the ratio; `y` reads a point off (ratio, series, result).
fn curve_panel(
    all: &[Series],
    title: &str,
    y: &dyn Fn(f64, &Series, &Value) -> Point,
    zero: bool,
) -> String {
    let mut ratios: Vec<f64> = all
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios.dedup();
    let pts: Vec<Vec<(f64, Mark)>> = all
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter_map(|(r, v)| y(*r, s, v).map(|p| (*r, p)))
                .collect()
        })
        .collect();
    let (mut lo, mut hi) = (
        if zero { 0.0 } else { f64::INFINITY },
        if zero { 0.0 } else { f64::NEG_INFINITY },
    );
    for (_, (v, l, h, _)) in pts.iter().flatten() {
        lo = lo.min(*l).min(*v);
        hi = hi.max(*h).max(*v);
    }
    let (w, h, left, bottom) = (480.0, 300.0, 54.0, 262.0);
    let sy = Scale::new(lo, hi, bottom, 30.0);
    let slot = (w - left - 20.0) / ratios.len().max(1) as f64;
    let x_of =
        |r: f64| left + slot * (ratios.iter().position(|x| *x == r).unwrap_or(0) as f64 + 0.5);
    let mut svg = Svg::new(w, h, "curves", title, None);
    svg.text((w / 2.0, 16.0), "middle", "title", title);
    svg.y_axis(&sy, left, w - 20.0, &|v| format!("{v:.2}"));
    if zero {
        svg.line((left, sy.at(0.0)), (w - 20.0, sy.at(0.0)), "zero");
    }
    for r in &ratios {
        let label = if *r == 0.0 {
            "none".to_string()
        } else {
            format!("×{r}")
        };
        svg.text((x_of(*r), bottom + 16.0), "middle", "tick", &label);
    }
    svg.text(
        (w / 2.0, h - 4.0),
        "middle",
        "tick",
        "ratio (multiple of each label's deficit)",
    );
    let k = all.len().max(1) as f64;
    for (i, (s, line)) in all.iter().zip(&pts).enumerate() {
        let colour = series_colour(i);
        let dx = (i as f64 - (k - 1.0) / 2.0) * 5.0;
        let xy: Vec<(f64, f64)> = line
            .iter()
            .map(|(r, p)| (x_of(*r) + dx, sy.at(p.0)))
            .collect();
        svg.polyline(&xy, colour, i >= 7);
        for ((r, (v, l, hh, filled)), (x, yv)) in line.iter().zip(&xy) {
            svg.stroke((*x, sy.at(*l)), (*x, sy.at(*hh)), colour, 1.5);
            let tip = format!(
                "{} at {}: {v:+.3} [{l:+.3}, {hh:+.3}]",
                s.name,
                if *r == 0.0 {
                    "none".into()
                } else {
                    format!("×{r}")
                }
            );
            svg.dot((*x, *yv), 3.5, colour, *filled, Some(&tip));
        }
    }
    svg.finish()
}

/// The legend of the curves: one swatch per series.
pub(crate) fn curve_legend(all: &[Series]) -> String {
    let mut svg = Svg::new(960.0, 24.0, "legend", "legend of the curves", None);
    for (i, s) in all.iter().enumerate() {
        let x = 10.0 + i as f64 * 190.0;
        svg.stroke((x, 12.0), (x + 22.0, 12.0), series_colour(i), 3.0);
        svg.text((x + 28.0, 16.0), "start", "tick", &s.name);
    }
    svg.finish()
}

/// The four curve panels: per metric, the score (± sample std over runs) and the difference
/// vs `none` with its Holm-adjusted interval (filled where Holm rejects).
pub(crate) fn curves(results: &Value, all: &[Series]) -> Vec<String> {
    let mut out = Vec::new();
    for m in METRICS {
        let score = |_: f64, _: &Series, v: &Value| -> Point {
            let mean = f64_at(v, &format!("/{}/mean", m.field))?;
            let sd = f64_at(v, &format!("/{}/std", m.field)).unwrap_or(0.0);
            Some((mean, mean - sd, mean + sd, true))
        };
        out.push(curve_panel(
            all,
            &format!("{} (mean ± std over runs)", m.label),
            &score,
            false,
        ));
        let delta = |r: f64, s: &Series, v: &Value| -> Point {
            if r == 0.0 {
                return Some((0.0, 0.0, 0.0, false));
            }
            match family_member(results, (&s.arm, "none"), r, s.weight, m.claim) {
                Some(f) => {
                    let mean = f64_at(f, "/mean")?;
                    let [lo, hi] = interval_at(f, "/holm/ci").unwrap_or([mean, mean]);
                    Some((
                        mean,
                        lo,
                        hi,
                        f["holm"]["significant"].as_bool() == Some(true),
                    ))
                }
                None => {
                    let mean = f64_at(v, &format!("/vs_none/{}/mean", m.field))?;
                    let [lo, hi] = interval_at(v, &format!("/vs_none/{}/ci95_corrected", m.field))
                        .unwrap_or([mean, mean]);
                    Some((mean, lo, hi, false))
                }
            }
        };
        out.push(curve_panel(
            all,
            &format!("Δ {} vs none (Holm-adjusted interval)", m.label),
            &delta,
            true,
        ));
    }
    out
}

/// The label of a metric's claim name (`rare-macro-f1` → `rare macro-F1`), else the name.
pub(crate) fn metric_label(claim: &str) -> &str {
    METRICS
        .iter()
        .find(|m| m.claim == claim)
        .map_or(claim, |m| m.label)
}

/// One line of the forest plot.
pub(crate) struct ForestRow {
    pub label: String,
    pub mean: f64,
    pub ci: Option<[f64; 2]>,
    pub significant: bool,
    pub primary: bool,
    /// Text after the interval (level, p-values).
    pub note: String,
}

/// The forest plot's rows: the primary comparison first (its 95% interval, tested alone),
/// then every Holm-family member grouped by metric, each group headed by `None`.
pub(crate) fn forest_rows(results: &Value) -> Vec<Option<ForestRow>> {
    let claims = &results["claims"];
    let mut rows = Vec::new();
    let p = &claims["primary"];
    if let Some(mean) = f64_at(p, "/delta/mean") {
        rows.push(Some(ForestRow {
            label: format!(
                "PRIMARY: {} vs {} ×{} · {}",
                str_at(p, "/primary/pair/arm").unwrap_or("?"),
                str_at(p, "/primary/pair/base").unwrap_or("?"),
                f64_at(p, "/primary/ratio").map_or("?".into(), |r| r.to_string()),
                metric_label(str_at(p, "/primary/metric").unwrap_or("?"))
            ),
            mean,
            ci: interval_at(p, "/delta/ci95_corrected"),
            significant: p["delta"]["significant"].as_bool() == Some(true),
            primary: true,
            note: format!(
                "95%, tested alone, p = {}",
                f64_at(p, "/delta/p").map_or("—".into(), |x| format!("{x:.3}"))
            ),
        }));
    }
    let family = claims["family"].as_array().map_or(&[][..], Vec::as_slice);
    for m in METRICS {
        let members: Vec<&Value> = family
            .iter()
            .filter(|f| str_at(f, "/metric") == Some(m.claim))
            .collect();
        if members.is_empty() {
            continue;
        }
        rows.push(None);
        for f in members {
            let Some(mean) = f64_at(f, "/mean") else {
                continue;
            };
            let weight = f64_at(f, "/synthetic_weight")
                .filter(|w| *w != 1.0)
                .map(|w| format!(" w={w}"))
                .unwrap_or_default();
            rows.push(Some(ForestRow {
                label: format!(
                    "{} vs {} ×{}{weight} · {}",
                    str_at(f, "/pair/arm").unwrap_or("?"),
                    str_at(f, "/pair/base").unwrap_or("?"),
                    f64_at(f, "/ratio").map_or("?".into(), |r| r.to_string()),
                    m.label
                ),
                mean,
                ci: interval_at(f, "/holm/ci"),
                significant: f["holm"]["significant"].as_bool() == Some(true),
                primary: false,
                note: format!(
                    "{}%, p_holm = {}",
                    f64_at(f, "/holm/level").map_or("—".into(), |l| format!("{:.2}", l * 100.0)),
                    f64_at(f, "/holm/p_holm").map_or("—".into(), |x| format!("{x:.3}"))
                ),
            }));
        }
    }
    rows
}

/// The forest plot: a line per interval, a dot at the mean (filled where the interval
/// excludes 0), the primary comparison first in vermilion; `None` rows are group gaps.
pub(crate) fn forest_svg(rows: &[Option<ForestRow>]) -> String {
    let (width, left, right, row_h) = (1200.0, 430.0, 800.0, 18.0);
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for r in rows.iter().flatten() {
        let [l, h] = r.ci.unwrap_or([r.mean, r.mean]);
        lo = lo.min(l).min(r.mean);
        hi = hi.max(h).max(r.mean);
    }
    let height = 60.0 + row_h * rows.len() as f64;
    let sx = Scale::new(lo, hi, left, right);
    let mut svg = Svg::new(
        width,
        height,
        "forest",
        "forest plot of the paired differences",
        Some("forest"),
    );
    svg.x_axis(&sx, height - 20.0, 22.0, &|v| format!("{v:+.2}"));
    for t in sx.ticks(5) {
        svg.text((sx.at(t), 14.0), "middle", "tick", &format!("{t:+.2}"));
    }
    svg.line((sx.at(0.0), 22.0), (sx.at(0.0), height - 20.0), "zero");
    for (i, r) in rows.iter().enumerate() {
        let y = 32.0 + row_h * i as f64;
        let Some(r) = r else {
            svg.line((10.0, y), (width - 10.0, y), "group");
            continue;
        };
        let colour = if r.primary { "#D55E00" } else { "#0072B2" };
        if r.primary {
            svg.raw(&format!(
                "<rect x=\"4\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"primary-band\"/>",
                n(y - 9.0),
                n(width - 8.0),
                n(row_h)
            ));
        }
        svg.text(
            (left - 8.0, y + 4.0),
            "end",
            if r.primary { "label strong" } else { "label" },
            &r.label,
        );
        if let Some([l, h]) = r.ci {
            svg.stroke(
                (sx.at(l), y),
                (sx.at(h), y),
                colour,
                if r.primary { 3.0 } else { 1.5 },
            );
        }
        let tip = format!("{}: {:+.3}", r.label, r.mean);
        if r.primary {
            let (x, s) = (sx.at(r.mean), 6.0);
            svg.raw(&format!(
                "<path d=\"M{} {}L{} {}L{} {}L{} {}Z\" fill=\"{}\" stroke=\"{colour}\" stroke-width=\"1.5\"/>",
                n(x), n(y - s), n(x + s), n(y), n(x), n(y + s), n(x - s), n(y),
                if r.significant { colour } else { "#ffffff" }
            ));
        } else {
            svg.dot((sx.at(r.mean), y), 4.0, colour, r.significant, Some(&tip));
        }
        let ci =
            r.ci.map_or("no interval".into(), |[l, h]| format!("[{l:+.3}, {h:+.3}]"));
        let star = if r.significant { "*" } else { "" };
        svg.text(
            (right + 12.0, y + 4.0),
            "start",
            "tick",
            &format!("{} {ci}{star} · {}", signed(Some(r.mean), 3), r.note),
        );
    }
    svg.finish()
}

/// The colour of an F1 in the heat map: white to Okabe–Ito blue to dark blue.
fn heat(v: f64) -> String {
    let v = v.clamp(0.0, 1.0);
    let (a, b, t) = if v < 0.7 {
        ((255.0, 255.0, 255.0), (0.0, 114.0, 178.0), v / 0.7)
    } else {
        ((0.0, 114.0, 178.0), (0.0, 45.0, 80.0), (v - 0.7) / 0.3)
    };
    let mix = |x: f64, y: f64| (x + (y - x) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// The per-class F1 heat map: a row per class, a column per (name, arm result).
pub(crate) fn heatmap_svg(classes: &[(String, u64)], columns: &[(String, &Value)]) -> String {
    let (left, top, cw, ch) = (110.0, 60.0, 88.0, 20.0);
    let w = left + cw * columns.len() as f64 + 10.0;
    let h = top + ch * classes.len() as f64 + 10.0;
    let mut svg = Svg::new(
        w.max(300.0),
        h,
        "heat",
        "per-class F1 of the rare classes",
        Some("heatmap"),
    );
    for (j, (name, _)) in columns.iter().enumerate() {
        let x = left + cw * (j as f64 + 0.5);
        svg.raw(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"start\" class=\"tick\" transform=\"rotate(-30 {} {})\">{}</text>",
            n(x - 20.0), n(top - 6.0), n(x - 20.0), n(top - 6.0), super::esc(name)
        ));
    }
    for (i, (class, rows)) in classes.iter().enumerate() {
        let y = top + ch * i as f64;
        svg.text((left - 6.0, y + 14.0), "end", "label", class);
        for (j, (name, result)) in columns.iter().enumerate() {
            let x = left + cw * j as f64;
            let ptr = format!(
                "/per_class/{}/f1/mean",
                class.replace('~', "~0").replace('/', "~1")
            );
            let v = f64_at(result, &ptr);
            let fill = v.map_or("#eeeeee".into(), heat);
            let tip = format!(
                "{class} · {name}: F1 {} ({rows} test rows over the runs)",
                v.map_or("—".into(), |v| format!("{v:.3}"))
            );
            svg.rect((x + 1.0, y + 1.0, cw - 2.0, ch - 2.0), &fill, Some(&tip));
            let class_name = if v.is_some_and(|v| v > 0.55) {
                "cell light"
            } else {
                "cell"
            };
            svg.text(
                (x + cw / 2.0, y + 14.0),
                "middle",
                class_name,
                &v.map_or("—".into(), |v| format!("{v:.2}")),
            );
        }
    }
    svg.finish()
}

/// The rare classes of a sweep, rarest first, with their test rows (summed over runs), and
/// how they were picked. `results.json` keeps no training counts per class, so a class
/// counts as rare when its training rows per fold, estimated from its test rows (test rows
/// ÷ seeds × (folds − 1) ÷ folds), are at most `rare_threshold`.
pub(crate) fn rare_classes(results: &Value) -> (Vec<(String, u64)>, String) {
    let seeds = results["config"]["seeds"]
        .as_array()
        .map_or(1, Vec::len)
        .max(1) as f64;
    let folds = u64_at(results, "/config/folds").unwrap_or(5).max(2) as f64;
    let threshold = u64_at(results, "/config/rare_threshold");
    let mut classes: Vec<(String, u64)> = obj_at(results, "/none/per_class")
        .into_iter()
        .map(|(k, v)| (k.to_string(), u64_at(v, "/test_rows").unwrap_or(0)))
        .collect();
    classes.sort_by_key(|(k, rows)| (*rows, k.clone()));
    let note = match threshold {
        Some(t) => {
            classes.retain(|(_, rows)| *rows as f64 / seeds * (folds - 1.0) / folds <= t as f64);
            format!(
                "Classes with about {t} training rows or fewer per fold (estimated from their test rows: results.json keeps no training counts), rarest first."
            )
        }
        None => {
            classes.truncate(15);
            "The 15 classes with the fewest test rows (the sweep's rare threshold is missing)."
                .into()
        }
    };
    (classes, note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_colours_run_from_white_to_dark_blue() {
        assert_eq!(heat(0.0), "#ffffff");
        assert_eq!(heat(0.7), "#0072b2");
        assert_eq!(heat(1.0), "#002d50");
        assert_eq!(heat(f64::NAN.max(-1.0)), "#ffffff");
    }
}
