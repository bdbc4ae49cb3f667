//! The learning code the filter, `eval` and `export` share: seeded group-aware k-fold splits
//! ([`split`]) and fast CPU probe classifiers — TF-IDF ([`tfidf`], [`sparse`]) or
//! precomputed sentence embeddings, with a linear SVM or multinomial logistic regression and
//! per-row sample weights ([`linear`], [`probe`]).
//!
//! It sits below `filter`, `eval` and `export` and imports none of them.

#![warn(missing_docs)]

pub mod linear;
pub mod probe;
pub mod sparse;
pub mod split;
pub mod tfidf;

/// Errors of the splits and probe classifiers.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The data cannot support the requested operation (too few rows, groups or classes).
    #[error("insufficient data: {0}")]
    Data(String),
    /// An embedder failed.
    #[error("embedding failed")]
    Embedding(#[from] crate::embed::EmbedError),
}
