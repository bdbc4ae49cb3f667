//! How fast is the IOC recognizer? [`RECOGNIZER.find`] over every line of the TRAM sentences
//! plus the positive lines of the IOC corpus (so that matches do happen), repeated to at
//! least 20 MB; best of 3, in MB/s. Next to it, a baseline measured in the same run on the
//! same text: one `regex` `\S+` `find_iter` pass (every word is a match), and the ratio
//! recognizer / baseline. Target: ≥ 50 MB/s for the recognizer in release mode.
//!
//! `cargo bench --bench ioc_throughput [-- PATH]`: the TRAM file (a JSON array of objects
//! with a `text` field) is PATH, else `$SYNTHCTI_BENCH_TEXT`, else
//! `data/tram2_single_label.json` relative to the current directory.
//!
//! [`RECOGNIZER.find`]: synthcti::desensitize::Recognizer::find

use std::collections::BTreeMap;
use std::error::Error;
use std::hint::black_box;
use std::time::{Duration, Instant};

use regex::Regex;
use synthcti::desensitize::{IndicatorKind, RECOGNIZER};

/// The labelled IOC corpus: its lines with indicators are mixed into the text.
const CORPUS: &str = include_str!("../tests/fixtures/iocs/corpus.jsonl");
/// Size of the benchmark text.
const TARGET_BYTES: usize = 20_000_000;
/// Timed passes per contender; the best counts.
const PASSES: usize = 3;

/// The TRAM file: first argument that is not a flag (cargo passes `--bench`), else the
/// environment, else the default relative path.
fn text_path() -> String {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .or_else(|| std::env::var("SYNTHCTI_BENCH_TEXT").ok())
        .unwrap_or_else(|| "data/tram2_single_label.json".into())
}

/// TRAM texts and the corpus' positive texts, one per line, repeated to `TARGET_BYTES`.
fn bench_text(path: &str) -> Result<String, Box<dyn Error>> {
    let raw = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&raw)?;
    let mut lines: Vec<String> = rows
        .iter()
        .filter_map(|r| r["text"].as_str())
        .map(|t| t.replace('\n', " "))
        .collect();
    let tram = lines.len();
    for line in CORPUS.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line)?;
        let positive = row["iocs"].as_array().is_some_and(|a| !a.is_empty());
        if let (true, Some(t)) = (positive, row["text"].as_str()) {
            lines.push(t.to_string());
        }
    }
    if lines.is_empty() {
        return Err(format!("{path}: no texts").into());
    }
    let block = lines.join("\n") + "\n";
    println!(
        "{tram} TRAM texts + {} corpus texts with indicators = {:.2} MB, repeated {}x",
        lines.len() - tram,
        block.len() as f64 / 1e6,
        TARGET_BYTES.div_ceil(block.len())
    );
    Ok(block.repeat(TARGET_BYTES.div_ceil(block.len())))
}

/// Best wall time of `PASSES` runs of `f`, and what the last run returned.
fn best_of<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..PASSES {
        let t = Instant::now();
        let out = black_box(f());
        best = best.min(t.elapsed());
        last = Some(out);
    }
    (best, last.expect("PASSES > 0"))
}

fn mb_per_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

fn main() -> Result<(), Box<dyn Error>> {
    let path = text_path();
    let text = bench_text(&path)?;
    let words = Regex::new(r"\S+")?;
    black_box(RECOGNIZER.find("warm-up: 192.0.2.1 evil[.]com"));

    let (took, counts) = best_of(|| {
        let mut counts: BTreeMap<IndicatorKind, usize> = BTreeMap::new();
        for line in text.lines() {
            for ind in RECOGNIZER.find(line) {
                *counts.entry(ind.kind).or_default() += 1;
            }
        }
        counts
    });
    let (base_took, base_matches) = best_of(|| words.find_iter(&text).count());

    let recognizer = mb_per_s(text.len(), took);
    let baseline = mb_per_s(text.len(), base_took);
    let found: usize = counts.values().sum();
    println!(
        "text: {:.1} MB, {} lines",
        text.len() as f64 / 1e6,
        text.lines().count()
    );
    println!(
        "recognizer (RECOGNIZER.find per line): {recognizer:8.1} MB/s  ({took:.2?}, {found} indicators)"
    );
    println!(
        "baseline   (regex \\S+ find_iter):      {baseline:8.1} MB/s  ({base_took:.2?}, {base_matches} matches)"
    );
    println!("ratio recognizer / baseline: {:.2}", recognizer / baseline);
    let by_kind: Vec<String> = counts
        .iter()
        .map(|(k, n)| format!("{}={n}", k.name()))
        .collect();
    println!("found by kind: {}", by_kind.join(" "));
    let verdict = if recognizer >= 50.0 { "meets" } else { "BELOW" };
    println!("target ≥ 50 MB/s: {verdict}");
    Ok(())
}
