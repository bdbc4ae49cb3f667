//! Export of an augmented dataset for fine-tuning, with a seeded, group-aware
//! train/validation/test split.
//!
//! Split rules:
//! - the **original** rows ([`Origin::Original`]) are split by group (the report a
//!   sentence comes from; a row without a group is its own group) into train/validation/
//!   test at the configured fractions (default 80/10/10), class-balanced, seeded (see
//!   [`crate::learn::split::assign_parts`]); a group is never split;
//! - **added rows** ([`Origin::Synthetic`] and [`Origin::AttackProcedure`]) only ever go
//!   to train: validation and test hold real report sentences only. An added row whose
//!   group was assigned to validation or test (e.g. an EDA variant of a test sentence)
//!   is dropped rather than leak its source into train; the count is reported.
//!
//! Formats ([`ExportFormat`]):
//! - `chat`: `train.jsonl`, `validation.jsonl`, `test.jsonl`, one
//!   `{"messages":[system, user = sentence, assistant = "T1003.001 OS Credential Dumping:
//!   LSASS Memory"]}` object per line, the format OpenAI fine-tuning and TRL's
//!   `SFTTrainer` accept;
//! - `jsonl`: `dataset.jsonl`, one flat `{"text","label","split","origin","group"}` object
//!   per line (`pandas.read_json(path, lines=True)`, `datasets.load_dataset("json", ...)`);
//! - `csv`: `dataset.csv` with the same five columns; a cell that a spreadsheet would run
//!   as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`;
//! - `parquet`: `dataset.parquet` with the same five string columns (`group` nullable),
//!   snappy-compressed (`pandas.read_parquet`, `datasets.load_dataset("parquet", ...)`);
//! - `instruct`: `train.jsonl`, `validation.jsonl`, `test.jsonl` of `{"task","messages"}`
//!   rows for the tasks of [`ExportConfig::tasks`] (see [`instruct`]).
//!
//! Added rows are written [`clean`]ed in every format (no control, bidi or zero-width
//! characters; length capped).

#![warn(missing_docs)]

pub mod instruct;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use crate::data::{Origin, Sample};
use crate::learn::split::assign_parts;
use crate::output::parquet::{ColumnSpec, StringTable};
use crate::output::write_atomic;
use crate::technique::TechniqueId;
use crate::text::{clean, csv_cell};
pub use instruct::Task;
use instruct::instruct_lines;

/// Errors of the export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A configuration value is invalid.
    #[error("invalid export configuration: {0}")]
    Config(String),
    /// The data cannot be split as asked.
    #[error("cannot split the dataset")]
    Split(#[source] crate::learn::LearnError),
    /// Writing a file failed.
    #[error("cannot write {path}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Serialising a row failed.
    #[error("cannot serialise a row: {0}")]
    Serialise(String),
}

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// Chat JSONL, one file per split (`--to chat-jsonl`).
    #[value(name = "chat-jsonl", alias = "chat")]
    Chat,
    /// Flat JSONL with a `split` column.
    Jsonl,
    /// CSV with a `split` column.
    Csv,
    /// Parquet with a `split` column (`dataset.parquet`).
    Parquet,
    /// Instruction chat JSONL of several tasks, one file per split (`--to instruct`).
    Instruct,
}

impl FromStr for ExportFormat {
    type Err = ExportError;

    /// Parses `chat`, `jsonl`, `csv`, `parquet` or `instruct`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "chat" => Ok(Self::Chat),
            "jsonl" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            "parquet" => Ok(Self::Parquet),
            "instruct" => Ok(Self::Instruct),
            other => Err(ExportError::Config(format!(
                "unknown export format {other:?} (chat, jsonl, csv, parquet, instruct)"
            ))),
        }
    }
}

/// One of the three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Training rows (original and added).
    Train,
    /// Validation rows (original only).
    Validation,
    /// Test rows (original only).
    Test,
}

