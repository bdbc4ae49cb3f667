//! The OpenAI-compatible chat client: async-openai for the call, our own retry loop.
//!
//! async-openai's default client retries 429/5xx by itself (3 times, 100 ms doubling, its own
//! `Retry-After` handling) and does not expose response headers or the HTTP status of a
//! non-JSON 429. We therefore install our own tower service under it
//! (`Client::with_http_service`, feature `middleware`): it sends the request with reqwest and
//! turns every non-2xx answer into an [`LlmError`] carrying the status, `Retry-After` and a
//! body excerpt (passed up through `OpenAIError::Boxed`). That replaces async-openai's
//! internal retry layer, so exactly one retry loop runs: ours, built on `backon` (exponential
//! backoff with seeded jitter, `Retry-After` as a floor via `adjust`), plus a per-attempt
//! timeout and a semaphore around each attempt.
//!
//! Against the bundled local llama-server ([`LlmClient::local_server`]) each attempt is
//! streamed ([`super::stream`]) and times out on silence — `timeout_secs` without a token —
//! rather than on total time, so a request that is still generating on a shared CPU is not
//! cut and sent again. When an attempt does time out, its HTTP future is dropped first —
//! reqwest closes the connection, and llama-server cancels a task whose connection is closed
//! (it polls every second) — and the attempt waits [`LOCAL_CANCEL_GRACE`] more before it
//! returns, so its retry never meets a second copy of the same request in the server.

use crate::error_chain;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use backon::{ExponentialBuilder, Retryable};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::error::{BODY_EXCERPT_CHARS, MAX_RETRY_AFTER, check_status};
use super::stats::LlmStats;
use super::stream::StreamLimits;
use super::{ChatRequest, Completion, LlmConfig, LlmError, LlmStatsSnapshot, check_base_url};
use crate::http::excerpt;

/// How long a timed-out attempt against the local server waits, after closing its
/// connection, before it returns (and may be retried): longer than llama-server's one-second
/// poll of closed connections.
pub const LOCAL_CANCEL_GRACE: Duration = Duration::from_secs(2);

/// A cheap-to-clone handle to an OpenAI-compatible chat endpoint.
///
/// Clones share the HTTP connection pool, the concurrency semaphore and the counters, so
/// a batch of requests can be spawned as tasks, each with its own clone. One failing
/// request never affects the others: it is retried on its own and, in the end, returns its
/// own `Err`.
#[derive(Clone)]
pub struct LlmClient {
    inner: Arc<Inner>,
}

struct Inner {
    api: Client<OpenAIConfig>,
    /// The HTTP client under `api` (the local server's streamed attempts use it directly).
    http: reqwest::Client,
    /// The API key (empty: none), for the streamed attempts.
    key: String,
    cfg: LlmConfig,
    base_url: String,
    host: String,
    timeout: Duration,
    /// The bundled local server: streamed attempts timed out on silence, a grace after a
    /// timeout.
    local: Option<StreamLimits>,
    limit: Semaphore,
    stats: LlmStats,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("base_url", &super::redact_url(&self.inner.base_url))
            .field("model", &self.inner.cfg.model)
            .field("concurrency", &self.inner.cfg.concurrency)
            .finish_non_exhaustive()
    }
}

impl LlmClient {
    /// A client for the endpoint at `base_url` (e.g. `http://127.0.0.1:8080/v1`); the
    /// configured `cfg.base_url` is not consulted here. Validates `cfg` and reads the API key
    /// from the environment variable named by `cfg.api_key_env`.
    pub fn new(cfg: &LlmConfig, base_url: &str) -> Result<Self, LlmError> {
        Self::build(cfg, base_url, false)
    }

    /// A client for the bundled local llama-server at `base_url`: each attempt is streamed
    /// and times out after `timeout_secs` without a token (at most `(max_tokens + 2) ×
    /// timeout_secs` in all), and a timed-out attempt is cancelled (its connection closed) [`LOCAL_CANCEL_GRACE`] before it may be
    /// retried (see the module notes).
    pub fn local_server(cfg: &LlmConfig, base_url: &str) -> Result<Self, LlmError> {
        Self::build(cfg, base_url, true)
    }

