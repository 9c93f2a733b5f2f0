//! The SQL of settle: which orders it triggers, fills, converts at the close and expires, and
//! the volume each stock traded since settle last looked at it. Every selection of orders
//! says which domain function it mirrors. The caller opens the transaction and locks the
//! accounts first ([`lock_accounts`]); a selection that writes takes at most `limit` orders, so
//! a transaction holds a bounded number of rows however many orders are waiting.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::trading::OrderRow;
use crate::domain::order::Side;
use crate::error::Result;

/// The SQL of [`crate::domain::order::crosses`], for orders `o` joined with their stocks `s`:
/// an open order, not a dormant stop, of a listed, not halted stock whose price was printed in
/// [`fresh_since`, `now`] and is at or below a buy's limit, at or above a sell's, or a
/// triggered stop-market order (no limit: any price). Every query that selects orders for
/// settle to fill uses it; [`crossed_orders`] is checked against `crosses` on random books
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
/// and is at or above a buy stop's trigger, at or below a sell stop's. [`triggering_orders`]
/// is checked against `triggers` on random books (tests/crosses.rs).
macro_rules! triggers {
    ($fresh_since:literal, $now:literal) => {
        concat!("o.status = 'open' AND o.stop_price IS NOT NULL AND o.triggered_at IS NULL
     AND s.listed AND NOT s.halted AND s.price IS NOT NULL
     AND s.price_at >= ", $fresh_since, " AND s.price_at <= ", $now, "
     AND ((o.side = 'buy' AND s.price >= o.stop_price) OR (o.side = 'sell' AND s.price <= o.stop_price))")
    };
}

/// The orders settle has work on at `now` — those to fill ([`crossed!`]) and those to trigger
/// ([`triggers!`], which may then cross) — as two selections of `$column` from orders `o`
/// joined with their stocks `s`, each also filtered by `$and` (SQL ending in `AND`, or empty),
/// joined by `$union` (`UNION`, or `UNION ALL` to count orders). The oldest fresh price time
/// is $1 and `now` $2.
macro_rules! with_work {
    ($column:literal, $and:literal, $union:literal) => {
        concat!(
            "SELECT ",
            $column,
            " FROM orders o JOIN stocks s ON s.code = o.code WHERE ",
            $and,
            " ",
            crossed!("$1", "$2"),
            " ",
            $union,
            " SELECT ",
            $column,
            " FROM orders o JOIN stocks s ON s.code = o.code WHERE ",
            $and,
            " ",
            triggers!("$1", "$2")
        )
    };
}

/// The columns of an order `o` as [`OrderRow`] reads them.
macro_rules! o_columns {
    () => {
        "o.id, o.user_id, o.code, o.side, o.kind, o.tif, o.quantity, o.limit_price, o.fee_rate,
         o.status, o.filled_quantity, o.reserved_cash, o.reserved_shares, o.idempotency_key,
         o.reason, o.created_at, o.closed_at, o.sell_tax_exempt, o.stop_price, o.triggered_at,
         o.amendments, COALESCE(o.queued_at, o.created_at) AS queued_at, o.order_type"
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

/// A user with work for settle and how many of their orders it concerns, in user order.
pub type UserWork = (i64, i64);

/// The users with orders to fill at `now` ([`crossed!`]) or stop orders to trigger
/// ([`triggers!`], which may then cross), with how many.
pub async fn users_to_fill(
    conn: &mut PgConnection,
    fresh_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<UserWork>> {
    Ok(sqlx::query_as(concat!(
        "SELECT user_id, count(*) FROM (",
        with_work!("o.user_id", "", "UNION ALL"),
        ") w GROUP BY 1 ORDER BY 1"
    ))
    .bind(fresh_since)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?)
}

/// The users with orders `Order::expire` accepts (open, DAY) placed before `cutoff`, with how
/// many.
pub async fn users_to_expire(
    conn: &mut PgConnection,
    cutoff: DateTime<Utc>,
) -> Result<Vec<UserWork>> {
    Ok(sqlx::query_as(
        "SELECT user_id, count(*) FROM orders WHERE status = 'open' AND tif = 'day' AND created_at < $1
         GROUP BY 1 ORDER BY 1",
    )
    .bind(cutoff)
    .fetch_all(&mut *conn)
    .await?)
}

/// The users with an open conditional-limit order placed before `cutoff` (the close of the
/// latest session that has ended), with how many: the orders
/// `OrderType::converts_at_close` says turn into market orders at that close.
pub async fn users_to_convert(
    conn: &mut PgConnection,
    cutoff: DateTime<Utc>,
) -> Result<Vec<UserWork>> {
    Ok(sqlx::query_as(
        "SELECT user_id, count(*) FROM orders
         WHERE status = 'open' AND order_type = 'conditional_limit' AND created_at < $1
         GROUP BY 1 ORDER BY 1",
    )
    .bind(cutoff)
    .fetch_all(&mut *conn)
    .await?)
}

/// Open limit orders whose stock is unlisted or has no price `StockState::fresh_price`
/// accepts at `now`.
pub async fn stale_orders(
    conn: &mut PgConnection,
    fresh_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders o JOIN stocks s ON s.code = o.code
         WHERE o.status = 'open' AND o.kind = 'limit'
           AND (s.price IS NULL OR s.price_at IS NULL OR s.price_at < $1 OR s.price_at > $2 OR NOT s.listed)",
    )
    .bind(fresh_since)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n as u64)
}

/// Locks the accounts of `users` in user order (the first lock of every settle transaction)
/// and returns those locked: all of them when `wait`, else those no other transaction holds
/// (`SKIP LOCKED`).
pub async fn lock_accounts(conn: &mut PgConnection, users: &[i64], wait: bool) -> Result<Vec<i64>> {
    let sql = if wait {
        "SELECT user_id FROM accounts WHERE user_id = ANY($1) ORDER BY user_id FOR UPDATE"
    } else {
        "SELECT user_id FROM accounts WHERE user_id = ANY($1) ORDER BY user_id FOR UPDATE SKIP LOCKED"
    };
    Ok(sqlx::query_scalar(sql)
        .bind(users)
        .fetch_all(&mut *conn)
        .await?)
}

/// Triggers the dormant stop orders of `users` (of stock `code` only, when given) that the
/// price touches ([`triggers!`], the SQL of `Order::trigger` where `triggers` holds); the
/// caller holds those users' account locks. Nothing is reserved or released: a stop order
/// holds its reservation from placement.
pub async fn trigger_stops(
    conn: &mut PgConnection,
    users: &[i64],
    code: Option<&str>,
    fresh_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(sqlx::query(concat!(
        "UPDATE orders o SET triggered_at = $3 FROM stocks s
         WHERE s.code = o.code AND o.user_id = ANY($2) AND ($4::text IS NULL OR o.code = $4) AND ",
        triggers!("$1", "$3")
    ))
    .bind(fresh_since)
    .bind(users)
    .bind(now)
    .bind(code)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// A crossed order as it was before settle filled it, with the stock's price and the id of
/// its fill.
#[derive(sqlx::FromRow)]
pub struct Crossed {
    #[sqlx(flatten)]
    pub order: OrderRow,
    pub market_price: Decimal,
    pub fill_id: i64,
}

/// Closes as filled in full the first `limit` crossed orders of `users` ([`crossed!`]) in
/// (user, id) order, and returns each as it was (the join's copy `o` is read at the
/// statement's snapshot) with the stock's price and an id for its fill; the caller posts the
/// fills in the same transaction. The account locks keep every other writer away from these
/// users' orders; should one have changed an order all the same, a compare-and-set on the
/// status and filled quantity as read leaves it alone and it is not returned. (`t.user_id`
/// is bound too so that the rows to update are found through the users' index, not by a scan
/// of every order.)
pub async fn take_crossed(
    conn: &mut PgConnection,
    users: &[i64],
    fresh_since: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Crossed>> {
    Ok(sqlx::query_as(concat!(
        "UPDATE orders t SET status = 'filled', filled_quantity = c.quantity,
                             reserved_cash = 0, reserved_shares = 0, closed_at = $3
         FROM (SELECT ",
        o_columns!(),
        ", s.price AS market_price
               FROM orders o JOIN stocks s ON s.code = o.code
               WHERE o.user_id = ANY($2) AND ",
        crossed!("$1", "$3"),
        " ORDER BY o.user_id, o.id LIMIT $4) c
         WHERE t.id = c.id AND t.user_id = ANY($2)
           AND t.status = c.status AND t.filled_quantity = c.filled_quantity
         RETURNING c.*, nextval('fills_id_seq') AS fill_id"
    ))
    .bind(fresh_since)
    .bind(users)
    .bind(now)
    .bind(limit as i64)
    .fetch_all(&mut *conn)
    .await?)
}

/// Locks and returns the first `limit` open DAY orders of `users` placed before `cutoff`, in
/// id order: those `Order::expire` closes.
pub async fn orders_to_expire(
    conn: &mut PgConnection,
    users: &[i64],
    cutoff: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<OrderRow>> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        o_columns!(),
        " FROM orders o WHERE o.user_id = ANY($1) AND o.status = 'open' AND o.tif = 'day'
            AND o.created_at < $2
          ORDER BY o.id LIMIT $3 FOR UPDATE"
    ))
    .bind(users)
    .bind(cutoff)
    .bind(limit as i64)
    .fetch_all(&mut *conn)
    .await?)
}

/// Locks and returns the first `limit` open conditional-limit orders of `users` placed before
/// `cutoff` whose KST day of placement has a stored regular close (a bar whose close is the
/// 15:30 close; crawl-stocks writes it after 15:30), in id order, with that close: those
/// `OrderType::converts_at_close` names, at the price they fill at. One without a stored close
/// is left to the expiry that follows, as a DAY order.
pub async fn orders_to_convert(
    conn: &mut PgConnection,
    users: &[i64],
    cutoff: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<(OrderRow, Decimal)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        order: OrderRow,
        close: Decimal,
    }
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT ",
        o_columns!(),
        ", b.close FROM orders o
          JOIN daily_bars b ON b.symbol = o.code AND b.regular
                           AND b.date = (o.created_at AT TIME ZONE 'Asia/Seoul')::date
          WHERE o.user_id = ANY($1) AND o.status = 'open'
            AND o.order_type = 'conditional_limit' AND o.created_at < $2
          ORDER BY o.id LIMIT $3 FOR UPDATE OF o"
    ))
    .bind(users)
    .bind(cutoff)
    .bind(limit as i64)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.order, r.close)).collect())
}

