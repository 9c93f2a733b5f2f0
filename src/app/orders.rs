//! Placing, cancelling and listing orders.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::App;
use crate::domain::rules::{self, SessionState};
use crate::domain::{Invalid, OrderKind, Price, Quantity, Side, StockCode, TimeInForce};
use crate::error::{Error, Result};
use crate::store::ledger::{self, Posting};
use crate::store::trading::{
    self, FillPlan, FillRow, NewOrderRow, OrderInsert, OrderRow, StockRow,
};

/// A request to place an order, parsed at the boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    pub code: StockCode,
    pub side: Side,
    pub quantity: Quantity,
    /// `None` for a market order.
    pub limit: Option<Price>,
    pub tif: TimeInForce,
    pub idempotency_key: Option<String>,
}

impl OrderRequest {
    /// Parses the text a person or a CSV row gives. `limit` and `market` are exclusive and one
    /// of them is required.
    pub fn parse(
        code: &str,
        side: &str,
        quantity: &str,
        limit: Option<&str>,
        market: bool,
        tif: Option<&str>,
        key: Option<&str>,
    ) -> Result<Self, Invalid> {
        let code = StockCode::parse(code)?;
        let side: Side = side.parse()?;
        let quantity: Quantity = quantity.parse()?;
        let limit = match (limit, market) {
            (Some(_), true) => {
                return Err(Invalid::new(
                    "limit",
                    "give either --limit PRICE or --market, not both",
                ))
            }
            (None, false) => {
                return Err(Invalid::new(
                    "limit",
                    "give --limit PRICE for a limit order or --market for a market order",
                ))
            }
            (Some(p), false) => Some(p.parse::<Price>()?),
            (None, true) => None,
        };
        let tif = tif.map(str::parse).transpose()?.unwrap_or(TimeInForce::Day);
        let idempotency_key = key.map(str::trim).map(|k| {
            crate::domain::refuse_format_chars(k, "key")?;
            if k.is_empty() || k.len() > 100 || k.chars().any(char::is_control) {
                Err(Invalid::new(
                    "key",
                    "must be 1 to 100 characters without control characters",
                ))
            } else {
                Ok(k.to_string())
            }
        });
        Ok(OrderRequest {
            code,
            side,
            quantity,
            limit,
            tif,
            idempotency_key: idempotency_key.transpose()?,
        })
    }

    pub fn kind(&self) -> OrderKind {
        if self.limit.is_some() {
            OrderKind::Limit
        } else {
            OrderKind::Market
        }
    }

    /// True when a stored order carries exactly these parameters.
    fn same_as(&self, o: &OrderRow) -> bool {
        o.code == self.code.as_str()
            && o.side == self.side.as_str()
            && o.quantity == self.quantity.get()
            && o.limit_price == self.limit.map(Price::get)
            && o.tif == self.tif.as_str()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Placed {
    pub order: OrderRow,
    pub fill: Option<FillRow>,
    /// True when the idempotency key matched an earlier identical order: nothing was written.
    pub replayed: bool,
}

fn fresh_price(stock: &StockRow, now: DateTime<Utc>, max_age: chrono::Duration) -> Result<Price> {
    let (Some(price), Some(at)) = (stock.price, stock.price_at) else {
        return Err(Error::rejected(format!(
            "price: no price is stored for {}; run `ascend crawl-stocks`",
            stock.code
        )));
    };
    if at > now {
        return Err(Error::rejected(format!(
            "price: the stored price of {} is stamped {}, after the order's time {}: a price from the future is not fresh",
            stock.code,
            at.with_timezone(&rules::kst()).format("%Y-%m-%d %H:%M KST"),
            now.with_timezone(&rules::kst()).format("%Y-%m-%d %H:%M KST"),
        )));
    }
    if now - at > max_age {
        return Err(Error::rejected(format!(
            "price: the stored price of {} is from {} ({} min old; the bound is {} min); run `ascend crawl-stocks`",
            stock.code,
            at.with_timezone(&rules::kst()).format("%Y-%m-%d %H:%M KST"),
            (now - at).num_minutes(),
            max_age.num_minutes()
        )));
    }
    Ok(Price::new(price)?)
}

fn closed_reason(state: SessionState) -> &'static str {
    match state {
        SessionState::PreOpen => "before the regular session (09:00 KST)",
        SessionState::AfterClose => "after the regular session closed (15:30 KST)",
        SessionState::ClosedDay => "on a day the market is closed (weekend or KRX holiday)",
        SessionState::Open => "during the session",
    }
}

/// What the rules decide for an order, before anything is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// IOC that cannot fill now: recorded as cancelled, nothing reserved.
    IocCancelled,
    /// Accepted: reserve this much, and fill at once at `fill_at` when marketable.
    Accepted {
        reserved_cash: Decimal,
        reserved_shares: i64,
        fill_at: Option<Price>,
    },
}

