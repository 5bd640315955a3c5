//! A streaming CSV record reader (RFC 4180): comma-separated fields, fields
//! in double quotes may hold commas, line breaks and `""` for a quote; lines
//! end in LF or CRLF; a UTF-8 byte-order mark before the first line is
//! skipped; empty lines are skipped. It holds one record at a time, so a file
//! of any length is read in bounded memory.

use std::io::BufRead;

/// The longest record read (a quoted field left open would otherwise read
/// the rest of the file into memory).
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// One record: its fields and the line it starts on (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub fields: Vec<String>,
}

/// A record that could not be read: the line it starts on and why. Reading
/// goes on at the line after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub line: u64,
    pub reason: String,
}

/// One line of text, or why it is not text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: u64,
    pub text: Result<String, String>,
}

/// Reads records from `input`, line by line.
pub struct Reader<R> {
    input: R,
    /// The number of the last line read.
    line: u64,
    buf: Vec<u8>,
    /// Bytes consumed so far (for a progress display).
    pub bytes: u64,
}

impl<R: BufRead> Reader<R> {
    pub fn new(input: R) -> Self {
        Reader { input, line: 0, buf: Vec::new(), bytes: 0 }
    }

    /// The next record, None at the end; an I/O error ends the reading.
    pub fn next_record(&mut self) -> std::io::Result<Option<Result<Record, Unreadable>>> {
        loop {
            if !self.read_line()? {
                return Ok(None);
            }
            if trim_eol(&self.buf).is_empty() {
                continue;
            }
            return self.record().map(Some);
        }
    }

    /// The next non-empty line as text, without its line break (for JSON
    /// Lines); None at the end.
    pub fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            if !self.read_line()? {
                return Ok(None);
            }
            let text = trim_eol(&self.buf);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = if self.buf.len() > MAX_RECORD_BYTES {
                Err(format!("a line longer than {} KiB", MAX_RECORD_BYTES / 1024))
            } else {
                String::from_utf8(text.to_vec()).map_err(|_| "not UTF-8 text".to_string())
            };
            return Ok(Some(Line { number: self.line, text }));
        }
    }

    /// Reads one physical line into `buf` (replacing it); false at the end.
    fn read_line(&mut self) -> std::io::Result<bool> {
        self.buf.clear();
        let read = self.append_line()?;
        if self.line == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
            self.buf.drain(..3);
        }
        Ok(read)
    }

    fn append_line(&mut self) -> std::io::Result<bool> {
        let limit = (MAX_RECORD_BYTES + 1 - self.buf.len().min(MAX_RECORD_BYTES)) as u64;
        let n = std::io::Read::take(&mut self.input, limit).read_until(b'\n', &mut self.buf)?;
        self.bytes += n as u64;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buf.len() > MAX_RECORD_BYTES && !self.buf.ends_with(b"\n") {
            // Skip the rest of this overlong line.
            let mut rest = Vec::new();
            self.bytes += self.input.read_until(b'\n', &mut rest)? as u64;
        }
        Ok(true)
    }

    /// Parses the record that starts with the line in `buf`, reading more
    /// lines while a quoted field is open.
    fn record(&mut self) -> std::io::Result<Result<Record, Unreadable>> {
        let first = self.line;
        let unreadable = |reason: &str| Ok(Err(Unreadable { line: first, reason: reason.to_string() }));
        loop {
            if self.buf.len() > MAX_RECORD_BYTES {
                return unreadable(&format!("a record longer than {} KiB", MAX_RECORD_BYTES / 1024));
            }
            match split(trim_eol(&self.buf)) {
                Split::Fields(fields) => {
                    return match fields.into_iter().map(String::from_utf8).collect::<Result<Vec<_>, _>>() {
                        Ok(fields) => Ok(Ok(Record { line: first, fields })),
                        Err(_) => unreadable("not UTF-8 text"),
                    };
                }
                Split::Bad(reason) => return unreadable(reason),
                Split::OpenQuote => {
                    if !self.append_line()? {
                        return unreadable("a quoted field is not closed before the end of the file");
                    }
                }
            }
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

enum Split {
    Fields(Vec<Vec<u8>>),
    /// A quoted field goes on past the end of the text: read another line.
    OpenQuote,
    Bad(&'static str),
}

/// Splits one record's text (line breaks inside quotes included) into fields.
fn split(text: &[u8]) -> Split {
    let mut fields = Vec::new();
    let mut field = Vec::new();
    let mut i = 0;
    loop {
        if text.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match text.get(i) {
                    None => return Split::OpenQuote,
                    Some(b'"') if text.get(i + 1) == Some(&b'"') => {
                        field.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&b) => {
                        field.push(b);
                        i += 1;
                    }
                }
            }
            if !matches!(text.get(i), None | Some(b',')) {
                return Split::Bad("text after a closing quote (a quote inside a quoted field is written \"\")");
            }
        } else {
            while let Some(&b) = text.get(i).filter(|b| **b != b',') {
                if b == b'"' {
                    return Split::Bad("a quote inside an unquoted field (quote the whole field, and write \"\")");
                }
                field.push(b);
                i += 1;
            }
        }
        // Quoted fields keep their line breaks as written (CRLF too).
        fields.push(std::mem::take(&mut field));
        if text.get(i).is_none() {
            return Split::Fields(fields);
        }
        i += 1; // the comma
    }
}

#[cfg(test)]
#[path = "csv_tests.rs"]
mod tests;
