//! The source picked with `--source`: Naver over HTTP, a replayed recording, or the simulator.

use std::path::PathBuf;

use super::naver::{Naver, NaverConfig};
use super::sim::Sim;
use super::{
    Bar, FetchStats, IndexCode, IndexNow, ListedRow, MarketData, MarketResult, OrderBook,
    PageCallback, QuoteNow, SourceSpec, Symbol,
};
use crate::clock::Clock;
use crate::domain::{Market, StockCode};

#[derive(Debug)]
pub enum Source {
    Naver(Naver),
    Sim(Sim),
}

impl Source {
    /// Opens a source. `record` saves Naver's raw responses (ignored by the simulator).
    pub fn open(
        spec: &SourceSpec,
        mut config: NaverConfig,
        record: Option<PathBuf>,
        clock: Clock,
    ) -> MarketResult<Source> {
        config.record_dir = record;
        Ok(match spec {
            SourceSpec::Naver => Source::Naver(Naver::http(config, clock)?),
            SourceSpec::Replay(dir) => Source::Naver(Naver::replay(dir.clone(), config, clock)?),
            SourceSpec::Sim(seed) => Source::Sim(Sim::new(*seed, clock)),
        })
    }

    /// Naver settings from the environment: one base URL per host
    /// ([`NaverConfig::HOST_SETTINGS`]: `ASCEND_NAVER_STOCK_URL`, `ASCEND_NAVER_MSTOCK_URL`,
    /// `ASCEND_NAVER_POLLING_URL`, `ASCEND_NAVER_CHART_URL`) moves it, e.g. to a mirror or to
    /// one local server standing in for all of them.
    pub fn config_from_env() -> NaverConfig {
        let mut c = NaverConfig::default();
        for (setting, _) in NaverConfig::HOST_SETTINGS {
            if let Ok(v) = std::env::var(setting) {
                c.set_host(setting, v);
            }
        }
        c
    }
}

impl MarketData for Source {
    async fn listing(
        &self,
        market: Market,
        on_page: PageCallback<'_>,
    ) -> MarketResult<Vec<ListedRow>> {
        match self {
            Source::Naver(n) => n.listing(market, on_page).await,
            Source::Sim(s) => s.listing(market, on_page).await,
        }
    }
    async fn quotes(&self, codes: &[StockCode]) -> MarketResult<Vec<QuoteNow>> {
        match self {
            Source::Naver(n) => n.quotes(codes).await,
            Source::Sim(s) => s.quotes(codes).await,
        }
    }
    async fn index_now(&self, index: IndexCode) -> MarketResult<IndexNow> {
        match self {
            Source::Naver(n) => n.index_now(index).await,
            Source::Sim(s) => s.index_now(index).await,
        }
    }
    async fn daily_bars(&self, symbol: &Symbol, days: u32) -> MarketResult<Vec<Bar>> {
        match self {
            Source::Naver(n) => n.daily_bars(symbol, days).await,
            Source::Sim(s) => s.daily_bars(symbol, days).await,
        }
    }
    async fn order_book(&self, code: &StockCode) -> MarketResult<OrderBook> {
        match self {
            Source::Naver(n) => n.order_book(code).await,
            Source::Sim(s) => s.order_book(code).await,
        }
    }
    fn has_after_market(&self) -> bool {
        matches!(self, Source::Naver(_))
    }
    fn allow_requests(&self, requests: u64) {
        match self {
            Source::Naver(n) => n.allow_requests(requests),
            Source::Sim(s) => s.allow_requests(requests),
        }
    }
    fn stats(&self) -> FetchStats {
        match self {
            Source::Naver(n) => n.stats(),
            Source::Sim(s) => s.stats(),
        }
    }
}
