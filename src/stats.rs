//! Per-technique counts and the choice of under-represented techniques.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::data::{Cleaning, Dataset, LabelReport, Quality, Sample};
use crate::technique::TechniqueId;

/// Which techniques count as under-represented.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum UnderPolicy {
    /// Count strictly below the median count over techniques (default).
    #[default]
    BelowMedian,
    /// Count strictly below N.
    Below(usize),
    /// Count at or below the q quantile of counts (0 < q < 1), e.g. the bottom 25%.
    Quantile(f64),
}

impl FromStr for UnderPolicy {
    type Err = String;
    /// Parses `median`, `below:N` or `quantile:Q`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid policy {s:?}: expected median, below:N or quantile:Q");
        match s.split_once(':') {
            None if s == "median" => Ok(Self::BelowMedian),
            Some(("below", n)) => n.trim().parse().map(Self::Below).map_err(|_| bad()),
            Some(("quantile", q)) => match q.trim().parse::<f64>() {
                Ok(q) if q > 0.0 && q < 1.0 => Ok(Self::Quantile(q)),
                _ => Err(format!("{}; Q must be in (0, 1)", bad())),
            },
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for UnderPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BelowMedian => write!(f, "median"),
            Self::Below(n) => write!(f, "below:{n}"),
            Self::Quantile(q) => write!(f, "quantile:{q}"),
        }
    }
}

/// The median of a list of counts (mean of the two middle values for even lengths).
pub fn median(counts: &[usize]) -> f64 {
    quantile(counts, 0.5)
}

/// The q quantile of counts, linear interpolation between order statistics (numpy's default).
pub fn quantile(counts: &[usize], q: f64) -> f64 {
    if counts.is_empty() {
        return 0.0;
    }
    let mut v: Vec<usize> = counts.to_vec();
    v.sort_unstable();
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] as f64 + (v[hi] as f64 - v[lo] as f64) * (pos - lo as f64)
}

/// One technique's line in the stats table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TechniqueCount {
    /// Technique id.
    pub id: TechniqueId,
    /// Catalog name.
    pub name: String,
    /// Rows with this label.
    pub count: usize,
    /// Share of all rows.
    pub share: f64,
    /// Whether the policy marks it under-represented.
    pub under_represented: bool,
}

/// Stats of a dataset: per technique, totals, data quality.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetStats {
    /// The file.
    pub input: String,
    /// Rows.
    pub rows: usize,
    /// Distinct techniques.
    pub techniques: usize,
    /// Median count per technique.
    pub median_count: f64,
    /// The policy used.
    pub policy: UnderPolicy,
    /// The count threshold the policy resolved to (strictly below, or at or below for quantile).
    pub threshold: f64,
    /// Per technique, most frequent first.
    pub per_technique: Vec<TechniqueCount>,
    /// Duplicates and conflicts.
    pub quality: Quality,
    /// Remapped and unknown labels.
    pub labels: LabelReport,
    /// Control characters removed while reading.
    pub cleaning: Cleaning,
}

impl DatasetStats {
    /// The ids of the under-represented techniques, rarest first.
    pub fn under_represented(&self) -> Vec<&str> {
        let mut v: Vec<&TechniqueCount> = self
            .per_technique
            .iter()
            .filter(|t| t.under_represented)
            .collect();
        v.sort_by(|a, b| a.count.cmp(&b.count).then(a.id.cmp(&b.id)));
        v.into_iter().map(|t| t.id.as_str()).collect()
    }
}

/// Counts rows per label.
pub fn label_counts(samples: &[Sample]) -> BTreeMap<TechniqueId, usize> {
    let mut m = BTreeMap::new();
    for s in samples {
        *m.entry(s.label.clone()).or_default() += 1;
    }
    m
}

/// Which labels a policy marks under-represented, and the threshold it resolved to.
pub fn under_represented(
    counts: &BTreeMap<TechniqueId, usize>,
    policy: UnderPolicy,
) -> (Vec<TechniqueId>, f64) {
    let values: Vec<usize> = counts.values().copied().collect();
    let (threshold, inclusive) = match policy {
        UnderPolicy::BelowMedian => (median(&values), false),
        UnderPolicy::Below(n) => (n as f64, false),
        UnderPolicy::Quantile(q) => (quantile(&values, q), true),
    };
    let ids = counts
        .iter()
        .filter(|&(_, &c)| {
            let c = c as f64;
            if inclusive {
                c <= threshold
            } else {
                c < threshold
            }
        })
        .map(|(id, _)| id.clone())
        .collect();
    (ids, threshold)
}

