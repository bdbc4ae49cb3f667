//! Speed of one TF-IDF probe fit against scikit-learn on the same data, in the same run.
//!
//! Builds a CTI-to-MITRE-sized input (default 13,000 training + 2,600 test rows, 188
//! technique classes) by resampling the bundled `data/cti_to_mitre_sample.csv` with a fixed
//! seed and perturbing every copy slightly (a word dropped, two neighbours swapped, a word
//! borrowed from another sentence of the same technique, one-letter typos), so it is not
//! all duplicates and its vocabulary grows with the rows. Test rows come from held-out
//! sentences (every fifth of a class), so the test accuracies and the share of identical
//! predictions compare the two classifiers, not only their speed.
//! The texts are normalised here and written to one temporary JSON file that both sides
//! read, so both fit exactly the same texts. Then, interleaved `PROBE_SPEED_REPS` times
//! (default 2): synthcti's default probe ([`ProbeConfig::tfidf`]: char 2–5-grams,
//! sublinear tf, one-vs-rest L2 squared-hinge SVM, C = 1, fit + predict) and
//! `scripts/bench_probe_sklearn.py` (`TfidfVectorizer` + `LinearSVC`, fit + predict).
//! Prints rows, classes, features, both times, the ratio and the load average.
//!
//! `cargo bench --bench probe_speed`. Env: `PROBE_SPEED_ROWS` (training rows),
//! `PROBE_SPEED_REPS`, `PROBE_SPEED_SKLEARN=0` (Rust only), `PROBE_SPEED_ONE_THREAD=0` (skip
//! the extra single-thread Rust fit), `PYTHON` (default `python3`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use synthcti::data::{Origin, Sample, normalize_text};
use synthcti::learn::probe::ProbeConfig;
use synthcti::learn::tfidf::{TfidfConfig, TfidfVectorizer};

/// One labelled sentence of the bundled sample.
#[derive(serde::Deserialize)]
struct Row {
    label_tec: String,
    sentence: String,
}

/// What the Python helper prints.
#[derive(serde::Deserialize)]
struct SklearnRun {
    seconds: f64,
    vectorize_seconds: f64,
    features: usize,
    classes: usize,
    accuracy: f64,
    predictions: Vec<String>,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load_sample() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/cti_to_mitre_sample.csv");
    let mut reader = csv::Reader::from_path(path).expect("open the CTI-to-MITRE sample");
    reader
        .deserialize::<Row>()
        .map(|r| {
            let r = r.expect("parse the CTI-to-MITRE sample");
            (normalize_text(&r.sentence), r.label_tec)
        })
        .collect()
}

/// Probability of a one-letter typo in a word.
const TYPO: f64 = 0.08;

