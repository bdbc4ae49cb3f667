//! Labelled sentences: the types every stage hands on, and the dataset readers.
//!
//! Readers: TRAM's native JSON (a list of `{text, label, doc_title}`), CTI-to-MITRE's native
//! CSV (`,label_tec,label_subtec,tec_name,sentence`), generic CSV / JSONL with named
//! columns, and Parquet with the same columns (the Hugging Face hub's format; see
//! `data/parquet.rs`). CSV and JSONL are read record by record, Parquet batch by batch.
//! Every error names the file, the line (Parquet: the row) and the problem; nothing here
//! panics on user data.

mod parquet;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{Catalog, Resolution};
use crate::technique::TechniqueId;
use crate::text::{Stripped, clip, clip_json, strip_controls};

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

/// What kind of thing a path that is not a regular file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A named pipe.
    Fifo,
    /// A character device (`/dev/zero`, a terminal).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A Unix socket.
    Socket,
    /// Anything else.
    Other,
}

impl FileKind {
    fn of(ft: std::fs::FileType) -> Self {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_dir() {
            Self::Directory
        } else if ft.is_fifo() {
            Self::Fifo
        } else if ft.is_char_device() {
            Self::CharDevice
        } else if ft.is_block_device() {
            Self::BlockDevice
        } else if ft.is_socket() {
            Self::Socket
        } else {
            Self::Other
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Directory => "a directory",
            Self::Fifo => "a named pipe (FIFO)",
            Self::CharDevice => "a character device",
            Self::BlockDevice => "a block device",
            Self::Socket => "a socket",
            Self::Other => "not a regular file",
        })
    }
}

/// Why a file cannot be read as an input.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    /// Not a regular file (after following symlinks).
    #[error("not a regular file: it is {0}")]
    NotRegular(FileKind),
    /// Larger than the limit.
    #[error("the file is larger than {setting} = {limit} bytes")]
    TooLarge {
        /// The setting that sets the limit.
        setting: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// Opening or reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Opens `path` for reading if it is a regular file (symlinks followed) of at most
/// `limit` bytes. Never blocks on a FIFO: the type is checked before opening, and the
/// open itself does not wait for a writer.
pub fn open_regular(path: &Path, limit: u64, setting: &'static str) -> Result<File, FileProblem> {
    use std::os::unix::fs::OpenOptionsExt;
    let check = |meta: std::fs::Metadata| {
        if !meta.is_file() {
            return Err(FileProblem::NotRegular(FileKind::of(meta.file_type())));
        }
        if meta.len() > limit {
            return Err(FileProblem::TooLarge { setting, limit });
        }
        Ok(())
    };
    check(std::fs::metadata(path)?)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    // The path may have been swapped between the two checks.
    check(file.metadata()?)?;
    Ok(file)
}

/// Reads a whole regular file of at most `limit` bytes (see [`open_regular`]); a file
/// that grows past the limit while being read is an error, never silently cut.
pub fn read_regular(
    path: &Path,
    limit: u64,
    setting: &'static str,
) -> Result<Vec<u8>, FileProblem> {
    let file = open_regular(path, limit, setting)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(FileProblem::TooLarge { setting, limit });
    }
    Ok(bytes)
}

/// A reader that errors (never truncates) once the file passes `max_total` bytes or a
/// line passes `max_line` bytes, so a hostile file costs bounded memory. Bytes before the
/// offending line are delivered first, so earlier errors keep their line numbers.
struct Limited<R> {
    inner: R,
    max_total: u64,
    max_line: Option<u64>,
    total: u64,
    line_len: u64,
    line: u64,
    pending: Option<Limit>,
}

/// Which limit a [`Limited`] reader hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Limit {
    #[error("file too large")]
    File,
    #[error("line {0} too long")]
    Line(u64),
}

impl<R: Read> Limited<R> {
    fn new(inner: R, max_total: u64, max_line: Option<u64>) -> Self {
        Self {
            inner,
            max_total,
            max_line,
            total: 0,
            line_len: 0,
            line: 1,
            pending: None,
        }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(limit) = self.pending {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, limit));
        }
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            self.total += 1;
            if self.total > self.max_total {
                self.pending = Some(Limit::File);
            } else if b == b'\n' {
                self.line += 1;
                self.line_len = 0;
                continue;
            } else {
                self.line_len += 1;
                if self.max_line.is_some_and(|m| self.line_len > m) {
                    self.pending = Some(Limit::Line(self.line));
                }
            }
            if self.pending.is_some() {
                if i == 0 {
                    return self.read(buf);
                }
                return Ok(i);
            }
        }
        Ok(n)
    }
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
/// header, JSON strings and keys) passes through one [`Cleaner`] before anything reads it
/// ([`strip_controls`]: control and bidi characters removed, tabs and line breaks turned
/// into spaces), so no output carries them.
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

