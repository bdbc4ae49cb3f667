//! Indicator-of-compromise (IOC) recognizer.
//!
//! [`Recognizer::find`] returns the indicators of a text — IPv4/IPv6 addresses, domains, URLs,
//! e-mail addresses, MD5/SHA-1/SHA-256/SHA-512 hashes, Windows and Unix file paths, registry
//! keys, Bitcoin and Monero addresses — with their byte ranges, the text as written and a
//! refanged, canonical value. Defanged forms (`evil[.]com`, `hxxp://`, `[@]`, `1.2.3[.]4`)
//! are recognized and refanged ([`refang`]), and so are regex escapes (`10\.10\.10\.10`),
//! half brackets (`example[.com`, `example.]com`) and spaced at signs (`user @ x[.]com`,
//! `user at x[dot]com`).
//!
//! # How
//!
//! One regex — an alternation of every kind, most specific first — finds candidates in a
//! single leftmost-first pass (linear time; ASCII word boundaries, as Unicode ones would stop
//! the lazy DFA on non-ASCII text). Each candidate is then classified by its shape and
//! validated in plain code: known top-level domain, octets ≤ 255, base58check checksum, hash
//! length as a whole word, file extension versus domain, version-number context. Candidates
//! never overlap: at one position the more specific alternative wins (a URL swallows its
//! host, an e-mail its domain, a path the file name in it). A rejected candidate gives back
//! what it holds — the hash of `<md5>.exe`, the addresses of `192.0.2.1-192.0.2.9` and of
//! `root@192.0.2.1`, the host of `tcp://192.0.2.1:4444` — scanning no byte more than twice.
//!
//! # Values
//!
//! * IPv4: dotted quad, with `:port` or `/cidr` when written (`198.51.100.7:8080`).
//! * IPv6: RFC 5952 form (`2001:db8::1`), with `/cidr` when written.
//! * Domain: lower case, with `:port` when written.
//! * URL: scheme refanged and lower case (`hxxps` → `https`, `fxp` → `ftp`), host lower
//!   case, the rest as written but refanged; `evil.com/gate.php` (no scheme) is a URL too.
//! * E-mail: local part as written, domain lower case.
//! * Hashes and bech32 addresses: lower case. Paths, registry keys, legacy Bitcoin and
//!   Monero addresses: as written.
//!
//! # Limits
//!
//! * A dotted word ending in a file extension that is also a TLD (`.sh`, `.py`, `.zip`,
//!   `.app`, ...) is a file name unless defanged or inside a URL or e-mail address:
//!   `transfer.sh` and `x.vercel.app` written plainly are missed.
//! * Spaces in paths and keys: a directory may hold spaces (up to three, any case) when a
//!   backslash follows it (`Program Files\`, `john doe\`, `Windows NT\`); the last
//!   component ends at a space unless it is a well-known name (`Windows Defender`) or a
//!   file name whose later words are capitalised and which ends in a known extension
//!   (`Google Update.exe`): `C:\Temp then ran x.exe` gives `C:\Temp`, and `my invoice.pdf`
//!   as a last component is cut after `my`. A hive may be written `<HKCU>` (value `HKCU\…`).
//! * A domain written with capitals needs them everywhere (`EVIL.COM`), in no label but the
//!   TLD, or only in the TLD when the TLD is one of `CASED_TLDS` (`evil.Com`, `bar.COM`);
//!   `file.It`, `System.IO` are prose.
//! * `a:b:c…` groups of exactly two hex digits without `::` (serials, thumbprints, MACs) and
//!   the tail of a longer colon-hex run are no IPv6 address; `::1` alone is.
//! * A bare ` at ` is an at sign only before a `[dot]`-style domain and after a word that is
//!   no prose (`hosted at evil[dot]com` is the domain).
//! * A closing bracket that closes nothing in a host or URL ends it (`[url](url)` is two
//!   URLs; `wiki/A_(b)` keeps its brackets).
//! * Bech32 addresses are checked for charset and length only, Monero addresses for shape.
//! * Only http(s) and ftp schemes (and their defanged forms) make URLs; other schemes give
//!   their host, defanged or not (`tcp://192.0.2.1:4444` → the IPv4 address and port,
//!   `sftp://exfil[.]net/up` → `exfil.net/up`).

use std::net::Ipv6Addr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What an indicator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IndicatorKind {
    /// IPv4 address, optionally with `:port` or `/cidr`.
    Ipv4,
    /// IPv6 address, full or `::`-compressed, optionally with `/cidr`.
    Ipv6,
    /// Domain name with a known top-level domain.
    Domain,
    /// URL (http, https, ftp and their defanged forms; or a host followed by a path).
    Url,
    /// E-mail address.
    Email,
    /// MD5 hash (32 hex digits).
    Md5,
    /// SHA-1 hash (40 hex digits).
    Sha1,
    /// SHA-256 hash (64 hex digits).
    Sha256,
    /// SHA-512 hash (128 hex digits).
    Sha512,
    /// Windows or Unix file path.
    FilePath,
    /// Windows registry key.
    RegistryKey,
    /// Bitcoin address (legacy base58check or bech32).
    Bitcoin,
    /// Monero address.
    Monero,
}

impl IndicatorKind {
    /// Every kind, in declaration order.
    pub const ALL: [IndicatorKind; 13] = [
        Self::Ipv4,
        Self::Ipv6,
        Self::Domain,
        Self::Url,
        Self::Email,
        Self::Md5,
        Self::Sha1,
        Self::Sha256,
        Self::Sha512,
        Self::FilePath,
        Self::RegistryKey,
        Self::Bitcoin,
        Self::Monero,
    ];

    /// Placeholder tag: IP, IPV6, DOMAIN, URL, EMAIL, MD5, SHA1, SHA256, SHA512, PATH, REGKEY,
    /// BTC, XMR.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Ipv4 => "IP",
            Self::Ipv6 => "IPV6",
            Self::Domain => "DOMAIN",
            Self::Url => "URL",
            Self::Email => "EMAIL",
            Self::Md5 => "MD5",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
            Self::FilePath => "PATH",
            Self::RegistryKey => "REGKEY",
            Self::Bitcoin => "BTC",
            Self::Monero => "XMR",
        }
    }

    /// The kebab-case name, as in serde (`ipv4`, `file-path`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::Domain => "domain",
            Self::Url => "url",
            Self::Email => "email",
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
            Self::FilePath => "file-path",
            Self::RegistryKey => "registry-key",
            Self::Bitcoin => "bitcoin",
            Self::Monero => "monero",
        }
    }
}

/// One indicator found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Indicator {
    /// What it is.
    pub kind: IndicatorKind,
    /// Start of its byte range in the input.
    pub start: usize,
    /// End (exclusive) of its byte range in the input.
    pub end: usize,
    /// The text as written (possibly defanged): `input[start..end]`.
    pub raw: String,
    /// Refanged, canonical value (`hxxp://evil[.]com` → `http://evil.com`; hashes lower case).
    pub value: String,
}

/// Compiled once (the regex is built in [`Recognizer::new`]); `Send + Sync`, cheap to share
/// and usable from many threads at once.
#[derive(Debug, Clone)]
pub struct Recognizer {
    scan: Regex,
}

/// One shared instance.
pub static RECOGNIZER: LazyLock<Recognizer> = LazyLock::new(Recognizer::new);

impl Default for Recognizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Recognizer {
    /// Compiles the candidate regex.
    pub fn new() -> Self {
        let scan = Regex::new(&scan_pattern()).expect("the IOC pattern is a valid regex");
        Self { scan }
    }

    /// Non-overlapping indicators of `text`, sorted by start. Where candidates overlap, the
    /// longer / more specific wins (a URL swallows its domain and IP; an e-mail its domain).
    pub fn find(&self, text: &str) -> Vec<Indicator> {
        let mut out = Vec::new();
        self.scan_range(text, 0, text.len(), true, &mut out);
        out
    }

    /// Classifies the candidates of `text[from..to]` (the haystack ends at `to`). With
    /// `split`, a host or URL candidate is cut before each closing bracket that opens
    /// nothing in it (`[https://a/x](https://a/x)`: two URLs) and each piece is scanned on
    /// its own, bounded by its end, so every byte is scanned at most twice more (linear).
    fn scan_range(
        &self,
        text: &str,
        from: usize,
        to: usize,
        split: bool,
        out: &mut Vec<Indicator>,
    ) {
        let hay = &text[..to];
        let mut at = from;
        while let Some(m) = self.scan.find_at(hay, at) {
            let (start, end) = (m.start(), m.end());
            let cuts = if split {
                unbalanced_closers(&text.as_bytes()[start..end])
            } else {
                Vec::new()
            };
            if !cuts.is_empty() {
                let mut piece = start;
                for cut in cuts.into_iter().map(|c| start + c).chain([end]) {
                    self.scan_range(text, piece, cut, false, out);
                    piece = cut;
                }
                at = end;
                continue;
            }
            at = match classify(text, start, end, out) {
                Next::After => end,
                // always on the right of the start; what is scanned again is scanned once
                // more at most (linear)
                Next::At(p) => p.max(start + 1),
            };
        }
    }
}

// ---------------------------------------------------------------------------------------
// The candidate pattern
// ---------------------------------------------------------------------------------------

