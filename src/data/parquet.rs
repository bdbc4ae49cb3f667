//! The Parquet reader: a `.parquet` file (the format of datasets on the Hugging Face hub,
//! what `pandas.DataFrame.to_parquet` writes) read like a JSON Lines file with the same
//! columns — `text`, `label`, an optional group (`doc_title`, else `group`) and `origin`,
//! with `--text-col/--label-col/--group-col` honoured.
//!
//! Only the columns used are read (a projection), in record batches of [`BATCH_ROWS`]
//! rows, so memory stays bounded by one batch plus the rows kept. Before any data is
//! decoded the footer is checked: the columns' codecs (uncompressed or snappy: the build
//! carries no other codec) and their uncompressed size against `input.max_file_bytes`,
//! so a small file cannot expand into gigabytes. Errors name the file, the row
//! (`row N`, 1-based) or `schema`, and the problem; a panic inside the Parquet decoder on
//! a damaged file is caught and reported as a decoding error.

use std::borrow::Cow;
use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use parquet::file::metadata::ParquetMetaData;
use serde_json::{Value, json};

use super::read::{
    Cleaner, Labeler, RawSample, Read3, csv_columns, invalid, nonempty_text, open_input,
    parse_origin,
};
use super::{Columns, DataError, Location, RawRows, ReadOptions};
use crate::text::clip;

/// The first (and last) four bytes of every Parquet file.
pub(super) const MAGIC: &[u8] = b"PAR1";

/// Rows decoded at a time.
const BATCH_ROWS: usize = 1024;

/// The longest decoder message kept in an error.
const MESSAGE_CHARS: usize = 300;

/// A decoder error as a short, printable message.
fn message(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let mut out: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MESSAGE_CHARS)
        .collect();
    if text.chars().count() > MESSAGE_CHARS {
        out.push('…');
    }
    out
}

/// The text of a panic payload (a `&str` or `String`, else a fixed phrase).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Reads a Parquet dataset into `out` (see the module doc). The raw records kept for
/// `keep_raw` are the rows as read — `{text, label, origin, group}` objects — which is what
/// `augmented.parquet` writes back.
pub(super) fn read_parquet(
    path: &Path,
    opts: &ReadOptions,
    out: &mut Labeler,
    keep_raw: bool,
) -> Result<Read3, DataError> {
    // Regular file, size limit, no FIFO: the same gate as every other format.
    let file = open_input(path, opts, false)?.inner;
    let read = std::panic::AssertUnwindSafe(|| read_file(path, file, opts, out, keep_raw));
    std::panic::catch_unwind(read).unwrap_or_else(|payload| {
        Err(invalid(
            path,
            Location::Schema,
            format!(
                "the Parquet decoder failed on this file (damaged?): {}",
                message(&panic_text(payload.as_ref()))
            ),
        ))
    })
}

/// The column indices (top-level fields) that are read: text, label, group, origin.
struct Wanted {
    text: usize,
    label: usize,
    group: Option<usize>,
    origin: Option<usize>,
}

/// The columns to read, found among the file's top-level fields (names cleaned like CSV
/// header cells; a repeated name is an error).
fn wanted(
    path: &Path,
    opts: &ReadOptions,
    names: &[String],
) -> Result<(Columns, Wanted), DataError> {
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(invalid(
                path,
                Location::Schema,
                format!("column {} appears more than once", clip(n)),
            ));
        }
    }
    let cols = csv_columns(super::Format::Parquet, opts, names);
    let find = |name: &str| names.iter().position(|h| h == name);
    let need = |name: &str| {
        find(name).ok_or_else(|| {
            invalid(
                path,
                Location::Schema,
                format!(
                    "missing column {} (columns: {})",
                    clip(name),
                    clip(&names.join(", "))
                ),
            )
        })
    };
    let at = Wanted {
        text: need(&cols.text)?,
        label: need(&cols.label)?,
        group: cols.group.as_deref().map(need).transpose()?,
        origin: find("origin"),
    };
    Ok((cols, at))
}

