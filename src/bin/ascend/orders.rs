//! `ascend place-order`, `orders`, `cancel`, `trades`.

use std::io::Write;

use clap::Args;
use serde::Serialize;

use crate::output::{money, opt_money, render, render_one, time, Tabular};
use crate::{io_err, Ctx};
use ascend::app::market::SourceSpec;
use ascend::app::{self, orders::OrderRequest};
use ascend::app::{FillRow, OrderRow};
use ascend::domain::{OrderType, Side};
use ascend::{exit, Error};

/// Place an order. Examples:
///   ascend place-order 005930 buy 10 --limit 55900
///   ascend place-order 005930 sell 5 --market
///   ascend place-order 000660 buy 3 --limit 178000 --tif gtc --key 2026-11-24-rebalance-1
///   ascend place-order 005930 sell 10 --stop 54000              (stop-market, DAY only)
///   ascend place-order 005930 buy 10 --stop 57500 --limit 57600 --tif gtc   (stop-limit)
///   ascend place-order 005930 buy 10 --type conditional --limit 55800
///   ascend place-order 005930 buy 10 --type best --tif fok --source sim:7
///
/// Limit prices must sit on the KRX tick for their level and inside today's ±30% band.
/// A marketable order inside the session (09:00–15:30 KST) with a fresh price fills at once at
/// the current price; a limit order that is not marketable rests until `settle` fills it, it is
/// cancelled, or (DAY) it expires at the close. A market order outside the session is refused.
/// Buys reserve price × quantity + commission (a market buy at the upper limit, the difference
/// released on fill); sells reserve the shares.
/// A stop order (--stop) is dormant until `settle` sees the last price at or above a buy's
/// trigger, at or below a sell's; it then becomes a market order (no --limit) or a limit
/// order, and fills in the same settle when it can. It reserves when placed, as the order it
/// becomes; a stop-market order is DAY only, placed during the session.
///
/// KRX order types (--type): limit and market as above; conditional (조건부지정가) a limit
/// order in the session whose open part fills at the closing price when settle runs after
/// the close (a buy reserves at the upper limit, as a market buy); best (최유리지정가) priced
/// at the best opposite quote of the order book --source gives, priority (최우선지정가) at the
/// best quote of its own side, then normal limit orders. Conditional, best and priority
/// orders are taken in the session before the closing auction (15:20 KST); a conditional one
/// also before the open. IOC and FOK go with limit, market and best orders; an FOK order that
/// cannot fill whole now is cancelled (exit 0, status cancelled).
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct PlaceOrder {
    /// Stock code (six characters, e.g. 005930).
    #[arg(required_unless_present = "file")]
    code: Option<String>,
    /// buy or sell.
    #[arg(value_enum, required_unless_present = "file")]
    side: Option<SideArg>,
    /// Number of shares (a positive whole number, at most 10,000,000).
    #[arg(allow_hyphen_values = true, required_unless_present = "file")]
    quantity: Option<String>,
    /// Place every row of a CSV file instead, for any users (operator). Columns:
    /// email,code,side,quantity,limit,tif,key — limit empty for a market order; tif and key
    /// may be empty. Failed rows are reported as `row N: reason`; the others stay written;
    /// exit 1 when any row failed.
    #[arg(long, conflicts_with_all = ["code", "limit", "market", "tif", "key", "stop", "order_type"])]
    file: Option<std::path::PathBuf>,
    /// Limit price in won.
    #[arg(long, allow_hyphen_values = true)]
    limit: Option<String>,
    /// Market order: fills at the current price, inside the session only.
    #[arg(long)]
    market: bool,
    /// Stop order: dormant until the last price touches TRIGGER (a buy stop at or above it,
    /// must be above the last price; a sell stop at or below it, must be below), then a market
    /// order, or a limit order with --limit. DAY or GTC (a stop without --limit: DAY only).
    #[arg(
        long,
        value_name = "TRIGGER",
        allow_hyphen_values = true,
        conflicts_with = "order_type"
    )]
    stop: Option<String>,
    /// KRX order type (default limit with --limit, market with --market).
    #[arg(long = "type", value_enum)]
    order_type: Option<OrderTypeArg>,
    /// Time in force (default day).
    #[arg(long, value_enum)]
    tif: Option<TifArg>,
    /// Where a best or priority order's order book (호가) comes from: naver, replay:DIR or
    /// sim[:SEED]. Other orders do not ask it.
    #[arg(long, env = "ASCEND_SOURCE", default_value = "naver", value_parser = crate::source_arg::SourceArg)]
    source: String,
    /// Idempotency key: the same key with the same parameters returns the original order and
    /// writes nothing; with different parameters it is rejected.
    #[arg(long)]
    key: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SideArg {
    Buy,
    Sell,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum TifArg {
    /// Expires at the close.
    Day,
    /// Until filled or cancelled.
    Gtc,
    /// Fill now (what can) or cancel.
    Ioc,
    /// Fill the whole quantity now or cancel.
    Fok,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OrderTypeArg {
    /// 지정가: at the limit or better.
    Limit,
    /// 시장가: at the current price.
    Market,
    /// 조건부지정가: a limit order; what is open at the close fills at the closing price.
    Conditional,
    /// 최유리지정가: priced at the best opposite quote (a buy at the best ask).
    Best,
    /// 최우선지정가: priced at the best quote of its side (a buy at the best bid).
    Priority,
}

impl OrderTypeArg {
    fn order_type(self) -> OrderType {
        match self {
            OrderTypeArg::Limit => OrderType::Limit,
            OrderTypeArg::Market => OrderType::Market,
            OrderTypeArg::Conditional => OrderType::ConditionalLimit,
            OrderTypeArg::Best => OrderType::BestLimit,
            OrderTypeArg::Priority => OrderType::PriorityLimit,
        }
    }
}

impl SideArg {
    fn as_str(self) -> &'static str {
        match self {
            SideArg::Buy => "buy",
            SideArg::Sell => "sell",
        }
    }
}

impl TifArg {
    fn as_str(self) -> &'static str {
        match self {
            TifArg::Day => "day",
            TifArg::Gtc => "gtc",
            TifArg::Ioc => "ioc",
            TifArg::Fok => "fok",
        }
    }
}

