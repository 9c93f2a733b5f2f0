//! The stock table: bulk upsert of listings and prices (used by the loader and the crawler),
//! and reads.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::App;
pub use crate::domain::StockQuote;
use crate::domain::{rules, Invalid, StockCode};
use crate::error::Result;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct UpsertSummary {
    pub rows: u64,
    pub new: u64,
    pub changed: u64,
}

/// Upserts quotes in one statement (UNNEST), stamping them with `at`.
pub async fn upsert(app: &App, quotes: &[StockQuote], at: DateTime<Utc>) -> Result<UpsertSummary> {
    app.caller.require_operator("stock load")?;
    let mut tx = app.pool.begin().await?;
    let s = upsert_in(&mut tx, quotes, at).await?;
    tx.commit().await?;
    Ok(s)
}

pub async fn upsert_in(
    conn: &mut sqlx::PgConnection,
    quotes: &[StockQuote],
    at: DateTime<Utc>,
) -> Result<UpsertSummary> {
    let codes: Vec<&str> = quotes.iter().map(|q| q.code.as_str()).collect();
    let names: Vec<&str> = quotes.iter().map(|q| q.name.as_str()).collect();
    let markets: Vec<&str> = quotes.iter().map(|q| q.market.as_str()).collect();
    let prices: Vec<Decimal> = quotes.iter().map(|q| q.price.get()).collect();
    let prevs: Vec<Decimal> = quotes.iter().map(|q| q.prev_close.get()).collect();
    let volumes: Vec<Option<i64>> = quotes.iter().map(|q| q.volume).collect();
    let caps: Vec<Option<Decimal>> = quotes.iter().map(|q| q.market_cap).collect();
    let kinds: Vec<&str> = quotes.iter().map(|q| q.kind.as_str()).collect();
    let leverages: Vec<Decimal> = quotes.iter().map(|q| q.leverage).collect();
    let listed_on: Vec<Option<chrono::NaiveDate>> = quotes.iter().map(|q| q.listed_on).collect();
    let halted: Vec<bool> = quotes.iter().map(|q| q.halted).collect();
    let after: Vec<bool> = quotes
        .iter()
        .map(|q| q.session == crate::domain::TradingSession::After)
        .collect();
    // New and changed rows are told apart by one join against the rows as they were (the
    // statement's snapshot), not by a lookup per row. An after-market price (KRX 16:00–20:00
    // since 2026-09-14) goes to after_price and leaves the regular-session price, its
    // previous close and its time as they were: the value of a day is its 15:30 close.
    let (rows, new, changed): (i64, i64, i64) = sqlx::query_as(
        "WITH input AS (
            SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::bigint[], $7::numeric[],
                                 $9::text[], $10::numeric[], $11::date[], $12::boolean[], $13::boolean[])
                AS t(code, name, market, price, prev_close, volume, market_cap, kind, leverage, listed_on, halted, after)),
         up AS (
            INSERT INTO stocks AS s (code, name, market, price, prev_close, change, change_rate, volume, market_cap, price_at,
                                     listed, updated_at, kind, leverage, listed_on, halted, after_price, after_price_at)
            SELECT code, name, market,
                   CASE WHEN after THEN NULL ELSE price END,
                   CASE WHEN after THEN NULL ELSE prev_close END,
                   CASE WHEN after THEN NULL ELSE price - prev_close END,
                   CASE WHEN after THEN NULL ELSE round((price - prev_close) * 100 / prev_close, 2) END,
                   volume, market_cap, CASE WHEN after THEN NULL ELSE $8::timestamptz END, true, $8,
                   kind, leverage, listed_on, halted,
                   CASE WHEN after THEN price END, CASE WHEN after THEN $8::timestamptz END
            FROM input
            ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, market = EXCLUDED.market,
                price = coalesce(EXCLUDED.price, s.price),
                prev_close = coalesce(EXCLUDED.prev_close, s.prev_close),
                change = coalesce(EXCLUDED.change, s.change),
                change_rate = coalesce(EXCLUDED.change_rate, s.change_rate),
                price_at = coalesce(EXCLUDED.price_at, s.price_at),
                volume = CASE WHEN EXCLUDED.after_price IS NULL THEN coalesce(EXCLUDED.volume, s.volume) ELSE s.volume END,
                market_cap = coalesce(EXCLUDED.market_cap, s.market_cap),
                listed = true, updated_at = EXCLUDED.updated_at,
                kind = EXCLUDED.kind, leverage = EXCLUDED.leverage,
                listed_on = coalesce(EXCLUDED.listed_on, s.listed_on), halted = EXCLUDED.halted,
                after_price = coalesce(EXCLUDED.after_price, s.after_price),
                after_price_at = coalesce(EXCLUDED.after_price_at, s.after_price_at)
            RETURNING 1)
         SELECT (SELECT count(*) FROM up),
                count(*) FILTER (WHERE o.code IS NULL),
                count(*) FILTER (WHERE o.code IS NOT NULL AND (
                    (NOT i.after AND (o.price IS DISTINCT FROM i.price OR o.prev_close IS DISTINCT FROM i.prev_close))
                    OR (i.after AND o.after_price IS DISTINCT FROM i.price)
                    OR o.name <> i.name OR NOT o.listed OR o.halted <> i.halted OR o.kind <> i.kind))
         FROM input i LEFT JOIN stocks o ON o.code = i.code",
    )
    .bind(&codes)
    .bind(&names)
    .bind(&markets)
    .bind(&prices)
    .bind(&prevs)
    .bind(&volumes)
    .bind(&caps)
    .bind(at)
    .bind(&kinds)
    .bind(&leverages)
    .bind(&listed_on)
    .bind(&halted)
    .bind(&after)
    .fetch_one(&mut *conn)
    .await?;
    Ok(UpsertSummary {
        rows: rows as u64,
        new: new as u64,
        changed: changed as u64,
    })
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct StockView {
    pub code: String,
    pub name: String,
    pub market: String,
    pub price: Option<Decimal>,
    pub prev_close: Option<Decimal>,
    pub change: Option<Decimal>,
    pub change_rate: Option<Decimal>,
    pub volume: Option<i64>,
    pub market_cap: Option<Decimal>,
    pub price_at: Option<DateTime<Utc>>,
    pub listed: bool,
    pub kind: String,
    pub leverage: Decimal,
    pub listed_on: Option<chrono::NaiveDate>,
    pub halted: bool,
    /// The latest after-market (16:00–20:00) price, shown beside the regular-session price.
    pub after_price: Option<Decimal>,
    pub after_price_at: Option<DateTime<Utc>>,
}

