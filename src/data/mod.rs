//! Labelled sentences: the types every stage hands on, and the dataset readers.
//!
//! Readers: TRAM's native JSON (a list of `{text, label, doc_title}`), CTI-to-MITRE's native
//! CSV (`,label_tec,label_subtec,tec_name,sentence`), generic CSV / JSONL with named
//! columns, and Parquet with the same columns (the Hugging Face hub's format; see
//! `data/parquet.rs`). CSV and JSONL are read record by record, Parquet batch by batch.
//! Every error names the file, the line (Parquet: the row) and the problem; nothing here
//! panics on user data.
//!
//! Files: the types and the entry points here; `detect.rs` (format detection), `read.rs`
//! (what every reader shares: limits, the [`Cleaner`](read::Cleaner), the
//! [`Labeler`](read::Labeler)), `json.rs` (strict JSON, shared by `tram.rs` and `jsonl.rs`),
//! `tram.rs`, `jsonl.rs`, `csv.rs` and `parquet.rs` (one reader per format). Files are
//! opened through [`crate::fileio`] (regular files only, size and line limits).

mod csv;
mod detect;
mod json;
mod jsonl;
mod parquet;
mod read;
mod tram;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::csv::read_csv;
use self::detect::detect_format_with;
use self::jsonl::read_jsonl;
use self::read::Labeler;
use self::tram::read_tram;
use crate::catalog::Catalog;
use crate::fileio::FileProblem;
use crate::technique::TechniqueId;

/// Where a row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A row of the input dataset.
    Original,
    /// A sentence written by an LLM.
    Synthetic,
    /// A real ATT&CK procedure example added as a row.
    AttackProcedure,
}

impl Origin {
    /// The name used in output files (`original`, `synthetic`, `attack-procedure`).
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Original => "original",
            Origin::Synthetic => "synthetic",
            Origin::AttackProcedure => "attack-procedure",
        }
    }
}

/// One labelled sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Position of the row in its source (0-based record index).
    pub id: usize,
    /// The sentence.
    pub text: String,
    /// ATT&CK technique id after catalog remapping, e.g. `T1003.001`.
    pub label: TechniqueId,
    /// The report/document the sentence came from (used for leak-free splits).
    pub group: Option<String>,
    /// Where the row comes from.
    pub origin: Origin,
}

/// Input file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// TRAM native JSON: a list of `{text, label, doc_title}`.
    Tram,
    /// CTI-to-MITRE native CSV: `,label_tec,label_subtec,tec_name,sentence`.
    CtiToMitre,
    /// Generic CSV with `--text-col`, `--label-col`, optional `--group-col`.
    Csv,
    /// Generic JSON Lines with the same column options.
    Jsonl,
    /// Apache Parquet with the same column options (string columns; snappy or uncompressed).
    Parquet,
}

impl Format {
    /// The file extension datasets of this format use.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Tram => "json",
            Format::CtiToMitre | Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        }
    }
}

/// Which CTI-to-MITRE column is the label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CtiLevel {
    /// `label_tec`: the parent technique.
    #[default]
    Technique,
    /// `label_subtec`: the sub-technique where there is one.
    Subtechnique,
}

/// What to do with a label the catalog does not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownLabels {
    /// Stop with an error naming the file and line.
    #[default]
    Error,
    /// Keep the row, warn once per label.
    Warn,
    /// Drop the row, warn once per label.
    Drop,
}

/// Default [`ReadOptions::max_file_bytes`]: 1 GiB.
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// Default [`ReadOptions::max_line_bytes`]: 1 MiB.
pub const MAX_LINE_BYTES: u64 = 1 << 20;
/// Default [`ReadOptions::max_text_chars`].
pub const MAX_TEXT_CHARS: usize = 20_000;

