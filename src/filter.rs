//! Filters that keep only faithful, new sentences. Each rejection has a reason, counted in
//! the run report.
//!
//! Order: normalise → length bounds → names another technique id → exact duplicates (vs the
//! original data, the `--avoid` file, accepted rows) → near duplicates (cosine ≥ threshold vs
//! the same three) → fidelity (cosine to the technique's centroid, and margin over every
//! other technique's centroid). The first two groups need no embedding.

use std::collections::HashSet;

use ndarray::{Array1, Array2, ArrayView1, Axis};
use serde::{Deserialize, Serialize};

use crate::ann::{AnnParams, CosineIndex};
use crate::data::normalize_text;
use crate::learn::probe::TextClassifier;
use crate::nearcopy::ContainmentIndex;
use crate::setting::{SettingError, check_range};
use crate::technique::TechniqueId;
use crate::technique::technique_ids_in;

/// Filter thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterParams {
    /// Fewest words a sentence may have.
    pub min_words: usize,
    /// Most words a sentence may have.
    pub max_words: usize,
    /// Cosine at or above which a sentence is a near duplicate.
    pub near_duplicate: f32,
    /// Lowest cosine to the own technique's centroid.
    pub min_centroid_cosine: f32,
    /// Lowest margin: own-centroid cosine minus the best other technique's.
    pub min_margin: f32,
    /// Word 5-gram containment (either text in the other, see [`crate::nearcopy`]) at or
    /// above which a sentence is a near copy of an `--avoid` row; above 1 turns it off.
    pub max_avoid_containment: f32,
    /// Classifier consistency (LAMBADA): keep a candidate only when a TF-IDF + linear SVM
    /// trained on the input rows ranks its technique within the top k; 0 = off (the rank
    /// is still recorded).
    pub classifier_top_k: usize,
}

impl Default for FilterParams {
    fn default() -> Self {
        Self {
            min_words: 6,
            max_words: 60,
            near_duplicate: 0.92,
            min_centroid_cosine: 0.30,
            min_margin: 0.0,
            max_avoid_containment: 0.8,
            classifier_top_k: 0,
        }
    }
}

/// Largest `filter.max_words`.
const MAX_WORDS: usize = 10_000;

impl FilterParams {
    /// Checks the word bounds and that every threshold is a number in its range (a NaN
    /// would turn a filter off).
    pub fn check(&self) -> Result<(), SettingError> {
        check_range("filter.max_words", self.max_words, 0..=MAX_WORDS)?;
        if self.min_words > self.max_words {
            return Err(SettingError::rule(
                "filter.min_words",
                "at most filter.max_words",
                self.min_words,
            ));
        }
        check_range("filter.near_duplicate", self.near_duplicate, 0.0..=1.0)?;
        check_range(
            "filter.min_centroid_cosine",
            self.min_centroid_cosine,
            -1.0..=1.0,
        )?;
        check_range("filter.min_margin", self.min_margin, -2.0..=2.0)?;
        check_range(
            "filter.max_avoid_containment",
            self.max_avoid_containment,
            0.0..=2.0,
        )
    }
}

/// Why a candidate was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectReason {
    /// A word or the whole sentence is longer than [`crate::text::TextLimits`] allows
    /// (e.g. a megabyte "word" from a broken answer).
    Oversize,
    /// Fewer than `min_words` words.
    TooShort,
    /// More than `max_words` words.
    TooLong,
    /// Names a technique id other than its own.
    NamesOtherTechnique,
    /// Same text as an original row.
    ExactDuplicateOriginal,
    /// Same text as an accepted new row.
    ExactDuplicateAccepted,
    /// Same text as a row of the `--avoid` file (e.g. a test split).
    ExactDuplicateAvoid,
    /// Near duplicate of an original row.
    NearDuplicateOriginal,
    /// Near duplicate of an accepted new row.
    NearDuplicateAccepted,
    /// Near duplicate of a row of the `--avoid` file.
    NearDuplicateAvoid,
    /// Contains a row of the `--avoid` file, or is contained in one (word 5-gram
    /// containment ≥ `max_avoid_containment`).
    ContainmentAvoid,
    /// Cosine to its technique's centroid below the threshold.
    LowFidelity,
    /// Not closer to its own technique's centroid than to another's by the margin.
    CloserToOtherTechnique,
    /// The consistency classifier does not rank its technique within `classifier_top_k`.
    ClassifierOffLabel,
    /// A rewrite that is a near duplicate of the procedure example it rewrites.
    NearDuplicateSource,
    /// Contains an indicator (IP, domain, hash, …) of the input while prompts were redacted.
    LeakedIndicator,
}

