//! Desensitizing: `augment --redact` against a capturing fake endpoint (no indicator of the
//! input in any request body; leaks refused; surrogates in accepted rows), and the
//! standalone `synthcti iocs` and `synthcti redact`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::augment_cli::{
    augment_llm_on, deterministic_answer, open_filters_config, read_jsonl, read_report, synthetic,
};
use support::fault_server::{FaultServer, Reply};
use synthcti::desensitize::{IndicatorKind, RECOGNIZER, Redaction};

/// Indicators planted in the fixture's rows of the two under-represented techniques: no
/// surrogate range (192.0.2.0/24, example.com …) among them.
const PLANTED: [&str; 6] = [
    " The implant beaconed to 45.77.12.9 on port 443.",
    " Stolen hashes went to hxxps://relay-cloudsync[.]com/upload.php afterwards.",
    " The dropper had SHA-256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.",
    " Reports went to ops.team@mailbox-secure.ru each night.",
    " The tool was staged as C:\\Users\\jdoe\\AppData\\Roaming\\svc\\updater.exe first.",
    " It contacted update-checker.net through a proxy.",
];

/// The small TRAM fixture with an indicator appended to every row of T1557.001 and T1072.
fn fixture_with_indicators(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string("tests/fixtures/tiny_tram.json").unwrap();
    let mut rows: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut k = 0;
    for r in &mut rows {
        if matches!(r["label"].as_str(), Some("T1557.001" | "T1072")) {
            let t = format!(
                "{}{}",
                r["text"].as_str().unwrap(),
                PLANTED[k % PLANTED.len()]
            );
            r["text"] = Value::String(t);
            k += 1;
        }
    }
    let p = dir.join("tram_iocs.json");
    std::fs::write(&p, serde_json::to_vec_pretty(&rows).unwrap()).unwrap();
    p
}

/// Every `content` string of a chat request body.
fn contents(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect()
}

/// Answers on the fake endpoint: every third request repeats an input indicator (a leak),
/// the others use the prompt's first placeholder, or none.
fn answer(body: &Value) -> String {
    let seed = body["seed"].as_u64().unwrap_or(0);
    let prompt = contents(body).join("\n");
    let placeholder = prompt
        .split('<')
        .skip(1)
        .filter_map(|s| s.split_once('>').map(|(p, _)| p))
        .find(|p| p.contains('_'))
        .map(|p| format!("<{p}>"));
    match (seed % 3, placeholder) {
        (0, _) => format!("In intrusion {seed} the implant beaconed to 45.77.12.9 again."),
        (_, Some(p)) => format!(
            "In intrusion {seed} the operators poisoned name resolution and relayed hashes to {p}."
        ),
        _ => deterministic_answer(body),
    }
}

