//! Bulk seeding: `user register --file` and `place-order --file` through the built binary, and
//! `place_many` at the library level against placing the same rows one by one.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use ascend::app::orders::{self, BulkOrder, OrderRequest};
use ascend::app::App;
use common::*;
use rust_decimal::Decimal;
use sqlx::PgPool;

/// Writes `text` to a file named `name` in a fresh directory.
fn file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test]
async fn register_file_reports_bad_rows_by_number_and_writes_the_good_ones(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    user(&app, "taken@example.com", 1_000_000).await;
    // A BOM, CRLF line endings; the header is row 1.
    let csv = [
        "\u{feff}email,name,password,cash",
        "good1@example.com,김하나,password123,5000000", // row 2
        "not-an-email,둘,password123,",                 // row 3
        "short@example.com,셋,short,",                  // row 4
        "good2@example.com,넷,password123,",            // row 5
        "GOOD1@example.com,다섯,password123,",          // row 6
        "taken@example.com,여섯,password123,",          // row 7
        "half@example.com,일곱,password123,12.5",       // row 8
        "word@example.com,여덟,password123,lots",       // row 9
    ]
    .join("\r\n")
        + "\r\n";
    let (_dir, path) = file("users.csv", &csv);

    let o = cli.run(
        &["user", "register", "--file", path.to_str().unwrap()],
        None,
    );

    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 6, "{err}");
    let rows: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(rows, ["row 3", "row 4", "row 6", "row 7", "row 8", "row 9"]);
    assert!(lines[0].starts_with("row 3: email:"), "{err}");
    assert!(
        lines[1].starts_with("row 4: password: must be at least 8"),
        "{err}"
    );
    assert!(
        lines[2].starts_with("row 6: email:") && lines[2].ends_with("is repeated (first on row 2)"),
        "{err}"
    );
    assert_eq!(
        lines[3],
        "row 7: email: taken@example.com is already registered with another name or cash"
    );
    assert!(
        lines[4].starts_with("row 8: cash: 12.5 must be a whole number"),
        "{err}"
    );
    assert!(lines[5].starts_with("row 9: cash:"), "{err}");
    assert_eq!(stdout(&o).trim(), "2 users written, 6 rows failed");
    // The same file again: the rows written the first time are reported, not failed.
    let again = cli.run(
        &["user", "register", "--file", path.to_str().unwrap()],
        None,
    );
    assert_eq!(
        stdout(&again).trim(),
        "0 users written, 2 already registered as given (nothing written), 6 rows failed"
    );
    assert_eq!(stderr(&again), err);

    let written: Vec<(String, String, Decimal, Decimal)> = sqlx::query_as(
        "SELECT u.email, u.display_name, u.initial_cash, a.available FROM users u
         JOIN accounts a ON a.user_id = u.id ORDER BY u.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let written: Vec<(&str, &str, i64, i64)> = written
        .iter()
        .map(|(e, n, i, a)| {
            (
                e.as_str(),
                n.as_str(),
                i64::try_from(*i).unwrap(),
                i64::try_from(*a).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        written,
        vec![
            ("taken@example.com", "테스터", 1_000_000, 1_000_000),
            ("good1@example.com", "김하나", 5_000_000, 5_000_000),
            ("good2@example.com", "넷", 10_000_000, 10_000_000),
        ]
    );
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn a_file_missing_a_column_is_refused_whole(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let (_dir, path) = file(
        "users.csv",
        "email,name,cash\r\nnew@example.com,새,1000000\r\n",
    );
    let o = cli.run(
        &["user", "register", "--file", path.to_str().unwrap()],
        None,
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: file: {}: the column \"password\" is missing",
            path.display()
        )),
        "{err}"
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM users").await, 0);

    let (_dir, path) = file(
        "orders.csv",
        "email,code,side,limit\r\nnew@example.com,005930,buy,55900\r\n",
    );
    let o = cli.run(&["place-order", "--file", path.to_str().unwrap()], None);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the column \"quantity\" is missing"),
        "{}",
        stderr(&o)
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 0);
}

