//! Modifying a resting order (정정 / 일부취소): a new limit, a smaller quantity, or both.

use serde::Serialize;

use super::App;
use crate::domain::order::{Amendment, ModifyError, OrderType, PlaceError, Shares, TimeInForce};
use crate::domain::{Side, StockCode};
use crate::error::{Error, Result};
use crate::store::amendments;
pub use crate::store::amendments::AmendmentRow;
use crate::store::ledger::{self, Posting};
use crate::store::trading::{self, OrderRow};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModifyOutcome {
    /// The order as it stands after the modify.
    pub order: OrderRow,
    pub amendment: AmendmentRow,
    /// True when the idempotency key matched an earlier identical modify: nothing was written.
    pub replayed: bool,
}

/// The one answer for an order that is not the user's or does not exist, as `cancel` gives.
fn not_found(order_id: i64) -> Error {
    Error::not_found(format!("order: no order #{order_id} among your orders"))
}

fn refused(order_id: i64, e: ModifyError) -> Error {
    match e {
        ModifyError::Closed { status } => Error::rejected(format!(
            "order: order #{order_id} is already {status} and cannot be modified"
        )),
        ModifyError::Rule(PlaceError::Invalid(i)) => Error::Invalid(i),
        other => Error::rejected(other.to_string()),
    }
}

/// Modifies an open (or partially filled) limit order of the user, in one transaction that
/// starts with the account lock (then, for a sell, the holding; then the order): the rules of
/// `domain::order::Order::modify` decide on the rows as locked, the change of the reservation
/// is posted through the ledger, and the order's new terms and the amendment are written by one
/// guarded statement. With an idempotency key already used, the same terms return the first
/// modify's result and write nothing; other terms are refused.
pub async fn modify(
    app: &App,
    user_id: i64,
    order_id: i64,
    asked: &Amendment,
) -> Result<ModifyOutcome> {
    let now = app.clock.now();
    let state = super::orders::session_now(app, now).await?;
    let mut tx = app.pool.begin().await?;
    let account = trading::lock_account(&mut tx, user_id).await?;

    if let Some(key) = &asked.idempotency_key {
        if let Some(prev) = amendments::by_key(&mut tx, user_id, key).await? {
            if !prev.asked_as(order_id, asked) {
                return Err(Error::rejected(format!(
                    "key: idempotency key {key:?} was already used to modify order #{} with different terms (limit {}, quantity {})",
                    prev.order_id,
                    prev.asked_limit.map_or("unchanged".into(), crate::domain::group_thousands),
                    prev.asked_quantity.map_or("unchanged".into(), |q| q.to_string()),
                )));
            }
            let order = trading::order(&mut tx, prev.order_id, false)
                .await?
                .ok_or_else(|| not_found(order_id))?;
            return Ok(ModifyOutcome {
                order,
                amendment: prev,
                replayed: true,
            });
        }
    }

    let order = trading::order(&mut tx, order_id, false)
        .await?
        .filter(|o| o.user_id == user_id)
        .ok_or_else(|| not_found(order_id))?;
    if order.status.is_open() && order.order_type == OrderType::ConditionalLimit {
        return Err(refused(order_id, ModifyError::Conditional));
    }
    if order.status.is_open() && order.tif == TimeInForce::Day {
        // The same cut as settle's expiry: a DAY order placed before the latest close is over.
        let calendar = crate::store::market::calendar(&mut tx).await?;
        let closed = super::settle::last_close(now, &calendar)?;
        if order.created_at < closed {
            return Err(refused(order_id, ModifyError::SessionEnded { closed }));
        }
    }
    let code = StockCode::parse(&order.code)?;
    let stock = trading::stocks_by_code(&mut tx, std::slice::from_ref(&order.code))
        .await?
        .pop()
        .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("order #{order_id}: no stock {code}")))?;
    let shares = match order.side {
        Side::Sell => {
            trading::holding(&mut tx, user_id, &code)
                .await?
                .map_or(Shares::default(), |h| Shares {
                    available: h.available,
                    reserved: h.reserved,
                })
        }
        Side::Buy => Shares::default(),
    };
    let m = order
        .to_order()?
        .modify(
            asked,
            account.available,
            shares,
            &stock.state(),
            &app.rules,
            state,
            now,
        )
        .map_err(|e| refused(order_id, e))?;

    let mut posting = Posting::default();
    let delta = match order.side {
        Side::Buy => m.delta.cash,
        Side::Sell => m.delta.shares.into(),
    };
    if !delta.is_zero() {
        posting.reserve(user_id, order.side, &code, delta)?;
        ledger::post(&mut tx, &posting, now).await?;
    }
    let Some(amendment) = amendments::apply(&mut tx, &order, &m, asked, now).await? else {
        // The account lock keeps every other writer of this user's orders away, so this is
        // not expected; say what the order is now, and write nothing.
        let now_is = trading::order(&mut tx, order_id, false).await?;
        return Err(match now_is {
            Some(o) if !o.status.is_open() => {
                refused(order_id, ModifyError::Closed { status: o.status })
            }
            _ => Error::Unexpected(anyhow::anyhow!("order #{order_id} changed while locked")),
        });
    };
    let order = trading::order(&mut tx, order_id, false)
        .await?
        .ok_or_else(|| not_found(order_id))?;
    tx.commit().await?;
    Ok(ModifyOutcome {
        order,
        amendment,
        replayed: false,
    })
}

/// The amendments of one of the user's orders, oldest first.
pub async fn history(app: &App, user_id: i64, order_id: i64) -> Result<Vec<AmendmentRow>> {
    let mut conn = app.pool.acquire().await?;
    trading::order(&mut conn, order_id, false)
        .await?
        .filter(|o| o.user_id == user_id)
        .ok_or_else(|| not_found(order_id))?;
    amendments::of_order(&mut conn, order_id).await
}
