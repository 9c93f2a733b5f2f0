//! Deployment settings: the rules an operator sets for everyone (commission, how old a price
//! may be, whose clock counts) and the tuning of the batch jobs (worker counts, rows per
//! transaction). They are stored in the database with their history and read at the start of
//! every command; traders cannot change them per command. A tuning setting never stored keeps
//! a default the program derives from the machine it runs on (see `crate::app::Tuning`).

use std::fmt;

use rust_decimal::Decimal;

use super::order::FillModel;
use super::rules::Rulebook;
use super::Invalid;

/// Where a command's time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockMode {
    /// The database server's clock; `--now` is refused.
    #[default]
    Real,
    /// The database server's clock unless an operator gives `--now` (tests, the quickstart,
    /// backtests, seeding).
    Simulated,
}

impl ClockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockMode::Real => "real",
            ClockMode::Simulated => "simulated",
        }
    }
}

/// A setting's name: the only names the settings table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingName {
    /// Commission in percent of each fill, both sides (0 to 1).
    CommissionPct,
    /// A stored price older than this many minutes may not be traded on (1 to 1440).
    MaxPriceAgeMin,
    /// `real` (the database server's clock) or `simulated` (operators may give --now).
    Clock,
    /// Transactions `settle` runs side by side (1 to 64; unset: the machine's cores + 1).
    SettleWorkers,
    /// Users per transaction of `user register --file` (1 to 100,000; unset: 500).
    UserImportBatch,
    /// Orders per transaction of `place-order --file` (1 to 100,000; unset: 2,000).
    OrderImportBatch,
    /// Orders per transaction of `settle` (1 to 100,000; unset: 2,000).
    SettleBatch,
    /// How much of a crossed order `settle` fills: `full`, or `volume:RATE` (at most RATE of
    /// the volume traded since the stock was last settled).
    FillModel,
}

impl SettingName {
    pub const ALL: [SettingName; 8] = [
        SettingName::CommissionPct,
        SettingName::MaxPriceAgeMin,
        SettingName::Clock,
        SettingName::SettleWorkers,
        SettingName::UserImportBatch,
        SettingName::OrderImportBatch,
        SettingName::SettleBatch,
        SettingName::FillModel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SettingName::CommissionPct => "commission_pct",
            SettingName::MaxPriceAgeMin => "max_price_age_min",
            SettingName::Clock => "clock",
            SettingName::SettleWorkers => "settle_workers",
            SettingName::UserImportBatch => "user_import_batch",
            SettingName::OrderImportBatch => "order_import_batch",
            SettingName::SettleBatch => "settle_batch",
            SettingName::FillModel => "fill_model",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }

    /// Checks a value for this setting and returns it as it is stored.
    pub fn parse(self, value: &str) -> Result<String, Invalid> {
        let v = value.trim();
        match self {
            SettingName::CommissionPct => {
                let pct = super::parse_decimal(v, "commission_pct")?;
                Rulebook::commission_from_percent(pct).map_err(|e| Invalid {
                    field: "commission_pct",
                    rule: e.rule,
                })?;
                Ok(pct.normalize().to_string())
            }
            SettingName::MaxPriceAgeMin => match v.parse::<u32>() {
                Ok(m) if (1..=1440).contains(&m) => Ok(m.to_string()),
                _ => Err(Invalid::new(
                    "max_price_age_min",
                    format!("{v:?} must be a whole number of minutes from 1 to 1440"),
                )),
            },
            SettingName::Clock => match v {
                "real" => Ok("real".into()),
                "simulated" => Ok("simulated".into()),
                _ => Err(Invalid::new(
                    "clock",
                    format!("{v:?} must be real or simulated"),
                )),
            },
            SettingName::SettleWorkers => whole_number(self, v, 64, "workers"),
            SettingName::UserImportBatch => whole_number(self, v, 100_000, "users"),
            SettingName::OrderImportBatch => whole_number(self, v, 100_000, "orders"),
            SettingName::SettleBatch => whole_number(self, v, 100_000, "orders"),
            SettingName::FillModel => Ok(FillModel::parse(v)?.to_string()),
        }
    }
}

/// A whole number from 1 to `max`, read by the rule of every number a person types (`1,000`
/// or `1000`) and stored without separators.
fn whole_number(name: SettingName, v: &str, max: u32, unit: &str) -> Result<String, Invalid> {
    let bad = || {
        Invalid::new(
            name.as_str(),
            format!(
                "{v:?} must be a whole number of {unit} from 1 to {}",
                super::group_thousands(max.into())
            ),
        )
    };
    let n = super::parse_decimal(v, name.as_str()).map_err(|_| bad())?;
    if !n.fract().is_zero() || n < Decimal::ONE || n > Decimal::from(max) {
        return Err(bad());
    }
    Ok(n.normalize().to_string())
}

impl fmt::Display for SettingName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The settings in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settings {
    pub rules: Rulebook,
    pub clock: ClockMode,
    pub tuning: StoredTuning,
}

/// The tuning settings as stored: `None` where an operator never set one, and the program
/// derives a default from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoredTuning {
    pub settle_workers: Option<usize>,
    pub user_import_batch: Option<usize>,
    pub order_import_batch: Option<usize>,
    pub settle_batch: Option<usize>,
}

