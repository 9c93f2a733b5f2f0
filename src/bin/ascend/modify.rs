//! `ascend modify` (정정 / 일부취소), and the amendment history `orders --amendments` shows.

use std::io::Write;

use clap::Args;
use serde::Serialize;

use crate::output::{money, render, render_one, time, Tabular};
use crate::{io_err, Ctx};
use ascend::app::{self, modify::AmendmentRow};
use ascend::domain::order::Amendment;
use ascend::domain::Side;
use ascend::{exit, Error};

/// Modify a resting order: a new limit, a smaller quantity, or both. Examples:
///   ascend modify 42 --limit 55800
///   ascend modify 42 --quantity 6
///   ascend modify 42 --limit 56000 --quantity 6 --key fix-42
///
/// Only your own open (or partially filled) limit order. A new limit follows the rules of
/// placement (on the tick, inside the band, a fresh price in the session), reserves what the
/// remaining quantity needs at it (the difference is taken from or returned to available cash)
/// and sends the order to the back of the queue; a limit that crosses the price rests until the
/// next settle fills it. A smaller quantity (the order's new quantity in all, filled shares
/// included) frees what the shares taken off reserved and keeps the order's place. KRX does not
/// raise a quantity by modification: place a new order. `orders --amendments ID` shows the
/// history.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct Modify {
    /// The order id (from `ascend orders`).
    order_id: String,
    /// The new limit price in won.
    #[arg(long, allow_hyphen_values = true)]
    limit: Option<String>,
    /// The order's new quantity in all (filled shares included): less than now, more than filled.
    #[arg(long, allow_hyphen_values = true)]
    quantity: Option<String>,
    /// Idempotency key: the same key with the same terms returns the first modify's result and
    /// writes nothing; with different terms it is rejected.
    #[arg(long)]
    key: Option<String>,
}

/// An order id as given (`42` or `#42`).
pub fn order_id(given: &str) -> Result<i64, Error> {
    given
        .trim()
        .trim_start_matches('#')
        .parse()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| {
            Error::Invalid(ascend::domain::Invalid::new(
                "order_id",
                format!("{given:?} is not an order id (a positive number)"),
            ))
        })
}

impl Modify {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let id = order_id(&self.order_id)?;
        let asked = Amendment::parse(
            self.limit.as_deref(),
            self.quantity.as_deref(),
            self.key.as_deref(),
        )?;
        let actor = ctx.actor()?;
        let app = ctx.app().await?;
        let user = app::resolve(&app, &actor).await?;
        let done = app::modify::modify(&app, user.id, id, &asked).await?;
        let (o, a) = (&done.order, &done.amendment);
        render_one(out, ctx.format, &done, |h| {
            let mut f = vec![
                ("order", o.id.to_string()),
                ("status", o.status.to_string()),
                ("code", o.code.clone()),
                ("side", o.side.to_string()),
                ("amendment", a.seq.to_string()),
                (
                    "quantity",
                    format!(
                        "{} → {}",
                        money(a.old_quantity.into(), h),
                        money(a.new_quantity.into(), h)
                    ),
                ),
                (
                    "limit",
                    format!("{} → {}", money(a.old_limit, h), money(a.new_limit, h)),
                ),
                ("filled", money(o.filled_quantity.into(), h)),
                (
                    "reserved",
                    reserved(o.side, o.reserved_cash, o.reserved_shares, h),
                ),
                (
                    "reserved change",
                    delta(o.side, a.reserved_cash_delta, a.reserved_shares_delta, h),
                ),
                ("queued", time(o.queued_at, h)),
            ];
            if done.replayed {
                f.push((
                    "note",
                    "idempotency key matched an earlier identical modify; nothing was written"
                        .into(),
                ));
            }
            f
        })
        .map_err(io_err)?;
        Ok(exit::OK)
    }
}

fn reserved(side: Side, cash: rust_decimal::Decimal, shares: i64, h: bool) -> String {
    match side {
        Side::Buy => money(cash, h),
        Side::Sell => format!("{} shares", money(shares.into(), h)),
    }
}

fn delta(side: Side, cash: rust_decimal::Decimal, shares: i64, h: bool) -> String {
    let (v, unit) = match side {
        Side::Buy => (cash, ""),
        Side::Sell => (shares.into(), " shares"),
    };
    let sign = if h && v > rust_decimal::Decimal::ZERO {
        "+"
    } else {
        ""
    };
    format!("{sign}{}{unit}", money(v, h))
}

#[derive(Serialize)]
pub struct AmendmentView(pub AmendmentRow);

impl Tabular for AmendmentView {
    fn headers() -> &'static [&'static str] {
        &[
            "amendment",
            "time",
            "quantity",
            "limit",
            "filled",
            "reserved change",
            "requeued",
            "key",
        ]
    }
    fn optional() -> &'static [&'static str] {
        &["key", "requeued", "filled"]
    }
    fn cells(&self, h: bool) -> Vec<String> {
        let a = &self.0;
        let side = if a.reserved_shares_delta != 0 {
            Side::Sell
        } else {
            Side::Buy
        };
        vec![
            a.seq.to_string(),
            time(a.amended_at, h),
            format!(
                "{} → {}",
                money(a.old_quantity.into(), h),
                money(a.new_quantity.into(), h)
            ),
            format!("{} → {}", money(a.old_limit, h), money(a.new_limit, h)),
            money(a.filled_quantity.into(), h),
            delta(side, a.reserved_cash_delta, a.reserved_shares_delta, h),
            if a.requeued { "yes" } else { "no" }.into(),
            a.idempotency_key.clone().unwrap_or_default(),
        ]
    }
}

/// `orders --amendments ID`: the order's amendments, oldest first.
pub async fn history(ctx: &Ctx, out: &mut dyn Write, given: &str) -> Result<u8, Error> {
    let id = order_id(given)?;
    let actor = ctx.actor()?;
    let app = ctx.app().await?;
    let user = app::resolve(&app, &actor).await?;
    let rows = app::modify::history(&app, user.id, id).await?;
    let rows: Vec<AmendmentView> = rows.into_iter().map(AmendmentView).collect();
    render(out, ctx.format, &rows).map_err(io_err)?;
    Ok(exit::OK)
}
