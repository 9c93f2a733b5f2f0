//! A local stand-in for Naver Pay Securities as it answers since the September 2026 renewal:
//! ONE wiremock server that serves the paths of all four hosts (stock, m.stock, polling,
//! chart; the paths do not collide), with generated deterministic data in the real shapes
//! (every body is written by an `ascend::market::json::render_*` function), a configurable
//! delay, injectable faults, and a log of every request (arrival time, headers, status) from
//! which tests read request counts, headers per host and requests in flight per host.
//!
//! | endpoint | paging and answers |
//! |---|---|
//! | `/api/domestic/market/stock/default?marketType=M&startIdx=P&pageSize=S` | 0-based page `P` of `S` stocks by market cap, a bare array, `[]` past the end |
//! | `/api/stocks/marketValue/{KOSPI,KOSDAQ}?page=N&pageSize=S` | 1-based page, `S` ≤ 100 (else 400), `{stocks,totalCount}`; KOSPI holds the ETFs and ETNs |
//! | `/api/realtime/domestic/stock/C1,C2,…` | `{pollingInterval,datas}`, unknown codes absent |
//! | `/api/realtime/domestic/index/KOSPI,KOSDAQ` | `{pollingInterval,datas}` |
//! | `/api/stock/CODE/askingPrice` | 5 levels a side (none for a halted stock) |
//! | `/chart/domestic/{item,index}/X/day?startDateTime=…&endDateTime=…` | bars of trading days inside the range, oldest first |
//!
//! Other `stock`/`m.stock` paths answer 200 with the app's HTML page, as the real app does.
//!
//! The data: [`SiteSpec::full`] is the market's size in October 2026 (KOSPI 950 and KOSDAQ
//! 1,820 stocks, 1,000 ETFs and ETNs on KOSPI); the named instruments below are always in it.
//! Stock prices sit on the stock tick inside their band; ETF and ETN prices on their own tick
//! (20,210 is one), leveraged products move up to ±50 %.
//!
//! Shared by the integration tests (as `common::naver_site`) and `examples/bench.rs` (through
//! `#[path]`), so it names nothing of either crate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use ascend::domain::calendar::synthetic;
use ascend::domain::rules::{self, Instrument};
use ascend::domain::{InstrumentKind, Market, StockCode, TradingSession};
use ascend::market::json::{self, IndexQuote, ListedRow, QuoteNow};
use ascend::market::naver::NaverConfig;
use ascend::market::{Bar, Level, OrderBook};

/// The default trading day of the site: the Tuesday of the tests' `SESSION`.
pub const TODAY: (i32, u32, u32) = (2026, 11, 24);

/// KOSPI: 삼성전자, the largest market cap.
pub const SAMSUNG: &str = "005930";
/// KOSPI: 삼성전자우, a preferred share (`…우`).
pub const SAMSUNG_PREF: &str = "005935";
/// KOSPI: 케이탑리츠, a REIT (`type` RT).
pub const REIT: &str = "145270";
/// KOSPI: a code with a letter, as new listings have since 2024.
pub const ALPHANUMERIC: &str = "0126Z0";
/// KOSDAQ: 에코프로비엠.
pub const ECOPRO: &str = "247540";
/// KOSDAQ: a halted stock (`tradeStopYn` Y): last close, no open/high/low, volume 0.
pub const HALTED: &str = "036000";
/// KOSDAQ: listed today, priced at 2.5× its base (the offering price).
pub const FIRST_DAY: &str = "0099X0";
/// The base (offering) price of [`FIRST_DAY`].
pub const FIRST_DAY_BASE: i64 = 10_000;
/// KOSPI ETF: KODEX 200 at 20,210 (on the 5-won ETF tick, off the 50-won stock tick).
pub const ETF: &str = "069500";
/// KOSPI ETF: KODEX 레버리지, up 45 %.
pub const ETF_LEVERAGED: &str = "122630";
/// KOSPI ETF: KODEX 200선물인버스2X, down 45 %.
pub const ETF_INVERSE_2X: &str = "252670";
/// KOSPI ETN: 신한 WTI원유 선물 ETN.
pub const ETN: &str = "580011";

/// What the site holds and how it answers at first.
#[derive(Debug, Clone)]
pub struct SiteSpec {
    /// Stocks on KOSPI (the four named KOSPI stocks included).
    pub kospi: usize,
    /// Stocks on KOSDAQ (the three named KOSDAQ stocks included).
    pub kosdaq: usize,
    /// ETFs and ETNs, all on KOSPI (the four named ones included).
    pub etps: usize,
    /// The trading day the prices are of.
    pub today: NaiveDate,
    /// Delay of every response.
    pub delay: Duration,
    /// Seed of the generated rows.
    pub seed: u64,
}

impl SiteSpec {
    /// The market's size in October 2026.
    pub fn full() -> Self {
        SiteSpec {
            kospi: 950,
            kosdaq: 1_820,
            etps: 1_000,
            ..Self::small()
        }
    }

    /// A small market (for history crawls, one request per symbol).
    pub fn small() -> Self {
        SiteSpec {
            kospi: 40,
            kosdaq: 30,
            etps: 20,
            today: NaiveDate::from_ymd_opt(TODAY.0, TODAY.1, TODAY.2).expect("a date"),
            delay: Duration::ZERO,
            seed: 0x4E41_5645_5200,
        }
    }
}

/// Which host a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host {
    Stock,
    MStock,
    Polling,
    Chart,
}

impl Host {
    pub const ALL: [Host; 4] = [Host::Stock, Host::MStock, Host::Polling, Host::Chart];

    /// The Referer the client sends to this host.
    pub fn referer(self) -> &'static str {
        match self {
            Host::Stock | Host::Chart => "https://stock.naver.com/",
            Host::MStock => "https://m.stock.naver.com/",
            Host::Polling => "https://finance.naver.com/",
        }
    }
}

/// The endpoints the site serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    StockDefault,
    MarketValue,
    PollingStock,
    PollingIndex,
    AskingPrice,
    ChartItem,
    ChartIndex,
    /// Any other path.
    Other,
}

