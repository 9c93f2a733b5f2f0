//! `ascend user register|update|delete`.

use std::io::Write;

use clap::{Args, Subcommand};

use crate::output::{money, render_one, time};
use crate::session::read_password;
use crate::{io_err, Ctx};
use ascend::app::users::{self, Changes, Registration};
use ascend::domain::{parse_decimal, DisplayName, Email, Password};
use ascend::{exit, Error};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Sign up: creates the user with a cash account (10,000,000 won unless --cash).
    Register(Register),
    /// Change your name, email or password (the current password is required).
    Update(Update),
    /// Delete your account: cancels open orders, releases reservations, scrubs personal data.
    /// The ledger is kept for audit; the account can no longer log in.
    Delete(Delete),
}

/// Register one user, or many from a CSV file:
///   ascend user register --email kim@example.com --name 김민준
///   ascend user register --file users.csv
///
/// users.csv columns: email,name,password[,cash] (header row required; a BOM and CRLF line
/// endings are fine). Each failed row is reported on stderr as `row N: reason`; the rows that
/// passed stay written, and the exit code is 1 when any row failed.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct Register {
    /// Email to log in with (unique, case-insensitive).
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    email: Option<String>,
    /// Display name (1 to 50 characters).
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    name: Option<String>,
    /// Register every row of a CSV file (columns email,name,password[,cash]).
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// Initial virtual cash in won (operators only; default 10,000,000).
    #[arg(long)]
    cash: Option<String>,
    /// On a shared host: the Unix account this user trades as (operators only; a trader
    /// registering through sudo is always their own account).
    #[arg(long, conflicts_with = "file")]
    unix_user: Option<String>,
    /// Read the password (at least 8 characters) from the first line of stdin.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct Update {
    /// A new email.
    #[arg(long)]
    email: Option<String>,
    /// A new display name (1 to 50 characters).
    #[arg(long)]
    name: Option<String>,
    /// Also change the password (prompted, or the second stdin line with --password-stdin).
    #[arg(long)]
    new_password: bool,
    /// Read the current password (and then the new one) from stdin lines.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct Delete {
    /// Confirm the deletion.
    #[arg(long)]
    yes: bool,
    /// Read the current password from stdin (not needed with --user).
    #[arg(long)]
    password_stdin: bool,
}

impl UserCommand {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        match self {
            UserCommand::Register(r) if r.file.is_some() => {
                register_file(ctx, out, r.file.as_deref().expect("checked")).await
            }
            UserCommand::Register(r) => {
                let r_unix_user = r.unix_user;
                let r = RegisterOne {
                    email: r.email.unwrap_or_default(),
                    name: r.name.unwrap_or_default(),
                    cash: r.cash,
                    password_stdin: r.password_stdin,
                };
                let unix_user = r_unix_user;
                let cash = r
                    .cash
                    .as_deref()
                    .map(|c| parse_decimal(c, "cash"))
                    .transpose()?;
                // Validate everything that needs no prompt first, permissions included.
                Email::parse(&r.email)?;
                DisplayName::parse(&r.name)?;
                let app = ctx.app().await?;
                if cash.is_some() {
                    app.caller.require_operator("--cash")?;
                }
                users::unix_user_to_bind(&app.caller, unix_user.as_deref())?;
                let password =
                    read_password(r.password_stdin, "Password (at least 8 characters): ")?;
                let mut reg = Registration::parse(&r.email, &r.name, &password, cash)?;
                reg.unix_user = unix_user;
                let actor = if ctx.user.is_some() {
                    "operator"
                } else {
                    "self"
                };
                let user = users::register(&app, &reg, actor).await?;
                render_one(out, ctx.format, &user, |h| {
                    vec![
                        ("id", user.id.to_string()),
                        ("email", user.email.clone().unwrap_or_default()),
                        ("name", user.display_name.clone().unwrap_or_default()),
                        ("cash", money(user.initial_cash, h)),
                        ("created", time(user.created_at, h)),
                    ]
                })
                .map_err(io_err)?;
                Ok(exit::OK)
            }
            UserCommand::Update(u) => {
                let changes = Changes {
                    email: u.email.as_deref().map(Email::parse).transpose()?,
                    name: u.name.as_deref().map(DisplayName::parse).transpose()?,
                    new_password: None,
                };
                let actor = ctx.actor()?;
                let old = read_password(u.password_stdin, "Current password: ")?;
                let new_password = if u.new_password {
                    Some(Password::parse(&read_password(
                        u.password_stdin,
                        "New password: ",
                    )?)?)
                } else {
                    None
                };
                let changes = Changes {
                    new_password,
                    ..changes
                };
                let app = ctx.app().await?;
                let user = users::update(&app, &actor, &old, &changes).await?;
                render_one(out, ctx.format, &user, |_| {
                    vec![
                        ("id", user.id.to_string()),
                        ("email", user.email.clone().unwrap_or_default()),
                        ("name", user.display_name.clone().unwrap_or_default()),
                    ]
                })
                .map_err(io_err)?;
                Ok(exit::OK)
            }
            UserCommand::Delete(d) => {
                if !d.yes {
                    return Err(Error::rejected(
                        "yes: deleting an account cannot be undone; confirm with --yes",
                    ));
                }
                let actor = ctx.actor()?;
                let password = match actor {
                    ascend::app::Actor::Session(_) | ascend::app::Actor::Unix(_) => {
                        Some(read_password(d.password_stdin, "Current password: ")?)
                    }
                    ascend::app::Actor::Operator(_) => None,
                };
                let app = ctx.app().await?;
                let deleted = users::delete(&app, &actor, password.as_deref()).await?;
                if let ascend::app::Actor::Session(_) = actor {
                    let _ = std::fs::remove_file(crate::session::session_path()?);
                }
                render_one(out, ctx.format, &deleted, |_| {
                    vec![
                        ("deleted user", deleted.user_id.to_string()),
                        ("cancelled orders", deleted.cancelled_orders.to_string()),
                    ]
                })
                .map_err(io_err)?;
                Ok(exit::OK)
            }
        }
    }
}

struct RegisterOne {
    email: String,
    name: String,
    cash: Option<String>,
    password_stdin: bool,
}

async fn register_file(
    ctx: &Ctx,
    out: &mut dyn Write,
    path: &std::path::Path,
) -> Result<u8, Error> {
    let input = crate::bulk::read(path, &["email", "name", "password"], &["cash"])?;
    let mut good = Vec::new();
    let mut failed = input.failed;
    for (row, f) in input.rows {
        let cash = match f.get("cash").map(String::as_str).filter(|c| !c.is_empty()) {
            Some(c) => match parse_decimal(c, "cash") {
                Ok(d) => Some(d),
                Err(e) => {
                    failed.push((row, e.to_string()));
                    continue;
                }
            },
            None => None,
        };
        match Registration::parse(&f["email"], &f["name"], &f["password"], cash) {
            Ok(r) => good.push((row, r)),
            Err(e) => failed.push((row, e.to_string())),
        }
    }
    let app = ctx.app().await?;
    let results =
        users::register_many(&app, good, app.tuning.user_import_batch, "operator").await?;
    let mut tally = crate::bulk::Tally::default();
    for (row, r) in results {
        match r {
            Ok(users::Registered::New(_)) => tally.written += 1,
            Ok(users::Registered::Existing(_)) => tally.unchanged += 1,
            Err(e) => failed.push((row, e)),
        }
    }
    tally.fail(failed);
    crate::bulk::finish(out, ctx.format, "users", &tally)
}
