//! Naver Pay Securities over HTTP, and the same client served from recorded responses.
//!
//! The fetch layer is polite (a browser User-Agent, bounded concurrency, a rate limit, retries
//! with exponential backoff and jitter, a whole-crawl deadline) and hands raw bytes to the pure
//! parsers of [`super::parse`]. With `record_dir` set, every successful response is saved; the
//! replay source serves those files back byte for byte through the same parsers.
//!
//! # Recording layout
//!
//! A response is keyed by its request target: the URL with the scheme and host removed, i.e.
//! what the client appends to the configured base URL (`/sise/sise_index.naver?code=KOSPI`).
//! Recordings made against a local server therefore replay for the real hosts and vice versa.
//! For a target `T` the directory holds two files named by [`recording_stem`]: `T` with every
//! byte outside `[A-Za-z0-9.=-]` turned into `_`, cut to 60 characters, then `-` and the first 16
//! hex digits of SHA-256(`T`):
//! - `STEM.body`: the body bytes as received (after transfer decompression);
//! - `STEM.json`: `{"target": T, "status": 200, "content_type": "text/html;charset=EUC-KR",
//!   "bytes": N}`.
//!
//! Both are written to a temporary name and renamed, body first, so a `.json` file always has
//! its complete body. `ls DIR/*.json` lists what was recorded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::parse;
use super::{
    Bar, FetchStats, IndexCode, IndexNow, ListingRow, MarketData, MarketError, MarketResult,
    OrderBook, PageCallback, Quote, Symbol,
};
use crate::domain::{Market, StockCode};

/// What Naver sees as the client: it refuses requests without a browser-like User-Agent.
pub const BROWSER_USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) \
     AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Codes the polling API answers in one request.
pub const POLLING_MAX_CODES: usize = 60;

/// Characters of the request target kept readable in a recording's file name.
const STEM_SLUG_LEN: usize = 60;
/// Hex digits of the target's SHA-256 in a recording's file name.
const STEM_HASH_LEN: usize = 16;

/// How the client reaches Naver and how politely.
#[derive(Clone, Debug)]
pub struct NaverConfig {
    /// Base of the HTML pages (listing, index, order book).
    pub finance_url: String,
    /// Base of the realtime polling JSON API.
    pub polling_url: String,
    /// Base of the fchart XML (daily bars).
    pub fchart_url: String,
    pub user_agent: String,
    /// Requests in flight at once.
    pub concurrency: NonZeroUsize,
    /// Requests started per second at most (retries included).
    pub requests_per_second: NonZeroU32,
    /// One attempt, connection to last byte.
    pub timeout: Duration,
    /// Further attempts after a timeout, a connection error, 5xx, 403 or 429.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one, with ±50 % jitter.
    pub backoff: Duration,
    /// The whole crawl, counted from the first request; past it every call fails with
    /// [`MarketError::Deadline`].
    pub deadline: Duration,
    /// Save every successful response here (see the module docs for the layout).
    pub record_dir: Option<PathBuf>,
}

impl Default for NaverConfig {
    fn default() -> Self {
        NaverConfig {
            finance_url: "https://finance.naver.com".into(),
            polling_url: "https://polling.finance.naver.com".into(),
            fchart_url: "https://fchart.stock.naver.com".into(),
            user_agent: BROWSER_USER_AGENT.into(),
            concurrency: NonZeroUsize::new(8).expect("8 is not zero"),
            requests_per_second: NonZeroU32::new(50).expect("50 is not zero"),
            timeout: Duration::from_secs(5),
            retries: 3,
            backoff: Duration::from_millis(200),
            deadline: Duration::from_secs(60),
            record_dir: None,
        }
    }
}

/// Which of the three hosts a request goes to.
#[derive(Debug, Clone, Copy)]
enum Host {
    Finance,
    Polling,
    Fchart,
}

