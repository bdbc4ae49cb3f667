//! `synthcti augment` end to end: the real local model, dry runs, faulty endpoints, and
//! resume after kill -9.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::Value;
use support::fault_server::{FaultServer, Reply};

use support::augment_cli::{
    TINY, augment_cmd as bin, deterministic_answer, open_filters_config, read_jsonl, read_report,
    synthetic,
};

fn rejected_total(technique: &Value) -> u64 {
    technique["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

/// `augment` of [`TINY`] with the local model into `dir/out`: a generous attempt budget, one
/// server thread and a 5-minute request timeout (other tests, and their servers, share the
/// CPU: see `LocalServerConfig::threads`), plus the `extra` TOML and `args`.
fn run_local_model(dir: &Path, extra: &str, args: &[&str]) -> std::path::PathBuf {
    let out = dir.join("out");
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "{extra}\n[generate]\nmax_requests_factor = 8.0\n[local]\nthreads = 1\n[llm]\ntimeout_secs = 300.0\n"
        ),
    )
    .unwrap();
    let status = bin()
        .args(["--input", TINY, "--output"])
        .arg(&out)
        .arg("--config")
        .arg(&cfg)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "{args:?}");
    out
}

#[test]
fn augment_end_to_end_with_the_local_model() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--source", "llm", "--target", "absolute:2", "--seed", "3"];
    let out = run_local_model(dir.path(), "", &args);
    for f in [
        "augmented.json",
        "augmented.jsonl",
        "report.md",
        "report.json",
        "journal.jsonl",
    ] {
        assert!(out.join(f).is_file(), "{f} written");
    }
    let report: Value = read_report(&out);
    let techniques = report["techniques"].as_array().unwrap();
    assert_eq!(
        techniques
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["T1557.001", "T1072"]
    );
    let mut added = 0;
    for t in techniques {
        let n = t["added_synthetic"].as_u64().unwrap();
        assert!(n <= 2);
        assert_eq!(
            t["after"].as_u64().unwrap(),
            t["before"].as_u64().unwrap() + n
        );
        // every candidate is either accepted or rejected with a reason
        assert_eq!(t["candidates"].as_u64().unwrap(), n + rejected_total(t));
        added += n;
    }
    assert!(
        added >= 1,
        "the local model wrote at least one accepted sentence"
    );
    let llm = &report["llm"];
    assert!(llm["requests"].as_u64().unwrap() >= 1);
    assert!(llm["completion_tokens"].as_u64().unwrap() > 0);
    assert!(
        report["config"]
            .as_str()
            .unwrap()
            .contains("target = \"absolute:2\"")
    );

    let rows = read_jsonl(&out.join("augmented.jsonl"));
    assert_eq!(rows.len() as u64, 52 + added);
    for r in synthetic(&rows) {
        let p = &r["provenance"];
        assert_eq!(r["origin"], "synthetic");
        assert_eq!(p["llm"]["model"], "smollm2-135m");
        assert_eq!(p["llm"]["endpoint"], "127.0.0.1");
        assert_eq!(p["llm"]["template"], "local-one");
        assert_eq!(p["llm"]["template_hash"].as_str().unwrap().len(), 16);
        assert!(p["scores"]["centroid_cosine"].as_f64().unwrap() >= 0.3);
        assert!(p["scores"]["margin"].as_f64().unwrap() >= 0.0);
        assert!(!p["seed_ids"].as_array().unwrap().is_empty());
    }
    // The native file reads back with the same reader.
    let st = Command::new(assert_cmd::cargo::cargo_bin("synthcti"))
        .args(["stats", "--json", "--input"])
        .arg(out.join("augmented.json"))
        .output()
        .unwrap();
    assert!(st.status.success());
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["rows"].as_u64().unwrap(), 52 + added);
}

