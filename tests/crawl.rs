//! crawl-stocks end to end into PostgreSQL from the local stand-in of the renewed Naver site
//! (tests/common/naver_site.rs): a full crawl, faults that must leave the stored data as it
//! was, mass disappearance, the after-market, history and its rerun, the binary's exit codes
//! and signals, and orders on what a crawl stored (ETF tick and tax, halts, first-day band).

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use ascend::app::crawl::{crawl, CrawlOptions, CrawlSummary};
use ascend::app::orders;
use ascend::app::App;
use ascend::domain::Market;
use ascend::market::naver::{Naver, NaverConfig};
use ascend::market::MarketData;
use ascend::Error;
use common::naver_site::*;
use common::*;
use rust_decimal::Decimal;
use sqlx::PgPool;

fn opts() -> CrawlOptions {
    CrawlOptions {
        markets: vec![Market::Kospi, Market::Kosdaq],
        history_days: None,
        min_rows: 10,
        source: "naver".into(),
        concurrency: 8,
        allow_mass_unlist: false,
    }
}

fn naver(app: &App, config: NaverConfig) -> Naver {
    Naver::http(config, app.clock).unwrap()
}

async fn run(app: &App, config: NaverConfig, o: &CrawlOptions) -> ascend::Result<CrawlSummary> {
    crawl(app, &naver(app, config), o, &|_| {}).await
}