/// The one pass every value read from a file goes through (see [`Cleaning`]).
#[derive(Default)]
struct Cleaner {
    total: Cleaning,
    row: Stripped,
}

impl Cleaner {
    fn str<'a>(&mut self, value: &'a str) -> std::borrow::Cow<'a, str> {
        match strip_controls(value) {
            None => std::borrow::Cow::Borrowed(value),
            Some((clean, n)) => {
                self.row.removed += n.removed;
                self.row.spaced += n.spaced;
                std::borrow::Cow::Owned(clean)
            }
        }
    }

    fn string(&mut self, value: &mut String) {
        if let std::borrow::Cow::Owned(clean) = self.str(value) {
            *value = clean;
        }
    }

    /// Cleans every string and key of `value`; two keys equal once cleaned are an error.
    fn value(&mut self, value: &mut Value) -> Result<(), String> {
        match value {
            Value::String(s) => self.string(s),
            Value::Array(a) => {
                for v in a {
                    self.value(v)?;
                }
            }
            Value::Object(m) if m.keys().any(|k| strip_controls(k).is_some()) => {
                for (k, mut v) in std::mem::take(m) {
                    let k = self.str(&k).into_owned();
                    self.value(&mut v)?;
                    if m.contains_key(&k) {
                        return Err(format!(
                            "key {} appears twice once control characters are removed",
                            clip(&k)
                        ));
                    }
                    m.insert(k, v);
                }
            }
            Value::Object(m) => {
                for v in m.values_mut() {
                    self.value(v)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Closes the record at `line`.
    fn end_row(&mut self, line: u64) {
        if !self.row.is_empty() {
            let t = &mut self.total;
            t.removed_chars += self.row.removed;
            t.spaced_chars += self.row.spaced;
            t.rows += 1;
            t.first_line.get_or_insert(line);
            self.row = Stripped::default();
        }
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

fn invalid(path: &Path, location: Location, problem: impl Into<String>) -> DataError {
    DataError::Invalid {
        path: path.to_path_buf(),
        location,
        problem: problem.into(),
    }
}

fn io_err<'a>(path: &'a Path, opts: &ReadOptions) -> impl FnOnce(std::io::Error) -> DataError + 'a {
    let (max_file, max_line) = (opts.max_file_bytes, opts.max_line_bytes);
    move |source| {
        let path = path.to_path_buf();
        match source.get_ref().and_then(|e| e.downcast_ref::<Limit>()) {
            Some(Limit::File) => DataError::File {
                path,
                problem: FileProblem::TooLarge {
                    setting: "input.max_file_bytes",
                    limit: max_file,
                },
            },
            Some(&Limit::Line(line)) => DataError::LineTooLong {
                path,
                line,
                limit: max_line,
            },
            None => DataError::Io { path, source },
        }
    }
}

/// Opens an input file with the limits of `opts` (regular file, size, line length).
fn open_input(path: &Path, opts: &ReadOptions, lines: bool) -> Result<Limited<File>, DataError> {
    let file =
        open_regular(path, opts.max_file_bytes, "input.max_file_bytes").map_err(|problem| {
            match problem {
                FileProblem::Io(source) => DataError::Io {
                    path: path.into(),
                    source,
                },
                problem => DataError::File {
                    path: path.into(),
                    problem,
                },
            }
        })?;
    Ok(Limited::new(
        file,
        opts.max_file_bytes,
        lines.then_some(opts.max_line_bytes),
    ))
}

/// The UTF-8 byte-order mark, accepted (and skipped) at the start of every format.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Guesses the format from the extension (`.parquet`/`.pq` is Parquet), then from the first
/// bytes (Parquet's `PAR1`, `[`, `{`) and the CSV header.
pub fn detect_format(path: &Path) -> Result<Format, DataError> {
    detect_format_with(path, &ReadOptions::default())
}

/// The lower-cased extension of `path`.
fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// The first 4 KiB of the file, without a BOM.
fn head_bytes(path: &Path, opts: &ReadOptions) -> Result<Vec<u8>, DataError> {
    let mut head = Vec::with_capacity(4096);
    open_input(path, opts, false)?
        .take(4096)
        .read_to_end(&mut head)
        .map_err(io_err(path, opts))?;
    if head.starts_with(BOM) {
        head.drain(..BOM.len());
    }
    Ok(head)
}

/// The CSV delimiter: a tab for `.tsv`, or when the header line holds more tabs than
/// commas (a tab-separated file named `.csv` or without extension); else a comma.
fn csv_delimiter(path: &Path, head: &[u8]) -> u8 {
    if extension(path).as_deref() == Some("tsv") {
        return b'\t';
    }
    let header_line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let count = |d: u8| header_line.iter().filter(|&&b| b == d).count();
    if count(b'\t') > count(b',') {
        b'\t'
    } else {
        b','
    }
}

fn detect_format_with(path: &Path, opts: &ReadOptions) -> Result<Format, DataError> {
    let ext = extension(path);
    let head = head_bytes(path, opts)?;
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace());
    let csv_kind = || {
        let header_line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
        let header = String::from_utf8_lossy(header_line);
        let delimiter = char::from(csv_delimiter(path, &head));
        let cols: Vec<&str> = header.split(delimiter).map(|c| c.trim()).collect();
        if cols.contains(&"label_tec") && cols.contains(&"sentence") {
            Format::CtiToMitre
        } else {
            Format::Csv
        }
    };
    Ok(match (ext.as_deref(), first) {
        (Some("parquet" | "pq"), _) => Format::Parquet,
        (Some("jsonl" | "ndjson"), _) => Format::Jsonl,
        (Some("json"), Some(b'{')) => Format::Jsonl,
        (Some("json"), _) => Format::Tram,
        (Some("csv" | "tsv"), _) => csv_kind(),
        _ if head.starts_with(parquet::MAGIC) => Format::Parquet,
        (_, Some(b'[')) => Format::Tram,
        (_, Some(b'{')) => Format::Jsonl,
        (_, None) => return Err(DataError::Empty { path: path.into() }),
        _ => csv_kind(),
    })
}

/// One row as read, before catalog checks.
struct RawSample {
    text: String,
    label: String,
    group: Option<String>,
    origin: Origin,
    line: u64,
}

/// Reads an `origin` value written by `synthcti augment` (`original` when absent).
fn parse_origin(path: &Path, at: Location, value: Option<&str>) -> Result<Origin, DataError> {
    match value.map(str::trim) {
        None | Some("") | Some("original") => Ok(Origin::Original),
        Some("synthetic") => Ok(Origin::Synthetic),
        Some("attack-procedure") => Ok(Origin::AttackProcedure),
        Some(other) => Err(invalid(
            path,
            at,
            format!(
                "origin {} is not original, synthetic or attack-procedure",
                clip(other)
            ),
        )),
    }
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

/// Turns rows as read into samples one at a time (labels parsed, remapped through the
/// catalog, unknown ones handled by policy), so a reader need not hold them twice.
struct Labeler<'a> {
    path: &'a Path,
    opts: &'a ReadOptions,
    catalog: &'a Catalog,
    labels: LabelReport,
    samples: Vec<Sample>,
    lines: Vec<u64>,
    /// Per row read: kept (not dropped for an unknown label).
    keep: Vec<bool>,
    /// Where a row's number points: a line, or a Parquet row.
    at: fn(u64) -> Location,
}

impl Labeler<'_> {
    fn push(&mut self, r: RawSample) -> Result<(), DataError> {
        let (path, labels) = (self.path, &mut self.labels);
        let label = TechniqueId::parse(&r.label).ok_or_else(|| {
            invalid(
                path,
                (self.at)(r.line),
                format!(
                    "label {} is not an ATT&CK technique id (T#### or T####.###)",
                    clip(&r.label)
                ),
            )
        })?;
        let label = match self.catalog.resolve(&label) {
            Resolution::Active => label,
            Resolution::Remapped(to) => {
                labels
                    .remapped
                    .entry(label)
                    .or_insert_with(|| (to.clone(), 0))
                    .1 += 1;
                to
            }
            Resolution::Deprecated | Resolution::Unknown => match self.opts.unknown_labels {
                UnknownLabels::Error => {
                    return Err(invalid(
                        path,
                        (self.at)(r.line),
                        format!(
                            "label {label} is not an active ATT&CK Enterprise technique \
                             (use --unknown-labels warn|drop to accept such rows)"
                        ),
                    ));
                }
                UnknownLabels::Warn | UnknownLabels::Drop => {
                    *labels.unknown.entry(label.clone()).or_default() += 1;
                    if self.opts.unknown_labels == UnknownLabels::Drop {
                        labels.dropped_rows += 1;
                        self.keep.push(false);
                        return Ok(());
                    }
                    label
                }
            },
        };
        self.keep.push(true);
        self.samples.push(Sample {
            id: self.samples.len(),
            text: r.text,
            label,
            group: r.group,
            origin: r.origin,
        });
        self.lines.push(r.line);
        Ok(())
    }
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

fn nonempty_text(
    path: &Path,
    at: Location,
    text: &str,
    max_chars: usize,
) -> Result<String, DataError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(invalid(path, at, "empty text"));
    }
    if t.chars().nth(max_chars).is_some() {
        return Err(invalid(
            path,
            at,
            format!(
                "text of {} characters is longer than input.max_text_chars = {max_chars}: {}",
                t.chars().count(),
                clip(t)
            ),
        ));
    }
    Ok(t.to_string())
}

