//! The Naver client against a real local HTTP server (wiremock): headers, paging, retries,
//! timeouts, the deadline, structure drift, encodings, batching, and record → replay.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ascend::domain::{Market, StockCode};
use ascend::market::naver::{recording_stem, Naver, NaverConfig, BROWSER_USER_AGENT};
use ascend::market::{IndexCode, MarketData, MarketError, ParseError, Symbol};
use rust_decimal_macros::dec;
use wiremock::matchers::{method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const EUC_KR_HTML: &str = "text/html;charset=EUC-KR";
const LISTING: &str = "/sise/sise_market_sum.naver";

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/naver")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Fast settings against `server`: 200 ms timeout, 10 ms backoff, 3 retries.
fn config(server: &MockServer) -> NaverConfig {
    NaverConfig {
        finance_url: server.uri(),
        polling_url: server.uri(),
        fchart_url: server.uri(),
        timeout: Duration::from_millis(200),
        backoff: Duration::from_millis(10),
        retries: 3,
        deadline: Duration::from_secs(20),
        ..NaverConfig::default()
    }
}

fn client(server: &MockServer) -> Naver {
    Naver::http(config(server)).unwrap()
}

fn ok(body: Vec<u8>, content_type: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, content_type)
}

fn code(s: &str) -> StockCode {
    StockCode::parse(s).unwrap()
}

/// A listing page in the structure of the real one, EUC-KR encoded. Rows are (code, name,
/// price) with no change.
fn listing_page(first_no: usize, rows: &[(&str, &str, u32)]) -> Vec<u8> {
    let header = [
        "N",
        "종목명",
        "현재가",
        "전일비",
        "등락률",
        "액면가",
        "시가총액",
        "상장주식수",
        "외국인비율",
        "거래량",
        "PER",
        "ROE",
        "토론실",
    ]
    .map(|h| format!("<th scope=\"col\">{h}</th>"))
    .concat();
    let body: String = rows
        .iter()
        .enumerate()
        .map(|(i, (code, name, price))| {
            format!(
                "<tr onMouseOver=\"mouseOver(this)\" onMouseOut=\"mouseOut(this)\">\n\
                 <td class=\"no\">{no}</td>\n\
                 <td><a href=\"/item/main.naver?code={code}\" class=\"tltle\">{name}</a></td>\n\
                 <td class=\"number\">{price}</td>\n\
                 <td class=\"number\"><span class=\"tah p11\">0</span></td>\n\
                 <td class=\"number\"><span class=\"tah p11\">0.00%</span></td>\n\
                 <td class=\"number\">100</td><td class=\"number\">1,000</td>\n\
                 <td class=\"number\">2,000</td><td class=\"number\">10.00</td>\n\
                 <td class=\"number\">12,345</td><td class=\"number\">9.99</td>\n\
                 <td class=\"number\">1.23</td><td class=\"center\"></td>\n</tr>\n",
                no = first_no + i
            )
        })
        .collect();
    let html = format!(
        "<html lang=\"ko\"><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=euc-kr\">\
         <title>시가총액 : 네이버페이 증권</title></head><body>\
         <table class=\"type_2\" summary=\"코스피 시가총액 리스트\"><caption>코스피</caption>\
         <thead><tr>{header}</tr></thead><tbody>\
         <tr><td class=\"division_line\" colspan=\"13\"></td></tr>\n{body}\
         <tr><td class=\"blank_08\" colspan=\"13\"></td></tr></tbody></table></body></html>"
    );
    let (bytes, _, unmappable) = encoding_rs::EUC_KR.encode(&html);
    assert!(!unmappable);
    bytes.into_owned()
}

fn page_two() -> Vec<u8> {
    listing_page(
        5,
        &[
            ("105560", "KB금융", 98_700),
            ("055550", "신한지주", 61_200),
            ("035420", "NAVER", 198_700),
            ("051910", "LG화학", 301_000),
        ],
    )
}

fn page_three() -> Vec<u8> {
    listing_page(9, &[("003550", "LG", 82_400), ("034730", "SK", 165_300)])
}