/// Every column of every stock, as text: what a failed crawl must leave untouched.
async fn snapshot(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as("SELECT code, row_to_json(s)::text FROM stocks s ORDER BY code")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn scalar<T>(pool: &PgPool, sql: &str) -> T
where
    T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn runs(pool: &PgPool) -> Vec<(bool, Option<String>)> {
    sqlx::query_as("SELECT ok, error FROM crawl_runs ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_full_crawl_stores_stocks_etfs_etns_halts_first_days_and_indices(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let site = NaverSite::start(SiteSpec::full()).await;
    let o = CrawlOptions {
        min_rows: 500,
        ..opts()
    };
    let s = run(&app, site.config(), &o).await.unwrap();
    let etps = site.count_etps() as u64;
    assert_eq!(s.rows, 950 + 1_820 + 1_000);
    assert_eq!((s.new, s.changed, s.unlisted), (s.rows, 0, 0));
    assert_eq!(s.etfs + s.etns, etps);
    assert!(s.etns > 0 && s.etfs > s.etns, "{s:?}");
    assert_eq!((s.halted, s.after_market, s.indices), (1, 0, 2));
    assert_eq!(s.retries, 0);

    let kinds: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT market, kind, count(*) FROM stocks WHERE listed GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let count = |market: &str, kind: &str| {
        kinds
            .iter()
            .find(|k| k.0 == market && k.1 == kind)
            .map_or(0, |k| k.2)
    };
    assert_eq!(
        count("KOSPI", "etf") + count("KOSPI", "etn"),
        etps as i64,
        "{kinds:?}"
    );
    assert_eq!(count("KOSPI", "etf"), s.etfs as i64);
    assert_eq!(count("KOSDAQ", "etf") + count("KOSDAQ", "etn"), 0);
    assert!(count("KOSPI", "preferred") > 0 && count("KOSPI", "reit") > 0);
    assert!(count("KOSDAQ", "spac") > 0);
    assert_eq!(kinds.iter().map(|k| k.2).sum::<i64>(), 3_770);

    type Row = (
        String,
        Decimal,
        Decimal,
        Decimal,
        bool,
        Option<chrono::NaiveDate>,
    );
    let row = |code: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, Row>(
                "SELECT kind, price, prev_close, leverage, halted, listed_on FROM stocks WHERE code = $1",
            )
            .bind(code)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let d = |v: i64| Decimal::from(v);
    assert_eq!(
        row(ETF).await,
        ("etf".into(), d(20_210), d(20_000), d(1), false, None)
    );
    assert_eq!(row(ETF_LEVERAGED).await.3, d(2));
    assert_eq!(row(ETF_INVERSE_2X).await.1, d(1_100));
    assert_eq!(row(ETN).await.0, "etn");
    assert!(row(HALTED).await.4);
    assert_eq!(row(REIT).await.0, "reit");
    assert_eq!(row(SAMSUNG_PREF).await.0, "preferred");
    let first = row(FIRST_DAY).await;
    assert_eq!(
        (first.1, first.2, first.5),
        (d(25_000), d(10_000), Some(site.today()))
    );
    assert_eq!(row(ALPHANUMERIC).await.1, d(12_950));
    let indices: Vec<(String, Decimal)> =
        sqlx::query_as("SELECT code, value FROM indices ORDER BY code")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        indices,
        vec![
            ("KOSDAQ".into(), site.index("KOSDAQ").value),
            ("KOSPI".into(), site.index("KOSPI").value)
        ]
    );
    assert_eq!(runs(&pool).await, vec![(true, None)]);

    // The same site again: nothing new, nothing changed.
    let again = run(&app, site.config(), &o).await.unwrap();
    assert_eq!(
        (again.rows, again.new, again.changed, again.unlisted),
        (3_770, 0, 0, 0)
    );
}

#[sqlx::test]
async fn every_fault_leaves_the_stocks_as_they_were_and_names_where_it_happened(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let site = NaverSite::start(SiteSpec::full()).await;
    run(&app, site.config(), &opts()).await.unwrap();
    let before = snapshot(&pool).await;
    let uri = site.uri();
    let kosdaq_page = |p: u32| format!("marketType=KOSDAQ&orderType=marketSum&startIdx={p}&");
    let cases: Vec<(Injection, Vec<String>)> = vec![
        (
            Fault::Status(500)
                .on(Endpoint::StockDefault)
                .matching(&kosdaq_page(3)),
            vec![
                format!("{uri}/api/domestic/market/stock/default?"),
                kosdaq_page(3),
                "HTTP 500 after 2 retries".into(),
            ],
        ),
        (
            Fault::Status(403)
                .on(Endpoint::MarketValue)
                .matching("KOSPI?page=7&"),
            vec![
                format!("{uri}/api/stocks/marketValue/KOSPI?page=7&pageSize=100: HTTP 403"),
            ],
        ),
        (
            Fault::Html.on(Endpoint::PollingIndex),
            vec![format!(
                "{uri}/api/realtime/domestic/index/KOSPI: not JSON: the body starts with \"<!DOCTYPE html>"
            )],
        ),
        (
            Fault::Malformed
                .on(Endpoint::MarketValue)
                .matching("KOSPI?page=20&"),
            vec![
                "/api/stocks/marketValue/KOSPI?page=20&pageSize=100: invalid json".into(),
            ],
        ),
        (
            Fault::RenamedField("itemcode", "itemCode")
                .on(Endpoint::StockDefault)
                .matching(&kosdaq_page(9)),
            vec![kosdaq_page(9), "missing field itemcode in row 0".into()],
        ),
        (
            Fault::NumberForString("itemname").on(Endpoint::StockDefault),
            vec!["itemname: expected a non-empty string, got 5".into()],
        ),
        (
            Fault::MissingField("stockEndType")
                .on(Endpoint::MarketValue)
                .matching("KOSPI?"),
            vec!["/api/stocks/marketValue/KOSPI?page=".into(), "missing field stockEndType".into()],
        ),
        (
            Fault::ShortPage.everywhere(),
            vec!["startIdx=1&".into(), "page 0 has 25 of 200 rows but page 1 has 25: a truncated page?".into()],
        ),
        (
            Fault::Duplicate.everywhere(),
            vec!["startIdx=1&".into(), "is on page 0 and page 1: the pages overlap".into()],
        ),
        (
            Fault::LastPageEmpty.everywhere(),
            vec![
                "stock/default".into(),
                "stocks of the".into(),
                "that marketValue lists are missing".into(),
                "a truncated page?".into(),
            ],
        ),
        (
            Fault::Redirect.on(Endpoint::MarketValue),
            vec![format!("HTTP 302 redirect to {REDIRECT_LOCATION}: the endpoint moved")],
        ),
        (
            Fault::Timeout(Duration::from_secs(2)).on(Endpoint::PollingIndex),
            // Both indices are asked for at once; either may be the one reported.
            vec![
                format!("{uri}/api/realtime/domestic/index/KOS"),
                ": timed out after 0.3 s".into(),
            ],
        ),
    ];
    let later = app_at(&pool, "2026-11-24 10:05");
    for (injection, says) in &cases {
        site.clear_faults();
        site.inject(injection.clone());
        let config = NaverConfig {
            timeout: Duration::from_millis(300),
            retries: 2,
            ..site.config()
        };
        let e = run(&later, config, &opts()).await.unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("market data: "), "{injection:?}: {msg}");
        for s in says {
            assert!(
                msg.contains(s.as_str()),
                "{injection:?}: {msg} should say {s}"
            );
        }
        assert_eq!(e.exit_code(), ascend::exit::INFRA);
        assert!(
            snapshot(&pool).await == before,
            "{injection:?}: the stocks changed"
        );
    }
    let recorded = runs(&pool).await;
    assert_eq!(recorded.len(), 1 + cases.len());
    assert!(recorded[1..].iter().all(|r| !r.0 && r.1.is_some()));

    // The site mended, the same later crawl goes through and restamps every row.
    site.clear_faults();
    run(&later, site.config(), &opts()).await.unwrap();
    assert_ne!(snapshot(&pool).await, before);
}

