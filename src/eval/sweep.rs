//! The augmentation sweep: seeds × folds × arms × ratios × synthetic weights.
//!
//! For every seed and fold: split leak-free ([`crate::learn::split::kfold`]) and remove the test
//! rows that copy a training row ([`LeakPolicy`], the same screen as below, for every arm
//! alike); count the training rows per label and compute each label's deficit to the
//! target ([`Target`], the training median by default) from the **training part only**;
//! then, for each ratio, ask every arm for `round(ratio · deficit)` rows per label — each
//! ratio at its own target, never a prefix of another ratio's rows — screen them against
//! the test part, and train the probe on training + clean rows (added rows weighted
//! `synthetic_weight`, originals 1; the reweight arm adds no row and weighs the originals
//! instead). The no-augmentation run (`none`) is trained once per fold and shared.
//!
//! An arm's results depend on that arm alone. Arms are compared by paired differences per
//! fold × seed ([`PairedDelta`]) against `none` and in the configured [`Pair`]s, under a
//! named [`Design`]: `fill` pairs the arms' own runs (each filled what it could), `equal`
//! caps both sides of one pair at the fewer clean rows of the two, per label, for that
//! pair only. One [`Primary`] comparison is tested alone; every other interval is
//! Holm-adjusted as one family ([`Claims`]).

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::EvalError;
use super::baselines::Augmenter;
use super::leak::{CleanRows, Indexed, LeakCheck, LeakCounts, LeakPolicy, LeakSensitivity};
use super::metrics::{MeanStd, PairedDelta, Scores, score};
use super::multiplicity::{ALPHA, HolmAdjusted, holm};
use crate::data::Sample;
use crate::embed::Embedder;
use crate::learn::probe::ProbeConfig;
use crate::learn::split::{SplitConfig, kfold};
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

/// How a comparison `A vs B` is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Design {
    /// Each arm adds what it can toward each ratio's target, independently of every other
    /// arm; `A vs B` pairs those runs. Answers "is it worth filling the target with A
    /// rather than B?", with the rows each side added printed next to the difference.
    #[default]
    Fill,
    /// `A vs B` caps both arms, per label and run, at the fewer clean rows of the two —
    /// for that pair only, so a third arm never changes it. Answers "row for row, are A's
    /// rows better than B's?". The arms' own results stay those of `Fill`.
    Equal,
}

impl std::str::FromStr for Design {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fill" => Ok(Self::Fill),
            "equal" => Ok(Self::Equal),
            _ => Err(format!("unknown design `{s}` (fill, equal)")),
        }
    }
}

impl std::fmt::Display for Design {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fill => "fill",
            Self::Equal => "equal",
        })
    }
}

/// A paired comparison: `arm` minus `base`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Pair {
    /// The arm whose gain is measured.
    pub arm: String,
    /// What it is measured against.
    pub base: String,
}

impl std::str::FromStr for Pair {
    type Err = String;
    /// `ARM:BASE`, e.g. `both:procedures`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() && a != b => Ok(Self {
                arm: a.to_owned(),
                base: b.to_owned(),
            }),
            _ => Err(format!("`{s}`: expected ARM:BASE with two different arms")),
        }
    }
}

impl std::fmt::Display for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} vs {}", self.arm, self.base)
    }
}

/// A score a comparison is made on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Macro-F1 over the test truth's labels.
    MacroF1,
    /// Macro-F1 over the rare labels (1 to `rare_threshold` training rows).
    RareMacroF1,
}

impl Metric {
    /// Both metrics, in table order.
    pub const ALL: [Metric; 2] = [Metric::MacroF1, Metric::RareMacroF1];

    /// The paired difference of this metric.
    pub fn of(self, d: &Deltas) -> &PairedDelta {
        match self {
            Self::MacroF1 => &d.macro_f1,
            Self::RareMacroF1 => &d.rare_macro_f1,
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::MacroF1 => "macro-F1",
            Self::RareMacroF1 => "rare macro-F1",
        })
    }
}

/// The one comparison tested alone at α = 0.05; every other interval is in the family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Primary {
    /// Which arms.
    pub pair: Pair,
    /// At which ratio.
    pub ratio: f64,
    /// On which score.
    pub metric: Metric,
}

