//! Whether the bundled local LLM (llama-server + SmolLM2-135M from `scripts/setup.sh`) is
//! installed, for tests that run it for real.

#![allow(dead_code)] // each test binary uses a different part of it

/// Whether `scripts/setup.sh` installed the local server; panics instead of skipping when
/// `SYNTHCTI_REQUIRE_LLM=1`.
pub fn assets_present() -> bool {
    let home = synthcti::home::synthcti_home();
    let ok = home.join("bin/llama-server").is_file() || home.join("llm.env").is_file();
    if !ok {
        assert!(
            std::env::var("SYNTHCTI_REQUIRE_LLM").as_deref() != Ok("1"),
            "llama-server missing; run scripts/setup.sh"
        );
        eprintln!("SKIPPED: llama-server missing; run scripts/setup.sh");
    }
    ok
}
