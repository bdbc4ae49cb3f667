//! The sweep plot, against the rows actually added per run (so arms that reached fewer
//! rows than asked sit where they really are), one line per arm (and synthetic weight),
//! every line starting at `none` (0 rows):
//! - top: macro-F1 and rare-class macro-F1, error bars = ± sample std over folds × seeds;
//! - bottom: the paired differences vs `none`, error bars = the corrected 95% interval.
//!
//! Text is rendered with plotters' `ab_glyph` backend and the DejaVu Sans font embedded in
//! the binary (the `dejavu` crate), so no system font, fontconfig or freetype is needed.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::EvalError;
use super::metrics::{MeanStd, PairedDelta};
use super::sweep::{ArmResult, SweepResults};

/// Pixel size of both plots.
pub const PLOT_SIZE: (u32, u32) = (1400, 1040);

static FONTS: Once = Once::new();

/// Line colours: the Okabe–Ito colour-blind-safe palette (yellow left out: too light).
const OKABE_ITO: [(u8, u8, u8); 7] = [
    (0, 114, 178),
    (213, 94, 0),
    (0, 158, 115),
    (204, 121, 167),
    (230, 159, 0),
    (86, 180, 233),
    (0, 0, 0),
];

/// Registers the embedded DejaVu Sans as plotters' `sans-serif` (idempotent).
fn ensure_fonts() {
    FONTS.call_once(|| {
        // Both are valid TrueType files shipped in the `dejavu` crate; a failure would
        // show as a drawing error below, not a panic.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

fn plot_err<E: std::fmt::Debug>(e: E) -> EvalError {
    EvalError::Plot(format!("{e:?}"))
}

/// The lines of the plot: one per arm × synthetic weight, points ordered by ratio.
fn series(results: &SweepResults) -> Vec<(String, Vec<&ArmResult>)> {
    let several_weights = results.config.synthetic_weights.len() > 1;
    let mut out: Vec<(String, Vec<&ArmResult>)> = Vec::new();
    for arm in &results.arms {
        for &w in &results.config.synthetic_weights {
            let mut points: Vec<&ArmResult> = results
                .results
                .iter()
                .filter(|r| &r.arm == arm && r.synthetic_weight == w)
                .collect();
            points.sort_by(|a, b| a.ratio.total_cmp(&b.ratio));
            let name = if several_weights {
                format!("{arm} (w={w})")
            } else {
                arm.clone()
            };
            out.push((name, points));
        }
    }
    out
}

/// Reads (value, low, high) of one quantity off a result; `None` where it has none.
type Metric = fn(&ArmResult) -> Option<(f64, f64, f64)>;

fn spread(m: MeanStd) -> Option<(f64, f64, f64)> {
    (m.n > 0).then_some((m.mean, m.mean - m.std, m.mean + m.std))
}

fn interval(d: &PairedDelta) -> Option<(f64, f64, f64)> {
    let [lo, hi] = d.ci95_corrected.unwrap_or([d.mean, d.mean]);
    Some((d.mean, lo, hi))
}

const PANELS: [(&str, Metric); 4] = [
    ("Macro-F1 (±1 std)", |r| spread(r.macro_f1)),
    ("Rare-class macro-F1 (±1 std)", |r| spread(r.rare_macro_f1)),
    ("Δ macro-F1 vs none (95% CI, unadjusted)", |r| {
        match &r.vs_none {
            Some(d) => interval(&d.macro_f1),
            None => Some((0.0, 0.0, 0.0)),
        }
    }),
    (
        "Δ rare-class macro-F1 vs none (95% CI, unadjusted)",
        |r| match &r.vs_none {
            Some(d) => interval(&d.rare_macro_f1),
            None => Some((0.0, 0.0, 0.0)),
        },
    ),
];

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    results: &SweepResults,
) -> Result<(), EvalError> {
    ensure_fonts();
    root.fill(&WHITE).map_err(plot_err)?;
    let lines = series(results);
    let x_max = results
        .results
        .iter()
        .map(|r| r.added_rows.mean)
        .fold(1.0f64, f64::max);
    for (panel, (title, metric)) in root.split_evenly((2, 2)).iter().zip(PANELS) {
        let all: Vec<(f64, f64, f64)> = std::iter::once(&results.none)
            .chain(&results.results)
            .filter_map(metric)
            .collect();
        let (lo, hi) = all.iter().fold(
            (f64::INFINITY, f64::NEG_INFINITY),
            |(lo, hi), &(_, l, h)| (lo.min(l), hi.max(h)),
        );
        let (lo, hi) = if lo.is_finite() && hi > lo {
            let pad = (hi - lo) * 0.1;
            (lo - pad, hi + pad)
        } else {
            (lo.min(0.0) - 0.05, hi.max(0.0) + 0.05)
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.04 * x_max..1.06 * x_max, lo..hi)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("rows added per run (mean)")
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.3}"))
            .draw()
            .map_err(plot_err)?;
        let n = lines.len().max(1) as f64;
        for (i, (name, points)) in lines.iter().enumerate() {
            let (r, g, b) = OKABE_ITO[i % OKABE_ITO.len()];
            let color = RGBColor(r, g, b).to_rgba();
            // Dodge the error bars of different lines apart.
            let dx = (i as f64 - (n - 1.0) / 2.0) * 0.01 * x_max;
            let xy: Vec<(f64, f64, f64, f64)> = std::iter::once(&results.none)
                .chain(points.iter().copied())
                .filter_map(|r| metric(r).map(|(m, l, h)| (r.added_rows.mean + dx, m, l, h)))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    xy.iter().map(|&(x, m, _, _)| (x, m)),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
            chart
                .draw_series(xy.iter().map(|&(x, m, l, h)| {
                    ErrorBar::new_vertical(x, l, m, h, color.stroke_width(1), 8)
                }))
                .map_err(plot_err)?;
            chart
                .draw_series(
                    xy.iter()
                        .map(|&(x, m, _, _)| Circle::new((x, m), 4, color.filled())),
                )
                .map_err(plot_err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
    }
    root.present().map_err(plot_err)
}

/// Draws the plot as a PNG at `path` (the extension must be `.png`).
pub fn plot_png(results: &SweepResults, path: &Path) -> Result<(), EvalError> {
    draw(
        BitMapBackend::new(path, PLOT_SIZE).into_drawing_area(),
        results,
    )
}

/// Draws the plot as an SVG document.
pub fn plot_svg(results: &SweepResults) -> Result<String, EvalError> {
    let mut svg = String::new();
    draw(
        SVGBackend::with_string(&mut svg, PLOT_SIZE).into_drawing_area(),
        results,
    )?;
    Ok(svg)
}