/// Applies the rulebook to an order: the stock must be listed; inside the session the price
/// must be fresh and the band is around the previous close; outside it only resting limit
/// orders are taken, with the band around the latest price (the next session's base); the
/// limit must be inside the band; cash (a market buy at the upper limit, plus commission) or
/// free shares must cover it.
pub fn decide(
    req: &OrderRequest,
    stock: &StockRow,
    state: SessionState,
    now: DateTime<Utc>,
    rules_: &crate::domain::Rulebook,
    available_cash: Decimal,
    shares: (i64, i64),
) -> Result<Decision> {
    if !stock.listed {
        return Err(Error::rejected(format!(
            "code: {} ({}) is no longer listed",
            stock.code, stock.name
        )));
    }
    if stock.halted {
        return Err(Error::rejected(format!(
            "code: {} ({}) is halted (거래정지): it takes no orders until trading resumes",
            stock.code, stock.name
        )));
    }
    let instrument = stock.instrument();
    if let Some(limit) = req.limit {
        rules::check_tick(instrument.kind, limit)?;
    }
    let (market_price, base) = if state == SessionState::Open {
        let p = fresh_price(stock, now, rules_.max_price_age)?;
        (Some(p), stock.prev_close.unwrap_or(p.get()))
    } else {
        if req.limit.is_none() {
            return Err(Error::rejected(format!(
                "kind: a market order cannot be placed {}; place a limit order to rest for the next session",
                closed_reason(state)
            )));
        }
        if req.tif == TimeInForce::Ioc {
            return Err(Error::rejected(format!(
                "tif: an IOC order cannot be placed {}: it could never fill",
                closed_reason(state)
            )));
        }
        let base = stock.price.ok_or_else(|| {
            Error::rejected(format!(
                "price: no price is stored for {}; run `ascend crawl-stocks`",
                stock.code
            ))
        })?;
        (None, base)
    };
    // Outside the session the band is the next session's, around the latest price; a new
    // listing's first-day band applies only to its first session: before the open of that day,
    // not after its close.
    let today = rules::trade_date(now);
    let session_day = match state {
        SessionState::Open | SessionState::PreOpen => today,
        SessionState::AfterClose | SessionState::ClosedDay => today.succ_opt().unwrap_or(today),
    };
    let band = rules::band_for(&instrument, base, session_day);
    if let Some(limit) = req.limit {
        band.check(limit)?;
    }
    let fill_at = market_price.and_then(|m| rules::fill_price(req.side, req.limit, m));
    if fill_at.is_none() && req.tif == TimeInForce::Ioc {
        return Ok(Decision::IocCancelled);
    }
    let (reserved_cash, reserved_shares) = match req.side {
        Side::Buy => {
            // A market buy reserves at the upper limit; the difference is released on fill.
            let at_price = req.limit.unwrap_or(Price::new(band.upper)?);
            let need = rules::buy_reservation(at_price, req.quantity, rules_.commission_rate).get();
            if need > available_cash {
                return Err(Error::rejected(format!(
                    "cash: insufficient cash: this order needs {} won ({} × {} + commission) but {} won is available",
                    crate::domain::group_thousands(need),
                    req.quantity,
                    at_price,
                    crate::domain::group_thousands(available_cash)
                )));
            }
            (need, 0)
        }
        Side::Sell => {
            let (free, held) = shares;
            if req.quantity.get() > free {
                return Err(Error::rejected(format!(
                    "quantity: insufficient shares of {}: selling {} but {} are available ({} reserved by open sell orders)",
                    req.code, req.quantity, free, held
                )));
            }
            (Decimal::ZERO, req.quantity.get())
        }
    };
    Ok(Decision::Accepted {
        reserved_cash,
        reserved_shares,
        fill_at,
    })
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
    }
}

