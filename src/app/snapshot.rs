//! `snapshot`: daily asset values of every active user, once per user per trading day.
//!
//! Without a date it catches up: every closed trading day since each user's last snapshot (or
//! registration day) is recorded, so a missed run (a machine off on Friday evening) is made up
//! by the next one. Either way it also deletes the login sessions that have expired.

use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::Serialize;

use super::App;
use crate::domain::calendar::{Calendar, DayInfo};
use crate::domain::{rules, Invalid};
use crate::error::{Error, Result};
use crate::store::snapshots::{self, Existing};
use crate::store::{market, users};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DayResult {
    pub date: NaiveDate,
    /// Users written, or `None` when the day was skipped.
    pub users: Option<u64>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SnapshotSummary {
    pub days: Vec<DayResult>,
    /// The last closed trading day a catch-up recorded up to; `None` for a chosen date or range.
    pub up_to: Option<NaiveDate>,
    /// Login sessions deleted because they had expired by the app's clock.
    pub expired_sessions: u64,
    pub seconds: f64,
}

/// Snapshots every trading day from `from` to `to` in order (a range backfills from stored
/// bars), rewriting what was there. Non-trading days are skipped with a note; a day whose
/// session has not closed yet, a date in the future, and a date before the first day with
/// stored trading data are refused.
pub async fn snapshot(app: &App, from: NaiveDate, to: NaiveDate) -> Result<SnapshotSummary> {
    app.caller.require_operator("snapshot")?;
    let started = Instant::now();
    if from > to {
        return Err(Invalid::new("from", format!("{from} is after --to {to}")).into());
    }
    let now = app.clock.now();
    let today = rules::trade_date(now);
    if to > today {
        return Err(Invalid::new(
            "date",
            format!("{to} is in the future (today is {today} KST)"),
        )
        .into());
    }
    let mut conn = app.pool.acquire().await?;
    if let Some(first) = snapshots::first_day(&mut conn).await? {
        if from < first {
            let field = if from == to { "date" } else { "from" };
            return Err(Invalid::new(
                field,
                format!(
                    "{from} is before {first}, the first day with stored prices or trades; \
                     there is nothing to value it with"
                ),
            )
            .into());
        }
    }
    let cal = market::calendar(&mut conn).await?;
    drop(conn);
    let plan = plan(&cal, from, to)?;
    if let Some((today_info, _)) = plan.last().filter(|(d, _)| d.date == today) {
        if let Some(closes) = today_info.closes_at() {
            if now < rules::kst_instant(today, closes) {
                return Err(Error::rejected(format!(
                    "date: the session of {today} has not closed yet ({} KST); snapshot it after the close",
                    closes.format("%H:%M")
                )));
            }
        }
    }
    let mut days = Vec::new();
    for (day, prev) in plan {
        let Some(prev) = prev else {
            days.push(DayResult {
                date: day.date,
                users: None,
                note: Some("not a trading day: skipped".into()),
            });
            continue;
        };
        days.push(take(app, day.date, prev, now, Existing::Rewrite).await?);
    }
    let expired_sessions = delete_expired_sessions(app, now).await?;
    Ok(SnapshotSummary {
        days,
        up_to: None,
        expired_sessions,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Records every closed trading day that an active user is missing: from the day after the
/// user's last snapshot (or the registration day) up to the last trading day whose session has
/// closed by the app's clock — before today's close or on a closed day, the trading day before
/// — and never before the first day with stored trading data. Users that already have a day
/// keep it; a rerun writes nothing. Closed days are passed over silently.
pub async fn catch_up(app: &App) -> Result<SnapshotSummary> {
    app.caller.require_operator("snapshot")?;
    let started = Instant::now();
    let now = app.clock.now();
    let mut conn = app.pool.acquire().await?;
    let cal = market::calendar(&mut conn).await?;
    let up_to = last_closed_trading_day(&cal, now)?;
    let from = match (
        snapshots::catch_up_from(&mut conn, now).await?,
        snapshots::first_day(&mut conn).await?,
    ) {
        (Some(from), Some(first)) => Some(from.max(first)),
        (from, _) => from,
    };
    drop(conn);
    let mut days = Vec::new();
    if let Some(from) = from.filter(|f| *f <= up_to) {
        for (day, prev) in plan(&cal, from, up_to)? {
            if let Some(prev) = prev {
                days.push(take(app, day.date, prev, now, Existing::Keep).await?);
            }
        }
    }
    let expired_sessions = delete_expired_sessions(app, now).await?;
    Ok(SnapshotSummary {
        days,
        up_to: Some(up_to),
        expired_sessions,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The last trading day whose session has closed at `now`: today after its close, else the
/// trading day before today.
pub fn last_closed_trading_day(cal: &Calendar, now: DateTime<Utc>) -> Result<NaiveDate> {
    let today = rules::trade_date(now);
    let closed_today = cal
        .day(today)?
        .closes_at()
        .is_some_and(|closes| now >= rules::kst_instant(today, closes));
    Ok(if closed_today {
        today
    } else {
        cal.previous_trading_day(today)?
    })
}

/// Every day of the range with the trading day before it (`None` on a closed day), answered
/// before anything is written: a day the calendar cannot answer refuses the whole range.
fn plan(
    cal: &Calendar,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(DayInfo, Option<NaiveDate>)>> {
    let mut plan = Vec::new();
    for date in from.iter_days().take_while(|d| *d <= to) {
        let day = cal.day(date)?;
        let prev = if day.trading() {
            Some(cal.previous_trading_day(date)?)
        } else {
            None
        };
        plan.push((day, prev));
    }
    Ok(plan)
}

/// One day's snapshot in its own transaction.
async fn take(
    app: &App,
    date: NaiveDate,
    prev: NaiveDate,
    now: DateTime<Utc>,
    existing: Existing,
) -> Result<DayResult> {
    let day_start = rules::kst_instant(date, NaiveTime::MIN);
    let end = day_start + Duration::days(1);
    let mut tx = app.pool.begin().await?;
    let (n, carried) = snapshots::take(&mut tx, date, day_start, end, prev, now, existing).await?;
    tx.commit().await?;
    Ok(DayResult {
        date,
        users: Some(n),
        note: (carried > 0).then(|| {
            format!(
                "carried prices for {carried} user{} (see assets --history)",
                if carried == 1 { "" } else { "s" }
            )
        }),
    })
}

/// Deletes the login sessions expired by the app's clock, in a transaction of its own.
async fn delete_expired_sessions(app: &App, now: DateTime<Utc>) -> Result<u64> {
    let mut tx = app.pool.begin().await?;
    let n = users::delete_expired_sessions(&mut tx, now).await?;
    tx.commit().await?;
    Ok(n)
}