/// What to sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    /// Split seeds; each gives a different k-fold partition.
    pub seeds: Vec<u64>,
    /// Number of folds.
    pub folds: usize,
    /// Drop test rows that copy a training row (exact, and — by the leak policy —
    /// contained or embedding near copies), for every arm alike.
    pub drop_test_duplicates: bool,
    /// Multiples of each label's deficit to add, e.g. `[0.5, 1, 2]` (0 is `none`, which
    /// always runs). Each ratio is generated at its own target.
    pub ratios: Vec<f64>,
    /// Loss weights of the added rows to cross with the ratios, e.g. `[1.0, 0.5]`.
    pub synthetic_weights: Vec<f32>,
    /// The per-label target.
    pub target: Target,
    /// Labels with 1 to this many training rows count as rare.
    pub rare_threshold: usize,
    /// The probe, identical for every arm.
    pub probe: ProbeConfig,
    /// The copy-of-a-test-row screen applied to every arm's rows.
    pub leak: LeakPolicy,
    /// How comparisons between arms are built.
    #[serde(default)]
    pub design: Design,
    /// Comparisons between arms, besides every arm vs `none`.
    #[serde(default)]
    pub comparisons: Vec<Pair>,
    /// The primary comparison (also among `comparisons`), if any.
    #[serde(default)]
    pub primary: Option<Primary>,
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
            design: Design::Fill,
            comparisons: Vec::new(),
            primary: None,
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
        if self.seeds.iter().collect::<HashSet<_>>().len() != self.seeds.len() {
            return bad(
                "seeds must be distinct (a repeated seed repeats its folds and inflates n)",
            );
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
        if let Some(p) = &self.primary
            && !self.positive_ratios().contains(&p.ratio)
        {
            return Err(EvalError::Config(format!(
                "the primary comparison's ratio {} is not among the ratios {:?}",
                p.ratio, self.ratios
            )));
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

    /// The comparisons to run: the configured ones and the primary's pair, deduplicated,
    /// in the order given.
    fn all_comparisons(&self) -> Vec<Pair> {
        let mut out: Vec<Pair> = Vec::new();
        for p in self
            .primary
            .iter()
            .map(|p| &p.pair)
            .chain(&self.comparisons)
        {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
        out
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
    /// Rows added per label (requested per label: the fold's deficit × the ratio).
    #[serde(default)]
    pub added_per_label: BTreeMap<TechniqueId, usize>,
    /// Rows dropped by the leak screen on the way to the added ones.
    pub leaked: LeakCounts,
    /// Rows a looser / tighter screen would have dropped.
    #[serde(default)]
    pub leak_sensitivity: LeakSensitivity,
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

/// Aggregated results of one arm × ratio × synthetic weight. Depends on that arm alone:
/// adding or removing another arm leaves it unchanged (timings aside).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmResult {
    /// Arm name (`none` for the shared no-augmentation run).
    pub arm: String,
    /// Multiple of the deficit asked for.
    pub ratio: f64,
    /// Loss weight of the added rows.
    pub synthetic_weight: f32,
    /// Paired differences vs `none` (absent on `none` itself), unadjusted.
    pub vs_none: Option<Deltas>,
    /// Macro-F1 over folds × seeds (the test truth's labels).
    pub macro_f1: MeanStd,
    /// Macro-F1 over the union of true and predicted labels (secondary).
    pub macro_f1_union: MeanStd,
    /// Rare-class macro-F1 over the folds × seeds that had rare classes.
    pub rare_macro_f1: MeanStd,
    /// Macro-F1 of the labels with no training row, over the runs that had such labels.
    #[serde(default = "empty_mean")]
    pub unseen_macro_f1: MeanStd,
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
    /// Rows a looser / tighter screen would have dropped, summed over runs.
    #[serde(default)]
    pub leak_sensitivity: LeakSensitivity,
    /// Total seconds spent in the probe (all runs).
    pub probe_seconds: f64,
    /// Every run.
    pub runs: Vec<RunScores>,
}

fn empty_mean() -> MeanStd {
    MeanStd::of(&[])
}

/// One comparison `pair.arm − pair.base` at one ratio and weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonResult {
    /// The arms compared.
    pub pair: Pair,
    /// Ratio.
    pub ratio: f64,
    /// Loss weight of the added rows.
    pub synthetic_weight: f32,
    /// How the two sides were built.
    pub design: Design,
    /// Rows the arm added per run (under `Equal`: after the pair's cap).
    pub arm_added: MeanStd,
    /// Rows the base added per run (under `Equal`: after the pair's cap).
    pub base_added: MeanStd,
    /// Rows requested per run.
    pub requested: MeanStd,
    /// Paired differences, unadjusted.
    pub deltas: Deltas,
    /// Under `Equal`, the capped runs of the arm and of the base (empty under `Fill`,
    /// whose runs are the arms' own).
    #[serde(default)]
    pub capped_runs: Vec<[RunScores; 2]>,
}

/// One interval of the family Holm adjusts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyMember {
    /// The comparison (`base` is `none` for an arm vs no augmentation).
    pub pair: Pair,
    /// Ratio.
    pub ratio: f64,
    /// Loss weight of the added rows.
    pub synthetic_weight: f32,
    /// Score.
    pub metric: Metric,
    /// Mean difference (unadjusted interval: in the comparison or the arm's `vs_none`).
    pub mean: f64,
    /// What Holm made of it.
    pub holm: HolmAdjusted,
}

/// The primary comparison's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrimaryResult {
    /// What was named primary.
    pub primary: Primary,
    /// The synthetic weight it was tested at (the first one swept).
    pub synthetic_weight: f32,
    /// Its paired difference (95%, tested alone).
    pub delta: PairedDelta,
    /// Rows the arm and the base added per run.
    pub added: [MeanStd; 2],
    /// Rows requested per run.
    pub requested: MeanStd,
}

