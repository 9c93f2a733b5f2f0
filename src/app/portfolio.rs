//! `portfolio`: holdings valued at current prices, cash, and totals. Holdings come from one
//! query; current prices from one batched quote request for all their codes, with a timeout.
//! When live quotes fail or time out, the last stored price is used and the row is marked
//! stale with its age.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::Serialize;

use super::App;
use crate::domain::portfolio::{total_return_pct, weight_pct, Position};
use crate::domain::StockCode;
use crate::error::{Error, Result};
use crate::market::MarketData;
use crate::store::portfolio as store;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HoldingView {
    pub code: String,
    pub name: String,
    pub quantity: i64,
    /// Shares held for open sell orders (part of `quantity`).
    pub reserved: i64,
    pub average_price: Decimal,
    pub price: Option<Decimal>,
    pub valuation: Decimal,
    pub profit: Decimal,
    pub return_pct: Option<Decimal>,
    pub weight_pct: Option<Decimal>,
    /// True when the price is the last stored one rather than a live quote.
    pub stale: bool,
    /// Age of the price in seconds, when known.
    pub price_age_seconds: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortfolioView {
    pub user_id: i64,
    pub holdings: Vec<HoldingView>,
    pub cash_available: Decimal,
    pub cash_reserved: Decimal,
    pub stock_valuation: Decimal,
    pub total_assets: Decimal,
    pub initial_cash: Decimal,
    pub total_return_pct: Option<Decimal>,
    /// `live`, `stored` (offline), or `stored: <why live quotes failed>`.
    pub prices: String,
}

/// Values a user's portfolio. `live` is the quote source and its timeout; `None` is offline.
pub async fn portfolio<M: MarketData>(
    app: &App,
    user_id: i64,
    live: Option<(&M, Duration)>,
) -> Result<PortfolioView> {
    let now = app.clock.now();
    let mut conn = app.pool.acquire().await?;
    let cash = store::cash(&mut conn, user_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("user #{user_id} has no account")))?;
    let (available, reserved, initial) = (cash.available, cash.reserved, cash.initial_cash);
    let rows = store::holdings(&mut conn, user_id).await?;
    drop(conn);

    let mut live_prices = std::collections::HashMap::new();
    let mut prices = "stored".to_string();
    if let (Some((source, timeout)), false) = (live, rows.is_empty()) {
        let codes: Vec<StockCode> = rows
            .iter()
            .filter_map(|r| StockCode::parse(&r.code).ok())
            .collect();
        match tokio::time::timeout(timeout, source.quotes(&codes)).await {
            Ok(Ok(quotes)) => {
                // Holdings are valued at regular-session prices: an after-market print
                // (16:00–20:00) is not the day's value.
                for q in quotes {
                    if let (Some(p), crate::domain::TradingSession::Regular) = (q.price, q.session)
                    {
                        live_prices.insert(q.code.to_string(), p);
                    }
                }
                prices = "live".into();
            }
            Ok(Err(e)) => prices = format!("stored: live quotes failed: {e}"),
            Err(_) => {
                prices = format!(
                    "stored: live quotes timed out after {} ms",
                    timeout.as_millis()
                )
            }
        }
    }

    let mut holdings = Vec::with_capacity(rows.len());
    for r in rows {
        let live = live_prices.get(&r.code).copied();
        let price = live.or(r.price);
        let p = Position {
            quantity: r.available + r.reserved,
            cost: r.cost,
            price: price.unwrap_or_default(),
        };
        holdings.push(HoldingView {
            average_price: p.average_price(),
            valuation: p.valuation(),
            profit: p.profit(),
            return_pct: p.return_pct(),
            weight_pct: None,
            stale: live.is_none(),
            price_age_seconds: if live.is_some() {
                Some(0)
            } else {
                r.price_at.map(|t| (now - t).num_seconds().max(0))
            },
            code: r.code,
            name: r.name,
            quantity: p.quantity,
            reserved: r.reserved,
            price,
        });
    }
    let stock_valuation: Decimal = holdings.iter().map(|h| h.valuation).sum();
    let total_assets = available + reserved + stock_valuation;
    for h in &mut holdings {
        h.weight_pct = weight_pct(h.valuation, total_assets);
    }
    Ok(PortfolioView {
        user_id,
        holdings,
        cash_available: available,
        cash_reserved: reserved,
        stock_valuation,
        total_assets,
        initial_cash: initial,
        total_return_pct: total_return_pct(total_assets, initial),
        prices,
    })
}