/// An order as `orders` shows it: the stored row with the shares still working (`remaining`:
/// none once it is filled, cancelled or expired), and whether it is partially filled (stored
/// `open` with some shares filled; the table says `partially_filled`).
pub struct OrderView(pub OrderRow);

impl Serialize for OrderView {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            #[serde(flatten)]
            order: &'a OrderRow,
            remaining: i64,
            partially_filled: bool,
        }
        View {
            order: &self.0,
            remaining: working(&self.0),
            partially_filled: partially_filled(&self.0),
        }
        .serialize(s)
    }
}

/// The shares an order still has working: what is left of an open one, none of a closed one.
fn working(o: &OrderRow) -> i64 {
    if o.status.is_open() {
        o.remaining()
    } else {
        0
    }
}

fn partially_filled(o: &OrderRow) -> bool {
    o.status.is_open() && o.filled_quantity > 0
}

impl Tabular for OrderView {
    fn headers() -> &'static [&'static str] {
        &[
            "id",
            "created",
            "code",
            "side",
            "type",
            "kind",
            "tif",
            "quantity",
            "limit",
            "stop",
            "triggered",
            "filled",
            "remaining",
            "status",
            "reserved",
            "amended",
            "reason",
        ]
    }
    fn optional() -> &'static [&'static str] {
        &[
            "type",
            "kind",
            "tif",
            "triggered",
            "created",
            "reserved",
            "amended",
            "reason",
        ]
    }
    fn cells(&self, h: bool) -> Vec<String> {
        let o = &self.0;
        let reserved = if o.side == Side::Buy {
            money(o.reserved_cash, h)
        } else {
            format!("{} sh", o.reserved_shares)
        };
        vec![
            o.id.to_string(),
            time(o.created_at, h),
            o.code.clone(),
            o.side.to_string(),
            o.order_type.to_string(),
            o.kind.to_string(),
            o.tif.to_string(),
            money(o.quantity.into(), h),
            opt_money(o.limit_price, h),
            opt_money(o.stop_price, h),
            o.stop_price.map_or(String::new(), |_| triggered(o, h)),
            money(o.filled_quantity.into(), h),
            money(working(o).into(), h),
            if partially_filled(o) {
                "partially_filled".to_string()
            } else {
                o.status.to_string()
            },
            reserved,
            o.amendments.to_string(),
            o.reason.clone().unwrap_or_default(),
        ]
    }
}

