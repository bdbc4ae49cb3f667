//! The MITRE ATT&CK Enterprise catalog: technique names, tactics and descriptions, the
//! revoked/deprecated id map, and the real procedure examples of each technique.
//!
//! The bundled copies (ATT&CK v18.1, see `data/LICENSES.md`) are compiled into the binary, so
//! the tool works from any directory; [`Catalog::from_files`] reads another version.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::technique::TechniqueId;

const BUNDLED_TECHNIQUES: &str = include_str!("../data/attack_techniques.csv");
const BUNDLED_REVOKED: &str = include_str!("../data/attack_revoked.csv");
const BUNDLED_PROCEDURES: &str = include_str!("../data/attack_procedures.csv");

/// Errors while reading a catalog file.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be opened or read.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A record is malformed.
    #[error("{path}: line {line}: {problem}")]
    Record {
        /// The file.
        path: PathBuf,
        /// 1-based line of the record.
        line: u64,
        /// What is wrong.
        problem: String,
    },
}

/// One ATT&CK technique or sub-technique.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Technique {
    /// Id such as `T1003` or `T1003.001`.
    pub id: TechniqueId,
    /// Name, e.g. `OS Credential Dumping`.
    pub name: String,
    /// Tactics (kill-chain phases), e.g. `credential-access`.
    pub tactics: Vec<String>,
    /// The ATT&CK description.
    pub description: String,
    /// Whether this is a sub-technique.
    pub is_subtechnique: bool,
}

/// What the catalog says about a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// An active technique.
    Active,
    /// A revoked id with its active replacement.
    Remapped(TechniqueId),
    /// A deprecated id with no replacement.
    Deprecated,
    /// Not an ATT&CK Enterprise id at all.
    Unknown,
}

/// The technique catalog and the revoked/deprecated map.
#[derive(Debug, Clone)]
pub struct Catalog {
    techniques: BTreeMap<TechniqueId, Technique>,
    replaced: HashMap<TechniqueId, Option<TechniqueId>>,
}

#[derive(Deserialize)]
struct TechniqueRecord {
    id: String,
    name: String,
    tactics: String,
    description: String,
    is_subtechnique: String,
}

#[derive(Deserialize)]
struct RevokedRecord {
    id: String,
    #[allow(dead_code)]
    status: String,
    replaced_by: String,
}

#[derive(Deserialize)]
struct ProcedureRecord {
    technique_id: String,
    #[allow(dead_code)]
    source_type: String,
    text: String,
}

/// Reads every record of a CSV source, turning csv errors into [`CatalogError::Record`].
fn read_records<T: serde::de::DeserializeOwned>(
    reader: impl Read,
    path: &Path,
) -> Result<Vec<T>, CatalogError> {
    let mut out = Vec::new();
    let mut rdr = csv::Reader::from_reader(reader);
    for result in rdr.deserialize::<T>() {
        let record = result.map_err(|e| CatalogError::Record {
            path: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line()),
            problem: e.to_string(),
        })?;
        out.push(record);
    }
    Ok(out)
}

