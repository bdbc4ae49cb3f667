//! The Fetcher: answers for planned requests from the journal, else from the endpoint (the
//! configured one, or the bundled llama-server started here), `concurrency` in flight, each
//! finished request journaled as it comes, the [`RunGuard`] consulted before and after every
//! request. Answers come back in completion order; [`Reorder`] puts them back in request
//! order for the Acceptor.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::{Stream, StreamExt};

mod batch;

pub use batch::BatchSink;

use super::GenerateError;
use super::guard::{GuardSummary, RunGuard};
use super::identity::{endpoint_request_key, legacy_request_key};
use super::plan::PlannedRequest;
use crate::config::ValidConfig;
use crate::error_chain;
use crate::journal::{Journal, JournalError, RequestOutcome};
use crate::llm::{EndpointPool, LocalServer};
use crate::report::LlmUsage;

/// Puts items numbered 0, 1, 2, ... that arrive in any order back in order.
#[derive(Debug)]
pub struct Reorder<T> {
    next: usize,
    waiting: BTreeMap<usize, T>,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Self {
            next: 0,
            waiting: BTreeMap::new(),
        }
    }
}

impl<T> Reorder<T> {
    /// Takes item `i`; returns the items now ready, in order (empty while an earlier one is
    /// missing).
    pub fn push(&mut self, i: usize, item: T) -> Vec<(usize, T)> {
        self.waiting.insert(i, item);
        let mut ready = Vec::new();
        while let Some(item) = self.waiting.remove(&self.next) {
            ready.push((self.next, item));
            self.next += 1;
        }
        ready
    }
}

/// The URL an offline (`--batch-export`) Fetcher names when none is configured; never
/// contacted.
const OFFLINE_URL: &str = "http://offline.invalid/v1";

/// The endpoint, its journal and its guard for one run.
pub struct Fetcher {
    client: EndpointPool,
    /// Batch mode: where requests the journal cannot answer go.
    sink: Option<BatchSink>,
    journal: Mutex<Journal>,
    guard: RunGuard,
    /// Kept alive for the run; stopped when the last handle (here or in the guard) drops.
    server: Option<Arc<LocalServer>>,
}

impl Fetcher {
    /// Starts the local server when no endpoint is configured, and builds the client (or the
    /// endpoint pool of `[[llm.endpoints]]`).
    pub async fn open(cfg: &ValidConfig, journal: Journal) -> Result<Self, GenerateError> {
        let server = match cfg.llm.is_local() {
            false => None,
            true => Some(Arc::new(LocalServer::start(&cfg.local).await?)),
        };
        let client = match (&server, &cfg.llm.base_url) {
            (Some(s), _) => EndpointPool::local(&cfg.llm, s.base_url())?,
            (None, Some(url)) => EndpointPool::single(&cfg.llm, url)?,
            (None, None) => EndpointPool::new(&cfg.llm)?,
        };
        let guard = RunGuard::new(&cfg.generate, client.endpoint_host(), server.clone());
        Ok(Self {
            sink: cfg.llm.batch.then_some(BatchSink::Api),
            client,
            journal: Mutex::new(journal),
            guard,
            server,
        })
    }

    /// The endpoint's host name (no scheme, port, path or key), for provenance.
    pub fn endpoint(&self) -> String {
        self.client.endpoint_host()
    }

    /// The journal, whatever a panic elsewhere left in its lock (its state stays consistent:
    /// every event is one appended line).
    fn journal(&self) -> MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A Fetcher that contacts no endpoint: requests the journal cannot answer go to a batch
    /// JSONL file at `path` for an offline engine (`--batch-export`), and the run stops.
    pub fn offline(
        cfg: &ValidConfig,
        journal: Journal,
        path: std::path::PathBuf,
    ) -> Result<Self, GenerateError> {
        let url = cfg.llm.base_url.as_deref().unwrap_or(OFFLINE_URL);
        let client = EndpointPool::single(&cfg.llm, url)?;
        let guard = RunGuard::new(&cfg.generate, client.endpoint_host(), None);
        Ok(Self {
            sink: Some(BatchSink::Export(path)),
            client,
            journal: Mutex::new(journal),
            guard,
            server: None,
        })
    }

    /// The journal's answer to a request (under its key, or the keys of earlier versions).
    fn replay(&self, p: &PlannedRequest) -> Option<RequestOutcome> {
        let found = self.journal().lookup(&p.key);
        let llm = self.client.config();
        found
            .or_else(|| {
                let key = endpoint_request_key(llm, &p.request)?;
                self.journal().lookup(&key)
            })
            .or_else(|| {
                let legacy = legacy_request_key(llm, &p.request);
                self.journal().lookup(&legacy)
            })
    }

    /// One request: the journal's answer, else the endpoint's (journaled). `None`: not sent
    /// because the run is stopping.
    async fn ask(&self, p: &PlannedRequest) -> Result<Option<RequestOutcome>, GenerateError> {
        if let Some(o) = self.replay(p) {
            return Ok(Some(o));
        }
        if !self.guard.admit(&self.client) {
            return Ok(None);
        }
        let result = self.client.complete(&p.request).await;
        self.guard.record(&result);
        let outcome = batch::outcome(result.map_err(|e| error_chain(&e)));
        self.journal().record_request(&p.key, &outcome)?;
        Ok(Some(outcome))
    }

