//! Run configuration: a TOML file (`--config synthcti.toml`) plus CLI flags on top. The
//! resolved configuration is recorded in every run's report.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cluster::ClusterParams;
use crate::data::ReadOptions;
use crate::desensitize::RedactConfig;
use crate::embed::{EmbedConfig, EmbedError};
use crate::fileio::{FileProblem, read_regular};
use crate::filter::FilterParams;
use crate::llm::{LlmConfig, LlmError, LocalServerConfig};
pub use crate::llm::{MAX_TIMEOUT_SECS, MIN_TIMEOUT_SECS};
use crate::setting::{SettingError, check_range};
use crate::stats::UnderPolicy;
pub use crate::target::Target;

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{path}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8.
    #[error("{path}: line {line}, column {column}: invalid UTF-8")]
    Utf8 {
        /// The file.
        path: String,
        /// 1-based line of the first invalid byte.
        line: u64,
        /// 1-based column (in characters) of the first invalid byte.
        column: u64,
    },
    /// The TOML is invalid or has unknown keys.
    #[error("{path}")]
    Toml {
        /// The file.
        path: String,
        /// toml's message (with line and column).
        #[source]
        source: toml::de::Error,
    },
    /// The path is not a regular file or is too large.
    #[error("{path}: {problem}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        problem: FileProblem,
    },
    /// A setting is outside the values it accepts.
    #[error("invalid configuration: {0}")]
    Setting(SettingError),
    /// An `[llm]` setting that no range describes: an unusable URL, settings that conflict
    /// (`llm.base_url` and `[[llm.endpoints]]` both set), a reserved `llm.extra_body` field.
    #[error("invalid configuration: {0}")]
    Llm(LlmError),
    /// An `embed.model.remote` setting that no range describes: the URL, the model name.
    #[error("invalid configuration: {0}")]
    Embed(EmbedError),
}

impl From<SettingError> for ConfigError {
    fn from(e: SettingError) -> Self {
        ConfigError::Setting(e)
    }
}

impl From<LlmError> for ConfigError {
    /// Range violations become [`ConfigError::Setting`], the rest [`ConfigError::Llm`].
    fn from(e: LlmError) -> Self {
        match e {
            LlmError::Setting(e) => ConfigError::Setting(e),
            e => ConfigError::Llm(e),
        }
    }
}

impl From<EmbedError> for ConfigError {
    /// Range violations become [`ConfigError::Setting`], the rest [`ConfigError::Embed`].
    fn from(e: EmbedError) -> Self {
        match e {
            EmbedError::Setting(e) => ConfigError::Setting(e),
            e => ConfigError::Embed(e),
        }
    }
}

/// Largest configuration file read, in bytes.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Largest `generate.overask` and `generate.max_requests_factor`.
pub const MAX_FACTOR: f64 = 100.0;

/// Most sentences per request, examples, procedures or accepted sentences per prompt.
pub const MAX_PER_PROMPT: usize = 256;

/// Largest `embed.batch_size`.
const MAX_EMBED_BATCH: usize = 4096;

/// Largest `embed.max_length`.
const MAX_EMBED_LENGTH: usize = 8192;

/// Where new rows come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Only LLM-written sentences.
    Llm,
    /// Only real ATT&CK procedure examples.
    Procedures,
    /// Procedure examples first, the LLM fills the rest.
    #[default]
    Both,
    /// The LLM rewrites the technique's ATT&CK procedure examples (nearest the cluster
    /// first) into the style of the cluster's sentences: other names, the same behaviour.
    /// Clusters of a technique without procedure examples get plain LLM sentences.
    Rewrite,
    /// Procedure examples first, then LLM rewrites of them, then plain LLM sentences where a
    /// technique has no procedure examples: `both` with `rewrite` as its LLM stage.
    BothRewrite,
}

