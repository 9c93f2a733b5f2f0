//! `crawl-stocks`: the listing and prices of KOSPI and KOSDAQ, the indices and, on request,
//! daily bars — fetched and checked in full first, then written in one transaction. A page that
//! parses to nothing, too few rows, or values that fail the sanity checks fails the crawl and
//! the database keeps the last good data: a wrong price is worse than a stale one.

use std::collections::HashSet;
use std::time::Instant;

use futures::{stream, StreamExt, TryStreamExt};
use rust_decimal::Decimal;
use serde::Serialize;

use super::stocks::{self, StockQuote};

use super::App;
use crate::domain::Market;
use crate::error::Result;
use crate::market::{Bar, IndexCode, MarketData, MarketError, Symbol};
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

    // 1. Fetch and check everything before writing anything.
    let mut listings: Vec<(Market, Vec<StockQuote>)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for &market in &opts.markets {
        let rows = source.listing(market, &on_page).await?;
        if rows.len() < opts.min_rows {
            return Err(MarketError::Insane {
                url: format!("{market} listing"),
                what: format!(
                    "{} rows, fewer than the floor of {} (a changed page structure?)",
                    rows.len(),
                    opts.min_rows
                ),
            }
            .into());
        }
        let mut quotes = Vec::with_capacity(rows.len());
        for row in &rows {
            let q =
                crate::market::listing_quote(market, row).map_err(|what| MarketError::Insane {
                    url: format!("{market} listing"),
                    what,
                })?;
            if !seen.insert(row.code.clone()) {
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
    let mut index_values = Vec::new();
    for code in IndexCode::ALL {
        let v = source.index_now(code).await?;
        if v.value <= Decimal::ZERO {
            return Err(MarketError::Insane {
                url: format!("{code} index"),
                what: format!("value {} is not positive", v.value),
            }
            .into());
        }
        index_values.push((code, v));
    }
    let mut bars: Vec<(String, Bar)> = Vec::new();
    if let Some(days) = opts.history_days {
        let mut symbols: Vec<Symbol> = IndexCode::ALL.iter().map(|i| Symbol::Index(*i)).collect();
        for (_, quotes) in &listings {
            symbols.extend(quotes.iter().map(|q| Symbol::Stock(q.code.clone())));
        }
        let total = symbols.len();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let fetched: Vec<(String, Vec<Bar>)> = stream::iter(symbols.iter())
            .map(|s| async {
                let b = source.daily_bars(s, days).await?;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(Progress::Bars { done: n, total });
                Ok::<_, MarketError>((s.as_str().to_string(), b))
            })
            .buffer_unordered(opts.concurrency.max(1))
            .try_collect()
            .await?;
        for (symbol, list) in fetched {
            bars.extend(list.into_iter().map(|b| (symbol.clone(), b)));
        }
    }

    // 2. Write it all in one transaction.
    progress(Progress::Writing);
    let at = app.clock.now();
    let mut tx = app.pool.begin().await?;
    for (market, quotes) in &listings {
        let s = stocks::upsert_in(&mut tx, quotes, at).await?;
        summary.rows += s.rows;
        summary.new += s.new;
        summary.changed += s.changed;
        let codes: Vec<&str> = quotes.iter().map(|q| q.code.as_str()).collect();
        summary.unlisted += store::mark_unlisted(&mut tx, *market, &codes, at).await?;
    }
    for (code, v) in &index_values {
        store::upsert_index(&mut tx, *code, v, at).await?;
        summary.indices += 1;
    }
    summary.bars = store::upsert_bars(&mut tx, &bars).await?;
    tx.commit().await?;
    summary.pages = pages.load(std::sync::atomic::Ordering::Relaxed);
    Ok(summary)
}
