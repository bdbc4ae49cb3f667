//! Probe classifiers: cheap, fixed classifiers whose test scores measure what a training
//! set is worth. Every arm of a comparison must use the same [`ProbeConfig`].
//!
//! - TF-IDF probe ([`ProbeFeatures::Tfidf`]): the vocabulary and idf are fitted on the
//!   training rows with a positive weight (augmented rows included), then a linear model.
//! - Embedding probe ([`ProbeFeatures::Embedding`]): sentence embeddings from a
//!   [`Embedder`] + a linear model.
//!
//! Why not `linfa-logistic`: it needs a dense `Array2<f64>` (a TRAM fold with character
//! 2–5-grams is ~4,100 × 62,000, 2 GB dense) and has no sample weights, which
//! down-weighting synthetic rows needs. Measured on one TRAM fold with word-unigram
//! TF-IDF (4,110 × 3,595, 50 classes): `linfa-logistic` 30.8 s (100 L-BFGS iterations),
//! [`super::linear`]'s sparse multinomial logistic regression 1.0 s, same training
//! accuracy (`PROBE_LINFA=1 cargo bench --bench probe_tram`).
//!
//! Against scikit-learn itself (`TfidfVectorizer` + `LinearSVC`) on a CTI-to-MITRE-sized
//! input (13,000 rows, 188 classes, char 2–5-grams), the TF-IDF probe's fit + predict takes
//! about half of scikit-learn's time in the same run, with the same predictions
//! (`cargo bench --bench probe_speed`; see [`super::linear`] and [`super::tfidf`] for why).

use std::collections::BTreeMap;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::LearnError;
use super::linear::{LinearModel, LinearModelConfig};
use super::sparse::CsrMatrix;
use super::tfidf::{TfidfConfig, TfidfVectorizer};
use crate::data::Sample;
use crate::embed::Embedder;
use crate::technique::TechniqueId;

/// The features a probe uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeFeatures {
    /// TF-IDF fitted on the training rows.
    Tfidf(TfidfConfig),
    /// Sentence embeddings from the [`Embedder`] handed to the probe (its on-disk cache
    /// makes re-embedding the same rows across folds free).
    Embedding,
}

/// A probe: features + linear model, identical for every arm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    /// The features.
    pub features: ProbeFeatures,
    /// The classifier on top.
    pub model: LinearModelConfig,
}

impl ProbeConfig {
    /// TF-IDF ([`TfidfConfig::default`]: character 2–5-grams, sublinear tf) + linear SVM
    /// (`C = 1`), the configuration the scikit-learn reference numbers use.
    pub fn tfidf() -> Self {
        Self {
            features: ProbeFeatures::Tfidf(TfidfConfig::default()),
            model: LinearModelConfig::svm(),
        }
    }

    /// Sentence embeddings + multinomial logistic regression (`C = 1`).
    pub fn embedding() -> Self {
        Self {
            features: ProbeFeatures::Embedding,
            model: LinearModelConfig::logistic(),
        }
    }

    /// Trains on `train` (row `i` weighted `weights[i]`) and predicts a label per `test`
    /// row. `embedder` is required by [`ProbeFeatures::Embedding`] and unused otherwise.
    pub fn fit_predict(
        &self,
        train: &[&Sample],
        weights: &[f32],
        test: &[&Sample],
        embedder: Option<&mut (dyn Embedder + '_)>,
    ) -> Result<Vec<TechniqueId>, LearnError> {
        if weights.len() != train.len() {
            return Err(LearnError::Config(format!(
                "{} weights for {} training rows",
                weights.len(),
                train.len()
            )));
        }
        let labels: Vec<&str> = train.iter().map(|s| s.label.as_str()).collect();
        let train_texts: Vec<&str> = train.iter().map(|s| s.text.as_str()).collect();
        let test_texts: Vec<&str> = test.iter().map(|s| s.text.as_str()).collect();
        match self.features {
            ProbeFeatures::Tfidf(tfidf) => {
                let fitting: Vec<&str> = train_texts
                    .iter()
                    .zip(weights)
                    .filter(|(_, w)| **w > 0.0)
                    .map(|(t, _)| *t)
                    .collect();
                let (vectorizer, x_fitting) = TfidfVectorizer::fit_transform(tfidf, &fitting)?;
                // Rows of weight 0 are not fitted on; they only need their own rows.
                let x_train = if fitting.len() == train_texts.len() {
                    x_fitting
                } else {
                    vectorizer.transform(&train_texts)
                };
                let x_test = vectorizer.transform(&test_texts);
                fit_predict_sparse(&x_train, &labels, weights, &x_test, &self.model)
            }
            ProbeFeatures::Embedding => {
                let embedder = embedder.ok_or_else(|| {
                    LearnError::Config("the embedding probe needs an embedder".into())
                })?;
                let x_train = embedder.embed(&train_texts)?;
                let x_test = embedder.embed(&test_texts)?;
                fit_predict_dense(x_train.view(), &labels, weights, x_test.view(), &self.model)
            }
        }
    }
}

/// Fits `model` on dense rows (e.g. precomputed sentence embeddings) and predicts the
/// label of every `test` row.
pub fn fit_predict_dense(
    train: ArrayView2<'_, f32>,
    labels: &[&str],
    weights: &[f32],
    test: ArrayView2<'_, f32>,
    model: &LinearModelConfig,
) -> Result<Vec<TechniqueId>, LearnError> {
    if train.ncols() != test.ncols() {
        return Err(LearnError::Data(format!(
            "train has {} columns, test {}",
            train.ncols(),
            test.ncols()
        )));
    }
    fit_predict_sparse(
        &CsrMatrix::from_dense(train),
        labels,
        weights,
        &CsrMatrix::from_dense(test),
        model,
    )
}

/// Fits `model` on sparse rows and predicts the label of every `test` row. Only labels of
/// rows with a positive weight are candidate classes.
pub fn fit_predict_sparse(
    train: &CsrMatrix,
    labels: &[&str],
    weights: &[f32],
    test: &CsrMatrix,
    model: &LinearModelConfig,
) -> Result<Vec<TechniqueId>, LearnError> {
    if labels.len() != train.n_rows() {
        return Err(LearnError::Config(format!(
            "{} labels for {} rows",
            labels.len(),
            train.n_rows()
        )));
    }
    let (names, y) = class_index(labels, weights);
    let fitted = LinearModel::fit(train, &y, names.len(), weights, model)?;
    Ok(fitted
        .predict(test)
        .into_iter()
        .map(|k| TechniqueId::from(names[k]))
        .collect())
}

/// The classes (labels of rows with a positive weight, sorted) and each row's class index
/// (0 for a row of weight 0 whose label is not a class: it does not count).
fn class_index<'a>(labels: &[&'a str], weights: &[f32]) -> (Vec<&'a str>, Vec<usize>) {
    let mut names: Vec<&str> = labels
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(l, _)| *l)
        .collect();
    names.sort_unstable();
    names.dedup();
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let y = labels
        .iter()
        .map(|l| index.get(l).copied().unwrap_or(0))
        .collect();
    (names, y)
}

