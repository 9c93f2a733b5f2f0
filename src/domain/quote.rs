//! A stock's listing and price, validated before anything stores it.

use rust_decimal::Decimal;
use serde::Serialize;

use super::{rules, Invalid, Market, Price, StockCode};

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
}

impl StockQuote {
    /// Checks a quote the way a price must be checked before it is stored: a valid code, a
    /// positive on-tick price inside the ±30% band of its previous close.
    pub fn parse(
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
        rules::price_band(prev.get())
            .check(price)
            .map_err(|e| Invalid::new("price", format!("stock {code}: {}", e.rule)))?;
        Ok(StockQuote {
            code,
            name: name.to_string(),
            market: market.parse()?,
            price,
            prev_close: prev,
            volume: None,
            market_cap: None,
        })
    }
}