fn open(path: &Path) -> Result<std::fs::File, CatalogError> {
    std::fs::File::open(path).map_err(|source| CatalogError::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl Catalog {
    /// The bundled ATT&CK Enterprise v18.1 catalog, parsed once per process.
    pub fn bundled() -> &'static Self {
        static CATALOG: std::sync::LazyLock<Catalog> = std::sync::LazyLock::new(|| {
            Catalog::parse(
                BUNDLED_TECHNIQUES.as_bytes(),
                BUNDLED_REVOKED.as_bytes(),
                Path::new("<bundled attack_techniques.csv>"),
                Path::new("<bundled attack_revoked.csv>"),
            )
            .expect("the bundled catalog is valid (checked by tests)")
        });
        &CATALOG
    }

    /// Reads a catalog from `attack_techniques.csv` (`id,name,tactics,description,is_subtechnique`)
    /// and `attack_revoked.csv` (`id,status,replaced_by`) files.
    pub fn from_files(techniques: &Path, revoked: &Path) -> Result<Self, CatalogError> {
        Self::parse(open(techniques)?, open(revoked)?, techniques, revoked)
    }

    fn parse(
        techniques: impl Read,
        revoked: impl Read,
        techniques_path: &Path,
        revoked_path: &Path,
    ) -> Result<Self, CatalogError> {
        let techniques = read_records::<TechniqueRecord>(techniques, techniques_path)?
            .into_iter()
            .map(|r| {
                let t = Technique {
                    id: r.id.trim().into(),
                    name: r.name.trim().to_string(),
                    tactics: r
                        .tactics
                        .split([',', ';'])
                        .map(|t| t.trim().to_string())
                        .filter(|t| !t.is_empty())
                        .collect(),
                    description: r.description.trim().to_string(),
                    is_subtechnique: matches!(r.is_subtechnique.trim(), "True" | "true" | "1"),
                };
                (t.id.clone(), t)
            })
            .collect();
        let replaced = read_records::<RevokedRecord>(revoked, revoked_path)?
            .into_iter()
            .map(|r| {
                let to = r.replaced_by.trim();
                (
                    TechniqueId::from(r.id.trim()),
                    (!to.is_empty()).then(|| TechniqueId::from(to)),
                )
            })
            .collect();
        Ok(Self {
            techniques,
            replaced,
        })
    }

    /// The technique with this (active) id.
    pub fn get(&self, id: &str) -> Option<&Technique> {
        self.techniques.get(id)
    }

    /// The technique's name, or the id itself when it is not in the catalog.
    pub fn name_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.get(id).map_or(id, |t| t.name.as_str())
    }

    /// Number of active techniques and sub-techniques.
    pub fn len(&self) -> usize {
        self.techniques.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.techniques.is_empty()
    }

    /// All active techniques, ordered by id.
    pub fn techniques(&self) -> impl Iterator<Item = &Technique> {
        self.techniques.values()
    }

    /// What the catalog says about `id` (already normalised, e.g. `T1574.002`).
    pub fn resolve(&self, id: &str) -> Resolution {
        if self.techniques.contains_key(id) {
            return Resolution::Active;
        }
        match self.replaced.get(id) {
            Some(Some(to)) if self.techniques.contains_key(to) => Resolution::Remapped(to.clone()),
            Some(_) => Resolution::Deprecated,
            None => Resolution::Unknown,
        }
    }
}

/// Real ATT&CK procedure examples ("APT29 has used …"), grouped by technique id.
#[derive(Debug, Clone, Default)]
pub struct Procedures {
    by_technique: HashMap<TechniqueId, Vec<String>>,
}

impl Procedures {
    /// The bundled ATT&CK v18.1 procedure examples (16,017 sentences for 599 techniques),
    /// parsed once per process.
    pub fn bundled() -> &'static Self {
        static PROCEDURES: std::sync::LazyLock<Procedures> = std::sync::LazyLock::new(|| {
            Procedures::parse(
                BUNDLED_PROCEDURES.as_bytes(),
                Path::new("<bundled attack_procedures.csv>"),
            )
            .expect("the bundled procedures are valid (checked by tests)")
        });
        &PROCEDURES
    }

    /// Reads `technique_id,source_type,text` records from a file.
    pub fn from_file(path: &Path) -> Result<Self, CatalogError> {
        Self::parse(open(path)?, path)
    }

    fn parse(reader: impl Read, path: &Path) -> Result<Self, CatalogError> {
        let mut by_technique: HashMap<TechniqueId, Vec<String>> = HashMap::new();
        for r in read_records::<ProcedureRecord>(reader, path)? {
            let text = r.text.trim();
            if !text.is_empty() {
                by_technique
                    .entry(TechniqueId::from(r.technique_id.trim()))
                    .or_default()
                    .push(text.to_string());
            }
        }
        Ok(Self { by_technique })
    }

    /// The procedure examples of a technique (empty when there are none).
    pub fn of(&self, technique: &str) -> &[String] {
        self.by_technique.get(technique).map_or(&[], Vec::as_slice)
    }

    /// Total number of procedure examples.
    pub fn len(&self) -> usize {
        self.by_technique.values().map(Vec::len).sum()
    }

    /// Whether there are no procedure examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_catalog_loads() {
        let c = Catalog::bundled();
        assert_eq!(c.len(), 691);
        let t = c.get("T1003").unwrap();
        assert_eq!(t.name, "OS Credential Dumping");
        assert!(t.tactics.contains(&"credential-access".to_string()));
        assert_eq!(
            c.resolve("T1574.002"),
            Resolution::Remapped("T1574.001".into())
        );
        assert_eq!(c.resolve("T1026"), Resolution::Deprecated);
        assert_eq!(c.resolve("T9999"), Resolution::Unknown);
    }

    #[test]
    fn bundled_procedures_load() {
        let p = Procedures::bundled();
        assert_eq!(p.len(), 16_017);
        assert!(p.of("T1012").len() >= 100);
        assert!(p.of("T0000").is_empty());
    }
}
