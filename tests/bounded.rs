//! Memory that stays bounded whatever the input's size: `place-order --file` holds one batch
//! of rows, `settle` one batch of orders (the `settle_batch` setting).

mod common;

use std::process::Command;

use common::*;
use sqlx::PgPool;

#[sqlx::test]
async fn a_large_order_file_is_placed_in_bounded_memory(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    for i in 0..10 {
        user(&app, &format!("u{i}@example.com"), 1_000_000_000_000).await;
    }
    // 60,000 resting buys. Held whole, the file's rows took about 1.4 KB each (140 MB for
    // 100,000 rows); a batch at a time, memory is one batch however long the file.
    let rows = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.csv");
    let mut csv = String::from("email,code,side,quantity,limit\n");
    for i in 0..rows {
        csv.push_str(&format!("u{}@example.com,005930,buy,1,50000\n", i % 10));
    }
    std::fs::write(&path, csv).unwrap();
    let o = Command::new("/usr/bin/time")
        .args(["-f", "peak_rss_kb=%M"])
        .arg(env!("CARGO_BIN_EXE_ascend"))
        .args([
            "place-order",
            "--file",
            path.to_str().unwrap(),
            "-f",
            "json",
        ])
        .env("DATABASE_URL", &cli.url)
        .env("ASCEND_NOW", SESSION)
        .env("ASCEND_CONFIG_DIR", cli.config.path())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["written"].as_u64(), Some(rows));
    let placed: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'open'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(placed, rows as i64);
    let kb = peak_rss_kb(&err);
    assert!(kb < 64 * 1024, "peak RSS {kb} KB for {rows} rows");
}

/// The peak resident memory GNU time reported on `err`, in KB.
fn peak_rss_kb(err: &str) -> u64 {
    err.lines()
        .find_map(|l| l.strip_prefix("peak_rss_kb="))
        .expect("GNU time's report")
        .trim()
        .parse()
        .unwrap()
}

#[sqlx::test]
async fn settling_many_crossed_orders_holds_one_batch_in_memory(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    for i in 0..4 {
        user(&app, &format!("u{i}@example.com"), 1_000_000_000_000).await;
    }
    // 40,000 resting buys of 4 users at 55,000 (the price is 55,900); then the price falls to
    // 55,000 and every one of them crosses. Settled in one transaction they took about 2.7 KB
    // each (108 MB for 40,000); a batch at a time, memory is one batch however many cross.
    let rows = 40_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.csv");
    let mut csv = String::from("email,code,side,quantity,limit,tif\n");
    for i in 0..rows {
        csv.push_str(&format!("u{}@example.com,005930,buy,1,55000,gtc\n", i % 4));
    }
    std::fs::write(&path, csv).unwrap();
    let o = cli.run(
        &[
            "place-order",
            "--file",
            path.to_str().unwrap(),
            "-f",
            "json",
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    set_price(&app_at(&pool, "2026-11-24 10:05"), "005930", 55_000).await;
    let o = Command::new("/usr/bin/time")
        .args(["-f", "peak_rss_kb=%M"])
        .arg(env!("CARGO_BIN_EXE_ascend"))
        .args(["settle", "-f", "json"])
        .env("DATABASE_URL", &cli.url)
        .env("ASCEND_NOW", "2026-11-24 10:06")
        .env("ASCEND_CONFIG_DIR", cli.config.path())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["filled"].as_u64(), Some(rows), "{v}");
    // 2,000 orders a transaction: at least 20 of them.
    assert!(v["batches"].as_u64().unwrap() >= 20, "{v}");
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'open'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(open, 0);
    let kb = peak_rss_kb(&err);
    assert!(kb < 64 * 1024, "peak RSS {kb} KB settling {rows} orders");
    assert_audit_clean(&app_at(&pool, "2026-11-24 10:07")).await;
}
