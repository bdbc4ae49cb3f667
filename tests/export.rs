//! Integration tests of the fine-tuning export.

use std::collections::{BTreeMap, HashMap, HashSet};

use proptest::prelude::*;
use synthcti::data::{Origin, Sample};
use synthcti::export::{ExportConfig, ExportFormat, Split, assign_splits, export_dataset};
use synthcti::technique::TechniqueId;

fn row(id: usize, text: String, label: &str, group: Option<String>, origin: Origin) -> Sample {
    Sample {
        id,
        text,
        label: label.into(),
        group,
        origin,
    }
}

/// 40 reports of 5 original rows, plus synthetic rows: half without a group, half
/// carrying the group of the report they were derived from.
fn dataset() -> Vec<Sample> {
    let mut rows = Vec::new();
    for r in 0..40 {
        for j in 0..5 {
            let label = ["T1003.001", "T1059", "T1105"][(r + j) % 3];
            rows.push(row(
                rows.len(),
                format!("report {r} sentence {j}"),
                label,
                Some(format!("r{r}")),
                Origin::Original,
            ));
        }
    }
    for k in 0..30 {
        let group = (k % 2 == 0).then(|| format!("r{}", k % 40));
        rows.push(row(
            rows.len(),
            format!("synthetic {k}"),
            "T1105",
            group,
            Origin::Synthetic,
        ));
    }
    rows
}

fn names() -> BTreeMap<TechniqueId, String> {
    [
        ("T1003.001", "OS Credential Dumping: LSASS Memory"),
        ("T1059", "Command and Scripting Interpreter"),
        ("T1105", "Ingress Tool Transfer"),
    ]
    .into_iter()
    .map(|(a, b)| (a.into(), b.to_owned()))
    .collect()
}

fn read_jsonl(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn chat_export_keeps_synthetic_rows_in_train() {
    let rows = dataset();
    let dir = tempfile::tempdir().unwrap();
    let summary = export_dataset(&rows, &names(), &ExportConfig::default(), dir.path()).unwrap();
    assert_eq!(summary.files.len(), 3);
    assert_eq!(summary.added_rows[&Split::Validation], 0);
    assert_eq!(summary.added_rows[&Split::Test], 0);
    assert!(summary.unnamed_labels.is_empty());
    // 40 reports at 80/10/10: 32/4/4 reports of 5 rows.
    assert_eq!(summary.rows[&Split::Validation], 20);
    assert_eq!(summary.rows[&Split::Test], 20);
    let total: usize = summary.rows.values().sum();
    assert_eq!(total + summary.dropped_added_rows, rows.len());
    assert!(
        summary.dropped_added_rows > 0,
        "variants of held-out reports are dropped"
    );

    let synthetic: HashSet<&str> = rows
        .iter()
        .filter(|s| s.origin == Origin::Synthetic)
        .map(|s| s.text.as_str())
        .collect();
    for split in ["validation", "test"] {
        for line in read_jsonl(&dir.path().join(format!("{split}.jsonl"))) {
            let user = line["messages"][1]["content"].as_str().unwrap();
            assert!(!synthetic.contains(user), "synthetic row in {split}");
        }
    }
    let train = read_jsonl(&dir.path().join("train.jsonl"));
    assert_eq!(train.len(), summary.rows[&Split::Train]);
    let first = &train[0]["messages"];
    assert_eq!(first[0]["role"], "system");
    assert_eq!(first[1]["role"], "user");
    assert_eq!(first[2]["role"], "assistant");
    let lsass = train
        .iter()
        .find(|l| {
            l["messages"][2]["content"]
                .as_str()
                .unwrap()
                .starts_with("T1003.001")
        })
        .unwrap();
    assert_eq!(
        lsass["messages"][2]["content"],
        "T1003.001 OS Credential Dumping: LSASS Memory"
    );
}

#[test]
fn flat_formats_have_the_five_columns() {
    let rows = dataset();
    let dir = tempfile::tempdir().unwrap();
    let config = ExportConfig {
        format: ExportFormat::Jsonl,
        seed: 3,
        ..ExportConfig::default()
    };
    export_dataset(&rows, &names(), &config, dir.path()).unwrap();
    let lines = read_jsonl(&dir.path().join("dataset.jsonl"));
    for line in &lines {
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5);
        for k in ["text", "label", "split", "origin", "group"] {
            assert!(line.get(k).is_some(), "{k}");
        }
        if line["origin"] != "original" {
            assert_eq!(line["split"], "train");
        }
    }
    let config = ExportConfig {
        format: ExportFormat::Csv,
        ..config
    };
    export_dataset(&rows, &names(), &config, dir.path()).unwrap();
    let mut reader = csv::Reader::from_path(dir.path().join("dataset.csv")).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["text", "label", "split", "origin", "group"]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), lines.len());
    for (rec, line) in records.iter().zip(&lines) {
        assert_eq!(rec[0], *line["text"].as_str().unwrap());
        assert_eq!(rec[2], *line["split"].as_str().unwrap());
    }
}

