//! Classification metrics and their aggregation over folds × seeds.
//!
//! Conventions (those of scikit-learn's `classification_report`):
//! - the classes scored are those present in the true **or** predicted labels;
//! - a ratio with a zero denominator is 0 (`zero_division=0`);
//! - macro-F1 is the unweighted **mean of the per-class F1** — not the harmonic mean of
//!   macro-precision and macro-recall that `linfa`'s `ConfusionMatrix::f1_score` returns;
//! - rare-class macro-F1 is the mean F1 over the scored classes that had at most
//!   `rare_threshold` training rows (before augmentation).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::EvalError;

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
    /// Mean of the per-class F1 over the scored classes.
    pub macro_f1: f64,
    /// Mean F1 over the scored classes with ≤ `rare_threshold` training rows; `None` when
    /// there is no such class.
    pub rare_macro_f1: Option<f64>,
    /// Number of scored classes counted as rare.
    pub rare_classes: usize,
    /// Scores of every scored class.
    pub per_class: BTreeMap<String, ClassScores>,
}

/// Scores predictions against the truth.
///
/// `train_counts` gives the number of training rows of each class (a missing class has
/// 0); classes with at most `rare_threshold` of them make up the rare-class macro-F1.
/// Fails when the inputs differ in length or are empty.
pub fn score<S: AsRef<str>, P: AsRef<str>>(
    y_true: &[S],
    y_pred: &[P],
    train_counts: &BTreeMap<String, usize>,
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
    let per_class: BTreeMap<String, ClassScores> = tallies
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
            (class.to_owned(), scores)
        })
        .collect();
    let mean = |values: Vec<f64>| {
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let rare: Vec<f64> = per_class
        .iter()
        .filter(|(class, _)| train_counts.get(*class).copied().unwrap_or(0) <= rare_threshold)
        .map(|(_, s)| s.f1)
        .collect();
    let rare_classes = rare.len();
    Ok(Scores {
        accuracy: ratio(correct, y_true.len()),
        macro_f1: mean(per_class.values().map(|s| s.f1).collect()).unwrap_or(0.0),
        rare_macro_f1: mean(rare),
        rare_classes,
        per_class,
    })
}

/// Mean and population standard deviation (divisor `n`, numpy's default) of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Arithmetic mean (0 for an empty sample).
    pub mean: f64,
    /// Population standard deviation (0 for fewer than 2 values).
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
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        Self {
            mean,
            std: var.sqrt(),
            n,
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
        let counts: BTreeMap<String, usize> =
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
    fn predicted_only_classes_count_with_zero_f1() {
        let s = score(&["a", "a"], &["a", "z"], &BTreeMap::new(), 0).unwrap();
        assert!(close(s.per_class["a"].f1, 2.0 / 3.0));
        assert!(close(s.per_class["z"].f1, 0.0));
        assert!(close(s.macro_f1, 1.0 / 3.0));
        assert_eq!(
            s.rare_classes, 2,
            "classes absent from training have 0 rows"
        );
        let none = score(&["a"], &["a"], &[("a".into(), 50)].into(), 30).unwrap();
        assert_eq!(none.rare_macro_f1, None);
    }

    #[test]
    fn rejects_mismatched_inputs() {
        assert!(score(&["a"], &["a", "b"], &BTreeMap::new(), 30).is_err());
        assert!(score::<&str, &str>(&[], &[], &BTreeMap::new(), 30).is_err());
    }

    #[test]
    fn mean_std_uses_population_std() {
        let m = MeanStd::of(&[1.0, 2.0, 3.0, 4.0]);
        assert!(close(m.mean, 2.5));
        assert!(close(m.std, 1.25f64.sqrt()));
        assert_eq!(m.n, 4);
        assert_eq!(MeanStd::of(&[]).n, 0);
        assert_eq!(format!("{}", MeanStd::of(&[0.5])), "0.500 ± 0.000");
    }
}
