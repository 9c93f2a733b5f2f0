//! Orders, fills, accounts and holdings: the SQL of trading. Callers open the transaction and
//! take the account lock first (see the module docs of `store`).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{FromRow, PgConnection};

pub use super::ledger::FillRow;
use super::ledger::{self, Entry, EntryKind, Posting};
use crate::domain::calendar::Calendar;
use crate::domain::order::{self, Order, OrderStatus, Position, Reservation, StockState};
use crate::domain::{rules, OrderKind, OrderType, Price, Quantity, Side, StockCode, TimeInForce};
use crate::error::{Error, Result};

/// A user's cash account, locked.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct AccountRow {
    pub user_id: i64,
    pub available: Decimal,
    pub reserved: Decimal,
}

/// Locks a user's account row (the first lock of every per-user transaction). Fails with
/// NotFound for an unknown or deleted user.
pub async fn lock_account(conn: &mut PgConnection, user_id: i64) -> Result<AccountRow> {
    sqlx::query_as::<_, AccountRow>(
        "SELECT user_id, available, reserved FROM accounts
         WHERE user_id = $1 AND closed_at IS NULL FOR UPDATE",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| no_account(user_id))
}

/// An account row joined with one stock (absent when the code is unknown).
#[derive(FromRow)]
struct AccountStockRow {
    #[sqlx(flatten)]
    account: AccountRow,
    code: Option<String>,
    name: Option<String>,
    market: Option<String>,
    price: Option<Decimal>,
    prev_close: Option<Decimal>,
    price_at: Option<DateTime<Utc>>,
    listed: Option<bool>,
    kind: Option<String>,
    leverage: Option<Decimal>,
    listed_on: Option<NaiveDate>,
    halted: Option<bool>,
}

impl AccountStockRow {
    fn stock(self) -> Option<StockRow> {
        match (
            self.code,
            self.name,
            self.market,
            self.listed,
            self.kind,
            self.leverage,
            self.halted,
        ) {
            (
                Some(code),
                Some(name),
                Some(market),
                Some(listed),
                Some(kind),
                Some(leverage),
                Some(halted),
            ) => Some(StockRow {
                code,
                name,
                market,
                price: self.price,
                prev_close: self.prev_close,
                price_at: self.price_at,
                listed,
                kind,
                leverage,
                listed_on: self.listed_on,
                halted,
            }),
            _ => None,
        }
    }
}

fn no_account(user_id: i64) -> Error {
    Error::not_found(format!("user #{user_id} has no active account"))
}

/// Locks a user's account and reads one stock in the same round trip (the first statement of
/// place-order's locked path).
pub async fn lock_account_and_stock(
    conn: &mut PgConnection,
    user_id: i64,
    code: &StockCode,
) -> Result<(AccountRow, Option<StockRow>)> {
    let r = sqlx::query_as::<_, AccountStockRow>(
        "SELECT a.user_id, a.available, a.reserved,
                s.code, s.name, s.market, s.price, s.prev_close, s.price_at, s.listed,
                s.kind, s.leverage, s.listed_on, s.halted
         FROM accounts a LEFT JOIN stocks s ON s.code = $2
         WHERE a.user_id = $1 AND a.closed_at IS NULL FOR UPDATE OF a",
    )
    .bind(user_id)
    .bind(code.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| no_account(user_id))?;
    Ok((r.account, r.stock()))
}

/// What placing an order depends on, read without locks in one round trip: the account, the
/// stock, the user's shares of it (available, reserved) and the trading calendar.
pub struct OrderContext {
    pub account: AccountRow,
    pub stock: Option<StockRow>,
    pub shares: (i64, i64),
    pub calendar: Calendar,
}

pub async fn order_context(
    conn: &mut PgConnection,
    user_id: i64,
    code: &StockCode,
) -> Result<OrderContext> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        row: AccountStockRow,
        held_available: Option<i64>,
        held_reserved: Option<i64>,
        bar_dates: Vec<NaiveDate>,
    }
    let r = sqlx::query_as::<_, Row>(concat!(
        "SELECT a.user_id, a.available, a.reserved,
                s.code, s.name, s.market, s.price, s.prev_close, s.price_at, s.listed,
                s.kind, s.leverage, s.listed_on, s.halted,
                h.available AS held_available, h.reserved AS held_reserved,
                ARRAY(",
        kospi_bar_dates!(),
        ") AS bar_dates
         FROM accounts a LEFT JOIN stocks s ON s.code = $2
              LEFT JOIN holdings h ON h.user_id = a.user_id AND h.code = $2
         WHERE a.user_id = $1 AND a.closed_at IS NULL"
    ))
    .bind(user_id)
    .bind(code.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| no_account(user_id))?;
    Ok(OrderContext {
        account: r.row.account,
        shares: (r.held_available.unwrap_or(0), r.held_reserved.unwrap_or(0)),
        stock: r.row.stock(),
        calendar: Calendar::from_bar_dates(r.bar_dates),
    })
}

#[derive(Debug, Clone, FromRow)]
pub struct StockRow {
    pub code: String,
    pub name: String,
    pub market: String,
    pub price: Option<Decimal>,
    pub prev_close: Option<Decimal>,
    pub price_at: Option<DateTime<Utc>>,
    pub listed: bool,
    pub kind: String,
    pub leverage: Decimal,
    pub listed_on: Option<NaiveDate>,
    pub halted: bool,
}

