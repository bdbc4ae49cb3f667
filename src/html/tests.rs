//! Page-level tests of both renderers: escaping of hostile data, point and row counts,
//! bounded size, odd JSON.

use serde_json::{Value, json};

use super::*;

const HOSTILE: &str =
    "</script><script>alert(1)</script><img src=x onerror=alert(2)> \"q\" 'a' & </style>";

fn hostile_report() -> Value {
    json!({
        "version": "0.1.0", "input": HOSTILE, "output_dir": "/tmp/o", "dry_run": false,
        "outcome": {"status": "complete", "missing_rows": 0},
        "config": format!("seed = 7\n# {HOSTILE}\n"),
        "template": ["remote-json", HOSTILE],
        "techniques": [{"id": "T1072", "name": HOSTILE, "before": 8, "target_added": 16,
            "clusters": 1, "cluster_summaries": [{"size": 8, "central": [HOSTILE]}],
            "added_procedures": 8, "added_synthetic": 2, "after": 18, "requests": 32,
            "candidates": 40, "rejected": {HOSTILE: 3, "too-short": 7}}],
        "rows_before": 52, "rows_after": 70, "candidates": 83, "accepted": 18,
        "rejected": {HOSTILE: 3},
        "llm": {"model": HOSTILE, "endpoint": "127.0.0.1", "requests": 3, "cost": null,
            "endpoints": [{"host": HOSTILE, "model": "m"}]},
        "stage_seconds": {"read": 0.1, "generate": 1.5},
        "wall_seconds": 2.5
    })
}

fn points(n: usize, technique: &str) -> Vec<MapPoint> {
    (0..n)
        .map(|i| MapPoint {
            x: (i as f32 * 0.37).sin(),
            y: (i as f32 * 0.11).cos(),
            kind: match i % 5 {
                0 => PointKind::Original,
                1 => PointKind::Centroid,
                2 => PointKind::Procedure,
                3 => PointKind::Synthetic,
                _ => PointKind::Rejected(HOSTILE.into()),
            },
            technique: technique.into(),
            text: format!("{HOSTILE} {i}"),
            detail: HOSTILE.into(),
        })
        .collect()
}

fn rows(n: usize) -> Vec<RowView> {
    (0..n)
        .map(|i| RowView {
            technique: if i % 2 == 0 {
                "T1072".into()
            } else {
                HOSTILE.into()
            },
            origin: ["synthetic", "attack-procedure", "original"][i % 3].into(),
            rejected: (i % 4 == 0).then(|| HOSTILE.to_string()),
            text: format!("{HOSTILE} row {i}"),
            provenance: HOSTILE.into(),
            scores: HOSTILE.into(),
        })
        .collect()
}

/// No data text reaches the page unescaped: the only `<script` tags are the page's own
/// (the map data, when there is a map, and the script), no `<img` at all.
fn assert_escaped(page: &str, scripts: usize) {
    assert_eq!(page.matches("<script").count(), scripts, "script tags");
    assert!(!page.contains("<img"), "an <img> from the data");
    assert!(!page.contains("alert(1)</script>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(
        page.matches("</style>").count(),
        1,
        "the page's own style only"
    );
}

#[test]
fn the_run_page_escapes_every_text_of_the_data() {
    let map = RunMap {
        points: points(50, "T1072"),
        selected: vec!["T1072".into(), HOSTILE.into()],
        neighbours: [("T1072".to_string(), vec![HOSTILE.to_string()])].into(),
        projection: HOSTILE.into(),
    };
    let page = render_run(&hostile_report(), &map, &rows(30));
    assert_escaped(&page, 2);
    assert!(page.contains("Content-Security-Policy"));
}

#[test]
fn the_eval_page_escapes_every_text_of_the_data() {
    let mut v: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/eval/tram-llm/results.json"
        ))
        .unwrap(),
    )
    .unwrap();
    v["arms"][0] = json!(HOSTILE);
    v["results"][0]["arm"] = json!(HOSTILE);
    v["claims"]["family"][0]["pair"]["arm"] = json!(HOSTILE);
    v["config"]["target"] = json!(HOSTILE);
    let per_class = v["none"]["per_class"].as_object_mut().unwrap();
    let first = per_class.values().next().unwrap().clone();
    per_class.insert(HOSTILE.into(), first);
    let page = render_eval(&v);
    assert_escaped(&page, 1);
}

