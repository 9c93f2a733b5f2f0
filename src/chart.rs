//! Pictures of series over days: a sparkline for the terminal and line charts written as PNG or
//! SVG with plotters. Values are converted to `f64` only here, for drawing.

use std::path::Path;

use chrono::NaiveDate;
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::error::{Error, Result};

/// DejaVu Sans, embedded so PNG text needs no system fonts (see assets/README.md).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(NaiveDate, Decimal)>,
}

/// A one-line sparkline (▁▂▃▄▅▆▇█) of the values; empty for no values.
pub fn sparkline(values: &[Decimal]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (Some(min), Some(max)) = (values.iter().min(), values.iter().max()) else {
        return String::new();
    };
    let span = *max - *min;
    values
        .iter()
        .map(|v| {
            if span.is_zero() {
                BARS[3]
            } else {
                let i = ((*v - *min) / span * Decimal::from(7))
                    .round()
                    .to_usize()
                    .unwrap_or(0);
                BARS[i.min(7)]
            }
        })
        .collect()
}

fn chart_err(e: impl std::fmt::Display) -> Error {
    Error::Unexpected(anyhow::anyhow!("drawing the chart: {e}"))
}

/// Writes a line chart to `path`; the extension picks the format (`.png` or `.svg`).
pub fn write_chart(path: &Path, title: &str, series: &[Series]) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if matches!(ext.as_deref(), Some("png" | "svg")) {
        // Refuse an unwritable path before drawing, naming it (the backends report a bare I/O
        // error only when they finish).
        std::fs::File::create(path).map_err(|e| {
            Error::Invalid(crate::domain::Invalid::new(
                "chart",
                format!("cannot write {}: {e}", path.display()),
            ))
        })?;
    }
    let size = (1000, 560);
    // Both backends measure text with the embedded font.
    plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
        .map_err(|_| chart_err("the embedded font did not load"))?;
    match ext.as_deref() {
        Some("png") => draw(
            BitMapBackend::new(path, size).into_drawing_area(),
            title,
            series,
        ),
        Some("svg") => draw(
            SVGBackend::new(path, size).into_drawing_area(),
            title,
            series,
        ),
        _ => Err(Error::Invalid(crate::domain::Invalid::new(
            "chart",
            format!("{} must end in .png or .svg", path.display()),
        ))),
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    series: &[Series],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let all: Vec<&(NaiveDate, Decimal)> = series.iter().flat_map(|s| s.points.iter()).collect();
    let (Some(first), Some(last)) = (all.iter().map(|p| p.0).min(), all.iter().map(|p| p.0).max())
    else {
        return Err(Error::rejected("chart: there is nothing to draw yet"));
    };
    let ys: Vec<f64> = all.iter().filter_map(|p| p.1.to_f64()).collect();
    let (mut lo, mut hi) = ys
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(*y), b.max(*y)));
    if (hi - lo).abs() < f64::EPSILON {
        lo -= 1.0;
        hi += 1.0;
    }
    let pad = (hi - lo) * 0.05;
    let days = |d: NaiveDate| (d - first).num_days() as i32;
    root.fill(&WHITE).map_err(chart_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(16)
        .margin_right(60)
        .x_label_area_size(36)
        .y_label_area_size(90)
        .build_cartesian_2d(0..days(last).max(1), (lo - pad)..(hi + pad))
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .label_style((FAMILY, 13))
        .x_labels(8)
        .x_label_formatter(&|d| {
            (first + chrono::Duration::days(i64::from(*d)))
                .format("%Y-%m-%d")
                .to_string()
        })
        .y_label_formatter(&|v| {
            crate::domain::group_thousands(
                Decimal::from_f64_retain(v.round())
                    .unwrap_or_default()
                    .trunc(),
            )
        })
        .draw()
        .map_err(chart_err)?;
    let palette = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
    ];
    for (i, s) in series.iter().enumerate() {
        let color = palette[i % palette.len()];
        let pts: Vec<(i32, f64)> = s
            .points
            .iter()
            .filter_map(|(d, v)| v.to_f64().map(|y| (days(*d), y)))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(chart_err)?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    if series.len() > 1 || !series.is_empty() {
        chart
            .configure_series_labels()
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(chart_err)?;
    }
    root.present().map_err(chart_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn sparkline_spans_the_range() {
        assert_eq!(sparkline(&[dec!(1), dec!(2), dec!(3), dec!(8)]), "▁▂▃█");
        assert_eq!(sparkline(&[dec!(5), dec!(5)]), "▄▄");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn writes_png_and_svg_and_refuses_other_names() {
        let dir = tempfile::tempdir().unwrap();
        let d = |n| NaiveDate::from_ymd_opt(2026, 11, n).unwrap();
        let s = vec![
            Series {
                name: "assets".into(),
                points: vec![
                    (d(2), dec!(10_000_000)),
                    (d(3), dec!(10_120_000)),
                    (d(4), dec!(9_990_000)),
                ],
            },
            Series {
                name: "KOSPI".into(),
                points: vec![(d(2), dec!(10_000_000)), (d(4), dec!(10_050_000))],
            },
        ];
        let png = dir.path().join("a.png");
        write_chart(&png, "Total assets", &s).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let svg = dir.path().join("a.svg");
        write_chart(&svg, "Total assets", &s).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("<svg") && text.contains("KOSPI"));
        assert!(write_chart(&dir.path().join("a.gif"), "x", &s).is_err());
        assert!(write_chart(&png, "x", &[]).is_err());
    }
}
