//! One leak policy for every arm: a row an arm adds to a training part is dropped when it
//! is an exact copy of a test row (normalised text), a containment near copy of one
//! ([`crate::nearcopy`], e.g. "TrickBot " + a test sentence), or — when the policy has a
//! cosine threshold and the sweep an embedder — a sentence-embedding near duplicate.
//! Baselines and synthcti arms go through the same screen, so no arm is held to a
//! stricter duplicate rule than another.

use std::collections::{BTreeMap, HashSet};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::{EvalError, normalize_text};
use crate::ann::{AnnParams, CosineIndex};
use crate::data::Sample;
use crate::embed::Embedder;
use crate::nearcopy::ContainmentIndex;
use crate::technique::TechniqueId;

/// What counts as a copy of a test row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LeakPolicy {
    /// Word 5-gram containment (either way) at or above which a row is a near copy
    /// (above 1: off).
    pub containment: f32,
    /// Cosine of sentence embeddings at or above which a row is a near duplicate; needs
    /// the sweep's embedder. `None`: off.
    pub near_cosine: Option<f32>,
}

impl Default for LeakPolicy {
    /// Containment 0.8, no cosine check (the CLI adds `filter.near_duplicate`).
    fn default() -> Self {
        Self {
            containment: 0.8,
            near_cosine: None,
        }
    }
}

/// Rows dropped by each check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakCounts {
    /// Exact copies (normalised text) of a test row.
    pub exact: usize,
    /// Containment near copies.
    pub containment: usize,
    /// Embedding near duplicates.
    pub cosine: usize,
}

impl LeakCounts {
    /// All dropped rows.
    pub fn total(&self) -> usize {
        self.exact + self.containment + self.cosine
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &LeakCounts) {
        self.exact += other.exact;
        self.containment += other.containment;
        self.cosine += other.cosine;
    }

    fn count(&mut self, leak: Leak) {
        match leak {
            Leak::Exact => self.exact += 1,
            Leak::Containment => self.containment += 1,
            Leak::Cosine => self.cosine += 1,
        }
    }
}

/// Why a row is a copy of a test row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leak {
    /// Same normalised text.
    Exact,
    /// Word-shingle containment either way.
    Containment,
    /// Embedding cosine.
    Cosine,
}

/// The test part of one fold, indexed for screening.
pub struct LeakCheck {
    exact: HashSet<String>,
    copies: ContainmentIndex,
    cosine: Option<(f32, CosineIndex)>,
}

fn embed(embedder: &mut dyn Embedder, texts: &[&str]) -> Result<Array2<f32>, EvalError> {
    Ok(embedder.embed(texts)?)
}

