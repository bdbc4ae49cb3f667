//! [`CachedEmbedder`]: an on-disk cache of vectors keyed by (model id, sha256 of the text).
//!
//! One append-only file per model, `<cache_dir>/<sanitised model id>.bin`:
//!
//! ```text
//! header  : b"SCTIEMB2" | dim: u32 LE
//! records : [b"SREC"][sha256(text): 32 bytes][dim × f32 LE][check: 8 bytes]  (repeated)
//! ```
//!
//! `check` is the first 8 bytes of the sha256 of the text hash and the vector bytes, so
//! every record can be verified and found again after damage. The file is read into memory
//! when opened; new vectors are appended with one write per [`Embedder::embed`] call.
//! On load:
//! - a record that fails its check (a torn or overwritten record) is skipped with a
//!   warning and reading resumes at the next valid record, so one bad record never drops
//!   the records after it;
//! - a record holding NaN or infinity is skipped with a warning (its sentence is embedded
//!   again);
//! - bytes after the last valid record (a run killed mid-write) are cut off the file with a
//!   warning, never an error;
//! - a cache of the previous format (`SCTIEMB1`, without checks) is started afresh.
//!
//! Runs may share a cache: loading and each append hold an exclusive `flock` on the file,
//! so no run reads another's half-written record or cuts it off.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView1};
use sha2::{Digest, Sha256};

use super::{EmbedError, Embedder};

const MAGIC: &[u8; 8] = b"SCTIEMB2";
const OLD_MAGIC: &[u8; 8] = b"SCTIEMB1";
const HEADER_LEN: usize = MAGIC.len() + 4;
const REC_MAGIC: &[u8; 4] = b"SREC";
const CHECK_LEN: usize = 8;

type TextHash = [u8; 32];

/// Cumulative counts of a [`CachedEmbedder`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheStats {
    /// Sentences answered from the cache (repeats of a sentence within one call count here).
    pub hits: u64,
    /// Distinct sentences that had to be embedded.
    pub misses: u64,
}

/// Wraps an [`Embedder`] with the on-disk cache of its model.
pub struct CachedEmbedder<E> {
    inner: E,
    store: CacheFile,
    stats: CacheStats,
    chunk: usize,
}

/// Sentences embedded and appended to the cache at a time ([`CachedEmbedder::with_chunk`]):
/// about a minute of work on 2 CPU cores.
pub const CACHE_CHUNK: usize = 16_384;

impl<E: Embedder> CachedEmbedder<E> {
    /// Opens (or creates) `<cache_dir>/<sanitised model id>.bin` for `inner`'s model.
    pub fn new(inner: E, cache_dir: &Path) -> Result<Self, EmbedError> {
        let path = cache_dir.join(format!("{}.bin", sanitise(inner.model_id())));
        let store = CacheFile::open(&path, inner.dim())?;
        tracing::info!(
            model = %inner.model_id(),
            path = %path.display(),
            cached = store.len(),
            "opened embedding cache"
        );
        Ok(CachedEmbedder {
            inner,
            store,
            stats: CacheStats::default(),
            chunk: CACHE_CHUNK,
        })
    }

    /// Embeds and appends at most `chunk` uncached sentences at a time (default
    /// [`CACHE_CHUNK`]); what is appended survives a later failure or kill.
    pub fn with_chunk(mut self, chunk: usize) -> Self {
        self.chunk = chunk.max(1);
        self
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.store.path
    }

    /// Hits and misses since this cache was opened.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// The wrapped embedder.
    pub fn into_inner(self) -> E {
        self.inner
    }
}

