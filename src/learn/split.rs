//! Leak-free splits: seeded, group-aware, class-balanced assignment of rows to parts.
//!
//! Rows that share a [`Sample::group`] (the report a sentence comes from) always land in
//! the same part; a row without a group is a group of its own, so a dataset without
//! groups gets a plain stratified split from the same code.
//!
//! The assignment visits the groups in an order shuffled with the seed and puts each one
//! into the part where it most reduces the squared deviation of the per-class counts from
//! their targets (each class normalised by its size) plus the deviation of the part sizes.
//! Unlike scikit-learn's `StratifiedGroupKFold`, whose greedy pass sorts the groups by a
//! deterministic key (and so gives identical folds for every seed on TRAM), the visiting
//! order here is random, so every seed gives different, still balanced, folds.

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::LearnError;
use crate::data::Sample;
use crate::data::normalize_text;

/// How to cut a dataset into k folds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitConfig {
    /// Number of folds (at least 2).
    pub folds: usize,
    /// Seed of the group order; different seeds give different folds.
    pub seed: u64,
    /// Drop test rows whose normalised text also appears in the training part.
    pub drop_test_duplicates: bool,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            folds: 5,
            seed: 0,
            drop_test_duplicates: true,
        }
    }
}

/// One train/test split of a k-fold cross-validation (indices into the input rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    /// Which fold this is (0-based): the rows of part `index` are its test rows.
    pub index: usize,
    /// Training rows, ascending.
    pub train: Vec<usize>,
    /// Test rows that were kept, ascending.
    pub test: Vec<usize>,
    /// Test rows removed because their normalised text also appears in `train`.
    pub dropped_test_duplicates: usize,
}

/// Assigns every row to one of `fractions.len()` parts so that no group is split, each
/// part gets about `fractions[p]` of the rows and of every class, seeded.
///
/// Returns the part index of each row, in input order. Fails when a fraction is negative
/// or not finite, when they sum to zero, or when there are fewer groups than parts with a
/// positive fraction; a part with a positive fraction is never left empty.
pub fn assign_parts<'a, I>(rows: I, fractions: &[f64], seed: u64) -> Result<Vec<usize>, LearnError>
where
    I: IntoIterator<Item = &'a Sample>,
{
    if fractions.is_empty() || fractions.iter().any(|f| !f.is_finite() || *f < 0.0) {
        return Err(LearnError::Config(format!(
            "split fractions must be finite and non-negative, got {fractions:?}"
        )));
    }
    let total_fraction: f64 = fractions.iter().sum();
    if total_fraction <= 0.0 {
        return Err(LearnError::Config("split fractions sum to zero".into()));
    }

    // Groups in first-appearance order; rows without a group are singletons.
    let mut class_ids: HashMap<&str, usize> = HashMap::new();
    let mut group_ids: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut row_class: Vec<usize> = Vec::new();
    for (row, sample) in rows.into_iter().enumerate() {
        let next_class = class_ids.len();
        row_class.push(*class_ids.entry(sample.label.as_str()).or_insert(next_class));
        let group = match sample.group.as_deref() {
            Some(name) => *group_ids.entry(name).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            }),
            None => {
                groups.push(Vec::new());
                groups.len() - 1
            }
        };
        groups[group].push(row);
    }
    let n_rows = row_class.len();
    let wanted_parts = fractions.iter().filter(|f| **f > 0.0).count();
    if groups.len() < wanted_parts {
        return Err(LearnError::Data(format!(
            "{} groups cannot fill {wanted_parts} parts without splitting a group",
            groups.len()
        )));
    }

    let n_classes = class_ids.len();
    let mut class_totals = vec![0.0f64; n_classes];
    for &c in &row_class {
        class_totals[c] += 1.0;
    }
    let shares: Vec<f64> = fractions.iter().map(|f| f / total_fraction).collect();
    let n_parts = shares.len();
    let mut counts = vec![vec![0.0f64; n_classes]; n_parts];
    let mut sizes = vec![0.0f64; n_parts];

    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed));

    let mut part_of_row = vec![0usize; n_rows];
    let mut group_counts: BTreeMap<usize, f64> = BTreeMap::new();
    for (visited, &g) in order.iter().enumerate() {
        group_counts.clear();
        for &row in &groups[g] {
            *group_counts.entry(row_class[row]).or_insert(0.0) += 1.0;
        }
        let size = groups[g].len() as f64;
        let empty_positive = shares
            .iter()
            .zip(&sizes)
            .filter(|(s, n)| **s > 0.0 && **n == 0.0)
            .count();
        // Groups left after this one, counting it: when they are just enough to fill the
        // empty parts, this group must go to one of those.
        let must_fill = order.len() - visited <= empty_positive;
        let mut best: Option<(usize, f64)> = None;
        for p in 0..n_parts {
            if shares[p] == 0.0 || (must_fill && sizes[p] > 0.0) {
                continue;
            }
            let mut delta = 0.0;
            for (&c, &k) in &group_counts {
                let dev = counts[p][c] - shares[p] * class_totals[c];
                delta += ((dev + k).powi(2) - dev.powi(2)) / class_totals[c];
            }
            let dev = sizes[p] - shares[p] * n_rows as f64;
            delta += ((dev + size).powi(2) - dev.powi(2)) / n_rows as f64;
            if best.is_none_or(|(_, d)| delta < d) {
                best = Some((p, delta));
            }
        }
        // At least one part has a positive share, so `best` is set.
        let p = best.map_or(0, |(p, _)| p);
        for (&c, &k) in &group_counts {
            counts[p][c] += k;
        }
        sizes[p] += size;
        for &row in &groups[g] {
            part_of_row[row] = p;
        }
    }
    Ok(part_of_row)
}

