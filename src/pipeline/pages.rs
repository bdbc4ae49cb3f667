//! `report.html` of an `augment` run: the report, the new and rejected rows, and a map —
//! a PCA of the embeddings of the selected techniques' rows, their cluster centroids, the
//! accepted procedure and LLM rows, the rejected candidates, and the rows of each selected
//! technique's nearest other techniques (muted), so a reader sees where the new rows landed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ndarray::{Array1, Array2, ArrayView1, Axis};

use super::{PipelineError, Prepared};
use crate::data::{Origin, Sample};
use crate::embed::{EmbedService, ModelSource};
use crate::generate::RejectedRow;
use crate::html::{MapPoint, PointKind, RowView, RunMap, project_2d, render_run};
use crate::output::{NewRow, new_row_value, write_file};
use crate::report::RunReport;
use crate::technique::TechniqueId;

/// Nearest other techniques drawn on each selected technique's map.
const NEIGHBOURS: usize = 2;
/// Rejected candidates embedded for the map at most (an even sample in rejection order);
/// the rows table lists them all (the page samples beyond its own limit).
const MAX_REJECTED_ON_MAP: usize = 2_000;
/// Original rows projected at most (an even sample, the selected techniques' rows first), so
/// the page's memory and time stay bounded on inputs far beyond TRAM.
const MAX_ORIGINALS_ON_MAP: usize = 4_000;

/// What a run hands to its page.
pub(super) struct RunView<'a> {
    pub report: &'a RunReport,
    pub samples: &'a [Sample],
    pub prepared: &'a Prepared,
    pub rows: &'a [NewRow],
    pub rejected: &'a [RejectedRow],
}

/// Writes `dir/report.html` for `run`; embeds the new rows and rejected candidates (through
/// the embedding cache) to place them on the map. The caller treats an error as a warning:
/// the page never fails a run whose rows and report are written.
pub(super) async fn write_run_page(
    run: &RunView<'_>,
    embed: &EmbedService,
    model: &ModelSource,
    dir: &Path,
) -> Result<(), PipelineError> {
    let model = match model {
        ModelSource::LocalDir(p) => p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        ModelSource::Named(n) => n.clone(),
        ModelSource::Remote(r) => r.model.clone(),
    };
    let map = run_map(run, embed, &model).await?;
    let mut views: Vec<RowView> = run
        .rows
        .iter()
        .map(|r| RowView::from_row(&new_row_value(r)))
        .collect();
    for r in run.rejected {
        views.push(RowView::from_rejected(
            &serde_json::to_value(r).unwrap_or_default(),
        ));
    }
    let report = serde_json::to_value(run.report).unwrap_or_default();
    let page = render_run(&report, &map, &views);
    write_file(&dir.join("report.html"), page.as_bytes())?;
    Ok(())
}

/// The map's points, projected together so every map of the page shares one plane.
async fn run_map(
    run: &RunView<'_>,
    embed: &EmbedService,
    model: &str,
) -> Result<RunMap, PipelineError> {
    let prep = run.prepared;
    let selected: Vec<TechniqueId> = prep.clusters.iter().map(|c| c.technique.clone()).collect();
    let neighbours = nearest_techniques(&selected, &prep.centroids);
    let shown: BTreeSet<&TechniqueId> = selected
        .iter()
        .chain(neighbours.values().flatten())
        .collect();
    let mut points = Vec::new();
    let mut vectors: Vec<ArrayView1<'_, f32>> = Vec::new();
    let own = |s: &Sample| selected.contains(&s.label);
    let originals: Vec<usize> = (0..run.samples.len())
        .filter(|&i| own(&run.samples[i]))
        .chain((0..run.samples.len()).filter(|&i| {
            let s = &run.samples[i];
            !own(s) && shown.contains(&s.label)
        }))
        .collect();
    let kept = sample(&originals, MAX_ORIGINALS_ON_MAP);
    for &i in &kept {
        let s = &run.samples[i];
        points.push(point(PointKind::Original, &s.label, &s.text, String::new()));
        vectors.push(prep.embeddings.row(i));
    }
    for tc in &prep.clusters {
        for c in &tc.clusters {
            let detail = format!("cluster {} · {} rows", c.index, c.members.len());
            let text = c
                .central
                .first()
                .map_or("", |&i| run.samples[i].text.as_str());
            points.push(point(PointKind::Centroid, &tc.technique, text, detail));
            vectors.push(c.centroid.view());
        }
    }
    // Blank candidates (e.g. an empty line of an answer) have no place on a map.
    let with_text: Vec<&RejectedRow> = run
        .rejected
        .iter()
        .filter(|r| !r.text.trim().is_empty())
        .collect();
    let rejected = sample(&with_text, MAX_REJECTED_ON_MAP);
    let mut texts: Vec<String> = run.rows.iter().map(|r| r.sample.text.clone()).collect();
    texts.extend(rejected.iter().map(|r| r.text.clone()));
    let added: Array2<f32> = embed.embed(texts).await?;
    for r in run.rows {
        let kind = match r.sample.origin {
            Origin::AttackProcedure => PointKind::Procedure,
            _ => PointKind::Synthetic,
        };
        let detail = crate::html::RowView::from_row(&new_row_value(r)).provenance;
        points.push(point(kind, &r.sample.label, &r.sample.text, detail));
    }
    for r in &rejected {
        let reason = r.reason.to_string();
        let kind = PointKind::Rejected(reason.clone());
        points.push(point(
            kind,
            &r.label,
            &r.text,
            format!("rejected: {reason}"),
        ));
    }
    vectors.extend(added.axis_iter(Axis(0)));
    let xy = project(&vectors);
    for (p, row) in points.iter_mut().zip(xy.axis_iter(Axis(0))) {
        (p.x, p.y) = (row[0], row[1]);
    }
    Ok(RunMap {
        points,
        selected: selected.iter().map(ToString::to_string).collect(),
        neighbours: neighbours
            .into_iter()
            .map(|(t, n)| (t.to_string(), n.iter().map(ToString::to_string).collect()))
            .collect(),
        projection: format!(
            "PCA (2 components) of {model} embeddings; original rows: {} of {} shown, rejected \
             candidates: {} of {}",
            kept.len(),
            originals.len(),
            rejected.len(),
            run.rejected.len()
        ),
    })
}

