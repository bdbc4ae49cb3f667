//! Writers of the augmented dataset: the input's own format and JSONL with provenance
//! (a Parquet input's own format is the JSONL's columns in Parquet, [`parquet`]).
//! Every file is written atomically (a temp file in the same directory, then rename).
//! Added rows are written [`clean`]ed (no control, bidi or zero-width characters, length
//! capped), and their CSV cells cannot start a spreadsheet formula ([`csv_cell`]).

pub mod parquet;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::catalog::Catalog;
use crate::data::{Dataset, Format, Origin, RawRows, Sample};
use crate::filter::Scores;
use crate::text::{clean, csv_cell};

/// Output errors.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Writing failed.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Encoding rows failed (CSV or JSON); nothing is written.
    #[error("encoding {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's message.
        reason: String,
    },
}

fn encode_err(what: &'static str) -> impl Fn(&dyn std::fmt::Display) -> OutputError {
    move |e| OutputError::Encode {
        what,
        reason: e.to_string(),
    }
}

/// Where a new row came from, recorded in `augmented.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Cluster index within the technique.
    pub cluster: usize,
    /// Sample ids of the original sentences shown in the prompt (or the cluster's central ones).
    pub seed_ids: Vec<usize>,
    /// Filter scores.
    pub scores: Scores,
    /// The LLM call, for synthetic rows.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub llm: Option<LlmProvenance>,
    /// The maximal-marginal-relevance score the row was selected at (`select.method =
    /// "mmr"`, when its cluster's pool had more rows than it kept).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub selection_score: Option<f32>,
}

/// The LLM call that wrote a synthetic row. Never holds the API key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmProvenance {
    /// Template name.
    pub template: String,
    /// Template content hash.
    pub template_hash: String,
    /// Model name.
    pub model: String,
    /// Endpoint host (no path, no key).
    pub endpoint: String,
    /// Sampling temperature.
    pub temperature: f32,
    /// Request seed.
    pub seed: u64,
    /// Prompt tokens of the request.
    pub prompt_tokens: u32,
    /// Completion tokens of the request.
    pub completion_tokens: u32,
    /// Request number within the cluster (0-based).
    pub attempt: usize,
    /// Request key (hash of the request), as in the journal.
    pub request: String,
    /// The ATT&CK procedure example this row rewrites (`source = "rewrite"`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rewrite_of: Option<String>,
}

/// A row added by augmentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRow {
    /// The row (origin `synthetic` or `attack-procedure`).
    pub sample: Sample,
    /// Where it came from.
    pub provenance: Provenance,
}

/// Writes `bytes` to `path` atomically: a hidden temp file in the same directory, synced,
/// then renamed over `path`. On error the temp file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_mode(path, bytes, 0o666)
}

/// [`write_atomic`] for a file only its owner may read or write (mode 0600 from the start,
/// e.g. the mapping of `synthcti redact`).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_mode(path, bytes, 0o600)
}

fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = temp_path(path, "tmp");
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A hidden sibling of `path` with the given extension, unique to this process.
pub fn temp_path(path: &Path, extension: &str) -> PathBuf {
    let name = path
        .file_stem()
        .map_or_else(|| "out".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.{extension}", std::process::id()))
}

/// [`write_atomic`] with the error naming the file.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    write_atomic(path, bytes).map_err(|source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The augmented dataset as JSON Lines: every original row, then every new row with its
/// provenance. Fields: `text, label, origin, group`, and `provenance` on new rows.
pub fn jsonl_bytes(originals: &[Sample], new_rows: &[NewRow]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line = |v: Value| {
        out.extend_from_slice(v.to_string().as_bytes());
        out.push(b'\n');
    };
    for s in originals {
        line(json!({"text": s.text, "label": s.label, "origin": s.origin, "group": s.group}));
    }
    for r in new_rows {
        line(new_row_value(r));
    }
    out
}

/// A new row as `augmented.jsonl` has it: text, label, origin, group and provenance.
pub fn new_row_value(r: &NewRow) -> Value {
    let s = &r.sample;
    json!({"text": clean(&s.text), "label": s.label, "origin": s.origin, "group": s.group,
           "provenance": r.provenance})
}

/// The columns of `augmented.jsonl`, in its order: what `augmented.parquet` holds.
pub const AUGMENTED_COLUMNS: [parquet::ColumnSpec; 5] = [
    ("text", false),
    ("label", false),
    ("origin", false),
    ("group", true),
    ("provenance", true),
];

/// `augmented.parquet`, the native output of a Parquet input: the rows and columns of
/// [`jsonl_bytes`] — `originals` are the input's raw records (`{text, label, origin,
/// group}` objects, see `data`'s Parquet reader), `provenance` is JSON text on new rows and
/// null on the others.
fn parquet_native(originals: &[Value], new_rows: &[NewRow]) -> Result<Vec<u8>, OutputError> {
    let mut table = parquet::StringTable::new(&AUGMENTED_COLUMNS)?;
    for v in originals {
        let get = |key: &str| v.get(key).and_then(Value::as_str);
        table.push(&[get("text"), get("label"), get("origin"), get("group"), None])?;
    }
    for r in new_rows {
        let s = &r.sample;
        let text = clean(&s.text);
        // Through a `Value`, as `jsonl_bytes` writes it: the same text, f32 scores included.
        let provenance = serde_json::to_value(&r.provenance)
            .map_err(|e| encode_err("the provenance")(&e))?
            .to_string();
        table.push(&[
            Some(&text),
            Some(s.label.as_str()),
            Some(s.origin.as_str()),
            s.group.as_deref(),
            Some(&provenance),
        ])?;
    }
    table.finish()
}

/// Any serialisable items as JSON Lines.
pub fn jsonl_of<T: Serialize>(items: &[T]) -> Result<Vec<u8>, OutputError> {
    let mut out = Vec::new();
    for item in items {
        serde_json::to_writer(&mut out, item).map_err(|e| encode_err("JSON lines")(&e))?;
        out.push(b'\n');
    }
    Ok(out)
}

/// The group written for new rows in formats that need one (e.g. TRAM's `doc_title`).
pub fn new_row_group(origin: Origin) -> String {
    format!("synthcti:{}", origin.as_str())
}

/// The augmented dataset in the input's own format: same columns/keys as the input; new
/// rows fill text, label and group (and CTI-to-MITRE's `label_subtec`, `tec_name`). A
/// Parquet input gets the columns of `augmented.jsonl` ([`AUGMENTED_COLUMNS`]).
pub fn native_bytes(
    ds: &Dataset,
    new_rows: &[NewRow],
    catalog: &Catalog,
) -> Result<Vec<u8>, OutputError> {
    let Some(raw) = &ds.raw else {
        return Err(encode_err("the dataset")(
            &"it was read without its raw records",
        ));
    };
    Ok(match raw {
        RawRows::Json(values) if ds.format == Format::Parquet => parquet_native(values, new_rows)?,
        RawRows::Json(values) => {
            let mut objs: Vec<Value> = values.clone();
            for r in new_rows {
                let mut o = serde_json::Map::new();
                o.insert(ds.columns.text.clone(), json!(clean(&r.sample.text)));
                o.insert(ds.columns.label.clone(), json!(r.sample.label.as_str()));
                if let Some(g) = &ds.columns.group {
                    o.insert(g.clone(), json!(new_row_group(r.sample.origin)));
                }
                objs.push(Value::Object(o));
            }
            if ds.format == Format::Tram {
                let mut b = serde_json::to_vec_pretty(&objs)
                    .map_err(|e| encode_err("the TRAM JSON")(&e))?;
                b.push(b'\n');
                b
            } else {
                let mut b = Vec::new();
                for o in objs {
                    b.extend_from_slice(o.to_string().as_bytes());
                    b.push(b'\n');
                }
                b
            }
        }
        RawRows::Csv { header, rows } => {
            let csv_err = encode_err("the CSV");
            let mut w = csv::Writer::from_writer(Vec::new());
            let col = |name: &str| header.iter().position(|h| h == name);
            w.write_record(header).map_err(|e| csv_err(&e))?;
            for r in rows {
                w.write_record(r).map_err(|e| csv_err(&e))?;
            }
            for r in new_rows {
                let mut rec = vec![String::new(); header.len()];
                let mut set = |name: &str, v: &str| {
                    if let Some(i) = col(name) {
                        rec[i] = csv_cell(v).into_owned();
                    }
                };
                set(&ds.columns.text, &clean(&r.sample.text));
                set(&ds.columns.label, &r.sample.label);
                if let Some(g) = &ds.columns.group {
                    set(g, &new_row_group(r.sample.origin));
                }
                if ds.format == Format::CtiToMitre {
                    let label = &r.sample.label;
                    let tec = label.split('.').next().unwrap_or(label);
                    set("label_tec", tec);
                    set("label_subtec", label);
                    set("tec_name", catalog.name_of(label));
                }
                w.write_record(&rec).map_err(|e| csv_err(&e))?;
            }
            w.into_inner().map_err(|e| csv_err(&e))?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ReadOptions, read_dataset};

    fn new_row(text: &str, label: &str) -> NewRow {
        NewRow {
            sample: Sample {
                id: 99,
                text: text.into(),
                label: label.into(),
                group: None,
                origin: Origin::Synthetic,
            },
            provenance: Provenance {
                cluster: 0,
                seed_ids: vec![0],
                scores: Scores {
                    centroid_cosine: 0.5,
                    nearest_duplicate_cosine: 0.4,
                    margin: 0.1,
                    nearest_other_technique: "T1059".into(),
                    classifier_rank: Some(2),
                },
                llm: None,
                selection_score: None,
            },
        }
    }

    #[test]
    fn native_round_trips_through_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::bundled();
        for (name, content) in [
            (
                "a.json",
                "[{\"text\":\"Dumps LSASS.\",\"label\":\"T1003\",\"doc_title\":\"r1\"}]",
            ),
            (
                "b.csv",
                ",label_tec,label_subtec,tec_name,sentence\n1,T1003,T1003.001,LSASS Memory,Dumps it.\n",
            ),
            ("c.csv", "id,text,label\n1,\"Dumps, LSASS.\",T1003\n"),
            (
                "d.jsonl",
                "{\"text\":\"Dumps LSASS.\",\"label\":\"T1003\",\"extra\":1}\n",
            ),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, content).unwrap();
            let ds = read_dataset(&p, &ReadOptions::default(), cat).unwrap();
            let out = dir.path().join(format!("out-{name}"));
            write_atomic(
                &out,
                &native_bytes(&ds, &[new_row("A new, quoted \"one\".", "T1003")], cat).unwrap(),
            )
            .unwrap();
            let back = read_dataset(
                &out,
                &ReadOptions {
                    format: Some(ds.format),
                    ..Default::default()
                },
                cat,
            )
            .unwrap();
            assert_eq!(back.samples.len(), 2, "{name}");
            assert_eq!(back.samples[0].text, ds.samples[0].text, "{name}");
            assert_eq!(back.samples[1].text, "A new, quoted \"one\".", "{name}");
            assert_eq!(back.samples[1].label, "T1003", "{name}");
        }
    }

    #[test]
    fn parquet_native_has_the_jsonl_columns_and_rows() {
        use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use arrow_array::{Array, cast::AsArray};
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::bundled();
        let mut t = parquet::StringTable::new(&[("text", false), ("label", false)]).unwrap();
        t.push(&[Some("Dumps LSASS."), Some("T1003")]).unwrap();
        let p = dir.path().join("in.parquet");
        std::fs::write(&p, t.finish().unwrap()).unwrap();
        let ds = read_dataset(&p, &ReadOptions::default(), cat).unwrap();
        let out = dir.path().join("augmented.parquet");
        let added = new_row("A new \u{1b}row.", "T1003");
        write_atomic(
            &out,
            &native_bytes(&ds, std::slice::from_ref(&added), cat).unwrap(),
        )
        .unwrap();
        let batches: Vec<_> =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        let schema = batches[0].schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, AUGMENTED_COLUMNS.map(|(n, _)| n));
        let col = |name: &str| {
            batches[0]
                .column_by_name(name)
                .unwrap()
                .as_string::<i32>()
                .clone()
        };
        assert_eq!(col("text").value(1), "A new row.");
        assert_eq!(col("origin").value(0), "original");
        assert_eq!(col("origin").value(1), "synthetic");
        assert!(col("provenance").is_null(0) && col("group").is_null(1));
        let provenance: Provenance = serde_json::from_str(col("provenance").value(1)).unwrap();
        assert_eq!(provenance, added.provenance);
        let back = read_dataset(&out, &ReadOptions::default(), cat).unwrap();
        assert_eq!(back.samples.len(), 2);
        assert_eq!(back.samples[1].origin, Origin::Synthetic);
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = write_file(&dir.path().join("missing/x"), b"x").unwrap_err();
        assert!(e.to_string().contains("missing/x"), "{e}");
    }

    #[test]
    fn jsonl_has_provenance_on_new_rows_only() {
        let orig = vec![Sample {
            id: 0,
            text: "x".into(),
            label: "T1003".into(),
            group: Some("r".into()),
            origin: Origin::Original,
        }];
        let b = String::from_utf8(jsonl_bytes(&orig, &[new_row("y", "T1003")])).unwrap();
        let lines: Vec<Value> = b
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["origin"], "original");
        assert!(lines[0].get("provenance").is_none());
        assert_eq!(lines[1]["origin"], "synthetic");
        assert_eq!(
            lines[1]["provenance"]["scores"]["nearest_other_technique"],
            "T1059"
        );
    }

    #[test]
    fn new_rows_are_cleaned_and_formula_safe() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::bundled();
        let p = dir.path().join("in.csv");
        std::fs::write(&p, "text,label\n=kept as the user wrote it,T1003\n").unwrap();
        let ds = read_dataset(&p, &ReadOptions::default(), cat).unwrap();
        let hostile = "=HYPERLINK(\"http://x\")\u{1b}[2J\u{202E}\u{200B} dumps\u{0} LSASS";
        let csv = String::from_utf8(native_bytes(&ds, &[new_row(hostile, "T1003")], cat).unwrap())
            .unwrap();
        assert!(csv.contains("=kept as the user wrote it"), "{csv}");
        assert!(csv.contains("'=HYPERLINK"), "{csv}");
        assert!(
            !csv.contains(['\u{1b}', '\u{202E}', '\u{200B}', '\u{0}']),
            "{csv:?}"
        );
        let jsonl =
            String::from_utf8(jsonl_bytes(&ds.samples, &[new_row(hostile, "T1003")])).unwrap();
        let last: Value = serde_json::from_str(jsonl.lines().last().unwrap()).unwrap();
        assert_eq!(last["text"], "=HYPERLINK(\"http://x\")[2J dumps LSASS");
    }
}
