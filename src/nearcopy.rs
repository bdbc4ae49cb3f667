//! Near-copy detection by word-shingle containment: catches a sentence copied *inside* a
//! longer one ("TrickBot " + a test sentence), which neither an exact-text check nor a
//! sentence-embedding cosine reliably sees.
//!
//! Every text is lower-cased, cut into word tokens (runs of letters, digits and `_`) and
//! reduced to its set of word [`SHINGLE`]-grams. The containment of `a` in `b` is
//! `|S(a) ∩ S(b)| / |S(a)|`; a pair is a near copy when the containment of either text in
//! the other reaches the threshold. Texts shorter than [`SHINGLE`] words have no shingles
//! and are left to the exact check.
//!
//! [`ContainmentIndex`] is an inverted index (shingle → texts), so a query costs the
//! posting lists of its own shingles, not a scan of every indexed text: building it over
//! 16k ATT&CK procedure examples and querying 5k sentences takes well under a second.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Shingle length in words.
pub const SHINGLE: usize = 5;

/// The word tokens of an already lower-cased text: runs of letters, digits and `_`.
pub fn words(lower: &str) -> impl Iterator<Item = &str> {
    lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
}

/// The sorted, deduplicated word-shingle hashes of `text`.
pub fn shingles(text: &str) -> Vec<u64> {
    let lower = text.to_lowercase();
    let tokens: Vec<&str> = words(&lower).collect();
    let mut out: Vec<u64> = tokens
        .windows(SHINGLE)
        .map(|gram| {
            // SipHash with fixed keys: stable within a process, which is all an index needs.
            let mut h = std::hash::DefaultHasher::new();
            gram.hash(&mut h);
            h.finish()
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The containment of `a` in `b` (both from [`shingles`]): the share of `a`'s shingles
/// that `b` also has; 0 when `a` has none.
pub fn containment(a: &[u64], b: &[u64]) -> f32 {
    if a.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common as f32 / a.len() as f32
}

/// A near copy found by [`ContainmentIndex::find`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearCopy {
    /// Position of the indexed text in the slice the index was built from.
    pub index: usize,
    /// The larger of the two containments (indexed text in query, query in indexed text).
    pub containment: f32,
}

/// An inverted shingle index over a fixed set of texts.
#[derive(Debug, Clone, Default)]
pub struct ContainmentIndex {
    threshold: f32,
    postings: HashMap<u64, Vec<u32>>,
    sizes: Vec<u32>,
}

impl ContainmentIndex {
    /// Indexes `texts`; [`find`](Self::find) reports pairs whose containment (either way)
    /// is at least `threshold` (a value above 1 never matches).
    pub fn new<S: AsRef<str>>(texts: &[S], threshold: f32) -> Self {
        let mut postings: HashMap<u64, Vec<u32>> = HashMap::new();
        let mut sizes = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            let s = shingles(text.as_ref());
            sizes.push(s.len() as u32);
            for h in s {
                postings.entry(h).or_default().push(i as u32);
            }
        }
        Self {
            threshold,
            postings,
            sizes,
        }
    }

    /// Number of indexed texts.
    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// Whether no text is indexed.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// The indexed text with the highest containment either way, if it reaches the
    /// threshold (ties: the lowest index).
    pub fn find(&self, text: &str) -> Option<NearCopy> {
        if self.sizes.is_empty() || self.threshold > 1.0 {
            return None;
        }
        let query = shingles(text);
        if query.is_empty() {
            return None;
        }
        let mut common: HashMap<u32, u32> = HashMap::new();
        for h in &query {
            for &doc in self.postings.get(h).map_or(&[][..], Vec::as_slice) {
                *common.entry(doc).or_default() += 1;
            }
        }
        let mut best: Option<NearCopy> = None;
        for (&doc, &k) in &common {
            let c = (k as f32 / self.sizes[doc as usize] as f32).max(k as f32 / query.len() as f32);
            let better = match best {
                None => true,
                Some(b) => c > b.containment || (c == b.containment && (doc as usize) < b.index),
            };
            if c >= self.threshold && better {
                best = Some(NearCopy {
                    index: doc as usize,
                    containment: c,
                });
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: &str = "The malware collects the computer name and the user name of the victim.";

    #[test]
    fn prefix_plus_sentence_is_a_near_copy() {
        let index = ContainmentIndex::new(&[TEST, "Something else entirely, of six words."], 0.8);
        let hit = index
            .find(&format!("TrickBot {TEST}"))
            .expect("contained sentence");
        assert_eq!(hit.index, 0);
        assert_eq!(hit.containment, 1.0);
        // The other direction: a query inside a longer indexed text.
        let hit = index
            .find("the malware collects the computer name and the user")
            .expect("query contained in an indexed text");
        assert_eq!(hit.index, 0);
    }

    #[test]
    fn paraphrases_short_texts_and_case() {
        let index = ContainmentIndex::new(&[TEST], 0.8);
        assert!(
            index
                .find("It gathers the hostname and account name from infected hosts.")
                .is_none()
        );
        assert!(index.find("the malware collects").is_none(), "< 5 words");
        assert!(index.find(&TEST.to_uppercase()).is_some());
        assert!(ContainmentIndex::new(&[TEST], 1.01).find(TEST).is_none());
        assert!(ContainmentIndex::new::<&str>(&[], 0.8).find(TEST).is_none());
    }

    #[test]
    fn containment_arithmetic() {
        let a = shingles("one two three four five six"); // 2 shingles
        let b = shingles("one two three four five seven eight"); // 3 shingles
        assert_eq!(a.len(), 2);
        assert_eq!(containment(&a, &b), 0.5);
        assert_eq!(containment(&b, &a), 1.0 / 3.0);
        assert_eq!(containment(&[], &b), 0.0);
    }
}
