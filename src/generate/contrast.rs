//! Contrast for prompts: per cluster, the nearest *other* technique (by centroid cosine to
//! the cluster's centroid) and that technique's training sentence nearest the cluster — the
//! row a classifier would most easily confuse with this cluster. Templates show it with the
//! instruction not to describe it (`[generate] contrast = true`).

use ndarray::{Array1, Array2};

use super::{Acceptor, ClusterJob};
use crate::catalog::Catalog;
use crate::data::Sample;
use crate::prompt::ContrastContext;
use crate::technique::TechniqueId;

/// Sets `job.contrast` on every job: `samples` with their L2-normalised `embeddings` (one
/// row each), `centroids` of every technique in the data. A job whose technique is the only
/// one, or whose nearest technique has no sentence the prompt may show, gets none.
pub fn add_contrasts(
    jobs: &mut [ClusterJob<'_>],
    techniques: &[TechniqueId],
    samples: &[Sample],
    embeddings: &Array2<f32>,
    centroids: &[(TechniqueId, Array1<f32>)],
    catalog: &Catalog,
    acceptor: &Acceptor,
) {
    for job in jobs.iter_mut() {
        let own = &techniques[job.tech];
        let c = &job.cluster.centroid;
        let nearest = centroids
            .iter()
            .filter(|(id, _)| id != own)
            .map(|(id, v)| (v.dot(c), id))
            .fold(None, |best: Option<(f32, &TechniqueId)>, x| match best {
                Some(b) if b.0 >= x.0 => Some(b),
                _ => Some(x),
            });
        let Some((_, other)) = nearest else { continue };
        let example = samples
            .iter()
            .enumerate()
            .filter(|(_, s)| &s.label == other && acceptor.may_show(&s.text))
            .map(|(i, s)| (embeddings.row(i).dot(c), i, s))
            .fold(None, |best: Option<(f32, usize, &Sample)>, x| match best {
                Some(b) if b.0 >= x.0 => Some(b),
                _ => Some(x),
            });
        job.contrast = example.map(|(_, _, s)| ContrastContext {
            id: other.clone(),
            name: catalog.name_of(other).to_string(),
            example: crate::text::sanitize(&s.text),
        });
    }
}
