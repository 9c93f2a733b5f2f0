//! Modifying resting orders (정정 / 일부취소): the guarded statement that applies what
//! `domain::order::Order::modify` decided, and the amendment history `orders --amendments`
//! shows. The caller holds the account lock (and, for a sell, the holding's) and posts the
//! change of the reservation through `ledger::post` in the same transaction.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{FromRow, PgConnection};

use super::trading::OrderRow;
use crate::domain::order::{Amendment, Modified};
use crate::domain::Price;
use crate::error::Result;

/// One change of an order's terms, as stored.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq)]
pub struct AmendmentRow {
    pub id: i64,
    pub order_id: i64,
    pub user_id: i64,
    /// 1 for the order's first amendment, 2 for its second, …
    pub seq: i32,
    pub old_quantity: i64,
    pub new_quantity: i64,
    pub old_limit: Decimal,
    pub new_limit: Decimal,
    /// Shares already filled when it was amended.
    pub filled_quantity: i64,
    /// The change of the order's reservation: positive earmarks more, negative frees.
    pub reserved_cash_delta: Decimal,
    pub reserved_shares_delta: i64,
    /// A new price: the order went to the back of the queue at `amended_at`.
    pub requeued: bool,
    /// What was asked (None: not given).
    pub asked_limit: Option<Decimal>,
    pub asked_quantity: Option<i64>,
    pub idempotency_key: Option<String>,
    pub amended_at: DateTime<Utc>,
}

impl AmendmentRow {
    /// True when it was asked with exactly these terms, for this order.
    pub fn asked_as(&self, order_id: i64, asked: &Amendment) -> bool {
        self.order_id == order_id
            && self.asked_limit == asked.limit.map(Price::get)
            && self.asked_quantity == asked.quantity.map(|q| q.get())
    }
}

macro_rules! columns {
    () => {
        "id, order_id, user_id, seq, old_quantity, new_quantity, old_limit, new_limit, \
         filled_quantity, reserved_cash_delta, reserved_shares_delta, requeued, asked_limit, \
         asked_quantity, idempotency_key, amended_at"
    };
}

/// The amendment a user made with an idempotency key, if any.
pub async fn by_key(
    conn: &mut PgConnection,
    user_id: i64,
    key: &str,
) -> Result<Option<AmendmentRow>> {
    Ok(sqlx::query_as::<_, AmendmentRow>(concat!(
        "SELECT ",
        columns!(),
        " FROM order_amendments WHERE user_id = $1 AND idempotency_key = $2"
    ))
    .bind(user_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?)
}

/// An order's amendments, oldest first.
pub async fn of_order(conn: &mut PgConnection, order_id: i64) -> Result<Vec<AmendmentRow>> {
    Ok(sqlx::query_as::<_, AmendmentRow>(concat!(
        "SELECT ",
        columns!(),
        " FROM order_amendments WHERE order_id = $1 ORDER BY seq"
    ))
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Applies a modify to `order` as the caller read it, in one statement: the order takes its new
/// terms and reservation (and, with a new price, a new place in the queue) only where it is
/// still as read — the same status, filled quantity, amendment count, terms and reservation, a
/// compare-and-set — and the amendment is recorded only when the order changed. Returns None,
/// having written nothing, when the order changed in between.
pub async fn apply(
    conn: &mut PgConnection,
    order: &OrderRow,
    m: &Modified,
    asked: &Amendment,
    at: DateTime<Utc>,
) -> Result<Option<AmendmentRow>> {
    Ok(sqlx::query_as::<_, AmendmentRow>(concat!(
        "WITH upd AS (
             UPDATE orders SET quantity = $10, limit_price = $11,
                               reserved_cash = $12, reserved_shares = $13,
                               amendments = amendments + 1,
                               queued_at = CASE WHEN $14 THEN $17 ELSE queued_at END
             WHERE id = $1 AND user_id = $2 AND status = $3 AND amendments = $4
               AND filled_quantity = $5 AND quantity = $6 AND limit_price = $7
               AND reserved_cash = $8 AND reserved_shares = $9
             RETURNING id, user_id, amendments, filled_quantity)
         INSERT INTO order_amendments (order_id, user_id, seq, old_quantity, new_quantity, old_limit,
                                       new_limit, filled_quantity, reserved_cash_delta,
                                       reserved_shares_delta, requeued, asked_limit, asked_quantity,
                                       idempotency_key, amended_at)
         SELECT id, user_id, amendments, $6, $10, $7, $11, filled_quantity, $12 - $8, $13 - $9, $14,
                $15, $16, $18, $17
         FROM upd
         RETURNING ",
        columns!()
    ))
    .bind(order.id)
    .bind(order.user_id)
    .bind(order.status.as_str())
    .bind(order.amendments)
    .bind(order.filled_quantity)
    .bind(order.quantity)
    .bind(order.limit_price)
    .bind(order.reserved_cash)
    .bind(order.reserved_shares)
    .bind(m.new.quantity.get())
    .bind(m.new.limit.get())
    .bind(m.reservation.cash)
    .bind(m.reservation.shares)
    .bind(m.requeued)
    .bind(asked.limit.map(Price::get))
    .bind(asked.quantity.map(|q| q.get()))
    .bind(at)
    .bind(asked.idempotency_key.as_deref())
    .fetch_optional(&mut *conn)
    .await?)
}
