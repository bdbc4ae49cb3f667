//! The generation stage's error; `pipeline::PipelineError` wraps it.

use std::path::PathBuf;

use crate::embed::EmbedError;
use crate::fileio::FileProblem;
use crate::journal::JournalError;
use crate::llm::LlmError;
use crate::output::OutputError;
use crate::prompt::PromptError;

/// Why the generation stage failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Embedding candidates failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// A template failed.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// The LLM endpoint or local server failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Writing outputs failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// A `--batch-import` file is unusable.
    #[error("--batch-import {path}")]
    BatchImport {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: FileProblem,
    },
}

impl GenerateError {
    /// Whether this is a failure of the run (I/O, journal, lock, LLM) rather than of its
    /// input (exit code 1, not 2).
    pub fn is_run_failure(&self) -> bool {
        match self {
            Self::Journal(e) => e.is_run_failure(),
            Self::Llm(e) => e.is_run_failure(),
            Self::Output(_) => true,
            _ => false,
        }
    }
}
