//! The KRX trading calendar from dated facts: weekdays minus KRX closures (public holidays,
//! election days, Labor Day and the year-end closing day), for 2024 to 2026. Dates outside the
//! table fall back to weekdays. The market-data layer refines this with crawled KOSPI bars.

use chrono::{Datelike, NaiveDate, Weekday};

/// KRX closures on weekdays, by year.
const CLOSURES: &[(i32, &[(u32, u32)])] = &[
    (
        2024,
        &[
            (1, 1),
            (2, 9),
            (2, 12),
            (3, 1),
            (4, 10),
            (5, 1),
            (5, 6),
            (5, 15),
            (6, 6),
            (8, 15),
            (9, 16),
            (9, 17),
            (9, 18),
            (10, 1),
            (10, 3),
            (10, 9),
            (12, 25),
            (12, 31),
        ],
    ),
    (
        2025,
        &[
            (1, 1),
            (1, 27),
            (1, 28),
            (1, 29),
            (1, 30),
            (3, 3),
            (5, 1),
            (5, 5),
            (5, 6),
            (6, 3),
            (6, 6),
            (8, 15),
            (10, 3),
            (10, 6),
            (10, 7),
            (10, 8),
            (10, 9),
            (12, 25),
            (12, 31),
        ],
    ),
    (
        2026,
        &[
            (1, 1),
            (2, 16),
            (2, 17),
            (2, 18),
            (3, 2),
            (5, 1),
            (5, 5),
            (5, 25),
            (6, 3),
            (8, 17),
            (9, 24),
            (9, 25),
            (10, 5),
            (10, 9),
            (12, 25),
            (12, 31),
        ],
    ),
];

/// True when the date is a listed KRX closure.
pub fn is_closure(day: NaiveDate) -> bool {
    CLOSURES
        .iter()
        .find(|(y, _)| *y == day.year())
        .is_some_and(|(_, days)| days.contains(&(day.month(), day.day())))
}

pub fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// A trading day by the dated table: a weekday that is not a KRX closure.
pub fn is_trading_day(day: NaiveDate) -> bool {
    !is_weekend(day) && !is_closure(day)
}

/// The next trading day after `day`, by the dated table.
pub fn next_trading_day(day: NaiveDate) -> NaiveDate {
    Calendar::default().next_trading_day(day)
}

/// The trading day before `day`, by the dated table.
pub fn previous_trading_day(day: NaiveDate) -> NaiveDate {
    Calendar::default().previous_trading_day(day)
}

/// The trading calendar as known: dates with a KOSPI daily bar are trading days, dates inside
/// the crawled range without one are not; outside that range the dated table decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    bars: std::collections::BTreeSet<NaiveDate>,
}

impl Calendar {
    /// From the dates that have a KOSPI daily bar.
    pub fn from_bar_dates(dates: impl IntoIterator<Item = NaiveDate>) -> Self {
        Calendar {
            bars: dates.into_iter().collect(),
        }
    }

    fn covers(&self, day: NaiveDate) -> bool {
        match (self.bars.first(), self.bars.last()) {
            (Some(a), Some(b)) => *a <= day && day <= *b,
            _ => false,
        }
    }

    /// Whether the answer for `day` comes from crawled bars rather than the dated table.
    pub fn is_from_bars(&self, day: NaiveDate) -> bool {
        self.covers(day)
    }

    pub fn is_trading_day(&self, day: NaiveDate) -> bool {
        if self.covers(day) {
            self.bars.contains(&day)
        } else {
            is_trading_day(day)
        }
    }

    pub fn next_trading_day(&self, day: NaiveDate) -> NaiveDate {
        let mut d = day.succ_opt().expect("date in range");
        while !self.is_trading_day(d) {
            d = d.succ_opt().expect("date in range");
        }
        d
    }

    pub fn previous_trading_day(&self, day: NaiveDate) -> NaiveDate {
        let mut d = day.pred_opt().expect("date in range");
        while !self.is_trading_day(d) {
            d = d.pred_opt().expect("date in range");
        }
        d
    }

    /// True on the first trading day of its year (which opens at 10:00).
    pub fn is_first_trading_day_of_year(&self, day: NaiveDate) -> bool {
        self.is_trading_day(day) && self.previous_trading_day(day).year() != day.year()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    #[test]
    fn known_closures() {
        for day in [
            d(2025, 1, 28),
            d(2025, 10, 6),
            d(2025, 12, 31),
            d(2026, 2, 17),
            d(2026, 9, 24),
            d(2026, 12, 31),
            d(2024, 4, 10),
        ] {
            assert!(!is_trading_day(day), "{day}");
        }
        for day in [
            d(2025, 12, 30),
            d(2026, 1, 2),
            d(2026, 11, 25),
            d(2026, 2, 19),
        ] {
            assert!(is_trading_day(day), "{day}");
        }
        assert!(!is_trading_day(d(2026, 11, 28)));
        assert!(is_closure(d(2026, 5, 25)));
    }

    #[test]
    fn crawled_bars_override_the_table_inside_their_range() {
        // Bars for a week where the Wednesday had no trading (as if an unplanned closure).
        let cal = Calendar::from_bar_dates([
            d(2026, 11, 23),
            d(2026, 11, 24),
            d(2026, 11, 26),
            d(2026, 11, 27),
        ]);
        assert!(!cal.is_trading_day(d(2026, 11, 25)));
        assert!(cal.is_from_bars(d(2026, 11, 25)));
        assert_eq!(cal.next_trading_day(d(2026, 11, 24)), d(2026, 11, 26));
        assert_eq!(cal.previous_trading_day(d(2026, 11, 26)), d(2026, 11, 24));
        // Outside the range the table decides.
        assert!(cal.is_trading_day(d(2026, 11, 30)));
        assert!(!cal.is_from_bars(d(2026, 11, 30)));
        assert!(!cal.is_trading_day(d(2026, 12, 25)));
        let week: Vec<_> = d(2026, 11, 23)
            .iter_days()
            .take(9)
            .filter(|x| cal.is_trading_day(*x))
            .collect();
        assert_eq!(week.len(), 6);
        assert!(!cal.is_first_trading_day_of_year(d(2026, 11, 24)));
        assert!(Calendar::default().is_trading_day(d(2026, 11, 25)));
    }

    #[test]
    fn neighbours_skip_weekends_and_holidays() {
        assert_eq!(next_trading_day(d(2025, 12, 30)), d(2026, 1, 2));
        assert_eq!(previous_trading_day(d(2026, 1, 2)), d(2025, 12, 30));
        assert_eq!(next_trading_day(d(2026, 2, 13)), d(2026, 2, 19));
        assert_eq!(previous_trading_day(d(2026, 11, 30)), d(2026, 11, 27));
        let table = Calendar::default();
        assert!(table.is_first_trading_day_of_year(d(2026, 1, 2)));
        assert!(table.is_first_trading_day_of_year(d(2025, 1, 2)));
        assert!(!table.is_first_trading_day_of_year(d(2026, 1, 5)));
    }
}