/// The TF-IDF probe ([`ProbeConfig::tfidf`]) fitted once on real rows, to score new
/// sentences one at a time: the classifier-consistency filter (LAMBADA) and the on-label
/// rate of a run's rows.
pub struct TextClassifier {
    vectorizer: TfidfVectorizer,
    model: LinearModel,
    classes: Vec<TechniqueId>,
}

impl TextClassifier {
    /// Fits TF-IDF (character 2–5-grams) + a linear SVM on `samples`. Needs two labels.
    pub fn fit(samples: &[Sample]) -> Result<Self, LearnError> {
        let texts: Vec<&str> = samples.iter().map(|s| s.text.as_str()).collect();
        let labels: Vec<&str> = samples.iter().map(|s| s.label.as_str()).collect();
        let weights = vec![1.0; samples.len()];
        let (names, y) = class_index(&labels, &weights);
        if names.len() < 2 {
            return Err(LearnError::Data(format!(
                "the classifier needs at least 2 techniques, the data has {}",
                names.len()
            )));
        }
        let probe = ProbeConfig::tfidf();
        let ProbeFeatures::Tfidf(tfidf) = probe.features else {
            unreachable!("ProbeConfig::tfidf has TF-IDF features")
        };
        let (vectorizer, x) = TfidfVectorizer::fit_transform(tfidf, &texts)?;
        let model = LinearModel::fit(&x, &y, names.len(), &weights, &probe.model)?;
        Ok(Self {
            vectorizer,
            model,
            classes: names.into_iter().map(TechniqueId::from).collect(),
        })
    }

    /// The rank (1 = the classifier's choice) of `label` for `text`, or `None` when `label`
    /// is not one of the classes. Ties rank in class order.
    pub fn rank(&self, text: &str, label: &str) -> Option<usize> {
        let k = self.classes.iter().position(|c| c.as_str() == label)?;
        let x = self.vectorizer.transform(&[text]);
        let z = self.model.decision(&x, 0);
        let above = z
            .iter()
            .enumerate()
            .filter(|&(j, &v)| v > z[k] || (v == z[k] && j < k))
            .count();
        Some(above + 1)
    }

    /// The classifier's technique for `text`.
    pub fn predict(&self, text: &str) -> &TechniqueId {
        let x = self.vectorizer.transform(&[text]);
        let z = self.model.decision(&x, 0);
        let best = (0..z.len()).fold(0, |b, j| if z[j] > z[b] { j } else { b });
        &self.classes[best]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Origin;

    fn rows() -> Vec<Sample> {
        let topics = [
            (
                "T1003",
                "dumped credentials from lsass memory with mimikatz",
            ),
            (
                "T1059",
                "ran powershell scripts through the command interpreter",
            ),
            (
                "T1105",
                "downloaded further tools from its server over http",
            ),
        ];
        (0..30)
            .map(|i| {
                let (label, what) = topics[i % 3];
                Sample {
                    id: i,
                    text: format!("In campaign {i} the actor {what}."),
                    label: label.into(),
                    group: None,
                    origin: Origin::Original,
                }
            })
            .collect()
    }

    #[test]
    fn text_classifier_ranks_the_intended_technique() {
        let c = TextClassifier::fit(&rows()).unwrap();
        let text = "The group dumped credentials from lsass memory.";
        assert_eq!(c.rank(text, "T1003"), Some(1));
        assert_eq!(c.predict(text), "T1003");
        assert!(c.rank(text, "T1059").unwrap() > 1);
        assert_eq!(c.rank(text, "T9999"), None);
        let ranks: Vec<usize> = ["T1003", "T1059", "T1105"]
            .iter()
            .map(|l| c.rank(text, l).unwrap())
            .collect();
        let mut sorted = ranks.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![1, 2, 3], "ranks are a permutation");
        let one: Vec<Sample> = rows().into_iter().filter(|s| s.label == "T1003").collect();
        assert!(TextClassifier::fit(&one).is_err(), "one class is refused");
    }
}