    fn build(cfg: &LlmConfig, base_url: &str, local: bool) -> Result<Self, LlmError> {
        cfg.check()?;
        let url = check_base_url("llm.base_url", base_url)?;
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        let host = url.host_str().unwrap_or_default().to_string();

        let key = match std::env::var(&cfg.api_key_env) {
            Ok(k) => k.trim().to_string(),
            Err(_) => {
                tracing::debug!(env = %cfg.api_key_env, "API key variable not set; sending an empty key");
                String::new()
            }
        };
        if !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(LlmError::InvalidParam {
                param: "llm.api_key_env",
                reason: format!(
                    "the value of ${} contains characters that cannot go into an HTTP header",
                    cfg.api_key_env
                ),
            });
        }

        let timeout = Duration::from_secs_f64(cfg.timeout_secs);
        let local = local.then(|| StreamLimits::new(cfg.timeout_secs, cfg.max_tokens));
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // llama-server may close a connection after a streamed answer; a request sent on
            // it then fails ("connection closed before message completed") and costs a retry.
            // Local connections are cheap: open a fresh one per request.
            .pool_max_idle_per_host(if local.is_some() { 0 } else { cfg.concurrency })
            .build()
            .map_err(|e| LlmError::Transport(error_chain(&e)))?;
        // Org/project set explicitly so that stray OPENAI_ORG_ID / OPENAI_PROJECT_ID values
        // cannot change (or break) the headers.
        let config = OpenAIConfig::new()
            .with_api_base(base_url.clone())
            .with_api_key(key.clone())
            .with_org_id("")
            .with_project_id("");
        let api = Client::build(http.clone(), config)
            .with_http_service(StatusService { http: http.clone() });

