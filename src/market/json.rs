//! Parsers for Naver Pay Securities' JSON endpoints after the September 2026 renewal, and
//! renderers that write the same shapes, so the simulated market can be served through the
//! same parsers.
//!
//! Pure functions of the response text. The rules every parser follows:
//! - A body whose first non-whitespace byte is not `{` or `[` is [`ParseError::NotJson`]: the
//!   app answers unknown paths with 200 and its HTML page, which must never read as 0 rows.
//! - Numbers come as display strings (`"274,500"`, `"-3,000"`, `"46.71%"`), as `…Raw` digit
//!   strings or as JSON numbers; [`num`] reads all three. `"-"`, `""` and `null` mean no value
//!   (`None`), never zero. Where a field has a `…Raw` twin, the twin is read first. Money whose
//!   display is in another unit (million won, 억) is read from the `…Raw` field only.
//! - The direction of a change comes from its code (`compareToPreviousPrice`, `upDownGb`), never
//!   from the sign of the amount, which the feed sometimes drops: signed change =
//!   direction sign × |change| and previous close = price − signed change. A flat direction with
//!   a non-zero change contradicts itself and is an error.
//! - Every failure names the row, the code once it is read, and the field
//!   ([`ParseError::Field`], [`ParseError::MissingField`]).

use std::cmp::Reverse;
use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::parse::{parse_number, ParseError};
pub use crate::domain::market_data::{Bar, Level, ListedRow, OrderBook, QuoteNow};
use crate::domain::rules::kst;
use crate::domain::{group_thousands, InstrumentKind, Market, StockCode, TradingSession};

/// Characters of a non-JSON body quoted in [`ParseError::NotJson`].
const HEAD_CHARS: usize = 40;
/// Characters of a string value quoted in an error.
const QUOTE_CHARS: usize = 40;
/// How far an adjusted daily bar may break `low ≤ open, close ≤ high` before it is an error
/// rather than rounding (one won, or one point of an index).
const ADJUSTMENT_SLACK: Decimal = Decimal::ONE;
/// The `pollingInterval` the renderers write (milliseconds, as Naver sends).
const POLLING_INTERVAL_MS: u64 = 7000;

// ---------------------------------------------------------------------------------------------
// Types

/// Direction of a change from the previous close, as Naver codes it (`compareToPreviousPrice`
/// `{code, text, name}` and stock/default `upDownGb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Code 1: up to the upper price limit (상한가).
    UpperLimit,
    /// Code 2: up (상승).
    Rising,
    /// Code 3: unchanged (보합; name `UNCHANGED`, `STEADY` in some tests).
    Unchanged,
    /// Code 4: down to the lower price limit (하한가).
    LowerLimit,
    /// Code 5: down (하락).
    Falling,
}

impl Direction {
    /// +1 for up, 0 for unchanged, −1 for down.
    pub fn sign(self) -> i8 {
        match self {
            Direction::UpperLimit | Direction::Rising => 1,
            Direction::Unchanged => 0,
            Direction::LowerLimit | Direction::Falling => -1,
        }
    }

    /// The code: `"1"` to `"5"`.
    pub fn code(self) -> &'static str {
        match self {
            Direction::UpperLimit => "1",
            Direction::Rising => "2",
            Direction::Unchanged => "3",
            Direction::LowerLimit => "4",
            Direction::Falling => "5",
        }
    }

    /// The name as the feed spells it (`UNCHANGED` for code 3).
    pub fn name(self) -> &'static str {
        match self {
            Direction::UpperLimit => "UPPER_LIMIT",
            Direction::Rising => "RISING",
            Direction::Unchanged => "UNCHANGED",
            Direction::LowerLimit => "LOWER_LIMIT",
            Direction::Falling => "FALLING",
        }
    }

    /// The Korean word the feed puts in `text`.
    fn word(self) -> &'static str {
        match self {
            Direction::UpperLimit => "상한가",
            Direction::Rising => "상승",
            Direction::Unchanged => "보합",
            Direction::LowerLimit => "하한가",
            Direction::Falling => "하락",
        }
    }

    /// Reads a code `"1"` to `"5"`.
    pub fn from_code(code: &str) -> Option<Direction> {
        match code.trim() {
            "1" => Some(Direction::UpperLimit),
            "2" => Some(Direction::Rising),
            "3" => Some(Direction::Unchanged),
            "4" => Some(Direction::LowerLimit),
            "5" => Some(Direction::Falling),
            _ => None,
        }
    }

    /// Reads a name; `STEADY` is taken as `UNCHANGED`.
    pub fn from_name(name: &str) -> Option<Direction> {
        match name.trim() {
            "UPPER_LIMIT" => Some(Direction::UpperLimit),
            "RISING" => Some(Direction::Rising),
            "UNCHANGED" | "STEADY" => Some(Direction::Unchanged),
            "LOWER_LIMIT" => Some(Direction::LowerLimit),
            "FALLING" => Some(Direction::Falling),
            _ => None,
        }
    }

    /// The direction from `prev_close` to `price` (never a limit direction: that needs the band).
    pub fn between(prev_close: Decimal, price: Decimal) -> Direction {
        match price.cmp(&prev_close) {
            std::cmp::Ordering::Greater => Direction::Rising,
            std::cmp::Ordering::Equal => Direction::Unchanged,
            std::cmp::Ordering::Less => Direction::Falling,
        }
    }

    /// `magnitude` with this direction's sign; `None` when the direction is flat and the
    /// magnitude is not zero.
    fn apply(self, magnitude: Decimal) -> Option<Decimal> {
        match self.sign() {
            1 => Some(magnitude.abs()),
            -1 => Some(-magnitude.abs()),
            _ => magnitude.is_zero().then_some(Decimal::ZERO),
        }
    }
}

/// One page of `m.stock` marketValue: its rows and the market's row count (ETF/ETN included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarketValuePage {
    pub rows: Vec<ListedRow>,
    pub total_count: usize,
}

/// An index now (polling index API, or m.stock `/api/index/{X}/basic`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexQuote {
    /// `KOSPI`, `KOSDAQ`, `KPI200`, … as given.
    pub code: String,
    pub value: Decimal,
    /// value − signed change.
    pub prev_close: Decimal,
    pub change_rate: Option<Decimal>,
    /// `localTradedAt`, converted to KST wall-clock time.
    pub traded_at: Option<NaiveDateTime>,
    /// `OPEN` / `CLOSE` … as given.
    pub market_status: String,
}

/// One minute of the chart API: the price at the end of the minute and its volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinuteBar {
    /// Start of the minute, KST (`localDateTime`).
    pub at: NaiveDateTime,
    /// `currentPrice`.
    pub price: Decimal,
    /// Shares traded in this minute.
    pub volume: Option<i64>,
}

// ---------------------------------------------------------------------------------------------
// Reading values

/// A field that could not be read, before the row it sits in is known.
#[derive(Debug)]
struct FieldError {
    field: &'static str,
    problem: String,
}

impl FieldError {
    fn new(field: &'static str, problem: impl Into<String>) -> Self {
        FieldError {
            field,
            problem: problem.into(),
        }
    }
    fn at(self, row: usize, code: Option<String>) -> ParseError {
        ParseError::Field {
            row,
            code,
            field: self.field,
            problem: self.problem,
        }
    }
}

/// A value as an error shows it: scalars as JSON text, containers by kind.
fn shown(value: &Value) -> String {
    match value {
        Value::Object(_) => "an object".to_string(),
        Value::Array(_) => "an array".to_string(),
        Value::String(s) if s.chars().count() > QUOTE_CHARS => {
            format!("{:?}…", s.chars().take(QUOTE_CHARS).collect::<String>())
        }
        other => other.to_string(),
    }
}

/// The feed's marks for "no value".
fn is_blank(text: &str) -> bool {
    matches!(text.trim(), "" | "-")
}

/// Reads a number in any of the feed's three forms: a display string (`"274,500"`,
/// `"-3,000"`, `"+4,266,985"`, `"46.71%"`), a `…Raw` digit string, or a JSON number. `"-"`,
/// `""` and `null` give `None`; a bool, object, array or any other text is an error (so are
/// unit displays such as `"87억"`: read the `…Raw` field instead). The result is normalised
/// (`273500.0` reads as `273500`).
fn num(value: &Value, field: &'static str) -> Result<Option<Decimal>, FieldError> {
    let expected = || FieldError::new(field, format!("expected a number, got {}", shown(value)));
    let number = match value {
        Value::Null => return Ok(None),
        Value::String(s) if is_blank(s) => return Ok(None),
        Value::String(s) => parse_number(s).ok_or_else(expected)?,
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Decimal::from(i)
            } else if let Some(u) = n.as_u64() {
                Decimal::from(u)
            } else {
                let text = n.to_string();
                Decimal::from_str(&text)
                    .or_else(|_| Decimal::from_scientific(&text))
                    .map_err(|_| expected())?
            }
        }
        _ => return Err(expected()),
    };
    Ok(Some(number.normalize()))
}

/// A date as `YYYYMMDD` (string or JSON number).
fn yyyymmdd(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    (text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| NaiveDate::parse_from_str(text, "%Y%m%d").ok())
        .flatten()
}

/// `localTradedAt`: RFC 3339 with an offset, converted to KST; without an offset taken as KST.
fn kst_time(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&kst()).naive_local());
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// The text of a token field (a code such as `"5"`, `"KS"`): a string, or a JSON number's text.
fn token_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One object of a JSON list, with its index and (once read) its code, so that every error
/// names the row.
struct Row<'a> {
    index: usize,
    code: Option<String>,
    fields: &'a Map<String, Value>,
}

impl<'a> Row<'a> {
    fn new(index: usize, value: &'a Value) -> Result<Self, ParseError> {
        let fields = value.as_object().ok_or_else(|| ParseError::Shape {
            what: format!("row {index}"),
            expected: "an object",
            found: shown(value),
        })?;
        Ok(Row {
            index,
            code: None,
            fields,
        })
    }

    fn fail(&self, field: &'static str, problem: impl Into<String>) -> ParseError {
        FieldError::new(field, problem).at(self.index, self.code.clone())
    }

    fn missing(&self, field: &'static str) -> ParseError {
        ParseError::MissingField {
            row: self.index,
            code: self.code.clone(),
            field,
        }
    }

    fn lift(&self, e: FieldError) -> ParseError {
        e.at(self.index, self.code.clone())
    }

