//! The `llm` stage: an OpenAI-compatible chat client with bounded concurrency, per-request
//! timeouts and seeded exponential backoff; a tolerant parser of answers; and the manager of
//! the local default server (`llama-server` + SmolLM2-135M-Instruct).
//!
//! ```no_run
//! # async fn demo() -> Result<(), synthcti::llm::LlmError> {
//! use synthcti::llm::*;
//! let cfg = LlmConfig::default();
//! // No base URL configured: start the local default server (stopped on drop).
//! let server = LocalServer::start(&LocalServerConfig::default()).await?;
//! let client = LlmClient::new(&cfg, server.base_url())?;
//! let req = ChatRequest::new(
//!     vec![
//!         ChatMessage::system("You write realistic sentences from cyber threat intelligence reports."),
//!         ChatMessage::user("Write one threat report sentence about T1003 OS Credential Dumping."),
//!     ],
//!     7,
//! );
//! let done = client.complete(&req).await?;
//! let parsed = parse_sentences(&done.text);
//! println!("{:?} ({:?}); {:?}", parsed.sentences, done.finish_reason, client.stats());
//! # Ok(()) }
//! ```
//!
//! The API key is read from the environment variable *named* by
//! [`LlmConfig::api_key_env`]; the key itself is never logged, stored in the config, or put
//! into an error.

#![warn(missing_docs)]

pub mod batch;
mod client;
mod error;
mod local;
mod parse;
pub mod pool;
mod stats;
mod stream;

pub use client::{LOCAL_CANCEL_GRACE, LlmClient, request_body};
pub use error::LlmError;
pub use local::{LocalServer, LocalServerConfig};
pub use parse::{Parsed, Reject, RejectReason as ParseReject, parse_sentences};
pub use pool::{EndpointConfig, EndpointPool, EndpointUsage};
pub use stats::LlmStatsSnapshot;

pub use crate::http::{is_env_var_name, redact_url};

use std::ops::Bound;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::http::check_env_var_name;
use crate::setting::{SettingError, check_range};

/// Shortest accepted timeout in seconds (`llm.timeout_secs`, `local.start_timeout_secs`).
pub const MIN_TIMEOUT_SECS: f64 = 0.01;

/// Longest accepted timeout in seconds (`llm.timeout_secs`, `local.start_timeout_secs`).
pub const MAX_TIMEOUT_SECS: f64 = 86_400.0;

/// Most requests in flight (`llm.concurrency`, `llm.endpoints.concurrency`).
pub(crate) const MAX_CONCURRENCY: usize = 1024;

/// Highest `llm.price_per_1k_prompt` and `llm.price_per_1k_completion`, in USD.
const MAX_PRICE: f64 = 1e6;

/// Longest backoff delay in milliseconds (`llm.backoff_max_ms`): one hour.
const MAX_BACKOFF_MS: u64 = 3_600_000;

