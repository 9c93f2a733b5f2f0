//! Who may do what: settings owned by operators, the clock owned by the database, operators
//! told apart by their Postgres role. Through the built binary.

mod common;

use std::process::Output;

use ascend::app::{orders, settle};
use common::*;
use sqlx::PgPool;

fn ok(o: &Output) -> String {
    assert_eq!(code(o), 0, "{}", stderr(o));
    stdout(o)
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(o)).unwrap()
}

/// One line on stderr with this exit code, starting with `error: ` and `start`.
fn refused(o: &Output, exit: i32, start: &str) {
    let err = stderr(o);
    assert_eq!(code(o), exit, "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with(&format!("error: {start}")), "{err}");
}

async fn register(cli: &Cli, email: &str) {
    let o = cli.run(
        &[
            "user",
            "register",
            "--email",
            email,
            "--name",
            "T",
            "--password-stdin",
        ],
        Some("password123\n"),
    );
    ok(&o);
}

/// A login role of the test's own (not the schema's owner) with a trader's table rights, and
/// a `Cli` connected as it. Roles are cluster-wide: the name is the test database's.
async fn trader_role(pool: &PgPool, cli: &Cli) -> (String, Cli) {
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let tail: String = db.chars().rev().take(24).collect::<String>().to_lowercase();
    let role = format!("trader_{tail}");
    for sql in [
        format!("DROP ROLE IF EXISTS {role}"),
        format!("CREATE ROLE {role} LOGIN PASSWORD 'role-password-1'"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
    ] {
        sqlx::query(&sql).execute(pool).await.unwrap();
    }
    // The same server and database as the operator's URL (TCP or a socket directory), as
    // this role.
    let (_, rest) = cli.url.split_once("://").unwrap();
    let server = rest.split_once('@').map_or(rest, |(_, after)| after);
    let url = format!("postgres://{role}:role-password-1@{server}");
    (
        role,
        Cli {
            url,
            config: tempfile::tempdir().unwrap(),
        },
    )
}

async fn drop_role(pool: &PgPool, role: &str) {
    sqlx::query(&format!("DROP OWNED BY {role}"))
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(&format!("DROP ROLE {role}"))
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test]
async fn settings_are_set_by_an_operator_with_history_and_audit_and_apply_to_every_order(
    pool: PgPool,
) {
    let cli = Cli::new(&pool).await;
    seed_stocks(&app_at(&pool, SESSION)).await;
    register(&cli, "fee@example.com").await;
    let me = |args: &[&str]| {
        let mut a = vec!["--user", "fee@example.com"];
        a.extend_from_slice(args);
        cli.run(&a, None)
    };
    // The per-command overrides are gone.
    for flag in [
        &["--commission", "0"][..],
        &["--max-price-age-min", "100000"][..],
    ] {
        let mut a = vec!["place-order", "005930", "buy", "1", "--market"];
        a.extend_from_slice(flag);
        let o = me(&a);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(stderr(&o).contains("unexpected argument"), "{}", stderr(&o));
    }
    let v = json(&me(&[
        "place-order",
        "005930",
        "buy",
        "10",
        "--market",
        "-f",
        "json",
    ]));
    assert_eq!(v["fill"]["fee"], "83", "0.015% of 559,000");

    let o = cli.run(&["admin", "settings", "set", "commission_pct", "0.1"], None);
    assert!(ok(&o).contains("0.015"), "shows the old value");
    let v = json(&me(&[
        "place-order",
        "005930",
        "buy",
        "10",
        "--market",
        "-f",
        "json",
    ]));
    assert_eq!(v["fill"]["fee"], "559", "0.1% of 559,000");

    // A bad value names the setting and its rule; nothing is written.
    refused(
        &cli.run(&["admin", "settings", "set", "commission_pct", "5"], None),
        3,
        "commission_pct: 5% must be between 0 and 1 percent",
    );
    let o = cli.run(&["admin", "settings", "set", "fee", "1"], None);
    assert_eq!(code(&o), 2, "clap lists the settings: {}", stderr(&o));
    assert!(stderr(&o).contains("commission_pct"), "{}", stderr(&o));
    // Setting the value it has writes nothing.
    let o = cli.run(
        &["admin", "settings", "set", "commission_pct", "0.10"],
        None,
    );
    assert!(ok(&o).contains("unchanged"));

    let shown = json(&cli.run(&["admin", "settings", "show", "-f", "json"], None));
    let value = |name: &str| {
        shown
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(value("commission_pct"), "0.1");
    assert_eq!(value("clock"), "simulated");
    assert_eq!(value("max_price_age_min"), "15");
    let history = json(&cli.run(&["admin", "settings", "history", "-f", "json"], None));
    let commission: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == "commission_pct")
        .map(|r| r["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(commission, ["0.015", "0.1"]);
    let audit: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT action, detail FROM audit_log WHERE action = 'settings.set' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(audit.len(), 2, "clock, then commission: {audit:?}");
    assert_eq!(
        audit[1].1,
        serde_json::json!({"name": "commission_pct", "old": "0.015", "new": "0.1"})
    );

    // The price age is the database's too.
    let o = cli.run(
        &["admin", "settings", "set", "max_price_age_min", "1"],
        None,
    );
    ok(&o);
    let o = cli.run_at(
        Some("2026-11-24 10:20"),
        &[
            "--user",
            "fee@example.com",
            "place-order",
            "005930",
            "buy",
            "1",
            "--market",
        ],
        None,
    );
    refused(&o, 3, "price: the stored price of 005930");
    assert!(stderr(&o).contains("the bound is 1 min"), "{}", stderr(&o));
}

#[sqlx::test]
async fn a_real_clock_database_refuses_now_and_a_simulated_one_honours_it(pool: PgPool) {
    let cli = Cli::real(&pool).await;
    // Migrations leave the clock real.
    let shown = json(&cli.run_at(None, &["admin", "settings", "show", "-f", "json"], None));
    assert!(shown
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "clock" && r["value"] == "real"));
    for args in [
        &["--user", "x@example.com", "whoami"][..],
        &["calendar"][..],
        &["login", "--email", "x@example.com", "--password-stdin"][..],
        &["settle"][..],
    ] {
        let mut a = vec!["--now", "2036-01-01 10:00"];
        a.extend_from_slice(args);
        refused(
            &cli.run_at(None, &a, Some("password123\n")),
            3,
            "now: this database's clock setting is real",
        );
    }
    // ASCEND_NOW is the same flag.
    refused(
        &cli.run_at(Some(SESSION), &["calendar"], None),
        3,
        "now: this database's clock setting is real",
    );
    // Without --now a real database runs on the server's clock: today is today.
    let today = chrono::Utc::now()
        .with_timezone(&ascend::domain::rules::kst())
        .format("%Y-%m")
        .to_string();
    let o = cli.run_at(None, &["calendar", "-f", "json"], None);
    assert!(ok(&o).contains(&today), "{}", stdout(&o));

    // Simulated, the operator's --now is the time.
    ok(&cli.run_at(
        None,
        &["admin", "settings", "set", "clock", "simulated"],
        None,
    ));
    let o = cli.run_at(
        None,
        &["--now", "2027-02-10 10:00", "calendar", "-f", "json"],
        None,
    );
    assert!(ok(&o).contains("2027-02-08"), "{}", stdout(&o));
}

#[sqlx::test]
async fn the_clock_may_not_go_back_before_the_ledger_nor_trade_on_a_future_price(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    seed_stocks(&app_at(&pool, SESSION)).await;
    register(&cli, "t@example.com").await;
    ok(&cli.run(
        &[
            "--user",
            "t@example.com",
            "place-order",
            "005930",
            "buy",
            "1",
            "--market",
        ],
        None,
    ));
    for past in ["1900-01-02 11:00", "2025-11-25 10:00"] {
        let o = cli.run_at(
            Some(past),
            &[
                "--user",
                "t@example.com",
                "place-order",
                "005930",
                "sell",
                "1",
                "--market",
            ],
            None,
        );
        refused(&o, 3, "now: ");
        assert!(
            stderr(&o).contains("is before the newest ledger entry (2026-11-24 10:00:00 KST)"),
            "{}",
            stderr(&o)
        );
    }
    let shares: i64 = sqlx::query_scalar("SELECT available FROM holdings")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(shares, 1, "nothing was sold");

    // A price stamped after the order's time is not fresh: not at placement, not at settle.
    let early = app_at(&pool, "2026-11-24 09:30");
    let u = user(&early, "early@example.com", 10_000_000).await;
    let e = orders::place(&early, u, &req("005930", "buy", "1", None))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains(
            "is stamped 2026-11-24 10:00 KST, after the order's time 2026-11-24 09:30 KST"
        ),
        "{e}"
    );
    let resting = orders::place(
        &app_at(&pool, SESSION),
        u,
        &req("005930", "buy", "1", Some("55000")),
    )
    .await
    .unwrap();
    assert_eq!(resting.order.status, "open");
    set_price(&app_at(&pool, "2026-11-24 10:10"), "005930", 54_900).await;
    let s = settle::settle(&app_at(&pool, "2026-11-24 10:06"), false, 100)
        .await
        .unwrap();
    assert_eq!(s.filled, 0, "the 10:10 price does not fill at 10:06");
    let s = settle::settle(&app_at(&pool, "2026-11-24 10:11"), false, 100)
        .await
        .unwrap();
    assert_eq!(s.filled, 1);
}

#[sqlx::test]
async fn only_an_operator_role_acts_for_others_sets_the_clock_loads_files_and_runs_jobs(
    pool: PgPool,
) {
    let cli = Cli::new(&pool).await;
    seed_stocks(&app_at(&pool, SESSION)).await;
    register(&cli, "a@example.com").await;
    let (role, trader) = trader_role(&pool, &cli).await;
    let dir = tempfile::tempdir().unwrap();
    let users_csv = dir.path().join("users.csv");
    std::fs::write(
        &users_csv,
        "email,name,password\nb@example.com,B,password123\n",
    )
    .unwrap();
    let orders_csv = dir.path().join("orders.csv");
    std::fs::write(
        &orders_csv,
        "email,code,side,quantity\na@example.com,005930,buy,1\n",
    )
    .unwrap();
    let stocks_csv = dir.path().join("stocks.csv");
    std::fs::write(
        &stocks_csv,
        "code,name,market,price,prev_close\n005930,X,KOSPI,1000,1000\n",
    )
    .unwrap();
    let operator_only: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--user", "a@example.com", "orders"], "--user: "),
        (vec!["--user", "a@example.com", "cancel", "1"], "--user: "),
        (
            vec!["admin", "settings", "set", "commission_pct", "0"],
            "admin: ",
        ),
        (vec!["admin", "settings", "set", "clock", "real"], "admin: "),
        (vec!["--now", "2026-11-24 10:06", "calendar"], "--now: "),
        (
            vec!["user", "register", "--file", users_csv.to_str().unwrap()],
            "--file: ",
        ),
        (
            vec!["place-order", "--file", orders_csv.to_str().unwrap()],
            "--file: ",
        ),
        (
            vec!["stock", "load", stocks_csv.to_str().unwrap()],
            "stock load: ",
        ),
        (
            vec![
                "user",
                "register",
                "--email",
                "rich@example.com",
                "--name",
                "R",
                "--cash",
                "1000000000",
                "--password-stdin",
            ],
            "--cash: ",
        ),
        // Refused before the password prompt: no --password-stdin here.
        (
            vec![
                "user",
                "register",
                "--email",
                "squat@example.com",
                "--name",
                "S",
                "--unix-user",
                "alice",
            ],
            "--unix-user: ",
        ),
        (vec!["db", "migrate"], "db migrate: "),
        (vec!["settle"], "settle: "),
        (vec!["snapshot", "--date", "2026-11-24"], "snapshot: "),
        (
            vec!["crawl-stocks", "--source", "sim:1", "--any-day"],
            "crawl-stocks: ",
        ),
    ];
    let before: i64 = sqlx::query_scalar("SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM orders) + (SELECT count(*) FROM settings)")
        .fetch_one(&pool)
        .await
        .unwrap();
    for (args, start) in &operator_only {
        let o = trader.run_at(None, args, Some("password123\n"));
        refused(&o, 4, start);
        assert!(
            stderr(&o).contains(&format!(
                "only an operator may do this: the database role {role} neither owns the schema nor is a member of ascend_operator"
            )),
            "{}",
            stderr(&o)
        );
    }
    let after: i64 = sqlx::query_scalar("SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM orders) + (SELECT count(*) FROM settings)")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(before, after, "nothing was written");
    // What a trader does is theirs to do: sign up (default cash), log in, trade.
    let o = trader.run_at(
        None,
        &[
            "user",
            "register",
            "--email",
            "t@example.com",
            "--name",
            "T",
            "--password-stdin",
        ],
        Some("password123\n"),
    );
    ok(&o);
    ok(&trader.run_at(
        None,
        &["login", "--email", "t@example.com", "--password-stdin"],
        Some("password123\n"),
    ));
    ok(&trader.run_at(None, &["orders"], None));

    // Membership in ascend_operator makes the same role an operator.
    sqlx::query(
        "DO $$ BEGIN CREATE ROLE ascend_operator NOLOGIN;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!("GRANT ascend_operator TO {role}"))
        .execute(&pool)
        .await
        .unwrap();
    let o = trader.run_at(
        None,
        &["admin", "settings", "set", "commission_pct", "0"],
        None,
    );
    ok(&o);
    let by: String = sqlx::query_scalar(
        "SELECT set_by FROM settings WHERE name = 'commission_pct' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(by, role);
    ok(&trader.run_at(None, &["--user", "a@example.com", "orders"], None));
    drop_role(&pool, &role).await;
}

/// What the program sees when a shared host's trader runs it through sudo.
fn trader_env(name: &'static str) -> [(&'static str, &'static str); 3] {
    [
        ("ASCEND_SHARED_HOST", "1"),
        ("SUDO_USER", name),
        ("SUDO_UID", "1000"),
    ]
}

#[sqlx::test]
async fn a_shared_host_trader_is_their_unix_account_and_nothing_more(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    seed_stocks(&app_at(&pool, SESSION)).await;
    let alice = trader_env("alice");
    let bob = trader_env("bob");
    let as_ = |who: &[(&str, &str)], args: &[&str], stdin: Option<&str>| {
        cli.run_env(None, who, args, stdin)
    };
    let register = |who: &[(&str, &str)], email: &str| {
        as_(
            who,
            &[
                "user",
                "register",
                "--email",
                email,
                "--name",
                "T",
                "--password-stdin",
            ],
            Some("password123\n"),
        )
    };
    ok(&register(&alice, "alice@example.com"));
    ok(&register(&bob, "bob@example.com"));
    // One Ascend user per Unix account, and a trader registers only their own.
    refused(
        &register(&alice, "alice2@example.com"),
        3,
        "unix user: alice already has an Ascend user",
    );
    let o = as_(
        &alice,
        &[
            "user",
            "register",
            "--email",
            "c@example.com",
            "--name",
            "C",
            "--unix-user",
            "carol",
            "--password-stdin",
        ],
        Some("password123\n"),
    );
    refused(
        &o,
        4,
        "--unix-user: only an operator may do this; on this shared host alice is a trader",
    );
    let mapped: Vec<(String, String)> =
        sqlx::query_as("SELECT email, unix_user FROM users ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        mapped,
        [
            ("alice@example.com".into(), "alice".into()),
            ("bob@example.com".into(), "bob".into())
        ]
    );
    // An operator names an account, which must be a Unix account name.
    for bad in ["", "-rf", "a b", "x".repeat(33).as_str()] {
        let named = format!("--unix-user={bad}");
        let o = cli.run_at(
            None,
            &[
                "user",
                "register",
                "--email",
                "d@example.com",
                "--name",
                "D",
                &named,
                "--password-stdin",
            ],
            Some("password123\n"),
        );
        refused(&o, 3, "unix-user: ");
    }
    let who = json(&as_(&alice, &["whoami", "-f", "json"], None));
    assert_eq!(who["email"], "alice@example.com");
    assert!(ok(&as_(&alice, &["whoami"], None)).contains("Unix account alice"));

    // Bob's order is Bob's.
    let placed = json(&as_(
        &bob,
        &[
            "place-order",
            "005930",
            "buy",
            "1",
            "--limit",
            "50000",
            "--tif",
            "gtc",
            "-f",
            "json",
        ],
        None,
    ));
    let id = placed["order"]["id"].as_i64().unwrap().to_string();
    let mine = json(&as_(&alice, &["orders", "-f", "json"], None));
    assert_eq!(mine.as_array().unwrap().len(), 0);
    refused(&as_(&alice, &["cancel", &id], None), 3, "");
    let o = as_(&alice, &["--user", "bob@example.com", "cancel", &id], None);
    refused(
        &o,
        4,
        "--user: only an operator may do this; on this shared host alice is a trader",
    );

    // The operator's flags and commands, and files, are refused before anything is read.
    let passwd = "/etc/passwd";
    for (args, start) in [
        (vec!["--now", "2026-11-24 10:06", "orders"], "--now: "),
        (vec!["admin", "settings", "show"], "admin: "),
        (vec!["settle"], "settle: "),
        (vec!["place-order", "--file", passwd], "--file: "),
        (vec!["user", "register", "--file=/etc/passwd"], "--file: "),
        (vec!["-f", "json", "stock", "load", passwd], "stock load: "),
        (vec!["assets", "--chart", "/tmp/x.png"], "--chart: "),
        (vec!["crawl-stocks", "--record", "/tmp/rec"], "--record: "),
        (
            vec!["portfolio", "--source", "replay:/etc"],
            "--source replay: ",
        ),
        (
            vec!["portfolio", "--source=replay:/etc"],
            "--source replay: ",
        ),
    ] {
        let o = as_(&alice, &args, None);
        refused(&o, 4, start);
        assert!(stderr(&o).contains("alice is a trader"), "{}", stderr(&o));
        assert!(!stderr(&o).contains("root:"), "{}", stderr(&o));
    }
    refused(
        &as_(
            &alice,
            &["login", "--email", "alice@example.com", "--password-stdin"],
            Some("password123\n"),
        ),
        3,
        "login: on this shared host you are the Unix account alice",
    );
    // Bob cancels his own; root through sudo is not narrowed.
    ok(&as_(&bob, &["cancel", &id], None));
    let root = [
        ("ASCEND_SHARED_HOST", "1"),
        ("SUDO_USER", "root"),
        ("SUDO_UID", "0"),
    ];
    ok(&as_(&root, &["--user", "bob@example.com", "orders"], None));
}

#[sqlx::test]
async fn tuning_settings_are_derived_from_the_machine_until_an_operator_sets_them(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let machine = ascend::app::Tuning::of_machine();
    assert_eq!(machine.settle_workers, ascend::app::cores() + 1);
    let app = ascend::app::App::connect(pool.clone(), None, None)
        .await
        .unwrap();
    assert_eq!(app.tuning, machine);
    // Unset settings have no stored row: `show` lists only what is stored.
    let shown = json(&cli.run(&["admin", "settings", "show", "-f", "json"], None));
    assert!(shown
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["name"] != "settle_workers"));

    ok(&cli.run(&["admin", "settings", "set", "settle_workers", "7"], None));
    ok(&cli.run(
        &["admin", "settings", "set", "order_import_batch", "5,000"],
        None,
    ));
    refused(
        &cli.run(&["admin", "settings", "set", "settle_workers", "0"], None),
        3,
        "settle_workers: \"0\" must be a whole number of workers from 1 to 64",
    );
    let app = ascend::app::App::connect(pool.clone(), None, None)
        .await
        .unwrap();
    assert_eq!(app.tuning.settle_workers, 7);
    assert_eq!(app.tuning.order_import_batch, 5_000);
    assert_eq!(app.tuning.user_import_batch, machine.user_import_batch);
}
