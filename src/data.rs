//! Labelled sentences: the types every stage hands on, and the dataset readers.
//!
//! Readers: TRAM's native JSON (a list of `{text, label, doc_title}`), CTI-to-MITRE's native
//! CSV (`,label_tec,label_subtec,tec_name,sentence`), and generic CSV / JSONL with named
//! columns. CSV and JSONL are read record by record. Every error names the file, the line (or
//! record) and the problem; nothing here panics on user data.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{Catalog, Resolution, normalize_technique_id};

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
    pub label: String,
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
}

impl Format {
    /// The file extension datasets of this format use.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Tram => "json",
            Format::CtiToMitre | Format::Csv => "csv",
            Format::Jsonl => "jsonl",
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

/// How to read a dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadOptions {
    /// The format; detected from the file when `None`.
    pub format: Option<Format>,
    /// Text column of generic CSV/JSONL (default `text`).
    pub text_col: Option<String>,
    /// Label column of generic CSV/JSONL (default `label`).
    pub label_col: Option<String>,
    /// Group (report) column; default `doc_title`, else `group`, when the file has one.
    pub group_col: Option<String>,
    /// CTI-to-MITRE label level.
    pub cti_level: CtiLevel,
    /// Unknown label policy.
    pub unknown_labels: UnknownLabels,
}

/// A bad input: the file, where in it, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file cannot be opened or read.
    #[error("{path}: {source}")]
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
}

/// Where in a file a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// 1-based line.
    Line(u64),
    /// 1-based line and column.
    LineColumn(u64, u64),
    /// The file as a whole (header, format).
    File,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Line(l) => write!(f, "line {l}"),
            Location::LineColumn(l, c) => write!(f, "line {l}, column {c}"),
            Location::File => write!(f, "header"),
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
    pub remapped: BTreeMap<String, (String, usize)>,
    /// Unknown or deprecated ids → rows (kept with a warning, or dropped).
    pub unknown: BTreeMap<String, usize>,
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
    /// 1-based line of each sample in the file.
    pub lines: Vec<u64>,
    /// The raw records, one per sample.
    pub raw: RawRows,
    /// Label remapping summary.
    pub labels: LabelReport,
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

