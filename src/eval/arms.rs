//! Augmentation arms backed by the synthcti pipeline: real ATT&CK procedure examples, LLM
//! sentences, or both, through the same filters as `synthcti augment`, with the test fold as
//! the `--avoid` set so no test sentence (exact or near) leaks into training.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::EvalError;
use super::baselines::{Augmenter, ClassReweight, EdaAugmenter, RandomOversampler};
use super::sweep::{SweepConfig, SweepResults, run_sweep};
use crate::config::{Source, ValidConfig};
use crate::data::Sample;
use crate::embed::{EmbedService, Embedder};
use crate::generate::LlmRun;
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
            run: LlmRun {
                dir: self.journal_root.join(&key),
                resume: true,
                ..LlmRun::default()
            },
            avoid: avoid.iter().map(|s| s.text.clone()).collect(),
            targets: Some(added_per_label.clone()),
            ..Default::default()
        };
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

/// An augmentation arm of `synthcti eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArmKind {
    /// Random oversampling (duplicates of training rows).
    Oversample,
    /// EDA perturbations (synonym swap, insertion, swap, deletion).
    Eda,
    /// Real ATT&CK procedure examples through the synthcti filters.
    Procedures,
    /// LLM sentences only (synthcti).
    Llm,
    /// Procedure examples first, LLM sentences for the rest (synthcti default).
    Both,
    /// LLM rewrites of ATT&CK procedure examples (synthcti `source = "rewrite"`).
    Rewrite,
    /// Procedure examples first, then LLM rewrites of them (`source = "both-rewrite"`).
    BothRewrite,
    /// Class-balanced loss weights on the original rows (no rows added).
    Reweight,
}

impl ArmKind {
    /// The arm's name in tables and plots.
    pub fn name(self) -> &'static str {
        match self {
            Self::Oversample => "oversample",
            Self::Eda => "eda",
            Self::Procedures => "procedures",
            Self::Llm => "synthcti-llm",
            Self::Both => "synthcti-both",
            Self::Rewrite => "synthcti-rewrite",
            Self::BothRewrite => "synthcti-both-rewrite",
            Self::Reweight => "reweight",
        }
    }
}

/// The arms of one `eval` run: the baselines and the pipeline arms, in command-line order
/// within each kind.
pub struct EvalArms {
    /// Oversampling, EDA, reweighting.
    pub baselines: Vec<Box<dyn Augmenter>>,
    /// The synthcti arms (built-in sources, then the named configurations).
    pub pipeline: Vec<PipelineArm>,
}

impl EvalArms {
    /// The built-in arms `kinds` under `cfg`, then the `named` configurations
    /// (`--arm-config NAME=FILE`), their journals under `journals`, all embedding with `embed`.
    /// A named arm may not take the name of another arm.
    pub fn new(
        kinds: &[ArmKind],
        named: Vec<(String, ValidConfig)>,
        cfg: &ValidConfig,
        journals: &Path,
        embed: &EmbedService,
    ) -> Result<Self, EvalError> {
        let mut arms = Self {
            baselines: Vec::new(),
            pipeline: Vec::new(),
        };
        for &kind in kinds {
            let source = match kind {
                ArmKind::Oversample => {
                    arms.baselines.push(Box::new(RandomOversampler));
                    continue;
                }
                ArmKind::Eda => {
                    arms.baselines.push(Box::new(EdaAugmenter::default()));
                    continue;
                }
                ArmKind::Reweight => {
                    arms.baselines.push(Box::new(ClassReweight));
                    continue;
                }
                ArmKind::Procedures => Source::Procedures,
                ArmKind::Llm => Source::Llm,
                ArmKind::Both => Source::Both,
                ArmKind::Rewrite => Source::Rewrite,
                ArmKind::BothRewrite => Source::BothRewrite,
            };
            let arm = PipelineArm::new(kind.name(), source, cfg, journals.into(), embed.clone())?;
            arms.pipeline.push(arm);
        }
        for (name, c) in named {
            let taken = kinds.iter().any(|k| k.name() == name)
                || arms.pipeline.iter().any(|p| p.name() == name);
            if taken {
                return Err(EvalError::Config(format!(
                    "--arm-config {name}: an arm of that name already runs"
                )));
            }
            let source = c.generate.source;
            let arm = PipelineArm::new(&name, source, &c, journals.into(), embed.clone())?;
            arms.pipeline.push(arm);
        }
        Ok(arms)
    }

    /// Runs the sweep over every arm (blocking: call it off the async runtime).
    pub fn sweep(
        &mut self,
        samples: &[Sample],
        cfg: &SweepConfig,
        mut embedder: EmbedService,
    ) -> Result<SweepResults, EvalError> {
        let mut arms: Vec<&mut dyn Augmenter> = self
            .baselines
            .iter_mut()
            .map(|b| b.as_mut() as &mut dyn Augmenter)
            .collect();
        arms.extend(self.pipeline.iter_mut().map(|p| p as &mut dyn Augmenter));
        let embedder: &mut dyn Embedder = &mut embedder;
        run_sweep(samples, &mut arms, cfg, Some(embedder))
    }
}

/// The synthcti arms' on-label rates, filter rejections and configurations.
pub fn arms_markdown(arms: &[PipelineArm], files: &[(String, PathBuf)]) -> String {
    let mut md = String::from("\n## synthcti arms: on-label rate over all folds and ratios\n\n");
    md.push_str("Rows whose technique a TF-IDF (char 2–5) + linear SVM trained on the fold's training part ranks first.\n\n| arm | LLM requests | LLM rows | procedure rows |\n|---|---:|---:|---:|\n");
    for arm in arms {
        let o = arm.on_label();
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            arm.name(),
            arm.llm_requests(),
            OnLabel::rate(o.synthetic_on_label, o.synthetic),
            OnLabel::rate(o.procedures_on_label, o.procedures),
        ));
    }
    md.push_str("\n## synthcti arms: filter rejections over all folds and ratios\n\n");
    md.push_str("The avoid set of every fold is its test part: `*-avoid` rows are test sentences (exact, contained or near copies) that the filter kept out of training before the leak screen.\n\n| arm | reason | rows |\n|---|---|---:|\n");
    for arm in arms {
        for (reason, n) in arm.rejected() {
            md.push_str(&format!("| {} | {reason} | {n} |\n", arm.name()));
        }
    }
    md.push_str("\n## synthcti arms: configurations\n");
    for arm in arms {
        let file = files.iter().find(|(n, _)| n == arm.name());
        let from = file.map_or("--config and flags".to_string(), |(_, p)| {
            p.display().to_string()
        });
        md.push_str(&format!(
            "\n### {} ({from})\n\n```toml\n{}```\n",
            arm.name(),
            arm.config().to_toml()
        ));
    }
    md
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