/// Refuses, before decoding, column chunks of a codec this build lacks and columns whose
/// uncompressed size passes `input.max_file_bytes`.
fn check_footer(
    path: &Path,
    opts: &ReadOptions,
    meta: &ParquetMetaData,
    roots: &[usize],
) -> Result<(), DataError> {
    check_layout(meta).map_err(|problem| {
        invalid(
            path,
            Location::Schema,
            format!("damaged Parquet metadata: {problem}"),
        )
    })?;
    let schema = meta.file_metadata().schema_descr();
    let mut total: u64 = 0;
    for rg in meta.row_groups() {
        for (leaf, chunk) in rg.columns().iter().enumerate() {
            if !roots.contains(&schema.get_column_root_idx(leaf)) {
                continue;
            }
            let codec = chunk.compression();
            if !matches!(codec, Compression::UNCOMPRESSED | Compression::SNAPPY) {
                // `ZSTD(ZstdLevel(1))` → `ZSTD`
                let codec = codec.to_string();
                let codec = codec.split('(').next().unwrap_or_default();
                return Err(invalid(
                    path,
                    Location::Schema,
                    format!(
                        "column {} is compressed with {codec}; synthcti reads uncompressed or \
                         snappy Parquet (pandas' default: to_parquet(..., compression=\"snappy\"))",
                        clip(&chunk.column_path().string())
                    ),
                ));
            }
            let size = u64::try_from(chunk.uncompressed_size()).unwrap_or(u64::MAX);
            total = total.saturating_add(size);
        }
    }
    if total > opts.max_file_bytes {
        return Err(invalid(
            path,
            Location::Schema,
            format!(
                "the columns read hold {total} bytes uncompressed, more than \
                 input.max_file_bytes = {}",
                opts.max_file_bytes
            ),
        ));
    }
    Ok(())
}

/// Checks the footer numbers the Parquet reader trusts (it asserts, or sums without
/// overflow checks): row counts and column chunk offsets and sizes not negative, row
/// counts that add up, and one chunk per column in every row group.
fn check_layout(meta: &ParquetMetaData) -> Result<(), &'static str> {
    let leaves = meta.file_metadata().schema_descr().num_columns();
    let mut rows: u64 = 0;
    for rg in meta.row_groups() {
        let n = u64::try_from(rg.num_rows()).map_err(|_| "a negative row count")?;
        rows = rows.checked_add(n).ok_or("row counts that overflow")?;
        if rg.columns().len() != leaves {
            return Err("a row group without one chunk per column");
        }
        for chunk in rg.columns() {
            let offsets = [
                chunk.data_page_offset(),
                chunk.dictionary_page_offset().unwrap_or(0),
                chunk.compressed_size(),
                chunk.uncompressed_size(),
            ];
            if offsets.iter().any(|&x| x < 0) {
                return Err("a negative column chunk offset or size");
            }
        }
    }
    usize::try_from(rows).map_err(|_| "too many rows")?;
    Ok(())
}

/// Opens the Parquet footer, finds the columns, checks the footer, and reads the batches.
fn read_file(
    path: &Path,
    file: File,
    opts: &ReadOptions,
    out: &mut Labeler,
    keep_raw: bool,
) -> Result<Read3, DataError> {
    // The embedded Arrow schema is skipped: types come from the Parquet schema alone, so
    // every string column arrives as plain UTF-8 (no dictionary, large or view variants).
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let builder =
        ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).map_err(|e| {
            invalid(
                path,
                Location::Schema,
                format!("not a Parquet file, or a damaged one: {}", message(&e)),
            )
        })?;
    let mut cleaner = Cleaner::default();
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| cleaner.str(f.name()).trim().to_string())
        .collect();
    let (cols, at) = wanted(path, opts, &names)?;
    let mut roots: Vec<usize> = [Some(at.text), Some(at.label), at.group, at.origin]
        .into_iter()
        .flatten()
        .collect();
    roots.sort_unstable();
    roots.dedup();
    check_footer(path, opts, builder.metadata(), &roots)?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| invalid(path, Location::Schema, message(&e)))?;
    let mut rows = Batches {
        path,
        opts,
        names: &names,
        at: &at,
        projected: &roots,
        cleaner,
        raw: Vec::new(),
        keep_raw,
        next_row: 1,
    };
    for batch in reader {
        let batch = batch.map_err(|e| {
            invalid(
                path,
                Location::Row(rows.next_row),
                format!("cannot decode the rows from here on: {}", message(&e)),
            )
        })?;
        rows.batch(&batch, out)?;
    }
    if let Some(g) = &cols.group {
        let missing = out.samples.iter().filter(|s| s.group.is_none()).count();
        if missing > 0 {
            tracing::warn!(
                "{}: {missing} of {} rows have no {g:?}; each is its own group in splits",
                path.display(),
                out.samples.len()
            );
        }
    }
    let raw = keep_raw.then_some(RawRows::Json(rows.raw));
    Ok((cols, raw, rows.cleaner.total))
}

