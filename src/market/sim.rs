//! A deterministic simulated KRX market (`--source sim[:SEED]`) for demos, load tests and
//! offline runs.
//!
//! The market at any moment is a pure function of (seed, code, time): two processes with the
//! same seed and the same clock see the same prices, bars and order books. The only state a
//! [`Sim`] keeps is a memo of days already computed, which changes nothing it answers.
//!
//! How prices come about: every stock (and each index) follows its own daily random walk over
//! KRX trading days from [`HISTORY_START`]. A day's draws come from a stable hash of
//! (seed, code, date) (splitmix64, written out below, so they cannot change with a dependency),
//! and the arithmetic is integer: no floating point, so every platform agrees. Stock prices are
//! always cut to the tick with [`rules::floor_to_tick`] and held inside
//! [`rules::price_band`] of the previous close. During the session the price travels from the
//! day's open to its close through a few deterministic waypoints (touching the day's high and
//! low on the way), reaching the close when the closing auction starts at 15:20.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use super::json;
use super::{
    Bar, FetchStats, IndexCode, IndexNow, Level, ListedRow, MarketData, MarketError, MarketResult,
    OrderBook, PageCallback, QuoteNow, Symbol,
};
use crate::clock::Clock;
use crate::domain::calendar::synthetic as calendar;
use crate::domain::{rules, InstrumentKind, Market, StockCode, TradingSession};

/// The first day of the simulated history (the first KRX trading day of 2024). Before it every
/// price stands still at its base level and there are no bars.
pub const HISTORY_START: NaiveDate = match NaiveDate::from_ymd_opt(2024, 1, 2) {
    Some(d) => d,
    None => unreachable!(),
};

/// The closing auction starts here; the simulated price reaches the day's close at this time
/// and stays there until 15:30.
const CLOSING_AUCTION: NaiveTime = match NaiveTime::from_hms_opt(15, 20, 0) {
    Some(t) => t,
    None => unreachable!(),
};

/// Rows per listing page, as on Naver.
const PAGE_SIZE: usize = 50;

/// Levels on each side of the order book.
const BOOK_DEPTH: usize = 10;

/// Parts per million: steps, positions in the session and fractions are integers in ppm.
const PPM: i64 = 1_000_000;

/// Salts that keep the draws of different purposes apart.
const SALT_PARAMS: u64 = 0x5041_5241_4d53; // "PARAMS"
const SALT_DAY: u64 = 0x0044_4159; // "DAY"
const SALT_PATH: u64 = 0x5041_5448; // "PATH"
const SALT_BOOK: u64 = 0x424f_4f4b; // "BOOK"

