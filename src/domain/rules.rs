//! The KRX rulebook: tick sizes, the daily price band, the regular session, commission and the
//! securities transaction tax by trade date.
//!
//! Rounding, in one place: KRW has no minor unit. Fees and taxes are computed on the fill amount
//! (price × quantity, itself whole won) and truncated (floored) to the won. Band limits are cut
//! down to the tick of their own level. Average prices keep decimals and are only rounded for
//! display.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Serialize;

use super::calendar::{Calendar, CalendarError};
use super::instrument::InstrumentKind;
use super::types::{Price, Quantity, Side, Won};
use super::Invalid;

/// The highest price the program accepts (far above any KRX listing).
pub const MAX_PRICE: Decimal = dec!(100_000_000);

/// KST is UTC+9 with no daylight saving time.
pub fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("valid offset")
}

/// Tick size (호가가격단위) for a price level; the same on KOSPI and KOSDAQ since 2023-01-25.
pub fn tick_size(price: Decimal) -> Decimal {
    match price {
        p if p < dec!(2_000) => dec!(1),
        p if p < dec!(5_000) => dec!(5),
        p if p < dec!(20_000) => dec!(10),
        p if p < dec!(50_000) => dec!(50),
        p if p < dec!(200_000) => dec!(100),
        p if p < dec!(500_000) => dec!(500),
        _ => dec!(1_000),
    }
}

/// Cuts a price down to the tick of its own level.
pub fn floor_to_tick(price: Decimal) -> Decimal {
    let t = tick_size(price);
    (price / t).floor() * t
}

/// Tick size of an ETF or ETN: 1 won below 2,000 won, 5 won from 2,000 won. In force since
/// 2023-12-18 (KRX amendment of 2023-10-05, as reported by Hankyung and Mediapen); before, a
/// flat 5 won.
pub fn etp_tick_size(price: Decimal) -> Decimal {
    if price < dec!(2_000) {
        dec!(1)
    } else {
        dec!(5)
    }
}

/// Tick size of an instrument of `kind` at a price level.
pub fn tick_size_of(kind: InstrumentKind, price: Decimal) -> Decimal {
    if kind.is_exchange_traded_product() {
        etp_tick_size(price)
    } else {
        tick_size(price)
    }
}

/// Cuts a price down to the tick of its own level for an instrument of `kind`.
pub fn floor_to_tick_of(kind: InstrumentKind, price: Decimal) -> Decimal {
    let t = tick_size_of(kind, price);
    (price / t).floor() * t
}

/// Ticks are an order rule: a limit price must sit on its instrument's tick. A crawled price
/// is a market fact and is never checked against this table: quotes recorded on 2026-09-23 and
/// 2026-10-01 show closes such as 274,250 and 204,250, halfway between two 500-won ticks, while
/// every open, high and low of the same records sits on the grid. They are trades of KRX
/// midpoint orders (중간가호가, allowed since 2025-03 in the regular session for stocks, DRs,
/// ETFs and ETNs; filled at the mean of the best bid and ask, fractions of a won dropped), not
/// a new tick table: no change to the 2023-01-25 table is on record through 2026-08.
pub fn check_tick(kind: InstrumentKind, price: Price) -> Result<(), Invalid> {
    let d = price.get();
    let tick = tick_size_of(kind, d);
    if d % tick == Decimal::ZERO {
        return Ok(());
    }
    let below = floor_to_tick_of(kind, d);
    let what = if kind.is_exchange_traded_product() {
        format!("{} ", kind.as_str().to_uppercase())
    } else {
        String::new()
    };
    Err(Invalid::new(
        "price",
        format!(
            "{} is not on the {}-won {what}tick for its level (nearest: {} or {})",
            super::group_thousands(d),
            tick,
            super::group_thousands(below),
            super::group_thousands(below + tick),
        ),
    ))
}

/// What sets a day's band for an instrument: its kind, its leverage (a 2× product's band is
/// twice as wide) and its first trading day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Instrument {
    pub kind: InstrumentKind,
    /// 1 for everything but leveraged ETFs/ETNs (2 for a 2× product).
    pub leverage: Decimal,
    /// The first trading day, when known.
    pub listed_on: Option<NaiveDate>,
}