        tracing::info!(host = %host, model = %cfg.model, concurrency = cfg.concurrency, "LLM client ready");
        Ok(Self {
            inner: Arc::new(Inner {
                api,
                http,
                key,
                cfg: cfg.clone(),
                base_url,
                host,
                timeout,
                local,
                limit: Semaphore::new(cfg.concurrency),
                stats: LlmStats::default(),
            }),
        })
    }

    /// Make one chat completion, retrying retryable failures with backoff.
    ///
    /// Errors: a non-retryable error as is (e.g. [`LlmError::Http`] 400/401), or
    /// [`LlmError::GaveUp`] with the last error once `max_retries` retries are spent.
    pub async fn complete(&self, req: &ChatRequest) -> Result<Completion, LlmError> {
        let inner = &self.inner;
        LlmStats::inc(&inner.stats.calls);
        let body = self.body(req);
        let attempts = AtomicU32::new(0);
        let result = (|| self.attempt(&body, &attempts))
            .retry(backoff_builder(&inner.cfg, req.seed))
            .sleep(tokio::time::sleep)
            .when(LlmError::is_retryable)
            .adjust(|err, next| match (err, next) {
                (
                    LlmError::RateLimited {
                        retry_after: Some(wait),
                        ..
                    },
                    Some(delay),
                ) => Some(delay.max((*wait).min(MAX_RETRY_AFTER))),
                (_, next) => next,
            })
            .notify(|err, delay| {
                LlmStats::inc(&inner.stats.retries);
                tracing::warn!(
                    host = %inner.host,
                    attempt = attempts.load(Ordering::Relaxed),
                    delay_ms = delay.as_millis() as u64,
                    "LLM request failed, retrying: {err}"
                );
            })
            .await;
        let attempts = attempts.load(Ordering::Relaxed);
        match result {
            Ok(mut done) => {
                done.attempts = attempts;
                LlmStats::inc(&inner.stats.successes);
                if done.truncated() {
                    LlmStats::inc(&inner.stats.truncated);
                }
                Ok(done)
            }
            Err(err) => {
                LlmStats::inc(&inner.stats.failures);
                let err = if err.is_retryable() {
                    LlmError::GaveUp {
                        attempts,
                        last: Box::new(err),
                    }
                } else {
                    err
                };
                tracing::warn!(host = %inner.host, "LLM request failed for good: {err}");
                Err(err)
            }
        }
    }

    /// Counts the requests of a finished batch: one call and one attempt each, `done` answered
    /// (with their tokens) and `failed` failed.
    pub fn count_batch(&self, done: &[Completion], failed: usize) {
        let s = &self.inner.stats;
        let n = (done.len() + failed) as u64;
        LlmStats::add(&s.calls, n);
        LlmStats::add(&s.requests, n);
        LlmStats::add(&s.successes, done.len() as u64);
        LlmStats::add(&s.failures, failed as u64);
        for c in done {
            LlmStats::add(&s.prompt_tokens, u64::from(c.prompt_tokens));
            LlmStats::add(&s.completion_tokens, u64::from(c.completion_tokens));
            if c.truncated() {
                LlmStats::inc(&s.truncated);
            }
        }
    }

    /// A copy of the counters (shared by all clones of this client).
    pub fn stats(&self) -> LlmStatsSnapshot {
        self.inner.stats.snapshot(&self.inner.cfg)
    }

    /// The endpoint's host name only (no scheme, port, path or key), for provenance records.
    pub fn endpoint_host(&self) -> String {
        self.inner.host.clone()
    }

    /// The base URL requests go to (without a trailing slash).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The async-openai client (files and batches share its HTTP service and key).
    pub(crate) fn api(&self) -> &Client<OpenAIConfig> {
        &self.inner.api
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &LlmConfig {
        &self.inner.cfg
    }

    /// The JSON body this client sends for `req` (see [`request_body`]).
    pub fn body(&self, req: &ChatRequest) -> Value {
        request_body(&self.inner.cfg, req)
    }

    /// One HTTP attempt of `req` (no retry), counted in `attempts`; the endpoint pool
    /// retries across endpoints with it.
    pub(crate) async fn attempt_once(
        &self,
        req: &ChatRequest,
        attempts: &AtomicU32,
    ) -> Result<Completion, LlmError> {
        self.attempt(&self.body(req), attempts).await
    }

    /// The per-attempt timeout: the whole attempt for a remote endpoint; for the local
    /// server the longest silence (no token), the whole attempt being capped at
    /// `(max_tokens + 2) ×` that.
    pub fn attempt_timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// One HTTP attempt under the semaphore and the timeout.
    async fn attempt(&self, body: &Value, attempts: &AtomicU32) -> Result<Completion, LlmError> {
        let inner = &self.inner;
        let _permit =
            inner.limit.acquire().await.map_err(|_| {
                LlmError::Transport("the client's request limiter was closed".into())
            })?;
        let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
        LlmStats::inc(&inner.stats.requests);
        tracing::debug!(host = %inner.host, attempt = n, "LLM request");
        let started = Instant::now();
        // the request future is dropped (its connection closed) when a timeout fires
        let answer = match inner.local {
            Some(limits) => {
                let to = (inner.base_url.as_str(), inner.key.as_str());
                super::stream::streamed(&inner.http, to, body, limits).await
            }
            None => tokio::time::timeout(
                inner.timeout,
                inner.api.chat().create_byot::<&Value, Value>(body),
            )
            .await
            .map_err(|_| LlmError::Timeout(inner.timeout))
            .and_then(|r| r.map_err(map_openai_error)),
        };
        let elapsed = started.elapsed();
        if inner.local.is_some() && matches!(answer, Err(LlmError::Timeout(_))) {
            // let the local server notice the closed connection and cancel the task before a
            // retry sends the same request again
            tokio::time::sleep(LOCAL_CANCEL_GRACE).await;
        }
        inner.stats.add_time(elapsed);
        let result = match answer {
            Err(e) => Err(e),
            Ok(value) => {
                let (prompt, completion) = usage(&value);
                LlmStats::add(&inner.stats.prompt_tokens, u64::from(prompt));
                LlmStats::add(&inner.stats.completion_tokens, u64::from(completion));
                completion_from(&value, prompt, completion, elapsed)
            }
        };
        if let Err(e) = &result {
            let s = &inner.stats;
            match e {
                LlmError::RateLimited { .. } => LlmStats::inc(&s.rate_limited),
                LlmError::Timeout(_) => LlmStats::inc(&s.timeouts),
                LlmError::InvalidResponse { .. } => LlmStats::inc(&s.invalid_responses),
                LlmError::Http { .. } => LlmStats::inc(&s.http_errors),
                LlmError::Transport(_) => LlmStats::inc(&s.transport_errors),
                _ => {}
            }
        }
        result
    }
}

