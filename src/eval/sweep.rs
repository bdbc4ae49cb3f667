//! The augmentation sweep: seeds × folds × arms × ratios × synthetic weights.
//!
//! For every seed and fold: split leak-free ([`super::split::kfold`]); count the training
//! rows per label and compute each label's deficit to the target ([`Target`], the
//! training median by default) from the **training part only**; ask every arm once for
//! `round(max_ratio · deficit)` rows per label; screen every arm's rows with the same
//! [`LeakPolicy`] against the test part; for each ratio take, per label, a prefix of the
//! clean rows (a larger ratio always contains the rows of a smaller one), capped, with
//! [`SweepConfig::match_counts`], at the fewest clean rows any arm has for that label, so
//! every arm adds the same number of rows; train the probe on training + added rows (added
//! rows weighted `synthetic_weight`, originals 1) and score on the test part. The
//! no-augmentation run (`none`) is trained once per fold and shared.
//!
//! Arms are compared by paired differences per fold × seed ([`PairedDelta`]) against
//! `none` and against a reference arm.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::EvalError;
use super::baselines::Augmenter;
use super::leak::{CleanRows, LeakCheck, LeakCounts, LeakPolicy};
use super::metrics::{MeanStd, PairedDelta, Scores, score};
use super::probe::ProbeConfig;
use super::split::{SplitConfig, kfold};
use crate::data::Sample;
use crate::embed::Embedder;
use crate::stats::label_counts;
use crate::target::Target;
use crate::technique::TechniqueId;

/// Folds done of seeds × folds: a bar on a terminal, else a log line per fold.
struct FoldProgress {
    bar: Option<indicatif::ProgressBar>,
    done: usize,
    total: usize,
    started: Instant,
}

impl FoldProgress {
    fn new(config: &SweepConfig) -> Self {
        use std::io::IsTerminal;
        let total = config.seeds.len() * config.folds;
        let bar = (config.progress && std::io::stderr().is_terminal()).then(|| {
            let style = indicatif::ProgressStyle::with_template(
                "eval [{bar:30}] {pos}/{len} folds ({eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            indicatif::ProgressBar::new(total as u64).with_style(style)
        });
        Self {
            bar,
            done: 0,
            total,
            started: Instant::now(),
        }
    }

    fn fold_done(&mut self) {
        self.done += 1;
        match &self.bar {
            Some(b) => b.set_position(self.done as u64),
            None => {
                let per_fold = self.started.elapsed().as_secs_f64() / self.done as f64;
                let left = per_fold * (self.total - self.done) as f64;
                tracing::info!(
                    "eval: {}/{} folds done, {left:.0} s left",
                    self.done,
                    self.total
                );
            }
        }
    }

    fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
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
    /// Multiples of each label's deficit to add, e.g. `[0.5, 1, 2]` (0 is `none`, which
    /// always runs).
    pub ratios: Vec<f64>,
    /// Loss weights of the added rows to cross with the ratios, e.g. `[1.0, 0.5]`.
    pub synthetic_weights: Vec<f32>,
    /// The per-label target.
    pub target: Target,
    /// Labels with at most this many training rows count as rare.
    pub rare_threshold: usize,
    /// The probe, identical for every arm.
    pub probe: ProbeConfig,
    /// The copy-of-a-test-row screen applied to every arm's rows.
    pub leak: LeakPolicy,
    /// At each ratio, cap every arm per label at the fewest clean rows any arm has.
    pub match_counts: bool,
    /// The arm every other arm is also compared with (paired), if any.
    pub reference_arm: Option<String>,
    /// A progress bar over folds on a terminal (else a log line per fold); not recorded.
    #[serde(skip)]
    pub progress: bool,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            seeds: vec![0, 1, 2],
            folds: 5,
            drop_test_duplicates: true,
            ratios: vec![0.5, 1.0, 2.0],
            synthetic_weights: vec![1.0],
            target: Target::ToMedian,
            rare_threshold: 30,
            probe: ProbeConfig::tfidf(),
            leak: LeakPolicy::default(),
            match_counts: true,
            reference_arm: None,
            progress: false,
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
        if self
            .ratios
            .iter()
            .any(|r| !r.is_finite() || *r < 0.0 || *r > 100.0)
        {
            return bad("ratios must be finite values in [0, 100]");
        }
        if self.synthetic_weights.is_empty()
            || self
                .synthetic_weights
                .iter()
                .any(|w| !w.is_finite() || *w < 0.0)
        {
            return bad("synthetic weights must be a non-empty list of finite values ≥ 0");
        }
        let cos = self.leak.near_cosine.unwrap_or(0.0);
        if self.leak.containment.is_nan() || !(0.0..=1.0).contains(&cos) {
            return bad("leak thresholds: containment a number, cosine in [0, 1]");
        }
        Ok(())
    }

