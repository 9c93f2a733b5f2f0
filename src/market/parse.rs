//! Parsers for Naver Pay Securities responses: the market-cap listing, polling quotes, fchart
//! daily bars, the index summary and the 10-step order book.
//!
//! Pure functions of the response text (plus [`decode`] for the raw bytes); fetching lives
//! elsewhere. Every page-structure assumption is a named constant below. A page that lost the
//! expected structure, or a cell that does not read as a number, is an error: never an empty or
//! guessed result.

use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime};
use encoding_rs::{Encoding, UTF_8};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use scraper::node::Node;
use scraper::{ElementRef, Html, Selector};
use serde::{Deserialize, Serialize};
use serde_json::Value;

// Listing (`sise/sise_market_sum.naver`).
const LISTING_TABLE: &str = "table.type_2";
const LISTING_HEADER_CELLS: &str = "thead th";
const LISTING_ROWS: &str = "tbody tr";
const LISTING_NAME_LINK: &str = "a[href]";
const COL_NAME: &str = "종목명";
const COL_PRICE: &str = "현재가";
const COL_CHANGE: &str = "전일비";
const COL_RATE: &str = "등락률";
const COL_MARKET_CAP: &str = "시가총액";
const COL_SHARES: &str = "상장주식수";
const COL_VOLUME: &str = "거래량";

// Marker for text meant for screen readers (carries 상승/하락/보합).
const BLIND_CLASS: &str = "blind";

// Index summary (`sise/sise_index.naver`).
const INDEX_VALUE: &str = "em#now_value";
const INDEX_CHANGE: &str = "#change_value_and_rate";

// Order book (`item/sise.naver?asktype=10`).
const ORDER_BOOK_TABLE: &str = r#"table.type2[summary="호가 정보에 관한표입니다."]"#;
const ORDER_BOOK_ROWS: &str = "tr";
const ORDER_BOOK_SELL_CELLS: &str = "td.bg01";
const ORDER_BOOK_BUY_CELLS: &str = "td.bg02";

// fchart XML.
const FCHART_OPEN: &str = "<chartdata";
const FCHART_CLOSE: &str = "</chartdata>";
const FCHART_ITEM: &str = "<item";
const FCHART_DATA_ATTR: &str = "data";

/// Bytes of the document head searched for a charset declaration.
const SNIFF_LEN: usize = 1024;

/// Why a response could not be turned into values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// An element, attribute or field the page must have is absent.
    #[error("missing {what}")]
    Missing { what: String },
    /// A data row has fewer cells than the header; `column` is the first absent one.
    #[error("row {row}: no cell for column {column}")]
    MissingCell { row: usize, column: String },
    /// A data row has more cells than the header.
    #[error("row {row}: {found} cells where the header has {expected}")]
    ExtraCells {
        row: usize,
        found: usize,
        expected: usize,
    },
    /// A cell of a table row (or a field of a bar) does not read as the expected value.
    #[error("row {row}, column {column}: cannot read {text:?}")]
    BadCell {
        row: usize,
        column: &'static str,
        text: String,
    },
    /// A named value outside a table does not read as expected.
    #[error("{what}: cannot read {text:?}")]
    BadValue { what: String, text: String },
    /// The body is not valid in the charset it was decoded with.
    #[error("body is not valid {charset}")]
    Encoding { charset: String },
    /// The declared charset has no decoder.
    #[error("unknown charset {label:?}")]
    UnknownCharset { label: String },
    /// The body is not JSON.
    #[error("invalid json: {0}")]
    Json(String),
    /// The body does not start with `{` or `[` (the app's HTML page, an empty body): a failed
    /// request, never an empty answer. `starts` is the head of the body.
    #[error("not JSON: the body starts with {starts:?}")]
    NotJson { starts: String },
    /// A JSON document, or a part of it, has another shape than expected.
    #[error("{what}: expected {expected}, got {found}")]
    Shape {
        what: String,
        expected: &'static str,
        found: String,
    },
    /// A required field of a JSON row is absent; `code` is the row's code when it was read.
    #[error(
        "missing field {field} in row {row}{}",
        .code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
    )]
    MissingField {
        row: usize,
        code: Option<String>,
        field: &'static str,
    },
    /// A field of a JSON row holds a value that cannot be read.
    #[error(
        "row {row}{}: {field}: {problem}",
        .code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
    )]
    Field {
        row: usize,
        code: Option<String>,
        field: &'static str,
        problem: String,
    },
    /// The best ask is at or below the best bid.
    #[error("crossed order book: best ask {best_ask} is not above best bid {best_bid}")]
    CrossedBook {
        best_ask: Decimal,
        best_bid: Decimal,
    },
}

/// One data row of the market-cap listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListingRow {
    pub code: String,
    pub name: String,
    pub price: Decimal,
    /// Change from the previous close in won; negative when 하락/하한가.
    pub change: Decimal,
    /// Change in percent, signed like `change`.
    pub change_rate: Decimal,
    pub volume: i64,
    /// Market capitalisation in 억원 (100 million won).
    pub market_cap_eok: Decimal,
    /// Listed shares in thousands.
    pub listed_shares_thousand: i64,
}

/// One stock of the polling response. Prices are `None` where the feed prints `-` (halted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub code: String,
    pub name: String,
    pub price: Option<Decimal>,
    pub change: Option<Decimal>,
    pub change_rate: Option<Decimal>,
    pub volume: Option<i64>,
    /// `marketStatus == "OPEN"`.
    pub market_open: bool,
    /// The response's top-level `time`, KST.
    pub time: Option<NaiveDateTime>,
}

/// One daily bar: parsed from fchart, stored in daily_bars and read back from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Bar {
    pub date: NaiveDate,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: i64,
}

/// An index's current value and change from the previous close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexNow {
    pub value: Decimal,
    pub change: Decimal,
    pub change_rate: Decimal,
}

/// One price level of the order book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub price: Decimal,
    pub quantity: i64,
}

/// The order book: asks by ascending price, bids by descending price (best first on both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderBook {
    pub asks: Vec<Level>,
    pub bids: Vec<Level>,
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Decodes a response body: by the `charset` of the Content-Type header, else by a `charset=`
/// (HTML meta) or `encoding="…"` (XML declaration) in the first KiB, else as UTF-8. A byte
/// sequence invalid in that charset, or UTF-8 bytes labelled as another charset, is an error.
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> Result<String, ParseError> {
    let label = content_type
        .and_then(charset_from_content_type)
        .or_else(|| sniff_charset(&bytes[..bytes.len().min(SNIFF_LEN)]));
    let encoding = match &label {
        Some(label) => {
            Encoding::for_label(label.as_bytes()).ok_or_else(|| ParseError::UnknownCharset {
                label: label.clone(),
            })?
        }
        None => UTF_8,
    };
    let (text, used, had_errors) = encoding.decode(bytes);
    let utf8_in_disguise = used != UTF_8 && !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok();
    if had_errors || utf8_in_disguise {
        return Err(ParseError::Encoding {
            charset: used.name().to_string(),
        });
    }
    Ok(text.into_owned())
}

fn charset_from_content_type(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        (key.trim().eq_ignore_ascii_case("charset") && !value.is_empty()).then(|| value.to_string())
    })
}

fn sniff_charset(head: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let xml_declaration = head
        .trim_start()
        .starts_with("<?xml")
        .then(|| head.find("?>").map(|end| &head[..end]))
        .flatten();
    let declared = xml_declaration
        .and_then(|decl| value_after(decl, "encoding="))
        .or_else(|| value_after(&head, "charset="))?;
    Some(declared.to_string())
}

fn value_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let rest = &text[text.find(key)? + key.len()..];
    let rest = rest.trim_start_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

// ---------------------------------------------------------------------------------------------
// Numbers

