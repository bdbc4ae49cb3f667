//! Small HTTP helpers shared by the LLM client and the remote embedder: URLs safe to print,
//! body excerpts, `Retry-After`, and API-key variable names.

use std::time::Duration;

use crate::setting::{NOT_SHOWN, SettingError};

/// Longest environment variable name accepted for an API key.
const MAX_ENV_NAME: usize = 128;

/// What a setting naming an API key's variable must be.
const ENV_VAR_RULE: &str = "the name of an environment variable (letters, digits and `_`, \
                            not starting with a digit), not the key itself";

/// Whether `name` looks like an environment variable name: `^[A-Za-z_][A-Za-z0-9_]*$`.
pub fn is_env_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_ENV_NAME
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `name`, the setting `key`, names an environment variable ([`is_env_var_name`]). The
/// error does not show the value: it may be the key itself.
pub(crate) fn check_env_var_name(key: &str, name: &str) -> Result<(), SettingError> {
    if !is_env_var_name(name) {
        return Err(SettingError::rule(key, ENV_VAR_RULE, NOT_SHOWN));
    }
    Ok(())
}

/// `url` safe to print: user info becomes `***@`, a query or fragment becomes `?***`, and
/// it is cut to 200 characters. Works on strings that do not parse as URLs too.
pub fn redact_url(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(at) => format!("***@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    let path = match tail.find(['?', '#']) {
        Some(q) => format!("{}?***", &tail[..q]),
        None => tail.to_string(),
    };
    excerpt(&format!("{scheme}{host}{path}"), 200)
}

/// Cut `text` to at most `max` characters (on a char boundary), marking the cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// `Retry-After` in (possibly fractional) seconds, or `retry-after-ms`, at most `cap`. The
/// HTTP-date form is not understood (the backoff applies then).
pub(crate) fn parse_retry_after(
    headers: &reqwest::header::HeaderMap,
    cap: Duration,
) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let secs = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0);
    header("retry-after-ms")
        .and_then(secs)
        .map(|ms| ms / 1000.0)
        .or_else(|| header("retry-after").and_then(secs))
        .map(|s| Duration::from_secs_f64(s.min(cap.as_secs_f64())))
}
