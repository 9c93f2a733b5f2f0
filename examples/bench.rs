//! Benchmarks of the trading core, run by `scripts/bench.sh` (never part of the tests).
//!
//!   cargo run --release --example bench -- --database-url URL place-orders --clients 8 --seconds 10
//!   cargo run --release --example bench -- --database-url URL settle --orders 100000
//!   cargo run --release --example bench -- --database-url URL crawl
//!   cargo run --release --example bench -- --database-url URL portfolio --holdings 50
//!   cargo run --release --example bench -- --database-url URL snapshot --users 100000
//!   cargo run --release --example bench -- --database-url URL import --orders 100000
//!
//! `settle`, `crawl` and `import` also run the `ascend` binary as a child process (by default
//! the one beside this example's directory, `target/release/ascend`; see `--ascend-bin`), under
//! GNU time (`/usr/bin/time -v`) for its wall time and peak memory. `settle` and `import` time
//! the binary alone: the example only builds the scenario and checks the outcome.
//!
//! Each run creates a throw-away database `ascend_bench_<pid>` on the server of `--database-url`
//! (`CREATE DATABASE`, the migrations, then the scenario) and drops it at the end unless
//! `--keep-db` is given. Figures go to stdout as `name=value` lines; logs and library errors go
//! to stderr. The exit status is non-zero when the library returned an error, when the audit
//! found a violation, or when a scenario did not end the way it was built to.
//!
//! The clock is fixed inside a regular session (Tuesday 2026-11-24, KST), so the results do not
//! depend on when the benchmark runs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use rust_decimal::Decimal;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::Barrier;

use ascend::app::orders::{self, OrderRequest};
use ascend::app::stocks::{self, StockQuote};
use ascend::app::{audit, settle, App};
use ascend::clock::Clock;
use ascend::domain::rules::{floor_to_tick, tick_size};
use ascend::domain::settings::SettingName;
use ascend::domain::{
    DisplayName, Email, OrderType, Password, Price, Quantity, Rulebook, Side, StockCode,
    TimeInForce,
};

/// When orders are placed: inside the regular session of a trading day.
const T_PLACE: &str = "2026-11-24 10:00";
/// When settle runs, after the prices moved (within the 15-minute freshness bound).
const T_SETTLE: &str = "2026-11-24 10:05";
/// A settle before the prices move (under a volume fill model: the look at the volumes).
const T_SETTLE_BEFORE: &str = "2026-11-24 10:04";

