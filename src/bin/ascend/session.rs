//! `ascend login|logout|whoami` and the session file.

use std::fs;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use crate::output::{money, render_one, time};
use crate::{io_err, Ctx};
use ascend::app::{self, users, Actor};
use ascend::{exit, Error};

/// Where the session token lives: `$ASCEND_CONFIG_DIR/session`, else
/// `<config dir>/ascend/session` (e.g. `~/.config/ascend/session`).
pub fn session_path() -> Result<PathBuf, Error> {
    let dir = match std::env::var_os("ASCEND_CONFIG_DIR") {
        Some(d) => PathBuf::from(d),
        None => dirs::config_dir()
            .ok_or_else(|| Error::rejected("session: no config directory; set ASCEND_CONFIG_DIR"))?
            .join("ascend"),
    };
    Ok(dir.join("session"))
}

pub fn read_token() -> Result<String, Error> {
    let path = session_path()?;
    match fs::read_to_string(&path) {
        Ok(t) => Ok(t.trim().to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::Auth(
            "session: not logged in; run `ascend login --email EMAIL` (or act for a user with --user EMAIL)".into(),
        )),
        Err(e) => Err(Error::Auth(format!("session: cannot read {}: {e}", path.display()))),
    }
}

fn write_token(token: &str) -> Result<PathBuf, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = session_path()?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err)?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_err)?;
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io_err)?;
    writeln!(f, "{token}").map_err(io_err)?;
    Ok(path)
}

/// Reads a password: the first line of stdin with `--password-stdin`, else a prompt on a TTY.
pub fn read_password(from_stdin: bool, prompt: &str) -> Result<String, Error> {
    if from_stdin {
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line).map_err(io_err)?;
        let p = line.trim_end_matches(['\r', '\n']).to_string();
        if p.is_empty() {
            return Err(Error::Invalid(ascend::domain::Invalid::new(
                "password",
                "stdin gave an empty password",
            )));
        }
        return Ok(p);
    }
    if !io::stdin().is_terminal() {
        return Err(Error::Invalid(ascend::domain::Invalid::new(
            "password",
            "no terminal to prompt on; pipe it with --password-stdin",
        )));
    }
    rpassword::prompt_password(prompt).map_err(io_err)
}

#[derive(Debug, Args)]
pub struct Login {
    /// Your email.
    #[arg(long)]
    email: String,
    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    password_stdin: bool,
}

impl Login {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let password = read_password(self.password_stdin, "Password: ")?;
        let app = ctx.app().await?;
        let (user, token, expires) = users::login(&app, &self.email, &password).await?;
        let path = write_token(&token)?;
        let value = serde_json::json!({"user_id": user.id, "email": user.email, "expires_at": expires, "session_file": path});
        render_one(out, ctx.format, &value, |h| {
            vec![
                (
                    "user",
                    format!("#{} {}", user.id, user.email.clone().unwrap_or_default()),
                ),
                ("expires", time(expires, h)),
                ("session file", path.display().to_string()),
            ]
        })
        .map_err(io_err)?;
        Ok(exit::OK)
    }
}

pub async fn logout(ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
    let token = read_token()?;
    let app = ctx.app().await?;
    let ended = users::logout(&app, &token).await?;
    let path = session_path()?;
    fs::remove_file(&path).map_err(io_err)?;
    writeln!(
        out,
        "{}",
        if ended {
            "logged out"
        } else {
            "logged out (the session had already ended)"
        }
    )
    .map_err(io_err)?;
    Ok(exit::OK)
}

pub async fn whoami(ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
    let actor = ctx.actor()?;
    let app = ctx.app().await?;
    let user = app::resolve(&app, &actor).await?;
    render_one(out, ctx.format, &user, |h| {
        vec![
            ("id", user.id.to_string()),
            ("email", user.email.clone().unwrap_or_default()),
            ("name", user.display_name.clone().unwrap_or_default()),
            ("initial cash", money(user.initial_cash, h)),
            ("since", time(user.created_at, h)),
            (
                "acting as",
                match &actor {
                    Actor::Session(_) => "session".into(),
                    Actor::Operator(_) => "operator (--user)".into(),
                    Actor::Unix(name) => format!("Unix account {name}"),
                },
            ),
        ]
    })
    .map_err(io_err)?;
    Ok(exit::OK)
}