/// A DNS label: letters, digits, inner hyphens; underscores too (`my_host`, `_ldap._tcp`:
/// host names of internal machines and SRV records).
const LABEL: &str = r"[A-Za-z0-9_](?:[A-Za-z0-9_\-]*[A-Za-z0-9])?";
/// A dot, plain or defanged: `.`, `[.]`, `(.)`, `{.}`, `[dot]`, ` [.] `; escaped as in a
/// regex (`\.`); half-bracketed (`[.`, `.]`).
const DOT: &str = r"(?:\.|\\\.|\[\.|\.\]|\x20?[\[({](?:\.|[dD][oO][tT])[\])}]\x20?)";
/// An at sign, plain or defanged: `@`, `[@]`, `[at]`, ` (at) `; spaced (` @ `) or a bare
/// word (` at `: accepted by [`email`] only in front of a `[dot]`-style domain).
const AT: &str = r"(?:@|\x20?[\[({](?:@|[aA][tT])[\])}]\x20?|\x20@\x20|\x20(?:at|AT)\x20)";
/// A port after a host, plain or defanged (`:8080`, `[:]8080`).
const PORT: &str = r"(?:(?::|\[:\])[0-9]{1,5})";
/// URL schemes, defanged ones included: http, https, ftp, hxxp, hXXps, fxp.
const SCHEME: &str = r"(?:[hH][tTxX]{2}[pP][sS]?|[fF][tTxX][pP])";
/// `://` and its defanged forms `[:]//`, `(:)//`, `[://]`, `[:/]/`.
const COLON_SLASHES: &str = r"(?:(?::|\[:\]|\(:\)|\{:\})//|\[://\]|\[:/\]/)";
/// A character of a URL (RFC 3986 unreserved, reserved and `%`; letters of the Latin,
/// Greek and Cyrillic scripts, not CJK text that follows without a space).
const URL_CHAR: &str = r"[A-Za-z0-9\-._~:/?#\[\]@!$&*+,;=%()\p{Latin}\p{Greek}\p{Cyrillic}]";
/// A character of a Windows path or registry key component (no space, no quote).
const WIN_CHAR: &str = r"[A-Za-z0-9_.\-$~!#&()+@\[\]{}%=<>\p{Latin}\p{Greek}\p{Cyrillic}]";
/// A character of a Unix path component.
const UNIX_CHAR: &str = r"[A-Za-z0-9_.\-+~$%\p{Latin}\p{Greek}\p{Cyrillic}]";
/// A backslash, or two (escaped, as in JSON or code: `C:\\Windows\\Temp`).
const WIN_SEP: &str = r"\\\\?";
/// Registry hives, long and short.
const HIVE: &str = concat!(
    r"(?i-u:hkey_local_machine|hkey_current_user|hkey_classes_root|hkey_users",
    r"|hkey_current_config|hklm|hkcu|hkcr|hku|hkcc)"
);
/// ASCII word boundary (the Unicode one would stop the DFA on non-ASCII text).
const WB: &str = r"(?-u:\b)";
/// Not an ASCII word boundary: before a punctuation character, "not after a word".
const NWB: &str = r"(?-u:\B)";

/// Well-known names with spaces that may end a path or registry key.
const SPACED_NAMES: &str = concat!(
    r"(?:Windows\x20(?:Defender|NT|Error\x20Reporting)|Internet\x20(?:Explorer|Settings)",
    r"|Image\x20File\x20Execution\x20Options|(?:User\x20)?Shell\x20Folders",
    r"|Terminal\x20Server(?:\x20Client)?|Program\x20Files(?:\x20\(x86\))?|Common\x20Files",
    r"|Start\x20Menu|Documents\x20and\x20Settings)(?-u:\b)"
);
/// An IPv6 address candidate: hex groups and colons (`::` compression), an optional
/// embedded IPv4 tail and `/cidr`; validated by `std::net::Ipv6Addr`.
const IPV6: &str = concat!(
    r"(?:(?-u:\b)[0-9A-Fa-f]{1,4}|(?-u:\B))(?::[0-9A-Fa-f]{0,4}){2,7}",
    r"(?:(?:\.[0-9]{1,3}){3})?(?:/[0-9]{1,3})?"
);

/// Extensions that may end a file name with spaces (`Google Update.exe`).
const SPACED_FILE_EXT: &str = concat!(
    r"(?i-u:exe|dll|lnk|bat|cmd|ps1|vbs|js|hta|scr|msi|sys|pdf|docx?|xlsx?|zip|rar|7z|iso",
    r"|txt|dat|tmp|log|ini)"
);

/// The tail of a Windows path or registry key. Directories: words joined by single spaces
/// (at most three), in any case, so long as a backslash follows — a space is crossed only
/// when the path goes on after it (`Program Files\`, `john doe\`, `Windows NT\`); a word
/// after a space never starts another indicator (a hive `HK…`, `%VAR%`, `\\server`; a drive
/// `X:` cannot continue a word), so `C:\x.exe HKCU\Run` stays two indicators. The last
/// component: a well-known spaced name (`Windows Defender`), a file name whose words after
/// a space are capitalised and which ends in a known extension (`Google Update.exe`), or a
/// name without spaces — prose after a path (`C:\Temp then ran x.exe`) is not swallowed.
fn win_tail() -> String {
    let word =
        format!(r"(?:[A-GI-Za-gi-z0-9(_$~]{WIN_CHAR}*|[Hh](?:[{WIN_CHAR}--[Kk]]{WIN_CHAR}*)?)");
    let cap = format!(r"(?:[A-GI-Z0-9][{WIN_CHAR}--.]*|H(?:[{WIN_CHAR}--[Kk.]][{WIN_CHAR}--.]*)?)");
    let dir = format!(r"(?:Documents\x20and\x20Settings|{WIN_CHAR}+(?:\x20{word}){{0,3}})");
    let file = format!(r"[{WIN_CHAR}--.]+(?:\x20{cap}){{1,3}}\.{SPACED_FILE_EXT}{WB}");
    format!(r"(?:{dir}{WIN_SEP})*(?:{SPACED_NAMES}|{file}|{WIN_CHAR}*)")
}

/// The alternation of every candidate kind, most specific first (leftmost-first).
fn scan_pattern() -> String {
    let tail = win_tail();
    let host = format!("{LABEL}(?:{DOT}{LABEL})+");
    let url_body = format!("(?:{URL_CHAR}|{DOT})");
    let local = r"[A-Za-z0-9_%+\-]+";
    let unix = format!(r"(?:Application\x20Support|{UNIX_CHAR}+)");
    let alternatives = [
        format!("{WB}{SCHEME}{COLON_SLASHES}{url_body}+"),
        format!("{WB}{local}(?:{DOT}{local})*{AT}{host}"),
        format!(r"<{HIVE}>{WIN_SEP}{tail}"),
        format!(r"{WB}{HIVE}:?{WIN_SEP}{tail}"),
        format!(r"{WB}[A-Za-z]:{WIN_SEP}{tail}"),
        format!(r"%[A-Za-z_][A-Za-z0-9_()]*%{WIN_SEP}{tail}"),
        format!(r"{NWB}\\\\[A-Za-z0-9._\-$]+{WIN_SEP}{tail}"),
        format!(r"(?:{WB}[A-Za-z]:|{NWB}(?:~|\.\.?)?)/{unix}(?:/{unix})*/?"),
        IPV6.to_string(),
        format!("{WB}{host}{PORT}?(?:/{url_body}*)?"),
        format!("{WB}[0-9A-Za-z]{{26,}}{WB}"),
    ];
    alternatives.join("|")
}

// ---------------------------------------------------------------------------------------
// Classification of a candidate
// ---------------------------------------------------------------------------------------

/// Where the scan goes on after a candidate.
enum Next {
    /// After its end.
    After,
    /// At this byte inside it: after the `/` of a rejected `//host` "path".
    At(usize),
}

/// Validates the candidate `text[start..end]` by its shape and pushes what it holds.
fn classify(text: &str, start: usize, end: usize, out: &mut Vec<Indicator>) -> Next {
    let b = &text.as_bytes()[start..end];
    let Some(&first) = b.first() else {
        return Next::After;
    };
    if matches!(first, b'%' | b'\\' | b'/' | b'~' | b'.')
        || (b.len() > 2 && b[1] == b':' && matches!(b[2], b'\\' | b'/'))
    {
        return file_path(text, start, end, out);
    } else if scheme(b).is_some() {
        url(text, start, end, out);
    } else if first == b'<' || is_hive_start(b) {
        registry_key(text, start, end, out);
    } else if b.iter().all(u8::is_ascii_alphanumeric) {
        token(text, start, end, out);
    } else if is_ipv6_shaped(b) {
        ipv6(text, start, end, out);
    } else if at_sign(b).is_some_and(|(at, _)| !b[..at].contains(&b'/')) {
        return email(text, start, end, out);
    } else {
        host(text, start, end, true, out);
    }
    Next::After
}

/// Registry hives, lower case (the names of [`HIVE`]).
#[rustfmt::skip]
const HIVES: &[&str] = &[
    "hkcc", "hkcr", "hkcu", "hkey_classes_root", "hkey_current_config", "hkey_current_user",
    "hkey_local_machine", "hkey_users", "hklm", "hku",
];

/// The candidate starts with a hive and a `\` or `:` (`HKLM\…`, `HKCU:\…`).
fn is_hive_start(b: &[u8]) -> bool {
    let Some(end) = b.iter().position(|&c| c == b'\\' || c == b':') else {
        return false;
    };
    let word = b[..end].to_ascii_lowercase();
    HIVES.iter().any(|h| h.as_bytes() == word.as_slice())
}

