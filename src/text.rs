//! Text hygiene for hostile data: quoting values in messages, cleaning LLM output before
//! it is written, and neutralising spreadsheet formulas in CSV cells.
//!
//! - [`clip`]: how every error message quotes a value from a file (at most
//!   [`DISPLAY_CHARS`] characters, control characters escaped).
//! - [`sanitize`]: what a sentence written by an LLM may contain: no control characters
//!   (C0, DEL, C1), no bidi overrides or isolates, no zero-width characters, whitespace
//!   folded to single spaces; also how `clusters` prints a sentence on the terminal.
//! - [`oversize`]: whether a sentence has a "word" or a total length past the limits.
//! - [`csv_cell`]: a cell that a spreadsheet would run as a formula gets a leading `'`.

use std::borrow::Cow;

/// Most characters of a value quoted in a message.
pub const DISPLAY_CHARS: usize = 200;

/// Default longest word of a written sentence, in characters.
pub const MAX_WORD_CHARS: usize = 64;

/// Default longest written sentence, in characters.
pub const MAX_SENTENCE_CHARS: usize = 1000;

/// A value quoted for a message: Rust string escaping (control characters, ESC, bidi
/// overrides become `\u{..}`), cut after [`DISPLAY_CHARS`] characters with the length
/// of the rest noted.
pub fn clip(value: &str) -> String {
    let (head, rest) = cut(value);
    with_rest(format!("{:?}", escape_invisible(head)), rest)
}

/// A JSON value for a message, as JSON text, cut like [`clip`] (JSON already escapes
/// C0 controls; C1, bidi and zero-width characters are spelled out).
pub fn clip_json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    let (head, rest) = cut(&text);
    with_rest(escape_invisible(head).into_owned(), rest)
}

/// The first [`DISPLAY_CHARS`] characters and how many characters follow.
fn cut(value: &str) -> (&str, usize) {
    match value.char_indices().nth(DISPLAY_CHARS) {
        None => (value, 0),
        Some((at, _)) => (&value[..at], value[at..].chars().count()),
    }
}

fn with_rest(shown: String, rest: usize) -> String {
    if rest == 0 {
        shown
    } else {
        format!("{shown}… ({rest} more characters)")
    }
}

/// `{:?}` escapes control characters but prints bidi and zero-width characters as they
/// are; this spells those (and C1 controls) out as `<U+XXXX>`.
fn escape_invisible(value: &str) -> Cow<'_, str> {
    let hidden = |c: char| is_invisible_format(c) || ('\u{80}'..='\u{9f}').contains(&c);
    if !value.chars().any(hidden) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if hidden(c) {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Bidi embeddings, overrides, isolates and marks; zero-width spaces and joiners; the
/// byte-order mark / word joiner family; the soft hyphen and other invisible formatters.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// A sentence as it may be written: control characters, bidi controls and zero-width
/// characters removed (tabs and line breaks become spaces), whitespace folded to single
/// spaces, ends trimmed. Idempotent.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if c.is_control() || is_invisible_format(c) {
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    out
}

/// Bidi formatting controls: embeddings and overrides (U+202A–U+202E), isolates
/// (U+2066–U+2069), the marks LRM, RLM and ALM (U+200E, U+200F, U+061C).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// What [`strip_controls`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stripped {
    /// Characters removed: C0 controls other than tab and line breaks (NUL, BEL, BS, ESC
    /// …), DEL, C1 controls, bidi controls ([`is_bidi_control`]).
    pub removed: u64,
    /// Tabs and line breaks (CR, LF, CR LF, U+2028, U+2029) each replaced by one space.
    pub spaced: u64,
}

impl Stripped {
    /// Whether nothing changed.
    pub fn is_empty(self) -> bool {
        self.removed == 0 && self.spaced == 0
    }
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

fn is_stripped(c: char) -> bool {
    (c.is_control() && !is_line_break(c)) || is_bidi_control(c)
}

/// How the readers clean every value of an input row: control characters (C0 except tab
/// and line breaks, DEL, C1) and bidi controls are removed, each tab or line break (CR LF
/// counting as one) becomes a space; nothing else changes (no trimming, no folding, so a
/// clean value is returned as is: `None`). Zero-width joiners, which some scripts need, are
/// kept.
pub fn strip_controls(value: &str) -> Option<(String, Stripped)> {
    let hit = |c: char| is_stripped(c) || is_line_break(c);
    // Fast path: every character to change is a C0/DEL byte or starts with 0xC2 (C1),
    // 0xD8 (ALM), 0xE2 (U+2000 block).
    if !value
        .bytes()
        .any(|b| b < 0x20 || b == 0x7f || matches!(b, 0xC2 | 0xD8 | 0xE2))
        || !value.chars().any(hit)
    {
        return None;
    }
    let mut out = String::with_capacity(value.len());
    let mut n = Stripped::default();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if is_line_break(c) {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            n.spaced += 1;
            out.push(' ');
        } else if is_stripped(c) {
            n.removed += 1;
        } else {
            out.push(c);
        }
    }
    Some((out, n))
}

