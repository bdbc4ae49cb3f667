//! One embedder per process on its own thread, behind a channel (the shape of
//! text-embeddings-inference's `Backend`): async code awaits [`EmbedService::embed`] without
//! blocking a runtime worker, sync code calls it through the [`Embedder`] trait, and the model
//! is loaded once however many stages use it.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use ndarray::Array2;
use tokio::sync::oneshot;

use super::{CacheStats, EmbedError, Embedder};

/// One request to the embedding thread.
struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Array2<f32>, EmbedError>>,
}

/// A cloneable handle to the embedding thread; the thread ends when the last handle is
/// dropped.
#[derive(Clone)]
pub struct EmbedService {
    jobs: mpsc::Sender<Job>,
    model_id: Arc<str>,
    dim: usize,
    cache_stats: Arc<Mutex<Option<CacheStats>>>,
}

impl std::fmt::Debug for EmbedService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedService")
            .field("model_id", &self.model_id)
            .field("dim", &self.dim)
            .finish()
    }
}

impl EmbedService {
    /// Moves `embedder` to a new thread and returns the handle that feeds it.
    pub fn spawn(mut embedder: Box<dyn Embedder>) -> Result<Self, EmbedError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let model_id: Arc<str> = embedder.model_id().into();
        let dim = embedder.dim();
        let cache_stats = Arc::new(Mutex::new(embedder.cache_stats()));
        let stats = Arc::clone(&cache_stats);
        std::thread::Builder::new()
            .name("synthcti-embed".into())
            .spawn(move || {
                for job in rx {
                    let texts: Vec<&str> = job.texts.iter().map(String::as_str).collect();
                    let out = match texts.is_empty() {
                        true => Ok(Array2::zeros((0, embedder.dim()))),
                        false => embedder.embed(&texts),
                    };
                    *stats.lock().unwrap_or_else(PoisonError::into_inner) = embedder.cache_stats();
                    // The asker may have given up (its run was cancelled): nothing to do.
                    let _ = job.reply.send(out);
                }
            })
            .map_err(|e| {
                EmbedError::InvalidConfig(format!("cannot start the embedding thread: {e}"))
            })?;
        Ok(Self {
            jobs,
            model_id,
            dim,
            cache_stats,
        })
    }

    /// Embeds `texts` on the embedding thread: one L2-normalised row per text, in order.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Array2<f32>, EmbedError> {
        let (reply, answer) = oneshot::channel();
        let gone = || EmbedError::InvalidConfig("the embedding thread has stopped".into());
        self.jobs.send(Job { texts, reply }).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// [`Self::embed`] for sync code: blocks this thread until the answer comes.
    pub fn embed_blocking(&self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
        let texts = texts.iter().map(|t| t.to_string()).collect();
        futures::executor::block_on(self.embed(texts))
    }
}

impl Embedder for EmbedService {
    fn model_id(&self) -> &str {
        &self.model_id
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
        self.embed_blocking(texts)
    }
    fn cache_stats(&self) -> Option<CacheStats> {
        *self
            .cache_stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Embeds a text as (length, 1) normalised.
    struct Len;
    impl Embedder for Len {
        fn model_id(&self) -> &str {
            "len"
        }
        fn dim(&self) -> usize {
            2
        }
        fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
            let mut out = Array2::zeros((texts.len(), 2));
            for (i, t) in texts.iter().enumerate() {
                let (a, b) = (t.len() as f32, 1.0f32);
                let n = (a * a + b * b).sqrt();
                out[[i, 0]] = a / n;
                out[[i, 1]] = b / n;
            }
            Ok(out)
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn async_and_blocking_calls_agree_on_a_current_thread_runtime() {
        let service = EmbedService::spawn(Box::new(Len)).unwrap();
        let a = service
            .embed(vec!["ab".into(), "abcd".into()])
            .await
            .unwrap();
        let mut handle = service.clone();
        let b = Embedder::embed(&mut handle, &["ab", "abcd"]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.nrows(), 2);
        assert_eq!(service.embed(Vec::new()).await.unwrap().shape(), &[0, 2]);
        assert_eq!(handle.model_id(), "len");
    }
}
