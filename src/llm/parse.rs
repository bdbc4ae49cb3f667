//! Tolerant parsing of an LLM answer into candidate sentences.
//!
//! Small models answer in many shapes. [`parse_sentences`] accepts, in this order:
//! 1. text inside Markdown code fences (```` ```json ... ``` ````); text around the fence is
//!    rejected as prose;
//! 2. JSON: arrays of strings, objects such as `{"sentences": [...]}` or `{"sentence": "..."}`,
//!    several values in a row (JSON Lines), and truncated JSON (complete string literals are
//!    salvaged, the cut one is rejected);
//! 3. plain text: numbered (`1.`, `2)`, `(3)`, `Sentence 4:`) or bulleted (`-`, `*`, `•`, `+`)
//!    lists, or one sentence per line.
//!
//! Assistant chatter ("Sure!", "Here are 5 sentences:"), headings, separators and prose outside
//! a list or outside the JSON are rejected with a [`RejectReason`]; surrounding quotes and list
//! markers are stripped. Nothing here panics, whatever the input (checked by proptest).

use crate::text::{strip_bold, strip_list_marker, strip_markup};
use serde::Serialize;
use serde_json::Value;

/// Why a piece of an answer was not taken as a sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The answer (or a JSON string item) is empty.
    Empty,
    /// Assistant chatter such as "Sure!" or "Here are 5 sentences:".
    Chatter,
    /// A heading or a label line: Markdown `#`, or a line ending with `:`.
    Heading,
    /// No letters at all: separators, numbers, punctuation.
    NoLetters,
    /// Prose next to a list: a line without a list marker in an answer that has a list.
    OutsideList,
    /// Text before or after the JSON value or the code fence.
    OutsideJson,
    /// A JSON value that is not a string (number, boolean, null, or an object without a
    /// `sentence`/`sentences`/`text` field), or a string under another key.
    NotAString,
    /// A JSON string cut off before its closing quote (answer truncated by `max_tokens`).
    TruncatedJson,
}

impl RejectReason {
    /// A short stable name, e.g. `"chatter"`, for reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Empty => "empty",
            RejectReason::Chatter => "chatter",
            RejectReason::Heading => "heading",
            RejectReason::NoLetters => "no_letters",
            RejectReason::OutsideList => "outside_list",
            RejectReason::OutsideJson => "outside_json",
            RejectReason::NotAString => "not_a_string",
            RejectReason::TruncatedJson => "truncated_json",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A piece of an answer that was dropped, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reject {
    /// The dropped text (trimmed).
    pub text: String,
    /// Why it was dropped.
    pub reason: RejectReason,
}

/// The result of [`parse_sentences`]: candidate sentences in answer order, plus what was dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Parsed {
    /// Cleaned candidate sentences (quotes and list markers stripped), in order. Not
    /// deduplicated and not quality-filtered: that is the filter stage's job.
    pub sentences: Vec<String>,
    /// Everything that was not taken, with a reason.
    pub rejects: Vec<Reject>,
}

impl Parsed {
    fn reject(&mut self, text: &str, reason: RejectReason) {
        self.rejects.push(Reject {
            text: text.trim().to_string(),
            reason,
        });
    }

    /// Judge one candidate (a line or a JSON string) and file it as a sentence or a reject.
    fn candidate(&mut self, raw: &str) {
        let text = strip_markup(raw);
        if text.is_empty() {
            self.reject(raw, RejectReason::Empty);
        } else if is_chatter(&text) {
            self.reject(raw, RejectReason::Chatter);
        } else if !text.chars().any(char::is_alphabetic) {
            self.reject(raw, RejectReason::NoLetters);
        } else {
            self.sentences.push(text);
        }
    }
}

/// Parse an LLM answer into candidate sentences; never fails and never panics.
pub fn parse_sentences(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let text = text.trim();
    if text.is_empty() {
        out.reject(text, RejectReason::Empty);
        return out;
    }
    let body = match split_fences(text) {
        Some((inner, outside)) => {
            for line in outside.iter().flat_map(|s| s.lines()) {
                if !line.trim().is_empty() {
                    out.reject(line, RejectReason::OutsideJson);
                }
            }
            inner
        }
        None => text.to_string(),
    };
    if !parse_json_mode(&body, &mut out) {
        parse_lines(&body, &mut out);
    }
    out
}