impl Instrument {
    pub fn common() -> Self {
        Instrument {
            kind: InstrumentKind::Common,
            leverage: Decimal::ONE,
            listed_on: None,
        }
    }

    /// A listed instrument of `kind` named `name`: its leverage is what the name shows
    /// ([`super::instrument::leverage_of`]).
    pub fn named(kind: InstrumentKind, name: &str, listed_on: Option<NaiveDate>) -> Self {
        Instrument {
            kind,
            leverage: Decimal::from(super::instrument::leverage_of(kind, name)),
            listed_on,
        }
    }

    /// An instrument as the `stocks` table stores it (`kind` is checked by the schema).
    pub fn stored(kind: &str, leverage: Decimal, listed_on: Option<NaiveDate>) -> Self {
        Instrument {
            kind: kind.parse().expect("kind checked by the schema"),
            leverage,
            listed_on,
        }
    }
}

/// The first day's band of a new listing, since 2023-06-26: 60% to 400% of the offering price
/// (which the market shows as the base price of that day).
pub const FIRST_DAY_LOWER: Decimal = dec!(0.60);
pub const FIRST_DAY_UPPER: Decimal = dec!(4.00);

/// The band of `inst` on trade date `day` around `base` (the previous close, or the offering
/// price on the first trading day). Limits are cut to the instrument's own tick.
pub fn band_for(inst: &Instrument, base: Decimal, day: NaiveDate) -> Band {
    let floor = |p: Decimal| floor_to_tick_of(inst.kind, p);
    if inst.listed_on == Some(day) {
        return Band {
            base,
            lower: floor(base * FIRST_DAY_LOWER).max(Decimal::ONE),
            upper: floor(base * FIRST_DAY_UPPER),
            rule: BandRule::FirstDay,
        };
    }
    let rate = BAND_RATE * inst.leverage.max(Decimal::ONE);
    let tick = tick_size_of(inst.kind, base);
    let width = (base * rate / tick).floor() * tick;
    Band {
        base,
        lower: floor(base - width).max(Decimal::ONE),
        upper: floor(base + width),
        rule: BandRule::Daily { rate },
    }
}

/// The daily price band: ±30% of the base (previous close), computed the KRX way.
/// The width is cut down to the base price's tick; each limit is then cut down to its own tick.
/// Example: base 9,980 → width 2,990 → upper 12,970 (on its 10-won tick), lower 6,990;
/// base 55,900 → width 16,700 → upper 72,600, lower 39,200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Band {
    pub base: Decimal,
    pub lower: Decimal,
    pub upper: Decimal,
    pub rule: BandRule,
}

/// Which rule set a band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BandRule {
    /// ±rate of the previous close (0.30, or the leverage multiple × 0.30).
    Daily { rate: Decimal },
    /// 60%–400% of the offering price on a listing's first trading day.
    FirstDay,
}

impl std::fmt::Display for BandRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BandRule::Daily { rate } => {
                write!(f, "±{}% of the base price", (rate * dec!(100)).normalize())
            }
            BandRule::FirstDay => f.write_str("60%–400% of the offering price on its first day"),
        }
    }
}

pub const BAND_RATE: Decimal = dec!(0.30);

pub fn price_band(base: Decimal) -> Band {
    let tick = tick_size(base);
    let width = (base * BAND_RATE / tick).floor() * tick;
    let upper = floor_to_tick(base + width);
    let lower = floor_to_tick(base - width).max(Decimal::ONE);
    Band {
        base,
        lower,
        upper,
        rule: BandRule::Daily { rate: BAND_RATE },
    }
}

impl Band {
    pub fn check(&self, price: Price) -> Result<(), Invalid> {
        let p = price.get();
        if p < self.lower || p > self.upper {
            return Err(Invalid::new(
                "price",
                format!(
                    "{} is outside today's band {} to {} ({} {})",
                    price,
                    super::group_thousands(self.lower),
                    super::group_thousands(self.upper),
                    self.rule,
                    super::group_thousands(self.base)
                ),
            ));
        }
        Ok(())
    }
}

/// Where a moment falls relative to the regular session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// A trading day, before the open.
    PreOpen,
    /// Inside the regular session.
    Open,
    /// A trading day, at or after the close.
    AfterClose,
    /// Weekend or KRX holiday.
    ClosedDay,
}

