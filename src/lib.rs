//! synthcti: balance Cyber Threat Intelligence datasets with synthetic sentences for
//! under-represented MITRE ATT&CK techniques.
//!
//! Stages, one module each, wired one way by [`pipeline`]:
//! `data` → `embed` → `cluster` → `prompt` → `llm` → `filter` → `output`, plus `eval`.

pub mod data;
pub mod eval;
pub mod export;
pub mod home;
