//! `ascend audit`: checks the ledger invariants and names every violation.

use serde::Serialize;

use super::App;
use crate::error::Result;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Violation {
    /// The invariant number (DESIGN.md §4).
    pub invariant: u8,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditReport {
    pub entries: i64,
    pub legs: i64,
    pub accounts: i64,
    pub holdings: i64,
    pub orders: i64,
    pub fills: i64,
    pub violations: Vec<Violation>,
}

/// Runs every check in one repeatable-read snapshot.
pub async fn audit(app: &App) -> Result<AuditReport> {
    let found = crate::store::audit::run(&app.pool).await?;
    let c = found.counts;
    Ok(AuditReport {
        entries: c.entries,
        legs: c.legs,
        accounts: c.accounts,
        holdings: c.holdings,
        orders: c.orders,
        fills: c.fills,
        violations: found
            .violations
            .into_iter()
            .map(|(invariant, detail)| Violation { invariant, detail })
            .collect(),
    })
}