impl Endpoint {
    fn of(path: &str) -> Endpoint {
        if path == "/api/domestic/market/stock/default" {
            Endpoint::StockDefault
        } else if path.starts_with("/api/stocks/marketValue/") {
            Endpoint::MarketValue
        } else if path.starts_with("/api/realtime/domestic/stock/") {
            Endpoint::PollingStock
        } else if path.starts_with("/api/realtime/domestic/index/") {
            Endpoint::PollingIndex
        } else if path.starts_with("/api/stock/") && path.ends_with("/askingPrice") {
            Endpoint::AskingPrice
        } else if path.starts_with("/chart/domestic/item/") && path.ends_with("/day") {
            Endpoint::ChartItem
        } else if path.starts_with("/chart/domestic/index/") && path.ends_with("/day") {
            Endpoint::ChartIndex
        } else {
            Endpoint::Other
        }
    }

    fn host_of(path: &str) -> Host {
        if path.starts_with("/api/realtime/") {
            Host::Polling
        } else if path.starts_with("/chart/") {
            Host::Chart
        } else if path.starts_with("/api/stocks/")
            || path.starts_with("/api/stock/")
            || path.starts_with("/api/index/")
        {
            Host::MStock
        } else {
            Host::Stock
        }
    }
}

/// What can go wrong with an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer this status (with a short text body).
    Status(u16),
    /// Answer 429 with `Retry-After: SECS` (once, unless `times` says otherwise), then normally.
    RetryAfter(u64),
    /// Answer normally, after this long (longer than the client's timeout).
    Timeout(Duration),
    /// Answer 200 with the app's HTML page.
    Html,
    /// Cut the JSON body in half.
    Malformed,
    /// Remove this field from every row.
    MissingField(&'static str),
    /// Rename a field of every row (e.g. `itemcode` → `itemCode`).
    RenamedField(&'static str, &'static str),
    /// Put the number 5 in this field of every row (e.g. `itemname`).
    NumberForString(&'static str),
    /// stock/default: cut every page after 25 rows.
    ShortPage,
    /// stock/default: every page after the first starts with the last row of the page before.
    Duplicate,
    /// Listings (stock/default, marketValue): drop every tenth row.
    MassDisappearance,
    /// stock/default: the last page with rows arrives as `[]`, as if the list ended a page
    /// early (its paging alone cannot show it).
    LastPageEmpty,
    /// 302 to the app (`https://stock.naver.com/…`), as the classic pages answer.
    Redirect,
}

/// Where the app redirects to.
pub const REDIRECT_LOCATION: &str =
    "https://stock.naver.com/market/stock/kr/stocklist/capitalization";

/// Rows left on a page by [`Fault::ShortPage`].
pub const SHORT_PAGE_ROWS: usize = 25;

impl Fault {
    /// This fault on one endpoint.
    pub fn on(self, endpoint: Endpoint) -> Injection {
        Injection {
            endpoint: Some(endpoint),
            ..self.everywhere()
        }
    }

    /// This fault on every request it applies to.
    pub fn everywhere(self) -> Injection {
        let times = matches!(self, Fault::RetryAfter(_)).then_some(1);
        Injection {
            fault: self,
            endpoint: None,
            matching: None,
            after: 0,
            times,
        }
    }
}

/// A fault and the requests it hits: those of `endpoint` (all when `None`) whose target
/// contains `matching`, from the `after`-th such request on, `times` times (always when `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Injection {
    pub fault: Fault,
    pub endpoint: Option<Endpoint>,
    pub matching: Option<String>,
    pub after: u32,
    pub times: Option<u32>,
}

impl Injection {
    /// Only requests whose target (path and query) contains `text`.
    pub fn matching(mut self, text: &str) -> Self {
        self.matching = Some(text.to_string());
        self
    }
    /// Let the first `n` matching requests through.
    pub fn after(mut self, n: u32) -> Self {
        self.after = n;
        self
    }
    /// Hit at most `n` requests (then answer normally again).
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
}

/// One request as the site saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub at: Instant,
    pub host: Host,
    pub endpoint: Endpoint,
    /// Path and query, as the client appended them to the base URL.
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub status: u16,
    /// How long the answer was held back.
    pub delay: Duration,
    /// The fault that shaped the answer, if any.
    pub fault: Option<Fault>,
}

impl Logged {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// The data

/// A stable stream of draws: the simulator's splitmix64 over a counter.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let draw = ascend::market::sim::splitmix64(self.0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        draw
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// A whole number in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

fn hash_of(text: &str, salt: u64) -> u64 {
    let mut h = Rng(salt);
    for b in text.bytes() {
        h.0 ^= u64::from(b);
        h.next();
    }
    h.next()
}

const SYLLABLES: &[&str] = &[
    "삼", "성", "한", "국", "대", "현", "기", "아", "신", "세", "계", "동", "서", "남", "북", "금",
    "호", "광", "명", "진", "영", "미", "래", "에", "코", "프", "로", "비", "엠", "케", "이", "하",
];
const SUFFIXES: &[&str] = &[
    "전자",
    "바이오",
    "홀딩스",
    "화학",
    "건설",
    "제약",
    "증권",
    "에너지",
    "솔루션",
    "테크",
    "물산",
    "제철",
    "",
];
const ETF_BRANDS: &[&str] = &[
    "KODEX", "TIGER", "KBSTAR", "ACE", "SOL", "HANARO", "ARIRANG", "PLUS",
];
const ETN_BRANDS: &[&str] = &["신한", "삼성", "미래에셋", "KB", "한투", "NH"];
const THEMES: &[&str] = &[
    "200",
    "코스닥150",
    "미국S&P500",
    "반도체",
    "2차전지",
    "고배당",
    "국고채3년",
    "금현물",
    "나스닥100",
    "은행",
    "WTI원유 선물",
    "구리실물",
];

fn pick<'a>(rng: &mut Rng, list: &[&'a str]) -> &'a str {
    list[rng.below(list.len() as u64) as usize]
}

