//! Integration tests of the evaluation toolkit: splits, probes, metrics, baselines, sweep
//! and report outputs.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ndarray::Array2;
use proptest::prelude::*;
use synthcti::data::{Origin, Sample};
use synthcti::embed::{EmbedError, Embedder};
use synthcti::eval::EvalError;
use synthcti::eval::baselines::{Augmenter, ClassReweight, EdaAugmenter, RandomOversampler};
use synthcti::eval::metrics::score;
use synthcti::eval::report::{CSV_HEADER, write_results};
use synthcti::eval::sweep::{Design, Metric, Primary, SweepConfig, SweepResults, run_sweep};
use synthcti::learn::linear::{LinearKind, LinearModel, LinearModelConfig};
use synthcti::learn::probe::{ProbeConfig, fit_predict_dense, fit_predict_sparse};
use synthcti::learn::sparse::CsrMatrix;
use synthcti::learn::split::{SplitConfig, kfold};
use synthcti::learn::tfidf::{Analyzer, TfidfConfig};
use synthcti::technique::TechniqueId;

fn sample(id: usize, text: &str, label: &str, group: Option<&str>) -> Sample {
    Sample {
        id,
        text: text.to_owned(),
        label: label.into(),
        group: group.map(str::to_owned),
        origin: Origin::Original,
    }
}

#[derive(serde::Deserialize)]
struct TramRow {
    text: String,
    label: String,
    doc_title: String,
}

fn tram() -> Vec<Sample> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tram2_single_label.json");
    let rows: Vec<TramRow> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| sample(i, &r.text, &r.label, Some(&r.doc_title)))
        .collect()
}

/// A small separable corpus: each class has its own vocabulary.
fn separable(per_class: usize) -> Vec<Sample> {
    let vocab = [
        ("T1", ["alpha", "apple", "anchor"]),
        ("T2", ["bravo", "banana", "bridge"]),
        ("T3", ["charlie", "cherry", "castle"]),
    ];
    let mut rows = Vec::new();
    for (label, words) in vocab {
        for i in 0..per_class {
            let text = format!(
                "{} {} {} item{}",
                words[i % 3],
                words[(i + 1) % 3],
                words[(i + 2) % 3],
                rows.len()
            );
            rows.push(sample(
                rows.len(),
                &text,
                label,
                Some(&format!("g{}", rows.len() % 7)),
            ));
        }
    }
    rows
}

fn folds_of(rows: &[Sample], seed: u64) -> Vec<BTreeSet<usize>> {
    let config = SplitConfig {
        folds: 5,
        seed,
        drop_test_duplicates: false,
    };
    let mut folds: Vec<BTreeSet<usize>> = kfold(rows, &config)
        .unwrap()
        .into_iter()
        .map(|f| f.test.into_iter().collect())
        .collect();
    folds.sort();
    folds
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// No group on both sides of a fold; every row in exactly one test fold.
    #[test]
    fn split_never_shares_a_group(
        assignment in prop::collection::vec((prop::option::weighted(0.8, 0usize..25), 0usize..4), 10..150),
        k in 2usize..6,
        seed in any::<u64>(),
    ) {
        let rows: Vec<Sample> = assignment
            .iter()
            .enumerate()
            .map(|(i, (g, l))| {
                let group = g.map(|g| format!("r{g}"));
                sample(i, &format!("text {i}"), &format!("L{l}"), group.as_deref())
            })
            .collect();
        let groups: HashSet<String> = rows
            .iter()
            .enumerate()
            .map(|(i, s)| s.group.clone().unwrap_or_else(|| format!("row{i}")))
            .collect();
        let config = SplitConfig { folds: k, seed, drop_test_duplicates: false };
        let result = kfold(&rows, &config);
        if groups.len() < k {
            prop_assert!(result.is_err());
            return Ok(());
        }
        let folds = result.unwrap();
        let mut seen = vec![0usize; rows.len()];
        for fold in &folds {
            prop_assert!(!fold.test.is_empty());
            prop_assert_eq!(fold.train.len() + fold.test.len(), rows.len());
            let test_groups: HashSet<&str> =
                fold.test.iter().filter_map(|&i| rows[i].group.as_deref()).collect();
            for &i in &fold.train {
                if let Some(g) = rows[i].group.as_deref() {
                    prop_assert!(!test_groups.contains(g), "group {} on both sides", g);
                }
            }
            for &i in &fold.test {
                seen[i] += 1;
            }
        }
        prop_assert!(seen.iter().all(|&n| n == 1));
    }
}