#[derive(Parser)]
#[command(about = "Benchmarks of the ascend trading core (figures as name=value on stdout)")]
struct Cli {
    /// Server to benchmark on; a database ascend_bench_<pid> is created there and dropped.
    #[arg(long, env = "DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Keep the benchmark database (for EXPLAIN ANALYZE afterwards); its name goes to stderr.
    #[arg(long, global = true)]
    keep_db: bool,
    /// Diagnosis: log the plan (EXPLAIN ANALYZE) of every statement slower than this many ms
    /// to the server log, through auto_explain (needs a superuser; figures get slower).
    #[arg(long, global = true, value_name = "MS")]
    explain_ms: Option<u64>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Concurrent `orders::place` calls: mostly resting limit buys, some marketable orders.
    PlaceOrders {
        /// Concurrent tasks placing orders.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// How long to place orders (ignored with --orders).
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Place exactly this many orders instead of running for --seconds.
        #[arg(long)]
        orders: Option<u64>,
        /// Users per task; each task cycles through its own users.
        #[arg(long, default_value_t = 50)]
        users_per_client: usize,
        /// Percent of orders that rest (limit buys below the price); the rest are marketable.
        #[arg(long, default_value_t = 80)]
        resting_pct: u64,
        /// Connection pool size (default: the larger of 8 and --clients).
        #[arg(long)]
        pool: Option<u32>,
        /// Initial cash of each user, in won.
        #[arg(long, default_value_t = 1_000_000_000)]
        cash: i64,
    },
    /// One `ascend settle` run (the binary, as an operator) over many resting orders, about
    /// half of them crossed, then the audit.
    Settle {
        /// Resting limit orders to create before settle.
        #[arg(long, default_value_t = 100_000)]
        orders: u64,
        /// Resting orders per user (so users = orders / this).
        #[arg(long, default_value_t = 10)]
        orders_per_user: u64,
        /// How many of each user's resting orders are sells (the user first buys the shares).
        #[arg(long, default_value_t = 2)]
        sells_per_user: u64,
        /// Concurrent tasks placing the orders during setup.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Connection pool size of the setup.
        #[arg(long, default_value_t = 8)]
        pool: u32,
        /// Users per settle transaction (`ascend settle --chunk`).
        #[arg(long, default_value_t = settle::DEFAULT_CHUNK)]
        chunk: usize,
        /// The deployment setting fill_model to settle with (e.g. `volume:0.1`); empty or
        /// absent: the setting is left alone, so the deployment default applies. With a model
        /// the fill rate is printed as settle_volume_fills_per_sec.
        #[arg(long, value_name = "MODEL")]
        fill_model: Option<String>,
        /// The `ascend` binary run for the settle.
        #[arg(long)]
        ascend_bin: Option<PathBuf>,
    },
    /// `crawl::crawl` of the full listing from a local stand-in of Naver's renewed JSON
    /// endpoints (every response delayed), the database write alone, the peak memory of
    /// `ascend crawl-stocks` doing the same crawl, and `crawl-stocks --history` of every symbol.
    Crawl {
        /// KOSPI stocks (stock/default, 200 a page).
        #[arg(long, default_value_t = 950)]
        kospi_stocks: usize,
        /// KOSDAQ stocks.
        #[arg(long, default_value_t = 1_820)]
        kosdaq_stocks: usize,
        /// ETFs and ETNs, listed on KOSPI (marketValue, 100 a page with the KOSPI stocks).
        #[arg(long, default_value_t = 1_000)]
        etps: usize,
        /// Delay of every response of the local server, in ms.
        #[arg(long, default_value_t = 50)]
        delay_ms: u64,
        /// Daily bars per symbol of the history crawl by the binary (0: no history crawl).
        #[arg(long, default_value_t = 5)]
        history: u32,
        /// The `ascend` binary run for the peak-memory and history figures.
        #[arg(long)]
        ascend_bin: Option<PathBuf>,
    },
    /// `portfolio::portfolio` of one user with many holdings, live quotes from a local
    /// polling server that answers after a delay.
    Portfolio {
        /// Holdings of the user (one stock each).
        #[arg(long, default_value_t = 50)]
        holdings: usize,
        /// Delay of every polling response, in ms.
        #[arg(long, default_value_t = 200)]
        delay_ms: u64,
        /// Timed runs; the median is reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// `snapshot::snapshot` of one date for many users, seeded with set-based SQL.
    Snapshot {
        /// Users, each holding --per-user stocks.
        #[arg(long, default_value_t = 100_000)]
        users: u64,
        /// Stocks held by each user.
        #[arg(long, default_value_t = 10)]
        per_user: u64,
        /// Stocks in the market (at least --per-user).
        #[arg(long, default_value_t = 100)]
        stocks: u64,
    },
    /// `ascend place-order --file` of a CSV of many orders for many users (operator mode),
    /// through the binary (its wall time and peak memory), then the audit.
    Import {
        /// Orders in the file.
        #[arg(long, default_value_t = 100_000)]
        orders: u64,
        /// Users named in the file.
        #[arg(long, default_value_t = 1_000)]
        users: usize,
        /// Percent of market buys (they fill at once); the rest are resting limit buys.
        #[arg(long, default_value_t = 10)]
        market_pct: u64,
        /// The `ascend` binary run for the import.
        #[arg(long)]
        ascend_bin: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("bench: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Runs the scenario in a fresh database; Ok(false) when it finished but found problems.
async fn run(cli: Cli) -> anyhow::Result<bool> {
    let url = cli
        .database_url
        .clone()
        .context("give --database-url or set DATABASE_URL")?;
    let admin_opts = PgConnectOptions::from_str(&url).context("parsing the database URL")?;
    let db = format!("ascend_bench_{}", std::process::id());
    let pool_size = match &cli.cmd {
        Cmd::PlaceOrders { pool, clients, .. } => pool.unwrap_or((*clients as u32).max(8)),
        Cmd::Settle { pool, .. } => *pool,
        Cmd::Crawl { .. } | Cmd::Portfolio { .. } | Cmd::Snapshot { .. } | Cmd::Import { .. } => 8,
    };
    let db_url = url_with_db(&url, &db)?;

    let mut admin = PgConnection::connect_with(&admin_opts)
        .await
        .context("connecting to the server")?;
    sqlx::query(&format!("CREATE DATABASE \"{db}\""))
        .execute(&mut admin)
        .await
        .with_context(|| format!("creating database {db}"))?;
    eprintln!("bench: created database {db}");

    let explain_ms = cli.explain_ms;
    let result = async {
        let pool = ascend::store::pool_options()
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if let Some(ms) = explain_ms {
                        for sql in [
                            "LOAD 'auto_explain'".to_string(),
                            format!("SET auto_explain.log_min_duration = {ms}"),
                            "SET auto_explain.log_analyze = on".to_string(),
                            "SET auto_explain.log_buffers = on".to_string(),
                            "SET auto_explain.log_nested_statements = on".to_string(),
                            "SET auto_explain.log_triggers = on".to_string(),
                        ] {
                            sqlx::query(&sql).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .max_connections(pool_size)
            .min_connections(pool_size)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(ascend::store::tune(admin_opts.clone().database(&db)))
            .await
            .with_context(|| format!("connecting to {db}"))?;
        ascend::store::MIGRATOR
            .run(&pool)
            .await
            .context("running the migrations")?;
        // The binaries the benchmarks run take their time from --now.
        ascend::app::admin::set(
            &App::new(pool.clone(), Clock::system(), Rulebook::default()),
            SettingName::Clock,
            "simulated",
        )
        .await?;
        let r = match cli.cmd {
            Cmd::PlaceOrders {
                clients,
                seconds,
                orders,
                users_per_client,
                resting_pct,
                cash,
                ..
            } => {
                place_orders(
                    &pool,
                    PlaceArgs {
                        clients: clients.max(1),
                        seconds,
                        orders,
                        users_per_client: users_per_client.max(1),
                        resting_pct: resting_pct.min(100),
                        cash,
                    },
                )
                .await
            }
            Cmd::Settle {
                orders,
                orders_per_user,
                sells_per_user,
                clients,
                chunk,
                fill_model,
                ascend_bin,
                ..
            } => {
                settle_bench(
                    &pool,
                    &db_url,
                    SettleArgs {
                        total_orders: orders,
                        per_user: orders_per_user.max(1),
                        sells: sells_per_user.min(orders_per_user.max(1)),
                        clients: clients.max(1),
                        chunk: chunk.max(1),
                        fill_model: fill_model.filter(|m| !m.trim().is_empty()),
                    },
                    &ascend_bin_or_default(ascend_bin)?,
                )
                .await
            }
            Cmd::Crawl {
                kospi_stocks,
                kosdaq_stocks,
                etps,
                delay_ms,
                history,
                ascend_bin,
            } => {
                crawl_bench(
                    &pool,
                    &db_url,
                    CrawlArgs {
                        kospi_stocks,
                        kosdaq_stocks,
                        etps,
                        delay: Duration::from_millis(delay_ms),
                        history,
                    },
                    &ascend_bin_or_default(ascend_bin)?,
                )
                .await
            }
            Cmd::Portfolio {
                holdings,
                delay_ms,
                runs,
            } => {
                portfolio_bench(
                    &pool,
                    holdings.max(1),
                    Duration::from_millis(delay_ms),
                    runs.max(1),
                )
                .await
            }
            Cmd::Snapshot {
                users,
                per_user,
                stocks,
            } => {
                snapshot_bench(
                    &pool,
                    users.max(1),
                    per_user.max(1),
                    stocks.max(per_user.max(1)),
                )
                .await
            }
            Cmd::Import {
                orders,
                users,
                market_pct,
                ascend_bin,
            } => {
                import_bench(
                    &pool,
                    &db_url,
                    orders.max(1),
                    users.max(1),
                    market_pct.min(100),
                    &ascend_bin_or_default(ascend_bin)?,
                )
                .await
            }
        };
        pool.close().await;
        r
    }
    .await;

    if cli.keep_db {
        eprintln!("bench: kept database {db}");
    } else {
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("dropping database {db}"))?;
        eprintln!("bench: dropped database {db}");
    }
    result
}

// --- helpers ----------------------------------------------------------------------------------

/// `url` with its database replaced by `db` (query parameters such as `host=` are kept), for
/// the `ascend` binary run as a child process on the benchmark database.
fn url_with_db(url: &str, db: &str) -> anyhow::Result<String> {
    let (base, query) = url.split_at(url.find('?').unwrap_or(url.len()));
    let (scheme, rest) = base
        .split_once("://")
        .with_context(|| format!("not a postgres:// URL: {url}"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    Ok(format!("{scheme}://{authority}/{db}{query}"))
}

/// The `ascend` binary: the one given, else `ascend` in the directory above this example's
/// (`target/release/examples/bench` → `target/release/ascend`).
fn ascend_bin_or_default(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let bin = match given {
        Some(b) => b,
        None => {
            let exe = std::env::current_exe().context("locating the bench executable")?;
            exe.parent()
                .and_then(Path::parent)
                .context("the bench executable has no grandparent directory")?
                .join("ascend")
        }
    };
    anyhow::ensure!(
        bin.is_file(),
        "{} is missing: build it with `cargo build --release --bin ascend` or give --ascend-bin",
        bin.display()
    );
    Ok(bin)
}

/// The median of some durations, in ms.
fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort_unstable();
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2].as_secs_f64() * 1000.0
}

/// `n` with thousands separators, as Naver prints numbers.
fn commas(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A decimal with thousands separators in its integer part (`1,234.50`).
fn commas_dec(d: Decimal) -> String {
    let s = d.abs().to_string();
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(a, b)| (a, Some(b)));
    let mut out = if d.is_sign_negative() && !d.is_zero() {
        "-".to_string()
    } else {
        String::new()
    };
    out.push_str(&commas(int.parse().unwrap_or(0)));
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

fn market_order(code: &StockCode, side: Side, qty: i64) -> anyhow::Result<OrderRequest> {
    Ok(OrderRequest {
        code: code.clone(),
        side,
        quantity: Quantity::new(qty)?,
        limit: None,
        tif: TimeInForce::Day,
        idempotency_key: None,
        stop: None,
        order_type: OrderType::Market,
    })
}

/// splitmix64: a small deterministic generator (the example uses no extra crates).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn clock(s: &str) -> anyhow::Result<Clock> {
    Ok(Clock::parse(s)?)
}

/// A price `ticks` ticks away from `base` (negative: below), on the tick of its level.
fn price_off(base: Decimal, ticks: i64) -> anyhow::Result<Price> {
    let p = floor_to_tick(base + tick_size(base) * Decimal::from(ticks));
    Ok(Price::new(p)?)
}

fn limit_order(
    code: &StockCode,
    side: Side,
    qty: i64,
    limit: Price,
) -> anyhow::Result<OrderRequest> {
    Ok(OrderRequest {
        code: code.clone(),
        side,
        quantity: Quantity::new(qty)?,
        limit: Some(limit),
        tif: TimeInForce::Day,
        idempotency_key: None,
        stop: None,
        order_type: OrderType::Limit,
    })
}

/// Upserts the stocks at `at`, each with its price and a previous close.
async fn load_stocks(
    app: &App,
    stocks: &[(StockCode, Decimal, Decimal)],
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    load_stocks_traded(app, stocks, at, None).await
}

/// [`load_stocks`], each stock with the day's cumulative `volume` when given.
async fn load_stocks_traded(
    app: &App,
    stocks: &[(StockCode, Decimal, Decimal)],
    at: DateTime<Utc>,
    volume: Option<i64>,
) -> anyhow::Result<()> {
    let quotes = stocks
        .iter()
        .map(|(code, price, prev)| {
            StockQuote::parse(
                code.as_str(),
                &format!("BENCH {code}"),
                "KOSPI",
                *price,
                *prev,
            )
            .map(|q| StockQuote { volume, ..q })
        })
        .collect::<Result<Vec<_>, _>>()?;
    stocks::upsert(app, &quotes, at).await?;
    Ok(())
}

/// Creates `n` users with one precomputed password hash (argon2 is slow by design), through
/// `store::users::insert` (user, cash account, grant in the ledger), 200 per transaction, with
/// `tasks` concurrent writers. Returns their ids in creation order.
async fn create_users(
    app: &App,
    n: usize,
    cash: Decimal,
    tasks: usize,
) -> anyhow::Result<Vec<i64>> {
    let hash = Arc::new(ascend::app::users::hash_password(&Password::parse(
        "bench-password",
    )?)?);
    let at = app.clock.now();
    let per = n.div_ceil(tasks.max(1)).max(1);
    let mut handles = Vec::new();
    for start in (0..n).step_by(per) {
        let end = (start + per).min(n);
        let (pool, hash) = (app.pool.clone(), hash.clone());
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(end - start);
            let mut i = start;
            while i < end {
                let stop = (i + 200).min(end);
                let mut tx = pool.begin().await?;
                for k in i..stop {
                    let email = Email::parse(&format!("bench-{k}@example.com"))?;
                    let name = DisplayName::parse(&format!("Bench user {k}"))?;
                    let u = ascend::store::users::insert(&mut tx, &email, &name, &hash, cash, at)
                        .await?;
                    ids.push(u.id);
                }
                tx.commit().await?;
                i = stop;
            }
            anyhow::Ok(ids)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for h in handles {
        all.extend(h.await??);
    }
    Ok(all)
}

/// Library errors by message (verbatim), with the first one's debug form.
#[derive(Default)]
struct Errors {
    by_message: BTreeMap<String, (u64, String)>,
}

impl Errors {
    fn add(&mut self, e: &ascend::Error) {
        let entry = self
            .by_message
            .entry(e.to_string())
            .or_insert_with(|| (0, format!("{e:?}")));
        entry.0 += 1;
    }
    fn merge(&mut self, o: Errors) {
        for (k, (n, d)) in o.by_message {
            self.by_message.entry(k).or_insert((0, d)).0 += n;
        }
    }
    fn total(&self) -> u64 {
        self.by_message.values().map(|v| v.0).sum()
    }
    fn report(&self, what: &str) {
        for (msg, (n, debug)) in &self.by_message {
            eprintln!("bench: {what}: library error x{n}: {msg}");
            eprintln!("bench:     first occurrence: {debug}");
        }
    }
}

fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((p * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    f64::from(sorted_us[i]) / 1000.0
}

/// Runs the audit, prints `<prefix>audit_violations=<n>` (and the violations on stderr).
async fn run_audit(app: &App, prefix: &str) -> anyhow::Result<usize> {
    let t = Instant::now();
    let report = audit::audit(app).await?;
    for v in report.violations.iter().take(50) {
        eprintln!(
            "bench: audit violation (invariant {}): {}",
            v.invariant, v.detail
        );
    }
    if report.violations.len() > 50 {
        eprintln!(
            "bench: ... and {} more violations",
            report.violations.len() - 50
        );
    }
    println!("{prefix}audit_seconds={:.3}", t.elapsed().as_secs_f64());
    println!("{prefix}audit_violations={}", report.violations.len());
    Ok(report.violations.len())
}

// --- place-orders -----------------------------------------------------------------------------

struct PlaceArgs {
    clients: usize,
    seconds: f64,
    orders: Option<u64>,
    users_per_client: usize,
    resting_pct: u64,
    cash: i64,
}

/// What one task did.
#[derive(Default)]
struct TaskStats {
    placed: u64,
    filled: u64,
    /// Marketable orders that did not fill, or resting ones that did: the scenario is off.
    surprises: u64,
    latencies_us: Vec<u32>,
    errors: Errors,
}

async fn place_orders(pool: &PgPool, a: PlaceArgs) -> anyhow::Result<bool> {
    let app = App::new(pool.clone(), clock(T_PLACE)?, Rulebook::default());
    let now = app.clock.now();
    // Three price levels (ticks 10, 100 and 5); the prices stay put during the run.
    let stocks: Vec<(StockCode, Decimal, Decimal)> = [
        ("900001", 10_000, 10_000),
        ("900002", 55_900, 56_000),
        ("900003", 3_000, 2_990),
        ("900004", 18_000, 17_500),
        ("900005", 120_000, 121_000),
    ]
    .iter()
    .map(|(c, p, prev)| {
        Ok((
            StockCode::parse(c)?,
            Decimal::from(*p),
            Decimal::from(*prev),
        ))
    })
    .collect::<anyhow::Result<_>>()?;
    load_stocks(&app, &stocks, now).await?;

    let setup = Instant::now();
    let users = create_users(
        &app,
        a.clients * a.users_per_client,
        Decimal::from(a.cash),
        a.clients,
    )
    .await?;
    eprintln!(
        "bench: place-orders: {} users in {:.2}s; {} clients, pool {}, {}",
        users.len(),
        setup.elapsed().as_secs_f64(),
        a.clients,
        pool.size(),
        match a.orders {
            Some(n) => format!("{n} orders"),
            None => format!("{}s", a.seconds),
        }
    );

    let barrier = Arc::new(Barrier::new(a.clients + 1));
    let stocks = Arc::new(stocks);
    let deadline_after = Duration::from_secs_f64(a.seconds.max(0.1));
    let mut handles = Vec::new();
    for (t, mine) in users.chunks(a.users_per_client).enumerate() {
        let quota = a
            .orders
            .map(|n| n / a.clients as u64 + u64::from((t as u64) < n % a.clients as u64));
        let (app, barrier, stocks, mine) =
            (app.clone(), barrier.clone(), stocks.clone(), mine.to_vec());
        let resting_pct = a.resting_pct;
        handles.push(tokio::spawn(async move {
            let mut rng = Rng(0xA5CE_0000 + t as u64);
            let mut st = TaskStats::default();
            // Shares each of my users holds per stock, known locally: only this task trades them.
            let mut held = vec![vec![0i64; stocks.len()]; mine.len()];
            barrier.wait().await;
            let deadline = Instant::now() + deadline_after;
            let mut i = 0usize;
            loop {
                match quota {
                    Some(q) if st.placed + st.errors.total() >= q => break,
                    None if Instant::now() >= deadline => break,
                    _ => {}
                }
                let u = i % mine.len();
                i += 1;
                let s = rng.below(stocks.len() as u64) as usize;
                let (code, price, _) = &stocks[s];
                let qty = 1 + rng.below(10) as i64;
                let roll = rng.below(100);
                // (request, expected to fill now, shares bought (+) or sold (-) if it fills)
                let (req, marketable, delta) = if roll < resting_pct {
                    let ticks = 1 + rng.below(50) as i64;
                    (
                        limit_order(code, Side::Buy, qty, price_off(*price, -ticks)?)?,
                        false,
                        0,
                    )
                } else if roll % 2 == 0 && held[u][s] > 0 {
                    let q = qty.min(held[u][s]);
                    let ticks = rng.below(3) as i64;
                    (
                        limit_order(code, Side::Sell, q, price_off(*price, -ticks)?)?,
                        true,
                        -q,
                    )
                } else {
                    let ticks = rng.below(3) as i64;
                    (
                        limit_order(code, Side::Buy, qty, price_off(*price, ticks)?)?,
                        true,
                        qty,
                    )
                };
                let t0 = Instant::now();
                let r = orders::place(&app, mine[u], &req).await;
                let us = t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                match r {
                    Ok(p) => {
                        st.placed += 1;
                        st.latencies_us.push(us);
                        if p.fill.is_some() {
                            st.filled += 1;
                            held[u][s] += delta;
                        }
                        if p.fill.is_some() != marketable {
                            st.surprises += 1;
                        }
                    }
                    Err(e) => st.errors.add(&e),
                }
            }
            anyhow::Ok(st)
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut all = TaskStats::default();
    for h in handles {
        let st = h.await??;
        all.placed += st.placed;
        all.filled += st.filled;
        all.surprises += st.surprises;
        all.latencies_us.extend(st.latencies_us);
        all.errors.merge(st.errors);
    }
    let secs = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let lat = &all.latencies_us;

    println!("place_order_clients={}", a.clients);
    println!("place_order_users={}", users.len());
    println!("place_order_count={}", all.placed);
    println!("place_order_filled={}", all.filled);
    println!("place_order_seconds={secs:.3}");
    println!("place_order_tps={:.1}", all.placed as f64 / secs);
    println!("place_order_p50_ms={:.3}", percentile_ms(lat, 0.50));
    println!("place_order_p99_ms={:.3}", percentile_ms(lat, 0.99));
    println!("place_order_max_ms={:.3}", percentile_ms(lat, 1.0));
    println!("place_order_errors={}", all.errors.total());
    all.errors.report("place-orders");
    if all.surprises > 0 {
        eprintln!(
            "bench: place-orders: {} orders did not fill the way they were built to",
            all.surprises
        );
    }
    let violations = run_audit(&app, "place_order_").await?;
    Ok(all.errors.total() == 0 && all.surprises == 0 && violations == 0)
}

// --- settle -----------------------------------------------------------------------------------

const STOCK_BASE: i64 = 10_000;
/// Resting limits are 1..=100 ticks away from the price; the price then moves 50 ticks
/// towards them, so the orders 1..=50 ticks away (half) cross.
const SPREAD_TICKS: u64 = 100;
const MOVE_TICKS: i64 = 50;
const SETTLE_QTY: i64 = 10;
const N_STOCKS: usize = 10;
/// The cumulative volume of each settle stock when the orders are placed.
const SETTLE_VOLUME: i64 = 1_000_000;

struct SettleArgs {
    total_orders: u64,
    per_user: u64,
    sells: u64,
    clients: usize,
    chunk: usize,
    /// The value of the setting fill_model to set before settle; `None`: left alone.
    fill_model: Option<String>,
}

/// The fields of `ascend settle -f json` the benchmark reads.
#[derive(serde::Deserialize)]
struct SettleOutput {
    filled: u64,
    skipped_stale: u64,
    retried_busy: u64,
    batches: u64,
    /// The settle itself, as the binary timed it (without start-up and connecting).
    seconds: f64,
}

async fn settle_bench(
    pool: &PgPool,
    db_url: &str,
    a: SettleArgs,
    ascend_bin: &Path,
) -> anyhow::Result<bool> {
    let SettleArgs {
        total_orders,
        per_user,
        sells,
        clients,
        chunk,
        fill_model,
    } = a;
    // The fill model under test is a deployment setting like settle_workers, set the way an
    // operator sets it (`ascend admin settings set fill_model MODEL`) once the setup is placed.
    let fill_model = fill_model
        .map(|model| {
            SettingName::from_name("fill_model")
                .map(|name| (name, model))
                .context("--fill-model: this build of ascend has no setting fill_model")
        })
        .transpose()?;
    let app = App::new(pool.clone(), clock(T_PLACE)?, Rulebook::default());
    let base = Decimal::from(STOCK_BASE);
    // Buy-side stocks fall MOVE_TICKS after the orders rest; sell-side stocks rise.
    let buy_codes: Vec<StockCode> = (0..N_STOCKS)
        .map(|i| StockCode::parse(&format!("91{i:04}")))
        .collect::<Result<_, _>>()?;
    let sell_codes: Vec<StockCode> = (0..N_STOCKS)
        .map(|i| StockCode::parse(&format!("92{i:04}")))
        .collect::<Result<_, _>>()?;
    let at_base: Vec<_> = buy_codes
        .iter()
        .chain(&sell_codes)
        .map(|c| (c.clone(), base, base))
        .collect();
    load_stocks_traded(&app, &at_base, app.clock.now(), Some(SETTLE_VOLUME)).await?;

    let n_users = total_orders.div_ceil(per_user) as usize;
    let t_users = Instant::now();
    let users = create_users(
        &app,
        n_users,
        Decimal::from(ascend::app::users::DEFAULT_INITIAL_CASH),
        clients,
    )
    .await?;
    let users_secs = t_users.elapsed().as_secs_f64();
    eprintln!("bench: settle: {n_users} users in {users_secs:.2}s; placing orders");

    // Each task places its users' orders one user at a time: first a marketable buy of the
    // shares the user will offer, then the resting orders.
    let t_orders = Instant::now();
    let per_task = users.len().div_ceil(clients).max(1);
    let mut handles = Vec::new();
    for (t, mine) in users.chunks(per_task).enumerate() {
        let (app, mine, buy_codes, sell_codes) = (
            app.clone(),
            mine.to_vec(),
            buy_codes.clone(),
            sell_codes.clone(),
        );
        let first = t * per_task;
        handles.push(tokio::spawn(async move {
            let mut rng = Rng(0x5E77_1E00 + t as u64);
            let (mut resting, mut crossing, mut setup_fills, mut placed) = (0u64, 0u64, 0u64, 0u64);
            let mut surprises = 0u64;
            let mut errors = Errors::default();
            for (k, &uid) in mine.iter().enumerate() {
                let n = (first + k) as u64;
                // The last user may get fewer orders so the total is exact.
                let mine_orders = per_user.min(total_orders.saturating_sub(n * per_user));
                let my_sells = sells.min(mine_orders);
                let sell_code = &sell_codes[n as usize % N_STOCKS];
                let mut reqs = Vec::new();
                if my_sells > 0 {
                    let q = SETTLE_QTY * my_sells as i64;
                    reqs.push((
                        limit_order(sell_code, Side::Buy, q, price_off(base, 0)?)?,
                        true,
                        false,
                    ));
                }
                for j in 0..mine_orders {
                    let ticks = 1 + rng.below(SPREAD_TICKS) as i64;
                    let crosses = ticks <= MOVE_TICKS;
                    let req = if j < my_sells {
                        limit_order(sell_code, Side::Sell, SETTLE_QTY, price_off(base, ticks)?)?
                    } else {
                        let code = &buy_codes[(n + j) as usize % N_STOCKS];
                        limit_order(code, Side::Buy, SETTLE_QTY, price_off(base, -ticks)?)?
                    };
                    reqs.push((req, false, crosses));
                }
                for (req, fills_now, crosses) in reqs {
                    match orders::place(&app, uid, &req).await {
                        Ok(p) => {
                            placed += 1;
                            if p.fill.is_some() != fills_now {
                                surprises += 1;
                            }
                            if fills_now {
                                setup_fills += 1;
                            } else {
                                resting += 1;
                                crossing += u64::from(crosses);
                            }
                        }
                        Err(e) => errors.add(&e),
                    }
                }
            }
            anyhow::Ok((resting, crossing, setup_fills, placed, surprises, errors))
        }));
    }
    let (mut resting, mut crossing, mut setup_fills, mut placed, mut surprises) = (0, 0, 0, 0, 0);
    let mut errors = Errors::default();
    for h in handles {
        let (r, c, f, p, s, e) = h.await??;
        resting += r;
        crossing += c;
        setup_fills += f;
        placed += p;
        surprises += s;
        errors.merge(e);
    }
    let orders_secs = t_orders.elapsed().as_secs_f64();
    println!("settle_setup_users={n_users}");
    println!("settle_setup_users_seconds={users_secs:.3}");
    println!("settle_setup_orders_placed={placed}");
    println!("settle_setup_marketable_fills={setup_fills}");
    println!("settle_setup_orders_seconds={orders_secs:.3}");
    println!("settle_setup_place_tps={:.1}", placed as f64 / orders_secs);
    println!("settle_setup_errors={}", errors.total());
    errors.report("settle setup");
    if surprises > 0 {
        eprintln!(
            "bench: settle setup: {surprises} orders did not fill the way they were built to"
        );
    }

    // Under a fill model other than the default, settle first looks at the volumes once
    // before the prices move (a day's first settle takes note of them and fills nothing by
    // them), as the timer's settle of the minute before would have.
    let app = App::new(pool.clone(), clock(T_SETTLE)?, Rulebook::default());
    if let Some((name, model)) = &fill_model {
        ascend::app::admin::set(&app, *name, model).await?;
        println!("settle_fill_model={model}");
        let args = ["--database-url", db_url, "--format", "json", "settle"];
        let env = [("ASCEND_NOW", T_SETTLE_BEFORE.to_string())];
        let (_, _, out) = ascend_timed(ascend_bin, &args, &env).await?;
        anyhow::ensure!(
            out.status.success(),
            "the settle before the prices move failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Prices move at T_SETTLE: buy-side stocks down, sell-side stocks up, by MOVE_TICKS. Each
    // stock trades five times the shares of its crossed orders meanwhile (under volume:0.1,
    // half of them may fill).
    let traded = 5 * SETTLE_QTY * crossing as i64 / (2 * N_STOCKS as i64);
    let moved: Vec<_> = buy_codes
        .iter()
        .map(|c| Ok((c.clone(), price_off(base, -MOVE_TICKS)?.get(), base)))
        .chain(
            sell_codes
                .iter()
                .map(|c| Ok((c.clone(), price_off(base, MOVE_TICKS)?.get(), base))),
        )
        .collect::<anyhow::Result<_>>()?;
    load_stocks_traded(&app, &moved, app.clock.now(), Some(SETTLE_VOLUME + traded)).await?;
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'open'")
        .fetch_one(pool)
        .await?;
    // Fresh statistics, as autovacuum would have them on a long-running server.
    sqlx::query("ANALYZE").execute(pool).await?;

    eprintln!("bench: settle: {open} open orders, {crossing} crossed; running ascend settle");
    let chunk = chunk.to_string();
    let args = [
        "--database-url",
        db_url,
        "--format",
        "json",
        "settle",
        "--chunk",
        &chunk,
    ];
    let env = [("ASCEND_NOW", T_SETTLE.to_string())];
    let (secs, rss, out) = ascend_timed(ascend_bin, &args, &env).await?;
    let Some(rss) = rss else {
        println!("settle_orders={open}");
        println!("settle_error=1");
        return Ok(false);
    };
    let summary: SettleOutput = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "reading the output of ascend settle -f json: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    // With a fill model other than the default the rate gets its own name: it is not the
    // figure the default model's target is about.
    let rate_name = if fill_model.is_some() {
        "settle_volume_fills_per_sec"
    } else {
        "settle_fills_per_sec"
    };
    println!("settle_orders={open}");
    println!("settle_expected_fills={crossing}");
    println!("settle_fills={}", summary.filled);
    println!("settle_batches={}", summary.batches);
    println!("settle_retried_busy={}", summary.retried_busy);
    println!("settle_skipped_stale={}", summary.skipped_stale);
    println!("settle_seconds={secs:.3}");
    println!("settle_reported_seconds={:.3}", summary.seconds);
    println!("{rate_name}={:.1}", summary.filled as f64 / secs);
    println!("settle_peak_rss_mb={rss:.1}");
    // Every crossed order fills under the default model; another model may fill fewer of them
    // (or fill them in part), so then only the open orders before settle are checked.
    let ok_fills = open as u64 == resting && (fill_model.is_some() || summary.filled == crossing);
    if !ok_fills {
        eprintln!(
            "bench: settle: expected {crossing} fills of {resting} resting orders, got {} fills of {open} open orders",
            summary.filled
        );
    }
    let violations = run_audit(&app, "").await?;
    if violations > 0 {
        eprintln!("bench: settle: the audit found violations (see above)");
    }
    Ok(errors.total() == 0 && surprises == 0 && ok_fills && violations == 0)
}

// --- crawl ------------------------------------------------------------------------------------

// The stand-in of Naver's renewed site that the integration tests use.
#[allow(dead_code)]
#[path = "../tests/common/naver_site.rs"]
mod naver_site;

struct CrawlArgs {
    kospi_stocks: usize,
    kosdaq_stocks: usize,
    etps: usize,
    delay: Duration,
    history: u32,
}

/// The value of `key` in `/usr/bin/time -v` output (`\tMaximum resident set size (kbytes): 1234`).
fn time_v_field<'a>(stderr: &'a str, key: &str) -> Option<&'a str> {
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix(key)?.trim().strip_prefix(':'))
        .map(str::trim)
}

/// Runs `ascend ARGS` with `env` under GNU time (`/usr/bin/time -v`: the child's maximum
/// resident set size, from wait4). Returns the wall seconds, the peak RSS in MB and the output;
/// `None` for the RSS when the run failed.
///
/// The child runs as the database role of its `--database-url` (the owner of the benchmark
/// database, so an operator), not for a user: ASCEND_USER, ASCEND_NOW and ASCEND_LOG of the
/// caller's environment are removed before `env` is applied, and the config files are an
/// empty directory's (ASCEND_CONFIG_DIR, ASCEND_SYSTEM_CONFIG), so a developer's own files
/// cannot change the run.
async fn ascend_timed(
    ascend_bin: &Path,
    args: &[&str],
    env: &[(&'static str, String)],
) -> anyhow::Result<(f64, Option<f64>, std::process::Output)> {
    let config = tempfile::tempdir().context("creating an empty config directory")?;
    let t = Instant::now();
    let out = tokio::process::Command::new("/usr/bin/time")
        .arg("-v")
        .arg(ascend_bin)
        .args(args)
        .env_remove("ASCEND_USER")
        .env_remove("ASCEND_NOW")
        .env_remove("ASCEND_LOG")
        .env("ASCEND_CONFIG_DIR", config.path())
        .env("ASCEND_SYSTEM_CONFIG", config.path().join("system.toml"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .with_context(|| {
            format!(
                "running /usr/bin/time -v {} (is GNU time installed?)",
                ascend_bin.display()
            )
        })?;
    let secs = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        eprintln!(
            "bench: ascend {} failed ({}); first lines of its stderr:",
            args.join(" "),
            out.status
        );
        for l in stderr.lines().take(20) {
            eprintln!("bench:     {l}");
        }
        return Ok((secs, None, out));
    }
    let rss_kb: u64 = time_v_field(&stderr, "Maximum resident set size (kbytes)")
        .and_then(|v| v.parse().ok())
        .with_context(|| {
            format!("no maximum resident set size in the output of time -v:\n{stderr}")
        })?;
    Ok((secs, Some(rss_kb as f64 / 1024.0), out))
}

async fn crawl_bench(
    pool: &PgPool,
    db_url: &str,
    a: CrawlArgs,
    ascend_bin: &Path,
) -> anyhow::Result<bool> {
    use ascend::app::crawl::{crawl, CrawlOptions};
    use ascend::domain::{rules, Market};
    use ascend::market::checked_quote;
    use ascend::market::naver::{Naver, NaverConfig};
    use naver_site::{Host, NaverSite, SiteSpec};

    let app = App::new(pool.clone(), clock(T_PLACE)?, Rulebook::default());
    let site = NaverSite::start(SiteSpec {
        kospi: a.kospi_stocks,
        kosdaq: a.kosdaq_stocks,
        etps: a.etps,
        delay: a.delay,
        ..SiteSpec::full()
    })
    .await;
    let total = site.codes().len() as u64;
    // What the crawl must store: the listing rows as the parsers read them, checked as the
    // crawl checks them. These quotes are also what the separate upsert timing writes.
    let day = rules::trade_date(app.clock.now());
    let mut quotes = Vec::new();
    for market in [Market::Kospi, Market::Kosdaq] {
        for row in site.expected_listing(market) {
            quotes.push(checked_quote(&row, day).map_err(anyhow::Error::msg)?);
        }
    }
    anyhow::ensure!(
        quotes.len() as u64 == total,
        "the site lists {total} codes but {} rows",
        quotes.len()
    );
    eprintln!(
        "bench: crawl: {} + {} stocks and {} ETFs/ETNs, responses delayed {} ms",
        site.count_stocks(Market::Kospi),
        site.count_stocks(Market::Kosdaq),
        site.count_etps(),
        a.delay.as_millis()
    );

    // The client as the binary configures it (politeness defaults), every host on the site.
    let config = || {
        let mut c = NaverConfig::default();
        for (setting, uri) in site.env() {
            c.set_host(setting, uri);
        }
        c
    };
    let defaults = config();
    let opts = CrawlOptions {
        markets: vec![Market::Kospi, Market::Kosdaq],
        history_days: None,
        min_rows: 500,
        source: "naver".into(),
        concurrency: 8,
        allow_mass_unlist: false,
    };
    let t = Instant::now();
    let result = crawl(&app, &Naver::http(config(), app.clock)?, &opts, &|_| {}).await;
    let wall = t.elapsed().as_secs_f64();
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench: crawl: library error: {e}");
            println!("crawl_error=1");
            return Ok(false);
        }
    };
    let host_name = |h: Host| match h {
        Host::Stock => "stock",
        Host::MStock => "mstock",
        Host::Polling => "polling",
        Host::Chart => "chart",
    };
    let per_host = defaults.per_host.get();
    let slot_time = a.delay + defaults.pause;
    // Each host's requests in rounds of `per_host`, one response delay and one pause each,
    // plus a second for everything else.
    let rounds: usize = Host::ALL
        .iter()
        .map(|&h| site.count(h).div_ceil(per_host))
        .sum();
    let bound = rounds as f64 * slot_time.as_secs_f64() + 1.0;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM stocks WHERE listed")
        .fetch_one(pool)
        .await?;
    println!("crawl_delay_ms={}", a.delay.as_millis());
    println!("crawl_pause_ms={}", defaults.pause.as_millis());
    println!("crawl_per_host={per_host}");
    for h in Host::ALL {
        println!("crawl_requests_{}={}", host_name(h), site.count(h));
    }
    println!(
        "crawl_max_in_flight={}",
        Host::ALL
            .iter()
            .map(|&h| site.max_in_flight(h))
            .max()
            .unwrap_or(0)
    );
    println!("crawl_requests={}", site.request_count());
    println!("crawl_rows={}", summary.rows);
    println!("crawl_etfs={}", summary.etfs);
    println!("crawl_etns={}", summary.etns);
    println!("crawl_wall_seconds={wall:.3}");
    println!("crawl_wall_bound_seconds={bound:.3}");
    eprintln!(
        "bench: crawl: bound = {rounds} rounds of {per_host} requests per host × ({} ms + {} ms) + 1 s",
        a.delay.as_millis(),
        defaults.pause.as_millis()
    );
    let mut ok = summary.rows == total && stored as u64 == total && summary.indices == 2;
    if !ok {
        eprintln!(
            "bench: crawl: expected {total} rows and 2 indices, got {} rows ({stored} stored) and {} indices",
            summary.rows, summary.indices
        );
    }

    // The same crawl again over the stored listing, as every crawl after the first one.
    let t = Instant::now();
    let rerun = crawl(&app, &Naver::http(config(), app.clock)?, &opts, &|_| {}).await;
    let rerun_wall = t.elapsed().as_secs_f64();
    match rerun {
        Ok(s) if s.rows == total && s.new == 0 => {}
        Ok(s) => {
            eprintln!(
                "bench: crawl: the second crawl wrote {} rows, {} new (expected {total}, 0)",
                s.rows, s.new
            );
            ok = false;
        }
        Err(e) => {
            eprintln!("bench: crawl: second crawl: library error: {e}");
            ok = false;
        }
    }
    println!("crawl_rerun_wall_seconds={rerun_wall:.3}");

    // The database write alone: the full listing into an empty stocks table (as the first
    // crawl of a fresh database), then again over the stored rows (as every later crawl).
    sqlx::query("TRUNCATE stocks, indices, crawl_runs CASCADE")
        .execute(pool)
        .await?;
    let at = app.clock.now();
    let t = Instant::now();
    let first = stocks::upsert(&app, &quotes, at).await?;
    let upsert_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let again = stocks::upsert(&app, &quotes, at).await?;
    let rerun_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!("crawl_upsert_rows={}", quotes.len());
    println!("crawl_upsert_ms={upsert_ms:.1}");
    println!("crawl_upsert_rerun_ms={rerun_ms:.1}");
    if first.new != total || again.new != 0 {
        eprintln!(
            "bench: crawl: upsert wrote {} new rows, then {} (expected {total}, then 0)",
            first.new, again.new
        );
        ok = false;
    }

    // The same crawl by the binary, into the emptied tables, for its peak memory.
    sqlx::query("TRUNCATE stocks, indices, crawl_runs CASCADE")
        .execute(pool)
        .await?;
    let env = site.env();
    let listing_args = [
        "--database-url",
        db_url,
        "--now",
        T_PLACE,
        "crawl-stocks",
        "--any-day",
    ];
    let (child_secs, rss, _) = ascend_timed(ascend_bin, &listing_args, &env).await?;
    let Some(rss) = rss else { return Ok(false) };
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM stocks WHERE listed")
        .fetch_one(pool)
        .await?;
    println!("crawl_child_seconds={child_secs:.3}");
    println!("crawl_child_rows={stored}");
    println!("crawl_peak_rss_mb={rss:.1}");
    if stored as u64 != total {
        eprintln!("bench: crawl: the binary stored {stored} rows, expected {total}");
        ok = false;
    }

    // Daily bars of every symbol through the binary: one chart request each, at the polite
    // rate.
    if a.history > 0 {
        site.clear_log();
        let days = a.history.to_string();
        let mut args = listing_args.to_vec();
        args.extend(["--history", &days]);
        let (secs, rss, _) = ascend_timed(ascend_bin, &args, &env).await?;
        let Some(rss) = rss else { return Ok(false) };
        let (symbols, bars): (i64, i64) =
            sqlx::query_as("SELECT count(DISTINCT symbol), count(*) FROM daily_bars")
                .fetch_one(pool)
                .await?;
        let charts = site.count(Host::Chart);
        println!("crawl_history_days={}", a.history);
        println!("crawl_history_chart_requests={charts}");
        println!("crawl_history_symbols={symbols}");
        println!("crawl_history_bars={bars}");
        println!("crawl_history_wall_seconds={secs:.3}");
        println!(
            "crawl_history_wall_bound_seconds={:.3}",
            charts.div_ceil(per_host) as f64 * slot_time.as_secs_f64() + bound
        );
        println!("crawl_history_peak_rss_mb={rss:.1}");
        if symbols as u64 != total + 2 {
            eprintln!(
                "bench: crawl: the history crawl stored bars of {symbols} symbols, expected {}",
                total + 2
            );
            ok = false;
        }
    }
    Ok(ok)
}

// --- portfolio --------------------------------------------------------------------------------

/// The polling host: `/api/realtime/domestic/stock/CODE,CODE,...` answered with one item per
/// known code, in the shape of `tests/fixtures/naver/polling_realtime_005930_000660.json`,
/// after `delay`.
struct PollingSite {
    items: HashMap<String, String>,
    delay: Duration,
    hits: Arc<AtomicU64>,
}

impl wiremock::Respond for PollingSite {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        self.hits.fetch_add(1, Ordering::Relaxed);
        let Some(codes) = request
            .url
            .path()
            .strip_prefix("/api/realtime/domestic/stock/")
        else {
            return wiremock::ResponseTemplate::new(404).set_delay(self.delay);
        };
        let datas: Vec<&str> = codes
            .split(',')
            .filter_map(|c| self.items.get(c).map(String::as_str))
            .collect();
        let body = format!(
            r#"{{"pollingInterval":7000,"datas":[{}],"time":"20261124100000"}}"#,
            datas.join(",")
        );
        wiremock::ResponseTemplate::new(200)
            .insert_header("content-type", "application/json;charset=UTF-8")
            .set_body_bytes(body.into_bytes())
            .set_delay(self.delay)
    }
}

/// One polling item: `price` one tick above `prev`, rising.
fn polling_item(code: &str, prev: Decimal, price: Decimal) -> String {
    let change = price - prev;
    let rate = (change * Decimal::from(100) / prev).round_dp(2);
    format!(
        r#"{{"itemCode":"{code}","stockName":"벤치 {code}","closePrice":"{price}","compareToPreviousClosePrice":"{change}","compareToPreviousPrice":{{"code":"2","text":"상승","name":"RISING"}},"fluctuationsRatio":"{rate:.2}","marketStatus":"OPEN","tradeStopType":{{"code":"1","text":"운영.Trading","name":"TRADING"}},"tradableStatus":"tradable","accumulatedTradingVolume":"1,234,567","overMarketPriceInfo":{{"overPrice":"-"}},"integratedPriceInfo":{{"openPrice":"{prev}"}}}}"#,
        price = commas_dec(price),
        change = commas_dec(change),
        prev = commas_dec(prev),
    )
}

async fn portfolio_bench(
    pool: &PgPool,
    holdings: usize,
    delay: Duration,
    runs: usize,
) -> anyhow::Result<bool> {
    use ascend::app::portfolio::portfolio;
    use ascend::market::naver::{Naver, NaverConfig};

    let app = App::new(pool.clone(), clock(T_PLACE)?, Rulebook::default());
    let stocks: Vec<(StockCode, Decimal, Decimal)> = (0..holdings)
        .map(|i| {
            let p = floor_to_tick(Decimal::from(1_000 + (i as i64 * 7_919) % 300_000));
            Ok((StockCode::parse(&format!("95{i:04}"))?, p, p))
        })
        .collect::<anyhow::Result<_>>()?;
    load_stocks(&app, &stocks, app.clock.now()).await?;
    let user = create_users(&app, 1, Decimal::from(10_000_000_000i64), 1).await?[0];
    // The holdings, bought through the library inside the session.
    for (i, (code, _, _)) in stocks.iter().enumerate() {
        let placed = orders::place(
            &app,
            user,
            &market_order(code, Side::Buy, 1 + i as i64 % 10)?,
        )
        .await?;
        anyhow::ensure!(
            placed.fill.is_some(),
            "the market buy of {code} did not fill"
        );
    }
    let live: HashMap<String, Decimal> = stocks
        .iter()
        .map(|(c, p, _)| (c.to_string(), floor_to_tick(*p + tick_size(*p))))
        .collect();
    let hits = Arc::new(AtomicU64::new(0));
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(PollingSite {
            items: stocks
                .iter()
                .map(|(c, p, _)| {
                    (
                        c.to_string(),
                        polling_item(c.as_str(), *p, live[c.as_str()]),
                    )
                })
                .collect(),
            delay,
            hits: hits.clone(),
        })
        .mount(&server)
        .await;

    // As `ascend portfolio` does: a new client per call, its default timeout, no retries.
    let timeout = Duration::from_millis(1_500);
    let mut times = Vec::with_capacity(runs);
    let mut requests = Vec::with_capacity(runs);
    let mut ok = true;
    for run in 0..runs {
        let naver = Naver::http(
            NaverConfig {
                polling_url: server.uri(),
                timeout,
                retries: 0,
                ..Default::default()
            },
            app.clock,
        )?;
        let before = hits.load(Ordering::Relaxed);
        let t = Instant::now();
        let view = portfolio(&app, user, Some((&naver, timeout))).await?;
        times.push(t.elapsed());
        requests.push(hits.load(Ordering::Relaxed) - before);
        let live_rows = view
            .holdings
            .iter()
            .filter(|h| !h.stale && h.price == live.get(&h.code).copied())
            .count();
        if view.prices != "live" || view.holdings.len() != holdings || live_rows != holdings {
            eprintln!(
                "bench: portfolio: run {run}: prices {:?}, {} holdings, {live_rows} at the live price (expected {holdings})",
                view.prices,
                view.holdings.len()
            );
            ok = false;
        }
    }
    eprintln!(
        "bench: portfolio: runs (ms): {:?}",
        times
            .iter()
            .map(|d| (d.as_secs_f64() * 1e4).round() / 10.0)
            .collect::<Vec<_>>()
    );
    println!("portfolio_holdings={holdings}");
    println!("portfolio_delay_ms={}", delay.as_millis());
    println!("portfolio_runs={runs}");
    println!(
        "portfolio_quote_requests={}",
        requests.iter().max().copied().unwrap_or(0)
    );
    println!(
        "portfolio_min_ms={:.1}",
        median_ms(vec![*times.iter().min().unwrap()])
    );
    println!(
        "portfolio_max_ms={:.1}",
        median_ms(vec![*times.iter().max().unwrap()])
    );
    println!("portfolio_ms={:.1}", median_ms(times));
    Ok(ok)
}

// --- snapshot ---------------------------------------------------------------------------------

/// The snapshot day and the moment it is taken (after the close).
const SNAPSHOT_DATE: &str = "2026-11-24";
const SNAPSHOT_PREV_DATE: &str = "2026-11-23";
const T_SNAPSHOT: &str = "2026-11-24 16:00";

async fn snapshot_bench(
    pool: &PgPool,
    n_users: u64,
    per_user: u64,
    n_stocks: u64,
) -> anyhow::Result<bool> {
    use ascend::app::snapshot::snapshot;
    use chrono::NaiveDate;

    let app = App::new(pool.clone(), clock(T_SNAPSHOT)?, Rulebook::default());
    let date = NaiveDate::from_str(SNAPSHOT_DATE)?;
    let prev_date = NaiveDate::from_str(SNAPSHOT_PREV_DATE)?;
    let t_seed = Instant::now();
    // Stocks priced during the day's session, through the library.
    let stocks: Vec<(StockCode, Decimal, Decimal)> = (0..n_stocks)
        .map(|i| {
            let p = floor_to_tick(Decimal::from(1_000 + (i as i64 * 7_919) % 300_000));
            Ok((StockCode::parse(&format!("93{i:04}"))?, p, p))
        })
        .collect::<anyhow::Result<_>>()?;
    load_stocks(&app, &stocks, clock("2026-11-24 15:20")?.now()).await?;

    // Users, accounts, holdings and the day's bars straight in SQL: a million holdings through
    // `orders::place` would take hours. This benchmark database therefore has no ledger (no
    // grants, no fills): the audit does not apply to it, and the snapshot's "later ledger
    // movements" part finds nothing to subtract.
    let hash = ascend::app::users::hash_password(&Password::parse("bench-password")?)?;
    let created = clock("2026-11-23 08:00")?.now();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO users (email, display_name, password_hash, initial_cash, created_at)
         SELECT 'snap-' || i || '@example.com', 'Snapshot user ' || i, $1, 100000000, $2
         FROM generate_series(1, $3) i",
    )
    .bind(&hash)
    .bind(created)
    .bind(n_users as i64)
    .execute(&mut *tx)
    .await?;
    // User u holds stocks n = (u + k·step) mod n_stocks for k < per_user: distinct per user.
    sqlx::query(
        "WITH st AS (SELECT row_number() OVER (ORDER BY code) - 1 AS n, code, price
                     FROM stocks WHERE code LIKE '93%')
         INSERT INTO holdings (user_id, code, available, reserved, cost)
         SELECT u.id, st.code, q.q, 0, q.q * st.price
         FROM users u CROSS JOIN generate_series(0, $1 - 1) k
         CROSS JOIN LATERAL (SELECT 1 + (u.id * 7 + k * 13) % 100 AS q) q
         JOIN st ON st.n = (u.id + k * ($2 / $1)) % $2",
    )
    .bind(per_user as i64)
    .bind(n_stocks as i64)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO accounts (user_id, available, reserved)
         SELECT u.id, u.initial_cash - coalesce(h.cost, 0), 0
         FROM users u LEFT JOIN (SELECT user_id, sum(cost) AS cost FROM holdings GROUP BY user_id) h
              ON h.user_id = u.id",
    )
    .execute(&mut *tx)
    .await?;
    // The day's bars close one tick above the stored price; the previous day's at it (a
    // snapshot refuses a day before the first stored bar).
    for (code, p, _) in &stocks {
        let close = floor_to_tick(*p + tick_size(*p));
        for (day, close) in [(prev_date, *p), (date, close)] {
            sqlx::query(
                "INSERT INTO daily_bars (symbol, date, open, high, low, close, volume)
                 VALUES ($1, $2, $3, $4, $3, $4, 100000)",
            )
            .bind(code.as_str())
            .bind(day)
            .bind(*p)
            .bind(close)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    let holdings: i64 = sqlx::query_scalar("SELECT count(*) FROM holdings")
        .fetch_one(pool)
        .await?;
    println!(
        "snapshot_seed_seconds={:.3}",
        t_seed.elapsed().as_secs_f64()
    );
    eprintln!("bench: snapshot: {n_users} users, {holdings} holdings; snapshotting {prev_date} then {date}");

    let run = |from: NaiveDate| {
        let app = app.clone();
        async move {
            let t = Instant::now();
            let s = snapshot(&app, from, from).await?;
            anyhow::Ok((
                t.elapsed().as_secs_f64(),
                s.days.first().and_then(|d| d.users),
            ))
        }
    };
    // The previous day first, so the timed day computes daily returns as every day but the
    // first does.
    let (prev_secs, prev_users) = run(prev_date).await?;
    let (secs, users) = run(date).await?;
    let (rerun_secs, rerun_users) = run(date).await?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM snapshots WHERE date = $1")
        .bind(date)
        .fetch_one(pool)
        .await?;
    println!("snapshot_holdings={holdings}");
    println!("snapshot_prev_day_seconds={prev_secs:.3}");
    println!("snapshot_users={}", users.unwrap_or(0));
    println!("snapshot_seconds={secs:.3}");
    println!("snapshot_rerun_seconds={rerun_secs:.3}");
    let expect = Some(n_users);
    let ok =
        prev_users == expect && users == expect && rerun_users == expect && rows as u64 == n_users;
    if !ok {
        eprintln!(
            "bench: snapshot: expected {n_users} users each run and row count, got {prev_users:?}, {users:?}, {rerun_users:?} and {rows} rows"
        );
    }
    Ok(ok)
}

// --- import -----------------------------------------------------------------------------------

async fn import_bench(
    pool: &PgPool,
    db_url: &str,
    n_orders: u64,
    n_users: usize,
    market_pct: u64,
    ascend_bin: &Path,
) -> anyhow::Result<bool> {
    use std::io::Write as _;

    let app = App::new(pool.clone(), clock(T_PLACE)?, Rulebook::default());
    let stocks: Vec<(StockCode, Decimal, Decimal)> = [
        1_000, 1_995, 3_000, 4_500, 9_990, 15_000, 25_000, 48_000, 55_900, 78_000, 120_000,
        178_200, 250_000, 401_500, 650_000, 2_450, 7_770, 33_350, 99_900, 310_000,
    ]
    .iter()
    .enumerate()
    .map(|(i, p)| {
        let p = Decimal::from(*p);
        Ok((StockCode::parse(&format!("94{i:04}"))?, p, p))
    })
    .collect::<anyhow::Result<_>>()?;
    load_stocks(&app, &stocks, app.clock.now()).await?;
    let t_users = Instant::now();
    let users = create_users(&app, n_users, Decimal::from(1_000_000_000), 4).await?;
    eprintln!(
        "bench: import: {} users in {:.2}s; writing the file",
        users.len(),
        t_users.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir()?;
    let file = dir.path().join("orders.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file)?);
    writeln!(w, "email,code,side,quantity,limit,tif,key")?;
    let mut rng = Rng(0x1A90_0000);
    let mut market_orders = 0u64;
    for _ in 0..n_orders {
        let u = rng.below(n_users as u64);
        let (code, price, _) = &stocks[rng.below(stocks.len() as u64) as usize];
        let qty = 1 + rng.below(10);
        if rng.below(100) < market_pct {
            market_orders += 1;
            writeln!(w, "bench-{u}@example.com,{code},buy,{qty},,,")?;
        } else {
            let limit = price_off(*price, -(1 + rng.below(50) as i64))?;
            writeln!(
                w,
                "bench-{u}@example.com,{code},buy,{qty},{},,",
                limit.get()
            )?;
        }
    }
    w.flush()?;
    drop(w);
    sqlx::query("ANALYZE").execute(pool).await?;

    let file = file
        .to_str()
        .context("the temporary directory's path is not UTF-8")?;
    let args = [
        "--database-url",
        db_url,
        "--now",
        T_PLACE,
        "place-order",
        "--file",
        file,
    ];
    let (secs, rss, out) = ascend_timed(ascend_bin, &args, &[]).await?;
    eprintln!(
        "bench: import: ascend said: {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    let mut ok = rss.is_some();
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM orders GROUP BY status ORDER BY status")
            .fetch_all(pool)
            .await?;
    let count = |s: &str| counts.iter().find(|c| c.0 == s).map_or(0, |c| c.1) as u64;
    println!("import_orders={n_orders}");
    println!("import_users={n_users}");
    println!("import_market_orders={market_orders}");
    println!("import_seconds={secs:.3}");
    println!("import_orders_per_sec={:.1}", n_orders as f64 / secs);
    if let Some(rss) = rss {
        println!("import_peak_rss_mb={rss:.1}");
    }
    println!("import_open={}", count("open"));
    println!("import_filled={}", count("filled"));
    if count("filled") != market_orders || count("open") != n_orders - market_orders {
        eprintln!(
            "bench: import: expected {market_orders} filled and {} open orders, got {counts:?}",
            n_orders - market_orders
        );
        ok = false;
    }
    let violations = run_audit(&app, "").await?;
    Ok(ok && violations == 0)
}