/// A slightly perturbed copy of `text`: each word edit applies with probability 0.3, and
/// each word of four or more letters gets a one-letter typo with probability [`TYPO`].
fn perturb(text: &str, donor: &str, rng: &mut Xoshiro256PlusPlus) -> String {
    let mut words: Vec<&str> = text.split(' ').collect();
    if words.len() > 3 && rng.gen_bool(0.3) {
        let at = rng.gen_range(0..words.len());
        words.remove(at);
    }
    if words.len() > 2 && rng.gen_bool(0.3) {
        let at = rng.gen_range(0..words.len() - 1);
        words.swap(at, at + 1);
    }
    let donor: Vec<&str> = donor.split(' ').collect();
    if rng.gen_bool(0.3) {
        let word = donor[rng.gen_range(0..donor.len())];
        let at = rng.gen_range(0..=words.len());
        words.insert(at, word);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for (k, word) in words.iter().enumerate() {
        if k > 0 {
            out.push(' ');
        }
        // A typo in some words, so the vocabulary grows with the rows as real text does.
        if word.len() > 3 && word.is_ascii() && rng.gen_bool(TYPO) {
            let at = rng.gen_range(1..word.len());
            out.push_str(&word[..at]);
            out.push(char::from(b'a' + rng.gen_range(0..26u8)));
            out.push_str(&word[at + 1..]);
        } else {
            out.push_str(word);
        }
    }
    out
}

/// `n` perturbed rows drawn from the sentences in `by_label`; every class there appears at
/// least once. Donor words come from sentences of the same class in the same pool.
fn resample(
    sample: &[(String, String)],
    by_label: &BTreeMap<&str, Vec<usize>>,
    n: usize,
    rng: &mut Xoshiro256PlusPlus,
) -> Vec<(String, String)> {
    let pool: Vec<usize> = by_label.values().flatten().copied().collect();
    let mut picks: Vec<usize> = by_label.values().map(|rows| rows[0]).collect();
    while picks.len() < n {
        picks.push(pool[rng.gen_range(0..pool.len())]);
    }
    picks.truncate(n);
    picks.shuffle(rng);
    picks
        .into_iter()
        .map(|i| {
            let (text, label) = &sample[i];
            let same = &by_label[label.as_str()];
            let donor = &sample[same[rng.gen_range(0..same.len())]].0;
            (perturb(text, donor, rng), label.clone())
        })
        .collect()
}

/// Sentence indices per class: the training pool and the held-out pool.
type Pools<'a> = (BTreeMap<&'a str, Vec<usize>>, BTreeMap<&'a str, Vec<usize>>);

/// The sentences of each class, split into a training pool and a held-out pool (every
/// fifth sentence of a class with five or more), so test rows are not copies of training
/// sentences.
fn pools(sample: &[(String, String)]) -> Pools<'_> {
    let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (_, label)) in sample.iter().enumerate() {
        by_label.entry(label.as_str()).or_default().push(i);
    }
    let (mut train, mut held_out) = (BTreeMap::new(), BTreeMap::new());
    for (label, rows) in by_label {
        let (mut kept, mut out) = (Vec::new(), Vec::new());
        for (k, i) in rows.into_iter().enumerate() {
            if k % 5 == 4 {
                out.push(i)
            } else {
                kept.push(i)
            }
        }
        train.insert(label, kept);
        if !out.is_empty() {
            held_out.insert(label, out);
        }
    }
    (train, held_out)
}

