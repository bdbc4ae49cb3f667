//! Sentence embeddings: sentences in, L2-normalised row vectors out.
//!
//! The default model is sentence-transformers `all-MiniLM-L6-v2` (384-d, mean pooling) read
//! from a local directory (`$SYNTHCTI_HOME/models/all-MiniLM-L6-v2`) and run by ONNX Runtime
//! through [fastembed]; nothing touches the network unless a user names a Hugging Face model
//! ([`ModelSource::Named`]) or a remote endpoint ([`ModelSource::Remote`]).
//!
//! * [`FastEmbedder`] runs the model. Sentences are sorted by token count, cut into batches
//!   of [`EmbedConfig::batch_size`], each batch padded only to its own longest sentence, and
//!   the rows are put back in input order.
//! * [`RemoteEmbedder`] asks an OpenAI-compatible `/v1/embeddings` endpoint
//!   (text-embeddings-inference, vLLM, OpenAI) instead: batches in flight concurrently,
//!   retries with backoff, rows checked and L2-normalised.
//! * [`CachedEmbedder`] wraps any [`Embedder`] with an on-disk cache keyed by (model id,
//!   sha256 of the text), so a second run over the same data embeds nothing again.
//! * [`open_embedder`] is the one call the pipeline makes: a cached [`FastEmbedder`] or
//!   [`RemoteEmbedder`].

mod cache;
mod fast;
mod remote;
mod service;

use std::path::PathBuf;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

pub use cache::{CacheStats, CachedEmbedder};
pub use fast::FastEmbedder;
pub use remote::{
    DEFAULT_API_KEY_ENV, MAX_REMOTE_BATCH, MAX_REMOTE_CONCURRENCY, MAX_REMOTE_DIM,
    MAX_REMOTE_RETRIES, MAX_REMOTE_TIMEOUT_SECS, RemoteConfig, RemoteEmbedder, RemoteError,
};
pub use service::EmbedService;

use crate::home::synthcti_home;
use crate::setting::SettingError;

/// Directory name of the default model under `$SYNTHCTI_HOME/models`.
pub const DEFAULT_MODEL_DIR: &str = "all-MiniLM-L6-v2";

/// Anything that turns sentences into L2-normalised row vectors.
pub trait Embedder: Send {
    /// Identifies the vectors this embedder produces (model, weights, truncation length);
    /// the on-disk cache is keyed by it.
    fn model_id(&self) -> &str;

    /// Length of every vector.
    fn dim(&self) -> usize;

    /// Embeds `texts`: one L2-normalised row per text, rows in input order.
    fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError>;

    /// Cumulative cache hits and misses, when this embedder has a cache.
    fn cache_stats(&self) -> Option<CacheStats> {
        None
    }
}

impl<E: Embedder + ?Sized> Embedder for Box<E> {
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
        (**self).embed(texts)
    }
    fn cache_stats(&self) -> Option<CacheStats> {
        (**self).cache_stats()
    }
}

impl<E: Embedder + ?Sized> Embedder for &mut E {
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
        (**self).embed(texts)
    }
    fn cache_stats(&self) -> Option<CacheStats> {
        (**self).cache_stats()
    }
}

/// Where the embedding model comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSource {
    /// A directory holding `model.onnx`, `tokenizer.json`, `config.json`,
    /// `special_tokens_map.json` and `tokenizer_config.json` (a sentence-transformers export).
    /// Mean pooling unless `1_Pooling/config.json` asks for the CLS token.
    LocalDir(PathBuf),
    /// A fastembed model, by its `EmbeddingModel` name (`BGESmallENV15`) or Hugging Face
    /// code (`BAAI/bge-small-en-v1.5`); downloaded on first use into
    /// `$SYNTHCTI_HOME/models/hub` (or `$HF_HOME`). Needs internet the first time.
    Named(String),
    /// A model served by an OpenAI-compatible `/v1/embeddings` endpoint
    /// (`model = { remote = { base_url = "http://host:8080/v1", model = "BAAI/bge-small-en-v1.5" } }`),
    /// run by [`RemoteEmbedder`]; its vectors are cached as `remote:<model>`.
    Remote(RemoteConfig),
}

