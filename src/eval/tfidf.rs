//! TF-IDF features, following scikit-learn's `TfidfVectorizer` defaults where they apply:
//! lower-casing, word tokens = runs of ≥ 2 word characters (`(?u)\b\w\w+\b`), character
//! n-grams over the whitespace-normalised text (`analyzer="char"`), smooth idf
//! `ln((1 + n) / (1 + df)) + 1`, optional sublinear tf `1 + ln(tf)`, rows L2-normalised.
//! The vocabulary is sorted, so column order does not depend on hashing.

use std::collections::HashMap;

use super::normalize_text;
use super::sparse::CsrMatrix;

/// Which terms a text is cut into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Analyzer {
    /// Word n-grams of `min_n..=max_n` tokens.
    Word {
        /// Shortest n-gram, in tokens (≥ 1).
        min_n: usize,
        /// Longest n-gram, in tokens (≥ `min_n`).
        max_n: usize,
    },
    /// Character n-grams of `min_n..=max_n` characters over the whole normalised text.
    Char {
        /// Shortest n-gram, in characters (≥ 1).
        min_n: usize,
        /// Longest n-gram, in characters (≥ `min_n`).
        max_n: usize,
    },
}

/// TF-IDF settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TfidfConfig {
    /// How texts are cut into terms.
    pub analyzer: Analyzer,
    /// Use `1 + ln(tf)` instead of the raw count.
    pub sublinear_tf: bool,
    /// Keep only terms that occur in at least this many fitting documents.
    pub min_df: usize,
}

impl Default for TfidfConfig {
    /// The probe's fixed features: character 2–5-grams, sublinear tf, `min_df = 1`
    /// (the best of the scikit-learn reference configurations on TRAM).
    fn default() -> Self {
        Self {
            analyzer: Analyzer::Char { min_n: 2, max_n: 5 },
            sublinear_tf: true,
            min_df: 1,
        }
    }
}

impl TfidfConfig {
    /// Checks the n-gram range.
    pub fn validate(&self) -> Result<(), super::EvalError> {
        let (Analyzer::Word { min_n, max_n } | Analyzer::Char { min_n, max_n }) = self.analyzer;
        if min_n == 0 || max_n < min_n {
            return Err(super::EvalError::Config(format!(
                "n-gram range {min_n}..={max_n} is empty"
            )));
        }
        Ok(())
    }

    /// Calls `f` once per term occurrence of `text`.
    fn for_each_term(&self, text: &str, mut f: impl FnMut(&str)) {
        let normalised = normalize_text(text);
        let mut buf = String::new();
        match self.analyzer {
            Analyzer::Word { min_n, max_n } => {
                let tokens: Vec<&str> = normalised
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .filter(|t| t.chars().nth(1).is_some())
                    .collect();
                for n in min_n..=max_n {
                    for gram in tokens.windows(n) {
                        buf.clear();
                        for (k, token) in gram.iter().enumerate() {
                            if k > 0 {
                                buf.push(' ');
                            }
                            buf.push_str(token);
                        }
                        f(&buf);
                    }
                }
            }
            Analyzer::Char { min_n, max_n } => {
                let chars: Vec<char> = normalised.chars().collect();
                for n in min_n..=max_n {
                    for gram in chars.windows(n) {
                        buf.clear();
                        buf.extend(gram);
                        f(&buf);
                    }
                }
            }
        }
    }
}

/// A fitted TF-IDF vocabulary.
#[derive(Debug, Clone)]
pub struct TfidfVectorizer {
    config: TfidfConfig,
    vocabulary: HashMap<String, u32>,
    idf: Vec<f32>,
}

