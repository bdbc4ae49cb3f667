//! Streamed attempts against the bundled local server: the answer arrives token by token as
//! server-sent events, and the attempt times out on *silence* — `timeout_secs` without a
//! `data:` event (keep-alive comments do not count), `2 × timeout_secs` for the first one,
//! which waits for the server's queue and prompt processing — not on total time: a request
//! that is still generating on a busy CPU is never cut and sent again. The stream is bounded
//! all the same: llama-server sends one event per token, so an answer of `max_tokens` tokens
//! that never falls silent ends within `(max_tokens + 2) × timeout_secs`, which is the
//! attempt's hard cap; the text kept is capped at [`MAX_STREAM_BYTES`]. A stream that ends
//! without `[DONE]` or a finish reason is a cut answer, never taken as a whole one.
//!
//! The journal key is the hash of the non-streamed body ([`super::request_body`]): `stream`
//! and `stream_options` are set here, on the wire only, so a streamed answer replays under the
//! same key as one fetched whole.

use std::time::Duration;

use serde_json::{Value, json};

use super::LlmError;
use crate::error_chain;
use crate::http::excerpt;

/// Most bytes of event stream (or whole body) read from one answer.
pub const MAX_STREAM_BYTES: usize = 4 << 20;

/// How long one streamed attempt may take: until the first event at most `first`, between
/// events at most `silence`; in all at most `(max_tokens + 2) × silence`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamLimits {
    /// Longest wait for the first event (queue, prompt processing, first token).
    pub first: Duration,
    /// Longest wait for the next event.
    pub silence: Duration,
    /// Longest whole attempt.
    pub total: Duration,
}

impl StreamLimits {
    /// The limits for `timeout_secs` and `max_tokens`.
    pub fn new(timeout_secs: f64, max_tokens: u32) -> Self {
        let silence = Duration::from_secs_f64(timeout_secs);
        Self {
            first: silence.saturating_mul(2),
            silence,
            total: silence.saturating_mul(max_tokens.saturating_add(2)),
        }
    }
}

/// Sends `body` streamed to `{base_url}/chat/completions` and gathers the events into the
/// shape of a whole chat completion (`choices[0].message.content`, `finish_reason`, `usage`),
/// so one parser reads both. A server that answers with a whole JSON body instead of events
/// is read as such. Errors: [`LlmError::Timeout`] on silence or past the cap (the connection is
/// closed when this future ends), the status errors of any endpoint, and
/// [`LlmError::InvalidResponse`] for an unusable stream.
pub(crate) async fn streamed(
    http: &reqwest::Client,
    (base_url, key): (&str, &str),
    body: &Value,
    limits: StreamLimits,
) -> Result<Value, LlmError> {
    let mut wire = body.clone();
    wire["stream"] = json!(true);
    wire["stream_options"] = json!({ "include_usage": true });
    let mut request = http
        .post(format!("{base_url}/chat/completions"))
        .json(&wire);
    if !key.is_empty() {
        request = request.bearer_auth(key);
    }
    let send = request.send();
    let work = async {
        let response = tokio::time::timeout(limits.first, send)
            .await
            .map_err(|_| LlmError::Timeout(limits.first))?
            .map_err(|e| LlmError::Transport(error_chain(&e.without_url())))?;
        let response = super::error::check_status(response).await?;
        let events = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut gather = Gather::default();
        let mut response = response;
        let mut whole = Vec::new();
        // The deadline moves with every `data:` event (or, for a whole body, every chunk).
        let mut deadline = tokio::time::Instant::now() + limits.first;
        loop {
            let chunk = tokio::time::timeout_at(deadline, response.chunk())
                .await
                .map_err(|_| LlmError::Timeout(limits.silence))?
                .map_err(|e| LlmError::Transport(error_chain(&e.without_url())))?;
            let Some(chunk) = chunk else { break };
            if events {
                let seen = gather.events;
                if gather.feed(&chunk)? {
                    break;
                }
                if gather.events > seen {
                    deadline = tokio::time::Instant::now() + limits.silence;
                }
            } else {
                deadline = tokio::time::Instant::now() + limits.silence;
                whole.extend_from_slice(&chunk);
                if whole.len() > MAX_STREAM_BYTES {
                    return Err(too_long());
                }
            }
        }
        if events {
            gather.finish()
        } else {
            serde_json::from_slice(&whole).map_err(|e| LlmError::InvalidResponse {
                reason: format!("the answer is not JSON: {e}"),
                excerpt: excerpt(&String::from_utf8_lossy(&whole), 300),
            })
        }
    };
    tokio::time::timeout(limits.total, work)
        .await
        .map_err(|_| LlmError::Timeout(limits.total))?
}

fn too_long() -> LlmError {
    LlmError::InvalidResponse {
        reason: format!("the answer is longer than {MAX_STREAM_BYTES} bytes"),
        excerpt: String::new(),
    }
}

