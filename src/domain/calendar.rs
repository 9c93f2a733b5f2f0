//! The KRX trading calendar: which dates trade, when their session opens and closes, and where
//! each answer came from.
//!
//! Two sources answer, and only these two. Crawled KOSPI daily bars decide every date inside
//! the range they cover (a date with a bar traded; one without did not). Elsewhere the dated
//! closure table below decides, for the years it lists. A date that neither covers is an
//! error naming the year: the calendar never guesses that an unknown weekday trades.
//!
//! The table holds weekday closures: public holidays (관공서의 공휴일에 관한 규정 and, from
//! 2026, the amended 공휴일에 관한 법률), their substitute days, election days, 노동절 (May 1)
//! and the year-end closing day (12-31, set each December by a KRX notice).

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use serde::Serialize;

use super::rules::{kst, CLOSE, OPEN, OPEN_FIRST_DAY};

/// KRX closures on weekdays, by year. Years are consecutive; see [`TABLE_YEARS`].
const CLOSURES: &[(i32, &[(u32, u32)])] = &[
    // 2024, as first written for this program: public holidays with the substitute days
    // 02-12 (설) and 05-06 (어린이날), 04-10 (the 22nd National Assembly election), 10-01
    // (국군의 날, made a one-off public holiday that year), 노동절 and the year-end day.
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
    // 2025, as first written for this program (the list in the project's market notes): 01-27
    // a one-off public holiday before 설, 03-03 삼일절 substitute, 05-06 substitute (부처님오신날
    // fell on 어린이날), 06-03 the presidential election, 10-08 추석 substitute.
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
    // 2026: the public holidays, 06-03 (local elections), 노동절 and the year-end day, plus
    // 07-17 제헌절, a public holiday again under the amended 공휴일에 관한 법률 (laws 21338 and
    // 21543; the bill passed on 2026-01-29) and decree 36290 (2026-04-30, in force 2026-05-11).
    // Evidence for 07-17: three price sources had no candle that day, and did for 07-16 and
    // 07-20 (checked 2026-07-29). Not closed: 09-28. 추석 (09-24 to 09-26) overlaps a Saturday,
    // which earns no substitute day under these rules; daily closing files skip 09-24, 09-25
    // and 10-05 (개천절 substitute) but have 09-28. The second half of the year was checked
    // against a published list of non-trading days on 2026-09-13.
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
            (7, 17),
            (8, 17),
            (9, 24),
            (9, 25),
            (10, 5),
            (10, 9),
            (12, 25),
            (12, 31),
        ],
    ),
    // 2027: the public holidays as KASA's 「2027년 월력요항」 lists them (published 2026-06-29),
    // under the same law and decree as 2026. Since 2026 제헌절 and 노동절 earn substitute days
    // and a Saturday overlap counts; 현충일 earns none, so 06-07 stays a trading day although
    // some third-party calendars close it. No election falls in 2027 (the next is the National
    // Assembly vote of 2028-04-12).
    (
        2027,
        &[
            (1, 1),
            // 설 runs 02-06 to 02-08; its Sunday earns the substitute day 02-09.
            (2, 8),
            (2, 9),
            (3, 1),
            // 노동절 substitute: 05-01 is a Saturday.
            (5, 3),
            (5, 5),
            // 부처님오신날.
            (5, 13),
            // 제헌절 substitute: 07-17 is a Saturday.
            (7, 19),
            // 광복절 substitute: 08-15 is a Sunday.
            (8, 16),
            (9, 14),
            (9, 15),
            (9, 16),
            // 개천절 substitute: 10-03 is a Sunday.
            (10, 4),
            // 한글날 substitute: 10-09 is a Saturday.
            (10, 11),
            // 성탄절 substitute: 12-25 is a Saturday.
            (12, 27),
            // The year-end closing day by custom; KRX confirms it by notice in December 2027.
            (12, 31),
        ],
    ),
];

/// The years the closure table lists, first and last.
pub const TABLE_YEARS: (i32, i32) = (CLOSURES[0].0, CLOSURES[CLOSURES.len() - 1].0);

/// Trading days whose whole session is shifted by a KRX notice: (date, opens, closes).
/// 2026-11-19: the college entrance exam (수능) day opens and closes an hour late, 10:00 to
/// 16:30, as public code has it; the exact boundaries of the closing auction are not confirmed.
const SHIFTED_SESSIONS: &[(NaiveDate, Session)] = &[(
    ymd(2026, 11, 19),
    Session {
        opens_at: hm(10, 0),
        closes_at: hm(16, 30),
    },
)];

const fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(y, m, d) {
        Some(d) => d,
        None => panic!("invalid date"),
    }
}

const fn hm(h: u32, m: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(h, m, 0) {
        Some(t) => t,
        None => panic!("invalid time"),
    }
}

/// The regular close of a trading day: 15:30, or as a KRX notice shifted it (the first trading
/// day of a year opens late but closes as usual).
pub fn regular_close(day: NaiveDate) -> NaiveTime {
    Session::of(day, false).closes_at
}

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

/// The table's answer: `None` outside [`TABLE_YEARS`].
fn table_trades(day: NaiveDate) -> Option<bool> {
    let (first, last) = TABLE_YEARS;
    (first..=last)
        .contains(&day.year())
        .then(|| !is_weekend(day) && !is_closure(day))
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DaySource {
    /// The dated closure table.
    Table,
    /// Crawled KOSPI daily bars.
    Bars,
}

impl DaySource {
    pub fn as_str(self) -> &'static str {
        match self {
            DaySource::Table => "table",
            DaySource::Bars => "bars",
        }
    }
}

/// The regular session of a trading day, KST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Session {
    pub opens_at: NaiveTime,
    pub closes_at: NaiveTime,
}

impl Session {
    /// 09:00 to 15:30; 10:00 to 15:30 on the first trading day of a year; a shifted session
    /// where a KRX notice moved it.
    fn of(day: NaiveDate, first_of_year: bool) -> Session {
        if let Some((_, shifted)) = SHIFTED_SESSIONS.iter().find(|(d, _)| *d == day) {
            return *shifted;
        }
        Session {
            opens_at: if first_of_year { OPEN_FIRST_DAY } else { OPEN },
            closes_at: CLOSE,
        }
    }
}

/// What the calendar knows about one date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayInfo {
    pub date: NaiveDate,
    /// The regular session; `None` when the market is closed that day.
    pub session: Option<Session>,
    pub source: DaySource,
}

impl DayInfo {
    pub fn trading(&self) -> bool {
        self.session.is_some()
    }
    pub fn opens_at(&self) -> Option<NaiveTime> {
        self.session.map(|s| s.opens_at)
    }
    pub fn closes_at(&self) -> Option<NaiveTime> {
        self.session.map(|s| s.closes_at)
    }
}

/// A date the calendar cannot answer: outside the closure table's years and outside the range
/// the crawled KOSPI bars cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarError {
    pub date: NaiveDate,
}

impl fmt::Display for CalendarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (first, last) = TABLE_YEARS;
        let year = self.date.year();
        let side = if year > last { "past" } else { "before" };
        write!(
            f,
            "calendar: {year} is {side} the KRX holiday table ({first}–{last}) and no crawled \
             index bars cover {}; crawl with --history or update the table",
            self.date
        )
    }
}

impl std::error::Error for CalendarError {}

/// The trading calendar as known: the crawled KOSPI bar dates and the dated closure table.
/// `Calendar::default()` knows no bars and answers from the table alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    bars: BTreeSet<NaiveDate>,
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

    /// Whether the market trades on `day`, and which source says so.
    fn trades(&self, day: NaiveDate) -> Result<(bool, DaySource), CalendarError> {
        if self.covers(day) {
            return Ok((self.bars.contains(&day), DaySource::Bars));
        }
        table_trades(day)
            .map(|t| (t, DaySource::Table))
            .ok_or(CalendarError { date: day })
    }

    /// Everything about `day`: whether it trades, its session, and where the answer came from.
    pub fn day(&self, day: NaiveDate) -> Result<DayInfo, CalendarError> {
        let (trading, source) = self.trades(day)?;
        let session = if trading {
            Some(Session::of(
                day,
                no_earlier_day_trades(day, |d| Ok(self.trades(d)?.0))?,
            ))
        } else {
            None
        };
        Ok(DayInfo {
            date: day,
            session,
            source,
        })
    }

    pub fn is_trading_day(&self, day: NaiveDate) -> Result<bool, CalendarError> {
        Ok(self.trades(day)?.0)
    }

    /// The first trading day after `day`.
    pub fn next_trading_day(&self, day: NaiveDate) -> Result<NaiveDate, CalendarError> {
        step(day, NaiveDate::succ_opt, |d| self.is_trading_day(d))
    }

    /// The last trading day before `day`.
    pub fn previous_trading_day(&self, day: NaiveDate) -> Result<NaiveDate, CalendarError> {
        step(day, NaiveDate::pred_opt, |d| self.is_trading_day(d))
    }

    /// True on the first trading day of its year (which opens at 10:00).
    pub fn is_first_trading_day_of_year(&self, day: NaiveDate) -> Result<bool, CalendarError> {
        Ok(self.is_trading_day(day)? && no_earlier_day_trades(day, |d| self.is_trading_day(d))?)
    }
}

