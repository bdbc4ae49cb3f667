//! The run journal: an append-only JSONL file of finished LLM requests and accepted rows,
//! written as the run goes (one flushed line per event).
//!
//! Resume works by replay: requests are keyed by a hash of their full content (model,
//! messages, seed, sampling), the pipeline is deterministic given the answers, so a resumed
//! run asks the journal first and the LLM only for what is missing. It ends with the same rows
//! an uninterrupted run has, none lost and none twice. A torn last line (kill -9) is ignored.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Journal errors.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or appending failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A previous run is there and neither resume nor overwrite was asked.
    #[error(
        "{path} holds a previous run: pass --resume to continue it, or --overwrite to start over"
    )]
    Exists {
        /// The journal file.
        path: PathBuf,
    },
}

/// The recorded outcome of one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum RequestOutcome {
    /// The endpoint answered.
    Answered {
        /// The answer text.
        text: String,
        /// `stop`, `length`, …
        finish_reason: Option<String>,
        /// Prompt tokens.
        prompt_tokens: u32,
        /// Completion tokens.
        completion_tokens: u32,
        /// Attempts it took (1 = no retry).
        attempts: u32,
    },
    /// Given up after retries.
    Failed {
        /// The last error.
        error: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
enum Event {
    Request {
        key: String,
        #[serde(flatten)]
        outcome: RequestOutcome,
    },
    Accepted {
        key: String,
        label: String,
        text: String,
    },
}

/// An open journal.
pub struct Journal {
    path: PathBuf,
    file: File,
    requests: HashMap<String, RequestOutcome>,
    accepted: HashSet<String>,
    replayed: usize,
}

impl Journal {
    /// Opens `path`. With `resume`, earlier events are loaded; with `overwrite`, any earlier
    /// journal is discarded; with neither, an existing non-empty journal is an error.
    pub fn open(path: &Path, resume: bool, overwrite: bool) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let exists = path.metadata().map(|m| m.len() > 0).unwrap_or(false);
        let mut requests = HashMap::new();
        let mut accepted = HashSet::new();
        if exists && !resume && !overwrite {
            return Err(JournalError::Exists { path: path.into() });
        }
        if exists && resume {
            let reader = BufReader::new(File::open(path).map_err(io)?);
            for (i, line) in reader.split(b'\n').enumerate() {
                let line = line.map_err(io)?;
                match serde_json::from_slice::<Event>(&line) {
                    Ok(Event::Request { key, outcome }) => {
                        requests.insert(key, outcome);
                    }
                    Ok(Event::Accepted { key, .. }) => {
                        accepted.insert(key);
                    }
                    Err(e) if !line.is_empty() => {
                        tracing::warn!(
                            "{}: line {} ignored (torn write?): {e}",
                            path.display(),
                            i + 1
                        )
                    }
                    Err(_) => {}
                }
            }
            tracing::info!(
                "resuming from {}: {} finished requests, {} accepted rows",
                path.display(),
                requests.len(),
                accepted.len()
            );
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(resume)
            .write(true)
            .truncate(!resume)
            .open(path)
            .map_err(io)?;
        // A torn last line must not glue onto the next event.
        if resume && exists {
            file.write_all(b"\n").map_err(io)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            requests,
            accepted,
            replayed: 0,
        })
    }

    /// The recorded outcome of a request, if it finished in an earlier run.
    ///
    /// Only answers are replayed: a request that failed (endpoint down, bad key) is asked
    /// again, so fixing the cause and resuming fills the gap.
    pub fn lookup(&mut self, key: &str) -> Option<RequestOutcome> {
        let hit = self
            .requests
            .get(key)
            .filter(|o| matches!(o, RequestOutcome::Answered { .. }))
            .cloned();
        if hit.is_some() {
            self.replayed += 1;
        }
        hit
    }

    /// How many requests were answered from the journal.
    pub fn replayed(&self) -> usize {
        self.replayed
    }

    fn append(&mut self, event: &Event) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(event).unwrap_or_default();
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| self.file.flush())
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Records a finished request (skipped when its answer is already recorded).
    pub fn record_request(
        &mut self,
        key: &str,
        outcome: &RequestOutcome,
    ) -> Result<(), JournalError> {
        if matches!(
            self.requests.get(key),
            Some(RequestOutcome::Answered { .. })
        ) {
            return Ok(());
        }
        self.requests.insert(key.to_string(), outcome.clone());
        self.append(&Event::Request {
            key: key.to_string(),
            outcome: outcome.clone(),
        })
    }

    /// Records an accepted row (skipped when it is already recorded).
    pub fn record_accepted(
        &mut self,
        key: &str,
        label: &str,
        text: &str,
    ) -> Result<(), JournalError> {
        if !self.accepted.insert(key.to_string()) {
            return Ok(());
        }
        self.append(&Event::Accepted {
            key: key.to_string(),
            label: label.to_string(),
            text: text.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(t: &str) -> RequestOutcome {
        RequestOutcome::Answered {
            text: t.into(),
            finish_reason: Some("stop".into()),
            prompt_tokens: 10,
            completion_tokens: 5,
            attempts: 1,
        }
    }

    #[test]
    fn failures_are_asked_again() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        let mut j = Journal::open(&p, false, false).unwrap();
        let failed = RequestOutcome::Failed {
            error: "HTTP 401".into(),
        };
        j.record_request("k", &failed).unwrap();
        drop(j);
        let mut j = Journal::open(&p, true, false).unwrap();
        assert_eq!(j.lookup("k"), None);
        j.record_request("k", &answered("late")).unwrap();
        drop(j);
        let mut j = Journal::open(&p, true, false).unwrap();
        assert_eq!(j.lookup("k"), Some(answered("late")));
    }

    #[test]
    fn replays_after_a_torn_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        {
            let mut j = Journal::open(&p, false, false).unwrap();
            j.record_request("k1", &answered("one")).unwrap();
            j.record_accepted("a1", "T1003", "one").unwrap();
        }
        // simulate kill -9 in the middle of a line
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"event\":\"request\",\"key\":\"k2\",\"sta")
            .unwrap();
        drop(f);
        assert!(matches!(
            Journal::open(&p, false, false),
            Err(JournalError::Exists { .. })
        ));
        let mut j = Journal::open(&p, true, false).unwrap();
        assert_eq!(j.lookup("k1"), Some(answered("one")));
        assert_eq!(j.lookup("k2"), None);
        j.record_request("k2", &answered("two")).unwrap();
        j.record_accepted("a1", "T1003", "one").unwrap(); // not twice
        drop(j);
        let mut j = Journal::open(&p, true, false).unwrap();
        assert_eq!(j.lookup("k2"), Some(answered("two")));
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.matches("\"accepted\"").count(), 1);
        let j = Journal::open(&p, false, true).unwrap();
        drop(j);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "");
    }
}