    /// The positive ratios, ascending, without duplicates.
    fn positive_ratios(&self) -> Vec<f64> {
        let mut ratios: Vec<f64> = self.ratios.iter().copied().filter(|&r| r > 0.0).collect();
        ratios.sort_by(f64::total_cmp);
        ratios.dedup();
        ratios
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
    /// Rows dropped by the leak screen on the way to the added ones.
    pub leaked: LeakCounts,
    /// The scores on the test part.
    pub scores: Scores,
    /// Seconds spent fitting and predicting.
    pub probe_seconds: f64,
}

/// Paired differences of macro-F1 and rare-class macro-F1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Deltas {
    /// Δ macro-F1.
    pub macro_f1: PairedDelta,
    /// Δ rare-class macro-F1 (over the runs with rare classes).
    pub rare_macro_f1: PairedDelta,
}

/// F1 of one class over the runs where it was in the test truth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassSummary {
    /// F1 over those runs (`n` = runs).
    pub f1: MeanStd,
    /// Test rows of the class summed over those runs.
    pub test_rows: usize,
}

/// Aggregated results of one arm × ratio × synthetic weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmResult {
    /// Arm name (`none` for the shared no-augmentation run).
    pub arm: String,
    /// Multiple of the deficit asked for.
    pub ratio: f64,
    /// Loss weight of the added rows.
    pub synthetic_weight: f32,
    /// Paired differences vs `none` (absent on `none` itself).
    pub vs_none: Option<Deltas>,
    /// Paired differences vs the reference arm at the same ratio and weight.
    pub vs_reference: Option<Deltas>,
    /// Macro-F1 over folds × seeds (the test truth's labels).
    pub macro_f1: MeanStd,
    /// Macro-F1 over the union of true and predicted labels (secondary).
    pub macro_f1_union: MeanStd,
    /// Rare-class macro-F1 over the folds × seeds that had rare classes.
    pub rare_macro_f1: MeanStd,
    /// Accuracy over folds × seeds.
    pub accuracy: MeanStd,
    /// Per-class F1 over the runs where the class was in the test truth.
    pub per_class: BTreeMap<TechniqueId, ClassSummary>,
    /// Rows added per run.
    pub added_rows: MeanStd,
    /// Rows requested per run.
    pub requested_rows: MeanStd,
    /// Rows the leak screen dropped, summed over runs.
    pub leaked: LeakCounts,
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
    /// Labels in the test truth (the labels every arm is scored on).
    pub test_labels: usize,
}

impl FoldInfo {
    /// The facts of one split (logged as it starts).
    fn new(
        (seed, fold): (u64, &super::split::Fold),
        train: &[Sample],
        test: &[Sample],
        train_counts: &BTreeMap<TechniqueId, usize>,
        rare_threshold: usize,
    ) -> Self {
        tracing::info!(
            seed,
            fold = fold.index,
            train = train.len(),
            test = test.len(),
            dropped = fold.dropped_test_duplicates,
            "sweep fold"
        );
        let test_labels: HashSet<&str> = test.iter().map(|s| s.label.as_str()).collect();
        Self {
            seed,
            fold: fold.index,
            train_rows: train.len(),
            test_rows: test.len(),
            dropped_test_duplicates: fold.dropped_test_duplicates,
            rare_labels: train_counts
                .values()
                .filter(|&&n| n <= rare_threshold)
                .count(),
            test_labels: test_labels.len(),
        }
    }
}

