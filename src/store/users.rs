//! Users, their cash accounts and login sessions.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{FromRow, PgConnection};

use super::ledger::{self, Book, Entry, EntryKind, Posting, KRW};
use crate::domain::{DisplayName, Email};
use crate::error::{violated_constraint, Error, Result};

#[derive(Debug, Clone, FromRow, Serialize, PartialEq)]
pub struct UserRow {
    pub id: i64,
    pub email: Option<String>,
    pub display_name: Option<String>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub initial_cash: Decimal,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

macro_rules! user_columns {
    () => {
        "id, email, display_name, password_hash, initial_cash, created_at, deleted_at"
    };
}

fn email_taken(e: sqlx::Error, email: &Email) -> Error {
    match violated_constraint(&e) {
        Some("users_email_key") => Error::rejected(format!("email: {email} is already registered")),
        _ => e.into(),
    }
}

/// Creates a user with a cash account holding `initial_cash`, granted through the ledger.
pub async fn insert(
    conn: &mut PgConnection,
    email: &Email,
    name: &DisplayName,
    password_hash: &str,
    initial_cash: Decimal,
    at: DateTime<Utc>,
) -> Result<UserRow> {
    let user = sqlx::query_as::<_, UserRow>(concat!(
        "INSERT INTO users (email, display_name, password_hash, initial_cash, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING ",
        user_columns!()
    ))
    .bind(email.as_str())
    .bind(name.as_str())
    .bind(password_hash)
    .bind(initial_cash)
    .bind(at)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| email_taken(e, email))?;
    sqlx::query("INSERT INTO accounts (user_id, available, reserved) VALUES ($1, 0, 0)")
        .bind(user.id)
        .execute(&mut *conn)
        .await?;
    if !initial_cash.is_zero() {
        let grant = Entry::new(EntryKind::Grant, user.id)
            .leg(None, Book::Grants, KRW, -initial_cash)
            .leg(Some(user.id), Book::Cash, KRW, initial_cash);
        let mut posting = Posting::default();
        posting.entry(grant);
        posting.cash(
            user.id,
            ledger::CashDelta {
                available: initial_cash,
                reserved: Decimal::ZERO,
            },
        );
        ledger::post(conn, &posting, at).await?;
    }
    Ok(user)
}

