//! `ascend portfolio`, `ascend snapshot`, `ascend assets`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use clap::Args;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::output::{money, render, render_one, Format, Tabular};
use crate::{io_err, Ctx};
use ascend::app::market::{self as market_data, Source, SourceOptions, SourceSpec};
use ascend::app::portfolio::{self, HoldingView, PortfolioView};
use ascend::app::{self, snapshot};
use ascend::domain::Invalid;
use ascend::{exit, Error};

fn pct(p: Option<Decimal>) -> String {
    p.map(|v| format!("{v}%")).unwrap_or_else(|| "-".into())
}

#[derive(Serialize)]
struct H<'a>(&'a HoldingView);

impl Tabular for H<'_> {
    fn headers() -> &'static [&'static str] {
        &[
            "code",
            "name",
            "quantity",
            "reserved",
            "avg price",
            "price",
            "valuation",
            "P/L",
            "return",
            "weight",
            "price age",
        ]
    }
    fn optional() -> &'static [&'static str] {
        &["weight", "reserved", "avg price", "price age"]
    }
    fn cells(&self, h: bool) -> Vec<String> {
        let v = self.0;
        let age = match (v.stale, v.price_age_seconds) {
            (false, _) => "live".to_string(),
            (true, Some(s)) if h => format!("stale {}m", s / 60),
            (true, Some(s)) => format!("stale {s}s"),
            (true, None) => "no price".into(),
        };
        vec![
            v.code.clone(),
            v.name.clone(),
            money(v.quantity.into(), h),
            money(v.reserved.into(), h),
            money(
                if h {
                    v.average_price.round_dp(0)
                } else {
                    v.average_price
                },
                h,
            ),
            v.price.map(|p| money(p, h)).unwrap_or_default(),
            money(v.valuation, h),
            money(if h { v.profit.round_dp(0) } else { v.profit }, h),
            pct(v.return_pct),
            pct(v.weight_pct),
            age,
        ]
    }
}

/// Your holdings at current prices, cash and totals. Current prices come from one batched
/// quote request for every holding (with a timeout); when it fails, each row falls back to
/// the last stored price and is marked stale with its age. --offline never touches the network.
#[derive(Debug, Args)]
pub struct Portfolio {
    /// Use stored prices only.
    #[arg(long)]
    offline: bool,
    /// Quote source: naver, replay:DIR or sim[:SEED].
    #[arg(long, env = "ASCEND_SOURCE", default_value = "naver", value_parser = crate::source_arg::SourceArg)]
    source: String,
    /// Give up on live quotes after this many milliseconds.
    #[arg(long, default_value_t = 1500)]
    timeout_ms: u64,
}

impl Portfolio {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let spec: SourceSpec = self.source.parse()?;
        let actor = ctx.actor()?;
        let app = ctx.app().await?;
        let user = app::resolve(&app, &actor).await?;
        let view = if self.offline {
            portfolio::portfolio::<Source>(&app, user.id, None).await?
        } else {
            let opts = SourceOptions {
                timeout: Some(Duration::from_millis(self.timeout_ms)),
                retries: Some(0),
                ..SourceOptions::default()
            };
            let source = market_data::open(&app, &spec, opts)?;
            portfolio::portfolio(
                &app,
                user.id,
                Some((&source, Duration::from_millis(self.timeout_ms))),
            )
            .await?
        };
        if !view.prices.starts_with("live") && !self.offline {
            eprintln!("portfolio: {}", view.prices);
        }
        match ctx.format {
            Format::Json | Format::Ndjson => {
                render_one(out, ctx.format, &view, |_| Vec::new()).map_err(io_err)?
            }
            Format::Csv | Format::Tsv => {
                render(out, ctx.format, &Line::of(&view)).map_err(io_err)?
            }
            Format::Table => {
                render(
                    out,
                    ctx.format,
                    &view.holdings.iter().map(H).collect::<Vec<_>>(),
                )
                .map_err(io_err)?;
                totals(out, &view)?;
            }
        }
        Ok(exit::OK)
    }
}

/// A line of the portfolio for programs (CSV, TSV): each holding, then the cash and the totals,
/// so a file holds the whole account.
#[derive(Serialize)]
struct Line {
    /// `holding`, `cash_available`, `cash_reserved` or `total`.
    line: &'static str,
    code: Option<String>,
    name: Option<String>,
    quantity: Option<i64>,
    reserved: Option<i64>,
    average_price: Option<Decimal>,
    price: Option<Decimal>,
    valuation: Decimal,
    profit: Option<Decimal>,
    return_pct: Option<Decimal>,
    weight_pct: Option<Decimal>,
    stale: Option<bool>,
    price_age_seconds: Option<i64>,
}

