//! [`TechniqueId`]: the ATT&CK technique id every label, cluster, plan and report row carries.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// An ATT&CK technique id such as `T1003` or `T1003.001`.
///
/// Loaders build it with [`TechniqueId::parse`], which checks the shape; `From<&str>` takes an
/// id as it is (catalog files, tests). It reads as a `&str` (`Deref`, `Borrow<str>`), so maps
/// keyed by it are looked up with plain strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TechniqueId(String);

impl TechniqueId {
    /// Normalises an id as written in datasets: trims, upper-cases, and checks the
    /// `T####` / `T####.###` shape. `None` when it is not an ATT&CK technique id.
    pub fn parse(raw: &str) -> Option<Self> {
        let id = raw.trim().to_ascii_uppercase();
        let bytes = id.as_bytes();
        let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
        let ok = match bytes {
            [b'T', rest @ ..] if rest.len() == 4 => digits(rest),
            [b'T', rest @ ..] if rest.len() == 8 => {
                digits(&rest[..4]) && rest[4] == b'.' && digits(&rest[5..])
            }
            _ => false,
        };
        ok.then_some(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parent technique (`T1003` for `T1003.001`; itself for a parent).
    pub fn parent(&self) -> &str {
        self.0.split('.').next().unwrap_or(&self.0)
    }

    /// Whether both ids belong to the same parent technique.
    pub fn same_family(&self, other: &str) -> bool {
        self.parent() == other.split('.').next().unwrap_or(other)
    }
}

impl Deref for TechniqueId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TechniqueId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TechniqueId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TechniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl From<&str> for TechniqueId {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl From<String> for TechniqueId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<TechniqueId> for String {
    fn from(id: TechniqueId) -> Self {
        id.0
    }
}

impl PartialEq<str> for TechniqueId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for TechniqueId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<&str> for TechniqueId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Every ATT&CK technique id mentioned in `text` (e.g. `T1059` or `T1059.001`), in order.
pub fn technique_ids_in(text: &str) -> Vec<TechniqueId> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if boundary && bytes[i] == b'T' && i + 5 <= bytes.len() {
            let four = &bytes[i + 1..i + 5];
            if four.iter().all(u8::is_ascii_digit) {
                let mut end = i + 5;
                if end + 4 <= bytes.len()
                    && bytes[end] == b'.'
                    && bytes[end + 1..end + 4].iter().all(u8::is_ascii_digit)
                {
                    end += 4;
                }
                let after_ok = end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
                if after_ok {
                    out.push(TechniqueId(text[i..end].to_string()));
                    i = end;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_normalised() {
        let p = |s: &str| TechniqueId::parse(s).map(String::from);
        assert_eq!(p(" t1003.001 "), Some("T1003.001".into()));
        assert_eq!(p("T1003"), Some("T1003".into()));
        assert_eq!(p("T100"), None);
        assert_eq!(p("T1003.01"), None);
        assert_eq!(p("credential dumping"), None);
    }

    #[test]
    fn ids_are_found_in_text() {
        assert_eq!(
            technique_ids_in("Uses T1059.001 and T1003, not XT1000 or T12345."),
            vec!["T1059.001", "T1003"]
        );
        assert!(technique_ids_in("no ids here").is_empty());
    }

    #[test]
    fn families_and_lookups() {
        let id = TechniqueId::from("T1003.001");
        assert_eq!(id.parent(), "T1003");
        assert!(id.same_family("T1003"));
        assert!(!id.same_family("T1059.001"));
        let map: std::collections::BTreeMap<TechniqueId, u8> = [(id.clone(), 1)].into();
        assert_eq!(map.get("T1003.001"), Some(&1));
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"T1003.001\"");
        assert_eq!(format!("{id:<11}|"), "T1003.001  |", "tables pad ids");
    }
}