fn company_name(rng: &mut Rng) -> String {
    format!(
        "{}{}{}{}",
        pick(rng, SYLLABLES),
        pick(rng, SYLLABLES),
        pick(rng, SYLLABLES),
        pick(rng, SUFFIXES)
    )
}

fn dec(v: i64) -> Decimal {
    Decimal::from(v)
}

fn rate_of(prev: Decimal, price: Decimal) -> Decimal {
    ((price - prev) * dec(100) / prev).round_dp(2)
}

/// A stock row with its band, limits and day's figures, from its previous close and price.
#[allow(clippy::too_many_arguments)]
fn stock_row(
    code: &str,
    name: &str,
    market: Market,
    kind: InstrumentKind,
    prev: Decimal,
    price: Decimal,
    shares: i64,
    listed_on: NaiveDate,
    halted: bool,
    volume: i64,
    today: NaiveDate,
) -> ListedRow {
    let band = rules::band_for(
        &Instrument {
            kind,
            leverage: Decimal::ONE,
            listed_on: Some(listed_on),
        },
        prev,
        today,
    );
    let (open, high, low, volume) = if halted {
        (None, None, None, 0)
    } else {
        let open = prev.clamp(band.lower, band.upper);
        (
            Some(open),
            Some(open.max(price)),
            Some(open.min(price)),
            volume,
        )
    };
    ListedRow {
        code: StockCode::parse(code).expect("a valid code"),
        name: name.to_string(),
        market,
        kind,
        price,
        prev_close: prev,
        change_rate: Some(rate_of(prev, price)),
        open,
        high,
        low,
        volume: Some(volume),
        trading_value: Some(price * dec(volume)),
        market_cap: Some(price * dec(shares)),
        listed_shares: Some(shares),
        listed_on: Some(listed_on),
        upper_limit: Some(band.upper),
        lower_limit: Some(band.lower),
        halted,
        session: TradingSession::Regular,
    }
}

/// An ETF or ETN row as marketValue gives it: no open/high/low, limits, share count or date.
fn etp_row(
    code: &str,
    name: &str,
    kind: InstrumentKind,
    prev: Decimal,
    price: Decimal,
    units: i64,
    volume: i64,
) -> ListedRow {
    ListedRow {
        code: StockCode::parse(code).expect("a valid code"),
        name: name.to_string(),
        market: Market::Kospi,
        kind,
        price,
        prev_close: prev,
        change_rate: Some(rate_of(prev, price)),
        open: None,
        high: None,
        low: None,
        volume: Some(volume),
        trading_value: Some(price * dec(volume)),
        market_cap: Some(price * dec(units)),
        listed_shares: None,
        listed_on: None,
        upper_limit: None,
        lower_limit: None,
        halted: false,
        session: TradingSession::Regular,
    }
}

/// Price levels of generated stocks (one per tick size).
const LEVELS: &[(i64, i64)] = &[
    (300, 1_000),
    (1_000, 2_000),
    (2_000, 5_000),
    (5_000, 20_000),
    (20_000, 50_000),
    (50_000, 200_000),
    (200_000, 500_000),
    (500_000, 900_000),
];

/// A generated stock: a previous close on its tick, a price on its tick inside the band.
fn generated_stock(
    rng: &mut Rng,
    code: &str,
    name: &str,
    market: Market,
    kind: InstrumentKind,
    today: NaiveDate,
) -> ListedRow {
    let (lo, hi) = LEVELS[rng.below(LEVELS.len() as u64) as usize];
    let prev = rules::floor_to_tick(dec(rng.between(lo, hi)));
    let band = rules::price_band(prev);
    let tick = rules::tick_size(prev);
    let ticks = dec(rng.between(1, 40));
    let price = match rng.below(100) {
        0..=39 => rules::floor_to_tick(prev + tick * ticks).min(band.upper),
        40..=79 => rules::floor_to_tick(prev - tick * ticks).max(band.lower),
        80..=89 => prev,
        90..=94 => band.upper,
        _ => band.lower,
    };
    let listed_on = NaiveDate::from_ymd_opt(1976, 1, 5).expect("a date")
        + chrono::Duration::days(rng.between(0, 17_800));
    let shares = rng.between(2_000_000, 400_000_000);
    let volume = rng.between(1_000, 5_000_000);
    stock_row(
        code, name, market, kind, prev, price, shares, listed_on, false, volume, today,
    )
}

/// A generated ETF or ETN: on its own tick; leveraged products move up to ±50 %, others ±5 %.
fn generated_etp(rng: &mut Rng, i: usize) -> ListedRow {
    let etn = i % 4 == 3;
    let kind = if etn {
        InstrumentKind::Etn
    } else {
        InstrumentKind::Etf
    };
    let theme = pick(rng, THEMES);
    let leveraged = i % 10 == 5 || i % 10 == 6;
    let name = match (etn, i % 10) {
        (false, 5) => format!("{} {theme} 레버리지", pick(rng, ETF_BRANDS)),
        (false, 6) => format!("{} {theme}선물인버스2X", pick(rng, ETF_BRANDS)),
        (false, _) => format!("{} {theme}", pick(rng, ETF_BRANDS)),
        (true, 5) => format!("{} 레버리지 {theme} ETN", pick(rng, ETN_BRANDS)),
        (true, 6) => format!("{} 인버스 2X {theme} ETN", pick(rng, ETN_BRANDS)),
        (true, _) => format!("{} {theme} ETN", pick(rng, ETN_BRANDS)),
    };
    let prev = if rng.below(10) == 0 {
        dec(rng.between(500, 1_999))
    } else {
        rules::floor_to_tick_of(kind, dec(rng.between(2_000, 60_000)))
    };
    let reach = if leveraged { 5_000 } else { 500 };
    let move_bp = rng.between(-reach, reach);
    let moved = prev * (dec(10_000) + dec(move_bp)) / dec(10_000);
    let price = rules::floor_to_tick_of(kind, moved).max(Decimal::ONE);
    let code = format!("{}", if etn { 500_000 } else { 300_000 } + i);
    etp_row(
        &code,
        &name,
        kind,
        prev,
        price,
        rng.between(100_000, 80_000_000),
        rng.between(0, 3_000_000),
    )
}