/// Computes the stats of a dataset under a policy.
pub fn dataset_stats(ds: &Dataset, catalog: &Catalog, policy: UnderPolicy) -> DatasetStats {
    let counts = label_counts(&ds.samples);
    let (under, threshold) = under_represented(&counts, policy);
    let rows = ds.samples.len();
    let mut per_technique: Vec<TechniqueCount> = counts
        .iter()
        .map(|(id, &count)| TechniqueCount {
            id: id.clone(),
            name: catalog.name_of(id).to_string(),
            count,
            share: count as f64 / rows as f64,
            under_represented: under.contains(id),
        })
        .collect();
    per_technique.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
    DatasetStats {
        input: ds.path.display().to_string(),
        rows,
        techniques: counts.len(),
        median_count: median(&counts.values().copied().collect::<Vec<_>>()),
        policy,
        threshold,
        per_technique,
        quality: ds.quality(),
        labels: ds.labels.clone(),
        cleaning: ds.cleaning,
    }
}

/// Renders the stats as a readable table.
pub fn render_table(st: &DatasetStats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} rows, {} techniques, median {:.1} rows per technique",
        st.input, st.rows, st.techniques, st.median_count
    );
    let under = st
        .per_technique
        .iter()
        .filter(|t| t.under_represented)
        .count();
    let _ = writeln!(
        out,
        "under-represented (policy {}, threshold {:.1}): {under} techniques\n",
        st.policy, st.threshold
    );
    let _ = writeln!(
        out,
        "{:<10} {:>6} {:>7}  {:<5} name",
        "technique", "count", "share", "under"
    );
    for t in &st.per_technique {
        let name: String = t.name.chars().take(60).collect();
        let _ = writeln!(
            out,
            "{:<10} {:>6} {:>6.2}%  {:<5} {}",
            t.id,
            t.count,
            100.0 * t.share,
            if t.under_represented { "yes" } else { "" },
            name
        );
    }
    let q = &st.quality;
    let _ = writeln!(
        out,
        "\nduplicates: {} rows with the same text and label, {} repeated texts; \
         conflicts: {} texts with several labels ({} rows)",
        q.duplicate_rows, q.duplicate_texts, q.conflicting_texts, q.conflicting_rows
    );
    for (from, (to, n)) in &st.labels.remapped {
        let _ = writeln!(out, "remapped: {from} -> {to} (revoked), {n} rows");
    }
    for (id, n) in &st.labels.unknown {
        let _ = writeln!(out, "unknown label: {id}, {n} rows");
    }
    if st.labels.dropped_rows > 0 {
        let _ = writeln!(
            out,
            "dropped rows with unknown labels: {}",
            st.labels.dropped_rows
        );
    }
    if let Some(summary) = st.cleaning.summary() {
        let _ = writeln!(out, "input cleaning: {summary}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy() {
        assert_eq!(median(&[4, 1, 3, 2]), 2.5);
        assert_eq!(median(&[5]), 5.0);
        assert_eq!(quantile(&[1, 2, 3, 4, 5], 0.25), 2.0);
        assert_eq!(quantile(&[10, 20], 0.1), 11.0);
    }

    #[test]
    fn policies_choose_labels() {
        let counts: BTreeMap<TechniqueId, usize> = [("a", 1), ("b", 5), ("c", 10), ("d", 100)]
            .into_iter()
            .map(|(k, v)| (k.into(), v))
            .collect();
        assert_eq!(
            under_represented(&counts, UnderPolicy::BelowMedian).0,
            vec!["a", "b"]
        );
        assert_eq!(
            under_represented(&counts, UnderPolicy::Below(10)).0,
            vec!["a", "b"]
        );
        assert_eq!(
            under_represented(&counts, UnderPolicy::Quantile(0.25)).0,
            vec!["a"]
        );
    }

    #[test]
    fn policy_parses() {
        assert_eq!(
            "median".parse::<UnderPolicy>(),
            Ok(UnderPolicy::BelowMedian)
        );
        assert_eq!(
            "below:30".parse::<UnderPolicy>(),
            Ok(UnderPolicy::Below(30))
        );
        assert_eq!(
            "quantile:0.25".parse::<UnderPolicy>(),
            Ok(UnderPolicy::Quantile(0.25))
        );
        assert!("quantile:2".parse::<UnderPolicy>().is_err());
        assert!("nope".parse::<UnderPolicy>().is_err());
    }
}