impl StockView {
    fn instrument(&self) -> rules::Instrument {
        rules::Instrument::stored(&self.kind, self.leverage, self.listed_on)
    }
}

macro_rules! view_columns {
    () => {
        "code, name, market, price, prev_close, change, change_rate, volume, market_cap, price_at, listed, \
         kind, leverage, listed_on, halted, after_price, after_price_at"
    };
}

pub async fn list(app: &App) -> Result<Vec<StockView>> {
    Ok(sqlx::query_as::<_, StockView>(concat!(
        "SELECT ",
        view_columns!(),
        " FROM stocks ORDER BY market, code"
    ))
    .fetch_all(&app.pool)
    .await?)
}

/// Finds stocks by code prefix or by a name substring (Hangul or Latin, case-insensitive):
/// the exact code first, then by market cap.
pub async fn search(app: &App, query: &str, limit: i64) -> Result<Vec<StockView>> {
    let q = query.trim();
    if q.is_empty() {
        return Err(Invalid::new("query", "must not be empty (a name or a code prefix)").into());
    }
    let like = format!(
        "%{}%",
        q.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let prefix = format!(
        "{}%",
        q.to_ascii_uppercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    Ok(sqlx::query_as::<_, StockView>(concat!(
        "SELECT ",
        view_columns!(),
        " FROM stocks
         WHERE code = upper($1) OR code LIKE $2 OR name ILIKE $3
         ORDER BY (code = upper($1)) DESC, listed DESC, market_cap DESC NULLS LAST, code
         LIMIT $4"
    ))
    .bind(q)
    .bind(&prefix)
    .bind(&like)
    .bind(limit)
    .fetch_all(&app.pool)
    .await?)
}

pub async fn get(app: &App, code: &StockCode) -> Result<StockView> {
    sqlx::query_as::<_, StockView>(concat!(
        "SELECT ",
        view_columns!(),
        " FROM stocks WHERE code = $1"
    ))
    .bind(code.as_str())
    .fetch_optional(&app.pool)
    .await?
    .ok_or_else(|| {
        crate::Error::not_found(format!(
            "code: no stock with code {code} is known; search with `ascend stock search`"
        ))
    })
}

/// A stock with what a trader looks at: band limits, tick, stored daily bars.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StockDetail {
    pub stock: StockView,
    pub tick: Option<Decimal>,
    pub band: Option<rules::Band>,
    pub bars: Vec<crate::domain::market_data::Bar>,
}

pub async fn detail(app: &App, code: &StockCode, days: i64) -> Result<StockDetail> {
    let stock = get(app, code).await?;
    let bars =
        crate::store::market::bars(&mut *app.pool.acquire().await?, code.as_str(), days).await?;
    let inst = stock.instrument();
    let day = rules::trade_date(app.clock.now());
    Ok(StockDetail {
        tick: stock.price.map(|p| rules::tick_size_of(inst.kind, p)),
        band: stock.prev_close.map(|b| rules::band_for(&inst, b, day)),
        stock,
        bars,
    })
}
