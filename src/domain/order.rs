//! The order: what it is and what it does, without I/O.
//!
//! Side, kind, time in force and status are typed here and read from and written to the
//! database as the text the schema checks (`as_str`, `parse`). An [`Order`]'s status changes
//! only through its methods, which allow the legal transitions:
//!
//! ```text
//! open ──fill (part)──▶ open, partially filled ──fill (rest)──▶ filled
//!   │                                   │
//!   └──────────── cancel ─▶ cancelled ◀─┤
//!   └──────────── expire (DAY) ─▶ expired ◀┘
//! ```
//!
//! The schema stores four statuses (`open`, `filled`, `cancelled`, `expired`): a partially
//! filled order is stored `open` with `0 < filled_quantity < quantity`
//! ([`Order::is_partially_filled`]). Every other transition is an [`OrderError`].
//!
//! Three pure functions are what every write path (place one, place in bulk, settle) applies:
//! [`decide`] (accept with a reservation, fill now, or reject with a [`PlaceError`]),
//! [`fill`] (the cash, fee, tax, shares, cost basis, released reservation and ledger legs of
//! one fill) and [`crosses`] (whether a resting order fills at a stock's latest price; the
//! settle query that selects candidates mirrors it).
//!
//! A stop order ([`OrderRequest::parse_stop`]) is open but dormant from its placement: it
//! reserves as the order it becomes, never fills at once, and does not cross until
//! [`triggers`] says the last price touched its trigger and [`Order::trigger`] has fired it.
//! Then it is the market order (no limit) or limit order it carries.
//!
//! [`Order::modify`] changes a resting limit order's terms (정정 / 일부취소: a new limit, a
//! smaller quantity) and returns the change of its reservation, which the store posts.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ledger::{Book, CashDelta, HoldingDelta, Leg, KRW};
use super::market_data::OrderBook;
use super::rules::{self, Instrument, Rulebook, SessionState};
use super::types::text_enum;
use super::{group_thousands, Invalid, Price, Quantity, StockCode};

text_enum!(
    /// Buy or sell.
    Side, "side", { Buy => "buy", Sell => "sell" }
);
text_enum!(
    /// Market order (fills at the current price) or limit order (at the limit or better).
    OrderKind, "kind", { Market => "market", Limit => "limit" }
);
text_enum!(
    /// DAY expires at the close, GTC rests until filled or cancelled, IOC fills what it can now
    /// and cancels the rest, FOK fills the whole quantity now or nothing.
    TimeInForce, "tif", { Day => "day", Gtc => "gtc", Ioc => "ioc", Fok => "fok" }
);
text_enum!(
    /// An order's status as stored. A partially filled order is `Open` with a filled quantity.
    OrderStatus, "status", { Open => "open", Filled => "filled", Cancelled => "cancelled", Expired => "expired" }
);

impl OrderStatus {
    /// True for `Open`, the one status that holds a reservation and may still fill.
    pub fn is_open(self) -> bool {
        self == OrderStatus::Open
    }
}

impl PartialEq<&str> for OrderStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<&str> for Side {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

// ---------------------------------------------------------------------------------------------
// KRX order types

text_enum!(
    /// The KRX order type (호가 유형), as stored in `orders.order_type`. See [`OrderType`]'s
    /// methods for what each one is.
    OrderType, "type", {
        Limit => "limit",
        Market => "market",
        ConditionalLimit => "conditional_limit",
        BestLimit => "best_limit",
        PriorityLimit => "priority_limit",
    }
);

impl OrderType {
    /// Market orders are `Market`; every other type is a limit order once it has its price.
    pub fn kind(self) -> OrderKind {
        match self {
            OrderType::Market => OrderKind::Market,
            _ => OrderKind::Limit,
        }
    }

    /// 최유리지정가 and 최우선지정가 take their limit from the order book at arrival
    /// ([`book_price`]); the other types carry the price the trader gives (or none, a market
    /// order).
    pub fn priced_from_book(self) -> bool {
        matches!(self, OrderType::BestLimit | OrderType::PriorityLimit)
    }

    /// IOC and FOK apply to limit, market and best-limit orders (as on KRX); a conditional or
    /// priority-limit order waits in the book by nature.
    pub fn takes_immediate_tif(self) -> bool {
        matches!(
            self,
            OrderType::Limit | OrderType::Market | OrderType::BestLimit
        )
    }

    /// Only continuous trading has a book to price from, and a conditional limit needs a
    /// session left to rest in: these types are refused outside the regular session and
    /// during the closing auction.
    fn continuous_only(self) -> bool {
        matches!(
            self,
            OrderType::ConditionalLimit | OrderType::BestLimit | OrderType::PriorityLimit
        )
    }

    /// 조건부지정가: a limit order in the session; what is still open at the close becomes a
    /// market order filled at the closing price (settle after the close).
    pub fn converts_at_close(self) -> bool {
        self == OrderType::ConditionalLimit
    }

    /// The name a trader reads in messages, with the Korean term.
    pub fn label(self) -> &'static str {
        match self {
            OrderType::Limit => "limit",
            OrderType::Market => "market",
            OrderType::ConditionalLimit => "conditional-limit (조건부지정가)",
            OrderType::BestLimit => "best-limit (최유리지정가)",
            OrderType::PriorityLimit => "priority-limit (최우선지정가)",
        }
    }
}

/// The side of the order book a price is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookSide {
    Ask,
    Bid,
}

impl BookSide {
    fn name(self) -> &'static str {
        match self {
            BookSide::Ask => "ask",
            BookSide::Bid => "bid",
        }
    }
}

/// Which quote of the book prices an order of this type and side: a best-limit order the
/// best opposite quote (a buy the best ask, a sell the best bid), a priority-limit order the
/// best quote of its own side (a buy the best bid, a sell the best ask). `None` for the types
/// that carry their own price.
pub fn book_side(order_type: OrderType, side: Side) -> Option<BookSide> {
    match (order_type, side) {
        (OrderType::BestLimit, Side::Buy) | (OrderType::PriorityLimit, Side::Sell) => {
            Some(BookSide::Ask)
        }
        (OrderType::BestLimit, Side::Sell) | (OrderType::PriorityLimit, Side::Buy) => {
            Some(BookSide::Bid)
        }
        _ => None,
    }
}

/// The limit price an order of this type takes from `book` at arrival: `Ok(None)` for a type
/// that carries its own price; an error when the side it reads has no quote (a stock at its
/// upper limit has no asks). The price is then checked like any limit (tick, band) by
/// [`decide`].
pub fn book_price(
    order_type: OrderType,
    side: Side,
    code: &StockCode,
    book: &OrderBook,
) -> Result<Option<Price>, PlaceError> {
    let Some(from) = book_side(order_type, side) else {
        return Ok(None);
    };
    let best = match from {
        BookSide::Ask => book.asks.first(),
        BookSide::Bid => book.bids.first(),
    };
    let level = best.ok_or(PlaceError::EmptyBookSide {
        code: code.clone(),
        order_type,
        side,
        book_side: from,
    })?;
    Ok(Some(Price::new(level.price)?))
}

/// How many of an order's shares can fill at once at `price`: the fill model's answer, which
/// [`decide`] asks of every marketable order. Ascend fills a marketable order whole at the
/// last price, so the answer is the whole quantity. A fill model bounded by traded volume
/// answers here with less; FOK then cancels unless the answer covers the whole quantity.
pub fn fillable_now(
    req: &OrderRequest,
    _stock: &StockState,
    _price: Price,
    _rules: &Rulebook,
) -> Quantity {
    req.quantity
}

/// The rules of the order type for the session: a conditional, best- or priority-limit order
/// only in continuous trading (a conditional limit also before the open, to rest for the
/// day's session), none from the closing auction on (the last 10 minutes of the session,
/// [`rules::closing_auction_starts`]).
pub fn check_type_in_session(
    req: &OrderRequest,
    state: SessionState,
    now: DateTime<Utc>,
) -> Result<(), PlaceError> {
    let t = req.order_type;
    if !t.continuous_only() {
        return Ok(());
    }
    match state {
        SessionState::PreOpen if t == OrderType::ConditionalLimit => Ok(()),
        SessionState::Open => {
            let local = now.with_timezone(&rules::kst());
            let auction = rules::closing_auction_starts(local.date_naive());
            if local.time() >= auction {
                Err(PlaceError::TypeInClosingAuction {
                    order_type: t,
                    from: auction,
                })
            } else {
                Ok(())
            }
        }
        state => Err(PlaceError::TypeOutsideSession {
            order_type: t,
            state,
        }),
    }
}

/// Why an FOK order was cancelled at once.
pub const FOK_REASON: &str = "fok: the whole quantity cannot fill now at the current price";

/// A request to place an order, parsed at the boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    pub code: StockCode,
    pub side: Side,
    pub quantity: Quantity,
    /// `None` for a market order.
    pub limit: Option<Price>,
    pub tif: TimeInForce,
    pub idempotency_key: Option<String>,
    /// The trigger of a stop order (`None` for any other order).
    pub stop: Option<Price>,
    /// Limit or market as `limit` says, or a KRX type given with `--type`.
    pub order_type: OrderType,
}

impl OrderRequest {
    /// Parses the text a person or a CSV row gives. `limit` and `market` are exclusive and one
    /// of them is required.
    pub fn parse(
        code: &str,
        side: &str,
        quantity: &str,
        limit: Option<&str>,
        market: bool,
        tif: Option<&str>,
        key: Option<&str>,
    ) -> Result<Self, Invalid> {
        Self::parse_typed(code, side, quantity, limit, market, None, tif, key)
    }

    /// [`OrderRequest::parse`] with an order type. Without one, `--limit` makes a limit order
    /// and `--market` a market order. A market order takes no limit; a limit or conditional
    /// limit needs one; a best or priority limit takes its price from the book, so none may be
    /// given. IOC and FOK go with limit, market and best-limit orders only, and a conditional
    /// limit is a DAY order.
    #[allow(clippy::too_many_arguments)]
    pub fn parse_typed(
        code: &str,
        side: &str,
        quantity: &str,
        limit: Option<&str>,
        market: bool,
        order_type: Option<OrderType>,
        tif: Option<&str>,
        key: Option<&str>,
    ) -> Result<Self, Invalid> {
        let code = StockCode::parse(code)?;
        let side: Side = side.parse()?;
        let quantity: Quantity = quantity.parse()?;
        let order_type = match (order_type, market) {
            (None, true) => OrderType::Market,
            (None, false) => OrderType::Limit,
            (Some(OrderType::Market), _) => {
                if limit.is_some() {
                    return Err(Invalid::new("limit", "a market order takes no --limit"));
                }
                OrderType::Market
            }
            (Some(t), true) => {
                return Err(Invalid::new(
                    "type",
                    format!("a {} order is not a market order: drop --market", t.label()),
                ))
            }
            (Some(t), false) if t.priced_from_book() => {
                if limit.is_some() {
                    return Err(Invalid::new(
                        "limit",
                        format!(
                            "a {} order takes its price from the order book at arrival: give no --limit",
                            t.label()
                        ),
                    ));
                }
                t
            }
            (Some(t), false) => {
                if limit.is_none() {
                    return Err(Invalid::new(
                        "limit",
                        format!("a {} order needs --limit PRICE", t.label()),
                    ));
                }
                t
            }
        };
        let market = order_type == OrderType::Market;
        let limit = match (limit, market) {
            (Some(_), true) => {
                return Err(Invalid::new(
                    "limit",
                    "give either --limit PRICE or --market, not both",
                ))
            }
            (None, false) if !order_type.priced_from_book() => {
                return Err(Invalid::new(
                    "limit",
                    "give --limit PRICE for a limit order or --market for a market order",
                ))
            }
            (Some(p), false) => Some(p.parse::<Price>()?),
            (None, _) => None,
        };
        let tif = tif.map(str::parse).transpose()?.unwrap_or(TimeInForce::Day);
        check_type_and_tif(order_type, tif)?;
        let idempotency_key = key.map(parse_key);
        Ok(OrderRequest {
            code,
            side,
            quantity,
            limit,
            tif,
            idempotency_key: idempotency_key.transpose()?,
            stop: None,
            order_type,
        })
    }

    pub fn kind(&self) -> OrderKind {
        self.order_type.kind()
    }

    /// The request with the limit its type takes from the order book ([`book_price`]); as it
    /// is for a type that carries its own price.
    pub fn priced_from(mut self, book: &OrderBook) -> Result<Self, PlaceError> {
        if let Some(price) = book_price(self.order_type, self.side, &self.code, book)? {
            self.limit = Some(price);
        }
        Ok(self)
    }
}

/// The time in force an order type allows: IOC and FOK only on limit, market and best-limit
/// orders; a conditional limit only DAY (it converts at the day's close).
fn check_type_and_tif(t: OrderType, tif: TimeInForce) -> Result<(), Invalid> {
    match tif {
        TimeInForce::Ioc | TimeInForce::Fok if !t.takes_immediate_tif() => Err(Invalid::new(
            "tif",
            format!(
                "IOC and FOK apply to limit, market and best-limit orders, not to a {} order",
                t.label()
            ),
        )),
        TimeInForce::Gtc if t.converts_at_close() => Err(Invalid::new(
            "tif",
            format!(
                "a {} order is a DAY order: what is open at the close fills at the closing price",
                t.label()
            ),
        )),
        _ => Ok(()),
    }
}

/// An idempotency key as given (`--key`): trimmed, 1 to 100 characters, no control or format
/// characters.
fn parse_key(key: &str) -> Result<String, Invalid> {
    let k = key.trim();
    super::refuse_format_chars(k, "key")?;
    if k.is_empty() || k.len() > 100 || k.chars().any(char::is_control) {
        Err(Invalid::new(
            "key",
            "must be 1 to 100 characters without control characters",
        ))
    } else {
        Ok(k.to_string())
    }
}

/// What the rules need to know of a stock: whether it trades, what kind of instrument it is,
/// and its latest price with the time it was printed.
#[derive(Debug, Clone, PartialEq)]
pub struct StockState {
    pub code: String,
    pub name: String,
    pub listed: bool,
    pub halted: bool,
    pub instrument: Instrument,
    pub price: Option<Decimal>,
    pub prev_close: Option<Decimal>,
    pub price_at: Option<DateTime<Utc>>,
}

impl StockState {
    /// The latest price when it may be traded on at `now`: printed no later than `now` and
    /// no earlier than the rulebook's freshness bound.
    pub fn fresh_price(&self, now: DateTime<Utc>, max_age: chrono::Duration) -> Option<Decimal> {
        match (self.price, self.price_at) {
            (Some(p), Some(at)) if at <= now && now - at <= max_age => Some(p),
            _ => None,
        }
    }
}

/// A user's shares of one stock: free to sell, and reserved by open sell orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shares {
    pub available: i64,
    pub reserved: i64,
}

/// What an accepted order earmarks: cash for a buy, shares for a sell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reservation {
    pub cash: Decimal,
    pub shares: i64,
}

impl Reservation {
    pub const NONE: Reservation = Reservation {
        cash: Decimal::ZERO,
        shares: 0,
    };

