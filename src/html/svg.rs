//! A small inline-SVG writer: shapes, escaped text, linear scales and axis ticks, and the
//! Okabe–Ito palette.

use std::fmt::Write as _;

use super::esc;

/// The Okabe–Ito colour-blind-safe palette (yellow left out: too light on white), in the
/// order series take it.
pub(crate) const OKABE_ITO: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];

/// The colour of series `i` (cycling).
pub(crate) fn series_colour(i: usize) -> &'static str {
    OKABE_ITO[i % OKABE_ITO.len()]
}

/// A number for an SVG attribute: one decimal, no `-0.0`, finite.
pub(crate) fn n(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let r = (v * 10.0).round() / 10.0;
    if r == 0.0 {
        "0".into()
    } else if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// A tick value in few characters: at most 3 decimals, trailing zeros dropped.
pub(crate) fn short(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// A linear map from a data interval onto a pixel interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Scale {
    /// Maps `[d0, d1]` onto `[r0, r1]`; an empty data interval is widened around its value.
    pub(crate) fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Self {
        let (mut d0, mut d1) = if d0.is_finite() && d1.is_finite() {
            (d0.min(d1), d0.max(d1))
        } else {
            (0.0, 1.0)
        };
        if d1 - d0 < 1e-12 {
            d0 -= 0.5;
            d1 += 0.5;
        }
        Self { d0, d1, r0, r1 }
    }

    /// The pixel of `v`.
    pub(crate) fn at(&self, v: f64) -> f64 {
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }

    /// About `count` round tick values inside the data interval.
    pub(crate) fn ticks(&self, count: usize) -> Vec<f64> {
        let span = self.d1 - self.d0;
        let raw = span / count.max(1) as f64;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * mag);
        let mut t = (self.d0 / step).ceil() * step;
        let mut out = Vec::new();
        while t <= self.d1 + step * 1e-9 && out.len() < 50 {
            out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
            t += step;
        }
        out
    }
}

/// An SVG element being written.
pub(crate) struct Svg {
    buf: String,
}

impl Svg {
    /// `<svg>` of `width × height` user units scaling to its container, with an accessible
    /// label, a CSS class and an optional id.
    pub(crate) fn new(width: f64, height: f64, class: &str, label: &str, id: Option<&str>) -> Self {
        let mut buf = String::new();
        let _ = write!(
            buf,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" class=\"{}\" role=\"img\" aria-label=\"{}\"{}>",
            n(width),
            n(height),
            esc(class),
            esc(label),
            id.map(|i| format!(" id=\"{}\"", esc(i)))
                .unwrap_or_default()
        );
        Self { buf }
    }

    /// Appends markup built by the caller (every data text in it escaped).
    pub(crate) fn raw(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    /// A line with a CSS class.
    pub(crate) fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), class: &str) {
        let _ = write!(
            self.buf,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"{class}\"/>",
            n(x1),
            n(y1),
            n(x2),
            n(y2)
        );
    }

    /// A line in a colour and width.
    pub(crate) fn stroke(&mut self, a: (f64, f64), b: (f64, f64), colour: &str, width: f64) {
        let _ = write!(
            self.buf,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"{}\"/>",
            n(a.0),
            n(a.1),
            n(b.0),
            n(b.1),
            n(width)
        );
    }

    /// A filled rectangle with an optional hover title.
    pub(crate) fn rect(
        &mut self,
        (x, y, w, h): (f64, f64, f64, f64),
        fill: &str,
        title: Option<&str>,
    ) {
        let _ = write!(
            self.buf,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\">",
            n(x),
            n(y),
            n(w.max(0.0)),
            n(h.max(0.0)),
            esc(fill)
        );
        if let Some(t) = title {
            let _ = write!(self.buf, "<title>{}</title>", esc(t));
        }
        self.buf.push_str("</rect>");
    }

    /// Text at a point; `anchor` is `start`, `middle` or `end`.
    pub(crate) fn text(&mut self, (x, y): (f64, f64), anchor: &str, class: &str, s: &str) {
        let _ = write!(
            self.buf,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" class=\"{class}\">{}</text>",
            n(x),
            n(y),
            esc(s)
        );
    }

    /// A polyline through `points` in a colour.
    pub(crate) fn polyline(&mut self, points: &[(f64, f64)], colour: &str, dashed: bool) {
        let pts: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{},{}", n(*x), n(*y)))
            .collect();
        let _ = write!(
            self.buf,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{}/>",
            pts.join(" "),
            if dashed {
                " stroke-dasharray=\"5 3\""
            } else {
                ""
            }
        );
    }

    /// A marker: filled or hollow circle, with an optional hover title.
    pub(crate) fn dot(
        &mut self,
        (x, y): (f64, f64),
        r: f64,
        colour: &str,
        filled: bool,
        title: Option<&str>,
    ) {
        let fill = if filled { colour } else { "#ffffff" };
        let _ = write!(
            self.buf,
            "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{fill}\" stroke=\"{colour}\" stroke-width=\"1.5\">",
            n(x),
            n(y),
            n(r)
        );
        if let Some(t) = title {
            let _ = write!(self.buf, "<title>{}</title>", esc(t));
        }
        self.buf.push_str("</circle>");
    }

    /// A horizontal value axis at `y` from `scale`, with grid lines up to `top`.
    pub(crate) fn x_axis(&mut self, scale: &Scale, y: f64, top: f64, fmt: &dyn Fn(f64) -> String) {
        for t in scale.ticks(5) {
            let x = scale.at(t);
            self.line((x, top), (x, y), "grid");
            self.text((x, y + 14.0), "middle", "tick", &fmt(t));
        }
    }

    /// A vertical value axis at `x` from `scale`, with grid lines up to `right`.
    pub(crate) fn y_axis(
        &mut self,
        scale: &Scale,
        x: f64,
        right: f64,
        fmt: &dyn Fn(f64) -> String,
    ) {
        for t in scale.ticks(5) {
            let y = scale.at(t);
            self.line((x, y), (right, y), "grid");
            self.text((x - 4.0, y + 4.0), "end", "tick", &fmt(t));
        }
    }

    /// The finished element.
    pub(crate) fn finish(mut self) -> String {
        self.buf.push_str("</svg>");
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_titles_are_escaped() {
        let mut s = Svg::new(10.0, 10.0, "c\"x", "<b>", Some("i'd"));
        s.text((1.0, 2.0), "start", "t", "<script>alert(1)</script>");
        s.rect((0.0, 0.0, 1.0, 1.0), "red\"/><script>", Some("a<b"));
        let out = s.finish();
        assert!(!out.contains("<script>") && !out.contains("<b>"), "{out}");
        assert!(out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn scales_and_ticks_are_sane_on_odd_input() {
        let s = Scale::new(0.0, 0.0, 0.0, 100.0);
        assert!(s.at(0.0).is_finite());
        let s = Scale::new(f64::NAN, 1.0, 0.0, 100.0);
        assert!(s.at(0.5).is_finite());
        let t = Scale::new(-0.013, 0.201, 0.0, 1.0).ticks(5);
        assert!(t.contains(&0.0) && t.len() <= 10, "{t:?}");
        assert_eq!(n(-0.04), "0");
        assert_eq!(n(f64::NAN), "0");
        assert_eq!(n(12.345), "12.3");
        assert_eq!(short(0.6000000000000001), "0.6");
        assert_eq!(short(20.0), "20");
        assert_eq!(short(-0.0001), "0");
    }
}
