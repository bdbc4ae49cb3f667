//! Surrogate indicators: valid-looking values from reserved ranges that fill placeholders,
//! so that rows read like real CTI without carrying a real indicator.
//!
//! IPv4 from the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24), IPv6
//! from 2001:db8::/32, domains, URLs and e-mail addresses under `example.com|net|org`, hashes
//! of the right length, Bitcoin addresses with a valid checksum over random bytes, Monero
//! addresses of the right shape. Paths and registry keys keep their well-known components
//! (`C:\Windows\System32`, `HKCU\Software\Microsoft\Windows\CurrentVersion\Run`) and the file
//! extension; everything else is replaced. Each value is a function of the seed, a scope (e.g.
//! the request) and the placeholder, so reruns and resumed runs give the same rows.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use sha2::{Digest, Sha256};

use super::recognize::IndicatorKind;
use super::redact::{Placeholder, find_placeholders};

/// Neutral words for surrogate names.
const WORDS: &[&str] = &[
    "update", "cdn", "mail", "portal", "secure", "files", "login", "sync", "static", "docs",
    "cloud", "news", "store", "api", "data", "help", "media", "assets", "backup", "service",
    "report", "office", "share", "check", "track", "host", "node", "relay", "drive", "vault",
];

/// Path components kept as they are (lower case).
const KNOWN_DIRS: &[&str] = &[
    "%appdata%",
    "%localappdata%",
    "%programdata%",
    "%public%",
    "%systemroot%",
    "%temp%",
    "%tmp%",
    "%userprofile%",
    "%windir%",
    ".ssh",
    "appdata",
    "bin",
    "c:",
    "cron.d",
    "dev",
    "etc",
    "home",
    "lib",
    "local",
    "locallow",
    "microsoft",
    "opt",
    "perflogs",
    "program files",
    "program files (x86)",
    "programdata",
    "programs",
    "public",
    "recycler",
    "roaming",
    "root",
    "sbin",
    "shm",
    "start menu",
    "startup",
    "syswow64",
    "system32",
    "tasks",
    "temp",
    "tmp",
    "users",
    "usr",
    "var",
    "windows",
];

/// Registry key components kept as they are (lower case).
const KNOWN_KEYS: &[&str] = &[
    "classes",
    "control",
    "currentcontrolset",
    "currentversion",
    "environment",
    "explorer",
    "hkcc",
    "hkcr",
    "hkcu",
    "hkcu:",
    "hkey_classes_root",
    "hkey_current_config",
    "hkey_current_user",
    "hkey_local_machine",
    "hkey_users",
    "hklm",
    "hklm:",
    "hku",
    "image file execution options",
    "microsoft",
    "policies",
    "run",
    "runonce",
    "services",
    "shell folders",
    "software",
    "system",
    "user shell folders",
    "windows",
    "windows nt",
    "winlogon",
    "wow6432node",
];

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Seeded surrogate values.
#[derive(Debug, Clone, Copy)]
pub struct Surrogates {
    seed: u64,
}