    /// The change it makes to the cash account.
    pub fn cash_delta(&self) -> CashDelta {
        CashDelta::reserve(self.cash)
    }

    /// The change it makes to the holding.
    pub fn holding_delta(&self) -> HoldingDelta {
        HoldingDelta::reserve(self.shares)
    }

    pub fn is_none(&self) -> bool {
        self.cash.is_zero() && self.shares == 0
    }
}

/// What the rules decide for an order, before anything is written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// An IOC order that cannot fill now: recorded as cancelled with [`IOC_REASON`], nothing
    /// reserved.
    IocCancelled,
    /// An FOK order whose whole quantity cannot fill now: recorded as cancelled with
    /// [`FOK_REASON`], nothing reserved.
    FokCancelled,
    /// Accepted to rest: reserve this much.
    Rest(Reservation),
    /// Accepted and marketable: reserve this much and fill at once at `price`.
    FillNow {
        reservation: Reservation,
        price: Price,
    },
}

impl Decision {
    /// What an accepted order reserves (nothing for an IOC cancel).
    pub fn reservation(&self) -> Reservation {
        match *self {
            Decision::IocCancelled | Decision::FokCancelled => Reservation::NONE,
            Decision::Rest(r) | Decision::FillNow { reservation: r, .. } => r,
        }
    }
}

/// Why an IOC order placed inside the session was cancelled at once.
pub const IOC_REASON: &str = "ioc: not marketable at the current price";

/// Why the rules refuse an order. Each message names the field first (`field: why`), as the
/// command line prints it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlaceError {
    #[error("code: {code} ({name}) is no longer listed")]
    NotListed { code: String, name: String },
    #[error(
        "code: {code} ({name}) is halted (거래정지): it takes no orders until trading resumes"
    )]
    Halted { code: String, name: String },
    /// Off tick, outside the band, or a stored price that is not a price.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("price: no price is stored for {code}; run `ascend crawl-stocks`")]
    NoPrice { code: String },
    #[error(
        "price: the stored price of {code} is stamped {}, after the order's time {}: a price from the future is not fresh",
        kst(*at),
        kst(*now)
    )]
    FuturePrice {
        code: String,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    #[error(
        "price: the stored price of {code} is from {} ({} min old; the bound is {} min); run `ascend crawl-stocks`",
        kst(*at),
        (*now - *at).num_minutes(),
        max_age.num_minutes()
    )]
    StalePrice {
        code: String,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
        max_age: chrono::Duration,
    },
    #[error("kind: a market order cannot be placed {}; place a limit order to rest for the next session", closed_reason(*state))]
    MarketOrderOutsideSession { state: SessionState },
    #[error("tif: an {} order cannot be placed {}: it could never fill", tif.as_str().to_uppercase(), closed_reason(*state))]
    IocOutsideSession {
        tif: TimeInForce,
        state: SessionState,
    },
    #[error("type: a {} order cannot be placed {}: {}", order_type.label(), closed_reason(*state), continuous_why(*order_type))]
    TypeOutsideSession {
        order_type: OrderType,
        state: SessionState,
    },
    #[error("type: a {} order cannot be placed from {} KST, when the closing single-price auction starts: {}", order_type.label(), from.format("%H:%M"), continuous_why(*order_type))]
    TypeInClosingAuction {
        order_type: OrderType,
        from: chrono::NaiveTime,
    },
    #[error("type: the order book of {code} has no {} to price a {} {side}", book_side.name(), order_type.label())]
    EmptyBookSide {
        code: StockCode,
        order_type: OrderType,
        side: Side,
        book_side: BookSide,
    },
    #[error("stop: a stop order without --limit cannot be placed {}: it is a DAY order reserved at the session's upper price limit; give --limit for a stop-limit order", closed_reason(*state))]
    StopMarketOutsideSession { state: SessionState },
    #[error(
        "cash: insufficient cash: this order needs {} won ({quantity} × {price} + commission) but {} won is available",
        group_thousands(*needed),
        group_thousands(*available)
    )]
    InsufficientCash {
        needed: Decimal,
        quantity: Quantity,
        price: Price,
        available: Decimal,
    },
    #[error("quantity: insufficient shares of {code}: selling {selling} but {available} are available ({reserved} reserved by open sell orders)")]
    InsufficientShares {
        code: StockCode,
        selling: Quantity,
        available: i64,
        reserved: i64,
    },
}

fn kst(at: DateTime<Utc>) -> impl fmt::Display {
    at.with_timezone(&rules::kst()).format("%Y-%m-%d %H:%M KST")
}

fn closed_reason(state: SessionState) -> &'static str {
    match state {
        SessionState::PreOpen => "before the regular session (09:00 KST)",
        SessionState::AfterClose => "after the regular session closed (15:30 KST)",
        SessionState::ClosedDay => "on a day the market is closed (weekend or KRX holiday)",
        SessionState::Open => "during the session",
    }
}

fn continuous_why(t: OrderType) -> &'static str {
    if t.converts_at_close() {
        "it rests in the continuous session and converts at its close"
    } else {
        "it takes its price from the continuous order book at arrival"
    }
}

fn fresh_price(
    stock: &StockState,
    now: DateTime<Utc>,
    max_age: chrono::Duration,
) -> Result<Price, PlaceError> {
    let (Some(price), Some(at)) = (stock.price, stock.price_at) else {
        return Err(PlaceError::NoPrice {
            code: stock.code.clone(),
        });
    };
    if at > now {
        return Err(PlaceError::FuturePrice {
            code: stock.code.clone(),
            at,
            now,
        });
    }
    if now - at > max_age {
        return Err(PlaceError::StalePrice {
            code: stock.code.clone(),
            at,
            now,
            max_age,
        });
    }
    Ok(Price::new(price)?)
}

/// Applies the rulebook to an order request: the stock must be listed and not halted; the
/// order type must be one the session takes ([`check_type_in_session`]); inside the session
/// the price must be fresh and the band is around the previous close; outside it only resting
/// limit orders are taken, with the band around the latest price (the next session's base);
/// the limit (a best or priority limit's from the book, [`OrderRequest::priced_from`]) must be
/// on the tick and inside the band; cash (a market or conditional-limit buy at the upper
/// limit, plus commission) or free shares must cover it. A marketable order fills now; an IOC
/// order that is not marketable is cancelled, and an FOK order unless its whole quantity can
/// fill now ([`fillable_now`]).
pub fn decide(
    req: &OrderRequest,
    available_cash: Decimal,
    shares: Shares,
    stock: &StockState,
    rules_: &Rulebook,
    state: SessionState,
    now: DateTime<Utc>,
) -> Result<Decision, PlaceError> {
    if !stock.listed {
        return Err(PlaceError::NotListed {
            code: stock.code.clone(),
            name: stock.name.clone(),
        });
    }
    if stock.halted {
        return Err(PlaceError::Halted {
            code: stock.code.clone(),
            name: stock.name.clone(),
        });
    }
    check_type_in_session(req, state, now)?;
    if req.kind() == OrderKind::Limit && req.limit.is_none() {
        return Err(PlaceError::Invalid(Invalid::new(
            "limit",
            format!(
                "a {} order is priced from the order book before it is decided",
                req.order_type.label()
            ),
        )));
    }
    if let Some(limit) = req.limit {
        rules::check_tick(stock.instrument.kind, limit)?;
    }
    if let Some(stop) = req.stop {
        rules::check_tick(stock.instrument.kind, stop).map_err(as_stop)?;
    }
    let (market_price, base) = if state == SessionState::Open {
        let p = fresh_price(stock, now, rules_.max_price_age)?;
        (Some(p), stock.prev_close.unwrap_or(p.get()))
    } else {
        if req.stop.is_some() && req.limit.is_none() {
            return Err(PlaceError::StopMarketOutsideSession { state });
        }
        if req.limit.is_none() {
            return Err(PlaceError::MarketOrderOutsideSession { state });
        }
        if matches!(req.tif, TimeInForce::Ioc | TimeInForce::Fok) {
            return Err(PlaceError::IocOutsideSession {
                tif: req.tif,
                state,
            });
        }
        let base = stock.price.ok_or_else(|| PlaceError::NoPrice {
            code: stock.code.clone(),
        })?;
        (None, base)
    };
    // Outside the session the band is the next session's, around the latest price; a new
    // listing's first-day band applies only to its first session: before the open of that day,
    // not after its close.
    let today = rules::trade_date(now);
    let session_day = match state {
        SessionState::Open | SessionState::PreOpen => today,
        SessionState::AfterClose | SessionState::ClosedDay => today.succ_opt().unwrap_or(today),
    };
    let band = rules::band_for(&stock.instrument, base, session_day);
    if let Some(limit) = req.limit {
        band.check(limit)?;
    }
    if let Some(stop) = req.stop {
        band.check(stop).map_err(as_stop)?;
        check_stop(req.side, stop, market_price.map_or(base, Price::get))?;
    }
    // A stop order rests dormant whatever its limit: it never fills at placement.
    let fill_at = market_price
        .filter(|_| req.stop.is_none())
        .and_then(|m| rules::fill_price(req.side, req.limit, m));
    if fill_at.is_none() && req.tif == TimeInForce::Ioc {
        return Ok(Decision::IocCancelled);
    }
    if req.tif == TimeInForce::Fok {
        let whole = fill_at.is_some_and(|p| fillable_now(req, stock, p, rules_) == req.quantity);
        if !whole {
            return Ok(Decision::FokCancelled);
        }
    }
    let reservation = match req.side {
        Side::Buy => {
            // A market buy reserves at the upper limit; the difference is released on fill. So
            // does a conditional limit, which may become a market order at the close.
            let at_price = match req.limit {
                Some(l) if !req.order_type.converts_at_close() => l,
                _ => Price::new(band.upper)?,
            };
            // One that fills now reserves no less than its fill costs: a stored price may sit
            // just past the band (the crawler keeps prices within 1% of it).
            let at_price = fill_at.map_or(at_price, |p| at_price.max(p));
            let need = rules::buy_reservation(at_price, req.quantity, rules_.commission_rate).get();
            if need > available_cash {
                return Err(PlaceError::InsufficientCash {
                    needed: need,
                    quantity: req.quantity,
                    price: at_price,
                    available: available_cash,
                });
            }
            Reservation {
                cash: need,
                shares: 0,
            }
        }
        Side::Sell => {
            if req.quantity.get() > shares.available {
                return Err(PlaceError::InsufficientShares {
                    code: req.code.clone(),
                    selling: req.quantity,
                    available: shares.available,
                    reserved: shares.reserved,
                });
            }
            Reservation {
                cash: Decimal::ZERO,
                shares: req.quantity.get(),
            }
        }
    };
    Ok(match fill_at {
        Some(price) => Decision::FillNow { reservation, price },
        None => Decision::Rest(reservation),
    })
}

/// A transition the order's state does not allow, or a fill its reservation cannot pay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("the order is already {status} and cannot be {action}")]
    Closed {
        status: OrderStatus,
        action: &'static str,
    },
    #[error("only a DAY order expires; this one is {0}")]
    NotDay(TimeInForce),
    #[error("a fill of {fill} shares exceeds the {remaining} the order has left")]
    Overfill { fill: i64, remaining: i64 },
    #[error("the order reserved {reserved} but its fill needs {needed}")]
    ReservationShort { reserved: String, needed: String },
    #[error("the order is not a stop order: it has no trigger")]
    NotStop,
    #[error("the stop order has already triggered")]
    AlreadyTriggered,
    #[error("the stop order is dormant: it fills only once triggered")]
    Dormant,
}

/// An order: what was asked (fixed at placement) and where it stands (changed only by
/// [`Order::record_fill`], [`Order::cancel`] and [`Order::expire`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub user_id: i64,
    pub code: StockCode,
    pub side: Side,
    pub kind: OrderKind,
    pub tif: TimeInForce,
    pub quantity: Quantity,
    pub limit: Option<Price>,
    /// The commission rate in force when it was placed.
    pub fee_rate: Decimal,
    /// ETF and ETN sells pay no securities transaction tax.
    pub sell_tax_exempt: bool,
    /// A stop order's trigger.
    pub stop: Option<Price>,
    status: OrderStatus,
    filled: i64,
    reserved: Reservation,
    /// Whether a stop order has triggered (changed only by [`Order::trigger`]).
    triggered: bool,
}

impl Order {
    /// A new open order holding its reservation.
    pub fn placed(
        user_id: i64,
        req: &OrderRequest,
        fee_rate: Decimal,
        sell_tax_exempt: bool,
        reservation: Reservation,
    ) -> Self {
        Order {
            user_id,
            code: req.code.clone(),
            side: req.side,
            kind: req.kind(),
            tif: req.tif,
            quantity: req.quantity,
            limit: req.limit,
            fee_rate,
            sell_tax_exempt,
            stop: req.stop,
            status: OrderStatus::Open,
            filled: 0,
            reserved: reservation,
            triggered: false,
        }
    }

    /// An order as stored, where it stands. Refuses a state the transitions cannot reach:
    /// a filled quantity beyond the quantity, a closed order holding a reservation, a filled
    /// order not filled in full.
    #[allow(clippy::too_many_arguments)]
    pub fn stored(
        user_id: i64,
        code: StockCode,
        side: Side,
        kind: OrderKind,
        tif: TimeInForce,
        quantity: Quantity,
        limit: Option<Price>,
        fee_rate: Decimal,
        sell_tax_exempt: bool,
        status: OrderStatus,
        filled: i64,
        reserved: Reservation,
    ) -> Result<Self, Invalid> {
        let bad = |why: &str| Err(Invalid::new("order", why.to_string()));
        if filled < 0 || filled > quantity.get() {
            return bad("its filled quantity is outside 0..=quantity");
        }
        if !status.is_open() && !reserved.is_none() {
            return bad("a closed order holds a reservation");
        }
        if status == OrderStatus::Filled && filled != quantity.get() {
            return bad("a filled order is not filled in full");
        }
        Ok(Order {
            user_id,
            code,
            side,
            kind,
            tif,
            quantity,
            limit,
            fee_rate,
            sell_tax_exempt,
            stop: None,
            status,
            filled,
            reserved,
            triggered: false,
        })
    }

    pub fn status(&self) -> OrderStatus {
        self.status
    }
    pub fn filled_quantity(&self) -> i64 {
        self.filled
    }
    pub fn remaining(&self) -> i64 {
        self.quantity.get() - self.filled
    }
    pub fn reserved(&self) -> Reservation {
        self.reserved
    }
    pub fn is_partially_filled(&self) -> bool {
        self.status.is_open() && self.filled > 0
    }

    fn require_open(&self, action: &'static str) -> Result<(), OrderError> {
        if self.status.is_open() {
            Ok(())
        } else {
            Err(OrderError::Closed {
                status: self.status,
                action,
            })
        }
    }

    /// Open (or partially filled) → cancelled; returns the release of its reservation.
    pub fn cancel(&mut self) -> Result<Release, OrderError> {
        self.require_open("cancelled")?;
        Ok(self.close(OrderStatus::Cancelled))
    }

