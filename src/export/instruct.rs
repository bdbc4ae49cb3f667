//! `export --to instruct`: chat rows of four tasks for instruction-tuning a CTI language
//! model, built from the (augmented) dataset and the bundled ATT&CK catalog.
//!
//! - `classify`: sentence → `T1003.001 OS Credential Dumping: LSASS Memory`;
//! - `explain`: sentence → the technique and, as the reason, the opening of its ATT&CK
//!   description;
//! - `generate`: technique → a report sentence (real rows, and in train the accepted
//!   synthetic and procedure rows);
//! - `extract`: a desensitized sentence (indicators replaced by seeded surrogates) → its
//!   indicators as a JSON array of `{"kind","value"}`; every row with indicators, and about
//!   one in twenty rows without (answer `[]`), picked by a seeded hash.
//!
//! Each row is `{"task", "messages": [system, user, assistant]}`.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::catalog::Catalog;
use crate::data::Sample;
use crate::desensitize::{Numbering, RECOGNIZER, Surrogates};
use crate::technique::TechniqueId;

/// The system message of every instruct row.
pub const SYSTEM: &str = "You are a cyber threat intelligence analyst who knows MITRE ATT&CK.";

/// Sentences of a technique's ATT&CK description given as the reason in `explain`.
const REASON_SENTENCES: usize = 2;

/// One task of the instruct mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Sentence → technique id and name.
    Classify,
    /// Sentence → technique and the ATT&CK description as the reason.
    Explain,
    /// Technique → a report sentence.
    Generate,
    /// Desensitized sentence → its indicators as JSON.
    Extract,
}

impl Task {
    /// Every task, in file order.
    pub const ALL: [Task; 4] = [Task::Classify, Task::Explain, Task::Generate, Task::Extract];
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Serialize)]
struct InstructRow<'a> {
    task: Task,
    messages: [Message<'a>; 3],
}

/// One `{"kind","value"}` of an `extract` answer.
#[derive(Serialize)]
struct Found<'a> {
    kind: &'a str,
    value: &'a str,
}

/// The JSON lines of `rows` (each with its text as written) for `tasks`; `answer` gives a
/// label's `id name` answer. Rows without a chat of a task (e.g. no indicators, not picked
/// for `extract`) are left out of that task. Returns the bytes and rows per task.
pub fn instruct_lines(
    rows: &[(&Sample, String)],
    tasks: &[Task],
    answer: &dyn Fn(&TechniqueId) -> String,
    seed: u64,
) -> Result<(Vec<u8>, BTreeMap<Task, usize>), serde_json::Error> {
    let catalog = Catalog::bundled();
    let surrogates = Surrogates::new(seed);
    let mut out = Vec::new();
    let mut counts = BTreeMap::new();
    for (s, text) in rows {
        for &task in tasks {
            let Some((user, assistant)) = chat(task, s, text, answer, catalog, surrogates, seed)
            else {
                continue;
            };
            let row = InstructRow {
                task,
                messages: [
                    Message {
                        role: "system",
                        content: SYSTEM,
                    },
                    Message {
                        role: "user",
                        content: &user,
                    },
                    Message {
                        role: "assistant",
                        content: &assistant,
                    },
                ],
            };
            serde_json::to_writer(&mut out, &row)?;
            out.push(b'\n');
            *counts.entry(task).or_default() += 1;
        }
    }
    Ok((out, counts))
}

/// The user and assistant turns of one task for one row.
fn chat(
    task: Task,
    s: &Sample,
    text: &str,
    answer: &dyn Fn(&TechniqueId) -> String,
    catalog: &Catalog,
    surrogates: Surrogates,
    seed: u64,
) -> Option<(String, String)> {
    Some(match task {
        Task::Classify => (
            format!(
                "Which MITRE ATT&CK technique does this threat report sentence describe?\n\n{text}"
            ),
            answer(&s.label),
        ),
        Task::Explain => {
            let description = catalog.get(&s.label).map(|t| t.description.as_str())?;
            (
                format!(
                    "Which MITRE ATT&CK technique does this sentence describe, and why?\n\n{text}"
                ),
                format!("{}. {}", answer(&s.label), opening(description)),
            )
        }
        Task::Generate => (
            format!(
                "Write one sentence from a threat report that describes MITRE ATT&CK technique {}.",
                answer(&s.label)
            ),
            text.to_string(),
        ),
        Task::Extract => extract(text, surrogates, seed)?,
    })
}

