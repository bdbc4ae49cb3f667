//! Thread-safe request and token accounting for one [`LlmClient`](super::LlmClient).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Live counters, shared by all clones of one client and updated with relaxed atomics.
#[derive(Debug, Default)]
pub(crate) struct LlmStats {
    pub(crate) calls: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) successes: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) invalid_responses: AtomicU64,
    pub(crate) http_errors: AtomicU64,
    pub(crate) transport_errors: AtomicU64,
    pub(crate) truncated: AtomicU64,
    pub(crate) prompt_tokens: AtomicU64,
    pub(crate) completion_tokens: AtomicU64,
    pub(crate) request_micros: AtomicU64,
}

impl LlmStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_time(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.request_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, cfg: &super::LlmConfig) -> LlmStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let prompt_tokens = get(&self.prompt_tokens);
        let completion_tokens = get(&self.completion_tokens);
        let cost_usd = cfg.cost(prompt_tokens, completion_tokens);
        LlmStatsSnapshot {
            calls: get(&self.calls),
            requests: get(&self.requests),
            successes: get(&self.successes),
            failures: get(&self.failures),
            retries: get(&self.retries),
            rate_limited: get(&self.rate_limited),
            timeouts: get(&self.timeouts),
            invalid_responses: get(&self.invalid_responses),
            http_errors: get(&self.http_errors),
            transport_errors: get(&self.transport_errors),
            truncated: get(&self.truncated),
            prompt_tokens,
            completion_tokens,
            request_secs: get(&self.request_micros) as f64 / 1e6,
            cost_usd,
        }
    }
}

/// A point-in-time copy of a client's counters, for the run report.
///
/// `calls` counts [`LlmClient::complete`](super::LlmClient::complete) invocations; every call
/// ends as exactly one success or one failure. `requests` counts HTTP attempts (retries
/// included), so `requests = successes + retries + failures` once all calls have returned.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LlmStatsSnapshot {
    /// `complete()` calls started.
    pub calls: u64,
    /// HTTP attempts sent (first tries plus retries).
    pub requests: u64,
    /// Calls that returned a completion.
    pub successes: u64,
    /// Calls that returned an error (given up or not retryable).
    pub failures: u64,
    /// Attempts that were retried after a retryable error.
    pub retries: u64,
    /// Attempts answered with HTTP 429.
    pub rate_limited: u64,
    /// Attempts that hit the per-request timeout.
    pub timeouts: u64,
    /// Attempts answered 2xx with an unusable body.
    pub invalid_responses: u64,
    /// Attempts answered with a non-2xx status other than 429.
    pub http_errors: u64,
    /// Attempts that got no HTTP answer (connection refused, reset, ...).
    pub transport_errors: u64,
    /// Successful completions cut by `max_tokens` (`finish_reason = "length"`).
    pub truncated: u64,
    /// Prompt tokens reported by the endpoint's `usage`, successful attempts only.
    pub prompt_tokens: u64,
    /// Completion tokens reported by the endpoint's `usage`, successful attempts only.
    pub completion_tokens: u64,
    /// Wall time spent inside HTTP attempts, summed over all attempts (overlapping
    /// concurrent attempts add up; backoff sleeps and semaphore waits are excluded).
    pub request_secs: f64,
    /// Cost from the configured prices per 1k tokens; `None` when no price is set.
    pub cost_usd: Option<f64>,
}

impl LlmStatsSnapshot {
    /// Completion tokens per second of request time (0 when nothing was timed).
    pub fn completion_tokens_per_sec(&self) -> f64 {
        if self.request_secs > 0.0 {
            self.completion_tokens as f64 / self.request_secs
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_from_prices() {
        let s = LlmStats::default();
        LlmStats::add(&s.prompt_tokens, 2000);
        LlmStats::add(&s.completion_tokens, 500);
        let priced = |p, c| super::super::LlmConfig {
            price_per_1k_prompt: p,
            price_per_1k_completion: c,
            ..Default::default()
        };
        assert_eq!(s.snapshot(&priced(None, None)).cost_usd, None);
        let snap = s.snapshot(&priced(Some(0.5), Some(1.5)));
        assert!((snap.cost_usd.unwrap() - (1.0 + 0.75)).abs() < 1e-12);
        let snap = s.snapshot(&priced(None, Some(2.0)));
        assert!((snap.cost_usd.unwrap() - 1.0).abs() < 1e-12);
    }
}
