//! The Naver client against the local stand-in of the renewed site (tests/common/naver_site.rs):
//! complete listings, politeness per host, quotes, order book, bars, every fault turned into the
//! right error naming its URL, and record/replay.

mod common;

use std::time::Duration;

use ascend::clock::Clock;
use ascend::domain::{InstrumentKind, Market, StockCode, TradingSession};
use ascend::market::json::ListedRow;
use ascend::market::naver::{Naver, NaverConfig, BROWSER_USER_AGENT};
use ascend::market::{IndexCode, MarketData, MarketError, ParseError, Symbol};
use common::naver_site::*;

fn clock() -> Clock {
    Clock::parse(common::SESSION).unwrap()
}

fn naver(config: NaverConfig) -> Naver {
    Naver::http(config, clock()).unwrap()
}

fn by_code(mut rows: Vec<ListedRow>) -> Vec<ListedRow> {
    rows.sort_by(|a, b| a.code.cmp(&b.code));
    rows
}

fn code(c: &str) -> StockCode {
    StockCode::parse(c).unwrap()
}

fn find<'a>(rows: &'a [ListedRow], c: &str) -> &'a ListedRow {
    rows.iter()
        .find(|r| r.code.as_str() == c)
        .unwrap_or_else(|| panic!("{c} is not in the listing"))
}

async fn listing(n: &Naver, market: Market) -> Result<Vec<ListedRow>, MarketError> {
    n.listing(market, &|_, _, _| {}).await
}

#[tokio::test]
async fn the_full_listing_is_complete_with_etfs_and_etns_of_the_right_kind() {
    let site = NaverSite::start(SiteSpec::full()).await;
    let n = naver(site.config());
    let pages = std::sync::Mutex::new(Vec::new());
    let kospi = n
        .listing(Market::Kospi, &|m, page, rows| {
            pages.lock().unwrap().push((m, page, rows))
        })
        .await
        .unwrap();
    let kosdaq = listing(&n, Market::Kosdaq).await.unwrap();

    // KOSPI: its 950 stocks and the 1,000 ETFs and ETNs listed on it; KOSDAQ: 1,820 stocks.
    assert_eq!(kospi.len(), 950 + 1_000);
    assert_eq!(kosdaq.len(), 1_820);
    assert_eq!(
        by_code(kospi.clone()),
        by_code(site.expected_listing(Market::Kospi))
    );
    assert_eq!(
        by_code(kosdaq.clone()),
        by_code(site.expected_listing(Market::Kosdaq))
    );
    let count = |rows: &[ListedRow], k: InstrumentKind| rows.iter().filter(|r| r.kind == k).count();
    assert_eq!(
        count(&kospi, InstrumentKind::Etf) + count(&kospi, InstrumentKind::Etn),
        1_000
    );
    assert_eq!(
        count(&kosdaq, InstrumentKind::Etf) + count(&kosdaq, InstrumentKind::Etn),
        0
    );
    assert_eq!(find(&kospi, ETF).kind, InstrumentKind::Etf);
    assert_eq!(find(&kospi, ETF).price, 20_210.into());
    assert_eq!(find(&kospi, ETN).kind, InstrumentKind::Etn);
    assert_eq!(find(&kospi, SAMSUNG_PREF).kind, InstrumentKind::Preferred);
    assert_eq!(find(&kospi, REIT).kind, InstrumentKind::Reit);
    assert_eq!(find(&kospi, ALPHANUMERIC).kind, InstrumentKind::Common);
    assert!(find(&kosdaq, HALTED).halted);
    assert_eq!(find(&kosdaq, HALTED).open, None);
    assert_eq!(find(&kosdaq, FIRST_DAY).listed_on, Some(site.today()));
    assert!(count(&kosdaq, InstrumentKind::Spac) > 0);

    // stock/default: 5 pages of KOSPI (4 full, 150 rows, then the empty page 5 confirms the
    // end) fetched in windows of 4; marketValue: 20 pages of 100 rows for KOSPI (1,950 =
    // totalCount) and 19 for KOSDAQ (1,820), whose stocks are checked against stock/default.
    let stock_default: Vec<String> = site
        .requests()
        .iter()
        .filter(|l| l.endpoint == Endpoint::StockDefault && l.target.contains("KOSPI"))
        .map(|l| l.target.clone())
        .collect();
    assert_eq!(stock_default.len(), 8, "{stock_default:#?}");
    assert!(stock_default
        .iter()
        .all(|t| t.contains("pageSize=200") && t.contains("orderType=marketSum")));
    assert_eq!(site.count_endpoint(Endpoint::MarketValue), 20 + 19);
    let pages = pages.into_inner().unwrap();
    assert_eq!(pages.iter().map(|p| p.2).sum::<usize>(), 950 + 1_950);
}

