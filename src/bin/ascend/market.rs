//! `ascend index` and `ascend calendar`.

use std::io::Write;

use chrono::{Datelike, NaiveDate};
use clap::Args;
use serde::Serialize;

use crate::output::{money, render, time, Format, Tabular};
use crate::{io_err, Ctx};
use ascend::app::market as market_data;
use ascend::chart::sparkline;
use ascend::domain::calendar::DayInfo;
use ascend::domain::{rules, Invalid};
use ascend::{exit, Error};

#[derive(Serialize)]
struct IndexView(market_data::IndexTrend);

impl Tabular for IndexView {
    fn headers() -> &'static [&'static str] {
        &["index", "value", "change", "rate %", "at", "trend (closes)"]
    }
    fn cells(&self, h: bool) -> Vec<String> {
        let i = &self.0;
        vec![
            i.code.clone(),
            money(i.value, h),
            money(i.change, h),
            i.change_rate.to_string(),
            time(i.at, h),
            if h {
                sparkline(&i.trend)
            } else {
                i.trend
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            },
        ]
    }
}

/// Show KOSPI and KOSDAQ as last crawled, with a trend of their stored daily closes.
#[derive(Debug, Args)]
pub struct Index {
    /// Days of trend.
    #[arg(long, default_value_t = 20)]
    days: i64,
}

impl Index {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let app = ctx.app().await?;
        let rows = market_data::indices(&app, self.days.max(1)).await?;
        if rows.is_empty() {
            return Err(Error::not_found(
                "index: no index values are stored yet; run `ascend crawl-stocks`",
            ));
        }
        let views: Vec<IndexView> = rows.into_iter().map(IndexView).collect();
        render(out, ctx.format, &views).map_err(io_err)?;
        Ok(exit::OK)
    }
}

/// Show the KRX trading calendar of a month: trading days, weekends and closures, with the
/// opening time and where each answer came from. Days inside the range of the crawled KOSPI
/// bars are taken from the bars (`bars`); the rest from the dated closure table (`table`). A
/// month that neither covers is an error (exit 3).
#[derive(Debug, Args)]
pub struct Calendar {
    /// The month, YYYY-MM (default: this month in KST).
    #[arg(long)]
    month: Option<String>,
}

#[derive(Serialize)]
struct Day {
    date: NaiveDate,
    trading: bool,
    opens: Option<String>,
    closes: Option<String>,
    source: &'static str,
}

impl Tabular for Day {
    fn headers() -> &'static [&'static str] {
        &["date", "trading", "opens", "closes", "source"]
    }
    fn cells(&self, _h: bool) -> Vec<String> {
        vec![
            self.date.to_string(),
            self.trading.to_string(),
            self.opens.clone().unwrap_or_default(),
            self.closes.clone().unwrap_or_default(),
            self.source.into(),
        ]
    }
}

impl From<DayInfo> for Day {
    fn from(d: DayInfo) -> Self {
        let hm = |t: chrono::NaiveTime| t.format("%H:%M").to_string();
        Day {
            date: d.date,
            trading: d.trading(),
            opens: d.opens_at().map(hm),
            closes: d.closes_at().map(hm),
            source: d.source.as_str(),
        }
    }
}

impl Calendar {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let app = ctx.app().await?;
        let first = match &self.month {
            Some(m) => NaiveDate::parse_from_str(&format!("{}-01", m.trim()), "%Y-%m-%d")
                .map_err(|_| Invalid::new("month", format!("{m:?} is not a month (YYYY-MM)")))?,
            None => {
                let today = rules::trade_date(app.clock.now());
                today.with_day(1).expect("day 1")
            }
        };
        let cal = market_data::calendar(&app).await?;
        let days = first
            .iter_days()
            .take_while(|d| d.month() == first.month())
            .map(|d| Ok(Day::from(cal.day(d)?)))
            .collect::<Result<Vec<Day>, Error>>()?;
        if ctx.format != Format::Table {
            render(out, ctx.format, &days).map_err(io_err)?;
            return Ok(exit::OK);
        }
        writeln!(
            out,
            "{}  (· closed, * opens 10:00, + session shifted)",
            first.format("%Y-%m")
        )
        .map_err(io_err)?;
        writeln!(out, " Mon  Tue  Wed  Thu  Fri  Sat  Sun").map_err(io_err)?;
        let mut line = "     ".repeat(first.weekday().num_days_from_monday() as usize);
        for d in &days {
            let mark = match (d.opens.as_deref(), d.closes.as_deref()) {
                (None, _) => "·",
                (Some(_), Some(c)) if c != "15:30" => "+",
                (Some("10:00"), _) => "*",
                _ => " ",
            };
            line.push_str(&format!("{:>3}{} ", d.date.day(), mark));
            if d.date.weekday() == chrono::Weekday::Sun {
                writeln!(out, "{}", line.trim_end()).map_err(io_err)?;
                line.clear();
            }
        }
        if !line.is_empty() {
            writeln!(out, "{}", line.trim_end()).map_err(io_err)?;
        }
        let n = days.iter().filter(|d| d.trading).count();
        writeln!(out, "{n} trading days").map_err(io_err)?;
        for d in days
            .iter()
            .filter(|d| d.opens.as_deref().is_some_and(|o| o != "09:00"))
        {
            let (o, c) = (d.opens.as_deref(), d.closes.as_deref());
            writeln!(
                out,
                "{} opens {} and closes {}",
                d.date.format("%m-%d"),
                o.unwrap_or_default(),
                c.unwrap_or_default()
            )
            .map_err(io_err)?;
        }
        writeln!(out, "source: {}", sources(&days)).map_err(io_err)?;
        Ok(exit::OK)
    }
}

/// Where the answers came from, as runs of days: `table` or `bars 11-01–11-20, table 11-21–11-30`.
fn sources(days: &[Day]) -> String {
    let mut runs: Vec<(&str, NaiveDate, NaiveDate)> = Vec::new();
    for d in days {
        match runs.last_mut() {
            Some((source, _, last)) if *source == d.source => *last = d.date,
            _ => runs.push((d.source, d.date, d.date)),
        }
    }
    match runs.as_slice() {
        [(source, _, _)] => source.to_string(),
        _ => runs
            .iter()
            .map(|(s, a, b)| format!("{s} {}–{}", a.format("%m-%d"), b.format("%m-%d")))
            .collect::<Vec<_>>()
            .join(", "),
    }
}
