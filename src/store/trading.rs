//! Orders, fills, accounts and holdings: the SQL of trading. Callers open the transaction and
//! take the account lock first (see the module docs of `store`).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{FromRow, PgConnection};

pub use super::ledger::FillRow;
use super::ledger::{self, Entry, EntryKind, Posting};
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
/// stock, the user's shares of it (available, reserved) and whether the idempotency key is
/// already used.
pub struct OrderContext {
    pub account: AccountRow,
    pub stock: Option<StockRow>,
    pub shares: (i64, i64),
    pub key_used: bool,
}

pub async fn order_context(
    conn: &mut PgConnection,
    user_id: i64,
    code: &StockCode,
    key: Option<&str>,
) -> Result<OrderContext> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        row: AccountStockRow,
        held_available: Option<i64>,
        held_reserved: Option<i64>,
        key_used: bool,
    }
    let r = sqlx::query_as::<_, Row>(
        "SELECT a.user_id, a.available, a.reserved,
                s.code, s.name, s.market, s.price, s.prev_close, s.price_at, s.listed,
                s.kind, s.leverage, s.listed_on, s.halted,
                h.available AS held_available, h.reserved AS held_reserved,
                EXISTS (SELECT 1 FROM orders o WHERE o.user_id = $1 AND o.idempotency_key = $3) AS key_used
         FROM accounts a LEFT JOIN stocks s ON s.code = $2
              LEFT JOIN holdings h ON h.user_id = a.user_id AND h.code = $2
         WHERE a.user_id = $1 AND a.closed_at IS NULL",
    )
    .bind(user_id)
    .bind(code.as_str())
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| no_account(user_id))?;
    Ok(OrderContext {
        account: r.row.account,
        shares: (r.held_available.unwrap_or(0), r.held_reserved.unwrap_or(0)),
        key_used: r.key_used,
        stock: r.row.stock(),
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
    /// A stop order's trigger (written by [`write_placements`]; the guarded inserts of
    /// place-order's short path take no stop order).
    pub stop: Option<Price>,
    pub order_type: OrderType,
}

// The guarded inserts below (a resting order, an immediate fill) share their parameters —
// $1..$8 the order, $9/$10 its reservation (cash, shares), which is the guard, $11 the key,
// $12 the time, $13 the tax exemption, $14 the order type — and, for a sell, the account lock taken before the holding.
macro_rules! lock_open_account {
    () => {
        "account AS (
             SELECT user_id FROM accounts WHERE user_id = $1 AND closed_at IS NULL FOR UPDATE)"
    };
}

fn bind_guarded<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    o: &'q OrderInsert,
    at: DateTime<Utc>,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    let r = &o.row;
    q.bind(r.user_id)
        .bind(r.code.as_str())
        .bind(r.side.as_str())
        .bind(r.kind.as_str())
        .bind(r.tif.as_str())
        .bind(r.quantity.get())
        .bind(r.limit.map(Price::get))
        .bind(r.fee_rate)
        .bind(o.reserved_cash)
        .bind(o.reserved_shares)
        .bind(r.idempotency_key.as_deref())
        .bind(at)
        .bind(r.sell_tax_exempt)
        .bind(r.order_type.as_str())
}

/// A guarded insert that lost its idempotency key to a concurrent placement wrote nothing:
/// None, so the locked path says what happened.
fn none_if_key_taken<T>(r: std::result::Result<Option<T>, sqlx::Error>) -> Result<Option<T>> {
    match r {
        Err(e) if crate::error::violated_constraint(&e) == Some("orders_idempotency_key") => {
            Ok(None)
        }
        other => Ok(other?),
    }
}

