//! Hostile and huge input through the `synthcti` binary: every malformed dataset, config
//! and special file under `tests/fixtures/bad/` ends with exit code 2 (or, for a damaged
//! embedding cache, a warning), a message naming the file (and line), bounded output, no
//! panic and no hang.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;

const TINY: &str = "tests/fixtures/tiny_tram.json";
const BAD: &str = "tests/fixtures/bad";

fn synthcti() -> Command {
    let mut c = Command::cargo_bin("synthcti").expect("binary built");
    c.env("RUST_LOG", "warn").timeout(Duration::from_secs(60));
    c
}

/// Runs and checks the common promises: exit 2, no panic, the path and every expected
/// fragment in stderr, no raw ESC, and a short message.
fn expect_bad(args: &[&str], path: &str, expected: &[&str]) -> String {
    let out: Output = synthcti().args(args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(
        stderr.contains(path),
        "{args:?} does not name {path}: {stderr}"
    );
    for e in expected {
        assert!(stderr.contains(e), "{args:?}: expected {e:?} in {stderr}");
    }
    assert!(
        !stderr.contains('\u{1b}'),
        "{args:?}: raw ESC in {stderr:?}"
    );
    assert!(
        stderr.len() < 2000,
        "{args:?}: {} bytes of stderr",
        stderr.len()
    );
    stderr
}

/// Malformed datasets: `(file, extra flags, expected fragments)`.
const READER_CASES: &[(&str, &[&str], &[&str])] = &[
    (
        "csv_duplicate_header.csv",
        &[],
        &["header: column \"text\" appears more than once"],
    ),
    (
        "csv_unclosed_quote.csv",
        &[],
        &["line 3: expected 2 fields, found 1"],
    ),
    ("csv_empty_label.csv", &[], &["line 2: empty label"]),
    (
        "csv_label_not_an_id.csv",
        &[],
        &["line 2: label \"credential dumping\" is not an ATT&CK technique id"],
    ),
    (
        "csv_text_too_long.csv",
        &[],
        &[
            "line 3: text of 20001 characters is longer than input.max_text_chars = 20000",
            "(19801 more characters)",
        ],
    ),
    ("csv_bad_origin.csv", &[], &["line 2: origin \"handmade\""]),
    ("csv_header_only.csv", &[], &["no rows"]),
    ("csv_empty_file.csv", &[], &["missing column \"text\""]),
    (
        "csv_escape_in_label.csv",
        &[],
        // ESC is stripped on read (see control_characters_are_stripped_counted_and_never_written)
        &["line 2: label \"T1003[31mRED[0m\""],
    ),
    (
        "tsv_extra_field.tsv",
        &[],
        &["line 2: expected 2 fields, found 3"],
    ),
    (
        "csv_invalid_utf8_header.csv",
        &[],
        &["line 1: invalid UTF-8"],
    ),
    ("csv_blank_text.csv", &[], &["line 3: empty text"]),
    (
        "csv_unknown_subtechnique.csv",
        &[],
        &["line 2: label T1003.999 is not an active ATT&CK"],
    ),
    (
        "csv_missing_group_column.csv",
        &["--group-col", "report"],
        &["missing column \"report\""],
    ),
    (
        "csv_fewer_fields.csv",
        &[],
        &["line 2: expected 3 fields, found 2"],
    ),
    (
        "cti_duplicate_sentence_column.csv",
        &[],
        &["column \"sentence\" appears more than once"],
    ),
    ("cti_bad_label.csv", &[], &["line 2: label \"TXXXX\""]),
    (
        "csv_bom_duplicate_header.csv",
        &[],
        &["column \"label\" appears more than once"],
    ),
    (
        "jsonl_numeric_text.jsonl",
        &[],
        &["line 1: field \"text\" should be a string, found 42"],
    ),
    (
        "jsonl_numeric_label.jsonl",
        &[],
        &["line 1: field \"label\" should be a string, found 1003"],
    ),
    (
        "jsonl_array_line.jsonl",
        &[],
        &["line 2: expected a JSON object, found [1,2]"],
    ),
    (
        "jsonl_text_object.jsonl",
        &[],
        &["line 1: field \"text\" should be a string, found {\"a\":1}"],
    ),
    (
        "jsonl_missing_label.jsonl",
        &[],
        &["line 2: missing field \"label\""],
    ),
    ("jsonl_invalid_utf8.jsonl", &[], &["line 2: invalid UTF-8"]),
    (
        "jsonl_truncated_last_line.jsonl",
        &[],
        &["line 2, column", "invalid JSON"],
    ),
    (
        "jsonl_group_object.jsonl",
        &[],
        &["line 1: field \"doc_title\" should be a string"],
    ),
    (
        "jsonl_two_labels.jsonl",
        &[],
        &["line 1: field \"label\" should be a string"],
    ),
    (
        "jsonl_bad_origin.jsonl",
        &[],
        &["line 1: origin \"imported\""],
    ),
    ("jsonl_blank_lines_only.jsonl", &[], &["no rows"]),
    (
        "jsonl_deep_nesting.jsonl",
        &[],
        &["line 1, column", "recursion limit"],
    ),
    (
        "jsonl_long_text_with_controls.jsonl",
        &[],
        &["line 1: text of 20600 characters", "\"[2Jxxx"],
    ),
    (
        "jsonl_boolean_text.jsonl",
        &[],
        &["line 1: field \"text\" should be a string, found true"],
    ),
    (
        "tram_trailing_garbage.json",
        &[],
        &["line 1", "trailing characters after the list"],
    ),
    (
        "tram_numeric_text.json",
        &[],
        &["line 2: field \"text\" should be a string, found 3.14"],
    ),
    (
        "tram_missing_comma.json",
        &[],
        &["line 3", "expected ',' or ']'"],
    ),
    ("tram_invalid_utf8.json", &[], &["line 3: invalid UTF-8"]),
    ("tram_empty_list.json", &[], &["no rows"]),
    (
        "tram_string_items.json",
        &[],
        &["line 1: expected a JSON object, found \"Dumps LSASS.\""],
    ),
    (
        "tram_null_label.json",
        &[],
        &["line 2: missing field \"label\""],
    ),
    (
        "tram_deep_nesting.json",
        &[],
        &["line 1", "recursion limit"],
    ),
    ("tram_whitespace_only.json", &[], &["expected a JSON list"]),
    (
        "tram_unclosed_list.json",
        &[],
        &["line 3", "unexpected end of file inside the list"],
    ),
    (
        "tram_object_not_list.json",
        &[],
        &[
            "line 1, column",
            "expected a JSON list of {text, label, doc_title} objects (TRAM) or one JSON object per line",
            "found a JSON object spread over several lines",
        ],
    ),
    (
        "jsonl_duplicate_key.jsonl",
        &[],
        &[
            "line 2, column",
            "key \"label\" appears twice in one object",
        ],
    ),
    (
        "jsonl_nested_duplicate_key.jsonl",
        &[],
        &["line 1, column", "key \"a\" appears twice in one object"],
    ),
    (
        "tram_duplicate_key.json",
        &[],
        &["line 4, column", "key \"text\" appears twice in one object"],
    ),
    (
        "jsonl_origin_number.jsonl",
        &[],
        &["line 2: field \"origin\" should be a string", "found 5"],
    ),
    (
        "tram_text_too_long.json",
        &[],
        &["line 2: text of 24999 characters is longer than input.max_text_chars"],
    ),
];

/// Malformed configurations, each given to `stats --config` (file, expected fragment).
const CONFIG_CASES: &[(&str, &str)] = &[
    (
        "cfg_nan_centroid_cosine.toml",
        "filter.min_centroid_cosine must be in [-1, 1], got NaN",
    ),
    (
        "cfg_inf_margin.toml",
        "filter.min_margin must be in [-2, 2], got -inf",
    ),
    (
        "cfg_start_timeout_1e20.toml",
        "local.start_timeout_secs must be in",
    ),
    (
        "cfg_timeout_1e-300.toml",
        "llm.timeout_secs must be in [0.01, 86400]",
    ),
    ("cfg_k_max_huge.toml", "cluster.k_max must be in 1..=64"),
    (
        "cfg_requests_factor_1e300.toml",
        "generate.max_requests_factor must be in [1, 100]",
    ),
    (
        "cfg_target_absolute_huge.toml",
        "invalid target \"absolute:999999999999\": target must be in 0..=10000, got 999999999999",
    ),
    ("cfg_unknown_key.toml", "sorce"),
    ("cfg_wrong_type.toml", "line 1"),
    ("cfg_invalid_utf8.toml", "line 2, column 3: invalid UTF-8"),
    ("cfg_zero_text_chars.toml", "input.max_text_chars"),
    (
        "cfg_nan_overask.toml",
        "generate.overask must be in [1, 100], got NaN",
    ),
    ("cfg_nan_temperature.toml", "temperature"),
    (
        "cfg_zero_batch_size.toml",
        "embed.batch_size must be in 1..=4096",
    ),
    (
        "cfg_huge_sentences_per_request.toml",
        "generate.sentences_per_request must be in 1..=256",
    ),
    ("cfg_ratio_huge.toml", "ratio:1e300"),
    ("cfg_not_toml.toml", "line 1"),
];

#[test]
fn malformed_datasets_exit_2_naming_file_and_line() {
    for (file, flags, expected) in READER_CASES {
        let path = format!("{BAD}/{file}");
        let mut args = vec!["stats", "--input", &path];
        args.extend_from_slice(flags);
        expect_bad(&args, &path, expected);
    }
}

#[test]
fn malformed_configs_exit_2_naming_the_file_in_every_command() {
    for (file, expected) in CONFIG_CASES {
        let path = format!("{BAD}/{file}");
        expect_bad(
            &["stats", "--input", TINY, "--config", &path],
            &path,
            &[expected],
        );
    }
    // clusters and export validate too (before any model is opened or file written).
    let path = format!("{BAD}/cfg_nan_centroid_cosine.toml");
    let out = tempfile::tempdir().expect("tempdir");
    let out_dir = out.path().join("export");
    let out_str = out_dir.to_str().expect("utf-8 path");
    for args in [
        vec!["clusters", "--input", TINY, "--config", &path],
        vec![
            "export", "--input", TINY, "--config", &path, "--output", out_str,
        ],
    ] {
        expect_bad(&args, &path, &["filter.min_centroid_cosine"]);
    }
    assert!(
        !out_dir.exists(),
        "export wrote output with an invalid config"
    );
    expect_bad(
        &[
            "augment",
            "--dry-run",
            "--input",
            TINY,
            "--output",
            out_str,
            "--target",
            "absolute:999999999",
        ],
        "absolute:999999999",
        &["target must be in 0..=10000, got 999999999"],
    );
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().expect("utf-8")).expect("no NUL");
    // SAFETY: a valid C string; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Directories, FIFOs and devices as input or config: a clear error at once, no hang.
#[test]
fn special_files_are_refused_without_hanging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("pipe.jsonl");
    mkfifo(&fifo);
    let zero = dir.path().join("zero.csv");
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
    let sub = dir.path().join("adir.json");
    std::fs::create_dir(&sub).expect("mkdir");
    let zero_cfg = dir.path().join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero_cfg).expect("symlink");
    let fifo_cfg = dir.path().join("pipe.toml");
    mkfifo(&fifo_cfg);
    let s = |p: &PathBuf| p.to_str().expect("utf-8").to_string();
    let cases: Vec<(Vec<String>, String, &str)> = vec![
        (
            vec!["--input".into(), s(&fifo)],
            s(&fifo),
            "not a regular file: it is a named pipe (FIFO)",
        ),
        (
            vec!["--input".into(), s(&zero)],
            s(&zero),
            "not a regular file: it is a character device",
        ),
        (
            vec!["--input".into(), s(&sub)],
            s(&sub),
            "not a regular file: it is a directory",
        ),
        (
            vec![
                "--input".into(),
                TINY.into(),
                "--config".into(),
                s(&zero_cfg),
            ],
            s(&zero_cfg),
            "a character device",
        ),
        (
            vec![
                "--input".into(),
                TINY.into(),
                "--config".into(),
                s(&fifo_cfg),
            ],
            s(&fifo_cfg),
            "a named pipe",
        ),
        (
            vec![
                "--input".into(),
                TINY.into(),
                "--format".into(),
                "csv".into(),
                "--config".into(),
                s(&sub),
            ],
            s(&sub),
            "a directory",
        ),
    ];
    for (flags, path, expected) in cases {
        let started = Instant::now();
        let mut args = vec!["stats"];
        args.extend(flags.iter().map(String::as_str));
        expect_bad(&args, &path, &[expected]);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
}

