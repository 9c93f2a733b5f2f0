//! Trading core against a real PostgreSQL: orders, reservations, fills, settle, cancel,
//! concurrency, idempotency, deletion and the audit.

mod common;

use ascend::app::orders::{self, OrderRequest};
use ascend::app::{settle, users, Actor};
use ascend::domain::rules;
use ascend::store::trading::{self, Locks, NewOrderRow, OrderInsert, Placement};
use ascend::Error;
use common::*;
use rust_decimal::Decimal;
use sqlx::PgPool;

#[sqlx::test]
async fn limit_order_rests_then_settle_fills_it(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "rest@example.com", 10_000_000).await;

    let placed = orders::place(&app, u, &req("005930", "buy", "10", Some("55,500")))
        .await
        .unwrap();
    assert_eq!(placed.order.status, "open");
    assert!(placed.fill.is_none());
    // 555,000 + fee floor(83.25) = 555,083 reserved.
    assert_eq!(placed.order.reserved_cash, dec(555_083));
    assert_eq!(
        cash(&app, u).await,
        (dec(10_000_000 - 555_083), dec(555_083))
    );

    // Not crossed yet: settle fills nothing.
    let s = settle::settle(&app, false, 100).await.unwrap();
    assert_eq!(s.filled, 0);

    // The price falls to 55,400 a minute later: the buy fills at min(limit, price) = 55,400.
    let later = app_at(&pool, "2026-11-24 10:01");
    set_price(&later, "005930", 55_400).await;
    let s = settle::settle(&later, false, 100).await.unwrap();
    assert_eq!(s.filled, 1);
    let fills = orders::trades(&app, u, 10).await.unwrap();
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].price, dec(55_400));
    assert_eq!(fills[0].amount, dec(554_000));
    assert_eq!(fills[0].fee, dec(83)); // 83.1 truncated
    assert_eq!(cash(&app, u).await, (dec(10_000_000 - 554_083), dec(0)));
    assert_eq!(shares(&app, u, "005930").await, (10, 0));
    let o = orders::list(&app, u, false, 10).await.unwrap();
    assert_eq!(
        (
            o[0].status.as_str(),
            o[0].filled_quantity,
            o[0].reserved_cash
        ),
        ("filled", 10, dec(0))
    );
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn resting_sell_fills_at_the_higher_of_limit_and_price_and_pays_tax(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "sell@example.com", 10_000_000).await;
    orders::place(&app, u, &req("005930", "buy", "10", None))
        .await
        .unwrap();
    let placed = orders::place(&app, u, &req("005930", "sell", "4", Some("56000")))
        .await
        .unwrap();
    assert_eq!(placed.order.status, "open");
    assert_eq!(shares(&app, u, "005930").await, (6, 4));
    let later = app_at(&pool, "2026-11-24 10:05");
    set_price(&later, "005930", 56_500).await;
    assert_eq!(settle::settle(&later, false, 100).await.unwrap().filled, 1);
    let f = &orders::trades(&app, u, 10).await.unwrap()[0];
    // max(56,000, 56,500) = 56,500 × 4 = 226,000; fee 33.9 → 33; tax 0.20% (2026) = 452.
    assert_eq!(
        (f.price, f.amount, f.fee, f.tax),
        (dec(56_500), dec(226_000), dec(33), dec(452))
    );
    assert_eq!(shares(&app, u, "005930").await, (6, 0));
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn market_buy_reserves_at_the_upper_limit_and_releases_the_rest(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "market@example.com", 10_000_000).await;
    // Band around 56,600: upper 73,500. Reservation 10 × 73,500 + fee 110 = 735,110, so a user
    // with 735,109 won cannot place it even though the fill would cost only 559,083.
    let poor = user(&app, "poor@example.com", 735_109).await;
    let e = orders::place(&app, poor, &req("005930", "buy", "10", None))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Rejected(ref m) if m.starts_with("cash: insufficient cash") && m.contains("735,110")),
        "{e}"
    );
    assert_eq!(rules::price_band(dec(56_600)).upper, dec(73_500));

    let placed = orders::place(&app, u, &req("005930", "buy", "10", None))
        .await
        .unwrap();
    assert_eq!(placed.order.status, "filled");
    let fill = placed.fill.unwrap();
    assert_eq!(
        (fill.price, fill.amount, fill.fee),
        (dec(55_900), dec(559_000), dec(83))
    );
    // Everything beyond the real cost went back to available cash.
    assert_eq!(cash(&app, u).await, (dec(10_000_000 - 559_083), dec(0)));
    // Only the real cost left the cash in the ledger: the reservation was an earmark.
    let legs: Vec<(String, Decimal)> = sqlx::query_as(
        "SELECT l.book, l.amount FROM journal_legs l JOIN journal_entries e ON e.id = l.entry_id
         WHERE e.order_id = $1 AND l.user_id IS NOT NULL ORDER BY l.book",
    )
    .bind(placed.order.id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        legs,
        vec![
            ("cash".to_string(), dec(-559_083)),
            ("shares".to_string(), dec(10))
        ]
    );
    // A user with exactly the upper-limit reservation can buy, and gets the difference back.
    let exact = user(&app, "exact@example.com", 735_110).await;
    orders::place(&app, exact, &req("005930", "buy", "10", None))
        .await
        .unwrap();
    assert_eq!(cash(&app, exact).await, (dec(735_110 - 559_083), dec(0)));
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn sells_cannot_exceed_free_shares(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "shares@example.com", 10_000_000).await;
    let e = orders::place(&app, u, &req("005930", "sell", "1", Some("56000")))
        .await
        .unwrap_err();
    assert!(
        e.to_string().starts_with("quantity: insufficient shares"),
        "{e}"
    );
    orders::place(&app, u, &req("005930", "buy", "5", None))
        .await
        .unwrap();
    orders::place(&app, u, &req("005930", "sell", "3", Some("60000")))
        .await
        .unwrap();
    // 5 held, 3 reserved by an open sell: only 2 are free.
    let e = orders::place(&app, u, &req("005930", "sell", "3", Some("60000")))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("2 are available (3 reserved by open sell orders)"),
        "{e}"
    );
    orders::place(&app, u, &req("005930", "sell", "2", Some("60000")))
        .await
        .unwrap();
    assert_eq!(shares(&app, u, "005930").await, (0, 5));
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn rules_reject_bad_orders_and_write_nothing(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "rules@example.com", 10_000_000).await;
    let counts = || async {
        sqlx::query_as::<_, (i64, i64)>(
            "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM journal_entries)",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let before = counts().await;
    // Outside the band of 56,600 (39,700 to 73,500).
    let e = orders::place(&app, u, &req("005930", "buy", "1", Some("73600")))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("outside today's band 39,700 to 73,500"),
        "{e}"
    );
    // Unknown stock.
    let e = orders::place(&app, u, &req("123456", "buy", "1", Some("1000")))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    // A stale price: 16 minutes after the last crawl.
    let stale = app_at(&pool, "2026-11-24 10:16");
    let e = orders::place(&stale, u, &req("005930", "buy", "1", Some("55900")))
        .await
        .unwrap_err();
    assert!(
        e.to_string().starts_with(
            "price: the stored price of 005930 is from 2026-11-24 10:00 KST (16 min old"
        ),
        "{e}"
    );
    // Market order outside the session and on a closed day.
    for when in [
        "2026-11-24 08:59",
        "2026-11-24 15:30",
        "2026-11-28 10:00",
        "2026-12-25 10:00",
    ] {
        let closed = app_at(&pool, when);
        let e = orders::place(&closed, u, &req("005930", "buy", "1", None))
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("kind: a market order cannot be placed"),
            "{when}: {e}"
        );
    }
    // Unlisted stock.
    sqlx::query("UPDATE stocks SET listed = false WHERE code = '247540'")
        .execute(&pool)
        .await
        .unwrap();
    let e = orders::place(&app, u, &req("247540", "buy", "1", Some("98700")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no longer listed"), "{e}");
    assert_eq!(counts().await, before);
}

#[sqlx::test]
async fn limit_orders_outside_the_session_rest_for_the_next_one(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "evening@example.com", 10_000_000).await;
    let evening = app_at(&pool, "2026-11-24 18:00");
    // After the close the band is around the latest price 55,900: 39,200 to 72,600.
    let p = orders::place(&evening, u, &req("005930", "buy", "1", Some("72600")))
        .await
        .unwrap();
    assert_eq!(p.order.status, "open");
    let e = orders::place(&evening, u, &req("005930", "buy", "1", Some("72700")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("39,200 to 72,600"), "{e}");
    // IOC cannot rest.
    let ioc = OrderRequest::parse(
        "005930",
        "buy",
        "1",
        Some("55900"),
        false,
        Some("ioc"),
        None,
    )
    .unwrap();
    let e = orders::place(&evening, u, &ioc).await.unwrap_err();
    assert!(
        e.to_string()
            .starts_with("tif: an IOC order cannot be placed"),
        "{e}"
    );
    // Settle outside the session fills nothing even though the order is marketable.
    assert_eq!(
        settle::settle(&evening, false, 100).await.unwrap().filled,
        0
    );
}

#[sqlx::test]
async fn ioc_fills_now_or_is_cancelled_without_reserving(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "ioc@example.com", 10_000_000).await;
    let not_now = OrderRequest::parse(
        "005930",
        "buy",
        "1",
        Some("55000"),
        false,
        Some("ioc"),
        None,
    )
    .unwrap();
    let p = orders::place(&app, u, &not_now).await.unwrap();
    assert_eq!(p.order.status, "cancelled");
    assert_eq!(cash(&app, u).await, (dec(10_000_000), dec(0)));
    let now = OrderRequest::parse(
        "005930",
        "buy",
        "1",
        Some("56000"),
        false,
        Some("ioc"),
        None,
    )
    .unwrap();
    let p = orders::place(&app, u, &now).await.unwrap();
    assert_eq!(p.order.status, "filled");
    assert_eq!(p.fill.unwrap().price, dec(55_900));
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn close_expires_day_orders_only_after_the_close(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "close@example.com", 10_000_000).await;
    let day = orders::place(&app, u, &req("005930", "buy", "1", Some("50000")))
        .await
        .unwrap()
        .order;
    let gtc_req = OrderRequest::parse(
        "005930",
        "buy",
        "1",
        Some("50000"),
        false,
        Some("gtc"),
        None,
    )
    .unwrap();
    let gtc = orders::place(&app, u, &gtc_req).await.unwrap().order;
    // During the session a --close run expires nothing of today's and says why.
    let s = settle::settle(&app, true, 100).await.unwrap();
    assert_eq!((s.expired, s.filled), (0, 0));
    assert!(
        s.note
            .as_deref()
            .unwrap()
            .starts_with("the session is still open"),
        "{s:?}"
    );
    // An order placed in the evening is for the next session and must survive tonight's close run.
    let evening = app_at(&pool, "2026-11-24 18:00");
    let next = orders::place(&evening, u, &req("005930", "buy", "1", Some("50000")))
        .await
        .unwrap()
        .order;
    let s = settle::settle(&evening, true, 100).await.unwrap();
    assert_eq!(s.expired, 1);
    let status = |id: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM orders WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(status(day.id).await, "expired");
    assert_eq!(status(gtc.id).await, "open");
    assert_eq!(status(next.id).await, "open");
    // Running it again changes nothing.
    assert_eq!(
        settle::settle(&evening, true, 100).await.unwrap().expired,
        0
    );
    assert_eq!(
        cash(&app, u).await.1,
        gtc.reserved_cash + next.reserved_cash
    );
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn a_missed_close_never_lets_a_day_order_fill_in_the_next_session(pool: PgPool) {
    // Tuesday: a DAY buy rests below the market; the 15:40 close run never happens.
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "missed@example.com", 10_000_000).await;
    let day = orders::place(&app, u, &req("005930", "buy", "1", Some("55000")))
        .await
        .unwrap()
        .order;
    let gtc_req = OrderRequest::parse(
        "005930",
        "buy",
        "1",
        Some("55000"),
        false,
        Some("gtc"),
        None,
    )
    .unwrap();
    let gtc = orders::place(&app, u, &gtc_req).await.unwrap().order;
    // Wednesday 10:00: the price crosses both limits. Settle expires Tuesday's DAY order first
    // (its reservation released) and fills only the GTC one.
    let wednesday = app_at(&pool, "2026-11-25 10:00");
    set_price(&wednesday, "005930", 54_900).await;
    let s = settle::settle(&wednesday, false, 100).await.unwrap();
    assert_eq!((s.expired, s.filled), (1, 1));
    let status: Vec<(i64, String)> = sqlx::query_as("SELECT id, status FROM orders ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        status,
        [
            (day.id, "expired".to_string()),
            (gtc.id, "filled".to_string())
        ]
    );
    assert_eq!(cash(&app, u).await.1, dec(0));
    // The catch-up close run at 10:30 (Persistent=true) finds nothing left and exits cleanly.
    let late = settle::settle(&app_at(&pool, "2026-11-25 10:30"), true, 100)
        .await
        .unwrap();
    assert_eq!(late.expired, 0);
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn settle_twice_is_a_no_op_and_stale_prices_are_skipped(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "twice@example.com", 10_000_000).await;
    for limit in ["55500", "55400", "55300"] {
        orders::place(&app, u, &req("005930", "buy", "1", Some(limit)))
            .await
            .unwrap();
    }
    orders::place(&app, u, &req("000660", "buy", "1", Some("170000")))
        .await
        .unwrap();
    let later = app_at(&pool, "2026-11-24 10:20");
    set_price(&later, "005930", 55_400).await;
    // 000660's price is now 20 minutes old: its order is skipped as stale.
    let s = settle::settle(&later, false, 1).await.unwrap();
    assert_eq!((s.filled, s.skipped_stale), (2, 1));
    let again = settle::settle(&later, false, 1).await.unwrap();
    assert_eq!(again.filled, 0);
    let fills: i64 = sqlx::query_scalar("SELECT count(*) FROM fills")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(fills, 2);
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn idempotency_key_replays_identical_orders_and_rejects_different_ones(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "idem@example.com", 10_000_000).await;
    let with_key = |qty: &str| {
        OrderRequest::parse("005930", "buy", qty, None, true, None, Some("rebalance-1")).unwrap()
    };
    let first = orders::place(&app, u, &with_key("3")).await.unwrap();
    assert!(!first.replayed);
    let entries = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM journal_entries")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let n = entries().await;
    let again = orders::place(&app, u, &with_key("3")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.order, first.order);
    assert_eq!(again.fill, first.fill);
    assert_eq!(entries().await, n);
    let e = orders::place(&app, u, &with_key("4")).await.unwrap_err();
    assert!(
        e.to_string()
            .starts_with("key: idempotency key \"rebalance-1\" was already used for order"),
        "{e}"
    );
    assert_eq!(entries().await, n);
    // Keys are per user: another user may use the same key.
    let v = user(&app, "idem2@example.com", 10_000_000).await;
    assert!(
        !orders::place(&app, v, &with_key("4"))
            .await
            .unwrap()
            .replayed
    );
}

