//! The endpoint pool (`--base-url` repeated, `[[llm.endpoints]]`): the real local
//! llama-server plus deterministic fakes, one failing mid-run; every request accounted for
//! once; `--resume` across a changed pool.

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use support::augment_cli::{
    augment_llm, deterministic_answer, journal_requests, open_filters_config, read_jsonl,
    read_report, synthetic,
};
use support::fault_server::{FaultServer, Reply};
use synthcti::llm::{LocalServer, LocalServerConfig};

/// A fake replica answering deterministically after `latency`.
async fn replica(latency: Duration) -> FaultServer {
    FaultServer::start(move |_, body| {
        Reply::Delay(latency, Box::new(Reply::ok(&deterministic_answer(body))))
    })
    .await
}

/// A fake replica that answers its first `good` requests, then fails: 500s, and requests
/// that hang past the client's timeout (in flight when it "dies").
async fn dying_replica(good: usize) -> FaultServer {
    FaultServer::start(move |n, body| match n {
        n if n < good => Reply::Delay(
            Duration::from_millis(20),
            Box::new(Reply::ok(&deterministic_answer(body))),
        ),
        n if n % 2 == 0 => Reply::Hang,
        _ => Reply::status(500),
    })
    .await
}

/// `augment` over the pool `urls` into `out` (3 rows per under-represented technique).
fn run_pool(out: &Path, config: &Path, urls: &[String], extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&str> = vec!["--target", "absolute:3", "--timeout", "3"];
    for u in &urls[1..] {
        args.extend(["--base-url", u.as_str()]);
    }
    args.extend(extra);
    augment_llm(out, config, &urls[0], &args).output().unwrap()
}

