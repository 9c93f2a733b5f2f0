//! The KRX order types and the IOC / FOK conditions through the built binary, on the simulated
//! market (`sim:SEED`) and the simulated clock: best and priority limits priced from the book,
//! conditional limits filled at the close by `settle --close`, FOK cancelled when it cannot
//! fill whole, and the refusals, each leaving the audit clean.

mod common;

use common::*;
use serde_json::Value;
use sqlx::PgPool;

const SOURCE: &str = "sim:7";
const EMAIL: &str = "t@example.com";
const CODE: &str = "005930";

fn json(o: &std::process::Output) -> Value {
    assert_eq!(code(o), 0, "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// A number that JSON carries as a string (a decimal) or a number.
fn num(v: &Value) -> i64 {
    match v {
        Value::String(s) => s
            .parse::<rust_decimal::Decimal>()
            .unwrap_or_else(|e| panic!("{e}: {s}"))
            .try_into()
            .unwrap(),
        Value::Number(n) => n.as_i64().unwrap(),
        other => panic!("not a number: {other}"),
    }
}

/// A simulated database with the simulated market crawled at [`SESSION`] and one trader.
async fn setup(pool: &PgPool) -> Cli {
    let cli = Cli::new(pool).await;
    let o = cli.run(&["crawl-stocks", "--source", SOURCE], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = cli.run(
        &[
            "user",
            "register",
            "--email",
            EMAIL,
            "--name",
            "T",
            "--password-stdin",
        ],
        Some("password123\n"),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    cli
}

/// Runs a command as the trader at `now`.
fn as_trader(cli: &Cli, now: &str, args: &[&str]) -> std::process::Output {
    let mut a = vec!["--now", now, "--user", EMAIL];
    a.extend_from_slice(args);
    cli.run(&a, None)
}

/// Places an order as the trader at `now`, the book from the simulator; its JSON.
fn place(cli: &Cli, now: &str, args: &[&str]) -> Value {
    let mut a = vec!["place-order", CODE];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--source", SOURCE, "--format", "json"]);
    json(&as_trader(cli, now, &a))
}

/// The stored stock and the simulator's order book at `now`: (price, band upper, bids, asks).
fn market(cli: &Cli, now: &str) -> (i64, i64, Vec<i64>, Vec<i64>) {
    let v = json(&as_trader(
        cli,
        now,
        &[
            "stock", "show", CODE, "--source", SOURCE, "--format", "json",
        ],
    ));
    let levels = |side: &str| -> Vec<i64> {
        v["order_book"][side]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| num(&l["price"]))
            .collect()
    };
    (
        num(&v["stock"]["price"]),
        num(&v["band"]["upper"]),
        levels("bids"),
        levels("asks"),
    )
}

async fn cash(pool: &PgPool) -> (i64, i64) {
    let (a, r): (rust_decimal::Decimal, rust_decimal::Decimal) = sqlx::query_as(
        "SELECT a.available, a.reserved FROM accounts a JOIN users u ON u.id = a.user_id WHERE u.email = $1",
    )
    .bind(EMAIL)
    .fetch_one(pool)
    .await
    .unwrap();
    (a.try_into().unwrap(), r.try_into().unwrap())
}

async fn order_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// `ascend audit` at `now` (no earlier than the newest ledger entry) finds nothing.
fn assert_audit_clean(cli: &Cli, now: &str) {
    let v = json(&cli.run(&["--now", now, "audit", "--format", "json"], None));
    assert_eq!(v["violations"], serde_json::json!([]), "{v}");
}

fn commission(amount: i64) -> i64 {
    amount * 15 / 100_000
}

#[sqlx::test]
async fn best_and_priority_limits_are_priced_from_the_book(pool: PgPool) {
    let cli = setup(&pool).await;
    let (price, _, bids, asks) = market(&cli, SESSION);
    // The simulator's book agrees with the stored price the order is judged against: the last
    // price is the best bid, the best ask one tick above it.
    assert_eq!(bids[0], price);
    assert!(asks[0] > price);

    // 최유리지정가 buy: priced at the best ask, marketable, filled at the last price.
    let v = place(&cli, SESSION, &["buy", "10", "--type", "best"]);
    let o = &v["order"];
    assert_eq!(o["order_type"], "best_limit");
    assert_eq!(o["kind"], "limit");
    assert_eq!(num(&o["limit_price"]), asks[0]);
    assert_eq!(o["status"], "filled");
    assert_eq!(num(&v["fill"]["price"]), price);
    assert_eq!(num(&v["fill"]["fee"]), commission(price * 10));
    assert_eq!(
        cash(&pool).await,
        (10_000_000 - price * 10 - commission(price * 10), 0)
    );
    // 최우선지정가 buy: the best bid, which is the last price here: filled at once.
    let v = place(&cli, SESSION, &["buy", "10", "--type", "priority"]);
    assert_eq!(v["order"]["order_type"], "priority_limit");
    assert_eq!(num(&v["order"]["limit_price"]), bids[0]);
    assert_eq!(v["order"]["status"], "filled");
    // 최유리지정가 sell: the best bid.
    let v = place(&cli, SESSION, &["sell", "5", "--type", "best"]);
    assert_eq!(num(&v["order"]["limit_price"]), bids[0]);
    assert_eq!(num(&v["fill"]["price"]), price);
    // 최우선지정가 sell: the best ask, above the last price: it rests with its shares.
    let v = place(&cli, SESSION, &["sell", "5", "--type", "priority"]);
    let resting = v["order"]["id"].as_i64().unwrap();
    assert_eq!(num(&v["order"]["limit_price"]), asks[0]);
    assert_eq!(v["order"]["status"], "open");
    assert_eq!(num(&v["order"]["reserved_shares"]), 5);

    // The type is shown by `orders` in every format.
    let list = json(&as_trader(&cli, SESSION, &["orders", "--format", "json"]));
    let types: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "priority_limit",
            "best_limit",
            "priority_limit",
            "best_limit"
        ]
    );
    let csv = stdout(&as_trader(&cli, SESSION, &["orders", "--format", "csv"]));
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",order_type,remaining,partially_filled"),
        "{csv}"
    );
    assert!(csv.contains(",priority_limit,5,false\n"), "{csv}");
    let table = stdout(&as_trader(&cli, SESSION, &["orders", "--open"]));
    assert!(
        table.contains("type") && table.contains("priority_limit"),
        "{table}"
    );

    // Idempotent replay compares the type (the book's price at the time is not a parameter).
    let later = "2026-11-24 10:05";
    let first = place(&cli, later, &["buy", "1", "--type", "best", "--key", "k-1"]);
    let again = place(&cli, later, &["buy", "1", "--type", "best", "--key", "k-1"]);
    assert_eq!(again["replayed"], true);
    assert_eq!(again["order"]["id"], first["order"]["id"]);
    let count = order_count(&pool).await;
    let o = as_trader(
        &cli,
        later,
        &[
            "place-order",
            CODE,
            "buy",
            "1",
            "--type",
            "priority",
            "--key",
            "k-1",
            "--source",
            SOURCE,
        ],
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: key: "), "{}", stderr(&o));
    assert_eq!(order_count(&pool).await, count);
    assert_audit_clean(&cli, later);

    // The resting priority-limit sell is a normal limit order: settle fills it once the price
    // reaches its limit, or it is cancelled like any other.
    let o = as_trader(&cli, later, &["cancel", &resting.to_string()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_audit_clean(&cli, later);
}

#[sqlx::test]
async fn a_conditional_limit_rests_and_fills_at_the_closing_price(pool: PgPool) {
    let cli = setup(&pool).await;
    let (price, upper, bids, asks) = market(&cli, SESSION);
    let v = place(&cli, SESSION, &["buy", "10", "--market"]);
    assert_eq!(v["order"]["status"], "filled");
    let before = cash(&pool).await;

    // A buy below the price rests, reserving at the upper limit (it may become a market order
    // at the close); a sell above it rests with its shares.
    let low = bids[9].to_string();
    let v = place(
        &cli,
        SESSION,
        &["buy", "10", "--type", "conditional", "--limit", &low],
    );
    assert_eq!(v["order"]["order_type"], "conditional_limit");
    assert_eq!(v["order"]["status"], "open");
    let reserved = upper * 10 + commission(upper * 10);
    assert_eq!(num(&v["order"]["reserved_cash"]), reserved);
    assert_eq!(cash(&pool).await, (before.0 - reserved, reserved));
    let high = asks[9].to_string();
    let v = place(
        &cli,
        SESSION,
        &["sell", "4", "--type", "conditional", "--limit", &high],
    );
    assert_eq!(v["order"]["status"], "open");
    assert!(price < asks[9]);
    // It reserves for a fill at any price of the day, so a new limit cannot change that: a
    // modify is refused and writes nothing.
    let id = v["order"]["id"].to_string();
    let o = as_trader(&cli, SESSION, &["modify", &id, "--quantity", "3"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim(),
        "error: type: a conditional-limit order reserves for its fill at the close and cannot be modified; cancel it and place a new one"
    );
    assert_eq!(cash(&pool).await, (before.0 - reserved, reserved));
    assert_audit_clean(&cli, SESSION);

    // From 15:20, when the closing auction starts, and after the close, none is taken.
    for at in ["2026-11-24 15:20", "2026-11-24 15:29", "2026-11-24 16:00"] {
        let o = as_trader(
            &cli,
            at,
            &[
                "place-order",
                CODE,
                "buy",
                "1",
                "--type",
                "conditional",
                "--limit",
                &low,
            ],
        );
        assert_eq!(code(&o), 3, "{at}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with(
                "error: type: a conditional-limit (조건부지정가) order cannot be placed"
            ),
            "{}",
            stderr(&o)
        );
    }

    // After the close: the crawl stores the regular close; settle --close fills both orders
    // there as market orders, whatever their limits.
    let o = cli.run(
        &[
            "--now",
            "2026-11-24 15:35",
            "crawl-stocks",
            "--source",
            SOURCE,
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let (close, ..) = market(&cli, "2026-11-24 15:35");
    let s = json(&cli.run(
        &[
            "--now",
            "2026-11-24 15:40",
            "settle",
            "--close",
            "--format",
            "json",
        ],
        None,
    ));
    assert_eq!(
        (s["converted"].as_u64(), s["expired"].as_u64()),
        (Some(2), Some(0))
    );
    let orders = json(&as_trader(
        &cli,
        "2026-11-24 15:40",
        &["orders", "--format", "json"],
    ));
    for o in orders.as_array().unwrap().iter().take(2) {
        assert_eq!(o["order_type"], "conditional_limit");
        assert_eq!(o["status"], "filled", "{o}");
        assert_eq!(num(&o["reserved_cash"]), 0);
    }
    let trades = json(&as_trader(
        &cli,
        "2026-11-24 15:40",
        &["trades", "--format", "json"],
    ));
    let (sell, buy) = (&trades[0], &trades[1]);
    assert_eq!((num(&buy["price"]), num(&buy["quantity"])), (close, 10));
    assert_eq!((num(&sell["price"]), num(&sell["quantity"])), (close, 4));
    // 0.20% sell tax in 2026, fees truncated to the won.
    let tax = close * 4 * 20 / 10_000;
    assert_eq!(num(&sell["tax"]), tax);
    let after = before.0 - (close * 10 + commission(close * 10))
        + (close * 4 - commission(close * 4) - tax);
    assert_eq!(cash(&pool).await, (after, 0));
    assert_audit_clean(&cli, "2026-11-24 15:40");
    // A second run finds nothing left to convert.
    let s = json(&cli.run(
        &[
            "--now",
            "2026-11-24 15:45",
            "settle",
            "--close",
            "--format",
            "json",
        ],
        None,
    ));
    assert_eq!(s["converted"].as_u64(), Some(0));
}

#[sqlx::test]
async fn ioc_and_fok_on_limit_market_and_best_limit_orders(pool: PgPool) {
    let cli = setup(&pool).await;
    let (price, _, bids, asks) = market(&cli, SESSION);
    let (marketable, away) = (asks[0].to_string(), bids[9].to_string());
    for tif in ["ioc", "fok"] {
        for args in [
            vec!["buy", "2", "--limit", &marketable],
            vec!["buy", "2", "--market"],
            vec!["buy", "2", "--type", "best"],
            vec!["buy", "2", "--type", "market"],
            vec!["sell", "1", "--type", "best"],
        ] {
            let mut a = args.clone();
            a.extend_from_slice(&["--tif", tif]);
            let v = place(&cli, SESSION, &a);
            assert_eq!(v["order"]["tif"], tif);
            assert_eq!(v["order"]["status"], "filled", "{a:?}: {v}");
            assert_eq!(num(&v["fill"]["price"]), price);
        }
    }
    assert_audit_clean(&cli, SESSION);

    // Not marketable: IOC cancels; FOK, which cannot fill whole, is cancelled too — exit 0,
    // reported as cancelled, nothing reserved.
    let before = cash(&pool).await;
    let v = place(
        &cli,
        SESSION,
        &["buy", "2", "--limit", &away, "--tif", "ioc"],
    );
    assert_eq!(v["order"]["status"], "cancelled");
    assert!(v["order"]["reason"].as_str().unwrap().starts_with("ioc:"));
    let o = as_trader(
        &cli,
        SESSION,
        &[
            "place-order",
            CODE,
            "buy",
            "2",
            "--limit",
            &away,
            "--tif",
            "fok",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("cancelled"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("fok: the whole quantity cannot fill now"),
        "{}",
        stdout(&o)
    );
    let v = place(
        &cli,
        SESSION,
        &["sell", "1", "--limit", &asks[9].to_string(), "--tif", "fok"],
    );
    assert_eq!(v["order"]["status"], "cancelled");
    assert_eq!(num(&v["order"]["reserved_shares"]), 0);
    assert!(v["fill"].is_null());
    assert_eq!(cash(&pool).await, before);
    assert_audit_clean(&cli, SESSION);

    // Outside the session they could never fill: refused.
    let o = as_trader(
        &cli,
        "2026-11-24 16:00",
        &[
            "place-order",
            CODE,
            "buy",
            "1",
            "--limit",
            &marketable,
            "--tif",
            "fok",
        ],
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o)
            .starts_with("error: tif: an FOK order cannot be placed after the regular session"),
        "{}",
        stderr(&o)
    );
}

#[sqlx::test]
async fn refused_order_types_write_nothing(pool: PgPool) {
    let cli = setup(&pool).await;
    let help = stdout(&cli.run(&["place-order", "--help"], None));
    for word in [
        "conditional",
        "best",
        "priority",
        "fok",
        "--type",
        "--source",
    ] {
        assert!(help.contains(word), "{word}: {help}");
    }
    let before = (cash(&pool).await, order_count(&pool).await);
    let refused = |now: &str, args: &[&str], exit: i32, start: &str| {
        let mut a = vec!["place-order", CODE];
        a.extend_from_slice(args);
        let o = as_trader(&cli, now, &a);
        assert_eq!(code(&o), exit, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with(start), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    };
    let sim = ["--source", SOURCE];
    // The price of a best or priority limit comes from the book; the conditions its type takes.
    refused(
        SESSION,
        &["buy", "1", "--type", "best", "--limit", "50000"],
        3,
        "error: limit: a best-limit",
    );
    refused(
        SESSION,
        &["buy", "1", "--type", "priority", "--market"],
        3,
        "error: type:",
    );
    refused(
        SESSION,
        &["buy", "1", "--type", "conditional"],
        3,
        "error: limit: a conditional-limit",
    );
    refused(
        SESSION,
        &["buy", "1", "--type", "market", "--limit", "50000"],
        3,
        "error: limit: a market order",
    );
    refused(
        SESSION,
        &["buy", "1", "--type", "priority", "--tif", "ioc"],
        3,
        "error: tif: IOC and FOK apply",
    );
    refused(
        SESSION,
        &[
            "buy",
            "1",
            "--type",
            "conditional",
            "--limit",
            "50000",
            "--tif",
            "fok",
        ],
        3,
        "error: tif: IOC and FOK apply",
    );
    refused(
        SESSION,
        &[
            "buy",
            "1",
            "--type",
            "conditional",
            "--limit",
            "50000",
            "--tif",
            "gtc",
        ],
        3,
        "error: tif: a conditional-limit",
    );
    // An order type outside clap's list is a usage error naming the values.
    let o = as_trader(
        &cli,
        SESSION,
        &["place-order", CODE, "buy", "1", "--type", "stop"],
    );
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("[possible values: limit, market, conditional, best, priority]"),
        "{}",
        stderr(&o)
    );

    // No book: exit 5, nothing written.
    let o = cli.run_env(
        Some(SESSION),
        &[("ASCEND_NAVER_MSTOCK_URL", "http://127.0.0.1:1")],
        &[
            "--user",
            EMAIL,
            "place-order",
            CODE,
            "buy",
            "1",
            "--type",
            "best",
            "--source",
            "naver",
        ],
        None,
    );
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("error: order book unavailable: "),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));

    // Closing auction, after the close, before the next open: the book types are refused
    // before the book is asked for.
    let mut args = vec!["buy", "1", "--type", "best"];
    args.extend_from_slice(&sim);
    refused(
        "2026-11-24 15:20",
        &args,
        3,
        "error: type: a best-limit (최유리지정가) order cannot be placed from 15:20 KST",
    );
    let mut args = vec!["sell", "1", "--type", "priority"];
    args.extend_from_slice(&sim);
    refused(
        "2026-11-24 15:25",
        &args,
        3,
        "error: type: a priority-limit (최우선지정가) order cannot be placed from 15:20 KST",
    );
    refused("2026-11-24 16:00", &["buy", "1", "--type", "best", "--source", "naver"], 3, "error: type: a best-limit (최유리지정가) order cannot be placed after the regular session closed");
    refused("2026-11-25 08:30", &["buy", "1", "--type", "best", "--source", "naver"], 3, "error: type: a best-limit (최유리지정가) order cannot be placed before the regular session");
    refused("2026-11-28 10:00", &["buy", "1", "--type", "priority", "--source", "naver"], 3, "error: type: a priority-limit (최우선지정가) order cannot be placed on a day the market is closed");
    assert_eq!((cash(&pool).await, order_count(&pool).await), before);
    assert_audit_clean(&cli, "2026-11-28 10:00");
}

#[sqlx::test(migrations = false)]
async fn orders_written_before_the_order_types_keep_their_kind_as_type(pool: PgPool) {
    // The schema of the previous release, with a market and a limit order in it.
    let previous = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            ascend::store::MIGRATOR
                .iter()
                .filter(|m| m.version < 20261130000016)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    previous.run(&pool).await.unwrap();
    for (kind, limit) in [("market", None), ("limit", Some(50_000i64))] {
        sqlx::query(
            "INSERT INTO orders (user_id, code, side, kind, tif, quantity, limit_price, fee_rate,
                                 status, created_at, closed_at)
             VALUES (1, '005930', 'buy', $1, 'ioc', 1, $2, 0.00015, 'cancelled', now(), now())",
        )
        .bind(kind)
        .bind(limit.map(rust_decimal::Decimal::from))
        .execute(&pool)
        .await
        .unwrap();
    }
    ascend::store::MIGRATOR.run(&pool).await.unwrap();
    let types: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, order_type FROM orders ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        types,
        [
            ("market".to_string(), "market".to_string()),
            ("limit".to_string(), "limit".to_string())
        ]
    );
    // The type agrees with the kind, and FOK is a time in force the schema takes.
    let bad = sqlx::query("UPDATE orders SET order_type = 'best_limit' WHERE kind = 'market'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(
        bad.to_string().contains("orders_type_matches_kind"),
        "{bad}"
    );
    sqlx::query("UPDATE orders SET tif = 'fok'")
        .execute(&pool)
        .await
        .unwrap();
}
