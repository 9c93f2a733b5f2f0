//! Daily asset snapshots, set-based: one statement values every active user for a date.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{FromRow, PgConnection};

use crate::error::Result;

/// Writes (or rewrites) the snapshot of every user active at `end` for `date`: cash and shares
/// as of `end` (the current balances less every ledger movement at or after `end`), shares
/// valued at the day's regular-session close (the day's regular bar, else a price stored that
/// day — stored prices are regular-session prices — else the day's bar whose close may include
/// the after-market, else the latest bar before it, else the latest price). `prev` is the previous trading day, for the daily return.
/// Returns the number of users written.
pub async fn take(
    conn: &mut PgConnection,
    date: NaiveDate,
    day_start: DateTime<Utc>,
    end: DateTime<Utc>,
    prev: NaiveDate,
    taken_at: DateTime<Utc>,
) -> Result<u64> {
    let r = sqlx::query(
        "WITH active AS (
             SELECT id, initial_cash FROM users
             WHERE created_at < $3 AND (deleted_at IS NULL OR deleted_at >= $3)),
         later AS (
             SELECT l.user_id, l.book, l.asset, sum(l.amount) AS amount
             FROM journal_entries e JOIN journal_legs l ON l.entry_id = e.id
             WHERE e.created_at >= $3 AND l.user_id IS NOT NULL
             GROUP BY 1, 2, 3),
         later_cash AS (
             SELECT user_id, sum(amount) AS amount FROM later
             WHERE book = 'cash' GROUP BY user_id),
         cash AS (
             SELECT a.user_id, a.available + a.reserved - coalesce(lc.amount, 0) AS cash
             FROM accounts a JOIN active ON active.id = a.user_id
             LEFT JOIN later_cash lc ON lc.user_id = a.user_id),
         later_shares AS (
             SELECT user_id, asset AS code, sum(amount) AS q FROM later
             WHERE book = 'shares' GROUP BY 1, 2),
         pos AS MATERIALIZED (
             SELECT coalesce(h.user_id, ls.user_id) AS user_id, coalesce(h.code, ls.code) AS code,
                    coalesce(h.available + h.reserved, 0) - coalesce(ls.q, 0) AS q
             FROM (SELECT * FROM holdings WHERE available + reserved <> 0) h
             FULL JOIN later_shares ls ON ls.user_id = h.user_id AND ls.code = h.code),
         px AS MATERIALIZED (
             SELECT s.code, coalesce(
                 (SELECT b.close FROM daily_bars b WHERE b.symbol = s.code AND b.date = $1 AND b.regular),
                 CASE WHEN s.price_at >= $2 AND s.price_at < $3 THEN s.price END,
                 (SELECT b.close FROM daily_bars b WHERE b.symbol = s.code AND b.date = $1),
                 (SELECT b.close FROM daily_bars b WHERE b.symbol = s.code AND b.date < $1 ORDER BY b.date DESC LIMIT 1),
                 s.price, 0) AS close
             FROM stocks s WHERE s.code IN (SELECT DISTINCT code FROM pos WHERE q <> 0)),
         val AS (
             SELECT pos.user_id, sum(pos.q * px.close) AS v FROM pos JOIN px ON px.code = pos.code
             WHERE pos.q <> 0 GROUP BY pos.user_id),
         prev AS (SELECT user_id, total FROM snapshots WHERE date = $4),
         rows AS (
             SELECT a.id AS user_id, c.cash, round(coalesce(v.v, 0)) AS stock_value,
                    c.cash + round(coalesce(v.v, 0)) AS total, a.initial_cash, p.total AS prev_total
             FROM active a JOIN cash c ON c.user_id = a.id
             LEFT JOIN val v ON v.user_id = a.id LEFT JOIN prev p ON p.user_id = a.id)
         INSERT INTO snapshots (user_id, date, cash, stock_value, total, daily_return, cumulative_return, taken_at)
         SELECT user_id, $1, cash, stock_value, total,
                CASE WHEN prev_total > 0 THEN round((total - prev_total) * 100 / prev_total, 4) END,
                CASE WHEN initial_cash > 0 THEN round((total - initial_cash) * 100 / initial_cash, 4) END,
                $5
         FROM rows
         ON CONFLICT (user_id, date) DO UPDATE SET cash = EXCLUDED.cash, stock_value = EXCLUDED.stock_value,
             total = EXCLUDED.total, daily_return = EXCLUDED.daily_return,
             cumulative_return = EXCLUDED.cumulative_return, taken_at = EXCLUDED.taken_at",
    )
    .bind(date)
    .bind(day_start)
    .bind(end)
    .bind(prev)
    .bind(taken_at)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

#[derive(Debug, Clone, FromRow, Serialize, PartialEq)]
pub struct SnapshotRow {
    pub date: NaiveDate,
    pub cash: Decimal,
    pub stock_value: Decimal,
    pub total: Decimal,
    pub daily_return: Option<Decimal>,
    pub cumulative_return: Option<Decimal>,
}

pub async fn for_user(
    conn: &mut PgConnection,
    user_id: i64,
    limit: i64,
) -> Result<Vec<SnapshotRow>> {
    let mut rows: Vec<SnapshotRow> = sqlx::query_as(
        "SELECT date, cash, stock_value, total, daily_return, cumulative_return FROM snapshots
         WHERE user_id = $1 ORDER BY date DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.reverse();
    Ok(rows)
}
