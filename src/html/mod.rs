//! Self-contained HTML pages of a run: `report.html` of an `augment` run
//! ([`render_run`]) and `results.html` of an `eval` run ([`render_eval`]).
//!
//! Both pages are one file each that opens from disk with no network: CSS, SVG and a small
//! vanilla script are inline, nothing is fetched at view time (no CDN, no font, no image).
//! They render from the JSON the tool already writes (`report.json`, `results.json`) — any
//! field that is missing or of the wrong type shows as "—" rather than failing — plus, for
//! `report.html`, the map points ([`RunMap`]) and the rows ([`RowView`]) the caller passes.
//!
//! Every text that comes from the data (sentences, technique names, configuration, even
//! arm names) is HTML-escaped: the page templates escape by default and the SVG is built
//! with an escaping function on every text; the per-point hover data travels as JSON inside a
//! `<script type="application/json">` whose `<`, `>` and `&` are `\u` escapes.
//!
//! Colours are the Okabe–Ito colour-blind-safe palette (as `plot.png` of `eval` uses);
//! marks also differ by size and fill, and `@media print` gives a readable paper copy.

mod eval;
mod eval_plots;
mod map;
mod pca;
mod run;
mod svg;
#[cfg(test)]
mod tests;
mod value;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use minijinja::Environment;
use serde::Serialize;

pub use eval::render_eval;
pub use pca::project_2d;
pub use run::render_run;

/// Map points drawn at most on the all-techniques map; beyond it the points of other
/// techniques are sampled first, then the selected techniques' own (the page says so).
pub(crate) const MAP_POINT_LIMIT: usize = 5_000;
/// Points drawn at most on one technique's map.
pub(crate) const TECHNIQUE_MAP_LIMIT: usize = 600;
/// Rows shown at most in the rows table; beyond it a deterministic sample (the page says so).
pub(crate) const ROW_LIMIT: usize = 4_000;

/// What the maps of `report.html` show: the run's rows, candidates and cluster centroids,
/// each already placed in two dimensions (e.g. by [`project_2d`] of their embeddings).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunMap {
    /// Every point, in any order (the page keeps the order when it samples).
    pub points: Vec<MapPoint>,
    /// The techniques the run selected, in the order their maps appear; their points are
    /// coloured by kind, points of any other technique are drawn muted.
    pub selected: Vec<String>,
    /// For each selected technique, its nearest other techniques: drawn muted on its map,
    /// so synthetic rows drifting towards a neighbour show.
    pub neighbours: BTreeMap<String, Vec<String>>,
    /// How the coordinates were made, shown under the map (e.g. "PCA of all-MiniLM-L6-v2
    /// embeddings"); empty for none.
    pub projection: String,
}

/// One point of a map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapPoint {
    /// Horizontal coordinate (any scale: each map fits its own points).
    pub x: f32,
    /// Vertical coordinate (up is larger).
    pub y: f32,
    /// What the point is.
    pub kind: PointKind,
    /// Its technique id, e.g. `T1072`.
    pub technique: String,
    /// Its sentence (shown on hover).
    pub text: String,
    /// Provenance and scores, one per line (shown on hover).
    pub detail: String,
}

/// What a map point is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PointKind {
    /// A row of the input.
    Original,
    /// A cluster centroid (or the sentence nearest it).
    Centroid,
    /// An accepted ATT&CK procedure example.
    Procedure,
    /// An accepted LLM sentence.
    Synthetic,
    /// A candidate the filters turned down, with the reason (e.g. `near-duplicate`).
    Rejected(String),
}

impl PointKind {
    /// The kebab-case name used in the page (`data-kind`): `original`, `centroid`,
    /// `procedure`, `synthetic`, `rejected`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Original => "original",
            Self::Centroid => "centroid",
            Self::Procedure => "procedure",
            Self::Synthetic => "synthetic",
            Self::Rejected(_) => "rejected",
        }
    }
}

/// One row of the rows table of `report.html`: an accepted row of `augmented.jsonl` or a
/// rejected candidate of `rejected.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RowView {
    /// Technique id.
    pub technique: String,
    /// `original`, `synthetic` or `attack-procedure`.
    pub origin: String,
    /// `None` for an accepted row, else why it was rejected (e.g. `too-short`).
    pub rejected: Option<String>,
    /// The sentence.
    pub text: String,
    /// Where it comes from (cluster, seed rows, LLM call), one short line.
    pub provenance: String,
    /// The filter scores, one short line.
    pub scores: String,
}

