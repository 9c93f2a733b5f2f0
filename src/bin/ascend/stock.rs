//! `ascend stock load|list`.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use crate::output::{money, opt_money, render, render_one, time, Tabular};
use crate::{io_err, Ctx};
use ascend::app::stocks::{self, StockCsvRow, StockQuote, StockView};
use ascend::domain::parse_decimal;
use ascend::{exit, Error};

#[derive(Debug, Subcommand)]
pub enum StockCommand {
    /// Load stocks and prices from a CSV file with columns code,name,market,price,prev_close
    /// (prices stamped with the current time). All rows or none are written.
    Load { file: PathBuf },
    /// List stored stocks.
    List,
}

#[derive(Serialize)]
struct Row(StockView);

impl Tabular for Row {
    fn headers() -> &'static [&'static str] {
        &[
            "code",
            "name",
            "market",
            "price",
            "prev close",
            "change",
            "rate %",
            "price at",
            "listed",
        ]
    }
    fn cells(&self, h: bool) -> Vec<String> {
        let s = &self.0;
        vec![
            s.code.clone(),
            s.name.clone(),
            s.market.clone(),
            opt_money(s.price, h),
            opt_money(s.prev_close, h),
            opt_money(s.change, h),
            s.change_rate.map(|r| r.to_string()).unwrap_or_default(),
            s.price_at.map(|t| time(t, h)).unwrap_or_default(),
            s.listed.to_string(),
        ]
    }
}

impl StockCommand {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        match self {
            StockCommand::Load { file } => {
                let mut rdr = csv::ReaderBuilder::new()
                    .trim(csv::Trim::All)
                    .from_path(&file)
                    .map_err(|e| {
                        Error::rejected(format!("file: cannot read {}: {e}", file.display()))
                    })?;
                let mut quotes = Vec::new();
                for (i, rec) in rdr.deserialize::<StockCsvRow>().enumerate() {
                    let row = i + 2;
                    let r = rec.map_err(|e| {
                        Error::rejected(format!("{}: row {row}: {e}", file.display()))
                    })?;
                    let q = StockQuote::parse(
                        &r.code,
                        &r.name,
                        &r.market,
                        parse_decimal(&r.price, "price")?,
                        parse_decimal(&r.prev_close, "prev_close")?,
                    )
                    .map_err(|e| Error::rejected(format!("{}: row {row}: {e}", file.display())))?;
                    quotes.push(q);
                }
                let app = ctx.app().await?;
                let s = stocks::upsert(&app, &quotes, app.clock.now()).await?;
                render_one(out, ctx.format, &s, |h| {
                    vec![
                        ("rows", money(s.rows.into(), h)),
                        ("new", s.new.to_string()),
                        ("changed", s.changed.to_string()),
                    ]
                })
                .map_err(io_err)?;
                Ok(exit::OK)
            }
            StockCommand::List => {
                let app = ctx.app().await?;
                let rows: Vec<Row> = stocks::list(&app).await?.into_iter().map(Row).collect();
                render(out, ctx.format, &rows).map_err(io_err)?;
                Ok(exit::OK)
            }
        }
    }
}
