//! `textgate rnd-load`: Reassigned Numbers Database answers from a CSV file
//! into a running server, through RecordReassignedCheck in batches.
//!
//! The file has a header line naming its columns, in any order:
//! `event_id,phone,queried_at,answer` and optionally `disconnected_at` and
//! `reference`. Times are RFC 3339 instants or `YYYY-MM-DD` dates (midnight
//! UTC); `answer` is `yes`, `no` or `no_data` (`no data` too). A row that
//! cannot be read, or that the server refuses, is reported by its line
//! number on stderr and the rest goes on; the exit status is then 1.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tonic::metadata::MetadataValue;
use tonic::{Code, Request};

use crate::api::pb::{self, policy_service_client::PolicyServiceClient};

/// Rows sent per call (well under the server's 500 and its 64 KiB request limit).
const BATCH: usize = 200;

/// What `rnd-load` was asked to do.
#[derive(clap::Args, Debug)]
pub struct RndLoad {
    /// The server's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// A file whose first line is the bearer token (none: no token is sent).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// The tenant (may be left out when the token is bound to one).
    #[arg(long, default_value = "")]
    pub tenant: String,
    /// The file's format (only csv).
    #[arg(long, value_parser = ["csv"], default_value = "csv")]
    pub format: String,
    /// The CSV file.
    pub file: PathBuf,
}

/// One row as sent, with its line number.
type Row = (usize, pb::ReassignedCheck);

/// Runs the load; prints a summary on stdout.
pub async fn run(args: RndLoad) -> ExitCode {
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rnd-load: cannot read {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let (rows, mut refused) = parse(&text, &args.file);
    let token = match args.token_file.as_deref().map(read_token).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rnd-load: {e}");
            return ExitCode::from(2);
        }
    };
    let mut client = match PolicyServiceClient::connect(args.server.clone()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rnd-load: cannot connect to {}: {e}", args.server);
            return ExitCode::from(1);
        }
    };
    let (mut recorded, mut duplicates) = (0usize, 0usize);
    for batch in rows.chunks(BATCH) {
        match send(&mut client, &args, token.as_deref(), batch.to_vec()).await {
            Ok((n, d, r)) => {
                recorded += n;
                duplicates += d;
                refused += r;
            }
            Err(e) => {
                eprintln!("rnd-load: {e}; {recorded} recorded before it (a rerun records the rest once)");
                return ExitCode::from(1);
            }
        }
    }
    println!("rnd-load: {recorded} answers recorded ({duplicates} already on record), {refused} rows refused");
    if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Sends one batch; a row the server refuses (INVALID_ARGUMENT naming
/// `results[i]`) is reported and left out, and the rest sent again. Returns
/// (recorded, of which duplicates, refused).
async fn send(
    client: &mut PolicyServiceClient<tonic::transport::Channel>,
    args: &RndLoad,
    token: Option<&str>,
    mut batch: Vec<Row>,
) -> Result<(usize, usize, usize), String> {
    let mut refused = 0;
    // Each round either succeeds or drops one row: bounded by the batch's size.
    while !batch.is_empty() {
        let body = pb::RecordReassignedCheckRequest {
            tenant_id: args.tenant.clone(),
            results: batch.iter().map(|(_, r)| r.clone()).collect(),
        };
        let mut req = Request::new(body);
        if let Some(t) = token {
            let value: MetadataValue<_> = format!("Bearer {t}").parse().map_err(|_| "the token is not ASCII")?;
            req.metadata_mut().insert("authorization", value);
        }
        match client.record_reassigned_check(req).await {
            Ok(resp) => {
                let results = resp.into_inner().results;
                let duplicates = results.iter().filter(|r| r.duplicate).count();
                return Ok((results.len(), duplicates, refused));
            }
            Err(s) if s.code() == Code::InvalidArgument => {
                let Some(i) = refused_index(s.message()).filter(|&i| i < batch.len()) else {
                    return Err(format!("the server refused a batch: {}", s.message()));
                };
                let (line, _) = batch.remove(i);
                eprintln!("{}:{line}: {}", args.file.display(), s.message());
                refused += 1;
            }
            Err(s) => return Err(format!("the server answered {:?}: {}", s.code(), s.message())),
        }
    }
    Ok((0, 0, refused))
}

/// The `i` of a refusal naming `results[i]...`.
fn refused_index(message: &str) -> Option<usize> {
    let rest = &message[message.find("results[")? + "results[".len()..];
    rest[..rest.find(']')?].parse().ok()
}

/// The rows of a CSV file, and how many lines were refused (each reported).
fn parse(text: &str, file: &Path) -> (Vec<Row>, usize) {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else { return (Vec::new(), 0) };
    let columns: HashMap<&str, usize> = header.split(',').map(str::trim).enumerate().map(|(i, c)| (c, i)).collect();
    let missing: Vec<_> =
        ["event_id", "phone", "queried_at", "answer"].into_iter().filter(|c| !columns.contains_key(c)).collect();
    if !missing.is_empty() {
        eprintln!("{}:1: the header lacks {}", file.display(), missing.join(", "));
        return (Vec::new(), 1);
    }
    let (mut rows, mut refused) = (Vec::new(), 0);
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let cell = |name: &str| columns.get(name).and_then(|&i| cells.get(i)).copied().unwrap_or("");
        match row(cell) {
            Ok(r) => rows.push((i + 1, r)),
            Err(e) => {
                eprintln!("{}:{}: {e}", file.display(), i + 1);
                refused += 1;
            }
        }
    }
    (rows, refused)
}

