//! The identity of a run and of each request: the journal header (the input rows and the
//! settings that shape what is asked and kept) and the journal key of a request (a hash of
//! the body the client sends), with the earlier forms still accepted so that journals written
//! by earlier synthcti versions resume.

use sha2::{Digest, Sha256};

use crate::config::{Config, GenerateConfig};
use crate::data::Sample;
use crate::embed::{ModelSource, RemoteConfig};
use crate::journal::JournalHeader;
use crate::llm::{ChatRequest, LlmConfig, request_body};

/// The journal key of a request: a hash of the exact JSON body the client sends
/// ([`request_body`], under `llm.model`: the model, the messages, the sampling settings and
/// the seed). Where the request is served (`llm.base_url`, the members of an endpoint pool,
/// the local server) is not part of it, so `--resume` replays answers after the endpoint
/// moved (another host or port, the same URL as a one-member pool). The form is the one
/// earlier synthcti used for the local server (`"base_url": null`), so those journals keep
/// their keys.
pub fn request_key(llm: &LlmConfig, req: &ChatRequest) -> String {
    let keyed = serde_json::json!({
        "base_url": null,
        "body": request_body(llm, req),
    });
    hex::encode(Sha256::digest(keyed.to_string().as_bytes()))[..24].to_string()
}

/// The key synthcti wrote before request keys left the endpoint out: the configured
/// `llm.base_url`, or a pool marker, hashed with the body. Looked up after [`request_key`] so
/// a run journaled then resumes with the same endpoint. `None` where it equals
/// [`request_key`] (the local server).
pub fn endpoint_request_key(llm: &LlmConfig, req: &ChatRequest) -> Option<String> {
    let keyed = match (&llm.base_url, llm.endpoints.is_empty()) {
        (None, true) => return None,
        (url, true) => serde_json::json!({"base_url": url, "body": request_body(llm, req)}),
        (_, false) => serde_json::json!({"pool": true, "body": request_body(llm, req)}),
    };
    Some(hex::encode(Sha256::digest(keyed.to_string().as_bytes()))[..24].to_string())
}

/// What the journal header of a run says: the input rows and the settings that shape what is
/// asked and kept (not limits, pacing, targets, budgets, prices or the key's variable, so a
/// resume may change those).
///
/// Where the LLM is served is not part of it either (`llm.base_url` and the pool's members
/// are left out; `llm.model` stays, so another model is refused). Headers written before
/// `llm.base_url` was left out hashed it: that form is accepted too
/// ([`JournalHeader::earlier_configs`]), so their runs resume with the same endpoint.
pub fn journal_header(cfg: &Config, samples: &[Sample]) -> JournalHeader {
    let mut h = Sha256::new();
    for s in samples {
        for part in [&*s.text, &*s.label, s.group.as_deref().unwrap_or("")] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update([1]);
    }
    let input = hex::encode(h.finalize())[..16].to_string();
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
        // Where requests are served is not the run's identity (see `request_key`).
        base_url: None,
        endpoints: Vec::new(),
        batch: false,
        batch_poll_secs: None,
        price_per_1k_prompt_batch: None,
        price_per_1k_completion_batch: None,
        ..c.llm
    };
    if let ModelSource::Remote(r) = &mut c.embed.model {
        // Pacing of a remote embedder does not change its vectors.
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
    let hash =
        |c: &Config| hex::encode(Sha256::digest(hashed_toml(c).as_bytes()))[..16].to_string();
    let config = hash(&c);
    let mut earlier_configs = Vec::new();
    if cfg.llm.base_url.is_some() {
        c.llm.base_url.clone_from(&cfg.llm.base_url);
        earlier_configs.push(hash(&c));
    }
    JournalHeader {
        synthcti: env!("CARGO_PKG_VERSION").to_string(),
        input,
        config,
        earlier_configs,
    }
}

/// The configuration as hashed into journal headers: knobs added after journals got headers
/// are left out while they keep their defaults, so a run journaled by an earlier synthcti
/// still resumes after an upgrade (its hash was taken without them).
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