/// The state of a read across record batches.
struct Batches<'a> {
    path: &'a Path,
    opts: &'a ReadOptions,
    names: &'a [String],
    at: &'a Wanted,
    /// The file's column indices read, in file order (= the batches' column order).
    projected: &'a [usize],
    cleaner: Cleaner,
    /// One JSON object per row read (`Null` for a row dropped by the label policy).
    raw: Vec<Value>,
    keep_raw: bool,
    /// 1-based number of the batch's first row in the file.
    next_row: u64,
}

/// One cell: a string, or null.
type Cell<'a> = Option<Cow<'a, str>>;

impl Batches<'_> {
    /// The cells of the file's column `index` in `batch` (`numbers`: integers are read as
    /// their digits, as for group ids).
    fn column<'b>(
        &self,
        batch: &'b RecordBatch,
        index: usize,
        numbers: bool,
    ) -> Result<Vec<Cell<'b>>, DataError> {
        let name = &self.names[index];
        // The projection keeps the file's column order.
        let col = (self.projected.binary_search(&index).ok()).and_then(|i| batch.columns().get(i));
        let Some(col) = col else {
            return Err(invalid(
                self.path,
                Location::Schema,
                format!("column {} is not in the decoded rows", clip(name)),
            ));
        };
        cells(col.as_ref(), numbers).map_err(|bad| match bad {
            Bad::Type(t) => invalid(
                self.path,
                Location::Schema,
                format!(
                    "column {} holds {t} values, not {}",
                    clip(name),
                    if numbers {
                        "strings or integers"
                    } else {
                        "strings"
                    }
                ),
            ),
            Bad::Utf8(i) => invalid(
                self.path,
                Location::Row(self.next_row + i as u64),
                format!("column {}: invalid UTF-8", clip(name)),
            ),
        })
    }

    /// Cleans, checks and labels every row of `batch`.
    fn batch(&mut self, batch: &RecordBatch, out: &mut Labeler) -> Result<(), DataError> {
        let texts = self.column(batch, self.at.text, false)?;
        let labels = self.column(batch, self.at.label, false)?;
        let groups = match self.at.group {
            Some(g) => Some(self.column(batch, g, true)?),
            None => None,
        };
        let origins = match self.at.origin {
            Some(o) => Some(self.column(batch, o, false)?),
            None => None,
        };
        for i in 0..batch.num_rows() {
            let row = self.next_row + i as u64;
            let at = Location::Row(row);
            let mut cell = |cells: &[Cell<'_>]| -> Option<String> {
                let value = cells.get(i)?.as_deref()?;
                Some(self.cleaner.str(value).into_owned())
            };
            let text = cell(&texts);
            let label = cell(&labels);
            let group = groups.as_deref().and_then(&mut cell);
            let origin = origins.as_deref().and_then(&mut cell);
            self.cleaner.end_row(row);
            let (path, opts) = (self.path, self.opts);
            let null = |name: &str| invalid(path, at, format!("column {} is null", clip(name)));
            let text = text.ok_or_else(|| null(&self.names[self.at.text]))?;
            let label = label.ok_or_else(|| null(&self.names[self.at.label]))?;
            let label = label.trim().to_string();
            if label.is_empty() {
                return Err(invalid(path, at, "empty label"));
            }
            out.push(RawSample {
                text: nonempty_text(path, at, &text, opts.max_text_chars)?,
                label,
                // As in JSON: the group kept as written, a blank one is none.
                group: group.filter(|g| !g.trim().is_empty()),
                origin: parse_origin(path, at, origin.as_deref())?,
                line: row,
            })?;
            if self.keep_raw {
                self.raw.push(raw_row(out));
            }
        }
        self.next_row += batch.num_rows() as u64;
        Ok(())
    }
}

/// The raw record of the row just pushed: the sample as kept, or `Null` when the label
/// policy dropped it.
fn raw_row(out: &Labeler) -> Value {
    match (out.keep.last(), out.samples.last()) {
        (Some(true), Some(s)) => json!({
            "text": s.text,
            "label": s.label.as_str(),
            "origin": s.origin.as_str(),
            "group": s.group,
        }),
        _ => Value::Null,
    }
}

