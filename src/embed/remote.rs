//! [`RemoteEmbedder`]: sentence embeddings from an OpenAI-compatible `/v1/embeddings`
//! endpoint (text-embeddings-inference, vLLM, llama.cpp's server, OpenAI).
//!
//! The embedder is sync (the [`Embedder`] trait; it runs on the embedding service's thread)
//! and owns a small current-thread tokio runtime for its HTTP calls. One
//! [`Embedder::embed`] call cuts its sentences into batches of
//! [`RemoteConfig::batch_size`], keeps up to [`RemoteConfig::concurrency`] batches in flight,
//! and puts the answers back in input order by their `index` field. A batch is retried with
//! exponential backoff and jitter on 408/429/5xx, timeouts and transport errors
//! (`Retry-After` is a floor on the wait); any other 4xx, and any answer that is not a
//! well-formed embeddings answer, fails at once. Bodies are read up to a bound that follows
//! from the batch size and the vector length, so a hostile server cannot make us hold more.
//! Every row is checked (count, length, finite) and L2-normalised.
//!
//! The API key is read from the environment variable [`RemoteConfig::api_key_env`] when the
//! embedder is made; it is never stored in the configuration, printed or logged. Errors name
//! the endpoint through [`redact_url`] (no credentials, no query string).

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::{StreamExt, TryStreamExt};
use ndarray::Array2;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use super::{EmbedError, Embedder, check_rows};
use crate::error_chain;
use crate::http::{check_env_var_name, redact_url};
use crate::setting::check_range;

/// Default of [`RemoteConfig::api_key_env`].
pub const DEFAULT_API_KEY_ENV: &str = "OPENAI_API_KEY";
/// Largest [`RemoteConfig::batch_size`].
pub const MAX_REMOTE_BATCH: usize = 2048;
/// Largest [`RemoteConfig::concurrency`].
pub const MAX_REMOTE_CONCURRENCY: usize = 64;
/// Largest [`RemoteConfig::timeout_secs`].
pub const MAX_REMOTE_TIMEOUT_SECS: u64 = 3600;
/// Largest [`RemoteConfig::max_retries`].
pub const MAX_REMOTE_RETRIES: u32 = 20;
/// Longest vector accepted ([`RemoteConfig::dim`]; also the length assumed when bounding
/// the size of an answer before the length is known).
pub const MAX_REMOTE_DIM: usize = 16_384;

/// Longest model name accepted.
const MAX_MODEL_CHARS: usize = 256;
/// Longest `Retry-After` we wait for; longer asks are cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// First backoff delay (doubled each retry, plus up to as much again of jitter).
const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// Longest backoff delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Bytes allowed per vector component in an answer (`-0.012345678,` is 13; pretty-printed
/// JSON with deep indentation stays well under this).
const BYTES_PER_VALUE: usize = 48;
/// Bytes allowed in an answer on top of the vectors (ids, usage, whitespace).
const BODY_SLACK: usize = 1 << 20;
/// Bytes of an error answer read for its excerpt.
const ERROR_BODY_BYTES: usize = 16 << 10;
/// Characters of an error body kept in errors.
const EXCERPT_CHARS: usize = 300;
/// The sentence embedded to learn the vector length when it is not configured.
const DIM_PROBE: &str = "dimension probe";

fn default_api_key_env() -> String {
    DEFAULT_API_KEY_ENV.to_string()
}
fn default_batch_size() -> usize {
    64
}
fn default_concurrency() -> usize {
    4
}
fn default_timeout_secs() -> u64 {
    60
}
fn default_max_retries() -> u32 {
    3
}

