//! [`FastEmbedder`]: fastembed + ONNX Runtime, batches sorted by token count.

use crate::error_chain;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use fastembed::{
    EmbeddingModel, InitOptionsUserDefined, Pooling, QuantizationMode, TextEmbedding,
    TextInitOptions, TokenizerFiles, UserDefinedEmbeddingModel,
};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array2, ArrayView1};
use ort::environment::Environment;
use sha2::{Digest, Sha256};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer};

use super::{EmbedConfig, EmbedError, Embedder, ModelSource, check_rows};
use crate::home::{SETUP_HINT, synthcti_home};

/// Files a local model directory must hold.
const LOCAL_MODEL_FILES: [&str; 5] = [
    "model.onnx",
    "tokenizer.json",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
];

/// Below this many sentences no progress bar is drawn.
const PROGRESS_MIN: usize = 256;

/// The process-wide ONNX Runtime environment and the library it was loaded from.
///
/// ort allows one environment per process, ever (a second `build()` fails even after the
/// first was dropped), and loads the library once; so it is created once and kept here.
static ORT_ENV: Mutex<Option<(PathBuf, Environment)>> = Mutex::new(None);

/// Loads ONNX Runtime from `lib` (first call) or returns the environment already loaded.
///
/// Uses `ort::init_from`, which returns an error where ort's lazy loading would panic
/// (missing file, not a library, version older than 1.24). A failed load leaves nothing
/// behind, so a later call with a good path still works.
fn ort_environment(lib: &Path) -> Result<Environment, EmbedError> {
    let mut slot = ORT_ENV.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((loaded, env)) = slot.as_ref() {
        if loaded != lib {
            tracing::warn!(
                loaded = %loaded.display(),
                requested = %lib.display(),
                "ONNX Runtime is already loaded in this process; keeping the loaded library"
            );
        }
        return Ok(env.clone());
    }
    if !lib.is_file() {
        return Err(EmbedError::OrtLibraryMissing {
            path: lib.to_path_buf(),
            hint: SETUP_HINT,
        });
    }
    let load_err = |cause: String| EmbedError::OrtLoad {
        path: lib.to_path_buf(),
        cause,
        hint: SETUP_HINT,
    };
    // ort resolves relative paths against the executable's directory; we mean the cwd.
    let absolute = std::path::absolute(lib).map_err(|e| load_err(e.to_string()))?;
    let env = ort::init_from(&absolute)
        .map_err(|e| load_err(e.to_string()))?
        .with_name("synthcti")
        .build()
        .map_err(|e| load_err(e.to_string()))?;
    tracing::info!(lib = %absolute.display(), "loaded ONNX Runtime");
    *slot = Some((lib.to_path_buf(), env.clone()));
    Ok(env)
}

/// Runs a sentence-embedding model with fastembed on ONNX Runtime (CPU).
///
/// Every call sorts its sentences by token count, embeds them in batches of
/// [`EmbedConfig::batch_size`] (each padded only to its own longest sentence), and returns
/// the rows in input order. Rows are L2-normalised.
pub struct FastEmbedder {
    model: TextEmbedding,
    /// The model's tokenizer without padding: true token counts for sorting.
    counter: Tokenizer,
    model_id: String,
    dim: usize,
    batch_size: usize,
    sort_by_tokens: bool,
    progress: bool,
}

