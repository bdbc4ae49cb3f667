//! Desensitizing text before it leaves the machine.
//!
//! * [`recognize`] finds indicators (IPs, domains, URLs, e-mail addresses, hashes, paths,
//!   registry keys, wallet addresses), defanged forms included;
//! * [`redact`] replaces them by typed, numbered placeholders (`<IP_1>`, `<DOMAIN_2>`) and
//!   checks answers for indicators of the input ([`Redaction::leak`]);
//! * [`surrogate`] fills placeholders with valid-looking values from reserved ranges
//!   (192.0.2.0/24, 2001:db8::/32, `example.com`), seeded.

pub mod dataset;
pub mod recognize;
pub mod redact;
pub mod surrogate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use recognize::{Indicator, IndicatorKind, RECOGNIZER, Recognizer, refang};
pub use redact::{Numbering, Placeholder, Redaction, find_placeholders};
pub use surrogate::Surrogates;

/// When prompts are desensitized (`[redact] mode`, `--redact`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RedactMode {
    /// Prompts carry the input's text as it is.
    Off,
    /// Indicators in prompts become placeholders; answers are checked for leaks.
    On,
    /// On unless the endpoint is the local server or a loopback address.
    #[default]
    Auto,
}

impl RedactMode {
    /// Whether redaction applies to a run sending to these endpoints (none: the local
    /// server synthcti starts).
    pub fn applies_to(self, endpoints: &[&str]) -> bool {
        match self {
            Self::Off => false,
            Self::On => true,
            Self::Auto => endpoints.iter().any(|u| !is_loopback_url(u)),
        }
    }
}

/// The `[redact]` section: what happens to indicators in text sent to the LLM.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactConfig {
    /// When to redact (default `auto`: whenever the endpoint is not on the loopback address).
    pub mode: RedactMode,
    /// Keep placeholders in accepted rows instead of filling in surrogates.
    pub keep_placeholders: bool,
}

/// What redaction did in a run (`report.json` → `redaction`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RedactionReport {
    /// Distinct indicators in the input rows, by kind.
    pub in_input: BTreeMap<IndicatorKind, usize>,
    /// Indicators replaced by placeholders in prompts (every occurrence in every request).
    pub in_prompts: BTreeMap<IndicatorKind, usize>,
    /// Placeholders filled with surrogates in accepted rows, by kind.
    pub surrogates: BTreeMap<IndicatorKind, usize>,
    /// Sentences refused because they repeat an indicator of the input.
    pub leaked: usize,
    /// Accepted rows keep their placeholders (`redact.keep_placeholders`).
    pub keep_placeholders: bool,
}

impl RedactionReport {
    /// Adds `counts` into `into`.
    pub fn add(into: &mut BTreeMap<IndicatorKind, usize>, counts: &BTreeMap<IndicatorKind, usize>) {
        for (k, n) in counts {
            *into.entry(*k).or_default() += n;
        }
    }
}

/// Whether a URL's host is `localhost` or a loopback address (127.0.0.0/8, `::1`).
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = u.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let d = host.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_redacts_every_endpoint_but_the_loopback() {
        let auto = RedactMode::Auto;
        assert!(!auto.applies_to(&[]));
        for local in [
            "http://127.0.0.1:8080/v1",
            "http://localhost:8000/v1",
            "http://[::1]:9000/v1",
            "http://127.5.0.1/v1",
        ] {
            assert!(!auto.applies_to(&[local]), "{local}");
        }
        for remote in [
            "https://api.openai.com/v1",
            "http://10.0.0.5:8000/v1",
            "http://localhost.evil.com/v1",
            "http://[2001:db8::1]/v1",
            "not a url",
        ] {
            assert!(auto.applies_to(&[remote]), "{remote}");
        }
        assert!(auto.applies_to(&["http://127.0.0.1:8080/v1", "https://api.openai.com/v1"]));
        assert!(RedactMode::On.applies_to(&[]));
        assert!(!RedactMode::Off.applies_to(&["https://api.openai.com/v1"]));
    }
}
