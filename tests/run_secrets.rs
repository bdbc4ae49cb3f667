//! No credential leaks: a recognisable API key, a secret in the base URL's query and in
//! `extra_body` must not appear in stdout, stderr (at `RUST_LOG=debug`), any output file or
//! the journal; a `user:pass@` base URL and a key pasted into `--api-key-env` are refused
//! without echoing them.

mod support;

use std::path::Path;
use std::process::Output;

use support::augment_cli::{augment_llm, deterministic_answer, open_filters_config, read_report};
use support::fault_server::{FaultServer, Reply};

const KEY: &str = "sk-canary-key-5b1e0c7d";
const QUERY_SECRET: &str = "sk-canary-query-93af";
const BODY_SECRET: &str = "sk-canary-body-4d2e";
const PASSWORD: &str = "sk-canary-pass-77c1";

async fn run(mut cmd: std::process::Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for secret in [KEY, QUERY_SECRET, BODY_SECRET, PASSWORD, "canary"] {
        assert!(!text.contains(secret), "{what} leaks {secret}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_output_logs_or_journal() {
    let server = FaultServer::start(|n, body| match n {
        // One failure, so that error paths are logged too.
        0 => Reply::status(500),
        _ => Reply::ok(&deterministic_answer(body)),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(
        dir.path(),
        &format!("[llm.extra_body]\nuser_token = \"{BODY_SECRET}\"\nrepeat_penalty = 1.1\n"),
    );
    let out = dir.path().join("out");
    let url = format!("{}?api-key={QUERY_SECRET}", server.base_url());
    let mut cmd = augment_llm(
        &out,
        &cfg,
        &url,
        &[
            "--target",
            "absolute:2",
            "--api-key-env",
            "SYNTHCTI_TEST_API_KEY",
        ],
    );
    cmd.env("SYNTHCTI_TEST_API_KEY", KEY)
        .env("RUST_LOG", "debug");
    let o = run(cmd).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The key did reach the endpoint, and the body secret was sent as asked.
    assert_eq!(server.auth_headers()[0], format!("Bearer {KEY}"));
    assert_eq!(server.bodies()[0]["user_token"], BODY_SECRET);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("DEBUG"),
        "debug logs are on"
    );

    assert_clean("stdout", &o.stdout);
    assert_clean("stderr", &o.stderr);
    let written = files(&out);
    assert!(written.iter().any(|p| p.ends_with("journal.jsonl")));
    for path in &written {
        assert_clean(&path.display().to_string(), &std::fs::read(path).unwrap());
    }
    // What is kept instead: keys and harmless values, the redacted URL.
    let config = read_report(&out)["config"].as_str().unwrap().to_string();
    assert!(config.contains("user_token = \"<redacted>\""), "{config}");
    assert!(config.contains("repeat_penalty = 1.1"), "{config}");
    assert!(config.contains("/v1?***"), "{config}");
    assert!(
        config.contains("api_key_env = \"SYNTHCTI_TEST_API_KEY\""),
        "{config}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_in_flags_are_refused_without_echo() {
    let server = FaultServer::start(|_, body| Reply::ok(&deterministic_answer(body))).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "");
    let out = dir.path().join("out");
    let userinfo = server
        .base_url()
        .replace("http://", &format!("http://me:{PASSWORD}@"));
    let o = run(augment_llm(
        &out,
        &cfg,
        &userinfo,
        &["--target", "absolute:1"],
    ))
    .await;
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("carries credentials") && err.contains("--api-key-env"),
        "{err}"
    );
    assert_clean("stderr", &o.stderr);
    assert_eq!(server.requests(), 0);

    let mut cmd = augment_llm(&out, &cfg, &server.base_url(), &["--api-key-env", KEY]);
    cmd.env("RUST_LOG", "debug");
    let o = run(cmd).await;
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("api_key_env") && err.contains("not the key itself"),
        "{err}"
    );
    assert_clean("stderr", &o.stderr);
    assert_clean("stdout", &o.stdout);
    assert_eq!(server.requests(), 0);
}
