//! `crawl-stocks`: the listing and prices of KOSPI and KOSDAQ (stocks, ETFs and ETNs), the
//! indices and, on request, daily bars.
//!
//! The listing and indices are fetched and checked in full first, then written in one
//! transaction. A listing that is not complete by its paging, a page that does not parse, too
//! few rows, a price outside its sanity band, or more disappearances than
//! [`unlist_limit`] allows fails the crawl and the database keeps the last good data: a wrong
//! price is worse than a stale one.
//!
//! Daily bars (`--history DAYS`) come after, one symbol per request; each symbol's bars are
//! written in their own transaction, so an interrupted history crawl keeps what it finished
//! and a rerun skips the symbols already complete.

use std::collections::HashSet;
use std::time::Instant;

use futures::{stream, StreamExt, TryStreamExt};
use rust_decimal::Decimal;
use serde::Serialize;

use super::stocks::{self, StockQuote};

use super::App;
use crate::domain::calendar::Calendar;
use crate::domain::{rules, Market};
use crate::error::Result;
use crate::market::{IndexCode, MarketData, MarketError, Symbol};
use crate::store::market as store;

#[derive(Debug, Clone)]
pub struct CrawlOptions {
    pub markets: Vec<Market>,
    /// Also fetch this many daily bars for every listed stock and both indices.
    pub history_days: Option<u32>,
    /// A market whose listing has fewer rows than this fails the crawl.
    pub min_rows: usize,
    /// How the source was named (`naver`, `replay:DIR`, `sim:7`), for the crawl record.
    pub source: String,
    /// Concurrent daily-bar requests (the source applies its own politeness on top).
    pub concurrency: usize,
    /// Unlist more than [`unlist_limit`] instruments in one crawl.
    pub allow_mass_unlist: bool,
}

/// The most instruments one crawl may unlist without `--allow-mass-unlist`: 2% of those
/// listed, or 20, whichever is larger. A short or truncated listing must not unlist half a
/// market; a real wave of delistings is rare and can be confirmed by the operator.
pub fn unlist_limit(listed: u64) -> u64 {
    (listed / 50).max(20)
}

/// What a crawl is doing, for a progress bar or log lines.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Page {
        market: Market,
        page: u32,
        rows: usize,
    },
    Bars {
        done: usize,
        total: usize,
    },
    Writing,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CrawlSummary {
    pub source: String,
    pub pages: u64,
    pub rows: u64,
    pub new: u64,
    pub changed: u64,
    pub unlisted: u64,
    pub indices: u64,
    pub bars: u64,
    /// Symbols whose bars were already complete (skipped by a rerun).
    pub bars_skipped: u64,
    pub etfs: u64,
    pub etns: u64,
    pub halted: u64,
    /// Rows printed in the after-market (kept beside the regular close).
    pub after_market: u64,
    pub requests: u64,
    pub retries: u64,
    pub seconds: f64,
}