fn indices(today: NaiveDate) -> Vec<IndexQuote> {
    let at = Some(today.and_hms_opt(10, 0, 0).expect("a time"));
    [
        ("KOSPI", Decimal::new(412_345, 2), Decimal::new(410_120, 2)),
        ("KOSDAQ", Decimal::new(91_234, 2), Decimal::new(91_500, 2)),
        ("KPI200", Decimal::new(55_012, 2), Decimal::new(54_800, 2)),
    ]
    .into_iter()
    .map(|(code, value, prev)| IndexQuote {
        code: code.to_string(),
        value,
        prev_close: prev,
        change_rate: Some(rate_of(prev, value)),
        traded_at: at,
        market_status: "OPEN".into(),
    })
    .collect()
}

/// The named stocks: code, name, market, kind, previous close (the base price), price, listed
/// shares, listing date (`None`: today), halted, volume.
type NamedStock = (
    &'static str,
    &'static str,
    Market,
    InstrumentKind,
    i64,
    i64,
    i64,
    Option<(i32, u32, u32)>,
    bool,
    i64,
);

#[rustfmt::skip]
const NAMED_STOCKS: &[NamedStock] = &[
    (SAMSUNG, "삼성전자", Market::Kospi, InstrumentKind::Common, 97_900, 98_700, 5_919_637_922, Some((1975, 6, 11)), false, 12_345_678),
    (SAMSUNG_PREF, "삼성전자우", Market::Kospi, InstrumentKind::Preferred, 80_100, 80_500, 822_886_700, Some((1989, 9, 25)), false, 1_234_567),
    (REIT, "케이탑리츠", Market::Kospi, InstrumentKind::Reit, 1_050, 1_046, 44_000_000, Some((2012, 2, 7)), false, 81_234),
    (ALPHANUMERIC, "하이퍼마린엔진", Market::Kospi, InstrumentKind::Common, 9_980, 12_950, 30_000_000, Some((2025, 2, 14)), false, 2_000_000),
    (ECOPRO, "에코프로비엠", Market::Kosdaq, InstrumentKind::Common, 101_200, 98_700, 97_801_344, Some((2019, 3, 5)), false, 900_000),
    (HALTED, "정지바이오", Market::Kosdaq, InstrumentKind::Common, 4_315, 4_315, 18_000_000, Some((2003, 5, 20)), true, 0),
    (FIRST_DAY, "새내기로보틱스", Market::Kosdaq, InstrumentKind::Common, FIRST_DAY_BASE, FIRST_DAY_BASE * 5 / 2, 12_000_000, None, false, 7_654_321),
];

/// The named ETFs and ETNs (all on KOSPI): code, name, kind, previous close, price, units,
/// volume.
#[rustfmt::skip]
const NAMED_ETPS: &[(&str, &str, InstrumentKind, i64, i64, i64, i64)] = &[
    (ETF, "KODEX 200", InstrumentKind::Etf, 20_000, 20_210, 300_000_000, 4_000_000),
    (ETF_LEVERAGED, "KODEX 레버리지", InstrumentKind::Etf, 10_000, 14_500, 250_000_000, 20_000_000),
    (ETF_INVERSE_2X, "KODEX 200선물인버스2X", InstrumentKind::Etf, 2_000, 1_100, 900_000_000, 60_000_000),
    (ETN, "신한 WTI원유 선물 ETN", InstrumentKind::Etn, 12_000, 12_150, 5_000_000, 30_000),
];

/// Everything the site knows, fixed at start.
struct Data {
    today: NaiveDate,
    rows: Vec<ListedRow>,
    by_code: HashMap<String, usize>,
    /// Stock rows of KOSPI and KOSDAQ, by market cap (stock/default's order).
    stocks: [Vec<usize>; 2],
    /// Every row of KOSPI (stocks, ETFs, ETNs) and of KOSDAQ, by market cap (marketValue's).
    values: [Vec<usize>; 2],
    indices: Vec<IndexQuote>,
}

fn slot(market: Market) -> usize {
    match market {
        Market::Kospi => 0,
        Market::Kosdaq => 1,
    }
}

