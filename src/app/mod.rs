//! Use cases, one per subcommand. They combine the domain rules with the store and know
//! nothing of clap or of rendering.

pub mod admin;
pub mod assets;
pub mod audit;
pub mod crawl;
pub mod db;
pub mod market;
pub mod modify;
pub mod orders;
pub mod portfolio;
pub mod settle;
pub mod snapshot;
pub mod stocks;
pub mod users;

use sqlx::PgPool;

/// Order and fill rows as the order commands return them.
pub use crate::store::trading::{FillRow, OrderRow};

use crate::clock::Clock;
use crate::domain::rules::kst;
use crate::domain::settings::{ClockMode, Settings, StoredTuning};
use crate::domain::{Invalid, Rulebook};
use crate::error::{Error, Result};
use crate::store::users::UserRow;

/// What every use case runs with.
#[derive(Debug, Clone)]
pub struct App {
    pub pool: PgPool,
    pub clock: Clock,
    pub rules: Rulebook,
    pub caller: Caller,
    /// Worker counts and rows per transaction of the batch jobs.
    pub tuning: Tuning,
}

/// The tuning of the batch jobs in force: each the operator's setting (`ascend admin settings
/// set settle_workers 4`), else a default derived from the machine. docs/PERFORMANCE.md has the
/// measurements behind the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Transactions `settle` runs side by side; unset: the machine's cores + 1 (each batch
    /// also spends time in the client while its connection waits).
    pub settle_workers: usize,
    /// Users per transaction of `user register --file`; unset: 500.
    pub user_import_batch: usize,
    /// Orders per transaction of `place-order --file`; unset: 2,000.
    pub order_import_batch: usize,
    /// Orders per transaction of `settle`; unset: 2,000.
    pub settle_batch: usize,
}

impl Tuning {
    /// The stored settings, with the machine's defaults where one is unset.
    pub fn of(stored: StoredTuning) -> Tuning {
        Tuning {
            settle_workers: stored.settle_workers.unwrap_or(cores() + 1),
            user_import_batch: stored.user_import_batch.unwrap_or(500),
            order_import_batch: stored.order_import_batch.unwrap_or(2_000),
            settle_batch: stored.settle_batch.unwrap_or(2_000),
        }
    }

    /// Every value derived from the machine (no setting stored).
    pub fn of_machine() -> Tuning {
        Tuning::of(StoredTuning::default())
    }
}

/// The cores this process may use (`std::thread::available_parallelism`; 1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl App {
    /// An app with the given clock and rules, run by an operator: for the library's own callers
    /// (tests, benchmarks), which hold the database credential.
    pub fn new(pool: PgPool, clock: Clock, rules: Rulebook) -> Self {
        App {
            pool,
            clock,
            rules,
            caller: Caller::operator("library"),
            tuning: Tuning::of_machine(),
        }
    }

    /// The app of one command: the rules and clock are the database's settings, the caller is
    /// what the connection's role allows, narrowed to a trader when `unix_user` is given (a
    /// shared host's trader running the program through sudo).
    ///
    /// `now` (`--now`) is honoured only in a database whose clock setting is `simulated`, and
    /// only for an operator; otherwise time is the database server's. In any mode a clock
    /// earlier than the newest ledger entry is refused: the books never go back in time.
    pub async fn connect(
        pool: PgPool,
        now: Option<Clock>,
        unix_user: Option<String>,
    ) -> Result<App> {
        let mut conn = pool.acquire().await?;
        let c = crate::store::settings::connection(&mut conn).await?;
        let latest = crate::store::MIGRATOR.iter().map(|m| m.version).max();
        if !c.migrated {
            return Err(Error::Unavailable(
                "the database is not migrated: run \"ascend db migrate\"".into(),
            ));
        }
        match (c.schema_version, latest) {
            (Some(db), Some(ours)) if db < ours => {
                return Err(Error::Unavailable(format!(
                    "the database schema is older than this program (migration {db}, this program needs {ours}): run \"ascend db migrate\""
                )))
            }
            (Some(db), Some(ours)) if db > ours => {
                return Err(Error::Unavailable(format!(
                    "the database schema is newer than this program (migration {db}, this program knows up to {ours}): upgrade ascend"
                )))
            }
            _ => {}
        }
        let stored = crate::store::settings::current(&mut conn).await?;
        drop(conn);
        let settings =
            Settings::from_stored(stored.iter().map(|r| (r.name.as_str(), r.value.as_str())))?;
        let caller = Caller {
            role: c.role,
            role_is_operator: c.operator,
            unix_user,
        };
        let clock =
            match now {
                None => Clock::server(c.server_now),
                Some(_) if settings.clock == ClockMode::Real => return Err(Invalid::new(
                    "now",
                    "this database's clock setting is real (its time is the database server's); \
                     --now and ASCEND_NOW work only where an operator made it simulated: \
                     ascend admin settings set clock simulated",
                )
                .into()),
                Some(set) => {
                    caller.require_operator("--now")?;
                    set
                }
            };
        if let Some(latest) = c.latest_entry {
            let at = clock.now();
            if at < latest {
                let when = |t: chrono::DateTime<chrono::Utc>| {
                    t.with_timezone(&kst())
                        .format("%Y-%m-%d %H:%M:%S KST")
                        .to_string()
                };
                return Err(Invalid::new(
                    if clock.is_fixed() { "now" } else { "clock" },
                    format!(
                        "{} is before the newest ledger entry ({}): the books do not go back in time",
                        when(at),
                        when(latest)
                    ),
                )
                .into());
            }
        }
        Ok(App {
            pool,
            clock,
            rules: settings.rules,
            caller,
            tuning: Tuning::of(settings.tuning),
        })
    }
}

