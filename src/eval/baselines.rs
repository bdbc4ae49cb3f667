//! Augmentation arms: the [`Augmenter`] trait and three classic baselines: random
//! oversampling, EDA (Wei & Zou 2019: synonym replacement, random insertion, random swap,
//! random deletion) and class-balanced loss weights ([`ClassReweight`], no rows added).

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::EvalError;
use crate::data::normalize_text;
use crate::data::{Origin, Sample};
use crate::technique::TechniqueId;

/// An augmentation arm: adds rows for given labels.
///
/// Contract, relied on by [`super::sweep`]:
/// - rows come back grouped by nothing in particular, but **within a label in preference
///   order**: any prefix of a label's rows is the arm's best subset of that size (an
///   equal-budget comparison takes prefixes);
/// - at most `added_per_label[label]` rows per label, labels only from that map (extra
///   rows are cut, fewer rows are recorded as such);
/// - only `train` may be used as material; `avoid` (the test rows) is for filtering
///   near-copies out, never for generation;
/// - the same `seed` and inputs give the same rows.
pub trait Augmenter: Send {
    /// A short name for tables and plots, e.g. `eda`.
    fn name(&self) -> &str;

    /// New rows for the labels of `added_per_label`, `added_per_label[l]` of label `l`.
    fn augment(
        &mut self,
        train: &[Sample],
        avoid: &[Sample],
        added_per_label: &BTreeMap<TechniqueId, usize>,
        seed: u64,
    ) -> Result<Vec<Sample>, EvalError>;

    /// Loss weights instead of rows: when `Some`, the sweep adds no row and trains on the
    /// original rows with these per-label weights (a label not in the map keeps 1).
    /// `train_counts` are the training rows per label, `added_per_label` what the ratio
    /// asks for.
    fn loss_weights(
        &self,
        _train_counts: &BTreeMap<TechniqueId, usize>,
        _added_per_label: &BTreeMap<TechniqueId, usize>,
    ) -> Option<BTreeMap<TechniqueId, f32>> {
        None
    }
}

/// Class-balanced loss weights, the baseline a reviewer asks augmentation to beat: no row
/// is added; each original row of label `l` weighs `(n_l + k_l) / n_l`, where `n_l` is the
/// label's training rows and `k_l` the rows the ratio asks for — the loss oversampling to
/// the same target has in expectation, without duplicating a row.
#[derive(Debug, Clone, Default)]
pub struct ClassReweight;

impl Augmenter for ClassReweight {
    fn name(&self) -> &str {
        "reweight"
    }

    fn augment(
        &mut self,
        _train: &[Sample],
        _avoid: &[Sample],
        _added_per_label: &BTreeMap<TechniqueId, usize>,
        _seed: u64,
    ) -> Result<Vec<Sample>, EvalError> {
        Ok(Vec::new())
    }

    fn loss_weights(
        &self,
        train_counts: &BTreeMap<TechniqueId, usize>,
        added_per_label: &BTreeMap<TechniqueId, usize>,
    ) -> Option<BTreeMap<TechniqueId, f32>> {
        Some(
            added_per_label
                .iter()
                .filter_map(|(label, &k)| {
                    let n = *train_counts.get(label)?;
                    (n > 0).then(|| (label.clone(), (n + k) as f32 / n as f32))
                })
                .collect(),
        )
    }
}

/// A seeded RNG per (seed, label), so a label's rows do not depend on the other labels.
fn label_rng(seed: u64, label: &str) -> Xoshiro256PlusPlus {
    // FNV-1a: stable across runs and platforms, unlike `DefaultHasher`'s contract.
    let hash = label.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    Xoshiro256PlusPlus::seed_from_u64(seed ^ hash)
}

