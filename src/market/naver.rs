//! Naver Pay Securities over HTTP, and the same client served from recorded responses.
//!
//! # Endpoints (September 2026 renewal)
//!
//! Since 2026-09-10/11 Naver answers the classic `finance.naver.com` HTML pages with a 302 to
//! the `stock.naver.com` app, whose HTML holds no data; the client reads the app's JSON
//! endpoints instead (facts and evidence: the project's Naver fact sheet, dated 2026-10-08):
//!
//! | what | host (setting) | target |
//! |---|---|---|
//! | stocks of a market, with type, halt and listing date | stock (`ASCEND_NAVER_STOCK_URL`) | `/api/domestic/market/stock/default?tradeType=KRX&marketType=KOSPI&orderType=marketSum&startIdx=P&pageSize=200` (P: 0-based page) |
//! | every row of a market incl. ETFs and ETNs | mstock (`ASCEND_NAVER_MSTOCK_URL`) | `/api/stocks/marketValue/KOSPI?page=N&pageSize=100` (N: 1-based; `totalCount`) |
//! | quotes, many codes per request | polling (`ASCEND_NAVER_POLLING_URL`) | `/api/realtime/domestic/stock/C1,C2,…` |
//! | an index now | polling | `/api/realtime/domestic/index/KOSPI` |
//! | order book | mstock | `/api/stock/CODE/askingPrice` |
//! | daily bars of a stock / an index | chart (`ASCEND_NAVER_CHART_URL`) | `/chart/domestic/item/CODE/day?startDateTime=YYYYMMDD&endDateTime=YYYYMMDD`, `/chart/domestic/index/KOSPI/day?…` |
//!
//! The paths do not collide, so one local server can stand in for every host.
//!
//! A listing is complete only when its paging says so: stock/default pages are full up to a
//! short page and the page after it is `[]`; marketValue pages add up to the stated
//! `totalCount`. Anything else (a page short before the end, a code on two pages, a page that
//! fails to parse) fails the whole listing. ETF and ETN rows are taken from the marketValue
//! listing, and every stock it lists must be in stock/default too: that catches a stock/default
//! page that went missing or was cut at a row boundary, which its paging alone cannot show.
//!
//! # Politeness
//!
//! At most [`NaverConfig::per_host`] requests in flight per host (4), and each slot pauses
//! [`NaverConfig::pause`] (100 ms) after a response before its next request: public scrapers
//! of these endpoints wait 0.1–0.3 s per page with at most 4 in parallel, and Naver publishes
//! no rate limit. Every host gets a browser User-Agent, `Accept: application/json` and the
//! Referer it expects. Timeouts, connection errors, 5xx, 403 and 429 are retried with
//! exponential backoff and jitter; a `Retry-After` on 429 or 503 is honoured instead. Redirects
//! are not followed: a 3xx means the endpoint moved (the classic pages' fate) and fails.
//!
//! The whole crawl has a deadline, counted from the first request; a caller that knows it
//! will send many requests (a history crawl) extends it with [`Naver::allow_requests`].
//!
//! # Recording layout
//!
//! A response is keyed by its request target: the URL with the scheme and host removed, i.e.
//! what the client appends to the configured base URL. Recordings made against a local server
//! therefore replay for the real hosts and vice versa. For a target `T` the directory holds two
//! files named by [`recording_stem`]: `T` with every byte outside `[A-Za-z0-9.=-]` turned into
//! `_`, cut to 60 characters, then `-` and the first 16 hex digits of SHA-256(`T`):
//! - `STEM.body`: the body bytes as received (after transfer decompression);
//! - `STEM.json`: `{"target": T, "status": 200, "content_type": "application/json", "bytes": N}`.
//!
//! Both are written to a temporary name and renamed, body first, so a `.json` file always has
//! its complete body. `ls DIR/*.json` lists what was recorded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::json::{self, ListedRow};
use super::parse::ParseError;
use super::{
    Bar, FetchStats, IndexCode, IndexNow, MarketData, MarketError, MarketResult, OrderBook,
    PageCallback, QuoteNow, Symbol,
};
use crate::clock::Clock;
use crate::domain::{rules, Market, StockCode};

/// What Naver sees as the client: it refuses requests without a browser-like User-Agent.
pub const BROWSER_USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) \
     AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Codes per polling request. Public code has used 40, 50 and 60, and one engine measured
/// that up to 1,000 are accepted (2026-09-26); 100 stays well inside what is known to work,
/// keeps the URL under 1 KiB, and quotes a 2,000-code portfolio in 20 requests.
pub const POLLING_BATCH: usize = 100;

/// Rows per stock/default page: the size seen in recorded complete listings (KOSPI 944 rows in
/// 5 pages of 200, 2026-10-08).
pub const STOCK_PAGE_SIZE: usize = 200;

/// Rows per marketValue page: its maximum (101 and up answer HTTP 400).
pub const MARKET_VALUE_PAGE_SIZE: usize = 100;

/// The longest `Retry-After` the client waits for; a longer one fails the request.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Characters of the request target kept readable in a recording's file name.
const STEM_SLUG_LEN: usize = 60;
/// Hex digits of the target's SHA-256 in a recording's file name.
const STEM_HASH_LEN: usize = 16;