/// Where a host or URL candidate holds a closing bracket that closes nothing before it in
/// the candidate (`x](https://…`), empty for paths, keys and addresses. The `]` of a
/// half-bracketed dot (`example.]com`) and the `[` of `example[.com` are no brackets.
fn unbalanced_closers(b: &[u8]) -> Vec<usize> {
    let hosty = b
        .first()
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !(b.len() > 2 && b[1] == b':' && matches!(b[2], b'\\' | b'/'))
        && !is_hive_start(b);
    let mut cuts = Vec::new();
    if !hosty || !b.iter().any(|&c| c == b']' || c == b')') {
        return cuts;
    }
    let (mut square, mut round) = (0usize, 0usize);
    for (i, &c) in b.iter().enumerate() {
        let alnum = |j: usize| b.get(j).is_some_and(u8::is_ascii_alphanumeric);
        match c {
            b'[' if i > 0 && alnum(i - 1) && b.get(i + 1) == Some(&b'.') && alnum(i + 2) => {}
            b']' if i > 1 && b[i - 1] == b'.' && alnum(i - 2) && alnum(i + 1) => {}
            b'[' => square += 1,
            b'(' => round += 1,
            b']' if square > 0 => square -= 1,
            b')' if round > 0 => round -= 1,
            b']' | b')' if i > 0 => {
                cuts.push(i);
                (square, round) = (0, 0);
            }
            _ => {}
        }
    }
    cuts
}

/// Pushes an indicator for `text[start..end]`.
fn push(
    out: &mut Vec<Indicator>,
    kind: IndicatorKind,
    text: &str,
    range: (usize, usize),
    value: String,
) {
    let (start, end) = range;
    out.push(Indicator {
        kind,
        start,
        end,
        raw: text[start..end].to_string(),
        value,
    });
}

