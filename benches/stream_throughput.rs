//! Does synthcti's Fetcher (journal, guard, reorder buffer, retries) cost throughput? On the
//! bundled llama-server, the same request bodies go through
//!
//! * **plain**: reqwest posting the bodies, `concurrency` in flight (`buffer_unordered`);
//! * **synthcti**: [`Fetcher::stream`] with a fresh journal, answers put back in request
//!   order by [`Reorder`], as the LLM stage takes them;
//!
//! alternating which goes first, `REPEATS` times, at `slots` = `concurrency` = 1, 2 and 4. It
//! prints completion tokens/s of each and the ratio synthcti / plain (target ≥ 0.95), and the
//! wall time per slot count. Needs `scripts/setup.sh` (llama-server + SmolLM2).
//!
//! `cargo bench --bench stream_throughput` (env: `REQUESTS`, default 24; `REPEATS`, default 2;
//! `SLOTS`, default `1,2,4`)

use std::time::Instant;

use futures::StreamExt;
use synthcti::catalog::Catalog;
use synthcti::config::{Config, ValidConfig};
use synthcti::generate::journal_header;
use synthcti::generate::{Fetcher, PlannedRequest, Reorder, request_key};
use synthcti::journal::{Journal, RequestOutcome};
use synthcti::llm::{ChatMessage, ChatRequest, LocalServer, request_body};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` distinct requests: one TRAM-style prompt per technique of the catalog, own seeds.
fn requests(cfg: &ValidConfig, n: usize) -> Vec<PlannedRequest> {
    let catalog = Catalog::bundled();
    let ids = ["T1055", "T1059.001", "T1105", "T1071.001", "T1027", "T1083"];
    (0..n)
        .map(|i| {
            let id = ids[i % ids.len()];
            let prompt = format!(
                "Write one sentence from a threat report describing {} ({id}). Answer with the sentence only.",
                catalog.name_of(id)
            );
            let request = ChatRequest::new(vec![ChatMessage::user(&prompt)], 1000 + i as u64);
            PlannedRequest {
                job: 0,
                slot: i,
                seed: request.seed,
                key: request_key(&cfg.llm, &request),
                request,
                example_ids: Vec::new(),
                rewrite_of: None,
                placeholders: Default::default(),
                redacted: Default::default(),
            }
        })
        .collect()
}

/// Completion tokens/s of the plain client.
async fn plain(cfg: &ValidConfig, url: &str, planned: &[PlannedRequest]) -> f64 {
    let http = reqwest::Client::new();
    let endpoint = format!("{url}/chat/completions");
    let t = Instant::now();
    let tokens: u64 = futures::stream::iter(planned)
        .map(|p| {
            let body = request_body(&cfg.llm, &p.request);
            let (http, endpoint) = (&http, &endpoint);
            async move {
                let v: serde_json::Value = http
                    .post(endpoint)
                    .json(&body)
                    .send()
                    .await
                    .expect("llama-server answers")
                    .json()
                    .await
                    .expect("a JSON answer");
                v["usage"]["completion_tokens"].as_u64().unwrap_or(0)
            }
        })
        .buffer_unordered(cfg.llm.concurrency)
        .fold(0, |a, b| async move { a + b })
        .await;
    tokens as f64 / t.elapsed().as_secs_f64()
}

/// Completion tokens/s through the Fetcher and the reorder buffer.
async fn synthcti(cfg: &ValidConfig, planned: &[PlannedRequest]) -> f64 {
    let dir = tempfile::tempdir().expect("a temp dir");
    let journal = Journal::open(
        &dir.path().join("journal.jsonl"),
        &journal_header(cfg, &[]),
        false,
        false,
    )
    .expect("a fresh journal");
    let fetcher = Fetcher::open(cfg, journal).await.expect("the endpoint");
    let t = Instant::now();
    let mut reorder = Reorder::default();
    let mut tokens = 0u64;
    let mut answers = std::pin::pin!(fetcher.stream(planned));
    while let Some(answer) = answers.next().await {
        let (i, outcome) = answer.expect("journal writes");
        for (_, o) in reorder.push(i, outcome) {
            if let Some(RequestOutcome::Answered {
                completion_tokens, ..
            }) = o
            {
                tokens += u64::from(completion_tokens);
            }
        }
    }
    tokens as f64 / t.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let n = env_usize("REQUESTS", 24);
    let repeats = env_usize("REPEATS", 2);
    println!(
        "load average at start: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "| slots = concurrency | plain tok/s | synthcti tok/s | synthcti / plain | wall s (synthcti, {n} requests) |"
    );
    println!("|---:|---:|---:|---:|---:|");
    let slot_counts: Vec<usize> = std::env::var("SLOTS")
        .unwrap_or("1,2,4".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for slots in slot_counts {
        let mut base = Config::default();
        base.local.slots = slots;
        let server = LocalServer::start(&base.local)
            .await
            .expect("setup.sh has installed llama-server");
        base.llm.base_url = Some(server.base_url().to_string());
        base.llm.model = server.model_alias().to_string();
        base.llm.concurrency = slots;
        let cfg = base.validate().expect("a valid config");
        let planned = requests(&cfg, n);
        // Warm-up: loads the model pages, fills the prompt cache of the system part.
        plain(&cfg, server.base_url(), &planned[..slots.min(n)]).await;
        let (mut p, mut s) = (0.0, 0.0);
        let mut wall = 0.0;
        let mut ratios = Vec::new();
        for r in 0..repeats {
            // Alternate which side goes first, so neither always meets a warmer server.
            let mut pr = 0.0;
            if r % 2 == 1 {
                pr = plain(&cfg, server.base_url(), &planned).await;
            }
            let t = Instant::now();
            let sr = synthcti(&cfg, &planned).await;
            wall += t.elapsed().as_secs_f64();
            if r % 2 == 0 {
                pr = plain(&cfg, server.base_url(), &planned).await;
            }
            ratios.push(format!("{:.2}", sr / pr));
            (p, s) = (p + pr, s + sr);
        }
        let (p, s) = (p / repeats as f64, s / repeats as f64);
        println!(
            "| {slots} | {p:.1} | {s:.1} | {:.3} (pairs: {}) | {:.1} |",
            s / p,
            ratios.join(", "),
            wall / repeats as f64
        );
        server.stop();
    }
    println!(
        "load average at end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}