/// How the client reaches Naver and how politely.
#[derive(Clone, Debug)]
pub struct NaverConfig {
    /// `https://stock.naver.com`: the stock listing.
    pub stock_url: String,
    /// `https://m.stock.naver.com`: the full listing with ETFs/ETNs, the order book.
    pub mstock_url: String,
    /// `https://polling.finance.naver.com`: quotes and indices now.
    pub polling_url: String,
    /// `https://api.stock.naver.com`: daily bars.
    pub chart_url: String,
    pub user_agent: String,
    /// Requests in flight at once, per host.
    pub per_host: NonZeroUsize,
    /// Pause of a request slot after each response, before its next request.
    pub pause: Duration,
    /// One attempt, connection to last byte.
    pub timeout: Duration,
    /// Further attempts after a timeout, a connection error, 5xx, 403 or 429.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one, with ±50 % jitter.
    pub backoff: Duration,
    /// The whole crawl, counted from the first request; past it every call fails with
    /// [`MarketError::Deadline`]. Extended by [`Naver::allow_requests`].
    pub deadline: Duration,
    /// Save every successful response here (see the module docs for the layout).
    pub record_dir: Option<PathBuf>,
}

impl Default for NaverConfig {
    fn default() -> Self {
        NaverConfig {
            stock_url: "https://stock.naver.com".into(),
            mstock_url: "https://m.stock.naver.com".into(),
            polling_url: "https://polling.finance.naver.com".into(),
            chart_url: "https://api.stock.naver.com".into(),
            user_agent: BROWSER_USER_AGENT.into(),
            per_host: NonZeroUsize::new(4).expect("4 is not zero"),
            pause: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
            retries: 3,
            backoff: Duration::from_millis(200),
            deadline: Duration::from_secs(60),
            record_dir: None,
        }
    }
}

impl NaverConfig {
    /// The settings that move each host, with the environment variable that sets it.
    pub const HOST_SETTINGS: [(&'static str, &'static str); 4] = [
        ("ASCEND_NAVER_STOCK_URL", "https://stock.naver.com"),
        ("ASCEND_NAVER_MSTOCK_URL", "https://m.stock.naver.com"),
        (
            "ASCEND_NAVER_POLLING_URL",
            "https://polling.finance.naver.com",
        ),
        ("ASCEND_NAVER_CHART_URL", "https://api.stock.naver.com"),
    ];

    /// Sets a host by its setting name (see [`Self::HOST_SETTINGS`]); false for another name.
    pub fn set_host(&mut self, setting: &str, url: String) -> bool {
        let slot = match setting {
            "ASCEND_NAVER_STOCK_URL" => &mut self.stock_url,
            "ASCEND_NAVER_MSTOCK_URL" => &mut self.mstock_url,
            "ASCEND_NAVER_POLLING_URL" => &mut self.polling_url,
            "ASCEND_NAVER_CHART_URL" => &mut self.chart_url,
            _ => return false,
        };
        *slot = url;
        true
    }

    /// The time a crawl of `requests` requests needs at the polite rate, allowing 250 ms per
    /// response, a tenth more for retries, and a `Retry-After` wait and a timeout on top: what
    /// [`Naver::allow_requests`] adds to the deadline.
    pub fn time_for(&self, requests: u64) -> Duration {
        let per_slot = requests.div_ceil(self.per_host.get() as u64);
        let polite = (self.pause + Duration::from_millis(250)).saturating_mul(per_slot as u32);
        polite + polite / 10 + MAX_RETRY_AFTER + self.timeout
    }
}

/// Which host a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    Stock,
    MStock,
    Polling,
    Chart,
}

impl Host {
    const ALL: [Host; 4] = [Host::Stock, Host::MStock, Host::Polling, Host::Chart];

    fn index(self) -> usize {
        self as usize
    }

    /// The Referer each host is seen to expect.
    fn referer(self) -> &'static str {
        match self {
            Host::Stock | Host::Chart => "https://stock.naver.com/",
            Host::MStock => "https://m.stock.naver.com/",
            Host::Polling => "https://finance.naver.com/",
        }
    }
}

/// Where responses come from.
#[derive(Debug)]
enum Fetcher {
    Http(reqwest::Client),
    Replay(PathBuf),
}

/// A response as received: what is recorded and replayed.
#[derive(Debug)]
struct Raw {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// The `.json` file beside a recorded body.
#[derive(Debug, Serialize, Deserialize)]
struct RecordMeta {
    target: String,
    status: u16,
    content_type: Option<String>,
    bytes: u64,
}

/// Naver Pay Securities as a [`MarketData`] source, over HTTP or from recordings.
#[derive(Debug, Clone)]
pub struct Naver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: NaverConfig,
    fetcher: Fetcher,
    clock: Clock,
    /// One per [`Host`].
    permits: [Semaphore; 4],
    /// Set by the first request; moved later by `allow_requests`.
    deadline: Mutex<Option<Instant>>,
    /// The whole time allowed: the configured deadline plus what `allow_requests` added.
    allowance: Mutex<Duration>,
    /// Per [`Host`]: no request before this instant (set by a `Retry-After`).
    not_before: [Mutex<Option<Instant>>; 4],
    requests: AtomicU64,
    retries: AtomicU64,
    bytes: AtomicU64,
}