pub const OPEN: NaiveTime = match NaiveTime::from_hms_opt(9, 0, 0) {
    Some(t) => t,
    None => unreachable!(),
};
/// The first trading day of a year opens an hour late.
pub const OPEN_FIRST_DAY: NaiveTime = match NaiveTime::from_hms_opt(10, 0, 0) {
    Some(t) => t,
    None => unreachable!(),
};
pub const CLOSE: NaiveTime = match NaiveTime::from_hms_opt(15, 30, 0) {
    Some(t) => t,
    None => unreachable!(),
};

/// The closing single-price auction (장 마감 동시호가) takes the last 10 minutes of the regular
/// session: 15:20–15:30 KST on a normal day.
pub const CLOSING_AUCTION: chrono::Duration = chrono::Duration::minutes(10);

/// When the closing auction of a trading day starts: [`CLOSING_AUCTION`] before its close.
pub fn closing_auction_starts(day: NaiveDate) -> NaiveTime {
    super::calendar::regular_close(day) - CLOSING_AUCTION
}

/// The KRX after-market opens at 16:00 KST (continuous trading to 20:00).
pub const AFTER_MARKET_OPEN: NaiveTime = match NaiveTime::from_hms_opt(16, 0, 0) {
    Some(t) => t,
    None => unreachable!(),
};

/// The first day of the KRX after-market session (16:00–20:00, continuous trading). From this
/// day on, sources whose daily close is the last trade of the day (Naver's chart API) may
/// report an after-market price as the close; the value of a day is its 15:30 regular close.
pub fn after_market_start() -> NaiveDate {
    ymd(2026, 9, 14)
}

/// The KST trade date of a moment.
pub fn trade_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&kst()).date_naive()
}

/// The opening time of a day: `None` when the market is closed, 10:00 on the first trading
/// day of the year, 09:00 otherwise (or as a KRX notice shifted it). An error when the calendar
/// cannot answer for the day.
pub fn opening_time(day: NaiveDate, cal: &Calendar) -> Result<Option<NaiveTime>, CalendarError> {
    Ok(cal.day(day)?.opens_at())
}

/// Where a moment falls, by a calendar that knows the crawled trading days. An error when the
/// calendar cannot answer for the moment's KST date.
pub fn session_state_in(at: DateTime<Utc>, cal: &Calendar) -> Result<SessionState, CalendarError> {
    let local = at.with_timezone(&kst());
    let Some(session) = cal.day(local.date_naive())?.session else {
        return Ok(SessionState::ClosedDay);
    };
    let t = local.time();
    Ok(if t < session.opens_at {
        SessionState::PreOpen
    } else if t < session.closes_at {
        SessionState::Open
    } else {
        SessionState::AfterClose
    })
}

/// The UTC instant of a KST wall-clock time on a date.
pub fn kst_instant(day: NaiveDate, t: NaiveTime) -> DateTime<Utc> {
    kst()
        .from_local_datetime(&day.and_time(t))
        .single()
        .expect("KST has no gaps")
        .with_timezone(&Utc)
}

/// Securities transaction tax on sells, by trade date (KOSPI and KOSDAQ alike).
/// 2024: 0.18%; 2025: 0.15%; from 2026-01-01: 0.20%.
const SELL_TAX: &[(NaiveDate, Decimal)] = &[
    (ymd(2024, 1, 1), dec!(0.0018)),
    (ymd(2025, 1, 1), dec!(0.0015)),
    (ymd(2026, 1, 1), dec!(0.0020)),
];

const fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(y, m, d) {
        Some(d) => d,
        None => panic!("invalid date"),
    }
}

pub fn sell_tax_rate(day: NaiveDate) -> Decimal {
    SELL_TAX
        .iter()
        .rev()
        .find(|(from, _)| *from <= day)
        .map(|(_, r)| *r)
        .unwrap_or(SELL_TAX[0].1)
}

/// The default commission: 0.015% of the fill amount, on both sides.
pub const DEFAULT_COMMISSION_RATE: Decimal = dec!(0.00015);

/// The configurable part of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rulebook {
    /// Commission as a fraction of the fill amount (0.00015 = 0.015%).
    pub commission_rate: Decimal,
    /// A stored price older than this may not be traded on.
    pub max_price_age: chrono::Duration,
    /// How much of a crossed resting order settle fills.
    pub fill_model: super::order::FillModel,
}