/// An OpenAI-compatible embeddings endpoint, the `remote` form of
/// [`super::ModelSource`]: `model = { remote = { base_url = "...", model = "..." } }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// The API root, e.g. `http://host:8080/v1`; requests go to `{base_url}/embeddings`.
    /// http or https, without `user:password@`, query or fragment.
    pub base_url: String,
    /// The model name the endpoint expects (`BAAI/bge-small-en-v1.5`); the on-disk cache
    /// keys vectors by `remote:<model>`.
    pub model: String,
    /// The environment variable holding the API key (`OPENAI_API_KEY`); unset or empty:
    /// no `Authorization` header.
    #[serde(default = "default_api_key_env")]
    pub api_key_env: String,
    /// Sentences per request (64).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Requests in flight at once (4).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Seconds one attempt may take, answer body included (60).
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Retries of a batch after a 408/429/5xx, a timeout or a transport error (3).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// The vector length, if known; otherwise read from the embedding cache of this model
    /// or learned from one probe request when the embedder is opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
}

impl RemoteConfig {
    /// `model` at `base_url` with every optional setting at its default.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        RemoteConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key_env: default_api_key_env(),
            batch_size: default_batch_size(),
            concurrency: default_concurrency(),
            timeout_secs: default_timeout_secs(),
            max_retries: default_max_retries(),
            dim: None,
        }
    }

    /// Checks every setting; the error names the field (`embed.model.remote.batch_size`).
    /// Returns the parsed base URL.
    pub fn check(&self) -> Result<reqwest::Url, EmbedError> {
        let field = |name: &str, reason: String| {
            EmbedError::InvalidConfig(format!("embed.model.remote.{name} {reason}"))
        };
        let url = self
            .check_url()
            .map_err(|reason| field("base_url", reason))?;
        let model = self.model.trim();
        if model.is_empty() || model.chars().count() > MAX_MODEL_CHARS {
            return Err(field(
                "model",
                format!("must be 1 to {MAX_MODEL_CHARS} characters"),
            ));
        }
        if self.model.chars().any(char::is_control) {
            return Err(field("model", "must not contain control characters".into()));
        }
        let key = |name: &str| format!("embed.model.remote.{name}");
        check_env_var_name(&key("api_key_env"), &self.api_key_env)?;
        check_range(&key("batch_size"), self.batch_size, 1..=MAX_REMOTE_BATCH)?;
        check_range(
            &key("concurrency"),
            self.concurrency,
            1..=MAX_REMOTE_CONCURRENCY,
        )?;
        check_range(
            &key("timeout_secs"),
            self.timeout_secs,
            1..=MAX_REMOTE_TIMEOUT_SECS,
        )?;
        check_range(
            &key("max_retries"),
            self.max_retries,
            0..=MAX_REMOTE_RETRIES,
        )?;
        if let Some(dim) = self.dim {
            check_range(&key("dim"), dim, 1..=MAX_REMOTE_DIM)?;
        }
        Ok(url)
    }

    /// `base_url` parsed: http(s), a host, no credentials, query or fragment.
    fn check_url(&self) -> Result<reqwest::Url, String> {
        let shown = self.endpoint();
        let url = reqwest::Url::parse(self.base_url.trim())
            .map_err(|e| format!("`{shown}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`{shown}` is not an http(s) URL"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("`{shown}` has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "`{shown}` carries credentials (user:password@): put the key in an environment \
                 variable and name it with embed.model.remote.api_key_env"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("`{shown}` must not carry a query or fragment"));
        }
        Ok(url)
    }

    /// `base_url` safe to print (see [`redact_url`]).
    pub fn endpoint(&self) -> String {
        redact_url(&self.base_url)
    }
}

/// Why a request to a remote embedding endpoint failed (the source of
/// [`EmbedError::Remote`], which names the endpoint).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// A non-2xx status other than 429.
    #[error("HTTP {status}: {body}")]
    Http {
        /// The status code.
        status: u16,
        /// An excerpt of the answer body.
        body: String,
    },
    /// HTTP 429.
    #[error("rate limited (HTTP 429): {body}")]
    RateLimited {
        /// The `Retry-After` (or `retry-after-ms`) asked for, if any.
        retry_after: Option<Duration>,
        /// An excerpt of the answer body.
        body: String,
    },
    /// No complete answer within the attempt's timeout.
    #[error("no answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    /// The connection failed or broke off.
    #[error("transport error: {0}")]
    Transport(String),
    /// The answer body is longer than this batch's answer can be.
    #[error("answer larger than {limit} bytes")]
    TooLarge {
        /// The bound.
        limit: usize,
    },
    /// A 2xx answer that is not a usable embeddings answer.
    #[error("invalid answer: {0}")]
    InvalidAnswer(String),
    /// Retries spent.
    #[error("gave up after {attempts} attempts")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        last: Box<RemoteError>,
    },
}