impl ModelSource {
    /// Checks the settings of a [`ModelSource::Remote`] (the error names the field, e.g.
    /// `embed.model.remote.batch_size`); the local forms are checked when they are loaded.
    pub fn check(&self) -> Result<(), EmbedError> {
        match self {
            ModelSource::Remote(remote) => remote.check().map(drop),
            ModelSource::LocalDir(_) | ModelSource::Named(_) => Ok(()),
        }
    }
}

impl Default for ModelSource {
    fn default() -> Self {
        ModelSource::LocalDir(synthcti_home().join("models").join(DEFAULT_MODEL_DIR))
    }
}

/// Settings of the embedding stage (recorded in run reports, read from TOML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// The model to run.
    pub model: ModelSource,
    /// The ONNX Runtime shared library; `None`: `$ORT_DYLIB_PATH`, else
    /// `$SYNTHCTI_HOME/onnxruntime/libonnxruntime.so`.
    pub ort_lib: Option<PathBuf>,
    /// Sentences per model call (32).
    pub batch_size: usize,
    /// Longest input in tokens; longer sentences are truncated (256, as sentence-transformers).
    pub max_length: usize,
    /// Sort sentences by token count before batching (true). Turn off only to measure.
    pub sort_by_tokens: bool,
    /// Keep vectors in the on-disk cache (true).
    pub cache: bool,
    /// Cache directory; `None`: `$SYNTHCTI_HOME/cache/embeddings`.
    pub cache_dir: Option<PathBuf>,
    /// Show a progress bar when embedding more than a few hundred sentences (true).
    pub progress: bool,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        EmbedConfig {
            model: ModelSource::default(),
            ort_lib: None,
            batch_size: 32,
            max_length: 256,
            sort_by_tokens: true,
            cache: true,
            cache_dir: None,
            progress: true,
        }
    }
}

impl EmbedConfig {
    /// The ONNX Runtime library to load: [`EmbedConfig::ort_lib`], else `$ORT_DYLIB_PATH`,
    /// else `$SYNTHCTI_HOME/onnxruntime/libonnxruntime.so`.
    pub fn ort_lib_path(&self) -> PathBuf {
        if let Some(path) = &self.ort_lib {
            return path.clone();
        }
        if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
            return PathBuf::from(path);
        }
        synthcti_home()
            .join("onnxruntime")
            .join("libonnxruntime.so")
    }

    /// The cache directory: [`EmbedConfig::cache_dir`], else `$SYNTHCTI_HOME/cache/embeddings`.
    pub fn cache_dir_path(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| synthcti_home().join("cache").join("embeddings"))
    }
}

/// Why embedding failed.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The ONNX Runtime shared library is not where it was looked for.
    #[error("ONNX Runtime library not found at {}: {hint}", path.display())]
    OrtLibraryMissing {
        /// Where it was looked for.
        path: PathBuf,
        /// How to install it.
        hint: &'static str,
    },
    /// The ONNX Runtime library exists but could not be loaded (not a library, too old, ...).
    #[error("cannot load ONNX Runtime from {}: {cause} ({hint})", path.display())]
    OrtLoad {
        /// The library file.
        path: PathBuf,
        /// What ONNX Runtime / the loader said.
        cause: String,
        /// How to install a working one.
        hint: &'static str,
    },
    /// A file of a local model directory is missing.
    #[error("embedding model file not found: {}: {hint}", path.display())]
    ModelFileMissing {
        /// The missing file.
        path: PathBuf,
        /// How to install it.
        hint: &'static str,
    },
    /// A model name that fastembed does not know.
    #[error("unknown embedding model `{name}`; known models include: {known}")]
    UnknownModel {
        /// The name given.
        name: String,
        /// Some names that work.
        known: String,
    },
    /// Reading a file failed.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// fastembed / ONNX Runtime failed to load or run the model.
    #[error("embedding model `{model}`")]
    Model {
        /// The model id or name.
        model: String,
        /// fastembed's error.
        source: fastembed::Error,
    },
    /// A named model could not be fetched from the Hugging Face hub or loaded.
    #[error(
        "embedding model `{model}`: {cause} (named models are downloaded from the Hugging Face hub on first use, which needs internet; hub cache: {})",
        cache_dir.display()
    )]
    Hub {
        /// The model asked for and the hub repository it resolved to.
        model: String,
        /// The hub cache directory.
        cache_dir: PathBuf,
        /// fastembed's error with its causes.
        cause: String,
    },
    /// The tokenizer failed.
    #[error("tokenizer of `{model}`: {cause}")]
    Tokenizer {
        /// The model id.
        model: String,
        /// The tokenizer's message.
        cause: String,
    },
    /// The model returned vectors of an unexpected shape or with non-finite values.
    #[error("embedding model `{model}` returned a bad vector: {reason}")]
    BadOutput {
        /// The model id.
        model: String,
        /// What was wrong.
        reason: String,
    },
    /// Reading or writing the cache file failed.
    #[error("embedding cache {}", path.display())]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The cache file is not a cache of this model.
    #[error("embedding cache {} is unusable: {reason} (delete it to start afresh)", path.display())]
    CacheFormat {
        /// The cache file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A setting is outside the values it accepts.
    #[error("invalid embedding setting: {0}")]
    Setting(SettingError),
    /// A setting that no range describes (an unusable URL or model name), or the embedder
    /// cannot be set up with it.
    #[error("invalid embedding setting: {0}")]
    InvalidConfig(String),
    /// A remote embedding endpoint failed or sent an unusable answer.
    #[error("embedding endpoint {endpoint} (model `{model}`)")]
    Remote {
        /// The endpoint's base URL, redacted (no credentials or query).
        endpoint: String,
        /// The model name sent.
        model: String,
        /// What went wrong.
        source: RemoteError,
    },
}

