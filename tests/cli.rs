//! The built `ascend` binary: exit codes, one-line errors, formats and the session file.

mod common;

use std::process::{Command, Output};

use common::*;
use sqlx::PgPool;

/// One line on stderr, starting with `error: ` and the field.
fn assert_rejected(o: &Output, field_and_rule: &str) {
    let err = stderr(o);
    assert_eq!(code(o), 3, "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(&format!("error: {field_and_rule}")),
        "{err}"
    );
}

#[sqlx::test]
async fn a_session_from_register_to_audit(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    seed_stocks(&app_at(&pool, SESSION)).await;
    let o = cli.run(
        &[
            "user",
            "register",
            "--email",
            "cli@example.com",
            "--name",
            "CLI",
            "--password-stdin",
        ],
        Some("password123\n"),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Not logged in yet: exit 4.
    let o = cli.run(&["orders"], None);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: session: not logged in"));
    let o = cli.run(
        &["login", "--email", "cli@example.com", "--password-stdin"],
        Some("wrong-password\n"),
    );
    assert_eq!(code(&o), 4);
    let o = cli.run(
        &["login", "--email", "cli@example.com", "--password-stdin"],
        Some("password123\n"),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let session = cli.config.path().join("session");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&session).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let o = cli.run(
        &[
            "place-order",
            "005930",
            "buy",
            "10",
            "--market",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["order"]["status"], "filled");
    assert_eq!(v["fill"]["price"], "55900");
    assert_eq!(v["fill"]["fee"], "83");
    let o = cli.run(
        &["place-order", "005930", "sell", "3", "--limit", "57000"],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // CSV for programs: the JSON keys as headers, plain values, an empty cell for none.
    let o = cli.run(&["orders", "--open", "--format", "csv"], None);
    let out = stdout(&o);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(lines.next(), None);
    let cell = |k: &str| {
        row[header
            .iter()
            .position(|h| *h == k)
            .unwrap_or_else(|| panic!("{k} in {header:?}"))]
    };
    assert_eq!(
        [
            "code",
            "side",
            "kind",
            "tif",
            "quantity",
            "limit_price",
            "filled_quantity",
            "status",
            "reserved_shares",
            "reason"
        ]
        .map(cell),
        ["005930", "sell", "limit", "day", "3", "57000", "0", "open", "3", ""]
    );
    assert!(
        cell("created_at").starts_with("2026-11-24T01:00:00"),
        "{out}"
    );
    let o = cli.run(&["trades", "--format", "json"], None);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    let o = cli.run(&["whoami", "--format", "json"], None);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["email"],
        "cli@example.com"
    );

    let o = cli.run(&["audit"], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("all five ledger invariants hold"));
    sqlx::query("UPDATE holdings SET available = available + 1")
        .execute(&pool)
        .await
        .unwrap();
    let o = cli.run(&["audit"], None);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("audit: invariant 1 violated: holding of user #1 in 005930"),
        "{}",
        stderr(&o)
    );

    // A forged session file: exit 4.
    std::fs::write(&session, "f".repeat(64)).unwrap();
    let o = cli.run(&["orders"], None);
    assert_eq!(code(&o), 4);
    assert!(stderr(&o).contains("not recognised"));
    let o = cli.run(&["logout"], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!session.exists());
}

#[sqlx::test]
async fn bad_input_is_one_line_exit_3_and_writes_nothing(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    user(&app, "bad@example.com", 10_000_000).await;
    let as_user = |args: &[&str]| {
        let mut a = vec!["--user", "bad@example.com"];
        a.extend_from_slice(args);
        cli.run(&a, None)
    };
    assert_rejected(
        &as_user(&["place-order", "5930", "buy", "1", "--market"]),
        "code:",
    );
    assert_rejected(
        &as_user(&["place-order", "123456", "buy", "1", "--market"]),
        "code: no stock with code 123456",
    );
    for q in ["0", "-1", "1.5", "100000000", "lots"] {
        assert_rejected(
            &as_user(&["place-order", "005930", "buy", q, "--market"]),
            "quantity:",
        );
    }
    for p in ["55950", "0", "-100", "80000"] {
        assert_rejected(
            &as_user(&["place-order", "005930", "buy", "1", "--limit", p]),
            "price:",
        );
    }
    assert_rejected(
        &as_user(&[
            "place-order",
            "005930",
            "buy",
            "1",
            "--limit",
            "55900",
            "--market",
        ]),
        "limit: give either",
    );
    assert_rejected(
        &as_user(&["place-order", "005930", "buy", "1"]),
        "limit: give --limit",
    );
    // Side and time in force are a closed set: clap names the values (usage, exit 2).
    let o = as_user(&["place-order", "005930", "hold", "1", "--market"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("invalid value 'hold'")
            && stderr(&o).contains("[possible values: buy, sell]"),
        "{}",
        stderr(&o)
    );
    let o = as_user(&[
        "place-order",
        "005930",
        "buy",
        "1",
        "--limit",
        "55900",
        "--tif",
        "gtd",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("[possible values: day, gtc, ioc, fok]"),
        "{}",
        stderr(&o)
    );
    assert_rejected(
        &as_user(&["place-order", "005930", "buy", "1000", "--market"]),
        "cash: insufficient cash",
    );
    assert_rejected(
        &as_user(&["place-order", "005930", "sell", "1", "--market"]),
        "quantity: insufficient shares",
    );
    assert_rejected(
        &as_user(&[
            "--now",
            "2026-11-28 10:00",
            "place-order",
            "005930",
            "buy",
            "1",
            "--market",
        ]),
        "kind: a market order cannot be placed on a day the market is closed",
    );
    assert_rejected(
        &as_user(&[
            "--now",
            "2026-11-24 11:00",
            "place-order",
            "005930",
            "buy",
            "1",
            "--limit",
            "55900",
        ]),
        "price: the stored price of 005930",
    );
    assert_rejected(&as_user(&["--now", "soon", "orders"]), "now:");
    assert_rejected(&as_user(&["cancel", "abc"]), "order_id:");
    assert_rejected(&as_user(&["cancel", "42"]), "order: no order #42");
    assert_rejected(
        &cli.run(
            &[
                "user",
                "register",
                "--email",
                "not-an-email",
                "--name",
                "x",
                "--password-stdin",
            ],
            Some("password123\n"),
        ),
        "email:",
    );
    assert_rejected(
        &cli.run(
            &[
                "user",
                "register",
                "--email",
                "x@example.com",
                "--name",
                "x",
                "--password-stdin",
            ],
            Some("short\n"),
        ),
        "password: must be at least 8",
    );
    assert_rejected(
        &cli.run(
            &[
                "user",
                "register",
                "--email",
                "BAD@example.com",
                "--name",
                "x",
                "--password-stdin",
            ],
            Some("password123\n"),
        ),
        "email: BAD@example.com is already registered",
    );
    assert_rejected(
        &cli.run(
            &[
                "user",
                "register",
                "--email",
                "y@example.com",
                "--name",
                "y",
                "--password-stdin",
                "--cash",
                "12.5",
            ],
            Some("password123\n"),
        ),
        "cash:",
    );
    assert_rejected(
        &cli.run(&["--user", "ghost@example.com", "orders"], None),
        "user: no active user with email ghost@example.com",
    );
    let o = cli.run(&["--user", "bad@example.com", "orders"], None);
    assert_eq!(code(&o), 0);
    let counts: (i64, i64, i64) = sqlx::query_as("SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM users), (SELECT count(*) FROM journal_entries)")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(counts, (0, 1, 1));
    // Usage errors are clap's exit 2.
    assert_eq!(code(&cli.run(&["place-order"], None)), 2);
    assert_eq!(code(&cli.run(&["no-such-command"], None)), 2);
}

#[test]
fn an_unreachable_database_is_exit_5_with_a_message() {
    let o = Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args(["db", "status"])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing")
        .output()
        .unwrap();
    assert_eq!(code(&o), 5);
    let err = stderr(&o);
    assert!(err.starts_with("error: database unavailable:"), "{err}");
    assert!(!err.contains("panicked"));
    let o = Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args(["db", "status"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(code(&o), 5);
    assert!(stderr(&o).contains("DATABASE_URL is not set"));
}

#[test]
fn help_documents_exit_codes() {
    let o = Command::new(env!("CARGO_BIN_EXE_ascend"))
        .arg("--help")
        .output()
        .unwrap();
    let out = stdout(&o);
    assert_eq!(code(&o), 0);
    for line in ["3  rejected", "4  authentication", "5  infrastructure"] {
        assert!(out.contains(line), "{out}");
    }
}

#[sqlx::test]
async fn db_migrate_and_status_report_every_migration(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let o = cli.run(&["db", "migrate", "--format", "json"], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.as_array().unwrap().iter().all(|m| m["applied"] == true));
    let o = cli.run(&["db", "status"], None);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("trading core"));
}

#[sqlx::test]
async fn settle_and_stock_load_from_the_command_line(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("stocks.csv");
    std::fs::write(
        &csv,
        "code,name,market,price,prev_close\n005930,삼성전자,KOSPI,55900,56600\n",
    )
    .unwrap();
    let o = cli.run(&["stock", "load", csv.to_str().unwrap()], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::write(
        &csv,
        // A loaded price is a market fact: not tick-checked, but it must lie in its band.
        "code,name,market,price,prev_close\n005930,삼성전자,KOSPI,80000,56600\n",
    )
    .unwrap();
    let o = cli.run(&["stock", "load", csv.to_str().unwrap()], None);
    assert_rejected(
        &o,
        &format!("{}: row 2: price: stock 005930", csv.display()),
    );
    // The same code twice is bad input, not a database error.
    std::fs::write(
        &csv,
        "code,name,market,price,prev_close\n005930,삼성전자,KOSPI,56000,56600\n005930,삼성전자,KOSPI,56100,56600\n",
    )
    .unwrap();
    let o = cli.run(&["stock", "load", csv.to_str().unwrap()], None);
    assert_rejected(
        &o,
        &format!("{}: row 3: code: 005930 is already on row 2", csv.display()),
    );
    let o = cli.run(&["stock", "list", "--format", "json"], None);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["price"], "55900");
    let o = cli.run(&["settle", "--format", "json"], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["filled"], 0);
    // A --close run during the session (a timer catching up) expires only the DAY orders of
    // sessions before and says so.
    let o = cli.run(&["settle", "--close", "--format", "json"], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("settle --close: the session is still open"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["filled"].as_u64(), v["expired"].as_u64()),
        (Some(0), Some(0))
    );
}

/// The message for a date past the holiday table with no crawled bars covering it.
const PAST_THE_TABLE: &str = "calendar: 2028 is past the KRX holiday table (2024–2027) and no \
                              crawled index bars cover 2028-03-02; crawl with --history or \
                              update the table";

#[sqlx::test]
async fn a_day_the_calendar_cannot_answer_is_refused_and_nothing_is_written(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let id = user(&app, "later@example.com", 10_000_000).await;
    let count = |table: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let tables = ["orders", "fills", "journal_entries", "snapshots"];
    let mut before = Vec::new();
    for t in tables {
        before.push(count(t).await);
    }
    let later = |args: &[&str]| {
        let mut a = vec!["--user", "later@example.com", "--now", "2028-03-02 10:00"];
        a.extend_from_slice(args);
        cli.run(&a, None)
    };
    for args in [
        vec!["place-order", "005930", "buy", "1", "--limit", "55900"],
        vec!["place-order", "005930", "buy", "1", "--market"],
        vec!["settle"],
        vec!["settle", "--close"],
        vec!["snapshot", "--date", "2028-03-02"],
    ] {
        let o = later(&args);
        assert_eq!(code(&o), 3, "{args:?}: {}", stderr(&o));
        assert_eq!(
            stderr(&o).trim_end(),
            format!("error: {PAST_THE_TABLE}"),
            "{args:?}"
        );
    }
    for (t, n) in tables.iter().zip(before) {
        assert_eq!(count(t).await, n, "{t}");
    }
    assert_eq!(cash(&app, id).await, (dec(10_000_000), dec(0)));
}
