//! Daily bars, indices, crawl runs and the calendar they imply.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{FromRow, PgConnection};

use crate::domain::calendar::Calendar;
use crate::domain::market_data::{Bar, IndexCode, IndexNow};
use crate::domain::Market;
use crate::error::Result;

/// Upserts daily bars of many symbols in one statement. Bars dated on or after
/// `after_market_from` come from a source whose daily close includes the after-market: they
/// are stored with `regular = false` and never replace a regular-close bar of the same day.
pub async fn upsert_bars(
    conn: &mut PgConnection,
    bars: &[(String, Bar)],
    after_market_from: Option<NaiveDate>,
) -> Result<u64> {
    if bars.is_empty() {
        return Ok(0);
    }
    let symbols: Vec<&str> = bars.iter().map(|(s, _)| s.as_str()).collect();
    let dates: Vec<NaiveDate> = bars.iter().map(|(_, b)| b.date).collect();
    let col = |f: fn(&Bar) -> Decimal| bars.iter().map(|(_, b)| f(b)).collect::<Vec<Decimal>>();
    let volumes: Vec<i64> = bars.iter().map(|(_, b)| b.volume).collect();
    let r = sqlx::query(
        "INSERT INTO daily_bars AS d (symbol, date, open, high, low, close, volume, regular)
         SELECT t.*, $8::date IS NULL OR t.date < $8::date
         FROM UNNEST($1::text[], $2::date[], $3::numeric[], $4::numeric[], $5::numeric[], $6::numeric[], $7::bigint[])
              AS t(symbol, date, open, high, low, close, volume)
         ON CONFLICT (symbol, date) DO UPDATE SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
             close = EXCLUDED.close, volume = EXCLUDED.volume, regular = EXCLUDED.regular
         WHERE EXCLUDED.regular OR NOT d.regular",
    )
    .bind(&symbols)
    .bind(&dates)
    .bind(col(|b| b.open))
    .bind(col(|b| b.high))
    .bind(col(|b| b.low))
    .bind(col(|b| b.close))
    .bind(&volumes)
    .bind(after_market_from)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

pub async fn upsert_index(
    conn: &mut PgConnection,
    code: IndexCode,
    v: &IndexNow,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO indices (code, value, change, change_rate, at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (code) DO UPDATE SET value = EXCLUDED.value, change = EXCLUDED.change,
             change_rate = EXCLUDED.change_rate, at = EXCLUDED.at",
    )
    .bind(code.as_str())
    .bind(v.value)
    .bind(v.change)
    .bind(v.change_rate)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How many instruments of a market are listed now, and how many of them are not in `codes`
/// (what [`mark_unlisted`] would unlist).
pub async fn count_missing(
    conn: &mut PgConnection,
    market: Market,
    codes: &[&str],
) -> Result<(u64, u64)> {
    let (listed, missing): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE code <> ALL($2)) FROM stocks WHERE market = $1 AND listed",
    )
    .bind(market.as_str())
    .bind(codes)
    .fetch_one(&mut *conn)
    .await?;
    Ok((listed as u64, missing as u64))
}

/// The symbols among `symbols` that already hold `days` bars dated from `since`, one of them
/// on `recent` (the latest closed trading day): a history crawl that was interrupted skips
/// them when rerun, and a daily one fetches every symbol again.
pub async fn symbols_with_bars(
    conn: &mut PgConnection,
    symbols: &[String],
    since: NaiveDate,
    recent: NaiveDate,
    days: i64,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT symbol FROM daily_bars WHERE symbol = ANY($1) AND date >= $2
         GROUP BY symbol HAVING count(*) >= $4 AND bool_or(date = $3)",
    )
    .bind(symbols)
    .bind(since)
    .bind(recent)
    .bind(days)
    .fetch_all(&mut *conn)
    .await?)
}

/// Marks every listed stock of a market that is not in `codes` as unlisted (never deleted:
/// orders and holdings point at them). Returns how many were marked.
pub async fn mark_unlisted(
    conn: &mut PgConnection,
    market: Market,
    codes: &[&str],
    at: DateTime<Utc>,
) -> Result<u64> {
    let r = sqlx::query("UPDATE stocks SET listed = false, updated_at = $3 WHERE market = $1 AND listed AND code <> ALL($2)")
        .bind(market.as_str())
        .bind(codes)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

pub async fn record_run(
    conn: &mut PgConnection,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
    source: &str,
    summary: Option<serde_json::Value>,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query("INSERT INTO crawl_runs (started_at, finished_at, source, ok, summary, error) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(started)
        .bind(finished)
        .bind(source)
        .bind(error.is_none())
        .bind(summary.unwrap_or_else(|| serde_json::json!({})))
        .bind(error)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The calendar as the crawled KOSPI bars tell it.
pub async fn calendar(conn: &mut PgConnection) -> Result<Calendar> {
    let dates: Vec<NaiveDate> = sqlx::query_scalar(kospi_bar_dates!())
        .fetch_all(&mut *conn)
        .await?;
    Ok(Calendar::from_bar_dates(dates))
}

/// The closes of a symbol on those of `dates` it has a bar of, by date.
pub async fn closes_on(
    conn: &mut PgConnection,
    symbol: &str,
    dates: &[NaiveDate],
) -> Result<Vec<(NaiveDate, Decimal)>> {
    Ok(sqlx::query_as(
        "SELECT date, close FROM daily_bars WHERE symbol = $1 AND date = ANY($2) ORDER BY date",
    )
    .bind(symbol)
    .bind(dates)
    .fetch_all(&mut *conn)
    .await?)
}

/// Every symbol's regular-session close of `day` (bars whose close includes the after-market
/// are left out).
pub async fn regular_closes(
    conn: &mut PgConnection,
    day: NaiveDate,
) -> Result<std::collections::HashMap<String, Decimal>> {
    let rows: Vec<(String, Decimal)> =
        sqlx::query_as("SELECT symbol, close FROM daily_bars WHERE date = $1 AND regular")
            .bind(day)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// The last `days` stored bars of a symbol, oldest first.
pub async fn bars(conn: &mut PgConnection, symbol: &str, days: i64) -> Result<Vec<Bar>> {
    let rows: Vec<BarRow> = sqlx::query_as(
        "SELECT date, open, high, low, close, volume FROM daily_bars WHERE symbol = $1 ORDER BY date DESC LIMIT $2",
    )
    .bind(symbol)
    .bind(days)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().rev().map(Bar::from).collect())
}

/// A row of daily_bars as read.
#[derive(FromRow)]
struct BarRow {
    date: NaiveDate,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: i64,
}

impl From<BarRow> for Bar {
    fn from(r: BarRow) -> Bar {
        Bar {
            date: r.date,
            open: r.open,
            high: r.high,
            low: r.low,
            close: r.close,
            volume: r.volume,
        }
    }
}

#[derive(Debug, Clone, FromRow, Serialize, PartialEq)]
pub struct IndexRow {
    pub code: String,
    pub value: Decimal,
    pub change: Decimal,
    pub change_rate: Decimal,
    pub at: DateTime<Utc>,
}

pub async fn indices(conn: &mut PgConnection) -> Result<Vec<IndexRow>> {
    Ok(sqlx::query_as(
        "SELECT code, value, change, change_rate, at FROM indices ORDER BY code DESC",
    )
    .fetch_all(&mut *conn)
    .await?)
}