impl Split {
    /// All splits, in file order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// `train`, `validation` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// The default system message of the chat format.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You label sentences from cyber threat intelligence \
reports with the MITRE ATT&CK technique they describe. Answer with the technique ID and name.";

/// Export settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportConfig {
    /// Output format.
    pub format: ExportFormat,
    /// Fractions of the original rows (by group) for train, validation, test.
    pub fractions: [f64; 3],
    /// Seed of the split.
    pub seed: u64,
    /// System message of the chat format.
    pub system_prompt: String,
    /// Tasks of the instruct format.
    pub tasks: Vec<Task>,
}

impl Default for ExportConfig {
    fn default() -> Self {
        Self {
            format: ExportFormat::Chat,
            fractions: [0.8, 0.1, 0.1],
            seed: 0,
            system_prompt: DEFAULT_SYSTEM_PROMPT.to_owned(),
            tasks: Task::ALL.to_vec(),
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportSummary {
    /// Rows per split.
    pub rows: BTreeMap<Split, usize>,
    /// Added rows per split (always 0 outside train).
    pub added_rows: BTreeMap<Split, usize>,
    /// Added rows dropped because their group went to validation or test.
    pub dropped_added_rows: usize,
    /// Labels without an entry in the names map (the chat answer is then the id alone).
    pub unnamed_labels: Vec<TechniqueId>,
    /// Instruct format: rows per split and task.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tasks: BTreeMap<Split, BTreeMap<Task, usize>>,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// The split of every row (`None` = dropped), plus the number of dropped added rows.
///
/// Original rows are split by group at `config.fractions`; added rows go to train unless
/// their group lies in validation or test, in which case they are dropped.
pub fn assign_splits(
    samples: &[Sample],
    config: &ExportConfig,
) -> Result<(Vec<Option<Split>>, usize), ExportError> {
    let originals: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.origin == Origin::Original)
        .collect();
    let parts = assign_parts(originals.iter().copied(), &config.fractions, config.seed)
        .map_err(ExportError::Split)?;
    let mut held_out_groups: HashSet<&str> = HashSet::new();
    for (s, &p) in originals.iter().zip(&parts) {
        if let (true, Some(g)) = (p != 0, s.group.as_deref()) {
            held_out_groups.insert(g);
        }
    }
    let mut part = parts.into_iter();
    let mut dropped = 0;
    let splits = samples
        .iter()
        .map(|s| {
            if s.origin == Origin::Original {
                part.next().map(|p| Split::ALL[p])
            } else if s
                .group
                .as_deref()
                .is_some_and(|g| held_out_groups.contains(g))
            {
                dropped += 1;
                None
            } else {
                Some(Split::Train)
            }
        })
        .collect();
    Ok((splits, dropped))
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Serialize)]
struct ChatRow<'a> {
    messages: [Message<'a>; 3],
}

/// A row of the flat formats.
#[derive(Serialize)]
struct FlatRow<'a> {
    text: Cow<'a, str>,
    label: Cow<'a, str>,
    split: &'a str,
    origin: Origin,
    group: Option<Cow<'a, str>>,
}

impl FlatRow<'_> {
    /// The row with every cell safe to open in a spreadsheet.
    fn formula_safe(self) -> Self {
        FlatRow {
            text: csv_cell(self.text),
            label: csv_cell(self.label),
            group: self.group.map(csv_cell),
            ..self
        }
    }
}

/// The text written for a row: added rows are [`clean`]ed, original rows kept as read.
fn written_text(s: &Sample) -> Cow<'_, str> {
    match s.origin {
        Origin::Original => Cow::Borrowed(&s.text),
        Origin::Synthetic | Origin::AttackProcedure => Cow::Owned(clean(&s.text)),
    }
}

