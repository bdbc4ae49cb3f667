//! An endpoint pool: several OpenAI-compatible replicas (vLLM, llama.cpp, hosted) behind one
//! `complete()`.
//!
//! Each request goes to the endpoint with the fewest outstanding requests relative to its
//! `concurrency × weight`. An endpoint whose attempts fail [`BREAK_AFTER`] times in a row
//! (5xx, 429, timeouts, transport errors, unusable bodies) is drained — a circuit breaker
//! opens for a cooldown that doubles up to [`MAX_COOLDOWN`] — and the next request after the
//! cooldown probes it (half-open); one success closes it again. A failed attempt is retried
//! at once on another endpoint when one is available, else after the usual backoff; a
//! request gets `max_retries + 1` attempts in all, wherever they run, and is counted once.
//! With a single endpoint the pool is exactly [`LlmClient`] (its own retry loop).

use std::ops::Bound;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use serde::{Deserialize, Serialize};

use super::client::backoff_builder;
use super::stats::LlmStats;
use super::{
    ChatRequest, Completion, LlmClient, LlmConfig, LlmError, LlmStatsSnapshot, MAX_CONCURRENCY,
    check_base_url, check_model_name,
};
use crate::http::check_env_var_name;
use crate::setting::check_range;

/// Failed attempts in a row that drain an endpoint.
pub const BREAK_AFTER: u32 = 3;
/// First cooldown of a drained endpoint.
pub const FIRST_COOLDOWN: Duration = Duration::from_secs(2);
/// Longest cooldown.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(60);
/// Largest `llm.endpoints.weight`.
const MAX_WEIGHT: f64 = 1e6;
/// Latency samples kept per endpoint for the percentiles (the first ones).
const MAX_LATENCY_SAMPLES: usize = 1 << 20;

/// One endpoint of `[[llm.endpoints]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// OpenAI-compatible base URL.
    pub base_url: String,
    /// Model name sent to this endpoint (default `llm.model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Environment variable with its API key (default `llm.api_key_env`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Share of the load relative to the others (> 0, default 1).
    #[serde(default = "one")]
    pub weight: f64,
    /// Requests in flight at most (default `llm.concurrency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
}

fn one() -> f64 {
    1.0
}

impl EndpointConfig {
    /// An endpoint with the pool's defaults.
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.to_string(),
            model: None,
            api_key_env: None,
            weight: 1.0,
            concurrency: None,
        }
    }

    /// The pool's settings with this endpoint's URL, model, key variable and concurrency.
    pub fn client_config(&self, pool: &LlmConfig) -> LlmConfig {
        LlmConfig {
            base_url: Some(self.base_url.clone()),
            model: self.model.clone().unwrap_or_else(|| pool.model.clone()),
            api_key_env: self
                .api_key_env
                .clone()
                .unwrap_or_else(|| pool.api_key_env.clone()),
            concurrency: self.concurrency.unwrap_or(pool.concurrency),
            endpoints: Vec::new(),
            ..pool.clone()
        }
    }

    /// Validates the fields the pool's own check does not cover.
    pub fn check(&self) -> Result<(), LlmError> {
        check_base_url("llm.endpoints.base_url", &self.base_url)?;
        let weight = (Bound::Excluded(0.0), Bound::Included(MAX_WEIGHT));
        check_range("llm.endpoints.weight", self.weight, weight)?;
        if let Some(c) = self.concurrency {
            check_range("llm.endpoints.concurrency", c, 1..=MAX_CONCURRENCY)?;
        }
        if let Some(m) = &self.model {
            check_model_name("llm.endpoints.model", m)?;
        }
        if let Some(k) = &self.api_key_env {
            check_env_var_name("llm.endpoints.api_key_env", k)?;
        }
        Ok(())
    }
}

