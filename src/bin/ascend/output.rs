//! Rendering for people (tables) and for programs (JSON, CSV). Renderers write to any
//! `io::Write` so output can be tested.

use std::io::{self, Write};

use clap::ValueEnum;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};
use rust_decimal::Decimal;
use serde::Serialize;

use ascend::domain::group_thousands;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Aligned table for people.
    #[default]
    Table,
    /// JSON for scripts (money as exact decimal strings).
    Json,
    /// CSV with a header row, plain numbers.
    Csv,
}

impl Format {
    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }
}

/// A row type that can be shown as a table or CSV row.
pub trait Tabular: Serialize {
    fn headers() -> &'static [&'static str];
    /// The cells; `human` asks for thousands separators and local times.
    fn cells(&self, human: bool) -> Vec<String>;
}

pub fn money(d: Decimal, human: bool) -> String {
    if human {
        group_thousands(d)
    } else {
        d.to_string()
    }
}

pub fn opt_money(d: Option<Decimal>, human: bool) -> String {
    d.map(|d| money(d, human))
        .unwrap_or_else(|| if human { "-".into() } else { String::new() })
}

pub fn time(t: chrono::DateTime<chrono::Utc>, human: bool) -> String {
    if human {
        t.with_timezone(&ascend::domain::rules::kst())
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    } else {
        t.to_rfc3339()
    }
}

fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.iter().map(Cell::new));
    t
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty()
        && s.trim_start_matches(['-', '+'])
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.' || c == '%')
}

pub fn render<T: Tabular>(out: &mut dyn Write, format: Format, rows: &[T]) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, rows)?;
            writeln!(out)
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(T::headers())?;
            for r in rows {
                w.write_record(r.cells(false))?;
            }
            w.flush()
        }
        Format::Table => {
            let mut t = table(T::headers());
            for r in rows {
                t.add_row(r.cells(true).into_iter().map(|c| {
                    let align = if is_numeric(&c) {
                        CellAlignment::Right
                    } else {
                        CellAlignment::Left
                    };
                    Cell::new(c).set_alignment(align)
                }));
            }
            writeln!(out, "{t}")
        }
    }
}

/// Renders one record: a two-column table for people, an object in JSON, one CSV row.
pub fn render_one<T: Serialize>(
    out: &mut dyn Write,
    format: Format,
    value: &T,
    fields: impl Fn(bool) -> Vec<(&'static str, String)>,
) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, value)?;
            writeln!(out)
        }
        Format::Csv => {
            let fields = fields(false);
            let mut w = csv::Writer::from_writer(out);
            w.write_record(fields.iter().map(|f| f.0))?;
            w.write_record(fields.iter().map(|f| f.1.as_str()))?;
            w.flush()
        }
        Format::Table => {
            let mut t = table(&["field", "value"]);
            for (k, v) in fields(true) {
                t.add_row([Cell::new(k), Cell::new(v)]);
            }
            writeln!(out, "{t}")
        }
    }
}
