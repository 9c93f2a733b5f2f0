//! CSV input for bulk commands: headers checked by name, a BOM and Windows line endings
//! accepted, rows numbered as a spreadsheet shows them (the header is row 1).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use ascend::{exit, Error};

use crate::io_err;

/// A CSV file read into rows of named fields.
pub struct CsvInput {
    pub rows: Vec<(usize, HashMap<String, String>)>,
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
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 2;
        let rec =
            rec.map_err(|e| Error::rejected(format!("file: {}: row {row}: {e}", path.display())))?;
        rows.push((
            row,
            headers
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect(),
        ));
    }
    Ok(CsvInput { rows })
}

/// Prints one line per failed row on stderr, a summary on stdout, and picks the exit code.
pub fn finish(
    out: &mut dyn Write,
    what: &str,
    ok: usize,
    replayed: usize,
    failed: &[(usize, String)],
) -> Result<u8, Error> {
    for (row, why) in failed {
        eprintln!("row {row}: {why}");
    }
    let replays = if replayed > 0 {
        format!(", {replayed} replayed by idempotency key (nothing written)")
    } else {
        String::new()
    };
    writeln!(
        out,
        "{ok} {what} written{replays}, {} rows failed",
        failed.len()
    )
    .map_err(io_err)?;
    Ok(if failed.is_empty() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}