/// The assistant answer for a label: `"<id> <name>"`, or the id alone without a name.
pub fn answer(label: &str, names: &BTreeMap<TechniqueId, String>) -> String {
    match names.get(label) {
        Some(name) if !name.is_empty() => format!("{label} {name}"),
        _ => label.to_owned(),
    }
}

/// Splits `samples` (original plus added rows) and writes them into `dir` (created if
/// missing) in `config.format`; `names` maps technique ids to names for the chat answer.
/// Files are written atomically.
pub fn export_dataset(
    samples: &[Sample],
    names: &BTreeMap<TechniqueId, String>,
    config: &ExportConfig,
    dir: &Path,
) -> Result<ExportSummary, ExportError> {
    let (splits, dropped_added_rows) = assign_splits(samples, config)?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ExportError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let rows: Vec<(&Sample, Split)> = samples
        .iter()
        .zip(&splits)
        .filter_map(|(s, p)| p.map(|p| (s, p)))
        .collect();
    let (rendered, tasks) = render_files(&rows, names, config)?;
    let mut files = Vec::with_capacity(rendered.len());
    for (name, bytes) in rendered {
        let path = dir.join(name);
        write_atomic(&path, &bytes).map_err(io(&path))?;
        files.push(path);
    }
    let mut summary = summarize(&rows, names);
    summary.dropped_added_rows = dropped_added_rows;
    summary.tasks = tasks;
    summary.files = files;
    Ok(summary)
}

/// Rows of the split, each with the split it went to.
type SplitRows<'a> = [(&'a Sample, Split)];

/// A file to write: its name in the export directory and its bytes.
type NamedFile = (String, Vec<u8>);

/// Instruct-task counts per split.
type TaskCounts = BTreeMap<Split, BTreeMap<Task, usize>>;

fn ser(e: &dyn std::fmt::Display) -> ExportError {
    ExportError::Serialise(e.to_string())
}

/// The files of `config.format` as (file name, bytes), and the instruct tasks per split.
fn render_files(
    rows: &SplitRows<'_>,
    names: &BTreeMap<TechniqueId, String>,
    config: &ExportConfig,
) -> Result<(Vec<NamedFile>, TaskCounts), ExportError> {
    let mut files = Vec::new();
    let mut tasks = BTreeMap::new();
    let of = |split: Split| rows.iter().filter(move |(_, p)| *p == split);
    match config.format {
        ExportFormat::Chat => {
            for split in Split::ALL {
                let out = chat_lines(of(split).map(|(s, _)| *s), names, config)?;
                files.push((format!("{}.jsonl", split.as_str()), out));
            }
        }
        ExportFormat::Instruct => {
            for split in Split::ALL {
                let part: Vec<(&Sample, String)> = of(split)
                    .map(|(s, _)| (*s, written_text(s).into_owned()))
                    .collect();
                let answer_of = |id: &TechniqueId| answer(id, names);
                let (out, counts) = instruct_lines(&part, &config.tasks, &answer_of, config.seed)
                    .map_err(|e| ser(&e))?;
                tasks.insert(split, counts);
                files.push((format!("{}.jsonl", split.as_str()), out));
            }
        }
        ExportFormat::Jsonl | ExportFormat::Csv | ExportFormat::Parquet => {
            files.push(flat_file(rows, config.format)?);
        }
    }
    Ok((files, tasks))
}

/// The columns of the flat formats, in file order.
const FLAT_COLUMNS: [ColumnSpec; 5] = [
    ("text", false),
    ("label", false),
    ("split", false),
    ("origin", false),
    ("group", true),
];