impl StockRow {
    /// What the rulebook needs of the instrument: kind, leverage and first trading day.
    pub fn instrument(&self) -> rules::Instrument {
        rules::Instrument::stored(&self.kind, self.leverage, self.listed_on)
    }

    /// What the order rules need of the stock.
    pub fn state(&self) -> StockState {
        StockState {
            code: self.code.clone(),
            name: self.name.clone(),
            listed: self.listed,
            halted: self.halted,
            instrument: self.instrument(),
            price: self.price,
            prev_close: self.prev_close,
            price_at: self.price_at,
        }
    }
}

#[derive(Debug, Clone, Copy, FromRow)]
pub struct HoldingRow {
    pub available: i64,
    pub reserved: i64,
    pub cost: Decimal,
}

pub async fn holding(
    conn: &mut PgConnection,
    user_id: i64,
    code: &StockCode,
) -> Result<Option<HoldingRow>> {
    Ok(sqlx::query_as::<_, HoldingRow>(
        "SELECT available, reserved, cost FROM holdings WHERE user_id = $1 AND code = $2 FOR UPDATE",
    )
    .bind(user_id)
    .bind(code.as_str())
    .fetch_optional(&mut *conn)
    .await?)
}

/// An order as stored; side, kind, time in force and status are read as the domain's types.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq)]
pub struct OrderRow {
    pub id: i64,
    pub user_id: i64,
    pub code: String,
    #[sqlx(try_from = "String")]
    pub side: Side,
    #[sqlx(try_from = "String")]
    pub kind: OrderKind,
    #[sqlx(try_from = "String")]
    pub tif: TimeInForce,
    pub quantity: i64,
    pub limit_price: Option<Decimal>,
    pub fee_rate: Decimal,
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    pub filled_quantity: i64,
    pub reserved_cash: Decimal,
    pub reserved_shares: i64,
    pub idempotency_key: Option<String>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// An ETF or ETN order: its sells pay no securities transaction tax.
    pub sell_tax_exempt: bool,
    /// A stop order's trigger.
    pub stop_price: Option<Decimal>,
    /// When a stop order triggered (`None` while it is dormant, and for other orders).
    pub triggered_at: Option<DateTime<Utc>>,
    /// How many times `modify` changed its terms (`store::amendments` has the history).
    pub amendments: i32,
    /// When it took its place in the time priority of its price: when it was placed, or when
    /// a modify last changed its price.
    pub queued_at: DateTime<Utc>,
    /// The KRX order type (a best or priority limit with the limit the book gave it).
    #[sqlx(try_from = "String")]
    pub order_type: OrderType,
}

macro_rules! order_columns {
    () => {
        "id, user_id, code, side, kind, tif, quantity, limit_price, fee_rate, status, \
     filled_quantity, reserved_cash, reserved_shares, idempotency_key, reason, created_at, closed_at, \
     sell_tax_exempt, stop_price, triggered_at, amendments, COALESCE(queued_at, created_at) AS queued_at, \
     order_type"
    };
}

impl OrderRow {
    pub fn side(&self) -> Side {
        self.side
    }
    pub fn remaining(&self) -> i64 {
        self.quantity - self.filled_quantity
    }
    /// The order as the domain sees it, where it stands.
    pub fn to_order(&self) -> Result<Order> {
        Order::stored(
            self.user_id,
            StockCode::parse(&self.code)?,
            self.side,
            self.kind,
            self.tif,
            Quantity::new(self.quantity)?,
            self.limit_price.map(Price::new).transpose()?,
            self.fee_rate,
            self.sell_tax_exempt,
            self.status,
            self.filled_quantity,
            Reservation {
                cash: self.reserved_cash,
                shares: self.reserved_shares,
            },
        )
        .and_then(|o| {
            o.with_stop(
                self.stop_price.map(Price::new).transpose()?,
                self.triggered_at.is_some(),
            )
        })
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("order #{} as stored: {e}", self.id)))
    }
    /// What the order reserves, in the unit [`Posting::reserve`] takes: cash for a buy,
    /// shares for a sell.
    pub fn held(&self) -> Decimal {
        match self.side() {
            Side::Buy => self.reserved_cash,
            Side::Sell => Decimal::from(self.reserved_shares),
        }
    }
}