/// Runs augment with `--redact MODE` on the fixture; returns the server's bodies, the rows
/// and the report.
async fn redacted_run(mode: &str) -> (Vec<Value>, Vec<Value>, Value, Vec<String>) {
    let server = FaultServer::start(|_, body| Reply::ok(&answer(body))).await;
    let dir = tempfile::tempdir().unwrap();
    let input = fixture_with_indicators(dir.path());
    let inputs: Vec<String> = serde_json::from_slice::<Vec<Value>>(&std::fs::read(&input).unwrap())
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    let cfg = open_filters_config(dir.path(), "");
    let out = dir.path().join("out");
    let (url, out2, mode) = (server.base_url(), out.clone(), mode.to_string());
    let o = tokio::task::spawn_blocking(move || {
        augment_llm_on(
            &input,
            &out2,
            &cfg,
            &url,
            &["--target", "absolute:4", "--redact", &mode],
        )
        .output()
        .unwrap()
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = read_jsonl(&out.join("augmented.jsonl"));
    (server.bodies(), rows, read_report(&out), inputs)
}

#[tokio::test(flavor = "multi_thread")]
async fn redacted_prompts_carry_no_input_indicator_and_rows_get_surrogates() {
    let (bodies, rows, report, inputs) = redacted_run("on").await;
    assert!(!bodies.is_empty());
    let input = Redaction::new(inputs.iter().map(String::as_str));
    assert!(input.in_input.len() >= 5, "{:?}", input.in_input);
    let mut placeholders = 0;
    for body in &bodies {
        for c in contents(body) {
            assert_eq!(input.leak(&c), None, "an input indicator was sent: {c}");
            for planted in [
                "45.77.12.9",
                "relay-cloudsync",
                "9f86d0818",
                "mailbox-secure",
                "jdoe",
                "update-checker",
            ] {
                assert!(!c.contains(planted), "{planted} was sent: {c}");
            }
            placeholders += c.matches("<IP_").count() + c.matches("<DOMAIN_").count();
        }
    }
    assert!(placeholders > 0, "no placeholder in any prompt");
    let r = &report["redaction"];
    assert!(r["in_prompts"]["ipv4"].as_u64().unwrap() > 0, "{r:#}");
    assert!(r["leaked"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(
        r["leaked"], report["rejected"]["leaked-indicator"],
        "{report:#}"
    );
    let added = synthetic(&rows);
    assert!(!added.is_empty());
    let mut surrogates = 0;
    for row in added {
        let text = row["text"].as_str().unwrap();
        assert_eq!(input.leak(text), None, "{text}");
        assert!(
            !text.contains("<IP_") && !text.contains("<DOMAIN_"),
            "{text}"
        );
        for i in RECOGNIZER.find(text) {
            surrogates += 1;
            if i.kind == IndicatorKind::Ipv4 {
                assert!(
                    ["192.0.2.", "198.51.100.", "203.0.113."]
                        .iter()
                        .any(|n| i.value.starts_with(n)),
                    "{text}"
                );
            }
        }
    }
    assert!(surrogates > 0, "no surrogate in any accepted row");
    let filled: u64 = r["surrogates"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(filled, surrogates as u64, "{r:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_leaves_prompts_to_a_loopback_endpoint_alone() {
    let (bodies, _, report, _) = redacted_run("auto").await;
    let sent = bodies
        .iter()
        .flat_map(contents)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        sent.contains("45.77.12.9") || sent.contains("update-checker"),
        "{sent}"
    );
    assert!(report["redaction"].is_null(), "{report:#}");
}

fn synthcti(args: &[&str]) -> std::process::Output {
    Command::new(assert_cmd::cargo::cargo_bin("synthcti"))
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn iocs_lists_each_rows_indicators_refanged() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture_with_indicators(dir.path());
    let o = synthcti(&["iocs", "--input", input.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // 8 + 4 rows planted, and 2 rows of the fixture that name C:\Windows\System32\cmd.exe.
    assert_eq!(rows.len(), 14, "one line per row with indicators");
    let values: Vec<&str> = rows
        .iter()
        .flat_map(|r| r["indicators"].as_array().unwrap())
        .filter_map(|i| i["value"].as_str())
        .collect();
    assert!(
        values.contains(&"https://relay-cloudsync.com/upload.php"),
        "{values:?}"
    );
    assert!(values.contains(&"45.77.12.9"), "{values:?}");
    let text = synthcti(&["iocs", "--input", input.to_str().unwrap()]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("indicator(s) in 14 of 52 row(s)"), "{text}");
}

#[test]
fn redact_writes_a_desensitized_copy_and_a_private_mapping() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let input = fixture_with_indicators(dir.path());
    let out = dir.path().join("copy.json");
    let args = [
        "redact",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ];
    let o = synthcti(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before: Vec<Value> = serde_json::from_slice(&std::fs::read(&input).unwrap()).unwrap();
    let after: Vec<Value> = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(before.len(), after.len());
    let input_ioc = Redaction::new(before.iter().map(|r| r["text"].as_str().unwrap()));
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b["label"], a["label"]);
        assert_eq!(b["doc_title"], a["doc_title"]);
        let text = a["text"].as_str().unwrap();
        assert_eq!(input_ioc.leak(text), None, "{text}");
        // The same number of indicators, now surrogates.
        let n = |t: &str| RECOGNIZER.find(t).len();
        assert_eq!(n(b["text"].as_str().unwrap()), n(text), "{text}");
    }
    let mapping_path = dir.path().join("copy.json.mapping.json");
    let mode = std::fs::metadata(&mapping_path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let mapping: Value = serde_json::from_slice(&std::fs::read(&mapping_path).unwrap()).unwrap();
    let entries = mapping["entries"].as_array().unwrap();
    // Reversing: every original back in place of its replacement gives the input's
    // indicators (refanged).
    for (b, a) in before.iter().zip(&after) {
        let mut text = a["text"].as_str().unwrap().to_string();
        for e in entries {
            text = text.replace(
                e["replacement"].as_str().unwrap(),
                e["original"].as_str().unwrap(),
            );
        }
        let values =
            |t: &str| -> Vec<String> { RECOGNIZER.find(t).into_iter().map(|i| i.value).collect() };
        assert_eq!(values(&text), values(b["text"].as_str().unwrap()));
    }
    // The planted values and the fixture's own C:\Windows\System32\cmd.exe.
    assert_eq!(entries.len(), PLANTED.len() + 1, "{mapping:#}");
    assert_eq!(mapping["shared_surrogates"], 0);
    let again = synthcti(&args);
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing output is not replaced"
    );
    let o = synthcti(&[&args[..], &["--fill", "placeholders", "--overwrite"]].concat());
    assert!(o.status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("<IP_1>") && text.contains("<URL_1>"),
        "{text}"
    );
}
