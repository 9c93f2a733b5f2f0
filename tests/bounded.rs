//! Memory that stays bounded whatever the input's size: `place-order --file` holds one batch.

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
    let kb: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kb="))
        .expect("GNU time's report")
        .trim()
        .parse()
        .unwrap();
    assert!(kb < 64 * 1024, "peak RSS {kb} KB for {rows} rows");
}