pub async fn crawl<M: MarketData>(
    app: &App,
    source: &M,
    opts: &CrawlOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<CrawlSummary> {
    app.caller.require_operator("crawl-stocks")?;
    let started = app.clock.now();
    let timer = Instant::now();
    let result = fetch_and_write(app, source, opts, progress).await;
    let finished = app.clock.now().max(started);
    let mut conn = app.pool.acquire().await?;
    match result {
        Ok(mut s) => {
            s.seconds = timer.elapsed().as_secs_f64();
            let stats = source.stats();
            s.requests = stats.requests;
            s.retries = stats.retries;
            store::record_run(
                &mut conn,
                started,
                finished,
                &opts.source,
                serde_json::to_value(&s).ok(),
                None,
            )
            .await?;
            Ok(s)
        }
        Err(e) => {
            store::record_run(
                &mut conn,
                started,
                finished,
                &opts.source,
                None,
                Some(&e.to_string()),
            )
            .await?;
            Err(e)
        }
    }
}

/// Records a crawl stopped by a signal: its listing transaction was rolled back.
pub async fn record_interrupted(
    app: &App,
    started: chrono::DateTime<chrono::Utc>,
    source: &str,
    signal: &str,
) -> Result<()> {
    let finished = app.clock.now().max(started);
    let mut conn = app.pool.acquire().await?;
    store::record_run(
        &mut conn,
        started,
        finished,
        source,
        None,
        Some(&format!("interrupted by {signal}")),
    )
    .await
}

async fn fetch_and_write<M: MarketData>(
    app: &App,
    source: &M,
    opts: &CrawlOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<CrawlSummary> {
    let mut summary = CrawlSummary {
        source: opts.source.clone(),
        ..Default::default()
    };
    let pages = std::sync::atomic::AtomicU64::new(0);
    let on_page = |market: Market, page: u32, rows: usize| {
        pages.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        progress(Progress::Page { market, page, rows });
    };
    let day = rules::trade_date(app.clock.now());

    // The trading calendar as the stored KOSPI bars give it, read once for the whole crawl.
    let calendar = store::calendar(&mut *app.pool.acquire().await?).await?;

    // 1. Fetch and check the listings and indices before writing anything.
    // The markets and the indices are fetched side by side; the source keeps each host polite.
    let fetched = futures::future::try_join_all(opts.markets.iter().map(|&market| async move {
        Ok::<_, MarketError>((market, source.listing(market, &on_page).await?))
    }));
    let indices =
        futures::future::try_join_all(IndexCode::ALL.iter().map(|&code| async move {
            Ok::<_, MarketError>((code, source.index_now(code).await?))
        }));
    let (fetched, index_values) = futures::try_join!(fetched, indices)?;
    let mut listings: Vec<(Market, Vec<StockQuote>)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (market, rows) in fetched {
        if rows.len() < opts.min_rows {
            return Err(MarketError::Insane {
                url: format!("{market} listing"),
                what: format!(
                    "{} rows, fewer than the floor of {} (a changed endpoint?)",
                    rows.len(),
                    opts.min_rows
                ),
            }
            .into());
        }
        let mut quotes = Vec::with_capacity(rows.len());
        for row in &rows {
            let q = crate::market::checked_quote(row, day).map_err(|what| MarketError::Insane {
                url: format!("{market} listing"),
                what,
            })?;
            if !seen.insert(row.code.to_string()) {
                return Err(MarketError::Insane {
                    url: format!("{market} listing"),
                    what: format!("code {} appears twice", row.code),
                }
                .into());
            }
            quotes.push(q);
        }
        listings.push((market, quotes));
    }
    for (code, v) in &index_values {
        if v.value <= Decimal::ZERO {
            return Err(MarketError::Insane {
                url: format!("{code} index"),
                what: format!("value {} is not positive", v.value),
            }
            .into());
        }
    }

    if source.has_after_market() {
        after_market_rows(app, &calendar, &mut listings).await?;
    }

    // 2. Write the listings and indices in one transaction.
    progress(Progress::Writing);
    let at = app.clock.now();
    let mut tx = app.pool.begin().await?;
    for (market, quotes) in &listings {
        let s = stocks::upsert_in(&mut tx, quotes, at).await?;
        summary.rows += s.rows;
        summary.new += s.new;
        summary.changed += s.changed;
        for q in quotes {
            use crate::domain::{InstrumentKind, TradingSession};
            summary.etfs += u64::from(q.kind == InstrumentKind::Etf);
            summary.etns += u64::from(q.kind == InstrumentKind::Etn);
            summary.halted += u64::from(q.halted);
            summary.after_market += u64::from(q.session == TradingSession::After);
        }
        let codes: Vec<&str> = quotes.iter().map(|q| q.code.as_str()).collect();
        let (listed, missing) = store::count_missing(&mut tx, *market, &codes).await?;
        let limit = unlist_limit(listed);
        if missing > limit && !opts.allow_mass_unlist {
            return Err(MarketError::Insane {
                url: format!("{market} listing"),
                what: format!(
                    "{missing} of {listed} listed instruments are missing from this crawl, more than the {limit} one crawl may unlist (2% or 20); nothing was written. A truncated listing? If the delistings are real, rerun with --allow-mass-unlist"
                ),
            }
            .into());
        }
        summary.unlisted += store::mark_unlisted(&mut tx, *market, &codes, at).await?;
    }
    for (code, v) in &index_values {
        store::upsert_index(&mut tx, *code, v, at).await?;
        summary.indices += 1;
    }
    let closing = closing_bars(&calendar, &listings, at);
    summary.bars += store::upsert_bars(&mut tx, &closing, None).await?;
    tx.commit().await?;
    summary.pages = pages.load(std::sync::atomic::Ordering::Relaxed);

    // 3. Daily bars, each symbol in its own transaction.
    history(
        app,
        source,
        opts,
        &calendar,
        &listings,
        progress,
        &mut summary,
    )
    .await?;
    Ok(summary)
}

/// From 16:00 on a trading day (since KRX opened its after-market on 2026-09-14) a stock's
/// listed price may be an after-market print whether or not the row says so. Such a row is
/// taken as after-market, so it never replaces the regular-session price, unless its price is
/// the day's regular close already stored (by a crawl between the close and 16:00). ETFs and
/// ETNs have no after-market, and a halted stock trades in no session.
async fn after_market_rows(
    app: &App,
    calendar: &Calendar,
    listings: &mut [(Market, Vec<StockQuote>)],
) -> Result<()> {
    use crate::domain::TradingSession;
    let at = app.clock.now();
    let day = rules::trade_date(at);
    let local = at.with_timezone(&rules::kst()).time();
    if day < rules::after_market_start() || local < rules::AFTER_MARKET_OPEN {
        return Ok(());
    }
    if calendar.is_trading_day(day) != Ok(true) {
        return Ok(());
    }
    let closes = store::regular_closes(&mut *app.pool.acquire().await?, day).await?;
    for q in listings
        .iter_mut()
        .flat_map(|(_, quotes)| quotes.iter_mut())
    {
        let regular_close = closes.get(q.code.as_str()) == Some(&q.price.get());
        // A halted stock trades in no session: its price is its last close.
        if !q.kind.is_exchange_traded_product() && !q.halted && !regular_close {
            q.session = TradingSession::After;
        }
    }
    Ok(())
}

/// Today's bar of every instrument whose price is its regular-session close: after 15:30 KST
/// on a trading day, from rows printed in the regular session. These bars are regular (their
/// close is the 15:30 close) and replace a bar of the same day whose close included the
/// after-market.
fn closing_bars(
    calendar: &Calendar,
    listings: &[(Market, Vec<StockQuote>)],
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, crate::domain::market_data::Bar)> {
    use crate::domain::TradingSession;
    let day = rules::trade_date(at);
    let local = at.with_timezone(&rules::kst()).time();
    let closed = match calendar.day(day) {
        Ok(info) => info.closes_at().is_some_and(|close| local >= close),
        Err(_) => false,
    };
    if !closed {
        return Vec::new();
    }
    let mut bars = Vec::new();
    for q in listings.iter().flat_map(|(_, quotes)| quotes) {
        let (Some(open), Some(high), Some(low), Some(volume)) = (q.open, q.high, q.low, q.volume)
        else {
            continue;
        };
        if q.session != TradingSession::Regular || q.halted || volume == 0 {
            continue;
        }
        let close = q.price.get();
        bars.push((
            q.code.to_string(),
            crate::domain::market_data::Bar {
                date: day,
                open,
                high: high.max(close).max(open),
                low: low.min(close).min(open),
                close,
                volume,
            },
        ));
    }
    bars
}

/// With `--history DAYS`, fetches that many daily bars of both indices and every listed
/// symbol that does not have them yet, writing each symbol's bars as they arrive.
async fn history<M: MarketData>(
    app: &App,
    source: &M,
    opts: &CrawlOptions,
    calendar: &Calendar,
    listings: &[(Market, Vec<StockQuote>)],
    progress: &(dyn Fn(Progress) + Send + Sync),
    summary: &mut CrawlSummary,
) -> Result<()> {
    let Some(days) = opts.history_days else {
        return Ok(());
    };
    let mut symbols: Vec<Symbol> = IndexCode::ALL.iter().map(|i| Symbol::Index(*i)).collect();
    for (_, quotes) in listings {
        symbols.extend(quotes.iter().map(|q| Symbol::Stock(q.code.clone())));
    }
    // A symbol is complete when it holds `days` bars, the newest on the latest trading day
    // whose session has closed. Where the calendar cannot say which day that is, nothing is
    // taken as complete.
    let mut conn = app.pool.acquire().await?;
    let done: HashSet<String> =
        match super::settle::last_close(app.clock.now(), calendar).map(rules::trade_date) {
            Ok(latest) => {
                let names: Vec<String> = symbols.iter().map(|s| s.as_str().to_string()).collect();
                store::symbols_with_bars(
                    &mut conn,
                    &names,
                    latest - chrono::Duration::days(i64::from(days) * 7 / 5 + 15),
                    latest,
                    i64::from(days),
                )
                .await?
                .into_iter()
                .collect()
            }
            Err(_) => HashSet::new(),
        };
    drop(conn);
    symbols.retain(|s| !done.contains(s.as_str()));
    summary.bars_skipped = done.len() as u64;
    let total = symbols.len();
    source.allow_requests(total as u64);
    let after_market_from = source.has_after_market().then(rules::after_market_start);
    let products: HashSet<&str> = listings
        .iter()
        .flat_map(|(_, quotes)| quotes)
        .filter(|q| q.kind.is_exchange_traded_product())
        .map(|q| q.code.as_str())
        .collect();
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let written = std::sync::atomic::AtomicU64::new(0);
    stream::iter(symbols.iter())
        .map(|s| async move {
            let bars = source.daily_bars(s, days).await?;
            Ok::<_, crate::Error>((s, bars))
        })
        .buffer_unordered(opts.concurrency.max(1))
        .try_for_each(|(symbol, bars)| {
            let finished = &finished;
            let written = &written;
            let products = &products;
            async move {
                let rows: Vec<(String, crate::domain::market_data::Bar)> = bars
                    .into_iter()
                    .map(|b| (symbol.as_str().to_string(), b))
                    .collect();
                let mut tx = app.pool.begin().await?;
                // Only a stock's close can include the after-market: indices, ETFs and ETNs
                // have none.
                let from = match symbol {
                    Symbol::Stock(c) if !products.contains(c.as_str()) => after_market_from,
                    _ => None,
                };
                let n = store::upsert_bars(&mut tx, &rows, from).await?;
                tx.commit().await?;
                written.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                let d = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(Progress::Bars { done: d, total });
                Ok(())
            }
        })
        .await?;
    summary.bars += written.load(std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_two_percent_or_twenty_may_be_unlisted() {
        assert_eq!(unlist_limit(0), 20);
        assert_eq!(unlist_limit(999), 20);
        assert_eq!(unlist_limit(1_000), 20);
        assert_eq!(unlist_limit(2_770), 55);
        assert_eq!(unlist_limit(3_900), 78);
    }
}