/// An active (not deleted) user by email, compared case-insensitively.
pub async fn by_email(conn: &mut PgConnection, email: &str) -> Result<Option<UserRow>> {
    Ok(sqlx::query_as::<_, UserRow>(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE lower(email) = lower($1) AND deleted_at IS NULL"
    ))
    .bind(email.trim())
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn by_id(conn: &mut PgConnection, id: i64) -> Result<Option<UserRow>> {
    Ok(sqlx::query_as::<_, UserRow>(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn update(
    conn: &mut PgConnection,
    id: i64,
    email: Option<&Email>,
    name: Option<&DisplayName>,
    password_hash: Option<&str>,
) -> Result<UserRow> {
    sqlx::query_as::<_, UserRow>(concat!(
        "UPDATE users SET email = COALESCE($2, email), display_name = COALESCE($3, display_name),
                          password_hash = COALESCE($4, password_hash)
         WHERE id = $1 AND deleted_at IS NULL RETURNING ",
        user_columns!()
    ))
    .bind(id)
    .bind(email.map(Email::as_str))
    .bind(name.map(DisplayName::as_str))
    .bind(password_hash)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| match email {
        Some(em) => email_taken(e, em),
        None => e.into(),
    })?
    .ok_or_else(|| Error::not_found(format!("user #{id} is not active")))
}

/// Scrubs personal data, closes the cash account and ends every session; the ledger, orders
/// and fills stay. The audit log keeps its rows but not the email: wherever it appears (any
/// case) in an actor or a detail it becomes `user #ID (deleted)`, and the user's own rows
/// acted on by an operator name the user by id (older rows named the email then in use).
pub async fn scrub(conn: &mut PgConnection, id: i64, at: DateTime<Utc>) -> Result<()> {
    let label = format!("user #{id} (deleted)");
    // The email as a literal pattern: every character but letters and digits escaped.
    sqlx::query(
        "WITH u AS (
             SELECT regexp_replace(email, '([^[:alnum:]])', '\\\\\\1', 'g') AS pattern
             FROM users WHERE id = $1 AND email IS NOT NULL)
         UPDATE audit_log a
         SET actor = regexp_replace(a.actor, u.pattern, $2, 'gi'),
             detail = regexp_replace(a.detail::text, u.pattern, $2, 'gi')::jsonb
         FROM u
         WHERE a.actor ~* u.pattern OR a.detail::text ~* u.pattern",
    )
    .bind(id)
    .bind(&label)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE audit_log SET actor = $2
         WHERE user_id = $1 AND actor LIKE 'operator for %' AND actor <> $2",
    )
    .bind(id)
    .bind(format!("operator for {label}"))
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE users SET email = NULL, display_name = NULL, password_hash = NULL, deleted_at = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE accounts SET closed_at = $2 WHERE user_id = $1")
        .bind(id)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn insert_session(
    conn: &mut PgConnection,
    token_hash: &str,
    user_id: i64,
    at: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(user_id)
        .bind(at)
        .bind(expires)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The user of a session and when it expires.
pub async fn session_user(
    conn: &mut PgConnection,
    token_hash: &str,
) -> Result<Option<(UserRow, DateTime<Utc>)>> {
    let row: Option<(i64, DateTime<Utc>)> =
        sqlx::query_as("SELECT user_id, expires_at FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((uid, expires)) = row else {
        return Ok(None);
    };
    Ok(by_id(conn, uid).await?.map(|u| (u, expires)))
}

/// Ends every session of a user but the one with `keep` (a token hash), if given. Returns how
/// many ended.
pub async fn end_sessions(
    conn: &mut PgConnection,
    user_id: i64,
    keep: Option<&str>,
) -> Result<u64> {
    let r = sqlx::query(
        "DELETE FROM sessions WHERE user_id = $1 AND ($2::text IS NULL OR token_hash <> $2)",
    )
    .bind(user_id)
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Deletes the sessions that expired before `now`; returns how many.
pub async fn delete_expired_sessions(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<u64> {
    let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

pub async fn delete_session(conn: &mut PgConnection, token_hash: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Appends to the audit log of who did what.
pub async fn log_action(
    conn: &mut PgConnection,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    user_id: Option<i64>,
    detail: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, user_id, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(user_id)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Active users by email (case-insensitive): (lower(email), id).
pub async fn ids_by_email(
    conn: &mut PgConnection,
    emails: &[String],
) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT lower(email), id FROM users WHERE lower(email) = ANY(SELECT lower(e) FROM UNNEST($1::text[]) AS e) AND deleted_at IS NULL",
    )
    .bind(emails)
    .fetch_all(&mut *conn)
    .await?)
}

/// The active user registered for a Unix account (shared hosts).
pub async fn by_unix_user(conn: &mut PgConnection, name: &str) -> Result<Option<UserRow>> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE unix_user = $1 AND deleted_at IS NULL"
    ))
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Records which Unix account a user is (shared hosts); one active user per account.
pub async fn set_unix_user(conn: &mut PgConnection, id: i64, name: &str) -> Result<()> {
    sqlx::query("UPDATE users SET unix_user = $2 WHERE id = $1")
        .bind(id)
        .bind(name)
        .execute(&mut *conn)
        .await
        .map_err(|e| match violated_constraint(&e) {
            Some("users_unix_user_key") => Error::rejected(format!(
                "unix user: {name} already has an Ascend user on this host"
            )),
            _ => e.into(),
        })?;
    Ok(())
}
