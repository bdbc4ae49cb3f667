//! The vocabulary of a run's outcome, shared by `generate` (which decides) and `report`
//! (which counts and prints): why a candidate did not become a row ([`Rejection`]), why a
//! run stopped ([`StopReason`], [`RunLimit`]), how a request failed ([`FailureKind`]) and how
//! the run ended ([`RunOutcome`], [`IncompleteRun`]).
//!
//! It sits below both and imports neither.

use serde::{Serialize, Serializer};

use crate::filter::RejectReason;
use crate::llm::ParseReject;

/// Why a candidate did not become a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// A piece of the LLM answer that is not a sentence.
    Parse(ParseReject),
    /// A filter turned it down.
    Filter(RejectReason),
    /// Its cluster already had every row it needed.
    OverTarget,
    /// Accepted into the pool, but not chosen by the selection (`select.method = "mmr"`).
    NotSelected,
}

impl Rejection {
    /// The kebab-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parse(p) => match p {
                ParseReject::Empty => "unparseable-empty",
                ParseReject::Chatter => "unparseable-chatter",
                ParseReject::Heading => "unparseable-heading",
                ParseReject::NoLetters => "unparseable-no-letters",
                ParseReject::OutsideList => "unparseable-outside-list",
                ParseReject::OutsideJson => "unparseable-outside-json",
                ParseReject::NotAString => "unparseable-not-a-string",
                ParseReject::TruncatedJson => "unparseable-truncated-json",
            },
            Self::Filter(r) => r.as_str(),
            Self::OverTarget => "over-target",
            Self::NotSelected => "not-selected",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Rejection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Ordered by name, so report tables read alphabetically.
impl Ord for Rejection {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Rejection {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a run stopped before every row it wanted was there.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StopReason {
    /// The endpoint refused a request in a way every request would be refused (401, 403, 404).
    EndpointRefused {
        /// Endpoint host (no user info, path or query).
        host: String,
        /// The HTTP status.
        status: u16,
    },
    /// This many requests failed in a row (`generate.max_consecutive_failures`).
    ConsecutiveFailures {
        /// Failures in a row.
        count: usize,
        /// The last one's error.
        last_error: String,
    },
    /// The local llama-server exited during the run.
    LocalServerExited {
        /// Its log file.
        log: String,
    },
    /// Requests failed for good and the attempt budget is spent.
    RequestsFailed {
        /// Requests given up in this run.
        failed: u64,
    },
    /// A budget limit of this run was reached (resume with a higher one to go on).
    Limit {
        /// Which limit.
        limit: RunLimit,
        /// Its value.
        value: f64,
    },
    /// `--batch-export`: the requests without an answer were written for an offline engine;
    /// run them, then `--resume --batch-import OUTPUT`.
    BatchExported {
        /// The file written.
        file: String,
        /// Requests in it.
        requests: usize,
    },
    /// A Batch API batch ended without answering (failed or cancelled).
    BatchStopped {
        /// The batch id.
        id: String,
        /// Its final status.
        status: String,
    },
}

/// The budget limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunLimit {
    /// `--max-requests`: requests sent to the endpoint.
    MaxRequests,
    /// `--max-tokens-total`: prompt + completion tokens.
    MaxTokensTotal,
    /// `--max-cost`: cost from the configured prices.
    MaxCost,
}

impl RunLimit {
    /// The flag that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            RunLimit::MaxRequests => "--max-requests",
            RunLimit::MaxTokensTotal => "--max-tokens-total",
            RunLimit::MaxCost => "--max-cost",
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::EndpointRefused { host, status } => {
                let hint = match status {
                    401 => "unauthorized: check the API key in the variable --api-key-env names",
                    403 => "forbidden: the key has no access to this model or endpoint",
                    404 => "not found: check --model and the path of --base-url",
                    _ => "refused",
                };
                write!(f, "the LLM endpoint {host} answered HTTP {status} ({hint})")
            }
            StopReason::ConsecutiveFailures { count, last_error } => write!(
                f,
                "{count} requests in a row failed (--max-consecutive-failures); last error: {last_error}"
            ),
            StopReason::LocalServerExited { log } => {
                write!(
                    f,
                    "the local llama-server exited during the run (log: {log})"
                )
            }
            StopReason::RequestsFailed { failed } => write!(
                f,
                "{failed} request(s) failed for good and the attempt budget is spent"
            ),
            StopReason::Limit { limit, value } => {
                write!(f, "{} {value} reached", limit.flag())
            }
            StopReason::BatchExported { file, requests } => write!(
                f,
                "{requests} request(s) written to {file} for an offline batch engine (e.g. \
                 `vllm run-batch -i {file} -o OUT`)"
            ),
            StopReason::BatchStopped { id, status } => {
                write!(f, "batch {id} ended {status} without answers")
            }
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum RunOutcome {
    /// Every request that was needed was made; rows may still be missing when the filters
    /// turned down more candidates than the attempt budget could replace.
    Complete {
        /// Rows the target asked for that are not there.
        missing_rows: usize,
    },
    /// Rows are missing because the run stopped or requests failed; `--resume` continues.
    Incomplete {
        /// Why.
        reason: StopReason,
        /// Rows the target asked for that are not there.
        missing_rows: usize,
    },
}

impl Default for RunOutcome {
    fn default() -> Self {
        RunOutcome::Complete { missing_rows: 0 }
    }
}

impl RunOutcome {
    /// The process exit code: 0 complete, 4 stopped by a budget limit, 5 waiting for an
    /// exported batch, 3 incomplete because of failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunOutcome::Complete { .. } => 0,
            RunOutcome::Incomplete {
                reason: StopReason::Limit { .. },
                ..
            } => 4,
            RunOutcome::Incomplete {
                reason: StopReason::BatchExported { .. },
                ..
            } => 5,
            RunOutcome::Incomplete { .. } => 3,
        }
    }
}

