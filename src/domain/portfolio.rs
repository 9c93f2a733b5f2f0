//! Portfolio arithmetic: average price, valuation, profit and loss, returns and weights.
//! Average prices keep decimals; display rounds them. Returns are percentages with two
//! decimals, rounded half away from zero.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

fn pct(num: Decimal, den: Decimal) -> Option<Decimal> {
    (!den.is_zero()).then(|| {
        (num * Decimal::ONE_HUNDRED / den)
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
    })
}

/// One holding valued at a price.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Position {
    pub quantity: i64,
    /// Purchase cost of the shares held (fees excluded).
    pub cost: Decimal,
    pub price: Decimal,
}

impl Position {
    /// cost / quantity, or zero for an empty position.
    pub fn average_price(&self) -> Decimal {
        if self.quantity == 0 {
            Decimal::ZERO
        } else {
            (self.cost / Decimal::from(self.quantity)).round_dp(4)
        }
    }
    pub fn valuation(&self) -> Decimal {
        self.price * Decimal::from(self.quantity)
    }
    pub fn profit(&self) -> Decimal {
        self.valuation() - self.cost
    }
    /// Profit over cost, in percent.
    pub fn return_pct(&self) -> Option<Decimal> {
        pct(self.profit(), self.cost)
    }
}

/// A part of a whole, in percent.
pub fn weight_pct(part: Decimal, whole: Decimal) -> Option<Decimal> {
    pct(part, whole)
}

/// Total return against the initial cash, in percent: fees and taxes paid are in it, since they
/// left the cash.
pub fn total_return_pct(total_assets: Decimal, initial_cash: Decimal) -> Option<Decimal> {
    pct(total_assets - initial_cash, initial_cash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn position_arithmetic_by_hand() {
        // 10 at 55,900 and 5 at 57,000: cost 844,000, average 56,266.6667.
        let p = Position {
            quantity: 15,
            cost: dec!(844_000),
            price: dec!(58_000),
        };
        assert_eq!(p.average_price(), dec!(56266.6667));
        assert_eq!(p.valuation(), dec!(870_000));
        assert_eq!(p.profit(), dec!(26_000));
        assert_eq!(p.return_pct(), Some(dec!(3.08)));
        let empty = Position {
            quantity: 0,
            cost: Decimal::ZERO,
            price: dec!(1),
        };
        assert_eq!(empty.average_price(), Decimal::ZERO);
        assert_eq!(empty.return_pct(), None);
        assert_eq!(weight_pct(dec!(1), dec!(3)), Some(dec!(33.33)));
        assert_eq!(weight_pct(dec!(2), dec!(3)), Some(dec!(66.67)));
        assert_eq!(
            total_return_pct(dec!(9_876_543), dec!(10_000_000)),
            Some(dec!(-1.23))
        );
        assert_eq!(total_return_pct(dec!(1), Decimal::ZERO), None);
    }
}
