//! An import file as a sequence of rows, each with the line it starts on:
//! a request, or why the row cannot be one.

use std::io::BufRead;

use super::csv::{self, Reader};
use super::rows::{Columns, RowError};
use super::{jsonl, Format};
use crate::api::pb;

/// One row of the file.
pub struct Row {
    pub line: u64,
    pub request: Result<pb::RecordConsentRequest, RowError>,
}

/// The rows of a file, read as they are asked for.
pub struct Rows<R> {
    format: Format,
    reader: Reader<R>,
    /// CSV: the columns the header named (read with the first row).
    columns: Option<Columns>,
}

impl<R: BufRead> Rows<R> {
    pub fn new(format: Format, input: R) -> Self {
        Rows { format, reader: Reader::new(input), columns: None }
    }

    /// Bytes of the file read so far.
    pub fn bytes(&self) -> u64 {
        self.reader.bytes
    }

    /// The next row; None at the end. A CSV header the rows cannot be read
    /// by is an error for the whole file (`Err` with its line and reason).
    pub fn next_row(&mut self) -> Result<Option<Row>, String> {
        match self.format {
            Format::Csv => self.next_csv(),
            Format::Jsonl => self.next_jsonl(),
        }
    }

    fn next_csv(&mut self) -> Result<Option<Row>, String> {
        loop {
            let Some(record) = self.reader.next_record().map_err(|e| format!("reading the file: {e}"))? else {
                return Ok(None);
            };
            let record = match record {
                Ok(r) => r,
                Err(csv::Unreadable { line, reason }) if self.columns.is_some() => {
                    return Ok(Some(Row { line, request: Err(RowError::new("row", reason)) }));
                }
                Err(csv::Unreadable { line, reason }) => return Err(format!("line {line}: header: {reason}")),
            };
            match &self.columns {
                Some(columns) => return Ok(Some(Row { line: record.line, request: columns.request(record.fields) })),
                None => {
                    let columns = Columns::from_header(&record.fields)
                        .map_err(|e| format!("line {}: {}: {}", record.line, e.field, e.reason))?;
                    self.columns = Some(columns);
                }
            }
        }
    }

    /// JSON Lines: a line is a row; the CSV reader's line handling (BOM,
    /// CRLF, empty lines, a bound on length) applies, its quoting does not.
    fn next_jsonl(&mut self) -> Result<Option<Row>, String> {
        let Some(line) = self.reader.next_line().map_err(|e| format!("reading the file: {e}"))? else {
            return Ok(None);
        };
        let request = match line.text {
            Ok(text) => jsonl::request(&text),
            Err(reason) => Err(RowError::new("row", reason)),
        };
        Ok(Some(Row { line: line.number, request }))
    }
}
