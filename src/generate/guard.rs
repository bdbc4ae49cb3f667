//! The run guard of the generation stage: budget limits, failures in a row, endpoint answers
//! that refuse every request (401/403/404), and the local server's health, checked before and
//! after every request. The first reason to stop wins; requests already in flight finish and
//! their answers are journaled.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::config::GenerateConfig;
use crate::error_chain;
use crate::llm::{Completion, EndpointPool, LlmError, LocalServer};
use crate::outcome::{FailureKind, RunLimit, StopReason};

/// Characters of the last error kept in a stop reason.
const LAST_ERROR_CHARS: usize = 300;

/// Counters and the stop reason, behind one lock.
#[derive(Debug, Default)]
struct State {
    stop: Option<StopReason>,
    sent: u64,
    consecutive: usize,
    failed: u64,
    not_sent: u64,
    failed_by: BTreeMap<FailureKind, u64>,
}

/// What the guard saw over a run.
#[derive(Debug, Default)]
pub struct GuardSummary {
    /// Why the run stopped early, if it did.
    pub stop: Option<StopReason>,
    /// Requests that failed for good.
    pub failed: u64,
    /// Requests not sent because the run was stopping.
    pub not_sent: u64,
    /// Failed requests by the kind of their last error.
    pub failed_by: BTreeMap<FailureKind, u64>,
}

/// Decides, request by request, whether the run goes on.
pub(super) struct RunGuard {
    max_consecutive: usize,
    max_requests: Option<u64>,
    max_tokens: Option<u64>,
    max_cost: Option<f64>,
    server: Option<Arc<LocalServer>>,
    host: String,
    state: Mutex<State>,
}