impl RejectReason {
    /// The kebab-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oversize => "oversize",
            Self::TooShort => "too-short",
            Self::TooLong => "too-long",
            Self::NamesOtherTechnique => "names-other-technique",
            Self::ExactDuplicateOriginal => "exact-duplicate-original",
            Self::ExactDuplicateAccepted => "exact-duplicate-accepted",
            Self::ExactDuplicateAvoid => "exact-duplicate-avoid",
            Self::NearDuplicateOriginal => "near-duplicate-original",
            Self::NearDuplicateAccepted => "near-duplicate-accepted",
            Self::NearDuplicateAvoid => "near-duplicate-avoid",
            Self::ContainmentAvoid => "containment-avoid",
            Self::LowFidelity => "low-fidelity",
            Self::CloserToOtherTechnique => "closer-to-other-technique",
            Self::ClassifierOffLabel => "classifier-off-label",
            Self::NearDuplicateSource => "near-duplicate-source",
            Self::LeakedIndicator => "leaked-indicator",
        }
    }
}

/// The scores of an embedded candidate, kept as provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Cosine to the own technique's centroid.
    pub centroid_cosine: f32,
    /// Highest cosine to any original, avoided or accepted sentence (in a set of over
    /// [`crate::ann::EXACT_UP_TO`] sentences: the highest among those its LSH search scans).
    pub nearest_duplicate_cosine: f32,
    /// Own-centroid cosine minus the best other technique's.
    pub margin: f32,
    /// The technique whose centroid is nearest after the own one.
    pub nearest_other_technique: TechniqueId,
    /// Rank of the own technique by the consistency classifier (1 = its top choice), when
    /// the run has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_rank: Option<usize>,
}

/// Everything the filters compare against, and the rows accepted so far.
pub struct FilterIndex {
    params: FilterParams,
    original_texts: HashSet<String>,
    original_emb: CosineIndex,
    avoid_texts: HashSet<String>,
    avoid_copies: ContainmentIndex,
    avoid_emb: CosineIndex,
    centroid_ids: Vec<TechniqueId>,
    centroids: Array2<f32>,
    accepted_texts: HashSet<String>,
    accepted_emb: CosineIndex,
    classifier: Option<TextClassifier>,
}

impl FilterIndex {
    /// Builds the index from the original sentences and their embeddings, the avoided
    /// sentences and theirs, and one L2-normalised centroid per technique.
    pub fn new(
        params: FilterParams,
        originals: (&[&str], Array2<f32>),
        avoid: (&[&str], Array2<f32>),
        centroids: Vec<(TechniqueId, Array1<f32>)>,
    ) -> Self {
        let dim = originals.1.ncols();
        let avoid_copies = ContainmentIndex::new(avoid.0, params.max_avoid_containment);
        let mut c = Array2::zeros((centroids.len(), dim));
        for (i, (_, v)) in centroids.iter().enumerate() {
            c.row_mut(i).assign(v);
        }
        Self {
            params,
            original_texts: originals.0.iter().map(|t| normalize_text(t)).collect(),
            original_emb: CosineIndex::from_rows(originals.1, AnnParams::default()),
            avoid_texts: avoid.0.iter().map(|t| normalize_text(t)).collect(),
            avoid_copies,
            avoid_emb: CosineIndex::from_rows(avoid.1, AnnParams::default()),
            centroid_ids: centroids.into_iter().map(|(id, _)| id).collect(),
            centroids: c,
            accepted_texts: HashSet::new(),
            accepted_emb: CosineIndex::new(dim, AnnParams::default()),
            classifier: None,
        }
    }

    /// Adds the consistency classifier: every embedded candidate gets its rank, and with
    /// `classifier_top_k > 0` a rank below it is rejected.
    pub fn with_classifier(mut self, classifier: TextClassifier) -> Self {
        self.classifier = Some(classifier);
        self
    }