/// For each label of `wanted` with a positive count, the `(label, source rows)` to derive
/// new rows from: `count` training rows of that label, cycling through fresh seeded
/// shuffles of the label's rows so sources are spread evenly.
fn pick_sources<'a>(
    arm: &str,
    train: &'a [Sample],
    wanted: &BTreeMap<TechniqueId, usize>,
    seed: u64,
) -> Result<Vec<(Xoshiro256PlusPlus, Vec<&'a Sample>)>, EvalError> {
    let mut out = Vec::new();
    for (label, &count) in wanted {
        if count == 0 {
            continue;
        }
        let pool: Vec<&Sample> = train.iter().filter(|s| &s.label == label).collect();
        if pool.is_empty() {
            return Err(EvalError::Augmenter {
                arm: arm.to_owned(),
                message: format!("no training row of label {label} to derive rows from"),
            });
        }
        let mut rng = label_rng(seed, label);
        let mut sources = Vec::with_capacity(count);
        let mut order: Vec<usize> = (0..pool.len()).collect();
        while sources.len() < count {
            order.shuffle(&mut rng);
            sources.extend(order.iter().take(count - sources.len()).map(|&i| pool[i]));
        }
        out.push((rng, sources));
    }
    Ok(out)
}

/// Random oversampling: exact duplicates of training rows of the label (origin
/// [`Origin::Original`], id and group of the copied row), seeded.
#[derive(Debug, Clone, Default)]
pub struct RandomOversampler;

impl Augmenter for RandomOversampler {
    fn name(&self) -> &str {
        "oversample"
    }

    fn augment(
        &mut self,
        train: &[Sample],
        _avoid: &[Sample],
        added_per_label: &BTreeMap<TechniqueId, usize>,
        seed: u64,
    ) -> Result<Vec<Sample>, EvalError> {
        Ok(pick_sources(self.name(), train, added_per_label, seed)?
            .into_iter()
            .flat_map(|(_, sources)| sources.into_iter().cloned())
            .collect())
    }
}

/// Strengths of the four EDA operations.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EdaConfig {
    /// Fraction of words replaced by a synonym (at least one).
    pub alpha_sr: f64,
    /// Fraction of the word count inserted as synonyms of random words (at least one).
    pub alpha_ri: f64,
    /// Fraction of the word count of swaps of two different positions (at least one).
    pub alpha_rs: f64,
    /// Probability of deleting each word (one word always survives, and one is deleted
    /// when none was drawn and there are two or more).
    pub p_rd: f64,
}

impl Default for EdaConfig {
    /// The EDA paper's recommended 0.1 for all four.
    fn default() -> Self {
        Self {
            alpha_sr: 0.1,
            alpha_ri: 0.1,
            alpha_rs: 0.1,
            p_rd: 0.1,
        }
    }
}

/// EDA-style perturbation of training rows: each new row applies one operation, chosen
/// at random, to a training row of the label (origin [`Origin::Synthetic`], id and group
/// of the source row). Synonyms come from a small built-in list of general and CTI
/// wording ([`SYNONYMS`]); technical tokens (commands, paths, names) are never replaced.
#[derive(Debug, Clone, Default)]
pub struct EdaAugmenter {
    /// Operation strengths.
    pub config: EdaConfig,
}

/// The built-in synonym list: `(word, replacements)`, all lower case.
pub const SYNONYMS: &[(&str, &[&str])] = &[
    ("uses", &["utilizes", "employs", "leverages"]),
    ("use", &["utilize", "employ", "leverage"]),
    ("used", &["utilized", "employed", "leveraged"]),
    ("using", &["utilizing", "employing", "leveraging"]),
    ("executes", &["runs", "launches"]),
    ("execute", &["run", "launch"]),
    ("executed", &["ran", "launched"]),
    ("runs", &["executes", "launches"]),
    ("malware", &["malicious software", "implant"]),
    ("attacker", &["adversary", "threat actor"]),
    ("attackers", &["adversaries", "threat actors"]),
    ("adversary", &["attacker", "threat actor"]),
    ("adversaries", &["attackers", "threat actors"]),
    ("creates", &["generates", "makes"]),
    ("create", &["generate", "make"]),
    ("downloads", &["retrieves", "fetches"]),
    ("download", &["retrieve", "fetch"]),
    ("collects", &["gathers", "harvests"]),
    ("collect", &["gather", "harvest"]),
    ("sends", &["transmits", "forwards"]),
    ("send", &["transmit", "forward"]),
    ("steals", &["exfiltrates", "takes"]),
    ("obtains", &["acquires", "gains"]),
    ("obtain", &["acquire", "gain"]),
    ("modifies", &["alters", "changes"]),
    ("modify", &["alter", "change"]),
    ("deletes", &["removes", "erases"]),
    ("delete", &["remove", "erase"]),
    ("installs", &["deploys", "sets up"]),
    ("install", &["deploy", "set up"]),
    ("contains", &["includes", "holds"]),
    ("information", &["data", "details"]),
    ("victim", &["target"]),
    ("victims", &["targets"]),
    ("via", &["through", "by way of"]),
    ("also", &["additionally", "further"]),
    ("then", &["subsequently", "next"]),
    ("additional", &["further", "extra"]),
    ("multiple", &["several", "various"]),
    ("several", &["multiple", "various"]),
    ("various", &["several", "multiple"]),
    ("legitimate", &["benign", "genuine"]),
    ("malicious", &["harmful", "hostile"]),
    ("observed", &["seen", "spotted"]),
    ("identified", &["found", "discovered"]),
    ("often", &["frequently", "commonly"]),
    ("typically", &["usually", "generally"]),
    ("usually", &["typically", "generally"]),
    ("able", &["capable"]),
    ("capable", &["able"]),
    ("retrieve", &["fetch", "obtain"]),
    ("gather", &["collect", "harvest"]),
    ("launch", &["start", "execute"]),
    ("launches", &["starts", "executes"]),
    ("establish", &["set up", "create"]),
    ("establishes", &["sets up", "creates"]),
];