#[test]
fn different_seeds_give_different_folds_on_tram() {
    let rows = tram();
    let a = folds_of(&rows, 0);
    assert_eq!(a, folds_of(&rows, 0), "same seed, same folds");
    let others: Vec<_> = (1..4).map(|s| folds_of(&rows, s)).collect();
    for b in &others {
        assert_ne!(&a, b);
    }
}

#[test]
fn grouped_folds_are_balanced_on_tram() {
    let rows = tram();
    let folds = kfold(&rows, &SplitConfig::default()).unwrap();
    let mut total: HashMap<&str, usize> = HashMap::new();
    for s in &rows {
        *total.entry(s.label.as_str()).or_insert(0) += 1;
    }
    for fold in &folds {
        let size = fold.test.len() + fold.dropped_test_duplicates;
        assert!(
            (size as f64 - rows.len() as f64 / 5.0).abs() < 0.1 * rows.len() as f64 / 5.0,
            "fold {} has {size} rows",
            fold.index
        );
    }
    // Every class with ≥ 50 rows has test rows in every fold.
    for (label, &n) in &total {
        if n >= 50 {
            for fold in &folds {
                assert!(
                    fold.test.iter().any(|&i| rows[i].label == *label),
                    "{label}"
                );
            }
        }
    }
}

#[test]
fn stratification_balances_classes_without_groups() {
    let rows: Vec<Sample> = (0..500)
        .map(|i| {
            let label = if i < 300 {
                "a"
            } else if i < 450 {
                "b"
            } else {
                "c"
            };
            sample(i, &format!("t{i}"), label, None)
        })
        .collect();
    for seed in 0..5 {
        for fold in folds_of(&rows, seed) {
            let count = |l: &str| fold.iter().filter(|&&i| rows[i].label == l).count();
            assert!(count("a").abs_diff(60) <= 1, "{}", count("a"));
            assert!(count("b").abs_diff(30) <= 1, "{}", count("b"));
            assert!(count("c").abs_diff(10) <= 1, "{}", count("c"));
        }
    }
}

#[test]
fn exact_copies_in_test_are_dropped_and_counted() {
    // Rows 0/1 and 2/3 are copies (up to case and spacing) in different groups.
    let mut rows = vec![
        sample(0, "Runs  whoami", "a", Some("r1")),
        sample(1, "runs WHOAMI", "a", Some("r2")),
        sample(2, "dumps lsass", "b", Some("r3")),
        sample(3, "dumps lsass ", "b", Some("r4")),
    ];
    rows.extend((4..40).map(|i| sample(i, &format!("unique {i}"), "c", Some(&format!("u{i}")))));
    let config = SplitConfig {
        folds: 2,
        seed: 7,
        drop_test_duplicates: true,
    };
    let folds = kfold(&rows, &config).unwrap();
    let mut expected_total = 0;
    for fold in &folds {
        let train: HashSet<String> = fold
            .train
            .iter()
            .map(|&i| synthcti::data::normalize_text(&rows[i].text))
            .collect();
        let kept: HashSet<usize> = fold.test.iter().copied().collect();
        let test_part: Vec<usize> = (0..rows.len())
            .filter(|i| !fold.train.contains(i))
            .collect();
        let expected = test_part
            .iter()
            .filter(|&&i| train.contains(&synthcti::data::normalize_text(&rows[i].text)))
            .count();
        assert_eq!(fold.dropped_test_duplicates, expected);
        assert_eq!(kept.len() + expected, test_part.len());
        for &i in &fold.test {
            assert!(!train.contains(&synthcti::data::normalize_text(&rows[i].text)));
        }
        expected_total += expected;
    }
    assert!(expected_total > 0, "the copies were never split apart");
}

