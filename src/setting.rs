//! [`SettingError`]: a setting outside the values it accepts, named by its full TOML key;
//! and `check_range`, the one range check every numeric setting goes through.

use std::fmt;
use std::ops::{Bound, RangeBounds};

/// Shown instead of a value that may be a secret (e.g. an API key pasted as
/// `llm.api_key_env`).
pub const NOT_SHOWN: &str = "a value that is not shown";

/// A setting outside the values it accepts, e.g.
/// `llm.timeout_secs must be in [0.01, 86400], got 1e-300`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key} must be {allowed}, got {value}")]
pub struct SettingError {
    /// The full dotted TOML key, e.g. `llm.timeout_secs`.
    pub key: String,
    /// What the setting accepts.
    pub allowed: Allowed,
    /// The rejected value as written in messages ([`NOT_SHOWN`] where it may be a secret).
    pub value: String,
}

impl SettingError {
    /// `key` breaks `rule`; `value` is shown as given.
    pub(crate) fn rule(key: &str, rule: &'static str, value: impl fmt::Display) -> Self {
        Self {
            key: key.to_owned(),
            allowed: Allowed::Rule(rule),
            value: value.to_string(),
        }
    }
}

/// The values a setting accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum Allowed {
    /// Integers from `lo` to `hi`, both included: `in 1..=64`.
    Count {
        /// The smallest.
        lo: u64,
        /// The largest.
        hi: u64,
    },
    /// Finite numbers between two bounds: `in [0.01, 86400]`, `in (0, 1]`, `at least 0`.
    Interval {
        /// The lower bound.
        low: Bound<f64>,
        /// The upper bound.
        high: Bound<f64>,
    },
    /// A rule no range expresses, read after "must be": `non-empty`.
    Rule(&'static str),
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allowed::Count { lo, hi } => write!(f, "in {lo}..={hi}"),
            Allowed::Interval {
                low: Bound::Included(lo),
                high: Bound::Unbounded,
            } => write!(f, "at least {lo}"),
            Allowed::Interval { low, high } => {
                let (open, lo) = match low {
                    Bound::Included(lo) => ('[', lo.to_string()),
                    Bound::Excluded(lo) => ('(', lo.to_string()),
                    Bound::Unbounded => ('(', "-inf".to_owned()),
                };
                let (hi, close) = match high {
                    Bound::Included(hi) => (hi.to_string(), ']'),
                    Bound::Excluded(hi) => (hi.to_string(), ')'),
                    Bound::Unbounded => ("inf".to_owned(), ')'),
                };
                write!(f, "in {open}{lo}, {hi}{close}")
            }
            Allowed::Rule(rule) => f.write_str(rule),
        }
    }
}

/// A number a setting may hold: integers show a closed range as `lo..=hi`; floats must
/// also be finite.
pub(crate) trait Number: Copy + PartialOrd + fmt::Debug {
    /// `lo..=hi` as an [`Allowed`].
    fn closed(lo: Self, hi: Self) -> Allowed;
    /// The number as a bound of an [`Allowed::Interval`].
    fn as_f64(self) -> f64;
    /// Not NaN or infinite.
    fn finite(self) -> bool;
}

macro_rules! integer {
    ($($t:ty),*) => {$(
        impl Number for $t {
            fn closed(lo: Self, hi: Self) -> Allowed {
                Allowed::Count { lo: lo as u64, hi: hi as u64 }
            }
            fn as_f64(self) -> f64 {
                self as f64
            }
            fn finite(self) -> bool {
                true
            }
        }
    )*};
}

macro_rules! float {
    ($($t:ty),*) => {$(
        impl Number for $t {
            fn closed(lo: Self, hi: Self) -> Allowed {
                Allowed::Interval {
                    low: Bound::Included(lo.into()),
                    high: Bound::Included(hi.into()),
                }
            }
            fn as_f64(self) -> f64 {
                self.into()
            }
            fn finite(self) -> bool {
                self.is_finite()
            }
        }
    )*};
}

integer!(u32, u64, usize);
float!(f32, f64);

/// `value` of the setting `key` (the full TOML key) is finite and within `range`, e.g.
/// `check_range("llm.top_p", top_p, (Bound::Excluded(0.0), Bound::Included(1.0)))`.
pub(crate) fn check_range<T: Number>(
    key: &str,
    value: T,
    range: impl RangeBounds<T>,
) -> Result<(), SettingError> {
    if value.finite() && range.contains(&value) {
        return Ok(());
    }
    let allowed = match (range.start_bound(), range.end_bound()) {
        (Bound::Included(&lo), Bound::Included(&hi)) => T::closed(lo, hi),
        (low, high) => Allowed::Interval {
            low: low.map(|x| x.as_f64()),
            high: high.map(|x| x.as_f64()),
        },
    };
    Err(SettingError {
        key: key.to_owned(),
        allowed,
        value: format!("{value:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(r: Result<(), SettingError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn ranges_name_the_key_the_bounds_and_the_value() {
        assert!(check_range("a.n", 64usize, 1..=64).is_ok());
        assert_eq!(
            message(check_range("cluster.k_max", 100_000usize, 1..=64)),
            "cluster.k_max must be in 1..=64, got 100000"
        );
        assert_eq!(
            message(check_range("llm.timeout_secs", 1e-300, 0.01..=86_400.0)),
            "llm.timeout_secs must be in [0.01, 86400], got 1e-300"
        );
        let open = (Bound::Excluded(0.0f32), Bound::Included(1.0));
        assert!(check_range("llm.top_p", 1.0f32, open).is_ok());
        assert_eq!(
            message(check_range("llm.top_p", 0.0f32, open)),
            "llm.top_p must be in (0, 1], got 0.0"
        );
        assert_eq!(
            message(check_range("generate.max_cost", -1.0, 0.0..)),
            "generate.max_cost must be at least 0, got -1.0"
        );
        assert_eq!(
            message(check_range("x.n", 0u32, 1..)),
            "x.n must be at least 1, got 0"
        );
    }

    #[test]
    fn floats_must_be_finite() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let e = check_range("x.f", bad, 0.0..).unwrap_err();
            assert_eq!(e.key, "x.f");
            assert_eq!(e.value, format!("{bad:?}"));
        }
        let e = check_range("x.g", f32::NAN, -1.0..=1.0).unwrap_err();
        assert_eq!(e.to_string(), "x.g must be in [-1, 1], got NaN");
    }

    #[test]
    fn rules_read_after_must_be() {
        let e = SettingError::rule("llm.model", "non-empty", "\" \"");
        assert_eq!(e.to_string(), "llm.model must be non-empty, got \" \"");
        assert_eq!(e.allowed, Allowed::Rule("non-empty"));
    }
}