/// A 50 MB single-line sentence is refused after reading about one line's cap, not
/// loaded whole; a file over `max_file_bytes` is refused.
#[test]
fn huge_lines_and_files_are_refused_with_bounded_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, head, tail) in [
        ("huge.jsonl", "{\"text\": \"", "\", \"label\": \"T1003\"}\n"),
        ("huge.csv", "text,label\n", ",T1003\n"),
    ] {
        let path = dir.path().join(name);
        let mut bytes = head.as_bytes().to_vec();
        bytes.resize(bytes.len() + 50_000_000, b'a');
        bytes.extend_from_slice(tail.as_bytes());
        std::fs::write(&path, &bytes).expect("write");
        let p = path.to_str().expect("utf-8");
        let line = if name.ends_with("csv") {
            "line 2"
        } else {
            "line 1"
        };
        let started = Instant::now();
        expect_bad(
            &["stats", "--input", p],
            p,
            &[&format!(
                "{line}: longer than input.max_line_bytes = 1048576 bytes"
            )],
        );
        assert!(started.elapsed() < Duration::from_secs(20));
    }
    let cfg = dir.path().join("small.toml");
    std::fs::write(&cfg, "[input]\nmax_file_bytes = 1000\n").expect("write");
    expect_bad(
        &[
            "stats",
            "--input",
            TINY,
            "--config",
            cfg.to_str().expect("utf-8"),
        ],
        TINY,
        &["the file is larger than input.max_file_bytes = 1000 bytes"],
    );
}