impl RemoteError {
    /// Whether another attempt may succeed: 408, 429, 5xx, timeouts, transport errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            RemoteError::Http { status, .. } => *status == 408 || *status >= 500,
            RemoteError::RateLimited { .. }
            | RemoteError::Timeout(_)
            | RemoteError::Transport(_) => true,
            RemoteError::TooLarge { .. }
            | RemoteError::InvalidAnswer(_)
            | RemoteError::GaveUp { .. } => false,
        }
    }

    /// The last attempt's error behind [`RemoteError::GaveUp`], else this one.
    pub fn root(&self) -> &RemoteError {
        match self {
            RemoteError::GaveUp { last, .. } => last.root(),
            other => other,
        }
    }

    /// The wait a 429 asked for.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            RemoteError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Embeds sentences on an OpenAI-compatible `/v1/embeddings` endpoint; see the module
/// documentation. Open it through [`super::open_embedder`] to get the on-disk cache and the
/// vector length settled before use.
pub struct RemoteEmbedder {
    endpoint: Endpoint,
    rt: OwnedRuntime,
    /// 0 until known.
    dim: usize,
}

impl std::fmt::Debug for RemoteEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEmbedder")
            .field("endpoint", &self.endpoint.shown)
            .field("model_id", &self.endpoint.model_id)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

impl RemoteEmbedder {
    /// Checks `cfg`, reads the API key from `$api_key_env` and builds the HTTP client and
    /// runtime. Sends nothing: the vector length is `cfg.dim` or unknown (0) until
    /// [`Self::learn_dim`] or the first [`Embedder::embed`].
    pub fn new(cfg: &RemoteConfig) -> Result<Self, EmbedError> {
        let endpoint = Endpoint::new(cfg)?;
        let rt = OwnedRuntime::new()?;
        tracing::info!(
            endpoint = %endpoint.shown,
            model = %cfg.model,
            batch_size = cfg.batch_size,
            concurrency = cfg.concurrency,
            "remote embedding endpoint"
        );
        Ok(RemoteEmbedder {
            endpoint,
            rt,
            dim: cfg.dim.unwrap_or(0),
        })
    }

    /// The vector length, embedding one probe sentence to learn it if it is not known yet.
    pub fn learn_dim(&mut self) -> Result<usize, EmbedError> {
        if self.dim == 0 {
            self.embed(&[DIM_PROBE])?;
        }
        Ok(self.dim)
    }

    /// Takes `dim` as the vector length (e.g. from this model's embedding cache) unless one
    /// is already known; answers of another length are then errors.
    pub fn assume_dim(&mut self, dim: usize) {
        if self.dim == 0 {
            self.dim = dim;
        }
    }

    /// The endpoint's base URL, safe to print.
    pub fn endpoint(&self) -> &str {
        &self.endpoint.shown
    }
}

impl Embedder for RemoteEmbedder {
    /// `remote:<model>`.
    fn model_id(&self) -> &str {
        &self.endpoint.model_id
    }

    /// The vector length; 0 while unknown (see [`RemoteEmbedder::learn_dim`]).
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
        if texts.is_empty() {
            return Ok(Array2::zeros((0, self.dim)));
        }
        let endpoint = &self.endpoint;
        let bound_dim = if self.dim == 0 {
            MAX_REMOTE_DIM
        } else {
            self.dim
        };
        if texts.len() > 256 {
            tracing::info!(endpoint = %endpoint.shown, sentences = texts.len(), "embedding remotely");
        }
        let rows = self
            .rt
            .run(|rt| rt.block_on(endpoint.embed_all(texts, bound_dim)))
            .map_err(|e| endpoint.error(e))?;
        let dim = match self.dim {
            0 => rows.first().map_or(0, Vec::len),
            d => d,
        };
        check_rows(&endpoint.model_id, &rows, texts.len(), dim).map_err(|e| endpoint.bad(e))?;
        let out = normalised(rows, dim).map_err(|e| endpoint.error(e))?;
        self.dim = dim;
        Ok(out)
    }
}