#[test]
fn the_all_techniques_map_has_one_circle_per_point_given() {
    let mut pts = points(120, "T1072");
    pts.extend(points(80, "T1557.001"));
    pts.extend(points(300, "T1003.001"));
    let map = RunMap {
        points: pts,
        selected: vec!["T1072".into(), "T1557.001".into()],
        neighbours: [("T1072".to_string(), vec!["T1003.001".to_string()])].into(),
        projection: "test".into(),
    };
    let page = render_run(&hostile_report(), &map, &rows(10));
    assert_eq!(page.matches("data-kind=").count(), 500);
    assert!(page.contains("data-points=\"500\""));
    assert!(page.contains("All 500 points are drawn."));
    assert_eq!(page.matches("<tr data-technique=").count(), 10);
}

#[test]
fn big_runs_are_sampled_bounded_and_say_so() {
    let mut pts = points(2_000, "T1072");
    pts.extend(points(30_000, "T1003.001"));
    let map = RunMap {
        points: pts,
        selected: vec!["T1072".into()],
        neighbours: [("T1072".to_string(), vec!["T1003.001".to_string()])].into(),
        projection: String::new(),
    };
    let page = render_run(&hostile_report(), &map, &rows(20_000));
    assert_eq!(page.matches("data-kind=").count(), MAP_POINT_LIMIT);
    assert_eq!(page.matches("<tr data-technique=").count(), ROW_LIMIT);
    assert!(page.contains("Sampled: 5000 of 32000 points"));
    assert!(page.contains("Sampled: 4000 of 20000 rows"));
    // Long hostile texts on every point and row: still a few MB.
    assert!(page.len() < 8_000_000, "{} bytes", page.len());
}

#[test]
fn odd_json_renders_dashes_instead_of_failing() {
    for v in [
        json!(null),
        json!([]),
        json!("x"),
        json!({"techniques": 3, "llm": [], "outcome": {"status": 5}, "stage_seconds": {"x": "y"}}),
        json!({"techniques": [{"id": 5, "rejected": [1]}, null], "template": [1]}),
    ] {
        let page = render_run(&v, &RunMap::default(), &[]);
        assert!(page.contains("—"), "{v}");
        assert!(page.contains("</html>"));
        assert!(!page.contains("page template error"), "{page}");
    }
    for v in [
        json!(null),
        json!({"claims": {"family": [{"mean": "x"}, {"mean": 0.1, "metric": "macro-f1"}], "primary": 3}}),
        json!({"results": [{"arm": "a", "ratio": 1.0}, 7], "none": {"per_class": {"T1": 3}}, "folds": [1]}),
        json!({"config": {"seeds": "x", "folds": -1, "rare_threshold": "y"}}),
    ] {
        let page = render_eval(&v);
        assert!(page.contains("—"), "{v}");
        assert!(page.contains("</html>"));
        assert!(!page.contains("page template error"), "{page}");
    }
}

#[test]
fn the_committed_baselines_render_with_the_primary_first() {
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/eval/tram-baselines/results.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let page = render_eval(&v);
    let forest = &page[page.find("id=\"forest\"").unwrap()..];
    let primary = forest.find("PRIMARY: procedures vs oversample ×1").unwrap();
    let member = forest.find("oversample vs none ×0.5").unwrap();
    assert!(primary < member, "primary first");
    // 41 family members + the primary, one interval line each.
    assert_eq!(
        forest[..forest.find("</svg>").unwrap()]
            .matches("<circle")
            .count(),
        41
    );
    assert!(page.contains("id=\"heatmap\""));
    assert!(page.contains("+0.061 [-0.016, +0.137]"));
    assert!(page.len() < 1_000_000, "{} bytes", page.len());
}
