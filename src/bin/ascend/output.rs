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
    /// Aligned table for people (the default on a terminal).
    #[default]
    Table,
    /// Tab-separated values with a header row (the default when not on a terminal): the CSV
    /// columns and values, split by tabs.
    Tsv,
    /// CSV with a header row: the JSON keys, plain values (no grouping, no units, an empty
    /// cell for no value).
    Csv,
    /// JSON (money as exact decimal strings): pretty on a terminal, one line otherwise.
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl Format {
    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Tsv => "tsv",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
        }
    }

    /// Without --format: a table on a terminal, TSV otherwise.
    pub fn auto() -> Format {
        if terminal().tty {
            Format::Table
        } else {
            Format::Tsv
        }
    }
}

/// What the output goes to, found once at start.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminal {
    /// Standard output is a terminal.
    pub tty: bool,
    /// Its width in columns: `COLUMNS` when set, else the terminal's; none when unknown or 0.
    pub width: Option<u16>,
}

static TERMINAL: std::sync::OnceLock<Terminal> = std::sync::OnceLock::new();

pub fn terminal() -> Terminal {
    *TERMINAL.get_or_init(|| {
        use std::io::IsTerminal;
        let tty = io::stdout().is_terminal();
        let width = match std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<u16>().ok())
        {
            Some(w) => Some(w),
            None if tty => Table::new().width(),
            None => None,
        };
        Terminal {
            tty,
            width: width.filter(|w| *w > 0),
        }
    })
}

/// A csv error as the I/O error it may be, so a closed pipe is recognised as one.
fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// A value as flat `(key, cell)` pairs: an object's fields in order, a nested object's as
/// `outer.inner`, an array as its JSON text; no value is an empty cell.
fn flatten(prefix: &str, v: &serde_json::Value, into: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, into);
            }
        }
        Value::Null => into.push((prefix.to_string(), String::new())),
        Value::String(s) => into.push((prefix.to_string(), s.clone())),
        Value::Bool(b) => into.push((prefix.to_string(), b.to_string())),
        Value::Number(n) => into.push((prefix.to_string(), n.to_string())),
        Value::Array(_) => into.push((prefix.to_string(), v.to_string())),
    }
}

/// Writes serializable rows as CSV (`,`) or TSV (`\t`): one column per field, headed by the
/// JSON keys, plain values. Nothing at all for no rows.
fn delimited<T: Serialize>(out: &mut dyn Write, delimiter: u8, rows: &[T]) -> io::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(out);
    for (i, r) in rows.iter().enumerate() {
        let value = serde_json::to_value(r).map_err(io::Error::other)?;
        let mut cells = Vec::new();
        flatten("", &value, &mut cells);
        if i == 0 {
            w.write_record(cells.iter().map(|c| c.0.as_str()))
                .map_err(csv_io)?;
        }
        w.write_record(cells.iter().map(|c| c.1.as_str()))
            .map_err(csv_io)?;
    }
    w.flush()
}

fn json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    if terminal().tty {
        serde_json::to_writer_pretty(&mut *out, value)?;
    } else {
        serde_json::to_writer(&mut *out, value)?;
    }
    writeln!(out)
}

/// A row type: a table row for people (its headers and cells), and for programs its serde
/// fields (JSON, CSV and TSV alike).
pub trait Tabular: Serialize {
    fn headers() -> &'static [&'static str];
    /// The cells; `human` asks for thousands separators and local times.
    fn cells(&self, human: bool) -> Vec<String>;
    /// Headers of columns a narrow terminal may leave out, most important first.
    fn optional() -> &'static [&'static str] {
        &[]
    }
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
        .set_header(headers.iter().map(Cell::new));
    match terminal().width {
        // Fit the width: only columns of words may wrap (see `fit`).
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(w);
        }
        // Unknown width: never squeeze.
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty()
        && s.trim_start_matches(['-', '+'])
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.' || c == '%')
}

/// A value that must never be split over lines: numbers, codes, times, single words.
fn unsplittable(s: &str) -> bool {
    !s.trim().contains(' ') || is_numeric(s) || s.len() <= 20 && !s.contains(", ")
}

/// Display width of a cell (Hangul takes two columns).
fn width(s: &str) -> usize {
    s.lines()
        .map(unicode_width::UnicodeWidthStr::width)
        .max()
        .unwrap_or(0)
}

/// Lays out a table for the terminal: a column whose every value is one unit (a number, a code,
/// a time) keeps its full width; columns of words may wrap. When even that does not fit, the
/// row type's optional columns are left out, last first.
fn fit<T: Tabular>(rows: &[T]) -> (Vec<usize>, Table) {
    let headers = T::headers();
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.cells(true)).collect();
    let n = headers.len();
    let fixed: Vec<bool> = (0..n)
        .map(|i| cells.iter().all(|r| unsplittable(&r[i])))
        .collect();
    let content: Vec<usize> = (0..n)
        .map(|i| {
            cells
                .iter()
                .map(|r| width(&r[i]))
                .chain([width(headers[i])])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut shown: Vec<usize> = (0..n).collect();
    if let Some(w) = terminal().width {
        // Borders and padding: 3 per column and 1.
        let need = |shown: &[usize]| -> usize {
            1 + shown
                .iter()
                .map(|&i| {
                    3 + if fixed[i] {
                        content[i]
                    } else {
                        content[i].min(12)
                    }
                })
                .sum::<usize>()
        };
        for drop in T::optional().iter().rev() {
            if need(&shown) <= w as usize {
                break;
            }
            if let Some(i) = headers.iter().position(|h| h == drop) {
                shown.retain(|&j| j != i);
            }
        }
    }
    let mut t = table(&shown.iter().map(|&i| headers[i]).collect::<Vec<_>>());
    for row in &cells {
        t.add_row(shown.iter().map(|&i| {
            let c = &row[i];
            let align = if is_numeric(c) {
                CellAlignment::Right
            } else {
                CellAlignment::Left
            };
            Cell::new(c).set_alignment(align)
        }));
    }
    if terminal().width.is_some() {
        for (k, &i) in shown.iter().enumerate() {
            if fixed[i] {
                if let Some(col) = t.column_mut(k) {
                    // The width includes the cell's padding, one column each side.
                    col.set_constraint(comfy_table::ColumnConstraint::Absolute(
                        comfy_table::Width::Fixed(content[i] as u16 + 2),
                    ));
                }
            }
        }
    }
    (shown, t)
}

pub fn render<T: Tabular>(out: &mut dyn Write, format: Format, rows: &[T]) -> io::Result<()> {
    match format {
        Format::Json => json(out, rows),
        Format::Ndjson => {
            for r in rows {
                serde_json::to_writer(&mut *out, r)?;
                writeln!(out)?;
            }
            Ok(())
        }
        Format::Csv => delimited(out, b',', rows),
        Format::Tsv => delimited(out, b'\t', rows),
        Format::Table => {
            let (_, t) = fit(rows);
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
        Format::Json => json(out, value),
        Format::Ndjson => {
            serde_json::to_writer(&mut *out, value)?;
            writeln!(out)
        }
        Format::Csv => delimited(out, b',', std::slice::from_ref(value)),
        Format::Tsv => delimited(out, b'\t', std::slice::from_ref(value)),
        Format::Table => {
            let mut t = table(&["field", "value"]);
            for (k, v) in fields(true) {
                t.add_row([Cell::new(k), Cell::new(v)]);
            }
            writeln!(out, "{t}")
        }
    }
}