impl From<SettingError> for EmbedError {
    fn from(e: SettingError) -> Self {
        EmbedError::Setting(e)
    }
}

/// Opens the embedder the pipeline uses: a [`FastEmbedder`] for `cfg.model` (a
/// [`RemoteEmbedder`] for [`ModelSource::Remote`]), wrapped in a [`CachedEmbedder`] in
/// [`EmbedConfig::cache_dir_path`] unless `cfg.cache` is false.
///
/// A remote model's vector length is its `dim` setting, else the length recorded in its
/// cache file, else learned from one probe request made here; so the returned embedder
/// always knows its [`Embedder::dim`].
pub fn open_embedder(cfg: &EmbedConfig) -> Result<Box<dyn Embedder>, EmbedError> {
    if let ModelSource::Remote(remote) = &cfg.model {
        return open_remote(remote, cfg);
    }
    let fast = FastEmbedder::new(cfg)?;
    if cfg.cache {
        Ok(Box::new(CachedEmbedder::new(fast, &cfg.cache_dir_path())?))
    } else {
        Ok(Box::new(fast))
    }
}

/// [`open_embedder`] for a remote model.
fn open_remote(remote: &RemoteConfig, cfg: &EmbedConfig) -> Result<Box<dyn Embedder>, EmbedError> {
    let mut embedder = RemoteEmbedder::new(remote)?;
    if !cfg.cache {
        embedder.learn_dim()?;
        return Ok(Box::new(embedder));
    }
    let dir = cfg.cache_dir_path();
    match remote::cached_dim(&dir, embedder.model_id()) {
        Some(dim) if remote.dim.is_none() => embedder.assume_dim(dim),
        _ => {
            embedder.learn_dim()?;
        }
    }
    Ok(Box::new(CachedEmbedder::new(embedder, &dir)?))
}