impl Data {
    fn generate(spec: &SiteSpec) -> Data {
        let today = spec.today;
        let (kospi, kosdaq) = (Market::Kospi, Market::Kosdaq);
        let common = InstrumentKind::Common;
        let mut rows: Vec<ListedRow> = NAMED_STOCKS
            .iter()
            .map(
                |&(code, name, market, kind, prev, price, shares, listed, halted, volume)| {
                    let listed_on = listed.map_or(today, |(y, m, d)| {
                        NaiveDate::from_ymd_opt(y, m, d).expect("a date")
                    });
                    stock_row(
                        code,
                        name,
                        market,
                        kind,
                        dec(prev),
                        dec(price),
                        shares,
                        listed_on,
                        halted,
                        volume,
                        today,
                    )
                },
            )
            .collect();
        rows.extend(
            NAMED_ETPS
                .iter()
                .map(|&(code, name, kind, prev, price, units, volume)| {
                    etp_row(code, name, kind, dec(prev), dec(price), units, volume)
                }),
        );
        let named = |market: Market| rows.iter().filter(|r| r.market == market).count();
        let named_etps = rows
            .iter()
            .filter(|r| r.kind.is_exchange_traded_product())
            .count();
        let named_kospi = named(kospi) - named_etps;
        let named_kosdaq = named(kosdaq);
        assert!(
            spec.kospi >= named_kospi && spec.kosdaq >= named_kosdaq && spec.etps >= named_etps,
            "the site needs room for its named instruments"
        );
        let mut rng = Rng(spec.seed);
        for i in 0..spec.kospi - named_kospi {
            let code = if i % 97 == 96 {
                format!("1{:03}Z0", i / 97)
            } else {
                format!("{}", 100_000 + i)
            };
            let mut name = company_name(&mut rng);
            let kind = if i % 40 == 7 {
                name.push('우');
                InstrumentKind::Preferred
            } else if i % 200 == 13 {
                name = format!("{}리츠", &name);
                InstrumentKind::Reit
            } else {
                common
            };
            rows.push(generated_stock(&mut rng, &code, &name, kospi, kind, today));
        }
        for i in 0..spec.kosdaq - named_kosdaq {
            let code = if i % 97 == 96 {
                format!("2{:03}K0", i / 97)
            } else {
                format!("{}", 200_000 + i)
            };
            let (name, kind) = if i % 60 == 11 {
                (
                    format!("{}스팩{}호", pick(&mut rng, ETN_BRANDS), 1 + i / 60),
                    InstrumentKind::Spac,
                )
            } else {
                (company_name(&mut rng), common)
            };
            rows.push(generated_stock(&mut rng, &code, &name, kosdaq, kind, today));
        }
        for i in 0..spec.etps - named_etps {
            rows.push(generated_etp(&mut rng, i));
        }
        let by_code: HashMap<String, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.code.to_string(), i))
            .collect();
        assert_eq!(by_code.len(), rows.len(), "generated codes are distinct");
        let by_cap = |keep: &dyn Fn(&ListedRow) -> bool| {
            let mut order: Vec<usize> = (0..rows.len()).filter(|&i| keep(&rows[i])).collect();
            order.sort_by(|&a, &b| {
                rows[b]
                    .market_cap
                    .cmp(&rows[a].market_cap)
                    .then_with(|| rows[a].code.cmp(&rows[b].code))
            });
            order
        };
        let stocks = [
            by_cap(&|r| r.market == kospi && !r.kind.is_exchange_traded_product()),
            by_cap(&|r| r.market == kosdaq),
        ];
        let values = [
            by_cap(&|r| r.market == kospi),
            by_cap(&|r| r.market == kosdaq),
        ];
        Data {
            today,
            indices: indices(today),
            rows,
            by_code,
            stocks,
            values,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server

struct Settings {
    delay: Duration,
    after_market: bool,
    injections: Vec<(Injection, u32)>,
}

struct State {
    data: Data,
    settings: Mutex<Settings>,
    log: Mutex<Vec<Logged>>,
    /// JSON bodies already written, by what shaped them (session, listing faults, target):
    /// rendering is the site's only real work, and it must not slow its answers down.
    bodies: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

/// The stand-in, running. Dropping it stops the server.
pub struct NaverSite {
    server: MockServer,
    state: Arc<State>,
}

impl NaverSite {
    pub async fn start(spec: SiteSpec) -> NaverSite {
        let state = Arc::new(State {
            data: Data::generate(&spec),
            settings: Mutex::new(Settings {
                delay: spec.delay,
                after_market: false,
                injections: Vec::new(),
            }),
            log: Mutex::new(Vec::new()),
            bodies: Mutex::new(HashMap::new()),
        });
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(Handler {
                state: Arc::clone(&state),
            })
            .mount(&server)
            .await;
        NaverSite { server, state }
    }

    /// The base URL of every host.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// A client configuration with all four hosts here, a small pause and quick retries.
    pub fn config(&self) -> NaverConfig {
        let uri = self.uri();
        NaverConfig {
            stock_url: uri.clone(),
            mstock_url: uri.clone(),
            polling_url: uri.clone(),
            chart_url: uri,
            pause: Duration::from_millis(2),
            timeout: Duration::from_secs(5),
            retries: 2,
            backoff: Duration::from_millis(5),
            deadline: Duration::from_secs(120),
            ..NaverConfig::default()
        }
    }

    /// The environment that points the binary at this site.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        NaverConfig::HOST_SETTINGS
            .iter()
            .map(|(name, _)| (*name, self.uri()))
            .collect()
    }

    fn settings(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.state.settings.lock().expect("not poisoned")
    }

    pub fn inject(&self, injection: Injection) {
        self.settings().injections.push((injection, 0));
    }

    pub fn clear_faults(&self) {
        self.settings().injections.clear();
    }

    pub fn set_delay(&self, delay: Duration) {
        self.settings().delay = delay;
    }

    /// After 16:00: stock rows carry the after-market price (one tick above the regular
    /// price, one below at the upper limit) and session; ETFs and ETNs have no after-market.
    pub fn set_after_market(&self, on: bool) {
        self.settings().after_market = on;
    }

    pub fn today(&self) -> NaiveDate {
        self.state.data.today
    }

    // --- the data, as served now -----------------------------------------------------------

    /// The row of a code as the listings serve it now.
    pub fn row(&self, code: &str) -> ListedRow {
        let after = self.settings().after_market;
        let i = self.state.data.by_code[code];
        self.state.data.served(i, after)
    }

    /// Every code the site lists (stocks, ETFs, ETNs).
    pub fn codes(&self) -> Vec<StockCode> {
        self.state
            .data
            .rows
            .iter()
            .map(|r| r.code.clone())
            .collect()
    }

    /// What the client's `listing(market)` must return: the stocks of stock/default, and on
    /// KOSPI the ETF and ETN rows of marketValue, each as the parsers read them.
    pub fn expected_listing(&self, market: Market) -> Vec<ListedRow> {
        let after = self.settings().after_market;
        let data = &self.state.data;
        let mut rows: Vec<ListedRow> = data.stocks[slot(market)]
            .iter()
            .map(|&i| data.served(i, after))
            .collect();
        rows.extend(
            data.values[slot(market)]
                .iter()
                .filter(|&&i| data.rows[i].kind.is_exchange_traded_product())
                .map(|&i| data.served(i, after)),
        );
        rows
    }

    /// Stocks of a market (stock/default), and the ETFs and ETNs (all on KOSPI).
    pub fn count_stocks(&self, market: Market) -> usize {
        self.state.data.stocks[slot(market)].len()
    }

    pub fn count_etps(&self) -> usize {
        self.state
            .data
            .rows
            .iter()
            .filter(|r| r.kind.is_exchange_traded_product())
            .count()
    }

    /// The index quote the site serves.
    pub fn index(&self, code: &str) -> IndexQuote {
        self.state
            .data
            .indices
            .iter()
            .find(|q| q.code == code)
            .cloned()
            .expect("a known index")
    }

    /// The order book the site serves for a code.
    pub fn book(&self, code: &str) -> OrderBook {
        let after = self.settings().after_market;
        let row = self.state.data.served(self.state.data.by_code[code], after);
        book_of(&row)
    }

    /// Every bar of a symbol (a code or an index) the site has, oldest first.
    pub fn bars(&self, symbol: &str, from: NaiveDate) -> Vec<Bar> {
        let after = self.settings().after_market;
        self.state.data.bars(symbol, after, from, self.today())
    }

    // --- the request log -------------------------------------------------------------------

    pub fn requests(&self) -> Vec<Logged> {
        self.state.log.lock().expect("not poisoned").clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.log.lock().expect("not poisoned").len()
    }

    pub fn clear_log(&self) {
        self.state.log.lock().expect("not poisoned").clear();
    }

    pub fn count(&self, host: Host) -> usize {
        self.requests().iter().filter(|l| l.host == host).count()
    }

    pub fn count_endpoint(&self, endpoint: Endpoint) -> usize {
        self.requests()
            .iter()
            .filter(|l| l.endpoint == endpoint)
            .count()
    }

    /// The most requests to `host` the site was answering at once: each request counts from
    /// its arrival until its answer left (arrival + delay).
    pub fn max_in_flight(&self, host: Host) -> usize {
        let mut events: Vec<(Instant, i32)> = Vec::new();
        for l in self.requests().iter().filter(|l| l.host == host) {
            events.push((l.at, 1));
            events.push((l.at + l.delay, -1));
        }
        // An answer leaving at the instant another request arrives is not overlap.
        events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let (mut now, mut max) = (0i32, 0i32);
        for (_, step) in events {
            now += step;
            max = max.max(now);
        }
        max as usize
    }
}

/// The after-market price of a stock row: one tick up, or one down at the upper limit.
fn after_market(row: &ListedRow) -> ListedRow {
    if row.kind.is_exchange_traded_product() || row.halted {
        return row.clone();
    }
    let tick = rules::tick_size_of(row.kind, row.price);
    let up = row.price + tick;
    let price = if row.upper_limit.is_some_and(|u| up > u) {
        row.price - tick
    } else {
        up
    };
    ListedRow {
        price,
        change_rate: Some(rate_of(row.prev_close, price)),
        high: row.high.map(|h| h.max(price)),
        low: row.low.map(|l| l.min(price)),
        session: TradingSession::After,
        ..row.clone()
    }
}

fn book_of(row: &ListedRow) -> OrderBook {
    if row.halted {
        return OrderBook {
            asks: Vec::new(),
            bids: Vec::new(),
        };
    }
    let tick = rules::tick_size_of(row.kind, row.price);
    let mut rng = Rng(hash_of(row.code.as_str(), 0xB00C));
    let level = |price: Decimal, rng: &mut Rng| Level {
        price,
        quantity: rng.between(1, 50_000),
    };
    let asks = (0..5)
        .map(|k| level(row.price + tick * dec(k), &mut rng))
        .collect();
    let bids = (1..=5)
        .map(|k| row.price - tick * dec(k))
        .filter(|p| *p > Decimal::ZERO)
        .map(|p| level(p, &mut rng))
        .collect();
    OrderBook { asks, bids }
}

fn quote_of(row: &ListedRow, today: NaiveDate) -> QuoteNow {
    let after = row.session == TradingSession::After;
    let at = if after {
        today.and_hms_opt(16, 30, 0)
    } else {
        today.and_hms_opt(10, 0, 0)
    };
    QuoteNow {
        code: row.code.clone(),
        name: row.name.clone(),
        price: Some(row.price),
        prev_close: Some(row.prev_close),
        change_rate: row.change_rate,
        open: row.open,
        high: row.high,
        low: row.low,
        volume: row.volume,
        trading_value: row.trading_value,
        market_cap: row.market_cap,
        market_status: if after { "CLOSE" } else { "OPEN" }.into(),
        session: row.session,
        traded_at: at,
        halted: row.halted,
    }
}

impl Data {
    fn served(&self, i: usize, after: bool) -> ListedRow {
        let row = &self.rows[i];
        if after {
            after_market(row)
        } else {
            row.clone()
        }
    }

    /// Bars of trading days from `from` to `to`, walked back from today's price.
    fn bars(&self, symbol: &str, after: bool, from: NaiveDate, to: NaiveDate) -> Vec<Bar> {
        let (prev, today_bar, listed_on, dp) = if let Some(&i) = self.by_code.get(symbol) {
            let row = self.served(i, after);
            let bar = if row.halted {
                Bar {
                    date: self.today,
                    open: row.price,
                    high: row.price,
                    low: row.price,
                    close: row.price,
                    volume: 0,
                }
            } else {
                let open = row.open.unwrap_or(row.prev_close);
                Bar {
                    date: self.today,
                    open,
                    high: row.high.unwrap_or(open).max(open).max(row.price),
                    low: row.low.unwrap_or(open).min(open).min(row.price),
                    close: row.price,
                    volume: row.volume.unwrap_or(0).max(1),
                }
            };
            (row.prev_close, bar, row.listed_on, 0)
        } else if let Some(q) = self.indices.iter().find(|q| q.code == symbol) {
            let bar = Bar {
                date: self.today,
                open: q.prev_close,
                high: q.prev_close.max(q.value),
                low: q.prev_close.min(q.value),
                close: q.value,
                volume: 400_000_000,
            };
            (q.prev_close, bar, None, 2)
        } else {
            return Vec::new();
        };
        let mut bars = Vec::new();
        if self.today >= from && self.today <= to {
            bars.push(today_bar);
        }
        let mut rng = Rng(hash_of(symbol, 0xBA25));
        let mut day = self.today;
        let mut close = prev;
        loop {
            day = synthetic::previous_trading_day(day);
            if day < from || listed_on.is_some_and(|l| day < l) {
                break;
            }
            let step = dec(rng.between(-3_000, 3_000));
            let open = (close * dec(1_000_000) / (dec(1_000_000) + step)).round_dp(dp);
            let up = dec(rng.between(0, 1_500));
            let down = dec(rng.between(0, 1_500));
            let high = (open.max(close) * (dec(1_000_000) + up) / dec(1_000_000)).round_dp(dp);
            let low = (open.min(close) * (dec(1_000_000) - down) / dec(1_000_000))
                .round_dp(dp)
                .max(Decimal::ONE);
            let bar = Bar {
                date: day,
                open,
                high: high.max(open).max(close),
                low: low.min(open).min(close),
                close,
                volume: rng.between(1_000, 9_000_000),
            };
            if day <= to {
                bars.push(bar);
            }
            // The day before closed where this one opened.
            close = open;
        }
        bars.reverse();
        bars
    }
}

/// One answer before it becomes a `ResponseTemplate`.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

const JSON: &str = "application/json;charset=UTF-8";

impl Reply {
    fn json(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            content_type: JSON,
            body: body.into(),
            headers: Vec::new(),
        }
    }
    fn status(status: u16, text: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain;charset=UTF-8",
            body: text.as_bytes().to_vec(),
            headers: Vec::new(),
        }
    }
    fn html() -> Reply {
        Reply {
            status: 200,
            content_type: "text/html;charset=UTF-8",
            body: SPA_PAGE.as_bytes().to_vec(),
            headers: Vec::new(),
        }
    }
}

