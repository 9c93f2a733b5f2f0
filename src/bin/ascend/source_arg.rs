//! `--source`: a market-data source named as `naver`, `sim[:SEED]` or `replay:DIR`. Checked by
//! clap like a closed set (a wrong one is a usage error), with the forms listed in help and
//! completions.

use std::ffi::OsStr;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;

#[derive(Debug, Clone, Copy)]
pub struct SourceArg;

impl TypedValueParser for SourceArg {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        let s = value
            .to_str()
            .ok_or_else(|| clap::Error::new(ErrorKind::InvalidUtf8).with_cmd(cmd))?;
        match s.parse::<ascend::app::market::SourceSpec>() {
            Ok(_) => Ok(s.trim().to_string()),
            Err(e) => {
                Err(clap::Error::raw(ErrorKind::InvalidValue, format!("{e}\n")).with_cmd(cmd))
            }
        }
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            [
                PossibleValue::new("naver").help("Naver Pay Securities"),
                PossibleValue::new("sim").help("the simulated market; sim:SEED picks its seed"),
                PossibleValue::new("replay:DIR").help("responses saved with --record DIR"),
            ]
            .into_iter(),
        ))
    }
}
