//! Reading numbers and strings off JSON that may lack them: every reader returns an
//! `Option` (or an empty value) instead of failing, and the formatters show a missing
//! value as [`DASH`].

use serde_json::Value;

/// What a missing value shows as.
pub(crate) const DASH: &str = "—";

/// The value at a JSON pointer (`/a/0/b`), `Null` when absent.
pub(crate) fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or(&Value::Null)
}

/// A finite number at `pointer`.
pub(crate) fn f64_at(v: &Value, pointer: &str) -> Option<f64> {
    at(v, pointer).as_f64().filter(|x| x.is_finite())
}

/// A non-negative integer at `pointer`.
pub(crate) fn u64_at(v: &Value, pointer: &str) -> Option<u64> {
    at(v, pointer).as_u64()
}

/// A string at `pointer`.
pub(crate) fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    at(v, pointer).as_str()
}

/// The array at `pointer` (empty when absent or not an array).
pub(crate) fn arr_at<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    at(v, pointer).as_array().map_or(&[], Vec::as_slice)
}

/// The object at `pointer` as (key, value) pairs (empty when absent or not an object).
pub(crate) fn obj_at<'a>(v: &'a Value, pointer: &str) -> Vec<(&'a str, &'a Value)> {
    at(v, pointer)
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default()
}

/// A value as one line of text: a string as is, a number or bool printed, `null` empty,
/// anything else as compact JSON.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// `x` with `prec` decimals, or [`DASH`].
pub(crate) fn fixed(x: Option<f64>, prec: usize) -> String {
    x.map_or_else(|| DASH.into(), |x| format!("{x:.prec$}"))
}

/// `x` with a sign and `prec` decimals (`+0.012`), or [`DASH`].
pub(crate) fn signed(x: Option<f64>, prec: usize) -> String {
    x.map_or_else(|| DASH.into(), |x| format!("{x:+.prec$}"))
}

/// An integer, or [`DASH`].
pub(crate) fn int(x: Option<u64>) -> String {
    x.map_or_else(|| DASH.into(), |x| x.to_string())
}

/// A string, or [`DASH`] when missing or empty.
pub(crate) fn or_dash(s: Option<&str>) -> String {
    match s {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => DASH.into(),
    }
}

/// `lo` and `hi` of a two-number array at `pointer`, when both are finite.
pub(crate) fn interval_at(v: &Value, pointer: &str) -> Option<[f64; 2]> {
    let a = arr_at(v, pointer);
    match a {
        [lo, hi] => {
            Some([lo.as_f64()?, hi.as_f64()?]).filter(|[l, h]| l.is_finite() && h.is_finite())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_and_mistyped_values_are_none_and_show_as_a_dash() {
        let v = json!({"a": {"b": "x", "n": 1.5, "i": [1, "2"]}});
        assert_eq!(f64_at(&v, "/a/n"), Some(1.5));
        assert_eq!(f64_at(&v, "/a/b"), None);
        assert_eq!(u64_at(&v, "/nope"), None);
        assert_eq!(fixed(None, 2), DASH);
        assert_eq!(signed(Some(0.0123), 3), "+0.012");
        assert_eq!(interval_at(&v, "/a/i"), None);
        assert!(arr_at(&v, "/a/b").is_empty());
        assert!(obj_at(&json!(null), "").is_empty());
        assert_eq!(text(&json!({"k": 1})), "{\"k\":1}");
    }
}