/// What one endpoint of a pool did (`report.json` → `llm.endpoints`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EndpointUsage {
    /// Host and port (no scheme, path, user info or query).
    pub host: String,
    /// Model name sent to it.
    pub model: String,
    /// Attempts sent to it.
    pub requests: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// Times its circuit breaker opened.
    pub drained: u64,
    /// Median seconds of its successful attempts.
    pub p50_secs: f64,
    /// 95th percentile seconds of its successful attempts.
    pub p95_secs: f64,
    /// Completion tokens it returned.
    pub completion_tokens: u64,
    /// Completion tokens per second of the run's wall time.
    pub tokens_per_second: f64,
}

/// Circuit breaker state of one endpoint.
#[derive(Debug, Default)]
struct Breaker {
    failures_in_a_row: u32,
    open_until: Option<Instant>,
    opened: u64,
}

struct Endpoint {
    client: LlmClient,
    capacity: f64,
    outstanding: AtomicUsize,
    breaker: Mutex<Breaker>,
    latencies: Mutex<Vec<f32>>,
}

impl Endpoint {
    fn breaker(&self) -> MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When it may take a request again (`None`: now).
    fn closed_at(&self, now: Instant) -> Option<Instant> {
        self.breaker().open_until.filter(|&t| t > now)
    }

    /// Records an attempt's result in the breaker and the latencies.
    fn record(&self, result: &Result<Completion, LlmError>, took: Duration, pool: &LlmConfig) {
        let mut b = self.breaker();
        match result {
            Ok(_) => {
                b.failures_in_a_row = 0;
                b.open_until = None;
                let mut l = self
                    .latencies
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if l.len() < MAX_LATENCY_SAMPLES {
                    l.push(took.as_secs_f32());
                }
            }
            Err(e) if e.is_retryable() => {
                b.failures_in_a_row += 1;
                if b.failures_in_a_row >= BREAK_AFTER {
                    let doublings = b.opened.min(5) as u32;
                    let cooldown = (FIRST_COOLDOWN * 2u32.pow(doublings)).min(MAX_COOLDOWN);
                    b.open_until = Some(Instant::now() + cooldown);
                    b.opened += 1;
                    b.failures_in_a_row = 0;
                    tracing::warn!(
                        host = %self.client.endpoint_host(),
                        cooldown_s = cooldown.as_secs_f64(),
                        model = %pool.model,
                        "endpoint drained after {BREAK_AFTER} failures in a row: {e}"
                    );
                }
            }
            Err(_) => {}
        }
    }

    fn usage(&self, elapsed: f64) -> EndpointUsage {
        let s = self.client.stats();
        let mut l = self
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        l.sort_by(f32::total_cmp);
        let pct = |p: f64| {
            l.get(((l.len() as f64 - 1.0) * p).round() as usize)
                .map_or(0.0, |&x| f64::from(x))
        };
        let failures =
            s.timeouts + s.invalid_responses + s.http_errors + s.transport_errors + s.rate_limited;
        let url = reqwest::Url::parse(self.client.base_url()).ok();
        let host = match url.as_ref().and_then(|u| u.port()) {
            Some(port) => format!("{}:{port}", self.client.endpoint_host()),
            None => self.client.endpoint_host(),
        };
        EndpointUsage {
            host,
            model: self.client.config().model.clone(),
            requests: s.requests,
            failures,
            drained: self.breaker().opened,
            p50_secs: pct(0.5),
            p95_secs: pct(0.95),
            completion_tokens: s.completion_tokens,
            tokens_per_second: s.completion_tokens as f64 / elapsed.max(1e-9),
        }
    }
}

/// The endpoints a run sends to: one [`LlmClient`], or several behind a balancer and
/// circuit breakers.
pub struct EndpointPool {
    cfg: LlmConfig,
    endpoints: Vec<Endpoint>,
    stats: LlmStats,
}

impl std::fmt::Debug for EndpointPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointPool")
            .field("endpoints", &self.endpoints.len())
            .finish_non_exhaustive()
    }
}

