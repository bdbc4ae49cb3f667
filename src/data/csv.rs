//! CSV: CTI-to-MITRE's native file (`,label_tec,label_subtec,tec_name,sentence`) and generic
//! CSV with named columns, comma- or tab-separated, read record by record.

use std::path::Path;

use super::detect::{csv_delimiter, head_bytes};
use super::read::{
    Cleaner, Labeler, RawSample, Read3, csv_columns, invalid, io_err, nonempty_text, open_input,
    parse_origin,
};
use super::{DataError, Format, Location, RawRows, ReadOptions};
use crate::text::clip;

/// The CSV header, BOM and surrounding spaces trimmed; a repeated name is an error.
fn csv_header(
    path: &Path,
    raw: &csv::StringRecord,
    cleaner: &mut Cleaner,
) -> Result<Vec<String>, DataError> {
    let header: Vec<String> = raw
        .iter()
        .map(|h| {
            cleaner
                .str(h.trim_start_matches('\u{feff}'))
                .trim()
                .to_string()
        })
        .collect();
    cleaner.end_row(1);
    for (i, h) in header.iter().enumerate() {
        if !h.is_empty() && header[..i].contains(h) {
            return Err(invalid(
                path,
                Location::File,
                format!("column {} appears more than once", clip(h)),
            ));
        }
    }
    Ok(header)
}

/// CSV (CTI-to-MITRE native or generic), read record by record.
pub(super) fn read_csv(
    path: &Path,
    format: Format,
    opts: &ReadOptions,
    out: &mut Labeler,
    keep_raw: bool,
) -> Result<Read3, DataError> {
    let delimiter = csv_delimiter(path, &head_bytes(path, opts)?);
    let file = open_input(path, opts, true)?;
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_reader(file);
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(1, |p| p.line());
        if e.is_io_error() {
            return match e.into_kind() {
                csv::ErrorKind::Io(source) => io_err(path, opts)(source),
                other => invalid(path, Location::Line(line), format!("{other:?}")),
            };
        }
        let problem = match e.kind() {
            csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("expected {expected_len} fields, found {len}"),
            _ => e.to_string(),
        };
        invalid(path, Location::Line(line), problem)
    };
    let mut cleaner = Cleaner::default();
    let header = csv_header(path, rdr.headers().map_err(csv_err)?, &mut cleaner)?;
    let find = |name: &str| header.iter().position(|h| h == name);
    let cols = csv_columns(format, opts, &header);
    let need = |name: &str| {
        find(name).ok_or_else(|| {
            invalid(
                path,
                Location::File,
                format!(
                    "missing column {} (columns: {})",
                    clip(name),
                    clip(&header.join(", "))
                ),
            )
        })
    };
    let (ti, li) = (need(&cols.text)?, need(&cols.label)?);
    let gi = cols.group.as_deref().map(need).transpose()?;
    let oi = find("origin");
    let mut raw_rows = Vec::new();
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(csv_err)? {
        let line = rec.position().map_or(0, |p| p.line());
        let cells: Vec<std::borrow::Cow<str>> = rec.iter().map(|c| cleaner.str(c)).collect();
        cleaner.end_row(line);
        let get = |i: usize| cells.get(i).map_or("", |c| c.as_ref());
        let label = get(li).trim().to_string();
        if label.is_empty() {
            return Err(invalid(path, Location::Line(line), "empty label"));
        }
        let group = gi
            .map(get)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        out.push(RawSample {
            text: nonempty_text(path, Location::Line(line), get(ti), opts.max_text_chars)?,
            label,
            group,
            origin: parse_origin(path, Location::Line(line), oi.map(get))?,
            line,
        })?;
        if keep_raw {
            raw_rows.push(
                cells
                    .into_iter()
                    .map(std::borrow::Cow::into_owned)
                    .collect(),
            );
        }
    }
    let raw = keep_raw.then_some(RawRows::Csv {
        header,
        rows: raw_rows,
    });
    Ok((cols, raw, cleaner.total))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{read, write};
    use super::super::{CtiLevel, Format, ReadOptions, read_dataset};
    use crate::catalog::Catalog;

    #[test]
    fn cti_csv_reads_both_levels() {
        let content = ",label_tec,label_subtec,tec_name,sentence\n\
                       6,T1557,T1557.002,ARP Cache Poisoning,ARP resolves addresses.\n";
        let (_d, p) = write("c.csv", content.as_bytes());
        let cat = Catalog::bundled();
        let ds = read_dataset(&p, &ReadOptions::default(), cat).unwrap();
        assert_eq!(ds.format, Format::CtiToMitre);
        assert_eq!(ds.samples[0].label, "T1557");
        let opts = ReadOptions {
            cti_level: CtiLevel::Subtechnique,
            ..Default::default()
        };
        assert_eq!(
            read_dataset(&p, &opts, cat).unwrap().samples[0].label,
            "T1557.002"
        );
    }

    #[test]
    fn csv_errors_name_line_and_problem() {
        let e = read("g.csv", "text,label\nok,T1003\n,T1003\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("g.csv: line 3: empty text"), "{e}");
        let e = read("g.csv", "sentence,label\nok,T1003\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing column \"text\""), "{e}");
        let e = read("g.csv", "text,label\nok,T1003,extra\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("expected 2 fields"),
            "{e}"
        );
        let e = read("g.csv", "text,label\nok,T9999\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("T9999"), "{e}");
        let e = read("g.csv", "text,label\nok,credential dumping\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an ATT&CK technique id"), "{e}");
        let (_d, p) = write("u.csv", b"text,label\nok \xff\xfe,T1003\n");
        let e = read_dataset(&p, &ReadOptions::default(), Catalog::bundled())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("invalid UTF-8"), "{e}");
    }
}
