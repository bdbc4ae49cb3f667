//! Whole datasets: the indicators of each row (`synthcti iocs`) and a desensitized copy in
//! the same format with a private mapping (`synthcti redact`).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::recognize::{Indicator, IndicatorKind, RECOGNIZER};
use super::redact::{Numbering, Placeholder};
use super::surrogate::Surrogates;
use crate::data::{Dataset, RawRows};

/// Surrogate draws tried before a value already given to another indicator is reused.
const SURROGATE_ATTEMPTS: usize = 64;

/// What replaces an indicator in a desensitized copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Fill {
    /// Valid-looking values from reserved ranges (`192.0.2.7`, `sync-cdn.example.net`).
    Surrogates,
    /// Typed placeholders (`<IP_1>`).
    Placeholders,
}

/// The indicators of one row.
#[derive(Debug, Clone, Serialize)]
pub struct RowIndicators {
    /// 1-based line (record) of the row in the file.
    pub line: u64,
    /// 0-based row index.
    pub row: usize,
    /// Its indicators, in text order.
    pub indicators: Vec<Indicator>,
}

/// The indicators of every row's text that has any.
pub fn row_indicators(ds: &Dataset) -> Vec<RowIndicators> {
    ds.samples
        .iter()
        .zip(&ds.lines)
        .enumerate()
        .filter_map(|(row, (s, &line))| {
            let indicators = RECOGNIZER.find(&s.text);
            (!indicators.is_empty()).then_some(RowIndicators {
                line,
                row,
                indicators,
            })
        })
        .collect()
}

/// One replaced indicator, as kept in the mapping file.
#[derive(Debug, Clone, Serialize)]
pub struct MappingEntry {
    /// Its placeholder (the same value has the same one across the file).
    pub placeholder: String,
    /// Its kind.
    pub kind: IndicatorKind,
    /// The value it hides (refanged).
    pub original: String,
    /// What the copy has instead.
    pub replacement: String,
    /// Occurrences replaced.
    pub occurrences: usize,
}

/// The mapping of a desensitized copy: what to put back to reverse it.
#[derive(Debug, Clone, Serialize)]
pub struct Mapping {
    /// How indicators were replaced.
    pub fill: Fill,
    /// Seed of the surrogates.
    pub seed: u64,
    /// Surrogates given to more than one value (their entries cannot be reversed alone).
    pub shared_surrogates: usize,
    /// Every replaced value.
    pub entries: Vec<MappingEntry>,
}

/// Replaces the indicators of every string cell of `raw` (CSV cells; JSON string values at
/// any depth, not keys), the same value by the same replacement across the file.
pub fn redact_raw(raw: &mut RawRows, fill: Fill, seed: u64) -> Mapping {
    let mut numbering = Numbering::default();
    let mut redact = |s: &mut String| *s = numbering.redact(s);
    match raw {
        RawRows::Csv { rows, .. } => rows.iter_mut().flatten().for_each(&mut redact),
        RawRows::Json(values) => values.iter_mut().for_each(|v| each_string(v, &mut redact)),
    }
    let replacements = replacements(&numbering.originals, fill, seed);
    if fill == Fill::Surrogates {
        let put = |s: &mut String| *s = put_back(s, &replacements.0);
        match raw {
            RawRows::Csv { rows, .. } => rows.iter_mut().flatten().for_each(put),
            RawRows::Json(values) => values.iter_mut().for_each(|v| each_string(v, &mut { put })),
        }
    }
    let entries = numbering
        .originals
        .iter()
        .map(|(p, original)| MappingEntry {
            placeholder: p.to_string(),
            kind: p.kind,
            original: original.clone(),
            replacement: replacements
                .0
                .get(p)
                .cloned()
                .unwrap_or_else(|| p.to_string()),
            occurrences: numbering.occurrences.get(p).copied().unwrap_or(0),
        })
        .collect();
    Mapping {
        fill,
        seed,
        shared_surrogates: replacements.1,
        entries,
    }
}

/// Each placeholder's replacement, distinct where [`SURROGATE_ATTEMPTS`] draws allow, and
/// how many had to share one.
fn replacements(
    originals: &BTreeMap<Placeholder, String>,
    fill: Fill,
    seed: u64,
) -> (BTreeMap<Placeholder, String>, usize) {
    let mut out = BTreeMap::new();
    if fill == Fill::Placeholders {
        return (out, 0);
    }
    let s = Surrogates::new(seed);
    let mut used = HashSet::new();
    let mut shared = 0;
    for (p, original) in originals {
        let draw = |k: usize| s.value(&format!("dataset#{k}"), *p, Some(original));
        let v = (0..SURROGATE_ATTEMPTS)
            .map(draw)
            .find(|v| !used.contains(v))
            .unwrap_or_else(|| {
                shared += 1;
                draw(0)
            });
        used.insert(v.clone());
        out.insert(*p, v);
    }
    (out, shared)
}

/// `s` with its placeholders replaced from `values` (others left as they are).
fn put_back(s: &str, values: &BTreeMap<Placeholder, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (range, p) in super::redact::find_placeholders(s) {
        if let Some(v) = values.get(&p) {
            out.push_str(&s[at..range.start]);
            out.push_str(v);
            at = range.end;
        }
    }
    out.push_str(&s[at..]);
    out
}

/// Applies `f` to every string value inside `v`.
fn each_string(v: &mut Value, f: &mut impl FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|i| each_string(i, f)),
        Value::Object(map) => map.values_mut().for_each(|i| each_string(i, f)),
        _ => {}
    }
}

/// Indicators found, by kind, over `rows`.
pub fn counts(rows: &[RowIndicators]) -> BTreeMap<IndicatorKind, usize> {
    let mut out = BTreeMap::new();
    for r in rows {
        for i in &r.indicators {
            *out.entry(i.kind).or_default() += 1;
        }
    }
    out
}