/// Whether a stop order has triggered: its time; `dormant` while it waits, `no` once closed
/// without triggering.
fn triggered(o: &OrderRow, h: bool) -> String {
    match o.triggered_at {
        Some(at) => time(at, h),
        None if o.status.is_open() => "dormant".into(),
        None => "no".into(),
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
    fn optional() -> &'static [&'static str] {
        &["order", "time", "amount"]
    }
    fn cells(&self, h: bool) -> Vec<String> {
        let f = &self.0;
        vec![
            f.id.to_string(),
            f.order_id.to_string(),
            time(f.filled_at, h),
            f.code.clone(),
            f.side.to_string(),
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
        if let Some(path) = &self.file {
            return place_file(ctx, out, path).await;
        }
        let (code, side, quantity) = (
            self.code.as_deref().unwrap_or_default(),
            self.side.map(SideArg::as_str).unwrap_or_default(),
            self.quantity.as_deref().unwrap_or_default(),
        );
        let (limit, tif, key) = (
            self.limit.as_deref(),
            self.tif.map(TifArg::as_str),
            self.key.as_deref(),
        );
        let req = match self.stop.as_deref() {
            None => OrderRequest::parse_typed(
                code,
                side,
                quantity,
                limit,
                self.market,
                self.order_type.map(OrderTypeArg::order_type),
                tif,
                key,
            )?,
            Some(stop) => {
                OrderRequest::parse_stop(code, side, quantity, stop, limit, self.market, tif, key)?
            }
        };
        let source: SourceSpec = self.source.parse()?;
        let actor = ctx.actor()?;
        let app = ctx.app().await?;
        let user = app::resolve(&app, &actor).await?;
        let req = app::orders::price_from_book(&app, user.id, req, &source).await?;
        let placed = app::orders::place(&app, user.id, &req).await?;
        let o = &placed.order;
        render_one(out, ctx.format, &placed, |h| {
            let mut f = vec![
                ("order", o.id.to_string()),
                ("status", o.status.to_string()),
                ("code", o.code.clone()),
                ("side", o.side.to_string()),
                ("type", o.order_type.to_string()),
                ("quantity", money(o.quantity.into(), h)),
                (
                    "limit",
                    o.limit_price.map_or("market".into(), |p| money(p, h)),
                ),
                ("tif", o.tif.to_string()),
            ];
            if let Some(stop) = o.stop_price {
                f.push(("stop", money(stop, h)));
                f.push(("triggered", triggered(o, h)));
            }
            if o.status.is_open() {
                f.push((
                    "reserved",
                    if o.side == Side::Buy {
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
    /// Instead: the amendments of one order (each modify's old and new terms), oldest first.
    #[arg(long, value_name = "ORDER_ID", conflicts_with = "open")]
    amendments: Option<String>,
}

impl ListOrders {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        if let Some(id) = &self.amendments {
            return crate::modify::history(ctx, out, id).await;
        }
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

/// Places a file of orders a batch at a time (the `order_import_batch` setting): memory holds
/// one batch, whatever the file's size. Failed rows are reported as each batch is done.
async fn place_file(ctx: &Ctx, out: &mut dyn Write, path: &std::path::Path) -> Result<u8, Error> {
    use std::collections::HashMap;
    let mut reader = crate::bulk::Reader::open(
        path,
        &["email", "code", "side", "quantity"],
        &["limit", "tif", "key"],
    )?;
    let app = ctx.app().await?;
    app.caller.require_operator("--file")?;
    let mut tally = crate::bulk::Tally::default();
    loop {
        let input = reader.batch(app.tuning.order_import_batch)?;
        if input.rows.is_empty() && input.failed.is_empty() {
            break;
        }
        let emails: Vec<String> = input
            .rows
            .iter()
            .map(|(_, f)| f["email"].to_lowercase())
            .collect();
        let ids: HashMap<String, i64> = ascend::app::users::ids_by_email(&app, &emails)
            .await?
            .into_iter()
            .collect();
        let mut failed = input.failed;
        let mut rows = Vec::new();
        for (row, f) in &input.rows {
            let get = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());
            if let Err(e) = ascend::domain::Email::parse(&f["email"]) {
                failed.push((*row, e.to_string()));
                continue;
            }
            let Some(user_id) = ids.get(&f["email"].to_lowercase()).copied() else {
                failed.push((
                    *row,
                    format!("email: no active user with email {}", f["email"]),
                ));
                continue;
            };
            match OrderRequest::parse(
                &f["code"],
                &f["side"],
                &f["quantity"],
                get("limit"),
                get("limit").is_none(),
                get("tif"),
                get("key"),
            ) {
                Ok(req) => rows.push(app::orders::BulkOrder {
                    row: *row,
                    user_id,
                    req,
                }),
                Err(e) => failed.push((*row, e.to_string())),
            }
        }
        let outcomes = app::orders::place_many(&app, &rows, app.tuning.order_import_batch).await?;
        for o in outcomes {
            match o.error {
                None if o
                    .status
                    .as_deref()
                    .is_some_and(|s| s.ends_with("(replayed)")) =>
                {
                    tally.unchanged += 1
                }
                None => tally.written += 1,
                Some(e) => failed.push((o.row, e)),
            }
        }
        tally.fail(failed);
    }
    crate::bulk::finish(out, ctx.format, "orders", &tally)
}
