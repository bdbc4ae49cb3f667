//! Where the runtime assets live: `$SYNTHCTI_HOME`, default `~/.cache/synthcti`.
//!
//! `scripts/setup.sh` lays out there: `onnxruntime/libonnxruntime.so`,
//! `models/all-MiniLM-L6-v2/`, `bin/llama-server`, `models/*.gguf` and `llm.env`.

use std::path::PathBuf;

/// The install root of the runtime assets: `$SYNTHCTI_HOME`, else `$HOME/.cache/synthcti`.
pub fn synthcti_home() -> PathBuf {
    if let Some(dir) = std::env::var_os("SYNTHCTI_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("synthcti")
}

/// The command a user runs to install a missing runtime asset.
pub const SETUP_HINT: &str = "run `bash scripts/setup.sh` from the synthcti checkout";
