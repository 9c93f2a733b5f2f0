//! crawl-stocks end to end into PostgreSQL: through a local HTTP server serving pages in
//! Naver's structure, record then replay, the simulator, unlisted stocks, pages that must fail
//! without writing anything, and the calendar the crawled bars give.

mod common;

use std::time::Duration;

use ascend::app::crawl::{crawl, CrawlOptions, CrawlSummary};
use ascend::app::App;
use ascend::domain::calendar::DaySource;
use ascend::domain::Market;
use ascend::market::naver::{Naver, NaverConfig};
use ascend::market::{MarketData, Sim};
use common::*;
use rust_decimal::Decimal;
use sqlx::PgPool;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/naver/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn euc_kr(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/html; charset=EUC-KR")
        .set_body_bytes(body)
}

/// A local server with both listings (one page each, then an empty page), both indices and
/// daily bars for every symbol.
async fn naver_server(kospi_page1: &str) -> MockServer {
    let server = MockServer::start().await;
    for (sosok, first) in [
        ("0", kospi_page1),
        ("1", "sise_market_sum_sosok1_page1.html"),
    ] {
        Mock::given(method("GET"))
            .and(path("/sise/sise_market_sum.naver"))
            .and(query_param("sosok", sosok))
            .and(query_param("page", "1"))
            .respond_with(euc_kr(fixture(first)))
            .mount(&server)
            .await;
        for page in 2..=12 {
            Mock::given(method("GET"))
                .and(path("/sise/sise_market_sum.naver"))
                .and(query_param("sosok", sosok))
                .and(query_param("page", page.to_string()))
                .respond_with(euc_kr(fixture("sise_market_sum_sosok0_page51_empty.html")))
                .mount(&server)
                .await;
        }
    }
    for code in ["KOSPI", "KOSDAQ"] {
        Mock::given(method("GET"))
            .and(path("/sise/sise_index.naver"))
            .and(query_param("code", code))
            .respond_with(euc_kr(fixture(&format!("sise_index_{code}.html"))))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/sise.nhn"))
        .and(query_param("symbol", "KOSPI"))
        .respond_with(euc_kr(fixture("fchart_KOSPI_day.xml")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/sise.nhn"))
        .respond_with(euc_kr(fixture("fchart_005930_day.xml")))
        .mount(&server)
        .await;
    server
}

fn config(server: &MockServer) -> NaverConfig {
    NaverConfig {
        finance_url: server.uri(),
        polling_url: server.uri(),
        fchart_url: server.uri(),
        timeout: Duration::from_millis(500),
        backoff: Duration::from_millis(5),
        retries: 1,
        ..Default::default()
    }
}

fn opts(history: Option<u32>) -> CrawlOptions {
    CrawlOptions {
        markets: vec![Market::Kospi, Market::Kosdaq],
        history_days: history,
        min_rows: 1,
        source: "test".into(),
        concurrency: 4,
    }
}

async fn run<M: MarketData>(
    app: &App,
    source: &M,
    history: Option<u32>,
) -> ascend::Result<CrawlSummary> {
    crawl(app, source, &opts(history), &|_| {}).await
}

type StockRowT = (
    String,
    String,
    String,
    Decimal,
    Decimal,
    Option<i64>,
    Option<Decimal>,
    bool,
);

async fn stock_rows(pool: &PgPool) -> Vec<StockRowT> {
    sqlx::query_as("SELECT code, name, market, price, prev_close, volume, market_cap, listed FROM stocks ORDER BY code")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn crawl_through_a_local_server_writes_listings_indices_and_bars(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let server = naver_server("sise_market_sum_sosok0_page1.html").await;
    let naver = Naver::http(config(&server)).unwrap();
    let s = run(&app, &naver, Some(5)).await.unwrap();
    // One page of rows per market (the empty pages that end each listing are not counted).
    assert_eq!(s.pages, 2, "{s:?}");
    assert!(s.rows >= 10, "{s:?}");
    assert_eq!((s.new, s.changed, s.unlisted, s.indices), (s.rows, 0, 0, 2));
    assert_eq!(s.retries, 0);
    let rows = stock_rows(&pool).await;
    let samsung = rows.iter().find(|r| r.0 == "005930").unwrap();
    // 55,900 down 700 from 56,600; market cap 3,337,111 억원.
    assert_eq!(
        (samsung.1.as_str(), samsung.2.as_str()),
        ("삼성전자", "KOSPI")
    );
    assert_eq!((samsung.3, samsung.4), (dec(55_900), dec(56_600)));
    assert_eq!(samsung.5, Some(12_345_678));
    assert_eq!(
        samsung.6,
        Some(Decimal::from(3_337_111i64) * Decimal::from(100_000_000i64))
    );
    assert!(rows
        .iter()
        .any(|r| r.0 == "0126Z0" && r.3 == dec(12_950) && r.4 == dec(9_980)));
    assert!(rows.iter().any(|r| r.2 == "KOSDAQ"));
    let index: Decimal = sqlx::query_scalar("SELECT value FROM indices WHERE code = 'KOSPI'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(index > Decimal::ZERO);
    let bars: i64 = sqlx::query_scalar("SELECT count(*) FROM daily_bars WHERE symbol = '005930'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(bars, 5);
    let runs: Vec<(bool, Option<String>)> = sqlx::query_as("SELECT ok, error FROM crawl_runs")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(runs, vec![(true, None)]);

    // A second crawl of the same pages changes nothing.
    let again = run(&app, &naver, None).await.unwrap();
    assert_eq!((again.new, again.changed, again.unlisted), (0, 0, 0));
}

#[sqlx::test]
async fn a_drifted_or_truncated_page_fails_loudly_and_keeps_the_last_good_data(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let good = naver_server("sise_market_sum_sosok0_page1.html").await;
    run(&app, &Naver::http(config(&good)).unwrap(), None)
        .await
        .unwrap();
    let before = stock_rows(&pool).await;

    for (page, what) in [
        (
            "sise_market_sum_drift_class_renamed.html",
            "sise_market_sum.naver?sosok=0&page=1",
        ),
        (
            "sise_market_sum_sosok0_page2_truncated.html",
            "sise_market_sum.naver?sosok=0&page=1",
        ),
        (
            "sise_market_sum_utf8_mislabeled_euckr.html",
            "sise_market_sum.naver?sosok=0&page=1",
        ),
    ] {
        let bad = naver_server(page).await;
        let later = app_at(&pool, "2026-11-24 10:05");
        let e = run(&later, &Naver::http(config(&bad)).unwrap(), None)
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(what), "{page}: {msg}");
        assert_eq!(e.exit_code(), ascend::exit::INFRA);
        assert_eq!(stock_rows(&pool).await, before, "{page}: nothing written");
    }
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM crawl_runs WHERE NOT ok AND error IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(failed, 3);

    // A server error on every try: the crawl fails naming the status, and nothing is written.
    let down = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&down)
        .await;
    let e = run(&app, &Naver::http(config(&down)).unwrap(), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("HTTP 503"), "{e}");
    assert_eq!(stock_rows(&pool).await, before);
}

#[sqlx::test]
async fn a_price_outside_its_band_fails_the_crawl_naming_the_page(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    // Samsung at 55,900 "down 70,000": a previous close of 125,900, whose band starts at 88,200.
    let page = fixture("sise_market_sum_sosok0_page1.html");
    let (text, _, _) = encoding_rs::EUC_KR.decode(&page);
    let bad = text.replacen("\n\t\t\t\t700\n", "\n\t\t\t\t70,000\n", 1);
    assert_ne!(bad, text);
    let (bytes, _, _) = encoding_rs::EUC_KR.encode(&bad);
    let server = naver_server("sise_market_sum_sosok0_page51_empty.html").await;
    Mock::given(method("GET"))
        .and(path("/sise/sise_market_sum.naver"))
        .and(query_param("sosok", "0"))
        .and(query_param("page", "1"))
        .respond_with(euc_kr(bytes.into_owned()))
        .with_priority(1)
        .mount(&server)
        .await;
    let e = run(&app, &Naver::http(config(&server)).unwrap(), None)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("/sise/sise_market_sum.naver?sosok=0&page=1"),
        "{msg}"
    );
    assert!(
        msg.starts_with("market data: http://")
            && msg.contains("listing row \"005930\"")
            && msg.contains("outside today's band 88,200"),
        "{msg}"
    );
    assert!(stock_rows(&pool).await.is_empty());
}

#[sqlx::test]
async fn the_row_floor_and_price_sanity_refuse_a_listing(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let server = naver_server("sise_market_sum_sosok0_page1.html").await;
    let naver = Naver::http(config(&server)).unwrap();
    let mut o = opts(None);
    o.min_rows = 500;
    let e = crawl(&app, &naver, &o, &|_| {}).await.unwrap_err();
    assert!(e.to_string().contains("fewer than the floor of 500"), "{e}");
    assert!(stock_rows(&pool).await.is_empty());

    // A price outside the band of its previous close is refused.
    let row = ascend::market::ListingRow {
        code: "005930".into(),
        name: "삼성전자".into(),
        price: dec(80_000),
        change: dec(23_400),
        change_rate: Decimal::new(4134, 2),
        volume: 1,
        market_cap_eok: dec(1),
        listed_shares_thousand: 1,
    };
    let e = ascend::market::listing_quote(Market::Kospi, &row).unwrap_err();
    assert!(e.contains("outside today's band"), "{e}");
    let off_tick = ascend::market::ListingRow {
        price: dec(55_950),
        change: dec(-650),
        ..row.clone()
    };
    assert!(ascend::market::listing_quote(Market::Kospi, &off_tick)
        .unwrap_err()
        .contains("tick"));
    let bad_code = ascend::market::ListingRow {
        code: "5930".into(),
        change: dec(0),
        price: dec(55_900),
        ..row
    };
    assert!(ascend::market::listing_quote(Market::Kospi, &bad_code)
        .unwrap_err()
        .contains("code"));
}

#[sqlx::test]
async fn record_then_replay_gives_identical_rows(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let app = app_at(&pool, SESSION);
    let server = naver_server("sise_market_sum_sosok0_page1.html").await;
    let recording = NaverConfig {
        record_dir: Some(dir.path().to_path_buf()),
        ..config(&server)
    };
    run(&app, &Naver::http(recording).unwrap(), Some(5))
        .await
        .unwrap();
    let live = stock_rows(&pool).await;
    let live_bars: Vec<(String, chrono::NaiveDate, Decimal)> =
        sqlx::query_as("SELECT symbol, date, close FROM daily_bars ORDER BY 1, 2")
            .fetch_all(&pool)
            .await
            .unwrap();
    drop(server);

    sqlx::query("TRUNCATE stocks, daily_bars, indices CASCADE")
        .execute(&pool)
        .await
        .unwrap();
    let replay = Naver::replay(dir.path(), NaverConfig::default()).unwrap();
    run(&app, &replay, Some(5)).await.unwrap();
    assert_eq!(stock_rows(&pool).await, live);
    let replay_bars: Vec<(String, chrono::NaiveDate, Decimal)> =
        sqlx::query_as("SELECT symbol, date, close FROM daily_bars ORDER BY 1, 2")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(replay_bars, live_bars);
}

#[sqlx::test]
async fn the_simulator_crawls_deterministically_and_unlisted_stocks_are_kept(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let sim = Sim::new(7, app.clock);
    run(&app, &sim, Some(3)).await.unwrap();
    let first = stock_rows(&pool).await;
    assert_eq!(first.len(), ascend::market::sim::listings().len());
    // A stock no longer in the listing, with an order pointing at it, is marked unlisted.
    seed_stocks(&app).await;
    let u = user(&app, "keep@example.com", 10_000_000).await;
    ascend::app::orders::place(&app, u, &req("900001", "buy", "1", None))
        .await
        .unwrap();
    let s = run(&app, &Sim::new(7, app.clock), None).await.unwrap();
    assert_eq!(s.unlisted, 1);
    let listed: bool = sqlx::query_scalar("SELECT listed FROM stocks WHERE code = '900001'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!listed);
    // The same seed and clock give the same rows.
    sqlx::query("DELETE FROM stocks WHERE code NOT IN (SELECT code FROM orders)")
        .execute(&pool)
        .await
        .unwrap();
    run(&app, &Sim::new(7, app.clock), None).await.unwrap();
    let again: Vec<_> = stock_rows(&pool)
        .await
        .into_iter()
        .filter(|r| r.0 != "900001")
        .collect();
    assert_eq!(again, first);
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn the_calendar_follows_crawled_kospi_bars_and_the_holiday_table(pool: PgPool) {
    let app = app_at(&pool, "2026-10-12 16:00");
    run(&app, &Sim::new(3, app.clock), Some(15)).await.unwrap();
    let cal = ascend::store::market::calendar(&mut pool.acquire().await.unwrap())
        .await
        .unwrap();
    let d = |m, dd| chrono::NaiveDate::from_ymd_opt(2026, m, dd).unwrap();
    // Chuseok and the holidays around it: no bars, not trading days.
    for day in [d(9, 24), d(9, 25), d(10, 5), d(10, 9)] {
        let info = cal.day(day).unwrap();
        assert_eq!(info.source, DaySource::Bars, "{day}");
        assert!(!info.trading(), "{day}");
    }
    assert_eq!(cal.is_trading_day(d(10, 12)), Ok(true));
    assert_eq!(cal.next_trading_day(d(9, 23)), Ok(d(9, 28)));
    assert_eq!(cal.previous_trading_day(d(10, 12)), Ok(d(10, 8)));
    // Beyond the bars the table decides: 2026-12-31 is the year-end closing day.
    let year_end = cal.day(d(12, 31)).unwrap();
    assert_eq!(
        (year_end.trading(), year_end.source),
        (false, DaySource::Table)
    );
    assert_eq!(cal.is_trading_day(d(12, 30)), Ok(true));
}

#[sqlx::test]
async fn past_the_holiday_table_only_crawled_bars_answer(pool: PgPool) {
    let d = |m, dd| chrono::NaiveDate::from_ymd_opt(2028, m, dd).unwrap();
    let calendar = || async {
        ascend::store::market::calendar(&mut pool.acquire().await.unwrap())
            .await
            .unwrap()
    };
    // Nothing crawled: 2028 is beyond the table, and the calendar says so.
    let e = calendar().await.day(d(3, 2)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "calendar: 2028 is past the KRX holiday table (2024–2027) and no crawled index bars \
         cover 2028-03-02; crawl with --history or update the table"
    );
    // The simulator's KOSPI bars for the weeks before 2028-03-10 answer for those days.
    let app = app_at(&pool, "2028-03-10 16:00");
    run(&app, &Sim::new(3, app.clock), Some(40)).await.unwrap();
    let cal = calendar().await;
    let day = cal.day(d(3, 2)).unwrap();
    assert_eq!(day.source, DaySource::Bars);
    assert!(day.trading());
    assert_eq!(day.opens_at(), chrono::NaiveTime::from_hms_opt(9, 0, 0));
    assert_eq!(
        cal.is_trading_day(d(3, 4)),
        Ok(false),
        "a Saturday inside the bars"
    );
    // After the last bar the calendar cannot answer again.
    assert_eq!(cal.day(d(3, 13)).unwrap_err().date, d(3, 13));
}