impl<E: Embedder> Embedder for CachedEmbedder<E> {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
        let hashes: Vec<TextHash> = texts.iter().map(|t| text_hash(t)).collect();
        let mut seen = HashSet::new();
        let mut missing: Vec<(&str, TextHash)> = Vec::new();
        for (&text, hash) in texts.iter().zip(&hashes) {
            if !self.store.contains(hash) && seen.insert(*hash) {
                missing.push((text, *hash));
            }
        }
        // Embedded and appended a chunk at a time: a run killed during a long cold
        // embedding keeps every finished chunk.
        let chunks = missing.len().div_ceil(self.chunk);
        for (i, chunk) in missing.chunks(self.chunk).enumerate() {
            if chunks > 1 {
                tracing::info!(
                    chunk = i + 1,
                    of = chunks,
                    sentences = chunk.len(),
                    "embedding"
                );
            }
            let miss_texts: Vec<&str> = chunk.iter().map(|(t, _)| *t).collect();
            let vectors = self.inner.embed(&miss_texts)?;
            if vectors.dim() != (chunk.len(), self.store.dim) {
                return Err(EmbedError::BadOutput {
                    model: self.inner.model_id().to_string(),
                    reason: format!(
                        "shape {:?} for {} sentences of dimension {}",
                        vectors.dim(),
                        chunk.len(),
                        self.store.dim
                    ),
                });
            }
            let new: Vec<(TextHash, ArrayView1<f32>)> = chunk
                .iter()
                .zip(vectors.rows())
                .map(|((_, hash), row)| (*hash, row))
                .collect();
            self.store.append(&new)?;
        }
        let misses = missing.len() as u64;
        let hits = texts.len() as u64 - misses;
        self.stats.hits += hits;
        self.stats.misses += misses;
        if texts.len() > 256 {
            tracing::info!(model = %self.inner.model_id(), hits, misses, "embedding cache");
        } else {
            tracing::debug!(model = %self.inner.model_id(), hits, misses, "embedding cache");
        }

        let mut out = Array2::<f32>::zeros((texts.len(), self.store.dim));
        for (i, hash) in hashes.iter().enumerate() {
            let row = self.store.get(hash).ok_or_else(|| EmbedError::BadOutput {
                model: self.inner.model_id().to_string(),
                reason: "a vector was lost from the cache".into(),
            })?;
            out.row_mut(i).assign(&ArrayView1::from(row));
        }
        Ok(out)
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        Some(self.stats)
    }
}

/// sha256 of the text's UTF-8 bytes.
fn text_hash(text: &str) -> TextHash {
    Sha256::digest(text.as_bytes()).into()
}

/// A file name for a model id: anything outside `[A-Za-z0-9._-]` becomes `_`.
fn sanitise(model_id: &str) -> String {
    model_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The open cache file and its contents.
struct CacheFile {
    path: PathBuf,
    file: File,
    dim: usize,
    /// Row `k` of the store is `vectors[k * dim .. (k + 1) * dim]`.
    vectors: Vec<f32>,
    index: HashMap<TextHash, usize>,
}

/// An exclusive `flock` on a file, released on drop.
struct FileLock<'a>(&'a File);