impl Default for Rulebook {
    fn default() -> Self {
        Rulebook {
            commission_rate: DEFAULT_COMMISSION_RATE,
            max_price_age: chrono::Duration::minutes(15),
            fill_model: super::order::FillModel::Full,
        }
    }
}

impl Rulebook {
    /// Validates a commission given in percent (e.g. `0.015`): 0 to 1%.
    pub fn commission_from_percent(pct: Decimal) -> Result<Decimal, Invalid> {
        if pct < Decimal::ZERO || pct > Decimal::ONE {
            return Err(Invalid::new(
                "commission",
                format!("{pct}% must be between 0 and 1 percent"),
            ));
        }
        Ok(pct / dec!(100))
    }
}

/// Commission on an amount at a rate, truncated to the won.
pub fn commission(amount: Won, rate: Decimal) -> Won {
    Won::floor(amount.get() * rate)
}

/// Sell tax on an amount for a trade date, truncated to the won.
pub fn sell_tax(amount: Won, day: NaiveDate) -> Won {
    Won::floor(amount.get() * sell_tax_rate(day))
}

/// Whether a sell of this kind pays the securities transaction tax: ETFs and ETNs do not
/// (증권거래세법 exempts them; their sells pay no tax at any date in the table).
pub fn pays_sell_tax(kind: InstrumentKind) -> bool {
    !kind.is_exchange_traded_product()
}

/// What a fill of `qty` at `price` costs or pays, fee and tax included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FillAmounts {
    pub amount: Won,
    pub fee: Won,
    pub tax: Won,
    /// Cash out of the account (buy, positive) or into it (sell, positive).
    pub net: Won,
}

/// What a fill costs or pays. `tax_exempt` is set for ETF and ETN orders (see
/// [`pays_sell_tax`]).
pub fn fill_amounts(
    side: Side,
    price: Price,
    qty: Quantity,
    rate: Decimal,
    day: NaiveDate,
    tax_exempt: bool,
) -> FillAmounts {
    let amount = Won::floor(price.get() * qty.decimal());
    let fee = commission(amount, rate);
    match side {
        Side::Buy => FillAmounts {
            amount,
            fee,
            tax: Won::ZERO,
            net: Won::floor(amount.get() + fee.get()),
        },
        Side::Sell => {
            let tax = if tax_exempt {
                Won::ZERO
            } else {
                sell_tax(amount, day)
            };
            FillAmounts {
                amount,
                fee,
                tax,
                net: Won::floor(amount.get() - fee.get() - tax.get()),
            }
        }
    }
}

/// Cash a buy order reserves: price × quantity + commission on it.
pub fn buy_reservation(price: Price, qty: Quantity, rate: Decimal) -> Won {
    let amount = Won::floor(price.get() * qty.decimal());
    Won::floor(amount.get() + commission(amount, rate).get())
}