#[test]
fn probes_reach_f1_one_on_separable_data() {
    let train = separable(12);
    let test = separable(4);
    let refs: Vec<&Sample> = train.iter().collect();
    let test_refs: Vec<&Sample> = test.iter().collect();
    let truth: Vec<&str> = test.iter().map(|s| s.label.as_str()).collect();
    for model in [LinearModelConfig::svm(), LinearModelConfig::logistic()] {
        for analyzer in [
            Analyzer::Word { min_n: 1, max_n: 1 },
            Analyzer::Char { min_n: 2, max_n: 5 },
        ] {
            let probe = ProbeConfig {
                features: synthcti::learn::probe::ProbeFeatures::Tfidf(TfidfConfig {
                    analyzer,
                    sublinear_tf: true,
                    min_df: 1,
                }),
                model,
            };
            let pred = probe
                .fit_predict(&refs, &vec![1.0; refs.len()], &test_refs, None)
                .unwrap();
            let s = score(&truth, &pred, &BTreeMap::new(), 30).unwrap();
            assert_eq!(s.macro_f1, 1.0, "{model:?} {analyzer:?}");
        }
    }
}

/// Embeds a text as the indicator of its first letter among a, b, c.
struct FirstLetter;
impl Embedder for FirstLetter {
    fn model_id(&self) -> &str {
        "first-letter"
    }
    fn dim(&self) -> usize {
        3
    }
    fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
        Ok(Array2::from_shape_fn((texts.len(), 3), |(i, j)| {
            f32::from(texts[i].as_bytes().first() == Some(&(b'a' + j as u8)))
        }))
    }
}

#[test]
fn embedding_probe_separates_and_needs_an_embedder() {
    let train = separable(10);
    let test = separable(3);
    let refs: Vec<&Sample> = train.iter().collect();
    let test_refs: Vec<&Sample> = test.iter().collect();
    let truth: Vec<&str> = test.iter().map(|s| s.label.as_str()).collect();
    let probe = ProbeConfig::embedding();
    let mut embedder = FirstLetter;
    let pred = probe
        .fit_predict(
            &refs,
            &vec![1.0; refs.len()],
            &test_refs,
            Some(&mut embedder),
        )
        .unwrap();
    assert_eq!(
        score(&truth, &pred, &BTreeMap::new(), 30).unwrap().macro_f1,
        1.0
    );
    assert!(matches!(
        probe.fit_predict(&refs, &vec![1.0; refs.len()], &test_refs, None),
        Err(synthcti::learn::LearnError::Config(_))
    ));
    // Precomputed embeddings straight into the dense probe.
    let x = FirstLetter
        .embed(&train.iter().map(|s| s.text.as_str()).collect::<Vec<_>>())
        .unwrap();
    let labels: Vec<&str> = train.iter().map(|s| s.label.as_str()).collect();
    let pred = fit_predict_dense(
        x.view(),
        &labels,
        &vec![1.0; labels.len()],
        x.view(),
        &LinearModelConfig::logistic(),
    )
    .unwrap();
    assert_eq!(pred, labels);
}

/// A noisy three-class problem with dense random features.
fn noisy(n: usize, seed: u64) -> (CsrMatrix, Vec<usize>) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut x = CsrMatrix::new(6);
    let mut y = Vec::new();
    for i in 0..n {
        let k = i % 3;
        x.push_row((0..6u32).map(|j| {
            let signal = if j as usize == k { 1.0 } else { 0.0 };
            (j, signal + rng.gen_range(-0.8f32..0.8))
        }));
        y.push(k);
    }
    (x, y)
}

#[test]
fn weight_zero_equals_removing_the_row() {
    let (x, y) = noisy(90, 3);
    let mut weights = vec![1.0f32; 90];
    let removed: Vec<usize> = (0..90).filter(|i| i % 4 == 1).collect();
    for &i in &removed {
        weights[i] = 0.0;
    }
    let kept: Vec<usize> = (0..90).filter(|i| i % 4 != 1).collect();
    let x_kept = x.select_rows(&kept);
    let y_kept: Vec<usize> = kept.iter().map(|&i| y[i]).collect();
    let (probe_x, _) = noisy(30, 9);
    for kind in [LinearKind::Svm, LinearKind::Logistic] {
        let config = LinearModelConfig {
            kind,
            tol: 1e-8,
            max_iter: 5000,
            ..LinearModelConfig::svm()
        };
        let a = LinearModel::fit(&x, &y, 3, &weights, &config).unwrap();
        let b = LinearModel::fit(&x_kept, &y_kept, 3, &vec![1.0; kept.len()], &config).unwrap();
        for i in 0..probe_x.n_rows() {
            for (da, db) in a.decision(&probe_x, i).iter().zip(b.decision(&probe_x, i)) {
                assert!((da - db).abs() < 1e-4, "{kind:?}: {da} vs {db}");
            }
        }
    }
    // Weights matter: doubling a row is like duplicating it (logistic objective).
    let config = LinearModelConfig {
        tol: 1e-8,
        max_iter: 5000,
        ..LinearModelConfig::logistic()
    };
    let mut doubled = vec![1.0f32; 90];
    doubled[0] = 2.0;
    let mut dup_rows: Vec<usize> = (0..90).collect();
    dup_rows.push(0);
    let x_dup = x.select_rows(&dup_rows);
    let y_dup: Vec<usize> = dup_rows.iter().map(|&i| y[i]).collect();
    let a = LinearModel::fit(&x, &y, 3, &doubled, &config).unwrap();
    let b = LinearModel::fit(&x_dup, &y_dup, 3, &vec![1.0; 91], &config).unwrap();
    for i in 0..probe_x.n_rows() {
        for (da, db) in a.decision(&probe_x, i).iter().zip(b.decision(&probe_x, i)) {
            assert!((da - db).abs() < 1e-4);
        }
    }
}

