//! TF-IDF probe on TRAM: report-grouped 5-fold, no augmentation and random oversampling
//! to the training median, for several feature sets; prints macro-F1 ± std, rare-class
//! macro-F1 (≤ 30 training rows) and wall time next to the scikit-learn reference.
//!
//! `cargo bench --bench probe_tram` (release). Env: `PROBE_SEEDS=0,1,2` (split seeds),
//! `PROBE_LINFA=1` also times `linfa-logistic` on one fold (dense word-unigram TF-IDF),
//! `PROBE_SWEEP=0` skips the comparison sweeps, `PROBE_OUT=dir` runs the default sweep
//! (ratios 0, 0.5, 1, 2 × weights 1, 0.5) and writes its outputs (`results.md`, `plot.png`, ...)
//! there.

use std::time::Instant;

use linfa::prelude::*;
use ndarray::{Array1, Array2};
use synthcti::data::{Origin, Sample};
use synthcti::eval::baselines::{Augmenter, EdaAugmenter, RandomOversampler};
use synthcti::eval::sweep::{SweepConfig, run_sweep};
use synthcti::learn::linear::LinearModelConfig;
use synthcti::learn::probe::{ProbeConfig, ProbeFeatures};
use synthcti::learn::split::{SplitConfig, kfold};
use synthcti::learn::tfidf::{Analyzer, TfidfConfig, TfidfVectorizer};

#[derive(serde::Deserialize)]
struct Row {
    text: String,
    label: String,
    doc_title: String,
}

fn load() -> Vec<Sample> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tram2_single_label.json");
    let rows: Vec<Row> =
        serde_json::from_slice(&std::fs::read(path).expect("read TRAM")).expect("parse TRAM");
    rows.into_iter()
        .enumerate()
        .map(|(id, r)| Sample {
            id,
            text: r.text,
            label: r.label.into(),
            group: Some(r.doc_title),
            origin: Origin::Original,
        })
        .collect()
}

