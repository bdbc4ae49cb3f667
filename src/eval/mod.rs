//! Evaluation toolkit: measures, without leakage, what augmentation buys a classifier.
//!
//! The pieces, each usable on its own:
//! - the splits and probe classifiers of [`crate::learn`] (shared with the filter and
//!   `export`);
//! - [`metrics`]: per-class precision/recall/F1, macro-F1 on the test truth's labels,
//!   rare-class macro-F1, accuracy, mean ± std, paired deltas with 95% intervals;
//! - [`multiplicity`]: p-values and Holm's adjustment over the intervals a table shows;
//! - [`baselines`]: the [`Augmenter`] trait plus random oversampling, EDA and class
//!   reweighting arms;
//! - [`leak`]: the one copy-of-a-test-row screen: test rows that copy a training row leave
//!   the test part, every arm's rows that copy a test row are dropped;
//! - [`sweep`]: seeds × folds × arms × ratios × synthetic weights, comparisons under a
//!   named design (fill the target, or equal budget per pair);
//! - [`report`] and [`plot`]: `results.{md,csv,json}` and `plot.{png,svg}`.

#![warn(missing_docs)]

pub mod arms;
pub mod baselines;
pub mod leak;
pub mod metrics;
pub mod multiplicity;
pub mod plot;
pub mod report;
pub mod sweep;

pub use crate::learn::linear::{LinearKind, LinearModel, LinearModelConfig};
pub use crate::learn::probe::{ProbeConfig, ProbeFeatures};
pub use crate::learn::split::{Fold, SplitConfig};
pub use crate::learn::tfidf::{Analyzer, TfidfConfig, TfidfVectorizer};
pub use baselines::{Augmenter, EdaAugmenter, EdaConfig, RandomOversampler};
pub use leak::{LeakCounts, LeakPolicy};
pub use metrics::{ClassScores, MeanStd, PairedDelta, Scores};
pub use sweep::{SweepConfig, SweepResults};

/// Errors of the evaluation toolkit.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The data cannot support the requested operation (too few rows, groups or classes).
    #[error("insufficient data: {0}")]
    Data(String),
    /// An augmenter failed; the message names the arm.
    #[error("augmenter `{arm}` failed: {message}")]
    Augmenter {
        /// The arm's name.
        arm: String,
        /// What went wrong.
        message: String,
    },
    /// An embedder failed.
    #[error("embedding failed")]
    Embedding(#[from] crate::embed::EmbedError),
    /// A split or probe classifier failed.
    #[error(transparent)]
    Learn(#[from] crate::learn::LearnError),
    /// The pipeline arm failed.
    #[error("augmenter `{arm}` failed")]
    Pipeline {
        /// The arm's name.
        arm: String,
        /// The pipeline's error.
        source: Box<crate::pipeline::PipelineError>,
    },
    /// Writing an output file failed.
    #[error("cannot write {path}")]
    Io {
        /// The file being written.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Serialising results failed.
    #[error("cannot serialise results: {0}")]
    Serialise(String),
    /// Drawing the plot failed.
    #[error("cannot draw the plot: {0}")]
    Plot(String),
}

#[cfg(test)]
mod tests {
    use crate::data::normalize_text;

    #[test]
    fn normalisation_folds_case_and_whitespace() {
        assert_eq!(
            normalize_text("  Uses\tCMD.exe \n to RUN "),
            "uses cmd.exe to run"
        );
        assert_eq!(normalize_text(""), "");
    }
}