    /// The field's value, `null` included; absent is an error.
    fn required(&self, field: &'static str) -> Result<&'a Value, ParseError> {
        self.fields.get(field).ok_or_else(|| self.missing(field))
    }

    /// A string field; absent or `null` is `None`, any other type an error.
    fn text(&self, field: &'static str) -> Result<Option<&'a str>, ParseError> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim())),
            Some(other) => {
                Err(self.fail(field, format!("expected a string, got {}", shown(other))))
            }
        }
    }

    /// A required, non-empty string field.
    fn req_text(&self, field: &'static str) -> Result<&'a str, ParseError> {
        match self.required(field)? {
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim()),
            other => Err(self.fail(
                field,
                format!("expected a non-empty string, got {}", shown(other)),
            )),
        }
    }

    /// A code-like field (`"0"`, `"5"`, `20261124`): a string or a JSON number, as text.
    fn token(&self, field: &'static str) -> Result<Option<String>, ParseError> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => token_text(value).map(Some).ok_or_else(|| {
                self.fail(
                    field,
                    format!("expected a string or a number, got {}", shown(value)),
                )
            }),
        }
    }

    fn req_token(&self, field: &'static str) -> Result<String, ParseError> {
        self.required(field)?;
        self.token(field)?
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.fail(field, "no value"))
    }

    /// Reads the row's code from `field` and remembers it for later errors.
    fn code(&mut self, field: &'static str) -> Result<StockCode, ParseError> {
        let text = self.req_text(field)?;
        let code = StockCode::parse(text).map_err(|e| self.fail(field, e.rule))?;
        self.code = Some(code.as_str().to_string());
        Ok(code)
    }

    /// An optional number; absent is `None`.
    fn num(&self, field: &'static str) -> Result<Option<Decimal>, ParseError> {
        match self.fields.get(field) {
            None => Ok(None),
            Some(value) => num(value, field).map_err(|e| self.lift(e)),
        }
    }

    /// A number that must be present and have a value.
    fn req_num(&self, field: &'static str) -> Result<Decimal, ParseError> {
        let value = self.required(field)?;
        num(value, field)
            .map_err(|e| self.lift(e))?
            .ok_or_else(|| self.fail(field, format!("no value ({})", shown(value))))
    }

    /// A number from `raw` when it has a value, else from its display twin `display`.
    fn num_raw(
        &self,
        raw: &'static str,
        display: &'static str,
    ) -> Result<Option<Decimal>, ParseError> {
        match self.num(raw)? {
            Some(value) => Ok(Some(value)),
            None => self.num(display),
        }
    }

    /// Like [`Row::num_raw`], but one of the two must have a value; absence names `display`.
    fn req_num_raw(&self, raw: &'static str, display: &'static str) -> Result<Decimal, ParseError> {
        if !self.fields.contains_key(raw) && !self.fields.contains_key(display) {
            return Err(self.missing(display));
        }
        self.num_raw(raw, display)?
            .ok_or_else(|| self.fail(display, "no value"))
    }

    /// A price that must be > 0.
    fn positive(&self, field: &'static str, value: Decimal) -> Result<Decimal, ParseError> {
        if value <= Decimal::ZERO {
            return Err(self.fail(field, format!("expected a positive price, got {value}")));
        }
        Ok(value)
    }

    /// An optional price: 0 and no value are `None`, a negative one is an error.
    fn price_or_none(
        &self,
        field: &'static str,
        value: Option<Decimal>,
    ) -> Result<Option<Decimal>, ParseError> {
        match value {
            Some(v) if v < Decimal::ZERO => {
                Err(self.fail(field, format!("expected a price, got {v}")))
            }
            Some(v) if v.is_zero() => Ok(None),
            other => Ok(other),
        }
    }

    /// An optional amount of money: zero allowed, negative an error.
    fn money(
        &self,
        field: &'static str,
        value: Option<Decimal>,
    ) -> Result<Option<Decimal>, ParseError> {
        match value {
            Some(v) if v < Decimal::ZERO => {
                Err(self.fail(field, format!("expected a non-negative amount, got {v}")))
            }
            other => Ok(other),
        }
    }

    /// An optional count (shares): a whole number ≥ 0.
    fn count(
        &self,
        field: &'static str,
        value: Option<Decimal>,
    ) -> Result<Option<i64>, ParseError> {
        value
            .map(|v| {
                v.fract()
                    .is_zero()
                    .then(|| v.to_i64())
                    .flatten()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| self.fail(field, format!("expected a whole count ≥ 0, got {v}")))
            })
            .transpose()
    }

    /// A `YYYYMMDD` date; absent, `null`, `""` and `"-"` are `None`.
    fn date(&self, field: &'static str) -> Result<Option<NaiveDate>, ParseError> {
        match self.token(field)? {
            None => Ok(None),
            Some(t) if is_blank(&t) => Ok(None),
            Some(t) => yyyymmdd(&t)
                .map(Some)
                .ok_or_else(|| self.fail(field, format!("expected a date YYYYMMDD, got {t:?}"))),
        }
    }

    /// `localTradedAt`-style time; absent, `null` and blank are `None`.
    fn time(&self, field: &'static str) -> Result<Option<NaiveDateTime>, ParseError> {
        match self.text(field)? {
            None => Ok(None),
            Some(t) if is_blank(t) => Ok(None),
            Some(t) => kst_time(t).map(Some).ok_or_else(|| {
                self.fail(
                    field,
                    format!("expected a time like 2026-11-24T10:15:03+09:00, got {t:?}"),
                )
            }),
        }
    }

    /// The `{code, text, name}` object of `compareToPreviousPrice`; absent or `null` is `None`.
    /// The code wins; a name is read when there is no code; the two must agree.
    fn compare_to_previous(&self) -> Result<Option<Direction>, ParseError> {
        const FIELD: &str = "compareToPreviousPrice";
        const CODE: &str = "compareToPreviousPrice.code";
        const NAME: &str = "compareToPreviousPrice.name";
        let object = match self.fields.get(FIELD) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(object)) => object,
            Some(other) => {
                return Err(self.fail(
                    FIELD,
                    format!("expected an object {{code, name}}, got {}", shown(other)),
                ))
            }
        };
        let by_code =
            match object.get("code").filter(|v| !v.is_null()) {
                None => None,
                Some(value) => {
                    let code = token_text(value).unwrap_or_else(|| shown(value));
                    Some(Direction::from_code(&code).ok_or_else(|| {
                        self.fail(CODE, format!("unknown direction code {code:?}"))
                    })?)
                }
            };
        let by_name =
            match object.get("name").filter(|v| !v.is_null()) {
                None => None,
                Some(value) => {
                    let name = token_text(value).unwrap_or_else(|| shown(value));
                    Some(Direction::from_name(&name).ok_or_else(|| {
                        self.fail(NAME, format!("unknown direction name {name:?}"))
                    })?)
                }
            };
        match (by_code, by_name) {
            (Some(c), Some(n)) if c != n => Err(self.fail(
                FIELD,
                format!(
                    "code {} ({}) disagrees with name {}",
                    c.code(),
                    c.name(),
                    n.name()
                ),
            )),
            (Some(d), _) | (None, Some(d)) => Ok(Some(d)),
            (None, None) => Err(self.fail(FIELD, "neither code nor name")),
        }
    }

    /// stock/default `upDownGb`: the same codes 1–5.
    fn up_down_gb(&self) -> Result<Direction, ParseError> {
        const FIELD: &str = "upDownGb";
        let code = self.req_token(FIELD)?;
        Direction::from_code(&code)
            .ok_or_else(|| self.fail(FIELD, format!("unknown direction code {code:?}")))
    }

    /// `magnitude` signed by `direction`; a flat direction with a non-zero amount is an error.
    fn signed(
        &self,
        field: &'static str,
        direction: Direction,
        magnitude: Decimal,
    ) -> Result<Decimal, ParseError> {
        direction.apply(magnitude).ok_or_else(|| {
            self.fail(
                field,
                format!("{magnitude} with direction {}", direction.name()),
            )
        })
    }

    /// price − signed change, which must be > 0.
    fn prev_close(
        &self,
        field: &'static str,
        price: Decimal,
        change: Decimal,
    ) -> Result<Decimal, ParseError> {
        let prev = price - change;
        if prev <= Decimal::ZERO {
            return Err(self.fail(
                field,
                format!("a change of {change} from {price} leaves a previous close of {prev}"),
            ));
        }
        Ok(prev)
    }

    /// `tradableStatus`, case-insensitive: `Some(true)` for tradable.
    fn tradable_status(&self) -> Result<Option<bool>, ParseError> {
        Ok(self
            .text("tradableStatus")?
            .map(|s| s.eq_ignore_ascii_case("tradable")))
    }

    /// stock/default: halted when `tradeStopYn` is `Y` or `tradableStatus` is not tradable.
    /// A row with neither field is an error: we do not assume a tradable instrument.
    fn halted_by_flag(&self) -> Result<bool, ParseError> {
        const FIELD: &str = "tradeStopYn";
        let stop = match self.text(FIELD)? {
            None => None,
            Some(yn) if yn.eq_ignore_ascii_case("Y") => Some(true),
            Some(yn) if yn.eq_ignore_ascii_case("N") => Some(false),
            Some(other) => return Err(self.fail(FIELD, format!("expected Y or N, got {other:?}"))),
        };
        match (stop, self.tradable_status()?) {
            (None, None) => Err(self.missing("tradableStatus")),
            (stop, tradable) => Ok(stop == Some(true) || tradable == Some(false)),
        }
    }

    /// marketValue and polling: halted when `tradeStopType.name` is not `TRADING` or
    /// `tradableStatus` is not tradable. A row with neither field is an error.
    fn halted_by_type(&self) -> Result<bool, ParseError> {
        const FIELD: &str = "tradeStopType";
        const NAME: &str = "tradeStopType.name";
        let stop = match self.fields.get(FIELD) {
            None | Some(Value::Null) => None,
            Some(Value::Object(object)) => match object.get("name") {
                Some(Value::String(name)) => Some(name.trim() != "TRADING"),
                None | Some(Value::Null) => return Err(self.missing(NAME)),
                Some(other) => {
                    return Err(self.fail(NAME, format!("expected a string, got {}", shown(other))))
                }
            },
            Some(other) => {
                return Err(self.fail(
                    FIELD,
                    format!("expected an object {{code, name}}, got {}", shown(other)),
                ))
            }
        };
        match (stop, self.tradable_status()?) {
            (None, None) => Err(self.missing("tradableStatus")),
            (stop, tradable) => Ok(stop == Some(true) || tradable == Some(false)),
        }
    }

    /// A session field: `REGULAR`/`regularMarket` is regular, `AFTER_MARKET`/`afterMarket` is
    /// after; absent is regular; anything else (e.g. `PRE_MARKET`) is an error.
    fn session(&self, field: &'static str) -> Result<TradingSession, ParseError> {
        let Some(text) = self.text(field)? else {
            return Ok(TradingSession::Regular);
        };
        let folded: String = text
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        match folded.as_str() {
            "regular" | "regularmarket" => Ok(TradingSession::Regular),
            "after" | "aftermarket" => Ok(TradingSession::After),
            _ => Err(self.fail(field, format!("unknown session {text:?}"))),
        }
    }
}

/// The body as JSON; a body that does not start with `{` or `[` is [`ParseError::NotJson`].
fn json_body(body: &str) -> Result<Value, ParseError> {
    let body = body.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if !body.starts_with(['{', '[']) {
        return Err(ParseError::NotJson {
            starts: body.chars().take(HEAD_CHARS).collect(),
        });
    }
    serde_json::from_str(body).map_err(|e| ParseError::Json(e.to_string()))
}

fn array<'a>(
    value: &'a Value,
    what: &str,
    expected: &'static str,
) -> Result<&'a Vec<Value>, ParseError> {
    value.as_array().ok_or_else(|| ParseError::Shape {
        what: what.to_string(),
        expected,
        found: shown(value),
    })
}

fn object<'a>(
    value: &'a Value,
    what: &str,
    expected: &'static str,
) -> Result<&'a Map<String, Value>, ParseError> {
    value.as_object().ok_or_else(|| ParseError::Shape {
        what: what.to_string(),
        expected,
        found: shown(value),
    })
}

fn member<'a>(object: &'a Map<String, Value>, key: &'static str) -> Result<&'a Value, ParseError> {
    object.get(key).ok_or_else(|| ParseError::Missing {
        what: key.to_string(),
    })
}

