//! A missing or broken ONNX Runtime library is an error, not a panic, and does not poison
//! the process. Its own test binary (own process): ONNX Runtime is loaded once per process,
//! so this must run before anything else loads it.

use synthcti::embed::{EmbedConfig, EmbedError, Embedder, FastEmbedder};

#[test]
fn missing_then_broken_then_good_library() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = EmbedConfig {
        progress: false,
        cache: false,
        ..EmbedConfig::default()
    };

    // 1. No file at all.
    let missing = dir.path().join("onnxruntime").join("libonnxruntime.so");
    let err = FastEmbedder::new(&EmbedConfig {
        ort_lib: Some(missing.clone()),
        ..base.clone()
    })
    .err()
    .expect("missing library must fail");
    assert!(
        matches!(&err, EmbedError::OrtLibraryMissing { path, .. } if *path == missing),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    assert!(msg.contains("scripts/setup.sh"), "{msg}");

    // 2. A file that is not a shared library: ort would panic lazily; we get an Err.
    let broken = dir.path().join("libonnxruntime.so");
    std::fs::write(&broken, b"this is not an ELF file").expect("write");
    let err = FastEmbedder::new(&EmbedConfig {
        ort_lib: Some(broken.clone()),
        ..base.clone()
    })
    .err()
    .expect("broken library must fail");
    assert!(matches!(err, EmbedError::OrtLoad { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&broken.display().to_string()), "{msg}");
    assert!(msg.contains("scripts/setup.sh"), "{msg}");

    // 3. The failures left nothing behind: the installed library still loads.
    let mut e = FastEmbedder::new(&base).expect("installed library (scripts/setup.sh)");
    let v = e.embed(&["Credential dumping from LSASS."]).expect("embed");
    assert_eq!(v.dim(), (1, 384));

    // 4. Loaded once per process: a second embedder reuses it, whatever path is named.
    let again = FastEmbedder::new(&EmbedConfig {
        ort_lib: Some(missing),
        ..base
    });
    assert!(
        again.is_ok(),
        "ONNX Runtime already loaded: {:?}",
        again.err()
    );
}
