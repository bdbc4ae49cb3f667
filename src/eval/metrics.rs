//! Classification metrics and their aggregation over folds × seeds.
//!
//! Conventions:
//! - the classes scored are those present in the **true** labels of the test part
//!   (scikit-learn's `labels=sorted(set(y_true))`), so every arm evaluated on one fold is
//!   scored on the same label set: an arm that starts predicting a class absent from the
//!   fold pays for it only through the recall of the true classes it displaces, never
//!   with an extra F1 of 0 that the baseline does not pay. The union-of-labels figure
//!   (scikit-learn's default) is kept as the secondary [`Scores::macro_f1_union`];
//! - a ratio with a zero denominator is 0 (`zero_division=0`);
//! - macro-F1 is the unweighted **mean of the per-class F1** — not the harmonic mean of
//!   macro-precision and macro-recall that `linfa`'s `ConfusionMatrix::f1_score` returns;
//! - rare-class macro-F1 is the mean F1 over the scored classes that had 1 to
//!   `rare_threshold` training rows (before augmentation); classes with **no** training row
//!   in the fold (F1 0 for every arm that adds no row of them) are reported apart, as
//!   [`Scores::unseen_macro_f1`], so they do not dilute rare-class differences.
//!
//! Arms share folds, so they are compared by [`PairedDelta`]: per fold × seed differences
//! with a t confidence interval.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::EvalError;
use super::multiplicity::Member;
use crate::technique::TechniqueId;

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// TP / (TP + FP), 0 when nothing was predicted as this class.
    pub precision: f64,
    /// TP / (TP + FN), 0 when the class has no true rows.
    pub recall: f64,
    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
    /// Number of true rows of the class.
    pub support: usize,
}

/// The scores of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Fraction of rows predicted correctly.
    pub accuracy: f64,
    /// Mean of the per-class F1 over the classes of the test truth.
    pub macro_f1: f64,
    /// Mean of the per-class F1 over the classes in the truth **or** the predictions
    /// (scikit-learn's default; moves with what an arm predicts — secondary only).
    pub macro_f1_union: f64,
    /// Mean F1 over the scored classes with 1 to `rare_threshold` training rows; `None`
    /// when there is no such class.
    pub rare_macro_f1: Option<f64>,
    /// Number of scored classes counted as rare.
    pub rare_classes: usize,
    /// Mean F1 over the scored classes with no training row; `None` when there is none.
    #[serde(default)]
    pub unseen_macro_f1: Option<f64>,
    /// Number of scored classes with no training row.
    #[serde(default)]
    pub unseen_classes: usize,
    /// Scores of every class of the test truth.
    pub per_class: BTreeMap<TechniqueId, ClassScores>,
}