/// Rejects a code seen in an earlier row of the same page.
fn no_duplicate_codes<'a>(
    rows: impl IntoIterator<Item = &'a StockCode>,
    field: &'static str,
) -> Result<(), ParseError> {
    let mut seen: HashMap<&StockCode, usize> = HashMap::new();
    for (index, code) in rows.into_iter().enumerate() {
        if let Some(first) = seen.insert(code, index) {
            return Err(ParseError::Field {
                row: index,
                code: Some(code.to_string()),
                field,
                problem: format!("the same code as row {first}"),
            });
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Listings

/// Parses `stock.naver.com/api/domestic/market/stock/default` (RENEWAL §2a): a bare array of
/// flat rows of one market (`sosok` must match `market`). Kind from `type`: `ST` refined by the
/// name (preferred, SPAC), `RT` REIT, `PF` fund; any other type is an error, since we cannot
/// trade an instrument under unknown rules. An empty array is an empty page (the end of the
/// list).
pub fn parse_stock_default(body: &str, market: Market) -> Result<Vec<ListedRow>, ParseError> {
    let root = json_body(body)?;
    let items = array(&root, "body", "an array of rows")?;
    let rows = items
        .iter()
        .enumerate()
        .map(|(index, item)| stock_default_row(index, item, market))
        .collect::<Result<Vec<_>, _>>()?;
    no_duplicate_codes(rows.iter().map(|r| &r.code), "itemcode")?;
    Ok(rows)
}

fn stock_default_row(index: usize, item: &Value, market: Market) -> Result<ListedRow, ParseError> {
    let mut row = Row::new(index, item)?;
    let code = row.code("itemcode")?;
    let name = row.req_text("itemname")?.to_string();
    let sosok = row.req_token("sosok")?;
    let listed_in = match sosok.as_str() {
        "0" => Market::Kospi,
        "1" => Market::Kosdaq,
        other => {
            return Err(row.fail(
                "sosok",
                format!("unknown market {other:?} (0 KOSPI, 1 KOSDAQ)"),
            ))
        }
    };
    if listed_in != market {
        return Err(row.fail(
            "sosok",
            format!("{sosok:?} is {listed_in}, in a {market} list"),
        ));
    }
    let kind = match row.req_text("type")? {
        "ST" => InstrumentKind::of_share_name(&name),
        "RT" => InstrumentKind::Reit,
        "PF" => InstrumentKind::Fund,
        // Seen in the recorded listing of 2026-10-08: foreign companies' shares (900140) and
        // depositary receipts (950210).
        "FS" => InstrumentKind::Foreign,
        "DR" => InstrumentKind::Receipt,
        other => {
            return Err(row.fail(
                "type",
                format!("unknown instrument type {other:?} (ST, RT, PF, FS and DR are known)"),
            ))
        }
    };
    let price = row.positive("nowPrice", row.req_num("nowPrice")?)?;
    let direction = row.up_down_gb()?;
    let change = row.signed(
        "prevChangePrice",
        direction,
        row.req_num("prevChangePrice")?,
    )?;
    let prev_close = row.prev_close("prevChangePrice", price, change)?;
    let change_rate = row
        .num("prevChangeRate")?
        .map(|rate| row.signed("prevChangeRate", direction, rate))
        .transpose()?;
    Ok(ListedRow {
        name,
        market,
        kind,
        price,
        prev_close,
        change_rate,
        open: row.price_or_none("openPrice", row.num("openPrice")?)?,
        high: row.price_or_none("highPrice", row.num("highPrice")?)?,
        low: row.price_or_none("lowPrice", row.num("lowPrice")?)?,
        volume: row.count("tradeVolume", row.num("tradeVolume")?)?,
        trading_value: row.money("tradeAmount", row.num("tradeAmount")?)?,
        market_cap: row.money("marketSum", row.num("marketSum")?)?,
        listed_shares: row.count("listedStockCnt", row.num("listedStockCnt")?)?,
        listed_on: row.date("listedDate")?,
        upper_limit: row.price_or_none("upperLimitPrice", row.num("upperLimitPrice")?)?,
        lower_limit: row.price_or_none("lowerLimitPrice", row.num("lowerLimitPrice")?)?,
        halted: row.halted_by_flag()?,
        session: row.session("tradingSessionType")?,
        code,
    })
}

/// Parses `m.stock.naver.com/api/stocks/marketValue/{KOSPI|KOSDAQ}` (RENEWAL §2b):
/// `{stocks, totalCount}`. Kind from `stockEndType` (`stock` refined by the name, `etf`, `etn`;
/// anything else is an error); `stockExchangeType.code` (KS/KQ) must match `market`. Market cap
/// and trading value come from the `…Raw` fields (won): their displays are in 억 and million
/// won. The page carries no open/high/low, limits, share count or listing date (`None`); the
/// share count can be derived as market_cap / price.
pub fn parse_market_value(body: &str, market: Market) -> Result<MarketValuePage, ParseError> {
    let root = json_body(body)?;
    let top = object(&root, "body", "an object with stocks and totalCount")?;
    let items = array(member(top, "stocks")?, "stocks", "an array of rows")?;
    let total = member(top, "totalCount")?;
    let total_count = num(total, "totalCount")
        .ok()
        .flatten()
        .filter(|n| n.fract().is_zero() && *n >= Decimal::ZERO)
        .and_then(|n| n.to_usize())
        .ok_or_else(|| ParseError::BadValue {
            what: "totalCount".to_string(),
            text: shown(total),
        })?;
    if items.len() > total_count {
        return Err(ParseError::BadValue {
            what: "totalCount".to_string(),
            text: format!("{total_count}, below the {} rows of the page", items.len()),
        });
    }
    let rows = items
        .iter()
        .enumerate()
        .map(|(index, item)| market_value_row(index, item, market))
        .collect::<Result<Vec<_>, _>>()?;
    no_duplicate_codes(rows.iter().map(|r| &r.code), "itemCode")?;
    Ok(MarketValuePage { rows, total_count })
}

fn market_value_row(index: usize, item: &Value, market: Market) -> Result<ListedRow, ParseError> {
    let mut row = Row::new(index, item)?;
    let code = row.code("itemCode")?;
    let name = row.req_text("stockName")?.to_string();
    let kind = match row.req_text("stockEndType")? {
        "stock" => InstrumentKind::of_share_name(&name),
        "etf" => InstrumentKind::Etf,
        "etn" => InstrumentKind::Etn,
        other => {
            return Err(row.fail(
                "stockEndType",
                format!("unknown instrument type {other:?} (stock, etf and etn are known)"),
            ))
        }
    };
    let exchange = row.required("stockExchangeType")?;
    let exchange_code = exchange
        .get("code")
        .and_then(token_text)
        .ok_or_else(|| row.missing("stockExchangeType.code"))?;
    let listed_in = match exchange_code.as_str() {
        "KS" => Market::Kospi,
        "KQ" => Market::Kosdaq,
        other => {
            return Err(row.fail(
                "stockExchangeType.code",
                format!("unknown exchange {other:?} (KS KOSPI, KQ KOSDAQ)"),
            ))
        }
    };
    if listed_in != market {
        return Err(row.fail(
            "stockExchangeType.code",
            format!("{exchange_code:?} is {listed_in}, in a {market} list"),
        ));
    }
    let price = row.positive(
        "closePrice",
        row.req_num_raw("closePriceRaw", "closePrice")?,
    )?;
    let direction = row
        .compare_to_previous()?
        .ok_or_else(|| row.missing("compareToPreviousPrice"))?;
    let change = row.signed(
        "compareToPreviousClosePrice",
        direction,
        row.req_num_raw(
            "compareToPreviousClosePriceRaw",
            "compareToPreviousClosePrice",
        )?,
    )?;
    let prev_close = row.prev_close("compareToPreviousClosePrice", price, change)?;
    let change_rate = row
        .num_raw("fluctuationsRatioRaw", "fluctuationsRatio")?
        .map(|rate| row.signed("fluctuationsRatio", direction, rate))
        .transpose()?;
    let volume = row.num_raw("accumulatedTradingVolumeRaw", "accumulatedTradingVolume")?;
    Ok(ListedRow {
        name,
        market,
        kind,
        price,
        prev_close,
        change_rate,
        open: None,
        high: None,
        low: None,
        volume: row.count("accumulatedTradingVolume", volume)?,
        trading_value: row.money(
            "accumulatedTradingValueRaw",
            row.num("accumulatedTradingValueRaw")?,
        )?,
        market_cap: row.money("marketValueRaw", row.num("marketValueRaw")?)?,
        listed_shares: None,
        listed_on: None,
        upper_limit: None,
        lower_limit: None,
        halted: row.halted_by_type()?,
        session: row.session("marketSessionType")?,
        code,
    })
}

// ---------------------------------------------------------------------------------------------
// Polling quotes

/// `{pollingInterval, datas: […]}` → the `datas` rows.
fn polling_datas(root: &Value) -> Result<&Vec<Value>, ParseError> {
    let top = object(root, "body", "an object with datas")?;
    array(member(top, "datas")?, "datas", "an array of rows")
}

/// Parses `polling.finance.naver.com/api/realtime/domestic/stock/{codes}` (RENEWAL §4). Only the
/// top-level (KRX) fields are read; `overMarketPriceInfo` (NXT) and `integratedPriceInfo` are
/// ignored. After 16:00 the top-level fields carry the KRX after-market (`session` After).
/// Unknown codes are simply absent from the answer.
pub fn parse_polling_stocks(body: &str) -> Result<Vec<QuoteNow>, ParseError> {
    let root = json_body(body)?;
    let quotes = polling_datas(&root)?
        .iter()
        .enumerate()
        .map(|(index, item)| polling_stock_row(index, item))
        .collect::<Result<Vec<_>, _>>()?;
    no_duplicate_codes(quotes.iter().map(|q| &q.code), "itemCode")?;
    Ok(quotes)
}

fn polling_stock_row(index: usize, item: &Value) -> Result<QuoteNow, ParseError> {
    let mut row = Row::new(index, item)?;
    let code = row.code("itemCode")?;
    let name = row.req_text("stockName")?.to_string();
    let price = row.price_or_none("closePrice", row.num_raw("closePriceRaw", "closePrice")?)?;
    let change = row.num_raw(
        "compareToPreviousClosePriceRaw",
        "compareToPreviousClosePrice",
    )?;
    let rate = row.num_raw("fluctuationsRatioRaw", "fluctuationsRatio")?;
    let direction = match row.compare_to_previous()? {
        Some(d) => Some(d),
        None if change.is_some() || rate.is_some() => {
            return Err(row.missing("compareToPreviousPrice"))
        }
        None => None,
    };
    let sign = |field: &'static str, v: Option<Decimal>| -> Result<Option<Decimal>, ParseError> {
        match (v, direction) {
            (Some(v), Some(d)) => row.signed(field, d, v).map(Some),
            _ => Ok(None),
        }
    };
    let change = sign("compareToPreviousClosePrice", change)?;
    let change_rate = sign("fluctuationsRatio", rate)?;
    let prev_close = match (price, change) {
        (Some(p), Some(c)) => Some(row.prev_close("compareToPreviousClosePrice", p, c)?),
        _ => None,
    };
    let ohlc = |raw, display| -> Result<Option<Decimal>, ParseError> {
        row.price_or_none(display, row.num_raw(raw, display)?)
    };
    let volume = row.num_raw("accumulatedTradingVolumeRaw", "accumulatedTradingVolume")?;
    Ok(QuoteNow {
        name,
        price,
        prev_close,
        change_rate,
        open: ohlc("openPriceRaw", "openPrice")?,
        high: ohlc("highPriceRaw", "highPrice")?,
        low: ohlc("lowPriceRaw", "lowPrice")?,
        volume: row.count("accumulatedTradingVolume", volume)?,
        trading_value: row.money(
            "accumulatedTradingValueRaw",
            row.num("accumulatedTradingValueRaw")?,
        )?,
        market_cap: row.money("marketValueFullRaw", row.num("marketValueFullRaw")?)?,
        market_status: row.req_text("marketStatus")?.to_string(),
        session: row.session("marketSessionType")?,
        traded_at: row.time("localTradedAt")?,
        halted: row.halted_by_type()?,
        code,
    })
}

// ---------------------------------------------------------------------------------------------
// Indices

/// Parses `polling.finance.naver.com/api/realtime/domestic/index/{KOSPI,KOSDAQ}` (RENEWAL §3).
pub fn parse_polling_index(body: &str) -> Result<Vec<IndexQuote>, ParseError> {
    let root = json_body(body)?;
    let quotes = polling_datas(&root)?
        .iter()
        .enumerate()
        .map(|(index, item)| index_row(index, item))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, quote) in quotes.iter().enumerate() {
        if let Some(first) = seen.insert(quote.code.as_str(), index) {
            return Err(ParseError::Field {
                row: index,
                code: Some(quote.code.clone()),
                field: "itemCode",
                problem: format!("the same code as row {first}"),
            });
        }
    }
    Ok(quotes)
}

/// Parses `m.stock.naver.com/api/index/{KOSPI|KOSDAQ}/basic`: one object with the polling
/// index fields (errors name it row 0).
pub fn parse_index_basic(body: &str) -> Result<IndexQuote, ParseError> {
    let root = json_body(body)?;
    object(&root, "body", "an object")?;
    index_row(0, &root)
}

fn index_row(index: usize, item: &Value) -> Result<IndexQuote, ParseError> {
    let mut row = Row::new(index, item)?;
    let code = row.req_text("itemCode")?.to_string();
    row.code = Some(code.clone());
    let value = row.positive(
        "closePrice",
        row.req_num_raw("closePriceRaw", "closePrice")?,
    )?;
    let direction = row
        .compare_to_previous()?
        .ok_or_else(|| row.missing("compareToPreviousPrice"))?;
    let change = row.signed(
        "compareToPreviousClosePrice",
        direction,
        row.req_num_raw(
            "compareToPreviousClosePriceRaw",
            "compareToPreviousClosePrice",
        )?,
    )?;
    let prev_close = row.prev_close("compareToPreviousClosePrice", value, change)?;
    let change_rate = row
        .num_raw("fluctuationsRatioRaw", "fluctuationsRatio")?
        .map(|rate| row.signed("fluctuationsRatio", direction, rate))
        .transpose()?;
    Ok(IndexQuote {
        value,
        prev_close,
        change_rate,
        traded_at: row.time("localTradedAt")?,
        market_status: row.req_text("marketStatus")?.to_string(),
        code,
    })
}

// ---------------------------------------------------------------------------------------------
// Order book

/// Parses `m.stock.naver.com/api/stock/{code}/askingPrice` (RENEWAL §5): `sellInfo` (singular)
/// and `buyInfos` (plural), lists of `{price, count}` display strings, any depth, any order.
/// Returns asks ascending and bids descending (best first).
///
/// Levels: a level whose price is `"-"`/`""`/`null` is an empty slot and is dropped, provided its
/// count is blank or 0 too (a quantity without a price is an error). A level with a price and a
/// count of `"0"`, `"-"` or `""` is kept with quantity 0 (Naver lists consecutive ticks, some
/// empty). A price ≤ 0, a price twice on one side, or a crossed book (best ask ≤ best bid) is an
/// error. `totalSell`/`totalBuy` are not read.
pub fn parse_asking_price(body: &str) -> Result<OrderBook, ParseError> {
    let root = json_body(body)?;
    let top = object(&root, "body", "an object with sellInfo and buyInfos")?;
    let mut asks = book_side(top, BookSide::Sell)?;
    let mut bids = book_side(top, BookSide::Buy)?;
    asks.sort_by_key(|l| l.price);
    bids.sort_by_key(|l| Reverse(l.price));
    if let (Some(ask), Some(bid)) = (asks.first(), bids.first()) {
        if ask.price <= bid.price {
            return Err(ParseError::CrossedBook {
                best_ask: ask.price,
                best_bid: bid.price,
            });
        }
    }
    Ok(OrderBook { asks, bids })
}

#[derive(Clone, Copy)]
enum BookSide {
    Sell,
    Buy,
}

impl BookSide {
    fn key(self) -> &'static str {
        match self {
            BookSide::Sell => "sellInfo",
            BookSide::Buy => "buyInfos",
        }
    }
    fn price_field(self) -> &'static str {
        match self {
            BookSide::Sell => "sellInfo.price",
            BookSide::Buy => "buyInfos.price",
        }
    }
    fn count_field(self) -> &'static str {
        match self {
            BookSide::Sell => "sellInfo.count",
            BookSide::Buy => "buyInfos.count",
        }
    }
}

fn book_side(top: &Map<String, Value>, side: BookSide) -> Result<Vec<Level>, ParseError> {
    let items = array(member(top, side.key())?, side.key(), "an array of levels")?;
    let mut levels: Vec<Level> = Vec::with_capacity(items.len());
    let mut rows: HashMap<Decimal, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        let fields = object(item, &format!("{} row {index}", side.key()), "an object")?;
        let fail = |e: FieldError| e.at(index, None);
        let missing = |field| ParseError::MissingField {
            row: index,
            code: None,
            field,
        };
        let price_value = fields
            .get("price")
            .ok_or_else(|| missing(side.price_field()))?;
        let count_value = fields
            .get("count")
            .ok_or_else(|| missing(side.count_field()))?;
        let price = num(price_value, side.price_field()).map_err(fail)?;
        let count = num(count_value, side.count_field()).map_err(fail)?;
        let quantity = match count {
            None => 0,
            Some(c) => c
                .fract()
                .is_zero()
                .then(|| c.to_i64())
                .flatten()
                .filter(|q| *q >= 0)
                .ok_or_else(|| {
                    fail(FieldError::new(
                        side.count_field(),
                        format!("expected a whole count ≥ 0, got {c}"),
                    ))
                })?,
        };
        let Some(price) = price else {
            if quantity != 0 {
                return Err(fail(FieldError::new(
                    side.price_field(),
                    format!("no price for a quantity of {quantity}"),
                )));
            }
            continue;
        };
        if price <= Decimal::ZERO {
            return Err(fail(FieldError::new(
                side.price_field(),
                format!("expected a positive price, got {price}"),
            )));
        }
        if let Some(first) = rows.insert(price, index) {
            return Err(fail(FieldError::new(
                side.price_field(),
                format!("{price} is also in row {first}"),
            )));
        }
        levels.push(Level { price, quantity });
    }
    Ok(levels)
}