/// Readers are consistent: a BOM is accepted in every format, and a JSONL group column
/// counts when only a later line has it.
#[test]
fn bom_everywhere_and_late_group_columns_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bom = "\u{feff}";
    for (name, body) in [
        (
            "a.json",
            "[{\"text\": \"Dumps LSASS.\", \"label\": \"T1003\"}]",
        ),
        (
            "b.jsonl",
            "{\"text\": \"Dumps LSASS.\", \"label\": \"T1003\"}\n",
        ),
        ("c.csv", "text,label\nDumps LSASS.,T1003\n"),
        (
            "d.csv",
            ",label_tec,label_subtec,tec_name,sentence\n1,T1003,T1003.001,LSASS Memory,Dumps it.\n",
        ),
        ("e", "{\"text\": \"Dumps LSASS.\", \"label\": \"T1003\"}\n"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{bom}{body}")).expect("write");
        let out = synthcti()
            .args(["stats", "--json", "--input", path.to_str().expect("utf-8")])
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Grouping decided over all lines: export keeps each report whole only if it sees them.
    let path = dir.path().join("late.jsonl");
    let mut text = String::new();
    for i in 0..40 {
        let group = if i == 0 {
            String::new()
        } else {
            format!(", \"doc_title\": \"r{}\"", i % 8)
        };
        text.push_str(&format!(
            "{{\"text\": \"Sentence number {i} about dumping.\", \"label\": \"T1003\"{group}}}\n"
        ));
    }
    std::fs::write(&path, text).expect("write");
    let out_dir = dir.path().join("export");
    export_ok(&path, "jsonl", &out_dir);
    let rows = std::fs::read_to_string(out_dir.join("dataset.jsonl")).expect("export");
    let mut split_of = std::collections::HashMap::<String, String>::new();
    for line in rows.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        if let Some(g) = v["group"].as_str() {
            let split = v["split"].as_str().expect("split").to_string();
            let prev = split_of
                .entry(g.to_string())
                .or_insert_with(|| split.clone());
            assert_eq!(*prev, split, "group {g} split across parts");
        }
    }
    assert_eq!(
        split_of.len(),
        8,
        "grouping kept although line 1 has no doc_title"
    );
}