/// Takes a string field of a JSON object; `number_ok`: a number is read as its digits
/// (group ids), otherwise it is an error (a numeric text or label is a broken file).
fn json_field(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    number_ok: bool,
    path: &Path,
    line: u64,
) -> Result<Option<String>, DataError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if number_ok => Ok(Some(n.to_string())),
        // TRAM multi-label files put a list; a one-element list is a single label.
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            Ok(a[0].as_str().map(str::to_string))
        }
        Some(other) => Err(invalid(
            path,
            Location::Line(line),
            format!(
                "field {} should be a string, found {}",
                clip(name),
                clip_json(other)
            ),
        )),
    }
}

fn sample_from_json(
    value: &Value,
    cols: &Columns,
    opts: &ReadOptions,
    path: &Path,
    line: u64,
) -> Result<RawSample, DataError> {
    let obj = value.as_object().ok_or_else(|| {
        invalid(
            path,
            Location::Line(line),
            format!("expected a JSON object, found {}", clip_json(value)),
        )
    })?;
    let required = |name: &str| {
        json_field(obj, name, false, path, line)?.ok_or_else(|| {
            invalid(
                path,
                Location::Line(line),
                format!("missing field {}", clip(name)),
            )
        })
    };
    Ok(RawSample {
        text: nonempty_text(
            path,
            Location::Line(line),
            &required(&cols.text)?,
            opts.max_text_chars,
        )?,
        label: required(&cols.label)?,
        group: match &cols.group {
            Some(g) => json_field(obj, g, true, path, line)?.filter(|s| !s.trim().is_empty()),
            None => None,
        },
        origin: match obj.get("origin") {
            None | Some(Value::Null) => Origin::Original,
            Some(Value::String(s)) => parse_origin(path, Location::Line(line), Some(s))?,
            Some(other) => {
                return Err(invalid(
                    path,
                    Location::Line(line),
                    format!(
                        "field \"origin\" should be a string (original, synthetic or \
                         attack-procedure), found {}",
                        clip_json(other)
                    ),
                ));
            }
        },
        line,
    })
}

