//! The identity of a run and of each request, in one place: the journal header (the input
//! rows and the [`RunIdentity`], the settings that shape what is asked and kept) and the
//! journal key of a request (a hash of the body the client sends). The earlier forms
//! ([`v1`] headers, keys with the endpoint) are still accepted, so journals written by
//! earlier synthcti versions resume.

mod v1;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cluster::ClusterParams;
use crate::config::{Config, OutputShape, SelectConfig, Source};
use crate::data::Sample;
use crate::desensitize::RedactConfig;
use crate::embed::ModelSource;
use crate::filter::FilterParams;
use crate::journal::JournalHeader;
use crate::llm::{ChatRequest, LlmConfig, request_body};
use crate::stats::UnderPolicy;

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

/// Version of [`RunIdentity`] that journal headers written now carry (`"identity": 2`);
/// headers without the field were hashed by [`v1`].
pub const IDENTITY_VERSION: u32 = 2;

/// A run's identity: the settings that shape what is asked and kept, hashed into its journal
/// header. A resume is refused under another identity. Everything else in [`Config`] is
/// pacing a resume may change: concurrency, timeouts, retries and backoff, limits, budgets
/// and prices, targets and technique lists, the key's variable, where the model is served
/// (`llm.base_url`, pool members) and where files live (cache and log directories, the model
/// directory: the embedding model counts by its directory's name, so a journal replays under
/// another `$SYNTHCTI_HOME`).
///
/// The input rows are hashed apart ([`JournalHeader::input`]). A field added to a section
/// after version 2 is skipped while at its default (`skip_serializing_if`), so journals
/// written before it keep resuming.
#[derive(Debug, Serialize)]
pub struct RunIdentity<'a> {
    identity: u32,
    seed: u64,
    policy: UnderPolicy,
    embed: EmbedIdentity,
    cluster: &'a ClusterParams,
    generate: GenerateIdentity<'a>,
    llm: LlmIdentity<'a>,
    local: LocalIdentity<'a>,
    filter: &'a FilterParams,
    select: &'a SelectConfig,
    redact: &'a RedactConfig,
}

/// What of `[embed]` shapes the vectors: the model and the truncation length.
#[derive(Debug, Serialize)]
struct EmbedIdentity {
    model: ModelIdentity,
    max_length: usize,
}

/// The embedding model, independent of where it is stored or served.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
enum ModelIdentity {
    /// A local sentence-transformers export, by its directory's name.
    LocalDir(String),
    /// A fastembed model name.
    Named(String),
    /// A model behind an embeddings endpoint, by its model name.
    Remote(String),
}

/// What of `[generate]` shapes each prompt.
#[derive(Debug, Serialize)]
struct GenerateIdentity<'a> {
    source: Source,
    template: &'a Option<String>,
    sentences_per_request: Option<usize>,
    output: OutputShape,
    json_schema: bool,
    examples_per_prompt: usize,
    procedures_per_prompt: usize,
    accepted_per_prompt: usize,
    contrast: bool,
}

/// What of `[llm]` shapes each answer (the request body without the messages).
#[derive(Debug, Serialize)]
struct LlmIdentity<'a> {
    model: &'a str,
    temperature: f32,
    top_p: f32,
    max_tokens: u32,
    seed: u64,
    extra_body: BTreeMap<&'a str, &'a serde_json::Value>,
}

/// What of `[local]` can change the local server's answers.
#[derive(Debug, Serialize)]
struct LocalIdentity<'a> {
    /// The GGUF file's name, when one is configured.
    model_file: Option<String>,
    ctx_per_slot: u32,
    extra_args: &'a [String],
}

/// A path's last component (a trailing `/` ignored), or the whole path.
fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned()
}

impl<'a> RunIdentity<'a> {
    /// The identity of a run under `cfg`.
    pub fn of(cfg: &'a Config) -> Self {
        let (g, l) = (&cfg.generate, &cfg.llm);
        let model = match &cfg.embed.model {
            ModelSource::LocalDir(dir) => ModelIdentity::LocalDir(file_name(dir)),
            ModelSource::Named(name) => ModelIdentity::Named(name.clone()),
            ModelSource::Remote(r) => ModelIdentity::Remote(r.model.clone()),
        };
        Self {
            identity: IDENTITY_VERSION,
            seed: cfg.seed,
            policy: cfg.policy,
            embed: EmbedIdentity {
                model,
                max_length: cfg.embed.max_length,
            },
            cluster: &cfg.cluster,
            generate: GenerateIdentity {
                source: g.source,
                template: &g.template,
                sentences_per_request: g.sentences_per_request,
                output: g.output,
                json_schema: g.json_schema,
                examples_per_prompt: g.examples_per_prompt,
                procedures_per_prompt: g.procedures_per_prompt,
                accepted_per_prompt: g.accepted_per_prompt,
                contrast: g.contrast,
            },
            llm: LlmIdentity {
                model: &l.model,
                temperature: l.temperature,
                top_p: l.top_p,
                max_tokens: l.max_tokens,
                seed: l.seed,
                extra_body: l.extra_body.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            },
            local: LocalIdentity {
                model_file: cfg.local.model_path.as_deref().map(file_name),
                ctx_per_slot: cfg.local.ctx_per_slot,
                extra_args: &cfg.local.extra_args,
            },
            filter: &cfg.filter,
            select: &cfg.select,
            redact: &cfg.redact,
        }
    }

