//! Batch jobs that are safe to miss: `snapshot` without a date records every closed trading
//! day a user is missing (valued at that day's closes, noting a price carried from an earlier
//! day), refuses a date before the stored data, and deletes expired sessions.

mod common;

use ascend::app::snapshot::{catch_up, DayResult};
use ascend::app::users;
use ascend::app::{orders, resolve, Actor};
use ascend::market::Bar;
use ascend::store::market::upsert_bars;
use chrono::{DateTime, NaiveDate, Utc};
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sqlx::PgPool;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Daily (regular-session) bars with the close as every price.
async fn bars(pool: &PgPool, symbol: &str, closes: &[(&str, i64)]) {
    let bars: Vec<(String, Bar)> = closes
        .iter()
        .map(|(date, c)| {
            let c = dec(*c);
            (
                symbol.to_string(),
                Bar {
                    date: d(date),
                    open: c,
                    high: c,
                    low: c,
                    close: c,
                    volume: 1_000,
                },
            )
        })
        .collect();
    upsert_bars(&mut pool.acquire().await.unwrap(), &bars, None)
        .await
        .unwrap();
}

type Row = (
    i64,
    NaiveDate,
    Decimal,
    Decimal,
    Decimal,
    Option<Decimal>,
    Option<String>,
);

async fn rows(pool: &PgPool) -> Vec<Row> {
    sqlx::query_as(
        "SELECT user_id, date, cash, stock_value, total, daily_return, note
         FROM snapshots ORDER BY date, user_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn taken_at(pool: &PgPool) -> Vec<DateTime<Utc>> {
    sqlx::query_scalar("SELECT taken_at FROM snapshots ORDER BY date, user_id")
        .fetch_all(pool)
        .await
        .unwrap()
}

fn taken(date: &str, users: u64) -> DayResult {
    DayResult {
        date: d(date),
        users: Some(users),
        note: None,
    }
}

/// Monday 2026-11-23 10:00: A (10,000,000) buys 10 × 005930 @ 55,900 (559,000 + fee 83) and
/// 2 × 000660 @ 178,200 (356,400 + fee 53): cash 9,084,464. Bars Monday to Friday for 005930;
/// for 000660 none on Friday 11-27. Wednesday 12:00: B (1,000,000) signs up.
/// A time in Wednesday's session after [`week`]'s last ledger entry (B's sign-up at 12:00).
const WEDNESDAY: &str = "2026-11-25 13:00";

async fn week(pool: &PgPool) -> (i64, i64) {
    let monday = app_at(pool, "2026-11-23 10:00");
    seed_stocks(&monday).await;
    let a = user(&monday, "a@example.com", 10_000_000).await;
    orders::place(&monday, a, &req("005930", "buy", "10", None))
        .await
        .unwrap();
    orders::place(&monday, a, &req("000660", "buy", "2", None))
        .await
        .unwrap();
    let b = user(
        &app_at(pool, "2026-11-25 12:00"),
        "b@example.com",
        1_000_000,
    )
    .await;
    bars(
        pool,
        "005930",
        &[
            ("2026-11-23", 55_900),
            ("2026-11-24", 56_000),
            ("2026-11-25", 56_500),
            ("2026-11-26", 57_000),
            ("2026-11-27", 58_000),
        ],
    )
    .await;
    bars(
        pool,
        "000660",
        &[
            ("2026-11-23", 178_200),
            ("2026-11-24", 179_000),
            ("2026-11-25", 180_000),
            ("2026-11-26", 181_000),
        ],
    )
    .await;
    (a, b)
}

#[sqlx::test]
async fn a_missed_friday_is_recorded_on_monday_morning_at_fridays_closes(pool: PgPool) {
    let (a, b) = week(&pool).await;
    // Thursday after the close: Monday to Thursday, B from its sign-up day.
    let s = catch_up(&app_at(&pool, "2026-11-26 18:00")).await.unwrap();
    assert_eq!(
        s.days,
        [
            taken("2026-11-23", 1),
            taken("2026-11-24", 1),
            taken("2026-11-25", 2),
            taken("2026-11-26", 2),
        ]
    );
    assert_eq!(s.up_to, Some(d("2026-11-26")));

    // Friday's run never happens. Monday 08:00, before the session: Friday is recorded (not
    // "the session has not closed yet"), at Friday's closes; 000660 had no bar on Friday and
    // is valued at Thursday's, which the row says.
    let monday = app_at(&pool, "2026-11-30 08:00");
    let s = catch_up(&monday).await.unwrap();
    assert_eq!(
        s.days,
        [DayResult {
            date: d("2026-11-27"),
            users: Some(2),
            note: Some("carried prices for 1 user (see assets --history)".into()),
        }]
    );
    assert_eq!(s.up_to, Some(d("2026-11-27")));
    let all = rows(&pool).await;
    let friday: Vec<&Row> = all.iter().filter(|r| r.1 == d("2026-11-27")).collect();
    // A: 10 × 58,000 + 2 × 181,000 = 942,000; Thursday 10 × 57,000 + 2 × 181,000 = 932,000,
    // so the daily return is 10,000 / 10,016,464 = 0.09983 % → 0.0998. B holds nothing.
    assert_eq!(
        friday,
        [
            &(
                a,
                d("2026-11-27"),
                dec(9_084_464),
                dec(942_000),
                dec(10_026_464),
                Some(dec!(0.0998)),
                Some("000660 carried from 2026-11-26".into())
            ),
            &(
                b,
                d("2026-11-27"),
                dec(1_000_000),
                dec(0),
                dec(1_000_000),
                Some(dec!(0)),
                None
            ),
        ]
    );
    // Every other day had its bars: no note.
    assert_eq!(all.iter().filter(|r| r.6.is_some()).count(), 1);
    assert_eq!(all.len(), 1 + 1 + 2 + 2 + 2);

    // A rerun writes nothing: the same rows, not even rewritten.
    let before = taken_at(&pool).await;
    let s = catch_up(&app_at(&pool, "2026-11-30 09:30")).await.unwrap();
    assert!(s.days.is_empty(), "{:?}", s.days);
    assert_eq!(rows(&pool).await, all);
    assert_eq!(taken_at(&pool).await, before);
    assert_audit_clean(&monday).await;
}

#[sqlx::test]
async fn on_a_saturday_the_catch_up_records_up_to_friday(pool: PgPool) {
    let (a, b) = week(&pool).await;
    // Nothing recorded yet: each user from the registration day, Friday included.
    let saturday = app_at(&pool, "2026-11-28 10:00");
    let s = catch_up(&saturday).await.unwrap();
    assert_eq!(
        s.days.iter().map(|r| (r.date, r.users)).collect::<Vec<_>>(),
        [
            (d("2026-11-23"), Some(1)),
            (d("2026-11-24"), Some(1)),
            (d("2026-11-25"), Some(2)),
            (d("2026-11-26"), Some(2)),
            (d("2026-11-27"), Some(2)),
        ]
    );
    let users: Vec<(i64, i64)> =
        sqlx::query_as("SELECT user_id, count(*) FROM snapshots GROUP BY 1 ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(users, [(a, 5), (b, 3)]);
    // Sunday: nothing new.
    let s = catch_up(&app_at(&pool, "2026-11-29 23:00")).await.unwrap();
    assert!(s.days.is_empty());
    assert_eq!(s.up_to, Some(d("2026-11-27")));
}

#[sqlx::test]
async fn snapshot_deletes_the_sessions_expired_by_the_app_clock(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    user(&app, "s@example.com", 1_000).await;
    // Expires 2026-12-01 10:00 KST.
    let (_, old, _) = users::login(&app, "s@example.com", "password123")
        .await
        .unwrap();
    // Expires 2026-12-04 10:00 KST.
    let later = app_at(&pool, "2026-11-27 10:00");
    let (_, new, _) = users::login(&later, "s@example.com", "password123")
        .await
        .unwrap();
    let sessions = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sessions")
            .fetch_one(&pool)
            .await
            .unwrap()
    };

    // Before either expires: nothing deleted.
    let s = catch_up(&app_at(&pool, "2026-11-30 18:00")).await.unwrap();
    assert_eq!(s.expired_sessions, 0);
    assert_eq!(sessions().await, 2);
    // After the first expires: it is deleted, the other still works.
    let after = app_at(&pool, "2026-12-02 18:00");
    let s = catch_up(&after).await.unwrap();
    assert_eq!(s.expired_sessions, 1);
    assert_eq!(sessions().await, 1);
    assert!(resolve(&after, &Actor::Session(new)).await.is_ok());
    let e = resolve(&after, &Actor::Session(old)).await.unwrap_err();
    assert!(e.to_string().contains("not recognised"), "{e}");
}

#[sqlx::test]
async fn the_command_catches_up_before_the_close_and_refuses_a_date_before_the_first_day(
    pool: PgPool,
) {
    let (a, _) = week(&pool).await;
    let cli = Cli::new(&pool).await;
    // An expired session, to see that a refused snapshot deletes nothing either.
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
         VALUES ('x', $1, '2026-11-01', '2026-11-08')",
    )
    .bind(a)
    .execute(&pool)
    .await
    .unwrap();

    // The first stored day is 2026-11-23 (the first bar and the first ledger entry).
    let o = cli.run_at(Some(WEDNESDAY), &["snapshot", "--date", "2026-11-20"], None);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "error: date: 2026-11-20 is before 2026-11-23, the first day with stored prices or \
         trades; there is nothing to value it with\n"
    );
    let o = cli.run_at(
        Some(WEDNESDAY),
        &["snapshot", "--from", "2026-11-19", "--to", "2026-11-23"],
        None,
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: from: 2026-11-19 is before"));
    assert!(rows(&pool).await.is_empty());
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 1);

    // Wednesday 13:00, in the session: Monday and Tuesday are recorded instead of a refusal.
    let o = cli.run_at(Some(WEDNESDAY), &["snapshot", "--format", "csv"], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "date,users,note\n2026-11-23,1,\n2026-11-24,1,\n"
    );
    assert_eq!(
        stderr(&o),
        "snapshot: 2 trading days recorded up to 2026-11-24; 1 expired session deleted\n"
    );
    let o = cli.run_at(Some(WEDNESDAY), &["snapshot"], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "snapshot: nothing missing up to 2026-11-24; 0 expired sessions deleted\n"
    );
    assert_eq!(rows(&pool).await.len(), 2);
}

