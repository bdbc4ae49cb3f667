//! The augmentation sweep: seeds × folds × arms × ratios × synthetic weights.
//!
//! For every seed and fold: split leak-free ([`super::split::kfold`]); count the training
//! rows per label and compute each label's deficit to the target ([`TargetRule`], the
//! training median by default) from the **training part only**; ask every arm once for
//! `round(max_ratio · deficit)` rows per label; for each ratio take, per label, the first
//! `round(ratio · deficit)` of them (a nested prefix, so a larger ratio always contains
//! the rows of a smaller one); train the probe on training + added rows (added rows
//! weighted `synthetic_weight`, originals 1) and score on the test part. Ratio 0 (no
//! added rows) is trained once per fold and shared by every arm and weight.
//!
//! Added rows whose normalised text equals a test row are discarded before training
//! (counted in [`ArmResult::leaked_rows_dropped`]).

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::baselines::Augmenter;
use super::metrics::{MeanStd, Scores, score};
use super::probe::ProbeConfig;
use super::split::{SplitConfig, kfold};
use super::{EvalError, normalize_text};
use crate::data::Sample;
use crate::embed::Embedder;

/// The per-label row count augmentation aims at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetRule {
    /// The median of the per-label training counts.
    Median,
    /// The largest per-label training count.
    Max,
    /// A fixed count.
    Fixed(usize),
}

impl TargetRule {
    /// Rows each label lacks to reach the target (0 for labels at or above it).
    pub fn deficits(&self, train_counts: &BTreeMap<String, usize>) -> BTreeMap<String, f64> {
        let counts: Vec<usize> = train_counts.values().copied().collect();
        let target = match *self {
            TargetRule::Median => crate::stats::median(&counts),
            TargetRule::Max => counts.iter().copied().max().unwrap_or(0) as f64,
            TargetRule::Fixed(n) => n as f64,
        };
        train_counts
            .iter()
            .map(|(label, &n)| (label.clone(), (target - n as f64).max(0.0)))
            .collect()
    }
}

/// What to sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    /// Split seeds; each gives a different k-fold partition.
    pub seeds: Vec<u64>,
    /// Number of folds.
    pub folds: usize,
    /// Drop test rows whose normalised text appears in the training part.
    pub drop_test_duplicates: bool,
    /// Multiples of each label's deficit to add, e.g. `[0, 0.5, 1, 2]`.
    pub ratios: Vec<f64>,
    /// Loss weights of the added rows to cross with the ratios, e.g. `[1.0, 0.5]`.
    pub synthetic_weights: Vec<f32>,
    /// The per-label target.
    pub target: TargetRule,
    /// Labels with at most this many training rows count as rare.
    pub rare_threshold: usize,
    /// The probe, identical for every arm.
    pub probe: ProbeConfig,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            seeds: vec![0],
            folds: 5,
            drop_test_duplicates: true,
            ratios: vec![0.0, 0.5, 1.0, 2.0],
            synthetic_weights: vec![1.0],
            target: TargetRule::Median,
            rare_threshold: 30,
            probe: ProbeConfig::tfidf(),
        }
    }
}

impl SweepConfig {
    /// Checks the lists are non-empty and the values finite and non-negative.
    pub fn validate(&self) -> Result<(), EvalError> {
        let bad = |what: &str| Err(EvalError::Config(what.to_owned()));
        if self.seeds.is_empty() {
            return bad("at least one seed is needed");
        }
        if self.ratios.is_empty() || self.ratios.iter().any(|r| !r.is_finite() || *r < 0.0) {
            return bad("ratios must be a non-empty list of finite values ≥ 0");
        }
        if self.synthetic_weights.is_empty()
            || self
                .synthetic_weights
                .iter()
                .any(|w| !w.is_finite() || *w < 0.0)
        {
            return bad("synthetic weights must be a non-empty list of finite values ≥ 0");
        }
        Ok(())
    }
}