    /// Every planned request, `concurrency` in flight, yielded as `(index, outcome)` in
    /// completion order, so one slow request never holds a free slot. A journal write failure
    /// ends the stream with the error (every answer received before it is on disk).
    pub fn stream<'s>(
        &'s self,
        planned: &'s [PlannedRequest],
    ) -> impl Stream<Item = Result<(usize, Option<RequestOutcome>), GenerateError>> + 's {
        match &self.sink {
            Some(sink) => futures::stream::once(self.batch_round(planned, sink))
                .flat_map(|round| {
                    let items: Vec<_> = match round {
                        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
                        Err(e) => vec![Err(e)],
                    };
                    futures::stream::iter(items)
                })
                .left_stream(),
            None => futures::stream::iter(planned.iter().enumerate())
                .map(move |(i, p)| async move { Ok((i, self.ask(p).await?)) })
                .buffer_unordered(self.client.concurrency())
                .right_stream(),
        }
    }

    /// Journals an accepted row under its request's key.
    pub fn record_accepted(
        &self,
        key: &str,
        technique: &str,
        text: &str,
    ) -> Result<(), JournalError> {
        self.journal().record_accepted(key, technique, text)
    }

    /// Flushes the journal to disk.
    pub fn sync(&self) -> Result<(), JournalError> {
        self.journal().sync()
    }

    /// Whether the guard stopped the run.
    pub fn stopped(&self) -> bool {
        self.guard.stopped()
    }

    /// The run's LLM totals and the guard's summary; stops the local server.
    pub fn finish(self, model: &str, elapsed: f64) -> (LlmUsage, GuardSummary) {
        let replayed = self.journal().replayed();
        let summary = self.guard.finish();
        drop(self.server);
        let stats = self.client.stats();
        let usage = LlmUsage {
            model: model.to_string(),
            endpoint: self.client.endpoint_host(),
            requests: stats.calls,
            answered: stats.successes,
            not_sent: summary.not_sent,
            replayed,
            retries: stats.retries,
            failed: stats.failures,
            failed_by: summary.failed_by.clone(),
            attempts: stats.requests,
            timeouts: stats.timeouts,
            invalid_responses: stats.invalid_responses,
            http_errors: stats.http_errors,
            transport_errors: stats.transport_errors,
            rate_limited: stats.rate_limited,
            truncated: stats.truncated,
            prompt_tokens: stats.prompt_tokens,
            completion_tokens: stats.completion_tokens,
            tokens_per_second: stats.completion_tokens as f64 / elapsed.max(1e-9),
            cost: stats.cost_usd,
            endpoints: self.client.endpoint_usage(elapsed),
        };
        (usage, summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::generate::identity::{journal_header, request_key};
    use crate::journal::JournalHeader;
    use crate::llm::{ChatMessage, ChatRequest};

    #[test]
    fn reorder_releases_prefixes_in_order() {
        let mut r = Reorder::default();
        assert!(r.push(2, 'c').is_empty());
        assert!(r.push(1, 'b').is_empty());
        assert_eq!(r.push(0, 'a'), vec![(0, 'a'), (1, 'b'), (2, 'c')]);
        assert_eq!(r.push(3, 'd'), vec![(3, 'd')]);
        assert!(r.push(5, 'f').is_empty());
        assert_eq!(r.push(4, 'e'), vec![(4, 'e'), (5, 'f')]);
    }

    /// A journal written with the keys and header of earlier versions (the pre-stage-split
    /// keys; the keys and config hash that held the endpoint URL) is replayed: no request
    /// reaches the endpoint (nothing listens at its address).
    #[tokio::test]
    async fn answers_under_earlier_keys_and_headers_are_replayed() {
        for earlier in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut cfg = Config::default();
            cfg.llm.base_url = Some("http://127.0.0.1:9/v1".into());
            let cfg = cfg.validate().unwrap();
            let req = ChatRequest::new(vec![ChatMessage::user("Write one sentence.")], 5);
            let answered = RequestOutcome::Answered {
                text: "An old answer.".into(),
                finish_reason: Some("stop".into()),
                prompt_tokens: 3,
                completion_tokens: 4,
                attempts: 1,
            };
            let path = dir.path().join("journal.jsonl");
            let header = journal_header(&cfg, &[]);
            let (written, key) = match earlier {
                false => (header.clone(), legacy_request_key(&cfg.llm, &req)),
                // What synthcti wrote before the endpoint left the header and the keys.
                true => (
                    JournalHeader {
                        config: header.earlier_configs[1].clone(),
                        identity: 1,
                        ..header.clone()
                    },
                    endpoint_request_key(&cfg.llm, &req).unwrap(),
                ),
            };
            let mut old = Journal::open(&path, &written, false, false).unwrap();
            old.record_request(&key, &answered).unwrap();
            drop(old);
            let journal = Journal::open(&path, &header, true, false).unwrap();
            let fetcher = Fetcher::open(&cfg, journal).await.unwrap();
            let planned = [PlannedRequest {
                job: 0,
                slot: 0,
                seed: 5,
                key: request_key(&cfg.llm, &req),
                request: req,
                example_ids: Vec::new(),
                rewrite_of: None,
                placeholders: Default::default(),
                redacted: Default::default(),
            }];
            let got: Vec<_> = fetcher.stream(&planned).collect().await;
            assert_eq!(got.len(), 1);
            let (i, outcome) = got.into_iter().next().unwrap().unwrap();
            assert_eq!((i, outcome), (0, Some(answered)));
            let (usage, _) = fetcher.finish("m", 1.0);
            assert_eq!(usage.requests, 0, "nothing was sent");
        }
    }
}