impl TfidfVectorizer {
    /// Learns the vocabulary and idf weights from `texts`.
    pub fn fit<S: AsRef<str>>(config: TfidfConfig, texts: &[S]) -> Result<Self, super::EvalError> {
        config.validate()?;
        let mut df: HashMap<String, usize> = HashMap::new();
        let mut seen: Vec<String> = Vec::new();
        for text in texts {
            seen.clear();
            config.for_each_term(text.as_ref(), |term| seen.push(term.to_owned()));
            seen.sort_unstable();
            seen.dedup();
            for term in seen.drain(..) {
                *df.entry(term).or_insert(0) += 1;
            }
        }
        let mut terms: Vec<(String, usize)> = df
            .into_iter()
            .filter(|(_, d)| *d >= config.min_df)
            .collect();
        terms.sort_unstable();
        let n = texts.len() as f64;
        let idf = terms
            .iter()
            .map(|(_, d)| (((1.0 + n) / (1.0 + *d as f64)).ln() + 1.0) as f32)
            .collect();
        let vocabulary = terms
            .into_iter()
            .enumerate()
            .map(|(i, (term, _))| (term, i as u32))
            .collect();
        Ok(Self {
            config,
            vocabulary,
            idf,
        })
    }

    /// Number of features (vocabulary size).
    pub fn n_features(&self) -> usize {
        self.idf.len()
    }

    /// The L2-normalised TF-IDF rows of `texts` (terms outside the vocabulary ignored).
    pub fn transform<S: AsRef<str>>(&self, texts: &[S]) -> CsrMatrix {
        let mut out = CsrMatrix::new(self.n_features());
        let mut counts: HashMap<u32, f32> = HashMap::new();
        for text in texts {
            counts.clear();
            self.config.for_each_term(text.as_ref(), |term| {
                if let Some(&col) = self.vocabulary.get(term) {
                    *counts.entry(col).or_insert(0.0) += 1.0;
                }
            });
            let mut row: Vec<(u32, f32)> = counts
                .iter()
                .map(|(&col, &tf)| {
                    let tf = if self.config.sublinear_tf {
                        1.0 + tf.ln()
                    } else {
                        tf
                    };
                    (col, tf * self.idf[col as usize])
                })
                .collect();
            row.sort_unstable_by_key(|(col, _)| *col);
            let norm = row.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|(_, v)| *v /= norm);
            }
            out.push_row(row);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(config: TfidfConfig, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        config.for_each_term(text, |t| out.push(t.to_owned()));
        out
    }

    #[test]
    fn word_tokens_follow_sklearn_pattern() {
        let config = TfidfConfig {
            analyzer: Analyzer::Word { min_n: 1, max_n: 2 },
            sublinear_tf: false,
            min_df: 1,
        };
        assert_eq!(
            terms(config, "A cmd.exe run_x"),
            vec!["cmd", "exe", "run_x", "cmd exe", "exe run_x"]
        );
    }

    #[test]
    fn char_ngrams_use_normalised_text() {
        let config = TfidfConfig {
            analyzer: Analyzer::Char { min_n: 2, max_n: 3 },
            sublinear_tf: false,
            min_df: 1,
        };
        assert_eq!(terms(config, "Ab  c"), vec!["ab", "b ", " c", "ab ", "b c"]);
    }

    #[test]
    fn idf_and_normalisation_match_hand_values() {
        let config = TfidfConfig {
            analyzer: Analyzer::Word { min_n: 1, max_n: 1 },
            sublinear_tf: false,
            min_df: 1,
        };
        let v = TfidfVectorizer::fit(config, &["aa bb", "aa"]).unwrap();
        assert_eq!(v.n_features(), 2);
        let m = v.transform(&["aa bb bb", "zz"]);
        // idf(aa) = ln(3/3) + 1 = 1; idf(bb) = ln(3/2) + 1.
        let idf_bb = (1.5f32).ln() + 1.0;
        let (a, b) = (1.0f32, 2.0 * idf_bb);
        let norm = (a * a + b * b).sqrt();
        let (cols, vals) = m.row(0);
        assert_eq!(cols, &[0, 1]);
        assert!((vals[0] - a / norm).abs() < 1e-6 && (vals[1] - b / norm).abs() < 1e-6);
        assert_eq!(m.row(1).0.len(), 0, "unknown terms are ignored");
        assert!(
            TfidfVectorizer::fit(
                TfidfConfig {
                    analyzer: Analyzer::Char { min_n: 3, max_n: 2 },
                    ..config
                },
                &["x"]
            )
            .is_err()
        );
    }
}