/// The first [`REASON_SENTENCES`] sentences of a description.
fn opening(description: &str) -> String {
    let mut end = description.len();
    let mut seen = 0;
    for (i, _) in description.match_indices(". ") {
        seen += 1;
        if seen == REASON_SENTENCES {
            end = i + 1;
            break;
        }
    }
    description[..end].trim().to_string()
}

/// `extract` of a sentence: its indicators replaced by surrogates, and the surrogates as
/// the answer. Rows without indicators take part when a seeded hash picks them.
fn extract(text: &str, surrogates: Surrogates, seed: u64) -> Option<(String, String)> {
    let mut numbering = Numbering::default();
    let placeholders = numbering.redact(text);
    if numbering.originals.is_empty() && !picked(text, seed) {
        return None;
    }
    let scope = format!("extract:{}", hex::encode(Sha256::digest(text.as_bytes())));
    let mut filled = BTreeMap::new();
    let desensitized = surrogates.fill(&placeholders, &scope, &numbering.originals, &mut filled);
    let found = RECOGNIZER.find(&desensitized);
    let answer: Vec<Found> = found
        .iter()
        .map(|i| Found {
            kind: i.kind.name(),
            value: &i.value,
        })
        .collect();
    let answer = serde_json::to_string(&answer).ok()?;
    Some((
        format!(
            "List the indicators of compromise in this sentence as a JSON array of {{\"kind\", \"value\"}} objects (refanged).\n\n{desensitized}"
        ),
        answer,
    ))
}

/// A seeded one-in-twenty pick of rows without indicators for `extract`.
fn picked(text: &str, seed: u64) -> bool {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(text.as_bytes());
    h.finalize()[0] < 13
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Origin;

    fn sample(text: &str, label: &str) -> Sample {
        Sample {
            id: 0,
            text: text.into(),
            label: label.into(),
            group: None,
            origin: Origin::Original,
        }
    }

    #[test]
    fn every_task_has_its_chat() {
        let s = sample(
            "The actor dumped LSASS with procdump and sent it to 45.77.12.9 over HTTPS.",
            "T1003.001",
        );
        let rows = [(&s, s.text.clone())];
        let answer = |id: &TechniqueId| format!("{id} OS Credential Dumping: LSASS Memory");
        let (bytes, counts) = instruct_lines(&rows, &Task::ALL, &answer, 1).unwrap();
        assert_eq!(counts.len(), 4, "{counts:?}");
        let lines: Vec<serde_json::Value> = String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let turn = |task: &str, i: usize| {
            let row = lines.iter().find(|l| l["task"] == task).unwrap();
            row["messages"][i]["content"].as_str().unwrap().to_string()
        };
        assert_eq!(
            turn("classify", 2),
            "T1003.001 OS Credential Dumping: LSASS Memory"
        );
        assert!(
            turn("explain", 2).contains("Adversaries may"),
            "{}",
            turn("explain", 2)
        );
        assert_eq!(turn("generate", 2), s.text);
        let extract = turn("extract", 1);
        assert!(!extract.contains("45.77.12.9"), "{extract}");
        let found: Vec<serde_json::Value> = serde_json::from_str(&turn("extract", 2)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["kind"], "ipv4");
        assert!(extract.contains(found[0]["value"].as_str().unwrap()));
    }

    #[test]
    fn the_mix_follows_the_tasks_asked() {
        let s = sample(
            "Adversaries used a scheduled task to run the loader daily.",
            "T1053.005",
        );
        let rows = [(&s, s.text.clone())];
        let answer = |id: &TechniqueId| id.to_string();
        let (_, counts) = instruct_lines(&rows, &[Task::Classify], &answer, 1).unwrap();
        assert_eq!(
            counts.into_iter().collect::<Vec<_>>(),
            [(Task::Classify, 1)]
        );
    }
}