    /// Open (or partially filled) DAY order → expired; returns the release of its reservation.
    pub fn expire(&mut self) -> Result<Release, OrderError> {
        self.require_open("expired")?;
        if self.tif != TimeInForce::Day {
            return Err(OrderError::NotDay(self.tif));
        }
        Ok(self.close(OrderStatus::Expired))
    }

    fn close(&mut self, status: OrderStatus) -> Release {
        let r = std::mem::take(&mut self.reserved);
        self.status = status;
        Release {
            cash: -r.cash_delta(),
            holding: -r.holding_delta(),
        }
    }

    /// Open → partially filled or filled: applies what [`fill`] computed for this order.
    pub fn record_fill(&mut self, effects: &FillEffects) -> Result<(), OrderError> {
        self.require_open("filled")?;
        let q = effects.quantity.get();
        if q > self.remaining() {
            return Err(OrderError::Overfill {
                fill: q,
                remaining: self.remaining(),
            });
        }
        self.filled += q;
        self.reserved.cash -= effects.released.cash;
        self.reserved.shares -= effects.released.shares;
        if self.filled == self.quantity.get() {
            self.status = OrderStatus::Filled;
        }
        Ok(())
    }
}

/// What closing an order does: its reservation goes back to available.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Release {
    pub cash: CashDelta,
    pub holding: HoldingDelta,
}

/// A user's position in one stock before a fill: shares held (available + reserved) and
/// their purchase cost. A sell takes its cost basis from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub shares: i64,
    pub cost: Decimal,
}

/// Everything one fill does.
#[derive(Debug, Clone, PartialEq)]
pub struct FillEffects {
    pub price: Price,
    pub quantity: Quantity,
    /// Amount, fee, tax and net cash (paid by a buy, received by a sell).
    pub amounts: rules::FillAmounts,
    /// The change of the user's cash account (the reservation freed included).
    pub cash: CashDelta,
    /// The change of the user's holding: shares and cost basis (the reservation freed included).
    pub holding: HoldingDelta,
    /// The part of the order's reservation this fill frees.
    pub released: Reservation,
    /// The purchase cost of the shares sold (a sell), from the position's average.
    pub sold_cost: Decimal,
    /// The ledger legs of the fill; they balance per asset.
    pub legs: Vec<Leg>,
}

/// One fill of `quantity` shares of an open order at `price` on trade date `day` (fee at the
/// order's rate, tax by the date). A buy pays from its reservation and frees the rest when it
/// completes the order (a partial fill frees what it pays); a sell delivers reserved shares
/// and takes its cost basis from `held` at the position's average cost (4 decimals).
pub fn fill(
    order: &Order,
    price: Price,
    quantity: Quantity,
    held: Position,
    day: NaiveDate,
) -> Result<FillEffects, OrderError> {
    order.require_open("filled")?;
    if order.is_dormant() {
        return Err(OrderError::Dormant);
    }
    let q = quantity.get();
    if q > order.remaining() {
        return Err(OrderError::Overfill {
            fill: q,
            remaining: order.remaining(),
        });
    }
    let completes = q == order.remaining();
    let amounts = rules::fill_amounts(
        order.side,
        price,
        quantity,
        order.fee_rate,
        day,
        order.sell_tax_exempt,
    );
    let (amount, fee, tax, net) = (
        amounts.amount.get(),
        amounts.fee.get(),
        amounts.tax.get(),
        amounts.net.get(),
    );
    let user = Some(order.user_id);
    let code = order.code.as_str();
    let shares = quantity.decimal();
    let r = order.reserved;
    Ok(match order.side {
        Side::Buy => {
            // A partial fill frees the filled shares' part of the reservation (what is left
            // keeps its part, rounded up so it still covers the rest at the reserve price),
            // and never less than it pays.
            let released = if completes {
                r.cash
            } else {
                let left = order.remaining() - q;
                let kept = (r.cash * Decimal::from(left) / Decimal::from(order.remaining())).ceil();
                (r.cash - kept).max(net)
            };
            if net > released || released > r.cash {
                return Err(OrderError::ReservationShort {
                    reserved: r.cash.to_string(),
                    needed: net.to_string(),
                });
            }
            FillEffects {
                price,
                quantity,
                amounts,
                // The reservation is freed; the cost leaves the cash; the shares arrive.
                cash: CashDelta {
                    available: released - net,
                    reserved: -released,
                },
                holding: HoldingDelta {
                    available: q,
                    reserved: 0,
                    cost: amount,
                },
                released: Reservation {
                    cash: released,
                    shares: 0,
                },
                sold_cost: Decimal::ZERO,
                legs: nonzero(vec![
                    Leg::new(user, Book::Cash, KRW, -net),
                    Leg::new(None, Book::Market, KRW, amount),
                    Leg::new(None, Book::Fees, KRW, fee),
                    Leg::new(user, Book::Shares, code, shares),
                    Leg::new(None, Book::Market, code, -shares),
                ]),
            }
        }
        Side::Sell => {
            let released = if completes { r.shares } else { q };
            if q > released || released > r.shares {
                return Err(OrderError::ReservationShort {
                    reserved: r.shares.to_string(),
                    needed: q.to_string(),
                });
            }
            let sold_cost = if held.shares > 0 {
                (held.cost * shares / Decimal::from(held.shares)).round_dp(4)
            } else {
                Decimal::ZERO
            };
            FillEffects {
                price,
                quantity,
                amounts,
                // The reserved shares leave; the proceeds less fee and tax arrive.
                cash: CashDelta {
                    available: net,
                    reserved: Decimal::ZERO,
                },
                holding: HoldingDelta {
                    available: released - q,
                    reserved: -released,
                    cost: -sold_cost,
                },
                released: Reservation {
                    cash: Decimal::ZERO,
                    shares: released,
                },
                sold_cost,
                legs: nonzero(vec![
                    Leg::new(user, Book::Shares, code, -shares),
                    Leg::new(None, Book::Market, code, shares),
                    Leg::new(None, Book::Market, KRW, -amount),
                    Leg::new(user, Book::Cash, KRW, net),
                    Leg::new(None, Book::Fees, KRW, fee),
                    Leg::new(None, Book::Taxes, KRW, tax),
                ]),
            }
        }
    })
}

fn nonzero(legs: Vec<Leg>) -> Vec<Leg> {
    legs.into_iter().filter(|l| !l.amount.is_zero()).collect()
}

/// How much of a crossed resting order settle fills: the `fill_model` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FillModel {
    /// The whole remaining quantity, whatever traded (`full`).
    #[default]
    Full,
    /// At most RATE × the shares the stock traded since settle last looked at it (from the
    /// crawled cumulative volume), shared out among all users' crossed orders of one side in
    /// priority order ([`allocate`]); what is left stays open, partially filled
    /// (`volume:RATE`, 0 < RATE ≤ 1).
    Volume(Decimal),
}

impl FillModel {
    /// Reads `full` or `volume:RATE`.
    pub fn parse(v: &str) -> Result<FillModel, Invalid> {
        let v = v.trim();
        if v == "full" {
            return Ok(FillModel::Full);
        }
        let bad = || {
            Invalid::new(
                "fill_model",
                format!("{v:?} must be full or volume:RATE with 0 < RATE <= 1 (e.g. volume:0.1)"),
            )
        };
        let rate = v
            .strip_prefix("volume:")
            .and_then(|r| Decimal::from_str(r.trim()).ok())
            .ok_or_else(bad)?;
        if rate <= Decimal::ZERO || rate > Decimal::ONE {
            return Err(bad());
        }
        Ok(FillModel::Volume(rate.normalize()))
    }
}

impl fmt::Display for FillModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FillModel::Full => f.write_str("full"),
            FillModel::Volume(rate) => write!(f, "volume:{rate}"),
        }
    }
}

/// The shares one side's crossed orders of a stock may fill under `volume:RATE` when the stock
/// traded `traded` shares since settle last looked at it: RATE × traded, rounded down. A
/// cumulative volume that went down (a new day, a corrected feed) counts as nothing traded.
pub fn volume_allowance(rate: Decimal, traded: i64) -> i64 {
    use rust_decimal::prelude::ToPrimitive;
    (rate * Decimal::from(traded.max(0)))
        .floor()
        .to_i64()
        .unwrap_or(i64::MAX)
}

/// Shares `allowance` out among crossed orders given in priority order by what each has left:
/// each in turn takes what it has left or what the allowance still holds, whichever is less,
/// until the allowance is spent. Returns the quantity of each order that fills (the orders
/// after the allowance is spent are not listed).
///
/// The priority is the exchange's: price first (the highest limit of a buy, the lowest of a
/// sell; an order without a limit before all), then time (`queued_at`: placement, or the
/// latest modify that changed the price), then id.
pub fn allocate(allowance: i64, remaining: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut left = allowance.max(0);
    let mut out = Vec::new();
    for r in remaining {
        if left == 0 {
            break;
        }
        let q = r.min(left);
        out.push(q);
        left -= q;
    }
    out
}

/// Whether a resting order fills now at the stock's latest price: an open order, not a dormant
/// stop, of a listed, not halted stock whose price is fresh at `now` (see
/// [`StockState::fresh_price`]), that is a limit order (a triggered stop-limit included) at or
/// below the limit of a buy, at or above the limit of a sell, or a triggered stop-market order
/// (at any price). The settle query that selects orders to fill says the same in SQL.
pub fn crosses(order: &Order, stock: &StockState, now: DateTime<Utc>, rules_: &Rulebook) -> bool {
    if !order.status.is_open() || order.is_dormant() {
        return false;
    }
    if !stock.listed || stock.halted {
        return false;
    }
    let Some(price) = stock.fresh_price(now, rules_.max_price_age) else {
        return false;
    };
    match (order.kind, order.limit) {
        (OrderKind::Limit, Some(limit)) => match order.side {
            Side::Buy => price <= limit.get(),
            Side::Sell => price >= limit.get(),
        },
        (OrderKind::Market, _) => order.is_triggered(),
        (OrderKind::Limit, None) => false,
    }
}

// --- Stop orders ------------------------------------------------------------------------------

impl OrderRequest {
    /// Parses a stop order: `stop` is the trigger; with `limit` it becomes a limit order when
    /// triggered (stop-limit), without it a market order (stop-market). A stop order rests
    /// until triggered, so it takes DAY or GTC, not IOC (nor any fill-now condition); a
    /// stop-market order is DAY only: it reserves as a market order does, at the session's
    /// upper price limit, and a later session's band could be higher. `--market` is refused:
    /// without `--limit` the order is already a market order once triggered.
    #[allow(clippy::too_many_arguments)]
    pub fn parse_stop(
        code: &str,
        side: &str,
        quantity: &str,
        stop: &str,
        limit: Option<&str>,
        market: bool,
        tif: Option<&str>,
        key: Option<&str>,
    ) -> Result<Self, Invalid> {
        if market {
            return Err(Invalid::new(
                "stop",
                "a stop order becomes a market order when triggered unless --limit is given: drop --market",
            ));
        }
        let mut req = OrderRequest::parse(code, side, quantity, limit, limit.is_none(), tif, key)?;
        req.stop = Some(stop.parse::<Price>().map_err(as_stop)?);
        if !matches!(req.tif, TimeInForce::Day | TimeInForce::Gtc) {
            return Err(Invalid::new(
                "tif",
                format!(
                    "a stop order rests until its trigger is touched: it takes day or gtc, not {}",
                    req.tif
                ),
            ));
        }
        if req.limit.is_none() && req.tif != TimeInForce::Day {
            return Err(Invalid::new(
                "tif",
                "a stop order without --limit is a DAY order (it reserves at the day's upper price limit); give --limit for a GTC stop-limit order",
            ));
        }
        Ok(req)
    }
}

/// A rule of the price field applied to a stop's trigger: named `stop`.
fn as_stop(e: Invalid) -> Invalid {
    Invalid {
        field: "stop",
        rule: e.rule,
    }
}

/// A stop must wait on the side it watches: a buy stop above the last price (it triggers when
/// the price rises to it), a sell stop below (when the price falls to it). At the last price
/// or beyond it, it would trigger at once: that is a market or limit order.
fn check_stop(side: Side, stop: Price, last: Decimal) -> Result<(), Invalid> {
    let (ok, rule) = match side {
        Side::Buy => (stop.get() > last, "a buy stop must be above"),
        Side::Sell => (stop.get() < last, "a sell stop must be below"),
    };
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            "stop",
            format!(
                "{rule} the last price ({} won), or it would trigger at once; {stop} is not",
                group_thousands(last)
            ),
        ))
    }
}

/// Whether a dormant stop order triggers at `last_price`: a buy stop when the price is at or
/// above its trigger, a sell stop when at or below. Settle applies it only to a fresh price of
/// a listed, not halted stock (the price [`crosses`] would fill on); its trigger statement
/// says the same in SQL.
pub fn triggers(order: &Order, last_price: Price) -> bool {
    match (order.is_dormant(), order.stop) {
        (true, Some(stop)) => match order.side {
            Side::Buy => last_price >= stop,
            Side::Sell => last_price <= stop,
        },
        _ => false,
    }
}

impl Order {
    /// A stored order with its stop: its trigger and whether it has fired. Refuses a trigger
    /// fired without a stop.
    pub fn with_stop(mut self, stop: Option<Price>, triggered: bool) -> Result<Self, Invalid> {
        if triggered && stop.is_none() {
            return Err(Invalid::new(
                "order",
                "an order without a stop has triggered",
            ));
        }
        self.stop = stop;
        self.triggered = triggered;
        Ok(self)
    }

    /// An open stop order that has not triggered: it holds its reservation but cannot fill.
    pub fn is_dormant(&self) -> bool {
        self.status.is_open() && self.stop.is_some() && !self.triggered
    }

    /// A stop order that has triggered (it is then the market or limit order it carries).
    pub fn is_triggered(&self) -> bool {
        self.stop.is_some() && self.triggered
    }

    /// Dormant → triggered: the stop order becomes the market or limit order it carries,
    /// keeping its reservation.
    pub fn trigger(&mut self) -> Result<(), OrderError> {
        self.require_open("triggered")?;
        if self.stop.is_none() {
            return Err(OrderError::NotStop);
        }
        if self.triggered {
            return Err(OrderError::AlreadyTriggered);
        }
        self.triggered = true;
        Ok(())
    }
}

// --- Modify (정정 / 일부취소) ---------------------------------------------------------------

/// What the owner of a resting limit order asks to change (`ascend modify`): a new limit, a
/// smaller quantity, or both. The quantity is the order's new quantity in all, the shares
/// already filled included, as `orders` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Amendment {
    pub limit: Option<Price>,
    pub quantity: Option<Quantity>,
    pub idempotency_key: Option<String>,
}

impl Amendment {
    /// Parses the text a person gives; at least one of limit and quantity is required.
    pub fn parse(
        limit: Option<&str>,
        quantity: Option<&str>,
        key: Option<&str>,
    ) -> Result<Self, Invalid> {
        if limit.is_none() && quantity.is_none() {
            return Err(Invalid::new(
                "limit",
                "give a new --limit PRICE, a smaller --quantity Q, or both",
            ));
        }
        Ok(Amendment {
            limit: limit.map(str::parse).transpose()?,
            quantity: quantity.map(str::parse).transpose()?,
            idempotency_key: key.map(parse_key).transpose()?,
        })
    }
}