/// The first `:` comes before any dot (plain or defanged): an IPv6 candidate, not a host.
fn is_ipv6_shaped(b: &[u8]) -> bool {
    let colon = b.iter().position(|&c| c == b':');
    let dot = b
        .iter()
        .position(|&c| matches!(c, b'.' | b'[' | b'(' | b'{' | b' '));
    match (colon, dot) {
        (Some(c), Some(d)) => c < d,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Where the at sign of an e-mail is (`@`, `[@]`, `(at)`, ...) and its length.
fn at_sign(b: &[u8]) -> Option<(usize, usize)> {
    for (i, &c) in b.iter().enumerate() {
        if c == b' '
            && b.len() > i + 3
            && b[i + 1..i + 3].eq_ignore_ascii_case(b"at")
            && b[i + 3] == b' '
        {
            return Some((i, 4));
        }
        if c == b'@' {
            let bracketed = i > 0 && i + 1 < b.len() && is_open(b[i - 1]) && is_close(b[i + 1]);
            return Some(if bracketed { (i - 1, 3) } else { (i, 1) });
        }
        if is_open(c)
            && b.len() > i + 3
            && b[i + 1..i + 3].eq_ignore_ascii_case(b"at")
            && is_close(b[i + 3])
        {
            return Some((i, 4));
        }
    }
    None
}

/// An opening bracket of a defanged form.
fn is_open(c: u8) -> bool {
    matches!(c, b'[' | b'(' | b'{')
}

/// A closing bracket of a defanged form.
fn is_close(c: u8) -> bool {
    matches!(c, b']' | b')' | b'}')
}

/// Length of `raw` without trailing punctuation and unbalanced closing brackets.
fn trim_end(raw: &str) -> usize {
    let b = raw.as_bytes();
    let pairs = [(b'(', b')'), (b'[', b']'), (b'{', b'}'), (b'<', b'>')];
    let mut depth = [0i64; 4];
    for &c in b {
        for (k, &(open, close)) in pairs.iter().enumerate() {
            depth[k] += i64::from(c == open) - i64::from(c == close);
        }
    }
    let mut n = b.len();
    while n > 0 {
        let c = b[n - 1];
        if matches!(c, b'.' | b',' | b';' | b':' | b'!' | b'?' | b'\'' | b'"') {
            n -= 1;
            continue;
        }
        match pairs.iter().position(|&(_, close)| close == c) {
            Some(k) if depth[k] < 0 => {
                depth[k] += 1;
                n -= 1;
            }
            _ => break,
        }
    }
    n
}

// ---------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------

/// The canonical scheme of a URL candidate and where its body starts.
fn scheme(b: &[u8]) -> Option<(&'static str, usize)> {
    let (name, letters, _) = scheme_word(b)?;
    let rest = &b[letters..];
    let seps: [&[u8]; 6] = [b"://", b"[:]//", b"(:)//", b"{:}//", b"[://]", b"[:/]/"];
    let sep = seps.iter().find(|s| rest.starts_with(s))?;
    Some((name, letters + sep.len()))
}

/// A URL with a scheme: `http://`, `hxxps[://]`, `fxp://`, ...
fn url(text: &str, start: usize, end: usize, out: &mut Vec<Indicator>) {
    let end = start + trim_end(&text[start..end]);
    let raw = &text[start..end];
    let Some((scheme, body_at)) = scheme(raw.as_bytes()) else {
        return;
    };
    let body = refang(&raw[body_at..]);
    let auth_end = body.find(['/', '?', '#']).unwrap_or(body.len());
    let user_end = body[..auth_end].rfind('@').map_or(0, |i| i + 1);
    let hostport = &body[user_end..auth_end];
    let host_len = if hostport.starts_with('[') {
        hostport.find(']').map_or(0, |i| i + 1)
    } else {
        hostport.find(':').unwrap_or(hostport.len())
    };
    let host = &hostport[..host_len];
    let host_ok = host.chars().any(char::is_alphanumeric)
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || ".-_[]:".contains(c));
    if !host_ok {
        return;
    }
    let value = format!(
        "{scheme}://{}{}{}",
        &body[..user_end],
        host.to_ascii_lowercase(),
        &body[user_end + host_len..]
    );
    push(out, IndicatorKind::Url, text, (start, end), value);
}

// ---------------------------------------------------------------------------------------
// Hosts: IPv4 addresses, domains, scheme-less URLs
// ---------------------------------------------------------------------------------------

/// Words before a dotted quad that make it a version number.
const VERSION_WORDS: &[&str] = &[
    "build", "firmware", "fw", "patch", "rel", "release", "rev", "revision", "update", "v", "ver",
    "version", "versions",
];

/// TLDs that make a domain even when written in capitals after lower-case labels
/// (`evil.Com`, `bar.COM`): common, and no English word.
const CASED_TLDS: &[&str] = &[
    "biz", "cn", "com", "info", "net", "onion", "org", "ru", "su", "xyz",
];

/// Well-known names of software that look like domains.
const NOT_DOMAINS: &[&str] = &["ADO.NET", "ASP.NET", "VB.NET"];

/// A host candidate split into its parts (byte offsets in the candidate).
struct HostParts {
    /// End of the host name.
    host_end: usize,
    /// End of the port (`host_end` when there is none).
    port_end: usize,
    /// End of the path (`port_end` when there is none).
    path_end: usize,
}

/// Splits `raw` (`host[:port][/path]`) into its parts, dropping an invalid port and a path
/// that is only `/` once trailing punctuation is trimmed.
fn split_host(raw: &str) -> HostParts {
    let b = raw.as_bytes();
    let slash = b.iter().position(|&c| c == b'/').unwrap_or(b.len());
    let colon = b[..slash].iter().position(|&c| c == b':');
    let host_end = match colon {
        Some(c) if c > 0 && b[c - 1] == b'[' => c - 1,
        Some(c) => c,
        None => slash,
    };
    let digits = raw[host_end..slash].trim_start_matches(['[', ':', ']']);
    let port_ok = digits
        .parse::<u32>()
        .is_ok_and(|p| (1..=65535).contains(&p));
    let port_end = if host_end == slash || port_ok {
        slash
    } else {
        host_end
    };
    if port_end < slash {
        return HostParts {
            host_end,
            port_end,
            path_end: port_end,
        };
    }
    let path_end = trim_end(raw).max(slash);
    let path_end = if path_end <= slash + 1 {
        slash
    } else {
        path_end
    };
    HostParts {
        host_end,
        port_end,
        path_end,
    }
}

/// A host candidate: an IPv4 address, a domain, either with a port, a CIDR suffix or a path
/// (then a URL). `strict` applies the prose rules (file names, version numbers); a rejected
/// host gives back what it holds ([`host_fallback`]). An IPv4 address followed by `/` and
/// other addresses (`192.0.2.1/192.0.2.2`) is a list of addresses.
fn host(text: &str, start: usize, end: usize, strict: bool, out: &mut Vec<Indicator>) {
    let raw = &text[start..end];
    let parts = split_host(raw);
    let host_raw = &raw[..parts.host_end];
    let defanged = host_raw
        .bytes()
        .any(|c| matches!(c, b'[' | b']' | b'(' | b'{' | b' ' | b'\\'));
    let host_v = refang(host_raw).to_ascii_lowercase();
    let numeric = host_v
        .split('.')
        .all(|l| l.bytes().all(|c| c.is_ascii_digit()));
    let kind = if numeric {
        let ip = is_ipv4(&host_v) && (defanged || !after_version_word(text, start));
        ip.then_some(IndicatorKind::Ipv4)
    } else {
        domain_ok(host_raw, &host_v, strict && !defanged).then_some(IndicatorKind::Domain)
    };
    let Some(kind) = kind else {
        if !numeric {
            host_fallback(text, start, parts.host_end, strict, out);
        }
        return;
    };
    let port_v = refang(&raw[parts.host_end..parts.port_end]);
    let path = &raw[parts.port_end..parts.path_end];
    let ip = kind == IndicatorKind::Ipv4 && port_v.is_empty();
    if ip && is_address_list(path) {
        push(out, kind, text, (start, start + parts.host_end), host_v);
        let mut at = start + parts.port_end + 1;
        for address in path.split('/').skip(1) {
            host(text, at, at + address.len(), strict, out);
            at += address.len() + 1;
        }
        return;
    }
    let cidr = ip && is_cidr(path, 32);
    let (kind, end) = if path.is_empty() || cidr {
        (kind, start + parts.path_end)
    } else {
        (IndicatorKind::Url, start + parts.path_end)
    };
    let value = format!("{host_v}{port_v}{}", refang(path));
    push(out, kind, text, (start, end), value);
}

/// `/`-separated dotted numbers after an address (`/192.0.2.2/192.0.2.3`).
fn is_address_list(path: &str) -> bool {
    path.strip_prefix('/').is_some_and(|list| {
        list.split('/')
            .all(|a| a.contains('.') && a.bytes().all(|c| c.is_ascii_digit() || c == b'.'))
    })
}

/// A rejected host: the addresses of a range (`192.0.2.1-192.0.2.50`), else the
/// host without a trailing capitalised label (`evil.com.Then`), else its long alphanumeric
/// labels as tokens (`<sha256>.exe`).
fn host_fallback(
    text: &str,
    start: usize,
    host_end: usize,
    strict: bool,
    out: &mut Vec<Indicator>,
) {
    let raw = &text[start..start + host_end];
    let ip_range = refang(raw)
        .bytes()
        .all(|c| c.is_ascii_digit() || c == b'.' || c == b'-');
    if ip_range {
        let mut at = start;
        for piece in raw.split('-') {
            if piece.contains('.') && piece.len() < raw.len() {
                host(text, at, at + piece.len(), strict, out);
            }
            at += piece.len() + 1;
        }
        return;
    }
    let last = raw.rsplit('.').next().unwrap_or("");
    let title = last.len() > 1
        && last.as_bytes()[0].is_ascii_uppercase()
        && last.bytes().skip(1).all(|c| c.is_ascii_lowercase());
    let cut = raw.len() - last.len();
    if strict && title && cut > 1 && raw[..cut - 1].contains('.') {
        let before = out.len();
        host(text, start, start + cut - 1, false, out);
        if out.len() > before {
            return;
        }
    }
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let run = b[i..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if run >= 26 {
            token(text, start + i, start + i + run, out);
        }
        i += run.max(1);
    }
}

/// Four decimal octets ≤ 255 (at most three digits each).
fn is_ipv4(v: &str) -> bool {
    let octets: Vec<&str> = v.split('.').collect();
    octets.len() == 4
        && octets
            .iter()
            .all(|o| (1..=3).contains(&o.len()) && o.parse::<u16>().is_ok_and(|n| n <= 255))
}

/// `/n` with `n` ≤ `max`.
fn is_cidr(path: &str, max: u32) -> bool {
    path.strip_prefix('/').is_some_and(|n| {
        (1..=3).contains(&n.len())
            && n.bytes().all(|c| c.is_ascii_digit())
            && n.parse::<u32>().is_ok_and(|n| n <= max)
    })
}

/// Whether the word before `at` (skipping spaces and `.:=#(`) is a version word
/// (`version 1.2.3.4`, `build: 10.0.0.1`).
fn after_version_word(text: &str, at: usize) -> bool {
    let b = &text.as_bytes()[..at];
    let mut i = b.len();
    let floor = i.saturating_sub(24);
    while i > floor && matches!(b[i - 1], b' ' | b'\t' | b'.' | b':' | b'=' | b'#' | b'(') {
        i -= 1;
    }
    let word_end = i;
    while i > floor && b[i - 1].is_ascii_alphabetic() {
        i -= 1;
    }
    let word = b[i..word_end].to_ascii_lowercase();
    VERSION_WORDS
        .iter()
        .any(|w| w.as_bytes() == word.as_slice())
}

/// A domain: two or more RFC labels and a known TLD. `strict` (prose, not defanged) also
/// rejects file names (`script.py`), sentence joins and .NET names (`file.It`, `System.IO`).
fn domain_ok(raw: &str, value: &str, strict: bool) -> bool {
    let labels: Vec<&str> = value.split('.').collect();
    let shape = labels.len() >= 2
        && value.len() <= 253
        && labels.iter().all(|l| (1..=63).contains(&l.len()));
    let Some(tld) = labels.last() else {
        return false;
    };
    let tld_ok = TLDS.binary_search(tld).is_ok() || (tld.starts_with("xn--") && tld.len() > 4);
    if !shape || !tld_ok {
        return false;
    }
    if !strict {
        return true;
    }
    let raw_tld = raw.rsplit('.').next().unwrap_or("");
    let lower_tld = !raw_tld.bytes().any(|c| c.is_ascii_uppercase());
    let all_upper = !raw.bytes().any(|c| c.is_ascii_lowercase());
    // `evil.Com`, `bar.COM`: only the TLD in capitals, and a TLD that is no English word
    // nor a .NET or library name (`file.It`, `System.IO`, `Socket.IO` stay prose)
    let head = &raw[..raw.len() - raw_tld.len()];
    let cased_tld = !head.bytes().any(|c| c.is_ascii_uppercase()) && CASED_TLDS.contains(tld);
    FILE_EXTENSIONS.binary_search(tld).is_err()
        && (lower_tld || all_upper || cased_tld)
        && !NOT_DOMAINS.contains(&raw)
}

// ---------------------------------------------------------------------------------------
// E-mail, IPv6, paths, registry keys
// ---------------------------------------------------------------------------------------

/// An e-mail address, plain or defanged (`john[.]doe[@]example[.]com`). `user@192.0.2.1`
/// (ssh, scp) is no e-mail address but holds an IPv4 address.
fn email(text: &str, start: usize, end: usize, out: &mut Vec<Indicator>) -> Next {
    let raw = &text[start..end];
    let Some((at, len)) = at_sign(raw.as_bytes()) else {
        return Next::After;
    };
    let local = refang(raw[..at].trim_end());
    let domain_raw = raw[at + len..].trim_start();
    let domain = refang(domain_raw).to_ascii_lowercase();
    let bare_word = raw.as_bytes()[at] == b' ';
    let local_ok = (1..=64).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && (!bare_word || bare_at_ok(&local, domain_raw));
    if local_ok && domain_ok(domain_raw, &domain, false) {
        push(
            out,
            IndicatorKind::Email,
            text,
            (start, end),
            format!("{local}@{domain}"),
        );
        Next::After
    } else {
        // not an address: the scan goes on at the domain part, which may be a host, a URL
        // (`root@192.0.2.1`, `hosted at evil.com/x.php`)
        Next::At(end - domain_raw.len())
    }
}

/// Words that come before ` at ` in prose, not as a mailbox name.
#[rustfmt::skip]
const NOT_MAILBOXES: &[&str] = &[
    "also", "and", "are", "available", "be", "been", "c2", "domain", "here", "is", "live",
    "now", "online", "or", "page", "panel", "server", "site", "still", "there", "up", "was",
    "were",
];

/// `user at example[dot]com`: a bare ` at ` is an at sign only before a domain written with
/// word dots (`[dot]`, `(dot)`: the mailbox obfuscation style) and after a name that is no
/// prose word (`hosted at`, `panel at`).
fn bare_at_ok(local: &str, domain_raw: &str) -> bool {
    let domain = domain_raw.to_ascii_lowercase();
    let word_dots = ["[dot]", "(dot)", "{dot}"]
        .iter()
        .any(|d| domain.contains(d));
    let lower = local.to_ascii_lowercase();
    let prose =
        lower.ends_with("ed") || lower.ends_with("ing") || NOT_MAILBOXES.contains(&lower.as_str());
    word_dots && !prose
}

/// An IPv6 address (with an optional `/cidr`), in RFC 5952 form.
fn ipv6(text: &str, start: usize, end: usize, out: &mut Vec<Indicator>) {
    let raw = &text[start..end];
    let (addr, cidr) = match raw.find('/') {
        Some(i) if is_cidr(&raw[i..], 128) => raw.split_at(i),
        Some(i) => (&raw[..i], ""),
        None => (raw, ""),
    };
    let addr = if addr.ends_with(':') && !addr.ends_with("::") {
        &addr[..addr.len() - 1]
    } else {
        addr
    };
    // more hex digits or groups than an address holds: not an address
    let next = text.as_bytes().get(end).copied().unwrap_or(b' ');
    let end = start + addr.len() + cidr.len();
    let groups: Vec<&str> = addr.split(':').filter(|g| !g.is_empty()).collect();
    // `::1`, `::ffff`: one group after a leading `::` (not `[Type]::Member`: not after a word
    // nor a bracket)
    let prev = start.checked_sub(1).map(|i| text.as_bytes()[i]);
    let loopback_like = addr.starts_with("::")
        && groups.len() == 1
        && !prev.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b']' | b')' | b'>'));
    let too_few = groups.len() < 2 && !addr.contains('.') && !loopback_like;
    // colon-separated bytes (certificate serials and thumbprints, MAC and EUI-64
    // addresses): every group two hex digits and no `::`; or the tail of a longer run
    let bytes = !addr.contains("::") && groups.iter().all(|g| g.len() == 2);
    if next.is_ascii_alphanumeric()
        || next == b':'
        || too_few
        || bytes
        || after_hex_run(text, start)
    {
        return;
    }
    if let Ok(ip) = addr.parse::<Ipv6Addr>() {
        push(
            out,
            IndicatorKind::Ipv6,
            text,
            (start, end),
            format!("{ip}{cidr}"),
        );
    }
}

/// `text[..start]` ends in two or more `hex:` groups (`…:9a:bc:` before the candidate): the
/// candidate is the tail of a longer colon-hex run, no address.
fn after_hex_run(text: &str, start: usize) -> bool {
    let b = &text.as_bytes()[..start];
    let mut i = b.len();
    let mut groups = 0;
    while i > 0 && b[i - 1] == b':' {
        let colon = i - 1;
        let mut j = colon;
        while j > 0 && colon - j < 4 && b[j - 1].is_ascii_hexdigit() {
            j -= 1;
        }
        if j == colon || (j > 0 && b[j - 1].is_ascii_alphanumeric()) {
            break;
        }
        groups += 1;
        i = j;
    }
    groups >= 2
}

