//! The HTML pages end to end: `report.html` of a fake-endpoint `augment` run (with a map
//! made here from its rows) and `results.html` of the committed TRAM baselines, written to
//! a temporary directory and, when `chromium` is on PATH, opened in headless Chromium by
//! `scripts/browser_check.sh` (no console error, no network request, the map's point
//! count, the rows filter). Without Chromium the browser part prints a skip line, or fails
//! when `SYNTHCTI_REQUIRE_BROWSER=1`. `SYNTHCTI_HTML_SCREENSHOTS=DIR` also saves
//! `DIR/html-report.png` and `DIR/html-results.png`; `SYNTHCTI_HTML_KEEP=DIR` keeps both
//! pages there.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::Array2;
use serde_json::Value;
use support::augment_cli::{TINY, augment_cmd, deterministic_answer, read_jsonl, read_report};
use support::fault_server::{FaultServer, Reply};
use synthcti::html::{MapPoint, PointKind, RowView, RunMap, project_2d, render_eval, render_run};

/// A sentence that must reach the page as text, never as markup.
const HOSTILE: &str = "Operators ran <script>alert(1)</script> and <img src=x onerror=alert(2)> with \"quotes\" & 'apostrophes' on the victim hosts.";

/// A fake LLM whose answers take every path: good sentences, too-short lines, repeats, and
/// a hostile one.
fn answer(body: &Value) -> String {
    let seed = body["seed"].as_u64().unwrap_or(0);
    match seed % 6 {
        1 => "ok".into(),
        2 => "The operators relied on scheduled tasks against hosts of the victim network.".into(),
        3 => HOSTILE.into(),
        _ => deterministic_answer(body),
    }
}

