//! What every reader shares: the input opened with its limits, the [`Cleaner`] every value
//! passes, the [`Labeler`] every row goes to, and the checks of one row's text, origin and
//! columns.

use std::fs::File;
use std::path::Path;

use serde_json::Value;

use super::{
    Cleaning, Columns, CtiLevel, DataError, Format, LabelReport, Location, Origin, RawRows,
    ReadOptions, Sample, UnknownLabels,
};
use crate::catalog::{Catalog, Resolution};
use crate::fileio::{FileProblem, Limit, Limited, open_regular};
use crate::technique::TechniqueId;
use crate::text::{Stripped, clip, strip_controls};

/// The one pass every value read from a file goes through (see [`Cleaning`]).
#[derive(Default)]
pub(super) struct Cleaner {
    pub(super) total: Cleaning,
    row: Stripped,
}

impl Cleaner {
    pub(super) fn str<'a>(&mut self, value: &'a str) -> std::borrow::Cow<'a, str> {
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
    pub(super) fn value(&mut self, value: &mut Value) -> Result<(), String> {
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
    pub(super) fn end_row(&mut self, line: u64) {
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

pub(super) fn invalid(path: &Path, location: Location, problem: impl Into<String>) -> DataError {
    DataError::Invalid {
        path: path.to_path_buf(),
        location,
        problem: problem.into(),
    }
}

pub(super) fn io_err<'a>(
    path: &'a Path,
    opts: &ReadOptions,
) -> impl FnOnce(std::io::Error) -> DataError + 'a {
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
pub(super) fn open_input(
    path: &Path,
    opts: &ReadOptions,
    lines: bool,
) -> Result<Limited<File>, DataError> {
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
pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One row as read, before catalog checks.
pub(super) struct RawSample {
    pub(super) text: String,
    pub(super) label: String,
    pub(super) group: Option<String>,
    pub(super) origin: Origin,
    pub(super) line: u64,
}

/// Reads an `origin` value written by `synthcti augment` (`original` when absent).
pub(super) fn parse_origin(
    path: &Path,
    at: Location,
    value: Option<&str>,
) -> Result<Origin, DataError> {
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

/// Turns rows as read into samples one at a time (labels parsed, remapped through the
/// catalog, unknown ones handled by policy), so a reader need not hold them twice.
pub(super) struct Labeler<'a> {
    pub(super) path: &'a Path,
    pub(super) opts: &'a ReadOptions,
    pub(super) catalog: &'a Catalog,
    pub(super) labels: LabelReport,
    pub(super) samples: Vec<Sample>,
    pub(super) lines: Vec<u64>,
    /// Per row read: kept (not dropped for an unknown label).
    pub(super) keep: Vec<bool>,
    /// Where a row's number points: a line, or a Parquet row.
    pub(super) at: fn(u64) -> Location,
}

impl Labeler<'_> {
    pub(super) fn push(&mut self, r: RawSample) -> Result<(), DataError> {
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

pub(super) fn nonempty_text(
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

/// The configured columns (`text`, `label` by default), and as the group the configured one
/// or else `doc_title` or `group` when `has` it.
pub(super) fn named_columns(opts: &ReadOptions, has: impl Fn(&str) -> bool) -> Columns {
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

/// The columns to read from a CSV with `header`: CTI-to-MITRE's fixed names, else the
/// configured ones (`text`, `label`, and `doc_title` or `group` as the group when present).
pub(super) fn csv_columns(format: Format, opts: &ReadOptions, header: &[String]) -> Columns {
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

/// Warns when some rows lack the group column: each such row is its own group in splits.
pub(super) fn warn_missing_groups(path: &Path, cols: &Columns, rows: &[RawSample]) {
    let missing = rows.iter().filter(|r| r.group.is_none()).count();
    if let (Some(g), true) = (&cols.group, missing > 0) {
        tracing::warn!(
            "{}: {missing} of {} rows have no {g:?}; each is its own group in splits",
            path.display(),
            rows.len()
        );
    }
}

pub(super) type Read3 = (Columns, Option<RawRows>, Cleaning);

#[cfg(test)]
mod tests {
    use super::super::tests::{read, write};
    use super::super::{Origin, RawRows, ReadOptions, UnknownLabels, read_dataset};
    use crate::catalog::Catalog;

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
}