/// The JSON body of a chat completion request under `cfg`: model, messages, sampling
/// settings, seed, the optional JSON Schema as `response_format`, then `extra_body` keys that
/// are not already set. The journal key of a request is a hash of exactly this body.
pub fn request_body(cfg: &LlmConfig, req: &ChatRequest) -> Value {
    let mut body = json!({
        "model": cfg.model,
        "messages": req.messages,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_tokens": cfg.max_tokens,
        "seed": req.seed,
        "stream": false,
    });
    if let Some(schema) = &req.json_schema {
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": {"name": "answer", "strict": true, "schema": schema},
        });
    }
    if let Some(map) = body.as_object_mut() {
        for (k, v) in &cfg.extra_body {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    body
}

/// The backoff of one request: `min(initial · 2^k, max)` plus a uniform jitter of up to the
/// same again, seeded from the run seed and the request seed, for `max_retries` retries.
pub(crate) fn backoff_builder(cfg: &LlmConfig, request_seed: u64) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(cfg.backoff_initial_ms))
        .with_max_delay(Duration::from_millis(cfg.backoff_max_ms))
        .with_factor(2.0)
        .with_max_times(cfg.max_retries as usize)
        .with_jitter()
        .with_jitter_seed(splitmix64(cfg.seed ^ request_seed.rotate_left(32)))
}