/// Top-level directories that make a one-component Unix path (`/tmp`) an indicator.
const UNIX_ROOTS: &[&str] = &[
    "bin", "boot", "dev", "etc", "home", "lib", "lib64", "mnt", "opt", "proc", "root", "run",
    "sbin", "srv", "sys", "tmp", "usr", "var",
];

/// A Windows (`C:\`, `%APPDATA%\`, `\\server\share`) or Unix (`/tmp/x`, `~/.ssh`) path.
/// `//host...` (`tcp://192.0.2.7:4444`) is no path: the scan goes on inside it.
fn file_path(text: &str, start: usize, end: usize, out: &mut Vec<Indicator>) -> Next {
    let end = start + trim_end(&text[start..end]);
    let raw = &text[start..end];
    let b = raw.as_bytes();
    let before = |n: usize| start.checked_sub(n).map(|i| text.as_bytes()[i]);
    let after_slash = before(1) == Some(b'/');
    // `scheme://host` (`tcp://`, `sftp://`, `udp[:]//`): the host, never a path
    let after_scheme = after_slash && matches!(before(2), Some(b':' | b']'));
    if after_slash
        && b.first() == Some(&b'/')
        && (after_scheme
            || raw
                .split('/')
                .nth(1)
                .is_some_and(|first| first.contains('.')))
    {
        return Next::At(start + 1);
    }
    let ok = match b.first() {
        Some(b'%') => raw
            .split_once('\\')
            .is_some_and(|(_, rest)| !rest.trim_start_matches('\\').is_empty()),
        Some(b'\\') => raw
            .get(2..)
            .unwrap_or("")
            .trim_end_matches('\\')
            .contains('\\'),
        Some(b'/' | b'~' | b'.') => unix_path_ok(raw),
        _ => !raw
            .get(2..)
            .unwrap_or("")
            .trim_start_matches(['\\', '/'])
            .is_empty(),
    };
    if ok {
        push(
            out,
            IndicatorKind::FilePath,
            text,
            (start, end),
            raw.to_string(),
        );
    }
    Next::After
}

/// At least two components (`/etc/passwd`, `./x.sh`), a home path (`~/.bashrc`) or a
/// well-known root (`/tmp`); not only numbers (`/2020/03`) nor only one-letter switches
/// (`/Q/c`).
fn unix_path_ok(raw: &str) -> bool {
    let comps: Vec<&str> = raw.split('/').filter(|c| !c.is_empty()).collect();
    let letters = comps
        .iter()
        .any(|c| c.bytes().any(|ch| ch.is_ascii_alphabetic()));
    let switches = comps.iter().all(|c| c.len() == 1);
    if !letters || switches {
        return false;
    }
    match comps.as_slice() {
        ["~", rest @ ..] => !rest.is_empty(),
        [one] => raw.starts_with('/') && UNIX_ROOTS.contains(one),
        _ => true,
    }
}

/// A registry key: a hive (`HKLM`, `HKEY_CURRENT_USER`, `HKCU:`) and at least one subkey.
fn registry_key(text: &str, start: usize, end: usize, out: &mut Vec<Indicator>) {
    let end = start + trim_end(&text[start..end]);
    let raw = &text[start..end];
    let subkey = raw
        .split_once('\\')
        .is_some_and(|(_, rest)| !rest.trim_start_matches('\\').is_empty());
    if subkey {
        // `<HKCU>\Software\…` → `HKCU\Software\…`
        let value = match raw.strip_prefix('<').and_then(|r| r.split_once('>')) {
            Some((hive, rest)) => format!("{hive}{rest}"),
            None => raw.to_string(),
        };
        push(out, IndicatorKind::RegistryKey, text, (start, end), value);
    }
}

// ---------------------------------------------------------------------------------------
// Long alphanumeric words: hashes and wallet addresses
// ---------------------------------------------------------------------------------------

/// The base58 alphabet (Bitcoin, Monero).
const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// The bech32 data alphabet.
const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// A whole alphanumeric word of 26+ characters: a hash by its length, a bech32 or
/// base58check Bitcoin address, or a Monero address.
fn token(text: &str, start: usize, end: usize, out: &mut Vec<Indicator>) {
    let raw = &text[start..end];
    let b = raw.as_bytes();
    let kind = if b.iter().all(u8::is_ascii_hexdigit) {
        match b.len() {
            32 => Some(IndicatorKind::Md5),
            40 => Some(IndicatorKind::Sha1),
            64 => Some(IndicatorKind::Sha256),
            128 => Some(IndicatorKind::Sha512),
            _ => None,
        }
    } else if is_bech32_address(b) {
        Some(IndicatorKind::Bitcoin)
    } else if is_monero_address(b) {
        Some(IndicatorKind::Monero)
    } else if is_base58check_address(b) {
        Some(IndicatorKind::Bitcoin)
    } else {
        None
    };
    let Some(kind) = kind else {
        return;
    };
    let lower = matches!(
        kind,
        IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 | IndicatorKind::Sha512
    ) || b.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(b"bc1"));
    let value = if lower {
        raw.to_ascii_lowercase()
    } else {
        raw.to_string()
    };
    push(out, kind, text, (start, end), value);
}

/// `bc1` + bech32 characters, 42 or 62 long, in one case.
fn is_bech32_address(b: &[u8]) -> bool {
    let one_case = !b.iter().any(u8::is_ascii_lowercase) || !b.iter().any(u8::is_ascii_uppercase);
    matches!(b.len(), 42 | 62)
        && one_case
        && b[..3].eq_ignore_ascii_case(b"bc1")
        && b[3..]
            .iter()
            .all(|c| BECH32.contains(&c.to_ascii_lowercase()))
}

/// `4` or `8`, then `1-9AB`, then 93 base58 characters (95 in all).
fn is_monero_address(b: &[u8]) -> bool {
    b.len() == 95
        && matches!(b[0], b'4' | b'8')
        && b"123456789AB".contains(&b[1])
        && b.iter().all(|c| BASE58.contains(c))
}

/// A legacy address (`1...` P2PKH, `3...` P2SH, 26–35 characters) whose base58check
/// checksum (double SHA-256) holds.
fn is_base58check_address(b: &[u8]) -> bool {
    let version = match b.first() {
        Some(b'1') => 0x00,
        Some(b'3') => 0x05,
        _ => return false,
    };
    if !(26..=35).contains(&b.len()) {
        return false;
    }
    let Some(bytes) = base58_decode(b) else {
        return false;
    };
    if bytes.len() != 25 || bytes[0] != version {
        return false;
    }
    let check = Sha256::digest(Sha256::digest(&bytes[..21]));
    check[..4] == bytes[21..]
}

/// Big-endian bytes of a base58 string (leading `1`s are zero bytes); `None` off-alphabet.
fn base58_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut le: Vec<u8> = Vec::with_capacity(s.len());
    for &c in s {
        let mut carry = BASE58.iter().position(|&a| a == c)? as u32;
        for byte in le.iter_mut() {
            carry += u32::from(*byte) * 58;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            le.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = s.iter().take_while(|&&c| c == b'1').count();
    le.extend(std::iter::repeat_n(0, zeros));
    le.reverse();
    Some(le)
}

// ---------------------------------------------------------------------------------------
// Refanging
// ---------------------------------------------------------------------------------------

/// Undoes the common defanging forms: `[.]`, `(.)`, `{.}`, `[dot]`, `(dot)` (a space on
/// either side included) → `.`; `[@]`, `[at]`, `(at)` → `@`; `[:]` → `:`; `[://]` → `://`;
/// `[/]` → `/`; `hxxp`, `hXXps`, `fxp` before `:` or a bracket → `http`, `https`, `ftp`.
/// Everything else is kept as it is. Linear time.
pub fn refang(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let Some((len, with, spaces)) = defang_at(b, i) else {
            i += 1;
            continue;
        };
        out.push_str(&s[copied..i]);
        if spaces && out.ends_with(' ') {
            out.pop();
        }
        out.push_str(with);
        i += len;
        if spaces && b.get(i) == Some(&b' ') {
            i += 1;
        }
        copied = i;
    }
    out.push_str(&s[copied..]);
    out
}

/// The defanged form at `b[i..]`, if any: its length, its refanged text, and whether a
/// space on either side belongs to it.
fn defang_at(b: &[u8], i: usize) -> Option<(usize, &'static str, bool)> {
    let c = b[i];
    let alnum = |j: usize| b.get(j).is_some_and(u8::is_ascii_alphanumeric);
    let between_words = |len: usize| i > 0 && alnum(i - 1) && alnum(i + len);
    // `example[.com`, `example.]com`, `10\.10`: one bracket or a backslash between words
    let half = matches!(
        (c, b.get(i + 1)),
        (b'[' | b'\\', Some(b'.')) | (b'.', Some(b']'))
    );
    if half && between_words(2) {
        return Some((2, ".", false));
    }
    // `user @ example.com`
    if c == b' ' && b.get(i + 1) == Some(&b'@') && b.get(i + 2) == Some(&b' ') && between_words(3) {
        return Some((3, "@", false));
    }
    if is_open(c) {
        const INNER: [(&[u8], &str, bool); 7] = [
            (b".", ".", true),
            (b"dot", ".", true),
            (b"@", "@", true),
            (b"at", "@", true),
            (b":", ":", false),
            (b"://", "://", false),
            (b"/", "/", false),
        ];
        for (inner, with, spaces) in INNER {
            let close = i + 1 + inner.len();
            let hit = b.len() > close
                && b[i + 1..close].eq_ignore_ascii_case(inner)
                && is_close(b[close]);
            if hit {
                return Some((inner.len() + 2, with, spaces));
            }
        }
        return None;
    }
    if !matches!(c, b'h' | b'H' | b'f' | b'F') || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
        return None;
    }
    let (name, len, defanged) = scheme_word(&b[i..])?;
    let next = b.get(i + len).copied().unwrap_or(b' ');
    (defanged && (next == b':' || is_open(next))).then_some((len, name, false))
}