/// At most `max` of `items`, evenly spaced, in order.
fn sample<T: Clone>(items: &[T], max: usize) -> Vec<T> {
    if items.len() <= max {
        return items.to_vec();
    }
    (0..max)
        .map(|k| items[k * items.len() / max].clone())
        .collect()
}

fn point(kind: PointKind, technique: &TechniqueId, text: &str, detail: String) -> MapPoint {
    MapPoint {
        x: 0.0,
        y: 0.0,
        kind,
        technique: technique.to_string(),
        text: text.to_string(),
        detail,
    }
}

/// The 2-D projection of `vectors` (no rows: an empty projection).
fn project(vectors: &[ArrayView1<'_, f32>]) -> Array2<f32> {
    if vectors.is_empty() {
        return Array2::zeros((0, 2));
    }
    let stacked = ndarray::stack(Axis(0), vectors).unwrap_or_else(|_| Array2::zeros((0, 2)));
    project_2d(stacked.view())
}

/// For each selected technique, the [`NEIGHBOURS`] other techniques whose centroids are
/// nearest (cosine; ties by id).
fn nearest_techniques(
    selected: &[TechniqueId],
    centroids: &[(TechniqueId, Array1<f32>)],
) -> BTreeMap<TechniqueId, Vec<TechniqueId>> {
    let mut out = BTreeMap::new();
    for t in selected {
        let Some((_, c)) = centroids.iter().find(|(id, _)| id == t) else {
            continue;
        };
        let mut others: Vec<(f32, &TechniqueId)> = centroids
            .iter()
            .filter(|(id, _)| id != t)
            .map(|(id, o)| (c.dot(o), id))
            .collect();
        others.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        let near = others.iter().take(NEIGHBOURS).map(|(_, id)| (*id).clone());
        out.insert(t.clone(), near.collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_are_the_nearest_other_centroids() {
        let id = |s: &str| TechniqueId::parse(s).unwrap();
        let v = |x: f32, y: f32| ndarray::array![x, y];
        let centroids = vec![
            (id("T1003"), v(1.0, 0.0)),
            (id("T1059"), v(0.9, 0.1)),
            (id("T1072"), v(0.0, 1.0)),
            (id("T1105"), v(0.7, 0.7)),
        ];
        let n = nearest_techniques(&[id("T1003")], &centroids);
        assert_eq!(n[&id("T1003")], vec![id("T1059"), id("T1105")]);
        assert!(nearest_techniques(&[id("T9999")], &centroids).is_empty());
    }

    #[test]
    fn samples_are_even_and_bounded() {
        let items: Vec<usize> = (0..10).collect();
        assert_eq!(sample(&items, 20), items);
        assert_eq!(sample(&items, 5), vec![0, 2, 4, 6, 8]);
        assert!(sample(&items, 0).is_empty());
    }
}