/// Issue 21, item 2: the main job with the local model on a CPU kept busy by CPU-bound
/// spinners (one per core, beside whatever else the suite runs) keeps the default request
/// timeout and still times nothing out and retries nothing — a request that is making progress
/// is never cut and sent again.
#[test]
fn busy_cpu_times_out_no_local_request() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let spinners: Vec<_> = (0..cores)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let status = bin()
        .args(["--input", TINY, "--output"])
        .arg(&out)
        .args(["--source", "llm", "--target", "absolute:3", "--seed", "11"])
        .status()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    for s in spinners {
        s.join().unwrap();
    }
    assert!(status.success());
    let report = read_report(&out);
    let llm = &report["llm"];
    assert!(llm["answered"].as_u64().unwrap() >= 2, "{llm}");
    assert_eq!(llm["timeouts"], 0, "{llm}");
    assert_eq!(llm["retries"], 0, "{llm}");
    assert_eq!(llm["failed"], 0, "{llm}");
}

#[test]
fn procedures_source_adds_real_attack_examples_without_any_llm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let status = bin()
        .args(["--input", TINY, "--output"])
        .arg(&out)
        // nothing listens there: a procedures-only run must not call the LLM
        .args([
            "--source",
            "procedures",
            "--base-url",
            "http://127.0.0.1:9/v1",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let rows = read_jsonl(&out.join("augmented.jsonl"));
    let added = synthetic(&rows);
    // to-median: median of 4, 8, 20, 20 is 14 → at most T1557.001 +10, T1072 +6; T1072 has 8
    // procedure examples, T1557.001 has 7 that all sit nearer another technique's centroid.
    let report: Value = read_report(&out);
    assert!(report["llm"].is_null());
    let t = &report["techniques"];
    assert_eq!(t[0]["id"], "T1557.001");
    assert_eq!(t[0]["added_procedures"], 0);
    let rejected = rejected_total(&t[0]);
    assert_eq!((t[0]["candidates"].as_u64(), rejected), (Some(7), 7));
    assert_eq!(t[1]["added_procedures"], 6);
    assert_eq!(added.len(), 6);
    let catalog = std::fs::read_to_string("data/attack_procedures.csv").unwrap();
    for r in &added {
        assert_eq!(r["origin"], "attack-procedure");
        assert_eq!(r["label"], "T1072");
        assert!(r["provenance"].get("llm").is_none());
        assert!(
            catalog.contains(r["text"].as_str().unwrap()),
            "a real procedure example"
        );
    }
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = bin()
        .args(["--input", TINY, "--output"])
        .arg(&out)
        .args([
            "--dry-run",
            "--source",
            "llm",
            "--base-url",
            "http://127.0.0.1:9/v1",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("## Plan (no LLM called)"), "{stdout}");
    assert!(
        stdout.contains("| T1557.001 |") && stdout.contains("estimated tokens"),
        "{stdout}"
    );
    assert!(!out.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn faulty_endpoint_costs_retries_not_the_run() {
    // Every 3rd request fails with 500, every 5th returns garbage; the rest answer.
    let server = FaultServer::start(|n, body| match n % 5 {
        _ if n % 3 == 1 => Reply::status(500),
        4 => Reply::Garbage,
        _ => Reply::ok(&deterministic_answer(body)),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "");
    let out = dir.path().join("out");
    let url = server.base_url();
    let status = tokio::task::spawn_blocking(move || {
        bin()
            .args(["--input", TINY, "--output"])
            .arg(&out)
            .arg("--config")
            .arg(&cfg)
            .args([
                "--source",
                "llm",
                "--target",
                "absolute:3",
                "--base-url",
                &url,
                "--model",
                "fake",
            ])
            .args(["--sentences-per-request", "1", "--max-retries", "4"])
            .status()
            .unwrap();
        out
    })
    .await
    .unwrap();
    let report: Value = read_report(&status);
    let llm = &report["llm"];
    assert!(llm["retries"].as_u64().unwrap() >= 1, "{llm}");
    assert_eq!(report["accepted"], 6, "{report:#}");
}

/// Kill -9 at random points of a run, each followed by `--resume`: the result equals an
/// uninterrupted run, no row lost, none twice.
#[tokio::test(flavor = "multi_thread")]
async fn resume_after_kill_gives_the_same_rows() {
    let server = FaultServer::start(|_, body| {
        Reply::Delay(
            Duration::from_millis(150),
            Box::new(Reply::ok(&deterministic_answer(body))),
        )
    })
    .await;
    let url = server.base_url();
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "");
    let args = move |out: &Path| {
        let mut c = bin();
        c.args(["--input", TINY, "--output"])
            .arg(out)
            .arg("--config")
            .arg(&cfg)
            .args([
                "--source",
                "llm",
                "--target",
                "absolute:12",
                "--base-url",
                &url,
                "--model",
                "fake",
            ])
            .args(["--sentences-per-request", "1", "--concurrency", "2"]);
        c
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (a2, b2) = (a.clone(), b.clone());
    let killed_at = tokio::task::spawn_blocking(move || {
        assert!(args(&a2).status().unwrap().success());
        // Same run, killed at three seeded random points (journal lines), resumed each time.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2026);
        let mut points: Vec<usize> = (0..3).map(|_| rng.gen_range(2..45)).collect();
        points.sort_unstable();
        let journal = b2.join("journal.jsonl");
        let lines = || {
            std::fs::read_to_string(&journal)
                .map(|s| s.lines().count())
                .unwrap_or(0)
        };
        let mut killed_at = Vec::new();
        for (i, &at) in points.iter().enumerate() {
            let mut cmd = args(&b2);
            if i > 0 {
                cmd.arg("--resume");
            }
            let mut child = cmd
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let t = Instant::now();
            while lines() < at && t.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(10));
            }
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            killed_at.push(lines());
            if i == 0 {
                let fresh = args(&b2).status().unwrap();
                assert!(
                    !fresh.success(),
                    "without --resume an existing run is not overwritten"
                );
            }
        }
        assert!(args(&b2).arg("--resume").status().unwrap().success());
        (points, killed_at)
    })
    .await
    .unwrap();
    let (points, killed_at) = killed_at;
    for (p, k) in points.iter().zip(&killed_at) {
        assert!(k >= p, "killed after {k} journal lines, aimed at {p}");
    }
    let rows_a = read_jsonl(&a.join("augmented.jsonl"));
    let rows_b = read_jsonl(&b.join("augmented.jsonl"));
    assert_eq!(synthetic(&rows_a).len(), 24);
    assert_eq!(rows_a, rows_b, "resumed run equals the uninterrupted one");
    let report: Value = read_report(&b);
    assert!(report["llm"]["replayed"].as_u64().unwrap() >= 1);
    let texts: std::collections::HashSet<&str> = synthetic(&rows_b)
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 24, "no row twice");
}

/// Planted test sentences (one verbatim ATT&CK procedure example, one lightly reworded) are
/// kept out of the new rows by `--avoid`, and the report counts them.
#[test]
fn avoid_filter_removes_planted_test_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let exact = "APT32 compromised McAfee ePO to move laterally by distributing malware as a software deployment task.";
    let near = "During C0018 the threat actors used PDQ Deploy to move AvosLocker and other tools across the network.";
    let avoid = dir.path().join("test-split.jsonl");
    std::fs::write(
        &avoid,
        format!(
            "{}\n{}\n",
            serde_json::json!({"text": exact, "label": "T1072"}),
            serde_json::json!({"text": near, "label": "T1072"})
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let status = bin()
        .args(["--input", TINY, "--output"])
        .arg(&out)
        .args(["--source", "procedures", "--avoid"])
        .arg(&avoid)
        .status()
        .unwrap();
    assert!(status.success());
    let rows = read_jsonl(&out.join("augmented.jsonl"));
    let texts: Vec<&str> = synthetic(&rows)
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert!(!texts.iter().any(|t| t.contains("McAfee ePO")), "{texts:?}");
    assert!(
        !texts
            .iter()
            .any(|t| t.contains("PDQ Deploy to move AvosLocker")),
        "{texts:?}"
    );
    let report: Value = read_report(&out);
    assert_eq!(
        report["rejected"]["exact-duplicate-avoid"], 1,
        "{:#}",
        report["rejected"]
    );
    assert_eq!(
        report["rejected"]["near-duplicate-avoid"], 1,
        "{:#}",
        report["rejected"]
    );
}

/// `augment` of [`TINY`] into `out` with `config`, against the fake endpoint at `url`
/// (model `fake`), plus `args` (source, target, request shape).
fn fake_endpoint_run(out: &Path, config: &Path, url: &str, args: &[&str]) -> std::process::Output {
    bin()
        .args(["--input", TINY, "--output"])
        .arg(out)
        .arg("--config")
        .arg(config)
        .args(["--base-url", url, "--model", "fake"])
        .args(args)
        .output()
        .unwrap()
}

/// A fake LLM whose answers exercise every path of acceptance: a good sentence, chatter
/// around it, a repeat of an earlier answer, a too-short line, two sentences at once.
fn mixed_answer(body: &Value) -> String {
    let seed = body["seed"].as_u64().unwrap_or(0);
    let good = deterministic_answer(body);
    match seed % 5 {
        0 => good,
        1 => format!("Sure! Here are the sentences:\n1. {good}"),
        2 => "The operators relied on scheduled tasks against hosts of the victim network.".into(),
        3 => "ok".into(),
        _ => format!(
            "- {good}\n- Intrusion {seed} moved tools across the network with admin shares."
        ),
    }
}

/// The rows of an output directory with the fields that depend only on the input, the
/// configuration and the LLM's answers (not on ports, journal keys or timing).
fn stable_rows(dir: &Path) -> Vec<Value> {
    read_jsonl(&dir.join("augmented.jsonl"))
        .into_iter()
        .filter(|r| r["origin"] != "original")
        .map(|r| {
            let p = &r["provenance"];
            let round = |v: &Value| v.as_f64().map(|x| (x * 1e4).round() / 1e4);
            serde_json::json!({
                "id": r["id"], "text": r["text"], "label": r["label"], "origin": r["origin"],
                "cluster": p["cluster"], "seed_ids": p["seed_ids"],
                "fidelity": round(&p["scores"]["centroid_cosine"]),
                "seed": p["llm"]["seed"], "attempt": p["llm"]["attempt"],
            })
        })
        .collect()
}

/// The same input, seed and answers give the same rows as the pinned run
/// (`tests/fixtures/golden/both_rows.json`, written by the code before the generation stages
/// were split; `UPDATE_GOLDEN=1` rewrites it).
#[tokio::test(flavor = "multi_thread")]
async fn same_rows_as_the_pinned_run_on_a_deterministic_endpoint() {
    let server = FaultServer::start(|_, body| Reply::ok(&mixed_answer(body))).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("golden.toml");
    std::fs::write(
        &cfg,
        "seed = 7\n[generate]\noutput = \"lines\"\n[embed]\ncache = false\n[filter]\nmin_words = 6\nmin_centroid_cosine = 0.05\nmin_margin = -0.5\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let (url, out2) = (server.base_url(), out.clone());
    let o = tokio::task::spawn_blocking(move || {
        let args = ["--source", "both", "--target", "absolute:16"];
        let more = ["--sentences-per-request", "2", "--concurrency", "3"];
        fake_endpoint_run(&out2, &cfg, &url, &[&args[..], &more].concat())
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = stable_rows(&out);
    let report = read_report(&out);
    let got = serde_json::json!({
        "rows": rows,
        "requests": report["llm"]["requests"],
        "candidates": report["candidates"],
    });
    let golden = Path::new("tests/fixtures/golden/both_rows.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(golden, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: Value = serde_json::from_slice(&std::fs::read(golden).unwrap()).unwrap();
    assert!(got["rows"].as_array().unwrap().len() >= 10, "{got:#}");
    assert_eq!(got, want, "rows differ from the pinned run");
}

/// A dry run of the largest plan the limits allow counts every request without rendering
/// (or holding) each prompt: it finishes in seconds with the exact counts.
#[test]
fn dry_run_of_a_huge_plan_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let o = bin()
        .args(["--input", TINY, "--output"])
        .arg(dir.path().join("out"))
        .args(["--dry-run", "--source", "llm", "--target", "absolute:10000"])
        .args(["--base-url", "http://127.0.0.1:9/v1"])
        .args(["--sentences-per-request", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    // 10,000 rows per technique × overask 1.5, one sentence per request (rounded up per
    // cluster).
    let plan = stdout.split("## Plan").nth(1).unwrap_or_default();
    let planned: usize = plan
        .lines()
        .find_map(|l| l.strip_prefix("| T1557.001 | "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no plan line for T1557.001: {stdout}"));
    assert!((15_000..15_010).contains(&planned), "{planned}");
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
}

/// Over-generate and select, the consistency classifier and the contrast, on a
/// deterministic endpoint: each cluster fills a pool of 3 × its rows, keeps the rows it
/// wanted by MMR (selection score in provenance, the rest rejected as `not-selected`), every
/// row carries the classifier's rank, and every prompt shows the nearest other technique.
#[tokio::test(flavor = "multi_thread")]
async fn pool_selection_classifier_and_contrast_on_a_deterministic_endpoint() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let contrasted = Arc::new(AtomicUsize::new(0));
    let seen = contrasted.clone();
    let server = FaultServer::start(move |_, body| {
        // The remote endpoint gets the `remote-json` template.
        let user = body["messages"][1]["content"].as_str().unwrap_or("");
        if user.contains("Do not describe T") {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        Reply::ok(&deterministic_answer(body))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "[select]\nmethod = \"mmr\"\npool = 3.0\n");
    let out = dir.path().join("out");
    let (url, out2) = (server.base_url(), out.clone());
    let o = tokio::task::spawn_blocking(move || {
        support::augment_cli::augment_llm(&out2, &cfg, &url, &["--target", "absolute:2"])
            .args(["--contrast", "--classifier-top-k", "4"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = read_report(&out);
    let requests = report["llm"]["requests"].as_u64().unwrap();
    assert_eq!(
        contrasted.load(Ordering::SeqCst) as u64,
        requests,
        "every prompt contrasts"
    );
    let rows = read_jsonl(&out.join("augmented.jsonl"));
    let added = synthetic(&rows);
    let techniques = report["techniques"].as_array().unwrap();
    assert_eq!(
        added.len(),
        2 * techniques.len(),
        "each technique keeps exactly 2"
    );
    for r in &added {
        let p = &r["provenance"];
        let rank = p["scores"]["classifier_rank"].as_u64().unwrap();
        assert!((1..=4).contains(&rank), "{r}");
        assert!(p["selection_score"].as_f64().is_some(), "{r}");
    }
    let rejected = read_jsonl(&out.join("rejected.jsonl"));
    let not_selected: Vec<&Value> = rejected
        .iter()
        .filter(|r| r["reason"] == "not-selected")
        .collect();
    assert!(
        not_selected.len() >= 2 * techniques.len(),
        "pools of 6 keep 2: {report:#}"
    );
    assert!(not_selected.iter().all(|r| r["scores"].is_object()));
    for r in rejected
        .iter()
        .filter(|r| r["reason"] == "classifier-off-label")
    {
        assert!(r["scores"]["classifier_rank"].as_u64().unwrap() > 4, "{r}");
    }
    for t in techniques {
        let n = t["added_synthetic"].as_u64().unwrap();
        assert_eq!(n, 2);
        assert_eq!(t["candidates"].as_u64().unwrap(), n + rejected_total(t));
    }
    let on = &report["on_label"];
    assert_eq!(on["synthetic"].as_u64().unwrap(), added.len() as u64);
    assert!(
        report["config"]
            .as_str()
            .unwrap()
            .contains("method = \"mmr\"")
    );
}

/// The same three features against the real local model, on one technique, writing new
/// sentences and rewriting procedure examples.
#[test]
fn pool_selection_classifier_and_contrast_with_the_local_model() {
    for source in ["llm", "rewrite"] {
        quality_run_with_the_local_model(source);
    }
}

fn quality_run_with_the_local_model(source: &str) {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[select]\nmethod = \"mmr\"\n[filter]\nclassifier_top_k = 3\n";
    let args = ["--source", source, "--target", "absolute:2", "--seed", "5"];
    let out = run_local_model(
        dir.path(),
        extra,
        &[&args[..], &["--technique", "T1072", "--contrast"]].concat(),
    );
    let report = read_report(&out);
    let t = &report["techniques"][0];
    let n = t["added_synthetic"].as_u64().unwrap();
    assert!(n <= 2);
    assert_eq!(t["candidates"].as_u64().unwrap(), n + rejected_total(t));
    let rows = read_jsonl(&out.join("augmented.jsonl"));
    for r in synthetic(&rows) {
        let rank = r["provenance"]["scores"]["classifier_rank"]
            .as_u64()
            .unwrap();
        assert!(rank <= 3, "{r}");
        let rewrite_of = r["provenance"]["llm"]["rewrite_of"].as_str();
        assert_eq!(rewrite_of.is_some(), source == "rewrite", "{r}");
    }
    assert_eq!(report["on_label"]["synthetic"].as_u64().unwrap(), n);
}

/// `--source rewrite`: every request rewrites an ATT&CK procedure example of the technique
/// (named in provenance); an answer that copies the example back is rejected as
/// `near-duplicate-source`.
#[tokio::test(flavor = "multi_thread")]
async fn rewrite_source_names_its_procedure_example_and_refuses_copies() {
    let (rows, report) = rewrite_run("rewrite", &["--target", "absolute:3"]).await;
    let added = synthetic(&rows);
    assert!(!added.is_empty());
    assert_rewrites_name_their_source(&added);
    assert!(
        report["rejected"]["near-duplicate-source"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{report:#}"
    );
}

/// `--source both-rewrite`: the technique's procedure examples are added first, then the LLM
/// rewrites them for the rows still missing.
#[tokio::test(flavor = "multi_thread")]
async fn both_rewrite_adds_procedures_then_rewrites_of_them() {
    // T1557.001 has 4 rows in the fixture and 7 ATT&CK procedure examples: 10 new rows
    // need the LLM after the examples.
    let args = ["--technique", "T1557.001", "--target", "absolute:10"];
    let (rows, report) = rewrite_run("both-rewrite", &args).await;
    let added = synthetic(&rows);
    let (procedures, llm): (Vec<&Value>, Vec<&Value>) = added
        .iter()
        .partition(|r| r["origin"] == "attack-procedure");
    assert!(!procedures.is_empty() && !llm.is_empty(), "{report:#}");
    assert_rewrites_name_their_source(&llm);
    let mut examples = csv::Reader::from_path("data/attack_procedures.csv").unwrap();
    let examples: Vec<String> = examples
        .records()
        .map(|r| r.unwrap())
        .filter(|r| &r[0] == "T1557.001")
        .map(|r| r[2].to_string())
        .collect();
    for r in &llm {
        let source = r["provenance"]["llm"]["rewrite_of"].as_str().unwrap();
        assert!(examples.iter().any(|e| e == source), "{source}");
    }
}

/// An augment run on the fake endpoint that copies the procedure example back on even seeds
/// (one sentence per request; duplicate filters open except near copies at 0.95).
async fn rewrite_run(source: &str, args: &[&str]) -> (Vec<Value>, Value) {
    let server = FaultServer::start(|_, body| {
        let user = body["messages"][1]["content"].as_str().unwrap_or("");
        let example = user
            .split_once("Procedure example: ")
            .map(|(_, rest)| rest.lines().next().unwrap_or(""));
        match example {
            Some(e) if body["seed"].as_u64().unwrap_or(0) % 2 == 0 => Reply::ok(e),
            _ => Reply::ok(&deterministic_answer(body)),
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "");
    // Copies of the source must be caught even with the duplicate filters open.
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        cfg_text.replace("near_duplicate = 1.0", "near_duplicate = 0.95"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let (url, out2) = (server.base_url(), out.clone());
    let args: Vec<String> = ["--source", source, "--sentences-per-request", "1"]
        .iter()
        .chain(args)
        .map(|a| a.to_string())
        .collect();
    let o = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fake_endpoint_run(&out2, &cfg, &url, &args)
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (read_jsonl(&out.join("augmented.jsonl")), read_report(&out))
}

/// Every row names the procedure example it rewrites, and is not a copy of it.
fn assert_rewrites_name_their_source(rows: &[&Value]) {
    for r in rows {
        let source = r["provenance"]["llm"]["rewrite_of"]
            .as_str()
            .expect("rewrite_of");
        assert_ne!(source, r["text"].as_str().unwrap());
    }
}
