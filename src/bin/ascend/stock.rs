//! `ascend stock load|list`.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use crate::output::{money, opt_money, render, render_one, time, Tabular};
use crate::{io_err, Ctx};
use ascend::app::market::{self as market_data, OrderBook, SourceOptions, SourceSpec};
use ascend::app::stocks::{self, StockQuote, StockView};
use ascend::domain::parse_decimal;
use ascend::{exit, Error};

#[derive(Debug, Subcommand)]
pub enum StockCommand {
    /// Load stocks and prices from a CSV file with columns code,name,market,price,prev_close
    /// (prices stamped with the current time; the other columns `stock list -f csv` prints are
    /// accepted and read past). All rows or none are written.
    Load {
        /// The CSV file (what `stock list -f csv` prints loads back).
        file: PathBuf,
    },
    /// List stored stocks.
    List,
    /// Find stocks by name (Hangul or Latin substring) or code prefix: the exact code first,
    /// then by market cap.
    Search {
        /// A part of the name, or the start of the code.
        query: String,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// A stock's price, change, band limits, tick, volume, market cap, order book and a daily
    /// chart of its stored bars.
    Show(Show),
}

#[derive(Debug, clap::Args)]
pub struct Show {
    /// Stock code.
    code: String,
    /// Days of stored bars to chart.
    #[arg(long, default_value_t = 60)]
    days: i64,
    /// Also write the chart as an image (.png or .svg).
    #[arg(long)]
    chart: Option<PathBuf>,
    /// Where the order book (호가) comes from: naver, replay:DIR or sim[:SEED].
    #[arg(long, env = "ASCEND_SOURCE", default_value = "naver", value_parser = crate::source_arg::SourceArg)]
    source: String,
    /// Stored data only: no order book request.
    #[arg(long)]
    offline: bool,
}

#[derive(Serialize)]
struct ShowView<'a> {
    #[serde(flatten)]
    detail: &'a stocks::StockDetail,
    order_book: Option<OrderBook>,
    order_book_error: Option<String>,
}

/// The order book as a 호가 ladder: asks above (highest first), bids below.
fn book_table(out: &mut dyn Write, book: &OrderBook) -> std::io::Result<()> {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(["sell qty", "price", "buy qty"]);
    let right =
        |v: String| comfy_table::Cell::new(v).set_alignment(comfy_table::CellAlignment::Right);
    for l in book.asks.iter().rev() {
        t.add_row([
            right(money(l.quantity.into(), true)),
            right(money(l.price, true)),
            right(String::new()),
        ]);
    }
    for l in &book.bids {
        t.add_row([
            right(String::new()),
            right(money(l.price, true)),
            right(money(l.quantity.into(), true)),
        ]);
    }
    writeln!(out, "{t}")
}

#[derive(Serialize)]
struct Row(StockView);

impl Tabular for Row {
    fn headers() -> &'static [&'static str] {
        &[
            "code",
            "name",
            "market",
            "price",
            "prev close",
            "change",
            "rate %",
            "price at",
            "listed",
        ]
    }
    fn optional() -> &'static [&'static str] {
        &["market", "change", "prev close", "listed", "price at"]
    }
    fn cells(&self, h: bool) -> Vec<String> {
        let s = &self.0;
        vec![
            s.code.clone(),
            s.name.clone(),
            s.market.clone(),
            opt_money(s.price, h),
            opt_money(s.prev_close, h),
            opt_money(s.change, h),
            s.change_rate.map(|r| r.to_string()).unwrap_or_default(),
            s.price_at.map(|t| time(t, h)).unwrap_or_default(),
            s.listed.to_string(),
        ]
    }
}

