//! `ascend place-order`, `orders`, `cancel`, `trades`.

use std::io::Write;

use clap::Args;
use serde::Serialize;

use crate::output::{money, opt_money, render, render_one, time, Tabular};
use crate::{io_err, Ctx};
use ascend::app::{self, orders::OrderRequest};
use ascend::store::trading::{FillRow, OrderRow};
use ascend::{exit, Error};

/// Place an order. Examples:
///   ascend place-order 005930 buy 10 --limit 55900
///   ascend place-order 005930 sell 5 --market
///   ascend place-order 000660 buy 3 --limit 178000 --tif gtc --key 2026-11-24-rebalance-1
///
/// Limit prices must sit on the KRX tick for their level and inside today's ±30% band.
/// A marketable order inside the session (09:00–15:30 KST) with a fresh price fills at once at
/// the current price; a limit order that is not marketable rests until `settle` fills it, it is
/// cancelled, or (DAY) it expires at the close. A market order outside the session is refused.
/// Buys reserve price × quantity + commission (a market buy at the upper limit, the difference
/// released on fill); sells reserve the shares.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct PlaceOrder {
    /// Stock code (six characters, e.g. 005930).
    code: String,
    /// buy or sell.
    side: String,
    /// Number of shares (a positive whole number, at most 10,000,000).
    #[arg(allow_hyphen_values = true)]
    quantity: String,
    /// Limit price in won.
    #[arg(long, allow_hyphen_values = true)]
    limit: Option<String>,
    /// Market order: fills at the current price, inside the session only.
    #[arg(long)]
    market: bool,
    /// Time in force: day (expires at the close), gtc (until filled or cancelled), ioc (fill now or cancel).
    #[arg(long)]
    tif: Option<String>,
    /// Idempotency key: the same key with the same parameters returns the original order and
    /// writes nothing; with different parameters it is rejected.
    #[arg(long)]
    key: Option<String>,
}

#[derive(Serialize)]
pub struct OrderView(pub OrderRow);

impl Tabular for OrderView {
    fn headers() -> &'static [&'static str] {
        &[
            "id", "created", "code", "side", "kind", "tif", "quantity", "limit", "filled",
            "status", "reserved", "reason",
        ]
    }
    fn cells(&self, h: bool) -> Vec<String> {
        let o = &self.0;
        let reserved = if o.side == "buy" {
            money(o.reserved_cash, h)
        } else {
            format!("{} sh", o.reserved_shares)
        };
        vec![
            o.id.to_string(),
            time(o.created_at, h),
            o.code.clone(),
            o.side.clone(),
            o.kind.clone(),
            o.tif.clone(),
            money(o.quantity.into(), h),
            opt_money(o.limit_price, h),
            money(o.filled_quantity.into(), h),
            o.status.clone(),
            reserved,
            o.reason.clone().unwrap_or_default(),
        ]
    }
}

#[derive(Serialize)]
pub struct FillView(pub FillRow);

impl Tabular for FillView {
    fn headers() -> &'static [&'static str] {
        &[
            "fill", "order", "time", "code", "side", "quantity", "price", "amount", "fee", "tax",
        ]
    }
    fn cells(&self, h: bool) -> Vec<String> {
        let f = &self.0;
        vec![
            f.id.to_string(),
            f.order_id.to_string(),
            time(f.filled_at, h),
            f.code.clone(),
            f.side.clone(),
            money(f.quantity.into(), h),
            money(f.price, h),
            money(f.amount, h),
            money(f.fee, h),
            money(f.tax, h),
        ]
    }
}

impl PlaceOrder {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let req = OrderRequest::parse(
            &self.code,
            &self.side,
            &self.quantity,
            self.limit.as_deref(),
            self.market,
            self.tif.as_deref(),
            self.key.as_deref(),
        )?;
        let actor = ctx.actor()?;
        let app = ctx.app().await?;
        let user = app::resolve(&app, &actor).await?;
        let placed = app::orders::place(&app, user.id, &req).await?;
        let o = &placed.order;
        render_one(out, ctx.format, &placed, |h| {
            let mut f = vec![
                ("order", o.id.to_string()),
                ("status", o.status.clone()),
                ("code", o.code.clone()),
                ("side", o.side.clone()),
                ("quantity", money(o.quantity.into(), h)),
                (
                    "limit",
                    o.limit_price.map_or("market".into(), |p| money(p, h)),
                ),
                ("tif", o.tif.clone()),
            ];
            if o.status == "open" {
                f.push((
                    "reserved",
                    if o.side == "buy" {
                        money(o.reserved_cash, h)
                    } else {
                        format!("{} shares", o.reserved_shares)
                    },
                ));
            }
            if let Some(fill) = &placed.fill {
                f.push(("fill price", money(fill.price, h)));
                f.push(("amount", money(fill.amount, h)));
                f.push(("fee", money(fill.fee, h)));
                f.push(("tax", money(fill.tax, h)));
            }
            if let Some(r) = &o.reason {
                f.push(("reason", r.clone()));
            }
            if placed.replayed {
                f.push((
                    "note",
                    "idempotency key matched an earlier identical order; nothing was written"
                        .into(),
                ));
            }
            f
        })
        .map_err(io_err)?;
        Ok(exit::OK)
    }
}

#[derive(Debug, Args)]
pub struct ListOrders {
    /// Only open (resting) orders.
    #[arg(long)]
    open: bool,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 100)]
    limit: i64,
}

impl ListOrders {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let actor = ctx.actor()?;
        let app = ctx.app().await?;
        let user = app::resolve(&app, &actor).await?;
        let rows = app::orders::list(&app, user.id, self.open, self.limit.max(1)).await?;
        let rows: Vec<OrderView> = rows.into_iter().map(OrderView).collect();
        render(out, ctx.format, &rows).map_err(io_err)?;
        Ok(exit::OK)
    }
}

#[derive(Debug, Args)]
pub struct Cancel {
    /// The order id (from `ascend orders`).
    order_id: String,
}

impl Cancel {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let id: i64 = self
            .order_id
            .trim()
            .trim_start_matches('#')
            .parse()
            .ok()
            .filter(|i| *i > 0)
            .ok_or_else(|| {
                Error::Invalid(ascend::domain::Invalid::new(
                    "order_id",
                    format!("{:?} is not an order id (a positive number)", self.order_id),
                ))
            })?;
        let actor = ctx.actor()?;
        let app = ctx.app().await?;
        let user = app::resolve(&app, &actor).await?;
        let order = app::orders::cancel(&app, user.id, id).await?;
        render(out, ctx.format, &[OrderView(order)]).map_err(io_err)?;
        Ok(exit::OK)
    }
}

#[derive(Debug, Args)]
pub struct Trades {
    /// At most this many, newest first.
    #[arg(long, default_value_t = 100)]
    limit: i64,
}

impl Trades {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let actor = ctx.actor()?;
        let app = ctx.app().await?;
        let user = app::resolve(&app, &actor).await?;
        let rows = app::orders::trades(&app, user.id, self.limit.max(1)).await?;
        let rows: Vec<FillView> = rows.into_iter().map(FillView).collect();
        render(out, ctx.format, &rows).map_err(io_err)?;
        Ok(exit::OK)
    }
}
