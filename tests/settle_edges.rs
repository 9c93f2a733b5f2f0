//! settle at the edges of what an order reserved and of the day it traded, through the built
//! binary: a conditional order converted at a close that a later settle records pays that
//! day's tax, and one whose fill at the close would cost more than it reserved is cancelled
//! with its reservation released while the other orders convert.

mod common;

use std::process::Output;

use common::*;
use sqlx::PgPool;

const USER: &str = "edge@example.com";
const OTHER: &str = "other@example.com";

fn json(o: &Output) -> serde_json::Value {
    assert_eq!(code(o), 0, "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// Runs the binary for `who` at `now` (KST).
fn as_user(cli: &Cli, who: &str, now: &str, args: &[&str]) -> Output {
    let mut a = vec!["--user", who, "--now", now];
    a.extend_from_slice(args);
    cli.run(&a, None)
}

/// The day's regular close of `code`, as the crawl after 15:30 stores it.
async fn close_bar(pool: &PgPool, code: &str, day: &str, close: i64) {
    sqlx::query(
        "INSERT INTO daily_bars (symbol, date, open, high, low, close, volume, regular)
         VALUES ($1, $2::date, $3, $3, $3, $3, 2000, true)",
    )
    .bind(code)
    .bind(day)
    .bind(rust_decimal::Decimal::from(close))
    .execute(pool)
    .await
    .unwrap();
}

fn audit_clean_at(cli: &Cli, now: &str) {
    let o = cli.run(&["--now", now, "audit"], None);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("all five ledger invariants hold"));
}

#[sqlx::test]
async fn a_conditional_buy_whose_closing_fill_costs_more_than_it_reserved_is_cancelled_and_the_others_convert(
    pool: PgPool,
) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, USER, 10_000_000).await;
    let other = user(&app, OTHER, 10_000_000).await;
    // Reserved at the upper limit of 005930's band (previous close 56,600): 735,000 + 110.
    let short = json(&as_user(
        &cli,
        USER,
        SESSION,
        &[
            "place-order",
            "005930",
            "buy",
            "10",
            "--type",
            "conditional",
            "--limit",
            "50000",
            "-f",
            "json",
        ],
    ));
    assert_eq!(short["order"]["reserved_cash"], "735110");
    // 1 of 000660 (band up to 227,000 around 174,800): 227,000 + 34 reserved.
    let fine = json(&as_user(
        &cli,
        OTHER,
        SESSION,
        &[
            "place-order",
            "000660",
            "buy",
            "1",
            "--type",
            "conditional",
            "--limit",
            "170000",
            "-f",
            "json",
        ],
    ));
    // The stored closes: 005930's lies past the band the order reserved for (its base moved
    // after it was placed); 000660's inside.
    close_bar(&pool, "005930", "2026-11-24", 74_000).await;
    close_bar(&pool, "000660", "2026-11-24", 180_000).await;
    let at = "2026-11-24 15:40";
    let v = json(&cli.run(
        &["--now", at, "settle", "--close", "--format", "json"],
        None,
    ));
    assert_eq!(
        (v["converted"].as_u64(), v["cancelled_unfunded"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    let orders = json(&as_user(&cli, USER, at, &["orders", "-f", "json"]));
    let o = &orders[0];
    assert_eq!(o["id"], short["order"]["id"]);
    assert_eq!(o["status"], "cancelled", "{o}");
    assert!(o["reason"]
        .as_str()
        .unwrap()
        .contains("would cost more than the order reserved"));
    // Its reservation is back whole; the other paid 180,000 + 27 at the close.
    assert_eq!(cash(&app, u).await, (dec(10_000_000), dec(0)));
    assert_eq!(cash(&app, other).await, (dec(10_000_000 - 180_027), dec(0)));
    let f = json(&as_user(&cli, OTHER, at, &["orders", "-f", "json"]));
    assert_eq!(f[0]["id"], fine["order"]["id"]);
    assert_eq!(f[0]["status"], "filled");
    audit_clean_at(&cli, at);
}

#[sqlx::test]
async fn a_conditional_sell_converted_by_a_later_settle_pays_the_tax_of_its_trade_day(
    pool: PgPool,
) {
    let cli = Cli::new(&pool).await;
    let placed = "2025-12-30 10:00";
    let app = app_at(&pool, placed);
    seed_stocks(&app).await;
    user(&app, USER, 10_000_000).await;
    let o = as_user(
        &cli,
        USER,
        placed,
        &["place-order", "005930", "buy", "100", "--market"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let sell = json(&as_user(
        &cli,
        USER,
        placed,
        &[
            "place-order",
            "005930",
            "sell",
            "100",
            "--type",
            "conditional",
            "--limit",
            "60000",
            "-f",
            "json",
        ],
    ));
    close_bar(&pool, "005930", "2025-12-30", 56_000).await;
    // The timer missed the close; the next settle is in the new year's first session.
    let later = "2026-01-02 10:30";
    let v = json(&cli.run(&["--now", later, "settle", "--format", "json"], None));
    assert_eq!(v["converted"], 1, "{v}");
    let t = json(&as_user(&cli, USER, later, &["trades", "-f", "json"]));
    let t = t
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["order_id"] == sell["order"]["id"])
        .unwrap_or_else(|| panic!("{t}"));
    // 5,600,000 sold on 2025-12-30: 0.15% tax (8,400), not 2026's 0.20% (11,200).
    assert_eq!(
        ["price", "amount", "tax"].map(|k| t[k].as_str()),
        [Some("56000"), Some("5600000"), Some("8400")],
        "{t}"
    );
    audit_clean_at(&cli, later);
}