/// A limit order's terms: its limit and its quantity in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub limit: Price,
    pub quantity: Quantity,
}

/// What [`Order::modify`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Modified {
    pub old: Terms,
    pub new: Terms,
    /// What the order reserves now.
    pub reservation: Reservation,
    /// The new reservation less the old one: a positive cash amount earmarks more of the
    /// available cash, a negative one (or negative shares) frees part of the reservation.
    pub delta: Reservation,
    /// The price changed: the order loses its time priority and queues anew from now. A
    /// smaller quantity alone keeps its place.
    pub requeued: bool,
}

/// Why a modify is refused. Each message names the field first, as the command line prints it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModifyError {
    #[error("order: the order is already {status} and cannot be modified")]
    Closed { status: OrderStatus },
    #[error("kind: only a resting limit order can be modified; this one is a {kind} order")]
    NotLimit { kind: OrderKind },
    #[error("tif: an IOC order never rests, so it cannot be modified")]
    Ioc,
    #[error("stop: a dormant stop order cannot be modified; cancel it and place a new one")]
    DormantStop,
    #[error("type: a conditional-limit order reserves for its fill at the close and cannot be modified; cancel it and place a new one")]
    Conditional,
    /// A DAY order whose session has closed: it can no longer trade and expires at the next
    /// settle.
    #[error("tif: a DAY order lives for one session, and this one's closed at {} KST; it expires at the next settle and cannot be modified (place a new order for the next session)", .closed.with_timezone(&rules::kst()).format("%Y-%m-%d %H:%M"))]
    SessionEnded { closed: DateTime<Utc> },
    #[error(
        "{field}: the order already has these terms ({quantity} at {limit}): nothing to modify"
    )]
    NoChange {
        field: &'static str,
        quantity: Quantity,
        limit: Price,
    },
    #[error(
        "quantity: KRX does not raise an order's quantity by modification ({from} → {to}); place a new order for the other {} share{}",
        to.get() - from.get(),
        if to.get() - from.get() == 1 { "" } else { "s" }
    )]
    QuantityRaised { from: Quantity, to: Quantity },
    #[error(
        "quantity: {filled} shares of this order are filled already, so its new quantity must be more than {filled} (not {to}); cancel the order to stop the rest"
    )]
    QuantityFilled { filled: i64, to: Quantity },
    /// The new price breaks a rule of placement: off the tick, outside the band, a halted or
    /// unlisted stock, no fresh price in the session.
    #[error(transparent)]
    Rule(PlaceError),
    #[error(
        "cash: insufficient cash: the new terms reserve {} won ({remaining} × {price} + commission), {} more than the order holds, but {} won is available",
        group_thousands(*needed),
        group_thousands(*extra),
        group_thousands(*available)
    )]
    InsufficientCash {
        needed: Decimal,
        extra: Decimal,
        remaining: Quantity,
        price: Price,
        available: Decimal,
    },
}

impl From<Invalid> for ModifyError {
    fn from(e: Invalid) -> Self {
        ModifyError::Rule(PlaceError::Invalid(e))
    }
}

impl Order {
    /// Open (or partially filled) limit order → the same order on new terms (정정 / 일부취소);
    /// returns the old and new terms and the change of its reservation. A refused modify
    /// changes nothing.
    ///
    /// - A new limit is a new bid for what is left: it must pass the rules of placement
    ///   ([`decide`]: listed, not halted, a fresh price in the session, on the tick, inside
    ///   the band), and the order reserves what placing the remaining quantity at that limit
    ///   reserves (the rulebook's `buy_reservation` at the order's own commission rate; a sell
    ///   its remaining shares); `available_cash` must cover any increase. The order queues
    ///   anew ([`Modified::requeued`]). A new limit that crosses the price still rests: the
    ///   next settle fills it.
    /// - A smaller quantity frees what the shares taken off reserved, and keeps the order's
    ///   place. It must stay above the filled quantity; a larger one is refused (KRX does
    ///   not raise a quantity by modification: that is a new order).
    ///
    /// A sell never needs more shares: its quantity only shrinks. `shares` is the user's
    /// holding of the stock as it stands, this order's reservation included.
    #[allow(clippy::too_many_arguments)]
    pub fn modify(
        &mut self,
        change: &Amendment,
        available_cash: Decimal,
        shares: Shares,
        stock: &StockState,
        rules_: &Rulebook,
        state: SessionState,
        now: DateTime<Utc>,
    ) -> Result<Modified, ModifyError> {
        if !self.status.is_open() {
            return Err(ModifyError::Closed {
                status: self.status,
            });
        }
        let (OrderKind::Limit, Some(limit)) = (self.kind, self.limit) else {
            return Err(ModifyError::NotLimit { kind: self.kind });
        };
        if self.tif == TimeInForce::Ioc {
            return Err(ModifyError::Ioc);
        }
        if self.is_dormant() {
            return Err(ModifyError::DormantStop);
        }
        let old = Terms {
            limit,
            quantity: self.quantity,
        };
        let new = Terms {
            limit: change.limit.unwrap_or(limit),
            quantity: change.quantity.unwrap_or(self.quantity),
        };
        if new == old {
            return Err(ModifyError::NoChange {
                field: if change.limit.is_some() {
                    "limit"
                } else {
                    "quantity"
                },
                quantity: old.quantity,
                limit,
            });
        }
        if new.quantity > old.quantity {
            return Err(ModifyError::QuantityRaised {
                from: old.quantity,
                to: new.quantity,
            });
        }
        if new.quantity.get() <= self.filled {
            return Err(ModifyError::QuantityFilled {
                filled: self.filled,
                to: new.quantity,
            });
        }
        let remaining = Quantity::new(new.quantity.get() - self.filled)?;
        let held = self.reserved;
        let requeued = new.limit != old.limit;
        let reservation = if requeued {
            let req = OrderRequest {
                code: self.code.clone(),
                side: self.side,
                quantity: remaining,
                limit: Some(new.limit),
                tif: self.tif,
                idempotency_key: None,
                stop: None,
                order_type: OrderType::Limit,
            };
            // The order keeps the commission rate it was placed with; its own reservation is
            // free to be used again.
            let own = Rulebook {
                commission_rate: self.fee_rate,
                ..*rules_
            };
            let free = Shares {
                available: shares.available + held.shares,
                reserved: shares.reserved - held.shares,
            };
            match decide(
                &req,
                available_cash + held.cash,
                free,
                stock,
                &own,
                state,
                now,
            ) {
                Ok(Decision::IocCancelled) => return Err(ModifyError::Ioc),
                Ok(d) => d.reservation(),
                Err(PlaceError::InsufficientCash { needed, .. }) => {
                    return Err(ModifyError::InsufficientCash {
                        needed,
                        extra: needed - held.cash,
                        remaining,
                        price: new.limit,
                        available: available_cash,
                    })
                }
                Err(e) => return Err(ModifyError::Rule(e)),
            }
        } else {
            self.reservation_for(new.limit, remaining)
        };
        let delta = Reservation {
            cash: reservation.cash - held.cash,
            shares: reservation.shares - held.shares,
        };
        // What the modify takes must be free (a smaller quantity alone only frees).
        if delta.cash > available_cash {
            return Err(ModifyError::InsufficientCash {
                needed: reservation.cash,
                extra: delta.cash,
                remaining,
                price: new.limit,
                available: available_cash,
            });
        }
        if delta.shares > shares.available {
            return Err(ModifyError::Rule(PlaceError::InsufficientShares {
                code: self.code.clone(),
                selling: remaining,
                available: shares.available,
                reserved: shares.reserved,
            }));
        }
        self.quantity = new.quantity;
        self.limit = Some(new.limit);
        self.reserved = reservation;
        Ok(Modified {
            old,
            new,
            reservation,
            delta,
            requeued,
        })
    }