/// Scores of one (seed, fold) run of one arm × ratio × weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunScores {
    /// Split seed.
    pub seed: u64,
    /// Fold index.
    pub fold: usize,
    /// Rows added to the training part.
    pub added_rows: usize,
    /// Rows asked for at this ratio.
    pub requested_rows: usize,
    /// The scores on the test part.
    pub scores: Scores,
    /// Seconds spent fitting and predicting.
    pub probe_seconds: f64,
}

/// Aggregated results of one arm × ratio × synthetic weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmResult {
    /// Arm name.
    pub arm: String,
    /// Multiple of the deficit added.
    pub ratio: f64,
    /// Loss weight of the added rows.
    pub synthetic_weight: f32,
    /// Macro-F1 over folds × seeds.
    pub macro_f1: MeanStd,
    /// Rare-class macro-F1 over the folds × seeds that had rare classes.
    pub rare_macro_f1: MeanStd,
    /// Accuracy over folds × seeds.
    pub accuracy: MeanStd,
    /// Per-class F1 over the folds × seeds where the class was scored.
    pub per_class_f1: BTreeMap<String, MeanStd>,
    /// Rows added per run.
    pub added_rows: MeanStd,
    /// Rows requested per run.
    pub requested_rows: MeanStd,
    /// Added rows discarded because their normalised text equals a test row (all runs).
    pub leaked_rows_dropped: usize,
    /// Total seconds spent in the probe (all runs).
    pub probe_seconds: f64,
    /// Every run.
    pub runs: Vec<RunScores>,
}

/// Facts about one (seed, fold) split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldInfo {
    /// Split seed.
    pub seed: u64,
    /// Fold index.
    pub fold: usize,
    /// Training rows (before augmentation).
    pub train_rows: usize,
    /// Test rows kept.
    pub test_rows: usize,
    /// Test rows dropped as exact copies of training rows.
    pub dropped_test_duplicates: usize,
    /// Labels with at most `rare_threshold` training rows.
    pub rare_labels: usize,
}

/// Everything a sweep measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResults {
    /// The configuration swept.
    pub config: SweepConfig,
    /// Arm names, in the order given.
    pub arms: Vec<String>,
    /// One entry per arm × ratio × weight (ratios ascending, weights as given).
    pub results: Vec<ArmResult>,
    /// One entry per seed × fold.
    pub folds: Vec<FoldInfo>,
    /// Seconds each arm spent generating rows (all runs).
    pub augment_seconds: BTreeMap<String, f64>,
    /// Seconds the whole sweep took.
    pub wall_seconds: f64,
}

/// One run's scores plus bookkeeping, before aggregation.
struct Run {
    scores: RunScores,
    leaked: usize,
}

/// What one (seed, fold) run needs to train and score the probe.
struct FoldContext<'a> {
    seed: u64,
    fold: usize,
    train: &'a [Sample],
    test: &'a [&'a Sample],
    y_true: &'a [&'a str],
    train_counts: &'a BTreeMap<String, usize>,
    config: &'a SweepConfig,
}

impl FoldContext<'_> {
    /// Trains on the training part plus `added` (weighted `weight`) and scores the test part.
    fn evaluate(
        &self,
        added: &[&Sample],
        weight: f32,
        requested: usize,
        leaked: usize,
        embedder: Option<&mut (dyn Embedder + '_)>,
    ) -> Result<Run, EvalError> {
        let rows: Vec<&Sample> = self.train.iter().chain(added.iter().copied()).collect();
        let mut weights = vec![1.0f32; self.train.len()];
        weights.resize(rows.len(), weight);
        let t = Instant::now();
        let predicted = self
            .config
            .probe
            .fit_predict(&rows, &weights, self.test, embedder)?;
        let probe_seconds = t.elapsed().as_secs_f64();
        let scores = score(
            self.y_true,
            &predicted,
            self.train_counts,
            self.config.rare_threshold,
        )?;
        Ok(Run {
            scores: RunScores {
                seed: self.seed,
                fold: self.fold,
                added_rows: added.len(),
                requested_rows: requested,
                scores,
                probe_seconds,
            },
            leaked,
        })
    }
}