/// Settings of the LLM client (the `[llm]` section of the synthcti config).
///
/// Every field has a default, so a config may name only what it changes. Validate with
/// [`LlmConfig::check`] (also done by [`LlmClient::new`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// OpenAI-compatible base URL, e.g. `https://api.openai.com/v1` or
    /// `http://localhost:8000/v1` (vLLM). `None`: start the local default server.
    pub base_url: Option<String>,
    /// Model name sent in every request (llama-server ignores it).
    pub model: String,
    /// Name of the environment variable that holds the API key (default `OPENAI_API_KEY`).
    /// When unset or empty, requests carry an empty key, which local servers accept.
    pub api_key_env: String,
    /// Sampling temperature, in `[0, 2]`.
    pub temperature: f32,
    /// Nucleus sampling mass, in `(0, 1]`.
    pub top_p: f32,
    /// Completion token budget per request (≥ 1). Answers cut by it report
    /// `finish_reason = "length"`.
    pub max_tokens: u32,
    /// Base seed of the run: mixed with each request's seed for the backoff jitter.
    pub seed: u64,
    /// Most HTTP requests in flight at once (≥ 1); a semaphore bounds each attempt.
    pub concurrency: usize,
    /// Per-attempt timeout in seconds (> 0), covering connect, generation and body.
    pub timeout_secs: f64,
    /// Retries after the first attempt for retryable errors (5xx, 429, timeouts, transport
    /// errors, unusable bodies); `0` disables retrying.
    pub max_retries: u32,
    /// First backoff delay in milliseconds; each retry doubles it.
    pub backoff_initial_ms: u64,
    /// Cap of the doubled delay in milliseconds (≥ `backoff_initial_ms`). The seeded jitter
    /// then adds a uniform `[0, 100 %)` of the capped delay.
    pub backoff_max_ms: u64,
    /// Extra top-level body fields sent verbatim, e.g. llama.cpp's `repeat_penalty` or
    /// `cache_prompt`. May not repeat a field the client sets itself (`model`, `messages`,
    /// `stream`, `temperature`, `top_p`, `max_tokens`, `seed`, `response_format`).
    pub extra_body: Map<String, Value>,
    /// Price in USD per 1000 prompt tokens, for the cost in the report.
    pub price_per_1k_prompt: Option<f64>,
    /// Price in USD per 1000 completion tokens, for the cost in the report.
    pub price_per_1k_completion: Option<f64>,
    /// An endpoint pool (`[[llm.endpoints]]`) instead of `base_url`: requests are balanced
    /// over the replicas, failing ones drained (see [`pool`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<EndpointConfig>,
    /// Send each round as one OpenAI Batch API batch (`/v1/files` + `/v1/batches`) instead
    /// of one request at a time (see [`batch`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub batch: bool,
    /// Seconds before the first poll of a batch; the interval doubles up to 60 s (default 2).
    pub batch_poll_secs: Option<f64>,
    /// Batch price in USD per 1000 prompt tokens (default: `price_per_1k_prompt`).
    pub price_per_1k_prompt_batch: Option<f64>,
    /// Batch price in USD per 1000 completion tokens (default: `price_per_1k_completion`).
    pub price_per_1k_completion_batch: Option<f64>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            model: "smollm2-135m".to_string(),
            api_key_env: "OPENAI_API_KEY".to_string(),
            temperature: 0.5,
            top_p: 1.0,
            max_tokens: 80,
            seed: 42,
            concurrency: 4,
            timeout_secs: 60.0,
            max_retries: 3,
            backoff_initial_ms: 500,
            backoff_max_ms: 20_000,
            extra_body: Map::new(),
            price_per_1k_prompt: None,
            price_per_1k_completion: None,
            endpoints: Vec::new(),
            batch: false,
            batch_poll_secs: None,
            price_per_1k_prompt_batch: None,
            price_per_1k_completion_batch: None,
        }
    }
}

/// Body fields the client writes itself; `extra_body` may not set them.
const RESERVED_BODY_FIELDS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "response_format",
];

impl LlmConfig {
    /// Validate every setting; the error names the first bad field.
    pub fn check(&self) -> Result<(), LlmError> {
        self.check_where()?;
        self.check_sampling()?;
        self.check_pacing()?;
        self.check_extra_body()
    }

    /// `extra_body` may not set what the client sets itself.
    fn check_extra_body(&self) -> Result<(), LlmError> {
        let bad =
            |param: &'static str, reason: String| Err(LlmError::InvalidParam { param, reason });
        if let Some(key) = self
            .extra_body
            .keys()
            .find(|k| RESERVED_BODY_FIELDS.contains(&k.as_str()))
        {
            return bad(
                "llm.extra_body",
                format!("`{key}` is set by the client itself; use the dedicated setting"),
            );
        }
        Ok(())
    }

    /// Where requests go: the endpoint or pool, the Batch API, the key's variable.
    fn check_where(&self) -> Result<(), LlmError> {
        let bad =
            |param: &'static str, reason: String| Err(LlmError::InvalidParam { param, reason });
        if let Some(url) = &self.base_url {
            check_base_url("llm.base_url", url)?;
            if !self.endpoints.is_empty() {
                return bad(
                    "llm.endpoints",
                    "set either llm.base_url or [[llm.endpoints]], not both".into(),
                );
            }
        }
        for e in &self.endpoints {
            e.check()?;
        }
        if self.batch && self.base_url.is_none() {
            return bad(
                "llm.batch",
                "needs llm.base_url (--base-url): one endpoint with the Batch API (the local \
                 server and endpoint pools have none)"
                    .into(),
            );
        }
        if let Some(p) = self.batch_poll_secs {
            let range = (Bound::Excluded(0.0), Bound::Included(3600.0));
            check_range("llm.batch_poll_secs", p, range)?;
        }
        check_env_var_name("llm.api_key_env", &self.api_key_env)?;
        Ok(())
    }