/// Everything the client asks of each host, at once: both listings, quotes for every code,
/// daily bars of 24 codes, an order book and an index.
async fn ask_every_host(n: &Naver, codes: &[StockCode]) {
    let samsung = code(SAMSUNG);
    // 24 codes listed before today (a listing of today has one bar).
    let listed: Vec<&StockCode> = codes.iter().filter(|c| c.as_str() != FIRST_DAY).collect();
    let bars = futures::future::join_all(
        listed[..24]
            .iter()
            .map(|&c| async move { n.daily_bars(&Symbol::Stock(c.clone()), 5).await }),
    );
    let (kospi, kosdaq, quotes, bars, book, index) = tokio::join!(
        listing(n, Market::Kospi),
        listing(n, Market::Kosdaq),
        n.quotes(codes),
        bars,
        n.order_book(&samsung),
        n.index_now(IndexCode::Kospi),
    );
    assert_eq!(kospi.unwrap().len() + kosdaq.unwrap().len(), codes.len());
    assert_eq!(quotes.unwrap().len(), codes.len());
    for b in bars {
        assert_eq!(b.unwrap().len(), 5);
    }
    book.unwrap();
    index.unwrap();
}

#[tokio::test]
async fn never_more_than_four_requests_in_flight_per_host_each_with_its_headers() {
    let site = NaverSite::start(SiteSpec::full()).await;
    let codes = site.codes();
    // Once without delay, so that the site has written every body before it is timed...
    ask_every_host(&naver(site.config()), &codes).await;
    site.clear_log();
    // ...then with answers held long enough that four of them overlap.
    site.set_delay(Duration::from_millis(150));
    ask_every_host(&naver(site.config()), &codes).await;

    for host in Host::ALL {
        let flight = site.max_in_flight(host);
        assert!(flight <= 4, "{host:?}: {flight} requests in flight");
        let logged: Vec<Logged> = site
            .requests()
            .into_iter()
            .filter(|l| l.host == host)
            .collect();
        assert!(!logged.is_empty(), "{host:?}");
        for l in &logged {
            assert_eq!(
                l.header("user-agent"),
                Some(BROWSER_USER_AGENT),
                "{}",
                l.target
            );
            assert_eq!(l.header("referer"), Some(host.referer()), "{}", l.target);
            assert_eq!(l.header("accept"), Some("application/json"), "{}", l.target);
        }
    }
    // The hosts with more than four requests waiting did use their slots.
    assert!(site.max_in_flight(Host::MStock) >= 3);
    assert!(site.max_in_flight(Host::Polling) >= 3);

    // The measure can tell: eight slots per host put more than four in flight.
    site.clear_log();
    let eager = naver(NaverConfig {
        per_host: std::num::NonZeroUsize::new(8).unwrap(),
        ..site.config()
    });
    eager.quotes(&codes).await.unwrap();
    assert!(site.max_in_flight(Host::Polling) > 4);
}

#[tokio::test]
async fn quotes_for_250_codes_take_three_requests() {
    let site = NaverSite::start(SiteSpec::full()).await;
    let n = naver(site.config());
    let mut codes: Vec<StockCode> = site.codes().into_iter().take(249).collect();
    codes.push(code("999999"));
    let quotes = n.quotes(&codes).await.unwrap();
    assert_eq!(site.count_endpoint(Endpoint::PollingStock), 3);
    // Unknown codes are absent; the others come back in the order asked.
    assert_eq!(quotes.len(), 249);
    assert_eq!(
        quotes.iter().map(|q| q.code.clone()).collect::<Vec<_>>(),
        codes[..249].to_vec()
    );
    for q in &quotes {
        let row = site.row(q.code.as_str());
        assert_eq!(
            (q.price, q.prev_close),
            (Some(row.price), Some(row.prev_close))
        );
        assert_eq!(q.halted, row.halted);
    }
}