/// The rows as one matrix, each divided by its L2 norm.
fn normalised(rows: Vec<Vec<f32>>, dim: usize) -> Result<Array2<f32>, RemoteError> {
    if dim == 0 {
        return Err(RemoteError::InvalidAnswer("vectors of length 0".into()));
    }
    let n = rows.len();
    let mut flat = Vec::with_capacity(n * dim);
    for (i, row) in rows.into_iter().enumerate() {
        let norm = row
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return Err(RemoteError::InvalidAnswer(format!(
                "vector {i} has norm {norm}, cannot normalise it"
            )));
        }
        flat.extend(row.into_iter().map(|x| (f64::from(x) / norm) as f32));
    }
    Array2::from_shape_vec((n, dim), flat)
        .map_err(|e| RemoteError::InvalidAnswer(format!("vectors of uneven length ({e})")))
}

/// The HTTP side: everything an attempt needs, shared by the batches in flight.
struct Endpoint {
    http: reqwest::Client,
    /// `{base_url}/embeddings`.
    url: reqwest::Url,
    /// `Bearer <key>`, marked sensitive; `None` without a key.
    auth: Option<HeaderValue>,
    model: String,
    model_id: String,
    /// The base URL, redacted.
    shown: String,
    timeout: Duration,
    batch_size: usize,
    concurrency: usize,
    max_retries: u32,
}

impl Endpoint {
    fn new(cfg: &RemoteConfig) -> Result<Self, EmbedError> {
        cfg.check()?;
        let base = cfg.base_url.trim().trim_end_matches('/');
        let url = reqwest::Url::parse(&format!("{base}/embeddings")).map_err(|e| {
            EmbedError::InvalidConfig(format!(
                "embed.model.remote.base_url `{}`: {e}",
                cfg.endpoint()
            ))
        })?;
        let timeout = Duration::from_secs(cfg.timeout_secs);
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(cfg.concurrency)
            .build()
            .map_err(|e| {
                EmbedError::InvalidConfig(format!(
                    "cannot build the HTTP client: {}",
                    error_chain(&e)
                ))
            })?;
        Ok(Endpoint {
            http,
            url,
            auth: api_key_header(&cfg.api_key_env)?,
            model: cfg.model.trim().to_string(),
            model_id: format!("remote:{}", cfg.model.trim()),
            shown: cfg.endpoint(),
            timeout,
            batch_size: cfg.batch_size,
            concurrency: cfg.concurrency,
            max_retries: cfg.max_retries,
        })
    }

    /// `source` as an [`EmbedError`] naming this endpoint.
    fn error(&self, source: RemoteError) -> EmbedError {
        EmbedError::Remote {
            endpoint: self.shown.clone(),
            model: self.model.clone(),
            source,
        }
    }

    /// A [`check_rows`] complaint as an invalid answer of this endpoint.
    fn bad(&self, err: EmbedError) -> EmbedError {
        match err {
            EmbedError::BadOutput { reason, .. } => self.error(RemoteError::InvalidAnswer(reason)),
            other => other,
        }
    }

    /// All of `texts`, `concurrency` batches in flight, rows in input order (not yet
    /// normalised). `dim` bounds the size of an answer.
    async fn embed_all(&self, texts: &[&str], dim: usize) -> Result<Vec<Vec<f32>>, RemoteError> {
        let batches = texts
            .chunks(self.batch_size)
            .map(|b| self.embed_batch(b, dim));
        let done: Vec<Vec<Vec<f32>>> = futures::stream::iter(batches)
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        Ok(done.into_iter().flatten().collect())
    }