/// The scheme word at the start of `b` (`http`, `hXXps`, `fxp`, ...): its refanged form,
/// its length, and whether it was defanged.
fn scheme_word(b: &[u8]) -> Option<(&'static str, usize, bool)> {
    let len = b
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    if !(3..=5).contains(&len) {
        return None;
    }
    let word = b[..len].to_ascii_lowercase();
    let name = match word.as_slice() {
        b"http" | b"hxxp" | b"hxtp" | b"htxp" => "http",
        b"https" | b"hxxps" | b"hxtps" | b"htxps" => "https",
        b"ftp" | b"fxp" => "ftp",
        _ => return None,
    };
    Some((name, len, word != name.as_bytes()))
}

// ---------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------

/// Top-level domains: every ccTLD and the common gTLDs (sorted, lower case).
#[rustfmt::skip]
const TLDS: &[&str] = &[
    "ac", "accountant", "ad", "ae", "aero", "af", "ag", "agency", "ai", "al", "am", "ao", "app",
    "aq", "ar", "arpa", "as", "asia", "at", "au", "autos", "aw", "ax", "az", "ba", "bank", "bar",
    "bb", "bd", "be", "beauty", "berlin", "best", "bf", "bg", "bh", "bi", "bid", "bit", "biz",
    "bj", "black", "blog", "blue", "bm", "bn", "bo", "boats", "bond", "bq", "br", "bs", "bt",
    "buzz", "bv", "bw", "by", "bz", "ca", "cam", "cat", "cc", "cd", "center", "cf", "cfd", "cg",
    "ch", "chat", "ci", "city", "ck", "cl", "click", "cloud", "club", "cm", "cn", "co", "com",
    "company", "coop", "cr", "credit", "cricket", "cu", "cv", "cw", "cx", "cy", "cyou", "cz",
    "de", "design", "dev", "digital", "dj", "dk", "dm", "do", "download", "dz", "ec", "edu", "ee",
    "eg", "email", "er", "es", "et", "eu", "events", "fail", "fi", "finance", "fit", "fj", "fk",
    "fm", "fo", "fr", "fun", "ga", "gb", "gd", "gdn", "ge", "gf", "gg", "gh", "gi", "gl",
    "global", "gm", "gn", "gold", "gov", "gp", "gq", "gr", "green", "group", "gs", "gt", "gu",
    "guru", "gw", "gy", "hair", "hk", "hm", "hn", "homes", "host", "hosting", "hr", "ht", "hu",
    "icu", "id", "ie", "il", "im", "in", "info", "int", "io", "iq", "ir", "is", "it", "je", "jm",
    "jo", "jobs", "jp", "ke", "kg", "kh", "ki", "kim", "kiwi", "km", "kn", "kp", "kr", "kw", "ky",
    "kz", "la", "lat", "lb", "lc", "li", "life", "link", "live", "lk", "loan", "loans", "lol",
    "london", "lr", "ls", "lt", "ltd", "lu", "lv", "ly", "ma", "makeup", "market", "mc", "md",
    "me", "media", "mf", "mg", "mh", "mil", "mk", "ml", "mm", "mn", "mo", "mobi", "moe", "mom",
    "money", "monster", "moscow", "mov", "mp", "mq", "mr", "ms", "mt", "mu", "museum", "mv", "mw",
    "mx", "my", "mz", "na", "nc", "ne", "net", "network", "news", "nf", "ng", "ni", "ninja", "nl",
    "no", "np", "nr", "nu", "nyc", "nz", "om", "onion", "online", "ooo", "org", "pa", "page",
    "pe", "pf", "pg", "ph", "photo", "photos", "pics", "pink", "pk", "pl", "pm", "pn", "post",
    "pr", "press", "pro", "ps", "pt", "pw", "py", "qa", "quest", "re", "red", "rest", "ro",
    "rocks", "rs", "ru", "rw", "sa", "sb", "sbs", "sc", "science", "sd", "se", "services", "sg",
    "sh", "shop", "si", "site", "sj", "sk", "skin", "sl", "sm", "sn", "so", "social", "software",
    "solutions", "space", "sr", "ss", "st", "store", "stream", "studio", "su", "support", "sv",
    "sx", "sy", "systems", "sz", "tc", "td", "team", "tech", "technology", "tel", "tf", "tg",
    "th", "tj", "tk", "tl", "tm", "tn", "to", "today", "tokyo", "tools", "top", "tr", "trade",
    "travel", "tt", "tv", "tw", "tz", "ua", "ug", "uk", "um", "uno", "us", "uy", "uz", "va", "vc",
    "ve", "vg", "vi", "vip", "vn", "vu", "website", "wf", "win", "work", "world", "ws", "wtf",
    "xxx", "xyz", "yachts", "ye", "yt", "za", "zip", "zm", "zone", "zw",
];

