//! Market data: what the rest of the program asks of a market, behind one trait, with three
//! sources — Naver Pay Securities over HTTP (`naver`), recorded responses served back through
//! the same parsers (`replay:DIR`), and a deterministic simulated market (`sim[:SEED]`).
//! Parsing lives in [`parse`], separate from fetching, so parsers are tested on page text alone.

pub mod json;
pub mod naver;
pub mod parse;
pub mod sim;
pub mod source;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;

use crate::domain::{Invalid, Market, StockCode};

pub use parse::{Bar, IndexNow, Level, ListingRow, OrderBook, ParseError, Quote};
pub use sim::Sim;

/// The two KRX indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum IndexCode {
    Kospi,
    Kosdaq,
}

impl IndexCode {
    pub const ALL: [IndexCode; 2] = [IndexCode::Kospi, IndexCode::Kosdaq];
    pub fn as_str(self) -> &'static str {
        match self {
            IndexCode::Kospi => "KOSPI",
            IndexCode::Kosdaq => "KOSDAQ",
        }
    }
}

impl fmt::Display for IndexCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// Every listed stock of a market (all pages, until an empty one).
    fn listing(
        &self,
        market: Market,
        on_page: PageCallback<'_>,
    ) -> impl Future<Output = MarketResult<Vec<ListingRow>>> + Send;
    /// Current quotes for many codes in as few requests as the source allows. Unknown codes
    /// are absent from the answer.
    fn quotes(&self, codes: &[StockCode]) -> impl Future<Output = MarketResult<Vec<Quote>>> + Send;
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
    /// Counters so far.
    fn stats(&self) -> FetchStats;
}

/// The one sanity check of a listing row, run on every page as it is parsed and again before
/// the crawl writes: a valid code and name, a positive on-tick price inside the ±30% band of
/// the previous close (price − change), no negative volume or market cap. A wrong price is
/// worse than a stale one. Returns the quote to store.
pub fn listing_quote(
    market: Market,
    row: &ListingRow,
) -> Result<crate::domain::StockQuote, String> {
    /// 1 억원 in won: the listing gives market caps in 억원.
    const EOK: i64 = 100_000_000;
    let prev_close = row.price - row.change;
    let mut q = crate::domain::StockQuote::parse(
        &row.code,
        &row.name,
        market.as_str(),
        row.price,
        prev_close,
    )
    .map_err(|e| format!("{market} listing row {:?} ({}): {e}", row.code, row.name))?;
    if row.volume < 0 || row.market_cap_eok.is_sign_negative() {
        return Err(format!(
            "{market} listing row {}: negative volume or market cap",
            row.code
        ));
    }
    q.volume = Some(row.volume);
    q.market_cap = Some(row.market_cap_eok * rust_decimal::Decimal::from(EOK));
    Ok(q)
}

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
