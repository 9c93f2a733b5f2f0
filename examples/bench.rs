//! Benchmarks of the trading core, run by `scripts/bench.sh` (never part of the tests).
//!
//!   cargo run --release --example bench -- --database-url URL place-orders --clients 8 --seconds 10
//!   cargo run --release --example bench -- --database-url URL settle --orders 100000
//!
//! Each run creates a throw-away database `ascend_bench_<pid>` on the server of `--database-url`
//! (`CREATE DATABASE`, the migrations, then the scenario) and drops it at the end unless
//! `--keep-db` is given. Figures go to stdout as `name=value` lines; logs and library errors go
//! to stderr. The exit status is non-zero when the library returned an error, when the audit
//! found a violation, or when a scenario did not end the way it was built to.
//!
//! The clock is fixed inside a regular session (Tuesday 2026-11-24, KST), so the results do not
//! depend on when the benchmark runs.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use rust_decimal::Decimal;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::Barrier;

use ascend::app::orders::{self, OrderRequest};
use ascend::app::stocks::{self, StockQuote};
use ascend::app::{audit, settle, App};
use ascend::clock::Clock;
use ascend::domain::rules::{floor_to_tick, tick_size};
use ascend::domain::{
    DisplayName, Email, Password, Price, Quantity, Rulebook, Side, StockCode, TimeInForce,
};

/// When orders are placed: inside the regular session of a trading day.
const T_PLACE: &str = "2026-11-24 10:00";
/// When settle runs, after the prices moved (within the 15-minute freshness bound).
const T_SETTLE: &str = "2026-11-24 10:05";

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
    /// One `settle::settle` run over many resting orders, about half of them crossed.
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
        /// Connection pool size.
        #[arg(long, default_value_t = 8)]
        pool: u32,
        /// Users per settle transaction.
        #[arg(long, default_value_t = settle::DEFAULT_CHUNK)]
        chunk: usize,
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
    };

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
        let pool = PgPoolOptions::new()
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
            .connect_with(admin_opts.clone().database(&db))
            .await
            .with_context(|| format!("connecting to {db}"))?;
        ascend::store::MIGRATOR
            .run(&pool)
            .await
            .context("running the migrations")?;
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
                ..
            } => {
                settle_bench(
                    &pool,
                    orders,
                    orders_per_user.max(1),
                    sells_per_user.min(orders_per_user.max(1)),
                    clients.max(1),
                    chunk,
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
    })
}

/// Upserts the stocks at `at`, each with its price and a previous close.
async fn load_stocks(
    app: &App,
    stocks: &[(StockCode, Decimal, Decimal)],
    at: DateTime<Utc>,
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

async fn settle_bench(
    pool: &PgPool,
    total_orders: u64,
    per_user: u64,
    sells: u64,
    clients: usize,
    chunk: usize,
) -> anyhow::Result<bool> {
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
    load_stocks(&app, &at_base, app.clock.now()).await?;

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

    // Prices move at T_SETTLE: buy-side stocks down, sell-side stocks up, by MOVE_TICKS.
    let app = App::new(pool.clone(), clock(T_SETTLE)?, Rulebook::default());
    let moved: Vec<_> = buy_codes
        .iter()
        .map(|c| Ok((c.clone(), price_off(base, -MOVE_TICKS)?.get(), base)))
        .chain(
            sell_codes
                .iter()
                .map(|c| Ok((c.clone(), price_off(base, MOVE_TICKS)?.get(), base))),
        )
        .collect::<anyhow::Result<_>>()?;
    load_stocks(&app, &moved, app.clock.now()).await?;
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'open'")
        .fetch_one(pool)
        .await?;
    // Fresh statistics, as autovacuum would have them on a long-running server.
    sqlx::query("ANALYZE").execute(pool).await?;

    eprintln!("bench: settle: {open} open orders, {crossing} crossed; running settle");
    let t = Instant::now();
    let summary = settle::settle(&app, false, chunk).await;
    let secs = t.elapsed().as_secs_f64();
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench: settle: library error: {e}");
            eprintln!("bench:     debug: {e:?}");
            println!("settle_orders={open}");
            println!("settle_error=1");
            return Ok(false);
        }
    };
    println!("settle_orders={open}");
    println!("settle_expected_fills={crossing}");
    println!("settle_fills={}", summary.filled);
    println!("settle_batches={}", summary.batches);
    println!("settle_retried_busy={}", summary.retried_busy);
    println!("settle_skipped_stale={}", summary.skipped_stale);
    println!("settle_seconds={secs:.3}");
    println!("settle_fills_per_sec={:.1}", summary.filled as f64 / secs);
    let ok_fills = summary.filled == crossing && open as u64 == resting;
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