// ---------------------------------------------------------------------------------------------
// Charts

/// The rows of a chart answer: a bare array, or `{priceInfos: […]}` (`wrapper=true`).
fn chart_rows(root: &Value) -> Result<&Vec<Value>, ParseError> {
    match root {
        Value::Object(top) => array(member(top, "priceInfos")?, "priceInfos", "an array of bars"),
        other => array(other, "body", "an array of bars"),
    }
}

/// Parses `api.stock.naver.com/chart/domestic/{item|index}/{X}/day` (RENEWAL §6), bare or
/// wrapped in `{priceInfos}`. Bars come back oldest first; a date twice is an error.
///
/// A halted day (`open = high = low = volume = 0`, close > 0) becomes a bar with
/// open = high = low = close and volume 0. Adjusted prices that break
/// `low ≤ open, close ≤ high` by at most [`ADJUSTMENT_SLACK`] widen high/low to include open and
/// close (the database checks that order); a larger break is an error.
pub fn parse_chart_day(body: &str) -> Result<Vec<Bar>, ParseError> {
    let root = json_body(body)?;
    let mut bars = chart_rows(&root)?
        .iter()
        .enumerate()
        .map(|(index, item)| chart_day_row(index, item).map(|bar| (index, bar)))
        .collect::<Result<Vec<_>, _>>()?;
    bars.sort_by_key(|(_, bar)| bar.date);
    for pair in bars.windows(2) {
        let ((first, a), (second, b)) = (&pair[0], &pair[1]);
        if a.date == b.date {
            return Err(ParseError::Field {
                row: *first.max(second),
                code: None,
                field: "localDate",
                problem: format!("{} is also in row {}", b.date, first.min(second)),
            });
        }
    }
    Ok(bars.into_iter().map(|(_, bar)| bar).collect())
}

fn chart_day_row(index: usize, item: &Value) -> Result<Bar, ParseError> {
    let row = Row::new(index, item)?;
    row.required("localDate")?;
    let date = row
        .date("localDate")?
        .ok_or_else(|| row.fail("localDate", "no value"))?;
    let close = row.positive("closePrice", row.req_num("closePrice")?)?;
    let open = row.req_num("openPrice")?;
    let high = row.req_num("highPrice")?;
    let low = row.req_num("lowPrice")?;
    let volume = row
        .count(
            "accumulatedTradingVolume",
            Some(row.req_num("accumulatedTradingVolume")?),
        )?
        .unwrap_or_default();
    if open.is_zero() && high.is_zero() && low.is_zero() {
        if volume != 0 {
            return Err(row.fail(
                "accumulatedTradingVolume",
                format!("{volume} shares on a day without open, high or low"),
            ));
        }
        return Ok(Bar {
            date,
            open: close,
            high: close,
            low: close,
            close,
            volume: 0,
        });
    }
    let open = row.positive("openPrice", open)?;
    let mut high = row.positive("highPrice", high)?;
    let mut low = row.positive("lowPrice", low)?;
    if high < low {
        return Err(row.fail("highPrice", format!("{high} is below the low {low}")));
    }
    for (field, price) in [("openPrice", open), ("closePrice", close)] {
        if price > high + ADJUSTMENT_SLACK {
            return Err(row.fail(field, format!("{price} is above the high {high}")));
        }
        if price < low - ADJUSTMENT_SLACK {
            return Err(row.fail(field, format!("{price} is below the low {low}")));
        }
        high = high.max(price);
        low = low.min(price);
    }
    Ok(Bar {
        date,
        open,
        high,
        low,
        close,
        volume,
    })
}

/// Parses `api.stock.naver.com/chart/domestic/item/{code}/minute` (RENEWAL §6), bare or wrapped
/// in `{priceInfos}`: `localDateTime` (`YYYYMMDDHHMMSS`, KST), `currentPrice`, and
/// `accumulatedTradingVolume` (per minute). Oldest first; a minute twice is an error.
pub fn parse_chart_minute(body: &str) -> Result<Vec<MinuteBar>, ParseError> {
    let root = json_body(body)?;
    let mut bars = chart_rows(&root)?
        .iter()
        .enumerate()
        .map(|(index, item)| chart_minute_row(index, item).map(|bar| (index, bar)))
        .collect::<Result<Vec<_>, _>>()?;
    bars.sort_by_key(|(_, bar)| bar.at);
    for pair in bars.windows(2) {
        let ((first, a), (second, b)) = (&pair[0], &pair[1]);
        if a.at == b.at {
            return Err(ParseError::Field {
                row: *first.max(second),
                code: None,
                field: "localDateTime",
                problem: format!("{} is also in row {}", b.at, first.min(second)),
            });
        }
    }
    Ok(bars.into_iter().map(|(_, bar)| bar).collect())
}

fn chart_minute_row(index: usize, item: &Value) -> Result<MinuteBar, ParseError> {
    const FIELD: &str = "localDateTime";
    let row = Row::new(index, item)?;
    let text = row.req_token(FIELD)?;
    let at = (text.len() == 14 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| NaiveDateTime::parse_from_str(&text, "%Y%m%d%H%M%S").ok())
        .flatten()
        .ok_or_else(|| {
            row.fail(
                FIELD,
                format!("expected a time YYYYMMDDHHMMSS, got {text:?}"),
            )
        })?;
    let price = row.positive("currentPrice", row.req_num("currentPrice")?)?;
    let volume = row.count(
        "accumulatedTradingVolume",
        row.num("accumulatedTradingVolume")?,
    )?;
    Ok(MinuteBar { at, price, volume })
}

/// The start of the minute bar that holds the regular session's closing auction.
pub fn regular_close_minute() -> NaiveTime {
    NaiveTime::from_hms_opt(15, 30, 0).expect("valid time")
}

/// The regular-session close of `day`: the price of its 15:30:00 minute bar, `None` when the
/// bar is absent. (On a day with a shifted session, such as the CSAT day, the close is at
/// another minute; this reads 15:30 regardless.)
pub fn regular_close(minutes: &[MinuteBar], day: NaiveDate) -> Option<Decimal> {
    let at = day.and_time(regular_close_minute());
    minutes.iter().find(|m| m.at == at).map(|m| m.price)
}

// ---------------------------------------------------------------------------------------------
// Renderers (for the simulated market: the same shapes, read back by the parsers above)

/// A `…Raw` field: the plain decimal text.
fn raw(value: Decimal) -> String {
    value.normalize().to_string()
}

/// A display field: thousands separators.
fn display(value: Decimal) -> String {
    group_thousands(value.normalize())
}

fn raw_or_blank(value: Option<Decimal>) -> String {
    value.map(raw).unwrap_or_default()
}

fn display_or_dash(value: Option<Decimal>) -> String {
    value.map(display).unwrap_or_else(|| "-".to_string())
}

/// A JSON number for the chart API (which sends floats such as `273500.0`).
fn json_number(value: Decimal) -> Value {
    let value = value.normalize();
    if let Some(i) = value.fract().is_zero().then(|| value.to_i64()).flatten() {
        return Value::from(i);
    }
    value
        .to_f64()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn direction_object(direction: Direction) -> Value {
    json!({"code": direction.code(), "text": direction.word(), "name": direction.name()})
}

/// The direction of a listed row: a limit direction when the price sits on its limit.
fn listed_direction(row: &ListedRow) -> Direction {
    match Direction::between(row.prev_close, row.price) {
        Direction::Rising if row.upper_limit == Some(row.price) => Direction::UpperLimit,
        Direction::Falling if row.lower_limit == Some(row.price) => Direction::LowerLimit,
        other => other,
    }
}

fn halt_type(halted: bool) -> Value {
    if halted {
        json!({"code": "2", "text": "거래정지", "name": "HALT"})
    } else {
        json!({"code": "1", "text": "거래", "name": "TRADING"})
    }
}

fn tradable_status(halted: bool) -> &'static str {
    if halted {
        "halt"
    } else {
        "tradable"
    }
}

/// KST wall-clock time as `localTradedAt`.
fn local_traded_at(at: Option<NaiveDateTime>) -> Value {
    at.map(|t| Value::from(t.format("%Y-%m-%dT%H:%M:%S+09:00").to_string()))
        .unwrap_or(Value::Null)
}

/// Writes rows in the stock/default shape (a bare array, digit strings without commas).
/// ETF and ETN rows are left out, as the real list leaves them out. Rows as the parser returns
/// them read back equal.
pub fn render_stock_default(rows: &[ListedRow]) -> String {
    let items: Vec<Value> = rows.iter().filter_map(stock_default_item).collect();
    Value::Array(items).to_string()
}

fn stock_default_item(row: &ListedRow) -> Option<Value> {
    let kind = match row.kind {
        InstrumentKind::Common | InstrumentKind::Preferred | InstrumentKind::Spac => "ST",
        InstrumentKind::Reit => "RT",
        InstrumentKind::Fund => "PF",
        InstrumentKind::Foreign => "FS",
        InstrumentKind::Receipt => "DR",
        InstrumentKind::Etf | InstrumentKind::Etn => return None,
    };
    let zero_or = |v: Option<Decimal>| raw(v.unwrap_or_default());
    Some(json!({
        "itemcode": row.code.as_str(),
        "itemname": row.name,
        "sosok": match row.market { Market::Kospi => "0", Market::Kosdaq => "1" },
        "type": kind,
        "nowPrice": raw(row.price),
        "prevChangePrice": raw((row.price - row.prev_close).abs()),
        "prevChangeRate": row.change_rate.map(raw),
        "upDownGb": listed_direction(row).code(),
        "openPrice": zero_or(row.open),
        "highPrice": zero_or(row.high),
        "lowPrice": zero_or(row.low),
        "upperLimitPrice": zero_or(row.upper_limit),
        "lowerLimitPrice": zero_or(row.lower_limit),
        "tradeVolume": row.volume.map(|v| v.to_string()),
        "tradeAmount": row.trading_value.map(raw),
        "marketSum": row.market_cap.map(raw),
        "listedStockCnt": row.listed_shares.map(|v| v.to_string()),
        "listedDate": row.listed_on.map(|d| d.format("%Y%m%d").to_string()),
        "tradeStopYn": if row.halted { "Y" } else { "N" },
        "tradableStatus": tradable_status(row.halted),
        "tradableStatusCode": if row.halted { "eventHalt01" } else { "ok" },
        "manageStatusGb": "0",
        "marketAlertType": "00",
        "tradingSessionType": match row.session {
            TradingSession::Regular => "REGULAR",
            TradingSession::After => "AFTER_MARKET",
        },
    }))
}

/// Writes rows in the marketValue shape (`{stocks, totalCount}`; displays with commas, money
/// displays in million won and 억, `…Raw` fields in won). The shape has no open/high/low,
/// limits, share count or listing date, and no REIT/fund type (those rows are written as
/// `stock`), so only rows without those read back equal. `marketSessionType` is written as the
/// polling rows carry it.
pub fn render_market_value(rows: &[ListedRow], total_count: usize) -> String {
    let stocks: Vec<Value> = rows.iter().map(market_value_item).collect();
    json!({"stocks": stocks, "totalCount": total_count}).to_string()
}

fn market_value_item(row: &ListedRow) -> Value {
    let change = row.price - row.prev_close;
    let million = Decimal::from(1_000_000);
    let eok = Decimal::from(100_000_000);
    let volume = row.volume.map(Decimal::from);
    json!({
        "itemCode": row.code.as_str(),
        "stockName": row.name,
        "stockType": "domestic",
        "stockEndType": match row.kind {
            InstrumentKind::Etf => "etf",
            InstrumentKind::Etn => "etn",
            _ => "stock",
        },
        "closePrice": display(row.price),
        "closePriceRaw": raw(row.price),
        "compareToPreviousClosePrice": display(change),
        "compareToPreviousClosePriceRaw": raw(change),
        "compareToPreviousPrice": direction_object(listed_direction(row)),
        "fluctuationsRatio": display_or_dash(row.change_rate),
        "accumulatedTradingVolume": display_or_dash(volume),
        "accumulatedTradingVolumeRaw": raw_or_blank(volume),
        "accumulatedTradingValue": display_or_dash(row.trading_value.map(|v| (v / million).round())),
        "accumulatedTradingValueRaw": raw_or_blank(row.trading_value),
        "marketValue": display_or_dash(row.market_cap.map(|v| (v / eok).round())),
        "marketValueRaw": raw_or_blank(row.market_cap),
        "tradeStopType": halt_type(row.halted),
        "tradableStatus": tradable_status(row.halted),
        "stockExchangeType": match row.market {
            Market::Kospi => json!({"code": "KS", "nameEng": "KOSPI"}),
            Market::Kosdaq => json!({"code": "KQ", "nameEng": "KOSDAQ"}),
        },
        "marketSessionType": session_type(row.session),
    })
}

fn session_type(session: TradingSession) -> &'static str {
    match session {
        TradingSession::Regular => "regularMarket",
        TradingSession::After => "afterMarket",
    }
}

/// Writes quotes in the polling shape (`{pollingInterval, datas}`; `"-"` displays and `""` raws
/// where a value is absent). The quote has no exchange, so `stockExchangeType` is not written.
/// A quote reads back equal when its `prev_close` is `None` or it has a price.
pub fn render_polling_stocks(quotes: &[QuoteNow]) -> String {
    let datas: Vec<Value> = quotes.iter().map(polling_stock_item).collect();
    json!({"pollingInterval": POLLING_INTERVAL_MS, "datas": datas}).to_string()
}