/// The app's HTML page: what an unknown `stock`/`m.stock` path answers, with 200.
pub const SPA_PAGE: &str = include_str!("../fixtures/renewed/spa_page.html");

struct Handler {
    state: Arc<State>,
}

/// The faults that apply to one request.
#[derive(Default)]
struct Active {
    faults: Vec<Fault>,
}

impl Active {
    fn has(&self, f: &Fault) -> bool {
        self.faults.contains(f)
    }
}

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let at = Instant::now();
        let path = request.url.path().to_string();
        let target = match request.url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        let endpoint = Endpoint::of(&path);
        let host = Endpoint::host_of(&path);
        let (active, mut delay, after) = {
            let mut s = self.state.settings.lock().expect("not poisoned");
            let mut active = Active::default();
            for (inj, seen) in s.injections.iter_mut() {
                let applies = inj.endpoint.map_or(true, |e| e == endpoint)
                    && inj.matching.as_ref().map_or(true, |m| target.contains(m));
                if !applies {
                    continue;
                }
                let n = *seen;
                *seen += 1;
                if n >= inj.after && inj.times.map_or(true, |t| n < inj.after + t) {
                    active.faults.push(inj.fault.clone());
                }
            }
            (active, s.delay, s.after_market)
        };
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let mut reply = self.cached(endpoint, &path, &target, &query, &active, after);
        for fault in &active.faults {
            match fault {
                Fault::Timeout(d) => delay = *d,
                Fault::Malformed if reply.status == 200 => {
                    let cut = reply.body.len() / 2;
                    reply.body.truncate(cut);
                }
                Fault::MissingField(_) | Fault::RenamedField(..) | Fault::NumberForString(_)
                    if reply.status == 200 =>
                {
                    reply.body = edit_rows(&reply.body, fault);
                }
                _ => {}
            }
        }
        let headers = request
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        self.state.log.lock().expect("not poisoned").push(Logged {
            at,
            host,
            endpoint,
            target,
            headers,
            status: reply.status,
            delay,
            fault: active.faults.first().cloned(),
        });
        let mut template = ResponseTemplate::new(reply.status)
            .insert_header("content-type", reply.content_type)
            .set_body_bytes(reply.body)
            .set_delay(delay);
        for (name, value) in reply.headers {
            template = template.insert_header(name, value.as_str());
        }
        template
    }
}

