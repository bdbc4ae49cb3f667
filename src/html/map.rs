//! The maps of `report.html`: one for all techniques and one per selected technique, as
//! inline SVG, with the points' hover data once as JSON.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::svg::{Scale, Svg, n};
use super::{MAP_POINT_LIMIT, MapPoint, PointKind, RunMap, TECHNIQUE_MAP_LIMIT, esc, script_json};

/// The points a page draws, and how many there were.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sampled {
    /// Indices into `RunMap::points`, ascending.
    pub idx: Vec<usize>,
    /// Points of the selected techniques: (drawn, given).
    pub selected: (usize, usize),
    /// Points of other techniques: (drawn, given).
    pub other: (usize, usize),
}

impl Sampled {
    /// One sentence for the page on what the map shows.
    pub(crate) fn note(&self) -> String {
        let (ss, st) = self.selected;
        let (os, ot) = self.other;
        if ss == st && os == ot {
            return format!("All {} points are drawn.", ss + os);
        }
        let mut s = format!(
            "Sampled: {} of {} points are drawn (at most {MAP_POINT_LIMIT}). ",
            ss + os,
            st + ot
        );
        if ss == st {
            let _ = write!(
                s,
                "Every point of the selected techniques ({st}); an evenly spaced sample of {os} of the {ot} points of other techniques."
            );
        } else {
            let _ = write!(
                s,
                "Every centroid and an evenly spaced sample of {ss} of the {st} points of the selected techniques; none of the {ot} points of other techniques."
            );
        }
        s
    }
}

/// `m` evenly spaced items of `v` (all of them when it has at most `m`).
pub(crate) fn stride<T: Copy>(v: &[T], m: usize) -> Vec<T> {
    if v.len() <= m {
        return v.to_vec();
    }
    (0..m).map(|i| v[i * v.len() / m]).collect()
}

/// Whether a point's technique is coloured (all are when the map names no selection).
fn is_selected(map: &RunMap, selected: &BTreeSet<&str>, p: &MapPoint) -> bool {
    map.selected.is_empty() || selected.contains(p.technique.as_str())
}

/// The points to draw: every point of the selected techniques and as many evenly spaced
/// points of the others as fit `limit`; when the selected ones alone are over it, every
/// centroid and an evenly spaced sample of the rest of them.
pub(crate) fn sample(map: &RunMap, limit: usize) -> Sampled {
    let selected: BTreeSet<&str> = map.selected.iter().map(String::as_str).collect();
    let (sel, other): (Vec<usize>, Vec<usize>) =
        (0..map.points.len()).partition(|&i| is_selected(map, &selected, &map.points[i]));
    let (mut idx, other_kept) = if sel.len() <= limit {
        let mut idx = sel.clone();
        let kept = stride(&other, limit - sel.len());
        idx.extend(&kept);
        (idx, kept.len())
    } else {
        let (centroids, rest): (Vec<usize>, Vec<usize>) = sel
            .iter()
            .partition(|&&i| map.points[i].kind == PointKind::Centroid);
        let mut idx = stride(&centroids, limit);
        let room = limit - idx.len();
        idx.extend(stride(&rest, room));
        (idx, 0)
    };
    idx.sort_unstable();
    Sampled {
        selected: (idx.len() - other_kept, sel.len()),
        other: (other_kept, other.len()),
        idx,
    }
}

/// Drawing order: muted points under original rows, under rejected candidates, under
/// accepted rows, under centroids.
fn layer(kind: &PointKind, muted: bool) -> u8 {
    match (muted, kind) {
        (true, _) => 0,
        (_, PointKind::Original) => 1,
        (_, PointKind::Rejected(_)) => 2,
        (_, PointKind::Procedure) => 3,
        (_, PointKind::Synthetic) => 4,
        (_, PointKind::Centroid) => 5,
    }
}

fn radius(kind: &PointKind, muted: bool) -> f64 {
    match (muted, kind) {
        (true, _) => 2.0,
        (_, PointKind::Centroid) => 5.5,
        (_, PointKind::Procedure | PointKind::Synthetic) => 3.2,
        _ => 2.6,
    }
}

/// The bounding box of points, padded by 5% (and never empty).
fn bounds<'a>(points: impl Iterator<Item = &'a MapPoint>) -> [f64; 4] {
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for p in points {
        let (x, y) = (f64::from(p.x), f64::from(p.y));
        if x.is_finite() && y.is_finite() {
            b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
        }
    }
    if !b[0].is_finite() {
        return [0.0, 0.0, 1.0, 1.0];
    }
    let (px, py) = ((b[2] - b[0]) * 0.05, (b[3] - b[1]) * 0.05);
    [b[0] - px, b[1] - py, b[2] + px, b[3] + py]
}

