//! Pictures of series over days: a sparkline for the terminal and line charts written as PNG or
//! SVG with plotters. Values are converted to `f64` only here, for drawing.

use std::path::Path;

use chrono::NaiveDate;
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::error::{Error, Result};

/// Ascend Hangul Sans (NanumGothic cut to Latin and Hangul; see assets/README.md), embedded so
/// charts render Korean names without system fonts.
static FONT: &[u8] = include_bytes!("../assets/AscendHangulSans.ttf");
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

/// The date at a position of the trading-day axis.
fn day_label(dates: &[NaiveDate], i: i32) -> String {
    usize::try_from(i)
        .ok()
        .and_then(|i| dates.get(i))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A value axis label: whole won grouped by commas (1,234,500).
fn won_label(v: f64) -> String {
    crate::domain::group_thousands(
        Decimal::from_f64_retain(v.round())
            .unwrap_or_default()
            .trunc(),
    )
}

/// One day of a stock: its prices and the shares traded.
#[derive(Debug, Clone, PartialEq)]
pub struct Candle {
    pub date: NaiveDate,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: i64,
}

/// Writes daily candles (a rise red, a fall blue, as Korean charts draw them) over volume bars
/// to `path` (`.png` or `.svg`); the time axis runs over the days given.
pub fn write_candles(path: &Path, title: &str, candles: &[Candle]) -> Result<()> {
    let ext = check_path(path)?;
    let size = (1000, 620);
    if ext == "png" {
        candles_on(
            BitMapBackend::new(path, size).into_drawing_area(),
            title,
            candles,
        )
    } else {
        candles_on(
            SVGBackend::new(path, size).into_drawing_area(),
            title,
            candles,
        )
    }
}

fn candles_on<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    candles: &[Candle],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    if candles.is_empty() {
        return Err(Error::rejected("chart: there is nothing to draw yet"));
    }
    let f = |d: Decimal| d.to_f64().unwrap_or(0.0);
    let lo = candles.iter().map(|c| f(c.low)).fold(f64::MAX, f64::min);
    let hi = candles.iter().map(|c| f(c.high)).fold(f64::MIN, f64::max);
    let pad = ((hi - lo) * 0.05).max(1.0);
    let vmax = candles.iter().map(|c| c.volume).max().unwrap_or(1).max(1) as f64;
    let dates: Vec<NaiveDate> = candles.iter().map(|c| c.date).collect();
    let n = candles.len() as i32;
    let rise = RGBColor(214, 39, 40);
    let fall = RGBColor(31, 119, 180);
    root.fill(&WHITE).map_err(chart_err)?;
    let root = root.titled(title, (FAMILY, 22)).map_err(chart_err)?;
    let (h, _) = (root.dim_in_pixel().1, 0);
    let (upper, lower) = root.split_vertically((h as f64 * 0.72) as u32);
    let mut price = ChartBuilder::on(&upper)
        .margin(12)
        .margin_right(40)
        .x_label_area_size(0)
        .y_label_area_size(90)
        .build_cartesian_2d(-1..n, (lo - pad)..(hi + pad))
        .map_err(chart_err)?;
    price
        .configure_mesh()
        .label_style((FAMILY, 13))
        .disable_x_mesh()
        .y_label_formatter(&|v| won_label(*v))
        .draw()
        .map_err(chart_err)?;
    let width = ((800 / candles.len().max(1)) as u32).clamp(2, 14);
    price
        .draw_series(candles.iter().enumerate().map(|(i, c)| {
            CandleStick::new(
                i as i32,
                f(c.open),
                f(c.high),
                f(c.low),
                f(c.close),
                rise.filled(),
                fall.filled(),
                width,
            )
        }))
        .map_err(chart_err)?;
    let mut volume = ChartBuilder::on(&lower)
        .margin(12)
        .margin_right(40)
        .x_label_area_size(36)
        .y_label_area_size(90)
        .build_cartesian_2d(-1..n, 0f64..vmax * 1.1)
        .map_err(chart_err)?;
    volume
        .configure_mesh()
        .label_style((FAMILY, 13))
        .disable_x_mesh()
        .x_labels(8)
        .x_label_formatter(&|i| day_label(&dates, *i))
        .y_labels(3)
        .y_label_formatter(&|v| won_label(*v))
        .y_desc("volume")
        .draw()
        .map_err(chart_err)?;
    volume
        .draw_series(candles.iter().enumerate().map(|(i, c)| {
            let color = if c.close >= c.open { rise } else { fall };
            let x = i as i32;
            Rectangle::new([(x, 0.0), (x, c.volume as f64)], color.stroke_width(width))
        }))
        .map_err(chart_err)?;
    root.present().map_err(chart_err)?;
    Ok(())
}