impl FastEmbedder {
    /// Loads the model named by `cfg.model` (and, the first time in the process, the ONNX
    /// Runtime library of [`EmbedConfig::ort_lib_path`]).
    ///
    /// A missing library or model file gives an error naming the file and the setup command.
    pub fn new(cfg: &EmbedConfig) -> Result<Self, EmbedError> {
        if cfg.batch_size == 0 {
            return Err(EmbedError::InvalidConfig(
                "batch_size must be at least 1".into(),
            ));
        }
        if cfg.max_length < 2 {
            return Err(EmbedError::InvalidConfig(
                "max_length must be at least 2 tokens".into(),
            ));
        }
        let start = Instant::now();
        let (mut model, model_id) = match &cfg.model {
            ModelSource::LocalDir(dir) => load_local(dir, cfg)?,
            ModelSource::Named(name) => load_named(name, cfg)?,
            ModelSource::Remote(remote) => {
                return Err(EmbedError::InvalidConfig(format!(
                    "model `{}` is served remotely: open it with open_embedder or RemoteEmbedder",
                    remote.model
                )));
            }
        };
        ensure_batch_longest(&mut model.tokenizer);
        let mut counter = model.tokenizer.clone();
        counter.with_padding(None);

        let mut embedder = FastEmbedder {
            model,
            counter,
            model_id,
            dim: 0,
            batch_size: cfg.batch_size,
            sort_by_tokens: cfg.sort_by_tokens,
            progress: cfg.progress,
        };
        // The dimension is whatever the model really returns.
        let probe = embedder
            .model
            .embed(["dimension probe"], None)
            .map_err(|source| EmbedError::Model {
                model: embedder.model_id.clone(),
                source,
            })?;
        embedder.dim = probe.first().map_or(0, Vec::len);
        if embedder.dim == 0 {
            return Err(EmbedError::BadOutput {
                model: embedder.model_id.clone(),
                reason: "empty vector".into(),
            });
        }
        tracing::info!(
            model = %embedder.model_id,
            dim = embedder.dim,
            secs = start.elapsed().as_secs_f64(),
            "loaded embedding model"
        );
        Ok(embedder)
    }

    /// The sequence length the model is fed when `texts` form one batch: the longest
    /// member's token count (truncated to `max_length`), not a fixed pad length.
    pub fn padded_len(&self, texts: &[&str]) -> Result<usize, EmbedError> {
        let encodings = self
            .model
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| self.tokenizer_error(e))?;
        Ok(encodings.first().map_or(0, |e| e.len()))
    }

    /// Token count of each text (with special tokens, truncated to `max_length`).
    fn token_counts(&self, texts: &[&str]) -> Result<Vec<usize>, EmbedError> {
        let encodings = self
            .counter
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| self.tokenizer_error(e))?;
        Ok(encodings.iter().map(|e| e.len()).collect())
    }

    fn tokenizer_error(&self, e: impl std::fmt::Display) -> EmbedError {
        EmbedError::Tokenizer {
            model: self.model_id.clone(),
            cause: e.to_string(),
        }
    }
}

impl Embedder for FastEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
        let n = texts.len();
        let mut out = Array2::<f32>::zeros((n, self.dim));
        if n == 0 {
            return Ok(out);
        }
        let start = Instant::now();
        let lengths = self.token_counts(texts)?;
        let batches = if self.sort_by_tokens {
            length_sorted_batches(&lengths, self.batch_size)
        } else {
            input_order_batches(n, self.batch_size)
        };
        let bar = progress_bar(n, self.progress);
        for batch in &batches {
            let chunk: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            let rows = self
                .model
                .embed(&chunk, Some(chunk.len()))
                .map_err(|source| EmbedError::Model {
                    model: self.model_id.clone(),
                    source,
                })?;
            check_rows(&self.model_id, &rows, chunk.len(), self.dim)?;
            for (&i, row) in batch.iter().zip(&rows) {
                out.row_mut(i).assign(&ArrayView1::from(row.as_slice()));
            }
            bar.inc(batch.len() as u64);
        }
        bar.finish_and_clear();
        let secs = start.elapsed().as_secs_f64();
        let (tokens, padded) = padding_cost(&lengths, &batches);
        // Large batches (the dataset, the avoid set) at info; the per-answer batches of the
        // streaming LLM stage only at debug, so they do not flood the log.
        macro_rules! embedded {
            ($level:ident) => {
                tracing::$level!(
                    model = %self.model_id,
                    sentences = n,
                    secs,
                    per_sec = n as f64 / secs.max(1e-9),
                    tokens,
                    padded_tokens = padded,
                    "embedded"
                )
            };
        }
        if n > 256 {
            embedded!(info);
        } else {
            embedded!(debug);
        }
        Ok(out)
    }
}