/// Why a column cannot be read as text.
enum Bad {
    /// Not a string (or, for groups, integer) column.
    Type(DataType),
    /// Invalid UTF-8 in a binary column, at this row of the batch.
    Utf8(usize),
}

/// A column's values as strings: UTF-8 columns as they are, binary columns checked as
/// UTF-8, and (with `numbers`) integer columns as their digits.
fn cells(col: &dyn Array, numbers: bool) -> Result<Vec<Cell<'_>>, Bad> {
    fn text(v: Option<&str>) -> Cell<'_> {
        v.map(Cow::Borrowed)
    }
    Ok(match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().iter().map(text).collect(),
        DataType::LargeUtf8 => col.as_string::<i64>().iter().map(text).collect(),
        DataType::Utf8View => col.as_string_view().iter().map(text).collect(),
        DataType::Binary => utf8_cells(col.as_binary::<i32>().iter())?,
        DataType::LargeBinary => utf8_cells(col.as_binary::<i64>().iter())?,
        DataType::BinaryView => utf8_cells(col.as_binary_view().iter())?,
        DataType::Int8 if numbers => digits(col.as_primitive::<Int8Type>()),
        DataType::Int16 if numbers => digits(col.as_primitive::<Int16Type>()),
        DataType::Int32 if numbers => digits(col.as_primitive::<Int32Type>()),
        DataType::Int64 if numbers => digits(col.as_primitive::<Int64Type>()),
        DataType::UInt8 if numbers => digits(col.as_primitive::<UInt8Type>()),
        DataType::UInt16 if numbers => digits(col.as_primitive::<UInt16Type>()),
        DataType::UInt32 if numbers => digits(col.as_primitive::<UInt32Type>()),
        DataType::UInt64 if numbers => digits(col.as_primitive::<UInt64Type>()),
        other => return Err(Bad::Type(other.clone())),
    })
}

/// Binary cells as UTF-8 text; the first invalid one is an error at its index.
fn utf8_cells<'a>(values: impl Iterator<Item = Option<&'a [u8]>>) -> Result<Vec<Cell<'a>>, Bad> {
    values
        .enumerate()
        .map(|(i, v)| {
            v.map(|b| {
                std::str::from_utf8(b)
                    .map(Cow::Borrowed)
                    .map_err(|_| Bad::Utf8(i))
            })
            .transpose()
        })
        .collect()
}