impl Line {
    fn of(v: &PortfolioView) -> Vec<Line> {
        let money_line = |line, valuation| Line {
            line,
            code: None,
            name: None,
            quantity: None,
            reserved: None,
            average_price: None,
            price: None,
            valuation,
            profit: None,
            return_pct: None,
            weight_pct: None,
            stale: None,
            price_age_seconds: None,
        };
        let mut lines: Vec<Line> = v
            .holdings
            .iter()
            .map(|h| Line {
                line: "holding",
                code: Some(h.code.clone()),
                name: Some(h.name.clone()),
                quantity: Some(h.quantity),
                reserved: Some(h.reserved),
                average_price: Some(h.average_price),
                price: h.price,
                valuation: h.valuation,
                profit: Some(h.profit),
                return_pct: h.return_pct,
                weight_pct: h.weight_pct,
                stale: Some(h.stale),
                price_age_seconds: h.price_age_seconds,
            })
            .collect();
        lines.push(money_line("cash_available", v.cash_available));
        lines.push(money_line("cash_reserved", v.cash_reserved));
        lines.push(Line {
            profit: Some(v.total_assets - v.initial_cash),
            return_pct: v.total_return_pct,
            ..money_line("total", v.total_assets)
        });
        lines
    }
}

impl Tabular for Line {
    fn headers() -> &'static [&'static str] {
        &["line", "code", "valuation"]
    }
    fn cells(&self, h: bool) -> Vec<String> {
        vec![
            self.line.into(),
            self.code.clone().unwrap_or_default(),
            money(self.valuation, h),
        ]
    }
}

fn totals(out: &mut dyn Write, v: &PortfolioView) -> Result<(), Error> {
    render_one(out, Format::Table, v, |h| {
        vec![
            ("cash available", money(v.cash_available, h)),
            ("cash reserved", money(v.cash_reserved, h)),
            ("stock valuation", money(v.stock_valuation, h)),
            ("total assets", money(v.total_assets, h)),
            ("initial cash", money(v.initial_cash, h)),
            ("total return", pct(v.total_return_pct)),
            ("prices", v.prices.clone()),
        ]
    })
    .map_err(io_err)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn parse_date(s: &str, field: &'static str) -> Result<NaiveDate, Invalid> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| Invalid::new(field, format!("{s:?} is not a date (YYYY-MM-DD)")))
}

/// Record every active user's cash, stock valuation at the day's close, total assets, daily
/// and cumulative return — once per user per trading day.
///
/// Without a date it catches up: every closed trading day since each user's last snapshot (or
/// registration day) is recorded, up to the last session that has closed (before today's close
/// or on a weekend, the trading day before); a rerun writes nothing. With --date or a range it
/// (re)writes those days from stored daily bars; non-trading days are skipped with a message,
/// and a date before the first stored prices or trades is refused. A holding valued at a price
/// carried from an earlier day is noted with the snapshot. Every run also deletes the login
/// sessions that have expired.
#[derive(Debug, Args)]
pub struct Snapshot {
    /// Record (or rewrite) this trading day only (YYYY-MM-DD).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    date: Option<String>,
    /// Record (or rewrite) every trading day from this one (YYYY-MM-DD), with --to.
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// The last day of --from (YYYY-MM-DD).
    #[arg(long, requires = "from")]
    to: Option<String>,
}

impl Snapshot {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let range = match (&self.date, &self.from, &self.to) {
            (Some(d), _, _) => {
                let d = parse_date(d, "date")?;
                Some((d, d))
            }
            (None, Some(f), Some(t)) => Some((parse_date(f, "from")?, parse_date(t, "to")?)),
            _ => None,
        };
        let app = ctx.app().await?;
        let s = match range {
            Some((from, to)) => snapshot::snapshot(&app, from, to).await?,
            None => snapshot::catch_up(&app).await?,
        };
        for d in &s.days {
            if let Some(note) = &d.note {
                eprintln!("snapshot: {}: {note}", d.date);
            }
        }
        let recorded = s.days.iter().filter(|d| d.users.is_some()).count();
        let what = match (s.up_to, recorded) {
            (Some(up_to), 0) => format!("nothing missing up to {up_to}"),
            (Some(up_to), n) => format!("{n} trading day{} recorded up to {up_to}", plural(n)),
            (None, n) => format!("{n} trading day{} recorded", plural(n)),
        };
        eprintln!(
            "snapshot: {what}; {} expired session{} deleted",
            s.expired_sessions,
            plural(s.expired_sessions as usize)
        );
        #[derive(Serialize)]
        struct Row<'a>(&'a snapshot::DayResult);
        impl Tabular for Row<'_> {
            fn headers() -> &'static [&'static str] {
                &["date", "users", "note"]
            }
            fn cells(&self, _h: bool) -> Vec<String> {
                vec![
                    self.0.date.to_string(),
                    self.0.users.map(|u| u.to_string()).unwrap_or_default(),
                    self.0.note.clone().unwrap_or_default(),
                ]
            }
        }
        render(out, ctx.format, &s.days.iter().map(Row).collect::<Vec<_>>()).map_err(io_err)?;
        tracing::info!(seconds = s.seconds, "snapshot done");
        Ok(exit::OK)
    }
}