    /// One batch, retried with backoff while the failure is retryable.
    async fn embed_batch(&self, batch: &[&str], dim: usize) -> Result<Vec<Vec<f32>>, RemoteError> {
        let body = serde_json::json!({
            "model": self.model,
            "input": batch,
            "encoding_format": "float",
        })
        .to_string();
        let limit = batch
            .len()
            .saturating_mul(dim)
            .saturating_mul(BYTES_PER_VALUE)
            .saturating_add(BODY_SLACK);
        let attempts = AtomicU32::new(0);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(BACKOFF_MIN)
            .with_max_delay(BACKOFF_MAX)
            .with_factor(2.0)
            .with_max_times(self.max_retries as usize)
            .with_jitter();
        let result = (|| self.attempt(&body, batch.len(), limit, &attempts))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(RemoteError::is_retryable)
            .adjust(|err, next| match (err.retry_after(), next) {
                (Some(wait), Some(delay)) => Some(delay.max(wait.min(MAX_RETRY_AFTER))),
                (_, next) => next,
            })
            .notify(|err, delay| {
                tracing::warn!(
                    endpoint = %self.shown,
                    attempt = attempts.load(Ordering::Relaxed),
                    delay_ms = delay.as_millis() as u64,
                    "embedding request failed, retrying: {err}"
                );
            })
            .await;
        match result {
            Err(err) if err.is_retryable() => Err(RemoteError::GaveUp {
                attempts: attempts.load(Ordering::Relaxed),
                last: Box::new(err),
            }),
            other => other,
        }
    }

    /// One request under the timeout: the batch's rows in input order.
    async fn attempt(
        &self,
        body: &str,
        n: usize,
        limit: usize,
        attempts: &AtomicU32,
    ) -> Result<Vec<Vec<f32>>, RemoteError> {
        attempts.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(self.timeout, self.exchange(body, limit)).await {
            Err(_) => Err(RemoteError::Timeout(self.timeout)),
            Ok(answer) => parse_answer(&answer?, n),
        }
    }

    /// Sends `body` and reads a 2xx answer of at most `limit` bytes; other statuses become
    /// errors carrying an excerpt of their body.
    async fn exchange(&self, body: &str, limit: usize) -> Result<Vec<u8>, RemoteError> {
        let mut request = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            return read_body(&mut response, limit, true).await;
        }
        let retry_after = parse_retry_after(response.headers());
        let body = match read_body(&mut response, ERROR_BODY_BYTES, false).await {
            Ok(bytes) => excerpt(&String::from_utf8_lossy(&bytes)),
            Err(e) => format!("<body unreadable: {e}>"),
        };
        Err(match status.as_u16() {
            429 => RemoteError::RateLimited { retry_after, body },
            status => RemoteError::Http { status, body },
        })
    }
}

/// The `Authorization` header for the key in `$env`, if set and not empty.
fn api_key_header(env: &str) -> Result<Option<HeaderValue>, EmbedError> {
    let key = match std::env::var(env) {
        Ok(k) if !k.trim().is_empty() => k.trim().to_string(),
        _ => {
            tracing::debug!(env, "embedding API key variable not set; sending no key");
            return Ok(None);
        }
    };
    let unusable = || {
        EmbedError::InvalidConfig(format!(
            "embed.model.remote.api_key_env: the value of ${env} contains characters that \
             cannot go into an HTTP header"
        ))
    };
    if !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(unusable());
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| unusable())?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// A reqwest error as a transport error, without the URL (it could carry secrets).
fn transport(err: reqwest::Error) -> RemoteError {
    RemoteError::Transport(error_chain(&err.without_url()))
}