/// `augment` ended with rows missing because it stopped or requests failed. The rows and the
/// report are written; the process exits with [`RunOutcome::exit_code`].
#[derive(Debug)]
pub struct IncompleteRun {
    /// Why.
    pub reason: StopReason,
    /// Rows missing.
    pub missing_rows: usize,
    /// The journal to resume from.
    pub journal: String,
}

impl std::fmt::Display for IncompleteRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.reason {
            StopReason::Limit { .. } => "raise the limit",
            StopReason::BatchExported { .. } => "run it, then add --batch-import OUT",
            _ => "fix the cause",
        };
        write!(
            f,
            "run incomplete, {} row(s) missing: {}; finished requests are in {}: {what} and \
             rerun with --resume",
            self.missing_rows, self.reason, self.journal
        )
    }
}

impl std::error::Error for IncompleteRun {}

impl IncompleteRun {
    /// The error for a run that ended incomplete, `None` when it is complete.
    pub fn of(outcome: &RunOutcome, journal: &std::path::Path) -> Option<Self> {
        match outcome {
            RunOutcome::Complete { .. } => None,
            RunOutcome::Incomplete {
                reason,
                missing_rows,
            } => Some(IncompleteRun {
                reason: reason.clone(),
                missing_rows: *missing_rows,
                journal: journal.display().to_string(),
            }),
        }
    }

    /// The process exit code (3, or 4 for a budget limit).
    pub fn exit_code(&self) -> u8 {
        RunOutcome::Incomplete {
            reason: self.reason.clone(),
            missing_rows: self.missing_rows,
        }
        .exit_code()
    }
}

/// Why a failed request failed (the last attempt's error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// HTTP 4xx other than 429.
    ClientError,
    /// HTTP 5xx.
    ServerError,
    /// HTTP 429.
    RateLimited,
    /// The per-request timeout.
    Timeout,
    /// A 2xx answer that is not a usable completion.
    InvalidResponse,
    /// No HTTP answer (connection refused, reset, cut body).
    Transport,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// The kebab-case name (as in `report.json`).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::ClientError => "client-error",
            FailureKind::ServerError => "server-error",
            FailureKind::RateLimited => "rate-limited",
            FailureKind::Timeout => "timeout",
            FailureKind::InvalidResponse => "invalid-response",
            FailureKind::Transport => "transport",
            FailureKind::Other => "other",
        }
    }
}
