//! The settings table (its history is its rows) and what the connection itself is allowed.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgConnection};

use crate::error::Result;

/// One stored value of a setting.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq, Eq)]
pub struct SettingRow {
    pub name: String,
    pub value: String,
    pub set_at: DateTime<Utc>,
    pub set_by: String,
}

/// What a command learns about its connection before it does anything.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The Postgres role the program is connected as.
    pub role: String,
    /// The role owns the schema of the tables (or is a member of its owner), or is a member of
    /// `ascend_operator`.
    pub operator: bool,
    /// The database server's clock.
    pub server_now: DateTime<Utc>,
    /// The time of the newest ledger entry, if any.
    pub latest_entry: Option<DateTime<Utc>>,
    /// Whether the schema is migrated far enough to hold settings.
    pub migrated: bool,
    /// The newest migration applied, if any.
    pub schema_version: Option<i64>,
}

/// Asks the server who we are, what time it is, and how far the schema and the ledger have
/// gone (a second round trip, only in a migrated database). The operator test is
/// `pg_has_role`: membership in the schema owner's role (a superuser is a member of every
/// role) or in `ascend_operator` when that role exists.
pub async fn connection(conn: &mut PgConnection) -> Result<Connection> {
    let (role, operator, server_now, migrated): (String, bool, DateTime<Utc>, bool) =
        sqlx::query_as(
            "SELECT current_user::text,
                    (SELECT pg_has_role(current_user, n.nspowner, 'MEMBER')
                       FROM pg_namespace n WHERE n.nspname = current_schema())
                    OR CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ascend_operator')
                            THEN pg_has_role(current_user, 'ascend_operator', 'MEMBER')
                            ELSE false END,
                    now(),
                    to_regclass('settings') IS NOT NULL AND to_regclass('_sqlx_migrations') IS NOT NULL",
        )
        .fetch_one(&mut *conn)
        .await?;
    let (schema_version, latest_entry) = if migrated {
        sqlx::query_as(
            "SELECT (SELECT max(version) FROM _sqlx_migrations WHERE success),
                    (SELECT created_at FROM journal_entries ORDER BY id DESC LIMIT 1)",
        )
        .fetch_one(&mut *conn)
        .await?
    } else {
        (None, None)
    };
    Ok(Connection {
        role,
        operator,
        server_now,
        latest_entry,
        migrated,
        schema_version,
    })
}

/// The current value of every stored setting (the latest row of each name), by name.
pub async fn current(conn: &mut PgConnection) -> Result<Vec<SettingRow>> {
    Ok(sqlx::query_as(
        "SELECT DISTINCT ON (name) name, value, set_at, set_by FROM settings ORDER BY name, id DESC",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Every stored value, oldest first.
pub async fn history(conn: &mut PgConnection) -> Result<Vec<SettingRow>> {
    Ok(
        sqlx::query_as("SELECT name, value, set_at, set_by FROM settings ORDER BY id")
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// The database server's time (the transaction's start).
pub async fn server_now(conn: &mut PgConnection) -> Result<DateTime<Utc>> {
    Ok(sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *conn)
        .await?)
}

/// Serializes settings changes for the rest of the transaction, so two operators setting at
/// once leave a history in the order they committed.
pub async fn lock(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("LOCK TABLE settings IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The current value of one setting, if one is stored.
pub async fn value(conn: &mut PgConnection, name: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE name = $1 ORDER BY id DESC LIMIT 1")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Stores a new value (after [`lock`]).
pub async fn insert(
    conn: &mut PgConnection,
    name: &str,
    value: &str,
    at: DateTime<Utc>,
    by: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO settings (name, value, set_at, set_by) VALUES ($1, $2, $3, $4)")
        .bind(name)
        .bind(value)
        .bind(at)
        .bind(by)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
