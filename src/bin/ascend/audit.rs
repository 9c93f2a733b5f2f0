//! `ascend audit`.

use std::io::Write;

use serde::Serialize;

use crate::output::{render, render_one, Format, Tabular};
use crate::{io_err, Ctx};
use ascend::app::audit::{audit, Violation};
use ascend::{exit, Error};

#[derive(Serialize)]
struct V<'a>(&'a Violation);

impl Tabular for V<'_> {
    fn headers() -> &'static [&'static str] {
        &["invariant", "violation"]
    }
    fn cells(&self, _h: bool) -> Vec<String> {
        vec![self.0.invariant.to_string(), self.0.detail.clone()]
    }
}

pub async fn run(ctx: &Ctx, out: &mut dyn Write) -> Result<u8, Error> {
    let app = ctx.app().await?;
    let r = audit(&app).await?;
    if ctx.format == Format::Json {
        render_one(out, ctx.format, &r, |_| Vec::new()).map_err(io_err)?;
    } else if r.violations.is_empty() {
        render_one(out, ctx.format, &r, |_| {
            vec![
                ("result", "ok: all five ledger invariants hold".into()),
                ("journal entries", r.entries.to_string()),
                ("legs", r.legs.to_string()),
                ("accounts", r.accounts.to_string()),
                ("holdings", r.holdings.to_string()),
                ("orders", r.orders.to_string()),
                ("fills", r.fills.to_string()),
            ]
        })
        .map_err(io_err)?;
    } else {
        let rows: Vec<V> = r.violations.iter().map(V).collect();
        render(out, ctx.format, &rows).map_err(io_err)?;
    }
    for v in &r.violations {
        eprintln!("audit: invariant {} violated: {}", v.invariant, v.detail);
    }
    Ok(if r.violations.is_empty() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}