/// The direction of a quote: from price and previous close, else from the rate's sign.
fn quote_direction(
    price: Option<Decimal>,
    prev_close: Option<Decimal>,
    rate: Option<Decimal>,
) -> Direction {
    match (price, prev_close, rate) {
        (Some(p), Some(c), _) => Direction::between(c, p),
        (_, _, Some(r)) => Direction::between(Decimal::ZERO, r),
        _ => Direction::Unchanged,
    }
}

fn polling_stock_item(quote: &QuoteNow) -> Value {
    let change = quote.price.zip(quote.prev_close).map(|(p, c)| p - c);
    let volume = quote.volume.map(Decimal::from);
    let direction = quote_direction(quote.price, quote.prev_close, quote.change_rate);
    json!({
        "itemCode": quote.code.as_str(),
        "stockName": quote.name,
        "closePrice": display_or_dash(quote.price),
        "closePriceRaw": raw_or_blank(quote.price),
        "compareToPreviousClosePrice": display_or_dash(change),
        "compareToPreviousClosePriceRaw": raw_or_blank(change),
        "compareToPreviousPrice": direction_object(direction),
        "fluctuationsRatio": display_or_dash(quote.change_rate),
        "fluctuationsRatioRaw": raw_or_blank(quote.change_rate),
        "openPrice": display_or_dash(quote.open),
        "openPriceRaw": raw_or_blank(quote.open),
        "highPrice": display_or_dash(quote.high),
        "highPriceRaw": raw_or_blank(quote.high),
        "lowPrice": display_or_dash(quote.low),
        "lowPriceRaw": raw_or_blank(quote.low),
        "accumulatedTradingVolume": display_or_dash(volume),
        "accumulatedTradingVolumeRaw": raw_or_blank(volume),
        "accumulatedTradingValueRaw": raw_or_blank(quote.trading_value),
        "marketValueFullRaw": raw_or_blank(quote.market_cap),
        "marketStatus": quote.market_status,
        "marketSessionType": session_type(quote.session),
        "localTradedAt": local_traded_at(quote.traded_at),
        "tradeStopType": halt_type(quote.halted),
        "tradableStatus": tradable_status(quote.halted),
    })
}

/// Writes index quotes in the polling index shape (`{pollingInterval, datas}`).
pub fn render_polling_index(quotes: &[IndexQuote]) -> String {
    let datas: Vec<Value> = quotes.iter().map(index_item).collect();
    json!({"pollingInterval": POLLING_INTERVAL_MS, "datas": datas}).to_string()
}

/// Writes one index quote in the m.stock `/api/index/{X}/basic` shape.
pub fn render_index_basic(quote: &IndexQuote) -> String {
    index_item(quote).to_string()
}

fn index_item(quote: &IndexQuote) -> Value {
    let change = quote.value - quote.prev_close;
    json!({
        "itemCode": quote.code,
        "closePrice": display(quote.value),
        "closePriceRaw": raw(quote.value),
        "compareToPreviousClosePrice": display(change),
        "compareToPreviousClosePriceRaw": raw(change),
        "compareToPreviousPrice": direction_object(Direction::between(quote.prev_close, quote.value)),
        "fluctuationsRatio": display_or_dash(quote.change_rate),
        "fluctuationsRatioRaw": raw_or_blank(quote.change_rate),
        "marketStatus": quote.market_status,
        "localTradedAt": local_traded_at(quote.traded_at),
    })
}

/// Writes an order book in the askingPrice shape: both sides by price descending, as Naver
/// lists them, display strings with commas, and the side totals.
pub fn render_asking_price(book: &OrderBook) -> String {
    let side = |levels: &[Level]| -> (Vec<Value>, i64) {
        let mut sorted: Vec<&Level> = levels.iter().collect();
        sorted.sort_by_key(|l| Reverse(l.price));
        let items = sorted
            .iter()
            .map(|l| json!({"price": display(l.price), "count": display(l.quantity.into())}))
            .collect();
        (items, levels.iter().map(|l| l.quantity).sum())
    };
    let (sell, total_sell) = side(&book.asks);
    let (buy, total_buy) = side(&book.bids);
    json!({
        "sellInfo": sell,
        "buyInfos": buy,
        "totalSell": display(total_sell.into()),
        "totalBuy": display(total_buy.into()),
    })
    .to_string()
}

/// Writes daily bars in the chart API's day shape (a bare array of JSON numbers). A bar without
/// volume and with open = high = low = close is written as Naver writes a halted day (open,
/// high and low 0). Bars with distinct dates, oldest first, in order, read back equal.
pub fn render_chart_day(bars: &[Bar]) -> String {
    let items: Vec<Value> = bars
        .iter()
        .map(|bar| {
            let halted = bar.volume == 0
                && bar.open == bar.close
                && bar.high == bar.close
                && bar.low == bar.close;
            let or_zero = |v: Decimal| json_number(if halted { Decimal::ZERO } else { v });
            json!({
                "localDate": bar.date.format("%Y%m%d").to_string(),
                "openPrice": or_zero(bar.open),
                "highPrice": or_zero(bar.high),
                "lowPrice": or_zero(bar.low),
                "closePrice": json_number(bar.close),
                "accumulatedTradingVolume": bar.volume,
            })
        })
        .collect();
    Value::Array(items).to_string()
}

