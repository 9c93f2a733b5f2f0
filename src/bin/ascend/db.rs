//! `ascend db migrate|status`.

use std::io::Write;

use clap::Subcommand;
use serde::Serialize;

use crate::output::{render, Tabular};
use crate::{io_err, Ctx};
use ascend::app::db::{self, MigrationStatus};
use ascend::{exit, Error};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply every pending migration (safe to run again).
    Migrate,
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Serialize)]
struct Row(MigrationStatus);

impl Tabular for Row {
    fn headers() -> &'static [&'static str] {
        &["version", "description", "applied"]
    }
    fn cells(&self, _human: bool) -> Vec<String> {
        vec![
            self.0.version.to_string(),
            self.0.description.clone(),
            self.0.applied.to_string(),
        ]
    }
}

impl DbCommand {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        // Migrations come before settings exist, so this connects without reading them.
        let pool = ctx.pool().await?;
        let rows = match self {
            DbCommand::Migrate => {
                if let Some(me) = &ctx.unix_user {
                    return Err(ascend::app::trader_refused("db migrate", me));
                }
                db::migrate(&pool).await?
            }
            DbCommand::Status => db::status(&pool).await?,
        };
        let pending = rows.iter().any(|r| !r.applied);
        let rows: Vec<Row> = rows.into_iter().map(Row).collect();
        render(out, ctx.format, &rows).map_err(io_err)?;
        Ok(if pending {
            exit::CHECK_FAILED
        } else {
            exit::OK
        })
    }
}