pub async fn order_by_key(
    conn: &mut PgConnection,
    user_id: i64,
    key: &str,
) -> Result<Option<OrderRow>> {
    Ok(sqlx::query_as::<_, OrderRow>(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE user_id = $1 AND idempotency_key = $2"
    ))
    .bind(user_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The user an order belongs to (None for an unknown order), read without a lock: for
/// refusing someone else's order before taking the owner's account lock.
pub async fn order_owner(conn: &mut PgConnection, id: i64) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT user_id FROM orders WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

pub async fn order(conn: &mut PgConnection, id: i64, lock: bool) -> Result<Option<OrderRow>> {
    let sql = if lock {
        concat!(
            "SELECT ",
            order_columns!(),
            " FROM orders WHERE id = $1 FOR UPDATE"
        )
    } else {
        concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1")
    };
    Ok(sqlx::query_as::<_, OrderRow>(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?)
}

pub async fn orders_for_user(
    conn: &mut PgConnection,
    user_id: i64,
    open_only: bool,
    limit: i64,
) -> Result<Vec<OrderRow>> {
    Ok(sqlx::query_as::<_, OrderRow>(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE user_id = $1 AND ($2 = false OR status = 'open')
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(user_id)
    .bind(open_only)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// What a new order is, after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrderRow {
    pub user_id: i64,
    pub code: StockCode,
    pub side: Side,
    pub kind: OrderKind,
    pub tif: TimeInForce,
    pub quantity: Quantity,
    pub limit: Option<Price>,
    pub fee_rate: Decimal,
    pub idempotency_key: Option<String>,
    /// From the instrument: ETF and ETN sells pay no securities transaction tax.
    pub sell_tax_exempt: bool,
    /// A stop order's trigger.
    pub stop: Option<Price>,
    pub order_type: OrderType,
}

// Closing or filling orders: the callers have locked and re-read them, and the domain's
// transitions have accepted them as open. Each UPDATE is still a compare-and-set: it changes
// a row only where the status is the one the caller read (an input column `was`), and the
// caller compares the rows it changed with the rows it meant to change. The status is
// compared with an input column rather than the constant 'open' on purpose: `status = 'open'`
// matches the predicate of orders_open_idx, and the planner may then read every resting
// order of the index instead of looking the ids up in the primary key (docs/PERFORMANCE.md
// has the measurement).

fn order_changed() -> Error {
    Error::Unexpected(anyhow::anyhow!("an order changed while locked"))
}

/// Closes open orders (cancelled or expired, by the domain's transitions) and releases
/// their reservations through the ledger. The caller holds the account locks of their users
/// and the order locks.
pub async fn close_orders(
    conn: &mut PgConnection,
    orders: &[OrderRow],
    status: OrderStatus,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    close(conn, orders, None, status, reason, at).await
}

/// [`close_orders`] for orders given as they were before a statement of the caller's
/// transaction stored them as `stored` (settle's fill statement stores crossed orders as
/// filled before their fills are computed): each is written back with its filled quantity as
/// given, closed as `status`, and releases the reservation it held.
pub async fn close_orders_stored_as(
    conn: &mut PgConnection,
    orders: &[OrderRow],
    stored: OrderStatus,
    status: OrderStatus,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    close(conn, orders, Some(stored), status, reason, at).await
}

async fn close(
    conn: &mut PgConnection,
    orders: &[OrderRow],
    stored: Option<OrderStatus>,
    status: OrderStatus,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    if orders.is_empty() {
        return Ok(());
    }
    let mut posting = Posting::default();
    for o in orders {
        let mut order = o.to_order()?;
        let release = match status {
            OrderStatus::Cancelled => order.cancel(),
            OrderStatus::Expired => order.expire(),
            OrderStatus::Open | OrderStatus::Filled => {
                return Err(Error::Unexpected(anyhow::anyhow!(
                    "closing an order as {status}"
                )))
            }
        }
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("order #{}: {e}", o.id)))?;
        if !release.cash.is_zero() {
            posting.cash(o.user_id, release.cash);
        }
        if !release.holding.is_zero() {
            posting.shares(o.user_id, &o.code, release.holding);
        }
    }
    let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
    let was: Vec<&str> = orders
        .iter()
        .map(|o| stored.unwrap_or(o.status).as_str())
        .collect();
    let filled: Vec<i64> = orders.iter().map(|o| o.filled_quantity).collect();
    let done = sqlx::query(
        "UPDATE orders o SET status = $3, reason = $4, filled_quantity = t.filled,
                             reserved_cash = 0, reserved_shares = 0, closed_at = $5
         FROM UNNEST($1::bigint[], $2::text[], $6::bigint[]) AS t(id, was, filled)
         WHERE o.id = ANY($1) AND o.id = t.id AND o.status = t.was",
    )
    .bind(&ids)
    .bind(&was)
    .bind(status.as_str())
    .bind(reason)
    .bind(at)
    .bind(&filled)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != ids.len() as u64 {
        return Err(order_changed());
    }
    ledger::post(conn, &posting, at).await
}

/// One order to fill now: at a price, for `quantity` shares (its whole remaining quantity
/// when None).
#[derive(Debug, Clone)]
pub struct FillPlan<'a> {
    pub order: &'a OrderRow,
    pub price: Price,
    pub quantity: Option<Quantity>,
    /// The trading day the trade belongs to, for its sell tax rate, when that is not the KST
    /// date of the time it is recorded at (a conversion at a close that a later settle records).
    pub trade_date: Option<NaiveDate>,
}

impl FillPlan<'_> {
    fn quantity(&self) -> Result<Quantity> {
        Ok(match self.quantity {
            Some(q) => q,
            None => Quantity::new(self.order.remaining())?,
        })
    }
}

/// A fill as posted, with its order as the fill left it (`Order::record_fill`: filled, or
/// still open with a remainder and what the remainder holds reserved).
#[derive(Debug, Clone)]
pub struct Posted {
    pub fill: FillRow,
    pub order: Order,
}

/// An order decided by the rules, ready to write: open with its reservation (and filled at
/// once at `fill_at` when it is marketable), or cancelled (an IOC order that could not fill).
#[derive(Debug, Clone)]
pub struct Placement {
    pub insert: OrderInsert,
    pub fill_at: Option<Price>,
}

impl Placement {
    /// The order as it is stored: filled in full when it fills at once (it never rests, and
    /// its reservation is made and released by its fill's posting), else as decided.
    fn stored(&self) -> (OrderStatus, i64, Decimal, i64) {
        let o = &self.insert;
        match self.fill_at {
            Some(_) => (OrderStatus::Filled, o.row.quantity.get(), Decimal::ZERO, 0),
            None => (o.status, 0, o.reserved_cash, o.reserved_shares),
        }
    }
}

/// What the caller of [`write_placements`] decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locks {
    /// The caller holds the account lock of every user of the batch and decided on the rows
    /// as locked. The writer's reservations and fills are one ledger posting, so a row may use
    /// cash or shares an earlier row's fill provides: only the sum must respect the balances.
    Held,
    /// The caller decided on rows read without locks. The writer's first statement takes the
    /// locks (account, then the holdings sold), checks on the rows as locked that what each
    /// decision needed is still there — the account active, the cash and free shares covering
    /// the batch's reservations before any of its fills — and only then reserves and inserts;
    /// otherwise it writes nothing and the writer returns None, for the caller to decide again
    /// under the locks. Whether an idempotency key is already used can be known only after the
    /// lock, so a batch with a key is not written in this form (None).
    Checked,
}

