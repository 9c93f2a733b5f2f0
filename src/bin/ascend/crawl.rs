//! `ascend crawl-stocks`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::output::{money, render_one};
use crate::{io_err, Ctx};
use ascend::app::crawl::{self, CrawlOptions, Progress};
use ascend::domain::{rules, Market};
use ascend::market::source::Source;
use ascend::market::SourceSpec;
use ascend::{exit, Error};

/// Crawl the KOSPI and KOSDAQ listings (every stock's price, previous close, change, volume,
/// market cap), both indices and, with --history, daily bars; then write them in one
/// transaction. A page that parses to nothing, too few rows, or values that fail the sanity
/// checks fails the crawl, and the stored data stays as it was.
///
/// Sources: naver (Naver Pay Securities; ASCEND_NAVER_*_URL move the hosts), replay:DIR
/// (responses saved with --record DIR, served back through the same parsers), sim[:SEED]
/// (a deterministic simulated market driven by the clock).
#[derive(Debug, Args)]
pub struct CrawlStocks {
    /// kospi, kosdaq or all.
    #[arg(long, default_value = "all")]
    market: String,
    /// Also fetch this many daily bars for every stock and both indices.
    #[arg(long)]
    history: Option<u32>,
    /// naver, replay:DIR or sim[:SEED].
    #[arg(long, default_value = "naver")]
    source: String,
    /// Save every raw response under DIR (Naver sources).
    #[arg(long)]
    record: Option<PathBuf>,
    /// Fail when a market lists fewer rows than this (default: 500 for Naver, 1 for sim).
    #[arg(long)]
    min_rows: Option<usize>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Give up on the whole crawl after this many seconds.
    #[arg(long, default_value_t = 60)]
    deadline: u64,
    /// Crawl even on a day the market is closed (timers skip those days).
    #[arg(long)]
    any_day: bool,
}

impl CrawlStocks {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let markets = match self.market.trim().to_ascii_lowercase().as_str() {
            "all" => vec![Market::Kospi, Market::Kosdaq],
            m => vec![m.parse::<Market>().map_err(|_| {
                ascend::domain::Invalid::new(
                    "market",
                    format!("{:?} must be kospi, kosdaq or all", self.market),
                )
            })?],
        };
        let spec: SourceSpec = self.source.parse()?;
        if self.concurrency == 0 || self.concurrency > 64 {
            return Err(ascend::domain::Invalid::new("concurrency", "must be from 1 to 64").into());
        }
        let now = ctx.now();
        let app = ctx.app().await?;
        let cal = ascend::store::market::calendar(&mut *app.pool.acquire().await?).await?;
        let today = rules::trade_date(now);
        match cal.is_trading_day(today) {
            Ok(false) if !self.any_day => {
                eprintln!("crawl-stocks: {today} is not a trading day; nothing to crawl (use --any-day to crawl anyway)");
                return Ok(exit::OK);
            }
            // Crawling is how the calendar learns a day past its table: go on.
            Err(e) => eprintln!("crawl-stocks: {e}; crawling to learn it from the KOSPI bars"),
            Ok(_) => {}
        }
        let mut config = Source::config_from_env();
        config.concurrency = std::num::NonZeroUsize::new(self.concurrency).expect("checked");
        config.deadline = Duration::from_secs(self.deadline.max(1));
        let source = Source::open(&spec, config, self.record.clone(), app.clock)?;
        let opts = CrawlOptions {
            markets,
            history_days: self.history,
            min_rows: self.min_rows.unwrap_or(match spec {
                SourceSpec::Sim(_) => 1,
                _ => 500,
            }),
            source: self.source.clone(),
            concurrency: self.concurrency,
        };
        let tty = std::io::stderr().is_terminal();
        let bar = indicatif::ProgressBar::new_spinner();
        if tty {
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {wide_msg}")
                    .expect("template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
        } else {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let progress = |p: Progress| match p {
            Progress::Page { market, page, rows } => {
                if tty {
                    bar.set_message(format!("{market} page {page}: {rows} rows"));
                } else {
                    tracing::info!(%market, page, rows, "listing page");
                }
            }
            Progress::Bars { done, total } => {
                if tty {
                    bar.set_message(format!("daily bars {done}/{total}"));
                } else if done % 200 == 0 || done == total {
                    tracing::info!(done, total, "daily bars");
                }
            }
            Progress::Writing => bar.set_message("writing"),
        };
        let result = crawl::crawl(&app, &source, &opts, &progress).await;
        bar.finish_and_clear();
        let s = result?;
        eprintln!(
            "crawl-stocks: {} pages, {} rows ({} new, {} changed, {} unlisted), {} bars, {} requests, {} retries, {:.2} s",
            s.pages, s.rows, s.new, s.changed, s.unlisted, s.bars, s.requests, s.retries, s.seconds
        );
        render_one(out, ctx.format, &s, |h| {
            vec![
                ("source", s.source.clone()),
                ("pages", s.pages.to_string()),
                ("rows", money(s.rows.into(), h)),
                ("new", s.new.to_string()),
                ("changed", s.changed.to_string()),
                ("unlisted", s.unlisted.to_string()),
                ("indices", s.indices.to_string()),
                ("bars", s.bars.to_string()),
                ("requests", s.requests.to_string()),
                ("retries", s.retries.to_string()),
                ("seconds", format!("{:.3}", s.seconds)),
            ]
        })
        .map_err(io_err)?;
        Ok(exit::OK)
    }
}
