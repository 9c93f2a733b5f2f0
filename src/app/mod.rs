//! Use cases, one per subcommand. They combine the domain rules with the store and know
//! nothing of clap or of rendering.

pub mod assets;
pub mod audit;
pub mod crawl;
pub mod orders;
pub mod portfolio;
pub mod settle;
pub mod snapshot;
pub mod stocks;
pub mod users;

use sqlx::PgPool;

use crate::clock::Clock;
use crate::domain::Rulebook;
use crate::error::{Error, Result};
use crate::store::users::UserRow;

/// What every use case runs with.
#[derive(Debug, Clone)]
pub struct App {
    pub pool: PgPool,
    pub clock: Clock,
    pub rules: Rulebook,
}

impl App {
    pub fn new(pool: PgPool, clock: Clock, rules: Rulebook) -> Self {
        App { pool, clock, rules }
    }
}

/// Who a user-scoped command acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The user of a login session (the token from the session file).
    Session(String),
    /// An operator with database access acting for the user with this email.
    Operator(String),
}

impl Actor {
    /// Who acted, for the audit log: never the email, which account deletion must be able to
    /// erase (`operator for user #7`).
    pub fn label(&self, user_id: i64) -> String {
        match self {
            Actor::Session(_) => "session".to_string(),
            Actor::Operator(_) => format!("operator for user #{user_id}"),
        }
    }
}

/// The active user an actor stands for.
pub async fn resolve(app: &App, actor: &Actor) -> Result<UserRow> {
    let mut conn = app.pool.acquire().await?;
    match actor {
        Actor::Operator(email) => crate::store::users::by_email(&mut conn, email)
            .await?
            .ok_or_else(|| Error::not_found(format!("user: no active user with email {email}"))),
        Actor::Session(token) => users::session_user(&mut conn, token, app.clock.now()).await,
    }
}