/// The price a marketable order fills at: resting buys at min(limit, price), sells at max.
pub fn fill_price(side: Side, limit: Option<Price>, market: Price) -> Option<Price> {
    match (side, limit) {
        (_, None) => Some(market),
        (Side::Buy, Some(l)) if market <= l => Some(market),
        (Side::Sell, Some(l)) if market >= l => Some(market),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn p(v: i64) -> Price {
        Price::new(Decimal::from(v)).unwrap()
    }

    #[test]
    fn tick_size_at_every_step_edge() {
        let cases = [
            (1, 1),
            (1_999, 1),
            (2_000, 5),
            (4_999, 5),
            (5_000, 10),
            (19_999, 10),
            (20_000, 50),
            (49_999, 50),
            (50_000, 100),
            (199_999, 100),
            (200_000, 500),
            (499_999, 500),
            (500_000, 1_000),
            (3_000_000, 1_000),
        ];
        for (price, tick) in cases {
            assert_eq!(
                tick_size(Decimal::from(price)),
                Decimal::from(tick),
                "price {price}"
            );
        }
    }

    #[test]
    fn on_tick_prices_at_the_edges() {
        for ok in [
            1_999, 2_000, 2_005, 4_995, 5_000, 19_990, 20_000, 49_950, 50_000, 199_900, 200_000,
            499_500, 500_000, 501_000,
        ] {
            assert!(check_tick(InstrumentKind::Common, p(ok)).is_ok(), "{ok}");
        }
        for off in [
            2_001, 4_999, 5_005, 19_995, 20_010, 49_990, 50_050, 199_950, 200_100, 499_900, 500_500,
        ] {
            let e = check_tick(InstrumentKind::Common, p(off)).unwrap_err();
            assert_eq!(e.field, "price", "{off}");
        }
    }

    #[test]
    fn band_is_cut_to_ticks_the_krx_way() {
        // 12,970 sits on the 10-won tick of the 5,000–19,999 level under the table in force
        // since 2023-01-25 (under the older 50-won tick for 10,000–49,999 it was cut to 12,950).
        let b = price_band(dec!(9_980));
        assert_eq!((b.lower, b.upper), (dec!(6_990), dec!(12_970)));
        // A limit that must be cut: base 15,500 → width 4,650 → upper 20,150 → 20,150 is on the
        // 50-won tick; base 15,560 → width 4,660 → upper 20,220 → cut to 20,200.
        let b = price_band(dec!(15_560));
        assert_eq!((b.lower, b.upper), (dec!(10_900), dec!(20_200)));
        // 55,900: width 16,770 → 16,700 (100 tick); upper 72,600; lower 39,200 (50 tick).
        let b = price_band(dec!(55_900));
        assert_eq!((b.lower, b.upper), (dec!(39_200), dec!(72_600)));
        // 1,000: width 300; 700 and 1,300.
        let b = price_band(dec!(1_000));
        assert_eq!((b.lower, b.upper), (dec!(700), dec!(1_300)));
        // 1: width 0 → the band is the base itself.
        let b = price_band(dec!(1));
        assert_eq!((b.lower, b.upper), (dec!(1), dec!(1)));
        // 401,500: width 120,450 → 120,000 (500 tick); upper 521,500 → 521,000; lower 281,500.
        let b = price_band(dec!(401_500));
        assert_eq!((b.lower, b.upper), (dec!(281_500), dec!(521_000)));
        // Every limit sits on its own tick.
        for base in (1..3000).map(|i| Decimal::from(i * 337)) {
            let base = floor_to_tick(base);
            let b = price_band(base);
            assert!(
                Price::new(b.upper).is_ok() && Price::new(b.lower).is_ok(),
                "{base}"
            );
            assert!(
                b.upper <= base * dec!(1.3) && b.lower >= base * dec!(0.7) - tick_size(base),
                "{base}"
            );
        }
    }

    #[test]
    fn band_check_names_the_limits() {
        let b = price_band(dec!(55_900));
        assert!(b.check(p(72_600)).is_ok());
        assert!(b.check(p(39_200)).is_ok());
        let e = b.check(p(72_700)).unwrap_err();
        assert_eq!(e.field, "price");
        assert!(e.rule.contains("39,200 to 72,600"), "{e}");
        assert!(b.check(p(39_150)).is_err());
        assert!(e.rule.contains("±30% of the base price 55,900"), "{e}");
    }

    fn inst(kind: InstrumentKind, leverage: i64, listed_on: Option<NaiveDate>) -> Instrument {
        Instrument {
            kind,
            leverage: Decimal::from(leverage),
            listed_on,
        }
    }

    #[test]
    fn etf_and_etn_ticks_are_one_won_then_five() {
        for kind in [InstrumentKind::Etf, InstrumentKind::Etn] {
            for (price, tick) in [(1, 1), (1_999, 1), (2_000, 5), (20_210, 5), (274_250, 5)] {
                assert_eq!(
                    tick_size_of(kind, Decimal::from(price)),
                    Decimal::from(tick)
                );
            }
            assert!(check_tick(kind, p(20_210)).is_ok());
            assert!(check_tick(kind, p(1_999)).is_ok());
            let e = check_tick(kind, p(20_212)).unwrap_err();
            assert!(
                e.rule
                    .contains(&format!("5-won {} tick", kind.as_str().to_uppercase())),
                "{e}"
            );
            assert!(e.rule.contains("20,210 or 20,215"), "{e}");
        }
        // The same price is off the stock tick (50 won at 20,000–49,999).
        assert!(check_tick(InstrumentKind::Common, p(20_210)).is_err());
        assert!(check_tick(InstrumentKind::Reit, p(20_260)).is_err());
    }

    #[test]
    fn leveraged_bands_are_the_multiple_of_thirty_percent() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let one = band_for(&inst(InstrumentKind::Etf, 1, None), dec!(10_000), day);
        assert_eq!((one.lower, one.upper), (dec!(7_000), dec!(13_000)));
        let two = band_for(&inst(InstrumentKind::Etf, 2, None), dec!(10_000), day);
        assert_eq!((two.lower, two.upper), (dec!(4_000), dec!(16_000)));
        let e = two.check(p(16_005)).unwrap_err();
        assert!(e.rule.contains("±60% of the base price 10,000"), "{e}");
        // A common stock's band matches the classic computation.
        assert_eq!(
            band_for(&Instrument::common(), dec!(55_900), day),
            price_band(dec!(55_900))
        );
    }

    #[test]
    fn a_first_day_band_is_sixty_to_four_hundred_percent_of_the_offering_price() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let new = inst(InstrumentKind::Common, 1, Some(day));
        let b = band_for(&new, dec!(10_000), day);
        assert_eq!((b.lower, b.upper), (dec!(6_000), dec!(40_000)));
        assert!(b.check(p(25_000)).is_ok());
        let e = b.check(p(40_050)).unwrap_err();
        assert!(e.rule.contains("60%–400% of the offering price"), "{e}");
        // The next day the ordinary ±30% applies.
        let next = band_for(&new, dec!(25_000), day.succ_opt().unwrap());
        assert_eq!((next.lower, next.upper), (dec!(17_500), dec!(32_500)));
    }

    #[test]
    fn etf_and_etn_sells_pay_no_transaction_tax() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
        let q = Quantity::new(10).unwrap();
        let etf = fill_amounts(Side::Sell, p(20_210), q, DEFAULT_COMMISSION_RATE, day, true);
        assert_eq!((etf.tax, etf.fee), (Won::ZERO, Won::from_i64(30)));
        assert_eq!(etf.net, Won::from_i64(202_070));
        let stock = fill_amounts(
            Side::Sell,
            p(20_200),
            q,
            DEFAULT_COMMISSION_RATE,
            day,
            false,
        );
        assert_eq!(stock.tax, Won::from_i64(404));
        assert!(!pays_sell_tax(InstrumentKind::Etf) && !pays_sell_tax(InstrumentKind::Etn));
        assert!(pays_sell_tax(InstrumentKind::Preferred) && pays_sell_tax(InstrumentKind::Reit));
    }

    #[test]
    fn sell_tax_by_trade_date() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(sell_tax_rate(d(2025, 12, 31)), dec!(0.0015));
        assert_eq!(sell_tax_rate(d(2026, 1, 1)), dec!(0.0020));
        assert_eq!(sell_tax_rate(d(2024, 6, 1)), dec!(0.0018));
        assert_eq!(sell_tax_rate(d(2020, 6, 1)), dec!(0.0018));
        // 100 shares at 55,900 = 5,590,000: tax 8,385 in 2025, 11,180 in 2026; fee 838.5 → 838.
        let amt = Won::from_i64(5_590_000);
        assert_eq!(sell_tax(amt, d(2025, 12, 31)), Won::from_i64(8_385));
        assert_eq!(sell_tax(amt, d(2026, 1, 1)), Won::from_i64(11_180));
        assert_eq!(commission(amt, DEFAULT_COMMISSION_RATE), Won::from_i64(838));
    }

    #[test]
    fn fill_amounts_truncate_fee_and_tax() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
        let q = Quantity::new(7).unwrap();
        let buy = fill_amounts(Side::Buy, p(55_900), q, DEFAULT_COMMISSION_RATE, day, false);
        // 391,300 × 0.00015 = 58.695 → 58.
        assert_eq!(
            (buy.amount, buy.fee, buy.tax, buy.net),
            (
                Won::from_i64(391_300),
                Won::from_i64(58),
                Won::ZERO,
                Won::from_i64(391_358)
            )
        );
        let sell = fill_amounts(
            Side::Sell,
            p(55_900),
            q,
            DEFAULT_COMMISSION_RATE,
            day,
            false,
        );
        // tax 391,300 × 0.002 = 782.6 → 782.
        assert_eq!(
            (sell.fee, sell.tax, sell.net),
            (
                Won::from_i64(58),
                Won::from_i64(782),
                Won::from_i64(390_460)
            )
        );
        assert_eq!(
            buy_reservation(
                p(72_600),
                Quantity::new(10).unwrap(),
                DEFAULT_COMMISSION_RATE
            ),
            Won::from_i64(726_108)
        );
    }

    #[test]
    fn fill_price_rules() {
        assert_eq!(
            fill_price(Side::Buy, Some(p(56_000)), p(55_900)),
            Some(p(55_900))
        );
        assert_eq!(fill_price(Side::Buy, Some(p(55_800)), p(55_900)), None);
        assert_eq!(
            fill_price(Side::Buy, Some(p(55_900)), p(55_900)),
            Some(p(55_900))
        );
        assert_eq!(
            fill_price(Side::Sell, Some(p(55_800)), p(55_900)),
            Some(p(55_900))
        );
        assert_eq!(fill_price(Side::Sell, Some(p(56_000)), p(55_900)), None);
        assert_eq!(fill_price(Side::Sell, None, p(55_900)), Some(p(55_900)));
    }

    #[test]
    fn commission_percent_bounds() {
        assert_eq!(
            Rulebook::commission_from_percent(dec!(0.015)).unwrap(),
            dec!(0.00015)
        );
        assert!(Rulebook::commission_from_percent(dec!(-0.1)).is_err());
        assert!(Rulebook::commission_from_percent(dec!(1.5)).is_err());
    }

    #[test]
    fn session_boundaries_in_kst() {
        let table = Calendar::default();
        let session_state = |at| session_state_in(at, &table).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(); // a Tuesday
        let at = |h, m, s| kst_instant(day, NaiveTime::from_hms_opt(h, m, s).unwrap());
        assert_eq!(session_state(at(8, 59, 59)), SessionState::PreOpen);
        assert_eq!(session_state(at(9, 0, 0)), SessionState::Open);
        assert_eq!(session_state(at(15, 29, 59)), SessionState::Open);
        assert_eq!(session_state(at(15, 30, 0)), SessionState::AfterClose);
        let sat = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        assert_eq!(
            session_state(kst_instant(sat, OPEN)),
            SessionState::ClosedDay
        );
        let holiday = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        assert_eq!(
            session_state(kst_instant(holiday, OPEN)),
            SessionState::ClosedDay
        );
        // 2026-01-02 is the first trading day of 2026: opens at 10:00.
        let first = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        assert_eq!(
            session_state(kst_instant(
                first,
                NaiveTime::from_hms_opt(9, 30, 0).unwrap()
            )),
            SessionState::PreOpen
        );
        assert_eq!(
            session_state(kst_instant(first, OPEN_FIRST_DAY)),
            SessionState::Open
        );
        assert_eq!(
            trade_date(kst_instant(day, NaiveTime::from_hms_opt(0, 30, 0).unwrap())),
            day
        );
    }

    #[test]
    fn session_times_by_the_calendar() {
        let table = Calendar::default();
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(
            opening_time(d(2027, 1, 4), &table),
            Ok(Some(OPEN_FIRST_DAY))
        );
        assert_eq!(opening_time(d(2027, 1, 5), &table), Ok(Some(OPEN)));
        assert_eq!(opening_time(d(2027, 1, 1), &table), Ok(None));
        // The exam day of 2026-11-19 trades from 10:00 to 16:30.
        let exam = d(2026, 11, 19);
        let state = |h, m| session_state_in(kst_instant(exam, t(h, m)), &table).unwrap();
        assert_eq!(state(9, 30), SessionState::PreOpen);
        assert_eq!(state(10, 0), SessionState::Open);
        assert_eq!(state(16, 0), SessionState::Open);
        assert_eq!(state(16, 30), SessionState::AfterClose);
        // Past the table, without bars: an error naming the year, never a guess.
        let e = session_state_in(kst_instant(d(2028, 3, 2), t(10, 0)), &table).unwrap_err();
        assert!(e.to_string().starts_with("calendar: 2028 is past"), "{e}");
        assert!(opening_time(d(2028, 3, 2), &table).is_err());
    }
}
