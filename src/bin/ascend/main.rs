//! The `ascend` command line: parses arguments, calls one library use case, renders the result
//! and returns an exit code. No SQL and no business rule lives here.

mod admin;
mod assets;
mod audit;
mod bulk;
mod config;
mod crawl;
mod db;
mod market;
mod modify;
mod orders;
mod output;
mod session;
mod settle;
mod signals;
mod source_arg;
mod stock;
mod user;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use ascend::app::{Actor, App};
use ascend::clock::Clock;
use ascend::{exit, Error};

use output::Format;

/// `--version`: the package version, the commit and the build date.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("ASCEND_BUILD"), ")");

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the command ran and found problems (audit violations, bulk rows that failed)
  2  command-line usage error
  3  rejected: bad input or a broken rule (the message names the field and the rule)
  4  authentication and permission: not logged in, wrong password, expired or
     forged session; an operator's flag or command asked by a non-operator
  5  infrastructure: the database or the network failed; nothing was decided
  130 interrupted (Ctrl-C); the transaction in progress was rolled back
  143 terminated (SIGTERM, e.g. systemd stopping a unit); rolled back likewise

Environment: DATABASE_URL, ASCEND_NOW (simulated databases only), ASCEND_USER,
ASCEND_CONFIG_DIR (where the login session file lives), ASCEND_SHARED_HOST (set by the
shared-host installer: a trader is the Unix account that runs the program through sudo).
Commission, maximum price age, the clock and the batch jobs' tuning are the database's
settings: ascend admin settings. ASCEND_POOL_SIZE: database connections at most.";

/// Ascend: paper trading (모의투자) on KOSPI and KOSDAQ at real prices, on PostgreSQL.
///
/// Sign up with virtual cash, buy and sell listed stocks under the KRX rules (tick sizes, the
/// ±30% band, the 09:00–15:30 KST session, commission and sell tax), and let the batch jobs
/// (`settle`, `crawl-stocks`, `snapshot`) run from timers.
#[derive(Debug, Parser)]
#[command(name = "ascend", version = VERSION, after_help = EXIT_CODES)]
struct Cli {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Database connections at most (default: the larger of 8 and twice the cores).
    #[arg(long, env = "ASCEND_POOL_SIZE", global = true,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pool_size: Option<u32>,
    /// Pretend it is this time (RFC 3339, or "YYYY-MM-DD HH:MM" in KST). Operators only, and
    /// only in a database whose clock setting is simulated.
    #[arg(long, env = "ASCEND_NOW", global = true)]
    now: Option<String>,
    /// Act for the user with this email (operators only); otherwise the logged-in user
    /// (`ascend login`).
    #[arg(long, env = "ASCEND_USER", global = true)]
    user: Option<String>,
    /// Output format of reads [default: table on a terminal, tsv otherwise].
    #[arg(long, short = 'f', value_enum, env = "ASCEND_FORMAT", global = true)]
    format: Option<Format>,
    /// Colour in log lines: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Commands that stop cleanly on SIGINT/SIGTERM themselves (and record that they did).
    fn handles_signals(&self) -> bool {
        matches!(self.command, Command::CrawlStocks(_))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply or report database migrations.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Register, change or delete users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Log in: stores a session token in a 0600 file under your config directory.
    Login(session::Login),
    /// Log out: ends the session and removes the session file.
    Logout,
    /// Show the logged-in user.
    Whoami,
    /// Place a buy or sell order (limit or market).
    PlaceOrder(orders::PlaceOrder),
    /// List your orders.
    Orders(orders::ListOrders),
    /// Cancel an open order and release its reservation.
    Cancel(orders::Cancel),
    /// Modify a resting order (정정 / 일부취소): a new limit, a smaller quantity, or both.
    Modify(modify::Modify),
    /// List your fills with fee and tax.
    Trades(orders::Trades),
    /// Batch job: fill crossed resting orders; with --close, expire DAY orders.
    Settle(settle::Settle),
    /// Check the ledger invariants; exits 1 naming each violation.
    Audit,
    /// Batch job: crawl listings, prices, indices (and daily bars) into the database.
    CrawlStocks(crawl::CrawlStocks),
    /// Your holdings at current prices, cash and totals.
    Portfolio(assets::Portfolio),
    /// Batch job: record every user's daily assets (after the close).
    Snapshot(assets::Snapshot),
    /// Your total assets today and their trend, with a chart.
    Assets(assets::Assets),
    /// Search, show, load and list stocks.
    #[command(subcommand)]
    Stock(stock::StockCommand),
    /// KOSPI and KOSDAQ now, with a short trend.
    Index(market::Index),
    /// The KRX trading calendar of a month.
    Calendar(market::Calendar),
    /// Operators: the deployment's settings (commission, price age, clock).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Print a shell completion script: ascend completions bash > /etc/bash_completion.d/ascend
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Show where each setting of the config files comes from.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the manual page (roff): ascend man | man -l -
    Man {
        /// Write the pages of the program and of every subcommand (ascend.1, ascend-settle.1,
        /// …) into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour stderr: `auto` colours a terminal unless `NO_COLOR` is set to anything
    /// but the empty string (no-color.org).
    fn on_stderr(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                io::stderr().is_terminal()
                    && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty())
            }
        }
    }
}