/// One drawn point: its position in the hover data, whether it is muted.
struct Drawn {
    at: usize,
    muted: bool,
}

/// An SVG map of `drawn` points (indices into the sample, for the hover data);
/// `with_kind` puts `data-kind` on each circle (the all-techniques map only, so a page
/// counts its points once).
fn map_svg(
    map: &RunMap,
    sample: &Sampled,
    drawn: &[Drawn],
    size: (f64, f64),
    id: &str,
    label: &str,
    with_kind: bool,
) -> String {
    let (w, h) = size;
    let b = bounds(drawn.iter().map(|d| &map.points[sample.idx[d.at]]));
    let sx = Scale::new(b[0], b[2], 6.0, w - 6.0);
    let sy = Scale::new(b[1], b[3], h - 6.0, 6.0);
    let mut svg = Svg::new(w, h, "map", label, Some(id));
    svg.raw(&format!(
        "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" class=\"map-bg\"/>",
        n(w),
        n(h)
    ));
    let mut order: Vec<&Drawn> = drawn.iter().collect();
    order.sort_by_key(|d| layer(&map.points[sample.idx[d.at]].kind, d.muted));
    let mut buf = String::with_capacity(order.len() * 96);
    for d in order {
        let p = &map.points[sample.idx[d.at]];
        let kind = p.kind.as_str();
        let _ = write!(
            buf,
            "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" class=\"pt k-{kind}{}\" data-i=\"{}\" data-t=\"{}\"",
            n(sx.at(f64::from(p.x))),
            n(sy.at(f64::from(p.y))),
            n(radius(&p.kind, d.muted)),
            if d.muted { " muted" } else { "" },
            d.at,
            esc(&p.technique)
        );
        if with_kind {
            let _ = write!(buf, " data-kind=\"{kind}\"");
        }
        buf.push_str("/>");
    }
    svg.raw(&buf);
    svg.finish()
}

/// The all-techniques map: every sampled point, other techniques muted.
pub(crate) fn overview_svg(map: &RunMap, sample: &Sampled) -> String {
    let selected: BTreeSet<&str> = map.selected.iter().map(String::as_str).collect();
    let drawn: Vec<Drawn> = sample
        .idx
        .iter()
        .enumerate()
        .map(|(at, &i)| Drawn {
            at,
            muted: !is_selected(map, &selected, &map.points[i]),
        })
        .collect();
    map_svg(
        map,
        sample,
        &drawn,
        (960.0, 620.0),
        "map-all",
        "map of all techniques",
        true,
    )
}

/// One technique's map.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TechniqueMap {
    /// Technique id.
    pub technique: String,
    /// Its nearest other techniques (muted).
    pub neighbours: Vec<String>,
    /// Its own points drawn / sampled.
    pub own: (usize, usize),
    /// The SVG (data texts escaped).
    pub svg: String,
}

/// A map per selected technique: its sampled points (at most [`TECHNIQUE_MAP_LIMIT`], evenly
/// spaced), then its neighbours' points muted in what room is left.
pub(crate) fn technique_maps(map: &RunMap, sample: &Sampled) -> Vec<TechniqueMap> {
    map.selected
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let neighbours = map.neighbours.get(t).cloned().unwrap_or_default();
            let of = |want: &dyn Fn(&str) -> bool| -> Vec<usize> {
                (0..sample.idx.len())
                    .filter(|&at| want(&map.points[sample.idx[at]].technique))
                    .collect()
            };
            let own_all = of(&|x| x == t);
            let own = stride(&own_all, TECHNIQUE_MAP_LIMIT);
            let near = of(&|x| x != t && neighbours.iter().any(|nb| nb == x));
            let near = stride(&near, TECHNIQUE_MAP_LIMIT - own.len());
            let mut drawn: Vec<Drawn> = own.iter().map(|&at| Drawn { at, muted: false }).collect();
            drawn.extend(near.iter().map(|&at| Drawn { at, muted: true }));
            let svg = map_svg(
                map,
                sample,
                &drawn,
                (440.0, 300.0),
                &format!("map-t{k}"),
                &format!("map of {t}"),
                false,
            );
            TechniqueMap {
                technique: t.clone(),
                neighbours,
                own: (own.len(), own_all.len()),
                svg,
            }
        })
        .collect()
}

/// The hover data of the sampled points, `[technique, kind, text, detail]` each, in the
/// order of `data-i`, as JSON safe inside a script element.
pub(crate) fn details_json(map: &RunMap, sample: &Sampled) -> String {
    let rows: Vec<[String; 4]> = sample
        .idx
        .iter()
        .map(|&i| {
            let p = &map.points[i];
            let kind = match &p.kind {
                PointKind::Rejected(reason) => format!("rejected: {reason}"),
                k => k.as_str().to_string(),
            };
            [p.technique.clone(), kind, p.text.clone(), p.detail.clone()]
        })
        .collect();
    script_json(&rows)
}