/// Everything a sweep measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResults {
    /// The configuration swept.
    pub config: SweepConfig,
    /// Arm names, in the order given.
    pub arms: Vec<String>,
    /// The shared no-augmentation run.
    pub none: ArmResult,
    /// One entry per arm × positive ratio × weight (ratios ascending, weights as given).
    pub results: Vec<ArmResult>,
    /// One entry per seed × fold.
    pub folds: Vec<FoldInfo>,
    /// Seconds each arm spent generating rows (all runs).
    pub augment_seconds: BTreeMap<String, f64>,
    /// Seconds the whole sweep took.
    pub wall_seconds: f64,
}

/// What one (seed, fold) run needs to train and score the probe.
struct FoldContext<'a> {
    seed: u64,
    fold: usize,
    train: &'a [Sample],
    test: &'a [&'a Sample],
    y_true: &'a [&'a str],
    train_counts: &'a BTreeMap<TechniqueId, usize>,
    config: &'a SweepConfig,
}

impl FoldContext<'_> {
    /// Trains on the training part plus `added` (weighted `weight`) and scores the test part.
    fn evaluate(
        &self,
        added: &[&Sample],
        weight: f32,
        requested: usize,
        leaked: LeakCounts,
        embedder: Option<&mut (dyn Embedder + '_)>,
    ) -> Result<RunScores, EvalError> {
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
        Ok(RunScores {
            seed: self.seed,
            fold: self.fold,
            added_rows: added.len(),
            requested_rows: requested,
            leaked,
            scores,
            probe_seconds,
        })
    }
}

/// Per label, how many rows to add at `ratio` of the deficit.
fn wanted(deficits: &BTreeMap<TechniqueId, f64>, ratio: f64) -> BTreeMap<TechniqueId, usize> {
    deficits
        .iter()
        .map(|(l, d)| (l.clone(), (ratio * d).round() as usize))
        .collect()
}

/// Per arm, per label, the rows to take at one ratio: the wanted count, capped by the
/// arm's clean rows, and — with `match_counts` — by the fewest clean rows of any arm.
fn takes(
    want: &BTreeMap<TechniqueId, usize>,
    clean: &[CleanRows],
    match_counts: bool,
) -> Vec<BTreeMap<TechniqueId, usize>> {
    let fewest = |label: &str| clean.iter().map(|c| c.available(label)).min().unwrap_or(0);
    clean
        .iter()
        .map(|c| {
            want.iter()
                .map(|(label, &n)| {
                    let cap = if match_counts {
                        fewest(label)
                    } else {
                        c.available(label)
                    };
                    (label.clone(), n.min(cap))
                })
                .collect()
        })
        .collect()
}