/// The refusal of an operator's flag or command (`what`) to a shared host's trader (exit 4).
pub fn trader_refused(what: &str, trader: &str) -> Error {
    Error::Auth(format!(
        "{what}: only an operator may do this; on this shared host {trader} is a trader"
    ))
}

/// Who runs a command, as far as permissions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The Postgres role of the connection.
    pub role: String,
    /// The role owns the schema (or is a member of its owner) or is a member of
    /// `ascend_operator`.
    pub role_is_operator: bool,
    /// On a shared host, the Unix account of the trader who ran the program through sudo.
    pub unix_user: Option<String>,
}

impl Caller {
    pub fn operator(role: &str) -> Self {
        Caller {
            role: role.to_string(),
            role_is_operator: true,
            unix_user: None,
        }
    }

    /// Operators may act for other users, change settings, set the simulated clock, load bulk
    /// files and run the batch jobs. A shared host's trader never is one, whatever the role.
    pub fn is_operator(&self) -> bool {
        self.role_is_operator && self.unix_user.is_none()
    }

    /// Refuses (exit 4) what only an operator may do; `what` names the flag or command.
    pub fn require_operator(&self, what: &str) -> Result<()> {
        if self.is_operator() {
            return Ok(());
        }
        Err(match &self.unix_user {
            Some(u) => trader_refused(what, u),
            None => Error::Auth(format!(
                "{what}: only an operator may do this: the database role {} neither owns the schema nor is a member of ascend_operator",
                self.role
            )),
        })
    }
}

/// Who a user-scoped command acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The user of a login session (the token from the session file).
    Session(String),
    /// An operator with database access acting for the user with this email.
    Operator(String),
    /// A shared host's trader: the user registered for this Unix account.
    Unix(String),
}

impl Actor {
    /// Who acted, for the audit log: never the email, which account deletion must be able to
    /// erase (`operator for user #7`).
    pub fn label(&self, user_id: i64) -> String {
        match self {
            Actor::Session(_) => "session".to_string(),
            Actor::Operator(_) => format!("operator for user #{user_id}"),
            Actor::Unix(_) => format!("unix account of user #{user_id}"),
        }
    }
}

/// The active user an actor stands for.
pub async fn resolve(app: &App, actor: &Actor) -> Result<UserRow> {
    let mut conn = app.pool.acquire().await?;
    match actor {
        Actor::Operator(email) => {
            app.caller.require_operator("--user")?;
            crate::store::users::by_email(&mut conn, email)
                .await?
                .ok_or_else(|| Error::not_found(format!("user: no active user with email {email}")))
        }
        Actor::Unix(name) => crate::store::users::by_unix_user(&mut conn, name)
            .await?
            .ok_or_else(|| {
                Error::Auth(format!(
                    "user: the Unix account {name} has no Ascend user here; register with `ascend user register`"
                ))
            }),
        Actor::Session(token) => users::session_user(&mut conn, token, app.clock.now()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_takes_each_stored_setting_and_derives_the_rest_from_the_machine() {
        let machine = Tuning::of_machine();
        assert_eq!(machine.settle_workers, cores() + 1);
        assert_eq!(machine.user_import_batch, 500);
        assert_eq!(machine.order_import_batch, 2_000);
        let set = Tuning::of(StoredTuning {
            settle_workers: Some(2),
            user_import_batch: None,
            order_import_batch: Some(10),
            settle_batch: Some(7),
        });
        assert_eq!(
            set,
            Tuning {
                settle_workers: 2,
                user_import_batch: 500,
                order_import_batch: 10,
                settle_batch: 7,
            }
        );
        assert!(db::default_pool_size() >= 8);
        assert!(db::default_pool_size() as usize >= machine.settle_workers);
    }
}
