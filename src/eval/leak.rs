//! One leak policy for every arm, applied in two places:
//!
//! - **at split time**, test rows that copy a training row (of the fold's training part)
//!   leave the test part — for every arm alike, so oversampling and EDA are never punished
//!   for copying a training row that happens to sit next to a test row;
//! - **on every arm's added rows**, a row that copies a (remaining) test row is dropped.
//!
//! A copy is: the same words (case, whitespace and punctuation folded); a containment near
//! copy ([`crate::nearcopy`], e.g. "TrickBot " + a test sentence) — for a **test** text of
//! 2–4 words, which has no 5-word shingle, the whole test text appearing word for word
//! inside a training or added text **of the same label** (a fragment such as "net user"
//! inside a sentence of another technique gives that technique's label away no more than
//! any shared word does; a short *training* text inside a long test sentence is a shared
//! keyword, not a copy, so the rule only runs that one way); or, when
//! the policy has a cosine threshold and the sweep an embedder, a sentence-embedding near
//! duplicate. A one-word text is checked for the exact case only.
//!
//! [`LeakCheck::scores`] measures each row once; any policy's verdict follows from the
//! scores, so the sweep reports how many rows a ×2 looser and a ×2 tighter screen would
//! drop ([`LeakPolicy::looser`], [`LeakPolicy::tighter`]) without screening again.

use std::collections::{BTreeMap, HashSet};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::EvalError;
use crate::ann::{AnnParams, CosineIndex};
use crate::data::Sample;
use crate::embed::Embedder;
use crate::nearcopy::{ContainmentIndex, SHINGLE, words};
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

/// A threshold in (0, 1] with its distance from 1 scaled by `factor` (clamped to [0, 1]).
fn scale_distance(threshold: f32, factor: f32) -> f32 {
    if threshold > 1.0 {
        return threshold;
    }
    (1.0 - (1.0 - threshold) * factor).clamp(0.0, 1.0)
}

impl LeakPolicy {
    /// The verdict on one row's scores (`None`: clean).
    pub fn verdict(&self, s: &LeakScore) -> Option<Leak> {
        if s.exact {
            Some(Leak::Exact)
        } else if self.containment <= 1.0 && s.containment >= self.containment {
            Some(Leak::Containment)
        } else if let (Some(t), Some(c)) = (self.near_cosine, s.cosine)
            && c >= t
        {
            Some(Leak::Cosine)
        } else {
            None
        }
    }

    /// Twice as lenient: each threshold's distance from 1 halved (containment 0.8 → 0.9,
    /// cosine 0.92 → 0.96).
    pub fn looser(&self) -> Self {
        Self {
            containment: scale_distance(self.containment, 0.5),
            near_cosine: self.near_cosine.map(|t| scale_distance(t, 0.5)),
        }
    }

    /// Twice as strict: each threshold's distance from 1 doubled (0.8 → 0.6, 0.92 → 0.84).
    pub fn tighter(&self) -> Self {
        Self {
            containment: scale_distance(self.containment, 2.0),
            near_cosine: self.near_cosine.map(|t| scale_distance(t, 2.0)),
        }
    }
}

/// Rows dropped by each check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakCounts {
    /// Exact copies (same words) of a test row.
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

    /// Counts one verdict.
    pub fn count(&mut self, leak: Leak) {
        match leak {
            Leak::Exact => self.exact += 1,
            Leak::Containment => self.containment += 1,
            Leak::Cosine => self.cosine += 1,
        }
    }

    /// The verdicts of `policy` over `scores`, counted.
    pub fn under(policy: &LeakPolicy, scores: &[LeakScore]) -> Self {
        let mut c = Self::default();
        for leak in scores.iter().filter_map(|s| policy.verdict(s)) {
            c.count(leak);
        }
        c
    }
}

/// Rows a ×2 looser and a ×2 tighter screen would drop (see [`LeakPolicy::looser`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakSensitivity {
    /// Under [`LeakPolicy::looser`].
    pub looser: LeakCounts,
    /// Under [`LeakPolicy::tighter`].
    pub tighter: LeakCounts,
}