/// The exported CSV cannot run formulas, and `clusters` prints no ESC from the data.
#[test]
fn export_csv_is_formula_safe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("f.jsonl");
    let mut text = String::new();
    for i in 0..30 {
        text.push_str(&format!(
            "{{\"text\": \"=HYPERLINK(\\\"http://evil/{i}\\\")\", \"label\": \"T1003\", \"doc_title\": \"@r{i}\"}}\n"
        ));
    }
    std::fs::write(&path, text).expect("write");
    let out_dir = dir.path().join("export");
    export_ok(&path, "csv", &out_dir);
    let csv = std::fs::read_to_string(out_dir.join("dataset.csv")).expect("csv");
    for line in csv.lines().skip(1) {
        assert!(
            line.starts_with("\"'=HYPERLINK") || line.starts_with("'=HYPERLINK"),
            "{line}"
        );
        assert!(line.contains(",'@r"), "{line}");
    }
}

fn cache_case(model_file: &str, fixture: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(format!("{BAD}/{fixture}"), dir.path().join(model_file)).expect("copy");
    let out = synthcti()
        .args([
            "clusters",
            "--json",
            "--input",
            TINY,
            "--technique",
            "T1003.001",
        ])
        .args(["--embed-cache", dir.path().to_str().expect("utf-8")])
        .output()
        .expect("runs");
    drop(dir);
    out
}

