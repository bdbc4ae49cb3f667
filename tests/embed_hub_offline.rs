//! A named (Hugging Face hub) model that cannot be downloaded is an error, not a panic or a
//! hang. Its own test binary: it points `HF_ENDPOINT` at a closed local port and `HF_HOME`
//! at an empty directory for the whole process.

use synthcti::embed::{EmbedConfig, EmbedError, FastEmbedder, ModelSource};

#[test]
fn unreachable_hub_gives_an_error_naming_the_model() {
    let hf_home = tempfile::tempdir().expect("tempdir");
    // SAFETY: the only test in this binary; no other thread reads the environment.
    unsafe {
        std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:9");
        std::env::set_var("HF_HOME", hf_home.path());
    }
    let cfg = EmbedConfig {
        model: ModelSource::Named("BAAI/bge-small-en-v1.5".into()),
        progress: false,
        cache: false,
        ..EmbedConfig::default()
    };
    let err = FastEmbedder::new(&cfg).err().expect("no hub, no model");
    assert!(matches!(err, EmbedError::Hub { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("BAAI/bge-small-en-v1.5"), "{msg}");
    assert!(msg.contains("internet"), "{msg}");
    eprintln!("{msg}");
}