impl LeakSensitivity {
    /// Both counts over `scores`.
    pub fn of(policy: &LeakPolicy, scores: &[LeakScore]) -> Self {
        Self {
            looser: LeakCounts::under(&policy.looser(), scores),
            tighter: LeakCounts::under(&policy.tighter(), scores),
        }
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Self) {
        self.looser.add(&other.looser);
        self.tighter.add(&other.tighter);
    }
}

/// Why a row is a copy of a test row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leak {
    /// Same words.
    Exact,
    /// Word-shingle containment either way (or a short text inside the other).
    Containment,
    /// Embedding cosine.
    Cosine,
}

/// How close one row comes to the indexed texts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakScore {
    /// Same words as an indexed text.
    pub exact: bool,
    /// Highest containment either way (1 for a short text found word for word).
    pub containment: f32,
    /// Highest cosine, when the check embeds.
    pub cosine: Option<f32>,
}

/// The words of `text`, lower-cased: case, whitespace and punctuation folded.
pub fn word_key(text: &str) -> String {
    words(&text.to_lowercase()).collect::<Vec<_>>().join(" ")
}

/// Short texts (2 to [`SHINGLE`]` − 1` words), which have no shingle, per label: the
/// indexed short texts by their words, and every 2..[`SHINGLE`]-word run of every indexed
/// text (each entry is `label` + U+001F + words).
#[derive(Default)]
struct ShortIndex {
    short: HashSet<String>,
    runs: HashSet<String>,
}

fn runs<'a>(label: &'a str, tokens: &'a [&'a str]) -> impl Iterator<Item = String> + 'a {
    (2..SHINGLE).flat_map(move |k| {
        tokens
            .windows(k)
            .map(move |w| format!("{label}\u{1f}{}", w.join(" ")))
    })
}

impl ShortIndex {
    fn new(keys: &[String], labels: &[&str]) -> Self {
        let mut index = Self::default();
        for (key, label) in keys.iter().zip(labels) {
            let tokens: Vec<&str> = key.split(' ').filter(|t| !t.is_empty()).collect();
            if (2..SHINGLE).contains(&tokens.len()) {
                index.short.insert(format!("{label}\u{1f}{key}"));
            }
            index.runs.extend(runs(label, &tokens));
        }
        index
    }

    /// A short query inside an indexed text of its label.
    fn query_inside(&self, key: &str, label: &str) -> bool {
        let words = key.split(' ').filter(|t| !t.is_empty()).count();
        (2..SHINGLE).contains(&words) && self.runs.contains(&format!("{label}\u{1f}{key}"))
    }

    /// A short indexed text of the query's label inside the query.
    fn indexed_inside(&self, key: &str, label: &str) -> bool {
        let tokens: Vec<&str> = key.split(' ').filter(|t| !t.is_empty()).collect();
        runs(label, &tokens).any(|r| self.short.contains(&r))
    }
}

/// Which side of the split the indexed texts are: the short-text rule only flags a short
/// **test** text inside a longer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexed {
    /// The test part (queries: rows an arm adds).
    Test,
    /// The training part (queries: test rows).
    Training,
}

/// A set of texts (a fold's test part, or its training part), indexed for screening.
pub struct LeakCheck {
    policy: LeakPolicy,
    side: Indexed,
    exact: HashSet<String>,
    copies: ContainmentIndex,
    short: ShortIndex,
    cosine: Option<CosineIndex>,
}

fn embed(embedder: &mut dyn Embedder, texts: &[&str]) -> Result<Array2<f32>, EvalError> {
    Ok(embedder.embed(texts)?)
}

