//! Market data: what the rest of the program asks of a market, behind one trait, with three
//! sources — Naver Pay Securities over HTTP (`naver`), recorded responses served back through
//! the same parsers (`replay:DIR`), and a deterministic simulated market (`sim[:SEED]`).
//! Parsing lives in [`parse`], separate from fetching, so parsers are tested on page text alone.

pub mod json;
pub mod naver;
pub mod parse;
pub mod sim;
pub mod source;

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::domain::{Invalid, Market, StockCode};

pub use crate::domain::market_data::{
    Bar, IndexCode, IndexNow, Level, ListedRow, OrderBook, QuoteNow,
};
pub use parse::ParseError;
pub use sim::Sim;

/// What a daily-bar request is for: a stock or an index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Symbol {
    Stock(StockCode),
    Index(IndexCode),
}

impl Symbol {
    /// The symbol as stored and as Naver names it (`005930`, `KOSPI`).
    pub fn as_str(&self) -> &str {
        match self {
            Symbol::Stock(c) => c.as_str(),
            Symbol::Index(i) => i.as_str(),
        }
    }
}

/// Why market data could not be had. Every message names the URL (or the source) and what was
/// wrong.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// The page arrived but did not parse: structure drift, a truncated page, wrong encoding.
    #[error("{url}: {source}")]
    Parse { url: String, source: ParseError },
    /// The page parsed to values that fail the sanity checks.
    #[error("{url}: {what}")]
    Insane { url: String, what: String },
    /// A redirect: the endpoint moved (Naver's classic pages now answer 302 to its app).
    #[error("{url}: HTTP {status} redirect to {location}: the endpoint moved")]
    Redirect {
        url: String,
        status: u16,
        location: String,
    },
    /// An HTTP status other than 200 after the retries.
    #[error("{url}: HTTP {status}{}", if *.retried > 0 { format!(" after {} retries", .retried) } else { String::new() })]
    Status {
        url: String,
        status: u16,
        retried: u32,
    },
    /// Connection refused, timeout, reset, after the retries.
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    /// The whole crawl ran past its deadline.
    #[error("the crawl passed its deadline of {seconds} s")]
    Deadline { seconds: f64 },
    /// A recorded response is missing or unreadable.
    #[error("replay: {0}")]
    Replay(String),
    /// A response could not be saved to the recording directory.
    #[error("record: {0}")]
    Record(String),
    /// An unknown code or a request the source cannot answer.
    #[error("{0}")]
    NotFound(String),
}

impl From<MarketError> for crate::Error {
    fn from(e: MarketError) -> Self {
        match e {
            MarketError::NotFound(m) => crate::Error::NotFound(m),
            other => crate::Error::Market(other.to_string()),
        }
    }
}

pub type MarketResult<T> = Result<T, MarketError>;

/// Counters a source keeps while it works, for the crawl summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FetchStats {
    pub requests: u64,
    pub retries: u64,
    pub bytes: u64,
}

/// Called after each listing page: (market, page number, rows on it).
pub type PageCallback<'a> = &'a (dyn Fn(Market, u32, usize) + Send + Sync);

/// What the program asks of a market.
pub trait MarketData: Send + Sync {
    /// Every listed instrument of a market (stocks, and on KOSPI the ETFs and ETNs), complete
    /// by the source's paging or an error.
    fn listing(
        &self,
        market: Market,
        on_page: PageCallback<'_>,
    ) -> impl Future<Output = MarketResult<Vec<ListedRow>>> + Send;
    /// Current quotes for many codes in as few requests as the source allows. Unknown codes
    /// are absent from the answer.
    fn quotes(
        &self,
        codes: &[StockCode],
    ) -> impl Future<Output = MarketResult<Vec<QuoteNow>>> + Send;
    /// An index now.
    fn index_now(&self, index: IndexCode) -> impl Future<Output = MarketResult<IndexNow>> + Send;
    /// The last `days` daily bars (OHLCV), oldest first.
    fn daily_bars(
        &self,
        symbol: &Symbol,
        days: u32,
    ) -> impl Future<Output = MarketResult<Vec<Bar>>> + Send;
    /// The order book (호가), at least 5 levels each side when the market has them.
    fn order_book(&self, code: &StockCode) -> impl Future<Output = MarketResult<OrderBook>> + Send;
    /// Tells the source that about `requests` more requests will follow (a history crawl), so
    /// that its deadline can make room for them at its polite rate.
    fn allow_requests(&self, requests: u64) {
        let _ = requests;
    }
    /// Whether the source's daily bars, and its listing after 16:00, may carry after-market
    /// prices (from [`crate::domain::rules::after_market_start`] on). The simulator's do not.
    fn has_after_market(&self) -> bool {
        false
    }
    /// Counters so far.
    fn stats(&self) -> FetchStats;
}