/// Runs the sweep over `samples` (the original dataset; each row's `group` keeps its
/// report together) with the given arms. `embedder` is needed by the embedding probe.
pub fn run_sweep(
    samples: &[Sample],
    arms: &mut [&mut dyn Augmenter],
    config: &SweepConfig,
    mut embedder: Option<&mut (dyn Embedder + '_)>,
) -> Result<SweepResults, EvalError> {
    config.validate()?;
    let names: Vec<String> = arms.iter().map(|a| a.name().to_owned()).collect();
    let unique: HashSet<&String> = names.iter().collect();
    if unique.len() != names.len() || names.iter().any(String::is_empty) {
        return Err(EvalError::Config(format!(
            "arm names must be unique and non-empty: {names:?}"
        )));
    }
    let started = Instant::now();
    let mut ratios = config.ratios.clone();
    ratios.sort_by(f64::total_cmp);
    ratios.dedup();
    let max_ratio = ratios.last().copied().unwrap_or(0.0);

    // runs[(arm, ratio index, weight index)]
    let mut runs: BTreeMap<(usize, usize, usize), Vec<Run>> = BTreeMap::new();
    let mut folds_info = Vec::new();
    let mut augment_seconds: BTreeMap<String, f64> =
        names.iter().map(|n| (n.clone(), 0.0)).collect();

    for &seed in &config.seeds {
        let split = SplitConfig {
            folds: config.folds,
            seed,
            drop_test_duplicates: config.drop_test_duplicates,
        };
        for fold in kfold(samples, &split)? {
            let train: Vec<Sample> = fold.train.iter().map(|&i| samples[i].clone()).collect();
            let test: Vec<Sample> = fold.test.iter().map(|&i| samples[i].clone()).collect();
            if test.is_empty() {
                return Err(EvalError::Data(format!(
                    "fold {} of seed {seed} has no test row left",
                    fold.index
                )));
            }
            let mut train_counts: BTreeMap<String, usize> = BTreeMap::new();
            for s in &train {
                *train_counts.entry(s.label.clone()).or_insert(0) += 1;
            }
            let deficits = config.target.deficits(&train_counts);
            let wanted = |ratio: f64| -> BTreeMap<String, usize> {
                deficits
                    .iter()
                    .map(|(l, d)| (l.clone(), (ratio * d).round() as usize))
                    .collect()
            };
            folds_info.push(FoldInfo {
                seed,
                fold: fold.index,
                train_rows: train.len(),
                test_rows: test.len(),
                dropped_test_duplicates: fold.dropped_test_duplicates,
                rare_labels: train_counts
                    .values()
                    .filter(|&&n| n <= config.rare_threshold)
                    .count(),
            });
            tracing::info!(
                seed,
                fold = fold.index,
                train = train.len(),
                test = test.len(),
                dropped = fold.dropped_test_duplicates,
                "sweep fold"
            );
            let test_refs: Vec<&Sample> = test.iter().collect();
            let test_texts: HashSet<String> =
                test.iter().map(|s| normalize_text(&s.text)).collect();
            let y_true: Vec<&str> = test.iter().map(|s| s.label.as_str()).collect();
            let ctx = FoldContext {
                seed,
                fold: fold.index,
                train: &train,
                test: &test_refs,
                y_true: &y_true,
                train_counts: &train_counts,
                config,
            };
            // The shared no-augmentation run.
            let zero = ratios.iter().position(|&r| r == 0.0);
            let baseline = match zero {
                Some(_) => Some(ctx.evaluate(&[], 1.0, 0, 0, embedder.as_deref_mut())?),
                None => None,
            };

            let fold_seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ fold.index as u64;
            let requested_max = wanted(max_ratio);
            for (a, arm) in arms.iter_mut().enumerate() {
                let t = Instant::now();
                let produced = if max_ratio > 0.0 {
                    arm.augment(&train, &test, &requested_max, fold_seed)?
                } else {
                    Vec::new()
                };
                *augment_seconds.entry(names[a].clone()).or_insert(0.0) +=
                    t.elapsed().as_secs_f64();
                // Per label, in the arm's preference order, without test copies.
                let mut by_label: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
                let mut leaked = 0;
                for row in &produced {
                    let Some(&cap) = requested_max.get(&row.label) else {
                        continue;
                    };
                    let list = by_label.entry(row.label.as_str()).or_default();
                    if list.len() >= cap {
                        continue;
                    }
                    if test_texts.contains(&normalize_text(&row.text)) {
                        leaked += 1;
                    } else {
                        list.push(row);
                    }
                }
                for (r, &ratio) in ratios.iter().enumerate() {
                    let want = wanted(ratio);
                    let added: Vec<&Sample> = by_label
                        .iter()
                        .flat_map(|(label, rows)| {
                            rows.iter()
                                .take(want.get(*label).copied().unwrap_or(0))
                                .copied()
                        })
                        .collect();
                    let requested: usize = want.values().sum();
                    for (w, &weight) in config.synthetic_weights.iter().enumerate() {
                        let run = match (&baseline, ratio == 0.0) {
                            (Some(b), true) => Run {
                                scores: b.scores.clone(),
                                leaked: 0,
                            },
                            _ => ctx.evaluate(
                                &added,
                                weight,
                                requested,
                                leaked,
                                embedder.as_deref_mut(),
                            )?,
                        };
                        runs.entry((a, r, w)).or_default().push(run);
                    }
                }
            }
        }
    }

    let results = runs
        .into_iter()
        .map(|((a, r, w), runs)| aggregate(&names[a], ratios[r], config.synthetic_weights[w], runs))
        .collect();
    Ok(SweepResults {
        config: config.clone(),
        arms: names,
        results,
        folds: folds_info,
        augment_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

fn aggregate(arm: &str, ratio: f64, synthetic_weight: f32, runs: Vec<Run>) -> ArmResult {
    let stat = |f: &dyn Fn(&RunScores) -> Option<f64>| {
        MeanStd::of(&runs.iter().filter_map(|r| f(&r.scores)).collect::<Vec<_>>())
    };
    let mut per_class: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for run in &runs {
        for (class, s) in &run.scores.scores.per_class {
            per_class.entry(class.clone()).or_default().push(s.f1);
        }
    }
    ArmResult {
        arm: arm.to_owned(),
        ratio,
        synthetic_weight,
        macro_f1: stat(&|r| Some(r.scores.macro_f1)),
        rare_macro_f1: stat(&|r| r.scores.rare_macro_f1),
        accuracy: stat(&|r| Some(r.scores.accuracy)),
        per_class_f1: per_class
            .into_iter()
            .map(|(c, v)| (c, MeanStd::of(&v)))
            .collect(),
        added_rows: stat(&|r| Some(r.added_rows as f64)),
        requested_rows: stat(&|r| Some(r.requested_rows as f64)),
        leaked_rows_dropped: runs.iter().map(|r| r.leaked).sum(),
        probe_seconds: runs.iter().map(|r| r.scores.probe_seconds).sum(),
        runs: runs.into_iter().map(|r| r.scores).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deficits_follow_the_rule() {
        let counts: BTreeMap<String, usize> = [
            ("a".into(), 10),
            ("b".into(), 4),
            ("c".into(), 1),
            ("d".into(), 30),
        ]
        .into();
        let median = TargetRule::Median.deficits(&counts);
        assert_eq!(median["c"], 6.0); // median of 1, 4, 10, 30 is 7
        assert_eq!(median["a"], 0.0);
        assert_eq!(TargetRule::Max.deficits(&counts)["b"], 26.0);
        assert_eq!(TargetRule::Fixed(5).deficits(&counts)["b"], 1.0);
        assert!(TargetRule::Median.deficits(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let mut c = SweepConfig::default();
        assert!(c.validate().is_ok());
        c.ratios = vec![-1.0];
        assert!(c.validate().is_err());
        c = SweepConfig {
            synthetic_weights: vec![],
            ..SweepConfig::default()
        };
        assert!(c.validate().is_err());
        c = SweepConfig {
            seeds: vec![],
            ..SweepConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
