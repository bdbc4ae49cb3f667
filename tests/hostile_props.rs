//! Property tests: the readers, the configuration loader, the answer parser and the text
//! hygiene helpers never panic on arbitrary input; they return errors.

use std::io::Write;
use std::path::Path;

use proptest::prelude::*;
use synthcti::catalog::Catalog;
use synthcti::config::Config;
use synthcti::data::{Format, ReadOptions, read_dataset};
use synthcti::llm::parse_sentences;
use synthcti::output::parquet::StringTable;
use synthcti::text::{DISPLAY_CHARS, clip, csv_cell, sanitize};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(bytes))
        .expect("write");
    path
}

/// Bytes that look a little like each format, so the fuzzing goes past the first byte.
fn dataset_bytes() -> impl Strategy<Value = Vec<u8>> {
    let prefixes = prop_oneof![
        Just(Vec::new()),
        Just(b"text,label\n".to_vec()),
        Just(b",label_tec,label_subtec,tec_name,sentence\n".to_vec()),
        Just(b"[{\"text\": \"a\", \"label\": \"T1003\"},".to_vec()),
        Just(b"{\"text\": \"a\", \"label\": \"T1003\", \"doc_title\": 1}\n".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
    ];
    let tails = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        "[ -~\\n\\t\"{}\\[\\],:]{0,200}".prop_map(String::into_bytes),
    ];
    (prefixes, tails).prop_map(|(mut p, t)| {
        p.extend(t);
        p
    })
}

/// A small valid Parquet file (text, label, doc_title; snappy), written the way
/// `augmented.parquet` is.
fn parquet_file() -> Vec<u8> {
    let mut t =
        StringTable::new(&[("text", false), ("label", false), ("doc_title", true)]).expect("table");
    for (text, label, group) in [
        ("Dumps LSASS memory.", "T1003.001", Some("r1")),
        ("Runs PowerShell scripts.", "T1059.001", None),
        ("Scans the network.", "T1046", Some("r2")),
    ] {
        t.push(&[Some(text), Some(label), group]).expect("row");
    }
    t.finish().expect("file")
}

fn small_limits() -> ReadOptions {
    ReadOptions {
        max_line_bytes: 64,
        max_text_chars: 40,
        max_file_bytes: 300,
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn readers_never_panic(bytes in dataset_bytes(), small in any::<bool>()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = Catalog::bundled();
        for (name, format) in [
            ("d.json", Some(Format::Tram)),
            ("d.jsonl", Some(Format::Jsonl)),
            ("d.csv", Some(Format::Csv)),
            ("d.csv", Some(Format::CtiToMitre)),
            ("d.tsv", None),
            ("d", None),
        ] {
            let path = write(dir.path(), name, &bytes);
            let base = if small { small_limits() } else { ReadOptions::default() };
            let opts = ReadOptions { format, ..base };
            if let Err(e) = read_dataset(&path, &opts, catalog) {
                let msg = e.to_string();
                prop_assert!(msg.contains(name), "{msg}");
                prop_assert!(msg.len() < 1200, "{} bytes", msg.len());
            }
        }
    }

    #[test]
    fn parquet_reader_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = parquet_file();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "d.parquet", &bytes);
        if let Err(e) = read_dataset(&path, &ReadOptions::default(), Catalog::bundled()) {
            let msg = e.to_string();
            prop_assert!(msg.contains("d.parquet"), "{msg}");
            // A panic inside the decoder is caught, but it is a bug to report upstream.
            prop_assert!(!msg.contains("decoder failed"), "{msg}");
            prop_assert!(msg.len() < 1200, "{} bytes", msg.len());
        }
    }

    #[test]
    fn config_loader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "c.toml", &bytes);
        if let Ok(cfg) = Config::from_file(&path) {
            let _ = cfg.check();
        }
    }

    #[test]
    fn config_check_never_panics_on_any_numbers(
        x in prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(1e300), Just(1e-300)],
        n in any::<i64>(),
        key in 0usize..12,
    ) {
        let (section, field, value) = [
            ("filter", "min_centroid_cosine", format!("{x:?}")),
            ("filter", "min_margin", format!("{x:?}")),
            ("filter", "near_duplicate", format!("{x:?}")),
            ("local", "start_timeout_secs", format!("{x:?}")),
            ("llm", "timeout_secs", format!("{x:?}")),
            ("generate", "max_requests_factor", format!("{x:?}")),
            ("generate", "overask", format!("{x:?}")),
            ("cluster", "k_max", n.to_string()),
            ("generate", "sentences_per_request", n.to_string()),
            ("input", "max_line_bytes", n.to_string()),
            ("generate", "target", format!("\"absolute:{n}\"")),
            ("generate", "target", format!("\"ratio:{x}\"")),
        ][key].clone();
        let text = format!("[{section}]\n{field} = {}\n", value.replace("NaN", "nan"));
        if let Ok(cfg) = toml::from_str::<Config>(&text)
            && cfg.check().is_ok()
        {
            prop_assert!(cfg.filter.min_centroid_cosine.is_finite());
            prop_assert!(cfg.generate.max_requests_factor <= 100.0);
            prop_assert!(cfg.local.start_timeout_secs <= 86_400.0);
            prop_assert!(cfg.cluster.k_max <= 64);
        }
    }

    #[test]
    fn answer_parser_never_panics(text in "\\PC{0,300}", raw in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_sentences(&text);
        let _ = parse_sentences(&String::from_utf8_lossy(&raw));
    }

    #[test]
    fn sanitize_leaves_no_controls_and_is_idempotent(text in "\\PC{0,100}|[\\x00-\\x1f\\u{80}-\\u{9f}\\u{200b}-\\u{202e} a=]{0,100}") {
        let s = sanitize(&text);
        prop_assert!(!s.chars().any(|c| c.is_control() || synthcti::text::is_invisible_format(c)));
        prop_assert_eq!(sanitize(&s), s.clone());
        prop_assert!(!csv_cell(s.as_str()).starts_with(['=', '+', '-', '@']));
        prop_assert!(clip(&text).chars().count() <= DISPLAY_CHARS * 12 + 40);
    }
}