    /// What a resting limit order for `remaining` shares at `limit` reserves: the rulebook's
    /// buy reservation at the order's commission rate, or the shares of a sell.
    fn reservation_for(&self, limit: Price, remaining: Quantity) -> Reservation {
        match self.side {
            Side::Buy => Reservation {
                cash: rules::buy_reservation(limit, remaining, self.fee_rate).get(),
                shares: 0,
            },
            Side::Sell => Reservation {
                cash: Decimal::ZERO,
                shares: remaining.get(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::balanced;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    /// Tuesday 2026-03-03, 10:00 KST: inside the session.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 3, 1, 0, 0).unwrap()
    }

    fn req(side: &str, qty: &str, limit: Option<&str>, tif: &str) -> OrderRequest {
        OrderRequest::parse("005930", side, qty, limit, limit.is_none(), Some(tif), None).unwrap()
    }

    fn stock(price: i64) -> StockState {
        StockState {
            code: "005930".into(),
            name: "삼성전자".into(),
            listed: true,
            halted: false,
            instrument: Instrument::common(),
            price: Some(Decimal::from(price)),
            prev_close: Some(dec!(10000)),
            price_at: Some(now() - chrono::Duration::minutes(1)),
        }
    }

    fn decide_now(
        r: &OrderRequest,
        cash: i64,
        shares: i64,
        s: &StockState,
    ) -> Result<Decision, PlaceError> {
        let held = Shares {
            available: shares,
            reserved: 0,
        };
        decide(
            r,
            Decimal::from(cash),
            held,
            s,
            &Rulebook::default(),
            SessionState::Open,
            now(),
        )
    }

    fn open_order(side: &str, qty: i64, limit: i64, tif: &str) -> Order {
        let r = req(side, &qty.to_string(), Some(&limit.to_string()), tif);
        let reservation = match r.side {
            Side::Buy => Reservation {
                cash: rules::buy_reservation(r.limit.unwrap(), r.quantity, dec!(0.00015)).get(),
                shares: 0,
            },
            Side::Sell => Reservation {
                cash: Decimal::ZERO,
                shares: qty,
            },
        };
        Order::placed(7, &r, dec!(0.00015), false, reservation)
    }

    fn p(v: i64) -> Price {
        Price::new(Decimal::from(v)).unwrap()
    }
    fn q(v: i64) -> Quantity {
        Quantity::new(v).unwrap()
    }
    fn day() -> NaiveDate {
        rules::trade_date(now())
    }

    #[test]
    fn a_limit_below_the_price_rests_with_its_reservation() {
        let d = decide_now(
            &req("buy", "10", Some("9900"), "day"),
            1_000_000,
            0,
            &stock(10_000),
        );
        // 99,000 + 14 commission (0.015%, floored).
        assert_eq!(
            d.unwrap(),
            Decision::Rest(Reservation {
                cash: dec!(99014),
                shares: 0
            })
        );
    }

    #[test]
    fn a_marketable_order_fills_now_at_the_market_price() {
        let d = decide_now(
            &req("buy", "10", Some("10100"), "gtc"),
            1_000_000,
            0,
            &stock(10_000),
        );
        assert!(matches!(d, Ok(Decision::FillNow { price, .. }) if price == p(10_000)));
        let d = decide_now(&req("sell", "3", None, "day"), 0, 5, &stock(10_000)).unwrap();
        assert_eq!(
            d,
            Decision::FillNow {
                reservation: Reservation {
                    cash: Decimal::ZERO,
                    shares: 3
                },
                price: p(10_000)
            }
        );
    }

    #[test]
    fn a_market_buy_reserves_at_the_upper_limit() {
        let d = decide_now(&req("buy", "1", None, "day"), 1_000_000, 0, &stock(10_000)).unwrap();
        // Upper limit of 10,000: 13,000; plus 1 won of commission.
        assert_eq!(d.reservation().cash, dec!(13001));
    }

    #[test]
    fn refusals_keep_their_messages() {
        let e = decide_now(
            &req("buy", "10", Some("10000"), "day"),
            50_000,
            0,
            &stock(10_000),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cash: insufficient cash: this order needs 100,015 won (10 × 10,000 + commission) but 50,000 won is available"
        );
        assert!(matches!(e, PlaceError::InsufficientCash { needed, .. } if needed == dec!(100015)));
        let e = decide_now(
            &req("sell", "6", Some("10000"), "day"),
            0,
            5,
            &stock(10_000),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "quantity: insufficient shares of 005930: selling 6 but 5 are available (0 reserved by open sell orders)"
        );
        let mut s = stock(10_000);
        s.listed = false;
        let e = decide_now(&req("buy", "1", None, "day"), 1_000_000, 0, &s).unwrap_err();
        assert_eq!(e.to_string(), "code: 005930 (삼성전자) is no longer listed");
        let mut s = stock(10_000);
        s.halted = true;
        let e = decide_now(&req("buy", "1", None, "day"), 1_000_000, 0, &s).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("code: 005930 (삼성전자) is halted"));
        let mut s = stock(10_000);
        s.price_at = Some(now() - chrono::Duration::minutes(20));
        let e = decide_now(&req("buy", "1", None, "day"), 1_000_000, 0, &s).unwrap_err();
        assert_eq!(
            e.to_string(),
            "price: the stored price of 005930 is from 2026-03-03 09:40 KST (20 min old; the bound is 15 min); run `ascend crawl-stocks`"
        );
        s.price_at = Some(now() + chrono::Duration::minutes(1));
        let e = decide_now(&req("buy", "1", None, "day"), 1_000_000, 0, &s).unwrap_err();
        assert!(matches!(e, PlaceError::FuturePrice { .. }), "{e}");
        s.price = None;
        let e = decide_now(&req("buy", "1", None, "day"), 1_000_000, 0, &s).unwrap_err();
        assert_eq!(
            e.to_string(),
            "price: no price is stored for 005930; run `ascend crawl-stocks`"
        );
        // Off the tick, and outside the band: the field's own rule.
        let e = decide_now(
            &req("buy", "1", Some("10005"), "day"),
            1_000_000,
            0,
            &stock(10_000),
        )
        .unwrap_err();
        assert!(
            matches!(e, PlaceError::Invalid(ref i) if i.field == "price"),
            "{e}"
        );
        let e = decide_now(
            &req("buy", "1", Some("13100"), "day"),
            1_000_000,
            0,
            &stock(10_000),
        )
        .unwrap_err();
        assert!(matches!(e, PlaceError::Invalid(_)), "{e}");
    }

    #[test]
    fn outside_the_session_only_resting_limit_orders_are_taken() {
        let at = |state| {
            move |r: &OrderRequest| {
                decide(
                    r,
                    dec!(1000000),
                    Shares::default(),
                    &stock(10_000),
                    &Rulebook::default(),
                    state,
                    now(),
                )
            }
        };
        let e = at(SessionState::AfterClose)(&req("buy", "1", None, "day")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "kind: a market order cannot be placed after the regular session closed (15:30 KST); place a limit order to rest for the next session"
        );
        let e = at(SessionState::ClosedDay)(&req("buy", "1", Some("10000"), "ioc")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tif: an IOC order cannot be placed on a day the market is closed (weekend or KRX holiday): it could never fill"
        );
        // Even at a marketable limit, nothing fills before the open.
        let d = at(SessionState::PreOpen)(&req("buy", "1", Some("10500"), "day")).unwrap();
        assert!(matches!(d, Decision::Rest(_)));
    }

    #[test]
    fn an_ioc_that_cannot_fill_is_cancelled_and_reserves_nothing() {
        let d = decide_now(
            &req("buy", "1", Some("9900"), "ioc"),
            1_000_000,
            0,
            &stock(10_000),
        )
        .unwrap();
        assert_eq!(d, Decision::IocCancelled);
        assert!(d.reservation().is_none());
    }

    #[test]
    fn statuses_read_and_write_the_stored_text() {
        for s in ["open", "filled", "cancelled", "expired"] {
            assert_eq!(s.parse::<OrderStatus>().unwrap().as_str(), s);
        }
        assert!("partial".parse::<OrderStatus>().is_err());
        assert_eq!(OrderStatus::Open, "open");
        assert!(OrderStatus::Open.is_open() && !OrderStatus::Filled.is_open());
    }

    #[test]
    fn open_fills_in_parts_to_filled_and_then_accepts_nothing() {
        let mut o = open_order("buy", 10, 10_000, "gtc");
        let reserved = o.reserved().cash;
        let fx = fill(&o, p(9_900), q(4), Position::default(), day()).unwrap();
        o.record_fill(&fx).unwrap();
        assert!(o.is_partially_filled());
        assert_eq!(
            (o.status(), o.filled_quantity(), o.remaining()),
            (OrderStatus::Open, 4, 6)
        );
        // A partial buy frees the filled shares' part of its reservation (4/10 of 100,015,
        // rounded so the rest keeps 60,009): it paid 39,605 and 401 goes back to available.
        assert_eq!(fx.released.cash, dec!(40006));
        assert_eq!(fx.cash.available, dec!(40006) - fx.amounts.net.get());
        let over = fill(&o, p(9_900), q(7), Position::default(), day());
        assert_eq!(
            over.unwrap_err(),
            OrderError::Overfill {
                fill: 7,
                remaining: 6
            }
        );
        let fx2 = fill(&o, p(9_900), q(6), Position::default(), day()).unwrap();
        o.record_fill(&fx2).unwrap();
        assert_eq!(o.status(), OrderStatus::Filled);
        assert!(o.reserved().is_none());
        assert_eq!(fx.released.cash + fx2.released.cash, reserved);
        let closed = |action| OrderError::Closed {
            status: OrderStatus::Filled,
            action,
        };
        assert_eq!(
            fill(&o, p(9_900), q(1), Position::default(), day()).unwrap_err(),
            closed("filled")
        );
        assert_eq!(o.record_fill(&fx2).unwrap_err(), closed("filled"));
        assert_eq!(o.cancel().unwrap_err(), closed("cancelled"));
        assert_eq!(o.expire().unwrap_err(), closed("expired"));
    }

    #[test]
    fn cancel_and_expire_close_an_open_order_and_release_its_reservation() {
        let mut o = open_order("buy", 10, 10_000, "day");
        let r = o.reserved().cash;
        let release = o.cancel().unwrap();
        assert_eq!(o.status(), OrderStatus::Cancelled);
        assert_eq!(
            release.cash,
            CashDelta {
                available: r,
                reserved: -r
            }
        );
        assert!(o.reserved().is_none());
        assert!(o.cancel().is_err() && o.expire().is_err());
        let mut o = open_order("sell", 5, 10_000, "day");
        let release = o.expire().unwrap();
        assert_eq!(o.status(), OrderStatus::Expired);
        assert_eq!(release.holding, HoldingDelta::reserve(-5));
        assert!(o.cancel().is_err() && o.expire().is_err());
        assert!(o
            .record_fill(
                &fill(
                    &open_order("sell", 5, 10_000, "day"),
                    p(10_000),
                    q(5),
                    Position::default(),
                    day()
                )
                .unwrap()
            )
            .is_err());
        // Only a DAY order expires.
        let mut gtc = open_order("buy", 1, 10_000, "gtc");
        assert_eq!(
            gtc.expire().unwrap_err(),
            OrderError::NotDay(TimeInForce::Gtc)
        );
        assert_eq!(gtc.status(), OrderStatus::Open);
        // A partially filled order cancels what is left.
        let mut part = open_order("sell", 5, 10_000, "gtc");
        let fx = fill(
            &part,
            p(10_000),
            q(2),
            Position {
                shares: 5,
                cost: dec!(45000),
            },
            day(),
        )
        .unwrap();
        part.record_fill(&fx).unwrap();
        assert_eq!(part.cancel().unwrap().holding, HoldingDelta::reserve(-3));
        assert_eq!(
            (part.status(), part.filled_quantity()),
            (OrderStatus::Cancelled, 2)
        );
    }

    #[test]
    fn a_stored_order_must_be_a_state_the_transitions_reach() {
        let stored = |status, filled, cash| {
            Order::stored(
                1,
                StockCode::parse("005930").unwrap(),
                Side::Buy,
                OrderKind::Limit,
                TimeInForce::Day,
                q(10),
                Some(p(10_000)),
                dec!(0.00015),
                false,
                status,
                filled,
                Reservation { cash, shares: 0 },
            )
        };
        assert!(stored(OrderStatus::Open, 3, dec!(70000)).is_ok());
        assert!(stored(OrderStatus::Filled, 10, dec!(0)).is_ok());
        assert!(stored(OrderStatus::Open, 11, dec!(0)).is_err());
        assert!(stored(OrderStatus::Filled, 9, dec!(0)).is_err());
        assert!(stored(OrderStatus::Cancelled, 0, dec!(1)).is_err());
    }

    #[test]
    fn a_buy_fill_pays_from_its_reservation_and_frees_the_rest() {
        let o = open_order("buy", 10, 10_000, "day");
        assert_eq!(o.reserved().cash, dec!(100015));
        let fx = fill(&o, p(9_900), q(10), Position::default(), day()).unwrap();
        // 99,000 + 14 commission.
        assert_eq!(
            (
                fx.amounts.amount.get(),
                fx.amounts.fee.get(),
                fx.amounts.net.get()
            ),
            (dec!(99000), dec!(14), dec!(99014))
        );
        assert_eq!(
            fx.cash,
            CashDelta {
                available: dec!(1001),
                reserved: dec!(-100015)
            }
        );
        assert_eq!(
            fx.holding,
            HoldingDelta {
                available: 10,
                reserved: 0,
                cost: dec!(99000)
            }
        );
        assert!(balanced(&fx.legs));
        let user_cash: Decimal = fx
            .legs
            .iter()
            .filter(|l| l.book == Book::Cash)
            .map(|l| l.amount)
            .sum();
        assert_eq!(user_cash, fx.cash.total());
    }

    #[test]
    fn a_sell_fill_pays_fee_and_tax_and_takes_its_cost_at_the_average() {
        let o = open_order("sell", 3, 10_000, "day");
        let fx = fill(
            &o,
            p(10_500),
            q(3),
            Position {
                shares: 9,
                cost: dec!(90001),
            },
            day(),
        )
        .unwrap();
        // 31,500; fee 4; tax 0.20% in 2026: 63.
        assert_eq!(
            (
                fx.amounts.fee.get(),
                fx.amounts.tax.get(),
                fx.amounts.net.get()
            ),
            (dec!(4), dec!(63), dec!(31433))
        );
        assert_eq!(fx.sold_cost, dec!(30000.3333));
        assert_eq!(
            fx.holding,
            HoldingDelta {
                available: 0,
                reserved: -3,
                cost: dec!(-30000.3333)
            }
        );
        assert_eq!(
            fx.cash,
            CashDelta {
                available: dec!(31433),
                reserved: Decimal::ZERO
            }
        );
        assert!(balanced(&fx.legs));
        let exempt = Order {
            sell_tax_exempt: true,
            ..o
        };
        assert!(fill(&exempt, p(10_500), q(3), Position::default(), day())
            .unwrap()
            .amounts
            .tax
            .get()
            .is_zero());
    }

    #[test]
    fn a_buy_cannot_fill_above_what_it_reserved() {
        let o = open_order("buy", 10, 10_000, "day");
        let e = fill(&o, p(10_100), q(10), Position::default(), day()).unwrap_err();
        assert!(matches!(e, OrderError::ReservationShort { .. }), "{e}");
    }

    #[test]
    fn crosses_when_a_fresh_price_reaches_the_limit() {
        let rules = Rulebook::default();
        let buy = open_order("buy", 1, 10_000, "day");
        let sell = open_order("sell", 1, 10_000, "day");
        assert!(crosses(&buy, &stock(10_000), now(), &rules));
        assert!(crosses(&buy, &stock(9_990), now(), &rules));
        assert!(!crosses(&buy, &stock(10_050), now(), &rules));
        assert!(crosses(&sell, &stock(10_050), now(), &rules));
        assert!(!crosses(&sell, &stock(9_990), now(), &rules));
        let mut s = stock(9_000);
        s.price_at = Some(now() - chrono::Duration::minutes(16));
        assert!(!crosses(&buy, &s, now(), &rules));
        s.price_at = Some(now() - chrono::Duration::minutes(15));
        assert!(crosses(&buy, &s, now(), &rules));
        s.price_at = Some(now() + chrono::Duration::seconds(1));
        assert!(!crosses(&buy, &s, now(), &rules));
        let mut halted = stock(9_000);
        halted.halted = true;
        assert!(!crosses(&buy, &halted, now(), &rules));
        let mut closed = buy.clone();
        closed.cancel().unwrap();
        assert!(!crosses(&closed, &stock(9_000), now(), &rules));
        let market = Order::placed(
            1,
            &req("buy", "1", None, "day"),
            dec!(0),
            false,
            Reservation::NONE,
        );
        assert!(!crosses(&market, &stock(9_000), now(), &rules));
    }

    fn stop_req(side: &str, qty: &str, stop: &str, limit: Option<&str>, tif: &str) -> OrderRequest {
        OrderRequest::parse_stop("005930", side, qty, stop, limit, false, Some(tif), None).unwrap()
    }

    #[test]
    fn a_stop_order_parses_its_trigger_and_refuses_what_cannot_rest() {
        let r = stop_req("sell", "3", "9500", None, "day");
        assert_eq!(
            (r.stop, r.limit, r.kind()),
            (Some(p(9_500)), None, OrderKind::Market)
        );
        let r = stop_req("buy", "3", "10500", Some("10600"), "gtc");
        assert_eq!(
            (r.stop, r.limit, r.tif),
            (Some(p(10_500)), Some(p(10_600)), TimeInForce::Gtc)
        );
        let parse = |stop: &str, limit: Option<&str>, market: bool, tif: &str| {
            OrderRequest::parse_stop("005930", "buy", "1", stop, limit, market, Some(tif), None)
                .unwrap_err()
        };
        let e = parse("10500", None, true, "day");
        assert_eq!(e.field, "stop");
        assert!(e.rule.contains("drop --market"), "{e}");
        let e = parse("10500", Some("10600"), false, "ioc");
        assert_eq!(e.field, "tif");
        assert!(e.rule.contains("day or gtc, not ioc"), "{e}");
        let e = parse("10500", None, false, "gtc");
        assert_eq!(e.field, "tif");
        assert!(
            e.rule
                .starts_with("a stop order without --limit is a DAY order"),
            "{e}"
        );
        assert_eq!(parse("0", None, false, "day").field, "stop");
        assert_eq!(parse("abc", None, false, "day").field, "stop");
        // Without a stop, an order is not a stop order.
        assert_eq!(req("buy", "1", Some("10000"), "day").stop, None);
    }

    #[test]
    fn a_stop_rests_dormant_with_the_reservation_of_the_order_it_becomes() {
        // A buy stop-limit whose limit is above the price would be marketable as a limit
        // order: as a stop, it rests.
        let d = decide_now(
            &stop_req("buy", "10", "10500", Some("10600"), "gtc"),
            1_000_000,
            0,
            &stock(10_000),
        );
        // 106,000 + 15 commission.
        assert_eq!(
            d.unwrap(),
            Decision::Rest(Reservation {
                cash: dec!(106015),
                shares: 0
            })
        );
        // A stop-market buy reserves as a market buy: at the upper limit (13,000).
        let d = decide_now(
            &stop_req("buy", "1", "10500", None, "day"),
            1_000_000,
            0,
            &stock(10_000),
        );
        assert_eq!(
            d.unwrap(),
            Decision::Rest(Reservation {
                cash: dec!(13001),
                shares: 0
            })
        );
        let d = decide_now(
            &stop_req("sell", "3", "9500", None, "day"),
            0,
            5,
            &stock(10_000),
        );
        assert_eq!(
            d.unwrap(),
            Decision::Rest(Reservation {
                cash: Decimal::ZERO,
                shares: 3
            })
        );
        let e = decide_now(
            &stop_req("sell", "6", "9500", None, "day"),
            0,
            5,
            &stock(10_000),
        );
        assert!(
            matches!(e, Err(PlaceError::InsufficientShares { .. })),
            "{e:?}"
        );
    }

    fn book(asks: &[i64], bids: &[i64]) -> OrderBook {
        let level = |p: &i64| crate::domain::market_data::Level {
            price: Decimal::from(*p),
            quantity: 100,
        };
        OrderBook {
            asks: asks.iter().map(level).collect(),
            bids: bids.iter().map(level).collect(),
        }
    }

    fn typed(
        side: &str,
        limit: Option<&str>,
        t: OrderType,
        tif: &str,
    ) -> Result<OrderRequest, Invalid> {
        OrderRequest::parse_typed("005930", side, "10", limit, false, Some(t), Some(tif), None)
    }

    #[test]
    fn best_and_priority_limits_take_their_price_from_the_book() {
        let code = StockCode::parse("005930").unwrap();
        let b = book(&[10_050, 10_100], &[10_000, 9_990]);
        let price = |t, side| book_price(t, side, &code, &b).unwrap();
        // 최유리지정가: the best opposite quote; 최우선지정가: the best quote of its own side.
        assert_eq!(price(OrderType::BestLimit, Side::Buy), Some(p(10_050)));
        assert_eq!(price(OrderType::BestLimit, Side::Sell), Some(p(10_000)));
        assert_eq!(price(OrderType::PriorityLimit, Side::Buy), Some(p(10_000)));
        assert_eq!(price(OrderType::PriorityLimit, Side::Sell), Some(p(10_050)));
        for t in [
            OrderType::Limit,
            OrderType::Market,
            OrderType::ConditionalLimit,
        ] {
            assert_eq!(price(t, Side::Buy), None, "{t}");
        }
        // A stock at its upper limit has no asks: nothing to price a best-limit buy from.
        let at_upper = book(&[], &[13_000]);
        let e = book_price(OrderType::BestLimit, Side::Buy, &code, &at_upper).unwrap_err();
        assert_eq!(
            e.to_string(),
            "type: the order book of 005930 has no ask to price a best-limit (최유리지정가) buy"
        );
        assert!(book_price(OrderType::PriorityLimit, Side::Buy, &code, &at_upper).is_ok());
        let r = typed("buy", None, OrderType::BestLimit, "day")
            .unwrap()
            .priced_from(&b)
            .unwrap();
        assert_eq!((r.limit, r.kind()), (Some(p(10_050)), OrderKind::Limit));
        let plain = req("buy", "1", Some("9900"), "day")
            .priced_from(&b)
            .unwrap();
        assert_eq!(plain.limit, Some(p(9_900)));
    }

    #[test]
    fn each_type_takes_its_own_price_and_conditions() {
        let field = |r: Result<OrderRequest, Invalid>| r.unwrap_err().field;
        assert_eq!(
            field(typed("buy", Some("10000"), OrderType::BestLimit, "day")),
            "limit"
        );
        assert_eq!(
            field(typed("buy", Some("10000"), OrderType::PriorityLimit, "day")),
            "limit"
        );
        assert_eq!(
            field(typed("buy", None, OrderType::ConditionalLimit, "day")),
            "limit"
        );
        assert_eq!(
            field(typed("buy", Some("10000"), OrderType::Market, "day")),
            "limit"
        );
        assert_eq!(field(typed("buy", None, OrderType::Limit, "day")), "limit");
        // IOC and FOK: limit, market and best-limit orders only; a conditional limit is DAY.
        assert_eq!(
            field(typed("buy", None, OrderType::PriorityLimit, "ioc")),
            "tif"
        );
        assert_eq!(
            field(typed("buy", None, OrderType::PriorityLimit, "fok")),
            "tif"
        );
        assert_eq!(
            field(typed(
                "buy",
                Some("10000"),
                OrderType::ConditionalLimit,
                "fok"
            )),
            "tif"
        );
        assert_eq!(
            field(typed(
                "buy",
                Some("10000"),
                OrderType::ConditionalLimit,
                "gtc"
            )),
            "tif"
        );
        assert!(typed("buy", None, OrderType::BestLimit, "fok").is_ok());
        assert!(typed("buy", None, OrderType::Market, "ioc").is_ok());
        assert!(typed("buy", Some("10000"), OrderType::Limit, "fok").is_ok());
        assert!(typed("buy", None, OrderType::PriorityLimit, "gtc").is_ok());
        let e = OrderRequest::parse_typed(
            "005930",
            "buy",
            "1",
            None,
            true,
            Some(OrderType::BestLimit),
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(e.field, "type");
        // Without a type, --limit and --market say it, as before.
        assert_eq!(req("buy", "1", None, "day").order_type, OrderType::Market);
        assert_eq!(
            req("buy", "1", Some("1000"), "day").order_type,
            OrderType::Limit
        );
        for t in [
            "limit",
            "market",
            "conditional_limit",
            "best_limit",
            "priority_limit",
        ] {
            assert_eq!(t.parse::<OrderType>().unwrap().as_str(), t);
        }
        assert_eq!("fok".parse::<TimeInForce>().unwrap(), TimeInForce::Fok);
        assert_eq!(
            serde_json::to_string(&OrderType::ConditionalLimit).unwrap(),
            "\"conditional_limit\""
        );
    }

    #[test]
    fn a_stop_trigger_must_be_on_the_tick_in_the_band_and_beyond_the_last_price() {
        let refused = |side: &str, stop: &str| match decide_now(
            &stop_req(side, "1", stop, None, "day"),
            1_000_000,
            5,
            &stock(10_000),
        ) {
            Err(PlaceError::Invalid(i)) => i,
            other => panic!("{side} stop {stop}: {other:?}"),
        };
        let e = refused("buy", "10005");
        assert_eq!(e.field, "stop");
        assert!(e.rule.contains("not on the 10-won tick"), "{e}");
        let e = refused("buy", "13100");
        assert_eq!(e.field, "stop");
        assert!(e.rule.contains("outside today's band"), "{e}");
        assert_eq!(
            refused("buy", "10000").to_string(),
            "stop: a buy stop must be above the last price (10,000 won), or it would trigger at once; 10,000 is not"
        );
        assert!(refused("buy", "9990")
            .rule
            .starts_with("a buy stop must be above"));
        assert_eq!(
            refused("sell", "10000").to_string(),
            "stop: a sell stop must be below the last price (10,000 won), or it would trigger at once; 10,000 is not"
        );
        assert!(refused("sell", "10010")
            .rule
            .starts_with("a sell stop must be below"));
        // Outside the session the last price is the latest stored one; a stop-market order is
        // refused there, a stop-limit rests.
        let after = |r: &OrderRequest| {
            decide(
                r,
                dec!(1000000),
                Shares::default(),
                &stock(10_000),
                &Rulebook::default(),
                SessionState::AfterClose,
                now(),
            )
        };
        let e = after(&stop_req("buy", "1", "10500", None, "day")).unwrap_err();
        assert!(
            matches!(e, PlaceError::StopMarketOutsideSession { .. }),
            "{e}"
        );
        assert!(e.to_string().starts_with("stop: a stop order without --limit cannot be placed after the regular session closed"), "{e}");
        assert!(matches!(
            after(&stop_req("buy", "1", "10500", Some("10500"), "gtc")),
            Ok(Decision::Rest(_))
        ));
        assert!(matches!(
            after(&stop_req("buy", "1", "9900", Some("10500"), "gtc")),
            Err(PlaceError::Invalid(_))
        ));
    }

    fn stop_order(side: &str, stop: i64, limit: Option<i64>) -> Order {
        let limit = limit.map(|l| l.to_string());
        let tif = if limit.is_some() { "gtc" } else { "day" };
        let r = stop_req(side, "2", &stop.to_string(), limit.as_deref(), tif);
        let reservation = match r.side {
            Side::Buy => Reservation {
                cash: dec!(26003),
                shares: 0,
            },
            Side::Sell => Reservation {
                cash: Decimal::ZERO,
                shares: 2,
            },
        };
        Order::placed(7, &r, dec!(0.00015), false, reservation)
    }

    #[test]
    fn triggers_when_the_last_price_touches_the_stop() {
        let sell = stop_order("sell", 9_500, None);
        assert!(triggers(&sell, p(9_500)));
        assert!(triggers(&sell, p(9_000)));
        assert!(!triggers(&sell, p(9_510)));
        let buy = stop_order("buy", 10_500, Some(10_600));
        assert!(triggers(&buy, p(10_500)));
        assert!(triggers(&buy, p(11_000)));
        assert!(!triggers(&buy, p(10_490)));
        // Not a stop, already triggered, or closed: nothing to trigger.
        assert!(!triggers(&open_order("buy", 1, 10_000, "day"), p(20_000)));
        let mut fired = buy.clone();
        fired.trigger().unwrap();
        assert!(!triggers(&fired, p(11_000)));
        let mut closed = sell.clone();
        closed.cancel().unwrap();
        assert!(!triggers(&closed, p(9_000)));
    }

    #[test]
    fn a_dormant_stop_does_not_cross_until_triggered_then_crosses_as_what_it_carries() {
        let rules = Rulebook::default();
        let mut stop_market = stop_order("sell", 9_500, None);
        assert!(stop_market.is_dormant());
        assert!(!crosses(&stop_market, &stock(9_000), now(), &rules));
        stop_market.trigger().unwrap();
        assert!(!stop_market.is_dormant() && stop_market.is_triggered());
        // A triggered stop-market order fills at any fresh price.
        assert!(crosses(&stop_market, &stock(9_000), now(), &rules));
        assert!(crosses(&stop_market, &stock(12_000), now(), &rules));
        let mut stale = stock(9_000);
        stale.price_at = Some(now() - chrono::Duration::minutes(16));
        assert!(!crosses(&stop_market, &stale, now(), &rules));
        // A triggered stop-limit order crosses as the limit order it carries.
        let mut stop_limit = stop_order("buy", 10_500, Some(10_600));
        assert!(!crosses(&stop_limit, &stock(10_500), now(), &rules));
        stop_limit.trigger().unwrap();
        assert!(crosses(&stop_limit, &stock(10_600), now(), &rules));
        assert!(!crosses(&stop_limit, &stock(10_700), now(), &rules));
    }

    #[test]
    fn a_stop_triggers_once_fills_only_when_triggered_and_cancels_with_its_reservation() {
        let mut o = stop_order("buy", 10_500, None);
        let e = fill(&o, p(10_500), q(2), Position::default(), day()).unwrap_err();
        assert_eq!(e, OrderError::Dormant);
        o.trigger().unwrap();
        assert_eq!(o.trigger().unwrap_err(), OrderError::AlreadyTriggered);
        // Fills at the triggering price and frees the rest of the upper-limit reservation.
        let fx = fill(&o, p(10_500), q(2), Position::default(), day()).unwrap();
        assert_eq!(fx.amounts.net.get(), dec!(21003));
        assert_eq!(fx.cash.available, dec!(5000));
        o.record_fill(&fx).unwrap();
        assert_eq!(o.status(), OrderStatus::Filled);
        assert!(matches!(o.trigger(), Err(OrderError::Closed { .. })));
        assert_eq!(
            open_order("buy", 1, 10_000, "day").trigger().unwrap_err(),
            OrderError::NotStop
        );
        // Cancelling a dormant stop releases what it reserved.
        let mut dormant = stop_order("sell", 9_500, None);
        let release = dormant.cancel().unwrap();
        assert_eq!(release.holding, HoldingDelta::reserve(-2));
        // A DAY stop expires at the close, dormant or not.
        assert!(stop_order("buy", 10_500, None).expire().is_ok());
    }

    #[test]
    fn a_stored_stop_cannot_have_triggered_without_a_trigger() {
        let o = open_order("buy", 1, 10_000, "gtc");
        assert!(o.clone().with_stop(None, true).is_err());
        let o = o.with_stop(Some(p(10_500)), false).unwrap();
        assert!(o.is_dormant());
        assert!(o.with_stop(Some(p(10_500)), true).unwrap().is_triggered());
    }

    #[test]
    fn continuous_types_are_taken_in_the_session_before_the_closing_auction() {
        let kst = |d: u32, h: u32, m: u32| {
            rules::kst_instant(
                NaiveDate::from_ymd_opt(2026, 11, d).unwrap(),
                chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap(),
            )
        };
        let cond = typed("buy", Some("10000"), OrderType::ConditionalLimit, "day").unwrap();
        let best = typed("buy", None, OrderType::BestLimit, "day").unwrap();
        let prio = typed("sell", None, OrderType::PriorityLimit, "day").unwrap();
        let limit = req("buy", "1", Some("10000"), "day");
        let open = SessionState::Open;
        for r in [&cond, &best, &prio, &limit] {
            assert!(check_type_in_session(r, open, kst(24, 15, 19)).is_ok());
        }
        for r in [&cond, &best, &prio] {
            let e = check_type_in_session(r, open, kst(24, 15, 20)).unwrap_err();
            assert!(matches!(e, PlaceError::TypeInClosingAuction { .. }), "{e}");
        }
        assert!(check_type_in_session(&limit, open, kst(24, 15, 25)).is_ok());
        assert_eq!(
            check_type_in_session(&cond, open, kst(24, 15, 20)).unwrap_err().to_string(),
            "type: a conditional-limit (조건부지정가) order cannot be placed from 15:20 KST, when the closing single-price auction starts: it rests in the continuous session and converts at its close"
        );
        // The exam day 2026-11-19 closes at 16:30: its closing auction starts at 16:20.
        assert!(check_type_in_session(&best, open, kst(19, 16, 19)).is_ok());
        assert!(check_type_in_session(&best, open, kst(19, 16, 20)).is_err());
        // Before the open a conditional limit rests for the day's session; the book types wait.
        assert!(check_type_in_session(&cond, SessionState::PreOpen, kst(24, 8, 30)).is_ok());
        let e = check_type_in_session(&best, SessionState::PreOpen, kst(24, 8, 30)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "type: a best-limit (최유리지정가) order cannot be placed before the regular session (09:00 KST): it takes its price from the continuous order book at arrival"
        );
        for state in [SessionState::AfterClose, SessionState::ClosedDay] {
            for r in [&cond, &best, &prio] {
                assert!(matches!(
                    check_type_in_session(r, state, kst(24, 16, 0)),
                    Err(PlaceError::TypeOutsideSession { .. })
                ));
            }
            assert!(check_type_in_session(&limit, state, kst(24, 16, 0)).is_ok());
        }
    }

    #[test]
    fn fok_fills_whole_or_is_cancelled_reserving_nothing() {
        let fok = |limit: Option<&str>| {
            OrderRequest::parse(
                "005930",
                "buy",
                "10",
                limit,
                limit.is_none(),
                Some("fok"),
                None,
            )
            .unwrap()
        };
        let s = stock(10_000);
        let d = decide_now(&fok(Some("9900")), 1_000_000, 0, &s).unwrap();
        assert_eq!(d, Decision::FokCancelled);
        assert!(d.reservation().is_none());
        // Ascend's fill model fills a marketable order whole: FOK fills like IOC.
        assert_eq!(
            fillable_now(&fok(Some("10000")), &s, p(10_000), &Rulebook::default()),
            q(10)
        );
        let d = decide_now(&fok(Some("10000")), 1_000_000, 0, &s).unwrap();
        assert!(matches!(d, Decision::FillNow { price, .. } if price == p(10_000)));
        let d = decide_now(&fok(None), 1_000_000, 0, &s).unwrap();
        assert!(matches!(d, Decision::FillNow { .. }));
        let e = decide(
            &fok(Some("10000")),
            dec!(1000000),
            Shares::default(),
            &s,
            &Rulebook::default(),
            SessionState::AfterClose,
            now(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "tif: an FOK order cannot be placed after the regular session closed (15:30 KST): it could never fill"
        );
    }

    #[test]
    fn a_conditional_buy_reserves_at_the_upper_limit_and_a_book_type_needs_its_price() {
        let cond = typed("buy", Some("9900"), OrderType::ConditionalLimit, "day").unwrap();
        let d = decide_now(&cond, 1_000_000, 0, &stock(10_000)).unwrap();
        // It may become a market order at the close: 10 × 13,000 (the upper limit) + 19.
        assert_eq!(
            d,
            Decision::Rest(Reservation {
                cash: dec!(130019),
                shares: 0
            })
        );
        let sell = typed("sell", Some("10100"), OrderType::ConditionalLimit, "day").unwrap();
        let d = decide_now(&sell, 0, 10, &stock(10_000)).unwrap();
        assert_eq!(d.reservation().shares, 10);
        let unpriced = typed("buy", None, OrderType::BestLimit, "day").unwrap();
        let e = decide_now(&unpriced, 1_000_000, 0, &stock(10_000)).unwrap_err();
        assert!(
            matches!(e, PlaceError::Invalid(ref i) if i.field == "limit"),
            "{e}"
        );
    }

    pub(super) mod conservation {
        use super::*;
        use proptest::prelude::*;

        /// One step of a user's life with one stock at 10,000 won.
        #[derive(Debug, Clone)]
        enum Step {
            /// Side, quantity, limit in ticks from the price (None: market), time in force.
            Place(bool, i64, Option<i64>, u8),
            /// Which open order, how many of its remaining shares (at least one), ticks
            /// toward the limit from it.
            Fill(usize, i64, i64),
            Cancel(usize),
            Expire(usize),
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                (
                    any::<bool>(),
                    1..30i64,
                    prop::option::of(-20..20i64),
                    0..4u8
                )
                    .prop_map(|(b, q, l, t)| Step::Place(b, q, l, t)),
                (0..8usize, 1..40i64, 0..5i64).prop_map(|(i, q, t)| Step::Fill(i, q, t)),
                (0..8usize).prop_map(Step::Cancel),
                (0..8usize).prop_map(Step::Expire),
            ]
        }

        /// The user's books as the ledger keeps them: cached balances and every leg posted.
        /// The modify property test keeps its books in the same way.
        pub(crate) struct Books {
            pub(crate) cash: CashDelta,
            pub(crate) holding: HoldingDelta,
            pub(crate) legs: Vec<Leg>,
            pub(crate) open: Vec<Order>,
        }

        impl Books {
            fn sum(&self, book: Book, asset: &str) -> Decimal {
                self.legs
                    .iter()
                    .filter(|l| l.book == book && l.asset == asset)
                    .map(|l| l.amount)
                    .sum()
            }

            pub(crate) fn check(&self, initial_cash: Decimal, initial_shares: i64) {
                // Cached balances are the sums of their legs.
                assert_eq!(self.cash.total(), initial_cash + self.sum(Book::Cash, KRW));
                assert_eq!(
                    Decimal::from(self.holding.shares()),
                    Decimal::from(initial_shares) + self.sum(Book::Shares, "005930")
                );
                // Conservation: the user's cash is the grant less fees, taxes and net purchases.
                let spent = self.sum(Book::Market, KRW)
                    + self.sum(Book::Fees, KRW)
                    + self.sum(Book::Taxes, KRW);
                assert_eq!(self.cash.total(), initial_cash - spent);
                assert!(crate::domain::ledger::balanced(&self.legs));
                // Nothing negative; reservations are what the open orders hold.
                assert!(
                    self.cash.available >= Decimal::ZERO && self.cash.reserved >= Decimal::ZERO
                );
                assert!(self.holding.available >= 0 && self.holding.reserved >= 0);
                let held: Decimal = self.open.iter().map(|o| o.reserved().cash).sum();
                let shares: i64 = self.open.iter().map(|o| o.reserved().shares).sum();
                assert_eq!((self.cash.reserved, self.holding.reserved), (held, shares));
                assert!(self.open.iter().all(|o| o.status().is_open()));
            }

            fn apply_fill(&mut self, o: &mut Order, price: Price, qty: Quantity) {
                let position = Position {
                    shares: self.holding.shares(),
                    cost: self.holding.cost,
                };
                let fx = fill(o, price, qty, position, day()).unwrap();
                o.record_fill(&fx).unwrap();
                self.cash += fx.cash;
                self.holding += fx.holding;
                self.legs.extend(fx.legs);
            }
        }

        proptest! {
            #[test]
            fn money_is_conserved_and_reservations_match_the_open_orders(
                steps in prop::collection::vec(step(), 1..40)
            ) {
                let initial_cash = dec!(2000000);
                let initial_shares = 40;
                let mut b = Books {
                    cash: CashDelta { available: initial_cash, reserved: Decimal::ZERO },
                    holding: HoldingDelta { available: initial_shares, reserved: 0, cost: dec!(380000) },
                    legs: Vec::new(),
                    open: Vec::new(),
                };
                let s = stock(10_000);
                for st in steps {
                    match st {
                        Step::Place(buy, qty, ticks, tif) => {
                            let limit = ticks.map(|t| (10_000 + 10 * t).to_string());
                            let tif = ["day", "gtc", "ioc", "fok"][tif as usize];
                            let r = req(if buy { "buy" } else { "sell" }, &qty.to_string(), limit.as_deref(), tif);
                            let shares = Shares { available: b.holding.available, reserved: b.holding.reserved };
                            let d = decide(&r, b.cash.available, shares, &s, &Rulebook::default(), SessionState::Open, now());
                            let Ok(d) = d else { continue };
                            let reservation = d.reservation();
                            let mut o = Order::placed(7, &r, dec!(0.00015), false, reservation);
                            b.cash += reservation.cash_delta();
                            b.holding += reservation.holding_delta();
                            match d {
                                Decision::IocCancelled | Decision::FokCancelled => {
                                    prop_assert!(reservation.is_none())
                                }
                                Decision::Rest(_) => b.open.push(o),
                                Decision::FillNow { price, .. } => {
                                    b.apply_fill(&mut o, price, r.quantity);
                                    prop_assert_eq!(o.status(), OrderStatus::Filled);
                                    prop_assert!(o.reserved().is_none());
                                }
                            }
                        }
                        Step::Fill(i, qty, ticks) => {
                            if b.open.is_empty() { continue }
                            let i = i % b.open.len();
                            let mut o = b.open.remove(i);
                            let limit = o.limit.unwrap().get();
                            // A resting order fills at its limit or better.
                            let price = match o.side {
                                Side::Buy => limit - Decimal::from(10 * ticks),
                                Side::Sell => limit + Decimal::from(10 * ticks),
                            };
                            let qty = Quantity::new(qty.min(o.remaining())).unwrap();
                            b.apply_fill(&mut o, Price::new(price).unwrap(), qty);
                            if o.status().is_open() {
                                b.open.insert(i, o);
                            } else {
                                prop_assert!(o.reserved().is_none());
                            }
                        }
                        Step::Cancel(i) | Step::Expire(i) => {
                            if b.open.is_empty() { continue }
                            let i = i % b.open.len();
                            let mut o = b.open.remove(i);
                            let before = o.clone();
                            let r = if matches!(st, Step::Cancel(_)) { o.cancel() } else { o.expire() };
                            match r {
                                Ok(release) => {
                                    b.cash += release.cash;
                                    b.holding += release.holding;
                                    prop_assert!(!o.status().is_open());
                                }
                                Err(_) => {
                                    // A refused transition changes nothing.
                                    prop_assert_eq!(&o, &before);
                                    b.open.insert(i, o);
                                }
                            }
                        }
                    }
                    b.check(initial_cash, initial_shares);
                }
            }
        }
    }
}

#[cfg(test)]
mod modify_tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    /// Tuesday 2026-03-03, 10:00 KST: inside the session.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 3, 1, 0, 0).unwrap()
    }
    fn p(v: i64) -> Price {
        Price::new(Decimal::from(v)).unwrap()
    }
    fn q(v: i64) -> Quantity {
        Quantity::new(v).unwrap()
    }
    /// 삼성전자 at 10,000 (previous close 10,000: band 7,000 to 13,000, tick 10).
    fn stock(price: i64) -> StockState {
        StockState {
            code: "005930".into(),
            name: "삼성전자".into(),
            listed: true,
            halted: false,
            instrument: Instrument::common(),
            price: Some(Decimal::from(price)),
            prev_close: Some(dec!(10000)),
            price_at: Some(now() - chrono::Duration::minutes(1)),
        }
    }
    /// A resting limit order as placed, holding what placement reserves.
    fn resting(side: &str, qty: i64, limit: i64, tif: &str) -> Order {
        let r = OrderRequest::parse(
            "005930",
            side,
            &qty.to_string(),
            Some(&limit.to_string()),
            false,
            Some(tif),
            None,
        )
        .unwrap();
        let reservation = match r.side {
            Side::Buy => Reservation {
                cash: rules::buy_reservation(p(limit), q(qty), dec!(0.00015)).get(),
                shares: 0,
            },
            Side::Sell => Reservation {
                cash: Decimal::ZERO,
                shares: qty,
            },
        };
        Order::placed(7, &r, dec!(0.00015), false, reservation)
    }
    #[test]
    fn the_volume_allowance_is_the_rate_of_what_traded_rounded_down() {
        assert_eq!(volume_allowance(dec!(0.1), 1_234), 123);
        assert_eq!(volume_allowance(dec!(0.1), 9), 0);
        assert_eq!(volume_allowance(dec!(1), 500), 500);
        assert_eq!(volume_allowance(dec!(0.1), -40), 0);
        assert_eq!(
            FillModel::parse("volume:0.5").unwrap(),
            FillModel::Volume(dec!(0.5))
        );
        assert_eq!(FillModel::Volume(dec!(0.5)).to_string(), "volume:0.5");
        assert_eq!(FillModel::parse("full").unwrap().to_string(), "full");
    }

    #[test]
    fn the_allowance_goes_to_the_orders_in_priority_order_until_spent() {
        assert_eq!(allocate(25, [10, 10, 10]), vec![10, 10, 5]);
        assert_eq!(allocate(30, [10, 10, 10]), vec![10, 10, 10]);
        assert_eq!(allocate(100, [10, 10]), vec![10, 10]);
        assert_eq!(allocate(7, [10, 10]), vec![7]);
        assert!(allocate(0, [10]).is_empty());
        assert!(allocate(-3, [10]).is_empty());
    }

    #[test]
    fn a_partial_buy_fill_frees_the_filled_part_of_the_reservation_and_keeps_enough_for_the_rest() {
        let mut o = resting("buy", 10, 10_000, "gtc");
        let placed = o.reserved().cash;
        assert_eq!(placed, dec!(100015));
        // 4 shares at 9,900 (below the limit): pays 39,605; frees 4/10 of the reservation.
        let fx = fill(&o, p(9_900), q(4), Position::default(), now().date_naive()).unwrap();
        assert_eq!(fx.amounts.net.get(), dec!(39605));
        assert_eq!(fx.released.cash, dec!(40006));
        assert_eq!(fx.cash.available, dec!(40006) - dec!(39605));
        o.record_fill(&fx).unwrap();
        assert!(o.is_partially_filled());
        assert_eq!(o.reserved().cash, dec!(60009));
        // What is left still covers the other 6 at the limit, fee included.
        assert!(o.reserved().cash >= rules::buy_reservation(p(10_000), q(6), dec!(0.00015)).get());
        // The rest at the limit completes it and frees all that remained.
        let fx = fill(&o, p(10_000), q(6), Position::default(), now().date_naive()).unwrap();
        assert_eq!(fx.released.cash, dec!(60009));
        o.record_fill(&fx).unwrap();
        assert_eq!(o.status(), OrderStatus::Filled);
        assert_eq!(o.reserved().cash, Decimal::ZERO);
    }

    fn change(limit: Option<i64>, quantity: Option<i64>) -> Amendment {
        Amendment {
            limit: limit.map(p),
            quantity: quantity.map(q),
            idempotency_key: None,
        }
    }
    /// Modifies with `cash` available and the stock at 10,000 in the session; the holding is
    /// 100 shares of which the order's reserved ones.
    fn modify(o: &mut Order, c: &Amendment, cash: i64) -> Result<Modified, ModifyError> {
        modify_on(o, c, cash, &stock(10_000), SessionState::Open)
    }
    fn modify_on(
        o: &mut Order,
        c: &Amendment,
        cash: i64,
        s: &StockState,
        state: SessionState,
    ) -> Result<Modified, ModifyError> {
        let reserved = o.reserved().shares;
        let held = Shares {
            available: 100 - reserved,
            reserved,
        };
        o.modify(
            c,
            Decimal::from(cash),
            held,
            s,
            &Rulebook::default(),
            state,
            now(),
        )
    }

    #[test]
    fn a_higher_buy_limit_reserves_the_difference_and_queues_anew() {
        let mut o = resting("buy", 10, 9_000, "day");
        // 90,000 + 13 commission.
        assert_eq!(o.reserved().cash, dec!(90013));
        let m = modify(&mut o, &change(Some(9_500), None), 1_000_000).unwrap();
        // 95,000 + 14: 5,001 more.
        assert_eq!(m.reservation.cash, dec!(95014));
        assert_eq!(
            m.delta,
            Reservation {
                cash: dec!(5001),
                shares: 0
            }
        );
        assert!(m.requeued);
        assert_eq!(
            (m.old, m.new),
            (
                Terms {
                    limit: p(9_000),
                    quantity: q(10)
                },
                Terms {
                    limit: p(9_500),
                    quantity: q(10)
                }
            )
        );
        assert_eq!(
            (o.limit, o.quantity, o.reserved()),
            (Some(p(9_500)), q(10), m.reservation)
        );
        assert_eq!(o.status(), OrderStatus::Open);
    }

    #[test]
    fn a_lower_buy_limit_frees_the_difference() {
        let mut o = resting("buy", 10, 9_500, "gtc");
        let m = modify(&mut o, &change(Some(9_000), None), 0).unwrap();
        assert_eq!(m.delta.cash, dec!(-5001));
        assert!(m.requeued);
        // The freed cash goes back to available.
        assert_eq!(m.delta.cash_delta().available, dec!(5001));
    }

    #[test]
    fn a_smaller_quantity_frees_what_it_reserved_and_keeps_its_place() {
        let mut o = resting("buy", 10, 9_000, "day");
        let m = modify(&mut o, &change(None, Some(4)), 0).unwrap();
        // 36,000 + 5.
        assert_eq!(m.reservation.cash, dec!(36005));
        assert_eq!(m.delta.cash, dec!(36005) - dec!(90013));
        assert!(!m.requeued);
        // The same limit given again is still only a smaller quantity.
        let m = modify(&mut o, &change(Some(9_000), Some(3)), 0).unwrap();
        assert!(!m.requeued);
        let mut sell = resting("sell", 10, 11_000, "gtc");
        let m = modify(&mut sell, &change(None, Some(6)), 0).unwrap();
        assert_eq!(
            m.delta,
            Reservation {
                cash: Decimal::ZERO,
                shares: -4
            }
        );
        assert_eq!(m.delta.holding_delta(), HoldingDelta::reserve(-4));
    }

    #[test]
    fn price_and_quantity_change_together() {
        let mut o = resting("buy", 10, 9_000, "day");
        let m = modify(&mut o, &change(Some(9_900), Some(5)), 0).unwrap();
        // 49,500 + 7: less than the 90,013 held, so no cash is needed.
        assert_eq!(m.reservation.cash, dec!(49507));
        assert!(m.delta.cash < Decimal::ZERO && m.requeued);
    }

    #[test]
    fn a_sell_needs_no_more_shares_whatever_its_price() {
        let mut o = resting("sell", 10, 11_000, "day");
        let m = modify(&mut o, &change(Some(12_000), None), 0).unwrap();
        assert_eq!(m.delta, Reservation::NONE);
        assert!(m.requeued);
        assert_eq!(o.reserved().shares, 10);
    }

    #[test]
    fn a_partially_filled_order_is_modified_on_what_is_left() {
        let mut o = resting("buy", 10, 10_000, "gtc");
        let fx = fill(
            &o,
            p(9_900),
            q(4),
            Position::default(),
            rules::trade_date(now()),
        )
        .unwrap();
        o.record_fill(&fx).unwrap();
        // 100,015 reserved less the 4/10 the fill freed: 60,009 held for 6 shares at 10,000,
        // what they need.
        assert_eq!(o.reserved().cash, dec!(60009));
        let m = modify(&mut o, &change(None, Some(7)), 0).unwrap();
        // 3 left at 10,000: 30,004; the rest is freed.
        assert_eq!(m.reservation.cash, dec!(30004));
        assert_eq!(m.delta.cash, dec!(30004) - dec!(60009));
        assert_eq!(
            (o.quantity, o.filled_quantity(), o.remaining()),
            (q(7), 4, 3)
        );
        // At or below the filled quantity nothing would be left: refused, saying so.
        for asked in [4, 2] {
            let e = modify(&mut o, &change(None, Some(asked)), 0).unwrap_err();
            assert_eq!(
                e,
                ModifyError::QuantityFilled {
                    filled: 4,
                    to: q(asked)
                }
            );
            assert!(e.to_string().starts_with(
                "quantity: 4 shares of this order are filled already, so its new quantity must be more than 4"
            ));
        }
        // A new price: what is left at the new price.
        let m = modify(&mut o, &change(Some(9_500), None), 0).unwrap();
        assert_eq!(m.reservation.cash, dec!(28504));
    }

    #[test]
    fn a_larger_quantity_is_a_new_order() {
        let mut o = resting("buy", 10, 9_000, "day");
        let before = o.clone();
        let e = modify(&mut o, &change(None, Some(12)), 10_000_000).unwrap_err();
        assert_eq!(
            e.to_string(),
            "quantity: KRX does not raise an order's quantity by modification (10 → 12); place a new order for the other 2 shares"
        );
        assert_eq!(o, before);
    }

    #[test]
    fn the_same_terms_are_no_change() {
        let mut o = resting("buy", 10, 9_000, "day");
        let e = modify(&mut o, &change(Some(9_000), None), 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "limit: the order already has these terms (10 at 9,000): nothing to modify"
        );
        let e = modify(&mut o, &change(None, Some(10)), 0).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("quantity: the order already has these terms"));
        let e = modify(&mut o, &change(Some(9_000), Some(10)), 0).unwrap_err();
        assert!(matches!(e, ModifyError::NoChange { .. }));
        let e = Amendment::parse(None, None, None).unwrap_err();
        assert_eq!(e.field, "limit");
    }

