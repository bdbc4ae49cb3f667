//! Format detection: the extension first, then the first bytes and the CSV header (and the
//! CSV delimiter, comma or tab).

use std::io::Read;
use std::path::Path;

use super::parquet;
use super::read::{BOM, io_err, open_input};
use super::{DataError, Format, ReadOptions};

/// The lower-cased extension of `path`.
pub(super) fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// The first 4 KiB of the file, without a BOM.
pub(super) fn head_bytes(path: &Path, opts: &ReadOptions) -> Result<Vec<u8>, DataError> {
    let mut head = Vec::with_capacity(4096);
    open_input(path, opts, false)?
        .take(4096)
        .read_to_end(&mut head)
        .map_err(io_err(path, opts))?;
    if head.starts_with(BOM) {
        head.drain(..BOM.len());
    }
    Ok(head)
}

/// The CSV delimiter: a tab for `.tsv`, or when the header line holds more tabs than
/// commas (a tab-separated file named `.csv` or without extension); else a comma.
pub(super) fn csv_delimiter(path: &Path, head: &[u8]) -> u8 {
    if extension(path).as_deref() == Some("tsv") {
        return b'\t';
    }
    let header_line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let count = |d: u8| header_line.iter().filter(|&&b| b == d).count();
    if count(b'\t') > count(b',') {
        b'\t'
    } else {
        b','
    }
}

pub(super) fn detect_format_with(path: &Path, opts: &ReadOptions) -> Result<Format, DataError> {
    let ext = extension(path);
    let head = head_bytes(path, opts)?;
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace());
    let csv_kind = || {
        let header_line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
        let header = String::from_utf8_lossy(header_line);
        let delimiter = char::from(csv_delimiter(path, &head));
        let cols: Vec<&str> = header.split(delimiter).map(|c| c.trim()).collect();
        if cols.contains(&"label_tec") && cols.contains(&"sentence") {
            Format::CtiToMitre
        } else {
            Format::Csv
        }
    };
    Ok(match (ext.as_deref(), first) {
        (Some("parquet" | "pq"), _) => Format::Parquet,
        (Some("jsonl" | "ndjson"), _) => Format::Jsonl,
        (Some("json"), Some(b'{')) => Format::Jsonl,
        (Some("json"), _) => Format::Tram,
        (Some("csv" | "tsv"), _) => csv_kind(),
        _ if head.starts_with(parquet::MAGIC) => Format::Parquet,
        (_, Some(b'[')) => Format::Tram,
        (_, Some(b'{')) => Format::Jsonl,
        (_, None) => return Err(DataError::Empty { path: path.into() }),
        _ => csv_kind(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::tests::read;

    #[test]
    fn tab_separated_files_are_detected_by_extension_and_header() {
        let content = "\tlabel_tec\tlabel_subtec\ttec_name\tsentence\n\
                       6\tT1557\tT1557.002\tARP Cache Poisoning\tARP, then DNS, resolves.\n";
        for name in ["c.tsv", "c.csv", "c.txt", "c"] {
            let ds = read(name, content).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(ds.format, Format::CtiToMitre, "{name}");
            assert_eq!(ds.samples[0].label, "T1557", "{name}");
            assert_eq!(ds.samples[0].text, "ARP, then DNS, resolves.", "{name}");
        }
        let ds = read("g.csv", "text\tlabel\nDumps, then exits.\tT1003\n").unwrap();
        assert_eq!(
            (ds.format, ds.samples[0].text.as_str()),
            (Format::Csv, "Dumps, then exits.")
        );
        // A comma-separated header with a tab inside a name stays comma-separated.
        let ds = read("h.csv", "text,label,a\tb\nDumps.,T1003,x\n").unwrap();
        assert_eq!(ds.samples[0].label, "T1003");
    }
}
