//! The volume fill model (`fill_model` = `volume:RATE`) through the built binary: a crossed
//! order fills at most RATE of the shares its stock traded since the previous settle, shared
//! among all users' orders on the stock in price and time order; what is left stays open,
//! partially filled, holding what its remainder needs; cancel releases only the remainder.

mod common;

use std::process::Output;

use ascend::app::stocks::{self, StockQuote};
use common::*;
use rust_decimal::Decimal;
use sqlx::PgPool;

/// When the tests read orders back: after every settle they run.
const READ: &str = "2026-11-24 15:00";

fn json(o: &Output) -> serde_json::Value {
    assert_eq!(code(o), 0, "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// Stores 삼성전자 at `price` with the day's cumulative `volume`, stamped at `now` (KST), as a
/// crawl would.
async fn crawl(pool: &PgPool, now: &str, price: i64, volume: i64) {
    crawl_stock(pool, now, ("005930", "삼성전자", 56_600), price, volume).await;
}

/// Stores stock (code, name, previous close) at `price` with the day's cumulative `volume`,
/// stamped at `now` (KST).
async fn crawl_stock(pool: &PgPool, now: &str, stock: (&str, &str, i64), price: i64, volume: i64) {
    let app = app_at(pool, now);
    let (code, name, prev) = stock;
    let mut q = StockQuote::parse(code, name, "KOSPI", dec(price), dec(prev)).unwrap();
    q.volume = Some(volume);
    stocks::upsert(&app, &[q], app.clock.now()).await.unwrap();
}

const HYNIX: (&str, &str, i64) = ("000660", "SK하이닉스", 174_800);

fn settle(cli: &Cli, now: &str) -> serde_json::Value {
    json(&cli.run(&["--now", now, "settle", "--format", "json"], None))
}

fn buy(cli: &Cli, who: &str, now: &str, qty: &str, limit: &str) -> i64 {
    let v = json(&cli.run(
        &[
            "--user",
            who,
            "--now",
            now,
            "place-order",
            "005930",
            "buy",
            qty,
            "--limit",
            limit,
            "--tif",
            "gtc",
            "-f",
            "json",
        ],
        None,
    ));
    assert_eq!(v["order"]["status"], "open", "{v}");
    v["order"]["id"].as_i64().unwrap()
}

fn order(cli: &Cli, who: &str, id: i64) -> serde_json::Value {
    let v = json(&cli.run(
        &["--user", who, "--now", READ, "orders", "--format", "json"],
        None,
    ));
    v.as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("order {id} in {v}"))
}

fn filled(o: &serde_json::Value) -> (i64, i64, &str, bool) {
    (
        o["filled_quantity"].as_i64().unwrap(),
        o["remaining"].as_i64().unwrap(),
        o["status"].as_str().unwrap(),
        o["partially_filled"].as_bool().unwrap(),
    )
}

/// `audit` at `at` (KST) finds the five ledger invariants hold.
fn audit_clean(cli: &Cli, at: &str) {
    let o = cli.run(&["--now", at, "audit"], None);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("all five ledger invariants hold"));
}