/// What a failed attempt tells the retry loop.
enum Attempt {
    Done(Raw),
    /// Retry after this long (from `Retry-After`), or after the backoff when None.
    Retry(Option<Duration>, MarketError),
    Fail(MarketError),
}

impl Naver {
    /// The live site. Creates `config.record_dir` when set.
    pub fn http(config: NaverConfig, clock: Clock) -> MarketResult<Naver> {
        let client = reqwest::Client::builder()
            .user_agent(&config.user_agent)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| MarketError::Network {
                url: config.stock_url.clone(),
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        if let Some(dir) = &config.record_dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                MarketError::Record(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        Ok(Naver::with(config, Fetcher::Http(client), clock))
    }

    /// Responses recorded in `dir` by an earlier `http` run with `record_dir`. The hosts,
    /// pause, timeout and retries of `config` do not apply; the deadline does.
    pub fn replay(
        dir: impl Into<PathBuf>,
        config: NaverConfig,
        clock: Clock,
    ) -> MarketResult<Naver> {
        let dir = dir.into();
        if !dir.is_dir() {
            return Err(MarketError::Replay(format!(
                "{} is not a directory of recordings",
                dir.display()
            )));
        }
        Ok(Naver::with(config, Fetcher::Replay(dir), clock))
    }

    fn with(config: NaverConfig, fetcher: Fetcher, clock: Clock) -> Naver {
        let n = config.per_host.get();
        let deadline = config.deadline;
        Naver {
            inner: Arc::new(Inner {
                permits: Host::ALL.map(|_| Semaphore::new(n)),
                config,
                fetcher,
                clock,
                deadline: Mutex::new(None),
                allowance: Mutex::new(deadline),
                not_before: Host::ALL.map(|_| Mutex::new(None)),
                requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
            }),
        }
    }

    pub fn config(&self) -> &NaverConfig {
        &self.inner.config
    }
}

impl MarketData for Naver {
    /// stock/default and marketValue of the market, fetched side by side: the stocks come from
    /// the first (it has their type, halt flag and listing day), the ETFs and ETNs from the
    /// second. Every stock marketValue lists must also be in stock/default: paging alone cannot
    /// tell a last page that arrived empty or cut at a row boundary from a real end, and
    /// marketValue's stated `totalCount` can.
    async fn listing(
        &self,
        market: Market,
        on_page: PageCallback<'_>,
    ) -> MarketResult<Vec<ListedRow>> {
        let (mut rows, counted) = tokio::try_join!(
            self.inner.stock_listing(market, on_page),
            self.inner.market_value(market, on_page)
        )?;
        let url = || format!("{} marketValue/{market}", self.inner.config.mstock_url);
        let stocks: HashSet<&StockCode> = rows.iter().map(|r| &r.code).collect();
        let (products, shares): (Vec<ListedRow>, Vec<ListedRow>) = counted
            .into_iter()
            .partition(|r| r.kind.is_exchange_traded_product());
        if let Some(dup) = products.iter().find(|p| stocks.contains(&p.code)) {
            return Err(MarketError::Insane {
                url: url(),
                what: format!(
                    "{} ({}) is listed as an {} and as a stock",
                    dup.code, dup.name, dup.kind
                ),
            });
        }
        let missing: Vec<&ListedRow> = shares
            .iter()
            .filter(|r| !stocks.contains(&r.code))
            .collect();
        if !missing.is_empty() {
            let some: Vec<String> = missing
                .iter()
                .take(3)
                .map(|r| format!("{} {}", r.code, r.name))
                .collect();
            return Err(MarketError::Insane {
                url: format!(
                    "{} stock/default {market}",
                    self.inner.config.stock_url
                ),
                what: format!(
                    "{} stocks of the {} that marketValue lists are missing (e.g. {}): a truncated page?",
                    missing.len(),
                    shares.len(),
                    some.join(", ")
                ),
            });
        }
        rows.extend(products);
        Ok(rows)
    }

    async fn quotes(&self, codes: &[StockCode]) -> MarketResult<Vec<QuoteNow>> {
        Inner::quotes(&self.inner, codes).await
    }

    async fn index_now(&self, index: IndexCode) -> MarketResult<IndexNow> {
        let target = format!("/api/realtime/domestic/index/{}", index.as_str());
        let (url, text) = self.inner.fetch_text(Host::Polling, &target).await?;
        let quotes = json::parse_polling_index(&text).map_err(|source| MarketError::Parse {
            url: url.clone(),
            source,
        })?;
        let q = quotes
            .into_iter()
            .find(|q| q.code == index.as_str())
            .ok_or_else(|| MarketError::Insane {
                url: url.clone(),
                what: format!("no row for {index}"),
            })?;
        Ok(IndexNow::from_prev_close(
            q.value,
            q.prev_close,
            q.change_rate,
        ))
    }

    async fn daily_bars(&self, symbol: &Symbol, days: u32) -> MarketResult<Vec<Bar>> {
        if days == 0 {
            return Ok(Vec::new());
        }
        let end = rules::trade_date(self.inner.clock.now());
        // Enough calendar days to hold `days` trading days through the longest holiday run.
        let span = i64::from(days) * 7 / 5 + 15;
        let start = end - chrono::Duration::days(span);
        let path = match symbol {
            Symbol::Stock(c) => format!("item/{c}"),
            Symbol::Index(i) => format!("index/{i}"),
        };
        let target = format!(
            "/chart/domestic/{path}/day?startDateTime={}&endDateTime={}",
            start.format("%Y%m%d"),
            end.format("%Y%m%d")
        );
        let (url, text) = self.inner.fetch_text(Host::Chart, &target).await?;
        let mut bars = json::parse_chart_day(&text).map_err(|source| MarketError::Parse {
            url: url.clone(),
            source,
        })?;
        if let Some(b) = bars.iter().find(|b| b.date < start || b.date > end) {
            return Err(MarketError::Insane {
                url,
                what: format!("a bar dated {} outside the range asked for", b.date),
            });
        }
        let keep = bars.len().saturating_sub(days as usize);
        Ok(bars.split_off(keep))
    }

    async fn order_book(&self, code: &StockCode) -> MarketResult<OrderBook> {
        let target = format!("/api/stock/{code}/askingPrice");
        let (url, text) = self.inner.fetch_text(Host::MStock, &target).await?;
        json::parse_asking_price(&text).map_err(|source| MarketError::Parse { url, source })
    }

    fn has_after_market(&self) -> bool {
        true
    }

    fn allow_requests(&self, requests: u64) {
        let more = self.inner.config.time_for(requests);
        *self.inner.allowance.lock().expect("not poisoned") += more;
        if let Some(d) = self.inner.deadline.lock().expect("not poisoned").as_mut() {
            *d += more;
        }
    }

    /// `requests` counts attempts sent (retries included) or recordings served; `bytes` counts
    /// response bodies.
    fn stats(&self) -> FetchStats {
        FetchStats {
            requests: self.inner.requests.load(Ordering::Relaxed),
            retries: self.inner.retries.load(Ordering::Relaxed),
            bytes: self.inner.bytes.load(Ordering::Relaxed),
        }
    }
}

/// One listing page as fetched: its URL and rows.
#[derive(Debug)]
struct Page {
    url: String,
    rows: Vec<ListedRow>,
}

impl Inner {
    /// Every stock of a market from stock/default: pages of [`STOCK_PAGE_SIZE`] fetched a
    /// window at a time until a short page and the page after it are in; see
    /// [`check_stock_pages`] for when that is complete.
    async fn stock_listing(
        self: &Arc<Self>,
        market: Market,
        on_page: PageCallback<'_>,
    ) -> MarketResult<Vec<ListedRow>> {
        let window = self.config.per_host.get() as u32;
        let mut pages: BTreeMap<u32, Page> = BTreeMap::new();
        let mut next = 0u32;
        loop {
            let mut tasks = JoinSet::new();
            for index in next..next + window {
                let inner = Arc::clone(self);
                tasks.spawn(async move {
                    let target = format!(
                        "/api/domestic/market/stock/default?tradeType=KRX&marketType={}&orderType=marketSum&startIdx={index}&pageSize={STOCK_PAGE_SIZE}",
                        market.as_str()
                    );
                    let (url, text) = inner.fetch_text(Host::Stock, &target).await?;
                    let rows = json::parse_stock_default(&text, market)
                        .map_err(|source| MarketError::Parse { url: url.clone(), source })?;
                    Ok::<_, MarketError>((index, Page { url, rows }))
                });
            }
            next += window;
            while let Some(joined) = tasks.join_next().await {
                let (index, page) =
                    joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
                pages.insert(index, page);
            }
            let short = pages.iter().find(|(_, p)| p.rows.len() < STOCK_PAGE_SIZE);
            if let Some((&k, _)) = short {
                if pages.contains_key(&(k + 1)) {
                    break;
                }
            }
            if next > 1_000 {
                return Err(MarketError::Insane {
                    url: pages[&0].url.clone(),
                    what: "more than 1,000 pages without a short one: the paging is not ending"
                        .into(),
                });
            }
        }
        let rows = check_stock_pages(pages, STOCK_PAGE_SIZE)?;
        for (i, chunk) in rows.chunks(STOCK_PAGE_SIZE).enumerate() {
            on_page(market, i as u32 + 1, chunk.len());
        }
        Ok(rows)
    }

    /// Every row of a market from marketValue (stocks, ETFs and ETNs): page 1 states
    /// `totalCount`, the other pages are then fetched at once; see [`check_counted_pages`].
    async fn market_value(
        self: &Arc<Self>,
        market: Market,
        on_page: PageCallback<'_>,
    ) -> MarketResult<Vec<ListedRow>> {
        let fetch = |page: usize| {
            let inner = Arc::clone(self);
            async move {
                let target = format!(
                    "/api/stocks/marketValue/{}?page={page}&pageSize={MARKET_VALUE_PAGE_SIZE}",
                    market.as_str()
                );
                let (url, text) = inner.fetch_text(Host::MStock, &target).await?;
                let p = json::parse_market_value(&text, market).map_err(|source| {
                    MarketError::Parse {
                        url: url.clone(),
                        source,
                    }
                })?;
                Ok::<_, MarketError>((page, url, p))
            }
        };
        let (_, url, first) = fetch(1).await?;
        let total = first.total_count;
        let last = total.div_ceil(MARKET_VALUE_PAGE_SIZE).max(1);
        if total == 0 || last > 200 {
            return Err(MarketError::Insane {
                url,
                what: format!("totalCount {total} is not a plausible size of a market"),
            });
        }
        let mut pages = BTreeMap::from([(
            1usize,
            Page {
                url,
                rows: first.rows,
            },
        )]);
        let mut tasks = JoinSet::new();
        for page in 2..=last {
            tasks.spawn(fetch(page));
        }
        while let Some(joined) = tasks.join_next().await {
            let (page, url, p) =
                joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
            if p.total_count != total {
                return Err(MarketError::Insane {
                    url,
                    what: format!(
                        "totalCount changed from {total} to {} between pages",
                        p.total_count
                    ),
                });
            }
            pages.insert(page, Page { url, rows: p.rows });
        }
        let rows = check_counted_pages(pages, total, MARKET_VALUE_PAGE_SIZE)?;
        on_page(market, last as u32, rows.len());
        Ok(rows)
    }

    /// Chunks of at most [`POLLING_BATCH`], requested concurrently.
    async fn quotes(self: &Arc<Self>, codes: &[StockCode]) -> MarketResult<Vec<QuoteNow>> {
        let mut unique = HashSet::new();
        let codes: Vec<&str> = codes
            .iter()
            .map(StockCode::as_str)
            .filter(|c| unique.insert(*c))
            .collect();
        let mut tasks = JoinSet::new();
        for (index, chunk) in codes.chunks(POLLING_BATCH).enumerate() {
            let inner = Arc::clone(self);
            let asked: HashSet<String> = chunk.iter().map(|c| c.to_string()).collect();
            let target = format!("/api/realtime/domestic/stock/{}", chunk.join(","));
            tasks.spawn(async move {
                let (url, text) = inner.fetch_text(Host::Polling, &target).await?;
                let quotes =
                    json::parse_polling_stocks(&text).map_err(|source| MarketError::Parse {
                        url: url.clone(),
                        source,
                    })?;
                if let Some(stray) = quotes.iter().find(|q| !asked.contains(q.code.as_str())) {
                    return Err(MarketError::Insane {
                        url,
                        what: format!("a quote for {}, which was not asked for", stray.code),
                    });
                }
                Ok((index, quotes))
            });
        }
        let mut chunks = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            let (index, quotes) =
                joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
            chunks.insert(index, quotes);
        }
        Ok(chunks.into_values().flatten().collect())
    }

    fn deadline(&self) -> Instant {
        let mut d = self.deadline.lock().expect("not poisoned");
        *d.get_or_insert_with(|| Instant::now() + *self.allowance.lock().expect("not poisoned"))
    }

    fn past_deadline(&self) -> MarketError {
        MarketError::Deadline {
            seconds: self.allowance.lock().expect("not poisoned").as_secs_f64(),
        }
    }

    /// The body of `target` on `host`, as UTF-8 text, with the full URL for error messages.
    /// Fails with [`MarketError::Deadline`] once the crawl's deadline has passed, also
    /// mid-request.
    async fn fetch_text(&self, host: Host, target: &str) -> MarketResult<(String, String)> {
        let base = match host {
            Host::Stock => &self.config.stock_url,
            Host::MStock => &self.config.mstock_url,
            Host::Polling => &self.config.polling_url,
            Host::Chart => &self.config.chart_url,
        };
        let url = format!("{}{target}", base.trim_end_matches('/'));
        let deadline = self.deadline();
        if Instant::now() >= deadline {
            return Err(self.past_deadline());
        }
        let raw = tokio::time::timeout_at(deadline, self.fetch_raw(host, &url, target))
            .await
            .map_err(|_| self.past_deadline())??;
        // Every renewed endpoint answers JSON in UTF-8; decode it as such whatever the
        // headers say (charset guessing has produced mojibake names elsewhere).
        let text = String::from_utf8(raw.body).map_err(|_| MarketError::Parse {
            url: url.clone(),
            source: ParseError::Encoding {
                charset: "UTF-8".into(),
            },
        })?;
        Ok((url, text))
    }

    /// A 200 response for `target`, after retries; recorded when recording.
    async fn fetch_raw(&self, host: Host, url: &str, target: &str) -> MarketResult<Raw> {
        let client = match &self.fetcher {
            Fetcher::Replay(dir) => return self.replay(dir, url, target).await,
            Fetcher::Http(client) => client,
        };
        let mut retried = 0u32;
        loop {
            let attempt = {
                let _permit = self.permits[host.index()]
                    .acquire()
                    .await
                    .expect("the semaphore is never closed");
                // A host that asked to wait (Retry-After) gets no request before then.
                let wait_until = *self.not_before[host.index()].lock().expect("not poisoned");
                if let Some(t) = wait_until {
                    tokio::time::sleep_until(t).await;
                }
                self.requests.fetch_add(1, Ordering::Relaxed);
                let attempt = self.attempt(client, host, url, retried).await;
                // The slot rests before its next request.
                tokio::time::sleep(self.config.pause).await;
                attempt
            };
            let (wait, error) = match attempt {
                Attempt::Done(raw) => {
                    if let Some(dir) = &self.config.record_dir {
                        record(dir, target, &raw).await?;
                    }
                    return Ok(raw);
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(_, e) if retried >= self.config.retries => return Err(e),
                Attempt::Retry(wait, e) => (wait, e),
            };
            let wait = match wait {
                Some(w) if w > MAX_RETRY_AFTER => return Err(error),
                Some(w) => {
                    // The whole host waits, not only this request.
                    let until = Instant::now() + w;
                    let mut slot = self.not_before[host.index()].lock().expect("not poisoned");
                    *slot = Some(slot.map_or(until, |t| t.max(until)));
                    w
                }
                None => backoff(self.config.backoff, retried + 1),
            };
            retried += 1;
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    /// One request, the whole body read, classified for the retry loop.
    async fn attempt(
        &self,
        client: &reqwest::Client,
        host: Host,
        url: &str,
        retried: u32,
    ) -> Attempt {
        let sent = client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::REFERER, host.referer())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return self.network_failure(&e, url, retried),
        };
        let status = response.status().as_u16();
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let location = header(reqwest::header::LOCATION);
        let retry_after = header(reqwest::header::RETRY_AFTER);
        if (300..400).contains(&status) {
            return Attempt::Fail(MarketError::Redirect {
                url: url.to_string(),
                status,
                location: location.unwrap_or_else(|| "nowhere".into()),
            });
        }
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => return self.network_failure(&e, url, retried),
        };
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        if status == 200 {
            return Attempt::Done(Raw {
                status,
                content_type,
                body,
            });
        }
        let error = MarketError::Status {
            url: url.to_string(),
            status,
            retried,
        };
        if !retryable_status(status) {
            return Attempt::Fail(error);
        }
        let wait = if status == 429 || status == 503 {
            retry_after.as_deref().and_then(parse_retry_after)
        } else {
            None
        };
        Attempt::Retry(wait, error)
    }

    fn network_failure(&self, e: &reqwest::Error, url: &str, retried: u32) -> Attempt {
        let error = MarketError::Network {
            url: url.to_string(),
            message: describe(e, self.config.timeout, retried),
        };
        if retryable_error(e) {
            Attempt::Retry(None, error)
        } else {
            Attempt::Fail(error)
        }
    }

    /// The recording of `target` in `dir`, as a response.
    async fn replay(&self, dir: &Path, url: &str, target: &str) -> MarketResult<Raw> {
        let stem = recording_stem(target);
        let meta_path = dir.join(format!("{stem}.json"));
        let meta = match tokio::fs::read(&meta_path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(MarketError::Replay(format!(
                    "no recorded response for {target} in {}",
                    dir.display()
                )))
            }
            Err(e) => return Err(unreadable(&meta_path, e)),
        };
        let meta: RecordMeta =
            serde_json::from_slice(&meta).map_err(|e| unreadable(&meta_path, e))?;
        if meta.target != target {
            return Err(MarketError::Replay(format!(
                "{} records {} where {target} was expected",
                meta_path.display(),
                meta.target
            )));
        }
        let body_path = dir.join(format!("{stem}.body"));
        let body = tokio::fs::read(&body_path)
            .await
            .map_err(|e| unreadable(&body_path, e))?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        if meta.status != 200 {
            return Err(MarketError::Status {
                url: url.to_string(),
                status: meta.status,
                retried: 0,
            });
        }
        Ok(Raw {
            status: meta.status,
            content_type: meta.content_type,
            body,
        })
    }
}