/// Loads a sentence-transformers export from `dir`.
fn load_local(dir: &Path, cfg: &EmbedConfig) -> Result<(TextEmbedding, String), EmbedError> {
    // Check every file before loading anything, so the error names the first missing one.
    for file in LOCAL_MODEL_FILES {
        let path = dir.join(file);
        if !path.is_file() {
            return Err(EmbedError::ModelFileMissing {
                path,
                hint: SETUP_HINT,
            });
        }
    }
    let read = |file: &str| {
        let path = dir.join(file);
        std::fs::read(&path).map_err(|source| EmbedError::Read { path, source })
    };
    let onnx = read("model.onnx")?;
    let tokenizer_file = read("tokenizer.json")?;
    let files = TokenizerFiles {
        tokenizer_file: tokenizer_file.clone(),
        config_file: read("config.json")?,
        special_tokens_map_file: read("special_tokens_map.json")?,
        tokenizer_config_file: read("tokenizer_config.json")?,
    };
    let pooling = local_pooling(dir)?;

    // The id names the weights and tokenizer actually used, so a swapped model never
    // reads another model's cached vectors.
    let mut hasher = Sha256::new();
    hasher.update(&onnx);
    hasher.update(&tokenizer_file);
    let digest = hex::encode(hasher.finalize());
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_string());
    let model_id = format!("{name}.{}.max{}", &digest[..12], cfg.max_length);

    let env = ort_environment(&cfg.ort_lib_path())?;
    let user_model = UserDefinedEmbeddingModel::new(onnx, files).with_pooling(pooling);
    let options = InitOptionsUserDefined::new()
        .with_environment(env)
        .with_max_length(cfg.max_length);
    let model =
        TextEmbedding::try_new_from_user_defined(user_model, options).map_err(|source| {
            EmbedError::Model {
                model: model_id.clone(),
                source,
            }
        })?;
    Ok((model, model_id))
}