/// The key journals written before the stage split (synthcti 0.1.0 up to issue 10) used: a
/// hash of the request's parts with `Debug` role names. Looked up after [`request_key`], so a
/// run resumed after an upgrade replays its answers instead of paying for them again.
pub fn legacy_request_key(llm: &LlmConfig, req: &ChatRequest) -> String {
    let body = serde_json::json!({
        "model": llm.model,
        "base_url": llm.base_url,
        "temperature": llm.temperature,
        "top_p": llm.top_p,
        "max_tokens": llm.max_tokens,
        "extra": llm.extra_body,
        "seed": req.seed,
        "messages": req.messages.iter().map(|m| (format!("{:?}", m.role), &m.content)).collect::<Vec<_>>(),
        "schema": req.json_schema,
    });
    hex::encode(Sha256::digest(body.to_string().as_bytes()))[..24].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ChatMessage;

    /// Knobs added after journal headers existed do not change the hash while at their
    /// defaults (the default configuration's hash is what synthcti wrote before them, checked
    /// by resuming such journals), and do change it when set.
    #[test]
    fn new_knobs_at_defaults_keep_the_journal_hash() {
        let d = Config::default();
        let text = hashed_toml(&d);
        for gone in ["contrast", "classifier_top_k", "[select]", "lambda"] {
            assert!(!text.contains(gone), "{gone}: {text}");
        }
        assert!(text.ends_with("max_avoid_containment = 0.8\n"), "{text}");
        assert!(!text.contains("\n\n\n") && text.contains("\n\n[filter]\n"));
        assert_eq!(journal_header(&d, &[]).config, "a35cc274d718ef59");
        // The configuration of a run journaled by synthcti before these knobs existed (its
        // report's TOML) hashes to what that run's journal header says.
        let old = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/journal_upgrade/config.toml");
        let old = Config::from_file(&old).unwrap();
        assert_eq!(journal_header(&old, &[]).config, "e0e72dd9f0d33ba3");
        let mut c = d.clone();
        c.generate.contrast = true;
        assert!(hashed_toml(&c).contains("contrast = true"));
        let mut s = d.clone();
        s.select.method = crate::config::SelectMethod::Mmr;
        assert!(hashed_toml(&s).contains("[select]\nmethod = \"mmr\""));
        let mut k = d;
        k.filter.classifier_top_k = 3;
        assert_ne!(
            journal_header(&k, &[]).config,
            journal_header(&Config::default(), &[]).config
        );
    }

    /// Where the model is served is not the run's identity: the header and the request keys
    /// are the same for another URL, a one-member pool and the local server; the model is.
    #[test]
    fn header_and_keys_leave_the_endpoint_out() {
        let req = ChatRequest::new(vec![ChatMessage::user("x")], 3);
        let at = |url: Option<&str>, pool: &[&str], model: &str| {
            let mut c = Config::default();
            c.llm.base_url = url.map(str::to_string);
            c.llm.endpoints = pool
                .iter()
                .map(|u| crate::llm::EndpointConfig::new(u))
                .collect();
            c.llm.model = model.into();
            (journal_header(&c, &[]), request_key(&c.llm, &req), c)
        };
        let (h1, k1, c1) = at(Some("http://127.0.0.1:8001/v1"), &[], "m");
        let (h2, k2, _) = at(Some("http://10.0.0.2:9000/v1"), &[], "m");
        let (h3, k3, c3) = at(None, &["http://127.0.0.1:8001/v1"], "m");
        let (h4, k4, c4) = at(None, &[], "m");
        assert_eq!([&h2.config, &h3.config, &h4.config], [&h1.config; 3]);
        assert_eq!([&k2, &k3, &k4], [&k1; 3]);
        let (h5, k5, _) = at(Some("http://127.0.0.1:8001/v1"), &[], "other");
        assert_ne!(h5.config, h1.config, "another model is another run");
        assert_ne!(k5, k1);
        // Journals of earlier versions: their header hash (with the URL) is accepted, their
        // keys (with the URL or the pool marker) are looked up; the local server's are the same.
        assert_eq!(h1.earlier_configs.len(), 1);
        assert_ne!(h1.earlier_configs[0], h1.config);
        assert!(h3.earlier_configs.is_empty() && h4.earlier_configs.is_empty());
        let old = |llm: &LlmConfig| {
            let keyed = if llm.endpoints.is_empty() {
                serde_json::json!({"base_url": llm.base_url, "body": request_body(llm, &req)})
            } else {
                serde_json::json!({"pool": true, "body": request_body(llm, &req)})
            };
            hex::encode(Sha256::digest(keyed.to_string().as_bytes()))[..24].to_string()
        };
        assert_eq!(endpoint_request_key(&c1.llm, &req), Some(old(&c1.llm)));
        assert_eq!(endpoint_request_key(&c3.llm, &req), Some(old(&c3.llm)));
        assert_eq!(endpoint_request_key(&c4.llm, &req), None);
        assert_eq!(old(&c4.llm), k4, "local-server keys unchanged");
    }

    #[test]
    fn request_key_follows_the_sent_body() {
        let req = ChatRequest::new(vec![ChatMessage::user("x")], 3);
        let mut cfg = LlmConfig::default();
        let k = request_key(&cfg, &req);
        assert_eq!(k, request_key(&cfg, &req));
        assert_eq!(k.len(), 24);
        cfg.extra_body.insert("top_k".into(), serde_json::json!(5));
        assert_ne!(
            k,
            request_key(&cfg, &req),
            "extra body fields are sent, so keyed"
        );
        let other = ChatRequest::new(vec![ChatMessage::system("x")], 3);
        assert_ne!(
            request_key(&LlmConfig::default(), &other),
            k,
            "the role counts"
        );
    }
}