/// Where responses come from.
#[derive(Debug)]
enum Fetcher {
    Http {
        client: reqwest::Client,
        limiter: DefaultDirectRateLimiter,
    },
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
    permits: Semaphore,
    /// Set by the first request.
    deadline: OnceLock<Instant>,
    requests: AtomicU64,
    retries: AtomicU64,
    bytes: AtomicU64,
}

impl Naver {
    /// The live site. Creates `config.record_dir` when set.
    pub fn http(config: NaverConfig) -> MarketResult<Naver> {
        let client = reqwest::Client::builder()
            .user_agent(&config.user_agent)
            .timeout(config.timeout)
            .build()
            .map_err(|e| MarketError::Network {
                url: config.finance_url.clone(),
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        if let Some(dir) = &config.record_dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                MarketError::Record(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let limiter = RateLimiter::direct(Quota::per_second(config.requests_per_second));
        Ok(Naver::with(config, Fetcher::Http { client, limiter }))
    }

    /// Responses recorded in `dir` by an earlier `http` run with `record_dir`. The hosts,
    /// rate limit, timeout and retries of `config` do not apply; the deadline does.
    pub fn replay(dir: impl Into<PathBuf>, config: NaverConfig) -> MarketResult<Naver> {
        let dir = dir.into();
        if !dir.is_dir() {
            return Err(MarketError::Replay(format!(
                "{} is not a directory of recordings",
                dir.display()
            )));
        }
        Ok(Naver::with(config, Fetcher::Replay(dir)))
    }

    fn with(config: NaverConfig, fetcher: Fetcher) -> Naver {
        Naver {
            inner: Arc::new(Inner {
                permits: Semaphore::new(config.concurrency.get()),
                config,
                fetcher,
                deadline: OnceLock::new(),
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
    async fn listing(
        &self,
        market: Market,
        on_page: PageCallback<'_>,
    ) -> MarketResult<Vec<ListingRow>> {
        self.inner.listing(market, on_page).await
    }

    async fn quotes(&self, codes: &[StockCode]) -> MarketResult<Vec<Quote>> {
        Inner::quotes(&self.inner, codes).await
    }

    async fn index_now(&self, index: IndexCode) -> MarketResult<IndexNow> {
        let target = format!("/sise/sise_index.naver?code={}", index.as_str());
        let (url, text) = self.inner.fetch_text(Host::Finance, &target).await?;
        parse::parse_index_page(&text).map_err(|source| MarketError::Parse { url, source })
    }

    async fn daily_bars(&self, symbol: &Symbol, days: u32) -> MarketResult<Vec<Bar>> {
        if days == 0 {
            return Ok(Vec::new());
        }
        let target = format!(
            "/sise.nhn?symbol={}&timeframe=day&count={days}&requestType=0",
            symbol.as_str()
        );
        let (url, text) = self.inner.fetch_text(Host::Fchart, &target).await?;
        let bars = parse::parse_fchart(&text).map_err(|source| MarketError::Parse {
            url: url.clone(),
            source,
        })?;
        if bars.len() > days as usize {
            return Err(MarketError::Insane {
                url,
                what: format!("{} bars where {days} were asked for", bars.len()),
            });
        }
        Ok(bars)
    }

    async fn order_book(&self, code: &StockCode) -> MarketResult<OrderBook> {
        let target = format!("/item/sise.naver?code={}&asktype=10", code.as_str());
        let (url, text) = self.inner.fetch_text(Host::Finance, &target).await?;
        parse::parse_order_book(&text).map_err(|source| MarketError::Parse { url, source })
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
struct Page {
    url: String,
    rows: Vec<ListingRow>,
}

impl Inner {
    /// Fetches pages with at most `concurrency` in flight, launching none past the first empty
    /// page (or past a page that failed), then checks the pages fit together. A page that
    /// failed past the first empty one does not matter: the listing ended before it.
    async fn listing(
        self: &Arc<Self>,
        market: Market,
        on_page: PageCallback<'_>,
    ) -> MarketResult<Vec<ListingRow>> {
        let sosok = match market {
            Market::Kospi => 0,
            Market::Kosdaq => 1,
        };
        let window = self.config.concurrency.get();
        let mut tasks = JoinSet::new();
        let mut next = 1u32;
        let mut end: Option<u32> = None;
        let mut failed: BTreeMap<u32, MarketError> = BTreeMap::new();
        let mut pages: BTreeMap<u32, Page> = BTreeMap::new();
        let mut seen: HashMap<String, u32> = HashMap::new();
        let mut reported = 0u32;
        loop {
            while end.is_none() && failed.is_empty() && tasks.len() < window {
                let inner = Arc::clone(self);
                let page = next;
                tasks.spawn(async move {
                    let target = format!("/sise/sise_market_sum.naver?sosok={sosok}&page={page}");
                    let fetched = inner.fetch_text(Host::Finance, &target).await;
                    let parsed =
                        fetched.and_then(|(url, text)| match parse::parse_listing_page(&text) {
                            Ok(rows) => match rows
                                .iter()
                                .try_for_each(|r| super::listing_quote(market, r).map(|_| ()))
                            {
                                Ok(()) => Ok(Page { url, rows }),
                                Err(what) => Err(MarketError::Insane { url, what }),
                            },
                            Err(source) => Err(MarketError::Parse { url, source }),
                        });
                    (page, parsed)
                });
                next += 1;
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            let (number, page) =
                joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    failed.insert(number, e);
                    continue;
                }
            };
            if page.rows.is_empty() {
                end = Some(end.map_or(number, |e| e.min(number)));
            }
            for row in &page.rows {
                if let Some(other) = seen.insert(row.code.clone(), number) {
                    return Err(MarketError::Insane {
                        url: page.url,
                        what: format!(
                            "code {} is on page {other} and page {number}: the pages overlap",
                            row.code
                        ),
                    });
                }
            }
            pages.insert(number, page);
            while let Some(page) = pages.get(&(reported + 1)).filter(|p| !p.rows.is_empty()) {
                reported += 1;
                on_page(market, reported, page.rows.len());
            }
        }
        let end = match (end, failed.into_iter().next()) {
            (Some(end), Some((number, _))) if number > end => end,
            (_, Some((_, error))) => return Err(error),
            (Some(end), None) => end,
            (None, None) => unreachable!("the loop stops only at an empty or a failed page"),
        };
        check_listing(&pages, end)?;
        Ok(pages
            .into_iter()
            .take_while(|(number, _)| *number < end)
            .flat_map(|(_, page)| page.rows)
            .collect())
    }

    /// Chunks of at most [`POLLING_MAX_CODES`], requested concurrently.
    async fn quotes(self: &Arc<Self>, codes: &[StockCode]) -> MarketResult<Vec<Quote>> {
        let mut unique = HashSet::new();
        let codes: Vec<&str> = codes
            .iter()
            .map(StockCode::as_str)
            .filter(|c| unique.insert(*c))
            .collect();
        let mut tasks = JoinSet::new();
        for (index, chunk) in codes.chunks(POLLING_MAX_CODES).enumerate() {
            let inner = Arc::clone(self);
            let asked: HashSet<String> = chunk.iter().map(|c| c.to_string()).collect();
            let target = format!("/api/realtime/domestic/stock/{}", chunk.join(","));
            tasks.spawn(async move {
                let (url, text) = inner.fetch_text(Host::Polling, &target).await?;
                let quotes = parse::parse_polling(&text).map_err(|source| MarketError::Parse {
                    url: url.clone(),
                    source,
                })?;
                if let Some(stray) = quotes.iter().find(|q| !asked.contains(&q.code)) {
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

    /// The body of `target` on `host`, decoded, with the full URL for error messages. Fails
    /// with [`MarketError::Deadline`] once the crawl's deadline has passed, also mid-request.
    async fn fetch_text(&self, host: Host, target: &str) -> MarketResult<(String, String)> {
        let base = match host {
            Host::Finance => &self.config.finance_url,
            Host::Polling => &self.config.polling_url,
            Host::Fchart => &self.config.fchart_url,
        };
        let url = format!("{}{target}", base.trim_end_matches('/'));
        let deadline = *self
            .deadline
            .get_or_init(|| Instant::now() + self.config.deadline);
        let past_deadline = || MarketError::Deadline {
            seconds: self.config.deadline.as_secs_f64(),
        };
        if Instant::now() >= deadline {
            return Err(past_deadline());
        }
        let raw = tokio::time::timeout_at(deadline, self.fetch_raw(&url, target))
            .await
            .map_err(|_| past_deadline())??;
        let text = parse::decode(&raw.body, raw.content_type.as_deref()).map_err(|source| {
            MarketError::Parse {
                url: url.clone(),
                source,
            }
        })?;
        Ok((url, text))
    }

    /// A 200 response for `target`, after retries; recorded when recording.
    async fn fetch_raw(&self, url: &str, target: &str) -> MarketResult<Raw> {
        let (client, limiter) = match &self.fetcher {
            Fetcher::Replay(dir) => return self.replay(dir, url, target).await,
            Fetcher::Http { client, limiter } => (client, limiter),
        };
        let mut retried = 0u32;
        loop {
            let attempt = {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .expect("the semaphore is never closed");
                limiter.until_ready().await;
                self.requests.fetch_add(1, Ordering::Relaxed);
                self.attempt(client, url).await
            };
            let can_retry = retried < self.config.retries;
            match attempt {
                Ok(raw) if raw.status == 200 => {
                    if let Some(dir) = &self.config.record_dir {
                        record(dir, target, &raw).await?;
                    }
                    return Ok(raw);
                }
                Ok(raw) if can_retry && retryable_status(raw.status) => {}
                Ok(raw) => {
                    return Err(MarketError::Status {
                        url: url.to_string(),
                        status: raw.status,
                        retried,
                    })
                }
                Err(e) if can_retry && retryable_error(&e) => {}
                Err(e) => {
                    return Err(MarketError::Network {
                        url: url.to_string(),
                        message: describe(&e, self.config.timeout, retried),
                    })
                }
            }
            retried += 1;
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff(self.config.backoff, retried)).await;
        }
    }

    /// One request, the whole body read.
    async fn attempt(&self, client: &reqwest::Client, url: &str) -> reqwest::Result<Raw> {
        let response = client.get(url).send().await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.bytes().await?.to_vec();
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok(Raw {
            status,
            content_type,
            body,
        })
    }

    /// The recording of `target` in `dir`, as a response.
    async fn replay(&self, dir: &Path, url: &str, target: &str) -> MarketResult<Raw> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
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

/// Pages fit together: page 1 has rows, every page before the last non-empty one is as full as
/// the fullest, and nothing follows the first empty page.
fn check_listing(pages: &BTreeMap<u32, Page>, end: u32) -> MarketResult<()> {
    let insane = |page: u32, what: String| MarketError::Insane {
        url: pages[&page].url.clone(),
        what,
    };
    if end == 1 {
        return Err(insane(
            1,
            "page 1 has no rows: an empty market or a changed page".into(),
        ));
    }
    if let Some((number, _)) = pages.range(end + 1..).find(|(_, p)| !p.rows.is_empty()) {
        return Err(insane(
            end,
            format!("page {end} is empty but page {number} is not: truncated page?"),
        ));
    }
    let last = end - 1;
    let full = pages
        .range(..=last)
        .map(|(_, p)| p.rows.len())
        .max()
        .unwrap_or(0);
    if let Some((number, page)) = pages.range(..last).find(|(_, p)| p.rows.len() < full) {
        return Err(insane(
            *number,
            format!(
                "page {number} has {} rows but page {} is not empty: truncated page?",
                page.rows.len(),
                number + 1
            ),
        ));
    }
    Ok(())
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

    fn page(url: &str, rows: usize) -> Page {
        let row = |i: usize| ListingRow {
            code: format!("{i:06}"),
            name: format!("n{i}"),
            price: 1.into(),
            change: 0.into(),
            change_rate: 0.into(),
            volume: 0,
            market_cap_eok: 1.into(),
            listed_shares_thousand: 1,
        };
        Page {
            url: url.into(),
            rows: (0..rows).map(row).collect(),
        }
    }

    fn pages(counts: &[usize]) -> BTreeMap<u32, Page> {
        counts
            .iter()
            .enumerate()
            .map(|(i, &n)| (i as u32 + 1, page(&format!("u{}", i + 1), n)))
            .collect()
    }

    fn what(result: MarketResult<()>) -> (String, String) {
        match result {
            Err(MarketError::Insane { url, what }) => (url, what),
            other => panic!("expected Insane, got {other:?}"),
        }
    }

    #[test]
    fn listing_pages_fit_together() {
        assert!(check_listing(&pages(&[50, 50, 28, 0]), 4).is_ok());
        assert!(check_listing(&pages(&[50, 0, 0]), 2).is_ok());
        assert_eq!(
            what(check_listing(&pages(&[50, 31, 50, 0]), 4)),
            (
                "u2".into(),
                "page 2 has 31 rows but page 3 is not empty: truncated page?".into()
            )
        );
        assert_eq!(
            what(check_listing(&pages(&[31, 50, 10, 0]), 4)).1,
            "page 1 has 31 rows but page 2 is not empty: truncated page?"
        );
        assert_eq!(
            what(check_listing(&pages(&[50, 0, 50]), 2)),
            (
                "u2".into(),
                "page 2 is empty but page 3 is not: truncated page?".into()
            )
        );
        assert_eq!(what(check_listing(&pages(&[0, 0]), 1)).0, "u1");
    }

    #[test]
    fn retry_policy() {
        for status in [500, 502, 503, 504, 403, 429] {
            assert!(retryable_status(status), "{status}");
        }
        for status in [200, 301, 400, 401, 404] {
            assert!(!retryable_status(status), "{status}");
        }
        let base = Duration::from_millis(200);
        for (retried, nominal) in [(1, 200), (2, 400), (3, 800)] {
            let wait = backoff(base, retried);
            assert!(wait >= Duration::from_millis(nominal / 2), "{wait:?}");
            assert!(wait < Duration::from_millis(nominal * 3 / 2), "{wait:?}");
        }
        assert!(backoff(base, 1000) > Duration::ZERO);
    }

    #[test]
    fn recording_names_are_short_safe_and_distinct() {
        let a = recording_stem("/sise/sise_market_sum.naver?sosok=0&page=1");
        assert!(
            a.starts_with("sise_sise_market_sum.naver_sosok=0_page=1-"),
            "{a}"
        );
        let b = recording_stem("/sise/sise_market_sum.naver?sosok=0/page=1");
        assert_ne!(a, b);
        let codes = vec!["005930"; 60].join(",");
        let long = recording_stem(&format!("/api/realtime/domestic/stock/{codes}"));
        assert!(long.len() <= STEM_SLUG_LEN + 1 + STEM_HASH_LEN);
        assert!(long
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._=-".contains(&b)));
    }

    #[test]
    fn default_config_is_polite() {
        let config = NaverConfig::default();
        assert!(config.user_agent.starts_with("Mozilla/5.0"));
        assert_eq!(config.concurrency.get(), 8);
        assert_eq!(config.timeout, Duration::from_secs(5));
        assert_eq!(config.retries, 3);
        assert_eq!(config.deadline, Duration::from_secs(60));
        assert!(config.record_dir.is_none());
    }
}