/// The one writer of placed orders, whether one (place-order) or a batch (placing from a
/// file); a single order is a batch of one. One statement inserts the orders — those that
/// fill at once already filled — with their ids and their fills' ids; one ledger posting makes
/// the reservations and posts the fills (computed by `domain::order::fill` through
/// [`record_fills`]). Returns each order as it ends, with its fill, in the order given.
///
/// With [`Locks::Held`] the caller's transaction holds the account locks. With
/// [`Locks::Checked`] the writer takes them: a batch that only rests (or is cancelled) is one
/// statement that also makes the reservations, outside any transaction; one with fills runs
/// that statement and the fills' posting in a transaction of its own. Control flow is by the
/// rows the statements return, never by a constraint error.
pub async fn write_placements(
    conn: &mut PgConnection,
    placements: &[Placement],
    locks: Locks,
    at: DateTime<Utc>,
) -> Result<Option<Vec<(OrderRow, Option<FillRow>)>>> {
    if placements.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let fills = placements.iter().any(|p| p.fill_at.is_some());
    match locks {
        Locks::Held => {
            let rows = insert_orders(conn, placements, locks, at).await?;
            if rows.len() != placements.len() {
                return Err(Error::Unexpected(anyhow::anyhow!(
                    "placing {} orders wrote {}",
                    placements.len(),
                    rows.len()
                )));
            }
            post_placements(conn, placements, rows, locks, at)
                .await
                .map(Some)
        }
        Locks::Checked
            if placements
                .iter()
                .any(|p| p.insert.row.idempotency_key.is_some()) =>
        {
            Ok(None)
        }
        Locks::Checked if !fills => {
            let rows = insert_orders(conn, placements, locks, at).await?;
            Ok(checked(placements, &rows)
                .then(|| rows.into_iter().map(|r| (r.order, None)).collect()))
        }
        Locks::Checked => {
            let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
            let rows = insert_orders(&mut tx, placements, locks, at).await?;
            if !checked(placements, &rows) {
                return Ok(None);
            }
            let written = post_placements(&mut tx, placements, rows, locks, at).await?;
            tx.commit().await?;
            Ok(Some(written))
        }
    }
}

/// True when a checked insert wrote the whole batch; false when it wrote nothing.
fn checked(placements: &[Placement], rows: &[Inserted]) -> bool {
    !rows.is_empty() && rows.len() == placements.len()
}

/// The ledger posting of [`write_placements`]: the reservations not yet made (all of them
/// under held locks; under checked ones only those of the orders filled at once, the resting
/// ones having been made by the insert) and the fills of the orders filled at once.
async fn post_placements(
    conn: &mut PgConnection,
    placements: &[Placement],
    rows: Vec<Inserted>,
    locks: Locks,
    at: DateTime<Utc>,
) -> Result<Vec<(OrderRow, Option<FillRow>)>> {
    let mut reservations = Posting::default();
    let mut placed = Vec::new();
    let mut ids = Vec::new();
    let mut held: HashMap<(i64, String), (i64, Decimal)> = HashMap::new();
    for (p, r) in placements.iter().zip(&rows) {
        let o = &p.insert;
        if !o.status.is_open() || (locks == Locks::Checked && p.fill_at.is_none()) {
            continue;
        }
        reservations.reserve(o.row.user_id, o.row.side, &o.row.code, o.held())?;
        if let Some(price) = p.fill_at {
            // The order as placed: open, holding its reservation, which the posting makes.
            let as_placed = OrderRow {
                status: OrderStatus::Open,
                filled_quantity: 0,
                reserved_cash: o.reserved_cash,
                reserved_shares: o.reserved_shares,
                closed_at: None,
                ..r.order.clone()
            };
            placed.push((as_placed, price));
            ids.push(r.fill_id.ok_or_else(|| {
                Error::Unexpected(anyhow::anyhow!(
                    "order #{} filled without a fill id",
                    r.order.id
                ))
            })?);
        }
        if let Some(position) = r.held {
            held.insert((r.order.user_id, r.order.code.clone()), position);
        }
    }
    let plans: Vec<FillPlan> = placed
        .iter()
        .map(|(order, price)| FillPlan {
            order,
            price: *price,
            quantity: None,
            trade_date: None,
        })
        .collect();
    // Under checked locks the insert returned the sellers' holdings as it locked them.
    let held = (locks == Locks::Checked).then_some(held);
    let fills = record_fills(conn, reservations, &plans, held, Some(ids), at).await?;
    let mut fills: HashMap<i64, FillRow> = fills
        .into_iter()
        .map(|p| (p.fill.order_id, p.fill))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let fill = fills.remove(&r.order.id);
            (r.order, fill)
        })
        .collect())
}

