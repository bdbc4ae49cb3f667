//! Claims that survive multiplicity: p-values of paired differences and Holm's step-down
//! adjustment over the family of intervals a table shows.
//!
//! A sweep names one **primary** comparison (tested alone at α = 0.05) and puts every other
//! interval it reports in one **family**. Holm (1979) orders the family's p-values
//! `p(1) ≤ … ≤ p(m)` and rejects `H(i)` while `p(j) ≤ α / (m − j + 1)` for every `j ≤ i`; the
//! adjusted p-value is `max over j ≤ i of min(1, (m − j + 1) · p(j))`.
//!
//! Intervals are made to agree with those decisions: the member of rank `i` gets the
//! interval at level `1 − α / (m − k + 1)`, where `k` is the smaller of `i` and the rank of
//! the first member Holm keeps (fails to reject). A rejected member's interval excludes 0,
//! a kept member's contains 0, and every interval is at least as wide as the unadjusted
//! one — the Bonferroni interval for the member with the smallest p-value, one of the
//! usual "Holm intervals" for the rest (they are not simultaneous intervals for the whole
//! family; the decisions are what Holm controls, at family-wise error ≤ α).
//!
//! Student's t comes from `statrs` (no default features: no nalgebra, no rand).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// The family-wise error rate every table is held to.
pub const ALPHA: f64 = 0.05;

/// The `p` quantile of Student's t with `df` degrees of freedom (`df ≥ 1`).
pub fn t_quantile(p: f64, df: usize) -> f64 {
    match StudentsT::new(0.0, 1.0, df.max(1) as f64) {
        Ok(t) => t.inverse_cdf(p),
        Err(_) => f64::NAN,
    }
}

/// Two-sided p-value of a t statistic with `df` degrees of freedom.
pub fn t_two_sided_p(t: f64, df: usize) -> f64 {
    if t.is_nan() {
        return 1.0;
    }
    match StudentsT::new(0.0, 1.0, df.max(1) as f64) {
        Ok(dist) => (2.0 * dist.cdf(-t.abs())).clamp(0.0, 1.0),
        Err(_) => 1.0,
    }
}

/// What Holm made of one member of a family.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HolmAdjusted {
    /// The unadjusted two-sided p-value.
    pub p: f64,
    /// The Holm-adjusted p-value.
    pub p_holm: f64,
    /// The confidence level of [`ci`](Self::ci) (≥ 0.95).
    pub level: f64,
    /// The interval at that level.
    pub ci: [f64; 2],
    /// Rejected by Holm at family-wise α: the interval excludes 0.
    pub significant: bool,
}

/// One member of a family: a mean difference, its standard error and degrees of freedom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Member {
    /// Mean difference.
    pub mean: f64,
    /// Standard error of the mean (Nadeau–Bengio corrected).
    pub se: f64,
    /// Degrees of freedom (pairs − 1).
    pub df: usize,
}

impl Member {
    /// Two-sided p-value of `mean / se` (1 when the interval is undefined, 0 for an exact
    /// non-zero difference with no spread).
    pub fn p(&self) -> f64 {
        if self.df == 0 || !self.se.is_finite() {
            return 1.0;
        }
        if self.se == 0.0 {
            return if self.mean == 0.0 { 1.0 } else { 0.0 };
        }
        t_two_sided_p(self.mean / self.se, self.df)
    }

    /// The two-sided interval at confidence `level`.
    pub fn interval(&self, level: f64) -> [f64; 2] {
        if self.df == 0 {
            return [f64::NEG_INFINITY, f64::INFINITY];
        }
        let half = t_quantile(1.0 - (1.0 - level) / 2.0, self.df) * self.se;
        [self.mean - half, self.mean + half]
    }
}