fn synonyms(word: &str) -> Option<&'static [&'static str]> {
    SYNONYMS
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, syns)| *syns)
}

/// Splits a whitespace token into leading punctuation, core and trailing punctuation.
fn split_punct(token: &str) -> (&str, &str, &str) {
    let start = token
        .find(|c: char| c.is_alphanumeric())
        .unwrap_or(token.len());
    let end = token
        .rfind(|c: char| c.is_alphanumeric())
        .map_or(start, |i| {
            i + token[i..].chars().next().map_or(1, char::len_utf8)
        });
    (
        &token[..start],
        &token[start..end.max(start)],
        &token[end.max(start)..],
    )
}

/// The synonyms of a token's core word, if it has any.
fn token_synonyms(token: &str) -> Option<&'static [&'static str]> {
    synonyms(&split_punct(token).1.to_lowercase())
}

/// `token` with its core replaced by `replacement`, keeping punctuation and an initial
/// capital.
fn replace_core(token: &str, replacement: &str) -> String {
    let (pre, core, post) = split_punct(token);
    let mut out = String::from(pre);
    if core.chars().next().is_some_and(char::is_uppercase) {
        let mut chars = replacement.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    } else {
        out.push_str(replacement);
    }
    out.push_str(post);
    out
}

impl EdaAugmenter {
    /// Applies one EDA operation, `op` in `0..4`: synonym replacement, random insertion,
    /// random swap, random deletion.
    fn perturb(&self, text: &str, op: usize, rng: &mut Xoshiro256PlusPlus) -> String {
        let mut words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        if words.is_empty() {
            return String::new();
        }
        let count = |alpha: f64| ((alpha * words.len() as f64).round() as usize).max(1);
        match op {
            0 => {
                let mut candidates: Vec<usize> = (0..words.len())
                    .filter(|&i| token_synonyms(&words[i]).is_some())
                    .collect();
                candidates.shuffle(rng);
                for &i in candidates.iter().take(count(self.config.alpha_sr)) {
                    if let Some(syns) = token_synonyms(&words[i]) {
                        let pick = syns[rng.gen_range(0..syns.len())];
                        words[i] = replace_core(&words[i], pick);
                    }
                }
            }
            1 => {
                let candidates: Vec<&'static [&'static str]> =
                    words.iter().filter_map(|w| token_synonyms(w)).collect();
                if !candidates.is_empty() {
                    for _ in 0..count(self.config.alpha_ri) {
                        let syns = candidates[rng.gen_range(0..candidates.len())];
                        let pick = syns[rng.gen_range(0..syns.len())];
                        let at = rng.gen_range(0..=words.len());
                        words.insert(at, pick.to_owned());
                    }
                }
            }
            2 => {
                if words.len() > 1 {
                    for _ in 0..count(self.config.alpha_rs) {
                        let a = rng.gen_range(0..words.len());
                        // A second, different position.
                        let b = (a + rng.gen_range(1..words.len())) % words.len();
                        words.swap(a, b);
                    }
                }
            }
            _ => {
                let keep = rng.gen_range(0..words.len());
                let before = words.len();
                let mut i = 0;
                words.retain(|_| {
                    let kept = i == keep || !rng.gen_bool(self.config.p_rd.clamp(0.0, 1.0));
                    i += 1;
                    kept
                });
                if words.len() == before && before > 1 {
                    // Nothing drawn for deletion: delete one word other than `keep`.
                    let drop = (keep + rng.gen_range(1..before)) % before;
                    words.remove(drop);
                }
            }
        }
        words.join(" ")
    }
}