/// The instrument columns of a `stock list` file, when present and not empty: the kind
/// (`etf`, `etn`, …), the leverage multiple, the listing day and the halt.
fn instrument_columns(
    q: &mut StockQuote,
    f: &std::collections::HashMap<String, String>,
) -> Result<(), ascend::domain::Invalid> {
    use ascend::domain::{InstrumentKind, Invalid};
    let cell = |k: &str| f.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    if let Some(k) = cell("kind") {
        q.kind = InstrumentKind::ALL
            .into_iter()
            .find(|i| i.as_str() == k)
            .ok_or_else(|| {
                let all: Vec<&str> = InstrumentKind::ALL.iter().map(|i| i.as_str()).collect();
                Invalid::new("kind", format!("{k:?} must be one of {}", all.join(", ")))
            })?;
    }
    if let Some(l) = cell("leverage") {
        let l = parse_decimal(l, "leverage")?;
        if l <= rust_decimal::Decimal::ZERO || l > rust_decimal::Decimal::from(5) {
            return Err(Invalid::new(
                "leverage",
                format!("{l} must be above 0 and at most 5"),
            ));
        }
        q.leverage = l;
    }
    if let Some(d) = cell("listed_on") {
        q.listed_on = Some(
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                Invalid::new("listed_on", format!("{d:?} is not a date (YYYY-MM-DD)"))
            })?,
        );
    }
    if let Some(h) = cell("halted") {
        q.halted = match h {
            "true" => true,
            "false" => false,
            _ => {
                return Err(Invalid::new(
                    "halted",
                    format!("{h:?} must be true or false"),
                ))
            }
        };
    }
    Ok(())
}

impl StockCommand {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        match self {
            StockCommand::Load { file } => {
                // What `stock list -f csv` prints loads back: its other columns are derived
                // (change, rate) or the crawl's to know (instrument kind, halts), so they are
                // read past.
                let input = crate::bulk::read(
                    &file,
                    &["code", "name", "market", "price", "prev_close"],
                    &[
                        "change",
                        "change_rate",
                        "volume",
                        "market_cap",
                        "price_at",
                        "listed",
                        "kind",
                        "leverage",
                        "listed_on",
                        "halted",
                        "after_price",
                        "after_price_at",
                    ],
                )?;
                if let Some((row, why)) = input.failed.first() {
                    return Err(Error::rejected(format!(
                        "{}: row {row}: {why}",
                        file.display()
                    )));
                }
                let mut quotes = Vec::with_capacity(input.rows.len());
                let mut first_row = std::collections::HashMap::new();
                for (row, f) in &input.rows {
                    let parsed = parse_decimal(&f["price"], "price")
                        .and_then(|p| Ok((p, parse_decimal(&f["prev_close"], "prev_close")?)))
                        .and_then(|(p, prev)| {
                            StockQuote::parse(&f["code"], &f["name"], &f["market"], p, prev)
                        });
                    let mut q = parsed.map_err(|e| {
                        Error::rejected(format!("{}: row {row}: {e}", file.display()))
                    })?;
                    instrument_columns(&mut q, f).map_err(|e| {
                        Error::rejected(format!("{}: row {row}: {e}", file.display()))
                    })?;
                    if let Some(first) = first_row.insert(q.code.clone(), *row) {
                        return Err(Error::rejected(format!(
                            "{}: row {row}: code: {} is already on row {first}; a file lists each stock once",
                            file.display(),
                            q.code
                        )));
                    }
                    quotes.push(q);
                }
                let app = ctx.app().await?;
                let s = stocks::upsert(&app, &quotes, app.clock.now()).await?;
                render_one(out, ctx.format, &s, |h| {
                    vec![
                        ("rows", money(s.rows.into(), h)),
                        ("new", s.new.to_string()),
                        ("changed", s.changed.to_string()),
                    ]
                })
                .map_err(io_err)?;
                Ok(exit::OK)
            }
            StockCommand::List => {
                let app = ctx.app().await?;
                let rows: Vec<Row> = stocks::list(&app).await?.into_iter().map(Row).collect();
                render(out, ctx.format, &rows).map_err(io_err)?;
                Ok(exit::OK)
            }
            StockCommand::Search { query, limit } => {
                let app = ctx.app().await?;
                let rows: Vec<Row> = stocks::search(&app, &query, limit.max(1))
                    .await?
                    .into_iter()
                    .map(Row)
                    .collect();
                if rows.is_empty() {
                    // Like grep: no match is exit 1, not an error of the input.
                    eprintln!("no stock matches {:?}", query.trim());
                    return Ok(exit::CHECK_FAILED);
                }
                render(out, ctx.format, &rows).map_err(io_err)?;
                Ok(exit::OK)
            }
            StockCommand::Show(show) => show.run(ctx, out).await,
        }
    }
}