impl Surrogates {
    /// Surrogates of a run with this seed.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// `text` with each placeholder replaced by its surrogate (the same placeholder, the same
    /// value within a scope); `originals` gives the style of paths, URLs and registry keys.
    /// Counts what it filled into `filled`.
    pub fn fill(
        &self,
        text: &str,
        scope: &str,
        originals: &BTreeMap<Placeholder, String>,
        filled: &mut BTreeMap<IndicatorKind, usize>,
    ) -> String {
        let found = find_placeholders(text);
        let mut out = String::with_capacity(text.len() + 16 * found.len());
        let mut at = 0;
        for (range, p) in found {
            out.push_str(&text[at..range.start]);
            out.push_str(&self.value(scope, p, originals.get(&p).map(String::as_str)));
            *filled.entry(p.kind).or_default() += 1;
            at = range.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// The surrogate of one placeholder in a scope.
    pub fn value(&self, scope: &str, p: Placeholder, original: Option<&str>) -> String {
        let mut h = Sha256::new();
        h.update(self.seed.to_le_bytes());
        h.update(scope.as_bytes());
        h.update(p.to_string().as_bytes());
        let d = h.finalize();
        let mut rng = Xoshiro256PlusPlus::from_seed(d.into());
        let rng = &mut rng;
        match p.kind {
            IndicatorKind::Ipv4 => ipv4(rng),
            IndicatorKind::Ipv6 => format!(
                "2001:db8:{:x}::{:x}",
                rng.gen_range(1..0xffffu32),
                rng.gen_range(1..0xffffu32)
            ),
            IndicatorKind::Domain => domain(rng),
            IndicatorKind::Url => url(rng, original),
            IndicatorKind::Email => format!("{}.{}@{}", word(rng), word(rng), domain(rng)),
            IndicatorKind::Md5 => hex(rng, 16),
            IndicatorKind::Sha1 => hex(rng, 20),
            IndicatorKind::Sha256 => hex(rng, 32),
            IndicatorKind::Sha512 => hex(rng, 64),
            IndicatorKind::FilePath => path(rng, original.unwrap_or("C:\\x.exe")),
            IndicatorKind::RegistryKey => registry_key(rng, original.unwrap_or("HKCU\\Software")),
            IndicatorKind::Bitcoin => bitcoin(rng),
            IndicatorKind::Monero => monero(rng),
        }
    }
}

fn word(rng: &mut Xoshiro256PlusPlus) -> &'static str {
    WORDS[rng.gen_range(0..WORDS.len())]
}

fn ipv4(rng: &mut Xoshiro256PlusPlus) -> String {
    let net = ["192.0.2", "198.51.100", "203.0.113"][rng.gen_range(0..3)];
    format!("{net}.{}", rng.gen_range(1..255))
}

fn domain(rng: &mut Xoshiro256PlusPlus) -> String {
    let tld = ["com", "net", "org"][rng.gen_range(0..3)];
    format!("{}-{}.example.{tld}", word(rng), word(rng))
}

fn url(rng: &mut Xoshiro256PlusPlus, original: Option<&str>) -> String {
    let scheme = original
        .and_then(|o| o.split_once("://"))
        .map(|(s, _)| s.to_ascii_lowercase())
        .filter(|s| ["http", "https", "ftp"].contains(&s.as_str()))
        .unwrap_or_else(|| "https".into());
    format!("{scheme}://{}/{}/{}.php", domain(rng), word(rng), word(rng))
}

fn hex(rng: &mut Xoshiro256PlusPlus, bytes: usize) -> String {
    let b: Vec<u8> = (0..bytes).map(|_| rng.r#gen()).collect();
    hex::encode(b)
}

/// The well-known leading components of `original`, then a random name with its extension.
fn path(rng: &mut Xoshiro256PlusPlus, original: &str) -> String {
    let windows = !original.starts_with(['/', '~']);
    let sep = if windows { '\\' } else { '/' };
    let parts: Vec<&str> = original.split(['\\', '/']).collect();
    let (dirs, file) = parts.split_at(parts.len().saturating_sub(1));
    let mut out: Vec<String> = dirs
        .iter()
        .take_while(|d| {
            d.is_empty() || *d == &"~" || KNOWN_DIRS.contains(&d.to_lowercase().as_str())
        })
        .map(|d| d.to_string())
        .collect();
    if out.iter().all(String::is_empty) {
        // A bare name: under a well-known root, so that it still reads as a path.
        out = match windows {
            true => vec!["C:".into(), "Users".into(), "Public".into()],
            false => vec![String::new(), "tmp".into()],
        };
    }
    let ext = file
        .first()
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, e)| e)
        .filter(|e| (1..=5).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric()));
    let name = match ext {
        Some(e) => format!("{}{}.{e}", word(rng), rng.gen_range(1..100)),
        None => word(rng).to_string(),
    };
    out.push(name);
    out.join(&sep.to_string())
}

/// The well-known leading components of a registry key, then one random name.
fn registry_key(rng: &mut Xoshiro256PlusPlus, original: &str) -> String {
    let mut out: Vec<String> = original
        .split('\\')
        .take_while(|c| KNOWN_KEYS.contains(&c.to_lowercase().as_str()))
        .map(str::to_string)
        .collect();
    if out.is_empty() {
        out.push("HKCU".into());
        out.push("Software".into());
    }
    let name = word(rng);
    let mut name = name.to_string();
    name[..1].make_ascii_uppercase();
    out.push(name);
    out.join("\\")
}

