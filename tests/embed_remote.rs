//! [`RemoteEmbedder`] against a fake OpenAI-compatible `/v1/embeddings` server written here
//! (hand-rolled HTTP/1.1 on tokio's `TcpListener`, one request per connection).
//!
//! The equality proofs answer with the REAL local model's vectors (all-MiniLM-L6-v2 and ONNX
//! Runtime from `$SYNTHCTI_HOME`, installed by `scripts/setup.sh`), in shuffled order: the
//! remote embedder must give the local model's vectors and, on `tests/fixtures/tiny_tram.json`,
//! the same clusters. The fault tests use small made-up vectors.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use ndarray::Array2;
use serde_json::{Value, json};
use synthcti::catalog::Catalog;
use synthcti::config::{Config, ValidConfig};
use synthcti::embed::{
    EmbedConfig, EmbedError, EmbedService, Embedder, FastEmbedder, ModelSource, RemoteConfig,
    RemoteEmbedder, RemoteError, open_embedder,
};
use synthcti::error_chain;
use synthcti::pipeline::{Prepared, load, prepare};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// CTI-like sentences of varied length.
const SENTENCES: &[&str] = &[
    "Block the domain.",
    "The malware dumps credentials from LSASS memory.",
    "APT29 used spearphishing emails with malicious attachments to gain initial access.",
    "It creates a scheduled task for persistence.",
    "The loader decrypts its payload with a hard-coded RC4 key and injects it into explorer.exe using process hollowing.",
    "Data is exfiltrated over HTTPS.",
    "PowerShell was used to download additional tools.",
    "The backdoor communicates with its C2 server over DNS TXT records, encoding each command in base64 and splitting long responses across several queries to evade network monitoring.",
    "Ransomware encrypted files on network shares.",
    "The actor cleared Windows event logs to remove traces.",
    "Mimikatz.",
    "The implant enumerates running processes and installed security products.",
    "Attackers abused valid VPN accounts obtained from a previous breach.",
    "A registry run key launches the dropper at every logon.",
    "Screenshots are captured every thirty seconds.",
    "Lateral movement was performed with PsExec and stolen administrator credentials.",
    "The webshell accepts commands in HTTP POST parameters.",
    "Keystrokes are logged to a hidden file.",
    "The trojan disables Windows Defender real-time protection.",
    "Archived data is staged in a temporary directory before exfiltration.",
    "The sample checks for virtual machine artifacts and exits if it finds any.",
    "Credentials were harvested from browser password stores.",
];

/// A variable cargo sets for test runs stands in for the API key (tests must not set_var).
const KEY_ENV: &str = "CARGO_PKG_NAME";

// ---------------------------------------------------------------------------------------
// The fake endpoint

/// What the fake endpoint does with one request.
#[derive(Debug, Clone)]
enum Reply {
    /// 200 with this body.
    Json(String),
    /// Any status with a body and extra headers.
    Status(u16, String, Vec<(&'static str, String)>),
    /// 200 claiming a `Content-Length` of 100 MB, then a few bytes and silence.
    ClaimsHuge,
    /// 200 without `Content-Length`, streaming up to 100 MB until the client hangs up.
    Endless,
    /// 200 whose body stops halfway (`Content-Length` promises more), then closes.
    Truncated,
    /// Never answers; holds the connection until the client closes it.
    Hang,
    /// Waits, then replies.
    Delay(Duration, Box<Reply>),
}

type Script = dyn Fn(usize, &[String]) -> Reply + Send + Sync;

#[derive(Default)]
struct Counters {
    received: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
    auth: Mutex<Vec<String>>,
}

/// A fake `/v1/embeddings` server on 127.0.0.1:0, on its own runtime; stops when dropped.
struct FakeEndpoint {
    port: u16,
    counters: Arc<Counters>,
    _rt: tokio::runtime::Runtime,
}

impl FakeEndpoint {
    /// Replies to request `n` (0-based, arrival order) with input texts `texts` by
    /// `script(n, texts)`.
    fn start(script: impl Fn(usize, &[String]) -> Reply + Send + Sync + 'static) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let counters = Arc::new(Counters::default());
        let script: Arc<Script> = Arc::new(script);
        let shared = Arc::clone(&counters);
        rt.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (shared, script) = (Arc::clone(&shared), Arc::clone(&script));
                tokio::spawn(async move {
                    let _ = serve(stream, shared, script).await;
                });
            }
        });
        FakeEndpoint {
            port,
            counters,
            _rt: rt,
        }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> usize {
        self.counters.received.load(Ordering::SeqCst)
    }