    #[test]
    fn only_an_open_resting_limit_order_is_modified() {
        for close in [Order::cancel as fn(&mut Order) -> _, Order::expire] {
            let mut o = resting("buy", 10, 9_000, "day");
            close(&mut o).unwrap();
            let status = o.status();
            let e = modify(&mut o, &change(Some(9_100), None), 1_000_000).unwrap_err();
            assert_eq!(e, ModifyError::Closed { status });
            assert_eq!(
                e.to_string(),
                format!("order: the order is already {status} and cannot be modified")
            );
        }
        let mut o = resting("sell", 2, 10_000, "day");
        let fx = fill(
            &o,
            p(10_000),
            q(2),
            Position {
                shares: 100,
                cost: dec!(900000),
            },
            rules::trade_date(now()),
        )
        .unwrap();
        o.record_fill(&fx).unwrap();
        assert_eq!(
            modify(&mut o, &change(None, Some(1)), 0).unwrap_err(),
            ModifyError::Closed {
                status: OrderStatus::Filled
            }
        );
        // A market order never rests; if one were stored open it still could not be modified.
        let market = OrderRequest::parse("005930", "buy", "1", None, true, None, None).unwrap();
        let mut m = Order::placed(7, &market, dec!(0.00015), false, Reservation::NONE);
        assert_eq!(
            modify(&mut m, &change(Some(9_000), None), 0).unwrap_err(),
            ModifyError::NotLimit {
                kind: OrderKind::Market
            }
        );
        let mut ioc = resting("buy", 1, 9_000, "ioc");
        assert_eq!(
            modify(&mut ioc, &change(None, Some(1)), 0).unwrap_err(),
            ModifyError::Ioc
        );
        // A dormant stop-limit is not yet a resting limit order; once triggered it is one.
        let mut stop = resting("sell", 5, 9_000, "day")
            .with_stop(Some(p(9_100)), false)
            .unwrap();
        assert_eq!(
            modify(&mut stop, &change(None, Some(4)), 0).unwrap_err(),
            ModifyError::DormantStop
        );
        stop.trigger().unwrap();
        assert!(modify(&mut stop, &change(None, Some(4)), 0).is_ok());
    }