/// Reads the body up to `limit` bytes: past it, an error when `strict`, else the first
/// `limit` bytes.
async fn read_body(
    response: &mut reqwest::Response,
    limit: usize,
    strict: bool,
) -> Result<Vec<u8>, RemoteError> {
    if strict && response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(RemoteError::TooLarge { limit });
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if out.len() + chunk.len() > limit {
            if strict {
                return Err(RemoteError::TooLarge { limit });
            }
            out.extend_from_slice(&chunk[..limit - out.len()]);
            break;
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// An OpenAI embeddings answer (other fields ignored).
#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

/// One vector of an [`Answer`].
#[derive(Deserialize)]
struct Item {
    index: usize,
    embedding: Vec<f32>,
}

/// The vectors of an answer to `n` sentences, put in input order by their `index`.
fn parse_answer(bytes: &[u8], n: usize) -> Result<Vec<Vec<f32>>, RemoteError> {
    let invalid = RemoteError::InvalidAnswer;
    let answer: Answer = serde_json::from_slice(bytes)
        .map_err(|e| invalid(excerpt(&format!("not an embeddings answer: {e}"))))?;
    if answer.data.len() != n {
        return Err(invalid(format!(
            "{} vectors for {n} sentences",
            answer.data.len()
        )));
    }
    let mut rows: Vec<Option<Vec<f32>>> = vec![None; n];
    for item in answer.data {
        let slot = rows.get_mut(item.index).ok_or_else(|| {
            invalid(format!(
                "index {} out of range for {n} sentences",
                item.index
            ))
        })?;
        if slot.replace(item.embedding).is_some() {
            return Err(invalid(format!("index {} given twice", item.index)));
        }
    }
    // n items, none out of range or repeated: every slot is filled.
    rows.into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| invalid("an index is missing".into()))
}

/// `Retry-After` as the LLM client reads it, capped at [`MAX_RETRY_AFTER`] here.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    crate::http::parse_retry_after(headers, MAX_RETRY_AFTER)
}