/// The delays `complete` would sleep between attempts of a request with this seed.
#[cfg(test)]
fn backoff_schedule(cfg: &LlmConfig, request_seed: u64) -> Vec<Duration> {
    use backon::BackoffBuilder;
    backoff_builder(cfg, request_seed).build().collect()
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// `usage.prompt_tokens` / `usage.completion_tokens`, 0 when absent.
pub(crate) fn usage(value: &Value) -> (u32, u32) {
    let get = |k: &str| {
        value["usage"][k]
            .as_u64()
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    (get("prompt_tokens"), get("completion_tokens"))
}

/// Read a chat completion out of a 2xx JSON body, tolerating extra and missing fields.
pub(crate) fn completion_from(
    value: &Value,
    prompt_tokens: u32,
    completion_tokens: u32,
    elapsed: Duration,
) -> Result<Completion, LlmError> {
    let invalid = |reason: String| LlmError::InvalidResponse {
        reason,
        excerpt: excerpt(&value.to_string(), BODY_EXCERPT_CHARS),
    };
    if let Some(err) = value.get("error").filter(|e| !e.is_null()) {
        let msg = err["message"]
            .as_str()
            .map_or_else(|| err.to_string(), str::to_string);
        return Err(invalid(format!("error object in a 2xx answer: {msg}")));
    }
    let choice = value["choices"]
        .as_array()
        .and_then(|c| c.first())
        .ok_or_else(|| invalid("no `choices` in the answer".into()))?;
    let finish_reason = choice["finish_reason"].as_str().map(str::to_string);
    let text = choice["message"]["content"]
        .as_str()
        .or_else(|| choice["text"].as_str())
        .ok_or_else(|| match choice["message"]["refusal"].as_str() {
            Some(r) => invalid(format!(
                "the model refused: {}",
                excerpt(r, BODY_EXCERPT_CHARS)
            )),
            None => invalid("the first choice has no message content".into()),
        })?;
    if text.trim().is_empty() {
        return Err(invalid(format!(
            "empty message content (finish_reason: {})",
            finish_reason.as_deref().unwrap_or("none")
        )));
    }
    Ok(Completion {
        text: text.to_string(),
        finish_reason,
        prompt_tokens,
        completion_tokens,
        attempts: 0,
        latency_secs: elapsed.as_secs_f64(),
    })
}

/// Map what async-openai returns to our error; our own errors come back through `Boxed`.
pub(crate) fn map_openai_error(err: OpenAIError) -> LlmError {
    match err {
        OpenAIError::Boxed(boxed) => match boxed.downcast::<LlmError>() {
            Ok(ours) => *ours,
            Err(other) => LlmError::Transport(other.to_string()),
        },
        OpenAIError::JSONDeserialize(e, content) => LlmError::InvalidResponse {
            reason: format!("the body is not JSON: {e}"),
            excerpt: excerpt(&content, BODY_EXCERPT_CHARS),
        },
        OpenAIError::Reqwest(e) => LlmError::Transport(error_chain(&e.without_url())),
        OpenAIError::ApiError(api) => {
            let status = api.status_code.as_u16();
            let body = excerpt(&api.api_error.message, BODY_EXCERPT_CHARS);
            if status == 429 {
                LlmError::RateLimited {
                    retry_after: None,
                    body,
                }
            } else {
                LlmError::Http { status, body }
            }
        }
        OpenAIError::InvalidArgument(reason) => LlmError::InvalidParam {
            param: "request",
            reason,
        },
        other => LlmError::Transport(other.to_string()),
    }
}

/// The HTTP layer under async-openai: sends with reqwest, passes 2xx answers on, and turns
/// every other answer into our [`LlmError`] (status, `Retry-After`, body excerpt), so that
/// async-openai's own retry layer is not used and nothing about the answer is lost.
#[derive(Clone)]
struct StatusService {
    http: reqwest::Client,
}

type ServiceFuture = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

impl tower::Service<HttpRequestFactory> for StatusService {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = ServiceFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let http = self.http.clone();
        Box::pin(async move {
            let boxed = |e: LlmError| OpenAIError::Boxed(Box::new(e));
            let request = factory.build().await?;
            let response = http
                .execute(request)
                .await
                .map_err(|e| boxed(LlmError::Transport(error_chain(&e.without_url()))))?;
            check_status(response).await.map_err(boxed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn cfg(initial: u64, max: u64, retries: u32) -> LlmConfig {
        LlmConfig {
            backoff_initial_ms: initial,
            backoff_max_ms: max,
            max_retries: retries,
            ..LlmConfig::default()
        }
    }

    #[test]
    fn backoff_schedule_doubles_caps_and_jitters() {
        let c = cfg(100, 500, 6);
        let s = backoff_schedule(&c, 7);
        assert_eq!(s.len(), 6);
        let bases = [100u64, 200, 400, 500, 500, 500];
        for (d, base) in s.iter().zip(bases) {
            let base = Duration::from_millis(base);
            assert!(*d >= base && *d < base * 2, "{d:?} not in [{base:?}, 2x)");
        }
        // Jitter is there: not every delay equals its base.
        assert!(
            s.iter()
                .zip(bases)
                .any(|(d, b)| *d != Duration::from_millis(b))
        );
    }

    #[test]
    fn backoff_schedule_is_seeded() {
        let c = cfg(100, 5_000, 5);
        assert_eq!(backoff_schedule(&c, 1), backoff_schedule(&c, 1));
        assert_ne!(backoff_schedule(&c, 1), backoff_schedule(&c, 2));
        let other_run = LlmConfig {
            seed: 43,
            ..c.clone()
        };
        assert_ne!(backoff_schedule(&c, 1), backoff_schedule(&other_run, 1));
        assert!(backoff_schedule(&cfg(100, 100, 0), 1).is_empty());
    }

    #[test]
    fn retry_after_forms() {
        use crate::llm::error::parse_retry_after;
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", HeaderValue::from_static(" 1.5 "));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(1500)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("99999"));
        assert_eq!(parse_retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert("retry-after", HeaderValue::from_static("-3"));
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn completion_parsing_is_tolerant() {
        let ok = json!({"choices": [{"message": {"content": "Hi."}, "finish_reason": "length"}],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 2}});
        let (p, c) = usage(&ok);
        assert_eq!((p, c), (5, 2));
        let done = completion_from(&ok, p, c, Duration::ZERO).unwrap();
        assert_eq!(done.text, "Hi.");
        assert!(done.truncated());
        for bad in [
            json!({}),
            json!({"choices": []}),
            json!({"choices": [{"message": {}}]}),
            json!({"choices": [{"message": {"content": "  "}}]}),
            json!({"choices": [{"message": {"content": null, "refusal": "no"}}]}),
            json!({"error": {"message": "boom"}}),
            json!([1, 2]),
            json!("text"),
        ] {
            let err = completion_from(&bad, 0, 0, Duration::ZERO).unwrap_err();
            assert!(
                matches!(err, LlmError::InvalidResponse { .. }),
                "{bad}: {err:?}"
            );
            assert!(err.is_retryable());
        }
        assert_eq!(usage(&json!({"usage": {"prompt_tokens": -1}})), (0, 0));
    }

    #[test]
    fn body_has_fields_and_extras() {
        let mut cfg = LlmConfig::default();
        cfg.extra_body.insert("repeat_penalty".into(), json!(1.1));
        let client = LlmClient::new(&cfg, "http://127.0.0.1:9/v1/").unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:9/v1");
        assert_eq!(client.endpoint_host(), "127.0.0.1");
        let mut req = ChatRequest::new(vec![super::super::ChatMessage::user("x")], 11);
        req.json_schema = Some(json!({"type": "object"}));
        let body = client.body(&req);
        assert_eq!(body["seed"], 11);
        assert_eq!(body["repeat_penalty"], 1.1);
        assert_eq!(body["messages"][0]["role"], "user");
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(
            body["response_format"]["json_schema"]["schema"]["type"],
            "object"
        );
        assert_eq!(body["stream"], false);
    }
}