/// Log lines carry their time in KST with its offset, like every time the program prints.
struct KstTime;

impl tracing_subscriber::fmt::time::FormatTime for KstTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let now = chrono::Utc::now().with_timezone(&ascend::domain::rules::kst());
        write!(w, "{}", now.format("%Y-%m-%dT%H:%M:%S%.3f%:z"))
    }
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Each effective value (database URL, market source, format) and where it came from: a
    /// flag, the environment, the user file, the system file, or the default.
    Show(config::Show),
}

/// Everything a subcommand needs from the global options.
pub struct Ctx {
    pub format: Format,
    pub user: Option<String>,
    database_url: Option<String>,
    pool_size: Option<u32>,
    /// `--now`, checked against the database's clock setting when the app connects.
    now: Option<Clock>,
    /// On a shared host, the Unix account of the trader who ran the program through sudo.
    pub unix_user: Option<String>,
}

impl Ctx {
    pub async fn pool(&self) -> Result<ascend::app::db::PgPool, Error> {
        let url = self.database_url.as_deref().ok_or_else(|| {
            Error::Unavailable("DATABASE_URL is not set (give --database-url or set DATABASE_URL; scripts/db.sh prints one)".into())
        })?;
        let size = self
            .pool_size
            .unwrap_or_else(ascend::app::db::default_pool_size);
        ascend::app::db::connect(url, size).await
    }

    /// The app of this command: the database's settings and clock, and what the caller may do.
    pub async fn app(&self) -> Result<App, Error> {
        App::connect(self.pool().await?, self.now, self.unix_user.clone()).await
    }

    /// The actor of user-scoped commands: `--user EMAIL` (operators), else on a shared host the
    /// invoking Unix account, else the login session.
    pub fn actor(&self) -> Result<Actor, Error> {
        match (&self.user, &self.unix_user) {
            (Some(email), _) => Ok(Actor::Operator(email.clone())),
            (None, Some(name)) => Ok(Actor::Unix(name.clone())),
            (None, None) => session::read_token().map(Actor::Session),
        }
    }
}

/// On a shared host (`ASCEND_SHARED_HOST=1`, set in the environment file only the service
/// account can read) a run through sudo is a trader's: `SUDO_USER` names them, and sudo sets it
/// itself. Without sudo the program runs as the service account (the timers); root, who can
/// read the environment file anyway, is not narrowed.
fn shared_host_trader() -> Option<String> {
    let shared = std::env::var("ASCEND_SHARED_HOST").is_ok_and(|v| v == "1");
    if !shared || std::env::var("SUDO_UID").is_ok_and(|u| u == "0") {
        return None;
    }
    std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty())
}

/// What a shared host's trader may not ask of the program, which runs as the service account:
/// to read or write files (bulk files, `stock load`, charts, recordings, replayed sources).
/// Checked on the arguments before anything is opened, so no file's content reaches a message.
fn refuse_files_for_trader(trader: &str) -> Result<(), Error> {
    let mut args = std::env::args().skip(1).peekable();
    let mut words = Vec::new();
    while let Some(a) = args.next() {
        let flag = a.split('=').next().unwrap_or_default().to_string();
        let refused = match flag.as_str() {
            "--file" | "--chart" | "--record" | "--dir" => Some(flag.clone()),
            "--source" => {
                let value = match a.split_once('=') {
                    Some((_, v)) => v.to_string(),
                    None => args.peek().cloned().unwrap_or_default(),
                };
                value
                    .starts_with("replay")
                    .then(|| "--source replay".to_string())
            }
            _ => None,
        };
        if let Some(what) = refused {
            return Err(Error::Auth(format!(
                "{what}: on this shared host {trader} is a trader, and the program does not read or write files for traders"
            )));
        }
        if !a.starts_with('-') {
            words.push(a);
        }
    }
    if words.windows(2).any(|w| w[0] == "stock" && w[1] == "load") {
        return Err(ascend::app::trader_refused("stock load", trader));
    }
    Ok(())
}