/// At most [`EXCERPT_CHARS`] characters of `text`, control characters as spaces.
fn excerpt(text: &str) -> String {
    crate::http::excerpt(text, EXCERPT_CHARS)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A current-thread tokio runtime that can be used and dropped anywhere, async code
/// included (where `block_on` and a plain drop would panic).
struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl OwnedRuntime {
    fn new() -> Result<Self, EmbedError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                EmbedError::InvalidConfig(format!("cannot start the embedding HTTP runtime: {e}"))
            })?;
        Ok(OwnedRuntime(Some(rt)))
    }

    /// Runs `work` with the runtime: on this thread, or on a helper thread when this thread
    /// is already inside a tokio runtime.
    fn run<T: Send>(&self, work: impl FnOnce(&tokio::runtime::Runtime) -> T + Send) -> T {
        let rt = self.0.as_ref().expect("the runtime lives until drop");
        if tokio::runtime::Handle::try_current().is_err() {
            return work(rt);
        }
        std::thread::scope(|s| match s.spawn(|| work(rt)).join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The vector length recorded in the header of `model_id`'s cache file in `cache_dir`
/// (the file [`super::CachedEmbedder`] opens for that model), if there is one.
pub(super) fn cached_dim(cache_dir: &Path, model_id: &str) -> Option<usize> {
    use std::io::Read;
    const MAGIC: &[u8; 8] = b"SCTIEMB2";
    let name: String = model_id
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                true => c,
                false => '_',
            },
        )
        .collect();
    let mut header = [0u8; 12];
    let mut file = std::fs::File::open(cache_dir.join(format!("{name}.bin"))).ok()?;
    file.read_exact(&mut header).ok()?;
    let (magic, dim) = header.split_at(MAGIC.len());
    let dim = u32::from_le_bytes(dim.try_into().ok()?) as usize;
    (magic == MAGIC && (1..=MAX_REMOTE_DIM).contains(&dim)).then_some(dim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_put_in_order_and_checked() {
        let ok = br#"{"data":[{"index":1,"embedding":[0,1]},{"index":0,"embedding":[1,0]}]}"#;
        assert_eq!(
            parse_answer(ok, 2).unwrap(),
            vec![vec![1.0, 0.0], vec![0.0, 1.0]]
        );
        for (body, want) in [
            (
                &br#"{"data":[{"index":0,"embedding":[1]}]}"#[..],
                "1 vectors for 2",
            ),
            (
                br#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}"#,
                "twice",
            ),
            (
                br#"{"data":[{"index":0,"embedding":[1]},{"index":7,"embedding":[1]}]}"#,
                "out of range",
            ),
            (br#"{"object":"list"}"#, "missing field `data`"),
            (b"<html>", "not an embeddings answer"),
            (
                br#"{"data":[{"index":0,"embedding":[NaN]},{"index":1,"embedding":[1]}]}"#,
                "not an embeddings",
            ),
        ] {
            let err = parse_answer(body, 2).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn rows_are_normalised_and_zero_rows_refused() {
        let m = normalised(vec![vec![3.0, 4.0]], 2).unwrap();
        assert!((m[[0, 0]] - 0.6).abs() < 1e-7 && (m[[0, 1]] - 0.8).abs() < 1e-7);
        assert!(normalised(vec![vec![0.0, 0.0]], 2).is_err());
    }

    #[test]
    fn settings_are_checked_by_name() {
        let ok = RemoteConfig::new("http://127.0.0.1:8080/v1", "m");
        assert!(ok.check().is_ok());
        let cases = [
            (
                RemoteConfig {
                    base_url: "ftp://h/v1".into(),
                    ..ok.clone()
                },
                "base_url",
            ),
            (
                RemoteConfig {
                    base_url: "http://u:secret@h/v1".into(),
                    ..ok.clone()
                },
                "base_url",
            ),
            (
                RemoteConfig {
                    base_url: "http://h/v1?key=secret".into(),
                    ..ok.clone()
                },
                "base_url",
            ),
            (
                RemoteConfig {
                    base_url: "not a url".into(),
                    ..ok.clone()
                },
                "base_url",
            ),
            (
                RemoteConfig {
                    model: " ".into(),
                    ..ok.clone()
                },
                "model",
            ),
            (
                RemoteConfig {
                    api_key_env: "sk-123".into(),
                    ..ok.clone()
                },
                "api_key_env",
            ),
            (
                RemoteConfig {
                    batch_size: 0,
                    ..ok.clone()
                },
                "batch_size",
            ),
            (
                RemoteConfig {
                    batch_size: MAX_REMOTE_BATCH + 1,
                    ..ok.clone()
                },
                "batch_size",
            ),
            (
                RemoteConfig {
                    concurrency: 0,
                    ..ok.clone()
                },
                "concurrency",
            ),
            (
                RemoteConfig {
                    timeout_secs: 0,
                    ..ok.clone()
                },
                "timeout_secs",
            ),
            (
                RemoteConfig {
                    max_retries: 99,
                    ..ok.clone()
                },
                "max_retries",
            ),
            (
                RemoteConfig {
                    dim: Some(0),
                    ..ok.clone()
                },
                "dim",
            ),
        ];
        for (cfg, name) in cases {
            let err = cfg.check().unwrap_err().to_string();
            assert!(err.contains(&format!("embed.model.remote.{name}")), "{err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn retry_after_and_retryable_statuses() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(250)));
        let http = |status| RemoteError::Http {
            status,
            body: String::new(),
        };
        assert!(http(500).is_retryable() && http(503).is_retryable() && http(408).is_retryable());
        assert!(!http(400).is_retryable() && !http(401).is_retryable());
        assert!(!RemoteError::InvalidAnswer(String::new()).is_retryable());
    }

    #[test]
    fn cached_dim_reads_the_cache_file_of_the_model() {
        /// A fixed embedder of dimension 7.
        struct Seven;
        impl Embedder for Seven {
            fn model_id(&self) -> &str {
                "remote:BAAI/bge small:v1.5"
            }
            fn dim(&self) -> usize {
                7
            }
            fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
                Ok(Array2::from_elem((texts.len(), 7), 7f32.sqrt().recip()))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(cached_dim(dir.path(), Seven.model_id()), None);
        let mut cached = super::super::CachedEmbedder::new(Seven, dir.path()).unwrap();
        cached.embed(&["a"]).unwrap();
        drop(cached);
        assert_eq!(cached_dim(dir.path(), Seven.model_id()), Some(7));
        assert_eq!(cached_dim(dir.path(), "remote:other"), None);
    }

    #[test]
    fn runtime_works_and_drops_inside_async_code() {
        let outer = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        outer.block_on(async {
            let rt = OwnedRuntime::new().unwrap();
            assert_eq!(rt.run(|rt| rt.block_on(async { 7 })), 7);
            drop(rt);
        });
    }
}
