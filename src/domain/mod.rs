//! Pure domain: value types, the KRX rulebook and the arithmetic of money.
//! Nothing here does I/O; constructors parse and reject.

pub mod calendar;
pub mod instrument;
pub mod ledger;
pub mod market_data;
pub mod order;
pub mod portfolio;
pub mod quote;
pub mod rules;
pub mod settings;
pub mod types;

pub use instrument::{InstrumentKind, TradingSession};
pub use quote::StockQuote;
pub use rules::{Rulebook, SessionState};
pub use types::*;

/// A value that failed the rule for its field. Displayed as one line: `field: rule`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct Invalid {
    pub field: &'static str,
    pub rule: String,
}

impl Invalid {
    pub fn new(field: &'static str, rule: impl Into<String>) -> Self {
        Invalid {
            field,
            rule: rule.into(),
        }
    }
}
