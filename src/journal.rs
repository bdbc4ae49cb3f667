//! The run journal: an append-only JSONL file of finished LLM requests and accepted rows,
//! written as the run goes (one fsynced line per event), and the lock of the output directory.
//!
//! Resume works by replay: requests are keyed by a hash of their full content (model,
//! messages, seed, sampling), the pipeline is deterministic given the answers, so a resumed
//! run asks the journal first and the LLM only for what is missing. It ends with the same rows
//! an uninterrupted run has, none lost and none twice. A torn last line (kill -9) is ignored.
//!
//! The first line is a header naming the input, the configuration and the synthcti version; a
//! resume against another input or configuration is refused. `--overwrite` keeps a previous
//! journal that holds answers as `journal.jsonl.old` until the new run's first answer, so a
//! run that cannot reach its endpoint loses nothing that was paid for.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The lock file in an output directory.
pub const LOCK_FILE: &str = ".synthcti.lock";

/// The journal's file name in a run's output directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// Which part of the header differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderField {
    /// The input dataset.
    Input,
    /// The configuration (what shapes requests and filters; not limits or timeouts).
    Config,
}

impl std::fmt::Display for HeaderField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HeaderField::Input => "input dataset",
            HeaderField::Config => "configuration",
        })
    }
}

/// Journal errors.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or appending failed.
    #[error("journal {path}")]
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
    /// `--resume` against a journal of another input or configuration.
    #[error(
        "{path} belongs to another run: the {field} differs from the one it was written for \
         (journal {recorded}, now {current}); resume with the same {field}, or pass --overwrite \
         to start over"
    )]
    Mismatch {
        /// The journal file.
        path: PathBuf,
        /// What differs.
        field: HeaderField,
        /// The hash in the journal.
        recorded: String,
        /// The hash of this run.
        current: String,
    },
    /// A journal with events but no header (written by synthcti before 0.1 headers).
    #[error(
        "{path} has no run header, so it cannot be checked against this input and \
         configuration: pass --overwrite to start over"
    )]
    NoHeader {
        /// The journal file.
        path: PathBuf,
    },
    /// The journal path is not a regular file.
    #[error("{path} is not a regular file")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// Another run holds the output directory.
    #[error(
        "{dir} is in use by another synthcti run{}: wait for it to finish or choose another --output",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked {
        /// The output directory.
        dir: PathBuf,
        /// The holder's process id, when it could be read.
        pid: Option<u32>,
    },
}

impl JournalError {
    /// Whether this is a failure of the run (I/O, the lock) rather than of the journal's
    /// content or a mismatched resume.
    pub fn is_run_failure(&self) -> bool {
        matches!(self, Self::Io { .. } | Self::Locked { .. })
    }
}

/// What a journal belongs to: written as its first line, checked on resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalHeader {
    /// synthcti version that wrote it (a different version only warns).
    pub synthcti: String,
    /// Hash of the input rows (text, label, group).
    pub input: String,
    /// Hash of the run's identity: the settings that shape requests and filters.
    pub config: String,
    /// Version of the identity hashed into `config` (headers written before versions have
    /// none: version 1).
    #[serde(default = "identity_v1")]
    pub identity: u32,
    /// Hashes an earlier identity version gave this same configuration, accepted on resume
    /// from a journal whose header has that version (not written).
    #[serde(skip)]
    pub earlier_configs: Vec<String>,
}

fn identity_v1() -> u32 {
    1
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
    Header(JournalHeader),
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
    /// A Batch API batch created for these request keys.
    Batch {
        id: String,
        keys: Vec<String>,
    },
    /// That batch's answers are journaled (or it can give none).
    BatchDone {
        id: String,
    },
}

/// What an existing journal file holds.
#[derive(Default)]
struct Loaded {
    header: Option<JournalHeader>,
    requests: HashMap<String, RequestOutcome>,
    accepted: HashSet<String>,
    batches: Vec<(String, Vec<String>)>,
    batches_done: HashSet<String>,
    events: usize,
}

impl Loaded {
    fn answers(&self) -> usize {
        self.requests
            .values()
            .filter(|o| matches!(o, RequestOutcome::Answered { .. }))
            .count()
    }
}

/// Reads every event of `path`, skipping torn lines.
fn load(path: &Path) -> Result<Loaded, JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut out = Loaded::default();
    let reader = BufReader::new(File::open(path).map_err(io)?);
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(io)?;
        match serde_json::from_slice::<Event>(&line) {
            // The last header counts: a resume under a newer identity version appends one.
            Ok(Event::Header(h)) => out.header = Some(h),
            Ok(Event::Request { key, outcome }) => {
                out.events += 1;
                out.requests.insert(key, outcome);
            }
            Ok(Event::Accepted { key, .. }) => {
                out.events += 1;
                out.accepted.insert(key);
            }
            Ok(Event::Batch { id, keys }) => {
                out.events += 1;
                out.batches.push((id, keys));
            }
            Ok(Event::BatchDone { id }) => {
                out.batches_done.insert(id);
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
    Ok(out)
}

/// Fsyncs a directory, so that renames and new files in it survive a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)?.sync_all()
}