// ---------------------------------------------------------------------------------------------
// The volume fill model

/// The stocks with orders to fill at `now` ([`crossed!`]) or to trigger ([`triggers!`]), in
/// code order.
pub async fn stocks_to_fill(
    conn: &mut PgConnection,
    fresh_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar(concat!(with_work!("o.code", "", "UNION"), " ORDER BY 1"))
            .bind(fresh_since)
            .bind(now)
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// The users with orders of stock `code` to fill or trigger at `now`, in user order.
pub async fn users_on_stock(
    conn: &mut PgConnection,
    code: &str,
    fresh_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(concat!(
        with_work!("o.user_id", "o.code = $3 AND", "UNION"),
        " ORDER BY 1"
    ))
    .bind(fresh_since)
    .bind(now)
    .bind(code)
    .fetch_all(&mut *conn)
    .await?)
}

/// Stock `code`'s volume mark, locked (the lock after the accounts'): the trade date and the
/// cumulative volume settle last looked at, with the stock's cumulative volume now and the
/// trade date of its price. A stock never looked at has no mark (None).
pub struct VolumeMark {
    pub mark: Option<(NaiveDate, i64)>,
    pub volume: Option<i64>,
    pub price_day: Option<NaiveDate>,
}

pub async fn lock_volume_mark(conn: &mut PgConnection, code: &str) -> Result<VolumeMark> {
    sqlx::query("INSERT INTO volume_marks (code, trade_date, volume) VALUES ($1, NULL, 0) ON CONFLICT (code) DO NOTHING")
        .bind(code)
        .execute(&mut *conn)
        .await?;
    let (day, marked, volume, price_day): (Option<NaiveDate>, i64, Option<i64>, Option<NaiveDate>) =
        sqlx::query_as(
            "SELECT m.trade_date, m.volume, s.volume, (s.price_at AT TIME ZONE 'Asia/Seoul')::date
             FROM volume_marks m JOIN stocks s ON s.code = m.code
             WHERE m.code = $1 FOR UPDATE OF m",
        )
        .bind(code)
        .fetch_one(&mut *conn)
        .await?;
    Ok(VolumeMark {
        mark: day.map(|d| (d, marked)),
        volume,
        price_day,
    })
}