/// How to read a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadOptions {
    /// The format; detected from the file when `None`.
    pub format: Option<Format>,
    /// Text column of generic CSV/JSONL/Parquet (default `text`).
    pub text_col: Option<String>,
    /// Label column of generic CSV/JSONL/Parquet (default `label`).
    pub label_col: Option<String>,
    /// Group (report) column; default `doc_title`, else `group`, when the file has one.
    pub group_col: Option<String>,
    /// CTI-to-MITRE label level.
    pub cti_level: CtiLevel,
    /// Unknown label policy.
    pub unknown_labels: UnknownLabels,
    /// Largest input file in bytes.
    pub max_file_bytes: u64,
    /// Longest line of a CSV or JSONL file in bytes (TRAM JSON may be one line).
    pub max_line_bytes: u64,
    /// Longest sentence in characters.
    pub max_text_chars: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            format: None,
            text_col: None,
            label_col: None,
            group_col: None,
            cti_level: CtiLevel::default(),
            unknown_labels: UnknownLabels::default(),
            max_file_bytes: MAX_FILE_BYTES,
            max_line_bytes: MAX_LINE_BYTES,
            max_text_chars: MAX_TEXT_CHARS,
        }
    }
}

/// A bad input: the file, where in it, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file cannot be opened or read.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A record is malformed.
    #[error("{path}: {location}: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// `line N` or `record N`.
        location: Location,
        /// What is wrong.
        problem: String,
    },
    /// The file holds no rows.
    #[error("{path}: no rows")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The path is not a regular file, or the file is too large.
    #[error("{path}: {problem}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: FileProblem,
    },
    /// A line is longer than `input.max_line_bytes`.
    #[error("{path}: line {line}: longer than input.max_line_bytes = {limit} bytes")]
    LineTooLong {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The limit.
        limit: u64,
    },
}

/// Where in a file a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// 1-based line.
    Line(u64),
    /// 1-based line and column.
    LineColumn(u64, u64),
    /// 1-based row of a Parquet file.
    Row(u64),
    /// The file as a whole (header, format).
    File,
    /// A Parquet file's schema or metadata.
    Schema,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Line(l) => write!(f, "line {l}"),
            Location::LineColumn(l, c) => write!(f, "line {l}, column {c}"),
            Location::Row(r) => write!(f, "row {r}"),
            Location::File => write!(f, "header"),
            Location::Schema => write!(f, "schema"),
        }
    }
}

/// The raw records of the input, kept to write the augmented file in the same format.
#[derive(Debug, Clone)]
pub enum RawRows {
    /// CSV header and records (CTI-to-MITRE or generic CSV).
    Csv {
        /// The header row.
        header: Vec<String>,
        /// One record per sample.
        rows: Vec<Vec<String>>,
    },
    /// JSON objects (TRAM list or JSONL lines).
    Json(Vec<Value>),
}

/// The columns a dataset's text, label and group come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Columns {
    /// Text column.
    pub text: String,
    /// Label column.
    pub label: String,
    /// Group column, if any.
    pub group: Option<String>,
}

/// How labels changed while checking them against the catalog.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabelReport {
    /// `(from, to) → rows` for revoked ids mapped to their replacement.
    pub remapped: BTreeMap<TechniqueId, (TechniqueId, usize)>,
    /// Unknown or deprecated ids → rows (kept with a warning, or dropped).
    pub unknown: BTreeMap<TechniqueId, usize>,
    /// Rows dropped because of unknown labels.
    pub dropped_rows: usize,
}

/// Exact duplicates and conflicting labels in a dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quality {
    /// Rows with the same text and label as an earlier row.
    pub duplicate_rows: usize,
    /// Rows whose exact text already appeared earlier (any label).
    pub duplicate_texts: usize,
    /// Distinct texts carrying more than one label.
    pub conflicting_texts: usize,
    /// Rows involved in those conflicts.
    pub conflicting_rows: usize,
}

/// A dataset read from a file, labels checked against the catalog.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The file read.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// Where text, label and group come from.
    pub columns: Columns,
    /// The rows, in file order.
    pub samples: Vec<Sample>,
    /// 1-based line of each sample in the file (Parquet: 1-based row).
    pub lines: Vec<u64>,
    /// The raw records, one per sample ([`read_dataset`]; `None` from [`read_samples`]).
    pub raw: Option<RawRows>,
    /// Label remapping summary.
    pub labels: LabelReport,
    /// Control characters removed while reading.
    pub cleaning: Cleaning,
}