/// Every arm's rows for one fold (asked once, at the largest ratio), screened by the one
/// leak policy against the fold's test part; adds each arm's generation time.
fn screened_rows(
    arms: &mut [&mut dyn Augmenter],
    (train, test): (&[Sample], &[Sample]),
    requested_max: &BTreeMap<TechniqueId, usize>,
    fold_seed: u64,
    config: &SweepConfig,
    augment_seconds: &mut BTreeMap<String, f64>,
    mut embedder: Option<&mut (dyn Embedder + '_)>,
) -> Result<Vec<CleanRows>, EvalError> {
    let texts: Vec<&str> = test.iter().map(|s| s.text.as_str()).collect();
    let check = LeakCheck::new(&texts, &config.leak, embedder.as_deref_mut())?;
    let mut clean: Vec<CleanRows> = Vec::with_capacity(arms.len());
    for arm in arms.iter_mut() {
        let t = Instant::now();
        let produced = arm.augment(train, test, requested_max, fold_seed)?;
        *augment_seconds.entry(arm.name().to_owned()).or_insert(0.0) += t.elapsed().as_secs_f64();
        clean.push(CleanRows::screen(
            produced,
            requested_max,
            &check,
            embedder.as_deref_mut(),
        )?);
    }
    Ok(clean)
}

/// Runs the sweep over `samples` (the original dataset; each row's `group` keeps its
/// report together) with the given arms. `embedder` is needed by the embedding probe and
/// by a cosine leak policy.
pub fn run_sweep(
    samples: &[Sample],
    arms: &mut [&mut dyn Augmenter],
    config: &SweepConfig,
    mut embedder: Option<&mut (dyn Embedder + '_)>,
) -> Result<SweepResults, EvalError> {
    config.validate()?;
    let names: Vec<String> = arms.iter().map(|a| a.name().to_owned()).collect();
    let unique: HashSet<&String> = names.iter().collect();
    if unique.len() != names.len() || names.iter().any(|n| n.is_empty() || n == "none") {
        return Err(EvalError::Config(format!(
            "arm names must be unique, non-empty and not `none`: {names:?}"
        )));
    }
    if let Some(r) = &config.reference_arm
        && !names.contains(r)
    {
        return Err(EvalError::Config(format!(
            "reference arm `{r}` is not among the arms {names:?}"
        )));
    }
    let started = Instant::now();
    let ratios = config.positive_ratios();
    let max_ratio = ratios.last().copied().unwrap_or(0.0);

    let mut none_runs: Vec<RunScores> = Vec::new();
    // runs[(arm, ratio index, weight index)]
    let mut runs: BTreeMap<(usize, usize, usize), Vec<RunScores>> = BTreeMap::new();
    let mut folds_info = Vec::new();
    let mut augment_seconds: BTreeMap<String, f64> =
        names.iter().map(|n| (n.clone(), 0.0)).collect();

    let mut progress = FoldProgress::new(config);
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
            let train_counts = label_counts(&train);
            let deficits = config.target.deficits(&train_counts);
            folds_info.push(FoldInfo::new(
                (seed, &fold),
                &train,
                &test,
                &train_counts,
                config.rare_threshold,
            ));
            let test_refs: Vec<&Sample> = test.iter().collect();
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
            none_runs.push(ctx.evaluate(
                &[],
                1.0,
                0,
                LeakCounts::default(),
                embedder.as_deref_mut(),
            )?);
            if ratios.is_empty() {
                progress.fold_done();
                continue;
            }

            let requested_max = wanted(&deficits, max_ratio);
            let fold_seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ fold.index as u64;
            let clean = screened_rows(
                arms,
                (&train, &test),
                &requested_max,
                fold_seed,
                config,
                &mut augment_seconds,
                embedder.as_deref_mut(),
            )?;
            for (r, &ratio) in ratios.iter().enumerate() {
                let want = wanted(&deficits, ratio);
                let requested: usize = want.values().sum();
                for (a, take) in takes(&want, &clean, config.match_counts).iter().enumerate() {
                    let (added, leaked) = clean[a].prefix(take, &want);
                    for (w, &weight) in config.synthetic_weights.iter().enumerate() {
                        let run = ctx.evaluate(
                            &added,
                            weight,
                            requested,
                            leaked,
                            embedder.as_deref_mut(),
                        )?;
                        runs.entry((a, r, w)).or_default().push(run);
                    }
                }
            }
            progress.fold_done();
        }
    }
    progress.finish();

    let test_train_ratio = folds_info
        .iter()
        .map(|f| f.test_rows as f64 / f.train_rows.max(1) as f64)
        .sum::<f64>()
        / folds_info.len().max(1) as f64;
    let none = aggregate("none", 0.0, 1.0, none_runs);
    let mut results: Vec<ArmResult> = runs
        .into_iter()
        .map(|((a, r, w), runs)| aggregate(&names[a], ratios[r], config.synthetic_weights[w], runs))
        .collect();
    add_deltas(
        &mut results,
        &none,
        config.reference_arm.as_deref(),
        test_train_ratio,
    );
    Ok(SweepResults {
        config: config.clone(),
        arms: names,
        none,
        results,
        folds: folds_info,
        augment_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Paired differences of `arm` against `base`, matching runs by (seed, fold).
pub fn paired(arm: &ArmResult, base: &ArmResult, test_train_ratio: f64) -> Deltas {
    let base_runs: BTreeMap<(u64, usize), &Scores> = base
        .runs
        .iter()
        .map(|r| ((r.seed, r.fold), &r.scores))
        .collect();
    let diffs = |f: &dyn Fn(&Scores) -> Option<f64>| -> Vec<f64> {
        arm.runs
            .iter()
            .filter_map(|r| {
                let b = base_runs.get(&(r.seed, r.fold))?;
                Some(f(&r.scores)? - f(b)?)
            })
            .collect()
    };
    Deltas {
        macro_f1: PairedDelta::of(&diffs(&|s| Some(s.macro_f1)), test_train_ratio),
        rare_macro_f1: PairedDelta::of(&diffs(&|s| s.rare_macro_f1), test_train_ratio),
    }
}

fn add_deltas(
    results: &mut [ArmResult],
    none: &ArmResult,
    reference: Option<&str>,
    test_train_ratio: f64,
) {
    let snapshot: Vec<ArmResult> = results.to_vec();
    for r in results.iter_mut() {
        r.vs_none = Some(paired(r, none, test_train_ratio));
        r.vs_reference = reference.filter(|&name| name != r.arm).and_then(|name| {
            snapshot
                .iter()
                .find(|b| {
                    b.arm == name && b.ratio == r.ratio && b.synthetic_weight == r.synthetic_weight
                })
                .map(|b| paired(r, b, test_train_ratio))
        });
    }
}

fn aggregate(arm: &str, ratio: f64, synthetic_weight: f32, runs: Vec<RunScores>) -> ArmResult {
    let stat = |f: &dyn Fn(&RunScores) -> Option<f64>| {
        MeanStd::of(&runs.iter().filter_map(f).collect::<Vec<_>>())
    };
    let mut per_class: BTreeMap<TechniqueId, (Vec<f64>, usize)> = BTreeMap::new();
    let mut leaked = LeakCounts::default();
    for run in &runs {
        leaked.add(&run.leaked);
        for (class, s) in &run.scores.per_class {
            let e = per_class.entry(class.clone()).or_default();
            e.0.push(s.f1);
            e.1 += s.support;
        }
    }
    ArmResult {
        arm: arm.to_owned(),
        ratio,
        synthetic_weight,
        vs_none: None,
        vs_reference: None,
        macro_f1: stat(&|r| Some(r.scores.macro_f1)),
        macro_f1_union: stat(&|r| Some(r.scores.macro_f1_union)),
        rare_macro_f1: stat(&|r| r.scores.rare_macro_f1),
        accuracy: stat(&|r| Some(r.scores.accuracy)),
        per_class: per_class
            .into_iter()
            .map(|(c, (f1, test_rows))| {
                let f1 = MeanStd::of(&f1);
                (c, ClassSummary { f1, test_rows })
            })
            .collect(),
        added_rows: stat(&|r| Some(r.added_rows as f64)),
        requested_rows: stat(&|r| Some(r.requested_rows as f64)),
        leaked,
        probe_seconds: runs.iter().map(|r| r.probe_seconds).sum(),
        runs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two arms, one short of rows for T2: with matching both add 1 row of T2 at ratio 1,
    /// without it the full arm adds 3.
    #[test]
    fn match_counts_caps_every_arm_at_the_fewest_clean_rows() {
        use crate::data::Origin;
        let row = |label: &str, i: usize| Sample {
            id: i,
            text: format!("row {i} of {label} with enough words"),
            label: label.into(),
            group: None,
            origin: Origin::Synthetic,
        };
        let check = LeakCheck::new(&["unrelated"], &LeakPolicy::default(), None).unwrap();
        let cap: BTreeMap<TechniqueId, usize> = [("T1".into(), 2), ("T2".into(), 3)].into();
        let full: Vec<Sample> = (0..2)
            .map(|i| row("T1", i))
            .chain((0..3).map(|i| row("T2", 10 + i)))
            .collect();
        let short: Vec<Sample> = (0..2)
            .map(|i| row("T1", 20 + i))
            .chain([row("T2", 30)])
            .collect();
        let clean = vec![
            CleanRows::screen(full, &cap, &check, None).unwrap(),
            CleanRows::screen(short, &cap, &check, None).unwrap(),
        ];
        let want: BTreeMap<TechniqueId, usize> = [("T1".into(), 2), ("T2".into(), 3)].into();
        let matched = takes(&want, &clean, true);
        assert_eq!(matched[0], [("T1".into(), 2), ("T2".into(), 1)].into());
        assert_eq!(matched[0], matched[1]);
        let free = takes(&want, &clean, false);
        assert_eq!(free[0]["T2"], 3);
        assert_eq!(free[1]["T2"], 1);
        let half: BTreeMap<TechniqueId, usize> = [("T1".into(), 1), ("T2".into(), 0)].into();
        assert_eq!(takes(&half, &clean, true)[1], half);
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let mut c = SweepConfig::default();
        assert!(c.validate().is_ok());
        c.ratios = vec![-1.0];
        assert!(c.validate().is_err());
        c.ratios = vec![f64::NAN];
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