#[test]
fn tfidf_probe_ignores_weight_zero_rows_entirely() {
    let train = separable(8);
    let mut extra = train.clone();
    extra.push(sample(99, "zebra zebra unrelated words", "T1", None));
    let test = separable(3);
    let test_refs: Vec<&Sample> = test.iter().collect();
    let probe = ProbeConfig::tfidf();
    let mut weights = vec![1.0; extra.len()];
    weights[extra.len() - 1] = 0.0;
    let with_zero = probe
        .fit_predict(
            &extra.iter().collect::<Vec<_>>(),
            &weights,
            &test_refs,
            None,
        )
        .unwrap();
    let without = probe
        .fit_predict(
            &train.iter().collect::<Vec<_>>(),
            &vec![1.0; train.len()],
            &test_refs,
            None,
        )
        .unwrap();
    assert_eq!(with_zero, without);
    let labels: Vec<&str> = train.iter().map(|s| s.label.as_str()).collect();
    let x = CsrMatrix::new(0);
    assert!(fit_predict_sparse(&x, &labels, &[], &x, &LinearModelConfig::svm()).is_err());
}

#[test]
fn baselines_are_seeded_and_exact() {
    let train = separable(5);
    let wanted: BTreeMap<TechniqueId, usize> =
        [("T1".into(), 12), ("T2".into(), 0), ("T3".into(), 3)].into();
    let arms: Vec<Box<dyn Augmenter>> = vec![
        Box::new(RandomOversampler),
        Box::new(EdaAugmenter::default()),
    ];
    for mut arm in arms {
        let a = arm.augment(&train, &[], &wanted, 11).unwrap();
        let b = arm.augment(&train, &[], &wanted, 11).unwrap();
        let c = arm.augment(&train, &[], &wanted, 12).unwrap();
        assert_eq!(a, b, "{}: same seed, same rows", arm.name());
        assert_ne!(a, c, "{}: another seed, other rows", arm.name());
        let mut per_label: BTreeMap<TechniqueId, usize> = BTreeMap::new();
        for row in &a {
            *per_label.entry(row.label.clone()).or_insert(0) += 1;
        }
        assert_eq!(per_label.get("T1"), Some(&12), "{}", arm.name());
        assert_eq!(per_label.get("T2"), None);
        assert_eq!(per_label.get("T3"), Some(&3));
        let originals: HashSet<&str> = train.iter().map(|s| s.text.as_str()).collect();
        let copies = a
            .iter()
            .filter(|s| originals.contains(s.text.as_str()))
            .count();
        if arm.name() == "oversample" {
            assert_eq!(copies, a.len());
            // 12 rows from 5 sources: every source used at least twice.
            let sources: HashSet<usize> =
                a.iter().filter(|s| s.label == "T1").map(|s| s.id).collect();
            assert_eq!(sources.len(), 5);
        } else {
            assert_eq!(copies, 0, "EDA rows differ from their sources");
            assert!(a.iter().all(|s| s.origin == Origin::Synthetic));
        }
    }
}

/// An arm that returns `prefix` + each test row: the sweep must discard them (an empty
/// prefix gives exact copies; "TrickBot " gives containment copies, as in ATT&CK
/// procedure examples, which exact and cosine checks miss).
struct Cheater {
    name: &'static str,
    prefix: &'static str,
}