impl EndpointPool {
    /// One endpoint at `base_url` with the settings of `cfg`.
    pub fn single(cfg: &LlmConfig, base_url: &str) -> Result<Self, LlmError> {
        let client = LlmClient::new(cfg, base_url)?;
        Ok(Self::of(cfg, vec![(client, 1.0)]))
    }

    /// The bundled local server at `base_url` ([`LlmClient::local_server`]: streamed answers
    /// timed out on silence, not on total time; no second copy of a timed-out request).
    pub fn local(cfg: &LlmConfig, base_url: &str) -> Result<Self, LlmError> {
        let client = LlmClient::local_server(cfg, base_url)?;
        Ok(Self::of(cfg, vec![(client, 1.0)]))
    }

    /// The pool of `cfg.endpoints` (each validated, its key read from its variable).
    pub fn new(cfg: &LlmConfig) -> Result<Self, LlmError> {
        let mut clients = Vec::with_capacity(cfg.endpoints.len());
        for e in &cfg.endpoints {
            e.check()?;
            let c = e.client_config(cfg);
            clients.push((LlmClient::new(&c, &e.base_url)?, e.weight));
        }
        if clients.is_empty() {
            return Err(LlmError::InvalidParam {
                param: "llm.endpoints",
                reason: "an endpoint pool needs at least one endpoint".into(),
            });
        }
        Ok(Self::of(cfg, clients))
    }

    fn of(cfg: &LlmConfig, clients: Vec<(LlmClient, f64)>) -> Self {
        let endpoints = clients
            .into_iter()
            .map(|(client, weight)| Endpoint {
                capacity: client.config().concurrency as f64 * weight,
                client,
                outstanding: AtomicUsize::new(0),
                breaker: Mutex::default(),
                latencies: Mutex::default(),
            })
            .collect();
        Self {
            cfg: cfg.clone(),
            endpoints,
            stats: LlmStats::default(),
        }
    }

    /// The first (for a single endpoint: the) client.
    pub fn first(&self) -> &LlmClient {
        &self.endpoints[0].client
    }

    /// Requests in flight at most, over every endpoint.
    pub fn concurrency(&self) -> usize {
        self.endpoints
            .iter()
            .map(|e| e.client.config().concurrency)
            .sum()
    }

    /// The pool's settings (retries, backoff, sampling, the logical model).
    pub fn config(&self) -> &LlmConfig {
        match self.endpoints.as_slice() {
            [one] => one.client.config(),
            _ => &self.cfg,
        }
    }

    /// The endpoints' hosts, comma-separated (no scheme, path, user info or query).
    pub fn endpoint_host(&self) -> String {
        let hosts: Vec<String> = self
            .endpoints
            .iter()
            .map(|e| e.client.endpoint_host())
            .collect();
        hosts.join(",")
    }

    /// One chat completion, retried across endpoints (see the module docs).
    pub async fn complete(&self, req: &ChatRequest) -> Result<Completion, LlmError> {
        if let [one] = self.endpoints.as_slice() {
            return one.client.complete(req).await;
        }
        LlmStats::inc(&self.stats.calls);
        let attempts = AtomicU32::new(0);
        let mut delays = backoff_builder(&self.cfg, req.seed).build();
        let mut last: Option<(usize, LlmError)> = None;
        loop {
            let i = self.pick(last.as_ref().map(|l| l.0)).await;
            if let Some((prev, err)) = &last {
                let Some(delay) = delays.next() else {
                    break;
                };
                LlmStats::inc(&self.stats.retries);
                if *prev == i {
                    tokio::time::sleep(retry_delay(err, delay)).await;
                }
            }
            let e = &self.endpoints[i];
            e.outstanding.fetch_add(1, Ordering::SeqCst);
            let started = Instant::now();
            let result = e.client.attempt_once(req, &attempts).await;
            e.outstanding.fetch_sub(1, Ordering::SeqCst);
            e.record(&result, started.elapsed(), &self.cfg);
            match result {
                Ok(mut done) => {
                    done.attempts = attempts.load(Ordering::Relaxed);
                    LlmStats::inc(&self.stats.successes);
                    if done.truncated() {
                        LlmStats::inc(&self.stats.truncated);
                    }
                    return Ok(done);
                }
                Err(err) if err.is_retryable() => last = Some((i, err)),
                Err(err) => return Err(self.failed(err)),
            }
        }
        let (_, last) = last.expect("the loop only breaks after a failed attempt");
        let err = LlmError::GaveUp {
            attempts: attempts.load(Ordering::Relaxed),
            last: Box::new(last),
        };
        Err(self.failed(err))
    }