#[tokio::test]
async fn order_book_levels_and_daily_bars_oldest_first() {
    let site = NaverSite::start(SiteSpec::small()).await;
    let n = naver(site.config());
    let book = n.order_book(&code(SAMSUNG)).await.unwrap();
    assert_eq!((book.asks.len(), book.bids.len()), (5, 5));
    assert!(book.asks.windows(2).all(|w| w[0].price < w[1].price));
    assert!(book.bids.windows(2).all(|w| w[0].price > w[1].price));
    assert!(book.asks[0].price > book.bids[0].price);
    assert_eq!(book.asks[0].price, 98_700.into());
    assert_eq!(book, site.book(SAMSUNG));
    let halted = n.order_book(&code(HALTED)).await.unwrap();
    assert!(halted.asks.is_empty() && halted.bids.is_empty());

    let bars = n
        .daily_bars(&Symbol::Stock(code(SAMSUNG)), 5)
        .await
        .unwrap();
    assert_eq!(bars.len(), 5);
    assert!(bars.windows(2).all(|w| w[0].date < w[1].date), "{bars:?}");
    assert_eq!(bars[4].date, site.today());
    assert_eq!(bars[4].close, 98_700.into());
    let all = site.bars(SAMSUNG, site.today() - chrono::Duration::days(30));
    assert_eq!(bars, all[all.len() - 5..].to_vec());
    // The chart request asked for a date range, and the site answered only inside it.
    let asked = site
        .requests()
        .into_iter()
        .find(|l| l.endpoint == Endpoint::ChartItem)
        .unwrap();
    assert!(
        asked.target.contains("endDateTime=20261124"),
        "{}",
        asked.target
    );

    let index = n
        .daily_bars(&Symbol::Index(IndexCode::Kosdaq), 3)
        .await
        .unwrap();
    assert_eq!(index.len(), 3);
    assert_eq!(index[2].close, site.index("KOSDAQ").value);
    // A listing of today has one bar.
    let first = n
        .daily_bars(&Symbol::Stock(code(FIRST_DAY)), 5)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let now = n.index_now(IndexCode::Kospi).await.unwrap();
    assert_eq!(now.value, site.index("KOSPI").value);
}

/// The error of a KOSPI listing with the given fault, and the requests it sent.
async fn fault(site: &NaverSite, config: NaverConfig, injection: Injection) -> MarketError {
    site.clear_faults();
    site.clear_log();
    site.inject(injection);
    let e = listing(&naver(config), Market::Kospi).await.unwrap_err();
    site.clear_faults();
    e
}