const CHEATER: Cheater = Cheater {
    name: "cheater",
    prefix: "",
};

impl Augmenter for Cheater {
    fn name(&self) -> &str {
        self.name
    }
    fn augment(
        &mut self,
        _train: &[Sample],
        avoid: &[Sample],
        wanted: &BTreeMap<TechniqueId, usize>,
        _seed: u64,
    ) -> Result<Vec<Sample>, EvalError> {
        Ok(avoid
            .iter()
            .filter(|s| wanted.get(&s.label).is_some_and(|&n| n > 0))
            .map(|s| Sample {
                text: format!("{}{}", self.prefix, s.text),
                ..s.clone()
            })
            .collect())
    }
}

#[test]
fn sweep_runs_every_arm_ratio_and_weight_and_writes_outputs() {
    // Imbalanced: T3 is rare.
    let mut rows = separable(30);
    rows.retain(|s| s.label != "T3" || s.id % 5 == 0);
    let config = SweepConfig {
        seeds: vec![1, 2],
        folds: 3,
        ratios: vec![1.0, 0.0, 0.5],
        synthetic_weights: vec![1.0, 0.5],
        rare_threshold: 10,
        comparisons: vec![
            "eda:oversample".parse().unwrap(),
            "cheater:oversample".parse().unwrap(),
        ],
        primary: Some(Primary {
            pair: "reweight:oversample".parse().unwrap(),
            ratio: 1.0,
            metric: Metric::MacroF1,
        }),
        ..SweepConfig::default()
    };
    let mut over = RandomOversampler;
    let mut eda = EdaAugmenter::default();
    let mut cheat = CHEATER;
    let mut reweight = ClassReweight;
    let mut arms: Vec<&mut dyn Augmenter> = vec![&mut over, &mut eda, &mut cheat, &mut reweight];
    let results = run_sweep(&rows, &mut arms, &config, None).unwrap();
    // Ratio 0 is `none`, run once per fold and shared.
    assert_eq!(results.results.len(), 4 * 2 * 2);
    // Three comparisons (the primary's pair among them) × 2 ratios × 2 weights.
    assert_eq!(results.comparisons.len(), 3 * 2 * 2);
    // The family: every arm vs none and every comparison, two metrics, less the primary.
    assert_eq!(results.claims.family.len(), (16 + 12) * 2 - 1);
    let primary = results.claims.primary.as_ref().unwrap();
    assert_eq!(primary.delta.n, 6);
    assert_eq!(primary.added[0].mean, 0.0, "reweight adds no row");
    assert_eq!(results.none.runs.len(), 6);
    assert_eq!(results.none.added_rows.mean, 0.0);
    assert_eq!(results.folds.len(), 6);
    for r in &results.results {
        assert_eq!(r.runs.len(), 6);
        let d = r.vs_none.as_ref().unwrap();
        assert_eq!(d.macro_f1.n, 6, "paired over every fold × seed");
        if r.arm == "cheater" {
            assert_eq!(r.added_rows.mean, 0.0);
            assert!(r.leaked.exact > 0);
            // Nothing added: the same training set as `none`, so no difference.
            assert_eq!(d.macro_f1.mean, 0.0);
        }
        if r.arm == "reweight" {
            assert_eq!(r.added_rows.mean, 0.0);
            assert!(r.requested_rows.mean > 0.0);
        }
    }
    // Holm: every adjusted interval contains the unadjusted one and agrees with its `*`.
    for m in &results.claims.family {
        assert!(m.holm.p_holm >= m.holm.p && m.holm.level >= 0.95 - 1e-12);
        let [lo, hi] = m.holm.ci;
        assert_eq!(m.holm.significant, lo > 0.0 || hi < 0.0, "{m:?}");
    }
    // Leaks are counted per ratio: a smaller target meets no more of them.
    let leaked = |ratio: f64| {
        results
            .results
            .iter()
            .find(|r| r.arm == "cheater" && r.ratio == ratio && r.synthetic_weight == 1.0)
            .unwrap()
            .leaked
            .exact
    };
    assert!(leaked(0.5) <= leaked(1.0));
    let over_added = |ratio: f64| {
        results
            .results
            .iter()
            .find(|r| r.arm == "oversample" && r.ratio == ratio)
            .map(|r| r.added_rows.mean)
            .unwrap()
    };
    assert!(over_added(0.5) > 0.0 && over_added(0.5) < over_added(1.0));
    assert_eq!(
        over_added(1.0),
        results
            .results
            .iter()
            .find(|r| r.arm == "oversample" && r.ratio == 1.0)
            .unwrap()
            .requested_rows
            .mean
    );

    let dir = tempfile::tempdir().unwrap();
    let files = write_results(dir.path(), &results).unwrap();
    assert_eq!(files.len(), 6);
    let html = std::fs::read_to_string(dir.path().join("results.html")).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("reweight"),
        "{html:.200}"
    );
    let links = html.replace("http://www.w3.org/2000/svg", "");
    assert!(
        !links.contains("http://") && !links.contains("https://"),
        "no network at view time"
    );
    let png = std::fs::read(dir.path().join("plot.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    let svg = std::fs::read_to_string(dir.path().join("plot.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("oversample") && svg.contains("vs none"));
    let csv = std::fs::read_to_string(dir.path().join("results.csv")).unwrap();
    assert!(csv.starts_with(&CSV_HEADER.join(",")));
    assert_eq!(csv.lines().count(), 2 + results.results.len());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(
        json["results"].as_array().unwrap().len(),
        results.results.len()
    );
    let md = std::fs::read_to_string(dir.path().join("results.md")).unwrap();
    let primary = md.find("## Primary comparison").unwrap();
    let comparisons = md
        .find("## Comparisons between arms (design `fill`")
        .unwrap();
    assert!(primary < comparisons && comparisons < md.find("## Scores").unwrap());
    assert!(
        md.contains("**reweight vs oversample at ratio 1, Δ macro-F1 = "),
        "{md}"
    );
    assert!(md.contains("| oversample | 1 | 0.5 |"));
    assert!(md.contains("| eda vs oversample | 0.5 | 1 |"), "{md}");
    assert!(md.contains(&format!("the {} intervals", results.claims.family.len())));
    // Nothing but the six outputs (no temporary files left).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 6);
}

