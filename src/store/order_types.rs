//! The SQL of the KRX order types: conditional-limit orders (조건부지정가) still open when
//! their session closes, and the closing prices they fill at.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use crate::error::Result;

/// The users with an open conditional-limit order placed before `cutoff` (the close of the
/// latest session that has ended): the orders `OrderType::converts_at_close` says turn into
/// market orders at that close.
pub async fn users_with_conditional_before(
    conn: &mut PgConnection,
    cutoff: DateTime<Utc>,
) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT user_id FROM orders
         WHERE status = 'open' AND order_type = 'conditional_limit' AND created_at < $1
         ORDER BY 1",
    )
    .bind(cutoff)
    .fetch_all(&mut *conn)
    .await?)
}

/// The regular-session closes (a bar whose close is the 15:30 close) of (code, day) pairs,
/// for those that have one.
pub async fn regular_closes(
    conn: &mut PgConnection,
    codes: &[String],
    days: &[NaiveDate],
) -> Result<HashMap<(String, NaiveDate), Decimal>> {
    let rows: Vec<(String, NaiveDate, Decimal)> = sqlx::query_as(
        "SELECT b.symbol, b.date, b.close FROM daily_bars b
         JOIN UNNEST($1::text[], $2::date[]) AS k(symbol, date) ON b.symbol = k.symbol AND b.date = k.date
         WHERE b.regular",
    )
    .bind(codes)
    .bind(days)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|(c, d, p)| ((c, d), p)).collect())
}