/// An open journal.
pub struct Journal {
    path: PathBuf,
    file: File,
    requests: HashMap<String, RequestOutcome>,
    accepted: HashSet<String>,
    batches: Vec<(String, Vec<String>)>,
    batches_done: HashSet<String>,
    replayed: usize,
    /// The previous run's journal, kept until this run's first answer.
    old: Option<PathBuf>,
}

impl Journal {
    /// Opens `path` for the run described by `header`. With `resume`, earlier events are
    /// loaded (refused when the header differs); with `overwrite`, an earlier journal is set
    /// aside (`*.old`, when it holds answers) and removed at this run's first answer; with
    /// neither, an existing non-empty journal is an error.
    pub fn open(
        path: &Path,
        header: &JournalHeader,
        resume: bool,
        overwrite: bool,
    ) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::symlink_metadata(path).ok();
        if meta.as_ref().is_some_and(|m| !m.file_type().is_file()) {
            return Err(JournalError::NotAFile { path: path.into() });
        }
        let loaded = match meta.filter(|m| m.len() > 0) {
            Some(_) => load(path)?,
            None => Loaded::default(),
        };
        let has_run = loaded.events > 0;
        if has_run && !resume && !overwrite {
            return Err(JournalError::Exists { path: path.into() });
        }
        let old = path.with_extension("jsonl.old");
        let keep = if resume && has_run {
            check_header(path, loaded.header.as_ref(), header)?;
            tracing::info!(
                "resuming from {}: {} finished requests, {} accepted rows",
                path.display(),
                loaded.requests.len(),
                loaded.accepted.len()
            );
            true
        } else {
            if loaded.answers() > 0 {
                // Paid answers: set aside until this run's endpoint has answered.
                std::fs::rename(path, &old).map_err(io)?;
                tracing::info!(
                    "previous journal kept as {} until the first answer",
                    old.display()
                );
            }
            false
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(keep)
            .write(true)
            .truncate(!keep)
            .open(path)
            .map_err(io)?;
        let mut line = Vec::new();
        if keep {
            // A torn last line must not glue onto the next event.
            line.push(b'\n');
        }
        // A journal resumed from an earlier identity version gets this run's header
        // appended, so that later resumes check the current form.
        let upgrade = loaded
            .header
            .as_ref()
            .is_none_or(|h| h.identity != header.identity);
        if !keep || upgrade {
            line.extend(serde_json::to_vec(&Event::Header(header.clone())).unwrap_or_default());
            line.push(b'\n');
        }
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(io)?;
        if let Some(dir) = path.parent() {
            sync_dir(dir).map_err(io)?;
        }
        let loaded = if keep { loaded } else { Loaded::default() };
        Ok(Self {
            path: path.to_path_buf(),
            file,
            requests: loaded.requests,
            accepted: loaded.accepted,
            batches: loaded.batches,
            batches_done: loaded.batches_done,
            replayed: 0,
            old: old.is_file().then_some(old),
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

    /// Appends one event line; `sync` also fsyncs it.
    fn append(&mut self, event: &Event, sync: bool) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(event).unwrap_or_default();
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| match sync {
                true => self.file.sync_data(),
                false => Ok(()),
            })
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Fsyncs what was appended without it (accepted rows; see [`Journal::record_accepted`]).
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.file.sync_data().map_err(|source| JournalError::Io {
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
        self.append(
            &Event::Request {
                key: key.to_string(),
                outcome: outcome.clone(),
            },
            true,
        )?;
        if matches!(outcome, RequestOutcome::Answered { .. })
            && let Some(old) = self.old.take()
        {
            // The endpoint works and this answer is safe on disk: the old run can go.
            if let Err(e) = std::fs::remove_file(&old) {
                tracing::warn!("cannot remove {}: {e}", old.display());
            }
        }
        Ok(())
    }

    /// Batches created by earlier runs whose answers are not journaled yet: `(id, keys)`.
    pub fn open_batches(&self) -> Vec<(String, Vec<String>)> {
        self.batches
            .iter()
            .filter(|(id, _)| !self.batches_done.contains(id))
            .cloned()
            .collect()
    }

    /// Records a created batch and its request keys (fsynced: a killed run polls it again
    /// instead of paying twice).
    pub fn record_batch(&mut self, id: &str, keys: &[String]) -> Result<(), JournalError> {
        self.batches.push((id.to_string(), keys.to_vec()));
        let event = Event::Batch {
            id: id.to_string(),
            keys: keys.to_vec(),
        };
        self.append(&event, true)
    }

    /// Records that a batch's answers are journaled.
    pub fn record_batch_done(&mut self, id: &str) -> Result<(), JournalError> {
        self.batches_done.insert(id.to_string());
        self.append(&Event::BatchDone { id: id.to_string() }, true)
    }

    /// Records an accepted row (skipped when it is already recorded). Not fsynced on its own
    /// (rows are rebuilt from the answers on resume): call [`Journal::sync`] after a batch.
    pub fn record_accepted(
        &mut self,
        key: &str,
        label: &str,
        text: &str,
    ) -> Result<(), JournalError> {
        if !self.accepted.insert(key.to_string()) {
            return Ok(());
        }
        self.append(
            &Event::Accepted {
                key: key.to_string(),
                label: label.to_string(),
                text: text.to_string(),
            },
            false,
        )
    }
}

/// Refuses a resume whose input or configuration differs from the journal's.
fn check_header(
    path: &Path,
    recorded: Option<&JournalHeader>,
    current: &JournalHeader,
) -> Result<(), JournalError> {
    let Some(recorded) = recorded else {
        return Err(JournalError::NoHeader { path: path.into() });
    };
    for (field, a, b) in [
        (HeaderField::Input, &recorded.input, &current.input),
        (HeaderField::Config, &recorded.config, &current.config),
    ] {
        let same = match field {
            HeaderField::Config if recorded.identity != current.identity => {
                current.earlier_configs.contains(a)
            }
            _ => a == b,
        };
        if !same {
            return Err(JournalError::Mismatch {
                path: path.into(),
                field,
                recorded: a.clone(),
                current: b.clone(),
            });
        }
    }
    if recorded.synthcti != current.synthcti {
        tracing::warn!(
            "{} was written by synthcti {}, this is {}: resuming anyway",
            path.display(),
            recorded.synthcti,
            current.synthcti
        );
    }
    Ok(())
}

/// A run's output directory, held for the run: the one place an output directory of
/// `augment` (or of an `eval` arm) is created, with an exclusive lock (`flock` on
/// [`LOCK_FILE`]) released on drop or when the process dies. The lock file itself stays.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _file: File,
}

impl RunDir {
    /// Creates `dir` when missing and takes its lock, or fails at once when another process
    /// holds it.
    pub fn create(dir: &Path) -> Result<Self, JournalError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a descriptor this function owns; no memory is shared.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::WouldBlock {
                let mut text = String::new();
                let _ = (&file).take(32).read_to_string(&mut text);
                return Err(JournalError::Locked {
                    dir: dir.to_path_buf(),
                    pid: text.trim().parse().ok(),
                });
            }
            return Err(io(err));
        }
        file.set_len(0)
            .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()))
            .map_err(io)?;
        Ok(Self {
            path: dir.to_path_buf(),
            _file: file,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run's journal in it ([`JOURNAL_FILE`]).
    pub fn journal(&self) -> PathBuf {
        self.path.join(JOURNAL_FILE)
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

    fn header(input: &str) -> JournalHeader {
        JournalHeader {
            synthcti: "0.1.0".into(),
            input: input.into(),
            config: "c1".into(),
            identity: 2,
            earlier_configs: Vec::new(),
        }
    }

    #[test]
    fn failures_are_asked_again() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        let h = header("i1");
        let mut j = Journal::open(&p, &h, false, false).unwrap();
        let failed = RequestOutcome::Failed {
            error: "HTTP 401".into(),
        };
        j.record_request("k", &failed).unwrap();
        drop(j);
        let mut j = Journal::open(&p, &h, true, false).unwrap();
        assert_eq!(j.lookup("k"), None);
        j.record_request("k", &answered("late")).unwrap();
        drop(j);
        let mut j = Journal::open(&p, &h, true, false).unwrap();
        assert_eq!(j.lookup("k"), Some(answered("late")));
    }

    #[test]
    fn replays_after_a_torn_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        let h = header("i1");
        {
            let mut j = Journal::open(&p, &h, false, false).unwrap();
            j.record_request("k1", &answered("one")).unwrap();
            j.record_accepted("a1", "T1003", "one").unwrap();
        }
        // simulate kill -9 in the middle of a line
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"event\":\"request\",\"key\":\"k2\",\"sta")
            .unwrap();
        drop(f);
        assert!(matches!(
            Journal::open(&p, &h, false, false),
            Err(JournalError::Exists { .. })
        ));
        let mut j = Journal::open(&p, &h, true, false).unwrap();
        assert_eq!(j.lookup("k1"), Some(answered("one")));
        assert_eq!(j.lookup("k2"), None);
        j.record_request("k2", &answered("two")).unwrap();
        j.record_accepted("a1", "T1003", "one").unwrap(); // not twice
        drop(j);
        let mut j = Journal::open(&p, &h, true, false).unwrap();
        assert_eq!(j.lookup("k2"), Some(answered("two")));
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.matches("\"accepted\"").count(), 1);
        assert_eq!(text.matches("\"header\"").count(), 1);
    }

    #[test]
    fn a_resume_of_another_input_or_config_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        let mut j = Journal::open(&p, &header("i1"), false, false).unwrap();
        j.record_request("k1", &answered("one")).unwrap();
        drop(j);
        let err = Journal::open(&p, &header("i2"), true, false).err().unwrap();
        assert!(matches!(
            err,
            JournalError::Mismatch {
                field: HeaderField::Input,
                ..
            }
        ));
        assert!(err.to_string().contains("--overwrite"), "{err}");
        let other_config = JournalHeader {
            config: "c2".into(),
            ..header("i1")
        };
        assert!(matches!(
            Journal::open(&p, &other_config, true, false),
            Err(JournalError::Mismatch {
                field: HeaderField::Config,
                ..
            })
        ));
        // Under the same identity version, an earlier hash does not excuse a difference.
        let same_version = JournalHeader {
            config: "c2".into(),
            earlier_configs: vec!["c1".into()],
            ..header("i1")
        };
        assert!(Journal::open(&p, &same_version, true, false).is_err());
        let newer = JournalHeader {
            synthcti: "9.9.9".into(),
            ..header("i1")
        };
        assert!(Journal::open(&p, &newer, true, false).is_ok());
        // A journal written under an earlier identity version resumes when its hash is this
        // configuration's earlier form, and gets this run's header appended: later resumes
        // check the current form only.
        let upgraded = JournalHeader {
            config: "c2".into(),
            identity: 3,
            earlier_configs: vec!["c1".into()],
            ..header("i1")
        };
        assert!(Journal::open(&p, &upgraded, true, false).is_ok());
        let headers = || {
            std::fs::read_to_string(&p)
                .unwrap()
                .matches("\"header\"")
                .count()
        };
        assert_eq!(headers(), 2);
        let current_only = JournalHeader {
            earlier_configs: Vec::new(),
            ..upgraded.clone()
        };
        assert!(Journal::open(&p, &current_only, true, false).is_ok());
        assert_eq!(headers(), 2, "the current form is not appended again");
        assert!(Journal::open(&p, &header("i1"), true, false).is_err());
        // A journal without a header cannot be checked.
        std::fs::write(
            &p,
            "{\"event\":\"accepted\",\"key\":\"a\",\"label\":\"T1\",\"text\":\"x\"}\n",
        )
        .unwrap();
        assert!(matches!(
            Journal::open(&p, &header("i1"), true, false),
            Err(JournalError::NoHeader { .. })
        ));
    }

    #[test]
    fn overwrite_keeps_paid_answers_until_the_first_new_answer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        let old = dir.path().join("journal.jsonl.old");
        let h = header("i1");
        let mut j = Journal::open(&p, &h, false, false).unwrap();
        j.record_request("paid", &answered("one")).unwrap();
        drop(j);
        // Overwrite, but the endpoint fails: the paid answer stays in journal.jsonl.old.
        let mut j = Journal::open(&p, &h, false, true).unwrap();
        j.record_request(
            "k",
            &RequestOutcome::Failed {
                error: "401".into(),
            },
        )
        .unwrap();
        drop(j);
        assert!(std::fs::read_to_string(&old).unwrap().contains("paid"));
        // A second failed overwrite does not replace it with the answerless journal.
        drop(Journal::open(&p, &h, false, true).unwrap());
        assert!(std::fs::read_to_string(&old).unwrap().contains("paid"));
        // The first answer of the new run removes it.
        let mut j = Journal::open(&p, &h, false, true).unwrap();
        j.record_request("k", &answered("new")).unwrap();
        assert!(!old.exists());
        drop(j);
        assert!(!std::fs::read_to_string(&p).unwrap().contains("paid"));
    }

    #[test]
    fn a_directory_is_locked_once() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunDir::create(dir.path()).unwrap();
        let err = RunDir::create(dir.path()).unwrap_err();
        assert!(
            matches!(err, JournalError::Locked { pid: Some(p), .. } if p == std::process::id()),
            "{err:?}"
        );
        drop(lock);
        RunDir::create(dir.path()).unwrap();
    }

    #[test]
    fn a_journal_that_is_not_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        std::os::unix::fs::symlink("/dev/zero", &p).unwrap();
        assert!(matches!(
            Journal::open(&p, &header("i1"), true, false),
            Err(JournalError::NotAFile { .. })
        ));
    }
}