#[test]
fn planted_prefix_copies_of_test_rows_never_reach_training() {
    let mut rows = separable(30);
    rows.retain(|s| s.label != "T3" || s.id % 5 == 0);
    // Long enough for word 5-grams.
    for r in &mut rows {
        r.text.push_str(" was observed in the wild");
    }
    let config = SweepConfig {
        seeds: vec![0],
        folds: 3,
        ratios: vec![1.0],
        rare_threshold: 10,
        comparisons: vec!["oversample:prefix-cheater".parse().unwrap()],
        ..SweepConfig::default()
    };
    let mut cheat = Cheater {
        name: "prefix-cheater",
        prefix: "TrickBot ",
    };
    let mut over = RandomOversampler;
    let mut arms: Vec<&mut dyn Augmenter> = vec![&mut cheat, &mut over];
    let results = run_sweep(&rows, &mut arms, &config, None).unwrap();
    let r = results
        .results
        .iter()
        .find(|r| r.arm == "prefix-cheater")
        .unwrap();
    assert_eq!(r.added_rows.mean, 0.0);
    assert!(
        r.leaked.containment > 0 && r.leaked.exact == 0,
        "{:?}",
        r.leaked
    );
    // Equal budget: the pair with the arm that found no clean rows is capped at 0 rows on
    // both sides; the arms' own results do not move.
    let equal = SweepConfig {
        design: Design::Equal,
        ..config.clone()
    };
    let capped = run_sweep(&rows, &mut arms, &equal, None).unwrap();
    let c = &capped.comparisons[0];
    assert_eq!((c.arm_added.mean, c.base_added.mean), (0.0, 0.0));
    assert_eq!(
        c.deltas.macro_f1.mean, 0.0,
        "both sides train on the same rows"
    );
    assert_eq!(c.capped_runs.len(), 3, "one capped pair per fold");
    let over = |r: &SweepResults| {
        let mut o = r
            .results
            .iter()
            .find(|r| r.arm == "oversample")
            .unwrap()
            .clone();
        zero_timings(&mut o);
        o
    };
    assert!(over(&capped).added_rows.mean > 0.0);
    assert_eq!(over(&capped), over(&results));
}

fn zero_timings(r: &mut synthcti::eval::sweep::ArmResult) {
    r.probe_seconds = 0.0;
    for run in &mut r.runs {
        run.probe_seconds = 0.0;
    }
}

