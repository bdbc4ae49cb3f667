//! [`Target`]: how many rows each technique should gain — one rule for `augment` (rows to
//! add) and `eval` (each label's deficit, scaled by the sweep's ratios).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::setting::{SettingError, check_range};
use crate::stats::median;
use crate::technique::TechniqueId;

/// Most rows `absolute:N` may add, or `to-count:N` may aim at, per technique.
pub const MAX_ABSOLUTE_TARGET: usize = 10_000;

/// Largest `ratio:R`.
pub const MAX_RATIO_TARGET: f64 = 100.0;

/// How many rows to add per technique.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Target {
    /// Up to the median count over all techniques (default).
    #[default]
    ToMedian,
    /// Up to the largest count.
    ToMax,
    /// Up to N rows.
    ToCount(usize),
    /// R × the technique's own count.
    Ratio(f64),
    /// N new rows per technique.
    Absolute(usize),
}

/// The counts a target is measured against.
struct Reference {
    median: f64,
    max: usize,
}

impl Target {
    /// The target's own limits, reported under `key` (the setting that holds the target):
    /// N of `absolute:N` and `to-count:N` at most [`MAX_ABSOLUTE_TARGET`], R of `ratio:R`
    /// finite in `[0, MAX_RATIO_TARGET]`.
    pub fn check(&self, key: &str) -> Result<(), SettingError> {
        match *self {
            Self::Absolute(n) | Self::ToCount(n) => check_range(key, n, 0..=MAX_ABSOLUTE_TARGET),
            Self::Ratio(r) => check_range(key, r, 0.0..=MAX_RATIO_TARGET),
            Self::ToMedian | Self::ToMax => Ok(()),
        }
    }

    fn reference(counts: &BTreeMap<TechniqueId, usize>) -> Reference {
        let values: Vec<usize> = counts.values().copied().collect();
        Reference {
            median: median(&values),
            max: values.iter().copied().max().unwrap_or(0),
        }
    }

    /// Rows a technique with `n` rows lacks (fractional: the median may fall between counts).
    fn deficit(&self, n: usize, r: &Reference) -> f64 {
        let n = n as f64;
        match *self {
            Self::ToMedian => (r.median - n).max(0.0),
            Self::ToMax => (r.max as f64 - n).max(0.0),
            Self::ToCount(c) => (c as f64 - n).max(0.0),
            Self::Ratio(ratio) => ratio * n,
            Self::Absolute(a) => a as f64,
        }
    }

    /// Every label's deficit to the target (0 for labels at or above it) — what `eval`
    /// multiplies by each ratio of its sweep.
    pub fn deficits(&self, counts: &BTreeMap<TechniqueId, usize>) -> BTreeMap<TechniqueId, f64> {
        let r = Self::reference(counts);
        counts
            .iter()
            .map(|(id, &n)| (id.clone(), self.deficit(n, &r)))
            .collect()
    }

    /// Rows to add to each selected technique — its deficit, rounded half up (a technique
    /// absent from `counts` has 0 rows).
    pub fn rows_to_add(
        &self,
        counts: &BTreeMap<TechniqueId, usize>,
        selected: &[TechniqueId],
    ) -> BTreeMap<TechniqueId, usize> {
        let r = Self::reference(counts);
        selected
            .iter()
            .map(|id| {
                let n = counts.get(id).copied().unwrap_or(0);
                // saturating: a huge float casts to usize::MAX
                (id.clone(), self.deficit(n, &r).round() as usize)
            })
            .collect()
    }
}

impl FromStr for Target {
    type Err = String;
    /// Parses `to-median`, `to-max`, `to-count:N`, `ratio:R` or `absolute:N` (`median` and
    /// `max` are accepted for the first two).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "invalid target {s:?}: expected to-median, to-max, to-count:N, ratio:R or absolute:N"
            )
        };
        let count = |n: &str| n.trim().parse::<usize>().map_err(|_| bad());
        let target = match s.split_once(':') {
            None if matches!(s, "to-median" | "median") => Self::ToMedian,
            None if matches!(s, "to-max" | "max") => Self::ToMax,
            Some(("to-count", n)) => Self::ToCount(count(n)?),
            Some(("absolute", n)) => Self::Absolute(count(n)?),
            Some(("ratio", r)) => Self::Ratio(r.trim().parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        target
            .check("target")
            .map_err(|e| format!("invalid target {s:?}: {e}"))?;
        Ok(target)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ToMedian => write!(f, "to-median"),
            Self::ToMax => write!(f, "to-max"),
            Self::ToCount(n) => write!(f, "to-count:{n}"),
            Self::Ratio(r) => write!(f, "ratio:{r}"),
            Self::Absolute(n) => write!(f, "absolute:{n}"),
        }
    }
}

impl TryFrom<String> for Target {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Target> for String {
    fn from(t: Target) -> String {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, usize)]) -> BTreeMap<TechniqueId, usize> {
        pairs.iter().map(|&(l, n)| (l.into(), n)).collect()
    }

    #[test]
    fn targets_parse_and_print() {
        for s in [
            "to-median",
            "to-max",
            "to-count:12",
            "ratio:0.5",
            "absolute:20",
        ] {
            assert_eq!(s.parse::<Target>().unwrap().to_string(), s);
        }
        assert_eq!("median".parse::<Target>(), Ok(Target::ToMedian));
        assert_eq!("max".parse::<Target>(), Ok(Target::ToMax));
        for bad in [
            "ratio:-1",
            "ratio:1e300",
            "ratio:NaN",
            "absolute:100001",
            "to-count:100001",
            "absolute:18446744073709551616",
            "half",
            "to-count:",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad}");
        }
    }

    /// Deficits are fractional (`eval` scales them), rows to add are rounded half up — so
    /// `to-median` adds ceil(median) − n, as before the two rules were merged.
    #[test]
    fn deficits_and_rows_follow_one_rule() {
        let c = counts(&[("a", 10), ("b", 4), ("c", 1), ("d", 30)]);
        let median = Target::ToMedian.deficits(&c);
        assert_eq!(median["c"], 6.0); // median of 1, 4, 10, 30 is 7
        assert_eq!(median["a"], 0.0);
        assert_eq!(Target::ToMax.deficits(&c)["b"], 26.0);
        assert_eq!(Target::ToCount(5).deficits(&c)["b"], 1.0);
        assert!(Target::ToMedian.deficits(&BTreeMap::new()).is_empty());

        let c = counts(&[("a", 4), ("b", 10), ("c", 100), ("d", 21)]);
        let sel: Vec<TechniqueId> = vec!["a".into(), "b".into(), "new".into()];
        let rows = |t: Target| t.rows_to_add(&c, &sel);
        assert_eq!(rows(Target::ToMedian)["a"], 12); // median 15.5 → 16 − 4
        assert_eq!(rows(Target::ToMedian)["new"], 16);
        assert_eq!(rows(Target::ToMax)["b"], 90);
        assert_eq!(rows(Target::Ratio(0.5))["b"], 5);
        assert_eq!(rows(Target::Absolute(7))["a"], 7);
        assert_eq!(rows(Target::ToCount(8))["a"], 4);
        assert_eq!(rows(Target::ToCount(8))["b"], 0);
    }
}