impl Handler {
    /// The answer, from the bodies already written when a listing fault or the session did
    /// not change it since.
    fn cached(
        &self,
        endpoint: Endpoint,
        path: &str,
        target: &str,
        query: &HashMap<String, String>,
        active: &Active,
        after: bool,
    ) -> Reply {
        let replaced = active.faults.iter().any(|f| {
            matches!(
                f,
                Fault::Status(_) | Fault::RetryAfter(_) | Fault::Html | Fault::Redirect
            )
        });
        if replaced {
            return self.answer(endpoint, path, query, active, after);
        }
        let flag = |f: Fault| u8::from(active.has(&f));
        let key = format!(
            "{}{}{}{}{}{target}",
            u8::from(after),
            flag(Fault::ShortPage),
            flag(Fault::Duplicate),
            flag(Fault::MassDisappearance),
            flag(Fault::LastPageEmpty)
        );
        if let Some(body) = self.state.bodies.lock().expect("not poisoned").get(&key) {
            return Reply::json(body.to_vec());
        }
        let reply = self.answer(endpoint, path, query, active, after);
        if reply.status == 200 && reply.content_type == JSON {
            self.state
                .bodies
                .lock()
                .expect("not poisoned")
                .insert(key, Arc::new(reply.body.clone()));
        }
        reply
    }