/// The built-in listings: (code, name, market, base price in won, listed shares in thousands).
///
/// Codes and names are real KRX listings. The base prices (the close before
/// [`HISTORY_START`]) and share counts are round figures of the right order for early 2024,
/// chosen so that prices and market caps look plausible; they are not quotes.
const STOCKS: &[(&str, &str, Market, i64, i64)] = &[
    // KOSPI
    ("005930", "삼성전자", Market::Kospi, 78_500, 5_969_783),
    ("000660", "SK하이닉스", Market::Kospi, 141_500, 728_002),
    ("373220", "LG에너지솔루션", Market::Kospi, 426_500, 234_000),
    ("207940", "삼성바이오로직스", Market::Kospi, 758_000, 71_174),
    ("005380", "현대차", Market::Kospi, 201_500, 211_000),
    ("005935", "삼성전자우", Market::Kospi, 62_900, 822_887),
    ("000270", "기아", Market::Kospi, 100_000, 402_000),
    ("068270", "셀트리온", Market::Kospi, 201_000, 217_000),
    ("035420", "NAVER", Market::Kospi, 224_000, 158_000),
    ("005490", "POSCO홀딩스", Market::Kospi, 496_500, 84_571),
    ("035720", "카카오", Market::Kospi, 54_500, 445_000),
    ("051910", "LG화학", Market::Kospi, 499_500, 70_592),
    ("006400", "삼성SDI", Market::Kospi, 472_000, 68_765),
    ("105560", "KB금융", Market::Kospi, 54_000, 403_500),
    ("055550", "신한지주", Market::Kospi, 40_200, 509_000),
    ("012330", "현대모비스", Market::Kospi, 237_000, 93_000),
    ("028260", "삼성물산", Market::Kospi, 113_900, 180_000),
    ("066570", "LG전자", Market::Kospi, 101_900, 163_647),
    ("003670", "포스코퓨처엠", Market::Kospi, 339_000, 77_463),
    ("096770", "SK이노베이션", Market::Kospi, 140_500, 97_000),
    ("034730", "SK", Market::Kospi, 178_500, 73_000),
    ("032830", "삼성생명", Market::Kospi, 69_000, 200_000),
    ("015760", "한국전력", Market::Kospi, 18_900, 641_964),
    ("017670", "SK텔레콤", Market::Kospi, 50_000, 214_000),
    ("030200", "KT", Market::Kospi, 34_400, 258_000),
    ("086790", "하나금융지주", Market::Kospi, 43_450, 292_000),
    ("316140", "우리금융지주", Market::Kospi, 13_000, 742_000),
    ("003550", "LG", Market::Kospi, 86_000, 157_000),
    (
        "012450",
        "한화에어로스페이스",
        Market::Kospi,
        125_000,
        50_600,
    ),
    ("009150", "삼성전기", Market::Kospi, 153_000, 74_700),
    ("010130", "고려아연", Market::Kospi, 500_000, 20_700),
    ("011200", "HMM", Market::Kospi, 19_580, 1_024_000),
    ("018260", "삼성에스디에스", Market::Kospi, 170_000, 77_377),
    ("033780", "KT&G", Market::Kospi, 87_000, 137_000),
    ("329180", "HD현대중공업", Market::Kospi, 129_700, 88_773),
    ("009540", "HD한국조선해양", Market::Kospi, 121_200, 70_773),
    ("042660", "한화오션", Market::Kospi, 25_000, 306_000),
    ("010140", "삼성중공업", Market::Kospi, 7_760, 880_000),
    ("034020", "두산에너빌리티", Market::Kospi, 15_900, 640_000),
    ("259960", "크래프톤", Market::Kospi, 200_000, 48_000),
    ("352820", "하이브", Market::Kospi, 233_000, 41_600),
    ("323410", "카카오뱅크", Market::Kospi, 28_500, 477_000),
    ("377300", "카카오페이", Market::Kospi, 50_000, 133_000),
    ("000810", "삼성화재", Market::Kospi, 263_500, 47_000),
    ("024110", "기업은행", Market::Kospi, 12_990, 797_000),
    ("047050", "포스코인터내셔널", Market::Kospi, 63_800, 175_000),
    ("010950", "S-Oil", Market::Kospi, 69_700, 112_000),
    ("090430", "아모레퍼시픽", Market::Kospi, 145_500, 58_500),
    ("051900", "LG생활건강", Market::Kospi, 355_000, 15_600),
    ("036570", "엔씨소프트", Market::Kospi, 240_000, 21_954),
    ("251270", "넷마블", Market::Kospi, 57_700, 86_000),
    ("011170", "롯데케미칼", Market::Kospi, 152_600, 42_800),
    ("097950", "CJ제일제당", Market::Kospi, 325_000, 15_000),
    ("004020", "현대제철", Market::Kospi, 36_550, 133_000),
    ("000100", "유한양행", Market::Kospi, 69_800, 80_000),
    ("128940", "한미약품", Market::Kospi, 331_500, 12_800),
    ("011070", "LG이노텍", Market::Kospi, 240_000, 23_700),
    ("034220", "LG디스플레이", Market::Kospi, 12_740, 500_000),
    ("267260", "HD현대일렉트릭", Market::Kospi, 84_800, 36_000),
    ("003490", "대한항공", Market::Kospi, 21_500, 368_000),
    ("021240", "코웨이", Market::Kospi, 57_300, 73_800),
    ("042700", "한미반도체", Market::Kospi, 63_000, 96_000),
    // KOSPI ETFs (a 1× index fund, a 2× leveraged one and a 2× inverse one): their own tick,
    // and the leveraged ones a band of twice ±30%.
    ("069500", "KODEX 200", Market::Kospi, 35_550, 150_000),
    ("122630", "KODEX 레버리지", Market::Kospi, 18_505, 300_000),
    (
        "252670",
        "KODEX 200선물인버스2X",
        Market::Kospi,
        2_105,
        1_500_000,
    ),
    // KOSDAQ
    ("247540", "에코프로비엠", Market::Kosdaq, 285_000, 97_800),
    ("086520", "에코프로", Market::Kosdaq, 128_000, 133_000),
    ("196170", "알테오젠", Market::Kosdaq, 97_000, 53_000),
    ("028300", "HLB", Market::Kosdaq, 61_500, 130_000),
    ("141080", "리가켐바이오", Market::Kosdaq, 59_400, 36_000),
    ("293490", "카카오게임즈", Market::Kosdaq, 27_950, 82_000),
    ("263750", "펄어비스", Market::Kosdaq, 39_150, 64_000),
    ("068760", "셀트리온제약", Market::Kosdaq, 91_000, 41_000),
    ("035900", "JYP Ent.", Market::Kosdaq, 98_900, 35_500),
    ("041510", "에스엠", Market::Kosdaq, 87_500, 23_800),
    (
        "122870",
        "와이지엔터테인먼트",
        Market::Kosdaq,
        44_750,
        18_700,
    ),
    ("058470", "리노공업", Market::Kosdaq, 227_500, 15_200),
    ("357780", "솔브레인", Market::Kosdaq, 283_500, 7_780),
    ("240810", "원익IPS", Market::Kosdaq, 33_750, 49_000),
    ("039030", "이오테크닉스", Market::Kosdaq, 171_200, 12_300),
    ("145020", "휴젤", Market::Kosdaq, 170_000, 12_000),
    ("214150", "클래시스", Market::Kosdaq, 33_900, 65_500),
    ("085660", "차바이오텍", Market::Kosdaq, 17_000, 56_000),
    ("112040", "위메이드", Market::Kosdaq, 49_950, 34_000),
    ("095340", "ISC", Market::Kosdaq, 80_000, 21_000),
    (
        "277810",
        "레인보우로보틱스",
        Market::Kosdaq,
        150_000,
        19_400,
    ),
    ("348370", "엔켐", Market::Kosdaq, 200_000, 20_000),
    ("214450", "파마리서치", Market::Kosdaq, 130_000, 10_400),
    ("000250", "삼천당제약", Market::Kosdaq, 92_000, 23_400),
    ("403870", "HPSP", Market::Kosdaq, 41_000, 83_000),
    ("005290", "동진쎄미켐", Market::Kosdaq, 37_950, 51_400),
    ("036930", "주성엔지니어링", Market::Kosdaq, 34_850, 48_000),
    ("078340", "컴투스", Market::Kosdaq, 45_000, 12_800),
    ("253450", "스튜디오드래곤", Market::Kosdaq, 50_000, 30_000),
    ("067310", "하나마이크론", Market::Kosdaq, 26_000, 48_000),
    ("222800", "심텍", Market::Kosdaq, 35_000, 31_900),
    ("237690", "에스티팜", Market::Kosdaq, 79_900, 19_900),
    ("328130", "루닛", Market::Kosdaq, 72_000, 28_000),
    ("298380", "에이비엘바이오", Market::Kosdaq, 28_000, 48_000),
    ("087010", "펩트론", Market::Kosdaq, 40_000, 20_800),
    ("039200", "오스코텍", Market::Kosdaq, 30_000, 38_000),
    ("035760", "CJ ENM", Market::Kosdaq, 80_000, 21_900),
    ("034230", "파라다이스", Market::Kosdaq, 13_050, 91_000),
    ("086900", "메디톡스", Market::Kosdaq, 180_000, 7_100),
    ("098460", "고영", Market::Kosdaq, 14_350, 68_600),
    ("053800", "안랩", Market::Kosdaq, 70_000, 10_000),
    ("046890", "서울반도체", Market::Kosdaq, 10_070, 58_300),
];

/// The codes among [`STOCKS`] that are ETFs.
const ETFS: &[&str] = &["069500", "122630", "252670"];

/// What the rulebook needs of a built-in listing: its kind (an ETF, or what its name says) and
/// the leverage its name shows.
pub fn instrument_of(code: &str, name: &str) -> rules::Instrument {
    let kind = if ETFS.contains(&code) {
        InstrumentKind::Etf
    } else {
        InstrumentKind::of_share_name(name)
    };
    rules::Instrument::named(kind, name, None)
}

/// The built-in listings as (code, name, market), for callers that seed stocks.
pub fn listings() -> &'static [(&'static str, &'static str, Market)] {
    static LIST: OnceLock<Vec<(&'static str, &'static str, Market)>> = OnceLock::new();
    LIST.get_or_init(|| STOCKS.iter().map(|s| (s.0, s.1, s.2)).collect())
}

fn stock_index(code: &str) -> Option<usize> {
    STOCKS.iter().position(|s| s.0 == code)
}

fn not_found(code: &str) -> MarketError {
    MarketError::NotFound(format!("sim: no stock {code}"))
}

// ---------------------------------------------------------------------------------------------
// Draws

/// One round of splitmix64: a stable, well-mixed 64-bit hash.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn mix(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x4153_4345_4e44, |h, &p| splitmix64(h ^ splitmix64(p)))
}

/// FNV-1a of a name: the per-series part of every hash.
fn name_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A date as a number for hashing.
fn day_number(d: NaiveDate) -> u64 {
    use chrono::Datelike;
    d.num_days_from_ce() as u64
}

/// A stream of draws (the splitmix64 generator).
struct Draws(u64);

impl Draws {
    fn new(seed: u64) -> Self {
        Draws(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix64(self.0)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: i64) -> i64 {
        debug_assert!(n > 0);
        (self.next() % n as u64) as i64
    }
    /// Approximately standard normal, in ppm: the sum of twelve uniforms on [0, 1) less six
    /// (mean 0, standard deviation 1, bounded by ±6). The uniforms are the 16-bit quarters of
    /// three draws.
    fn normal_ppm(&mut self) -> i64 {
        let mut sum = 0i64;
        for _ in 0..3 {
            let x = self.next();
            sum += ((x & 0xffff) + ((x >> 16) & 0xffff) + ((x >> 32) & 0xffff) + (x >> 48)) as i64;
        }
        (sum - 6 * 0x1_0000) * PPM / 0x1_0000
    }
}

// ---------------------------------------------------------------------------------------------
// Series

/// What follows a walk: a built-in stock (by its index in [`STOCKS`]) or an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Series {
    Stock(usize),
    Index(IndexCode),
}