/// Fills open orders, each for its plan's quantity: writes the fills, posts one ledger entry
/// per fill that pays or collects the cash with fee and tax (computed by `domain::order::fill`
/// for the trade date) and moves the shares, and records each fill on its order — filled when
/// it completes the order, else still open, partially filled, holding what its remainder
/// needs. `before` (e.g. the reservations of the orders being filled) is posted in the same
/// ledger posting, ahead of the fills: the balances need hold only after both. Plans apply in
/// order: a sell's cost basis includes the shares bought by earlier plans. Returns the fills
/// and the orders as they end. The caller holds the account locks of every user involved and
/// the order locks; an order that changed all the same (a compare-and-set on its status and
/// filled quantity as read) fails the whole.
pub async fn apply_fills_after(
    conn: &mut PgConnection,
    before: Posting,
    plans: &[FillPlan<'_>],
    at: DateTime<Utc>,
) -> Result<(Vec<FillRow>, Vec<OrderRow>)> {
    let posted = record_fills(conn, before, plans, None, None, at).await?;
    if posted.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // Each order is written as `Order::record_fill` left it, where it is still as read.
    let ids: Vec<i64> = posted.iter().map(|p| p.fill.order_id).collect();
    let status: Vec<&str> = posted.iter().map(|p| p.order.status().as_str()).collect();
    let filled: Vec<i64> = posted.iter().map(|p| p.order.filled_quantity()).collect();
    let cash: Vec<Decimal> = posted.iter().map(|p| p.order.reserved().cash).collect();
    let shares: Vec<i64> = posted.iter().map(|p| p.order.reserved().shares).collect();
    let was: Vec<&str> = plans.iter().map(|p| p.order.status.as_str()).collect();
    let was_filled: Vec<i64> = plans.iter().map(|p| p.order.filled_quantity).collect();
    let done: Vec<OrderRow> = sqlx::query_as(concat!(
        "UPDATE orders o SET status = t.new_status, filled_quantity = t.new_filled,
                             reserved_cash = t.new_cash, reserved_shares = t.new_shares,
                             closed_at = CASE WHEN t.new_status = 'open' THEN o.closed_at ELSE $8 END
         FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::numeric[], $5::bigint[], $6::text[], $7::bigint[])
              AS t(order_id, new_status, new_filled, new_cash, new_shares, was, was_filled)
         WHERE o.id = ANY($1) AND o.id = t.order_id AND o.status = t.was AND o.filled_quantity = t.was_filled
         RETURNING ",
        order_columns!()
    ))
    .bind(&ids)
    .bind(&status)
    .bind(&filled)
    .bind(&cash)
    .bind(&shares)
    .bind(&was)
    .bind(&was_filled)
    .bind(at)
    .fetch_all(&mut *conn)
    .await?;
    if done.len() != posted.len() {
        return Err(order_changed());
    }
    Ok((posted.into_iter().map(|p| p.fill).collect(), done))
}