/// Writes minute bars in the chart API's minute shape.
pub fn render_chart_minute(bars: &[MinuteBar]) -> String {
    let items: Vec<Value> = bars
        .iter()
        .map(|bar| {
            json!({
                "localDateTime": bar.at.format("%Y%m%d%H%M%S").to_string(),
                "currentPrice": json_number(bar.price),
                "accumulatedTradingVolume": bar.volume,
            })
        })
        .collect();
    Value::Array(items).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    const STOCK_DEFAULT: &str =
        include_str!("../../tests/fixtures/renewed/stock_default_kospi.json");
    const MARKET_VALUE: &str = include_str!("../../tests/fixtures/renewed/market_value_kospi.json");
    const POLLING_PREOPEN: &str =
        include_str!("../../tests/fixtures/renewed/polling_stock_preopen.json");
    const POLLING_AFTER: &str =
        include_str!("../../tests/fixtures/renewed/polling_stock_after.json");
    const POLLING_INDEX: &str = include_str!("../../tests/fixtures/renewed/polling_index.json");
    const INDEX_BASIC: &str = include_str!("../../tests/fixtures/renewed/index_basic_kosdaq.json");
    const ASKING_PRICE: &str =
        include_str!("../../tests/fixtures/renewed/asking_price_084510.json");
    const CHART_DAY: &str = include_str!("../../tests/fixtures/renewed/chart_day_0098B0.json");
    const CHART_MINUTE: &str =
        include_str!("../../tests/fixtures/renewed/chart_minute_0098B0.json");
    const SPA_PAGE: &str = include_str!("../../tests/fixtures/renewed/spa_page.html");

    fn code(s: &str) -> StockCode {
        StockCode::parse(s).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn at(d: NaiveDate, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        d.and_hms_opt(h, mi, s).unwrap()
    }

    fn field(row: usize, code: Option<&str>, field: &'static str, problem: &str) -> ParseError {
        ParseError::Field {
            row,
            code: code.map(str::to_string),
            field,
            problem: problem.to_string(),
        }
    }

    fn missing(row: usize, code: Option<&str>, field: &'static str) -> ParseError {
        ParseError::MissingField {
            row,
            code: code.map(str::to_string),
            field,
        }
    }

    /// The first row of a fixture array, edited, as a one-row array body.
    fn edited(fixture: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut rows: Vec<Value> = serde_json::from_str(fixture).unwrap();
        let mut row = rows.swap_remove(0);
        edit(row.as_object_mut().unwrap());
        Value::Array(vec![row]).to_string()
    }

    /// The first `datas` row of a polling fixture, edited, as a one-row polling body.
    fn edited_polling(fixture: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut root: Value = serde_json::from_str(fixture).unwrap();
        let datas = root["datas"].as_array_mut().unwrap();
        datas.truncate(1);
        edit(datas[0].as_object_mut().unwrap());
        root.to_string()
    }

    // --- numbers and directions ----------------------------------------------------------

    #[test]
    fn num_reads_the_three_forms_and_blanks() {
        let cases = [
            (json!("274,500"), Some(dec!(274500))),
            (json!("-3,000"), Some(dec!(-3000))),
            (json!("+4,266,985"), Some(dec!(4266985))),
            (json!("46.71%"), Some(dec!(46.71))),
            (json!("-12200"), Some(dec!(-12200))),
            (json!(273500.0), Some(dec!(273500))),
            (json!(46.37), Some(dec!(46.37))),
            (json!(1624940609589000u64), Some(dec!(1624940609589000))),
            (json!("-"), None),
            (json!(""), None),
            (json!(" "), None),
            (Value::Null, None),
        ];
        for (value, expected) in cases {
            assert_eq!(num(&value, "x").unwrap(), expected, "{value}");
        }
        for (value, got) in [
            (json!(true), "true"),
            (json!({"a": 1}), "an object"),
            (json!([1]), "an array"),
            (json!("87억"), "\"87억\""),
            (json!("1e5"), "\"1e5\""),
            (json!("12,34"), "\"12,34\""),
        ] {
            let e = num(&value, "nowPrice").unwrap_err();
            assert_eq!(e.field, "nowPrice");
            assert_eq!(e.problem, format!("expected a number, got {got}"));
        }
    }

    #[test]
    fn directions_by_code_and_name() {
        let all = [
            Direction::UpperLimit,
            Direction::Rising,
            Direction::Unchanged,
            Direction::LowerLimit,
            Direction::Falling,
        ];
        assert_eq!(all.map(Direction::sign), [1, 1, 0, -1, -1]);
        for d in all {
            assert_eq!(Direction::from_code(d.code()), Some(d));
            assert_eq!(Direction::from_name(d.name()), Some(d));
        }
        assert_eq!(Direction::from_name("STEADY"), Some(Direction::Unchanged));
        assert_eq!(Direction::from_code("6"), None);
        assert_eq!(Direction::from_code("0"), None);
        assert_eq!(Direction::Falling.apply(dec!(1500)), Some(dec!(-1500)));
        assert_eq!(Direction::Falling.apply(dec!(-1500)), Some(dec!(-1500)));
        assert_eq!(Direction::Rising.apply(dec!(-1500)), Some(dec!(1500)));
        assert_eq!(Direction::Unchanged.apply(dec!(0)), Some(dec!(0)));
        assert_eq!(Direction::Unchanged.apply(dec!(5)), None);
    }

    #[test]
    fn local_traded_at_is_converted_to_kst() {
        assert_eq!(
            kst_time("2026-11-24T10:15:03+09:00"),
            Some(at(day(2026, 11, 24), 10, 15, 3))
        );
        assert_eq!(
            kst_time("2026-11-24T01:15:03Z"),
            Some(at(day(2026, 11, 24), 10, 15, 3))
        );
        assert_eq!(
            kst_time("2026-11-24T10:15:03"),
            Some(at(day(2026, 11, 24), 10, 15, 3))
        );
        assert_eq!(kst_time("20261124101503"), None);
    }

    // --- stock/default -------------------------------------------------------------------

    #[test]
    fn stock_default_reads_a_falling_common_stock_with_unsigned_change() {
        let rows = parse_stock_default(STOCK_DEFAULT, Market::Kospi).unwrap();
        assert_eq!(rows.len(), 8);
        assert_eq!(
            rows[0],
            ListedRow {
                code: code("084510"),
                name: "한빛전자".into(),
                market: Market::Kospi,
                kind: InstrumentKind::Common,
                price: dec!(149000),
                prev_close: dec!(151300),
                change_rate: Some(dec!(-1.52)),
                open: Some(dec!(151000)),
                high: Some(dec!(151500)),
                low: Some(dec!(148600)),
                volume: Some(1_804_233),
                trading_value: Some(dec!(270123456000)),
                market_cap: Some(dec!(9089000000000)),
                listed_shares: Some(61_000_000),
                listed_on: Some(day(1999, 8, 5)),
                upper_limit: Some(dec!(196600)),
                lower_limit: Some(dec!(106000)),
                halted: false,
                session: TradingSession::Regular,
            }
        );
    }

    #[test]
    fn stock_default_kinds_from_type_and_name() {
        let rows = parse_stock_default(STOCK_DEFAULT, Market::Kospi).unwrap();
        let kinds: Vec<(&str, InstrumentKind)> =
            rows.iter().map(|r| (r.code.as_str(), r.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("084510", InstrumentKind::Common),
                ("084515", InstrumentKind::Preferred),
                ("469990", InstrumentKind::Spac),
                ("350990", InstrumentKind::Reit),
                ("088990", InstrumentKind::Fund),
                ("071990", InstrumentKind::Common),
                ("0133W0", InstrumentKind::Common),
                ("052990", InstrumentKind::Common),
            ]
        );
        // Preferred rises (upDownGb 2), the SPAC is flat, the fund's signed change is kept.
        assert_eq!(
            (rows[1].prev_close, rows[1].change_rate),
            (dec!(81700), Some(dec!(0.61)))
        );
        assert_eq!(
            (rows[2].prev_close, rows[2].change_rate),
            (dec!(2135), Some(dec!(0)))
        );
        assert_eq!(
            (rows[4].prev_close, rows[4].change_rate),
            (dec!(6880), Some(dec!(-0.44)))
        );
        // `TRADABLE` in capitals is tradable.
        assert!(!rows[1].halted);
    }

    #[test]
    fn stock_default_halted_row() {
        let rows = parse_stock_default(STOCK_DEFAULT, Market::Kospi).unwrap();
        let halted = &rows[5];
        assert_eq!(halted.code.as_str(), "071990");
        assert!(halted.halted);
        assert_eq!((halted.price, halted.prev_close), (dec!(8420), dec!(8420)));
        assert_eq!((halted.open, halted.high, halted.low), (None, None, None));
        assert_eq!(
            (halted.volume, halted.trading_value),
            (Some(0), Some(dec!(0)))
        );
        let not_halted: Vec<&str> = rows
            .iter()
            .filter(|r| !r.halted)
            .map(|r| r.code.as_str())
            .collect();
        assert_eq!(not_halted.len(), 7);
    }

    #[test]
    fn stock_default_first_day_listing_with_an_alphanumeric_code() {
        let rows = parse_stock_default(STOCK_DEFAULT, Market::Kospi).unwrap();
        let new = &rows[6];
        assert_eq!(new.code.as_str(), "0133W0");
        assert_eq!(new.listed_on, Some(day(2026, 11, 24)));
        assert_eq!(new.price, dec!(50000));
        assert_eq!(new.prev_close, dec!(20000));
        assert_eq!(new.change_rate, Some(dec!(150)));
        assert_eq!(
            (new.upper_limit, new.lower_limit),
            (Some(dec!(80000)), Some(dec!(12000)))
        );
    }

    #[test]
    fn stock_default_lower_limit_direction_makes_the_change_negative() {
        let rows = parse_stock_default(STOCK_DEFAULT, Market::Kospi).unwrap();
        let limit = &rows[7];
        assert_eq!(limit.code.as_str(), "052990");
        assert_eq!(limit.price, dec!(7000));
        assert_eq!(limit.prev_close, dec!(10000));
        assert_eq!(limit.change_rate, Some(dec!(-30)));
    }

    #[test]
    fn stock_default_empty_page_and_wrong_market() {
        assert_eq!(parse_stock_default(" []\n", Market::Kosdaq), Ok(vec![]));
        assert_eq!(
            parse_stock_default(STOCK_DEFAULT, Market::Kosdaq),
            Err(field(
                0,
                Some("084510"),
                "sosok",
                "\"0\" is KOSPI, in a KOSDAQ list"
            ))
        );
    }

    #[test]
    fn stock_default_session_values() {
        for (given, expected) in [
            (Some("REGULAR"), Ok(TradingSession::Regular)),
            (Some("AFTER_MARKET"), Ok(TradingSession::After)),
            (Some("afterMarket"), Ok(TradingSession::After)),
            (None, Ok(TradingSession::Regular)),
            (
                Some("PRE_MARKET"),
                Err(field(
                    0,
                    Some("084510"),
                    "tradingSessionType",
                    "unknown session \"PRE_MARKET\"",
                )),
            ),
        ] {
            let body = edited(STOCK_DEFAULT, |row| match given {
                Some(s) => {
                    row.insert("tradingSessionType".into(), json!(s));
                }
                None => {
                    row.remove("tradingSessionType");
                }
            });
            let got = parse_stock_default(&body, Market::Kospi).map(|rows| rows[0].session);
            assert_eq!(got, expected, "{given:?}");
        }
    }

    #[test]
    fn stock_default_failures_name_row_code_and_field() {
        type Edit = fn(&mut Map<String, Value>);
        let cases: [(Edit, ParseError, &str); 12] = [
            (
                |r| {
                    let v = r.remove("itemcode").unwrap();
                    r.insert("itemCode".into(), v);
                },
                missing(0, None, "itemcode"),
                "missing field itemcode in row 0",
            ),
            (
                |r| {
                    r.remove("nowPrice");
                },
                missing(0, Some("084510"), "nowPrice"),
                "missing field nowPrice in row 0 (084510)",
            ),
            (
                |r| {
                    r.insert("itemname".into(), json!(5));
                },
                field(0, Some("084510"), "itemname", "expected a non-empty string, got 5"),
                "row 0 (084510): itemname: expected a non-empty string, got 5",
            ),
            (
                |r| {
                    r.insert("nowPrice".into(), json!(true));
                },
                field(0, Some("084510"), "nowPrice", "expected a number, got true"),
                "row 0 (084510): nowPrice: expected a number, got true",
            ),
            (
                |r| {
                    r.insert("nowPrice".into(), json!("-"));
                },
                field(0, Some("084510"), "nowPrice", "no value (\"-\")"),
                "row 0 (084510): nowPrice: no value (\"-\")",
            ),
            (
                |r| {
                    r.insert("type".into(), json!("EF"));
                },
                field(
                    0,
                    Some("084510"),
                    "type",
                    "unknown instrument type \"EF\" (ST, RT, PF, FS and DR are known)",
                ),
                "row 0 (084510): type: unknown instrument type \"EF\" (ST, RT, PF, FS and DR are known)",
            ),
            (
                |r| {
                    r.insert("itemcode".into(), json!("12345"));
                },
                field(
                    0,
                    None,
                    "itemcode",
                    "\"12345\" is not a stock code (six characters of 0-9 and A-Z, e.g. 005930)",
                ),
                "row 0: itemcode: \"12345\" is not a stock code (six characters of 0-9 and A-Z, e.g. 005930)",
            ),
            (
                |r| {
                    r.insert("upDownGb".into(), json!("9"));
                },
                field(0, Some("084510"), "upDownGb", "unknown direction code \"9\""),
                "row 0 (084510): upDownGb: unknown direction code \"9\"",
            ),
            (
                |r| {
                    r.insert("upDownGb".into(), json!("3"));
                },
                field(0, Some("084510"), "prevChangePrice", "2300 with direction UNCHANGED"),
                "row 0 (084510): prevChangePrice: 2300 with direction UNCHANGED",
            ),
            (
                |r| {
                    r.insert("tradeVolume".into(), json!("-5"));
                },
                field(0, Some("084510"), "tradeVolume", "expected a whole count ≥ 0, got -5"),
                "row 0 (084510): tradeVolume: expected a whole count ≥ 0, got -5",
            ),
            (
                |r| {
                    r.insert("listedDate".into(), json!("2026-11-24"));
                },
                field(
                    0,
                    Some("084510"),
                    "listedDate",
                    "expected a date YYYYMMDD, got \"2026-11-24\"",
                ),
                "row 0 (084510): listedDate: expected a date YYYYMMDD, got \"2026-11-24\"",
            ),
            (
                |r| {
                    r.remove("tradeStopYn");
                    r.remove("tradableStatus");
                },
                missing(0, Some("084510"), "tradableStatus"),
                "missing field tradableStatus in row 0 (084510)",
            ),
        ];
        for (edit, error, text) in cases {
            let body = edited(STOCK_DEFAULT, edit);
            let got = parse_stock_default(&body, Market::Kospi).unwrap_err();
            assert_eq!(got, error);
            assert_eq!(got.to_string(), text);
        }
    }

    #[test]
    fn stock_default_row_index_counts_from_zero_and_duplicates_are_rejected() {
        let mut rows: Vec<Value> = serde_json::from_str(STOCK_DEFAULT).unwrap();
        rows[3]["nowPrice"] = json!([4865]);
        assert_eq!(
            parse_stock_default(&Value::Array(rows).to_string(), Market::Kospi),
            Err(field(
                3,
                Some("350990"),
                "nowPrice",
                "expected a number, got an array"
            ))
        );
        let mut rows: Vec<Value> = serde_json::from_str(STOCK_DEFAULT).unwrap();
        rows[4]["itemcode"] = json!("084515");
        assert_eq!(
            parse_stock_default(&Value::Array(rows).to_string(), Market::Kospi),
            Err(field(
                4,
                Some("084515"),
                "itemcode",
                "the same code as row 1"
            ))
        );
    }

    #[test]
    fn a_prev_close_at_or_below_zero_is_an_error() {
        let body = edited(STOCK_DEFAULT, |r| {
            r.insert("prevChangePrice".into(), json!("149000"));
            r.insert("upDownGb".into(), json!("2"));
        });
        assert_eq!(
            parse_stock_default(&body, Market::Kospi),
            Err(field(
                0,
                Some("084510"),
                "prevChangePrice",
                "a change of 149000 from 149000 leaves a previous close of 0"
            ))
        );
    }

    // --- body-level failures ---------------------------------------------------------------

    #[test]
    fn html_is_not_json_never_zero_rows() {
        let e = parse_stock_default(SPA_PAGE, Market::Kospi).unwrap_err();
        assert_eq!(
            e,
            ParseError::NotJson {
                starts: "<!DOCTYPE html><html lang=\"ko\"><head><me".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "not JSON: the body starts with \"<!DOCTYPE html><html lang=\\\"ko\\\"><head><me\""
        );
        type Parser = fn(&str) -> Result<(), ParseError>;
        let parsers: [Parser; 7] = [
            |b: &str| parse_market_value(b, Market::Kospi).map(|_| ()),
            |b: &str| parse_polling_stocks(b).map(|_| ()),
            |b: &str| parse_polling_index(b).map(|_| ()),
            |b: &str| parse_index_basic(b).map(|_| ()),
            |b: &str| parse_asking_price(b).map(|_| ()),
            |b: &str| parse_chart_day(b).map(|_| ()),
            |b: &str| parse_chart_minute(b).map(|_| ()),
        ];
        for parse in parsers {
            assert!(matches!(parse(SPA_PAGE), Err(ParseError::NotJson { .. })));
            assert_eq!(parse(""), Err(ParseError::NotJson { starts: "".into() }));
            assert_eq!(
                parse("null"),
                Err(ParseError::NotJson {
                    starts: "null".into()
                })
            );
        }
    }

    #[test]
    fn malformed_json_and_wrong_shapes() {
        assert_eq!(
            parse_stock_default("[{\"itemcode\": \"084510\",", Market::Kospi),
            Err(ParseError::Json(
                "EOF while parsing a value at line 1 column 23".into()
            ))
        );
        assert_eq!(
            parse_stock_default("{\"result\": {\"stocks\": []}}", Market::Kospi),
            Err(ParseError::Shape {
                what: "body".into(),
                expected: "an array of rows",
                found: "an object".into(),
            })
        );
        assert_eq!(
            parse_stock_default("[5]", Market::Kospi)
                .unwrap_err()
                .to_string(),
            "row 0: expected an object, got 5"
        );
        assert_eq!(
            parse_polling_stocks("{\"pollingInterval\": 7000}"),
            Err(ParseError::Missing {
                what: "datas".into()
            })
        );
        assert_eq!(
            parse_market_value("{\"stocks\": []}", Market::Kospi),
            Err(ParseError::Missing {
                what: "totalCount".into()
            })
        );
        assert_eq!(
            parse_market_value("{\"stocks\": [], \"totalCount\": \"many\"}", Market::Kospi),
            Err(ParseError::BadValue {
                what: "totalCount".into(),
                text: "\"many\"".into()
            })
        );
        // A BOM and leading whitespace are not content.
        assert_eq!(
            parse_stock_default("\u{feff}\r\n []", Market::Kospi),
            Ok(vec![])
        );
    }

    // --- marketValue -----------------------------------------------------------------------

    #[test]
    fn market_value_reads_stocks_etf_etn_and_halts() {
        let page = parse_market_value(MARKET_VALUE, Market::Kospi).unwrap();
        assert_eq!(page.total_count, 2431);
        assert_eq!(
            page.rows[0],
            ListedRow {
                code: code("084510"),
                name: "한빛전자".into(),
                market: Market::Kospi,
                kind: InstrumentKind::Common,
                price: dec!(149000),
                prev_close: dec!(151300),
                change_rate: Some(dec!(-1.52)),
                open: None,
                high: None,
                low: None,
                volume: Some(1_804_233),
                trading_value: Some(dec!(270123456000)),
                market_cap: Some(dec!(9089000000000)),
                listed_shares: None,
                listed_on: None,
                upper_limit: None,
                lower_limit: None,
                halted: false,
                session: TradingSession::Regular,
            }
        );
        let summary: Vec<(&str, InstrumentKind, Decimal, bool)> = page
            .rows
            .iter()
            .map(|r| (r.code.as_str(), r.kind, r.prev_close, r.halted))
            .collect();
        assert_eq!(
            summary,
            [
                ("084510", InstrumentKind::Common, dec!(151300), false),
                ("229990", InstrumentKind::Etf, dec!(41050), false),
                ("570990", InstrumentKind::Etn, dec!(9870), false),
                ("071990", InstrumentKind::Common, dec!(8420), true),
                ("084515", InstrumentKind::Preferred, dec!(81700), false),
            ]
        );
        let etf = &page.rows[1];
        assert_eq!(etf.trading_value, Some(dec!(91128514000)));
        assert_eq!(etf.market_cap, Some(dec!(6803775000000)));
        assert_eq!(etf.change_rate, Some(dec!(0.45)));
        // Not traded yet: "-" and "" are no value, not zero.
        let preferred = &page.rows[4];
        assert_eq!((preferred.volume, preferred.trading_value), (None, None));
    }

    #[test]
    fn market_value_failures() {
        assert_eq!(
            parse_market_value(MARKET_VALUE, Market::Kosdaq),
            Err(field(
                0,
                Some("084510"),
                "stockExchangeType.code",
                "\"KS\" is KOSPI, in a KOSDAQ list"
            ))
        );
        let with = |edit: fn(&mut Value)| {
            let mut root: Value = serde_json::from_str(MARKET_VALUE).unwrap();
            edit(&mut root["stocks"][0]);
            parse_market_value(&root.to_string(), Market::Kospi)
        };
        assert_eq!(
            with(|r| r["stockEndType"] = json!("elw")),
            Err(field(
                0,
                Some("084510"),
                "stockEndType",
                "unknown instrument type \"elw\" (stock, etf and etn are known)"
            ))
        );
        assert_eq!(
            with(|r| r["compareToPreviousPrice"]["code"] = json!("7")),
            Err(field(
                0,
                Some("084510"),
                "compareToPreviousPrice.code",
                "unknown direction code \"7\""
            ))
        );
        assert_eq!(
            with(|r| r["compareToPreviousPrice"]["name"] = json!("RISING")),
            Err(field(
                0,
                Some("084510"),
                "compareToPreviousPrice",
                "code 5 (FALLING) disagrees with name RISING"
            ))
        );
        // A name alone is enough.
        let by_name = with(|r| {
            r["compareToPreviousPrice"]
                .as_object_mut()
                .unwrap()
                .remove("code");
        })
        .unwrap();
        assert_eq!(by_name.rows[0].prev_close, dec!(151300));
        assert_eq!(
            with(|r| r["closePriceRaw"] = json!(false)),
            Err(field(
                0,
                Some("084510"),
                "closePriceRaw",
                "expected a number, got false"
            ))
        );
        // A Raw blank falls back to the display; marketValue's display (억) is never read.
        let display_only = with(|r| {
            r["closePriceRaw"] = json!("");
            r.as_object_mut().unwrap().remove("marketValueRaw");
        })
        .unwrap();
        assert_eq!(display_only.rows[0].price, dec!(149000));
        assert_eq!(display_only.rows[0].market_cap, None);
        assert_eq!(
            with(|r| {
                r.as_object_mut().unwrap().remove("closePriceRaw");
                r.as_object_mut().unwrap().remove("closePrice");
            }),
            Err(missing(0, Some("084510"), "closePrice"))
        );
        assert!(
            with(|r| r["tradeStopType"]["name"] = json!("SUSPENDED"))
                .unwrap()
                .rows[0]
                .halted
        );
    }

    // --- polling quotes --------------------------------------------------------------------

    #[test]
    fn polling_before_the_open_has_no_volume_and_no_range() {
        let quotes = parse_polling_stocks(POLLING_PREOPEN).unwrap();
        assert_eq!(
            quotes[0],
            QuoteNow {
                code: code("084510"),
                name: "한빛전자".into(),
                price: Some(dec!(151300)),
                prev_close: Some(dec!(151300)),
                change_rate: Some(dec!(0)),
                open: None,
                high: None,
                low: None,
                volume: None,
                trading_value: None,
                market_cap: Some(dec!(9229300000000)),
                market_status: "PREOPEN".into(),
                session: TradingSession::Regular,
                traded_at: Some(at(day(2026, 11, 24), 8, 45, 2)),
                halted: false,
            }
        );
        assert_eq!(quotes[1].code.as_str(), "0098B0");
        assert_eq!(quotes[1].price, Some(dec!(23450)));
        assert_eq!(quotes.len(), 2);
    }

    #[test]
    fn polling_after_market_and_regular_rows() {
        let quotes = parse_polling_stocks(POLLING_AFTER).unwrap();
        assert_eq!(
            quotes[0],
            QuoteNow {
                code: code("084510"),
                name: "한빛전자".into(),
                price: Some(dec!(148800)),
                prev_close: Some(dec!(151300)),
                change_rate: Some(dec!(-1.65)),
                open: Some(dec!(151000)),
                high: Some(dec!(151500)),
                low: Some(dec!(148600)),
                volume: Some(2_412_870),
                trading_value: Some(dec!(360511000000)),
                market_cap: Some(dec!(9076800000000)),
                market_status: "CLOSE".into(),
                session: TradingSession::After,
                traded_at: Some(at(day(2026, 11, 24), 17, 12, 40)),
                halted: false,
            }
        );
        let etf = &quotes[1];
        assert_eq!(etf.session, TradingSession::Regular);
        assert_eq!(etf.traded_at, Some(at(day(2026, 11, 24), 15, 30, 0)));
        assert_eq!(
            (etf.price, etf.prev_close),
            (Some(dec!(41290)), Some(dec!(41050)))
        );
        let halted = &quotes[2];
        assert!(halted.halted);
        assert_eq!((halted.open, halted.high, halted.low), (None, None, None));
        assert_eq!(halted.volume, Some(0));
    }

    #[test]
    fn polling_failures() {
        let body = edited_polling(POLLING_AFTER, |r| {
            r.insert(
                "compareToPreviousPrice".into(),
                json!({"code": "8", "name": "?"}),
            );
        });
        assert_eq!(
            parse_polling_stocks(&body),
            Err(field(
                0,
                Some("084510"),
                "compareToPreviousPrice.code",
                "unknown direction code \"8\""
            ))
        );
        let body = edited_polling(POLLING_AFTER, |r| {
            r.remove("compareToPreviousPrice");
        });
        assert_eq!(
            parse_polling_stocks(&body),
            Err(missing(0, Some("084510"), "compareToPreviousPrice"))
        );
        let body = edited_polling(POLLING_AFTER, |r| {
            r.insert("marketSessionType".into(), json!("nightMarket"));
        });
        assert_eq!(
            parse_polling_stocks(&body),
            Err(field(
                0,
                Some("084510"),
                "marketSessionType",
                "unknown session \"nightMarket\""
            ))
        );
        let body = edited_polling(POLLING_AFTER, |r| {
            r.insert("localTradedAt".into(), json!("17:12"));
        });
        assert_eq!(
            parse_polling_stocks(&body).unwrap_err().to_string(),
            "row 0 (084510): localTradedAt: expected a time like 2026-11-24T10:15:03+09:00, got \"17:12\""
        );
        let body = edited_polling(POLLING_AFTER, |r| {
            r.insert("accumulatedTradingValueRaw".into(), json!("87억"));
        });
        assert_eq!(
            parse_polling_stocks(&body),
            Err(field(
                0,
                Some("084510"),
                "accumulatedTradingValueRaw",
                "expected a number, got \"87억\""
            ))
        );
        let body = edited_polling(POLLING_AFTER, |r| {
            r.insert("tradableStatus".into(), json!("HALTED"));
        });
        assert!(parse_polling_stocks(&body).unwrap()[0].halted);
    }

    // --- indices ---------------------------------------------------------------------------

    #[test]
    fn polling_index_signs_by_direction() {
        let quotes = parse_polling_index(POLLING_INDEX).unwrap();
        assert_eq!(
            quotes,
            vec![
                IndexQuote {
                    code: "KOSPI".into(),
                    value: dec!(4218.55),
                    prev_close: dec!(4249.82),
                    change_rate: Some(dec!(-0.74)),
                    traded_at: Some(at(day(2026, 11, 24), 10, 40, 11)),
                    market_status: "OPEN".into(),
                },
                IndexQuote {
                    code: "KOSDAQ".into(),
                    value: dec!(902.13),
                    prev_close: dec!(897.05),
                    change_rate: Some(dec!(0.57)),
                    traded_at: Some(at(day(2026, 11, 24), 10, 40, 11)),
                    market_status: "OPEN".into(),
                },
            ]
        );
    }

    #[test]
    fn index_basic_is_one_object() {
        assert_eq!(
            parse_index_basic(INDEX_BASIC),
            Ok(IndexQuote {
                code: "KOSDAQ".into(),
                value: dec!(905.40),
                prev_close: dec!(913.71),
                change_rate: Some(dec!(-0.91)),
                traded_at: Some(at(day(2026, 11, 24), 15, 30, 0)),
                market_status: "CLOSE".into(),
            })
        );
        assert_eq!(
            parse_index_basic("[]"),
            Err(ParseError::Shape {
                what: "body".into(),
                expected: "an object",
                found: "an array".into()
            })
        );
        let no_status = INDEX_BASIC.replace("\"marketStatus\": \"CLOSE\",", "");
        assert_eq!(
            parse_index_basic(&no_status).unwrap_err().to_string(),
            "missing field marketStatus in row 0 (KOSDAQ)"
        );
    }

    // --- order book ------------------------------------------------------------------------

    fn level(price: Decimal, quantity: i64) -> Level {
        Level { price, quantity }
    }

    #[test]
    fn asking_price_best_first_on_both_sides() {
        assert_eq!(
            parse_asking_price(ASKING_PRICE),
            Ok(OrderBook {
                asks: vec![
                    level(dec!(149100), 6377),
                    level(dec!(149200), 15402),
                    level(dec!(149300), 0),
                    level(dec!(149400), 8210),
                    level(dec!(149500), 12031),
                ],
                bids: vec![
                    level(dec!(149000), 21005),
                    level(dec!(148900), 9880),
                    level(dec!(148800), 14250),
                    level(dec!(148700), 7011),
                    level(dec!(148600), 30118),
                ],
            })
        );
    }

    #[test]
    fn asking_price_empty_slots_and_failures() {
        let book = |sell: Value, buy: Value| {
            parse_asking_price(&json!({"sellInfo": sell, "buyInfos": buy}).to_string())
        };
        // An upper-limit book: no asks left, empty slots dropped, a blank count is 0.
        assert_eq!(
            book(
                json!([{"price": "-", "count": "-"}, {"price": "", "count": "0"}]),
                json!([{"price": "80,000", "count": "-"}, {"price": "79,900", "count": "1,200"}])
            ),
            Ok(OrderBook {
                asks: vec![],
                bids: vec![level(dec!(80000), 0), level(dec!(79900), 1200)],
            })
        );
        assert_eq!(
            book(json!([{"price": "-", "count": "300"}]), json!([])),
            Err(field(
                0,
                None,
                "sellInfo.price",
                "no price for a quantity of 300"
            ))
        );
        assert_eq!(
            book(json!([{"price": "0", "count": "300"}]), json!([])),
            Err(field(
                0,
                None,
                "sellInfo.price",
                "expected a positive price, got 0"
            ))
        );
        assert_eq!(
            book(
                json!([]),
                json!([{"price": "100", "count": "1"}, {"price": "100", "count": "2"}])
            ),
            Err(field(1, None, "buyInfos.price", "100 is also in row 0"))
        );
        assert_eq!(
            book(json!([]), json!([{"price": "100", "count": "1.5"}])),
            Err(field(
                0,
                None,
                "buyInfos.count",
                "expected a whole count ≥ 0, got 1.5"
            ))
        );
        assert_eq!(
            book(json!([]), json!([{"price": "100"}])),
            Err(missing(0, None, "buyInfos.count"))
        );
        let crossed = book(
            json!([{"price": "149,000", "count": "10"}]),
            json!([{"price": "149,000", "count": "10"}]),
        )
        .unwrap_err();
        assert_eq!(
            crossed,
            ParseError::CrossedBook {
                best_ask: dec!(149000),
                best_bid: dec!(149000)
            }
        );
        assert_eq!(
            crossed.to_string(),
            "crossed order book: best ask 149000 is not above best bid 149000"
        );
        assert_eq!(
            parse_asking_price("{\"sellInfos\": [], \"buyInfos\": []}"),
            Err(ParseError::Missing {
                what: "sellInfo".into()
            })
        );
    }

    // --- charts ----------------------------------------------------------------------------

    fn bar(date: NaiveDate, ohlc: [Decimal; 4], volume: i64) -> Bar {
        Bar {
            date,
            open: ohlc[0],
            high: ohlc[1],
            low: ohlc[2],
            close: ohlc[3],
            volume,
        }
    }

    #[test]
    fn chart_day_halted_day_and_adjustment_breaks() {
        assert_eq!(
            parse_chart_day(CHART_DAY),
            Ok(vec![
                bar(
                    day(2026, 11, 18),
                    [dec!(12450), dec!(12600), dec!(12300), dec!(12500)],
                    210331
                ),
                // open 12,501 above the high 12,500: high widened.
                bar(
                    day(2026, 11, 19),
                    [dec!(12501), dec!(12501), dec!(12201), dec!(12250)],
                    198220
                ),
                // halted: 0/0/0/C/0.
                bar(
                    day(2026, 11, 20),
                    [dec!(12250), dec!(12250), dec!(12250), dec!(12250)],
                    0
                ),
                // close 12,099 below the low 12,100: low widened.
                bar(
                    day(2026, 11, 23),
                    [dec!(12250), dec!(12400), dec!(12099), dec!(12099)],
                    150002
                ),
                bar(
                    day(2026, 11, 24),
                    [dec!(12100), dec!(12300), dec!(12050), dec!(12210)],
                    180777
                ),
            ])
        );
    }

    #[test]
    fn chart_day_wrapper_order_and_failures() {
        let row = |d: &str, o: f64, h: f64, l: f64, c: f64, v: i64| {
            json!({"localDate": d, "openPrice": o, "highPrice": h, "lowPrice": l,
                   "closePrice": c, "accumulatedTradingVolume": v})
        };
        let wrapped = json!({"priceInfos": [
            row("20261124", 100.0, 110.0, 90.0, 105.0, 7),
            row("20261123", 95.0, 101.0, 94.0, 100.0, 5),
        ]});
        let bars = parse_chart_day(&wrapped.to_string()).unwrap();
        assert_eq!(
            bars.iter().map(|b| b.date).collect::<Vec<_>>(),
            [day(2026, 11, 23), day(2026, 11, 24)]
        );
        let one = |r: Value| parse_chart_day(&json!([r]).to_string());
        assert_eq!(
            parse_chart_day(
                &json!([
                    row("20261124", 1.0, 1.0, 1.0, 1.0, 1),
                    row("20261124", 1.0, 1.0, 1.0, 1.0, 1)
                ])
                .to_string()
            ),
            Err(field(1, None, "localDate", "2026-11-24 is also in row 0"))
        );
        assert_eq!(
            one(row("20261124", 100.0, 110.0, 90.0, 112.0, 7)),
            Err(field(0, None, "closePrice", "112 is above the high 110"))
        );
        assert_eq!(
            one(row("20261124", 100.0, 90.0, 110.0, 100.0, 7)),
            Err(field(0, None, "highPrice", "90 is below the low 110"))
        );
        assert_eq!(
            one(row("20261124", 0.0, 0.0, 0.0, 100.0, 7)),
            Err(field(
                0,
                None,
                "accumulatedTradingVolume",
                "7 shares on a day without open, high or low"
            ))
        );
        assert_eq!(
            one(row("20261124", 0.0, 110.0, 90.0, 100.0, 7)),
            Err(field(
                0,
                None,
                "openPrice",
                "expected a positive price, got 0"
            ))
        );
        assert_eq!(
            one(row("2026112", 1.0, 1.0, 1.0, 1.0, 1)),
            Err(field(
                0,
                None,
                "localDate",
                "expected a date YYYYMMDD, got \"2026112\""
            ))
        );
        assert_eq!(
            one(
                json!({"localDate": "20261124", "openPrice": 1.0, "highPrice": 1.0,
                       "lowPrice": 1.0, "closePrice": 1.0})
            ),
            Err(missing(0, None, "accumulatedTradingVolume"))
        );
        assert_eq!(
            parse_chart_day("{\"prices\": []}"),
            Err(ParseError::Missing {
                what: "priceInfos".into()
            })
        );
    }

    #[test]
    fn chart_minute_and_the_regular_close() {
        let minutes = parse_chart_minute(CHART_MINUTE).unwrap();
        assert_eq!(minutes.len(), 4);
        assert_eq!(
            minutes[2],
            MinuteBar {
                at: at(day(2026, 11, 24), 15, 30, 0),
                price: dec!(12200),
                volume: Some(41877),
            }
        );
        assert_eq!(
            regular_close(&minutes, day(2026, 11, 24)),
            Some(dec!(12200))
        );
        assert_eq!(
            regular_close(&minutes, day(2026, 11, 23)),
            Some(dec!(12099))
        );
        assert_eq!(regular_close(&minutes, day(2026, 11, 25)), None);
        // The after-market minute is later than the close and does not replace it.
        assert_eq!(minutes[3].price, dec!(12210));
        assert_eq!(
            parse_chart_minute("[{\"localDateTime\": \"202611241530\", \"currentPrice\": 1.0}]"),
            Err(field(
                0,
                None,
                "localDateTime",
                "expected a time YYYYMMDDHHMMSS, got \"202611241530\""
            ))
        );
        let mut reversed: Vec<Value> = serde_json::from_str(CHART_MINUTE).unwrap();
        reversed.reverse();
        assert_eq!(
            parse_chart_minute(&Value::Array(reversed).to_string()),
            Ok(minutes)
        );
    }

    // --- round trips -----------------------------------------------------------------------

    #[test]
    fn fixtures_round_trip_through_the_renderers() {
        let rows = parse_stock_default(STOCK_DEFAULT, Market::Kospi).unwrap();
        assert_eq!(
            parse_stock_default(&render_stock_default(&rows), Market::Kospi),
            Ok(rows)
        );
        let page = parse_market_value(MARKET_VALUE, Market::Kospi).unwrap();
        assert_eq!(
            parse_market_value(
                &render_market_value(&page.rows, page.total_count),
                Market::Kospi
            ),
            Ok(page)
        );
        for fixture in [POLLING_PREOPEN, POLLING_AFTER] {
            let quotes = parse_polling_stocks(fixture).unwrap();
            assert_eq!(
                parse_polling_stocks(&render_polling_stocks(&quotes)),
                Ok(quotes)
            );
        }
        let indices = parse_polling_index(POLLING_INDEX).unwrap();
        assert_eq!(
            parse_polling_index(&render_polling_index(&indices)),
            Ok(indices)
        );
        let basic = parse_index_basic(INDEX_BASIC).unwrap();
        assert_eq!(parse_index_basic(&render_index_basic(&basic)), Ok(basic));
        let book = parse_asking_price(ASKING_PRICE).unwrap();
        assert_eq!(parse_asking_price(&render_asking_price(&book)), Ok(book));
        let bars = parse_chart_day(CHART_DAY).unwrap();
        assert_eq!(parse_chart_day(&render_chart_day(&bars)), Ok(bars));
        let minutes = parse_chart_minute(CHART_MINUTE).unwrap();
        assert_eq!(
            parse_chart_minute(&render_chart_minute(&minutes)),
            Ok(minutes)
        );
    }

    #[test]
    fn renderers_write_the_real_shapes() {
        let rows = parse_stock_default(STOCK_DEFAULT, Market::Kospi).unwrap();
        let written: Vec<Value> = serde_json::from_str(&render_stock_default(&rows)).unwrap();
        assert_eq!(written[0]["upDownGb"], json!("5"));
        assert_eq!(written[0]["prevChangePrice"], json!("2300"));
        assert_eq!(written[7]["upDownGb"], json!("4"));
        assert_eq!(written[5]["openPrice"], json!("0"));
        assert_eq!(written[5]["tradeStopYn"], json!("Y"));
        // ETF/ETN are not in stock/default.
        let page = parse_market_value(MARKET_VALUE, Market::Kospi).unwrap();
        let written: Vec<Value> = serde_json::from_str(&render_stock_default(&page.rows)).unwrap();
        assert_eq!(written.len(), 3);
        let written: Value =
            serde_json::from_str(&render_market_value(&page.rows, page.total_count)).unwrap();
        assert_eq!(written["stocks"][0]["closePrice"], json!("149,000"));
        assert_eq!(written["stocks"][0]["marketValue"], json!("90,890"));
        assert_eq!(
            written["stocks"][0]["accumulatedTradingValue"],
            json!("270,123")
        );
        assert_eq!(written["stocks"][1]["stockEndType"], json!("etf"));
        assert_eq!(written["stocks"][4]["accumulatedTradingVolume"], json!("-"));
        let book: Value = serde_json::from_str(&render_asking_price(
            &parse_asking_price(ASKING_PRICE).unwrap(),
        ))
        .unwrap();
        assert_eq!(
            book["sellInfo"][0],
            json!({"price": "149,500", "count": "12,031"})
        );
        assert_eq!(book["totalSell"], json!("42,020"));
        let bars: Vec<Value> =
            serde_json::from_str(&render_chart_day(&parse_chart_day(CHART_DAY).unwrap())).unwrap();
        assert_eq!(bars[2]["openPrice"], json!(0));
        assert_eq!(bars[2]["closePrice"], json!(12250));
    }

    fn decimal_in(range: std::ops::Range<i64>) -> impl Strategy<Value = Decimal> {
        range.prop_map(Decimal::from)
    }

    prop_compose! {
        fn listed_row(market: Market)(
            name in prop::sample::select(vec!["한빛전자", "한빛전자우", "현대차2우B", "바다스팩3호", "누리"]),
            type_code in 0u8..3,
            price in 1i64..3_000_000,
            prev_close in 1i64..3_000_000,
            with_rate in any::<bool>(),
            range in prop::option::of((decimal_in(1..3_000_000), decimal_in(1..3_000_000), decimal_in(1..3_000_000))),
            limits in prop::option::of((decimal_in(1..4_000_000), decimal_in(1..3_000_000))),
            volume in prop::option::of(0i64..1_000_000_000_000),
            money in (prop::option::of(decimal_in(0..i64::MAX)), prop::option::of(decimal_in(0..i64::MAX))),
            listed_shares in prop::option::of(0i64..10_000_000_000),
            listed_on in prop::option::of(0i64..20_000),
            (halted, after) in (any::<bool>(), any::<bool>()),
        ) -> (String, ListedRow) {
            let (price, prev_close) = (Decimal::from(price), Decimal::from(prev_close));
            let rate = ((price - prev_close) * Decimal::ONE_HUNDRED / prev_close).round_dp(2);
            let kind = match type_code {
                0 => InstrumentKind::of_share_name(name),
                1 => InstrumentKind::Reit,
                _ => InstrumentKind::Fund,
            };
            (name.to_string(), ListedRow {
                code: code("000000"),
                name: name.to_string(),
                market,
                kind,
                price,
                prev_close,
                change_rate: with_rate.then_some(rate),
                open: range.map(|r| r.0),
                high: range.map(|r| r.1),
                low: range.map(|r| r.2),
                volume,
                trading_value: money.0,
                market_cap: money.1,
                listed_shares,
                listed_on: listed_on.map(|d| day(1970, 1, 1) + chrono::Duration::days(d)),
                upper_limit: limits.map(|l| l.0),
                lower_limit: limits.map(|l| l.1),
                halted,
                session: if after { TradingSession::After } else { TradingSession::Regular },
            })
        }
    }

    fn listed_rows() -> impl Strategy<Value = Vec<ListedRow>> {
        prop::sample::select(vec![Market::Kospi, Market::Kosdaq]).prop_flat_map(|market| {
            prop::collection::btree_map("[0-9A-Z]{6}", listed_row(market), 0..6).prop_map(|map| {
                map.into_iter()
                    .map(|(c, (_, row))| ListedRow {
                        code: code(&c),
                        ..row
                    })
                    .collect()
            })
        })
    }

    prop_compose! {
        fn quote()(
            price in prop::option::of(decimal_in(1..3_000_000)),
            prev in prop::option::of(decimal_in(1..3_000_000)),
            with_rate in any::<bool>(),
            free_rate in -3000i64..3000,
            range in prop::option::of((decimal_in(1..3_000_000), decimal_in(1..3_000_000), decimal_in(1..3_000_000))),
            volume in prop::option::of(0i64..1_000_000_000_000),
            money in (prop::option::of(decimal_in(0..i64::MAX)), prop::option::of(decimal_in(0..i64::MAX))),
            status in prop::sample::select(vec!["PREOPEN", "OPEN", "CLOSE"]),
            after in any::<bool>(),
            traded_at in prop::option::of(0i64..86_400 * 30),
            halted in any::<bool>(),
        ) -> QuoteNow {
            let prev_close = price.and(prev);
            let rate = match (price, prev_close) {
                (Some(p), Some(c)) => ((p - c) * Decimal::ONE_HUNDRED / c).round_dp(2),
                _ => Decimal::new(free_rate, 2),
            };
            QuoteNow {
                code: code("000000"),
                name: "한빛전자".into(),
                price,
                prev_close,
                change_rate: with_rate.then_some(rate),
                open: range.map(|r| r.0),
                high: range.map(|r| r.1),
                low: range.map(|r| r.2),
                volume,
                trading_value: money.0,
                market_cap: money.1,
                market_status: status.into(),
                session: if after { TradingSession::After } else { TradingSession::Regular },
                traded_at: traded_at.map(|s| at(day(2026, 11, 1), 0, 0, 0) + chrono::Duration::seconds(s)),
                halted,
            }
        }
    }

    prop_compose! {
        fn bars()(days in prop::collection::vec(
            (1i64..5, 1i64..2_000_000, 0i64..100_000, 0i64..100_000, 0i64..100_000, 0i64..1_000_000_000, any::<bool>()),
            0..12,
        )) -> Vec<Bar> {
            let mut date = day(2026, 1, 1);
            days.into_iter()
                .map(|(gap, low, spread, o, c, volume, halted)| {
                    date += chrono::Duration::days(gap);
                    let (low, high) = (Decimal::from(low), Decimal::from(low + spread));
                    let within = |x: i64| Decimal::from(x % (spread + 1)) + low;
                    if halted {
                        bar(date, [low; 4], 0)
                    } else {
                        bar(date, [within(o), high, low, within(c)], volume)
                    }
                })
                .collect()
        }
    }

    prop_compose! {
        fn books()(
            mid in 2i64..2_000_000,
            asks in prop::collection::btree_map(1i64..10_000, 0i64..10_000_000, 0..10),
            bids in prop::collection::btree_map(1i64..10_000, 0i64..10_000_000, 0..10),
        ) -> OrderBook {
            OrderBook {
                asks: asks.into_iter().map(|(o, q)| level(Decimal::from(mid + o - 1), q)).collect(),
                bids: bids
                    .into_iter()
                    .filter(|(o, _)| *o < mid)
                    .map(|(o, q)| level(Decimal::from(mid - o), q))
                    .collect(),
            }
        }
    }

    proptest! {
        #[test]
        fn stock_default_round_trips(rows in listed_rows()) {
            let market = rows.first().map_or(Market::Kospi, |r| r.market);
            prop_assert_eq!(parse_stock_default(&render_stock_default(&rows), market), Ok(rows));
        }

        #[test]
        fn market_value_round_trips(rows in listed_rows(), extra in 0usize..100) {
            let market = rows.first().map_or(Market::Kospi, |r| r.market);
            // The shape carries no range, limits, share count or listing date, and no REIT type.
            let rows: Vec<ListedRow> = rows
                .into_iter()
                .filter(|r| !matches!(r.kind, InstrumentKind::Reit | InstrumentKind::Fund))
                .map(|r| ListedRow {
                    open: None, high: None, low: None, upper_limit: None, lower_limit: None,
                    listed_shares: None, listed_on: None, ..r
                })
                .collect();
            let total_count = rows.len() + extra;
            prop_assert_eq!(
                parse_market_value(&render_market_value(&rows, total_count), market),
                Ok(MarketValuePage { rows, total_count })
            );
        }

        #[test]
        fn polling_stocks_round_trip(quotes in prop::collection::btree_map("[0-9A-Z]{6}", quote(), 0..6)) {
            let quotes: Vec<QuoteNow> = quotes
                .into_iter()
                .map(|(c, q)| QuoteNow { code: code(&c), ..q })
                .collect();
            prop_assert_eq!(parse_polling_stocks(&render_polling_stocks(&quotes)), Ok(quotes));
        }

        #[test]
        fn chart_day_round_trips(bars in bars()) {
            prop_assert_eq!(parse_chart_day(&render_chart_day(&bars)), Ok(bars));
        }

        #[test]
        fn asking_price_round_trips(book in books()) {
            prop_assert_eq!(parse_asking_price(&render_asking_price(&book)), Ok(book));
        }
    }
}