/// What the writers apply to every added row: [`sanitize`], then cut to
/// [`MAX_SENTENCE_CHARS`] (a last guard; the filters reject longer sentences first).
pub fn clean(text: &str) -> String {
    let clean = sanitize(text);
    match clean.char_indices().nth(MAX_SENTENCE_CHARS) {
        Some((cut, _)) => clean[..cut].trim_end().to_string(),
        None => clean,
    }
}

/// A sentence without its Markdown dressing: bold/italic wrappers, list markers (`1.`,
/// `2)`, `(3)`, `Sentence 4:`, `-`, `*`, `•`, `>` …) and surrounding quotes, stripped
/// repeatedly. The one cleaner of LLM lines and candidate sentences; apply [`sanitize`]
/// first for control characters and whitespace.
pub fn strip_markup(raw: &str) -> String {
    let mut s = raw.trim().to_string();
    loop {
        let mut next = strip_bold(&s).to_string();
        if let Some(rest) = strip_list_marker(&next) {
            next = rest.to_string();
        }
        next = strip_quotes(&next).trim().to_string();
        if next == s {
            return s;
        }
        s = next;
    }
}

/// `s` without one level of `**…**` / `__…__` wrapping.
pub fn strip_bold(s: &str) -> &str {
    let mut s = s.trim();
    for w in ["**", "__"] {
        if let Some(inner) = s.strip_prefix(w).and_then(|r| r.strip_suffix(w)) {
            s = inner.trim();
        }
    }
    // "**1.** text" -> "1. text" is handled by the marker stripper seeing "**1.**".
    s
}

/// The text after a list marker (`1.`, `2)`, `(3)`, `4:`, `Sentence 5:`, `-`, `*`, `•`, `+`,
/// `–`, `·`), or `None` when the line has no marker.
pub fn strip_list_marker(line: &str) -> Option<&str> {
    let s = line.trim_start();
    // Bullets.
    for bullet in ['-', '*', '•', '+', '–', '—', '·', '▪', '‣', '>'] {
        if let Some(rest) = s.strip_prefix(bullet)
            && (rest.starts_with(char::is_whitespace) || rest.is_empty())
        {
            return Some(rest.trim_start());
        }
    }
    // "Sentence 3:" / "Example 3." labels.
    let mut t = s;
    for label in ["sentence", "example"] {
        if s.get(..label.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(label))
        {
            t = s[label.len()..].trim_start();
            break;
        }
    }
    // "(3)" form.
    if let Some(rest) = t.strip_prefix('(') {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if (1..=3).contains(&digits)
            && let Some(after) = rest[digits..].strip_prefix(')')
        {
            return Some(after.trim_start());
        }
        return None;
    }
    // "3." / "3)" / "3:" / "3 -" forms, optionally wrapped in ** (e.g. "**3.**").
    let t2 = t.strip_prefix("**").unwrap_or(t);
    let digits = t2.chars().take_while(char::is_ascii_digit).count();
    if !(1..=3).contains(&digits) {
        return None;
    }
    let after = &t2[digits..];
    let after = after.strip_prefix("**").unwrap_or(after);
    for sep in [".", ")", ":", " -", " –"] {
        if let Some(rest) = after.strip_prefix(sep) {
            let rest = rest.strip_prefix("**").unwrap_or(rest);
            if rest.is_empty() || rest.starts_with(char::is_whitespace) {
                return Some(rest.trim_start());
            }
        }
    }
    None
}

/// Remove one pair of surrounding quotes; `"A sentence".` keeps its full stop.
fn strip_quotes(s: &str) -> String {
    const PAIRS: &[(char, char)] = &[
        ('"', '"'),
        ('\'', '\''),
        ('“', '”'),
        ('„', '“'),
        ('‘', '’'),
        ('«', '»'),
        ('`', '`'),
    ];
    let s = s.trim();
    for &(open, close) in PAIRS {
        let Some(rest) = s.strip_prefix(open) else {
            continue;
        };
        if let Some(inner) = rest.strip_suffix(close) {
            return inner.to_string();
        }
        // A quoted sentence followed by its full stop.
        if let Some(inner) = rest.strip_suffix('.').and_then(|r| r.strip_suffix(close))
            && !inner.contains(close)
        {
            return if inner.ends_with(['.', '!', '?']) {
                inner.to_string()
            } else {
                format!("{inner}.")
            };
        }
    }
    s.to_string()
}

/// Length limits of a written sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimits {
    /// Longest word (run of non-whitespace), in characters.
    pub max_word_chars: usize,
    /// Longest sentence, in characters.
    pub max_chars: usize,
}