/// The columns of a JSON dataset. The group column (`doc_title`, else `group`) is taken
/// when any record has it, so a first record without one does not drop grouping.
fn json_columns(opts: &ReadOptions, values: &[Value]) -> Columns {
    named_columns(opts, |name| {
        values
            .iter()
            .any(|v| v.as_object().is_some_and(|o| o.contains_key(name)))
    })
}

/// The configured columns (`text`, `label` by default), and as the group the configured one
/// or else `doc_title` or `group` when `has` it.
fn named_columns(opts: &ReadOptions, has: impl Fn(&str) -> bool) -> Columns {
    Columns {
        text: opts.text_col.clone().unwrap_or_else(|| "text".into()),
        label: opts.label_col.clone().unwrap_or_else(|| "label".into()),
        group: opts
            .group_col
            .clone()
            .or_else(|| has("doc_title").then(|| "doc_title".into()))
            .or_else(|| has("group").then(|| "group".into())),
    }
}

/// Warns when some rows lack the group column: each such row is its own group in splits.
fn warn_missing_groups(path: &Path, cols: &Columns, rows: &[RawSample]) {
    let missing = rows.iter().filter(|r| r.group.is_none()).count();
    if let (Some(g), true) = (&cols.group, missing > 0) {
        tracing::warn!(
            "{}: {missing} of {} rows have no {g:?}; each is its own group in splits",
            path.display(),
            rows.len()
        );
    }
}

fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, DataError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count() as u64;
        invalid(path, Location::Line(line), "invalid UTF-8")
    })
}

fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count() as u64;
    let col = 1 + before.iter().rev().take_while(|&&b| b != b'\n').count() as u64;
    (line, col)
}

/// The 1-based lines of increasing byte offsets, counted in one pass over `text` (a
/// [`line_col`] per record would rescan the file from its start: quadratic).
fn lines_at(text: &str, offsets: &[usize]) -> Vec<u64> {
    let bytes = text.as_bytes();
    let (mut at, mut line) = (0, 1u64);
    offsets
        .iter()
        .map(|&offset| {
            let offset = offset.min(bytes.len());
            if offset < at {
                return line_col(text, offset).0; // not increasing: count from the start
            }
            line += bytes[at..offset].iter().filter(|&&b| b == b'\n').count() as u64;
            at = offset;
            line
        })
        .collect()
}

type Read3 = (Columns, Option<RawRows>, Cleaning);

/// A JSON value read strictly: a key repeated in one object is an error (serde_json's
/// `Value` keeps the last silently). Nesting is bounded by serde_json's recursion limit.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "key {} appears twice in one object",
                    clip(&key)
                )));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// The hint added to a JSON Lines error when a line ends inside a value.
const JSONL_ONE_PER_LINE: &str =
    "JSON Lines needs one complete object per line; a TRAM file is a JSON list [...] of objects";

