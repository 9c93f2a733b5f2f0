//! Value types: each constructor parses and rejects, so an off-tick price or a zero quantity
//! cannot exist past the boundary.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::rules;
use super::Invalid;

/// A KRX short code: six characters of `[0-9A-Z]` (a few new listings carry a letter).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StockCode(String);

impl StockCode {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if s.len() != 6
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            return Err(Invalid::new(
                "code",
                format!("{s:?} is not a stock code (six characters of 0-9 and A-Z, e.g. 005930)"),
            ));
        }
        Ok(StockCode(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StockCode {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        StockCode::parse(&s)
    }
}
impl From<StockCode> for String {
    fn from(c: StockCode) -> String {
        c.0
    }
}
impl fmt::Display for StockCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl FromStr for StockCode {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        StockCode::parse(s)
    }
}

/// A whole-won amount of KRW (KRW has no minor unit). May be negative (a ledger leg).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Won(Decimal);

impl Won {
    pub const ZERO: Won = Won(Decimal::ZERO);

    /// Accepts only whole won.
    pub fn new(d: Decimal, field: &'static str) -> Result<Self, Invalid> {
        if d.fract() != Decimal::ZERO {
            return Err(Invalid::new(
                field,
                format!("{d} is not a whole number of won"),
            ));
        }
        Ok(Won(d.trunc()))
    }
    pub fn from_i64(v: i64) -> Self {
        Won(Decimal::from(v))
    }
    /// Cuts a computed amount (a fee, a tax) down to the won. The one rounding rule of the
    /// program: fees and taxes are truncated toward zero.
    pub fn floor(d: Decimal) -> Self {
        Won(d.floor())
    }
    pub fn get(self) -> Decimal {
        self.0
    }
    pub fn checked_add(self, o: Won) -> Option<Won> {
        self.0.checked_add(o.0).map(Won)
    }
    pub fn checked_sub(self, o: Won) -> Option<Won> {
        self.0.checked_sub(o.0).map(Won)
    }
    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }
}

impl fmt::Display for Won {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&group_thousands(self.0))
    }
}

impl FromStr for Won {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let d = parse_decimal(s, "amount")?;
        Won::new(d, "amount")
    }
}

/// Formats a decimal with thousands separators: `1234567.5` → `1,234,567.5`.
pub fn group_thousands(d: Decimal) -> String {
    let s = d.to_string();
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", s.as_str()),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let mut out = String::with_capacity(s.len() + int.len() / 3);
    out.push_str(sign);
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// Parses a decimal as a person types it: `55900`, `55,900`, `55900.0`. Rejects exponents and
/// misplaced separators ([`ungroup`]).
pub fn parse_decimal(s: &str, field: &'static str) -> Result<Decimal, Invalid> {
    let cleaned = ungroup(s, field)?;
    if cleaned.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    let not_a_number = || Invalid::new(field, format!("{:?} is not a number", s.trim()));
    // Decimal's own parser also takes `1_000`; a person's number has digits, a sign and a point.
    if !cleaned
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.".contains(&b))
    {
        return Err(not_a_number());
    }
    Decimal::from_str_exact(&cleaned).map_err(|_| not_a_number())
}

/// Removes the thousands separators of a number as a person types it. A comma must group the
/// whole part in threes (`1,500`, `12,345,678`, `-1,500.25`): `1,5`, `10,00`, `1,0000`, `,100`,
/// `100,` and `0,015` (a decimal comma) are refused rather than read as some other number.
fn ungroup(s: &str, field: &'static str) -> Result<String, Invalid> {
    let t = s.trim();
    if !t.contains(',') {
        return Ok(t.to_string());
    }
    let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((w, f)) => (w, f),
        None => (unsigned, ""),
    };
    let digits = |g: &str| g.bytes().all(|b| b.is_ascii_digit());
    let mut groups = whole.split(',');
    let first = groups.next().unwrap_or_default();
    let grouped = (1..=3).contains(&first.len())
        && digits(first)
        && !first.starts_with('0')
        && groups.all(|g| g.len() == 3 && digits(g))
        && !fraction.contains(',');
    if !grouped {
        return Err(Invalid::new(
            field,
            format!(
                "{t:?} is not a number: commas must separate groups of three digits, as in 12,345,678"
            ),
        ));
    }
    Ok(t.replace(',', ""))
}

/// A price in won: positive, whole, at most [`rules::MAX_PRICE`]. Whether it sits on a tick
/// depends on the instrument and is an order rule ([`rules::check_tick`]); a crawled price is a
/// market fact and is not tick-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Price(Decimal);

