//! JSON Lines: one object per line, read line by line.

use std::io::{BufRead, BufReader};
use std::path::Path;

use super::detect::extension;
use super::json::{StrictValue, label_json};
use super::read::{BOM, Labeler, Read3, invalid, io_err, open_input};
use super::{DataError, Location, ReadOptions};

/// The hint added to a JSON Lines error when a line ends inside a value.
const JSONL_ONE_PER_LINE: &str =
    "JSON Lines needs one complete object per line; a TRAM file is a JSON list [...] of objects";

/// JSON Lines: one object per line, read line by line (each line at most
/// `max_line_bytes`); the columns are decided over all lines.
pub(super) fn read_jsonl(
    path: &Path,
    opts: &ReadOptions,
    out: &mut Labeler,
    keep_raw: bool,
) -> Result<Read3, DataError> {
    let mut reader = BufReader::new(open_input(path, opts, true)?);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut values = Vec::new();
    let mut lines = Vec::new();
    loop {
        buf.clear();
        if reader
            .read_until(b'\n', &mut buf)
            .map_err(io_err(path, opts))?
            == 0
        {
            break;
        }
        line_no += 1;
        let bytes = match line_no {
            1 => buf.strip_prefix(BOM).unwrap_or(&buf),
            _ => &buf[..],
        };
        let line = std::str::from_utf8(bytes)
            .map_err(|_| invalid(path, Location::Line(line_no), "invalid UTF-8"))?;
        if line.trim().is_empty() {
            continue;
        }
        let StrictValue(v) = serde_json::from_str(line).map_err(|e| {
            let at = Location::LineColumn(line_no, e.column() as u64);
            let first = values.is_empty();
            if e.is_eof() && first && extension(path).as_deref() == Some("json") {
                invalid(
                    path,
                    at,
                    format!(
                        "expected a JSON list of {{text, label, doc_title}} objects (TRAM) or \
                         one JSON object per line (JSON Lines), found a JSON object spread over \
                         several lines ({e})"
                    ),
                )
            } else if e.is_eof() {
                invalid(
                    path,
                    at,
                    format!("invalid JSON: {e} ({JSONL_ONE_PER_LINE})"),
                )
            } else {
                invalid(path, at, format!("invalid JSON: {e}"))
            }
        })?;
        values.push(v);
        lines.push(line_no);
    }
    label_json(path, opts, out, keep_raw, values, &lines)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{read, write};
    use super::super::{ReadOptions, read_dataset};
    use crate::catalog::Catalog;

    #[test]
    fn jsonl_reads_and_reports() {
        let ds = read(
            "d.jsonl",
            "{\"text\":\"a b\",\"label\":\"T1003\",\"doc_title\":\"r\"}\n\n{\"text\":\"c\",\"label\":\"T1059\"}\n",
        )
        .unwrap();
        assert_eq!(ds.samples.len(), 2);
        assert_eq!(ds.lines, vec![1, 3]);
        let e = read(
            "d.jsonl",
            "{\"text\":\"a\",\"label\":\"T1003\"}\nnot json\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2") && e.contains("invalid JSON"), "{e}");
        let (_d, p) = write("u.jsonl", b"{\"text\":\"\xff\",\"label\":\"T1003\"}\n");
        let e = read_dataset(&p, &ReadOptions::default(), Catalog::bundled())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1: invalid UTF-8"), "{e}");
    }
}