/// The contents of all fenced blocks (joined by newlines) and the text outside them, or
/// `None` when there is no opening fence. An unclosed fence runs to the end.
fn split_fences(text: &str) -> Option<(String, Vec<&str>)> {
    if !text.contains("```") {
        return None;
    }
    let mut inner = String::new();
    let mut outside = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        outside.push(&rest[..open]);
        let after = &rest[open + 3..];
        // Skip the info string (`json`, `text`, ...) up to the end of the line.
        let body_start = after.find('\n').map_or(after.len(), |i| i + 1);
        let info = &after[..body_start];
        let (body, next) = if info.contains("```") {
            // "```[..]```" on one line: the info string is the body.
            let close = info.find("```").unwrap_or(info.len());
            (&info[..close], &after[(close + 3).min(after.len())..])
        } else {
            let after_info = &after[body_start..];
            match after_info.find("```") {
                Some(close) => (&after_info[..close], &after_info[close + 3..]),
                None => (after_info, ""),
            }
        };
        if !inner.is_empty() {
            inner.push('\n');
        }
        inner.push_str(body);
        rest = next;
    }
    outside.push(rest);
    Some((inner, outside))
}

/// Try to read `body` as JSON (after optional leading prose lines). Returns false, touching
/// nothing, when there is no JSON to speak of: the caller then parses lines.
fn parse_json_mode(body: &str, out: &mut Parsed) -> bool {
    // The JSON starts at the first line that starts with `[` or `{`.
    let mut start = None;
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') || trimmed.starts_with('{') {
            start = Some(offset + (line.len() - trimmed.len()));
            break;
        }
        offset += line.len();
    }
    let Some(start) = start else {
        return false;
    };
    let (before, json) = body.split_at(start);

    let mut local = Parsed::default();
    let mut values = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(json).into_iter::<Value>();
    let mut consumed = 0;
    while let Some(Ok(value)) = stream.next() {
        consumed = stream.byte_offset();
        values.push(value);
    }
    let tail = json.get(consumed..).unwrap_or("").trim();
    for value in &values {
        collect_value(value, &mut local);
    }
    if !tail.is_empty() {
        let tail_is_json = tail.starts_with('[') || tail.starts_with('{') || tail.starts_with(',');
        if tail_is_json && salvage_strings(tail, &mut local) {
            // truncated JSON: complete literals salvaged, the cut one rejected
        } else if values.is_empty() {
            // Neither parseable nor salvageable: this was not JSON (e.g. "[T1003] The actor ...").
            return false;
        } else {
            for line in tail.lines().filter(|l| !l.trim().is_empty()) {
                local.reject(line, RejectReason::OutsideJson);
            }
        }
    }
    for line in before.lines().filter(|l| !l.trim().is_empty()) {
        out.reject(line, RejectReason::OutsideJson);
    }
    out.sentences.extend(local.sentences);
    out.rejects.extend(local.rejects);
    true
}

/// Keys whose value holds the sentence(s), checked in this order (case-insensitive).
const SENTENCE_KEYS: &[&str] = &[
    "sentences",
    "sentence",
    "examples",
    "items",
    "results",
    "output",
    "data",
    "text",
    "content",
];

fn is_sentence_key(key: &str) -> bool {
    SENTENCE_KEYS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key.trim()))
}

fn collect_value(value: &Value, out: &mut Parsed) {
    match value {
        Value::String(s) => out.candidate(s),
        Value::Array(items) => {
            if items.is_empty() {
                out.reject("[]", RejectReason::Empty);
            }
            for item in items {
                collect_value(item, out);
            }
        }
        Value::Object(map) => {
            let found = SENTENCE_KEYS.iter().find_map(|want| {
                map.iter()
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case(want))
                    .map(|(_, v)| v)
            });
            match found {
                Some(v) => collect_value(v, out),
                None => out.reject(&value.to_string(), RejectReason::NotAString),
            }
        }
        other => out.reject(&other.to_string(), RejectReason::NotAString),
    }
}

/// Pull complete string literals out of broken JSON. Keys are skipped; values under a key
/// that is not a sentence key are rejected; an unterminated literal is rejected as truncated.
/// Returns whether any literal was found.
fn salvage_strings(text: &str, out: &mut Parsed) -> bool {
    let bytes = text.as_bytes();
    let mut found = false;
    let mut last_key: Option<String> = None;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        found = true;
        // Find the closing quote, honouring backslash escapes. Quotes and backslashes are
        // ASCII, so every index used for slicing is a char boundary.
        let mut j = i + 1;
        let mut end = None;
        while j < bytes.len() {
            match bytes[j] {
                b'\\' => j += 2,
                b'"' => {
                    end = Some(j);
                    break;
                }
                _ => j += 1,
            }
        }
        let Some(end) = end else {
            let partial = decode_literal(&text[i..], false);
            out.reject(&partial, RejectReason::TruncatedJson);
            break;
        };
        let literal = decode_literal(&text[i..=end], true);
        let next = text[end + 1..].trim_start().chars().next();
        let prev = text[..i].trim_end().chars().last();
        if next == Some(':') {
            last_key = Some(literal);
        } else if prev == Some(':') {
            match &last_key {
                Some(k) if !is_sentence_key(k) => out.reject(&literal, RejectReason::NotAString),
                _ => out.candidate(&literal),
            }
        } else {
            out.candidate(&literal);
        }
        i = end + 1;
    }
    found
}

