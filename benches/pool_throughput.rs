//! Does the endpoint pool scale? [`EndpointPool::complete`] over 1, 2 and 4 fake replicas
//! (the test suite's fault server) that each answer after a fixed latency and take
//! `concurrency` requests at a time: requests/s of each pool and the ratio to the single
//! endpoint, the named baseline of the same run. Target: ≥ 3.5× from 1 to 4 endpoints.
//!
//! `cargo bench --bench pool_throughput` (env: `REQUESTS`, default 240; `LATENCY_MS`,
//! default 100; `CONCURRENCY` per endpoint, default 4)

#[path = "../tests/support/fault_server.rs"]
mod fault_server;
#[path = "../tests/support/http.rs"]
mod http;

use std::time::{Duration, Instant};

use fault_server::{FaultServer, Reply};
use futures::StreamExt;
use synthcti::llm::{ChatMessage, ChatRequest, EndpointConfig, EndpointPool, LlmConfig};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Requests per second of `n` requests through a pool of the `urls`.
async fn throughput(cfg: &LlmConfig, urls: &[String], n: usize) -> f64 {
    let pool = match urls {
        [one] => EndpointPool::single(cfg, one),
        many => EndpointPool::new(&LlmConfig {
            endpoints: many.iter().map(|u| EndpointConfig::new(u)).collect(),
            ..cfg.clone()
        }),
    }
    .expect("a valid pool");
    let started = Instant::now();
    let ok = futures::stream::iter(0..n)
        .map(|i| {
            let pool = &pool;
            async move {
                let req =
                    ChatRequest::new(vec![ChatMessage::user(format!("request {i}"))], i as u64);
                pool.complete(&req).await.is_ok()
            }
        })
        .buffer_unordered(pool.concurrency())
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await;
    assert_eq!(ok, n, "every request answered");
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let n = env_usize("REQUESTS", 240);
    let latency = Duration::from_millis(env_usize("LATENCY_MS", 100) as u64);
    let concurrency = env_usize("CONCURRENCY", 4);
    let mut servers = Vec::new();
    for _ in 0..4 {
        servers.push(
            FaultServer::start(move |_, _| {
                Reply::Delay(latency, Box::new(Reply::ok("A fixed answer.")))
            })
            .await,
        );
    }
    let urls: Vec<String> = servers.iter().map(FaultServer::base_url).collect();
    let cfg = LlmConfig {
        model: "fake".into(),
        concurrency,
        ..LlmConfig::default()
    };
    println!(
        "{n} requests, {} ms per answer, {concurrency} in flight per endpoint",
        latency.as_millis()
    );
    println!("| endpoints | requests/s | × 1 endpoint |\n|---:|---:|---:|");
    let base = throughput(&cfg, &urls[..1], n).await;
    println!("| 1 | {base:.1} | 1.00 |");
    for k in [2, 4] {
        let r = throughput(&cfg, &urls[..k], n).await;
        println!("| {k} | {r:.1} | {:.2} |", r / base);
    }
    for (i, s) in servers.iter().enumerate() {
        println!("endpoint {i}: {} requests", s.requests());
    }
}