    /// The checks that need no embedding. Returns the normalised sentence.
    pub fn pre_check(&self, raw: &str, technique: &str) -> Result<String, RejectReason> {
        // Control, bidi and zero-width characters never reach the journal's rows or outputs.
        let s = crate::text::strip_markup(&crate::text::sanitize(raw));
        if crate::text::oversize(&s, crate::text::TextLimits::default()).is_some() {
            return Err(RejectReason::Oversize);
        }
        let words = s.split_whitespace().count();
        if words < self.params.min_words.max(1) {
            return Err(RejectReason::TooShort);
        }
        if words > self.params.max_words {
            return Err(RejectReason::TooLong);
        }
        if technique_ids_in(&s)
            .iter()
            .any(|id| !id.same_family(technique))
        {
            return Err(RejectReason::NamesOtherTechnique);
        }
        let key = normalize_text(&s);
        if self.original_texts.contains(&key) {
            return Err(RejectReason::ExactDuplicateOriginal);
        }
        self.check_avoid(&s)?;
        if self.accepted_texts.contains(&key) {
            return Err(RejectReason::ExactDuplicateAccepted);
        }
        Ok(s)
    }

    /// The avoid checks that need no embedding: an exact copy of an `--avoid` row, or a
    /// containment near copy. Also screens the ATT&CK procedure examples shown in prompts.
    pub fn check_avoid(&self, text: &str) -> Result<(), RejectReason> {
        if self.avoid_texts.contains(&normalize_text(text)) {
            return Err(RejectReason::ExactDuplicateAvoid);
        }
        if self.avoid_copies.find(text).is_some() {
            return Err(RejectReason::ContainmentAvoid);
        }
        Ok(())
    }

    /// Whether `text` repeats an accepted row exactly (normalised); [`Self::pre_check`] also
    /// checks it, this is for rows accepted after that.
    pub fn check_accepted(&self, text: &str) -> Result<(), RejectReason> {
        match self.accepted_texts.contains(&normalize_text(text)) {
            true => Err(RejectReason::ExactDuplicateAccepted),
            false => Ok(()),
        }
    }

    /// The checks on the embedding of `text` (`emb` L2-normalised), then the consistency
    /// classifier. Returns the scores either way.
    pub fn check_embedded(
        &self,
        text: &str,
        emb: ArrayView1<f32>,
        technique: &str,
    ) -> (Result<(), RejectReason>, Scores) {
        let near_orig = self.original_emb.max_cosine(emb);
        let near_avoid = self.avoid_emb.max_cosine(emb);
        let near_acc = self.accepted_emb.max_cosine(emb);
        let cos_c = self.centroids.dot(&emb);
        let own = self.centroid_ids.iter().position(|id| id == technique);
        let own_cos = own.map_or(f32::NEG_INFINITY, |i| cos_c[i]);
        let (other_cos, other_id) = cos_c
            .iter()
            .enumerate()
            .filter(|&(i, _)| Some(i) != own)
            .map(|(i, &c)| (c, self.centroid_ids[i].as_str()))
            .fold(
                (f32::NEG_INFINITY, ""),
                |a, b| if b.0 > a.0 { b } else { a },
            );
        let scores = Scores {
            centroid_cosine: own_cos,
            nearest_duplicate_cosine: near_orig.max(near_avoid).max(near_acc).max(-1.0),
            margin: if other_cos.is_finite() {
                own_cos - other_cos
            } else {
                1.0
            },
            nearest_other_technique: other_id.into(),
            classifier_rank: self
                .classifier
                .as_ref()
                .and_then(|c| c.rank(text, technique)),
        };
        let p = &self.params;
        let verdict = if near_orig >= p.near_duplicate {
            Err(RejectReason::NearDuplicateOriginal)
        } else if near_avoid >= p.near_duplicate {
            Err(RejectReason::NearDuplicateAvoid)
        } else if near_acc >= p.near_duplicate {
            Err(RejectReason::NearDuplicateAccepted)
        } else if own_cos < p.min_centroid_cosine {
            Err(RejectReason::LowFidelity)
        } else if scores.margin < p.min_margin {
            Err(RejectReason::CloserToOtherTechnique)
        } else if p.classifier_top_k > 0
            && self.classifier.is_some()
            && scores
                .classifier_rank
                .is_none_or(|r| r > p.classifier_top_k)
        {
            Err(RejectReason::ClassifierOffLabel)
        } else {
            Ok(())
        };
        (verdict, scores)
    }

    /// The cosine at or above which two sentences are near duplicates.
    pub fn near_duplicate(&self) -> f32 {
        self.params.near_duplicate
    }

    /// Records an accepted sentence so later candidates are checked against it.
    pub fn accept(&mut self, sentence: &str, emb: Array1<f32>) {
        self.accepted_texts.insert(normalize_text(sentence));
        self.accepted_emb.add(emb.view());
    }