/// Seeded group-aware (stratified when rows have no group) k-fold cross-validation.
///
/// Every row is in exactly one test fold; no group appears on both sides of a fold. With
/// [`SplitConfig::drop_test_duplicates`], test rows whose normalised text (see
/// [`normalize_text`]) also appears in the training part are removed and counted.
pub fn kfold(samples: &[Sample], config: &SplitConfig) -> Result<Vec<Fold>, LearnError> {
    if config.folds < 2 {
        return Err(LearnError::Config(format!(
            "k-fold needs at least 2 folds, got {}",
            config.folds
        )));
    }
    let parts = assign_parts(samples, &vec![1.0; config.folds], config.seed)?;
    Ok((0..config.folds)
        .map(|index| {
            let (test, train): (Vec<usize>, Vec<usize>) =
                (0..samples.len()).partition(|&row| parts[row] == index);
            let (test, dropped_test_duplicates) = if config.drop_test_duplicates {
                drop_train_duplicates(samples, &train, test)
            } else {
                (test, 0)
            };
            Fold {
                index,
                train,
                test,
                dropped_test_duplicates,
            }
        })
        .collect())
}

/// Removes from `test` the rows whose normalised text also appears among the `train`
/// rows; returns the kept test rows (order preserved) and how many were dropped.
pub fn drop_train_duplicates(
    samples: &[Sample],
    train: &[usize],
    test: Vec<usize>,
) -> (Vec<usize>, usize) {
    let seen: HashSet<String> = train
        .iter()
        .map(|&row| normalize_text(&samples[row].text))
        .collect();
    let before = test.len();
    let kept: Vec<usize> = test
        .into_iter()
        .filter(|&row| !seen.contains(&normalize_text(&samples[row].text)))
        .collect();
    let dropped = before - kept.len();
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Origin;

    fn row(id: usize, text: &str, label: &str, group: Option<&str>) -> Sample {
        Sample {
            id,
            text: text.into(),
            label: label.into(),
            group: group.map(Into::into),
            origin: Origin::Original,
        }
    }

    #[test]
    fn rejects_bad_configs() {
        let rows = vec![row(0, "a", "x", None), row(1, "b", "x", None)];
        let one_fold = SplitConfig {
            folds: 1,
            ..SplitConfig::default()
        };
        assert!(kfold(&rows, &one_fold).is_err());
        assert!(
            kfold(&rows, &SplitConfig::default()).is_err(),
            "2 rows, 5 folds"
        );
        assert!(assign_parts(&rows, &[0.0, 0.0], 0).is_err());
        assert!(assign_parts(&rows, &[f64::NAN, 1.0], 0).is_err());
    }

    #[test]
    fn fractions_are_respected() {
        let rows: Vec<Sample> = (0..1000)
            .map(|i| row(i, &format!("t{i}"), ["a", "b"][i % 2], None))
            .collect();
        let parts = assign_parts(&rows, &[0.8, 0.1, 0.1], 3).unwrap();
        let mut sizes = [0usize; 3];
        for p in parts {
            sizes[p] += 1;
        }
        assert_eq!(sizes, [800, 100, 100]);
    }

    #[test]
    fn duplicates_are_dropped_and_counted() {
        let rows = vec![
            row(0, "Uses  cmd", "a", None),
            row(1, "uses cmd", "a", None),
            row(2, "other", "a", None),
        ];
        let (kept, dropped) = drop_train_duplicates(&rows, &[0], vec![1, 2]);
        assert_eq!((kept, dropped), (vec![2], 1));
    }
}
