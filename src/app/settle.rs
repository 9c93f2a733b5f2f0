//! The settle batch job: fills resting limit orders crossed by the latest fresh price during
//! the session (first triggering the stop orders that price touches, in the same transaction)
//! and, with `--close`, expires DAY orders after the close. After a session has closed, its
//! conditional-limit orders still open fill at its closing price first.
//!
//! Work is split by user: candidate users are found with one query, then taken in chunks whose
//! account rows are locked with `FOR UPDATE SKIP LOCKED` (the first lock of every per-user
//! transaction), so two settle processes — or a settle and users placing and cancelling — never
//! touch the same user's orders at once. Orders are re-read after the lock, so an order filled,
//! cancelled or expired by someone else is never filled again. Users skipped because another
//! transaction held them get one blocking pass at the end.

use std::time::Instant;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;

use super::App;
use crate::domain::calendar::{Calendar, CalendarError};
use crate::domain::order::{OrderStatus, TimeInForce};
use crate::domain::rules::{self, SessionState};
use crate::domain::Price;
use crate::error::{Error, Result};
use crate::store::ledger::Posting;
use crate::store::trading::{self, FillPlan, OrderRow};

/// Users per transaction.
pub const DEFAULT_CHUNK: usize = 1_000;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SettleSummary {
    pub session: String,
    pub filled: u64,
    /// Conditional-limit orders filled at their session's closing price.
    pub converted: u64,
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

/// The SQL of [`crate::domain::order::crosses`], for orders `o` joined with their stocks `s`:
/// an open order, not a dormant stop, of a listed, not halted stock whose price was printed in
/// [`fresh_since`, `now`] and is at or below a buy's limit, at or above a sell's, or a
/// triggered stop-market order (no limit: any price). Every query that selects orders for
/// settle to fill uses it; `crossed_orders` is checked against `crosses` on random books
/// (tests/crosses.rs).
macro_rules! crossed {
    ($fresh_since:literal, $now:literal) => {
        concat!("o.status = 'open' AND (o.stop_price IS NULL OR o.triggered_at IS NOT NULL)
     AND s.listed AND NOT s.halted AND s.price IS NOT NULL
     AND s.price_at >= ", $fresh_since, " AND s.price_at <= ", $now, "
     AND ((o.side = 'buy' AND s.price <= o.limit_price) OR (o.side = 'sell' AND s.price >= o.limit_price)
          OR (o.kind = 'market' AND o.triggered_at IS NOT NULL))")
    };
}

/// The SQL of [`crate::domain::order::triggers`] on the price [`crossed!`] fills on, for
/// orders `o` joined with their stocks `s`: a dormant stop order (open, with a trigger, not
/// triggered) of a listed, not halted stock whose price was printed in [`fresh_since`, `now`]
/// and is at or above a buy stop's trigger, at or below a sell stop's. `triggering_orders` is
/// checked against `triggers` on random books (tests/crosses.rs).
macro_rules! triggers {
    ($fresh_since:literal, $now:literal) => {
        concat!("o.status = 'open' AND o.stop_price IS NOT NULL AND o.triggered_at IS NULL
     AND s.listed AND NOT s.halted AND s.price IS NOT NULL
     AND s.price_at >= ", $fresh_since, " AND s.price_at <= ", $now, "
     AND ((o.side = 'buy' AND s.price >= o.stop_price) OR (o.side = 'sell' AND s.price <= o.stop_price))")
    };
}

/// The ids of the dormant stop orders settle would trigger at `now`, in id order: those
/// [`triggers!`] selects.
pub async fn triggering_orders(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    max_price_age: chrono::Duration,
) -> Result<Vec<i64>> {
    let sql = concat!(
        "SELECT o.id FROM orders o JOIN stocks s ON s.code = o.code WHERE ",
        triggers!("$1", "$2"),
        " ORDER BY 1"
    );
    order_ids(conn, sql, now, max_price_age).await
}

/// The ids of the orders settle would fill at `now`, in id order: those [`crossed!`] selects,
/// which are those [`crate::domain::order::crosses`] says cross.
pub async fn crossed_orders(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    max_price_age: chrono::Duration,
) -> Result<Vec<i64>> {
    let sql = concat!(
        "SELECT o.id FROM orders o JOIN stocks s ON s.code = o.code WHERE ",
        crossed!("$1", "$2"),
        " ORDER BY 1"
    );
    order_ids(conn, sql, now, max_price_age).await
}

/// The order ids a selection of settle's gives at `now`: `sql` takes the oldest fresh price
/// time as $1 and `now` as $2.
async fn order_ids(
    conn: &mut PgConnection,
    sql: &'static str,
    now: DateTime<Utc>,
    max_price_age: chrono::Duration,
) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(sql)
        .bind(now - max_price_age)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?)
}

/// Runs settle at the clock's time.
///
/// First, always, every DAY order placed before the close of the latest session that has
/// ended is expired (its reservation released): a missed `settle --close` (the machine was off
/// at 15:40) never lets yesterday's DAY order fill today. Then, inside the session, crossed
/// orders fill. `close` skips the fills: after the close it expires the day's DAY orders, and
/// run late during a later session (a timer catching up) it expires those of the sessions
/// before and says so in `summary.note`.
pub async fn settle(app: &App, close: bool, chunk: usize) -> Result<SettleSummary> {
    app.caller.require_operator("settle")?;
    let started = Instant::now();
    let now = app.clock.now();
    let calendar = crate::store::market::calendar(&mut *app.pool.acquire().await?).await?;
    let state = rules::session_state_in(now, &calendar)?;
    let chunk = chunk.max(1);
    let mut summary = SettleSummary {
        session: format!("{state:?}"),
        ..Default::default()
    };
    let fresh_since = now - app.rules.max_price_age;

    let cutoff = last_close(now, &calendar)?;
    let users = crate::store::order_types::users_with_conditional_before(
        &mut *app.pool.acquire().await?,
        cutoff,
    )
    .await?;
    let (converted, batches, busy) = by_chunks(app, &users, chunk, |conn, users| {
        Box::pin(convert_chunk(conn, users, cutoff, now))
    })
    .await?;
    summary.converted = converted;
    summary.batches += batches;
    summary.retried_busy += busy;
    // The users with orders `Order::expire` accepts (open, DAY) placed before the cutoff.
    let users: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT user_id FROM orders WHERE status = 'open' AND tif = 'day' AND created_at < $1 ORDER BY 1",
    )
    .bind(cutoff)
    .fetch_all(&app.pool)
    .await?;
    let (expired, batches, busy) = by_chunks(app, &users, chunk, |conn, users| {
        Box::pin(expire_chunk(conn, users, cutoff, now))
    })
    .await?;
    summary.expired = expired;
    summary.batches += batches;
    summary.retried_busy += busy;
    if close && state == SessionState::Open {
        summary.note = Some(format!(
            "the session is still open: expired the DAY orders placed before the close of {} and filled nothing",
            rules::trade_date(cutoff)
        ));
    }

    if state == SessionState::Open && !close {
        let mut conn = app.pool.acquire().await?;
        // Users with crossed orders, and with stop orders the price triggers (which may then
        // cross).
        let users: Vec<i64> = sqlx::query_scalar(concat!(
            "SELECT o.user_id FROM orders o JOIN stocks s ON s.code = o.code WHERE ",
            crossed!("$1", "$2"),
            " UNION SELECT o.user_id FROM orders o JOIN stocks s ON s.code = o.code WHERE ",
            triggers!("$1", "$2"),
            " ORDER BY 1"
        ))
        .bind(fresh_since)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        // Open limit orders whose stock is unlisted or has no price `StockState::fresh_price`
        // accepts.
        summary.skipped_stale = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM orders o JOIN stocks s ON s.code = o.code
             WHERE o.status = 'open' AND o.kind = 'limit' AND (s.price IS NULL OR s.price_at IS NULL OR s.price_at < $1 OR s.price_at > $2 OR NOT s.listed)",
        )
        .bind(fresh_since)
        .bind(now)
        .fetch_one(&mut *conn)
        .await? as u64;
        drop(conn);
        let (filled, batches, busy) = by_chunks(app, &users, chunk, |conn, users| {
            Box::pin(fill_chunk(conn, users, fresh_since, now))
        })
        .await?;
        summary.filled = filled;
        summary.batches += batches;
        summary.retried_busy += busy;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
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

type ChunkFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64>> + Send + 'a>>;

/// Runs `work` over the users in chunks, one transaction each: first with SKIP LOCKED, then
/// one blocking pass over the users that were busy. Returns (done, transactions, busy users).
async fn by_chunks<F>(app: &App, users: &[i64], chunk: usize, work: F) -> Result<(u64, u64, u64)>
where
    F: for<'c> Fn(&'c mut PgConnection, &'c [i64]) -> ChunkFuture<'c>,
{
    use futures::{StreamExt, TryStreamExt};
    let (mut done, mut batches) = (0u64, 0u64);
    let mut busy: Vec<i64> = Vec::new();
    // Chunks are disjoint sets of users, so they run side by side on separate connections.
    // Their number is a multiple of the workers, so no worker is left with a last one alone.
    // Transactions side by side: the `settle_workers` setting (docs/PERFORMANCE.md).
    let workers = app.tuning.settle_workers;
    let size = balanced_chunk(users.len(), chunk, workers);
    let results: Vec<(u64, Vec<i64>)> = futures::stream::iter(users.chunks(size))
        .map(|part| run_chunk(app, part, false, &work))
        .buffer_unordered(workers)
        .try_collect()
        .await?;
    for (n, skipped) in results {
        done += n;
        batches += 1;
        busy.extend(skipped);
    }
    busy.sort_unstable();
    let busy_count = busy.len() as u64;
    for part in busy.chunks(chunk) {
        done += run_chunk(app, part, true, &work).await?.0;
        batches += 1;
    }
    Ok((done, batches, busy_count))
}

/// The chunk size for `n` users: at most `max`, with a number of chunks that is a multiple of
/// `workers`.
fn balanced_chunk(n: usize, max: usize, workers: usize) -> usize {
    let max = max.max(1);
    let chunks = n.div_ceil(max).next_multiple_of(workers.max(1)).max(1);
    n.div_ceil(chunks).max(1)
}

/// One transaction: lock the chunk's accounts in user order, then do the work for those
/// locked. Returns what was done and the users skipped as busy.
async fn run_chunk<F>(app: &App, part: &[i64], blocking: bool, work: &F) -> Result<(u64, Vec<i64>)>
where
    F: for<'c> Fn(&'c mut PgConnection, &'c [i64]) -> ChunkFuture<'c>,
{
    let mut tx = app.pool.begin().await?;
    let sql = if blocking {
        "SELECT user_id FROM accounts WHERE user_id = ANY($1) ORDER BY user_id FOR UPDATE"
    } else {
        "SELECT user_id FROM accounts WHERE user_id = ANY($1) ORDER BY user_id FOR UPDATE SKIP LOCKED"
    };
    let locked: Vec<i64> = sqlx::query_scalar(sql)
        .bind(part)
        .fetch_all(&mut *tx)
        .await?;
    let skipped: Vec<i64> = part
        .iter()
        .copied()
        .filter(|u| locked.binary_search(u).is_err())
        .collect();
    let done = work(&mut tx, &locked).await?;
    tx.commit().await?;
    Ok((done, skipped))
}

async fn fill_chunk(
    conn: &mut PgConnection,
    users: &[i64],
    fresh_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64> {
    if users.is_empty() {
        return Ok(0);
    }
    trigger_stops(conn, users, fresh_since, now).await?;
    // One statement closes the crossed orders and returns each as it was (the join's copy `o`
    // is read at the statement's snapshot) with the market price and an id for its fill. The
    // chunk's account locks keep every other writer away from these users' orders; should one
    // have changed an order all the same, `t.status = o.status` (a compare-and-set on the
    // status as read, see `trading`) leaves it alone and it is neither returned nor filled.
    let mut rows: Vec<OrderRowWithPrice> = sqlx::query_as(concat!(
        "UPDATE orders t SET status = 'filled',
                             filled_quantity = o.quantity,
                             reserved_cash = 0, reserved_shares = 0, closed_at = $3
         FROM orders o JOIN stocks s ON s.code = o.code
         WHERE t.id = o.id AND t.status = o.status AND o.user_id = ANY($2) AND ",
        crossed!("$1", "$3"),
        "
         RETURNING o.id, o.user_id, o.code, o.side, o.kind, o.tif, o.quantity, o.limit_price, o.fee_rate,
                   o.status, o.filled_quantity, o.reserved_cash, o.reserved_shares, o.idempotency_key,
                   o.reason, o.created_at, o.closed_at, o.sell_tax_exempt, o.stop_price, o.triggered_at,
                   o.amendments, COALESCE(o.queued_at, o.created_at) AS queued_at, o.order_type,
                   s.price AS market_price,
                   nextval('fills_id_seq') AS fill_id"
    ))
    .bind(fresh_since)
    .bind(users)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    // Fills apply in order: a sell's cost basis includes the shares bought by earlier fills.
    rows.sort_unstable_by_key(|r| r.order.id);
    let mut plans = Vec::with_capacity(rows.len());
    for r in &rows {
        let market = Price::new(r.market_price)?;
        let limit = r.order.limit_price.map(Price::new).transpose()?;
        let price = rules::fill_price(r.order.side(), limit, market).ok_or_else(|| {
            Error::Unexpected(anyhow::anyhow!(
                "order #{} is crossed by the query but not by the rulebook",
                r.order.id
            ))
        })?;
        plans.push(FillPlan {
            order: &r.order,
            price,
        });
    }
    let ids = rows.iter().map(|r| r.fill_id).collect();
    let fills =
        trading::record_fills(conn, Posting::default(), &plans, None, Some(ids), now).await?;
    Ok(fills.len() as u64)
}

/// Triggers the chunk's dormant stop orders that the price touches ([`triggers!`], the SQL of
/// `Order::trigger` where `triggers` holds): one statement, before the fill statement of the
/// same transaction, which then fills the triggered ones that cross (a stop-market order at
/// the same price; a stop-limit order when the price reaches its limit, else it rests as a
/// limit order). Nothing is reserved or released: a stop order holds its reservation from
/// placement.
async fn trigger_stops(
    conn: &mut PgConnection,
    users: &[i64],
    fresh_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(concat!(
        "UPDATE orders o SET triggered_at = $3 FROM stocks s
         WHERE s.code = o.code AND o.user_id = ANY($2) AND ",
        triggers!("$1", "$3")
    ))
    .bind(fresh_since)
    .bind(users)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct OrderRowWithPrice {
    #[sqlx(flatten)]
    order: OrderRow,
    market_price: Decimal,
    fill_id: i64,
}

async fn expire_chunk(
    conn: &mut PgConnection,
    users: &[i64],
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64> {
    if users.is_empty() {
        return Ok(0);
    }
    let orders: Vec<OrderRow> = trading::lock_open_orders(conn, users)
        .await?
        .into_iter()
        .filter(|o| o.tif == TimeInForce::Day && o.created_at < cutoff)
        .collect();
    trading::close_orders(
        conn,
        &orders,
        OrderStatus::Expired,
        "day order expired at the close",
        now,
    )
    .await?;
    Ok(orders.len() as u64)
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
) -> Result<u64> {
    if users.is_empty() {
        return Ok(0);
    }
    let orders: Vec<OrderRow> = trading::lock_open_orders(conn, users)
        .await?
        .into_iter()
        .filter(|o| o.order_type.converts_at_close() && o.created_at < cutoff)
        .collect();
    if orders.is_empty() {
        return Ok(0);
    }
    let (codes, days): (Vec<String>, Vec<chrono::NaiveDate>) = orders
        .iter()
        .map(|o| (o.code.clone(), rules::trade_date(o.created_at)))
        .unzip();
    let closes = crate::store::order_types::regular_closes(conn, &codes, &days).await?;
    let mut plans = Vec::with_capacity(orders.len());
    for (o, key) in orders.iter().zip(codes.into_iter().zip(days)) {
        if let Some(close) = closes.get(&key) {
            plans.push(FillPlan {
                order: o,
                price: Price::new(*close)?,
            });
        }
    }
    let (fills, _) = trading::apply_fills_after(conn, Posting::default(), &plans, now).await?;
    Ok(fills.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::balanced_chunk;

    #[test]
    fn chunks_come_in_multiples_of_the_workers_and_never_exceed_the_maximum() {
        // 9,988 users, at most 1,000 each, 3 workers: 12 chunks of 833 (the last 825).
        assert_eq!(balanced_chunk(9_988, 1_000, 3), 833);
        assert_eq!(9_988usize.div_ceil(833), 12);
        assert_eq!(balanced_chunk(9_988, 1_000, 2), 999);
        assert_eq!(balanced_chunk(10, 1_000, 3), 4);
        assert_eq!(balanced_chunk(1, 1_000, 3), 1);
        assert_eq!(balanced_chunk(0, 1_000, 3), 1);
        assert_eq!(balanced_chunk(5, 0, 2), 1);
    }
}