    /// The identity's hash as journal headers carry it (16 hex digits of a SHA-256 of its
    /// JSON form).
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&json))[..16].to_string()
    }
}

/// The journal header of a run of `cfg` over `samples`: the input rows' hash and the
/// [`RunIdentity`]'s, with the [`v1`] hashes of the same configuration accepted on resume.
pub fn journal_header(cfg: &Config, samples: &[Sample]) -> JournalHeader {
    let mut h = Sha256::new();
    for s in samples {
        for part in [&*s.text, &*s.label, s.group.as_deref().unwrap_or("")] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update([1]);
    }
    JournalHeader {
        synthcti: env!("CARGO_PKG_VERSION").to_string(),
        input: hex::encode(h.finalize())[..16].to_string(),
        config: RunIdentity::of(cfg).hash(),
        identity: IDENTITY_VERSION,
        earlier_configs: v1::config_hashes(cfg),
    }
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

    /// The identity hashes the settings that shape what is asked and kept, not pacing,
    /// limits, endpoints or where files live; version 2 of the default configuration is
    /// pinned (a change here is a new identity version).
    #[test]
    fn identity_leaves_pacing_and_places_out() {
        let d = Config::default();
        let hash = |c: &Config| journal_header(c, &[]).config;
        assert_eq!(hash(&d), "8ba3fbf22d752c70");
        let h = journal_header(&d, &[]);
        assert_eq!((h.identity, h.earlier_configs.len()), (IDENTITY_VERSION, 1));
        let mut p = d.clone();
        p.llm.concurrency = 9;
        p.llm.timeout_secs = 5.0;
        p.llm.max_retries = 0;
        p.llm.price_per_1k_prompt = Some(1.0);
        p.generate.overask = 3.0;
        p.generate.max_requests = Some(10);
        p.generate.techniques = vec!["T1059".into()];
        p.embed.batch_size = 7;
        p.embed.cache_dir = Some("/elsewhere/cache".into());
        p.local.slots = 1;
        p.local.threads = Some(1);
        p.local.model_path = Some("/opt/a/model.gguf".into());
        if let ModelSource::LocalDir(dir) = &d.embed.model {
            let name = dir.file_name().unwrap();
            p.embed.model = ModelSource::LocalDir(Path::new("/home/u/models/").join(name));
        }
        let mut q = p.clone();
        q.local.model_path = Some("/srv/b/model.gguf".into());
        assert_eq!(hash(&q), hash(&p), "the same file name elsewhere");
        p.local.model_path = None;
        assert_eq!(hash(&p), hash(&d), "pacing and places");
        type Change = fn(&mut Config);
        let changes: [(&str, Change); 8] = [
            ("seed", |c| c.seed = 1),
            ("embedding model", |c| {
                c.embed.model = ModelSource::LocalDir("/root/models/other".into())
            }),
            ("clusters", |c| c.cluster.k_max += 1),
            ("examples", |c| c.generate.examples_per_prompt += 1),
            ("temperature", |c| c.llm.temperature = 0.9),
            ("extra body", |c| {
                c.llm.extra_body.insert("top_k".into(), 5.into());
            }),
            ("filter", |c| c.filter.min_words += 1),
            ("selection", |c| {
                c.select.method = crate::config::SelectMethod::Mmr
            }),
        ];
        for (what, change) in changes {
            let mut c = d.clone();
            change(&mut c);
            assert_ne!(hash(&c), hash(&d), "{what} is identity");
        }
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
        assert_eq!(h1.earlier_configs.len(), 2);
        assert_eq!(h1.earlier_configs[0], h4.earlier_configs[0]);
        assert_ne!(h1.earlier_configs[1], h1.earlier_configs[0]);
        assert_eq!(h3.earlier_configs, h4.earlier_configs);
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