fn samples(rows: &[(String, String)]) -> Vec<Sample> {
    rows.iter()
        .enumerate()
        .map(|(id, (text, label))| Sample {
            id,
            text: text.clone(),
            label: label.as_str().into(),
            group: None,
            origin: Origin::Original,
        })
        .collect()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

fn run_sklearn(python: &str, script: &Path, data: &Path) -> Result<SklearnRun, String> {
    let out = Command::new(python)
        .arg(script)
        .arg(data)
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("bad helper output: {e}"))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn accuracy(pred: &[synthcti::technique::TechniqueId], truth: &[(String, String)]) -> f64 {
    let hits = pred.iter().zip(truth).filter(|(p, t)| **p == t.1).count();
    hits as f64 / truth.len().max(1) as f64
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("probe_speed: skipped (run with `cargo bench --bench probe_speed`)");
        return;
    }
    let n_train = env_usize("PROBE_SPEED_ROWS", 13_000);
    let reps = env_usize("PROBE_SPEED_REPS", 2).max(1);
    let sample = load_sample();
    let (by_label, held_out) = pools(&sample);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let train_rows = resample(&sample, &by_label, n_train, &mut rng);
    let test_rows = resample(&sample, &held_out, n_train / 5, &mut rng);
    let (train, test) = (samples(&train_rows), samples(&test_rows));
    let train_refs: Vec<&Sample> = train.iter().collect();
    let test_refs: Vec<&Sample> = test.iter().collect();
    let weights = vec![1.0f32; train.len()];

    let dir = tempfile::tempdir().expect("temp dir");
    let data_path = dir.path().join("probe_speed.json");
    let json = serde_json::json!({ "train": train_rows, "test": test_rows });
    std::fs::write(&data_path, json.to_string()).expect("write the shared data file");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_probe_sklearn.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut use_sklearn = std::env::var("PROBE_SPEED_SKLEARN").map_or(true, |v| v != "0");

    let texts: Vec<&str> = train.iter().map(|s| s.text.as_str()).collect();
    let t = Instant::now();
    let vectorizer = TfidfVectorizer::fit(TfidfConfig::default(), &texts).expect("tfidf fit");
    let x = vectorizer.transform(&texts);
    let vectorize_s = t.elapsed().as_secs_f64();
    println!(
        "data: {} training rows, {} test rows, {} classes, {} char 2-5-gram features, {} stored values; \
         load average {}",
        train.len(),
        test.len(),
        by_label.len(),
        vectorizer.n_features(),
        x.nnz(),
        load_average()
    );
    println!("rust TF-IDF fit + transform of the training rows alone: {vectorize_s:.2} s");

    let probe = ProbeConfig::tfidf();
    let (mut rust_s, mut sk_s, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..reps {
        let t = Instant::now();
        let pred = probe
            .fit_predict(&train_refs, &weights, &test_refs, None)
            .expect("probe fit");
        let secs = t.elapsed().as_secs_f64();
        rust_s.push(secs);
        print!(
            "rep {rep}: rust {secs:.2} s (test accuracy {:.3}, load {})",
            accuracy(&pred, &test_rows),
            load_average()
        );
        if use_sklearn {
            match run_sklearn(&python, &script, &data_path) {
                Ok(sk) => {
                    let agree = pred.iter().zip(&sk.predictions).filter(|(a, b)| a == b);
                    println!(
                        "; sklearn {:.2} s (vectorize {:.2} s, {} features, {} classes, test accuracy {:.3}, \
                         same prediction on {:.1}% of rows); ratio {:.2}",
                        sk.seconds,
                        sk.vectorize_seconds,
                        sk.features,
                        sk.classes,
                        sk.accuracy,
                        100.0 * agree.count() as f64 / pred.len().max(1) as f64,
                        secs / sk.seconds
                    );
                    ratios.push(secs / sk.seconds);
                    sk_s.push(sk.seconds);
                }
                Err(e) => {
                    println!("\nscikit-learn side skipped: {e}");
                    use_sklearn = false;
                }
            }
        } else {
            println!();
        }
    }
    if std::env::var("PROBE_SPEED_ONE_THREAD").map_or(true, |v| v != "0") {
        // SAFETY: no other thread is running (the probe's workers are scoped and joined).
        unsafe { std::env::set_var("SYNTHCTI_PROBE_THREADS", "1") };
        let t = Instant::now();
        probe
            .fit_predict(&train_refs, &weights, &test_refs, None)
            .expect("probe fit");
        let secs = t.elapsed().as_secs_f64();
        unsafe { std::env::remove_var("SYNTHCTI_PROBE_THREADS") };
        let per_core = sk_s.last().map_or(String::new(), |sk| {
            format!("; vs the last sklearn run {:.2}", secs / sk)
        });
        println!(
            "rust on 1 thread (SYNTHCTI_PROBE_THREADS=1): {secs:.2} s{per_core} (load {})",
            load_average()
        );
    }
    let rust_med = median(&mut rust_s);
    if sk_s.is_empty() {
        println!(
            "summary: rust fit + predict {rust_med:.2} s (median of {reps}); no scikit-learn timing"
        );
        return;
    }
    let sk_med = median(&mut sk_s);
    println!(
        "summary: {} rows, {} classes, {} features; rust fit + predict {rust_med:.2} s, \
         sklearn {sk_med:.2} s (medians of {}); ratio rust/sklearn {:.2} (median per-rep ratio {:.2}); \
         load average {}",
        train.len(),
        by_label.len(),
        vectorizer.n_features(),
        sk_s.len(),
        rust_med / sk_med,
        median(&mut ratios),
        load_average()
    );
}