/// A legacy (P2PKH) address: version 0, 20 random bytes and a valid checksum.
fn bitcoin(rng: &mut Xoshiro256PlusPlus) -> String {
    let mut payload = vec![0u8];
    payload.extend((0..20).map(|_| rng.r#gen::<u8>()));
    let check = Sha256::digest(Sha256::digest(&payload));
    payload.extend_from_slice(&check[..4]);
    base58(&payload)
}

/// A standard Monero address shape: `4`, then 94 base58 characters (no valid checksum).
fn monero(rng: &mut Xoshiro256PlusPlus) -> String {
    let mut s = String::from("4");
    s.push(['4', '8', '9', 'A', 'B'][rng.gen_range(0..5)]);
    s.extend((0..93).map(|_| BASE58[rng.gen_range(0..BASE58.len())] as char));
    s
}

fn base58(bytes: &[u8]) -> String {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    let mut digits: Vec<u8> = Vec::new();
    for &b in bytes {
        let mut carry = b as u32;
        for d in digits.iter_mut() {
            carry += (*d as u32) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut s: String = "1".repeat(zeros);
    s.extend(digits.iter().rev().map(|&d| BASE58[d as usize] as char));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desensitize::RECOGNIZER;

    fn one(kind: IndicatorKind, original: Option<&str>, seed: u64) -> String {
        Surrogates::new(seed).value("scope", Placeholder { kind, n: 1 }, original)
    }

    #[test]
    fn every_surrogate_is_recognized_as_its_kind() {
        for kind in IndicatorKind::ALL {
            for seed in 0..20 {
                let v = one(kind, None, seed);
                let text = format!("The actor used {v} during the intrusion.");
                let found = RECOGNIZER.find(&text);
                assert_eq!(found.len(), 1, "{kind:?}: {text} → {found:?}");
                assert_eq!(found[0].kind, kind, "{text}");
            }
        }
    }

    #[test]
    fn surrogates_come_from_reserved_ranges_and_are_seeded() {
        for seed in 0..50 {
            let ip = one(IndicatorKind::Ipv4, None, seed);
            assert!(
                ["192.0.2.", "198.51.100.", "203.0.113."]
                    .iter()
                    .any(|n| ip.starts_with(n)),
                "{ip}"
            );
            assert!(one(IndicatorKind::Ipv6, None, seed).starts_with("2001:db8:"));
            assert!(one(IndicatorKind::Domain, None, seed).contains(".example."));
            assert_eq!(one(IndicatorKind::Sha256, None, seed).len(), 64);
        }
        assert_eq!(
            one(IndicatorKind::Url, None, 3),
            one(IndicatorKind::Url, None, 3)
        );
        assert_ne!(
            one(IndicatorKind::Url, None, 3),
            one(IndicatorKind::Url, None, 4)
        );
    }

    #[test]
    fn paths_and_keys_keep_their_well_known_parts_only() {
        let p = one(
            IndicatorKind::FilePath,
            Some("C:\\Users\\jsmith\\AppData\\x.dll"),
            1,
        );
        assert!(p.starts_with("C:\\Users\\") && p.ends_with(".dll") && !p.contains("jsmith"));
        let p = one(IndicatorKind::FilePath, Some("/tmp/.hidden/agent"), 1);
        assert!(p.starts_with("/tmp/") && !p.contains("hidden"), "{p}");
        for bare in ["/tmp", "/agent", "agent.exe", "\\\\srv\\share\\x.dll"] {
            let p = one(IndicatorKind::FilePath, Some(bare), 2);
            let found = RECOGNIZER.find(&format!("It was written to {p} first."));
            assert_eq!(found.len(), 1, "{bare} → {p}");
            assert_eq!(found[0].kind, IndicatorKind::FilePath, "{bare} → {p}");
        }
        let k = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\EvilCorpAgent";
        let k = one(IndicatorKind::RegistryKey, Some(k), 1);
        assert!(k.starts_with("HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\"));
        assert!(!k.contains("EvilCorp"), "{k}");
    }

    #[test]
    fn fill_replaces_each_placeholder_consistently() {
        let s = Surrogates::new(7);
        let mut filled = BTreeMap::new();
        let out = s.fill(
            "From <IP_1> to <DOMAIN_1>, then back to <IP_1>.",
            "req-1",
            &BTreeMap::new(),
            &mut filled,
        );
        assert!(!out.contains('<'), "{out}");
        let ips: Vec<_> = RECOGNIZER
            .find(&out)
            .into_iter()
            .filter(|i| i.kind == IndicatorKind::Ipv4)
            .collect();
        assert_eq!(ips.len(), 2);
        assert_eq!(ips[0].value, ips[1].value);
        assert_eq!(filled[&IndicatorKind::Ipv4], 2);
    }

    #[test]
    fn bitcoin_surrogates_have_a_valid_checksum_shape() {
        let a = one(IndicatorKind::Bitcoin, None, 9);
        assert!(a.starts_with('1') && (26..=35).contains(&a.len()), "{a}");
    }
}
