//! Faults at scale: over a thousand requests through the real client, and a thousand-request
//! `augment` run, against a seeded random mix of 500s, 429s with and without `Retry-After`,
//! garbage bodies, empty `choices`, cut bodies and hangs past the timeout. Every request and
//! every attempt is accounted for, and the run's exit code says what happened.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::Value;
use support::augment_cli::{
    augment_llm, deterministic_answer, open_filters_config, read_jsonl, read_report, synthetic,
};
use support::fault_server::{FaultServer, Reply};
use synthcti::llm::{ChatMessage, ChatRequest, LlmClient, LlmConfig};
use tokio::task::JoinSet;

/// The fault of one reply; `Ok` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Ok,
    Status500,
    RateLimitedAfter,
    RateLimitedBare,
    Garbage,
    EmptyChoices,
    Truncated,
    Hang,
}

/// A seeded mix: about 55 % answers, the rest spread over the faults.
fn mix(seed: u64, n: usize) -> Arc<Vec<Fault>> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let faults = [
        (Fault::Status500, 10),
        (Fault::RateLimitedAfter, 7),
        (Fault::RateLimitedBare, 6),
        (Fault::Garbage, 6),
        (Fault::EmptyChoices, 6),
        (Fault::Truncated, 6),
        (Fault::Hang, 4),
    ];
    Arc::new(
        (0..n)
            .map(|_| {
                let mut x = rng.gen_range(0..100);
                for (f, share) in faults {
                    if x < share {
                        return f;
                    }
                    x -= share;
                }
                Fault::Ok
            })
            .collect(),
    )
}

fn reply(fault: Fault, body: &Value) -> Reply {
    match fault {
        Fault::Ok => Reply::ok(&deterministic_answer(body)),
        Fault::Status500 => Reply::status(500),
        Fault::RateLimitedAfter => Reply::RateLimited {
            retry_after: "0".into(),
        },
        Fault::RateLimitedBare => Reply::Status {
            status: 429,
            body: "{\"error\":{\"message\":\"slow down\"}}".into(),
            headers: Vec::new(),
        },
        Fault::Garbage => Reply::Garbage,
        Fault::EmptyChoices => Reply::EmptyChoices,
        Fault::Truncated => Reply::Truncated,
        Fault::Hang => Reply::Hang,
    }
}

/// Replies by the mix, or always answers once `healthy` is set.
async fn mixed_server(faults: Arc<Vec<Fault>>, healthy: Arc<AtomicBool>) -> FaultServer {
    FaultServer::start(move |n, body| {
        let fault = match healthy.load(Ordering::SeqCst) {
            true => Fault::Ok,
            false => faults.get(n).copied().unwrap_or(Fault::Ok),
        };
        reply(fault, body)
    })
    .await
}

/// How many of the first `n` replies were of each fault.
fn served(faults: &[Fault], n: usize) -> BTreeMap<Fault, u64> {
    let mut out = BTreeMap::new();
    for f in &faults[..n] {
        *out.entry(*f).or_default() += 1;
    }
    out
}

