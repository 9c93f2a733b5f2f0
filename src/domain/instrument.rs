//! What kind of instrument a listed code is, and where a price came from. The rules that depend
//! on the kind (tick, band, tax) live in [`super::rules`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// The kind of a listed instrument, as the listing reports it (Naver `type` / `stockEndType`)
/// refined by the name rules KRX uses for preferred shares (`…우`, `…우B`) and SPACs (`…스팩`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstrumentKind {
    /// Common stock (보통주).
    Common,
    /// Preferred stock (우선주).
    Preferred,
    /// Special purpose acquisition company (스팩).
    Spac,
    /// Real estate investment trust (리츠).
    Reit,
    /// Listed fund other than an ETF (e.g. a ship or infrastructure fund).
    Fund,
    /// Exchange-traded fund.
    Etf,
    /// Exchange-traded note.
    Etn,
}

impl InstrumentKind {
    pub const ALL: [InstrumentKind; 7] = [
        InstrumentKind::Common,
        InstrumentKind::Preferred,
        InstrumentKind::Spac,
        InstrumentKind::Reit,
        InstrumentKind::Fund,
        InstrumentKind::Etf,
        InstrumentKind::Etn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InstrumentKind::Common => "common",
            InstrumentKind::Preferred => "preferred",
            InstrumentKind::Spac => "spac",
            InstrumentKind::Reit => "reit",
            InstrumentKind::Fund => "fund",
            InstrumentKind::Etf => "etf",
            InstrumentKind::Etn => "etn",
        }
    }

    /// ETFs and ETNs: their own tick table and no securities transaction tax on sells.
    pub fn is_exchange_traded_product(self) -> bool {
        matches!(self, InstrumentKind::Etf | InstrumentKind::Etn)
    }

    /// A share-type row (Naver `type` ST) refined by its name: `…우`, `…우B`, `…우C` (and
    /// `…1우`, `…2우B`) are preferred shares; a name containing `스팩` is a SPAC.
    pub fn of_share_name(name: &str) -> InstrumentKind {
        let name = name.trim();
        let stem = name
            .strip_suffix('B')
            .or_else(|| name.strip_suffix('C'))
            .unwrap_or(name);
        if name.contains("스팩") {
            InstrumentKind::Spac
        } else if stem.ends_with('우') {
            InstrumentKind::Preferred
        } else {
            InstrumentKind::Common
        }
    }
}

impl fmt::Display for InstrumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InstrumentKind {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let lower = s.trim().to_ascii_lowercase();
        InstrumentKind::ALL
            .into_iter()
            .find(|k| k.as_str() == lower)
            .ok_or_else(|| {
                Invalid::new(
                    "kind",
                    format!(
                        "{:?} must be one of: {}",
                        s.trim(),
                        InstrumentKind::ALL.map(InstrumentKind::as_str).join(", ")
                    ),
                )
            })
    }
}

/// Which KRX session a price was printed in. Since 2026-09-14 KRX runs an after-market
/// 16:00–20:00; the value of a trading day is its regular-session (15:30) close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TradingSession {
    Regular,
    After,
}

impl TradingSession {
    pub fn as_str(self) -> &'static str {
        match self {
            TradingSession::Regular => "regular",
            TradingSession::After => "after",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_names_tell_preferred_and_spac_apart() {
        for (name, kind) in [
            ("삼성전자", InstrumentKind::Common),
            ("삼성전자우", InstrumentKind::Preferred),
            ("현대차2우B", InstrumentKind::Preferred),
            ("LG화학우", InstrumentKind::Preferred),
            ("미래에셋비전스팩7호", InstrumentKind::Spac),
            ("우리금융지주", InstrumentKind::Common),
            ("KB", InstrumentKind::Common),
        ] {
            assert_eq!(InstrumentKind::of_share_name(name), kind, "{name}");
        }
    }

    #[test]
    fn kinds_round_trip_through_text() {
        for k in InstrumentKind::ALL {
            assert_eq!(k.as_str().parse::<InstrumentKind>().unwrap(), k);
        }
        assert_eq!(
            "ETF".parse::<InstrumentKind>().unwrap(),
            InstrumentKind::Etf
        );
        assert_eq!(
            "warrant".parse::<InstrumentKind>().unwrap_err().field,
            "kind"
        );
        assert!(InstrumentKind::Etn.is_exchange_traded_product());
        assert!(!InstrumentKind::Reit.is_exchange_traded_product());
    }
}