/// Places a resting order in one statement, without a transaction around it: it reserves the
/// order's cash (buy) or shares (sell) where the account is still active and still holds
/// enough, and inserts the order only if that reservation was made. Row locks are taken in the
/// usual order, account first, and the conditions are checked on the rows as locked, so this
/// is as safe as the locked path; it saves that path's BEGIN, lock-and-read and COMMIT round
/// trips. Returns None, having written nothing, when the account is closed, the cash or shares
/// are no longer there, or the idempotency key was taken in the meantime: the caller then
/// takes the locked path, which says why.
pub async fn insert_resting_order(
    conn: &mut PgConnection,
    o: &OrderInsert,
    at: DateTime<Utc>,
) -> Result<Option<OrderRow>> {
    macro_rules! insert_from {
        ($cte:expr) => {
            concat!(
                "WITH ",
                $cte,
                "
                 INSERT INTO orders (user_id, code, side, kind, tif, quantity, limit_price, fee_rate, status,
                                     reserved_cash, reserved_shares, idempotency_key, created_at, sell_tax_exempt,
                                     order_type)
                 SELECT user_id, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $12, $13, $14 FROM held
                 RETURNING ",
                order_columns!()
            )
        };
    }
    let sql = match o.row.side {
        Side::Buy => insert_from!(
            "held AS (
                 UPDATE accounts SET available = available - $9, reserved = reserved + $9
                 WHERE user_id = $1 AND closed_at IS NULL AND available >= $9
                 RETURNING user_id)"
        ),
        Side::Sell => insert_from!(concat!(
            lock_open_account!(),
            ",
             held AS (
                 UPDATE holdings h SET available = h.available - $10, reserved = h.reserved + $10
                 FROM account a WHERE h.user_id = a.user_id AND h.code = $2 AND h.available >= $10
                 RETURNING h.user_id)"
        )),
    };
    debug_assert!(o.status.is_open());
    none_if_key_taken(
        bind_guarded(sqlx::query_as::<_, OrderRow>(sql), o, at)
            .fetch_optional(&mut *conn)
            .await,
    )
}

/// An order inserted filled by [`lock_and_insert_filled_order`], with what its fill needs.
pub struct FilledInsert {
    pub order: OrderRow,
    /// The id of its fill, from the fills sequence.
    pub fill_id: i64,
    /// For a sell, the seller's holding as locked: (shares, cost).
    pub held: Option<(i64, Decimal)>,
}

/// The first statement of place-order's fill path, in the caller's transaction: locks the
/// account (and, for a sell, the holding) where the account is open and the cash or free
/// shares still cover the order's reservation, and only then inserts the order as filled
/// (`o` is the order as placed: open, with the reservation that is the guard). Returns None, having locked or written nothing that matters, when that no longer holds;
/// the caller then rolls back and takes the locked path.
pub async fn lock_and_insert_filled_order(
    conn: &mut PgConnection,
    o: &OrderInsert,
    at: DateTime<Utc>,
) -> Result<Option<FilledInsert>> {
    macro_rules! insert_from {
        ($cte:expr, $held:literal) => {
            concat!(
                "WITH ",
                $cte,
                ",
                 ins AS (
                     INSERT INTO orders (user_id, code, side, kind, tif, quantity, limit_price, fee_rate, status,
                                         filled_quantity, idempotency_key, created_at, closed_at, sell_tax_exempt,
                                         order_type)
                     SELECT user_id, $2, $3, $4, $5, $6, $7, $8, 'filled', $6, $11, $12, $12, $13, $14 FROM held
                     RETURNING ",
                order_columns!(),
                ")
                 SELECT ins.*, nextval('fills_id_seq') AS fill_id, ",
                $held,
                " FROM ins, held"
            )
        };
    }
    let sql = match o.row.side {
        Side::Buy => insert_from!(
            "held AS (
                 SELECT user_id FROM accounts
                 WHERE user_id = $1 AND closed_at IS NULL AND available >= $9 FOR UPDATE)",
            "NULL::bigint AS held_shares, NULL::numeric AS held_cost"
        ),
        Side::Sell => insert_from!(
            concat!(
                lock_open_account!(),
                ",
                 held AS (
                     SELECT h.user_id, h.available + h.reserved AS shares, h.cost FROM holdings h
                     JOIN account a ON h.user_id = a.user_id
                     WHERE h.code = $2 AND h.available >= $10 FOR UPDATE OF h)"
            ),
            "held.shares AS held_shares, held.cost AS held_cost"
        ),
    };
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        order: OrderRow,
        fill_id: i64,
        held_shares: Option<i64>,
        held_cost: Option<Decimal>,
    }
    let row = none_if_key_taken(
        bind_guarded(sqlx::query_as::<_, Row>(sql), o, at)
            .fetch_optional(&mut *conn)
            .await,
    )?;
    Ok(row.map(|r| FilledInsert {
        order: r.order,
        fill_id: r.fill_id,
        held: r.held_shares.zip(r.held_cost),
    }))
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
    let was: Vec<&str> = orders.iter().map(|o| o.status.as_str()).collect();
    let done = sqlx::query(
        "UPDATE orders o SET status = $3, reason = $4,
                             reserved_cash = 0, reserved_shares = 0, closed_at = $5
         FROM UNNEST($1::bigint[], $2::text[]) AS t(id, was)
         WHERE o.id = ANY($1) AND o.id = t.id AND o.status = t.was",
    )
    .bind(&ids)
    .bind(&was)
    .bind(status.as_str())
    .bind(reason)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != ids.len() as u64 {
        return Err(order_changed());
    }
    ledger::post(conn, &posting, at).await
}

