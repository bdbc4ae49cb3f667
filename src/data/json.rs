//! What TRAM JSON and JSON Lines share: JSON read strictly (a key repeated in one object is
//! an error), records cleaned, and an object turned into a row.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::read::{
    Cleaner, Labeler, RawSample, Read3, invalid, named_columns, nonempty_text, parse_origin,
    warn_missing_groups,
};
use super::{Cleaning, Columns, DataError, Location, Origin, RawRows, ReadOptions};
use crate::text::{clip, clip_json};

/// Takes a string field of a JSON object; `number_ok`: a number is read as its digits
/// (group ids), otherwise it is an error (a numeric text or label is a broken file).
fn json_field(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    number_ok: bool,
    path: &Path,
    line: u64,
) -> Result<Option<String>, DataError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if number_ok => Ok(Some(n.to_string())),
        // TRAM multi-label files put a list; a one-element list is a single label.
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            Ok(a[0].as_str().map(str::to_string))
        }
        Some(other) => Err(invalid(
            path,
            Location::Line(line),
            format!(
                "field {} should be a string, found {}",
                clip(name),
                clip_json(other)
            ),
        )),
    }
}

pub(super) fn sample_from_json(
    value: &Value,
    cols: &Columns,
    opts: &ReadOptions,
    path: &Path,
    line: u64,
) -> Result<RawSample, DataError> {
    let obj = value.as_object().ok_or_else(|| {
        invalid(
            path,
            Location::Line(line),
            format!("expected a JSON object, found {}", clip_json(value)),
        )
    })?;
    let required = |name: &str| {
        json_field(obj, name, false, path, line)?.ok_or_else(|| {
            invalid(
                path,
                Location::Line(line),
                format!("missing field {}", clip(name)),
            )
        })
    };
    Ok(RawSample {
        text: nonempty_text(
            path,
            Location::Line(line),
            &required(&cols.text)?,
            opts.max_text_chars,
        )?,
        label: required(&cols.label)?,
        group: match &cols.group {
            Some(g) => json_field(obj, g, true, path, line)?.filter(|s| !s.trim().is_empty()),
            None => None,
        },
        origin: match obj.get("origin") {
            None | Some(Value::Null) => Origin::Original,
            Some(Value::String(s)) => parse_origin(path, Location::Line(line), Some(s))?,
            Some(other) => {
                return Err(invalid(
                    path,
                    Location::Line(line),
                    format!(
                        "field \"origin\" should be a string (original, synthetic or \
                         attack-procedure), found {}",
                        clip_json(other)
                    ),
                ));
            }
        },
        line,
    })
}

/// The columns of a JSON dataset. The group column (`doc_title`, else `group`) is taken
/// when any record has it, so a first record without one does not drop grouping.
pub(super) fn json_columns(opts: &ReadOptions, values: &[Value]) -> Columns {
    named_columns(opts, |name| {
        values
            .iter()
            .any(|v| v.as_object().is_some_and(|o| o.contains_key(name)))
    })
}

/// A JSON value read strictly: a key repeated in one object is an error (serde_json's
/// `Value` keeps the last silently). Nesting is bounded by serde_json's recursion limit.
pub(super) struct StrictValue(pub(super) Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "key {} appears twice in one object",
                    clip(&key)
                )));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Cleans JSON records (one per line of `lines`) in place.
pub(super) fn clean_json(
    path: &Path,
    values: &mut [Value],
    lines: &[u64],
) -> Result<Cleaning, DataError> {
    let mut cleaner = Cleaner::default();
    for (v, &line) in values.iter_mut().zip(lines) {
        cleaner
            .value(v)
            .map_err(|problem| invalid(path, Location::Line(line), problem))?;
        cleaner.end_row(line);
    }
    Ok(cleaner.total)
}
/// The records of a JSON list or JSON Lines file (`values`, each with its 1-based line):
/// cleaned, their columns found, each turned into a labelled sample.
pub(super) fn label_json(
    path: &Path,
    opts: &ReadOptions,
    out: &mut Labeler,
    keep_raw: bool,
    mut values: Vec<Value>,
    lines: &[u64],
) -> Result<Read3, DataError> {
    let cleaning = clean_json(path, &mut values, lines)?;
    let cols = json_columns(opts, &values);
    let rows = values
        .iter()
        .zip(lines)
        .map(|(v, &line)| sample_from_json(v, &cols, opts, path, line))
        .collect::<Result<Vec<_>, _>>()?;
    warn_missing_groups(path, &cols, &rows);
    for r in rows {
        out.push(r)?;
    }
    Ok((cols, keep_raw.then_some(RawRows::Json(values)), cleaning))
}