impl RunGuard {
    /// A guard with the limits of `g`, for the endpoint at `host` (served by `server` when it
    /// is the local one).
    pub fn new(g: &GenerateConfig, host: String, server: Option<Arc<LocalServer>>) -> Self {
        Self {
            max_consecutive: g.max_consecutive_failures.max(1),
            max_requests: g.max_requests,
            max_tokens: g.max_tokens_total,
            max_cost: g.max_cost,
            server,
            host,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not silence the guard: the counters stay usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn server_exited(&self) -> Option<StopReason> {
        let server = self.server.as_ref().filter(|s| !s.is_running())?;
        Some(StopReason::LocalServerExited {
            log: server.log_path().display().to_string(),
        })
    }

    fn limit_reached(&self, sent: u64, client: &EndpointPool) -> Option<StopReason> {
        let limit = |limit, value| Some(StopReason::Limit { limit, value });
        if let Some(max) = self.max_requests
            && sent >= max
        {
            return limit(RunLimit::MaxRequests, max as f64);
        }
        if self.max_tokens.is_none() && self.max_cost.is_none() {
            return None;
        }
        let stats = client.stats();
        if let Some(max) = self.max_tokens
            && stats.prompt_tokens + stats.completion_tokens >= max
        {
            return limit(RunLimit::MaxTokensTotal, max as f64);
        }
        if let Some(max) = self.max_cost
            && stats.cost_usd.unwrap_or(0.0) >= max
        {
            return limit(RunLimit::MaxCost, max);
        }
        None
    }

    /// Whether the next request may be sent; counts it as sent when so.
    pub fn admit(&self, client: &EndpointPool) -> bool {
        let mut st = self.lock();
        if st.stop.is_none() {
            st.stop = self
                .limit_reached(st.sent, client)
                .or_else(|| self.server_exited());
        }
        if st.stop.is_some() {
            st.not_sent += 1;
            return false;
        }
        st.sent += 1;
        true
    }

    /// Takes the result of a sent request into account.
    pub fn record(&self, result: &Result<Completion, LlmError>) {
        let mut st = self.lock();
        let err = match result {
            Ok(_) => {
                st.consecutive = 0;
                return;
            }
            Err(e) => e,
        };
        st.failed += 1;
        st.consecutive += 1;
        *st.failed_by.entry(failure_kind(err)).or_default() += 1;
        if st.stop.is_some() {
            return;
        }
        let consecutive = st.consecutive;
        st.stop = self.server_exited().or_else(|| {
            if let Some(status) = err.fatal_status() {
                Some(StopReason::EndpointRefused {
                    host: self.host.clone(),
                    status,
                })
            } else if consecutive >= self.max_consecutive {
                let text = error_chain(err);
                Some(StopReason::ConsecutiveFailures {
                    count: consecutive,
                    last_error: text.chars().take(LAST_ERROR_CHARS).collect(),
                })
            } else {
                None
            }
        });
        if let Some(reason) = &st.stop {
            tracing::error!("stopping the run: {reason}");
        }
    }

    /// Stops the run for `reason` (the first reason wins).
    pub fn halt(&self, reason: StopReason) {
        let mut st = self.lock();
        if st.stop.is_none() {
            tracing::warn!("stopping the run: {reason}");
            st.stop = Some(reason);
        }
    }

    /// Whether the run is stopping.
    pub fn stopped(&self) -> bool {
        self.lock().stop.is_some()
    }

    /// The totals.
    pub fn finish(self) -> GuardSummary {
        let st = self
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        GuardSummary {
            stop: st.stop,
            failed: st.failed,
            not_sent: st.not_sent,
            failed_by: st.failed_by,
        }
    }
}

/// The kind of a failed request's last error.
pub(super) fn failure_kind(err: &LlmError) -> FailureKind {
    match err.root() {
        LlmError::Http { status, .. } if *status >= 500 => FailureKind::ServerError,
        LlmError::Http { .. } => FailureKind::ClientError,
        LlmError::RateLimited { .. } => FailureKind::RateLimited,
        LlmError::Timeout(_) => FailureKind::Timeout,
        LlmError::InvalidResponse { .. } => FailureKind::InvalidResponse,
        LlmError::Transport(_) => FailureKind::Transport,
        _ => FailureKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::LlmConfig;

    fn client() -> EndpointPool {
        EndpointPool::single(&LlmConfig::default(), "http://127.0.0.1:9/v1").unwrap()
    }

    fn http(status: u16) -> Result<Completion, LlmError> {
        Err(LlmError::Http {
            status,
            body: String::new(),
        })
    }

    #[test]
    fn fatal_statuses_stop_at_once() {
        let g = GenerateConfig::default();
        let guard = RunGuard::new(&g, "api.example.com".into(), None);
        let c = client();
        assert!(guard.admit(&c));
        guard.record(&http(401));
        assert!(!guard.admit(&c));
        let s = guard.finish();
        assert_eq!(
            s.stop,
            Some(StopReason::EndpointRefused {
                host: "api.example.com".into(),
                status: 401
            })
        );
        assert_eq!((s.failed, s.not_sent), (1, 1));
        assert_eq!(s.failed_by[&FailureKind::ClientError], 1);
    }

    #[test]
    fn failures_in_a_row_stop_and_a_success_resets_them() {
        let g = GenerateConfig {
            max_consecutive_failures: 3,
            ..GenerateConfig::default()
        };
        let guard = RunGuard::new(&g, "h".into(), None);
        for _ in 0..2 {
            guard.record(&http(500));
        }
        guard.record(&Err(LlmError::Timeout(std::time::Duration::from_secs(1))));
        assert!(guard.stopped());
        let guard = RunGuard::new(&g, "h".into(), None);
        guard.record(&http(500));
        guard.record(&http(500));
        guard.record(&Ok(Completion {
            text: "x".into(),
            finish_reason: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            attempts: 1,
            latency_secs: 0.0,
        }));
        guard.record(&http(500));
        assert!(!guard.stopped());
    }

    #[test]
    fn the_request_limit_admits_exactly_that_many() {
        let g = GenerateConfig {
            max_requests: Some(2),
            ..GenerateConfig::default()
        };
        let guard = RunGuard::new(&g, "h".into(), None);
        let c = client();
        assert!(guard.admit(&c) && guard.admit(&c));
        assert!(!guard.admit(&c));
        assert!(matches!(
            guard.finish().stop,
            Some(StopReason::Limit {
                limit: RunLimit::MaxRequests,
                ..
            })
        ));
    }
}