fn fast_client_config() -> LlmConfig {
    LlmConfig {
        timeout_secs: 0.25,
        backoff_initial_ms: 0,
        backoff_max_ms: 2,
        max_retries: 3,
        concurrency: 16,
        ..LlmConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_through_the_client_are_all_accounted_for() {
    const CALLS: u64 = 1200;
    let faults = mix(11, 20_000);
    let server = mixed_server(Arc::clone(&faults), Arc::default()).await;
    let client = LlmClient::new(&fast_client_config(), &server.base_url()).unwrap();
    let t = Instant::now();
    let mut set = JoinSet::new();
    for seed in 0..CALLS {
        let c = client.clone();
        set.spawn(async move {
            let req = ChatRequest::new(vec![ChatMessage::user(format!("sentence {seed}"))], seed);
            c.complete(&req).await
        });
    }
    let results = set.join_all().await;
    let elapsed = t.elapsed();
    let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
    let s = client.stats();
    let sent = server.requests();
    let by = served(&faults, sent);
    let n = |f| by.get(&f).copied().unwrap_or(0);
    eprintln!("soak: {CALLS} calls, {sent} attempts, {ok} answered in {elapsed:?}; served {by:?}");

    // Requests: every call ends as one answer or one failure.
    assert_eq!(s.calls, CALLS);
    assert_eq!((s.successes, s.failures), (ok, CALLS - ok));
    // Attempts: every one the server saw is an answer, a retry or a final failure...
    assert_eq!(s.requests, sent as u64);
    assert_eq!(s.requests, s.successes + s.retries + s.failures);
    // ...and every fault it served is counted under its own kind.
    assert_eq!(s.successes, n(Fault::Ok));
    assert_eq!(s.http_errors, n(Fault::Status500));
    assert_eq!(
        s.rate_limited,
        n(Fault::RateLimitedAfter) + n(Fault::RateLimitedBare)
    );
    assert_eq!(
        s.invalid_responses,
        n(Fault::Garbage) + n(Fault::EmptyChoices)
    );
    assert_eq!(s.transport_errors, n(Fault::Truncated));
    assert_eq!(s.timeouts, n(Fault::Hang));
    assert!(sent >= 1000, "{sent} attempts");
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_request_run_accounts_for_every_request_and_resumes() {
    let faults = mix(7, 50_000);
    let healthy = Arc::new(AtomicBool::new(false));
    let server = mixed_server(Arc::clone(&faults), Arc::clone(&healthy)).await;
    let dir = tempfile::tempdir().unwrap();
    // Budget = need: a request given up leaves a row missing.
    let cfg = open_filters_config(
        dir.path(),
        "[generate]\noverask = 1.0\nmax_requests_factor = 1.0\n\
         [llm]\ntimeout_secs = 0.25\nbackoff_initial_ms = 0\nbackoff_max_ms = 2\nconcurrency = 16\nmax_retries = 2\n",
    );
    let out = dir.path().join("out");
    let args = ["--target", "absolute:500"];
    let t = Instant::now();
    let o = {
        let mut cmd = augment_llm(&out, &cfg, &server.base_url(), &args);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    };
    let elapsed = t.elapsed();
    let report = read_report(&out);
    let llm = &report["llm"];
    let get = |v: &Value| v.as_u64().unwrap();
    let (asked, answered, failed) = (
        get(&llm["requests"]),
        get(&llm["answered"]),
        get(&llm["failed"]),
    );
    eprintln!(
        "soak run: {asked} requests, {answered} answered, {failed} given up, {} attempts in {elapsed:?}",
        llm["attempts"]
    );
    assert_eq!(asked, 1000, "every needed request asked once");
    assert_eq!(asked, answered + failed);
    assert_eq!(get(&llm["not_sent"]), 0);
    let by_kind: u64 = llm["failed_by"]
        .as_object()
        .unwrap()
        .values()
        .map(get)
        .sum();
    assert_eq!(by_kind, failed);
    assert_eq!(get(&llm["attempts"]), server.requests() as u64);
    // Candidates: one per answer, each accepted or rejected with a reason.
    let rejected: u64 = report["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(get)
        .sum();
    assert_eq!(get(&report["candidates"]), answered);
    assert_eq!(get(&report["accepted"]) + rejected, answered);
    // The mix gives up on a few percent of requests: rows are missing, the exit code says so.
    assert!(failed > 0, "the mix should exhaust some retries");
    let outcome = &report["outcome"];
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(outcome["reason"]["kind"], "requests-failed");
    assert_eq!(
        get(&outcome["missing_rows"]),
        1000 - get(&report["accepted"])
    );

    // Resume once the endpoint is healthy: only the failed requests are asked again.
    healthy.store(true, Ordering::SeqCst);
    let before = server.requests() as u64;
    let o = {
        let mut cmd = augment_llm(
            &out,
            &cfg,
            &server.base_url(),
            &[&args[..], &["--resume"]].concat(),
        );
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(server.requests() as u64 - before, failed);
    let rows = read_jsonl(&out.join("augmented.jsonl"));
    assert_eq!(synthetic(&rows).len(), 1000);
    assert_eq!(read_report(&out)["outcome"]["status"], "complete");
}