/// One order to fill now, at a price, for its whole remaining quantity.
#[derive(Debug, Clone)]
pub struct FillPlan<'a> {
    pub order: &'a OrderRow,
    pub price: Price,
}

/// An order decided by the rules, ready to write: open with its reservation (and filled at
/// once at `fill_at` when it is marketable), or cancelled (an IOC order that could not fill).
#[derive(Debug, Clone)]
pub struct Placement {
    pub insert: OrderInsert,
    pub fill_at: Option<Price>,
}

/// Writes decided orders, set-based, whether one (place-order's locked path) or a batch
/// (placing from a file): one statement inserts them all; one ledger posting makes the
/// reservations of the open ones and posts the fills of those filled at once, so a row may
/// use cash or shares an earlier row's fill provides and only the sum must respect the
/// balances; one statement closes the filled ones. Returns each order as it ends, with its
/// fill, in the order given. The caller holds the account locks of every user involved.
pub async fn write_placements(
    conn: &mut PgConnection,
    placements: &[Placement],
    at: DateTime<Utc>,
) -> Result<Vec<(OrderRow, Option<FillRow>)>> {
    let orders = insert_orders(conn, placements, at).await?;
    let mut reservations = Posting::default();
    for o in orders.iter().filter(|o| o.status.is_open()) {
        reservations.reserve(o.user_id, o.side, &StockCode::parse(&o.code)?, o.held())?;
    }
    let plans: Vec<FillPlan> = orders
        .iter()
        .zip(placements)
        .filter_map(|(o, p)| p.fill_at.map(|price| FillPlan { order: o, price }))
        .collect();
    let (fills, filled) = apply_fills_after(conn, reservations, &plans, at).await?;
    let mut fills: HashMap<i64, FillRow> = fills.into_iter().map(|f| (f.order_id, f)).collect();
    let mut filled: HashMap<i64, OrderRow> = filled.into_iter().map(|o| (o.id, o)).collect();
    Ok(orders
        .into_iter()
        .map(|o| {
            let fill = fills.remove(&o.id);
            (filled.remove(&o.id).unwrap_or(o), fill)
        })
        .collect())
}

/// Fills open orders in full: writes the fills, closes the orders, releases their reservations
/// and posts one ledger entry per fill that pays or collects the cash with fee and tax
/// (computed by the rulebook for the trade date) and moves the shares. `before` (e.g. the
/// reservations of the orders being filled) is posted in the same ledger posting, ahead of
/// the fills: the balances need hold only after both. Plans apply in order: a sell's cost
/// basis includes the shares bought by earlier plans. Returns the fills and the orders as
/// filled. The caller holds the account locks of every user involved and the order locks.
pub async fn apply_fills_after(
    conn: &mut PgConnection,
    before: Posting,
    plans: &[FillPlan<'_>],
    at: DateTime<Utc>,
) -> Result<(Vec<FillRow>, Vec<OrderRow>)> {
    let fills = record_fills(conn, before, plans, None, None, at).await?;
    if fills.is_empty() {
        return Ok((fills, Vec::new()));
    }
    let ids: Vec<i64> = fills.iter().map(|f| f.order_id).collect();
    let quantities: Vec<i64> = fills.iter().map(|f| f.quantity).collect();
    let was: Vec<&str> = plans.iter().map(|p| p.order.status.as_str()).collect();
    let done: Vec<OrderRow> = sqlx::query_as(concat!(
        "UPDATE orders o SET status = 'filled',
                             filled_quantity = o.filled_quantity + t.qty,
                             reserved_cash = 0, reserved_shares = 0, closed_at = $4
         FROM UNNEST($1::bigint[], $2::bigint[], $3::text[]) AS t(order_id, qty, was)
         WHERE o.id = ANY($1) AND o.id = t.order_id AND o.status = t.was
         RETURNING ",
        order_columns!()
    ))
    .bind(&ids)
    .bind(&quantities)
    .bind(&was)
    .bind(at)
    .fetch_all(&mut *conn)
    .await?;
    if done.len() != fills.len() {
        return Err(order_changed());
    }
    Ok((fills, done))
}

/// The fills and ledger posting of [`apply_fills_after`], leaving the order rows as they are:
/// for an order inserted already filled (place-order's immediate fill, which never rests) or
/// closed by the caller (settle). Each plan's order is the order as placed: open, holding its
/// reservation, which `before` posts.
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
) -> Result<Vec<FillRow>> {
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
    let mut posting = before;
    for (plan, id) in plans.iter().zip(ids) {
        let o = plan.order;
        let qty = Quantity::new(o.remaining())?;
        let key = (o.user_id, o.code.clone());
        let (shares, cost) = held.get(&key).copied().unwrap_or((0, Decimal::ZERO));
        let fx = order::fill(
            &o.to_order()?,
            plan.price,
            qty,
            Position { shares, cost },
            day,
        )
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("order #{}: {e}", o.id)))?;
        held.insert(key, (shares + fx.holding.shares(), cost + fx.holding.cost));
        posting.cash(o.user_id, fx.cash);
        posting.shares(o.user_id, &o.code, fx.holding);
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
    Ok(fills)
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

