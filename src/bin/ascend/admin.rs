//! `ascend admin settings show|history|set`: the deployment's settings (operators).

use std::io::Write;

use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::output::{render, render_one, time, Tabular};
use crate::{io_err, Ctx};
use ascend::app::admin::{self, SettingRow};
use ascend::domain::settings::SettingName;
use ascend::{exit, Error};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Show, change or trace the settings every command runs with.
    #[command(subcommand)]
    Settings(SettingsCommand),
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// The settings in force, who set each and when.
    Show,
    /// Every value each setting has had, oldest first.
    History,
    /// Change a setting (recorded in its history and the audit log).
    ///
    /// commission_pct: commission in percent of each fill, both sides (0 to 1; default 0.015).
    /// max_price_age_min: a stored price older than this may not be traded on (1 to 1440
    /// minutes; default 15). clock: real (the database server's time) or simulated (operators
    /// may give --now; for tests, the quickstart and backtests). settle_workers: settle
    /// transactions side by side (1 to 64; unset: the cores + 1). user_import_batch,
    /// order_import_batch: rows per transaction of `user register --file` and `place-order
    /// --file` (1 to 100,000; unset: 500 and 2,000).
    Set(Set),
}

#[derive(Debug, Args)]
pub struct Set {
    /// The setting.
    #[arg(value_parser = PossibleValuesParser::new(SettingName::ALL.map(SettingName::as_str)))]
    name: String,
    /// Its new value.
    value: String,
}

#[derive(Serialize)]
struct Row(SettingRow);

impl Tabular for Row {
    fn headers() -> &'static [&'static str] {
        &["name", "value", "set at", "set by"]
    }
    fn cells(&self, human: bool) -> Vec<String> {
        vec![
            self.0.name.clone(),
            self.0.value.clone(),
            time(self.0.set_at, human),
            self.0.set_by.clone(),
        ]
    }
}

impl AdminCommand {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let AdminCommand::Settings(c) = self;
        let app = ctx.app().await?;
        app.caller.require_operator("admin")?;
        match c {
            SettingsCommand::Show | SettingsCommand::History => {
                let rows = if matches!(c, SettingsCommand::Show) {
                    admin::show(&app).await?
                } else {
                    admin::history(&app).await?
                };
                let rows: Vec<Row> = rows.into_iter().map(Row).collect();
                render(out, ctx.format, &rows).map_err(io_err)?;
            }
            SettingsCommand::Set(s) => {
                let name = SettingName::from_name(&s.name).expect("clap checked the name");
                let c = admin::set(&app, name, &s.value).await?;
                render_one(out, ctx.format, &c, |_| {
                    vec![
                        ("setting", c.name.clone()),
                        ("was", c.old.clone().unwrap_or_default()),
                        (
                            "now",
                            if c.changed {
                                c.new.clone()
                            } else {
                                format!("{} (unchanged)", c.new)
                            },
                        ),
                    ]
                })
                .map_err(io_err)?;
            }
        }
        Ok(exit::OK)
    }
}