/// The constants of one series' walk.
#[derive(Debug, Clone, Copy)]
struct Params {
    key: u64,
    /// Stocks: won, on the tick. Indices: hundredths of a point.
    base: i64,
    /// Daily standard deviation, ppm.
    sigma: i64,
    /// Pull back toward the base per day, ppm of the relative distance.
    kappa: i64,
    /// A typical day's volume (stocks: shares; indices: thousands of shares).
    volume: i64,
    /// Stocks (and ETFs): what sets the tick and the band; None for indices.
    instrument: Option<rules::Instrument>,
}

impl Params {
    /// Cuts a value to what the series can print: a stock price to its tick.
    fn snap(&self, v: i64) -> i64 {
        match self.instrument {
            Some(i) => to_i64(rules::floor_to_tick_of(i.kind, Decimal::from(v))),
            None => v,
        }
    }
    /// The day's limits for a previous close: the KRX band for stocks, none for indices.
    fn band(&self, prev: i64) -> (i64, i64) {
        match self.instrument {
            Some(i) => {
                let b = rules::band_for(&i, Decimal::from(prev), HISTORY_START);
                (to_i64(b.lower), to_i64(b.upper))
            }
            None => (1, i64::MAX),
        }
    }
    fn decimal(&self, v: i64) -> Decimal {
        match self.instrument {
            Some(_) => Decimal::from(v),
            None => Decimal::new(v, 2),
        }
    }
}

fn to_i64(d: Decimal) -> i64 {
    d.to_i64().expect("simulated prices fit in i64")
}

/// `v × (1 + ppm / 1,000,000)`, floored, never below 1.
fn scale(v: i64, ppm: i64) -> i64 {
    let x = i128::from(v) * i128::from(PPM + ppm);
    (x.div_euclid(i128::from(PPM)) as i64).max(1)
}

/// One day of a series: the previous close and the day's OHLCV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Day {
    prev: i64,
    open: i64,
    high: i64,
    low: i64,
    close: i64,
    volume: i64,
}

/// Days computed so far: the trading days from [`HISTORY_START`], and each series' days on them.
#[derive(Default)]
struct Memo {
    dates: Vec<NaiveDate>,
    series: HashMap<Series, Vec<Day>>,
}

/// Where the clock stands: the latest trading day whose session has opened, and how far into
/// its continuous session (ppm; `None` once the session is over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Moment {
    day: NaiveDate,
    progress: Option<i64>,
}

impl Moment {
    fn at(at: DateTime<Utc>) -> Moment {
        let local = at.with_timezone(&rules::kst());
        let today = local.date_naive();
        if calendar::is_trading_day(today) {
            let open = calendar::opening_time(today);
            let t = local.time();
            if t >= open {
                let progress = (t < rules::CLOSE).then(|| {
                    let done = (t - open).num_seconds();
                    let length = (CLOSING_AUCTION - open).num_seconds();
                    (done * PPM / length).min(PPM)
                });
                return Moment {
                    day: today,
                    progress,
                };
            }
        }
        Moment {
            day: calendar::previous_trading_day(today),
            progress: None,
        }
    }
}

/// A series as it stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Now {
    /// The day the values belong to; `None` before the history starts.
    day: Option<NaiveDate>,
    bar: Day,
}

impl Now {
    fn price(&self) -> i64 {
        self.bar.close
    }
}

// ---------------------------------------------------------------------------------------------
// The simulator

