//! Stocks: the bulk upsert of listings and prices (used by the loader and the crawler), and
//! the reads of `stock list`, `search` and `show`.

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
    let (rows, new, changed) = crate::store::stocks::upsert(conn, quotes, at).await?;
    Ok(UpsertSummary { rows, new, changed })
}

/// A stock as `stock list`, `search` and `show` print it.
pub use crate::store::stocks::StockRow as StockView;

fn instrument(stock: &StockView) -> rules::Instrument {
    rules::Instrument::stored(&stock.kind, stock.leverage, stock.listed_on)
}

pub async fn list(app: &App) -> Result<Vec<StockView>> {
    crate::store::stocks::list(&mut *app.pool.acquire().await?).await
}

/// Finds stocks by code prefix or by a name substring (Hangul or Latin, case-insensitive):
/// the exact code first, then by market cap.
pub async fn search(app: &App, query: &str, limit: i64) -> Result<Vec<StockView>> {
    let q = query.trim();
    if q.is_empty() {
        return Err(Invalid::new("query", "must not be empty (a name or a code prefix)").into());
    }
    crate::store::stocks::search(&mut *app.pool.acquire().await?, q, limit).await
}

pub async fn get(app: &App, code: &StockCode) -> Result<StockView> {
    crate::store::stocks::get(&mut *app.pool.acquire().await?, code)
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
    let inst = instrument(&stock);
    let day = rules::trade_date(app.clock.now());
    Ok(StockDetail {
        tick: stock.price.map(|p| rules::tick_size_of(inst.kind, p)),
        band: stock.prev_close.map(|b| rules::band_for(&inst, b, day)),
        stock,
        bars,
    })
}