#[test]
fn too_few_groups_is_an_error_not_a_panic() {
    let rows = vec![row(0, "a".into(), "T1", Some("g".into()), Origin::Original)];
    let dir = tempfile::tempdir().unwrap();
    assert!(export_dataset(&rows, &names(), &ExportConfig::default(), dir.path()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Synthetic rows never land in validation/test; no group spans two splits.
    #[test]
    fn export_split_is_group_safe(
        originals in prop::collection::vec((0usize..20, 0usize..4), 30..120),
        added in prop::collection::vec(prop::option::of(0usize..25), 0..40),
        seed in any::<u64>(),
    ) {
        let mut rows: Vec<Sample> = originals
            .iter()
            .enumerate()
            .map(|(i, (g, l))| row(i, format!("o{i}"), &format!("L{l}"), Some(format!("g{g}")), Origin::Original))
            .collect();
        rows.extend(added.iter().enumerate().map(|(i, g)| {
            let origin = if i % 3 == 0 { Origin::AttackProcedure } else { Origin::Synthetic };
            row(1000 + i, format!("s{i}"), "L0", g.map(|g| format!("g{g}")), origin)
        }));
        let config = ExportConfig { seed, ..ExportConfig::default() };
        let n_groups = originals.iter().map(|(g, _)| g).collect::<HashSet<_>>().len();
        let result = assign_splits(&rows, &config);
        if n_groups < 3 {
            prop_assert!(result.is_err());
            return Ok(());
        }
        let (splits, dropped) = result.unwrap();
        let mut split_of_group: HashMap<&str, Split> = HashMap::new();
        let mut dropped_seen = 0;
        for (s, split) in rows.iter().zip(&splits) {
            match split {
                None => {
                    prop_assert!(s.origin != Origin::Original);
                    dropped_seen += 1;
                }
                Some(split) => {
                    if s.origin != Origin::Original {
                        prop_assert_eq!(*split, Split::Train);
                    }
                    if let Some(g) = s.group.as_deref() {
                        let first = *split_of_group.entry(g).or_insert(*split);
                        prop_assert_eq!(first, *split, "group {} split", g);
                    }
                }
            }
        }
        prop_assert_eq!(dropped, dropped_seen);
        for split in [Split::Validation, Split::Test] {
            prop_assert!(splits.contains(&Some(split)), "{:?} is empty", split);
        }
    }
}

/// `--to instruct`: every row gives its tasks in its own split; synthetic sentences appear
/// only in train (as `generate` answers and as inputs); `extract` sees no real indicator.
#[test]
fn instruct_export_mixes_tasks_within_the_group_split() {
    use synthcti::export::Task;
    let mut rows = dataset();
    for (i, r) in rows.iter_mut().enumerate().filter(|(i, _)| i % 7 == 0) {
        r.text = format!("{} beaconing to 45.77.12.{} over HTTPS", r.text, i % 250);
    }
    let dir = tempfile::tempdir().unwrap();
    let config = ExportConfig {
        format: ExportFormat::Instruct,
        ..Default::default()
    };
    let summary = export_dataset(&rows, &names(), &config, dir.path()).unwrap();
    let synthetic: HashSet<&str> = rows
        .iter()
        .filter(|s| s.origin == Origin::Synthetic)
        .map(|s| s.text.as_str())
        .collect();
    for split in Split::ALL {
        let lines = read_jsonl(&dir.path().join(format!("{}.jsonl", split.as_str())));
        let mut per_task: HashMap<String, usize> = HashMap::new();
        for line in &lines {
            *per_task
                .entry(line["task"].as_str().unwrap().to_string())
                .or_default() += 1;
            let text = line.to_string();
            if split != Split::Train {
                assert!(!synthetic.iter().any(|s| text.contains(s)), "{text}");
            }
            if line["task"] == "extract" {
                assert!(!text.contains("45.77.12."), "{text}");
            }
        }
        let rows_in_split = summary.rows[&split];
        for task in ["classify", "explain", "generate"] {
            assert_eq!(per_task[task], rows_in_split, "{split:?} {task}");
        }
        assert!(per_task["extract"] > 0, "{split:?}");
        let counted: usize = summary.tasks[&split].values().sum();
        assert_eq!(counted, lines.len());
    }
    // Only the tasks asked for.
    let config = ExportConfig {
        tasks: vec![Task::Generate],
        ..config
    };
    let summary = export_dataset(&rows, &names(), &config, dir.path()).unwrap();
    let tasks: HashSet<Task> = summary
        .tasks
        .values()
        .flat_map(|m| m.keys().copied())
        .collect();
    assert_eq!(tasks, HashSet::from([Task::Generate]));
}