/// A deterministic simulated KRX market; see the module documentation.
pub struct Sim {
    seed: u64,
    clock: Clock,
    memo: Arc<Mutex<Memo>>,
    requests: AtomicU64,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Sim {
    pub fn new(seed: u64, clock: Clock) -> Self {
        Sim {
            seed,
            clock,
            memo: Arc::default(),
            requests: AtomicU64::new(0),
        }
    }

    /// The same market seen at another time; shares the memo of computed days.
    pub fn with_clock(&self, clock: Clock) -> Sim {
        Sim {
            seed: self.seed,
            clock,
            memo: Arc::clone(&self.memo),
            requests: AtomicU64::new(0),
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    fn params(&self, series: Series) -> Params {
        match series {
            Series::Stock(i) => {
                let (code, name, market, base, shares_k) = STOCKS[i];
                let instrument = instrument_of(code, name);
                let key = name_hash(code);
                let mut r = Draws::new(mix(&[self.seed, key, SALT_PARAMS]));
                let floor = match market {
                    Market::Kospi => 15_000,
                    Market::Kosdaq => 20_000,
                };
                // 0.1% to 0.4% of the shares change hands on a typical day.
                let turnover = 1_000 + r.below(3_000);
                Params {
                    key,
                    base: to_i64(rules::floor_to_tick_of(
                        instrument.kind,
                        Decimal::from(base),
                    )),
                    sigma: floor + r.below(15_000),
                    kappa: 5_000,
                    volume: (i128::from(shares_k) * 1_000 * i128::from(turnover) / i128::from(PPM))
                        as i64,
                    instrument: Some(instrument),
                }
            }
            Series::Index(index) => {
                // The closes of 2023-12-28, the last session before the history starts.
                let (base, sigma, volume) = match index {
                    IndexCode::Kospi => (265_528, 9_000, 450_000),
                    IndexCode::Kosdaq => (86_657, 12_000, 1_000_000),
                };
                Params {
                    key: name_hash(index.as_str()),
                    base,
                    sigma,
                    kappa: 20_000,
                    volume,
                    instrument: None,
                }
            }
        }
    }

    /// A day of a walk from the previous close; all values on the tick and inside the band.
    fn make_day(&self, p: &Params, date: NaiveDate, prev: i64) -> Day {
        let mut r = Draws::new(mix(&[self.seed, p.key, day_number(date), SALT_DAY]));
        let (lower, upper) = p.band(prev);
        let mut step = p.sigma * r.normal_ppm() / PPM;
        if r.below(200) == 0 {
            // A news day: a move several times the usual size (the band still holds it).
            step *= 6;
        }
        let pull = (i128::from(p.kappa) * i128::from(prev - p.base) / i128::from(p.base)) as i64;
        let step = step - pull;
        let close = p.snap(scale(prev, step)).clamp(lower, upper);
        let gap = p.sigma * r.normal_ppm() / (3 * PPM) - pull;
        let open = p.snap(scale(prev, gap)).clamp(lower, upper);
        let (top, bottom) = (open.max(close), open.min(close));
        let up = p.sigma * r.normal_ppm().abs() / (2 * PPM);
        let down = p.sigma * r.normal_ppm().abs() / (2 * PPM);
        let high = p.snap(scale(top, up)).clamp(top, upper);
        let low = p.snap(scale(bottom, -down)).clamp(lower, bottom);
        let activity = PPM / 2 + r.below(PPM) + 10 * step.abs();
        let volume = (i128::from(p.volume) * i128::from(activity) / i128::from(PPM)) as i64;
        Day {
            prev,
            open,
            high,
            low,
            close,
            volume: volume.max(1),
        }
    }

    /// Up to `count` days of a series ending on the trading day `last`, oldest first, with
    /// their dates. Empty before [`HISTORY_START`].
    fn days(&self, series: Series, last: NaiveDate, count: usize) -> Vec<(NaiveDate, Day)> {
        if last < HISTORY_START || count == 0 {
            return Vec::new();
        }
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        let Memo { dates, series: all } = &mut *memo;
        if dates.is_empty() {
            let mut first = HISTORY_START;
            while !calendar::is_trading_day(first) {
                first = calendar::next_trading_day(first);
            }
            dates.push(first);
        }
        while *dates.last().expect("not empty") < last {
            let next = calendar::next_trading_day(*dates.last().expect("not empty"));
            dates.push(next);
        }
        // `last` is a trading day in every use; otherwise take the trading day before it.
        let end = match dates.binary_search(&last) {
            Ok(i) => i,
            Err(0) => return Vec::new(),
            Err(i) => i - 1,
        };
        let p = self.params(series);
        let walk = all.entry(series).or_default();
        while walk.len() <= end {
            let prev = walk.last().map_or(p.base, |d| d.close);
            let day = self.make_day(&p, dates[walk.len()], prev);
            walk.push(day);
        }
        let start = (end + 1).saturating_sub(count);
        (start..=end).map(|i| (dates[i], walk[i])).collect()
    }

    /// The waypoints of a day's intraday path: (position in the continuous session in ppm,
    /// value), from the open at 0 to the close at 1,000,000, passing the high and the low.
    fn waypoints(&self, p: &Params, date: NaiveDate, d: &Day) -> [(i64, i64); 6] {
        let mut r = Draws::new(mix(&[self.seed, p.key, day_number(date), SALT_PATH]));
        let high_at = 1 + r.below(4);
        let mut low_at = 1 + r.below(3);
        if low_at >= high_at {
            low_at += 1;
        }
        let mut points = [(0, d.open), (0, 0), (0, 0), (0, 0), (0, 0), (PPM, d.close)];
        for (k, centre) in [(1, 150_000), (2, 380_000), (3, 620_000), (4, 850_000)] {
            let at = centre - 50_000 + r.below(100_001);
            let value = if k == high_at {
                d.high
            } else if k == low_at {
                d.low
            } else {
                p.snap(d.low + r.below(d.high - d.low + 1))
                    .clamp(d.low, d.high)
            };
            points[k as usize] = (at, value);
        }
        points
    }

    /// The day so far at a position in the session: the open, the extremes reached, the
    /// current price as the close, and the volume traded.
    fn partial(&self, p: &Params, date: NaiveDate, d: &Day, progress: i64) -> Day {
        let points = self.waypoints(p, date, d);
        let segment = points
            .windows(2)
            .find(|w| progress <= w[1].0)
            .unwrap_or(&points[4..6]);
        let ((x0, y0), (x1, y1)) = (segment[0], segment[1]);
        let along = i128::from(progress.clamp(x0, x1) - x0);
        let moved = i128::from(y1 - y0) * along / i128::from(x1 - x0);
        let price = p.snap(y0 + moved as i64).clamp(d.low, d.high);
        let passed = points
            .iter()
            .filter(|(x, _)| *x <= progress)
            .map(|(_, v)| *v);
        let high = passed.clone().fold(price, i64::max);
        let low = passed.fold(price, i64::min);
        // Volume accrues through the day, a little of it in the opening auction.
        let share = 30_000 + 970_000 * progress / PPM;
        let volume = (i128::from(d.volume) * i128::from(share) / i128::from(PPM)) as i64;
        Day {
            prev: d.prev,
            open: d.open,
            high,
            low,
            close: price,
            volume,
        }
    }

    /// A series at a moment.
    fn now_of(&self, series: Series, m: Moment) -> Now {
        let p = self.params(series);
        match self.days(series, m.day, 1).pop() {
            None => Now {
                day: None,
                bar: Day {
                    prev: p.base,
                    open: p.base,
                    high: p.base,
                    low: p.base,
                    close: p.base,
                    volume: 0,
                },
            },
            Some((date, d)) => Now {
                day: Some(date),
                bar: match m.progress {
                    Some(progress) => self.partial(&p, date, &d, progress),
                    None => d,
                },
            },
        }
    }

    fn bars_of(&self, series: Series, m: Moment, count: usize) -> Vec<Bar> {
        let p = self.params(series);
        let mut days = self.days(series, m.day, count);
        if let (Some(progress), Some((date, d))) = (m.progress, days.last_mut()) {
            if *date == m.day {
                *d = self.partial(&p, *date, d, progress);
            }
        }
        days.into_iter()
            .map(|(date, d)| Bar {
                date,
                open: p.decimal(d.open),
                high: p.decimal(d.high),
                low: p.decimal(d.low),
                close: p.decimal(d.close),
                volume: d.volume,
            })
            .collect()
    }

    fn moment(&self) -> Moment {
        Moment::at(self.clock.now())
    }

    fn count(&self, n: u64) {
        self.requests.fetch_add(n, Ordering::Relaxed);
    }

    fn row(&self, i: usize, m: Moment) -> ListedRow {
        let (code, name, market, _, shares_k) = STOCKS[i];
        let now = self.now_of(Series::Stock(i), m);
        let (price, _, rate) = change_of(&now, 0);
        let traded = now.bar.volume > 0;
        let band = self.params(Series::Stock(i)).band(now.bar.prev);
        ListedRow {
            code: StockCode::parse(code).expect("built-in codes are valid"),
            name: name.to_string(),
            market,
            kind: instrument_of(code, name).kind,
            price,
            prev_close: Decimal::from(now.bar.prev),
            change_rate: Some(rate),
            open: traded.then(|| Decimal::from(now.bar.open)),
            high: traded.then(|| Decimal::from(now.bar.high)),
            low: traded.then(|| Decimal::from(now.bar.low)),
            volume: Some(now.bar.volume),
            trading_value: None,
            market_cap: Some(price * Decimal::from(shares_k) * Decimal::from(1_000)),
            listed_shares: Some(shares_k * 1_000),
            listed_on: None,
            upper_limit: Some(Decimal::from(band.1)),
            lower_limit: Some(Decimal::from(band.0)),
            halted: false,
            session: TradingSession::Regular,
        }
    }
}

/// Serves simulated values through the same JSON parsers as Naver's answers, so that the
/// simulator and the real source cannot drift apart in shape.
fn through_parser<T>(
    what: &str,
    rendered: String,
    parse: impl FnOnce(&str) -> Result<T, super::ParseError>,
) -> MarketResult<T> {
    parse(&rendered).map_err(|source| MarketError::Parse {
        url: format!("sim:{what}"),
        source,
    })
}

/// (price, signed change, change in percent to 2 dp) of a series now; `scale` 2 for indices.
fn change_of(now: &Now, scale: u32) -> (Decimal, Decimal, Decimal) {
    let price = Decimal::new(now.price(), scale);
    let prev = Decimal::new(now.bar.prev, scale);
    let change = price - prev;
    let rate = (change * Decimal::ONE_HUNDRED / prev)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    (price, change, rate)
}

fn kst_now(at: DateTime<Utc>) -> NaiveDateTime {
    let local = at.with_timezone(&rules::kst()).naive_local();
    local.with_nanosecond(0).unwrap_or(local)
}

impl MarketData for Sim {
    async fn listing(
        &self,
        market: Market,
        on_page: PageCallback<'_>,
    ) -> MarketResult<Vec<ListedRow>> {
        let m = self.moment();
        let mut rows: Vec<ListedRow> = (0..STOCKS.len())
            .filter(|&i| STOCKS[i].2 == market)
            .map(|i| self.row(i, m))
            .collect();
        // Naver lists by market cap, largest first.
        rows.sort_by(|a, b| {
            b.market_cap
                .cmp(&a.market_cap)
                .then_with(|| a.code.cmp(&b.code))
        });
        // Stocks come from stock/default pages, ETFs from marketValue, as from Naver.
        let (products, shares): (Vec<ListedRow>, Vec<ListedRow>) = rows
            .into_iter()
            .partition(|r| r.kind.is_exchange_traded_product());
        let mut listed = Vec::with_capacity(shares.len() + products.len());
        for (page, chunk) in shares.chunks(PAGE_SIZE).enumerate() {
            self.count(1);
            let parsed = through_parser("listing", json::render_stock_default(chunk), |b| {
                json::parse_stock_default(b, market)
            })?;
            on_page(market, page as u32 + 1, parsed.len());
            listed.extend(parsed);
        }
        if !products.is_empty() {
            self.count(1);
            let page = through_parser(
                "listing",
                json::render_market_value(&products, products.len()),
                |b| json::parse_market_value(b, market),
            )?;
            listed.extend(page.rows);
        }
        Ok(listed)
    }

    async fn quotes(&self, codes: &[StockCode]) -> MarketResult<Vec<QuoteNow>> {
        self.count(1);
        let at = self.clock.now();
        let m = Moment::at(at);
        let local = at.with_timezone(&rules::kst());
        let status = if calendar::in_session(at) {
            "OPEN"
        } else if calendar::is_trading_day(local.date_naive())
            && local.time() < calendar::opening_time(local.date_naive())
        {
            "PREOPEN"
        } else {
            "CLOSE"
        };
        let quotes: Vec<QuoteNow> = codes
            .iter()
            .filter_map(|code| stock_index(code.as_str()))
            .map(|i| {
                let now = self.now_of(Series::Stock(i), m);
                let (price, _, rate) = change_of(&now, 0);
                let traded = now.bar.volume > 0;
                QuoteNow {
                    code: StockCode::parse(STOCKS[i].0).expect("built-in codes are valid"),
                    name: STOCKS[i].1.to_string(),
                    price: Some(price),
                    prev_close: Some(Decimal::from(now.bar.prev)),
                    change_rate: Some(rate),
                    open: traded.then(|| Decimal::from(now.bar.open)),
                    high: traded.then(|| Decimal::from(now.bar.high)),
                    low: traded.then(|| Decimal::from(now.bar.low)),
                    volume: traded.then_some(now.bar.volume),
                    trading_value: None,
                    market_cap: None,
                    market_status: status.to_string(),
                    session: TradingSession::Regular,
                    traded_at: Some(kst_now(at)),
                    halted: false,
                }
            })
            .collect();
        through_parser(
            "quotes",
            json::render_polling_stocks(&quotes),
            json::parse_polling_stocks,
        )
    }

    async fn index_now(&self, index: IndexCode) -> MarketResult<IndexNow> {
        self.count(1);
        let now = self.now_of(Series::Index(index), self.moment());
        let (value, change, change_rate) = change_of(&now, 2);
        Ok(IndexNow {
            value,
            change,
            change_rate,
        })
    }

    async fn daily_bars(&self, symbol: &Symbol, days: u32) -> MarketResult<Vec<Bar>> {
        self.count(1);
        let series = match symbol {
            Symbol::Stock(code) => {
                Series::Stock(stock_index(code.as_str()).ok_or_else(|| not_found(code.as_str()))?)
            }
            Symbol::Index(index) => Series::Index(*index),
        };
        Ok(self.bars_of(series, self.moment(), days as usize))
    }

    async fn order_book(&self, code: &StockCode) -> MarketResult<OrderBook> {
        self.count(1);
        let i = stock_index(code.as_str()).ok_or_else(|| not_found(code.as_str()))?;
        let at = self.clock.now();
        let m = Moment::at(at);
        let series = Series::Stock(i);
        let p = self.params(series);
        let now = self.now_of(series, m);
        let price = now.price();
        // In the session the book lives inside today's band; otherwise inside the band of the
        // next session, whose base is the current price.
        let (lower, upper) = if m.progress.is_some() {
            p.band(now.bar.prev)
        } else {
            p.band(price)
        };
        let minute = i64::from(kst_now(at).num_seconds_from_midnight() / 60);
        let day = now.day.map_or(0, day_number);
        let typical = (p.volume / 2_000).max(1);
        let quantity = |side: u64, level: usize| {
            let mut r = Draws::new(mix(&[
                self.seed,
                p.key,
                day,
                minute as u64,
                side,
                level as u64,
                SALT_BOOK,
            ]));
            (typical * (20 + r.below(281)) / 100).max(1)
        };
        let mut asks = Vec::with_capacity(BOOK_DEPTH);
        let mut ask = price;
        while asks.len() < BOOK_DEPTH {
            ask += to_i64(rules::tick_size_of(
                p.instrument.map_or(InstrumentKind::Common, |i| i.kind),
                Decimal::from(ask),
            ));
            if ask > upper {
                break;
            }
            asks.push(Level {
                price: Decimal::from(ask),
                quantity: quantity(0, asks.len()),
            });
        }
        let mut bids = Vec::with_capacity(BOOK_DEPTH);
        let mut bid = price.min(upper);
        while bids.len() < BOOK_DEPTH && bid >= lower {
            bids.push(Level {
                price: Decimal::from(bid),
                quantity: quantity(1, bids.len()),
            });
            if bid <= 1 {
                break;
            }
            bid = p.snap(bid - 1);
        }
        Ok(OrderBook { asks, bids })
    }

    fn stats(&self) -> FetchStats {
        FetchStats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: 0,
            bytes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    fn at(day: NaiveDate, h: u32, m: u32) -> Clock {
        Clock::fixed(rules::kst_instant(
            day,
            NaiveTime::from_hms_opt(h, m, 0).unwrap(),
        ))
    }

    fn code(s: &str) -> StockCode {
        StockCode::parse(s).unwrap()
    }

    fn stock(s: &str) -> Symbol {
        Symbol::Stock(code(s))
    }

    /// Runs a future that never awaits anything (every Sim call completes at once).
    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn no_pages(_: Market, _: u32, _: usize) {}

    fn dec(v: i64) -> Decimal {
        Decimal::from(v)
    }

    fn kind(c: &str) -> InstrumentKind {
        let name = STOCKS.iter().find(|s| s.0 == c).map_or("", |s| s.1);
        instrument_of(c, name).kind
    }

    fn on_tick(c: &str, v: Decimal) -> bool {
        rules::floor_to_tick_of(kind(c), v) == v
    }

    fn band(c: &str, base: Decimal) -> rules::Band {
        let name = STOCKS.iter().find(|s| s.0 == c).map_or("", |s| s.1);
        rules::band_for(&instrument_of(c, name), base, HISTORY_START)
    }

    fn in_band(c: &str, v: Decimal, prev: Decimal) -> bool {
        let b = band(c, prev);
        b.lower <= v && v <= b.upper
    }

    #[test]
    fn the_built_in_list_is_well_formed() {
        let list = listings();
        assert_eq!(list.len(), STOCKS.len());
        let kospi = list.iter().filter(|s| s.2 == Market::Kospi).count();
        let kosdaq = list.iter().filter(|s| s.2 == Market::Kosdaq).count();
        assert!((55..=65).contains(&kospi), "{kospi}");
        assert!((38..=45).contains(&kosdaq), "{kosdaq}");
        let mut codes: Vec<_> = list.iter().map(|s| s.0).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), list.len(), "codes are unique");
        for (c, name, _) in list {
            assert!(StockCode::parse(c).is_ok(), "{c}");
            assert!(!name.is_empty());
        }
        for (c, name, market) in [
            ("005930", "삼성전자", Market::Kospi),
            ("000660", "SK하이닉스", Market::Kospi),
            ("373220", "LG에너지솔루션", Market::Kospi),
            ("035720", "카카오", Market::Kospi),
            ("247540", "에코프로비엠", Market::Kosdaq),
            ("028300", "HLB", Market::Kosdaq),
        ] {
            assert!(list.contains(&(c, name, market)), "{c} {name}");
        }
        for (c, _, _, base, shares) in STOCKS {
            assert!(on_tick(c, dec(*base)) && *shares > 0, "{base}");
        }
    }

    #[test]
    fn same_seed_and_clock_agree_across_instances() {
        let clock = at(d(2026, 3, 11), 11, 7);
        let (a, b) = (Sim::new(7, clock), Sim::new(7, clock));
        let codes: Vec<_> = listings().iter().map(|s| code(s.0)).collect();
        run(async {
            for market in [Market::Kospi, Market::Kosdaq] {
                assert_eq!(
                    a.listing(market, &no_pages).await.unwrap(),
                    b.listing(market, &no_pages).await.unwrap()
                );
            }
            assert_eq!(
                a.quotes(&codes).await.unwrap(),
                b.quotes(&codes).await.unwrap()
            );
            for s in [
                stock("005930"),
                stock("247540"),
                Symbol::Index(IndexCode::Kospi),
            ] {
                assert_eq!(
                    a.daily_bars(&s, 300).await.unwrap(),
                    b.daily_bars(&s, 300).await.unwrap()
                );
            }
            assert_eq!(
                a.order_book(&code("000660")).await.unwrap(),
                b.order_book(&code("000660")).await.unwrap()
            );
            assert_eq!(
                a.index_now(IndexCode::Kosdaq).await.unwrap(),
                b.index_now(IndexCode::Kosdaq).await.unwrap()
            );
        });
        // A warm memo answers like a cold one: asking for a later day first changes nothing.
        let warm = Sim::new(7, at(d(2026, 6, 1), 16, 0));
        run(warm.daily_bars(&stock("005930"), 1)).unwrap();
        let warm = warm.with_clock(clock);
        assert_eq!(
            run(warm.daily_bars(&stock("005930"), 300)).unwrap(),
            run(a.daily_bars(&stock("005930"), 300)).unwrap()
        );
    }

    #[test]
    fn a_different_seed_gives_different_prices() {
        let clock = at(d(2025, 9, 1), 14, 0);
        let rows = |seed| run(Sim::new(seed, clock).listing(Market::Kospi, &no_pages)).unwrap();
        let (a, b) = (rows(1), rows(2));
        let price =
            |rows: &[ListedRow], c: &str| rows.iter().find(|r| r.code.as_str() == c).unwrap().price;
        let differ = STOCKS
            .iter()
            .filter(|s| s.2 == Market::Kospi)
            .filter(|s| price(&a, s.0) != price(&b, s.0))
            .count();
        assert!(differ >= 55, "only {differ} prices differ");
        let kospi = |seed| {
            run(Sim::new(seed, clock).index_now(IndexCode::Kospi))
                .unwrap()
                .value
        };
        assert_ne!(kospi(1), kospi(2));
    }

    #[test]
    fn every_day_of_every_stock_is_on_tick_and_in_band() {
        // 2025-03-31 after the close: 300 bars reach back to early 2024 (≥ 250 trading days).
        let sim = Sim::new(42, at(d(2025, 3, 31), 16, 0));
        for (c, _, _) in listings() {
            let bars = run(sim.daily_bars(&stock(c), 300)).unwrap();
            assert_eq!(bars.len(), 300, "{c}");
            assert!(bars.windows(2).all(|w| w[0].date < w[1].date));
            assert_eq!(bars.last().unwrap().date, d(2025, 3, 31));
            for (k, bar) in bars.iter().enumerate() {
                let prev = if k == 0 {
                    // The day before the first bar, from a longer request.
                    let longer = run(sim.daily_bars(&stock(c), 301)).unwrap();
                    longer[0].close
                } else {
                    bars[k - 1].close
                };
                for v in [bar.open, bar.high, bar.low, bar.close] {
                    assert!(v > Decimal::ZERO, "{c} {}", bar.date);
                    assert!(on_tick(c, v), "{c} {}: {v} off tick", bar.date);
                    assert!(
                        in_band(c, v, prev),
                        "{c} {}: {v} outside band of {prev}",
                        bar.date
                    );
                }
                assert!(bar.low <= bar.open.min(bar.close), "{c} {}", bar.date);
                assert!(bar.high >= bar.open.max(bar.close), "{c} {}", bar.date);
                assert!(bar.volume > 0);
            }
        }
    }

    #[test]
    fn intraday_prices_every_ten_minutes_are_on_tick_and_in_band() {
        let sim = Sim::new(9, Clock::system());
        let last = d(2025, 3, 31);
        for (i, (c, _, _)) in listings().iter().enumerate() {
            let series = Series::Stock(i);
            let days = sim.days(series, last, 250);
            assert_eq!(days.len(), 250);
            for (date, day) in days {
                let open = calendar::opening_time(date);
                let mut volume = 0;
                let mut t = open;
                while t < rules::CLOSE {
                    let m = Moment::at(rules::kst_instant(date, t));
                    assert_eq!(m.day, date);
                    let now = sim.now_of(series, m);
                    let (price, bar) = (dec(now.price()), now.bar);
                    assert!(on_tick(c, price), "{c} {date} {t}: {price}");
                    assert!(in_band(c, price, dec(day.prev)), "{c} {date} {t}: {price}");
                    assert!(
                        bar.low <= bar.open.min(bar.close) && bar.high >= bar.open.max(bar.close)
                    );
                    assert!(bar.low >= day.low && bar.high <= day.high, "{c} {date} {t}");
                    assert!(bar.volume >= volume, "volume grows through the day");
                    volume = bar.volume;
                    t += chrono::Duration::minutes(10);
                }
                // From the closing auction on, the day is its final bar.
                let late = sim.now_of(
                    series,
                    Moment::at(rules::kst_instant(date, CLOSING_AUCTION)),
                );
                assert_eq!(late.bar, day, "{c} {date}");
            }
        }
    }

    #[test]
    fn bars_chain_and_skip_weekends_and_holidays() {
        // Chuseok 2026: Thursday 24 and Friday 25 September are closures.
        let sim = Sim::new(3, at(d(2026, 9, 30), 16, 0));
        let want = [
            d(2026, 9, 17),
            d(2026, 9, 18),
            d(2026, 9, 21),
            d(2026, 9, 22),
            d(2026, 9, 23),
            d(2026, 9, 28),
            d(2026, 9, 29),
            d(2026, 9, 30),
        ];
        for s in [
            stock("005930"),
            stock("086520"),
            Symbol::Index(IndexCode::Kospi),
        ] {
            let bars = run(sim.daily_bars(&s, 8)).unwrap();
            let dates: Vec<_> = bars.iter().map(|b| b.date).collect();
            assert_eq!(dates, want, "{s:?}");
            let longer = run(sim.daily_bars(&s, 9)).unwrap();
            assert_eq!(
                longer[1..],
                bars[..],
                "a longer request extends to the past"
            );
        }
        // The walk underneath: each day's previous close is the close of the bar before.
        let days = sim.days(Series::Stock(0), d(2026, 9, 30), 600);
        assert_eq!(days.len(), 600);
        assert!(days.windows(2).all(|w| w[1].1.prev == w[0].1.close));
        assert!(days.iter().all(|(date, _)| calendar::is_trading_day(*date)));
    }

    #[test]
    fn before_the_open_the_price_is_the_previous_close() {
        let day = d(2026, 11, 24); // a Tuesday
        let codes = [code("005930"), code("247540")];
        let early = Sim::new(5, at(day, 8, 30));
        let yesterday = Sim::new(5, at(d(2026, 11, 23), 16, 0));
        let quotes = run(early.quotes(&codes)).unwrap();
        for q in &quotes {
            let bars = run(yesterday.daily_bars(&stock(q.code.as_str()), 2)).unwrap();
            assert_eq!(bars[1].date, d(2026, 11, 23));
            assert_eq!(q.price, Some(bars[1].close), "{}", q.code);
            // The change shown before the open is the previous session's.
            assert_eq!(q.prev_close, Some(bars[0].close));
            assert_eq!(q.market_status, "PREOPEN");
            assert_eq!(
                q.traded_at,
                Some(day.and_time(NaiveTime::from_hms_opt(8, 30, 0).unwrap()))
            );
        }
        // At 09:00 the price is the day's open, and the market is open.
        let opening = Sim::new(5, at(day, 9, 0));
        let after = Sim::new(5, at(day, 16, 0));
        for q in run(opening.quotes(&codes)).unwrap() {
            let today = run(after.daily_bars(&stock(q.code.as_str()), 1)).unwrap();
            assert_eq!(q.price, Some(today[0].open));
            assert_eq!(q.market_status, "OPEN");
        }
        // The first session of 2026 opens at 10:00: at 09:30 it is still the 2025 close.
        let first = d(2026, 1, 2);
        let s = Sim::new(5, at(first, 9, 30));
        let bars = run(s.daily_bars(&stock("005930"), 1)).unwrap();
        assert_eq!(bars[0].date, d(2025, 12, 30));
        let q = run(s.quotes(&codes[..1])).unwrap();
        assert_eq!(q[0].price, Some(bars[0].close));
        assert_eq!(q[0].market_status, "PREOPEN");
        // A weekend shows Friday's close.
        let sat = Sim::new(5, at(d(2026, 11, 28), 12, 0));
        let fri = Sim::new(5, at(d(2026, 11, 27), 20, 0));
        assert_eq!(
            run(sat.quotes(&codes)).unwrap()[0].price,
            run(fri.quotes(&codes)).unwrap()[0].price
        );
    }

    #[test]
    fn daily_bars_end_on_the_right_day_around_the_open() {
        let day = d(2026, 11, 24);
        let before = run(Sim::new(1, at(day, 8, 59)).daily_bars(&stock("005930"), 5)).unwrap();
        let dates: Vec<_> = before.iter().map(|b| b.date).collect();
        assert_eq!(
            dates,
            [
                d(2026, 11, 17),
                d(2026, 11, 18),
                d(2026, 11, 19),
                d(2026, 11, 20),
                d(2026, 11, 23)
            ]
        );
        let open = Sim::new(1, at(day, 9, 0));
        let after = run(open.daily_bars(&stock("005930"), 5)).unwrap();
        assert_eq!(after.len(), 5);
        assert_eq!(after[4].date, day);
        assert_eq!(after[..4], before[1..]);
        // Today's bar so far: it opened at the open, and its close is the current price.
        let midday = Sim::new(1, at(day, 11, 40));
        let bar = run(midday.daily_bars(&stock("005930"), 1))
            .unwrap()
            .remove(0);
        let q = run(midday.quotes(&[code("005930")])).unwrap().remove(0);
        assert_eq!(Some(bar.close), q.price);
        assert_eq!(Some(bar.volume), q.volume);
        assert_eq!(bar.open, after[4].open);
        let idx = run(midday.daily_bars(&Symbol::Index(IndexCode::Kosdaq), 2)).unwrap();
        let now = run(midday.index_now(IndexCode::Kosdaq)).unwrap();
        assert_eq!(idx[1].close, now.value);
        assert_eq!(now.change, idx[1].close - idx[0].close);
    }

    #[test]
    fn order_book_levels_are_consecutive_ticks_inside_the_band() {
        for clock in [
            at(d(2026, 3, 11), 10, 3),
            at(d(2026, 3, 11), 15, 25),
            at(d(2026, 3, 11), 18, 0),
            at(d(2026, 3, 14), 9, 0),
        ] {
            let sim = Sim::new(11, clock);
            let in_session = calendar::in_session(clock.now());
            for (c, _, _) in listings() {
                let book = run(sim.order_book(&code(c))).unwrap();
                let bars = run(sim.daily_bars(&stock(c), 2)).unwrap();
                let price = bars[1].close;
                let base = if in_session { bars[0].close } else { price };
                let band = band(c, base);
                assert!(!book.bids.is_empty() && book.bids.len() <= BOOK_DEPTH);
                assert!(book.asks.len() <= BOOK_DEPTH);
                if price + dec(10) * rules::tick_size_of(kind(c), price) <= band.upper {
                    assert_eq!(book.asks.len(), BOOK_DEPTH, "{c}");
                }
                assert_eq!(book.bids[0].price, price, "{c}");
                let mut expect = price;
                for l in &book.asks {
                    expect += rules::tick_size_of(kind(c), expect);
                    assert_eq!(l.price, expect, "{c}");
                }
                let mut expect = price;
                for l in &book.bids[1..] {
                    expect = rules::floor_to_tick_of(kind(c), expect - Decimal::ONE);
                    assert_eq!(l.price, expect, "{c}");
                }
                for l in book.asks.iter().chain(&book.bids) {
                    assert!(on_tick(c, l.price), "{c} {}", l.price);
                    assert!(
                        band.lower <= l.price && l.price <= band.upper,
                        "{c} {}",
                        l.price
                    );
                    assert!(l.quantity > 0);
                }
            }
        }
    }

    #[test]
    fn unknown_codes_are_not_found_or_absent() {
        let sim = Sim::new(1, at(d(2026, 3, 11), 10, 0));
        match run(sim.daily_bars(&stock("123456"), 5)) {
            Err(MarketError::NotFound(m)) => assert_eq!(m, "sim: no stock 123456"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run(sim.order_book(&code("123456"))),
            Err(MarketError::NotFound(_))
        ));
        let q = run(sim.quotes(&[code("123456"), code("035420")])).unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(
            (q[0].code.as_str(), q[0].name.as_str()),
            ("035420", "NAVER")
        );
        assert!(run(sim.daily_bars(&stock("005930"), 0)).unwrap().is_empty());
        assert_eq!(sim.stats().requests, 4);
    }

    #[test]
    fn listing_rows_and_pages() {
        let sim = Sim::new(8, at(d(2026, 3, 11), 13, 45));
        let pages = Mutex::new(Vec::new());
        let record = |m: Market, page: u32, n: usize| pages.lock().unwrap().push((m, page, n));
        let rows = run(sim.listing(Market::Kospi, &record)).unwrap();
        let kospi = listings().iter().filter(|s| s.2 == Market::Kospi).count();
        assert_eq!(rows.len(), kospi);
        // Stocks on stock/default pages, then the ETFs from marketValue.
        let stocks = kospi - ETFS.len();
        assert_eq!(
            *pages.lock().unwrap(),
            [(Market::Kospi, 1, 50), (Market::Kospi, 2, stocks - 50)]
        );
        let (shares, etfs) = rows.split_at(stocks);
        assert!(etfs.iter().all(|r| r.kind == InstrumentKind::Etf));
        assert!(shares.iter().all(|r| !r.kind.is_exchange_traded_product()));
        assert!(shares
            .windows(2)
            .all(|w| w[0].market_cap >= w[1].market_cap));
        for r in &rows {
            let bars = run(sim.daily_bars(&stock(r.code.as_str()), 2)).unwrap();
            assert_eq!(r.price, bars[1].close);
            assert_eq!(r.prev_close, bars[0].close);
            assert_eq!(
                r.change_rate,
                Some(
                    ((r.price - r.prev_close) / bars[0].close * Decimal::ONE_HUNDRED)
                        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
                )
            );
            assert_eq!(r.volume, Some(bars[1].volume));
            // marketValue gives no share count; stock/default does.
            let shares = STOCKS.iter().find(|s| s.0 == r.code.as_str()).unwrap().4 * 1_000;
            assert_eq!(
                r.market_cap,
                Some(r.price * Decimal::from(shares)),
                "{}",
                r.code
            );
            if !r.kind.is_exchange_traded_product() {
                assert_eq!(r.listed_shares, Some(shares), "{}", r.code);
            }
        }
        let samsung = rows.iter().find(|r| r.code.as_str() == "005930").unwrap();
        assert_eq!(samsung.name, "삼성전자");
        assert_eq!(samsung.listed_shares, Some(5_969_783_000));
        let preferred = rows.iter().find(|r| r.code.as_str() == "005935").unwrap();
        assert_eq!(preferred.kind, InstrumentKind::Preferred);
        let kosdaq = run(sim.listing(Market::Kosdaq, &no_pages)).unwrap();
        assert!(kosdaq
            .iter()
            .any(|r| r.code.as_str() == "196170" && r.name == "알테오젠"));
        assert!(kosdaq.len() < PAGE_SIZE);
    }

    #[test]
    fn indices_stay_on_their_scale_with_two_decimals() {
        let sim = Sim::new(21, at(d(2026, 12, 30), 16, 0));
        for (index, lo, hi) in [
            (IndexCode::Kospi, 2_000, 3_400),
            (IndexCode::Kosdaq, 550, 1_150),
        ] {
            let bars = run(sim.daily_bars(&Symbol::Index(index), 720)).unwrap();
            assert_eq!(bars.len(), 720);
            for b in &bars {
                for v in [b.open, b.high, b.low, b.close] {
                    assert!(v.scale() <= 2, "{v}");
                    assert!(dec(lo) < v && v < dec(hi), "{index} {}: {v}", b.date);
                }
                assert!(b.low <= b.open.min(b.close) && b.high >= b.open.max(b.close));
            }
            let now = run(sim.index_now(index)).unwrap();
            assert_eq!(now.value, bars[719].close);
            assert_eq!(now.change, bars[719].close - bars[718].close);
            assert_eq!(now.change_rate.scale().min(2), now.change_rate.scale());
        }
    }

    #[test]
    fn before_the_history_prices_stand_at_their_base() {
        let sim = Sim::new(4, at(d(2023, 11, 1), 11, 0));
        assert!(run(sim.daily_bars(&stock("005930"), 10))
            .unwrap()
            .is_empty());
        let q = run(sim.quotes(&[code("005930")])).unwrap().remove(0);
        assert_eq!(q.price, Some(dec(78_500)));
        assert_eq!(q.prev_close, q.price);
        // The first session opens at 10:00 on 2024-01-02 from the base.
        let first = Sim::new(4, at(HISTORY_START, 16, 0));
        let bars = run(first.daily_bars(&stock("005930"), 10)).unwrap();
        assert_eq!(bars.len(), 1);
        assert!(in_band("005930", bars[0].close, dec(78_500)));
    }

    #[test]
    fn a_long_history_is_quick_to_compute() {
        // ~700 trading days for every stock; the memo makes a second pass free. Not a
        // benchmark: a guard against an accidental quadratic walk.
        let sim = Sim::new(99, at(d(2026, 10, 30), 16, 0));
        let started = std::time::Instant::now();
        for i in 0..STOCKS.len() {
            assert_eq!(sim.days(Series::Stock(i), d(2026, 10, 30), 1000).len(), 688);
        }
        eprintln!(
            "{} stocks × 688 days: {:?}",
            STOCKS.len(),
            started.elapsed()
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    proptest! {
        #[test]
        fn prices_at_any_moment_are_on_tick_and_in_band(
            seed in any::<u64>(),
            i in 0..STOCKS.len(),
            offset in 0i64..900,
            minute in 0u32..24 * 60,
        ) {
            let day = HISTORY_START + chrono::Duration::days(offset);
            let clock = at(day, minute / 60, minute % 60);
            let sim = Sim::new(seed, clock);
            let m = Moment::at(clock.now());
            let now = sim.now_of(Series::Stock(i), m);
            let bar = now.bar;
            let c = STOCKS[i].0;
            if m.day >= HISTORY_START {
                prop_assert_eq!(now.day, Some(m.day));
            } else {
                prop_assert_eq!(now.day, None);
            }
            for v in [bar.open, bar.high, bar.low, bar.close] {
                prop_assert!(v > 0);
                prop_assert!(on_tick(c, dec(v)), "{} off tick", v);
                prop_assert!(in_band(c, dec(v), dec(bar.prev)), "{} outside band of {}", v, bar.prev);
            }
            prop_assert!(bar.low <= bar.open.min(bar.close) && bar.open.max(bar.close) <= bar.high);
            let book = run(sim.order_book(&code(STOCKS[i].0))).unwrap();
            prop_assert!(!book.bids.is_empty());
            for l in book.asks.iter().chain(&book.bids) {
                prop_assert!(on_tick(c, l.price));
            }
        }
    }
}