/// Asks an inner arm for rows and records what it was asked for.
struct Recording<A> {
    inner: A,
    asked: Vec<usize>,
}

impl<A: Augmenter> Augmenter for Recording<A> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn augment(
        &mut self,
        train: &[Sample],
        avoid: &[Sample],
        wanted: &BTreeMap<TechniqueId, usize>,
        seed: u64,
    ) -> Result<Vec<Sample>, EvalError> {
        self.asked.push(wanted.values().sum());
        self.inner.augment(train, avoid, wanted, seed)
    }
}

/// The test of the issue: adding an arm to a run leaves every other arm's numbers
/// unchanged, byte for byte in results.json (timings aside), under either design; and
/// every ratio is asked for at its own target, not cut from the largest one.
#[test]
fn adding_an_arm_changes_no_other_arm() {
    let mut rows = separable(30);
    rows.retain(|s| s.label != "T3" || s.id % 3 == 0);
    for r in &mut rows {
        r.text.push_str(" was observed in the wild");
    }
    for design in [Design::Fill, Design::Equal] {
        let config = SweepConfig {
            seeds: vec![0, 1],
            folds: 3,
            ratios: vec![0.0, 0.5, 2.0],
            rare_threshold: 10,
            design,
            comparisons: vec!["eda:oversample".parse().unwrap()],
            ..SweepConfig::default()
        };
        let json = |arms: &mut [&mut dyn Augmenter], config: &SweepConfig| {
            let results = run_sweep(&rows, arms, config, None).unwrap();
            let mut kept: Vec<_> = results
                .results
                .iter()
                .filter(|r| r.arm != "prefix-cheater")
                .cloned()
                .collect();
            kept.iter_mut().for_each(zero_timings);
            let c: Vec<_> = results
                .comparisons
                .iter()
                .filter(|c| c.pair.base == "oversample" && c.pair.arm == "eda")
                .map(|c| {
                    let mut c = c.clone();
                    for pair in &mut c.capped_runs {
                        pair.iter_mut().for_each(|r| r.probe_seconds = 0.0);
                    }
                    c
                })
                .collect();
            serde_json::to_string(&(kept, c)).unwrap()
        };
        let (mut over, mut eda) = (RandomOversampler, EdaAugmenter::default());
        let two = json(&mut [&mut over, &mut eda], &config);
        let mut cheat = Recording {
            inner: Cheater {
                name: "prefix-cheater",
                prefix: "TrickBot ",
            },
            asked: Vec::new(),
        };
        let with_third = SweepConfig {
            comparisons: vec![
                "eda:oversample".parse().unwrap(),
                "prefix-cheater:oversample".parse().unwrap(),
            ],
            ..config.clone()
        };
        let three = json(&mut [&mut over, &mut cheat, &mut eda], &with_third);
        assert_eq!(two, three, "{design}");
        // 6 folds × 2 ratios, each asked at its own target: ratio 2 asks 4× ratio 0.5.
        assert_eq!(cheat.asked.len(), 12);
        for pair in cheat.asked.chunks(2) {
            let (half, double) = (pair[0] as f64, pair[1] as f64);
            assert!(half > 0.0 && (double / half - 4.0).abs() < 0.5, "{pair:?}");
        }
    }
}

/// Test rows that copy a training row (here: the same sentence with other punctuation, in
/// another report) leave the test part for every arm, and are counted.
#[test]
fn test_rows_copying_training_rows_leave_the_test_part() {
    let mut rows = separable(30);
    for r in &mut rows {
        r.text.push_str(" was observed in the wild");
    }
    let n = rows.len();
    for i in 0..6 {
        let mut copy = rows[i * 10].clone();
        copy.id = n + i;
        copy.text = format!("{}!", copy.text.to_uppercase().replace(' ', "  "));
        copy.group = Some(format!("copy-{i}"));
        rows.push(copy);
    }
    let config = SweepConfig {
        seeds: vec![0],
        folds: 3,
        ratios: vec![0.0],
        ..SweepConfig::default()
    };
    let results = run_sweep(&rows, &mut [], &config, None).unwrap();
    // Expected: every planted row (original or copy) in a test part whose partner is in
    // that fold's training part.
    let partner = |i: usize| match i {
        i if i >= n => Some((i - n) * 10),
        i if i % 10 == 0 && i < 60 => Some(n + i / 10),
        _ => None,
    };
    let split = SplitConfig {
        folds: 3,
        seed: 0,
        drop_test_duplicates: true,
    };
    let expected: usize = kfold(&rows, &split)
        .unwrap()
        .iter()
        .map(|f| {
            f.test
                .iter()
                .filter(|&&i| partner(i).is_some_and(|p| f.train.contains(&p)))
                .count()
        })
        .sum();
    let dropped: usize = results
        .folds
        .iter()
        .map(|f| f.dropped_test_copies.exact)
        .sum();
    assert!(expected > 0);
    assert_eq!(
        dropped, expected,
        "punctuation-folded copies leave the test part"
    );
    let md = synthcti::eval::report::markdown(&results);
    assert!(md.contains("test rows removed as copies of the fold's training part"));
}

