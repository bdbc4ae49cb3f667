//! Batch mode against a fake OpenAI Batch API (files + batches, in progress → completed,
//! partial error files, expiry), kill -9 while polling then `--resume`, and the offline
//! `--batch-export` / `--batch-import` round trip.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::augment_cli::{
    TINY, augment_cmd, deterministic_answer, open_filters_config, read_jsonl, read_report,
    synthetic,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// What the fake does with a batch when it ends.
#[derive(Clone, Copy, PartialEq)]
enum Ending {
    /// Every request answered, every 4th one with a 500 in the error file.
    Completed,
    /// Half the requests answered, the rest in the error file as expired.
    Expired,
}

/// State of the fake Batch API.
struct Fake {
    files: Mutex<HashMap<String, Vec<u8>>>,
    batches: Mutex<HashMap<String, (String, usize)>>,
    created: AtomicUsize,
    uploads: AtomicUsize,
    /// Polls answered `in_progress` before a batch ends (per batch).
    polls_before_end: usize,
    /// While false, batches stay `in_progress`.
    release: AtomicBool,
    ending: Mutex<Vec<Ending>>,
}

impl Fake {
    fn new(polls_before_end: usize, endings: Vec<Ending>) -> Arc<Self> {
        Arc::new(Self {
            files: Mutex::default(),
            batches: Mutex::default(),
            created: AtomicUsize::new(0),
            uploads: AtomicUsize::new(0),
            polls_before_end,
            release: AtomicBool::new(true),
            ending: Mutex::new(endings),
        })
    }

    fn batch_json(id: &str, status: &str, output: Option<String>, errors: Option<String>) -> Value {
        json!({"id": id, "object": "batch", "endpoint": "/v1/chat/completions",
               "input_file_id": "file-in", "completion_window": "24h", "status": status,
               "output_file_id": output, "error_file_id": errors, "created_at": 0})
    }

    /// Answers one HTTP request.
    fn route(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let ok = |v: Value| (200, v.to_string().into_bytes());
        match (method, path) {
            ("POST", "/v1/files") => {
                let n = self.uploads.fetch_add(1, Ordering::SeqCst);
                let id = format!("file-in-{n}");
                self.files
                    .lock()
                    .unwrap()
                    .insert(id.clone(), multipart_file(body));
                ok(
                    json!({"id": id, "object": "file", "bytes": body.len(), "created_at": 0,
                          "filename": "synthcti-batch.jsonl", "purpose": "batch"}),
                )
            }
            ("POST", "/v1/batches") => {
                let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let n = self.created.fetch_add(1, Ordering::SeqCst);
                let id = format!("batch-{n}");
                let input = req["input_file_id"].as_str().unwrap_or("").to_string();
                self.batches.lock().unwrap().insert(id.clone(), (input, 0));
                ok(Self::batch_json(&id, "validating", None, None))
            }
            ("GET", p) if p.starts_with("/v1/batches/") => self.poll(&p["/v1/batches/".len()..]),
            ("GET", p) if p.starts_with("/v1/files/") && p.ends_with("/content") => {
                let id = &p["/v1/files/".len()..p.len() - "/content".len()];
                match self.files.lock().unwrap().get(id) {
                    Some(bytes) => (200, bytes.clone()),
                    None => (404, b"{\"error\":{\"message\":\"no such file\"}}".to_vec()),
                }
            }
            _ => (404, b"{\"error\":{\"message\":\"no route\"}}".to_vec()),
        }
    }

    /// A poll: `in_progress` until released and polled enough, then the ending's files.
    fn poll(&self, id: &str) -> (u16, Vec<u8>) {
        let mut batches = self.batches.lock().unwrap();
        let Some((input, polls)) = batches.get_mut(id) else {
            return (404, b"{\"error\":{\"message\":\"no such batch\"}}".to_vec());
        };
        *polls += 1;
        if !self.release.load(Ordering::SeqCst) || *polls <= self.polls_before_end {
            return (
                200,
                Self::batch_json(id, "in_progress", None, None)
                    .to_string()
                    .into_bytes(),
            );
        }
        let n: usize = id["batch-".len()..].parse().unwrap_or(0);
        let ending = self
            .ending
            .lock()
            .unwrap()
            .get(n)
            .copied()
            .unwrap_or(Ending::Completed);
        let input = self
            .files
            .lock()
            .unwrap()
            .get(input.as_str())
            .cloned()
            .unwrap_or_default();
        let (out, err) = outputs(&input, ending);
        let mut files = self.files.lock().unwrap();
        files.insert(format!("{id}-out"), out);
        files.insert(format!("{id}-err"), err);
        let status = if ending == Ending::Expired {
            "expired"
        } else {
            "completed"
        };
        let v = Self::batch_json(
            id,
            status,
            Some(format!("{id}-out")),
            Some(format!("{id}-err")),
        );
        (200, v.to_string().into_bytes())
    }
}