/// Reads a number as the pages print it: `1,234`, `-1.24%`, `+29.76%`, `6471.17`, with
/// whitespace around. Thousands separators must group by three. `N/A`, `-` and anything else
/// that is not a number give `None`.
pub fn parse_number(text: &str) -> Option<Decimal> {
    let text = text.trim();
    let text = text.strip_suffix('%').map_or(text, str::trim_end);
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (digits, None),
    };
    if !grouped_digits(int) {
        return None;
    }
    if let Some(frac) = frac {
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let mut plain: String = int.chars().filter(|&c| c != ',').collect();
    if let Some(frac) = frac {
        plain.push('.');
        plain.push_str(frac);
    }
    let value = Decimal::from_str(&plain).ok()?;
    Some(if negative && !value.is_zero() {
        -value
    } else {
        value
    })
}

/// `1234` or `1,234`: digits, grouped by three when separators are present.
fn grouped_digits(int: &str) -> bool {
    let mut groups = int.split(',');
    let first = groups.next().unwrap_or_default();
    let all_digits = |g: &str| g.bytes().all(|b| b.is_ascii_digit());
    if first.is_empty() || !all_digits(first) {
        return false;
    }
    let mut rest = groups.peekable();
    if rest.peek().is_some() && first.len() > 3 {
        return false;
    }
    rest.all(|g| g.len() == 3 && all_digits(g))
}

/// Exactly `len` ASCII digits (chrono alone accepts `2026111` for `%Y%m%d`).
fn all_digits(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit())
}

/// A whole, non-negative count (volume, shares).
fn parse_count(text: &str) -> Option<i64> {
    let value = parse_number(text)?;
    if value < Decimal::ZERO || !value.fract().is_zero() {
        return None;
    }
    value.to_i64()
}

fn parse_positive(text: &str) -> Option<Decimal> {
    parse_number(text).filter(|v| *v > Decimal::ZERO)
}

fn parse_non_negative(text: &str) -> Option<Decimal> {
    parse_number(text).filter(|v| *v >= Decimal::ZERO)
}

/// The feed's marks for "no value": `-`, `N/A` or nothing.
fn is_not_available(text: &str) -> bool {
    matches!(text.trim(), "" | "-" | "N/A")
}

// ---------------------------------------------------------------------------------------------
// Direction of a change

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
    Flat,
}

/// The one direction all hints agree on; `Err(())` when they disagree.
fn agree(hints: impl IntoIterator<Item = Direction>) -> Result<Option<Direction>, ()> {
    let mut found = None;
    for hint in hints {
        match found {
            Some(seen) if seen != hint => return Err(()),
            _ => found = Some(hint),
        }
    }
    Ok(found)
}

fn direction_of_word(word: &str) -> Option<Direction> {
    match word {
        "상승" | "상한가" => Some(Direction::Up),
        "하락" | "하한가" => Some(Direction::Down),
        "보합" => Some(Direction::Flat),
        _ => None,
    }
}

/// Reads `text` and gives it the sign of `direction`; `None` when the text is not a number or
/// contradicts the direction (an explicit `+` on a fall, a `-` on a rise, a non-zero 보합).
fn signed(text: &str, direction: Option<Direction>) -> Option<Decimal> {
    let value = parse_number(text)?;
    let explicit_plus = text.trim_start().starts_with('+');
    match direction {
        Some(Direction::Up) => (value >= Decimal::ZERO).then_some(value),
        Some(Direction::Down) if explicit_plus && !value.is_zero() => None,
        Some(Direction::Down) => Some(if value.is_zero() { value } else { -value.abs() }),
        Some(Direction::Flat) => value.is_zero().then_some(value),
        None => Some(value),
    }
}

// ---------------------------------------------------------------------------------------------
// HTML helpers

fn selector(css: &'static str) -> Selector {
    Selector::parse(css).expect("selector constants are valid CSS")
}

fn missing(what: impl Into<String>) -> ParseError {
    ParseError::Missing { what: what.into() }
}

/// Whitespace runs (newlines, tabs, no-break spaces) collapsed to one space, ends trimmed.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn element_text(element: ElementRef) -> String {
    squash(&element.text().collect::<Vec<_>>().join(" "))
}

fn has_class(element: ElementRef, class: &str) -> bool {
    element.value().classes().any(|c| c == class)
}

/// The visible text of `element`: text inside `.blind` elements left out.
fn visible_text(element: ElementRef) -> String {
    let mut out = String::new();
    for node in element.descendants() {
        let Node::Text(text) = node.value() else {
            continue;
        };
        let hidden = node
            .ancestors()
            .take_while(|a| a.id() != element.id())
            .chain(std::iter::once(*element))
            .filter_map(ElementRef::wrap)
            .any(|a| has_class(a, BLIND_CLASS));
        if !hidden {
            out.push_str(text);
            out.push(' ');
        }
    }
    squash(&out)
}

/// Direct `td` children of a row (not cells of a nested table).
fn row_cells(tr: ElementRef) -> Vec<ElementRef> {
    tr.children()
        .filter_map(ElementRef::wrap)
        .filter(|e| e.value().name() == "td")
        .collect()
}

fn is_stock_code(code: &str) -> bool {
    code.len() == 6
        && code
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// The `code=` parameter of a link such as `/item/main.naver?code=005930`.
fn code_from_href(href: &str) -> Option<&str> {
    let query = href.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("code="))
        .filter(|code| is_stock_code(code))
}

// ---------------------------------------------------------------------------------------------
// Listing

/// Parses one page of `sise_market_sum.naver`. A page past the last one has the table and no
/// data rows and gives an empty list. Columns are found by their header text, so that a
/// reordered or extra column does not shift values. `row` in errors counts data rows on this
/// page from 1 (separator rows not counted).
pub fn parse_listing_page(html: &str) -> Result<Vec<ListingRow>, ParseError> {
    let doc = Html::parse_document(html);
    let table = doc
        .select(&selector(LISTING_TABLE))
        .next()
        .ok_or_else(|| missing(LISTING_TABLE))?;
    let header: Vec<String> = table
        .select(&selector(LISTING_HEADER_CELLS))
        .map(element_text)
        .collect();
    if header.is_empty() {
        return Err(missing(format!("{LISTING_TABLE} {LISTING_HEADER_CELLS}")));
    }
    let columns = ListingColumns::find(&header)?;
    let mut rows = Vec::new();
    for tr in table.select(&selector(LISTING_ROWS)) {
        let cells = row_cells(tr);
        if cells.len() <= 1 {
            continue;
        }
        let row = rows.len() + 1;
        if cells.len() < header.len() {
            return Err(ParseError::MissingCell {
                row,
                column: header[cells.len()].clone(),
            });
        }
        if cells.len() > header.len() {
            return Err(ParseError::ExtraCells {
                row,
                found: cells.len(),
                expected: header.len(),
            });
        }
        rows.push(listing_row(row, &cells, &columns)?);
    }
    Ok(rows)
}

/// Positions of the columns read, by header text.
struct ListingColumns {
    name: usize,
    price: usize,
    change: usize,
    rate: usize,
    market_cap: usize,
    shares: usize,
    volume: usize,
}

impl ListingColumns {
    fn find(header: &[String]) -> Result<Self, ParseError> {
        let position = |name: &str| {
            header
                .iter()
                .position(|h| h.starts_with(name))
                .ok_or_else(|| missing(format!("listing column {name}")))
        };
        Ok(Self {
            name: position(COL_NAME)?,
            price: position(COL_PRICE)?,
            change: position(COL_CHANGE)?,
            rate: position(COL_RATE)?,
            market_cap: position(COL_MARKET_CAP)?,
            shares: position(COL_SHARES)?,
            volume: position(COL_VOLUME)?,
        })
    }
}

