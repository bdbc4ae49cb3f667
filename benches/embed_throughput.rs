//! Embedding throughput on TRAM (5,089 sentences): sorted-by-tokens vs unsorted batching,
//! and the on-disk cache cold vs warm. Run with `cargo bench --bench embed_throughput`.
//!
//! Needs the runtime assets of `scripts/setup.sh`. `SYNTHCTI_BENCH_LIMIT=N` embeds only the
//! first N sentences.

use std::time::Instant;

use serde::Deserialize;
use synthcti::embed::{CachedEmbedder, EmbedConfig, Embedder, FastEmbedder};

#[derive(Deserialize)]
struct Row {
    text: String,
}

type BoxError = Box<dyn std::error::Error>;

/// CPU seconds used by this process so far (user + system), from `/proc/self/stat`
/// (Linux, 100 clock ticks per second); `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Runs `f` once and returns (sentences per wall second, result); prints wall and CPU rates.
fn timed<T>(
    label: &str,
    n: usize,
    f: impl FnOnce() -> Result<T, BoxError>,
) -> Result<(f64, T), BoxError> {
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let out = f()?;
    let secs = start.elapsed().as_secs_f64();
    let rate = n as f64 / secs;
    let cpu = match (cpu0, cpu_seconds()) {
        (Some(a), Some(b)) if b > a => format!("{:>8.1} per CPU-s", n as f64 / (b - a)),
        _ => String::new(),
    };
    println!("{label:<42} {secs:>8.2} s {rate:>10.1} sentences/s {cpu}");
    Ok((rate, out))
}

/// `/proc/loadavg`, to judge how much the numbers were disturbed by other work.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() -> Result<(), BoxError> {
    println!("load average at start: {}", load_average());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tram2_single_label.json");
    let rows: Vec<Row> = serde_json::from_slice(&std::fs::read(path)?)?;
    let limit = std::env::var("SYNTHCTI_BENCH_LIMIT")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let texts: Vec<&str> = rows.iter().take(limit).map(|r| r.text.as_str()).collect();
    let n = texts.len();

    let base = EmbedConfig {
        progress: false,
        cache: false,
        ..EmbedConfig::default()
    };
    let mut sorted = FastEmbedder::new(&base)?;
    let mut unsorted = FastEmbedder::new(&EmbedConfig {
        sort_by_tokens: false,
        ..base.clone()
    })?;
    println!(
        "model {} (dim {}), {n} TRAM sentences, batch {}, {} threads available",
        sorted.model_id(),
        sorted.dim(),
        base.batch_size,
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );

    // Padding: tokens the model is fed per sentence.
    let lengths: Vec<usize> = texts
        .iter()
        .map(|t| sorted.padded_len(&[t]))
        .collect::<Result<_, _>>()?;
    let real: usize = lengths.iter().sum();
    let fed = |order: &[usize]| -> Result<usize, BoxError> {
        let mut total = 0;
        for batch in order.chunks(base.batch_size) {
            let chunk: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            total += chunk.len() * sorted.padded_len(&chunk)?;
        }
        Ok(total)
    };
    let input_order: Vec<usize> = (0..n).collect();
    let mut token_order = input_order.clone();
    token_order.sort_by_key(|&i| lengths[i]);
    let mut char_order = input_order.clone();
    char_order.sort_by_key(|&i| texts[i].chars().count());
    println!(
        "tokens per sentence: real {:.1}; fed when padded per batch: sorted by tokens {:.1}, sorted by chars {:.1}, unsorted {:.1}; fixed 128 would be 128",
        real as f64 / n as f64,
        fed(&token_order)? as f64 / n as f64,
        fed(&char_order)? as f64 / n as f64,
        fed(&input_order)? as f64 / n as f64,
    );

    // Warm-up (first session run allocates and plans).
    sorted.embed(&texts[..n.min(64)])?;
    unsorted.embed(&texts[..n.min(64)])?;

    let (r_sorted, v_sorted) = timed("batch 32, sorted by tokens (default)", n, || {
        Ok(sorted.embed(&texts)?)
    })?;
    let by_chars: Vec<&str> = char_order.iter().map(|&i| texts[i]).collect();
    let (r_chars, _) = timed("batch 32, sorted by characters", n, || {
        Ok(unsorted.embed(&by_chars)?)
    })?;
    let (r_unsorted, v_unsorted) = timed("batch 32, unsorted", n, || Ok(unsorted.embed(&texts)?))?;
    let max_diff = (&v_sorted - &v_unsorted)
        .iter()
        .fold(0.0f32, |m, x| m.max(x.abs()));
    drop(unsorted);

    let dir = tempfile::tempdir()?;
    let (r_cold, _) = timed("cache cold (sorted, empty cache)", n, || {
        let mut cached = CachedEmbedder::new(&mut sorted, dir.path())?;
        Ok(cached.embed(&texts)?)
    })?;
    let (r_warm, v_warm) = timed("cache warm (reopen from disk + lookup)", n, || {
        let mut cached = CachedEmbedder::new(&mut sorted, dir.path())?;
        let v = cached.embed(&texts)?;
        let stats = cached.stats();
        if stats.misses != 0 {
            return Err(format!("warm run embedded {} sentences", stats.misses).into());
        }
        Ok(v)
    })?;
    let identical = v_warm == v_sorted;

    println!();
    println!(
        "sorted-by-tokens / unsorted     = {:.2}x",
        r_sorted / r_unsorted
    );
    println!(
        "sorted-by-tokens / sorted-chars = {:.2}x",
        r_sorted / r_chars
    );
    println!("cache warm / cache cold         = {:.0}x", r_warm / r_cold);
    println!("max |sorted - unsorted| over all vector components = {max_diff:.2e}");
    println!("cached vectors identical to fresh sorted run: {identical}");
    println!("load average at end: {}", load_average());
    Ok(())
}
