//! Stop and stop-limit orders through the built binary: placed dormant with their reservation,
//! triggered by `settle` when the last price touches the trigger and filled in the same pass
//! when they cross, refused when the trigger cannot wait, released when cancelled or expired.
//! Prices move as the settle tests move them (stored at the simulated clock's time).

mod common;

use std::process::Output;

use common::*;
use rust_decimal::Decimal;
use sqlx::PgPool;

const USER: &str = "stop@example.com";
/// When the tests read orders and trades back: after every settle they run (the clock does not
/// go back before the newest ledger entry).
const READ: &str = "2026-11-24 15:00";

fn json(o: &Output) -> serde_json::Value {
    assert_eq!(code(o), 0, "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// Runs the binary for [`USER`] at `now` (KST).
fn as_user(cli: &Cli, now: &str, args: &[&str]) -> Output {
    let mut a = vec!["--user", USER, "--now", now];
    a.extend_from_slice(args);
    cli.run(&a, None)
}

/// Runs `settle` at `now`; returns how many orders it filled.
fn settle(cli: &Cli, now: &str) -> u64 {
    let v = json(&cli.run(&["--now", now, "settle", "--format", "json"], None));
    v["filled"].as_u64().unwrap()
}

fn order(cli: &Cli, id: &serde_json::Value) -> serde_json::Value {
    let v = json(&as_user(cli, READ, &["orders", "--format", "json"]));
    v.as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == *id)
        .cloned()
        .unwrap_or_else(|| panic!("order {id} in {v}"))
}

fn audit_clean(cli: &Cli) {
    let o = cli.run(&["--now", READ, "audit"], None);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("all five ledger invariants hold"));
}

#[sqlx::test]
async fn a_sell_stop_waits_for_the_price_then_triggers_and_fills_in_one_settle(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, USER, 10_000_000).await;
    // 10 shares at 55,900: 559,000 + 83 commission.
    let v = json(&as_user(
        &cli,
        SESSION,
        &[
            "place-order",
            "005930",
            "buy",
            "10",
            "--market",
            "-f",
            "json",
        ],
    ));
    assert_eq!(v["order"]["status"], "filled");
    assert_eq!(cash(&app, u).await, (dec(9_440_917), dec(0)));

    // A stop-loss at 54,000: dormant, holding the 10 shares.
    let v = json(&as_user(
        &cli,
        SESSION,
        &[
            "place-order",
            "005930",
            "sell",
            "10",
            "--stop",
            "54,000",
            "-f",
            "json",
        ],
    ));
    let o = &v["order"];
    assert_eq!(
        ["status", "kind", "tif", "stop_price"].map(|k| o[k].as_str()),
        [Some("open"), Some("market"), Some("day"), Some("54000")]
    );
    assert!(o["triggered_at"].is_null() && v["fill"].is_null(), "{v}");
    assert_eq!(o["reserved_shares"], 10);
    let id = o["id"].clone();
    assert_eq!(shares(&app, u, "005930").await, (0, 10));
    // The table shows the trigger and that it has not fired.
    let table = stdout(&as_user(&cli, SESSION, &["orders", "--open"]));
    assert!(
        table.contains("54,000") && table.contains("dormant"),
        "{table}"
    );

    // 55,000 does not touch 54,000: nothing triggers, nothing fills.
    set_price(&app_at(&pool, "2026-11-24 10:05"), "005930", 55_000).await;
    assert_eq!(settle(&cli, "2026-11-24 10:05"), 0);
    let o = order(&cli, &id);
    assert_eq!(o["status"], "open");
    assert!(o["triggered_at"].is_null(), "{o}");

    // 53,900 touches it: the same settle triggers it and fills it at 53,900.
    set_price(&app_at(&pool, "2026-11-24 10:10"), "005930", 53_900).await;
    assert_eq!(settle(&cli, "2026-11-24 10:10"), 1);
    let o = order(&cli, &id);
    assert_eq!(
        (o["status"].as_str(), o["filled_quantity"].as_i64()),
        (Some("filled"), Some(10))
    );
    assert!(
        o["triggered_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-24T01:10:00"),
        "{o}"
    );
    let t = json(&as_user(&cli, READ, &["trades", "-f", "json"]));
    let fill = &t[0];
    assert_eq!(fill["order_id"], id);
    // 539,000; commission 80 (0.015%, floored); tax 1,078 (0.20% in 2026).
    assert_eq!(
        ["price", "amount", "fee", "tax"].map(|k| fill[k].as_str()),
        [Some("53900"), Some("539000"), Some("80"), Some("1078")]
    );
    assert_eq!(cash(&app, u).await, (dec(9_440_917 + 537_842), dec(0)));
    assert_eq!(shares(&app, u, "005930").await, (0, 0));
    audit_clean(&cli);
}

