//! The `synthcti` binary: stats, clusters (real embedding model) and bad input.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn synthcti() -> Command {
    let mut c = Command::cargo_bin("synthcti").expect("binary built");
    c.env("RUST_LOG", "warn");
    c
}

const TRAM: &str = "data/tram2_single_label.json";
const TINY: &str = "tests/fixtures/tiny_tram.json";

#[test]
fn stats_table_of_bundled_tram() {
    synthcti()
        .args(["stats", "--input", TRAM])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "5089 rows, 50 techniques, median 64.5",
        ))
        .stdout(predicate::str::contains(
            "under-represented (policy median, threshold 64.5): 25 techniques",
        ))
        .stdout(predicate::str::contains("T1557.001       4"))
        .stdout(predicate::str::contains(
            "remapped: T1574.002 -> T1574.001 (revoked), 81 rows",
        ))
        .stdout(predicate::str::contains(
            "21 texts with several labels (45 rows)",
        ));
}

#[test]
fn stats_json_matches_the_table() {
    let out = synthcti()
        .args(["stats", "--input", TRAM, "--json", "--policy", "below:30"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"], 5089);
    assert_eq!(v["policy"], "below:30");
    let techniques = v["per_technique"].as_array().unwrap();
    assert_eq!(techniques.len(), 50);
    let under = techniques
        .iter()
        .filter(|t| t["under_represented"] == true)
        .count();
    assert_eq!(
        under, 11,
        "TRAM has 11 labels with <= 30 rows, all below 30"
    );
    let share: f64 = techniques
        .iter()
        .map(|t| t["share"].as_f64().unwrap())
        .sum();
    assert!((share - 1.0).abs() < 1e-9);
}

#[test]
fn cti_to_mitre_sample_reads_at_both_levels() {
    for (level, labels) in [("technique", 188), ("subtechnique", 0)] {
        let out = synthcti()
            .args([
                "stats",
                "--json",
                "--input",
                "data/cti_to_mitre_sample.csv",
                "--cti-level",
                level,
            ])
            .args(["--unknown-labels", "warn"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["rows"], 1500);
        if labels > 0 {
            assert_eq!(v["techniques"], labels);
        } else {
            assert!(v["techniques"].as_u64().unwrap() > 188);
        }
    }
}

/// Every reader rejects bad input with the file, the line and the problem, exit code 2.
#[test]
fn bad_input_names_file_line_and_problem() {
    let cases = [
        ("empty_text.json", "line 3: empty text"),
        ("truncated.json", "line 4"),
        ("extra_field.csv", "line 3: expected 2 fields, found 3"),
        ("missing_column.csv", "missing column \"text\""),
        ("non_utf8.csv", "line 2: invalid UTF-8"),
        ("invalid_line.jsonl", "line 2, column"),
        (
            "unknown_label.jsonl",
            "line 1: label T9999 is not an active ATT&CK",
        ),
        ("cti_empty_sentence.csv", "line 2: empty text"),
    ];
    for (file, message) in cases {
        let path = format!("tests/fixtures/bad/{file}");
        synthcti()
            .args(["stats", "--input", &path])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(path.as_str()))
            .stderr(predicate::str::contains(message))
            .stderr(predicate::str::contains("panicked").not());
    }
    synthcti()
        .args(["stats", "--input", "tests/fixtures/bad/no_such_file.json"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no_such_file.json"));
}

#[test]
fn clusters_are_seeded_and_name_central_sentences() {
    let run = |seed: &str| {
        let out = synthcti()
            .args(["clusters", "--input", TINY, "--json", "--seed", seed])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let a = run("7");
    let b = run("7");
    assert_eq!(a, b, "same seed, same clusters");
    let techniques: Vec<&str> = a
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["technique"].as_str().unwrap())
        .collect();
    assert_eq!(
        techniques,
        vec!["T1557.001", "T1072"],
        "under-represented, rarest first"
    );
    for t in a.as_array().unwrap() {
        let members: usize = t["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["size"].as_u64().unwrap() as usize)
            .sum();
        assert_eq!(members, t["size"].as_u64().unwrap() as usize);
        for c in t["clusters"].as_array().unwrap() {
            assert!(!c["central"].as_array().unwrap().is_empty());
        }
    }
    synthcti()
        .args(["clusters", "--input", TINY, "--technique", "T1003.001"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "T1003.001 LSASS Memory — 20 sentences",
        ))
        .stdout(predicate::str::contains("central"));
    synthcti()
        .args(["clusters", "--input", TINY, "--technique", "T1110"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("technique T1110 has no rows"));
}