/// A listing paged without a stated total is complete when every page before the first short
/// one is full and the page after the short one is empty. Pages past that must be empty too.
/// A code on two pages fails: the order shifted under the crawl. Returns the rows in page
/// order.
fn check_stock_pages(pages: BTreeMap<u32, Page>, size: usize) -> MarketResult<Vec<ListedRow>> {
    let (&short, short_page) = pages
        .iter()
        .find(|(_, p)| p.rows.len() < size)
        .expect("the caller fetched a short page");
    let insane = |url: &str, what: String| MarketError::Insane {
        url: url.to_string(),
        what,
    };
    if let Some((index, page)) = pages.range(..short).find(|(_, p)| p.rows.len() != size) {
        return Err(insane(
            &page.url,
            format!(
                "page {index} has {} rows where {size} were expected",
                page.rows.len()
            ),
        ));
    }
    if short == 0 && short_page.rows.is_empty() {
        return Err(insane(
            &short_page.url,
            "page 0 has no rows: an empty market or a changed endpoint".into(),
        ));
    }
    if let Some((index, page)) = pages.range(short + 1..).find(|(_, p)| !p.rows.is_empty()) {
        return Err(insane(
            &page.url,
            format!(
                "page {short} has {} of {size} rows but page {index} has {}: a truncated page?",
                short_page.rows.len(),
                page.rows.len()
            ),
        ));
    }
    distinct_rows(pages.into_iter().take_while(|(i, _)| *i <= short))
}

