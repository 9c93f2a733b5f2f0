//! Bad input through the built binary: refused with exit 3 and one line naming the field and
//! the rule (or, in a bulk file, one `row N: field: rule` line per bad row), nothing written.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::*;
use sqlx::PgPool;

/// One line on stderr, exit 3, starting with `error: ` and the field.
fn assert_rejected(o: &Output, field_and_rule: &str) {
    let err = stderr(o);
    assert_eq!(code(o), 3, "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(&format!("error: {field_and_rule}")),
        "{err}"
    );
}

/// Writes `bytes` to a file named `name` in a fresh directory.
fn file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

const GROUPS: &str = "is not a number: commas must separate groups of three digits";

#[sqlx::test]
async fn misplaced_thousands_separators_are_refused_in_arguments(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    user(&app, "kim@example.com", 100_000_000).await;
    let order = |qty: &str, limit: &str| {
        cli.run(
            &[
                "--user",
                "kim@example.com",
                "place-order",
                "005930",
                "buy",
                qty,
                "--limit",
                limit,
            ],
            None,
        )
    };
    for q in ["1,5", "10,00", "1,0000", ",100", "100,"] {
        assert_rejected(&order(q, "55,900"), &format!("quantity: {q:?} {GROUPS}"));
    }
    for p in ["55,90,0", "5,5900", "55900,"] {
        assert_rejected(&order("1", p), &format!("price: {p:?} {GROUPS}"));
    }
    let register = |cash: &str| {
        cli.run(
            &[
                "user",
                "register",
                "--email",
                "lee@example.com",
                "--name",
                "이",
                "--password-stdin",
                "--cash",
                cash,
            ],
            Some("password123\n"),
        )
    };
    assert_rejected(&register("1,0000"), &format!("cash: \"1,0000\" {GROUPS}"));
    assert_rejected(
        &cli.run(
            &["admin", "settings", "set", "commission_pct", "0,015"],
            None,
        ),
        &format!("commission_pct: \"0,015\" {GROUPS}"),
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM users").await, 1);

    // Correct grouping still reads as the number it groups.
    let o = order("1,000", "55,900");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = register("12,345,678");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let placed: (i64, i64) = sqlx::query_as(
        "SELECT quantity, limit_price::bigint FROM orders WHERE user_id = (SELECT id FROM users WHERE email = 'kim@example.com')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(placed, (1_000, 55_900));
    let cash: i64 = sqlx::query_scalar(
        "SELECT initial_cash::bigint FROM users WHERE email = 'lee@example.com'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(cash, 12_345_678);
}

#[sqlx::test]
async fn misplaced_thousands_separators_are_refused_in_csv_cells(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    user(&app, "kim@example.com", 100_000_000).await;

    let (_dir, users) = file(
        "users.csv",
        b"email,name,password,cash\n\
          a@example.com,A,password123,\"1,0000\"\n\
          b@example.com,B,password123,\"2,000,000\"\n\
          c@example.com,C,password123,\"100,\"\n",
    );
    let o = cli.run(
        &["user", "register", "--file", users.to_str().unwrap()],
        None,
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        format!("row 2: cash: \"1,0000\" {GROUPS}, as in 12,345,678\nrow 4: cash: \"100,\" {GROUPS}, as in 12,345,678\n")
    );
    assert_eq!(stdout(&o).trim(), "1 users written, 2 rows failed");
    let written: Vec<(String, i64)> =
        sqlx::query_as("SELECT email, initial_cash::bigint FROM users ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        written,
        [
            ("kim@example.com".to_string(), 100_000_000),
            ("b@example.com".to_string(), 2_000_000)
        ]
    );

    let (_dir, orders) = file(
        "orders.csv",
        b"email,code,side,quantity,limit,tif,key\n\
          kim@example.com,005930,buy,\"10,00\",55900,,\n\
          kim@example.com,005930,buy,\"1,000\",\"55,900\",,\n\
          kim@example.com,005930,buy,1,\",55900\",,\n",
    );
    let o = cli.run(&["place-order", "--file", orders.to_str().unwrap()], None);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with(&format!("row 2: quantity: \"10,00\" {GROUPS}")),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!("row 4: price: \",55900\" {GROUPS}")),
        "{err}"
    );
    let placed: Vec<(i64, i64)> =
        sqlx::query_as("SELECT quantity, limit_price::bigint FROM orders")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(placed, [(1_000, 55_900)]);

    // `stock load` refuses the whole file for one bad row.
    let (_dir, stocks) = file(
        "stocks.csv",
        b"code,name,market,price,prev_close\n\
          005930,\xec\x82\xbc\xec\x84\xb1\xec\xa0\x84\xec\x9e\x90,KOSPI,\"57,000\",56600\n\
          000660,SK,KOSPI,178200,\"174,80\"\n",
    );
    let o = cli.run(&["stock", "load", stocks.to_str().unwrap()], None);
    assert_rejected(
        &o,
        &format!(
            "{}: row 3: prev_close: \"174,80\" {GROUPS}",
            stocks.display()
        ),
    );
    let price: i64 = sqlx::query_scalar("SELECT price::bigint FROM stocks WHERE code = '005930'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(price, 55_900, "nothing loaded");
}

#[sqlx::test]
async fn invisible_format_characters_are_refused_in_names_emails_and_keys(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    user(&app, "kim@example.com", 10_000_000).await;
    let register = |email: &str, name: &str| {
        cli.run(
            &[
                "user",
                "register",
                "--email",
                email,
                "--name",
                name,
                "--password-stdin",
            ],
            Some("password123\n"),
        )
    };
    assert_rejected(
        &register("lee@example.com", "\u{202E}nimda"),
        "name: contains an invisible format character U+202E",
    );
    assert_rejected(
        &register("lee@example.com", "이\u{00AD}민"),
        "name: contains an invisible format character U+00AD",
    );
    assert_rejected(
        &register("lee\u{200B}@example.com", "이"),
        "email: contains an invisible format character U+200B",
    );
    let o = cli.run(
        &[
            "--user",
            "kim@example.com",
            "place-order",
            "005930",
            "buy",
            "1",
            "--limit",
            "55900",
            "--key",
            "rebalance-\u{2066}1",
        ],
        None,
    );
    assert_rejected(&o, "key: contains an invisible format character U+2066");
    assert_eq!(count(&pool, "SELECT count(*) FROM users").await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 0);

    // In a file: a BOM opens it (as a spreadsheet writes it), but not a cell.
    let (_dir, users) = file(
        "users.csv",
        "\u{feff}email,name,password\n\
         a@example.com,A,password123\n\
         b@example.com,\u{feff}B,password123\n\
         c\u{200F}@example.com,C,password123\n"
            .as_bytes(),
    );
    let o = cli.run(
        &["user", "register", "--file", users.to_str().unwrap()],
        None,
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "row 3: name: contains an invisible format character U+FEFF\n\
         row 4: email: contains an invisible format character U+200F\n"
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM users").await, 2);

    let (_dir, orders) = file(
        "orders.csv",
        "email,code,side,quantity,limit,tif,key\n\
         kim@example.com,005930,buy,1,55900,,k\u{200B}1\n\
         kim\u{202A}@example.com,005930,buy,1,55900,,k2\n\
         kim@example.com,005930,buy,1,55900,,k3\n"
            .as_bytes(),
    );
    let o = cli.run(&["place-order", "--file", orders.to_str().unwrap()], None);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "row 2: key: contains an invisible format character U+200B\n\
         row 3: email: contains an invisible format character U+202A\n"
    );
    let keys: Vec<String> = sqlx::query_scalar("SELECT idempotency_key FROM orders")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(keys, ["k3"]);
}

#[sqlx::test]
async fn a_nul_byte_or_a_byte_that_is_not_utf8_in_a_csv_cell_is_bad_input(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    user(&app, "kim@example.com", 10_000_000).await;

    // 김 in CP949, as a spreadsheet saved in the Korean legacy encoding writes it.
    let (_dir, users) = file(
        "users.csv",
        b"email,name,password\n\
          a@example.com,A,password123\n\
          b@example.com,B\0,password123\n\
          c@example.com,\xb1\xe8,password123\n\
          d@example.com,D,pass\0word123\n",
    );
    let o = cli.run(
        &["user", "register", "--file", users.to_str().unwrap()],
        None,
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "row 3: name: contains a NUL byte (at byte 2)\n\
         row 4: name: byte 0xB1 at byte 1 of the cell is not UTF-8 (save the file as UTF-8)\n\
         row 5: password: contains a NUL byte (at byte 5)\n"
    );
    assert_eq!(stdout(&o).trim(), "1 users written, 3 rows failed");
    assert_eq!(count(&pool, "SELECT count(*) FROM users").await, 2);

    // The email of an order row is looked up in the database: a NUL used to reach it (exit 5).
    let (_dir, orders) = file(
        "orders.csv",
        b"email,code,side,quantity,limit,tif,key\n\
          kim@example.com\0,005930,buy,1,55900,,\n\
          kim@example.com,005930,buy,1,55900,,k\xff\n\
          kim@example.com,005930,buy,1,55900,,k3\n",
    );
    let o = cli.run(&["place-order", "--file", orders.to_str().unwrap()], None);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "row 2: email: contains a NUL byte (at byte 16)\n\
         row 3: key: byte 0xFF at byte 2 of the cell is not UTF-8 (save the file as UTF-8)\n"
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 1);

    // `stock load` refuses the whole file.
    let (_dir, stocks) = file(
        "stocks.csv",
        b"code,name,market,price,prev_close\n\
          005930,Samsung,KOSPI,56000,56600\n\
          000660,SK\0,KOSPI,178200,174800\n",
    );
    let o = cli.run(&["stock", "load", stocks.to_str().unwrap()], None);
    assert_rejected(
        &o,
        &format!(
            "{}: row 3: name: contains a NUL byte (at byte 3)",
            stocks.display()
        ),
    );
    let name: String = sqlx::query_scalar("SELECT name FROM stocks WHERE code = '005930'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "삼성전자", "nothing loaded");
}

#[sqlx::test]
async fn a_command_that_succeeds_prints_nothing_on_stderr(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    user(&app, "kim@example.com", 10_000_000).await;
    let o = cli.run(
        &[
            "--user",
            "kim@example.com",
            "place-order",
            "005930",
            "buy",
            "1",
            "--limit",
            "55900",
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    let o = cli.run(&["--user", "kim@example.com", "orders"], None);
    assert_eq!((code(&o), stderr(&o).as_str()), (0, ""));
}

#[test]
fn a_refused_connection_is_named_at_once() {
    let started = std::time::Instant::now();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args(["--user", "kim@example.com", "orders"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/x")
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "error: database unavailable: connection refused at 127.0.0.1:1\n"
    );
    // sqlx alone retries until its 5 s timeout and then says only that the pool timed out.
    assert!(
        elapsed < std::time::Duration::from_secs(3),
        "took {elapsed:?}"
    );
}
