//! Per-technique clustering of sentence embeddings (KMeans from linfa-clustering).
//!
//! For each technique: k is chosen by the best silhouette over `2..=k_max` (capped so every
//! cluster can hold `min_cluster_size` members); very small classes form one cluster. Each
//! cluster yields its centroid, members, the sentences nearest the centroid and a few diverse
//! members (far from the centroid, but not outliers): the context of a prompt.

use crate::catalog::Catalog;
use crate::data::Sample;
use crate::setting::{SettingError, check_range};
use crate::technique::TechniqueId;
use linfa::prelude::*;
use linfa_clustering::KMeans;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;
use serde::{Deserialize, Serialize};

/// Largest `k_max`: each k tried costs a KMeans fit and an O(n · k · d) silhouette.
pub const MAX_K: usize = 64;

/// Clustering knobs. Validate with [`ClusterParams::check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterParams {
    /// Largest k tried.
    pub k_max: usize,
    /// Smallest average cluster size: k ≤ n / min_cluster_size. Classes smaller than
    /// 2 × this form one cluster.
    pub min_cluster_size: usize,
    /// Sentences nearest the centroid kept per cluster.
    pub central: usize,
    /// Diverse members kept per cluster.
    pub diverse: usize,
}

impl Default for ClusterParams {
    fn default() -> Self {
        Self {
            k_max: 6,
            min_cluster_size: 5,
            central: 3,
            diverse: 2,
        }
    }
}

/// Invalid clustering parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClusterError {
    /// A parameter is out of range.
    #[error("invalid clustering parameter: {0}")]
    Param(SettingError),
    /// linfa failed.
    #[error("KMeans failed for {technique}: {message}")]
    KMeans {
        /// The technique.
        technique: TechniqueId,
        /// linfa's message.
        message: String,
    },
}

impl From<SettingError> for ClusterError {
    fn from(e: SettingError) -> Self {
        ClusterError::Param(e)
    }
}

impl ClusterParams {
    /// Checks the parameters once, like linfa's `ParamGuard`.
    pub fn check(&self) -> Result<&Self, SettingError> {
        check_range("cluster.k_max", self.k_max, 1..=MAX_K)?;
        check_range(
            "cluster.min_cluster_size",
            self.min_cluster_size,
            1..=1_000_000,
        )?;
        check_range("cluster.central", self.central, 1..=100)?;
        check_range("cluster.diverse", self.diverse, 0..=100)?;
        Ok(self)
    }
}

/// One cluster of a technique's sentences. Member ids are sample ids of the dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    /// 0-based index within the technique.
    pub index: usize,
    /// L2-normalised centroid.
    #[serde(skip)]
    pub centroid: Array1<f32>,
    /// All member sample ids, nearest the centroid first.
    pub members: Vec<usize>,
    /// The `central` members nearest the centroid.
    pub central: Vec<usize>,
    /// A few diverse members: far from the centroid and from each other, outliers excluded.
    pub diverse: Vec<usize>,
    /// Cosine of each member (same order as `members`) to the centroid.
    pub member_cosines: Vec<f32>,
}

/// The clusters of one technique.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TechniqueClusters {
    /// Technique id.
    pub technique: TechniqueId,
    /// Number of sentences clustered.
    pub size: usize,
    /// Mean silhouette of the chosen k (`None` for a single cluster).
    pub silhouette: Option<f32>,
    /// The clusters, largest first.
    pub clusters: Vec<Cluster>,
    /// L2-normalised centroid of all the technique's sentences.
    #[serde(skip)]
    pub centroid: Array1<f32>,
}

/// Mean of rows, L2-normalised.
pub fn normalized_mean(rows: ArrayView2<f32>) -> Array1<f32> {
    let mean = rows
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(rows.ncols()));
    normalized(mean)
}

fn normalized(v: Array1<f32>) -> Array1<f32> {
    let n = v.dot(&v).sqrt();
    if n > 0.0 { v / n } else { v }
}

/// Cosine between two vectors (plain dot product when both are unit length).
pub fn cosine(a: ArrayView1<f32>, b: ArrayView1<f32>) -> f32 {
    let (na, nb) = (a.dot(&a).sqrt(), b.dot(&b).sqrt());
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        a.dot(&b) / (na * nb)
    }
}