    /// What is asked: the model and the sampling settings.
    fn check_sampling(&self) -> Result<(), SettingError> {
        check_model_name("llm.model", &self.model)?;
        check_range("llm.temperature", self.temperature, 0.0..=2.0)?;
        let top_p = (Bound::Excluded(0.0), Bound::Included(1.0));
        check_range("llm.top_p", self.top_p, top_p)?;
        check_range("llm.max_tokens", self.max_tokens, 1..)
    }

    /// How fast and how often: concurrency, timeouts, retries, backoff, prices.
    fn check_pacing(&self) -> Result<(), SettingError> {
        check_range("llm.concurrency", self.concurrency, 1..=MAX_CONCURRENCY)?;
        check_range(
            "llm.timeout_secs",
            self.timeout_secs,
            MIN_TIMEOUT_SECS..=MAX_TIMEOUT_SECS,
        )?;
        check_range("llm.max_retries", self.max_retries, 0..=100)?;
        if self.backoff_max_ms < self.backoff_initial_ms {
            return Err(SettingError::rule(
                "llm.backoff_max_ms",
                "at least llm.backoff_initial_ms",
                self.backoff_max_ms,
            ));
        }
        check_range(
            "llm.backoff_max_ms",
            self.backoff_max_ms,
            0..=MAX_BACKOFF_MS,
        )?;
        for (key, price) in [
            ("llm.price_per_1k_prompt", self.price_per_1k_prompt),
            ("llm.price_per_1k_completion", self.price_per_1k_completion),
        ] {
            if let Some(p) = price {
                check_range(key, p, 0.0..=MAX_PRICE)?;
            }
        }
        for (key, price) in [
            (
                "llm.price_per_1k_prompt_batch",
                self.price_per_1k_prompt_batch,
            ),
            (
                "llm.price_per_1k_completion_batch",
                self.price_per_1k_completion_batch,
            ),
        ] {
            if let Some(p) = price {
                check_range(key, p, 0.0..)?;
            }
        }
        Ok(())
    }
}

/// `model` (the setting `key`) is not blank.
pub(crate) fn check_model_name(key: &str, model: &str) -> Result<(), SettingError> {
    if model.trim().is_empty() {
        return Err(SettingError::rule(
            key,
            "non-empty",
            format_args!("{model:?}"),
        ));
    }
    Ok(())
}

impl LlmConfig {
    /// Whether the run uses the local llama-server (no `base_url`, no endpoint pool).
    pub fn is_local(&self) -> bool {
        self.base_url.is_none() && self.endpoints.is_empty()
    }

    /// The configured endpoint URLs (`base_url` or the pool's; none for the local server).
    pub fn urls(&self) -> Vec<&str> {
        self.base_url
            .iter()
            .map(String::as_str)
            .chain(self.endpoints.iter().map(|e| e.base_url.as_str()))
            .collect()
    }