    fn answer(
        &self,
        endpoint: Endpoint,
        path: &str,
        query: &HashMap<String, String>,
        active: &Active,
        after: bool,
    ) -> Reply {
        for fault in &active.faults {
            match fault {
                Fault::Status(status) => {
                    return Reply::status(*status, &format!("HTTP {status} from the stand-in"))
                }
                Fault::RetryAfter(secs) => {
                    let mut r = Reply::status(429, "Too Many Requests");
                    r.headers.push(("retry-after", secs.to_string()));
                    return r;
                }
                Fault::Html => return Reply::html(),
                Fault::Redirect => {
                    let mut r = Reply::status(302, "");
                    r.content_type = "text/html;charset=UTF-8";
                    r.headers.push(("location", REDIRECT_LOCATION.to_string()));
                    return r;
                }
                _ => {}
            }
        }
        let data = &self.state.data;
        let param = |name: &str| query.get(name).map(String::as_str);
        let number = |name: &str| param(name).and_then(|v| v.parse::<usize>().ok());
        let market_of = |text: &str| match text {
            "KOSPI" => Some(Market::Kospi),
            "KOSDAQ" => Some(Market::Kosdaq),
            _ => None,
        };
        let drop = active.has(&Fault::MassDisappearance);
        // The rows a listing holds now (indices into the data), and a page of them as served.
        let listed = |order: &[usize]| -> Vec<usize> {
            order
                .iter()
                .enumerate()
                // The same instruments vanish from every list that holds them.
                .filter(|(_, &i)| !(drop && i % 10 == 3))
                .map(|(_, &i)| i)
                .collect()
        };
        let served = |page: &[usize]| -> Vec<ListedRow> {
            page.iter().map(|&i| data.served(i, after)).collect()
        };
        match endpoint {
            Endpoint::StockDefault => {
                let (Some(market), Some(page), Some(size)) = (
                    param("marketType").and_then(market_of),
                    number("startIdx"),
                    number("pageSize").filter(|s| *s > 0),
                ) else {
                    return Reply::status(400, "marketType, startIdx and pageSize are required");
                };
                if param("tradeType") != Some("KRX") || param("orderType") != Some("marketSum") {
                    return Reply::status(400, "tradeType=KRX and orderType=marketSum expected");
                }
                let rows = listed(&data.stocks[slot(market)]);
                let mut start = page * size;
                if active.has(&Fault::Duplicate) && page > 0 {
                    start -= 1;
                }
                let mut end = (start + size).min(rows.len());
                if active.has(&Fault::ShortPage) {
                    end = end.min(start + SHORT_PAGE_ROWS);
                }
                let mut page_rows = rows.get(start..end.max(start)).unwrap_or(&[]);
                if active.has(&Fault::LastPageEmpty) && end == rows.len() {
                    page_rows = &[];
                }
                Reply::json(json::render_stock_default(&served(page_rows)))
            }
            Endpoint::MarketValue => {
                let market = path.rsplit('/').next().and_then(market_of);
                let (Some(market), Some(page), Some(size)) = (
                    market,
                    number("page").filter(|p| *p > 0),
                    number("pageSize").filter(|s| *s > 0),
                ) else {
                    return Reply::status(400, "a market, page ≥ 1 and pageSize are required");
                };
                if size > 100 {
                    return Reply::status(400, "pageSize must be at most 100");
                }
                let rows = listed(&data.values[slot(market)]);
                let start = ((page - 1) * size).min(rows.len());
                let end = (start + size).min(rows.len());
                Reply::json(json::render_market_value(
                    &served(&rows[start..end]),
                    rows.len(),
                ))
            }
            Endpoint::PollingStock => {
                let codes = path.rsplit('/').next().unwrap_or("");
                let quotes: Vec<QuoteNow> = codes
                    .split(',')
                    .filter_map(|c| data.by_code.get(c))
                    .map(|&i| quote_of(&data.served(i, after), data.today))
                    .collect();
                Reply::json(json::render_polling_stocks(&quotes))
            }
            Endpoint::PollingIndex => {
                let codes = path.rsplit('/').next().unwrap_or("");
                let quotes: Vec<IndexQuote> = codes
                    .split(',')
                    .filter_map(|c| data.indices.iter().find(|q| q.code == c).cloned())
                    .collect();
                Reply::json(json::render_polling_index(&quotes))
            }
            Endpoint::AskingPrice => {
                let code = path
                    .trim_start_matches("/api/stock/")
                    .trim_end_matches("/askingPrice");
                match data.by_code.get(code) {
                    Some(&i) => {
                        Reply::json(json::render_asking_price(&book_of(&data.served(i, after))))
                    }
                    None => Reply::status(404, "no such code"),
                }
            }
            Endpoint::ChartItem | Endpoint::ChartIndex => {
                let symbol = path
                    .trim_start_matches("/chart/domestic/item/")
                    .trim_start_matches("/chart/domestic/index/")
                    .trim_end_matches("/day");
                let date = |name: &str| {
                    param(name)
                        .filter(|v| v.len() == 8 || v.len() == 12)
                        .and_then(|v| NaiveDate::parse_from_str(&v[..8], "%Y%m%d").ok())
                };
                let (Some(from), Some(to)) = (date("startDateTime"), date("endDateTime")) else {
                    return Reply::status(400, "startDateTime and endDateTime are required");
                };
                let is_index = endpoint == Endpoint::ChartIndex;
                if is_index != data.indices.iter().any(|q| q.code == symbol) {
                    return Reply::json("[]");
                }
                Reply::json(json::render_chart_day(&data.bars(symbol, after, from, to)))
            }
            Endpoint::Other => {
                if matches!(Endpoint::host_of(path), Host::Stock | Host::MStock) {
                    Reply::html()
                } else {
                    Reply::status(404, "not found")
                }
            }
        }
    }
}

/// Applies a row fault to every object row of a JSON body (a bare array, or the rows under
/// `stocks`, `datas`, `priceInfos`, `sellInfo`, `buyInfos`).
fn edit_rows(body: &[u8], fault: &Fault) -> Vec<u8> {
    let Ok(mut root) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let edit = |row: &mut Value| {
        let Some(object) = row.as_object_mut() else {
            return;
        };
        match fault {
            Fault::MissingField(field) => {
                object.remove(*field);
            }
            Fault::RenamedField(from, to) => {
                if let Some(v) = object.remove(*from) {
                    object.insert(to.to_string(), v);
                }
            }
            Fault::NumberForString(field) if object.contains_key(*field) => {
                object.insert(field.to_string(), Value::from(5));
            }
            _ => {}
        }
    };
    match &mut root {
        Value::Array(rows) => rows.iter_mut().for_each(edit),
        Value::Object(top) => {
            for key in ["stocks", "datas", "priceInfos", "sellInfo", "buyInfos"] {
                if let Some(Value::Array(rows)) = top.get_mut(key) {
                    rows.iter_mut().for_each(edit);
                }
            }
        }
        _ => {}
    }
    root.to_string().into_bytes()
}