#[sqlx::test]
async fn assets_history_footnotes_a_carried_price(pool: PgPool) {
    week(&pool).await;
    catch_up(&app_at(&pool, "2026-11-28 10:00")).await.unwrap();
    let cli = Cli::new(&pool).await;
    let o = cli.run_at(
        Some("2026-11-28 10:00"),
        &["--user", "a@example.com", "assets", "--history"],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let table = stdout(&o);
    // The day is marked in the table and explained under it; the table fits 80 columns.
    assert!(table.contains("│ 2026-11-27* ┆"), "{table}");
    assert!(table.contains("│ 2026-11-26  ┆"), "{table}");
    assert!(
        table.contains("\n* 2026-11-27: 000660 carried from 2026-11-26\n"),
        "{table}"
    );
    assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
    // For programs the note is a field.
    let o = cli.run_at(
        Some("2026-11-28 10:00"),
        &[
            "--user",
            "a@example.com",
            "assets",
            "--history",
            "--format",
            "csv",
        ],
        None,
    );
    let csv = stdout(&o);
    assert!(
        csv.starts_with("date,cash,stock_value,total,daily_return,cumulative_return,note\n"),
        "{csv}"
    );
    assert!(
        csv.contains(
            "\n2026-11-27,9084464,942000,10026464,0.0998,0.2646,000660 carried from 2026-11-26\n"
        ),
        "{csv}"
    );
}

// --- settle, missed or stopped -----------------------------------------------------------------

#[sqlx::test]
async fn a_missed_close_expires_the_day_order_at_the_next_settle_never_fills_it(pool: PgPool) {
    // Tuesday 10:00: a DAY buy and a GTC buy rest below the market, placed through the binary.
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "missed@example.com", 10_000_000).await;
    let cli = Cli::new(&pool).await;
    for tif in ["day", "gtc"] {
        let o = cli.run(
            &[
                "--user",
                "missed@example.com",
                "place-order",
                "005930",
                "buy",
                "1",
                "--limit",
                "55000",
                "--tif",
                tif,
            ],
            None,
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    // The 15:40 `settle --close` never runs. Wednesday 10:00 the price crosses both limits:
    // the next settle expires Tuesday's DAY order (releasing its reservation) before filling,
    // and fills the GTC one only.
    set_price(&app_at(&pool, "2026-11-25 10:00"), "005930", 54_900).await;
    let o = cli.run(
        &["--now", "2026-11-25 10:00", "settle", "--format", "json"],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (v["expired"].as_u64(), v["filled"].as_u64()),
        (Some(1), Some(1))
    );
    let orders: Vec<(String, String)> =
        sqlx::query_as("SELECT tif, status FROM orders ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        orders,
        [
            ("day".to_string(), "expired".to_string()),
            ("gtc".to_string(), "filled".to_string())
        ]
    );
    let fills: i64 = sqlx::query_scalar("SELECT count(*) FROM fills")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(fills, 1);
    assert_eq!(cash(&app, u).await.1, dec(0));
    let o = cli.run_at(Some("2026-11-25 10:00"), &["audit"], None);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test]
async fn sigterm_mid_settle_exits_143_rolls_back_and_a_rerun_converges(pool: PgPool) {
    // Six users with five resting buys each; the first also holds 005930 already, so a fill
    // for it updates its holding row.
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(user(&app, &format!("u{i}@example.com"), 10_000_000).await);
    }
    let held = users[0];
    orders::place(&app, held, &req("005930", "buy", "1", None))
        .await
        .unwrap();
    for u in &users {
        for _ in 0..5 {
            orders::place(&app, *u, &req("005930", "buy", "1", Some("55000")))
                .await
                .unwrap();
        }
    }
    set_price(&app, "005930", 54_900).await;
    let resting = "SELECT count(*) FROM orders WHERE status = 'open'";
    assert_eq!(count(&pool, resting).await, 30);

    // Hold that holding row: the settle transaction of its user marks the user's orders
    // filled, then stops on the row while posting the fills, inside its writes.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM holdings WHERE user_id = $1 FOR UPDATE")
        .bind(held)
        .execute(&mut *blocker)
        .await
        .unwrap();
    let cli = Cli::new(&pool).await;
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ascend"))
        .arg("settle")
        .env("DATABASE_URL", &cli.url)
        .env("ASCEND_NOW", SESSION)
        .env("ASCEND_CONFIG_DIR", cli.config.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (without a time limit on the behaviour under test) until settle waits on the lock.
    let waiting = "SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
    for _ in 0..1200 {
        if count(&pool, waiting).await > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        count(&pool, waiting).await,
        1,
        "settle never reached the lock"
    );
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "interrupted by SIGTERM: the transaction in progress was rolled back\n"
    );
    blocker.rollback().await.unwrap();
    // The server may still be finishing what the program sent before it exited (another
    // chunk's COMMIT): wait until the program's connections are gone.
    let program = "SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND application_name = 'ascend'";
    while count(&pool, program).await > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // The interrupted transaction left nothing: the held user's orders, marked filled inside
    // it, are all open again and the ledger checks out. Other users' transactions committed.
    let open_of_held =
        format!("SELECT count(*) FROM orders WHERE status = 'open' AND user_id = {held}");
    assert_eq!(count(&pool, &open_of_held).await, 5);
    let open = count(&pool, resting).await;
    // Other users' chunks may or may not have committed before the signal.
    assert!((5..=30).contains(&open), "{open} open");
    let o = cli.run(&["audit"], None);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));

    // A rerun fills the rest.
    let o = cli.run(&["settle", "--format", "json"], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["filled"].as_i64(), Some(open));
    assert_eq!(count(&pool, resting).await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM fills").await, 31);
    let o = cli.run(&["audit"], None);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}
