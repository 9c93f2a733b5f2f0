//! Sign-up, login sessions, profile changes and account deletion.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use super::{Actor, App, Caller};
use crate::domain::{DisplayName, Email, Invalid, OrderStatus, Password};
use crate::error::{Error, Result};
use crate::store::{trading, users as store, users::UserRow};

/// Virtual cash at sign-up unless the operator sets another amount.
pub const DEFAULT_INITIAL_CASH: i64 = 10_000_000;
/// How long a login session lasts.
pub const SESSION_DAYS: i64 = 7;

#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub name: DisplayName,
    pub password: Password,
    pub initial_cash: Decimal,
    /// On a shared host, the Unix account this user is (a trader registering is always their
    /// own account; an operator may name one).
    pub unix_user: Option<String>,
}

impl Registration {
    pub fn parse(
        email: &str,
        name: &str,
        password: &str,
        initial_cash: Option<Decimal>,
    ) -> Result<Self, Invalid> {
        let initial_cash = initial_cash.unwrap_or(Decimal::from(DEFAULT_INITIAL_CASH));
        if initial_cash.is_sign_negative()
            || initial_cash.fract() != Decimal::ZERO
            || initial_cash > Decimal::from(1_000_000_000_000i64)
        {
            return Err(Invalid::new(
                "cash",
                format!("{initial_cash} must be a whole number of won from 0 to 1,000,000,000,000"),
            ));
        }
        Ok(Registration {
            email: Email::parse(email)?,
            name: DisplayName::parse(name)?,
            password: Password::parse(password)?,
            initial_cash,
            unix_user: None,
        })
    }
}

pub fn hash_password(p: &Password) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(p.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("hashing the password: {e}")))
}

/// What a login verifies an unknown (or deleted) email against: a hash of a fixed password
/// with the same argon2 parameters as every stored hash (`Argon2::default()`, checked by a
/// test), so that a wrong email costs the same time as a wrong password and the timing does
/// not tell which emails are registered. A literal, not made at first use: each login is a
/// process of its own, which would pay for hashing it too.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$YXNjZW5kLWxvZ2luLWR1bW15$E38CMCf8xaZ8VzhxiOj0OojFU6yBQ0tScKJbFrJ/V4s";

fn dummy_hash() -> &'static str {
    DUMMY_HASH
}

/// The hash a login verifies the password against: the user's, else the dummy.
fn login_hash(user: Option<&UserRow>) -> &str {
    user.and_then(|u| u.password_hash.as_deref())
        .unwrap_or_else(|| dummy_hash())
}

fn verify_password(hash: Option<&str>, password: &str) -> bool {
    let Some(hash) = hash else { return false };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A Unix account name as an operator gives it: 1 to 32 of letters, digits, `.`, `_` and `-`,
/// not starting with `-` (the portable user names of POSIX).
fn unix_user_name(name: &str) -> Result<String> {
    let ok = (1..=32).contains(&name.len())
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(Invalid::new(
            "unix-user",
            format!("{name:?} is not a Unix account name (1 to 32 letters, digits, '.', '_' or '-', not starting with '-')"),
        )
        .into());
    }
    Ok(name.to_string())
}

/// The Unix account a new user is bound to: a shared host's trader is always their own;
/// naming another one, or any on a host that is not shared, is an operator's (binding an
/// account decides who trades as this user there), and the name must be an account name.
pub fn unix_user_to_bind(caller: &Caller, named: Option<&str>) -> Result<Option<String>> {
    match (&caller.unix_user, named) {
        (Some(me), Some(other)) if other != me => {
            caller.require_operator("--unix-user")?;
            Ok(None)
        }
        (Some(me), _) => Ok(Some(me.clone())),
        (None, Some(named)) => {
            caller.require_operator("--unix-user")?;
            unix_user_name(named).map(Some)
        }
        (None, None) => Ok(None),
    }
}

