//! Placing, cancelling and listing orders.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::App;
use crate::domain::order::{
    self, Decision, Order, OrderStatus, PlaceError, Position, Reservation, Shares, FOK_REASON,
    IOC_REASON,
};
use crate::domain::rules::{self, SessionState};
use crate::domain::{Price, Side, StockCode};
use crate::error::{Error, Result};
use crate::store::trading::{
    self, FillRow, Locks, NewOrderRow, OrderInsert, OrderRow, Placement, StockRow,
};

pub use crate::domain::order::OrderRequest;

/// True when a stored order carries exactly the parameters of `req`. A best or priority
/// limit's price is the book's at its arrival, not a parameter: a replay compares its type.
fn same_as(req: &OrderRequest, o: &OrderRow) -> bool {
    o.code == req.code.as_str()
        && o.side == req.side
        && o.quantity == req.quantity.get()
        && (req.order_type.priced_from_book() || o.limit_price == req.limit.map(Price::get))
        && o.tif == req.tif
        && o.stop_price == req.stop.map(Price::get)
        && o.order_type == req.order_type
}

/// A refusal by the rules: a field's rule (`Invalid`) or a rejection, with the domain's message.
impl From<PlaceError> for Error {
    fn from(e: PlaceError) -> Self {
        match e {
            PlaceError::Invalid(i) => Error::Invalid(i),
            other => Error::Rejected(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Placed {
    pub order: OrderRow,
    pub fill: Option<FillRow>,
    /// True when the idempotency key matched an earlier identical order: nothing was written.
    pub replayed: bool,
}

/// [`order::decide`] on a stored stock, with the rulebook of the deployment.
fn decide(
    app: &App,
    req: &OrderRequest,
    stock: &StockRow,
    state: SessionState,
    now: DateTime<Utc>,
    available_cash: Decimal,
    shares: Shares,
) -> Result<Decision> {
    Ok(order::decide(
        req,
        available_cash,
        shares,
        &stock.state(),
        &app.rules,
        state,
        now,
    )?)
}

fn new_row(user_id: i64, req: &OrderRequest, fee_rate: Decimal, stock: &StockRow) -> NewOrderRow {
    NewOrderRow {
        user_id,
        code: req.code.clone(),
        side: req.side,
        kind: req.kind(),
        tif: req.tif,
        quantity: req.quantity,
        limit: req.limit,
        fee_rate,
        idempotency_key: req.idempotency_key.clone(),
        sell_tax_exempt: !rules::pays_sell_tax(stock.instrument().kind),
        stop: req.stop,
        order_type: req.order_type,
    }
}

fn unknown_stock(code: &StockCode) -> Error {
    Error::not_found(format!(
        "code: no stock with code {code} is known; search with `ascend stock search`"
    ))
}

/// What an idempotency key says about a request: a replay of `prev`, or a conflict.
fn check_replay(req: &OrderRequest, key: &str, prev: &OrderRow) -> Result<()> {
    if same_as(req, prev) {
        return Ok(());
    }
    Err(Error::rejected(format!(
        "key: idempotency key {key:?} was already used for order #{} with different parameters ({} {} {} {}{}{})",
        prev.id,
        prev.code,
        prev.side,
        prev.quantity,
        prev.limit_price.map_or("market".to_string(), crate::domain::group_thousands),
        prev.stop_price.map_or(String::new(), |s| format!(" stop {}", crate::domain::group_thousands(s))),
        match prev.order_type {
            order::OrderType::Limit | order::OrderType::Market => String::new(),
            t => format!(" {}", t.label()),
        }
    )))
}

/// Places an order for a user: validates it against the rulebook and the stored price,
/// reserves cash or shares, fills it at once when it is marketable inside the session, and
/// records all of it in one transaction.
///
/// The order is decided once by `domain::order::decide` and written as a batch of one by the
/// one writer of placements, `trading::write_placements`. Most orders are decided on the
/// account, stock and holding read without locks, and written with checked locks: the writer
/// takes the locks and writes only if what the decision needed (an active account, the cash or
/// free shares of the reservation) is still there on the locked rows, which saves the
/// transaction a resting order would otherwise need. When it is not, or when the order
/// carries an idempotency key (whether a key is used can be known only under the lock), the
/// order is decided again in a transaction that starts with the account lock and written with
/// the locks held.
pub async fn place(app: &App, user_id: i64, req: &OrderRequest) -> Result<Placed> {
    let now = app.clock.now();
    let state = match req.idempotency_key {
        None => match place_checked(app, user_id, req, now).await? {
            Checked::Placed(placed) => return Ok(*placed),
            Checked::Changed(state) => state,
        },
        Some(_) => session_now(app, now).await?,
    };
    place_locked(app, user_id, req, now, state).await
}

/// The session at `now` by the calendar the crawled KOSPI bars and the closure table give;
/// an error (nothing placed) on a day the calendar cannot answer.
pub(super) async fn session_now(app: &App, now: DateTime<Utc>) -> Result<SessionState> {
    let calendar = crate::store::market::calendar(&mut *app.pool.acquire().await?).await?;
    Ok(rules::session_state_in(now, &calendar)?)
}

/// What became of [`place_checked`]: placed, or the session it was decided in, for the locked
/// path to decide again because what the decision read has changed.
enum Checked {
    Placed(Box<Placed>),
    Changed(SessionState),
}

/// [`place`] decided on rows read without locks (with the calendar, in the same round trip)
/// and written with checked locks. A rejection is final: it was decided on committed state, as
/// the locked path would have decided it a moment earlier.
async fn place_checked(
    app: &App,
    user_id: i64,
    req: &OrderRequest,
    now: DateTime<Utc>,
) -> Result<Checked> {
    let mut conn = app.pool.acquire().await?;
    let seen = trading::order_context(&mut conn, user_id, &req.code).await?;
    let state = rules::session_state_in(now, &seen.calendar)?;
    let stock = seen.stock.ok_or_else(|| unknown_stock(&req.code))?;
    let shares = Shares {
        available: seen.shares.0,
        reserved: seen.shares.1,
    };
    let decision = decide(app, req, &stock, state, now, seen.account.available, shares)?;
    let row = new_row(user_id, req, app.rules.commission_rate, &stock);
    let written =
        trading::write_placements(&mut conn, &[placement(row, decision)], Locks::Checked, now)
            .await?;
    Ok(match written.and_then(|mut w| w.pop()) {
        Some((order, fill)) => Checked::Placed(Box::new(Placed {
            order,
            fill,
            replayed: false,
        })),
        None => Checked::Changed(state),
    })
}

/// The locked path of [`place`]: one transaction that starts with the account lock.
async fn place_locked(
    app: &App,
    user_id: i64,
    req: &OrderRequest,
    now: DateTime<Utc>,
    state: SessionState,
) -> Result<Placed> {
    let mut tx = app.pool.begin().await?;
    let (account, stock) = trading::lock_account_and_stock(&mut tx, user_id, &req.code).await?;

    if let Some(key) = &req.idempotency_key {
        if let Some(prev) = trading::order_by_key(&mut tx, user_id, key).await? {
            check_replay(req, key, &prev)?;
            let fill: Option<FillRow> = trading::fills_for_order(&mut tx, prev.id).await?;
            return Ok(Placed {
                order: prev,
                fill,
                replayed: true,
            });
        }
    }

    let stock = stock.ok_or_else(|| unknown_stock(&req.code))?;
    let holding = match req.side {
        Side::Sell => trading::holding(&mut tx, user_id, &req.code).await?,
        Side::Buy => None,
    };
    let decision = decide(
        app,
        req,
        &stock,
        state,
        now,
        account.available,
        holding.map_or(Shares::default(), |h| Shares {
            available: h.available,
            reserved: h.reserved,
        }),
    )?;
    let row = new_row(user_id, req, app.rules.commission_rate, &stock);
    let placement = placement(row, decision);
    let (order, fill) = trading::write_placements(&mut tx, &[placement], Locks::Held, now)
        .await?
        .and_then(|mut w| w.pop())
        .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("an order placed wrote nothing")))?;
    tx.commit().await?;
    Ok(Placed {
        order,
        fill,
        replayed: false,
    })
}

/// What to write for an order the rules accepted: cancelled with its reason (an IOC or FOK
/// order that cannot fill), or open with its reservation, to fill at once when the decision says so.
fn placement(row: NewOrderRow, decision: Decision) -> Placement {
    let (status, reservation, reason) = match decision {
        Decision::IocCancelled => (OrderStatus::Cancelled, Reservation::NONE, Some(IOC_REASON)),
        Decision::FokCancelled => (OrderStatus::Cancelled, Reservation::NONE, Some(FOK_REASON)),
        Decision::Rest(r) | Decision::FillNow { reservation: r, .. } => {
            (OrderStatus::Open, r, None)
        }
    };
    Placement {
        insert: OrderInsert {
            row,
            status,
            reserved_cash: reservation.cash,
            reserved_shares: reservation.shares,
            reason,
        },
        fill_at: match decision {
            Decision::FillNow { price, .. } => Some(price),
            _ => None,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Order types priced from the order book

/// Prices a best- or priority-limit request from the order book the source gives at the
/// app's clock ([`order::book_price`]); any other request is returned as it is. Refused
/// before the source is asked when the session does not take the type (exit 3) or the stock
/// is unknown; a request whose idempotency key is already used is returned unpriced, for
/// [`place`] to replay or refuse without the book. A source that cannot give the book is
/// [`Error::BookUnavailable`] (exit 5). Nothing is written here.
pub async fn price_from_book(
    app: &App,
    user_id: i64,
    req: OrderRequest,
    source: &super::market::SourceSpec,
) -> Result<OrderRequest> {
    if !req.order_type.priced_from_book() {
        return Ok(req);
    }
    let now = app.clock.now();
    let state = session_now(app, now).await?;
    order::check_type_in_session(&req, state, now)?;
    let mut conn = app.pool.acquire().await?;
    if crate::store::stocks::get(&mut conn, &req.code)
        .await?
        .is_none()
    {
        return Err(unknown_stock(&req.code));
    }
    if let Some(key) = &req.idempotency_key {
        if trading::order_by_key(&mut conn, user_id, key)
            .await?
            .is_some()
        {
            return Ok(req);
        }
    }
    drop(conn);
    let unavailable = |e: crate::market::MarketError| Error::BookUnavailable(e.to_string());
    let options = super::market::SourceOptions {
        timeout: Some(std::time::Duration::from_secs(3)),
        retries: Some(1),
        ..Default::default()
    };
    let source = super::market::open(app, source, options).map_err(unavailable)?;
    let book = super::market::order_book(&source, &req.code)
        .await
        .map_err(unavailable)?;
    Ok(req.priced_from(&book)?)
}

/// Cancels an open order of the user and releases its reservation.
pub async fn cancel(app: &App, user_id: i64, order_id: i64) -> Result<OrderRow> {
    let now = app.clock.now();
    let mut tx = app.pool.begin().await?;
    let not_found = || Error::not_found(format!("order: no order #{order_id} among your orders"));
    if trading::order_owner(&mut tx, order_id).await? != Some(user_id) {
        return Err(not_found());
    }
    trading::lock_account(&mut tx, user_id).await?;
    let order = trading::order(&mut tx, order_id, true)
        .await?
        .ok_or_else(not_found)?;
    if let Err(order::OrderError::Closed { status, .. }) = order.to_order()?.cancel() {
        return Err(Error::rejected(format!(
            "order: order #{order_id} is already {status} and cannot be cancelled"
        )));
    }
    trading::close_orders(
        &mut tx,
        std::slice::from_ref(&order),
        OrderStatus::Cancelled,
        "cancelled by the user",
        now,
    )
    .await?;
    let order = trading::order(&mut tx, order_id, false)
        .await?
        .ok_or_else(not_found)?;
    tx.commit().await?;
    Ok(order)
}

pub async fn list(app: &App, user_id: i64, open_only: bool, limit: i64) -> Result<Vec<OrderRow>> {
    let mut conn = app.pool.acquire().await?;
    trading::orders_for_user(&mut conn, user_id, open_only, limit).await
}

pub async fn trades(app: &App, user_id: i64, limit: i64) -> Result<Vec<FillRow>> {
    let mut conn = app.pool.acquire().await?;
    trading::fills_for_user(&mut conn, user_id, limit).await
}

/// One row of a bulk placement.
#[derive(Debug, Clone)]
pub struct BulkOrder {
    /// The row number in the input, for messages.
    pub row: usize,
    pub user_id: i64,
    pub req: OrderRequest,
}

/// What became of a bulk row: the order id and its status, or why it was refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BulkOutcome {
    pub row: usize,
    pub order_id: Option<i64>,
    pub status: Option<String>,
    pub error: Option<String>,
}

impl BulkOutcome {
    fn err(row: usize, e: impl std::fmt::Display) -> Self {
        BulkOutcome {
            row,
            order_id: None,
            status: None,
            error: Some(e.to_string()),
        }
    }
}

/// Places many orders, `batch` per transaction, set-based: each batch locks its users'
/// accounts in user order, reads stocks, keys and holdings once, applies the same rules as
/// [`place`] row by row in memory, then writes orders, reservations and immediate fills with a
/// few statements. A refused row is reported and does not stop the others; rows that passed
/// stay written.
pub async fn place_many(app: &App, rows: &[BulkOrder], batch: usize) -> Result<Vec<BulkOutcome>> {
    app.caller.require_operator("--file")?;
    let mut out = Vec::with_capacity(rows.len());
    let mut keys_seen: std::collections::HashMap<(i64, String), usize> =
        std::collections::HashMap::new();
    for chunk in rows.chunks(batch.max(1)) {
        out.extend(place_batch(app, chunk, &mut keys_seen).await?);
    }
    Ok(out)
}

async fn place_batch(
    app: &App,
    rows: &[BulkOrder],
    keys_seen: &mut std::collections::HashMap<(i64, String), usize>,
) -> Result<Vec<BulkOutcome>> {
    use std::collections::{BTreeSet, HashMap};
    let now = app.clock.now();
    let state = session_now(app, now).await?;
    let mut tx = app.pool.begin().await?;
    let users: Vec<i64> = rows
        .iter()
        .map(|r| r.user_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut cash: HashMap<i64, Decimal> = trading::lock_accounts(&mut tx, &users)
        .await?
        .into_iter()
        .collect();
    let codes: Vec<String> = rows
        .iter()
        .map(|r| r.req.code.to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let stocks: HashMap<String, StockRow> = trading::stocks_by_code(&mut tx, &codes)
        .await?
        .into_iter()
        .map(|s| (s.code.clone(), s))
        .collect();
    let (ku, kk): (Vec<i64>, Vec<String>) = rows
        .iter()
        .filter_map(|r| r.req.idempotency_key.clone().map(|k| (r.user_id, k)))
        .unzip();
    let existing: HashMap<(i64, String), OrderRow> = trading::orders_by_keys(&mut tx, &ku, &kk)
        .await?
        .into_iter()
        .filter_map(|o| o.idempotency_key.clone().map(|k| ((o.user_id, k), o)))
        .collect();
    let (hu, hc): (Vec<i64>, Vec<String>) = rows
        .iter()
        .filter(|r| r.req.side == Side::Sell)
        .map(|r| (r.user_id, r.req.code.to_string()))
        .unzip();
    let mut shares: HashMap<(i64, String), (i64, i64)> = trading::holdings_of(&mut tx, &hu, &hc)
        .await?
        .into_iter()
        .map(|(u, c, a, r)| ((u, c), (a, r)))
        .collect();

    let mut outcomes: Vec<BulkOutcome> = Vec::with_capacity(rows.len());
    let mut placements = Vec::new();
    let mut insert_rows = Vec::new();
    for r in rows {
        let req = &r.req;
        if let Some(key) = &req.idempotency_key {
            if let Some(prev) = existing.get(&(r.user_id, key.clone())) {
                outcomes.push(match check_replay(req, key, prev) {
                    Ok(()) => BulkOutcome {
                        row: r.row,
                        order_id: Some(prev.id),
                        status: Some(format!("{} (replayed)", prev.status)),
                        error: None,
                    },
                    Err(e) => BulkOutcome::err(r.row, e),
                });
                continue;
            }
            if let Some(first) = keys_seen.get(&(r.user_id, key.clone())) {
                outcomes.push(BulkOutcome::err(
                    r.row,
                    format!(
                        "key: idempotency key {key:?} is duplicated (first used on row {first})"
                    ),
                ));
                continue;
            }
        }
        let Some(available) = cash.get(&r.user_id).copied() else {
            outcomes.push(BulkOutcome::err(
                r.row,
                format!("user: user #{} is not active", r.user_id),
            ));
            continue;
        };
        let Some(stock) = stocks.get(req.code.as_str()) else {
            outcomes.push(BulkOutcome::err(r.row, unknown_stock(&req.code)));
            continue;
        };
        let key = (r.user_id, req.code.to_string());
        let held = shares.get(&key).copied().unwrap_or((0, 0));
        let row = new_row(r.user_id, req, app.rules.commission_rate, stock);
        let free = Shares {
            available: held.0,
            reserved: held.1,
        };
        match decide(app, req, stock, state, now, available, free) {
            Err(e) => {
                outcomes.push(BulkOutcome::err(r.row, e));
                continue;
            }
            Ok(decision @ (Decision::IocCancelled | Decision::FokCancelled)) => {
                placements.push(placement(row, decision))
            }
            Ok(decision) => {
                let reservation = decision.reservation();
                let f = match decision {
                    Decision::FillNow { price, .. } => Some(price),
                    _ => None,
                };
                // What later rows of the batch see, as if this row were placed alone: the
                // reservation, and for an immediate fill what the fill does to cash and
                // shares (holdings were read for every (user, code) a row of the batch sells).
                let mut cash_delta = reservation.cash_delta();
                let mut holding_delta = reservation.holding_delta();
                if let Some(price) = f {
                    let placed = Order::placed(
                        r.user_id,
                        req,
                        row.fee_rate,
                        row.sell_tax_exempt,
                        reservation,
                    );
                    let fx = order::fill(
                        &placed,
                        price,
                        req.quantity,
                        Position::default(),
                        rules::trade_date(now),
                    )
                    .map_err(|e| Error::Unexpected(anyhow::anyhow!("row {}: {e}", r.row)))?;
                    cash_delta += fx.cash;
                    holding_delta += fx.holding;
                }
                cash.insert(r.user_id, available + cash_delta.available);
                if !holding_delta.is_zero() {
                    shares.insert(
                        key,
                        (
                            held.0 + holding_delta.available,
                            held.1 + holding_delta.reserved,
                        ),
                    );
                }
                placements.push(placement(row, decision));
            }
        }
        if let Some(k) = &req.idempotency_key {
            keys_seen.insert((r.user_id, k.clone()), r.row);
        }
        insert_rows.push(outcomes.len());
        outcomes.push(BulkOutcome {
            row: r.row,
            order_id: None,
            status: None,
            error: None,
        });
    }

    let written = trading::write_placements(&mut tx, &placements, Locks::Held, now)
        .await?
        .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("a batch placed wrote nothing")))?;
    tx.commit().await?;
    for (i, (o, _)) in insert_rows.into_iter().zip(&written) {
        outcomes[i].order_id = Some(o.id);
        outcomes[i].status = Some(o.status.to_string());
    }
    Ok(outcomes)
}