/// Server-sent events of a chat completion, gathered as they arrive.
#[derive(Debug, Default)]
struct Gather {
    /// Bytes of an event not yet ended by a blank line.
    pending: Vec<u8>,
    /// Bytes read so far.
    read: usize,
    text: String,
    finish_reason: Option<String>,
    usage: Option<Value>,
    /// An `error` object sent in the stream.
    error: Option<Value>,
    events: usize,
    done: bool,
}

impl Gather {
    /// Takes the next bytes; true once `data: [DONE]` arrived.
    fn feed(&mut self, bytes: &[u8]) -> Result<bool, LlmError> {
        self.read += bytes.len();
        if self.read > MAX_STREAM_BYTES {
            return Err(too_long());
        }
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            self.line(line.trim_end_matches(['\r', '\n']))?;
            if self.done {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One line of the stream: only `data:` lines carry anything.
    fn line(&mut self, line: &str) -> Result<(), LlmError> {
        let Some(data) = line.strip_prefix("data:") else {
            return Ok(());
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let event: Value = serde_json::from_str(data).map_err(|e| LlmError::InvalidResponse {
            reason: format!("an event of the stream is not JSON: {e}"),
            excerpt: excerpt(data, 300),
        })?;
        self.events += 1;
        if let Some(err) = event.get("error").filter(|e| !e.is_null()) {
            self.error = Some(err.clone());
        }
        if let Some(u) = event.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
        }
        if let Some(choice) = event["choices"].as_array().and_then(|c| c.first()) {
            if let Some(piece) = choice["delta"]["content"].as_str() {
                self.text.push_str(piece);
            }
            if let Some(r) = choice["finish_reason"].as_str() {
                self.finish_reason = Some(r.to_string());
            }
        }
        Ok(())
    }

    /// The whole completion the events add up to.
    fn finish(self) -> Result<Value, LlmError> {
        if self.events == 0 {
            return Err(LlmError::InvalidResponse {
                reason: "the event stream ended without an event".into(),
                excerpt: excerpt(&String::from_utf8_lossy(&self.pending), 300),
            });
        }
        if !self.done && self.finish_reason.is_none() && self.error.is_none() {
            return Err(LlmError::InvalidResponse {
                reason: "the event stream was cut (no finish reason, no [DONE])".into(),
                excerpt: excerpt(&self.text, 300),
            });
        }
        let mut whole = json!({
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": self.text },
                "finish_reason": self.finish_reason,
            }],
        });
        if let Some(u) = self.usage {
            whole["usage"] = u;
        }
        if let Some(e) = self.error {
            whole["error"] = e;
        }
        Ok(whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(content: Option<&str>, finish: Option<&str>) -> String {
        let delta = content.map_or(json!({}), |c| json!({ "content": c }));
        format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    }

    #[test]
    fn events_split_anywhere_add_up_to_one_completion() {
        let stream = [
            event(None, None),
            event(Some("The actor "), None),
            event(Some("dumped LSASS."), None),
            event(None, Some("stop")),
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":4}}\n\n"
                .to_string(),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        for cut in [1, 3, 17, 64, stream.len()] {
            let mut g = Gather::default();
            let mut done = false;
            for piece in stream.as_bytes().chunks(cut) {
                done = g.feed(piece).unwrap();
                if done {
                    break;
                }
            }
            assert!(done, "cut {cut}");
            let whole = g.finish().unwrap();
            assert_eq!(
                whole["choices"][0]["message"]["content"],
                "The actor dumped LSASS."
            );
            assert_eq!(whole["choices"][0]["finish_reason"], "stop");
            assert_eq!(whole["usage"]["completion_tokens"], 4);
        }
    }

    #[test]
    fn hostile_streams_are_errors_not_panics() {
        let mut g = Gather::default();
        assert!(matches!(
            g.feed(b"data: {not json\n"),
            Err(LlmError::InvalidResponse { .. })
        ));
        assert!(matches!(
            Gather::default().finish(),
            Err(LlmError::InvalidResponse { .. })
        ));
        let mut g = Gather::default();
        let big = vec![b'x'; MAX_STREAM_BYTES + 1];
        assert!(matches!(
            g.feed(&big),
            Err(LlmError::InvalidResponse { .. })
        ));
        // a stream cut before its end is not a whole answer
        let mut g = Gather::default();
        g.feed(event(Some("The actor"), None).as_bytes()).unwrap();
        assert!(matches!(g.finish(), Err(LlmError::InvalidResponse { .. })));
        // comments, other fields and CRLF line ends are ignored
        let mut g = Gather::default();
        g.feed(b": keep-alive\r\nevent: x\r\n").unwrap();
        g.feed(event(Some("Ok."), Some("stop")).as_bytes()).unwrap();
        assert_eq!(
            g.finish().unwrap()["choices"][0]["message"]["content"],
            "Ok."
        );
    }

    #[test]
    fn limits_bound_the_whole_attempt_by_the_token_budget() {
        let l = StreamLimits::new(60.0, 80);
        assert_eq!(
            (l.first, l.silence),
            (Duration::from_secs(120), Duration::from_secs(60))
        );
        assert_eq!(l.total, Duration::from_secs(60 * 82));
    }
}
