//! Daily snapshots against a real PostgreSQL: idempotence, trading days, backfill from stored
//! bars equal to day-by-day runs, refused dates, and the assets trend with KOSPI rebased.

mod common;

use ascend::app::orders::{self, OrderRequest};
use ascend::app::snapshot::{snapshot, DayResult};
use ascend::app::{assets, settle};
use ascend::market::Bar;
use ascend::store::market::upsert_bars;
use chrono::{DateTime, NaiveDate, Utc};
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sqlx::PgPool;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

type Row = (
    i64,
    NaiveDate,
    Decimal,
    Decimal,
    Decimal,
    Option<Decimal>,
    Option<Decimal>,
);

/// Every snapshot column but `taken_at`, by date and user.
async fn rows(pool: &PgPool) -> Vec<Row> {
    sqlx::query_as(
        "SELECT user_id, date, cash, stock_value, total, daily_return, cumulative_return
         FROM snapshots ORDER BY date, user_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn taken_at(pool: &PgPool) -> Vec<DateTime<Utc>> {
    sqlx::query_scalar("SELECT taken_at FROM snapshots ORDER BY date, user_id")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Daily bars with the close as every price.
async fn bars(pool: &PgPool, symbol: &str, closes: &[(&str, Decimal)]) {
    let bars: Vec<(String, Bar)> = closes
        .iter()
        .map(|(date, c)| {
            (
                symbol.to_string(),
                Bar {
                    date: d(date),
                    open: *c,
                    high: *c,
                    low: *c,
                    close: *c,
                    volume: 1_000,
                },
            )
        })
        .collect();
    upsert_bars(&mut pool.acquire().await.unwrap(), &bars, None)
        .await
        .unwrap();
}

/// Users A, B and C trading over 2026-11-16 (Mon) to 2026-11-23 (Mon), with daily bars for
/// KOSPI (the calendar) and the two stocks held. Returns the user ids.
///
/// - 11-16 09:00: A (10,000,000) and B (5,000,000) sign up.
/// - 11-17 10:00: A buys 10 × 005930 @ 55,900: 559,000 + fee 83.
/// - 11-18 11:00: B places a GTC buy of 3 × 000660 @ 170,000 (price 175,000): it rests,
///   reserving 510,000 + fee 76 = 510,076.
/// - 11-19 10:00: A sells 4 × 005930 @ 57,000: 228,000 − fee 34 − tax 456 = 227,510.
/// - 11-19 12:00: C (3,000,000) signs up.
/// - 11-20 10:00: 000660 falls to 169,500; settle fills B's buy there: 508,500 + fee 76.
/// - 11-23 10:00: A buys 2 × 000660 @ 178,200: 356,400 + fee 53.
async fn history(pool: &PgPool) -> (i64, i64, i64) {
    let start = app_at(pool, "2026-11-16 09:00");
    seed_stocks(&start).await;
    let a = user(&start, "a@example.com", 10_000_000).await;
    let b = user(&start, "b@example.com", 5_000_000).await;

    let t = app_at(pool, "2026-11-17 10:00");
    set_price(&t, "005930", 55_900).await;
    orders::place(&t, a, &req("005930", "buy", "10", None))
        .await
        .unwrap();

    let t = app_at(pool, "2026-11-18 11:00");
    set_price(&t, "000660", 175_000).await;
    let gtc = OrderRequest::parse(
        "000660",
        "buy",
        "3",
        Some("170000"),
        false,
        Some("gtc"),
        None,
    )
    .unwrap();
    let placed = orders::place(&t, b, &gtc).await.unwrap();
    assert_eq!(placed.order.status, "open");

    let t = app_at(pool, "2026-11-19 10:00");
    set_price(&t, "005930", 57_000).await;
    orders::place(&t, a, &req("005930", "sell", "4", None))
        .await
        .unwrap();
    let c = user(
        &app_at(pool, "2026-11-19 12:00"),
        "c@example.com",
        3_000_000,
    )
    .await;

    let t = app_at(pool, "2026-11-20 10:00");
    set_price(&t, "000660", 169_500).await;
    assert_eq!(settle::settle(&t, false, 100).await.unwrap().filled, 1);

    let t = app_at(pool, "2026-11-23 10:00");
    set_price(&t, "000660", 178_200).await;
    orders::place(&t, a, &req("000660", "buy", "2", None))
        .await
        .unwrap();

    bars(
        pool,
        "KOSPI",
        &[
            ("2026-11-16", dec!(2480)),
            ("2026-11-17", dec!(2490)),
            ("2026-11-18", dec!(2500)),
            ("2026-11-19", dec!(2550)),
            ("2026-11-20", dec!(2450)),
            ("2026-11-23", dec!(2520)),
        ],
    )
    .await;
    bars(
        pool,
        "005930",
        &[
            ("2026-11-16", dec(55_000)),
            ("2026-11-17", dec(56_000)),
            ("2026-11-18", dec(56_500)),
            ("2026-11-19", dec(57_500)),
            ("2026-11-20", dec(58_000)),
            ("2026-11-23", dec(58_500)),
        ],
    )
    .await;
    bars(
        pool,
        "000660",
        &[
            ("2026-11-16", dec(176_000)),
            ("2026-11-17", dec(177_000)),
            ("2026-11-18", dec(175_000)),
            ("2026-11-19", dec(172_000)),
            ("2026-11-20", dec(170_000)),
            ("2026-11-23", dec(180_000)),
        ],
    )
    .await;
    (a, b, c)
}

/// After the close of the day after the history.
const AFTER: &str = "2026-11-24 18:00";

#[sqlx::test]
async fn snapshotting_a_date_twice_gives_the_same_rows(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u1 = user(&app, "one@example.com", 10_000_000).await;
    let u2 = user(&app, "two@example.com", 2_000_000).await;
    let u3 = user(&app, "three@example.com", 0).await;
    orders::place(&app, u1, &req("005930", "buy", "10", None))
        .await
        .unwrap();
    orders::place(&app, u2, &req("000660", "buy", "1", Some("170000")))
        .await
        .unwrap();
    let day = d("2026-11-24");

    let first = snapshot(&app_at(&pool, "2026-11-24 18:00"), day, day)
        .await
        .unwrap();
    let once = rows(&pool).await;
    let taken_once = taken_at(&pool).await;
    let second = snapshot(&app_at(&pool, "2026-11-24 19:00"), day, day)
        .await
        .unwrap();
    let twice = rows(&pool).await;

    assert_eq!(first.days[0].users, Some(3));
    assert_eq!(second.days[0].users, Some(3));
    assert_eq!(once, twice);
    // Rewritten, not added: still one row per user, with the later taken_at.
    assert_eq!(twice.len(), 3);
    assert!(taken_at(&pool)
        .await
        .iter()
        .all(|t| !taken_once.contains(t)));
    // u1: 10,000,000 − 559,083 = 9,440,917 cash; 10 × 55,900 (the price stored that day).
    // u2: the resting order's reservation is still cash. No snapshot before: no daily return.
    assert_eq!(
        twice,
        vec![
            (
                u1,
                day,
                dec(9_440_917),
                dec(559_000),
                dec(9_999_917),
                None,
                Some(dec!(-0.0008))
            ),
            (
                u2,
                day,
                dec(2_000_000),
                dec(0),
                dec(2_000_000),
                None,
                Some(dec!(0.0000))
            ),
            (u3, day, dec(0), dec(0), dec(0), None, None),
        ]
    );
}

#[sqlx::test]
async fn weekends_and_krx_holidays_are_skipped_with_a_note(pool: PgPool) {
    // Chuseok 2026: Thursday 09-24 and Friday 09-25 are KRX closures, then the weekend.
    let t = app_at(&pool, "2026-09-23 10:00");
    seed_stocks(&t).await;
    let u = user(&t, "chuseok@example.com", 10_000_000).await;
    orders::place(&t, u, &req("005930", "buy", "10", None))
        .await
        .unwrap();
    bars(
        &pool,
        "005930",
        &[("2026-09-23", dec(55_900)), ("2026-09-28", dec(57_000))],
    )
    .await;

    let s = snapshot(
        &app_at(&pool, "2026-09-30 18:00"),
        d("2026-09-23"),
        d("2026-09-28"),
    )
    .await
    .unwrap();

    let skipped = |date: &str| DayResult {
        date: d(date),
        users: None,
        note: Some("not a trading day: skipped".into()),
    };
    let taken = |date: &str| DayResult {
        date: d(date),
        users: Some(1),
        note: None,
    };
    assert_eq!(
        s.days,
        vec![
            taken("2026-09-23"),
            skipped("2026-09-24"),
            skipped("2026-09-25"),
            skipped("2026-09-26"),
            skipped("2026-09-27"),
            taken("2026-09-28"),
        ]
    );
    // Rows only for the two trading days. 09-23: 9,440,917 + 10 × 55,900 = 9,999,917.
    // 09-28: 9,440,917 + 10 × 57,000 = 10,010,917; its daily return is against 09-23, the
    // previous trading day: 11,000 / 9,999,917 = 0.110001 % → 0.1100.
    assert_eq!(
        rows(&pool).await,
        vec![
            (
                u,
                d("2026-09-23"),
                dec(9_440_917),
                dec(559_000),
                dec(9_999_917),
                None,
                Some(dec!(-0.0008))
            ),
            (
                u,
                d("2026-09-28"),
                dec(9_440_917),
                dec(570_000),
                dec(10_010_917),
                Some(dec!(0.1100)),
                Some(dec!(0.1092))
            ),
        ]
    );
}

#[sqlx::test]
async fn a_backfill_equals_snapshotting_day_by_day(pool: PgPool) {
    let (a, b, c) = history(&pool).await;
    let app = app_at(&pool, AFTER);
    let (from, to) = (d("2026-11-16"), d("2026-11-23"));

    let s = snapshot(&app, from, to).await.unwrap();
    let users: Vec<(NaiveDate, Option<u64>)> = s.days.iter().map(|r| (r.date, r.users)).collect();
    assert_eq!(
        users,
        vec![
            (d("2026-11-16"), Some(2)),
            (d("2026-11-17"), Some(2)),
            (d("2026-11-18"), Some(2)),
            (d("2026-11-19"), Some(3)),
            (d("2026-11-20"), Some(3)),
            (d("2026-11-21"), None),
            (d("2026-11-22"), None),
            (d("2026-11-23"), Some(3)),
        ]
    );
    let backfilled = rows(&pool).await;

    sqlx::query("DELETE FROM snapshots")
        .execute(&pool)
        .await
        .unwrap();
    for day in from.iter_days().take_while(|x| *x <= to) {
        snapshot(&app, day, day).await.unwrap();
    }
    let day_by_day = rows(&pool).await;
    assert_eq!(backfilled, day_by_day);
    assert_eq!(backfilled.len(), 2 + 2 + 2 + 3 + 3 + 3);

    let of = |user: i64, date: &str| {
        backfilled
            .iter()
            .find(|r| r.0 == user && r.1 == d(date))
            .map(|r| (r.2, r.3, r.4, r.5, r.6))
    };
    // A before any trade: the cash as of 11-16, every later movement subtracted.
    assert_eq!(
        of(a, "2026-11-16"),
        Some((
            dec(10_000_000),
            dec(0),
            dec(10_000_000),
            None,
            Some(dec!(0))
        ))
    );
    // A on 11-17, though it sold on 11-19 and bought again on 11-23: 10,000,000 − 559,083 =
    // 9,440,917 cash; 10 shares at the 11-17 close 56,000 = 560,000; total 10,000,917;
    // 917 / 10,000,000 = 0.00917 % → 0.0092 (daily and cumulative alike).
    assert_eq!(
        of(a, "2026-11-17"),
        Some((
            dec(9_440_917),
            dec(560_000),
            dec(10_000_917),
            Some(dec!(0.0092)),
            Some(dec!(0.0092))
        ))
    );
    // A on 11-19: cash 9,440,917 + 227,510 = 9,668,427; 6 × 57,500 = 345,000; total
    // 10,013,427; daily 7,510 / 10,005,917 = 0.07506 % → 0.0751.
    assert_eq!(
        of(a, "2026-11-19"),
        Some((
            dec(9_668_427),
            dec(345_000),
            dec(10_013_427),
            Some(dec!(0.0751)),
            Some(dec!(0.1343))
        ))
    );
    // A on 11-23: cash 9,668,427 − 356,453 = 9,311,974; 6 × 58,500 + 2 × 180,000 = 711,000.
    assert_eq!(
        of(a, "2026-11-23").map(|r| (r.0, r.1, r.2)),
        Some((dec(9_311_974), dec(711_000), dec(10_022_974)))
    );
    // B on 11-18 with its order resting (filled on 11-20): the reservation is still its cash.
    assert_eq!(
        of(b, "2026-11-18").map(|r| (r.0, r.1, r.2)),
        Some((dec(5_000_000), dec(0), dec(5_000_000)))
    );
    // B on 11-20: 5,000,000 − 508,576 = 4,491,424; 3 × 170,000 = 510,000; total 5,001,424.
    assert_eq!(
        of(b, "2026-11-20").map(|r| (r.0, r.1, r.2)),
        Some((dec(4_491_424), dec(510_000), dec(5_001_424)))
    );
    // C signed up on 11-19: no row before.
    assert_eq!(of(c, "2026-11-18"), None);
    assert_eq!(of(c, "2026-11-19").map(|r| r.2), Some(dec(3_000_000)));
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn bad_dates_are_refused_naming_the_field(pool: PgPool) {
    let app = app_at(&pool, "2026-11-24 18:00");
    seed_stocks(&app).await;
    user(&app, "dates@example.com", 1_000_000).await;

    let e = snapshot(&app, d("2026-11-20"), d("2026-11-19"))
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "from: 2026-11-20 is after --to 2026-11-19");
    let e = snapshot(&app, d("2026-11-24"), d("2026-11-25"))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "date: 2026-11-25 is in the future (today is 2026-11-24 KST)"
    );
    let before_close = app_at(&pool, "2026-11-24 15:29");
    let e = snapshot(&before_close, d("2026-11-24"), d("2026-11-24"))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("date: the session of 2026-11-24 has not closed yet"),
        "{e}"
    );
    // Refused means nothing written; at the close it is taken.
    assert!(rows(&pool).await.is_empty());
    let at_close = app_at(&pool, "2026-11-24 15:30");
    let s = snapshot(&at_close, d("2026-11-24"), d("2026-11-24"))
        .await
        .unwrap();
    assert_eq!(s.days[0].users, Some(1));
    // Today on a closed day (a Saturday) is skipped, not refused.
    let saturday = app_at(&pool, "2026-11-28 10:00");
    let s = snapshot(&saturday, d("2026-11-28"), d("2026-11-28"))
        .await
        .unwrap();
    assert_eq!(s.days[0].users, None);
}

#[sqlx::test]
async fn assets_lists_snapshots_in_date_order_with_kospi_rebased(pool: PgPool) {
    let (a, _, _) = history(&pool).await;
    let app = app_at(&pool, AFTER);
    // Taken out of order: the latest day first.
    snapshot(&app, d("2026-11-20"), d("2026-11-20"))
        .await
        .unwrap();
    snapshot(&app, d("2026-11-18"), d("2026-11-19"))
        .await
        .unwrap();

    let v = assets::assets(&app, a, 30).await.unwrap();

    let totals: Vec<(NaiveDate, Decimal)> = v.snapshots.iter().map(|r| (r.date, r.total)).collect();
    assert_eq!(
        totals,
        vec![
            (d("2026-11-18"), dec(10_005_917)),
            (d("2026-11-19"), dec(10_013_427)),
            (d("2026-11-20"), dec(10_016_427)),
        ]
    );
    // KOSPI 2,500 → 2,550 → 2,450, rebased to the first total 10,005,917:
    // × 1.02 = 10,206,035.34 → 10,206,035; × 0.98 = 9,805,798.66 → 9,805,799.
    assert_eq!(
        v.kospi_rebased,
        vec![
            (d("2026-11-18"), dec(10_005_917)),
            (d("2026-11-19"), dec(10_206_035)),
            (d("2026-11-20"), dec(9_805_799)),
        ]
    );
    // Today's figures at the stored prices: 6 × 57,000 + 2 × 178,200 = 698,400, cash
    // 9,311,974, total 10,010,374: 0.10374 % → 0.10.
    assert_eq!(
        (v.cash, v.stock_valuation, v.total, v.total_return_pct),
        (
            dec(9_311_974),
            dec(698_400),
            dec(10_010_374),
            Some(dec!(0.10))
        )
    );
    // The series for the chart: total assets, then the benchmark.
    let series = v.series();
    assert_eq!(series.len(), 2);
    assert_eq!(series[1].points, v.kospi_rebased);
}