fn listing_row(
    row: usize,
    cells: &[ElementRef],
    columns: &ListingColumns,
) -> Result<ListingRow, ParseError> {
    let bad = |column: &'static str, text: String| ParseError::BadCell { row, column, text };
    let text = |index: usize| element_text(cells[index]);

    let name_cell = cells[columns.name];
    let link = name_cell
        .select(&selector(LISTING_NAME_LINK))
        .next()
        .ok_or_else(|| bad(COL_NAME, element_text(name_cell)))?;
    let href = link.value().attr("href").unwrap_or_default();
    let code = code_from_href(href).ok_or_else(|| bad(COL_NAME, href.to_string()))?;
    let name = element_text(link);
    if name.is_empty() {
        return Err(bad(COL_NAME, href.to_string()));
    }

    let price =
        parse_positive(&text(columns.price)).ok_or_else(|| bad(COL_PRICE, text(columns.price)))?;

    let change_cell = cells[columns.change];
    let change_text = visible_text(change_cell);
    let change_magnitude =
        parse_non_negative(&change_text).ok_or_else(|| bad(COL_CHANGE, change_text.clone()))?;
    let direction = match change_direction(change_cell) {
        Ok(Some(direction)) => direction,
        Ok(None) if change_magnitude.is_zero() => Direction::Flat,
        _ => return Err(bad(COL_CHANGE, element_text(change_cell))),
    };
    let change = signed(&change_text, Some(direction))
        .ok_or_else(|| bad(COL_CHANGE, element_text(change_cell)))?;
    let change_rate = signed(&text(columns.rate), Some(direction))
        .ok_or_else(|| bad(COL_RATE, text(columns.rate)))?;

    Ok(ListingRow {
        code: code.to_string(),
        name,
        price,
        change,
        change_rate,
        volume: parse_count(&text(columns.volume))
            .ok_or_else(|| bad(COL_VOLUME, text(columns.volume)))?,
        market_cap_eok: parse_non_negative(&text(columns.market_cap))
            .ok_or_else(|| bad(COL_MARKET_CAP, text(columns.market_cap)))?,
        listed_shares_thousand: parse_count(&text(columns.shares))
            .ok_or_else(|| bad(COL_SHARES, text(columns.shares)))?,
    })
}

/// Direction of the 전일비 cell from its `.blind` words and `bu_*` classes; `Err(())` when a
/// word is unknown or the hints disagree, `Ok(None)` when the cell has none.
fn change_direction(cell: ElementRef) -> Result<Option<Direction>, ()> {
    let mut hints = Vec::new();
    for element in cell.descendants().filter_map(ElementRef::wrap) {
        if has_class(element, BLIND_CLASS) {
            hints.push(direction_of_word(&element_text(element)).ok_or(())?);
        }
        for class in element.value().classes() {
            match class {
                "bu_pup" | "bu_up" => hints.push(Direction::Up),
                "bu_pdn" | "bu_dn" => hints.push(Direction::Down),
                _ => {}
            }
        }
    }
    agree(hints)
}

// ---------------------------------------------------------------------------------------------
// Polling quotes

/// Parses the polling realtime JSON. `time` applies to every quote. Direction comes from the
/// sign in the text and `compareToPreviousPrice.code` (1/2 up, 3 flat, 4/5 down); a
/// contradiction is an error. Errors name the field as `datas[i].field`.
pub fn parse_polling(json: &str) -> Result<Vec<Quote>, ParseError> {
    let root: Value = serde_json::from_str(json).map_err(|e| ParseError::Json(e.to_string()))?;
    let datas = root.get("datas").ok_or_else(|| missing("datas"))?;
    let datas = datas.as_array().ok_or_else(|| ParseError::BadValue {
        what: "datas".into(),
        text: datas.to_string(),
    })?;
    let time = match root.get("time") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let text = json_text(value).unwrap_or_else(|| value.to_string());
            let time = all_digits(&text, 14)
                .then(|| NaiveDateTime::parse_from_str(&text, "%Y%m%d%H%M%S").ok())
                .flatten();
            Some(time.ok_or(ParseError::BadValue {
                what: "time".into(),
                text,
            })?)
        }
    };
    datas
        .iter()
        .enumerate()
        .map(|(index, item)| polling_quote(index, item, time))
        .collect()
}

/// A string field's text; numbers accepted as their decimal text.
fn json_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn polling_quote(
    index: usize,
    item: &Value,
    time: Option<NaiveDateTime>,
) -> Result<Quote, ParseError> {
    let path = |field: &str| format!("datas[{index}].{field}");
    let field = |name: &str| -> Result<Option<String>, ParseError> {
        match item.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => json_text(value)
                .map(Some)
                .ok_or_else(|| ParseError::BadValue {
                    what: path(name),
                    text: value.to_string(),
                }),
        }
    };
    let required = |name: &str| field(name)?.ok_or_else(|| missing(path(name)));
    let bad = |name: &str, text: &str| ParseError::BadValue {
        what: path(name),
        text: text.to_string(),
    };

    let code = required("itemCode")?;
    if !is_stock_code(&code) {
        return Err(bad("itemCode", &code));
    }
    let name = field("stockName")?.unwrap_or_default();

    let close = required("closePrice")?;
    let price = if is_not_available(&close) {
        None
    } else {
        Some(parse_positive(&close).ok_or_else(|| bad("closePrice", &close))?)
    };

    let direction = match item
        .pointer("/compareToPreviousPrice/code")
        .and_then(json_text)
    {
        None => None,
        Some(code) => Some(match code.as_str() {
            "1" | "2" => Direction::Up,
            "3" => Direction::Flat,
            "4" | "5" => Direction::Down,
            _ => return Err(bad("compareToPreviousPrice.code", &code)),
        }),
    };
    let signed_field = |name: &str| -> Result<Option<Decimal>, ParseError> {
        match field(name)? {
            None => Ok(None),
            Some(text) if is_not_available(&text) => Ok(None),
            Some(text) => signed(&text, direction)
                .map(Some)
                .ok_or_else(|| bad(name, &text)),
        }
    };
    let change = signed_field("compareToPreviousClosePrice")?;
    let change_rate = signed_field("fluctuationsRatio")?;

    let volume = match field("accumulatedTradingVolume")? {
        None => None,
        Some(text) if is_not_available(&text) => None,
        Some(text) => {
            Some(parse_count(&text).ok_or_else(|| bad("accumulatedTradingVolume", &text))?)
        }
    };
    let market_open = field("marketStatus")?.is_some_and(|status| status == "OPEN");

    Ok(Quote {
        code,
        name,
        price,
        change,
        change_rate,
        volume,
        market_open,
        time,
    })
}

// ---------------------------------------------------------------------------------------------
// fchart daily bars

/// Parses fchart XML (`<item data="yyyymmdd|open|high|low|close|volume" />` inside
/// `<chartdata>`). A halted day (open, high and low all 0) takes the close for all three. Bars
/// must be in ascending date order and have low ≤ open, close ≤ high. `row` in errors counts
/// items from 1. A `<chartdata>` without items gives an empty list.
pub fn parse_fchart(xml: &str) -> Result<Vec<Bar>, ParseError> {
    let start = xml
        .find(FCHART_OPEN)
        .ok_or_else(|| missing("<chartdata>"))?;
    let body = &xml[start..];
    let end = body
        .find(FCHART_CLOSE)
        .ok_or_else(|| missing(FCHART_CLOSE))?;
    let mut rest = &body[..end];
    let mut bars: Vec<Bar> = Vec::new();
    while let Some(found) = rest.find(FCHART_ITEM) {
        let after = &rest[found + FCHART_ITEM.len()..];
        let is_item_tag = after.starts_with(|c: char| c.is_whitespace() || c == '/' || c == '>');
        let tag_end = after.find('>').unwrap_or(after.len());
        let tag = &after[..tag_end];
        rest = &after[tag_end..];
        if !is_item_tag {
            continue;
        }
        let row = bars.len() + 1;
        let data = xml_attr(tag, FCHART_DATA_ATTR).ok_or_else(|| ParseError::BadCell {
            row,
            column: FCHART_DATA_ATTR,
            text: squash(tag),
        })?;
        let bar = fchart_bar(row, data)?;
        if bars.last().is_some_and(|last| last.date >= bar.date) {
            return Err(ParseError::BadCell {
                row,
                column: "date",
                text: data.to_string(),
            });
        }
        bars.push(bar);
    }
    Ok(bars)
}

