//! `snapshot`: daily asset values of every active user, once per user per trading day.

use std::time::Instant;

use chrono::{Duration, NaiveDate, NaiveTime};
use serde::Serialize;

use super::App;
use crate::domain::{rules, Invalid};
use crate::error::{Error, Result};
use crate::store::{market, snapshots};

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
    pub seconds: f64,
}

/// Snapshots every trading day from `from` to `to` in order (a range backfills from stored
/// bars). Non-trading days are skipped with a note; a day whose session has not closed yet, or
/// a date in the future, is refused.
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
    let cal = market::calendar(&mut conn).await?;
    drop(conn);
    // Every day of the range is answered (with the trading day before it) before anything is
    // written: a day the calendar cannot answer refuses the whole range.
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
        let date = day.date;
        let Some(prev) = prev else {
            days.push(DayResult {
                date,
                users: None,
                note: Some("not a trading day: skipped".into()),
            });
            continue;
        };
        let day_start = rules::kst_instant(date, NaiveTime::MIN);
        let end = day_start + Duration::days(1);
        let mut tx = app.pool.begin().await?;
        // One statement aggregates every holding: give it room to hash in memory.
        sqlx::query("SET LOCAL work_mem = '64MB'")
            .execute(&mut *tx)
            .await?;
        let n = snapshots::take(&mut tx, date, day_start, end, prev, now).await?;
        tx.commit().await?;
        days.push(DayResult {
            date,
            users: Some(n),
            note: None,
        });
    }
    Ok(SnapshotSummary {
        days,
        seconds: started.elapsed().as_secs_f64(),
    })
}
