//! The settle batch job: fills resting limit orders crossed by the latest fresh price during
//! the session (first triggering the stop orders that price touches, in the same transaction)
//! and, with `--close`, expires DAY orders after the close. After a session has closed, its
//! conditional-limit orders still open fill at its closing price first.
//!
//! Under the `full` fill model work is split by user: the users with work are found with one
//! query (with how many orders each), then packed into chunks of at most `settle_batch` orders
//! whose account rows are locked with `FOR UPDATE SKIP LOCKED` (the first lock of every
//! transaction), so two settle processes — or a settle and users placing and cancelling — never
//! touch the same user's orders at once. Each transaction takes at most `settle_batch` orders
//! (a chunk with more goes on in the next transaction, in (user, id) order), so memory holds
//! one batch however many orders wait. Users skipped because another transaction held them
//! get one blocking pass at the end.
//!
//! Under `volume:RATE` work is split by stock ([`fill_stock`]): the volume a stock traded is
//! shared among all users' orders on it in priority order, so one transaction per stock locks
//! the accounts of every user with an order to fill on it, waiting for them.

use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;

use super::App;
use crate::domain::calendar::{Calendar, CalendarError};
use crate::domain::order::{self, FillModel, OrderError, OrderStatus, Position, Side};
use crate::domain::rules::{self, SessionState};
use crate::domain::{Price, Quantity};
use crate::error::{Error, Result};
use crate::store::ledger::Posting;
use crate::store::settle::{self as sql, UserWork};
use crate::store::trading::{self, FillPlan, OrderRow};

pub use crate::store::settle::{crossed_orders, triggering_orders};