fn unknown_stock(code: &StockCode) -> Error {
    Error::not_found(format!(
        "code: no stock with code {code} is known; search with `ascend stock search`"
    ))
}

/// What an idempotency key says about a request: a replay of `prev`, or a conflict.
fn check_replay(req: &OrderRequest, key: &str, prev: &OrderRow) -> Result<()> {
    if req.same_as(prev) {
        return Ok(());
    }
    Err(Error::rejected(format!(
        "key: idempotency key {key:?} was already used for order #{} with different parameters ({} {} {} {})",
        prev.id,
        prev.code,
        prev.side,
        prev.quantity,
        prev.limit_price.map_or("market".to_string(), crate::domain::group_thousands)
    )))
}

/// Places an order for a user: validates it against the rulebook and the stored price,
/// reserves cash or shares, fills it at once when it is marketable inside the session, and
/// records all of it in one transaction.
///
/// Most orders take a short path: the account, stock and holding are read without locks and
/// the order is decided on them. One that rests is then reserved and inserted by one
/// statement where the reservation still fits (`trading::insert_resting_order`); one that
/// fills at once is inserted filled by a statement that first locks the account (and holding)
/// where the reservation still fits (`trading::lock_and_insert_filled_order`), and its fill is
/// posted in the same transaction. Everything else — an IOC cancel, a replayed key, or an
/// order whose reservation no longer fits because something changed in between — takes the
/// locked path, which decides again under the account lock.
pub async fn place(app: &App, user_id: i64, req: &OrderRequest) -> Result<Placed> {
    let now = app.clock.now();
    let state = session_now(app, now).await?;
    if let Some(placed) = place_short(app, user_id, req, now, state).await? {
        return Ok(placed);
    }
    place_locked(app, user_id, req, now, state).await
}

/// The session at `now` by the calendar the crawled KOSPI bars and the closure table give;
/// an error (nothing placed) on a day the calendar cannot answer.
async fn session_now(app: &App, now: DateTime<Utc>) -> Result<SessionState> {
    let calendar = crate::store::market::calendar(&mut *app.pool.acquire().await?).await?;
    Ok(rules::session_state_in(now, &calendar)?)
}

/// The short path of [`place`]: Some when the order was placed (resting, or filled at once),
/// None when the locked path must decide. A rejection is final: it was decided on committed state, as the locked
/// path would have decided it a moment earlier.
async fn place_short(
    app: &App,
    user_id: i64,
    req: &OrderRequest,
    now: DateTime<Utc>,
    state: SessionState,
) -> Result<Option<Placed>> {
    let mut conn = app.pool.acquire().await?;
    let seen = trading::order_context(
        &mut conn,
        user_id,
        &req.code,
        req.idempotency_key.as_deref(),
    )
    .await?;
    if seen.key_used {
        return Ok(None);
    }
    let stock = seen.stock.ok_or_else(|| unknown_stock(&req.code))?;
    let decision = decide(
        req,
        &stock,
        state,
        now,
        &app.rules,
        seen.account.available,
        seen.shares,
    )?;
    let Decision::Accepted {
        reserved_cash,
        reserved_shares,
        fill_at,
    } = decision
    else {
        return Ok(None);
    };
    let insert = OrderInsert {
        row: new_row(user_id, req, app.rules.commission_rate, &stock),
        status: "open",
        reserved_cash,
        reserved_shares,
        reason: None,
    };
    let Some(price) = fill_at else {
        let order = trading::insert_resting_order(&mut conn, &insert, now).await?;
        return Ok(order.map(|order| Placed {
            order,
            fill: None,
            replayed: false,
        }));
    };
    // Filled at once: the order is stored filled (it never rests).
    let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
    let Some(filled) = trading::lock_and_insert_filled_order(&mut tx, &insert, now).await? else {
        return Ok(None);
    };
    let fill = post_immediate_fill(
        &mut tx,
        &filled.order,
        (reserved_cash, reserved_shares),
        price,
        filled.held,
        Some(filled.fill_id),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(Placed {
        order: filled.order,
        fill,
        replayed: false,
    }))
}

