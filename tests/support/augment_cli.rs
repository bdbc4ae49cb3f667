//! Running `synthcti augment` against a fault server: the command, a deterministic fake LLM,
//! wide-open filters, and readers of what a run leaves in its output directory.

#![allow(dead_code)] // each test binary uses a different part of it

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The small TRAM fixture (52 rows; T1557.001 and T1072 under-represented).
pub const TINY: &str = "tests/fixtures/tiny_tram.json";

/// `synthcti augment --no-progress` at `RUST_LOG=warn`.
pub fn augment_cmd() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("synthcti"));
    c.env("RUST_LOG", "warn")
        .arg("augment")
        .arg("--no-progress");
    c
}

/// `augment` of [`TINY`] into `out` with `--source llm` against `url` (model `fake`, one
/// sentence per request, the open filters of `config`) and the extra `args`.
pub fn augment_llm(out: &Path, config: &Path, url: &str, args: &[&str]) -> Command {
    augment_llm_on(Path::new(TINY), out, config, url, args)
}

/// [`augment_llm`] of another input.
pub fn augment_llm_on(
    input: &Path,
    out: &Path,
    config: &Path,
    url: &str,
    args: &[&str],
) -> Command {
    let mut c = augment_cmd();
    c.arg("--input")
        .arg(input)
        .arg("--output")
        .arg(out)
        .arg("--config")
        .arg(config)
        .args(["--source", "llm", "--base-url", url, "--model", "fake"])
        .args(["--sentences-per-request", "1"])
        .args(args);
    c
}

/// Filters wide open (these tests are about the plumbing, not about what a fake LLM writes),
/// no embedding cache (runs of other checkouts share `$SYNTHCTI_HOME`), plus `extra` TOML
/// lines.
pub fn open_filters_config(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("open.toml");
    std::fs::write(
        &p,
        format!(
            "{extra}\n[embed]\ncache = false\n[filter]\nmin_words = 3\nmin_centroid_cosine = -1.0\nmin_margin = -2.0\nnear_duplicate = 1.0\n"
        ),
    )
    .unwrap();
    p
}

/// A deterministic fake LLM: the answer depends only on the request (seed and technique), so
/// two runs that ask the same requests get the same answers.
pub fn deterministic_answer(body: &Value) -> String {
    let seed = body["seed"].as_u64().unwrap_or(0);
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    let topic: String = last
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ')
        .take(60)
        .collect();
    format!("Operators in intrusion {seed} relied on {topic} against hosts of the victim network.")
}

/// The lines of a JSONL file.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `report.json` of an output directory.
pub fn read_report(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

/// Rows that are not original.
pub fn synthetic(rows: &[Value]) -> Vec<&Value> {
    rows.iter().filter(|r| r["origin"] != "original").collect()
}

/// Request events of a journal.
pub fn journal_requests(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "request")
        .collect()
}