/// What the readers removed from the input: every value of every record (CSV cells and
/// header, JSON strings and keys) passes through one [`Cleaner`](read::Cleaner) before
/// anything reads it ([`strip_controls`](crate::text::strip_controls): control and bidi
/// characters removed, tabs and line breaks turned into spaces), so no output carries them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Cleaning {
    /// Control and bidi characters removed.
    pub removed_chars: u64,
    /// Tabs and line breaks replaced by a space.
    pub spaced_chars: u64,
    /// Records with at least one change.
    pub rows: u64,
    /// Line of the first such record.
    pub first_line: Option<u64>,
}

impl Cleaning {
    /// Whether nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// One sentence for logs and reports, `None` when nothing changed.
    pub fn summary(&self) -> Option<String> {
        (!self.is_empty()).then(|| {
            format!(
                "removed {} control/bidi character(s) and replaced {} tab(s)/line break(s) \
                 by spaces in {} record(s) (first at line {})",
                self.removed_chars,
                self.spaced_chars,
                self.rows,
                self.first_line.unwrap_or(0)
            )
        })
    }
}

impl Dataset {
    /// Counts duplicates and conflicts.
    pub fn quality(&self) -> Quality {
        quality(&self.samples)
    }
}

/// Lower-cased text with runs of whitespace folded to one space and the ends trimmed: the
/// key for exact-duplicate checks (filters, leak guards, splits).
pub fn normalize_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// Counts duplicate rows, duplicate texts and conflicting labels. Rows are sorted by
/// (trimmed text, label) through an index, so no text is copied: equal texts, and within
/// them equal labels, end up next to each other.
pub fn quality(samples: &[Sample]) -> Quality {
    let key = |i: usize| (samples[i].text.trim(), samples[i].label.as_str());
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.sort_unstable_by(|&a, &b| key(a).cmp(&key(b)));
    let mut q = Quality::default();
    for run in order.chunk_by(|&a, &b| key(a).0 == key(b).0) {
        let labels = 1 + run
            .windows(2)
            .filter(|w| key(w[0]).1 != key(w[1]).1)
            .count();
        q.duplicate_texts += run.len() - 1;
        q.duplicate_rows += run.len() - labels;
        if labels > 1 {
            q.conflicting_texts += 1;
            q.conflicting_rows += run.len();
        }
    }
    q
}

/// Guesses the format from the extension (`.parquet`/`.pq` is Parquet), then from the first
/// bytes (Parquet's `PAR1`, `[`, `{`) and the CSV header.
pub fn detect_format(path: &Path) -> Result<Format, DataError> {
    detect_format_with(path, &ReadOptions::default())
}

/// Reads a dataset and checks its labels against `catalog`, keeping the raw records (to
/// write the augmented file in the input's own format).
pub fn read_dataset(
    path: &Path,
    opts: &ReadOptions,
    catalog: &Catalog,
) -> Result<Dataset, DataError> {
    read_with(path, opts, catalog, true)
}

/// [`read_dataset`] without the raw records ([`Dataset::raw`] is `None`): what commands that
/// write no augmented file need. A CSV is then held once, as samples (about 2–3× the file).
pub fn read_samples(
    path: &Path,
    opts: &ReadOptions,
    catalog: &Catalog,
) -> Result<Dataset, DataError> {
    read_with(path, opts, catalog, false)
}