/// Posts the fill of an order inserted filled. The fill is computed from the order as placed
/// — open, holding its reservation (cash, shares) — and posted with that reservation: the
/// balances need hold only after both. `held` is a seller's locked holding (shares, cost);
/// `fill_id` an id already taken for the fill.
async fn post_immediate_fill(
    conn: &mut sqlx::PgConnection,
    order: &OrderRow,
    (reserved_cash, reserved_shares): (Decimal, i64),
    price: Price,
    held: Option<(i64, Decimal)>,
    fill_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<FillRow>> {
    let placed = OrderRow {
        status: "open".into(),
        filled_quantity: 0,
        reserved_cash,
        reserved_shares,
        closed_at: None,
        ..order.clone()
    };
    let mut reservation = Posting::default();
    let code = StockCode::parse(&order.code)?;
    reservation.reserve(order.user_id, placed.side(), &code, placed.held())?;
    let mut fills = trading::record_fills(
        conn,
        reservation,
        &[FillPlan {
            order: &placed,
            price,
        }],
        held.map(|h| HashMap::from([((order.user_id, order.code.clone()), h)])),
        fill_id.map(|id| vec![id]),
        now,
    )
    .await?;
    Ok(fills.pop())
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
        req,
        &stock,
        state,
        now,
        &app.rules,
        account.available,
        holding.map_or((0, 0), |h| (h.available, h.reserved)),
    )?;
    let row = new_row(user_id, req, app.rules.commission_rate, &stock);
    let (reserved_cash, reserved_shares, fill_at) = match decision {
        Decision::IocCancelled => {
            let order = trading::insert_order(
                &mut tx,
                &OrderInsert {
                    row,
                    status: "cancelled",
                    reserved_cash: Decimal::ZERO,
                    reserved_shares: 0,
                    reason: Some(IOC_REASON),
                },
                now,
            )
            .await?;
            tx.commit().await?;
            return Ok(Placed {
                order,
                fill: None,
                replayed: false,
            });
        }
        Decision::Accepted {
            reserved_cash,
            reserved_shares,
            fill_at,
        } => (reserved_cash, reserved_shares, fill_at),
    };
    let (order, fill) = match fill_at {
        Some(price) => {
            // Filled at once: the order is stored filled (it never rests).
            let order = trading::insert_order(
                &mut tx,
                &OrderInsert {
                    row,
                    status: "filled",
                    reserved_cash: Decimal::ZERO,
                    reserved_shares: 0,
                    reason: None,
                },
                now,
            )
            .await?;
            // A seller's holding is locked and read above.
            let held = holding.map(|h| (h.available + h.reserved, h.cost));
            let reserved = (reserved_cash, reserved_shares);
            let fill =
                post_immediate_fill(&mut tx, &order, reserved, price, held, None, now).await?;
            (order, fill)
        }
        None => {
            let order = trading::insert_order(
                &mut tx,
                &OrderInsert {
                    row,
                    status: "open",
                    reserved_cash,
                    reserved_shares,
                    reason: None,
                },
                now,
            )
            .await?;
            let mut reservation = Posting::default();
            reservation.reserve(user_id, req.side, &req.code, order.held())?;
            ledger::post(&mut tx, &reservation, now).await?;
            (order, None)
        }
    };
    tx.commit().await?;
    Ok(Placed {
        order,
        fill,
        replayed: false,
    })
}

const IOC_REASON: &str = "ioc: not marketable at the current price";