#[sqlx::test]
async fn a_mass_disappearance_is_refused_naming_the_count_unless_allowed(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let site = NaverSite::start(SiteSpec::full()).await;
    run(&app, site.config(), &opts()).await.unwrap();
    let before = snapshot(&pool).await;

    site.inject(Fault::MassDisappearance.everywhere());
    // What the listings hold now: every tenth row is gone.
    let n = naver(&app, site.config());
    let kospi = n.listing(Market::Kospi, &|_, _, _| {}).await.unwrap().len();
    let kosdaq = n
        .listing(Market::Kosdaq, &|_, _, _| {})
        .await
        .unwrap()
        .len();
    let (gone_kospi, gone_kosdaq) = (1_950 - kospi, 1_820 - kosdaq);
    assert!(
        gone_kospi > 150 && gone_kosdaq > 150,
        "{gone_kospi} {gone_kosdaq}"
    );

    let e = run(&app, site.config(), &opts()).await.unwrap_err();
    assert!(
        e.to_string().contains(&format!(
            "KOSPI listing: {gone_kospi} of 1950 listed instruments are missing from this crawl, \
             more than the 39 one crawl may unlist (2% or 20); nothing was written"
        )),
        "{e}"
    );
    assert!(snapshot(&pool).await == before);

    let allowed = CrawlOptions {
        allow_mass_unlist: true,
        ..opts()
    };
    let s = run(&app, site.config(), &allowed).await.unwrap();
    assert_eq!(s.unlisted as usize, gone_kospi + gone_kosdaq);
    let unlisted: i64 = scalar(&pool, "SELECT count(*) FROM stocks WHERE NOT listed").await;
    assert_eq!(unlisted as usize, gone_kospi + gone_kosdaq);
    let total: i64 = scalar(&pool, "SELECT count(*) FROM stocks").await;
    assert_eq!(total, 3_770, "unlisted rows are kept");
}