/// Serves `pages` (1-based, in order) for KOSPI and an empty page for every other page number.
async fn mount_listing(server: &MockServer, pages: Vec<Vec<u8>>) {
    for (i, page) in pages.into_iter().enumerate() {
        Mock::given(method("GET"))
            .and(path(LISTING))
            .and(query_param("sosok", "0"))
            .and(query_param("page", (i + 1).to_string()))
            .respond_with(ok(page, EUC_KR_HTML))
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(LISTING))
        .respond_with(ok(
            fixture("sise_market_sum_sosok0_page51_empty.html"),
            EUC_KR_HTML,
        ))
        .with_priority(10)
        .mount(server)
        .await;
}

/// The page numbers of the listing requests `server` received.
async fn requested_pages(server: &MockServer) -> Vec<u32> {
    let mut pages: Vec<u32> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == LISTING)
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "page")
                .and_then(|(_, v)| v.parse().ok())
        })
        .collect();
    pages.sort_unstable();
    pages
}

async fn request_count(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

fn no_pages(_: Market, _: u32, _: usize) {}

// --- headers and paging --------------------------------------------------------------------

#[tokio::test]
async fn sends_the_browser_user_agent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/sise/sise_index.naver"))
        .and(query_param("code", "KOSPI"))
        // The `header` matcher splits values at commas, and the agent has one.
        .and(|r: &Request| {
            r.headers
                .get("user-agent")
                .is_some_and(|v| v == BROWSER_USER_AGENT)
        })
        .respond_with(ok(fixture("sise_index_KOSPI.html"), EUC_KR_HTML))
        .expect(1)
        .mount(&server)
        .await;
    let index = client(&server).index_now(IndexCode::Kospi).await.unwrap();
    assert_eq!(index.value, dec!(4071.35));
    let requests = server.received_requests().await.unwrap();
    let agent = requests[0]
        .headers
        .get("user-agent")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(agent.starts_with("Mozilla/5.0"), "{agent}");
}

#[tokio::test]
async fn listing_runs_until_the_empty_page_with_a_callback_per_page() {
    let server = MockServer::start().await;
    mount_listing(
        &server,
        vec![
            fixture("sise_market_sum_sosok0_page1.html"),
            page_two(),
            page_three(),
        ],
    )
    .await;
    let naver = Naver::http(NaverConfig {
        concurrency: NonZeroUsize::new(2).unwrap(),
        ..config(&server)
    })
    .unwrap();
    let seen = Mutex::new(Vec::new());
    let on_page =
        |market: Market, page: u32, rows: usize| seen.lock().unwrap().push((market, page, rows));
    let rows = naver.listing(Market::Kospi, &on_page).await.unwrap();

    assert_eq!(
        seen.into_inner().unwrap(),
        vec![
            (Market::Kospi, 1, 4),
            (Market::Kospi, 2, 4),
            (Market::Kospi, 3, 2)
        ]
    );
    let codes: Vec<&str> = rows.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "005930", "000660", "373220", "0126Z0", "105560", "055550", "035420", "051910",
            "003550", "034730"
        ]
    );
    assert_eq!(rows[0].name, "삼성전자");
    assert_eq!(rows[5].name, "신한지주");
    assert_eq!(rows[9].price, dec!(165300));
    // A sliding window of two: nothing far past the empty page 4 is asked for.
    let pages = requested_pages(&server).await;
    assert_eq!(&pages[..4], [1, 2, 3, 4]);
    assert!(pages.len() <= 5, "{pages:?}");
    assert_eq!(naver.stats().requests as usize, pages.len());
    assert_eq!(naver.stats().retries, 0);
}

#[tokio::test]
async fn kosdaq_listing_decodes_euc_kr_by_the_page_meta() {
    let server = MockServer::start().await;
    // No charset in the header: the page's <meta> says EUC-KR.
    Mock::given(method("GET"))
        .and(path(LISTING))
        .and(query_param("sosok", "1"))
        .and(query_param("page", "1"))
        .respond_with(ok(
            fixture("sise_market_sum_sosok1_page1.html"),
            "text/html",
        ))
        .mount(&server)
        .await;
    mount_listing(&server, vec![]).await;
    let rows = client(&server)
        .listing(Market::Kosdaq, &no_pages)
        .await
        .unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "알테오젠",
            "에코프로비엠",
            "하한가예시",
            "HLB",
            "거래정지예시",
            "레인보우로보틱스"
        ]
    );
}

