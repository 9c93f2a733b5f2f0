//! crawl-stocks end to end into PostgreSQL with the simulated market: determinism, unlisted
//! stocks that are kept, and the calendar the crawled KOSPI bars give.

mod common;

use ascend::app::crawl::{crawl, CrawlOptions, CrawlSummary};
use ascend::app::App;
use ascend::domain::calendar::DaySource;
use ascend::domain::Market;
use ascend::market::{MarketData, Sim};
use common::*;
use rust_decimal::Decimal;
use sqlx::PgPool;

fn opts(history: Option<u32>) -> CrawlOptions {
    CrawlOptions {
        markets: vec![Market::Kospi, Market::Kosdaq],
        history_days: history,
        min_rows: 1,
        source: "test".into(),
        concurrency: 4,
        allow_mass_unlist: false,
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

#[sqlx::test]
async fn a_crawl_after_the_close_writes_the_regular_close_as_the_days_bar(pool: PgPool) {
    // During the session: no bar for today.
    let app = app_at(&pool, "2026-11-24 14:00");
    let s = run(&app, &Sim::new(7, app.clock), None).await.unwrap();
    assert_eq!(s.bars, 0);
    // After 15:30 every traded stock gets today's bar, its close the stored price. ETFs come
    // from marketValue, which gives no open, high or low: their bars come from the chart.
    let app = app_at(&pool, "2026-11-24 15:40");
    let s = run(&app, &Sim::new(7, app.clock), None).await.unwrap();
    let listed = ascend::market::sim::listings().len() as u64;
    assert_eq!(s.bars, listed - s.etfs);
    let off: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM daily_bars b JOIN stocks s ON s.code = b.symbol
         WHERE b.date = '2026-11-24' AND (NOT b.regular OR b.close <> s.price)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(off, 0);
}

#[sqlx::test]
async fn a_bar_whose_close_includes_the_after_market_never_replaces_a_regular_one(pool: PgPool) {
    use ascend::market::Bar;
    use ascend::store::market::upsert_bars;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let bar = |close: i64| Bar {
        date: day,
        open: Decimal::from(273_500),
        high: Decimal::from(276_000),
        low: Decimal::from(272_000),
        close: Decimal::from(close),
        volume: 10,
    };
    let from = Some(ascend::domain::rules::after_market_start());
    let mut conn = pool.acquire().await.unwrap();
    let read = || async {
        sqlx::query_as::<_, (Decimal, bool)>(
            "SELECT close, regular FROM daily_bars WHERE symbol = '005930'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    // A chart bar (its close is the 19:xx after-market print) is stored as not regular ...
    upsert_bars(&mut conn, &[("005930".into(), bar(275_500))], from)
        .await
        .unwrap();
    assert_eq!(read().await, (Decimal::from(275_500), false));
    // ... the regular close replaces it ...
    upsert_bars(&mut conn, &[("005930".into(), bar(274_500))], None)
        .await
        .unwrap();
    assert_eq!(read().await, (Decimal::from(274_500), true));
    // ... and a later chart bar does not replace the regular close.
    upsert_bars(&mut conn, &[("005930".into(), bar(275_500))], from)
        .await
        .unwrap();
    assert_eq!(read().await, (Decimal::from(274_500), true));
}

#[sqlx::test]
async fn a_daily_history_crawl_adds_each_days_index_bar(pool: PgPool) {
    // As the snapshot unit runs it: `--history 1` after each day's close.
    for day in ["2026-11-24", "2026-11-25", "2026-11-26"] {
        let app = app_at(&pool, &format!("{day} 16:50"));
        run(&app, &Sim::new(7, app.clock), Some(1)).await.unwrap();
    }
    let dates: Vec<chrono::NaiveDate> = sqlx::query_scalar(
        "SELECT date FROM daily_bars WHERE symbol = 'KOSPI' AND date >= '2026-11-24' ORDER BY date",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let d = |dd| chrono::NaiveDate::from_ymd_opt(2026, 11, dd).unwrap();
    assert_eq!(dates, [d(24), d(25), d(26)]);
    // ETFs (no closing bar from the listing) get theirs from the chart every day too.
    let etf: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM daily_bars WHERE symbol = '069500' AND date >= '2026-11-24'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(etf, 3);
}
