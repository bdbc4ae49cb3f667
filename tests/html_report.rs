//! The HTML pages end to end: `report.html` as a fake-endpoint `augment` run writes it (map
//! from the real embedding model) and `results.html` of the committed TRAM baselines, written to
//! a temporary directory and, when `chromium` is on PATH, opened in headless Chromium by
//! `scripts/browser_check.sh` (no console error, no network request, the map's point
//! count, the rows filter). Without Chromium the browser part prints a skip line, or fails
//! when `SYNTHCTI_REQUIRE_BROWSER=1`. `SYNTHCTI_HTML_SCREENSHOTS=DIR` also saves
//! `DIR/html-report.png` and `DIR/html-results.png`; `SYNTHCTI_HTML_KEEP=DIR` keeps both
//! pages there.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::augment_cli::{TINY, augment_cmd, deterministic_answer, read_jsonl, read_report};
use support::fault_server::{FaultServer, Reply};
use synthcti::html::{MapPoint, PointKind, RowView, RunMap, render_eval, render_run};

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
    let new_rows: Vec<&Value> = accepted
        .iter()
        .filter(|r| r["origin"] != "original")
        .collect();
    let of = |origin: &str| new_rows.iter().filter(|r| r["origin"] == origin).count();
    let (synthetic, procedures) = (of("synthetic"), of("attack-procedure"));
    assert!(
        synthetic > 0 && procedures > 0 && rejected.len() > 5,
        "a run with every kind"
    );
    assert_eq!(
        synthetic + procedures,
        report["accepted"].as_u64().unwrap() as usize
    );

    // The page the run wrote: every new row and rejected candidate in the table and on the
    // map (real embeddings, PCA), the hostile accepted sentence as text only.
    let report_html = out.join("report.html");
    let page = std::fs::read_to_string(&report_html).unwrap();
    assert_eq!(
        page.matches("<tr data-technique=").count(),
        new_rows.len() + rejected.len()
    );
    let points = page.matches("data-kind=").count();
    let kind = |k: &str| page.matches(&format!("data-kind=\"{k}\"")).count();
    assert_eq!(
        (kind("synthetic"), kind("procedure"), kind("rejected")),
        (synthetic, procedures, rejected.len())
    );
    assert!(
        kind("original") > 0 && kind("centroid") > 0,
        "{points} points"
    );
    let hostile_rows = new_rows
        .iter()
        .copied()
        .chain(&rejected)
        .filter(|r| r["text"].as_str().is_some_and(|t| t.contains("<script>")))
        .count();
    assert!(
        hostile_rows > 0,
        "the hostile answer reached the rows or the rejects"
    );
    assert!(
        page.contains("Operators ran &lt;script&gt;alert(1)&lt;/script&gt;")
            || page.contains("Operators ran \\u003cscript"),
        "hostile text shown escaped"
    );
    assert!(!page.contains("<script>alert") && !page.contains("<img"));
    // Same seed, same picture.
    std::fs::create_dir_all(dir.path().join("again")).unwrap();
    let again = std::fs::read_to_string(
        fake_run(&dir.path().join("again"))
            .await
            .join("report.html"),
    )
    .unwrap();
    // (the same picture: rejected candidates may be listed in another order, so the marks
    // are compared as a set, without their row index)
    let circles = |p: &str| {
        let mut marks: Vec<String> = p
            .split("<circle ")
            .skip(1)
            .map(|c| {
                let c = &c[..c.find("/>").unwrap_or(c.len())];
                c.split(" data-i=").next().unwrap_or(c).to_string()
            })
            .collect();
        marks.sort();
        marks
    };
    assert_eq!(circles(&page), circles(&again));

    // A direct render with a hostile row in every field stays text.
    let mut rows: Vec<RowView> = rejected.iter().map(RowView::from_rejected).collect();
    rows.push(RowView {
        technique: "T1072".into(),
        origin: "synthetic".into(),
        rejected: Some(HOSTILE.into()),
        text: HOSTILE.into(),
        provenance: HOSTILE.into(),
        scores: HOSTILE.into(),
    });
    let hostile_map = RunMap {
        points: vec![MapPoint {
            x: 0.0,
            y: 0.0,
            kind: PointKind::Rejected(HOSTILE.into()),
            technique: HOSTILE.into(),
            text: HOSTILE.into(),
            detail: HOSTILE.into(),
        }],
        ..RunMap::default()
    };
    let direct = render_run(&report, &hostile_map, &rows);
    assert!(!direct.contains("<script>alert") && !direct.contains("<img"));

    let results: Value =
        serde_json::from_slice(&std::fs::read("docs/eval/tram-baselines/results.json").unwrap())
            .unwrap();
    let results_page = render_eval(&results);
    let results_html = dir.path().join("results.html");
    std::fs::write(&results_html, &results_page).unwrap();
    println!(
        "report.html: {} bytes ({points} map points, {} rows); results.html: {} bytes",
        page.len(),
        new_rows.len() + rejected.len(),
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
        points.to_string(),
        "--require-rows".into(),
    ];
    for (k, n) in [
        ("synthetic", synthetic),
        ("procedure", procedures),
        ("rejected", rejected.len()),
    ] {
        args.extend([
            "--count".into(),
            format!("circle[data-kind=\"{k}\"]"),
            n.to_string(),
        ]);
    }
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
