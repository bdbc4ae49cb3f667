//! The one error type of the `llm` module.

use std::path::PathBuf;
use std::time::Duration;

use crate::error_chain;
use crate::http::excerpt;
use crate::setting::SettingError;

/// Everything that can go wrong while configuring, calling or hosting an LLM.
///
/// No variant ever carries the API key: errors hold the *name* of the key's environment
/// variable at most, and HTTP bodies are cut to a short excerpt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// A setting is outside the values it accepts (the `llm` section of the config, or a
    /// [`LocalServerConfig`](super::LocalServerConfig)).
    #[error("invalid LLM setting: {0}")]
    Setting(SettingError),
    /// A setting that no range describes: an unusable URL, settings that conflict, a
    /// reserved `extra_body` field, an API key that cannot go into a header.
    #[error("invalid LLM setting `{param}`: {reason}")]
    InvalidParam {
        /// The offending setting, as its full TOML key (e.g. `llm.base_url`).
        param: &'static str,
        /// Why the value is rejected.
        reason: String,
    },
    /// The endpoint answered with a non-success HTTP status other than 429.
    #[error("HTTP {status} from the LLM endpoint: {body}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The first few hundred characters of the response body.
        body: String,
    },
    /// The endpoint answered 429 Too Many Requests.
    #[error("rate limited by the LLM endpoint (HTTP 429, retry after {retry_after:?}): {body}")]
    RateLimited {
        /// The wait the server asked for (`Retry-After` in seconds, or `retry-after-ms`).
        retry_after: Option<Duration>,
        /// The first few hundred characters of the response body.
        body: String,
    },
    /// One attempt took longer than the configured per-request timeout.
    #[error("LLM request timed out after {0:.1?}")]
    Timeout(Duration),
    /// The endpoint answered 2xx, but the body is not a usable chat completion
    /// (not JSON, no `choices`, no message content, ...).
    #[error("invalid response from the LLM endpoint: {reason} (body: {excerpt})")]
    InvalidResponse {
        /// What is wrong with it.
        reason: String,
        /// The first few hundred characters of the body.
        excerpt: String,
    },
    /// The request never got an HTTP answer: connection refused or reset, DNS, TLS, ...
    #[error("transport error talking to the LLM endpoint: {0}")]
    Transport(String),
    /// A retryable error happened on every one of `attempts` attempts; `last` is the final one.
    #[error("gave up after {attempts} attempt(s); last error: {last}")]
    GaveUp {
        /// How many HTTP attempts were made.
        attempts: u32,
        /// The error of the last attempt.
        last: Box<LlmError>,
    },
    /// A runtime asset (the `llama-server` binary or the GGUF model) is missing.
    #[error("{what} not found at {}: {hint}", path.display())]
    MissingAsset {
        /// What is missing, e.g. `llama-server binary`.
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
        /// How to install it (names `scripts/setup.sh`).
        hint: String,
    },
    /// The local `llama-server` could not be started or did not become healthy.
    #[error("local LLM server failed to start: {reason}{}", fmt_tail(log_tail))]
    ServerStart {
        /// What went wrong.
        reason: String,
        /// The last lines of the server's log, empty when there is none.
        log_tail: String,
    },
}

impl From<SettingError> for LlmError {
    fn from(e: SettingError) -> Self {
        LlmError::Setting(e)
    }
}

fn fmt_tail(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!(
            "\n--- last lines of the llama-server log ---\n{}",
            tail.trim_end()
        )
    }
}

impl LlmError {
    /// Whether this is a failure of the run (the endpoint or server) rather than of its
    /// settings or assets.
    pub fn is_run_failure(&self) -> bool {
        !matches!(
            self,
            Self::Setting(_) | Self::InvalidParam { .. } | Self::MissingAsset { .. }
        )
    }

    /// Whether trying the same request again may succeed: 5xx, 408, 409, 429, timeouts,
    /// transport failures and unusable 2xx bodies. Other 4xx answers, bad settings and
    /// [`LlmError::GaveUp`] are final.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Http { status, .. } => *status >= 500 || *status == 408 || *status == 409,
            LlmError::RateLimited { .. }
            | LlmError::Timeout(_)
            | LlmError::InvalidResponse { .. }
            | LlmError::Transport(_) => true,
            LlmError::Setting(_)
            | LlmError::InvalidParam { .. }
            | LlmError::GaveUp { .. }
            | LlmError::MissingAsset { .. }
            | LlmError::ServerStart { .. } => false,
        }
    }

    /// The HTTP status when the endpoint refuses every request alike: 401 / 403 (the key),
    /// 404 (the model or the path). A run stops at the first one.
    pub fn fatal_status(&self) -> Option<u16> {
        match self.root() {
            LlmError::Http { status, .. } if matches!(status, 401 | 403 | 404) => Some(*status),
            _ => None,
        }
    }

    /// The underlying error: the last attempt's error for [`LlmError::GaveUp`], else `self`.
    pub fn root(&self) -> &LlmError {
        match self {
            LlmError::GaveUp { last, .. } => last.root(),
            other => other,
        }
    }
}

/// Longest `Retry-After` we wait for; longer asks are cut to this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// Characters of an error body kept in errors and logs.
pub(crate) const BODY_EXCERPT_CHARS: usize = 300;

/// `Retry-After` (or `retry-after-ms`), at most [`MAX_RETRY_AFTER`].
pub(crate) fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    crate::http::parse_retry_after(headers, MAX_RETRY_AFTER)
}

/// A 2xx response as is; any other status as an [`LlmError`] with its `Retry-After` and a
/// body excerpt (429 → [`LlmError::RateLimited`], else [`LlmError::Http`]).
pub(crate) async fn check_status(
    response: reqwest::Response,
) -> Result<reqwest::Response, LlmError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = parse_retry_after(response.headers());
    let body = match response.bytes().await {
        Ok(bytes) => excerpt(&String::from_utf8_lossy(&bytes), BODY_EXCERPT_CHARS),
        Err(e) => format!("<body unreadable: {}>", error_chain(&e.without_url())),
    };
    Err(if status.as_u16() == 429 {
        LlmError::RateLimited { retry_after, body }
    } else {
        LlmError::Http {
            status: status.as_u16(),
            body,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classification() {
        let http = |status| LlmError::Http {
            status,
            body: String::new(),
        };
        assert!(http(500).is_retryable());
        assert!(http(503).is_retryable());
        assert!(http(408).is_retryable());
        assert!(!http(400).is_retryable());
        assert!(!http(401).is_retryable());
        assert!(!http(404).is_retryable());
        assert_eq!(http(403).fatal_status(), Some(403));
        assert_eq!(http(400).fatal_status(), None);
        assert_eq!(http(500).fatal_status(), None);
        assert!(LlmError::Timeout(Duration::from_secs(1)).is_retryable());
        let gave_up = LlmError::GaveUp {
            attempts: 3,
            last: Box::new(LlmError::Timeout(Duration::from_secs(1))),
        };
        assert!(!gave_up.is_retryable());
        assert!(matches!(gave_up.root(), LlmError::Timeout(_)));
    }

    #[test]
    fn excerpt_is_char_safe() {
        use crate::http::excerpt;
        assert_eq!(excerpt("  abc  ", 10), "abc");
        assert_eq!(excerpt("ééééé", 3), "ééé…");
        assert_eq!(excerpt("", 3), "");
    }
}