impl Settings {
    /// Builds the settings from stored `(name, value)` pairs, latest last; a missing name keeps
    /// its default. A stored value that fails its rule (written by hand around the program) is
    /// an error, never silently replaced.
    pub fn from_stored<'a>(
        rows: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Invalid> {
        let mut s = Settings::default();
        for (name, value) in rows {
            let Some(n) = SettingName::from_name(name) else {
                return Err(Invalid::new(
                    "settings",
                    format!("the stored setting {name:?} is not one this program knows"),
                ));
            };
            let v = n.parse(value)?;
            match n {
                SettingName::CommissionPct => {
                    let pct: Decimal = v.parse().expect("checked");
                    s.rules.commission_rate =
                        Rulebook::commission_from_percent(pct).expect("checked");
                }
                SettingName::MaxPriceAgeMin => {
                    let m: i64 = v.parse().expect("checked");
                    s.rules.max_price_age = chrono::Duration::minutes(m);
                }
                SettingName::Clock => {
                    s.clock = if v == "real" {
                        ClockMode::Real
                    } else {
                        ClockMode::Simulated
                    };
                }
                SettingName::SettleWorkers => {
                    s.tuning.settle_workers = Some(v.parse().expect("checked"));
                }
                SettingName::UserImportBatch => {
                    s.tuning.user_import_batch = Some(v.parse().expect("checked"));
                }
                SettingName::OrderImportBatch => {
                    s.tuning.order_import_batch = Some(v.parse().expect("checked"));
                }
                SettingName::SettleBatch => {
                    s.tuning.settle_batch = Some(v.parse().expect("checked"));
                }
                SettingName::FillModel => {
                    s.rules.fill_model = FillModel::parse(&v).expect("checked");
                }
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn values_are_checked_per_setting() {
        assert_eq!(SettingName::CommissionPct.parse("0.0150").unwrap(), "0.015");
        assert_eq!(SettingName::CommissionPct.parse("0").unwrap(), "0");
        let e = SettingName::CommissionPct.parse("2").unwrap_err();
        assert_eq!(
            e.to_string(),
            "commission_pct: 2% must be between 0 and 1 percent"
        );
        assert!(SettingName::CommissionPct.parse("x").is_err());
        assert_eq!(SettingName::MaxPriceAgeMin.parse("30").unwrap(), "30");
        for bad in ["0", "1441", "-1", "1.5"] {
            assert_eq!(
                SettingName::MaxPriceAgeMin.parse(bad).unwrap_err().field,
                "max_price_age_min"
            );
        }
        assert_eq!(SettingName::Clock.parse("simulated").unwrap(), "simulated");
        assert_eq!(
            SettingName::Clock.parse("fake").unwrap_err().to_string(),
            "clock: \"fake\" must be real or simulated"
        );
    }

    #[test]
    fn the_latest_stored_value_wins_and_unknown_names_are_errors() {
        let s = Settings::from_stored([
            ("commission_pct", "0.015"),
            ("clock", "real"),
            ("commission_pct", "0.1"),
            ("max_price_age_min", "5"),
            ("clock", "simulated"),
        ])
        .unwrap();
        assert_eq!(s.rules.commission_rate, dec!(0.001));
        assert_eq!(s.rules.max_price_age, chrono::Duration::minutes(5));
        assert_eq!(s.clock, ClockMode::Simulated);
        assert_eq!(Settings::from_stored([]).unwrap(), Settings::default());
        assert!(Settings::from_stored([("fee", "1")]).is_err());
        assert!(Settings::from_stored([("clock", "later")]).is_err());
    }

    #[test]
    fn tuning_settings_are_whole_numbers_in_range_and_unset_by_default() {
        assert_eq!(SettingName::SettleWorkers.parse(" 4 ").unwrap(), "4");
        assert_eq!(
            SettingName::OrderImportBatch.parse("5,000").unwrap(),
            "5000"
        );
        assert_eq!(
            SettingName::SettleWorkers
                .parse("0")
                .unwrap_err()
                .to_string(),
            "settle_workers: \"0\" must be a whole number of workers from 1 to 64"
        );
        for bad in ["65", "-1", "1.5", "x", "5,00", ""] {
            assert!(SettingName::SettleWorkers.parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            SettingName::UserImportBatch
                .parse("100001")
                .unwrap_err()
                .field,
            "user_import_batch"
        );
        let s =
            Settings::from_stored([("settle_workers", "8"), ("user_import_batch", "250")]).unwrap();
        assert_eq!(
            s.tuning,
            StoredTuning {
                settle_workers: Some(8),
                user_import_batch: Some(250),
                order_import_batch: None,
                settle_batch: None,
            }
        );
        assert_eq!(Settings::default().tuning, StoredTuning::default());
        assert_eq!(SettingName::SettleBatch.parse("2,000").unwrap(), "2000");
        assert!(SettingName::SettleBatch.parse("0").is_err());
    }

    #[test]
    fn the_fill_model_is_full_or_a_share_of_the_volume() {
        assert_eq!(SettingName::FillModel.parse(" full ").unwrap(), "full");
        assert_eq!(
            SettingName::FillModel.parse("volume:0.10").unwrap(),
            "volume:0.1"
        );
        for bad in [
            "volume:0",
            "volume:1.5",
            "volume:",
            "volume:x",
            "partial",
            "",
        ] {
            let e = SettingName::FillModel.parse(bad).unwrap_err();
            assert_eq!(e.field, "fill_model", "{bad}");
        }
        let s = Settings::from_stored([("fill_model", "volume:0.25")]).unwrap();
        assert_eq!(s.rules.fill_model, FillModel::Volume(dec!(0.25)));
        assert_eq!(Settings::default().rules.fill_model, FillModel::Full);
    }
}