#[sqlx::test]
async fn cancel_releases_and_refuses_what_it_must(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "cancel@example.com", 10_000_000).await;
    let other = user(&app, "other@example.com", 10_000_000).await;
    let o = orders::place(&app, u, &req("005930", "buy", "2", Some("55000")))
        .await
        .unwrap()
        .order;
    let e = orders::cancel(&app, other, o.id).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    let e = orders::cancel(&app, u, 999_999).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    let c = orders::cancel(&app, u, o.id).await.unwrap();
    assert_eq!((c.status.as_str(), c.reserved_cash), ("cancelled", dec(0)));
    assert_eq!(cash(&app, u).await, (dec(10_000_000), dec(0)));
    let e = orders::cancel(&app, u, o.id).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "order: order #{} is already cancelled and cannot be cancelled",
            o.id
        )
    );
    let filled = orders::place(&app, u, &req("005930", "buy", "1", None))
        .await
        .unwrap()
        .order;
    let e = orders::cancel(&app, u, filled.id).await.unwrap_err();
    assert!(e.to_string().contains("is already filled"), "{e}");
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn eight_concurrent_buyers_never_overdraw_one_account(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    // Each order reserves 1 × 55,900 + 8 = 55,908; 300,000 won pays for 5 of them.
    let u = user(&app, "race@example.com", 300_000).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let limit = if i % 2 == 0 { None } else { Some("55900") };
            orders::place(&app, u, &req("005930", "buy", "1", limit)).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert!(e.to_string().starts_with("cash: insufficient cash"), "{e}"),
        }
    }
    let (avail, reserved) = cash(&app, u).await;
    assert!(avail >= Decimal::ZERO && reserved >= Decimal::ZERO);
    // Market buys reserve at the upper limit (73,511), so fewer than 8 succeed, and never
    // more than the cash allows.
    assert!((1..8).contains(&ok), "{ok} orders succeeded");
    let spent: Decimal =
        sqlx::query_scalar("SELECT coalesce(sum(amount + fee), 0) FROM fills WHERE user_id = $1")
            .bind(u)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(avail + reserved + spent, dec(300_000));
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn two_concurrent_settles_fill_each_order_once(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let mut users_ = Vec::new();
    for i in 0..20 {
        let u = user(&app, &format!("s{i}@example.com"), 10_000_000).await;
        for limit in ["55500", "55600", "55700"] {
            orders::place(&app, u, &req("005930", "buy", "1", Some(limit)))
                .await
                .unwrap();
        }
        users_.push(u);
    }
    let later = app_at(&pool, "2026-11-24 10:01");
    set_price(&later, "005930", 55_500).await;
    let (a, b) = tokio::join!(
        settle::settle(&later, false, 3),
        settle::settle(&later, false, 3)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.filled + b.filled, 60);
    let dup: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT order_id FROM fills GROUP BY order_id HAVING count(*) > 1) d",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(dup, 0);
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn cancel_racing_settle_never_fills_a_cancelled_order(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "cs@example.com", 100_000_000).await;
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(
            orders::place(&app, u, &req("005930", "buy", "1", Some("55500")))
                .await
                .unwrap()
                .order
                .id,
        );
    }
    let later = app_at(&pool, "2026-11-24 10:01");
    set_price(&later, "005930", 55_500).await;
    let canceller = {
        let app = later.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            let mut n = 0;
            for id in ids.iter().rev() {
                if orders::cancel(&app, u, *id).await.is_ok() {
                    n += 1;
                }
            }
            n
        })
    };
    let s = settle::settle(&later, false, 1).await.unwrap();
    let cancelled = canceller.await.unwrap();
    let bad: i64 = sqlx::query_scalar("SELECT count(*) FROM orders o JOIN fills f ON f.order_id = o.id WHERE o.status <> 'filled'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(bad, 0);
    // One settle pass covers a user in one transaction: either it ran before the cancels
    // (everything filled) or after some (the rest filled); never both for one order.
    assert_eq!(s.filled + cancelled, 30);
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn deleting_a_user_releases_everything_and_keeps_the_ledger(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "Leaver@Example.com", 10_000_000).await;
    orders::place(&app, u, &req("005930", "buy", "10", None))
        .await
        .unwrap();
    orders::place(&app, u, &req("005930", "buy", "2", Some("50000")))
        .await
        .unwrap();
    orders::place(&app, u, &req("005930", "sell", "4", Some("60000")))
        .await
        .unwrap();
    let (_, token, _) = users::login(&app, "leaver@example.com", "password123")
        .await
        .unwrap();
    let session = Actor::Session(token.clone());
    let e = users::delete(&app, &session, Some("wrong-password"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Auth(_)), "{e}");
    let d = users::delete(&app, &session, Some("password123"))
        .await
        .unwrap();
    assert_eq!(d.cancelled_orders, 2);
    assert_eq!(cash(&app, u).await.1, dec(0));
    assert_eq!(shares(&app, u, "005930").await, (10, 0));
    let row: (Option<String>, Option<String>, Option<String>) =
        sqlx::query_as("SELECT email, display_name, password_hash FROM users WHERE id = $1")
            .bind(u)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(row, (None, None, None));
    let e = users::login(&app, "leaver@example.com", "password123")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Auth(_)));
    let e = ascend::app::resolve(&app, &session).await.unwrap_err();
    assert!(matches!(e, Error::Auth(_)), "{e}");
    let legs: i64 = sqlx::query_scalar("SELECT count(*) FROM journal_legs WHERE user_id = $1")
        .bind(u)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(legs > 0);
    // The email can be registered again by someone new.
    user(&app, "leaver@example.com", 1).await;
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn audit_names_each_kind_of_corruption(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "audit@example.com", 10_000_000).await;
    orders::place(&app, u, &req("005930", "buy", "10", None))
        .await
        .unwrap();
    orders::place(&app, u, &req("005930", "buy", "1", Some("50000")))
        .await
        .unwrap();
    assert_audit_clean(&app).await;

    sqlx::query("UPDATE accounts SET available = available + 1 WHERE user_id = $1")
        .bind(u)
        .execute(&pool)
        .await
        .unwrap();
    let r = ascend::app::audit::audit(&app).await.unwrap();
    let inv: Vec<u8> = r.violations.iter().map(|v| v.invariant).collect();
    assert_eq!(inv, vec![1, 5], "{:#?}", r.violations);
    assert!(r.violations[0]
        .detail
        .starts_with(&format!("cash account of user #{u}: cached ")));
    sqlx::query("UPDATE accounts SET available = available - 1 WHERE user_id = $1")
        .bind(u)
        .execute(&pool)
        .await
        .unwrap();

    // Each tampering is caught under the invariant it breaks, then undone.
    for (tamper, undo, expected) in [
        (
            "UPDATE orders SET reserved_cash = reserved_cash + 5 WHERE status = 'open'",
            "UPDATE orders SET reserved_cash = reserved_cash - 5 WHERE status = 'open'",
            vec![3],
        ),
        (
            "UPDATE fills SET fee = fee + 1",
            "UPDATE fills SET fee = fee - 1",
            vec![5],
        ),
        (
            "UPDATE accounts SET available = available - 7, reserved = reserved + 7",
            "UPDATE accounts SET available = available + 7, reserved = reserved - 7",
            vec![3],
        ),
        (
            "UPDATE orders SET filled_quantity = 9 WHERE status = 'filled'",
            "UPDATE orders SET filled_quantity = 10 WHERE status = 'filled'",
            vec![4],
        ),
        // References without foreign keys (migrations 6 and 9): a fill whose order is gone (and
        // the order whose fills are gone), an order of a stock that does not exist, a holding
        // of a stock that does not exist (whose shares the ledger then puts elsewhere).
        (
            "UPDATE fills SET order_id = order_id + 1000000",
            "UPDATE fills SET order_id = order_id - 1000000",
            vec![4, 4],
        ),
        // Legs live in their entry (migration 8): a zero leg keeps the entry balanced but is
        // not a movement.
        (
            "UPDATE journal_entries SET legs = legs || ROW(NULL, 'market', 'KRW', 0)::journal_leg WHERE kind = 'fill'",
            "UPDATE journal_entries SET legs = legs[1:cardinality(legs) - 1] WHERE kind = 'fill'",
            vec![1],
        ),
        (
            "UPDATE orders SET code = 'ZZZZZZ' WHERE status = 'open'",
            "UPDATE orders SET code = '005930' WHERE code = 'ZZZZZZ'",
            vec![4],
        ),
        (
            "UPDATE holdings SET code = 'ZZZZZZ'",
            "UPDATE holdings SET code = '005930'",
            vec![1, 1, 1],
        ),
    ] {
        sqlx::query(tamper).execute(&pool).await.unwrap();
        let r = ascend::app::audit::audit(&app).await.unwrap();
        let found: Vec<u8> = r.violations.iter().map(|v| v.invariant).collect();
        assert_eq!(found, expected, "{tamper}: {:#?}", r.violations);
        sqlx::query(undo).execute(&pool).await.unwrap();
        assert_audit_clean(&app).await;
    }

    sqlx::query("UPDATE journal_entries SET legs = legs || ROW(NULL, 'fees', 'KRW', 1)::journal_leg WHERE id = (SELECT min(id) FROM journal_entries)")
        .execute(&pool)
        .await
        .unwrap();
    let r = ascend::app::audit::audit(&app).await.unwrap();
    assert!(
        r.violations
            .iter()
            .any(|v| v.invariant == 1 && v.detail.contains("does not balance")),
        "{:#?}",
        r.violations
    );
}