/// Checks that `rows` has `n` rows of length `dim`, all finite.
fn check_rows(model: &str, rows: &[Vec<f32>], n: usize, dim: usize) -> Result<(), EmbedError> {
    let bad = |reason: String| EmbedError::BadOutput {
        model: model.to_string(),
        reason,
    };
    if rows.len() != n {
        return Err(bad(format!("{} vectors for {n} sentences", rows.len())));
    }
    for row in rows {
        if row.len() != dim {
            return Err(bad(format!("length {} instead of {dim}", row.len())));
        }
        if row.iter().any(|x| !x.is_finite()) {
            return Err(bad("non-finite value".to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_through_toml_with_defaults() {
        let cfg: EmbedConfig = toml::from_str("batch_size = 16\n").expect("parse");
        assert_eq!(cfg.batch_size, 16);
        assert_eq!(cfg.max_length, 256);
        assert!(cfg.cache && cfg.progress && cfg.sort_by_tokens);
        assert_eq!(cfg.model, ModelSource::default());

        let named: EmbedConfig =
            toml::from_str("model = { named = \"BAAI/bge-small-en-v1.5\" }\n").expect("parse");
        assert_eq!(
            named.model,
            ModelSource::Named("BAAI/bge-small-en-v1.5".into())
        );
        let text = toml::to_string(&named).expect("serialize");
        let back: EmbedConfig = toml::from_str(&text).expect("reparse");
        assert_eq!(back, named);
    }

    #[test]
    fn existing_model_forms_serialise_as_before() {
        // Pinned from the serialisation before `remote` existed (journal and config hashes
        // depend on it).
        let tail = "batch_size = 32\nmax_length = 256\nsort_by_tokens = true\ncache = true\n\
                    progress = true\n\n[model]\n";
        for (model, line) in [
            (
                ModelSource::Named("BAAI/bge-small-en-v1.5".into()),
                "named = \"BAAI/bge-small-en-v1.5\"\n",
            ),
            (
                ModelSource::LocalDir("/m/x".into()),
                "local_dir = \"/m/x\"\n",
            ),
        ] {
            let cfg = EmbedConfig {
                model,
                ..EmbedConfig::default()
            };
            let want = format!("{tail}{line}");
            assert_eq!(toml::to_string_pretty(&cfg).unwrap(), want);
            assert_eq!(toml::to_string(&cfg).unwrap(), want);
            assert!(cfg.model.check().is_ok());
        }
    }

    #[test]
    fn remote_model_parses_with_defaults_and_round_trips() {
        let text = "model = { remote = { base_url = \"http://host:8080/v1\", \
                    model = \"BAAI/bge-small-en-v1.5\" } }\n";
        let cfg: EmbedConfig = toml::from_str(text).expect("parse");
        let want = RemoteConfig::new("http://host:8080/v1", "BAAI/bge-small-en-v1.5");
        assert_eq!(cfg.model, ModelSource::Remote(want.clone()));
        assert_eq!(
            (want.api_key_env.as_str(), want.batch_size, want.concurrency),
            ("OPENAI_API_KEY", 64, 4)
        );
        assert_eq!(
            (want.timeout_secs, want.max_retries, want.dim),
            (60, 3, None)
        );
        assert!(cfg.model.check().is_ok());
        for shown in [toml::to_string(&cfg), toml::to_string_pretty(&cfg)] {
            let back: EmbedConfig = toml::from_str(&shown.expect("serialise")).expect("reparse");
            assert_eq!(back, cfg);
        }

        let full = "[model.remote]\nbase_url = \"https://e.example/v1\"\nmodel = \"m\"\n\
                    api_key_env = \"MY_KEY\"\nbatch_size = 8\nconcurrency = 2\n\
                    timeout_secs = 5\nmax_retries = 0\ndim = 384\n";
        let cfg: EmbedConfig = toml::from_str(full).expect("parse all fields");
        let ModelSource::Remote(r) = &cfg.model else {
            panic!("{:?}", cfg.model)
        };
        assert_eq!((r.batch_size, r.concurrency, r.dim), (8, 2, Some(384)));
        let back: EmbedConfig = toml::from_str(&toml::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(back, cfg);

        let unknown =
            "[model.remote]\nbase_url = \"http://h/v1\"\nmodel = \"m\"\napi_key = \"sk\"\n";
        let err = toml::from_str::<EmbedConfig>(unknown)
            .unwrap_err()
            .to_string();
        assert!(err.contains("api_key"), "{err}");
        let bad: EmbedConfig = toml::from_str(
            "[model.remote]\nbase_url = \"http://h/v1\"\nmodel = \"m\"\nconcurrency = 0\n",
        )
        .unwrap();
        let err = bad.model.check().unwrap_err().to_string();
        assert!(err.contains("embed.model.remote.concurrency"), "{err}");
    }

    #[test]
    fn check_rows_rejects_bad_shapes() {
        assert!(check_rows("m", &[vec![1.0, 0.0]], 1, 2).is_ok());
        assert!(check_rows("m", &[vec![1.0, 0.0]], 2, 2).is_err());
        assert!(check_rows("m", &[vec![1.0]], 1, 2).is_err());
        assert!(check_rows("m", &[vec![f32::NAN, 0.0]], 1, 2).is_err());
    }
}