impl Source {
    /// Whether the LLM is used.
    pub fn uses_llm(self) -> bool {
        matches!(
            self,
            Source::Llm | Source::Both | Source::Rewrite | Source::BothRewrite
        )
    }
    /// Whether procedure examples are added as rows.
    pub fn uses_procedures(self) -> bool {
        matches!(
            self,
            Source::Procedures | Source::Both | Source::BothRewrite
        )
    }
    /// Whether LLM requests rewrite procedure examples.
    pub fn rewrites(self) -> bool {
        matches!(self, Source::Rewrite | Source::BothRewrite)
    }
}

impl TryFrom<String> for UnderPolicy {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<UnderPolicy> for String {
    fn from(p: UnderPolicy) -> String {
        p.to_string()
    }
}

/// The answer shape a template asks for (templates read it as `output`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputShape {
    /// A JSON array of strings.
    #[default]
    Json,
    /// One sentence per line.
    Lines,
}

/// Generation knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerateConfig {
    /// Where new rows come from.
    pub source: Source,
    /// How many rows to add.
    pub target: Target,
    /// Only these techniques (empty: every under-represented one).
    pub techniques: Vec<String>,
    /// Prompt template name or path; default `local-one` for the local model, `remote-json`
    /// for a remote endpoint.
    pub template: Option<String>,
    /// Sentences asked per request; default 1 for the local model, 5 for a remote endpoint.
    pub sentences_per_request: Option<usize>,
    /// The answer shape asked for when several sentences are requested.
    pub output: OutputShape,
    /// With `output = "json"`, also send a JSON schema (`response_format`) that forces an
    /// array of exactly n strings (OpenAI, vLLM and llama-server support it).
    pub json_schema: bool,
    /// Ask for this many times the missing rows in a round, to cover rejects.
    pub overask: f64,
    /// Attempt budget: at most this many times the needed requests per cluster.
    pub max_requests_factor: f64,
    /// Few-shot examples per request (rotated over the cluster's sentences).
    pub examples_per_prompt: usize,
    /// Procedure examples in the prompt context.
    pub procedures_per_prompt: usize,
    /// Accepted sentences shown back in the prompt (most recent).
    pub accepted_per_prompt: usize,
    /// Show each prompt the nearest other technique and one of its sentences, with the
    /// instruction not to describe it.
    pub contrast: bool,
    /// Stop the run after this many requests in a row failed for good (≥ 1).
    pub max_consecutive_failures: usize,
    /// Stop after this many requests to the endpoint in this invocation (journal replays do
    /// not count); `--resume` with a higher value continues.
    pub max_requests: Option<u64>,
    /// Stop sending once this invocation used this many prompt + completion tokens.
    pub max_tokens_total: Option<u64>,
    /// Stop sending once this invocation cost this much (needs `llm.price_per_1k_*`).
    pub max_cost: Option<f64>,
}

impl GenerateConfig {
    /// Validates the run limits.
    pub fn check_limits(&self, priced: bool) -> Result<(), SettingError> {
        check_range(
            "generate.max_consecutive_failures",
            self.max_consecutive_failures,
            1..,
        )?;
        if let Some(c) = self.max_cost {
            check_range("generate.max_cost", c, 0.0..)?;
            if !priced {
                return Err(SettingError::rule(
                    "generate.max_cost",
                    "left unset unless llm.price_per_1k_prompt or \
                     llm.price_per_1k_completion is set",
                    format_args!("{c:?}"),
                ));
            }
        }
        Ok(())
    }
}