    /// The L2-normalised centroid of a technique, if it has rows.
    pub fn centroid(&self, technique: &str) -> Option<ArrayView1<'_, f32>> {
        self.centroid_ids
            .iter()
            .position(|id| id == technique)
            .map(|i| self.centroids.index_axis(Axis(0), i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn unit(v: [f32; 3]) -> Array1<f32> {
        let a = Array1::from(v.to_vec());
        let n = a.dot(&a).sqrt();
        a / n
    }

    fn index() -> FilterIndex {
        let orig = array![[1.0f32, 0.0, 0.0]];
        let avoid = array![[0.0f32, 0.0, 1.0]];
        FilterIndex::new(
            FilterParams {
                min_words: 3,
                ..Default::default()
            },
            (&["The actor dumped LSASS memory."], orig),
            (&["A test sentence to avoid here."], avoid),
            vec![
                ("T1003".into(), unit([1.0, 1.0, 0.0])),
                ("T1059".into(), unit([0.0, 1.0, 1.0])),
            ],
        )
    }

    #[test]
    fn cheap_checks() {
        let f = index();
        assert_eq!(
            f.pre_check("too short", "T1003"),
            Err(RejectReason::TooShort)
        );
        assert_eq!(
            f.pre_check(
                &format!("the actor used {} on hosts", "x".repeat(5000)),
                "T1003"
            ),
            Err(RejectReason::Oversize)
        );
        assert_eq!(
            f.pre_check("the actor\u{202e} used\u{1b}[31m cmd on hosts", "T1003"),
            Ok("the actor used[31m cmd on hosts".into())
        );
        assert_eq!(
            f.pre_check("the actor used T1059 to run scripts", "T1003"),
            Err(RejectReason::NamesOtherTechnique)
        );
        assert!(
            f.pre_check("the actor used T1003.001 on hosts", "T1003")
                .is_ok()
        );
        assert_eq!(
            f.pre_check("the actor dumped lsass  memory.", "T1003"),
            Err(RejectReason::ExactDuplicateOriginal)
        );
        assert_eq!(
            f.pre_check("a test sentence to avoid here.", "T1003"),
            Err(RejectReason::ExactDuplicateAvoid)
        );
    }

    /// A test sentence inside a longer candidate ("TrickBot " + sentence, as in ATT&CK
    /// procedure examples) is neither an exact copy nor reliably a cosine near duplicate.
    #[test]
    fn planted_prefix_plus_avoided_sentence_is_rejected() {
        let f = index();
        for candidate in [
            "TrickBot a test sentence to avoid here.",
            "a test sentence to avoid here, and then some more words follow",
        ] {
            assert_eq!(
                f.pre_check(candidate, "T1003"),
                Err(RejectReason::ContainmentAvoid),
                "{candidate}"
            );
        }
        assert!(
            f.pre_check("a test sentence about something else", "T1003")
                .is_ok()
        );
        let off = FilterIndex::new(
            FilterParams {
                min_words: 3,
                max_avoid_containment: 1.5,
                ..Default::default()
            },
            (&[], Array2::zeros((0, 3))),
            (
                &["A test sentence to avoid here."],
                array![[0.0f32, 0.0, 1.0]],
            ),
            vec![],
        );
        assert!(
            off.pre_check("TrickBot a test sentence to avoid here.", "T1003")
                .is_ok()
        );
    }

    #[test]
    fn embedding_checks() {
        let mut f = index();
        let (v, _) = f.check_embedded("x", unit([1.0, 0.01, 0.0]).view(), "T1003");
        assert_eq!(v, Err(RejectReason::NearDuplicateOriginal));
        let (v, _) = f.check_embedded("x", unit([0.0, 0.01, 1.0]).view(), "T1003");
        assert_eq!(v, Err(RejectReason::NearDuplicateAvoid));
        let good = unit([0.7, 1.0, 0.1]);
        let (v, s) = f.check_embedded("x", good.view(), "T1003");
        assert_eq!(v, Ok(()));
        assert!(s.margin > 0.0 && s.nearest_other_technique == "T1059");
        f.accept("new one", good.clone());
        let (v, _) = f.check_embedded("x", good.view(), "T1003");
        assert_eq!(v, Err(RejectReason::NearDuplicateAccepted));
        assert_eq!(
            f.pre_check("New  one", "T1003"),
            Err(RejectReason::TooShort)
        );
        let (v, _) = f.check_embedded("x", unit([0.1, 1.0, 0.7]).view(), "T1003");
        assert_eq!(v, Err(RejectReason::CloserToOtherTechnique));
        let (v, _) = f.check_embedded("x", unit([-1.0, -1.0, 0.2]).view(), "T1003");
        assert_eq!(v, Err(RejectReason::LowFidelity));
    }
}