/// Common file extensions that make a dotted word a file name (`script.py`, `lib.so`)
/// unless it is defanged or inside a URL or an e-mail address (sorted, lower case).
#[rustfmt::skip]
const FILE_EXTENSIONS: &[&str] = &[
    "7z", "apk", "app", "asp", "aspx", "bak", "bat", "bin", "bz2", "cab", "chm", "cmd", "cpl",
    "cs", "csv", "dat", "db", "deb", "dll", "dmg", "doc", "docm", "docx", "dotm", "drv", "elf",
    "exe", "gz", "hta", "img", "ini", "iso", "jar", "js", "jse", "json", "jsp", "lnk", "log",
    "lua", "md", "mov", "msi", "msp", "ocx", "one", "pdf", "php", "plist", "pm", "ppt", "pptm",
    "pptx", "ps1", "psm1", "py", "pyc", "rar", "reg", "rs", "rtf", "scr", "sh", "so", "sys",
    "tar", "tgz", "tmp", "txt", "vbe", "vbs", "vhd", "vhdx", "wsf", "xls", "xlsb", "xlsm", "xlsx",
    "xml", "xz", "yml", "zip",
];

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::time::{Duration, Instant};

    use super::*;

    const CORPUS: &str = include_str!("../../tests/fixtures/iocs/corpus.jsonl");

    /// One labelled corpus line.
    #[derive(Deserialize)]
    struct Line {
        text: String,
        iocs: Vec<Gold>,
    }

    /// One expected indicator.
    #[derive(Deserialize)]
    struct Gold {
        kind: IndicatorKind,
        value: String,
    }

    fn corpus() -> Vec<Line> {
        CORPUS
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("corpus line {}: {e}", i + 1))
            })
            .collect()
    }

    /// True positives, false positives, false negatives.
    #[derive(Debug, Default, Clone, Copy)]
    struct Counts {
        tp: usize,
        fp: usize,
        fn_: usize,
    }

    impl Counts {
        fn add(&mut self, o: Counts) {
            self.tp += o.tp;
            self.fp += o.fp;
            self.fn_ += o.fn_;
        }
        fn precision(self) -> f64 {
            ratio(self.tp, self.tp + self.fp)
        }
        fn recall(self) -> f64 {
            ratio(self.tp, self.tp + self.fn_)
        }
    }

    fn ratio(a: usize, b: usize) -> f64 {
        if b == 0 { 1.0 } else { a as f64 / b as f64 }
    }

    fn multiset<'a>(
        items: impl Iterator<Item = (IndicatorKind, &'a str)>,
    ) -> HashMap<(IndicatorKind, &'a str), usize> {
        let mut m = HashMap::new();
        for k in items {
            *m.entry(k).or_insert(0) += 1;
        }
        m
    }

    /// Scores one line over (kind, value) multisets; returns a description of its errors.
    fn score(line: &Line, per_kind: &mut BTreeMap<IndicatorKind, Counts>) -> Option<String> {
        let found = RECOGNIZER.find(&line.text);
        let pred = multiset(found.iter().map(|i| (i.kind, i.value.as_str())));
        let gold = multiset(line.iocs.iter().map(|g| (g.kind, g.value.as_str())));
        let mut errors = Vec::new();
        for key in pred
            .keys()
            .chain(gold.keys().filter(|k| !pred.contains_key(*k)))
        {
            let (p, g) = (
                pred.get(key).copied().unwrap_or(0),
                gold.get(key).copied().unwrap_or(0),
            );
            let tp = p.min(g);
            let c = Counts {
                tp,
                fp: p - tp,
                fn_: g - tp,
            };
            per_kind.entry(key.0).or_default().add(c);
            if c.fp > 0 {
                errors.push(format!("  FP {}: {:?}", key.0.name(), key.1));
            }
            if c.fn_ > 0 {
                errors.push(format!("  FN {}: {:?}", key.0.name(), key.1));
            }
        }
        (!errors.is_empty()).then(|| format!("{}\n{}", line.text, errors.join("\n")))
    }

    fn print_table(per_kind: &BTreeMap<IndicatorKind, Counts>, total: Counts) {
        println!(
            "{:<13} {:>5} {:>5} {:>4} {:>4} {:>9} {:>7}",
            "kind", "gold", "tp", "fp", "fn", "precision", "recall"
        );
        for (kind, c) in per_kind {
            println!(
                "{:<13} {:>5} {:>5} {:>4} {:>4} {:>9.3} {:>7.3}",
                kind.name(),
                c.tp + c.fn_,
                c.tp,
                c.fp,
                c.fn_,
                c.precision(),
                c.recall()
            );
        }
        println!(
            "{:<13} {:>5} {:>5} {:>4} {:>4} {:>9.3} {:>7.3}",
            "all (micro)",
            total.tp + total.fn_,
            total.tp,
            total.fp,
            total.fn_,
            total.precision(),
            total.recall()
        );
    }

    #[test]
    fn corpus_precision_and_recall() {
        let lines = corpus();
        let positive = lines.iter().filter(|l| !l.iocs.is_empty()).count();
        assert!(lines.len() >= 200 && positive >= 130 && lines.len() - positive >= 70);
        for kind in IndicatorKind::ALL {
            assert!(
                lines.iter().any(|l| l.iocs.iter().any(|g| g.kind == kind)),
                "{kind:?}"
            );
        }
        let mut per_kind = BTreeMap::new();
        let misses: Vec<String> = lines
            .iter()
            .filter_map(|l| score(l, &mut per_kind))
            .collect();
        let mut total = Counts::default();
        per_kind.values().for_each(|c| total.add(*c));
        println!("{} lines ({positive} positive)", lines.len());
        print_table(&per_kind, total);
        println!("{} lines with errors:\n{}", misses.len(), misses.join("\n"));
        assert!(
            total.precision() >= 0.99,
            "precision {:.3}",
            total.precision()
        );
        assert!(total.recall() >= 0.99, "recall {:.3}", total.recall());
    }

    /// Checks the invariants of `find`: sorted, non-overlapping, `raw` is the slice.
    fn check_invariants(text: &str) -> Vec<Indicator> {
        let found = RECOGNIZER.find(text);
        let mut last_end = 0;
        for i in &found {
            assert!(
                i.start >= last_end && i.start < i.end && i.end <= text.len(),
                "{i:?}"
            );
            assert_eq!(&text[i.start..i.end], i.raw);
            assert!(!i.value.is_empty());
            last_end = i.end;
        }
        found
    }

    #[test]
    fn corpus_offsets_slice_the_raw_text() {
        for line in corpus() {
            check_invariants(&line.text);
        }
    }

    fn kinds_values(text: &str) -> Vec<(IndicatorKind, String)> {
        check_invariants(text)
            .into_iter()
            .map(|i| (i.kind, i.value))
            .collect()
    }

    #[test]
    fn refang_undoes_every_form() {
        let cases = [
            ("evil[.]com", "evil.com"),
            ("example(.)org", "example.org"),
            ("a{.}b{.}net", "a.b.net"),
            ("evil[dot]com and evil(DOT)net", "evil.com and evil.net"),
            ("evil [.] com", "evil.com"),
            ("1.2.3[.]4", "1.2.3.4"),
            ("hxxp://x[.]y", "http://x.y"),
            ("hXXps[:]//x", "https://x"),
            ("http[://]x", "http://x"),
            ("fxp://x", "ftp://x"),
            ("a[@]b[.]c", "a@b.c"),
            ("a[at]b and c (at) d", "a@b and c@d"),
            ("x[/]y", "x/y"),
            (
                "no defang here: [x] (y) hxxpy",
                "no defang here: [x] (y) hxxpy",
            ),
            ("日本[.]jp «é»", "日本.jp «é»"),
        ];
        for (input, want) in cases {
            assert_eq!(refang(input), want, "{input}");
        }
    }

    #[test]
    fn url_swallows_its_ip_and_domain() {
        let found = kinds_values(
            "Fetched hxxp://192.0.2[.]1:8080/a.exe and https://www.example.com/x?y=1.",
        );
        assert_eq!(
            found,
            [
                (
                    IndicatorKind::Url,
                    "http://192.0.2.1:8080/a.exe".to_string()
                ),
                (
                    IndicatorKind::Url,
                    "https://www.example.com/x?y=1".to_string()
                ),
            ]
        );
    }

    #[test]
    fn email_swallows_its_domain_and_path_its_hash() {
        let found = kinds_values(
            "Mail ops[@]evil[.]com; dropped C:\\x\\d41d8cd98f00b204e9800998ecf8427e.exe",
        );
        assert_eq!(
            found,
            [
                (IndicatorKind::Email, "ops@evil.com".to_string()),
                (
                    IndicatorKind::FilePath,
                    "C:\\x\\d41d8cd98f00b204e9800998ecf8427e.exe".to_string()
                ),
            ]
        );
    }

    #[test]
    fn rejected_candidates_give_back_their_addresses() {
        let found = kinds_values(
            "tcp://192.0.2.7:4444, root@192.0.2.8, 192.0.2.1-192.0.2.5, 192.0.2.9/192.0.2.10, \
             fe80::1:2: and 5d41402abc4b2a76b9719d911017c592.bin",
        );
        let ip = |v: &str| (IndicatorKind::Ipv4, v.to_string());
        assert_eq!(
            found,
            [
                ip("192.0.2.7:4444"),
                ip("192.0.2.8"),
                ip("192.0.2.1"),
                ip("192.0.2.5"),
                ip("192.0.2.9"),
                ip("192.0.2.10"),
                (IndicatorKind::Ipv6, "fe80::1:2".to_string()),
                (
                    IndicatorKind::Md5,
                    "5d41402abc4b2a76b9719d911017c592".to_string()
                ),
            ]
        );
    }

    #[test]
    fn spaced_directories_do_not_bridge_into_a_hive() {
        let found = kinds_values("C:\\update42.exe HKCU\\Software\\Relay and C:\\Program Files\\X");
        assert_eq!(
            found,
            [
                (IndicatorKind::FilePath, "C:\\update42.exe".to_string()),
                (
                    IndicatorKind::RegistryKey,
                    "HKCU\\Software\\Relay".to_string()
                ),
                (IndicatorKind::FilePath, "C:\\Program Files\\X".to_string()),
            ]
        );
    }

    fn kv(kind: IndicatorKind, value: &str) -> (IndicatorKind, String) {
        (kind, value.to_string())
    }

    #[test]
    fn a_capitalised_tld_after_lower_case_labels_is_a_domain() {
        use IndicatorKind::{Domain, Url};
        assert_eq!(
            kinds_values("evil.Com, bar.COM, x.evil.cOm/a.php and EVIL.ORG"),
            [
                kv(Domain, "evil.com"),
                kv(Domain, "bar.com"),
                kv(Url, "x.evil.com/a.php"),
                kv(Domain, "evil.org"),
            ]
        );
        for prose in [
            "the file.It ran",
            "System.IO and Socket.IO",
            "at the bar.Then",
            "Evil.Com",
            "ASP.Net",
            "a.Io",
        ] {
            assert_eq!(kinds_values(prose), [], "{prose}");
        }
    }

    #[test]
    fn spaces_inside_a_path_are_crossed_only_where_the_path_goes_on() {
        use IndicatorKind::{FilePath, RegistryKey};
        let cases = [
            (
                "C:\\Program Files\\Common Files\\x.dll loaded",
                vec![kv(FilePath, "C:\\Program Files\\Common Files\\x.dll")],
            ),
            (
                "key HKLM\\Software\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon was set",
                vec![kv(
                    RegistryKey,
                    "HKLM\\Software\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon",
                )],
            ),
            (
                "to C:\\Users\\john doe\\my app\\run.exe now",
                vec![kv(FilePath, "C:\\Users\\john doe\\my app\\run.exe")],
            ),
            (
                "C:\\Users\\Public\\Google Update.exe and more",
                vec![kv(FilePath, "C:\\Users\\Public\\Google Update.exe")],
            ),
            // prose after a path: not swallowed
            (
                "saved to C:\\Temp then ran payload.exe",
                vec![kv(FilePath, "C:\\Temp")],
            ),
            (
                "C:\\Temp\\a.exe and b.exe",
                vec![kv(FilePath, "C:\\Temp\\a.exe")],
            ),
            (
                "C:\\x.exe and %TEMP%\\y.exe or hkcu\\Run",
                vec![
                    kv(FilePath, "C:\\x.exe"),
                    kv(FilePath, "%TEMP%\\y.exe"),
                    kv(RegistryKey, "hkcu\\Run"),
                ],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(kinds_values(text), want, "{text}");
        }
    }

    #[test]
    fn a_hive_in_angle_brackets_starts_a_key() {
        let found = check_invariants("under <HKCU>\\Software\\Run, not <HKLM> alone");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].raw, "<HKCU>\\Software\\Run");
        assert_eq!(found[0].value, "HKCU\\Software\\Run");
        assert_eq!(found[0].kind, IndicatorKind::RegistryKey);
    }

    #[test]
    fn a_markdown_link_is_two_urls() {
        use IndicatorKind::Url;
        assert_eq!(
            kinds_values("[https://a.example.com/x](https://a.example.com/x)"),
            [
                kv(Url, "https://a.example.com/x"),
                kv(Url, "https://a.example.com/x")
            ]
        );
        assert_eq!(
            kinds_values("[a.example.com/x](hxxps://b.example[.]com/y)."),
            [
                kv(Url, "a.example.com/x"),
                kv(Url, "https://b.example.com/y")
            ]
        );
        // balanced brackets stay in the URL
        assert_eq!(
            kinds_values("(https://en.example.org/wiki/A_(b)) and http://[2001:db8::1]:80/x"),
            [
                kv(Url, "https://en.example.org/wiki/A_(b)"),
                kv(Url, "http://[2001:db8::1]:80/x")
            ]
        );
        // many closing brackets in one run without spaces: one URL each, linear
        let t = Instant::now();
        let run = "http://a.example.com/x]".repeat(40_000);
        assert_eq!(check_invariants(&run).len(), 40_000);
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn colon_separated_bytes_are_no_ipv6() {
        for text in [
            "serial 3a:5f:9c:01:22:7e:4b:d0:11:8f:62:a3:90:cc:1d:7e.",
            "MAC 00:1a:2b:3c:4d:5e, EUI-64 02:1a:2b:ff:fe:3c:4d:5e",
            "thumbprint 5f:9c:01:22:7e:4b:d0:11 and 12:34:56:78:9a:bc:de:f0:12:34:5:6",
            "[Convert]::FromBase64String, std::abc, Foo::Bar(), x::1",
        ] {
            assert_eq!(kinds_values(text), [], "{text}");
        }
        use IndicatorKind::Ipv6;
        assert_eq!(
            kinds_values("::1, [::1]:53, fe80::2, ::ffff, 2001:db8::1 and IPv6:2001:db8::2"),
            [
                kv(Ipv6, "::1"),
                kv(Ipv6, "::1"),
                kv(Ipv6, "fe80::2"),
                kv(Ipv6, "::ffff"),
                kv(Ipv6, "2001:db8::1"),
                kv(Ipv6, "2001:db8::2"),
            ]
        );
    }

    #[test]
    fn underscores_in_host_names() {
        use IndicatorKind::{Domain, Url};
        assert_eq!(
            kinds_values("my_host.evil.com, _ldap._tcp.corp.net and http://a_b.evil.com/x"),
            [
                kv(Domain, "my_host.evil.com"),
                kv(Domain, "_ldap._tcp.corp.net"),
                kv(Url, "http://a_b.evil.com/x"),
            ]
        );
        assert_eq!(
            kinds_values("read_config.py, os.path_join, __init__.py"),
            []
        );
    }

    #[test]
    fn defanged_hosts_after_other_schemes() {
        use IndicatorKind::{Domain, Ipv4, Url};
        assert_eq!(
            kinds_values(
                "tcp://evil[.]com:4444 udp://a[.]b[.]org:53 sftp://exfil[.]net/up \
                 ftps://192[.]0.2.44:990 ssh[:]//10.0.0[.]1"
            ),
            [
                kv(Domain, "evil.com:4444"),
                kv(Domain, "a.b.org:53"),
                kv(Url, "exfil.net/up"),
                kv(Ipv4, "192.0.2.44:990"),
                kv(Ipv4, "10.0.0.1"),
            ]
        );
    }

    #[test]
    fn half_brackets_escapes_and_spaces_are_refanged() {
        use IndicatorKind::{Domain, Email, Ipv4};
        assert_eq!(
            kinds_values(
                "example[.com, cdn.example.]net, 198.51.100[.23, 10\\.10\\.10\\.10, evil\\.com, \
                 user at example[dot]com, admin @ example[.]org"
            ),
            [
                kv(Domain, "example.com"),
                kv(Domain, "cdn.example.net"),
                kv(Ipv4, "198.51.100.23"),
                kv(Ipv4, "10.10.10.10"),
                kv(Domain, "evil.com"),
                kv(Email, "user@example.com"),
                kv(Email, "admin@example.org"),
            ]
        );
        // a bare ` at ` is an at sign only before a `[dot]` domain and after no prose word
        assert_eq!(
            kinds_values("hosted at evil[dot]com, seen at evil[.]net, met at noon, at 10.0.0.1"),
            [
                kv(Domain, "evil.com"),
                kv(Domain, "evil.net"),
                kv(Ipv4, "10.0.0.1"),
            ]
        );
        assert_eq!(
            kinds_values("pointed at bar.com/x.php"),
            [kv(IndicatorKind::Url, "bar.com/x.php")]
        );
        assert_eq!(
            refang("a[.b c.]d 1\\.2 u @ v [.x x.] \\.5"),
            "a.b c.d 1.2 u@v [.x x.] \\.5"
        );
    }

    #[test]
    fn byte_offsets_survive_multibyte_text() {
        let text = "连接到 192.0.2.66，域名 «evil[.]com» — 𝔘𝔫𝔦 2001:db8::1。ÉCRIT /tmp/x…";
        let found = check_invariants(text);
        let got: Vec<(&str, &str)> = found
            .iter()
            .map(|i| (i.raw.as_str(), i.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("192.0.2.66", "192.0.2.66"),
                ("evil[.]com", "evil.com"),
                ("2001:db8::1", "2001:db8::1"),
                ("/tmp/x", "/tmp/x"),
            ]
        );
    }

    #[test]
    fn near_misses_are_not_indicators() {
        for text in [
            "T1059.001 TA0001 S0002 G0007 CVE-2017-11882 APT28 Cobalt Strike",
            "version 2.0.1, v1.2.3, Windows 10.0.19041, version 1.2.3.4, build 10.0.0.1",
            "a .dll file, mimikatz.exe, invoice.docx, setup.msi, payload.ps1, script.py, lib.so",
            "3.5 million, 10:30:00, 2021-03-04, e.g. this, i.e. that, the U.S. and the domain. Then",
            "and/or TCP/IP 24/7 read/write I/O System.IO ASP.NET [Convert]::FromBase64String",
            "1stQuarterFinancesReportDraft and a 33-hex 0123456789abcdef0123456789abcdef0",
        ] {
            assert_eq!(kinds_values(text), [], "{text}");
        }
    }

    #[test]
    fn hashes_are_whole_words_of_the_right_length() {
        let h = "0123456789abcdef";
        for (n, kind) in [
            (2, Some(IndicatorKind::Md5)),
            (3, None),
            (4, Some(IndicatorKind::Sha256)),
            (8, Some(IndicatorKind::Sha512)),
        ] {
            let text = format!("hash {} end", h.repeat(n));
            let found = kinds_values(&text);
            assert_eq!(found.first().map(|f| f.0), kind, "{n}");
        }
        let sha1 = "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709";
        assert_eq!(
            kinds_values(sha1),
            [(IndicatorKind::Sha1, sha1.to_ascii_lowercase())]
        );
        assert_eq!(kinds_values(&format!("x{}", &h.repeat(2))), []);
    }

    #[test]
    fn bitcoin_needs_a_valid_checksum() {
        let good = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa";
        assert_eq!(
            kinds_values(good),
            [(IndicatorKind::Bitcoin, good.to_string())]
        );
        assert_eq!(kinds_values("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"), []);
        let bech = "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4";
        assert_eq!(
            kinds_values(bech),
            [(IndicatorKind::Bitcoin, bech.to_ascii_lowercase())]
        );
        assert_eq!(
            kinds_values("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t"),
            []
        );
    }

    #[test]
    fn tables_are_sorted_and_kinds_consistent() {
        assert!(TLDS.windows(2).all(|w| w[0] < w[1]));
        assert!(FILE_EXTENSIONS.windows(2).all(|w| w[0] < w[1]));
        for kind in IndicatorKind::ALL {
            let json = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.name()));
            let back: IndicatorKind = serde_json::from_str(&json).unwrap_or(IndicatorKind::Ipv4);
            assert_eq!(back, kind);
        }
        let tags: std::collections::BTreeSet<_> =
            IndicatorKind::ALL.iter().map(|k| k.tag()).collect();
        assert_eq!(tags.len(), IndicatorKind::ALL.len());
        fn shared<T: Send + Sync>(_: &T) {}
        shared(&*RECOGNIZER);
    }

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
        }
    }

    #[test]
    fn random_strings_keep_the_invariants() {
        const PARTS: &[&str] = &[
            "1",
            "25",
            ".",
            "[.]",
            "(dot)",
            ":",
            "::",
            "/",
            "\\",
            "@",
            "[at]",
            "a",
            "F",
            "hxxp",
            "://",
            "[:]//",
            "é",
            "中",
            " ",
            "%",
            "~",
            "HKLM",
            "C:",
            "bc1",
            "(",
            ")",
            "]",
            "-",
            "_",
            "0",
            "ff",
            "x",
            "com",
            "exe",
            "1A1z",
            "\n",
            "\u{1F600}",
            "..",
            "4",
            "AB",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let len = rng.below(120);
            let text: String = (0..len).map(|_| PARTS[rng.below(PARTS.len())]).collect();
            check_invariants(&text);
            let _ = refang(&text);
        }
    }

    #[test]
    fn pathological_inputs_finish_quickly() {
        let hex: String = (0..1_000_000)
            .map(|i| b"0123456789abcdef"[i % 16] as char)
            .collect();
        let inputs = [
            "1.1.1.1.".repeat(131_072),
            "[.]".repeat(100_000),
            "a[.]".repeat(100_000),
            hex,
            "a.".repeat(500_000),
            ":".repeat(1_000_000),
            "1:".repeat(500_000),
            "\\".repeat(1_000_000),
            "C:\\a ".repeat(200_000),
            "/a".repeat(500_000),
            "a@".repeat(500_000),
            format!("http://{}", "a".repeat(1_000_000)),
            "hxxp://x[.]y ".repeat(80_000),
            "x".repeat(1_000_000),
            "é1.2.3.4".repeat(100_000),
            format!("1.1.1.1{}", "/1.1.1.1".repeat(120_000)),
            "1.2.3.4-".repeat(120_000),
            "//a.b".repeat(200_000),
            "a@1.2.3.4 ".repeat(100_000),
            "A.b.Cc.".repeat(150_000),
            "x at ".repeat(200_000),
            "a at b[dot]c ".repeat(80_000),
            "a\\.".repeat(300_000),
            "a[.".repeat(300_000),
            "a.]".repeat(300_000),
            "http://a/x]".repeat(90_000),
            "C:\\a b c d ".repeat(100_000),
            "3a:".repeat(300_000),
        ];
        for text in &inputs {
            let t = Instant::now();
            check_invariants(text);
            let _ = refang(text);
            let took = t.elapsed();
            let head: String = text.chars().take(12).collect();
            println!("{head:?}… ({} bytes): {took:?}", text.len());
            assert!(took < Duration::from_secs(5), "{head:?}: {took:?}");
        }
    }
}