/// The sanity check of a crawled row before it is stored: a market fact is not tick-checked,
/// but its price must be positive and inside the day's band around the previous close, widened
/// by [`SANITY_SLACK`] of the base (for the band's rounding and for a leverage the name does not
/// show); a first-day listing gets its 60%–400% band. When the source states the day's limits,
/// the price must lie within them. Returns the quote to store, or one line naming the row.
pub fn checked_quote(
    row: &ListedRow,
    day: chrono::NaiveDate,
) -> Result<crate::domain::StockQuote, String> {
    use crate::domain::rules;
    let name = |what: String| {
        format!(
            "{} listing row {} ({}): {what}",
            row.market, row.code, row.name
        )
    };
    if row.price <= Decimal::ZERO || row.prev_close <= Decimal::ZERO {
        return Err(name(format!(
            "price {} and previous close {} must be positive",
            row.price, row.prev_close
        )));
    }
    let inst = rules::Instrument::named(row.kind, &row.name, row.listed_on);
    let band = rules::band_for(&inst, row.prev_close, day);
    let slack = (row.prev_close * SANITY_SLACK).ceil();
    if row.price < band.lower - slack || row.price > band.upper + slack {
        return Err(name(format!(
            "price {} is outside the day's band {} to {} ({} {})",
            crate::domain::group_thousands(row.price),
            crate::domain::group_thousands(band.lower),
            crate::domain::group_thousands(band.upper),
            band.rule,
            crate::domain::group_thousands(row.prev_close)
        )));
    }
    if let (Some(lo), Some(hi)) = (row.lower_limit, row.upper_limit) {
        if row.price < lo || row.price > hi {
            return Err(name(format!(
                "price {} is outside the limits {lo} to {hi} the source states",
                row.price
            )));
        }
    }
    let mut q = crate::domain::StockQuote::of(
        row.code.as_str(),
        &row.name,
        row.market.as_str(),
        row.price,
        row.prev_close,
    )
    .map_err(|e| name(e.to_string()))?;
    if row.volume.is_some_and(|v| v < 0) || row.market_cap.is_some_and(|c| c.is_sign_negative()) {
        return Err(name("negative volume or market cap".into()));
    }
    q.volume = row.volume;
    q.market_cap = row.market_cap;
    q.open = row.open;
    q.high = row.high;
    q.low = row.low;
    q.kind = row.kind;
    q.leverage = inst.leverage;
    q.listed_on = row.listed_on;
    q.halted = row.halted;
    q.session = row.session;
    Ok(q)
}

/// How far past the computed band a crawled price may lie before it is called insane, as a
/// share of the previous close.
pub const SANITY_SLACK: Decimal = rust_decimal_macros::dec!(0.01);

/// A `--source` value: `naver`, `replay:DIR` or `sim[:SEED]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Naver,
    Replay(PathBuf),
    Sim(u64),
}

impl FromStr for SourceSpec {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let bad = |why: &str| {
            Invalid::new(
                "source",
                format!("{s:?} {why} (use naver, replay:DIR or sim[:SEED])"),
            )
        };
        match s.split_once(':') {
            None if s == "naver" => Ok(SourceSpec::Naver),
            None if s == "sim" => Ok(SourceSpec::Sim(1)),
            None if s == "replay" => Err(bad("needs a directory")),
            None => Err(bad("is not a source")),
            Some(("replay", dir)) if !dir.is_empty() => Ok(SourceSpec::Replay(PathBuf::from(dir))),
            Some(("replay", _)) => Err(bad("needs a directory")),
            Some(("sim", seed)) => seed
                .parse()
                .map(SourceSpec::Sim)
                .map_err(|_| bad("has a seed that is not a whole number")),
            Some(_) => Err(bad("is not a source")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_specs_parse() {
        assert_eq!("naver".parse::<SourceSpec>().unwrap(), SourceSpec::Naver);
        assert_eq!("sim".parse::<SourceSpec>().unwrap(), SourceSpec::Sim(1));
        assert_eq!("sim:42".parse::<SourceSpec>().unwrap(), SourceSpec::Sim(42));
        assert_eq!(
            "replay:/tmp/day".parse::<SourceSpec>().unwrap(),
            SourceSpec::Replay("/tmp/day".into())
        );
        for bad in [
            "", "yahoo", "replay", "replay:", "sim:x", "sim:-1", "naver:x",
        ] {
            assert_eq!(
                bad.parse::<SourceSpec>().unwrap_err().field,
                "source",
                "{bad}"
            );
        }
        assert!(MarketError::Status {
            url: "u".into(),
            status: 500,
            retried: 3
        }
        .to_string()
        .ends_with("HTTP 500 after 3 retries"));
    }
}