/// Damaged embedding caches: a foreign or mismatched file is an error naming it; garbage,
/// NaN records and the old format are warned about (naming the file) and recomputed.
#[test]
fn damaged_embedding_caches_are_refused_or_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = synthcti()
        .args([
            "clusters",
            "--json",
            "--input",
            TINY,
            "--technique",
            "T1003.001",
        ])
        .args(["--embed-cache", dir.path().to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let model_file = std::fs::read_dir(dir.path())
        .expect("cache dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".bin"))
        .expect("a cache file");
    for (fixture, code, expected) in [
        (
            "cache_foreign_file.bin",
            2,
            "not a synthcti embedding cache",
        ),
        (
            "cache_wrong_dimension.bin",
            2,
            "it holds vectors of length 7",
        ),
        ("cache_garbage_body.bin", 0, "truncated record"),
        ("cache_nan_record.bin", 0, "NaN or infinity"),
        ("cache_old_format.bin", 0, "older format"),
    ] {
        let out = cache_case(&model_file, fixture);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{fixture}: {stderr}");
        assert!(stderr.contains(expected), "{fixture}: {stderr}");
        assert!(
            stderr.contains(&model_file),
            "{fixture} not named: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{fixture}: {stderr}");
        if code == 0 {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
            assert_eq!(
                v,
                serde_json::from_slice::<serde_json::Value>(&first.stdout).expect("json"),
                "{fixture}: same clusters after repair"
            );
        }
    }
}

/// How many bad-input files the suite holds (the issue asks for at least 40).
#[test]
fn at_least_forty_bad_input_files() {
    let n = std::fs::read_dir(BAD).expect("fixtures").count();
    assert!(n >= 40, "{n} files");
    assert!(READER_CASES.len() + CONFIG_CASES.len() + 5 >= 60);
}

/// `synthcti export --to TO` of `path` into `out_dir`, which must succeed.
fn export_ok(path: &std::path::Path, to: &str, out_dir: &std::path::Path) {
    let out = synthcti()
        .args(["export", "--to", to, "--input"])
        .arg(path)
        .arg("--output")
        .arg(out_dir)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The control and bidi characters the readers strip (NUL, BEL, BS, ESC, DEL, C1 NEL,
/// bidi embeddings/overrides/isolates/marks).
const HOSTILE_CHARS: &[char] = &[
    '\0', '\u{7}', '\u{8}', '\u{1b}', '\u{7f}', '\u{85}', '\u{202a}', '\u{202b}', '\u{202c}',
    '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200e}', '\u{200f}',
];

fn assert_no_hostile_chars(name: &str, text: &str) {
    for c in HOSTILE_CHARS.iter().chain(&['\t', '\r']) {
        assert!(!text.contains(*c), "{name} carries U+{:04X}", *c as u32);
    }
    // JSON escapes of the same characters.
    for esc in [
        "\\u0000", "\\u0007", "\\u0008", "\\u001b", "\\u007f", "\\u0085",
    ] {
        assert!(!text.contains(esc), "{name} carries {esc}");
    }
}

/// `stats --json` of `path`: the `cleaning` object.
fn cleaning_of(path: &Path) -> serde_json::Value {
    let out = synthcti()
        .args(["stats", "--json", "--input"])
        .arg(path)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", path.display());
    assert!(
        stderr.contains("control/bidi character(s)"),
        "{}: no log line: {stderr}",
        path.display()
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["cleaning"].clone()
}

/// Control characters in original rows (CSV cells, JSON strings incl. `\u0000` escapes,
/// JSONL) are stripped on read, counted in stats and in augment's report, and reach no
/// output file (augmented.*, export --to csv); tabs and line breaks become spaces.
#[test]
fn control_characters_are_stripped_counted_and_never_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nasty = "\u{0}\u{7}\u{8}\u{1b}[31m\u{7f}\u{85}\u{202e}\u{202a}\u{202b}\u{202c}\u{202d}\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}";
    // 17 removed characters per `nasty`; "\t" and "\r\n" are two spaced ones.
    let mut rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(TINY).expect("tiny")).expect("json");
    for (i, r) in rows.iter_mut().enumerate().filter(|(i, _)| i % 5 == 0) {
        let text = r["text"].as_str().expect("text").to_string();
        r["text"] = format!("{nasty}{text}\tend\r\nline {i}").into();
        let title = r["doc_title"].as_str().unwrap_or("t").to_string();
        r["doc_title"] = format!("{title}\u{1b}]8;;http://evil\u{7}").into();
    }
    let dirty = rows.iter().step_by(5).count() as u64;
    // TRAM JSON (serde_json writes NUL/ESC/BEL/BS/DEL as \u escapes, bidi raw).
    let tram = dir.path().join("ctl.json");
    std::fs::write(&tram, serde_json::to_string_pretty(&rows).expect("json")).expect("write");
    // JSONL.
    let jsonl = dir.path().join("ctl.jsonl");
    let mut body = String::new();
    for r in &rows {
        body.push_str(&r.to_string());
        body.push('\n');
    }
    std::fs::write(&jsonl, body).expect("write");
    // CSV (quoted cells keep tabs and line breaks).
    let csv_path = dir.path().join("ctl.csv");
    let mut w = csv::Writer::from_path(&csv_path).expect("csv");
    w.write_record(["text", "label", "doc_title"]).expect("csv");
    for r in &rows {
        let cell = |k: &str| r[k].as_str().unwrap_or("").to_string();
        w.write_record([cell("text"), cell("label"), cell("doc_title")])
            .expect("csv");
    }
    w.flush().expect("csv");
    drop(w);

    for path in [&tram, &jsonl, &csv_path] {
        let c = cleaning_of(path);
        assert_eq!(c["rows"], dirty, "{}: {c}", path.display());
        assert_eq!(c["removed_chars"], dirty * 19, "{}: {c}", path.display());
        assert_eq!(c["spaced_chars"], dirty * 2, "{}: {c}", path.display());
        assert!(c["first_line"].as_u64().is_some(), "{c}");
        let out_dir = dir.path().join(format!(
            "export-{}",
            path.extension().and_then(|e| e.to_str()).expect("ext")
        ));
        export_ok(path, "csv", &out_dir);
        let csv = std::fs::read_to_string(out_dir.join("dataset.csv")).expect("csv");
        assert_no_hostile_chars("dataset.csv", &csv);
        assert!(csv.contains("end line 0"), "tab and CR LF became spaces");
    }

    // augment (procedure examples only: no LLM): the outputs are clean, the report counts.
    let out = dir.path().join("aug");
    let o = synthcti()
        .args(["augment", "--no-progress", "--source", "procedures"])
        .args(["--base-url", "http://127.0.0.1:9/v1", "--input"])
        .arg(&tram)
        .arg("--output")
        .arg(&out)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in ["augmented.json", "augmented.jsonl", "report.md"] {
        let text = std::fs::read_to_string(out.join(name)).expect(name);
        assert_no_hostile_chars(name, &text);
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report"))
            .expect("json");
    assert_eq!(report["input_cleaning"]["rows"], dirty);
    assert_eq!(report["input_cleaning"]["removed_chars"], dirty * 19);
    let md = std::fs::read_to_string(out.join("report.md")).expect("md");
    assert!(md.contains("input cleaning: removed"), "{md}");
}