    /// The cost of these tokens at `price_per_1k_*` (the `*_batch` prices, where set, in
    /// batch mode); `None` when no price is configured.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> Option<f64> {
        let prices = match self.batch {
            true => (
                self.price_per_1k_prompt_batch.or(self.price_per_1k_prompt),
                self.price_per_1k_completion_batch
                    .or(self.price_per_1k_completion),
            ),
            false => (self.price_per_1k_prompt, self.price_per_1k_completion),
        };
        match prices {
            (None, None) => None,
            (p, c) => Some(
                prompt_tokens as f64 / 1000.0 * p.unwrap_or(0.0)
                    + completion_tokens as f64 / 1000.0 * c.unwrap_or(0.0),
            ),
        }
    }

    /// A copy safe to print or store: the base URL without user info, query or fragment
    /// ([`redact_url`]), and every string in `extra_body` replaced by `"<redacted>"` (keys,
    /// numbers and booleans are kept: they cannot hold a token).
    pub fn redacted(&self) -> LlmConfig {
        fn redact_value(v: &mut Value) {
            match v {
                Value::String(s) => *s = REDACTED.to_string(),
                Value::Array(items) => items.iter_mut().for_each(redact_value),
                Value::Object(map) => map.values_mut().for_each(redact_value),
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        let mut out = self.clone();
        out.base_url = self.base_url.as_deref().map(redact_url);
        for e in &mut out.endpoints {
            e.base_url = redact_url(&e.base_url);
        }
        out.extra_body.values_mut().for_each(redact_value);
        out
    }
}

/// What redacted secrets are replaced with.
const REDACTED: &str = "<redacted>";

/// Check that `url` is an absolute http(s) URL with a host and without credentials.
/// `param` is the setting's full TOML key (`llm.base_url`, `llm.endpoints.base_url`).
pub(crate) fn check_base_url(param: &'static str, url: &str) -> Result<reqwest::Url, LlmError> {
    let shown = redact_url(url);
    let bad = |reason: String| LlmError::InvalidParam { param, reason };
    let parsed =
        reqwest::Url::parse(url.trim()).map_err(|e| bad(format!("`{shown}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!("`{shown}` is not an http(s) URL")));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!("`{shown}` has no host")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(format!(
            "`{shown}` carries credentials (user:password@): put the key in an environment \
             variable and name it with --api-key-env (llm.api_key_env)"
        )));
    }
    Ok(parsed)
}

/// Who said a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The user's turn.
    User,
    /// The model's turn (few-shot examples).
    Assistant,
}

/// One message of a chat prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who says it.
    pub role: Role,
    /// What is said.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message (e.g. a few-shot example answer).
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// One chat completion to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The prompt.
    pub messages: Vec<ChatMessage>,
    /// Sampling seed sent to the endpoint (the same seed on the same server state gives the
    /// same text on llama-server); also decorrelates this request's backoff jitter.
    pub seed: u64,
    /// Optional JSON Schema of the answer. It is sent as OpenAI's
    /// `response_format: {"type": "json_schema", "json_schema": {"name": "answer",
    /// "strict": true, "schema": <this>}}`, which llama-server turns into a grammar.
    pub json_schema: Option<Value>,
}

impl ChatRequest {
    /// A request without a JSON schema.
    pub fn new(messages: Vec<ChatMessage>, seed: u64) -> Self {
        Self {
            messages,
            seed,
            json_schema: None,
        }
    }
}

/// A successful chat completion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completion {
    /// The message content of the first choice (non-empty).
    pub text: String,
    /// Why generation stopped: `stop`, `length` (cut by `max_tokens`), ... as reported.
    pub finish_reason: Option<String>,
    /// Prompt tokens from the endpoint's `usage` (0 when not reported).
    pub prompt_tokens: u32,
    /// Completion tokens from the endpoint's `usage` (0 when not reported).
    pub completion_tokens: u32,
    /// HTTP attempts this completion took (1 = no retry).
    pub attempts: u32,
    /// Wall time of the successful attempt, in seconds.
    pub latency_secs: f64,
}