/// Checks a chart path: `.png` or `.svg`, and writable (named in the error otherwise).
fn check_path(path: &Path) -> Result<&'static str> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let ext = match ext.as_deref() {
        Some("png") => "png",
        Some("svg") => "svg",
        _ => {
            return Err(Error::Invalid(crate::domain::Invalid::new(
                "chart",
                format!("{} must end in .png or .svg", path.display()),
            )))
        }
    };
    // Refuse an unwritable path before drawing, naming it (the backends report a bare I/O
    // error only when they finish).
    std::fs::File::create(path).map_err(|e| {
        Error::Invalid(crate::domain::Invalid::new(
            "chart",
            format!("cannot write {}: {e}", path.display()),
        ))
    })?;
    plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
        .map_err(|_| chart_err("the embedded font did not load"))?;
    Ok(ext)
}

fn chart_err(e: impl std::fmt::Display) -> Error {
    Error::Unexpected(anyhow::anyhow!("drawing the chart: {e}"))
}

/// Writes a line chart to `path`; the extension picks the format (`.png` or `.svg`).
pub fn write_chart(path: &Path, title: &str, series: &[Series]) -> Result<()> {
    let ext = check_path(path)?;
    let size = (1000, 560);
    if ext == "png" {
        draw(
            BitMapBackend::new(path, size).into_drawing_area(),
            title,
            series,
        )
    } else {
        draw(
            SVGBackend::new(path, size).into_drawing_area(),
            title,
            series,
        )
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
    // The time axis runs over the days that have data (trading days): no weekend gaps.
    let mut dates: Vec<NaiveDate> = all.iter().map(|p| p.0).collect();
    dates.sort_unstable();
    dates.dedup();
    if dates.is_empty() {
        return Err(Error::rejected("chart: there is nothing to draw yet"));
    }
    let ys: Vec<f64> = all.iter().filter_map(|p| p.1.to_f64()).collect();
    let (mut lo, mut hi) = ys
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(*y), b.max(*y)));
    if (hi - lo).abs() < f64::EPSILON {
        lo -= 1.0;
        hi += 1.0;
    }
    let pad = (hi - lo) * 0.05;
    let days = |d: NaiveDate| dates.binary_search(&d).unwrap_or(0) as i32;
    let last = dates.len() as i32 - 1;
    root.fill(&WHITE).map_err(chart_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(16)
        .margin_right(60)
        .x_label_area_size(36)
        .y_label_area_size(90)
        .build_cartesian_2d(0..last.max(1), (lo - pad)..(hi + pad))
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .label_style((FAMILY, 13))
        .x_labels(8)
        .x_label_formatter(&|i| day_label(&dates, *i))
        .y_label_formatter(&|v| won_label(*v))
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
    fn candles_draw_over_volume_with_a_hangul_title() {
        let dir = tempfile::tempdir().unwrap();
        let day = |n| NaiveDate::from_ymd_opt(2026, 11, n).unwrap();
        let c = |n, o: i64, cl: i64, v| Candle {
            date: day(n),
            open: Decimal::from(o),
            high: Decimal::from(o.max(cl) + 300),
            low: Decimal::from(o.min(cl) - 300),
            close: Decimal::from(cl),
            volume: v,
        };
        // Friday, then Monday: no weekend on the axis.
        let candles = [
            c(20, 55_000, 56_000, 1_200_000),
            c(23, 56_000, 55_500, 900_000),
        ];
        let svg = dir.path().join("c.svg");
        write_candles(&svg, "005930 삼성전자 — daily", &candles).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("삼성전자"));
        assert!(
            text.contains("1,200,000") || text.contains("1,000,000"),
            "volume axis grouped by commas"
        );
        assert!(!text.contains("2026-11-21"));
        // A rise is red, a fall blue.
        assert!(text.contains("#D62728") && text.contains("#1F77B4"));
        let png = dir.path().join("c.png");
        write_candles(&png, "005930 삼성전자", &candles).unwrap();
        assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
        assert!(write_candles(&png, "x", &[]).is_err());
    }

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
        // The axis runs over the days with data: three points, three positions.
        assert!(text.contains("2026-11-04") && !text.contains("2026-11-05"));
        assert!(write_chart(&png, "x", &[]).is_err());
    }
}