fn row<'a>(cell: impl Fn(&str) -> &'a str) -> Result<pb::ReassignedCheck, String> {
    let answer = match cell("answer").to_ascii_lowercase().replace(' ', "_").as_str() {
        "yes" => pb::RndAnswer::Yes,
        "no" => pb::RndAnswer::No,
        "no_data" => pb::RndAnswer::NoData,
        other => return Err(format!("answer: {other:?} is not yes, no or no_data")),
    };
    Ok(pb::ReassignedCheck {
        event_id: cell("event_id").to_string(),
        phone: cell("phone").to_string(),
        queried_at: instant("queried_at", cell("queried_at"))?,
        answer: answer as i32,
        disconnected_at: instant("disconnected_at", cell("disconnected_at"))?,
        reference: cell("reference").to_string(),
    })
}

/// An RFC 3339 instant or a date (midnight UTC); empty is none.
fn instant(field: &str, text: &str) -> Result<Option<prost_types::Timestamp>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let t = match text.parse::<jiff::Timestamp>() {
        Ok(t) => t,
        Err(_) => text
            .parse::<jiff::civil::Date>()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC))
            .map(|z| z.timestamp())
            .map_err(|_| format!("{field}: {text:?} is not an RFC 3339 time or a YYYY-MM-DD date"))?,
    };
    Ok(Some(prost_types::Timestamp { seconds: t.as_second(), nanos: t.subsec_nanosecond() }))
}

fn read_token(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(format!("{} holds no token on its first line", file.display()));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_by_header_name_and_bad_ones_counted() {
        let csv = "phone,event_id,answer,queried_at,disconnected_at\n\
                   +13125550199,r1,YES,2026-11-20,2026-06-01\n\
                   +13125550198,r2,no data,2026-11-20T10:00:00Z,\n\
                   +13125550197,r3,maybe,2026-11-20,\n\
                   +13125550196,r4,no,yesterday,\n";
        let (rows, refused) = parse(csv, Path::new("f.csv"));
        assert_eq!(refused, 2);
        assert_eq!(rows.iter().map(|(l, r)| (*l, r.event_id.as_str())).collect::<Vec<_>>(), [(2, "r1"), (3, "r2")]);
        assert_eq!(rows[0].1.answer, pb::RndAnswer::Yes as i32);
        assert_eq!(rows[0].1.disconnected_at.map(|t| t.seconds), Some(1_780_272_000));
        assert_eq!(rows[1].1.answer, pb::RndAnswer::NoData as i32);
        assert_eq!(refused_index("results[17].phone: not a number"), Some(17));
        assert_eq!(refused_index("results: 1 to 500"), None);
    }
}
