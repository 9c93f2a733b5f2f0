//! The settle query that selects the orders to fill (`crossed!` in app/settle.rs) chooses
//! what `domain::order::crosses` chooses, on random books: random stocks (price, its age,
//! listed, halted) and random orders (side, kind, limit, status, stop trigger, triggered or
//! dormant) are stored, and the set the query selects is compared with the set `crosses`
//! selects. Likewise the stops settle triggers (`triggers!`) are those `domain::order::triggers`
//! triggers at the price `crosses` would fill on.

use ascend::app::settle::{crossed_orders, triggering_orders};
use ascend::domain::order::{
    crosses, triggers, Order, OrderKind, OrderStatus, Reservation, Side, StockState, TimeInForce,
};
use ascend::domain::rules::{Instrument, Rulebook};
use ascend::domain::{Price, Quantity, StockCode};
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use rust_decimal::Decimal;
use sqlx::PgPool;

#[derive(Debug, Clone)]
struct StockCase {
    price: Option<i64>,
    /// Seconds between the price and now (negative: a price from the future).
    age: Option<i64>,
    listed: bool,
    halted: bool,
}

#[derive(Debug, Clone)]
struct OrderCase {
    stock: usize,
    buy: bool,
    limit: Option<i64>,
    status: OrderStatus,
    /// A stop order's trigger, and whether it has triggered.
    stop: Option<(i64, bool)>,
}

const STOCKS: usize = 3;

/// Prices and limits fall on a few values around 10,000 so that equal ones are common; ages
/// step by 30 seconds so that exactly the freshness bound (900 s) comes up.
fn book() -> impl Strategy<Value = (Vec<StockCase>, Vec<OrderCase>)> {
    let price = (-3..=3i64).prop_map(|k| 10_000 + 10 * k);
    let stock = (
        prop::option::weighted(0.9, price.clone()),
        prop::option::weighted(0.9, (-2..=35i64).prop_map(|k| 30 * k)),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(price, age, listed, halted)| StockCase {
            price,
            age,
            listed,
            halted,
        });
    let status = prop_oneof![
        4 => Just(OrderStatus::Open),
        1 => Just(OrderStatus::Filled),
        1 => Just(OrderStatus::Cancelled),
        1 => Just(OrderStatus::Expired),
    ];
    let order = (
        0..STOCKS,
        any::<bool>(),
        prop::option::weighted(0.85, price.clone()),
        status,
        prop::option::weighted(0.4, (price, any::<bool>())),
    )
        .prop_map(|(stock, buy, limit, status, stop)| OrderCase {
            stock,
            buy,
            limit,
            status,
            stop,
        });
    (
        prop::collection::vec(stock, STOCKS),
        prop::collection::vec(order, 0..16),
    )
}

fn code(i: usize) -> String {
    format!("00000{i}")
}

async fn check(
    pool: &PgPool,
    now: DateTime<Utc>,
    stocks: &[StockCase],
    orders: &[OrderCase],
) -> (usize, usize) {
    let rules = Rulebook::default();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("DELETE FROM orders")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("DELETE FROM stocks")
        .execute(&mut *tx)
        .await
        .unwrap();
    let mut states = Vec::new();
    for (i, s) in stocks.iter().enumerate() {
        let price_at = s.age.map(|a| now - Duration::seconds(a));
        sqlx::query(
            "INSERT INTO stocks (code, name, market, price, prev_close, price_at, listed, halted)
             VALUES ($1, $1, 'KOSPI', $2, 10000, $3, $4, $5)",
        )
        .bind(code(i))
        .bind(s.price.map(Decimal::from))
        .bind(price_at)
        .bind(s.listed)
        .bind(s.halted)
        .execute(&mut *tx)
        .await
        .unwrap();
        states.push(StockState {
            code: code(i),
            name: code(i),
            listed: s.listed,
            halted: s.halted,
            instrument: Instrument::common(),
            price: s.price.map(Decimal::from),
            prev_close: Some(Decimal::from(10_000)),
            price_at,
        });
    }
    let (mut expected, mut expected_triggers) = (Vec::new(), Vec::new());
    for o in orders {
        let side = if o.buy { Side::Buy } else { Side::Sell };
        let kind = if o.limit.is_some() {
            OrderKind::Limit
        } else {
            OrderKind::Market
        };
        let filled = if o.status == OrderStatus::Filled {
            1
        } else {
            0
        };
        // DAY: a stop-market order is DAY only.
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO orders (user_id, code, side, kind, order_type, tif, quantity, limit_price, fee_rate,
                                 status, filled_quantity, created_at, stop_price, triggered_at)
             VALUES (1, $1, $2, $3, $3, 'day', 1, $4, 0, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(code(o.stock))
        .bind(side.as_str())
        .bind(kind.as_str())
        .bind(o.limit.map(Decimal::from))
        .bind(o.status.as_str())
        .bind(filled)
        .bind(now - Duration::hours(1))
        .bind(o.stop.map(|(s, _)| Decimal::from(s)))
        .bind(
            o.stop
                .filter(|(_, t)| *t)
                .map(|_| now - Duration::minutes(30)),
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        let order = Order::stored(
            1,
            StockCode::parse(&code(o.stock)).unwrap(),
            side,
            kind,
            TimeInForce::Day,
            Quantity::new(1).unwrap(),
            o.limit.map(|l| Price::new(Decimal::from(l)).unwrap()),
            Decimal::ZERO,
            false,
            o.status,
            filled,
            Reservation::NONE,
        )
        .unwrap()
        .with_stop(
            o.stop.map(|(s, _)| Price::new(Decimal::from(s)).unwrap()),
            o.stop.is_some_and(|(_, t)| t),
        )
        .unwrap();
        let stock = &states[o.stock];
        if crosses(&order, stock, now, &rules) {
            expected.push(id);
        }
        // Settle triggers on the price it fills on: fresh, of a listed stock not halted.
        let price = stock
            .fresh_price(now, rules.max_price_age)
            .filter(|_| stock.listed && !stock.halted);
        if price.is_some_and(|p| triggers(&order, Price::new(p).unwrap())) {
            expected_triggers.push(id);
        }
    }
    let chosen = crossed_orders(&mut tx, now, rules.max_price_age)
        .await
        .unwrap();
    assert_eq!(chosen, expected, "stocks {stocks:#?}\norders {orders:#?}");
    let triggered = triggering_orders(&mut tx, now, rules.max_price_age)
        .await
        .unwrap();
    assert_eq!(
        triggered, expected_triggers,
        "stocks {stocks:#?}\norders {orders:#?}"
    );
    tx.rollback().await.unwrap();
    (chosen.len(), triggered.len())
}

#[sqlx::test]
async fn the_settle_query_selects_what_crosses_selects(pool: PgPool) {
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 1, 0, 0).unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    let strategy = book();
    let (mut crossed, mut triggered, mut orders_seen) = (0, 0, 0);
    let mut fired = 0;
    for _ in 0..runner.config().cases {
        let (stocks, orders) = strategy.new_tree(&mut runner).unwrap().current();
        let (c, t) = check(&pool, now, &stocks, &orders).await;
        crossed += c;
        triggered += t;
        orders_seen += orders.len();
        fired += orders
            .iter()
            .filter(|o| o.stop.is_some_and(|(_, t)| t))
            .count();
    }
    // The books are varied enough for the comparison to mean something.
    assert!(
        crossed > 0 && crossed < orders_seen,
        "{crossed} of {orders_seen} crossed"
    );
    assert!(
        triggered > 0 && fired > 0,
        "{triggered} triggered; {fired} stored as triggered"
    );
}