/// `dataset.jsonl`, `dataset.csv` or `dataset.parquet`: one row per line with its split.
fn flat_file(rows: &SplitRows<'_>, format: ExportFormat) -> Result<NamedFile, ExportError> {
    let flat = rows.iter().map(|(s, p)| FlatRow {
        text: written_text(s),
        label: Cow::Borrowed(&s.label),
        split: p.as_str(),
        origin: s.origin,
        group: s.group.as_deref().map(Cow::Borrowed),
    });
    Ok(match format {
        ExportFormat::Jsonl => {
            let mut out = Vec::new();
            for row in flat {
                serde_json::to_writer(&mut out, &row).map_err(|e| ser(&e))?;
                out.push(b'\n');
            }
            ("dataset.jsonl".into(), out)
        }
        ExportFormat::Parquet => {
            let mut table = StringTable::new(&FLAT_COLUMNS).map_err(|e| ser(&e))?;
            for row in flat {
                table
                    .push(&[
                        Some(&row.text),
                        Some(&row.label),
                        Some(row.split),
                        Some(row.origin.as_str()),
                        row.group.as_deref(),
                    ])
                    .map_err(|e| ser(&e))?;
            }
            (
                "dataset.parquet".into(),
                table.finish().map_err(|e| ser(&e))?,
            )
        }
        _ => {
            let mut w = csv::Writer::from_writer(Vec::new());
            for row in flat {
                w.serialize(row.formula_safe()).map_err(|e| ser(&e))?;
            }
            ("dataset.csv".into(), w.into_inner().map_err(|e| ser(&e))?)
        }
    })
}

/// Chat JSONL: system prompt, the row's text, the technique as the answer.
fn chat_lines<'a>(
    rows: impl Iterator<Item = &'a Sample>,
    names: &BTreeMap<TechniqueId, String>,
    config: &ExportConfig,
) -> Result<Vec<u8>, ExportError> {
    let mut out = Vec::new();
    for s in rows {
        let answer = answer(&s.label, names);
        let text = written_text(s);
        let row = ChatRow {
            messages: [
                Message {
                    role: "system",
                    content: &config.system_prompt,
                },
                Message {
                    role: "user",
                    content: &text,
                },
                Message {
                    role: "assistant",
                    content: &answer,
                },
            ],
        };
        serde_json::to_writer(&mut out, &row).map_err(|e| ser(&e))?;
        out.push(b'\n');
    }
    Ok(out)
}

/// Rows and added rows per split, and the labels without a name.
fn summarize(rows: &SplitRows<'_>, names: &BTreeMap<TechniqueId, String>) -> ExportSummary {
    let mut count: BTreeMap<Split, usize> = Split::ALL.iter().map(|&s| (s, 0)).collect();
    let mut added = count.clone();
    for (s, p) in rows {
        *count.entry(*p).or_insert(0) += 1;
        if s.origin != Origin::Original {
            *added.entry(*p).or_insert(0) += 1;
        }
    }
    let unnamed_labels: BTreeSet<TechniqueId> = rows
        .iter()
        .filter(|(s, _)| names.get(s.label.as_str()).is_none_or(String::is_empty))
        .map(|(s, _)| s.label.clone())
        .collect();
    ExportSummary {
        rows: count,
        added_rows: added,
        dropped_added_rows: 0,
        unnamed_labels: unnamed_labels.into_iter().collect(),
        tasks: BTreeMap::new(),
        files: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse() {
        assert_eq!("CHAT".parse::<ExportFormat>().unwrap(), ExportFormat::Chat);
        assert_eq!("csv".parse::<ExportFormat>().unwrap(), ExportFormat::Csv);
        assert_eq!(
            "Parquet".parse::<ExportFormat>().unwrap(),
            ExportFormat::Parquet
        );
        assert!("xml".parse::<ExportFormat>().is_err());
    }

    #[test]
    fn answer_uses_name_when_known() {
        let names: BTreeMap<TechniqueId, String> = [(
            "T1003.001".into(),
            "OS Credential Dumping: LSASS Memory".to_owned(),
        )]
        .into();
        assert_eq!(
            answer("T1003.001", &names),
            "T1003.001 OS Credential Dumping: LSASS Memory"
        );
        assert_eq!(answer("T9999", &names), "T9999");
    }
}