/// Today's totals and the trend of your total assets from the daily snapshots, drawn in the
/// terminal; --chart writes it as an image with KOSPI rebased to your first snapshot.
#[derive(Debug, Args)]
pub struct Assets {
    /// List every snapshot, not only the trend.
    #[arg(long)]
    history: bool,
    /// Snapshots to show.
    #[arg(long, default_value_t = 60)]
    days: i64,
    /// Write the chart to a .png or .svg file.
    #[arg(long)]
    chart: Option<PathBuf>,
}

/// A snapshot row; in a table a day with a note is marked `*` and the note is a footnote (the
/// table stays within 80 columns), in CSV the note is a column.
#[derive(Serialize)]
struct S(ascend::app::assets::SnapshotRow);

impl Tabular for S {
    fn headers() -> &'static [&'static str] {
        &[
            "date",
            "cash",
            "stocks",
            "total",
            "daily",
            "cumulative",
            "note",
        ]
    }
    fn cells(&self, h: bool) -> Vec<String> {
        let r = &self.0;
        let mut cells = vec![
            if h && r.note.is_some() {
                format!("{}*", r.date)
            } else {
                r.date.to_string()
            },
            money(r.cash, h),
            money(r.stock_value, h),
            money(r.total, h),
            pct(r.daily_return.map(|d| d.round_dp(2))),
            pct(r.cumulative_return.map(|d| d.round_dp(2))),
        ];
        if !h {
            cells.push(r.note.clone().unwrap_or_default());
        }
        cells
    }
}

/// The table of snapshots: [`S`] without the note column.
#[derive(Serialize)]
struct T(ascend::app::assets::SnapshotRow);

impl Tabular for T {
    fn headers() -> &'static [&'static str] {
        let all = S::headers();
        &all[..all.len() - 1]
    }
    fn cells(&self, h: bool) -> Vec<String> {
        let mut cells = S(self.0.clone()).cells(h);
        cells.truncate(T::headers().len());
        cells
    }
}

impl Assets {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let actor = ctx.actor()?;
        let app = ctx.app().await?;
        let user = app::resolve(&app, &actor).await?;
        let a = app::assets::assets(&app, user.id, self.days.max(1)).await?;
        if let Some(path) = &self.chart {
            ascend::chart::write_chart(
                path,
                "Total assets (KOSPI rebased to the first snapshot)",
                &a.series(),
            )?;
            eprintln!("chart written to {}", path.display());
        }
        if ctx.format != Format::Table || self.history {
            match ctx.format {
                Format::Json | Format::Ndjson => {
                    render_one(out, ctx.format, &a, |_| Vec::new()).map_err(io_err)?
                }
                Format::Csv | Format::Tsv => {
                    let rows: Vec<S> = a.snapshots.iter().cloned().map(S).collect();
                    render(out, ctx.format, &rows).map_err(io_err)?;
                }
                Format::Table => {
                    let rows: Vec<T> = a.snapshots.iter().cloned().map(T).collect();
                    render(out, ctx.format, &rows).map_err(io_err)?;
                    for r in &a.snapshots {
                        if let Some(note) = &r.note {
                            writeln!(out, "* {}: {note}", r.date).map_err(io_err)?;
                        }
                    }
                }
            }
            if ctx.format != Format::Table {
                return Ok(exit::OK);
            }
        }
        let totals: Vec<Decimal> = a.snapshots.iter().map(|s| s.total).collect();
        render_one(out, Format::Table, &a, |h| {
            let mut f = vec![
                ("cash", money(a.cash, h)),
                (
                    "stock valuation (stored prices)",
                    money(a.stock_valuation, h),
                ),
                ("total assets", money(a.total, h)),
                ("total return", pct(a.total_return_pct)),
            ];
            if let (Some(first), Some(last)) = (a.snapshots.first(), a.snapshots.last()) {
                f.push((
                    "trend",
                    format!(
                        "{} → {}  {}",
                        first.date,
                        last.date,
                        ascend::chart::sparkline(&totals)
                    ),
                ));
            } else {
                f.push((
                    "trend",
                    "no snapshots yet (run `ascend snapshot` after the close)".into(),
                ));
            }
            f
        })
        .map_err(io_err)?;
        Ok(exit::OK)
    }
}