impl LeakCheck {
    /// Indexes `test`; embeds it when the policy has a cosine threshold (then `embedder`
    /// is required).
    pub fn new(
        test: &[&str],
        policy: &LeakPolicy,
        embedder: Option<&mut (dyn Embedder + '_)>,
    ) -> Result<Self, EvalError> {
        let cosine = match (policy.near_cosine, embedder) {
            (None, _) => None,
            (Some(t), Some(e)) => Some((
                t,
                CosineIndex::from_rows(embed(e, test)?, AnnParams::default()),
            )),
            (Some(_), None) => {
                return Err(EvalError::Config(
                    "the cosine leak check needs an embedder".into(),
                ));
            }
        };
        Ok(Self {
            exact: test.iter().map(|t| normalize_text(t)).collect(),
            copies: ContainmentIndex::new(test, policy.containment),
            cosine,
        })
    }

    /// The verdict on each of `rows` (`None`: clean).
    pub fn screen(
        &self,
        rows: &[&str],
        embedder: Option<&mut (dyn Embedder + '_)>,
    ) -> Result<Vec<Option<Leak>>, EvalError> {
        let mut out: Vec<Option<Leak>> = rows
            .iter()
            .map(|r| {
                if self.exact.contains(&normalize_text(r)) {
                    Some(Leak::Exact)
                } else if self.copies.find(r).is_some() {
                    Some(Leak::Containment)
                } else {
                    None
                }
            })
            .collect();
        if let (Some((threshold, test_emb)), Some(e)) = (&self.cosine, embedder) {
            let open: Vec<usize> = (0..rows.len()).filter(|&i| out[i].is_none()).collect();
            if !open.is_empty() && !test_emb.is_empty() {
                let texts: Vec<&str> = open.iter().map(|&i| rows[i]).collect();
                let emb = embed(e, &texts)?;
                for (row, &i) in emb.outer_iter().zip(&open) {
                    if test_emb.max_cosine(row) >= *threshold {
                        out[i] = Some(Leak::Cosine);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// One arm's rows for one fold after screening: per label, the clean rows in the arm's
/// order (at most the requested number) and the leaks met on the way.
#[derive(Debug, Default)]
pub struct CleanRows {
    by_label: BTreeMap<TechniqueId, Vec<Sample>>,
    /// Per label, the leaks met before each clean row (cumulative).
    leaks_before: BTreeMap<TechniqueId, Vec<LeakCounts>>,
    leaks_total: BTreeMap<TechniqueId, LeakCounts>,
}

impl CleanRows {
    /// Screens `produced` in order, keeping per label at most `cap[label]` clean rows
    /// (labels without a cap are ignored).
    pub fn screen(
        produced: Vec<Sample>,
        cap: &BTreeMap<TechniqueId, usize>,
        check: &LeakCheck,
        embedder: Option<&mut (dyn Embedder + '_)>,
    ) -> Result<Self, EvalError> {
        let texts: Vec<&str> = produced.iter().map(|s| s.text.as_str()).collect();
        let verdicts = check.screen(&texts, embedder)?;
        let mut out = Self::default();
        for (row, verdict) in produced.into_iter().zip(verdicts) {
            let Some(&limit) = cap.get(&row.label) else {
                continue;
            };
            let list = out.by_label.entry(row.label.clone()).or_default();
            if list.len() >= limit {
                continue;
            }
            let seen = out.leaks_total.entry(row.label.clone()).or_default();
            match verdict {
                Some(leak) => seen.count(leak),
                None => {
                    out.leaks_before
                        .entry(row.label.clone())
                        .or_default()
                        .push(*seen);
                    list.push(row);
                }
            }
        }
        Ok(out)
    }

    /// Number of clean rows of `label`.
    pub fn available(&self, label: &str) -> usize {
        self.by_label.get(label).map_or(0, Vec::len)
    }

    /// The first `take[label]` clean rows of every label, and the leaks dropped on the way
    /// to them: none before the first row taken, and all of a label's leaks when `want`
    /// asked for more clean rows than the arm has (it was screened to the end).
    pub fn prefix(
        &self,
        take: &BTreeMap<TechniqueId, usize>,
        want: &BTreeMap<TechniqueId, usize>,
    ) -> (Vec<&Sample>, LeakCounts) {
        let mut rows = Vec::new();
        let mut leaks = LeakCounts::default();
        for (label, list) in &self.by_label {
            let k = take.get(label).copied().unwrap_or(0).min(list.len());
            let w = want.get(label).copied().unwrap_or(0);
            rows.extend(list[..k].iter());
            let met = if k == list.len() && w > k {
                self.leaks_total[label]
            } else if k == 0 {
                LeakCounts::default()
            } else {
                self.leaks_before[label][k - 1]
            };
            leaks.add(&met);
        }
        (rows, leaks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Origin;

    fn row(label: &str, text: &str) -> Sample {
        Sample {
            id: 0,
            text: text.into(),
            label: label.into(),
            group: None,
            origin: Origin::Synthetic,
        }
    }

    const TEST: &str = "The malware collects the computer name and the user name of the victim.";

    #[test]
    fn one_screen_for_exact_and_contained_copies() {
        let check = LeakCheck::new(&[TEST], &LeakPolicy::default(), None).unwrap();
        let rows = [
            TEST.to_uppercase(),
            format!("TrickBot {TEST}"),
            "An unrelated sentence about scheduled tasks on hosts.".into(),
        ];
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        assert_eq!(
            check.screen(&refs, None).unwrap(),
            vec![Some(Leak::Exact), Some(Leak::Containment), None]
        );
        let cosine = LeakPolicy {
            near_cosine: Some(0.9),
            ..LeakPolicy::default()
        };
        assert!(LeakCheck::new(&[TEST], &cosine, None).is_err());
    }

    #[test]
    fn prefixes_count_the_leaks_met_on_the_way() {
        let check = LeakCheck::new(&[TEST], &LeakPolicy::default(), None).unwrap();
        let produced = vec![
            row("T1", "first clean row of label one here"),
            row("T1", &format!("TrickBot {TEST}")),
            row("T1", "second clean row of label one here"),
            row("T1", TEST),
            row("T1", "third clean row of label one here"),
            row("T1", "fourth clean row beyond the cap here"),
            row("T9", "a label without any cap at all here"),
        ];
        let cap: BTreeMap<TechniqueId, usize> = [("T1".into(), 3)].into();
        let clean = CleanRows::screen(produced, &cap, &check, None).unwrap();
        assert_eq!(clean.available("T1"), 3);
        assert_eq!(clean.available("T9"), 0);
        let take = |k: usize, w: usize| {
            clean.prefix(&[("T1".into(), k)].into(), &[("T1".into(), w)].into())
        };
        let (rows, leaks) = take(1, 1);
        assert_eq!((rows.len(), leaks.total()), (1, 0));
        let (rows, leaks) = take(2, 2);
        assert_eq!((rows.len(), leaks.containment, leaks.exact), (2, 1, 0));
        let (rows, leaks) = take(3, 3);
        assert_eq!((rows.len(), leaks.containment, leaks.exact), (3, 1, 1));
        assert_eq!(rows[2].text, "third clean row of label one here");
        assert_eq!(take(0, 0).1.total(), 0);
        // Capped to 0 by another arm: nothing taken, nothing screened.
        assert_eq!(take(0, 2).1.total(), 0);
        // An arm whose rows are all copies: everything it produced was screened.
        let copies = CleanRows::screen(vec![row("T1", TEST)], &cap, &check, None).unwrap();
        let (rows, leaks) = copies.prefix(&[("T1".into(), 0)].into(), &[("T1".into(), 2)].into());
        assert_eq!((rows.len(), leaks.exact), (0, 1));
    }
}