/// Mean pooling, unless the sentence-transformers `1_Pooling/config.json` asks for CLS.
fn local_pooling(dir: &Path) -> Result<Pooling, EmbedError> {
    let path = dir.join("1_Pooling").join("config.json");
    if !path.is_file() {
        return Ok(Pooling::Mean);
    }
    let bytes = std::fs::read(&path).map_err(|source| EmbedError::Read {
        path: path.clone(),
        source,
    })?;
    let config: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| EmbedError::Read {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
    if config["pooling_mode_cls_token"].as_bool() == Some(true) {
        Ok(Pooling::Cls)
    } else {
        Ok(Pooling::Mean)
    }
}

/// Loads a fastembed model by name from the Hugging Face hub (or its local hub cache).
fn load_named(name: &str, cfg: &EmbedConfig) -> Result<(TextEmbedding, String), EmbedError> {
    let model = resolve_named(name)?;
    let info = TextEmbedding::get_model_info(&model).map_err(|source| EmbedError::Model {
        model: name.to_string(),
        source,
    })?;
    let model_code = info.model_code.clone();
    let model_id = format!("{model_code}.max{}", cfg.max_length);
    if TextEmbedding::get_quantization_mode(&model) == QuantizationMode::Dynamic {
        tracing::warn!(
            model = %model_id,
            "dynamically quantised model: vectors depend on batch composition, cached vectors may differ slightly from fresh ones"
        );
    }
    let env = ort_environment(&cfg.ort_lib_path())?;
    let cache_dir = std::env::var_os("HF_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| synthcti_home().join("models").join("hub"));
    let options = TextInitOptions::new(model)
        .with_environment(env)
        .with_max_length(cfg.max_length)
        .with_cache_dir(cache_dir.clone())
        .with_show_download_progress(cfg.progress);
    let model = TextEmbedding::try_new(options).map_err(|e| EmbedError::Hub {
        model: format!("{name} ({model_code})"),
        cache_dir,
        cause: error_chain(&e),
    })?;
    Ok((model, model_id))
}

/// Finds a fastembed model by enum name (`BGESmallENV15`) or Hugging Face repo, either
/// fastembed's ONNX repo (`Xenova/bge-small-en-v1.5`) or the original one
/// (`BAAI/bge-small-en-v1.5`: same repo name, `-onnx`/`-onnx-Q` suffixes ignored);
/// case-insensitive. Ties go to an exact repo match, then to an unquantised model.
fn resolve_named(name: &str) -> Result<EmbeddingModel, EmbedError> {
    if let Ok(model) = name.parse::<EmbeddingModel>() {
        return Ok(model);
    }
    let wanted = repo_name(name);
    let mut matches: Vec<(bool, bool, String, EmbeddingModel)> =
        TextEmbedding::list_supported_models()
            .into_iter()
            .filter(|info| repo_name(&info.model_code) == wanted)
            .map(|info| {
                (
                    !info.model_code.eq_ignore_ascii_case(name),
                    TextEmbedding::get_quantization_mode(&info.model) != QuantizationMode::None,
                    info.model.to_string(),
                    info.model,
                )
            })
            .collect();
    matches.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
    if let Some((_, _, _, model)) = matches.into_iter().next() {
        tracing::info!(requested = name, resolved = %model, "named embedding model");
        return Ok(model);
    }
    let mut known: Vec<String> = TextEmbedding::list_supported_models()
        .into_iter()
        .map(|info| format!("{} ({})", info.model, info.model_code))
        .collect();
    known.sort();
    Err(EmbedError::UnknownModel {
        name: name.to_string(),
        known: known.join(", "),
    })
}

/// The repository part of a Hugging Face id, lower-case, without `-onnx`/`-onnx-q`.
fn repo_name(id: &str) -> String {
    let tail = id.rsplit('/').next().unwrap_or(id).to_ascii_lowercase();
    for suffix in ["-onnx-q", "-onnx"] {
        if let Some(stripped) = tail.strip_suffix(suffix) {
            return stripped.to_string();
        }
    }
    tail
}

/// Makes `tokenizer` pad each batch to its longest member.
///
/// sentence-transformers' `tokenizer.json` asks for fixed padding to 128 tokens (about 8×
/// a typical CTI sentence). fastembed 7.7.0 already replaces that with `BatchLongest` when
/// it loads the tokenizer; this keeps it so whatever fastembed does, and drops any
/// `pad_to_multiple_of`.
fn ensure_batch_longest(tokenizer: &mut Tokenizer) {
    let mut params: PaddingParams = tokenizer.get_padding().cloned().unwrap_or_default();
    params.strategy = PaddingStrategy::BatchLongest;
    params.pad_to_multiple_of = None;
    tokenizer.with_padding(Some(params));
}

/// Indices of the sentences, sorted by token count (ties in input order), cut into batches.
fn length_sorted_batches(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// Indices in input order, cut into batches.
fn input_order_batches(n: usize, batch_size: usize) -> Vec<Vec<usize>> {
    let order: Vec<usize> = (0..n).collect();
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// (real tokens, tokens fed to the model) when each batch is padded to its longest member.
fn padding_cost(lengths: &[usize], batches: &[Vec<usize>]) -> (usize, usize) {
    let real = batches.iter().flatten().map(|&i| lengths[i]).sum();
    let padded = batches
        .iter()
        .map(|b| b.len() * b.iter().map(|&i| lengths[i]).max().unwrap_or(0))
        .sum();
    (real, padded)
}

fn progress_bar(n: usize, show: bool) -> ProgressBar {
    if !show || n <= PROGRESS_MIN {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(n as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "embedding {bar:40} {pos}/{len} sentences ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A word-level tokenizer whose JSON pads every input to 16 tokens, like the shipped
    /// all-MiniLM-L6-v2 `tokenizer.json` pads to 128.
    fn fixed_padding_tokenizer() -> Tokenizer {
        let json = br#"{
            "version": "1.0",
            "truncation": null,
            "padding": {"strategy": {"Fixed": 16}, "direction": "Right",
                        "pad_to_multiple_of": null, "pad_id": 1, "pad_type_id": 0,
                        "pad_token": "[PAD]"},
            "added_tokens": [],
            "normalizer": null,
            "pre_tokenizer": {"type": "Whitespace"},
            "post_processor": null,
            "decoder": null,
            "model": {"type": "WordLevel", "unk_token": "[UNK]",
                      "vocab": {"[UNK]": 0, "[PAD]": 1, "a": 2, "b": 3}}
        }"#;
        Tokenizer::from_bytes(json).expect("test tokenizer")
    }

    #[test]
    fn batch_longest_replaces_fixed_padding() {
        let mut tok = fixed_padding_tokenizer();
        let lens = |tok: &Tokenizer| -> Vec<usize> {
            tok.encode_batch(vec!["a", "a b a"], true)
                .expect("encode")
                .iter()
                .map(|e| e.len())
                .collect()
        };
        assert_eq!(lens(&tok), vec![16, 16]);
        ensure_batch_longest(&mut tok);
        assert_eq!(lens(&tok), vec![3, 3]);
        let params = tok.get_padding().expect("padding");
        assert_eq!(params.pad_id, 1, "pad token of the file is kept");
        assert_eq!(params.pad_token, "[PAD]");
    }

    #[test]
    fn sorted_batches_group_similar_lengths_and_cover_every_index_once() {
        let lengths = [5, 40, 7, 5, 90, 12, 40];
        let batches = length_sorted_batches(&lengths, 3);
        assert_eq!(batches, vec![vec![0, 3, 2], vec![5, 1, 6], vec![4]]);
        let mut all: Vec<usize> = batches.concat();
        all.sort_unstable();
        assert_eq!(all, (0..lengths.len()).collect::<Vec<_>>());

        let unsorted = input_order_batches(lengths.len(), 3);
        assert_eq!(unsorted, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        // Padding to each batch's longest: sorting feeds far fewer tokens.
        let (real, sorted_cost) = padding_cost(&lengths, &batches);
        let (real2, unsorted_cost) = padding_cost(&lengths, &unsorted);
        assert_eq!(real, 199);
        assert_eq!(real2, 199);
        assert_eq!(sorted_cost, 3 * 7 + 3 * 40 + 90);
        assert_eq!(unsorted_cost, 3 * 40 + 3 * 90 + 40);
        assert!(sorted_cost < unsorted_cost);
    }

    #[test]
    fn batches_of_nothing_and_batch_size_larger_than_input() {
        assert!(length_sorted_batches(&[], 32).is_empty());
        assert_eq!(length_sorted_batches(&[3, 1], 32), vec![vec![1, 0]]);
        assert!(input_order_batches(0, 32).is_empty());
    }

    #[test]
    fn named_models_resolve_by_enum_name_or_hub_code() {
        let resolve = |n: &str| resolve_named(n).expect(n);
        assert_eq!(
            resolve("BAAI/bge-small-en-v1.5"),
            EmbeddingModel::BGESmallENV15
        );
        assert_eq!(
            resolve("Xenova/bge-small-en-v1.5"),
            EmbeddingModel::BGESmallENV15
        );
        assert_eq!(
            resolve("Qdrant/bge-small-en-v1.5-onnx-Q"),
            EmbeddingModel::BGESmallENV15Q
        );
        assert_eq!(resolve("bgesmallenv15"), EmbeddingModel::BGESmallENV15);
        assert_eq!(
            resolve("sentence-transformers/all-MiniLM-L6-v2"),
            EmbeddingModel::AllMiniLML6V2
        );
        let err = resolve_named("no/such-model").expect_err("unknown");
        let msg = err.to_string();
        assert!(
            msg.contains("no/such-model") && msg.contains("BGESmallENV15"),
            "{msg}"
        );
    }

    #[test]
    fn missing_local_file_is_named_with_the_setup_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("model.onnx"), b"x").expect("write");
        let cfg = EmbedConfig {
            model: ModelSource::LocalDir(dir.path().to_path_buf()),
            ..EmbedConfig::default()
        };
        let err = load_local(dir.path(), &cfg).err().expect("must fail");
        let msg = err.to_string();
        assert!(msg.contains("tokenizer.json"), "{msg}");
        assert!(msg.contains("scripts/setup.sh"), "{msg}");
    }
}