/// Mean silhouette with cosine distance; rows L2-normalised, `labels[i]` in `0..k`.
///
/// With unit rows the mean distance from row `i` to cluster `c` is `1 − x_i · S_c / |c|`
/// (`S_c` the sum of `c`'s rows; leave `x_i` out of its own cluster), so this costs
/// O(n · k · d) time and O(n · k) memory instead of the pairwise O(n²) matrix.
pub fn silhouette(x: ArrayView2<f32>, labels: &[usize], k: usize) -> f32 {
    let n = x.nrows();
    if n < 2 || k < 2 {
        return 0.0;
    }
    let mut sums = Array2::<f32>::zeros((k, x.ncols()));
    let mut sizes = vec![0usize; k];
    for (row, &l) in x.outer_iter().zip(labels) {
        let mut s = sums.row_mut(l);
        s += &row;
        sizes[l] += 1;
    }
    let dots = x.dot(&sums.t());
    let mut total = 0.0;
    for (i, row) in x.outer_iter().enumerate() {
        let own = labels[i];
        if sizes[own] <= 1 {
            continue; // silhouette of a singleton is 0
        }
        let mean_dist = |c: usize| {
            let (count, dot) = if c == own {
                (sizes[c] - 1, dots[[i, c]] - row.dot(&row))
            } else {
                (sizes[c], dots[[i, c]])
            };
            1.0 - dot / count as f32
        };
        let a = mean_dist(own);
        let b = (0..k)
            .filter(|&c| c != own && sizes[c] > 0)
            .map(mean_dist)
            .fold(f32::INFINITY, f32::min);
        if b.is_finite() {
            total += (b - a) / a.max(b).max(f32::EPSILON);
        }
    }
    total / n as f32
}

fn kmeans(
    x: &Array2<f32>,
    k: usize,
    seed: u64,
    technique: &str,
) -> Result<Vec<usize>, ClusterError> {
    let data = DatasetBase::from(x.clone());
    let rng = Xoshiro256Plus::seed_from_u64(seed);
    let model = KMeans::params_with_rng(k, rng)
        .n_runs(4)
        .max_n_iterations(100)
        .tolerance(1e-4)
        .fit(&data)
        .map_err(|e| ClusterError::KMeans {
            technique: technique.into(),
            message: e.to_string(),
        })?;
    Ok(model.predict(x).to_vec())
}

/// Clusters one technique's sentences.
///
/// `ids[i]` is the sample id of row `i` of `embeddings` (L2-normalised rows); `seed` seeds
/// KMeans' initialisation (same seed, same clusters).
pub fn cluster_technique(
    technique: &str,
    ids: &[usize],
    embeddings: ArrayView2<f32>,
    params: &ClusterParams,
    seed: u64,
) -> Result<TechniqueClusters, ClusterError> {
    params.check()?;
    let n = ids.len();
    assert_eq!(n, embeddings.nrows(), "one embedding row per id");
    let x = embeddings.to_owned();
    let k_cap = params.k_max.min(n / params.min_cluster_size);
    let (labels, k, silhouette) = if n < 2 * params.min_cluster_size || k_cap < 2 {
        (vec![0; n], 1, None)
    } else {
        let mut best: Option<(Vec<usize>, usize, f32)> = None;
        for k in 2..=k_cap {
            let labels = kmeans(&x, k, seed, technique)?;
            let s = silhouette(x.view(), &labels, k);
            tracing::debug!(technique, k, silhouette = s, "kmeans");
            if best.as_ref().is_none_or(|b| s > b.2) {
                best = Some((labels, k, s));
            }
        }
        let (labels, k, s) = best.expect("k_cap >= 2 so one k was tried");
        (labels, k, Some(s))
    };
    let mut clusters: Vec<Cluster> = (0..k)
        .filter_map(|c| {
            let rows: Vec<usize> = (0..n).filter(|&i| labels[i] == c).collect();
            (!rows.is_empty()).then(|| build_cluster(&x, ids, &rows, params))
        })
        .collect();
    clusters.sort_by(|a, b| {
        b.members
            .len()
            .cmp(&a.members.len())
            .then(a.members.cmp(&b.members))
    });
    for (i, c) in clusters.iter_mut().enumerate() {
        c.index = i;
    }
    Ok(TechniqueClusters {
        technique: technique.into(),
        size: n,
        silhouette,
        clusters,
        centroid: normalized_mean(x.view()),
    })
}