/// A listing with a stated total is complete when its pages (1-based) are full up to the last
/// one and hold exactly `total` distinct codes.
fn check_counted_pages(
    pages: BTreeMap<usize, Page>,
    total: usize,
    size: usize,
) -> MarketResult<Vec<ListedRow>> {
    let last = total.div_ceil(size);
    let insane = |url: &str, what: String| MarketError::Insane {
        url: url.to_string(),
        what,
    };
    for (&index, page) in &pages {
        let expected = if index < last {
            size
        } else {
            total - size * (last - 1)
        };
        if page.rows.len() != expected {
            return Err(insane(
                &page.url,
                format!(
                    "page {index} has {} rows where {expected} were expected (totalCount {total})",
                    page.rows.len()
                ),
            ));
        }
    }
    distinct_rows(pages)
}

/// The rows of the pages in order; a code on two pages fails: the order shifted under the
/// crawl.
fn distinct_rows<K: Copy + std::fmt::Display>(
    pages: impl IntoIterator<Item = (K, Page)>,
) -> MarketResult<Vec<ListedRow>> {
    let mut seen: HashMap<StockCode, K> = HashMap::new();
    let mut rows = Vec::new();
    for (index, page) in pages {
        for row in page.rows {
            if let Some(other) = seen.insert(row.code.clone(), index) {
                return Err(MarketError::Insane {
                    url: page.url,
                    what: format!(
                        "{} is on page {other} and page {index}: the pages overlap",
                        row.code
                    ),
                });
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

/// `Retry-After` as seconds or as an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Statuses worth another try: the server is busy, failing or pushing back.
fn retryable_status(status: u16) -> bool {
    status >= 500 || status == 403 || status == 429
}

/// Transport failures worth another try: timeouts, refused or dropped connections, bodies cut
/// short. Not a malformed URL, a redirect loop or a body that does not decompress.
fn retryable_error(error: &reqwest::Error) -> bool {
    error.is_timeout() || error.is_connect() || error.is_request() || error.is_body()
}

/// The wait before retry number `retried` (from 1): `base × 2^(retried-1)`, ±50 % jitter.
fn backoff(base: Duration, retried: u32) -> Duration {
    let doubled = base.saturating_mul(1u32 << retried.saturating_sub(1).min(16));
    doubled.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
}

/// A network failure as one line: what went wrong, and how many retries were spent.
fn describe(error: &reqwest::Error, timeout: Duration, retried: u32) -> String {
    let what = if error.is_timeout() {
        format!("timed out after {} s", timeout.as_secs_f64())
    } else {
        io_cause(error).unwrap_or_else(|| chain(error))
    };
    match retried {
        0 => what,
        1 => format!("{what} (after 1 retry)"),
        n => format!("{what} (after {n} retries)"),
    }
}

/// The operating system's word for the failure (`connection refused`), when there is one.
fn io_cause(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    use std::io::ErrorKind;
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            let word = match io.kind() {
                ErrorKind::ConnectionRefused => "connection refused",
                ErrorKind::ConnectionReset => "connection reset",
                ErrorKind::ConnectionAborted => "connection aborted",
                ErrorKind::UnexpectedEof => "connection closed before the response ended",
                _ => return Some(io.to_string()),
            };
            return Some(word.to_string());
        }
        source = e.source();
    }
    None
}

/// An error and its causes, `: `-joined.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// The file name (without extension) of the recording of `target`; see the module docs.
pub fn recording_stem(target: &str) -> String {
    let slug: String = target
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'=' | b'-' => b as char,
            _ => '_',
        })
        .take(STEM_SLUG_LEN)
        .collect();
    let slug = slug.trim_start_matches('_');
    let hash = hex::encode(Sha256::digest(target.as_bytes()));
    format!("{slug}-{}", &hash[..STEM_HASH_LEN])
}