/// The file part of a multipart body.
fn multipart_file(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let boundary = text.lines().next().unwrap_or("").trim().to_string();
    let start = text
        .find("filename=")
        .and_then(|i| text[i..].find("\r\n\r\n").map(|j| i + j + 4))
        .unwrap_or(0);
    let end = text[start..]
        .find(&format!("\r\n{boundary}"))
        .map_or(text.len(), |e| start + e);
    text[start..end].as_bytes().to_vec()
}

/// A chat completion body answering `request`.
fn completion(request: &Value) -> Value {
    json!({"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
           "choices": [{"index": 0, "message": {"role": "assistant",
                        "content": deterministic_answer(request)}, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
}

/// Output and error files for the input JSONL of a batch.
fn outputs(input: &[u8], ending: Ending) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (String::new(), String::new());
    for (i, line) in String::from_utf8_lossy(input).lines().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        let id = v["custom_id"].clone();
        match ending {
            Ending::Completed if i % 4 == 3 => err.push_str(
                &json!({"custom_id": id,
                "response": {"status_code": 500, "body": {"error": {"message": "overloaded"}}}})
                .to_string(),
            ),
            Ending::Expired if i % 2 == 1 => err.push_str(
                &json!({"custom_id": id,
                "error": {"code": "batch_expired", "message": "not run in time"}})
                .to_string(),
            ),
            _ => out.push_str(
                &json!({"custom_id": id,
                "response": {"status_code": 200, "body": completion(&v["body"])}})
                .to_string(),
            ),
        }
        out.push('\n');
        err.push('\n');
    }
    (out.into_bytes(), err.into_bytes())
}

/// Serves the fake on 127.0.0.1; returns its base URL.
async fn serve(fake: Arc<Fake>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let fake = Arc::clone(&fake);
            tokio::spawn(async move {
                let _ = handle(stream, fake).await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/v1")
}

async fn handle(mut stream: TcpStream, fake: Arc<Fake>) -> std::io::Result<()> {
    let Some(request) = support::http::read_request(&mut stream).await? else {
        return Ok(());
    };
    let (method, path, body) = (&request.method, &request.path, &request.body[..]);
    let (status, reply) = fake.route(method, path, body);
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&reply).await?;
    stream.shutdown().await
}

/// `augment --batch` of the tiny fixture (3 rows per technique) against `url`.
fn batch_cmd(out: &Path, config: &Path, url: &str) -> std::process::Command {
    let mut c = augment_cmd();
    c.args(["--input", TINY, "--output"])
        .arg(out)
        .arg("--config")
        .arg(config)
        .args([
            "--source",
            "llm",
            "--base-url",
            url,
            "--model",
            "fake",
            "--batch",
        ])
        .args(["--sentences-per-request", "1", "--target", "absolute:3"]);
    c
}

fn journal_events(out: &Path, event: &str) -> Vec<Value> {
    std::fs::read_to_string(out.join("journal.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == event)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_run_to_the_target_through_partial_error_files_and_expiry() {
    let fake = Fake::new(2, vec![Ending::Expired, Ending::Completed]);
    let url = serve(Arc::clone(&fake)).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "[llm]\nbatch_poll_secs = 0.02\n");
    let out = dir.path().join("out");
    let (out2, cfg2) = (out.clone(), cfg.clone());
    let o = tokio::task::spawn_blocking(move || batch_cmd(&out2, &cfg2, &url).output().unwrap())
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = read_report(&out);
    let rows = read_jsonl(&out.join("augmented.jsonl"));
    assert_eq!(synthetic(&rows).len(), 6, "{report:#}");
    let created = fake.created.load(Ordering::SeqCst);
    assert!(created >= 2, "the expired batch was followed by another");
    assert_eq!(fake.uploads.load(Ordering::SeqCst), created);
    assert_eq!(journal_events(&out, "batch").len(), created);
    assert_eq!(journal_events(&out, "batch-done").len(), created);
    let llm = &report["llm"];
    let requests: usize = journal_events(&out, "batch")
        .iter()
        .map(|b| b["keys"].as_array().unwrap().len())
        .sum();
    assert_eq!(llm["requests"].as_u64().unwrap() as usize, requests);
    assert!(
        llm["failed"].as_u64().unwrap() > 0,
        "expired and 500 lines fail: {llm:#}"
    );
    assert_eq!(
        llm["answered"].as_u64().unwrap() + llm["failed"].as_u64().unwrap(),
        requests as u64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_while_polling_resumes_the_same_batch() {
    let fake = Fake::new(0, vec![]);
    fake.release.store(false, Ordering::SeqCst);
    let url = serve(Arc::clone(&fake)).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "[llm]\nbatch_poll_secs = 0.02\n");
    let out = dir.path().join("out");
    let mut child = batch_cmd(&out, &cfg, &url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while fake.created.load(Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no batch created"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        journal_events(&out, "batch").len(),
        1,
        "the batch id was journaled"
    );

    fake.release.store(true, Ordering::SeqCst);
    let (out2, url2) = (out.clone(), url.clone());
    let o = tokio::task::spawn_blocking(move || {
        batch_cmd(&out2, &cfg, &url2)
            .arg("--resume")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let batches = journal_events(&out, "batch");
    let first = batches[0]["id"].as_str().unwrap();
    assert_eq!(
        first, "batch-0",
        "the first batch was polled again, not paid twice"
    );
    let mut seen = std::collections::HashSet::new();
    for b in &batches {
        for k in b["keys"].as_array().unwrap() {
            assert!(
                seen.insert(k.as_str().unwrap()),
                "request {k} was batched twice"
            );
        }
    }
    assert_eq!(fake.created.load(Ordering::SeqCst), batches.len());
    let rows = read_jsonl(&out.join("augmented.jsonl"));
    assert_eq!(synthetic(&rows).len(), 6);
}

#[test]
fn offline_export_then_import_completes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "");
    let out = dir.path().join("out");
    let requests = dir.path().join("requests.jsonl");
    let run = |extra: &[&str]| {
        let mut c = augment_cmd();
        c.args(["--input", TINY, "--output"])
            .arg(&out)
            .arg("--config")
            .arg(&cfg)
            .args([
                "--source",
                "llm",
                "--model",
                "my-model",
                "--target",
                "absolute:3",
            ])
            .args(["--sentences-per-request", "1"])
            .args(extra)
            .output()
            .unwrap()
    };
    let export = ["--batch-export", requests.to_str().unwrap()];
    let first = run(&export);
    assert_eq!(
        first.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let lines: Vec<Value> = std::fs::read_to_string(&requests)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 6);
    for l in &lines {
        assert_eq!(l["url"], "/v1/chat/completions");
        assert_eq!(l["body"]["model"], "my-model");
    }
    // The offline engine's output (every request answered).
    let output = dir.path().join("output.jsonl");
    let answers: String = lines
        .iter()
        .map(|l| {
            json!({"custom_id": l["custom_id"], "response": {"status_code": 200,
                   "body": completion(&l["body"])}})
            .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(&output, answers + "not json\n").unwrap();
    let import = ["--resume", "--batch-import", output.to_str().unwrap()];
    let second = run(&[&import[..], &export[..]].concat());
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let rows = read_jsonl(&out.join("augmented.jsonl"));
    assert_eq!(synthetic(&rows).len(), 6);
    let report = read_report(&out);
    assert_eq!(
        report["llm"]["replayed"].as_u64().unwrap() as usize,
        lines.len()
    );

    let missing = run(&["--resume", "--batch-import", "/nonexistent/output.jsonl"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--batch-import"));
}

#[test]
fn the_dry_run_prices_a_batch_at_batch_prices() {
    let dir = tempfile::tempdir().unwrap();
    let prices = "[llm]\nprice_per_1k_prompt = 1.0\nprice_per_1k_completion = 1.0\nprice_per_1k_prompt_batch = 0.5\nprice_per_1k_completion_batch = 0.5\n";
    let cfg = open_filters_config(dir.path(), prices);
    let cost = |batch: bool| {
        let mut c = augment_cmd();
        c.args(["--input", TINY, "--output"])
            .arg(dir.path().join("out"))
            .arg("--config")
            .arg(&cfg)
            .args([
                "--source",
                "llm",
                "--base-url",
                "http://127.0.0.1:9/v1",
                "--dry-run",
            ]);
        if batch {
            c.arg("--batch");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("estimated cost"))
            .unwrap_or_else(|| panic!("{text}"))
            .to_string();
        line.rsplit(' ').next().unwrap().parse::<f64>().unwrap()
    };
    let (full, batch) = (cost(false), cost(true));
    assert!(full > 0.0);
    assert!((batch - full / 2.0).abs() < 1e-3, "{batch} vs {full}");
}
