//! Identity version 1, frozen: how synthcti hashed a run's configuration into journal headers
//! before [`RunIdentity`](super::RunIdentity) (headers without an `identity` field). It
//! reset the pacing fields of a [`Config`], wrote it as TOML and left out the lines of knobs
//! added later while at their defaults. Kept only so that those journals resume; nothing new
//! is hashed this way. A knob added to [`Config`] must be left out here while at its default
//! (the pinned hashes in the tests fail otherwise).

use sha2::{Digest, Sha256};

use crate::config::{Config, GenerateConfig};
use crate::embed::{ModelSource, RemoteConfig};
use crate::llm::LlmConfig;

/// The version-1 hashes of `cfg`: the form written after `llm.base_url` left the header, then
/// (with a `llm.base_url`) the earlier form that hashed it.
pub(super) fn config_hashes(cfg: &Config) -> Vec<String> {
    let mut c = without_pacing(cfg);
    let mut out = vec![hash(&c)];
    if cfg.llm.base_url.is_some() {
        c.llm.base_url.clone_from(&cfg.llm.base_url);
        out.push(hash(&c));
    }
    out
}

fn hash(c: &Config) -> String {
    hex::encode(Sha256::digest(hashed_toml(c).as_bytes()))[..16].to_string()
}

/// `cfg` with limits, pacing, targets, budgets, prices, the key's variable and where the
/// model is served reset to their defaults.
fn without_pacing(cfg: &Config) -> Config {
    let d = Config::default();
    let mut c = cfg.clone();
    c.generate = GenerateConfig {
        target: d.generate.target,
        techniques: Vec::new(),
        overask: d.generate.overask,
        max_requests_factor: d.generate.max_requests_factor,
        max_consecutive_failures: d.generate.max_consecutive_failures,
        max_requests: None,
        max_tokens_total: None,
        max_cost: None,
        ..c.generate
    };
    c.llm = LlmConfig {
        api_key_env: d.llm.api_key_env,
        concurrency: d.llm.concurrency,
        timeout_secs: d.llm.timeout_secs,
        max_retries: d.llm.max_retries,
        backoff_initial_ms: d.llm.backoff_initial_ms,
        backoff_max_ms: d.llm.backoff_max_ms,
        price_per_1k_prompt: None,
        price_per_1k_completion: None,
        base_url: None,
        endpoints: Vec::new(),
        batch: false,
        batch_poll_secs: None,
        price_per_1k_prompt_batch: None,
        price_per_1k_completion_batch: None,
        ..c.llm
    };
    if let ModelSource::Remote(r) = &mut c.embed.model {
        let d = RemoteConfig::new(&r.base_url, &r.model);
        (r.batch_size, r.concurrency) = (d.batch_size, d.concurrency);
        (r.timeout_secs, r.max_retries) = (d.timeout_secs, d.max_retries);
        r.api_key_env = d.api_key_env;
    }
    c.embed.progress = d.embed.progress;
    c.embed.cache = d.embed.cache;
    c.embed.cache_dir = None;
    c.local.threads = None;
    c.local.start_timeout_secs = d.local.start_timeout_secs;
    c.local.log_dir = None;
    c
}

/// The configuration as version 1 hashed it: knobs added after journals got headers are
/// left out while they keep their defaults.
fn hashed_toml(c: &Config) -> String {
    let d = Config::default();
    let mut lines: Vec<(&str, &str)> = Vec::new();
    if c.generate.contrast == d.generate.contrast {
        lines.push(("generate", "contrast = false"));
    }
    if c.filter.classifier_top_k == d.filter.classifier_top_k {
        lines.push(("filter", "classifier_top_k = 0"));
    }
    let mut tables = Vec::new();
    if c.select == d.select {
        tables.push("select");
    }
    if c.redact == d.redact {
        tables.push("redact");
    }
    strip_toml(&c.to_toml(), &lines, &tables)
}

/// Pretty TOML without the `(table, line)` lines and the whole `tables` (with the blank line
/// before each).
fn strip_toml(text: &str, lines: &[(&str, &str)], tables: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut table = "";
    let mut blank = false;
    for line in text.lines() {
        if line.is_empty() {
            blank = true;
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name;
        }
        if tables.contains(&table) || lines.contains(&(table, line)) {
            if line.starts_with('[') {
                blank = false;
            }
            continue;
        }
        if std::mem::take(&mut blank) {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hashes version 1 wrote: the default configuration's, and that of a run journaled
    /// before the later knobs existed (its report's TOML). Knobs added later leave them
    /// unchanged at their defaults and change them when set.
    #[test]
    fn pinned_version_1_hashes() {
        let d = Config::default();
        let text = hashed_toml(&without_pacing(&d));
        for gone in ["contrast", "classifier_top_k", "[select]", "lambda"] {
            assert!(!text.contains(gone), "{gone}: {text}");
        }
        assert!(text.ends_with("max_avoid_containment = 0.8\n"), "{text}");
        assert!(!text.contains("\n\n\n") && text.contains("\n\n[filter]\n"));
        assert_eq!(config_hashes(&d), ["a35cc274d718ef59"]);
        let old = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/journal_upgrade/config.toml");
        let old = Config::from_file(&old).unwrap();
        assert_eq!(config_hashes(&old)[0], "e0e72dd9f0d33ba3");
        let mut c = d.clone();
        c.generate.contrast = true;
        assert!(hashed_toml(&c).contains("contrast = true"));
        let mut s = d.clone();
        s.select.method = crate::config::SelectMethod::Mmr;
        assert!(hashed_toml(&s).contains("[select]\nmethod = \"mmr\""));
        let mut k = d.clone();
        k.filter.classifier_top_k = 3;
        assert_ne!(config_hashes(&k), config_hashes(&d));
        // Pacing does not count; with a base URL, the earlier form that hashed it follows.
        let mut p = d.clone();
        p.llm.concurrency = 9;
        p.llm.timeout_secs = 5.0;
        assert_eq!(config_hashes(&p), config_hashes(&d));
        p.llm.base_url = Some("http://127.0.0.1:8001/v1".into());
        let h = config_hashes(&p);
        assert_eq!((h.len(), &h[0]), (2, &config_hashes(&d)[0]));
    }
}
