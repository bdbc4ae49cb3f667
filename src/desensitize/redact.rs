//! Typed, numbered placeholders for indicators, and the leak check of answers.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use aho_corasick::AhoCorasick;

use super::recognize::{IndicatorKind, RECOGNIZER, refang};

/// Longest placeholder number read back from an answer.
const MAX_PLACEHOLDER_DIGITS: usize = 6;

/// A typed, numbered stand-in for one indicator, written `<TAG_N>` (`<IP_1>`, `<DOMAIN_2>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Placeholder {
    /// What it stands for.
    pub kind: IndicatorKind,
    /// Its number, from 1, per kind.
    pub n: u32,
}

impl std::fmt::Display for Placeholder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{}_{}>", self.kind.tag(), self.n)
    }
}

/// The placeholders of one text (or one prompt): numbered by kind in order of first
/// appearance, the same value always getting the same placeholder.
#[derive(Debug, Default, Clone)]
pub struct Numbering {
    by_value: HashMap<(IndicatorKind, String), Placeholder>,
    next: BTreeMap<IndicatorKind, u32>,
    /// Each placeholder's original (refanged) value: kept locally, never sent.
    pub originals: BTreeMap<Placeholder, String>,
    /// Indicators replaced, by kind (every occurrence).
    pub replaced: BTreeMap<IndicatorKind, usize>,
    /// Occurrences replaced, by placeholder.
    pub occurrences: BTreeMap<Placeholder, usize>,
}

impl Numbering {
    /// `text` with every indicator replaced by its placeholder.
    pub fn redact(&mut self, text: &str) -> String {
        let found = RECOGNIZER.find(text);
        if found.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for ind in found {
            out.push_str(&text[at..ind.start]);
            let p = self.placeholder(ind.kind, &ind.value);
            *self.replaced.entry(ind.kind).or_default() += 1;
            *self.occurrences.entry(p).or_default() += 1;
            out.push_str(&p.to_string());
            at = ind.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// The placeholder of a value, numbering it if it is new.
    fn placeholder(&mut self, kind: IndicatorKind, value: &str) -> Placeholder {
        let key = (kind, value.to_ascii_lowercase());
        if let Some(p) = self.by_value.get(&key) {
            return *p;
        }
        let n = self.next.entry(kind).or_insert(0);
        *n += 1;
        let p = Placeholder { kind, n: *n };
        self.by_value.insert(key, p);
        self.originals.insert(p, value.to_string());
        p
    }
}

/// Every well-formed placeholder of `text` with its byte range, in order.
pub fn find_placeholders(text: &str) -> Vec<(Range<usize>, Placeholder)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'<') {
        let start = i + off;
        i = start + 1;
        let Some(len) = bytes[i..].iter().take(32).position(|&b| b == b'>') else {
            continue;
        };
        let inner = &text[i..i + len];
        if let Some(p) = parse_placeholder(inner) {
            out.push((start..i + len + 1, p));
            i += len + 1;
        }
    }
    out
}

/// `TAG_N` → the placeholder, for the tags of [`IndicatorKind`].
fn parse_placeholder(inner: &str) -> Option<Placeholder> {
    let (tag, n) = inner.rsplit_once('_')?;
    if n.is_empty() || n.len() > MAX_PLACEHOLDER_DIGITS || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kind = IndicatorKind::ALL.into_iter().find(|k| k.tag() == tag)?;
    Some(Placeholder {
        kind,
        n: n.parse().ok()?,
    })
}

/// The indicators of a run's input: counted by kind, and searched for in every answer.
#[derive(Debug, Default)]
pub struct Redaction {
    values: Vec<String>,
    search: Option<AhoCorasick>,
    /// Distinct indicators in the input, by kind.
    pub in_input: BTreeMap<IndicatorKind, usize>,
}

impl Redaction {
    /// Collects the indicators of `texts` (the input rows).
    pub fn new<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut seen: HashMap<String, IndicatorKind> = HashMap::new();
        for t in texts {
            for ind in RECOGNIZER.find(t) {
                seen.entry(ind.value.to_ascii_lowercase())
                    .or_insert(ind.kind);
            }
        }
        let mut in_input = BTreeMap::new();
        for kind in seen.values() {
            *in_input.entry(*kind).or_default() += 1;
        }
        let mut values: Vec<String> = seen.into_keys().collect();
        values.sort();
        // Only fails past size limits far beyond any dataset; then every answer is refused.
        let search = AhoCorasick::new(&values).ok();
        Self {
            values,
            search,
            in_input,
        }
    }

    /// An indicator of the input that `text` contains (refanged, any case, not inside a
    /// longer word or number), if any.
    pub fn leak(&self, text: &str) -> Option<&str> {
        if self.values.is_empty() {
            return None;
        }
        let hay = refang(text).to_ascii_lowercase();
        let Some(search) = &self.search else {
            return Some("(the input's indicators could not be indexed)");
        };
        let b = hay.as_bytes();
        let word = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_alphanumeric());
        search
            .find_overlapping_iter(&hay)
            .find(|m| {
                let before = m.start().checked_sub(1).is_some_and(word);
                !before && !word(m.end())
            })
            .map(|m| self.values[m.pattern().as_usize()].as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_typed_numbered_and_stable_per_value() {
        let mut n = Numbering::default();
        let a = n.redact("Beacons to 198.51.100.7 and evil[.]com, then 198.51.100.7 again.");
        assert_eq!(a, "Beacons to <IP_1> and <DOMAIN_1>, then <IP_1> again.");
        let b = n.redact("Later 203.0.113.9 and EVIL.com.");
        assert!(b.starts_with("Later <IP_2> and <DOMAIN_1>"), "{b}");
        assert_eq!(n.replaced[&IndicatorKind::Ipv4], 3);
        let ip1 = Placeholder {
            kind: IndicatorKind::Ipv4,
            n: 1,
        };
        assert_eq!(n.originals[&ip1], "198.51.100.7");
    }

    #[test]
    fn placeholders_are_found_back_in_answers() {
        let found = find_placeholders("x <IP_12> <FOO_1> <DOMAIN_> <<URL_3> <SHA256_1>");
        let shown: Vec<String> = found.iter().map(|(_, p)| p.to_string()).collect();
        assert_eq!(shown, ["<IP_12>", "<URL_3>", "<SHA256_1>"]);
        for (r, p) in &found {
            let text = "x <IP_12> <FOO_1> <DOMAIN_> <<URL_3> <SHA256_1>";
            assert_eq!(text[r.clone()], p.to_string());
        }
        assert!(find_placeholders("<IP_1234567>").is_empty());
        assert!(find_placeholders("a < b > c <").is_empty());
    }

    #[test]
    fn leaks_are_input_indicators_in_any_form() {
        let r =
            Redaction::new(["The loader fetched hxxp://bad-cdn[.]net/a.bin from 198.51.100.7."]);
        assert!(r.in_input.values().sum::<usize>() >= 2, "{:?}", r.in_input);
        assert!(r.leak("It connected to 198.51.100.7 over TLS.").is_some());
        assert!(r.leak("It connected to 198.51.100[.]7 over TLS.").is_some());
        assert!(
            r.leak("Payloads came from HXXP://BAD-CDN[.]NET/a.bin.")
                .is_some()
        );
        assert_eq!(r.leak("It connected to 198.51.100.71 over TLS."), None);
        assert_eq!(r.leak("It connected to <IP_1> over TLS."), None);
        assert_eq!(
            Redaction::new(["no indicators here"]).leak("198.51.100.7"),
            None
        );
    }
}
