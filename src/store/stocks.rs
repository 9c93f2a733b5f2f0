//! The stock table: listings and prices as crawled or loaded, and the reads of `stock list`,
//! `search` and `show`.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{FromRow, PgConnection};

use crate::domain::{StockCode, StockQuote, TradingSession};
use crate::error::Result;

/// Upserts quotes in one statement (UNNEST), stamping them with `at`. Returns the rows
/// written, how many of them are new and how many changed.
pub async fn upsert(
    conn: &mut PgConnection,
    quotes: &[StockQuote],
    at: DateTime<Utc>,
) -> Result<(u64, u64, u64)> {
    let codes: Vec<&str> = quotes.iter().map(|q| q.code.as_str()).collect();
    let names: Vec<&str> = quotes.iter().map(|q| q.name.as_str()).collect();
    let markets: Vec<&str> = quotes.iter().map(|q| q.market.as_str()).collect();
    let prices: Vec<Decimal> = quotes.iter().map(|q| q.price.get()).collect();
    let prevs: Vec<Decimal> = quotes.iter().map(|q| q.prev_close.get()).collect();
    let volumes: Vec<Option<i64>> = quotes.iter().map(|q| q.volume).collect();
    let caps: Vec<Option<Decimal>> = quotes.iter().map(|q| q.market_cap).collect();
    let kinds: Vec<&str> = quotes.iter().map(|q| q.kind.as_str()).collect();
    let leverages: Vec<Decimal> = quotes.iter().map(|q| q.leverage).collect();
    let listed_on: Vec<Option<NaiveDate>> = quotes.iter().map(|q| q.listed_on).collect();
    let halted: Vec<bool> = quotes.iter().map(|q| q.halted).collect();
    let after: Vec<bool> = quotes
        .iter()
        .map(|q| q.session == TradingSession::After)
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
    Ok((rows as u64, new as u64, changed as u64))
}

/// A row of the stock table as the reads return it.
#[derive(Debug, Clone, Serialize, FromRow, PartialEq)]
pub struct StockRow {
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
    pub listed_on: Option<NaiveDate>,
    pub halted: bool,
    /// The latest after-market (16:00–20:00) price, shown beside the regular-session price.
    pub after_price: Option<Decimal>,
    pub after_price_at: Option<DateTime<Utc>>,
}

macro_rules! row_columns {
    () => {
        "code, name, market, price, prev_close, change, change_rate, volume, market_cap, price_at, listed, \
         kind, leverage, listed_on, halted, after_price, after_price_at"
    };
}

/// Every stock, by market and code.
pub async fn list(conn: &mut PgConnection) -> Result<Vec<StockRow>> {
    Ok(sqlx::query_as::<_, StockRow>(concat!(
        "SELECT ",
        row_columns!(),
        " FROM stocks ORDER BY market, code"
    ))
    .fetch_all(&mut *conn)
    .await?)
}

/// Stocks whose code is `query` or starts with it, or whose name contains it
/// (case-insensitive): the exact code first, then listed ones by market cap. `query` is
/// matched literally (`%` and `_` are no wildcards).
pub async fn search(conn: &mut PgConnection, query: &str, limit: i64) -> Result<Vec<StockRow>> {
    let like = format!("%{}%", like_literal(query));
    let prefix = format!("{}%", like_literal(&query.to_ascii_uppercase()));
    Ok(sqlx::query_as::<_, StockRow>(concat!(
        "SELECT ",
        row_columns!(),
        " FROM stocks
         WHERE code = upper($1) OR code LIKE $2 OR name ILIKE $3
         ORDER BY (code = upper($1)) DESC, listed DESC, market_cap DESC NULLS LAST, code
         LIMIT $4"
    ))
    .bind(query)
    .bind(&prefix)
    .bind(&like)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// `text` with LIKE's wildcards and escape character escaped.
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The stock with this code, listed or not.
pub async fn get(conn: &mut PgConnection, code: &StockCode) -> Result<Option<StockRow>> {
    Ok(sqlx::query_as::<_, StockRow>(concat!(
        "SELECT ",
        row_columns!(),
        " FROM stocks WHERE code = $1"
    ))
    .bind(code.as_str())
    .fetch_optional(&mut *conn)
    .await?)
}