/// Scores predictions against the truth.
///
/// `train_counts` gives the number of training rows of each class (a missing class has
/// 0); classes with 1 to `rare_threshold` of them make up the rare-class macro-F1, classes
/// with none the unseen-class macro-F1.
/// Fails when the inputs differ in length or are empty.
pub fn score<S: AsRef<str>, P: AsRef<str>>(
    y_true: &[S],
    y_pred: &[P],
    train_counts: &BTreeMap<TechniqueId, usize>,
    rare_threshold: usize,
) -> Result<Scores, EvalError> {
    if y_true.len() != y_pred.len() || y_true.is_empty() {
        return Err(EvalError::Data(format!(
            "cannot score {} predictions against {} true labels",
            y_pred.len(),
            y_true.len()
        )));
    }
    // (true positives, true count, predicted count) per class.
    let mut tallies: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let mut correct = 0;
    for (t, p) in y_true.iter().zip(y_pred) {
        let (t, p) = (t.as_ref(), p.as_ref());
        tallies.entry(t).or_default().1 += 1;
        tallies.entry(p).or_default().2 += 1;
        if t == p {
            tallies.entry(t).or_default().0 += 1;
            correct += 1;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let all_classes: BTreeMap<TechniqueId, ClassScores> = tallies
        .iter()
        .map(|(&class, &(tp, n_true, n_pred))| {
            let precision = ratio(tp, n_pred);
            let recall = ratio(tp, n_true);
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            let scores = ClassScores {
                precision,
                recall,
                f1,
                support: n_true,
            };
            (TechniqueId::from(class), scores)
        })
        .collect();
    let macro_f1_union =
        all_classes.values().map(|s| s.f1).sum::<f64>() / all_classes.len().max(1) as f64;
    let per_class: BTreeMap<TechniqueId, ClassScores> = all_classes
        .into_iter()
        .filter(|(_, s)| s.support > 0)
        .collect();
    let mean = |values: Vec<f64>| {
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let trained = |class: &TechniqueId| train_counts.get(class).copied().unwrap_or(0);
    let rare: Vec<f64> = per_class
        .iter()
        .filter(|(class, _)| (1..=rare_threshold).contains(&trained(class)))
        .map(|(_, s)| s.f1)
        .collect();
    let unseen: Vec<f64> = per_class
        .iter()
        .filter(|(class, _)| trained(class) == 0)
        .map(|(_, s)| s.f1)
        .collect();
    let (rare_classes, unseen_classes) = (rare.len(), unseen.len());
    Ok(Scores {
        accuracy: ratio(correct, y_true.len()),
        macro_f1: mean(per_class.values().map(|s| s.f1).collect()).unwrap_or(0.0),
        macro_f1_union,
        rare_macro_f1: mean(rare),
        rare_classes,
        unseen_macro_f1: mean(unseen),
        unseen_classes,
        per_class,
    })
}

/// Mean and sample standard deviation (divisor `n − 1`) of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Arithmetic mean (0 for an empty sample).
    pub mean: f64,
    /// Sample standard deviation (0 for fewer than 2 values).
    pub std: f64,
    /// Number of values.
    pub n: usize,
}

impl MeanStd {
    /// Aggregates `values` (e.g. one score per fold × seed).
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        if n == 0 {
            return Self {
                mean: 0.0,
                std: 0.0,
                n,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n < 2 {
            0.0
        } else {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        };
        Self {
            mean,
            std: var.sqrt(),
            n,
        }
    }
}

/// The paired difference of two arms evaluated on the same folds × seeds: the mean of the
/// per-run differences, their sample std, and two 95% t intervals.
///
/// - `ci95`: the textbook paired t interval, `mean ± t(0.975, n−1) · s / √n`. Runs of
///   repeated k-fold share training rows, so it is too narrow;
/// - `ci95_corrected`: the corrected resampled t interval of Nadeau & Bengio (2003),
///   `mean ± t(0.975, n−1) · s · √(1/n + n_test/n_train)`, which accounts for that overlap
///   (Bouckaert & Frank, 2004). `significant` uses this one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedDelta {
    /// Mean difference (arm − reference).
    pub mean: f64,
    /// Sample standard deviation of the differences.
    pub std: f64,
    /// Number of paired runs.
    pub n: usize,
    /// Plain paired t interval; `None` below 2 pairs.
    pub ci95: Option<[f64; 2]>,
    /// Nadeau–Bengio corrected interval; `None` below 2 pairs.
    pub ci95_corrected: Option<[f64; 2]>,
    /// The corrected interval excludes 0 (unadjusted for multiplicity: see
    /// [`super::multiplicity`]).
    pub significant: bool,
    /// Corrected standard error of the mean difference, `s · √(1/n + n_test/n_train)`.
    #[serde(default)]
    pub se: f64,
    /// Two-sided p-value of the corrected t statistic (1 below 2 pairs), unadjusted.
    #[serde(default = "one")]
    pub p: f64,
}

fn one() -> f64 {
    1.0
}

impl PairedDelta {
    /// From per-run differences and the mean ratio of test to training rows per fold.
    pub fn of(diffs: &[f64], test_train_ratio: f64) -> Self {
        let m = MeanStd::of(diffs);
        let interval = |factor: f64| {
            (m.n >= 2).then(|| {
                let half = t_975(m.n - 1) * m.std * factor.sqrt();
                [m.mean - half, m.mean + half]
            })
        };
        let n = m.n.max(1) as f64;
        let factor = 1.0 / n + test_train_ratio.max(0.0);
        let ci95 = interval(1.0 / n);
        let ci95_corrected = interval(factor);
        let mut delta = Self {
            mean: m.mean,
            std: m.std,
            n: m.n,
            ci95,
            ci95_corrected,
            significant: ci95_corrected.is_some_and(|[lo, hi]| lo > 0.0 || hi < 0.0),
            se: m.std * factor.sqrt(),
            p: 1.0,
        };
        delta.p = delta.member().p();
        delta
    }

    /// This difference as a member of a multiplicity family.
    pub fn member(&self) -> Member {
        Member {
            mean: self.mean,
            se: self.se,
            df: self.n.saturating_sub(1),
        }
    }
}

impl std::fmt::Display for PairedDelta {
    /// `+0.012 [−0.004, +0.028]*` (corrected interval; `*` when significant).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ci95_corrected {
            Some([lo, hi]) => write!(
                f,
                "{:+.3} [{lo:+.3}, {hi:+.3}]{}",
                self.mean,
                if self.significant { "*" } else { "" }
            ),
            None => write!(f, "{:+.3}", self.mean),
        }
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom: a table (4 decimals)
/// up to 30, the Cornish–Fisher expansion around the normal quantile beyond (error
/// < 1e-4 there). Written here to avoid `statrs`, whose dependency tree (nalgebra) would
/// outweigh this one function.
pub fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
        2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739,
        2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => {
            let (z, d) = (1.959_963_984_540_054_f64, df as f64);
            z + (z.powi(3) + z) / (4.0 * d)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
                + (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z)
                    / (384.0 * d.powi(3))
        }
    }
}

