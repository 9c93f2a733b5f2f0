//! CSV input for bulk commands: headers checked by name, a BOM and Windows line endings
//! accepted, rows numbered as a spreadsheet shows them (the header is row 1).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use ascend::{exit, Error};

use crate::io_err;

/// A CSV file read into rows of named fields, and the rows that could not be read as text.
pub struct CsvInput {
    pub rows: Vec<(usize, HashMap<String, String>)>,
    /// Rows with a cell that is not UTF-8 or holds a NUL byte, as `(row, "column: rule")`:
    /// bad input, which must not reach the database as text.
    pub failed: Vec<(usize, String)>,
}

/// Reads `path`, requiring every column in `required` (others may be present).
pub fn read(path: &Path, required: &[&str], optional: &[&str]) -> Result<CsvInput, Error> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_path(path)
        .map_err(|e| Error::rejected(format!("file: cannot read {}: {e}", path.display())))?;
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| {
            Error::rejected(format!(
                "file: {}: the header row does not parse: {e}",
                path.display()
            ))
        })?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
        .collect();
    for col in required {
        if !headers.iter().any(|h| h == col) {
            return Err(Error::rejected(format!(
                "file: {}: the column {col:?} is missing (columns: {}; optional: {})",
                path.display(),
                required.join(","),
                optional.join(",")
            )));
        }
    }
    if let Some(extra) = headers
        .iter()
        .find(|h| !required.contains(&h.as_str()) && !optional.contains(&h.as_str()))
    {
        return Err(Error::rejected(format!(
            "file: {}: unknown column {extra:?}",
            path.display()
        )));
    }
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for (i, rec) in rdr.byte_records().enumerate() {
        let row = i + 2;
        let rec =
            rec.map_err(|e| Error::rejected(format!("file: {}: row {row}: {e}", path.display())))?;
        let cells: Result<HashMap<String, String>, String> = headers
            .iter()
            .zip(rec.iter())
            .map(|(h, cell)| match text(cell) {
                Ok(t) => Ok((h.clone(), t.trim().to_string())),
                Err(rule) => Err(format!("{h}: {rule}")),
            })
            .collect();
        match cells {
            Ok(cells) => rows.push((row, cells)),
            Err(why) => failed.push((row, why)),
        }
    }
    Ok(CsvInput { rows, failed })
}

/// A cell as text: UTF-8 without NUL bytes (PostgreSQL text holds neither).
fn text(cell: &[u8]) -> Result<&str, String> {
    let t = std::str::from_utf8(cell).map_err(|e| {
        format!(
            "byte 0x{:02X} at byte {} of the cell is not UTF-8 (save the file as UTF-8)",
            cell[e.valid_up_to()],
            e.valid_up_to() + 1
        )
    })?;
    if let Some(at) = t.find('\0') {
        return Err(format!("contains a NUL byte (at byte {})", at + 1));
    }
    Ok(t)
}

/// What a bulk import did, for programs.
#[derive(serde::Serialize)]
struct Summary<'a> {
    written: usize,
    /// Rows already there as given (a replayed idempotency key, a user registered the same).
    unchanged: usize,
    failed: usize,
    failures: Vec<Failure<'a>>,
}

#[derive(serde::Serialize)]
struct Failure<'a> {
    row: usize,
    reason: &'a str,
}

/// Prints one line per failed row on stderr and a summary on stdout (a sentence in a table's
/// place, an object in the data formats), and picks the exit code.
pub fn finish(
    out: &mut dyn Write,
    format: crate::output::Format,
    what: &str,
    ok: usize,
    replayed: usize,
    failed: &[(usize, String)],
) -> Result<u8, Error> {
    for (row, why) in failed {
        eprintln!("row {row}: {why}");
    }
    if format == crate::output::Format::Table {
        let replays = match (replayed, what) {
            (0, _) => String::new(),
            (n, "users") => format!(", {n} already registered as given (nothing written)"),
            (n, _) => format!(", {n} replayed by idempotency key (nothing written)"),
        };
        writeln!(
            out,
            "{ok} {what} written{replays}, {} rows failed",
            failed.len()
        )
        .map_err(io_err)?;
    } else {
        let summary = Summary {
            written: ok,
            unchanged: replayed,
            failed: failed.len(),
            failures: failed
                .iter()
                .map(|(row, reason)| Failure { row: *row, reason })
                .collect(),
        };
        crate::output::render_one(out, format, &summary, |_| Vec::new()).map_err(io_err)?;
    }
    Ok(if failed.is_empty() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}
