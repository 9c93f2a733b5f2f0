//! Portfolio valuation against a real PostgreSQL and a local HTTP server standing in for the
//! Naver polling API: the arithmetic by hand, one batched quote request, and the stored-price
//! fallback.

mod common;

use std::time::{Duration, Instant};

use ascend::app::portfolio::{self, PortfolioView};
use ascend::app::stocks::{self, StockQuote};
use ascend::app::{orders, App};
use ascend::domain::TradingSession;
use ascend::market::naver::{Naver, NaverConfig};
use ascend::market::{json, QuoteNow};
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sqlx::PgPool;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The polling API on `server`, one attempt, no retries.
fn naver(server: &MockServer) -> Naver {
    Naver::http(
        NaverConfig {
            polling_url: server.uri(),
            retries: 0,
            pause: Duration::ZERO,
            ..NaverConfig::default()
        },
        ascend::clock::Clock::system(),
    )
    .unwrap()
}

/// A polling API answer in the shape of the real one, through the renderer the simulator
/// uses (its parser is tested on hand-made fixtures): one item per (code, price).
fn polling_json(items: &[(&str, &str, &str)]) -> String {
    let quotes: Vec<QuoteNow> = items
        .iter()
        .map(|(code, name, price)| {
            let price: Decimal = price.replace(',', "").parse().unwrap();
            QuoteNow {
                code: code.parse().unwrap(),
                name: name.to_string(),
                price: Some(price),
                prev_close: Some(price),
                change_rate: Some(Decimal::ZERO),
                open: None,
                high: None,
                low: None,
                volume: Some(1_000),
                trading_value: None,
                market_cap: None,
                market_status: "OPEN".into(),
                session: TradingSession::Regular,
                traded_at: None,
                halted: false,
            }
        })
        .collect();
    json::render_polling_stocks(&quotes)
}

fn offline() -> Option<(&'static Naver, Duration)> {
    None
}

/// A fifth stock beside the four of `seed_stocks`.
async fn seed_naver_stock(app: &App) {
    let q = StockQuote::parse("035420", "NAVER", "KOSPI", dec(200_000), dec(199_000)).unwrap();
    stocks::upsert(app, &[q], app.clock.now()).await.unwrap();
}

/// A user holding one share of each of the five stocks, bought at the stored prices.
async fn five_holdings(app: &App) -> i64 {
    seed_stocks(app).await;
    seed_naver_stock(app).await;
    let u = user(app, "five@example.com", 10_000_000).await;
    for code in ["005930", "000660", "247540", "900001", "035420"] {
        orders::place(app, u, &req(code, "buy", "1", None))
            .await
            .unwrap();
    }
    u
}

const FIVE_CODES: &str = "000660,005930,035420,247540,900001";

