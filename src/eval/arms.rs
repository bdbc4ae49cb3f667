//! Augmentation arms backed by the synthcti pipeline: real ATT&CK procedure examples, LLM
//! sentences, or both, through the same filters as `synthcti augment`, with the test fold as
//! the `--avoid` set so no test sentence (exact or near) leaks into training.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::EvalError;
use super::baselines::Augmenter;
use crate::config::{Source, ValidConfig};
use crate::data::Sample;
use crate::embed::EmbedService;
use crate::outcome::Rejection;
use crate::pipeline::{AugmentOptions, Augmented, augment_samples};
use crate::report::OnLabel;
use crate::technique::TechniqueId;

/// An arm that runs the augmentation pipeline on each training fold.
pub struct PipelineArm {
    name: String,
    cfg: ValidConfig,
    journal_root: PathBuf,
    embed: EmbedService,
    runtime: tokio::runtime::Handle,
    rejected: BTreeMap<Rejection, usize>,
    llm_requests: u64,
    on_label: OnLabel,
}

impl PipelineArm {
    /// An arm named `name` using `source`; journals (and so answers, on a rerun) are kept
    /// under `journal_root/name/`. Must be created inside a tokio runtime, and
    /// [`Augmenter::augment`] called outside it (e.g. from `spawn_blocking`).
    pub fn new(
        name: &str,
        source: Source,
        cfg: &ValidConfig,
        journal_root: PathBuf,
        embed: EmbedService,
    ) -> Result<Self, EvalError> {
        let mut cfg = cfg.clone().into_inner();
        cfg.generate.source = source;
        cfg.embed.progress = false;
        let cfg = cfg
            .validate()
            .map_err(|e| EvalError::Config(format!("the {name} arm: {e}")))?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| EvalError::Config(format!("the {name} arm needs a tokio runtime: {e}")))?;
        Ok(Self {
            name: name.to_string(),
            cfg,
            journal_root: journal_root.join(name),
            embed,
            runtime,
            rejected: BTreeMap::new(),
            llm_requests: 0,
            on_label: OnLabel::default(),
        })
    }

    /// Rejected candidates by reason, summed over every fold so far (`exact-duplicate-avoid`
    /// and `near-duplicate-avoid` count the test sentences that the avoid filter caught).
    pub fn rejected(&self) -> &BTreeMap<Rejection, usize> {
        &self.rejected
    }

    /// On-label counts of the rows the arm produced (each fold's classifier is trained on
    /// that fold's training part), summed over every fold so far.
    pub fn on_label(&self) -> &OnLabel {
        &self.on_label
    }

    /// The arm's configuration.
    pub fn config(&self) -> &ValidConfig {
        &self.cfg
    }

    /// The arm's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// LLM requests answered by the endpoint over every fold so far.
    pub fn llm_requests(&self) -> u64 {
        self.llm_requests
    }
}

/// Per label, rows in round-robin order over clusters, so a prefix is spread over every
/// cluster (an equal-budget comparison takes prefixes).
fn interleave_clusters(rows: Vec<(usize, Sample)>) -> Vec<Sample> {
    let mut by_label: BTreeMap<TechniqueId, BTreeMap<usize, Vec<Sample>>> = BTreeMap::new();
    for (cluster, s) in rows {
        by_label
            .entry(s.label.clone())
            .or_default()
            .entry(cluster)
            .or_default()
            .push(s);
    }
    let mut out = Vec::new();
    for clusters in by_label.into_values() {
        let mut queues: Vec<std::vec::IntoIter<Sample>> =
            clusters.into_values().map(Vec::into_iter).collect();
        loop {
            let before = out.len();
            for q in &mut queues {
                out.extend(q.next());
            }
            if out.len() == before {
                break;
            }
        }
    }
    out
}

impl Augmenter for PipelineArm {
    fn name(&self) -> &str {
        &self.name
    }

    fn augment(
        &mut self,
        train: &[Sample],
        avoid: &[Sample],
        added_per_label: &BTreeMap<TechniqueId, usize>,
        seed: u64,
    ) -> Result<Vec<Sample>, EvalError> {
        let samples: Vec<Sample> = train
            .iter()
            .enumerate()
            .map(|(i, s)| Sample { id: i, ..s.clone() })
            .collect();
        // One journal per training part: a rerun of the same sweep replays its answers.
        let mut h = Sha256::new();
        h.update(seed.to_le_bytes());
        for s in &samples {
            h.update(s.text.as_bytes());
            h.update([0]);
        }
        let key = hex::encode(h.finalize())[..16].to_string();
        let cfg = self.cfg.clone().with_seed(seed);
        let opts = AugmentOptions {
            output_dir: self.journal_root.join(&key),
            resume: true,
            avoid: avoid.iter().map(|s| s.text.clone()).collect(),
            targets: Some(added_per_label.clone()),
            ..Default::default()
        };
        std::fs::create_dir_all(&opts.output_dir).map_err(|source| EvalError::Io {
            path: opts.output_dir.clone(),
            source,
        })?;
        let input = PathBuf::from(format!("<training part {key}>"));
        let run = augment_samples(&samples, Path::new(&input), &cfg, &opts, &self.embed);
        let Augmented { rows, report, .. } =
            self.runtime
                .block_on(run)
                .map_err(|e| EvalError::Pipeline {
                    arm: self.name.clone(),
                    source: Box::new(e),
                })?;
        for (reason, n) in report.rejected {
            *self.rejected.entry(reason).or_default() += n;
        }
        self.llm_requests += report.llm.map_or(0, |l| l.requests);
        self.on_label.add(&report.on_label);
        Ok(interleave_clusters(
            rows.into_iter()
                .map(|r| (r.provenance.cluster, r.sample))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Origin;

    #[test]
    fn interleaving_spreads_prefixes_over_clusters() {
        let s = |label: &str, t: &str| Sample {
            id: 0,
            text: t.into(),
            label: label.into(),
            group: None,
            origin: Origin::Synthetic,
        };
        let out = interleave_clusters(vec![
            (0, s("T1", "a0")),
            (0, s("T1", "a1")),
            (0, s("T1", "a2")),
            (1, s("T1", "b0")),
            (0, s("T2", "c0")),
        ]);
        let texts: Vec<&str> = out.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, vec!["a0", "b0", "a1", "a2", "c0"]);
    }
}
