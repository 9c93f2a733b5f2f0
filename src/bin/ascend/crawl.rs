//! `ascend crawl-stocks`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::output::{money, render_one};
use crate::{io_err, Ctx};
use ascend::app::crawl::{self, CrawlOptions, Progress};
use ascend::app::market::{self as market_data, SourceOptions, SourceSpec};
use ascend::domain::{rules, Market};
use ascend::{exit, Error};

/// Crawl the KOSPI and KOSDAQ listings (stocks, and the ETFs and ETNs listed on KOSPI: price,
/// previous close, volume, market cap, halts), both indices and, with --history, daily bars.
/// The listings and indices are written in one transaction, each symbol's bars in its own. A
/// listing that its paging does not show complete, a page that does not parse, a price outside
/// its sanity band, or more disappearances than 2% (or 20) fails the crawl, and the stored data
/// stays as it was. SIGINT/SIGTERM roll back and record the interrupted run.
///
/// Sources: naver (Naver Pay Securities' JSON endpoints; ASCEND_NAVER_STOCK_URL,
/// ASCEND_NAVER_MSTOCK_URL, ASCEND_NAVER_POLLING_URL and ASCEND_NAVER_CHART_URL move the
/// hosts), replay:DIR (responses saved with --record DIR, served back through the same
/// parsers), sim[:SEED] (a deterministic simulated market driven by the clock).
#[derive(Debug, Args)]
#[command(after_help = HOSTS)]
pub struct CrawlStocks {
    /// The market to crawl.
    #[arg(long, value_enum, default_value_t = MarketArg::All)]
    market: MarketArg,
    /// Also fetch this many daily bars for every stock and both indices.
    #[arg(long)]
    history: Option<u32>,
    /// naver, replay:DIR or sim[:SEED].
    #[arg(long, env = "ASCEND_SOURCE", default_value = "naver", value_parser = crate::source_arg::SourceArg)]
    source: String,
    /// Save every raw response under DIR (Naver sources).
    #[arg(long)]
    record: Option<PathBuf>,
    /// Fail when a market lists fewer rows than this (default: 500 for Naver, 1 for sim).
    #[arg(long)]
    min_rows: Option<usize>,
    /// Daily-bar requests under way at once (each host still takes at most 4 at a time).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Give up on the listing after this many seconds; a history crawl adds the time its
    /// requests need at the polite rate.
    #[arg(long, default_value_t = 60)]
    deadline: u64,
    /// Unlist more than 2% (or 20) of the listed instruments in one crawl.
    #[arg(long)]
    allow_mass_unlist: bool,
    /// Crawl even on a day the market is closed (timers skip those days).
    #[arg(long)]
    any_day: bool,
}

/// The Naver hosts and the settings that move them, for `--help`.
const HOSTS: &str = "\
Naver hosts (environment; point them at a mirror or at one local server):
  ASCEND_NAVER_STOCK_URL    https://stock.naver.com             stock listings
  ASCEND_NAVER_MSTOCK_URL   https://m.stock.naver.com           ETF/ETN listing, order books
  ASCEND_NAVER_POLLING_URL  https://polling.finance.naver.com   quotes, indices
  ASCEND_NAVER_CHART_URL    https://api.stock.naver.com         daily bars

Exit 5 when a listing is incomplete, a response does not parse or a price is insane (nothing
is written); 143 on SIGTERM and 130 on Ctrl-C (rolled back, recorded in crawl_runs).";

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum MarketArg {
    Kospi,
    Kosdaq,
    /// Both.
    All,
}

impl CrawlStocks {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let markets = match self.market {
            MarketArg::All => vec![Market::Kospi, Market::Kosdaq],
            MarketArg::Kospi => vec![Market::Kospi],
            MarketArg::Kosdaq => vec![Market::Kosdaq],
        };
        let spec: SourceSpec = self.source.parse()?;
        if self.concurrency == 0 || self.concurrency > 64 {
            return Err(ascend::domain::Invalid::new("concurrency", "must be from 1 to 64").into());
        }
        let app = ctx.app().await?;
        let now = app.clock.now();
        let cal = market_data::calendar(&app).await?;
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
        let opts = SourceOptions {
            deadline: Some(Duration::from_secs(self.deadline.max(1))),
            record: self.record.clone(),
            ..SourceOptions::default()
        };
        let source = market_data::open(&app, &spec, opts)?;
        let opts = CrawlOptions {
            markets,
            history_days: self.history,
            min_rows: self.min_rows.unwrap_or(match spec {
                SourceSpec::Sim(_) => 1,
                _ => 500,
            }),
            source: self.source.clone(),
            concurrency: self.concurrency,
            allow_mass_unlist: self.allow_mass_unlist,
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
                    bar.set_message(format!("daily bars: {done}/{total} requests"));
                } else if done % 200 == 0 || done == total {
                    tracing::info!(done, total, "daily bars");
                }
            }
            Progress::Writing => bar.set_message("writing"),
        };
        let started = app.clock.now();
        let result = tokio::select! {
            r = crawl::crawl(&app, &source, &opts, &progress) => r,
            stop = crate::signals::stopped() => {
                bar.finish_and_clear();
                let what = "the listing was rolled back; bars already written stay";
                crawl::record_interrupted(&app, started, &opts.source, stop.name()).await?;
                return Err(Error::Interrupted { signal: stop.name(), code: stop.exit_code(), what: what.into() });
            }
        };
        bar.finish_and_clear();
        let s = result?;
        eprintln!(
            "crawl-stocks: {} pages, {} rows ({} new, {} changed, {} unlisted; {} ETFs, {} ETNs, {} halted, {} after-market), {} bars, {} requests, {} retries, {:.2} s",
            s.pages, s.rows, s.new, s.changed, s.unlisted, s.etfs, s.etns, s.halted, s.after_market, s.bars, s.requests, s.retries, s.seconds
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

#[cfg(test)]
mod tests {
    #[test]
    fn help_names_every_host_setting_with_its_default() {
        for (setting, default) in ascend::app::market::host_settings() {
            let line = super::HOSTS
                .lines()
                .find(|l| l.trim_start().starts_with(setting))
                .unwrap_or_else(|| panic!("{setting} is missing from --help"));
            assert!(line.contains(default), "{line}");
        }
    }
}