/// Saves a response under `dir` (body, then its `.json`), each through a temporary file.
async fn record(dir: &Path, target: &str, raw: &Raw) -> MarketResult<()> {
    let stem = recording_stem(target);
    let meta = RecordMeta {
        target: target.to_string(),
        status: raw.status,
        content_type: raw.content_type.clone(),
        bytes: raw.body.len() as u64,
    };
    let meta = serde_json::to_vec_pretty(&meta).expect("the record meta serialises");
    write_atomically(&dir.join(format!("{stem}.body")), &raw.body).await?;
    write_atomically(&dir.join(format!("{stem}.json")), &meta).await
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> MarketResult<()> {
    let suffix: u64 = rand::thread_rng().gen();
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp{suffix:016x}"));
    let temporary = PathBuf::from(temporary);
    let failed =
        |e: std::io::Error| MarketError::Record(format!("cannot write {}: {e}", path.display()));
    tokio::fs::write(&temporary, bytes).await.map_err(failed)?;
    tokio::fs::rename(&temporary, path).await.map_err(failed)
}

fn unreadable(path: &Path, error: impl std::fmt::Display) -> MarketError {
    MarketError::Replay(format!("cannot read {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstrumentKind, TradingSession};
    use rust_decimal::Decimal;

    fn row(i: usize) -> ListedRow {
        ListedRow {
            code: StockCode::parse(&format!("{i:06}")).unwrap(),
            name: format!("n{i}"),
            market: Market::Kospi,
            kind: InstrumentKind::Common,
            price: Decimal::from(1000),
            prev_close: Decimal::from(1000),
            change_rate: None,
            open: None,
            high: None,
            low: None,
            volume: None,
            trading_value: None,
            market_cap: None,
            listed_shares: None,
            listed_on: None,
            upper_limit: None,
            lower_limit: None,
            halted: false,
            session: TradingSession::Regular,
        }
    }

    /// Pages of the given sizes with distinct codes, numbered from `first`.
    fn pages<K: Ord + From<u8> + Copy + std::fmt::Display>(
        first: u8,
        counts: &[usize],
    ) -> BTreeMap<K, Page> {
        let mut next = 0;
        counts
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let rows = (next..next + n).map(row).collect();
                next += n;
                let k = K::from(first + i as u8);
                (
                    k,
                    Page {
                        url: format!("u{k}"),
                        rows,
                    },
                )
            })
            .collect()
    }

    fn what<T: std::fmt::Debug>(result: MarketResult<T>) -> (String, String) {
        match result {
            Err(MarketError::Insane { url, what }) => (url, what),
            other => panic!("expected Insane, got {other:?}"),
        }
    }

    #[test]
    fn stock_pages_are_complete_at_a_short_page_followed_by_an_empty_one() {
        assert_eq!(
            check_stock_pages(pages(0, &[5, 5, 3, 0]), 5).unwrap().len(),
            13
        );
        // A last full page is confirmed by the empty one after it.
        assert_eq!(check_stock_pages(pages(0, &[5, 0, 0]), 5).unwrap().len(), 5);
        // Every page cut after the same row: the "short" first page is followed by rows.
        assert_eq!(
            what(check_stock_pages(pages(0, &[3, 3, 3, 0]), 5)),
            (
                "u1".into(),
                "page 0 has 3 of 5 rows but page 1 has 3: a truncated page?".into()
            )
        );
        assert_eq!(
            what(check_stock_pages(pages(0, &[5, 4, 5, 0]), 5)).1,
            "page 1 has 4 of 5 rows but page 2 has 5: a truncated page?"
        );
        assert_eq!(what(check_stock_pages(pages(0, &[0, 0]), 5)).0, "u0");
        let mut dup = pages::<u32>(0, &[2, 1, 0]);
        dup.get_mut(&1).unwrap().rows[0] = row(0);
        assert_eq!(
            what(check_stock_pages(dup, 2)),
            (
                "u1".into(),
                "000000 is on page 0 and page 1: the pages overlap".into()
            )
        );
    }

    #[test]
    fn counted_pages_must_add_up_to_the_stated_total() {
        assert_eq!(
            check_counted_pages(pages(1, &[4, 4, 2]), 10, 4)
                .unwrap()
                .len(),
            10
        );
        assert_eq!(
            what(check_counted_pages(pages(1, &[4, 3, 2]), 10, 4)),
            (
                "u2".into(),
                "page 2 has 3 rows where 4 were expected (totalCount 10)".into()
            )
        );
        assert_eq!(
            what(check_counted_pages(pages(1, &[4, 4, 1]), 10, 4)).1,
            "page 3 has 1 rows where 2 were expected (totalCount 10)"
        );
        let mut dup = pages::<usize>(1, &[2, 2]);
        dup.get_mut(&2).unwrap().rows[1] = row(1);
        assert!(what(check_counted_pages(dup, 4, 2))
            .1
            .contains("the pages overlap"));
    }

    #[test]
    fn retry_policy() {
        for status in [500, 502, 503, 504, 403, 429] {
            assert!(retryable_status(status), "{status}");
        }
        for status in [200, 301, 400, 401, 404, 410] {
            assert!(!retryable_status(status), "{status}");
        }
        let base = Duration::from_millis(200);
        for (retried, nominal) in [(1, 200), (2, 400), (3, 800)] {
            let wait = backoff(base, retried);
            assert!(wait >= Duration::from_millis(nominal / 2), "{wait:?}");
            assert!(wait < Duration::from_millis(nominal * 3 / 2), "{wait:?}");
        }
        assert!(backoff(base, 1000) > Duration::ZERO);
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn recording_names_are_short_safe_and_distinct() {
        let a = recording_stem("/api/stocks/marketValue/KOSPI?page=1&pageSize=100");
        assert!(
            a.starts_with("api_stocks_marketValue_KOSPI_page=1_pageSize=100-"),
            "{a}"
        );
        let b = recording_stem("/api/stocks/marketValue/KOSPI?page=1/pageSize=100");
        assert_ne!(a, b);
        let codes = vec!["005930"; POLLING_BATCH].join(",");
        let long = recording_stem(&format!("/api/realtime/domestic/stock/{codes}"));
        assert!(long.len() <= STEM_SLUG_LEN + 1 + STEM_HASH_LEN);
        assert!(long
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._=-".contains(&b)));
    }

    #[test]
    fn default_config_is_polite_and_names_every_host() {
        let mut config = NaverConfig::default();
        assert!(config.user_agent.starts_with("Mozilla/5.0"));
        assert_eq!(config.per_host.get(), 4);
        assert_eq!(config.pause, Duration::from_millis(100));
        assert_eq!(config.retries, 3);
        assert!(config.record_dir.is_none());
        for (setting, default) in NaverConfig::HOST_SETTINGS {
            assert!(config.set_host(setting, format!("http://local/{setting}")));
            assert!(default.starts_with("https://"));
        }
        assert_eq!(config.chart_url, "http://local/ASCEND_NAVER_CHART_URL");
        assert!(!config.set_host("ASCEND_NAVER_FINANCE_URL", "x".into()));
        // 4,300 history requests at 4 per host and a 100 ms pause: 1,075 per slot × 350 ms =
        // 376.25 s, a tenth more, a 30 s Retry-After and a 5 s timeout.
        let t = config.time_for(4_300);
        assert_eq!(t, Duration::from_millis(376_250 + 37_625 + 30_000 + 5_000));
        assert_eq!(Host::Polling.referer(), "https://finance.naver.com/");
    }
}
