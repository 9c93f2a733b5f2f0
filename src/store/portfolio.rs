//! A user's cash and holdings as `portfolio` and `assets` value them.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection};

use crate::error::Result;

/// A user's cash account and the cash the user started with.
#[derive(Debug, Clone, Copy, FromRow, PartialEq)]
pub struct CashRow {
    pub available: Decimal,
    pub reserved: Decimal,
    pub initial_cash: Decimal,
}

/// The user's cash account, if the user has one.
pub async fn cash(conn: &mut PgConnection, user_id: i64) -> Result<Option<CashRow>> {
    Ok(sqlx::query_as(
        "SELECT a.available, a.reserved, u.initial_cash FROM accounts a JOIN users u ON u.id = a.user_id WHERE a.user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// One holding with the stock's name and its stored price.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct HoldingRow {
    pub code: String,
    pub name: String,
    pub available: i64,
    pub reserved: i64,
    pub cost: Decimal,
    pub price: Option<Decimal>,
    pub price_at: Option<DateTime<Utc>>,
}

/// The user's holdings of at least one share, by code.
pub async fn holdings(conn: &mut PgConnection, user_id: i64) -> Result<Vec<HoldingRow>> {
    Ok(sqlx::query_as(
        "SELECT h.code, s.name, h.available, h.reserved, h.cost, s.price, s.price_at
         FROM holdings h JOIN stocks s ON s.code = h.code
         WHERE h.user_id = $1 AND h.available + h.reserved > 0 ORDER BY h.code",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// A user's totals at stored prices.
#[derive(Debug, Clone, Copy, FromRow, PartialEq)]
pub struct TotalsRow {
    /// Available and reserved cash.
    pub cash: Decimal,
    /// Every share held at the stock's stored price (none: 0).
    pub stock_valuation: Decimal,
    pub initial_cash: Decimal,
}

/// The user's totals; a user without a cash account is `RowNotFound`.
pub async fn totals(conn: &mut PgConnection, user_id: i64) -> Result<TotalsRow> {
    Ok(sqlx::query_as(
        "SELECT a.available + a.reserved AS cash,
                coalesce((SELECT sum((h.available + h.reserved) * coalesce(s.price, 0)) FROM holdings h
                          JOIN stocks s ON s.code = h.code WHERE h.user_id = a.user_id), 0) AS stock_valuation,
                u.initial_cash
         FROM accounts a JOIN users u ON u.id = a.user_id WHERE a.user_id = $1",
    )
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await?)
}