impl Default for GenerateConfig {
    fn default() -> Self {
        Self {
            source: Source::Both,
            target: Target::ToMedian,
            techniques: Vec::new(),
            template: None,
            sentences_per_request: None,
            output: OutputShape::Json,
            json_schema: false,
            overask: 1.5,
            max_requests_factor: 4.0,
            examples_per_prompt: 2,
            procedures_per_prompt: 3,
            accepted_per_prompt: 8,
            contrast: false,
            max_consecutive_failures: 20,
            max_requests: None,
            max_tokens_total: None,
            max_cost: None,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Seed of every random choice (clusters, request seeds, splits).
    pub seed: u64,
    /// How to read the input.
    pub input: ReadOptions,
    /// Which techniques are under-represented.
    pub policy: UnderPolicy,
    /// Sentence embeddings.
    pub embed: EmbedConfig,
    /// Clustering.
    pub cluster: ClusterParams,
    /// Generation.
    pub generate: GenerateConfig,
    /// The LLM endpoint and sampling.
    pub llm: LlmConfig,
    /// The local llama-server started when `llm.base_url` is unset.
    pub local: LocalServerConfig,
    /// Filters.
    pub filter: FilterParams,
    /// Selection of the rows to keep from what the filters accepted.
    pub select: SelectConfig,
    /// Indicators in text sent to the LLM.
    pub redact: RedactConfig,
}

impl Config {
    /// Whether prompts are desensitized: `redact.mode` for this endpoint.
    pub fn redacts(&self) -> bool {
        self.redact.mode.applies_to(&self.llm.urls())
    }

    /// Reads a TOML file (unknown keys are an error naming line and column).
    /// The file must be a regular file of at most [`MAX_CONFIG_BYTES`], in UTF-8.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let bytes =
            read_regular(path, MAX_CONFIG_BYTES, "the configuration limit").map_err(|problem| {
                match problem {
                    FileProblem::Io(source) => ConfigError::Io {
                        path: shown.clone(),
                        source,
                    },
                    problem => ConfigError::File {
                        path: shown.clone(),
                        problem,
                    },
                }
            })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            // Everything before the first invalid byte is valid UTF-8.
            let valid = std::str::from_utf8(valid).unwrap_or_default();
            let line_start = valid.rfind('\n').map_or(0, |i| i + 1);
            ConfigError::Utf8 {
                path: shown.clone(),
                line: 1 + valid.matches('\n').count() as u64,
                column: 1 + valid[line_start..].chars().count() as u64,
            }
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Toml {
            path: path.display().to_string(),
            source,
        })
    }

    /// Validates once; stages take the checked config. Every command calls it: every
    /// number is finite and within a range that keeps arithmetic and memory bounded.
    pub fn check(&self) -> Result<&Self, ConfigError> {
        self.cluster.check()?;
        self.llm.check()?;
        self.local.check()?;
        self.embed.model.check()?;
        self.check_generate()?;
        self.filter.check()?;
        self.select.check()?;
        self.check_sizes()?;
        Ok(self)
    }

    fn check_generate(&self) -> Result<(), SettingError> {
        let g = &self.generate;
        let priced =
            self.llm.price_per_1k_prompt.is_some() || self.llm.price_per_1k_completion.is_some();
        g.check_limits(priced)?;
        check_range("generate.overask", g.overask, 1.0..=MAX_FACTOR)?;
        check_range(
            "generate.max_requests_factor",
            g.max_requests_factor,
            1.0..=MAX_FACTOR,
        )?;
        g.target.check("generate.target")?;
        if let Some(n) = g.sentences_per_request {
            check_range("generate.sentences_per_request", n, 1..=MAX_PER_PROMPT)?;
        }
        for (key, n) in [
            ("generate.examples_per_prompt", g.examples_per_prompt),
            ("generate.procedures_per_prompt", g.procedures_per_prompt),
            ("generate.accepted_per_prompt", g.accepted_per_prompt),
        ] {
            check_range(key, n, 0..=MAX_PER_PROMPT)?;
        }
        Ok(())
    }

    /// Embedding batches and input sizes.
    fn check_sizes(&self) -> Result<(), SettingError> {
        let e = &self.embed;
        check_range("embed.batch_size", e.batch_size, 1..=MAX_EMBED_BATCH)?;
        check_range("embed.max_length", e.max_length, 1..=MAX_EMBED_LENGTH)?;
        let i = &self.input;
        check_range("input.max_file_bytes", i.max_file_bytes, 1..)?;
        check_range("input.max_line_bytes", i.max_line_bytes, 1..)?;
        check_range("input.max_text_chars", i.max_text_chars, 1..)
    }

