//! The Fetcher in batch mode: a round's requests without an answer in the journal go out as
//! Batch API batches (`llm.batch`) or into a JSONL file for an offline engine
//! (`--batch-export`); `--batch-import` journals an offline engine's output. Every batch id
//! is journaled before it is polled, so a killed run polls the same batch on `--resume`
//! instead of paying twice.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Fetcher;
use crate::fileio::read_regular;
use crate::generate::GenerateError;
use crate::generate::plan::PlannedRequest;
use crate::journal::RequestOutcome;
use crate::llm::batch::{BatchAnswers, BatchEnd, MAX_OUTPUT_BYTES, batch_files, read_batch_output};
use crate::llm::{Completion, LlmClient};
use crate::outcome::StopReason;
use crate::output::write_file;

/// Longest interval between two polls of a batch.
const MAX_POLL: Duration = Duration::from_secs(60);
/// First poll interval when `llm.batch_poll_secs` is unset.
const FIRST_POLL_SECS: f64 = 2.0;

/// Where a batch-mode Fetcher sends the requests the journal cannot answer.
#[derive(Debug, Clone)]
pub enum BatchSink {
    /// Batches on the endpoint's Batch API.
    Api,
    /// A JSONL file for an offline engine; the run stops after writing it.
    Export(PathBuf),
}

/// A request's result as the journal records it.
pub(super) fn outcome(result: Result<Completion, String>) -> RequestOutcome {
    match result {
        Ok(c) => RequestOutcome::Answered {
            text: c.text,
            finish_reason: c.finish_reason,
            prompt_tokens: c.prompt_tokens,
            completion_tokens: c.completion_tokens,
            attempts: c.attempts,
        },
        Err(error) => RequestOutcome::Failed { error },
    }
}

impl Fetcher {
    /// One round in batch mode: journal answers first, then one batch (or export) of the
    /// rest. Returns `(index, outcome)` for every planned request (`None`: not sent).
    pub(super) async fn batch_round(
        &self,
        planned: &[PlannedRequest],
        sink: &BatchSink,
    ) -> Result<Vec<(usize, Option<RequestOutcome>)>, GenerateError> {
        let mut out = Vec::with_capacity(planned.len());
        let mut pending = Vec::new();
        for (i, p) in planned.iter().enumerate() {
            match self.replay(p) {
                Some(o) => out.push((i, Some(o))),
                None => pending.push(i),
            }
        }
        if pending.is_empty() || self.guard.stopped() {
            out.extend(pending.into_iter().map(|i| (i, None)));
            return Ok(out);
        }
        let path = match sink {
            BatchSink::Export(path) => path,
            BatchSink::Api => {
                let admitted: Vec<usize> = pending
                    .into_iter()
                    .filter(|_| self.guard.admit(&self.client))
                    .collect();
                let mut outcomes = self.run_batches(planned, &admitted).await?;
                out.extend(admitted.into_iter().map(|i| {
                    let o = outcomes.remove(&planned[i].key).unwrap_or_else(|| {
                        outcome(Err("the batch ended without an answer for it".into()))
                    });
                    (i, Some(o))
                }));
                return Ok(out);
            }
        };
        self.export(planned, &pending, path)?;
        out.extend(pending.into_iter().map(|i| (i, None)));
        Ok(out)
    }

    /// Writes the pending requests as batch JSONL to `path` and stops the run.
    fn export(
        &self,
        planned: &[PlannedRequest],
        pending: &[usize],
        path: &Path,
    ) -> Result<(), GenerateError> {
        let client = self.client.first();
        let lines: Vec<_> = pending
            .iter()
            .map(|&i| (planned[i].key.clone(), client.body(&planned[i].request)))
            .collect();
        let mut bytes = Vec::new();
        for (_, file) in batch_files(&lines) {
            bytes.extend(file);
        }
        write_file(path, &bytes)?;
        self.guard.halt(StopReason::BatchExported {
            file: path.display().to_string(),
            requests: pending.len(),
        });
        Ok(())
    }