/// Integer cells as their digits.
fn digits<T: ArrowPrimitiveType>(values: &PrimitiveArray<T>) -> Vec<Cell<'static>>
where
    T::Native: std::fmt::Display,
{
    values
        .iter()
        .map(|v| v.map(|x| Cow::Owned(x.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use parquet::arrow::ArrowWriter;

    use super::super::{Dataset, Format, Origin, read_dataset, read_samples};
    use super::*;
    use crate::catalog::Catalog;
    use crate::output::{native_bytes, parquet::StringTable};

    /// A Parquet file of these columns (snappy, row groups of `group_rows`; no embedded
    /// Arrow schema, which the reader skips anyway).
    fn parquet_of(columns: Vec<(&str, ArrayRef)>, group_rows: usize) -> Vec<u8> {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(group_rows))
            .build();
        let options = parquet::arrow::arrow_writer::ArrowWriterOptions::new()
            .with_properties(props)
            .with_skip_arrow_metadata(true);
        let mut w = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), options).unwrap();
        w.write(&batch).unwrap();
        w.into_inner().unwrap()
    }

    fn strings(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    fn read_bytes(name: &str, bytes: &[u8], opts: &ReadOptions) -> Result<Dataset, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        read_dataset(&p, opts, Catalog::bundled())
    }

    /// The error of a read that must fail (without printing a whole dataset if it does not).
    fn expect_err(read: Result<Dataset, DataError>) -> String {
        match read {
            Ok(ds) => panic!("read {} rows", ds.samples.len()),
            Err(e) => e.to_string(),
        }
    }

    fn err(name: &str, bytes: &[u8]) -> String {
        expect_err(read_bytes(name, bytes, &ReadOptions::default()))
    }

    fn three_rows() -> Vec<u8> {
        parquet_of(
            vec![
                ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
                (
                    "text",
                    strings(&[
                        Some(" Dumps LSASS.\t"),
                        Some("Runs a script."),
                        Some("Scans."),
                    ]),
                ),
                (
                    "label",
                    strings(&[Some("T1003"), Some("t1059"), Some("T1046")]),
                ),
                ("doc_title", strings(&[Some("r1"), None, Some("r2")])),
            ],
            2,
        )
    }

    #[test]
    fn reads_like_jsonl_across_row_groups() {
        let ds = read_bytes("d.parquet", &three_rows(), &ReadOptions::default()).unwrap();
        assert_eq!(ds.format, Format::Parquet);
        assert_eq!(ds.columns.group.as_deref(), Some("doc_title"));
        assert_eq!(ds.lines, vec![1, 2, 3]);
        let texts: Vec<&str> = ds.samples.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["Dumps LSASS.", "Runs a script.", "Scans."]);
        assert_eq!(ds.samples[1].label, "T1059");
        assert_eq!(ds.samples[1].group, None);
        assert_eq!(ds.samples[2].group.as_deref(), Some("r2"));
        assert_eq!(ds.cleaning.spaced_chars, 1);
        // Detected from the magic bytes without an extension; read_samples keeps no raw rows.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("noext");
        std::fs::write(&p, three_rows()).unwrap();
        let ds = read_samples(&p, &ReadOptions::default(), Catalog::bundled()).unwrap();
        assert_eq!(
            (ds.format, ds.samples.len(), ds.raw.is_none()),
            (Format::Parquet, 3, true)
        );
    }

    #[test]
    fn named_columns_integer_groups_and_origin() {
        let bytes = parquet_of(
            vec![
                (
                    "sentence",
                    strings(&[Some("Dumps LSASS."), Some("Runs it.")]),
                ),
                ("tid", strings(&[Some("T1003"), Some("T1059")])),
                (
                    "report",
                    Arc::new(Int64Array::from(vec![Some(7), None])) as ArrayRef,
                ),
                ("origin", strings(&[Some("synthetic"), None])),
            ],
            10,
        );
        let opts = ReadOptions {
            text_col: Some("sentence".into()),
            label_col: Some("tid".into()),
            group_col: Some("report".into()),
            ..Default::default()
        };
        let ds = read_bytes("n.parquet", &bytes, &opts).unwrap();
        assert_eq!(ds.samples[0].group.as_deref(), Some("7"));
        assert_eq!(ds.samples[0].origin, Origin::Synthetic);
        assert_eq!(ds.samples[1].origin, Origin::Original);
    }

    #[test]
    fn round_trips_through_augmented_parquet() {
        let cat = Catalog::bundled();
        let ds = read_bytes("d.parquet", &three_rows(), &ReadOptions::default()).unwrap();
        let bytes = native_bytes(&ds, &[], cat).unwrap();
        let back = read_bytes("augmented.parquet", &bytes, &ReadOptions::default()).unwrap();
        assert_eq!(back.samples, ds.samples);
        assert_eq!(back.columns.group.as_deref(), Some("group"));
        // A row dropped by the label policy is dropped from the raw records too.
        let unknown = parquet_of(
            vec![
                ("text", strings(&[Some("a"), Some("b"), Some("c")])),
                (
                    "label",
                    strings(&[Some("T1003"), Some("T9999"), Some("T1046")]),
                ),
            ],
            10,
        );
        let drop = ReadOptions {
            unknown_labels: super::super::UnknownLabels::Drop,
            ..Default::default()
        };
        let ds = read_bytes("u.parquet", &unknown, &drop).unwrap();
        assert_eq!(ds.lines, vec![1, 3]);
        let bytes = native_bytes(&ds, &[], cat).unwrap();
        let back = read_bytes("augmented.parquet", &bytes, &ReadOptions::default()).unwrap();
        assert_eq!(back.samples, ds.samples);
        // A table with more rows than a row group of the writer.
        let mut t = StringTable::new(&[("text", false), ("label", false)]).unwrap();
        let texts: Vec<String> = (0..20_000).map(|i| format!("Sentence {i}.")).collect();
        for text in &texts {
            t.push(&[Some(text), Some("T1003")]).unwrap();
        }
        let big = read_bytes("big.parquet", &t.finish().unwrap(), &ReadOptions::default());
        let big = big.unwrap();
        assert_eq!(big.samples.len(), 20_000);
        assert_eq!(big.samples[19_999].text, "Sentence 19999.");
    }

    #[test]
    fn hostile_files_are_errors_naming_row_or_schema() {
        let good = three_rows();
        let e = err("t.parquet", &good[..good.len() - 10]);
        assert!(
            e.contains("t.parquet: schema: not a Parquet file, or a damaged one"),
            "{e}"
        );
        let e = err("z.parquet", b"");
        assert!(e.contains("z.parquet") && e.contains("damaged"), "{e}");
        let e = err("x.parquet", b"PAR1 not really a parquet file at all PAR1");
        assert!(e.contains("x.parquet: schema:"), "{e}");
        let missing = parquet_of(vec![("text", strings(&[Some("a")]))], 10);
        let e = err("m.parquet", &missing);
        assert!(
            e.contains("schema: missing column \"label\" (columns: \"text\")"),
            "{e}"
        );
        let ints = parquet_of(
            vec![
                ("text", strings(&[Some("a")])),
                ("label", Arc::new(Int64Array::from(vec![3])) as ArrayRef),
            ],
            10,
        );
        let e = err("i.parquet", &ints);
        assert!(
            e.contains("schema: column \"label\" holds Int64 values"),
            "{e}"
        );
        let nulls = parquet_of(
            vec![
                ("text", strings(&[Some("a"), None])),
                ("label", strings(&[Some("T1003"), Some("T1003")])),
            ],
            10,
        );
        let e = err("n.parquet", &nulls);
        assert!(
            e.contains("n.parquet: row 2: column \"text\" is null"),
            "{e}"
        );
        let bad_label = parquet_of(
            vec![
                ("text", strings(&[Some("a"), Some("b"), Some("c")])),
                (
                    "label",
                    strings(&[Some("T1003"), Some("T1003"), Some("T9")]),
                ),
            ],
            2,
        );
        let e = err("l.parquet", &bad_label);
        assert!(
            e.contains("l.parquet: row 3: label \"T9\" is not an ATT&CK"),
            "{e}"
        );
    }

    #[test]
    fn damaged_bytes_are_errors_not_panics() {
        // Every byte of the footer flipped two ways (its numbers are where the reader
        // panicked before `check_layout`: negative offsets, row counts summing past usize),
        // and every 5th byte of the pages.
        let good = three_rows();
        let n = good.len();
        let footer = n - 8 - u32::from_le_bytes(good[n - 8..n - 4].try_into().unwrap()) as usize;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.parquet");
        let (mut errors, mut caught) = (0, Vec::new());
        for i in (0..footer).step_by(5).chain(footer..n) {
            for flip in [0x80, 0xFF] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                std::fs::write(&p, &bad).unwrap();
                if let Err(e) = read_dataset(&p, &ReadOptions::default(), Catalog::bundled()) {
                    errors += 1;
                    let e = e.to_string();
                    if e.contains("decoder failed") {
                        caught.push((i, flip, e));
                    }
                }
            }
        }
        assert!(errors > n - footer, "{errors} errors");
        assert!(
            caught.is_empty(),
            "{} caught panics: {:?}",
            caught.len(),
            &caught[..caught.len().min(3)]
        );
    }

    #[test]
    fn size_limits_hold_before_decoding() {
        // 20 distinct texts of 10,000 characters: 200 kB of text, a few kB compressed.
        let long: Vec<String> = (0..20)
            .map(|i| format!("{i:04}{}", " word".repeat(2_000)))
            .collect();
        let texts: Vec<Option<&str>> = long.iter().map(|t| Some(t.as_str())).collect();
        let labels: Vec<Option<&str>> = (0..20).map(|_| Some("T1003")).collect();
        let bytes = parquet_of(
            vec![("text", strings(&texts)), ("label", strings(&labels))],
            50,
        );
        let opts = ReadOptions {
            max_file_bytes: 50_000,
            ..Default::default()
        };
        assert!(bytes.len() < 50_000, "{} bytes", bytes.len());
        let e = expect_err(read_bytes("s.parquet", &bytes, &opts));
        assert!(
            e.contains("s.parquet: schema: the columns read hold"),
            "{e}"
        );
        assert!(
            e.contains("bytes uncompressed, more than input.max_file_bytes = 50000"),
            "{e}"
        );
        let opts = ReadOptions {
            max_text_chars: 100,
            ..Default::default()
        };
        let e = expect_err(read_bytes("s.parquet", &bytes, &opts));
        assert!(
            e.contains("s.parquet: row 1: text of 10004 characters"),
            "{e}"
        );
    }
}