/// Registers a user. Cash other than the default is granted only by an operator; a shared
/// host's trader registers their own Unix account.
pub async fn register(app: &App, r: &Registration, actor: &str) -> Result<UserRow> {
    if r.initial_cash != Decimal::from(DEFAULT_INITIAL_CASH) {
        app.caller.require_operator("--cash")?;
    }
    let unix_user = unix_user_to_bind(&app.caller, r.unix_user.as_deref())?;
    let hash = hash_password(&r.password)?;
    let at = app.clock.now();
    let mut tx = app.pool.begin().await?;
    let user = store::insert(&mut tx, &r.email, &r.name, &hash, r.initial_cash, at).await?;
    if let Some(name) = &unix_user {
        store::set_unix_user(&mut tx, user.id, name).await?;
    }
    store::log_action(
        &mut tx,
        at,
        actor,
        "user.register",
        Some(user.id),
        serde_json::json!({"initial_cash": r.initial_cash}),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

const WRONG_LOGIN: &str = "login: email or password is wrong";

/// Checks the password and opens a session; returns the token (only its hash is stored).
pub async fn login(
    app: &App,
    email: &str,
    password: &str,
) -> Result<(UserRow, String, DateTime<Utc>)> {
    if let Some(me) = &app.caller.unix_user {
        return Err(Error::rejected(format!(
            "login: on this shared host you are the Unix account {me}; there is no session to open"
        )));
    }
    let mut tx = app.pool.begin().await?;
    let user = store::by_email(&mut tx, email).await?;
    // Verified whether or not the email is known: see `dummy_hash`.
    let verified = verify_password(Some(login_hash(user.as_ref())), password);
    let Some(user) = user.filter(|u| verified && u.password_hash.is_some()) else {
        return Err(Error::Auth(WRONG_LOGIN.into()));
    };
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let at = app.clock.now();
    let expires = at + Duration::days(SESSION_DAYS);
    store::insert_session(&mut tx, &token_hash(&token), user.id, at, expires).await?;
    store::log_action(
        &mut tx,
        at,
        "session",
        "user.login",
        Some(user.id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok((user, token, expires))
}

/// The user of a session token, if the session exists, has not expired and the user is active.
pub async fn session_user(
    conn: &mut PgConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<UserRow> {
    let token = token.trim();
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Auth(
            "session: the session token is malformed; run `ascend login`".into(),
        ));
    }
    match store::session_user(conn, &token_hash(token)).await? {
        None => Err(Error::Auth(
            "session: the session token is not recognised; run `ascend login`".into(),
        )),
        Some((_, expires)) if expires <= now => Err(Error::Auth(format!(
            "session: the session expired at {}; run `ascend login`",
            expires.format("%Y-%m-%d %H:%M UTC")
        ))),
        Some((u, _)) if u.deleted_at.is_some() => {
            Err(Error::Auth("session: the account was deleted".into()))
        }
        Some((u, _)) => Ok(u),
    }
}

pub async fn logout(app: &App, token: &str) -> Result<bool> {
    let mut conn = app.pool.acquire().await?;
    store::delete_session(&mut conn, &token_hash(token.trim())).await
}

#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub email: Option<Email>,
    pub name: Option<DisplayName>,
    pub new_password: Option<Password>,
}

/// Changes name, email or password; the old password is required. A password change ends
/// the user's other sessions.
pub async fn update(
    app: &App,
    actor: &Actor,
    old_password: &str,
    changes: &Changes,
) -> Result<UserRow> {
    if changes.email.is_none() && changes.name.is_none() && changes.new_password.is_none() {
        return Err(Error::rejected(
            "user update: nothing to change (give --email, --name or --new-password)",
        ));
    }
    let user = super::resolve(app, actor).await?;
    if !verify_password(user.password_hash.as_deref(), old_password) {
        return Err(Error::Auth(
            "password: the current password is wrong".into(),
        ));
    }
    let hash = changes
        .new_password
        .as_ref()
        .map(hash_password)
        .transpose()?;
    let at = app.clock.now();
    let mut tx = app.pool.begin().await?;
    trading::lock_account(&mut tx, user.id).await?;
    let updated = store::update(
        &mut tx,
        user.id,
        changes.email.as_ref(),
        changes.name.as_ref(),
        hash.as_deref(),
    )
    .await?;
    let fields: Vec<&str> = [
        ("email", changes.email.is_some()),
        ("name", changes.name.is_some()),
        ("password", hash.is_some()),
    ]
    .into_iter()
    .filter_map(|(f, on)| on.then_some(f))
    .collect();
    // A new password ends every other session of the user: the one making the change (if
    // made through a session) stays; an operator's change ends them all.
    let ended_sessions = if hash.is_some() {
        let keep = match actor {
            Actor::Session(token) => Some(token_hash(token.trim())),
            Actor::Operator(_) | Actor::Unix(_) => None,
        };
        store::end_sessions(&mut tx, user.id, keep.as_deref()).await?
    } else {
        0
    };
    store::log_action(
        &mut tx,
        at,
        &actor.label(user.id),
        "user.update",
        Some(user.id),
        serde_json::json!({ "fields": fields, "ended_sessions": ended_sessions }),
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}

#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Deleted {
    pub user_id: i64,
    pub cancelled_orders: usize,
}

/// Deletes an account: cancels its open orders (releasing every reservation), scrubs personal
/// data (its email also from the audit log) and ends its sessions. The ledger, orders and fills stay for audit. A user acting
/// through a session must confirm with the password; an operator need not.
pub async fn delete(app: &App, actor: &Actor, password: Option<&str>) -> Result<Deleted> {
    let user = super::resolve(app, actor).await?;
    if matches!(actor, Actor::Session(_) | Actor::Unix(_))
        && !verify_password(user.password_hash.as_deref(), password.unwrap_or_default())
    {
        return Err(Error::Auth(
            "password: the current password is wrong".into(),
        ));
    }
    let at = app.clock.now();
    let mut tx = app.pool.begin().await?;
    trading::lock_account(&mut tx, user.id).await?;
    let open = trading::lock_open_orders(&mut tx, &[user.id]).await?;
    trading::close_orders(
        &mut tx,
        &open,
        OrderStatus::Cancelled,
        "account deleted",
        at,
    )
    .await?;
    store::scrub(&mut tx, user.id, at).await?;
    store::log_action(
        &mut tx,
        at,
        &actor.label(user.id),
        "user.delete",
        Some(user.id),
        serde_json::json!({"cancelled_orders": open.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Deleted {
        user_id: user.id,
        cancelled_orders: open.len(),
    })
}

/// Active users by email (case-insensitive): (lower(email), id), for bulk files that name
/// users by email.
pub async fn ids_by_email(app: &App, emails: &[String]) -> Result<Vec<(String, i64)>> {
    store::ids_by_email(&mut *app.pool.acquire().await?, emails).await
}

/// A row of a bulk registration that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// A new user with this id.
    New(i64),
    /// The email is registered already with the same name and cash: nothing was written (a
    /// rerun of the same file, like an order's idempotency key).
    Existing(i64),
}

/// Registers many users, `batch` per transaction; passwords are hashed on all cores first. A
/// refused row (an email registered with other details, or repeated in the input) is reported
/// and does not stop the others. Returns, per row, what was registered or the reason.
pub async fn register_many(
    app: &App,
    rows: Vec<(usize, Registration)>,
    batch: usize,
    actor: &str,
) -> Result<Vec<(usize, Result<Registered, String>)>> {
    app.caller.require_operator("--file")?;
    let passwords: Vec<Password> = rows.iter().map(|(_, r)| r.password.clone()).collect();
    let hashes: Vec<Result<String>> = {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let per = passwords.len().div_ceil(workers).max(1);
        let mut handles = Vec::new();
        for part in passwords.chunks(per) {
            let part = part.to_vec();
            handles.push(tokio::task::spawn_blocking(move || {
                part.iter().map(hash_password).collect::<Vec<_>>()
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(
                h.await
                    .map_err(|e| Error::Unexpected(anyhow::anyhow!("hashing worker: {e}")))?,
            );
        }
        all
    };
    let at = app.clock.now();
    let mut out = Vec::with_capacity(rows.len());
    let mut seen = std::collections::HashMap::new();
    let items: Vec<_> = rows.into_iter().zip(hashes).collect();
    for chunk in items.chunks(batch.max(1)) {
        let mut tx = app.pool.begin().await?;
        let emails: Vec<String> = chunk
            .iter()
            .map(|((_, r), _)| r.email.as_str().to_string())
            .collect();
        let known: std::collections::HashSet<String> = store::ids_by_email(&mut tx, &emails)
            .await?
            .into_iter()
            .map(|(email, _)| email)
            .collect();
        for ((row, r), hash) in chunk {
            let lower = r.email.as_str().to_lowercase();
            if known.contains(&lower) && !seen.contains_key(&lower) {
                seen.insert(lower, *row);
                let u = store::by_email(&mut tx, r.email.as_str()).await?;
                out.push((
                    *row,
                    match u {
                        Some(u)
                            if u.display_name.as_deref() == Some(r.name.as_str())
                                && u.initial_cash == r.initial_cash =>
                        {
                            Ok(Registered::Existing(u.id))
                        }
                        _ => Err(format!(
                            "email: {} is already registered with another name or cash",
                            r.email
                        )),
                    },
                ));
                continue;
            }
            if let Some(first) = seen.get(&lower) {
                out.push((
                    *row,
                    Err(format!(
                        "email: {} is repeated (first on row {first})",
                        r.email
                    )),
                ));
                continue;
            }
            seen.insert(lower, *row);
            let hash = match hash {
                Ok(h) => h,
                Err(e) => {
                    out.push((*row, Err(e.to_string())));
                    continue;
                }
            };
            let mut sp = sqlx::Connection::begin(&mut *tx).await?;
            match store::insert(&mut sp, &r.email, &r.name, hash, r.initial_cash, at).await {
                Ok(u) => {
                    sp.commit().await?;
                    out.push((*row, Ok(Registered::New(u.id))));
                }
                Err(e @ (Error::Rejected(_) | Error::Invalid(_))) => {
                    sp.rollback().await?;
                    out.push((*row, Err(e.to_string())));
                }
                Err(e) => return Err(e),
            }
        }
        store::log_action(
            &mut tx,
            at,
            actor,
            "user.register_bulk",
            None,
            serde_json::json!({ "rows": chunk.len() }),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_with(hash: Option<&str>) -> UserRow {
        UserRow {
            id: 1,
            email: hash.map(|_| "a@example.com".into()),
            display_name: None,
            password_hash: hash.map(str::to_string),
            initial_cash: Decimal::ZERO,
            created_at: DateTime::from_timestamp(0, 0).unwrap(),
            deleted_at: None,
        }
    }

    #[test]
    fn an_unknown_or_deleted_email_is_verified_against_a_hash_of_the_same_cost() {
        let real = hash_password(&Password::parse("password123").unwrap()).unwrap();
        // Known: the user's own hash. Unknown (no row) or deleted (no hash): the dummy.
        assert_eq!(login_hash(Some(&user_with(Some(&real)))), real);
        assert_eq!(login_hash(None), dummy_hash());
        assert_eq!(login_hash(Some(&user_with(None))), dummy_hash());
        // The dummy costs what a stored hash costs: same algorithm, version and parameters.
        let (real, dummy) = (
            PasswordHash::new(&real).unwrap(),
            PasswordHash::new(dummy_hash()).unwrap(),
        );
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert_eq!(dummy.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
        assert!(!verify_password(Some(dummy_hash()), "password123"));
    }
}