/// Walks from `day` with `next` to the first date for which `trades` is true.
fn step<E>(
    day: NaiveDate,
    next: fn(&NaiveDate) -> Option<NaiveDate>,
    trades: impl Fn(NaiveDate) -> Result<bool, E>,
) -> Result<NaiveDate, E> {
    let mut d = next(&day).expect("date in range");
    while !trades(d)? {
        d = next(&d).expect("date in range");
    }
    Ok(d)
}

/// True when no date from January 1 up to the day before `day` trades.
fn no_earlier_day_trades<E>(
    day: NaiveDate,
    trades: impl Fn(NaiveDate) -> Result<bool, E>,
) -> Result<bool, E> {
    let mut d = day;
    while d.ordinal() > 1 {
        d = d.pred_opt().expect("date in range");
        if trades(d)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The calendar of the simulated market, which needs an answer for every date: the closure
/// table where it reaches and plain weekdays beyond it. Only the simulator uses it, to make up
/// prices; what an order may do is decided by [`Calendar`], which says when it cannot answer.
pub mod synthetic {
    use super::*;

    fn trades(day: NaiveDate) -> Result<bool, std::convert::Infallible> {
        Ok(table_trades(day).unwrap_or_else(|| !is_weekend(day)))
    }

    pub fn is_trading_day(day: NaiveDate) -> bool {
        trades(day).unwrap_or_else(|e| match e {})
    }

    pub fn next_trading_day(day: NaiveDate) -> NaiveDate {
        step(day, NaiveDate::succ_opt, trades).unwrap_or_else(|e| match e {})
    }

    pub fn previous_trading_day(day: NaiveDate) -> NaiveDate {
        step(day, NaiveDate::pred_opt, trades).unwrap_or_else(|e| match e {})
    }

    /// The opening time of a (simulated) trading day.
    pub fn opening_time(day: NaiveDate) -> NaiveTime {
        let first = no_earlier_day_trades(day, trades).unwrap_or_else(|e| match e {});
        Session::of(day, first).opens_at
    }

    /// True inside the regular session of a (simulated) trading day.
    pub fn in_session(at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&kst());
        let day = local.date_naive();
        if !is_trading_day(day) {
            return false;
        }
        let first = no_earlier_day_trades(day, trades).unwrap_or_else(|e| match e {});
        let s = Session::of(day, first);
        s.opens_at <= local.time() && local.time() < s.closes_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    /// The table alone.
    fn trades(day: NaiveDate) -> bool {
        Calendar::default().is_trading_day(day).unwrap()
    }

    #[test]
    fn the_table_lists_consecutive_years_in_order() {
        assert_eq!(TABLE_YEARS, (2024, 2027));
        for (i, (year, days)) in CLOSURES.iter().enumerate() {
            assert_eq!(*year, TABLE_YEARS.0 + i as i32);
            for (m, dd) in *days {
                let day = d(*year, *m, *dd);
                assert!(
                    !is_weekend(day),
                    "{day} is a weekend: list weekday closures only"
                );
            }
            assert!(days.windows(2).all(|w| w[0] < w[1]), "{year} in order");
        }
    }

    #[test]
    fn known_closures() {
        for day in [
            d(2025, 1, 28),
            d(2025, 10, 6),
            d(2025, 12, 31),
            d(2026, 2, 17),
            d(2026, 7, 17),
            d(2026, 9, 24),
            d(2026, 12, 31),
            d(2024, 4, 10),
        ] {
            assert!(!trades(day), "{day}");
        }
        for day in [
            d(2025, 12, 30),
            d(2026, 1, 2),
            d(2026, 7, 16),
            d(2026, 7, 20),
            d(2026, 9, 28),
            d(2026, 11, 25),
            d(2026, 2, 19),
        ] {
            assert!(trades(day), "{day}");
        }
        assert!(!trades(d(2026, 11, 28)));
        assert!(is_closure(d(2026, 5, 25)));
    }

    #[test]
    fn the_closures_of_2027() {
        let closed = [
            (1, 1),
            (2, 8),
            (2, 9),
            (3, 1),
            (5, 3),
            (5, 5),
            (5, 13),
            (7, 19),
            (8, 16),
            (9, 14),
            (9, 15),
            (9, 16),
            (10, 4),
            (10, 11),
            (12, 27),
            (12, 31),
        ];
        let weekdays_closed: Vec<(u32, u32)> = d(2027, 1, 1)
            .iter_days()
            .take_while(|x| x.year() == 2027)
            .filter(|x| !is_weekend(*x) && !trades(*x))
            .map(|x| (x.month(), x.day()))
            .collect();
        assert_eq!(weekdays_closed, closed);
        // 현충일 (a Sunday) earns no substitute day; the day after 설's substitute trades.
        assert!(trades(d(2027, 6, 7)));
        assert!(trades(d(2027, 2, 10)));
        // The first trading day of 2027 is 01-04 and opens at 10:00.
        let table = Calendar::default();
        let first = table.day(d(2027, 1, 4)).unwrap();
        assert_eq!(first.opens_at(), Some(t(10, 0)));
        assert_eq!(first.closes_at(), Some(t(15, 30)));
        assert_eq!(first.source, DaySource::Table);
        assert!(table.is_first_trading_day_of_year(d(2027, 1, 4)).unwrap());
        let new_year = table.day(d(2027, 1, 1)).unwrap();
        assert!(!new_year.trading() && new_year.opens_at().is_none());
        assert_eq!(table.day(d(2027, 1, 5)).unwrap().opens_at(), Some(t(9, 0)));
        assert_eq!(table.next_trading_day(d(2027, 2, 5)), Ok(d(2027, 2, 10)));
    }

    #[test]
    fn the_exam_day_of_2026_is_shifted_an_hour() {
        let day = Calendar::default().day(d(2026, 11, 19)).unwrap();
        assert_eq!(day.opens_at(), Some(t(10, 0)));
        assert_eq!(day.closes_at(), Some(t(16, 30)));
        let next = Calendar::default().day(d(2026, 11, 20)).unwrap();
        assert_eq!(next.opens_at(), Some(t(9, 0)));
        assert_eq!(next.closes_at(), Some(t(15, 30)));
    }

    #[test]
    fn beyond_the_table_without_bars_is_an_error_naming_the_year() {
        let table = Calendar::default();
        let e = table.day(d(2028, 3, 2)).unwrap_err();
        assert_eq!(e.date, d(2028, 3, 2));
        assert_eq!(
            e.to_string(),
            "calendar: 2028 is past the KRX holiday table (2024–2027) and no crawled index \
             bars cover 2028-03-02; crawl with --history or update the table"
        );
        assert!(
            table.is_trading_day(d(2028, 3, 4)).is_err(),
            "even a Saturday"
        );
        let e = table.is_trading_day(d(2023, 6, 1)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("calendar: 2023 is before the KRX holiday table (2024–2027)"),
            "{e}"
        );
        // The last day of the table answers; the walk past it fails.
        assert!(!table.is_trading_day(d(2027, 12, 31)).unwrap());
        assert_eq!(
            table.next_trading_day(d(2027, 12, 30)).unwrap_err().date,
            d(2028, 1, 1)
        );
        assert_eq!(
            table.previous_trading_day(d(2024, 1, 2)).unwrap_err().date,
            d(2023, 12, 31)
        );
    }

    #[test]
    fn bars_answer_beyond_the_table() {
        // KOSPI bars for February and early March 2028: 03-01 (삼일절) has none.
        let bars: Vec<NaiveDate> = d(2028, 2, 1)
            .iter_days()
            .take_while(|x| *x <= d(2028, 3, 10))
            .filter(|x| !is_weekend(*x) && *x != d(2028, 3, 1))
            .collect();
        let cal = Calendar::from_bar_dates(bars);
        let day = cal.day(d(2028, 3, 2)).unwrap();
        assert_eq!(day.source, DaySource::Bars);
        assert_eq!(day.opens_at(), Some(t(9, 0)));
        let holiday = cal.day(d(2028, 3, 1)).unwrap();
        assert_eq!(
            (holiday.trading(), holiday.source),
            (false, DaySource::Bars)
        );
        assert_eq!(cal.previous_trading_day(d(2028, 3, 2)), Ok(d(2028, 2, 29)));
        assert_eq!(cal.next_trading_day(d(2028, 2, 29)), Ok(d(2028, 3, 2)));
        // Past the last bar the calendar cannot answer again.
        assert!(cal.day(d(2028, 3, 13)).is_err());
        // Before the first bar of 2028, January is unknown: whether 02-01 opened the year is not
        // known either.
        assert!(cal.is_first_trading_day_of_year(d(2028, 2, 1)).is_err());
    }

    #[test]
    fn the_first_trading_day_of_a_year_known_from_bars() {
        let cal = Calendar::from_bar_dates([
            d(2027, 12, 30),
            d(2028, 1, 3),
            d(2028, 1, 4),
            d(2028, 1, 5),
        ]);
        assert_eq!(cal.is_first_trading_day_of_year(d(2028, 1, 3)), Ok(true));
        assert_eq!(cal.day(d(2028, 1, 3)).unwrap().opens_at(), Some(t(10, 0)));
        assert_eq!(cal.day(d(2028, 1, 4)).unwrap().opens_at(), Some(t(9, 0)));
        assert_eq!(cal.previous_trading_day(d(2028, 1, 3)), Ok(d(2027, 12, 30)));
        // Bars that start on 2028-01-03 leave 01-01 and 01-02 unknown, and with them whether
        // 01-03 opened the year (and so its opening time).
        let late = Calendar::from_bar_dates([d(2028, 1, 3), d(2028, 1, 4)]);
        assert_eq!(late.is_trading_day(d(2028, 1, 3)), Ok(true));
        assert_eq!(late.day(d(2028, 1, 3)).unwrap_err().date, d(2028, 1, 2));
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
        let wed = cal.day(d(2026, 11, 25)).unwrap();
        assert_eq!((wed.trading(), wed.source), (false, DaySource::Bars));
        assert_eq!(cal.next_trading_day(d(2026, 11, 24)), Ok(d(2026, 11, 26)));
        assert_eq!(
            cal.previous_trading_day(d(2026, 11, 26)),
            Ok(d(2026, 11, 24))
        );
        // Outside the range the table decides.
        let mon = cal.day(d(2026, 11, 30)).unwrap();
        assert_eq!((mon.trading(), mon.source), (true, DaySource::Table));
        assert_eq!(cal.is_trading_day(d(2026, 12, 25)), Ok(false));
        let week: Vec<_> = d(2026, 11, 23)
            .iter_days()
            .take(9)
            .filter(|x| cal.is_trading_day(*x).unwrap())
            .collect();
        assert_eq!(week.len(), 6);
        assert_eq!(cal.is_first_trading_day_of_year(d(2026, 11, 24)), Ok(false));
        assert_eq!(
            Calendar::default().is_trading_day(d(2026, 11, 25)),
            Ok(true)
        );
    }

    #[test]
    fn neighbours_skip_weekends_and_holidays() {
        let table = Calendar::default();
        assert_eq!(table.next_trading_day(d(2025, 12, 30)), Ok(d(2026, 1, 2)));
        assert_eq!(
            table.previous_trading_day(d(2026, 1, 2)),
            Ok(d(2025, 12, 30))
        );
        assert_eq!(table.next_trading_day(d(2026, 2, 13)), Ok(d(2026, 2, 19)));
        assert_eq!(
            table.previous_trading_day(d(2026, 11, 30)),
            Ok(d(2026, 11, 27))
        );
        assert_eq!(table.next_trading_day(d(2026, 7, 16)), Ok(d(2026, 7, 20)));
        assert_eq!(table.next_trading_day(d(2026, 12, 30)), Ok(d(2027, 1, 4)));
        assert_eq!(table.is_first_trading_day_of_year(d(2026, 1, 2)), Ok(true));
        assert_eq!(table.is_first_trading_day_of_year(d(2025, 1, 2)), Ok(true));
        assert_eq!(table.is_first_trading_day_of_year(d(2026, 1, 5)), Ok(false));
    }

    #[test]
    fn the_simulated_calendar_extends_the_table_with_weekdays() {
        assert!(!synthetic::is_trading_day(d(2026, 7, 17)));
        assert!(
            synthetic::is_trading_day(d(2028, 3, 1)),
            "weekdays beyond the table"
        );
        assert_eq!(synthetic::next_trading_day(d(2027, 12, 30)), d(2028, 1, 3));
        assert_eq!(
            synthetic::previous_trading_day(d(2028, 1, 3)),
            d(2027, 12, 30)
        );
        assert_eq!(synthetic::opening_time(d(2028, 1, 3)), t(10, 0));
        assert_eq!(synthetic::opening_time(d(2027, 1, 4)), t(10, 0));
        assert_eq!(synthetic::opening_time(d(2027, 1, 5)), t(9, 0));
        let at = |day, h, m| super::super::rules::kst_instant(day, t(h, m));
        assert!(!synthetic::in_session(at(d(2027, 1, 4), 9, 30)));
        assert!(synthetic::in_session(at(d(2027, 1, 4), 10, 0)));
        assert!(!synthetic::in_session(at(d(2027, 1, 5), 15, 30)));
    }
}