/// The value of attribute `name` in the inside of a start tag.
fn xml_attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut search = tag;
    loop {
        let at = search.find(name)?;
        let before_ok = search[..at].ends_with(char::is_whitespace);
        let after = search[at + name.len()..].trim_start();
        if let (true, Some(after)) = (before_ok, after.strip_prefix('=')) {
            let after = after.trim_start();
            let quote = after.chars().next().filter(|&c| c == '"' || c == '\'')?;
            let value = &after[1..];
            return value.find(quote).map(|end| &value[..end]);
        }
        search = &search[at + name.len()..];
    }
}

fn fchart_bar(row: usize, data: &str) -> Result<Bar, ParseError> {
    let bad = |column: &'static str, text: &str| ParseError::BadCell {
        row,
        column,
        text: text.to_string(),
    };
    let fields: Vec<&str> = data.split('|').map(str::trim).collect();
    let [date, open, high, low, close, volume] = fields[..] else {
        return Err(bad(FCHART_DATA_ATTR, data));
    };
    let date = all_digits(date, 8)
        .then(|| NaiveDate::parse_from_str(date, "%Y%m%d").ok())
        .flatten()
        .ok_or_else(|| bad("date", date))?;
    let close = parse_positive(close).ok_or_else(|| bad("close", close))?;
    let mut open = parse_non_negative(open).ok_or_else(|| bad("open", open))?;
    let mut high = parse_non_negative(high).ok_or_else(|| bad("high", high))?;
    let mut low = parse_non_negative(low).ok_or_else(|| bad("low", low))?;
    let volume = parse_count(volume).ok_or_else(|| bad("volume", volume))?;
    if open.is_zero() && high.is_zero() && low.is_zero() {
        (open, high, low) = (close, close, close);
    }
    if low > open.min(close) || high < open.max(close) {
        return Err(bad("high/low", data));
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

// ---------------------------------------------------------------------------------------------
// Index summary

/// Parses `sise_index.naver?code=KOSPI|KOSDAQ`. The change text reads like
/// `13.76 +0.34% 전일대비`; the direction comes from a sign, a 상승/하락/보합 word, or an
/// `up`/`dn` class on the change element or its parent, and all present must agree.
pub fn parse_index_page(html: &str) -> Result<IndexNow, ParseError> {
    let doc = Html::parse_document(html);
    let value_element = doc
        .select(&selector(INDEX_VALUE))
        .next()
        .ok_or_else(|| missing(INDEX_VALUE))?;
    let value_text = element_text(value_element);
    let value = parse_positive(&value_text).ok_or_else(|| ParseError::BadValue {
        what: INDEX_VALUE.into(),
        text: value_text,
    })?;

    let change_element = doc
        .select(&selector(INDEX_CHANGE))
        .next()
        .ok_or_else(|| missing(INDEX_CHANGE))?;
    let whole = element_text(change_element);
    let bad = || ParseError::BadValue {
        what: INDEX_CHANGE.into(),
        text: whole.clone(),
    };
    let mut change = None;
    let mut rate = None;
    let mut hints = Vec::new();
    for token in whole.split_whitespace() {
        if token.ends_with('%') {
            if rate.replace(token).is_some() {
                return Err(bad());
            }
        } else if parse_number(token).is_some() {
            if change.replace(token).is_some() {
                return Err(bad());
            }
        } else {
            hints.extend(
                ["상승", "하락", "보합"]
                    .into_iter()
                    .filter(|w| token.contains(w))
                    .filter_map(direction_of_word),
            );
        }
    }
    let (change, rate) = change.zip(rate).ok_or_else(bad)?;
    for token in [change, rate] {
        match token.chars().next() {
            Some('-') => hints.push(Direction::Down),
            Some('+') => hints.push(Direction::Up),
            _ => {}
        }
    }
    let parent = change_element.parent().and_then(ElementRef::wrap);
    for element in std::iter::once(change_element).chain(parent) {
        for class in element.value().classes() {
            match class {
                "up" => hints.push(Direction::Up),
                "dn" | "down" => hints.push(Direction::Down),
                _ => {}
            }
        }
    }
    let direction = agree(hints).map_err(|_| bad())?;
    let change_value = signed(change, direction).ok_or_else(bad)?;
    if direction.is_none() && !change_value.is_zero() {
        return Err(bad());
    }
    let change_rate = signed(rate, direction).ok_or_else(bad)?;
    Ok(IndexNow {
        value,
        change: change_value,
        change_rate,
    })
}

// ---------------------------------------------------------------------------------------------
// Order book

/// Parses the 10-step order book of `item/sise.naver?code=…&asktype=10`. Each row has two sell
/// cells (quantity, price) and two buy cells (price, quantity); empty pairs are skipped, a
/// half-filled pair is an error. `row` in errors counts the table's rows from 1.
pub fn parse_order_book(html: &str) -> Result<OrderBook, ParseError> {
    let doc = Html::parse_document(html);
    let table = doc
        .select(&selector(ORDER_BOOK_TABLE))
        .next()
        .ok_or_else(|| missing(ORDER_BOOK_TABLE))?;
    let (sell, buy) = (
        selector(ORDER_BOOK_SELL_CELLS),
        selector(ORDER_BOOK_BUY_CELLS),
    );
    let mut asks = Vec::new();
    let mut bids = Vec::new();
    let mut saw_cells = false;
    for (index, tr) in table.select(&selector(ORDER_BOOK_ROWS)).enumerate() {
        let row = index + 1;
        let sell_cells: Vec<ElementRef> = tr.select(&sell).collect();
        let buy_cells: Vec<ElementRef> = tr.select(&buy).collect();
        saw_cells |= !sell_cells.is_empty() || !buy_cells.is_empty();
        if let Some(level) = book_level(row, &sell_cells, BookSide::Sell)? {
            asks.push(level);
        }
        if let Some(level) = book_level(row, &buy_cells, BookSide::Buy)? {
            bids.push(level);
        }
    }
    if !saw_cells {
        return Err(missing(format!(
            "{ORDER_BOOK_SELL_CELLS}/{ORDER_BOOK_BUY_CELLS} cells in {ORDER_BOOK_TABLE}"
        )));
    }
    asks.sort_by_key(|level| level.price);
    bids.sort_by_key(|level| std::cmp::Reverse(level.price));
    Ok(OrderBook { asks, bids })
}

#[derive(Clone, Copy)]
enum BookSide {
    Sell,
    Buy,
}

fn book_level(
    row: usize,
    cells: &[ElementRef],
    side: BookSide,
) -> Result<Option<Level>, ParseError> {
    // (quantity cell, price cell) and their column names.
    let (quantity_at, price_at, quantity_column, price_column) = match side {
        BookSide::Sell => (0, 1, "매도잔량", "매도호가"),
        BookSide::Buy => (1, 0, "매수잔량", "매수호가"),
    };
    match cells.len() {
        0 => return Ok(None),
        2 => {}
        found => {
            return Err(ParseError::BadCell {
                row,
                column: price_column,
                text: format!("{found} cells"),
            })
        }
    }
    let quantity_text = element_text(cells[quantity_at]);
    let price_text = element_text(cells[price_at]);
    if quantity_text.is_empty() && price_text.is_empty() {
        return Ok(None);
    }
    let price = parse_positive(&price_text).ok_or_else(|| ParseError::BadCell {
        row,
        column: price_column,
        text: price_text.clone(),
    })?;
    let quantity = parse_count(&quantity_text).ok_or_else(|| ParseError::BadCell {
        row,
        column: quantity_column,
        text: quantity_text.clone(),
    })?;
    Ok(Some(Level { price, quantity }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;
    use rust_decimal_macros::dec;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/naver/",
                $name
            ))
        };
    }

    const KOSPI_PAGE1: &[u8] = fixture!("sise_market_sum_sosok0_page1.html");
    const KOSPI_PAGE51_EMPTY: &[u8] = fixture!("sise_market_sum_sosok0_page51_empty.html");
    const KOSPI_PAGE2_TRUNCATED: &[u8] = fixture!("sise_market_sum_sosok0_page2_truncated.html");
    const KOSDAQ_PAGE1: &[u8] = fixture!("sise_market_sum_sosok1_page1.html");
    const LISTING_DRIFT: &[u8] = fixture!("sise_market_sum_drift_class_renamed.html");
    const LISTING_UTF8_MISLABELED: &[u8] = fixture!("sise_market_sum_utf8_mislabeled_euckr.html");
    const POLLING: &[u8] = fixture!("polling_realtime_005930_000660.json");
    const POLLING_HALTED: &[u8] = fixture!("polling_realtime_028300_900130_halted.json");
    const POLLING_NO_DATAS: &[u8] = fixture!("polling_realtime_no_datas.json");
    const FCHART_STOCK: &[u8] = fixture!("fchart_005930_day.xml");
    const FCHART_KOSPI: &[u8] = fixture!("fchart_KOSPI_day.xml");
    const FCHART_HALTED: &[u8] = fixture!("fchart_900130_day_halted.xml");
    const INDEX_KOSPI: &[u8] = fixture!("sise_index_KOSPI.html");
    const INDEX_KOSDAQ: &[u8] = fixture!("sise_index_KOSDAQ.html");
    const ORDER_BOOK: &[u8] = fixture!("item_sise_005930_asktype10.html");

    /// A fixture's text, decoded the way the crawler does (no header: sniffed or UTF-8).
    fn text(bytes: &[u8]) -> String {
        decode(bytes, None).expect("fixture decodes")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn bad_cell(row: usize, column: &'static str, text: &str) -> ParseError {
        ParseError::BadCell {
            row,
            column,
            text: text.to_string(),
        }
    }

    fn bad_value(what: &str, text: &str) -> ParseError {
        ParseError::BadValue {
            what: what.to_string(),
            text: text.to_string(),
        }
    }

    // --- decode ----------------------------------------------------------------------------

    #[test]
    fn decode_reads_euc_kr_by_meta_charset() {
        let page = decode(KOSPI_PAGE1, None).unwrap();
        assert!(page.contains("<title>시가총액 : 네이버페이 증권</title>"));
        assert!(page.contains(">삼성전자</a>"));
    }

    #[test]
    fn decode_reads_raw_euc_kr_bytes_by_header_charset() {
        assert_eq!(
            decode(
                b"\xbb\xef\xbc\xba \xc7\xcf\xb6\xf4",
                Some("text/html;charset=EUC-KR")
            )
            .unwrap(),
            "삼성 하락"
        );
        assert_eq!(
            decode(b"\xbb\xef\xbc\xba", Some("text/html; Charset=\"euc-kr\"")).unwrap(),
            "삼성"
        );
    }

    #[test]
    fn decode_reads_euc_kr_xml_by_declaration() {
        let xml = decode(FCHART_STOCK, None).unwrap();
        assert!(xml.contains(r#"name="삼성전자""#));
    }

    #[test]
    fn decode_defaults_to_utf8() {
        let json = decode(POLLING, None).unwrap();
        assert!(json.contains("SK하이닉스"));
        let json = decode(POLLING, Some("application/json")).unwrap();
        assert!(json.contains("삼성전자"));
    }

    #[test]
    fn decode_rejects_euc_kr_bytes_labelled_utf8() {
        assert_eq!(
            decode(KOSPI_PAGE1, Some("text/html; charset=UTF-8")),
            Err(ParseError::Encoding {
                charset: "UTF-8".into()
            })
        );
        // No label at all means UTF-8, which EUC-KR bytes are not.
        assert_eq!(
            decode(b"\xbb\xef\xbc\xba", None),
            Err(ParseError::Encoding {
                charset: "UTF-8".into()
            })
        );
    }

    #[test]
    fn decode_rejects_utf8_bytes_labelled_euc_kr() {
        let expected = Err(ParseError::Encoding {
            charset: "EUC-KR".into(),
        });
        assert_eq!(decode(LISTING_UTF8_MISLABELED, None), expected);
        assert_eq!(
            decode(LISTING_UTF8_MISLABELED, Some("text/html; charset=euc-kr")),
            expected
        );
    }

    #[test]
    fn decode_header_charset_wins_over_meta() {
        let page = decode(LISTING_UTF8_MISLABELED, Some("text/html; charset=utf-8")).unwrap();
        assert!(page.contains(">고려아연</a>"));
    }

    #[test]
    fn decode_rejects_unknown_charset() {
        assert_eq!(
            decode(b"abc", Some("text/html; charset=x-made-up")),
            Err(ParseError::UnknownCharset {
                label: "x-made-up".into()
            })
        );
    }

    #[test]
    fn charset_declarations_are_found() {
        assert_eq!(
            charset_from_content_type("text/html; charset=\"EUC-KR\""),
            Some("EUC-KR".into())
        );
        assert_eq!(charset_from_content_type("text/html"), None);
        assert_eq!(charset_from_content_type("text/html; charset="), None);
        assert_eq!(
            sniff_charset(b"<html><head><meta charset=\"euc-kr\"></head>"),
            Some("euc-kr".into())
        );
        assert_eq!(
            sniff_charset(b"<?xml version=\"1.0\" encoding='EUC-KR' ?><a/>"),
            Some("euc-kr".into())
        );
        assert_eq!(sniff_charset(b"{\"datas\":[]}"), None);
    }

    // --- numbers ---------------------------------------------------------------------------

    #[test]
    fn parse_number_reads_page_numbers() {
        let cases = [
            ("1,234", Some(dec!(1234))),
            ("-1.24%", Some(dec!(-1.24))),
            ("+29.76%", Some(dec!(29.76))),
            ("0.00%", Some(dec!(0))),
            ("-0.00%", Some(dec!(0))),
            ("6471.17", Some(dec!(6471.17))),
            ("1,042.30", Some(dec!(1042.30))),
            ("\n\t\t\t\t12,345,678\n\t\t\t\t", Some(dec!(12345678))),
            ("\u{a0}1,000\u{a0}", Some(dec!(1000))),
            ("- 1", None),
            ("N/A", None),
            ("-", None),
            ("", None),
            ("1,2", None),
            ("1234,567", None),
            ("12,34", None),
            ("1.2.3", None),
            ("1.", None),
            (".5", None),
            ("1e5", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_number(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn parse_count_wants_whole_non_negative() {
        assert_eq!(parse_count("12,345,678"), Some(12_345_678));
        assert_eq!(parse_count("0"), Some(0));
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_count("1.5"), None);
        assert_eq!(parse_count("N/A"), None);
    }

    // --- listing ---------------------------------------------------------------------------

    #[test]
    fn listing_sample_page() {
        let rows = parse_listing_page(&text(KOSPI_PAGE1)).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows[0],
            ListingRow {
                code: "005930".into(),
                name: "삼성전자".into(),
                price: dec!(55900),
                change: dec!(-700),
                change_rate: dec!(-1.24),
                volume: 12_345_678,
                market_cap_eok: dec!(3337111),
                listed_shares_thousand: 5_969_783,
            }
        );
        assert_eq!(
            (rows[1].code.as_str(), rows[1].change, rows[1].change_rate),
            ("000660", dec!(3400), dec!(1.94))
        );
        assert_eq!(
            (rows[2].code.as_str(), rows[2].change, rows[2].change_rate),
            ("373220", dec!(0), dec!(0))
        );
        // 상한가 and a code with a letter.
        assert_eq!(
            rows[3],
            ListingRow {
                code: "0126Z0".into(),
                name: "신규상장예시".into(),
                price: dec!(12950),
                change: dec!(2970),
                change_rate: dec!(29.76),
                volume: 5_123_456,
                market_cap_eok: dec!(1234),
                listed_shares_thousand: 9_530,
            }
        );
    }

    #[test]
    fn listing_page_past_the_end_is_empty() {
        assert_eq!(parse_listing_page(&text(KOSPI_PAGE51_EMPTY)), Ok(vec![]));
    }

    #[test]
    fn listing_kosdaq_page_with_limit_down_flat_halted_and_separator() {
        let rows = parse_listing_page(&text(KOSDAQ_PAGE1)).unwrap();
        let codes: Vec<&str> = rows.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(
            codes,
            ["196170", "247540", "900120", "028300", "900130", "277810"]
        );
        let signs: Vec<(Decimal, Decimal)> =
            rows.iter().map(|r| (r.change, r.change_rate)).collect();
        assert_eq!(
            signs,
            [
                (dec!(8500), dec!(2.10)),
                (dec!(-1700), dec!(-1.49)),
                (dec!(-2990), dec!(-29.96)),
                (dec!(0), dec!(0)),
                (dec!(0), dec!(0)),
                (dec!(-2400), dec!(-1.26)), // direction from the class alone
            ]
        );
        // 하한가
        assert_eq!(
            rows[2],
            ListingRow {
                code: "900120".into(),
                name: "하한가예시".into(),
                price: dec!(6990),
                change: dec!(-2990),
                change_rate: dec!(-29.96),
                volume: 8_231_004,
                market_cap_eok: dec!(699),
                listed_shares_thousand: 10_000,
            }
        );
        // 보합 given by its blind word.
        assert_eq!(
            rows[3],
            ListingRow {
                code: "028300".into(),
                name: "HLB".into(),
                price: dec!(61800),
                change: dec!(0),
                change_rate: dec!(0),
                volume: 1_203_554,
                market_cap_eok: dec!(81021),
                listed_shares_thousand: 131_102,
            }
        );
        // Halted: last price, no direction mark, nothing traded.
        assert_eq!(
            rows[4],
            ListingRow {
                code: "900130".into(),
                name: "거래정지예시".into(),
                price: dec!(3215),
                change: dec!(0),
                change_rate: dec!(0),
                volume: 0,
                market_cap_eok: dec!(412),
                listed_shares_thousand: 12_815,
            }
        );
    }

    #[test]
    fn listing_without_its_table_is_an_error() {
        assert_eq!(
            parse_listing_page(&text(LISTING_DRIFT)),
            Err(missing("table.type_2"))
        );
        assert_eq!(
            parse_listing_page("<html><body>점검 중</body></html>"),
            Err(missing("table.type_2"))
        );
    }

    #[test]
    fn listing_cut_mid_row_is_an_error() {
        assert_eq!(
            parse_listing_page(&text(KOSPI_PAGE2_TRUNCATED)),
            Err(ParseError::MissingCell {
                row: 3,
                column: "PER".into()
            })
        );
    }

    #[test]
    fn listing_without_a_column_is_an_error() {
        let page = text(KOSPI_PAGE1).replace(">거래량</th>", ">거래대금</th>");
        assert_eq!(
            parse_listing_page(&page),
            Err(missing("listing column 거래량"))
        );
        let page = text(KOSPI_PAGE1)
            .replace("<thead>", "<tfoot>")
            .replace("</thead>", "</tfoot>");
        assert_eq!(
            parse_listing_page(&page),
            Err(missing("table.type_2 thead th"))
        );
    }

    #[test]
    fn listing_row_with_extra_cells_is_an_error() {
        let page = text(KOSPI_PAGE1).replace(
            "<td class=\"number\">8.57</td>",
            "<td class=\"number\">8.57</td><td>?</td>",
        );
        assert_eq!(
            parse_listing_page(&page),
            Err(ParseError::ExtraCells {
                row: 1,
                found: 14,
                expected: 13
            })
        );
    }

    #[test]
    fn listing_bad_cells_name_row_and_column() {
        let page = text(KOSPI_PAGE1);
        let cases = [
            (
                page.replace(">178,200<", ">178,2OO<"),
                bad_cell(2, "현재가", "178,2OO"),
            ),
            (
                page.replace(">12,345,678<", ">12,345,67<"),
                bad_cell(1, "거래량", "12,345,67"),
            ),
            (
                page.replace(">3,337,111<", ">-3,337,111<"),
                bad_cell(1, "시가총액", "-3,337,111"),
            ),
            (
                page.replace(">9,530<", ">9,530.5<"),
                bad_cell(4, "상장주식수", "9,530.5"),
            ),
            (
                page.replace("code=005930\" class", "code=5930\" class"),
                bad_cell(1, "종목명", "/item/main.naver?code=5930"),
            ),
            (
                page.replace(
                    "<a href=\"/item/main.naver?code=000660\" class=\"tltle\">SK하이닉스</a>",
                    "SK하이닉스",
                ),
                bad_cell(2, "종목명", "SK하이닉스"),
            ),
            // Unknown direction word.
            (
                page.replace(
                    "<span class=\"blind\">하락</span>",
                    "<span class=\"blind\">약세</span>",
                ),
                bad_cell(1, "전일비", "약세 700"),
            ),
            // Word and class disagree.
            (
                page.replace(
                    "bu_pdn\"><span class=\"blind\">하락",
                    "bu_pup\"><span class=\"blind\">하락",
                ),
                bad_cell(1, "전일비", "하락 700"),
            ),
            // A non-zero change without any direction.
            (
                page.replace(
                    "<em class=\"bu_p bu_pdn\"><span class=\"blind\">하락</span></em>",
                    "",
                ),
                bad_cell(1, "전일비", "700"),
            ),
            // The rate's sign contradicts 상승.
            (
                page.replace("+1.94%", "-1.94%"),
                bad_cell(2, "등락률", "-1.94%"),
            ),
            // A signed 전일비 contradicting 하락.
            (
                page.replace("\t\t\t\t700\n", "\t\t\t\t+700\n"),
                bad_cell(1, "전일비", "하락 +700"),
            ),
        ];
        for (page, expected) in cases {
            assert_eq!(parse_listing_page(&page), Err(expected));
        }
    }

    // --- polling ---------------------------------------------------------------------------

    #[test]
    fn polling_sample() {
        let quotes = parse_polling(&text(POLLING)).unwrap();
        let time = NaiveDate::from_ymd_opt(2026, 11, 24)
            .unwrap()
            .and_time(NaiveTime::from_hms_opt(10, 15, 3).unwrap());
        assert_eq!(
            quotes,
            vec![
                Quote {
                    code: "005930".into(),
                    name: "삼성전자".into(),
                    price: Some(dec!(55900)),
                    change: Some(dec!(-700)),
                    change_rate: Some(dec!(-1.24)),
                    volume: Some(12_345_678),
                    market_open: true,
                    time: Some(time),
                },
                Quote {
                    code: "000660".into(),
                    name: "SK하이닉스".into(),
                    price: Some(dec!(178200)),
                    change: Some(dec!(3400)),
                    change_rate: Some(dec!(1.94)),
                    volume: Some(2_811_093),
                    market_open: true,
                    time: Some(time),
                },
            ]
        );
    }

    #[test]
    fn polling_halted_stock_has_no_prices() {
        let quotes = parse_polling(&text(POLLING_HALTED)).unwrap();
        let time = NaiveDate::from_ymd_opt(2026, 11, 24)
            .unwrap()
            .and_time(NaiveTime::from_hms_opt(9, 30, 12).unwrap());
        assert_eq!(quotes.len(), 2);
        assert_eq!(
            quotes[0],
            Quote {
                code: "028300".into(),
                name: "HLB".into(),
                price: Some(dec!(61800)),
                change: Some(dec!(0)),
                change_rate: Some(dec!(0)),
                volume: Some(1_203_554),
                market_open: true,
                time: Some(time),
            }
        );
        assert_eq!(
            quotes[1],
            Quote {
                code: "900130".into(),
                name: "거래정지예시".into(),
                price: None,
                change: None,
                change_rate: None,
                volume: None,
                market_open: true,
                time: Some(time),
            }
        );
    }

    #[test]
    fn polling_without_datas_is_an_error() {
        assert_eq!(
            parse_polling(&text(POLLING_NO_DATAS)),
            Err(missing("datas"))
        );
    }

    #[test]
    fn polling_minimal_and_closed() {
        let quotes = parse_polling(
            r#"{"datas":[{"itemCode":"005930","closePrice":"55,900","marketStatus":"CLOSE"}]}"#,
        )
        .unwrap();
        assert_eq!(
            quotes,
            vec![Quote {
                code: "005930".into(),
                name: String::new(),
                price: Some(dec!(55900)),
                change: None,
                change_rate: None,
                volume: None,
                market_open: false,
                time: None,
            }]
        );
        assert_eq!(parse_polling(r#"{"datas":[]}"#), Ok(vec![]));
    }

    #[test]
    fn polling_errors_name_the_field() {
        let cases = [
            (
                r#"{"datas":[{"closePrice":"1"}]}"#,
                missing("datas[0].itemCode"),
            ),
            (
                r#"{"datas":[{"itemCode":"005930","closePrice":"1"},{"itemCode":"000660"}]}"#,
                missing("datas[1].closePrice"),
            ),
            (r#"{"datas":{}}"#, bad_value("datas", "{}")),
            (
                r#"{"datas":[{"itemCode":"5930","closePrice":"1"}]}"#,
                bad_value("datas[0].itemCode", "5930"),
            ),
            (
                r#"{"datas":[{"itemCode":"005930","closePrice":"55,9OO"}]}"#,
                bad_value("datas[0].closePrice", "55,9OO"),
            ),
            (
                r#"{"datas":[{"itemCode":"005930","closePrice":{"v":1}}]}"#,
                bad_value("datas[0].closePrice", r#"{"v":1}"#),
            ),
            (
                r#"{"datas":[{"itemCode":"005930","closePrice":"55,900","compareToPreviousClosePrice":"-700","compareToPreviousPrice":{"code":"2"}}]}"#,
                bad_value("datas[0].compareToPreviousClosePrice", "-700"),
            ),
            (
                r#"{"datas":[{"itemCode":"005930","closePrice":"55,900","compareToPreviousPrice":{"code":"9"}}]}"#,
                bad_value("datas[0].compareToPreviousPrice.code", "9"),
            ),
            (
                r#"{"datas":[{"itemCode":"005930","closePrice":"55,900","accumulatedTradingVolume":"1.5"}]}"#,
                bad_value("datas[0].accumulatedTradingVolume", "1.5"),
            ),
            (
                r#"{"datas":[],"time":"2026-11-24"}"#,
                bad_value("time", "2026-11-24"),
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(parse_polling(json), Err(expected), "json {json}");
        }
        assert!(matches!(
            parse_polling("{\"datas\":["),
            Err(ParseError::Json(_))
        ));
        assert!(matches!(parse_polling("<html>"), Err(ParseError::Json(_))));
    }

    #[test]
    fn polling_unsigned_fall_takes_the_sign_of_its_code() {
        let quotes = parse_polling(
            r#"{"datas":[{"itemCode":"005930","closePrice":"55,900","compareToPreviousClosePrice":"700","fluctuationsRatio":"1.24","compareToPreviousPrice":{"code":"5"}}]}"#,
        )
        .unwrap();
        assert_eq!(quotes[0].change, Some(dec!(-700)));
        assert_eq!(quotes[0].change_rate, Some(dec!(-1.24)));
    }

    // --- fchart ----------------------------------------------------------------------------

    #[test]
    fn fchart_stock_sample() {
        let bars = parse_fchart(&text(FCHART_STOCK)).unwrap();
        assert_eq!(bars.len(), 5);
        assert_eq!(
            bars[0],
            Bar {
                date: date(2026, 11, 17),
                open: dec!(56200),
                high: dec!(56900),
                low: dec!(55800),
                close: dec!(56500),
                volume: 14_022_311,
            }
        );
        assert_eq!(bars[4].date, date(2026, 11, 23));
        assert_eq!(bars[4].volume, 9_874_120);
    }

    #[test]
    fn fchart_index_bars_carry_decimals() {
        let bars = parse_fchart(&text(FCHART_KOSPI)).unwrap();
        assert_eq!(bars.len(), 4);
        assert_eq!(
            bars[0],
            Bar {
                date: date(2026, 11, 18),
                open: dec!(6437.52),
                high: dec!(6480.11),
                low: dec!(6421.08),
                close: dec!(6471.17),
                volume: 412_553,
            }
        );
        assert_eq!(bars[3].close, dec!(6485.94));
        assert_eq!(bars[3].close.scale(), 2);
    }

    #[test]
    fn fchart_halted_day_takes_the_close() {
        let bars = parse_fchart(&text(FCHART_HALTED)).unwrap();
        assert_eq!(bars.len(), 3);
        assert_eq!(bars[0].open, dec!(3300));
        assert_eq!(
            bars[1],
            Bar {
                date: date(2026, 11, 20),
                open: dec!(3215),
                high: dec!(3215),
                low: dec!(3215),
                close: dec!(3215),
                volume: 0,
            }
        );
    }

    #[test]
    fn fchart_without_items_is_empty() {
        let xml = r#"<protocol><chartdata symbol="999999" count="0"></chartdata></protocol>"#;
        assert_eq!(parse_fchart(xml), Ok(vec![]));
    }

    #[test]
    fn fchart_structure_errors() {
        assert_eq!(
            parse_fchart("<protocol><error code=\"404\"/></protocol>"),
            Err(missing("<chartdata>"))
        );
        let truncated = text(FCHART_STOCK);
        let truncated = &truncated[..truncated.find("</chartdata>").unwrap()];
        assert_eq!(parse_fchart(truncated), Err(missing("</chartdata>")));
    }

    #[test]
    fn fchart_bad_items_name_row_and_field() {
        let wrap = |items: &str| {
            format!("<protocol><chartdata symbol=\"005930\">{items}</chartdata></protocol>")
        };
        let ok = r#"<item data="20261117|56200|56900|55800|56500|14022311" />"#;
        let cases = [
            (
                format!(r#"{ok}<item data="20261118|56500|57100|56300|56600" />"#),
                bad_cell(2, "data", "20261118|56500|57100|56300|56600"),
            ),
            (
                r#"<item value="20261118|1|1|1|1|1" />"#.to_string(),
                bad_cell(1, "data", r#"value="20261118|1|1|1|1|1" /"#),
            ),
            (
                r#"<item data="2026111|1|1|1|1|1" />"#.to_string(),
                bad_cell(1, "date", "2026111"),
            ),
            (
                r#"<item data="20261117|1|1|1|0|1" />"#.to_string(),
                bad_cell(1, "close", "0"),
            ),
            (
                r#"<item data="20261117|1|x|1|1|1" />"#.to_string(),
                bad_cell(1, "high", "x"),
            ),
            (
                r#"<item data="20261117|1|1|1|1|-5" />"#.to_string(),
                bad_cell(1, "volume", "-5"),
            ),
            (
                r#"<item data="20261117|56200|55000|55800|56500|1" />"#.to_string(),
                bad_cell(1, "high/low", "20261117|56200|55000|55800|56500|1"),
            ),
            (
                format!("{ok}{ok}"),
                bad_cell(2, "date", "20261117|56200|56900|55800|56500|14022311"),
            ),
        ];
        for (items, expected) in cases {
            assert_eq!(parse_fchart(&wrap(&items)), Err(expected), "items {items}");
        }
    }

    // --- index -----------------------------------------------------------------------------

    #[test]
    fn index_kospi_up() {
        assert_eq!(
            parse_index_page(&text(INDEX_KOSPI)),
            Ok(IndexNow {
                value: dec!(4071.35),
                change: dec!(13.76),
                change_rate: dec!(0.34),
            })
        );
    }

    #[test]
    fn index_kosdaq_down() {
        assert_eq!(
            parse_index_page(&text(INDEX_KOSDAQ)),
            Ok(IndexNow {
                value: dec!(853.21),
                change: dec!(-5.12),
                change_rate: dec!(-0.60),
            })
        );
    }

    #[test]
    fn index_direction_from_any_one_hint() {
        let page = |change: &str| {
            format!(
                r#"<div><em id="now_value">2,500.00</em><span id="change_value_and_rate">{change}</span></div>"#
            )
        };
        let cases = [
            ("13.76 +0.34% 전일대비", dec!(13.76), dec!(0.34)),
            ("-13.76 -0.34% 전일대비", dec!(-13.76), dec!(-0.34)),
            (
                "<span>13.76</span> 0.34%<span class=\"blind\">하락</span>",
                dec!(-13.76),
                dec!(-0.34),
            ),
            ("0.00 0.00% 보합", dec!(0), dec!(0)),
            ("0.00 0.00%", dec!(0), dec!(0)),
        ];
        for (change, expected_change, expected_rate) in cases {
            assert_eq!(
                parse_index_page(&page(change)),
                Ok(IndexNow {
                    value: dec!(2500),
                    change: expected_change,
                    change_rate: expected_rate,
                }),
                "change {change}"
            );
        }
        let by_class = r#"<div class="quotient dn"><em id="now_value">853.21</em><span id="change_value_and_rate">5.12 0.60%</span></div>"#;
        assert_eq!(parse_index_page(by_class).unwrap().change, dec!(-5.12));
    }

    #[test]
    fn index_errors() {
        assert_eq!(
            parse_index_page(
                "<html><body><span id=\"change_value_and_rate\">1 1%</span></body></html>"
            ),
            Err(missing("em#now_value"))
        );
        assert_eq!(
            parse_index_page("<em id=\"now_value\">2,500.00</em>"),
            Err(missing("#change_value_and_rate"))
        );
        assert_eq!(
            parse_index_page(
                "<em id=\"now_value\">N/A</em><span id=\"change_value_and_rate\">1 1%</span>"
            ),
            Err(bad_value("em#now_value", "N/A"))
        );
        let page = |change: &str| {
            format!(
                r#"<em id="now_value">2,500.00</em><span id="change_value_and_rate">{change}</span>"#
            )
        };
        for change in [
            "13.76 +0.34% 하락", // sign and word disagree
            "13.76 0.34%",       // no direction for a non-zero change
            "13.76 전일대비",    // no rate
            "13.76 1.0 0.34%",   // two changes
            "13.76 0.34% 0.35%", // two rates
            "1.00 0.04% 보합",   // 보합 with a change
        ] {
            assert_eq!(
                parse_index_page(&page(change)),
                Err(bad_value("#change_value_and_rate", change)),
                "change {change}"
            );
        }
        // The KOSPI page with its container marked as falling.
        let page = text(INDEX_KOSPI).replace("quotient up", "quotient dn");
        assert!(matches!(
            parse_index_page(&page),
            Err(ParseError::BadValue { what, .. }) if what == "#change_value_and_rate"
        ));
    }

    // --- order book ------------------------------------------------------------------------

    #[test]
    fn order_book_ten_levels_each_side() {
        let book = parse_order_book(&text(ORDER_BOOK)).unwrap();
        assert_eq!(book.asks.len(), 10);
        assert_eq!(book.bids.len(), 10);
        assert_eq!(
            book.asks[0],
            Level {
                price: dec!(56600),
                quantity: 48_211
            }
        );
        assert_eq!(
            book.asks[9],
            Level {
                price: dec!(57500),
                quantity: 90_412
            }
        );
        assert_eq!(
            book.bids[0],
            Level {
                price: dec!(56500),
                quantity: 31_022
            }
        );
        assert_eq!(
            book.bids[9],
            Level {
                price: dec!(55600),
                quantity: 35_008
            }
        );
        assert!(book.asks.windows(2).all(|w| w[0].price < w[1].price));
        assert!(book.bids.windows(2).all(|w| w[0].price > w[1].price));
        let asked: i64 = book.asks.iter().map(|l| l.quantity).sum();
        assert_eq!(asked, 521_917); // the page's 잔량합계
    }

    #[test]
    fn order_book_errors() {
        assert_eq!(
            parse_order_book(&text(KOSPI_PAGE1)),
            Err(missing(ORDER_BOOK_TABLE))
        );
        let page = text(ORDER_BOOK).replace(
            "<td class=\"bg01\"><span class=\"tah p11 nv01\">90,412</span></td>",
            "<td class=\"bg01\">&nbsp;</td>",
        );
        assert_eq!(parse_order_book(&page), Err(bad_cell(2, "매도잔량", "")));
        let page = text(ORDER_BOOK).replace(
            ">56,500</span></td>\n<td class=\"bg02\">",
            ">56,5OO</span></td>\n<td class=\"bg02\">",
        );
        assert_eq!(
            parse_order_book(&page),
            Err(bad_cell(12, "매수호가", "56,5OO"))
        );
        let page = text(ORDER_BOOK)
            .replace("bg01", "sell")
            .replace("bg02", "buy");
        assert_eq!(
            parse_order_book(&page),
            Err(missing(format!(
                "td.bg01/td.bg02 cells in {ORDER_BOOK_TABLE}"
            )))
        );
    }

    #[test]
    fn order_book_of_a_halted_stock_is_empty() {
        let page = r#"<table class="type2" summary="호가 정보에 관한표입니다."><tr><td class="bg01"></td><td class="bg01"></td><td class="bg02"></td><td class="bg02"></td></tr></table>"#;
        assert_eq!(
            parse_order_book(page),
            Ok(OrderBook {
                asks: vec![],
                bids: vec![]
            })
        );
    }

    // --- errors and serde ------------------------------------------------------------------

    #[test]
    fn error_messages_are_one_lower_case_line() {
        let errors = [
            missing("datas"),
            ParseError::MissingCell {
                row: 3,
                column: "PER".into(),
            },
            ParseError::ExtraCells {
                row: 1,
                found: 14,
                expected: 13,
            },
            bad_cell(2, "현재가", "178,2\nOO"),
            bad_value("time", "x"),
            ParseError::Encoding {
                charset: "EUC-KR".into(),
            },
            ParseError::UnknownCharset { label: "x".into() },
            ParseError::Json("eof".into()),
        ];
        for error in errors {
            let message = error.to_string();
            assert!(!message.contains('\n'), "{message}");
            assert!(!message.starts_with(char::is_uppercase), "{message}");
        }
        assert_eq!(
            bad_cell(2, "현재가", "178,2OO").to_string(),
            "row 2, column 현재가: cannot read \"178,2OO\""
        );
        assert_eq!(
            missing("datas[0].closePrice").to_string(),
            "missing datas[0].closePrice"
        );
    }

    #[test]
    fn values_round_trip_through_json() {
        let rows = parse_listing_page(&text(KOSDAQ_PAGE1)).unwrap();
        let json = serde_json::to_string(&rows).unwrap();
        assert!(json.contains(r#""change":"-2990""#));
        let back: Vec<ListingRow> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rows);
        let bars = parse_fchart(&text(FCHART_KOSPI)).unwrap();
        let back: Vec<Bar> = serde_json::from_str(&serde_json::to_string(&bars).unwrap()).unwrap();
        assert_eq!(back, bars);
    }
}