/// What the sweep claims: the primary comparison and the Holm-adjusted family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Family-wise error rate.
    pub alpha: f64,
    /// The primary comparison, tested alone.
    pub primary: Option<PrimaryResult>,
    /// Every other interval the tables show: each arm vs `none` and each comparison, on
    /// both metrics, at every ratio and weight.
    pub family: Vec<FamilyMember>,
}

impl Claims {
    /// The adjusted member for one comparison, metric, ratio and weight.
    pub fn find(
        &self,
        pair: &Pair,
        ratio: f64,
        weight: f32,
        metric: Metric,
    ) -> Option<&FamilyMember> {
        self.family.iter().find(|m| {
            &m.pair == pair
                && m.ratio == ratio
                && m.synthetic_weight == weight
                && m.metric == metric
        })
    }
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
    /// Test rows dropped as exact copies (normalised text) of training rows by the split.
    pub dropped_test_duplicates: usize,
    /// Further test rows dropped as copies of training rows by the leak policy.
    #[serde(default)]
    pub dropped_test_copies: LeakCounts,
    /// Test rows a looser / tighter policy would have dropped.
    #[serde(default)]
    pub dropped_test_sensitivity: LeakSensitivity,
    /// Labels with 1 to `rare_threshold` training rows.
    pub rare_labels: usize,
    /// Labels in the test truth (the labels every arm is scored on).
    pub test_labels: usize,
    /// Each label's deficit to the target (rows requested at ratio r: round(r · deficit)).
    #[serde(default)]
    pub deficits: BTreeMap<TechniqueId, f64>,
}

