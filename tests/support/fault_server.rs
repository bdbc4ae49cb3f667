//! A small OpenAI-compatible HTTP/1.1 server on 127.0.0.1:0 that answers each request as a
//! script says: valid completions, error statuses, 429 with `Retry-After`, garbage bodies,
//! JSON without choices, delays, or no answer at all. It counts requests, tracks how many are
//! in flight, and records request bodies and `Authorization` headers.
//!
//! Hand-rolled on tokio's `TcpListener` (one request per connection, `Connection: close`),
//! so the tests need no extra HTTP server dependency.

#![allow(dead_code)] // each test binary uses a different part of it

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with a valid chat completion (usage 10 prompt + 5 completion tokens).
    Ok { text: String, finish_reason: String },
    /// Any status with a body and extra headers.
    Status {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    /// 429 with this `Retry-After` value and an OpenAI-style error body.
    RateLimited { retry_after: String },
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with valid JSON that is not a chat completion.
    Nonsense,
    /// 200 with a chat completion whose `choices` is empty.
    EmptyChoices,
    /// 200 whose body stops halfway (`Content-Length` promises more), then the connection
    /// closes.
    Truncated,
    /// Never answers; holds the connection until the client closes it.
    Hang,
    /// Waits, then replies.
    Delay(Duration, Box<Reply>),
    /// 200 with server-sent events, as llama-server streams: one event per token, `gap`
    /// before each, then a usage event and `[DONE]`.
    Stream { tokens: Vec<String>, gap: Duration },
    /// 200 with one event (`token`), then only keep-alive comments (`:`) every `every`, as
    /// llama-server sends while a stream waits, until the client closes the connection.
    Pings { token: String, every: Duration },
}

impl Reply {
    /// A valid completion that stopped normally.
    pub fn ok(text: &str) -> Reply {
        Reply::Ok {
            text: text.to_string(),
            finish_reason: "stop".to_string(),
        }
    }

    /// A bare status with a short text body.
    pub fn status(status: u16) -> Reply {
        Reply::Status {
            status,
            body: format!(
                "{{\"error\":{{\"message\":\"scripted {status}\",\"type\":\"server_error\"}}}}"
            ),
            headers: Vec::new(),
        }
    }
}

type Script = dyn Fn(usize, &Value) -> Reply + Send + Sync;

#[derive(Default)]
struct Shared {
    received: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
    auth: Mutex<Vec<String>>,
}

/// The running server; stops accepting when dropped.
pub struct FaultServer {
    port: u16,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl FaultServer {
    /// Start a server whose reply to request `n` (0-based, in arrival order) with JSON body
    /// `body` is `script(n, body)`.
    pub async fn start(script: impl Fn(usize, &Value) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared::default());
        let script: Arc<Script> = Arc::new(script);
        let sh = Arc::clone(&shared);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sh = Arc::clone(&sh);
                let script = Arc::clone(&script);
                tokio::spawn(async move {
                    let _ = serve(stream, sh, script).await;
                });
            }
        });
        FaultServer {
            port,
            shared,
            accept,
        }
    }

    /// Replies in this order; requests past the end get `Reply::ok("Fine.")`.
    pub async fn scripted(replies: Vec<Reply>) -> Self {
        Self::start(move |n, _| {
            replies
                .get(n)
                .cloned()
                .unwrap_or_else(|| Reply::ok("Fine."))
        })
        .await
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Requests received (fully read) so far.
    pub fn requests(&self) -> usize {
        self.shared.received.load(Ordering::SeqCst)
    }

    /// The most requests that were in flight at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// The JSON bodies received, in arrival order.
    pub fn bodies(&self) -> Vec<Value> {
        self.shared.bodies.lock().unwrap().clone()
    }

    /// The `Authorization` header values received, in arrival order.
    pub fn auth_headers(&self) -> Vec<String> {
        self.shared.auth.lock().unwrap().clone()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(mut stream: TcpStream, sh: Arc<Shared>, script: Arc<Script>) -> std::io::Result<()> {
    let Some(request) = super::http::read_request(&mut stream).await? else {
        return Ok(());
    };
    let auth = request.header("authorization").unwrap_or("").to_string();
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);

    let n = sh.received.fetch_add(1, Ordering::SeqCst);
    sh.bodies.lock().unwrap().push(body.clone());
    sh.auth.lock().unwrap().push(auth);
    let now = sh.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    sh.max_in_flight.fetch_max(now, Ordering::SeqCst);

    let result = reply(&mut stream, script(n, &body)).await;
    sh.in_flight.fetch_sub(1, Ordering::SeqCst);
    result
}

async fn reply(stream: &mut TcpStream, r: Reply) -> std::io::Result<()> {
    let mut r = r;
    while let Reply::Delay(d, inner) = r {
        tokio::time::sleep(d).await;
        r = *inner;
    }
    let (status, body, headers) = match r {
        Reply::Ok { text, finish_reason } => (
            200,
            json!({
                "id": "chatcmpl-fault", "object": "chat.completion", "created": 0, "model": "fault",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": finish_reason}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
            })
            .to_string(),
            Vec::new(),
        ),
        Reply::Status { status, body, headers } => (status, body, headers),
        Reply::RateLimited { retry_after } => (
            429,
            r#"{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":null}}"#.to_string(),
            vec![("Retry-After".to_string(), retry_after)],
        ),
        Reply::Garbage => (200, "<html>\u{1}\u{2} not json at all".to_string(), Vec::new()),
        Reply::Nonsense => (200, r#"{"hello": "world", "choices": "nope"}"#.to_string(), Vec::new()),
        Reply::EmptyChoices => (
            200,
            r#"{"id":"x","object":"chat.completion","created":0,"model":"fault","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":0,"total_tokens":10}}"#.to_string(),
            Vec::new(),
        ),
        Reply::Truncated => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\nConnection: close\r\n\r\n{\"choices\": [{\"message\": {\"content\": \"The ac";
            stream.write_all(head.as_bytes()).await?;
            return stream.shutdown().await;
        }
        Reply::Hang => {
            // Hold the connection until the client gives up and closes it.
            let mut sink = [0u8; 256];
            while stream.read(&mut sink).await.map(|n| n > 0).unwrap_or(false) {}
            return Ok(());
        }
        Reply::Stream { tokens, gap } => return stream_events(stream, &tokens, gap).await,
        Reply::Pings { token, every } => return pings(stream, &token, every).await,
        Reply::Delay(..) => unreachable!("unwrapped above"),
    };
    let mut out = format!(
        "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}

async fn stream_events(
    stream: &mut TcpStream,
    tokens: &[String],
    gap: Duration,
) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await?;
    let event = |v: Value| format!("data: {v}\n\n");
    for t in tokens {
        tokio::time::sleep(gap).await;
        let e = json!({"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": null}]});
        stream.write_all(event(e).as_bytes()).await?;
    }
    let end = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    let usage =
        json!({"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": tokens.len()}});
    stream
        .write_all(format!("{}{}data: [DONE]\n\n", event(end), event(usage)).as_bytes())
        .await?;
    stream.shutdown().await
}

async fn pings(stream: &mut TcpStream, token: &str, every: Duration) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
    let e = json!({"choices": [{"index": 0, "delta": {"content": token}, "finish_reason": null}]});
    stream
        .write_all(format!("{head}data: {e}\n\n").as_bytes())
        .await?;
    loop {
        tokio::time::sleep(every).await;
        // fails once the client has closed the connection
        stream.write_all(b":\n\n").await?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