/// An order to insert: `open` with its reservation, or `cancelled` with its reason; the guarded
/// inserts of place-order's short path also take one, open.
#[derive(Debug, Clone)]
pub struct OrderInsert {
    pub row: NewOrderRow,
    pub status: OrderStatus,
    pub reserved_cash: Decimal,
    pub reserved_shares: i64,
    pub reason: Option<&'static str>,
}

/// Inserts many orders in one statement; returns them in the order given.
async fn insert_orders(
    conn: &mut PgConnection,
    placements: &[Placement],
    at: DateTime<Utc>,
) -> Result<Vec<OrderRow>> {
    if placements.is_empty() {
        return Ok(Vec::new());
    }
    let orders: Vec<&OrderInsert> = placements.iter().map(|p| &p.insert).collect();
    let ids = super::next_ids(conn, "orders_id_seq", orders.len()).await?;
    let f = |g: fn(&OrderInsert) -> String| orders.iter().map(|o| g(o)).collect::<Vec<String>>();
    let mut rows: Vec<OrderRow> = sqlx::query_as::<_, OrderRow>(concat!("INSERT INTO orders (id, user_id, code, side, kind, tif, quantity, limit_price, fee_rate, status,
                             reserved_cash, reserved_shares, idempotency_key, reason, sell_tax_exempt,
                             stop_price, order_type, created_at, closed_at)
         SELECT t.*, $15, CASE WHEN t.status = 'open' THEN NULL ELSE $15::timestamptz END
         FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                     $8::numeric[], $9::numeric[], $10::text[], $11::numeric[], $12::bigint[], $13::text[], $14::text[],
                     $16::boolean[], $17::numeric[], $18::text[])
              AS t(id, user_id, code, side, kind, tif, quantity, limit_price, fee_rate, status,
                   reserved_cash, reserved_shares, idempotency_key, reason, sell_tax_exempt, stop_price, order_type)
         RETURNING ", order_columns!()))
    .bind(&ids)
    .bind(orders.iter().map(|o| o.row.user_id).collect::<Vec<_>>())
    .bind(f(|o| o.row.code.to_string()))
    .bind(f(|o| o.row.side.to_string()))
    .bind(f(|o| o.row.kind.to_string()))
    .bind(f(|o| o.row.tif.to_string()))
    .bind(orders.iter().map(|o| o.row.quantity.get()).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.row.limit.map(Price::get)).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.row.fee_rate).collect::<Vec<_>>())
    .bind(f(|o| o.status.to_string()))
    .bind(orders.iter().map(|o| o.reserved_cash).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.reserved_shares).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.row.idempotency_key.clone()).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.reason).collect::<Vec<_>>())
    .bind(at)
    .bind(orders.iter().map(|o| o.row.sell_tax_exempt).collect::<Vec<_>>())
    .bind(orders.iter().map(|o| o.row.stop.map(Price::get)).collect::<Vec<_>>())
    .bind(f(|o| o.row.order_type.to_string()))
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| match crate::error::violated_constraint(&e) {
        Some("orders_idempotency_key") => {
            let keys = orders.iter().filter_map(|o| o.row.idempotency_key.as_deref());
            Error::rejected(format!(
                "key: idempotency key {:?} is already used by another order",
                keys.collect::<Vec<_>>().join(", ")
            ))
        }
        _ => e.into(),
    })?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
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
