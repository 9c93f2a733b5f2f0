//! The vocabulary of the double-entry ledger, without I/O: the books a leg lands on, a leg,
//! and the named changes a posting makes to a cash account and to a holding. The store writes
//! them (`store::ledger`); the order's effects (`domain::order`) are stated in them.

use std::collections::BTreeMap;
use std::ops::{Add, AddAssign, Neg};

use rust_decimal::Decimal;

/// The asset of every cash leg.
pub const KRW: &str = "KRW";

/// Where a leg lands: a user's book, or a system book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Book {
    /// A user's cash (available + reserved).
    Cash,
    /// A user's shares of one stock (available + reserved).
    Shares,
    Grants,
    Fees,
    Taxes,
    Market,
}

impl Book {
    pub fn as_str(self) -> &'static str {
        match self {
            Book::Cash => "cash",
            Book::Shares => "shares",
            Book::Grants => "grants",
            Book::Fees => "fees",
            Book::Taxes => "taxes",
            Book::Market => "market",
        }
    }
}

/// One line of a journal entry: an amount of an asset (`KRW` or a stock code) on a book.
#[derive(Debug, Clone, PartialEq)]
pub struct Leg {
    pub user_id: Option<i64>,
    pub book: Book,
    pub asset: String,
    pub amount: Decimal,
}

impl Leg {
    pub fn new(user_id: Option<i64>, book: Book, asset: &str, amount: Decimal) -> Self {
        Leg {
            user_id,
            book,
            asset: asset.to_string(),
            amount,
        }
    }
}

/// True when the legs sum to zero for every asset.
pub fn balanced(legs: &[Leg]) -> bool {
    let mut sums: BTreeMap<&str, Decimal> = BTreeMap::new();
    for l in legs {
        *sums.entry(&l.asset).or_default() += l.amount;
    }
    sums.values().all(Decimal::is_zero)
}

/// A change of a user's cash account: its available and reserved parts. Their sum is what
/// the ledger legs on the user's cash book must add up to; the split alone (a reservation)
/// moves no money.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CashDelta {
    pub available: Decimal,
    pub reserved: Decimal,
}

impl CashDelta {
    pub const ZERO: CashDelta = CashDelta {
        available: Decimal::ZERO,
        reserved: Decimal::ZERO,
    };

    /// The change of the balance (available + reserved).
    pub fn total(&self) -> Decimal {
        self.available + self.reserved
    }

    pub fn is_zero(&self) -> bool {
        self.available.is_zero() && self.reserved.is_zero()
    }

    /// Earmarks `amount` of the available cash (a negative amount frees it).
    pub fn reserve(amount: Decimal) -> Self {
        CashDelta {
            available: -amount,
            reserved: amount,
        }
    }
}

impl Add for CashDelta {
    type Output = CashDelta;
    fn add(self, o: CashDelta) -> CashDelta {
        CashDelta {
            available: self.available + o.available,
            reserved: self.reserved + o.reserved,
        }
    }
}

impl AddAssign for CashDelta {
    fn add_assign(&mut self, o: CashDelta) {
        *self = *self + o;
    }
}

impl Neg for CashDelta {
    type Output = CashDelta;
    fn neg(self) -> CashDelta {
        CashDelta {
            available: -self.available,
            reserved: -self.reserved,
        }
    }
}

/// A change of a user's holding of one stock: available and reserved shares, and the
/// purchase cost of the shares held (fees excluded), from which the average price comes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldingDelta {
    pub available: i64,
    pub reserved: i64,
    pub cost: Decimal,
}

impl HoldingDelta {
    pub const ZERO: HoldingDelta = HoldingDelta {
        available: 0,
        reserved: 0,
        cost: Decimal::ZERO,
    };

    /// The change of the number of shares held (available + reserved).
    pub fn shares(&self) -> i64 {
        self.available + self.reserved
    }

    pub fn is_zero(&self) -> bool {
        self.available == 0 && self.reserved == 0 && self.cost.is_zero()
    }

    /// True when nothing decreases: applied to a holding that may not exist yet, it may
    /// create it.
    pub fn only_adds(&self) -> bool {
        self.available >= 0 && self.reserved >= 0 && !self.cost.is_sign_negative()
    }

    /// Earmarks `shares` of the available shares (a negative number frees them).
    pub fn reserve(shares: i64) -> Self {
        HoldingDelta {
            available: -shares,
            reserved: shares,
            cost: Decimal::ZERO,
        }
    }
}

impl Add for HoldingDelta {
    type Output = HoldingDelta;
    fn add(self, o: HoldingDelta) -> HoldingDelta {
        HoldingDelta {
            available: self.available + o.available,
            reserved: self.reserved + o.reserved,
            cost: self.cost + o.cost,
        }
    }
}

impl AddAssign for HoldingDelta {
    fn add_assign(&mut self, o: HoldingDelta) {
        *self = *self + o;
    }
}

impl Neg for HoldingDelta {
    type Output = HoldingDelta;
    fn neg(self) -> HoldingDelta {
        HoldingDelta {
            available: -self.available,
            reserved: -self.reserved,
            cost: -self.cost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_reservation_changes_the_split_not_the_balance() {
        let c = CashDelta::reserve(dec!(1000));
        assert_eq!(
            (c.available, c.reserved, c.total()),
            (dec!(-1000), dec!(1000), dec!(0))
        );
        assert!((c + -c).is_zero());
        let h = HoldingDelta::reserve(5);
        assert_eq!((h.available, h.reserved, h.shares()), (-5, 5, 0));
        assert!(!h.only_adds());
        assert!(HoldingDelta::reserve(-5).available > 0);
    }

    #[test]
    fn legs_balance_per_asset() {
        let legs = [
            Leg::new(Some(1), Book::Cash, KRW, dec!(-100)),
            Leg::new(None, Book::Market, KRW, dec!(100)),
            Leg::new(Some(1), Book::Shares, "005930", dec!(1)),
        ];
        assert!(!balanced(&legs));
        assert!(balanced(&legs[..2]));
    }
}
