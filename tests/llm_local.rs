//! The real local default server (`llama-server` + SmolLM2-135M-Instruct) through
//! `LocalServer::start` and `LlmClient`. Asserts structure, never content.
//!
//! Skipped (with a message) when `scripts/setup.sh` has not installed the server and model,
//! unless `SYNTHCTI_REQUIRE_LLM=1`, which turns the skip into a failure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use synthcti::home::synthcti_home;
use synthcti::llm::{
    ChatMessage, ChatRequest, LlmClient, LlmConfig, LocalServer, LocalServerConfig, parse_sentences,
};
use tokio::task::JoinSet;

const CHILD_ENV: &str = "SYNTHCTI_LLM_TEST_CHILD";

/// Whether the assets are installed; panics instead of skipping when they are required.
fn assets_present() -> bool {
    let home = synthcti_home();
    let env = std::fs::read_to_string(home.join("llm.env")).unwrap_or_default();
    let from_env = |key: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(PathBuf::from)
    };
    let bin = from_env("LLAMA_SERVER").unwrap_or_else(|| home.join("bin/llama-server"));
    let model = from_env("LLM_MODEL_PATH")
        .unwrap_or_else(|| home.join("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    let ok = bin.is_file() && model.is_file();
    if !ok {
        let msg = format!(
            "llama-server or model missing ({} / {}); run scripts/setup.sh",
            bin.display(),
            model.display()
        );
        assert!(
            std::env::var("SYNTHCTI_REQUIRE_LLM").as_deref() != Ok("1"),
            "{msg}"
        );
        eprintln!("SKIPPED: {msg}");
    }
    ok
}

/// The few-shot single-sentence prompt that works for SmolLM2-135M (shared/LLM.md).
fn few_shot(technique: &str, seed: u64) -> ChatRequest {
    ChatRequest::new(
        vec![
            ChatMessage::system(
                "You write realistic sentences from cyber threat intelligence reports.",
            ),
            ChatMessage::user(
                "Write one threat report sentence about T1059 Command and Scripting Interpreter.",
            ),
            ChatMessage::assistant(
                "The actor used PowerShell scripts to download and execute a second-stage payload on the compromised host.",
            ),
            ChatMessage::user(format!(
                "Write one threat report sentence about {technique}."
            )),
        ],
        seed,
    )
}

fn client_cfg() -> LlmConfig {
    let mut cfg = LlmConfig {
        temperature: 0.5,
        max_tokens: 80,
        // Generous: other tests' servers share the 2 cores, and a timeout would be retried.
        timeout_secs: 300.0,
        ..LlmConfig::default()
    };
    cfg.extra_body.insert("repeat_penalty".into(), json!(1.1));
    // No prompt-cache reuse, so the same seed gives the same text (see LLM.md).
    cfg.extra_body.insert("cache_prompt".into(), json!(false));
    cfg
}

/// Gone, or a zombie waiting for a reaper that is not us.
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn wait_gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if process_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    process_gone(pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_server_round_trip() {
    if !assets_present() {
        return;
    }
    let t0 = Instant::now();
    let server = LocalServer::start(&LocalServerConfig::default())
        .await
        .unwrap();
    eprintln!(
        "local server: pid {} on {} ready in {:.2} s (start() returned after {:.2} s)",
        server.pid(),
        server.base_url(),
        server.startup_time().as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    assert!(server.base_url().ends_with("/v1"));
    assert_eq!(server.model_alias(), "smollm2-135m");
    assert!(server.is_running());

    let client = LlmClient::new(&client_cfg(), server.base_url()).unwrap();
    assert_eq!(client.endpoint_host(), "127.0.0.1");

    // One sentence, few-shot.
    let req = few_shot("T1003 OS Credential Dumping", 10);
    let first = client.complete(&req).await.unwrap();
    eprintln!(
        "one request: {:.2} s, {} prompt + {} completion tokens, {:.1} tok/s, finish {:?}: {:?}",
        first.latency_secs,
        first.prompt_tokens,
        first.completion_tokens,
        f64::from(first.completion_tokens) / first.latency_secs,
        first.finish_reason,
        first.text
    );
    assert!(!first.text.trim().is_empty());
    assert!(first.prompt_tokens > 0 && first.completion_tokens > 0);
    assert!(first.finish_reason.is_some());
    assert_eq!(first.attempts, 1);
    let parsed = parse_sentences(&first.text);
    assert!(!parsed.sentences.is_empty(), "{parsed:?}");

    // Same seed, same text.
    let again = client.complete(&req).await.unwrap();
    assert_eq!(again.text, first.text);

    // JSON schema constrained output.
    let mut json_req = few_shot("T1566 Phishing", 11);
    json_req.json_schema = Some(json!({
        "type": "object",
        "properties": {"sentence": {"type": "string", "minLength": 20, "maxLength": 200}},
        "required": ["sentence"],
        "additionalProperties": false
    }));
    let constrained = client.complete(&json_req).await.unwrap();
    eprintln!(
        "json_schema answer ({:?}): {}",
        constrained.finish_reason, constrained.text
    );
    if constrained.finish_reason.as_deref() == Some("stop") {
        let v: Value = serde_json::from_str(&constrained.text).unwrap();
        assert!(v["sentence"].is_string());
        assert_eq!(parse_sentences(&constrained.text).sentences.len(), 1);
    }

    // Four in parallel, different seeds.
    let t1 = Instant::now();
    let mut set = JoinSet::new();
    for seed in 20..24 {
        let c = client.clone();
        set.spawn(async move {
            c.complete(&few_shot("T1486 Data Encrypted for Impact", seed))
                .await
        });
    }
    let batch = set.join_all().await;
    let batch_secs = t1.elapsed().as_secs_f64();
    let tokens: u32 = batch
        .iter()
        .map(|r| r.as_ref().unwrap().completion_tokens)
        .sum();
    eprintln!(
        "4 parallel requests: {batch_secs:.2} s, {tokens} completion tokens, {:.1} tok/s total",
        f64::from(tokens) / batch_secs
    );

    let s = client.stats();
    eprintln!("stats: {s:?}");
    assert_eq!((s.calls, s.successes, s.failures), (7, 7, 0));
    assert!(s.prompt_tokens > 0 && s.completion_tokens > 0);
    assert_eq!(s.cost_usd, None);

    let pid = server.pid();
    let log = server.log_path().to_path_buf();
    let t2 = Instant::now();
    drop(server);
    eprintln!("stopped in {:.2} s", t2.elapsed().as_secs_f64());
    assert!(
        process_gone(pid),
        "llama-server {pid} still running after drop"
    );
    assert!(log.is_file());
}

/// Runs only inside the child process of `server_dies_with_its_parent`.
#[tokio::test]
#[ignore = "helper: run by server_dies_with_its_parent in a child process"]
async fn child_holds_server() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let server = LocalServer::start(&LocalServerConfig {
        slots: 1,
        ..LocalServerConfig::default()
    })
    .await
    .unwrap();
    println!("PID={}", server.pid());
    tokio::time::sleep(Duration::from_secs(120)).await;
    drop(server);
}

/// Kills the helper child process even when an assertion fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn server_dies_with_its_parent() {
    if !assets_present() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = KillOnDrop(
        Command::new(&exe)
            .args([
                "--exact",
                "child_holds_server",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let mut server_pid = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest may print "test child_holds_server ... " on the same line.
        if let Some((_, pid)) = line.split_once("PID=") {
            server_pid = Some(pid.trim().parse::<u32>().unwrap());
            break;
        }
    }
    let server_pid = server_pid.expect("the child printed no server pid");
    assert!(!process_gone(server_pid));
    assert!(Path::new(&format!("/proc/{server_pid}")).exists());
    // kill -9 the parent: no Drop runs, only PR_SET_PDEATHSIG can stop the server.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert!(
        wait_gone(server_pid, Duration::from_secs(5)),
        "llama-server {server_pid} survived its parent"
    );
}