    /// Fills in the defaults that depend on the endpoint, so that the recorded configuration
    /// shows what really ran: for the local model (no `llm.base_url`) the `local-one`
    /// template, one sentence per request, and llama.cpp's `repeat_penalty = 1.1` and
    /// `cache_prompt = false` (answers must not depend on what the server served before);
    /// for a remote endpoint the `remote-json` template and five sentences per request.
    pub fn resolved(mut self) -> Self {
        let local = self.llm.is_local();
        let g = &mut self.generate;
        g.template
            .get_or_insert_with(|| if local { "local-one" } else { "remote-json" }.into());
        g.sentences_per_request
            .get_or_insert(if local { 1 } else { 5 });
        if local {
            let extra = &mut self.llm.extra_body;
            extra.entry("repeat_penalty").or_insert(1.1.into());
            extra.entry("cache_prompt").or_insert(false.into());
        }
        self
    }

    /// Checks every setting once and fills in the endpoint defaults ([`Self::resolved`]):
    /// the only way to the [`ValidConfig`] that the pipeline stages accept.
    pub fn validate(self) -> Result<ValidConfig, ConfigError> {
        self.check()?;
        Ok(ValidConfig(self.resolved()))
    }

    /// The configuration as TOML (recorded in reports).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# not serialisable: {e}"))
    }
}

/// How rows are chosen from what the filters accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SelectMethod {
    /// The first rows that pass the filters (no pool).
    #[default]
    First,
    /// Maximal marginal relevance over a pool of `pool ×` the rows wanted.
    Mmr,
}

/// The `[select]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelectConfig {
    /// The selection method.
    pub method: SelectMethod,
    /// Pool size as a multiple of the LLM rows a cluster lacks (≥ 1; `mmr` only).
    pub pool: f64,
    /// Weight of relevance against redundancy, in [0, 1] (1 = fidelity only).
    pub lambda: f32,
}

impl Default for SelectConfig {
    fn default() -> Self {
        Self {
            method: SelectMethod::First,
            pool: 2.0,
            lambda: 0.7,
        }
    }
}

/// Largest `select.pool`.
pub const MAX_POOL: f64 = 10.0;