/// The fills of orders and their ledger posting, each computed by `domain::order::fill` and
/// recorded on its order by `Order::record_fill`, leaving the order rows as they are: for
/// orders inserted already filled ([`write_placements`]: an order that fills at once never
/// rests) or closed by the caller (settle); [`apply_fills_after`] also writes the orders as the
/// fills left them. Each plan's order is the order as it stands before its fill: open, holding
/// its reservation (which `before` posts, for an order being placed).
///
/// `held` gives the sellers' holdings as (user, code) → (shares, cost) when the caller has
/// them locked already; otherwise they are read here. `ids` are the fills' ids when the caller
/// has taken them from the sequence (one per plan); otherwise they are taken here.
pub async fn record_fills(
    conn: &mut PgConnection,
    before: Posting,
    plans: &[FillPlan<'_>],
    held: Option<HashMap<(i64, String), (i64, Decimal)>>,
    ids: Option<Vec<i64>>,
    at: DateTime<Utc>,
) -> Result<Vec<Posted>> {
    if plans.is_empty() {
        ledger::post(conn, &before, at).await?;
        return Ok(Vec::new());
    }
    let day: NaiveDate = rules::trade_date(at);
    let ids = match ids {
        Some(ids) if ids.len() == plans.len() => ids,
        Some(_) => {
            return Err(Error::Unexpected(anyhow::anyhow!(
                "fill ids do not match the plans"
            )))
        }
        None => super::next_ids(conn, "fills_id_seq", plans.len()).await?,
    };

    // Current holdings of sellers, for the cost basis of what they sell.
    let sellers: Vec<(i64, String)> = plans
        .iter()
        .filter(|p| p.order.side() == Side::Sell)
        .map(|p| (p.order.user_id, p.order.code.clone()))
        .collect();
    let known = held.is_some();
    let mut held = held.unwrap_or_default();
    if !known && !sellers.is_empty() {
        let (u, c): (Vec<i64>, Vec<String>) = sellers.into_iter().unzip();
        let rows: Vec<(i64, String, i64, Decimal)> = sqlx::query_as(
            "SELECT h.user_id, h.code, h.available + h.reserved, h.cost FROM holdings h
             JOIN UNNEST($1::bigint[], $2::text[]) AS t(user_id, code) ON h.user_id = t.user_id AND h.code = t.code",
        )
        .bind(&u)
        .bind(&c)
        .fetch_all(&mut *conn)
        .await?;
        for (u, c, q, cost) in rows {
            held.insert((u, c), (q, cost));
        }
    }

    let mut fills = Vec::with_capacity(plans.len());
    let mut after = Vec::with_capacity(plans.len());
    let mut posting = before;
    for (plan, id) in plans.iter().zip(ids) {
        let o = plan.order;
        let qty = plan.quantity()?;
        let key = (o.user_id, o.code.clone());
        let (shares, cost) = held.get(&key).copied().unwrap_or((0, Decimal::ZERO));
        let bad = |e: order::OrderError| Error::Unexpected(anyhow::anyhow!("order #{}: {e}", o.id));
        let mut filled = o.to_order()?;
        let on = plan.trade_date.unwrap_or(day);
        let fx =
            order::fill(&filled, plan.price, qty, Position { shares, cost }, on).map_err(bad)?;
        filled.record_fill(&fx).map_err(bad)?;
        held.insert(key, (shares + fx.holding.shares(), cost + fx.holding.cost));
        posting.cash(o.user_id, fx.cash);
        posting.shares(o.user_id, &o.code, fx.holding);
        after.push(filled);
        fills.push(FillRow {
            id,
            order_id: o.id,
            user_id: o.user_id,
            code: o.code.clone(),
            side: o.side,
            quantity: qty.get(),
            price: plan.price.get(),
            amount: fx.amounts.amount.get(),
            fee: fx.amounts.fee.get(),
            tax: fx.amounts.tax.get(),
            filled_at: at,
        });
        posting.entry(
            Entry::new(EntryKind::Fill, o.user_id)
                .legs(fx.legs)
                .order(o.id)
                .fill(id),
        );
    }

    ledger::post_with_fills(conn, &posting, &fills, at).await?;
    Ok(fills
        .into_iter()
        .zip(after)
        .map(|(fill, order)| Posted { fill, order })
        .collect())
}

pub async fn fills_for_order(conn: &mut PgConnection, order_id: i64) -> Result<Option<FillRow>> {
    Ok(sqlx::query_as::<_, FillRow>(
        "SELECT id, order_id, user_id, code, side, quantity, price, amount, fee, tax, filled_at
         FROM fills WHERE order_id = $1 ORDER BY id LIMIT 1",
    )
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn fills_for_user(
    conn: &mut PgConnection,
    user_id: i64,
    limit: i64,
) -> Result<Vec<FillRow>> {
    Ok(sqlx::query_as::<_, FillRow>(
        "SELECT id, order_id, user_id, code, side, quantity, price, amount, fee, tax, filled_at
         FROM fills WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Locks every open order of the given users (whose accounts the caller has locked).
pub async fn lock_open_orders(conn: &mut PgConnection, user_ids: &[i64]) -> Result<Vec<OrderRow>> {
    Ok(sqlx::query_as::<_, OrderRow>(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE user_id = ANY($1) AND status = 'open' ORDER BY id FOR UPDATE"
    ))
    .bind(user_ids)
    .fetch_all(&mut *conn)
    .await?)
}

/// An order to insert: `open` with its reservation, or `cancelled` with its reason.
#[derive(Debug, Clone)]
pub struct OrderInsert {
    pub row: NewOrderRow,
    pub status: OrderStatus,
    pub reserved_cash: Decimal,
    pub reserved_shares: i64,
    pub reason: Option<&'static str>,
}

impl OrderInsert {
    /// What the order reserves, in the unit [`Posting::reserve`] takes: cash for a buy,
    /// shares for a sell.
    fn held(&self) -> Decimal {
        match self.row.side {
            Side::Buy => self.reserved_cash,
            Side::Sell => Decimal::from(self.reserved_shares),
        }
    }
}

/// An order as [`insert_orders`] wrote it, with the id taken for its fill (when it fills at
/// once) and, under checked locks, the seller's holding as locked: (shares, cost).
struct Inserted {
    order: OrderRow,
    fill_id: Option<i64>,
    held: Option<(i64, Decimal)>,
}

// The statements of insert_orders. Their input is the batch as columns, $1..$17, $19, $20: the
// order ($1..$8, $12..$14, its stop trigger $19 and type $20), its status, filled quantity and
// reservation as stored ($9..$11, $15), the reservation as decided ($16, $17: the guard of
// checked locks) and $18 the time. Ids are
// taken from the sequences in input order, and a fill id for each order filled at once.
macro_rules! placements_input {
    () => {
        "t AS (
             SELECT nextval('orders_id_seq') AS id,
                    CASE WHEN u.status = 'filled' THEN nextval('fills_id_seq') END AS fill_id, u.*
             FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                         $7::numeric[], $8::numeric[], $9::text[], $10::numeric[], $11::bigint[],
                         $12::text[], $13::text[], $14::boolean[], $15::bigint[], $16::numeric[],
                         $17::bigint[], $19::numeric[], $20::text[])
                  AS u(user_id, code, side, kind, tif, quantity, limit_price, fee_rate, status,
                       reserved_cash, reserved_shares, idempotency_key, reason, sell_tax_exempt,
                       filled_quantity, need_cash, need_shares, stop_price, order_type))"
    };
}

macro_rules! placements_insert {
    ($from:literal) => {
        concat!(
            "ins AS (
                 INSERT INTO orders (id, user_id, code, side, kind, tif, quantity, limit_price, fee_rate,
                                     status, filled_quantity, reserved_cash, reserved_shares,
                                     idempotency_key, reason, sell_tax_exempt, stop_price, order_type,
                                     created_at, closed_at)
                 SELECT t.id, t.user_id, t.code, t.side, t.kind, t.tif, t.quantity, t.limit_price,
                        t.fee_rate, t.status, t.filled_quantity, t.reserved_cash, t.reserved_shares,
                        t.idempotency_key, t.reason, t.sell_tax_exempt, t.stop_price, t.order_type, $18,
                        CASE WHEN t.status <> 'open' THEN $18::timestamptz END
                 FROM ",
            $from,
            "
                 RETURNING ",
            order_columns!(),
            ")"
        )
    };
}

/// Inserts a batch of orders in one statement; returns them in the order given. Every read of
/// accounts and holdings names the batch's users (`= ANY($1)`) beside the join, so that even a
/// generic plan, which cannot know the batch is small, looks them up by key. Under
/// checked locks (see [`Locks::Checked`]) the same statement locks the accounts in user order
/// and then the holdings sold, checks that the cash and free shares cover the batch's
/// reservations per user and per holding, and only then makes the reservations of the orders
/// that rest and inserts the batch; when a check fails it returns no rows and writes nothing.
async fn insert_orders(
    conn: &mut PgConnection,
    placements: &[Placement],
    locks: Locks,
    at: DateTime<Utc>,
) -> Result<Vec<Inserted>> {
    let sql = match locks {
        Locks::Held => concat!(
            "WITH ",
            placements_input!(),
            ",
             ",
            placements_insert!("t"),
            "
             SELECT ins.*, t.fill_id, NULL::bigint AS held_shares, NULL::numeric AS held_cost
             FROM ins JOIN t USING (id) ORDER BY ins.id"
        ),
        Locks::Checked => concat!(
            "WITH ",
            placements_input!(),
            ",
             need AS (
                 SELECT user_id, sum(need_cash) AS cash, sum(reserved_cash) AS rest
                 FROM t GROUP BY user_id),
             need_h AS (
                 SELECT user_id, code, sum(need_shares) AS shares, sum(reserved_shares) AS rest
                 FROM t WHERE need_shares > 0 GROUP BY user_id, code),
             acct AS (
                 SELECT a.user_id, a.available >= n.cash AS covers
                 FROM accounts a JOIN need n ON n.user_id = a.user_id
                 WHERE a.user_id = ANY($1) AND a.closed_at IS NULL ORDER BY a.user_id FOR UPDATE OF a),
             held AS (
                 SELECT h.user_id, h.code, h.available >= n.shares AS covers,
                        h.available + h.reserved AS shares, h.cost
                 FROM holdings h JOIN need_h n ON n.user_id = h.user_id AND n.code = h.code
                 WHERE h.user_id = ANY($1) AND h.user_id IN (SELECT user_id FROM acct)
                 ORDER BY h.user_id, h.code FOR UPDATE OF h),
             ok AS (
                 SELECT (SELECT count(*) FROM acct WHERE covers) = (SELECT count(*) FROM need)
                        AND (SELECT count(*) FROM held WHERE covers) = (SELECT count(*) FROM need_h)
                        AS ok),
             res_a AS (
                 UPDATE accounts a SET available = a.available - n.rest, reserved = a.reserved + n.rest
                 FROM need n, ok
                 WHERE ok.ok AND n.rest > 0 AND a.user_id = ANY($1) AND a.user_id = n.user_id),
             res_h AS (
                 UPDATE holdings h SET available = h.available - n.rest, reserved = h.reserved + n.rest
                 FROM need_h n, ok
                 WHERE ok.ok AND n.rest > 0 AND h.user_id = ANY($1) AND h.user_id = n.user_id
                       AND h.code = n.code),
             ",
            placements_insert!("t, ok WHERE ok.ok"),
            "
             SELECT ins.*, t.fill_id, held.shares AS held_shares, held.cost AS held_cost
             FROM ins JOIN t USING (id)
                  LEFT JOIN held ON ins.side = 'sell' AND held.user_id = ins.user_id AND held.code = ins.code
             ORDER BY ins.id"
        ),
    };
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        order: OrderRow,
        fill_id: Option<i64>,
        held_shares: Option<i64>,
        held_cost: Option<Decimal>,
    }
    let orders: Vec<&OrderInsert> = placements.iter().map(|p| &p.insert).collect();
    let stored: Vec<(OrderStatus, i64, Decimal, i64)> =
        placements.iter().map(Placement::stored).collect();
    let f = |g: fn(&OrderInsert) -> String| orders.iter().map(|o| g(o)).collect::<Vec<String>>();
    let rows: Vec<Row> = sqlx::query_as::<_, Row>(sql)
        .bind(orders.iter().map(|o| o.row.user_id).collect::<Vec<_>>())
        .bind(f(|o| o.row.code.to_string()))
        .bind(f(|o| o.row.side.to_string()))
        .bind(f(|o| o.row.kind.to_string()))
        .bind(f(|o| o.row.tif.to_string()))
        .bind(
            orders
                .iter()
                .map(|o| o.row.quantity.get())
                .collect::<Vec<_>>(),
        )
        .bind(
            orders
                .iter()
                .map(|o| o.row.limit.map(Price::get))
                .collect::<Vec<_>>(),
        )
        .bind(orders.iter().map(|o| o.row.fee_rate).collect::<Vec<_>>())
        .bind(stored.iter().map(|s| s.0.as_str()).collect::<Vec<_>>())
        .bind(stored.iter().map(|s| s.2).collect::<Vec<_>>())
        .bind(stored.iter().map(|s| s.3).collect::<Vec<_>>())
        .bind(
            orders
                .iter()
                .map(|o| o.row.idempotency_key.clone())
                .collect::<Vec<_>>(),
        )
        .bind(orders.iter().map(|o| o.reason).collect::<Vec<_>>())
        .bind(
            orders
                .iter()
                .map(|o| o.row.sell_tax_exempt)
                .collect::<Vec<_>>(),
        )
        .bind(stored.iter().map(|s| s.1).collect::<Vec<_>>())
        .bind(orders.iter().map(|o| o.reserved_cash).collect::<Vec<_>>())
        .bind(orders.iter().map(|o| o.reserved_shares).collect::<Vec<_>>())
        .bind(at)
        .bind(
            orders
                .iter()
                .map(|o| o.row.stop.map(Price::get))
                .collect::<Vec<_>>(),
        )
        .bind(f(|o| o.row.order_type.to_string()))
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| match crate::error::violated_constraint(&e) {
            Some("orders_idempotency_key") => {
                let keys = orders
                    .iter()
                    .filter_map(|o| o.row.idempotency_key.as_deref());
                Error::rejected(format!(
                    "key: idempotency key {:?} is already used by another order",
                    keys.collect::<Vec<_>>().join(", ")
                ))
            }
            _ => e.into(),
        })?;
    Ok(rows
        .into_iter()
        .map(|r| Inserted {
            order: r.order,
            fill_id: r.fill_id,
            held: r.held_shares.zip(r.held_cost),
        })
        .collect())
}

/// Locks the accounts of many users in user order; returns (user, available cash) of the
/// active ones.
pub async fn lock_accounts(conn: &mut PgConnection, users: &[i64]) -> Result<Vec<(i64, Decimal)>> {
    Ok(sqlx::query_as(
        "SELECT user_id, available FROM accounts
         WHERE user_id = ANY($1) AND closed_at IS NULL ORDER BY user_id FOR UPDATE",
    )
    .bind(users)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn stocks_by_code(conn: &mut PgConnection, codes: &[String]) -> Result<Vec<StockRow>> {
    Ok(sqlx::query_as::<_, StockRow>(
        "SELECT code, name, market, price, prev_close, price_at, listed, kind, leverage, listed_on, halted
         FROM stocks WHERE code = ANY($1)",
    )
    .bind(codes)
    .fetch_all(&mut *conn)
    .await?)
}

/// Orders carrying any of the given (user, idempotency key) pairs.
pub async fn orders_by_keys(
    conn: &mut PgConnection,
    users: &[i64],
    keys: &[String],
) -> Result<Vec<OrderRow>> {
    Ok(sqlx::query_as::<_, OrderRow>(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders
         WHERE (user_id, idempotency_key) IN (SELECT * FROM UNNEST($1::bigint[], $2::text[]))"
    ))
    .bind(users)
    .bind(keys)
    .fetch_all(&mut *conn)
    .await?)
}

/// Holdings of (user, code) pairs: (user, code, available, reserved).
pub async fn holdings_of(
    conn: &mut PgConnection,
    users: &[i64],
    codes: &[String],
) -> Result<Vec<(i64, String, i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT h.user_id, h.code, h.available, h.reserved FROM holdings h
         JOIN UNNEST($1::bigint[], $2::text[]) AS k(user_id, code) ON h.user_id = k.user_id AND h.code = k.code",
    )
    .bind(users)
    .bind(codes)
    .fetch_all(&mut *conn)
    .await?)
}