impl<'a> FileLock<'a> {
    fn acquire(file: &'a File) -> std::io::Result<Self> {
        loop {
            // SAFETY: flock on a file descriptor owned by `file` for the guard's lifetime.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(FileLock(file));
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `acquire`; unlocking cannot fail in a way we could act on.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The record check: first [`CHECK_LEN`] bytes of sha256(text hash ‖ vector bytes).
fn record_check(hash_and_floats: &[u8]) -> [u8; CHECK_LEN] {
    let digest = Sha256::digest(hash_and_floats);
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&digest[..CHECK_LEN]);
    out
}

/// What loading the records found.
#[derive(Debug, Default, PartialEq, Eq)]
struct LoadReport {
    /// Byte length of the body up to the end of the last valid record.
    good_end: usize,
    /// Damaged stretches skipped (each followed by a valid record).
    damaged: usize,
    /// Bytes in those stretches.
    damaged_bytes: usize,
    /// Valid records holding NaN or infinity.
    non_finite: usize,
}

impl CacheFile {
    fn record_len(&self) -> usize {
        REC_MAGIC.len() + 32 + 4 * self.dim + CHECK_LEN
    }

    /// The record at the start of `bytes`, if it is complete and passes its check.
    fn record_at<'b>(&self, bytes: &'b [u8]) -> Option<(&'b [u8], &'b [u8])> {
        let rec = bytes.get(..self.record_len())?;
        let (magic, rest) = rec.split_at(REC_MAGIC.len());
        let (payload, check) = rest.split_at(rest.len() - CHECK_LEN);
        if magic != REC_MAGIC || check != record_check(payload).as_slice() {
            return None;
        }
        Some(payload.split_at(32))
    }

    /// Reads the records of `body`, resynchronising after damage.
    fn load(&mut self, body: &[u8]) -> LoadReport {
        let mut report = LoadReport::default();
        let mut pos = 0;
        while pos < body.len() {
            let Some((hash_bytes, floats)) = self.record_at(&body[pos..]) else {
                // Damaged: find the next valid record, if any.
                let next = (pos + 1..body.len())
                    .filter(|&p| body[p..].starts_with(REC_MAGIC))
                    .find(|&p| self.record_at(&body[p..]).is_some());
                match next {
                    Some(p) => {
                        report.damaged += 1;
                        report.damaged_bytes += p - pos;
                        pos = p;
                        continue;
                    }
                    None => break,
                }
            };
            let row: Vec<f32> = floats
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if row.iter().all(|x| x.is_finite()) {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(hash_bytes);
                self.insert(hash, &row);
            } else {
                report.non_finite += 1;
            }
            pos += self.record_len();
            report.good_end = pos;
        }
        report
    }

    /// Opens or creates the cache file at `path` for vectors of length `dim`.
    fn open(path: &Path, dim: usize) -> Result<Self, EmbedError> {
        let io_err = |source| EmbedError::Cache {
            path: path.to_path_buf(),
            source,
        };
        let format_err = |reason: String| EmbedError::CacheFormat {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| EmbedError::Cache {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err)?;
        if !file.metadata().map_err(io_err)?.is_file() {
            return Err(format_err("not a regular file".into()));
        }
        let mut store = CacheFile {
            path: path.to_path_buf(),
            file,
            dim,
            vectors: Vec::new(),
            index: HashMap::new(),
        };
        let file = store.file.try_clone().map_err(io_err)?;
        let _lock = FileLock::acquire(&file).map_err(io_err)?;
        let mut bytes = Vec::new();
        (&file).seek(SeekFrom::Start(0)).map_err(io_err)?;
        (&file).read_to_end(&mut bytes).map_err(io_err)?;

        if bytes.len() < HEADER_LEN || bytes.starts_with(OLD_MAGIC) {
            if !bytes.is_empty() {
                tracing::warn!(path = %path.display(), "embedding cache header truncated or of an older format; starting afresh");
            }
            file.set_len(0).map_err(io_err)?;
            let mut header = MAGIC.to_vec();
            header.extend_from_slice(&dim_u32(dim)?.to_le_bytes());
            (&file).write_all(&header).map_err(io_err)?;
            return Ok(store);
        }

        let (header, body) = bytes.split_at(HEADER_LEN);
        if &header[..MAGIC.len()] != MAGIC {
            return Err(format_err("not a synthcti embedding cache".into()));
        }
        let mut dim_bytes = [0u8; 4];
        dim_bytes.copy_from_slice(&header[MAGIC.len()..]);
        let file_dim = u32::from_le_bytes(dim_bytes) as usize;
        if file_dim != dim {
            return Err(format_err(format!(
                "it holds vectors of length {file_dim}, the model gives {dim}"
            )));
        }
        let report = store.load(body);
        store.warn(&report, body.len());
        if report.good_end < body.len() {
            file.set_len((HEADER_LEN + report.good_end) as u64)
                .map_err(io_err)?;
        }
        Ok(store)
    }

    /// Warns about what loading skipped or cut.
    fn warn(&self, report: &LoadReport, body_len: usize) {
        let path = self.path.display();
        if report.damaged > 0 {
            tracing::warn!(
                path = %path,
                damaged = report.damaged,
                bytes = report.damaged_bytes,
                "embedding cache has damaged records; skipped them and read on"
            );
        }
        if report.non_finite > 0 {
            tracing::warn!(
                path = %path,
                records = report.non_finite,
                "embedding cache has vectors with NaN or infinity; ignored them"
            );
        }
        if report.good_end < body_len {
            tracing::warn!(
                path = %path,
                dropped_bytes = body_len - report.good_end,
                "embedding cache ends in a truncated record (interrupted run); cut it off"
            );
        }
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn contains(&self, hash: &TextHash) -> bool {
        self.index.contains_key(hash)
    }

    fn get(&self, hash: &TextHash) -> Option<&[f32]> {
        let k = *self.index.get(hash)?;
        self.vectors.get(k * self.dim..(k + 1) * self.dim)
    }

    /// Adds a vector in memory (a repeated hash keeps the first vector).
    fn insert(&mut self, hash: TextHash, row: &[f32]) {
        if self.index.contains_key(&hash) {
            return;
        }
        self.index
            .insert(hash, self.vectors.len() / self.dim.max(1));
        self.vectors.extend_from_slice(row);
    }

    /// Appends records to the file with one write under the lock, then adds them in
    /// memory. A vector with NaN or infinity is an error, never stored.
    fn append(&mut self, records: &[(TextHash, ArrayView1<f32>)]) -> Result<(), EmbedError> {
        if records
            .iter()
            .any(|(_, row)| row.iter().any(|x| !x.is_finite()))
        {
            return Err(EmbedError::Cache {
                path: self.path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "refusing to store a vector with NaN or infinity",
                ),
            });
        }
        let mut buf = Vec::with_capacity(records.len() * self.record_len());
        for (hash, row) in records {
            let start = buf.len();
            buf.extend_from_slice(REC_MAGIC);
            buf.extend_from_slice(hash);
            for x in row.iter() {
                buf.extend_from_slice(&x.to_le_bytes());
            }
            let check = record_check(&buf[start + REC_MAGIC.len()..]);
            buf.extend_from_slice(&check);
        }
        let io_err = |source| EmbedError::Cache {
            path: self.path.clone(),
            source,
        };
        {
            let _lock = FileLock::acquire(&self.file).map_err(io_err)?;
            (&self.file).write_all(&buf).map_err(io_err)?;
        }
        for (hash, row) in records {
            let row: Vec<f32> = row.iter().copied().collect();
            self.insert(*hash, &row);
        }
        Ok(())
    }
}

fn dim_u32(dim: usize) -> Result<u32, EmbedError> {
    u32::try_from(dim).map_err(|_| EmbedError::InvalidConfig(format!("dimension {dim} too large")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stand-in for a model (unit tests of the file format only; the
    /// integration tests use the real model): vector from the text's hash, normalised.
    struct HashEmbedder {
        dim: usize,
        calls: Vec<usize>,
    }

    impl Embedder for HashEmbedder {
        fn model_id(&self) -> &str {
            "test/hash model"
        }
        fn dim(&self) -> usize {
            self.dim
        }
        fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
            self.calls.push(texts.len());
            let mut out = Array2::zeros((texts.len(), self.dim));
            for (i, t) in texts.iter().enumerate() {
                let h = text_hash(t);
                let mut row: Vec<f32> = (0..self.dim).map(|j| h[j % 32] as f32 + 1.0).collect();
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                row.iter_mut().for_each(|x| *x /= norm);
                out.row_mut(i).assign(&ArrayView1::from(&row[..]));
            }
            Ok(out)
        }
    }

    fn texts() -> Vec<&'static str> {
        vec!["alpha", "beta", "alpha", "gamma"]
    }

    #[test]
    fn second_open_serves_everything_from_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut first = CachedEmbedder::new(
            HashEmbedder {
                dim: 5,
                calls: vec![],
            },
            dir.path(),
        )
        .expect("open");
        assert!(first.path().ends_with("test_hash_model.bin"));
        let a = first.embed(&texts()).expect("embed");
        assert_eq!(first.stats(), CacheStats { hits: 1, misses: 3 });
        assert_eq!(first.inner.calls, vec![3], "duplicates embedded once");
        assert_eq!(a.row(0), a.row(2));
        let size = std::fs::metadata(first.path()).expect("meta").len();
        assert_eq!(size as usize, HEADER_LEN + 3 * (4 + 32 + 4 * 5 + CHECK_LEN));

        let mut second = CachedEmbedder::new(
            HashEmbedder {
                dim: 5,
                calls: vec![],
            },
            dir.path(),
        )
        .expect("reopen");
        let b = second.embed(&texts()).expect("embed");
        assert_eq!(second.stats(), CacheStats { hits: 4, misses: 0 });
        assert!(second.inner.calls.is_empty());
        assert_eq!(a, b, "bit-identical after the round trip");
        assert!(second.embed(&[]).expect("empty").is_empty());
    }

    /// Fails every call after the first `ok` ones.
    struct FailsAfter<E> {
        inner: E,
        ok: usize,
    }

    impl<E: Embedder> Embedder for FailsAfter<E> {
        fn model_id(&self) -> &str {
            self.inner.model_id()
        }
        fn dim(&self) -> usize {
            self.inner.dim()
        }
        fn embed(&mut self, texts: &[&str]) -> Result<Array2<f32>, EmbedError> {
            if self.ok == 0 {
                return Err(EmbedError::BadOutput {
                    model: "test".into(),
                    reason: "killed".into(),
                });
            }
            self.ok -= 1;
            self.inner.embed(texts)
        }
    }

    #[test]
    fn finished_chunks_survive_a_failure() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hash = || HashEmbedder {
            dim: 4,
            calls: vec![],
        };
        let five = ["a b", "c d", "e f", "g h", "i j"];
        let mut failing = CachedEmbedder::new(
            FailsAfter {
                inner: hash(),
                ok: 2,
            },
            dir.path(),
        )
        .expect("open")
        .with_chunk(2);
        assert!(failing.embed(&five).is_err(), "the third chunk fails");
        let mut again = CachedEmbedder::new(hash(), dir.path()).expect("reopen");
        again.embed(&five).expect("embed");
        assert_eq!(again.stats(), CacheStats { hits: 4, misses: 1 });
        assert_eq!(
            again.inner.calls,
            vec![1],
            "only the unfinished sentence is embedded"
        );
    }

    #[test]
    fn truncated_trailing_record_is_dropped_and_the_file_repaired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.bin");
        let hashes = [text_hash("one"), text_hash("two")];
        {
            let mut store = CacheFile::open(&path, 3).expect("open");
            let rows = [[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
            let recs: Vec<_> = hashes
                .iter()
                .zip(&rows)
                .map(|(h, r)| (*h, ArrayView1::from(&r[..])))
                .collect();
            store.append(&recs).expect("append");
        }
        let full = std::fs::metadata(&path).expect("meta").len();
        let file = OpenOptions::new().write(true).open(&path).expect("open");
        file.set_len(full - 5).expect("truncate");
        drop(file);

        let mut store = CacheFile::open(&path, 3).expect("tolerates truncation");
        assert_eq!(store.len(), 1);
        assert_eq!(store.get(&hashes[0]), Some(&[1.0f32, 2.0, 3.0][..]));
        assert!(!store.contains(&hashes[1]));
        // Appending after the repair keeps the file aligned.
        let row = [7.0f32, 8.0, 9.0];
        store
            .append(&[(hashes[1], ArrayView1::from(&row[..]))])
            .expect("append");
        drop(store);
        let store = CacheFile::open(&path, 3).expect("reopen");
        assert_eq!(store.len(), 2);
        assert_eq!(store.get(&hashes[1]), Some(&row[..]));
    }

    #[test]
    fn truncated_header_starts_afresh_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.bin");
        std::fs::write(&path, &MAGIC[..5]).expect("write");
        let store = CacheFile::open(&path, 4).expect("restart");
        assert_eq!(store.len(), 0);
        drop(store);
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len() as usize,
            HEADER_LEN
        );

        let err = CacheFile::open(&path, 8).err().expect("dim mismatch");
        assert!(err.to_string().contains("length 4"), "{err}");

        let other = dir.path().join("other.bin");
        std::fs::write(&other, b"not a cache file at all").expect("write");
        let err = CacheFile::open(&other, 4).err().expect("bad magic");
        assert!(matches!(err, EmbedError::CacheFormat { .. }));
    }

