//! What the market parsers share: the error a response that cannot be read turns into and the
//! reading of numbers as Naver prints them. The values they produce (daily bar, index now,
//! order book, listing row, quote) are domain types: [`crate::domain::market_data`].
//!
//! The parsers of Naver's renewed JSON endpoints are in [`super::json`]. The classic HTML
//! pages they replaced (the market-cap listing, the index summary, the 10-step order book) and
//! the fchart XML were read here until September 2026; since then those pages answer 302 or
//! 410, and their parsers are gone.

use std::str::FromStr;

use rust_decimal::Decimal;

pub use crate::domain::market_data::{Bar, IndexNow, Level, OrderBook};

/// Why a response could not be turned into values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A field the body must have is absent.
    #[error("missing {what}")]
    Missing { what: String },
    /// A named value outside a table does not read as expected.
    #[error("{what}: cannot read {text:?}")]
    BadValue { what: String, text: String },
    /// The body is not valid in the charset it was decoded with.
    #[error("body is not valid {charset}")]
    Encoding { charset: String },
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

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

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
    fn error_messages_are_one_lower_case_line() {
        let errors = [
            ParseError::Missing {
                what: "datas".into(),
            },
            ParseError::BadValue {
                what: "time".into(),
                text: "x".into(),
            },
            ParseError::Encoding {
                charset: "UTF-8".into(),
            },
            ParseError::Json("eof".into()),
        ];
        for error in errors {
            let message = error.to_string();
            assert!(!message.contains('\n'), "{message}");
            assert!(!message.starts_with(char::is_uppercase), "{message}");
        }
    }
}
