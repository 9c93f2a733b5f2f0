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
    let app = app_at(pool, now);
    let mut q = StockQuote::parse("005930", "삼성전자", "KOSPI", dec(price), dec(56_600)).unwrap();
    q.volume = Some(volume);
    stocks::upsert(&app, &[q], app.clock.now()).await.unwrap();
}

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

fn audit_clean(cli: &Cli) {
    let o = cli.run(&["--now", READ, "audit"], None);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("all five ledger invariants hold"));
}

#[sqlx::test]
async fn three_users_orders_fill_in_time_order_within_the_volume_and_the_rest_stays_open(
    pool: PgPool,
) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let o = cli.run(
        &["admin", "settings", "set", "fill_model", "volume:0.1"],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
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
    let (available, reserved) = cash(&app, ids[1]).await;
    assert_eq!(reserved, Decimal::ZERO);
    assert_eq!(available, dec(100_000_000 - 2_750_412));
    assert_eq!(shares(&app, ids[1], "005930").await, (50, 0));
    audit_clean(&cli);
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
    audit_clean(&cli);
}
