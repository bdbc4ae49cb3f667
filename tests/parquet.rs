//! Parquet in and out through the `synthcti` binary: a Parquet input reads like the JSON it
//! was made from; `export --to parquet` holds the rows of `--to jsonl`; damaged or
//! mistyped Parquet files exit 2 naming the file, the row or schema, and the problem; and
//! `scripts/parquet_check.py` checks the files with pandas + pyarrow (skipped when pyarrow
//! is missing, unless `SYNTHCTI_REQUIRE_PYARROW=1`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

const TINY: &str = "tests/fixtures/tiny_tram.json";

fn synthcti() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("synthcti").expect("binary built");
    c.env("RUST_LOG", "warn").timeout(Duration::from_secs(120));
    c
}

/// A Parquet file of these columns, as any writer would make it.
fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut w = ArrowWriter::try_new(Vec::new(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    std::fs::write(path, w.into_inner().unwrap()).unwrap();
}

fn strings(values: Vec<Option<&str>>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

/// The TRAM fixture's rows as a Parquet file (text, label, doc_title).
fn tiny_parquet(dir: &Path) -> PathBuf {
    let rows: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(TINY).unwrap()).unwrap();
    let col = |key: &str| strings(rows.iter().map(|r| r[key].as_str()).collect());
    let path = dir.join("tiny.parquet");
    write_parquet(
        &path,
        vec![
            ("text", col("text")),
            ("label", col("label")),
            ("doc_title", col("doc_title")),
        ],
    );
    path
}

fn stats_json(input: &Path) -> Value {
    let out = synthcti()
        .args(["stats", "--json", "--input"])
        .arg(input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every row of a Parquet file as a JSON object of its string columns (null → `Null`).
fn parquet_rows(path: &Path) -> (Vec<String>, Vec<Value>) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let (mut names, mut rows) = (Vec::new(), Vec::new());
    for batch in reader {
        let batch = batch.unwrap();
        let schema = batch.schema();
        names = schema.fields().iter().map(|f| f.name().clone()).collect();
        for i in 0..batch.num_rows() {
            let mut row = serde_json::Map::new();
            for (name, col) in names.iter().zip(batch.columns()) {
                let col = col.as_string::<i32>();
                let v = (!col.is_null(i)).then(|| col.value(i).to_string());
                row.insert(name.clone(), v.map_or(Value::Null, Value::String));
            }
            rows.push(Value::Object(row));
        }
    }
    (names, rows)
}

#[test]
fn parquet_input_reads_like_its_json_and_exports_to_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let input = tiny_parquet(dir.path());
    let (from_json, from_parquet) = (stats_json(Path::new(TINY)), stats_json(&input));
    for key in ["rows", "techniques", "per_technique", "quality", "labels"] {
        assert_eq!(from_json[key], from_parquet[key], "{key}");
    }
    assert_eq!(from_parquet["rows"], 52);
    for to in ["parquet", "jsonl"] {
        synthcti()
            .args(["export", "--to", to, "--input"])
            .arg(&input)
            .arg("--output")
            .arg(dir.path().join(to))
            .assert()
            .success();
    }
    let (names, rows) = parquet_rows(&dir.path().join("parquet/dataset.parquet"));
    assert_eq!(names, ["text", "label", "split", "origin", "group"]);
    let lines: Vec<Value> = std::fs::read_to_string(dir.path().join("jsonl/dataset.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows, lines);
    // And back in: the exported file is itself a valid input.
    let back = stats_json(&dir.path().join("parquet/dataset.parquet"));
    assert_eq!(back["rows"], 52);
}

/// Runs `stats` on a bad file: exit 2, no panic, the file and every fragment named.
fn expect_bad(path: &Path, expected: &[&str]) {
    let out = synthcti()
        .args(["stats", "--input"])
        .arg(path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    for e in expected {
        assert!(stderr.contains(e), "expected {e:?} in {stderr}");
    }
    assert!(stderr.len() < 2000, "{} bytes of stderr", stderr.len());
}

#[test]
fn hostile_parquet_files_exit_2_naming_file_row_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(tiny_parquet(dir.path())).unwrap();
    let at = |name: &str| dir.path().join(name);
    std::fs::write(at("truncated.parquet"), &good[..good.len() / 2]).unwrap();
    expect_bad(
        &at("truncated.parquet"),
        &["schema: not a Parquet file, or a damaged one"],
    );
    std::fs::write(at("empty.parquet"), b"").unwrap();
    expect_bad(&at("empty.parquet"), &["damaged"]);
    // The footer intact, the data pages overwritten.
    let mut scrambled = good.clone();
    for b in &mut scrambled[4..good.len() / 2] {
        *b = 0xA5;
    }
    std::fs::write(at("scrambled.parquet"), &scrambled).unwrap();
    expect_bad(&at("scrambled.parquet"), &["scrambled.parquet"]);
    write_parquet(
        &at("missing.parquet"),
        vec![("sentence", strings(vec![Some("a")]))],
    );
    expect_bad(
        &at("missing.parquet"),
        &["schema: missing column \"text\" (columns: \"sentence\")"],
    );
    write_parquet(
        &at("ints.parquet"),
        vec![
            ("text", strings(vec![Some("a")])),
            ("label", Arc::new(Int64Array::from(vec![1003])) as ArrayRef),
        ],
    );
    expect_bad(
        &at("ints.parquet"),
        &["schema: column \"label\" holds Int64"],
    );
    write_parquet(
        &at("nulls.parquet"),
        vec![
            ("text", strings(vec![Some("Dumps LSASS."), Some("ok")])),
            ("label", strings(vec![Some("T1003"), None])),
        ],
    );
    expect_bad(&at("nulls.parquet"), &["row 2: column \"label\" is null"]);
    write_parquet(
        &at("origin.parquet"),
        vec![
            ("text", strings(vec![Some("Dumps LSASS.")])),
            ("label", strings(vec![Some("T1003")])),
            ("origin", strings(vec![Some("handmade")])),
        ],
    );
    expect_bad(&at("origin.parquet"), &["row 1: origin \"handmade\""]);
}

#[test]
fn pandas_and_pyarrow_read_what_synthcti_writes() {
    let has_pyarrow = Command::new("python3")
        .args(["-c", "import pandas, pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pyarrow {
        assert_ne!(
            std::env::var("SYNTHCTI_REQUIRE_PYARROW").as_deref(),
            Ok("1"),
            "pandas/pyarrow missing (scripts/setup_python.sh installs them)"
        );
        println!("skipped: python3 with pandas + pyarrow not found (scripts/setup_python.sh)");
        return;
    }
    let out = Command::new("python3")
        .arg("scripts/parquet_check.py")
        .arg("--bin")
        .arg(assert_cmd::cargo::cargo_bin("synthcti"))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    println!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("parquet_check: ok"), "{stdout}");
}
