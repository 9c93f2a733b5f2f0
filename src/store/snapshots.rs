//! Daily asset snapshots, set-based: one statement values every active user for a date.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{FromRow, PgConnection};

use crate::error::Result;

/// How [`take`] treats a user who already has a snapshot of the date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Rewrite it (a snapshot of a chosen date or range).
    Rewrite,
    /// Keep it; write only the users missing (a catch-up).
    Keep,
}

/// Writes the snapshot of every user active at `end` for `date`: cash and shares as of `end`
/// (the current balances less every ledger movement at or after `end`), shares valued at the
/// day's regular-session close (the day's regular bar, else a price stored that day — stored
/// prices are regular-session prices — else the day's bar whose close may include the
/// after-market, else the latest bar before it, else the latest price). A holding valued at a
/// price of another day is named in the row's note (`005930 carried from 2026-11-26`). `prev`
/// is the previous trading day, for the daily return. Returns the number of users written and
/// how many of them have a note. Run it in a transaction: it raises the transaction's
/// `work_mem`.
pub async fn take(
    conn: &mut PgConnection,
    date: NaiveDate,
    day_start: DateTime<Utc>,
    end: DateTime<Utc>,
    prev: NaiveDate,
    taken_at: DateTime<Utc>,
    existing: Existing,
) -> Result<(u64, u64)> {
    // One statement aggregates every holding: give it room to hash in memory.
    sqlx::query("SET LOCAL work_mem = '64MB'")
        .execute(&mut *conn)
        .await?;
    let (written, noted): (i64, i64) = sqlx::query_as(
        "WITH active AS (
             SELECT id, initial_cash FROM users
             WHERE created_at < $3 AND (deleted_at IS NULL OR deleted_at >= $3)
               AND ($6 OR NOT EXISTS (SELECT 1 FROM snapshots x WHERE x.user_id = users.id AND x.date = $1))),
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
         -- One price per held code, by rank; ranks 4 and 5 come from another day (carried),
         -- rank 6 is no price at all.
         px AS MATERIALIZED (
             SELECT s.code, p.k, p.close, p.from_date
             FROM stocks s CROSS JOIN LATERAL (
                 SELECT c.k, c.close, c.from_date FROM (
                     (SELECT 1 AS k, b.close, NULL::date AS from_date FROM daily_bars b
                      WHERE b.symbol = s.code AND b.date = $1 AND b.regular)
                     UNION ALL
                     (SELECT 2, s.price, NULL WHERE s.price IS NOT NULL AND s.price_at >= $2 AND s.price_at < $3)
                     UNION ALL
                     (SELECT 3, b.close, NULL FROM daily_bars b WHERE b.symbol = s.code AND b.date = $1)
                     UNION ALL
                     (SELECT 4, b.close, b.date FROM daily_bars b
                      WHERE b.symbol = s.code AND b.date < $1 ORDER BY b.date DESC LIMIT 1)
                     UNION ALL
                     (SELECT 5, s.price, (s.price_at AT TIME ZONE 'UTC' + interval '9 hours')::date
                      WHERE s.price IS NOT NULL)
                     UNION ALL
                     (SELECT 6, 0, NULL)) c
                 ORDER BY c.k LIMIT 1) p
             WHERE s.code IN (SELECT DISTINCT code FROM pos WHERE q <> 0)),
         val AS (
             SELECT pos.user_id, sum(pos.q * px.close) AS v,
                    string_agg(CASE
                        WHEN px.k = 6 THEN pos.code || ' no price'
                        WHEN px.from_date IS NULL THEN pos.code || ' at the latest stored price'
                        WHEN px.from_date < $1 THEN pos.code || ' carried from ' || px.from_date
                        ELSE pos.code || ' at the price of ' || px.from_date END,
                        ', ' ORDER BY pos.code) FILTER (WHERE px.k >= 4) AS note
             FROM pos JOIN px ON px.code = pos.code
             WHERE pos.q <> 0 GROUP BY pos.user_id),
         prev AS (SELECT user_id, total FROM snapshots WHERE date = $4),
         rows AS (
             SELECT a.id AS user_id, c.cash, round(coalesce(v.v, 0)) AS stock_value,
                    c.cash + round(coalesce(v.v, 0)) AS total, a.initial_cash, p.total AS prev_total,
                    v.note
             FROM active a JOIN cash c ON c.user_id = a.id
             LEFT JOIN val v ON v.user_id = a.id LEFT JOIN prev p ON p.user_id = a.id),
         written AS (
             INSERT INTO snapshots (user_id, date, cash, stock_value, total, daily_return, cumulative_return, taken_at, note)
             SELECT user_id, $1, cash, stock_value, total,
                    CASE WHEN prev_total > 0 THEN round((total - prev_total) * 100 / prev_total, 4) END,
                    CASE WHEN initial_cash > 0 THEN round((total - initial_cash) * 100 / initial_cash, 4) END,
                    $5, note
             FROM rows
             ON CONFLICT (user_id, date) DO UPDATE SET cash = EXCLUDED.cash, stock_value = EXCLUDED.stock_value,
                 total = EXCLUDED.total, daily_return = EXCLUDED.daily_return,
                 cumulative_return = EXCLUDED.cumulative_return, taken_at = EXCLUDED.taken_at,
                 note = EXCLUDED.note
             RETURNING note)
         SELECT count(*), count(note) FROM written",
    )
    .bind(date)
    .bind(day_start)
    .bind(end)
    .bind(prev)
    .bind(taken_at)
    .bind(existing == Existing::Rewrite)
    .fetch_one(&mut *conn)
    .await?;
    Ok((written as u64, noted as u64))
}

/// The first day with stored trading data: the earliest daily bar or ledger entry (KST), if
/// any. Nothing before it can be valued.
pub async fn first_day(conn: &mut PgConnection) -> Result<Option<NaiveDate>> {
    Ok(sqlx::query_scalar(
        "SELECT least((SELECT min(date) FROM daily_bars),
                      (SELECT (min(created_at) AT TIME ZONE 'UTC' + interval '9 hours')::date
                       FROM journal_entries))",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Where a catch-up starts: the earliest, over the active users registered by `now`, of the day
/// after their last snapshot, or of their registration day (KST) when they have none.
pub async fn catch_up_from(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> Result<Option<NaiveDate>> {
    Ok(sqlx::query_scalar(
        "SELECT min(coalesce(s.last + 1, (u.created_at AT TIME ZONE 'UTC' + interval '9 hours')::date))
         FROM users u
         LEFT JOIN (SELECT user_id, max(date) AS last FROM snapshots GROUP BY user_id) s
                ON s.user_id = u.id
         WHERE u.deleted_at IS NULL AND u.created_at <= $1",
    )
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[derive(Debug, Clone, FromRow, Serialize, PartialEq)]
pub struct SnapshotRow {
    pub date: NaiveDate,
    pub cash: Decimal,
    pub stock_value: Decimal,
    pub total: Decimal,
    pub daily_return: Option<Decimal>,
    pub cumulative_return: Option<Decimal>,
    /// The holdings valued at a price carried from another day, e.g.
    /// `005930 carried from 2026-11-26`.
    pub note: Option<String>,
}

pub async fn for_user(
    conn: &mut PgConnection,
    user_id: i64,
    limit: i64,
) -> Result<Vec<SnapshotRow>> {
    let mut rows: Vec<SnapshotRow> = sqlx::query_as(
        "SELECT date, cash, stock_value, total, daily_return, cumulative_return, note FROM snapshots
         WHERE user_id = $1 ORDER BY date DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.reverse();
    Ok(rows)
}