fn main() {
    // Only under `cargo bench` (which passes `--bench`): `cargo test --all-targets` runs
    // this binary too, in a debug build, where the sweeps would only cost CI time.
    if !std::env::args().any(|a| a == "--bench") {
        println!("probe_tram: skipped (run with `cargo bench --bench probe_tram`)");
        return;
    }
    let samples = load();
    let seeds: Vec<u64> = std::env::var("PROBE_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![0]);
    println!(
        "TRAM: {} rows; report-grouped 5-fold, seeds {seeds:?}, test copies of training rows dropped",
        samples.len()
    );
    println!("scikit-learn reference (LinearSVC, sklearn StratifiedGroupKFold):");
    println!(
        "  word 1-2-grams sublinear: none 0.706 ± 0.015 macro / 0.399 rare; oversampling 0.710 / 0.413"
    );
    println!("  word unigrams: 0.731; char 2-5-grams: 0.749 (none)\n");

    let word = |min_n, max_n, sublinear_tf| TfidfConfig {
        analyzer: Analyzer::Word { min_n, max_n },
        sublinear_tf,
        min_df: 1,
    };
    let probes = [
        (
            "word 1-2 sublinear + SVM",
            word(1, 2, true),
            LinearModelConfig::svm(),
        ),
        ("word 1 + SVM", word(1, 1, false), LinearModelConfig::svm()),
        (
            "word 1 sublinear + SVM",
            word(1, 1, true),
            LinearModelConfig::svm(),
        ),
        (
            "char 2-5 sublinear + SVM (default)",
            TfidfConfig::default(),
            LinearModelConfig::svm(),
        ),
        (
            "word 1 + logistic",
            word(1, 1, false),
            LinearModelConfig::logistic(),
        ),
    ];
    println!(
        "{:<36} {:<11} {:>15} {:>15} {:>9} {:>9}",
        "probe", "arm", "macro-F1", "rare macro-F1", "accuracy", "probe s"
    );
    let sweeps = std::env::var("PROBE_SWEEP").map_or(true, |v| v != "0");
    for (name, tfidf, model) in probes.into_iter().filter(|_| sweeps) {
        let config = SweepConfig {
            seeds: seeds.clone(),
            ratios: vec![1.0],
            probe: ProbeConfig {
                features: ProbeFeatures::Tfidf(tfidf),
                model,
            },
            ..SweepConfig::default()
        };
        let mut oversample = RandomOversampler;
        let mut eda = EdaAugmenter::default();
        let mut arms: Vec<&mut dyn Augmenter> = vec![&mut oversample, &mut eda];
        let results = run_sweep(&samples, &mut arms, &config, None).expect("sweep");
        for r in std::iter::once(&results.none).chain(&results.results) {
            let arm = r.arm.as_str();
            println!(
                "{:<36} {:<11} {:>15} {:>15} {:>9.3} {:>9.1}",
                name,
                arm,
                r.macro_f1.to_string(),
                r.rare_macro_f1.to_string(),
                r.accuracy.mean,
                r.probe_seconds
            );
        }
        let dropped: usize = results
            .folds
            .iter()
            .map(|f| f.dropped_test_duplicates)
            .sum();
        let test: usize = results
            .folds
            .iter()
            .map(|f| f.test_rows + f.dropped_test_duplicates)
            .sum();
        println!(
            "{:<36} sweep wall {:.1} s; dropped test copies {dropped}/{test}",
            "", results.wall_seconds
        );
    }

    if let Ok(dir) = std::env::var("PROBE_OUT") {
        full_sweep(&samples, &seeds, std::path::Path::new(&dir));
    }

    if std::env::var("PROBE_LINFA").is_ok_and(|v| v == "1") {
        time_linfa(&samples);
    }
}

/// The default sweep (ratios 0, 0.5, 1, 2 × weights 1, 0.5; oversampling and EDA) with
/// the default probe, written to `dir`.
fn full_sweep(samples: &[Sample], seeds: &[u64], dir: &std::path::Path) {
    let config = SweepConfig {
        seeds: seeds.to_vec(),
        synthetic_weights: vec![1.0, 0.5],
        ..SweepConfig::default()
    };
    let mut oversample = RandomOversampler;
    let mut eda = EdaAugmenter::default();
    let mut arms: Vec<&mut dyn Augmenter> = vec![&mut oversample, &mut eda];
    let results = run_sweep(samples, &mut arms, &config, None).expect("sweep");
    let files = synthcti::eval::report::write_results(dir, &results).expect("write results");
    println!(
        "\nfull sweep ({:.1} s) written: {files:?}\n{}",
        results.wall_seconds,
        synthcti::eval::report::markdown(&results)
    );
}

/// Fits linfa-logistic (dense, multinomial, no sample weights) on fold 0 with word-unigram
/// TF-IDF, and our logistic regression on the same features, for the timing comparison.
fn time_linfa(samples: &[Sample]) {
    let fold = &kfold(samples, &SplitConfig::default()).expect("split")[0];
    let train: Vec<&str> = fold
        .train
        .iter()
        .map(|&i| samples[i].text.as_str())
        .collect();
    let labels: Vec<&str> = fold
        .train
        .iter()
        .map(|&i| samples[i].label.as_str())
        .collect();
    let tfidf = TfidfConfig {
        analyzer: Analyzer::Word { min_n: 1, max_n: 1 },
        sublinear_tf: false,
        min_df: 1,
    };
    let vectorizer = TfidfVectorizer::fit(tfidf, &train).expect("tfidf");
    let x = vectorizer.transform(&train);
    let mut dense = Array2::<f64>::zeros((x.n_rows(), x.n_cols));
    for i in 0..x.n_rows() {
        let (cols, vals) = x.row(i);
        for (&c, &v) in cols.iter().zip(vals) {
            dense[(i, c as usize)] = f64::from(v);
        }
    }
    println!(
        "\nlinfa-logistic timing on fold 0: {} rows × {} word-unigram features × 50 classes (dense {:.0} MB)",
        x.n_rows(),
        x.n_cols,
        (x.n_rows() * x.n_cols * 8) as f64 / 1e6
    );
    let t = Instant::now();
    let ours = synthcti::learn::probe::fit_predict_sparse(
        &x,
        &labels,
        &vec![1.0; labels.len()],
        &x,
        &LinearModelConfig::logistic(),
    )
    .expect("ours");
    let ours_s = t.elapsed().as_secs_f64();
    let targets: Array1<String> = labels.iter().map(|s| s.to_string()).collect();
    let dataset = Dataset::new(dense, targets);
    let t = Instant::now();
    let model = linfa_logistic::MultiLogisticRegression::default()
        .max_iterations(100)
        .alpha(1.0)
        .fit(&dataset)
        .expect("linfa fit");
    let linfa_s = t.elapsed().as_secs_f64();
    let pred = model.predict(dataset.records());
    let linfa_acc = pred
        .iter()
        .zip(labels.iter())
        .filter(|(p, l)| p.as_str() == **l)
        .count() as f64
        / labels.len() as f64;
    let ours_acc = ours
        .iter()
        .zip(labels.iter())
        .filter(|(p, l)| p.as_str() == **l)
        .count() as f64
        / labels.len() as f64;
    println!(
        "linfa-logistic (100 L-BFGS iterations): {linfa_s:.1} s, train accuracy {linfa_acc:.3}; \
         ours (sparse L-BFGS, ≤300 iterations): {ours_s:.2} s, train accuracy {ours_acc:.3}"
    );
}