/// Counts duplicate rows, duplicate texts and conflicting labels.
pub fn quality(samples: &[Sample]) -> Quality {
    let mut q = Quality::default();
    let mut labels_of: HashMap<String, BTreeMap<&str, usize>> = HashMap::new();
    for s in samples {
        let per_label = labels_of.entry(s.text.trim().to_string()).or_default();
        if !per_label.is_empty() {
            q.duplicate_texts += 1;
        }
        let n = per_label.entry(s.label.as_str()).or_default();
        if *n > 0 {
            q.duplicate_rows += 1;
        }
        *n += 1;
    }
    for per_label in labels_of.values().filter(|m| m.len() > 1) {
        q.conflicting_texts += 1;
        q.conflicting_rows += per_label.values().sum::<usize>();
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Guesses the format from the extension, then from the first bytes and the CSV header.
pub fn detect_format(path: &Path) -> Result<Format, DataError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let mut head = Vec::with_capacity(4096);
    File::open(path)
        .map_err(io_err(path))?
        .take(4096)
        .read_to_end(&mut head)
        .map_err(io_err(path))?;
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace());
    let csv_kind = || {
        let header_line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
        let header = String::from_utf8_lossy(header_line);
        let cols: Vec<&str> = header.split(',').map(|c| c.trim()).collect();
        if cols.contains(&"label_tec") && cols.contains(&"sentence") {
            Format::CtiToMitre
        } else {
            Format::Csv
        }
    };
    Ok(match (ext.as_deref(), first) {
        (Some("jsonl" | "ndjson"), _) => Format::Jsonl,
        (Some("json"), Some(b'{')) => Format::Jsonl,
        (Some("json"), _) => Format::Tram,
        (Some("csv" | "tsv"), _) => csv_kind(),
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
fn parse_origin(path: &Path, line: u64, value: Option<&str>) -> Result<Origin, DataError> {
    match value.map(str::trim) {
        None | Some("") | Some("original") => Ok(Origin::Original),
        Some("synthetic") => Ok(Origin::Synthetic),
        Some("attack-procedure") => Ok(Origin::AttackProcedure),
        Some(other) => Err(invalid(
            path,
            Location::Line(line),
            format!("origin {other:?} is not original, synthetic or attack-procedure"),
        )),
    }
}

/// Reads a dataset and checks its labels against `catalog`.
pub fn read_dataset(
    path: &Path,
    opts: &ReadOptions,
    catalog: &Catalog,
) -> Result<Dataset, DataError> {
    let format = match opts.format {
        Some(f) => f,
        None => detect_format(path)?,
    };
    let (columns, rows, raw) = match format {
        Format::Tram => read_tram(path, opts)?,
        Format::Jsonl => read_jsonl(path, opts)?,
        Format::CtiToMitre | Format::Csv => read_csv(path, format, opts)?,
    };
    if rows.is_empty() {
        return Err(DataError::Empty { path: path.into() });
    }
    let mut labels = LabelReport::default();
    let mut samples = Vec::with_capacity(rows.len());
    let mut lines = Vec::with_capacity(rows.len());
    let mut keep = Vec::with_capacity(rows.len());
    for (id, r) in rows.into_iter().enumerate() {
        let label = normalize_technique_id(&r.label).ok_or_else(|| {
            invalid(
                path,
                Location::Line(r.line),
                format!(
                    "label {:?} is not an ATT&CK technique id (T#### or T####.###)",
                    r.label
                ),
            )
        })?;
        let label = match catalog.resolve(&label) {
            Resolution::Active => label,
            Resolution::Remapped(to) => {
                labels
                    .remapped
                    .entry(label)
                    .or_insert_with(|| (to.clone(), 0))
                    .1 += 1;
                to
            }
            Resolution::Deprecated | Resolution::Unknown => match opts.unknown_labels {
                UnknownLabels::Error => {
                    return Err(invalid(
                        path,
                        Location::Line(r.line),
                        format!(
                            "label {label} is not an active ATT&CK Enterprise technique \
                             (use --unknown-labels warn|drop to accept such rows)"
                        ),
                    ));
                }
                UnknownLabels::Warn | UnknownLabels::Drop => {
                    *labels.unknown.entry(label.clone()).or_default() += 1;
                    if opts.unknown_labels == UnknownLabels::Drop {
                        labels.dropped_rows += 1;
                        keep.push(false);
                        continue;
                    }
                    label
                }
            },
        };
        keep.push(true);
        samples.push(Sample {
            id,
            text: r.text,
            label,
            group: r.group,
            origin: r.origin,
        });
        lines.push(r.line);
    }
    for (from, (to, n)) in &labels.remapped {
        tracing::warn!(
            "{}: {n} rows labelled {from} (revoked) remapped to {to}",
            path.display()
        );
    }
    for (id, n) in &labels.unknown {
        tracing::warn!("{}: {n} rows with unknown label {id}", path.display());
    }
    let raw = filter_raw(raw, &keep);
    if samples.is_empty() {
        return Err(DataError::Empty { path: path.into() });
    }
    // Re-number so ids index `samples`.
    for (i, s) in samples.iter_mut().enumerate() {
        s.id = i;
    }
    Ok(Dataset {
        path: path.to_path_buf(),
        format,
        columns,
        samples,
        lines,
        raw,
        labels,
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

fn nonempty_text(path: &Path, line: u64, text: &str) -> Result<String, DataError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(invalid(path, Location::Line(line), "empty text"));
    }
    Ok(t.to_string())
}

/// Takes a string field of a JSON object.
fn json_field(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    path: &Path,
    line: u64,
) -> Result<Option<String>, DataError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        // TRAM multi-label files put a list; a one-element list is a single label.
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            Ok(a[0].as_str().map(str::to_string))
        }
        Some(other) => Err(invalid(
            path,
            Location::Line(line),
            format!("field {name:?} should be a string, found {other}"),
        )),
    }
}

fn sample_from_json(
    value: &Value,
    cols: &Columns,
    path: &Path,
    line: u64,
) -> Result<RawSample, DataError> {
    let obj = value.as_object().ok_or_else(|| {
        invalid(
            path,
            Location::Line(line),
            format!("expected a JSON object, found {value}"),
        )
    })?;
    let required = |name: &str| {
        json_field(obj, name, path, line)?.ok_or_else(|| {
            invalid(
                path,
                Location::Line(line),
                format!("missing field {name:?}"),
            )
        })
    };
    Ok(RawSample {
        text: nonempty_text(path, line, &required(&cols.text)?)?,
        label: required(&cols.label)?,
        group: match &cols.group {
            Some(g) => json_field(obj, g, path, line)?.filter(|s| !s.trim().is_empty()),
            None => None,
        },
        origin: parse_origin(path, line, obj.get("origin").and_then(Value::as_str))?,
        line,
    })
}

fn json_columns(opts: &ReadOptions, first: Option<&Value>) -> Columns {
    let has = |name: &str| {
        first
            .and_then(Value::as_object)
            .is_some_and(|o| o.contains_key(name))
    };
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

type Read3 = (Columns, Vec<RawSample>, RawRows);

/// TRAM native JSON: a top-level list of objects. The list is walked element by element so
/// every error can name the line of its record.
fn read_tram(path: &Path, opts: &ReadOptions) -> Result<Read3, DataError> {
    let mut bytes = Vec::new();
    File::open(path)
        .map_err(io_err(path))?
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
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
            let mut stream = serde_json::Deserializer::from_str(&text[pos..]).into_iter::<Value>();
            match stream.next() {
                Some(Ok(v)) => {
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
    let cols = json_columns(opts, values.first());
    let rows = values
        .iter()
        .zip(&starts)
        .map(|(v, &start)| sample_from_json(v, &cols, path, line_col(&text, start).0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((cols, rows, RawRows::Json(values)))
}

/// JSON Lines: one object per line, read line by line.
fn read_jsonl(path: &Path, opts: &ReadOptions) -> Result<Read3, DataError> {
    let mut reader = BufReader::new(File::open(path).map_err(io_err(path))?);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut values = Vec::new();
    let mut rows = Vec::new();
    let mut cols: Option<Columns> = None;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io_err(path))? == 0 {
            break;
        }
        line_no += 1;
        let line = std::str::from_utf8(&buf)
            .map_err(|_| invalid(path, Location::Line(line_no), "invalid UTF-8"))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| {
            invalid(
                path,
                Location::LineColumn(line_no, e.column() as u64),
                format!("invalid JSON: {e}"),
            )
        })?;
        let cols = cols.get_or_insert_with(|| json_columns(opts, Some(&v)));
        rows.push(sample_from_json(&v, cols, path, line_no)?);
        values.push(v);
    }
    let cols = cols.unwrap_or_else(|| json_columns(opts, None));
    Ok((cols, rows, RawRows::Json(values)))
}

/// CSV (CTI-to-MITRE native or generic), read record by record.
fn read_csv(path: &Path, format: Format, opts: &ReadOptions) -> Result<Read3, DataError> {
    let file = File::open(path).map_err(io_err(path))?;
    let delimiter = if path.extension().is_some_and(|e| e == "tsv") {
        b'\t'
    } else {
        b','
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_reader(file);
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(1, |p| p.line());
        let problem = match e.kind() {
            csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("expected {expected_len} fields, found {len}"),
            _ => e.to_string(),
        };
        invalid(path, Location::Line(line), problem)
    };
    let header: Vec<String> = rdr
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    let find = |name: &str| header.iter().position(|h| h == name);
    let cols = match format {
        Format::CtiToMitre => Columns {
            text: "sentence".into(),
            label: match opts.cti_level {
                CtiLevel::Technique => "label_tec".into(),
                CtiLevel::Subtechnique => "label_subtec".into(),
            },
            group: opts.group_col.clone(),
        },
        _ => Columns {
            text: opts.text_col.clone().unwrap_or_else(|| "text".into()),
            label: opts.label_col.clone().unwrap_or_else(|| "label".into()),
            group: opts
                .group_col
                .clone()
                .or_else(|| find("doc_title").map(|_| "doc_title".into()))
                .or_else(|| find("group").map(|_| "group".into())),
        },
    };
    let need = |name: &str| {
        find(name).ok_or_else(|| {
            invalid(
                path,
                Location::File,
                format!("missing column {name:?} (columns: {})", header.join(", ")),
            )
        })
    };
    let (ti, li) = (need(&cols.text)?, need(&cols.label)?);
    let gi = cols.group.as_deref().map(need).transpose()?;
    let oi = find("origin");
    let mut rows = Vec::new();
    let mut raw_rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        let label = rec.get(li).unwrap_or_default().trim().to_string();
        if label.is_empty() {
            return Err(invalid(path, Location::Line(line), "empty label"));
        }
        rows.push(RawSample {
            text: nonempty_text(path, line, rec.get(ti).unwrap_or_default())?,
            label,
            group: gi
                .and_then(|g| rec.get(g))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            origin: parse_origin(path, line, oi.and_then(|i| rec.get(i)))?,
            line,
        });
        raw_rows.push(rec.iter().map(str::to_string).collect());
    }
    Ok((
        cols,
        rows,
        RawRows::Csv {
            header,
            rows: raw_rows,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
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
        read_dataset(&p, &ReadOptions::default(), &Catalog::bundled())
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

    #[test]
    fn cti_csv_reads_both_levels() {
        let content = ",label_tec,label_subtec,tec_name,sentence\n\
                       6,T1557,T1557.002,ARP Cache Poisoning,ARP resolves addresses.\n";
        let (_d, p) = write("c.csv", content.as_bytes());
        let cat = Catalog::bundled();
        let ds = read_dataset(&p, &ReadOptions::default(), &cat).unwrap();
        assert_eq!(ds.format, Format::CtiToMitre);
        assert_eq!(ds.samples[0].label, "T1557");
        let opts = ReadOptions {
            cti_level: CtiLevel::Subtechnique,
            ..Default::default()
        };
        assert_eq!(
            read_dataset(&p, &opts, &cat).unwrap().samples[0].label,
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
        let e = read_dataset(&p, &ReadOptions::default(), &Catalog::bundled())
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
        let e = read_dataset(&p, &ReadOptions::default(), &Catalog::bundled())
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
        assert_eq!(read_dataset(&p, &warn, &cat).unwrap().samples.len(), 2);
        let drop = ReadOptions {
            unknown_labels: UnknownLabels::Drop,
            ..Default::default()
        };
        let ds = read_dataset(&p, &drop, &cat).unwrap();
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
        let ds = read_dataset(&p, &ReadOptions::default(), &Catalog::bundled()).unwrap();
        assert_eq!(ds.samples.len(), 5089);
        let q = ds.quality();
        assert_eq!(q.duplicate_rows, 254); // same text and label (252 before T1574.002 → .001)
        assert_eq!(q.duplicate_texts, 275); // 273 without trimming surrounding whitespace
        assert_eq!(q.conflicting_texts, 21);
        assert_eq!(q.conflicting_rows, 45);
        assert!(ds.samples.iter().all(|s| s.group.is_some()));
    }
}