/// Users per transaction, at most.
pub const DEFAULT_CHUNK: usize = 1_000;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SettleSummary {
    pub session: String,
    /// The `fill_model` setting in force.
    pub fill_model: String,
    /// Fills written (under `volume:RATE`, one order may fill in part).
    pub filled: u64,
    /// Orders a fill left open with a remainder (`volume:RATE` only).
    pub partially_filled: u64,
    /// Conditional-limit orders filled at their session's closing price.
    pub converted: u64,
    /// Crossed orders cancelled instead of filled because the fill would cost more than the
    /// order reserved ([`UNFUNDED`]).
    pub cancelled_unfunded: u64,
    pub expired: u64,
    /// Open limit orders left alone because their stock has no fresh price.
    pub skipped_stale: u64,
    /// Users whose accounts were busy in another transaction on the first pass.
    pub retried_busy: u64,
    pub batches: u64,
    pub seconds: f64,
    /// What a `--close` run during a session did instead of refusing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Runs settle at the clock's time.
///
/// First, always, every DAY order placed before the close of the latest session that has
/// ended is expired (its reservation released): a missed `settle --close` (the machine was off
/// at 15:40) never lets yesterday's DAY order fill today. Then, inside the session, crossed
/// orders fill, in full or (`volume:RATE`) within the volume traded. `close` skips the fills:
/// after the close it expires the day's DAY orders, and run late during a later session (a
/// timer catching up) it expires those of the sessions before and says so in `summary.note`.
/// `chunk` bounds the users of one transaction; the `settle_batch` setting its orders.
pub async fn settle(app: &App, close: bool, chunk: usize) -> Result<SettleSummary> {
    app.caller.require_operator("settle")?;
    let started = Instant::now();
    let now = app.clock.now();
    let mut conn = app.pool.acquire().await?;
    let calendar = crate::store::market::calendar(&mut conn).await?;
    let state = rules::session_state_in(now, &calendar)?;
    let mut summary = SettleSummary {
        session: format!("{state:?}"),
        fill_model: app.rules.fill_model.to_string(),
        ..Default::default()
    };
    let fresh_since = now - app.rules.max_price_age;
    let chunks = Chunks {
        users: chunk.max(1),
        orders: app.tuning.settle_batch.max(1),
        workers: app.tuning.settle_workers.max(1),
    };

    let cutoff = last_close(now, &calendar)?;
    let users = sql::users_to_convert(&mut conn, cutoff).await?;
    let done = by_chunks(app, &users, chunks, |conn, users, limit| {
        Box::pin(convert_chunk(conn, users, cutoff, now, limit))
    })
    .await?;
    summary.converted = done.orders - done.cancelled;
    summary.add(&done);
    let users = sql::users_to_expire(&mut conn, cutoff).await?;
    let done = by_chunks(app, &users, chunks, |conn, users, limit| {
        Box::pin(expire_chunk(conn, users, cutoff, now, limit))
    })
    .await?;
    summary.expired = done.orders;
    summary.add(&done);
    if close && state == SessionState::Open {
        summary.note = Some(format!(
            "the session is still open: expired the DAY orders placed before the close of {} and filled nothing",
            rules::trade_date(cutoff)
        ));
    }

    if state == SessionState::Open && !close {
        summary.skipped_stale = sql::stale_orders(&mut conn, fresh_since, now).await?;
        match app.rules.fill_model {
            FillModel::Full => {
                let users = sql::users_to_fill(&mut conn, fresh_since, now).await?;
                drop(conn);
                let done = by_chunks(app, &users, chunks, |conn, users, limit| {
                    Box::pin(fill_chunk(conn, users, fresh_since, now, limit))
                })
                .await?;
                summary.filled = done.orders - done.cancelled;
                summary.add(&done);
            }
            FillModel::Volume(rate) => {
                let codes = sql::stocks_to_fill(&mut conn, fresh_since, now).await?;
                let (fills, partial, cancelled) =
                    fill_by_volume(app, &codes, rate, fresh_since, now, chunks).await?;
                sql::mark_volumes(&mut conn, &codes).await?;
                summary.filled = fills;
                summary.partially_filled = partial;
                summary.cancelled_unfunded += cancelled;
                summary.batches += codes.len() as u64;
            }
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

impl SettleSummary {
    fn add(&mut self, done: &Done) {
        self.cancelled_unfunded += done.cancelled;
        self.batches += done.transactions;
        self.retried_busy += done.busy;
    }
}

/// The close of the latest trading session that has ended by `now`; an error when the
/// calendar cannot answer for the days it has to look at.
pub fn last_close(now: DateTime<Utc>, calendar: &Calendar) -> Result<DateTime<Utc>, CalendarError> {
    let mut day = rules::trade_date(now);
    loop {
        if let Some(closes) = calendar.day(day)?.closes_at() {
            let close = rules::kst_instant(day, closes);
            if close <= now {
                return Ok(close);
            }
        }
        day = calendar.previous_trading_day(day)?;
    }
}

/// How work is cut: users and orders per transaction, transactions side by side.
#[derive(Debug, Clone, Copy)]
struct Chunks {
    users: usize,
    orders: usize,
    workers: usize,
}

/// What a pass over chunks did.
#[derive(Debug, Default)]
struct Done {
    /// Orders taken, those cancelled as unfunded included.
    orders: u64,
    /// Of those, cancelled because their fill would cost more than they reserved.
    cancelled: u64,
    transactions: u64,
    busy: u64,
}

/// What one transaction did: the orders it took (at most its `limit`), and how many of them
/// it cancelled as unfunded instead of filling ([`UNFUNDED`]).
#[derive(Debug, Default, Clone, Copy)]
struct Worked {
    taken: u64,
    cancelled: u64,
}

/// One transaction's work on the locked `users`: at most `limit` orders.
type ChunkFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Worked>> + Send + 'a>>;

/// Runs `work` over the users in chunks ([`pack`]): first with SKIP LOCKED, then one blocking
/// pass over the users that were busy.
async fn by_chunks<F>(app: &App, users: &[UserWork], chunks: Chunks, work: F) -> Result<Done>
where
    F: for<'c> Fn(&'c mut PgConnection, &'c [i64], usize) -> ChunkFuture<'c>,
{
    use futures::{StreamExt, TryStreamExt};
    let mut done = Done::default();
    // Chunks are disjoint sets of users, so they run side by side on separate connections
    // (the `settle_workers` setting).
    let parts = pack(users, chunks);
    let results: Vec<(Worked, u64, Vec<i64>)> = futures::stream::iter(parts.iter())
        .map(|part| run_chunk(app, part, false, chunks.orders, &work))
        .buffer_unordered(chunks.workers)
        .try_collect()
        .await?;
    let mut busy: Vec<i64> = Vec::new();
    for (w, txs, skipped) in results {
        done.add(w, txs);
        busy.extend(skipped);
    }
    busy.sort_unstable();
    busy.dedup();
    done.busy = busy.len() as u64;
    for part in busy.chunks(chunks.users) {
        let (w, txs, _) = run_chunk(app, part, true, chunks.orders, &work).await?;
        done.add(w, txs);
    }
    Ok(done)
}

impl Done {
    fn add(&mut self, w: Worked, transactions: u64) {
        self.orders += w.taken;
        self.cancelled += w.cancelled;
        self.transactions += transactions;
    }
}

/// Cuts the users (in user order, with their order counts) into chunks of at most
/// `chunks.users` users and, but for a user alone with more, `chunks.orders` orders. The
/// chunks aim at an even share of the orders over a number of chunks that is a multiple of
/// the workers, so that no worker is left with a long last one alone.
fn pack(users: &[UserWork], chunks: Chunks) -> Vec<Vec<i64>> {
    if users.is_empty() {
        return Vec::new();
    }
    let total: u64 = users.iter().map(|&(_, n)| n.max(0) as u64).sum();
    let needed = (total.div_ceil(chunks.orders as u64) as usize)
        .max(users.len().div_ceil(chunks.users))
        .next_multiple_of(chunks.workers)
        .max(1);
    let orders = total.div_ceil(needed as u64).max(1);
    let per_user = users.len().div_ceil(needed).max(1);
    let mut parts: Vec<Vec<i64>> = Vec::new();
    let mut current: Vec<i64> = Vec::new();
    let mut in_current = 0u64;
    for &(user, n) in users {
        let n = n.max(0) as u64;
        let full = in_current >= orders
            || in_current + n > chunks.orders as u64
            || current.len() >= per_user;
        if !current.is_empty() && full {
            parts.push(std::mem::take(&mut current));
            in_current = 0;
        }
        current.push(user);
        in_current += n;
    }
    parts.push(current);
    parts
}

/// Transactions over one chunk: each locks the chunk's accounts in user order, then does at
/// most `limit` orders' work for those locked; the next goes on while one did `limit`.
/// Returns what they did, the transactions and the users skipped as busy.
async fn run_chunk<F>(
    app: &App,
    part: &[i64],
    wait: bool,
    limit: usize,
    work: &F,
) -> Result<(Worked, u64, Vec<i64>)>
where
    F: for<'c> Fn(&'c mut PgConnection, &'c [i64], usize) -> ChunkFuture<'c>,
{
    let (mut done, mut transactions) = (Worked::default(), 0u64);
    let mut skipped: Vec<i64> = Vec::new();
    loop {
        let mut tx = app.pool.begin().await?;
        let locked = sql::lock_accounts(&mut tx, part, wait).await?;
        skipped.extend(
            part.iter()
                .copied()
                .filter(|u| locked.binary_search(u).is_err()),
        );
        let w = if locked.is_empty() {
            Worked::default()
        } else {
            work(&mut tx, &locked, limit).await?
        };
        tx.commit().await?;
        done.taken += w.taken;
        done.cancelled += w.cancelled;
        transactions += 1;
        if w.taken < limit as u64 {
            return Ok((done, transactions, skipped));
        }
    }
}

async fn fill_chunk(
    conn: &mut PgConnection,
    users: &[i64],
    fresh_since: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Worked> {
    sql::trigger_stops(conn, users, None, fresh_since, now).await?;
    let mut rows = sql::take_crossed(conn, users, fresh_since, now, limit).await?;
    // Fills apply in order: a sell's cost basis includes the shares bought by earlier fills.
    rows.sort_unstable_by_key(|r| (r.order.user_id, r.order.id));
    let mut plans = Vec::with_capacity(rows.len());
    for r in &rows {
        plans.push(FillPlan {
            order: &r.order,
            price: fill_price(&r.order, r.market_price)?,
            quantity: None,
            trade_date: None,
        });
    }
    let short = keep_funded(&mut plans, now)?;
    let ids = rows
        .iter()
        .filter(|r| short.iter().all(|s| s.id != r.order.id))
        .map(|r| r.fill_id)
        .collect();
    trading::record_fills(conn, Posting::default(), &plans, None, Some(ids), now).await?;
    // The statement that took them closed them as filled; they close as cancelled instead.
    trading::close_orders_stored_as(
        conn,
        &short,
        OrderStatus::Filled,
        OrderStatus::Cancelled,
        UNFUNDED,
        now,
    )
    .await?;
    Ok(Worked {
        taken: rows.len() as u64,
        cancelled: short.len() as u64,
    })
}

/// Why settle cancels a crossed order instead of filling it: see [`keep_funded`].
pub const UNFUNDED: &str = "cancelled at settle: its fill at the market price would cost more than the order reserved (the price left the band it was reserved for)";

/// Keeps the plans whose orders' reservations pay for their fills and returns the orders of
/// the others, in order. A buy reserves at its limit or, without one, at the upper limit of
/// the day's band as known when it was placed; a price beyond that (a base price that moved
/// after a conditional order was placed before the open, or a stored price past the upper
/// limit within the crawler's tolerance) makes `order::fill` refuse the fill. Such an order
/// is cancelled with [`UNFUNDED`] and its reservation released, rather than taking cash it
/// never reserved or stopping settle for every other order.
fn keep_funded(plans: &mut Vec<FillPlan>, now: DateTime<Utc>) -> Result<Vec<OrderRow>> {
    let mut short = Vec::new();
    let mut kept = Vec::with_capacity(plans.len());
    for plan in plans.drain(..) {
        if funded(&plan, now)? {
            kept.push(plan);
        } else {
            short.push(plan.order.clone());
        }
    }
    *plans = kept;
    Ok(short)
}

/// Whether the order's reservation pays for the planned fill ([`keep_funded`]).
fn funded(plan: &FillPlan, now: DateTime<Utc>) -> Result<bool> {
    let quantity = match plan.quantity {
        Some(q) => q,
        None => Quantity::new(plan.order.remaining())?,
    };
    let day: NaiveDate = plan.trade_date.unwrap_or_else(|| rules::trade_date(now));
    let o = plan.order.to_order()?;
    match order::fill(&o, plan.price, quantity, Position::default(), day) {
        Ok(_) => Ok(true),
        // A sell reserves exactly its shares: its reservation falling short is a fault.
        Err(OrderError::ReservationShort { .. }) if plan.order.side == Side::Buy => Ok(false),
        Err(e) => Err(Error::Unexpected(anyhow::anyhow!(
            "order #{}: {e}",
            plan.order.id
        ))),
    }
}

/// The price a crossed order fills at (`rules::fill_price`); an error when the query's choice
/// and the rulebook disagree.
fn fill_price(order: &OrderRow, market: Decimal) -> Result<Price> {
    let market = Price::new(market)?;
    let limit = order.limit_price.map(Price::new).transpose()?;
    rules::fill_price(order.side(), limit, market).ok_or_else(|| {
        Error::Unexpected(anyhow::anyhow!(
            "order #{} is crossed by the query but not by the rulebook",
            order.id
        ))
    })
}

async fn expire_chunk(
    conn: &mut PgConnection,
    users: &[i64],
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Worked> {
    let orders = sql::orders_to_expire(conn, users, cutoff, limit).await?;
    trading::close_orders(
        conn,
        &orders,
        OrderStatus::Expired,
        "day order expired at the close",
        now,
    )
    .await?;
    Ok(Worked {
        taken: orders.len() as u64,
        cancelled: 0,
    })
}

// ---------------------------------------------------------------------------------------------
// Conditional-limit orders at the close

/// Fills the chunk's conditional-limit orders placed before `cutoff` and still open — those
/// `OrderType::converts_at_close` names — as market orders at the regular close of the day
/// they were placed for (they are taken only before the open or in the session, so that is
/// the KST date they were placed on). One whose day has no stored regular close (crawl after
/// 15:30 writes it) is left to the expiry that follows, as a DAY order.
async fn convert_chunk(
    conn: &mut PgConnection,
    users: &[i64],
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Worked> {
    let orders = sql::orders_to_convert(conn, users, cutoff, limit).await?;
    let mut plans = Vec::with_capacity(orders.len());
    for (o, close) in &orders {
        plans.push(FillPlan {
            order: o,
            price: Price::new(*close)?,
            quantity: None,
            // The trade is the close of the day it was placed for, whenever settle records it.
            trade_date: Some(rules::trade_date(o.created_at)),
        });
    }
    let short = keep_funded(&mut plans, now)?;
    trading::apply_fills_after(conn, Posting::default(), &plans, now).await?;
    trading::close_orders(conn, &short, OrderStatus::Cancelled, UNFUNDED, now).await?;
    Ok(Worked {
        taken: orders.len() as u64,
        cancelled: short.len() as u64,
    })
}

// ---------------------------------------------------------------------------------------------
// The volume fill model

/// Fills the crossed orders of `codes` within the volume each traded, a stock per
/// transaction, `settle_workers` side by side. Returns the fills and the orders left with a
/// remainder.
async fn fill_by_volume(
    app: &App,
    codes: &[String],
    rate: Decimal,
    fresh_since: DateTime<Utc>,
    now: DateTime<Utc>,
    chunks: Chunks,
) -> Result<(u64, u64, u64)> {
    use futures::{StreamExt, TryStreamExt};
    let done: Vec<(u64, u64, u64)> = futures::stream::iter(codes)
        .map(|code| fill_stock(app, code, rate, fresh_since, now, chunks.orders))
        .buffer_unordered(chunks.workers)
        .try_collect()
        .await?;
    Ok(done.into_iter().fold((0, 0, 0), |(f, p, c), (df, dp, dc)| {
        (f + df, p + dp, c + dc)
    }))
}

/// One stock under `volume:RATE`, in one transaction: locks the accounts of the users with
/// orders to fill or trigger on it (in user order, waiting for them); triggers the stops the
/// price touches; locks its volume mark; then, for each side, shares RATE × the volume traded
/// since the mark out among the crossed orders in priority order (`order::allocate`, read
/// `limit` orders at a time), and moves the mark to the volume now. Returns the fills and the
/// orders left with a remainder.
async fn fill_stock(
    app: &App,
    code: &str,
    rate: Decimal,
    fresh_since: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<(u64, u64, u64)> {
    // The users are read before their accounts are locked; one who placed an order on the
    // stock in between would be left out of the queue, so they are read again under the
    // locks, and the transaction starts over with them until no one is missing.
    let mut wanted =
        sql::users_on_stock(&mut *app.pool.acquire().await?, code, fresh_since, now).await?;
    let (mut tx, users) = loop {
        let mut tx = app.pool.begin().await?;
        let locked = sql::lock_accounts(&mut tx, &wanted, true).await?;
        let again = sql::users_on_stock(&mut tx, code, fresh_since, now).await?;
        if again.iter().all(|u| wanted.binary_search(u).is_ok()) {
            break (tx, locked);
        }
        tx.rollback().await?;
        wanted.extend(again);
        wanted.sort_unstable();
        wanted.dedup();
    };
    sql::trigger_stops(&mut tx, &users, Some(code), fresh_since, now).await?;
    let mark = sql::lock_volume_mark(&mut tx, code).await?;
    // A stock without a crawled volume fills nothing under this model.
    let (Some(volume), Some(day)) = (mark.volume, mark.price_day) else {
        tx.commit().await?;
        return Ok((0, 0, 0));
    };
    let traded = match mark.mark {
        Some((marked_day, marked)) if marked_day == day => volume - marked,
        // The day's first look takes note of the volume and fills nothing: a stored volume
        // may still be the previous day's, or cover hours no order rested.
        _ => 0,
    };
    let allowance = order::volume_allowance(rate, traded);
    let (mut fills, mut partial, mut cancelled) = (0u64, 0u64, 0u64);
    for side in [Side::Buy, Side::Sell] {
        let mut left = allowance;
        while left > 0 {
            let page =
                sql::crossed_queue(&mut tx, code, &users, side, fresh_since, now, limit).await?;
            let mut plans = Vec::with_capacity(page.len());
            for (o, market) in &page {
                plans.push(FillPlan {
                    order: o,
                    price: fill_price(o, *market)?,
                    quantity: None,
                    trade_date: None,
                });
            }
            // An order whose remainder its reservation cannot pay for at this price takes no
            // share of the volume: it is cancelled, as under the full model.
            let short = keep_funded(&mut plans, now)?;
            trading::close_orders(&mut tx, &short, OrderStatus::Cancelled, UNFUNDED, now).await?;
            cancelled += short.len() as u64;
            let quantities = order::allocate(left, plans.iter().map(|p| p.order.remaining()));
            let queued = plans.len();
            plans.truncate(quantities.len());
            for (plan, q) in plans.iter_mut().zip(&quantities) {
                plan.quantity = Some(Quantity::new(*q)?);
            }
            let (written, orders) =
                trading::apply_fills_after(&mut tx, Posting::default(), &plans, now).await?;
            fills += written.len() as u64;
            partial += orders
                .iter()
                .filter(|o| o.status == OrderStatus::Open)
                .count() as u64;
            left -= quantities.iter().sum::<i64>();
            // The allowance is spent within this page, or no order is left after it.
            if quantities.len() < queued || page.len() < limit {
                break;
            }
        }
    }
    sql::set_volume_mark(&mut tx, code, day, volume).await?;
    tx.commit().await?;
    Ok((fills, partial, cancelled))
}

#[cfg(test)]
mod tests {
    use super::{pack, Chunks};

    fn chunks(users: usize, orders: usize, workers: usize) -> Chunks {
        Chunks {
            users,
            orders,
            workers,
        }
    }

    #[test]
    fn chunks_hold_at_most_a_batch_of_orders_shared_evenly_over_the_workers() {
        // 10 users of 300 orders, batches of 1,000, 2 workers: 3,000 orders need 3 chunks,
        // rounded up to 4 of about 750: 900, 900, 900 and 300.
        let users: Vec<(i64, i64)> = (1..=10).map(|u| (u, 300)).collect();
        let parts = pack(&users, chunks(1_000, 1_000, 2));
        assert_eq!(parts.len(), 4, "{parts:?}");
        for p in &parts {
            assert!(p.len() as i64 * 300 <= 1_000, "{parts:?}");
        }
        assert_eq!(parts.concat(), (1..=10).collect::<Vec<i64>>());
        // Even shares where the counts allow: 8 users of 100, 2 workers, batches of 1,000.
        let users: Vec<(i64, i64)> = (1..=8).map(|u| (u, 100)).collect();
        let parts = pack(&users, chunks(1_000, 1_000, 2));
        assert_eq!(parts, vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]]);
        // A user with more than a batch is a chunk alone (its transactions go on in turn).
        let parts = pack(&[(1, 5), (2, 50_000), (3, 5)], chunks(1_000, 2_000, 1));
        assert!(parts.contains(&vec![2]), "{parts:?}");
        // Users per transaction bound chunks too.
        let users: Vec<(i64, i64)> = (1..=9).map(|u| (u, 1)).collect();
        let parts = pack(&users, chunks(2, 1_000, 1));
        assert!(parts.iter().all(|p| p.len() <= 2), "{parts:?}");
        assert_eq!(parts.concat().len(), 9);
        assert!(pack(&[], chunks(1, 1, 1)).is_empty());
    }
}
