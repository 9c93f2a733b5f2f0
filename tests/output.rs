//! Output that scripts can trust and tables that fit: through the built binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use sqlx::PgPool;
use unicode_width::UnicodeWidthStr;

/// Runs the binary with this environment (no ASCEND_FORMAT unless given).
fn run(cli: &Cli, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ascend"));
    cmd.args(args)
        .env("DATABASE_URL", &cli.url)
        .env("ASCEND_NOW", SESSION)
        .env("ASCEND_CONFIG_DIR", cli.config.path())
        .env_remove("ASCEND_FORMAT")
        .env_remove("COLUMNS")
        .env_remove("ASCEND_USER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

async fn account(pool: &PgPool) -> Cli {
    let cli = Cli::new(pool).await;
    let app = app_at(pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "w@example.com", 100_000_000).await;
    for (code, qty, limit) in [
        ("005930", "10", None),
        ("000660", "3", None),
        ("005930", "7", Some("50000")),
        ("247540", "2", Some("95000")),
    ] {
        ascend::app::orders::place(&app, u, &req(code, "buy", qty, limit))
            .await
            .unwrap();
    }
    cli
}

#[sqlx::test]
async fn without_a_terminal_the_default_is_tsv_headed_by_the_json_keys(pool: PgPool) {
    let cli = account(&pool).await;
    let o = run(&cli, &[], &["--user", "w@example.com", "orders"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(&header[..4], ["id", "user_id", "code", "side"], "{out}");
    assert_eq!(lines.count(), 4);
    assert!(!out.contains('│'), "no box drawing off a terminal");
    // JSON off a terminal is one line; ndjson one line per row.
    let o = run(
        &cli,
        &[],
        &["--user", "w@example.com", "orders", "-f", "json"],
    );
    assert_eq!(stdout(&o).lines().count(), 1);
    let o = run(
        &cli,
        &[],
        &["--user", "w@example.com", "orders", "-f", "ndjson"],
    );
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["code"].is_string()));
    // CSV: plain numbers, an empty cell for no value.
    let o = run(
        &cli,
        &[],
        &[
            "--user",
            "w@example.com",
            "portfolio",
            "--offline",
            "-f",
            "csv",
        ],
    );
    let csv = stdout(&o);
    assert!(
        !csv.contains('%') && !csv.contains(" sh") && !csv.contains("stale "),
        "{csv}"
    );
    let total = csv.lines().last().unwrap();
    assert!(total.starts_with("total,,,,,,,"), "{csv}");
}

#[sqlx::test]
async fn stock_list_as_csv_loads_back_unchanged(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    seed_stocks(&app_at(&pool, SESSION)).await;
    sqlx::query("UPDATE stocks SET kind = 'etf', leverage = 2 WHERE code = '000660'")
        .execute(&pool)
        .await
        .unwrap();
    let before: Vec<(String, String, String, rust_decimal::Decimal)> =
        sqlx::query_as("SELECT code, name, kind, leverage FROM stocks ORDER BY code")
            .fetch_all(&pool)
            .await
            .unwrap();
    let o = run(&cli, &[], &["stock", "list", "-f", "csv"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stocks.csv");
    std::fs::write(&path, &o.stdout).unwrap();
    let o = run(
        &cli,
        &[],
        &["stock", "load", path.to_str().unwrap(), "-f", "json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (v["new"].as_u64(), v["changed"].as_u64()),
        (Some(0), Some(0)),
        "{v}"
    );
    let after: Vec<(String, String, String, rust_decimal::Decimal)> =
        sqlx::query_as("SELECT code, name, kind, leverage FROM stocks ORDER BY code")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(before, after);
}

#[sqlx::test]
async fn a_closed_pipe_ends_every_format_quietly(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    // Enough stocks that the output outgrows a pipe's buffer.
    let mut csv = String::from("code,name,market,price,prev_close\n");
    for i in 0..3000 {
        csv.push_str(&format!(
            "{:06},종목 {i} 주식회사,KOSPI,10000,10000\n",
            100_000 + i
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.csv");
    std::fs::write(&path, csv).unwrap();
    assert_eq!(
        code(&run(&cli, &[], &["stock", "load", path.to_str().unwrap()])),
        0
    );
    for format in ["table", "tsv", "csv", "json", "ndjson"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ascend"))
            .args(["stock", "list", "-f", format])
            .env("DATABASE_URL", &cli.url)
            .env("ASCEND_NOW", SESSION)
            .env_remove("ASCEND_FORMAT")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read one line, as `| head -1` does, and close the pipe.
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(!first.is_empty());
        assert_eq!(code(&o), 0, "{format}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{format}");
    }
}

#[sqlx::test]
async fn tables_fit_80_columns_and_never_split_a_value(pool: PgPool) {
    let cli = account(&pool).await;
    let me = |env: &[(&str, &str)], args: &[&str]| {
        let mut a = vec!["--user", "w@example.com", "-f", "table"];
        a.extend_from_slice(args);
        let o = run(&cli, env, &a);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        stdout(&o)
    };
    let values = [
        "005930",
        "000660",
        "삼성전자",
        "SK하이닉스",
        "55,900",
        "2026-11-24 10:00:00",
    ];
    for args in [
        &["orders"][..],
        &["portfolio", "--offline"][..],
        &["stock", "search", "0"][..],
    ] {
        for columns in ["80", "0"] {
            let out = me(&[("COLUMNS", columns)], args);
            if columns == "80" {
                for line in out.lines() {
                    assert!(
                        line.width() <= 80,
                        "{args:?} at 80: {} wide:\n{out}",
                        line.width()
                    );
                }
            }
            // Every value that is shown is whole on one line.
            for v in values {
                let pieces = v.len().min(4);
                let head = &v[..v.char_indices().nth(pieces).map_or(v.len(), |(i, _)| i)];
                if out.contains(head) {
                    assert!(out.contains(v), "{args:?} at {columns}: {v} split:\n{out}");
                }
            }
        }
    }
}