impl Price {
    pub fn new(d: Decimal) -> Result<Self, Invalid> {
        if d <= Decimal::ZERO {
            return Err(Invalid::new(
                "price",
                format!("{d} must be greater than zero"),
            ));
        }
        if d.fract() != Decimal::ZERO {
            return Err(Invalid::new(
                "price",
                format!("{d} is not a whole number of won"),
            ));
        }
        if d > rules::MAX_PRICE {
            return Err(Invalid::new(
                "price",
                format!(
                    "{} exceeds the maximum of {}",
                    group_thousands(d),
                    group_thousands(rules::MAX_PRICE)
                ),
            ));
        }
        Ok(Price(d.trunc()))
    }
    pub fn get(self) -> Decimal {
        self.0
    }
    pub fn won(self) -> Won {
        Won(self.0)
    }
}

impl FromStr for Price {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        Price::new(parse_decimal(s, "price")?)
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&group_thousands(self.0))
    }
}

/// A number of shares to trade: a positive whole number, at most [`Quantity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(i64);

impl Quantity {
    /// The largest quantity one order may carry.
    pub const MAX: i64 = 10_000_000;

    pub fn new(q: i64) -> Result<Self, Invalid> {
        if q <= 0 {
            return Err(Invalid::new(
                "quantity",
                format!("{q} must be a positive whole number of shares"),
            ));
        }
        if q > Self::MAX {
            return Err(Invalid::new(
                "quantity",
                format!(
                    "{} exceeds the maximum of {} shares per order",
                    group_thousands(q.into()),
                    group_thousands(Self::MAX.into())
                ),
            ));
        }
        Ok(Quantity(q))
    }
    pub fn get(self) -> i64 {
        self.0
    }
    pub fn decimal(self) -> Decimal {
        Decimal::from(self.0)
    }
}

impl FromStr for Quantity {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let t = ungroup(s, "quantity")?;
        match t.parse::<i64>() {
            Ok(q) => Quantity::new(q),
            Err(_) => {
                let digits = t.strip_prefix('-').unwrap_or(&t);
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    Err(Invalid::new(
                        "quantity",
                        format!(
                            "{:?} is out of range (1 to {} shares)",
                            s.trim(),
                            group_thousands(Self::MAX.into())
                        ),
                    ))
                } else if parse_decimal(&t, "quantity").is_ok() {
                    Err(Invalid::new(
                        "quantity",
                        format!("{:?} must be a positive whole number of shares", s.trim()),
                    ))
                } else {
                    Err(Invalid::new(
                        "quantity",
                        format!("{:?} is not a number of shares", s.trim()),
                    ))
                }
            }
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&group_thousands(self.0.into()))
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident, $field:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(s: String) -> Result<Self, Invalid> {
                s.parse()
            }
        }
        impl FromStr for $name {
            type Err = Invalid;
            fn from_str(s: &str) -> Result<Self, Invalid> {
                let lower = s.trim().to_ascii_lowercase();
                $(if lower == $text { return Ok($name::$variant); })+
                Err(Invalid::new($field, format!(
                    "{:?} must be one of: {}", s.trim(), [$($text),+].join(", ")
                )))
            }
        }
    };
}

pub(crate) use text_enum;

pub use super::order::{OrderKind, OrderStatus, OrderType, Side, TimeInForce};

/// The two KRX markets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Market {
    Kospi,
    Kosdaq,
}

impl Market {
    pub fn as_str(self) -> &'static str {
        match self {
            Market::Kospi => "KOSPI",
            Market::Kosdaq => "KOSDAQ",
        }
    }
}
impl fmt::Display for Market {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl FromStr for Market {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        match s.trim().to_ascii_uppercase().as_str() {
            "KOSPI" => Ok(Market::Kospi),
            "KOSDAQ" => Ok(Market::Kosdaq),
            _ => Err(Invalid::new(
                "market",
                format!("{:?} must be KOSPI or KOSDAQ", s.trim()),
            )),
        }
    }
}

