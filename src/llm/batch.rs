//! The OpenAI Batch API (hosted, or any server with `/v1/files` and `/v1/batches`) and the
//! same JSONL for offline engines (`vllm run-batch -i FILE -o OUT`).
//!
//! A batch is a JSONL file of `{"custom_id", "method", "url", "body"}` lines (the
//! `custom_id` is the request's journal key), uploaded with purpose `batch`, turned into a
//! batch, polled with a doubling interval until it ends, and read back from its output and
//! error files: one `{"custom_id", "response": {"status_code", "body"}, "error"}` line per
//! request. Calls go through async-openai's `files()` and `batches()` (typed where the
//! request is, raw JSON where answers vary between servers).

use std::collections::HashMap;
use std::time::Duration;

use async_openai::types::files::{CreateFileRequest, FileInput, FilePurpose};
use serde_json::{Value, json};

use super::client::{completion_from, map_openai_error, usage};
use super::{Completion, LlmClient, LlmError};

/// Most requests in one batch (the OpenAI limit).
pub const MAX_BATCH_REQUESTS: usize = 50_000;
/// Most bytes of one batch's input file (the OpenAI limit is 200 MB).
pub const MAX_BATCH_BYTES: usize = 190 * 1024 * 1024;
/// Largest output or error file read back.
pub const MAX_OUTPUT_BYTES: usize = 1 << 30;

/// How a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchEnd {
    /// Every request ran (some may still have failed).
    Completed,
    /// The completion window passed: requests without an answer are in the error file or
    /// missing.
    Expired,
    /// The server failed, or someone cancelled the batch: its status.
    Stopped(String),
}

/// The answers of a finished batch, by `custom_id`.
#[derive(Debug, Default)]
pub struct BatchAnswers {
    /// Each request's completion, or why it failed.
    pub by_key: HashMap<String, Result<Completion, String>>,
    /// Output lines that could not be read (no `custom_id`, not JSON).
    pub unreadable: usize,
}

/// One line of a batch input file.
pub fn batch_line(key: &str, body: &Value) -> Value {
    json!({
        "custom_id": key,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": body,
    })
}

/// Batch input files of `lines` (journal key, body), each within [`MAX_BATCH_REQUESTS`] and
/// [`MAX_BATCH_BYTES`].
pub fn batch_files(lines: &[(String, Value)]) -> Vec<(Vec<String>, Vec<u8>)> {
    let mut out: Vec<(Vec<String>, Vec<u8>)> = Vec::new();
    for (key, body) in lines {
        let mut line = batch_line(key, body).to_string().into_bytes();
        line.push(b'\n');
        let full = out.last().is_none_or(|(keys, bytes)| {
            keys.len() >= MAX_BATCH_REQUESTS || bytes.len() + line.len() > MAX_BATCH_BYTES
        });
        if full {
            out.push((Vec::new(), Vec::new()));
        }
        if let Some((keys, bytes)) = out.last_mut() {
            keys.push(key.clone());
            bytes.extend_from_slice(&line);
        }
    }
    out
}

/// Reads output or error file lines into `answers` (later lines win).
pub fn read_batch_output(bytes: &[u8], answers: &mut BatchAnswers) {
    for line in bytes.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            answers.unreadable += 1;
            continue;
        };
        let Some(key) = v["custom_id"].as_str() else {
            answers.unreadable += 1;
            continue;
        };
        answers.by_key.insert(key.to_string(), line_result(&v));
    }
}

/// The completion of one output line, or its error.
fn line_result(v: &Value) -> Result<Completion, String> {
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let msg = err["message"]
            .as_str()
            .map_or_else(|| err.to_string(), str::to_string);
        let code = err["code"].as_str().unwrap_or("error");
        return Err(format!("batch request failed ({code}): {msg}"));
    }
    let response = &v["response"];
    let status = response["status_code"].as_u64().unwrap_or(0);
    let body = &response["body"];
    if status != 200 {
        let msg = body["error"]["message"].as_str().unwrap_or("no message");
        return Err(format!("batch request answered HTTP {status}: {msg}"));
    }
    let (prompt, completion) = usage(body);
    completion_from(body, prompt, completion, Duration::ZERO)
        .map(|mut c| {
            c.attempts = 1;
            c
        })
        .map_err(|e| e.to_string())
}