/// Holm's step-down adjustment at family-wise `alpha`, with intervals that agree with its
/// decisions (see the module doc). The output is in the order of `family`.
pub fn holm(family: &[Member], alpha: f64) -> Vec<HolmAdjusted> {
    let m = family.len();
    let p: Vec<f64> = family.iter().map(Member::p).collect();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    // Rank (0-based) of the first member Holm keeps.
    let first_kept = order
        .iter()
        .enumerate()
        .find(|&(rank, &i)| p[i] > alpha / (m - rank) as f64)
        .map_or(m, |(rank, _)| rank);
    let mut out = vec![None; m];
    let mut running_max: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running_max = running_max.max(((m - rank) as f64 * p[i]).min(1.0));
        let k = rank.min(first_kept);
        let level = 1.0 - alpha / (m - k) as f64;
        out[i] = Some(HolmAdjusted {
            p: p[i],
            p_holm: running_max,
            level,
            ci: family[i].interval(level),
            significant: rank < first_kept,
        });
    }
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_table() {
        for (df, want) in [
            (1, 12.7062),
            (2, 4.3027),
            (4, 2.7764),
            (14, 2.1448),
            (30, 2.0423),
        ] {
            assert!((t_quantile(0.975, df) - want).abs() < 1e-3, "df {df}");
            assert!((t_quantile(0.975, df) - super::super::metrics::t_975(df)).abs() < 1e-3);
        }
        // A two-sided p of the 0.975 quantile is 0.05.
        assert!((t_two_sided_p(2.1448, 14) - 0.05).abs() < 1e-4);
    }

    /// Holm by hand: p = 0.001, 0.02, 0.03, 0.5 at α 0.05, m 4 → thresholds 0.0125,
    /// 0.0167, 0.025, 0.05: the first is rejected, the second kept, so are all after it.
    #[test]
    fn holm_by_hand() {
        // Build members with chosen p-values: mean = t(1 − p/2, df) · se.
        let df = 14;
        let member = |p: f64| Member {
            mean: t_quantile(1.0 - p / 2.0, df),
            se: 1.0,
            df,
        };
        let family = [member(0.03), member(0.001), member(0.5), member(0.02)];
        let adj = holm(&family, 0.05);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(close(adj[1].p, 0.001) && close(adj[1].p_holm, 0.004));
        assert!(close(adj[3].p_holm, 0.06));
        assert!(close(adj[0].p_holm, 0.06), "monotone: max(0.06, 2 · 0.03)");
        assert!(close(adj[2].p_holm, 0.5));
        assert_eq!(
            adj.iter().map(|a| a.significant).collect::<Vec<_>>(),
            [false, true, false, false]
        );
        // Levels: rank 0 at 1 − 0.05/4; every later rank at the first kept rank's level.
        assert!(close(adj[1].level, 1.0 - 0.0125));
        for i in [0, 2, 3] {
            assert!(close(adj[i].level, 1.0 - 0.05 / 3.0), "member {i}");
        }
        // Intervals agree with the decisions.
        for a in &adj {
            assert_eq!(a.significant, a.ci[0] > 0.0 || a.ci[1] < 0.0, "{a:?}");
        }
    }

    #[test]
    fn a_family_of_one_is_the_plain_test() {
        let m = Member {
            mean: 0.05,
            se: 0.02,
            df: 14,
        };
        let adj = holm(&[m], 0.05);
        assert!((adj[0].p - adj[0].p_holm).abs() < 1e-12);
        assert!((adj[0].level - 0.95).abs() < 1e-12);
        let half = 2.1448 * 0.02;
        assert!((adj[0].ci[0] - (0.05 - half)).abs() < 1e-4);
        assert!(adj[0].significant);
    }

    #[test]
    fn undefined_members_are_never_significant() {
        let none = Member {
            mean: 0.3,
            se: 0.1,
            df: 0,
        };
        let flat = Member {
            mean: 0.0,
            se: 0.0,
            df: 4,
        };
        let adj = holm(&[none, flat], 0.05);
        assert!(adj.iter().all(|a| !a.significant && a.p == 1.0));
    }
}
