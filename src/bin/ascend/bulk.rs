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

/// A CSV file read a batch of rows at a time, so a file of any size is held a batch at a time.
pub struct Reader {
    path: std::path::PathBuf,
    headers: Vec<String>,
    records: csv::ByteRecordsIntoIter<std::fs::File>,
    row: usize,
}

impl Reader {
    /// Opens `path`, requiring every column in `required` (and no column that is neither
    /// required nor in `optional`).
    pub fn open(path: &Path, required: &[&str], optional: &[&str]) -> Result<Reader, Error> {
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
        Ok(Reader {
            path: path.to_path_buf(),
            headers,
            records: rdr.into_byte_records(),
            row: 1,
        })
    }

    /// The next `n` rows (fewer at the end of the file; none after it).
    pub fn batch(&mut self, n: usize) -> Result<CsvInput, Error> {
        let mut rows = Vec::new();
        let mut failed = Vec::new();
        while rows.len() + failed.len() < n.max(1) {
            let Some(rec) = self.records.next() else {
                break;
            };
            self.row += 1;
            let row = self.row;
            let rec = rec.map_err(|e| {
                Error::rejected(format!("file: {}: row {row}: {e}", self.path.display()))
            })?;
            let cells: Result<HashMap<String, String>, String> = self
                .headers
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
}

/// Reads all of `path` (files that must be taken whole: `stock load`, all rows or none).
pub fn read(path: &Path, required: &[&str], optional: &[&str]) -> Result<CsvInput, Error> {
    let mut reader = Reader::open(path, required, optional)?;
    let mut all = CsvInput {
        rows: Vec::new(),
        failed: Vec::new(),
    };
    loop {
        let b = reader.batch(10_000)?;
        if b.rows.is_empty() && b.failed.is_empty() {
            return Ok(all);
        }
        all.rows.extend(b.rows);
        all.failed.extend(b.failed);
    }
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

/// What a bulk import did: rows written, rows already there as given (a replayed idempotency
/// key, a user registered the same), rows that failed (each reported on stderr as it is found).
#[derive(Debug, Default, serde::Serialize)]
pub struct Tally {
    pub written: usize,
    pub unchanged: usize,
    pub failed: usize,
}

impl Tally {
    /// Reports failed rows on stderr, in row order, and counts them.
    pub fn fail(&mut self, mut failed: Vec<(usize, String)>) {
        failed.sort();
        for (row, why) in &failed {
            eprintln!("row {row}: {why}");
        }
        self.failed += failed.len();
    }
}

/// Prints the summary on stdout (a sentence in a table's place, an object in the data formats)
/// and picks the exit code.
pub fn finish(
    out: &mut dyn Write,
    format: crate::output::Format,
    what: &str,
    tally: &Tally,
) -> Result<u8, Error> {
    if format == crate::output::Format::Table {
        let replays = match (tally.unchanged, what) {
            (0, _) => String::new(),
            (n, "users") => format!(", {n} already registered as given (nothing written)"),
            (n, _) => format!(", {n} replayed by idempotency key (nothing written)"),
        };
        writeln!(
            out,
            "{} {what} written{replays}, {} rows failed",
            tally.written, tally.failed
        )
        .map_err(io_err)?;
    } else {
        crate::output::render_one(out, format, tally, |_| Vec::new()).map_err(io_err)?;
    }
    Ok(if tally.failed == 0 {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}