#[sqlx::test]
async fn place_order_file_reports_bad_rows_writes_good_ones_and_replays_keys(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let a = user(&app, "a@example.com", 1_000_000).await;
    let b = user(&app, "b@example.com", 10_000_000).await;
    let c = user(&app, "c@example.com", 10_000_000).await;
    orders::place(&app, c, &req("005930", "buy", "10", None))
        .await
        .unwrap();
    let csv = [
        "email,code,side,quantity,limit,tif,key",
        // row 2: rests; reserves 5 × 55,500 + fee 41 = 277,541, leaving a 722,459.
        "a@example.com,005930,buy,5,55500,,a-1",
        // row 3: market, fills at 178,200: 356,400 + fee 53.
        "b@example.com,000660,buy,2,,,",
        "ghost@example.com,005930,buy,1,55900,,", // row 4
        "a@example.com,005930,buy,1,55950,,",     // row 5: off the 100-won tick
        "a@example.com,005930,buy,1,55400,,a-1",  // row 6: key of row 2 again
        // row 7: rests; 10 × 55,500 + fee 83 = 555,083, leaving a 167,376.
        "a@example.com,005930,buy,10,55500,,",
        // row 8: 4 × 55,500 + fee 33 = 222,033: more than is left after rows 2 and 7.
        "a@example.com,005930,buy,4,55500,,",
        // row 9: rests above the price, reserving 4 of c's 10 shares.
        "c@example.com,005930,sell,4,57000,,c-1",
        "c@example.com,005930,sell,7,,,", // row 10: 6 are free
        // row 11: marketable limit, fills at 98,700 + fee 14.
        "b@example.com,247540,buy,1,98700,gtc,b-1",
    ]
    .join("\n")
        + "\n";
    let (_dir, path) = file("orders.csv", &csv);
    let run = || cli.run(&["place-order", "--file", path.to_str().unwrap()], None);

    let o = run();

    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 5, "{err}");
    assert_eq!(
        lines[0],
        "row 4: email: no active user with email ghost@example.com"
    );
    assert!(
        lines[1].starts_with("row 5: price:") && lines[1].contains("is not on the 100-won tick"),
        "{err}"
    );
    assert_eq!(
        lines[2],
        "row 6: key: idempotency key \"a-1\" is duplicated (first used on row 2)"
    );
    assert!(
        lines[3].starts_with("row 8: cash: insufficient cash: this order needs 222,033 won")
            && lines[3].ends_with("but 167,376 won is available"),
        "{err}"
    );
    assert_eq!(
        lines[4],
        "row 10: quantity: insufficient shares of 005930: selling 7 but 6 are available (4 reserved by open sell orders)"
    );
    assert_eq!(stdout(&o).trim(), "5 orders written, 5 rows failed");

    // c's own buy plus rows 2, 3, 7, 9 and 11.
    assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 6);
    assert_eq!(cash(&app, a).await, (dec(167_376), dec(277_541 + 555_083)));
    assert_eq!(
        cash(&app, b).await,
        (dec(10_000_000 - 356_453 - 98_714), dec(0))
    );
    assert_eq!(shares(&app, b, "000660").await, (2, 0));
    assert_eq!(shares(&app, b, "247540").await, (1, 0));
    assert_eq!(shares(&app, c, "005930").await, (6, 4));
    let o = cli.run(&["audit"], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // Again: the keyed rows 2, 9 and 11 replay; row 6's key now names row 2's order with other
    // parameters; row 3 (no key) is placed again; a has too little cash left for rows 7 and 8.
    let o = run();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    let rows: Vec<&str> = err.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        rows,
        ["row 4", "row 5", "row 6", "row 7", "row 8", "row 10"],
        "{err}"
    );
    assert!(
        err.contains("row 6: key: idempotency key \"a-1\" was already used for order #"),
        "{err}"
    );
    assert_eq!(
        stdout(&o).trim(),
        "1 orders written, 3 replayed by idempotency key (nothing written), 6 rows failed"
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 7);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM orders WHERE idempotency_key IS NOT NULL"
        )
        .await,
        3
    );
    assert_eq!(shares(&app, b, "000660").await, (4, 0));
    assert_eq!(shares(&app, b, "247540").await, (1, 0));
    let o = cli.run(&["audit"], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_audit_clean(&app).await;
}

// --- place_many against place ------------------------------------------------------------------

const USERS: usize = 30;
const ROWS: usize = 3_000;

/// Row `i` of the file: user `i % 30`, and for that user a cycle of ten kinds of order.
fn bulk_row(i: usize) -> (usize, OrderRequest) {
    let u = i % USERS;
    let cycle = i / USERS / 10;
    let r = |code, side, qty, limit: Option<&str>, tif: Option<&str>, key: Option<String>| {
        OrderRequest::parse(code, side, qty, limit, limit.is_none(), tif, key.as_deref()).unwrap()
    };
    let key = |c: usize| Some(format!("u{u}-c{c}"));
    let req = match (i / USERS) % 10 {
        // Rests below the price.
        0 => r("005930", "buy", "1", Some("55500"), None, None),
        // Market: reserves at the upper limit, fills at 1,000, releases the rest.
        1 => r("900001", "buy", "10", None, None, None),
        // Market sell of shares bought by earlier rows.
        2 => r("900001", "sell", "5", None, None, None),
        // Marketable limit: fills at 178,200.
        3 => r("000660", "buy", "1", Some("178200"), None, None),
        // Rests above the price, if shares are free.
        4 => r("000660", "sell", "1", Some("190000"), None, None),
        // IOC that cannot fill: cancelled.
        5 => r("247540", "buy", "1", Some("98000"), Some("ioc"), None),
        // Keyed, fills at 98,700.
        6 => r("247540", "buy", "2", Some("98700"), Some("gtc"), key(cycle)),
        // A key used three cycles earlier (or this cycle's): the same parameters for even users
        // (a replay), others for odd ones (refused), or a new order when that row was refused.
        7 => {
            let qty = if u % 2 == 0 { "2" } else { "3" };
            r(
                "247540",
                "buy",
                qty,
                Some("98700"),
                Some("gtc"),
                key(cycle.saturating_sub(3)),
            )
        }
        // Market, fills at 55,900.
        8 => r("005930", "buy", "3", None, None, None),
        // Marketable limit sell: fills at 55,900.
        _ => r("005930", "sell", "2", Some("55900"), None, None),
    };
    (u, req)
}