    #[test]
    fn a_new_price_must_be_covered_by_free_cash() {
        let mut o = resting("buy", 10, 9_000, "day");
        let before = o.clone();
        let e = modify(&mut o, &change(Some(9_500), None), 5_000).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cash: insufficient cash: the new terms reserve 95,014 won (10 × 9,500 + commission), 5,001 more than the order holds, but 5,000 won is available"
        );
        assert_eq!(o, before);
        // Exactly enough is enough.
        assert!(modify(&mut o, &change(Some(9_500), None), 5_001).is_ok());
        assert_eq!(o.reserved().cash, dec!(95014));
    }

    #[test]
    fn a_new_price_must_be_on_the_tick_and_inside_the_band() {
        let mut o = resting("buy", 10, 9_000, "day");
        let before = o.clone();
        let e = modify(&mut o, &change(Some(9_005), None), 1_000_000).unwrap_err();
        assert!(
            matches!(e, ModifyError::Rule(PlaceError::Invalid(ref i)) if i.field == "price"),
            "{e}"
        );
        assert!(e.to_string().contains("is not on the 10-won tick"), "{e}");
        let e = modify(&mut o, &change(Some(13_100), None), 1_000_000).unwrap_err();
        assert!(
            e.to_string()
                .contains("outside today's band 7,000 to 13,000"),
            "{e}"
        );
        let e = modify(&mut o, &change(Some(6_900), Some(5)), 1_000_000).unwrap_err();
        assert!(e.to_string().contains("outside today's band"), "{e}");
        assert_eq!(o, before);
    }

    #[test]
    fn a_new_price_needs_a_tradable_stock_but_a_smaller_quantity_does_not() {
        let mut halted = stock(10_000);
        halted.halted = true;
        let mut stale = stock(10_000);
        stale.price_at = Some(now() - chrono::Duration::minutes(30));
        for s in [&halted, &stale] {
            let mut o = resting("buy", 10, 9_000, "day");
            let e = modify_on(
                &mut o,
                &change(Some(9_100), None),
                1_000_000,
                s,
                SessionState::Open,
            )
            .unwrap_err();
            assert!(matches!(e, ModifyError::Rule(_)), "{e}");
            // Taking shares off is a partial cancel: always allowed.
            assert!(modify_on(&mut o, &change(None, Some(5)), 0, s, SessionState::Open).is_ok());
        }
    }

    #[test]
    fn outside_the_session_the_band_is_the_next_sessions() {
        let mut o = resting("buy", 10, 9_000, "gtc");
        // After the close, the band is around the latest price (12,000: up to 15,600).
        let m = modify_on(
            &mut o,
            &change(Some(15_000), None),
            1_000_000,
            &stock(12_000),
            SessionState::AfterClose,
        )
        .unwrap();
        assert!(m.requeued);
        let e = modify_on(
            &mut o,
            &change(Some(15_700), None),
            1_000_000,
            &stock(12_000),
            SessionState::AfterClose,
        )
        .unwrap_err();
        assert!(e.to_string().contains("outside today's band"), "{e}");
    }

    #[test]
    fn a_marketable_new_price_still_rests() {
        let mut o = resting("buy", 10, 9_000, "day");
        let m = modify(&mut o, &change(Some(10_500), None), 1_000_000).unwrap();
        assert_eq!(o.status(), OrderStatus::Open);
        assert_eq!(m.reservation.cash, dec!(105015));
    }

    #[test]
    fn the_order_keeps_its_own_commission_rate() {
        let r =
            OrderRequest::parse("005930", "buy", "10", Some("9000"), false, None, None).unwrap();
        let placed = rules::buy_reservation(p(9_000), q(10), dec!(0.001)).get();
        let mut o = Order::placed(
            7,
            &r,
            dec!(0.001),
            false,
            Reservation {
                cash: placed,
                shares: 0,
            },
        );
        // The deployment's rate is 0.015%; the order's is 0.1%: 95,000 + 95.
        let m = modify(&mut o, &change(Some(9_500), None), 1_000_000).unwrap();
        assert_eq!(m.reservation.cash, dec!(95095));
    }

    #[test]
    fn an_amendment_parses_its_fields() {
        let a = Amendment::parse(Some("55,900"), Some("3"), Some(" k1 ")).unwrap();
        assert_eq!(
            a,
            Amendment {
                limit: Some(p(55_900)),
                quantity: Some(q(3)),
                idempotency_key: Some("k1".into())
            }
        );
        assert_eq!(
            Amendment::parse(Some("0"), None, None).unwrap_err().field,
            "price"
        );
        assert_eq!(
            Amendment::parse(None, Some("-1"), None).unwrap_err().field,
            "quantity"
        );
        assert_eq!(
            Amendment::parse(None, Some("1"), Some(""))
                .unwrap_err()
                .field,
            "key"
        );
    }

    mod conservation {
        use super::*;
        use proptest::prelude::*;

        /// One step of a user's life with one stock at 10,000 won.
        #[derive(Debug, Clone)]
        enum Step {
            /// Side, quantity, limit in ticks from the price.
            Place(bool, i64, i64),
            /// Which open order, how many of its remaining shares (at least one), ticks toward
            /// the limit.
            Fill(usize, i64, i64),
            Cancel(usize),
            /// Which open order, a new limit in ticks from the price (or none), a new quantity
            /// as a change from the current one (or none).
            Modify(usize, Option<i64>, Option<i64>),
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                (any::<bool>(), 1..30i64, -20..20i64).prop_map(|(b, q, t)| Step::Place(b, q, t)),
                (0..8usize, 1..40i64, 0..5i64).prop_map(|(i, q, t)| Step::Fill(i, q, t)),
                (0..8usize).prop_map(Step::Cancel),
                (
                    0..8usize,
                    prop::option::of(-40..40i64),
                    prop::option::of(-30..3i64)
                )
                    .prop_map(|(i, l, q)| Step::Modify(i, l, q)),
            ]
        }

        use crate::domain::order::tests::conservation::Books;

        /// Beyond what [`Books::check`] holds: each open order holds at least what its
        /// remaining quantity needs at its limit.
        fn check_needs(b: &Books) {
            for o in &b.open {
                let need =
                    o.reservation_for(o.limit.unwrap(), Quantity::new(o.remaining()).unwrap());
                match o.side {
                    Side::Buy => assert!(o.reserved().cash >= need.cash),
                    Side::Sell => assert_eq!(o.reserved().shares, need.shares),
                }
            }
        }

        proptest! {
            #[test]
            fn modifies_fills_and_cancels_conserve_money_and_reservations_match_the_open_orders(
                steps in prop::collection::vec(step(), 1..40)
            ) {
                let initial_cash = dec!(1500000);
                let initial_shares = 40;
                let mut b = Books {
                    cash: CashDelta { available: initial_cash, reserved: Decimal::ZERO },
                    holding: HoldingDelta { available: initial_shares, reserved: 0, cost: dec!(380000) },
                    legs: Vec::new(),
                    open: Vec::new(),
                };
                let s = stock(10_000);
                let rules_ = Rulebook::default();
                for st in steps {
                    match st {
                        Step::Place(buy, qty, ticks) => {
                            // Resting only: a buy below the price, a sell above it.
                            let limit = if buy { 10_000 - 10 * ticks.abs() - 10 } else { 10_000 + 10 * ticks.abs() + 10 };
                            let r = OrderRequest::parse("005930", if buy { "buy" } else { "sell" }, &qty.to_string(), Some(&limit.to_string()), false, Some("gtc"), None).unwrap();
                            let shares = Shares { available: b.holding.available, reserved: b.holding.reserved };
                            let Ok(Decision::Rest(reservation)) = decide(&r, b.cash.available, shares, &s, &rules_, SessionState::Open, now()) else { continue };
                            b.cash += reservation.cash_delta();
                            b.holding += reservation.holding_delta();
                            b.open.push(Order::placed(7, &r, dec!(0.00015), false, reservation));
                        }
                        Step::Fill(i, qty, ticks) => {
                            if b.open.is_empty() { continue }
                            let i = i % b.open.len();
                            let mut o = b.open.remove(i);
                            let limit = o.limit.unwrap().get();
                            let price = match o.side {
                                Side::Buy => limit - Decimal::from(10 * ticks),
                                Side::Sell => limit + Decimal::from(10 * ticks),
                            };
                            let qty = Quantity::new(qty.min(o.remaining())).unwrap();
                            let position = Position { shares: b.holding.shares(), cost: b.holding.cost };
                            let fx = fill(&o, Price::new(price).unwrap(), qty, position, rules::trade_date(now())).unwrap();
                            o.record_fill(&fx).unwrap();
                            b.cash += fx.cash;
                            b.holding += fx.holding;
                            b.legs.extend(fx.legs);
                            if o.status().is_open() { b.open.insert(i, o) }
                        }
                        Step::Cancel(i) => {
                            if b.open.is_empty() { continue }
                            let mut o = b.open.remove(i % b.open.len());
                            let release = o.cancel().unwrap();
                            b.cash += release.cash;
                            b.holding += release.holding;
                        }
                        Step::Modify(i, ticks, dq) => {
                            if b.open.is_empty() { continue }
                            let i = i % b.open.len();
                            let o = &mut b.open[i];
                            let before = o.clone();
                            let c = Amendment {
                                limit: ticks.map(|t| Price::new(Decimal::from(10_000 + 10 * t)).unwrap()),
                                quantity: dq.and_then(|d| Quantity::new(o.quantity.get() + d).ok()),
                                idempotency_key: None,
                            };
                            let shares = Shares { available: b.holding.available, reserved: b.holding.reserved };
                            match o.modify(&c, b.cash.available, shares, &s, &rules_, SessionState::Open, now()) {
                                Ok(m) => {
                                    prop_assert_eq!(o.reserved(), m.reservation);
                                    // A modified order holds exactly what its remaining
                                    // quantity needs at its limit.
                                    let need = o.reservation_for(o.limit.unwrap(), Quantity::new(o.remaining()).unwrap());
                                    prop_assert_eq!(m.reservation, need);
                                    prop_assert_eq!(m.requeued, m.new.limit != m.old.limit);
                                    prop_assert!(m.new.quantity <= m.old.quantity);
                                    b.cash += m.delta.cash_delta();
                                    b.holding += m.delta.holding_delta();
                                }
                                Err(_) => prop_assert_eq!(&*o, &before),
                            }
                        }
                    }
                    b.check(initial_cash, initial_shares);
                    check_needs(&b);
                }
                // Closing every order frees every reservation.
                for mut o in std::mem::take(&mut b.open) {
                    let release = o.cancel().unwrap();
                    b.cash += release.cash;
                    b.holding += release.holding;
                }
                prop_assert_eq!((b.cash.reserved, b.holding.reserved), (Decimal::ZERO, 0));
                b.check(initial_cash, initial_shares);
                check_needs(&b);
            }
        }
    }
}