/// Decode a JSON string literal (with its quotes); fall back to the raw inner text.
fn decode_literal(literal: &str, closed: bool) -> String {
    if closed && let Ok(s) = serde_json::from_str::<String>(literal) {
        return s;
    }
    let inner = literal.strip_prefix('"').unwrap_or(literal);
    let inner = if closed {
        inner.strip_suffix('"').unwrap_or(inner)
    } else {
        inner
    };
    inner.replace("\\\"", "\"").replace("\\n", " ")
}

fn parse_lines(body: &str, out: &mut Parsed) {
    let lines: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let has_list = lines.iter().any(|l| strip_list_marker(l).is_some());
    for line in lines {
        let unbolded = strip_bold(line);
        if is_chatter(&strip_markup(line)) {
            out.reject(line, RejectReason::Chatter);
        } else if unbolded.starts_with('#') || unbolded.ends_with(':') {
            out.reject(line, RejectReason::Heading);
        } else if has_list && strip_list_marker(unbolded).is_none() {
            if unbolded.chars().any(char::is_alphabetic) {
                out.reject(line, RejectReason::OutsideList);
            } else {
                out.reject(line, RejectReason::NoLetters);
            }
        } else {
            out.candidate(line);
        }
    }
}

/// Assistant chatter: a short conversational line, or one opening like a preamble/outro.
fn is_chatter(text: &str) -> bool {
    let lower = text.trim().to_lowercase();
    const OPENERS: &[&str] = &[
        "here are",
        "here is",
        "here's",
        "sure",
        "certainly",
        "of course",
        "absolutely",
        "okay",
        "ok,",
        "ok.",
        "ok!",
        "i hope",
        "hope this",
        "hope these",
        "let me know",
        "i can ",
        "i cannot",
        "i can't",
        "i'm sorry",
        "i am sorry",
        "as an ai",
        "below are",
        "the following are",
        "these sentences",
        "note:",
        "great!",
        "feel free",
    ];
    OPENERS.iter().any(|o| {
        lower.starts_with(o)
            && lower[o.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric() || o.ends_with(' '))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(text: &str) -> Vec<String> {
        parse_sentences(text).sentences
    }

    fn reasons(text: &str) -> Vec<RejectReason> {
        parse_sentences(text)
            .rejects
            .into_iter()
            .map(|r| r.reason)
            .collect()
    }

    #[test]
    fn json_array_of_strings() {
        assert_eq!(
            sentences(r#"["The actor dumped LSASS.", "They used Mimikatz."]"#),
            vec!["The actor dumped LSASS.", "They used Mimikatz."]
        );
    }

    #[test]
    fn json_objects() {
        assert_eq!(
            sentences(r#"{"sentences": ["A one.", "B two."]}"#),
            vec!["A one.", "B two."]
        );
        assert_eq!(
            sentences(r#"{ "sentence": "The malware beacons over HTTPS." }"#),
            vec!["The malware beacons over HTTPS."]
        );
        assert_eq!(
            sentences(r#"[{"sentence": "A one."}, {"text": "B two."}]"#),
            vec!["A one.", "B two."]
        );
        let p = parse_sentences(r#"{"technique": "T1003", "count": 2}"#);
        assert!(p.sentences.is_empty());
        assert_eq!(p.rejects[0].reason, RejectReason::NotAString);
    }

    #[test]
    fn json_lines() {
        assert_eq!(
            sentences("{\"sentence\": \"A one.\"}\n{\"sentence\": \"B two.\"}\n"),
            vec!["A one.", "B two."]
        );
    }

    #[test]
    fn json_in_fences_with_prose() {
        let text = "Sure! Here you go:\n```json\n[\"A one.\", \"B two.\"]\n```\nLet me know!";
        let p = parse_sentences(text);
        assert_eq!(p.sentences, vec!["A one.", "B two."]);
        assert_eq!(p.rejects.len(), 2);
        assert!(
            p.rejects
                .iter()
                .all(|r| r.reason == RejectReason::OutsideJson)
        );
    }

    #[test]
    fn json_after_preamble_and_trailing_prose() {
        let p = parse_sentences("Here are the sentences:\n[\"A one.\"]\nI hope this helps.");
        assert_eq!(p.sentences, vec!["A one."]);
        assert_eq!(
            p.rejects.iter().map(|r| r.reason).collect::<Vec<_>>(),
            vec![RejectReason::OutsideJson, RejectReason::OutsideJson]
        );
    }

    #[test]
    fn truncated_json_is_salvaged() {
        let p = parse_sentences(r#"{"sentences": ["The actor dumped LSASS.", "They used Mimi"#);
        assert_eq!(p.sentences, vec!["The actor dumped LSASS."]);
        assert_eq!(p.rejects.len(), 1);
        assert_eq!(p.rejects[0].reason, RejectReason::TruncatedJson);
        assert_eq!(p.rejects[0].text, "They used Mimi");
        // A non-sentence field is not taken.
        let p = parse_sentences(r#"{"technique": "T1003", "sentence": "Cut her"#);
        assert!(p.sentences.is_empty());
        assert_eq!(
            p.rejects.iter().map(|r| r.reason).collect::<Vec<_>>(),
            vec![RejectReason::NotAString, RejectReason::TruncatedJson]
        );
    }

    #[test]
    fn bracket_citation_is_not_json() {
        assert_eq!(
            sentences("[T1003] The actor dumped credentials from LSASS."),
            vec!["[T1003] The actor dumped credentials from LSASS."]
        );
    }

    #[test]
    fn numbered_lists() {
        let text = "Here are 3 sentences:\n1. First one here.\n2) Second one here.\n(3) Third one.";
        let p = parse_sentences(text);
        assert_eq!(
            p.sentences,
            vec!["First one here.", "Second one here.", "Third one."]
        );
        assert_eq!(p.rejects.len(), 1);
        assert_eq!(p.rejects[0].reason, RejectReason::Chatter);
        assert_eq!(
            sentences("**1.** Bold marker.\nSentence 2: Labelled one.\n10. Tenth."),
            vec!["Bold marker.", "Labelled one.", "Tenth."]
        );
    }

    #[test]
    fn bulleted_lists_with_prose() {
        let text = "- Dash item.\n* Star item.\n• Bullet item.\nThis line is not in the list.";
        let p = parse_sentences(text);
        assert_eq!(
            p.sentences,
            vec!["Dash item.", "Star item.", "Bullet item."]
        );
        assert_eq!(p.rejects.len(), 1);
        assert_eq!(p.rejects[0].reason, RejectReason::OutsideList);
    }

    #[test]
    fn one_sentence_per_line_and_quotes() {
        assert_eq!(
            sentences("\"The actor used PowerShell.\"\n“They exfiltrated data.”\n'Third.'"),
            vec![
                "The actor used PowerShell.",
                "They exfiltrated data.",
                "Third."
            ]
        );
        assert_eq!(
            sentences("- \"Quoted in a list.\".\n- \"Quoted, stop outside\"."),
            vec!["Quoted in a list.", "Quoted, stop outside."]
        );
    }

    #[test]
    fn chatter_headings_and_separators() {
        assert_eq!(
            reasons("Sure!\n## Sentences\n---\nCertainly, here they are:\n12345"),
            vec![
                RejectReason::Chatter,
                RejectReason::Heading,
                RejectReason::NoLetters,
                RejectReason::Chatter,
                RejectReason::NoLetters
            ]
        );
        // Words that merely start like chatter are kept.
        assert_eq!(
            sentences("Surely the actor used WMI."),
            vec!["Surely the actor used WMI."]
        );
    }

    #[test]
    fn empty_and_blank() {
        assert_eq!(reasons(""), vec![RejectReason::Empty]);
        assert_eq!(reasons("   \n\t "), vec![RejectReason::Empty]);
        assert_eq!(reasons("[]"), vec![RejectReason::Empty]);
        assert_eq!(reasons(r#"[""]"#), vec![RejectReason::Empty]);
        assert_eq!(reasons("[1, null]"), vec![RejectReason::NotAString; 2]);
    }

    #[test]
    fn unclosed_fence() {
        assert_eq!(sentences("```\nA one.\nB two."), vec!["A one.", "B two."]);
        assert_eq!(sentences("```[\"A one.\"]```"), vec!["A one."]);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics_on_any_text(s in ".*") {
                let _ = parse_sentences(&s);
            }

            #[test]
            fn never_panics_on_json_like_text(s in r#"[\[\]{}":,\\ a-z0-9.\n`*\-•(#)“”'é]{0,80}"#) {
                let p = parse_sentences(&s);
                for sentence in &p.sentences {
                    prop_assert!(!sentence.is_empty());
                    prop_assert!(sentence.chars().any(char::is_alphabetic));
                }
            }

            #[test]
            fn json_arrays_round_trip(items in proptest::collection::vec("The [a-z]{2,8}( [a-z]{2,8}){2,6}\\.", 1..6)) {
                let text = serde_json::to_string(&items).unwrap();
                prop_assert_eq!(parse_sentences(&text).sentences, items);
            }
        }
    }
}