/// The test's database with the seeded stocks and the fill model `volume:0.1`, set by the
/// operator as a deployment would.
async fn under_volume_model(pool: &PgPool) -> (Cli, ascend::app::App) {
    let cli = Cli::new(pool).await;
    let app = app_at(pool, SESSION);
    seed_stocks(&app).await;
    let o = cli.run(
        &["admin", "settings", "set", "fill_model", "volume:0.1"],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    (cli, app)
}

#[sqlx::test]
async fn three_users_orders_fill_in_time_order_within_the_volume_and_the_rest_stays_open(
    pool: PgPool,
) {
    let (cli, app) = under_volume_model(&pool).await;
    let emails = ["a@example.com", "b@example.com", "c@example.com"];
    let mut ids = Vec::new();
    for e in emails {
        ids.push(user(&app, e, 100_000_000).await);
    }
    // The morning traded 1,000,000 shares at 55,900; settle looks at the volume at 10:04.
    crawl(&pool, "2026-11-24 10:00", 55_900, 1_000_000).await;
    // Three buys of 100 at 55,000, placed a minute apart: C first in time, then A, then B.
    // (Placement reserves 100 × 55,000 + 825 commission = 5,500,825.)
    let c = buy(&cli, emails[2], "2026-11-24 10:01", "100", "55000");
    let a = buy(&cli, emails[0], "2026-11-24 10:02", "100", "55000");
    let b = buy(&cli, emails[1], "2026-11-24 10:03", "100", "55000");
    let s = settle(&cli, "2026-11-24 10:04");
    assert_eq!(
        (s["filled"].as_u64(), s["fill_model"].as_str()),
        (Some(0), Some("volume:0.1"))
    );

    // The price falls to 55,000 while 1,500 shares trade: 10% is 150 shares, to C's 100 and
    // the first 50 of A's; B waits.
    crawl(&pool, "2026-11-24 10:05", 55_000, 1_001_500).await;
    let s = settle(&cli, "2026-11-24 10:06");
    assert_eq!(s["filled"].as_u64(), Some(2), "{s}");
    assert_eq!(s["partially_filled"].as_u64(), Some(1), "{s}");
    assert_eq!(
        filled(&order(&cli, emails[2], c)),
        (100, 0, "filled", false)
    );
    assert_eq!(filled(&order(&cli, emails[0], a)), (50, 50, "open", true));
    assert_eq!(filled(&order(&cli, emails[1], b)), (0, 100, "open", false));
    // A paid 50 × 55,000 + 412 commission (truncated) = 2,750,412 and holds the other half of
    // its reservation, 2,750,413, for the 50 left.
    assert_eq!(
        cash(&app, ids[0]).await,
        (dec(100_000_000 - 5_500_825), dec(2_750_413))
    );
    assert_eq!(shares(&app, ids[0], "005930").await, (50, 0));
    let table = stdout(&cli.run(&["--user", emails[0], "--now", READ, "orders"], None));
    assert!(table.contains("partially_filled"), "{table}");

    // A second settle with no new volume fills nothing.
    let s = settle(&cli, "2026-11-24 10:07");
    assert_eq!(s["filled"].as_u64(), Some(0), "{s}");

    // 1,000 more shares trade: 100 for A's last 50, then 50 of B's.
    crawl(&pool, "2026-11-24 10:08", 55_000, 1_002_500).await;
    let s = settle(&cli, "2026-11-24 10:09");
    assert_eq!(s["filled"].as_u64(), Some(2), "{s}");
    assert_eq!(
        filled(&order(&cli, emails[0], a)),
        (100, 0, "filled", false)
    );
    assert_eq!(filled(&order(&cli, emails[1], b)), (50, 50, "open", true));
    assert_eq!(
        cash(&app, ids[0]).await,
        (dec(100_000_000 - 2_750_412 - 2_750_412), dec(0))
    );

    // Cancel releases only B's remainder; the filled half stays bought.
    let o = cli.run(
        &[
            "--user",
            emails[1],
            "--now",
            "2026-11-24 10:10",
            "cancel",
            &b.to_string(),
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Nothing of it is working any more: `orders` shows no shares remaining.
    assert_eq!(
        filled(&order(&cli, emails[1], b)),
        (50, 0, "cancelled", false)
    );
    let (available, reserved) = cash(&app, ids[1]).await;
    assert_eq!(reserved, Decimal::ZERO);
    assert_eq!(available, dec(100_000_000 - 2_750_412));
    assert_eq!(shares(&app, ids[1], "005930").await, (50, 0));
    audit_clean(&cli, READ);
}

#[sqlx::test]
async fn under_the_full_model_the_same_orders_fill_whole_whatever_traded(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let emails = ["a@example.com", "b@example.com"];
    for e in emails {
        user(&app, e, 100_000_000).await;
    }
    crawl(&pool, "2026-11-24 10:00", 55_900, 1_000_000).await;
    let a = buy(&cli, emails[0], "2026-11-24 10:01", "100", "55000");
    let b = buy(&cli, emails[1], "2026-11-24 10:02", "100", "55000");
    crawl(&pool, "2026-11-24 10:05", 55_000, 1_000_010).await;
    let s = settle(&cli, "2026-11-24 10:06");
    assert_eq!(
        (s["filled"].as_u64(), s["fill_model"].as_str()),
        (Some(2), Some("full"))
    );
    assert_eq!(
        filled(&order(&cli, emails[0], a)),
        (100, 0, "filled", false)
    );
    assert_eq!(
        filled(&order(&cli, emails[1], b)),
        (100, 0, "filled", false)
    );
    audit_clean(&cli, READ);
}

/// The app at `when` (KST) under `volume:0.1`, run by an operator.
fn volume_app(pool: &PgPool, when: &str) -> ascend::app::App {
    let mut app = app_at(pool, when);
    app.rules.fill_model = ascend::domain::order::FillModel::Volume(dec(1) / dec(10));
    app
}

#[sqlx::test]
async fn two_settles_at_once_share_a_volume_out_once(pool: PgPool) {
    use ascend::app::{orders, settle};
    let app = volume_app(&pool, SESSION);
    seed_stocks(&app).await;
    crawl(&pool, "2026-11-24 10:00", 55_900, 1_000_000).await;
    crawl_stock(&pool, "2026-11-24 10:00", HYNIX, 178_200, 500_000).await;
    // 20 users with three resting buys of 10 each on 005930 and one of 10 on 000660: the two
    // stocks' transactions run side by side and want the same accounts.
    for i in 0..20 {
        let u = user(&app, &format!("v{i}@example.com"), 100_000_000).await;
        for limit in ["55500", "55600", "55700"] {
            orders::place(&app, u, &req("005930", "buy", "10", Some(limit)))
                .await
                .unwrap();
        }
        orders::place(&app, u, &req("000660", "buy", "10", Some("175000")))
            .await
            .unwrap();
    }
    settle::settle(&volume_app(&pool, "2026-11-24 10:01"), false, 3)
        .await
        .unwrap();
    // 3,005 shares trade and the price falls to 55,500: 300 shares (of 600 crossed) may fill.
    // 000660 falls to 175,000 while 1,000 trade: 100 of its 200 crossed.
    crawl(&pool, "2026-11-24 10:02", 55_500, 1_003_005).await;
    crawl_stock(&pool, "2026-11-24 10:02", HYNIX, 175_000, 501_000).await;
    let later = volume_app(&pool, "2026-11-24 10:03");
    let (a, b) = tokio::join!(
        settle::settle(&later, false, 3),
        settle::settle(&later, false, 3)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.filled + b.filled > 0);
    let (shares, fills_per_order): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(sum(quantity), 0)::bigint, COALESCE(max(n), 0)::bigint
         FROM fills, LATERAL (SELECT count(*) AS n FROM fills f2 WHERE f2.order_id = fills.order_id) c
         WHERE code = '005930'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(shares, 300);
    assert_eq!(fills_per_order, 1);
    // The best prices first: the 20 buys at 55,700 (200 shares), then 10 of those at 55,600.
    let by_limit: Vec<(rust_decimal::Decimal, i64)> = sqlx::query_as(
        "SELECT o.limit_price, sum(f.quantity)::bigint FROM fills f JOIN orders o ON o.id = f.order_id
         WHERE f.code = '005930' GROUP BY 1 ORDER BY 1 DESC",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(by_limit, vec![(dec(55_700), 200), (dec(55_600), 100)]);
    let hynix: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(quantity), 0)::bigint FROM fills WHERE code = '000660'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(hynix, 100);
    assert_eq!(a.filled + b.filled, 30 + 10);
    assert_audit_clean(&app_at(&pool, "2026-11-24 10:04")).await;
}

#[sqlx::test]
async fn a_new_day_starts_from_the_volume_then_seen_and_a_partial_sell_keeps_the_rest_reserved(
    pool: PgPool,
) {
    let (cli, app) = under_volume_model(&pool).await;
    let email = "s@example.com";
    let u = user(&app, email, 100_000_000).await;
    crawl(&pool, "2026-11-24 10:00", 55_900, 1_000_000).await;
    let v = json(&cli.run(
        &[
            "--user",
            email,
            "--now",
            "2026-11-24 10:01",
            "place-order",
            "005930",
            "buy",
            "100",
            "--market",
            "-f",
            "json",
        ],
        None,
    ));
    assert_eq!(v["order"]["status"], "filled", "{v}");
    let v = json(&cli.run(
        &[
            "--user",
            email,
            "--now",
            "2026-11-24 10:02",
            "place-order",
            "005930",
            "sell",
            "100",
            "--limit",
            "56500",
            "--tif",
            "gtc",
            "-f",
            "json",
        ],
        None,
    ));
    let sell = v["order"]["id"].as_i64().unwrap();
    settle(&cli, "2026-11-24 10:03");
    // The next morning: the first settle takes note of the day's volume (20,000 so far, with
    // the price already at the limit) and fills nothing.
    crawl(&pool, "2026-11-25 09:05", 56_500, 20_000).await;
    let s = settle(&cli, "2026-11-25 09:06");
    assert_eq!(s["filled"].as_u64(), Some(0), "{s}");
    assert_eq!(shares(&app, u, "005930").await, (0, 100));
    // 400 more trade: 40 shares sell; the other 60 stay reserved.
    crawl(&pool, "2026-11-25 09:10", 56_500, 20_400).await;
    let (before, _) = cash(&app, u).await;
    let s = settle(&cli, "2026-11-25 09:11");
    assert_eq!(
        (s["filled"].as_u64(), s["partially_filled"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    assert_eq!(shares(&app, u, "005930").await, (0, 60));
    let (amount, fee, tax): (Decimal, Decimal, Decimal) =
        sqlx::query_as("SELECT amount, fee, tax FROM fills WHERE order_id = $1")
            .bind(sell)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(amount, dec(40 * 56_500));
    let (after, _) = cash(&app, u).await;
    assert_eq!(after - before, amount - fee - tax);
    // Cancel frees the 60 still reserved.
    let o = cli.run(
        &[
            "--user",
            email,
            "--now",
            "2026-11-25 09:12",
            "cancel",
            &sell.to_string(),
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(shares(&app, u, "005930").await, (60, 0));
    audit_clean(&cli, "2026-11-25 15:00");
}
