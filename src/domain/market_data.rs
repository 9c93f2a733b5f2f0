//! Market-data values as the rest of the program sees them, whatever source they came from: a
//! listing row, a quote, a daily bar, an index now and an order book. Plain units: prices and
//! money in won, volumes and quantities in shares, indices in points. The parsers in
//! `crate::market` convert whatever unit a page prints into these; the store maps them to and
//! from its tables itself (nothing here knows of sqlx).

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{InstrumentKind, Market, StockCode, TradingSession};

/// One listed instrument from a listing page, in plain units (won, shares).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedRow {
    pub code: StockCode,
    pub name: String,
    pub market: Market,
    pub kind: InstrumentKind,
    /// The current (or last) price in won; always > 0.
    pub price: Decimal,
    /// price − signed change.
    pub prev_close: Decimal,
    /// Change in percent, signed by the direction code.
    pub change_rate: Option<Decimal>,
    /// `None` where the feed prints 0 or `-` (halted, not traded yet).
    pub open: Option<Decimal>,
    pub high: Option<Decimal>,
    pub low: Option<Decimal>,
    /// Shares traded today.
    pub volume: Option<i64>,
    /// Won traded today.
    pub trading_value: Option<Decimal>,
    /// Market capitalisation in won.
    pub market_cap: Option<Decimal>,
    /// Listed shares (stock/default only; marketValue has no share count).
    pub listed_shares: Option<i64>,
    /// Listing date (stock/default `listedDate`).
    pub listed_on: Option<NaiveDate>,
    pub upper_limit: Option<Decimal>,
    pub lower_limit: Option<Decimal>,
    /// Trading is stopped (a halt flag set, or a status other than tradable).
    pub halted: bool,
    /// The session the price was printed in; `Regular` when the row does not say.
    pub session: TradingSession,
}

/// One code of the polling quote API (top-level KRX fields only; ignore overMarketPriceInfo / integratedPriceInfo).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuoteNow {
    pub code: StockCode,
    pub name: String,
    /// The last KRX price (after 16:00 the after-market's); `None` where the feed prints `-`.
    pub price: Option<Decimal>,
    /// price − signed change; `None` without a price or a change.
    pub prev_close: Option<Decimal>,
    /// Change in percent, signed by the direction code.
    pub change_rate: Option<Decimal>,
    pub open: Option<Decimal>,
    pub high: Option<Decimal>,
    pub low: Option<Decimal>,
    /// Shares traded today; `None` before the open.
    pub volume: Option<i64>,
    /// Won traded today.
    pub trading_value: Option<Decimal>,
    /// Market capitalisation in won (`marketValueFullRaw`).
    pub market_cap: Option<Decimal>,
    /// `PREOPEN` / `OPEN` / `CLOSE` as given.
    pub market_status: String,
    /// `marketSessionType` regularMarket / afterMarket.
    pub session: TradingSession,
    /// `localTradedAt`, converted to KST wall-clock time.
    pub traded_at: Option<NaiveDateTime>,
    pub halted: bool,
}

/// One daily bar of a stock (prices in won, volume in shares) or an index (points).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub date: NaiveDate,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: i64,
}

/// An index's current value and change from the previous close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexNow {
    pub value: Decimal,
    pub change: Decimal,
    pub change_rate: Decimal,
}

/// One price level of the order book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub price: Decimal,
    pub quantity: i64,
}

/// The order book: asks by ascending price, bids by descending price (best first on both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderBook {
    pub asks: Vec<Level>,
    pub bids: Vec<Level>,
}

impl IndexNow {
    /// An index's value and its change from `prev_close`; `change_rate` (percent) when the
    /// source gives it, else computed and rounded to two places.
    pub fn from_prev_close(
        value: Decimal,
        prev_close: Decimal,
        change_rate: Option<Decimal>,
    ) -> IndexNow {
        let change = value - prev_close;
        let rate = change_rate.unwrap_or_else(|| {
            if prev_close.is_zero() {
                Decimal::ZERO
            } else {
                (change * Decimal::from(100) / prev_close).round_dp(2)
            }
        });
        IndexNow {
            value,
            change,
            change_rate: rate,
        }
    }
}

/// The two KRX indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum IndexCode {
    Kospi,
    Kosdaq,
}

impl IndexCode {
    pub const ALL: [IndexCode; 2] = [IndexCode::Kospi, IndexCode::Kosdaq];
    pub fn as_str(self) -> &'static str {
        match self {
            IndexCode::Kospi => "KOSPI",
            IndexCode::Kosdaq => "KOSDAQ",
        }
    }
}

impl fmt::Display for IndexCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn bars_round_trip_through_json() {
        let bar = Bar {
            date: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
            open: dec!(273_500),
            high: dec!(276_000),
            low: dec!(272_000),
            close: dec!(274_500),
            volume: 12_913_819,
        };
        let json = serde_json::to_string(&bar).unwrap();
        assert_eq!(serde_json::from_str::<Bar>(&json).unwrap(), bar);
    }

    #[test]
    fn an_index_change_rate_is_computed_when_the_source_omits_it() {
        let now = IndexNow::from_prev_close(dec!(2_550), dec!(2_500), None);
        assert_eq!((now.change, now.change_rate), (dec!(50), dec!(2.00)));
        let given = IndexNow::from_prev_close(dec!(2_550), dec!(2_500), Some(dec!(1.99)));
        assert_eq!(given.change_rate, dec!(1.99));
        assert_eq!(
            IndexNow::from_prev_close(dec!(1), dec!(0), None).change_rate,
            dec!(0)
        );
    }
}