impl Show {
    async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let code = ascend::domain::StockCode::parse(&self.code)?;
        let app = ctx.app().await?;
        let d = stocks::detail(&app, &code, self.days.max(1)).await?;
        if let Some(path) = &self.chart {
            let candles: Vec<ascend::chart::Candle> = d
                .bars
                .iter()
                .map(|b| ascend::chart::Candle {
                    date: b.date,
                    open: b.open,
                    high: b.high,
                    low: b.low,
                    close: b.close,
                    volume: b.volume,
                })
                .collect();
            ascend::chart::write_candles(
                path,
                &format!("{} {} — daily", d.stock.code, d.stock.name),
                &candles,
            )?;
            eprintln!("chart written to {}", path.display());
        }
        let (order_book, order_book_error) = if self.offline {
            (None, None)
        } else {
            let spec: SourceSpec = self.source.parse()?;
            let opts = SourceOptions {
                timeout: Some(std::time::Duration::from_secs(3)),
                retries: Some(1),
                ..SourceOptions::default()
            };
            let source = market_data::open(&app, &spec, opts)?;
            match market_data::order_book(&source, &code).await {
                Ok(b) => (Some(b), None),
                Err(e) => {
                    eprintln!("stock show: order book unavailable: {e}");
                    (None, Some(e.to_string()))
                }
            }
        };
        let view = ShowView {
            detail: &d,
            order_book,
            order_book_error,
        };
        let s = &d.stock;
        let closes: Vec<rust_decimal::Decimal> = d.bars.iter().map(|b| b.close).collect();
        render_one(out, ctx.format, &view, |h| {
            let mut f = vec![
                ("code", s.code.clone()),
                ("name", s.name.clone()),
                ("market", s.market.clone()),
                (
                    "kind",
                    if s.leverage > rust_decimal::Decimal::ONE {
                        format!("{} ({}× leveraged)", s.kind, s.leverage.normalize())
                    } else {
                        s.kind.clone()
                    },
                ),
                ("listed", s.listed.to_string()),
                (
                    "trading",
                    if s.halted {
                        "halted (거래정지): no orders".to_string()
                    } else {
                        "yes".to_string()
                    },
                ),
                ("price", opt_money(s.price, h)),
                (
                    "change",
                    format!(
                        "{} ({}%)",
                        opt_money(s.change, h),
                        s.change_rate.map(|r| r.to_string()).unwrap_or_default()
                    ),
                ),
                ("previous close", opt_money(s.prev_close, h)),
                (
                    "band",
                    d.band
                        .map(|b| {
                            format!(
                                "{} to {} ({})",
                                money(b.lower, h),
                                money(b.upper, h),
                                b.rule
                            )
                        })
                        .unwrap_or_default(),
                ),
                ("tick", opt_money(d.tick, h)),
                (
                    "volume",
                    s.volume.map(|v| money(v.into(), h)).unwrap_or_default(),
                ),
                ("market cap", opt_money(s.market_cap, h)),
                (
                    "price at",
                    s.price_at.map(|t| time(t, h)).unwrap_or_default(),
                ),
            ];
            if let (Some(p), Some(at)) = (s.after_price, s.after_price_at) {
                if s.price_at.map_or(true, |r| at > r) {
                    f.push((
                        "after-market",
                        format!("{} at {}", money(p, h), time(at, h)),
                    ));
                }
            }
            if let Some(day) = s.listed_on {
                f.push(("listed on", day.to_string()));
            }
            if !closes.is_empty() {
                f.push((
                    "bars",
                    format!(
                        "{} days, {} to {}",
                        closes.len(),
                        d.bars[0].date,
                        d.bars[closes.len() - 1].date
                    ),
                ));
                f.push((
                    "chart",
                    if h {
                        ascend::chart::sparkline(&closes)
                    } else {
                        String::new()
                    },
                ));
            }
            f
        })
        .map_err(io_err)?;
        if let (crate::output::Format::Table, Some(book)) = (ctx.format, &view.order_book) {
            book_table(out, book).map_err(io_err)?;
        }
        Ok(exit::OK)
    }
}