impl LlmClient {
    /// Uploads `jsonl` (purpose `batch`) and creates a batch of it; returns the batch id.
    pub async fn batch_submit(&self, jsonl: Vec<u8>) -> Result<String, LlmError> {
        let file = CreateFileRequest {
            file: FileInput::from_vec_u8("synthcti-batch.jsonl".into(), jsonl),
            purpose: FilePurpose::Batch,
            expires_after: None,
        };
        let uploaded: Value = self
            .api()
            .files()
            .create_byot(file)
            .await
            .map_err(map_openai_error)?;
        let file_id = string_field(&uploaded, "id", "the uploaded file")?;
        let request = json!({
            "input_file_id": file_id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        });
        let batch: Value = self
            .api()
            .batches()
            .create_byot(request)
            .await
            .map_err(map_openai_error)?;
        string_field(&batch, "id", "the created batch")
    }

    /// Polls batch `id` (first after `first_poll`, doubling up to `max_poll`) until it ends,
    /// then reads its output and error files.
    pub async fn batch_wait(
        &self,
        id: &str,
        first_poll: Duration,
        max_poll: Duration,
    ) -> Result<(BatchEnd, BatchAnswers), LlmError> {
        let mut wait = first_poll;
        let batch = loop {
            let b: Value = self
                .api()
                .batches()
                .retrieve_byot(id)
                .await
                .map_err(map_openai_error)?;
            let status = b["status"].as_str().unwrap_or("").to_string();
            match status.as_str() {
                "validating" | "in_progress" | "finalizing" | "cancelling" => {
                    tracing::info!(batch = id, %status, "waiting for the batch");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(max_poll);
                }
                _ => break b,
            }
        };
        let end = match batch["status"].as_str() {
            Some("completed") => BatchEnd::Completed,
            Some("expired") => BatchEnd::Expired,
            other => BatchEnd::Stopped(other.unwrap_or("no status").to_string()),
        };
        let mut answers = BatchAnswers::default();
        for field in ["output_file_id", "error_file_id"] {
            if let Some(file) = batch[field].as_str() {
                let bytes = self
                    .api()
                    .files()
                    .content(file)
                    .await
                    .map_err(map_openai_error)?;
                if bytes.len() > MAX_OUTPUT_BYTES {
                    return Err(LlmError::InvalidResponse {
                        reason: format!("batch {id}: {field} is larger than 1 GiB"),
                        excerpt: String::new(),
                    });
                }
                read_batch_output(&bytes, &mut answers);
            }
        }
        Ok((end, answers))
    }
}

/// A string field of an API answer, or an error naming what lacked it.
fn string_field(v: &Value, field: &str, what: &str) -> Result<String, LlmError> {
    v[field]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| LlmError::InvalidResponse {
            reason: format!("{what} has no `{field}`"),
            excerpt: crate::http::excerpt(&v.to_string(), 300),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_error_lines_become_answers_and_failures() {
        let out = concat!(
            r#"{"custom_id":"a","response":{"status_code":200,"body":{"choices":[{"message":{"content":"A sentence."},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3}}}}"#,
            "\n",
            r#"{"custom_id":"b","response":{"status_code":500,"body":{"error":{"message":"boom"}}}}"#,
            "\n",
            r#"{"custom_id":"c","error":{"code":"batch_expired","message":"expired"}}"#,
            "\n",
            "not json\n",
            r#"{"no":"id"}"#,
        );
        let mut answers = BatchAnswers::default();
        read_batch_output(out.as_bytes(), &mut answers);
        let a = answers.by_key["a"].as_ref().unwrap();
        assert_eq!(
            (a.text.as_str(), a.prompt_tokens, a.completion_tokens),
            ("A sentence.", 7, 3)
        );
        assert!(
            answers.by_key["b"]
                .as_ref()
                .unwrap_err()
                .contains("HTTP 500")
        );
        assert!(
            answers.by_key["c"]
                .as_ref()
                .unwrap_err()
                .contains("batch_expired")
        );
        assert_eq!(answers.unreadable, 2);
    }

    #[test]
    fn input_files_respect_the_request_limit() {
        let lines: Vec<(String, Value)> = (0..MAX_BATCH_REQUESTS + 3)
            .map(|i| (format!("k{i}"), json!({"seed": i})))
            .collect();
        let files = batch_files(&lines);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].0.len(), MAX_BATCH_REQUESTS);
        assert_eq!(files[1].0, ["k50000", "k50001", "k50002"]);
        let first: Value =
            serde_json::from_slice(files[1].1.split(|&b| b == b'\n').next().unwrap()).unwrap();
        assert_eq!(first["custom_id"], "k50000");
        assert_eq!(first["url"], "/v1/chat/completions");
    }
}