fn url(e: &MarketError) -> &str {
    match e {
        MarketError::Parse { url, .. }
        | MarketError::Insane { url, .. }
        | MarketError::Redirect { url, .. }
        | MarketError::Status { url, .. }
        | MarketError::Network { url, .. } => url,
        other => panic!("no URL in {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_are_retried_then_fail_naming_the_status_and_url() {
    let site = NaverSite::start(SiteSpec::full()).await;
    let page2 = "marketType=KOSPI&orderType=marketSum&startIdx=2&";
    let e = fault(
        &site,
        site.config(),
        Fault::Status(500)
            .on(Endpoint::StockDefault)
            .matching(page2),
    )
    .await;
    assert!(
        matches!(
            e,
            MarketError::Status {
                status: 500,
                retried: 2,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        url(&e).starts_with(&site.uri()) && url(&e).contains(page2),
        "{e}"
    );
    assert!(e.to_string().ends_with("HTTP 500 after 2 retries"), "{e}");
    let tries = site
        .requests()
        .iter()
        .filter(|l| l.target.contains(page2))
        .count();
    assert_eq!(tries, 3, "one request and two retries");

    let e = fault(
        &site,
        site.config(),
        Fault::Status(403).on(Endpoint::MarketValue),
    )
    .await;
    assert!(
        matches!(
            e,
            MarketError::Status {
                status: 403,
                retried: 2,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        url(&e).contains("/api/stocks/marketValue/KOSPI?page="),
        "{e}"
    );

    // 404 is not retried.
    let e = fault(
        &site,
        site.config(),
        Fault::Status(404).on(Endpoint::MarketValue),
    )
    .await;
    assert!(
        matches!(
            e,
            MarketError::Status {
                status: 404,
                retried: 0,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(site.count_endpoint(Endpoint::MarketValue), 1);

    // One 503 is absorbed by a retry.
    site.clear_log();
    site.inject(Fault::Status(503).on(Endpoint::StockDefault).times(1));
    let n = naver(site.config());
    assert_eq!(listing(&n, Market::Kospi).await.unwrap().len(), 1_950);
    assert_eq!(n.stats().retries, 1);
}

#[tokio::test]
async fn a_429_is_retried_after_the_wait_its_retry_after_names() {
    let site = NaverSite::start(SiteSpec::full()).await;
    let target = "/api/stocks/marketValue/KOSPI?page=2&pageSize=100";
    site.inject(
        Fault::RetryAfter(1)
            .on(Endpoint::MarketValue)
            .matching(target),
    );
    let n = naver(site.config());
    assert_eq!(listing(&n, Market::Kospi).await.unwrap().len(), 1_950);
    let tries: Vec<Logged> = site
        .requests()
        .into_iter()
        .filter(|l| l.target == target)
        .collect();
    assert_eq!(
        tries.iter().map(|l| l.status).collect::<Vec<_>>(),
        vec![429, 200]
    );
    // The backoff is 5 ms: only Retry-After makes the client wait a second.
    let waited = tries[1].at - tries[0].at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    assert_eq!(n.stats().retries, 1);
    // The whole host waits, not only the request that was told to: once the requests already
    // under way have arrived, nothing reaches m.stock until the second has passed.
    let t0 = tries[0].at;
    let during: Vec<String> = site
        .requests()
        .into_iter()
        .filter(|l| l.endpoint == Endpoint::MarketValue)
        .filter(|l| {
            l.at > t0 + Duration::from_millis(200) && l.at < t0 + Duration::from_millis(900)
        })
        .map(|l| l.target)
        .collect();
    assert!(during.is_empty(), "sent while the host waited: {during:?}");
}

#[tokio::test]
async fn a_timeout_fails_as_a_network_error_naming_the_url() {
    let site = NaverSite::start(SiteSpec::full()).await;
    let config = NaverConfig {
        timeout: Duration::from_millis(200),
        retries: 1,
        ..site.config()
    };
    let e = fault(
        &site,
        config,
        Fault::Timeout(Duration::from_secs(2)).on(Endpoint::StockDefault),
    )
    .await;
    match &e {
        MarketError::Network { url, message } => {
            assert!(url.starts_with(&site.uri()), "{url}");
            assert!(url.contains("/api/domestic/market/stock/default?"), "{url}");
            assert!(message.starts_with("timed out after 0.2 s"), "{message}");
            assert!(message.ends_with("(after 1 retry)"), "{message}");
        }
        other => panic!("expected a network error, got {other:?}"),
    }
}

#[tokio::test]
async fn bodies_that_are_not_the_expected_json_fail_naming_url_and_field() {
    let site = NaverSite::start(SiteSpec::full()).await;
    let c = || site.config();

    let e = fault(
        &site,
        c(),
        Fault::Html.on(Endpoint::MarketValue).matching("page=3&"),
    )
    .await;
    assert!(
        matches!(&e, MarketError::Parse { source: ParseError::NotJson { starts }, .. } if starts.starts_with("<!DOCTYPE html>")),
        "{e:?}"
    );
    assert!(
        url(&e).ends_with("/api/stocks/marketValue/KOSPI?page=3&pageSize=100"),
        "{e}"
    );

    let e = fault(&site, c(), Fault::Malformed.on(Endpoint::StockDefault)).await;
    assert!(
        matches!(
            &e,
            MarketError::Parse {
                source: ParseError::Json(_),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        url(&e).contains("/api/domestic/market/stock/default?"),
        "{e}"
    );

    let e = fault(
        &site,
        c(),
        Fault::RenamedField("itemcode", "itemCode").on(Endpoint::StockDefault),
    )
    .await;
    assert!(
        matches!(
            &e,
            MarketError::Parse {
                source: ParseError::MissingField {
                    field: "itemcode",
                    row: 0,
                    ..
                },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("missing field itemcode in row 0"),
        "{e}"
    );

    let e = fault(
        &site,
        c(),
        Fault::MissingField("stockEndType").on(Endpoint::MarketValue),
    )
    .await;
    assert!(
        matches!(
            &e,
            MarketError::Parse {
                source: ParseError::MissingField {
                    field: "stockEndType",
                    ..
                },
                ..
            }
        ),
        "{e:?}"
    );

    let e = fault(
        &site,
        c(),
        Fault::NumberForString("itemname").on(Endpoint::StockDefault),
    )
    .await;
    assert!(
        matches!(
            &e,
            MarketError::Parse {
                source: ParseError::Field {
                    field: "itemname",
                    ..
                },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("itemname: expected a non-empty string, got 5"),
        "{e}"
    );
}

#[tokio::test]
async fn short_pages_duplicates_and_redirects_fail_the_listing() {
    let site = NaverSite::start(SiteSpec::full()).await;
    let c = || site.config();

    let e = fault(&site, c(), Fault::ShortPage.everywhere()).await;
    match &e {
        MarketError::Insane { url, what } => {
            assert!(url.contains("startIdx=1&"), "{url}");
            assert_eq!(
                what,
                "page 0 has 25 of 200 rows but page 1 has 25: a truncated page?"
            );
        }
        other => panic!("expected Insane, got {other:?}"),
    }

    let e = fault(&site, c(), Fault::Duplicate.everywhere()).await;
    match &e {
        MarketError::Insane { url, what } => {
            assert!(url.contains("startIdx=1&"), "{url}");
            assert!(
                what.ends_with("is on page 0 and page 1: the pages overlap"),
                "{what}"
            );
        }
        other => panic!("expected Insane, got {other:?}"),
    }

    let e = fault(&site, c(), Fault::Redirect.on(Endpoint::StockDefault)).await;
    match &e {
        MarketError::Redirect {
            url,
            status,
            location,
        } => {
            assert!(url.contains("/api/domestic/market/stock/default?"), "{url}");
            assert_eq!((*status, location.as_str()), (302, REDIRECT_LOCATION));
        }
        other => panic!("expected Redirect, got {other:?}"),
    }
    // Not followed: the app's page was never asked for.
    assert!(site
        .requests()
        .iter()
        .all(|l| l.status == 302 || l.endpoint != Endpoint::Other));
}

#[tokio::test]
async fn a_recorded_crawl_replays_to_the_same_listing_and_nothing_else() {
    let site = NaverSite::start(SiteSpec::full()).await;
    let dir = tempfile::tempdir().unwrap();
    let live = naver(NaverConfig {
        record_dir: Some(dir.path().to_path_buf()),
        ..site.config()
    });
    let kospi = listing(&live, Market::Kospi).await.unwrap();
    let kosdaq = listing(&live, Market::Kosdaq).await.unwrap();
    let bars = live.daily_bars(&Symbol::Stock(code(ETF)), 5).await.unwrap();
    drop(site);

    let replay = Naver::replay(dir.path(), NaverConfig::default(), clock()).unwrap();
    assert_eq!(listing(&replay, Market::Kospi).await.unwrap(), kospi);
    assert_eq!(listing(&replay, Market::Kosdaq).await.unwrap(), kosdaq);
    assert_eq!(
        replay
            .daily_bars(&Symbol::Stock(code(ETF)), 5)
            .await
            .unwrap(),
        bars
    );
    match replay.order_book(&code(SAMSUNG)).await {
        Err(MarketError::Replay(m)) => assert!(
            m.starts_with("no recorded response for /api/stock/005930/askingPrice"),
            "{m}"
        ),
        other => panic!("expected a replay error, got {other:?}"),
    }
}

#[tokio::test]
async fn after_market_rows_carry_their_session_and_etfs_stay_regular() {
    let site = NaverSite::start(SiteSpec::small()).await;
    site.set_after_market(true);
    let n = naver(site.config());
    let kospi = listing(&n, Market::Kospi).await.unwrap();
    assert_eq!(
        by_code(kospi.clone()),
        by_code(site.expected_listing(Market::Kospi))
    );
    let samsung = find(&kospi, SAMSUNG);
    assert_eq!(
        (samsung.price, samsung.prev_close, samsung.session),
        (98_800.into(), 97_900.into(), TradingSession::After)
    );
    assert_eq!(find(&kospi, ETF).session, TradingSession::Regular);
    let quotes = n.quotes(&[code(SAMSUNG), code(ETF)]).await.unwrap();
    assert_eq!(
        quotes.iter().map(|q| q.session).collect::<Vec<_>>(),
        vec![TradingSession::After, TradingSession::Regular]
    );
}

#[tokio::test]
async fn a_deadline_error_states_the_deadline_as_extended_for_a_history_crawl() {
    let site = NaverSite::start(SiteSpec::small()).await;
    let config = NaverConfig {
        deadline: Duration::from_secs(1),
        timeout: Duration::from_millis(300),
        ..site.config()
    };
    let n = naver(config.clone());
    // The first request starts the clock; a history crawl then announces its requests.
    n.index_now(IndexCode::Kospi).await.unwrap();
    n.allow_requests(4);
    let allowed = config.deadline + config.time_for(4);
    tokio::time::sleep(allowed + Duration::from_secs(1)).await;
    match n.index_now(IndexCode::Kospi).await {
        Err(MarketError::Deadline { seconds }) => {
            assert_eq!(seconds, allowed.as_secs_f64(), "{allowed:?}")
        }
        other => panic!("expected the deadline to have passed, got {other:?}"),
    }
}
