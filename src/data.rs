//! Labelled sentences: the types every stage hands on, and the dataset readers.

use serde::{Deserialize, Serialize};

/// Where a row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A row of the input dataset.
    Original,
    /// A sentence written by an LLM.
    Synthetic,
    /// A real ATT&CK procedure example added as a row.
    AttackProcedure,
}

/// One labelled sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Position of the row in its source (0-based record index).
    pub id: usize,
    /// The sentence.
    pub text: String,
    /// ATT&CK technique id after catalog remapping, e.g. `T1003.001`.
    pub label: String,
    /// The report/document the sentence came from (used for leak-free splits).
    pub group: Option<String>,
    /// Where the row comes from.
    pub origin: Origin,
}