#[sqlx::test]
async fn a_buy_stop_limit_triggered_above_its_limit_rests_then_fills_as_a_limit_order(
    pool: PgPool,
) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, USER, 10_000_000).await;
    // A breakout buy: trigger 57,000, limit 57,100. Reserves as a limit order: 571,000 + 85.
    let v = json(&as_user(
        &cli,
        SESSION,
        &[
            "place-order",
            "005930",
            "buy",
            "10",
            "--stop",
            "57000",
            "--limit",
            "57100",
            "--tif",
            "gtc",
            "-f",
            "json",
        ],
    ));
    let id = v["order"]["id"].clone();
    assert_eq!(v["order"]["kind"], "limit");
    assert_eq!(v["order"]["reserved_cash"], "571085");
    assert_eq!(cash(&app, u).await, (dec(9_428_915), dec(571_085)));

    // 57,300 triggers it (at or above 57,000) but is above its limit: it rests as a limit order.
    set_price(&app_at(&pool, "2026-11-24 10:05"), "005930", 57_300).await;
    assert_eq!(settle(&cli, "2026-11-24 10:05"), 0);
    let o = order(&cli, &id);
    assert_eq!(
        (o["status"].as_str(), o["filled_quantity"].as_i64()),
        (Some("open"), Some(0))
    );
    assert!(
        o["triggered_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-24T01:05:00"),
        "{o}"
    );
    assert_eq!(cash(&app, u).await, (dec(9_428_915), dec(571_085)));
    let csv = stdout(&as_user(&cli, READ, &["orders", "--open", "-f", "csv"]));
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let cell = |k: &str| row[header.iter().position(|h| *h == k).unwrap()];
    assert_eq!(cell("stop_price"), "57000");
    assert!(
        cell("triggered_at").starts_with("2026-11-24T01:05:00"),
        "{csv}"
    );
    audit_clean(&cli);

    // Triggered, it is a limit order: it fills when the price comes back to 57,100, and a
    // later price above its trigger does not trigger it again.
    set_price(&app_at(&pool, "2026-11-24 10:10"), "005930", 57_100).await;
    assert_eq!(settle(&cli, "2026-11-24 10:10"), 1);
    let o = order(&cli, &id);
    assert_eq!(o["status"], "filled");
    assert!(o["triggered_at"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-24T01:05:00"));
    // 571,000 + 85: the reservation exactly.
    assert_eq!(cash(&app, u).await, (dec(9_428_915), dec(0)));
    assert_eq!(shares(&app, u, "005930").await, (10, 0));
    audit_clean(&cli);
}

#[sqlx::test]
async fn a_stop_market_buy_fills_at_the_triggering_price_and_frees_the_upper_limit_reservation(
    pool: PgPool,
) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, USER, 10_000_000).await;
    // The band of 005930 (previous close 56,600) tops at 73,500: 735,000 + 110 reserved.
    let v = json(&as_user(
        &cli,
        SESSION,
        &[
            "place-order",
            "005930",
            "buy",
            "10",
            "--stop",
            "56500",
            "-f",
            "json",
        ],
    ));
    assert_eq!(v["order"]["reserved_cash"], "735110");
    let id = v["order"]["id"].clone();
    set_price(&app_at(&pool, "2026-11-24 10:05"), "005930", 56_400).await;
    assert_eq!(settle(&cli, "2026-11-24 10:05"), 0);
    set_price(&app_at(&pool, "2026-11-24 10:10"), "005930", 56_700).await;
    assert_eq!(settle(&cli, "2026-11-24 10:10"), 1);
    let o = order(&cli, &id);
    assert_eq!(o["status"], "filled");
    let t = json(&as_user(&cli, READ, &["trades", "-f", "json"]));
    // 567,000 + 85 commission; the rest of the reservation is back.
    assert_eq!(
        ["price", "fee"].map(|k| t[0][k].as_str()),
        [Some("56700"), Some("85")]
    );
    assert_eq!(cash(&app, u).await, (dec(10_000_000 - 567_085), dec(0)));
    audit_clean(&cli);
}

