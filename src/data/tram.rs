//! TRAM's native JSON: a top-level list of `{text, label, doc_title}` objects, walked
//! element by element so that every error names its line and column.

use std::io::Read;
use std::path::Path;

use super::json::{StrictValue, label_json};
use super::read::{BOM, Labeler, Read3, invalid, io_err, open_input};
use super::{DataError, Location, ReadOptions};

fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, DataError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count() as u64;
        invalid(path, Location::Line(line), "invalid UTF-8")
    })
}

fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count() as u64;
    let col = 1 + before.iter().rev().take_while(|&&b| b != b'\n').count() as u64;
    (line, col)
}

/// The 1-based lines of increasing byte offsets, counted in one pass over `text` (a
/// [`line_col`] per record would rescan the file from its start: quadratic).
fn lines_at(text: &str, offsets: &[usize]) -> Vec<u64> {
    let bytes = text.as_bytes();
    let (mut at, mut line) = (0, 1u64);
    offsets
        .iter()
        .map(|&offset| {
            let offset = offset.min(bytes.len());
            if offset < at {
                return line_col(text, offset).0; // not increasing: count from the start
            }
            line += bytes[at..offset].iter().filter(|&&b| b == b'\n').count() as u64;
            at = offset;
            line
        })
        .collect()
}

/// TRAM native JSON: a top-level list of objects. The list is walked element by element so
/// every error can name the line of its record.
pub(super) fn read_tram(
    path: &Path,
    opts: &ReadOptions,
    out: &mut Labeler,
    keep_raw: bool,
) -> Result<Read3, DataError> {
    let mut bytes = Vec::new();
    open_input(path, opts, false)?
        .read_to_end(&mut bytes)
        .map_err(io_err(path, opts))?;
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
    let text = utf8(path, bytes)?;
    let err_at = |offset: usize, problem: String| {
        let (l, c) = line_col(&text, offset);
        invalid(path, Location::LineColumn(l, c), problem)
    };
    let skip_ws = |mut i: usize| {
        while text.as_bytes().get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut pos = skip_ws(0);
    if text.as_bytes().get(pos) != Some(&b'[') {
        return Err(err_at(
            pos,
            "expected a JSON list of {text, label, doc_title} objects".into(),
        ));
    }
    pos = skip_ws(pos + 1);
    let mut values = Vec::new();
    let mut starts = Vec::new();
    if text.as_bytes().get(pos) == Some(&b']') {
        pos += 1;
    } else {
        loop {
            let mut stream =
                serde_json::Deserializer::from_str(&text[pos..]).into_iter::<StrictValue>();
            match stream.next() {
                Some(Ok(StrictValue(v))) => {
                    starts.push(pos);
                    values.push(v);
                    pos = skip_ws(pos + stream.byte_offset());
                }
                Some(Err(e)) => {
                    let (l, c) = line_col(&text, pos);
                    let (line, col) = if e.line() <= 1 {
                        (l, c + e.column() as u64 - 1)
                    } else {
                        (l + e.line() as u64 - 1, e.column() as u64)
                    };
                    let col = col.max(1);
                    return Err(invalid(
                        path,
                        Location::LineColumn(line, col),
                        format!("invalid JSON: {e}"),
                    ));
                }
                None => return Err(err_at(pos, "unexpected end of file inside the list".into())),
            }
            match text.as_bytes().get(pos) {
                Some(b',') => pos = skip_ws(pos + 1),
                Some(b']') => {
                    pos += 1;
                    break;
                }
                _ => return Err(err_at(pos, "expected ',' or ']' after a record".into())),
            }
        }
    }
    let end = skip_ws(pos);
    if end < text.len() {
        return Err(err_at(end, "trailing characters after the list".into()));
    }
    let lines = lines_at(&text, &starts);
    drop(text);
    label_json(path, opts, out, keep_raw, values, &lines)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::tests::read;
    use super::super::{Format, ReadOptions, read_dataset};
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn lines_at_counts_once_and_matches_line_col() {
        let text = "[\n{\"a\": 1},\n\n{\"b\": 2}, {\"c\": 3}\n]";
        let offsets = [2, 12, 22, 5];
        let expected: Vec<u64> = offsets.iter().map(|&o| line_col(text, o).0).collect();
        assert_eq!(lines_at(text, &offsets), expected);
        assert_eq!(lines_at(text, &[0, 1000]), vec![1, 5]);
    }

    #[test]
    fn tram_json_reads_and_remaps() {
        let ds = read(
            "t.json",
            r#"[
  {"text": "Dumps LSASS.", "label": "T1003.001", "doc_title": "A"},
  {"text": "Hijacks DLL search order.", "label": "T1574.002", "doc_title": "B"}
]"#,
        )
        .unwrap();
        assert_eq!(ds.format, Format::Tram);
        assert_eq!(ds.samples[1].label, "T1574.001");
        assert_eq!(ds.samples[1].group.as_deref(), Some("B"));
        assert_eq!(ds.lines, vec![2, 3]);
        assert_eq!(ds.labels.remapped["T1574.002"], ("T1574.001".into(), 1));
    }

    #[test]
    fn tram_json_errors_name_the_line() {
        let e = read(
            "t.json",
            "[\n {\"text\": \"a\", \"label\": \"T1003\"},\n {\"text\": \"\", \"label\": \"T1003\"}\n]",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("t.json: line 3: empty text"), "{e}");
        let e = read(
            "t.json",
            "[\n {\"text\": \"a\", \"label\": \"T1003\"},\n {\"text\": oops}\n]",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 3") && e.contains("invalid JSON"), "{e}");
        let e = read("t.json", "[{\"text\": \"a\"}]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field \"label\""), "{e}");
        let e = read("t.json", "[{\"text\": \"a\", \"label\": \"T1003\"}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn bundled_tram_reads() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/tram2_single_label.json");
        let ds = read_dataset(&p, &ReadOptions::default(), Catalog::bundled()).unwrap();
        assert_eq!(ds.samples.len(), 5089);
        let q = ds.quality();
        assert_eq!(q.duplicate_rows, 254); // same text and label (252 before T1574.002 → .001)
        assert_eq!(q.duplicate_texts, 275); // 273 without trimming surrounding whitespace
        assert_eq!(q.conflicting_texts, 21);
        assert_eq!(q.conflicting_rows, 45);
        assert!(ds.samples.iter().all(|s| s.group.is_some()));
    }
}