fn read_with(
    path: &Path,
    opts: &ReadOptions,
    catalog: &Catalog,
    keep_raw: bool,
) -> Result<Dataset, DataError> {
    let format = match opts.format {
        Some(f) => f,
        None => detect_format_with(path, opts)?,
    };
    let mut out = Labeler {
        path,
        opts,
        catalog,
        labels: LabelReport::default(),
        samples: Vec::new(),
        lines: Vec::new(),
        keep: Vec::new(),
        at: match format {
            Format::Parquet => Location::Row,
            _ => Location::Line,
        },
    };
    let (columns, raw, cleaning) = match format {
        Format::Tram => read_tram(path, opts, &mut out, keep_raw)?,
        Format::Jsonl => read_jsonl(path, opts, &mut out, keep_raw)?,
        Format::CtiToMitre | Format::Csv => read_csv(path, format, opts, &mut out, keep_raw)?,
        Format::Parquet => parquet::read_parquet(path, opts, &mut out, keep_raw)?,
    };
    let Labeler {
        labels,
        mut samples,
        mut lines,
        keep,
        ..
    } = out;
    for (from, (to, n)) in &labels.remapped {
        tracing::warn!(
            "{}: {n} rows labelled {from} (revoked) remapped to {to}",
            path.display()
        );
    }
    for (id, n) in &labels.unknown {
        tracing::warn!("{}: {n} rows with unknown label {id}", path.display());
    }
    if let Some(summary) = cleaning.summary() {
        tracing::warn!("{}: {summary}", path.display());
    }
    if samples.is_empty() {
        return Err(DataError::Empty { path: path.into() });
    }
    samples.shrink_to_fit();
    lines.shrink_to_fit();
    Ok(Dataset {
        path: path.to_path_buf(),
        format,
        columns,
        samples,
        lines,
        raw: raw.map(|raw| filter_raw(raw, &keep)),
        labels,
        cleaning,
    })
}

fn filter_raw(raw: RawRows, keep: &[bool]) -> RawRows {
    fn keep_only<T>(v: Vec<T>, keep: &[bool]) -> Vec<T> {
        v.into_iter()
            .zip(keep)
            .filter_map(|(x, &k)| k.then_some(x))
            .collect()
    }
    match raw {
        RawRows::Csv { header, rows } => RawRows::Csv {
            header,
            rows: keep_only(rows, keep),
        },
        RawRows::Json(v) => RawRows::Json(keep_only(v, keep)),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    pub(super) fn write(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(content)
            .unwrap();
        (dir, p)
    }

    pub(super) fn read(name: &str, content: &str) -> Result<Dataset, DataError> {
        let (_d, p) = write(name, content.as_bytes());
        read_dataset(&p, &ReadOptions::default(), Catalog::bundled())
    }

    /// `read_samples` holds the rows once (no raw records) and reads the same samples,
    /// ids, lines and counts as `read_dataset`, unknown labels dropped or not.
    #[test]
    fn read_samples_matches_read_dataset_without_raw_records() {
        let content = "text,label,doc_title\nDumps LSASS.,T1003.001,r1\nOld.,T1002,r1\n\
                       Dumps LSASS.,T1059,r2\nRuns.,T9999,\nDumps LSASS.,T1003.001,r3\n";
        let (_d, p) = write("s.csv", content.as_bytes());
        for unknown_labels in [UnknownLabels::Warn, UnknownLabels::Drop] {
            let opts = ReadOptions {
                unknown_labels,
                ..Default::default()
            };
            let full = read_dataset(&p, &opts, Catalog::bundled()).unwrap();
            let lean = read_samples(&p, &opts, Catalog::bundled()).unwrap();
            assert!(lean.raw.is_none());
            let Some(RawRows::Csv { rows, .. }) = &full.raw else {
                panic!("csv")
            };
            assert_eq!(rows.len(), full.samples.len());
            assert_eq!(lean.samples, full.samples);
            assert_eq!((lean.lines, lean.labels), (full.lines, full.labels));
            let ids: Vec<usize> = full.samples.iter().map(|s| s.id).collect();
            assert_eq!(ids, (0..full.samples.len()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn quality_counts_duplicates_and_conflicts() {
        let s = |t: &str, l: &str| Sample {
            id: 0,
            text: t.into(),
            label: l.into(),
            group: None,
            origin: Origin::Original,
        };
        let q = quality(&[
            s("a b", "T1"),
            s("a b ", "T1"),
            s("a b", "T2"),
            s("c", "T1"),
        ]);
        assert_eq!(q.duplicate_rows, 1);
        assert_eq!(q.duplicate_texts, 2);
        assert_eq!(q.conflicting_texts, 1);
        assert_eq!(q.conflicting_rows, 3);
    }
}