#[sqlx::test]
async fn an_after_market_crawl_keeps_the_regular_price_and_sets_the_after_price(pool: PgPool) {
    let site = NaverSite::start(SiteSpec::full()).await;
    run(&app_at(&pool, SESSION), site.config(), &opts())
        .await
        .unwrap();
    let before: Vec<(String, Decimal)> =
        sqlx::query_as("SELECT code, price FROM stocks ORDER BY code")
            .fetch_all(&pool)
            .await
            .unwrap();

    site.set_after_market(true);
    let evening = app_at(&pool, "2026-11-24 16:30");
    let s = run(&evening, site.config(), &opts()).await.unwrap();
    // Every stock but the halted one printed in the after-market; ETFs and ETNs have none.
    assert_eq!(s.after_market, 950 + 1_820 - 1);
    let after: Vec<(String, Decimal)> =
        sqlx::query_as("SELECT code, price FROM stocks ORDER BY code")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(after, before, "stocks.price is the regular close");
    type Prices = (
        Decimal,
        Option<Decimal>,
        chrono::DateTime<chrono::Utc>,
        Option<chrono::DateTime<chrono::Utc>>,
    );
    let prices = |code: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, Prices>(
                "SELECT price, after_price, price_at, after_price_at FROM stocks WHERE code = $1",
            )
            .bind(code)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let samsung = prices(SAMSUNG).await;
    assert_eq!(
        (samsung.0, samsung.1),
        (Decimal::from(98_700), Some(Decimal::from(98_800)))
    );
    assert_eq!(samsung.2, app_at(&pool, SESSION).clock.now());
    assert_eq!(samsung.3, Some(evening.clock.now()));
    let etf = prices(ETF).await;
    assert_eq!((etf.0, etf.1), (Decimal::from(20_210), None));
    let with_after: i64 = scalar(
        &pool,
        "SELECT count(*) FROM stocks WHERE after_price IS NOT NULL",
    )
    .await;
    assert_eq!(with_after, 950 + 1_820 - 1);
}

async fn bar_counts(pool: &PgPool) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT symbol, count(*) FROM daily_bars GROUP BY symbol ORDER BY symbol")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn history_writes_bars_for_every_symbol(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let site = NaverSite::start(SiteSpec::small()).await;
    let o = CrawlOptions {
        history_days: Some(5),
        ..opts()
    };
    let s = run(&app, site.config(), &o).await.unwrap();
    let symbols = site.codes().len() + 2;
    let counts = bar_counts(&pool).await;
    assert_eq!(counts.len(), symbols);
    for (symbol, n) in &counts {
        // A listing of today has its one bar.
        let expected = if symbol == FIRST_DAY { 1 } else { 5 };
        assert_eq!(*n, expected, "{symbol}");
    }
    assert_eq!(s.bars as usize, (symbols - 1) * 5 + 1);
    assert_eq!(site.count_endpoint(Endpoint::ChartItem), symbols - 2);
    assert_eq!(site.count_endpoint(Endpoint::ChartIndex), 2);
    let stored: Vec<(chrono::NaiveDate, Decimal, bool)> = sqlx::query_as(
        "SELECT date, close, regular FROM daily_bars WHERE symbol = $1 ORDER BY date",
    )
    .bind(SAMSUNG)
    .fetch_all(&pool)
    .await
    .unwrap();
    let served = site.bars(SAMSUNG, site.today() - chrono::Duration::days(10));
    assert_eq!(
        stored,
        served[served.len() - 5..]
            .iter()
            .map(|b| (b.date, b.close, false))
            .collect::<Vec<_>>(),
        "bars since the after-market began are not regular closes"
    );
}

#[sqlx::test]
async fn an_interrupted_history_keeps_its_bars_and_a_rerun_fetches_only_the_rest(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let site = NaverSite::start(SiteSpec::small()).await;
    let o = CrawlOptions {
        history_days: Some(5),
        concurrency: 4,
        ..opts()
    };
    site.inject(Fault::Status(500).on(Endpoint::ChartItem).after(30));
    let e = run(&app, site.config(), &o).await.unwrap_err();
    assert!(
        e.to_string().contains("/chart/domestic/item/") && e.to_string().contains("HTTP 500"),
        "{e}"
    );
    let kept = bar_counts(&pool).await;
    let symbols = site.codes().len() + 2;
    assert!(
        kept.len() > 2 && kept.len() < symbols,
        "{} of {symbols} symbols have bars",
        kept.len()
    );
    let complete = kept.iter().filter(|(_, n)| *n == 5).count();
    assert!(!runs(&pool).await.last().unwrap().0);

    site.clear_faults();
    site.clear_log();
    let s = run(&app, site.config(), &o).await.unwrap();
    // Only the symbols without their five bars are asked for again (a listing of today never
    // has five).
    let asked =
        site.count_endpoint(Endpoint::ChartItem) + site.count_endpoint(Endpoint::ChartIndex);
    assert_eq!(asked, symbols - complete);
    assert!(asked < symbols);
    assert_eq!(s.bars_skipped as usize, complete);
    let counts = bar_counts(&pool).await;
    assert_eq!(counts.len(), symbols);
    assert!(counts
        .iter()
        .all(|(symbol, n)| *n == 5 || (symbol == FIRST_DAY && *n == 1)));
}

