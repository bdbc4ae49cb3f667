//! The sweep plot: macro-F1 (left) and rare-class macro-F1 (right) against the
//! augmentation ratio, one line per arm (and synthetic weight), error bars = ± std over
//! folds × seeds.
//!
//! Text is rendered with plotters' `ab_glyph` backend and the DejaVu Sans font embedded in
//! the binary (the `dejavu` crate), so no system font, fontconfig or freetype is needed.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::EvalError;
use super::sweep::{ArmResult, SweepResults};

/// Pixel size of both plots.
pub const PLOT_SIZE: (u32, u32) = (1400, 560);

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

/// Reads (mean, std) of one metric off a result.
type Metric = fn(&ArmResult) -> (f64, f64);

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    results: &SweepResults,
) -> Result<(), EvalError> {
    ensure_fonts();
    root.fill(&WHITE).map_err(plot_err)?;
    let lines = series(results);
    let (x_min, x_max) = results
        .results
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
            (lo.min(r.ratio), hi.max(r.ratio))
        });
    let (x_min, x_max) = if x_min.is_finite() && x_max > x_min {
        (x_min, x_max)
    } else {
        (0.0, 1.0)
    };
    let span = x_max - x_min;
    let panels = root.split_evenly((1, 2));
    let metrics: [(&str, Metric); 2] = [
        ("Macro-F1", |r| (r.macro_f1.mean, r.macro_f1.std)),
        ("Rare-class macro-F1", |r| {
            (r.rare_macro_f1.mean, r.rare_macro_f1.std)
        }),
    ];
    for (panel, (title, metric)) in panels.iter().zip(metrics) {
        let (lo, hi) = results
            .results
            .iter()
            .map(metric)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (m, s)| {
                (lo.min(m - s), hi.max(m + s))
            });
        let (lo, hi) = if lo.is_finite() && hi > lo {
            let pad = (hi - lo) * 0.1;
            ((lo - pad).max(0.0), (hi + pad).min(1.0))
        } else {
            (0.0, 1.0)
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{title} vs augmentation ratio (±1 std)"),
                ("sans-serif", 24),
            )
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d((x_min - 0.05 * span)..(x_max + 0.05 * span), lo..hi)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("ratio of the per-label deficit added")
            .y_desc(title)
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .x_label_formatter(&|x| format!("{x:.2}"))
            .y_label_formatter(&|y| format!("{y:.3}"))
            .draw()
            .map_err(plot_err)?;
        let n = lines.len().max(1) as f64;
        for (i, (name, points)) in lines.iter().enumerate() {
            let (r, g, b) = OKABE_ITO[i % OKABE_ITO.len()];
            let color = RGBColor(r, g, b).to_rgba();
            // Dodge the error bars of different lines apart.
            let dx = (i as f64 - (n - 1.0) / 2.0) * 0.012 * span;
            let xy: Vec<(f64, f64, f64)> = points
                .iter()
                .map(|r| {
                    let (m, s) = metric(r);
                    (r.ratio + dx, m, s)
                })
                .collect();
            chart
                .draw_series(LineSeries::new(
                    xy.iter().map(|&(x, m, _)| (x, m)),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
            chart
                .draw_series(xy.iter().map(|&(x, m, s)| {
                    ErrorBar::new_vertical(x, m - s, m, m + s, color.stroke_width(1), 8)
                }))
                .map_err(plot_err)?;
            chart
                .draw_series(
                    xy.iter()
                        .map(|&(x, m, _)| Circle::new((x, m), 4, color.filled())),
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