impl Completion {
    /// Whether the answer was cut by the token budget (`finish_reason == "length"`).
    pub fn truncated(&self) -> bool {
        self.finish_reason.as_deref() == Some("length")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_extras_are_redacted() {
        assert_eq!(
            redact_url("https://u:p@api.example.com:8443/v1?key=s#frag"),
            "https://***@api.example.com:8443/v1?***"
        );
        assert_eq!(redact_url("http://h/v1"), "http://h/v1");
        assert_eq!(redact_url("u:p@h?x"), "***@h?***");
        assert!(is_env_var_name("OPENAI_API_KEY") && is_env_var_name("_k1"));
        let mut cfg = LlmConfig {
            base_url: Some("https://h/v1?api-key=sk-1".into()),
            ..LlmConfig::default()
        };
        cfg.extra_body.insert(
            "auth".into(),
            serde_json::json!({"token": "sk-2", "n": [1, "sk-3"]}),
        );
        cfg.extra_body.insert("repeat_penalty".into(), 1.1.into());
        let shown = serde_json::to_string(&cfg.redacted()).unwrap();
        assert!(!shown.contains("sk-"), "{shown}");
        assert!(
            shown.contains("\"auth\"") && shown.contains("1.1"),
            "{shown}"
        );
    }

    #[test]
    fn default_config_is_valid_and_round_trips() {
        let cfg = LlmConfig::default();
        cfg.check().unwrap();
        let json = serde_json::to_string(&cfg).unwrap();
        let back: LlmConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cfg);
        let partial: LlmConfig = serde_json::from_str(r#"{"concurrency": 2}"#).unwrap();
        assert_eq!(partial.concurrency, 2);
        assert_eq!(partial.model, cfg.model);
        assert!(serde_json::from_str::<LlmConfig>(r#"{"concurency": 2}"#).is_err());
    }

    #[test]
    fn check_rejects_bad_values() {
        let param = |cfg: LlmConfig| match cfg.check() {
            Err(LlmError::Setting(e)) => e.key,
            Err(LlmError::InvalidParam { param, .. }) => param.to_owned(),
            other => panic!("expected a setting error, got {other:?}"),
        };
        let d = LlmConfig::default;
        let with = |f: &dyn Fn(&mut LlmConfig)| {
            let mut c = d();
            f(&mut c);
            c
        };
        let mut extra = Map::new();
        extra.insert("seed".into(), Value::from(1));
        let cases: Vec<(LlmConfig, &str)> = vec![
            (with(&|c| c.concurrency = 0), "concurrency"),
            (with(&|c| c.temperature = 2.5), "temperature"),
            (with(&|c| c.temperature = f32::NAN), "temperature"),
            (with(&|c| c.top_p = 0.0), "top_p"),
            (with(&|c| c.max_tokens = 0), "max_tokens"),
            (with(&|c| c.timeout_secs = 0.0), "timeout_secs"),
            (with(&|c| c.timeout_secs = 0.005), "timeout_secs"),
            (with(&|c| c.timeout_secs = 86_401.0), "timeout_secs"),
            (with(&|c| c.batch_poll_secs = Some(0.0)), "batch_poll_secs"),
            (
                with(&|c| c.price_per_1k_completion = Some(2e6)),
                "price_per_1k_completion",
            ),
            (
                with(&|c| c.price_per_1k_prompt_batch = Some(f64::NAN)),
                "price_per_1k_prompt_batch",
            ),
            (with(&|c| c.model = " ".into()), "model"),
            (
                with(&|c| (c.backoff_initial_ms, c.backoff_max_ms) = (10, 5)),
                "backoff_max_ms",
            ),
            (
                with(&|c| c.price_per_1k_prompt = Some(-1.0)),
                "price_per_1k_prompt",
            ),
            (
                with(&|c| c.base_url = Some("ftp://x/v1".into())),
                "base_url",
            ),
            (
                with(&|c| c.base_url = Some("https://me:sk-pass@api.example.com/v1".into())),
                "base_url",
            ),
            (
                LlmConfig {
                    extra_body: extra.clone(),
                    ..d()
                },
                "extra_body",
            ),
        ];
        for (cfg, expected) in cases {
            assert_eq!(param(cfg), format!("llm.{expected}"));
        }
        for name in ["", "1KEY", "sk-abc", "A B", "KEY=1"] {
            assert_eq!(
                param(with(&|c| c.api_key_env = name.into())),
                "llm.api_key_env"
            );
        }
        let err = with(&|c| c.api_key_env = "sk-secret-123".into())
            .check()
            .unwrap_err();
        assert!(!err.to_string().contains("sk-secret-123"), "{err}");
        let err =
            check_base_url("llm.base_url", "https://me:sk-pass@api.example.com/v1").unwrap_err();
        assert!(!err.to_string().contains("sk-pass"), "{err}");
        let err = check_base_url("llm.base_url", "ftp://u:sk-pass@x/v1?key=sk-q").unwrap_err();
        assert!(!format!("{err}").contains("sk-"), "{err}");
    }
}