impl LeakCheck {
    /// Indexes `rows` (text, label) of one `side`; embeds them when the policy has a cosine
    /// threshold (then `embedder` is required).
    pub fn new(
        rows: &[(&str, &str)],
        side: Indexed,
        policy: &LeakPolicy,
        embedder: Option<&mut (dyn Embedder + '_)>,
    ) -> Result<Self, EvalError> {
        let (texts, labels): (Vec<&str>, Vec<&str>) = rows.iter().copied().unzip();
        let cosine = match (policy.near_cosine, embedder) {
            (None, _) => None,
            (Some(_), Some(e)) => Some(CosineIndex::from_rows(
                embed(e, &texts)?,
                AnnParams::default(),
            )),
            (Some(_), None) => {
                return Err(EvalError::Config(
                    "the cosine leak check needs an embedder".into(),
                ));
            }
        };
        let keys: Vec<String> = texts.iter().map(|t| word_key(t)).collect();
        Ok(Self {
            policy: *policy,
            side,
            short: ShortIndex::new(&keys, &labels),
            exact: keys.into_iter().filter(|k| !k.is_empty()).collect(),
            // Threshold 0: `find` returns the highest containment, for any policy.
            copies: ContainmentIndex::new(&texts, 0.0),
            cosine,
        })
    }

    /// The short-text rule: a short test text inside a text of its label.
    fn short_copy(&self, key: &str, label: &str) -> bool {
        match self.side {
            Indexed::Test => self.short.indexed_inside(key, label),
            Indexed::Training => self.short.query_inside(key, label),
        }
    }

    /// The policy the check was built with.
    pub fn policy(&self) -> &LeakPolicy {
        &self.policy
    }

    /// How close each of `rows` (text, label) comes to the indexed texts.
    pub fn scores(
        &self,
        rows: &[(&str, &str)],
        embedder: Option<&mut (dyn Embedder + '_)>,
    ) -> Result<Vec<LeakScore>, EvalError> {
        let mut out: Vec<LeakScore> = rows
            .iter()
            .map(|&(r, label)| {
                let key = word_key(r);
                let contained = self.copies.find(r).map_or(0.0, |c| c.containment);
                LeakScore {
                    exact: self.exact.contains(&key),
                    containment: if self.short_copy(&key, label) {
                        1.0
                    } else {
                        contained
                    },
                    cosine: None,
                }
            })
            .collect();
        if let (Some(index), Some(e)) = (&self.cosine, embedder)
            && !rows.is_empty()
            && !index.is_empty()
        {
            let texts: Vec<&str> = rows.iter().map(|r| r.0).collect();
            let emb = embed(e, &texts)?;
            for (row, score) in emb.outer_iter().zip(out.iter_mut()) {
                score.cosine = Some(index.max_cosine(row));
            }
        }
        Ok(out)
    }

    /// The verdict of the check's policy on each of `rows` (text, label; `None`: clean).
    pub fn screen(
        &self,
        rows: &[(&str, &str)],
        embedder: Option<&mut (dyn Embedder + '_)>,
    ) -> Result<Vec<Option<Leak>>, EvalError> {
        Ok(self
            .scores(rows, embedder)?
            .iter()
            .map(|s| self.policy.verdict(s))
            .collect())
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
    /// What a looser and a tighter screen would have dropped of the rows screened.
    pub sensitivity: LeakSensitivity,
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
        let rows: Vec<(&str, &str)> = produced
            .iter()
            .map(|s| (s.text.as_str(), s.label.as_str()))
            .collect();
        let scores = check.scores(&rows, embedder)?;
        let mut out = Self::default();
        let mut screened = Vec::with_capacity(scores.len());
        for (row, score) in produced.into_iter().zip(scores) {
            let Some(&limit) = cap.get(&row.label) else {
                continue;
            };
            let list = out.by_label.entry(row.label.clone()).or_default();
            if list.len() >= limit {
                continue;
            }
            screened.push(score);
            let seen = out.leaks_total.entry(row.label.clone()).or_default();
            match check.policy().verdict(&score) {
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
        out.sensitivity = LeakSensitivity::of(check.policy(), &screened);
        Ok(out)
    }

    /// Clean rows per label.
    pub fn counts(&self) -> BTreeMap<TechniqueId, usize> {
        self.by_label
            .iter()
            .map(|(l, rows)| (l.clone(), rows.len()))
            .collect()
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
        let check =
            LeakCheck::new(&[(TEST, "T1")], Indexed::Test, &LeakPolicy::default(), None).unwrap();
        let rows = [
            TEST.to_uppercase(),
            format!("TrickBot {TEST}"),
            "An unrelated sentence about scheduled tasks on hosts.".into(),
        ];
        let refs: Vec<(&str, &str)> = rows.iter().map(|r| (r.as_str(), "T2")).collect();
        assert_eq!(
            check.screen(&refs, None).unwrap(),
            vec![Some(Leak::Exact), Some(Leak::Containment), None]
        );
        let cosine = LeakPolicy {
            near_cosine: Some(0.9),
            ..LeakPolicy::default()
        };
        assert!(LeakCheck::new(&[(TEST, "T1")], Indexed::Test, &cosine, None).is_err());
    }

    #[test]
    fn punctuation_and_short_texts_are_copies_too() {
        let check = LeakCheck::new(
            &[
                (TEST, "T1082"),
                ("Scheduled Task/Job", "T1053"),
                ("PowerShell", "T1059.001"),
            ],
            Indexed::Test,
            &LeakPolicy::default(),
            None,
        )
        .unwrap();
        let rows = [
            // Punctuation folded (any label).
            (
                "the malware collects the computer-name, and the user name of the victim",
                "T9",
            ),
            // A 3-word test text inside a longer row of its label (no 5-word shingle).
            (
                "APT29 created a scheduled task job to persist on the host.",
                "T1053",
            ),
            // … but not inside a row of another label.
            (
                "APT29 created a scheduled task job to persist on the host.",
                "T1547",
            ),
            // A short added row inside a test text is a shared keyword, not a copy.
            ("the computer name", "T1082"),
            // A one-word test text is checked for the exact case only.
            (
                "Attackers ran PowerShell scripts from memory on every host.",
                "T1059.001",
            ),
            ("powershell", "T1059.001"),
        ];
        assert_eq!(
            check.screen(&rows, None).unwrap(),
            vec![
                Some(Leak::Exact),
                Some(Leak::Containment),
                None,
                None,
                None,
                Some(Leak::Exact)
            ]
        );
        // Pointed the other way (test rows against a training part): a short test row
        // inside a training sentence of its label is a copy; a long test row holding a
        // short training text is not.
        let train = LeakCheck::new(
            &[
                ("APT29 created a scheduled task job to persist.", "T1053"),
                ("rundll32.exe", "T1218.011"),
            ],
            Indexed::Training,
            &LeakPolicy::default(),
            None,
        )
        .unwrap();
        let test = [
            ("Scheduled Task/Job", "T1053"),
            (
                "The malware is a DLL that is launched using rundll32.exe:",
                "T1218.011",
            ),
            ("rundll32 exe", "T1218.011"),
        ];
        assert_eq!(
            train.screen(&test, None).unwrap(),
            vec![Some(Leak::Containment), None, Some(Leak::Exact)]
        );
    }

    #[test]
    fn looser_and_tighter_screens_follow_from_the_scores() {
        let p = LeakPolicy {
            containment: 0.8,
            near_cosine: Some(0.92),
        };
        let (lo, ti) = (p.looser(), p.tighter());
        assert!((lo.containment - 0.9).abs() < 1e-6 && (ti.containment - 0.6).abs() < 1e-6);
        assert!((lo.near_cosine.unwrap() - 0.96).abs() < 1e-6);
        assert!((ti.near_cosine.unwrap() - 0.84).abs() < 1e-6);
        let score = |containment: f32, cosine: f32| LeakScore {
            exact: false,
            containment,
            cosine: Some(cosine),
        };
        let scores = [
            score(0.85, 0.5),
            score(0.7, 0.5),
            score(0.0, 0.93),
            score(0.0, 0.5),
        ];
        assert_eq!(LeakCounts::under(&p, &scores).total(), 2);
        let s = LeakSensitivity::of(&p, &scores);
        assert_eq!((s.looser.total(), s.tighter.total()), (0, 3));
        assert_eq!((s.tighter.containment, s.tighter.cosine), (2, 1));
    }

    #[test]
    fn prefixes_count_the_leaks_met_on_the_way() {
        let check =
            LeakCheck::new(&[(TEST, "T1")], Indexed::Test, &LeakPolicy::default(), None).unwrap();
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