#[sqlx::test]
async fn cancelling_or_expiring_a_dormant_stop_releases_its_reservation(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, USER, 10_000_000).await;
    let v = json(&as_user(
        &cli,
        SESSION,
        &[
            "place-order",
            "005930",
            "buy",
            "10",
            "--stop",
            "57000",
            "-f",
            "json",
        ],
    ));
    let buy = v["order"]["id"].to_string();
    assert_eq!(
        cash(&app, u).await,
        (dec(10_000_000 - 735_110), dec(735_110))
    );
    json(&as_user(
        &cli,
        SESSION,
        &[
            "place-order",
            "005930",
            "buy",
            "5",
            "--market",
            "-f",
            "json",
        ],
    ));
    let after_buy = cash(&app, u).await.0;
    let v = json(&as_user(
        &cli,
        SESSION,
        &[
            "place-order",
            "005930",
            "sell",
            "5",
            "--stop",
            "50000",
            "--limit",
            "49900",
            "--tif",
            "gtc",
            "--key",
            "stop-loss-1",
            "-f",
            "json",
        ],
    ));
    let sell = v["order"]["id"].clone();
    assert_eq!(shares(&app, u, "005930").await, (0, 5));

    // The same key with the same trigger is a replay; with another trigger it is refused.
    let again = |stop: &str| {
        as_user(
            &cli,
            SESSION,
            &[
                "place-order",
                "005930",
                "sell",
                "5",
                "--stop",
                stop,
                "--limit",
                "49900",
                "--tif",
                "gtc",
                "--key",
                "stop-loss-1",
                "-f",
                "json",
            ],
        )
    };
    let v = json(&again("50000"));
    assert_eq!(v["replayed"], true);
    assert_eq!(v["order"]["id"], sell);
    let o = again("49000");
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("with different parameters (005930 sell 5 49,900 stop 50,000)"),
        "{}",
        stderr(&o)
    );

    let o = as_user(&cli, SESSION, &["cancel", &buy]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        cash(&app, u).await,
        (after_buy + Decimal::from(735_110), dec(0))
    );
    audit_clean(&cli);
    // A GTC stop survives the close, dormant, and cancels like the DAY one.
    let v = json(&cli.run(
        &[
            "--now",
            "2026-11-24 15:40",
            "settle",
            "--close",
            "-f",
            "json",
        ],
        None,
    ));
    assert_eq!(v["expired"], 0);
    let o = as_user(&cli, SESSION, &["cancel", &sell.to_string()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(shares(&app, u, "005930").await, (5, 0));

    // A DAY stop expires at the close, dormant, and gives its reservation back.
    json(&as_user(
        &cli,
        SESSION,
        &[
            "place-order",
            "005930",
            "sell",
            "5",
            "--stop",
            "50000",
            "-f",
            "json",
        ],
    ));
    assert_eq!(shares(&app, u, "005930").await, (0, 5));
    let v = json(&cli.run(
        &[
            "--now",
            "2026-11-24 15:40",
            "settle",
            "--close",
            "-f",
            "json",
        ],
        None,
    ));
    assert_eq!(v["expired"], 1);
    assert_eq!(shares(&app, u, "005930").await, (5, 0));
    audit_clean(&cli);
}

/// The state a refused order must leave as it was.
async fn books(pool: &PgPool) -> (i64, i64, Decimal, Decimal) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM journal_entries),
                available, reserved FROM accounts",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn a_stop_that_cannot_wait_is_refused_in_one_line_and_nothing_is_written(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    user(&app, USER, 10_000_000).await;
    let before = books(&pool).await;
    let cases: &[(&[&str], &str)] = &[
        // Off the 100-won tick of 50,000–200,000.
        (
            &["buy", "1", "--stop", "57050"],
            "stop: 57,050 is not on the 100-won tick",
        ),
        // Outside today's band (39,700 to 73,500).
        (
            &["buy", "1", "--stop", "80000"],
            "stop: 80,000 is outside today's band",
        ),
        // On the wrong side of the last price (55,900), or on it.
        (
            &["buy", "1", "--stop", "55000"],
            "stop: a buy stop must be above the last price (55,900 won)",
        ),
        (
            &["buy", "1", "--stop", "55900"],
            "stop: a buy stop must be above the last price (55,900 won)",
        ),
        (
            &["sell", "1", "--stop", "56000", "--limit", "55000"],
            "stop: a sell stop must be below the last price (55,900 won)",
        ),
        // With --market, or a condition that does not rest.
        (
            &["buy", "1", "--stop", "57000", "--market"],
            "stop: a stop order becomes a market order when triggered unless --limit is given",
        ),
        (
            &[
                "buy", "1", "--stop", "57000", "--limit", "57100", "--tif", "ioc",
            ],
            "tif: a stop order rests until its trigger is touched: it takes day or gtc, not ioc",
        ),
        (
            &["buy", "1", "--stop", "57000", "--tif", "gtc"],
            "tif: a stop order without --limit is a DAY order",
        ),
        (&["buy", "1", "--stop", "0"], "stop:"),
        // The limit keeps its own rules.
        (
            &["buy", "1", "--stop", "57000", "--limit", "57050"],
            "price:",
        ),
    ];
    for (args, message) in cases {
        let mut a = vec!["place-order", "005930"];
        a.extend_from_slice(args);
        let o = as_user(&cli, SESSION, &a);
        assert_eq!(code(&o), 3, "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.starts_with(&format!("error: {message}")),
            "{args:?}: {err}"
        );
    }
    // A stop-market order is placed during the session only; a stop-limit may rest for the
    // next one.
    let o = as_user(
        &cli,
        "2026-11-24 16:00",
        &["place-order", "005930", "buy", "1", "--stop", "57000"],
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with(
            "error: stop: a stop order without --limit cannot be placed after the regular session closed"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(books(&pool).await, before, "nothing written");
    let v = json(&as_user(
        &cli,
        "2026-11-24 16:00",
        &[
            "place-order",
            "005930",
            "buy",
            "1",
            "--stop",
            "57000",
            "--limit",
            "57000",
            "-f",
            "json",
        ],
    ));
    assert_eq!(v["order"]["status"], "open");
    audit_clean(&cli);
}

#[sqlx::test]
async fn a_stop_market_buy_whose_fill_costs_more_than_it_reserved_is_cancelled_and_settle_goes_on(
    pool: PgPool,
) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, USER, 10_000_000).await;
    // Reserved at the upper limit of 005930's band (previous close 56,600): 735,000 + 110.
    let stop = json(&as_user(
        &cli,
        SESSION,
        &[
            "place-order",
            "005930",
            "buy",
            "10",
            "--stop",
            "70000",
            "-f",
            "json",
        ],
    ));
    assert_eq!(stop["order"]["reserved_cash"], "735110");
    // Another order that crosses in the same settle: 1 of 000660 at 178,000 (+ 26).
    let other = json(&as_user(
        &cli,
        SESSION,
        &[
            "place-order",
            "000660",
            "buy",
            "1",
            "--limit",
            "178000",
            "-f",
            "json",
        ],
    ));
    // A stored price past the upper limit (the crawler keeps prices within 1% of the band):
    // 10 at 74,000 would cost 740,111, more than the 735,110 reserved.
    let at = "2026-11-24 10:05";
    sqlx::query(
        "UPDATE stocks SET price = 74000, price_at = '2026-11-24 10:05+09' WHERE code = '005930'",
    )
    .execute(&pool)
    .await
    .unwrap();
    set_price(&app_at(&pool, at), "000660", 177_900).await;
    let v = json(&cli.run(&["--now", at, "settle", "--format", "json"], None));
    assert_eq!(v["filled"], 1, "{v}");
    assert_eq!(v["cancelled_unfunded"], 1, "{v}");
    let o = order(&cli, &stop["order"]["id"]);
    assert_eq!(o["status"], "cancelled", "{o}");
    assert_eq!(o["reserved_cash"], "0");
    assert!(
        o["reason"]
            .as_str()
            .unwrap()
            .contains("would cost more than the order reserved"),
        "{o}"
    );
    assert_eq!(order(&cli, &other["order"]["id"])["status"], "filled");
    // Only the other fill is paid (177,900 + 26); the stop's reservation is back whole.
    assert_eq!(cash(&app, u).await, (dec(10_000_000 - 177_926), dec(0)));
    audit_clean(&cli);

    // A market buy placed at that price reserves what its fill costs and fills: 74,000 + 11.
    let m = json(&as_user(
        &cli,
        "2026-11-24 10:06",
        &[
            "place-order",
            "005930",
            "buy",
            "1",
            "--market",
            "-f",
            "json",
        ],
    ));
    assert_eq!(m["order"]["status"], "filled", "{m}");
    assert_eq!(
        cash(&app, u).await,
        (dec(10_000_000 - 177_926 - 74_011), dec(0))
    );
    audit_clean(&cli);
}