    fn failed(&self, err: LlmError) -> LlmError {
        LlmStats::inc(&self.stats.failures);
        tracing::warn!("LLM request failed for good on every endpoint tried: {err}");
        err
    }

    /// The endpoint for the next attempt: among those whose breaker is closed (or whose
    /// cooldown is over), the least loaded relative to its capacity, preferring another
    /// endpoint than `avoid` (the one that just failed) on a tie; when every breaker is open,
    /// waits for the first to close.
    async fn pick(&self, avoid: Option<usize>) -> usize {
        loop {
            let now = Instant::now();
            let load = |i: usize| {
                let e = &self.endpoints[i];
                (e.outstanding.load(Ordering::SeqCst) as f64 + 1.0) / e.capacity
            };
            let open: Vec<usize> = (0..self.endpoints.len())
                .filter(|&i| self.endpoints[i].closed_at(now).is_none())
                .collect();
            let best = open.iter().copied().min_by(|&a, &b| {
                load(a)
                    .total_cmp(&load(b))
                    .then((Some(a) == avoid).cmp(&(Some(b) == avoid)))
                    .then(a.cmp(&b))
            });
            if let Some(i) = best {
                return i;
            }
            let next = self
                .endpoints
                .iter()
                .filter_map(|e| e.closed_at(now))
                .min()
                .unwrap_or(now);
            tokio::time::sleep_until(next.into()).await;
        }
    }

    /// Totals over the endpoints (attempts, errors, tokens, time) and the pool's own counts
    /// of requests (calls, successes, failures, retries).
    pub fn stats(&self) -> LlmStatsSnapshot {
        if let [one] = self.endpoints.as_slice() {
            return one.client.stats();
        }
        let own = self.stats.snapshot(&self.cfg);
        let mut total = LlmStatsSnapshot {
            calls: own.calls,
            successes: own.successes,
            failures: own.failures,
            retries: own.retries,
            truncated: own.truncated,
            ..Default::default()
        };
        for e in &self.endpoints {
            let s = e.client.stats();
            total.requests += s.requests;
            total.rate_limited += s.rate_limited;
            total.timeouts += s.timeouts;
            total.invalid_responses += s.invalid_responses;
            total.http_errors += s.http_errors;
            total.transport_errors += s.transport_errors;
            total.prompt_tokens += s.prompt_tokens;
            total.completion_tokens += s.completion_tokens;
            total.request_secs += s.request_secs;
            total.cost_usd = match (total.cost_usd, s.cost_usd) {
                (None, c) | (c, None) => c,
                (Some(a), Some(b)) => Some(a + b),
            };
        }
        total
    }

    /// Per endpoint usage, for pools of two or more (empty for a single endpoint).
    pub fn endpoint_usage(&self, elapsed: f64) -> Vec<EndpointUsage> {
        if self.endpoints.len() < 2 {
            return Vec::new();
        }
        self.endpoints.iter().map(|e| e.usage(elapsed)).collect()
    }
}

/// The wait before retrying on the same endpoint: the backoff, at least `Retry-After`.
fn retry_delay(err: &LlmError, backoff: Duration) -> Duration {
    match err {
        LlmError::RateLimited {
            retry_after: Some(wait),
            ..
        } => backoff.max((*wait).min(super::error::MAX_RETRY_AFTER)),
        _ => backoff,
    }
}