fn build_ctx(cli: &Cli) -> Result<Ctx, Error> {
    let unix_user = shared_host_trader();
    if let Some(trader) = &unix_user {
        refuse_files_for_trader(trader)?;
    }
    let now = cli.now.as_deref().map(Clock::parse).transpose()?;
    Ok(Ctx {
        format: cli.format.unwrap_or_else(Format::auto),
        user: cli.user.clone(),
        database_url: cli.database_url.clone(),
        pool_size: cli.pool_size,
        now,
        unix_user,
    })
}

async fn run(
    cli: Cli,
    matches: &clap::ArgMatches,
    loaded: &config::Loaded,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    let ctx = build_ctx(&cli)?;
    match cli.command {
        Command::Db(c) => c.run(&ctx, out).await,
        Command::User(c) => c.run(&ctx, out).await,
        Command::Login(c) => c.run(&ctx, out).await,
        Command::Logout => session::logout(&ctx, out).await,
        Command::Whoami => session::whoami(&ctx, out).await,
        Command::PlaceOrder(c) => c.run(&ctx, out).await,
        Command::Orders(c) => c.run(&ctx, out).await,
        Command::Cancel(c) => c.run(&ctx, out).await,
        Command::Modify(c) => c.run(&ctx, out).await,
        Command::Trades(c) => c.run(&ctx, out).await,
        Command::Settle(c) => c.run(&ctx, out).await,
        Command::Audit => audit::run(&ctx, out).await,
        Command::CrawlStocks(c) => c.run(&ctx, out).await,
        Command::Portfolio(c) => c.run(&ctx, out).await,
        Command::Snapshot(c) => c.run(&ctx, out).await,
        Command::Assets(c) => c.run(&ctx, out).await,
        Command::Stock(c) => c.run(&ctx, out).await,
        Command::Index(c) => c.run(&ctx, out).await,
        Command::Calendar(c) => c.run(&ctx, out).await,
        Command::Admin(c) => c.run(&ctx, out).await,
        Command::Config(ConfigCommand::Show(c)) => c.run(&ctx, matches, loaded, out),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "ascend", out);
            Ok(exit::OK)
        }
        Command::Man { dir: None } => {
            clap_mangen::Man::new(Cli::command())
                .render(out)
                .map_err(io_err)?;
            Ok(exit::OK)
        }
        Command::Man { dir: Some(dir) } => {
            clap_mangen::generate_to(Cli::command(), &dir).map_err(|e| {
                Error::rejected(format!(
                    "dir: cannot write the pages into {}: {e}",
                    dir.display()
                ))
            })?;
            Ok(exit::OK)
        }
    }
}

/// Turns an I/O error from writing output into an exit: a closed pipe (`ascend orders | head`)
/// is not a failure.
fn is_broken_pipe(e: &Error) -> bool {
    match e {
        Error::Unexpected(a) => a
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe),
        _ => false,
    }
}

fn main() -> ExitCode {
    // The config files fill the environment the flags fall back on, before clap reads it.
    let loaded = match config::load() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ASCEND_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(io::stderr)
        .with_timer(KstTime)
        .with_ansi(cli.color.on_stderr())
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(exit::INFRA);
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    // Ctrl-C or SIGTERM (systemd's stop) drops the use case mid-way: its open transaction
    // rolls back. A crawl handles the signal itself, to record the interrupted run; it gets a
    // moment to do so.
    let grace = std::time::Duration::from_secs(if cli.handles_signals() { 5 } else { 0 });
    let result = runtime.block_on(async {
        signals::install();
        tokio::select! {
            r = run(cli, &matches, &loaded, &mut out) => Ok(r),
            stop = async {
                let stop = signals::stopped().await;
                tokio::time::sleep(grace).await;
                stop
            } => Err(stop),
        }
    });
    let result = match result {
        Ok(r) => r,
        Err(stop) => {
            eprintln!(
                "interrupted by {}: the transaction in progress was rolled back",
                stop.name()
            );
            return ExitCode::from(stop.exit_code());
        }
    };
    let code = match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe && code == exit::OK => {
            ExitCode::from(exit::INFRA)
        }
        _ => ExitCode::from(code),
    }
}

/// Maps an output error into the program's error type.
pub fn io_err(e: io::Error) -> Error {
    Error::Unexpected(anyhow::Error::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument and subcommand says what it is for in `--help`.
    #[test]
    fn every_argument_and_subcommand_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(name.clone());
                }
                walk(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "ascend", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
