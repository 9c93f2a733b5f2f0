//! The `ascend` command line: parses arguments, calls one library use case, renders the result
//! and returns an exit code. No SQL and no business rule lives here.

mod admin;
mod assets;
mod audit;
mod bulk;
mod crawl;
mod db;
mod market;
mod orders;
mod output;
mod session;
mod settle;
mod signals;
mod stock;
mod user;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ascend::app::{Actor, App};
use ascend::clock::Clock;
use ascend::{exit, Error};

use output::Format;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the command ran and found problems (audit violations, bulk rows that failed)
  2  command-line usage error
  3  rejected: bad input or a broken rule (the message names the field and the rule)
  4  authentication: not logged in, wrong password, expired or forged session
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
#[command(name = "ascend", version, after_help = EXIT_CODES)]
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
    /// Output format of reads.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table, global = true)]
    format: Format,
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
/// itself. Without sudo the program runs as the service account (the timers).
fn shared_host_trader() -> Option<String> {
    let shared = std::env::var("ASCEND_SHARED_HOST").is_ok_and(|v| v == "1");
    shared
        .then(|| std::env::var("SUDO_USER").ok())
        .flatten()
        .filter(|u| !u.is_empty())
}

fn build_ctx(cli: &Cli) -> Result<Ctx, Error> {
    let now = cli.now.as_deref().map(Clock::parse).transpose()?;
    Ok(Ctx {
        format: cli.format,
        user: cli.user.clone(),
        database_url: cli.database_url.clone(),
        pool_size: cli.pool_size,
        now,
        unix_user: shared_host_trader(),
    })
}

async fn run(cli: Cli, out: &mut dyn Write) -> Result<u8, Error> {
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
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ASCEND_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
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
            r = run(cli, &mut out) => Ok(r),
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