impl RowView {
    /// A row of `augmented.jsonl` (missing fields are left empty).
    pub fn from_row(row: &serde_json::Value) -> Self {
        let p = &row["provenance"];
        RowView {
            technique: value::text(&row["label"]),
            origin: value::text(&row["origin"]),
            rejected: None,
            text: value::text(&row["text"]),
            provenance: run::provenance_line(p),
            scores: run::scores_line(&p["scores"]),
        }
    }

    /// A line of `rejected.jsonl` (missing fields are left empty).
    pub fn from_rejected(row: &serde_json::Value) -> Self {
        RowView {
            technique: value::text(&row["label"]),
            origin: value::text(&row["origin"]),
            rejected: Some(value::text(&row["reason"])),
            text: value::text(&row["text"]),
            provenance: String::new(),
            scores: run::scores_line(&row["scores"]),
        }
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// JSON that is safe inside `<script type="application/json">`: `<`, `>` and `&` (which
/// only occur inside JSON strings) become `\u` escapes, so no text can close the element.
pub(crate) fn script_json<T: Serialize + ?Sized>(value: &T) -> String {
    let json = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

const BASE: &str = include_str!("base.html");
const RUN: &str = include_str!("run.html");
const EVAL: &str = include_str!("eval.html");
const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("script.js");

/// The page templates (auto-escaping HTML: every `{{ }}` is escaped unless it is a string
/// built here as safe, i.e. the SVG and the style and script above).
fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [("base.html", BASE), ("run.html", RUN), ("eval.html", EVAL)] {
            // The templates are compiled into the binary; the unit tests render both.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!("html template {name}: {e}");
            }
        }
        env
    })
}

/// `sha256-…` of a text, as a Content-Security-Policy source: the pages allow exactly their
/// own style and script, so markup that slipped through escaping could neither run a script
/// nor load anything (`default-src 'none'`).
fn csp_hash(text: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(text.as_bytes());
    format!("sha256-{}", base64(&digest))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ABC[(v >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Renders `name` with `ctx` plus the shared style and script (and their CSP hashes); a
/// template error (a bug, caught by the tests) gives a minimal page that says so instead
/// of a panic.
pub(crate) fn render_page<S: Serialize>(name: &str, ctx: S) -> String {
    static HASHES: OnceLock<(String, String)> = OnceLock::new();
    let (style_hash, script_hash) = HASHES.get_or_init(|| (csp_hash(STYLE), csp_hash(SCRIPT)));
    let ctx = minijinja::context! {
        style => minijinja::Value::from_safe_string(STYLE.to_string()),
        script => minijinja::Value::from_safe_string(SCRIPT.to_string()),
        style_hash => style_hash,
        script_hash => script_hash,
        version => env!("CARGO_PKG_VERSION"),
        ..minijinja::Value::from(minijinja::value::Serde(&ctx))
    };
    templates()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            format!(
                "<!DOCTYPE html><html lang=\"en\"><meta charset=\"utf-8\"><title>synthcti</title>\
                 <p>page template error: {}</p></html>",
                esc(&e.to_string())
            )
        })
}

/// A string the templates insert unescaped (SVG built here, every data text escaped).
pub(crate) fn safe(html: String) -> minijinja::Value {
    minijinja::Value::from_safe_string(html)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn esc_escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn script_json_cannot_close_the_script_element() {
        let s = script_json(&vec!["</script><script>alert(1)</script>", "a&b"]);
        assert!(
            !s.contains('<') && !s.contains('>') && !s.contains('&'),
            "{s}"
        );
        let back: Vec<String> = serde_json::from_str(&s).unwrap();
        assert_eq!(back[0], "</script><script>alert(1)</script>");
    }

    #[test]
    fn row_views_read_odd_lines_without_panicking() {
        for v in [
            serde_json::json!(null),
            serde_json::json!([1, 2]),
            serde_json::json!({"label": 3, "provenance": "x", "scores": [1]}),
        ] {
            let a = RowView::from_row(&v);
            let r = RowView::from_rejected(&v);
            assert!(a.rejected.is_none() && r.rejected.is_some());
        }
    }
}