    fn max_in_flight(&self) -> usize {
        self.counters.max_in_flight.load(Ordering::SeqCst)
    }

    fn bodies(&self) -> Vec<Value> {
        self.counters.bodies.lock().unwrap().clone()
    }

    fn auth_headers(&self) -> Vec<String> {
        self.counters.auth.lock().unwrap().clone()
    }
}

/// Reads one request (head, then `Content-Length` bytes) and replies as the script says.
async fn serve(
    mut stream: TcpStream,
    sh: Arc<Counters>,
    script: Arc<Script>,
) -> std::io::Result<()> {
    let Some(request) = support::http::read_request(&mut stream).await? else {
        return Ok(());
    };
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let texts: Vec<String> = body["input"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    let n = sh.received.fetch_add(1, Ordering::SeqCst);
    sh.bodies.lock().unwrap().push(body);
    sh.auth.lock().unwrap().push(
        request
            .header("authorization")
            .unwrap_or_default()
            .to_string(),
    );
    let now = sh.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    sh.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let result = reply(&mut stream, script(n, &texts)).await;
    sh.in_flight.fetch_sub(1, Ordering::SeqCst);
    result
}

async fn reply(stream: &mut TcpStream, mut r: Reply) -> std::io::Result<()> {
    while let Reply::Delay(d, inner) = r {
        tokio::time::sleep(d).await;
        r = *inner;
    }
    let head = |status: u16, length: Option<usize>, extra: &[(&str, String)]| {
        let mut out = format!(
            "HTTP/1.1 {status} Fake\r\nContent-Type: application/json\r\nConnection: close\r\n"
        );
        if let Some(n) = length {
            out.push_str(&format!("Content-Length: {n}\r\n"));
        }
        for (k, v) in extra {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out + "\r\n"
    };
    match r {
        Reply::Json(body) => {
            stream
                .write_all(head(200, Some(body.len()), &[]).as_bytes())
                .await?;
            stream.write_all(body.as_bytes()).await?;
        }
        Reply::Status(status, body, extra) => {
            stream
                .write_all(head(status, Some(body.len()), &extra).as_bytes())
                .await?;
            stream.write_all(body.as_bytes()).await?;
        }
        Reply::ClaimsHuge => {
            stream
                .write_all(head(200, Some(100 << 20), &[]).as_bytes())
                .await?;
            stream.write_all(b"{\"data\": [").await?;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Reply::Endless => {
            stream.write_all(head(200, None, &[]).as_bytes()).await?;
            stream
                .write_all(b"{\"data\": [{\"index\": 0, \"embedding\": [")
                .await?;
            let block = "0.125, ".repeat(64 << 10 >> 3);
            for _ in 0..(100 << 20) / block.len() {
                stream.write_all(block.as_bytes()).await?;
            }
        }
        Reply::Truncated => {
            stream
                .write_all(head(200, Some(400), &[]).as_bytes())
                .await?;
            stream
                .write_all(b"{\"data\": [{\"index\": 0, \"embe")
                .await?;
        }
        Reply::Hang => {
            let mut sink = [0u8; 256];
            while stream.read(&mut sink).await.map(|n| n > 0).unwrap_or(false) {}
            return Ok(());
        }
        Reply::Delay(..) => unreachable!("unwrapped above"),
    }
    stream.shutdown().await
}

/// An embeddings answer for `texts` with `vector(text)` as each embedding, the items in
/// reversed and rotated order (so that only their `index` tells which is which).
fn answer(texts: &[String], vector: impl Fn(&str) -> Vec<f32>) -> String {
    let mut items: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector(t)}))
        .collect();
    items.reverse();
    if items.len() > 2 {
        items.rotate_left(1);
    }
    json!({"object": "list", "model": "fake", "data": items, "usage": {"prompt_tokens": 1, "total_tokens": 1}})
        .to_string()
}