/// Refuses text holding an invisible or bidirectional format character (Unicode category Cf:
/// U+200B zero width space, the U+202A–U+202E and U+2066–U+2069 bidi controls, a U+FEFF byte
/// order mark, the U+00AD soft hyphen…): such text shows one thing and stores another, so two
/// names that look alike differ, or a name reads backwards in a listing. The message names the
/// character, not the text, which would be shown reordered.
pub fn refuse_format_chars(s: &str, field: &'static str) -> Result<(), Invalid> {
    match s
        .chars()
        .find(|c| c.general_category() == GeneralCategory::Format)
    {
        Some(c) => Err(Invalid::new(
            field,
            format!(
                "contains an invisible format character U+{:04X}",
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

/// An email address, kept as typed but compared case-insensitively by the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        refuse_format_chars(s, "email")?;
        let bad = || {
            Invalid::new(
                "email",
                format!("{s:?} is not an email address (name@domain.tld)"),
            )
        };
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(bad());
        }
        Ok(Email(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name: 1 to 50 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        refuse_format_chars(s, "name")?;
        let n = s.chars().count();
        if n == 0 || n > 50 || s.chars().any(char::is_control) {
            return Err(Invalid::new(
                "name",
                "must be 1 to 50 characters without control characters",
            ));
        }
        Ok(DisplayName(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed: at least 8 characters. Never displayed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.chars().count() < Self::MIN_CHARS {
            return Err(Invalid::new(
                "password",
                format!("must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if s.len() > 1024 {
            return Err(Invalid::new("password", "must be at most 1024 bytes"));
        }
        Ok(Password(s.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn stock_code_accepts_six_digits_or_capitals() {
        assert_eq!(StockCode::parse("005930").unwrap().as_str(), "005930");
        assert_eq!(StockCode::parse(" 0126Z0 ").unwrap().as_str(), "0126Z0");
        for bad in ["", "5930", "0059300", "00593a", "00593-", "삼성전자"] {
            let e = StockCode::parse(bad).unwrap_err();
            assert_eq!(e.field, "code", "{bad}");
        }
    }

    #[test]
    fn won_rejects_fractions_and_floors_fees() {
        assert!(Won::new(dec!(100.5), "amount").is_err());
        assert_eq!(Won::new(dec!(100.0), "amount").unwrap(), Won::from_i64(100));
        assert_eq!(Won::floor(dec!(123.999)), Won::from_i64(123));
        assert_eq!("1,000".parse::<Won>().unwrap(), Won::from_i64(1000));
        assert_eq!(Won::from_i64(-1234567).to_string(), "-1,234,567");
        assert_eq!(group_thousands(dec!(1234.56)), "1,234.56");
        assert_eq!(group_thousands(dec!(999)), "999");
        assert!(Won::from_i64(-1).is_negative());
        assert!(!Won::ZERO.is_negative());
    }

    #[test]
    fn price_must_be_positive_and_whole() {
        assert_eq!("55,900".parse::<Price>().unwrap().get(), dec!(55900));
        // A market price off the stock tick (an ETF's 20,210) is still a price; the tick is an
        // order rule checked with the instrument.
        assert_eq!("20210".parse::<Price>().unwrap().get(), dec!(20210));
        let e = rules::check_tick(
            crate::domain::InstrumentKind::Common,
            "55950".parse().unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.field, "price");
        assert!(e.rule.contains("100-won tick"), "{e}");
        assert!(e.rule.contains("55,900 or 56,000"), "{e}");
        assert!("0".parse::<Price>().is_err());
        assert!("-100".parse::<Price>().is_err());
        assert!("1000.5".parse::<Price>().is_err());
        assert!("1e5".parse::<Price>().is_err());
        assert!("abc".parse::<Price>().is_err());
        assert!("".parse::<Price>().is_err());
        assert!("100000000000".parse::<Price>().is_err());
        assert_eq!("1".parse::<Price>().unwrap().get(), dec!(1));
    }

    #[test]
    fn numbers_take_plain_digits_or_commas_grouping_threes() {
        for (text, value) in [
            ("1500", dec!(1500)),
            ("1,500", dec!(1500)),
            ("12,345,678", dec!(12345678)),
            ("999", dec!(999)),
            (" 1,234.5 ", dec!(1234.5)),
            ("-1,500", dec!(-1500)),
            ("0.015", dec!(0.015)),
        ] {
            assert_eq!(parse_decimal(text, "cash").unwrap(), value, "{text}");
        }
        for text in [
            "1,5",
            "10,00",
            "1,0000",
            ",100",
            "100,",
            "1,,000",
            "1234,567",
            "1,500.0,0",
            "-,100",
            "0,015",
            "1_000",
            "1 000",
        ] {
            let e = parse_decimal(text, "cash").unwrap_err();
            assert_eq!(e.field, "cash", "{text}");
            assert!(e.rule.contains("not a number"), "{text}: {e}");
        }
        assert_eq!(
            parse_decimal("10,00", "price").unwrap_err().to_string(),
            "price: \"10,00\" is not a number: commas must separate groups of three digits, as in 12,345,678"
        );
        assert_eq!("12,345".parse::<Quantity>().unwrap().get(), 12_345);
        assert_eq!(
            "1,000,000".parse::<Won>().unwrap(),
            Won::from_i64(1_000_000)
        );
        for text in ["1,5", "10,00", "1,0000", ",100", "100,"] {
            let e = text.parse::<Quantity>().unwrap_err();
            assert_eq!(e.field, "quantity", "{text}");
            assert!(e.rule.contains("groups of three digits"), "{text}: {e}");
            assert!(text.parse::<Price>().is_err(), "{text}");
            assert!(text.parse::<Won>().is_err(), "{text}");
        }
    }

    #[test]
    fn quantity_bounds() {
        assert_eq!("10".parse::<Quantity>().unwrap().get(), 10);
        assert_eq!("1,000".parse::<Quantity>().unwrap().get(), 1000);
        assert_eq!("10000000".parse::<Quantity>().unwrap().get(), Quantity::MAX);
        for bad in [
            "0",
            "-1",
            "1.5",
            "10000001",
            "99999999999999999999999",
            "-99999999999999999999",
            "ten",
            "",
            "1e3",
            "1_000",
        ] {
            let e = bad.parse::<Quantity>().unwrap_err();
            assert_eq!(e.field, "quantity", "{bad}: {e}");
        }
        assert!("1.5"
            .parse::<Quantity>()
            .unwrap_err()
            .rule
            .contains("whole number"));
        assert!("99999999999999999999999"
            .parse::<Quantity>()
            .unwrap_err()
            .rule
            .contains("out of range"));
    }

    #[test]
    fn enums_parse_case_insensitively_and_name_the_choices() {
        assert_eq!("BUY".parse::<Side>().unwrap(), Side::Buy);
        assert_eq!("sell".parse::<Side>().unwrap(), Side::Sell);
        assert_eq!("gtc".parse::<TimeInForce>().unwrap(), TimeInForce::Gtc);
        assert_eq!("IOC".parse::<TimeInForce>().unwrap().to_string(), "ioc");
        assert_eq!("limit".parse::<OrderKind>().unwrap(), OrderKind::Limit);
        assert_eq!(
            "expired".parse::<OrderStatus>().unwrap(),
            OrderStatus::Expired
        );
        let e = "hold".parse::<Side>().unwrap_err();
        assert_eq!(e.to_string(), "side: \"hold\" must be one of: buy, sell");
        assert_eq!("kosdaq".parse::<Market>().unwrap(), Market::Kosdaq);
        assert_eq!(Market::Kospi.to_string(), "KOSPI");
        assert!("NASDAQ".parse::<Market>().is_err());
    }

    #[test]
    fn email_name_password() {
        assert!(Email::parse("a@b.kr").is_ok());
        for bad in [
            "", "ab.kr", "a@b", "a@@b.kr", "a b@c.kr", "@b.kr", "a@.kr", "a@b..kr", "a@b.kr.",
        ] {
            assert_eq!(Email::parse(bad).unwrap_err().field, "email", "{bad}");
        }
        assert!(DisplayName::parse("김민준").is_ok());
        // A Hangul filler or a Latin letter with an accent is a letter, not a format character.
        assert!(DisplayName::parse("Zoë ㅤ").is_ok());
        assert!(Email::parse("zoë@example.com").is_ok());
    }

    #[test]
    fn invisible_format_characters_are_refused_by_name() {
        for c in [
            '\u{200B}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}',
            '\u{FEFF}', '\u{00AD}', '\u{2060}',
        ] {
            let rule = format!(
                "contains an invisible format character U+{:04X}",
                u32::from(c)
            );
            let e = DisplayName::parse(&format!("김{c}민준")).unwrap_err();
            assert_eq!((e.field, e.rule.as_str()), ("name", rule.as_str()));
            let e = Email::parse(&format!("kim{c}@example.com")).unwrap_err();
            assert_eq!((e.field, e.rule.as_str()), ("email", rule.as_str()));
        }
        assert_eq!(
            DisplayName::parse("\u{202E}nimda").unwrap_err().to_string(),
            "name: contains an invisible format character U+202E"
        );
        assert_eq!(
            Email::parse("\u{feff}kim@example.com")
                .unwrap_err()
                .to_string(),
            "email: contains an invisible format character U+FEFF"
        );
        assert!(DisplayName::parse("  ").is_err());
        assert!(DisplayName::parse(&"x".repeat(51)).is_err());
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"x".repeat(1025)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-pass").unwrap()),
            "Password(***)"
        );
    }
}