impl std::fmt::Display for MeanStd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3} ± {:.3}", self.mean, self.std)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Confusion (rows = truth, columns = prediction) over classes a, b, c:
    /// a: 3 → a, 1 → b; b: 2 → b; c: 1 → a, 1 → b, 0 → c.
    #[test]
    fn hand_computed_confusion() {
        let truth = ["a", "a", "a", "a", "b", "b", "c", "c"];
        let pred = ["a", "a", "a", "b", "b", "b", "a", "b"];
        let counts: BTreeMap<TechniqueId, usize> =
            [("a".into(), 100), ("b".into(), 20), ("c".into(), 5)].into();
        let s = score(&truth, &pred, &counts, 30).unwrap();
        // a: P = 3/4, R = 3/4, F1 = 0.75. b: P = 2/4, R = 1, F1 = 2/3. c: 0.
        assert!(close(s.per_class["a"].f1, 0.75));
        assert!(close(s.per_class["b"].precision, 0.5));
        assert!(close(s.per_class["b"].recall, 1.0));
        assert!(close(s.per_class["b"].f1, 2.0 / 3.0));
        assert!(close(s.per_class["c"].f1, 0.0));
        assert_eq!(s.per_class["c"].support, 2);
        assert!(close(s.accuracy, 5.0 / 8.0));
        assert!(close(s.macro_f1, (0.75 + 2.0 / 3.0) / 3.0));
        // Rare (≤ 30 training rows): b and c.
        assert_eq!(s.rare_classes, 2);
        assert!(close(s.rare_macro_f1.unwrap(), (2.0 / 3.0) / 2.0));
        // Not the harmonic mean of macro-P and macro-R (linfa's f1_score).
        let (mp, mr) = ((0.75 + 0.5) / 3.0, (0.75 + 1.0) / 3.0);
        assert!(!close(s.macro_f1, 2.0 * mp * mr / (mp + mr)));
    }

    #[test]
    fn predicted_only_classes_are_not_scored() {
        let s = score(&["a", "a"], &["a", "z"], &BTreeMap::new(), 0).unwrap();
        assert!(close(s.per_class["a"].f1, 2.0 / 3.0));
        assert!(!s.per_class.contains_key("z"));
        assert!(close(s.macro_f1, 2.0 / 3.0));
        assert!(close(s.macro_f1_union, 1.0 / 3.0), "z counted with F1 0");
        assert_eq!(
            s.rare_classes, 0,
            "a class absent from training is not rare…"
        );
        assert_eq!(s.unseen_classes, 1, "…but unseen, reported apart");
        assert!(close(s.unseen_macro_f1.unwrap(), 2.0 / 3.0));
        let none = score(&["a"], &["a"], &[("a".into(), 50)].into(), 30).unwrap();
        assert_eq!(none.rare_macro_f1, None);
    }

    /// An arm that adds rows for a label absent from the fold (say T1557.001) and starts
    /// predicting it there: the label set stays the truth's, so the only cost is the
    /// true rows it got wrong.
    #[test]
    fn predicting_an_absent_label_does_not_change_the_label_set() {
        let truth = ["a", "a", "b", "b"];
        let baseline = score(&truth, &["a", "a", "b", "a"], &BTreeMap::new(), 30).unwrap();
        let arm = score(&truth, &["a", "a", "b", "absent"], &BTreeMap::new(), 30).unwrap();
        assert_eq!(
            baseline.per_class.keys().collect::<Vec<_>>(),
            arm.per_class.keys().collect::<Vec<_>>()
        );
        // b: P = 1, R = 1/2 → 2/3 in both; a: baseline P = 2/3, R = 1 → 0.8; arm 1.0.
        assert!(close(baseline.macro_f1, (0.8 + 2.0 / 3.0) / 2.0));
        assert!(close(arm.macro_f1, (1.0 + 2.0 / 3.0) / 2.0));
        assert!(close(arm.macro_f1_union, (1.0 + 2.0 / 3.0) / 3.0));
        assert_eq!(arm.rare_classes, baseline.rare_classes);
    }

    #[test]
    fn rejects_mismatched_inputs() {
        assert!(score(&["a"], &["a", "b"], &BTreeMap::new(), 30).is_err());
        assert!(score::<&str, &str>(&[], &[], &BTreeMap::new(), 30).is_err());
    }

    #[test]
    fn mean_std_uses_sample_std() {
        let m = MeanStd::of(&[1.0, 2.0, 3.0, 4.0]);
        assert!(close(m.mean, 2.5));
        assert!(close(m.std, (5.0f64 / 3.0).sqrt()));
        assert_eq!(m.n, 4);
        assert_eq!(MeanStd::of(&[]).n, 0);
        assert_eq!(format!("{}", MeanStd::of(&[0.5])), "0.500 ± 0.000");
    }

    /// diffs 0.01, 0.03, 0.02, 0.04: mean 0.025, s² = 0.0005 / 3, t(0.975, 3) = 3.1824.
    #[test]
    fn paired_delta_by_hand() {
        let d = PairedDelta::of(&[0.01, 0.03, 0.02, 0.04], 0.25);
        assert!(close(d.mean, 0.025));
        let s = (0.0005f64 / 3.0).sqrt();
        assert!(close(d.std, s));
        let half = 3.1824 * s / 2.0; // √(1/4)
        let [lo, hi] = d.ci95.unwrap();
        assert!((lo - (0.025 - half)).abs() < 1e-12 && (hi - (0.025 + half)).abs() < 1e-12);
        assert!((lo - 0.004458).abs() < 1e-5, "{lo}");
        // Corrected: s · √(1/4 + 1/4) → [−0.00405, 0.05405], crosses 0.
        assert!(close(d.se, s * 0.5f64.sqrt()));
        // t = 0.025 / se = 3.873 on 3 df: two-sided p ≈ 0.0305 uncorrected… but the
        // corrected se gives t = 2.7386, p ≈ 0.0715.
        assert!((d.p - 0.0715).abs() < 5e-4, "{}", d.p);
        let [lo, hi] = d.ci95_corrected.unwrap();
        assert!(
            (lo + 0.004051).abs() < 1e-5 && (hi - 0.054051).abs() < 1e-5,
            "{lo} {hi}"
        );
        assert!(!d.significant);
        assert!(PairedDelta::of(&[0.01, 0.03, 0.02, 0.04], 0.0).significant);
        let one = PairedDelta::of(&[0.1], 0.25);
        assert_eq!((one.ci95, one.significant), (None, false));
        assert_eq!(format!("{one}"), "+0.100");
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t_975(14), 2.1448);
        assert!((t_975(31) - 2.0395).abs() < 1e-4);
        assert!((t_975(60) - 2.0003).abs() < 1e-4);
        assert!((t_975(10_000) - 1.9602).abs() < 1e-4);
        assert!(t_975(0).is_infinite());
    }
}
