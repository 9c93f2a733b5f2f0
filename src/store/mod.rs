//! PostgreSQL through sqlx: connecting, migrations, and the repositories the use cases call.
//! Every state change runs in one transaction opened by the use case (or is one statement, as
//! place-order's resting orders are); row locks are taken in one fixed order — account, then
//! holding, then order — so concurrent writers cannot deadlock. The account row lock guards
//! everything a user owns: every writer of a user's holdings, orders or ledger takes it first.

/// The crawled part of the trading calendar: the dates of the KOSPI daily bars, in order (a
/// query, also read as a subquery beside what placing an order reads).
macro_rules! kospi_bar_dates {
    () => {
        "SELECT date FROM daily_bars WHERE symbol = 'KOSPI' ORDER BY date"
    };
}

pub mod amendments;
pub mod audit;
pub mod ledger;
pub mod market;
pub mod portfolio;
pub mod settings;
pub mod settle;
pub mod snapshots;
pub mod stocks;
pub mod trading;
pub mod users;

use std::time::Duration;

use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use crate::error::{Error, Result};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Session settings every connection of the program uses. Our statements are set-based with
/// array parameters, so a generic plan serves every call and no execution is planned anew
/// (docs/PERFORMANCE.md has the measurement).
///
/// A statement slower than a second is logged at debug level (`ASCEND_LOG=sqlx=debug`), not as
/// sqlx's default warning: a bulk load or a busy server is not a fault to print among the
/// command's own messages.
pub fn tune(opts: PgConnectOptions) -> PgConnectOptions {
    opts.options([("plan_cache_mode", "force_generic_plan")])
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1))
}

/// Pool settings of the program and the benchmarks. sqlx pings a pooled connection before
/// every acquire by default, one more round trip per transaction; this pool does not. A
/// connection that has died fails its first statement instead, which reports an
/// infrastructure error (exit code 5) like any other lost connection.
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().test_before_acquire(false)
}

/// Connects with a short timeout so a database that does not answer gives a message, not a hang.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    let opts: PgConnectOptions = url.parse().map_err(|e: sqlx::Error| {
        Error::Unavailable(format!("DATABASE_URL does not parse: {e}"))
    })?;
    // Named, so an operator sees the program's connections in pg_stat_activity.
    let opts = tune(opts).application_name("ascend");
    let pool = pool_options()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(opts.clone());
    tokio::pin!(pool);
    // sqlx retries a refused connection until the timeout (a server starting up) and then
    // reports only that the pool timed out. A pool not connected after a moment is asked why
    // once, on a connection of its own, so a server that is not there is named at once; a
    // healthy start pays nothing for it.
    let pool = tokio::select! {
        pool = &mut pool => pool,
        () = tokio::time::sleep(Duration::from_millis(250)) => {
            match opts.connect().await {
                Err(sqlx::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err(Error::Unavailable(format!(
                        "connection refused at {}",
                        address(&opts)
                    )));
                }
                _ => pool.await,
            }
        }
    };
    pool.map_err(|e| match Error::from(e) {
        Error::Unexpected(e) => Error::Unavailable(e.to_string()),
        other => other,
    })
}

/// Where the options point: `host:port`, or the Unix socket.
fn address(opts: &PgConnectOptions) -> String {
    match opts.get_socket() {
        Some(dir) => dir
            .join(format!(".s.PGSQL.{}", opts.get_port()))
            .display()
            .to_string(),
        None if opts.get_host().contains(':') => {
            format!("[{}]:{}", opts.get_host(), opts.get_port())
        }
        None => format!("{}:{}", opts.get_host(), opts.get_port()),
    }
}

pub async fn migrate(pool: &PgPool) -> Result<Vec<MigrationStatus>> {
    MIGRATOR.run(pool).await?;
    migration_status(pool).await
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

pub async fn migration_status(pool: &PgPool) -> Result<Vec<MigrationStatus>> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    let applied: Vec<i64> = if exists {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?
    } else {
        Vec::new()
    };
    Ok(MIGRATOR
        .iter()
        .map(|m| MigrationStatus {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.contains(&m.version),
        })
        .collect())
}

/// Allocates `n` ids from a sequence in one round trip.
pub async fn next_ids(conn: &mut sqlx::PgConnection, sequence: &str, n: usize) -> Result<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT nextval($1::regclass) FROM generate_series(1, $2)")
            .bind(sequence)
            .bind(n as i64)
            .fetch_all(&mut *conn)
            .await?;
    Ok(ids)
}
