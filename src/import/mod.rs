//! `textgate import`: the client side of ImportConsent. Reads a CSV or JSON
//! Lines file of consent events (grants, revocations, a do-not-contact
//! list), streams them to a running server and prints its summary, with
//! every rejected row named by its line.
//!
//! The file is read as it is sent, in a thread of its own, through a bounded
//! channel: memory does not grow with the file. Rows this side cannot turn
//! into a request (a bad enum name, a timestamp, a CSV quoting fault) are
//! reported here and never sent; the server validates the rest.

mod csv;
mod file;
mod jsonl;
mod lines;
mod progress;
mod rows;
mod send;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status when the import completed but some rows were rejected.
pub const EXIT_REJECTED: u8 = 4;

/// The formats `--format` takes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated, with a header line naming the columns.
    Csv,
    /// One JSON object per line, with RecordConsent's field names.
    Jsonl,
}

/// `textgate import` (see `textgate import --help`).
#[derive(clap::Args, Debug)]
#[command(after_help = "CSV: a header line names the columns, in any order: event_id, phone, action \
(required; action is grant or revoke), level (implied, express, express_written), source (empty: import), \
occurred_at (RFC 3339), campaign_id, sender, categories (informational;promotional), possible_reassignment, \
collected_by, method_detail, disclosure_text, ip_address, user_agent, document_ref, extra.KEY, tenant_id. \
JSONL: one object per line with RecordConsent's field names (scope and evidence as objects). \
Examples: the README, \"Bulk import\". \
Rows are recorded in file order; a rejected row is reported by line and field, and the rest goes on. \
Exit status: 0 every row recorded (or already recorded), 4 done with rejected rows, \
1 the import could not finish (run the same command again: rows already recorded count as duplicates).")]
pub struct ImportArgs {
    /// The file's format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// The file to import ("-": standard input).
    pub file: PathBuf,
    /// The server's gRPC address: http://HOST:PORT, or https://HOST:PORT with --ca-file.
    #[arg(long, env = "TEXTGATE_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// A file whose first line is the bearer token to call with.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// The tenant rows without a tenant_id are for (needed with a token for every tenant).
    #[arg(long)]
    pub tenant: Option<String>,
    /// PEM: the CA that signed the server's certificate (TLS).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// PEM: this client's certificate, for a server that asks for one (mTLS).
    #[arg(long, requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// PEM: the private key of --cert-file.
    #[arg(long, requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the host of --server).
    #[arg(long)]
    pub tls_domain: Option<String>,
    /// Show the progress line on stderr even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,
}

/// Runs an import; prints the summary on stdout.
pub async fn run(args: ImportArgs) -> ExitCode {
    let progress = args.progress || std::io::stderr().is_terminal();
    match send::import(&args, progress).await {
        Ok(outcome) => {
            // A closed stdout (`| head`) is no reason to fail the import.
            let _ = write!(std::io::stdout().lock(), "{outcome}");
            if outcome.rejected() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_REJECTED)
            }
        }
        Err(e) => {
            eprintln!("import: {e}");
            ExitCode::from(1)
        }
    }
}
