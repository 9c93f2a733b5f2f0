//! A stock's listing and price, validated before anything stores it.

use rust_decimal::Decimal;
use serde::Serialize;

use chrono::NaiveDate;

use super::{rules, InstrumentKind, Invalid, Market, Price, StockCode, TradingSession};

/// One stock's listing and price, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StockQuote {
    pub code: StockCode,
    pub name: String,
    pub market: Market,
    pub price: Price,
    pub prev_close: Price,
    pub volume: Option<i64>,
    pub market_cap: Option<Decimal>,
    /// The day's open, high and low, when the source gives them (for the closing bar).
    pub open: Option<Decimal>,
    pub high: Option<Decimal>,
    pub low: Option<Decimal>,
    pub kind: InstrumentKind,
    /// 1, or the multiple of a leveraged ETF/ETN.
    pub leverage: Decimal,
    /// The first trading day, when the source gives it.
    pub listed_on: Option<NaiveDate>,
    pub halted: bool,
    /// The session the price was printed in: an after-market price never replaces the
    /// stored regular-session price.
    pub session: TradingSession,
}

impl StockQuote {
    /// A common stock's quote from a file: [`Self::of`], and the price inside the ±30% band of
    /// its previous close.
    pub fn parse(
        code: &str,
        name: &str,
        market: &str,
        price: Decimal,
        prev_close: Decimal,
    ) -> Result<Self, Invalid> {
        let q = Self::of(code, name, market, price, prev_close)?;
        rules::price_band(q.prev_close.get())
            .check(q.price)
            .map_err(|e| Invalid::new("price", format!("stock {}: {}", q.code, e.rule)))?;
        Ok(q)
    }

    /// A quote with a valid code and name and positive whole-won prices, as a common stock
    /// trading in the regular session; the caller checks the band that fits the instrument.
    pub fn of(
        code: &str,
        name: &str,
        market: &str,
        price: Decimal,
        prev_close: Decimal,
    ) -> Result<Self, Invalid> {
        let code = StockCode::parse(code)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Invalid::new(
                "name",
                format!("stock {code}: a name of 1 to 100 characters is required"),
            ));
        }
        let price = Price::new(price)
            .map_err(|e| Invalid::new("price", format!("stock {code}: {}", e.rule)))?;
        let prev = Price::new(prev_close)
            .map_err(|e| Invalid::new("prev_close", format!("stock {code}: {}", e.rule)))?;
        Ok(StockQuote {
            code,
            name: name.to_string(),
            market: market.parse()?,
            price,
            prev_close: prev,
            volume: None,
            market_cap: None,
            open: None,
            high: None,
            low: None,
            kind: InstrumentKind::Common,
            leverage: Decimal::ONE,
            listed_on: None,
            halted: false,
            session: TradingSession::Regular,
        })
    }
}
