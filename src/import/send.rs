//! Streaming a file to ImportConsent: the reading thread, the connection,
//! and the summary as the user reads it (rejections by line).

use std::fmt;
use std::io::BufRead;
use std::path::Path;

use prost::Message;
use tokio::sync::mpsc;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::file::Rows;
use super::lines::Lines;
use super::progress::Progress;
use super::ImportArgs;
use crate::api::limits::MAX_MESSAGE_BYTES;
use crate::api::pb::{self, policy_service_client::PolicyServiceClient};

/// Rows read ahead of the stream.
const READ_AHEAD: usize = 1024;
/// Rejections listed (each side lists its first; the summary counts all).
const LISTED: usize = 100;

/// A rejected row: its line (None when the server named a position past
/// what the line map holds), the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: Option<u64>,
    pub position: Option<u64>,
    pub field: String,
    pub reason: String,
}

/// What the reading thread found.
#[derive(Default)]
struct Read {
    sent: u64,
    lines: Lines,
    rejected: u64,
    rejections: Vec<Rejection>,
}

/// A finished import, as printed.
pub struct Outcome {
    file: String,
    summary: pb::ImportSummary,
    /// Rows refused here (never sent), counted in `rejected()`.
    local: u64,
    listed: Vec<Rejection>,
}

impl Outcome {
    pub fn rejected(&self) -> u64 {
        self.summary.rejected + self.local
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.summary;
        let rows = s.accepted + s.duplicates + self.rejected();
        writeln!(
            f,
            "import: {}: {rows} rows: {} accepted, {} duplicates, {} rejected",
            self.file,
            s.accepted,
            s.duplicates,
            self.rejected()
        )?;
        for r in &self.listed {
            let at = match (r.line, r.position) {
                (Some(line), _) => format!("line {line}"),
                (None, Some(p)) => format!("row {p} sent"),
                (None, None) => "a row".into(),
            };
            let field = if r.field.is_empty() { String::new() } else { format!("{}: ", r.field) };
            writeln!(f, "rejected: {at}: {field}{}", r.reason)?;
        }
        if self.rejected() > self.listed.len() as u64 {
            writeln!(f, "rejected: ... and {} more", self.rejected() - self.listed.len() as u64)?;
        }
        if !s.consistency_token.is_empty() {
            writeln!(f, "consistency_token: {}", s.consistency_token)?;
        }
        Ok(())
    }
}

/// Streams the file named by `args` and waits for the server's summary.
pub async fn import(args: &ImportArgs, progress: bool) -> Result<Outcome, String> {
    let (input, size) = open(&args.file)?;
    let mut client = connect(args).await?;
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    let (format, tenant) = (args.format, args.tenant.clone().unwrap_or_default());
    let reader = std::thread::Builder::new()
        .name("import-reader".into())
        .spawn(move || read(Rows::new(format, input), &tenant, &tx, Progress::new(progress, size)))
        .map_err(|e| format!("starting the reader: {e}"))?;
    let answer = client.import_consent(tokio_stream::wrappers::ReceiverStream::new(rx)).await;
    let read = tokio::task::spawn_blocking(move || reader.join())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|_| "the reader thread panicked".to_string())??;
    let summary = match answer {
        Ok(r) => r.into_inner(),
        Err(status) => {
            return Err(format!(
                "stopped after sending {} rows: {} ({:?}); the rows not answered may or may not be recorded: run \
                 the same import again (rows already recorded count as duplicates)",
                read.sent,
                status.message(),
                status.code()
            ))
        }
    };
    Ok(outcome(args.file.display().to_string(), summary, read))
}

/// Merges the rejections of both sides, by line.
fn outcome(file: String, mut summary: pb::ImportSummary, read: Read) -> Outcome {
    let mut listed = read.rejections;
    for r in summary.rejections.drain(..) {
        let line = read.lines.line_of(r.position);
        listed.push(Rejection { line, position: Some(r.position), field: r.field, reason: r.reason });
    }
    listed.sort_by_key(|r| (r.line.unwrap_or(u64::MAX), r.position));
    listed.truncate(LISTED);
    Outcome { file, summary, local: read.rejected, listed }
}

type Input = Box<dyn BufRead + Send>;

fn open(path: &Path) -> Result<(Input, u64), String> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(std::io::BufReader::with_capacity(1 << 16, std::io::stdin())), 0));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((Box::new(std::io::BufReader::with_capacity(1 << 16, file)), size))
}

/// The reading thread: sends every row that makes a request, keeps the rest.
fn read(
    mut rows: Rows<Input>,
    tenant: &str,
    tx: &mpsc::Sender<pb::RecordConsentRequest>,
    mut progress: Progress,
) -> Result<Read, String> {
    let mut out = Read::default();
    while let Some(row) = rows.next_row()? {
        let request = row.request.and_then(|mut req| {
            if req.tenant_id.is_empty() {
                req.tenant_id = tenant.to_string();
            }
            match req.encoded_len() > MAX_MESSAGE_BYTES {
                true => Err(super::rows::RowError::new("row", format!("larger than {} KiB", MAX_MESSAGE_BYTES / 1024))),
                false => Ok(req),
            }
        });
        match request {
            Ok(req) => {
                out.sent += 1;
                out.lines.note(out.sent, row.line);
                if tx.blocking_send(req).is_err() {
                    break; // The call ended; its status says why.
                }
            }
            Err(e) => {
                out.rejected += 1;
                if out.rejections.len() < LISTED {
                    out.rejections.push(Rejection {
                        line: Some(row.line),
                        position: None,
                        field: e.field,
                        reason: e.reason,
                    });
                }
            }
        }
        progress.update(out.sent, rows.bytes());
    }
    progress.finish(out.sent, rows.bytes());
    Ok(out)
}

/// A client of the server `args` names, with its token on every call.
async fn connect(
    args: &ImportArgs,
) -> Result<PolicyServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>, String> {
    let mut endpoint =
        Endpoint::from_shared(args.server.clone()).map_err(|e| format!("--server {}: {e}", args.server))?;
    if args.server.starts_with("https://") || args.ca_file.is_some() {
        let ca = args.ca_file.as_deref().ok_or("--server https://... needs --ca-file")?;
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read_file(ca)?));
        if let (Some(cert), Some(key)) = (&args.cert_file, &args.key_file) {
            tls = tls.identity(Identity::from_pem(read_file(cert)?, read_file(key)?));
        }
        if let Some(domain) = &args.tls_domain {
            tls = tls.domain_name(domain.clone());
        }
        endpoint = endpoint.tls_config(tls).map_err(|e| format!("TLS: {e}"))?;
    }
    let token = match &args.token_file {
        Some(path) => Some(crate::ops::read_token(path)?),
        None => None,
    };
    let channel = endpoint.connect().await.map_err(|e| format!("cannot connect to {}: {e}", args.server))?;
    Ok(PolicyServiceClient::with_interceptor(channel, Bearer(token)))
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Adds `authorization: Bearer <token>` when there is one.
#[derive(Clone)]
pub struct Bearer(Option<String>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(t) = &self.0 {
            let value =
                format!("Bearer {t}").parse().map_err(|_| tonic::Status::invalid_argument("token: not ASCII"))?;
            req.metadata_mut().insert("authorization", value);
        }
        Ok(req)
    }
}
