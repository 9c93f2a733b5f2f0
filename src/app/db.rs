//! `ascend db`: connecting, and the schema's migrations.

use crate::error::Result;

pub use crate::store::MigrationStatus;
/// The connection pool every use case runs on.
pub use sqlx::PgPool;

/// Connections of the program's pool when `ASCEND_POOL_SIZE` is not given: the larger of 8
/// and twice the machine's cores, so that every settle worker has a connection and the
/// commands that run queries side by side do not wait for one.
pub fn default_pool_size() -> u32 {
    let cores = u32::try_from(super::cores()).unwrap_or(u32::MAX);
    cores.saturating_mul(2).max(8)
}

/// Connects to the database at `url` with a pool of at most `max_connections`; a database
/// that does not answer is reported at once (exit 5), not after a hang.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    crate::store::connect(url, max_connections).await
}

/// Applies every pending migration; returns the status of each afterwards.
pub async fn migrate(pool: &PgPool) -> Result<Vec<MigrationStatus>> {
    // Only an operator changes the schema; anyone else is told so before anything is tried.
    let who = crate::store::settings::connection(&mut *pool.acquire().await?).await?;
    if !who.operator {
        return Err(crate::error::Error::Auth(format!(
            "db migrate: only an operator may do this: the database role {} neither owns the schema nor is a member of ascend_operator",
            who.role
        )));
    }
    crate::store::migrate(pool).await
}

/// Every migration this program knows and whether it is applied.
pub async fn status(pool: &PgPool) -> Result<Vec<MigrationStatus>> {
    crate::store::migration_status(pool).await
}
