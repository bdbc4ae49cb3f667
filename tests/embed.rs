//! Embeddings with the real all-MiniLM-L6-v2 model and ONNX Runtime from `$SYNTHCTI_HOME`
//! (installed by `scripts/setup.sh`). The missing-library case lives in
//! `tests/embed_missing_ort.rs`: ONNX Runtime is loaded once per process.

use std::sync::{Mutex, MutexGuard, OnceLock};

use ndarray::{Array2, ArrayView1};
use synthcti::embed::{
    CacheStats, CachedEmbedder, EmbedConfig, EmbedError, Embedder, FastEmbedder, ModelSource,
    open_embedder,
};

/// CTI-like sentences of varied length (2 to ~60 tokens).
const SENTENCES: &[&str] = &[
    "Block the domain.",
    "The malware dumps credentials from LSASS memory.",
    "APT29 used spearphishing emails with malicious attachments to gain initial access.",
    "It creates a scheduled task for persistence.",
    "The loader decrypts its payload with a hard-coded RC4 key and injects it into explorer.exe using process hollowing.",
    "Data is exfiltrated over HTTPS.",
    "PowerShell was used to download additional tools.",
    "The backdoor communicates with its C2 server over DNS TXT records, encoding each command in base64 and splitting long responses across several queries to evade network monitoring.",
    "Ransomware encrypted files on network shares.",
    "The actor cleared Windows event logs to remove traces.",
    "Mimikatz.",
    "The implant enumerates running processes and installed security products.",
    "Attackers abused valid VPN accounts obtained from a previous breach.",
    "A registry run key launches the dropper at every logon.",
    "The group compiled a list of employees from LinkedIn before sending targeted lures that impersonated the human resources department of the victim organisation.",
    "Screenshots are captured every thirty seconds.",
    "Lateral movement was performed with PsExec and stolen administrator credentials.",
    "The webshell accepts commands in HTTP POST parameters.",
    "Keystrokes are logged to a hidden file.",
    "The trojan disables Windows Defender real-time protection.",
    "Archived data is staged in a temporary directory before exfiltration.",
    "The sample checks for virtual machine artifacts and exits if it finds any.",
];

fn shared() -> MutexGuard<'static, FastEmbedder> {
    static EMBEDDER: OnceLock<Mutex<FastEmbedder>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let cfg = EmbedConfig {
                progress: false,
                cache: false,
                ..EmbedConfig::default()
            };
            Mutex::new(FastEmbedder::new(&cfg).expect("load the model (run scripts/setup.sh)"))
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn cos(a: ArrayView1<f32>, b: ArrayView1<f32>) -> f32 {
    a.dot(&b) / (a.dot(&a).sqrt() * b.dot(&b).sqrt())
}

fn max_abs_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    (a - b).iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

#[test]
fn vectors_are_384_d_and_unit_norm() {
    let mut e = shared();
    assert_eq!(e.dim(), 384);
    assert!(
        e.model_id().starts_with("all-MiniLM-L6-v2."),
        "{}",
        e.model_id()
    );
    let v = e.embed(SENTENCES).expect("embed");
    assert_eq!(v.dim(), (SENTENCES.len(), 384));
    for row in v.rows() {
        let norm = row.dot(&row).sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    let empty = e.embed(&[]).expect("empty input");
    assert_eq!(empty.dim(), (0, 384));
}

#[test]
fn paraphrases_score_higher_than_unrelated_sentences() {
    let mut e = shared();
    let v = e
        .embed(&[
            "The malware dumps credentials from LSASS memory.",
            "The trojan steals passwords by reading the memory of the lsass process.",
            "The bakery on the corner sells fresh bread every morning.",
            "Attackers sent phishing emails with malicious Word attachments.",
            "The adversary delivered weaponised documents through spearphishing messages.",
        ])
        .expect("embed");
    let para1 = cos(v.row(0), v.row(1));
    let para2 = cos(v.row(3), v.row(4));
    let unrelated = cos(v.row(0), v.row(2));
    let other_cti = cos(v.row(0), v.row(3));
    assert!(para1 > unrelated + 0.2, "{para1} vs {unrelated}");
    assert!(para1 > other_cti, "{para1} vs {other_cti}");
    assert!(para2 > cos(v.row(3), v.row(2)) + 0.2, "{para2}");
    assert!(para2 > cos(v.row(4), v.row(1)), "{para2}");
}

#[test]
fn sorted_batches_give_the_same_rows_as_one_by_one_in_input_order() {
    let cfg = EmbedConfig {
        batch_size: 4,
        progress: false,
        cache: false,
        ..EmbedConfig::default()
    };
    let mut batched = FastEmbedder::new(&cfg).expect("load");
    let together = batched.embed(SENTENCES).expect("batched");
    drop(batched);

    let mut e = shared();
    let mut single = Array2::<f32>::zeros(together.dim());
    for (i, s) in SENTENCES.iter().enumerate() {
        let v = e.embed(&[s]).expect("single");
        single.row_mut(i).assign(&v.row(0));
    }
    let diff = max_abs_diff(&together, &single);
    assert!(diff < 1e-4, "sorted batching changed vectors by {diff}");
}

#[test]
fn unsorted_batching_gives_the_same_rows() {
    let cfg = EmbedConfig {
        batch_size: 5,
        sort_by_tokens: false,
        progress: false,
        cache: false,
        ..EmbedConfig::default()
    };
    let mut unsorted = FastEmbedder::new(&cfg).expect("load");
    let a = unsorted.embed(SENTENCES).expect("unsorted");
    drop(unsorted);
    let b = shared().embed(SENTENCES).expect("sorted");
    assert!(max_abs_diff(&a, &b) < 1e-4);
}

#[test]
fn batches_are_padded_to_their_longest_member_not_to_128() {
    let e = shared();
    // The shipped tokenizer.json says: pad everything to 128 tokens.
    let short = e
        .padded_len(&["Mimikatz.", "Block the domain."])
        .expect("padded_len");
    // [CLS] block the domain . [SEP]
    assert_eq!(short, 6);
    let one = e.padded_len(&[SENTENCES[4]]).expect("padded_len");
    assert!(one > 10 && one < 128, "{one}");
    // Long inputs are truncated at max_length (256).
    let long = "lateral movement ".repeat(300);
    assert_eq!(e.padded_len(&[&long]).expect("padded_len"), 256);
}

#[test]
fn cache_serves_a_second_run_without_embedding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut e = shared();
    let mut texts: Vec<&str> = SENTENCES.to_vec();
    texts.push(SENTENCES[0]); // a repeat is embedded once
    let n = texts.len() as u64;
    let unique = SENTENCES.len() as u64;

    let (first, path) = {
        let mut cached = CachedEmbedder::new(&mut *e, dir.path()).expect("open cache");
        let first = cached.embed(&texts).expect("cold");
        assert_eq!(
            cached.stats(),
            CacheStats {
                hits: n - unique,
                misses: unique
            }
        );
        let again = cached.embed(&texts).expect("same process");
        assert_eq!(cached.cache_stats().map(|s| s.misses), Some(unique));
        assert_eq!(again, first);
        (first, cached.path().to_path_buf())
    };
    assert!(path.starts_with(dir.path()));
    assert_eq!(
        std::fs::metadata(&path).expect("cache file").len(),
        12 + unique * (4 + 32 + 4 * 384 + 8) // header; per record: tag, text hash, vector, check
    );

    // A second run: a fresh cache object reading the file.
    let mut cached = CachedEmbedder::new(&mut *e, dir.path()).expect("reopen");
    let second = cached.embed(&texts).expect("warm");
    assert_eq!(cached.stats(), CacheStats { hits: n, misses: 0 });
    assert_eq!(second, first, "cached vectors are bit-identical");
    drop(cached);

    // The cached vectors are the model's vectors.
    let fresh = e.embed(&texts).expect("fresh");
    assert!(max_abs_diff(&fresh, &first) < 1e-4);
}