/// The legend of the maps, as a small SVG.
pub(crate) fn legend_svg() -> String {
    let items = [
        ("original", "original row"),
        ("centroid", "cluster centroid"),
        ("procedure", "procedure row"),
        ("synthetic", "synthetic row"),
        ("rejected", "rejected candidate"),
        ("muted", "other technique"),
    ];
    let mut svg = Svg::new(960.0, 24.0, "legend", "map legend", None);
    for (i, (kind, label)) in items.iter().enumerate() {
        let x = 10.0 + i as f64 * 158.0;
        let class = if *kind == "muted" {
            "pt k-original muted".to_string()
        } else {
            format!("pt k-{kind}")
        };
        svg.raw(&format!(
            "<circle cx=\"{}\" cy=\"12\" r=\"5\" class=\"{class}\"/>",
            n(x)
        ));
        svg.text((x + 10.0, 16.0), "start", "tick", label);
    }
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(i: usize, technique: &str, kind: PointKind) -> MapPoint {
        MapPoint {
            x: i as f32,
            y: (i * 7 % 13) as f32,
            kind,
            technique: technique.into(),
            text: format!("s{i}"),
            detail: String::new(),
        }
    }

    fn big_map(selected: usize, other: usize) -> RunMap {
        let mut points: Vec<MapPoint> = (0..selected)
            .map(|i| {
                let kind = if i % 100 == 0 {
                    PointKind::Centroid
                } else {
                    PointKind::Synthetic
                };
                point(i, if i % 2 == 0 { "T1" } else { "T2" }, kind)
            })
            .collect();
        points.extend((0..other).map(|i| point(i, "T9", PointKind::Original)));
        RunMap {
            points,
            selected: vec!["T1".into(), "T2".into()],
            neighbours: [("T1".to_string(), vec!["T9".to_string()])].into(),
            projection: String::new(),
        }
    }

    #[test]
    fn sampling_keeps_the_selected_techniques_and_stays_under_the_limit() {
        let map = big_map(1_000, 9_000);
        let s = sample(&map, MAP_POINT_LIMIT);
        assert_eq!(s.idx.len(), MAP_POINT_LIMIT);
        assert_eq!(s.selected, (1_000, 1_000));
        assert_eq!(s.other, (4_000, 9_000));
        assert!(s.idx.windows(2).all(|w| w[0] < w[1]));
        assert!(s.note().contains("5000 of 10000"), "{}", s.note());
        assert_eq!(sample(&map, MAP_POINT_LIMIT), s, "deterministic");

        let map = big_map(12_000, 100);
        let s = sample(&map, MAP_POINT_LIMIT);
        assert_eq!(s.idx.len(), MAP_POINT_LIMIT);
        assert_eq!(s.other.0, 0);
        let centroids = s
            .idx
            .iter()
            .filter(|&&i| map.points[i].kind == PointKind::Centroid)
            .count();
        assert_eq!(centroids, 120, "every centroid kept");

        let small = big_map(10, 10);
        let s = sample(&small, MAP_POINT_LIMIT);
        assert_eq!(s.idx.len(), 20);
        assert_eq!(s.note(), "All 20 points are drawn.");
    }

    #[test]
    fn the_overview_has_one_kind_marked_circle_per_sampled_point() {
        let map = big_map(300, 200);
        let s = sample(&map, MAP_POINT_LIMIT);
        let svg = overview_svg(&map, &s);
        assert_eq!(svg.matches("data-kind=").count(), 500);
        assert_eq!(svg.matches(" muted\"").count(), 200);
        for t in technique_maps(&map, &s) {
            assert!(!t.svg.contains("data-kind="));
            assert!(t.svg.matches("<circle").count() <= TECHNIQUE_MAP_LIMIT);
        }
        let maps = technique_maps(&map, &s);
        assert_eq!(maps[0].own, (150, 150));
        assert_eq!(
            maps[0].svg.matches(" muted\"").count(),
            200,
            "T9 is T1's neighbour"
        );
        assert_eq!(maps[1].svg.matches(" muted\"").count(), 0);
    }

    #[test]
    fn odd_coordinates_and_empty_maps_draw() {
        let mut map = big_map(3, 0);
        map.points[0].x = f32::NAN;
        map.points[1].y = f32::INFINITY;
        let s = sample(&map, 10);
        let svg = overview_svg(&map, &s);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        let empty = RunMap::default();
        let s = sample(&empty, 10);
        assert!(overview_svg(&empty, &s).contains("map-all"));
        assert_eq!(details_json(&empty, &s), "[]");
    }
}