#[tokio::test]
async fn utf8_bytes_labelled_euc_kr_fail_to_decode() {
    let server = MockServer::start().await;
    mount_listing(
        &server,
        vec![fixture("sise_market_sum_utf8_mislabeled_euckr.html")],
    )
    .await;
    let err = client(&server)
        .listing(Market::Kospi, &no_pages)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MarketError::Parse { source: ParseError::Encoding { .. }, url } if url.ends_with("sosok=0&page=1")),
        "{err:?}"
    );
}

// --- retries and failures ------------------------------------------------------------------

#[tokio::test]
async fn a_500_then_a_200_succeeds_after_one_retry() {
    let server = MockServer::start().await;
    Mock::given(path("/sise/sise_index.naver"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/sise/sise_index.naver"))
        .respond_with(ok(fixture("sise_index_KOSDAQ.html"), EUC_KR_HTML))
        .mount(&server)
        .await;
    let naver = client(&server);
    let index = naver.index_now(IndexCode::Kosdaq).await.unwrap();
    assert_eq!(index.change, dec!(-5.12));
    assert_eq!(naver.stats().retries, 1);
    assert_eq!(naver.stats().requests, 2);
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn a_persistent_500_is_a_status_error_after_the_retries() {
    let server = MockServer::start().await;
    Mock::given(path("/sise/sise_index.naver"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let naver = client(&server);
    let err = naver.index_now(IndexCode::Kospi).await.unwrap_err();
    match &err {
        MarketError::Status {
            url,
            status,
            retried,
        } => {
            assert_eq!(
                url,
                &format!("{}/sise/sise_index.naver?code=KOSPI", server.uri())
            );
            assert_eq!((*status, *retried), (500, 3));
        }
        other => panic!("expected Status, got {other:?}"),
    }
    assert!(
        err.to_string().ends_with("HTTP 500 after 3 retries"),
        "{err}"
    );
    assert_eq!(request_count(&server).await, 4);
    assert_eq!(naver.stats().retries, 3);
}

#[tokio::test]
async fn a_403_is_retried_then_fails() {
    let server = MockServer::start().await;
    Mock::given(path("/item/sise.naver"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    let err = client(&server)
        .order_book(&code("005930"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MarketError::Status {
                status: 403,
                retried: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(request_count(&server).await, 4);
}

#[tokio::test]
async fn a_404_is_not_retried() {
    let server = MockServer::start().await;
    let err = client(&server)
        .index_now(IndexCode::Kospi)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MarketError::Status {
                status: 404,
                retried: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn a_slow_response_times_out_is_retried_and_fails_as_network() {
    let server = MockServer::start().await;
    Mock::given(path("/sise/sise_index.naver"))
        .respond_with(
            ok(fixture("sise_index_KOSPI.html"), EUC_KR_HTML).set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let naver = Naver::http(NaverConfig {
        retries: 1,
        ..config(&server)
    })
    .unwrap();
    let started = Instant::now();
    let err = naver.index_now(IndexCode::Kospi).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    match &err {
        MarketError::Network { url, message } => {
            assert!(url.ends_with("/sise/sise_index.naver?code=KOSPI"), "{url}");
            assert_eq!(message, "timed out after 0.2 s (after 1 retry)");
        }
        other => panic!("expected Network, got {other:?}"),
    }
    assert_eq!(naver.stats().retries, 1);
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn a_closed_port_is_a_network_error_saying_connection_refused() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let naver = Naver::http(NaverConfig {
        finance_url: base.clone(),
        timeout: Duration::from_millis(200),
        backoff: Duration::from_millis(10),
        retries: 2,
        ..NaverConfig::default()
    })
    .unwrap();
    let err = naver.index_now(IndexCode::Kospi).await.unwrap_err();
    match &err {
        MarketError::Network { message, .. } => {
            assert_eq!(message, "connection refused (after 2 retries)")
        }
        other => panic!("expected Network, got {other:?}"),
    }
    assert!(err.to_string().starts_with(&base), "{err}");
}

#[tokio::test]
async fn past_the_deadline_every_call_fails() {
    let server = MockServer::start().await;
    Mock::given(path("/sise/sise_index.naver"))
        .respond_with(
            ok(fixture("sise_index_KOSPI.html"), EUC_KR_HTML).set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let naver = Naver::http(NaverConfig {
        deadline: Duration::from_millis(300),
        ..config(&server)
    })
    .unwrap();
    let started = Instant::now();
    let err = naver.index_now(IndexCode::Kospi).await.unwrap_err();
    assert!(
        matches!(err, MarketError::Deadline { seconds } if seconds == 0.3),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let sent = request_count(&server).await;
    // Every later call fails at once, without a request.
    let err = naver
        .daily_bars(&Symbol::Index(IndexCode::Kospi), 5)
        .await
        .unwrap_err();
    assert!(matches!(err, MarketError::Deadline { .. }), "{err:?}");
    assert_eq!(request_count(&server).await, sent);
}

// --- structure drift -----------------------------------------------------------------------

#[tokio::test]
async fn a_drifted_page_is_a_parse_error_naming_the_url() {
    let server = MockServer::start().await;
    mount_listing(
        &server,
        vec![fixture("sise_market_sum_drift_class_renamed.html")],
    )
    .await;
    let err = client(&server)
        .listing(Market::Kospi, &no_pages)
        .await
        .unwrap_err();
    let url = format!("{}{LISTING}?sosok=0&page=1", server.uri());
    assert!(
        matches!(&err, MarketError::Parse { url: u, source: ParseError::Missing { what } } if *u == url && what == "table.type_2"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("{url}: missing table.type_2"));
}

#[tokio::test]
async fn a_page_cut_in_transfer_fails_the_listing() {
    let server = MockServer::start().await;
    mount_listing(
        &server,
        vec![
            fixture("sise_market_sum_sosok0_page1.html"),
            fixture("sise_market_sum_sosok0_page2_truncated.html"),
        ],
    )
    .await;
    let err = client(&server)
        .listing(Market::Kospi, &no_pages)
        .await
        .unwrap_err();
    match &err {
        MarketError::Parse { url, .. } => assert!(url.ends_with("sosok=0&page=2"), "{url}"),
        other => panic!("expected Parse, got {other:?}"),
    }
}

#[tokio::test]
async fn a_short_page_before_a_full_one_is_insane() {
    let server = MockServer::start().await;
    mount_listing(
        &server,
        vec![
            fixture("sise_market_sum_sosok0_page1.html"),
            page_three(),
            page_two(),
        ],
    )
    .await;
    let err = client(&server)
        .listing(Market::Kospi, &no_pages)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}{LISTING}?sosok=0&page=2: page 2 has 2 rows but page 3 is not empty: truncated page?",
            server.uri()
        )
    );
}

#[tokio::test]
async fn a_site_that_repeats_its_last_page_is_insane() {
    let server = MockServer::start().await;
    let page1 = fixture("sise_market_sum_sosok0_page1.html");
    mount_listing(&server, vec![page1.clone(), page1]).await;
    let err = client(&server)
        .listing(Market::Kospi, &no_pages)
        .await
        .unwrap_err();
    match &err {
        MarketError::Insane { what, .. } => assert!(what.ends_with("the pages overlap"), "{what}"),
        other => panic!("expected Insane, got {other:?}"),
    }
}

#[tokio::test]
async fn a_failure_past_the_empty_page_does_not_matter() {
    let server = MockServer::start().await;
    Mock::given(path(LISTING))
        .and(query_param("page", "6"))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_listing(
        &server,
        vec![fixture("sise_market_sum_sosok0_page1.html"), page_two()],
    )
    .await;
    let rows = client(&server)
        .listing(Market::Kospi, &no_pages)
        .await
        .unwrap();
    assert_eq!(rows.len(), 8);
    assert!(requested_pages(&server).await.contains(&6));
}

#[tokio::test]
async fn an_empty_first_page_is_insane() {
    let server = MockServer::start().await;
    mount_listing(&server, vec![]).await;
    let err = client(&server)
        .listing(Market::Kospi, &no_pages)
        .await
        .unwrap_err();
    assert!(matches!(err, MarketError::Insane { .. }), "{err:?}");
}

// --- quotes, index, bars, order book -------------------------------------------------------

/// Answers the polling API with one quote for each code in the path.
struct PollingEcho;

impl Respond for PollingEcho {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let codes = request.url.path().rsplit('/').next().unwrap();
        let datas: Vec<String> = codes
            .split(',')
            .map(|c| {
                format!(
                    r#"{{"itemCode":"{c}","stockName":"종목{c}","closePrice":"10,000","compareToPreviousClosePrice":"0","compareToPreviousPrice":{{"code":"3"}},"fluctuationsRatio":"0.00","marketStatus":"OPEN","accumulatedTradingVolume":"1,000"}}"#
                )
            })
            .collect();
        let json = format!(
            r#"{{"pollingInterval":7000,"datas":[{}],"time":"20261124101503"}}"#,
            datas.join(",")
        );
        ok(json.into_bytes(), "application/json;charset=UTF-8")
    }
}

#[tokio::test]
async fn quotes_for_130_codes_take_exactly_3_requests() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/realtime/domestic/stock/[0-9A-Z,]+$"))
        .respond_with(PollingEcho)
        .mount(&server)
        .await;
    let codes: Vec<StockCode> = (0..130)
        .map(|i| code(&format!("{:06}", 100_000 + i)))
        .collect();
    let naver = client(&server);
    let quotes = naver.quotes(&codes).await.unwrap();

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    let mut sizes: Vec<usize> = requests
        .iter()
        .map(|r| r.url.path().rsplit('/').next().unwrap().split(',').count())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [10, 60, 60]);
    let got: Vec<&str> = quotes.iter().map(|q| q.code.as_str()).collect();
    let asked: Vec<&str> = codes.iter().map(StockCode::as_str).collect();
    assert_eq!(got, asked);
    assert_eq!(quotes[129].name, "종목100129");
    assert_eq!(naver.stats().requests, 3);
}

#[tokio::test]
async fn quotes_for_a_few_codes_take_one_request() {
    let server = MockServer::start().await;
    Mock::given(path("/api/realtime/domestic/stock/005930,000660"))
        .respond_with(ok(
            fixture("polling_realtime_005930_000660.json"),
            "application/json;charset=UTF-8",
        ))
        .mount(&server)
        .await;
    let naver = client(&server);
    let quotes = naver
        .quotes(&[code("005930"), code("000660")])
        .await
        .unwrap();
    assert_eq!(request_count(&server).await, 1);
    assert_eq!(quotes.len(), 2);
    assert_eq!(quotes[0].name, "삼성전자");
    assert_eq!(quotes[0].price, Some(dec!(55900)));
    assert_eq!(quotes[1].change, Some(dec!(3400)));
    assert!(naver.quotes(&[]).await.unwrap().is_empty());
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn index_bars_and_order_book_parse_through_the_client() {
    let server = MockServer::start().await;
    Mock::given(path("/sise/sise_index.naver"))
        .and(query_param("code", "KOSDAQ"))
        .respond_with(ok(fixture("sise_index_KOSDAQ.html"), EUC_KR_HTML))
        .mount(&server)
        .await;
    for (symbol, file) in [
        ("005930", "fchart_005930_day.xml"),
        ("KOSPI", "fchart_KOSPI_day.xml"),
    ] {
        Mock::given(path("/sise.nhn"))
            .and(query_param("symbol", symbol))
            .and(query_param("timeframe", "day"))
            .and(query_param("count", "5"))
            .and(query_param("requestType", "0"))
            .respond_with(ok(fixture(file), "text/xml"))
            .mount(&server)
            .await;
    }
    Mock::given(path("/item/sise.naver"))
        .and(query_param("code", "005930"))
        .and(query_param("asktype", "10"))
        .respond_with(ok(fixture("item_sise_005930_asktype10.html"), EUC_KR_HTML))
        .mount(&server)
        .await;
    let naver = client(&server);

    let index = naver.index_now(IndexCode::Kosdaq).await.unwrap();
    assert_eq!(
        (index.value, index.change_rate),
        (dec!(853.21), dec!(-0.60))
    );
    let bars = naver
        .daily_bars(&Symbol::Stock(code("005930")), 5)
        .await
        .unwrap();
    assert_eq!(bars.len(), 5);
    assert_eq!(bars[4].close, dec!(56600));
    let bars = naver
        .daily_bars(&Symbol::Index(IndexCode::Kospi), 5)
        .await
        .unwrap();
    assert_eq!(bars[0].close, dec!(6471.17));
    let book = naver.order_book(&code("005930")).await.unwrap();
    assert_eq!((book.asks.len(), book.bids.len()), (10, 10));
    assert_eq!(book.asks[0].price, dec!(56600));
    assert_eq!(book.bids[0].price, dec!(56500));
    let stats = naver.stats();
    assert_eq!(stats.requests, 4);
    assert!(stats.bytes > 5_000, "{stats:?}");
}

// --- record and replay ---------------------------------------------------------------------

#[tokio::test]
async fn recorded_responses_replay_to_identical_results_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let (listing, quotes, bars) = {
        let server = MockServer::start().await;
        mount_listing(
            &server,
            vec![
                fixture("sise_market_sum_sosok0_page1.html"),
                page_two(),
                page_three(),
            ],
        )
        .await;
        Mock::given(path("/api/realtime/domestic/stock/005930,000660"))
            .respond_with(ok(
                fixture("polling_realtime_005930_000660.json"),
                "application/json;charset=UTF-8",
            ))
            .mount(&server)
            .await;
        Mock::given(path("/sise.nhn"))
            .and(query_param("symbol", "005930"))
            .respond_with(ok(fixture("fchart_005930_day.xml"), "text/xml"))
            .mount(&server)
            .await;
        let naver = Naver::http(NaverConfig {
            record_dir: Some(dir.path().to_path_buf()),
            ..config(&server)
        })
        .unwrap();
        (
            naver.listing(Market::Kospi, &no_pages).await.unwrap(),
            naver
                .quotes(&[code("005930"), code("000660")])
                .await
                .unwrap(),
            naver
                .daily_bars(&Symbol::Stock(code("005930")), 5)
                .await
                .unwrap(),
        )
    };

    // The body is kept byte for byte, beside its status and content type.
    let stem = recording_stem("/sise/sise_market_sum.naver?sosok=0&page=1");
    let body = std::fs::read(dir.path().join(format!("{stem}.body"))).unwrap();
    assert_eq!(body, fixture("sise_market_sum_sosok0_page1.html"));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(format!("{stem}.json"))).unwrap())
            .unwrap();
    assert_eq!(meta["target"], "/sise/sise_market_sum.naver?sosok=0&page=1");
    assert_eq!(meta["status"], 200);
    assert_eq!(meta["content_type"], EUC_KR_HTML);

    // The server is gone; replay answers for the real hosts.
    let replay = Naver::replay(dir.path(), NaverConfig::default()).unwrap();
    let pages = Mutex::new(Vec::new());
    let on_page = |_: Market, page: u32, rows: usize| pages.lock().unwrap().push((page, rows));
    assert_eq!(
        replay.listing(Market::Kospi, &on_page).await.unwrap(),
        listing
    );
    assert_eq!(pages.into_inner().unwrap(), [(1, 4), (2, 4), (3, 2)]);
    assert_eq!(
        replay
            .quotes(&[code("005930"), code("000660")])
            .await
            .unwrap(),
        quotes
    );
    assert_eq!(
        replay
            .daily_bars(&Symbol::Stock(code("005930")), 5)
            .await
            .unwrap(),
        bars
    );
    assert!(replay.stats().requests >= 6);
}

#[tokio::test]
async fn replaying_an_unrecorded_url_is_a_replay_error() {
    let dir = tempfile::tempdir().unwrap();
    let replay = Naver::replay(dir.path(), NaverConfig::default()).unwrap();
    let err = replay.index_now(IndexCode::Kospi).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "replay: no recorded response for /sise/sise_index.naver?code=KOSPI in {}",
            dir.path().display()
        )
    );
    let missing = dir.path().join("nowhere");
    assert!(matches!(
        Naver::replay(&missing, NaverConfig::default()),
        Err(MarketError::Replay(_))
    ));
}