impl Default for TextLimits {
    fn default() -> Self {
        Self {
            max_word_chars: MAX_WORD_CHARS,
            max_chars: MAX_SENTENCE_CHARS,
        }
    }
}

/// Which length limit a sentence breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversize {
    /// A word longer than [`TextLimits::max_word_chars`]; its length in characters.
    Word(usize),
    /// More characters than [`TextLimits::max_chars`]; the sentence's length.
    Text(usize),
}

impl std::fmt::Display for Oversize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Oversize::Word(n) => write!(f, "a word of {n} characters"),
            Oversize::Text(n) => write!(f, "{n} characters"),
        }
    }
}

/// The first limit `text` breaks, if any (total length first).
pub fn oversize(text: &str, limits: TextLimits) -> Option<Oversize> {
    if text.chars().nth(limits.max_chars).is_some() {
        return Some(Oversize::Text(text.chars().count()));
    }
    text.split_whitespace()
        .map(|w| w.chars().count())
        .find(|&n| n > limits.max_word_chars)
        .map(Oversize::Word)
}

/// A CSV cell that spreadsheets would not run as a formula: a cell starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a leading `'` (OWASP's advice).
pub fn csv_cell<'a>(cell: impl Into<Cow<'a, str>>) -> Cow<'a, str> {
    let cell = cell.into();
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_stripped() {
        assert_eq!(strip_markup(&sanitize("  1. \"It  ran.\" ")), "It ran.");
        assert_eq!(strip_markup("- * 'x y'"), "x y");
        assert_eq!(strip_markup("> **2)** “Quoted”."), "Quoted.");
        assert_eq!(strip_markup("Sentence 3: It ran."), "It ran.");
        assert_eq!(strip_markup("2021 was a year."), "2021 was a year.");
        assert_eq!(strip_markup("-x stays"), "-x stays");
    }

    #[test]
    fn clip_quotes_escapes_and_cuts() {
        assert_eq!(clip("a\u{1b}[31mb"), "\"a\\u{1b}[31mb\"");
        assert_eq!(clip("x\u{202E}y"), "\"x<U+202E>y\"");
        let long = "é".repeat(1000);
        let c = clip(&long);
        assert!(c.ends_with("… (800 more characters)"), "{c}");
        assert_eq!(c.chars().filter(|&ch| ch == 'é').count(), DISPLAY_CHARS);
        let v = serde_json::json!({"a": "\u{1b}\u{9b}\u{2066}"});
        assert_eq!(clip_json(&v), "{\"a\":\"\\u001b<U+009B><U+2066>\"}");
    }

    #[test]
    fn strip_controls_removes_controls_and_bidi_and_spaces_breaks() {
        assert_eq!(strip_controls("plain text, caf\u{e9} \u{200d}"), None);
        let (s, n) = strip_controls("a\0b\u{1b}[31mc\u{7}\u{8}\u{7f}d\u{85}").expect("changed");
        assert_eq!((s.as_str(), n.removed, n.spaced), ("ab[31mcd", 6, 0));
        let (s, n) =
            strip_controls("\u{202e}evil\u{202c} \u{2066}x\u{2069}\u{200e}\u{200f}\u{61c}")
                .expect("changed");
        assert_eq!((s.as_str(), n.removed), ("evil x", 7));
        let (s, n) = strip_controls("one\ttwo\r\nthree\nfour\u{2028}").expect("changed");
        assert_eq!(
            (s.as_str(), n.removed, n.spaced),
            ("one two three four ", 0, 4)
        );
    }

    #[test]
    fn sanitize_strips_controls_bidi_and_zero_width() {
        let dirty = " A\u{0}B\u{1b}[2J c\u{85}d\u{202E}e\u{200B}f\u{FEFF}\tg\r\nh\u{7f} ";
        assert_eq!(sanitize(dirty), "AB[2J c def g h");
        assert_eq!(sanitize(&sanitize(dirty)), sanitize(dirty));
        assert_eq!(sanitize("plain text."), "plain text.");
    }

    #[test]
    fn oversize_finds_long_words_and_texts() {
        let l = TextLimits {
            max_word_chars: 5,
            max_chars: 20,
        };
        assert_eq!(oversize("short words only", l), None);
        assert_eq!(oversize("a toolongword", l), Some(Oversize::Word(11)));
        assert_eq!(oversize(&"ab ".repeat(10), l), Some(Oversize::Text(30)));
        let long = format!("=cmd {}", "é".repeat(2 * MAX_SENTENCE_CHARS));
        assert_eq!(clean(&long).chars().count(), MAX_SENTENCE_CHARS);
    }

    #[test]
    fn csv_cells_that_look_like_formulas_are_neutralised() {
        for bad in ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(csv_cell(bad), format!("'{bad}"));
        }
        assert_eq!(csv_cell("T1003 dumps"), "T1003 dumps");
        assert_eq!(csv_cell(""), "");
    }
}