    #[test]
    fn file_names_are_sanitised() {
        assert_eq!(
            sanitise("BAAI/bge-small-en-v1.5.max256"),
            "BAAI_bge-small-en-v1.5.max256"
        );
        assert_eq!(sanitise("a b:c"), "a_b_c");
    }

    fn write_store(path: &Path, rows: &[(&str, [f32; 3])]) {
        let mut store = CacheFile::open(path, 3).expect("open");
        let recs: Vec<_> = rows
            .iter()
            .map(|(t, r)| (text_hash(t), ArrayView1::from(&r[..])))
            .collect();
        store.append(&recs).expect("append");
    }

    #[test]
    fn a_damaged_record_in_the_middle_is_skipped_not_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.bin");
        write_store(
            &path,
            &[
                ("one", [1.0, 2.0, 3.0]),
                ("two", [4.0, 5.0, 6.0]),
                ("three", [7.0, 8.0, 9.0]),
            ],
        );
        let mut bytes = std::fs::read(&path).expect("read");
        let rec = 4 + 32 + 12 + CHECK_LEN;
        // Cut 7 bytes out of the second record (a torn write), and flip a byte of the first.
        bytes.drain(HEADER_LEN + rec + 10..HEADER_LEN + rec + 17);
        bytes[HEADER_LEN + 40] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");
        let store = CacheFile::open(&path, 3).expect("tolerates damage");
        assert_eq!(store.len(), 1, "only the intact third record survives");
        assert_eq!(
            store.get(&text_hash("three")),
            Some(&[7.0f32, 8.0, 9.0][..])
        );
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len() as usize,
            bytes.len(),
            "damage in the middle is skipped, not cut"
        );
    }

    #[test]
    fn non_finite_vectors_are_ignored_on_load_and_refused_on_append() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("n.bin");
        write_store(&path, &[("ok", [1.0, 0.0, 0.0])]);
        // Forge a record with a valid check but a NaN, as a buggy writer would.
        let mut payload = text_hash("nan").to_vec();
        for x in [f32::NAN, 0.0, f32::INFINITY] {
            payload.extend_from_slice(&x.to_le_bytes());
        }
        let mut rec = REC_MAGIC.to_vec();
        rec.extend_from_slice(&payload);
        rec.extend_from_slice(&record_check(&payload));
        OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open")
            .write_all(&rec)
            .expect("write");
        let mut store = CacheFile::open(&path, 3).expect("open");
        assert_eq!(store.len(), 1);
        assert!(!store.contains(&text_hash("nan")));
        let bad = [f32::NAN, 1.0, 1.0];
        let err = store
            .append(&[(text_hash("x"), ArrayView1::from(&bad[..]))])
            .expect_err("NaN refused");
        let text = crate::error_chain(&err);
        assert!(text.contains("NaN"), "{text}");
    }

    #[test]
    fn two_handles_on_one_cache_keep_it_aligned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.bin");
        let mut a = CacheFile::open(&path, 3).expect("a");
        let mut b = CacheFile::open(&path, 3).expect("b");
        for i in 0..20 {
            let row = [i as f32, 1.0, 2.0];
            let (store, text) = if i % 2 == 0 {
                (&mut a, "a")
            } else {
                (&mut b, "b")
            };
            store
                .append(&[(text_hash(&format!("{text}{i}")), ArrayView1::from(&row[..]))])
                .expect("append");
        }
        drop((a, b));
        let store = CacheFile::open(&path, 3).expect("reopen");
        assert_eq!(store.len(), 20);
        assert_eq!(store.get(&text_hash("b19")), Some(&[19.0f32, 1.0, 2.0][..]));
    }

    #[test]
    fn an_old_format_cache_starts_afresh() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("o.bin");
        let mut old = OLD_MAGIC.to_vec();
        old.extend_from_slice(&3u32.to_le_bytes());
        old.extend_from_slice(&[0u8; 44]);
        std::fs::write(&path, &old).expect("write");
        let store = CacheFile::open(&path, 3).expect("open");
        assert_eq!(store.len(), 0);
        assert!(std::fs::read(&path).expect("read").starts_with(MAGIC));
    }
}