#[sqlx::test]
async fn portfolio_arithmetic_matches_hand_computed_figures(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    seed_stocks(&app).await;
    let u = user(&app, "pf@example.com", 10_000_000).await;

    // 10:00 buy 10 @ market 55,900: amount 559,000; fee 559,000 × 0.015% = 83.85 → 83.
    let b1 = orders::place(&app, u, &req("005930", "buy", "10", None))
        .await
        .unwrap()
        .fill
        .unwrap();
    assert_eq!((b1.amount, b1.fee), (dec(559_000), dec(83)));

    // 10:05 the price is 57,000: buy 5 @ market: amount 285,000; fee 42.75 → 42.
    let t1 = app_at(&pool, "2026-11-24 10:05");
    set_price(&t1, "005930", 57_000).await;
    let b2 = orders::place(&t1, u, &req("005930", "buy", "5", None))
        .await
        .unwrap()
        .fill
        .unwrap();
    assert_eq!((b2.amount, b2.fee), (dec(285_000), dec(42)));
    // Cost 559,000 + 285,000 = 844,000 for 15 shares (fees excluded): average 56,266.6667.

    // Sell 6 @ market 57,000: amount 342,000; fee 51.3 → 51; tax 0.20% (2026) = 684;
    // net 342,000 − 51 − 684 = 341,265. Cost sold 844,000 × 6/15 = 337,600, leaving 506,400
    // for 9 shares: the average stays 56,266.6667.
    let s = orders::place(&t1, u, &req("005930", "sell", "6", None))
        .await
        .unwrap()
        .fill
        .unwrap();
    assert_eq!((s.amount, s.fee, s.tax), (dec(342_000), dec(51), dec(684)));

    // A resting limit buy of 000660 at 170,000 (below 178,200): reserves 170,000 + fee 25.5 → 25
    // = 170,025.
    let rest = orders::place(&t1, u, &req("000660", "buy", "1", Some("170000")))
        .await
        .unwrap();
    assert_eq!(rest.order.status, "open");

    // 10:10 the price moves to 58,000; valued offline at 10:12:30.
    set_price(&app_at(&pool, "2026-11-24 10:10"), "005930", 58_000).await;
    let at = app_at(&pool, "2026-11-24 10:12:30");
    let p = portfolio::portfolio(&at, u, offline()).await.unwrap();

    // Cash: 10,000,000 − 559,083 − 285,042 + 341,265 = 9,497,140, of which 170,025 reserved.
    assert_eq!(p.cash_available, dec(9_497_140 - 170_025));
    assert_eq!(p.cash_reserved, dec(170_025));
    assert_eq!(p.holdings.len(), 1);
    let h = &p.holdings[0];
    assert_eq!(h.code, "005930");
    assert_eq!((h.quantity, h.reserved), (9, 0));
    assert_eq!(h.average_price, dec!(56266.6667));
    assert_eq!(h.price, Some(dec(58_000)));
    // 9 × 58,000 = 522,000; profit 522,000 − 506,400 = 15,600; 15,600 / 506,400 = 3.0806 %.
    assert_eq!(h.valuation, dec(522_000));
    assert_eq!(h.profit, dec(15_600));
    assert_eq!(h.return_pct, Some(dec!(3.08)));
    // Total 9,327,115 + 170,025 + 522,000 = 10,019,140; weight 522,000 / 10,019,140 = 5.2100 %.
    assert_eq!(p.stock_valuation, dec(522_000));
    assert_eq!(p.total_assets, dec(10_019_140));
    assert_eq!(h.weight_pct, Some(dec!(5.21)));
    // The same total from the other side: initial cash + realised 4,400 (342,000 − 337,600)
    // + unrealised 15,600 − fees (83 + 42 + 51) − tax 684 = 10,019,140.
    assert_eq!(
        dec(10_000_000) + dec(4_400) + dec(15_600) - dec(83 + 42 + 51) - dec(684),
        p.total_assets
    );
    // 19,140 / 10,000,000 = 0.1914 % → 0.19.
    assert_eq!(p.initial_cash, dec(10_000_000));
    assert_eq!(p.total_return_pct, Some(dec!(0.19)));
    // Offline: the stored price, marked stale with its age (stored 10:10:00, now 10:12:30).
    assert!(h.stale);
    assert_eq!(h.price_age_seconds, Some(150));
    assert_eq!(p.prices, "stored");
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn five_holdings_are_priced_with_exactly_one_quote_request(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let u = five_holdings(&app).await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/realtime/domestic/stock/"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            polling_json(&[
                ("000660", "SK하이닉스", "180,000"),
                ("005930", "삼성전자", "56,000"),
                ("035420", "NAVER", "201,000"),
                ("247540", "에코프로비엠", "99,000"),
                ("900001", "저가주", "1,010"),
            ]),
            "application/json;charset=UTF-8",
        ))
        .mount(&server)
        .await;
    let naver = naver(&server);

    let p = portfolio::portfolio(&app, u, Some((&naver, Duration::from_millis(500))))
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        requests[0].url.path(),
        format!("/api/realtime/domestic/stock/{FIVE_CODES}")
    );
    assert_eq!(p.prices, "live");
    let got: Vec<(&str, Option<Decimal>, bool, Option<i64>)> = p
        .holdings
        .iter()
        .map(|h| (h.code.as_str(), h.price, h.stale, h.price_age_seconds))
        .collect();
    assert_eq!(
        got,
        vec![
            ("000660", Some(dec(180_000)), false, Some(0)),
            ("005930", Some(dec(56_000)), false, Some(0)),
            ("035420", Some(dec(201_000)), false, Some(0)),
            ("247540", Some(dec(99_000)), false, Some(0)),
            ("900001", Some(dec(1_010)), false, Some(0)),
        ]
    );
    // 180,000 + 56,000 + 201,000 + 99,000 + 1,010 = 537,010 at the live prices.
    assert_eq!(p.stock_valuation, dec(537_010));
}

/// The stored prices of the five holdings, as the fallback must show them.
fn stored_prices(p: &PortfolioView) -> Vec<(&str, Option<Decimal>)> {
    p.holdings
        .iter()
        .map(|h| (h.code.as_str(), h.price))
        .collect()
}

#[sqlx::test]
async fn a_quote_timeout_falls_back_to_stored_prices_marked_stale(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let u = five_holdings(&app).await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/realtime/domestic/stock/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(
                    polling_json(&[("005930", "삼성전자", "60,000")]),
                    "application/json;charset=UTF-8",
                )
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let naver = naver(&server);
    // Prices were stored at 10:00:00; the portfolio is valued at 10:03:20.
    let later = app_at(&pool, "2026-11-24 10:03:20");

    let started = Instant::now();
    let p = portfolio::portfolio(&later, u, Some((&naver, Duration::from_millis(500))))
        .await
        .unwrap();
    let took = started.elapsed();

    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_millis(1_500), "{took:?}");
    assert_eq!(p.prices, "stored: live quotes timed out after 500 ms");
    assert_eq!(
        stored_prices(&p),
        vec![
            ("000660", Some(dec(178_200))),
            ("005930", Some(dec(55_900))),
            ("035420", Some(dec(200_000))),
            ("247540", Some(dec(98_700))),
            ("900001", Some(dec(1_000))),
        ]
    );
    for h in &p.holdings {
        assert!(h.stale, "{}", h.code);
        assert_eq!(h.price_age_seconds, Some(200), "{}", h.code);
    }
    // 178,200 + 55,900 + 200,000 + 98,700 + 1,000 = 533,800.
    assert_eq!(p.stock_valuation, dec(533_800));
}

#[sqlx::test]
async fn offline_uses_stored_prices_without_any_request(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let u = five_holdings(&app).await;
    let later = app_at(&pool, "2026-11-24 10:00:45");

    let p = portfolio::portfolio(&later, u, offline()).await.unwrap();

    assert_eq!(p.prices, "stored");
    assert_eq!(stored_prices(&p).len(), 5);
    assert!(p
        .holdings
        .iter()
        .all(|h| h.stale && h.price_age_seconds == Some(45)));
    assert_eq!(p.stock_valuation, dec(533_800));
    // Cash: 10,000,000 − the five buys with their fees:
    // 178,200 + 26 | 55,900 + 8 | 200,000 + 30 | 98,700 + 14 | 1,000 + 0 = 533,878.
    assert_eq!(p.cash_available, dec(10_000_000 - 533_878));
    assert_eq!(p.total_assets, dec(10_000_000 - 533_878 + 533_800));
}