#[test]
fn sweep_rejects_duplicate_arm_names() {
    let rows = separable(10);
    let (mut a, mut b) = (RandomOversampler, RandomOversampler);
    let mut arms: Vec<&mut dyn Augmenter> = vec![&mut a, &mut b];
    assert!(matches!(
        run_sweep(&rows, &mut arms, &SweepConfig::default(), None),
        Err(EvalError::Config(_))
    ));
}

/// Embeds a text as its hashed bag of lower-cased words (64 dimensions, L2-normalised): a
/// deterministic stand-in for the model, with cosine that follows word overlap.
struct HashedWords;
impl Embedder for HashedWords {
    fn model_id(&self) -> &str {
        "hashed-words"
    }
    fn dim(&self) -> usize {
        64
    }
    fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
        let mut out = Array2::<f32>::zeros((texts.len(), 64));
        for (i, t) in texts.iter().enumerate() {
            for w in t.split_whitespace() {
                let h = w
                    .to_lowercase()
                    .bytes()
                    .fold(1469598103934665603u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(1099511628211)
                    });
                out[[i, (h % 64) as usize]] += 1.0;
            }
            let n = out.row(i).dot(&out.row(i)).sqrt().max(1e-6);
            out.row_mut(i).mapv_inplace(|v| v / n);
        }
        Ok(out)
    }
}

/// The pipeline as a library call: rows in memory (no dataset file, no fake `Dataset`), the
/// embedding service on its own thread, on a current-thread runtime (where nested
/// `block_in_place` used to panic). Procedure rows only, so no LLM: the same call twice gives
/// the same rows, and every row is a real ATT&CK procedure example with provenance.
#[tokio::test(flavor = "current_thread")]
async fn pipeline_runs_in_process_on_a_current_thread_runtime() {
    use synthcti::config::{Config, Source, Target};
    use synthcti::embed::EmbedService;
    use synthcti::pipeline::{AugmentOptions, augment_samples};
    let rows = tram();
    let mut cfg = Config::default();
    cfg.generate.source = Source::Procedures;
    cfg.generate.target = Target::Absolute(3);
    cfg.generate.techniques = vec!["T1072".into(), "T1557.001".into()];
    cfg.filter.min_centroid_cosine = -1.0;
    cfg.filter.min_margin = -2.0;
    let cfg = cfg.validate().unwrap();
    let embed = EmbedService::spawn(Box::new(HashedWords)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = AugmentOptions {
        run: synthcti::generate::LlmRun {
            dir: dir.path().to_path_buf(),
            ..Default::default()
        },
        ..Default::default()
    };
    let input = std::path::Path::new("<memory>");
    let a = augment_samples(&rows, input, &cfg, &opts, &embed)
        .await
        .unwrap();
    let b = augment_samples(&rows, input, &cfg, &opts, &embed)
        .await
        .unwrap();
    assert_eq!(a.rows, b.rows);
    assert_eq!(a.rows.len(), 6, "3 rows for each of the 2 techniques");
    let procedures = synthcti::catalog::Procedures::bundled();
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    for r in &a.rows {
        assert_eq!(r.sample.origin, Origin::AttackProcedure);
        let text = squash(&r.sample.text);
        let of = procedures.of(&r.sample.label);
        assert!(of.iter().any(|p| squash(p) == text), "{text}");
        assert!(r.provenance.llm.is_none());
        assert!(
            r.sample.id >= rows.len(),
            "new rows are numbered after the originals"
        );
    }
    assert_eq!(a.report.accepted, 6);
    assert!(a.report.llm.is_none());
}