/// `augment` of the tiny fixture against the fake endpoint into `dir/out`.
async fn fake_run(dir: &Path) -> PathBuf {
    let server = FaultServer::start(|_, body| Reply::ok(&answer(body))).await;
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        "seed = 7\n[generate]\noutput = \"lines\"\n[embed]\ncache = false\n[filter]\nmin_words = 6\nmin_centroid_cosine = 0.05\nmin_margin = -0.5\n",
    )
    .unwrap();
    let out = dir.join("out");
    let (url, out2) = (server.base_url(), out.clone());
    let o = tokio::task::spawn_blocking(move || {
        augment_cmd()
            .args(["--input", TINY, "--output"])
            .arg(&out2)
            .arg("--config")
            .arg(&cfg)
            .args([
                "--source",
                "both",
                "--target",
                "absolute:16",
                "--base-url",
                &url,
            ])
            .args(["--model", "fake", "--sentences-per-request", "1"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

/// A deterministic stand-in for a sentence embedding: hashed words, ±1 each, normalised.
fn toy_embedding(text: &str) -> Vec<f32> {
    let mut v = [0f32; 48];
    for w in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let h = w.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        v[(h % 48) as usize] += if h & 1 << 40 == 0 { 1.0 } else { -1.0 };
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.iter().map(|x| x / norm).collect()
}

/// The map of a run: every row and rejected candidate, one centroid per selected technique,
/// placed by `project_2d` of their toy embeddings; each technique's neighbour is the
/// `nearest_other_technique` its rows name most.
fn synthetic_map(report: &Value, rows: &[Value], rejected: &[Value]) -> RunMap {
    let selected: Vec<String> = report["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let mut items: Vec<(PointKind, String, String, String)> = Vec::new();
    let mut votes: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for r in rows.iter().chain(rejected) {
        let label = r["label"].as_str().unwrap_or("").to_string();
        let scores = if r["scores"].is_null() {
            &r["provenance"]["scores"]
        } else {
            &r["scores"]
        };
        if let Some(n) = scores["nearest_other_technique"].as_str() {
            *votes
                .entry(label.clone())
                .or_default()
                .entry(n.into())
                .or_default() += 1;
        }
        let kind = match (r["reason"].as_str(), r["origin"].as_str()) {
            (Some(reason), _) => PointKind::Rejected(reason.into()),
            (None, Some("original")) => PointKind::Original,
            (None, Some("attack-procedure")) => PointKind::Procedure,
            _ => PointKind::Synthetic,
        };
        let detail = format!("origin {}\nscores {scores}", r["origin"]);
        items.push((kind, label, r["text"].as_str().unwrap_or("").into(), detail));
    }
    for t in report["techniques"].as_array().unwrap() {
        let central = t["cluster_summaries"][0]["central"][0]
            .as_str()
            .unwrap_or("");
        let id = t["id"].as_str().unwrap().to_string();
        items.push((PointKind::Centroid, id, central.into(), "cluster 0".into()));
    }
    items.push((
        PointKind::Synthetic,
        selected[0].clone(),
        HOSTILE.into(),
        HOSTILE.into(),
    ));
    let flat: Vec<f32> = items
        .iter()
        .flat_map(|(_, _, text, _)| toy_embedding(text))
        .collect();
    let xy = project_2d(
        Array2::from_shape_vec((items.len(), 48), flat)
            .unwrap()
            .view(),
    );
    let points = items
        .into_iter()
        .enumerate()
        .map(|(i, (kind, technique, text, detail))| MapPoint {
            x: xy[[i, 0]],
            y: xy[[i, 1]],
            kind,
            technique,
            text,
            detail,
        })
        .collect();
    let neighbours = votes
        .into_iter()
        .filter_map(|(t, v)| Some((t, vec![v.into_iter().max_by_key(|(_, n)| *n)?.0])))
        .collect();
    RunMap {
        points,
        selected,
        neighbours,
        projection: "PCA of toy hashed-word vectors (test)".into(),
    }
}

/// Cells of the heat map: classes with about `rare_threshold` training rows or fewer per
/// fold (test rows ÷ seeds × (folds − 1) ÷ folds) × (`none` + every result at the first weight).
fn heat_cells(results: &Value) -> usize {
    let seeds = results["config"]["seeds"].as_array().unwrap().len() as f64;
    let folds = results["config"]["folds"].as_f64().unwrap();
    let threshold = results["config"]["rare_threshold"].as_f64().unwrap();
    let rare = results["none"]["per_class"]
        .as_object()
        .unwrap()
        .values()
        .filter(|c| c["test_rows"].as_f64().unwrap() / seeds * (folds - 1.0) / folds <= threshold)
        .count();
    let weight = &results["results"][0]["synthetic_weight"];
    let columns = 1 + results["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| &r["synthetic_weight"] == weight)
        .count();
    rare * columns
}

fn chromium_on_path() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("chromium").is_file()))
}

/// `scripts/browser_check.sh PAGE ARGS...`, its output printed; panics unless it passes.
fn browser_check(page: &Path, args: &[String]) {
    let o = Command::new("bash")
        .arg("scripts/browser_check.sh")
        .arg(page)
        .args(args)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    println!("{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.status.success(),
        "browser check of {} failed:\n{out}",
        page.display()
    );
}

/// A page that breaks every rule: the check must fail, and say why.
fn browser_check_catches_a_bad_page(dir: &Path) {
    let bad = dir.join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><img src=\"http://192.0.2.1/x.png\"><script>console.error('boom')</script></body></html>",
    )
    .unwrap();
    let o = Command::new("bash")
        .arg("scripts/browser_check.sh")
        .arg(&bad)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    println!("{out}");
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("FAIL no console error") && out.contains("console.error: boom"),
        "{out}"
    );
    assert!(
        out.contains("FAIL no network request: http://192.0.2.1/x.png"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn both_pages_render_and_pass_the_browser_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = fake_run(dir.path()).await;
    let report = read_report(&out);
    let accepted = read_jsonl(&out.join("augmented.jsonl"));
    let rejected = read_jsonl(&out.join("rejected.jsonl"));
    let mut rows: Vec<RowView> = accepted.iter().map(RowView::from_row).collect();
    rows.extend(rejected.iter().map(RowView::from_rejected));
    rows.push(RowView {
        technique: "T1072".into(),
        origin: "synthetic".into(),
        rejected: Some(HOSTILE.into()),
        text: HOSTILE.into(),
        provenance: HOSTILE.into(),
        scores: HOSTILE.into(),
    });
    let map = synthetic_map(&report, &accepted, &rejected);
    assert!(
        rejected.len() > 5 && map.points.len() > 100,
        "a run with rejections"
    );

    let page = render_run(&report, &map, &rows);
    assert_eq!(page.matches("data-kind=").count(), map.points.len());
    assert_eq!(page.matches("<tr data-technique=").count(), rows.len());
    assert!(!page.contains("<script>alert") && !page.contains("<img"));
    let report_html = dir.path().join("report.html");
    std::fs::write(&report_html, &page).unwrap();

    let results: Value =
        serde_json::from_slice(&std::fs::read("docs/eval/tram-baselines/results.json").unwrap())
            .unwrap();
    let results_page = render_eval(&results);
    let results_html = dir.path().join("results.html");
    std::fs::write(&results_html, &results_page).unwrap();
    println!(
        "report.html: {} bytes ({} map points, {} rows); results.html: {} bytes",
        page.len(),
        map.points.len(),
        rows.len(),
        results_page.len()
    );

    if let Some(keep) = std::env::var_os("SYNTHCTI_HTML_KEEP").map(PathBuf::from) {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&report_html, keep.join("report.html")).unwrap();
        std::fs::copy(&results_html, keep.join("results.html")).unwrap();
    }
    if !chromium_on_path() {
        assert!(
            std::env::var_os("SYNTHCTI_REQUIRE_BROWSER").is_none(),
            "SYNTHCTI_REQUIRE_BROWSER is set and chromium is not on PATH (scripts/setup_chromium.sh)"
        );
        println!(
            "skip: chromium not on PATH, pages not opened in a browser (scripts/setup_chromium.sh installs it)"
        );
        return;
    }
    let shots = std::env::var_os("SYNTHCTI_HTML_SCREENSHOTS").map(PathBuf::from);
    let shot = |name: &str, at: Option<&str>| -> Vec<String> {
        let Some(d) = &shots else { return vec![] };
        let mut a = vec!["--screenshot".into(), d.join(name).display().to_string()];
        if let Some(at) = at {
            a.extend(["--at".into(), at.into()]);
        }
        a
    };
    let mut args = vec![
        "--points".into(),
        map.points.len().to_string(),
        "--require-rows".into(),
    ];
    args.extend(shot("html-report.png", Some("#maps")));
    browser_check(&report_html, &args);
    let mut args: Vec<String> = vec!["--count".into(), "#forest circle".into(), "41".into()];
    args.extend([
        "--count".into(),
        "#heatmap rect".into(),
        heat_cells(&results).to_string(),
    ]);
    args.extend(shot("html-results.png", None));
    browser_check(&results_html, &args);
    browser_check_catches_a_bad_page(dir.path());
}