fn build_cluster(
    x: &Array2<f32>,
    ids: &[usize],
    rows: &[usize],
    params: &ClusterParams,
) -> Cluster {
    let sub = x.select(Axis(0), rows);
    let centroid = normalized_mean(sub.view());
    let cos = sub.dot(&centroid);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| cos[b].total_cmp(&cos[a]).then(a.cmp(&b)));
    let central: Vec<usize> = order.iter().take(params.central).copied().collect();
    // Diverse: greedy farthest-point among the non-central members, excluding the farthest
    // 10% from the centroid (outliers), starting from the central set.
    let keep_n = ((order.len() as f32) * 0.9).ceil() as usize;
    let mut candidates: Vec<usize> = order[..keep_n.min(order.len())]
        .iter()
        .filter(|i| !central.contains(i))
        .copied()
        .collect();
    let mut chosen = central.clone();
    let mut diverse = Vec::new();
    while diverse.len() < params.diverse && !candidates.is_empty() {
        let score = |i: usize| {
            chosen
                .iter()
                .map(|&j| 1.0 - sub.row(i).dot(&sub.row(j)))
                .fold(f32::INFINITY, f32::min)
        };
        let (pos, _) = candidates
            .iter()
            .enumerate()
            .map(|(p, &i)| (p, score(i)))
            .fold((0, f32::NEG_INFINITY), |best, cur| {
                if cur.1 > best.1 { cur } else { best }
            });
        let i = candidates.remove(pos);
        chosen.push(i);
        diverse.push(i);
    }
    let id = |i: &usize| ids[rows[*i]];
    Cluster {
        index: 0,
        centroid,
        members: order.iter().map(id).collect(),
        central: central.iter().map(id).collect(),
        diverse: diverse.iter().map(id).collect(),
        member_cosines: order.iter().map(|&i| cos[i]).collect(),
    }
}

