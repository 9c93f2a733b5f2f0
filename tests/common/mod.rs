//! Shared set-up for the integration tests: an `App` on the test's own database with a fixed
//! clock, a few stocks, and users.
#![allow(dead_code)]

pub mod naver_site;

use ascend::app::stocks::{self, StockQuote};
use ascend::app::users::{self, Registration};
use ascend::app::App;
use ascend::clock::Clock;
use ascend::domain::Rulebook;
use rust_decimal::Decimal;
use sqlx::PgPool;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// A Tuesday, inside the regular session.
pub const SESSION: &str = "2026-11-24 10:00";

pub fn app_at(pool: &PgPool, when: &str) -> App {
    App::new(
        pool.clone(),
        Clock::parse(when).unwrap(),
        Rulebook::default(),
    )
}

pub fn dec(v: i64) -> Decimal {
    Decimal::from(v)
}

/// Stores prices for a few stocks, stamped at the app's clock.
pub async fn seed_stocks(app: &App) {
    let rows = [
        ("005930", "삼성전자", "KOSPI", 55_900, 56_600),
        ("000660", "SK하이닉스", "KOSPI", 178_200, 174_800),
        ("247540", "에코프로비엠", "KOSDAQ", 98_700, 101_200),
        ("900001", "저가주", "KOSDAQ", 1_000, 1_000),
    ];
    let quotes: Vec<StockQuote> = rows
        .iter()
        .map(|(c, n, m, p, pc)| StockQuote::parse(c, n, m, dec(*p), dec(*pc)).unwrap())
        .collect();
    stocks::upsert(app, &quotes, app.clock.now()).await.unwrap();
}

/// Moves one stock's price (keeping its previous close), stamped at the app's clock.
pub async fn set_price(app: &App, code: &str, price: i64) {
    let prev: Decimal = sqlx::query_scalar("SELECT prev_close FROM stocks WHERE code = $1")
        .bind(code)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let name: String = sqlx::query_scalar("SELECT name FROM stocks WHERE code = $1")
        .bind(code)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let market: String = sqlx::query_scalar("SELECT market FROM stocks WHERE code = $1")
        .bind(code)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let q = StockQuote::parse(code, &name, &market, dec(price), prev).unwrap();
    stocks::upsert(app, &[q], app.clock.now()).await.unwrap();
}

pub async fn user(app: &App, email: &str, cash: i64) -> i64 {
    let r = Registration::parse(email, "테스터", "password123", Some(dec(cash))).unwrap();
    users::register(app, &r, "test").await.unwrap().id
}

pub async fn cash(app: &App, user: i64) -> (Decimal, Decimal) {
    sqlx::query_as("SELECT available, reserved FROM accounts WHERE user_id = $1")
        .bind(user)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

pub async fn shares(app: &App, user: i64, code: &str) -> (i64, i64) {
    sqlx::query_as("SELECT available, reserved FROM holdings WHERE user_id = $1 AND code = $2")
        .bind(user)
        .bind(code)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
        .unwrap_or((0, 0))
}

pub async fn assert_audit_clean(app: &App) {
    let r = ascend::app::audit::audit(app).await.unwrap();
    assert!(
        r.violations.is_empty(),
        "audit violations: {:#?}",
        r.violations
    );
}

pub fn req(
    code: &str,
    side: &str,
    qty: &str,
    limit: Option<&str>,
) -> ascend::app::orders::OrderRequest {
    ascend::app::orders::OrderRequest::parse(code, side, qty, limit, limit.is_none(), None, None)
        .unwrap()
}

// --- the built binary ------------------------------------------------------------------------

/// The URL of this test's own database: the server of DATABASE_URL, the database of the pool.
pub async fn url_of(pool: &PgPool) -> String {
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h.to_string(), format!("?{q}")),
        None => (base.clone(), String::new()),
    };
    let (server, _) = head.rsplit_once('/').expect("a database in DATABASE_URL");
    format!("{server}/{db}{query}")
}

/// Runs the built `ascend` on the test's database, at [`SESSION`], with its own config dir.
pub struct Cli {
    pub url: String,
    pub config: tempfile::TempDir,
}

impl Cli {
    /// The test's database, made simulated by the operator (the test's role owns it) so that
    /// `ASCEND_NOW` is honoured.
    pub async fn new(pool: &PgPool) -> Self {
        let cli = Cli::real(pool).await;
        let o = cli.run_at(
            None,
            &["admin", "settings", "set", "clock", "simulated"],
            None,
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        cli
    }
    /// The test's database as migrations leave it: a real clock.
    pub async fn real(pool: &PgPool) -> Self {
        Cli {
            url: url_of(pool).await,
            config: tempfile::tempdir().unwrap(),
        }
    }
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.run_at(Some(SESSION), args, stdin)
    }
    /// Runs at `now` (`ASCEND_NOW`), or without it.
    pub fn run_at(&self, now: Option<&str>, args: &[&str], stdin: Option<&str>) -> Output {
        self.run_env(now, &[], args, stdin)
    }
    /// Runs at `now` with extra environment variables.
    pub fn run_env(
        &self,
        now: Option<&str>,
        env: &[(&str, &str)],
        args: &[&str],
        stdin: Option<&str>,
    ) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ascend"));
        match now {
            Some(t) => cmd.env("ASCEND_NOW", t),
            None => cmd.env_remove("ASCEND_NOW"),
        };
        cmd.args(args)
            .env("DATABASE_URL", &self.url)
            .env("ASCEND_CONFIG_DIR", self.config.path())
            .env_remove("ASCEND_SHARED_HOST")
            // The tests read tables as a person would; what programs get is tested with
            // --format (or without this variable).
            .env("ASCEND_FORMAT", "table")
            .envs(env.iter().copied())
            .env_remove("ASCEND_USER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            // The program may exit before reading its input (a rejected argument): fine.
            if let Err(e) = pipe.write_all(s.as_bytes()) {
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
            }
        }
        drop(pipe);
        child.wait_with_output().unwrap()
    }
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