impl SelectConfig {
    /// Checks the pool and lambda ranges.
    pub fn check(&self) -> Result<(), SettingError> {
        check_range("select.pool", self.pool, 1.0..=MAX_POOL)?;
        check_range("select.lambda", self.lambda, 0.0..=1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_round_trips_through_toml() {
        let c = Config::default();
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
        c.check().unwrap();
    }

    #[test]
    fn resolution_records_endpoint_defaults() {
        let local = Config::default().resolved();
        assert_eq!(local.generate.template.as_deref(), Some("local-one"));
        assert_eq!(local.generate.sentences_per_request, Some(1));
        assert_eq!(local.llm.extra_body["cache_prompt"], false);
        assert!(local.to_toml().contains("repeat_penalty = 1.1"));
        let mut remote = Config::default();
        remote.llm.base_url = Some("https://api.openai.com/v1".into());
        remote.generate.sentences_per_request = Some(3);
        let remote = remote.resolved();
        assert_eq!(remote.generate.template.as_deref(), Some("remote-json"));
        assert_eq!(remote.generate.sentences_per_request, Some(3));
        assert!(remote.llm.extra_body.is_empty());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = toml::from_str::<Config>("[generate]\nsorce = \"llm\"\n").unwrap_err();
        assert!(e.to_string().contains("sorce"), "{e}");
        let c: Config =
            toml::from_str("policy = \"below:30\"\n[generate]\ntarget = \"ratio:2\"\n").unwrap();
        assert_eq!(c.policy, UnderPolicy::Below(30));
        assert_eq!(c.generate.target, Target::Ratio(2.0));
    }

    #[test]
    fn check_rejects_non_finite_and_unbounded_values() {
        let bad = |toml_text: &str| {
            let c: Config = toml::from_str(toml_text).unwrap();
            c.check().err().map(|e| e.to_string())
        };
        for (text, name) in [
            (
                "[filter]\nmin_centroid_cosine = nan\n",
                "filter.min_centroid_cosine",
            ),
            ("[filter]\nmin_margin = inf\n", "filter.min_margin"),
            ("[filter]\nnear_duplicate = nan\n", "filter.near_duplicate"),
            (
                "[local]\nstart_timeout_secs = 1e20\n",
                "local.start_timeout_secs",
            ),
            ("[llm]\ntimeout_secs = 1e-300\n", "llm.timeout_secs"),
            ("[cluster]\nk_max = 100000\n", "cluster.k_max"),
            (
                "[generate]\nmax_requests_factor = 1e300\n",
                "generate.max_requests_factor",
            ),
            ("[generate]\noverask = nan\n", "generate.overask"),
            (
                "[generate]\nsentences_per_request = 100000\n",
                "generate.sentences_per_request",
            ),
            ("[embed]\nbatch_size = 0\n", "embed.batch_size"),
            ("[input]\nmax_text_chars = 0\n", "input.max_text_chars"),
            (
                "[llm]\nprice_per_1k_prompt = 1e300\n",
                "llm.price_per_1k_prompt",
            ),
        ] {
            let e = bad(text).unwrap_or_else(|| panic!("{text} accepted"));
            assert!(e.contains(name), "{text}: {e}");
        }
        assert!(bad("[generate]\ntarget = \"absolute:10000\"\n").is_none());
    }

    /// The typed error of a configuration that fails [`Config::check`] with a setting error.
    fn setting_error(c: &Config) -> SettingError {
        match c.check() {
            Err(ConfigError::Setting(e)) => e,
            other => panic!("expected a setting error, got {other:?}"),
        }
    }

    /// A configuration that sets `key` to `written` (TOML), parsed.
    fn with_setting(key: &str, written: &str) -> Config {
        let (section, field) = key.rsplit_once('.').unwrap();
        let head = match section {
            "llm.endpoints" => "[[llm.endpoints]]\nbase_url = \"http://h/v1\"".to_owned(),
            "embed.model.remote" => {
                "[embed.model.remote]\nbase_url = \"http://h/v1\"\nmodel = \"m\"".to_owned()
            }
            s => format!("[{s}]"),
        };
        let text = format!("{head}\n{field} = {written}\n");
        toml::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// One bad value per checked setting: `(key, value written, value shown)`.
    const BAD_SETTINGS: &[(&str, &str, &str)] = &[
        ("cluster.k_max", "65", "65"),
        ("cluster.min_cluster_size", "0", "0"),
        ("cluster.central", "101", "101"),
        ("cluster.diverse", "101", "101"),
        ("llm.model", "\" \"", "\" \""),
        ("llm.temperature", "2.5", "2.5"),
        ("llm.top_p", "0.0", "0.0"),
        ("llm.max_tokens", "0", "0"),
        ("llm.concurrency", "1025", "1025"),
        ("llm.timeout_secs", "0.005", "0.005"),
        ("llm.timeout_secs", "86401", "86401.0"),
        ("llm.max_retries", "101", "101"),
        ("llm.backoff_max_ms", "5\nbackoff_initial_ms = 10", "5"),
        ("llm.backoff_max_ms", "3600001", "3600001"),
        ("llm.price_per_1k_prompt", "2e6", "2000000.0"),
        ("llm.price_per_1k_completion", "-1.0", "-1.0"),
        ("llm.price_per_1k_prompt_batch", "-1.0", "-1.0"),
        ("llm.price_per_1k_completion_batch", "-1.0", "-1.0"),
        ("llm.batch_poll_secs", "3601", "3601.0"),
        ("llm.endpoints.weight", "0.0", "0.0"),
        ("llm.endpoints.concurrency", "0", "0"),
        ("llm.endpoints.model", "\"\"", "\"\""),
        ("local.slots", "65", "65"),
        ("local.ctx_per_slot", "255", "255"),
        ("local.threads", "0", "0"),
        ("local.start_timeout_secs", "0.0", "0.0"),
        ("embed.batch_size", "4097", "4097"),
        ("embed.max_length", "0", "0"),
        ("embed.model.remote.batch_size", "0", "0"),
        ("embed.model.remote.concurrency", "65", "65"),
        ("embed.model.remote.timeout_secs", "0", "0"),
        ("embed.model.remote.max_retries", "21", "21"),
        ("embed.model.remote.dim", "0", "0"),
        ("generate.max_consecutive_failures", "0", "0"),
        ("generate.max_cost", "-1.0", "-1.0"),
        ("generate.max_cost", "1.0", "1.0"),
        ("generate.overask", "0.5", "0.5"),
        ("generate.max_requests_factor", "101", "101.0"),
        ("generate.sentences_per_request", "0", "0"),
        ("generate.examples_per_prompt", "257", "257"),
        ("generate.procedures_per_prompt", "257", "257"),
        ("generate.accepted_per_prompt", "257", "257"),
        ("filter.max_words", "10001", "10001"),
        ("filter.min_words", "61", "61"),
        ("filter.near_duplicate", "1.5", "1.5"),
        ("filter.min_centroid_cosine", "-1.5", "-1.5"),
        ("filter.min_margin", "2.5", "2.5"),
        ("filter.max_avoid_containment", "2.5", "2.5"),
        ("select.pool", "0.5", "0.5"),
        ("select.lambda", "1.5", "1.5"),
        ("input.max_file_bytes", "0", "0"),
        ("input.max_line_bytes", "0", "0"),
        ("input.max_text_chars", "0", "0"),
    ];

    #[test]
    fn every_bad_setting_is_a_typed_error_naming_its_key_and_value() {
        for &(key, written, shown) in BAD_SETTINGS {
            let e = setting_error(&with_setting(key, written));
            assert_eq!(
                (e.key.as_str(), e.value.as_str()),
                (key, shown),
                "{written}"
            );
            let message = ConfigError::Setting(e).to_string();
            assert!(message.contains(&format!("{key} must be ")), "{message}");
            assert!(message.ends_with(&format!(", got {shown}")), "{message}");
        }
        let mut c = Config::default();
        c.generate.target = Target::Ratio(f64::NAN);
        assert_eq!(setting_error(&c).key, "generate.target");
        c.generate.target = Target::Absolute(10_001);
        assert_eq!(setting_error(&c).value, "10001");
    }

    #[test]
    fn float_settings_refuse_nan_and_infinity() {
        // Floats are the settings whose values are shown with a decimal point.
        let floats = BAD_SETTINGS
            .iter()
            .filter(|(_, _, shown)| shown.contains('.'))
            .map(|(key, ..)| *key);
        let mut checked = 0;
        for key in floats {
            for (written, shown) in [("nan", "NaN"), ("inf", "inf"), ("-inf", "-inf")] {
                let e = setting_error(&with_setting(key, written));
                assert_eq!((e.key.as_str(), e.value.as_str()), (key, shown));
            }
            checked += 1;
        }
        assert_eq!(checked, 21);
    }

    #[test]
    fn key_variables_are_checked_without_showing_the_value() {
        for key in [
            "llm.api_key_env",
            "llm.endpoints.api_key_env",
            "embed.model.remote.api_key_env",
        ] {
            let e = setting_error(&with_setting(key, "\"sk-secret\""));
            assert_eq!(e.key, key);
            assert_eq!(e.value, crate::setting::NOT_SHOWN);
            assert!(!e.to_string().contains("sk-secret"), "{e}");
        }
    }
}

/// A [`Config`] that passed [`Config::check`], with the endpoint defaults filled in
/// (linfa's `Params → check() → ValidParams`): the type every stage accepts, so none checks
/// again. Read it through `Deref`; change it only through the methods below, which cannot
/// make it invalid.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidConfig(Config);

impl std::ops::Deref for ValidConfig {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.0
    }
}

impl ValidConfig {
    /// The same configuration with another run seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }

    /// The plain configuration, e.g. to change it and validate again.
    pub fn into_inner(self) -> Config {
        self.0
    }
}