/// Each request key answered once in the journal, and each accepted row once in the output.
fn assert_accounted_once(out: &Path, rows: &[Value]) {
    let requests = journal_requests(out);
    let keys: Vec<&str> = requests
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    let distinct: HashSet<&&str> = keys.iter().collect();
    assert_eq!(distinct.len(), keys.len(), "a request was journaled twice");
    let texts: Vec<&str> = synthetic(rows)
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    let distinct: HashSet<&&str> = texts.iter().collect();
    assert_eq!(distinct.len(), texts.len(), "a row was written twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_server_and_two_fakes_share_the_work_and_a_dying_one_is_drained() {
    let local = LocalServer::start(&LocalServerConfig::default())
        .await
        .expect("the local llama-server (scripts/setup.sh installs it)");
    let steady = replica(Duration::from_millis(50)).await;
    let dying = dying_replica(2).await;
    let urls = vec![
        local.base_url().to_string(),
        steady.base_url(),
        dying.base_url(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "[llm]\nconcurrency = 2\n");
    let out = dir.path().join("out");
    let (out2, urls2) = (out.clone(), urls.clone());
    let o = tokio::task::spawn_blocking(move || run_pool(&out2, &cfg, &urls2, &[]))
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = read_report(&out);
    let llm = &report["llm"];
    assert_eq!(report["outcome"]["status"], "complete", "{report:#}");
    assert_eq!(llm["failed"], 0, "every request found an endpoint: {llm:#}");
    let endpoints = llm["endpoints"].as_array().expect("per-endpoint usage");
    assert_eq!(endpoints.len(), 3);
    for e in endpoints {
        assert!(e["requests"].as_u64().unwrap() > 0, "{e:#}");
    }
    assert!(endpoints[2]["drained"].as_u64().unwrap() >= 1, "{llm:#}");
    assert!(endpoints[2]["failures"].as_u64().unwrap() >= 1, "{llm:#}");
    let attempts: u64 = endpoints
        .iter()
        .map(|e| e["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(attempts, llm["attempts"].as_u64().unwrap());
    let rows = read_jsonl(&out.join("augmented.jsonl"));
    assert_eq!(
        synthetic(&rows).len(),
        6,
        "3 rows for each of the 2 techniques"
    );
    assert_accounted_once(&out, &rows);
    assert_eq!(
        journal_requests(&out).len() as u64,
        llm["requests"].as_u64().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_replays_across_a_changed_pool() {
    let a = replica(Duration::from_millis(10)).await;
    let b = replica(Duration::from_millis(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "");
    let out = dir.path().join("out");
    let (out2, cfg2) = (out.clone(), cfg.clone());
    let urls = vec![a.base_url(), b.base_url()];
    let first = tokio::task::spawn_blocking(move || run_pool(&out2, &cfg2, &urls, &[]))
        .await
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let rows_before = read_jsonl(&out.join("augmented.jsonl"));

    // A new pool: one old replica gone, a new one that counts what it is asked.
    let asked = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&asked);
    let c = FaultServer::start(move |_, body| {
        counted.fetch_add(1, Ordering::SeqCst);
        Reply::ok(&deterministic_answer(body))
    })
    .await;
    let urls = vec![a.base_url(), c.base_url()];
    let (out2, asked_a) = (out.clone(), a.requests());
    let again = tokio::task::spawn_blocking(move || run_pool(&out2, &cfg, &urls, &["--resume"]))
        .await
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(asked.load(Ordering::SeqCst), 0, "every answer was replayed");
    assert_eq!(a.requests(), asked_a);
    let rows_after = read_jsonl(&out.join("augmented.jsonl"));
    assert_eq!(rows_before, rows_after);
}

#[test]
fn a_pool_and_a_base_url_together_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(
        dir.path(),
        "[llm]\nbase_url = \"http://127.0.0.1:9/v1\"\n[[llm.endpoints]]\nbase_url = \"http://127.0.0.1:8/v1\"\nweight = 2.0\n",
    );
    let o = support::augment_cli::augment_cmd()
        .args(["--input", support::augment_cli::TINY, "--output"])
        .arg(dir.path().join("out"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not both"), "{err}");
}

/// A fake endpoint that counts what it is asked and answers deterministically.
async fn counting_replica() -> (FaultServer, Arc<AtomicUsize>) {
    let asked = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&asked);
    let server = FaultServer::start(move |_, body| {
        counted.fetch_add(1, Ordering::SeqCst);
        Reply::ok(&deterministic_answer(body))
    })
    .await;
    (server, asked)
}

/// `augment` into `out` with `config`, the model `model` and the endpoint flags `endpoint`
/// (`--base-url URL`, or none when the config names a pool).
fn run_moved(
    out: &Path,
    config: &Path,
    model: &str,
    endpoint: &[&str],
    extra: &[&str],
) -> std::process::Output {
    support::augment_cli::augment_cmd()
        .args(["--input", support::augment_cli::TINY, "--output"])
        .arg(out)
        .arg("--config")
        .arg(config)
        .args([
            "--source",
            "llm",
            "--model",
            model,
            "--sentences-per-request",
            "1",
        ])
        .args(["--target", "absolute:3"])
        .args(endpoint)
        .args(extra)
        .output()
        .unwrap()
}

/// The endpoint is not the run's identity: a journal written against one URL resumes against
/// another port serving the same model, and against the same URL given as a one-member pool,
/// asking nothing again; another model is refused.
#[tokio::test(flavor = "multi_thread")]
async fn resume_replays_after_the_endpoint_moved_and_refuses_another_model() {
    let (a, _) = counting_replica().await;
    let (b, asked_b) = counting_replica().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "");
    let pool_cfg = open_filters_config(
        &{
            let d = dir.path().join("pool");
            std::fs::create_dir_all(&d).unwrap();
            d
        },
        &format!("[[llm.endpoints]]\nbase_url = \"{}\"\n", b.base_url()),
    );
    let out = dir.path().join("out");
    let (url_a, url_b) = (a.base_url(), b.base_url());
    assert_ne!(url_a, url_b);
    let run = |cfg: std::path::PathBuf,
               model: &'static str,
               endpoint: Vec<String>,
               extra: Vec<&'static str>| {
        let out = out.clone();
        tokio::task::spawn_blocking(move || {
            let endpoint: Vec<&str> = endpoint.iter().map(String::as_str).collect();
            run_moved(&out, &cfg, model, &endpoint, &extra)
        })
    };
    let first = run(
        cfg.clone(),
        "fake",
        vec!["--base-url".into(), url_a.clone()],
        vec![],
    )
    .await
    .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(a.requests() > 0);
    let rows_before = read_jsonl(&out.join("augmented.jsonl"));

    // A resumed run that succeeded, asked nothing and wrote the same rows.
    let replayed = |o: &std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            asked_b.load(Ordering::SeqCst),
            0,
            "every answer was replayed"
        );
        assert_eq!(read_jsonl(&out.join("augmented.jsonl")), rows_before);
    };

    // Another port, same model: every answer replayed.
    let moved = run(
        cfg.clone(),
        "fake",
        vec!["--base-url".into(), url_b.clone()],
        vec!["--resume"],
    )
    .await
    .unwrap();
    replayed(&moved);

    // The same URL as a one-member pool.
    let pooled = run(pool_cfg, "fake", vec![], vec!["--resume"])
        .await
        .unwrap();
    replayed(&pooled);
    assert!(read_report(&out)["llm"]["replayed"].as_u64().unwrap() > 0);

    // Another model is another run.
    let other = run(
        cfg,
        "other-model",
        vec!["--base-url".into(), url_b],
        vec!["--resume"],
    )
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&other.stderr);
    assert_eq!(other.status.code(), Some(2), "{err}");
    assert!(err.contains("the configuration differs"), "{err}");
    assert_eq!(asked_b.load(Ordering::SeqCst), 0);
}
