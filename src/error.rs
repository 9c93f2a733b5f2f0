//! The program's error type and its exit codes. Exit codes are interface: see README.md.

use crate::domain::calendar::CalendarError;
use crate::domain::Invalid;

/// Exit codes, documented in README.md and `ascend --help`.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The command ran and found problems: audit violations, or bulk rows that failed.
    pub const CHECK_FAILED: u8 = 1;
    /// Command-line usage error (unknown flag, missing argument): clap's code.
    pub const USAGE: u8 = 2;
    /// Rejected: bad input or a broken rule (invalid field, insufficient cash, unknown order…).
    pub const REJECTED: u8 = 3;
    /// Authentication: not logged in, wrong password, expired or forged session.
    pub const AUTH: u8 = 4;
    /// Infrastructure: the database or the network failed; nothing was decided.
    pub const INFRA: u8 = 5;
    /// Interrupted by Ctrl-C (SIGINT); the transaction in progress was rolled back.
    pub const INTERRUPTED: u8 = 130;
    /// Terminated (SIGTERM, as systemd stops a unit); the transaction in progress was rolled
    /// back.
    pub const TERMINATED: u8 = 143;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field failed its rule.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A well-formed request that the rules refuse (insufficient cash, market closed, …).
    #[error("{0}")]
    Rejected(String),
    /// The trading calendar cannot answer for a date (past its table, no crawled bars): a rule
    /// that cannot be applied, so nothing is done.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    /// The thing asked for does not exist (or is not the caller's).
    #[error("{0}")]
    NotFound(String),
    /// Authentication failed or is missing.
    #[error("{0}")]
    Auth(String),
    /// The database could not be reached or failed mid-way.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The market-data source failed or sent data that fails its checks.
    #[error("market data: {0}")]
    Market(String),
    /// An order priced from the order book (best or priority limit) found no book to price
    /// from: the source failed; nothing was placed.
    #[error("order book unavailable: {0}")]
    BookUnavailable(String),
    /// Stopped by a signal (SIGINT or SIGTERM); the transaction in progress was rolled back.
    #[error("interrupted by {signal}: {what}")]
    Interrupted {
        signal: &'static str,
        code: u8,
        what: String,
    },
    /// Anything else: a bug or an environment fault.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) | Error::Rejected(_) | Error::Calendar(_) | Error::NotFound(_) => {
                exit::REJECTED
            }
            Error::Auth(_) => exit::AUTH,
            Error::Unavailable(_)
            | Error::Market(_)
            | Error::BookUnavailable(_)
            | Error::Unexpected(_) => exit::INFRA,
            Error::Interrupted { code, .. } => *code,
        }
    }
    pub fn rejected(msg: impl Into<String>) -> Self {
        Error::Rejected(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Error::NotFound(msg.into())
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Error::Unavailable(e.to_string()),
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    c.starts_with("08")
                        || c == "57P01"
                        || c == "3D000"
                        || c == "28000"
                        || c == "28P01"
                }) =>
            {
                Error::Unavailable(db.message().to_string())
            }
            _ => Error::Unexpected(anyhow::Error::new(e)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(inner) => inner.into(),
            other => Error::Unexpected(anyhow::Error::new(other)),
        }
    }
}

/// The name of the constraint a database error violated, if any.
pub fn violated_constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_by_kind() {
        assert_eq!(
            Error::from(Invalid::new("price", "x")).exit_code(),
            exit::REJECTED
        );
        assert_eq!(Error::rejected("no").exit_code(), exit::REJECTED);
        assert_eq!(Error::not_found("no").exit_code(), exit::REJECTED);
        let beyond = chrono::NaiveDate::from_ymd_opt(2028, 3, 2).unwrap();
        let e = Error::from(crate::domain::calendar::CalendarError { date: beyond });
        assert_eq!(e.exit_code(), exit::REJECTED);
        assert!(e.to_string().starts_with("calendar: 2028 is past"), "{e}");
        assert_eq!(Error::Auth("no".into()).exit_code(), exit::AUTH);
        assert_eq!(
            Error::from(sqlx::Error::PoolTimedOut).exit_code(),
            exit::INFRA
        );
        assert_eq!(
            Error::from(sqlx::Error::RowNotFound).exit_code(),
            exit::INFRA
        );
        assert_eq!(
            Error::from(Invalid::new("price", "bad")).to_string(),
            "price: bad"
        );
    }
}