    /// Submits the admitted requests that no open batch of the journal covers, polls every
    /// batch they are in, journals the answers, and returns them by key.
    async fn run_batches(
        &self,
        planned: &[PlannedRequest],
        admitted: &[usize],
    ) -> Result<HashMap<String, RequestOutcome>, GenerateError> {
        let client = self.client.first();
        let wanted: HashSet<&str> = admitted.iter().map(|&i| planned[i].key.as_str()).collect();
        let mut batches: Vec<(String, Vec<String>)> = self
            .journal()
            .open_batches()
            .into_iter()
            .filter(|(_, keys)| keys.iter().any(|k| wanted.contains(k.as_str())))
            .collect();
        let covered: HashSet<String> = batches.iter().flat_map(|b| b.1.clone()).collect();
        let rest: Vec<_> = admitted
            .iter()
            .filter(|&&i| !covered.contains(&planned[i].key))
            .map(|&i| (planned[i].key.clone(), client.body(&planned[i].request)))
            .collect();
        for (keys, bytes) in batch_files(&rest) {
            let id = client.batch_submit(bytes).await?;
            tracing::info!(batch = %id, requests = keys.len(), "batch created");
            self.journal().record_batch(&id, &keys)?;
            batches.push((id, keys));
        }
        let first =
            Duration::from_secs_f64(client.config().batch_poll_secs.unwrap_or(FIRST_POLL_SECS));
        let mut outcomes = HashMap::new();
        for (id, keys) in batches {
            let (end, answers) = client.batch_wait(&id, first, MAX_POLL.max(first)).await?;
            self.journal_batch(client, &id, &keys, &end, answers, &mut outcomes)?;
        }
        Ok(outcomes)
    }

    /// Journals a finished batch's answers (a key without one failed), counts them, marks the
    /// batch done, and stops the run when the batch failed or was cancelled.
    fn journal_batch(
        &self,
        client: &LlmClient,
        id: &str,
        keys: &[String],
        end: &BatchEnd,
        mut answers: BatchAnswers,
        outcomes: &mut HashMap<String, RequestOutcome>,
    ) -> Result<(), GenerateError> {
        let missing = match end {
            BatchEnd::Expired => "the batch expired before answering it",
            _ => "the batch output has no line for it",
        };
        let mut done = Vec::new();
        let mut failed = 0;
        for key in keys {
            let result = answers.by_key.remove(key).unwrap_or(Err(missing.into()));
            match &result {
                Ok(c) => done.push(c.clone()),
                Err(_) => failed += 1,
            }
            let o = outcome(result);
            self.journal().record_request(key, &o)?;
            outcomes.insert(key.clone(), o);
        }
        client.count_batch(&done, failed);
        if answers.unreadable > 0 {
            tracing::warn!(
                batch = id,
                lines = answers.unreadable,
                "unreadable batch output lines ignored"
            );
        }
        self.journal().record_batch_done(id)?;
        tracing::info!(batch = id, answered = done.len(), failed, "batch journaled");
        if let BatchEnd::Stopped(status) = end {
            self.guard.halt(StopReason::BatchStopped {
                id: id.to_string(),
                status: status.clone(),
            });
        }
        Ok(())
    }

    /// Journals the answers of an offline engine's output file (`--batch-import`): lines of
    /// `{"custom_id", "response": {"status_code", "body"}}` whose `custom_id` is a journal key.
    pub fn import_batch(&self, path: &Path) -> Result<usize, GenerateError> {
        let bytes = read_regular(
            path,
            MAX_OUTPUT_BYTES as u64,
            "the batch output limit (1 GiB)",
        )
        .map_err(|problem| GenerateError::BatchImport {
            path: path.to_path_buf(),
            problem,
        })?;
        let mut answers = BatchAnswers::default();
        read_batch_output(&bytes, &mut answers);
        let mut answered = 0;
        for (key, result) in answers.by_key {
            answered += usize::from(result.is_ok());
            self.journal().record_request(&key, &outcome(result))?;
        }
        tracing::info!(
            file = %path.display(),
            answered,
            unreadable = answers.unreadable,
            "batch output imported"
        );
        Ok(answered)
    }
}
