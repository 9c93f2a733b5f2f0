//! `assets`: today's totals and the trend of total assets from the daily snapshots, with KOSPI
//! rebased to the first snapshot as a benchmark.

use rust_decimal::Decimal;
use serde::Serialize;

use super::App;
use crate::chart::Series;
use crate::domain::portfolio::total_return_pct;
use crate::error::Result;
use crate::store::snapshots;

pub use crate::store::snapshots::SnapshotRow;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AssetsView {
    pub cash: Decimal,
    pub stock_valuation: Decimal,
    pub total: Decimal,
    pub total_return_pct: Option<Decimal>,
    pub snapshots: Vec<SnapshotRow>,
    /// KOSPI closes on the snapshot dates, rebased to the first snapshot's total.
    pub kospi_rebased: Vec<(chrono::NaiveDate, Decimal)>,
}

impl AssetsView {
    pub fn series(&self) -> Vec<Series> {
        let mut s = vec![Series {
            name: "total assets".into(),
            points: self.snapshots.iter().map(|r| (r.date, r.total)).collect(),
        }];
        if !self.kospi_rebased.is_empty() {
            s.push(Series {
                name: "KOSPI (rebased)".into(),
                points: self.kospi_rebased.clone(),
            });
        }
        s
    }
}

pub async fn assets(app: &App, user_id: i64, days: i64) -> Result<AssetsView> {
    let mut conn = app.pool.acquire().await?;
    let t = crate::store::portfolio::totals(&mut conn, user_id).await?;
    let (cash, stock_valuation, initial) = (t.cash, t.stock_valuation, t.initial_cash);
    let rows = snapshots::for_user(&mut conn, user_id, days).await?;
    let mut kospi_rebased = Vec::new();
    if let Some(first) = rows.first() {
        let dates: Vec<chrono::NaiveDate> = rows.iter().map(|r| r.date).collect();
        let closes = crate::store::market::closes_on(&mut conn, "KOSPI", &dates).await?;
        if let Some((d0, c0)) = closes.first().copied() {
            if d0 == first.date && !c0.is_zero() {
                kospi_rebased = closes
                    .iter()
                    .map(|(d, c)| (*d, (*c / c0 * first.total).round()))
                    .collect();
            }
        }
    }
    let total = cash + stock_valuation;
    Ok(AssetsView {
        cash,
        stock_valuation,
        total,
        total_return_pct: total_return_pct(total, initial),
        snapshots: rows,
        kospi_rebased,
    })
}
