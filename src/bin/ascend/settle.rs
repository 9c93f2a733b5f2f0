//! `ascend settle [--close]`.

use std::io::Write;

use clap::Args;

use crate::output::render_one;
use crate::{io_err, Ctx};
use ascend::app::settle;
use ascend::{exit, Error};

/// Fill every resting limit order crossed by the latest fresh price (buys at min(limit, price),
/// sells at max(limit, price)), during the regular session only. With --close, after 15:30 KST,
/// also expire DAY orders and release their reservations. After a session's close, its
/// conditional-limit orders still open fill first at its closing price (the regular close
/// crawl-stocks stores after 15:30). Under the fill_model setting volume:RATE an order fills
/// at most RATE of the shares its stock traded since the previous settle, in price and time
/// order across all users, and the rest stays open. Safe to run twice and concurrently.
#[derive(Debug, Args)]
pub struct Settle {
    /// Also expire DAY orders (after the close only).
    #[arg(long)]
    close: bool,
    /// Users per transaction.
    #[arg(long, default_value_t = settle::DEFAULT_CHUNK)]
    chunk: usize,
}

impl Settle {
    pub async fn run(self, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
        let app = ctx.app().await?;
        let s = settle::settle(&app, self.close, self.chunk).await?;
        if let Some(note) = &s.note {
            eprintln!("settle --close: {note}");
        }
        tracing::info!(
            filled = s.filled,
            expired = s.expired,
            stale = s.skipped_stale,
            "settle done"
        );
        render_one(out, ctx.format, &s, |_| {
            vec![
                ("session", s.session.clone()),
                ("fill model", s.fill_model.clone()),
                ("filled", s.filled.to_string()),
                ("left partially filled", s.partially_filled.to_string()),
                ("conditional filled at the close", s.converted.to_string()),
                (
                    "cancelled: fill above the reservation",
                    s.cancelled_unfunded.to_string(),
                ),
                ("expired", s.expired.to_string()),
                ("skipped as stale", s.skipped_stale.to_string()),
                ("busy users retried", s.retried_busy.to_string()),
                ("transactions", s.batches.to_string()),
                ("seconds", format!("{:.3}", s.seconds)),
            ]
        })
        .map_err(io_err)?;
        Ok(exit::OK)
    }
}