#[sqlx::test]
async fn sell_tax_follows_the_trade_date(pool: PgPool) {
    let d2025 = app_at(&pool, "2025-12-30 10:00");
    seed_stocks(&d2025).await;
    let u = user(&d2025, "tax@example.com", 10_000_000).await;
    orders::place(&d2025, u, &req("005930", "buy", "100", None))
        .await
        .unwrap();
    let s = orders::place(&d2025, u, &req("005930", "sell", "50", None))
        .await
        .unwrap()
        .fill
        .unwrap();
    // 50 × 55,900 = 2,795,000: 0.15% = 4,192.5 → 4,192.
    assert_eq!(s.tax, dec(4_192));
    let d2026 = app_at(&pool, "2026-01-02 10:00");
    set_price(&d2026, "005930", 55_900).await;
    let s = orders::place(&d2026, u, &req("005930", "sell", "50", None))
        .await
        .unwrap()
        .fill
        .unwrap();
    assert_eq!(s.tax, dec(5_590));
    assert_audit_clean(&d2026).await;
}

#[sqlx::test]
async fn concurrent_resting_buys_reserve_no_more_than_the_cash(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    // A resting buy of 1 at 50,000 reserves 50,000 + fee 7 = 50,007; 300,000 won holds 5 of
    // them. All eight read 300,000 available before any reserves, so the reservation's own
    // condition must turn the last three away.
    let u = user(&app, "rest-race@example.com", 300_000).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            orders::place(&app, u, &req("005930", "buy", "1", Some("50000"))).await
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(p) => {
                assert_eq!(p.order.status, "open");
                ok += 1;
            }
            Err(e) => {
                assert!(e.to_string().starts_with("cash: insufficient cash"), "{e}");
                refused += 1;
            }
        }
    }
    assert_eq!((ok, refused), (5, 3));
    assert_eq!(
        cash(&app, u).await,
        (dec(300_000 - 5 * 50_007), dec(5 * 50_007))
    );
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn an_order_that_waited_for_a_deletion_is_refused(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "going@example.com", 10_000_000).await;
    // The deletion holds the account lock while two orders come in, one that would rest and one
    // that would fill, both decided on the account as read before the deletion commits.
    let mut tx = pool.begin().await.unwrap();
    ascend::store::trading::lock_account(&mut tx, u)
        .await
        .unwrap();
    ascend::store::users::scrub(&mut tx, u, app.clock.now())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for limit in [Some("50000"), None] {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            orders::place(&app, u, &req("005930", "buy", "1", limit)).await
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        tasks.iter().all(|t| !t.is_finished()),
        "orders must wait for the account lock"
    );
    tx.commit().await.unwrap();
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
        assert!(e.to_string().contains("has no active account"), "{e}");
    }
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE user_id = $1")
        .bind(u)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(orders, 0);
    assert_eq!(cash(&app, u).await, (dec(10_000_000), dec(0)));
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn concurrent_marketable_sells_never_sell_a_share_twice(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "sell-race@example.com", 10_000_000).await;
    orders::place(&app, u, &req("005930", "buy", "10", None))
        .await
        .unwrap();
    // Eight sells of 3 at the market price: all read 10 free shares, only 3 of them fit.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            orders::place(&app, u, &req("005930", "sell", "3", Some("55900"))).await
        }));
    }
    let (mut filled, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(p) => {
                assert_eq!(p.order.status, "filled");
                assert_eq!(p.fill.as_ref().map(|f| f.order_id), Some(p.order.id));
                filled += 1;
            }
            Err(e) => {
                assert!(
                    e.to_string().starts_with("quantity: insufficient shares"),
                    "{e}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!((filled, refused), (3, 5));
    assert_eq!(shares(&app, u, "005930").await, (1, 0));
    let fills: i64 =
        sqlx::query_scalar("SELECT count(*) FROM fills WHERE user_id = $1 AND side = 'sell'")
            .bind(u)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(fills, 3);
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn a_first_day_band_holds_for_the_first_session_only(pool: PgPool) {
    // 900001 lists today: its base is the offering price, 1,000 won.
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    sqlx::query("UPDATE stocks SET listed_on = '2026-11-24' WHERE code = '900001'")
        .execute(&pool)
        .await
        .unwrap();
    let u = user(&app, "ipo@example.com", 10_000_000).await;
    // In its first session a limit at 350% of the offering price is inside 60%–400% (and
    // marketable: it fills at the market price).
    let p = orders::place(&app, u, &req("900001", "buy", "1", Some("3500")))
        .await
        .unwrap();
    assert_eq!(p.order.status, "filled");
    assert_eq!(p.fill.unwrap().price, dec(1_000));
    let e = orders::place(&app, u, &req("900001", "buy", "1", Some("4005")))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("60%–400% of the offering price on its first day"),
        "{e}"
    );
    // After the close the order rests for tomorrow's session, whose band is ±30% again.
    let evening = app_at(&pool, "2026-11-24 18:00");
    let e = orders::place(&evening, u, &req("900001", "buy", "1", Some("3500")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("±30% of the base price"), "{e}");
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn a_halted_instrument_takes_no_orders_and_fills_nothing(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "halt@example.com", 10_000_000).await;
    let resting = orders::place(&app, u, &req("005930", "buy", "1", Some("55000")))
        .await
        .unwrap()
        .order;
    // A price that crosses the resting order arrives with the halt.
    let later = app_at(&pool, "2026-11-24 10:05");
    set_price(&later, "005930", 54_900).await;
    sqlx::query("UPDATE stocks SET halted = true WHERE code = '005930'")
        .execute(&pool)
        .await
        .unwrap();
    let e = orders::place(&later, u, &req("005930", "buy", "1", None))
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 3);
    assert!(e.to_string().contains("is halted"), "{e}");
    // The crossing price does not fill the resting order while the halt lasts.
    assert_eq!(settle::settle(&later, false, 100).await.unwrap().filled, 0);
    let status: String = sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
        .bind(resting.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "open");
    assert_audit_clean(&app).await;
}

/// A resting order for the placement writer, decided elsewhere: reserved as given.
fn resting(user: i64, side: &str, qty: i64, limit: i64, key: Option<&str>) -> Placement {
    use ascend::domain::{OrderKind, Price, Quantity, Side, StockCode, TimeInForce};
    let side = if side == "buy" { Side::Buy } else { Side::Sell };
    let fee_rate = rules::Rulebook::default().commission_rate;
    let gross = Decimal::from(qty * limit);
    let (cash, shares) = match side {
        Side::Buy => (gross + (gross * fee_rate).floor(), 0),
        Side::Sell => (Decimal::ZERO, qty),
    };
    Placement {
        insert: OrderInsert {
            row: NewOrderRow {
                user_id: user,
                code: StockCode::parse("005930").unwrap(),
                side,
                kind: OrderKind::Limit,
                tif: TimeInForce::Day,
                quantity: Quantity::new(qty).unwrap(),
                limit: Some(Price::new(Decimal::from(limit)).unwrap()),
                fee_rate,
                idempotency_key: key.map(str::to_string),
                sell_tax_exempt: false,
                stop: None,
                order_type: ascend::domain::OrderType::Limit,
            },
            status: ascend::domain::order::OrderStatus::Open,
            reserved_cash: cash,
            reserved_shares: shares,
            reason: None,
        },
        fill_at: None,
    }
}

#[sqlx::test]
async fn a_checked_batch_is_written_whole_or_not_at_all(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "checked@example.com", 1_000_000).await;
    orders::place(&app, u, &req("005930", "buy", "10", None))
        .await
        .unwrap();
    let before = (cash(&app, u).await, shares(&app, u, "005930").await);
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM orders WHERE user_id = $1")
            .bind(u)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let now = app.clock.now();
    let mut conn = pool.acquire().await.unwrap();
    // The buy fits the cash, but 11 shares are not there to sell: neither is written, and
    // the buy's reservation is not made either.
    let batch = [
        resting(u, "buy", 1, 50_000, None),
        resting(u, "sell", 11, 60_000, None),
    ];
    let w = trading::write_placements(&mut conn, &batch, Locks::Checked, now)
        .await
        .unwrap();
    assert!(w.is_none());
    assert_eq!(
        (cash(&app, u).await, shares(&app, u, "005930").await),
        before
    );
    assert_eq!(count().await, 1);
    // A key can be checked only under the lock: a keyed batch is not written with checked locks.
    let keyed = [resting(u, "buy", 1, 50_000, Some("k1"))];
    let w = trading::write_placements(&mut conn, &keyed, Locks::Checked, now)
        .await
        .unwrap();
    assert!(w.is_none());
    assert_eq!(count().await, 1);
    // Both fit: both are written, each reserving what it needs.
    let batch = [
        resting(u, "buy", 1, 50_000, None),
        resting(u, "sell", 4, 60_000, None),
    ];
    let w = trading::write_placements(&mut conn, &batch, Locks::Checked, now)
        .await
        .unwrap()
        .expect("written");
    assert_eq!(w.len(), 2);
    assert!(w.iter().all(|(o, f)| o.status == "open" && f.is_none()));
    assert_eq!(w[0].0.side, ascend::domain::Side::Buy);
    assert!(w[0].0.id < w[1].0.id);
    let ((avail, reserved), _) = before;
    assert_eq!(
        cash(&app, u).await,
        (avail - dec(50_007), reserved + dec(50_007))
    );
    assert_eq!(shares(&app, u, "005930").await, (6, 4));
    assert_audit_clean(&app).await;
}
