//! The one HTTP/1.1 request reader of the tests' fake servers (LLM, embeddings, Batch API).
#![allow(dead_code)] // each test binary uses a different part of it

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// One request as a fake server sees it.
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The head's lines after the request line.
    pub head: String,
    /// `Content-Length` bytes of body.
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads the head, then `Content-Length` bytes; `None` when the client closes first.
pub async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let (first, head) = text.split_once("\r\n").unwrap_or((&text, ""));
    let mut parts = first.split_whitespace();
    let mut request = Request {
        method: parts.next().unwrap_or("").to_string(),
        path: parts.next().unwrap_or("").to_string(),
        head: head.to_string(),
        body: Vec::new(),
    };
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    request.body = buf[head_end..head_end + length].to_vec();
    Ok(Some(request))
}
