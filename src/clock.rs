//! The program's clock: the database server's (every command asks the server for the time once
//! and follows it from there), or a time set with `--now` / `ASCEND_NOW` where the database is
//! simulated.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};

use crate::domain::{rules::kst, Invalid};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    fixed: Option<DateTime<Utc>>,
    /// How far the database server's clock is ahead of this machine's.
    offset: Duration,
}

impl Clock {
    /// This machine's clock.
    pub fn system() -> Self {
        Clock {
            fixed: None,
            offset: Duration::zero(),
        }
    }
    /// A clock that runs like the database server's, which said `server_now` just now.
    pub fn server(server_now: DateTime<Utc>) -> Self {
        Clock {
            fixed: None,
            offset: server_now - Utc::now(),
        }
    }
    /// A clock that stands at `at`.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock {
            fixed: Some(at),
            offset: Duration::zero(),
        }
    }
    pub fn now(&self) -> DateTime<Utc> {
        self.fixed.unwrap_or_else(|| Utc::now() + self.offset)
    }
    /// Whether the clock was set (`--now`) rather than running.
    pub fn is_fixed(&self) -> bool {
        self.fixed.is_some()
    }

    /// Parses `--now`: RFC 3339 (`2026-11-24T10:15:00+09:00`), or a KST wall-clock time
    /// `2026-11-24 10:15` / `2026-11-24T10:15:30`.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(Clock::fixed(t.with_timezone(&Utc)));
        }
        for fmt in [
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
        ] {
            if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
                let t = kst()
                    .from_local_datetime(&n)
                    .single()
                    .expect("KST has no gaps");
                return Ok(Clock::fixed(t.with_timezone(&Utc)));
            }
        }
        // A day alone is its midnight in KST.
        if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            let t = kst()
                .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
                .single()
                .expect("KST has no gaps");
            return Ok(Clock::fixed(t.with_timezone(&Utc)));
        }
        Err(Invalid::new(
            "now",
            format!("{s:?} is not a time (use 2026-11-24T10:15:00+09:00, \"2026-11-24 10:15\" in KST, or a day)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_kst_wall_clock() {
        let a = Clock::parse("2026-11-24T10:15:00+09:00").unwrap().now();
        let b = Clock::parse("2026-11-24 10:15").unwrap().now();
        let c = Clock::parse("2026-11-24T01:15:00Z").unwrap().now();
        assert_eq!(a, b);
        assert_eq!(a, c);
        // A set clock stands still; the system clock follows real time.
        let set = Clock::parse("2026-11-24T10:15:00+09:00").unwrap();
        assert_eq!(set.now(), set.now());
        assert!(Clock::system().now() > a);
        // A server clock an hour ahead stays an hour ahead.
        let ahead = Clock::server(Utc::now() + Duration::hours(1));
        let d = ahead.now() - Utc::now();
        assert!(d > Duration::minutes(59) && d <= Duration::hours(1), "{d}");
        assert!(!ahead.is_fixed() && set.is_fixed());
        assert_eq!(Clock::parse("yesterday").unwrap_err().field, "now");
        let midnight = Clock::parse("2026-10-20").unwrap().now();
        assert_eq!(midnight, Clock::parse("2026-10-20 00:00").unwrap().now());
    }
}