/// Records that settle has looked at stock `code`'s volume up to `volume` on `day`.
pub async fn set_volume_mark(
    conn: &mut PgConnection,
    code: &str,
    day: NaiveDate,
    volume: i64,
) -> Result<()> {
    sqlx::query("UPDATE volume_marks SET trade_date = $2, volume = $3 WHERE code = $1")
        .bind(code)
        .bind(day)
        .bind(volume)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Locks and returns the first `limit` crossed orders ([`crossed!`]) of `users` on stock
/// `code` and `side`, in priority order — the order [`crate::domain::order::allocate`] shares the volume
/// out in: price (an order without a limit first, then the highest limit of a buy, the lowest
/// of a sell), then `queued_at`, then id — with the stock's price. The caller holds the
/// users' account locks.
pub async fn crossed_queue(
    conn: &mut PgConnection,
    code: &str,
    users: &[i64],
    side: Side,
    fresh_since: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<(OrderRow, Decimal)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        order: OrderRow,
        market_price: Decimal,
    }
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT ",
        o_columns!(),
        ", s.price AS market_price FROM orders o JOIN stocks s ON s.code = o.code
          WHERE o.code = $3 AND o.side = $4 AND o.user_id = ANY($6) AND ",
        crossed!("$1", "$2"),
        " ORDER BY o.limit_price IS NOT NULL,
                   CASE WHEN o.side = 'buy' THEN -o.limit_price ELSE o.limit_price END,
                   COALESCE(o.queued_at, o.created_at), o.id
          LIMIT $5 FOR UPDATE OF o"
    ))
    .bind(fresh_since)
    .bind(now)
    .bind(code)
    .bind(side.as_str())
    .bind(limit as i64)
    .bind(users)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.order, r.market_price))
        .collect())
}

/// Records, for every listed stock with a price that `except` does not name, that settle has
/// looked at its volume as it stands: the volume an order may fill on is what traded since
/// the previous settle of the day, whichever stocks crossed then. Rows are locked in code
/// order, so two settles marking at once cannot deadlock.
pub async fn mark_volumes(conn: &mut PgConnection, except: &[String]) -> Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO volume_marks AS m (code, trade_date, volume)
         SELECT s.code, (s.price_at AT TIME ZONE 'Asia/Seoul')::date, s.volume FROM stocks s
         WHERE s.listed AND s.volume IS NOT NULL AND s.price_at IS NOT NULL AND s.code <> ALL($1)
         ORDER BY s.code
         ON CONFLICT (code) DO UPDATE SET trade_date = EXCLUDED.trade_date, volume = EXCLUDED.volume
         WHERE (m.trade_date, m.volume) IS DISTINCT FROM (EXCLUDED.trade_date, EXCLUDED.volume)",
    )
    .bind(except)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}
