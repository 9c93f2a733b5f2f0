//! Market data as the commands use it: the source picked with `--source`, the order book of
//! `stock show`, the stored indices of `ascend index` and the trading calendar.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::App;
use crate::domain::calendar::Calendar;
use crate::domain::StockCode;
use crate::error::Result;
use crate::market::naver::NaverConfig;
use crate::market::{MarketData, MarketResult};

pub use crate::domain::market_data::{Level, OrderBook};
pub use crate::market::source::Source;
pub use crate::market::SourceSpec;

/// How a source is opened: what a command changes of the defaults. `None` keeps the default
/// (a 5 s timeout per request, 3 retries, a 60 s deadline for a whole crawl).
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// One attempt, connection to last byte.
    pub timeout: Option<Duration>,
    /// Further attempts after a failure.
    pub retries: Option<u32>,
    /// The whole crawl.
    pub deadline: Option<Duration>,
    /// Save every raw response here (`--record DIR`; the simulator ignores it).
    pub record: Option<PathBuf>,
}

/// Opens the source of `--source`, with the Naver hosts from the environment
/// ([`host_settings`]) and the app's clock.
pub fn open(app: &App, spec: &SourceSpec, opts: SourceOptions) -> MarketResult<Source> {
    let mut config = Source::config_from_env();
    if let Some(t) = opts.timeout {
        config.timeout = t;
    }
    if let Some(r) = opts.retries {
        config.retries = r;
    }
    if let Some(d) = opts.deadline {
        config.deadline = d;
    }
    Source::open(spec, config, opts.record, app.clock)
}

/// The environment variables that move the Naver hosts, each with its default URL.
pub fn host_settings() -> [(&'static str, &'static str); 4] {
    NaverConfig::HOST_SETTINGS
}

/// A stock's order book now, from the source.
pub async fn order_book(source: &Source, code: &StockCode) -> MarketResult<OrderBook> {
    source.order_book(code).await
}

/// An index as last crawled, with its stored daily closes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IndexTrend {
    pub code: String,
    pub value: Decimal,
    pub change: Decimal,
    pub change_rate: Decimal,
    pub at: DateTime<Utc>,
    /// The last `days` closes, oldest first.
    pub trend: Vec<Decimal>,
}

/// Every stored index with the closes of its last `days` stored bars.
pub async fn indices(app: &App, days: i64) -> Result<Vec<IndexTrend>> {
    let mut conn = app.pool.acquire().await?;
    let rows = crate::store::market::indices(&mut conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let trend = crate::store::market::bars(&mut conn, &r.code, days)
            .await?
            .into_iter()
            .map(|b| b.close)
            .collect();
        out.push(IndexTrend {
            code: r.code,
            value: r.value,
            change: r.change,
            change_rate: r.change_rate,
            at: r.at,
            trend,
        });
    }
    Ok(out)
}

/// The trading calendar as the crawled KOSPI bars tell it (the dated closure table beyond).
pub async fn calendar(app: &App) -> Result<Calendar> {
    crate::store::market::calendar(&mut *app.pool.acquire().await?).await
}