/// The clusters as `synthcti clusters --json` prints them: per technique its name, size and
/// silhouette, and per cluster its members with their central and diverse sentences.
pub fn render_json(
    clusters: &[TechniqueClusters],
    samples: &[Sample],
    catalog: &Catalog,
) -> serde_json::Value {
    let texts = |ids: &[usize]| ids.iter().map(|&i| &*samples[i].text).collect::<Vec<_>>();
    clusters
        .iter()
        .map(|tc| {
            serde_json::json!({
                "technique": tc.technique,
                "name": catalog.name_of(&tc.technique),
                "size": tc.size,
                "silhouette": tc.silhouette,
                "clusters": tc.clusters.iter().map(|c| serde_json::json!({
                    "index": c.index,
                    "size": c.members.len(),
                    "members": c.members,
                    "central": texts(&c.central),
                    "central_ids": c.central,
                    "diverse": texts(&c.diverse),
                    "diverse_ids": c.diverse,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// The clusters as `synthcti clusters` prints them: per technique a heading, per cluster its
/// central sentences (with their cosine to the centroid) and diverse ones, each on one
/// printable line.
pub fn render_text(
    clusters: &[TechniqueClusters],
    samples: &[Sample],
    catalog: &Catalog,
) -> String {
    use std::fmt::Write as _;
    let line = |id: usize| crate::text::sanitize(&samples[id].text);
    let mut out = String::new();
    for tc in clusters {
        let silhouette = tc
            .silhouette
            .map(|s| format!(", silhouette {s:.3}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\n{} {} — {} sentences, {} cluster(s){silhouette}",
            tc.technique,
            catalog.name_of(&tc.technique),
            tc.size,
            tc.clusters.len(),
        );
        for c in &tc.clusters {
            let _ = writeln!(out, "  cluster {} ({} sentences)", c.index, c.members.len());
            for (&id, cos) in c.central.iter().zip(&c.member_cosines) {
                let _ = writeln!(out, "    central {cos:.2}  {}", line(id));
            }
            for &id in &c.diverse {
                let _ = writeln!(out, "    diverse       {}", line(id));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn blobs() -> (Vec<usize>, Array2<f32>) {
        // Two tight groups of unit vectors around two orthogonal directions.
        let mut rows = Vec::new();
        for i in 0..8 {
            let e = 0.05 * i as f32;
            rows.push([1.0, e, 0.0]);
            rows.push([0.0, e, 1.0]);
        }
        let mut x = Array2::from_shape_vec((16, 3), rows.concat()).unwrap();
        for mut r in x.rows_mut() {
            let n = r.dot(&r).sqrt();
            r /= n;
        }
        ((100..116).collect(), x)
    }

    #[test]
    fn finds_two_blobs_deterministically() {
        let (ids, x) = blobs();
        let p = ClusterParams {
            min_cluster_size: 3,
            ..Default::default()
        };
        let a = cluster_technique("T1", &ids, x.view(), &p, 7).unwrap();
        assert_eq!(a.clusters.len(), 2);
        assert!(a.silhouette.unwrap() > 0.8);
        for c in &a.clusters {
            assert_eq!(c.members.len(), 8);
            // all members of a cluster share parity (same blob)
            assert!(c.members.iter().all(|m| m % 2 == c.members[0] % 2));
            assert_eq!(c.central.len(), 3);
            assert_eq!(c.diverse.len(), 2);
            assert!(c.diverse.iter().all(|d| !c.central.contains(d)));
        }
        let b = cluster_technique("T1", &ids, x.view(), &p, 7).unwrap();
        assert_eq!(a, b);
    }

    /// The pairwise definition the closed form replaces.
    fn pairwise_silhouette(x: ArrayView2<f32>, labels: &[usize], k: usize) -> f32 {
        let n = x.nrows();
        let mut total = 0.0;
        for i in 0..n {
            let mut sum = vec![0.0f32; k];
            let mut size = vec![0usize; k];
            for j in (0..n).filter(|&j| j != i) {
                sum[labels[j]] += 1.0 - x.row(i).dot(&x.row(j));
                size[labels[j]] += 1;
            }
            if size[labels[i]] == 0 {
                continue;
            }
            let a = sum[labels[i]] / size[labels[i]] as f32;
            let b = (0..k)
                .filter(|&c| c != labels[i] && size[c] > 0)
                .map(|c| sum[c] / size[c] as f32)
                .fold(f32::INFINITY, f32::min);
            total += (b - a) / a.max(b);
        }
        total / n as f32
    }

    #[test]
    fn silhouette_closed_form_matches_pairwise() {
        let (_, x) = blobs();
        let mixed: Vec<usize> = (0..16).map(|i| (i * 7 + i / 3) % 3).collect();
        let singleton: Vec<usize> = (0..16).map(|i| usize::from(i == 5)).collect();
        for (labels, k) in [
            ((0..16).map(|i| i % 2).collect::<Vec<_>>(), 2),
            (mixed, 3),
            (singleton, 2),
        ] {
            let (fast, slow) = (
                silhouette(x.view(), &labels, k),
                pairwise_silhouette(x.view(), &labels, k),
            );
            assert!((fast - slow).abs() < 1e-5, "{labels:?}: {fast} vs {slow}");
        }
    }

    #[test]
    fn small_class_is_one_cluster() {
        let x = array![[1.0f32, 0.0], [0.0, 1.0], [0.6, 0.8]];
        let c =
            cluster_technique("T1", &[7, 8, 9], x.view(), &ClusterParams::default(), 7).unwrap();
        assert_eq!(c.clusters.len(), 1);
        assert_eq!(c.clusters[0].members.len(), 3);
        assert_eq!(c.silhouette, None);
        // nearest the centroid first: [0.6,0.8] is nearest to the mean direction
        assert_eq!(c.clusters[0].central[0], 9);
    }

    #[test]
    fn params_are_checked() {
        let p = ClusterParams {
            k_max: 0,
            ..Default::default()
        };
        assert_eq!(p.check().unwrap_err().key, "cluster.k_max");
    }
}