impl Augmenter for EdaAugmenter {
    fn name(&self) -> &str {
        "eda"
    }

    fn augment(
        &mut self,
        train: &[Sample],
        _avoid: &[Sample],
        added_per_label: &BTreeMap<TechniqueId, usize>,
        seed: u64,
    ) -> Result<Vec<Sample>, EvalError> {
        const TRIES: usize = 16;
        let c = self.config;
        if [c.alpha_sr, c.alpha_ri, c.alpha_rs, c.p_rd]
            .iter()
            .any(|v| !(0.0..=1.0).contains(v))
        {
            return Err(EvalError::Config(format!(
                "EDA strengths must lie in [0, 1], got {c:?}"
            )));
        }
        let mut out = Vec::new();
        for (mut rng, sources) in pick_sources(self.name(), train, added_per_label, seed)? {
            for source in sources {
                let original = normalize_text(&source.text);
                let mut text = String::new();
                // Retry until the operation changed the sentence (it may not: no synonym,
                // a one-word text, nothing deleted).
                for _ in 0..TRIES {
                    let op = rng.gen_range(0..4);
                    text = self.perturb(&source.text, op, &mut rng);
                    if normalize_text(&text) != original && !text.is_empty() {
                        break;
                    }
                }
                out.push(Sample {
                    id: source.id,
                    text,
                    label: source.label.clone(),
                    group: source.group.clone(),
                    origin: Origin::Synthetic,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_and_case_survive_replacement() {
        assert_eq!(split_punct("(Uses,"), ("(", "Uses", ","));
        assert_eq!(split_punct("..."), ("...", "", ""));
        assert_eq!(replace_core("(Uses,", "employs"), "(Employs,");
        assert_eq!(token_synonyms("Malware.").map(|s| s.len()), Some(2));
        assert!(token_synonyms("cmd.exe").is_none());
    }

    #[test]
    fn every_operation_changes_a_long_sentence() {
        let eda = EdaAugmenter::default();
        let text = "The attackers use malware to collect information from victims via email";
        for op in 0..4 {
            let mut changed = false;
            for seed in 0..20 {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
                changed |= eda.perturb(text, op, &mut rng) != text;
            }
            assert!(changed, "operation {op} never changed the text");
        }
    }

    #[test]
    fn reweight_matches_the_target_in_expectation() {
        let counts: BTreeMap<TechniqueId, usize> = [("a".into(), 4), ("b".into(), 20)].into();
        let want: BTreeMap<TechniqueId, usize> =
            [("a".into(), 12), ("b".into(), 0), ("z".into(), 5)].into();
        let w = ClassReweight.loss_weights(&counts, &want).unwrap();
        assert_eq!(
            w["a"], 4.0,
            "4 rows weighing 4 count as the 16 of the target"
        );
        assert_eq!(w["b"], 1.0);
        assert!(!w.contains_key("z"), "no training row to weigh");
        assert!(
            ClassReweight
                .augment(&[], &[], &want, 0)
                .unwrap()
                .is_empty()
        );
        assert!(RandomOversampler.loss_weights(&counts, &want).is_none());
    }

    #[test]
    fn missing_label_is_an_error() {
        let wanted: BTreeMap<TechniqueId, usize> = [("T1".into(), 2)].into();
        assert!(RandomOversampler.augment(&[], &[], &wanted, 0).is_err());
        let mut bad = EdaAugmenter {
            config: EdaConfig {
                p_rd: f64::NAN,
                ..EdaConfig::default()
            },
        };
        assert!(matches!(
            bad.augment(&[], &[], &wanted, 0),
            Err(EvalError::Config(_))
        ));
    }
}