/// Cancels an open order of the user and releases its reservation.
pub async fn cancel(app: &App, user_id: i64, order_id: i64) -> Result<OrderRow> {
    let now = app.clock.now();
    let mut tx = app.pool.begin().await?;
    let not_found = || Error::not_found(format!("order: no order #{order_id} among your orders"));
    let owner: Option<i64> = sqlx::query_scalar("SELECT user_id FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_optional(&mut *tx)
        .await?;
    if owner != Some(user_id) {
        return Err(not_found());
    }
    trading::lock_account(&mut tx, user_id).await?;
    let order = trading::order(&mut tx, order_id, true)
        .await?
        .ok_or_else(not_found)?;
    if order.status != "open" {
        return Err(Error::rejected(format!(
            "order: order #{order_id} is already {} and cannot be cancelled",
            order.status
        )));
    }
    trading::close_orders(
        &mut tx,
        std::slice::from_ref(&order),
        "cancelled",
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
    let mut inserts = Vec::new();
    let mut insert_rows = Vec::new();
    let mut fill_at: Vec<Option<Price>> = Vec::new();
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
        match decide(req, stock, state, now, &app.rules, available, held) {
            Err(e) => {
                outcomes.push(BulkOutcome::err(r.row, e));
                continue;
            }
            Ok(Decision::IocCancelled) => {
                inserts.push(OrderInsert {
                    row,
                    status: "cancelled",
                    reserved_cash: Decimal::ZERO,
                    reserved_shares: 0,
                    reason: Some(IOC_REASON),
                });
                fill_at.push(None);
            }
            Ok(Decision::Accepted {
                reserved_cash,
                reserved_shares,
                fill_at: f,
            }) => {
                // What later rows of the batch see, as if this row were placed alone: an
                // immediate fill releases its reservation and moves cash and shares (holdings
                // were read for every (user, code) a row of the batch sells).
                match f {
                    None => {
                        cash.insert(r.user_id, available - reserved_cash);
                        if reserved_shares > 0 {
                            shares
                                .insert(key, (held.0 - reserved_shares, held.1 + reserved_shares));
                        }
                    }
                    Some(price) => {
                        let q = req.quantity.get();
                        let net = rules::fill_amounts(
                            req.side,
                            price,
                            req.quantity,
                            app.rules.commission_rate,
                            rules::trade_date(now),
                            row.sell_tax_exempt,
                        )
                        .net
                        .get();
                        match req.side {
                            Side::Buy => {
                                cash.insert(r.user_id, available - net);
                                shares.insert(key, (held.0 + q, held.1));
                            }
                            Side::Sell => {
                                cash.insert(r.user_id, available + net);
                                shares.insert(key, (held.0 - q, held.1));
                            }
                        }
                    }
                }
                inserts.push(OrderInsert {
                    row,
                    status: "open",
                    reserved_cash,
                    reserved_shares,
                    reason: None,
                });
                fill_at.push(f);
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

    let orders = trading::insert_orders(&mut tx, &inserts, now).await?;
    let mut reservations = Posting::default();
    for o in orders.iter().filter(|o| o.status == "open") {
        let code = StockCode::parse(&o.code)?;
        reservations.reserve(o.user_id, o.side(), &code, o.held())?;
    }
    let plans: Vec<FillPlan> = orders
        .iter()
        .zip(&fill_at)
        .filter_map(|(o, f)| f.map(|price| FillPlan { order: o, price }))
        .collect();
    // Reservations and fills are posted together: a row may reserve cash or shares that an
    // earlier row's fill provides, so only their sum must respect the balances.
    let filled: std::collections::HashSet<i64> =
        trading::apply_fills_after(&mut tx, reservations, &plans, now)
            .await?
            .into_iter()
            .map(|f| f.order_id)
            .collect();
    tx.commit().await?;
    for (i, o) in insert_rows.into_iter().zip(&orders) {
        outcomes[i].order_id = Some(o.id);
        outcomes[i].status = Some(if filled.contains(&o.id) {
            "filled".into()
        } else {
            o.status.clone()
        });
    }
    Ok(outcomes)
}