// --- the binary -------------------------------------------------------------------------------

/// The URL of the test's database, made simulated so the binary honours `ASCEND_NOW`.
async fn ascend_cli(pool: &PgPool) -> String {
    common::Cli::new(pool).await.url
}

/// `ascend crawl-stocks --any-day --min-rows 10` on the test's database against the site.
fn crawl_command(url: &str, site: &NaverSite, config: &tempfile::TempDir) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ascend"));
    cmd.args(["crawl-stocks", "--any-day", "--min-rows", "10"])
        .env("DATABASE_URL", url)
        .env("ASCEND_NOW", SESSION)
        .env("ASCEND_CONFIG_DIR", config.path())
        .env_remove("ASCEND_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in site.env() {
        cmd.env(name, value);
    }
    cmd
}

#[sqlx::test]
async fn the_binary_exits_5_with_one_line_naming_the_url(pool: PgPool) {
    let url = ascend_cli(&pool).await;
    let config = tempfile::tempdir().unwrap();
    let site = NaverSite::start(SiteSpec::small()).await;
    site.inject(Fault::Html.on(Endpoint::StockDefault).matching("KOSDAQ"));
    let o = crawl_command(&url, &site, &config).output().unwrap();
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: market data: {}/api/domestic/market/stock/default?tradeType=KRX&marketType=KOSDAQ&",
            site.uri()
        )) && err.contains("not JSON"),
        "{err}"
    );
    let stocks: i64 = scalar(&pool, "SELECT count(*) FROM stocks").await;
    assert_eq!(stocks, 0);

    site.clear_faults();
    let o = crawl_command(&url, &site, &config).output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let stocks: i64 = scalar(&pool, "SELECT count(*) FROM stocks").await;
    assert_eq!(stocks as usize, site.codes().len());
}

/// Starts a crawl against a slow site, sends `signal` once the site has its first request, and
/// returns what the binary did.
async fn crawl_stopped_by(pool: &PgPool, signal: &str) -> Output {
    let url = ascend_cli(pool).await;
    let config = tempfile::tempdir().unwrap();
    let site = NaverSite::start(SiteSpec {
        delay: Duration::from_secs(1),
        ..SiteSpec::small()
    })
    .await;
    let child = crawl_command(&url, &site, &config).spawn().unwrap();
    // Wait (without a time limit on the behaviour under test) until the crawl is under way.
    for _ in 0..600 {
        if site.request_count() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(site.request_count() > 0, "the crawl never reached the site");
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    child.wait_with_output().unwrap()
}

#[sqlx::test]
async fn sigterm_mid_crawl_exits_143_writes_no_stocks_and_records_the_run(pool: PgPool) {
    let o = crawl_stopped_by(&pool, "-TERM").await;
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("interrupted by SIGTERM"),
        "{}",
        stderr(&o)
    );
    let stocks: i64 = scalar(&pool, "SELECT count(*) FROM stocks").await;
    assert_eq!(stocks, 0);
    assert_eq!(
        runs(&pool).await,
        vec![(false, Some("interrupted by SIGTERM".to_string()))]
    );
}

#[sqlx::test]
async fn sigint_mid_crawl_exits_130_writes_no_stocks_and_records_the_run(pool: PgPool) {
    let o = crawl_stopped_by(&pool, "-INT").await;
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("interrupted by SIGINT"),
        "{}",
        stderr(&o)
    );
    let stocks: i64 = scalar(&pool, "SELECT count(*) FROM stocks").await;
    assert_eq!(stocks, 0);
    assert_eq!(
        runs(&pool).await,
        vec![(false, Some("interrupted by SIGINT".to_string()))]
    );
}