#[test]
fn truncated_cache_file_is_tolerated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut e = shared();
    let texts = &SENTENCES[..6];
    let (first, path) = {
        let mut cached = CachedEmbedder::new(&mut *e, dir.path()).expect("open");
        (
            cached.embed(texts).expect("cold"),
            cached.path().to_path_buf(),
        )
    };
    // Simulate a run killed in the middle of writing the last record.
    let len = std::fs::metadata(&path).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open file")
        .set_len(len - 100)
        .expect("truncate");

    let mut cached = CachedEmbedder::new(&mut *e, dir.path()).expect("tolerates truncation");
    let second = cached.embed(texts).expect("embed");
    assert_eq!(cached.stats(), CacheStats { hits: 5, misses: 1 });
    assert!(max_abs_diff(&first, &second) < 1e-4);
    drop(cached);
    assert_eq!(std::fs::metadata(&path).expect("meta").len(), len);
}

#[test]
fn open_embedder_is_cached_fastembed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = EmbedConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        progress: false,
        ..EmbedConfig::default()
    };
    let mut e = open_embedder(&cfg).expect("open");
    assert_eq!(e.dim(), 384);
    let v = e.embed(&SENTENCES[..3]).expect("embed");
    let w = e.embed(&SENTENCES[..3]).expect("embed");
    assert_eq!(v, w);
    assert_eq!(e.cache_stats(), Some(CacheStats { hits: 3, misses: 3 }));
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .collect::<Result<_, _>>()
        .expect("entries");
    assert_eq!(files.len(), 1);

    let uncached = open_embedder(&EmbedConfig {
        cache: false,
        ..cfg
    })
    .expect("open");
    assert_eq!(uncached.cache_stats(), None);
}

#[test]
fn missing_model_file_names_the_file_and_the_setup_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = EmbedConfig {
        model: ModelSource::LocalDir(dir.path().join("all-MiniLM-L6-v2")),
        progress: false,
        ..EmbedConfig::default()
    };
    let err = FastEmbedder::new(&cfg).err().expect("must fail");
    assert!(
        matches!(err, EmbedError::ModelFileMissing { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("all-MiniLM-L6-v2/model.onnx"), "{msg}");
    assert!(msg.contains("scripts/setup.sh"), "{msg}");
}

#[test]
fn unknown_named_model_is_refused_without_network() {
    let cfg = EmbedConfig {
        model: ModelSource::Named("nobody/no-such-model".into()),
        ..EmbedConfig::default()
    };
    let err = FastEmbedder::new(&cfg).err().expect("must fail");
    assert!(matches!(err, EmbedError::UnknownModel { .. }), "{err:?}");
    assert!(err.to_string().contains("BGESmallENV15"));
}

#[test]
fn bad_settings_are_refused() {
    let cfg = EmbedConfig {
        batch_size: 0,
        ..EmbedConfig::default()
    };
    assert!(matches!(
        FastEmbedder::new(&cfg),
        Err(EmbedError::InvalidConfig(_))
    ));
}