/// 30 users of 3,000,000 won each, in email order.
async fn bulk_users(app: &App) -> Vec<i64> {
    seed_stocks(app).await;
    let mut ids = Vec::new();
    for u in 0..USERS {
        ids.push(user(app, &format!("bulk{u:02}@example.com"), 3_000_000).await);
    }
    ids
}

/// Per user (in email order): cash, holdings and orders as the database has them.
async fn end_state(pool: &PgPool) -> BTreeMap<String, String> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT u.email, concat_ws(' | ',
             'cash ' || a.available || '/' || a.reserved,
             'holdings ' || (SELECT string_agg(h.code || ':' || h.available || '/' || h.reserved || '@' || h.cost, ',' ORDER BY h.code)
                             FROM holdings h WHERE h.user_id = u.id),
             'orders ' || (SELECT count(*) FROM orders o WHERE o.user_id = u.id),
             'statuses ' || (SELECT string_agg(o.code || ' ' || o.side || ' ' || o.quantity || ' ' || o.status, ',' ORDER BY o.id)
                             FROM orders o WHERE o.user_id = u.id),
             'fees ' || (SELECT coalesce(sum(f.fee + f.tax), 0) FROM fills f WHERE f.user_id = u.id))
         FROM users u JOIN accounts a ON a.user_id = u.id ORDER BY u.email",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().collect()
}

#[sqlx::test]
async fn place_many_ends_where_placing_one_by_one_ends(pool: PgPool) {
    // The same users and stocks in a second database, for the one-by-one run.
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    // Identifiers are cut at 63 bytes, and the test database's name is that long already.
    let other = format!("{}_one_by_one", &name[..50]);
    // Test database names are stable per test: a failed earlier run may have left it behind.
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{other}\""))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{other}\""))
        .execute(&pool)
        .await
        .unwrap();
    let url = url_of(&pool).await.replacen(&name, &other, 1);
    let pool2 = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap();
    ascend::store::MIGRATOR.run(&pool2).await.unwrap();

    let bulk_app = app_at(&pool, SESSION);
    let one_app = app_at(&pool2, SESSION);
    let bulk_ids = bulk_users(&bulk_app).await;
    let one_ids = bulk_users(&one_app).await;

    let rows: Vec<BulkOrder> = (0..ROWS)
        .map(|i| {
            let (u, req) = bulk_row(i);
            BulkOrder {
                row: i + 2,
                user_id: bulk_ids[u],
                req,
            }
        })
        .collect();
    let outcomes = orders::place_many(&bulk_app, &rows, 1_000).await.unwrap();
    assert_eq!(outcomes.len(), ROWS);

    let mut one_new = Vec::new();
    for i in 0..ROWS {
        let (u, req) = bulk_row(i);
        if let Ok(p) = orders::place(&one_app, one_ids[u], &req).await {
            if !p.replayed {
                one_new.push(i + 2);
            }
        }
    }
    let bulk_new: Vec<usize> = outcomes
        .iter()
        .filter(|o| o.error.is_none() && !o.status.as_deref().unwrap().ends_with("(replayed)"))
        .map(|o| o.row)
        .collect();

    // The scenario exercises what it means to: fills, rests, refusals for cash and shares.
    let errors: Vec<&str> = outcomes.iter().filter_map(|o| o.error.as_deref()).collect();
    assert!(errors
        .iter()
        .any(|e| e.starts_with("cash: insufficient cash")));
    assert!(errors.iter().any(|e| e.starts_with("key: ")));
    assert!(outcomes
        .iter()
        .any(|o| o.status.as_deref() == Some("filled (replayed)")));
    let filled_sells = count(
        &pool,
        "SELECT count(*) FROM fills WHERE side = 'sell' AND code = '900001'",
    )
    .await;
    assert!(filled_sells > 0);

    let only_bulk: Vec<&usize> = bulk_new.iter().filter(|r| !one_new.contains(r)).collect();
    let only_one: Vec<(usize, Option<&str>)> = one_new
        .iter()
        .filter(|r| !bulk_new.contains(r))
        .map(|r| (*r, outcomes[*r - 2].error.as_deref()))
        .take(5)
        .collect();
    assert!(
        only_bulk.is_empty() && only_one.is_empty(),
        "rows that created an order only in bulk: {only_bulk:?}; only one by one: {only_one:?}"
    );
    let bulk_state = end_state(&pool).await;
    let one_state = end_state(&pool2).await;
    assert_eq!(bulk_state.len(), USERS);
    for (email, state) in &bulk_state {
        assert_eq!(Some(state), one_state.get(email), "{email}");
    }
    assert_audit_clean(&bulk_app).await;
    assert_audit_clean(&one_app).await;

    pool2.close().await;
    sqlx::query(&format!("DROP DATABASE \"{other}\""))
        .execute(&pool)
        .await
        .unwrap();
}
