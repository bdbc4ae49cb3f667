//! The real `LlmClient` against a fault-injecting OpenAI-compatible server.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::fault_server::{FaultServer, Reply};
use synthcti::llm::{ChatMessage, ChatRequest, LlmClient, LlmConfig, LlmError};
use tokio::task::JoinSet;

/// Fast backoff so the tests run in well under a second each (unless they test waits).
fn cfg() -> LlmConfig {
    LlmConfig {
        backoff_initial_ms: 10,
        backoff_max_ms: 40,
        max_retries: 3,
        timeout_secs: 5.0,
        concurrency: 4,
        ..LlmConfig::default()
    }
}

fn req(prompt: &str, seed: u64) -> ChatRequest {
    ChatRequest::new(
        vec![
            ChatMessage::system("You write sentences."),
            ChatMessage::user(prompt),
        ],
        seed,
    )
}

#[tokio::test]
async fn retries_after_5xx_then_succeeds() {
    let server = FaultServer::scripted(vec![
        Reply::status(500),
        Reply::status(503),
        Reply::ok("The actor dumped LSASS."),
    ])
    .await;
    let client = LlmClient::new(&cfg(), &server.base_url()).unwrap();
    let done = client.complete(&req("x", 1)).await.unwrap();
    assert_eq!(done.text, "The actor dumped LSASS.");
    assert_eq!(done.attempts, 3);
    assert_eq!(done.finish_reason.as_deref(), Some("stop"));
    assert_eq!((done.prompt_tokens, done.completion_tokens), (10, 5));
    assert_eq!(server.requests(), 3);
    let s = client.stats();
    assert_eq!((s.calls, s.requests, s.successes, s.failures), (1, 3, 1, 0));
    assert_eq!((s.retries, s.http_errors), (2, 2));
    assert_eq!((s.prompt_tokens, s.completion_tokens), (10, 5));
    assert!(s.request_secs > 0.0);
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let server = FaultServer::scripted(vec![
        Reply::RateLimited {
            retry_after: "1".into(),
        },
        Reply::ok("Fine."),
    ])
    .await;
    let client = LlmClient::new(&cfg(), &server.base_url()).unwrap();
    let t0 = Instant::now();
    let done = client.complete(&req("x", 2)).await.unwrap();
    let elapsed = t0.elapsed();
    assert!(elapsed >= Duration::from_secs(1), "waited only {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "waited {elapsed:?}");
    assert_eq!(done.attempts, 2);
    let s = client.stats();
    assert_eq!((s.rate_limited, s.retries, s.successes), (1, 1, 1));
}

#[tokio::test]
async fn rate_limit_exhausted_gives_up_with_rate_limited() {
    let server = FaultServer::start(|_, _| Reply::RateLimited {
        retry_after: "0".into(),
    })
    .await;
    let cfg = LlmConfig {
        max_retries: 2,
        ..cfg()
    };
    let client = LlmClient::new(&cfg, &server.base_url()).unwrap();
    let err = client.complete(&req("x", 3)).await.unwrap_err();
    match &err {
        LlmError::GaveUp { attempts: 3, last } => {
            assert!(
                matches!(**last, LlmError::RateLimited { retry_after: Some(d), .. } if d.is_zero())
            )
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(client.stats().rate_limited, 3);
}

#[tokio::test]
async fn garbage_is_retried_then_gives_up() {
    let server = FaultServer::start(|_, _| Reply::Garbage).await;
    let cfg = LlmConfig {
        max_retries: 2,
        ..cfg()
    };
    let client = LlmClient::new(&cfg, &server.base_url()).unwrap();
    let err = client.complete(&req("x", 4)).await.unwrap_err();
    match &err {
        LlmError::GaveUp { attempts, last } => {
            assert_eq!(*attempts, 3);
            assert!(
                matches!(**last, LlmError::InvalidResponse { .. }),
                "{last:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(server.requests(), 3);
    let s = client.stats();
    assert_eq!(
        (s.invalid_responses, s.failures, s.successes, s.retries),
        (3, 1, 0, 2)
    );
}

#[tokio::test]
async fn nonsense_json_is_invalid_and_retried() {
    let server = FaultServer::scripted(vec![Reply::Nonsense, Reply::ok("Good.")]).await;
    let client = LlmClient::new(&cfg(), &server.base_url()).unwrap();
    let done = client.complete(&req("x", 5)).await.unwrap();
    assert_eq!((done.text.as_str(), done.attempts), ("Good.", 2));
    assert_eq!(client.stats().invalid_responses, 1);
}

#[tokio::test]
async fn empty_content_is_invalid_and_retried() {
    let server = FaultServer::scripted(vec![Reply::ok("   "), Reply::ok("Good.")]).await;
    let client = LlmClient::new(&cfg(), &server.base_url()).unwrap();
    let done = client.complete(&req("x", 5)).await.unwrap();
    assert_eq!(done.attempts, 2);
    // Tokens of the unusable answer are still accounted (they were billed).
    assert_eq!(client.stats().completion_tokens, 10);
}

#[tokio::test]
async fn hang_times_out_within_the_timeout() {
    let server = FaultServer::start(|_, _| Reply::Hang).await;
    let cfg = LlmConfig {
        timeout_secs: 0.5,
        max_retries: 0,
        ..cfg()
    };
    let client = LlmClient::new(&cfg, &server.base_url()).unwrap();
    let t0 = Instant::now();
    let err = client.complete(&req("x", 6)).await.unwrap_err();
    let elapsed = t0.elapsed();
    assert!(matches!(err.root(), LlmError::Timeout(_)), "{err:?}");
    assert!(
        matches!(err, LlmError::GaveUp { attempts: 1, .. }),
        "{err:?}"
    );
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert_eq!(client.stats().timeouts, 1);
}

/// FAULT: a slow local server streams its answer one token every 0.3 s, 1.8 s in all — past
/// `timeout_secs` = 0.5 s — but never falls silent for 0.5 s: the local client times out on
/// silence, not on total time, so the request is answered once, not cut and sent again. The
/// same server silent for 1.2 s before a whole answer is timed out; a remote client (total
/// time) times out on the slow answer too.
#[tokio::test]
async fn a_slow_local_server_is_not_timed_out_while_it_generates() {
    let tokens: Vec<String> = ["The", " actor", " dumped", " LSASS", " memory", "."]
        .map(String::from)
        .to_vec();
    let cfg = LlmConfig {
        timeout_secs: 0.5,
        max_tokens: 8,
        max_retries: 2,
        ..cfg()
    };
    let streaming = tokens.clone();
    let server = FaultServer::start(move |_, _| Reply::Stream {
        tokens: streaming.clone(),
        gap: Duration::from_millis(300),
    })
    .await;
    let local = LlmClient::local_server(&cfg, &server.base_url()).unwrap();
    assert_eq!(local.attempt_timeout(), Duration::from_millis(500));
    let t0 = Instant::now();
    let done = local.complete(&req("x", 8)).await.unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(1800));
    assert_eq!(
        (done.text.as_str(), done.attempts),
        ("The actor dumped LSASS memory.", 1)
    );
    assert_eq!(
        (done.completion_tokens, done.finish_reason.as_deref()),
        (6, Some("stop"))
    );
    assert_eq!((server.requests(), local.stats().timeouts), (1, 0));
    // the wire body streams; the journal's body (`LlmClient::body`) does not
    assert_eq!(server.bodies()[0]["stream"], true);
    assert_eq!(local.body(&req("x", 8))["stream"], false);

    let slow = || Reply::Delay(Duration::from_millis(1200), Box::new(Reply::ok("Slow.")));
    let server = FaultServer::start(move |_, _| slow()).await;
    let silent = LlmClient::local_server(
        &LlmConfig {
            max_retries: 0,
            ..cfg.clone()
        },
        &server.base_url(),
    )
    .unwrap();
    let err = silent.complete(&req("x", 8)).await.unwrap_err();
    assert!(matches!(err.root(), LlmError::Timeout(_)), "{err:?}");

    let server = FaultServer::start(move |_, _| slow()).await;
    let remote = LlmClient::new(
        &LlmConfig {
            max_retries: 0,
            ..cfg
        },
        &server.base_url(),
    )
    .unwrap();
    let err = remote.complete(&req("x", 8)).await.unwrap_err();
    assert!(matches!(err.root(), LlmError::Timeout(_)), "{err:?}");
}

/// FAULT: a local stream that sends one token and then only keep-alive comments is stalled:
/// the comments do not reset the silence timeout, so the attempt times out after
/// `timeout_secs` without an event instead of waiting for the whole-attempt cap.
#[tokio::test]
async fn keep_alive_comments_do_not_keep_a_stalled_local_stream_alive() {
    let server = FaultServer::start(|_, _| Reply::Pings {
        token: "The".into(),
        every: Duration::from_millis(100),
    })
    .await;
    let cfg = LlmConfig {
        timeout_secs: 0.5,
        max_tokens: 80,
        max_retries: 0,
        ..cfg()
    };
    let client = LlmClient::local_server(&cfg, &server.base_url()).unwrap();
    let t0 = Instant::now();
    let err = client.complete(&req("x", 10)).await.unwrap_err();
    assert!(matches!(err.root(), LlmError::Timeout(_)), "{err:?}");
    // 0.5 s of silence (+ the 2 s grace before returning), far below the 41 s cap
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

/// FAULT: when a local attempt does time out, its connection is closed and the retry comes
/// only after `LOCAL_CANCEL_GRACE`: the server never holds two copies of the request.
#[tokio::test]
async fn a_timed_out_local_request_is_closed_before_its_retry() {
    let server = FaultServer::scripted(vec![Reply::Hang, Reply::ok("Back.")]).await;
    let cfg = LlmConfig {
        timeout_secs: 0.2,
        max_tokens: 1,
        ..cfg()
    };
    let client = LlmClient::local_server(&cfg, &server.base_url()).unwrap();
    let t0 = Instant::now();
    let done = client.complete(&req("x", 9)).await.unwrap();
    assert_eq!((done.text.as_str(), done.attempts), ("Back.", 2));
    assert!(t0.elapsed() >= Duration::from_millis(200) + synthcti::llm::LOCAL_CANCEL_GRACE);
    assert_eq!(server.requests(), 2);
    assert_eq!(
        server.max_in_flight(),
        1,
        "the hung request was still open at the retry"
    );
    assert_eq!(client.stats().timeouts, 1);
}

#[tokio::test]
async fn hang_then_success_is_retried() {
    let server = FaultServer::scripted(vec![Reply::Hang, Reply::ok("Back.")]).await;
    let cfg = LlmConfig {
        timeout_secs: 0.3,
        ..cfg()
    };
    let client = LlmClient::new(&cfg, &server.base_url()).unwrap();
    let done = client.complete(&req("x", 7)).await.unwrap();
    assert_eq!((done.text.as_str(), done.attempts), ("Back.", 2));
    assert_eq!(client.stats().timeouts, 1);
}

#[tokio::test]
async fn non_retryable_4xx_fails_at_once() {
    let server = FaultServer::start(|_, _| Reply::status(400)).await;
    let client = LlmClient::new(&cfg(), &server.base_url()).unwrap();
    let err = client.complete(&req("x", 8)).await.unwrap_err();
    match &err {
        LlmError::Http { status: 400, body } => assert!(body.contains("scripted 400"), "{body}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(server.requests(), 1);
    assert_eq!(client.stats().retries, 0);
}

#[tokio::test]
async fn truncation_is_reported() {
    let server = FaultServer::scripted(vec![Reply::Ok {
        text: "The actor used".into(),
        finish_reason: "length".into(),
    }])
    .await;
    let client = LlmClient::new(&cfg(), &server.base_url()).unwrap();
    let done = client.complete(&req("x", 9)).await.unwrap();
    assert!(done.truncated());
    assert_eq!(done.finish_reason.as_deref(), Some("length"));
    assert_eq!(client.stats().truncated, 1);
}

#[tokio::test]
async fn concurrency_bound_is_respected() {
    let server = FaultServer::start(|_, _| {
        Reply::Delay(Duration::from_millis(150), Box::new(Reply::ok("Ok.")))
    })
    .await;
    let cfg = LlmConfig {
        concurrency: 3,
        ..cfg()
    };
    let client = LlmClient::new(&cfg, &server.base_url()).unwrap();
    let mut set = JoinSet::new();
    for seed in 0..12 {
        let c = client.clone();
        set.spawn(async move { c.complete(&req("x", seed)).await });
    }
    let results = set.join_all().await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(server.requests(), 12);
    let max = server.max_in_flight();
    assert!((2..=3).contains(&max), "max in flight {max}");
    assert_eq!(client.stats().successes, 12);
}

#[tokio::test]
async fn one_failing_request_does_not_stop_the_batch() {
    // Requests whose prompt says FAIL always get 500; the others succeed.
    let server = FaultServer::start(|_, body| {
        if body.to_string().contains("FAIL") {
            Reply::status(500)
        } else {
            Reply::ok("Ok.")
        }
    })
    .await;
    let cfg = LlmConfig {
        max_retries: 1,
        ..cfg()
    };
    let client = LlmClient::new(&cfg, &server.base_url()).unwrap();
    let mut set = JoinSet::new();
    for i in 0..8u64 {
        let c = client.clone();
        let prompt = if i % 4 == 1 { "FAIL please" } else { "fine" };
        set.spawn(async move { (i, c.complete(&req(prompt, i)).await) });
    }
    let mut results = set.join_all().await;
    results.sort_by_key(|(i, _)| *i);
    for (i, r) in &results {
        if i % 4 == 1 {
            assert!(
                matches!(r, Err(LlmError::GaveUp { attempts: 2, .. })),
                "{i}: {r:?}"
            );
        } else {
            assert_eq!(r.as_ref().unwrap().text, "Ok.");
        }
    }
    let s = client.stats();
    assert_eq!((s.calls, s.successes, s.failures), (8, 6, 2));
    assert_eq!(s.requests, s.successes + s.retries + s.failures);
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = LlmConfig {
        max_retries: 1,
        ..cfg()
    };
    let client = LlmClient::new(&cfg, &format!("http://127.0.0.1:{port}/v1")).unwrap();
    let err = client.complete(&req("x", 10)).await.unwrap_err();
    assert!(matches!(err.root(), LlmError::Transport(_)), "{err:?}");
    assert_eq!(client.stats().transport_errors, 2);
}

#[tokio::test]
async fn request_carries_settings_and_key_never_leaks() {
    // A variable cargo sets for test runs stands in for the API key (tests must not set_var).
    let key_env = "CARGO_PKG_NAME";
    let key = std::env::var(key_env).unwrap_or_default();
    let server = FaultServer::scripted(vec![Reply::status(401)]).await;
    let mut cfg = LlmConfig {
        api_key_env: key_env.into(),
        model: "some-model".into(),
        temperature: 0.7,
        max_tokens: 33,
        ..cfg()
    };
    cfg.extra_body.insert("repeat_penalty".into(), json!(1.1));
    cfg.extra_body.insert("cache_prompt".into(), json!(false));
    let client = LlmClient::new(&cfg, &server.base_url()).unwrap();
    let mut r = req("Write one sentence.", 77);
    r.json_schema = Some(json!({"type": "object", "properties": {"sentence": {"type": "string"}}}));
    let err = client.complete(&r).await.unwrap_err();
    assert!(matches!(err, LlmError::Http { status: 401, .. }), "{err:?}");

    let body = &server.bodies()[0];
    assert_eq!(body["model"], "some-model");
    assert_eq!(body["seed"], 77);
    assert_eq!(body["max_tokens"], 33);
    assert_eq!(body["repeat_penalty"], 1.1);
    assert_eq!(body["cache_prompt"], false);
    assert_eq!(body["stream"], false);
    assert_eq!(body["messages"][1]["content"], "Write one sentence.");
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(
        body["response_format"]["json_schema"]["schema"]["properties"]["sentence"]["type"],
        "string"
    );
    assert_eq!(server.auth_headers()[0], format!("Bearer {key}"));
    if !key.is_empty() {
        assert!(!format!("{err} {err:?} {client:?}").contains(&key));
    }
}

#[tokio::test]
async fn bad_settings_are_rejected_before_any_request() {
    let err = LlmClient::new(
        &LlmConfig {
            concurrency: 0,
            ..cfg()
        },
        "http://127.0.0.1:1/v1",
    )
    .unwrap_err();
    assert!(
        matches!(&err, LlmError::Setting(e) if e.key == "llm.concurrency" && e.value == "0"),
        "{err:?}"
    );
    let err = LlmClient::new(&cfg(), "not a url").unwrap_err();
    assert!(matches!(
        err,
        LlmError::InvalidParam {
            param: "llm.base_url",
            ..
        }
    ));
}

#[tokio::test]
async fn errors_and_debug_output_do_not_carry_the_url_query() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = LlmConfig {
        max_retries: 0,
        ..cfg()
    };
    let url = format!("http://127.0.0.1:{port}/v1?api-key=sk-hidden-query");
    let client = LlmClient::new(&cfg, &url).unwrap();
    let err = client.complete(&req("x", 11)).await.unwrap_err();
    assert!(matches!(err.root(), LlmError::Transport(_)), "{err:?}");
    let shown = format!("{err} {err:?} {client:?}");
    assert!(!shown.contains("sk-hidden"), "{shown}");
    assert!(shown.contains("/v1?***"), "{shown}");
}