// --- orders on what a crawl stored -----------------------------------------------------------

#[sqlx::test]
async fn orders_follow_the_rules_of_the_crawled_instrument(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let site = NaverSite::start(SiteSpec::small()).await;
    run(&app, site.config(), &opts()).await.unwrap();
    let u = user(&app, "etf@example.com", 100_000_000).await;

    // An ETF trades on its 5-won tick: 20,210 is a price, 20,212 is not.
    let placed = orders::place(&app, u, &req(ETF, "buy", "10", Some("20210")))
        .await
        .unwrap();
    assert_eq!(placed.fill.unwrap().price, Decimal::from(20_210));
    let e = orders::place(&app, u, &req(ETF, "buy", "1", Some("20212")))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Invalid(i) if i.field == "price"),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(
            "20,212 is not on the 5-won ETF tick for its level (nearest: 20,210 or 20,215)"
        ),
        "{e}"
    );

    // Selling an ETF pays no transaction tax; selling a stock does.
    orders::place(&app, u, &req(ETF, "sell", "10", None))
        .await
        .unwrap();
    orders::place(&app, u, &req(SAMSUNG, "buy", "10", None))
        .await
        .unwrap();
    orders::place(&app, u, &req(SAMSUNG, "sell", "10", None))
        .await
        .unwrap();
    let sells: Vec<(String, Decimal, Decimal)> = orders::trades(&app, u, 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.side == "sell")
        .map(|f| (f.code, f.amount, f.tax))
        .collect();
    assert_eq!(sells.len(), 2, "{sells:?}");
    for (code, amount, tax) in &sells {
        match code.as_str() {
            ETF => assert_eq!(*tax, Decimal::ZERO, "{code}"),
            SAMSUNG => assert_eq!(
                *tax,
                (*amount * ascend::domain::rules::sell_tax_rate(site.today())).floor(),
                "{code}"
            ),
            other => panic!("a sell of {other}"),
        }
    }
    assert!(sells.iter().any(|s| s.0 == SAMSUNG && s.2 > Decimal::ZERO));

    // A halted stock takes no orders.
    let e = orders::place(&app, u, &req(HALTED, "buy", "1", None))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Rejected(m) if m.contains("halted")),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), ascend::exit::REJECTED);

    // On its first day a new listing trades up to 400% of its base: 350% is taken, 410% is not.
    let base = FIRST_DAY_BASE;
    let placed = orders::place(
        &app,
        u,
        &req(FIRST_DAY, "buy", "1", Some(&(base * 35 / 10).to_string())),
    )
    .await
    .unwrap();
    assert_eq!(placed.order.limit_price, Some(Decimal::from(35_000)));
    let e = orders::place(
        &app,
        u,
        &req(FIRST_DAY, "buy", "1", Some(&(base * 41 / 10).to_string())),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().starts_with("price:"), "{e}");
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn after_16_00_only_the_stored_regular_close_counts_as_regular(pool: PgPool) {
    let site = NaverSite::start(SiteSpec::full()).await;
    // 10:00: an intraday crawl. 16:30: the same rows, not marked after-market. No crawl since
    // the close stored the day's regular close, so they cannot prove they are it: every stock
    // (but the halted one) is kept aside as after-market and the 10:00 prices stay.
    run(&app_at(&pool, SESSION), site.config(), &opts())
        .await
        .unwrap();
    let s = run(&app_at(&pool, "2026-11-24 16:30"), site.config(), &opts())
        .await
        .unwrap();
    assert_eq!(s.after_market, 950 + 1_820 - 1);
    // Had a crawl run at 15:40, it would have stored each stock's regular close as the day's
    // bar; then the rows at those prices are the regular close and stay regular.
    let closed = run(&app_at(&pool, "2026-11-24 15:40"), site.config(), &opts())
        .await
        .unwrap();
    assert!(closed.bars > 2_000, "{closed:?}");
    let s = run(&app_at(&pool, "2026-11-24 16:45"), site.config(), &opts())
        .await
        .unwrap();
    assert_eq!(s.after_market, 0);
}