impl FoldInfo {
    /// The facts of one split (logged as it starts); leak-screen drops and deficits are
    /// filled in by the sweep.
    fn new(
        (seed, fold): (u64, &crate::learn::split::Fold),
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
            dropped_test_copies: LeakCounts::default(),
            dropped_test_sensitivity: LeakSensitivity::default(),
            rare_labels: train_counts
                .values()
                .filter(|&&n| (1..=rare_threshold).contains(&n))
                .count(),
            test_labels: test_labels.len(),
            deficits: BTreeMap::new(),
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
    /// One entry per comparison × positive ratio × weight.
    #[serde(default)]
    pub comparisons: Vec<ComparisonResult>,
    /// The primary comparison and the Holm-adjusted family.
    pub claims: Claims,
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

/// The rows (or weights) one arm adds in one run.
struct Addition<'a> {
    rows: Vec<&'a Sample>,
    /// Per-label weights of the original rows (the reweight arm).
    label_weights: Option<&'a BTreeMap<TechniqueId, f32>>,
    requested: usize,
    leaked: LeakCounts,
    sensitivity: LeakSensitivity,
}

impl FoldContext<'_> {
    /// Trains on the training part plus the addition (added rows weighted `weight`) and
    /// scores the test part.
    fn evaluate(
        &self,
        add: &Addition<'_>,
        weight: f32,
        embedder: Option<&mut (dyn Embedder + '_)>,
    ) -> Result<RunScores, EvalError> {
        let rows: Vec<&Sample> = self.train.iter().chain(add.rows.iter().copied()).collect();
        // Loss weights (n + k) / n, scaled like added rows: 1 + weight · k / n.
        let mut weights: Vec<f32> = match add.label_weights {
            Some(w) => self
                .train
                .iter()
                .map(|s| 1.0 + weight * (w.get(&s.label).copied().unwrap_or(1.0) - 1.0))
                .collect(),
            None => vec![1.0; self.train.len()],
        };
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
        let mut added_per_label: BTreeMap<TechniqueId, usize> = BTreeMap::new();
        for s in &add.rows {
            *added_per_label.entry(s.label.clone()).or_default() += 1;
        }
        Ok(RunScores {
            seed: self.seed,
            fold: self.fold,
            added_rows: add.rows.len(),
            requested_rows: add.requested,
            added_per_label,
            leaked: add.leaked,
            leak_sensitivity: add.sensitivity,
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

/// Per label, the fewer clean rows of two arms: the equal-budget cap of one pair.
fn pair_cap(a: &CleanRows, b: &CleanRows) -> BTreeMap<TechniqueId, usize> {
    let (ca, cb) = (a.counts(), b.counts());
    ca.iter()
        .map(|(l, &n)| (l.clone(), n.min(cb.get(l).copied().unwrap_or(0))))
        .collect()
}

/// One arm's output at one ratio of one fold: screened rows, or loss weights.
enum ArmOutput {
    Rows(CleanRows),
    Weights(BTreeMap<TechniqueId, f32>),
}

impl ArmOutput {
    /// The addition at `take` rows per label (all clean rows under `None`).
    fn addition<'a>(
        &'a self,
        take: Option<&BTreeMap<TechniqueId, usize>>,
        want: &BTreeMap<TechniqueId, usize>,
    ) -> Addition<'a> {
        let requested = want.values().sum();
        match self {
            ArmOutput::Weights(w) => Addition {
                rows: Vec::new(),
                label_weights: Some(w),
                requested,
                leaked: LeakCounts::default(),
                sensitivity: LeakSensitivity::default(),
            },
            ArmOutput::Rows(clean) => {
                let all = clean.counts();
                let (rows, leaked) = clean.prefix(take.unwrap_or(&all), want);
                Addition {
                    rows,
                    label_weights: None,
                    requested,
                    leaked,
                    sensitivity: clean.sensitivity,
                }
            }
        }
    }
}

/// One fold of the sweep: the split, the leak checks, every arm at every ratio.
struct FoldRun<'a> {
    ctx: FoldContext<'a>,
    test_samples: &'a [Sample],
    deficits: &'a BTreeMap<TechniqueId, f64>,
    fold_seed: u64,
}

/// Runs per (arm, ratio index, weight index), and per (comparison, ratio, weight) the
/// capped runs of an equal-budget design.
#[derive(Default)]
struct Runs {
    none: Vec<RunScores>,
    arms: BTreeMap<(usize, usize, usize), Vec<RunScores>>,
    capped: BTreeMap<(usize, usize, usize), Vec<[RunScores; 2]>>,
}

impl FoldRun<'_> {
    /// Every arm at every ratio (each generated at that ratio's own target), then the
    /// equal-budget comparisons.
    fn run(
        &self,
        arms: &mut [&mut dyn Augmenter],
        pairs: &[(usize, usize)],
        runs: &mut Runs,
        augment_seconds: &mut BTreeMap<String, f64>,
        mut embedder: Option<&mut (dyn Embedder + '_)>,
    ) -> Result<(), EvalError> {
        let config = self.ctx.config;
        let check = LeakCheck::new(
            &text_label(self.test_samples),
            Indexed::Test,
            &config.leak,
            embedder.as_deref_mut(),
        )?;
        for (r, &ratio) in config.positive_ratios().iter().enumerate() {
            let want = wanted(self.deficits, ratio);
            let mut outputs = Vec::with_capacity(arms.len());
            for arm in arms.iter_mut() {
                let t = Instant::now();
                let out = match arm.loss_weights(self.ctx.train_counts, &want) {
                    Some(w) => ArmOutput::Weights(w),
                    None => {
                        let produced =
                            arm.augment(self.ctx.train, self.test_samples, &want, self.fold_seed)?;
                        ArmOutput::Rows(CleanRows::screen(
                            produced,
                            &want,
                            &check,
                            embedder.as_deref_mut(),
                        )?)
                    }
                };
                *augment_seconds.entry(arm.name().to_owned()).or_insert(0.0) +=
                    t.elapsed().as_secs_f64();
                outputs.push(out);
            }
            for (a, out) in outputs.iter().enumerate() {
                let add = out.addition(None, &want);
                for (w, &weight) in config.synthetic_weights.iter().enumerate() {
                    let run = self.ctx.evaluate(&add, weight, embedder.as_deref_mut())?;
                    runs.arms.entry((a, r, w)).or_default().push(run);
                }
            }
            if config.design == Design::Equal {
                for (c, &(a, b)) in pairs.iter().enumerate() {
                    // A weighting arm's budget is the other side's clean rows: its
                    // weights are asked again for that many rows per label.
                    let cap = match (&outputs[a], &outputs[b]) {
                        (ArmOutput::Rows(x), ArmOutput::Rows(y)) => Some(pair_cap(x, y)),
                        (ArmOutput::Rows(x), _) | (_, ArmOutput::Rows(x)) => Some(x.counts()),
                        _ => None,
                    };
                    let reweighted = |i: usize| match (&outputs[i], &cap) {
                        (ArmOutput::Weights(_), Some(cap)) => arms[i]
                            .loss_weights(self.ctx.train_counts, cap)
                            .map(ArmOutput::Weights),
                        _ => None,
                    };
                    let (ra, rb) = (reweighted(a), reweighted(b));
                    let add_a = match &ra {
                        Some(w) => w.addition(None, &want),
                        None => outputs[a].addition(cap.as_ref(), &want),
                    };
                    let add_b = match &rb {
                        Some(w) => w.addition(None, &want),
                        None => outputs[b].addition(cap.as_ref(), &want),
                    };
                    for (w, &weight) in config.synthetic_weights.iter().enumerate() {
                        let run_a = self.ctx.evaluate(&add_a, weight, embedder.as_deref_mut())?;
                        let run_b = self.ctx.evaluate(&add_b, weight, embedder.as_deref_mut())?;
                        runs.capped
                            .entry((c, r, w))
                            .or_default()
                            .push([run_a, run_b]);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Each row's (text, label), as the leak screen takes them.
fn text_label(rows: &[Sample]) -> Vec<(&str, &str)> {
    rows.iter()
        .map(|s| (s.text.as_str(), s.label.as_str()))
        .collect()
}

/// Removes from `test` the rows that copy a training row under `policy` (the same screen
/// the arms' rows go through, pointed the other way); counts them, and what a looser and
/// a tighter policy would have removed.
fn drop_test_copies(
    train: &[Sample],
    test: Vec<Sample>,
    policy: &LeakPolicy,
    embedder: Option<&mut (dyn Embedder + '_)>,
) -> Result<(Vec<Sample>, LeakCounts, LeakSensitivity), EvalError> {
    let mut embedder = embedder;
    let check = LeakCheck::new(
        &text_label(train),
        Indexed::Training,
        policy,
        embedder.as_deref_mut(),
    )?;
    let scores = check.scores(&text_label(&test), embedder)?;
    let mut dropped = LeakCounts::default();
    let mut kept = Vec::with_capacity(test.len());
    for (row, s) in test.into_iter().zip(&scores) {
        match policy.verdict(s) {
            Some(leak) => dropped.count(leak),
            None => kept.push(row),
        }
    }
    Ok((kept, dropped, LeakSensitivity::of(policy, &scores)))
}

/// Comparisons as (arm, base) indices into the arm list.
type IndexPairs = Vec<(usize, usize)>;

/// Checks arm names and comparisons; returns the names and the comparisons as index pairs.
fn check_arms(
    arms: &[&mut dyn Augmenter],
    config: &SweepConfig,
) -> Result<(Vec<String>, IndexPairs), EvalError> {
    let names: Vec<String> = arms.iter().map(|a| a.name().to_owned()).collect();
    let unique: HashSet<&String> = names.iter().collect();
    if unique.len() != names.len() || names.iter().any(|n| n.is_empty() || n == "none") {
        return Err(EvalError::Config(format!(
            "arm names must be unique, non-empty and not `none`: {names:?}"
        )));
    }
    let index = |name: &str| {
        names.iter().position(|n| n == name).ok_or_else(|| {
            EvalError::Config(format!(
                "comparison arm `{name}` is not among the arms {names:?}"
            ))
        })
    };
    let pairs = config
        .all_comparisons()
        .iter()
        .map(|p| Ok((index(&p.arm)?, index(&p.base)?)))
        .collect::<Result<Vec<_>, EvalError>>()?;
    Ok((names, pairs))
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
    let (names, pairs) = check_arms(arms, config)?;
    let started = Instant::now();
    let mut runs = Runs::default();
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
            let (test, copies, copies_sensitivity) = if config.drop_test_duplicates {
                drop_test_copies(&train, test, &config.leak, embedder.as_deref_mut())?
            } else {
                (test, LeakCounts::default(), LeakSensitivity::default())
            };
            if test.is_empty() {
                return Err(EvalError::Data(format!(
                    "fold {} of seed {seed} has no test row left",
                    fold.index
                )));
            }
            let train_counts = label_counts(&train);
            let deficits = config.target.deficits(&train_counts);
            let mut info = FoldInfo::new(
                (seed, &fold),
                &train,
                &test,
                &train_counts,
                config.rare_threshold,
            );
            info.dropped_test_copies = copies;
            info.dropped_test_sensitivity = copies_sensitivity;
            info.deficits = deficits.clone();
            folds_info.push(info);
            let test_refs: Vec<&Sample> = test.iter().collect();
            let y_true: Vec<&str> = test.iter().map(|s| s.label.as_str()).collect();
            let fold_run = FoldRun {
                ctx: FoldContext {
                    seed,
                    fold: fold.index,
                    train: &train,
                    test: &test_refs,
                    y_true: &y_true,
                    train_counts: &train_counts,
                    config,
                },
                test_samples: &test,
                deficits: &deficits,
                fold_seed: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ fold.index as u64,
            };
            let nothing = ArmOutput::Rows(CleanRows::default());
            let none_run = fold_run.ctx.evaluate(
                &nothing.addition(None, &BTreeMap::new()),
                1.0,
                embedder.as_deref_mut(),
            )?;
            runs.none.push(none_run);
            fold_run.run(
                arms,
                &pairs,
                &mut runs,
                &mut augment_seconds,
                embedder.as_deref_mut(),
            )?;
            progress.fold_done();
        }
    }
    progress.finish();
    Ok(assemble(
        config,
        names,
        &pairs,
        runs,
        folds_info,
        augment_seconds,
        started,
    ))
}

/// Aggregates the runs into arm results, comparisons and claims.
fn assemble(
    config: &SweepConfig,
    names: Vec<String>,
    pairs: &[(usize, usize)],
    runs: Runs,
    folds_info: Vec<FoldInfo>,
    augment_seconds: BTreeMap<String, f64>,
    started: Instant,
) -> SweepResults {
    let ratios = config.positive_ratios();
    let test_train_ratio = folds_info
        .iter()
        .map(|f| f.test_rows as f64 / f.train_rows.max(1) as f64)
        .sum::<f64>()
        / folds_info.len().max(1) as f64;
    let none = aggregate("none", 0.0, 1.0, runs.none);
    let mut results: Vec<ArmResult> = runs
        .arms
        .into_iter()
        .map(|((a, r, w), runs)| aggregate(&names[a], ratios[r], config.synthetic_weights[w], runs))
        .collect();
    for r in &mut results {
        r.vs_none = Some(paired(&r.runs, &none.runs, test_train_ratio));
    }
    let find = |arm: &str, ratio: f64, w: f32| {
        results
            .iter()
            .find(|r| r.arm == arm && r.ratio == ratio && r.synthetic_weight == w)
    };
    let mut comparisons = Vec::new();
    for (c, &(a, b)) in pairs.iter().enumerate() {
        for (r, &ratio) in ratios.iter().enumerate() {
            for (w, &weight) in config.synthetic_weights.iter().enumerate() {
                let (Some(ra), Some(rb)) = (
                    find(&names[a], ratio, weight),
                    find(&names[b], ratio, weight),
                ) else {
                    continue;
                };
                let capped = runs.capped.get(&(c, r, w)).cloned().unwrap_or_default();
                let (side_a, side_b): (Vec<RunScores>, Vec<RunScores>) = if capped.is_empty() {
                    (ra.runs.clone(), rb.runs.clone())
                } else {
                    capped.iter().map(|[x, y]| (x.clone(), y.clone())).unzip()
                };
                let added = |runs: &[RunScores]| {
                    MeanStd::of(&runs.iter().map(|r| r.added_rows as f64).collect::<Vec<_>>())
                };
                comparisons.push(ComparisonResult {
                    pair: Pair {
                        arm: names[a].clone(),
                        base: names[b].clone(),
                    },
                    ratio,
                    synthetic_weight: weight,
                    design: config.design,
                    arm_added: added(&side_a),
                    base_added: added(&side_b),
                    requested: ra.requested_rows,
                    deltas: paired(&side_a, &side_b, test_train_ratio),
                    capped_runs: capped,
                });
            }
        }
    }
    let claims = claims(config, &results, &comparisons);
    SweepResults {
        config: config.clone(),
        arms: names,
        none,
        results,
        comparisons,
        claims,
        folds: folds_info,
        augment_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
    }
}

/// The primary comparison (tested alone) and the Holm-adjusted family of every other
/// interval: each arm vs `none` and each comparison, both metrics. A difference over fewer
/// than 2 paired runs (e.g. no rare class) has no interval and stays out of the family.
fn claims(config: &SweepConfig, results: &[ArmResult], comparisons: &[ComparisonResult]) -> Claims {
    let first_weight = config.synthetic_weights.first().copied().unwrap_or(1.0);
    let is_primary = |pair: &Pair, ratio: f64, weight: f32, metric: Metric| {
        config.primary.as_ref().is_some_and(|p| {
            &p.pair == pair && p.ratio == ratio && p.metric == metric && weight == first_weight
        })
    };
    let mut primary = None;
    let mut members: Vec<(Pair, f64, f32, Metric, PairedDelta)> = Vec::new();
    for r in results {
        let Some(d) = &r.vs_none else { continue };
        let pair = Pair {
            arm: r.arm.clone(),
            base: "none".into(),
        };
        for metric in Metric::ALL {
            members.push((
                pair.clone(),
                r.ratio,
                r.synthetic_weight,
                metric,
                *metric.of(d),
            ));
        }
    }
    for c in comparisons {
        for metric in Metric::ALL {
            let d = *metric.of(&c.deltas);
            if is_primary(&c.pair, c.ratio, c.synthetic_weight, metric) {
                primary = config.primary.clone().map(|p| PrimaryResult {
                    primary: p,
                    synthetic_weight: c.synthetic_weight,
                    delta: d,
                    added: [c.arm_added, c.base_added],
                    requested: c.requested,
                });
            } else if d.n >= 2 {
                members.push((c.pair.clone(), c.ratio, c.synthetic_weight, metric, d));
            }
        }
    }
    let adjusted = holm(
        &members.iter().map(|m| m.4.member()).collect::<Vec<_>>(),
        ALPHA,
    );
    Claims {
        alpha: ALPHA,
        primary,
        family: members
            .into_iter()
            .zip(adjusted)
            .map(
                |((pair, ratio, synthetic_weight, metric, d), holm)| FamilyMember {
                    pair,
                    ratio,
                    synthetic_weight,
                    metric,
                    mean: d.mean,
                    holm,
                },
            )
            .collect(),
    }
}

/// Paired differences of `arm` runs against `base` runs, matching them by (seed, fold).
pub fn paired(arm: &[RunScores], base: &[RunScores], test_train_ratio: f64) -> Deltas {
    let base_runs: BTreeMap<(u64, usize), &Scores> =
        base.iter().map(|r| ((r.seed, r.fold), &r.scores)).collect();
    let diffs = |f: &dyn Fn(&Scores) -> Option<f64>| -> Vec<f64> {
        arm.iter()
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

fn aggregate(arm: &str, ratio: f64, synthetic_weight: f32, runs: Vec<RunScores>) -> ArmResult {
    let stat = |f: &dyn Fn(&RunScores) -> Option<f64>| {
        MeanStd::of(&runs.iter().filter_map(f).collect::<Vec<_>>())
    };
    let mut per_class: BTreeMap<TechniqueId, (Vec<f64>, usize)> = BTreeMap::new();
    let mut leaked = LeakCounts::default();
    let mut leak_sensitivity = LeakSensitivity::default();
    for run in &runs {
        leaked.add(&run.leaked);
        leak_sensitivity.add(&run.leak_sensitivity);
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
        macro_f1: stat(&|r| Some(r.scores.macro_f1)),
        macro_f1_union: stat(&|r| Some(r.scores.macro_f1_union)),
        rare_macro_f1: stat(&|r| r.scores.rare_macro_f1),
        unseen_macro_f1: stat(&|r| r.scores.unseen_macro_f1),
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
        leak_sensitivity,
        probe_seconds: runs.iter().map(|r| r.probe_seconds).sum(),
        runs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two arms, one short of rows for T2: a pair's equal-budget cap is the fewer clean
    /// rows of the two, per label.
    #[test]
    fn pair_cap_is_the_fewer_clean_rows_per_label() {
        use crate::data::Origin;
        let row = |label: &str, i: usize| Sample {
            id: i,
            text: format!("row {i} of {label} with enough words"),
            label: label.into(),
            group: None,
            origin: Origin::Synthetic,
        };
        let check = LeakCheck::new(
            &[("unrelated", "T1")],
            Indexed::Test,
            &LeakPolicy::default(),
            None,
        )
        .unwrap();
        let cap: BTreeMap<TechniqueId, usize> = [("T1".into(), 2), ("T2".into(), 3)].into();
        let full: Vec<Sample> = (0..2)
            .map(|i| row("T1", i))
            .chain((0..3).map(|i| row("T2", 10 + i)))
            .collect();
        let short: Vec<Sample> = (0..2)
            .map(|i| row("T1", 20 + i))
            .chain([row("T2", 30)])
            .collect();
        let full = CleanRows::screen(full, &cap, &check, None).unwrap();
        let short = CleanRows::screen(short, &cap, &check, None).unwrap();
        let want: BTreeMap<TechniqueId, usize> = [("T1".into(), 2), ("T2".into(), 3)].into();
        assert_eq!(
            pair_cap(&full, &short),
            [("T1".into(), 2), ("T2".into(), 1)].into()
        );
        assert_eq!(pair_cap(&full, &short), pair_cap(&short, &full));
        let (a, b) = (ArmOutput::Rows(full), ArmOutput::Rows(short));
        assert_eq!(
            a.addition(None, &want).rows.len(),
            5,
            "fill: every clean row"
        );
        let c = match (&a, &b) {
            (ArmOutput::Rows(x), ArmOutput::Rows(y)) => pair_cap(x, y),
            _ => unreachable!(),
        };
        assert_eq!(a.addition(Some(&c), &want).rows.len(), 3);
        assert_eq!(b.addition(Some(&c), &want).rows.len(), 3);
        assert_eq!(a.addition(None, &want).requested, 5);
    }

    #[test]
    fn designs_and_pairs_parse() {
        assert_eq!("fill".parse::<Design>().unwrap(), Design::Fill);
        assert_eq!("equal".parse::<Design>().unwrap(), Design::Equal);
        assert!("matched".parse::<Design>().is_err());
        let p: Pair = "both:procedures".parse().unwrap();
        assert_eq!((p.arm.as_str(), p.base.as_str()), ("both", "procedures"));
        for bad in ["both", "both:", ":x", "a:a"] {
            assert!(bad.parse::<Pair>().is_err(), "{bad}");
        }
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
        c = SweepConfig {
            primary: Some(Primary {
                pair: "a:b".parse().unwrap(),
                ratio: 3.0,
                metric: Metric::RareMacroF1,
            }),
            ..SweepConfig::default()
        };
        assert!(c.validate().is_err(), "the primary ratio must be swept");
        c = SweepConfig {
            seeds: vec![0, 1, 0],
            ..SweepConfig::default()
        };
        assert!(
            c.validate().is_err(),
            "a repeated seed would count its folds twice"
        );
    }
}