/// A made-up 3-d vector (not normalised, to prove the embedder normalises).
fn toy_vector(text: &str) -> Vec<f32> {
    let sum: u32 = text.bytes().map(u32::from).sum();
    vec![text.len() as f32, (sum % 97) as f32 + 1.0, 2.0]
}

/// The toy vectors of `texts`, normalised.
fn toy_rows(texts: &[&str]) -> Array2<f32> {
    let mut out = Array2::zeros((texts.len(), 3));
    for (i, t) in texts.iter().enumerate() {
        let v = toy_vector(t);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        for (j, x) in v.iter().enumerate() {
            out[[i, j]] = x / norm;
        }
    }
    out
}

/// A fake endpoint answering every request with toy vectors.
fn toy_server() -> FakeEndpoint {
    FakeEndpoint::start(|_, texts| Reply::Json(answer(texts, toy_vector)))
}

/// Settings for `server` with quick timeouts.
fn remote_cfg(server: &FakeEndpoint) -> RemoteConfig {
    RemoteConfig {
        api_key_env: KEY_ENV.into(),
        timeout_secs: 5,
        max_retries: 2,
        ..RemoteConfig::new(server.base_url(), "test-model")
    }
}

// ---------------------------------------------------------------------------------------
// The real local model

/// The local model, shared by the tests of this binary (ONNX Runtime loads once).
fn local() -> MutexGuard<'static, FastEmbedder> {
    static LOCAL: OnceLock<Mutex<FastEmbedder>> = OnceLock::new();
    LOCAL
        .get_or_init(|| {
            let cfg = EmbedConfig {
                progress: false,
                cache: false,
                ..EmbedConfig::default()
            };
            Mutex::new(FastEmbedder::new(&cfg).expect("load the model (run scripts/setup.sh)"))
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Vectors the local model gave, by text: what the fake endpoint answers with.
fn reference() -> MutexGuard<'static, HashMap<String, Vec<f32>>> {
    static REFERENCE: OnceLock<Mutex<HashMap<String, Vec<f32>>>> = OnceLock::new();
    REFERENCE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Embeds `texts` with the local model in one call and records the rows for the server.
fn local_rows(texts: &[&str]) -> Array2<f32> {
    let rows = local().embed(texts).expect("local embed");
    let mut map = reference();
    for (t, row) in texts.iter().zip(rows.rows()) {
        map.insert(t.to_string(), row.to_vec());
    }
    rows
}

/// The local model's vector of `text`: the recorded one, else computed now.
fn real_vector(text: &str) -> Vec<f32> {
    if let Some(v) = reference().get(text) {
        return v.clone();
    }
    local().embed(&[text]).expect("local embed").row(0).to_vec()
}

/// A fake endpoint answering with the real model's vectors after `delay`.
fn real_server(delay: Duration) -> FakeEndpoint {
    FakeEndpoint::start(move |_, texts| {
        Reply::Delay(delay, Box::new(Reply::Json(answer(texts, real_vector))))
    })
}

/// The local model as an [`Embedder`] that can move to an [`EmbedService`] thread.
struct SharedLocal(String, usize);

impl Embedder for SharedLocal {
    fn model_id(&self) -> &str {
        &self.0
    }
    fn dim(&self) -> usize {
        self.1
    }
    fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
        local().embed(texts)
    }
}

fn max_abs_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    (a - b).iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

// ---------------------------------------------------------------------------------------
// Equality with the local model

#[test]
fn remote_vectors_equal_the_local_model_vectors() {
    let want = local_rows(SENTENCES);
    let server = real_server(Duration::from_millis(40));
    let cfg = RemoteConfig {
        batch_size: 5,
        concurrency: 3,
        ..remote_cfg(&server)
    };
    let mut remote = RemoteEmbedder::new(&cfg).expect("remote embedder");
    assert_eq!((remote.model_id(), remote.dim()), ("remote:test-model", 0));
    let got = remote.embed(SENTENCES).expect("remote embed");
    assert_eq!(remote.dim(), 384);
    let diff = max_abs_diff(&got, &want);
    assert!(
        diff < 1e-5,
        "remote vectors differ from local ones by {diff}"
    );

    // 22 sentences in batches of 5, at most 3 in flight (and more than one).
    assert_eq!(server.requests(), 5);
    assert!(
        (2..=3).contains(&server.max_in_flight()),
        "{}",
        server.max_in_flight()
    );
    let mut sent = BTreeSet::new();
    for body in server.bodies() {
        assert_eq!(body["model"], "test-model");
        let input = body["input"].as_array().expect("input array");
        assert!(input.len() <= 5);
        sent.extend(input.iter().map(|t| t.as_str().unwrap().to_string()));
    }
    assert_eq!(sent, SENTENCES.iter().map(|s| s.to_string()).collect());
    let key = std::env::var(KEY_ENV).expect("cargo sets CARGO_PKG_NAME");
    assert!(
        server
            .auth_headers()
            .iter()
            .all(|h| *h == format!("Bearer {key}"))
    );
}

/// Embeds and clusters the tiny fixture, every technique, with `embedder`.
fn prepare_tiny(cfg: &ValidConfig, embedder: Box<dyn Embedder>) -> Prepared {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_tram.json");
    let (ds, _) = load(&path, cfg, Catalog::bundled()).expect("read the fixture");
    let only: BTreeSet<String> = ds.samples.iter().map(|s| s.label.to_string()).collect();
    let only: Vec<String> = only.into_iter().collect();
    let service = EmbedService::spawn(embedder).expect("embedding thread");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(prepare(&ds.samples, &ds.path, cfg, &only, &service))
        .expect("prepare")
}

#[test]
fn clusters_are_identical_with_the_remote_and_the_local_embedder() {
    let mut config = Config::default();
    config.embed.cache = false;
    config.embed.progress = false;
    let cfg = config.validate().expect("valid config");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_tram.json");
    let (ds, _) = load(&path, &cfg, Catalog::bundled()).expect("read the fixture");
    let texts: Vec<&str> = ds.samples.iter().map(|s| s.text.as_str()).collect();
    // The server answers with exactly what the local model gives for this call.
    local_rows(&texts);
    let (id, dim) = {
        let l = local();
        (l.model_id().to_string(), l.dim())
    };
    let local_prep = prepare_tiny(&cfg, Box::new(SharedLocal(id, dim)));

    let server = real_server(Duration::ZERO);
    let remote = EmbedConfig {
        model: ModelSource::Remote(RemoteConfig {
            batch_size: 7,
            ..remote_cfg(&server)
        }),
        cache: false,
        ..cfg.embed.clone()
    };
    let remote_prep = prepare_tiny(&cfg, open_embedder(&remote).expect("open remote"));
    assert!(server.requests() > 1);

    let diff = max_abs_diff(&local_prep.embeddings, &remote_prep.embeddings);
    assert!(diff < 1e-5, "embeddings differ by {diff}");
    assert_eq!(local_prep.clusters.len(), 4);
    assert!(local_prep.clusters.iter().any(|tc| tc.clusters.len() > 1));
    for (l, r) in local_prep.clusters.iter().zip(&remote_prep.clusters) {
        assert_eq!((&l.technique, l.size), (&r.technique, r.size));
        assert_eq!(l.clusters.len(), r.clusters.len(), "{}", l.technique);
        for (a, b) in l.clusters.iter().zip(&r.clusters) {
            assert_eq!(a.members, b.members, "{}", l.technique);
            assert_eq!((&a.central, &a.diverse), (&b.central, &b.diverse));
        }
        let (ls, rs) = (l.silhouette.unwrap_or(0.0), r.silhouette.unwrap_or(0.0));
        assert!((ls - rs).abs() < 1e-4, "{}: {ls} vs {rs}", l.technique);
    }
}

// ---------------------------------------------------------------------------------------
// Faults

/// The error of embedding `texts` on `server` with `cfg`, and how long it took.
fn failure(cfg: &RemoteConfig, texts: &[&str]) -> (EmbedError, Duration) {
    let mut remote = RemoteEmbedder::new(cfg).expect("remote embedder");
    let start = Instant::now();
    let err = remote.embed(texts).expect_err("must fail");
    (err, start.elapsed())
}

/// The [`RemoteError`] under an [`EmbedError::Remote`] (the last attempt's, after retries).
fn remote_root(err: &EmbedError) -> &RemoteError {
    match err {
        EmbedError::Remote { source, .. } => source.root(),
        other => panic!("not a remote error: {other:?}"),
    }
}

#[test]
fn a_500_is_retried_then_succeeds() {
    let server = FakeEndpoint::start(|n, texts| match n {
        0 => Reply::Status(500, r#"{"error":"overloaded"}"#.into(), vec![]),
        _ => Reply::Json(answer(texts, toy_vector)),
    });
    let mut remote = RemoteEmbedder::new(&remote_cfg(&server)).unwrap();
    let start = Instant::now();
    let got = remote.embed(&["a", "bb", "ccc"]).expect("retried");
    assert!(max_abs_diff(&got, &toy_rows(&["a", "bb", "ccc"])) < 1e-6);
    assert_eq!(server.requests(), 2);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_429_waits_for_retry_after() {
    let server = FakeEndpoint::start(|n, texts| match n {
        0 => Reply::Status(429, "slow down".into(), vec![("Retry-After", "2".into())]),
        _ => Reply::Json(answer(texts, toy_vector)),
    });
    let mut remote = RemoteEmbedder::new(&remote_cfg(&server)).unwrap();
    let start = Instant::now();
    remote.embed(&["x", "y"]).expect("retried after the wait");
    let waited = start.elapsed();
    assert_eq!(server.requests(), 2);
    // The backoff alone waits at most 1 s before the first retry.
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    assert!(waited < Duration::from_secs(6), "{waited:?}");
}

#[test]
fn a_400_fails_at_once_and_names_the_host() {
    let server = FakeEndpoint::start(|_, _| {
        Reply::Status(400, r#"{"error":"input too long"}"#.into(), vec![])
    });
    let cfg = RemoteConfig {
        max_retries: 5,
        ..remote_cfg(&server)
    };
    let (err, took) = failure(&cfg, &["x"]);
    assert_eq!(server.requests(), 1, "a 400 is not retried");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(
        matches!(remote_root(&err), RemoteError::Http { status: 400, .. }),
        "{err:?}"
    );
    let text = error_chain(&err);
    assert!(text.contains(&server.host()), "{text}");
    assert!(
        text.contains("HTTP 400") && text.contains("input too long"),
        "{text}"
    );
    let key = std::env::var(KEY_ENV).unwrap();
    assert!(!text.contains(&format!("Bearer {key}")), "{text}");
    assert!(!format!("{err:?}").contains(&format!("Bearer {key}")));
}

#[test]
fn garbage_json_is_a_clear_error() {
    let server = FakeEndpoint::start(|_, _| Reply::Json("<html>\u{1} not json".into()));
    let (err, _) = failure(&remote_cfg(&server), &["x"]);
    assert!(
        matches!(remote_root(&err), RemoteError::InvalidAnswer(_)),
        "{err:?}"
    );
    let text = error_chain(&err);
    assert!(
        text.contains("not an embeddings answer") && text.contains(&server.host()),
        "{text}"
    );
    assert_eq!(server.requests(), 1, "an invalid answer is not retried");
}

#[test]
fn a_wrong_vector_count_is_a_clear_error() {
    let server = FakeEndpoint::start(|_, texts| Reply::Json(answer(&texts[1..], toy_vector)));
    let (err, _) = failure(&remote_cfg(&server), &["a", "b", "c"]);
    let text = error_chain(&err);
    assert!(text.contains("2 vectors for 3 sentences"), "{text}");
}

#[test]
fn nan_and_overflowing_values_are_clear_errors() {
    for (body, want) in [
        (
            r#"{"data":[{"index":0,"embedding":[NaN,1.0]}]}"#,
            "not an embeddings answer",
        ),
        (
            r#"{"data":[{"index":0,"embedding":[1e39,1.0]}]}"#,
            "non-finite",
        ),
        (
            r#"{"data":[{"index":0,"embedding":[null,1.0]}]}"#,
            "not an embeddings answer",
        ),
    ] {
        let server = FakeEndpoint::start(move |_, _| Reply::Json(body.into()));
        let (err, _) = failure(&remote_cfg(&server), &["x"]);
        let text = error_chain(&err);
        assert!(text.contains(want), "{body}: {text}");
    }
}

#[test]
fn hostile_answers_are_clear_errors_without_panics() {
    let data = |items: &str| format!(r#"{{"object":"list","data":[{items}]}}"#);
    let cases: Vec<(Reply, &str)> = vec![
        (
            Reply::Json(r#"{"object":"list"}"#.into()),
            "missing field `data`",
        ),
        (Reply::Json(data("")), "0 vectors for 2 sentences"),
        (
            Reply::Json(data(
                r#"{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1,2,3]}"#,
            )),
            "length 3 instead of 2",
        ),
        (
            Reply::Json(data(
                r#"{"index":1,"embedding":[1,2]},{"index":1,"embedding":[1,2]}"#,
            )),
            "index 1 given twice",
        ),
        (
            Reply::Json(data(
                r#"{"index":0,"embedding":[1,2]},{"index":9,"embedding":[1,2]}"#,
            )),
            "index 9 out of range",
        ),
        (
            Reply::Json(data(
                r#"{"index":0,"embedding":[0,0]},{"index":1,"embedding":[1,2]}"#,
            )),
            "cannot normalise",
        ),
        (
            Reply::Json(data(
                r#"{"index":0,"embedding":[]},{"index":1,"embedding":[]}"#,
            )),
            "length 0",
        ),
        (Reply::ClaimsHuge, "answer larger than"),
        (Reply::Endless, "answer larger than"),
        (Reply::Truncated, "transport error"),
    ];
    for (reply, want) in cases {
        let shown = format!("{reply:?}");
        let server = FakeEndpoint::start(move |_, _| reply.clone());
        let cfg = RemoteConfig {
            max_retries: 1,
            ..remote_cfg(&server)
        };
        let (err, took) = failure(&cfg, &["one", "two"]);
        let text = error_chain(&err);
        assert!(text.contains(want), "{shown}: {text}");
        assert!(text.contains(&server.host()), "{shown}: {text}");
        assert!(took < Duration::from_secs(5), "{shown}: {took:?}");
    }
}

#[test]
fn a_server_that_never_answers_times_out() {
    let server = FakeEndpoint::start(|_, _| Reply::Hang);
    let cfg = RemoteConfig {
        timeout_secs: 1,
        max_retries: 1,
        ..remote_cfg(&server)
    };
    let (err, took) = failure(&cfg, &["x"]);
    assert!(
        matches!(remote_root(&err), RemoteError::Timeout(_)),
        "{err:?}"
    );
    let text = error_chain(&err);
    assert!(
        text.contains("gave up after 2 attempts") && text.contains("no answer within 1 s"),
        "{text}"
    );
    assert_eq!(server.requests(), 2);
    assert!(took < Duration::from_secs(6), "{took:?}");
}

#[test]
fn an_unreachable_endpoint_is_a_transport_error() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = RemoteConfig {
        max_retries: 1,
        api_key_env: KEY_ENV.into(),
        ..RemoteConfig::new(format!("http://127.0.0.1:{port}/v1"), "m")
    };
    let (err, took) = failure(&cfg, &["x"]);
    assert!(
        matches!(remote_root(&err), RemoteError::Transport(_)),
        "{err:?}"
    );
    assert!(error_chain(&err).contains(&format!("127.0.0.1:{port}")));
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn bad_settings_are_refused_naming_the_field() {
    let base = RemoteConfig::new("http://127.0.0.1:9/v1", "m");
    for (cfg, field) in [
        (
            RemoteConfig {
                batch_size: 0,
                ..base.clone()
            },
            "embed.model.remote.batch_size",
        ),
        (
            RemoteConfig {
                concurrency: 1000,
                ..base.clone()
            },
            "embed.model.remote.concurrency",
        ),
        (
            RemoteConfig {
                base_url: "http://user:hunter2@h/v1".into(),
                ..base.clone()
            },
            "embed.model.remote.base_url",
        ),
        (
            RemoteConfig {
                base_url: "file:///etc".into(),
                ..base.clone()
            },
            "embed.model.remote.base_url",
        ),
    ] {
        let embed = EmbedConfig {
            model: ModelSource::Remote(cfg),
            ..EmbedConfig::default()
        };
        let err = open_embedder(&embed).map(|_| ()).expect_err("refused");
        let text = error_chain(&err);
        assert!(text.contains(field) && !text.contains("hunter2"), "{text}");
    }
}

// ---------------------------------------------------------------------------------------
// Cache and runtime context

#[test]
fn the_cache_serves_a_second_run_without_requests() {
    let server = toy_server();
    let dir = tempfile::tempdir().unwrap();
    let cfg = EmbedConfig {
        model: ModelSource::Remote(remote_cfg(&server)),
        cache_dir: Some(dir.path().to_path_buf()),
        progress: false,
        ..EmbedConfig::default()
    };
    let texts = ["alpha", "beta", "gamma", "beta"];

    let mut first = open_embedder(&cfg).expect("open");
    assert_eq!(server.requests(), 1, "one probe to learn the vector length");
    assert_eq!((first.model_id(), first.dim()), ("remote:test-model", 3));
    let a = first.embed(&texts).expect("embed");
    assert_eq!(server.requests(), 2);
    assert!(max_abs_diff(&a, &toy_rows(&texts)) < 1e-6);
    drop(first);
    assert!(dir.path().join("remote_test-model.bin").is_file());

    let mut second = open_embedder(&cfg).expect("reopen");
    assert_eq!(second.dim(), 3, "length read from the cache file");
    let b = second.embed(&texts).expect("embed again");
    assert_eq!(
        server.requests(),
        2,
        "the second run asks the endpoint nothing"
    );
    assert_eq!(a, b);
    let stats = second.cache_stats().expect("cached");
    assert_eq!((stats.hits, stats.misses), (4, 0));

    second.embed(&["delta"]).expect("a new sentence");
    assert_eq!(server.requests(), 3);
}

#[test]
fn embedding_from_async_code_does_not_panic() {
    let server = toy_server();
    let mut remote = RemoteEmbedder::new(&remote_cfg(&server)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let got = rt.block_on(async move {
        let got = remote.embed(&["inside", "a runtime"]);
        drop(remote);
        got
    });
    assert!(max_abs_diff(&got.expect("embed"), &toy_rows(&["inside", "a runtime"])) < 1e-6);
}