/// Cleans JSON records (one per line of `lines`) in place.
fn clean_json(path: &Path, values: &mut [Value], lines: &[u64]) -> Result<Cleaning, DataError> {
    let mut cleaner = Cleaner::default();
    for (v, &line) in values.iter_mut().zip(lines) {
        cleaner
            .value(v)
            .map_err(|problem| invalid(path, Location::Line(line), problem))?;
        cleaner.end_row(line);
    }
    Ok(cleaner.total)
}

/// TRAM native JSON: a top-level list of objects. The list is walked element by element so
/// every error can name the line of its record.
fn read_tram(
    path: &Path,
    opts: &ReadOptions,
    out: &mut Labeler,
    keep_raw: bool,
) -> Result<Read3, DataError> {
    let mut bytes = Vec::new();
    open_input(path, opts, false)?
        .read_to_end(&mut bytes)
        .map_err(io_err(path, opts))?;
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
    let text = utf8(path, bytes)?;
    let err_at = |offset: usize, problem: String| {
        let (l, c) = line_col(&text, offset);
        invalid(path, Location::LineColumn(l, c), problem)
    };
    let skip_ws = |mut i: usize| {
        while text.as_bytes().get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut pos = skip_ws(0);
    if text.as_bytes().get(pos) != Some(&b'[') {
        return Err(err_at(
            pos,
            "expected a JSON list of {text, label, doc_title} objects".into(),
        ));
    }
    pos = skip_ws(pos + 1);
    let mut values = Vec::new();
    let mut starts = Vec::new();
    if text.as_bytes().get(pos) == Some(&b']') {
        pos += 1;
    } else {
        loop {
            let mut stream =
                serde_json::Deserializer::from_str(&text[pos..]).into_iter::<StrictValue>();
            match stream.next() {
                Some(Ok(StrictValue(v))) => {
                    starts.push(pos);
                    values.push(v);
                    pos = skip_ws(pos + stream.byte_offset());
                }
                Some(Err(e)) => {
                    let (l, c) = line_col(&text, pos);
                    let (line, col) = if e.line() <= 1 {
                        (l, c + e.column() as u64 - 1)
                    } else {
                        (l + e.line() as u64 - 1, e.column() as u64)
                    };
                    let col = col.max(1);
                    return Err(invalid(
                        path,
                        Location::LineColumn(line, col),
                        format!("invalid JSON: {e}"),
                    ));
                }
                None => return Err(err_at(pos, "unexpected end of file inside the list".into())),
            }
            match text.as_bytes().get(pos) {
                Some(b',') => pos = skip_ws(pos + 1),
                Some(b']') => {
                    pos += 1;
                    break;
                }
                _ => return Err(err_at(pos, "expected ',' or ']' after a record".into())),
            }
        }
    }
    let end = skip_ws(pos);
    if end < text.len() {
        return Err(err_at(end, "trailing characters after the list".into()));
    }
    let lines = lines_at(&text, &starts);
    drop(text);
    let cleaning = clean_json(path, &mut values, &lines)?;
    let cols = json_columns(opts, &values);
    let rows = values
        .iter()
        .zip(lines)
        .map(|(v, line)| sample_from_json(v, &cols, opts, path, line))
        .collect::<Result<Vec<_>, _>>()?;
    warn_missing_groups(path, &cols, &rows);
    for r in rows {
        out.push(r)?;
    }
    Ok((cols, keep_raw.then_some(RawRows::Json(values)), cleaning))
}

/// JSON Lines: one object per line, read line by line (each line at most
/// `max_line_bytes`); the columns are decided over all lines.
fn read_jsonl(
    path: &Path,
    opts: &ReadOptions,
    out: &mut Labeler,
    keep_raw: bool,
) -> Result<Read3, DataError> {
    let mut reader = BufReader::new(open_input(path, opts, true)?);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut values = Vec::new();
    let mut lines = Vec::new();
    loop {
        buf.clear();
        if reader
            .read_until(b'\n', &mut buf)
            .map_err(io_err(path, opts))?
            == 0
        {
            break;
        }
        line_no += 1;
        let bytes = match line_no {
            1 => buf.strip_prefix(BOM).unwrap_or(&buf),
            _ => &buf[..],
        };
        let line = std::str::from_utf8(bytes)
            .map_err(|_| invalid(path, Location::Line(line_no), "invalid UTF-8"))?;
        if line.trim().is_empty() {
            continue;
        }
        let StrictValue(v) = serde_json::from_str(line).map_err(|e| {
            let at = Location::LineColumn(line_no, e.column() as u64);
            let first = values.is_empty();
            if e.is_eof() && first && extension(path).as_deref() == Some("json") {
                invalid(
                    path,
                    at,
                    format!(
                        "expected a JSON list of {{text, label, doc_title}} objects (TRAM) or \
                         one JSON object per line (JSON Lines), found a JSON object spread over \
                         several lines ({e})"
                    ),
                )
            } else if e.is_eof() {
                invalid(
                    path,
                    at,
                    format!("invalid JSON: {e} ({JSONL_ONE_PER_LINE})"),
                )
            } else {
                invalid(path, at, format!("invalid JSON: {e}"))
            }
        })?;
        values.push(v);
        lines.push(line_no);
    }
    let cleaning = clean_json(path, &mut values, &lines)?;
    let cols = json_columns(opts, &values);
    let rows = values
        .iter()
        .zip(&lines)
        .map(|(v, &line)| sample_from_json(v, &cols, opts, path, line))
        .collect::<Result<Vec<_>, _>>()?;
    warn_missing_groups(path, &cols, &rows);
    for r in rows {
        out.push(r)?;
    }
    Ok((cols, keep_raw.then_some(RawRows::Json(values)), cleaning))
}

/// The CSV header, BOM and surrounding spaces trimmed; a repeated name is an error.
fn csv_header(
    path: &Path,
    raw: &csv::StringRecord,
    cleaner: &mut Cleaner,
) -> Result<Vec<String>, DataError> {
    let header: Vec<String> = raw
        .iter()
        .map(|h| {
            cleaner
                .str(h.trim_start_matches('\u{feff}'))
                .trim()
                .to_string()
        })
        .collect();
    cleaner.end_row(1);
    for (i, h) in header.iter().enumerate() {
        if !h.is_empty() && header[..i].contains(h) {
            return Err(invalid(
                path,
                Location::File,
                format!("column {} appears more than once", clip(h)),
            ));
        }
    }
    Ok(header)
}

/// The columns to read from a CSV with `header`: CTI-to-MITRE's fixed names, else the
/// configured ones (`text`, `label`, and `doc_title` or `group` as the group when present).
fn csv_columns(format: Format, opts: &ReadOptions, header: &[String]) -> Columns {
    let has = |name: &str| header.iter().any(|h| h == name);
    match format {
        Format::CtiToMitre => Columns {
            text: "sentence".into(),
            label: match opts.cti_level {
                CtiLevel::Technique => "label_tec".into(),
                CtiLevel::Subtechnique => "label_subtec".into(),
            },
            group: opts.group_col.clone(),
        },
        _ => named_columns(opts, has),
    }
}

/// CSV (CTI-to-MITRE native or generic), read record by record.
fn read_csv(
    path: &Path,
    format: Format,
    opts: &ReadOptions,
    out: &mut Labeler,
    keep_raw: bool,
) -> Result<Read3, DataError> {
    let delimiter = csv_delimiter(path, &head_bytes(path, opts)?);
    let file = open_input(path, opts, true)?;
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_reader(file);
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(1, |p| p.line());
        if e.is_io_error() {
            return match e.into_kind() {
                csv::ErrorKind::Io(source) => io_err(path, opts)(source),
                other => invalid(path, Location::Line(line), format!("{other:?}")),
            };
        }
        let problem = match e.kind() {
            csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("expected {expected_len} fields, found {len}"),
            _ => e.to_string(),
        };
        invalid(path, Location::Line(line), problem)
    };
    let mut cleaner = Cleaner::default();
    let header = csv_header(path, rdr.headers().map_err(csv_err)?, &mut cleaner)?;
    let find = |name: &str| header.iter().position(|h| h == name);
    let cols = csv_columns(format, opts, &header);
    let need = |name: &str| {
        find(name).ok_or_else(|| {
            invalid(
                path,
                Location::File,
                format!(
                    "missing column {} (columns: {})",
                    clip(name),
                    clip(&header.join(", "))
                ),
            )
        })
    };
    let (ti, li) = (need(&cols.text)?, need(&cols.label)?);
    let gi = cols.group.as_deref().map(need).transpose()?;
    let oi = find("origin");
    let mut raw_rows = Vec::new();
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(csv_err)? {
        let line = rec.position().map_or(0, |p| p.line());
        let cells: Vec<std::borrow::Cow<str>> = rec.iter().map(|c| cleaner.str(c)).collect();
        cleaner.end_row(line);
        let get = |i: usize| cells.get(i).map_or("", |c| c.as_ref());
        let label = get(li).trim().to_string();
        if label.is_empty() {
            return Err(invalid(path, Location::Line(line), "empty label"));
        }
        let group = gi
            .map(get)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        out.push(RawSample {
            text: nonempty_text(path, Location::Line(line), get(ti), opts.max_text_chars)?,
            label,
            group,
            origin: parse_origin(path, Location::Line(line), oi.map(get))?,
            line,
        })?;
        if keep_raw {
            raw_rows.push(
                cells
                    .into_iter()
                    .map(std::borrow::Cow::into_owned)
                    .collect(),
            );
        }
    }
    let raw = keep_raw.then_some(RawRows::Csv {
        header,
        rows: raw_rows,
    });
    Ok((cols, raw, cleaner.total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_at_counts_once_and_matches_line_col() {
        let text = "[\n{\"a\": 1},\n\n{\"b\": 2}, {\"c\": 3}\n]";
        let offsets = [2, 12, 22, 5];
        let expected: Vec<u64> = offsets.iter().map(|&o| line_col(text, o).0).collect();
        assert_eq!(lines_at(text, &offsets), expected);
        assert_eq!(lines_at(text, &[0, 1000]), vec![1, 5]);
    }
    use std::io::Write;

    fn write(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(content)
            .unwrap();
        (dir, p)
    }

    fn read(name: &str, content: &str) -> Result<Dataset, DataError> {
        let (_d, p) = write(name, content.as_bytes());
        read_dataset(&p, &ReadOptions::default(), Catalog::bundled())
    }

    #[test]
    fn tram_json_reads_and_remaps() {
        let ds = read(
            "t.json",
            r#"[
  {"text": "Dumps LSASS.", "label": "T1003.001", "doc_title": "A"},
  {"text": "Hijacks DLL search order.", "label": "T1574.002", "doc_title": "B"}
]"#,
        )
        .unwrap();
        assert_eq!(ds.format, Format::Tram);
        assert_eq!(ds.samples[1].label, "T1574.001");
        assert_eq!(ds.samples[1].group.as_deref(), Some("B"));
        assert_eq!(ds.lines, vec![2, 3]);
        assert_eq!(ds.labels.remapped["T1574.002"], ("T1574.001".into(), 1));
    }

    #[test]
    fn tram_json_errors_name_the_line() {
        let e = read(
            "t.json",
            "[\n {\"text\": \"a\", \"label\": \"T1003\"},\n {\"text\": \"\", \"label\": \"T1003\"}\n]",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("t.json: line 3: empty text"), "{e}");
        let e = read(
            "t.json",
            "[\n {\"text\": \"a\", \"label\": \"T1003\"},\n {\"text\": oops}\n]",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 3") && e.contains("invalid JSON"), "{e}");
        let e = read("t.json", "[{\"text\": \"a\"}]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field \"label\""), "{e}");
        let e = read("t.json", "[{\"text\": \"a\", \"label\": \"T1003\"}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1"), "{e}");
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
    fn tab_separated_files_are_detected_by_extension_and_header() {
        let content = "\tlabel_tec\tlabel_subtec\ttec_name\tsentence\n\
                       6\tT1557\tT1557.002\tARP Cache Poisoning\tARP, then DNS, resolves.\n";
        for name in ["c.tsv", "c.csv", "c.txt", "c"] {
            let ds = read(name, content).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(ds.format, Format::CtiToMitre, "{name}");
            assert_eq!(ds.samples[0].label, "T1557", "{name}");
            assert_eq!(ds.samples[0].text, "ARP, then DNS, resolves.", "{name}");
        }
        let ds = read("g.csv", "text\tlabel\nDumps, then exits.\tT1003\n").unwrap();
        assert_eq!(
            (ds.format, ds.samples[0].text.as_str()),
            (Format::Csv, "Dumps, then exits.")
        );
        // A comma-separated header with a tab inside a name stays comma-separated.
        let ds = read("h.csv", "text,label,a\tb\nDumps.,T1003,x\n").unwrap();
        assert_eq!(ds.samples[0].label, "T1003");
    }

    #[test]
    fn control_characters_are_stripped_and_counted_in_jsonl() {
        let jsonl = concat!(
            "{\"text\": \"Dumps\\u0000 LSASS\\u001b[0m.\", \"label\": \"T1003\"}\n",
            "{\"text\": \"Clean.\", \"label\": \"T1003\"}\n",
            "{\"text\": \"\u{202e}Evil\\ttab.\", \"label\": \"T1003\", \"g\\u0007\": \"x\"}\n",
        );
        let ds = read("a.jsonl", jsonl).unwrap();
        assert_eq!(ds.samples[0].text, "Dumps LSASS[0m.");
        assert_eq!(ds.samples[2].text, "Evil tab.");
        let c = ds.cleaning;
        assert_eq!(
            (c.removed_chars, c.spaced_chars, c.rows, c.first_line),
            (4, 1, 2, Some(1))
        );
        let Some(RawRows::Json(values)) = &ds.raw else {
            panic!("json")
        };
        assert!(values[2].get("g").is_some(), "keys are cleaned too");
    }

    #[test]
    fn control_characters_are_stripped_and_counted_in_csv_and_json() {
        let ds = read(
            "b.csv",
            "text,label\n\"Dumps\u{7f}\r\nLSASS.\",T1003\u{200e}\n",
        )
        .unwrap();
        assert_eq!(
            (ds.samples[0].text.as_str(), ds.samples[0].label.as_str()),
            ("Dumps LSASS.", "T1003")
        );
        assert_eq!(
            (ds.cleaning.removed_chars, ds.cleaning.spaced_chars),
            (2, 1)
        );
        let ds = read(
            "c.json",
            "[{\"text\": \"A\\u0008B.\", \"label\": \"T1003\"}]",
        )
        .unwrap();
        assert_eq!((ds.samples[0].text.as_str(), ds.cleaning.rows), ("AB.", 1));
        // Only control characters: empty once cleaned.
        let e = read(
            "d.jsonl",
            "{\"text\": \"\\u0000\\u202e\", \"label\": \"T1003\"}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("line 1: empty text"), "{e}");
    }

    #[test]
    fn cti_csv_reads_both_levels() {
        let content = ",label_tec,label_subtec,tec_name,sentence\n\
                       6,T1557,T1557.002,ARP Cache Poisoning,ARP resolves addresses.\n";
        let (_d, p) = write("c.csv", content.as_bytes());
        let cat = Catalog::bundled();
        let ds = read_dataset(&p, &ReadOptions::default(), cat).unwrap();
        assert_eq!(ds.format, Format::CtiToMitre);
        assert_eq!(ds.samples[0].label, "T1557");
        let opts = ReadOptions {
            cti_level: CtiLevel::Subtechnique,
            ..Default::default()
        };
        assert_eq!(
            read_dataset(&p, &opts, cat).unwrap().samples[0].label,
            "T1557.002"
        );
    }

    #[test]
    fn csv_errors_name_line_and_problem() {
        let e = read("g.csv", "text,label\nok,T1003\n,T1003\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("g.csv: line 3: empty text"), "{e}");
        let e = read("g.csv", "sentence,label\nok,T1003\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing column \"text\""), "{e}");
        let e = read("g.csv", "text,label\nok,T1003,extra\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("expected 2 fields"),
            "{e}"
        );
        let e = read("g.csv", "text,label\nok,T9999\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("T9999"), "{e}");
        let e = read("g.csv", "text,label\nok,credential dumping\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an ATT&CK technique id"), "{e}");
        let (_d, p) = write("u.csv", b"text,label\nok \xff\xfe,T1003\n");
        let e = read_dataset(&p, &ReadOptions::default(), Catalog::bundled())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("invalid UTF-8"), "{e}");
    }

    #[test]
    fn jsonl_reads_and_reports() {
        let ds = read(
            "d.jsonl",
            "{\"text\":\"a b\",\"label\":\"T1003\",\"doc_title\":\"r\"}\n\n{\"text\":\"c\",\"label\":\"T1059\"}\n",
        )
        .unwrap();
        assert_eq!(ds.samples.len(), 2);
        assert_eq!(ds.lines, vec![1, 3]);
        let e = read(
            "d.jsonl",
            "{\"text\":\"a\",\"label\":\"T1003\"}\nnot json\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2") && e.contains("invalid JSON"), "{e}");
        let (_d, p) = write("u.jsonl", b"{\"text\":\"\xff\",\"label\":\"T1003\"}\n");
        let e = read_dataset(&p, &ReadOptions::default(), Catalog::bundled())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1: invalid UTF-8"), "{e}");
    }

    #[test]
    fn origin_column_is_read_back() {
        let ds = read(
            "o.jsonl",
            "{\"text\":\"a\",\"label\":\"T1003\",\"origin\":\"synthetic\"}\n{\"text\":\"b\",\"label\":\"T1003\"}\n",
        )
        .unwrap();
        assert_eq!(ds.samples[0].origin, Origin::Synthetic);
        assert_eq!(ds.samples[1].origin, Origin::Original);
        let e = read("o.csv", "text,label,origin\na,T1003,made-up\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("made-up"), "{e}");
    }

    #[test]
    fn unknown_labels_policy() {
        let (_d, p) = write("g.csv", b"text,label\na,T9999\nb,T1003\n");
        let cat = Catalog::bundled();
        let warn = ReadOptions {
            unknown_labels: UnknownLabels::Warn,
            ..Default::default()
        };
        assert_eq!(read_dataset(&p, &warn, cat).unwrap().samples.len(), 2);
        let drop = ReadOptions {
            unknown_labels: UnknownLabels::Drop,
            ..Default::default()
        };
        let ds = read_dataset(&p, &drop, cat).unwrap();
        assert_eq!(ds.samples.len(), 1);
        assert_eq!(ds.labels.dropped_rows, 1);
        assert_eq!(ds.samples[0].id, 0);
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

    #[test]
    fn bundled_tram_reads() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/tram2_single_label.json");
        let ds = read_dataset(&p, &ReadOptions::default(), Catalog::bundled()).unwrap();
        assert_eq!(ds.samples.len(), 5089);
        let q = ds.quality();
        assert_eq!(q.duplicate_rows, 254); // same text and label (252 before T1574.002 → .001)
        assert_eq!(q.duplicate_texts, 275); // 273 without trimming surrounding whitespace
        assert_eq!(q.conflicting_texts, 21);
        assert_eq!(q.conflicting_rows, 45);
        assert!(ds.samples.iter().all(|s| s.group.is_some()));
    }
}
