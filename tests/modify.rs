//! `ascend modify` (정정 / 일부취소) through the built binary, on the simulated market
//! (`sim:7`: 005930 at 57,500, previous close 58,300, band 40,900 to 75,700, tick 100).

mod common;

use std::process::{Command, Output, Stdio};

use common::*;
use rust_decimal::Decimal;
use sqlx::PgPool;

const KIM: &str = "kim@example.com";
const LEE: &str = "lee@example.com";

fn json(o: &Output) -> serde_json::Value {
    assert_eq!(code(o), 0, "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

fn num(v: &serde_json::Value) -> Decimal {
    v.as_str()
        .map(|s| s.parse().unwrap())
        .or_else(|| v.as_i64().map(Decimal::from))
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Exit 3 with one line on stderr that starts with the field and its rule.
fn assert_rejected(o: &Output, field_and_rule: &str) {
    let err = stderr(o);
    assert_eq!(code(o), 3, "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(&format!("error: {field_and_rule}")),
        "{err}"
    );
}

/// The simulated market crawled at the session's time, and two users.
async fn market(pool: &PgPool) -> Cli {
    let cli = Cli::new(pool).await;
    let o = cli.run(&["crawl-stocks", "--source", "sim:7"], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let app = app_at(pool, SESSION);
    user(&app, KIM, 10_000_000).await;
    user(&app, LEE, 10_000_000).await;
    cli
}

/// Runs as `who` (an operator acting with --user) at the session's time, in JSON.
fn as_user(cli: &Cli, who: &str, args: &[&str]) -> Output {
    let mut a = vec!["--user", who, "--format", "json"];
    a.extend_from_slice(args);
    cli.run(&a, None)
}

fn place(cli: &Cli, who: &str, args: &[&str]) -> i64 {
    let mut a = vec!["place-order"];
    a.extend_from_slice(args);
    json(&as_user(cli, who, &a))["order"]["id"]
        .as_i64()
        .unwrap()
}

/// Everything a refused modify must leave as it was: the accounts, holdings, orders and
/// amendments.
async fn books(pool: &PgPool) -> String {
    sqlx::query_scalar(
        "SELECT concat_ws('|',
             (SELECT string_agg(concat_ws(',', user_id, available, reserved), ';' ORDER BY user_id) FROM accounts),
             (SELECT string_agg(concat_ws(',', user_id, code, available, reserved), ';' ORDER BY user_id, code) FROM holdings),
             (SELECT string_agg(concat_ws(',', id, status, quantity, limit_price, filled_quantity, reserved_cash,
                                          reserved_shares, amendments, queued_at), ';' ORDER BY id) FROM orders),
             (SELECT count(*) FROM order_amendments),
             (SELECT count(*) FROM journal_entries))",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

fn assert_audit_ok(cli: &Cli) {
    let o = cli.run(&["audit"], None);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

#[sqlx::test]
async fn a_new_price_re_reserves_and_requeues_a_smaller_quantity_releases_and_keeps_its_time(
    pool: PgPool,
) {
    let cli = market(&pool).await;
    let app = app_at(&pool, SESSION);
    let kim = 1;
    let id = place(&cli, KIM, &["005930", "buy", "10", "--limit", "56000"]);
    // 560,000 + 84 commission.
    assert_eq!(cash(&app, kim).await, (dec(9_439_916), dec(560_084)));

    // Five minutes later, a higher price: 565,000 + 84 reserved, 5,000 more.
    let later = "2026-11-24 10:05";
    let o = cli.run_at(
        Some(later),
        &[
            "--user",
            KIM,
            "--format",
            "json",
            "modify",
            &id.to_string(),
            "--limit",
            "56500",
        ],
        None,
    );
    let v = json(&o);
    assert_eq!(v["replayed"], false);
    assert_eq!(v["order"]["status"], "open");
    assert_eq!(num(&v["order"]["limit_price"]), dec(56_500));
    assert_eq!(num(&v["order"]["reserved_cash"]), dec(565_084));
    assert_eq!(v["order"]["amendments"], 1);
    assert!(v["order"]["queued_at"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-24T01:05:00"));
    assert!(v["order"]["created_at"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-24T01:00:00"));
    assert_eq!(v["amendment"]["seq"], 1);
    assert_eq!(num(&v["amendment"]["old_limit"]), dec(56_000));
    assert_eq!(num(&v["amendment"]["reserved_cash_delta"]), dec(5_000));
    assert_eq!(v["amendment"]["requeued"], true);
    assert_eq!(cash(&app, kim).await, (dec(9_434_916), dec(565_084)));

    // Ten minutes later, a smaller quantity: 6 × 56,500 + 50 = 339,050; 226,034 freed; the
    // order keeps its place in the queue.
    let o = cli.run_at(
        Some("2026-11-24 10:10"),
        &[
            "--user",
            KIM,
            "--format",
            "json",
            "modify",
            &id.to_string(),
            "--quantity",
            "6",
        ],
        None,
    );
    let v = json(&o);
    assert_eq!(num(&v["order"]["quantity"]), dec(6));
    assert_eq!(num(&v["order"]["reserved_cash"]), dec(339_050));
    assert_eq!(num(&v["amendment"]["reserved_cash_delta"]), dec(-226_034));
    assert_eq!(v["amendment"]["requeued"], false);
    assert!(v["order"]["queued_at"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-24T01:05:00"));
    assert_eq!(cash(&app, kim).await, (dec(9_660_950), dec(339_050)));

    // Both at once: 5 at 56,000 = 280,042.
    let v = json(&as_user(
        &cli,
        KIM,
        &[
            "modify",
            &id.to_string(),
            "--limit",
            "56000",
            "--quantity",
            "5",
        ],
    ));
    assert_eq!(num(&v["order"]["reserved_cash"]), dec(280_042));
    assert_eq!(cash(&app, kim).await, (dec(9_719_958), dec(280_042)));

    // The history, oldest first, with old and new terms; `orders` counts the amendments.
    let h = json(&as_user(
        &cli,
        KIM,
        &["orders", "--amendments", &id.to_string()],
    ));
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 3);
    let terms: Vec<(i64, i64, Decimal, Decimal)> = h
        .iter()
        .map(|a| {
            (
                a["old_quantity"].as_i64().unwrap(),
                a["new_quantity"].as_i64().unwrap(),
                num(&a["old_limit"]),
                num(&a["new_limit"]),
            )
        })
        .collect();
    assert_eq!(
        terms,
        [
            (10, 10, dec(56_000), dec(56_500)),
            (10, 6, dec(56_500), dec(56_500)),
            (6, 5, dec(56_500), dec(56_000)),
        ]
    );
    let list = json(&as_user(&cli, KIM, &["orders"]));
    assert_eq!(list[0]["amendments"], 3);
    let table = cli.run(
        &["--user", KIM, "orders", "--amendments", &id.to_string()],
        None,
    );
    assert_eq!(code(&table), 0);
    assert!(
        stdout(&table).contains("56,000 → 56,500"),
        "{}",
        stdout(&table)
    );
    // Someone else's history is not shown, as cancel answers.
    assert_rejected(
        &as_user(&cli, LEE, &["orders", "--amendments", &id.to_string()]),
        &format!("order: no order #{id} among your orders"),
    );

    // A sell: a smaller quantity frees its shares, a new price needs none.
    place(&cli, KIM, &["005930", "buy", "20", "--market"]);
    let sell = place(&cli, KIM, &["005930", "sell", "8", "--limit", "60000"]);
    assert_eq!(shares(&app, kim, "005930").await, (12, 8));
    let v = json(&as_user(
        &cli,
        KIM,
        &["modify", &sell.to_string(), "--quantity", "3"],
    ));
    assert_eq!(v["amendment"]["reserved_shares_delta"], -5);
    assert_eq!(shares(&app, kim, "005930").await, (17, 3));
    let v = json(&as_user(
        &cli,
        KIM,
        &["modify", &sell.to_string(), "--limit", "61000"],
    ));
    assert_eq!(v["amendment"]["reserved_shares_delta"], 0);
    assert_eq!(shares(&app, kim, "005930").await, (17, 3));
    assert_audit_ok(&cli);

    // The modified order fills at its new terms.
    set_price(&app, "005930", 55_900).await;
    let o = cli.run(&["settle"], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&as_user(&cli, KIM, &["orders"]));
    let buy = v
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .unwrap();
    assert_eq!(buy["status"], "filled");
    assert_eq!(num(&buy["filled_quantity"]), dec(5));
    assert_audit_ok(&cli);
}

#[sqlx::test]
async fn the_same_key_replays_and_a_changed_one_is_refused(pool: PgPool) {
    let cli = market(&pool).await;
    let id = place(&cli, KIM, &["005930", "buy", "10", "--limit", "56000"]);
    let first = json(&as_user(
        &cli,
        KIM,
        &[
            "modify",
            &id.to_string(),
            "--quantity",
            "6",
            "--key",
            "fix-1",
        ],
    ));
    assert_eq!(first["replayed"], false);
    let before = books(&pool).await;
    let again = json(&as_user(
        &cli,
        KIM,
        &[
            "modify",
            &id.to_string(),
            "--quantity",
            "6",
            "--key",
            "fix-1",
        ],
    ));
    assert_eq!(again["replayed"], true);
    assert_eq!(again["amendment"], first["amendment"]);
    assert_eq!(books(&pool).await, before, "a replay writes nothing");
    // The same key with other terms, or for another order: refused, nothing written.
    assert_rejected(
        &as_user(
            &cli,
            KIM,
            &["modify", &id.to_string(), "--quantity", "5", "--key", "fix-1"],
        ),
        &format!("key: idempotency key \"fix-1\" was already used to modify order #{id} with different terms"),
    );
    let other = place(&cli, KIM, &["005930", "buy", "10", "--limit", "56000"]);
    let before = books(&pool).await;
    assert_rejected(
        &as_user(
            &cli,
            KIM,
            &[
                "modify",
                &other.to_string(),
                "--quantity",
                "6",
                "--key",
                "fix-1",
            ],
        ),
        "key: idempotency key \"fix-1\" was already used",
    );
    assert_eq!(books(&pool).await, before);
    // Keys are the user's own: another user may use the same one.
    let lees = place(&cli, LEE, &["005930", "buy", "10", "--limit", "56000"]);
    let v = json(&as_user(
        &cli,
        LEE,
        &[
            "modify",
            &lees.to_string(),
            "--quantity",
            "6",
            "--key",
            "fix-1",
        ],
    ));
    assert_eq!(v["replayed"], false);
    assert_audit_ok(&cli);
}

#[sqlx::test]
async fn bad_modifies_are_refused_with_one_line_and_write_nothing(pool: PgPool) {
    let cli = market(&pool).await;
    let app = app_at(&pool, SESSION);
    let id = place(&cli, KIM, &["005930", "buy", "10", "--limit", "56000"]);
    let filled = place(&cli, KIM, &["005930", "buy", "1", "--market"]);
    let cancelled = place(&cli, KIM, &["005930", "buy", "1", "--limit", "56000"]);
    assert_eq!(
        code(&as_user(&cli, KIM, &["cancel", &cancelled.to_string()])),
        0
    );
    let lees = place(&cli, LEE, &["005930", "buy", "1", "--limit", "56000"]);
    let before = books(&pool).await;
    let id_s = id.to_string();
    let modify = |who: &str, args: &[&str]| {
        let mut a = vec!["modify"];
        a.extend_from_slice(args);
        as_user(&cli, who, &a)
    };

    // Someone else's order gets the answer cancel gives; so does an unknown one.
    let cancel_says = stderr(&as_user(&cli, KIM, &["cancel", &lees.to_string()]));
    let o = modify(KIM, &[&lees.to_string(), "--limit", "56100"]);
    assert_rejected(&o, &format!("order: no order #{lees} among your orders"));
    assert_eq!(stderr(&o), cancel_says);
    assert_rejected(
        &modify(KIM, &["999", "--limit", "56100"]),
        "order: no order #999 among your orders",
    );
    assert_rejected(&modify(KIM, &["abc", "--limit", "56100"]), "order_id:");
    // A filled or a cancelled order.
    assert_rejected(
        &modify(KIM, &[&filled.to_string(), "--limit", "56100"]),
        &format!("order: order #{filled} is already filled and cannot be modified"),
    );
    assert_rejected(
        &modify(KIM, &[&cancelled.to_string(), "--quantity", "1"]),
        &format!("order: order #{cancelled} is already cancelled and cannot be modified"),
    );
    // A larger quantity: a new order.
    assert_rejected(
        &modify(KIM, &[&id_s, "--quantity", "11"]),
        "quantity: KRX does not raise an order's quantity by modification (10 → 11); place a new order for the other 1 share",
    );
    assert_rejected(&modify(KIM, &[&id_s, "--quantity", "0"]), "quantity:");
    // Off the tick, outside the band.
    assert_rejected(
        &modify(KIM, &[&id_s, "--limit", "56050"]),
        "price: 56,050 is not on the 100-won tick",
    );
    assert_rejected(
        &modify(KIM, &[&id_s, "--limit", "75800"]),
        "price: 75,800 is outside today's band 40,900 to 75,700",
    );
    // No change given, or the terms it already has.
    assert_rejected(
        &modify(KIM, &[&id_s]),
        "limit: give a new --limit PRICE, a smaller --quantity Q, or both",
    );
    assert_rejected(
        &modify(KIM, &[&id_s, "--limit", "56000", "--quantity", "10"]),
        "limit: the order already has these terms (10 at 56,000): nothing to modify",
    );
    assert_eq!(books(&pool).await, before, "nothing written");

    // More cash than is free: a resting buy at 41,000 takes all but 25,000 to 66,007 won of
    // it, then a higher price needs more than is left.
    let (free, _) = cash(&app, 1).await;
    let q = ((free - dec(25_000)) / dec(41_007)).trunc().to_string();
    place(&cli, KIM, &["005930", "buy", &q, "--limit", "41000"]);
    let (free, _) = cash(&app, 1).await;
    assert!(free >= dec(25_000) && free < dec(66_007), "{free}");
    let before = books(&pool).await;
    // 10 × 75,700 + 113 = 757,113: 197,029 more than the 560,084 held.
    assert_rejected(
        &modify(KIM, &[&id_s, "--limit", "75700"]),
        &format!(
            "cash: insufficient cash: the new terms reserve 757,113 won (10 × 75,700 + commission), 197,029 more than the order holds, but {} won is available",
            ascend::domain::group_thousands(free)
        ),
    );
    assert_eq!(books(&pool).await, before, "nothing written");
    // A price the free cash covers is taken.
    let v = json(&modify(KIM, &[&id_s, "--limit", "58000"]));
    assert_eq!(num(&v["order"]["reserved_cash"]), dec(580_087));
    assert_audit_ok(&cli);
}

/// The built binary at the session's time, started (not waited for).
fn spawn(cli: &Cli, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args(args)
        .env("DATABASE_URL", &cli.url)
        .env("ASCEND_CONFIG_DIR", cli.config.path())
        .env("ASCEND_NOW", SESSION)
        .env("ASCEND_FORMAT", "json")
        .env_remove("ASCEND_SHARED_HOST")
        .env_remove("ASCEND_USER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[sqlx::test]
async fn modify_racing_a_settle_that_fills_the_order_lets_exactly_one_win(pool: PgPool) {
    let cli = market(&pool).await;
    let app = app_at(&pool, SESSION);
    let (mut modified, mut filled) = (0, 0);
    for round in 0..12 {
        // A resting buy at 57,000; then the price falls to 56,900, so settle would fill it,
        // while its owner lowers the limit to 56,000, where it no longer crosses.
        set_price(&app, "005930", 57_500).await;
        let id = place(&cli, KIM, &["005930", "buy", "3", "--limit", "57000"]);
        set_price(&app, "005930", 56_900).await;
        let id_s = id.to_string();
        let modify_args = ["--user", KIM, "modify", &id_s, "--limit", "56000"];
        let (m, s) = if round % 2 == 0 {
            let m = spawn(&cli, &modify_args);
            let s = spawn(&cli, &["settle"]);
            (m, s)
        } else {
            let s = spawn(&cli, &["settle"]);
            let m = spawn(&cli, &modify_args);
            (m, s)
        };
        let (m, s) = (m.wait_with_output().unwrap(), s.wait_with_output().unwrap());
        assert_eq!(code(&s), 0, "settle: {}", stderr(&s));
        let order: (String, Decimal, i32, i64) = sqlx::query_as(
            "SELECT status, limit_price, amendments, (SELECT count(*) FROM fills f WHERE f.order_id = o.id)
             FROM orders o WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
        match code(&m) {
            0 => {
                // Modified first: open at the new limit, which settle did not fill.
                assert_eq!(order, ("open".into(), dec(56_000), 1, 0), "round {round}");
                modified += 1;
            }
            3 => {
                // Filled first, at 56,900 on the old terms; the modify was refused.
                assert_eq!(
                    stderr(&m).trim(),
                    format!("error: order: order #{id} is already filled and cannot be modified"),
                    "round {round}"
                );
                assert_eq!(order, ("filled".into(), dec(57_000), 0, 1), "round {round}");
                filled += 1;
            }
            c => panic!("modify exited {c}: {}", stderr(&m)),
        }
        // Money conserved, reservations = open orders, every invariant holds.
        assert_audit_ok(&cli);
    }
    assert_eq!(modified + filled, 12);
    eprintln!("modify first: {modified}, settle first: {filled}");
    // The open ones cancel back to a clean account: nothing reserved is left behind.
    let open = json(&as_user(&cli, KIM, &["orders", "--open"]));
    for o in open.as_array().unwrap() {
        let id = o["id"].as_i64().unwrap().to_string();
        assert_eq!(code(&as_user(&cli, KIM, &["cancel", &id])), 0);
    }
    assert_eq!(cash(&app, 1).await.1, Decimal::ZERO);
    assert_audit_ok(&cli);
}

#[sqlx::test]
async fn a_day_order_cannot_be_modified_once_its_session_has_closed(pool: PgPool) {
    let cli = market(&pool).await;
    let id = place(&cli, KIM, &["005930", "buy", "10", "--limit", "56000"]);
    let before = books(&pool).await;
    // 15:45: the order is still open until settle --close, but its session is over.
    let o = cli.run_at(
        Some("2026-11-24 15:45"),
        &["--user", KIM, "modify", &id.to_string(), "--limit", "55900"],
        None,
    );
    assert_rejected(
        &o,
        "tif: a DAY order lives for one session, and this one's closed at 2026-11-24 15:30 KST",
    );
    assert_eq!(books(&pool).await, before);
    // A GTC order placed then can still be modified after the close, for the next session.
    let gtc = place(
        &cli,
        KIM,
        &["005930", "buy", "1", "--limit", "56000", "--tif", "gtc"],
    );
    let o = cli.run_at(
        Some("2026-11-24 15:45"),
        &[
            "--user",
            KIM,
            "modify",
            &gtc.to_string(),
            "--limit",
            "55900",
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_audit_ok(&cli);
}
