//! `synthcti eval` and `synthcti export` end to end: on TRAM without an LLM (the pipeline arm
//! is ATT&CK procedures), and with every arm kind, the LLM arms on the real local server, on
//! a small input.

mod support;

use std::collections::HashSet;
use std::process::Command;

use serde_json::Value;

fn synthcti() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("synthcti"));
    c.env("RUST_LOG", "warn");
    c
}

/// The whole `eval` on real TRAM with the real embedding model (leak screen) and the
/// procedures arm through the real filters: the primary comparison leads, every other
/// interval is Holm-adjusted, arms are not coupled, every arm is leak-screened, folds are
/// saved.
#[test]
fn eval_writes_paired_deltas_plot_folds_and_avoid_counts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eval");
    let folds = dir.path().join("folds.csv");
    // A second procedures arm with its own configuration: the classifier filter at k = 1.
    let k1 = dir.path().join("k1.toml");
    std::fs::write(
        &k1,
        "[generate]\nsource = \"procedures\"\n[filter]\nclassifier_top_k = 1\n",
    )
    .unwrap();
    let o = synthcti()
        .args([
            "eval",
            "--input",
            "data/tram2_single_label.json",
            "--output",
        ])
        .arg(&out)
        .args([
            "--arms",
            "oversample,eda,procedures,reweight",
            "--ratios",
            "0,1",
            "--quick",
            "--primary",
            "procedures:oversample",
            "--save-folds",
        ])
        .arg(&folds)
        .arg("--arm-config")
        .arg(format!("procedures-k1={}", k1.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "results.md",
        "results.csv",
        "results.json",
        "plot.png",
        "plot.svg",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let png = std::fs::read(out.join("plot.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let r: Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["config"]["folds"], 3, "--quick");
    assert_eq!(r["config"]["seeds"], serde_json::json!([0]));
    assert_eq!(r["config"]["design"], "fill");
    assert_eq!(r["none"]["runs"].as_array().unwrap().len(), 3);
    let results = r["results"].as_array().unwrap();
    let arms: HashSet<&str> = results.iter().map(|a| a["arm"].as_str().unwrap()).collect();
    assert_eq!(
        arms,
        HashSet::from([
            "oversample",
            "eda",
            "procedures",
            "procedures-k1",
            "reweight"
        ])
    );
    // Fill the target: oversampling reaches it, procedures add what they have, reweight
    // adds no row.
    let added = |arm: &str| {
        let a = results.iter().find(|a| a["arm"] == arm).unwrap();
        let f = |k: &str| a[k]["mean"].as_f64().unwrap();
        (f("added_rows"), f("requested_rows"))
    };
    let (over, requested) = added("oversample");
    assert!(over > 0.0 && over == requested, "{over} of {requested}");
    let (procs, _) = added("procedures");
    assert!(procs > 0.0 && procs < requested, "{procs} of {requested}");
    assert_eq!(added("reweight").0, 0.0);
    // The primary comparison, tested alone; every other interval in the Holm family:
    // 5 arms vs none + 4 arms vs oversample, two metrics, less the primary's one.
    let claims = &r["claims"];
    assert_eq!(claims["primary"]["primary"]["pair"]["arm"], "procedures");
    assert_eq!(claims["primary"]["delta"]["n"], 3);
    assert_eq!(claims["family"].as_array().unwrap().len(), (5 + 4) * 2 - 1);
    assert!(
        r["folds"][0]["deficits"].as_object().unwrap().len() > 20,
        "requested rows per label are reproducible from the deficits"
    );
    for a in results {
        let d = &a["vs_none"]["macro_f1"];
        assert_eq!(d["n"], 3);
        let ci = d["ci95_corrected"].as_array().unwrap();
        assert!(ci[0].as_f64().unwrap() <= d["mean"].as_f64().unwrap());
    }
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(
        md.starts_with("# Augmentation sweep\n\n## Primary comparison\n\n**procedures vs oversample at ratio 1, Δ rare macro-F1"),
        "{md}"
    );
    assert!(md.contains("Holm-adjusted"), "{md}");
    assert!(md.contains("| procedures vs oversample | 1 | 1 |"), "{md}");
    assert!(md.contains("| primary (above) |"), "{md}");
    assert!(md.contains("| procedures | 1 |"), "{md}");
    assert!(md.contains("| reweight | 1 |"), "{md}");
    assert!(
        md.contains("word 5-gram containment ≥ 0.8 (for a 2–4-word test text"),
        "{md}"
    );
    assert!(md.contains("embedding cosine ≥ 0.92"), "{md}");
    assert!(md.contains("test rows removed as copies"), "{md}");
    assert!(
        md.contains("filter rejections over all folds and ratios"),
        "{md}"
    );
    assert!(
        md.contains("| procedures-k1 | classifier-off-label |"),
        "{md}"
    );
    // Every row the k = 1 arm kept is on label, by construction; the plain arm's are not all.
    let on_label = |arm: &str| {
        let line = md
            .lines()
            .find(|l| l.starts_with(&format!("| {arm} | 0 | – | ")))
            .unwrap_or_else(|| panic!("no on-label line for {arm}: {md}"));
        line.split(" | ")
            .nth(3)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(on_label("procedures-k1"), "1.00");
    assert_ne!(on_label("procedures"), "1.00");
    assert!(
        md.contains(&format!("### procedures-k1 ({})", k1.display())),
        "{md}"
    );
    assert!(md.contains("classifier_top_k = 1"), "{md}");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 1 + 5);
    // Saved folds: every row once for seed 0, three folds.
    let mut rdr = csv::Reader::from_path(&folds).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert!(rows.len() > 5000, "{}", rows.len());
    let fold_ids: HashSet<&str> = rows.iter().map(|r| r.get(2).unwrap()).collect();
    assert_eq!(fold_ids, HashSet::from(["0", "1", "2"]));
    assert!(
        rows.iter().any(|r| r.get(3) == Some("true")),
        "dropped copies"
    );
}

/// The command of the evaluation's done-when (every arm kind, ratios 0, 1 and 2, design
/// `fill`) with the real local LLM on a small input: stdout leads with the primary
/// comparison, then the Holm-adjusted table, requested vs added rows per arm and the leak
/// counts; results.md names the design and the family; the LLM arms really asked the server.
#[test]
fn eval_with_llm_arms_prints_the_primary_first() {
    if !support::local_llm::assets_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e");
    let o = synthcti()
        .args([
            "eval",
            "--input",
            "tests/fixtures/tiny_tram.json",
            "--output",
        ])
        .arg(&out)
        .args([
            "--arms",
            "oversample,procedures,llm,both,reweight",
            "--ratios",
            "0,1,2",
            "--design",
            "fill",
            "--folds",
            "2",
            "--seeds",
            "0",
            "--no-progress",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&o.stderr)
    );
    let at = |needle: &str| {
        stdout
            .find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in {stdout}"))
    };
    let primary = at("**synthcti-both vs procedures at ratio 1, Δ rare macro-F1");
    let holm = at("Holm-adjusted");
    let rows = at("| rows requested | rows added |");
    let leaks = at("## Leak screen");
    assert!(primary < holm && holm < rows && rows < leaks, "{stdout}");
    assert!(stdout.contains("design `fill`"), "{stdout}");
    for arm in [
        "synthcti-llm",
        "synthcti-both",
        "procedures",
        "oversample",
        "reweight",
    ] {
        for ratio in [1, 2] {
            assert!(
                stdout.contains(&format!("| {arm} | {ratio} | 1 |")),
                "{arm} at ratio {ratio}: {stdout}"
            );
        }
    }
    let r: Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let results = r["results"].as_array().unwrap();
    let arm = |name: &str, ratio: f64| {
        results
            .iter()
            .find(|a| a["arm"] == name && a["ratio"].as_f64() == Some(ratio))
            .unwrap_or_else(|| panic!("no {name} at {ratio}"))
    };
    // Fill the target: each ratio asks for its own rows; the LLM-only arm reached its
    // target through the local server's answers.
    let mean = |a: &Value, k: &str| a[k]["mean"].as_f64().unwrap();
    let (llm1, llm2) = (arm("synthcti-llm", 1.0), arm("synthcti-llm", 2.0));
    assert!(mean(llm2, "requested_rows") > mean(llm1, "requested_rows"));
    assert!(mean(llm1, "added_rows") > 0.0, "{llm1}");
    // The LLM arms asked the local server (the requests table follows its header).
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    let table = &md[md.find("| arm | LLM requests |").expect("requests table")..];
    for arm in ["synthcti-llm", "synthcti-both"] {
        let requests: u64 = table
            .lines()
            .find_map(|l| l.strip_prefix(&format!("| {arm} | ")))
            .and_then(|rest| rest.split(" | ").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no request count for {arm}: {md}"));
        assert!(requests > 0, "{arm}: {md}");
    }
}

#[test]
fn export_keeps_added_rows_in_train() {
    let dir = tempfile::tempdir().unwrap();
    let aug = dir.path().join("aug");
    let st = synthcti()
        .args([
            "augment",
            "--no-progress",
            "--source",
            "procedures",
            "--input",
            "data/tram2_single_label.json",
        ])
        .args(["--technique", "T1012", "--technique", "T1068", "--output"])
        .arg(&aug)
        .status()
        .unwrap();
    assert!(st.success());
    let out = dir.path().join("export");
    let o = synthcti()
        .args(["export", "--to", "chat-jsonl", "--input"])
        .arg(aug.join("augmented.jsonl"))
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    // augmented.jsonl's `group` keeps reports whole: no report on two sides of the split
    let flat = dir.path().join("flat");
    let st = synthcti()
        .args(["export", "--to", "jsonl", "--input"])
        .arg(aug.join("augmented.jsonl"))
        .arg("--output")
        .arg(&flat)
        .output()
        .unwrap();
    assert!(st.status.success());
    let mut split_of: std::collections::HashMap<String, String> = Default::default();
    for l in std::fs::read_to_string(flat.join("dataset.jsonl"))
        .unwrap()
        .lines()
    {
        let v: Value = serde_json::from_str(l).unwrap();
        if let Some(g) = v["group"].as_str() {
            let split = v["split"].as_str().unwrap().to_string();
            assert_eq!(
                split_of.entry(g.to_string()).or_insert(split.clone()),
                &split,
                "{g}"
            );
        }
    }
    assert!(split_of.len() > 100, "groups read back: {}", split_of.len());
    assert!(
        summary["added_rows"]["train"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert_eq!(summary["added_rows"]["validation"], 0);
    assert_eq!(summary["added_rows"]["test"], 0);
    let first = std::fs::read_to_string(out.join("train.jsonl")).unwrap();
    let line: Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    let roles: Vec<&str> = line["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, vec!["system", "user", "assistant"]);
    let added: HashSet<String> = std::fs::read_to_string(aug.join("augmented.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["origin"] != "original")
        .map(|v| v["text"].as_str().unwrap().to_string())
        .collect();
    assert!(!added.is_empty());
    for split in ["validation", "test"] {
        for l in std::fs::read_to_string(out.join(format!("{split}.jsonl")))
            .unwrap()
            .lines()
        {
            let v: Value = serde_json::from_str(l).unwrap();
            let user = v["messages"][1]["content"].as_str().unwrap();
            assert!(!added.contains(user), "added row in {split}: {user}");
        }
    }
}

/// A comparison naming an arm that does not run, or a primary ratio that is not swept, is a
/// usage error (exit 2) found before any model loads.
#[test]
fn eval_refuses_comparisons_it_cannot_make() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, message) in [
        (
            vec!["--primary", "both:oversample"],
            "`synthcti-both` is not among the arms",
        ),
        (
            vec!["--primary", "eda:oversample", "--primary-ratio", "3"],
            "the primary comparison's ratio 3 is not among the ratios",
        ),
    ] {
        let o = synthcti()
            .args([
                "eval",
                "--input",
                "data/tram2_single_label.json",
                "--output",
            ])
            .arg(dir.path().join("e"))
            .args(["--arms", "oversample,eda", "--ratios", "0,1"])
            .args(&extra)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(message), "{err}");
        assert!(!dir.path().join("e").join("results.json").exists());
    }
}
