//! synthcti: balance Cyber Threat Intelligence datasets with synthetic sentences for
//! under-represented MITRE ATT&CK techniques.
//!
//! Stages, one module each, wired one way by [`pipeline`]:
//! [`data`] → [`embed`] → [`cluster`] → [`prompt`] → [`llm`] → [`filter`] → [`output`]
//! (with [`journal`] for resume and [`report`] for the run report). [`stats`] picks the
//! under-represented techniques; [`catalog`] is ATT&CK; [`config`] the TOML + flags.

pub mod ann;
pub mod catalog;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod data;
pub mod desensitize;
pub mod embed;
pub mod eval;
pub mod export;
pub mod fileio;
pub mod filter;
pub mod generate;
pub mod home;
pub mod html;
pub mod http;
pub mod journal;
pub mod learn;
pub mod llm;
pub mod nearcopy;
pub mod outcome;
pub mod output;
pub mod pipeline;
pub mod prompt;
pub mod report;
pub mod setting;
pub mod stats;
pub mod target;
pub mod technique;
pub mod text;

/// An error and its causes on one line, `outer: inner: ...`. synthcti's own errors never
/// quote their source in their message; a cause that a third-party error already quotes
/// is not repeated.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}
